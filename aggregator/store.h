/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The aggregator's state: deltas from many boxes merged into per-customer,
 * per-site, per-box and fleet histograms over sliding windows. Pure logic
 * (no sockets, no clock: callers pass the time). Not thread-safe: the
 * aggregator serialises access.
 *
 * Time is cut into slots of slot_ns (default 10 s) of wall-clock time; a
 * delta lands in the slot of its end_ns. A window is the last N slots up
 * to and including the slot of "now". Slots older than the longest window
 * are dropped.
 */
#ifndef PINGFOLD_STORE_H
#define PINGFOLD_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "common/hist.h"
#include "common/half.h"
#include "common/wire.h"

enum store_window { STORE_W10S, STORE_W1M, STORE_W5M, STORE_W15M, STORE_W1H, STORE_NWINDOWS };

/*
 * Points of closed periods, for durable history: fleet, sites and boxes
 * per minute, customers per five minutes, each half's histogram as a
 * blob (common/hblob.h). A period that gets data after it closed (a
 * replay) is given again, whole, when the next slot closes.
 */
enum store_ekind { STORE_E_FLEET, STORE_E_SITE, STORE_E_BOX, STORE_E_CUSTOMER };
struct store_point {
	uint8_t kind, half;		/* enum store_ekind, enum pf_half */
	uint32_t res_s;			/* 60 or 300 */
	uint64_t start_s;		/* the period's start (unix seconds) */
	uint32_t name, blob, len;	/* offsets in buf: name ("" for the fleet), blob */
	uint32_t site;			/* offset in buf: a customer's site path, else "" */
};
/* A box's sequence as it stood when its points were given (see store_restore_frontier). */
struct store_boxseq {
	char box[WIRE_BOX_MAX];
	uint64_t epoch, hi;		/* every delta of epoch up to seq hi was merged */
};
struct store_points {
	struct store_point *p;
	size_t n, cap;
	char *buf;
	size_t len, cap_buf;
	/* The frontier: every period of customers ending by cust_s, of the
	 * rest ending by roll_s, is closed and given (in these points or
	 * before), and holds what the boxes' deltas up to their hi brought. */
	uint64_t cust_s, roll_s;
	struct store_boxseq *boxes;
	size_t nboxes;
};
void store_points_free(struct store_points *pts);

struct store;

/*
 * Restart: a point of the history put back into the windows (a customer's
 * five minutes, a site's, box's or the fleet's minute, res_s 300 or 60),
 * as if its period had been merged here; the entity is made if unknown.
 * Periods the 1 h window no longer holds, or not closed yet, are left
 * out (returns 1). 0, 1, -EINVAL (kind, res, half or blob bad), -ENOSPC.
 */
int store_restore_point(struct store *s, enum store_ekind kind, const char *name, unsigned half,
			uint32_t res_s, uint64_t start_s, const void *blob, size_t len,
			uint64_t now_ns);
/*
 * Restart: the frontier of the last points the history holds (from their
 * store_points). A delta of a box at or below its hi (same epoch) whose
 * slot lies before the frontier is in the history already: merged again
 * (a replay from the box's ring) it counts in the box's totals but adds
 * nothing to customers (rollups) a second time. Any other delta merges.
 */
void store_restore_frontier(struct store *s, uint64_t cust_s, uint64_t roll_s,
			    const struct store_boxseq *boxes, size_t n);
/*
 * A box the history knew (restored) whose catalog has not come yet since
 * the restart: its replays should wait for it, or they would be merged
 * under unnamed keys.
 */
bool store_box_awaits_catalog(struct store *s, const char *box);

struct store_opts {
	uint64_t slot_ns;		/* default 10 s */
	/* Called with the points of what closed (from store_advance, under
	 * the caller's lock: it must only take them, e.g. queue them); it
	 * owns pts then (store_points_free). NULL: no points are made. */
	void (*on_points)(void *arg, struct store_points *pts);
	void *points_arg;
	uint32_t stale_intervals;	/* a box is stale after this many of its intervals */
	/* Bounds (0 = the default). At a bound the store refuses and counts
	 * (STORE_REFUSE_LIMIT); it never grows past it. */
	uint32_t max_customers;		/* named and unnamed (default 2,000,000) */
	uint32_t max_sites;		/* site paths incl. ancestors (default 100,000) */
	uint32_t max_boxes;		/* default 10,000 */
	uint32_t max_unnamed;		/* distinct unnamed keys per box (default 100,000) */
	uint32_t max_catalog;		/* entries of one catalog (default 1,000,000) */
	/* A delta's end must lie in [now - max_age_ns, now + 60 s] (default
	 * 6 h: longer than an agent's replay ring spans). */
	uint64_t max_age_ns;
	/* A seq more than this above the box's highest is held as suspect
	 * (default 16384); the next consecutive one confirms the jump. */
	uint64_t max_seq_jump;
	/* A customer no catalog names, with nothing in any window and not
	 * seen for this long, is forgotten (default 24 h; UINT64_MAX: never). */
	uint64_t forget_ns;
};

/* Why the store (or the aggregator, for identity) refused a message. */
enum store_refusal {
	STORE_REFUSE_MALFORMED,		/* indices, ranges, invariants */
	STORE_REFUSE_TIME,		/* end < start, too old, in the future */
	STORE_REFUSE_OVERFLOW,		/* would wrap a total or a window's sums */
	STORE_REFUSE_LIMIT,		/* a bound of store_opts reached */
	STORE_REFUSE_SEQ,		/* a sequence jump held as suspect */
	STORE_REFUSE_IDENTITY,		/* box id not bound to the sender */
	STORE_NREFUSALS
};
const char *store_refusal_name(enum store_refusal r);	/* "malformed", "time", ... */

struct store;

void store_opts_default(struct store_opts *o);
int store_open(struct store **sp, const struct store_opts *o);
void store_close(struct store *s);

/* "10s" "1m" "5m" "15m" "1h" <-> enum; -EINVAL for anything else. */
int store_window_parse(const char *s, enum store_window *w);
const char *store_window_name(enum store_window w);
uint64_t store_window_ns(const struct store *s, enum store_window w);

/*
 * A delta from a box. Returns 0 when merged, 1 when it was a duplicate
 * (same box, epoch, seq seen before: ignored), -errno on bad input. When
 * the box's sequence jumped, *gap_first..*gap_last (else 0..0) is what is
 * missing before this delta: the caller asks the box for a replay and
 * calls store_gap_done() with what it got back. A new epoch of a box
 * starts its sequence afresh (the old epoch's gaps stay counted); on the
 * first delta of an epoch, a seq > 1 reports the gap 1..seq-1.
 * Keys are resolved to customers with the box's latest catalog; keys it
 * does not name are merged under the customer id "?BOX/KEY" (counted in
 * store_box_info.unnamed) so that no sample is dropped.
 */
int store_add_delta(struct store *s, const struct wire_delta *d, uint64_t now_ns,
		    uint64_t *gap_first, uint64_t *gap_last);
/*
 * Every refusal of store_add_delta/_catalog/_stats is counted under its
 * reason, in the totals and, when the box is known, in its own counts;
 * this says why the last one was refused. store_count_refusal counts one
 * made by the caller (box may be NULL or unknown: totals only).
 */
enum store_refusal store_last_refusal(const struct store *s);
void store_count_refusal(struct store *s, const char *box, enum store_refusal r);
void store_refusals(const struct store *s, uint64_t out[STORE_NREFUSALS]);
/* After a replay: n of the gap's deltas came back (and were added). */
void store_gap_done(struct store *s, const char *box, uint64_t epoch, uint64_t first,
		    uint64_t last, uint64_t recovered);
/* A catalog: key -> customer id, name, site path, for that box. */
int store_add_catalog(struct store *s, const struct wire_catalog *c, uint64_t now_ns);
int store_add_stats(struct store *s, const struct wire_stats *st, uint64_t now_ns);
/*
 * A stats message names the last seq its box sent (stats.seq). If the
 * box's current epoch has not seen it, its last deltas were lost: returns
 * 1 with the gap (counted like a delta's), for the caller to replay and
 * close with store_gap_done(); a later delta does not report it again.
 */
int store_stats_gap(struct store *s, const struct wire_stats *st, uint64_t *gap_first,
		    uint64_t *gap_last);

/* Histograms of an entity over a window ending at now_ns; -ENOENT if unknown. */
int store_customer(struct store *s, const char *id, enum store_window w, uint64_t now_ns,
		   struct hist out[PF_NHALVES]);
/* A site sums its whole subtree ("North" includes "North/Tower 1"). "" = fleet. */
int store_site(struct store *s, const char *path, enum store_window w, uint64_t now_ns,
	       struct hist out[PF_NHALVES]);
int store_box(struct store *s, const char *box, enum store_window w, uint64_t now_ns,
	      struct hist out[PF_NHALVES]);
int store_fleet(struct store *s, enum store_window w, uint64_t now_ns,
		struct hist out[PF_NHALVES]);

struct store_cust_info {
	char id[64], name[128], site[256];
	uint32_t nboxes;		/* boxes that named it */
	bool excluded;			/* see store_set_excluded */
};
/* One customer's names, without listing them all; -ENOENT if unknown. */
int store_customer_info(struct store *s, const char *id, struct store_cust_info *out);
/* Customers (sorted by id), sites (every path and its ancestors, sorted). */
int store_customers(struct store *s, struct store_cust_info **out, size_t *n);	/* caller frees */
int store_sites(struct store *s, char ***out, size_t *n);	/* caller frees each and the array */

enum store_kind { STORE_CUSTOMER, STORE_SITE };
struct store_top {
	char name[256];			/* customer id or site path */
	char title[128];		/* a customer's name (Circuit Name), or "" */
	double value_ns;		/* the chosen quantile */
	uint64_t count;
};
/*
 * The n worst customers or sites by quantile q of one half over window w,
 * worst first; entities with fewer than min_count samples are left out.
 * Returns how many were written.
 */
int store_top(struct store *s, enum store_kind kind, enum pf_half half, double q,
	      enum store_window w, uint64_t now_ns, uint64_t min_count, struct store_top *out,
	      int n);

struct store_box_info {
	char box[WIRE_BOX_MAX];
	uint64_t epoch, last_seq;
	uint64_t last_seen_ns;		/* now_ns of its last message */
	uint64_t interval_ns;		/* from its deltas (end - start) */
	bool stale;			/* nothing for stale_intervals intervals */
	uint64_t deltas, dups, gaps, gap_deltas, recovered, lost, unnamed;
	uint64_t samples;		/* customer-half counts merged */
	uint64_t late;			/* deltas older than the ring: totals only */
	uint64_t refused[STORE_NREFUSALS];	/* its messages refused, by reason */
	uint64_t unnamed_keys;		/* distinct keys merged unnamed */
	struct wire_stats stats;	/* its last stats message */
};
int store_boxes(struct store *s, uint64_t now_ns, struct store_box_info **out, size_t *n);

/*
 * The customer id a box's key names in its latest catalog, or NULL. The
 * pointer stays valid until the next store_add_catalog().
 */
const char *store_key_id(struct store *s, const char *box, uint32_t key);

/*
 * Customers expected to have high latency (a satellite link, a far-away
 * VPN): from now on their samples still make their own numbers, but are
 * left out of their site's, box's and the fleet's, and of top lists (what
 * was merged before stays). Replaces the set before; ids need not be
 * known yet. Returns how many known customers changed, or -ENOMEM.
 */
int store_set_excluded(struct store *s, const char *const *ids, size_t n);

/* Customers kept now; *forgotten (if given): how many were forgotten. */
uint32_t store_ncustomers(const struct store *s, uint64_t *forgotten);

/* Totals over everything ever merged (exactness checks). */
uint64_t store_total_samples(const struct store *s);

/*
 * Drops the slots that fell out of the ring at now_ns. Every call that
 * takes now_ns does this too; a caller with no traffic can call it on a
 * timer so that memory is returned.
 */
void store_advance(struct store *s, uint64_t now_ns);
/* Bytes the store holds (heap, approximate): for benchmarks and /metrics. */
size_t store_mem_bytes(const struct store *s);
/* Bytes held for the newest time slot alone (benchmarks: bytes per customer-half). */
size_t store_newest_slot_bytes(const struct store *s);

#endif /* PINGFOLD_STORE_H */
