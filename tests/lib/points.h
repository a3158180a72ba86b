/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* Points for the history store, made as the store makes them (tests, benchmarks). */
#ifndef PINGFOLD_TESTS_POINTS_H
#define PINGFOLD_TESTS_POINTS_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "aggregator/store.h"
#include "common/hblob.h"

/* Appends a point of histogram h (count > 0): 0 or -ENOMEM. */
static inline int pts_add(struct store_points *p, uint8_t kind, const char *name,
			  const char *site, uint8_t half, uint32_t res, uint64_t start,
			  const struct hist *h)
{
	uint8_t blob[HBLOB_MAX];
	size_t len = hblob_encode(blob, h), nl = strlen(name) + 1, sl = strlen(site) + 1;
	struct store_point *pt;

	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 1024;
		struct store_point *np = realloc(p->p, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		p->p = np;
		p->cap = cap;
	}
	if (p->len + nl + sl + len > p->cap_buf) {
		size_t cap = 2 * (p->len + nl + sl + len);
		char *nb = realloc(p->buf, cap);

		if (!nb)
			return -ENOMEM;
		p->buf = nb;
		p->cap_buf = cap;
	}
	pt = &p->p[p->n++];
	*pt = (struct store_point){ .kind = kind, .half = half, .res_s = res, .start_s = start };
	pt->name = (uint32_t)p->len;
	memcpy(p->buf + p->len, name, nl);
	p->len += nl;
	pt->site = (uint32_t)p->len;
	memcpy(p->buf + p->len, site, sl);
	p->len += sl;
	pt->blob = (uint32_t)p->len;
	pt->len = (uint32_t)len;
	memcpy(p->buf + p->len, blob, len);
	p->len += len;
	return 0;
}

#endif /* PINGFOLD_TESTS_POINTS_H */
