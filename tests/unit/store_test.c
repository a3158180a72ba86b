// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Tests of aggregator/store.c: window arithmetic and ageing, quantiles of
 * merged windows against the exact quantiles of the raw samples, one
 * customer across boxes, site rollups over a nested tree, sequence gaps,
 * duplicates, replays and epochs, unnamed keys, stale boxes, top-N, exact
 * totals, 64-bit counts, and a randomised run against a plain model (a
 * list of every histogram merged, summed by brute force at each query).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aggregator/store.h"
#include "common/hblob.h"
#include "tests/lib/rng.h"

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond))						\
			cr_assert_fail(__VA_ARGS__);			\
	} while (0)

#define NS		1000000000ULL
#define MS		1000000ULL
#define T0		(1699999800ULL * NS)	/* a five-minute boundary */
#define BUCKET_REL	0.0905077326652577	/* 2^(1/8) - 1 */



/* ---- helpers ------------------------------------------------------------ */

static struct store *store_new(uint32_t stale_intervals)
{
	struct store_opts o;
	struct store *s;

	store_opts_default(&o);
	if (stale_intervals)
		o.stale_intervals = stale_intervals;
	cr_assert_eq(store_open(&s, &o), 0);
	return s;
}

struct cat_entry {
	uint32_t key;
	const char *id, *name, *site;
};

static void catalog(struct store *s, const char *box, uint64_t epoch, uint64_t seq,
		    const struct cat_entry *e, size_t n, uint64_t now)
{
	struct wire_catalog c;
	size_t i;

	wire_catalog_init(&c);
	snprintf(c.box, sizeof(c.box), "%s", box);
	c.epoch = epoch;
	c.seq = seq;
	for (i = 0; i < n; i++)
		cr_assert_eq(wire_catalog_add(&c, e[i].key, e[i].id, e[i].name ? e[i].name : "",
					      e[i].site ? e[i].site : ""), 0);
	cr_assert_eq(store_add_catalog(s, &c, now), 0);
	wire_catalog_free(&c);
}

static void delta_begin(struct wire_delta *d, const char *box, uint64_t epoch, uint64_t seq,
			uint64_t end_ns)
{
	wire_delta_reset(d);
	snprintf(d->box, sizeof(d->box), "%s", box);
	d->epoch = epoch;
	d->seq = seq;
	d->end_ns = end_ns;
	d->start_ns = end_ns - 10 * NS;
}

/* Adds one customer-half holding h (not empty); keys in increasing order. */
static void delta_hist(struct wire_delta *d, uint32_t key, int half, const struct hist *h)
{
	static struct hist_sparse sp;

	hist_to_sparse(h, &sp);
	cr_assert_eq(wire_delta_add(d, key, (uint8_t)half, &sp), 0);
}

/* Adds n samples of v ns to a customer-half, and to ref if given. */
static void delta_vals(struct wire_delta *d, uint32_t key, int half, uint64_t v, uint64_t n,
		       struct hist *ref)
{
	static struct hist h;

	hist_init(&h);
	hist_add_n(&h, v, n);
	if (ref)
		hist_add_n(ref, v, n);
	delta_hist(d, key, half, &h);
}

static int add(struct store *s, const struct wire_delta *d, uint64_t now, uint64_t *gf,
	       uint64_t *gl)
{
	uint64_t f, l;

	return store_add_delta(s, d, now, gf ? gf : &f, gl ? gl : &l);
}

static uint64_t cust_count(struct store *s, const char *id, enum store_window w, uint64_t now,
			   int half)
{
	struct hist h[PF_NHALVES];

	cr_assert_eq(store_customer(s, id, w, now, h), 0, "customer %s", id);
	return h[half].count;
}

static struct store_box_info box_info(struct store *s, const char *box, uint64_t now)
{
	struct store_box_info *b, r;
	size_t n, i;

	cr_assert_eq(store_boxes(s, now, &b, &n), 0);
	for (i = 0; i < n; i++)
		if (!strcmp(b[i].box, box))
			break;
	cr_assert_lt(i, n, "box %s not listed", box);
	r = b[i];
	free(b);
	return r;
}

static void hist_pair_init(struct hist h[PF_NHALVES])
{
	hist_init(&h[0]);
	hist_init(&h[1]);
}

static void check_equal(const struct hist *a, const struct hist *b, const char *what)
{
	uint32_t i;

	for (i = 0; i < PF_HIST_NSLOTS; i++)
		CHECK(a->slot[i] == b->slot[i], "%s: slot %u: %llu != %llu", what, i,
		      (unsigned long long)a->slot[i], (unsigned long long)b->slot[i]);
	CHECK(hist_equal(a, b), "%s: count %llu/%llu sum %llu/%llu min %llu/%llu max %llu/%llu",
	      what, (unsigned long long)a->count, (unsigned long long)b->count,
	      (unsigned long long)a->sum, (unsigned long long)b->sum,
	      (unsigned long long)a->min, (unsigned long long)b->min,
	      (unsigned long long)a->max, (unsigned long long)b->max);
}

/* ---- windows ------------------------------------------------------------ */

Test(store, window_names)
{
	struct store *s = store_new(0);
	enum store_window w;

	cr_assert_eq(store_window_parse("5m", &w), 0);
	cr_assert_eq(w, STORE_W5M);
	cr_assert_str_eq(store_window_name(STORE_W1H), "1h");
	cr_assert_eq(store_window_parse("2m", &w), -EINVAL);
	cr_assert_eq(store_window_ns(s, STORE_W10S), 10 * NS);
	cr_assert_eq(store_window_ns(s, STORE_W15M), 900 * NS);
	cr_assert_eq(store_window_ns(s, STORE_W1H), 3600 * NS);
	store_close(s);
}

Test(store, windows_and_ageing)
{
	static const struct cat_entry cat[] = { { 1, "c1", "One", "North" } };
	struct store *s = store_new(0);
	struct hist h[PF_NHALVES];
	struct wire_delta d;
	size_t mem_full;

	wire_delta_init(&d);
	catalog(s, "b1", 1, 0, cat, 1, T0);
	/* A: 5 samples ending at +100 s; B: 3 samples ending at +115 s */
	delta_begin(&d, "b1", 1, 1, T0 + 100 * NS);
	delta_vals(&d, 1, PF_HALF_ACCESS, 10 * MS, 5, NULL);
	cr_assert_eq(add(s, &d, T0 + 100 * NS, NULL, NULL), 0);
	delta_begin(&d, "b1", 1, 2, T0 + 115 * NS);
	delta_vals(&d, 1, PF_HALF_ACCESS, 20 * MS, 3, NULL);
	cr_assert_eq(add(s, &d, T0 + 115 * NS, NULL, NULL), 0);

	/* at +115 s, A is 15 s old: out of the 10 s window, in the 1 min one */
	cr_assert_eq(cust_count(s, "c1", STORE_W10S, T0 + 115 * NS, PF_HALF_ACCESS), 3);
	cr_assert_eq(cust_count(s, "c1", STORE_W1M, T0 + 115 * NS, PF_HALF_ACCESS), 8);
	cr_assert_eq(cust_count(s, "c1", STORE_W1M, T0 + 115 * NS, PF_HALF_INTERNET), 0);
	/* box, site and fleet see the same windows */
	cr_assert_eq(store_box(s, "b1", STORE_W10S, T0 + 115 * NS, h), 0);
	cr_assert_eq(h[PF_HALF_ACCESS].count, 3);
	cr_assert_eq(store_site(s, "North", STORE_W1M, T0 + 115 * NS, h), 0);
	cr_assert_eq(h[PF_HALF_ACCESS].count, 8);
	cr_assert_eq(store_fleet(s, STORE_W1M, T0 + 115 * NS, h), 0);
	cr_assert_eq(h[PF_HALF_ACCESS].count, 8);
	cr_assert_eq(h[PF_HALF_ACCESS].min, 10 * MS);
	cr_assert_eq(h[PF_HALF_ACCESS].max, 20 * MS);
	/* a query in the past sees the windows that end at the newest slot */
	cr_assert_eq(cust_count(s, "c1", STORE_W10S, T0 + 105 * NS, PF_HALF_ACCESS), 3);
	/* 1 min = 6 slots: A's slot [100, 110) s is the oldest until +159 s */
	cr_assert_eq(cust_count(s, "c1", STORE_W1M, T0 + 159 * NS, PF_HALF_ACCESS), 8);
	cr_assert_eq(cust_count(s, "c1", STORE_W1M, T0 + 160 * NS, PF_HALF_ACCESS), 3);
	cr_assert_eq(cust_count(s, "c1", STORE_W1M, T0 + 170 * NS, PF_HALF_ACCESS), 0);
	/* 5 min = 5 minutes: [60, 120) s is the oldest until +359 s */
	cr_assert_eq(cust_count(s, "c1", STORE_W5M, T0 + 180 * NS, PF_HALF_ACCESS), 8);
	cr_assert_eq(cust_count(s, "c1", STORE_W5M, T0 + 299 * NS, PF_HALF_ACCESS), 8);
	/* C: 2 samples at +350 s, in the second five minutes */
	delta_begin(&d, "b1", 1, 3, T0 + 350 * NS);
	delta_vals(&d, 1, PF_HALF_ACCESS, 30 * MS, 2, NULL);
	cr_assert_eq(add(s, &d, T0 + 350 * NS, NULL, NULL), 0);
	cr_assert_eq(cust_count(s, "c1", STORE_W5M, T0 + 359 * NS, PF_HALF_ACCESS), 10);
	cr_assert_eq(cust_count(s, "c1", STORE_W5M, T0 + 360 * NS, PF_HALF_ACCESS), 2);
	/* 15 min = 3 five-minute periods: [0, 300) s is the oldest until +899 s */
	cr_assert_eq(cust_count(s, "c1", STORE_W15M, T0 + 899 * NS, PF_HALF_ACCESS), 10);
	cr_assert_eq(store_fleet(s, STORE_W15M, T0 + 899 * NS, h), 0);
	cr_assert_eq(h[PF_HALF_ACCESS].min, 10 * MS);
	cr_assert_eq(cust_count(s, "c1", STORE_W15M, T0 + 900 * NS, PF_HALF_ACCESS), 2);
	/* min and max are those of what is left */
	cr_assert_eq(store_fleet(s, STORE_W15M, T0 + 900 * NS, h), 0);
	cr_assert_eq(h[PF_HALF_ACCESS].min, 30 * MS);
	cr_assert_eq(h[PF_HALF_ACCESS].max, 30 * MS);

	/* 1 h = 12 five-minute periods: [0, 300) s is the oldest until +3599 s */
	mem_full = store_mem_bytes(s);
	cr_assert_eq(cust_count(s, "c1", STORE_W1H, T0 + 3599 * NS, PF_HALF_ACCESS), 10);
	cr_assert_eq(store_site(s, "North", STORE_W1H, T0 + 3599 * NS, h), 0);
	cr_assert_eq(h[PF_HALF_ACCESS].min, 10 * MS);
	cr_assert_eq(cust_count(s, "c1", STORE_W1H, T0 + 3600 * NS, PF_HALF_ACCESS), 2);
	cr_assert_eq(store_site(s, "North", STORE_W1H, T0 + 3600 * NS, h), 0);
	cr_assert_eq(h[PF_HALF_ACCESS].min, 30 * MS);
	cr_assert_eq(cust_count(s, "c1", STORE_W1H, T0 + 3900 * NS, PF_HALF_ACCESS), 0);
	cr_assert_eq(store_fleet(s, STORE_W1H, T0 + 3900 * NS, h), 0);
	cr_assert_eq(h[0].count + h[1].count, 0);
	/* periods that aged out are freed; a query in the past cannot bring them back */
	cr_assert_lt(store_mem_bytes(s), mem_full);
	cr_assert_eq(cust_count(s, "c1", STORE_W1M, T0 + 115 * NS, PF_HALF_ACCESS), 0);
	cr_assert_eq(store_total_samples(s), 10);
	wire_delta_free(&d);
	store_close(s);
}

Test(store, future_and_late_deltas)
{
	static const struct cat_entry cat[] = { { 0, "c", "", "" } };
	struct store *s = store_new(0);
	struct store_box_info bi;
	struct wire_delta d;

	wire_delta_init(&d);
	catalog(s, "b", 1, 0, cat, 1, T0);
	/* stamped 50 s ahead of the aggregator's clock: lands in now's slot */
	delta_begin(&d, "b", 1, 1, T0 + 400 * NS);
	delta_vals(&d, 0, PF_HALF_INTERNET, 5 * MS, 4, NULL);
	cr_assert_eq(add(s, &d, T0 + 350 * NS, NULL, NULL), 0);
	cr_assert_eq(cust_count(s, "c", STORE_W10S, T0 + 350 * NS, PF_HALF_INTERNET), 4);
	/* older than the 1 h window, [300 s, 3900 s) at +3650 s (a late replay): totals only */
	delta_begin(&d, "b", 1, 2, T0 + 140 * NS);
	delta_vals(&d, 0, PF_HALF_INTERNET, 5 * MS, 6, NULL);
	cr_assert_eq(add(s, &d, T0 + 3650 * NS, NULL, NULL), 0);
	cr_assert_eq(cust_count(s, "c", STORE_W1H, T0 + 3650 * NS, PF_HALF_INTERNET), 4);
	cr_assert_eq(store_total_samples(s), 10);
	bi = box_info(s, "b", T0 + 3650 * NS);
	cr_assert_eq(bi.late, 1);
	cr_assert_eq(bi.samples, 10);
	cr_assert_eq(bi.deltas, 2);
	wire_delta_free(&d);
	store_close(s);
}

/* ---- quantiles ---------------------------------------------------------- */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

Test(store, quantiles_of_merged_windows)
{
	enum { N = 6000, BOXES = 3, DELTAS = 4 };
	static const char *const boxes[BOXES] = { "east", "west", "north" };
	static const double qs[] = { 0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1 };
	static struct hist part[BOXES][DELTAS], ref;
	struct store *s = store_new(0);
	struct hist h[PF_NHALVES];
	uint64_t *v = malloc(N * sizeof(*v));
	struct wire_delta d;
	size_t i, b, k;

	wire_delta_init(&d);
	hist_init(&ref);
	for (b = 0; b < BOXES; b++) {
		const struct cat_entry e = { (uint32_t)(5 + b), "q", "Quantile", "Lab" };

		catalog(s, boxes[b], 1, 0, &e, 1, T0);
		for (k = 0; k < DELTAS; k++)
			hist_init(&part[b][k]);
	}
	/* log-uniform from 200 us to 2 s, each sample to a random box and delta */
	for (i = 0; i < N; i++) {
		v[i] = (uint64_t)(200e3 * exp(rndf() * log(1e4)));
		hist_add(&part[rnd() % BOXES][rnd() % DELTAS], v[i]);
		hist_add(&ref, v[i]);
	}
	for (b = 0; b < BOXES; b++) {
		for (k = 0; k < DELTAS; k++) {
			delta_begin(&d, boxes[b], 1, k + 1, T0 + (60 + 10 * k) * NS);
			if (part[b][k].count)
				delta_hist(&d, (uint32_t)(5 + b), PF_HALF_ACCESS, &part[b][k]);
			cr_assert_eq(add(s, &d, T0 + (60 + 10 * k) * NS, NULL, NULL), 0);
		}
	}
	cr_assert_eq(store_customer(s, "q", STORE_W5M, T0 + 100 * NS, h), 0);
	check_equal(&h[PF_HALF_ACCESS], &ref, "merged customer");
	qsort(v, N, sizeof(*v), u64_cmp);
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		double exact = (double)v[hist_rank(N, qs[i]) - 1];
		double got = hist_quantile(&h[PF_HALF_ACCESS], qs[i]);

		CHECK(fabs(got - exact) <= exact * BUCKET_REL, "q %g: %.0f ns, exact %.0f ns",
		      qs[i], got, exact);
	}
	/* the site and the fleet hold the same samples */
	cr_assert_eq(store_site(s, "Lab", STORE_W5M, T0 + 100 * NS, h), 0);
	check_equal(&h[PF_HALF_ACCESS], &ref, "site");
	cr_assert_eq(store_fleet(s, STORE_W5M, T0 + 100 * NS, h), 0);
	check_equal(&h[PF_HALF_ACCESS], &ref, "fleet");
	free(v);
	wire_delta_free(&d);
	store_close(s);
}

/* ---- customers, sites --------------------------------------------------- */

Test(store, customer_on_two_boxes_is_one)
{
	static const struct cat_entry a[] = { { 3, "shared", "Shared Ltd", "North/T1" },
					      { 4, "only-a", "", "North/T1" } };
	static const struct cat_entry b[] = { { 9, "shared", "Shared Ltd", "North/T1" } };
	struct store *s = store_new(0);
	struct store_cust_info *ci;
	struct hist h[PF_NHALVES], ref[PF_NHALVES];
	struct wire_delta d;
	size_t n;

	wire_delta_init(&d);
	hist_pair_init(ref);
	catalog(s, "box-a", 1, 0, a, 2, T0);
	catalog(s, "box-b", 7, 0, b, 1, T0);
	delta_begin(&d, "box-a", 1, 1, T0 + 5 * NS);
	delta_vals(&d, 3, PF_HALF_ACCESS, 4 * MS, 10, &ref[0]);
	delta_vals(&d, 3, PF_HALF_INTERNET, 30 * MS, 7, &ref[1]);
	delta_vals(&d, 4, PF_HALF_ACCESS, 9 * MS, 2, NULL);
	cr_assert_eq(add(s, &d, T0 + 5 * NS, NULL, NULL), 0);
	delta_begin(&d, "box-b", 7, 1, T0 + 6 * NS);
	delta_vals(&d, 9, PF_HALF_ACCESS, 6 * MS, 5, &ref[0]);
	delta_vals(&d, 9, PF_HALF_INTERNET, 90 * MS, 1, &ref[1]);
	cr_assert_eq(add(s, &d, T0 + 6 * NS, NULL, NULL), 0);

	cr_assert_eq(store_customer(s, "shared", STORE_W1M, T0 + 9 * NS, h), 0);
	check_equal(&h[0], &ref[0], "access");
	check_equal(&h[1], &ref[1], "internet");
	cr_assert_str_eq(store_key_id(s, "box-a", 3), "shared");
	cr_assert_str_eq(store_key_id(s, "box-b", 9), "shared");
	cr_assert_null(store_key_id(s, "box-b", 3));
	cr_assert_eq(store_customers(s, &ci, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(ci[0].id, "only-a");
	cr_assert_eq(ci[0].nboxes, 1);
	cr_assert_str_eq(ci[1].id, "shared");
	cr_assert_str_eq(ci[1].name, "Shared Ltd");
	cr_assert_str_eq(ci[1].site, "North/T1");
	cr_assert_eq(ci[1].nboxes, 2);
	free(ci);
	/* box-b's next catalog drops it: one box names it now */
	catalog(s, "box-b", 7, 1, NULL, 0, T0 + 10 * NS);
	cr_assert_eq(store_customers(s, &ci, &n), 0);
	cr_assert_eq(ci[1].nboxes, 1);
	free(ci);
	cr_assert_eq(store_customer(s, "nobody", STORE_W1M, T0, h), -ENOENT);
	wire_delta_free(&d);
	store_close(s);
}

/* A site's histograms must be the sum of its subtree's customers. */
static void check_site_rollups(struct store *s, enum store_window w, uint64_t now)
{
	struct store_cust_info *ci;
	struct hist sum[PF_NHALVES], got[PF_NHALVES], h[PF_NHALVES];
	char **sites, what[300];
	size_t nc, ns, i, j, in;

	cr_assert_eq(store_customers(s, &ci, &nc), 0);
	cr_assert_eq(store_sites(s, &sites, &ns), 0);
	for (i = 0; i <= ns; i++) {
		const char *site = i < ns ? sites[i] : "";	/* "" = fleet: everyone */
		size_t len = strlen(site);

		hist_pair_init(sum);
		for (j = 0, in = 0; j < nc; j++) {
			if (len && strcmp(ci[j].site, site) &&
			    (strncmp(ci[j].site, site, len) || ci[j].site[len] != '/'))
				continue;
			cr_assert_eq(store_customer(s, ci[j].id, w, now, h), 0);
			hist_merge(&sum[0], &h[0]);
			hist_merge(&sum[1], &h[1]);
			in++;
		}
		cr_assert_eq(store_site(s, site, w, now, got), 0, "site '%s'", site);
		snprintf(what, sizeof(what), "site '%s' (%zu customers), access", site, in);
		check_equal(&got[0], &sum[0], what);
		snprintf(what, sizeof(what), "site '%s' (%zu customers), internet", site, in);
		check_equal(&got[1], &sum[1], what);
		CHECK(!len || sum[0].count + sum[1].count, "site '%s' is empty: a weak test", site);
	}
	for (i = 0; i < ns; i++)
		free(sites[i]);
	free(sites);
	free(ci);
}

Test(store, site_rollup_nested)
{
	/* the network.json shape: regions, towers, APs; customers at every level */
	static const struct cat_entry a[] = {
		{ 0, "c0", "", "North" },
		{ 1, "c1", "", "North/Tower 1" },
		{ 2, "c2", "", "North/Tower 1/AP 1" },
		{ 3, "c3", "", "North/Tower 1/AP 2" },
		{ 4, "c4", "", "/North//Tower 2/" },	/* normalised to North/Tower 2 */
		{ 5, "c5", "", "South/Tower 9/AP 1" },
		{ 6, "c6", "", "" },			/* no site: fleet only */
		{ 7, "c7", "", "North/Tower 10" },	/* not under North/Tower 1 */
	};
	static const struct cat_entry b[] = {
		{ 0, "c2", "", "North/Tower 1/AP 1" },	/* also on box b */
		{ 1, "c8", "", "South" },
		{ 2, "c9", "", "South/Tower 9/AP 1" },
	};
	static const char *const want[] = { "North", "North/Tower 1", "North/Tower 1/AP 1",
					    "North/Tower 1/AP 2", "North/Tower 10", "North/Tower 2",
					    "South", "South/Tower 9", "South/Tower 9/AP 1" };
	struct store *s = store_new(0);
	struct wire_delta d;
	struct hist h[PF_NHALVES];
	char **sites;
	size_t n, i;
	uint32_t k, r;

	wire_delta_init(&d);
	catalog(s, "a", 1, 0, a, 8, T0);
	catalog(s, "b", 1, 0, b, 3, T0);
	for (r = 0; r < 6; r++) {
		delta_begin(&d, "a", 1, r + 1, T0 + (10 + 7 * r) * NS);
		for (k = 0; k < 9; k++) {	/* key 8: unnamed, in the fleet */
			delta_vals(&d, k, 0, (1 + k) * MS + rnd() % MS, 1 + rnd() % 20, NULL);
			delta_vals(&d, k, 1, (20 + k) * MS + rnd() % MS, 1 + rnd() % 20, NULL);
		}
		cr_assert_eq(add(s, &d, T0 + (10 + 7 * r) * NS, NULL, NULL), 0);
		delta_begin(&d, "b", 1, r + 1, T0 + (12 + 7 * r) * NS);
		for (k = 0; k < 3; k++)
			delta_vals(&d, k, (int)(r % 2), (3 + k) * MS + rnd() % MS, 1 + rnd() % 9,
				   NULL);
		cr_assert_eq(add(s, &d, T0 + (12 + 7 * r) * NS, NULL, NULL), 0);
	}
	cr_assert_eq(store_sites(s, &sites, &n), 0);
	cr_assert_eq(n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < n; i++) {
		cr_assert_str_eq(sites[i], want[i]);
		free(sites[i]);
	}
	free(sites);
	check_site_rollups(s, STORE_W10S, T0 + 49 * NS);
	check_site_rollups(s, STORE_W1M, T0 + 55 * NS);
	check_site_rollups(s, STORE_W1H, T0 + 600 * NS);
	cr_assert_eq(store_site(s, "North/", STORE_W1M, T0 + 55 * NS, h), 0);
	cr_assert_eq(store_site(s, "Nowhere", STORE_W1M, T0 + 55 * NS, h), -ENOENT);
	cr_assert_eq(store_site(s, "North/Tower", STORE_W1M, T0 + 55 * NS, h), -ENOENT);
	wire_delta_free(&d);
	store_close(s);
}

/* ---- sequences ---------------------------------------------------------- */

/* Adds delta seq of box "g" (epoch e), one sample of 1 ms: the return value. */
static int seq_add(struct store *s, struct wire_delta *d, uint64_t e, uint64_t seq,
		   uint64_t *gf, uint64_t *gl)
{
	delta_begin(d, "g", e, seq, T0 + 30 * NS);
	delta_vals(d, 0, 0, MS, 1, NULL);
	return add(s, d, T0 + 30 * NS, gf, gl);
}

Test(store, gaps_duplicates_epochs)
{
	static const struct cat_entry cat[] = { { 0, "gc", "", "" } };
	struct store *s = store_new(0);
	struct store_box_info bi;
	struct wire_delta d;
	uint64_t gf, gl;

	wire_delta_init(&d);
	catalog(s, "g", 10, 0, cat, 1, T0);
	cr_assert_eq(seq_add(s, &d, 10, 1, &gf, &gl), 0);
	cr_assert_eq(gf + gl, 0);
	cr_assert_eq(seq_add(s, &d, 10, 2, &gf, &gl), 0);
	cr_assert_eq(seq_add(s, &d, 10, 2, &gf, &gl), 1, "duplicate merged");
	cr_assert_eq(gf + gl, 0);
	/* 3 and 4 missed */
	cr_assert_eq(seq_add(s, &d, 10, 5, &gf, &gl), 0);
	cr_assert_eq(gf, 3);
	cr_assert_eq(gl, 4);
	/* the replay brings them; a second copy of 3 (live, late) is a duplicate */
	cr_assert_eq(seq_add(s, &d, 10, 3, &gf, &gl), 0);
	cr_assert_eq(gf + gl, 0, "a replayed delta reported a gap");
	cr_assert_eq(seq_add(s, &d, 10, 4, &gf, &gl), 0);
	cr_assert_eq(seq_add(s, &d, 10, 3, &gf, &gl), 1);
	store_gap_done(s, "g", 10, 3, 4, 2);
	/* 6..8 missed, only 7 comes back */
	cr_assert_eq(seq_add(s, &d, 10, 9, &gf, &gl), 0);
	cr_assert_eq(gf, 6);
	cr_assert_eq(gl, 8);
	cr_assert_eq(seq_add(s, &d, 10, 7, &gf, &gl), 0);
	/* the caller got two answers (one a copy of 7): the store knows one came */
	store_gap_done(s, "g", 10, 6, 8, 2);
	bi = box_info(s, "g", T0 + 30 * NS);
	cr_assert_eq(bi.epoch, 10);
	cr_assert_eq(bi.last_seq, 9);
	cr_assert_eq(bi.deltas, 7);
	cr_assert_eq(bi.dups, 2);
	cr_assert_eq(bi.gaps, 2);
	cr_assert_eq(bi.gap_deltas, 5);
	cr_assert_eq(bi.recovered, 3);
	cr_assert_eq(bi.lost, 2);
	cr_assert_eq(cust_count(s, "gc", STORE_W1M, T0 + 30 * NS, 0), 7);

	/* a new epoch starts afresh: seq 1 is no duplicate and no gap */
	cr_assert_eq(seq_add(s, &d, 11, 1, &gf, &gl), 0);
	cr_assert_eq(gf + gl, 0);
	/* the old epoch's deltas in flight are still deduplicated */
	cr_assert_eq(seq_add(s, &d, 10, 9, &gf, &gl), 1);
	cr_assert_eq(seq_add(s, &d, 10, 8, &gf, &gl), 0);
	/* a lower epoch (the box's clock went back) is a new epoch too */
	cr_assert_eq(seq_add(s, &d, 3, 1, &gf, &gl), 0);
	cr_assert_eq(gf + gl, 0);
	cr_assert_eq(box_info(s, "g", T0 + 30 * NS).epoch, 3);
	cr_assert_eq(seq_add(s, &d, 11, 1, &gf, &gl), 1, "the previous epoch forgotten");
	/* first delta of an epoch with seq 5: 1..4 are missing */
	cr_assert_eq(seq_add(s, &d, 12, 5, &gf, &gl), 0);
	cr_assert_eq(gf, 1);
	cr_assert_eq(gl, 4);
	bi = box_info(s, "g", T0 + 30 * NS);
	cr_assert_eq(bi.epoch, 12);
	cr_assert_eq(bi.last_seq, 5);
	cr_assert_eq(bi.gaps, 3);
	cr_assert_eq(bi.dups, 4);
	/* everything merged once, duplicates never */
	cr_assert_eq(cust_count(s, "gc", STORE_W1M, T0 + 30 * NS, 0), 11);
	cr_assert_eq(store_total_samples(s), 11);
	cr_assert_eq(bi.samples, 11);
	wire_delta_free(&d);
	store_close(s);
}

/* A stats message naming a seq not received: the lost last deltas are a gap. */
Test(store, stats_name_a_lost_last_delta)
{
	struct store *s = store_new(0);
	struct wire_stats st = { 0 };
	struct wire_delta d;
	uint64_t gf, gl;

	wire_delta_init(&d);
	cr_assert_eq(seq_add(s, &d, 7, 1, &gf, &gl), 0);
	cr_assert_eq(seq_add(s, &d, 7, 2, &gf, &gl), 0);
	snprintf(st.box, sizeof(st.box), "g");
	st.epoch = 7;
	st.seq = 2;
	cr_assert_eq(store_stats_gap(s, &st, &gf, &gl), 0, "nothing lost");
	st.seq = 4;		/* 3 and 4 were sent, never received */
	cr_assert_eq(store_stats_gap(s, &st, &gf, &gl), 1);
	cr_assert_eq(gf, 3);
	cr_assert_eq(gl, 4);
	cr_assert_eq(store_stats_gap(s, &st, &gf, &gl), 0, "the same gap reported twice");
	st.epoch = 8;		/* an epoch the store does not follow yet */
	st.seq = 9;
	cr_assert_eq(store_stats_gap(s, &st, &gf, &gl), 0);
	/* the next live delta does not report 3..4 again, only what is new */
	cr_assert_eq(seq_add(s, &d, 7, 6, &gf, &gl), 0);
	cr_assert_eq(gf, 5);
	cr_assert_eq(gl, 5);
	cr_assert_eq(seq_add(s, &d, 7, 3, &gf, &gl), 0);	/* the replay */
	cr_assert_eq(seq_add(s, &d, 7, 4, &gf, &gl), 0);
	store_gap_done(s, "g", 7, 3, 4, 2);
	cr_assert_eq(box_info(s, "g", T0 + 30 * NS).gaps, 2);
	cr_assert_eq(box_info(s, "g", T0 + 30 * NS).gap_deltas, 3);
	cr_assert_eq(box_info(s, "g", T0 + 30 * NS).recovered, 2);
	wire_delta_free(&d);
	store_close(s);
}

Test(store, long_sequences_and_jumps)
{
	struct store *s = store_new(0);
	struct wire_delta d;
	uint64_t gf, gl, q;

	wire_delta_init(&d);
	for (q = 1; q <= 40000; q++)
		cr_assert_eq(seq_add(s, &d, 1, q, &gf, &gl), 0);
	cr_assert_eq(seq_add(s, &d, 1, 39999, &gf, &gl), 1);
	cr_assert_eq(seq_add(s, &d, 1, 30000, &gf, &gl), 1);
	/* older than the remembered window: taken as seen, not merged again */
	cr_assert_eq(seq_add(s, &d, 1, 20000, &gf, &gl), 1);
	/* a jump wider than max_seq_jump (16384) is held as suspect, counted */
	cr_assert_eq(seq_add(s, &d, 1, 100000, &gf, &gl), -ERANGE);
	cr_assert_eq(gf + gl, 0);
	cr_assert_eq(box_info(s, "g", T0).refused[STORE_REFUSE_SEQ], 1);
	cr_assert_eq(store_last_refusal(s), STORE_REFUSE_SEQ);
	/* and does not disturb the real stream */
	cr_assert_eq(seq_add(s, &d, 1, 40001, &gf, &gl), 0);
	cr_assert_eq(gf + gl, 0);
	cr_assert_eq(box_info(s, "g", T0).last_seq, 40001);
	/* a box that really jumped: the next seq confirms, the held one is in the gap */
	cr_assert_eq(seq_add(s, &d, 1, 100000, &gf, &gl), -ERANGE);
	cr_assert_eq(seq_add(s, &d, 1, 100001, &gf, &gl), 0);
	cr_assert_eq(gf, 40002);
	cr_assert_eq(gl, 100000);
	cr_assert_eq(seq_add(s, &d, 1, 99000, &gf, &gl), 0);
	cr_assert_eq(seq_add(s, &d, 1, 99000, &gf, &gl), 1);
	/* the caller's count is used where the window no longer remembers */
	store_gap_done(s, "g", 1, 40002, 100000, 5);
	cr_assert_eq(box_info(s, "g", T0).recovered, 5);
	cr_assert_eq(box_info(s, "g", T0).lost, 59999 - 5);
	cr_assert_eq(box_info(s, "g", T0).refused[STORE_REFUSE_SEQ], 2);
	cr_assert_eq(store_total_samples(s), 40003);
	wire_delta_free(&d);
	store_close(s);
}

Test(store, bad_input)
{
	struct store *s = store_new(0);
	struct wire_delta d;
	struct wire_catalog c;

	wire_delta_init(&d);
	delta_begin(&d, "x", 1, 0, T0);
	cr_assert_eq(add(s, &d, T0, NULL, NULL), -EINVAL, "seq 0 accepted");
	delta_begin(&d, "", 1, 1, T0);
	cr_assert_eq(add(s, &d, T0, NULL, NULL), -EINVAL, "empty box accepted");
	delta_begin(&d, "x", 1, 1, T0);
	delta_vals(&d, 0, 0, MS, 3, NULL);
	d.b[0].slot = PF_HIST_NSLOTS;
	cr_assert_eq(add(s, &d, T0, NULL, NULL), -EINVAL, "bad slot accepted");
	d.b[0].slot = (uint16_t)hist_slot(MS);
	d.h[0].count = 4;
	cr_assert_eq(add(s, &d, T0, NULL, NULL), -EINVAL, "count mismatch accepted");
	d.h[0].count = 3;
	d.h[0].half = 2;
	cr_assert_eq(add(s, &d, T0, NULL, NULL), -EINVAL, "half 2 accepted");
	d.h[0].half = 0;
	cr_assert_eq(add(s, &d, T0, NULL, NULL), 0);
	cr_assert_eq(store_total_samples(s), 3);
	wire_catalog_init(&c);
	cr_assert_eq(store_add_catalog(s, &c, T0), -EINVAL, "catalog without box");
	wire_delta_free(&d);
	store_close(s);
}

/* Values checked like inputs: times, plausibility, totals that would wrap. */
Test(store, hostile_values)
{
	struct store *s = store_new(0);
	struct store_box_info bi;
	struct wire_delta d;
	uint64_t refused[STORE_NREFUSALS];
	uint64_t now = T0 + 30 * NS, q = 0;

	wire_delta_init(&d);
	/* an honest first delta: the box exists */
	delta_begin(&d, "h", 1, ++q, now);
	delta_vals(&d, 0, 0, MS, 3, NULL);
	cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
	/* end before start, 1 ns, 2^64 - 1, a minute ahead, older than max_age */
	delta_begin(&d, "h", 1, ++q, now);
	delta_vals(&d, 0, 0, MS, 3, NULL);
	d.start_ns = now + NS;
	cr_assert_eq(add(s, &d, now, NULL, NULL), -ERANGE, "end < start accepted");
	cr_assert_eq(store_last_refusal(s), STORE_REFUSE_TIME);
	d.start_ns = 0;
	d.end_ns = 1;
	cr_assert_eq(add(s, &d, now, NULL, NULL), -ERANGE, "end 1 ns accepted");
	d.end_ns = UINT64_MAX;
	cr_assert_eq(add(s, &d, now, NULL, NULL), -ERANGE, "end 2^64-1 accepted");
	d.end_ns = now + 61 * NS;
	cr_assert_eq(add(s, &d, now, NULL, NULL), -ERANGE, "end 61 s ahead accepted");
	d.end_ns = now - 6 * 3600 * NS - NS;
	cr_assert_eq(add(s, &d, now, NULL, NULL), -ERANGE, "end 6 h + 1 s old accepted");
	/* 5 h old: a late replay, totals only */
	d.end_ns = now - 5 * 3600 * NS;
	cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
	cr_assert_eq(box_info(s, "h", now).late, 1);
	/* a sum no histogram of these counts can have */
	delta_begin(&d, "h", 1, ++q, now);
	delta_vals(&d, 0, 0, MS, 3, NULL);
	d.h[0].sum = UINT64_MAX;
	cr_assert_eq(add(s, &d, now, NULL, NULL), -EINVAL, "sum 2^64-1 of 3 x 1 ms accepted");
	d.h[0].sum = 2;
	cr_assert_eq(add(s, &d, now, NULL, NULL), -EINVAL, "sum below count * min accepted");
	/* 2^64 - 6 samples in one bucket, RTT 0 (sum 0 is consistent): implausible */
	delta_begin(&d, "h", 1, ++q, now);
	delta_vals(&d, 0, 0, 0, 1, NULL);
	d.h[0].count = d.b[0].n = UINT64_MAX - 5;
	cr_assert_eq(add(s, &d, now, NULL, NULL), -EINVAL, "2^64-6 samples accepted");
	/* plausible per entry (2^22 x 2^41 ns = 2^63), but three of them wrap */
	delta_begin(&d, "h", 1, ++q, now);
	{
		uint32_t k;

		for (k = 0; k < 3; k++) {
			struct hist h;

			hist_init(&h);
			hist_add_n(&h, 1ULL << 41, 1ULL << 22);
			delta_hist(&d, k, 0, &h);
		}
	}
	cr_assert_eq(add(s, &d, now, NULL, NULL), -EOVERFLOW, "a delta whose sums wrap accepted");
	cr_assert_eq(store_last_refusal(s), STORE_REFUSE_OVERFLOW);
	/* nothing of the refused ones counted; the box goes on */
	cr_assert_eq(store_total_samples(s), 6);
	delta_begin(&d, "h", 1, ++q, now);
	delta_vals(&d, 0, 0, MS, 4, NULL);
	cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
	cr_assert_eq(store_total_samples(s), 10);
	bi = box_info(s, "h", now);
	cr_assert_eq(bi.refused[STORE_REFUSE_TIME], 5);
	cr_assert_eq(bi.refused[STORE_REFUSE_MALFORMED], 3);
	cr_assert_eq(bi.refused[STORE_REFUSE_OVERFLOW], 1);
	store_refusals(s, refused);
	cr_assert_eq(refused[STORE_REFUSE_TIME], 5);
	cr_assert_str_eq(store_refusal_name(STORE_REFUSE_OVERFLOW), "overflow");
	wire_delta_free(&d);
	store_close(s);
}

/* The fleet's sums over the ring are given back as slots leave it. */
Test(store, overflow_bound_follows_the_ring)
{
	struct store *s = store_new(0);
	struct wire_delta d;
	struct hist h;
	uint64_t now = T0 + 5 * NS;

	wire_delta_init(&d);
	hist_init(&h);
	hist_add_n(&h, 1ULL << 41, 1ULL << 21);	/* sum 2^62 */
	delta_begin(&d, "r", 1, 1, now);
	delta_hist(&d, 0, 0, &h);
	cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
	delta_begin(&d, "r", 1, 2, now);
	delta_hist(&d, 0, 0, &h);
	cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
	delta_begin(&d, "r", 1, 3, now);
	delta_hist(&d, 0, 0, &h);
	cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
	delta_begin(&d, "r", 1, 4, now);
	delta_hist(&d, 0, 0, &h);
	cr_assert_eq(add(s, &d, now, NULL, NULL), -EOVERFLOW, "the 1 h window's sum would wrap");
	/* an hour later the first three left the ring: room again */
	now += 3600 * NS;
	delta_begin(&d, "r", 1, 4, now);
	delta_hist(&d, 0, 0, &h);
	cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
	cr_assert_eq(store_total_samples(s), 4ULL << 21);
	wire_delta_free(&d);
	store_close(s);
}

/* Customers no catalog names and with nothing left in any window are forgotten. */
Test(store, forgetting)
{
	static const struct cat_entry two[] = { { 0, "keep", "", "A" }, { 1, "gone", "", "A" } };
	static const struct cat_entry one[] = { { 0, "keep", "", "A" } };
	static const struct cat_entry fresh[] = { { 0, "keep", "", "A" }, { 2, "new", "", "A" } };
	struct store_opts o;
	struct store *s;
	struct store_cust_info ci;
	struct wire_delta d;
	uint64_t now = T0, forgotten;

	store_opts_default(&o);
	o.forget_ns = 2 * 3600 * NS;
	o.max_customers = 4;
	cr_assert_eq(store_open(&s, &o), 0);
	wire_delta_init(&d);
	catalog(s, "f", 1, 1, two, 2, now);
	delta_begin(&d, "f", 1, 1, now);
	delta_vals(&d, 1, 0, MS, 3, NULL);
	delta_vals(&d, 7, 0, MS, 2, NULL);	/* unnamed: "?f/7" */
	cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
	catalog(s, "f", 1, 2, one, 1, now + NS);	/* "gone" is no longer named */
	cr_assert_eq(store_ncustomers(s, NULL), 3);
	/* an hour later: not seen for less than forget_ns: kept */
	now += 3600 * NS;
	store_advance(s, now);
	cr_assert_eq(store_customer_info(s, "gone", &ci), 0);
	/* 2 h + a minute later: out of every window, unnamed for 2 h: forgotten */
	now += 3600 * NS + 61 * NS;
	delta_begin(&d, "f", 1, 2, now);
	delta_vals(&d, 0, 0, MS, 1, NULL);	/* "keep" is merged into: never forgotten */
	cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
	cr_assert_eq(store_customer_info(s, "gone", &ci), -ENOENT, "a customer no box names kept");
	cr_assert_eq(store_customer_info(s, "?f/7", &ci), -ENOENT, "an unnamed key kept");
	cr_assert_eq(store_customer_info(s, "keep", &ci), 0);
	cr_assert_eq(store_ncustomers(s, &forgotten), 1);
	cr_assert_eq(forgotten, 2);
	cr_assert_eq(box_info(s, "f", now).unnamed_keys, 0);
	/* their places are reused; the bound counts what is kept */
	catalog(s, "f", 1, 3, fresh, 2, now);
	delta_begin(&d, "f", 1, 3, now);
	delta_vals(&d, 2, 0, MS, 4, NULL);
	delta_vals(&d, 7, 0, MS, 5, NULL);	/* key 7 again: a new unnamed customer */
	delta_vals(&d, 8, 0, MS, 6, NULL);
	cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
	cr_assert_eq(store_ncustomers(s, NULL), 4);
	cr_assert_eq(cust_count(s, "new", STORE_W10S, now, 0), 4);
	cr_assert_eq(cust_count(s, "?f/7", STORE_W10S, now, 0), 5);
	cr_assert_eq(cust_count(s, "?f/8", STORE_W10S, now, 0), 6);
	{
		struct store_cust_info *all;
		size_t n;

		cr_assert_eq(store_customers(s, &all, &n), 0);
		cr_assert_eq(n, 4);
		cr_assert_str_eq(all[0].id, "?f/7");
		free(all);
	}
	wire_delta_free(&d);
	store_close(s);
}

/* Every bound of store_opts refuses whole messages, never grows past it. */
Test(store, bounds)
{
	static const struct cat_entry three[] = {
		{ 0, "c0", "", "A/x" }, { 1, "c1", "", "A/y" }, { 2, "c2", "", "B" } };
	static const struct cat_entry far[] = { { (1u << 22) - 1, "far", "", "" } };
	struct store_opts o;
	struct store *s;
	struct wire_catalog c;
	struct wire_delta d;
	uint64_t now = T0, refused[STORE_NREFUSALS];
	size_t mem;
	uint32_t k;

	store_opts_default(&o);
	o.max_customers = 6;
	o.max_boxes = 2;
	o.max_unnamed = 2;
	o.max_catalog = 3;
	o.max_sites = 4;
	cr_assert_eq(store_open(&s, &o), 0);
	wire_delta_init(&d);
	catalog(s, "b1", 1, 1, three, 3, now);		/* 3 customers, sites A A/x A/y B */
	/* a catalog of 4 entries is refused whole */
	wire_catalog_init(&c);
	snprintf(c.box, sizeof(c.box), "b1");
	c.epoch = 1;
	c.seq = 2;
	for (k = 0; k < 4; k++) {
		char id[8];

		snprintf(id, sizeof(id), "n%u", k);
		cr_assert_eq(wire_catalog_add(&c, k, id, "", ""), 0);
	}
	cr_assert_eq(store_add_catalog(s, &c, now), -ENOSPC);
	cr_assert_eq(store_customer_info(s, "n0", &(struct store_cust_info){ 0 }), -ENOENT);
	/* unnamed keys: 2 per box; a delta with 3 new keys is refused whole */
	delta_begin(&d, "b1", 1, 1, now);
	for (k = 10; k < 13; k++)
		delta_vals(&d, k, 0, MS, 1, NULL);
	cr_assert_eq(add(s, &d, now, NULL, NULL), -ENOSPC);
	cr_assert_eq(store_total_samples(s), 0);
	delta_begin(&d, "b1", 1, 1, now);
	delta_vals(&d, 0, 0, MS, 1, NULL);
	delta_vals(&d, 10, 0, MS, 1, NULL);
	delta_vals(&d, 10, 1, MS, 1, NULL);	/* one key, both halves: one new key */
	delta_vals(&d, 11, 0, MS, 1, NULL);
	cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
	cr_assert_eq(box_info(s, "b1", now).unnamed_keys, 2);
	/* boxes: a third is refused */
	delta_begin(&d, "b2", 1, 1, now);
	delta_vals(&d, 0, 0, MS, 1, NULL);
	cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
	delta_begin(&d, "b3", 1, 1, now);
	delta_vals(&d, 0, 0, MS, 1, NULL);
	cr_assert_eq(add(s, &d, now, NULL, NULL), -ENOSPC);
	cr_assert_eq(store_last_refusal(s), STORE_REFUSE_LIMIT);
	/* customers: 3 named + 2 unnamed of b1 + b2's first = 6: b2's next new key is refused */
	delta_begin(&d, "b2", 1, 2, now);
	delta_vals(&d, 1, 0, MS, 1, NULL);
	cr_assert_eq(add(s, &d, now, NULL, NULL), -ENOSPC);
	/* sites: a 5th path is not created */
	wire_catalog_free(&c);
	wire_catalog_init(&c);
	snprintf(c.box, sizeof(c.box), "b1");
	c.epoch = 1;
	c.seq = 3;
	cr_assert_eq(wire_catalog_add(&c, 0, "c0", "", "C"), 0);
	cr_assert_eq(store_add_catalog(s, &c, now), -ENOSPC);
	store_refusals(s, refused);
	cr_assert_eq(refused[STORE_REFUSE_LIMIT], 5);
	cr_assert_eq(store_total_samples(s), 5);
	wire_catalog_free(&c);
	wire_delta_free(&d);
	store_close(s);

	/* one key at 2^22 - 1 costs a hash entry, not a 16 MiB key map */
	s = store_new(0);
	catalog(s, "k", 1, 1, far, 1, now);
	delta_begin(&d, "k", 1, 1, now);
	delta_vals(&d, (1u << 22) - 1, 0, MS, 1, NULL);
	cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
	cr_assert_eq(cust_count(s, "far", STORE_W1M, now, 0), 1);
	mem = store_mem_bytes(s);
	cr_assert_lt(mem, 4u << 20, "store holds %zu bytes for one key", mem);
	wire_delta_free(&d);
	store_close(s);
}

/* ---- unnamed keys, liveness --------------------------------------------- */

Test(store, unnamed_keys_kept)
{
	static const struct cat_entry cat[] = { { 1, "named", "", "Here" } };
	struct store *s = store_new(0);
	struct hist h[PF_NHALVES];
	struct wire_delta d;

	wire_delta_init(&d);
	/* a delta before any catalog: every key is unnamed */
	delta_begin(&d, "u", 1, 1, T0 + 5 * NS);
	delta_vals(&d, 1, 0, 2 * MS, 4, NULL);
	delta_vals(&d, 1, 1, 9 * MS, 3, NULL);
	cr_assert_eq(add(s, &d, T0 + 5 * NS, NULL, NULL), 0);
	catalog(s, "u", 1, 1, cat, 1, T0 + 6 * NS);
	delta_begin(&d, "u", 1, 2, T0 + 7 * NS);
	delta_vals(&d, 1, 0, 2 * MS, 5, NULL);
	delta_vals(&d, 77, 0, 3 * MS, 6, NULL);
	cr_assert_eq(add(s, &d, T0 + 7 * NS, NULL, NULL), 0);

	cr_assert_eq(cust_count(s, "?u/1", STORE_W1M, T0 + 9 * NS, 0), 4);
	cr_assert_eq(cust_count(s, "?u/1", STORE_W1M, T0 + 9 * NS, 1), 3);
	cr_assert_eq(cust_count(s, "named", STORE_W1M, T0 + 9 * NS, 0), 5);
	cr_assert_eq(cust_count(s, "?u/77", STORE_W1M, T0 + 9 * NS, 0), 6);
	cr_assert_null(store_key_id(s, "u", 77));
	cr_assert_str_eq(store_key_id(s, "u", 1), "named");
	cr_assert_eq(box_info(s, "u", T0 + 9 * NS).unnamed, 3);
	/* unnamed customers count in the fleet, not in any site */
	cr_assert_eq(store_fleet(s, STORE_W1M, T0 + 9 * NS, h), 0);
	cr_assert_eq(h[0].count, 15);
	cr_assert_eq(store_site(s, "Here", STORE_W1M, T0 + 9 * NS, h), 0);
	cr_assert_eq(h[0].count, 5);
	cr_assert_eq(store_total_samples(s), 18);
	wire_delta_free(&d);
	store_close(s);
}

Test(store, late_catalogs_ignored)
{
	static const struct cat_entry v1[] = { { 1, "old", "", "Old" } };
	static const struct cat_entry v2[] = { { 1, "new", "New name", "New" } };
	static const struct cat_entry v3[] = { { 1, "newer", "", "" } };
	struct store *s = store_new(0);
	struct store_cust_info ci;

	catalog(s, "k", 5, 10, v2, 1, T0);
	catalog(s, "k", 5, 9, v1, 1, T0);	/* same epoch, lower seq: late */
	cr_assert_str_eq(store_key_id(s, "k", 1), "new");
	catalog(s, "k", 6, 0, v3, 1, T0);	/* a new epoch: in force */
	cr_assert_str_eq(store_key_id(s, "k", 1), "newer");
	catalog(s, "k", 5, 11, v1, 1, T0);	/* the epoch before: late */
	cr_assert_str_eq(store_key_id(s, "k", 1), "newer");
	cr_assert_eq(store_customer_info(s, "new", &ci), 0);
	cr_assert_str_eq(ci.name, "New name");
	cr_assert_str_eq(ci.site, "New");
	cr_assert_eq(ci.nboxes, 0);
	cr_assert_eq(store_customer_info(s, "old", &ci), -ENOENT);
	store_close(s);
}

Test(store, stale_boxes)
{
	static const struct cat_entry cat[] = { { 0, "c", "", "" } };
	struct store *s = store_new(3);
	struct store_box_info bi;
	struct wire_delta d;
	struct wire_stats st = { .epoch = 4, .seq = 1, .time_ns = T0, .n = 1 };

	wire_delta_init(&d);
	delta_begin(&d, "fast", 4, 1, T0 + 100 * NS);
	d.start_ns = d.end_ns - NS;	/* 1 s interval */
	cr_assert_eq(add(s, &d, T0 + 100 * NS, NULL, NULL), 0);
	catalog(s, "quiet", 1, 0, cat, 1, T0 + 100 * NS);

	bi = box_info(s, "fast", T0 + 103 * NS);
	cr_assert_eq(bi.interval_ns, NS);
	cr_assert_eq(bi.last_seen_ns, T0 + 100 * NS);
	cr_assert(!bi.stale, "stale after 3 s of a 1 s interval");
	cr_assert(box_info(s, "fast", T0 + 103 * NS + 1).stale);
	/* any message counts as a sign of life */
	snprintf(st.box, sizeof(st.box), "fast");
	snprintf(st.s[0].name, sizeof(st.s[0].name), "dp_samples");
	st.s[0].value = 42;
	cr_assert_eq(store_add_stats(s, &st, T0 + 104 * NS), 0);
	bi = box_info(s, "fast", T0 + 105 * NS);
	cr_assert(!bi.stale);
	cr_assert_eq(bi.stats.n, 1);
	cr_assert_eq(bi.stats.s[0].value, 42);
	/* no delta yet: the interval is taken as one slot (10 s) */
	cr_assert(!box_info(s, "quiet", T0 + 130 * NS).stale);
	cr_assert(box_info(s, "quiet", T0 + 131 * NS).stale);
	wire_delta_free(&d);
	store_close(s);
}

/* ---- top ---------------------------------------------------------------- */

Test(store, top_order_and_min_count)
{
	static const struct cat_entry cat[] = {
		{ 1, "c1", "", "S/A" }, { 2, "c2", "", "S/A" }, { 3, "c3", "", "S/B" },
		{ 4, "c4", "", "S/B" }, { 5, "c5", "", "T" },
	};
	struct store *s = store_new(0);
	struct store_top top[8];
	struct wire_delta d;
	uint32_t k;
	int n;

	wire_delta_init(&d);
	catalog(s, "t", 1, 0, cat, 5, T0);
	delta_begin(&d, "t", 1, 1, T0 + 30 * NS);
	/* customer k: 10 k samples at k * 10 ms (access), one at 1 s (internet) */
	for (k = 1; k <= 5; k++) {
		delta_vals(&d, k, PF_HALF_ACCESS, k * 10 * MS, 10 * k, NULL);
		delta_vals(&d, k, PF_HALF_INTERNET, NS, 1, NULL);
	}
	cr_assert_eq(add(s, &d, T0 + 30 * NS, NULL, NULL), 0);

	n = store_top(s, STORE_CUSTOMER, PF_HALF_ACCESS, 0.99, STORE_W5M, T0 + 40 * NS, 1, top, 3);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(top[0].name, "c5");
	cr_assert_str_eq(top[1].name, "c4");
	cr_assert_str_eq(top[2].name, "c3");
	cr_assert_eq(top[0].count, 50);
	cr_assert_float_eq(top[0].value_ns, 50e6, 1, "p99 of c5: %g", top[0].value_ns);
	/* min_count leaves out customers with fewer samples */
	n = store_top(s, STORE_CUSTOMER, PF_HALF_ACCESS, 0.5, STORE_W5M, T0 + 40 * NS, 35, top, 8);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(top[0].name, "c5");
	cr_assert_str_eq(top[1].name, "c4");
	n = store_top(s, STORE_CUSTOMER, PF_HALF_ACCESS, 0.5, STORE_W5M, T0 + 40 * NS, 51, top, 8);
	cr_assert_eq(n, 0);
	/* all equal on the internet half: more samples first, then by name */
	n = store_top(s, STORE_CUSTOMER, PF_HALF_INTERNET, 0.5, STORE_W5M, T0 + 40 * NS, 0, top, 8);
	cr_assert_eq(n, 5);
	cr_assert_str_eq(top[0].name, "c1");
	cr_assert_str_eq(top[4].name, "c5");
	/* sites: T (50 ms), S/B (30-40 ms), S (10-40 ms), S/A (10-20 ms) */
	n = store_top(s, STORE_SITE, PF_HALF_ACCESS, 0.99, STORE_W5M, T0 + 40 * NS, 0, top, 8);
	cr_assert_eq(n, 4);
	cr_assert_str_eq(top[0].name, "T");
	cr_assert_str_eq(top[1].name, "S/B");
	cr_assert_str_eq(top[2].name, "S");
	cr_assert_str_eq(top[3].name, "S/A");
	cr_assert_eq(top[2].count, 100);
	/* windows apply: nothing in the 10 s window a minute later */
	n = store_top(s, STORE_SITE, PF_HALF_ACCESS, 0.99, STORE_W10S, T0 + 90 * NS, 0, top, 8);
	cr_assert_eq(n, 0);
	cr_assert_eq(store_top(s, STORE_SITE, PF_HALF_ACCESS, 1.5, STORE_W10S, T0, 0, top, 8),
		     -EINVAL);
	wire_delta_free(&d);
	store_close(s);
}

/* ---- exactness ---------------------------------------------------------- */

Test(store, counts_beyond_32_bits)
{
	static const struct cat_entry cat[] = { { 0, "big", "", "" } };
	struct store *s = store_new(0);
	struct hist h[PF_NHALVES], ref;
	struct wire_delta d;

	wire_delta_init(&d);
	hist_init(&ref);
	catalog(s, "w", 1, 0, cat, 1, T0);
	/* same slot: 3e9 + 3e9 in one bucket outgrows 32 bits, then a new bucket */
	delta_begin(&d, "w", 1, 1, T0 + 1 * NS);
	delta_vals(&d, 0, 0, 5 * MS, 3000000000ULL, &ref);
	cr_assert_eq(add(s, &d, T0 + 1 * NS, NULL, NULL), 0);
	delta_begin(&d, "w", 1, 2, T0 + 2 * NS);
	delta_vals(&d, 0, 0, 5 * MS, 3000000000ULL, &ref);
	cr_assert_eq(add(s, &d, T0 + 2 * NS, NULL, NULL), 0);
	delta_begin(&d, "w", 1, 3, T0 + 3 * NS);
	delta_vals(&d, 0, 0, 7 * MS, 5000000000ULL, &ref);
	cr_assert_eq(add(s, &d, T0 + 3 * NS, NULL, NULL), 0);
	cr_assert_eq(store_customer(s, "big", STORE_W10S, T0 + 5 * NS, h), 0);
	check_equal(&h[0], &ref, "64-bit counts");
	cr_assert_eq(store_total_samples(s), 11000000000ULL);
	wire_delta_free(&d);
	store_close(s);
}

/*
 * A randomised run against a model that keeps every customer-half
 * histogram merged, with its slot, and sums them by brute force: deltas
 * from 3 boxes at times moving forward over 2.5 h, some replayed into
 * older slots (closed slots, minutes and five minutes), with bucket sets
 * that grow and shrink; at checkpoints (every 200 deltas and right after
 * every minute boundary, where periods close, fold and expire), every
 * customer, site, box and the fleet over every window: counts, sums,
 * buckets, min and max.
 */
enum { M_BOXES = 3, M_CUSTS = 14, M_KEYS = 16, M_EVENTS = 40000 };

struct m_event {
	uint32_t cust;		/* index in m_ids; M_CUSTS + box * M_KEYS + key if unnamed */
	uint8_t half, box;
	uint64_t slot;
	uint64_t cur_at;	/* the store's newest slot when it was merged */
	struct hist h;
};

static const char *const m_ids[M_CUSTS] = { "a", "b", "c", "d", "e", "f", "g",
					    "h", "i", "j", "k", "l", "m", "n" };
static const char *const m_sites[M_CUSTS] = { "R1", "R1/T1", "R1/T1/AP1", "R1/T1/AP1",
					      "R1/T1/AP2", "R1/T2", "R2", "R2/T3", "R2/T3",
					      "", "R1/T1/AP2", "R2", "R1", "R2/T4/AP9" };
static const char *const m_boxes[M_BOXES] = { "m0", "m1", "m2" };
static struct m_event *m_ev;
static size_t m_nev;
static uint64_t m_cur;		/* the model's newest slot */

/* Model window sum for a predicate on events. */
static void m_sum(struct hist out[PF_NHALVES], enum store_window w, uint64_t now,
		  bool (*pick)(const struct m_event *, const void *), const void *arg)
{
	/* periods of 1, 6 or 30 slots; 1, 6, 5, 3 and 12 of them */
	static const uint32_t len[] = { 1, 1, 6, 30, 30 }, nwin[] = { 1, 6, 5, 3, 12 };
	uint64_t hi = m_cur, lo = (m_cur / len[w] + 1 - nwin[w]) * len[w];
	size_t i;

	(void)now;
	hist_pair_init(out);
	for (i = 0; i < m_nev; i++) {
		const struct m_event *e = &m_ev[i];

		if (e->slot >= lo && e->slot <= hi && pick(e, arg))
			hist_merge(&out[e->half], &e->h);
	}
}

static bool pick_cust(const struct m_event *e, const void *arg)
{
	return e->cust == *(const uint32_t *)arg;
}

static bool pick_box(const struct m_event *e, const void *arg)
{
	return e->box == *(const uint32_t *)arg;
}

static bool pick_all(const struct m_event *e, const void *arg)
{
	(void)e;
	(void)arg;
	return true;
}

static bool pick_site(const struct m_event *e, const void *arg)
{
	const char *site = arg, *cs;
	size_t len = strlen(site);

	if (e->cust >= M_CUSTS)
		return false;
	cs = m_sites[e->cust];
	return !strcmp(cs, site) || (!strncmp(cs, site, len) && cs[len] == '/');
}

static void m_check(struct store *s, uint64_t now)
{
	struct hist got[PF_NHALVES], want[PF_NHALVES];
	char what[128], id[32];
	uint32_t w, c, b;

	if (now / (10 * NS) > m_cur)
		m_cur = now / (10 * NS);
	for (w = 0; w < STORE_NWINDOWS; w++) {
		for (c = 0; c < M_CUSTS + M_BOXES * M_KEYS; c++) {
			if (c < M_CUSTS)
				snprintf(id, sizeof(id), "%s", m_ids[c]);
			else
				snprintf(id, sizeof(id), "?%s/%u", m_boxes[(c - M_CUSTS) / M_KEYS],
					 (c - M_CUSTS) % M_KEYS);
			m_sum(want, w, now, pick_cust, &c);
			if (store_customer(s, id, w, now, got) == -ENOENT) {
				CHECK(!want[0].count && !want[1].count, "customer %s missing", id);
				continue;
			}
			snprintf(what, sizeof(what), "customer %s, window %u, access", id, w);
			check_equal(&got[0], &want[0], what);
			snprintf(what, sizeof(what), "customer %s, window %u, internet", id, w);
			check_equal(&got[1], &want[1], what);
		}
		for (c = 0; c < M_CUSTS; c++) {
			if (!m_sites[c][0])
				continue;
			m_sum(want, w, now, pick_site, m_sites[c]);
			cr_assert_eq(store_site(s, m_sites[c], w, now, got), 0);
			snprintf(what, sizeof(what), "site %s, window %u", m_sites[c], w);
			check_equal(&got[0], &want[0], what);
			check_equal(&got[1], &want[1], what);
		}
		for (b = 0; b < M_BOXES; b++) {
			m_sum(want, w, now, pick_box, &b);
			cr_assert_eq(store_box(s, m_boxes[b], w, now, got), 0);
			snprintf(what, sizeof(what), "box %s, window %u", m_boxes[b], w);
			check_equal(&got[0], &want[0], what);
			check_equal(&got[1], &want[1], what);
		}
		m_sum(want, w, now, pick_all, NULL);
		cr_assert_eq(store_fleet(s, w, now, got), 0);
		snprintf(what, sizeof(what), "fleet, window %u", w);
		check_equal(&got[0], &want[0], what);
		check_equal(&got[1], &want[1], what);
	}
}

/* ---- points for history, against the same model ----------------------- */

struct m_point {
	uint8_t kind, half;
	uint32_t res_s;
	uint64_t start_s;
	char name[64];
	struct hist h;
	size_t order;		/* a point given again replaces the one before */
};
static struct m_point *m_pts;
static size_t m_npts, m_cap_pts;
static struct store_points m_front;	/* the last batch's frontier and boxes */
static struct store_boxseq m_front_boxes[8];

static void m_on_points(void *arg, struct store_points *pts)
{
	size_t i;

	(void)arg;
	for (i = 0; i < pts->n; i++) {
		const struct store_point *p = &pts->p[i];
		struct m_point *q;

		if (m_npts == m_cap_pts) {
			m_cap_pts = m_cap_pts ? 2 * m_cap_pts : 4096;
			m_pts = realloc(m_pts, m_cap_pts * sizeof(*m_pts));
			cr_assert(m_pts);
		}
		q = &m_pts[m_npts];
		q->kind = p->kind;
		q->half = p->half;
		q->res_s = p->res_s;
		q->start_s = p->start_s;
		snprintf(q->name, sizeof(q->name), "%s", pts->buf + p->name);
		hist_init(&q->h);
		cr_assert_eq(hblob_add(&q->h, pts->buf + p->blob, p->len), 0);
		q->order = m_npts++;
	}
	m_front.cust_s = pts->cust_s;
	m_front.roll_s = pts->roll_s;
	m_front.nboxes = pts->nboxes < 8 ? pts->nboxes : 8;
	memcpy(m_front_boxes, pts->boxes, m_front.nboxes * sizeof(*m_front_boxes));
	store_points_free(pts);
}

static int m_point_cmp(const void *a, const void *b)
{
	const struct m_point *x = a, *y = b;
	int c = x->kind - y->kind ?: strcmp(x->name, y->name) ?: x->half - y->half;

	if (c)
		return c;
	if (x->start_s != y->start_s)
		return x->start_s < y->start_s ? -1 : 1;
	return x->order < y->order ? -1 : 1;
}

/* The event counts in the point of its period: that was kept when it came. */
static bool m_in_point(const struct m_event *e, uint32_t slots)
{
	return e->slot / slots + (slots == 30 ? 12 : 5) >= e->cur_at / slots;
}

/* Every point given (the last of each) equals the model's sum of its period. */
static void m_check_points(void)
{
	struct hist want[PF_NHALVES];
	char what[160];
	size_t i, j, k, npts = 0;

	qsort(m_pts, m_npts, sizeof(*m_pts), m_point_cmp);
	for (i = 0; i < m_npts; i = j) {
		const struct m_point *p;
		uint32_t slots, c, b;

		for (j = i + 1; j < m_npts && !m_point_cmp(&m_pts[i], &m_pts[j]) == 0 &&
		     m_pts[j].kind == m_pts[i].kind && !strcmp(m_pts[j].name, m_pts[i].name) &&
		     m_pts[j].half == m_pts[i].half && m_pts[j].start_s == m_pts[i].start_s; j++)
			;
		p = &m_pts[j - 1];	/* the last given */
		slots = p->res_s / 10;
		CHECK(p->res_s == (p->kind == STORE_E_CUSTOMER ? 300u : 60u), "point res %u", p->res_s);
		hist_pair_init(want);
		for (k = 0; k < m_nev; k++) {
			const struct m_event *e = &m_ev[k];
			bool in = false;

			if (e->slot * 10 / p->res_s != p->start_s / p->res_s || e->half != p->half ||
			    !m_in_point(e, slots))
				continue;
			if (p->kind == STORE_E_FLEET) {
				in = true;
			} else if (p->kind == STORE_E_BOX) {
				for (b = 0; b < M_BOXES; b++)
					in |= e->box == b && !strcmp(p->name, m_boxes[b]);
			} else if (p->kind == STORE_E_SITE) {
				in = pick_site(e, p->name);
			} else {
				c = e->cust;
				in = c < M_CUSTS ? !strcmp(p->name, m_ids[c]) : false;
				if (c >= M_CUSTS) {
					char id[32];

					snprintf(id, sizeof(id), "?%s/%u", m_boxes[(c - M_CUSTS) / M_KEYS],
						 (c - M_CUSTS) % M_KEYS);
					in = !strcmp(p->name, id);
				}
			}
			if (in)
				hist_merge(&want[e->half], &e->h);
		}
		snprintf(what, sizeof(what), "point kind %u '%s' half %u at %llu", p->kind, p->name,
			 p->half, (unsigned long long)p->start_s);
		check_equal(&p->h, &want[p->half], what);
		npts++;
	}
	cr_assert_geq(npts, 1000, "only %zu points", npts);
}

Test(store, randomised_against_model, .timeout = 120)
{
	struct store_opts o;
	struct store *s;
	struct wire_delta d;
	uint64_t now = T0, seq[M_BOXES] = { 0 }, total = 0, checks = 0, ndeltas = 0;
	uint64_t last_min = T0 / (60 * NS);
	uint32_t b, k, c, keycust[M_BOXES][M_KEYS];

	store_opts_default(&o);
	o.on_points = m_on_points;
	cr_assert_eq(store_open(&s, &o), 0);
	m_ev = calloc(M_EVENTS, sizeof(*m_ev));
	m_nev = 0;
	m_cur = 0;
	wire_delta_init(&d);
	/* each box names 12 of its 16 keys; a customer may be on several boxes */
	for (b = 0; b < M_BOXES; b++) {
		struct cat_entry e[M_KEYS];
		size_t n = 0;

		for (k = 0; k < M_KEYS; k++) {
			keycust[b][k] = k < 12 ? (uint32_t)((k * 5 + b * 3) % M_CUSTS) : UINT32_MAX;
			for (c = 0; c < n; c++)	/* one key per customer per box */
				if (!strcmp(e[c].id, m_ids[keycust[b][k] % M_CUSTS]))
					keycust[b][k] = UINT32_MAX;
			if (keycust[b][k] == UINT32_MAX) {
				keycust[b][k] = M_CUSTS + b * M_KEYS + k;
				continue;
			}
			e[n++] = (struct cat_entry){ k, m_ids[keycust[b][k]], "", m_sites[keycust[b][k]] };
		}
		catalog(s, m_boxes[b], 1, 0, e, n, now);
	}
	while (m_nev + 2 * M_KEYS < M_EVENTS) {
		uint64_t end, a;

		b = (uint32_t)(rnd() % M_BOXES);
		now += rnd() % (8 * NS);
		end = now - rnd() % (2 * NS);
		if (rnd() % 16 == 0)		/* a replay into an older slot */
			end = now - rnd() % (600 * NS);
		if (rnd() % 64 == 0)		/* a box clock ahead */
			end = now + rnd() % (30 * NS);
		if (rnd() % 200 == 0)		/* older than the ring */
			end = now - 3700 * NS;
		delta_begin(&d, m_boxes[b], 1, ++seq[b], end);
		if (now / (10 * NS) > m_cur)
			m_cur = now / (10 * NS);
		a = end / (10 * NS) < m_cur ? end / (10 * NS) : m_cur;
		for (k = 0; k < M_KEYS; k++) {
			uint32_t half;

			if (rnd() % 3 == 0)
				continue;
			for (half = 0; half < PF_NHALVES; half++) {
				struct m_event *e = &m_ev[m_nev];
				uint64_t base = (1 + keycust[b][k] % 7) * MS * (half ? 8 : 1);
				uint32_t i, n = 1 + (uint32_t)(rnd() % 30);

				if (rnd() % 4 == 0)
					continue;
				hist_init(&e->h);
				for (i = 0; i < n; i++)	/* 1-3 octaves around base */
					hist_add(&e->h, (uint64_t)((double)base *
								   exp2(rndf() * (1 + rnd() % 3))));
				if (rnd() % 500 == 0)	/* now and then, a count > 2^32 */
					hist_add_n(&e->h, base, 5000000000ULL);
				delta_hist(&d, k, (int)half, &e->h);
				e->cust = keycust[b][k];
				e->half = (uint8_t)half;
				e->box = (uint8_t)b;
				e->slot = a;
				e->cur_at = m_cur;
				total += e->h.count;
				if (a / 30 + 11 >= m_cur / 30)
					m_nev++;	/* too old: in the totals only */
			}
		}
		cr_assert_eq(add(s, &d, now, NULL, NULL), 0);
		/* every 200 deltas, and right after each minute boundary: periods
		 * close, fold and leave their windows there */
		if (++ndeltas % 200 == 0 || now / (60 * NS) != last_min) {
			m_check(s, now);
			checks++;
		}
		last_min = now / (60 * NS);
	}
	m_check(s, now);
	m_check(s, now + 1800 * NS);	/* half of it aged out */
	store_advance(s, now + 7200 * NS);	/* every period closed, every point given */
	m_check_points();
	free(m_pts);
	m_pts = NULL;
	m_npts = m_cap_pts = 0;
	cr_assert_eq(store_total_samples(s), total);
	cr_assert_geq(checks, 150);
	cr_assert_geq(now - T0, 2 * 3600 * NS, "the run did not cover the ring");
	wire_delta_free(&d);
	free(m_ev);
	store_close(s);
}

/* ---- restart from history points ----------------------------------------- */

/*
 * A restart: store A runs 50 minutes of deltas from two boxes (some
 * replayed up to 4 minutes late), giving its points as it goes (the
 * history). Store B starts at T from those points (store_restore_point)
 * and gets every delta of the boxes' rings replayed (all of them: B must
 * itself leave out what the history holds), then both get 10 more
 * minutes. B's 1 h window of every customer, site, box and the fleet
 * equals A's, and so do its totals of the last 5 minutes.
 */
struct r_msg {
	char *buf;
	size_t len;
};

static void r_send(struct store *s, const struct r_msg *m, uint64_t now)
{
	struct wire_delta d;
	const char *why;
	uint64_t gf, gl;

	wire_delta_init(&d);
	cr_assert_eq(wire_decode_delta(m->buf, m->len, &d, &why), 0);
	cr_assert_geq(store_add_delta(s, &d, now, &gf, &gl), 0);
	wire_delta_free(&d);
}

static void r_compare(struct store *a, struct store *b, enum store_window w, uint64_t now)
{
	static const char *const sites[] = { "R1", "R1/T1", "R1/T1/AP1", "R2", "R2/T3" };
	struct hist ha[PF_NHALVES], hb[PF_NHALVES];
	char what[96], id[16];
	unsigned i, h;

	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "r%u", i);
		cr_assert_eq(store_customer(a, id, w, now, ha), 0);
		cr_assert_eq(store_customer(b, id, w, now, hb), 0, "%s", id);
		for (h = 0; h < PF_NHALVES; h++) {
			snprintf(what, sizeof(what), "customer %s half %u window %s", id, h,
				 store_window_name(w));
			check_equal(&hb[h], &ha[h], what);
		}
	}
	for (i = 0; i < 5; i++) {
		cr_assert_eq(store_site(a, sites[i], w, now, ha), 0);
		cr_assert_eq(store_site(b, sites[i], w, now, hb), 0);
		for (h = 0; h < PF_NHALVES; h++) {
			snprintf(what, sizeof(what), "site %s half %u window %s", sites[i], h,
				 store_window_name(w));
			check_equal(&hb[h], &ha[h], what);
		}
	}
	for (i = 0; i < 2; i++) {
		snprintf(id, sizeof(id), "rb%u", i);
		cr_assert_eq(store_box(a, id, w, now, ha), 0);
		cr_assert_eq(store_box(b, id, w, now, hb), 0);
		snprintf(what, sizeof(what), "box %s window %s", id, store_window_name(w));
		check_equal(&hb[0], &ha[0], what);
		check_equal(&hb[1], &ha[1], what);
	}
	cr_assert_eq(store_fleet(a, w, now, ha), 0);
	cr_assert_eq(store_fleet(b, w, now, hb), 0);
	check_equal(&hb[0], &ha[0], "fleet access");
	check_equal(&hb[1], &ha[1], "fleet internet");
	cr_assert_gt(ha[0].count, 0, "a weak test");
}

Test(store, restart_from_history_points, .timeout = 60)
{
	static const char *const sites[] = { "R1", "R1/T1", "R1/T1/AP1", "R2", "R2/T3", "" };
	struct store_opts o;
	struct store *a, *b;
	struct r_msg *ring = calloc(4000, sizeof(*ring));
	struct wire_delta d;
	uint64_t now = T0 + 7 * NS, seq[2] = { 0 }, T, restored = 0;
	size_t nring = 0, i, j;
	uint32_t bx, k;
	int phase;

	store_opts_default(&o);
	o.on_points = m_on_points;
	cr_assert_eq(store_open(&a, &o), 0);
	store_opts_default(&o);
	cr_assert_eq(store_open(&b, &o), 0);
	m_pts = NULL;
	m_npts = m_cap_pts = 0;
	wire_delta_init(&d);
	for (bx = 0; bx < 2; bx++) {	/* 6 customers each, 2 on both boxes */
		struct cat_entry e[6];
		static char ids[2][6][8], box[2][8];

		snprintf(box[bx], sizeof(box[bx]), "rb%u", bx);
		for (k = 0; k < 6; k++) {
			snprintf(ids[bx][k], sizeof(ids[bx][k]), "r%u", k < 2 ? k : bx * 4 + k);
			e[k] = (struct cat_entry){ k, ids[bx][k], "", sites[(bx * 6 + k) % 6] };
		}
		catalog(a, box[bx], 1, 0, e, 6, now);
		catalog(b, box[bx], 1, 0, e, 6, now);
	}
	for (phase = 0; phase < 2; phase++) {
		uint64_t end_at = phase ? T + 600 * NS : T0 + 3000 * NS;

		while (now < end_at) {
			uint64_t end;
			char name[8];

			now += (1 + rnd() % 4) * NS;
			bx = (uint32_t)(rnd() % 2);
			end = now - rnd() % NS;
			if (rnd() % 10 == 0)		/* a replay, up to 4 minutes late */
				end = now - rnd() % (240 * NS);
			snprintf(name, sizeof(name), "rb%u", bx);
			delta_begin(&d, name, 1, ++seq[bx], end);
			for (k = 0; k < 6; k++) {
				struct hist h;
				unsigned n = 1 + (unsigned)(rnd() % 20), x;

				if (rnd() % 3 == 0)
					continue;
				hist_init(&h);
				for (x = 0; x < n; x++)
					hist_add(&h, (1 + k) * MS + rnd() % (5 * MS));
				delta_hist(&d, k, (int)(rnd() % 2), &h);
			}
			cr_assert_lt(nring, 4000);
			cr_assert_eq(wire_encode_delta(&d, &ring[nring].buf, &ring[nring].len), 0);
			r_send(a, &ring[nring], now);
			if (phase)
				r_send(b, &ring[nring], now);
			nring++;
		}
		if (phase)
			break;
		/* the restart, just after a slot closed (every point given) */
		T = (now / (10 * NS) + 1) * 10 * NS + 2 * NS;
		store_advance(a, T);
		for (i = 0; i < m_npts; i++) {	/* the last given of each point */
			uint8_t blob[HBLOB_MAX];
			const struct m_point *p = &m_pts[i];
			size_t len;

			for (j = i + 1; j < m_npts; j++)
				if (m_pts[j].kind == p->kind && !strcmp(m_pts[j].name, p->name) &&
				    m_pts[j].half == p->half && m_pts[j].start_s == p->start_s)
					break;
			if (j < m_npts)
				continue;
			len = hblob_encode(blob, &p->h);
			restored += store_restore_point(b, p->kind, p->name, p->half, p->res_s,
							p->start_s, blob, len, T) == 0;
		}
		cr_assert_gt(restored, 100, "only %llu points restored",
			     (unsigned long long)restored);
		cr_assert_eq(m_front.nboxes, 2);
		store_restore_frontier(b, m_front.cust_s, m_front.roll_s, m_front_boxes,
				       m_front.nboxes);
		/* every delta of the boxes' rings, replayed */
		for (i = 0; i < nring; i++)
			r_send(b, &ring[i], T);
		now = T;
		r_compare(a, b, STORE_W1H, now);
	}
	r_compare(a, b, STORE_W1H, now);
	r_compare(a, b, STORE_W5M, now);	/* 10 minutes on: the replays are out of it */
	r_compare(a, b, STORE_W1M, now);
	for (i = 0; i < nring; i++)
		free(ring[i].buf);
	free(ring);
	free(m_pts);
	m_pts = NULL;
	m_npts = m_cap_pts = 0;
	wire_delta_free(&d);
	store_close(a);
	store_close(b);
}

/* Expected-high-latency customers: own numbers kept, out of rollups and tops. */
Test(store, excluded_customers)
{
	static const struct cat_entry cat[] = { { 1, "sat1", "Satellite", "S" },
						 { 2, "c2", "", "S/AP" }, { 3, "c3", "", "" } };
	static const char *const ex[] = { "sat1", "nobody-yet" };
	struct store *s = store_new(0);
	struct store_cust_info ci;
	struct hist h[PF_NHALVES];
	struct store_top top[4];
	struct wire_delta d;
	int n;

	wire_delta_init(&d);
	catalog(s, "b", 1, 0, cat, 3, T0);
	cr_assert_eq(store_set_excluded(s, ex, 2), 1);
	delta_begin(&d, "b", 1, 1, T0 + 5 * NS);
	delta_vals(&d, 1, 0, 600 * MS, 7, NULL);
	delta_vals(&d, 2, 0, 20 * MS, 5, NULL);
	delta_vals(&d, 3, 0, 30 * MS, 3, NULL);
	cr_assert_eq(add(s, &d, T0 + 5 * NS, NULL, NULL), 0);
	cr_assert_eq(cust_count(s, "sat1", STORE_W1M, T0 + 5 * NS, 0), 7, "its own numbers");
	cr_assert_eq(store_site(s, "S", STORE_W1M, T0 + 5 * NS, h), 0);
	cr_assert_eq(h[0].count, 5, "the site without it");
	cr_assert_eq(store_fleet(s, STORE_W1M, T0 + 5 * NS, h), 0);
	cr_assert_eq(h[0].count, 8, "the fleet without it");
	cr_assert_eq(store_box(s, "b", STORE_W1M, T0 + 5 * NS, h), 0);
	cr_assert_eq(h[0].count, 8, "the box without it");
	n = store_top(s, STORE_CUSTOMER, PF_HALF_ACCESS, 0.95, STORE_W1M, T0 + 5 * NS, 1, top, 4);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(top[0].name, "c3");
	cr_assert_eq(store_customer_info(s, "sat1", &ci), 0);
	cr_assert(ci.excluded);
	cr_assert_eq(store_total_samples(s), 15, "counted in the totals");
	/* taken off the list: what comes next is in the rollups again */
	cr_assert_eq(store_set_excluded(s, NULL, 0), 1);
	delta_begin(&d, "b", 1, 2, T0 + 6 * NS);
	delta_vals(&d, 1, 0, 600 * MS, 2, NULL);
	cr_assert_eq(add(s, &d, T0 + 6 * NS, NULL, NULL), 0);
	cr_assert_eq(store_site(s, "S", STORE_W1M, T0 + 6 * NS, h), 0);
	cr_assert_eq(h[0].count, 7);
	n = store_top(s, STORE_CUSTOMER, PF_HALF_ACCESS, 0.95, STORE_W1M, T0 + 6 * NS, 1, top, 4);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(top[0].name, "sat1");
	/* a customer first seen after the list was set is excluded too */
	cr_assert_eq(store_set_excluded(s, ex + 1, 1), 0);
	catalog(s, "b", 1, 1, (const struct cat_entry[]){ { 4, "nobody-yet", "", "S" } }, 1,
		T0 + 6 * NS);
	cr_assert_eq(store_customer_info(s, "nobody-yet", &ci), 0);
	cr_assert(ci.excluded);
	wire_delta_free(&d);
	store_close(s);
}
