// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * pingfold-aggregator: subscribes to agents (or aggregators), merges
 * their deltas into the store, fetches gaps by replay, answers queries,
 * publishes views and, if asked, republishes merged deltas in the agents'
 * own format so that aggregators stack. See docs/aggregator.md.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include "aggregator/http.h"
#include "aggregator/query.h"
#include "aggregator/store.h"
#include "common/cfgfile.h"
#include "common/log.h"
#include "common/ring.h"
#include "common/tls.h"

#define AGG_MAX_URLS	64
#define REPLAY_CAP	4096

struct agg_cfg {
	const char *agents[AGG_MAX_URLS];	/* dialled: URL[,replay=URL] */
	int nagents;
	const char *listen[AGG_MAX_URLS];	/* agents dial in here */
	int nlisten;
	const char *replay_for[AGG_MAX_URLS];	/* BOX=URL for agents that dial in */
	int nreplay_for;
	const char *query[8];			/* req/rep query API */
	int nquery;
	const char *views[8];			/* pub stream of views */
	int nviews;
	const char *republish[8];		/* merged deltas, agent format */
	int nrepublish;
	const char *republish_replay[8];
	int nrepublish_replay;
	char id[WIRE_BOX_MAX];
	uint64_t interval_ms;			/* views and republish */
	enum store_window view_window;
	bool view_customers;
	struct store_opts store;
	struct tls_opts tls;			/* for tls+tcp:// URLs */
	const char *http_url, *http_static;
	double green_ms, yellow_ms;
	bool metrics_customers;
};

/* A dialled agent: its replay URL, learnt box name. */
struct peer {
	nng_dialer dialer;
	char url[256];
	char replay[256];
};

#define AGG_MAX_GAPS 256

/* A range of a box's deltas to fetch by replay. */
struct gap {
	char box[WIRE_BOX_MAX];
	uint64_t epoch, first, last;
};

struct box_replay {
	char box[WIRE_BOX_MAX];
	char url[256];
};

/* Republishing: what was merged since the last tick, by customer. */
struct repub_cust {
	char id[64 + WIRE_BOX_MAX + 16], name[128], site[256];	/* id may be "?BOX/KEY" */
	struct hist h[PF_NHALVES];
	bool dirty;
};

struct agg {
	struct agg_cfg cfg;
	struct store *store;
	pthread_mutex_t lock;
	nng_socket sub, qrep, vpub, rpub, rrep;
	bool has_q, has_v, has_r, has_rr;
	struct peer peers[AGG_MAX_URLS];
	int npeers;
	struct box_replay br[AGG_MAX_URLS * 2];
	int nbr;
	struct gap gaps[AGG_MAX_GAPS];	/* main thread only */
	int ngaps;
	pthread_t qthread, rthread;
	struct http *http;
	volatile int stopping;
	/* republish */
	struct repub_cust *rc;
	uint32_t nrc, caprc;
	uint64_t repub_epoch, repub_seq, repub_last_ns;
	struct ring repub_ring;
	uint64_t n_msgs, n_decode_errors, n_replays, n_replayed;
};

static volatile int stop;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---- replay of gaps ------------------------------------------------------ */

static const char *replay_url(struct agg *a, const char *box)
{
	int i;

	for (i = 0; i < a->nbr; i++)
		if (!strcmp(a->br[i].box, box))
			return a->br[i].url;
	return NULL;
}

static void learn_replay(struct agg *a, const char *box, const char *url)
{
	if (!url || !url[0] || replay_url(a, box) || a->nbr == (int)(sizeof(a->br) / sizeof(a->br[0])))
		return;
	snprintf(a->br[a->nbr].box, sizeof(a->br[a->nbr].box), "%s", box);
	snprintf(a->br[a->nbr].url, sizeof(a->br[a->nbr].url), "%s", url);
	a->nbr++;
}

static void merge_delta(struct agg *a, const struct wire_delta *d, bool replayed);

/*
 * Asks the box for first..last and merges what comes back. Called without
 * the store lock: the network round trip (up to seconds) must not stall
 * queries and the page; the lock is taken only to merge and account.
 */
static void fetch_gap(struct agg *a, const struct gap *g)
{
	struct wire_replay_req r = { .epoch = g->epoch, .first = g->first, .last = g->last };
	const char *url = replay_url(a, g->box), *why;
	struct wire_blob *msgs = NULL;
	struct wire_delta d;
	nng_socket req;
	nng_dialer dl;
	char *out = NULL, *in = NULL;
	size_t olen, ilen = 0;
	uint64_t oldest, got = 0;
	uint32_t n = 0, i;
	int status, rc = 0;

	if (!url) {
		pr_warn("box %s: deltas %llu..%llu missed and no replay URL known for it", g->box,
			(unsigned long long)g->first, (unsigned long long)g->last);
		rc = NNG_ENOENT;
		goto account;
	}
	snprintf(r.box, sizeof(r.box), "%s", g->box);
	msgs = calloc(REPLAY_CAP, sizeof(*msgs));
	rc = msgs ? nng_req0_open(&req) : NNG_ENOMEM;
	if (rc)
		goto account;
	nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, 3000);
	nng_socket_set_ms(req, NNG_OPT_SENDTIMEO, 3000);
	nng_socket_set_size(req, NNG_OPT_RECVMAXSZ, WIRE_MAX_MSG);
	rc = wire_encode_replay_req(&r, &out, &olen) ? NNG_EINVAL : 0;
	if (!rc && tls_dial(req, url, &a->cfg.tls, 0, &dl))
		rc = NNG_ECONNREFUSED;
	rc = rc ?: nng_send(req, out, olen, 0);
	rc = rc ?: nng_recv(req, &in, &ilen, NNG_FLAG_ALLOC);
	nng_close(req);
	if (rc)
		pr_warn("box %s: replay of %llu..%llu from %s: %s", g->box,
			(unsigned long long)g->first, (unsigned long long)g->last, url,
			nng_strerror(rc));
account:
	pthread_mutex_lock(&a->lock);
	a->n_replays++;
	if (!rc && wire_decode_replay_rep(in, ilen, &status, &oldest, msgs, REPLAY_CAP, &n, &why)) {
		a->n_decode_errors++;
		pr_warn("box %s: bad replay answer from %s: %s", g->box, url, why);
		n = 0;
	}
	wire_delta_init(&d);
	for (i = 0; i < n; i++) {
		if (wire_decode_delta(msgs[i].p, msgs[i].len, &d, &why)) {
			a->n_decode_errors++;
			continue;
		}
		if (strcmp(d.box, g->box) || d.epoch != g->epoch || d.seq < g->first ||
		    d.seq > g->last)
			continue;
		merge_delta(a, &d, true);
		got++;
	}
	wire_delta_free(&d);
	a->n_replayed += got;
	store_gap_done(a->store, g->box, g->epoch, g->first, g->last, got);
	pthread_mutex_unlock(&a->lock);
	if (url && got < g->last - g->first + 1)
		pr_warn("box %s: %llu of deltas %llu..%llu could not be recovered", g->box,
			(unsigned long long)(g->last - g->first + 1 - got),
			(unsigned long long)g->first, (unsigned long long)g->last);
	free(out);
	free(msgs);
	if (in)
		nng_free(in, ilen);
}

/* Gaps found while merging (under the lock), fetched after it is released. */
static void fetch_gaps(struct agg *a)
{
	while (a->ngaps) {
		struct gap g = a->gaps[--a->ngaps];

		fetch_gap(a, &g);
	}
}

/* ---- merging ------------------------------------------------------------- */

static struct repub_cust *repub_find(struct agg *a, const char *id)
{
	uint32_t i;

	for (i = 0; i < a->nrc; i++)
		if (!strcmp(a->rc[i].id, id))
			return &a->rc[i];
	if (a->nrc == a->caprc) {
		uint32_t cap = a->caprc ? a->caprc * 2 : 64;
		struct repub_cust *n = realloc(a->rc, cap * sizeof(*n));

		if (!n)
			return NULL;
		a->rc = n;
		a->caprc = cap;
	}
	memset(&a->rc[a->nrc], 0, sizeof(a->rc[0]));
	snprintf(a->rc[a->nrc].id, sizeof(a->rc[0].id), "%s", id);
	hist_init(&a->rc[a->nrc].h[0]);
	hist_init(&a->rc[a->nrc].h[1]);
	return &a->rc[a->nrc++];
}

/* Keeps what a merged delta adds, by customer id, for the next republish. */
static void repub_take(struct agg *a, const struct wire_delta *d)
{
	struct store_cust_info ci;
	struct hist_sparse h;
	uint32_t i;

	if (!a->cfg.nrepublish)
		return;
	for (i = 0; i < d->nh; i++) {
		char id[64 + WIRE_BOX_MAX + 16];
		const char *name = store_key_id(a->store, d->box, d->h[i].key);
		struct repub_cust *rc;

		if (name)
			snprintf(id, sizeof(id), "%s", name);
		else
			snprintf(id, sizeof(id), "?%s/%u", d->box, d->h[i].key);
		rc = repub_find(a, id);
		if (!rc)
			continue;
		if (store_customer_info(a->store, id, &ci) == 0) {
			snprintf(rc->name, sizeof(rc->name), "%s", ci.name);
			snprintf(rc->site, sizeof(rc->site), "%s", ci.site);
		}
		wire_delta_get(d, i, &h);
		hist_merge_sparse(&rc->h[d->h[i].half & 1], &h);
		rc->dirty = true;
	}
}

static void merge_delta(struct agg *a, const struct wire_delta *d, bool replayed)
{
	uint64_t gf = 0, gl = 0;
	int rc;

	rc = store_add_delta(a->store, d, now_ns(), &gf, &gl);
	if (rc < 0) {
		pr_warn("box %s: delta %llu refused: %s", d->box, (unsigned long long)d->seq,
			strerror(-rc));
		return;
	}
	if (rc == 0)
		repub_take(a, d);
	if (gl && !replayed) {
		if (a->ngaps == AGG_MAX_GAPS) {
			pr_warn("box %s: too many gaps at once; deltas %llu..%llu given up", d->box,
				(unsigned long long)gf, (unsigned long long)gl);
			store_gap_done(a->store, d->box, d->epoch, gf, gl, 0);
			return;
		}
		snprintf(a->gaps[a->ngaps].box, sizeof(a->gaps[0].box), "%s", d->box);
		a->gaps[a->ngaps].epoch = d->epoch;
		a->gaps[a->ngaps].first = gf;
		a->gaps[a->ngaps].last = gl;
		a->ngaps++;
	}
}

static void on_message(struct agg *a, nng_msg *m)
{
	const char *body = nng_msg_body(m), *why = NULL;
	size_t len = nng_msg_len(m);
	struct wire_delta d;
	struct wire_catalog c;
	struct wire_stats st;
	nng_pipe p = nng_msg_get_pipe(m);
	nng_dialer dl = nng_pipe_dialer(p);
	int i, kind = wire_kind_of(body, len);

	a->n_msgs++;
	switch (kind) {
	case WIRE_DELTA:
		wire_delta_init(&d);
		if (wire_decode_delta(body, len, &d, &why) == 0) {
			for (i = 0; i < a->npeers; i++)	/* a dialled agent's replay URL */
				if (nng_dialer_id(a->peers[i].dialer) == nng_dialer_id(dl))
					learn_replay(a, d.box, a->peers[i].replay);
			merge_delta(a, &d, false);
		}
		wire_delta_free(&d);
		break;
	case WIRE_CATALOG:
		wire_catalog_init(&c);
		if (wire_decode_catalog(body, len, &c, &why) == 0)
			store_add_catalog(a->store, &c, now_ns());
		wire_catalog_free(&c);
		break;
	case WIRE_STATS:
		if (wire_decode_stats(body, len, &st, &why) == 0)
			store_add_stats(a->store, &st, now_ns());
		break;
	default:
		why = "unknown topic";
	}
	if (why) {
		a->n_decode_errors++;
		pr_warn("message of %zu bytes refused: %s", len, why);
	}
}

/* ---- query API and republish replay: threads ------------------------------ */

static void *query_thread(void *arg)
{
	struct agg *a = arg;

	while (!a->stopping) {
		char *buf = NULL;
		size_t len = 0;
		struct jw w;
		int rc = nng_recv(a->qrep, &buf, &len, NNG_FLAG_ALLOC);

		if (rc == NNG_ETIMEDOUT)
			continue;
		if (rc)
			break;
		jw_init(&w);
		pthread_mutex_lock(&a->lock);
		query_answer(a->store, buf, len, now_ns(), &w);
		pthread_mutex_unlock(&a->lock);
		nng_free(buf, len);
		if (!w.err)
			nng_send(a->qrep, w.buf, w.len, 0);
		jw_free(&w);
	}
	return NULL;
}

static void *repub_replay_thread(void *arg)
{
	struct agg *a = arg;

	while (!a->stopping) {
		struct ring_entry got[256];
		struct wire_blob b[256];
		struct wire_replay_req r;
		const char *why;
		uint64_t oldest = 0;
		char *buf = NULL, *out;
		size_t len = 0, olen;
		int n, i, rc = nng_recv(a->rrep, &buf, &len, NNG_FLAG_ALLOC);

		if (rc == NNG_ETIMEDOUT)
			continue;
		if (rc)
			break;
		n = wire_decode_replay_req(buf, len, &r, &why) || strcmp(r.box, a->cfg.id) ? -ESRCH :
			ring_get(&a->repub_ring, r.epoch, r.first, r.last, 256, got, &oldest);
		nng_free(buf, len);
		for (i = 0; i < n; i++)
			b[i] = (struct wire_blob){ got[i].msg, got[i].len };
		if (wire_encode_replay_rep(n < 0 ? WIRE_REPLAY_NO_EPOCH :
					   (uint64_t)n == r.last - r.first + 1 ? WIRE_REPLAY_OK :
					   WIRE_REPLAY_PARTIAL, oldest, b, n < 0 ? 0 : (uint32_t)n,
					   &out, &olen) == 0) {
			nng_send(a->rrep, out, olen, 0);
			free(out);
		}
		for (i = 0; i < n; i++)
			free(got[i].msg);
	}
	return NULL;
}

/* ---- every interval: views and republish --------------------------------- */

/* One view: topic NUL JSON, the query answer for the view window. */
static void publish_view(struct agg *a, const char *topic, const char *kind, const char *name,
			 uint64_t now)
{
	struct jw q, body;
	size_t tl = strlen(topic);
	char *msg;

	jw_init(&q);
	jw_arr(&q);
	jw_str(&q, kind);
	if (name)
		jw_str(&q, name);
	jw_str(&q, store_window_name(a->cfg.view_window));
	jw_arr_end(&q);
	jw_init(&body);
	if (!q.err && query_answer(a->store, q.buf, q.len, now, &body) == 0 && !body.err) {
		msg = malloc(tl + 1 + body.len);
		if (msg) {
			memcpy(msg, topic, tl + 1);
			memcpy(msg + tl + 1, body.buf, body.len);
			nng_send(a->vpub, msg, tl + 1 + body.len, 0);
			free(msg);
		}
	}
	jw_free(&body);
	jw_free(&q);
}

static void publish_views(struct agg *a, uint64_t now)
{
	struct store_box_info *b;
	struct store_cust_info *c;
	char **sites, topic[400];
	size_t n, i;

	publish_view(a, "view/fleet", "fleet", NULL, now);
	if (store_sites(a->store, &sites, &n) == 0) {
		for (i = 0; i < n; i++) {
			snprintf(topic, sizeof(topic), "view/site/%s", sites[i]);
			publish_view(a, topic, "site", sites[i], now);
			free(sites[i]);
		}
		free(sites);
	}
	if (store_boxes(a->store, now, &b, &n) == 0) {
		for (i = 0; i < n; i++) {
			snprintf(topic, sizeof(topic), "view/box/%s", b[i].box);
			publish_view(a, topic, "box", b[i].box, now);
		}
		free(b);
	}
	if (a->cfg.view_customers && store_customers(a->store, &c, &n) == 0) {
		for (i = 0; i < n; i++) {
			snprintf(topic, sizeof(topic), "view/customer/%s", c[i].id);
			publish_view(a, topic, "customer", c[i].id, now);
		}
		free(c);
	}
}

/* Merged deltas as this aggregator's own box: key = index of the customer. */
static void republish(struct agg *a, uint64_t now)
{
	struct wire_catalog cat;
	struct wire_delta d;
	struct hist_sparse h;
	char *msg;
	size_t len;
	uint32_t i;
	int half;

	wire_delta_init(&d);
	snprintf(d.box, sizeof(d.box), "%s", a->cfg.id);
	d.epoch = a->repub_epoch;
	d.seq = a->repub_seq + 1;
	d.start_ns = a->repub_last_ns;
	d.end_ns = now;
	d.scale = PF_HIST_SCALE;
	for (i = 0; i < a->nrc; i++) {
		if (!a->rc[i].dirty)
			continue;
		for (half = 0; half < PF_NHALVES; half++) {
			if (!a->rc[i].h[half].count)
				continue;
			hist_to_sparse(&a->rc[i].h[half], &h);
			wire_delta_add(&d, i, (uint8_t)half, &h);
			hist_init(&a->rc[i].h[half]);
		}
		a->rc[i].dirty = false;
	}
	wire_catalog_init(&cat);
	snprintf(cat.box, sizeof(cat.box), "%s", a->cfg.id);
	cat.epoch = a->repub_epoch;
	cat.seq = a->repub_seq;
	for (i = 0; i < a->nrc; i++)
		wire_catalog_add(&cat, i, a->rc[i].id, a->rc[i].name, a->rc[i].site);
	if (wire_encode_catalog(&cat, &msg, &len) == 0) {
		nng_send(a->rpub, msg, len, 0);
		free(msg);
	}
	wire_catalog_free(&cat);
	if (wire_encode_delta(&d, &msg, &len) == 0) {
		a->repub_seq++;
		nng_send(a->rpub, msg, len, 0);
		ring_push(&a->repub_ring, a->repub_seq, msg, len);
	}
	a->repub_last_ns = now;
	wire_delta_free(&d);
}

static void tick(struct agg *a)
{
	uint64_t now = now_ns();

	if (a->has_v)
		publish_views(a, now);
	if (a->cfg.nrepublish)
		republish(a, now);
}

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

/* "URL[,replay=URL]" */
static int add_peer(struct agg *a, const char *spec)
{
	struct peer *p = &a->peers[a->npeers];
	const char *comma = strstr(spec, ",replay=");
	size_t ul = comma ? (size_t)(comma - spec) : strlen(spec);
	if (ul >= sizeof(p->url) || (comma && strlen(comma + 8) >= sizeof(p->replay))) {
		pr_err("--agent '%s': too long", spec);
		return -EINVAL;
	}
	memcpy(p->url, spec, ul);
	p->url[ul] = '\0';
	snprintf(p->replay, sizeof(p->replay), "%s", comma ? comma + 8 : "");
	if (tls_dial(a->sub, p->url, &a->cfg.tls, NNG_FLAG_NONBLOCK, &p->dialer))
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
		learn_replay(a, box, eq + 1);
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
		if (open_pub(a, &a->rpub, a->cfg.republish, a->cfg.nrepublish, "republish"))
			return -EIO;
		a->has_r = true;
	}
	if (a->cfg.nrepublish_replay) {
		if (open_rep(a, &a->rrep, a->cfg.republish_replay, a->cfg.nrepublish_replay,
			     "republish replay"))
			return -EIO;
		a->has_rr = true;
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
"  -a, --agent URL[,replay=URL]  subscribe to an agent (or aggregator) by\n"
"                           dialling URL; its replay socket fills gaps; repeatable\n"
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
"      --green-ms MS, --yellow-ms MS  page colours: green below, yellow below,\n"
"                           red above (default 50, 100)\n"
"      --metrics-customers  per-customer series in /metrics (high cardinality)\n"
"  -n, --interval MS        views and republish every MS (default 1000)\n"
"      --slot MS            time slot of the windows (default 10000)\n"
"      --stale N            a box is stale after N of its intervals (default 5)\n"
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
	d = strdup(v);
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
		if (!*v || strlen(v) >= sizeof(c->id) || strpbrk(v, " /")) {
			snprintf(e->msg, sizeof(e->msg), "id: 1..63 characters, no spaces or '/'");
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
	if (!strcmp(key, "http") || !strcmp(key, "http-static")) {
		char *d = *v ? strdup(v) : NULL;

		if (!d || (key[4] == '\0' && strncmp(v, "http://", 7) && strncmp(v, "https://", 8))) {
			snprintf(e->msg, sizeof(e->msg), "%s: '%s' is not %s", key, v,
				 key[4] ? "a folder" : "an http:// URL");
			free(d);
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
	rc = http_start(&a->http, &o, a->store, &a->lock);
	if (!rc)
		http_set_counters(a->http, &(struct http_counters){ &a->n_msgs,
				  &a->n_decode_errors, &a->n_replays, &a->n_replayed });
	return rc;
}

static void stop_http(struct agg *a)
{
	if (a->http)
		http_stop(a->http);
}

static int run(struct agg *a)
{
	uint64_t next = now_ns() + a->cfg.interval_ms * 1000000ULL;
	nng_aio *aio;

	if (nng_aio_alloc(&aio, NULL, NULL))
		return -ENOMEM;
	/* no RECVTIMEO on SUB sockets (nng 1.5.2 bug): an aio with a timeout */
	while (!stop) {
		uint64_t now = now_ns();
		int64_t wait_ms = now >= next ? 0 : (int64_t)((next - now) / 1000000ULL);

		if (wait_ms == 0) {
			pthread_mutex_lock(&a->lock);
			tick(a);
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
			on_message(a, m);
			pthread_mutex_unlock(&a->lock);
			nng_msg_free(m);
			fetch_gaps(a);
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
	a.repub_epoch = now_ns();
	a.repub_last_ns = a.repub_epoch;
	if (store_open(&a.store, &a.cfg.store) || ring_init(&a.repub_ring, 600, a.repub_epoch) ||
	    open_sockets(&a))
		return 1;
	if (a.has_q && pthread_create(&a.qthread, NULL, query_thread, &a))
		return 1;
	if (a.has_rr && pthread_create(&a.rthread, NULL, repub_replay_thread, &a))
		return 1;
	if (a.cfg.http_url && start_http(&a))
		return 1;
	pr_info("running: %d agents dialled, %d listen URLs", a.cfg.nagents, a.cfg.nlisten);
	rc = run(&a);
	a.stopping = 1;
	if (a.has_q)
		pthread_join(a.qthread, NULL);
	if (a.has_rr)
		pthread_join(a.rthread, NULL);
	stop_http(&a);
	nng_close(a.sub);
	if (a.has_q)
		nng_close(a.qrep);
	if (a.has_v)
		nng_close(a.vpub);
	if (a.has_r)
		nng_close(a.rpub);
	if (a.has_rr)
		nng_close(a.rrep);
	ring_free(&a.repub_ring);
	store_close(a.store);
	free(a.rc);
	pr_info("stopped: %llu messages, %llu decode errors, %llu replays (%llu deltas)",
		(unsigned long long)a.n_msgs, (unsigned long long)a.n_decode_errors,
		(unsigned long long)a.n_replays, (unsigned long long)a.n_replayed);
	return rc ? 1 : 0;
}
