// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The aggregator's HTTP side on aggregator/httpd.c (docs/http.md):
 *   /            the overview page (web/, built in or from static_dir)
 *   /api/...     JSON: every answer is, or is made of, query_answer()'s
 *                answers, so the page shows exactly what the query API says
 *   /metrics     Prometheus text exposition 0.0.4
 * httpd runs the handlers on its worker threads; each takes the store
 * lock for as long as it reads the store, and formats under it (the
 * store's answers are only valid at one now_ns).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include "common/sys.h"
#include "aggregator/http.h"
#include "aggregator/httpd.h"
#include "aggregator/query.h"
#include "common/jsonw.h"
#include "common/log.h"

/*
 * The page's files, generated from web/ by web/embed.sh (build/web_assets.c).
 * Weak: a binary linked without them serves a note saying so instead.
 */
struct web_asset {
	const char *path;		/* "/index.html" */
	const char *type;		/* Content-Type */
	const unsigned char *data;
	size_t len;
};
extern const struct web_asset web_assets[];
extern const size_t web_nassets;

/* /metrics: every HTTP_LE_STEP-th bucket boundary is an le (see docs/http.md). */
#define HTTP_LE_STEP	4
#define HTTP_ARGS_MAX	8
#define HTTP_QUERY_MAX	4096	/* bytes of a decoded q= */

struct http {
	struct http_opts opts;
	char *url, *static_dir;
	struct store *store;
	pthread_mutex_t *lock;
	struct httpd *srv;
	struct http_counters ctr;
};

static const char *const half_name[PF_NHALVES] = { "access", "internet" };

void http_opts_default(struct http_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->url = "http://127.0.0.1:7880";
	o->green_ms = 50;
	o->yellow_ms = 100;
}

/* Call without holding the lock (the server may already be answering). */
void http_set_counters(struct http *h, const struct http_counters *c)
{
	pthread_mutex_lock(h->lock);
	h->ctr = *c;
	pthread_mutex_unlock(h->lock);
}

/* ---- replies ----------------------------------------------------------- */

static void reply(struct httpd_req *r, uint16_t status, const char *type, const void *body,
		  size_t len)
{
	httpd_reply(r, status, type, body, len);
}

static void reply_jw(struct httpd_req *r, uint16_t status, struct jw *w)
{
	if (w->err) {
		static const char oom[] = "{\"error\":\"out of memory\"}";

		reply(r, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	reply(r, status, "application/json", w->buf, w->len);
}

static void reply_error(struct httpd_req *r, uint16_t status, const char *msg)
{
	struct jw w;

	jw_init(&w);
	jw_obj(&w);
	jw_kstr(&w, "error", msg);
	jw_obj_end(&w);
	reply_jw(r, status, &w);
	jw_free(&w);
}

/* ---- the request's query string ------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes %XX and '+' of src[0..n) into out; -EINVAL (bad escape, NUL), -E2BIG. */
static int url_decode(const char *src, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)src[i];

		if (c == '%') {
			if (i + 2 >= n || hexval(src[i + 1]) < 0 || hexval(src[i + 2]) < 0)
				return -EINVAL;
			c = hexval(src[i + 1]) * 16 + hexval(src[i + 2]);
			i += 2;
			if (!c)
				return -EINVAL;
		} else if (c == '+') {
			c = ' ';
		}
		if (o + 1 >= cap)
			return -E2BIG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/*
 * The value of parameter key in the request URI, decoded, into out.
 * 0 if found, -ENOENT if absent, -EINVAL / -E2BIG if it cannot be decoded.
 */
static int param(const char *uri, const char *key, char *out, size_t cap)
{
	const char *p = strchr(uri, '?');
	size_t kl = strlen(key);

	while (p && *p) {
		const char *name = p + 1, *end = strchr(name, '&'), *eq;

		if (!end)
			end = name + strlen(name);
		eq = memchr(name, '=', (size_t)(end - name));
		if ((eq ? (size_t)(eq - name) : (size_t)(end - name)) == kl && !strncmp(name, key, kl))
			return eq ? url_decode(eq + 1, (size_t)(end - eq - 1), out, cap) :
				    (out[0] = '\0', 0);
		p = *end ? end : NULL;
	}
	return -ENOENT;
}

/* ---- /api ---------------------------------------------------------------- */

/* The answer to the request of words args[0..n) (the caller holds the lock). */
static int ask(struct http *h, uint64_t now, struct jw *w, const char *const *args, int n)
{
	struct query q;
	char why[300];
	int rc = query_parse(args, n, &q, why, sizeof(why));

	return rc ? query_fail(w, rc, why) : query_run(h->store, NULL, &q, now, w);
}

/* HTTP status of a failed query: 404 for an unknown entity, 500 without memory, else 400. */
static uint16_t query_status(int rc)
{
	return rc == -ENOENT ? 404 : rc == -ENOMEM ? 500 : 400;
}

static int window_param(const char *uri, char *out, size_t cap, struct httpd_req *r)
{
	enum store_window win;
	int rc = param(uri, "w", out, cap);

	if (rc == -ENOENT) {
		snprintf(out, cap, "5m");
		return 0;
	}
	if (rc || store_window_parse(out, &win)) {
		reply_error(r, 400, "w: one of 10s, 1m, 5m, 15m, 1h");
		return -EINVAL;
	}
	return 0;
}

/* /api/query?q=["site","North","5m"]: the query API over HTTP. */
static void api_query(struct http *h, const char *uri, struct httpd_req *r)
{
	char *q = malloc(HTTP_QUERY_MAX);
	struct jw w;
	int rc;

	if (!q) {
		reply_error(r, 500, "out of memory");
		return;
	}
	if (param(uri, "q", q, HTTP_QUERY_MAX)) {
		free(q);
		reply_error(r, 400, "q: a URL-encoded JSON array of strings, e.g. "
				      "q=%5B%22fleet%22%2C%225m%22%5D");
		return;
	}
	jw_init(&w);
	rc = query_answer(h->store, h->lock, q, strlen(q), sys_now_ns(CLOCK_REALTIME), &w);
	reply_jw(r, rc ? query_status(rc) : 200, &w);
	jw_free(&w);
	free(q);
}

/* A request with fixed words, the last ones from parameters. */
static void api_ask(struct http *h, struct httpd_req *r, const char *const *args, int n)
{
	struct query q;
	char why[300];
	struct jw w;
	int rc;

	jw_init(&w);
	rc = query_parse(args, n, &q, why, sizeof(why));
	rc = rc ? query_fail(&w, rc, why) :
		  query_run(h->store, h->lock, &q, sys_now_ns(CLOCK_REALTIME), &w);
	reply_jw(r, rc ? query_status(rc) : 200, &w);
	jw_free(&w);
}

/* /api/customer?id=X&w=W, /api/site?name=X&w=W, /api/box?id=X&w=W, /api/fleet?w=W */
static void api_entity(struct http *h, const char *kind, const char *key, const char *uri,
		       struct httpd_req *r)
{
	char name[512], win[16];
	const char *args[3] = { kind };
	int n = 1;

	if (key) {
		if (param(uri, key, name, sizeof(name))) {
			char msg[64];

			snprintf(msg, sizeof(msg), "%s: which %s?", key, kind);
			reply_error(r, 400, msg);
			return;
		}
		args[n++] = name;
	}
	if (window_param(uri, win, sizeof(win), r))
		return;
	args[n++] = win;
	api_ask(h, r, args, n);
}

/* /api/top?of=customer|site&half=access|internet&q=p95&n=10&w=5m */
static void api_top(struct http *h, const char *uri, struct httpd_req *r)
{
	static const char *const keys[] = { "half", "q", "n", "w" };
	char of[16], val[4][32];
	const char *args[HTTP_ARGS_MAX] = { "top", of };
	int n = 2, rc;
	size_t i;

	if (param(uri, "of", of, sizeof(of)))
		snprintf(of, sizeof(of), "customer");
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		rc = param(uri, keys[i], val[i], sizeof(val[i]));
		if (rc == -ENOENT)
			continue;
		if (rc || !val[i][0]) {
			reply_error(r, 400, "top: bad parameter");
			return;
		}
		args[n++] = val[i];
	}
	api_ask(h, r, args, n);
}

static void api_config(struct http *h, struct httpd_req *r)
{
	struct jw w;
	int i;

	jw_init(&w);
	jw_obj(&w);
	jw_kdbl(&w, "green_ms", h->opts.green_ms);
	jw_kdbl(&w, "yellow_ms", h->opts.yellow_ms);
	jw_key(&w, "windows");
	jw_arr(&w);
	for (i = 0; i < STORE_NWINDOWS; i++)
		jw_str(&w, store_window_name((enum store_window)i));
	jw_arr_end(&w);
	jw_kstr(&w, "default_window", "5m");
	pthread_mutex_lock(h->lock);
	jw_kdbl(&w, "slot_s", (double)store_window_ns(h->store, STORE_W10S) / 1e9);
	pthread_mutex_unlock(h->lock);
	jw_key(&w, "metrics_customers");
	jw_bool(&w, h->opts.metrics_customers);
	jw_kstr(&w, "metrics_window", "1h");
	jw_obj_end(&w);
	reply_jw(r, 200, &w);
	jw_free(&w);
}

/*
 * /api/overview?w=W: what the page's overview shows, at one instant:
 * {"window", "time_ms", "fleet": A, "sites": [A, ...], "health": A,
 * "worst": A} where each A is the query API's answer to ["fleet", W],
 * ["site", PATH, W], ["boxes"] and ["top", "customer", "access", "p95",
 * "10", W].
 */
static void api_overview(struct http *h, const char *uri, struct httpd_req *r)
{
	char win[16], **sites = NULL;
	size_t n = 0, i;
	uint64_t now;
	struct jw w;

	if (window_param(uri, win, sizeof(win), r))
		return;
	jw_init(&w);
	pthread_mutex_lock(h->lock);
	now = sys_now_ns(CLOCK_REALTIME);
	jw_obj(&w);
	jw_kstr(&w, "window", win);
	jw_ku64(&w, "time_ms", now / 1000000);
	jw_key(&w, "fleet");
	ask(h, now, &w, (const char *[]){ "fleet", win }, 2);
	jw_key(&w, "sites");
	jw_arr(&w);
	if (store_sites(h->store, &sites, &n) == 0) {
		for (i = 0; i < n; i++) {
			ask(h, now, &w, (const char *[]){ "site", sites[i], win }, 3);
			free(sites[i]);
		}
		free(sites);
	}
	jw_arr_end(&w);
	jw_key(&w, "health");
	ask(h, now, &w, (const char *[]){ "boxes" }, 1);
	jw_key(&w, "worst");
	ask(h, now, &w, (const char *[]){ "top", "customer", "access", "p95", "10", win }, 6);
	jw_obj_end(&w);
	pthread_mutex_unlock(h->lock);
	reply_jw(r, 200, &w);
	jw_free(&w);
}

static bool in_site(const char *csite, const char *site)
{
	size_t n = strlen(site);

	return !n || (!strncmp(csite, site, n) && (csite[n] == '\0' || csite[n] == '/'));
}

/*
 * /api/site_customers?site=PATH&w=W: the customers of a site's subtree
 * ("" or absent: all), each {"id", "name", "site", "query": A} with A the
 * answer to ["customer", ID, W]. Unsorted: the page sorts.
 */
static void api_site_customers(struct http *h, const char *uri, struct httpd_req *r)
{
	struct hist hg[PF_NHALVES];
	struct store_cust_info *c = NULL;
	char site[512], win[16];
	size_t n = 0, i;
	uint64_t now;
	struct jw w;
	int rc;

	rc = param(uri, "site", site, sizeof(site));
	if (rc == -ENOENT)
		site[0] = '\0';
	else if (rc) {
		reply_error(r, 400, "site: bad value");
		return;
	}
	n = strlen(site);
	while (n && site[n - 1] == '/')		/* "North/" is "North" */
		site[--n] = '\0';
	if (window_param(uri, win, sizeof(win), r))
		return;
	jw_init(&w);
	pthread_mutex_lock(h->lock);
	now = sys_now_ns(CLOCK_REALTIME);
	if (site[0] && store_site(h->store, site, STORE_W10S, now, hg) == -ENOENT) {
		pthread_mutex_unlock(h->lock);
		jw_free(&w);
		reply_error(r, 404, "no such site");
		return;
	}
	jw_obj(&w);
	jw_kstr(&w, "site", site);
	jw_kstr(&w, "window", win);
	jw_key(&w, "customers");
	jw_arr(&w);
	if (store_customers(h->store, &c, &n) == 0) {
		for (i = 0; i < n; i++) {
			if (!in_site(c[i].site, site))
				continue;
			jw_obj(&w);
			jw_kstr(&w, "id", c[i].id);
			jw_kstr(&w, "name", c[i].name);
			jw_kstr(&w, "site", c[i].site);
			jw_key(&w, "query");
			ask(h, now, &w, (const char *[]){ "customer", c[i].id, win }, 3);
			jw_obj_end(&w);
		}
		free(c);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	pthread_mutex_unlock(h->lock);
	reply_jw(r, 200, &w);
	jw_free(&w);
}

static void api(struct http *h, struct httpd_req *r)
{
	const char *uri = r->target;
	char path[64];
	size_t n = strcspn(uri, "?");

	if (n >= sizeof(path)) {
		reply_error(r, 404, "no such endpoint");
		return;
	}
	memcpy(path, uri, n);
	path[n] = '\0';
	if (!strcmp(path, "/api/query"))
		api_query(h, uri, r);
	else if (!strcmp(path, "/api/overview"))
		api_overview(h, uri, r);
	else if (!strcmp(path, "/api/site_customers"))
		api_site_customers(h, uri, r);
	else if (!strcmp(path, "/api/config"))
		api_config(h, r);
	else if (!strcmp(path, "/api/top"))
		api_top(h, uri, r);
	else if (!strcmp(path, "/api/sites") || !strcmp(path, "/api/boxes") ||
		 !strcmp(path, "/api/customers"))
		api_ask(h, r, (const char *[]){ path + 5 }, 1);
	else if (!strcmp(path, "/api/fleet"))
		api_entity(h, "fleet", NULL, uri, r);
	else if (!strcmp(path, "/api/site"))
		api_entity(h, "site", "name", uri, r);
	else if (!strcmp(path, "/api/customer"))
		api_entity(h, "customer", "id", uri, r);
	else if (!strcmp(path, "/api/box"))
		api_entity(h, "box", "id", uri, r);
	else
		reply_error(r, 404, "no such endpoint (see docs/http.md)");
}

/* ---- /metrics ------------------------------------------------------------- */

struct text {
	char *buf;
	size_t len, cap;
	int err;
};

static int text_grow(struct text *t, size_t need)
{
	size_t cap = t->cap ? t->cap : 65536;
	char *b;

	while (cap < need)
		cap *= 2;
	b = realloc(t->buf, cap);
	if (!b)
		return -ENOMEM;
	t->buf = b;
	t->cap = cap;
	return 0;
}

static void __attribute__((format(printf, 2, 3))) tprintf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->err || (!t->cap && (t->err = text_grow(t, 65536))))
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->err = -EINVAL;
			return;
		}
		if ((size_t)n < t->cap - t->len)
			break;
		t->err = text_grow(t, t->len + (size_t)n + 1);
		if (t->err)
			return;
	}
	t->len += (size_t)n;
}

/* A label value: \ " and newline escaped, into out (truncated to cap). */
static const char *label_esc(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s && o + 3 < cap; s++) {
		if (*s == '\\' || *s == '"') {
			out[o++] = '\\';
			out[o++] = *s;
		} else if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return out;
}

/* The shortest decimal that reads back as the same double. */
static void fmt_double(double v, char *out, size_t cap)
{
	int p;

	for (p = 1; p <= 17; p++) {
		snprintf(out, cap, "%.*g", p, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

/* ns as exact decimal seconds: 1234567891 -> "1.234567891". */
static void fmt_ns_s(uint64_t ns, char *out, size_t cap)
{
	size_t n;

	n = (size_t)snprintf(out, cap, "%" PRIu64 ".%09" PRIu64, ns / 1000000000U,
			     ns % 1000000000U);
	while (n > 1 && out[n - 1] == '0')
		out[--n] = '\0';
	if (n && out[n - 1] == '.')
		out[--n] = '\0';
}

/*
 * One histogram series: cumulative counts at every HTTP_LE_STEP-th bucket
 * boundary (slots 0, 4, ..., 208: le = 2^-20 .. 2^6 s, a factor sqrt(2)
 * apart), +Inf, sum in seconds, count. Exact: an le is a bucket's upper
 * bound, so the count at it is the sum of whole buckets.
 */
static void hist_series(struct text *t, const char *name, const char *labels,
			const struct hist *hg)
{
	char le[40], sum[40];
	uint64_t cum = 0;
	uint32_t s;

	for (s = 0; s < PF_HIST_SLOT_OVER; s++) {
		cum += hg->slot[s];
		if ((s - PF_HIST_SLOT_UNDER) % HTTP_LE_STEP)
			continue;
		fmt_double(hist_slot_upper_s(s), le, sizeof(le));
		tprintf(t, "%s_bucket{%s,le=\"%s\"} %" PRIu64 "\n", name, labels, le, cum);
	}
	fmt_ns_s(hg->sum, sum, sizeof(sum));
	tprintf(t, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, labels, hg->count);
	tprintf(t, "%s_sum{%s} %s\n", name, labels, sum);
	tprintf(t, "%s_count{%s} %" PRIu64 "\n", name, labels, hg->count);
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	tprintf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * /metrics reads the store under its lock only to copy what it needs: each
 * series' histogram, compact (its non-empty buckets), with its names.
 * The text (the bulk of the work: 1 GB for 120k sites) is written after
 * the lock is released, so merging never waits for a scrape.
 */
enum { SNAP_FLEET, SNAP_SITE, SNAP_CUSTOMER };
struct snap {
	uint8_t kind, half;
	char *names;			/* site; or id \0 name \0 site */
	uint64_t count, sum;
	uint32_t n;
	uint16_t *idx;
	uint64_t *cnt;
};
struct snaps {
	struct snap *v;
	size_t n, cap;
	bool err;
};

static void snap_add(struct snaps *ss, int kind, int half, const char *a, const char *b,
		     const char *c, const struct hist *h)
{
	size_t la = a ? strlen(a) + 1 : 0, lb = b ? strlen(b) + 1 : 0, lc = c ? strlen(c) + 1 : 0;
	struct hist_sparse hs;
	struct snap *sp;

	if (ss->err)
		return;
	if (ss->n == ss->cap) {
		size_t cap = ss->cap ? ss->cap * 2 : 64;
		struct snap *v = realloc(ss->v, cap * sizeof(*v));

		if (!v) {
			ss->err = true;
			return;
		}
		ss->v = v;
		ss->cap = cap;
	}
	hist_to_sparse(h, &hs);
	sp = &ss->v[ss->n];
	memset(sp, 0, sizeof(*sp));
	sp->names = la + lb + lc ? malloc(la + lb + lc) : NULL;
	sp->idx = hs.n ? malloc(hs.n * sizeof(*sp->idx)) : NULL;
	sp->cnt = hs.n ? malloc(hs.n * sizeof(*sp->cnt)) : NULL;
	if ((la + lb + lc && !sp->names) || (hs.n && (!sp->idx || !sp->cnt))) {
		free(sp->names);
		free(sp->idx);
		free(sp->cnt);
		ss->err = true;
		return;
	}
	if (la)
		memcpy(sp->names, a, la);
	if (lb)
		memcpy(sp->names + la, b, lb);
	if (lc)
		memcpy(sp->names + la + lb, c, lc);
	sp->kind = (uint8_t)kind;
	sp->half = (uint8_t)half;
	sp->count = hs.count;
	sp->sum = hs.sum;
	sp->n = hs.n;
	if (hs.n) {
		memcpy(sp->idx, hs.idx, hs.n * sizeof(*sp->idx));
		memcpy(sp->cnt, hs.cnt, hs.n * sizeof(*sp->cnt));
	}
	ss->n++;
}

static void snaps_free(struct snaps *ss)
{
	size_t i;

	for (i = 0; i < ss->n; i++) {
		free(ss->v[i].names);
		free(ss->v[i].idx);
		free(ss->v[i].cnt);
	}
	free(ss->v);
}

/* Under the lock: the fleet's, every site's and (if asked) every customer's 1 h. */
static void metrics_snap(struct http *h, struct snaps *ss, uint64_t now)
{
	struct hist hg[PF_NHALVES];
	struct store_cust_info *c = NULL;
	char **sites = NULL;
	size_t n = 0, i;
	int k;

	if (store_fleet(h->store, STORE_W1H, now, hg) == 0)
		for (k = 0; k < PF_NHALVES; k++)
			snap_add(ss, SNAP_FLEET, k, NULL, NULL, NULL, &hg[k]);
	if (store_sites(h->store, &sites, &n) == 0) {
		for (i = 0; i < n; i++) {
			if (store_site(h->store, sites[i], STORE_W1H, now, hg) == 0)
				for (k = 0; k < PF_NHALVES; k++)
					snap_add(ss, SNAP_SITE, k, sites[i], NULL, NULL, &hg[k]);
			free(sites[i]);
		}
		free(sites);
	}
	if (!h->opts.metrics_customers || store_customers(h->store, &c, &n))
		return;
	for (i = 0; i < n; i++)
		if (store_customer(h->store, c[i].id, STORE_W1H, now, hg) == 0)
			for (k = 0; k < PF_NHALVES; k++)
				snap_add(ss, SNAP_CUSTOMER, k, c[i].id, c[i].name, c[i].site, &hg[k]);
	free(c);
}

/* Without the lock: the series' text, family by family (they come in order). */
static void metrics_rtt(struct text *t, const struct snaps *ss)
{
	static const char *const fam[] = { "pingfold_fleet_rtt_seconds",
		"pingfold_site_rtt_seconds", "pingfold_customer_rtt_seconds" };
	static const char *const help[] = {
		"Round-trip time of the whole fleet over the last 1 h (sliding window).",
		"Round-trip time of a site and its subtree over the last 1 h (sliding window).",
		"Round-trip time of a customer over the last 1 h (sliding window)." };
	char lab[1200], e1[600], e2[300], e3[600];
	int last = -1;
	size_t i;
	uint32_t k;

	for (i = 0; i < ss->n; i++) {
		const struct snap *sp = &ss->v[i];
		struct hist hg;

		if (sp->kind != last) {
			family(t, fam[sp->kind], "histogram", help[sp->kind]);
			last = sp->kind;
		}
		hist_init(&hg);
		hg.count = sp->count;
		hg.sum = sp->sum;
		for (k = 0; k < sp->n; k++)
			hg.slot[sp->idx[k]] = sp->cnt[k];
		if (sp->kind == SNAP_FLEET) {
			snprintf(lab, sizeof(lab), "half=\"%s\"", half_name[sp->half]);
		} else if (sp->kind == SNAP_SITE) {
			snprintf(lab, sizeof(lab), "site=\"%s\",half=\"%s\"",
				 label_esc(sp->names, e1, sizeof(e1)), half_name[sp->half]);
		} else {
			const char *id = sp->names, *name = id + strlen(id) + 1;
			const char *site = name + strlen(name) + 1;

			snprintf(lab, sizeof(lab), "customer=\"%s\",name=\"%s\",site=\"%s\",half=\"%s\"",
				 label_esc(id, e2, sizeof(e2)), label_esc(name, e3, sizeof(e3)),
				 label_esc(site, e1, sizeof(e1)), half_name[sp->half]);
		}
		hist_series(t, fam[sp->kind], lab, &hg);
	}
}

/* Per-box values, one family at a time. */
#define BOX_U64(field) offsetof(struct store_box_info, field)
static const struct box_metric {
	const char *name, *type, *help;
	size_t off;
} box_metrics[] = {
	{ "pingfold_box_deltas_total", "counter", "Deltas merged from the box.", BOX_U64(deltas) },
	{ "pingfold_box_duplicates_total", "counter", "Deltas of the box seen twice and ignored.",
	  BOX_U64(dups) },
	{ "pingfold_box_gaps_total", "counter", "Jumps in the box's sequence.", BOX_U64(gaps) },
	{ "pingfold_box_gap_deltas_total", "counter", "Deltas missed in those jumps.",
	  BOX_U64(gap_deltas) },
	{ "pingfold_box_recovered_total", "counter", "Missed deltas that came back by replay.",
	  BOX_U64(recovered) },
	{ "pingfold_box_lost_total", "counter", "Missed deltas that could not be recovered.",
	  BOX_U64(lost) },
	{ "pingfold_box_unnamed_total", "counter",
	  "Customer-halves merged under a key no catalog of the box named.", BOX_U64(unnamed) },
	{ "pingfold_box_samples_total", "counter", "RTT samples merged from the box.",
	  BOX_U64(samples) },
	{ "pingfold_box_late_total", "counter",
	  "Deltas older than the longest window (counted in totals only).", BOX_U64(late) },
	{ "pingfold_box_last_seq", "gauge", "Highest delta sequence number of the box's epoch.",
	  BOX_U64(last_seq) },
};

static void metrics_boxes(struct text *t, const struct store_box_info *b, size_t n,
			  uint64_t now)
{
	char e[200], st[80];
	size_t i, m;
	uint32_t k;

	family(t, "pingfold_box_stale", "gauge",
	       "1 if the box sent nothing for --stale of its intervals.");
	for (i = 0; i < n; i++)
		tprintf(t, "pingfold_box_stale{box=\"%s\"} %d\n", label_esc(b[i].box, e, sizeof(e)),
			b[i].stale ? 1 : 0);
	family(t, "pingfold_box_last_seen_seconds", "gauge",
	       "Seconds since the box's last message.");
	for (i = 0; i < n; i++)
		tprintf(t, "pingfold_box_last_seen_seconds{box=\"%s\"} %.3f\n",
			label_esc(b[i].box, e, sizeof(e)),
			now > b[i].last_seen_ns ? (double)(now - b[i].last_seen_ns) / 1e9 : 0.0);
	family(t, "pingfold_box_interval_seconds", "gauge",
	       "Interval of the box's deltas (end - start of its last one).");
	for (i = 0; i < n; i++)
		tprintf(t, "pingfold_box_interval_seconds{box=\"%s\"} %.3f\n",
			label_esc(b[i].box, e, sizeof(e)), (double)b[i].interval_ns / 1e9);
	for (m = 0; m < sizeof(box_metrics) / sizeof(box_metrics[0]); m++) {
		family(t, box_metrics[m].name, box_metrics[m].type, box_metrics[m].help);
		for (i = 0; i < n; i++)
			tprintf(t, "%s{box=\"%s\"} %" PRIu64 "\n", box_metrics[m].name,
				label_esc(b[i].box, e, sizeof(e)),
				*(const uint64_t *)((const char *)&b[i] + box_metrics[m].off));
	}
	family(t, "pingfold_box_refused_total", "counter",
	       "The box's messages refused, by reason (see docs/aggregator.md).");
	for (i = 0; i < n; i++)
		for (k = 0; k < STORE_NREFUSALS; k++)
			tprintf(t, "pingfold_box_refused_total{box=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
				label_esc(b[i].box, e, sizeof(e)), store_refusal_name(k),
				b[i].refused[k]);
	family(t, "pingfold_box_agent_stat", "gauge",
	       "The box agent's own counters, from its last stats message.");
	for (i = 0; i < n; i++)
		for (k = 0; k < b[i].stats.n; k++)
			tprintf(t, "pingfold_box_agent_stat{box=\"%s\",stat=\"%s\"} %" PRIu64 "\n",
				label_esc(b[i].box, e, sizeof(e)),
				label_esc(b[i].stats.s[k].name, st, sizeof(st)),
				b[i].stats.s[k].value);
}

static void counter(struct text *t, const char *name, const char *help, uint64_t v)
{
	family(t, name, "counter", help);
	tprintf(t, "%s %" PRIu64 "\n", name, v);
}

static void gauge(struct text *t, const char *name, const char *help, double v)
{
	family(t, name, "gauge", help);
	tprintf(t, "%s %.17g\n", name, v);
}

static void metrics_self(struct http *h, struct text *t, const struct store_box_info *b,
			 size_t n)
{
	uint64_t sum[5] = { 0 }, stale = 0, refused[STORE_NREFUSALS];
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		sum[0] += b[i].deltas + b[i].dups;
		sum[1] += b[i].dups;
		sum[2] += b[i].gaps;
		sum[3] += b[i].recovered;
		sum[4] += b[i].lost;
		stale += b[i].stale;
	}
	counter(t, "pingfold_aggregator_deltas_received_total",
		"Deltas received from all boxes, duplicates included.", sum[0]);
	counter(t, "pingfold_aggregator_duplicates_total", "Duplicate deltas ignored.", sum[1]);
	counter(t, "pingfold_aggregator_gaps_total", "Sequence gaps detected.", sum[2]);
	counter(t, "pingfold_aggregator_recovered_total", "Missed deltas recovered by replay.",
		sum[3]);
	counter(t, "pingfold_aggregator_lost_total", "Missed deltas not recovered.", sum[4]);
	counter(t, "pingfold_aggregator_samples_total", "RTT samples merged.",
		store_total_samples(h->store));
	if (h->ctr.msgs)
		counter(t, "pingfold_aggregator_messages_total", "Messages received.",
			*h->ctr.msgs);
	if (h->ctr.decode_errors)
		counter(t, "pingfold_aggregator_decode_errors_total",
			"Messages refused (undecodable or of an unknown kind).",
			*h->ctr.decode_errors);
	if (h->ctr.replays)
		counter(t, "pingfold_aggregator_replays_total", "Replay requests made to boxes.",
			*h->ctr.replays);
	if (h->ctr.replayed)
		counter(t, "pingfold_aggregator_replayed_deltas_total",
			"Deltas merged from replay answers.", *h->ctr.replayed);
	if (h->ctr.query_drops)
		counter(t, "pingfold_aggregator_query_drops_total",
			"Query answers dropped: the client had not taken its previous one.",
			*h->ctr.query_drops);
	store_refusals(h->store, refused);
	family(t, "pingfold_aggregator_refused_total", "counter",
	       "Messages refused, by reason: malformed, time, overflow, limit, seq_jump, identity.");
	for (k = 0; k < STORE_NREFUSALS; k++)
		tprintf(t, "pingfold_aggregator_refused_total{reason=\"%s\"} %" PRIu64 "\n",
			store_refusal_name(k), refused[k]);
	{
		uint64_t forgotten;
		uint32_t nc = store_ncustomers(h->store, &forgotten);

		gauge(t, "pingfold_aggregator_customers", "Customers kept.", (double)nc);
		counter(t, "pingfold_aggregator_forgotten_total",
			"Customers forgotten (no box names them, nothing in any window).",
			forgotten);
	}
	gauge(t, "pingfold_aggregator_boxes", "Boxes known.", (double)n);
	gauge(t, "pingfold_aggregator_stale_boxes", "Boxes that are stale.", (double)stale);
	gauge(t, "pingfold_aggregator_store_bytes", "Memory the store holds (approximate).",
	      (double)store_mem_bytes(h->store));
	if (h->srv) {
		struct httpd_counts c;

		httpd_counts(h->srv, &c);
		gauge(t, "pingfold_http_connections", "HTTP connections open.", (double)c.open);
		counter(t, "pingfold_http_requests_total", "HTTP requests answered.", c.served);
		counter(t, "pingfold_http_timed_out_total",
			"HTTP connections closed for not sending a request in time.", c.timed_out);
		counter(t, "pingfold_http_evicted_total",
			"Waiting HTTP connections closed to make room (connection cap, fds).",
			c.evicted);
		counter(t, "pingfold_http_refused_total",
			"HTTP connections refused with 503 at the connection cap.", c.refused_full);
		counter(t, "pingfold_http_bad_requests_total", "Malformed HTTP requests.",
			c.bad_requests);
		counter(t, "pingfold_http_write_drops_total",
			"HTTP answers dropped: the client did not take them in time.", c.write_drops);
	}
}

static void metrics(struct http *h, struct httpd_req *r)
{
	struct store_box_info *b = NULL;
	struct text t = { 0 }, self = { 0 };
	struct snaps ss = { 0 };
	size_t n = 0;
	uint64_t now;

	/* under the lock: copies, and the aggregator's own few lines */
	pthread_mutex_lock(h->lock);
	now = sys_now_ns(CLOCK_REALTIME);
	metrics_snap(h, &ss, now);
	if (store_boxes(h->store, now, &b, &n))
		n = 0;
	metrics_self(h, &self, b, n);
	pthread_mutex_unlock(h->lock);
	/* the text, with the store free for merging */
	if (!ss.err)
		metrics_rtt(&t, &ss);
	snaps_free(&ss);
	metrics_boxes(&t, b, n, now);
	free(b);
	if (self.buf)
		tprintf(&t, "%.*s", (int)self.len, self.buf);
	t.err |= self.err || ss.err;
	free(self.buf);
	if (t.err)
		reply(r, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
	else
		reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", t.buf, t.len);
	free(t.buf);
}

/* ---- serving ---------------------------------------------------------------- */

/* The page's files: built in, or regular files directly in static_dir. */
static void page(struct http *h, const char *path, struct httpd_req *r)
{
	char file[PATH_MAX];
	const char *name = strcmp(path, "/") ? path + 1 : "index.html";
	size_t i;

	if (!h->static_dir) {
		for (i = 0; i < web_nassets; i++) {
			if (!strcmp(web_assets[i].path + 1, name)) {
				reply(r, 200, web_assets[i].type, web_assets[i].data,
				      web_assets[i].len);
				return;
			}
		}
	} else if (name[0] != '.' && !strchr(name, '/') &&
		   (size_t)snprintf(file, sizeof(file), "%s/%s", h->static_dir, name) <
		   sizeof(file)) {
		FILE *f = fopen(file, "rb");
		struct stat st;

		if (f && !fstat(fileno(f), &st) && S_ISREG(st.st_mode) && st.st_size < (64 << 20)) {
			char *buf = malloc((size_t)st.st_size + 1);
			size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
			const char *dot = strrchr(name, '.');
			const char *type = !dot ? "application/octet-stream" :
				!strcmp(dot, ".html") ? "text/html; charset=utf-8" :
				!strcmp(dot, ".js") ? "text/javascript; charset=utf-8" :
				!strcmp(dot, ".css") ? "text/css; charset=utf-8" :
				!strcmp(dot, ".svg") ? "image/svg+xml" :
				!strcmp(dot, ".png") ? "image/png" : "application/octet-stream";

			if (buf && n == (size_t)st.st_size)
				reply(r, 200, type, buf, n);
			else
				reply(r, 500, "text/plain", "cannot read the file\n", 21);
			free(buf);
			fclose(f);
			return;
		}
		if (f)
			fclose(f);
	}
	reply(r, 404, "text/plain", "not found\n", 10);
}

/* httpd's handler, on its worker threads. */
static void dispatch(void *arg, struct httpd_req *r)
{
	struct http *h = arg;
	char path[256];
	size_t n = strcspn(r->target, "?");

	if (n >= sizeof(path)) {
		reply(r, 404, "text/plain", "not found\n", 10);
		return;
	}
	memcpy(path, r->target, n);
	path[n] = '\0';
	if (!strcmp(path, "/metrics"))
		metrics(h, r);
	else if (!strcmp(path, "/api") || !strncmp(path, "/api/", 5))
		api(h, r);
	else
		page(h, path, r);
}

/* "http://HOST:PORT" with a numeric host ("localhost" taken as 127.0.0.1). */
static int parse_url(const char *url, char *host, size_t cap, uint16_t *port)
{
	const char *p = url + 7, *colon, *end;
	char *e;
	unsigned long v;

	if (strncmp(url, "http://", 7))
		return -EINVAL;
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		colon = end + 1;
		p++;
	} else {
		colon = strchr(p, ':');
		if (!colon)
			return -EINVAL;
		end = colon;
	}
	if ((size_t)(end - p) >= cap)
		return -EINVAL;
	snprintf(host, cap, "%.*s", (int)(end - p), p);
	if (!strcmp(host, "localhost"))
		snprintf(host, cap, "127.0.0.1");
	errno = 0;
	v = strtoul(colon + 1, &e, 10);
	if (errno || e == colon + 1 || (*e && strcmp(e, "/")) || !v || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int http_start(struct http **hp, const struct http_opts *o, struct store *s,
	       pthread_mutex_t *lock)
{
	struct httpd_opts ho = { 0 };
	struct http *h;
	char host[64];
	int err;

	*hp = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->opts = *o;
	h->url = strdup(o->url);
	h->static_dir = o->static_dir ? strdup(o->static_dir) : NULL;
	h->store = s;
	h->lock = lock;
	err = -ENOMEM;
	if (!h->url || (o->static_dir && !h->static_dir))
		goto out_free;
	h->opts.url = h->url;
	h->opts.static_dir = h->static_dir;
	err = -EINVAL;
	if (!strncmp(h->url, "https://", 8)) {
		pr_err("http: '%s': only http:// (for TLS and passwords, a reverse proxy: "
		       "docs/http.md)", h->url);
		goto out_free;
	}
	if (parse_url(h->url, host, sizeof(host), &ho.port)) {
		pr_err("http: '%s': expected http://ADDRESS:PORT with a numeric address "
		       "(e.g. http://127.0.0.1:7880, http://[::]:7880)", h->url);
		goto out_free;
	}
	if (h->static_dir) {
		char index[PATH_MAX];
		struct stat st;

		snprintf(index, sizeof(index), "%s/index.html", h->static_dir);
		if (stat(index, &st) || !S_ISREG(st.st_mode)) {
			pr_err("http: --http-static %s: no index.html", h->static_dir);
			err = -ENOENT;
			goto out_free;
		}
	}
	ho.host = host;
	ho.max_conns = o->max_conns;
	ho.idle_ms = o->idle_ms;
	err = httpd_start(&h->srv, &ho, dispatch, h);
	if (err)
		goto out_free;
	pr_info("http: serving on %s (the page %s%s)", h->url,
		h->static_dir ? "from " : "built in",
		h->static_dir ? h->static_dir : "");
	*hp = h;
	return 0;

out_free:
	free(h->static_dir);
	free(h->url);
	free(h);
	return err;
}

void http_stop(struct http *h)
{
	if (!h)
		return;
	httpd_stop(h->srv);
	free(h->static_dir);
	free(h->url);
	free(h);
}
