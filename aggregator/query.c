// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "aggregator/query.h"

#define TOP_MAX		1000

static const char *const half_name[PF_NHALVES] = { "access", "internet" };

static double ms(double ns)
{
	return ns / 1e6;
}

void query_hist_json(struct jw *w, const struct hist *h)
{
	static const double q[] = { 0.5, 0.9, 0.95, 0.99 };
	static const char *const qn[] = { "p50_ms", "p90_ms", "p95_ms", "p99_ms" };
	size_t i;
	int s;

	jw_obj(w);
	jw_ku64(w, "count", h->count);
	if (h->count) {
		jw_kdbl(w, "min_ms", ms((double)h->min));
		for (i = 0; i < sizeof(q) / sizeof(q[0]); i++)
			jw_kdbl(w, qn[i], ms(hist_quantile(h, q[i])));
		jw_kdbl(w, "max_ms", ms((double)h->max));
		jw_kdbl(w, "mean_ms", ms(hist_mean(h)));
	}
	jw_ku64(w, "sum_ns", h->sum);
	/* non-zero buckets: [slot, upper bound in seconds (null: overflow), count] */
	jw_key(w, "buckets");
	jw_arr(w);
	for (s = hist_next_nonzero(h, 0); s >= 0; s = hist_next_nonzero(h, (uint32_t)s + 1)) {
		jw_arr(w);
		jw_u64(w, (uint64_t)s);
		jw_dbl(w, hist_slot_upper_s((uint32_t)s));
		jw_u64(w, h->slot[s]);
		jw_arr_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
}

static void halves_json(struct jw *w, const struct hist h[PF_NHALVES])
{
	int i;

	jw_key(w, "halves");
	jw_obj(w);
	for (i = 0; i < PF_NHALVES; i++) {
		jw_key(w, half_name[i]);
		query_hist_json(w, &h[i]);
	}
	jw_obj_end(w);
}

int query_fail(struct jw *w, int rc, const char *why)
{
	jw_obj(w);
	jw_kstr(w, "error", why);
	jw_obj_end(w);
	return rc;
}

__attribute__((format(printf, 3, 4)))
static int bad(char *why, size_t wn, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, wn, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_window(const char *a, enum store_window *win, char *why, size_t wn)
{
	if (a && store_window_parse(a, win))
		return bad(why, wn, "unknown window '%s' (10s, 1m, 5m, 15m, 1h)", a);
	return 0;
}

/* ["top", KIND, HALF?, pNN?, N?, WINDOW?]: optional args told apart by shape */
static int parse_top(const char *const *a, int n, struct query *q, char *why, size_t wn)
{
	int i;

	if (n < 2 || (strcmp(a[1], "customer") && strcmp(a[1], "site")))
		return bad(why, wn, "top: customer or site");
	q->of = a[1][0] == 'c' ? STORE_CUSTOMER : STORE_SITE;
	for (i = 2; i < n; i++) {
		char *end;
		long v;

		if (!strcmp(a[i], "access") || !strcmp(a[i], "internet")) {
			q->half = a[i][0] == 'a' ? PF_HALF_ACCESS : PF_HALF_INTERNET;
		} else if (a[i][0] == 'p' && a[i][1]) {
			q->q = strtod(a[i] + 1, &end) / 100;
			if (*end || q->q <= 0 || q->q > 1)
				return bad(why, wn, "top: bad percentile '%s'", a[i]);
		} else if (a[i][0] >= '0' && a[i][0] <= '9' && !strchr("smh", a[i][strlen(a[i]) - 1])) {
			errno = 0;
			v = strtol(a[i], &end, 10);
			if (*end || errno || v < 1 || v > TOP_MAX)
				return bad(why, wn, "top: N must be 1..1000, not '%s'", a[i]);
			q->n = (int)v;
		} else if (store_window_parse(a[i], &q->win)) {
			return bad(why, wn, "top: unknown argument '%s'", a[i]);
		}
	}
	return 0;
}

int query_parse(const char *const *a, int n, struct query *q, char *why, size_t wn)
{
	static const struct {
		const char *word;
		enum query_kind kind;
	} words[] = {
		{ "customer", QUERY_CUSTOMER }, { "site", QUERY_SITE }, { "box", QUERY_BOX },
		{ "fleet", QUERY_FLEET }, { "boxes", QUERY_BOXES }, { "sites", QUERY_SITES },
		{ "customers", QUERY_CUSTOMERS }, { "top", QUERY_TOP },
	};
	size_t i;

	*q = (struct query){ .win = STORE_W5M, .half = PF_HALF_ACCESS, .q = 0.95, .n = 10 };
	if (n < 1 || n > QUERY_ARGS_MAX)
		return bad(why, wn, "1 to 8 strings in a request");
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(a[0], words[i].word))
			break;
	if (i == sizeof(words) / sizeof(words[0]))
		return bad(why, wn, "unknown request '%s'", a[0]);
	q->kind = words[i].kind;
	switch (q->kind) {
	case QUERY_CUSTOMER:
	case QUERY_SITE:
	case QUERY_BOX:
		if (n < 2)
			return bad(why, wn, "%s: which one?", a[0]);
		q->name = a[1];
		return parse_window(n > 2 ? a[2] : NULL, &q->win, why, wn);
	case QUERY_FLEET:
		return parse_window(n > 1 ? a[1] : NULL, &q->win, why, wn);
	case QUERY_TOP:
		return parse_top(a, n, q, why, wn);
	default:
		return 0;
	}
}

static const char *const kind_name[] = {
	[QUERY_CUSTOMER] = "customer", [QUERY_SITE] = "site", [QUERY_BOX] = "box",
	[QUERY_FLEET] = "fleet",
};

static int entity(struct store *s, const struct query *q, uint64_t now, struct jw *w)
{
	struct hist h[PF_NHALVES];
	char why[64];
	int rc;

	switch (q->kind) {
	case QUERY_CUSTOMER: rc = store_customer(s, q->name, q->win, now, h); break;
	case QUERY_SITE: rc = store_site(s, q->name, q->win, now, h); break;
	case QUERY_BOX: rc = store_box(s, q->name, q->win, now, h); break;
	default: rc = store_fleet(s, q->win, now, h); break;
	}
	if (rc == -ENOENT) {
		snprintf(why, sizeof(why), "no such %s", kind_name[q->kind]);
		return query_fail(w, -ENOENT, why);
	}
	if (rc)
		return query_fail(w, rc, "query failed");
	jw_obj(w);
	jw_kstr(w, "kind", kind_name[q->kind]);
	if (q->kind != QUERY_FLEET)
		jw_kstr(w, "name", q->name);
	jw_kstr(w, "window", store_window_name(q->win));
	halves_json(w, h);
	jw_obj_end(w);
	return 0;
}

static int top(struct store *s, const struct query *q, uint64_t now, struct jw *w)
{
	struct store_top *t = calloc((size_t)q->n, sizeof(*t));
	int i, got;

	if (!t)
		return query_fail(w, -ENOMEM, "out of memory");
	got = store_top(s, q->of, q->half, q->q, q->win, now, 1, t, q->n);
	jw_obj(w);
	jw_kstr(w, "kind", "top");
	jw_kstr(w, "of", q->of == STORE_CUSTOMER ? "customer" : "site");
	jw_kstr(w, "half", half_name[q->half]);
	jw_kdbl(w, "quantile", q->q);
	jw_kstr(w, "window", store_window_name(q->win));
	jw_key(w, "items");
	jw_arr(w);
	for (i = 0; i < got; i++) {
		jw_obj(w);
		jw_kstr(w, "name", t[i].name);
		if (t[i].title[0])
			jw_kstr(w, "title", t[i].title);
		jw_kdbl(w, "value_ms", ms(t[i].value_ns));
		jw_ku64(w, "count", t[i].count);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
	free(t);
	return 0;
}

static int boxes(struct store *s, uint64_t now, struct jw *w)
{
	struct store_box_info *b;
	size_t n, i;
	uint32_t k;

	if (store_boxes(s, now, &b, &n))
		return query_fail(w, -ENOMEM, "query failed");
	jw_obj(w);
	jw_key(w, "boxes");
	jw_arr(w);
	for (i = 0; i < n; i++) {
		jw_obj(w);
		jw_kstr(w, "box", b[i].box);
		jw_ku64(w, "epoch", b[i].epoch);
		jw_ku64(w, "last_seq", b[i].last_seq);
		jw_ku64(w, "stats_seq", b[i].stats.seq);
		jw_kdbl(w, "last_seen_s_ago", (double)(now - b[i].last_seen_ns) / 1e9);
		jw_kdbl(w, "interval_s", (double)b[i].interval_ns / 1e9);
		jw_key(w, "stale");
		jw_bool(w, b[i].stale);
		jw_ku64(w, "deltas", b[i].deltas);
		jw_ku64(w, "dups", b[i].dups);
		jw_ku64(w, "gaps", b[i].gaps);
		jw_ku64(w, "gap_deltas", b[i].gap_deltas);
		jw_ku64(w, "recovered", b[i].recovered);
		jw_ku64(w, "lost", b[i].lost);
		jw_ku64(w, "unnamed", b[i].unnamed);
		jw_ku64(w, "samples", b[i].samples);
		jw_ku64(w, "unnamed_keys", b[i].unnamed_keys);
		jw_key(w, "refused");
		jw_obj(w);
		for (k = 0; k < STORE_NREFUSALS; k++)
			jw_ku64(w, store_refusal_name((enum store_refusal)k), b[i].refused[k]);
		jw_obj_end(w);
		jw_key(w, "stats");
		jw_obj(w);
		for (k = 0; k < b[i].stats.n; k++)
			jw_ku64(w, b[i].stats.s[k].name, b[i].stats.s[k].value);
		jw_obj_end(w);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
	free(b);
	return 0;
}

/*
 * The lists, the largest answers (120k customers: 54 MB): copied from the
 * store under the lock (when one is given), written out after it.
 */
static int lists(struct store *s, pthread_mutex_t *lock, const char *what, struct jw *w)
{
	struct store_cust_info *c = NULL;
	char **sites = NULL;
	size_t n = 0, i;
	int rc;

	if (lock)
		pthread_mutex_lock(lock);
	rc = !strcmp(what, "sites") ? store_sites(s, &sites, &n) : store_customers(s, &c, &n);
	if (lock)
		pthread_mutex_unlock(lock);
	jw_obj(w);
	jw_key(w, what);
	jw_arr(w);
	if (rc == 0 && sites) {
		for (i = 0; i < n; i++) {
			jw_str(w, sites[i]);
			free(sites[i]);
		}
		free(sites);
	} else if (rc == 0 && c) {
		for (i = 0; i < n; i++) {
			jw_obj(w);
			jw_kstr(w, "id", c[i].id);
			jw_kstr(w, "name", c[i].name);
			jw_kstr(w, "site", c[i].site);
			jw_ku64(w, "boxes", c[i].nboxes);
			jw_obj_end(w);
		}
		free(c);
	}
	jw_arr_end(w);
	jw_obj_end(w);
	return 0;
}

int query_run(struct store *s, pthread_mutex_t *lock, const struct query *q, uint64_t now,
	      struct jw *w)
{
	int rc;

	if (q->kind == QUERY_SITES || q->kind == QUERY_CUSTOMERS)
		return lists(s, lock, q->kind == QUERY_SITES ? "sites" : "customers", w);
	if (lock)
		pthread_mutex_lock(lock);
	if (q->kind == QUERY_TOP)
		rc = top(s, q, now, w);
	else if (q->kind == QUERY_BOXES)
		rc = boxes(s, now, w);
	else
		rc = entity(s, q, now, w);
	if (lock)
		pthread_mutex_unlock(lock);
	return rc;
}

int query_answer(struct store *s, pthread_mutex_t *lock, const char *req, size_t len,
		 uint64_t now, struct jw *w)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = tok ? json_tokener_parse_ex(tok, req, (int)len) : NULL;
	const char *a[QUERY_ARGS_MAX] = { 0 };
	struct query q;
	char why[300];
	int n = 0, i, rc;

	if (tok)
		json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_array)) {
		rc = query_fail(w, -EINVAL, "a request is a JSON array of strings, e.g. "
				"[\"fleet\", \"5m\"]");
		goto out;
	}
	n = (int)json_object_array_length(o);
	if (n < 1 || n > QUERY_ARGS_MAX) {
		rc = query_fail(w, -EINVAL, "1 to 8 strings in a request");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(o, i);

		if (!json_object_is_type(e, json_type_string)) {
			rc = query_fail(w, -EINVAL, "a request is a JSON array of strings");
			goto out;
		}
		a[i] = json_object_get_string(e);
	}
	rc = query_parse(a, n, &q, why, sizeof(why));
	rc = rc ? query_fail(w, rc, why) : query_run(s, lock, &q, now, w);
out:
	if (o)
		json_object_put(o);
	return rc;
}
