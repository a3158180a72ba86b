/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* What the loader (datapath.c) and the reader (reader.c) share. */
#ifndef PINGFOLD_DATAPATH_INT_H
#define PINGFOLD_DATAPATH_INT_H

#include <limits.h>
#include "datapath/datapath.h"

struct pingfold;	/* the skeleton (pingfold.skel.h) */
struct rd_batch;	/* the reader's batch (reader.c) */

#define PF_DP_MAX_IFACES 32

/* The reader's last view of one customer-half: cumulative values. */
struct pf_shadow_half {
	uint64_t sum;
	uint64_t slots[PF_HIST_NSLOTS];
};

struct pf_shadow {
	struct pf_shadow_half half[PF_NHALVES];
};

/* Head of the reader state file; the shadow array follows at one page. */
#define PF_STATE_MAGIC "PFSTATE1"
struct pf_state_hdr {
	char magic[8];
	uint32_t version;
	uint32_t max_customers;
	uint64_t epoch;
	uint64_t committed_seq;
	uint64_t committed_samples;	/* version 2: samples of this epoch's deltas */
};

/* One interface we attached to, and what the last check read of its counters. */
struct pf_attach {
	struct pf_hook hook;
	uint64_t if_pkts[PF_HOOK_NDIRS];	/* the interface's rx / tx packets */
	bool counted;				/* if_pkts hold a reading */
	unsigned blind_logged;			/* bit per direction: "does not run" said */
};

struct pf_dp {
	struct pingfold *skel;
	struct pf_dp_opts o;
	char pin_dir[PATH_MAX / 2];
	bool reused;
	uint64_t epoch;
	struct pf_cust_hist *hists;
	size_t hists_len;
	__u64 *dirty;
	size_t dirty_len;
	uint32_t dirty_words;
	struct pf_state_hdr *state;	/* mmap of the state file, or anonymous */
	size_t state_len;
	struct pf_shadow *shadow;	/* inside the same mapping */
	bool state_kept;		/* state file matched the maps */
	bool full_pending;		/* next read compares every slot */
	struct pf_dp_upd *staged;	/* shadow updates of the last read */
	size_t nstaged, cap_staged;
	uint64_t staged_samples;	/* what they add to committed_samples */
	/*
	 * Committed updates not yet written into the shadow: the next read
	 * writes each one as it reaches its customer (reader.c, "Committing").
	 * pend[pend_next .. npend) are left; same room as staged.
	 */
	struct pf_dp_upd *pend;
	size_t npend, pend_next, cap_pend;
	struct hist_sparse scratch;
	struct rd_batch *batch;		/* customers read together */
	int ncpus;
	struct pf_stats *percpu;
	struct pf_attach att[PF_DP_MAX_IFACES];
	int natt;
	uint64_t hook_pkts[PF_HOOK_NDIRS][PF_HOOK_SLOTS];	/* at the last check */
	struct pf_dp_health health;
};

/* datapath.c */
int pf_dpi_set_epoch(struct pf_dp *dp, bool renew);
/* reader.c: the state file mapped, then tied to the maps (pf_dp_open) */
int pf_dpi_map_state(struct pf_dp *dp);
int pf_dpi_init_state(struct pf_dp *dp);
/* reader.c: pending updates written, the reader's buffers freed (pf_dp_close) */
void pf_dpi_free_state(struct pf_dp *dp);

#endif /* PINGFOLD_DATAPATH_INT_H */
