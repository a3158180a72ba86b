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
#include "bpf/pingfold_shared.h"
#include "common/hist.h"
#include "common/prefix.h"

#define PF_DP_PIN_DIR		"/sys/fs/bpf/pingfold"
#define PF_DP_MAX_CUSTOMERS	16384
#define PF_DP_MAX_PREFIXES	65536
#define PF_DP_MAX_FLOWS		(1U << 20)
#define PF_DP_RATE_LIMIT_NS	(10ULL * 1000 * 1000)
#define PF_DP_TC_PRIO		1
#define PF_DP_TC_HANDLE		0x7066	/* "pf" */

struct pf_dp_opts {
	const char *pin_dir;	/* NULL: do not pin (tests, benchmarks) */
	uint32_t max_customers;	/* histogram slots */
	uint32_t max_prefixes;	/* trie entries */
	uint32_t max_flows;	/* flow-state and timestamp entries, each */
	uint64_t rate_limit_ns;	/* per flow, between stored TSvals */
	uint32_t tc_priority;
	bool load_empty;	/* also load the empty baseline program */
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
/* True when pf_dp_open found and reused pinned maps. */
bool pf_dp_reused(const struct pf_dp *dp);
uint64_t pf_dp_epoch(const struct pf_dp *dp);

/* Attach to ingress and egress of ifname (clsact; created if missing). */
int pf_dp_attach(struct pf_dp *dp, const char *ifname);
int pf_dp_detach(struct pf_dp *dp, const char *ifname);
/* Removes the pinned maps under pin_dir (after close, to undo everything). */
int pf_dp_unpin(const char *pin_dir);

/* Customer trie: prefix -> slot. Call pf_dp_commit() after a batch. */
int pf_dp_prefix_set(struct pf_dp *dp, const struct prefix *p, uint32_t slot);
int pf_dp_prefix_del(struct pf_dp *dp, const struct prefix *p);
/* Makes flows re-resolve their customers (after the trie changed). */
int pf_dp_commit(struct pf_dp *dp);
uint32_t pf_dp_max_customers(const struct pf_dp *dp);

/* Diagnostic counters summed over CPUs. */
int pf_dp_stats(struct pf_dp *dp, uint64_t out[PF_STAT_MAX]);
const char *pf_dp_stat_name(enum pf_stat s);

/*
 * Reads every customer-half with samples since the previous read and
 * calls cb with the exact delta (count = sum of slot deltas). Each sample
 * is reported exactly once over successive reads. A non-zero return of cb
 * stops the walk and is returned; deltas already passed stay consumed.
 */
typedef int (*pf_dp_delta_fn)(void *ctx, uint32_t slot, enum pf_half half,
			      const struct hist_sparse *delta);
int pf_dp_read(struct pf_dp *dp, pf_dp_delta_fn cb, void *ctx);

/* For tests and benchmarks. */
int pf_dp_prog_fd(struct pf_dp *dp, const char *name);
int pf_dp_map_fd(struct pf_dp *dp, const char *name);

#endif /* PINGFOLD_DATAPATH_H */
