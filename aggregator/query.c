// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <math.h>
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

int query_duration(const char *a, bool bare, uint64_t *secs)
{
	static const struct {
		char unit;
		uint64_t secs;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	char *end;
	unsigned long long v;
	size_t i;

	if (!a || *a < '0' || *a > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(a, &end, 10);
	if (errno || v > 100ULL * 365 * 86400)
		return -EINVAL;
	if (!*end && bare) {
		*secs = v;
		return 0;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (end[0] == units[i].unit && !end[1]) {
			*secs = v * units[i].secs;
			return 0;
		}
	}
	return -EINVAL;
}

/* FROM / TO: a unix time in seconds, or a duration ago. */
static int parse_time(const char *a, uint64_t now_s, uint64_t *t)
{
	uint64_t v;
	char *end;

	if (!query_duration(a, false, &v)) {
		*t = v < now_s ? now_s - v : 0;
		return 0;
	}
	errno = 0;
	v = strtoull(a, &end, 10);
	if (errno || *end || *a < '0' || *a > '9')
		return -EINVAL;
	*t = v;
	return 0;
}

static const struct {
	const char *word;
	enum store_ekind kind;
} ekinds[] = {
	{ "customer", STORE_E_CUSTOMER }, { "site", STORE_E_SITE }, { "box", STORE_E_BOX },
	{ "fleet", STORE_E_FLEET },
};

/* ["history", KIND, ID?, FROM?, TO?, STEP?, "hist"?] */
static int parse_history(const char *const *a, int n, struct query *q, char *why, size_t wn)
{
	size_t i;
	int k = 2;

	for (i = 0; i < sizeof(ekinds) / sizeof(ekinds[0]); i++)
		if (n > 1 && !strcmp(a[1], ekinds[i].word))
			break;
	if (i == sizeof(ekinds) / sizeof(ekinds[0]))
		return bad(why, wn, "history: customer, site, box or fleet");
	q->ekind = ekinds[i].kind;
	q->name = "";
	if (q->ekind != STORE_E_FLEET) {
		if (n < 3)
			return bad(why, wn, "history: which %s?", a[1]);
		q->name = a[k++];
	}
	if (n > k && !strcmp(a[n - 1], "hist")) {
		q->with_hist = true;
		n--;
	}
	q->from = n > k ? a[k] : NULL;
	q->to = n > k + 1 ? a[k + 1] : NULL;
	q->step = n > k + 2 ? a[k + 2] : NULL;
	if (n > k + 3)
		return bad(why, wn, "history: too many arguments");
	return 0;
}

/* ["heatmap", "sites"|"customers", SITE, FROM?, TO?, STEP?, HALF?, pNN?] */
static int parse_heatmap(const char *const *a, int n, struct query *q, char *why, size_t wn)
{
	int k;

	if (n < 3 || (strcmp(a[1], "sites") && strcmp(a[1], "customers")))
		return bad(why, wn, "heatmap: sites or customers, then a site path (\"\": all)");
	q->ekind = a[1][0] == 's' ? STORE_E_SITE : STORE_E_CUSTOMER;
	q->name = a[2];
	for (k = 3; k < n; k++) {
		if (!strcmp(a[k], "access") || !strcmp(a[k], "internet")) {
			q->half = a[k][0] == 'a' ? PF_HALF_ACCESS : PF_HALF_INTERNET;
		} else if (a[k][0] == 'p' && a[k][1]) {
			char *end;

			q->q = strtod(a[k] + 1, &end) / 100;
			if (*end || q->q <= 0 || q->q > 1)
				return bad(why, wn, "heatmap: bad percentile '%s'", a[k]);
		} else if (!strncmp(a[k], "worst=", 6)) {
			char *end;
			unsigned long v = strtoul(a[k] + 6, &end, 10);

			if (*end || a[k][6] < '1' || a[k][6] > '9' || v > 10000)
				return bad(why, wn, "heatmap: worst=N with N 1..10000, not '%s'", a[k]);
			q->worst = (unsigned)v;
		} else if (!q->from) {
			q->from = a[k];
		} else if (!q->to) {
			q->to = a[k];
		} else if (!q->step) {
			q->step = a[k];
		} else {
			return bad(why, wn, "heatmap: unknown argument '%s'", a[k]);
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
		{ "history", QUERY_HISTORY }, { "heatmap", QUERY_HEATMAP },
	};
	size_t i;

	*q = (struct query){ .win = STORE_W5M, .half = PF_HALF_ACCESS, .q = 0.95, .n = 10 };
	if (n < 1 || n > QUERY_ARGS_MAX)
		return bad(why, wn, "1 to 9 strings in a request");
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
	case QUERY_HISTORY:
		return parse_history(a, n, q, why, wn);
	case QUERY_HEATMAP:
		return parse_heatmap(a, n, q, why, wn);
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
	if (q->kind == QUERY_CUSTOMER) {
		struct store_cust_info ci;

		if (!store_customer_info(s, q->name, &ci) && ci.excluded) {
			jw_key(w, "excluded");	/* out of rollups and top lists */
			jw_bool(w, 1);
		}
	}
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
			if (c[i].excluded) {
				jw_key(w, "excluded");
				jw_bool(w, 1);
			}
			jw_obj_end(w);
		}
		free(c);
	}
	jw_arr_end(w);
	jw_obj_end(w);
	return 0;
}

/* count, quantiles, min, max, mean of one half (no buckets) */
static void summary_json(struct jw *w, const struct hist *h, bool buckets)
{
	static const double qs[] = { 0.5, 0.9, 0.95, 0.99 };
	static const char *const qn[] = { "p50_ms", "p90_ms", "p95_ms", "p99_ms" };
	size_t i;

	if (buckets) {
		query_hist_json(w, h);
		return;
	}
	jw_obj(w);
	jw_ku64(w, "count", h->count);
	if (h->count) {
		for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
			jw_kdbl(w, qn[i], ms(hist_quantile(h, qs[i])));
		jw_kdbl(w, "min_ms", ms((double)h->min));
		jw_kdbl(w, "max_ms", ms((double)h->max));
		jw_kdbl(w, "mean_ms", ms(hist_mean(h)));
	}
	jw_obj_end(w);
}

/* FROM, TO and STEP of a history or heatmap query, resolved at now_s. */
static int range(const struct query *q, uint64_t now_s, uint64_t def_span, uint64_t *from,
		 uint64_t *to, uint32_t *step, char *why, size_t wn)
{
	uint64_t st = 0;

	*to = now_s;
	*from = now_s > def_span ? now_s - def_span : 0;
	if (q->from && parse_time(q->from, now_s, from))
		return bad(why, wn, "bad FROM '%s' (unix seconds, or a duration ago: 24h, 7d)",
			   q->from);
	if (q->to && parse_time(q->to, now_s, to))
		return bad(why, wn, "bad TO '%s' (unix seconds, or a duration ago)", q->to);
	if (q->step && (query_duration(q->step, true, &st) || !st || st > 366 * 86400))
		return bad(why, wn, "bad STEP '%s' (a duration: 5m, 1h; or seconds)", q->step);
	if (*to <= *from)
		return bad(why, wn, "FROM must be before TO");
	*step = (uint32_t)st;
	return 0;
}

static const char *ekind_name(enum store_ekind k)
{
	size_t i;

	for (i = 0; i < sizeof(ekinds) / sizeof(ekinds[0]); i++)
		if (ekinds[i].kind == k)
			return ekinds[i].word;
	return "?";
}

static int history(struct history *hist, const struct query *q, uint64_t now, struct jw *w)
{
	struct history_pt *v = NULL;
	struct hist *sum = NULL;
	uint64_t from, to;
	uint32_t res, step;
	char why[160];
	size_t n, i;
	int rc, h;

	if (range(q, now / 1000000000ULL, 3600, &from, &to, &step, why, sizeof(why)))
		return query_fail(w, -EINVAL, why);
	rc = history_read(hist, q->ekind, q->name, from, to, step, &res, &step, &v, &n);
	if (rc)
		return query_fail(w, rc, rc == -EIO ? "the history file could not be read (see the "
					 "aggregator's log)" : "history query failed");
	if (q->with_hist && !(sum = calloc(PF_NHALVES, sizeof(*sum)))) {
		free(v);
		return query_fail(w, -ENOMEM, "out of memory");
	}
	jw_obj(w);
	jw_kstr(w, "kind", "history");
	jw_kstr(w, "of", ekind_name(q->ekind));
	if (q->ekind != STORE_E_FLEET)
		jw_kstr(w, "name", q->name);
	jw_ku64(w, "from", from);
	jw_ku64(w, "to", to);
	jw_ku64(w, "res_s", res);
	jw_ku64(w, "step_s", step);
	jw_key(w, "points");
	jw_arr(w);
	for (i = 0; i < n; i++) {
		jw_obj(w);
		jw_ku64(w, "t", v[i].t_s);
		for (h = 0; h < PF_NHALVES; h++) {
			jw_key(w, half_name[h]);
			summary_json(w, &v[i].h[h], false);
			if (sum)
				hist_merge(&sum[h], &v[i].h[h]);
		}
		jw_obj_end(w);
	}
	jw_arr_end(w);
	if (sum) {
		jw_key(w, "merged");
		jw_obj(w);
		for (h = 0; h < PF_NHALVES; h++) {
			jw_key(w, half_name[h]);
			summary_json(w, &sum[h], true);
		}
		jw_obj_end(w);
	}
	jw_obj_end(w);
	free(sum);
	free(v);
	return 0;
}

/* A heatmap's row: its name, its step and its cells (NAN: no data). */
struct hm_row {
	char *name;
	uint64_t from;		/* the first cell's time: from, down to a multiple of step */
	uint32_t step;
	size_t n;
	double *v, peak;	/* peak: the highest cell, -1 when none */
};

/* worst first: the highest cell, then the name */
static int hm_worse(const void *pa, const void *pb)
{
	const struct hm_row *a = pa, *b = pb;

	if (a->peak != b->peak)
		return a->peak > b->peak ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* The row of one name: 0 with r filled (r->n == 0: no point in the range), or an error. */
static int hm_row_read(struct history *hist, const struct query *q, const char *name,
		       uint64_t from, uint64_t to, uint32_t step, struct hm_row *r)
{
	struct history_pt *v = NULL;
	uint32_t res, got;
	size_t n, k, i;
	uint64_t t;
	int rc;

	rc = history_read(hist, q->ekind, name, from, to, step, &res, &got, &v, &n);
	if (!rc && got != step) {	/* coarser stored points: the column is theirs */
		free(v);
		v = NULL;
		rc = history_read(hist, q->ekind, name, from, to, got, &res, &got, &v, &n);
	}
	r->n = 0;
	r->peak = -1;
	if (rc || !n) {
		free(v);
		return rc == -ENOENT ? 0 : rc;
	}
	r->step = got;
	from -= from % got;	/* its points start on multiples of its step */
	r->from = from;
	r->n = (size_t)((to - from + got - 1) / got);
	r->v = malloc(r->n * sizeof(*r->v));
	if (!r->v) {
		free(v);
		r->n = 0;
		return -ENOMEM;
	}
	for (t = from, k = 0, i = 0; i < r->n; t += got, i++) {
		while (k < n && v[k].t_s < t)
			k++;
		r->v[i] = NAN;
		if (k < n && v[k].t_s == t && v[k].h[q->half].count) {
			r->v[i] = ms(hist_quantile(&v[k].h[q->half], q->q));
			if (r->v[i] > r->peak)
				r->peak = r->v[i];
		}
	}
	free(v);
	return 0;
}

static void hm_free(struct hm_row *rows, size_t nrows, char **names, size_t nn)
{
	size_t i;

	for (i = 0; i < nrows; i++)
		free(rows[i].v);
	for (i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	free(rows);
}

/*
 * Rows (sites, or a site's customers) x steps of one quantile of one half;
 * with "worst=N", the N rows whose highest cell is highest, worst first.
 */
static int heatmap(struct history *hist, const struct query *q, uint64_t now, struct jw *w)
{
	struct hm_row *rows = NULL;
	size_t nn, i, k, nrows = 0, shown;
	uint64_t from, to, t;
	char why[160], **names;
	uint32_t step;
	int rc = 0;

	if (range(q, now / 1000000000ULL, 86400, &from, &to, &step, why, sizeof(why)))
		return query_fail(w, -EINVAL, why);
	if (!step)	/* about 96 columns */
		step = (uint32_t)((to - from + 95) / 96);
	step = step < 60 ? 60 : (step + 59) / 60 * 60;
	from -= from % step;
	if ((to - from) / step > 4000)
		return query_fail(w, -EINVAL, "heatmap: more than 4000 columns; a larger STEP");
	rc = history_names(hist, q->ekind, q->name, &names, &nn);
	if (rc)
		return query_fail(w, rc, "the history file could not be read");
	if (nn && !(rows = calloc(nn, sizeof(*rows))))
		rc = -ENOMEM;
	for (i = 0; !rc && i < nn; i++) {
		rows[nrows].name = names[i];
		rc = hm_row_read(hist, q, names[i], from, to, step, &rows[nrows]);
		if (!rc && rows[nrows].n)
			nrows++;
	}
	if (rc) {
		hm_free(rows, nrows, names, nn);
		return query_fail(w, rc, rc == -ENOMEM ? "out of memory" :
				  "the history file could not be read");
	}
	if (q->worst)
		qsort(rows, nrows, sizeof(*rows), hm_worse);
	shown = q->worst && q->worst < nrows ? q->worst : nrows;
	jw_obj(w);
	jw_kstr(w, "kind", "heatmap");
	jw_kstr(w, "of", q->ekind == STORE_E_SITE ? "sites" : "customers");
	jw_kstr(w, "site", q->name);
	jw_kstr(w, "half", half_name[q->half]);
	jw_kdbl(w, "quantile", q->q);
	jw_ku64(w, "from", from);
	jw_ku64(w, "to", to);
	jw_ku64(w, "step_s", step);
	jw_ku64(w, "rows_total", nrows);
	jw_key(w, "times");
	jw_arr(w);
	for (t = from; t < to; t += step)
		jw_u64(w, t);
	jw_arr_end(w);
	jw_key(w, "rows");
	jw_arr(w);
	for (i = 0; i < shown; i++) {
		jw_obj(w);
		jw_kstr(w, "name", rows[i].name);
		jw_ku64(w, "from", rows[i].from);
		jw_ku64(w, "step_s", rows[i].step);
		jw_key(w, "values");
		jw_arr(w);
		for (k = 0; k < rows[i].n; k++) {
			if (isnan(rows[i].v[k]))
				jw_null(w);
			else
				jw_dbl(w, rows[i].v[k]);
		}
		jw_arr_end(w);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
	hm_free(rows, nrows, names, nn);
	return 0;
}

int query_run(struct store *s, pthread_mutex_t *lock, struct history *hist,
	      const struct query *q, uint64_t now, struct jw *w)
{
	int rc;

	if (q->kind == QUERY_HISTORY || q->kind == QUERY_HEATMAP) {
		if (!hist)
			return query_fail(w, -ENOTSUP, "no history: the aggregator runs without "
					  "--history-dir");
		return q->kind == QUERY_HISTORY ? history(hist, q, now, w) : heatmap(hist, q, now, w);
	}

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

int query_answer(struct store *s, pthread_mutex_t *lock, struct history *hist, const char *req,
		 size_t len, uint64_t now, struct jw *w)
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
		rc = query_fail(w, -EINVAL, "1 to 9 strings in a request");
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
	rc = rc ? query_fail(w, rc, why) : query_run(s, lock, hist, &q, now, w);
out:
	if (o)
		json_object_put(o);
	return rc;
}
