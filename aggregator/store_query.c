// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* What goes out: windows summed, customer and site lists, top-N, boxes. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "aggregator/store_int.h"

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
	i = st_strmap_get(s, &s->cmap, st_cust_key, id, st_str_hash(id));
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
	if (st_site_norm(path, norm, sizeof(norm)))
		return -ENOENT;
	if (!norm[0])
		return store_fleet(s, w, now_ns, out);
	i = st_strmap_get(s, &s->smap, st_site_key, norm, st_str_hash(norm));
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
	bx = wire_box_ok(box) ? st_box_get(s, box, false, NULL) : NULL;
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
	uint32_t i = id ? st_strmap_get(s, &s->cmap, st_cust_key, id, st_str_hash(id)) : NONE;

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
		out[i].title[0] = '\0';
		if (kind == STORE_CUSTOMER) {
			const char *id = cust_at(s, top[i].idx)->str;

			snprintf(out[i].title, sizeof(out[i].title), "%s", id + strlen(id) + 1);
		}
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
	struct box *bx = box && wire_box_ok(box) ? st_box_get(s, box, false, NULL) : NULL;
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

size_t store_newest_slot_bytes(const struct store *s)
{
	return s->started ? s->arenas[s->cur % s->ns].bytes : 0;
}
