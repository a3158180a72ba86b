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
#include "common/hblob.h"

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
	if (!keep) {
		s->heap_bytes -= (size_t)a->own_cap * sizeof(*a->own);
		free(a->own);
		a->own = NULL;
		a->own_cap = 0;
	}
	a->chunks = NULL;
	a->cur = NULL;
	a->left = a->next_size = a->bytes = 0;
	a->nown = 0;
	a->slot = SLOT_NONE;
}

/* The arena of closed period p of tier t (a kept one, or the one closing). */
struct arena *st_arena_of(struct store *s, unsigned t, uint64_t p)
{
	struct arena *ar = &s->arenas[t][p % s->K[t]];

	if (ar->slot != p) {
		st_arena_free(s, ar, true);	/* an older period: no longer kept */
		ar->slot = p;
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

/* Notes that series own has a record in arena a. */
static int arena_own(struct store *s, struct arena *a, uint32_t own)
{
	uint32_t cap = a->own_cap;

	if (a->nown == cap) {
		if (st_grow(&a->own, &a->own_cap, cap + 1, sizeof(*a->own)))
			return -ENOMEM;
		s->heap_bytes += (size_t)(a->own_cap - cap) * sizeof(*a->own);
	}
	a->own[a->nown++] = own;
	return 0;
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

/* count, sum, min and max of a wire histogram into r's. */
static void rec_add_head(struct rec *r, const struct wire_hist *wh)
{
	r->count += wh->count;
	r->sum += wh->sum;
	if (wh->min < r->min)
		r->min = wh->min;
	if (wh->max > r->max)
		r->max = wh->max;
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
			g->count = r->count;
			g->sum = r->sum;
			g->min = r->min;
			g->max = r->max;
			*link = r = g;
		}
		rec_fill(r, idx, cnt, n);
	}
	rec_add_head(r, wh);
	return 0;
}

/*
 * Merges one wire histogram into the open record of series ch (owner own),
 * the current slot's.
 */
int st_open_add(struct store *s, struct chalf *ch, uint32_t own, const struct wire_hist *wh,
		const struct wire_bucket *b)
{
	struct rec *r;

	if (ch->open && ch->open_slot == s->cur)
		return rec_merge(s, &s->open, &ch->open, wh, b);
	if (arena_own(s, &s->open, own))
		return -ENOMEM;
	r = rec_new(s, &s->open, wh, b);
	if (!r) {
		s->open.nown--;
		return -ENOMEM;
	}
	ch->open = r;
	ch->open_slot = (uint32_t)s->cur;
	return 0;
}

/* A record as a wire histogram and its buckets; returns how many. */
unsigned st_rec_buckets(const struct rec *r, struct wire_hist *wh, struct wire_bucket *b)
{
	unsigned k;

	for (k = 0; k < r->n; k++) {
		b[k].slot = r->idx[k];
		b[k].n = rec_cnt(r, k);
	}
	memset(wh, 0, sizeof(*wh));
	wh->count = r->count;
	wh->sum = r->sum;
	wh->min = r->min;
	wh->max = r->max;
	wh->nb = r->n;
	return r->n;
}

/* ---- compact records ----------------------------------------------------- */

/* Only ever reads what hblob_varint_put wrote (the store's own memory). */
static inline const uint8_t *varint_get(const uint8_t *p, uint64_t *v)
{
	uint64_t x = 0;
	unsigned sh = 0;

	while (*p & 0x80) {
		x |= (uint64_t)(*p++ & 0x7f) << sh;
		sh += 7;
	}
	*v = x | (uint64_t)*p++ << sh;
	return p;
}

/* The largest compact record: header, four varints, every bucket. */
#define CREC_MAX	(offsetof(struct crec, data) + 4 * 10 + PF_HIST_NSLOTS * 11)

/* A compact record from buf (its data, len bytes), in arena ar. */
static struct crec *crec_put(struct store *s, struct arena *ar, const uint8_t *buf, size_t len,
			     unsigned n)
{
	struct crec *r = arena_alloc(s, ar, offsetof(struct crec, data) + len);

	if (!r)
		return NULL;
	r->prev = NULL;
	r->prev_per = PER_NONE;
	r->n = (uint8_t)n;
	r->redo = 0;
	memcpy(r->data, buf, len);
	return r;
}

static uint8_t *crec_head_put(uint8_t *p, uint64_t count, uint64_t sum, uint64_t min,
			      uint64_t max)
{
	p = hblob_varint_put(p, count);
	p = hblob_varint_put(p, sum);
	p = hblob_varint_put(p, min);
	return hblob_varint_put(p, max - min);
}

/* A compact record of a wire histogram (count > 0), in arena ar. */
struct crec *st_crec_new(struct store *s, struct arena *ar, const struct wire_hist *wh,
			 const struct wire_bucket *b)
{
	uint8_t buf[CREC_MAX], *p = crec_head_put(buf, wh->count, wh->sum, wh->min, wh->max);
	unsigned k, last = 0;

	for (k = 0; k < wh->nb; k++) {
		*p++ = (uint8_t)(b[k].slot - last);
		last = b[k].slot;
		p = hblob_varint_put(p, b[k].n);
	}
	return crec_put(s, ar, buf, (size_t)(p - buf), wh->nb);
}

/* A compact record of an open record, in arena ar. */
struct crec *st_crec_of_rec(struct store *s, struct arena *ar, const struct rec *r)
{
	uint8_t buf[CREC_MAX], *p = crec_head_put(buf, r->count, r->sum, r->min, r->max);
	const void *c = (const char *)r + rec_cnt_off(r->cap);
	unsigned k, last = 0;

	for (k = 0; k < r->n; k++) {
		*p++ = (uint8_t)(r->idx[k] - last);
		last = r->idx[k];
		p = hblob_varint_put(p, r->wide ? ((const uint64_t *)c)[k] : ((const uint32_t *)c)[k]);
	}
	return crec_put(s, ar, buf, (size_t)(p - buf), r->n);
}

static const uint8_t *crec_head(const struct crec *r, struct wire_hist *wh)
{
	const uint8_t *p = r->data;

	memset(wh, 0, sizeof(*wh));
	p = varint_get(p, &wh->count);
	p = varint_get(p, &wh->sum);
	p = varint_get(p, &wh->min);
	p = varint_get(p, &wh->max);
	wh->max += wh->min;
	wh->nb = r->n;
	return p;
}

/* count, sum, min and max of a compact record (nb: its buckets). */
void st_crec_stats(const struct crec *r, struct wire_hist *wh)
{
	crec_head(r, wh);
}

/* A compact record as a wire histogram and its buckets; returns how many. */
unsigned st_crec_buckets(const struct crec *r, struct wire_hist *wh, struct wire_bucket *b)
{
	const uint8_t *p = crec_head(r, wh);
	unsigned k, slot = 0;

	for (k = 0; k < r->n; k++) {
		slot += *p++;
		b[k].slot = (uint16_t)slot;
		p = varint_get(p, &b[k].n);
	}
	return r->n;
}

/* h += a compact record; *lo / *hi widen to the histogram slots it has. */
void st_crec_to_dense(const struct crec *r, struct hist *h, unsigned *lo, unsigned *hi)
{
	struct wire_bucket b[PF_HIST_NSLOTS];
	struct wire_hist wh;
	unsigned k;

	st_crec_buckets(r, &wh, b);
	for (k = 0; k < wh.nb; k++)
		h->slot[b[k].slot] += b[k].n;
	h->count += wh.count;
	h->sum += wh.sum;
	if (wh.min < h->min)
		h->min = wh.min;
	if (wh.max > h->max)
		h->max = wh.max;
	if (wh.nb && b[0].slot < *lo)
		*lo = b[0].slot;
	if (wh.nb && b[wh.nb - 1].slot > *hi)
		*hi = b[wh.nb - 1].slot;
}

/* A dense histogram's slots lo..hi as a wire histogram and its buckets. */
void st_dense_to_wire(const struct hist *h, unsigned lo, unsigned hi, struct wire_hist *wh,
		      struct wire_bucket *b)
{
	unsigned k;

	memset(wh, 0, sizeof(*wh));
	for (k = lo; k <= hi && k < PF_HIST_NSLOTS; k++) {
		if (h->slot[k]) {
			b[wh->nb].slot = (uint16_t)k;
			b[wh->nb++].n = h->slot[k];
		}
	}
	wh->count = h->count;
	wh->sum = h->sum;
	wh->min = h->min;
	wh->max = h->max;
}

/* ---- window totals (heap records) ---------------------------------------- */

static size_t tot_size(const struct rec *r)
{
	return r ? rec_size(r->cap, r->wide) : 0;
}

/* *tp += a wire histogram: the union, in a record reallocated to fit. */
int st_tot_add(struct store *s, struct rec **tp, const struct wire_hist *wh,
	       const struct wire_bucket *b)
{
	uint64_t cnt[PF_HIST_NSLOTS];
	uint8_t idx[PF_HIST_NSLOTS];
	struct rec *r = *tp, *g;
	bool wide;
	unsigned n;

	if (!wh->count)
		return 0;
	if (!r) {
		wide = need_wide(wh->count, 0);
		g = malloc(rec_size(wh->nb, wide));
		if (!g)
			return -ENOMEM;
		memset(g, 0, offsetof(struct rec, idx));
		g->cap = (uint8_t)wh->nb;
		g->wide = wide;
		g->min = UINT64_MAX;
		s->tot_bytes += tot_size(g);
		*tp = r = g;
	}
	wide = r->wide || need_wide(r->count, wh->count);
	n = rec_union(r, b, wh->nb, idx, cnt);
	if (n > r->cap || wide != r->wide) {
		size_t old = tot_size(r);

		g = realloc(r, rec_size(n, wide));
		if (!g)
			return -ENOMEM;
		g->cap = (uint8_t)n;
		g->wide = wide;
		s->tot_bytes += tot_size(g) - old;
		*tp = r = g;
	}
	rec_fill(r, idx, cnt, n);
	rec_add_head(r, wh);
	return 0;
}

void st_tot_free(struct store *s, struct rec **tp)
{
	s->tot_bytes -= tot_size(*tp);
	free(*tp);
	*tp = NULL;
}

/*
 * *tp -= a histogram that was added to it: buckets that reach zero are
 * dropped, and an empty total freed. min and max are left as they were:
 * the caller takes them again from what is still in it when the
 * histogram held one.
 */
void st_tot_sub(struct store *s, struct rec **tp, const struct wire_hist *wh,
		const struct wire_bucket *b)
{
	struct rec *t = *tp;
	uint64_t cnt[PF_HIST_NSLOTS];
	uint8_t idx[PF_HIST_NSLOTS];
	unsigned i = 0, j, n = 0;

	if (!t || !wh->count)
		return;
	if (wh->count >= t->count) {	/* all of it (never more) */
		st_tot_free(s, tp);
		return;
	}
	for (j = 0; j < t->n; j++) {
		uint64_t c = rec_cnt(t, j);

		while (i < wh->nb && b[i].slot < t->idx[j])
			i++;
		if (i < wh->nb && b[i].slot == t->idx[j])
			c -= b[i].n;
		if (c) {
			idx[n] = t->idx[j];
			cnt[n++] = c;
		}
	}
	rec_fill(t, idx, cnt, n);
	t->count -= wh->count;
	t->sum -= wh->sum;
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

/* Adds a scratch histogram into the two halves of a series at slot a. */
static int scratch_to_series(struct store *s, const struct scratch *t, struct chalf h[PF_NHALVES],
			     uint32_t kind, uint32_t idx, uint64_t a)
{
	struct wire_bucket b[PF_HIST_NSLOTS];
	struct wire_hist wh;
	unsigned half;
	int err = 0;

	for (half = 0; half < PF_NHALVES; half++) {
		const struct hist *x = &t->h[half];

		if (!x->count)
			continue;
		st_dense_to_wire(x, t->lo, t->hi, &wh, b);
		err = err ?: st_series_add(s, &h[half], OWN(kind, idx, half), a, &wh, b);
	}
	return err;
}

/* The touched sites bottom-up, then the box and the fleet, at slot a. */
int st_scratch_flush(struct store *s, struct box *bx, uint64_t a)
{
	uint32_t d, i;
	int err = 0, e;

	for (d = s->maxdepth + 1; d-- > 0;) {
		while ((i = s->dhead[d]) != NONE) {
			struct scratch *t = &s->sscr[i];
			uint32_t p = s->sites[i]->parent;

			s->dhead[d] = t->next;
			e = scratch_to_series(s, t, s->sites[i]->h, OWN_SITE, i, a);
			err = err ?: e;
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
	e = scratch_to_series(s, &s->bscr, bx->h, OWN_BOX, bx->idx, a);
	err = err ?: e;
	e = scratch_to_series(s, &s->bscr, s->fleet, OWN_FLEET, 0, a);
	err = err ?: e;
	scratch_clear(&s->bscr);
	return err;
}
