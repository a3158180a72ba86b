// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* What comes in: sequences and gaps, refusals, deltas, catalogs, stats. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "aggregator/store_int.h"

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

/* ---- refusals and ingest ------------------------------------------------ */

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
	struct box *bx = box && wire_box_ok(box) ? st_box_get(s, box, false, NULL) : NULL;

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
	uint32_t i;

	if (!wire_box_ok(d->box) || !d->seq || (d->nh && (!d->h || !d->b)))
		return -EINVAL;
	if (d->scale != PF_HIST_SCALE)
		return -EINVAL;
	for (i = 0; i < d->nh; i++) {
		const struct wire_hist *h = &d->h[i];
		const struct wire_bucket *b = d->b + h->off;

		if (h->half >= PF_NHALVES || h->off > d->nb || h->nb > d->nb - h->off ||
		    hist_check_buckets(h->count, h->min, h->max, &b->slot, &b->n, sizeof(*b),
				       sizeof(*b), h->nb))
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
	if (ch->open && ch->open_slot == a) {
		__builtin_prefetch(ch->open, 1);
		__builtin_prefetch((const char *)ch->open + 64, 1);
	}
}

int store_add_delta(struct store *s, const struct wire_delta *d, uint64_t now_ns,
		    uint64_t *gap_first, uint64_t *gap_last)
{
	enum store_refusal why;
	struct seqtrk *t;
	struct box *bx;
	uint64_t a, samples = 0, rcount = 0, rsum = 0, slot_s;
	bool live, known, skip_cust, skip_roll;
	uint32_t i, nk;
	int err = 0, err2;

	*gap_first = *gap_last = 0;
	err = delta_check(d);
	if (err)
		return refuse(s, wire_box_ok(d->box) ? st_box_get(s, d->box, false, NULL) : NULL,
			      STORE_REFUSE_MALFORMED, err);
	bx = st_box_get(s, d->box, true, &err);
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
	live = slot_in_1h(s, a);
	if (!live)
		bx->late++;
	/* in the history already (restored at start): counted, not merged again */
	slot_s = a * s->o.slot_ns / 1000000000ULL;
	known = bx->has_rest && d->epoch == bx->rest_epoch && d->seq <= bx->rest_hi;
	skip_cust = known && slot_s < s->rest_cust_s;
	skip_roll = known && slot_s < s->rest_roll_s;
	for (i = 0; i < d->nh; i++) {
		const struct wire_hist *wh = &d->h[i];
		const struct wire_bucket *b = d->b + wh->off;
		uint32_t v = key_get(bx, wh->key);
		struct cust *c;

		if (live && i + 2 * AHEAD < d->nh)
			prefetch_ahead(s, bx, d, i + AHEAD, a);

		if (!v && !(v = st_key_unnamed(s, bx, wh->key, &err)))
			break;
		bx->unnamed += !!(v & KV_UNNAMED);
		samples += wh->count;
		if (!live)
			continue;
		c = cust_at(s, (v & ~KV_UNNAMED) - 1);
		c->seen_ns = now_ns;
		if (!skip_cust) {
			err2 = st_series_add(s, &c->h[wh->half],
					     OWN(OWN_CUST, (v & ~KV_UNNAMED) - 1, wh->half), a, wh, b);
			err = err ?: err2;
		}
		if (skip_roll || c->excluded)
			continue;	/* in the history already; expected high latency */
		rcount += wh->count;
		rsum += wh->sum;
		if (c->site == NONE) {
			scratch_add(&s->bscr, wh->half, wh, b);
		} else {
			st_site_touch(s, c->site);
			scratch_add(&s->sscr[c->site], wh->half, wh, b);
		}
	}
	if (live && !skip_roll) {
		err2 = st_scratch_flush(s, bx, a);
		err = err ?: err2;
		s->ring_count += rcount;	/* what the fleet got */
		s->ring_sum += rsum;
	}
	bx->samples += samples;
	s->total += samples;
	return err;
}

void store_gap_done(struct store *s, const char *box, uint64_t epoch, uint64_t first,
		    uint64_t last, uint64_t recovered)
{
	struct box *bx = wire_box_ok(box) ? st_box_get(s, box, false, NULL) : NULL;
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
		return refuse(s, wire_box_ok(c->box) ? st_box_get(s, c->box, false, NULL) : NULL,
			      STORE_REFUSE_MALFORMED, err);
	bx = st_box_get(s, c->box, true, &err);
	if (!bx)
		return refuse(s, NULL, refusal_of(err), err);
	store_advance(s, now_ns);
	if (c->n > s->o.max_catalog)
		return refuse(s, bx, STORE_REFUSE_LIMIT, -ENOSPC);
	for (i = 0; i < c->n; i++)	/* customers it would add */
		cnt += st_strmap_get(s, &s->cmap, st_cust_key, c->c[i].id, st_str_hash(c->c[i].id)) == NONE;
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
	st_u32map_clear(&bx->big);
	bx->kmap_keys = c->n;
	bx->unnamed_keys = 0;
	for (i = 0; i < c->n; i++) {
		const struct wire_cust *w = &c->c[i];
		uint32_t site = NONE, ci;
		char path[256];

		err = st_site_norm(w->site, path, sizeof(path));
		if (!err && path[0])
			site = st_site_get(s, path, true, &err);
		if (err)
			break;
		ci = st_cust_get(s, w->id, true, &err);
		if (ci == NONE)
			break;
		named[cnt++] = ci;
		err = st_cust_set_name(s, cust_at(s, ci), w->name) ?: st_key_set(s, bx, w->key, ci + 1);
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
	struct box *bx = wire_box_ok(st->box) ? st_box_get(s, st->box, false, NULL) : NULL;
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
	bx = st_box_get(s, st->box, true, &err);
	if (!bx)
		return refuse(s, NULL, refusal_of(err), err);
	store_advance(s, now_ns);
	bx->last_seen_ns = now_ns;
	bx->stats = *st;
	return 0;
}

