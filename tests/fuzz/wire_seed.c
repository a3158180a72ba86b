// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Writes the seed corpus of tests/fuzz/wire_fuzz.c into DIR: small valid
 * messages of every kind, each behind the selector byte the fuzzer
 * dispatches on. Run by "tests/fuzz/run.sh --seed"; the output is
 * committed as tests/fuzz/corpus/wire/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/wire.h"

enum { BY_TOPIC, DELTA, CATALOG, STATS, REPLAY_REQ, REPLAY_REP };

static const char *dir;

static void put(const char *name, int sel, const char *msg, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fputc(sel, f) == EOF || fwrite(msg, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* n customers, both halves, a few samples around base_ns. */
static void delta(struct wire_delta *d, uint32_t n, uint64_t base_ns, uint64_t seq)
{
	struct hist_sparse s;
	struct hist h;
	uint32_t i, half, k;

	wire_delta_init(d);
	strcpy(d->box, "box-1");
	d->epoch = 1718000000000000000ULL;
	d->seq = seq;
	d->start_ns = 1718000000000000000ULL + (seq - 1) * 1000000000ULL;
	d->end_ns = d->start_ns + 1000000000ULL;
	for (i = 0; i < n; i++) {
		for (half = 0; half < 2; half++) {
			hist_init(&h);
			for (k = 0; k < 5 + i; k++)
				hist_add(&h, base_ns + k * base_ns / 8 + half * 1000);
			hist_to_sparse(&h, &s);
			if (wire_delta_add(d, i * 3, (uint8_t)half, &s))
				exit(2);
		}
	}
}

int main(int argc, char **argv)
{
	struct hist_sparse s = { .count = 3, .sum = UINT64_MAX, .min = 0, .max = UINT64_MAX,
				 .n = 2, .idx = { 0, PF_HIST_NSLOTS - 1 }, .cnt = { 2, 1 } };
	struct wire_replay_req r = { .box = "box-1", .epoch = 1718000000000000000ULL,
				     .first = 3, .last = 5 };
	struct wire_delta d, d2;
	struct wire_catalog c;
	struct wire_stats st = { .box = "box-1", .epoch = 7, .seq = 3, .time_ns = 99, .n = 3,
				 .s = { { "packets", 1000000 }, { "samples", 20 },
					{ "agent_polls", 3 } } };
	struct wire_blob b[2];
	char *m, *m2, *x;
	size_t l, l2;

	if (argc != 2) {
		fprintf(stderr, "usage: wire_seed DIR\n");
		return 2;
	}
	dir = argv[1];

	delta(&d, 3, 20000000, 4);
	if (wire_encode_delta(&d, &m, &l))
		return 1;
	put("delta-small", DELTA, m, l);
	put("topic-delta", BY_TOPIC, m, l);
	delta(&d2, 1, 1500, 5);
	if (wire_delta_add(&d2, 1000000, 0, &s) || wire_encode_delta(&d2, &m2, &l2))
		return 1;
	put("delta-edges", DELTA, m2, l2);
	b[0] = (struct wire_blob){ m, l };
	b[1] = (struct wire_blob){ m2, l2 };
	if (wire_encode_replay_rep(WIRE_REPLAY_PARTIAL, 4, b, 2, &x, &l))
		return 1;
	put("replay-rep", REPLAY_REP, x, l);
	free(x);
	free(m);
	free(m2);
	wire_delta_free(&d2);

	wire_delta_reset(&d);
	if (wire_encode_delta(&d, &m, &l))
		return 1;
	put("delta-empty", DELTA, m, l);
	/* version 1 with a later version's extra field: [nil, {"k": 1.5}] */
	x = malloc(l + 16);
	memcpy(x, m, l);
	x[strlen(m) + 1] = (char)0x99;
	memcpy(x + l, "\x92\xc0\x81\xa1k\xcb\x3f\xf8\0\0\0\0\0\0", 14);
	put("delta-extra-field", DELTA, x, l + 14);
	free(x);
	free(m);
	wire_delta_free(&d);

	wire_catalog_init(&c);
	strcpy(c.box, "box-1");
	c.epoch = 7;
	c.seq = 3;
	if (wire_catalog_add(&c, 0, "c1", "Zoë", "North/Tower 2") ||
	    wire_catalog_add(&c, 3, "c-東京", "東京 🗼", "") ||
	    wire_encode_catalog(&c, &m, &l))
		return 1;
	put("catalog-utf8", CATALOG, m, l);
	put("topic-catalog", BY_TOPIC, m, l);
	free(m);
	wire_catalog_free(&c);

	if (wire_encode_stats(&st, &m, &l))
		return 1;
	put("stats", STATS, m, l);
	put("topic-stats", BY_TOPIC, m, l);
	free(m);

	if (wire_encode_replay_req(&r, &m, &l))
		return 1;
	put("replay-req", REPLAY_REQ, m, l);
	free(m);
	if (wire_encode_replay_rep(WIRE_REPLAY_NO_EPOCH, 0, NULL, 0, &m, &l))
		return 1;
	put("replay-rep-empty", REPLAY_REP, m, l);
	free(m);
	return 0;
}
