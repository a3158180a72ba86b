// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Messages in: who may speak for a box, what is refused, merging. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aggregator/agg.h"
#include "common/log.h"
#include "common/sys.h"

/* ---- merging ------------------------------------------------------------- */

/*
 * Logs a refusal, at most LOG_BURST per LOG_PERIOD_NS; the rest are summed
 * in one line when the period ends (every refusal is counted in any case).
 * Under the store lock.
 */
void agg_log_period_end(struct agg *a, uint64_t now)
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

void __attribute__((format(printf, 2, 3))) agg_log_refusal(struct agg *a, const char *fmt, ...)
{
	char buf[600];
	va_list ap;

	agg_log_period_end(a, sys_now_ns(CLOCK_REALTIME));
	if (a->log_in_period++ >= LOG_BURST) {
		a->log_suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pr_warn("%s", buf);
}

void agg_merge_delta(struct agg *a, const struct wire_delta *d, bool replayed)
{
	uint64_t gf = 0, gl = 0;
	int rc;

	rc = store_add_delta(a->store, d, sys_now_ns(CLOCK_REALTIME), &gf, &gl);
	if (rc < 0) {
		agg_log_refusal(a, "box %s: delta %llu of epoch %llu refused (%s): %s", d->box,
			    (unsigned long long)d->seq, (unsigned long long)d->epoch,
			    store_refusal_name(store_last_refusal(a->store)), strerror(-rc));
		return;
	}
	if (rc == 0 && a->rw && rw_take(a->rw, a->store, d))
		pr_warn("remote write: out of memory; delta %llu of box %s left out",
			(unsigned long long)d->seq, d->box);
	if (rc == 0 && a->repub && republish_take(a->repub, a->store, d))
		pr_warn("republish: out of memory; delta %llu of box %s not republished",
			(unsigned long long)d->seq, d->box);
	if (gl && !replayed)
		agg_queue_gap(a, d->box, d->epoch, gf, gl);
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
void agg_on_pipe_rem(nng_pipe p, nng_pipe_ev ev, void *arg)
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

void agg_on_message(struct agg *a, nng_msg *m)
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
				agg_learn_replay(a, d.box, pe->replay);
			agg_merge_delta(a, &d, false);
		}
		wire_delta_free(&d);
		break;
	case WIRE_CATALOG:
		wire_catalog_init(&c);
		if (wire_decode_catalog(body, len, &c, &why) == 0 && identity_ok(a, c.box, p) &&
		    (rc = store_add_catalog(a->store, &c, sys_now_ns(CLOCK_REALTIME))) < 0)
			agg_log_refusal(a, "box %s: catalog of %u customers refused (%s): %s", c.box,
				    c.n, store_refusal_name(store_last_refusal(a->store)),
				    strerror(-rc));
		wire_catalog_free(&c);
		break;
	case WIRE_STATS:
		if (wire_decode_stats(body, len, &st, &why) || !identity_ok(a, st.box, p))
			break;
		rc = store_add_stats(a->store, &st, sys_now_ns(CLOCK_REALTIME));
		if (rc < 0) {
			agg_log_refusal(a, "box %s: stats refused (%s): %s", st.box,
				    store_refusal_name(store_last_refusal(a->store)), strerror(-rc));
		} else if (store_stats_gap(a->store, &st, &gf, &gl)) {
			pr_info("box %s: its stats name delta %llu, not received: its last deltas "
				"%llu..%llu are fetched by replay", st.box, (unsigned long long)st.seq,
				(unsigned long long)gf, (unsigned long long)gl);
			agg_queue_gap(a, st.box, st.epoch, gf, gl);
		}
		break;
	default:
		why = "unknown topic";
	}
	if (why) {
		a->n_decode_errors++;
		store_count_refusal(a->store, NULL, STORE_REFUSE_MALFORMED);
		agg_log_refusal(a, "message of %zu bytes (pipe %d) refused: %s", len, nng_pipe_id(p),
			    why);
	}
}
