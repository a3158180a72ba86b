// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * pingfold-aggregator: subscribes to agents (or aggregators), merges
 * their deltas into the store, fetches gaps by replay, answers queries,
 * publishes views and, if asked, republishes merged deltas in the agents'
 * own format so that aggregators stack. See docs/aggregator.md; the parts
 * are listed in aggregator/agg.h.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include "aggregator/agg.h"
#include "common/cfgfile.h"
#include "common/log.h"
#include "common/sys.h"

static volatile int stop;

/* ---- sockets --------------------------------------------------------------- */

static int listen_all(nng_socket s, const char **urls, int n, const struct tls_opts *tls)
{
	nng_listener l;
	int i;

	for (i = 0; i < n; i++)
		if (tls_listen(s, urls[i], tls, &l))
			return -EIO;
	return 0;
}

static int open_rep(struct agg *a, nng_socket *s, const char **urls, int n, const char *what)
{
	int rc;

	rc = nng_rep0_open(s);
	if (rc) {
		pr_err("%s socket: %s", what, nng_strerror(rc));
		return -EIO;
	}
	nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, 4096);
	nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, 200);
	nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, 1000);	/* (sends are non-blocking) */
	return listen_all(*s, urls, n, &a->cfg.tls);
}

static int open_pub(struct agg *a, nng_socket *s, const char **urls, int n, const char *what)
{
	int rc;

	rc = nng_pub0_open(s);
	if (rc) {
		pr_err("%s socket: %s", what, nng_strerror(rc));
		return -EIO;
	}
	return listen_all(*s, urls, n, &a->cfg.tls);
}

/*
 * "URL[,replay=URL][,box=ID]". box=ID: this peer may only send as ID;
 * over TLS its certificate must name ID (checked as the server name).
 */
static int add_peer(struct agg *a, const char *spec)
{
	struct peer *p = &a->peers[a->npeers];
	struct tls_opts tls = a->cfg.tls;
	const char *c = strchr(spec, ','), *next;
	size_t ul = c ? (size_t)(c - spec) : strlen(spec);

	if (ul >= sizeof(p->url)) {
		pr_err("--agent '%s': URL too long", spec);
		return -EINVAL;
	}
	memcpy(p->url, spec, ul);
	p->url[ul] = '\0';
	for (; c; c = next) {
		size_t n;

		c++;
		next = strchr(c, ',');
		n = next ? (size_t)(next - c) : strlen(c);
		if (!strncmp(c, "replay=", 7) && n - 7 < sizeof(p->replay)) {
			snprintf(p->replay, sizeof(p->replay), "%.*s", (int)(n - 7), c + 7);
		} else if (!strncmp(c, "box=", 4) && !wire_box_check(c + 4, n - 4)) {
			snprintf(p->pin, sizeof(p->pin), "%.*s", (int)(n - 4), c + 4);
		} else {
			pr_err("--agent '%s': '%.*s' is not replay=URL or box=ID", spec, (int)n, c);
			return -EINVAL;
		}
	}
	if (p->pin[0] && tls_url(p->url))
		tls.server_name = p->pin;	/* its certificate must name the box */
	else if (tls_url(p->url))
		pr_warn("%s: no box=ID: the box ids it sends are bound to its connection, not "
			"to its certificate", p->url);
	if (tls_dial(a->sub, p->url, &tls, NNG_FLAG_NONBLOCK, &p->dialer))
		return -EIO;
	a->npeers++;
	return 0;
}

static int open_sockets(struct agg *a)
{
	int rc, i;

	rc = nng_sub0_open(&a->sub);
	rc = rc ?: nng_socket_set(a->sub, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	rc = rc ?: nng_socket_set_size(a->sub, NNG_OPT_RECVMAXSZ, WIRE_MAX_MSG);
	rc = rc ?: nng_socket_set_int(a->sub, NNG_OPT_RECVBUF, 1024);
	rc = rc ?: nng_pipe_notify(a->sub, NNG_PIPE_EV_REM_POST, agg_on_pipe_rem, a);
	if (rc) {
		pr_err("sub socket: %s", nng_strerror(rc));
		return -EIO;
	}
	for (i = 0; i < a->cfg.nagents; i++)
		if (add_peer(a, a->cfg.agents[i]))
			return -EIO;
	if (listen_all(a->sub, a->cfg.listen, a->cfg.nlisten, &a->cfg.tls))
		return -EIO;
	for (i = 0; i < a->cfg.nreplay_for; i++) {
		const char *eq = strchr(a->cfg.replay_for[i], '=');
		char box[WIRE_BOX_MAX];

		if (!eq || (size_t)(eq - a->cfg.replay_for[i]) >= sizeof(box)) {
			pr_err("--replay-for '%s': expected BOX=URL", a->cfg.replay_for[i]);
			return -EINVAL;
		}
		snprintf(box, sizeof(box), "%.*s", (int)(eq - a->cfg.replay_for[i]),
			 a->cfg.replay_for[i]);
		agg_learn_replay(a, box, eq + 1);
	}
	if (a->cfg.nquery) {
		if (open_rep(a, &a->qrep, a->cfg.query, a->cfg.nquery, "query"))
			return -EIO;
		a->has_q = true;
	}
	if (a->cfg.nviews) {
		if (open_pub(a, &a->vpub, a->cfg.views, a->cfg.nviews, "views"))
			return -EIO;
		a->has_v = true;
	}
	if (a->cfg.nrepublish) {
		struct publisher_opts o = {
			.box = a->cfg.id,
			.listen = a->cfg.republish, .nlisten = a->cfg.nrepublish,
			.replay = a->cfg.republish_replay, .nreplay = a->cfg.nrepublish_replay,
			.tls = &a->cfg.tls,
		};

		if (republish_open(&a->repub, &o, sys_now_ns(CLOCK_REALTIME)))
			return -EIO;
	}
	return 0;
}

/* ---- configuration and main ------------------------------------------------ */

static const char usage[] =
"Usage: pingfold-aggregator [OPTIONS]\n"
"Merges the deltas of many pingfold agents into per-customer, per-site, per-box\n"
"and fleet latency over sliding windows (10s 1m 5m 15m 1h), and serves them.\n"
"\n"
"  -c, --config FILE        settings as 'key = value' lines (long option names)\n"
"  -a, --agent URL[,replay=URL][,box=ID]  subscribe to an agent (or aggregator)\n"
"                           by dialling URL; its replay socket fills gaps; box=ID:\n"
"                           it may only send as ID (TLS: its certificate must\n"
"                           name ID); repeatable\n"
"  -l, --listen URL         agents dial in here; repeatable\n"
"      --replay-for BOX=URL replay socket of an agent that dials in; repeatable\n"
"  -q, --query URL          query API (req/rep; used by the pingfold CLI)\n"
"  -p, --views URL          pub stream of views: view/fleet, view/site/PATH,\n"
"                           view/box/BOX, view/customer/ID\n"
"      --view-window W      window of the views (default 1m)\n"
"      --no-view-customers  leave per-customer views out of the stream\n"
"  -r, --republish URL      publish merged deltas in the agents' format, so\n"
"                           another aggregator can subscribe (stacking)\n"
"      --republish-replay URL  replay socket for the republished deltas\n"
"      --id NAME            box id when republishing (default HOSTNAME-agg)\n"
"      --tls-ca FILE        for tls+tcp:// URLs: the CA that signed the agents'\n"
"                           certificates; an agent without one is refused\n"
"      --tls-cert FILE      our certificate and private key (one PEM file)\n"
"      --tls-server-name N  name the agents' certificates carry (default: the\n"
"                           host of each URL)\n"
"      --http URL           the overview page, /api/ and /metrics here\n"
"                           (e.g. http://127.0.0.1:7880; see docs/http.md)\n"
"      --http-static DIR    serve the page from DIR instead of the built-in copy\n"
"      --http-max-conns N   HTTP connections at once (default 256; at the cap the\n"
"                           oldest still sending its request is closed)\n"
"      --http-idle MS       time to send a request before closing (default 10000)\n"
"      --green-ms MS, --yellow-ms MS  page colours: green below, yellow below,\n"
"                           red above (default 50, 100)\n"
"      --metrics-customers  per-customer series in /metrics (high cardinality)\n"
"  -n, --interval MS        views and republish every MS (default 1000)\n"
"      --slot MS            time slot of the windows (default 10000)\n"
"      --stale N            a box is stale after N of its intervals (default 5)\n"
"      --claim-idle MS      a box id is bound to the connection that first sent\n"
"                           it until that closes or is silent MS (default 30000)\n"
"      --replay-workers N   concurrent replay fetches, one per box (default 4)\n"
"Bounds (at a bound: refused and counted, never grown past):\n"
"      --max-customers N (2000000)  --max-sites N (100000)  --max-boxes N (10000)\n"
"      --max-unnamed N      distinct unnamed keys per box (100000)\n"
"      --max-catalog N      entries of one catalog (1000000)\n"
"      --max-delta-age S    deltas ending longer ago are refused (21600)\n"
"      --max-seq-jump N     a larger sequence jump is held until confirmed (16384)\n"
"      --forget S           a customer no box names, with no data left in any\n"
"                           window, is forgotten after S seconds (86400; 0 never)\n"
"  -v, --verbose / --quiet\n"
"\n"
"Example:\n"
"  pingfold-aggregator -a tcp://shaper1:7700,replay=tcp://shaper1:7701 \\\n"
"      -a tcp://shaper2:7700,replay=tcp://shaper2:7701 -q tcp://127.0.0.1:7800 \\\n"
"      -p tcp://0.0.0.0:7801\n"
"  pingfold top        # worst customers, from the query API\n";

static int cfg_list(const char **arr, int *n, int max, const char *key, const char *v,
		    struct cfg_err *e)
{
	char *d;

	if (*n == max || !*v) {
		snprintf(e->msg, sizeof(e->msg), "%s: %s", key, *v ? "too many" : "empty value");
		return -EINVAL;
	}
	if (strcmp(key, "replay-for") && !strstr(v, "://")) {
		snprintf(e->msg, sizeof(e->msg), "%s: '%s' is not a URL", key, v);
		return -EINVAL;
	}
	d = cfg_strdup(v);
	if (!d)
		return -ENOMEM;
	arr[(*n)++] = d;
	return 0;
}

static int cfg_set(void *ctx, const char *key, const char *v, struct cfg_err *e)
{
	struct agg_cfg *c = ctx;
	uint64_t x;
	int rc;

	if (!strcmp(key, "agent"))
		return cfg_list(c->agents, &c->nagents, AGG_MAX_URLS, key, v, e);
	if (!strcmp(key, "listen"))
		return cfg_list(c->listen, &c->nlisten, AGG_MAX_URLS, key, v, e);
	if (!strcmp(key, "replay-for"))
		return cfg_list(c->replay_for, &c->nreplay_for, AGG_MAX_URLS, key, v, e);
	if (!strcmp(key, "query"))
		return cfg_list(c->query, &c->nquery, 8, key, v, e);
	if (!strcmp(key, "views"))
		return cfg_list(c->views, &c->nviews, 8, key, v, e);
	if (!strcmp(key, "republish"))
		return cfg_list(c->republish, &c->nrepublish, 8, key, v, e);
	if (!strcmp(key, "republish-replay"))
		return cfg_list(c->republish_replay, &c->nrepublish_replay, 8, key, v, e);
	if (!strcmp(key, "id")) {
		const char *why = wire_box_check(v, strlen(v));

		if (why) {
			snprintf(e->msg, sizeof(e->msg), "id '%.64s': %s", v, why);
			return -EINVAL;
		}
		snprintf(c->id, sizeof(c->id), "%s", v);
		return 0;
	}
	if (!strcmp(key, "interval"))
		return cfg_u64(key, v, 100, 3600000, &c->interval_ms, e);
	if (!strcmp(key, "slot")) {
		rc = cfg_u64(key, v, 100, 3600000, &x, e);
		c->store.slot_ns = x * 1000000ULL;
		return rc;
	}
	if (!strcmp(key, "stale")) {
		rc = cfg_u64(key, v, 1, 1000000, &x, e);
		c->store.stale_intervals = (uint32_t)x;
		return rc;
	}
	{
		static const struct { const char *key; size_t off; uint64_t lo, hi; } lim[] = {
			{ "max-customers", offsetof(struct store_opts, max_customers), 1, 100000000 },
			{ "max-sites", offsetof(struct store_opts, max_sites), 1, 10000000 },
			{ "max-boxes", offsetof(struct store_opts, max_boxes), 1, 1000000 },
			{ "max-unnamed", offsetof(struct store_opts, max_unnamed), 1, 100000000 },
			{ "max-catalog", offsetof(struct store_opts, max_catalog), 1, 100000000 },
		};
		size_t k;

		for (k = 0; k < sizeof(lim) / sizeof(lim[0]); k++) {
			if (strcmp(key, lim[k].key))
				continue;
			rc = cfg_u64(key, v, lim[k].lo, lim[k].hi, &x, e);
			if (!rc)
				*(uint32_t *)((char *)&c->store + lim[k].off) = (uint32_t)x;
			return rc;
		}
	}
	if (!strcmp(key, "max-delta-age")) {
		rc = cfg_u64(key, v, 60, 30 * 86400, &x, e);
		c->store.max_age_ns = x * 1000000000ULL;
		return rc;
	}
	if (!strcmp(key, "forget")) {
		rc = cfg_u64(key, v, 0, 365 * 86400, &x, e);
		c->store.forget_ns = x ? x * 1000000000ULL : UINT64_MAX;
		return rc;
	}
	if (!strcmp(key, "max-seq-jump"))
		return cfg_u64(key, v, 1, 1ULL << 40, &c->store.max_seq_jump, e);
	if (!strcmp(key, "replay-workers")) {
		rc = cfg_u64(key, v, 1, 64, &x, e);
		c->replay_workers = (uint32_t)x;
		return rc;
	}
	if (!strcmp(key, "http-max-conns"))
		return cfg_u64(key, v, 1, 65536, &c->http_max_conns, e);
	if (!strcmp(key, "http-idle"))
		return cfg_u64(key, v, 100, 3600000, &c->http_idle_ms, e);
	if (!strcmp(key, "claim-idle"))
		return cfg_u64(key, v, 1000, 3600000, &c->claim_idle_ms, e);
	if (!strcmp(key, "http") || !strcmp(key, "http-static")) {
		char *d = *v ? cfg_strdup(v) : NULL;

		if (!d || (key[4] == '\0' && strncmp(v, "http://", 7) && strncmp(v, "https://", 8))) {
			snprintf(e->msg, sizeof(e->msg), "%s: '%s' is not %s", key, v,
				 key[4] ? "a folder" : "an http:// URL");
			return -EINVAL;
		}
		if (key[4])
			c->http_static = d;
		else
			c->http_url = d;
		return 0;
	}
	rc = tls_opts_set(&c->tls, key, v, e);
	if (rc != -ENOENT)
		return rc;
	if (!strcmp(key, "green-ms") || !strcmp(key, "yellow-ms")) {
		rc = cfg_u64(key, v, 1, 600000, &x, e);
		if (key[0] == 'g')
			c->green_ms = (double)x;
		else
			c->yellow_ms = (double)x;
		return rc;
	}
	if (!strcmp(key, "metrics-customers") || !strcmp(key, "view-customers")) {
		bool yes = !strcmp(v, "yes") || !strcmp(v, "true");

		if (!yes && strcmp(v, "no") && strcmp(v, "false")) {
			snprintf(e->msg, sizeof(e->msg), "%s: yes or no", key);
			return -EINVAL;
		}
		if (key[0] == 'm')
			c->metrics_customers = yes;
		else
			c->view_customers = yes;
		return 0;
	}
	if (!strcmp(key, "view-window")) {
		if (store_window_parse(v, &c->view_window)) {
			snprintf(e->msg, sizeof(e->msg), "view-window: 10s, 1m, 5m, 15m or 1h");
			return -EINVAL;
		}
		return 0;
	}
	snprintf(e->msg, sizeof(e->msg), "unknown setting '%s'", key);
	return -EINVAL;
}

static int parse_args(int argc, char **argv, struct agg_cfg *c, int *verbosity)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' }, { "agent", required_argument, NULL, 'a' },
		{ "listen", required_argument, NULL, 'l' },
		{ "replay-for", required_argument, NULL, 1 },
		{ "query", required_argument, NULL, 'q' }, { "views", required_argument, NULL, 'p' },
		{ "view-window", required_argument, NULL, 2 },
		{ "no-view-customers", no_argument, NULL, 3 },
		{ "republish", required_argument, NULL, 'r' },
		{ "republish-replay", required_argument, NULL, 4 },
		{ "id", required_argument, NULL, 5 }, { "interval", required_argument, NULL, 'n' },
		{ "slot", required_argument, NULL, 6 }, { "stale", required_argument, NULL, 7 },
		{ "http", required_argument, NULL, 9 }, { "http-static", required_argument, NULL, 10 },
		{ "green-ms", required_argument, NULL, 11 }, { "yellow-ms", required_argument, NULL, 12 },
		{ "metrics-customers", no_argument, NULL, 13 },
		{ "tls-ca", required_argument, NULL, 14 }, { "tls-cert", required_argument, NULL, 15 },
		{ "tls-server-name", required_argument, NULL, 16 },
		{ "max-customers", required_argument, NULL, 17 },
		{ "max-sites", required_argument, NULL, 18 },
		{ "max-boxes", required_argument, NULL, 19 },
		{ "max-unnamed", required_argument, NULL, 20 },
		{ "max-catalog", required_argument, NULL, 21 },
		{ "max-delta-age", required_argument, NULL, 22 },
		{ "max-seq-jump", required_argument, NULL, 23 },
		{ "replay-workers", required_argument, NULL, 24 },
		{ "claim-idle", required_argument, NULL, 25 },
		{ "http-max-conns", required_argument, NULL, 26 },
		{ "http-idle", required_argument, NULL, 27 },
		{ "forget", required_argument, NULL, 28 },
		{ "verbose", no_argument, NULL, 'v' }, { "quiet", no_argument, NULL, 8 },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	struct cfg_err e = { .file = "(command line)" };
	char buf[600];
	int ch, i;

	for (i = 1; i < argc - 1; i++)
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) &&
		    cfgfile_load(argv[i + 1], cfg_set, c, &e)) {
			pr_err("%s", cfg_err_str(&e, buf, sizeof(buf)));
			return 2;
		}
	while ((ch = getopt_long(argc, argv, "c:a:l:q:p:r:n:vh", lo, NULL)) != -1) {
		const char *key = NULL;

		switch (ch) {
		case 'c': continue;
		case 3: c->view_customers = false; continue;	/* view-customers = no */
		case 13: c->metrics_customers = true; continue;	/* metrics-customers = yes */
		case 'v': *verbosity = 1; continue;
		case 8: *verbosity = -1; continue;
		case 'h': fputs(usage, stdout); exit(0);
		case '?': fputs("Try 'pingfold-aggregator --help'.\n", stderr); return 2;
		}
		for (i = 0; lo[i].name; i++)
			if (lo[i].val == ch)
				key = lo[i].name;
		if (!key || cfg_set(c, key, optarg, &e)) {
			pr_err("--%s", e.msg);
			return 2;
		}
	}
	if (optind < argc) {
		pr_err("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!c->nagents && !c->nlisten) {
		pr_err("nothing to subscribe to (--agent URL or --listen URL)");
		return 2;
	}
	if (c->nrepublish_replay && !c->nrepublish) {
		pr_err("--republish-replay without --republish: nothing to replay");
		return 2;
	}
	if (c->nrepublish && !wire_box_ok(c->id)) {
		pr_err("--id '%s': %s", c->id, wire_box_check(c->id, strlen(c->id)));
		return 2;
	}
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int start_http(struct agg *a)
{
	struct http_opts o;
	int rc;

	http_opts_default(&o);
	o.url = a->cfg.http_url;
	o.static_dir = a->cfg.http_static;
	if (a->cfg.green_ms)
		o.green_ms = a->cfg.green_ms;
	if (a->cfg.yellow_ms)
		o.yellow_ms = a->cfg.yellow_ms;
	o.metrics_customers = a->cfg.metrics_customers;
	o.max_conns = (uint32_t)a->cfg.http_max_conns;
	o.idle_ms = (uint32_t)a->cfg.http_idle_ms;
	rc = http_start(&a->http, &o, a->store, &a->lock);
	if (!rc)
		http_set_counters(a->http, &(struct http_counters){ &a->n_msgs,
				  &a->n_decode_errors, &a->n_replays, &a->n_replayed,
				  &a->n_query_drops });
	return rc;
}

static void stop_http(struct agg *a)
{
	if (a->http)
		http_stop(a->http);
}

static int run(struct agg *a)
{
	uint64_t next = sys_now_ns(CLOCK_REALTIME) + a->cfg.interval_ms * 1000000ULL;
	nng_aio *aio;

	if (nng_aio_alloc(&aio, NULL, NULL))
		return -ENOMEM;
	/* no RECVTIMEO on SUB sockets (nng 1.5.2 bug): an aio with a timeout */
	while (!stop) {
		uint64_t now = sys_now_ns(CLOCK_REALTIME);
		int64_t wait_ms = now >= next ? 0 : (int64_t)((next - now) / 1000000ULL);

		if (wait_ms == 0) {
			pthread_mutex_lock(&a->lock);
			agg_tick(a);
			pthread_mutex_unlock(&a->lock);
			next += a->cfg.interval_ms * 1000000ULL;
			if (next < now)
				next = now + a->cfg.interval_ms * 1000000ULL;
			continue;
		}
		nng_aio_set_timeout(aio, wait_ms > 200 ? 200 : (nng_duration)wait_ms);
		nng_recv_aio(a->sub, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) == 0) {
			nng_msg *m = nng_aio_get_msg(aio);

			pthread_mutex_lock(&a->lock);
			agg_on_message(a, m);
			pthread_mutex_unlock(&a->lock);
			nng_msg_free(m);
		}
	}
	nng_aio_free(aio);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	static struct agg a;
	int verbosity = 0, rc;

	log_set_ident("pingfold-aggregator");
	store_opts_default(&a.cfg.store);
	a.cfg.interval_ms = 1000;
	a.cfg.view_window = STORE_W1M;
	a.cfg.view_customers = true;
	a.cfg.replay_workers = 4;
	a.cfg.claim_idle_ms = 30000;
	if (gethostname(a.cfg.id, sizeof(a.cfg.id) - 5) || !a.cfg.id[0])
		snprintf(a.cfg.id, sizeof(a.cfg.id), "aggregator");
	else
		strcat(a.cfg.id, "-agg");
	rc = parse_args(argc, argv, &a.cfg, &verbosity);
	if (rc)
		return rc;
	log_set_level(verbosity > 0 ? LOG_LVL_DEBUG : verbosity < 0 ? LOG_LVL_WARN : LOG_LVL_INFO);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&a.lock, NULL);
	pthread_mutex_init(&a.claim_lock, NULL);
	pthread_mutex_init(&a.qlock, NULL);
	pthread_cond_init(&a.qcond, NULL);
	if (store_open(&a.store, &a.cfg.store) || agg_replay_start(&a) || open_sockets(&a))
		return 1;
	if (a.has_q && pthread_create(&a.qthread, NULL, agg_query_thread, &a))
		return 1;
	if (a.cfg.http_url && start_http(&a))
		return 1;
	pr_info("running: %d agents dialled, %d listen URLs", a.cfg.nagents, a.cfg.nlisten);
	rc = run(&a);
	/* SIGTERM: done within 2 s. A replay fetch still waiting for a dead
	 * host is not waited for (it merges nothing once closed is set). */
	if (!agg_replay_stop(&a, 500))
		pr_warn("a replay fetch is still waiting for its host; not waiting for it");
	if (a.has_q)
		pthread_join(a.qthread, NULL);
	stop_http(&a);
	/* no nng_close(a.sub): nng 1.5.2 can hang in it for good while a
	 * dialer redials a stopped agent (seen in tests/tools/pfsub.c);
	 * exiting closes it. Nothing reads it any more. */
	if (a.has_q)
		nng_close(a.qrep);
	if (a.has_v)
		nng_close(a.vpub);
	republish_close(a.repub);
	pthread_mutex_lock(&a.lock);
	a.closed = true;
	pthread_mutex_unlock(&a.lock);
	store_close(a.store);
	pr_info("stopped: %llu messages, %llu decode errors, %llu replays (%llu deltas)",
		(unsigned long long)a.n_msgs, (unsigned long long)a.n_decode_errors,
		(unsigned long long)a.n_replays, (unsigned long long)a.n_replayed);
	return rc ? 1 : 0;
}
