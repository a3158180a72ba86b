// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * common/publisher.c and common/replay_client.c over real nng sockets
 * (inproc://): answers capped and asked again, the catalog cadence, and
 * the ring's files kept across a restart.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/publisher.h"
#include "common/replay_client.h"

#define EPOCH 4242

static void publish_n(struct publisher *p, uint64_t first, uint64_t last)
{
	struct wire_delta d;
	char *msg;
	size_t len;
	uint64_t s;

	wire_delta_init(&d);
	snprintf(d.box, sizeof(d.box), "box-p");
	d.epoch = EPOCH;
	for (s = first; s <= last; s++) {
		d.seq = s;
		d.start_ns = s * 1000;
		d.end_ns = s * 1000 + 1000;
		cr_assert_eq(wire_encode_delta(&d, &msg, &len), 0);
		publisher_delta(p, s, msg, len);
	}
	wire_delta_free(&d);
}

struct seen {
	uint64_t n, last;
	bool in_order;
};

static void on_delta(void *ctx, const struct wire_delta *d)
{
	struct seen *s = ctx;

	if (d->seq != s->last + 1)
		s->in_order = false;
	s->last = d->seq;
	s->n++;
}

static struct publisher *open_pub(const char *rep, uint32_t ring_len, const char *dir)
{
	const char *r[] = { rep };
	struct publisher_opts o = {
		.box = "box-p", .epoch = EPOCH, .replay = r, .nreplay = 1,
		.ring_len = ring_len, .ring_dir = dir, .catalog_every = 3,
	};
	struct publisher *p;

	cr_assert_eq(publisher_open(&p, &o), 0);
	return p;
}

Test(publisher, a_range_beyond_one_answer_is_asked_for_again)
{
	struct publisher *p = open_pub("inproc://pub1r", 5000, NULL);
	struct wire_replay_req q = { .epoch = EPOCH, .first = 1, .last = 4500 };
	struct tls_opts tls = { 0 };
	struct seen s = { .in_order = true };
	struct replay_result res;
	struct publisher_counts c;
	const char *why;

	publish_n(p, 1, 4500);
	snprintf(q.box, sizeof(q.box), "box-p");
	cr_assert_eq(replay_fetch("inproc://pub1r", &tls, 2000, &q, on_delta, &s, &res, &why), 0);
	cr_assert_eq(res.answers, 2, "4096 in the first answer, the rest in a second");
	cr_assert_eq(s.n, 4500);
	cr_assert(s.in_order);
	cr_assert_eq(res.status, WIRE_REPLAY_OK);
	publisher_counts(p, &c);
	cr_assert_eq(c.replay_requests, 2);
	cr_assert_eq(c.replay_sent, 4500);
	publisher_close(p, 0);
}

Test(publisher, older_than_the_ring_is_partial_and_says_from_where)
{
	struct publisher *p = open_pub("inproc://pub2r", 10, NULL);
	struct wire_replay_req q = { .epoch = EPOCH, .first = 1, .last = 30 };
	struct tls_opts tls = { 0 };
	struct seen s = { .last = 20, .in_order = true };
	struct replay_result res;
	const char *why;

	publish_n(p, 1, 30);
	snprintf(q.box, sizeof(q.box), "box-p");
	cr_assert_eq(replay_fetch("inproc://pub2r", &tls, 2000, &q, on_delta, &s, &res, &why), 0);
	cr_assert_eq(res.status, WIRE_REPLAY_PARTIAL);
	cr_assert_eq(res.oldest, 21);
	cr_assert_eq(s.n, 10);
	cr_assert(s.in_order);
	cr_assert_eq(res.answers, 1, "nothing more to ask for");
	publisher_close(p, 0);
}

Test(publisher, catalog_cadence)
{
	struct publisher *p = open_pub("inproc://pub3r", 4, NULL);
	int due = 0, i;

	cr_assert(publisher_catalog_due(p, true), "changed names: at once");
	for (i = 0; i < 9; i++)
		due += publisher_catalog_due(p, false);
	cr_assert_eq(due, 3, "every 3rd delta");
	publisher_close(p, 0);
}

Test(publisher, ring_files_survive_a_restart)
{
	char dir[] = "/tmp/pf_pub_test.XXXXXX", sub[64];
	struct wire_replay_req q = { .epoch = EPOCH, .first = 1, .last = 8 };
	struct tls_opts tls = { 0 };
	struct seen s = { .last = 3, .in_order = true };
	struct replay_result res;
	struct publisher *p;
	const char *why;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/ring", dir);
	p = open_pub("inproc://pub4r", 5, sub);
	publish_n(p, 1, 8);		/* the files of 4..8 stay */
	publisher_close(p, 0);
	p = open_pub("inproc://pub4r", 5, sub);
	cr_assert_eq(publisher_ring_load(p, 7), 4, "4..7: 8 was never committed");
	snprintf(q.box, sizeof(q.box), "box-p");
	cr_assert_eq(replay_fetch("inproc://pub4r", &tls, 2000, &q, on_delta, &s, &res, &why), 0);
	cr_assert_eq(s.n, 4);
	cr_assert_eq(s.last, 7);
	publisher_close(p, 0);
	publisher_ring_remove(sub);
	cr_assert_eq(rmdir(dir), 0, "ring_remove left nothing behind");
}
