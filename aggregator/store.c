// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The aggregator's state (see store.h). Decisions, in one place:
 *
 * Time. Slot a holds the deltas whose end_ns / slot_ns == a. The ring
 * covers the longest window: ns = ceil(1 h / slot_ns) slots (slot_ns from
 * 1 s to 1 h), the newest being "cur", the slot of the largest now_ns any
 * call passed (the aggregator's clock, never a box's: a box clock running
 * ahead cannot push data out of the ring). A delta stamped after cur
 * lands in cur. A delta whose slot fell out of the ring (a late replay)
 * counts in the totals (store_total_samples, box samples, box late) but
 * in no window. Window w is the slots (S - n_w, S] for S the slot of the
 * query's now_ns, n_w = ceil(w / slot_ns): 1, 6, 30, 90, 360 slots of 10 s.
 *
 * Memory. Every slot of the ring owns an arena (chunks, bump allocated);
 * everything stored for that slot lives in it and is freed in one go when
 * the slot leaves the ring, so ageing costs no walk over the customers.
 * Chunks of 4 MiB are mapped with huge pages and pooled when their slot
 * is dropped (up to the largest slot seen), so that in steady state a new
 * slot reuses the memory of the one that left. Per customer-half and slot
 * there is a record only if it had data: a sparse histogram (count, sum,
 * min, max; u8 slot numbers and u32 counts, u64 counts when the record's
 * count passes 2^32), ~104-112 bytes for 8-10 buckets, with 2 spare
 * buckets (more if the size's padding allows) for the next delta of the
 * slot. A customer-half's records form a list, newest first, each holding
 * the slot of the next older one; a link is followed only while that slot
 * is still in the ring, so links into freed arenas are never read. A
 * record that must grow is copied to a larger one in the same arena (the
 * old one is garbage until the slot is dropped). Sites, boxes and the
 * fleet have dense per-slot histograms (a ring of ns pointers, the
 * histograms in the slot's arena too).
 *
 * Merge. store_add_delta first checks every index it will use (halves,
 * bucket ranges, slots increasing and in range, counts adding up), so a
 * bad delta is refused whole. Then per customer-half: key -> customer by
 * the box's key map (an array indexed by key below 2^22, a hash above),
 * merge into the customer's record of the slot (in place through a slot
 * -> position table when the record has all the delta's slots, else by a
 * union), and add into a per-delta dense scratch histogram of the
 * customer's site (or of the box, for customers without a site).
 * Customers and records are prefetched a few entries ahead. After the
 * delta, the touched sites are flushed bottom-up (each into its slot
 * histogram and into its parent's scratch, top-level sites into the
 * box's scratch), then the box's scratch into the box's and the fleet's
 * slot histograms. So a site's slot histogram is the sum of its subtree,
 * kept at merge time at a cost per delta and touched site, not per
 * customer-half, and a site query reads only its own ring. Scratch
 * histograms track the range of slots they touched: only that range is
 * merged and cleared.
 *
 * Names. A customer is its id: one customer however many boxes name it.
 * Each catalog replaces the box's key map; the customer's name and site
 * are those of the latest catalog naming it (last writer wins). Samples
 * are attributed to the site the customer has when they are merged, so a
 * site equals the sum of its customers as long as no customer moved
 * during the window. Keys a box's catalog does not name are merged under
 * "?BOX/KEY" (a customer without site) and counted in the box's unnamed
 * (customer-halves); a later catalog does not move what was merged so. A
 * catalog of the box's previous epoch, or of its current epoch with a
 * lower seq than the one in force, is ignored (it arrived late). Site
 * paths are normalised: empty components dropped ("/a//b/" is "a/b").
 * A customer no catalog names any more, with nothing in any window, not
 * named nor merged into for forget_ns (default 24 h), is forgotten (its
 * index reused; an unnamed one leaves its box's key map): looked for
 * once a minute, as the ring advances. Sites and boxes are not forgotten;
 * all of them are bounded (below).
 *
 * Bounds and values. Everything a peer can make the store allocate has a
 * bound in store_opts: customers, sites, boxes, distinct unnamed keys per
 * box, entries per catalog; a box's dense key map grows only up to 4x its
 * key count + 1024 (higher keys go to its hash), so one key 2^22 - 1
 * costs a hash entry, not 16 MiB. A message that would pass a bound is
 * refused whole (checked before anything changes), except a catalog's
 * new sites, which are created up to the bound and the rest refused.
 * Values are checked like inputs: at most 2^36 samples per
 * customer-half and delta, no RTT above 2^42 ns (73 min), end >= start, end in [now - max_age,
 * now + 60 s], sum within [count * min, count * max], and nothing may
 * wrap: not the lifetime totals, nor the fleet's count and sum over all
 * live slots (ring_count, ring_sum: added at merge, taken off when a
 * slot leaves the ring), which bound every window of every site, box and
 * customer. Each refusal is counted by reason (store_refusal).
 *
 * Sequences. Per box, two trackers: the current epoch and the one before
 * (so in-flight deltas and replays of the old epoch are still
 * deduplicated). Any other epoch becomes the current one, whatever its
 * value: epochs are wall-clock stamps, and a box whose clock went back
 * must not be locked out. A tracker keeps the highest seq seen and a
 * bitmap of the SEQ_WIN seqs below it; a seq older than the bitmap is
 * taken as seen (duplicate). A seq above highest + 1 reports the gap in
 * between; a seq more than max_seq_jump above the highest is held as
 * suspect (refused, remembered), and only the delta right after it in
 * the same epoch confirms the jump (it then reports the gap, the held
 * one included, for replay): one forged seq cannot make a box's real
 * deltas look like duplicates. A first delta of an epoch reports at most
 * the max_seq_jump seqs before it as the gap. store_gap_done counts
 * as recovered the gap's seqs the bitmap
 * has seen by then (exact, also when a "missing" delta came late by the
 * live path, or the caller counted a duplicate); when the gap is no
 * longer in the bitmap, the caller's number is used.
 *
 * Liveness. last_seen_ns is the now_ns of the box's last message of any
 * kind; interval_ns is end - start of its last delta (slot_ns until it
 * has sent one); stale when now - last_seen > stale_intervals * interval.
 *
 * Queries sum a window's records at query time; store_top does so for
 * every customer (or site). It leaves out entities without samples,
 * whatever min_count; ties are ordered by count (more first), then name.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "aggregator/store.h"

#define NONE		UINT32_MAX
#define SLOT_NONE	UINT64_MAX
#define SEQ_WIN		16384		/* seqs remembered per epoch (bits) */
#define KMAP_DENSE_MAX	(1u << 22)	/* keys below: array; above: hash */
#define KV_UNNAMED	(1u << 31)	/* key map value flag: "?BOX/KEY" */
#define CPAGE_SHIFT	12		/* customers per page: 4096 */
#define CPAGE_SIZE	(1u << CPAGE_SHIFT)
#define DEPTH_MAX	128		/* site path of 255 bytes: <= 128 parts */
#define CHUNK_MIN	(64u << 10)
#define CHUNK_MAX	(4u << 20)
#define REC_SLACK	2		/* spare buckets in a new record */
#define HALF_COUNT_MAX	(1ULL << 36)	/* samples of a customer-half in one delta */
#define RTT_MAX_NS	(1ULL << 42)	/* 73 minutes: no RTT is longer */
#define FORGET_EVERY_NS	(60 * 1000000000ULL)	/* how often forget() looks */

static const uint32_t win_secs[STORE_NWINDOWS] = { 10, 60, 300, 900, 3600 };
static const char *const win_names[STORE_NWINDOWS] = { "10s", "1m", "5m", "15m", "1h" };

/* ---- structures ---------------------------------------------------------- */

struct chunk {
	struct chunk *next;
	size_t size;
	char data[];
};

/* Everything of one slot; freed when the slot leaves the ring. */
struct arena {
	uint64_t slot;
	struct chunk *chunks;
	char *cur;
	size_t left, next_size, bytes;
};

/*
 * A customer-half's histogram over one slot. idx[cap] follows the header,
 * then the counts (u32, or u64 when wide) at an 8-aligned offset.
 */
struct rec {
	struct rec *prev;		/* next older record */
	uint64_t prev_slot;		/* its slot; followed only while live */
	uint64_t count, sum, min, max;
	uint8_t n, cap, wide;
	uint8_t idx[];
};

struct chalf {
	struct rec *head;
	uint64_t head_slot;
};

struct cust {
	char *str;			/* id '\0' name '\0'; NULL: forgotten, free */
	uint32_t site;			/* NONE: no site */
	uint32_t nboxes;
	uint64_t seen_ns;		/* last named by a catalog or merged into */
	struct chalf h[PF_NHALVES];
};

/* Dense per-slot histograms of a site, box or the fleet. */
struct dslot {
	uint64_t slot;
	struct hist *h;			/* [PF_NHALVES], in the slot's arena */
};

struct seqtrk {
	uint64_t epoch;
	uint64_t hi;			/* highest seq seen; 0 = none */
	uint64_t gap_hi;		/* gaps reported up to here (stats) */
	uint64_t bits[SEQ_WIN / 64];	/* seq q at bit q % SEQ_WIN */
};

struct u32map {
	uint64_t *e;			/* key << 32 | value; value != 0 */
	uint32_t cap, n;
};

struct box {
	char id[WIRE_BOX_MAX];
	struct seqtrk trk[2];		/* current epoch, previous epoch */
	bool has_epoch, has_prev, has_cat, has_prev_cat;
	uint64_t cat_epoch, cat_seq, prev_cat_epoch;
	uint32_t *kmap;			/* key -> cust + 1 (| KV_UNNAMED) */
	uint32_t kmap_len;
	struct u32map big;		/* keys >= KMAP_DENSE_MAX */
	uint32_t *named;		/* customers its catalog names, sorted */
	uint32_t nnamed;
	uint64_t last_seen_ns, interval_ns;
	uint64_t deltas, dups, gaps, gap_deltas, recovered, lost, unnamed, samples, late;
	uint64_t refused[STORE_NREFUSALS];
	uint32_t unnamed_keys;		/* distinct keys mapped to "?BOX/KEY" */
	uint32_t kmap_keys;		/* keys of its last catalog + unnamed */
	bool has_held;			/* a suspect seq jump (see Sequences) */
	uint64_t held_epoch, held_seq;
	struct wire_stats stats;
	struct dslot *ring;
};

struct site {
	char *path;
	uint32_t parent, depth;
	struct dslot *ring;		/* its whole subtree */
};

/* Per-delta scratch: a dense histogram per half and the slots touched. */
struct scratch {
	struct hist h[PF_NHALVES];
	uint16_t lo, hi;		/* lo > hi: untouched */
	uint32_t next;			/* depth list of touched sites */
	bool on;
};

struct strmap {
	uint64_t *e;			/* hash32 << 32 | (index + 1); 0 = empty */
	uint32_t cap, n;
};

struct store {
	struct store_opts o;
	uint32_t nwin[STORE_NWINDOWS];
	uint32_t ns;			/* slots in the ring */
	uint64_t cur;			/* newest slot */
	bool started;
	struct arena *arenas;		/* [ns], by slot % ns */
	size_t arena_bytes;
	struct chunk *pool;		/* free chunks of CHUNK_MAX */
	size_t pool_bytes, pool_max;

	struct cust **cpage;
	uint32_t ncust, npage, cpage_cap;	/* ncust: indices used, free ones too */
	uint32_t nlive;				/* customers not forgotten */
	uint32_t *cfree, ncfree, cfree_cap;	/* forgotten indices, for reuse */
	uint64_t last_forget_ns, forgotten;
	struct strmap cmap;

	struct box **boxes;
	uint32_t nbox, box_cap;
	struct strmap bmap;

	struct site **sites;
	uint32_t nsite, site_cap;
	struct strmap smap;

	struct scratch *sscr;		/* per site */
	uint32_t sscr_cap;
	struct scratch bscr;		/* the box of the delta being merged */
	uint32_t dhead[DEPTH_MAX];
	uint32_t maxdepth;

	struct dslot *fleet;
	uint64_t total;
	uint64_t ring_count, ring_sum;	/* the fleet over every live slot */
	uint64_t refused[STORE_NREFUSALS];
	enum store_refusal last_refusal;
	size_t heap_bytes;		/* everything but arenas, approximately */
};

/* ---- small helpers ------------------------------------------------------- */

static inline struct cust *cust_at(const struct store *s, uint32_t i)
{
	return &s->cpage[i >> CPAGE_SHIFT][i & (CPAGE_SIZE - 1)];
}

static inline bool slot_live(const struct store *s, uint64_t a)
{
	return s->started && a != SLOT_NONE && a <= s->cur && s->cur - a < s->ns;
}

static uint32_t str_hash(const char *p)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*p) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ULL;
	}
	return (uint32_t)(h ^ (h >> 32));
}

/* Grows an array of elem-sized items to hold at least want. */
static int grow(void *pp, uint32_t *cap, uint32_t want, size_t elem)
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

typedef const char *(*key_fn)(const struct store *s, uint32_t i);

static const char *cust_key(const struct store *s, uint32_t i) { return cust_at(s, i)->str; }
static const char *box_key(const struct store *s, uint32_t i) { return s->boxes[i]->id; }
static const char *site_key(const struct store *s, uint32_t i) { return s->sites[i]->path; }

static uint32_t strmap_get(const struct store *s, const struct strmap *m, key_fn kf,
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
static int strmap_put(struct store *s, struct strmap *m, uint32_t h, uint32_t idx)
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

static uint32_t u32map_get(const struct u32map *m, uint32_t key)
{
	uint32_t i;

	if (!m->cap)
		return 0;
	for (i = u32_hash(key) & (m->cap - 1); m->e[i]; i = (i + 1) & (m->cap - 1))
		if ((uint32_t)(m->e[i] >> 32) == key)
			return (uint32_t)m->e[i];
	return 0;
}

static int u32map_set(struct u32map *m, uint32_t key, uint32_t val)
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

static void u32map_clear(struct u32map *m)
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

static void arena_free(struct store *s, struct arena *a, bool keep)
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
static struct arena *arena_of(struct store *s, uint64_t a)
{
	struct arena *ar = &s->arenas[a % s->ns];

	if (ar->slot != a) {
		arena_free(s, ar, true);	/* an older slot: no longer live */
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

static void forget(struct store *s, uint64_t now_ns);

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
		arena_free(s, a, true);
	}
	s->cur = S;
	s->started = true;
	if (s->o.forget_ns != UINT64_MAX && now_ns - s->last_forget_ns >= FORGET_EVERY_NS) {
		s->last_forget_ns = now_ns;
		forget(s, now_ns);
	}
}

/* The dense histograms of live slot a in a ring, allocated on first use. */
static struct hist *dslot_get(struct store *s, struct dslot *ring, uint64_t a)
{
	struct dslot *d = &ring[a % s->ns];

	if (d->slot != a || !d->h) {
		struct hist *h = arena_alloc(s, arena_of(s, a), PF_NHALVES * sizeof(*h));

		if (!h)
			return NULL;
		hist_init(&h[0]);
		hist_init(&h[1]);
		d->slot = a;
		d->h = h;
	}
	return d->h;
}

static struct dslot *ring_new(struct store *s)
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

static inline size_t rec_cnt_off(unsigned cap)
{
	return (offsetof(struct rec, idx) + cap + 7) & ~(size_t)7;
}

static inline size_t rec_size(unsigned cap, bool wide)
{
	return rec_cnt_off(cap) + (size_t)cap * (wide ? 8 : 4);
}

static inline uint64_t rec_cnt(const struct rec *r, unsigned k)
{
	const void *p = (const char *)r + rec_cnt_off(r->cap);

	return r->wide ? ((const uint64_t *)p)[k] : ((const uint32_t *)p)[k];
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
static int chalf_add(struct store *s, struct arena *ar, struct chalf *ch, uint64_t a,
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

static void scratch_init(struct scratch *t)
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

static inline void scratch_add(struct scratch *t, unsigned half, const struct wire_hist *wh,
			       const struct wire_bucket *b)
{
	struct hist *h = &t->h[half];
	unsigned k;

	for (k = 0; k < wh->nb; k++)
		h->slot[b[k].slot] += b[k].n;
	h->count += wh->count;
	h->sum += wh->sum;
	if (wh->min < h->min)
		h->min = wh->min;
	if (wh->max > h->max)
		h->max = wh->max;
	if (b[0].slot < t->lo)
		t->lo = b[0].slot;
	if (b[wh->nb - 1].slot > t->hi)
		t->hi = b[wh->nb - 1].slot;
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

static void site_touch(struct store *s, uint32_t site)
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
static int scratch_flush(struct store *s, struct box *bx, uint64_t a)
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
				site_touch(s, p);
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

/* ---- entities ------------------------------------------------------------ */

/* The customer with this id, created (with name and no site) if asked. */
static uint32_t cust_get(struct store *s, const char *id, bool create, int *err)
{
	uint32_t h = str_hash(id), i = strmap_get(s, &s->cmap, cust_key, id, h);
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
		if (!c->str || strmap_put(s, &s->cmap, h, i)) {
			free(c->str);
			c->str = NULL;
			goto nomem;
		}
		memcpy(c->str, id, idlen + 1);
		c->str[idlen + 1] = '\0';
		c->site = NONE;
		c->h[0].head_slot = c->h[1].head_slot = SLOT_NONE;
		s->ncfree--;
		s->nlive++;
		s->heap_bytes += idlen + 2;
		return i;
	}
	if (s->ncust >= KV_UNNAMED - 1)
		goto nomem;
	if ((s->ncust >> CPAGE_SHIFT) >= s->npage) {
		if (grow(&s->cpage, &s->cpage_cap, s->npage + 1, sizeof(*s->cpage)))
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
	c->h[0].head_slot = c->h[1].head_slot = SLOT_NONE;
	if (strmap_put(s, &s->cmap, h, s->ncust)) {
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

static int cust_set_name(struct store *s, struct cust *c, const char *name)
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
static int site_norm(const char *in, char *out, size_t cap)
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
static uint32_t site_get(struct store *s, const char *path, bool create, int *err)
{
	uint32_t h = str_hash(path), i = strmap_get(s, &s->smap, site_key, path, h);
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
		parent = site_get(s, up, true, err);
		if (parent == NONE)
			return NONE;
		depth = s->sites[parent]->depth + 1;
		if (depth >= DEPTH_MAX)
			goto inval;
	}
	if (grow(&s->sites, &s->site_cap, s->nsite + 1, sizeof(*s->sites)))
		goto nomem;
	if (s->sscr_cap < s->site_cap) {	/* no merge is under way here */
		struct scratch *t = realloc(s->sscr, (size_t)s->site_cap * sizeof(*t));
		uint32_t k;

		if (!t)
			goto nomem;
		for (k = s->sscr_cap; k < s->site_cap; k++)
			scratch_init(&t[k]);
		s->heap_bytes += (size_t)(s->site_cap - s->sscr_cap) * sizeof(*t);
		s->sscr = t;
		s->sscr_cap = s->site_cap;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		goto nomem;
	st->path = strdup(path);
	st->ring = ring_new(s);
	if (!st->path || !st->ring) {
		free(st->path);
		free(st->ring);
		free(st);
		goto nomem;
	}
	st->parent = parent;
	st->depth = depth;
	if (strmap_put(s, &s->smap, h, s->nsite)) {
		free(st->path);
		free(st->ring);
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

static struct box *box_get(struct store *s, const char *id, bool create, int *err)
{
	uint32_t h = str_hash(id), i = strmap_get(s, &s->bmap, box_key, id, h);
	struct box *b;

	if (i != NONE)
		return s->boxes[i];
	if (!create)
		return NULL;
	if (s->nbox >= s->o.max_boxes) {
		*err = -ENOSPC;
		return NULL;
	}
	if (grow(&s->boxes, &s->box_cap, s->nbox + 1, sizeof(*s->boxes)))
		goto nomem;
	b = calloc(1, sizeof(*b));
	if (!b)
		goto nomem;
	snprintf(b->id, sizeof(b->id), "%s", id);
	b->ring = ring_new(s);
	if (!b->ring || strmap_put(s, &s->bmap, h, s->nbox)) {
		free(b->ring);
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

static inline uint32_t key_get(const struct box *b, uint32_t key)
{
	uint32_t v = key < b->kmap_len ? b->kmap[key] : 0;

	return v || !b->big.n ? v : u32map_get(&b->big, key);
}

/* Keys far above the box's key count go to the hash (see Bounds). */
static int key_set(struct store *s, struct box *b, uint32_t key, uint32_t v)
{
	if (key >= KMAP_DENSE_MAX || (key >= b->kmap_len && key / 4 > b->kmap_keys + 256))
		return u32map_set(&b->big, key, v);
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
static uint32_t key_unnamed(struct store *s, struct box *b, uint32_t key, int *err)
{
	char id[WIRE_BOX_MAX + 16];
	uint32_t i;

	snprintf(id, sizeof(id), "?%s/%u", b->id, key);
	i = cust_get(s, id, true, err);
	if (i == NONE)
		return 0;
	b->unnamed_keys++;
	b->kmap_keys++;
	if ((*err = key_set(s, b, key, (i + 1) | KV_UNNAMED)))
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

static bool chalf_live(const struct store *s, const struct chalf *ch)
{
	return ch->head && slot_live(s, ch->head_slot);
}

/*
 * Forgets the customers no box's catalog names, with nothing in any window,
 * not named nor merged into for forget_ns: their index is reused. An
 * unnamed one ("?BOX/KEY") leaves its box's key map too.
 */
static void forget(struct store *s, uint64_t now_ns)
{
	uint32_t i;

	for (i = 0; i < s->ncust; i++) {
		struct cust *c = cust_at(s, i);
		const char *slash;
		size_t len;

		if (!c->str || c->nboxes || now_ns <= c->seen_ns ||
		    now_ns - c->seen_ns <= s->o.forget_ns ||
		    chalf_live(s, &c->h[0]) || chalf_live(s, &c->h[1]))
			continue;
		if (grow(&s->cfree, &s->cfree_cap, s->ncfree + 1, sizeof(*s->cfree)))
			return;
		slash = strrchr(c->str, '/');
		if (c->str[0] == '?' && slash && (size_t)(slash - c->str - 1) < WIRE_BOX_MAX) {
			char box[WIRE_BOX_MAX];
			uint32_t key = (uint32_t)strtoul(slash + 1, NULL, 10);
			struct box *bx;

			snprintf(box, sizeof(box), "%.*s", (int)(slash - c->str - 1), c->str + 1);
			bx = wire_box_ok(box) ? box_get(s, box, false, NULL) : NULL;
			if (bx && key_get(bx, key) == ((i + 1) | KV_UNNAMED)) {
				key_set(s, bx, key, 0);
				if (bx->unnamed_keys)
					bx->unnamed_keys--;
			}
		}
		strmap_del(&s->cmap, str_hash(c->str), i);
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

/* ---- sequences ----------------------------------------------------------- */

static void trk_reset(struct seqtrk *t, uint64_t epoch)
{
	memset(t, 0, sizeof(*t));
	t->epoch = epoch;
}

static bool trk_seen(const struct seqtrk *t, uint64_t q)
{
	if (q > t->hi)
		return false;
	if (t->hi - q >= SEQ_WIN)
		return true;	/* older than we remember: take it as seen */
	return t->bits[(q % SEQ_WIN) / 64] >> (q % 64) & 1;
}

static void trk_mark(struct seqtrk *t, uint64_t q)
{
	uint64_t r;

	if (q > t->hi) {
		if (q - t->hi >= SEQ_WIN)
			memset(t->bits, 0, sizeof(t->bits));
		else
			for (r = t->hi + 1; r < q; r++)
				t->bits[(r % SEQ_WIN) / 64] &= ~(1ULL << (r % 64));
		t->hi = q;
	}
	t->bits[(q % SEQ_WIN) / 64] |= 1ULL << (q % 64);
}

/*
 * The tracker of a delta's epoch. Any epoch but the current and the one
 * before starts a new one: epochs are wall-clock stamps, and a box whose
 * clock was set back must not be locked out.
 */
static struct seqtrk *trk_of(struct box *b, uint64_t epoch)
{
	if (b->has_epoch && b->trk[0].epoch == epoch)
		return &b->trk[0];
	if (b->has_prev && b->trk[1].epoch == epoch)
		return &b->trk[1];
	if (b->has_epoch) {
		b->trk[1] = b->trk[0];
		b->has_prev = true;
	}
	trk_reset(&b->trk[0], epoch);
	b->has_epoch = true;
	return &b->trk[0];
}

/* ---- API ----------------------------------------------------------------- */

void store_opts_default(struct store_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->slot_ns = 10ULL * 1000000000ULL;
	o->stale_intervals = 3;
	o->max_customers = 2000000;
	o->max_sites = 100000;
	o->max_boxes = 10000;
	o->max_unnamed = 100000;
	o->max_catalog = 1000000;
	o->max_age_ns = 6ULL * 3600 * 1000000000ULL;
	o->max_seq_jump = SEQ_WIN;
	o->forget_ns = 24ULL * 3600 * 1000000000ULL;
}

int store_open(struct store **sp, const struct store_opts *o)
{
	struct store_opts def;
	struct store *s;
	uint32_t w, i;

	*sp = NULL;
	if (o->slot_ns < 1000000000ULL || o->slot_ns > 3600ULL * 1000000000ULL)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *o;
	store_opts_default(&def);
#define DEF(f) if (!s->o.f) s->o.f = def.f
	DEF(stale_intervals);
	DEF(max_customers);
	DEF(max_sites);
	DEF(max_boxes);
	DEF(max_unnamed);
	DEF(max_catalog);
	DEF(max_age_ns);
	DEF(max_seq_jump);
	DEF(forget_ns);
#undef DEF
	for (w = 0; w < STORE_NWINDOWS; w++) {
		uint64_t n = ((uint64_t)win_secs[w] * 1000000000ULL + o->slot_ns - 1) / o->slot_ns;

		s->nwin[w] = n ? (uint32_t)n : 1;
	}
	s->ns = s->nwin[STORE_W1H];
	s->arenas = calloc(s->ns, sizeof(*s->arenas));
	s->fleet = s->arenas ? ring_new(s) : NULL;
	if (!s->fleet) {
		free(s->arenas);
		free(s);
		return -ENOMEM;
	}
	for (i = 0; i < s->ns; i++)
		s->arenas[i].slot = SLOT_NONE;
	for (i = 0; i < DEPTH_MAX; i++)
		s->dhead[i] = NONE;
	scratch_init(&s->bscr);
	s->heap_bytes += sizeof(*s) + s->ns * sizeof(*s->arenas);
	*sp = s;
	return 0;
}

void store_close(struct store *s)
{
	uint32_t i;

	if (!s)
		return;
	for (i = 0; i < s->ns; i++)
		arena_free(s, &s->arenas[i], false);
	while (s->pool) {
		struct chunk *c = s->pool;

		s->pool = c->next;
		munmap(c, CHUNK_MAX);
	}
	free(s->arenas);
	for (i = 0; i < s->ncust; i++)
		free(cust_at(s, i)->str);
	for (i = 0; i < s->npage; i++)
		free(s->cpage[i]);
	free(s->cpage);
	free(s->cmap.e);
	free(s->cfree);
	for (i = 0; i < s->nbox; i++) {
		free(s->boxes[i]->kmap);
		u32map_clear(&s->boxes[i]->big);
		free(s->boxes[i]->named);
		free(s->boxes[i]->ring);
		free(s->boxes[i]);
	}
	free(s->boxes);
	free(s->bmap.e);
	for (i = 0; i < s->nsite; i++) {
		free(s->sites[i]->path);
		free(s->sites[i]->ring);
		free(s->sites[i]);
	}
	free(s->sites);
	free(s->smap.e);
	free(s->sscr);
	free(s->fleet);
	free(s);
}

int store_window_parse(const char *str, enum store_window *w)
{
	int i;

	for (i = 0; i < STORE_NWINDOWS; i++) {
		if (str && !strcmp(str, win_names[i])) {
			*w = (enum store_window)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *store_window_name(enum store_window w)
{
	return (unsigned)w < STORE_NWINDOWS ? win_names[w] : "?";
}

uint64_t store_window_ns(const struct store *s, enum store_window w)
{
	return (unsigned)w < STORE_NWINDOWS ? s->nwin[w] * s->o.slot_ns : 0;
}

static const char *const refusal_names[STORE_NREFUSALS] = {
	"malformed", "time", "overflow", "limit", "seq_jump", "identity"
};

const char *store_refusal_name(enum store_refusal r)
{
	return (unsigned)r < STORE_NREFUSALS ? refusal_names[r] : "?";
}

enum store_refusal store_last_refusal(const struct store *s)
{
	return s->last_refusal;
}

void store_refusals(const struct store *s, uint64_t out[STORE_NREFUSALS])
{
	memcpy(out, s->refused, sizeof(s->refused));
}

/* Counts a refusal (totals, and the box's if known); returns err. */
static int refuse(struct store *s, struct box *bx, enum store_refusal r, int err)
{
	s->last_refusal = r;
	s->refused[r]++;
	if (bx)
		bx->refused[r]++;
	return err;
}

void store_count_refusal(struct store *s, const char *box, enum store_refusal r)
{
	struct box *bx = box && wire_box_ok(box) ? box_get(s, box, false, NULL) : NULL;

	if ((unsigned)r < STORE_NREFUSALS)
		refuse(s, bx, r, 0);
}

/* A refusal for an -errno of entity creation: ENOSPC/ENOMEM are bounds. */
static enum store_refusal refusal_of(int err)
{
	return err == -ENOSPC || err == -ENOMEM ? STORE_REFUSE_LIMIT : STORE_REFUSE_MALFORMED;
}

/* Everything store_add_delta indexes with, checked before anything changes. */
static int delta_check(const struct wire_delta *d)
{
	uint32_t i, k;

	if (!wire_box_ok(d->box) || !d->seq || (d->nh && (!d->h || !d->b)))
		return -EINVAL;
	if (d->scale != PF_HIST_SCALE)
		return -EINVAL;
	for (i = 0; i < d->nh; i++) {
		const struct wire_hist *h = &d->h[i];
		const struct wire_bucket *b = d->b + h->off;
		uint64_t total = 0;
		int prev = -1;
		bool bad = false;

		if (h->half >= PF_NHALVES || !h->nb || h->nb > PF_HIST_NSLOTS ||
		    h->off > d->nb || h->nb > d->nb - h->off)
			return -EINVAL;
		for (k = 0; k < h->nb; k++) {	/* slots increasing and in range */
			bad |= (int)b[k].slot <= prev;
			bad |= __builtin_add_overflow(total, b[k].n, &total);
			prev = b[k].slot;
		}
		if (bad || prev >= PF_HIST_NSLOTS || total != h->count)
			return -EINVAL;
		/* plausible (see Bounds), sum within [count * min, count * max] */
		if (h->count > HALF_COUNT_MAX || h->max > RTT_MAX_NS || h->min > h->max ||
		    (unsigned __int128)h->sum < (unsigned __int128)h->count * h->min ||
		    (unsigned __int128)h->sum > (unsigned __int128)h->count * h->max)
			return -EINVAL;
	}
	return 0;
}

/*
 * The values of a delta against the store: times, and totals that would
 * wrap (see Bounds and values).
 */
static int delta_values(const struct store *s, const struct wire_delta *d, uint64_t now_ns,
			enum store_refusal *why)
{
	uint64_t cnt = 0, sum = 0;
	uint32_t i;
	bool wrap = false;

	*why = STORE_REFUSE_TIME;
	if (d->end_ns < d->start_ns || d->end_ns > now_ns + 60 * 1000000000ULL ||
	    d->end_ns + s->o.max_age_ns < now_ns)
		return -ERANGE;
	for (i = 0; i < d->nh; i++) {
		wrap |= __builtin_add_overflow(cnt, d->h[i].count, &cnt);
		wrap |= __builtin_add_overflow(sum, d->h[i].sum, &sum);
	}
	*why = STORE_REFUSE_OVERFLOW;
	if (wrap || cnt > UINT64_MAX - s->total || cnt > UINT64_MAX - s->ring_count ||
	    sum > UINT64_MAX - s->ring_sum)
		return -EOVERFLOW;
	return 0;
}

/*
 * Distinct keys of a delta its box has no customer for: each will make an
 * unnamed customer. Entries come in (key, half) order.
 */
static uint32_t delta_new_keys(const struct box *bx, const struct wire_delta *d)
{
	uint32_t i, n = 0;

	for (i = 0; i < d->nh; i++)
		if ((!i || d->h[i].key != d->h[i - 1].key) && !key_get(bx, d->h[i].key))
			n++;
	return n;
}

/*
 * Customer-halves come in key order, and so mostly in memory order, but
 * a delta of 100k of them does not fit in the caches. Called at entry
 * i - AHEAD: fetches the customer of entry i + AHEAD, and the record of
 * entry i, whose customer was fetched AHEAD entries ago.
 */
#define AHEAD 8
static inline void prefetch_ahead(const struct store *s, const struct box *bx,
				  const struct wire_delta *d, uint32_t i, uint64_t a)
{
	uint32_t v = key_get(bx, d->h[i + AHEAD].key);
	const struct chalf *ch;

	if (v)
		__builtin_prefetch(cust_at(s, (v & ~KV_UNNAMED) - 1));
	v = key_get(bx, d->h[i].key);
	if (!v)
		return;
	ch = &cust_at(s, (v & ~KV_UNNAMED) - 1)->h[d->h[i].half];
	if (ch->head && ch->head_slot == a) {
		__builtin_prefetch(ch->head, 1);
		__builtin_prefetch((const char *)ch->head + 64, 1);
	}
}

int store_add_delta(struct store *s, const struct wire_delta *d, uint64_t now_ns,
		    uint64_t *gap_first, uint64_t *gap_last)
{
	enum store_refusal why;
	struct arena *ar = NULL;
	struct seqtrk *t;
	struct box *bx;
	uint64_t a, samples = 0, msum = 0;
	bool live;
	uint32_t i, nk;
	int err = 0, err2;

	*gap_first = *gap_last = 0;
	err = delta_check(d);
	if (err)
		return refuse(s, wire_box_ok(d->box) ? box_get(s, d->box, false, NULL) : NULL,
			      STORE_REFUSE_MALFORMED, err);
	bx = box_get(s, d->box, true, &err);
	if (!bx)
		return refuse(s, NULL, refusal_of(err), err);
	store_advance(s, now_ns);
	err = delta_values(s, d, now_ns, &why);
	if (err)
		return refuse(s, bx, why, err);
	nk = delta_new_keys(bx, d);
	if (nk && (bx->unnamed_keys + (uint64_t)nk > s->o.max_unnamed ||
		   s->nlive + (uint64_t)nk > s->o.max_customers))
		return refuse(s, bx, STORE_REFUSE_LIMIT, -ENOSPC);
	t = trk_of(bx, d->epoch);
	if (trk_seen(t, d->seq)) {
		bx->last_seen_ns = now_ns;
		bx->dups++;
		return 1;
	}
	if (t->hi && d->seq > t->hi && d->seq - t->hi > s->o.max_seq_jump) {
		bool confirms = bx->has_held && bx->held_epoch == d->epoch &&
				bx->held_seq + 1 == d->seq;

		if (!confirms) {
			bx->has_held = true;
			bx->held_epoch = d->epoch;
			bx->held_seq = d->seq;
			return refuse(s, bx, STORE_REFUSE_SEQ, -ERANGE);
		}
		bx->has_held = false;
	}
	bx->last_seen_ns = now_ns;
	if (d->seq > t->hi + 1 && d->seq > t->gap_hi + 1) {
		*gap_first = (t->hi > t->gap_hi ? t->hi : t->gap_hi) + 1;
		if (!t->hi && d->seq - 1 > s->o.max_seq_jump)
			*gap_first = d->seq - s->o.max_seq_jump;
		*gap_last = d->seq - 1;
		bx->gaps++;
		bx->gap_deltas += *gap_last - *gap_first + 1;
	}
	trk_mark(t, d->seq);
	bx->deltas++;
	if (d->end_ns > d->start_ns && t == &bx->trk[0])
		bx->interval_ns = d->end_ns - d->start_ns;

	a = d->end_ns / s->o.slot_ns;
	if (a > s->cur)
		a = s->cur;
	live = slot_live(s, a);
	if (live)
		ar = arena_of(s, a);
	else
		bx->late++;
	for (i = 0; i < d->nh; i++) {
		const struct wire_hist *wh = &d->h[i];
		const struct wire_bucket *b = d->b + wh->off;
		uint32_t v = key_get(bx, wh->key);
		struct cust *c;

		if (live && i + 2 * AHEAD < d->nh)
			prefetch_ahead(s, bx, d, i + AHEAD, a);

		if (!v && !(v = key_unnamed(s, bx, wh->key, &err)))
			break;
		bx->unnamed += !!(v & KV_UNNAMED);
		samples += wh->count;
		msum += wh->sum;
		if (!live)
			continue;
		c = cust_at(s, (v & ~KV_UNNAMED) - 1);
		c->seen_ns = now_ns;
		err2 = chalf_add(s, ar, &c->h[wh->half], a, wh, b);
		err = err ?: err2;
		if (c->site == NONE) {
			scratch_add(&s->bscr, wh->half, wh, b);
		} else {
			site_touch(s, c->site);
			scratch_add(&s->sscr[c->site], wh->half, wh, b);
		}
	}
	if (live) {
		err2 = scratch_flush(s, bx, a);
		err = err ?: err2;
		s->ring_count += samples;
		s->ring_sum += msum;
	}
	bx->samples += samples;
	s->total += samples;
	return err;
}

void store_gap_done(struct store *s, const char *box, uint64_t epoch, uint64_t first,
		    uint64_t last, uint64_t recovered)
{
	struct box *bx = wire_box_ok(box) ? box_get(s, box, false, NULL) : NULL;
	struct seqtrk *t = NULL;
	uint64_t missing, q;

	if (!bx || !first || last < first)
		return;
	if (bx->has_epoch && bx->trk[0].epoch == epoch)
		t = &bx->trk[0];
	else if (bx->has_prev && bx->trk[1].epoch == epoch)
		t = &bx->trk[1];
	missing = last - first + 1;
	if (t && last <= t->hi && t->hi - first < SEQ_WIN) {
		recovered = 0;
		for (q = first; q <= last; q++)
			recovered += trk_seen(t, q);
	}
	if (recovered > missing)
		recovered = missing;
	bx->recovered += recovered;
	bx->lost += missing - recovered;
}

/* Checks the strings of a catalog before anything changes. */
static int catalog_check(const struct wire_catalog *c)
{
	uint32_t i;

	if (!wire_box_ok(c->box) || (c->n && !c->c))
		return -EINVAL;
	for (i = 0; i < c->n; i++) {
		const struct wire_cust *w = &c->c[i];
		size_t n = strnlen(w->id, sizeof(w->id));

		if (!n || n == sizeof(w->id) || strnlen(w->name, sizeof(w->name)) == sizeof(w->name) ||
		    strnlen(w->site, sizeof(w->site)) == sizeof(w->site))
			return -EINVAL;
	}
	return 0;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* nboxes of the customers the box's catalog stops or starts naming. */
static void named_diff(struct store *s, const uint32_t *old, uint32_t no, const uint32_t *nw,
		       uint32_t nn)
{
	uint32_t i = 0, j = 0;

	while (i < no || j < nn) {
		if (j == nn || (i < no && old[i] < nw[j]))
			cust_at(s, old[i++])->nboxes--;
		else if (i == no || nw[j] < old[i])
			cust_at(s, nw[j++])->nboxes++;
		else
			i++, j++;
	}
}

int store_add_catalog(struct store *s, const struct wire_catalog *c, uint64_t now_ns)
{
	uint32_t *named = NULL, cnt = 0, nn = 0, i;
	struct box *bx;
	int err = 0;

	err = catalog_check(c);
	if (err)
		return refuse(s, wire_box_ok(c->box) ? box_get(s, c->box, false, NULL) : NULL,
			      STORE_REFUSE_MALFORMED, err);
	bx = box_get(s, c->box, true, &err);
	if (!bx)
		return refuse(s, NULL, refusal_of(err), err);
	store_advance(s, now_ns);
	if (c->n > s->o.max_catalog)
		return refuse(s, bx, STORE_REFUSE_LIMIT, -ENOSPC);
	for (i = 0; i < c->n; i++)	/* customers it would add */
		cnt += strmap_get(s, &s->cmap, cust_key, c->c[i].id, str_hash(c->c[i].id)) == NONE;
	if (s->nlive + (uint64_t)cnt > s->o.max_customers)
		return refuse(s, bx, STORE_REFUSE_LIMIT, -ENOSPC);
	cnt = 0;
	bx->last_seen_ns = now_ns;
	if (bx->has_cat && ((c->epoch == bx->cat_epoch && c->seq < bx->cat_seq) ||
			    (bx->has_prev_cat && c->epoch == bx->prev_cat_epoch)))
		return 0;	/* older than the one in force */
	if (c->n) {
		named = malloc((size_t)c->n * sizeof(*named));
		if (!named)
			return -ENOMEM;
	}
	if (bx->kmap)
		memset(bx->kmap, 0, (size_t)bx->kmap_len * sizeof(*bx->kmap));
	u32map_clear(&bx->big);
	bx->kmap_keys = c->n;
	bx->unnamed_keys = 0;
	for (i = 0; i < c->n; i++) {
		const struct wire_cust *w = &c->c[i];
		uint32_t site = NONE, ci;
		char path[256];

		err = site_norm(w->site, path, sizeof(path));
		if (!err && path[0])
			site = site_get(s, path, true, &err);
		if (err)
			break;
		ci = cust_get(s, w->id, true, &err);
		if (ci == NONE)
			break;
		named[cnt++] = ci;
		err = cust_set_name(s, cust_at(s, ci), w->name) ?: key_set(s, bx, w->key, ci + 1);
		if (err)
			break;
		cust_at(s, ci)->site = site;
		cust_at(s, ci)->seen_ns = now_ns;
	}
	/* on error, what was mapped so far stays in force, and is counted */
	if (err)
		refuse(s, bx, refusal_of(err), err);
	if (cnt)
		qsort(named, cnt, sizeof(*named), u32_cmp);
	for (i = 0; i < cnt; i++)
		if (!nn || named[nn - 1] != named[i])
			named[nn++] = named[i];
	named_diff(s, bx->named, bx->nnamed, named, nn);
	free(bx->named);
	bx->named = named;
	bx->nnamed = nn;
	if (bx->has_cat && bx->cat_epoch != c->epoch) {
		bx->prev_cat_epoch = bx->cat_epoch;
		bx->has_prev_cat = true;
	}
	bx->has_cat = true;
	bx->cat_epoch = c->epoch;
	bx->cat_seq = c->seq;
	return err;
}

int store_stats_gap(struct store *s, const struct wire_stats *st, uint64_t *gap_first,
		    uint64_t *gap_last)
{
	struct box *bx = wire_box_ok(st->box) ? box_get(s, st->box, false, NULL) : NULL;
	struct seqtrk *t;
	uint64_t from;

	*gap_first = *gap_last = 0;
	if (!bx || !bx->has_epoch || bx->trk[0].epoch != st->epoch)
		return 0;
	t = &bx->trk[0];
	from = (t->hi > t->gap_hi ? t->hi : t->gap_hi) + 1;
	if (st->seq < from || st->seq - t->hi > s->o.max_seq_jump)
		return 0;
	*gap_first = from;
	*gap_last = st->seq;
	t->gap_hi = st->seq;
	bx->gaps++;
	bx->gap_deltas += st->seq - from + 1;
	return 1;
}

int store_add_stats(struct store *s, const struct wire_stats *st, uint64_t now_ns)
{
	struct box *bx;
	int err = 0;

	if (!wire_box_ok(st->box) || st->n > WIRE_MAX_STATS)
		return refuse(s, NULL, STORE_REFUSE_MALFORMED, -EINVAL);
	bx = box_get(s, st->box, true, &err);
	if (!bx)
		return refuse(s, NULL, refusal_of(err), err);
	store_advance(s, now_ns);
	bx->last_seen_ns = now_ns;
	bx->stats = *st;
	return 0;
}

/* ---- queries ------------------------------------------------------------- */

/* Slots [*lo, *hi] of window w at now_ns. */
static void win_range(struct store *s, enum store_window w, uint64_t now_ns, uint64_t *lo,
		      uint64_t *hi)
{
	uint32_t n = s->nwin[w];

	store_advance(s, now_ns);
	*hi = now_ns / s->o.slot_ns;
	*lo = *hi + 1 >= n ? *hi + 1 - n : 0;
}

static void rec_to_dense(struct hist *h, const struct rec *r)
{
	unsigned k;

	for (k = 0; k < r->n; k++)
		h->slot[r->idx[k]] += rec_cnt(r, k);
	h->count += r->count;
	h->sum += r->sum;
	if (r->min < h->min)
		h->min = r->min;
	if (r->max > h->max)
		h->max = r->max;
}

/*
 * Adds a customer-half's records of slots [lo, hi] to h (not cleared).
 * *rlo / *rhi widen to the histogram slots touched.
 */
static void chalf_window(const struct store *s, const struct chalf *ch, uint64_t lo, uint64_t hi,
			 struct hist *h, unsigned *rlo, unsigned *rhi)
{
	const struct rec *r = ch->head;
	uint64_t a = ch->head_slot;

	while (r && slot_live(s, a) && a >= lo) {
		if (a <= hi && r->n) {
			rec_to_dense(h, r);
			if (r->idx[0] < *rlo)
				*rlo = r->idx[0];
			if (r->idx[r->n - 1] > *rhi)
				*rhi = r->idx[r->n - 1];
		}
		a = r->prev_slot;
		r = r->prev;
	}
}

static void ring_window(const struct store *s, const struct dslot *ring, uint64_t lo,
			uint64_t hi, struct hist out[PF_NHALVES])
{
	uint64_t a;

	for (a = lo; a <= hi; a++) {
		const struct dslot *d = &ring[a % s->ns];

		if (d->slot == a && d->h && slot_live(s, a)) {
			hist_merge(&out[0], &d->h[0]);
			hist_merge(&out[1], &d->h[1]);
		}
		if (a == UINT64_MAX)
			break;
	}
}

static int window_ok(enum store_window w)
{
	return (unsigned)w < STORE_NWINDOWS ? 0 : -EINVAL;
}

int store_customer(struct store *s, const char *id, enum store_window w, uint64_t now_ns,
		   struct hist out[PF_NHALVES])
{
	unsigned h, rlo = PF_HIST_NSLOTS, rhi = 0;
	uint64_t lo, hi;
	uint32_t i;

	if (window_ok(w) || !id)
		return -EINVAL;
	i = strmap_get(s, &s->cmap, cust_key, id, str_hash(id));
	if (i == NONE)
		return -ENOENT;
	win_range(s, w, now_ns, &lo, &hi);
	for (h = 0; h < PF_NHALVES; h++) {
		hist_init(&out[h]);
		chalf_window(s, &cust_at(s, i)->h[h], lo, hi, &out[h], &rlo, &rhi);
	}
	return 0;
}

int store_site(struct store *s, const char *path, enum store_window w, uint64_t now_ns,
	       struct hist out[PF_NHALVES])
{
	char norm[256];
	uint64_t lo, hi;
	uint32_t i;

	if (window_ok(w) || !path)
		return -EINVAL;
	if (site_norm(path, norm, sizeof(norm)))
		return -ENOENT;
	if (!norm[0])
		return store_fleet(s, w, now_ns, out);
	i = strmap_get(s, &s->smap, site_key, norm, str_hash(norm));
	if (i == NONE)
		return -ENOENT;
	win_range(s, w, now_ns, &lo, &hi);
	hist_init(&out[0]);
	hist_init(&out[1]);
	ring_window(s, s->sites[i]->ring, lo, hi, out);
	return 0;
}

int store_box(struct store *s, const char *box, enum store_window w, uint64_t now_ns,
	      struct hist out[PF_NHALVES])
{
	struct box *bx;
	uint64_t lo, hi;

	if (window_ok(w) || !box)
		return -EINVAL;
	bx = wire_box_ok(box) ? box_get(s, box, false, NULL) : NULL;
	if (!bx)
		return -ENOENT;
	win_range(s, w, now_ns, &lo, &hi);
	hist_init(&out[0]);
	hist_init(&out[1]);
	ring_window(s, bx->ring, lo, hi, out);
	return 0;
}

int store_fleet(struct store *s, enum store_window w, uint64_t now_ns,
		struct hist out[PF_NHALVES])
{
	uint64_t lo, hi;

	if (window_ok(w))
		return -EINVAL;
	win_range(s, w, now_ns, &lo, &hi);
	hist_init(&out[0]);
	hist_init(&out[1]);
	ring_window(s, s->fleet, lo, hi, out);
	return 0;
}

static void cust_info(const struct store *s, uint32_t i, struct store_cust_info *out)
{
	const struct cust *c = cust_at(s, i);

	snprintf(out->id, sizeof(out->id), "%s", c->str);
	snprintf(out->name, sizeof(out->name), "%s", c->str + strlen(c->str) + 1);
	snprintf(out->site, sizeof(out->site), "%s",
		 c->site == NONE ? "" : s->sites[c->site]->path);
	out->nboxes = c->nboxes;
}

int store_customer_info(struct store *s, const char *id, struct store_cust_info *out)
{
	uint32_t i = id ? strmap_get(s, &s->cmap, cust_key, id, str_hash(id)) : NONE;

	if (i == NONE)
		return -ENOENT;
	cust_info(s, i, out);
	return 0;
}

static int cinfo_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_cust_info *)a)->id,
		      ((const struct store_cust_info *)b)->id);
}

int store_customers(struct store *s, struct store_cust_info **out, size_t *n)
{
	struct store_cust_info *v;
	uint32_t i;

	*out = NULL;
	*n = 0;
	v = calloc(s->nlive ? s->nlive : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < s->ncust; i++)
		if (cust_at(s, i)->str)
			cust_info(s, i, &v[(*n)++]);
	qsort(v, *n, sizeof(*v), cinfo_cmp);
	*out = v;
	return 0;
}

static int str_pcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int store_sites(struct store *s, char ***out, size_t *n)
{
	char **v;
	uint32_t i;

	*out = NULL;
	*n = 0;
	v = calloc(s->nsite ? s->nsite : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < s->nsite; i++) {
		v[i] = strdup(s->sites[i]->path);
		if (!v[i]) {
			while (i--)
				free(v[i]);
			free(v);
			return -ENOMEM;
		}
	}
	qsort(v, s->nsite, sizeof(*v), str_pcmp);
	*out = v;
	*n = s->nsite;
	return 0;
}

struct cand {
	double v;
	uint64_t count;
	uint32_t idx;
};

static const char *cand_name(const struct store *s, enum store_kind kind, uint32_t idx)
{
	return kind == STORE_CUSTOMER ? cust_at(s, idx)->str : s->sites[idx]->path;
}

/* a before b in the top list: worse value, then more samples, then name. */
static bool cand_before(const struct store *s, enum store_kind kind, const struct cand *a,
			const struct cand *b)
{
	if (a->v != b->v)
		return a->v > b->v;
	if (a->count != b->count)
		return a->count > b->count;
	return strcmp(cand_name(s, kind, a->idx), cand_name(s, kind, b->idx)) < 0;
}

/* Inserts c into the sorted list top[0..*m) of at most n. */
static void cand_insert(const struct store *s, enum store_kind kind, struct cand *top,
			int *m, int n, const struct cand *c)
{
	int lo = 0, hi = *m;

	if (*m == n && !cand_before(s, kind, c, &top[n - 1]))
		return;
	while (lo < hi) {
		int mid = (lo + hi) / 2;

		if (cand_before(s, kind, c, &top[mid]))
			hi = mid;
		else
			lo = mid + 1;
	}
	if (*m < n)
		(*m)++;
	memmove(&top[lo + 1], &top[lo], (size_t)(*m - 1 - lo) * sizeof(*top));
	top[lo] = *c;
}

int store_top(struct store *s, enum store_kind kind, enum pf_half half, double q,
	      enum store_window w, uint64_t now_ns, uint64_t min_count, struct store_top *out,
	      int n)
{
	struct hist *h = NULL, pair[PF_NHALVES];
	struct cand *top = NULL, c;
	uint64_t lo, hi;
	uint32_t i, nent;
	int m = 0;

	if (window_ok(w) || (unsigned)half >= PF_NHALVES || !(q >= 0 && q <= 1) ||
	    (kind != STORE_CUSTOMER && kind != STORE_SITE) || (n > 0 && !out))
		return -EINVAL;
	if (n <= 0)
		return 0;
	if (min_count < 1)
		min_count = 1;
	top = malloc((size_t)n * sizeof(*top));
	h = malloc(sizeof(*h));
	if (!top || !h) {
		free(top);
		free(h);
		return -ENOMEM;
	}
	hist_init(h);
	win_range(s, w, now_ns, &lo, &hi);
	nent = kind == STORE_CUSTOMER ? s->ncust : s->nsite;
	for (i = 0; i < nent; i++) {
		const struct hist *x;
		unsigned rlo = PF_HIST_NSLOTS, rhi = 0;

		if (kind == STORE_CUSTOMER) {
			if (!cust_at(s, i)->str)
				continue;
			chalf_window(s, &cust_at(s, i)->h[half], lo, hi, h, &rlo, &rhi);
			x = h;
		} else {
			hist_init(&pair[0]);
			hist_init(&pair[1]);
			ring_window(s, s->sites[i]->ring, lo, hi, pair);
			x = &pair[half];
		}
		if (x->count >= min_count) {
			c = (struct cand){ .v = hist_quantile(x, q), .count = x->count, .idx = i };
			cand_insert(s, kind, top, &m, n, &c);
		}
		if (kind == STORE_CUSTOMER && h->count) {	/* clear what was touched */
			if (rlo <= rhi)
				memset(&h->slot[rlo], 0, (rhi - rlo + 1) * sizeof(uint64_t));
			h->count = h->sum = h->max = 0;
			h->min = UINT64_MAX;
		}
	}
	for (i = 0; i < (uint32_t)m; i++) {
		snprintf(out[i].name, sizeof(out[i].name), "%s", cand_name(s, kind, top[i].idx));
		out[i].value_ns = top[i].v;
		out[i].count = top[i].count;
	}
	free(top);
	free(h);
	return m;
}

static int binfo_cmp(const void *a, const void *b)
{
	return strcmp(((const struct store_box_info *)a)->box,
		      ((const struct store_box_info *)b)->box);
}

int store_boxes(struct store *s, uint64_t now_ns, struct store_box_info **out, size_t *n)
{
	struct store_box_info *v;
	uint32_t i;

	*out = NULL;
	*n = 0;
	store_advance(s, now_ns);
	v = calloc(s->nbox ? s->nbox : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < s->nbox; i++) {
		const struct box *b = s->boxes[i];
		uint64_t iv = b->interval_ns ? b->interval_ns : s->o.slot_ns;

		memcpy(v[i].box, b->id, sizeof(v[i].box));
		v[i].epoch = b->has_epoch ? b->trk[0].epoch : 0;
		v[i].last_seq = b->has_epoch ? b->trk[0].hi : 0;
		v[i].last_seen_ns = b->last_seen_ns;
		v[i].interval_ns = b->interval_ns;
		v[i].stale = now_ns > b->last_seen_ns &&
			     now_ns - b->last_seen_ns > (uint64_t)s->o.stale_intervals * iv;
		v[i].deltas = b->deltas;
		v[i].dups = b->dups;
		v[i].gaps = b->gaps;
		v[i].gap_deltas = b->gap_deltas;
		v[i].recovered = b->recovered;
		v[i].lost = b->lost;
		v[i].unnamed = b->unnamed;
		v[i].samples = b->samples;
		v[i].late = b->late;
		memcpy(v[i].refused, b->refused, sizeof(v[i].refused));
		v[i].unnamed_keys = b->unnamed_keys;
		v[i].stats = b->stats;
	}
	qsort(v, s->nbox, sizeof(*v), binfo_cmp);
	*out = v;
	*n = s->nbox;
	return 0;
}

const char *store_key_id(struct store *s, const char *box, uint32_t key)
{
	struct box *bx = box && wire_box_ok(box) ? box_get(s, box, false, NULL) : NULL;
	uint32_t v = bx ? key_get(bx, key) : 0;

	if (!v || (v & KV_UNNAMED))
		return NULL;
	return cust_at(s, v - 1)->str;
}

uint64_t store_total_samples(const struct store *s)
{
	return s->total;
}

size_t store_mem_bytes(const struct store *s)
{
	return s->heap_bytes + s->arena_bytes + s->pool_bytes;
}
