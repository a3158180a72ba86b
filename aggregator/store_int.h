/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The store's insides, shared by its parts (see store.h for its API):
 *   store.c        open, close, windows
 *   store_mem.c    maps, arenas and the period ring, records, scratch sums
 *   store_entity.c customers, sites, boxes, keys; forgetting
 *   store_ingest.c sequences, refusals, deltas, catalogs, stats
 *   store_query.c  windows summed, lists, top-N
 * Decisions, in one place:
 *
 * Time. Slot a holds the deltas whose end_ns / slot_ns == a (slot_ns
 * divides a minute: 5 s to 60 s, default 10 s). Slots are grouped in
 * three tiers of periods: tier 0 the slots themselves, tier 1 minutes,
 * tier 2 five minutes (L[t] slots each). A window is a number of periods
 * of one tier, the newest being the current one (partly elapsed):
 *     10s: ceil(10 s / slot) slots   1m: 1 minute of slots
 *     5m: 5 minutes                  15m: 3 five-minute periods
 *     1h: 12 five-minute periods
 * so a window spans (its length - one period, its length]: the 1 h window
 * is 55 to 60 minutes long. "cur" is the slot of the largest now_ns any
 * call passed (the aggregator's clock, never a box's: a box clock running
 * ahead cannot push data out), and windows always end at cur. A delta
 * stamped after cur lands in cur. A delta whose slot is older than the
 * 1 h window (a late replay) counts in the totals (store_total_samples,
 * box samples, box late) but in no window.
 *
 * Series and records. A series is a customer-half, or a half of a site, a
 * box or the fleet. Deltas at the current slot merge into the series' open
 * record (struct rec: mutable, with spare buckets, in the open arena).
 * When a slot closes, each open record is written once, compact (struct
 * crec: varints, exact size, ~40-80 bytes), as the series' record of that
 * slot; when a minute closes, the records of its slots are summed into one
 * record of the minute, and when five minutes close, those of its minutes
 * into one record of the five minutes. Each tier keeps its newest closed
 * periods (K[t]: 6 slots, 5 minutes, 12 five minutes: what its windows
 * and the next tier's sums need), in one arena per period, freed in one
 * go when the period leaves, so ageing costs no walk over the customers.
 * A series' records of a tier form a list, newest first, each holding the
 * period of the next older one; a link is followed only while that period
 * is still kept, so links into freed arenas are never read.
 *
 * Windows cost O(1) per entity, whatever their length. A window is the
 * closed records of its tier in it, the current (open) period's content
 * being the closed records of the tiers below since it began and the open
 * record: at most 12 records read. The 1 h window instead keeps a total
 * of its 11 closed five minutes (a heap record): a closing five minutes
 * is added, the one leaving is taken off (counts, sums and buckets
 * subtract exactly; when the one leaving held the total's min or max,
 * they are taken again from the five minutes still in it). A delta for a
 * closed slot (a replay) is merged into the closed record of every tier
 * that keeps the period holding it (a compact record is rewritten in its
 * period's arena; the old copy is garbage until the period leaves), and
 * into the 1 h total when it holds that five minutes; a period still open
 * gets it from the tier below when it closes.
 *
 * Memory. Arenas are chunks, bump allocated. Chunks of 4 MiB are mapped
 * with huge pages and pooled when their period is dropped (up to the
 * largest arena seen), so that in steady state a new period reuses the
 * memory of one that left. The open arena lists the series that have an
 * open record (their owner ids), so closing a slot walks only those;
 * closing a minute or five minutes walks every series once (cheap at that
 * rate, and no per-record list to keep). An open record holds count, sum,
 * min, max, u8 slot numbers and u32 counts (u64 when its count passes
 * 2^32), with 2 spare buckets for the next delta; one that must grow is
 * copied to a larger one in the same arena.
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
 * delta, the touched sites are flushed bottom-up (each into its own
 * series and into its parent's scratch, top-level sites into the box's
 * scratch), then the box's scratch into the box's and the fleet's series.
 * So a site's series is the sum of its subtree, kept at merge time at a
 * cost per delta and touched site, not per customer-half, and a site
 * query reads only its own records. Scratch histograms track the range of
 * histogram slots they touched: only that range is merged and cleared.
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
#ifndef PINGFOLD_STORE_INT_H
#define PINGFOLD_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
#define NTIERS		3		/* slots, minutes, five minutes */
#define PER_NONE	UINT32_MAX	/* no period (periods are u32: slots of >= 5 s) */
#define HALF_COUNT_MAX	(1ULL << 36)	/* samples of a customer-half in one delta */
#define RTT_MAX_NS	(1ULL << 42)	/* 73 minutes: no RTT is longer */
#define FORGET_EVERY_NS	(60 * 1000000000ULL)	/* how often st_forget() looks */

static const char *const win_names[STORE_NWINDOWS] = { "10s", "1m", "5m", "15m", "1h" };
/* The tier of each window's periods (see Time). */
static const uint8_t win_tier[STORE_NWINDOWS] = { 0, 0, 1, 2, 2 };

/* Series owners, as kept in arenas: kind << 30 | index << 1 | half. */
enum { OWN_CUST, OWN_SITE, OWN_BOX, OWN_FLEET };
#define OWN(kind, idx, half)	((uint32_t)(kind) << 30 | (uint32_t)(idx) << 1 | (uint32_t)(half))
#define OWN_IDX_MAX		((1u << 29) - 1)

/* ---- structures ---------------------------------------------------------- */

struct chunk {
	struct chunk *next;
	size_t size;
	char data[];
};

/* Everything of one period of a tier; freed when the period leaves it. */
struct arena {
	uint64_t slot;			/* the period; SLOT_NONE: unused */
	struct chunk *chunks;
	char *cur;
	size_t left, next_size, bytes;
	uint32_t *own;			/* series with a record here (OWN) */
	uint32_t nown, own_cap;
};

/*
 * An open record (the current slot of a series) or a window total. idx[cap]
 * follows the header, then the counts (u32, or u64 when wide) at an
 * 8-aligned offset.
 */
struct rec {
	uint64_t count, sum, min, max;
	uint8_t n, cap, wide;
	uint8_t idx[];
};

/*
 * A closed period of a series, compact: after the header, varints of
 * count, sum, min and max - min, then n times (slot number - the one
 * before, as a byte; its count, a varint).
 */
struct crec {
	struct crec *prev;		/* next older record of its tier */
	uint32_t prev_per;		/* its period; followed only while kept */
	uint8_t n;
	uint8_t redo;			/* listed in dirty: to be given again as a point */
	uint8_t data[];
};

/* A series: a customer-half, or a half of a site, a box or the fleet. */
struct chalf {
	struct rec *open;		/* of slot open_slot, when that is cur */
	uint32_t open_slot;
	uint32_t head_per[NTIERS];	/* the period of head[t] */
	struct crec *head[NTIERS];	/* closed periods, newest first */
	struct rec *tot;		/* the 1 h window's closed five minutes (heap) */
};

struct cust {
	char *str;			/* id '\0' name '\0'; NULL: forgotten, free */
	uint32_t site;			/* NONE: no site */
	uint32_t nboxes;
	bool excluded;			/* store_set_excluded: out of rollups and tops */
	uint64_t seen_ns;		/* last named by a catalog or merged into */
	struct chalf h[PF_NHALVES];
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
	uint32_t idx;			/* in boxes[] */
	struct chalf h[PF_NHALVES];
	bool has_rest;			/* restored: deltas up to rest_hi are in the history */
	uint64_t rest_epoch, rest_hi;
};

struct site {
	char *path;
	uint32_t parent, depth;
	struct chalf h[PF_NHALVES];	/* its whole subtree */
};

/* Per-delta scratch: a dense histogram per half and the slots touched. */
struct scratch {
	struct hist h[PF_NHALVES];
	uint16_t lo, hi;		/* lo > hi: untouched */
	uint32_t next;			/* depth list of touched sites */
	bool on;
};

/* A series' point to give again (see store_points). */
struct dirty {
	uint32_t own, per;
};

struct strmap {
	uint64_t *e;			/* hash32 << 32 | (index + 1); 0 = empty */
	uint32_t cap, n;
};

struct store {
	struct store_opts o;
	uint32_t L[NTIERS];		/* slots per period */
	uint32_t K[NTIERS];		/* closed periods kept */
	uint32_t nwin[STORE_NWINDOWS];	/* periods of its tier per window */
	uint64_t cur;			/* newest slot */
	uint64_t curp[NTIERS];		/* its period in each tier */
	bool started;
	struct arena open;		/* open records of slot cur */
	struct arena *arenas[NTIERS];	/* [K[t]] closed periods, by period % K[t] */
	size_t arena_bytes, tot_bytes;
	uint64_t nomem;			/* records lost to a failed allocation */
	struct store_points *pts;	/* points being made (see store_opts.on_points) */
	struct dirty *dirty;		/* points to give again when the next slot closes */
	char **excl;			/* excluded ids, sorted (store_set_excluded) */
	size_t nexcl;
	/* restored from history up to (unix seconds, exclusive): customers, rollups */
	uint64_t rest_cust_s, rest_roll_s;
	uint32_t ndirty, dirty_cap;
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

	struct chalf fleet[PF_NHALVES];
	uint64_t total;
	uint64_t ring_count, ring_sum;	/* the fleet over every live slot */
	uint64_t refused[STORE_NREFUSALS];
	enum store_refusal last_refusal;
	size_t heap_bytes;		/* everything but arenas, approximately */
};

/* A record's bucket indexes are uint8_t (struct rec). */
_Static_assert(PF_HIST_NSLOTS <= 256, "bucket indexes must fit a uint8_t");

/* ---- shared between the parts ------------------------------------------- */

typedef const char *(*key_fn)(const struct store *s, uint32_t i);

/* store_mem.c */
uint32_t st_u32map_get(const struct u32map *m, uint32_t key);
void st_u32map_clear(struct u32map *m);
void st_scratch_init(struct scratch *t);
int st_strmap_put(struct store *s, struct strmap *m, uint32_t h, uint32_t idx);
void st_site_touch(struct store *s, uint32_t site);
int st_scratch_flush(struct store *s, struct box *bx, uint64_t a);
uint32_t st_strmap_get(const struct store *s, const struct strmap *m, key_fn kf, const char *key, uint32_t h);
int st_grow(void *pp, uint32_t *cap, uint32_t want, size_t elem);
void st_arena_free(struct store *s, struct arena *a, bool keep);
uint32_t st_str_hash(const char *p);
int st_u32map_set(struct u32map *m, uint32_t key, uint32_t val);
struct arena *st_arena_of(struct store *s, unsigned t, uint64_t p);
int st_open_add(struct store *s, struct chalf *ch, uint32_t own, const struct wire_hist *wh, const struct wire_bucket *b);
unsigned st_rec_buckets(const struct rec *r, struct wire_hist *wh, struct wire_bucket *b);
struct crec *st_crec_new(struct store *s, struct arena *ar, const struct wire_hist *wh, const struct wire_bucket *b);
struct crec *st_crec_of_rec(struct store *s, struct arena *ar, const struct rec *r);
unsigned st_crec_buckets(const struct crec *r, struct wire_hist *wh, struct wire_bucket *b);
void st_crec_stats(const struct crec *r, struct wire_hist *wh);
void st_crec_to_dense(const struct crec *r, struct hist *h, unsigned *lo, unsigned *hi);
void st_dense_to_wire(const struct hist *h, unsigned lo, unsigned hi, struct wire_hist *wh, struct wire_bucket *b);
int st_tot_add(struct store *s, struct rec **tp, const struct wire_hist *wh, const struct wire_bucket *b);
void st_tot_sub(struct store *s, struct rec **tp, const struct wire_hist *wh, const struct wire_bucket *b);
void st_tot_free(struct store *s, struct rec **tp);

/* store_tier.c */
int st_series_add(struct store *s, struct chalf *ch, uint32_t own, uint64_t a, const struct wire_hist *wh, const struct wire_bucket *b);
struct chalf *st_own_series(struct store *s, uint32_t own);
void st_chalf_init(struct chalf *ch);
void st_chalf_free(struct store *s, struct chalf *ch);
bool st_chalf_live(const struct store *s, const struct chalf *ch);
struct crec *st_crec_find(const struct store *s, unsigned t, const struct chalf *ch, uint64_t p);

/* store_entity.c */
void st_forget(struct store *s, uint64_t now_ns);
struct box *st_box_get(struct store *s, const char *id, bool create, int *err);
int st_cust_set_name(struct store *s, struct cust *c, const char *name);
uint32_t st_site_get(struct store *s, const char *path, bool create, int *err);
int st_site_norm(const char *in, char *out, size_t cap);
uint32_t st_key_unnamed(struct store *s, struct box *b, uint32_t key, int *err);
int st_key_set(struct store *s, struct box *b, uint32_t key, uint32_t v);
uint32_t st_cust_get(struct store *s, const char *id, bool create, int *err);
bool st_is_excluded(const struct store *s, const char *id);

/* ---- small helpers ------------------------------------------------------- */

static inline size_t rec_cnt_off(unsigned cap)
{
	return (offsetof(struct rec, idx) + cap + 7) & ~(size_t)7;
}

static inline struct cust *cust_at(const struct store *s, uint32_t i)
{
	return &s->cpage[i >> CPAGE_SHIFT][i & (CPAGE_SIZE - 1)];
}
/* Slot a (<= cur) is in the 1 h window. */
static inline bool slot_in_1h(const struct store *s, uint64_t a)
{
	return a <= s->cur && s->curp[2] - a / s->L[2] < s->nwin[STORE_W1H];
}

/* Closed period p of tier t is kept. */
static inline bool per_kept(const struct store *s, unsigned t, uint64_t p)
{
	return p != PER_NONE && p < s->curp[t] && s->curp[t] - p <= s->K[t];
}
static inline uint64_t rec_cnt(const struct rec *r, unsigned k)
{
	const void *p = (const char *)r + rec_cnt_off(r->cap);

	return r->wide ? ((const uint64_t *)p)[k] : ((const uint32_t *)p)[k];
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

static inline uint32_t key_get(const struct box *b, uint32_t key)
{
	uint32_t v = key < b->kmap_len ? b->kmap[key] : 0;

	return v || !b->big.n ? v : st_u32map_get(&b->big, key);
}

static inline const char *st_cust_key(const struct store *s, uint32_t i) { return cust_at(s, i)->str; }
static inline const char *st_box_key(const struct store *s, uint32_t i) { return s->boxes[i]->id; }
static inline const char *st_site_key(const struct store *s, uint32_t i) { return s->sites[i]->path; }

#endif /* PINGFOLD_STORE_INT_H */
