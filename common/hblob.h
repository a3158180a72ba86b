/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * A histogram as a compact blob, as the history store keeps it: a byte of
 * bucket count n, varints of count, sum, min and max - min, then n times
 * (slot number - the one before, a byte; its count, a varint). Decoding
 * trusts nothing: a file can be damaged.
 */
#ifndef PINGFOLD_HBLOB_H
#define PINGFOLD_HBLOB_H

#include <stddef.h>
#include <stdint.h>
#include "common/hist.h"

/* Longest blob: header, four varints, every bucket. */
#define HBLOB_MAX	(1 + 4 * 10 + PF_HIST_NSLOTS * 11)

/* Encodes a histogram (count > 0) into out[HBLOB_MAX]; returns its length. */
size_t hblob_encode(uint8_t *out, const struct hist *h);
/*
 * Adds a blob to h (h += blob): 0, or -EINVAL when it is not one (cut,
 * too long, buckets out of order or out of range, counts that do not add
 * up, min/max/sum impossible for the count); h is unchanged then.
 */
int hblob_add(struct hist *h, const void *blob, size_t len);

static inline unsigned hblob_varint_len(uint64_t v)
{
	return v ? (unsigned)(64 - __builtin_clzll(v) + 6) / 7 : 1;
}

static inline uint8_t *hblob_varint_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

#endif /* PINGFOLD_HBLOB_H */
