/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * A synthetic fleet for the aggregator's benchmarks: catalogs of BOXES x
 * CUSTOMERS customers (sites three levels deep) and deltas of every
 * customer-half, encoded with the wire codec.
 */
#ifndef PINGFOLD_BENCH_SYNTH_H
#define PINGFOLD_BENCH_SYNTH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "aggregator/store.h"
#include "tests/lib/rng.h"

#define SYN_NS		1000000000ULL

struct syn_msg {
	char *buf;
	size_t len;
};

static inline double syn_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A customer-half's interval: 6-10 buckets from near its base RTT (access
 * 1-40 ms, internet 8-160 ms), mostly adjacent, small counts.
 */
static inline void syn_hist(struct hist_sparse *h, uint32_t cust, unsigned half)
{
	uint64_t base = half == PF_HALF_ACCESS ? 1000000 + (uint64_t)cust * 7919 % 39000000 :
						 8000000 + (uint64_t)cust * 104729 % 152000000;
	uint32_t slot = hist_slot(base) - 2 + (uint32_t)(rnd() % 3);
	unsigned nb = 6 + (unsigned)(rnd() % 5), k;

	hist_sparse_init(h);
	for (k = 0; k < nb; k++) {
		h->idx[k] = (uint16_t)slot;
		h->cnt[k] = 1 + rnd() % (k < nb / 2 ? 40 : 8);
		h->count += h->cnt[k];
		h->sum += h->cnt[k] * hist_slot_lo(slot);
		slot += 1 + (rnd() % 4 == 0);
	}
	h->n = nb;
	h->min = hist_slot_lo(h->idx[0]);
	h->max = hist_slot_hi(h->idx[nb - 1]);
}

/* Box b's customers "cB-K" at "Region B%10/Tower B/AP K%20". */
static inline int syn_catalogs(struct store *s, long boxes, long custs, uint64_t now_ns)
{
	struct wire_catalog c;
	char id[64], name[128], site[256];
	long b, k;
	int err = 0;

	wire_catalog_init(&c);
	for (b = 0; b < boxes && !err; b++) {
		free(c.c);
		wire_catalog_init(&c);
		snprintf(c.box, sizeof(c.box), "box-%ld", b);
		c.epoch = 1;
		for (k = 0; k < custs && !err; k++) {
			snprintf(id, sizeof(id), "c%ld-%ld", b, k);
			snprintf(name, sizeof(name), "Customer %ld of box %ld", k, b);
			snprintf(site, sizeof(site), "Region %ld/Tower %ld/AP %ld", b % 10, b,
				 k % 20);
			err = wire_catalog_add(&c, (uint32_t)k, id, name, site);
		}
		err = err ?: store_add_catalog(s, &c, now_ns);
	}
	wire_catalog_free(&c);
	return err;
}

/*
 * One delta per box, a new draw of every customer-half, encoded (seq and
 * times are set when merged). *bytes: their size.
 */
static inline int syn_encode_draw(struct syn_msg *m, long boxes, long custs, uint64_t end_ns,
				  size_t *bytes)
{
	struct hist_sparse *h = malloc(sizeof(*h));
	struct wire_delta d;
	long b, k;
	int err = 0;

	if (!h)
		return -ENOMEM;
	wire_delta_init(&d);
	*bytes = 0;
	for (b = 0; b < boxes && !err; b++) {
		wire_delta_reset(&d);
		snprintf(d.box, sizeof(d.box), "box-%ld", b);
		d.epoch = 1;
		d.seq = 1;
		d.start_ns = end_ns - 10 * SYN_NS;
		d.end_ns = end_ns;
		for (k = 0; k < custs && !err; k++) {
			syn_hist(h, (uint32_t)(b * custs + k), PF_HALF_ACCESS);
			err = wire_delta_add(&d, (uint32_t)k, PF_HALF_ACCESS, h);
			syn_hist(h, (uint32_t)(b * custs + k), PF_HALF_INTERNET);
			err = err ?: wire_delta_add(&d, (uint32_t)k, PF_HALF_INTERNET, h);
		}
		err = err ?: wire_encode_delta(&d, &m[b].buf, &m[b].len);
		*bytes += m[b].len;
	}
	wire_delta_free(&d);
	free(h);
	return err;
}

/* argv[i] as a positive number, or def when absent; exits 2 on a bad one. */
static inline long syn_arg(const char *prog, int argc, char **argv, int i, long def)
{
	char *end;
	long v;

	if (argc <= i)
		return def;
	errno = 0;
	v = strtol(argv[i], &end, 10);
	if (errno || *end || v <= 0) {
		fprintf(stderr, "%s: bad number '%s'\n", prog, argv[i]);
		exit(2);
	}
	return v;
}

static inline int syn_dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v; its median. */
static inline double syn_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), syn_dbl_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif /* PINGFOLD_BENCH_SYNTH_H */
