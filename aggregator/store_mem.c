// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Memory of the store: string and key maps, arenas and the period ring, records, scratch sums. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "aggregator/store_int.h"

/* ---- small helpers ------------------------------------------------------- */

uint32_t st_str_hash(const char *p)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*p) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ULL;
	}
	return (uint32_t)(h ^ (h >> 32));
}

/* Grows an array of elem-sized items to hold at least want. */
int st_grow(void *pp, uint32_t *cap, uint32_t want, size_t elem)
{
	uint32_t c = *cap ? *cap : 16;
	void *p;

	if (want <= *cap)
		return 0;
	while (c < want)
		c *= 2;
	p = realloc(*(void **)pp, (size_t)c * elem);
	if (!p)
		return -ENOMEM;
	*(void **)pp = p;
	*cap = c;
	return 0;
}

/* ---- string -> index map ------------------------------------------------- */


uint32_t st_strmap_get(const struct store *s, const struct strmap *m, key_fn kf,
			   const char *key, uint32_t h)
{
	uint32_t i;

	if (!m->cap)
		return NONE;
	for (i = h & (m->cap - 1); m->e[i]; i = (i + 1) & (m->cap - 1)) {
		uint32_t idx = (uint32_t)m->e[i] - 1;

		if ((uint32_t)(m->e[i] >> 32) == h && !strcmp(kf(s, idx), key))
			return idx;
	}
	return NONE;
}

static void strmap_place(uint64_t *e, uint32_t cap, uint64_t v)
{
	uint32_t i;

	for (i = (uint32_t)(v >> 32) & (cap - 1); e[i]; i = (i + 1) & (cap - 1))
		;
	e[i] = v;
}

/* Adds index idx under hash h (the key is not there). */
int st_strmap_put(struct store *s, struct strmap *m, uint32_t h, uint32_t idx)
{
	if ((uint64_t)(m->n + 1) * 4 > (uint64_t)m->cap * 3) {
		uint32_t cap = m->cap ? m->cap * 2 : 64, i;
		uint64_t *e = calloc(cap, sizeof(*e));

		if (!e)
			return -ENOMEM;
		for (i = 0; i < m->cap; i++)
			if (m->e[i])
				strmap_place(e, cap, m->e[i]);
		s->heap_bytes += (size_t)(cap - m->cap) * sizeof(*e);
		free(m->e);
		m->e = e;
		m->cap = cap;
	}
	strmap_place(m->e, m->cap, (uint64_t)h << 32 | (idx + 1));
	m->n++;
	return 0;
}

/* ---- u32 -> u32 map (keys above the dense range) ------------------------- */

static inline uint32_t u32_hash(uint32_t k)
{
	return k * 0x9e3779b1u;
}

uint32_t st_u32map_get(const struct u32map *m, uint32_t key)
{
	uint32_t i;

	if (!m->cap)
		return 0;
	for (i = u32_hash(key) & (m->cap - 1); m->e[i]; i = (i + 1) & (m->cap - 1))
		if ((uint32_t)(m->e[i] >> 32) == key)
			return (uint32_t)m->e[i];
	return 0;
}

int st_u32map_set(struct u32map *m, uint32_t key, uint32_t val)
{
	uint32_t i;

	if ((uint64_t)(m->n + 1) * 2 > m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 16, j;
		uint64_t *e = calloc(cap, sizeof(*e));

		if (!e)
			return -ENOMEM;
		for (j = 0; j < m->cap; j++) {
			if (!m->e[j])
				continue;
			for (i = u32_hash((uint32_t)(m->e[j] >> 32)) & (cap - 1); e[i];
			     i = (i + 1) & (cap - 1))
				;
			e[i] = m->e[j];
		}
		free(m->e);
		m->e = e;
		m->cap = cap;
	}
	for (i = u32_hash(key) & (m->cap - 1); m->e[i]; i = (i + 1) & (m->cap - 1)) {
		if ((uint32_t)(m->e[i] >> 32) == key) {
			m->e[i] = (uint64_t)key << 32 | val;
			return 0;
		}
	}
	m->e[i] = (uint64_t)key << 32 | val;
	m->n++;
	return 0;
}

void st_u32map_clear(struct u32map *m)
{
	free(m->e);
	memset(m, 0, sizeof(*m));
}

/* ---- arenas and the ring ------------------------------------------------- */

/*
 * Chunks of CHUNK_MAX are mapped with huge pages where the kernel allows
 * (one fault per 2 MiB instead of 512), and kept in a pool when their slot
 * is dropped, up to the size of the largest slot seen: in steady state a
 * new slot reuses the memory of the one that left the ring.
 */
static struct chunk *chunk_get(struct store *s, size_t sz)
{
	struct chunk *c;

	if (sz == CHUNK_MAX && s->pool) {
		c = s->pool;
		s->pool = c->next;
		s->pool_bytes -= CHUNK_MAX;
		return c;
	}
	if (sz == CHUNK_MAX) {
		c = mmap(NULL, CHUNK_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (c == MAP_FAILED)
			return NULL;
		madvise(c, CHUNK_MAX, MADV_HUGEPAGE);	/* a hint: failure is fine */
		c->size = CHUNK_MAX - sizeof(*c);
		return c;
	}
	c = malloc(sizeof(*c) + sz);
	if (c)
		c->size = sz;
	return c;
}

static void chunk_put(struct store *s, struct chunk *c, bool keep)
{
	if (c->size != CHUNK_MAX - sizeof(*c)) {
		free(c);
	} else if (keep && s->pool_bytes + CHUNK_MAX <= s->pool_max) {
		c->next = s->pool;
		s->pool = c;
		s->pool_bytes += CHUNK_MAX;
	} else {
		munmap(c, CHUNK_MAX);
	}
}

void st_arena_free(struct store *s, struct arena *a, bool keep)
{
	struct chunk *c, *n;

	if (a->bytes > s->pool_max)
		s->pool_max = a->bytes;
	for (c = a->chunks; c; c = n) {
		n = c->next;
		chunk_put(s, c, keep);
	}
	s->arena_bytes -= a->bytes;
	memset(a, 0, sizeof(*a));
	a->slot = SLOT_NONE;
}

/* The arena of live slot a. */
struct arena *st_arena_of(struct store *s, uint64_t a)
{
	struct arena *ar = &s->arenas[a % s->ns];

	if (ar->slot != a) {
		st_arena_free(s, ar, true);	/* an older slot: no longer live */
		ar->slot = a;
	}
	return ar;
}

static void *arena_alloc(struct store *s, struct arena *a, size_t n)
{
	void *p;

	n = (n + 7) & ~(size_t)7;
	if (n > a->left) {
		size_t sz = a->next_size ? a->next_size : CHUNK_MIN;
		struct chunk *c;

		if (sz < n)
			sz = n;
		c = chunk_get(s, sz);
		if (!c)
			return NULL;
		c->next = a->chunks;
		a->chunks = c;
		a->cur = c->data;
		a->left = c->size;
		a->bytes += sizeof(*c) + c->size;
		s->arena_bytes += sizeof(*c) + c->size;
		a->next_size = sz * 2 > CHUNK_MAX ? CHUNK_MAX : sz * 2;
	}
	p = a->cur;
	a->cur += n;
	a->left -= n;
	return p;
}


void store_advance(struct store *s, uint64_t now_ns)
{
	uint64_t S = now_ns / s->o.slot_ns;
	uint32_t i;

	if (s->started && S <= s->cur)
		return;
	for (i = 0; i < s->ns; i++) {
		struct arena *a = &s->arenas[i];
		const struct dslot *f;

		if (a->slot == SLOT_NONE || S - a->slot < s->ns)
			continue;
		f = &s->fleet[a->slot % s->ns];
		if (f->slot == a->slot && f->h) {
			s->ring_count -= f->h[0].count + f->h[1].count;
			s->ring_sum -= f->h[0].sum + f->h[1].sum;
		}
		st_arena_free(s, a, true);
	}
	s->cur = S;
	s->started = true;
	if (s->o.forget_ns != UINT64_MAX && now_ns - s->last_forget_ns >= FORGET_EVERY_NS) {
		s->last_forget_ns = now_ns;
		st_forget(s, now_ns);
	}
}

/* The dense histograms of live slot a in a ring, allocated on first use. */
static struct hist *dslot_get(struct store *s, struct dslot *ring, uint64_t a)
{
	struct dslot *d = &ring[a % s->ns];

	if (d->slot != a || !d->h) {
		struct hist *h = arena_alloc(s, st_arena_of(s, a), PF_NHALVES * sizeof(*h));

		if (!h)
			return NULL;
		hist_init(&h[0]);
		hist_init(&h[1]);
		d->slot = a;
		d->h = h;
	}
	return d->h;
}

struct dslot *st_ring_new(struct store *s)
{
	struct dslot *r = malloc((size_t)s->ns * sizeof(*r));
	uint32_t i;

	if (!r)
		return NULL;
	for (i = 0; i < s->ns; i++)
		r[i] = (struct dslot){ .slot = SLOT_NONE };
	s->heap_bytes += (size_t)s->ns * sizeof(*r);
	return r;
}

/* ---- records ------------------------------------------------------------- */

static inline size_t rec_size(unsigned cap, bool wide)
{
	return rec_cnt_off(cap) + (size_t)cap * (wide ? 8 : 4);
}


/* A record of at least cap buckets, using the padding of its size too. */
static struct rec *rec_alloc(struct store *s, struct arena *a, unsigned cap, bool wide)
{
	struct rec *r;
	size_t sz;

	if (cap > PF_HIST_NSLOTS)
		cap = PF_HIST_NSLOTS;
	sz = (rec_size(cap, wide) + 7) & ~(size_t)7;
	while (cap < PF_HIST_NSLOTS && rec_size(cap + 1, wide) <= sz)
		cap++;
	r = arena_alloc(s, a, sz);
	if (r) {
		r->cap = (uint8_t)cap;
		r->wide = wide;
		r->n = 0;
	}
	return r;
}

/*
 * A record is wide (u64 counts) when its count needs more than 32 bits:
 * no bucket can hold more than the count.
 */
static inline bool need_wide(uint64_t a, uint64_t b)
{
	return a > UINT32_MAX || b > UINT32_MAX - a;
}

/* A new record holding one wire histogram. */
static struct rec *rec_new(struct store *s, struct arena *a, const struct wire_hist *wh,
			   const struct wire_bucket *b)
{
	bool wide = need_wide(wh->count, 0);
	struct rec *r = rec_alloc(s, a, wh->nb + REC_SLACK, wide);
	void *p;
	unsigned k;

	if (!r)
		return NULL;
	p = (char *)r + rec_cnt_off(r->cap);
	for (k = 0; k < wh->nb; k++)
		r->idx[k] = (uint8_t)b[k].slot;
	if (wide)
		for (k = 0; k < wh->nb; k++)
			((uint64_t *)p)[k] = b[k].n;
	else
		for (k = 0; k < wh->nb; k++)
			((uint32_t *)p)[k] = (uint32_t)b[k].n;
	r->n = (uint8_t)wh->nb;
	r->count = wh->count;
	r->sum = wh->sum;
	r->min = wh->min;
	r->max = wh->max;
	return r;
}

/*
 * The union of r's buckets and b's into idx[]/cnt[], in slot order.
 * Returns how many. The loop takes both sides without a branch on which.
 */
static unsigned rec_union(const struct rec *r, const struct wire_bucket *b, unsigned nb,
			  uint8_t *idx, uint64_t *cnt)
{
	unsigned i = 0, j = 0, n = 0;

	while (i < r->n && j < nb) {
		unsigned si = r->idx[i], sj = b[j].slot;
		uint64_t ti = si <= sj, tj = sj <= si;

		idx[n] = (uint8_t)(ti ? si : sj);
		cnt[n++] = (rec_cnt(r, i) & -ti) + (b[j].n & -tj);
		i += (unsigned)ti;
		j += (unsigned)tj;
	}
	for (; i < r->n; i++, n++) {
		idx[n] = r->idx[i];
		cnt[n] = rec_cnt(r, i);
	}
	for (; j < nb; j++, n++) {
		idx[n] = (uint8_t)b[j].slot;
		cnt[n] = b[j].n;
	}
	return n;
}

/* Writes n buckets into r (cap >= n). */
static void rec_fill(struct rec *r, const uint8_t *idx, const uint64_t *cnt, unsigned n)
{
	void *p = (char *)r + rec_cnt_off(r->cap);
	unsigned k;

	memcpy(r->idx, idx, n);
	if (r->wide)
		memcpy(p, cnt, n * sizeof(uint64_t));
	else
		for (k = 0; k < n; k++)
			((uint32_t *)p)[k] = (uint32_t)cnt[k];
	r->n = (uint8_t)n;
}

/*
 * Adds a wire histogram to the record *link (of the arena's slot). When r
 * has all of b's slots (the steady state of a customer), each count goes
 * to its place through a slot -> position table, no search; else the
 * union is built and written back, into a larger copy if need be.
 */
static int rec_merge(struct store *s, struct arena *ar, struct rec **link,
		     const struct wire_hist *wh, const struct wire_bucket *b)
{
	uint64_t rm[4] = { 0 }, cnt[PF_HIST_NSLOTS];
	struct rec *r = *link;
	bool wide = r->wide || need_wide(r->count, wh->count);
	uint8_t pos[256], idx[PF_HIST_NSLOTS];
	unsigned k, extra = 0, n;

	for (k = 0; k < r->n; k++) {
		pos[r->idx[k]] = (uint8_t)k;
		rm[r->idx[k] >> 6] |= 1ULL << (r->idx[k] & 63);
	}
	for (k = 0; k < wh->nb; k++)
		extra += !(rm[b[k].slot >> 6] >> (b[k].slot & 63) & 1);
	if (!extra && wide == r->wide) {
		void *p = (char *)r + rec_cnt_off(r->cap);

		if (wide)
			for (k = 0; k < wh->nb; k++)
				((uint64_t *)p)[pos[b[k].slot]] += b[k].n;
		else
			for (k = 0; k < wh->nb; k++)
				((uint32_t *)p)[pos[b[k].slot]] += (uint32_t)b[k].n;
	} else {
		n = rec_union(r, b, wh->nb, idx, cnt);
		if (n > r->cap || wide != r->wide) {
			struct rec *g = rec_alloc(s, ar, n + 4, wide);

			if (!g)
				return -ENOMEM;
			g->prev = r->prev;
			g->prev_slot = r->prev_slot;
			g->count = r->count;
			g->sum = r->sum;
			g->min = r->min;
			g->max = r->max;
			*link = r = g;
		}
		rec_fill(r, idx, cnt, n);
	}
	r->count += wh->count;
	r->sum += wh->sum;
	if (wh->min < r->min)
		r->min = wh->min;
	if (wh->max > r->max)
		r->max = wh->max;
	return 0;
}

/* Merges one wire histogram into a customer-half at live slot a. */
int st_chalf_add(struct store *s, struct arena *ar, struct chalf *ch, uint64_t a,
		     const struct wire_hist *wh, const struct wire_bucket *b)
{
	struct rec **link = &ch->head;
	uint64_t *lslot = &ch->head_slot;
	struct rec *r;

	/* newest first: walk past newer records (a replayed older delta) */
	while (*link && slot_live(s, *lslot) && *lslot > a) {
		r = *link;
		link = &r->prev;
		lslot = &r->prev_slot;
	}
	if (*link && !slot_live(s, *lslot))
		*link = NULL;		/* the rest was freed with its slots */
	if (*link && *lslot == a)
		return rec_merge(s, ar, link, wh, b);
	r = rec_new(s, ar, wh, b);
	if (!r)
		return -ENOMEM;
	r->prev = *link;
	r->prev_slot = *link ? *lslot : SLOT_NONE;
	*link = r;
	*lslot = a;
	return 0;
}

/* ---- scratch histograms ------------------------------------------------- */

void st_scratch_init(struct scratch *t)
{
	hist_init(&t->h[0]);
	hist_init(&t->h[1]);
	t->lo = PF_HIST_NSLOTS;
	t->hi = 0;
	t->next = NONE;
	t->on = false;
}

static void scratch_clear(struct scratch *t)
{
	unsigned h;

	for (h = 0; h < PF_NHALVES; h++) {
		if (t->lo <= t->hi)
			memset(&t->h[h].slot[t->lo], 0, (t->hi - t->lo + 1) * sizeof(uint64_t));
		t->h[h].count = 0;
		t->h[h].sum = 0;
		t->h[h].min = UINT64_MAX;
		t->h[h].max = 0;
	}
	t->lo = PF_HIST_NSLOTS;
	t->hi = 0;
	t->on = false;
}


/* dst += src over the slots src touched. */
static void scratch_merge_into(struct hist dst[PF_NHALVES], const struct scratch *t)
{
	unsigned h, i;

	for (h = 0; h < PF_NHALVES; h++) {
		const struct hist *src = &t->h[h];

		if (!src->count)
			continue;
		for (i = t->lo; i <= t->hi; i++)
			dst[h].slot[i] += src->slot[i];
		dst[h].count += src->count;
		dst[h].sum += src->sum;
		if (src->min < dst[h].min)
			dst[h].min = src->min;
		if (src->max > dst[h].max)
			dst[h].max = src->max;
	}
}

static void scratch_merge_scratch(struct scratch *dst, const struct scratch *t)
{
	scratch_merge_into(dst->h, t);
	if (t->lo < dst->lo)
		dst->lo = t->lo;
	if (t->hi > dst->hi)
		dst->hi = t->hi;
}

void st_site_touch(struct store *s, uint32_t site)
{
	struct scratch *t = &s->sscr[site];
	uint32_t d = s->sites[site]->depth;

	if (t->on)
		return;
	t->on = true;
	t->next = s->dhead[d];
	s->dhead[d] = site;
	if (d > s->maxdepth)
		s->maxdepth = d;
}

/* The touched sites bottom-up, then the box and the fleet, at slot a. */
int st_scratch_flush(struct store *s, struct box *bx, uint64_t a)
{
	struct hist *h;
	uint32_t d, i;
	int err = 0;

	for (d = s->maxdepth + 1; d-- > 0;) {
		while ((i = s->dhead[d]) != NONE) {
			struct scratch *t = &s->sscr[i];
			uint32_t p = s->sites[i]->parent;

			s->dhead[d] = t->next;
			h = dslot_get(s, s->sites[i]->ring, a);
			if (h)
				scratch_merge_into(h, t);
			else
				err = -ENOMEM;
			if (p != NONE) {
				st_site_touch(s, p);
				scratch_merge_scratch(&s->sscr[p], t);
			} else {
				scratch_merge_scratch(&s->bscr, t);
			}
			scratch_clear(t);
		}
	}
	s->maxdepth = 0;
	h = dslot_get(s, bx->ring, a);
	if (h)
		scratch_merge_into(h, &s->bscr);
	h = h ? dslot_get(s, s->fleet, a) : NULL;
	if (h)
		scratch_merge_into(h, &s->bscr);
	else
		err = -ENOMEM;
	scratch_clear(&s->bscr);
	return err;
}

