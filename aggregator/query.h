/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The aggregator's query language (docs/query.md): a request is a JSON
 * array of strings, the answer a JSON object.
 *   ["customer", ID, WINDOW?]   ["site", PATH, WINDOW?]   ["box", ID, WINDOW?]
 *   ["fleet", WINDOW?]          ["boxes"]   ["sites"]   ["customers"]
 *   ["top", "customer"|"site", HALF?, "p50".."p99.9"?, N?, WINDOW?]
 *   ["history", "customer"|"site"|"box"|"fleet", ID (not for fleet), FROM?, TO?, STEP?, "hist"?]
 *   ["heatmap", "sites"|"customers", SITE ("" = all), FROM?, TO?, STEP?, HALF?, "pNN"?]
 * FROM, TO: unix seconds, or a duration ago ("24h", "7d"; default 1h, now);
 * STEP: a duration or seconds. History needs --history-dir.
 * Errors: {"error": "..."}.
 */
#ifndef PINGFOLD_QUERY_H
#define PINGFOLD_QUERY_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "aggregator/history.h"
#include "aggregator/store.h"
#include "common/jsonw.h"

enum query_kind {
	QUERY_CUSTOMER, QUERY_SITE, QUERY_BOX, QUERY_FLEET,
	QUERY_BOXES, QUERY_SITES, QUERY_CUSTOMERS, QUERY_TOP,
	QUERY_HISTORY, QUERY_HEATMAP,
};

/* A request, parsed. name points into the arguments it was parsed from. */
struct query {
	enum query_kind kind;
	const char *name;		/* customer id, site path, box id */
	enum store_window win;		/* default 5m */
	/* top */
	enum store_kind of;
	enum pf_half half;		/* default access */
	double q;			/* default 0.95 */
	int n;				/* default 10 */
	/* history, heatmap */
	enum store_ekind ekind;
	const char *from, *to, *step;	/* as given; resolved by query_run */
	bool with_hist;
	unsigned worst;			/* heatmap "worst=N": 0 = every row */
};

#define QUERY_ARGS_MAX	9

/*
 * The language above from its words: 0, or -EINVAL with why (the text an
 * error answer carries).
 */
int query_parse(const char *const *args, int n, struct query *q, char *why, size_t wn);
/*
 * Writes the answer to q into out: 0; or an {"error": ...} answer and
 * -ENOENT (no such customer, site or box), -EINVAL, -ENOMEM. With lock,
 * takes it around the store's part only (lists are written with the
 * store free); without, the caller holds what guards the store.
 */
int query_run(struct store *s, pthread_mutex_t *lock, struct history *hist,
	      const struct query *q, uint64_t now_ns, struct jw *out);
/* An error answer {"error": why}; returns rc. */
int query_fail(struct jw *out, int rc, const char *why);

/* The nng edge: req is the JSON array; parse, then query_run. Same returns. */
int query_answer(struct store *s, pthread_mutex_t *lock, struct history *hist, const char *req,
		 size_t len, uint64_t now_ns, struct jw *out);
/* "90s" "5m" "24h" "7d" (or plain seconds when bare is true): seconds, or -EINVAL. */
int query_duration(const char *a, bool bare, uint64_t *secs);
/* {"count":..,"min_ms":..,"p50_ms":..,...,"buckets":[[le_seconds, n],...]} */
void query_hist_json(struct jw *w, const struct hist *h);

#endif /* PINGFOLD_QUERY_H */
