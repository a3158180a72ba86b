/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The one histogram bucket scheme of pingfold, compiled into both the BPF
 * datapath and userspace. See docs/histogram.md.
 *
 * Buckets are those of an OpenTelemetry exponential histogram of scale 3
 * (base 2^(1/8)) over values in seconds: OTel bucket i holds
 * (2^(i/8) s, 2^((i+1)/8) s]. Prometheus native histograms of schema 3 use
 * the same boundaries with index i+1. Samples are integer nanoseconds.
 *
 * Covered: OTel indexes PF_HIST_IDX_MIN..PF_HIST_IDX_MAX, i.e. ~0.95 us to
 * 64 s. Slot 0 counts underflow (v <= 953 ns), the last slot overflow
 * (v > 64 s). Nothing is dropped.
 *
 * Include <linux/types.h> (userspace) or vmlinux.h (BPF) before this file.
 */
#ifndef PINGFOLD_HIST_SHARED_H
#define PINGFOLD_HIST_SHARED_H

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define PF_HIST_SCALE		3
#define PF_HIST_PER_OCTAVE	8
#define PF_HIST_IDX_MIN		(-160)	/* (2^-20 s, 2^-19.875 s] */
#define PF_HIST_IDX_MAX		47	/* (2^5.875 s, 2^6 s] */
#define PF_HIST_NSLOTS		(PF_HIST_IDX_MAX - PF_HIST_IDX_MIN + 1 + 2)
#define PF_HIST_SLOT_UNDER	0
#define PF_HIST_SLOT_OVER	(PF_HIST_NSLOTS - 1)
#define PF_HIST_MASK_WORDS	((PF_HIST_NSLOTS + 63) / 64)

/* Largest value (ns) counted as underflow and in the first regular slot. */
#define PF_HIST_UNDER_MAX_NS	953ULL		/* floor(1e9 * 2^-20) */
#define PF_HIST_OVER_MIN_NS	64000000001ULL	/* 64 s + 1 ns */

/*
 * Within any octave [2^k, 2^(k+1)) ns there are exactly 8 bucket
 * boundaries, at the same relative places for every k, because a boundary
 * is 1e9 * 2^(i/8) ns. With the mantissa M = v << (63 - k), v lies above
 * boundary j of its octave iff M > PF_HIST_THRESH_j, where
 *   PF_HIST_THRESH_j = floor(1e9 * 2^((265 + j) / 8))
 * (the integer 8th root of 10^72 * 2^(265+j); tests/unit/hist_test.c checks
 * each constant with exact big-integer arithmetic). Then
 *   OTel index = 8k - 240 + #{ j : M > PF_HIST_THRESH_j }.
 */
#define PF_HIST_THRESH_0	9367390095664785123ULL
#define PF_HIST_THRESH_1	10215211334214395865ULL
#define PF_HIST_THRESH_2	11139766950770582417ULL
#define PF_HIST_THRESH_3	12148001999904198769ULL
#define PF_HIST_THRESH_4	13247490117328543392ULL
#define PF_HIST_THRESH_5	14446490411353358019ULL
#define PF_HIST_THRESH_6	15754009503455335899ULL
#define PF_HIST_THRESH_7	17179869184000000000ULL	/* 1e9 * 2^34, exact */

/*
 * floor(log2(v)) for v > 0. BPF has neither loops for this nor clz: a
 * binary search there. Userspace (the wire checks, the aggregator) uses
 * the CPU's count of leading zeros: the search's data-dependent branches
 * mispredict on varied RTTs. hist_test checks both against each other.
 */
static __always_inline int pf_hist_log2_search(__u64 v)
{
	int k = 0;

	if (v >> 32) {
		v >>= 32;
		k += 32;
	}
	if (v >> 16) {
		v >>= 16;
		k += 16;
	}
	if (v >> 8) {
		v >>= 8;
		k += 8;
	}
	if (v >> 4) {
		v >>= 4;
		k += 4;
	}
	if (v >> 2) {
		v >>= 2;
		k += 2;
	}
	if (v >> 1)
		k += 1;
	return k;
}

static __always_inline int pf_hist_log2(__u64 v)
{
#ifdef __bpf__
	return pf_hist_log2_search(v);
#else
	return 63 - __builtin_clzll(v);
#endif
}

/* OTel scale-3 index of v ns (seconds-based boundaries); v > 0. */
static __always_inline int pf_hist_otel_index(__u64 v)
{
	int k = pf_hist_log2(v);
	__u64 m = v << (63 - k);
	int n = 0;

	n += m > PF_HIST_THRESH_0;
	n += m > PF_HIST_THRESH_1;
	n += m > PF_HIST_THRESH_2;
	n += m > PF_HIST_THRESH_3;
	n += m > PF_HIST_THRESH_4;
	n += m > PF_HIST_THRESH_5;
	n += m > PF_HIST_THRESH_6;
	n += m > PF_HIST_THRESH_7;
	return 8 * k - 240 + n;
}

/* Slot in a pingfold histogram (0 = underflow .. NSLOTS-1 = overflow). */
static __always_inline __u32 pf_hist_slot(__u64 v)
{
	int i;

	if (v <= PF_HIST_UNDER_MAX_NS)
		return PF_HIST_SLOT_UNDER;
	if (v >= PF_HIST_OVER_MIN_NS)
		return PF_HIST_SLOT_OVER;
	i = pf_hist_otel_index(v);
	return (__u32)(i - PF_HIST_IDX_MIN + 1);
}

#endif /* PINGFOLD_HIST_SHARED_H */
