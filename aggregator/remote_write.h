/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * --remote-write: every interval, the fleet's, each site's and each box's
 * (and, with --remote-write-customers, each customer's) latency as
 * Prometheus native histograms, cumulative since this aggregator started
 * (so rate() and increase() work, and a request that is never delivered
 * costs time resolution, not totals), POSTed to each receiver
 * (aggregator/promrw.h for the encoding, docs/scale.md). A sender thread
 * per receiver posts, retries with backoff on 5xx and network errors,
 * drops on 4xx (logged with the receiver's words); merging and queries
 * never wait for it.
 */
#ifndef PINGFOLD_REMOTE_WRITE_H
#define PINGFOLD_REMOTE_WRITE_H

#include <stdbool.h>
#include <stdint.h>
#include "aggregator/store.h"

#define RW_MAX_URLS	8

struct rw_opts {
	const char *instance;		/* label aggregator="...": this aggregator's --id */
	const char *urls[RW_MAX_URLS];
	int nurls;
	bool customers;			/* per-customer series too */
	bool classic;			/* classic le series instead of native histograms */
	uint64_t queue_bytes;		/* unsent requests kept per receiver (default 64 MiB) */
	const char *queue_dir;		/* kept on disk too, across restarts; NULL: memory only */
	const char *bearer_file;	/* Authorization: Bearer <the file's first line> */
	const char *basic_auth;		/* USER:PASSWORD for Authorization: Basic */
	const char *ca_file;		/* https://: the CA of the receiver's certificate (default: the system's) */
	uint32_t timeout_ms;		/* one request (default 10000) */
};

/* Counters over every receiver, for /metrics (updated atomically). */
struct rw_counts {
	uint64_t sent, retried, dropped, failed_4xx, queue_bytes, series;
};

struct remote_writer;

int rw_open(struct remote_writer **rp, const struct rw_opts *o);
void rw_close(struct remote_writer *r);
/* Under the store's lock: what a merged delta adds, to each series it touches. */
int rw_take(struct remote_writer *r, struct store *s, const struct wire_delta *d);
/* Under the store's lock: a snapshot of every series at now, for the senders. */
int rw_tick(struct remote_writer *r, uint64_t now_ns);
const struct rw_counts *rw_counters(const struct remote_writer *r);

#endif /* PINGFOLD_REMOTE_WRITE_H */
