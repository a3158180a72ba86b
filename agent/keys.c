// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/keys.h"

int keys_init(struct keys *k, uint32_t n)
{
	memset(k, 0, sizeof(*k));
	k->v = calloc(n ? n : 1, sizeof(*k->v));
	if (!k->v)
		return -ENOMEM;
	k->n = n;
	return 0;
}

void keys_free(struct keys *k)
{
	custlist_free(&k->cust);
	free(k->cust_key);
	free(k->v);
	memset(k, 0, sizeof(*k));
}

void key_plan_free(struct key_plan *plan)
{
	free(plan->cust_key);
	free(plan->stale);
	memset(plan, 0, sizeof(*plan));
}

static int cmp_prefix(const void *x, const void *y)
{
	return memcmp(x, y, sizeof(struct prefix));
}

/* A prefix of the new list and the customer (index into it) it belongs to. */
struct prefix_owner {
	struct prefix p;
	uint32_t cust;
};

static int cmp_owner(const void *x, const void *y)
{
	return cmp_prefix(&((const struct prefix_owner *)x)->p, &((const struct prefix_owner *)y)->p);
}

static bool key_free(const struct keys *k, const bool *taken, uint32_t s, uint64_t seq)
{
	const struct key_slot *v = &k->v[s];

	return !taken[s] && !v->used && !(v->named && seq < v->freed_seq + KEYS_QUARANTINE);
}

int keys_plan(const struct keys *k, const struct custlist *l, const struct key_pin *trie,
	      size_t ntrie, uint64_t seq, struct key_plan *plan, const struct cust **full)
{
	struct prefix_owner *po = NULL, key, *hit;
	uint32_t *want = NULL, j, s, cursor = 0, t;
	bool *taken = NULL;
	size_t i, npo = 0;
	int err = -ENOMEM;

	memset(plan, 0, sizeof(*plan));
	*full = NULL;
	plan->cust_key = malloc((l->n + 1) * sizeof(*plan->cust_key));
	plan->stale = malloc((ntrie + 1) * sizeof(*plan->stale));
	want = malloc((l->n + 1) * sizeof(*want));
	po = malloc((l->nprefixes + 1) * sizeof(*po));
	taken = calloc(k->n ? k->n : 1, sizeof(*taken));
	if (!plan->cust_key || !plan->stale || !want || !po || !taken)
		goto out;
	for (i = 0; i < l->n; i++) {
		const struct cust *old = custlist_find(&k->cust, l->v[i].id);

		want[i] = old ? k->cust_key[old - k->cust.v] : KEYS_NONE;
		for (j = 0; j < l->v[i].nprefixes; j++)
			po[npo++] = (struct prefix_owner){ l->v[i].prefixes[j], (uint32_t)i };
	}
	qsort(po, npo, sizeof(*po), cmp_owner);
	/* the trie: keys of an earlier agent's customers, and what is stale */
	for (i = 0; i < ntrie; i++) {
		key.p = trie[i].p;
		hit = bsearch(&key, po, npo, sizeof(*po), cmp_owner);
		if (!hit) {
			plan->stale[plan->nstale++] = trie[i].p;
		} else if (want[hit->cust] == KEYS_NONE) {
			want[hit->cust] = trie[i].key;
			plan->nrecovered++;
		}
	}
	/* a key wanted twice goes to the first; the other gets a free one */
	for (i = 0; i < l->n; i++) {
		s = want[i];
		if (s != KEYS_NONE && (s >= k->n || taken[s]))
			s = KEYS_NONE;
		plan->cust_key[i] = s;
		if (s != KEYS_NONE)
			taken[s] = true;
	}
	for (i = 0; i < l->n; i++) {
		if (plan->cust_key[i] != KEYS_NONE)
			continue;
		for (t = 0, s = KEYS_NONE; t < k->n && s == KEYS_NONE; t++)
			if (key_free(k, taken, (cursor + t) % k->n, seq))
				s = (cursor + t) % k->n;
		if (s == KEYS_NONE) {
			*full = &l->v[i];
			err = -ENOSPC;
			goto out;
		}
		cursor = s + 1;
		taken[s] = true;
		plan->cust_key[i] = s;
	}
	err = 0;
out:
	if (err)
		key_plan_free(plan);
	free(want);
	free(po);
	free(taken);
	return err;
}

void keys_apply(struct keys *k, struct custlist *l, struct key_plan *plan, uint64_t seq)
{
	uint32_t s;
	size_t i;

	for (s = 0; s < k->n; s++) {
		if (k->v[s].used) {
			k->v[s].used = false;
			k->v[s].freed_seq = seq;
		}
	}
	for (i = 0; i < l->n; i++) {
		struct key_slot *v = &k->v[plan->cust_key[i]];

		v->used = true;
		v->named = true;
		v->c.key = plan->cust_key[i];
		snprintf(v->c.id, sizeof(v->c.id), "%s", l->v[i].id);
		snprintf(v->c.name, sizeof(v->c.name), "%s", l->v[i].name);
		snprintf(v->c.site, sizeof(v->c.site), "%s", l->v[i].site);
	}
	free(k->cust_key);
	k->cust_key = plan->cust_key;
	plan->cust_key = NULL;
	custlist_free(&k->cust);
	k->cust = *l;
	memset(l, 0, sizeof(*l));
}
