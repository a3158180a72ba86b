// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Histograms as compact blobs (see hblob.h). */
#include <errno.h>
#include <string.h>
#include "common/hblob.h"

size_t hblob_encode(uint8_t *out, const struct hist *h)
{
	uint8_t *p = out + 1;
	unsigned i, last = 0, n = 0;

	p = hblob_varint_put(p, h->count);
	p = hblob_varint_put(p, h->sum);
	p = hblob_varint_put(p, h->min);
	p = hblob_varint_put(p, h->max - h->min);
	for (i = 0; i < PF_HIST_NSLOTS; i++) {
		if (!h->slot[i])
			continue;
		*p++ = (uint8_t)(i - last);
		last = i;
		p = hblob_varint_put(p, h->slot[i]);
		n++;
	}
	out[0] = (uint8_t)n;
	return (size_t)(p - out);
}

/* A varint of at most 10 bytes within [*p, end); -EINVAL otherwise. */
static int get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	unsigned sh;

	for (sh = 0; sh < 70 && *p < end; sh += 7) {
		uint8_t b = *(*p)++;

		if (sh == 63 && b > 1)
			return -EINVAL;		/* past 64 bits */
		x |= (uint64_t)(b & 0x7f) << sh;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -EINVAL;
}

int hblob_add(struct hist *h, const void *blob, size_t len)
{
	const uint8_t *p = blob, *end = p + len;
	uint64_t count, sum, min, span, total = 0, n[PF_HIST_NSLOTS];
	uint16_t slot[PF_HIST_NSLOTS];
	unsigned nb, k, s = 0;

	if (!len)
		return -EINVAL;
	nb = *p++;
	if (!nb || nb > PF_HIST_NSLOTS || get(&p, end, &count) || get(&p, end, &sum) ||
	    get(&p, end, &min) || get(&p, end, &span) || min > UINT64_MAX - span || !count)
		return -EINVAL;
	for (k = 0; k < nb; k++) {
		if (p >= end)
			return -EINVAL;
		s += *p++;
		if ((k && !p[-1]) || s >= PF_HIST_NSLOTS || get(&p, end, &n[k]) || !n[k] ||
		    n[k] > count - total)
			return -EINVAL;
		slot[k] = (uint16_t)s;
		total += n[k];
	}
	if (p != end || total != count ||
	    hist_check_buckets(count, min, min + span, slot, n, sizeof(*slot), sizeof(*n), nb) ||
	    (unsigned __int128)sum < (unsigned __int128)count * min ||
	    (unsigned __int128)sum > (unsigned __int128)count * (min + span) ||
	    h->count > UINT64_MAX - count || h->sum > UINT64_MAX - sum)
		return -EINVAL;
	for (k = 0; k < nb; k++)
		h->slot[slot[k]] += n[k];
	h->count += count;
	h->sum += sum;
	if (min < h->min)
		h->min = min;
	if (min + span > h->max)
		h->max = min + span;
	return 0;
}
