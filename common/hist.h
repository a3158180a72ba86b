/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Userspace histogram math over the scheme of hist_shared.h:
 * dense and sparse forms, merge, quantiles, bucket bounds.
 */
#ifndef PINGFOLD_HIST_H
#define PINGFOLD_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "hist_shared.h"

/* Dense histogram: exact count, sum, min, max and every slot. */
struct hist {
	uint64_t count;
	uint64_t sum;		/* ns */
	uint64_t min;		/* ns; UINT64_MAX when count == 0 */
	uint64_t max;		/* ns; 0 when count == 0 */
	uint64_t slot[PF_HIST_NSLOTS];
};

/* Sparse histogram: only non-zero slots, in increasing slot order. */
struct hist_sparse {
	uint64_t count;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
	uint32_t n;				/* entries used */
	uint16_t idx[PF_HIST_NSLOTS];		/* slot numbers, increasing */
	uint64_t cnt[PF_HIST_NSLOTS];		/* counts, all > 0 */
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t v_ns);
void hist_add_n(struct hist *h, uint64_t v_ns, uint64_t n);
/* dst += src; associative and commutative. */
void hist_merge(struct hist *dst, const struct hist *src);
void hist_merge_sparse(struct hist *dst, const struct hist_sparse *src);
void hist_to_sparse(const struct hist *h, struct hist_sparse *out);
void hist_sparse_init(struct hist_sparse *s);
bool hist_equal(const struct hist *a, const struct hist *b);

/* Slot of a value (same function the BPF datapath runs). */
static inline uint32_t hist_slot(uint64_t v_ns) { return pf_hist_slot(v_ns); }
/*
 * OTel scale-3 index of a regular slot (1..NSLOTS-2); Prometheus index is +1.
 * Underflow gives PF_HIST_IDX_MIN - 1 and overflow PF_HIST_IDX_MAX + 1,
 * the adjacent buckets, which do not hold those slots exactly.
 */
int hist_slot_otel_index(uint32_t slot);
/*
 * Exact integer range of a slot: the smallest and largest ns value that
 * falls in it. Underflow: [0, 953]; overflow: [64e9+1, UINT64_MAX].
 */
uint64_t hist_slot_lo(uint32_t slot);
uint64_t hist_slot_hi(uint32_t slot);
/* Upper boundary of a slot in seconds (OTel/Prometheus le), +inf for overflow. */
double hist_slot_upper_s(uint32_t slot);

/*
 * Quantile q in [0, 1], in ns: the value of rank ceil(q * count) (at least
 * 1), interpolated log-linearly inside its slot and clamped to [min, max].
 * Within one bucket's relative width (2^(1/8) - 1, 9.05%) of the exact
 * sample quantile of the same rank. Returns 0 when the histogram is empty.
 */
double hist_quantile(const struct hist *h, double q);
double hist_sparse_quantile(const struct hist_sparse *s, double q);
double hist_mean(const struct hist *h);
/*
 * The rank the quantiles use: ceil(q * count) clamped to [1, count], with
 * q * count taken as an integer when it is one up to double rounding (so
 * q = 0.999 of 1000 is rank 999). 0 when count == 0.
 */
uint64_t hist_rank(uint64_t count, double q);

/*
 * Check a sparse histogram from outside (e.g. decoded off the wire): n in
 * range, slots increasing and valid, counts > 0 and summing to count,
 * min/max in the first/last slot. 0 or -EINVAL. hist_merge_sparse skips
 * entries with an invalid slot but trusts the rest.
 */
int hist_sparse_validate(const struct hist_sparse *s);
/*
 * The one rule for a non-empty histogram's buckets, whatever their layout
 * (struct hist_sparse, the wire format's buckets): 1..PF_HIST_NSLOTS of
 * them, slots (uint16_t) increasing and in range, counts (uint64_t) > 0
 * summing to count without overflow, min <= max, min in the first
 * bucket's slot and max in the last's. Bucket i's slot is at
 * slot + i * stride, its count at cnt + i * stride (bytes). Returns NULL,
 * or why not ("bucket slots not increasing").
 */
const char *hist_check_buckets(uint64_t count, uint64_t min, uint64_t max, const void *slot,
			       const void *cnt, size_t slot_stride, size_t cnt_stride, uint32_t n);

/* Next non-zero slot at or after 'from', or -1. For sparse iteration. */
int hist_next_nonzero(const struct hist *h, uint32_t from);

#endif /* PINGFOLD_HIST_H */
