/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Durable history on local disk: the points of closed periods that the
 * store gives (store_opts.on_points), kept in an SQLite file in WAL mode
 * (DIR/history.db), written by a thread of its own so that nothing waits
 * for the disk under the store's lock. Fleet, sites and boxes per minute
 * (30 days), customers per five minutes (48 hours) and per hour (30 days,
 * summed here from the five minutes when an hour is complete). Each point
 * is a half's exact histogram (common/hblob.h): any quantile, any merge.
 *
 * Crash safety: one transaction per batch of points, synchronous=FULL; a
 * batch in flight when the process dies is lost whole (never half), and
 * the next open says which period it was (a marker file lives while a
 * batch is written). A file that is not a pingfold history, or is
 * damaged, is refused with an error naming it, and never written to.
 */
#ifndef PINGFOLD_HISTORY_H
#define PINGFOLD_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include "aggregator/store.h"
#include "common/hist.h"

struct history_opts {
	uint32_t minute_days;		/* fleet, sites, boxes per minute (default 30) */
	uint32_t customer_5m_hours;	/* customers per five minutes (default 48) */
	uint32_t customer_1h_days;	/* customers per hour (default 30) */
	size_t queue_max;		/* bytes of points waiting (default 256 MiB) */
};

struct history_stats {
	uint64_t batches, points;	/* written */
	uint64_t rollups;		/* hourly customer points written */
	uint64_t dropped;		/* points not written: queue full or write failed */
	uint64_t errors;		/* failed writes */
	uint64_t pruned;		/* points removed as too old */
	uint64_t write_ns;		/* time spent writing (thread CPU) */
	size_t queued;			/* bytes waiting */
	uint32_t lost_at_open;		/* 1: the last run died writing a batch, lost */
	char last_error[256];
};

struct history;

void history_opts_default(struct history_opts *o);
/*
 * Opens (creates) DIR/history.db and starts the writer. 0, or -errno with
 * a message naming the file in err.
 */
int history_open(struct history **hp, const char *dir, const struct history_opts *o,
		 char *err, size_t errlen);
/* Stops after the batch being written (what is still queued is not: see history_flush). */
void history_close(struct history *h);
/* Queues points for the writer (takes them; never waits for the disk). */
void history_put(struct history *h, struct store_points *pts);
/* Waits until everything queued is written (tests, shutdown): 0 or -ETIMEDOUT. */
int history_flush(struct history *h, int timeout_ms);
void history_get_stats(struct history *h, struct history_stats *st);
/* A store_opts.on_points for a struct history. */
void history_on_points(void *arg, struct store_points *pts);

/*
 * Restart: puts the points the store's 1 h window can still hold (the
 * last 65 minutes) back into it (store_restore_point), with the store's
 * lock not needed (before anything else runs). *n: points restored.
 * 0, or -EIO (see history_get_stats).
 */
int history_restore(struct history *h, struct store *s, uint64_t now_ns, size_t *n);

/* One step of an entity's history: both halves, merged over the step. */
struct history_pt {
	uint64_t t_s;			/* the step's start */
	struct hist h[PF_NHALVES];
};

/*
 * An entity's points from from_s to to_s (unix seconds, [from, to)),
 * merged into steps of step_s (0: the stored resolution, coarser if that
 * gives more than 2,000 steps; else rounded up to a multiple of it), each
 * starting at a multiple of the step (hours on the hour).
 * Customers are read per five minutes while those are kept, else per
 * hour. Steps without data are left out. *res_s: the resolution read;
 * *step_out: the step used. Caller frees *out. 0, -ENOENT (never seen),
 * -EINVAL, -EIO (the file: see history_get_stats).
 */
int history_read(struct history *h, enum store_ekind kind, const char *name, uint64_t from_s,
		 uint64_t to_s, uint32_t step_s, uint32_t *res_s, uint32_t *step_out,
		 struct history_pt **out, size_t *n);

/*
 * Names for a heatmap, sorted: sites at or under the site path prefix
 * (NULL or "": every site), or customers whose site (the latest a point
 * of theirs gave) is at or under it. Caller frees each and the array.
 */
int history_names(struct history *h, enum store_ekind kind, const char *prefix, char ***out,
		  size_t *n);

#endif /* PINGFOLD_HISTORY_H */
