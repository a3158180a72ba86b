/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The aggregator's HTTP side (aggregator/httpd.c): the multi-site overview
 * page, its JSON API under /api/, and /metrics for Prometheus. See
 * docs/http.md.
 */
#ifndef PINGFOLD_HTTP_H
#define PINGFOLD_HTTP_H

#include <pthread.h>
#include <stdbool.h>
#include "aggregator/history.h"
#include "aggregator/remote_write.h"
#include "aggregator/store.h"

struct http_opts {
	const char *url;		/* e.g. http://0.0.0.0:7880 */
	const char *static_dir;		/* serve the page from here; NULL: built in */
	double green_ms, yellow_ms;	/* colour thresholds (default 50, 100) */
	bool metrics_customers;		/* per-customer series in /metrics */
	uint32_t max_conns;		/* connections at once (0: 256) */
	uint32_t idle_ms;		/* to send a request (0: 10000) */
	struct history *hist;		/* --history-dir, or NULL */
};

struct http;

void http_opts_default(struct http_opts *o);
/*
 * Starts serving. Every handler takes *lock around its use of the store
 * (the aggregator holds it while merging). Returns 0 or -errno, logged.
 */
int http_start(struct http **hp, const struct http_opts *o, struct store *s,
	       pthread_mutex_t *lock);
void http_stop(struct http *h);

/* The aggregator's own counters, read under the lock for /metrics; a NULL pointer leaves its metric out. */
struct http_counters {
	const uint64_t *msgs, *decode_errors, *replays, *replayed, *query_drops;
	const uint64_t *exclude_loads, *exclude_errors;	/* --exclude */
	const struct rw_counts *rw;	/* --remote-write (read atomically) */
};
void http_set_counters(struct http *h, const struct http_counters *c);	/* call without the lock */

#endif /* PINGFOLD_HTTP_H */
