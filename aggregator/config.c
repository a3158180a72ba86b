// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* pingfold-aggregator's settings: one table for the command line, files and --help. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "aggregator/agg.h"
#include "common/cfgfile.h"

void agg_cfg_default(struct agg_cfg *c)
{
	memset(c, 0, sizeof(*c));
	store_opts_default(&c->store);
	c->interval_ms = 1000;
	c->view_window = STORE_W1M;
	c->view_customers = true;
	c->replay_workers = 4;
	c->claim_idle_ms = 30000;
	c->rw_interval_ms = 10000;
	history_opts_default(&c->hist);
	if (gethostname(c->id, sizeof(c->id) - 5) || !c->id[0])
		snprintf(c->id, sizeof(c->id), "aggregator");
	else
		strcat(c->id, "-agg");
}

static int set_id(void *cfg, const char *key, const char *v, struct cfg_err *e)
{
	struct agg_cfg *c = cfg;
	const char *why = wire_box_check(v, strlen(v));

	if (why) {
		snprintf(e->msg, sizeof(e->msg), "%s '%.64s': %s", key, v, why);
		return -EINVAL;
	}
	snprintf(c->id, sizeof(c->id), "%s", v);
	return 0;
}

static int set_http(void *cfg, const char *key, const char *v, struct cfg_err *e)
{
	struct agg_cfg *c = cfg;

	if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
		snprintf(e->msg, sizeof(e->msg), "%s: '%s' is not an http:// URL", key, v);
		return -EINVAL;
	}
	c->http_url = cfg_strdup(v);
	return c->http_url ? 0 : -ENOMEM;
}

static int set_colour(void *cfg, const char *key, const char *v, struct cfg_err *e)
{
	struct agg_cfg *c = cfg;
	uint64_t x;
	int rc = cfg_u64(key, v, 1, 600000, &x, e);

	if (!rc)
		*(key[0] == 'g' ? &c->green_ms : &c->yellow_ms) = (double)x;
	return rc;
}

/* A slot divides a minute (the store's minutes and five minutes are whole slots). */
static int set_slot(void *cfg, const char *key, const char *v, struct cfg_err *e)
{
	uint64_t x;
	int rc = cfg_u64(key, v, 5000, 60000, &x, e);

	if (!rc && 60000 % x) {
		snprintf(e->msg, sizeof(e->msg),
			 "%s: %llu ms does not divide a minute (5000, 6000, 10000, 12000, 15000, 20000, 30000 or 60000)",
			 key, (unsigned long long)x);
		rc = -EINVAL;
	}
	if (!rc)
		((struct agg_cfg *)cfg)->store.slot_ns = x * 1000000ULL;
	return rc;
}

static int set_view_window(void *cfg, const char *key, const char *v, struct cfg_err *e)
{
	if (store_window_parse(v, &((struct agg_cfg *)cfg)->view_window)) {
		snprintf(e->msg, sizeof(e->msg), "%s: 10s, 1m, 5m, 15m or 1h", key);
		return -EINVAL;
	}
	return 0;
}

static int set_forget(void *cfg, const char *key, const char *v, struct cfg_err *e)
{
	uint64_t x;
	int rc = cfg_u64(key, v, 0, 365 * 86400, &x, e);

	if (!rc)
		((struct agg_cfg *)cfg)->store.forget_ns = x ? x * 1000000000ULL : UINT64_MAX;
	return rc;
}

static int set_tls(void *cfg, const char *key, const char *v, struct cfg_err *e)
{
	return tls_opts_set(&((struct agg_cfg *)cfg)->tls, key, v, e);
}

#define F(field)	offsetof(struct agg_cfg, field)
#define LIST(t, field, cap)	t, F(field), F(n##field), 0, cap

const struct opt agg_opts[] = {
	{ "config", 'c', OPT_FN, .arg = "FILE", .flags = OPT_F_CLI_ONLY,
	  .help = "settings as 'key = value' lines (long option names)" },
	{ "agent", 'a', LIST(OPT_URLS, agents, AGG_MAX_URLS), .arg = "URL[,replay=URL][,box=ID]",
	  .help = "subscribe to an agent (or aggregator) by dialling\n"
		  "URL; its replay socket fills gaps; box=ID: it may\n"
		  "only send as ID (TLS: its certificate must name\n"
		  "ID); repeatable" },
	{ "listen", 'l', LIST(OPT_URLS, listen, AGG_MAX_URLS), .arg = "URL",
	  .help = "agents dial in here; repeatable" },
	{ "replay-for", 0, LIST(OPT_LIST, replay_for, AGG_MAX_URLS), .arg = "BOX=URL",
	  .help = "replay socket of an agent that dials in; repeatable" },
	{ "query", 'q', LIST(OPT_URLS, query, 8), .arg = "URL",
	  .help = "query API (req/rep; used by the pingfold CLI)" },
	{ "views", 'p', LIST(OPT_URLS, views, 8), .arg = "URL",
	  .help = "pub stream of views: view/fleet, view/site/PATH,\n"
		  "view/box/BOX, view/customer/ID" },
	{ "view-window", 0, OPT_FN, .set = set_view_window, .arg = "W",
	  .help = "window of the views (default 1m)" },
	{ "no-view-customers", 0, OPT_BOOL, F(view_customers), .flags = OPT_F_CLEARS,
	  .file_name = "view-customers", .help = "leave per-customer views out of the stream" },
	{ "republish", 'r', LIST(OPT_URLS, republish, 8), .arg = "URL",
	  .help = "publish merged deltas in the agents' format, so\n"
		  "another aggregator can subscribe (stacking)" },
	{ "republish-replay", 0, LIST(OPT_URLS, republish_replay, 8), .arg = "URL",
	  .help = "replay socket for the republished deltas" },
	{ "id", 0, OPT_FN, .set = set_id, .arg = "NAME",
	  .help = "box id when republishing (default HOSTNAME-agg)" },
	{ "tls-ca", 0, OPT_FN, .set = set_tls, .arg = "FILE",
	  .help = "for tls+tcp:// URLs: the CA that signed the agents'\n"
		  "certificates; an agent without one is refused" },
	{ "tls-cert", 0, OPT_FN, .set = set_tls, .arg = "FILE",
	  .help = "our certificate and private key (one PEM file)" },
	{ "tls-server-name", 0, OPT_FN, .set = set_tls, .arg = "N",
	  .help = "name the agents' certificates carry (default: the\nhost of each URL)" },
	{ "http", 0, OPT_FN, .set = set_http, .arg = "URL",
	  .help = "the overview page, /api/ and /metrics here\n"
		  "(e.g. http://127.0.0.1:7880; see docs/http.md)" },
	{ "http-static", 0, OPT_STR, F(http_static), .arg = "DIR",
	  .help = "serve the page from DIR instead of the built-in copy" },
	{ "http-max-conns", 0, OPT_U64, F(http_max_conns), 0, 1, 65536, .arg = "N",
	  .help = "HTTP connections at once (default 256; at the cap\n"
		  "the oldest still sending its request is closed)" },
	{ "http-idle", 0, OPT_U64, F(http_idle_ms), 0, 100, 3600000, .arg = "MS",
	  .help = "time to send a request, then closed (default 10000)" },
	{ "green-ms", 0, OPT_FN, .set = set_colour, .arg = "MS",
	  .help = "page colours: green below MS (default 50)" },
	{ "yellow-ms", 0, OPT_FN, .set = set_colour, .arg = "MS",
	  .help = "yellow below MS, red above (default 100)" },
	{ "metrics-customers", 0, OPT_BOOL, F(metrics_customers),
	  .help = "per-customer series in /metrics (high cardinality)" },
	{ "interval", 'n', OPT_U64, F(interval_ms), 0, 100, 3600000, .arg = "MS",
	  .help = "views and republish every MS (default 1000)" },
	{ "slot", 0, OPT_FN, .set = set_slot, .arg = "MS",
	  .help = "time slot of the windows, dividing a minute (default 10000)" },
	{ "stale", 0, OPT_U32, F(store.stale_intervals), 0, 1, 1000000, .arg = "N",
	  .help = "a box is stale after N of its intervals (default 5)" },
	{ "claim-idle", 0, OPT_U64, F(claim_idle_ms), 0, 1000, 3600000, .arg = "MS",
	  .help = "a box id is bound to the connection that first sent\n"
		  "it until that closes or is silent MS (default 30000)" },
	{ "replay-workers", 0, OPT_U32, F(replay_workers), 0, 1, 64, .arg = "N",
	  .help = "concurrent replay fetches, one per box (default 4)" },
	{ "remote-write", 0, OPT_URLS, F(rw.urls), F(rw.nurls), 0, RW_MAX_URLS, .arg = "URL",
	  .help = "Prometheus remote write receiver (e.g. http://prom:9090\n"
		  "/api/v1/write): native histograms of the fleet, each\n"
		  "site and box; repeatable (docs/scale.md)" },
	{ "remote-write-customers", 0, OPT_BOOL, F(rw.customers),
	  .help = "per-customer series too (high cardinality)" },
	{ "remote-write-classic", 0, OPT_BOOL, F(rw.classic),
	  .help = "classic le series instead of native histograms\n(receivers without them)" },
	{ "remote-write-interval", 0, OPT_U64, F(rw_interval_ms), 0, 1000, 3600000, .arg = "MS",
	  .help = "one sample per series every MS (default 10000)" },
	{ "remote-write-queue-bytes", 0, OPT_U64, F(rw.queue_bytes), 0, 1 << 20, 1ULL << 34,
	  .arg = "N", .help = "unsent requests kept per receiver (default 64 MiB)" },
	{ "remote-write-queue-dir", 0, OPT_STR, F(rw.queue_dir), .arg = "DIR",
	  .help = "keep unsent requests in DIR too, across restarts" },
	{ "remote-write-ca", 0, OPT_STR, F(rw.ca_file), .arg = "FILE",
	  .help = "https:// receivers: their certificate's CA\n(default: the system's CAs)" },
	{ "remote-write-bearer-file", 0, OPT_STR, F(rw.bearer_file), .arg = "FILE",
	  .help = "Authorization: Bearer, the token from FILE" },
	{ "remote-write-basic-auth", 0, OPT_STR, F(rw.basic_auth), .arg = "USER:PASS",
	  .help = "Authorization: Basic" },
	{ "exclude", 0, OPT_STR, F(exclude_file), .arg = "FILE",
	  .help = "customer ids (one a line) expected to have high latency:\nleft out of sites, boxes, fleet and top lists;\nread again on SIGHUP" },
	{ .type = OPT_HEADING, .help = "History on disk (SQLite, docs/aggregator.md):" },
	{ "history-dir", 0, OPT_STR, F(history_dir), .arg = "DIR",
	  .help = "keep history in DIR/history.db (the service: /var/lib/pingfold;\nnot given: no history)" },
	{ "history-minute-days", 0, OPT_U32, F(hist.minute_days), 0, 1, 3650, .arg = "N",
	  .help = "fleet, sites and boxes per minute, N days (30)" },
	{ "history-customer-hours", 0, OPT_U32, F(hist.customer_5m_hours), 0, 1, 87600, .arg = "N",
	  .help = "customers per five minutes, N hours (48)" },
	{ "history-customer-days", 0, OPT_U32, F(hist.customer_1h_days), 0, 1, 3650, .arg = "N",
	  .help = "customers per hour, N days (30)" },
	{ .type = OPT_HEADING, .help = "Bounds (at a bound: refused and counted, never grown past):" },
	{ "max-customers", 0, OPT_U32, F(store.max_customers), 0, 1, 100000000, .arg = "N",
	  .help = "customers, named and unnamed (2000000)" },
	{ "max-sites", 0, OPT_U32, F(store.max_sites), 0, 1, 10000000, .arg = "N",
	  .help = "site paths with their ancestors (100000)" },
	{ "max-boxes", 0, OPT_U32, F(store.max_boxes), 0, 1, 1000000, .arg = "N",
	  .help = "boxes (10000)" },
	{ "max-unnamed", 0, OPT_U32, F(store.max_unnamed), 0, 1, 100000000, .arg = "N",
	  .help = "distinct unnamed keys per box (100000)" },
	{ "max-catalog", 0, OPT_U32, F(store.max_catalog), 0, 1, 100000000, .arg = "N",
	  .help = "entries of one catalog (1000000)" },
	{ "max-delta-age", 0, OPT_U64, F(store.max_age_ns), 0, 60, 30 * 86400, 1000000000,
	  .arg = "S", .help = "deltas ending longer ago are refused (21600)" },
	{ "max-seq-jump", 0, OPT_U64, F(store.max_seq_jump), 0, 1, 1ULL << 40, .arg = "N",
	  .help = "larger sequence jumps wait to be confirmed (16384)" },
	{ "forget", 0, OPT_FN, .set = set_forget, .arg = "S",
	  .help = "a customer no box names, with no data left in any\n"
		  "window, is forgotten after S s (86400; 0: never)" },
	{ "verbose", 'v', OPT_CLI, .help = "debug logging" },
	{ "quiet", 0, OPT_CLI, .help = "warnings and errors only" },
	{ "help", 'h', OPT_CLI },
	{ 0 }
};
