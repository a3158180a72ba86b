// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jsonw.h"

void jw_init(struct jw *w)
{
	memset(w, 0, sizeof(*w));
}

void jw_free(struct jw *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

static void put(struct jw *w, const char *s, size_t n)
{
	if (w->err)
		return;
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		char *b;

		while (cap < w->len + n + 1)
			cap *= 2;
		b = realloc(w->buf, cap);
		if (!b) {
			w->err = -ENOMEM;
			return;
		}
		w->buf = b;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

void jw_raw(struct jw *w, const char *s)
{
	put(w, s, strlen(s));
}

/* A value or key starts: a comma if something came before at this level. */
static void sep(struct jw *w)
{
	if (w->need_comma)
		put(w, ",", 1);
	w->need_comma = 1;
}

void jw_obj(struct jw *w)
{
	sep(w);
	put(w, "{", 1);
	w->need_comma = 0;
}

void jw_obj_end(struct jw *w)
{
	put(w, "}", 1);
	w->need_comma = 1;
}

void jw_arr(struct jw *w)
{
	sep(w);
	put(w, "[", 1);
	w->need_comma = 0;
}

void jw_arr_end(struct jw *w)
{
	put(w, "]", 1);
	w->need_comma = 1;
}

static void put_str(struct jw *w, const char *s)
{
	char esc[8];

	put(w, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(w, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(w, esc, 6);
		} else {
			put(w, s, 1);
		}
	}
	put(w, "\"", 1);
}

void jw_key(struct jw *w, const char *k)
{
	sep(w);
	put_str(w, k);
	put(w, ":", 1);
	w->need_comma = 0;
}

void jw_str(struct jw *w, const char *s)
{
	sep(w);
	put_str(w, s ? s : "");
}

void jw_u64(struct jw *w, uint64_t v)
{
	char b[24];

	sep(w);
	put(w, b, (size_t)snprintf(b, sizeof(b), "%llu", (unsigned long long)v));
}

void jw_dbl(struct jw *w, double v)
{
	char b[32];

	sep(w);
	if (isnan(v) || isinf(v))
		put(w, "null", 4);
	else
		put(w, b, (size_t)snprintf(b, sizeof(b), "%.6g", v));
}

void jw_bool(struct jw *w, int v)
{
	sep(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct jw *w)
{
	sep(w);
	put(w, "null", 4);
}

void jw_kstr(struct jw *w, const char *k, const char *s)
{
	jw_key(w, k);
	jw_str(w, s);
}

void jw_ku64(struct jw *w, const char *k, uint64_t v)
{
	jw_key(w, k);
	jw_u64(w, v);
}

void jw_kdbl(struct jw *w, const char *k, double v)
{
	jw_key(w, k);
	jw_dbl(w, v);
}
