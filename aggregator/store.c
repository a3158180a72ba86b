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
	s->fleet = s->arenas ? st_ring_new(s) : NULL;
	if (!s->fleet) {
		free(s->arenas);
		free(s);
		return -ENOMEM;
	}
	for (i = 0; i < s->ns; i++)
		s->arenas[i].slot = SLOT_NONE;
	for (i = 0; i < DEPTH_MAX; i++)
		s->dhead[i] = NONE;
	st_scratch_init(&s->bscr);
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
		st_arena_free(s, &s->arenas[i], false);
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
		st_u32map_clear(&s->boxes[i]->big);
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
