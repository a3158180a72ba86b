// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "aggregator/query.h"

#define QUERY_ARGS_MAX	8
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

static int fail(struct jw *w, const char *fmt, const char *arg)
{
	char msg[300];

	snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
	jw_obj(w);
	jw_kstr(w, "error", msg);
	jw_obj_end(w);
	return -EINVAL;
}

static int window_arg(const char *a, enum store_window *win, struct jw *w)
{
	*win = STORE_W5M;
	if (a && store_window_parse(a, win))
		return fail(w, "unknown window '%s' (10s, 1m, 5m, 15m, 1h)", a);
	return 0;
}

static int entity(struct store *s, const char *kind, const char *name, const char *wa,
		  uint64_t now, struct jw *w)
{
	struct hist h[PF_NHALVES];
	enum store_window win;
	int rc;

	if (window_arg(wa, &win, w))
		return -EINVAL;
	if (!strcmp(kind, "customer"))
		rc = store_customer(s, name, win, now, h);
	else if (!strcmp(kind, "site"))
		rc = store_site(s, name, win, now, h);
	else if (!strcmp(kind, "box"))
		rc = store_box(s, name, win, now, h);
	else
		rc = store_fleet(s, win, now, h);
	if (rc == -ENOENT)
		return fail(w, "no such %s", kind);
	if (rc)
		return fail(w, "query failed%s", NULL);
	jw_obj(w);
	jw_kstr(w, "kind", kind);
	if (name)
		jw_kstr(w, "name", name);
	jw_kstr(w, "window", store_window_name(win));
	halves_json(w, h);
	jw_obj_end(w);
	return 0;
}

/* ["top", KIND, HALF?, pNN?, N?, WINDOW?]: optional args told apart by shape */
static int top(struct store *s, const char **a, int n, uint64_t now, struct jw *w)
{
	enum store_kind kind;
	enum store_window win = STORE_W5M;
	enum pf_half half = PF_HALF_ACCESS;
	double q = 0.95;
	int count = 10, i, got;
	struct store_top *t;

	if (n < 2 || (strcmp(a[1], "customer") && strcmp(a[1], "site")))
		return fail(w, "top: customer or site%s", NULL);
	kind = a[1][0] == 'c' ? STORE_CUSTOMER : STORE_SITE;
	for (i = 2; i < n; i++) {
		char *end;

		if (!strcmp(a[i], "access") || !strcmp(a[i], "internet")) {
			half = a[i][0] == 'a' ? PF_HALF_ACCESS : PF_HALF_INTERNET;
		} else if (a[i][0] == 'p' && a[i][1]) {
			q = strtod(a[i] + 1, &end) / 100;
			if (*end || q <= 0 || q > 1)
				return fail(w, "top: bad percentile '%s'", a[i]);
		} else if (a[i][0] >= '0' && a[i][0] <= '9' && !strchr("smh", a[i][strlen(a[i]) - 1])) {
			count = (int)strtol(a[i], &end, 10);
			if (*end || count < 1 || count > TOP_MAX)
				return fail(w, "top: N must be 1..1000, not '%s'", a[i]);
		} else if (store_window_parse(a[i], &win)) {
			return fail(w, "top: unknown argument '%s'", a[i]);
		}
	}
	t = calloc((size_t)count, sizeof(*t));
	if (!t)
		return fail(w, "out of memory%s", NULL);
	got = store_top(s, kind, half, q, win, now, 1, t, count);
	jw_obj(w);
	jw_kstr(w, "kind", "top");
	jw_kstr(w, "of", a[1]);
	jw_kstr(w, "half", half_name[half]);
	jw_kdbl(w, "quantile", q);
	jw_kstr(w, "window", store_window_name(win));
	jw_key(w, "items");
	jw_arr(w);
	for (i = 0; i < got; i++) {
		jw_obj(w);
		jw_kstr(w, "name", t[i].name);
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
		return fail(w, "query failed%s", NULL);
	jw_obj(w);
	jw_key(w, "boxes");
	jw_arr(w);
	for (i = 0; i < n; i++) {
		jw_obj(w);
		jw_kstr(w, "box", b[i].box);
		jw_ku64(w, "epoch", b[i].epoch);
		jw_ku64(w, "last_seq", b[i].last_seq);
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

static int answer(struct store *s, pthread_mutex_t *lock, const char *req, size_t len,
		  uint64_t now, struct jw *w)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = tok ? json_tokener_parse_ex(tok, req, (int)len) : NULL;
	const char *a[QUERY_ARGS_MAX] = { 0 };
	int n = 0, i, rc;

	if (tok)
		json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_array)) {
		rc = fail(w, "a request is a JSON array of strings, e.g. [\"fleet\", \"5m\"]%s", NULL);
		goto out;
	}
	n = (int)json_object_array_length(o);
	if (n < 1 || n > QUERY_ARGS_MAX) {
		rc = fail(w, "1 to 8 strings in a request%s", NULL);
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(o, i);

		if (!json_object_is_type(e, json_type_string)) {
			rc = fail(w, "a request is a JSON array of strings%s", NULL);
			goto out;
		}
		a[i] = json_object_get_string(e);
	}
	if (!strcmp(a[0], "sites") || !strcmp(a[0], "customers")) {
		rc = lists(s, lock, a[0], w);
		goto out;
	}
	if (lock)
		pthread_mutex_lock(lock);
	if (!strcmp(a[0], "customer") || !strcmp(a[0], "site") || !strcmp(a[0], "box"))
		rc = n >= 2 ? entity(s, a[0], a[1], n > 2 ? a[2] : NULL, now, w) :
			      fail(w, "%s: which one?", a[0]);
	else if (!strcmp(a[0], "fleet"))
		rc = entity(s, "fleet", NULL, n > 1 ? a[1] : NULL, now, w);
	else if (!strcmp(a[0], "top"))
		rc = top(s, a, n, now, w);
	else if (!strcmp(a[0], "boxes"))
		rc = boxes(s, now, w);
	else
		rc = fail(w, "unknown request '%s'", a[0]);
	if (lock)
		pthread_mutex_unlock(lock);
out:
	if (o)
		json_object_put(o);
	return rc;
}

int query_answer(struct store *s, const char *req, size_t len, uint64_t now, struct jw *w)
{
	return answer(s, NULL, req, len, now, w);
}

int query_answer_locking(struct store *s, pthread_mutex_t *lock, const char *req, size_t len,
			 uint64_t now, struct jw *w)
{
	return answer(s, lock, req, len, now, w);
}
