/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * What the pingfold datapath (datapath/pingfold.bpf.c) and userspace both see:
 * map keys and values, counter ids. Fixed-size fields only.
 * Include <linux/types.h> (userspace) or vmlinux.h (BPF) first.
 */
#ifndef PINGFOLD_SHARED_H
#define PINGFOLD_SHARED_H

#include "../common/half.h"
#include "../common/hist_shared.h"

#define PF_SLOT_NONE	0xffffffffU

/* Customer trie key: IPv4 stored as ::ffff:a.b.c.d with prefixlen + 96. */
struct pf_lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct pf_cust_val {
	__u32 slot;		/* index into the hists map */
};

/*
 * One half of one customer's histogram in the kernel. Counters are
 * cumulative and only ever grow (atomic adds); the reader diffs them
 * against its own last snapshot, so no sample is counted twice or lost.
 * min/max are reset by the reader (atomic exchange); min is stored
 * inverted so that zero-initialised memory means "no sample".
 * mask has one bit per slot touched since the reader last cleared it.
 */
struct pf_hist_half {
	__u64 sum_ns;
	__u64 min_inv;		/* ~min; 0 = none */
	__u64 max_ns;		/* 0 = none */
	__u64 mask[PF_HIST_MASK_WORDS];
	__u64 slots[PF_HIST_NSLOTS];
};

struct pf_cust_hist {
	struct pf_hist_half half[PF_NHALVES];
};

/* A direction of a flow; IPv4 addresses are v4-mapped. ICMP: ports = id. */
struct pf_flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

/* A timestamped packet: flow direction + TSval (TCP) or sequence (ICMP). */
struct pf_pkt_key {
	struct pf_flow_key flow;
	__u32 id;
};

/*
 * Per flow direction: the customers at both ends (cached, valid while gen
 * matches the trie's), and what was last seen, so that only the first
 * packet with a new TSval can be stored and only the first with a new
 * TSecr is looked up.
 */
struct pf_flow_state {
	__u64 last_record_ns;	/* when a timestamp was last stored; 0 = never */
	__u32 last_id;		/* last TSval seen */
	__u32 last_echo;	/* last TSecr looked up */
	__u32 gen;		/* customer-list generation of the slots */
	__u32 slot_src;		/* customer slot of saddr, or PF_SLOT_NONE */
	__u32 slot_dst;
	__u8 seen_id;		/* last_id / last_echo are valid */
	__u8 seen_echo;
	__u8 ignored;		/* PF_IGN_SRC / PF_IGN_DST: an end in the ignore trie */
	__u8 stored_valid;	/* stored_hi is known (TCP) */
	__u32 stored_hi;	/* newest TSval stored in the *other* direction: a
				 * TSecr newer than it has nothing to match */
	__u32 pad;
};

/* pf_flow_state.ignored: this direction's source / destination is ignored */
#define PF_IGN_SRC	1
#define PF_IGN_DST	2

/*
 * The per-CPU flow cache (`fcache`, direct-mapped by a hash of the flow
 * key): what this CPU last saw of a flow direction. A TCP packet whose
 * direction, TSval and TSecr all equal it carries nothing new and leaves
 * before any hash-map lookup (docs/datapath.md "The flow cache"). One
 * cache line per entry.
 */
#define PF_FCACHE_BITS	12
#define PF_FCACHE_SLOTS	(1U << PF_FCACHE_BITS)

struct pf_fcache_ent {
	struct pf_flow_key key;
	__u32 id;		/* last TSval of a packet that could record */
	__u32 echo;		/* last TSecr of a packet that could match */
	__u8 has_id;
	__u8 has_echo;
	__u8 no_cust;		/* the flow had no customer at either end */
	__u8 pad[13];
};

/* The entry of a flow direction within its CPU's part of the cache. */
static inline __attribute__((always_inline)) __u32 pf_fcache_slot(const struct pf_flow_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = w[0];

	h = (h ^ w[1]) * 0x9e3779b97f4a7c15ULL;
	h = (h ^ w[2]) * 0x9e3779b97f4a7c15ULL;
	h = (h ^ w[3]) * 0x9e3779b97f4a7c15ULL;
	h = (h ^ w[4]) * 0x9e3779b97f4a7c15ULL;
	return (__u32)(h >> (64 - PF_FCACHE_BITS));
}

/* Global state shared by the programs and the agent (one entry). */
struct pf_meta {
	__u32 gen;		/* bumped by userspace after a customer or ignore change */
	__u32 n_ignores;	/* prefixes in the ignore trie (0: no lookups) */
	__u64 epoch;		/* datapath instance id, set at creation */
};

/* Diagnostic counters: one per-CPU struct pf_stats, indexed by these. */
enum pf_stat {
	PF_STAT_PACKETS,	/* every packet the programs saw */
	PF_STAT_PARSED,		/* IPv4/IPv6 with TCP or ICMP parsed fully */
	PF_STAT_NOT_IP,		/* not IPv4/IPv6 (ARP, ...) */
	PF_STAT_TRUNCATED,	/* ended before a header it announced */
	PF_STAT_ODD,		/* fragments, too many VLAN tags / ext headers, bad lengths */
	PF_STAT_OTHER_L4,	/* IP but neither TCP nor ICMP echo */
	PF_STAT_TCP_NO_TS,	/* TCP without the timestamp option */
	PF_STAT_NO_CUSTOMER,	/* neither address is a customer */
	PF_STAT_RECORDED,	/* timestamps stored */
	PF_STAT_RATE_LIMITED,	/* new TSval skipped by the per-flow rate limit */
	PF_STAT_MATCHED,	/* echoes matched to a stored timestamp */
	PF_STAT_SAMPLES,	/* histogram increments (customer-half samples) */
	PF_STAT_FLOW_FULL,	/* flow map update failed */
	PF_STAT_TS_FULL,	/* timestamp map update failed */
	PF_STAT_BAD_SLOT,	/* customer slot outside the hists map */
	PF_STAT_IGNORED,	/* timestamps not stored: their echo would come from an
				 * ignored address (its samples must not count) */
	PF_STAT_FCACHE_HIT,	/* TCP packets with nothing new, left at the flow cache */
	PF_STAT_PSH_SKIPPED,	/* timestamps not stored: data with PSH (delayed ACKs) */
	PF_STAT_FAST,		/* of fcache_hits, those the fast path took (no call) */
	PF_STAT_MAX,
};

/*
 * Packets each program saw, by interface (ifindex modulo PF_HOOK_SLOTS):
 * the agent compares them with the interfaces' own packet counters to
 * tell a hook that is attached but never runs.
 */
#define PF_HOOK_SLOTS	64

struct pf_stats {
	__u64 c[PF_STAT_MAX];
	__u64 hook_pkts[2][PF_HOOK_SLOTS];	/* [0 ingress, 1 egress][ifindex % SLOTS] */
};

/*
 * What both sides rely on, checked by both compilers: the same layout in
 * the kernel's maps and in userspace's mmap of them, and mask words that
 * index with "& (PF_HIST_MASK_WORDS - 1)".
 */
_Static_assert((PF_HIST_MASK_WORDS & (PF_HIST_MASK_WORDS - 1)) == 0,
	       "PF_HIST_MASK_WORDS must be a power of two");
_Static_assert(PF_HIST_MASK_WORDS * 64 >= PF_HIST_NSLOTS, "a mask bit for every bucket");
_Static_assert(sizeof(struct pf_lpm_key) == 20, "pf_lpm_key: 4 + 16 bytes");
_Static_assert(sizeof(struct pf_flow_key) == 40, "pf_flow_key: no hidden padding");
_Static_assert(sizeof(struct pf_pkt_key) == 44, "pf_pkt_key: no hidden padding");
_Static_assert(sizeof(struct pf_flow_state) == 40, "pf_flow_state: no hidden padding");
_Static_assert(sizeof(struct pf_meta) == 16, "pf_meta: no hidden padding");
_Static_assert(sizeof(struct pf_fcache_ent) == 64, "pf_fcache_ent: one cache line");
_Static_assert(sizeof(struct pf_hist_half) ==
	       8 * (3 + PF_HIST_MASK_WORDS + PF_HIST_NSLOTS), "pf_hist_half: u64s only");
_Static_assert(sizeof(struct pf_stats) == 8 * (PF_STAT_MAX + 2 * PF_HOOK_SLOTS),
	       "pf_stats: u64s only");

#endif /* PINGFOLD_SHARED_H */
