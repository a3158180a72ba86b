// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * pingfold-aggregator: subscribes to agents (or aggregators), merges
 * their deltas into the store, fetches gaps by replay, answers queries,
 * publishes views and, if asked, republishes merged deltas in the agents'
 * own format so that aggregators stack. See docs/aggregator.md.
 */
#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
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
#include "common/sys.h"
#include "aggregator/http.h"
#include "aggregator/query.h"
#include "aggregator/republish.h"
#include "aggregator/store.h"
#include "common/replay_client.h"
#include "common/cfgfile.h"
#include "common/log.h"
#include "common/ring.h"
#include "common/tls.h"

#define AGG_MAX_URLS	64
#define REPLAY_TIMEO_MS	3000	/* each of: connecting + sending, the answer */
#define LOG_BURST	10	/* refusals logged per LOG_PERIOD, the rest summed */
#define LOG_PERIOD_NS	(10 * 1000000000ULL)

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
	uint32_t replay_workers;		/* concurrent replay fetches */
	uint64_t http_max_conns, http_idle_ms;
	uint64_t claim_idle_ms;			/* a silent pipe's claim lapses */
};

/* A dialled agent: its replay URL, the one box id it may publish (box=). */
struct peer {
	nng_dialer dialer;
	char url[256];
	char replay[256];
	char pin[WIRE_BOX_MAX];
	bool warned;			/* a refusal of it logged (main thread) */
};

/*
 * Identity (docs/aggregator.md "Who may speak for a box"): a box id is
 * bound to the first connection (nng pipe) that sends under it, until
 * that pipe closes or stays silent for claim_idle_ms; another pipe
 * claiming it meanwhile is refused. A dialled peer with box=ID may only
 * send as ID (with TLS, its certificate was checked to name ID).
 */
struct claim {
	char box[WIRE_BOX_MAX];
	uint32_t pipe;			/* 0: free (its pipe closed) */
	uint64_t last_ns;
	uint32_t warned_pipe;		/* refusals logged once per pipe */
};

#define AGG_MAX_GAPS 256
#define AGG_MAX_BOX_GAPS 16	/* queued per box: a dead replay host cannot fill the queue */

/* A range of a box's deltas to fetch by replay. */
struct gap {
	char box[WIRE_BOX_MAX];
	uint64_t epoch, first, last;
};

struct box_replay {
	char box[WIRE_BOX_MAX];
	char url[256];
};

struct agg {
	struct agg_cfg cfg;
	struct store *store;
	pthread_mutex_t lock;
	/* identity: its own lock (the pipe callback runs on nng's threads) */
	pthread_mutex_t claim_lock;
	struct claim *claims;
	uint32_t *claim_idx;		/* [2 * capclaims]: index + 1, 0 = empty */
	uint32_t nclaims, capclaims;
	/* replay fetches: a queue, workers, one fetch per box at a time */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	char (*inflight)[WIRE_BOX_MAX];	/* [replay_workers] */
	uint32_t workers_alive;
	bool closed;			/* the store is gone (under lock) */
	/* refusals logged: LOG_BURST per LOG_PERIOD_NS */
	uint64_t log_period_start, log_suppressed;
	uint32_t log_in_period;
	nng_socket sub, qrep, vpub;
	bool has_q, has_v;
	struct republisher *repub;	/* --republish */
	struct peer peers[AGG_MAX_URLS];
	int npeers;
	struct box_replay br[AGG_MAX_URLS * 2];
	int nbr;
	struct gap gaps[AGG_MAX_GAPS];	/* queued fetches (qlock) */
	int ngaps;
	pthread_t qthread;
	struct http *http;
	volatile int stopping;
	uint64_t n_msgs, n_decode_errors, n_replays, n_replayed, n_query_drops;
};

static volatile int stop;

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
 * Asks the box for first..last and merges what comes back. Runs on a
 * replay worker, without the store lock: the round trip (bounded by
 * REPLAY_TIMEO_MS twice: a dead replay host costs its worker 6 s, never
 * the message loop) must not stall ingest, queries or the page; the lock
 * is taken only to merge and account.
 */
struct fetch_ctx {
	struct agg *a;
	const struct gap *g;
};

/* A replayed delta: merged at once, under the lock (none is held while fetching). */
static void on_replayed(void *ctx, const struct wire_delta *d)
{
	struct fetch_ctx *f = ctx;

	pthread_mutex_lock(&f->a->lock);
	if (!f->a->closed)	/* shutting down: the store is gone */
		merge_delta(f->a, d, true);
	pthread_mutex_unlock(&f->a->lock);
}

static void fetch_gap(struct agg *a, const struct gap *g)
{
	struct wire_replay_req r = { .epoch = g->epoch, .first = g->first, .last = g->last };
	struct fetch_ctx f = { a, g };
	struct replay_result res = { 0 };
	const char *url = NULL, *why = NULL;
	char ubuf[256];
	int rc = 0;

	pthread_mutex_lock(&a->lock);
	if (replay_url(a, g->box)) {
		snprintf(ubuf, sizeof(ubuf), "%s", replay_url(a, g->box));
		url = ubuf;
	}
	pthread_mutex_unlock(&a->lock);
	if (!url) {
		pr_warn("box %s: deltas %llu..%llu missed and no replay URL known for it", g->box,
			(unsigned long long)g->first, (unsigned long long)g->last);
	} else {
		snprintf(r.box, sizeof(r.box), "%s", g->box);
		rc = replay_fetch(url, &a->cfg.tls, REPLAY_TIMEO_MS, &r, on_replayed, &f, &res,
				  &why);
		if (rc)
			pr_warn("box %s: replay of %llu..%llu from %s: %s", g->box,
				(unsigned long long)g->first, (unsigned long long)g->last, url,
				why ? why : strerror(-rc));
	}
	pthread_mutex_lock(&a->lock);
	if (a->closed) {
		pthread_mutex_unlock(&a->lock);
		return;
	}
	a->n_replays++;
	a->n_decode_errors += res.bad + (rc == -EPROTO);
	a->n_replayed += res.got;
	store_gap_done(a->store, g->box, g->epoch, g->first, g->last, res.got);
	pthread_mutex_unlock(&a->lock);
	if (url && res.got < g->last - g->first + 1)
		pr_warn("box %s: %llu of deltas %llu..%llu could not be recovered", g->box,
			(unsigned long long)(g->last - g->first + 1 - res.got),
			(unsigned long long)g->first, (unsigned long long)g->last);
}

/*
 * Replay workers: each takes the oldest queued gap whose box has no fetch
 * under way (so one dead replay host holds one worker, and its own gaps
 * wait for it, never another box's) and fetches it.
 */
static void *replay_worker(void *arg)
{
	struct agg *a = arg;
	uint32_t me, w;
	int i;

	pthread_mutex_lock(&a->qlock);
	me = a->workers_alive++;
	while (!a->stopping) {
		struct gap g;

		for (i = 0; i < a->ngaps; i++) {
			for (w = 0; w < a->cfg.replay_workers; w++)
				if (!strcmp(a->inflight[w], a->gaps[i].box))
					break;
			if (w == a->cfg.replay_workers)
				break;
		}
		if (i == a->ngaps) {
			pthread_cond_wait(&a->qcond, &a->qlock);
			continue;
		}
		g = a->gaps[i];
		memmove(&a->gaps[i], &a->gaps[i + 1], (size_t)(a->ngaps - i - 1) * sizeof(g));
		a->ngaps--;
		snprintf(a->inflight[me], sizeof(a->inflight[me]), "%s", g.box);
		pthread_mutex_unlock(&a->qlock);
		fetch_gap(a, &g);
		pthread_mutex_lock(&a->qlock);
		a->inflight[me][0] = '\0';
		pthread_cond_broadcast(&a->qcond);
	}
	a->workers_alive--;
	pthread_cond_broadcast(&a->qcond);
	pthread_mutex_unlock(&a->qlock);
	return NULL;
}

static int start_replay_workers(struct agg *a)
{
	pthread_t t;
	uint32_t i;

	a->inflight = calloc(a->cfg.replay_workers, sizeof(*a->inflight));
	if (!a->inflight)
		return -ENOMEM;
	for (i = 0; i < a->cfg.replay_workers; i++) {
		if (pthread_create(&t, NULL, replay_worker, a))
			return -EAGAIN;
		pthread_detach(t);
	}
	return 0;
}

/*
 * Stops the workers: those waiting leave at once; one in a fetch leaves
 * when its timeouts end. Waits up to wait_ms for them; true if all left.
 */
static bool stop_replay_workers(struct agg *a, int wait_ms)
{
	struct timespec dl;
	bool all;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += wait_ms / 1000;
	dl.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&a->qlock);
	a->stopping = 1;
	pthread_cond_broadcast(&a->qcond);
	while (a->workers_alive && pthread_cond_timedwait(&a->qcond, &a->qlock, &dl) == 0)
		;
	all = !a->workers_alive;
	pthread_mutex_unlock(&a->qlock);
	return all;
}

/* ---- merging ------------------------------------------------------------- */

/*
 * Logs a refusal, at most LOG_BURST per LOG_PERIOD_NS; the rest are summed
 * in one line when the period ends (every refusal is counted in any case).
 * Under the store lock.
 */
static void log_period_end(struct agg *a, uint64_t now)
{
	if (now - a->log_period_start >= LOG_PERIOD_NS) {
		if (a->log_suppressed)
			pr_warn("%llu more refusals not logged in the last %llu s (see "
				"pingfold_aggregator_refused_total)",
				(unsigned long long)a->log_suppressed,
				(unsigned long long)((now - a->log_period_start) / 1000000000ULL));
		a->log_period_start = now;
		a->log_in_period = 0;
		a->log_suppressed = 0;
	}
}

static void __attribute__((format(printf, 2, 3))) log_refusal(struct agg *a, const char *fmt, ...)
{
	char buf[600];
	va_list ap;

	log_period_end(a, sys_now_ns(CLOCK_REALTIME));
	if (a->log_in_period++ >= LOG_BURST) {
		a->log_suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pr_warn("%s", buf);
}

/* Queues a gap for the replay workers (under the store lock). */
static void queue_gap(struct agg *a, const char *box, uint64_t epoch, uint64_t gf, uint64_t gl)
{
	bool full;
	int i, mine = 0;

	pthread_mutex_lock(&a->qlock);
	for (i = 0; i < a->ngaps; i++)
		mine += !strcmp(a->gaps[i].box, box);
	full = a->ngaps == AGG_MAX_GAPS || mine >= AGG_MAX_BOX_GAPS;
	if (!full) {
		snprintf(a->gaps[a->ngaps].box, sizeof(a->gaps[0].box), "%s", box);
		a->gaps[a->ngaps].epoch = epoch;
		a->gaps[a->ngaps].first = gf;
		a->gaps[a->ngaps].last = gl;
		a->ngaps++;
		pthread_cond_signal(&a->qcond);
	}
	pthread_mutex_unlock(&a->qlock);
	if (full) {
		log_refusal(a, "box %s: %d of its gaps already wait for replay; deltas %llu..%llu "
			    "given up", box, mine, (unsigned long long)gf, (unsigned long long)gl);
		store_gap_done(a->store, box, epoch, gf, gl, 0);
	}
}

static void merge_delta(struct agg *a, const struct wire_delta *d, bool replayed)
{
	uint64_t gf = 0, gl = 0;
	int rc;

	rc = store_add_delta(a->store, d, sys_now_ns(CLOCK_REALTIME), &gf, &gl);
	if (rc < 0) {
		log_refusal(a, "box %s: delta %llu of epoch %llu refused (%s): %s", d->box,
			    (unsigned long long)d->seq, (unsigned long long)d->epoch,
			    store_refusal_name(store_last_refusal(a->store)), strerror(-rc));
		return;
	}
	if (rc == 0 && a->repub && republish_take(a->repub, a->store, d))
		pr_warn("republish: out of memory; delta %llu of box %s not republished",
			(unsigned long long)d->seq, d->box);
	if (gl && !replayed)
		queue_gap(a, d->box, d->epoch, gf, gl);
}

/* ---- identity -------------------------------------------------------------- */

static struct peer *peer_of(struct agg *a, nng_pipe p)
{
	int id = nng_dialer_id(nng_pipe_dialer(p)), i;

	if (id <= 0)
		return NULL;
	for (i = 0; i < a->npeers; i++)
		if (nng_dialer_id(a->peers[i].dialer) == id)
			return &a->peers[i];
	return NULL;
}

static uint32_t claim_hash(const char *p)
{
	uint32_t h = 2166136261u;

	while (*p)
		h = (h ^ (unsigned char)*p++) * 16777619u;
	return h;
}

/* The claim of box (claim_lock held); NULL if none. Index: claims[] by hash. */
static struct claim *claim_find(struct agg *a, const char *box)
{
	uint32_t i;

	if (!a->capclaims)
		return NULL;
	for (i = claim_hash(box) & (a->capclaims * 2 - 1); a->claim_idx[i];
	     i = (i + 1) & (a->capclaims * 2 - 1))
		if (!strcmp(a->claims[a->claim_idx[i] - 1].box, box))
			return &a->claims[a->claim_idx[i] - 1];
	return NULL;
}

static struct claim *claim_add(struct agg *a, const char *box)
{
	uint32_t i, k;

	if (a->nclaims == a->capclaims) {
		uint32_t cap = a->capclaims ? a->capclaims * 2 : 64;
		struct claim *c = realloc(a->claims, cap * sizeof(*c));
		uint32_t *idx = calloc((size_t)cap * 2, sizeof(*idx));

		if (!c || !idx) {
			if (c)
				a->claims = c;
			free(idx);
			return NULL;
		}
		a->claims = c;
		free(a->claim_idx);
		a->claim_idx = idx;
		a->capclaims = cap;
		for (k = 0; k < a->nclaims; k++) {
			for (i = claim_hash(c[k].box) & (cap * 2 - 1); idx[i]; i = (i + 1) & (cap * 2 - 1))
				;
			idx[i] = k + 1;
		}
	}
	memset(&a->claims[a->nclaims], 0, sizeof(a->claims[0]));
	snprintf(a->claims[a->nclaims].box, sizeof(a->claims[0].box), "%s", box);
	for (i = claim_hash(box) & (a->capclaims * 2 - 1); a->claim_idx[i];
	     i = (i + 1) & (a->capclaims * 2 - 1))
		;
	a->claim_idx[i] = ++a->nclaims;
	return &a->claims[a->nclaims - 1];
}

/*
 * May the pipe p speak for box? 0, or -EPERM with why (and *log when this
 * is the first refusal of that box on that pipe).
 */
static int claim_check(struct agg *a, const char *box, nng_pipe p, char *why, size_t wn,
		       bool *log)
{
	struct peer *pe = peer_of(a, p);
	uint32_t pid = (uint32_t)nng_pipe_id(p);
	uint64_t now = sys_now_ns(CLOCK_REALTIME);
	struct claim *c;
	int rc = 0;

	*log = false;
	if (pe && pe->pin[0] && strcmp(pe->pin, box)) {
		snprintf(why, wn, "box '%s' sent from %s, which may only send as '%s' (box=); "
			 "logged once", box, pe->url, pe->pin);
		*log = !pe->warned;
		pe->warned = true;
		return -EPERM;
	}
	pthread_mutex_lock(&a->claim_lock);
	c = claim_find(a, box);
	if (!c) {
		if (a->nclaims >= a->cfg.store.max_boxes || !(c = claim_add(a, box))) {
			pthread_mutex_unlock(&a->claim_lock);
			return 0;	/* the store refuses a box past its bound */
		}
		c->pipe = pid;
	} else if (c->pipe != pid) {
		if (c->pipe && now - c->last_ns <= a->cfg.claim_idle_ms * 1000000ULL) {
			snprintf(why, wn, "box '%s' is bound to another connection (pipe %u, "
				 "heard %.1f s ago); this one (pipe %u%s%s) is refused", box,
				 c->pipe, (double)(now - c->last_ns) / 1e9, pid, pe ? " from " : "",
				 pe ? pe->url : "");
			*log = c->warned_pipe != pid;
			c->warned_pipe = pid;
			rc = -EPERM;
		} else {
			if (c->pipe)
				pr_warn("box %s: its connection (pipe %u) silent for %.1f s; the box is "
					"now bound to pipe %u", box, c->pipe,
					(double)(now - c->last_ns) / 1e9, pid);
			c->pipe = pid;
			c->warned_pipe = 0;
		}
	}
	if (!rc)
		c->last_ns = now;
	pthread_mutex_unlock(&a->claim_lock);
	return rc;
}

/* nng: a pipe closed (any thread). Its claims are free. */
static void on_pipe_rem(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct agg *a = arg;
	uint32_t pid = (uint32_t)nng_pipe_id(p), i;

	(void)ev;
	pthread_mutex_lock(&a->claim_lock);
	for (i = 0; i < a->nclaims; i++)
		if (a->claims[i].pipe == pid)
			a->claims[i].pipe = 0;
	pthread_mutex_unlock(&a->claim_lock);
}

/* A decoded message's box, checked against the pipe; false if refused. */
static bool identity_ok(struct agg *a, const char *box, nng_pipe p)
{
	char why[400];
	bool log;

	if (claim_check(a, box, p, why, sizeof(why), &log) == 0)
		return true;
	store_count_refusal(a->store, box, STORE_REFUSE_IDENTITY);
	if (log)
		pr_warn("refused: %s", why);
	return false;
}

static void on_message(struct agg *a, nng_msg *m)
{
	const char *body = nng_msg_body(m), *why = NULL;
	size_t len = nng_msg_len(m);
	struct wire_delta d;
	struct wire_catalog c;
	struct wire_stats st;
	nng_pipe p = nng_msg_get_pipe(m);
	struct peer *pe;
	uint64_t gf, gl;
	int kind = wire_kind_of(body, len), rc;

	a->n_msgs++;
	switch (kind) {
	case WIRE_DELTA:
		wire_delta_init(&d);
		if (wire_decode_delta(body, len, &d, &why) == 0 && identity_ok(a, d.box, p)) {
			if ((pe = peer_of(a, p)))	/* a dialled agent's replay URL */
				learn_replay(a, d.box, pe->replay);
			merge_delta(a, &d, false);
		}
		wire_delta_free(&d);
		break;
	case WIRE_CATALOG:
		wire_catalog_init(&c);
		if (wire_decode_catalog(body, len, &c, &why) == 0 && identity_ok(a, c.box, p) &&
		    (rc = store_add_catalog(a->store, &c, sys_now_ns(CLOCK_REALTIME))) < 0)
			log_refusal(a, "box %s: catalog of %u customers refused (%s): %s", c.box,
				    c.n, store_refusal_name(store_last_refusal(a->store)),
				    strerror(-rc));
		wire_catalog_free(&c);
		break;
	case WIRE_STATS:
		if (wire_decode_stats(body, len, &st, &why) || !identity_ok(a, st.box, p))
			break;
		rc = store_add_stats(a->store, &st, sys_now_ns(CLOCK_REALTIME));
		if (rc < 0) {
			log_refusal(a, "box %s: stats refused (%s): %s", st.box,
				    store_refusal_name(store_last_refusal(a->store)), strerror(-rc));
		} else if (store_stats_gap(a->store, &st, &gf, &gl)) {
			pr_info("box %s: its stats name delta %llu, not received: its last deltas "
				"%llu..%llu are fetched by replay", st.box, (unsigned long long)st.seq,
				(unsigned long long)gf, (unsigned long long)gl);
			queue_gap(a, st.box, st.epoch, gf, gl);
		}
		break;
	default:
		why = "unknown topic";
	}
	if (why) {
		a->n_decode_errors++;
		store_count_refusal(a->store, NULL, STORE_REFUSE_MALFORMED);
		log_refusal(a, "message of %zu bytes (pipe %d) refused: %s", len, nng_pipe_id(p),
			    why);
	}
}

/* ---- query API and republish replay: threads ------------------------------ */

/*
 * The query API. Never waits for a client: a REQ client asks one question
 * at a time, so one that has not taken its last answer when the next is
 * ready is not one: its answer is dropped, its connection closed, and
 * what it had queued is not computed (counted in query_drops).
 */
#define QUERY_SHUT	16	/* connections closed, remembered */
static void *query_thread(void *arg)
{
	struct agg *a = arg;
	uint32_t shut[QUERY_SHUT] = { 0 }, nshut = 0, k;

	while (!a->stopping) {
		nng_msg *m = NULL;
		nng_pipe p;
		struct jw w;
		int rc = nng_recvmsg(a->qrep, &m, 0);

		if (rc == NNG_ETIMEDOUT)
			continue;
		if (rc)
			break;
		p = nng_msg_get_pipe(m);
		for (k = 0; k < QUERY_SHUT && shut[k] != (uint32_t)nng_pipe_id(p); k++)
			;
		if (k < QUERY_SHUT) {	/* queued by a client already shut out */
			nng_msg_free(m);
			continue;
		}
		jw_init(&w);
		query_answer(a->store, &a->lock, nng_msg_body(m), nng_msg_len(m),
			     sys_now_ns(CLOCK_REALTIME), &w);
		nng_msg_clear(m);
		rc = w.err ? NNG_ENOMEM : nng_msg_append(m, w.buf, w.len);
		rc = rc ?: nng_sendmsg(a->qrep, m, NNG_FLAG_NONBLOCK);
		jw_free(&w);
		if (!rc)
			continue;
		nng_msg_free(m);
		if (rc == NNG_EAGAIN) {
			shut[nshut++ % QUERY_SHUT] = (uint32_t)nng_pipe_id(p);
			nng_pipe_close(p);
		}
		pthread_mutex_lock(&a->lock);
		a->n_query_drops++;
		if (rc == NNG_EAGAIN)
			log_refusal(a, "query client (pipe %d) does not take its answers: closed",
				    nng_pipe_id(p));
		pthread_mutex_unlock(&a->lock);
	}
	return NULL;
}

/* ---- every interval: views and republish --------------------------------- */

/* One view: topic NUL JSON, the query answer for the view window. */
static void publish_view(struct agg *a, const char *topic, enum query_kind kind, const char *name,
			 uint64_t now)
{
	struct query q = { .kind = kind, .name = name, .win = a->cfg.view_window };
	size_t tl = strlen(topic);
	struct jw body;
	char *msg;

	jw_init(&body);
	if (query_run(a->store, NULL, &q, now, &body) == 0 && !body.err) {
		msg = malloc(tl + 1 + body.len);
		if (msg) {
			memcpy(msg, topic, tl + 1);
			memcpy(msg + tl + 1, body.buf, body.len);
			nng_send(a->vpub, msg, tl + 1 + body.len, 0);
			free(msg);
		}
	}
	jw_free(&body);
}

static void publish_views(struct agg *a, uint64_t now)
{
	struct store_box_info *b;
	struct store_cust_info *c;
	char **sites, topic[400];
	size_t n, i;

	publish_view(a, "view/fleet", QUERY_FLEET, NULL, now);
	if (store_sites(a->store, &sites, &n) == 0) {
		for (i = 0; i < n; i++) {
			snprintf(topic, sizeof(topic), "view/site/%s", sites[i]);
			publish_view(a, topic, QUERY_SITE, sites[i], now);
			free(sites[i]);
		}
		free(sites);
	}
	if (store_boxes(a->store, now, &b, &n) == 0) {
		for (i = 0; i < n; i++) {
			snprintf(topic, sizeof(topic), "view/box/%s", b[i].box);
			publish_view(a, topic, QUERY_BOX, b[i].box, now);
		}
		free(b);
	}
	if (a->cfg.view_customers && store_customers(a->store, &c, &n) == 0) {
		for (i = 0; i < n; i++) {
			snprintf(topic, sizeof(topic), "view/customer/%s", c[i].id);
			publish_view(a, topic, QUERY_CUSTOMER, c[i].id, now);
		}
		free(c);
	}
}

static void tick(struct agg *a)
{
	uint64_t now = sys_now_ns(CLOCK_REALTIME);

	log_period_end(a, now);

	if (a->has_v)
		publish_views(a, now);
	if (a->repub)
		republish_tick(a->repub, a->store, now);
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
	rc = rc ?: nng_pipe_notify(a->sub, NNG_PIPE_EV_REM_POST, on_pipe_rem, a);
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
	if (store_open(&a.store, &a.cfg.store) || start_replay_workers(&a) || open_sockets(&a))
		return 1;
	if (a.has_q && pthread_create(&a.qthread, NULL, query_thread, &a))
		return 1;
	if (a.cfg.http_url && start_http(&a))
		return 1;
	pr_info("running: %d agents dialled, %d listen URLs", a.cfg.nagents, a.cfg.nlisten);
	rc = run(&a);
	/* SIGTERM: done within 2 s. A replay fetch still waiting for a dead
	 * host is not waited for (it merges nothing once closed is set). */
	if (!stop_replay_workers(&a, 500))
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
