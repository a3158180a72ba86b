// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Userspace histogram math over the bucket scheme of hist_shared.h.
 * The scheme, its proofs and the error bounds: docs/histogram.md.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <string.h>
#include "hist.h"

static const uint64_t hist_thresh[PF_HIST_PER_OCTAVE] = {
	PF_HIST_THRESH_0, PF_HIST_THRESH_1, PF_HIST_THRESH_2, PF_HIST_THRESH_3,
	PF_HIST_THRESH_4, PF_HIST_THRESH_5, PF_HIST_THRESH_6, PF_HIST_THRESH_7,
};

/*
 * 2^(j/8) for j = 0..7, each the double nearest to the exact value
 * (tests/unit/hist_test.c checks this with exact arithmetic). Prometheus's
 * Go table (nativeHistogramBounds, schema 3) is 1 ulp lower for j = 4, 6, 7.
 */
static const double hist_frac[PF_HIST_PER_OCTAVE] = {
	0x1p+0,
	0x1.172b83c7d517bp+0,
	0x1.306fe0a31b715p+0,
	0x1.4bfdad5362a27p+0,
	0x1.6a09e667f3bcdp+0,
	0x1.8ace5422aa0dbp+0,
	0x1.ae89f995ad3adp+0,
	0x1.d5818dcfba487p+0,
};

/*
 * floor(1e9 * 2^(i/8)), the last ns value at or below OTel boundary i, for
 * i in [-239, 272]. Write i = 8k - 239 + j with 0 <= k <= 63, 0 <= j < 8:
 * 1e9 * 2^(i/8) = X_j / 2^(63-k) with X_j = 1e9 * 2^((265+j)/8), and as
 * floor(x / 2^s) = floor(floor(x) / 2^s) for real x >= 0 and integer
 * s >= 0, the result is floor(X_j) >> (63-k) = PF_HIST_THRESH_j >> (63-k).
 */
static uint64_t bound_floor_ns(int i)
{
	int t = i + 239;

	return hist_thresh[t % 8] >> (63 - t / 8);
}

/* 2^(i/8) as a double: the correctly rounded value. */
static double bound_s(int i)
{
	int k = i >= 0 ? i / 8 : -((7 - i) / 8);

	return ldexp(hist_frac[i - 8 * k], k);
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void hist_add_n(struct hist *h, uint64_t v_ns, uint64_t n)
{
	if (!n)
		return;
	h->slot[pf_hist_slot(v_ns)] += n;
	h->count += n;
	h->sum += v_ns * n;
	if (v_ns < h->min)
		h->min = v_ns;
	if (v_ns > h->max)
		h->max = v_ns;
}

void hist_add(struct hist *h, uint64_t v_ns)
{
	hist_add_n(h, v_ns, 1);
}

/* Adds everything but the slots; shared by the dense and sparse merges. */
static void merge_totals(struct hist *dst, uint64_t count, uint64_t sum,
			 uint64_t min, uint64_t max)
{
	dst->count += count;
	dst->sum += sum;
	if (min < dst->min)
		dst->min = min;
	if (max > dst->max)
		dst->max = max;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	uint32_t i;

	for (i = 0; i < PF_HIST_NSLOTS; i++)
		dst->slot[i] += src->slot[i];
	merge_totals(dst, src->count, src->sum, src->min, src->max);
}

void hist_merge_sparse(struct hist *dst, const struct hist_sparse *src)
{
	uint32_t e, n = src->n < PF_HIST_NSLOTS ? src->n : PF_HIST_NSLOTS;

	for (e = 0; e < n; e++)
		if (src->idx[e] < PF_HIST_NSLOTS)
			dst->slot[src->idx[e]] += src->cnt[e];
	merge_totals(dst, src->count, src->sum, src->min, src->max);
}

void hist_sparse_init(struct hist_sparse *s)
{
	s->count = 0;
	s->sum = 0;
	s->min = UINT64_MAX;
	s->max = 0;
	s->n = 0;
}

void hist_to_sparse(const struct hist *h, struct hist_sparse *out)
{
	uint32_t i;

	hist_sparse_init(out);
	out->count = h->count;
	out->sum = h->sum;
	out->min = h->min;
	out->max = h->max;
	for (i = 0; i < PF_HIST_NSLOTS; i++) {
		if (!h->slot[i])
			continue;
		out->idx[out->n] = (uint16_t)i;
		out->cnt[out->n] = h->slot[i];
		out->n++;
	}
}

const char *hist_check_buckets(uint64_t count, uint64_t min, uint64_t max, const void *slot,
			       const void *cnt, size_t slot_stride, size_t cnt_stride, uint32_t n)
{
	const char *sp = slot, *cp = cnt;
	uint64_t total = 0, c;
	uint16_t s, prev = 0;
	uint32_t i;

	if (!count)
		return "count is 0";
	if (!n)
		return "no buckets";
	if (n > PF_HIST_NSLOTS)
		return "more buckets than slots";
	for (i = 0; i < n; i++) {
		memcpy(&s, sp + (size_t)i * slot_stride, sizeof(s));
		memcpy(&c, cp + (size_t)i * cnt_stride, sizeof(c));
		if (s >= PF_HIST_NSLOTS)
			return "bucket slot out of range";
		if (i && s <= prev)
			return "bucket slots not increasing";
		if (!c)
			return "bucket count is 0";
		if (total + c < total)
			return "bucket counts overflow";
		total += c;
		prev = s;
	}
	if (total != count)
		return "count differs from the sum of bucket counts";
	if (min > max)
		return "min > max";
	memcpy(&s, sp, sizeof(s));
	if (pf_hist_slot(min) != s)
		return "min not in the first bucket's slot";
	if (pf_hist_slot(max) != prev)
		return "max not in the last bucket's slot";
	return NULL;
}

int hist_sparse_validate(const struct hist_sparse *s)
{
	if (!s->count)
		return !s->n && s->min == UINT64_MAX && s->max == 0 ? 0 : -EINVAL;
	return hist_check_buckets(s->count, s->min, s->max, s->idx, s->cnt, sizeof(s->idx[0]),
				  sizeof(s->cnt[0]), s->n) ? -EINVAL : 0;
}

bool hist_equal(const struct hist *a, const struct hist *b)
{
	return a->count == b->count && a->sum == b->sum &&
	       a->min == b->min && a->max == b->max &&
	       !memcmp(a->slot, b->slot, sizeof(a->slot));
}

int hist_slot_otel_index(uint32_t slot)
{
	if (slot == PF_HIST_SLOT_UNDER)
		return PF_HIST_IDX_MIN - 1;
	if (slot >= PF_HIST_SLOT_OVER)
		return PF_HIST_IDX_MAX + 1;
	return (int)slot - 1 + PF_HIST_IDX_MIN;
}

uint64_t hist_slot_lo(uint32_t slot)
{
	if (slot == PF_HIST_SLOT_UNDER)
		return 0;
	if (slot >= PF_HIST_SLOT_OVER)
		return PF_HIST_OVER_MIN_NS;
	return bound_floor_ns(hist_slot_otel_index(slot)) + 1;
}

uint64_t hist_slot_hi(uint32_t slot)
{
	if (slot == PF_HIST_SLOT_UNDER)
		return PF_HIST_UNDER_MAX_NS;
	if (slot >= PF_HIST_SLOT_OVER)
		return UINT64_MAX;
	return bound_floor_ns(hist_slot_otel_index(slot) + 1);
}

double hist_slot_upper_s(uint32_t slot)
{
	if (slot >= PF_HIST_SLOT_OVER)
		return INFINITY;
	return bound_s(hist_slot_otel_index(slot) + 1);
}

uint64_t hist_rank(uint64_t count, double q)
{
	double x, r;

	if (!count)
		return 0;
	if (!(q > 0))
		return 1;
	if (q >= 1)
		return count;
	x = q * (double)count;
	r = floor(x);
	/* A fraction this small is rounding error of q, not part of q * count. */
	if (x - r > x * 4 * DBL_EPSILON)
		r += 1;
	if (r < 1)
		return 1;
	if (r >= (double)count)
		return count;
	return (uint64_t)r;
}

/*
 * Value of rank 'rank' inside 'slot', which holds ranks below+1 ..
 * below+cnt: log-linear between the slot's boundaries, narrowed to
 * [min, max]; linear when the range starts at 0 (underflow slot).
 */
static double slot_interp(uint32_t slot, uint64_t cnt, uint64_t below,
			  uint64_t rank, uint64_t min, uint64_t max)
{
	double lo, hi, f, v;

	lo = slot == PF_HIST_SLOT_UNDER ? 0 : 1e9 * hist_slot_upper_s(slot - 1);
	hi = 1e9 * hist_slot_upper_s(slot);
	lo = fmax(lo, (double)min);
	hi = fmin(hi, (double)max);
	f = ((double)(rank - below) - 0.5) / (double)cnt;
	if (hi <= lo)
		v = lo;
	else if (lo > 0)
		v = lo * pow(hi / lo, f);
	else
		v = lo + f * (hi - lo);
	return fmin(fmax(v, (double)min), (double)max);
}

/* Rank 1 and rank count are min and max, known exactly. */
static bool quantile_exact(uint64_t rank, uint64_t count, uint64_t min,
			   uint64_t max, double *v)
{
	if (!rank)
		*v = 0;
	else if (rank == 1)
		*v = (double)min;
	else if (rank == count)
		*v = (double)max;
	else
		return false;
	return true;
}

double hist_quantile(const struct hist *h, double q)
{
	uint64_t rank = hist_rank(h->count, q), below = 0;
	uint32_t i;
	double v;

	if (quantile_exact(rank, h->count, h->min, h->max, &v))
		return v;
	for (i = 0; i < PF_HIST_NSLOTS; i++) {
		if (h->slot[i] >= rank - below)
			return slot_interp(i, h->slot[i], below, rank,
					   h->min, h->max);
		below += h->slot[i];
	}
	return (double)h->max;	/* slots sum to less than count */
}

double hist_sparse_quantile(const struct hist_sparse *s, double q)
{
	uint64_t rank = hist_rank(s->count, q), below = 0;
	uint32_t e, n = s->n < PF_HIST_NSLOTS ? s->n : PF_HIST_NSLOTS;
	double v;

	if (quantile_exact(rank, s->count, s->min, s->max, &v))
		return v;
	for (e = 0; e < n; e++) {
		if (s->cnt[e] >= rank - below)
			return slot_interp(s->idx[e], s->cnt[e], below, rank,
					   s->min, s->max);
		below += s->cnt[e];
	}
	return (double)s->max;
}

double hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0;
}

int hist_next_nonzero(const struct hist *h, uint32_t from)
{
	uint32_t i;

	for (i = from; i < PF_HIST_NSLOTS; i++)
		if (h->slot[i])
			return (int)i;
	return -1;
}
