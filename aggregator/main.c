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
	a->cfg.rw.instance = a->cfg.id;
	if (a->cfg.rw.nurls && rw_open(&a->rw, &a->cfg.rw))
		return -EIO;
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

/* ---- options and main -------------------------------------------------------- */

static const char usage_head[] =
"Usage: pingfold-aggregator [OPTIONS]\n"
"Merges the deltas of many pingfold agents into per-customer, per-site, per-box\n"
"and fleet latency over sliding windows (10s 1m 5m 15m 1h), and serves them.\n"
"\n";

static const char usage_tail[] =
"\n"
"Example:\n"
"  pingfold-aggregator -a tcp://shaper1:7700,replay=tcp://shaper1:7701 \\\n"
"      -a tcp://shaper2:7700,replay=tcp://shaper2:7701 -q tcp://127.0.0.1:7800 \\\n"
"      -p tcp://0.0.0.0:7801\n"
"  pingfold top        # worst customers, from the query API\n";

static int verbosity;

/* The options without a value that are not settings. */
static int on_flag(void *cfg, const struct opt *o)
{
	(void)cfg;
	if (!strcmp(o->name, "help")) {
		fputs(usage_head, stdout);
		opts_usage(stdout, agg_opts);
		fputs(usage_tail, stdout);
		exit(0);
	}
	verbosity = !strcmp(o->name, "verbose") ? 1 : -1;
	return 0;
}

static int parse_args(int argc, char **argv, struct agg_cfg *c)
{
	int rc = opts_parse(agg_opts, c, argc, argv, "pingfold-aggregator", on_flag);

	if (rc)
		return rc;
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

static volatile int reload;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload = 1;
	else
		stop = 1;
}

/*
 * --exclude FILE: ids, one a line ('#' comments, blank lines, spaces
 * around ignored). Read outside the lock; a bad file keeps the set in
 * force, named with its line. 0 or -1.
 */
static int load_excluded(struct agg *a)
{
	const char *path = a->cfg.exclude_file;
	char **ids = NULL, line[512];
	size_t n = 0, cap = 0, ln = 0, i;
	FILE *f = fopen(path, "r");
	int rc = 0, changed;

	if (!f) {
		pr_err("--exclude %s: %s; the excluded customers stay as they were", path,
		       strerror(errno));
		pthread_mutex_lock(&a->lock);
		a->n_exclude_errors++;
		pthread_mutex_unlock(&a->lock);
		return -1;
	}
	while (!rc && fgets(line, sizeof(line), f)) {
		char *p = line, *e;

		ln++;
		if (!strchr(line, '\n') && !feof(f)) {
			pr_err("%s:%zu: line too long", path, ln);
			rc = -1;
			break;
		}
		p += strspn(p, " \t");
		e = p + strcspn(p, "#\r\n");
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*e = '\0';
		if (!*p)
			continue;
		if (e - p > 63) {
			pr_err("%s:%zu: customer id longer than 63 bytes", path, ln);
			rc = -1;
		} else if (n == cap) {
			char **nv = realloc(ids, (cap = cap ? 2 * cap : 64) * sizeof(*nv));

			rc = nv ? 0 : -1;
			ids = nv ? nv : ids;
		}
		if (!rc && !(ids[n++] = strdup(p)))
			rc = -1, n--;
	}
	fclose(f);
	if (!rc) {
		pthread_mutex_lock(&a->lock);
		changed = store_set_excluded(a->store, (const char *const *)ids, n);
		pthread_mutex_unlock(&a->lock);
		rc = changed < 0 ? -1 : 0;
		if (!rc)
			pr_info("--exclude %s: %zu customers left out of rollups and top lists "
				"(%d known ones changed)", path, n, changed);
	}
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	if (rc)
		pr_err("--exclude %s: not taken; the excluded customers stay as they were", path);
	pthread_mutex_lock(&a->lock);	/* /metrics reads them under it */
	if (rc)
		a->n_exclude_errors++;
	else
		a->n_exclude_loads++;
	pthread_mutex_unlock(&a->lock);
	return rc;
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
	o.hist = a->hist;
	rc = http_start(&a->http, &o, a->store, &a->lock);
	if (!rc)
		http_set_counters(a->http, &(struct http_counters){ &a->n_msgs,
				  &a->n_decode_errors, &a->n_replays, &a->n_replayed,
				  &a->n_query_drops,
				  a->cfg.exclude_file ? &a->n_exclude_loads : NULL,
				  a->cfg.exclude_file ? &a->n_exclude_errors : NULL,
				  a->rw ? rw_counters(a->rw) : NULL });
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

		if (reload) {
			reload = 0;
			if (a->cfg.exclude_file)
				load_excluded(a);
		}
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
	int rc;

	log_set_ident("pingfold-aggregator");
	agg_cfg_default(&a.cfg);
	rc = parse_args(argc, argv, &a.cfg);
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
	if (a.cfg.history_dir) {
		char err[512];

		if (history_open(&a.hist, a.cfg.history_dir, &a.cfg.hist, err, sizeof(err))) {
			pr_err("%s", err);
			return 1;
		}
		a.cfg.store.on_points = history_on_points;
		a.cfg.store.points_arg = a.hist;
		pr_info("history: %s/history.db", a.cfg.history_dir);
	} else {
		pr_info("history: off (no --history-dir)");
	}
	if (store_open(&a.store, &a.cfg.store))
		return 1;
	if (a.hist) {
		size_t n = 0;

		if (history_restore(a.hist, a.store, sys_now_ns(CLOCK_REALTIME), &n))
			pr_warn("history: the windows start empty: the history could not be read");
		else if (n)
			pr_info("history: %zu points of the last hour put back into the windows; "
				"the boxes' replays bring the rest", n);
	}
	if (a.cfg.exclude_file && load_excluded(&a))
		return 1;
	sigaction(SIGHUP, &sa, NULL);
	if (agg_replay_start(&a) || open_sockets(&a))
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
	rw_close(a.rw);
	pthread_mutex_lock(&a.lock);
	a.closed = true;
	pthread_mutex_unlock(&a.lock);
	store_close(a.store);
	if (a.hist && history_flush(a.hist, 1000))
		pr_warn("history: points still queued at exit are not written");
	history_close(a.hist);
	pr_info("stopped: %llu messages, %llu decode errors, %llu replays (%llu deltas)",
		(unsigned long long)a.n_msgs, (unsigned long long)a.n_decode_errors,
		(unsigned long long)a.n_replays, (unsigned long long)a.n_replayed);
	return rc ? 1 : 0;
}
