// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aggregator/republish.h"
#include "common/log.h"

#define REPUBLISH_RING	600	/* deltas kept for replay */

/* One customer: what was merged for it since the last tick. */
struct repub_cust {
	char id[64 + WIRE_BOX_MAX + 16], name[128], site[256];	/* id may be "?BOX/KEY" */
	struct hist h[PF_NHALVES];
	bool dirty;
};

struct republisher {
	struct publisher *pub;
	char box[WIRE_BOX_MAX];
	uint64_t epoch, seq, last_ns;
	struct repub_cust *c;		/* key = index */
	uint32_t n, cap;
	uint32_t *idx;			/* open addressing on id: index + 1, 0 = empty */
	uint32_t idx_cap;		/* a power of two, > 2 * n */
	struct republish_counts counts;
};

static uint32_t hash_id(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static int index_grow(struct republisher *r)
{
	uint32_t cap = r->idx_cap ? r->idx_cap * 2 : 1024, i, j;
	uint32_t *idx = calloc(cap, sizeof(*idx));

	if (!idx)
		return -ENOMEM;
	for (i = 0; i < r->n; i++) {
		for (j = hash_id(r->c[i].id) & (cap - 1); idx[j]; j = (j + 1) & (cap - 1))
			;
		idx[j] = i + 1;
	}
	free(r->idx);
	r->idx = idx;
	r->idx_cap = cap;
	return 0;
}

static struct repub_cust *cust_get(struct republisher *r, const char *id)
{
	struct repub_cust *c;
	uint32_t j;

	if (r->idx_cap) {
		for (j = hash_id(id) & (r->idx_cap - 1); r->idx[j]; j = (j + 1) & (r->idx_cap - 1))
			if (!strcmp(r->c[r->idx[j] - 1].id, id))
				return &r->c[r->idx[j] - 1];
	}
	if (2 * (r->n + 1) >= r->idx_cap && index_grow(r))
		return NULL;
	if (r->n == r->cap) {
		uint32_t cap = r->cap ? r->cap * 2 : 64;
		struct repub_cust *n = realloc(r->c, cap * sizeof(*n));

		if (!n)
			return NULL;
		r->c = n;
		r->cap = cap;
	}
	c = &r->c[r->n];
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	hist_init(&c->h[0]);
	hist_init(&c->h[1]);
	for (j = hash_id(id) & (r->idx_cap - 1); r->idx[j]; j = (j + 1) & (r->idx_cap - 1))
		;
	r->idx[j] = ++r->n;
	return c;
}

int republish_take(struct republisher *r, struct store *s, const struct wire_delta *d)
{
	struct hist_sparse h;
	uint32_t i;

	for (i = 0; i < d->nh; i++) {
		char id[sizeof(r->c[0].id)];
		const char *name = store_key_id(s, d->box, d->h[i].key);
		struct repub_cust *c;

		if (name)
			snprintf(id, sizeof(id), "%s", name);
		else
			snprintf(id, sizeof(id), "?%s/%u", d->box, d->h[i].key);
		c = cust_get(r, id);
		if (!c)
			return -ENOMEM;
		wire_delta_get(d, i, &h);
		hist_merge_sparse(&c->h[d->h[i].half & 1], &h);
		c->dirty = true;
	}
	return 0;
}

static int send_catalog(struct republisher *r)
{
	struct wire_catalog cat;
	uint64_t unnamed = 0;
	char *msg;
	size_t len;
	uint32_t i;
	int err = 0;

	wire_catalog_init(&cat);
	snprintf(cat.box, sizeof(cat.box), "%s", r->box);
	cat.epoch = r->epoch;
	cat.seq = r->seq;
	for (i = 0; i < r->n && err != -ENOMEM; i++) {
		err = wire_catalog_add(&cat, i, r->c[i].id, r->c[i].name, r->c[i].site);
		if (err && err != -ENOMEM)
			unnamed++;
	}
	r->counts.unnamed = unnamed;
	err = err == -ENOMEM ? err : wire_encode_catalog(&cat, &msg, &len);
	wire_catalog_free(&cat);
	if (err)
		return err;
	publisher_send(r->pub, msg, len);
	free(msg);
	return 0;
}

/* The delta of every dirty customer; nothing is reset until it is sent. */
static int build_delta(struct republisher *r, uint64_t now, char **msg, size_t *len)
{
	struct wire_delta d;
	struct hist_sparse h;
	uint32_t i;
	int half, err = 0;

	wire_delta_init(&d);
	snprintf(d.box, sizeof(d.box), "%s", r->box);
	d.epoch = r->epoch;
	d.seq = r->seq + 1;
	d.start_ns = r->last_ns;
	d.end_ns = now > r->last_ns ? now : r->last_ns;
	d.scale = PF_HIST_SCALE;
	for (i = 0; i < r->n && !err; i++) {
		if (!r->c[i].dirty)
			continue;
		for (half = 0; half < PF_NHALVES && !err; half++) {
			if (!r->c[i].h[half].count)
				continue;
			hist_to_sparse(&r->c[i].h[half], &h);
			err = wire_delta_add(&d, i, (uint8_t)half, &h);
		}
	}
	err = err ?: wire_encode_delta(&d, msg, len);
	wire_delta_free(&d);
	return err;
}

int republish_tick(struct republisher *r, struct store *s, uint64_t now)
{
	struct store_cust_info ci;
	char *msg;
	size_t len;
	uint32_t i;
	int err;

	/* names as the store has them now, for the customers in this delta */
	for (i = 0; i < r->n; i++) {
		if (r->c[i].dirty && store_customer_info(s, r->c[i].id, &ci) == 0) {
			snprintf(r->c[i].name, sizeof(r->c[i].name), "%s", ci.name);
			snprintf(r->c[i].site, sizeof(r->c[i].site), "%s", ci.site);
		}
	}
	/* the catalog first: a subscriber names every key of the delta after it */
	err = send_catalog(r);
	if (err)
		pr_warn("republish: catalog not sent: %s", strerror(-err));
	err = build_delta(r, now, &msg, &len);
	if (err) {
		r->counts.errors++;
		pr_warn("republish: delta %llu not built (%s); its data stays for the next",
			(unsigned long long)r->seq + 1, strerror(-err));
		return err;
	}
	for (i = 0; i < r->n; i++) {
		if (!r->c[i].dirty)
			continue;
		hist_init(&r->c[i].h[0]);
		hist_init(&r->c[i].h[1]);
		r->c[i].dirty = false;
	}
	r->seq++;
	r->last_ns = now > r->last_ns ? now : r->last_ns;
	r->counts.deltas++;
	publisher_delta(r->pub, r->seq, msg, len);
	return 0;
}

void republish_counts(struct republisher *r, struct republish_counts *c)
{
	struct publisher_counts pc;

	publisher_counts(r->pub, &pc);
	*c = r->counts;
	c->subscribers = pc.subscribers;
}

int republish_open(struct republisher **rp, const struct publisher_opts *pub, uint64_t now)
{
	struct publisher_opts o = *pub;
	struct republisher *r;
	int err;

	*rp = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	snprintf(r->box, sizeof(r->box), "%s", pub->box);
	r->epoch = now;
	r->last_ns = now;
	o.epoch = now;
	o.ring_len = REPUBLISH_RING;
	o.ring_dir = NULL;
	o.catalog_every = 1;
	err = publisher_open(&r->pub, &o);
	if (err) {
		free(r);
		return err;
	}
	*rp = r;
	return 0;
}

void republish_close(struct republisher *r)
{
	if (!r)
		return;
	publisher_close(r->pub, 0);
	free(r->c);
	free(r->idx);
	free(r);
}
