// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Aggregator merge throughput: customer-half deltas merged per second of
 * CPU, decoding included, against the decode alone of the same messages,
 * measured in the same run, pass by pass.
 *
 * BOXES boxes x CUSTOMERS customers each (distinct customers, both halves,
 * 6-10 non-zero buckets per customer-half, sites three levels deep), one
 * delta per box per pass, encoded with wire_encode_delta beforehand (not
 * timed). Each pass times, on one core (CPU time of the thread), box by
 * box: wire_decode_delta alone, and wire_decode_delta + store_add_delta.
 * Odd passes open a new 10 s slot (every customer-half
 * gets a new record: agents at a 10 s interval); even passes land in the
 * slot of the pass before, with another draw of the same customers (merge
 * into existing records, some of which grow: agents at shorter intervals,
 * or a customer on two boxes). New slots follow one another, as in a
 * running aggregator: opening one closes the slot before (its records
 * folded into the minute's, see store_int.h), which is timed on its own
 * (store_advance) and shown apart, per customer-half of the closed slot.
 * Until the store's slots come round (6 slots: 12 passes) every slot runs
 * on fresh memory (here the hypervisor's page faults make that ~0.7-1.3
 * GB/s): those passes are shown but left out of the figures. The CPU of this VM runs at a speed that
 * changes from second to second with its neighbours: every pass is shown,
 * then the best and the median.
 *
 * usage: merge_bench [BOXES [CUSTOMERS [PASSES]]]   (default 100 10000 24)
 *
 * The default is scaled down from the 1,000 x 10,000 (the same
 * delta size per box, a tenth of the boxes): that takes ~90 s and ~10 GB
 * on these 2-core VMs, with the same figures.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench/synth.h"

#define SLOT_S		10ULL
#define NS		SYN_NS
#define T0		(1700000000ULL * NS)	/* a slot boundary */

/*
 * One pass over a set of messages, box by box: wire_decode_delta alone
 * (into dd), and wire_decode_delta + store_add_delta (into dm, as seq, at
 * end_ns), one right after the other, the first of the two alternating,
 * so that both see the same CPU (its speed drifts on this VM) and neither
 * always finds the message in the cache. CPU seconds in *td and *tm.
 */
static int run(struct store *s, const struct syn_msg *m, long boxes, uint64_t seq, uint64_t end_ns,
	       struct wire_delta *dd, struct wire_delta *dm, double *td, double *tm,
	       uint64_t *nh, uint64_t *samples)
{
	const char *why;
	uint64_t gf, gl;
	uint32_t i;
	double t0;
	long b;
	int err = 0, k;

	*td = *tm = 0;
	for (b = 0; b < boxes && !err; b++) {
		for (k = 0; k < 2 && !err; k++) {
			bool alone = (k + b) % 2 == 0;

			t0 = syn_cpu_s();
			if (alone) {
				err = wire_decode_delta(m[b].buf, m[b].len, dd, &why);
			} else {
				err = wire_decode_delta(m[b].buf, m[b].len, dm, &why);
				if (!err) {
					dm->seq = seq;
					dm->start_ns = end_ns - SLOT_S * NS / 2;
					dm->end_ns = end_ns;
					err = store_add_delta(s, dm, end_ns, &gf, &gl);
				}
			}
			*(alone ? td : tm) += syn_cpu_s() - t0;
		}
		if (err) {
			fprintf(stderr, "merge_bench: box %ld: %s\n", b,
				err < 0 ? strerror(-err) : "duplicate");
			return -1;
		}
		*nh += dm->nh;
		for (i = 0; i < dm->nh; i++)
			*samples += dm->h[i].count;
	}
	return 0;
}

/* Best and median of n rates. */
static void stats(double *v, int n, double *best, double *med)
{
	qsort(v, (size_t)n, sizeof(*v), syn_dbl_cmp);
	*best = v[n - 1];
	*med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	long boxes = syn_arg("merge_bench", argc, argv, 1, 100);
	long custs = syn_arg("merge_bench", argc, argv, 2, 10000);
	int passes = (int)syn_arg("merge_bench", argc, argv, 3, 24);
	int warm, p, nn = 0, ns = 0, nd = 0, nc = 0;
	double *rd = calloc((size_t)passes, sizeof(double));
	double *rn = calloc((size_t)passes, sizeof(double));
	double *rs = calloc((size_t)passes, sizeof(double));
	double *rc = calloc((size_t)passes, sizeof(double));
	uint64_t samples = 0, per_pass = (uint64_t)boxes * custs * 2;
	double bd, md, bn, mn, bs, ms, tdec = 0, tall = 0;
	struct wire_delta dd, dm;
	struct store_opts o;
	struct syn_msg *m[2];
	size_t bytes;
	struct store *s;
	int err;

	store_opts_default(&o);
	wire_delta_init(&dd);
	wire_delta_init(&dm);
	m[0] = calloc((size_t)boxes, sizeof(*m[0]));
	m[1] = calloc((size_t)boxes, sizeof(*m[1]));
	if (!m[0] || !m[1] || !rd || !rn || !rs || store_open(&s, &o)) {
		fprintf(stderr, "merge_bench: out of memory\n");
		return 1;
	}
	warm = passes > 14 ? 12 : passes > 2 ? 2 : 0;
	printf("merge_bench: %ld boxes x %ld customers x 2 halves = %llu customer-half deltas "
	       "per pass, %d passes\n", boxes, custs, (unsigned long long)per_pass, passes);
	if (argc < 2)
		printf("(scaled down from the issue's 1,000 boxes x 10,000 customers, which takes "
		       "~90 s and ~10 GB here: merge_bench 1000 10000 4)\n");
	err = syn_catalogs(s, boxes, custs, T0);
	/* two draws of every customer-half, so a same-slot pass adds new buckets too */
	err = err ?: syn_encode_draw(m[0], boxes, custs, T0, &bytes);
	err = err ?: syn_encode_draw(m[1], boxes, custs, T0, &bytes);
	if (err) {
		fprintf(stderr, "merge_bench: setup: %s\n", strerror(-err));
		return 1;
	}
	printf("wire: %.1f bytes per customer-half delta\n", (double)bytes / per_pass);
	for (p = 0; p < passes; p++) {
		/* odd passes open the next 10 s slot, even ones land in the same slot */
		uint64_t end = T0 + ((uint64_t)p / 2 * SLOT_S + 1 + (uint64_t)(p % 2) * 5) * NS;
		uint64_t nh = 0;
		double td, tm, t0 = syn_cpu_s();

		store_advance(s, end);	/* closes the slot before */
		if (p % 2 == 0 && p >= warm) {
			rc[nc++] = (syn_cpu_s() - t0) / (double)per_pass * 1e9;
			printf("close of the slot before: %.0f ns per customer-half\n", rc[nc - 1]);
		}
		if (run(s, m[p % 2], boxes, (uint64_t)p + 1, end, &dd, &dm, &td, &tm, &nh,
			&samples))
			return 1;
		printf("pass %d (%s slot%s): decode alone %.2f M/s, decode + merge %.2f M/s "
		       "(merge %.0f ns per customer-half)\n", p + 1, p % 2 ? "same" : "new ",
		       p < warm ? ", fresh memory" : "", nh / td / 1e6, nh / tm / 1e6,
		       (tm - td) / nh * 1e9);
		if (p < warm)
			continue;	/* the hypervisor's page faults */
		rd[nd++] = nh / td;
		if (p % 2)
			rs[ns++] = nh / tm;
		else
			rn[nn++] = nh / tm;
		tdec += td;
		tall += tm;
	}
	if (store_total_samples(s) != samples) {
		fprintf(stderr, "merge_bench: store holds %llu samples, %llu were merged\n",
			(unsigned long long)store_total_samples(s), (unsigned long long)samples);
		return 1;
	}
	stats(rd, nd, &bd, &md);
	stats(rn, nn, &bn, &mn);
	if (ns)
		stats(rs, ns, &bs, &ms);
	printf("decode alone:                  best %.2f M/s, median %.2f M/s\n", bd / 1e6,
	       md / 1e6);
	printf("decode + merge, new slot:      best %.2f M/s, median %.2f M/s\n", bn / 1e6,
	       mn / 1e6);
	if (ns)
		printf("decode + merge, same slot:     best %.2f M/s, median %.2f M/s\n", bs / 1e6,
		       ms / 1e6);
	printf("passes %d-%d: decode + merge takes %.2fx the time of decode alone; "
	       "%.2f M customer-half deltas merged per second per core, decoding included "
	       "(target >= 5 M/s)\n", warm + 1, passes, tall / tdec,
	       (double)per_pass * nd / tall / 1e6);
	if (nc) {
		double cl = syn_median(rc, nc), merge = (double)nd * per_pass / tall;

		printf("closing a slot: median %.0f ns per customer-half with data in it; with it, "
		       "%.2f M/s for agents at 10 s (one delta per slot), %.2f M/s at 1 s (ten)\n",
		       cl, 1e3 / (1e9 / merge + cl), 1e3 / (1e9 / merge + cl / 10));
	}
	printf("store: %.0f MiB, %u customers; the last slot holds %.0f bytes per "
	       "customer-half\n", store_mem_bytes(s) / 1048576.0, store_ncustomers(s, NULL),
	       (double)store_newest_slot_bytes(s) / (double)per_pass);
	store_close(s);
	wire_delta_free(&dd);
	wire_delta_free(&dm);
	for (p = 0; p < 2 * boxes; p++)
		free(m[p % 2][p / 2].buf);
	free(m[0]);
	free(m[1]);
	free(rd);
	free(rn);
	free(rs);
	free(rc);
	return 0;
}
