// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The aggregator's HTTP side on aggregator/httpd.c (docs/http.md):
 *   /            the overview page (web/, built in or from static_dir)
 *   /api/...     JSON: every answer is, or is made of, the query API's
 *                answers, so the page shows exactly what the query API says
 *   /metrics     Prometheus text exposition 0.0.4 (aggregator/metrics.c)
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
#include "aggregator/http_int.h"
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

void http_reply(struct httpd_req *r, uint16_t status, const char *type, const void *body,
		  size_t len)
{
	httpd_reply(r, status, type, body, len);
}

void http_reply_jw(struct httpd_req *r, uint16_t status, struct jw *w)
{
	if (w->err) {
		static const char oom[] = "{\"error\":\"out of memory\"}";

		http_reply(r, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	http_reply(r, status, "application/json", w->buf, w->len);
}

void http_reply_error(struct httpd_req *r, uint16_t status, const char *msg)
{
	struct jw w;

	jw_init(&w);
	jw_obj(&w);
	jw_kstr(&w, "error", msg);
	jw_obj_end(&w);
	http_reply_jw(r, status, &w);
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

	return rc ? query_fail(w, rc, why) : query_run(h->store, NULL, h->opts.hist, &q, now, w);
}

/* HTTP status of a failed query: 404 unknown entity, 500 no memory or history file, else 400. */
static uint16_t query_status(int rc)
{
	return rc == -ENOENT ? 404 : rc == -ENOMEM || rc == -EIO ? 500 : 400;
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
		http_reply_error(r, 400, "w: one of 10s, 1m, 5m, 15m, 1h");
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
		http_reply_error(r, 500, "out of memory");
		return;
	}
	if (param(uri, "q", q, HTTP_QUERY_MAX)) {
		free(q);
		http_reply_error(r, 400, "q: a URL-encoded JSON array of strings, e.g. "
				      "q=%5B%22fleet%22%2C%225m%22%5D");
		return;
	}
	jw_init(&w);
	rc = query_answer(h->store, h->lock, h->opts.hist, q, strlen(q),
			  sys_now_ns(CLOCK_REALTIME), &w);
	http_reply_jw(r, rc ? query_status(rc) : 200, &w);
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
		  query_run(h->store, h->lock, h->opts.hist, &q, sys_now_ns(CLOCK_REALTIME), &w);
	http_reply_jw(r, rc ? query_status(rc) : 200, &w);
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
			http_reply_error(r, 400, msg);
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
			http_reply_error(r, 400, "top: bad parameter");
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
	jw_key(&w, "history");		/* --history-dir: the page's charts and heatmaps */
	jw_bool(&w, h->opts.hist != NULL);
	jw_obj_end(&w);
	http_reply_jw(r, 200, &w);
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
	http_reply_jw(r, 200, &w);
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
		http_reply_error(r, 400, "site: bad value");
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
		http_reply_error(r, 404, "no such site");
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
	http_reply_jw(r, 200, &w);
	jw_free(&w);
}

static void api(struct http *h, struct httpd_req *r)
{
	const char *uri = r->target;
	char path[64];
	size_t n = strcspn(uri, "?");

	if (n >= sizeof(path)) {
		http_reply_error(r, 404, "no such endpoint");
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
		http_reply_error(r, 404, "no such endpoint (see docs/http.md)");
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
				http_reply(r, 200, web_assets[i].type, web_assets[i].data,
				      web_assets[i].len);
				return;
			}
		}
	} else if (name[0] != '.' && !strchr(name, '/') &&
		   (size_t)snprintf(file, sizeof(file), "%s/%s", h->static_dir, name) <
		   sizeof(file)) {
		const char *dot = strrchr(name, '.');
		const char *type = !dot ? "application/octet-stream" :
			!strcmp(dot, ".html") ? "text/html; charset=utf-8" :
			!strcmp(dot, ".js") ? "text/javascript; charset=utf-8" :
			!strcmp(dot, ".css") ? "text/css; charset=utf-8" :
			!strcmp(dot, ".svg") ? "image/svg+xml" :
			!strcmp(dot, ".png") ? "image/png" : "application/octet-stream";
		struct stat st;
		char *buf;
		size_t n;
		int rc;

		if (!stat(file, &st) && S_ISREG(st.st_mode)) {
			rc = sys_read_file(file, 64 << 20, &buf, &n);
			if (!rc)
				http_reply(r, 200, type, buf, n);
			else
				http_reply(r, 500, "text/plain", "cannot read the file\n", 21);
			if (!rc)
				free(buf);
			return;
		}
	}
	http_reply(r, 404, "text/plain", "not found\n", 10);
}

/* httpd's handler, on its worker threads. */
static void dispatch(void *arg, struct httpd_req *r)
{
	struct http *h = arg;
	char path[256];
	size_t n = strcspn(r->target, "?");

	if (n >= sizeof(path)) {
		http_reply(r, 404, "text/plain", "not found\n", 10);
		return;
	}
	memcpy(path, r->target, n);
	path[n] = '\0';
	if (!strcmp(path, "/metrics"))
		http_metrics(h, r);
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
