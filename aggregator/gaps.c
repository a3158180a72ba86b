// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Replay of gaps: a queue of missed ranges and workers that fetch them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "aggregator/agg.h"
#include "common/log.h"
#include "common/replay_client.h"
#include "common/sys.h"

/* Agents send a catalog every 30 intervals (agent.conf catalog-every): two of those. */
#define CATALOG_WAIT_MS	30000

/* ---- replay of gaps ------------------------------------------------------ */

static const char *replay_url(struct agg *a, const char *box)
{
	int i;

	for (i = 0; i < a->nbr; i++)
		if (!strcmp(a->br[i].box, box))
			return a->br[i].url;
	return NULL;
}

void agg_learn_replay(struct agg *a, const char *box, const char *url)
{
	if (!url || !url[0] || replay_url(a, box) || a->nbr == (int)(sizeof(a->br) / sizeof(a->br[0])))
		return;
	snprintf(a->br[a->nbr].box, sizeof(a->br[a->nbr].box), "%s", box);
	snprintf(a->br[a->nbr].url, sizeof(a->br[a->nbr].url), "%s", url);
	a->nbr++;
}


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
		agg_merge_delta(f->a, d, true);
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

	/* after a restart, a box's catalog first (up to CATALOG_WAIT_MS): a
	 * replay merged before it would go under unnamed keys for good */
	for (int waited = 0; waited < CATALOG_WAIT_MS && !a->stopping; waited += 100) {
		bool waits;

		pthread_mutex_lock(&a->lock);
		waits = !a->closed && store_box_awaits_catalog(a->store, g->box);
		pthread_mutex_unlock(&a->lock);
		if (!waits)
			break;
		nanosleep(&(struct timespec){ 0, 100000000L }, NULL);
	}
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

int agg_replay_start(struct agg *a)
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
bool agg_replay_stop(struct agg *a, int wait_ms)
{
	struct timespec dl = sys_deadline(wait_ms);
	bool all;

	pthread_mutex_lock(&a->qlock);
	a->stopping = 1;
	pthread_cond_broadcast(&a->qcond);
	while (a->workers_alive && pthread_cond_timedwait(&a->qcond, &a->qlock, &dl) == 0)
		;
	all = !a->workers_alive;
	pthread_mutex_unlock(&a->qlock);
	return all;
}

/* Queues a gap for the replay workers (under the store lock). */
void agg_queue_gap(struct agg *a, const char *box, uint64_t epoch, uint64_t gf, uint64_t gl)
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
		agg_log_refusal(a, "box %s: %d of its gaps already wait for replay; deltas %llu..%llu "
			    "given up", box, mine, (unsigned long long)gf, (unsigned long long)gl);
		store_gap_done(a->store, box, epoch, gf, gl, 0);
	}
}
