// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * aggregator/promrw.c: remote write bodies against a byte vector derived
 * by hand from the protobuf encoding rules, the bucket mapping against
 * Prometheus' schema-3 boundaries, and snappy + protobuf round trips.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <snappy-c.h>
#include "aggregator/promrw.h"
#include "aggregator/proto/remote.pb-c.h"

/*
 * One series "m"{site="N"}, 3 samples: 500 ns (the zero bucket) and two of
 * 1 ms (Prometheus bucket -79: (2^-10, 2^-9.875] s), at 1000 ms.
 */
static const uint8_t want[] = {
	0x0a, 0x41,				/* WriteRequest.timeseries, 65 bytes */
	0x0a, 0x0d,				/*  TimeSeries.labels, 13 bytes */
	0x0a, 0x08, '_', '_', 'n', 'a', 'm', 'e', '_', '_',	/* name */
	0x12, 0x01, 'm',			/*   value */
	0x0a, 0x09,				/*  labels, 9 bytes */
	0x0a, 0x04, 's', 'i', 't', 'e',
	0x12, 0x01, 'N',
	0x22, 0x25,				/*  TimeSeries.histograms, 37 bytes */
	0x08, 0x03,				/*   count_int 3 */
	0x19, 0x5b, 0xb5, 0x6b, 0x42, 0x5a, 0x63, 0x60, 0x3f,	/* sum 0.0020005 (double) */
	0x20, 0x06,				/*   schema 3 (zigzag 6) */
	0x29, 0, 0, 0, 0, 0, 0, 0xb0, 0x3e,	/*   zero_threshold 2^-20 */
	0x30, 0x01,				/*   zero_count_int 1 */
	0x5a, 0x05, 0x08, 0x9d, 0x01, 0x10, 0x01,	/* span: offset -79 (zigzag 157), length 1 */
	0x62, 0x01, 0x04,			/*   positive_deltas [2] (packed, zigzag 4) */
	0x78, 0xe8, 0x07,			/*   timestamp 1000 */
};

Test(promrw, a_hand_checked_body)
{
	static const char *const labels[] = { "site", "N" };
	struct promrw_series s = { "m", labels, 1, NULL };
	struct hist h;
	uint8_t *raw;
	size_t len, i;

	hist_init(&h);
	hist_add(&h, 500);
	hist_add_n(&h, 1000000, 2);
	s.h = &h;
	cr_assert_eq(promrw_encode_raw(&s, 1, 1000, &raw, &len), 0);
	for (i = 0; i < len && i < sizeof(want); i++)
		cr_assert_eq(raw[i], want[i], "byte %zu: 0x%02x, want 0x%02x", i, raw[i], want[i]);
	cr_assert_eq(len, sizeof(want));
	free(raw);
}

Test(promrw, buckets_are_schema_3_exactly)
{
	uint32_t s;

	for (s = PF_HIST_SLOT_UNDER + 1; s < PF_HIST_SLOT_OVER; s++) {
		int j = promrw_bucket_index(s);
		double hi = pow(2.0, j / 8.0), lo = pow(2.0, (j - 1) / 8.0);

		/* pingfold's bucket of slot s holds ns values in (lo, hi] s */
		cr_assert(fabs(hist_slot_upper_s(s) - hi) <= hi * 1e-12, "slot %u", s);
		cr_assert(hist_slot_lo(s) > lo * 1e9 - 1 && hist_slot_hi(s) <= hi * 1e9 + 1e-9,
			  "slot %u: %llu..%llu ns, bucket (%g, %g] s", s,
			  (unsigned long long)hist_slot_lo(s), (unsigned long long)hist_slot_hi(s),
			  lo, hi);
	}
	cr_assert_eq(promrw_bucket_index(PF_HIST_SLOT_UNDER + 1), -159);
	cr_assert_eq(promrw_bucket_index(PF_HIST_SLOT_OVER), 49, "overflow: just above 64 s");
	cr_assert(hist_slot_hi(PF_HIST_SLOT_UNDER) <= PROMRW_ZERO_THRESHOLD * 1e9);
}

Test(promrw, round_trip_through_snappy_and_protobuf)
{
	static const char *const labels[] = { "half", "access", "site", "North/Tower 1" };
	struct promrw_series s[2] = { { "pingfold_site_rtt_seconds", labels, 2, NULL },
				      { "pingfold_fleet_rtt_seconds", labels, 1, NULL } };
	Pingfold__Prompb__WriteRequest *wr;
	Pingfold__Prompb__Histogram *ph;
	struct hist h;
	char *body, raw[1 << 16];
	size_t len, rlen = sizeof(raw), k, b = 0;
	int64_t count = 0, idx;
	uint64_t v;

	hist_init(&h);
	for (v = 400; v < 90000000000ULL; v = v * 3 / 2 + 7)	/* under, every octave, over */
		hist_add_n(&h, v, v % 5 + 1);
	s[0].h = s[1].h = &h;
	cr_assert_eq(promrw_encode(s, 2, 1700000000000LL, &body, &len), 0);
	cr_assert_eq(snappy_uncompress(body, len, raw, &rlen), SNAPPY_OK);
	free(body);
	wr = pingfold__prompb__write_request__unpack(NULL, rlen, (uint8_t *)raw);
	cr_assert_not_null(wr);
	cr_assert_eq(wr->n_timeseries, 2);
	cr_assert_str_eq(wr->timeseries[0]->labels[0]->name, "__name__");
	cr_assert_str_eq(wr->timeseries[0]->labels[2]->value, "North/Tower 1");
	cr_assert_eq(wr->timeseries[1]->n_labels, 2);
	ph = wr->timeseries[0]->histograms[0];
	cr_assert_eq(ph->count_int, h.count);
	cr_assert_eq(ph->zero_count_int, h.slot[PF_HIST_SLOT_UNDER]);
	cr_assert_float_eq(ph->sum, (double)h.sum / 1e9, 1e-9 * h.sum / 1e9);
	cr_assert_eq(ph->timestamp, 1700000000000LL);
	/* every bucket back from spans and deltas */
	for (k = 0, idx = 0; k < ph->n_positive_spans; k++) {
		uint32_t i;

		idx += ph->positive_spans[k]->offset + (k ? 1 : 0);
		for (i = 0; i < ph->positive_spans[k]->length; i++, idx++) {
			uint32_t slot;

			count += ph->positive_deltas[b++];
			for (slot = 1; slot < PF_HIST_NSLOTS; slot++)
				if (promrw_bucket_index(slot) == idx)
					break;
			cr_assert_lt(slot, PF_HIST_NSLOTS, "index %lld", (long long)idx);
			cr_assert_eq((uint64_t)count, h.slot[slot], "bucket %lld", (long long)idx);
		}
		idx--;
	}
	cr_assert_eq(b, ph->n_positive_deltas);
	pingfold__prompb__write_request__free_unpacked(wr, NULL);
}

Test(promrw, bad_labels_are_refused)
{
	static const char *const bad[] = { "site", "\xff\xfe" }, *empty[] = { "", "x" };
	struct promrw_series s = { "m", bad, 1, NULL };
	struct hist h;
	char *out;
	size_t len;

	hist_init(&h);
	s.h = &h;
	cr_assert_eq(promrw_encode(&s, 1, 0, &out, &len), -EINVAL);
	s.labels = empty;
	cr_assert_eq(promrw_encode(&s, 1, 0, &out, &len), -EINVAL);
	s.labels = NULL;
	s.nlabels = 0;
	s.name = "";
	cr_assert_eq(promrw_encode(&s, 1, 0, &out, &len), -EINVAL);
}

Test(promrw, classic_series_as_metrics_shows_them)
{
	static const char *const labels[] = { "aggregator", "a", "half", "access", "site", "N" };
	struct promrw_series s = { "m", labels, 3, NULL };
	Pingfold__Prompb__WriteRequest *wr;
	struct hist h;
	uint8_t *raw;
	size_t len, i, nb = 0;
	double prev = 0;

	hist_init(&h);
	hist_add(&h, 500);
	hist_add_n(&h, 1000000, 2);
	hist_add_n(&h, 100000000000ULL, 1);	/* overflow: only in +Inf */
	s.h = &h;
	cr_assert_eq(promrw_encode_classic_raw(&s, 1, 5, &raw, &len), 0);
	wr = pingfold__prompb__write_request__unpack(NULL, len, raw);
	free(raw);
	cr_assert_not_null(wr);
	for (i = 0; i < wr->n_timeseries; i++) {
		Pingfold__Prompb__TimeSeries *ts = wr->timeseries[i];
		const char *name = ts->labels[0]->value;
		size_t k;

		for (k = 1; k + 1 < ts->n_labels; k++)	/* sorted by name */
			cr_assert_lt(strcmp(ts->labels[k]->name, ts->labels[k + 1]->name), 0);
		cr_assert_eq(ts->n_samples, 1);
		cr_assert_eq(ts->samples[0]->timestamp, 5);
		if (!strcmp(name, "m_bucket")) {
			cr_assert_str_eq(ts->labels[3]->name, "le", "le after half, before site");
			cr_assert_geq(ts->samples[0]->value, prev, "cumulative");
			prev = ts->samples[0]->value;
			nb++;
			if (!strcmp(ts->labels[3]->value, "+Inf"))
				cr_assert_eq(ts->samples[0]->value, 4);
			else
				cr_assert_leq(ts->samples[0]->value, 3, "the overflow sample only in +Inf");
		} else if (!strcmp(name, "m_count")) {
			cr_assert_eq(ts->samples[0]->value, 4);
		} else {
			cr_assert_str_eq(name, "m_sum");
			cr_assert_float_eq(ts->samples[0]->value, (double)h.sum / 1e9, 1e-9);
		}
	}
	cr_assert_eq(nb, (PF_HIST_SLOT_OVER - 1) / PROMRW_LE_STEP + 2, "every 4th boundary and +Inf");
	cr_assert_eq(wr->n_timeseries, nb + 2);
	pingfold__prompb__write_request__free_unpacked(wr, NULL);
}
