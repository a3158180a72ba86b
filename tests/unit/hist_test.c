// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Tests of common/hist.c and of the bucket scheme in common/hist_shared.h.
 * Every boundary is checked against exact big-integer arithmetic: the
 * boundary of OTel index i is floor(1e9 * 2^(i/8)) ns, the largest n with
 * n^8 <= 10^72 * 2^i (i >= 0) or n^8 * 2^-i <= 10^72 (i < 0).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/hist.h"

/* A failing check; no assertion per passing check in the hot loops. */
#define CHECK(cond, ...)						\
	do {								\
		if (!(cond))						\
			cr_assert_fail(__VA_ARGS__);			\
	} while (0)

#define REL_WIDTH	0.0905077326652577	/* 2^(1/8) - 1 */

/* --- exact arithmetic: little-endian u32 limbs ------------------------ */

#define BN_LIMBS	40

struct bn {
	uint32_t l[BN_LIMBS];
};

static void bn_set(struct bn *a, uint64_t v)
{
	memset(a, 0, sizeof(*a));
	a->l[0] = (uint32_t)v;
	a->l[1] = (uint32_t)(v >> 32);
}

static int bn_len(const struct bn *a)
{
	int n = BN_LIMBS;

	while (n && !a->l[n - 1])
		n--;
	return n;
}

/* r = a * b; r must not alias a or b. */
static void bn_mul(struct bn *r, const struct bn *a, const struct bn *b)
{
	int la = bn_len(a), lb = bn_len(b), i, j;

	CHECK(la + lb <= BN_LIMBS, "bignum overflow in mul");
	memset(r, 0, sizeof(*r));
	for (i = 0; i < la; i++) {
		uint64_t carry = 0;

		for (j = 0; j < lb; j++) {
			uint64_t t = (uint64_t)a->l[i] * b->l[j] +
				     r->l[i + j] + carry;

			r->l[i + j] = (uint32_t)t;
			carry = t >> 32;
		}
		r->l[i + lb] = (uint32_t)carry;
	}
}

static void bn_mul_small(struct bn *a, uint32_t m)
{
	uint64_t carry = 0;
	int i;

	for (i = 0; i < BN_LIMBS; i++) {
		uint64_t t = (uint64_t)a->l[i] * m + carry;

		a->l[i] = (uint32_t)t;
		carry = t >> 32;
	}
	CHECK(!carry, "bignum overflow in mul_small");
}

static void bn_shl(struct bn *a, unsigned int bits)
{
	unsigned int w = bits / 32, b = bits % 32;
	int i;

	CHECK(bn_len(a) + (int)w + 1 <= BN_LIMBS, "bignum overflow in shl");
	for (i = BN_LIMBS - 1; i >= 0; i--) {
		uint64_t hi = i >= (int)w ? a->l[i - w] : 0;
		uint64_t lo = i >= (int)w + 1 ? a->l[i - w - 1] : 0;

		a->l[i] = (uint32_t)(((hi << 32 | lo) << b) >> 32);
	}
}

static int bn_cmp(const struct bn *a, const struct bn *b)
{
	int i;

	for (i = BN_LIMBS - 1; i >= 0; i--)
		if (a->l[i] != b->l[i])
			return a->l[i] < b->l[i] ? -1 : 1;
	return 0;
}

/* r = x^8 */
static void bn_pow8(struct bn *r, const struct bn *x)
{
	struct bn t, u;

	bn_mul(&t, x, x);
	bn_mul(&u, &t, &t);
	bn_mul(r, &u, &u);
}

static void bn_pow8_u64(struct bn *r, uint64_t n)
{
	struct bn x;

	bn_set(&x, n);
	bn_pow8(r, &x);
}

/* n^8 * 2^max(0,-i) <= 10^72 * 2^max(0,i), i.e. n <= 1e9 * 2^(i/8) */
static bool le_bound(uint64_t n, int i)
{
	struct bn lhs, rhs;
	int k;

	bn_pow8_u64(&lhs, n);
	bn_set(&rhs, 1);
	for (k = 0; k < 72; k++)
		bn_mul_small(&rhs, 10);
	if (i >= 0)
		bn_shl(&rhs, i);
	else
		bn_shl(&lhs, -i);
	return bn_cmp(&lhs, &rhs) <= 0;
}

/* floor(1e9 * 2^(i/8)), by bisection on le_bound. */
static uint64_t exact_bound(int i)
{
	uint64_t lo = 0, hi = UINT64_MAX;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2 + 1;

		if (le_bound(mid, i))
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* --- the exact boundary table and reference index --------------------- */

/* Every boundary with a u64 value: B(-240) = 0 < 1, B(272) < 2^64 < B(273). */
#define BND_MIN		(-240)
#define BND_MAX		272

static uint64_t bnd_tab[BND_MAX - BND_MIN + 1];
static bool bnd_ready;

static uint64_t bnd(int i)
{
	return bnd_tab[i - BND_MIN];
}

static void bnd_init(void)
{
	int i;

	if (bnd_ready)
		return;
	for (i = BND_MIN; i <= BND_MAX; i++)
		bnd_tab[i - BND_MIN] = exact_bound(i);
	bnd_ready = true;
}

/* OTel index of v >= 1: the largest i with B(i) < v. */
static int ref_index(uint64_t v)
{
	int lo = BND_MIN, hi = BND_MAX;

	while (lo < hi) {
		int mid = lo + (hi - lo + 1) / 2;

		if (bnd(mid) < v)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

static uint32_t ref_slot_of_index(uint64_t v, int idx)
{
	if (v <= bnd(PF_HIST_IDX_MIN))
		return PF_HIST_SLOT_UNDER;
	if (v > bnd(PF_HIST_IDX_MAX + 1))
		return PF_HIST_SLOT_OVER;
	return (uint32_t)(idx - PF_HIST_IDX_MIN + 1);
}

static uint32_t ref_slot(uint64_t v)
{
	return v ? ref_slot_of_index(v, ref_index(v)) : PF_HIST_SLOT_UNDER;
}

/* Both the datapath's index and slot of v agree with the exact table. */
static void check_value(uint64_t v)
{
	uint32_t s = pf_hist_slot(v), rs = ref_slot(v);

	CHECK(s == rs, "pf_hist_slot(%llu) = %u, exact %u",
	      (unsigned long long)v, s, rs);
	if (v) {
		int i = pf_hist_otel_index(v), ri = ref_index(v);

		CHECK(i == ri, "pf_hist_otel_index(%llu) = %d, exact %d",
		      (unsigned long long)v, i, ri);
	}
}

/* --- fixed-seed randomness -------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double uniform01(uint64_t *s)
{
	return ((double)(splitmix64(s) >> 11) + 0.5) * 0x1p-53;
}

/* Standard normal, Box-Muller. */
static double normal(uint64_t *s)
{
	double u1 = uniform01(s), u2 = uniform01(s);

	return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

static uint64_t lognormal_ns(uint64_t *s, double median_ns, double sigma)
{
	return (uint64_t)llround(median_ns * exp(sigma * normal(s)));
}

/* Log-uniform over [lo, hi] ns. */
static uint64_t loguniform_ns(uint64_t *s, double lo, double hi)
{
	return (uint64_t)llround(lo * pow(hi / lo, uniform01(s)));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* --- 1. the constants ------------------------------------------------- */

static const uint64_t thresh[8] = {
	PF_HIST_THRESH_0, PF_HIST_THRESH_1, PF_HIST_THRESH_2, PF_HIST_THRESH_3,
	PF_HIST_THRESH_4, PF_HIST_THRESH_5, PF_HIST_THRESH_6, PF_HIST_THRESH_7,
};

Test(scheme, thresholds_are_exact_8th_roots)
{
	struct bn rhs, lo, hi;
	int j, k;

	for (j = 0; j < 8; j++) {
		/* t^8 <= 10^72 * 2^(265+j) < (t+1)^8 */
		bn_set(&rhs, 1);
		for (k = 0; k < 72; k++)
			bn_mul_small(&rhs, 10);
		bn_shl(&rhs, 265 + j);
		bn_pow8_u64(&lo, thresh[j]);
		bn_pow8_u64(&hi, thresh[j] + 1);
		cr_assert(bn_cmp(&lo, &rhs) <= 0, "THRESH_%d too large", j);
		cr_assert(bn_cmp(&hi, &rhs) > 0, "THRESH_%d too small", j);
	}
}

Test(scheme, range_constants)
{
	bnd_init();
	cr_assert_eq(PF_HIST_NSLOTS, 210);
	cr_assert_eq(PF_HIST_SLOT_OVER, 209);
	cr_assert_eq(PF_HIST_MASK_WORDS, 4);
	cr_assert_eq(PF_HIST_UNDER_MAX_NS, bnd(PF_HIST_IDX_MIN));
	cr_assert_eq(PF_HIST_OVER_MIN_NS, bnd(PF_HIST_IDX_MAX + 1) + 1);
	cr_assert_eq(bnd(BND_MIN), 0);
	cr_assert_eq(bnd(BND_MIN + 1), 1);
	cr_assert_eq(bnd(0), 1000000000ULL);
	cr_assert_eq(bnd(48), 64000000000ULL);
	/* No u64 value lies above B(273): the table holds every boundary. */
	cr_assert(le_bound(UINT64_MAX, BND_MAX + 1));
	cr_assert(bnd(BND_MAX) < UINT64_MAX);
}

/* --- 2. the index function over its whole range ----------------------- */

Test(index, every_boundary)
{
	int i, d;

	bnd_init();
	for (i = BND_MIN + 1; i <= BND_MAX; i++) {
		uint64_t n = bnd(i);

		for (d = -2; d <= 2; d++)
			if ((int64_t)n + d >= 0)
				check_value(n + d);
		/* n is at or below boundary i, n + 1 above it. */
		if (n)
			CHECK(pf_hist_otel_index(n) < i,
			      "index(%llu) >= %d", (unsigned long long)n, i);
		CHECK(pf_hist_otel_index(n + 1) >= i,
		      "index(%llu) < %d", (unsigned long long)n + 1, i);
	}
}

Test(index, every_value_to_2_pow_24)
{
	int idx = BND_MIN;
	uint64_t v;

	bnd_init();
	CHECK(pf_hist_slot(0) == PF_HIST_SLOT_UNDER, "slot(0)");
	for (v = 1; v <= 1ULL << 24; v++) {
		while (idx < BND_MAX && bnd(idx + 1) < v)
			idx++;
		CHECK(pf_hist_otel_index(v) == idx, "index(%llu) = %d, exact %d",
		      (unsigned long long)v, pf_hist_otel_index(v), idx);
		CHECK(pf_hist_slot(v) == ref_slot_of_index(v, idx),
		      "slot(%llu) = %u, exact %u", (unsigned long long)v,
		      pf_hist_slot(v), ref_slot_of_index(v, idx));
	}
}

Test(index, powers_of_two)
{
	int e;

	bnd_init();
	for (e = 0; e < 64; e++) {
		uint64_t p = 1ULL << e;

		check_value(p - 1);
		check_value(p);
		check_value(p + 1);
	}
	check_value(UINT64_MAX - 1);
	check_value(UINT64_MAX);
	cr_assert_eq(pf_hist_slot(UINT64_MAX), PF_HIST_SLOT_OVER);
	cr_assert_eq(pf_hist_otel_index(UINT64_MAX), 272);
	cr_assert_eq(pf_hist_otel_index(1), -240);
}

/*
 * floor(log2): userspace's count of leading zeros against the BPF
 * program's binary search, at and beside every power of two and over
 * pseudo-random values of every length.
 */
Test(index, log2_clz_equals_the_bpf_search)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL, v;
	int e, i;

	for (e = 0; e < 64; e++) {
		uint64_t p = 1ULL << e;

		cr_assert_eq(pf_hist_log2(p), e);
		cr_assert_eq(pf_hist_log2_search(p), e);
		if (e > 1)
			cr_assert_eq(pf_hist_log2(p - 1), pf_hist_log2_search(p - 1), "2^%d - 1", e);
		cr_assert_eq(pf_hist_log2(p + 1), pf_hist_log2_search(p + 1), "2^%d + 1", e);
	}
	for (i = 0; i < 1 << 20; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;	/* xorshift64 */
		v = x >> (i % 64) | 1;
		cr_assert_eq(pf_hist_log2(v), pf_hist_log2_search(v), "%llu",
			     (unsigned long long)v);
	}
}

#define NRAND	(3 << 20)

Test(index, random_monotonic)
{
	uint64_t *v = malloc(NRAND * sizeof(*v)), seed = 42;
	size_t n;

	cr_assert_not_null(v);
	bnd_init();
	for (n = 0; n < NRAND; n++) {
		uint64_t r = splitmix64(&seed);

		/* Half uniform over u64, half spread over every octave. */
		v[n] = n & 1 ? r : r >> (splitmix64(&seed) % 64);
	}
	qsort(v, NRAND, sizeof(*v), cmp_u64);
	for (n = 0; n < NRAND; n++) {
		check_value(v[n]);
		if (!n || !v[n - 1])
			continue;
		CHECK(pf_hist_slot(v[n - 1]) <= pf_hist_slot(v[n]),
		      "slot not monotonic at %llu", (unsigned long long)v[n]);
		CHECK(pf_hist_otel_index(v[n - 1]) <= pf_hist_otel_index(v[n]),
		      "index not monotonic at %llu", (unsigned long long)v[n]);
	}
	free(v);
}

/* --- 3. slot bounds --------------------------------------------------- */

Test(bounds, lo_hi_exact)
{
	uint32_t s;

	bnd_init();
	for (s = 0; s < PF_HIST_NSLOTS; s++) {
		uint64_t lo = hist_slot_lo(s), hi = hist_slot_hi(s);

		cr_assert(lo <= hi, "slot %u empty", s);
		cr_assert_eq(pf_hist_slot(lo), s);
		cr_assert_eq(pf_hist_slot(hi), s);
		if (s > 0)
			cr_assert_eq(pf_hist_slot(lo - 1), s - 1);
		if (s < PF_HIST_SLOT_OVER) {
			cr_assert_eq(pf_hist_slot(hi + 1), s + 1);
			cr_assert_eq(hist_slot_lo(s + 1), hi + 1);
		}
		if (s == PF_HIST_SLOT_UNDER || s == PF_HIST_SLOT_OVER)
			continue;
		cr_assert_eq(lo, bnd(hist_slot_otel_index(s)) + 1, "slot %u", s);
		cr_assert_eq(hi, bnd(hist_slot_otel_index(s) + 1), "slot %u", s);
	}
	cr_assert_eq(hist_slot_lo(PF_HIST_SLOT_UNDER), 0);
	cr_assert_eq(hist_slot_hi(PF_HIST_SLOT_UNDER), 953);
	cr_assert_eq(hist_slot_lo(1), 954);
	cr_assert_eq(hist_slot_hi(PF_HIST_SLOT_OVER - 1), 64000000000ULL);
	cr_assert_eq(hist_slot_lo(PF_HIST_SLOT_OVER), 64000000001ULL);
	cr_assert_eq(hist_slot_hi(PF_HIST_SLOT_OVER), UINT64_MAX);
}

Test(bounds, otel_index)
{
	uint32_t s;

	for (s = 1; s < PF_HIST_SLOT_OVER; s++) {
		int i = hist_slot_otel_index(s);

		cr_assert_eq(i, (int)s - 161);
		cr_assert_eq(pf_hist_otel_index(hist_slot_lo(s)), i);
		cr_assert_eq(pf_hist_otel_index(hist_slot_hi(s)), i);
	}
	cr_assert_eq(hist_slot_otel_index(1), PF_HIST_IDX_MIN);
	cr_assert_eq(hist_slot_otel_index(PF_HIST_SLOT_OVER - 1), PF_HIST_IDX_MAX);
	cr_assert_eq(hist_slot_otel_index(PF_HIST_SLOT_UNDER), PF_HIST_IDX_MIN - 1);
	cr_assert_eq(hist_slot_otel_index(PF_HIST_SLOT_OVER), PF_HIST_IDX_MAX + 1);
}

/* d is the double nearest to 2^(p/8). */
static bool nearest_pow(double d, int p)
{
	struct bn lo, hi, x, two_s;
	uint64_t m;
	int e, s;

	/* d = m * 2^(e-53), so need (2m-1) 2^(e-54) < 2^(p/8) < (2m+1) 2^(e-54). */
	m = (uint64_t)ldexp(frexp(d, &e), 53);
	s = p - 8 * (e - 54);
	CHECK(s >= 0, "unexpected exponent");
	bn_set(&x, 2 * m - 1);
	bn_pow8(&lo, &x);
	bn_set(&x, 2 * m + 1);
	bn_pow8(&hi, &x);
	bn_set(&two_s, 1);
	bn_shl(&two_s, s);
	return bn_cmp(&lo, &two_s) < 0 && bn_cmp(&two_s, &hi) < 0;
}

Test(bounds, upper_s_correctly_rounded)
{
	uint32_t s;

	for (s = 0; s < PF_HIST_SLOT_OVER; s++) {
		double d = hist_slot_upper_s(s);

		cr_assert(nearest_pow(d, hist_slot_otel_index(s) + 1),
			  "upper_s(%u) = %a", s, d);
		cr_assert(fabs(d * 1e9 - (double)hist_slot_hi(s)) < 1,
			  "upper_s(%u) vs hi", s);
		if (s)
			cr_assert(d > hist_slot_upper_s(s - 1));
	}
	cr_assert_eq(hist_slot_upper_s(PF_HIST_SLOT_UNDER), 0x1p-20);
	cr_assert_eq(hist_slot_upper_s(PF_HIST_SLOT_OVER - 1), 64.0);
	cr_assert(isinf(hist_slot_upper_s(PF_HIST_SLOT_OVER)));
	/* The check itself rejects a neighbour of the right value. */
	cr_assert(!nearest_pow(nextafter(sqrt(2), 0), 4));
	cr_assert(!nearest_pow(nextafter(sqrt(2), 2), 4));
}

/* --- 4. quantiles ----------------------------------------------------- */

Test(quantile, rank_convention)
{
	uint64_t n, k;

	for (n = 1; n <= 300; n++) {
		for (k = 0; k <= 1000; k++) {
			uint64_t want = (n * k + 999) / 1000;

			if (!want)
				want = 1;
			CHECK(hist_rank(n, (double)k / 1000) == want,
			      "rank(%llu, %llu/1000) = %llu, want %llu",
			      (unsigned long long)n, (unsigned long long)k,
			      (unsigned long long)hist_rank(n, (double)k / 1000),
			      (unsigned long long)want);
		}
	}
	cr_assert_eq(hist_rank(100000, 0.999), 99900);
	cr_assert_eq(hist_rank(1000000000, 0.999), 999000000);
	cr_assert_eq(hist_rank(100000, 0.9999), 99990);
	cr_assert_eq(hist_rank(3, 0.5), 2);
	cr_assert_eq(hist_rank(0, 0.5), 0);
	cr_assert_eq(hist_rank(5, -1), 1);
	cr_assert_eq(hist_rank(5, NAN), 1);
	cr_assert_eq(hist_rank(5, 2), 5);
	cr_assert_eq(hist_rank(UINT64_MAX, 1), UINT64_MAX);
	cr_assert_eq(hist_rank(1ULL << 60, 0.5), 1ULL << 59);
}

/* Under- and overflow samples, plus the values either side of both edges. */
static size_t add_edges(uint64_t *v, size_t n, uint64_t *seed)
{
	int k;

	for (k = 0; k < 100; k++)
		v[n++] = splitmix64(seed) % 954;
	for (k = 0; k < 100; k++)
		v[n++] = loguniform_ns(seed, 64000000001.0, 1e13);
	v[n++] = 0;
	v[n++] = 953;
	v[n++] = 954;
	v[n++] = 64000000000ULL;
	v[n++] = 64000000001ULL;
	return n;
}

/*
 * Spread samples over nparts histograms, merge them (half dense, half
 * through the sparse form) and check totals and quantiles.
 */
static void check_merged_quantiles(uint64_t *v, size_t n, int nparts,
				   uint64_t seed)
{
	static const double qs[] = { 0.01, 0.1, 0.5, 0.9, 0.99, 0.999 };
	struct hist *parts = calloc(nparts, sizeof(*parts));
	struct hist m, direct;
	struct hist_sparse sp;
	uint64_t sum = 0, under = 0, over = 0;
	size_t k;
	int p;

	cr_assert_not_null(parts);
	for (p = 0; p < nparts; p++)
		hist_init(&parts[p]);
	hist_init(&direct);
	for (k = 0; k < n; k++) {
		hist_add(&parts[splitmix64(&seed) % nparts], v[k]);
		hist_add(&direct, v[k]);
		sum += v[k];
		under += v[k] <= 953;
		over += v[k] > 64000000000ULL;
	}
	hist_init(&m);
	for (p = 0; p < nparts; p++) {
		if (p & 1) {
			hist_to_sparse(&parts[p], &sp);
			hist_merge_sparse(&m, &sp);
		} else {
			hist_merge(&m, &parts[p]);
		}
	}
	free(parts);

	qsort(v, n, sizeof(*v), cmp_u64);
	cr_assert(hist_equal(&m, &direct));
	cr_assert_eq(m.count, n);
	cr_assert_eq(m.sum, sum);
	cr_assert_eq(m.min, v[0]);
	cr_assert_eq(m.max, v[n - 1]);
	cr_assert_eq(m.slot[PF_HIST_SLOT_UNDER], under);
	cr_assert_eq(m.slot[PF_HIST_SLOT_OVER], over);
	cr_assert_eq(hist_quantile(&m, 0), (double)v[0]);
	cr_assert_eq(hist_quantile(&m, 1), (double)v[n - 1]);

	hist_to_sparse(&m, &sp);
	for (k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		uint64_t exact = v[hist_rank(n, qs[k]) - 1];
		double est = hist_quantile(&m, qs[k]);
		uint32_t s = pf_hist_slot(exact);

		/* The bound is for regular slots; the test data keeps it so. */
		cr_assert(s != PF_HIST_SLOT_UNDER && s != PF_HIST_SLOT_OVER);
		cr_assert(fabs(est - (double)exact) <=
			  REL_WIDTH * (double)exact * (1 + 1e-12),
			  "q=%g: estimate %.0f, exact %llu", qs[k], est,
			  (unsigned long long)exact);
		cr_assert_eq(hist_sparse_quantile(&sp, qs[k]), est);
	}
}

#define NSAMPLES	200000

Test(quantile, lognormal)
{
	uint64_t *v = malloc((NSAMPLES + 300) * sizeof(*v)), seed = 1;
	size_t n;

	cr_assert_not_null(v);
	for (n = 0; n < NSAMPLES; n++)
		v[n] = lognormal_ns(&seed, 20e6, 1.2);
	n = add_edges(v, n, &seed);
	check_merged_quantiles(v, n, 7, seed);
	free(v);
}

Test(quantile, bimodal)
{
	uint64_t *v = malloc((NSAMPLES + 300) * sizeof(*v)), seed = 2;
	size_t n;

	cr_assert_not_null(v);
	for (n = 0; n < NSAMPLES; n++) {
		if (uniform01(&seed) < 0.7)
			v[n] = lognormal_ns(&seed, 1.5e6, 0.15);
		else
			v[n] = lognormal_ns(&seed, 180e6, 0.3);
	}
	n = add_edges(v, n, &seed);
	check_merged_quantiles(v, n, 5, seed);
	free(v);
}

Test(quantile, constant)
{
	static const uint64_t c[] = { 12345678, 500, 100000000000ULL, 0 };
	static const double qs[] = { 0, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1 };
	uint64_t seed = 3;
	size_t i, k, n;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct hist parts[4], m;

		for (k = 0; k < 4; k++)
			hist_init(&parts[k]);
		for (n = 0; n < NSAMPLES; n++)
			hist_add(&parts[splitmix64(&seed) % 4], c[i]);
		hist_init(&m);
		for (k = 0; k < 4; k++)
			hist_merge(&m, &parts[k]);
		cr_assert_eq(m.count, NSAMPLES);
		cr_assert_eq(m.slot[pf_hist_slot(c[i])], NSAMPLES);
		for (k = 0; k < sizeof(qs) / sizeof(qs[0]); k++)
			cr_assert_eq(hist_quantile(&m, qs[k]), (double)c[i],
				     "c=%llu q=%g", (unsigned long long)c[i],
				     qs[k]);
		cr_assert_eq(hist_mean(&m), (double)c[i]);
	}
}

/* Every rank of many small random sets, regular slots only. */
Test(quantile, every_rank_small_sets)
{
	uint64_t v[200], seed = 4;
	int set;

	for (set = 0; set < 2000; set++) {
		size_t n = 1 + splitmix64(&seed) % 200, r;
		struct hist h;

		hist_init(&h);
		for (r = 0; r < n; r++) {
			v[r] = loguniform_ns(&seed, 954, 64e9);
			hist_add(&h, v[r]);
		}
		qsort(v, n, sizeof(*v), cmp_u64);
		for (r = 1; r <= n; r++) {
			double q = ((double)r - 0.5) / (double)n;
			double est = hist_quantile(&h, q);
			double exact = (double)v[r - 1];

			CHECK(hist_rank(n, q) == r, "rank");
			CHECK(fabs(est - exact) <= REL_WIDTH * exact * (1 + 1e-12),
			      "set %d rank %zu/%zu: estimate %.0f, exact %.0f",
			      set, r, n, est, exact);
			CHECK(est >= (double)h.min && est <= (double)h.max,
			      "estimate outside [min, max]");
		}
	}
}

Test(quantile, empty_and_mean)
{
	struct hist h;
	struct hist_sparse s;

	hist_init(&h);
	hist_sparse_init(&s);
	cr_assert_eq(hist_quantile(&h, 0.5), 0);
	cr_assert_eq(hist_sparse_quantile(&s, 0.5), 0);
	cr_assert_eq(hist_mean(&h), 0);
	hist_add(&h, 1000);
	hist_add(&h, 2000);
	hist_add(&h, 6000);
	cr_assert_eq(hist_mean(&h), 3000);
	cr_assert_eq(hist_quantile(&h, 0.01), 1000);
	cr_assert_eq(hist_quantile(&h, 1), 6000);
	cr_assert(fabs(hist_quantile(&h, 0.5) - 2000) <= 2000 * REL_WIDTH);
}

/* --- 5. merge and the sparse form ------------------------------------- */

/* A histogram of n samples log-uniform over 1 ns .. 1000 s. */
static void random_hist(struct hist *h, uint64_t seed, int n)
{
	hist_init(h);
	while (n--)
		hist_add(h, loguniform_ns(&seed, 1, 1e12));
}

Test(merge, associative_commutative)
{
	struct hist a, b, c, ab, ab_c, bc, a_bc, ba;

	random_hist(&a, 10, 5000);
	random_hist(&b, 11, 3000);
	random_hist(&c, 12, 1);
	ab = a;
	hist_merge(&ab, &b);
	ab_c = ab;
	hist_merge(&ab_c, &c);
	bc = b;
	hist_merge(&bc, &c);
	a_bc = a;
	hist_merge(&a_bc, &bc);
	ba = b;
	hist_merge(&ba, &a);
	cr_assert(hist_equal(&ab, &ba));
	cr_assert(hist_equal(&ab_c, &a_bc));
	cr_assert(!hist_equal(&ab, &ab_c));
	cr_assert_eq(ab_c.count, 8001);
	cr_assert_eq(ab_c.sum, a.sum + b.sum + c.sum);
	cr_assert_eq(ab_c.min, a.min < b.min ? (a.min < c.min ? a.min : c.min) :
					       (b.min < c.min ? b.min : c.min));
	cr_assert_eq(ab_c.max, a.max > b.max ? (a.max > c.max ? a.max : c.max) :
					       (b.max > c.max ? b.max : c.max));
}

Test(merge, empty)
{
	struct hist a, e, x;

	random_hist(&a, 20, 1000);
	hist_init(&e);
	x = a;
	hist_merge(&x, &e);
	cr_assert(hist_equal(&x, &a));
	x = e;
	hist_merge(&x, &a);
	cr_assert(hist_equal(&x, &a));
	x = e;
	hist_merge(&x, &e);
	cr_assert(hist_equal(&x, &e));
	cr_assert_eq(x.count, 0);
	cr_assert_eq(x.min, UINT64_MAX);
	cr_assert_eq(x.max, 0);
	cr_assert_eq(hist_next_nonzero(&x, 0), -1);
}

static void check_sparse_round_trip(const struct hist *h)
{
	struct hist_sparse s;
	struct hist back;
	uint32_t e, nz = 0;
	int i;

	hist_to_sparse(h, &s);
	cr_assert_eq(hist_sparse_validate(&s), 0);
	for (i = 0; i < PF_HIST_NSLOTS; i++)
		nz += !!h->slot[i];
	cr_assert_eq(s.n, nz);
	/* hist_next_nonzero walks the same slots in the same order. */
	for (e = 0, i = hist_next_nonzero(h, 0); i >= 0;
	     e++, i = hist_next_nonzero(h, i + 1)) {
		cr_assert(e < s.n);
		cr_assert_eq(s.idx[e], i);
		cr_assert_eq(s.cnt[e], h->slot[i]);
	}
	cr_assert_eq(e, s.n);
	hist_init(&back);
	hist_merge_sparse(&back, &s);
	cr_assert(hist_equal(&back, h));
}

Test(merge, sparse_round_trip)
{
	struct hist h;
	uint32_t s;

	hist_init(&h);
	check_sparse_round_trip(&h);
	random_hist(&h, 30, 20);
	check_sparse_round_trip(&h);
	random_hist(&h, 31, 100000);
	check_sparse_round_trip(&h);
	hist_init(&h);
	for (s = 0; s < PF_HIST_NSLOTS; s++)
		hist_add_n(&h, hist_slot_hi(s) - (s == PF_HIST_SLOT_OVER), s + 1);
	check_sparse_round_trip(&h);
	cr_assert_eq(hist_next_nonzero(&h, PF_HIST_NSLOTS), -1);
}

Test(merge, add_n)
{
	struct hist a, b, e;
	int k;

	hist_init(&a);
	hist_init(&b);
	hist_init(&e);
	hist_add_n(&a, 777777, 5);
	for (k = 0; k < 5; k++)
		hist_add(&b, 777777);
	cr_assert(hist_equal(&a, &b));
	hist_add_n(&a, 1, 0);
	cr_assert(hist_equal(&a, &b));
	hist_add_n(&e, 1, 0);
	cr_assert_eq(e.count, 0);
	cr_assert_eq(e.min, UINT64_MAX);
}

Test(merge, sparse_validate)
{
	struct hist h;
	struct hist_sparse s, bad;

	random_hist(&h, 40, 500);
	hist_to_sparse(&h, &s);
	cr_assert(s.n >= 3);
	cr_assert_eq(hist_sparse_validate(&s), 0);
	bad = s;
	bad.n = PF_HIST_NSLOTS + 1;
	cr_assert_eq(hist_sparse_validate(&bad), -EINVAL);
	bad = s;
	bad.idx[1] = bad.idx[0];
	cr_assert_eq(hist_sparse_validate(&bad), -EINVAL);
	bad = s;
	bad.idx[bad.n - 1] = PF_HIST_NSLOTS;
	cr_assert_eq(hist_sparse_validate(&bad), -EINVAL);
	bad = s;
	bad.cnt[1] = 0;
	cr_assert_eq(hist_sparse_validate(&bad), -EINVAL);
	bad = s;
	bad.count++;
	cr_assert_eq(hist_sparse_validate(&bad), -EINVAL);
	bad = s;
	bad.min = bad.max + 1;
	cr_assert_eq(hist_sparse_validate(&bad), -EINVAL);
	bad = s;
	bad.max = hist_slot_hi(bad.idx[bad.n - 1]) + 1;
	cr_assert_eq(hist_sparse_validate(&bad), -EINVAL);
	hist_sparse_init(&bad);
	cr_assert_eq(hist_sparse_validate(&bad), 0);
	bad.min = 0;
	cr_assert_eq(hist_sparse_validate(&bad), -EINVAL);
}
