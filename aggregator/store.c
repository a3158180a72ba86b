// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* The aggregator's state: open, close, windows (see store_int.h). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "aggregator/store_int.h"

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
	uint32_t i, t;

	*sp = NULL;
	/* a slot divides a minute, and is 5 s or more (see Time in store_int.h) */
	if (o->slot_ns < 5000000000ULL || o->slot_ns > 60000000000ULL ||
	    60000000000ULL % o->slot_ns)
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
	if (s->o.max_customers > OWN_IDX_MAX)
		s->o.max_customers = OWN_IDX_MAX;
	s->L[0] = 1;
	s->L[1] = (uint32_t)(60000000000ULL / o->slot_ns);
	s->L[2] = 5 * s->L[1];
	s->nwin[STORE_W10S] = (uint32_t)((10000000000ULL + o->slot_ns - 1) / o->slot_ns);
	s->nwin[STORE_W1M] = s->L[1];
	s->nwin[STORE_W5M] = 5;
	s->nwin[STORE_W15M] = 3;
	s->nwin[STORE_W1H] = 12;
	/* closed periods kept: a minute's slots, five minutes' minutes, 12 five minutes */
	s->K[0] = s->L[1];
	s->K[1] = 5;
	s->K[2] = 12;
	for (t = 0; t < NTIERS; t++) {
		s->arenas[t] = calloc(s->K[t], sizeof(*s->arenas[t]));
		if (!s->arenas[t]) {
			while (t--)
				free(s->arenas[t]);
			free(s);
			return -ENOMEM;
		}
		for (i = 0; i < s->K[t]; i++)
			s->arenas[t][i].slot = SLOT_NONE;
		s->heap_bytes += s->K[t] * sizeof(*s->arenas[t]);
	}
	s->open.slot = SLOT_NONE;
	st_chalf_init(&s->fleet[0]);
	st_chalf_init(&s->fleet[1]);
	for (i = 0; i < DEPTH_MAX; i++)
		s->dhead[i] = NONE;
	st_scratch_init(&s->bscr);
	s->heap_bytes += sizeof(*s);
	*sp = s;
	return 0;
}

void store_close(struct store *s)
{
	uint32_t i, t;

	if (!s)
		return;
	for (t = 0; t < NTIERS; t++) {
		for (i = 0; i < s->K[t]; i++)
			st_arena_free(s, &s->arenas[t][i], false);
		free(s->arenas[t]);
	}
	st_arena_free(s, &s->open, false);
	while (s->pool) {
		struct chunk *c = s->pool;

		s->pool = c->next;
		munmap(c, CHUNK_MAX);
	}
	for (i = 0; i < s->ncust; i++) {
		free(cust_at(s, i)->str);
		st_chalf_free(s, &cust_at(s, i)->h[0]);
		st_chalf_free(s, &cust_at(s, i)->h[1]);
	}
	for (i = 0; i < s->npage; i++)
		free(s->cpage[i]);
	free(s->cpage);
	free(s->cmap.e);
	free(s->cfree);
	for (i = 0; i < s->nbox; i++) {
		free(s->boxes[i]->kmap);
		st_u32map_clear(&s->boxes[i]->big);
		free(s->boxes[i]->named);
		st_chalf_free(s, &s->boxes[i]->h[0]);
		st_chalf_free(s, &s->boxes[i]->h[1]);
		free(s->boxes[i]);
	}
	free(s->boxes);
	free(s->bmap.e);
	for (i = 0; i < s->nsite; i++) {
		free(s->sites[i]->path);
		st_chalf_free(s, &s->sites[i]->h[0]);
		st_chalf_free(s, &s->sites[i]->h[1]);
		free(s->sites[i]);
	}
	free(s->sites);
	free(s->smap.e);
	free(s->sscr);
	st_chalf_free(s, &s->fleet[0]);
	st_chalf_free(s, &s->fleet[1]);
	store_points_free(s->pts);
	free(s->dirty);
	for (i = 0; i < s->nexcl; i++)
		free(s->excl[i]);
	free(s->excl);
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
	return (unsigned)w < STORE_NWINDOWS ?
		(uint64_t)s->nwin[w] * s->L[win_tier[w]] * s->o.slot_ns : 0;
}
