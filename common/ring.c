// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ring.h"

int ring_init(struct ring *r, uint32_t cap, uint64_t epoch)
{
	memset(r, 0, sizeof(*r));
	if (!cap)
		return -EINVAL;
	r->e = calloc(cap, sizeof(*r->e));
	if (!r->e)
		return -ENOMEM;
	r->cap = cap;
	r->epoch = epoch;
	pthread_mutex_init(&r->lock, NULL);
	return 0;
}

void ring_free(struct ring *r)
{
	uint32_t i;

	if (!r->e)
		return;
	for (i = 0; i < r->cap; i++)
		free(r->e[i].msg);
	free(r->e);
	pthread_mutex_destroy(&r->lock);
	memset(r, 0, sizeof(*r));
}

void ring_push(struct ring *r, uint64_t seq, char *msg, size_t len)
{
	struct ring_entry *e = &r->e[seq % r->cap];

	pthread_mutex_lock(&r->lock);
	r->bytes -= e->len;
	free(e->msg);
	e->seq = seq;
	e->msg = msg;
	e->len = len;
	r->bytes += len;
	pthread_mutex_unlock(&r->lock);
}

int ring_get(struct ring *r, uint64_t epoch, uint64_t first, uint64_t last, uint32_t max,
	     struct ring_entry *out, uint64_t *oldest)
{
	uint64_t seq, lo = 0, hi = 0;
	uint32_t i, n = 0;
	int err = 0;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < r->cap; i++) {
		if (r->e[i].seq && (!lo || r->e[i].seq < lo))
			lo = r->e[i].seq;
		if (r->e[i].seq > hi)
			hi = r->e[i].seq;
	}
	*oldest = lo;
	if (epoch != r->epoch) {
		err = -ESRCH;
		goto out;
	}
	/* only what the ring can hold: a hostile range costs nothing */
	if (first < lo)
		first = lo;
	if (last > hi)
		last = hi;
	for (seq = first; lo && seq <= last && n < max; seq++) {
		struct ring_entry *e = &r->e[seq % r->cap];

		if (e->seq != seq)
			continue;
		out[n].msg = malloc(e->len);
		if (!out[n].msg) {
			err = -ENOMEM;
			break;
		}
		memcpy(out[n].msg, e->msg, e->len);
		out[n].len = e->len;
		out[n].seq = seq;
		n++;
	}
out:
	pthread_mutex_unlock(&r->lock);
	if (err) {
		while (n)
			free(out[--n].msg);
		return err;
	}
	return (int)n;
}
