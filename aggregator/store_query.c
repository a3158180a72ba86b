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

static void rec_to_dense(struct hist *h, const struct rec *r, unsigned *rlo, unsigned *rhi)
{
	unsigned k;

	if (!r || !r->n)
		return;
	for (k = 0; k < r->n; k++)
		h->slot[r->idx[k]] += rec_cnt(r, k);
	h->count += r->count;
	h->sum += r->sum;
	if (r->min < h->min)
		h->min = r->min;
	if (r->max > h->max)
		h->max = r->max;
	if (r->idx[0] < *rlo)
		*rlo = r->idx[0];
	if (r->idx[r->n - 1] > *rhi)
		*rhi = r->idx[r->n - 1];
}

/* Adds ch's closed records of tier t, periods [lo, curp[t]), to h. */
static void tier_range(const struct store *s, const struct chalf *ch, unsigned t, uint64_t lo,
		       struct hist *h, unsigned *rlo, unsigned *rhi)
{
	const struct crec *r = ch->head[t];
	uint64_t a = ch->head_per[t];

	for (; r && per_kept(s, t, a) && a >= lo; a = r->prev_per, r = r->prev)
		st_crec_to_dense(r, h, rlo, rhi);
}

/*
 * Adds series ch over window w (ending at cur) to h (not cleared): the
 * closed records of its tier in the window (for 1 h, the total of its
 * closed five minutes), then the current period's part: the closed
 * records of each tier below since it began, and the open record.
 * *rlo / *rhi widen to the histogram slots touched.
 */
static void series_window(const struct store *s, const struct chalf *ch, enum store_window w,
			  struct hist *h, unsigned *rlo, unsigned *rhi)
{
	unsigned t = win_tier[w], u;
	uint64_t cp = s->curp[t];

	if (w == STORE_W1H)
		rec_to_dense(h, ch->tot, rlo, rhi);
	else
		tier_range(s, ch, t, cp + 1 >= s->nwin[w] ? cp + 1 - s->nwin[w] : 0, h, rlo, rhi);
	for (u = t; u-- > 0;)
		tier_range(s, ch, u, s->curp[u + 1] * (s->L[u + 1] / s->L[u]), h, rlo, rhi);
	if (ch->open && ch->open_slot == s->cur)
		rec_to_dense(h, ch->open, rlo, rhi);
}

static void pair_window(const struct store *s, const struct chalf ch[PF_NHALVES],
			enum store_window w, struct hist out[PF_NHALVES])
{
	unsigned h, rlo = PF_HIST_NSLOTS, rhi = 0;

	for (h = 0; h < PF_NHALVES; h++) {
		hist_init(&out[h]);
		series_window(s, &ch[h], w, &out[h], &rlo, &rhi);
	}
}

static int window_ok(enum store_window w)
{
	return (unsigned)w < STORE_NWINDOWS ? 0 : -EINVAL;
}

int store_customer(struct store *s, const char *id, enum store_window w, uint64_t now_ns,
		   struct hist out[PF_NHALVES])
{
	uint32_t i;

	if (window_ok(w) || !id)
		return -EINVAL;
	i = st_strmap_get(s, &s->cmap, st_cust_key, id, st_str_hash(id));
	if (i == NONE)
		return -ENOENT;
	store_advance(s, now_ns);
	pair_window(s, cust_at(s, i)->h, w, out);
	return 0;
}

int store_site(struct store *s, const char *path, enum store_window w, uint64_t now_ns,
	       struct hist out[PF_NHALVES])
{
	char norm[256];
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
	store_advance(s, now_ns);
	pair_window(s, s->sites[i]->h, w, out);
	return 0;
}

int store_box(struct store *s, const char *box, enum store_window w, uint64_t now_ns,
	      struct hist out[PF_NHALVES])
{
	struct box *bx;

	if (window_ok(w) || !box)
		return -EINVAL;
	bx = wire_box_ok(box) ? st_box_get(s, box, false, NULL) : NULL;
	if (!bx)
		return -ENOENT;
	store_advance(s, now_ns);
	pair_window(s, bx->h, w, out);
	return 0;
}

int store_fleet(struct store *s, enum store_window w, uint64_t now_ns,
		struct hist out[PF_NHALVES])
{
	if (window_ok(w))
		return -EINVAL;
	store_advance(s, now_ns);
	pair_window(s, s->fleet, w, out);
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
	out->excluded = c->excluded;
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
	store_advance(s, now_ns);
	nent = kind == STORE_CUSTOMER ? s->ncust : s->nsite;
	for (i = 0; i < nent; i++) {
		const struct hist *x;
		unsigned rlo = PF_HIST_NSLOTS, rhi = 0;

		if (kind == STORE_CUSTOMER) {
			if (!cust_at(s, i)->str || cust_at(s, i)->excluded)
				continue;
			series_window(s, &cust_at(s, i)->h[half], w, h, &rlo, &rhi);
			x = h;
		} else {
			pair_window(s, s->sites[i]->h, w, pair);
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
	return s->heap_bytes + s->arena_bytes + s->pool_bytes + s->tot_bytes;
}

size_t store_newest_slot_bytes(const struct store *s)
{
	return s->open.bytes;
}
