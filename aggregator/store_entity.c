// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Customers, sites, boxes and their keys; forgetting customers nobody names. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "aggregator/store_int.h"

/* ---- entities ------------------------------------------------------------ */

/* The customer with this id, created (with name and no site) if asked. */
uint32_t st_cust_get(struct store *s, const char *id, bool create, int *err)
{
	uint32_t h = st_str_hash(id), i = st_strmap_get(s, &s->cmap, st_cust_key, id, h);
	size_t idlen = strlen(id);
	struct cust *c;

	if (i != NONE || !create)
		return i;
	if (s->nlive >= s->o.max_customers) {
		*err = -ENOSPC;
		return NONE;
	}
	if (s->ncfree) {		/* a forgotten customer's place */
		i = s->cfree[s->ncfree - 1];
		c = cust_at(s, i);
		memset(c, 0, sizeof(*c));
		c->str = malloc(idlen + 2);
		if (!c->str || st_strmap_put(s, &s->cmap, h, i)) {
			free(c->str);
			c->str = NULL;
			goto nomem;
		}
		memcpy(c->str, id, idlen + 1);
		c->str[idlen + 1] = '\0';
		c->site = NONE;
		c->excluded = st_is_excluded(s, id);
		st_chalf_init(&c->h[0]);
		st_chalf_init(&c->h[1]);
		s->ncfree--;
		s->nlive++;
		s->heap_bytes += idlen + 2;
		return i;
	}
	if (s->ncust >= KV_UNNAMED - 1)
		goto nomem;
	if ((s->ncust >> CPAGE_SHIFT) >= s->npage) {
		if (st_grow(&s->cpage, &s->cpage_cap, s->npage + 1, sizeof(*s->cpage)))
			goto nomem;
		s->cpage[s->npage] = malloc(CPAGE_SIZE * sizeof(struct cust));
		if (!s->cpage[s->npage])
			goto nomem;
		s->npage++;
		s->heap_bytes += CPAGE_SIZE * sizeof(struct cust);
	}
	c = cust_at(s, s->ncust);
	memset(c, 0, sizeof(*c));
	c->str = malloc(idlen + 2);
	if (!c->str)
		goto nomem;
	memcpy(c->str, id, idlen + 1);
	c->str[idlen + 1] = '\0';
	c->site = NONE;
	c->excluded = st_is_excluded(s, id);
	st_chalf_init(&c->h[0]);
	st_chalf_init(&c->h[1]);
	if (st_strmap_put(s, &s->cmap, h, s->ncust)) {
		free(c->str);
		goto nomem;
	}
	s->heap_bytes += idlen + 2;
	s->nlive++;
	return s->ncust++;
nomem:
	*err = -ENOMEM;
	return NONE;
}

int st_cust_set_name(struct store *s, struct cust *c, const char *name)
{
	size_t idlen = strlen(c->str), nlen = strlen(name);
	char *p;

	if (!strcmp(c->str + idlen + 1, name))
		return 0;
	p = realloc(c->str, idlen + nlen + 2);
	if (!p)
		return -ENOMEM;
	memcpy(p + idlen + 1, name, nlen + 1);
	s->heap_bytes += nlen;
	c->str = p;
	return 0;
}

/* "/a//b/" -> "a/b"; 0 or -ENAMETOOLONG. */
int st_site_norm(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	while (*in) {
		size_t len;

		while (*in == '/')
			in++;
		len = strcspn(in, "/");
		if (!len)
			break;
		if (n + !!n + len >= cap)
			return -ENAMETOOLONG;
		if (n)
			out[n++] = '/';
		memcpy(out + n, in, len);
		n += len;
		in += len;
	}
	out[n] = '\0';
	return 0;
}

/* The site of a normalised, non-empty path, created with its ancestors if asked. */
uint32_t st_site_get(struct store *s, const char *path, bool create, int *err)
{
	uint32_t h = st_str_hash(path), i = st_strmap_get(s, &s->smap, st_site_key, path, h);
	uint32_t parent = NONE, depth = 0;
	const char *slash = strrchr(path, '/');
	struct site *st;

	if (i != NONE || !create)
		return i;
	if (s->nsite >= s->o.max_sites) {
		*err = -ENOSPC;
		return NONE;
	}
	if (slash) {
		char up[256];

		snprintf(up, sizeof(up), "%.*s", (int)(slash - path), path);
		parent = st_site_get(s, up, true, err);
		if (parent == NONE)
			return NONE;
		depth = s->sites[parent]->depth + 1;
		if (depth >= DEPTH_MAX)
			goto inval;
	}
	if (st_grow(&s->sites, &s->site_cap, s->nsite + 1, sizeof(*s->sites)))
		goto nomem;
	if (s->sscr_cap < s->site_cap) {	/* no merge is under way here */
		struct scratch *t = realloc(s->sscr, (size_t)s->site_cap * sizeof(*t));
		uint32_t k;

		if (!t)
			goto nomem;
		for (k = s->sscr_cap; k < s->site_cap; k++)
			st_scratch_init(&t[k]);
		s->heap_bytes += (size_t)(s->site_cap - s->sscr_cap) * sizeof(*t);
		s->sscr = t;
		s->sscr_cap = s->site_cap;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		goto nomem;
	st->path = strdup(path);
	if (!st->path) {
		free(st);
		goto nomem;
	}
	st_chalf_init(&st->h[0]);
	st_chalf_init(&st->h[1]);
	st->parent = parent;
	st->depth = depth;
	if (st_strmap_put(s, &s->smap, h, s->nsite)) {
		free(st->path);
		free(st);
		goto nomem;
	}
	s->sites[s->nsite] = st;
	s->heap_bytes += sizeof(*st) + strlen(path) + 1;
	return s->nsite++;
inval:
	*err = -EINVAL;
	return NONE;
nomem:
	*err = -ENOMEM;
	return NONE;
}

struct box *st_box_get(struct store *s, const char *id, bool create, int *err)
{
	uint32_t h = st_str_hash(id), i = st_strmap_get(s, &s->bmap, st_box_key, id, h);
	struct box *b;

	if (i != NONE)
		return s->boxes[i];
	if (!create)
		return NULL;
	if (s->nbox >= s->o.max_boxes) {
		*err = -ENOSPC;
		return NULL;
	}
	if (st_grow(&s->boxes, &s->box_cap, s->nbox + 1, sizeof(*s->boxes)))
		goto nomem;
	b = calloc(1, sizeof(*b));
	if (!b)
		goto nomem;
	snprintf(b->id, sizeof(b->id), "%s", id);
	st_chalf_init(&b->h[0]);
	st_chalf_init(&b->h[1]);
	b->idx = s->nbox;
	if (st_strmap_put(s, &s->bmap, h, s->nbox)) {
		free(b);
		goto nomem;
	}
	s->boxes[s->nbox++] = b;
	s->heap_bytes += sizeof(*b);
	return b;
nomem:
	*err = -ENOMEM;
	return NULL;
}


/* Keys far above the box's key count go to the hash (see Bounds). */
int st_key_set(struct store *s, struct box *b, uint32_t key, uint32_t v)
{
	if (key >= KMAP_DENSE_MAX || (key >= b->kmap_len && key / 4 > b->kmap_keys + 256))
		return st_u32map_set(&b->big, key, v);
	if (key >= b->kmap_len) {
		uint32_t len = b->kmap_len ? b->kmap_len : 1024, *m;

		while (len <= key)
			len *= 2;
		m = realloc(b->kmap, (size_t)len * sizeof(*m));
		if (!m)
			return -ENOMEM;
		memset(m + b->kmap_len, 0, (size_t)(len - b->kmap_len) * sizeof(*m));
		s->heap_bytes += (size_t)(len - b->kmap_len) * sizeof(*m);
		b->kmap = m;
		b->kmap_len = len;
	}
	b->kmap[key] = v;
	return 0;
}

/* A key the box's catalog does not name: customer "?BOX/KEY". */
uint32_t st_key_unnamed(struct store *s, struct box *b, uint32_t key, int *err)
{
	char id[WIRE_BOX_MAX + 16];
	uint32_t i;

	snprintf(id, sizeof(id), "?%s/%u", b->id, key);
	i = st_cust_get(s, id, true, err);
	if (i == NONE)
		return 0;
	b->unnamed_keys++;
	b->kmap_keys++;
	if ((*err = st_key_set(s, b, key, (i + 1) | KV_UNNAMED)))
		return 0;
	return (i + 1) | KV_UNNAMED;
}

/* ---- forgetting ---------------------------------------------------------- */

/* Takes entry idx (hash h) out of m: backward-shift deletion (linear probing). */
static void strmap_del(struct strmap *m, uint32_t h, uint32_t idx)
{
	uint32_t mask = m->cap - 1, i, j;

	if (!m->cap)
		return;
	for (i = h & mask; m->e[i] && (uint32_t)m->e[i] != idx + 1; i = (i + 1) & mask)
		;
	if (!m->e[i])
		return;
	m->e[i] = 0;
	m->n--;
	for (j = (i + 1) & mask; m->e[j]; j = (j + 1) & mask) {
		uint32_t k = (uint32_t)(m->e[j] >> 32) & mask;	/* its home */

		/* it may move to the hole i unless its home lies in (i, j] */
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			m->e[i] = m->e[j];
			m->e[j] = 0;
			i = j;
		}
	}
}

/*
 * Forgets the customers no box's catalog names, with nothing in any window,
 * not named nor merged into for forget_ns: their index is reused. An
 * unnamed one ("?BOX/KEY") leaves its box's key map too.
 */
void st_forget(struct store *s, uint64_t now_ns)
{
	uint32_t i;

	for (i = 0; i < s->ncust; i++) {
		struct cust *c = cust_at(s, i);
		const char *slash;
		size_t len;

		if (!c->str || c->nboxes || now_ns <= c->seen_ns ||
		    now_ns - c->seen_ns <= s->o.forget_ns ||
		    st_chalf_live(s, &c->h[0]) || st_chalf_live(s, &c->h[1]))
			continue;
		if (st_grow(&s->cfree, &s->cfree_cap, s->ncfree + 1, sizeof(*s->cfree)))
			return;
		slash = strrchr(c->str, '/');
		if (c->str[0] == '?' && slash && (size_t)(slash - c->str - 1) < WIRE_BOX_MAX) {
			char box[WIRE_BOX_MAX];
			uint32_t key = (uint32_t)strtoul(slash + 1, NULL, 10);
			struct box *bx;

			snprintf(box, sizeof(box), "%.*s", (int)(slash - c->str - 1), c->str + 1);
			bx = wire_box_ok(box) ? st_box_get(s, box, false, NULL) : NULL;
			if (bx && key_get(bx, key) == ((i + 1) | KV_UNNAMED)) {
				st_key_set(s, bx, key, 0);
				if (bx->unnamed_keys)
					bx->unnamed_keys--;
			}
		}
		strmap_del(&s->cmap, st_str_hash(c->str), i);
		len = strlen(c->str) + 1;
		len += strlen(c->str + len) + 1;
		s->heap_bytes -= len;
		free(c->str);
		memset(c, 0, sizeof(*c));
		c->site = NONE;
		s->cfree[s->ncfree++] = i;
		s->nlive--;
		s->forgotten++;
	}
}

uint32_t store_ncustomers(const struct store *s, uint64_t *forgotten)
{
	if (forgotten)
		*forgotten = s->forgotten;
	return s->nlive;
}


/* ---- excluded customers ---------------------------------------------------- */

static int str_pcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool st_is_excluded(const struct store *s, const char *id)
{
	return s->nexcl && bsearch(&id, s->excl, s->nexcl, sizeof(*s->excl), str_pcmp);
}

int store_set_excluded(struct store *s, const char *const *ids, size_t n)
{
	char **v = n ? calloc(n, sizeof(*v)) : NULL;
	size_t i, k = 0;
	uint32_t c;
	int changed = 0;

	if (n && !v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (!(v[i] = strdup(ids[i]))) {
			while (i--)
				free(v[i]);
			free(v);
			return -ENOMEM;
		}
	}
	if (n)
		qsort(v, n, sizeof(*v), str_pcmp);
	for (i = 0; i < n; i++)		/* once each */
		if (!k || strcmp(v[k - 1], v[i]))
			v[k++] = v[i];
		else
			free(v[i]);
	for (i = 0; i < s->nexcl; i++)
		free(s->excl[i]);
	free(s->excl);
	s->excl = v;
	s->nexcl = k;
	for (c = 0; c < s->ncust; c++) {
		struct cust *cu = cust_at(s, c);
		bool x;

		if (!cu->str)
			continue;
		x = st_is_excluded(s, cu->str);
		changed += x != cu->excluded;
		cu->excluded = x;
	}
	return changed;
}
