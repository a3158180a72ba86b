/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Prometheus remote write 1.0 bodies (docs/scale.md): a WriteRequest
 * (protobuf, aggregator/proto/remote.proto) of native histograms,
 * snappy-compressed (block format). Pure: no sockets, no clock.
 *
 * pingfold's buckets are those of native histograms of schema 3, so the
 * conversion is exact: bucket (2^((j-1)/8), 2^(j/8)] s of Prometheus index
 * j holds pingfold's bucket of OTel index j - 1; pingfold's underflow
 * (RTT <= 2^-20 s) is the zero bucket, its threshold 2^-20 s. The one
 * approximation: the overflow bucket (RTT > 64 s, no upper bound) is
 * sent as the bucket just above 64 s, (2^6, 2^6.125] s.
 */
#ifndef PINGFOLD_PROMRW_H
#define PINGFOLD_PROMRW_H

#include <stddef.h>
#include <stdint.h>
#include "common/hist.h"

#define PROMRW_SCHEMA		3
#define PROMRW_ZERO_THRESHOLD	9.5367431640625e-07	/* 2^-20 s */
#define PROMRW_LE_STEP		4	/* classic series: every 4th bucket boundary (as /metrics) */

struct promrw_series {
	const char *name;		/* __name__, e.g. pingfold_site_rtt_seconds */
	const char *const *labels;	/* name, value, name, value, ...: sorted by name */
	int nlabels;			/* pairs */
	const struct hist *h;		/* cumulative: counts never go down */
};

/* Prometheus' bucket index of pingfold's bucket (slot 1..PF_HIST_NSLOTS - 1). */
int promrw_bucket_index(uint32_t slot);
/*
 * The WriteRequest of n series, one native histogram sample each at ts_ms:
 * protobuf (raw) and snappy-compressed. Both malloc'd; 0, -ENOMEM or
 * -EINVAL (a label name or value that is not UTF-8 / empty name).
 */
int promrw_encode_raw(const struct promrw_series *s, size_t n, int64_t ts_ms, uint8_t **out,
		      size_t *len);
int promrw_encode(const struct promrw_series *s, size_t n, int64_t ts_ms, char **out,
		  size_t *len);

/*
 * Classic series instead (--remote-write-classic, for receivers without
 * native histograms): NAME_bucket{le} cumulative at every PROMRW_LE_STEP-th
 * boundary and +Inf, NAME_sum (seconds), NAME_count, as float samples.
 */
int promrw_encode_classic_raw(const struct promrw_series *s, size_t n, int64_t ts_ms,
			      uint8_t **out, size_t *len);
int promrw_encode_classic(const struct promrw_series *s, size_t n, int64_t ts_ms, char **out,
			  size_t *len);
/* The shortest decimal that reads back as v (le values, as /metrics writes them). */
void promrw_fmt_double(double v, char *out, size_t cap);

#endif /* PINGFOLD_PROMRW_H */
