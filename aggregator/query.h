/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The aggregator's query language (docs/query.md): a request is a JSON
 * array of strings, the answer a JSON object.
 *   ["customer", ID, WINDOW?]   ["site", PATH, WINDOW?]   ["box", ID, WINDOW?]
 *   ["fleet", WINDOW?]          ["boxes"]   ["sites"]   ["customers"]
 *   ["top", "customer"|"site", HALF?, "p50".."p99.9"?, N?, WINDOW?]
 * Errors: {"error": "..."}.
 */
#ifndef PINGFOLD_QUERY_H
#define PINGFOLD_QUERY_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "aggregator/store.h"
#include "common/jsonw.h"

/* Answers req into out (always valid JSON); returns 0 or -EINVAL (error answer). */
int query_answer(struct store *s, const char *req, size_t len, uint64_t now_ns, struct jw *out);
/*
 * The same, taking *lock itself: around the store's part only, so that
 * the lists ("customers", "sites") are written with the store free.
 */
int query_answer_locking(struct store *s, pthread_mutex_t *lock, const char *req, size_t len,
			 uint64_t now_ns, struct jw *out);
/* {"count":..,"min_ms":..,"p50_ms":..,...,"buckets":[[le_seconds, n],...]} */
void query_hist_json(struct jw *w, const struct hist *h);

#endif /* PINGFOLD_QUERY_H */
