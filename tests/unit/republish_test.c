// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * aggregator/republish.c over real nng sockets (inproc://): what a higher
 * aggregator receives from a republishing one, and what the replay server
 * (common/publisher.c) gives back through the one replay client
 * (common/replay_client.c), including answers split for size.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>
#include "aggregator/republish.h"
#include "common/replay_client.h"
#include "common/sys.h"

#define MS 1000000ULL

static struct republisher *open_repub(const char *pub_url, const char *rep_url,
				      uint64_t now)
{
	const char *pub[] = { pub_url }, *rep[] = { rep_url };
	struct publisher_opts o = {
		.box = "agg-1", .listen = pub, .nlisten = 1, .replay = rep, .nreplay = 1,
	};
	struct republisher *r;

	cr_assert_eq(republish_open(&r, &o, now), 0);
	return r;
}

/*
 * A subscriber of r at url. Pub/sub sends only to pipes the publisher has
 * already added (nng does so after the dial returns): wait for it.
 */
static nng_socket subscriber(struct republisher *r, const char *url)
{
	struct republish_counts c = { 0 };
	nng_socket s;
	int i;

	cr_assert_eq(nng_sub0_open(&s), 0);
	cr_assert_eq(nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0), 0);
	cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 2000), 0);
	cr_assert_eq(nng_dial(s, url, NULL, 0), 0);
	for (i = 0; i < 2000 && !c.subscribers; i++) {
		republish_counts(r, &c);
		if (!c.subscribers)
			nng_msleep(1);
	}
	cr_assert_eq(c.subscribers, 1, "the publisher added the subscriber's pipe");
	return s;
}

/* A box's catalog naming key 1 "c1" and a delta with n samples of v ns for it. */
static void feed(struct store *s, struct republisher *r, uint64_t seq, uint64_t v, uint64_t n,
		 uint64_t now)
{
	struct wire_catalog c;
	struct wire_delta d;
	struct hist_sparse sp;
	struct hist h;
	uint64_t gf, gl;

	wire_catalog_init(&c);
	snprintf(c.box, sizeof(c.box), "box-a");
	c.epoch = 77;
	cr_assert_eq(wire_catalog_add(&c, 1, "c1", "Customer One", "North/T1"), 0);
	cr_assert_eq(store_add_catalog(s, &c, now), 0);
	wire_catalog_free(&c);
	wire_delta_init(&d);
	snprintf(d.box, sizeof(d.box), "box-a");
	d.epoch = 77;
	d.seq = seq;
	d.start_ns = now - 1000 * MS;
	d.end_ns = now;
	hist_init(&h);
	hist_add_n(&h, v, n);
	hist_to_sparse(&h, &sp);
	cr_assert_eq(wire_delta_add(&d, 1, 0, &sp), 0);
	hist_to_sparse(&h, &sp);
	cr_assert_eq(wire_delta_add(&d, 9, 1, &sp), 0);	/* a key no catalog names */
	cr_assert_eq(store_add_delta(s, &d, now, &gf, &gl), 0);
	cr_assert_eq(republish_take(r, s, &d), 0);
	wire_delta_free(&d);
}

static void recv_msg(nng_socket s, char **buf, size_t *len)
{
	cr_assert_eq(nng_recv(s, buf, len, NNG_FLAG_ALLOC), 0);
}

Test(republish, catalog_then_delta_with_stable_keys)
{
	uint64_t now = sys_now_ns(CLOCK_REALTIME);
	struct store_opts so;
	struct store *s;
	struct republisher *r = open_repub("inproc://rp1", "inproc://rp1r", now - 5000 * MS);
	nng_socket sub = subscriber(r, "inproc://rp1");
	struct wire_catalog c;
	struct wire_delta d;
	struct hist_sparse h;
	const char *why;
	char *buf;
	size_t len;
	int round;

	store_opts_default(&so);
	cr_assert_eq(store_open(&s, &so), 0);
	wire_catalog_init(&c);
	wire_delta_init(&d);
	for (round = 1; round <= 2; round++) {
		feed(s, r, round, 20 * MS, 10 * round, now);
		cr_assert_eq(republish_tick(r, s, now + round * MS), 0);
		recv_msg(sub, &buf, &len);
		cr_assert_eq(wire_decode_catalog(buf, len, &c, &why), 0, "%s", why);
		nng_free(buf, len);
		cr_assert_eq(c.n, 2);
		cr_assert_str_eq(c.c[0].id, "c1");
		cr_assert_str_eq(c.c[0].name, "Customer One");
		cr_assert_str_eq(c.c[0].site, "North/T1");
		cr_assert_str_eq(c.c[1].id, "?box-a/9");
		recv_msg(sub, &buf, &len);
		cr_assert_eq(wire_decode_delta(buf, len, &d, &why), 0, "%s", why);
		nng_free(buf, len);
		cr_assert_str_eq(d.box, "agg-1");
		cr_assert_eq(d.seq, (uint64_t)round);
		cr_assert_eq(d.nh, 2);
		cr_assert_eq(d.h[0].key, 0, "c1 keeps key 0");
		cr_assert_eq(d.h[1].key, 1);
		wire_delta_get(&d, 0, &h);
		cr_assert_eq(h.count, 10u * round, "only what was merged since the last tick");
		cr_assert_eq(h.sum, 10u * round * 20 * MS);
	}
	/* nothing merged: an empty delta, so receivers see the beat */
	cr_assert_eq(republish_tick(r, s, now + 3 * MS), 0);
	recv_msg(sub, &buf, &len);
	nng_free(buf, len);
	recv_msg(sub, &buf, &len);
	cr_assert_eq(wire_decode_delta(buf, len, &d, &why), 0, "%s", why);
	nng_free(buf, len);
	cr_assert_eq(d.seq, 3);
	cr_assert_eq(d.nh, 0);
	wire_catalog_free(&c);
	wire_delta_free(&d);
	nng_close(sub);
	republish_close(r);
	store_close(s);
}

struct got {
	uint64_t seqs[16];
	int n;
};

static void on_delta(void *ctx, const struct wire_delta *d)
{
	struct got *g = ctx;

	if (g->n < 16)
		g->seqs[g->n++] = d->seq;
}

Test(republish, replay_gives_back_what_was_published)
{
	uint64_t now = sys_now_ns(CLOCK_REALTIME);
	struct wire_replay_req q = { .first = 2, .last = 4 };
	struct tls_opts tls = { 0 };
	struct replay_result res;
	struct store_opts so;
	struct store *s;
	struct republisher *r = open_repub("inproc://rp2", "inproc://rp2r", now - 5000 * MS);
	struct got g = { 0 };
	const char *why;
	int i;

	store_opts_default(&so);
	cr_assert_eq(store_open(&s, &so), 0);
	for (i = 1; i <= 5; i++) {
		feed(s, r, i, 5 * MS, 3, now);
		cr_assert_eq(republish_tick(r, s, now + i * MS), 0);
	}
	snprintf(q.box, sizeof(q.box), "agg-1");
	q.epoch = now - 5000 * MS;	/* the republisher's epoch: its start */
	cr_assert_eq(replay_fetch("inproc://rp2r", &tls, 2000, &q, on_delta, &g, &res, &why), 0,
		     "%s", why ? why : "");
	cr_assert_eq(res.status, WIRE_REPLAY_OK);
	cr_assert_eq(g.n, 3);
	cr_assert(g.seqs[0] == 2 && g.seqs[1] == 3 && g.seqs[2] == 4);
	/* another epoch: nothing, and said so */
	q.epoch++;
	g.n = 0;
	cr_assert_eq(replay_fetch("inproc://rp2r", &tls, 2000, &q, on_delta, &g, &res, &why), 0);
	cr_assert_eq(res.status, WIRE_REPLAY_NO_EPOCH);
	cr_assert_eq(g.n, 0);
	republish_close(r);
	store_close(s);
}

Test(republish, an_unreachable_replay_host_times_out)
{
	struct wire_replay_req q = { .epoch = 1, .first = 1, .last = 1 };
	struct tls_opts tls = { 0 };
	struct replay_result res;
	struct got g = { 0 };
	const char *why;

	snprintf(q.box, sizeof(q.box), "b");
	cr_assert_eq(replay_fetch("inproc://nobody-listens", &tls, 200, &q, on_delta, &g, &res,
				  &why), -ETIMEDOUT);
	cr_assert_eq(g.n, 0);
}
