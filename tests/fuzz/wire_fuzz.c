// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libFuzzer target for every decoder of common/wire.c. The first input
 * byte picks the decoder (see enum below), the rest is the message.
 * Beyond "no crash, no leak, no UB, no huge allocation" it checks that
 * whatever decodes re-encodes, decodes again, and re-encodes to the same
 * bytes; and that every refusal comes with a reason. Built and run by
 * tests/fuzz/run.sh; seeds in tests/fuzz/corpus/wire/ (tests/fuzz/wire_seed.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/wire.h"

enum { BY_TOPIC, DELTA, CATALOG, STATS, REPLAY_REQ, REPLAY_REP, NSEL };

#define FAIL(...)							\
	do {								\
		fprintf(stderr, "wire_fuzz: " __VA_ARGS__);		\
		fputc('\n', stderr);					\
		abort();						\
	} while (0)

/* Kept across inputs, so decoding into a used struct is exercised too. */
static struct wire_delta fz_delta, fz_delta2;
static struct wire_catalog fz_cat, fz_cat2;

static void check_why(int rc, const char *why, const char *what)
{
	if (rc == 0)
		return;
	if (rc > 0)
		FAIL("%s: positive return %d", what, rc);
	if (!why || !*why || strlen(why) > 200)
		FAIL("%s: refused without a reason", what);
}

static void same_bytes(const char *a, size_t la, const char *b, size_t lb, const char *what)
{
	if (la != lb || memcmp(a, b, la))
		FAIL("%s: re-encoding is not stable (%zu vs %zu bytes)", what, la, lb);
}

static void fuzz_delta(const uint8_t *p, size_t n)
{
	const char *why = NULL;
	char *m1, *m2;
	size_t l1, l2;
	int rc;

	rc = wire_decode_delta(p, n, &fz_delta, &why);
	check_why(rc, why, "delta");
	if (rc) {
		if (fz_delta.nh || fz_delta.nb)
			FAIL("delta: refused but not emptied");
		return;
	}
	if (wire_encode_delta(&fz_delta, &m1, &l1))
		FAIL("delta: decoded but does not encode");
	rc = wire_decode_delta(m1, l1, &fz_delta2, &why);
	if (rc)
		FAIL("delta: own encoding refused: %s", why);
	if (fz_delta2.nh != fz_delta.nh || fz_delta2.nb != fz_delta.nb ||
	    fz_delta2.seq != fz_delta.seq || strcmp(fz_delta2.box, fz_delta.box))
		FAIL("delta: round trip differs");
	if (wire_encode_delta(&fz_delta2, &m2, &l2))
		FAIL("delta: second encoding failed");
	same_bytes(m1, l1, m2, l2, "delta");
	free(m1);
	free(m2);
}

static void fuzz_catalog(const uint8_t *p, size_t n)
{
	const char *why = NULL;
	char *m1, *m2;
	size_t l1, l2;
	int rc;

	rc = wire_decode_catalog(p, n, &fz_cat, &why);
	check_why(rc, why, "catalog");
	if (rc) {
		if (fz_cat.n)
			FAIL("catalog: refused but not emptied");
		return;
	}
	if (wire_encode_catalog(&fz_cat, &m1, &l1))
		FAIL("catalog: decoded but does not encode");
	if (wire_decode_catalog(m1, l1, &fz_cat2, &why))
		FAIL("catalog: own encoding refused: %s", why);
	if (wire_encode_catalog(&fz_cat2, &m2, &l2))
		FAIL("catalog: second encoding failed");
	same_bytes(m1, l1, m2, l2, "catalog");
	free(m1);
	free(m2);
}

static void fuzz_stats(const uint8_t *p, size_t n)
{
	static struct wire_stats s, s2;
	const char *why = NULL;
	char *m1, *m2;
	size_t l1, l2;
	int rc;

	rc = wire_decode_stats(p, n, &s, &why);
	check_why(rc, why, "stats");
	if (rc)
		return;
	if (wire_encode_stats(&s, &m1, &l1))
		FAIL("stats: decoded but does not encode");
	if (wire_decode_stats(m1, l1, &s2, &why))
		FAIL("stats: own encoding refused: %s", why);
	if (wire_encode_stats(&s2, &m2, &l2))
		FAIL("stats: second encoding failed");
	same_bytes(m1, l1, m2, l2, "stats");
	free(m1);
	free(m2);
}

static void fuzz_req(const uint8_t *p, size_t n)
{
	struct wire_replay_req r, r2;
	const char *why = NULL;
	char *m;
	size_t l;
	int rc;

	rc = wire_decode_replay_req(p, n, &r, &why);
	check_why(rc, why, "replay request");
	if (rc)
		return;
	if (wire_encode_replay_req(&r, &m, &l))
		FAIL("replay request: decoded but does not encode");
	if (wire_decode_replay_req(m, l, &r2, &why))
		FAIL("replay request: own encoding refused: %s", why);
	if (strcmp(r.box, r2.box) || r.epoch != r2.epoch || r.first != r2.first ||
	    r.last != r2.last)
		FAIL("replay request: round trip differs");
	free(m);
}

#define REP_CAP 64

static void fuzz_rep(const uint8_t *p, size_t n)
{
	static struct wire_blob b[REP_CAP], b2[REP_CAP];
	const char *why = NULL;
	uint64_t first, first2;
	uint32_t nb, nb2, i;
	int status, status2, rc;
	char *m;
	size_t l;

	rc = wire_decode_replay_rep(p, n, &status, &first, b, REP_CAP, &nb, &why);
	check_why(rc, why, "replay answer");
	if (rc)
		return;
	for (i = 0; i < nb; i++) {
		if ((const uint8_t *)b[i].p < p || (const uint8_t *)b[i].p + b[i].len > p + n)
			FAIL("replay answer: message %u outside the input", i);
		fuzz_delta(b[i].p, b[i].len);
	}
	if (wire_encode_replay_rep(status, first, b, nb, &m, &l))
		FAIL("replay answer: decoded but does not encode");
	if (wire_decode_replay_rep(m, l, &status2, &first2, b2, REP_CAP, &nb2, &why))
		FAIL("replay answer: own encoding refused: %s", why);
	if (status2 != status || first2 != first || nb2 != nb)
		FAIL("replay answer: round trip differs");
	for (i = 0; i < nb; i++)
		if (b2[i].len != b[i].len || memcmp(b2[i].p, b[i].p, b[i].len))
			FAIL("replay answer: message %u differs", i);
	free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	int kind;

	if (!size)
		return 0;
	switch (data[0] % NSEL) {
	case BY_TOPIC:
		kind = wire_kind_of(p, n);
		if (kind == WIRE_DELTA)
			fuzz_delta(p, n);
		else if (kind == WIRE_CATALOG)
			fuzz_catalog(p, n);
		else if (kind == WIRE_STATS)
			fuzz_stats(p, n);
		else if (kind >= 0)
			FAIL("wire_kind_of: unknown kind %d", kind);
		break;
	case DELTA:
		fuzz_delta(p, n);
		break;
	case CATALOG:
		fuzz_catalog(p, n);
		break;
	case STATS:
		fuzz_stats(p, n);
		break;
	case REPLAY_REQ:
		fuzz_req(p, n);
		break;
	case REPLAY_REP:
		fuzz_rep(p, n);
		break;
	}
	return 0;
}
