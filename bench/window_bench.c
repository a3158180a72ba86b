// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The aggregator's windows at full length: BOXES x CUSTOMERS customers,
 * both halves active in every 10 s slot (one delta per box per slot:
 * agents at 10 s, the most closing per delta), for 65 minutes of slots
 * merged one after the other, so that every window is full and periods
 * have been closing, folding and leaving them for 5 minutes. Then:
 *   - memory of the store per customer-half (all windows, sites, boxes);
 *   - top-20 customers and sites over each window (CPU ms, median of 5),
 *     as a ratio to the 10 s window, which reads one record per entity:
 *     a window's cost must not grow with its length;
 *   - one customer and one site over each window (µs, median);
 *   - merging (decode + merge against decode alone of the same messages)
 *     and closing slots over the last 5 minutes, per customer-half.
 *
 * usage: window_bench [BOXES [CUSTOMERS [MINUTES]]]   (default 10 10000 65)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench/synth.h"

#define NS		SYN_NS
#define T0		(1699999800ULL * NS)	/* a five-minute boundary */
#define DRAWS		4

/* Median CPU ms of 5 runs of top-20 over window w. */
static double top_ms(struct store *s, enum store_kind kind, enum store_window w, uint64_t now)
{
	struct store_top top[20];
	double v[5];
	int r;

	for (r = 0; r < 5; r++) {
		double t0 = syn_cpu_s();

		if (store_top(s, kind, PF_HALF_ACCESS, 0.95, w, now, 1, top, 20) <= 0) {
			fprintf(stderr, "window_bench: top over %s found nothing\n",
				store_window_name(w));
			exit(1);
		}
		v[r] = (syn_cpu_s() - t0) * 1e3;
	}
	return syn_median(v, 5);
}

/* Median CPU µs of one query of n customers (or sites) over window w. */
static double one_us(struct store *s, bool site, enum store_window w, uint64_t now, long boxes,
		     long custs)
{
	struct hist h[PF_NHALVES];
	char id[256];
	double v[200];
	int r;

	for (r = 0; r < 200; r++) {
		long b = (long)(rnd() % (uint64_t)boxes), k = (long)(rnd() % (uint64_t)custs);
		double t0;
		int err;

		if (site)
			snprintf(id, sizeof(id), "Region %ld/Tower %ld/AP %ld", b % 10, b, k % 20);
		else
			snprintf(id, sizeof(id), "c%ld-%ld", b, k);
		t0 = syn_cpu_s();
		err = site ? store_site(s, id, w, now, h) : store_customer(s, id, w, now, h);
		v[r] = (syn_cpu_s() - t0) * 1e6;
		if (err || !h[0].count) {
			fprintf(stderr, "window_bench: %s %s: nothing\n", site ? "site" : "customer", id);
			exit(1);
		}
	}
	return syn_median(v, 200);
}

int main(int argc, char **argv)
{
	long boxes = syn_arg("window_bench", argc, argv, 1, 10);
	long custs = syn_arg("window_bench", argc, argv, 2, 10000);
	long minutes = syn_arg("window_bench", argc, argv, 3, 65), slots = minutes * 6, a, b;
	uint64_t halves = (uint64_t)boxes * custs * 2, nh = 0, seq = 0, now = T0, gf, gl;
	double tdec = 0, tall = 0, tclose = 0, tc0 = 0, tc1 = 0, tc5 = 0, t0;
	struct syn_msg *m[DRAWS];
	struct wire_delta d;
	struct store_opts o;
	const char *why;
	struct store *s;
	size_t bytes;
	int err = 0, k, w;

	store_opts_default(&o);
	wire_delta_init(&d);
	if (store_open(&s, &o))
		return 1;
	printf("window_bench: %ld boxes x %ld customers x 2 halves, all active every 10 s slot, "
	       "%ld minutes of slots\n", boxes, custs, minutes);
	err = syn_catalogs(s, boxes, custs, T0);
	for (k = 0; k < DRAWS && !err; k++) {
		m[k] = calloc((size_t)boxes, sizeof(*m[k]));
		err = m[k] ? syn_encode_draw(m[k], boxes, custs, T0, &bytes) : -ENOMEM;
	}
	if (err) {
		fprintf(stderr, "window_bench: setup: %s\n", strerror(-err));
		return 1;
	}
	for (a = 0; a < slots; a++) {
		bool timed = a >= slots - 30;	/* the last 5 minutes */

		now = T0 + ((uint64_t)a * 10 + 5) * NS;
		t0 = syn_cpu_s();
		store_advance(s, now);
		if (timed) {
			double dt = syn_cpu_s() - t0;

			tclose += dt;
			if (a % 30 == 0)
				tc5 += dt;
			else if (a % 6 == 0)
				tc1 += dt;
			else
				tc0 += dt;
		}
		seq++;
		for (b = 0; b < boxes; b++) {
			const struct syn_msg *x = &m[a % DRAWS][b];

			if (timed) {	/* the baseline: decode alone */
				t0 = syn_cpu_s();
				err = wire_decode_delta(x->buf, x->len, &d, &why);
				tdec += syn_cpu_s() - t0;
			}
			t0 = syn_cpu_s();
			err = err ?: wire_decode_delta(x->buf, x->len, &d, &why);
			if (!err) {
				d.seq = seq;
				d.start_ns = now - 10 * NS;
				d.end_ns = now;
				err = store_add_delta(s, &d, now, &gf, &gl);
			}
			if (timed) {
				tall += syn_cpu_s() - t0;
				nh += d.nh;
			}
			if (err) {
				fprintf(stderr, "window_bench: slot %ld box %ld: %s\n", a, b,
					err < 0 ? strerror(-err) : "duplicate");
				return 1;
			}
		}
	}
	printf("memory, every window full: %.0f MiB, %.0f bytes per customer-half "
	       "(target <= 2048)\n", store_mem_bytes(s) / 1048576.0,
	       (double)store_mem_bytes(s) / (double)halves);
	printf("closing, last 5 minutes, per customer-half: a slot %.0f ns, a slot and its minute "
	       "%.0f ns, a slot, its minute and five minutes %.0f ns\n", tc0 / 25 / halves * 1e9,
	       tc1 / 4 / halves * 1e9, tc5 / halves * 1e9);
	printf("merge, last 5 minutes: decode alone %.0f ns, decode + merge %.0f ns "
	       "(%.2fx) per customer-half delta; closing slots %.0f ns per customer-half "
	       "and slot: %.2f M customer-half deltas/s per core with closing, decoding "
	       "included (target >= 5 M/s)\n", tdec / nh * 1e9, tall / nh * 1e9, tall / tdec,
	       tclose / nh * 1e9, nh / (tall + tclose) / 1e6);
	{
		double base_c = top_ms(s, STORE_CUSTOMER, STORE_W10S, now);
		double base_s = top_ms(s, STORE_SITE, STORE_W10S, now);

		for (w = 0; w < STORE_NWINDOWS; w++) {
			double c = top_ms(s, STORE_CUSTOMER, (enum store_window)w, now);
			double st = top_ms(s, STORE_SITE, (enum store_window)w, now);

			printf("window %-3s: top-20 of %lu customers %.1f ms (%.2fx the 10s window; "
			       "target <= 100 ms), of sites %.2f ms (%.2fx); one customer %.1f us, "
			       "one site %.1f us (target <= 1000 us)\n",
			       store_window_name((enum store_window)w), (unsigned long)(halves / 2),
			       c, c / base_c, st, st / base_s,
			       one_us(s, false, (enum store_window)w, now, boxes, custs),
			       one_us(s, true, (enum store_window)w, now, boxes, custs));
		}
	}
	store_close(s);
	wire_delta_free(&d);
	for (k = 0; k < DRAWS; k++) {
		for (b = 0; b < boxes; b++)
			free(m[k][b].buf);
		free(m[k]);
	}
	return 0;
}
