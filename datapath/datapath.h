/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The pingfold datapath from userspace: open/load (reusing pinned maps),
 * attach to interfaces, fill the customer trie, read exact deltas.
 */
#ifndef PINGFOLD_DATAPATH_H
#define PINGFOLD_DATAPATH_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include "datapath/pingfold_shared.h"
#include "common/hist.h"
#include "common/prefix.h"
#include "datapath/hook.h"

#define PF_DP_PIN_DIR		"/sys/fs/bpf/pingfold"
#define PF_DP_MAX_CUSTOMERS	16384
#define PF_DP_MAX_PREFIXES	65536
#define PF_DP_MAX_FLOWS		(1U << 20)
#define PF_DP_RATE_LIMIT_NS	(10ULL * 1000 * 1000)
#define PF_DP_TC_PRIO		0	/* choose: before every filter already there */

struct pf_dp_opts {
	const char *pin_dir;	/* NULL: do not pin (tests, benchmarks) */
	uint32_t max_customers;	/* histogram slots */
	uint32_t max_prefixes;	/* trie entries */
	uint32_t max_flows;	/* flow-state and timestamp entries, each */
	uint64_t rate_limit_ns;	/* per flow, between stored TSvals */
	bool record_psh;	/* record data segments with PSH too (delayed ACKs) */
	uint32_t tc_priority;	/* clsact filter priority; 0 = choose */
	enum pf_hook_mode attach_mode;	/* tcx where available, or forced */
	bool load_empty;	/* also load the empty baseline program */
	bool attach_empty;	/* attach it instead of the datapath (benchmarks) */
	const char *state_path;	/* reader state file; NULL: in memory only */
};

/* A shadow update staged by a read: absolute, so applying it twice is harmless. */
#define PF_DP_UPD_SUM PF_HIST_NSLOTS	/* slot value meaning "the sum" */
struct pf_dp_upd {
	uint32_t cust;
	uint16_t half;
	uint16_t slot;
	uint64_t value;
};

struct pf_dp;

/* Sets every field to its default. */
void pf_dp_opts_default(struct pf_dp_opts *o);

/*
 * Opens and loads the datapath. With a pin_dir whose maps exist, they are
 * reused (sizes must match) and their samples are kept; otherwise new maps
 * are created and pinned. Returns 0 or -errno, logged with what failed.
 */
int pf_dp_open(struct pf_dp **dpp, const struct pf_dp_opts *o);
/* Detaches what this handle attached; pinned maps stay. */
void pf_dp_close(struct pf_dp *dp);
/* Frees the handle but leaves the programs attached (they keep counting). */
void pf_dp_release(struct pf_dp *dp);
/* True when pf_dp_open found and reused pinned maps. */
bool pf_dp_reused(const struct pf_dp *dp);
uint64_t pf_dp_epoch(const struct pf_dp *dp);

/*
 * Attach to ingress and egress of ifname, first on each hook (datapath/hook.h:
 * tcx links pinned under pin_dir, or clsact filters), taking over what an
 * earlier agent left attached. Nothing of anyone else's is ever removed.
 */
int pf_dp_attach(struct pf_dp *dp, const char *ifname);
int pf_dp_detach(struct pf_dp *dp, const char *ifname);
/* Removes our links and filters from ifname without a handle (--detach). */
int pf_dp_detach_ifname(const char *ifname, const char *pin_dir);

/* What the hooks looked like at the last pf_dp_check(). */
struct pf_dp_health {
	bool tcx;			/* attached with tcx links (else clsact) */
	uint32_t hooks;			/* hooks asked for: 2 per interface */
	uint32_t missing;		/* not attached, re-attaching failed */
	uint32_t not_first;		/* something runs before ours */
	uint32_t not_running;		/* interface counted packets, our program none */
	uint64_t reattached;		/* re-attachments since open */
	uint64_t blind_checks;		/* checks that found any hook not seeing traffic */
};

/*
 * Once an interval: every hook attached and first (re-attached if not,
 * logged once per event), and running while its interface has traffic.
 */
int pf_dp_check(struct pf_dp *dp, struct pf_dp_health *out);
/* Removes the pinned maps under pin_dir (after close, to undo everything). */
int pf_dp_unpin(const char *pin_dir);

/* Customer trie: prefix -> slot. Call pf_dp_commit() after a batch. */
int pf_dp_prefix_set(struct pf_dp *dp, const struct prefix *p, uint32_t slot);
int pf_dp_prefix_del(struct pf_dp *dp, const struct prefix *p);
/* Calls fn for every prefix in the trie (e.g. pinned by an earlier agent). */
typedef int (*pf_dp_prefix_fn)(void *ctx, const struct prefix *p, uint32_t slot);
int pf_dp_prefix_each(struct pf_dp *dp, pf_dp_prefix_fn fn, void *ctx);
/* Makes flows re-resolve their customers (after the trie changed). */
int pf_dp_commit(struct pf_dp *dp);
uint32_t pf_dp_max_customers(const struct pf_dp *dp);

/*
 * The ignore trie becomes exactly these prefixes (remote ends whose samples
 * must not count: no timestamp is stored towards them; counted as
 * "ignored"), and flows look their ends up again. At most 4096.
 */
int pf_dp_ignore_set(struct pf_dp *dp, const struct prefix *ps, size_t n);

/* Diagnostic counters summed over CPUs. */
int pf_dp_stats(struct pf_dp *dp, uint64_t out[PF_STAT_MAX]);
const char *pf_dp_stat_name(enum pf_stat s);

/*
 * Reads every customer-half with samples since the last committed read
 * and calls cb with the exact delta (count = sum of slot deltas). The
 * reader's own record of what was reported changes only with
 * pf_dp_commit_read(): a read that is never committed (the process died)
 * is found again by the next reader on the same state file. Each sample
 * is reported exactly once over successive committed reads. A non-zero
 * return of cb stops the walk and is returned (commit nothing then).
 * -EBUSY if the previous read was not committed.
 */
typedef int (*pf_dp_delta_fn)(void *ctx, uint32_t slot, enum pf_half half,
			      const struct hist_sparse *delta);
int pf_dp_read(struct pf_dp *dp, pf_dp_delta_fn cb, void *ctx);
/*
 * Makes the last read's updates the reader's record; seq is stored with
 * them. The shadow itself takes them during the next read (or the close):
 * until then a restarted reader needs them from the journal (pf_dp_apply).
 */
int pf_dp_commit_read(struct pf_dp *dp, uint64_t seq);
/* The last read's updates (to journal them before committing). */
const struct pf_dp_upd *pf_dp_staged(const struct pf_dp *dp, size_t *n);
/*
 * Applies journaled updates (idempotent): of seq == the committed one,
 * written again; of a later seq, written and seq recorded as committed.
 */
int pf_dp_apply(struct pf_dp *dp, const struct pf_dp_upd *u, size_t n, uint64_t seq);
/* Sequence number stored with the last commit (0: none in this epoch). */
uint64_t pf_dp_committed_seq(const struct pf_dp *dp);
/*
 * Samples in the deltas committed so far in this epoch (kept with the
 * reader state across agent restarts): what an aggregator that merged
 * every delta up to pf_dp_committed_seq() holds for this box, exactly.
 */
uint64_t pf_dp_committed_samples(const struct pf_dp *dp);
/* True when the state file matched the pinned maps (a restart). */
bool pf_dp_state_kept(const struct pf_dp *dp);

/* For tests and benchmarks. */
int pf_dp_prog_fd(struct pf_dp *dp, const char *name);
int pf_dp_map_fd(struct pf_dp *dp, const char *name);

#endif /* PINGFOLD_DATAPATH_H */
