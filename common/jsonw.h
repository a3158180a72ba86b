/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* A small JSON writer into a growing buffer (answers, views, HTTP API). */
#ifndef PINGFOLD_JSONW_H
#define PINGFOLD_JSONW_H

#include <stddef.h>
#include <stdint.h>

struct jw {
	char *buf;
	size_t len, cap;
	int err;		/* -ENOMEM once, then every call is a no-op */
	int need_comma;
};

void jw_init(struct jw *w);
void jw_free(struct jw *w);
/* Raw text (a bracket, a key written by hand); no comma handling. */
void jw_raw(struct jw *w, const char *s);
void jw_obj(struct jw *w);		/* { */
void jw_obj_end(struct jw *w);		/* } */
void jw_arr(struct jw *w);		/* [ */
void jw_arr_end(struct jw *w);		/* ] */
void jw_key(struct jw *w, const char *k);	/* "k": */
void jw_str(struct jw *w, const char *s);	/* escaped string */
void jw_u64(struct jw *w, uint64_t v);
void jw_dbl(struct jw *w, double v);	/* %.6g; NaN/inf as null */
void jw_bool(struct jw *w, int v);
void jw_null(struct jw *w);
/* key + value in one call */
void jw_kstr(struct jw *w, const char *k, const char *s);
void jw_ku64(struct jw *w, const char *k, uint64_t v);
void jw_kdbl(struct jw *w, const char *k, double v);

#endif /* PINGFOLD_JSONW_H */
