// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Tiers of the store (see Time and Series in store_int.h): a delta into
 * the open record or the closed ones that hold its slot; slots, minutes
 * and five minutes closed as time advances, the 1 h window's total kept.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "aggregator/store_int.h"
#include "common/hblob.h"

void st_chalf_init(struct chalf *ch)
{
	unsigned t;

	memset(ch, 0, sizeof(*ch));
	ch->open_slot = PER_NONE;
	for (t = 0; t < NTIERS; t++)
		ch->head_per[t] = PER_NONE;
}

void st_chalf_free(struct store *s, struct chalf *ch)
{
	st_tot_free(s, &ch->tot);
}

/* It holds something in some window. */
bool st_chalf_live(const struct store *s, const struct chalf *ch)
{
	unsigned t;

	if (ch->tot || (ch->open && ch->open_slot == s->cur))
		return true;
	for (t = 0; t < NTIERS; t++)
		if (ch->head[t] && per_kept(s, t, ch->head_per[t]))
			return true;
	return false;
}

struct chalf *st_own_series(struct store *s, uint32_t own)
{
	uint32_t idx = own >> 1 & OWN_IDX_MAX, half = own & 1;

	switch (own >> 30) {
	case OWN_CUST:
		return &cust_at(s, idx)->h[half];
	case OWN_SITE:
		return &s->sites[idx]->h[half];
	case OWN_BOX:
		return &s->boxes[idx]->h[half];
	default:
		return &s->fleet[half];
	}
}

/* ---- points for history -------------------------------------------------- */

/* The tier whose closed periods series own gives as points: 1 or 2. */
static inline unsigned point_tier(uint32_t own)
{
	return own >> 30 == OWN_CUST ? 2 : 1;
}

void store_points_free(struct store_points *pts)
{
	if (!pts)
		return;
	free(pts->p);
	free(pts->buf);
	free(pts->boxes);
	free(pts);
}

static uint32_t pts_bytes(struct store *s, struct store_points *pts, const void *b, size_t n)
{
	size_t off = pts->len;

	if (pts->len + n > pts->cap_buf) {
		size_t cap = pts->cap_buf ? pts->cap_buf : 65536;
		char *nb;

		while (cap < pts->len + n)
			cap *= 2;
		nb = realloc(pts->buf, cap);
		if (!nb || cap > UINT32_MAX) {
			free(nb == pts->buf ? NULL : nb);
			s->nomem++;
			return UINT32_MAX;
		}
		pts->buf = nb;
		pts->cap_buf = cap;
	}
	memcpy(pts->buf + off, b, n);
	pts->len += n;
	return (uint32_t)off;
}

/* Series own's histogram h of period P of its point tier, as a point. */
static void point_add(struct store *s, uint32_t own, uint64_t P, const struct hist *h)
{
	static const uint8_t kinds[] = { STORE_E_CUSTOMER, STORE_E_SITE, STORE_E_BOX, STORE_E_FLEET };
	uint32_t idx = own >> 1 & OWN_IDX_MAX, t = point_tier(own);
	struct store_points *pts = s->pts;
	struct store_point *pt;
	uint8_t blob[HBLOB_MAX];
	const char *name, *site = "";

	if (!s->o.on_points || !h->count)
		return;
	if (!pts && !(pts = s->pts = calloc(1, sizeof(*pts)))) {
		s->nomem++;
		return;
	}
	if (pts->n == pts->cap) {
		size_t cap = pts->cap ? pts->cap * 2 : 1024;
		struct store_point *np = realloc(pts->p, cap * sizeof(*np));

		if (!np) {
			s->nomem++;
			return;
		}
		pts->p = np;
		pts->cap = cap;
	}
	switch (own >> 30) {
	case OWN_CUST:
		name = cust_at(s, idx)->str;
		if (cust_at(s, idx)->site != NONE)
			site = s->sites[cust_at(s, idx)->site]->path;
		break;
	case OWN_SITE:
		name = s->sites[idx]->path;
		break;
	case OWN_BOX:
		name = s->boxes[idx]->id;
		break;
	default:
		name = "";
	}
	pt = &pts->p[pts->n];
	pt->kind = kinds[own >> 30];
	pt->half = own & 1;
	pt->res_s = (uint32_t)(s->L[t] * s->o.slot_ns / 1000000000ULL);
	pt->start_s = P * pt->res_s;
	pt->name = pts_bytes(s, pts, name, strlen(name) + 1);
	pt->site = pt->name == UINT32_MAX ? UINT32_MAX : pts_bytes(s, pts, site, strlen(site) + 1);
	pt->len = (uint32_t)hblob_encode(blob, h);
	pt->blob = pt->site == UINT32_MAX ? UINT32_MAX : pts_bytes(s, pts, blob, pt->len);
	if (pt->blob != UINT32_MAX)
		pts->n++;
}

/* A closed period already given as a point got more data: give it again. */
static void point_dirty(struct store *s, uint32_t own, uint64_t p)
{
	if (!s->o.on_points)
		return;
	if (s->ndirty == s->dirty_cap &&
	    st_grow(&s->dirty, &s->dirty_cap, s->ndirty + 1, sizeof(*s->dirty))) {
		s->nomem++;
		return;
	}
	s->dirty[s->ndirty++] = (struct dirty){ own, (uint32_t)p };
}

/* The points made dirty since the last slot closed, given again. */
static void points_redo(struct store *s)
{
	struct hist *h = NULL;
	unsigned lo, hi;
	uint32_t i;

	for (i = 0; i < s->ndirty; i++) {
		uint32_t own = s->dirty[i].own, t = point_tier(own);
		struct crec *r = st_crec_find(s, t, st_own_series(s, own), s->dirty[i].per);

		if (!r || !r->redo || (!h && !(h = malloc(sizeof(*h)))))
			continue;
		r->redo = 0;
		hist_init(h);
		st_crec_to_dense(r, h, &lo, &hi);
		point_add(s, own, s->dirty[i].per, h);
	}
	free(h);
	s->ndirty = 0;
}

/*
 * Hands the points made so far to on_points, with the frontier they
 * reach and each box's sequence (what store_restore_frontier takes).
 */
static void points_flush(struct store *s)
{
	struct store_points *pts = s->pts;
	uint32_t i;

	if (!pts || !pts->n)
		return;
	pts->cust_s = s->curp[2] * s->L[2] * (s->o.slot_ns / 1000000000ULL);
	pts->roll_s = s->curp[1] * s->L[1] * (s->o.slot_ns / 1000000000ULL);
	pts->boxes = calloc(s->nbox ? s->nbox : 1, sizeof(*pts->boxes));
	for (i = 0; pts->boxes && i < s->nbox; i++) {
		const struct box *b = s->boxes[i];

		if (!b->has_epoch)
			continue;
		memcpy(pts->boxes[pts->nboxes].box, b->id, sizeof(b->id));
		pts->boxes[pts->nboxes].epoch = b->trk[0].epoch;
		pts->boxes[pts->nboxes++].hi = b->trk[0].hi;
	}
	if (!pts->boxes)
		s->nomem++;
	s->o.on_points(s->o.points_arg, pts);
	s->pts = NULL;
}

/* The closed record of series ch at kept period p of tier t, or NULL. */
struct crec *st_crec_find(const struct store *s, unsigned t, const struct chalf *ch, uint64_t p)
{
	struct crec *r = ch->head[t];
	uint64_t a = ch->head_per[t];

	while (r && per_kept(s, t, a) && a > p) {
		a = r->prev_per;
		r = r->prev;
	}
	return r && per_kept(s, t, a) && a == p ? r : NULL;
}

/*
 * Puts r as the record of closed period p of tier t in ch's list (in
 * period order), in place of the one it had for p, if any.
 */
static void crec_link(struct store *s, unsigned t, struct chalf *ch, uint64_t p, struct crec *r)
{
	struct crec **link = &ch->head[t];
	uint32_t *lper = &ch->head_per[t];

	while (*link && per_kept(s, t, *lper) && *lper > p) {
		lper = &(*link)->prev_per;
		link = &(*link)->prev;
	}
	if (*link && !per_kept(s, t, *lper))
		*link = NULL;		/* the rest was freed with its periods */
	if (*link && *lper == p) {	/* replaces it */
		r->prev = (*link)->prev;
		r->prev_per = (*link)->prev_per;
	} else {
		r->prev = *link;
		r->prev_per = *link ? *lper : PER_NONE;
	}
	*link = r;
	*lper = (uint32_t)p;
}

/* Merges a wire histogram into ch's closed record of kept period p of tier t. */
static int crec_merge(struct store *s, unsigned t, struct chalf *ch, uint64_t p,
		      const struct wire_hist *wh, const struct wire_bucket *b)
{
	struct wire_bucket ob[PF_HIST_NSLOTS], nb[PF_HIST_NSLOTS];
	const struct crec *old = st_crec_find(s, t, ch, p);
	struct wire_hist oh, sum;
	struct crec *r;
	unsigned i = 0, j = 0;

	if (old) {
		st_crec_buckets(old, &oh, ob);
		sum = oh;
		sum.nb = 0;
		while (i < oh.nb || j < wh->nb) {
			if (j == wh->nb || (i < oh.nb && ob[i].slot < b[j].slot)) {
				nb[sum.nb++] = ob[i++];
			} else if (i == oh.nb || b[j].slot < ob[i].slot) {
				nb[sum.nb++] = b[j++];
			} else {
				nb[sum.nb] = ob[i++];
				nb[sum.nb++].n += b[j++].n;
			}
		}
		sum.count += wh->count;
		sum.sum += wh->sum;
		sum.min = wh->min < sum.min ? wh->min : sum.min;
		sum.max = wh->max > sum.max ? wh->max : sum.max;
		wh = &sum;
		b = nb;
	}
	r = st_crec_new(s, st_arena_of(s, t, p), wh, b);
	if (!r)
		return -ENOMEM;
	crec_link(s, t, ch, p, r);
	return 0;
}

/* The five minutes of slot a are in the 1 h total (closed, in the window). */
static bool in_total(const struct store *s, uint64_t a)
{
	uint64_t F = a / s->L[2];

	return F < s->curp[2] && s->curp[2] - F < s->nwin[STORE_W1H];
}

/*
 * Merges a wire histogram into series ch at slot a (a <= cur, in the 1 h
 * window). At the current slot that is its open record. A closed slot
 * goes into the closed record of each tier that keeps the period holding
 * it (an open period gets it from the tier below when it closes), and
 * into the 1 h total when that holds its five minutes.
 */
int st_series_add(struct store *s, struct chalf *ch, uint32_t own, uint64_t a,
		  const struct wire_hist *wh, const struct wire_bucket *b)
{
	unsigned t;
	int err = 0, e;

	if (a == s->cur)
		return st_open_add(s, ch, own, wh, b);
	for (t = 0; t < NTIERS; t++) {
		uint64_t p = a / s->L[t];

		if (per_kept(s, t, p)) {
			const struct crec *old = st_crec_find(s, t, ch, p);
			bool listed = old && old->redo;

			e = crec_merge(s, t, ch, p, wh, b);
			err = err ?: e;
			if (!e && t == point_tier(own)) {
				st_crec_find(s, t, ch, p)->redo = 1;
				if (!listed)
					point_dirty(s, own, p);
			}
		}
	}
	if (in_total(s, a)) {
		e = st_tot_add(s, &ch->tot, wh, b);
		err = err ?: e;
	}
	return err;
}

/* ---- restart: points of the history back into the windows --------------- */

int store_restore_point(struct store *s, enum store_ekind kind, const char *name, unsigned half,
			uint32_t res_s, uint64_t start_s, const void *blob, size_t len,
			uint64_t now_ns)
{
	struct wire_bucket b[PF_HIST_NSLOTS];
	struct wire_hist wh = { 0 };
	struct hist *h;
	struct chalf *ch;
	uint64_t a, p;
	uint32_t idx = 0, own, kown;
	unsigned t, t0 = kind == STORE_E_CUSTOMER ? 2 : 1;
	char path[256];
	int err = 0;

	if (half >= PF_NHALVES || (unsigned)kind > STORE_E_CUSTOMER ||
	    res_s != (kind == STORE_E_CUSTOMER ? 300u : 60u) || !name ||
	    res_s * 1000000000ULL % s->o.slot_ns)
		return -EINVAL;
	h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	hist_init(h);
	if (hblob_add(h, blob, len)) {
		free(h);
		return -EINVAL;
	}
	st_dense_to_wire(h, 0, PF_HIST_NSLOTS - 1, &wh, b);
	free(h);
	store_advance(s, now_ns);
	a = start_s * 1000000000ULL / s->o.slot_ns;	/* the period's first slot */
	if (!slot_in_1h(s, a) || a / s->L[t0] >= s->curp[t0])
		return 1;
	switch (kind) {
	case STORE_E_CUSTOMER:
		idx = st_cust_get(s, name, true, &err);
		kown = OWN_CUST;
		break;
	case STORE_E_SITE:
		err = st_site_norm(name, path, sizeof(path));
		idx = err || !path[0] ? NONE : st_site_get(s, path, true, &err);
		kown = OWN_SITE;
		break;
	case STORE_E_BOX: {
		struct box *bx = wire_box_ok(name) ? st_box_get(s, name, true, &err) : NULL;

		idx = bx ? bx->idx : NONE;
		kown = OWN_BOX;
		break;
	}
	default:
		kown = OWN_FLEET;
	}
	if (idx == NONE)
		return err ? err : -EINVAL;
	own = OWN(kown, idx, half);
	ch = st_own_series(s, own);
	for (t = t0; t < NTIERS; t++) {
		p = a / s->L[t];
		if (per_kept(s, t, p) && (err = crec_merge(s, t, ch, p, &wh, b)))
			return err;
	}
	if (in_total(s, a) && (err = st_tot_add(s, &ch->tot, &wh, b)))
		return err;
	if (kind == STORE_E_FLEET) {
		s->ring_count += wh.count;
		s->ring_sum += wh.sum;
	}
	return 0;
}

void store_restore_frontier(struct store *s, uint64_t cust_s, uint64_t roll_s,
			    const struct store_boxseq *boxes, size_t n)
{
	size_t i;
	int err;

	s->rest_cust_s = cust_s;
	s->rest_roll_s = roll_s;
	for (i = 0; i < n; i++) {
		struct box *bx = wire_box_ok(boxes[i].box) ? st_box_get(s, boxes[i].box, true, &err) :
							     NULL;

		if (bx) {
			bx->has_rest = true;
			bx->rest_epoch = boxes[i].epoch;
			bx->rest_hi = boxes[i].hi;
		}
	}
}

bool store_box_awaits_catalog(struct store *s, const char *box)
{
	struct box *bx = wire_box_ok(box) ? st_box_get(s, box, false, NULL) : NULL;

	return bx && bx->has_rest && !bx->has_cat;
}

/* ---- closing ------------------------------------------------------------- */

/* Every series: customers, sites, boxes, the fleet; fn(s, ch, owner id, arg). */
static void each_series(struct store *s,
			void (*fn)(struct store *, struct chalf *, uint32_t, void *), void *arg)
{
	uint32_t i;
	unsigned h;

	for (i = 0; i < s->ncust; i++) {
		struct cust *c = cust_at(s, i);

		if (c->str)
			for (h = 0; h < PF_NHALVES; h++)
				fn(s, &c->h[h], OWN(OWN_CUST, i, h), arg);
	}
	for (i = 0; i < s->nsite; i++)
		for (h = 0; h < PF_NHALVES; h++)
			fn(s, &s->sites[i]->h[h], OWN(OWN_SITE, i, h), arg);
	for (i = 0; i < s->nbox; i++)
		for (h = 0; h < PF_NHALVES; h++)
			fn(s, &s->boxes[i]->h[h], OWN(OWN_BOX, i, h), arg);
	for (h = 0; h < PF_NHALVES; h++)
		fn(s, &s->fleet[h], OWN(OWN_FLEET, 0, h), arg);
}

/*
 * Slot c closes (curp[0] is already c + 1): each open record is written
 * compact as the slot's record.
 */
static void close_slot(struct store *s, uint64_t c)
{
	struct arena *ar = st_arena_of(s, 0, c);
	uint32_t i;

	for (i = 0; i < s->open.nown; i++) {
		struct chalf *ch = st_own_series(s, s->open.own[i]);
		struct crec *r;

		if (i + 8 < s->open.nown)
			__builtin_prefetch(st_own_series(s, s->open.own[i + 8]));
		if (i + 4 < s->open.nown)
			__builtin_prefetch(st_own_series(s, s->open.own[i + 4])->open);
		if (!ch->open || ch->open_slot != c)
			continue;
		r = st_crec_of_rec(s, ar, ch->open);
		if (r)
			crec_link(s, 0, ch, c, r);
		else
			s->nomem++;
		ch->open = NULL;
		ch->open_slot = PER_NONE;
	}
	st_arena_free(s, &s->open, true);
}

struct build {
	unsigned t;		/* the tier being built */
	uint64_t P;		/* its period */
	uint64_t lo;		/* the first period of tier t - 1 in it */
	struct hist *h;		/* scratch, cleared between series */
};

/*
 * The record of period P of tier t (a minute or five minutes) for one
 * series: the sum of its records of tier t - 1 in P. For five minutes,
 * also into the 1 h total, and the five minutes leaving that taken off.
 */
static void build_one(struct store *s, struct chalf *ch, uint32_t own, void *arg)
{
	struct wire_bucket b[PF_HIST_NSLOTS];
	struct build *bd = arg;
	struct hist *h = bd->h;
	const struct crec *r = ch->head[bd->t - 1];
	uint64_t a = ch->head_per[bd->t - 1];
	struct wire_hist wh;
	unsigned lo = PF_HIST_NSLOTS, hi = 0, n = 0;
	struct crec *c;

	for (; r && per_kept(s, bd->t - 1, a) && a >= bd->lo; a = r->prev_per, r = r->prev) {
		if (a / (s->L[bd->t] / s->L[bd->t - 1]) != bd->P)
			continue;	/* newer: a late slot of the next period */
		st_crec_to_dense(r, h, &lo, &hi);
		n++;
	}
	if (!n)
		return;
	if (bd->t == point_tier(own))
		point_add(s, own, bd->P, h);
	st_dense_to_wire(h, lo, hi, &wh, b);
	if (lo <= hi)		/* the scratch, cleared for the next series */
		memset(&h->slot[lo], 0, (hi - lo + 1) * sizeof(h->slot[0]));
	h->count = h->sum = h->max = 0;
	h->min = UINT64_MAX;
	c = st_crec_new(s, st_arena_of(s, bd->t, bd->P), &wh, b);
	if (c)
		crec_link(s, bd->t, ch, bd->P, c);
	else
		s->nomem++;
	if (bd->t == NTIERS - 1 && st_tot_add(s, &ch->tot, &wh, b))
		s->nomem++;
}

/*
 * The five minutes Q leave the 1 h window: off the series' total (its
 * min and max taken again from the five minutes still in it when Q held
 * one), and, for the fleet, off the live sums.
 */
static void leave_one(struct store *s, struct chalf *ch, uint32_t own, void *arg)
{
	struct wire_bucket b[PF_HIST_NSLOTS];
	uint64_t Q = *(const uint64_t *)arg;
	const struct crec *r;
	struct wire_hist wh, x;
	uint64_t a;

	(void)own;
	if (!ch->tot || !(r = st_crec_find(s, NTIERS - 1, ch, Q)))
		return;
	st_crec_buckets(r, &wh, b);
	if (ch == &s->fleet[0] || ch == &s->fleet[1]) {
		s->ring_count -= wh.count;
		s->ring_sum -= wh.sum;
	}
	st_tot_sub(s, &ch->tot, &wh, b);
	if (!ch->tot || (wh.min > ch->tot->min && wh.max < ch->tot->max))
		return;
	ch->tot->min = UINT64_MAX;
	ch->tot->max = 0;
	for (r = ch->head[NTIERS - 1], a = ch->head_per[NTIERS - 1];
	     r && per_kept(s, NTIERS - 1, a) && a > Q; a = r->prev_per, r = r->prev) {
		st_crec_stats(r, &x);
		ch->tot->min = x.min < ch->tot->min ? x.min : ch->tot->min;
		ch->tot->max = x.max > ch->tot->max ? x.max : ch->tot->max;
	}
}

/* Some closed period of tier t in [lo, hi] has an arena with data. */
static bool tier_has(const struct store *s, unsigned t, uint64_t lo, uint64_t hi)
{
	uint64_t p;

	for (p = lo; p <= hi; p++) {
		const struct arena *ar = &s->arenas[t][p % s->K[t]];

		if (ar->slot == p && ar->bytes)
			return true;
	}
	return false;
}

/*
 * Closes period P of tier t >= 1 (its last slot just closed; curp[t] is
 * already the next period): builds its
 * records; for five minutes, then takes the five minutes leaving the 1 h
 * window off the totals. The walks over every series are skipped when
 * the tier below holds nothing in P (and nothing leaves).
 */
static void close_period(struct store *s, unsigned t, uint64_t P)
{
	uint64_t per = s->L[t] / s->L[t - 1], Q;
	struct build bd = { .t = t, .P = P, .lo = P * per };


	if (tier_has(s, t - 1, P * per, P * per + per - 1)) {
		bd.h = malloc(sizeof(*bd.h));
		if (!bd.h) {
			s->nomem++;
			return;
		}
		hist_init(bd.h);
		each_series(s, build_one, &bd);
		free(bd.h);
	}
	if (t == NTIERS - 1 && P + 1 >= s->nwin[STORE_W1H]) {
		Q = P + 1 - s->nwin[STORE_W1H];
		if (tier_has(s, t, Q, Q))
			each_series(s, leave_one, &Q);
	}
}

/*
 * The 1 h window's data leaves with its five minutes; after this many
 * steps from the last data nothing is left, and the rest of a long idle
 * time is one jump.
 */
static uint64_t idle_steps(const struct store *s)
{
	return (uint64_t)s->L[2] * (s->K[2] + 1);
}

void store_advance(struct store *s, uint64_t now_ns)
{
	uint64_t S = now_ns / s->o.slot_ns, steps = 0;
	unsigned t;

	if (!s->started) {
		s->cur = S;
		for (t = 0; t < NTIERS; t++)
			s->curp[t] = S / s->L[t];
		s->started = true;
		return;
	}
	while (s->cur < S) {
		uint64_t c = s->cur;

		if (++steps > idle_steps(s)) {
			/* every period has closed and left its windows */
			for (t = 0; t < NTIERS; t++) {
				uint32_t k;

				for (k = 0; k < s->K[t]; k++)
					st_arena_free(s, &s->arenas[t][k], true);
				s->curp[t] = S / s->L[t];
			}
			s->cur = S;
			break;
		}
		if (s->ndirty)	/* before the periods they are of can leave */
			points_redo(s);
		/* each tier's new period first: what closes is then kept */
		s->curp[0] = c + 1;
		close_slot(s, c);
		for (t = 1; t < NTIERS; t++) {
			if ((c + 1) % s->L[t])
				break;
			s->curp[t] = (c + 1) / s->L[t];
			close_period(s, t, c / s->L[t]);
		}
		s->cur = c + 1;
	}
	points_flush(s);
	if (s->o.forget_ns != UINT64_MAX && now_ns - s->last_forget_ns >= FORGET_EVERY_NS) {
		s->last_forget_ns = now_ns;
		st_forget(s, now_ns);
	}
}
