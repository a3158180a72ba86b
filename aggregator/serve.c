// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Answers: the query API's thread, and every interval the views and republish. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aggregator/agg.h"
#include "aggregator/query.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/sys.h"

/* ---- query API and republish replay: threads ------------------------------ */

/*
 * The query API. Never waits for a client: a REQ client asks one question
 * at a time, so one that has not taken its last answer when the next is
 * ready is not one: its answer is dropped, its connection closed, and
 * what it had queued is not computed (counted in query_drops).
 */
#define QUERY_SHUT	16	/* connections closed, remembered */
void *agg_query_thread(void *arg)
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
		query_answer(a->store, &a->lock, a->hist, nng_msg_body(m), nng_msg_len(m),
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
			agg_log_refusal(a, "query client (pipe %d) does not take its answers: closed",
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
	if (query_run(a->store, NULL, a->hist, &q, now, &body) == 0 && !body.err) {
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

void agg_tick(struct agg *a)
{
	uint64_t now = sys_now_ns(CLOCK_REALTIME);

	agg_log_period_end(a, now);

	if (a->has_v)
		publish_views(a, now);
	if (a->repub)
		republish_tick(a->repub, a->store, now);
	if (a->rw && now >= a->rw_next_ns) {
		rw_tick(a->rw, now);
		a->rw_next_ns = now + a->cfg.rw_interval_ms * 1000000ULL;
	}
}
