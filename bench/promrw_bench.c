// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Remote write bodies (aggregator/promrw.c): what one interval of N site
 * series costs to encode and compress, and how many bytes a series takes
 * on the wire, against the protobuf encoding alone of the same request
 * (the baseline, measured in the same run).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "aggregator/promrw.h"
#include "tests/lib/rng.h"

#define NSERIES	10000
#define ROUNDS	5

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	static const char *const half[] = { "access", "internet" };
	struct promrw_series *s = calloc(NSERIES, sizeof(*s));
	struct hist *h = calloc(NSERIES, sizeof(*h));
	const char **labels = calloc(NSERIES * 4, sizeof(*labels));
	char (*site)[32] = calloc(NSERIES, sizeof(*site));
	double best_raw = 1e9, best_all = 1e9;
	size_t rawlen = 0, len = 0;
	int i, k;

	if (!s || !h || !labels || !site)
		return 1;
	for (i = 0; i < NSERIES; i++) {
		/* a site's hour: thousands of samples around a median of 5..80 ms */
		uint64_t med = (5 + rnd() % 76) * 1000000ULL;

		hist_init(&h[i]);
		for (k = 0; k < 3000; k++)
			hist_add(&h[i], med / 2 + rnd() % (med * 2));
		snprintf(site[i], sizeof(site[i]), "Region %d/Tower %d", i / 100, i % 100);
		labels[4 * i] = "half";
		labels[4 * i + 1] = half[i & 1];
		labels[4 * i + 2] = "site";
		labels[4 * i + 3] = site[i];
		s[i] = (struct promrw_series){ "pingfold_site_rtt_seconds", &labels[4 * i], 2, &h[i] };
	}
	/* blocks of rounds: raw, both, raw again (so neither is measured cold) */
	for (k = 0; k < 3 * ROUNDS; k++) {
		bool both = k / ROUNDS == 1;
		uint8_t *raw = NULL;
		char *body = NULL;
		double t0 = now_s(), t;
		int rc = both ? promrw_encode(s, NSERIES, 1700000000000LL, &body, &len) :
				promrw_encode_raw(s, NSERIES, 1700000000000LL, &raw, &rawlen);

		t = now_s() - t0;
		if (rc)
			return 1;
		free(raw);
		free(body);
		if (both && t < best_all)
			best_all = t;
		else if (!both && t < best_raw)
			best_raw = t;
	}
	printf("%d series (site, half), ~22 buckets each: protobuf alone %.0f ns/series "
	       "(baseline), protobuf + snappy %.0f ns/series = %.2fx the baseline\n", NSERIES,
	       best_raw * 1e9 / NSERIES, best_all * 1e9 / NSERIES, best_all / best_raw);
	printf("bytes per series per interval: %.0f protobuf, %.0f after snappy (%.2fx); "
	       "one request of %d series: %.1f KiB\n", (double)rawlen / NSERIES,
	       (double)len / NSERIES, (double)len / rawlen, NSERIES, len / 1024.0);
	return 0;
}
