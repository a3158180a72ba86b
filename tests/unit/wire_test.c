// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Tests of common/wire.c: round trips of every message kind, the limits,
 * compactness, and rejection of malformed input (truncation at every byte,
 * wrong types at every field, lengths beyond the buffer, absurd counts,
 * unknown versions, broken histograms, trailing bytes). Malformed bodies
 * are built by a second, independent packer of the format (tpack_*) that
 * checks nothing, or by mutating the msgpack tree of a valid message.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include "common/wire.h"
#include "tests/lib/rng.h"

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond))						\
			cr_assert_fail(__VA_ARGS__);			\
	} while (0)

/* ---- helpers ------------------------------------------------------------ */



/* n samples around base_ns, spread over 'octaves' (0.75 = 6 buckets). */
static void make_hist(struct hist_sparse *s, uint64_t base_ns, uint32_t n, double octaves)
{
	static struct hist h;
	uint32_t i;

	hist_init(&h);
	for (i = 0; i < n; i++)
		hist_add(&h, (uint64_t)((double)base_ns * exp2(rndf() * octaves)));
	hist_to_sparse(&h, s);
}

/* Keys: nc customers picked in [0, key_space), both halves of each. */
static void build_delta(struct wire_delta *d, uint32_t nc, uint32_t key_space,
			uint32_t samples, double octaves)
{
	static struct hist_sparse s;
	uint32_t key = 0, i, half;

	wire_delta_init(d);
	strcpy(d->box, "shaper-7");
	d->epoch = 1718000000123456789ULL;
	d->seq = 4242;
	d->start_ns = 1718000000000000000ULL;
	d->end_ns = 1718000001000000000ULL;
	for (i = 0; i < nc; i++) {
		uint32_t room = key_space - key - (nc - i);

		uint32_t step = (uint32_t)(rnd() % (2 * room / (nc - i) + 1));

		key += 1 + (step < room ? step : room);
		for (half = 0; half < 2; half++) {
			double base = 10e6 * exp2(rndf() * 1.585);	/* 10..30 ms */

			make_hist(&s, (uint64_t)base, samples ? samples : 1 + rnd() % 40, octaves);
			cr_assert_eq(wire_delta_add(d, key - 1, (uint8_t)half, &s), 0);
		}
	}
}

static void delta_eq(const struct wire_delta *a, const struct wire_delta *b)
{
	static struct hist_sparse x, y;
	uint32_t i, k;

	cr_assert_str_eq(a->box, b->box);
	cr_assert_eq(a->epoch, b->epoch);
	cr_assert_eq(a->seq, b->seq);
	cr_assert_eq(a->start_ns, b->start_ns);
	cr_assert_eq(a->end_ns, b->end_ns);
	cr_assert_eq(a->scale, b->scale);
	cr_assert_eq(a->nh, b->nh);
	cr_assert_eq(a->nb, b->nb);
	for (i = 0; i < a->nh; i++) {
		CHECK(a->h[i].key == b->h[i].key && a->h[i].half == b->h[i].half,
		      "hist %u: key/half differ", i);
		wire_delta_get(a, i, &x);
		wire_delta_get(b, i, &y);
		CHECK(x.count == y.count && x.sum == y.sum && x.min == y.min && x.max == y.max &&
		      x.n == y.n, "hist %u: totals differ", i);
		for (k = 0; k < x.n; k++)
			CHECK(x.idx[k] == y.idx[k] && x.cnt[k] == y.cnt[k],
			      "hist %u bucket %u differs", i, k);
	}
}

/* Decodes; expects failure with a reason starting with 'prefix'. */
static void expect_delta_fail(const char *msg, size_t len, int err, const char *why_want)
{
	struct wire_delta d;
	const char *why = NULL;
	int rc;

	wire_delta_init(&d);
	rc = wire_decode_delta(msg, len, &d, &why);
	cr_assert_eq(rc, err, "rc %d, want %d (why: %s)", rc, err, why ? why : "-");
	cr_assert_not_null(why);
	if (why_want)
		cr_assert_str_eq(why, why_want);
	cr_assert_eq(d.nh, 0);
	wire_delta_free(&d);
}

/* ---- an independent packer of the format, checking nothing --------------- */

struct tweak {
	const char *topic;	/* whole topic; NULL: KIND/box */
	int set_version;
	uint64_t version;
	int extra;		/* junk fields appended to the body */
	int entry_extra;	/* ... to every hist / catalog entry */
	int missing;		/* fields left off the end of the body */
	int entry_missing;	/* ... off every hist / catalog entry */
	uint64_t key0;		/* nonzero: the raw key of entry 0 */
	const char *box;	/* the body's box; NULL: the struct's */
	const void *trail;	/* bytes after the body */
	size_t ntrail;
};

struct tp {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void tp_start(struct tp *t, const char *topic)
{
	msgpack_sbuffer_init(&t->sb);
	msgpack_packer_init(&t->pk, &t->sb, msgpack_sbuffer_write);
	if (topic)
		msgpack_sbuffer_write(&t->sb, topic, strlen(topic) + 1);
}

static void tp_str(struct tp *t, const char *s)
{
	msgpack_pack_str(&t->pk, strlen(s));
	msgpack_pack_str_body(&t->pk, s, strlen(s));
}

/* A value of every other type, nested: what a later version might append. */
static void tp_junk(struct tp *t)
{
	static const char ext[4] = { 1, 2, 3, 4 };

	msgpack_pack_array(&t->pk, 9);
	msgpack_pack_nil(&t->pk);
	msgpack_pack_true(&t->pk);
	msgpack_pack_double(&t->pk, 1.5);
	tp_str(t, "later");
	msgpack_pack_bin(&t->pk, 3);
	msgpack_pack_bin_body(&t->pk, "abc", 3);
	msgpack_pack_map(&t->pk, 1);
	tp_str(t, "k");
	msgpack_pack_array(&t->pk, 2);
	msgpack_pack_uint64(&t->pk, 1);
	msgpack_pack_float(&t->pk, 2.0f);
	msgpack_pack_ext(&t->pk, 4, 7);
	msgpack_pack_ext_body(&t->pk, ext, 4);
	msgpack_pack_int64(&t->pk, -5);
	msgpack_pack_uint64(&t->pk, UINT64_MAX);
}

static size_t tp_end(struct tp *t, const struct tweak *w, char **out)
{
	size_t len;

	if (w->ntrail)
		msgpack_sbuffer_write(&t->sb, w->trail, w->ntrail);
	len = t->sb.size;
	*out = msgpack_sbuffer_release(&t->sb);
	return len;
}

static void tp_head(struct tp *t, const struct tweak *w, int nf, const char *box,
		    uint64_t epoch, uint64_t seq, int *left)
{
	*left = nf - w->missing;
	msgpack_pack_array(&t->pk, (size_t)(*left + w->extra));
	msgpack_pack_uint64(&t->pk, w->set_version ? w->version : WIRE_VERSION);
	if (--*left > 0)
		tp_str(t, w->box ? w->box : box);
	if (--*left > 0)
		msgpack_pack_uint64(&t->pk, epoch);
	if (--*left > 0)
		msgpack_pack_uint64(&t->pk, seq);
}

static void tp_extra(struct tp *t, int n)
{
	while (n-- > 0)
		tp_junk(t);
}

/* A delta as the format says, from the struct as it is (valid or not). */
static size_t tpack_delta(const struct wire_delta *d, const struct tweak *w, char **out)
{
	char topic[128];
	struct tp t;
	uint32_t i, k;
	int left;

	snprintf(topic, sizeof(topic), "delta/%s", d->box);
	tp_start(&t, w->topic ? w->topic : topic);
	tp_head(&t, w, 8, d->box, d->epoch, d->seq, &left);
	if (--left > 0)
		msgpack_pack_uint64(&t.pk, d->start_ns);
	if (--left > 0)
		msgpack_pack_uint64(&t.pk, d->end_ns);
	if (--left > 0)
		msgpack_pack_uint64(&t.pk, d->scale);
	if (--left > 0) {
		msgpack_pack_array(&t.pk, d->nh);
		for (i = 0; i < d->nh; i++) {
			const struct wire_hist *h = &d->h[i];
			const struct wire_bucket *b = d->b + h->off;
			int hl = 8 - w->entry_missing;

			msgpack_pack_array(&t.pk, (size_t)(hl + w->entry_extra));
			msgpack_pack_uint64(&t.pk, i == 0 && w->key0 ? w->key0 : h->key);
			if (--hl > 0)
				msgpack_pack_uint64(&t.pk, h->half);
			if (--hl > 0)
				msgpack_pack_uint64(&t.pk, h->count);
			if (--hl > 0)
				msgpack_pack_uint64(&t.pk, h->sum);
			if (--hl > 0)
				msgpack_pack_uint64(&t.pk, h->min);
			if (--hl > 0)
				msgpack_pack_uint64(&t.pk, h->max);
			if (--hl > 0)
				msgpack_pack_uint64(&t.pk, h->nb ? b[0].slot : 0);
			if (--hl > 0) {
				msgpack_pack_array(&t.pk, h->nb ? 2 * h->nb - 1 : 0);
				for (k = 0; k < h->nb; k++) {
					if (k)
						msgpack_pack_int64(&t.pk, (int64_t)b[k].slot -
								   b[k - 1].slot);
					msgpack_pack_uint64(&t.pk, b[k].n);
				}
			}
			tp_extra(&t, w->entry_extra);
		}
	}
	tp_extra(&t, w->extra);
	return tp_end(&t, w, out);
}

static size_t tpack_catalog(const struct wire_catalog *c, const struct tweak *w, char **out)
{
	char topic[128];
	struct tp t;
	uint32_t i;
	int left;

	snprintf(topic, sizeof(topic), "catalog/%s", c->box);
	tp_start(&t, w->topic ? w->topic : topic);
	tp_head(&t, w, 5, c->box, c->epoch, c->seq, &left);
	if (--left > 0) {
		msgpack_pack_array(&t.pk, c->n);
		for (i = 0; i < c->n; i++) {
			int el = 4 - w->entry_missing;

			msgpack_pack_array(&t.pk, (size_t)(el + w->entry_extra));
			msgpack_pack_uint64(&t.pk, i == 0 && w->key0 ? w->key0 : c->c[i].key);
			if (--el > 0)
				tp_str(&t, c->c[i].id);
			if (--el > 0)
				tp_str(&t, c->c[i].name);
			if (--el > 0)
				tp_str(&t, c->c[i].site);
			tp_extra(&t, w->entry_extra);
		}
	}
	tp_extra(&t, w->extra);
	return tp_end(&t, w, out);
}

static size_t tpack_stats(const struct wire_stats *s, const struct tweak *w, char **out)
{
	char topic[128];
	struct tp t;
	uint32_t i;
	int left;

	snprintf(topic, sizeof(topic), "stats/%s", s->box);
	tp_start(&t, w->topic ? w->topic : topic);
	tp_head(&t, w, 6, s->box, s->epoch, s->seq, &left);
	if (--left > 0)
		msgpack_pack_uint64(&t.pk, s->time_ns);
	if (--left > 0) {
		msgpack_pack_map(&t.pk, s->n);
		for (i = 0; i < s->n; i++) {
			tp_str(&t, s->s[i].name);
			msgpack_pack_uint64(&t.pk, s->s[i].value);
		}
	}
	tp_extra(&t, w->extra);
	return tp_end(&t, w, out);
}

static size_t tpack_req(const struct wire_replay_req *r, const struct tweak *w, char **out)
{
	struct tp t;
	int left;

	tp_start(&t, w->topic);
	tp_head(&t, w, 5, r->box, r->epoch, r->first, &left);
	if (--left > 0)
		msgpack_pack_uint64(&t.pk, r->last);
	tp_extra(&t, w->extra);
	return tp_end(&t, w, out);
}

static size_t tpack_rep(uint64_t status, uint64_t first, const struct wire_blob *m, uint32_t n,
			const struct tweak *w, char **out)
{
	struct tp t;
	uint32_t i;
	int left = 4 - w->missing;

	tp_start(&t, w->topic);
	msgpack_pack_array(&t.pk, (size_t)(left + w->extra));
	msgpack_pack_uint64(&t.pk, w->set_version ? w->version : WIRE_VERSION);
	if (--left > 0)
		msgpack_pack_uint64(&t.pk, status);
	if (--left > 0)
		msgpack_pack_uint64(&t.pk, first);
	if (--left > 0) {
		msgpack_pack_array(&t.pk, n);
		for (i = 0; i < n; i++) {
			msgpack_pack_bin(&t.pk, m[i].len);
			msgpack_pack_bin_body(&t.pk, m[i].p, m[i].len);
		}
	}
	tp_extra(&t, w->extra);
	return tp_end(&t, w, out);
}

/* ---- sample messages ------------------------------------------------------ */

static void small_delta(struct wire_delta *d)
{
	build_delta(d, 3, 10, 20, 0.75);
}

static void small_catalog(struct wire_catalog *c)
{
	wire_catalog_init(c);
	strcpy(c->box, "shaper-7");
	c->epoch = 77;
	c->seq = 12;
	cr_assert_eq(wire_catalog_add(c, 0, "cust-1", "Zoë Müller", "Región Norte/Torre 3"), 0);
	cr_assert_eq(wire_catalog_add(c, 5, "c-東京", "東京タワー 🗼", "アジア/東京"), 0);
	cr_assert_eq(wire_catalog_add(c, 70000, "x", "", ""), 0);
}

static void small_stats(struct wire_stats *s)
{
	memset(s, 0, sizeof(*s));
	strcpy(s->box, "shaper-7");
	s->epoch = 77;
	s->seq = 12;
	s->time_ns = 1718000001000000000ULL;
	strcpy(s->s[0].name, "packets");
	s->s[0].value = 123456789012ULL;
	strcpy(s->s[1].name, "samples");
	s->s[1].value = 0;
	strcpy(s->s[2].name, "agent_replay_deltas_sent");
	s->s[2].value = UINT64_MAX;
	s->n = 3;
}

/* ---- 1. round trips ------------------------------------------------------ */

Test(roundtrip, delta_many)
{
	struct wire_delta a, b;
	static struct hist_sparse s, back;
	const char *why = NULL;
	char *msg;
	size_t len;
	uint32_t i, k;

	build_delta(&a, 1000, 200000, 0, 3.0);
	/* the edges: underflow and overflow slots, extreme values */
	s = (struct hist_sparse){ .count = 3, .sum = UINT64_MAX, .min = 0, .max = UINT64_MAX,
				  .n = 2, .idx = { 0, PF_HIST_NSLOTS - 1 }, .cnt = { 2, 1 } };
	cr_assert_eq(wire_delta_add(&a, UINT32_MAX - 1, 1, &s), 0);
	s = (struct hist_sparse){ .count = UINT64_MAX, .sum = 5, .min = 953, .max = 953,
				  .n = 1, .idx = { 0 }, .cnt = { UINT64_MAX } };
	cr_assert_eq(wire_delta_add(&a, UINT32_MAX, 0, &s), 0);
	cr_assert_eq(wire_encode_delta(&a, &msg, &len), 0);
	cr_assert_eq(wire_kind_of(msg, len), WIRE_DELTA);
	cr_assert_str_eq(msg, "delta/shaper-7");
	wire_delta_init(&b);
	cr_assert_eq(wire_decode_delta(msg, len, &b, &why), 0, "%s", why);
	delta_eq(&a, &b);
	/* and against the sparse histograms themselves */
	wire_delta_get(&b, b.nh - 2, &back);
	cr_assert_eq(back.sum, UINT64_MAX);
	cr_assert_eq(back.max, UINT64_MAX);
	cr_assert_eq(back.idx[1], PF_HIST_NSLOTS - 1);
	for (i = 0; i < b.nh; i++) {
		wire_delta_get(&b, i, &back);
		CHECK(hist_sparse_validate(&back) == 0, "hist %u invalid", i);
		for (k = 0; k < back.n; k++)
			CHECK(back.cnt[k] > 0, "zero bucket");
	}
	free(msg);
	wire_delta_free(&a);
	wire_delta_free(&b);
}

Test(roundtrip, delta_empty)
{
	struct wire_delta a, b;
	const char *why = NULL;
	char *msg;
	size_t len;

	wire_delta_init(&a);
	strcpy(a.box, "b");
	a.seq = 1;
	cr_assert_eq(wire_encode_delta(&a, &msg, &len), 0);
	cr_assert_eq(len, strlen("delta/b") + 1 + 10, "empty delta is %zu bytes", len);
	wire_delta_init(&b);
	b.nh = 99;
	cr_assert_eq(wire_decode_delta(msg, len, &b, &why), 0, "%s", why);
	delta_eq(&a, &b);
	free(msg);
	wire_delta_free(&a);
	wire_delta_free(&b);
}

/* Decoding again into the same struct reuses it and leaves nothing stale. */
Test(roundtrip, delta_reuse)
{
	struct wire_delta big, small, d;
	const char *why;
	char *m1, *m2;
	size_t l1, l2;

	build_delta(&big, 500, 1000, 0, 2.0);
	build_delta(&small, 2, 5, 0, 2.0);
	cr_assert_eq(wire_encode_delta(&big, &m1, &l1), 0);
	cr_assert_eq(wire_encode_delta(&small, &m2, &l2), 0);
	wire_delta_init(&d);
	cr_assert_eq(wire_decode_delta(m1, l1, &d, &why), 0);
	delta_eq(&big, &d);
	cr_assert_eq(wire_decode_delta(m2, l2, &d, &why), 0);
	delta_eq(&small, &d);
	cr_assert_neq(wire_decode_delta(m1, l1 - 1, &d, &why), 0);
	cr_assert_eq(d.nh, 0);
	cr_assert_eq(d.nb, 0);
	free(m1);
	free(m2);
	wire_delta_free(&big);
	wire_delta_free(&small);
	wire_delta_free(&d);
}

static void catalog_eq(const struct wire_catalog *a, const struct wire_catalog *b)
{
	uint32_t i;

	cr_assert_str_eq(a->box, b->box);
	cr_assert_eq(a->epoch, b->epoch);
	cr_assert_eq(a->seq, b->seq);
	cr_assert_eq(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		cr_assert_eq(a->c[i].key, b->c[i].key);
		cr_assert_str_eq(a->c[i].id, b->c[i].id);
		cr_assert_str_eq(a->c[i].name, b->c[i].name);
		cr_assert_str_eq(a->c[i].site, b->c[i].site);
	}
}

Test(roundtrip, catalog_utf8)
{
	struct wire_catalog a, b;
	char id[64], name[128], site[256];
	const char *why = NULL;
	char *msg;
	size_t len;

	small_catalog(&a);
	/* the longest strings allowed */
	memset(id, 'i', 63), id[63] = '\0';
	memset(name, 'n', 125), strcpy(name + 125, "é");
	memset(site, 's', 251), strcpy(site + 251, "😀");
	cr_assert_eq(wire_catalog_add(&a, 80000, id, name, site), 0);
	cr_assert_eq(wire_encode_catalog(&a, &msg, &len), 0);
	cr_assert_eq(wire_kind_of(msg, len), WIRE_CATALOG);
	wire_catalog_init(&b);
	cr_assert_eq(wire_decode_catalog(msg, len, &b, &why), 0, "%s", why);
	catalog_eq(&a, &b);
	cr_assert_str_eq(b.c[1].name, "東京タワー 🗼");
	free(msg);
	/* empty */
	a.n = 0;
	cr_assert_eq(wire_encode_catalog(&a, &msg, &len), 0);
	cr_assert_eq(wire_decode_catalog(msg, len, &b, &why), 0, "%s", why);
	catalog_eq(&a, &b);
	free(msg);
	wire_catalog_free(&a);
	wire_catalog_free(&b);
}

static void stats_eq(const struct wire_stats *a, const struct wire_stats *b)
{
	uint32_t i;

	cr_assert_str_eq(a->box, b->box);
	cr_assert_eq(a->epoch, b->epoch);
	cr_assert_eq(a->seq, b->seq);
	cr_assert_eq(a->time_ns, b->time_ns);
	cr_assert_eq(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		cr_assert_str_eq(a->s[i].name, b->s[i].name);
		cr_assert_eq(a->s[i].value, b->s[i].value);
	}
}

Test(roundtrip, stats)
{
	struct wire_stats a, b;
	const char *why = NULL;
	char *msg;
	size_t len;
	uint32_t i;

	small_stats(&a);
	cr_assert_eq(wire_encode_stats(&a, &msg, &len), 0);
	cr_assert_eq(wire_kind_of(msg, len), WIRE_STATS);
	cr_assert_eq(wire_decode_stats(msg, len, &b, &why), 0, "%s", why);
	stats_eq(&a, &b);
	free(msg);
	/* all WIRE_MAX_STATS of them, 31-byte names */
	for (i = 0; i < WIRE_MAX_STATS; i++) {
		snprintf(a.s[i].name, sizeof(a.s[i].name), "counter_%02u_%.20s", i % 100,
			 "xxxxxxxxxxxxxxxxxxxxxx");
		a.s[i].value = rnd();
	}
	a.n = WIRE_MAX_STATS;
	cr_assert_eq(strlen(a.s[0].name), 31);
	cr_assert_eq(wire_encode_stats(&a, &msg, &len), 0);
	cr_assert_eq(wire_decode_stats(msg, len, &b, &why), 0, "%s", why);
	stats_eq(&a, &b);
	free(msg);
}

Test(roundtrip, replay)
{
	struct wire_replay_req r = { .box = "shaper-7", .epoch = 77, .first = 10, .last = 20 }, r2;
	struct wire_blob blobs[3], got[3];
	struct wire_delta d[3], back;
	char *dm[3], *msg;
	size_t dl[3], len;
	const char *why = NULL;
	uint64_t first = 0;
	uint32_t n = 99, i;
	int status = -1;

	cr_assert_eq(wire_encode_replay_req(&r, &msg, &len), 0);
	cr_assert_eq(wire_decode_replay_req(msg, len, &r2, &why), 0, "%s", why);
	cr_assert_str_eq(r2.box, r.box);
	cr_assert_eq(r2.epoch, 77);
	cr_assert_eq(r2.first, 10);
	cr_assert_eq(r2.last, 20);
	free(msg);

	for (i = 0; i < 3; i++) {
		build_delta(&d[i], i * 3, 100, 0, 2.0);
		d[i].seq = 10 + i;
		cr_assert_eq(wire_encode_delta(&d[i], &dm[i], &dl[i]), 0);
		blobs[i] = (struct wire_blob){ dm[i], dl[i] };
	}
	cr_assert_eq(wire_encode_replay_rep(WIRE_REPLAY_PARTIAL, 10, blobs, 3, &msg, &len), 0);
	cr_assert_eq(wire_decode_replay_rep(msg, len, &status, &first, got, 3, &n, &why), 0,
		     "%s", why);
	cr_assert_eq(status, WIRE_REPLAY_PARTIAL);
	cr_assert_eq(first, 10);
	cr_assert_eq(n, 3);
	wire_delta_init(&back);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(got[i].len, dl[i]);
		cr_assert(got[i].p >= (const void *)msg && got[i].p < (const void *)(msg + len));
		cr_assert_eq(memcmp(got[i].p, dm[i], dl[i]), 0);
		cr_assert_eq(wire_decode_delta(got[i].p, got[i].len, &back, &why), 0);
		delta_eq(&d[i], &back);
	}
	/* a caller with room for fewer: E2BIG, not a silent cut */
	cr_assert_eq(wire_decode_replay_rep(msg, len, &status, &first, got, 2, &n, &why), -E2BIG);
	cr_assert_eq(n, 0);
	free(msg);
	/* no epoch, nothing */
	cr_assert_eq(wire_encode_replay_rep(WIRE_REPLAY_NO_EPOCH, 0, NULL, 0, &msg, &len), 0);
	cr_assert_eq(wire_decode_replay_rep(msg, len, &status, &first, got, 0, &n, &why), 0);
	cr_assert_eq(status, WIRE_REPLAY_NO_EPOCH);
	cr_assert_eq(n, 0);
	free(msg);
	for (i = 0; i < 3; i++) {
		free(dm[i]);
		wire_delta_free(&d[i]);
	}
	wire_delta_free(&back);
}

/* Reserved room: what is there is kept, and adding within it moves nothing. */
Test(roundtrip, delta_reserve)
{
	struct wire_delta a, b;
	const struct wire_hist *h;
	const struct wire_bucket *bk;
	char *m1, *m2;
	size_t l1, l2;

	build_delta(&a, 10, 100, 5, 1.0);
	cr_assert_eq(wire_encode_delta(&a, &m1, &l1), 0);
	cr_assert_eq(wire_delta_reserve(&a, 4000, 9000), 0);
	cr_assert(a.cap_h >= 4000 && a.cap_b >= 9000, "room for %u and %u", a.cap_h, a.cap_b);
	cr_assert_eq(wire_encode_delta(&a, &m2, &l2), 0);
	cr_assert(l1 == l2 && !memcmp(m1, m2, l1), "reserving changed the delta");
	free(m1);
	free(m2);
	h = a.h;
	bk = a.b;
	build_delta(&b, 1500, 200000, 3, 1.0);	/* 3000 hists, 1 to 3 buckets each */
	wire_delta_reset(&a);
	for (uint32_t i = 0; i < b.nh; i++) {
		static struct hist_sparse s;

		wire_delta_get(&b, i, &s);
		cr_assert_eq(wire_delta_add(&a, b.h[i].key, b.h[i].half, &s), 0);
	}
	cr_assert(a.h == h && a.b == bk, "adding within the reserved room moved the arrays");
	wire_delta_free(&a);
	wire_delta_free(&b);
}

Test(roundtrip, kind_of)
{
	cr_assert_eq(wire_kind_of("delta/a\0\x90", 9), WIRE_DELTA);
	cr_assert_eq(wire_kind_of("catalog/a.b-c_d\0", 16), WIRE_CATALOG);
	cr_assert_eq(wire_kind_of("stats/a\0", 8), WIRE_STATS);
	cr_assert_eq(wire_kind_of("delta/a", 7), -EINVAL);		/* no NUL */
	cr_assert_eq(wire_kind_of("delta/\0", 7), -EINVAL);		/* no box */
	cr_assert_eq(wire_kind_of("delta\0", 6), -EINVAL);
	cr_assert_eq(wire_kind_of("deltas/a\0", 9), -EINVAL);
	cr_assert_eq(wire_kind_of("delta/a b\0", 10), -EINVAL);
	cr_assert_eq(wire_kind_of("other/a\0", 8), -EINVAL);
	cr_assert_eq(wire_kind_of("", 0), -EINVAL);
}

/* ---- 2. limits ----------------------------------------------------------- */

/* A full histogram: every slot, counts 1..100, min/max at the ends. */
static void full_hist(struct hist_sparse *s, uint32_t seed)
{
	uint32_t k;

	s->n = PF_HIST_NSLOTS;
	s->count = 0;
	for (k = 0; k < PF_HIST_NSLOTS; k++) {
		s->idx[k] = (uint16_t)k;
		s->cnt[k] = 1 + (k * 7 + seed) % 100;
		s->count += s->cnt[k];
	}
	s->sum = s->count * 20000000ULL + seed;
	s->min = 500;
	s->max = PF_HIST_OVER_MIN_NS + seed;
}

Test(limits, largest_by_size, .timeout = 120)
{
	static struct hist_sparse s;
	struct wire_delta a, b;
	const char *why = NULL;
	char *msg, *big;
	size_t len, per;
	uint32_t i, n;

	/* how big one full entry is, then as many as fit */
	wire_delta_init(&a);
	strcpy(a.box, "shaper-7");
	full_hist(&s, 1);
	cr_assert_eq(wire_delta_add(&a, 100000, 0, &s), 0);
	cr_assert_eq(wire_encode_delta(&a, &msg, &len), 0);
	free(msg);
	per = len;
	full_hist(&s, 2);
	cr_assert_eq(wire_delta_add(&a, 100000, 1, &s), 0);
	cr_assert_eq(wire_encode_delta(&a, &msg, &len), 0);
	free(msg);
	per = len - per;
	/* head = len - 2 * per, and 4 more bytes for an array32 header */
	n = (uint32_t)((WIRE_MAX_MSG - (len - 2 * per) - 4) / per);
	wire_delta_reset(&a);
	for (i = 0; i < n; i++) {
		full_hist(&s, i);
		CHECK(wire_delta_add(&a, 100000 + i / 2, (uint8_t)(i % 2), &s) == 0, "add %u", i);
	}
	cr_assert_eq(wire_encode_delta(&a, &msg, &len), 0);
	cr_log_info("largest delta: %u full %d-slot customer-halves, %zu bytes (limit %u)",
		    n, PF_HIST_NSLOTS, len, WIRE_MAX_MSG);
	cr_assert(len <= WIRE_MAX_MSG && len > WIRE_MAX_MSG - 8192, "%zu bytes", len);
	wire_delta_init(&b);
	cr_assert_eq(wire_decode_delta(msg, len, &b, &why), 0, "%s", why);
	delta_eq(&a, &b);

	/* one byte over the limit: rejected before anything is read */
	big = malloc(WIRE_MAX_MSG + 1);
	cr_assert_not_null(big);
	memcpy(big, msg, len);
	memset(big + len, 0, WIRE_MAX_MSG + 1 - len);
	expect_delta_fail(big, WIRE_MAX_MSG + 1, -E2BIG, NULL);
	free(big);
	free(msg);

	/* a few entries more: the encoder refuses */
	for (i = n; i < n + 20; i++) {
		full_hist(&s, i);
		cr_assert_eq(wire_delta_add(&a, 100000 + i / 2, (uint8_t)(i % 2), &s), 0);
	}
	cr_assert_eq(wire_encode_delta(&a, &msg, &len), -E2BIG);
	wire_delta_free(&a);
	wire_delta_free(&b);
}

Test(limits, most_hists, .timeout = 120)
{
	static struct hist_sparse s = { .count = 1, .sum = 5, .min = 5, .max = 5, .n = 1,
					.idx = { 0 }, .cnt = { 1 } };
	struct wire_delta a, b;
	const char *why = NULL;
	char *msg;
	size_t len;
	uint32_t i;

	wire_delta_init(&a);
	strcpy(a.box, "shaper-7");
	for (i = 0; i < WIRE_MAX_HISTS; i++)
		CHECK(wire_delta_add(&a, i / 2, (uint8_t)(i % 2), &s) == 0, "add %u", i);
	cr_assert_eq(wire_delta_add(&a, UINT32_MAX, 0, &s), -E2BIG);
	cr_assert_eq(wire_encode_delta(&a, &msg, &len), 0);
	cr_assert_eq(a.cap_h, WIRE_MAX_HISTS);
	cr_log_info("delta of WIRE_MAX_HISTS (%u) one-bucket entries: %zu bytes", a.nh, len);
	wire_delta_init(&b);
	cr_assert_eq(wire_decode_delta(msg, len, &b, &why), 0, "%s", why);
	delta_eq(&a, &b);
	free(msg);

	/* one entry more, packed by hand: refused by count, not by size */
	a.h = realloc(a.h, (a.nh + 1) * sizeof(*a.h));
	cr_assert_not_null(a.h);
	a.cap_h = a.nh + 1;
	a.h[a.nh] = a.h[a.nh - 1];
	a.h[a.nh].key++;
	a.nh++;
	len = tpack_delta(&a, &(struct tweak){ 0 }, &msg);
	expect_delta_fail(msg, len, -EINVAL,
			  "delta: hists: 4194305 entries, more than WIRE_MAX_HISTS");
	free(msg);
	wire_delta_free(&a);
	wire_delta_free(&b);
}

/* ---- the writer against msgpack-c ---------------------------------------- */

static void same_bytes(const char *what, const char *mine, size_t ml, char *theirs, size_t tl)
{
	cr_assert_eq(ml, tl, "%s: %zu bytes, msgpack-c's %zu", what, ml, tl);
	cr_assert_eq(memcmp(mine, theirs, ml), 0, "%s: the bytes differ from msgpack-c's", what);
	free(theirs);
}

/* d encoded by the encoder and by tpack_delta: the same bytes */
static void same_delta(const char *what, const struct wire_delta *d)
{
	char *mine, *theirs;
	size_t ml, tl;

	cr_assert_eq(wire_encode_delta(d, &mine, &ml), 0, "%s", what);
	tl = tpack_delta(d, &(struct tweak){ 0 }, &theirs);
	same_bytes(what, mine, ml, theirs, tl);
	free(mine);
}

/* n buckets in slots first, first + gap, ...; min and max at their edges */
static void spaced_hist(struct hist_sparse *s, uint32_t n, uint32_t first, uint32_t gap,
			uint64_t cnt)
{
	uint32_t k;

	s->n = n;
	s->count = 0;
	for (k = 0; k < n; k++) {
		s->idx[k] = (uint16_t)(first + k * gap);
		s->cnt[k] = cnt + k;
		s->count += cnt + k;
	}
	s->sum = s->count * 7;
	s->min = hist_slot_lo(s->idx[0]);
	s->max = hist_slot_hi(s->idx[n - 1]);
}

/*
 * The encoder writes MessagePack itself (common/wire.c, "the writer"): the
 * bytes must be what msgpack-c's packer writes (tpack_*) for every message
 * kind, at the edge of every integer, array, map, string and binary form.
 */
Test(writer, same_bytes_as_msgpack_c, .timeout = 60)
{
	static const uint64_t edge[] = { 0, 1, 127, 128, 255, 256, 65535, 65536,
					 UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX };
	static const uint32_t nbuckets[] = { 1, 2, 8, 9, 100, PF_HIST_NSLOTS };
	static const size_t slen[] = { 0, 1, 31, 32, 63, 127, 255 };
	static struct hist_sparse s;
	static struct wire_stats st;
	struct wire_replay_req r = { .box = "shaper-7" };
	struct wire_delta d, big;
	struct wire_catalog c;
	struct wire_blob bl[3];
	char *mine, *theirs, *dm[3];
	char id[64], name[128], site[256];
	size_t ml, tl, dl[3];
	uint32_t i, k, key = 0;

	/* deltas: every integer form in every field */
	wire_delta_init(&d);
	strcpy(d.box, "b");
	for (i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
		uint64_t e = edge[i];

		d.epoch = e, d.seq = e, d.start_ns = e, d.end_ns = e;
		key = e > UINT32_MAX ? UINT32_MAX : (uint32_t)e;
		wire_delta_reset(&d);
		/* the underflow slot: min 0..953; the overflow slot: min and max past 2^32 */
		s = (struct hist_sparse){ .count = e ? e : 1, .sum = e,
					  .min = e < PF_HIST_UNDER_MAX_NS ? e : 0,
					  .max = PF_HIST_UNDER_MAX_NS, .n = 1, .idx = { 0 },
					  .cnt = { e ? e : 1 } };
		cr_assert_eq(wire_delta_add(&d, key, 0, &s), 0);
		s = (struct hist_sparse){ .count = 1, .sum = UINT64_MAX - e,
					  .min = PF_HIST_OVER_MIN_NS,
					  .max = e > PF_HIST_OVER_MIN_NS ? e : PF_HIST_OVER_MIN_NS,
					  .n = 1, .idx = { PF_HIST_NSLOTS - 1 }, .cnt = { 1 } };
		cr_assert_eq(wire_delta_add(&d, key, 1, &s), 0);
		same_delta("delta of integer edges", &d);
	}
	/* bucket arrays of 1 to 2 * PF_HIST_NSLOTS - 1 values, gaps of 1 to 209 */
	wire_delta_reset(&d);
	for (i = 0; i < sizeof(nbuckets) / sizeof(nbuckets[0]); i++) {
		k = nbuckets[i];
		spaced_hist(&s, k, 0, k == 1 ? 1 : (PF_HIST_NSLOTS - 1) / (k - 1), 200);
		cr_assert_eq(wire_delta_add(&d, i, 0, &s), 0);
	}
	same_delta("delta of bucket arrays", &d);
	/* arrays of 15, 16 and 65536 customer-halves */
	wire_delta_init(&big);
	strcpy(big.box, "shaper-7");
	spaced_hist(&s, 1, 100, 1, 1);
	for (i = 0; i < 65536; i++) {
		cr_assert_eq(wire_delta_add(&big, i / 2, (uint8_t)(i % 2), &s), 0);
		if (i + 1 == 15 || i + 1 == 16 || i + 1 == 65536)
			same_delta("delta of many customer-halves", &big);
	}

	/* a catalog: strings of every form, 17 entries (an array16) */
	wire_catalog_init(&c);
	strcpy(c.box, "shaper-7");
	c.epoch = UINT64_MAX;
	c.seq = 300;
	for (i = 0; i < 17; i++) {
		size_t n = slen[i % 7];

		memset(id, 'i', sizeof(id));
		id[n < 1 ? 1 : n > 63 ? 63 : n] = '\0';
		memset(name, 'n', sizeof(name));
		name[n > 127 ? 127 : n] = '\0';
		memset(site, 's', sizeof(site));
		site[n] = '\0';
		key = i < 8 ? (uint32_t)edge[i] : i < 16 ? 65536 + i : UINT32_MAX;
		cr_assert_eq(wire_catalog_add(&c, key, id, name, site), 0,
			     "entry %u", i);
	}
	cr_assert_eq(wire_encode_catalog(&c, &mine, &ml), 0);
	tl = tpack_catalog(&c, &(struct tweak){ 0 }, &theirs);
	same_bytes("catalog", mine, ml, theirs, tl);
	free(mine);
	wire_catalog_free(&c);

	/* stats: maps of 15, 16 and WIRE_MAX_STATS */
	small_stats(&st);
	for (i = 0; i < WIRE_MAX_STATS; i++) {
		snprintf(st.s[i].name, sizeof(st.s[i].name), "c%u", i);
		st.s[i].value = edge[i % 11];
	}
	for (i = 15; i <= WIRE_MAX_STATS; i += i == 16 ? WIRE_MAX_STATS - 16 : 1) {
		st.n = i;
		cr_assert_eq(wire_encode_stats(&st, &mine, &ml), 0);
		tl = tpack_stats(&st, &(struct tweak){ 0 }, &theirs);
		same_bytes("stats", mine, ml, theirs, tl);
		free(mine);
	}

	/* replay: a request; a reply of binaries of 8-, 16- and 32-bit lengths */
	r.epoch = UINT64_MAX, r.first = 65536, r.last = UINT32_MAX;
	cr_assert_eq(wire_encode_replay_req(&r, &mine, &ml), 0);
	tl = tpack_req(&r, &(struct tweak){ 0 }, &theirs);
	same_bytes("replay request", mine, ml, theirs, tl);
	free(mine);
	wire_delta_reset(&d);
	cr_assert_eq(wire_encode_delta(&d, &dm[0], &dl[0]), 0);
	wire_delta_free(&d);
	build_delta(&d, 100, 1000, 0, 2.0);
	cr_assert_eq(wire_encode_delta(&d, &dm[1], &dl[1]), 0);
	cr_assert_eq(wire_encode_delta(&big, &dm[2], &dl[2]), 0);
	cr_assert(dl[0] < 256 && dl[1] >= 256 && dl[1] < 65536 && dl[2] >= 65536,
		  "blobs of %zu, %zu, %zu bytes", dl[0], dl[1], dl[2]);
	for (i = 0; i < 3; i++)
		bl[i] = (struct wire_blob){ dm[i], dl[i] };
	cr_assert_eq(wire_encode_replay_rep(WIRE_REPLAY_PARTIAL, UINT64_MAX, bl, 3, &mine, &ml), 0);
	tl = tpack_rep(WIRE_REPLAY_PARTIAL, UINT64_MAX, bl, 3, &(struct tweak){ 0 }, &theirs);
	same_bytes("replay reply", mine, ml, theirs, tl);
	free(mine);
	for (i = 0; i < 3; i++)
		free(dm[i]);
	wire_delta_free(&d);
	wire_delta_free(&big);
}

/* ---- compactness --------------------------------------------------------- */

static double bytes_per_entry(uint32_t key_space)
{
	struct wire_delta d;
	char *msg;
	size_t len;

	build_delta(&d, 5000, key_space, 20, 0.75);
	cr_assert_eq(d.nh, 10000);
	cr_assert_eq(wire_encode_delta(&d, &msg, &len), 0);
	free(msg);
	wire_delta_free(&d);
	return (double)len / 10000;
}

Test(compact, bytes_per_customer_half)
{
	/* 5,000 of 100,000 customers, both halves: 20 samples each, 10-30 ms, 6 buckets */
	double wide = bytes_per_entry(100000), narrow = bytes_per_entry(60000);

	cr_log_info("delta bytes per customer-half: %.2f (keys up to 100000), %.2f (keys < 65536)",
		    wide, narrow);
	cr_assert_leq(wide, 40.0, "%.2f bytes per customer-half", wide);
	cr_assert_leq(narrow, 40.0, "%.2f bytes per customer-half", narrow);
}

/* ---- 3. truncation at every byte ------------------------------------------ */

typedef int (*decode_fn)(const char *msg, size_t len, const char **why);

static struct wire_delta trunc_d;
static struct wire_catalog trunc_c;

static int dec_delta(const char *m, size_t l, const char **why)
{
	return wire_decode_delta(m, l, &trunc_d, why);
}

static int dec_catalog(const char *m, size_t l, const char **why)
{
	return wire_decode_catalog(m, l, &trunc_c, why);
}

static int dec_stats(const char *m, size_t l, const char **why)
{
	struct wire_stats s;

	return wire_decode_stats(m, l, &s, why);
}

static int dec_req(const char *m, size_t l, const char **why)
{
	struct wire_replay_req r;

	return wire_decode_replay_req(m, l, &r, why);
}

static int dec_rep(const char *m, size_t l, const char **why)
{
	struct wire_blob b[16];
	uint64_t first;
	uint32_t n;
	int st;

	return wire_decode_replay_rep(m, l, &st, &first, b, 16, &n, why);
}

/* Every strict prefix is rejected with a reason; the whole is accepted. */
static void truncate_all(const char *what, decode_fn fn, const char *msg, size_t len)
{
	const char *why;
	size_t cut;
	char *copy;

	why = NULL;
	CHECK(fn(msg, len, &why) == 0, "%s: whole message rejected: %s", what, why);
	for (cut = 0; cut < len; cut++) {
		/* a copy of exactly 'cut' bytes, so ASan/valgrind see any over-read */
		copy = malloc(cut ? cut : 1);
		memcpy(copy, msg, cut);
		why = NULL;
		CHECK(fn(copy, cut, &why) < 0, "%s cut at %zu of %zu: accepted", what, cut, len);
		CHECK(why && *why, "%s cut at %zu: no reason", what, cut);
		free(copy);
	}
}

Test(truncation, every_byte)
{
	struct wire_delta d;
	struct wire_catalog c;
	struct wire_stats s;
	struct wire_replay_req r = { .box = "shaper-7", .epoch = 1ULL << 40, .first = 1,
				     .last = 300 };
	struct wire_blob blobs[2];
	char *m[2], *msg;
	size_t ml[2], len;

	wire_delta_init(&trunc_d);
	wire_catalog_init(&trunc_c);
	build_delta(&d, 40, 100000, 0, 3.0);
	cr_assert_eq(wire_encode_delta(&d, &m[0], &ml[0]), 0);
	truncate_all("delta", dec_delta, m[0], ml[0]);
	wire_delta_free(&d);
	build_delta(&d, 0, 1, 0, 1.0);
	cr_assert_eq(wire_encode_delta(&d, &m[1], &ml[1]), 0);
	truncate_all("empty delta", dec_delta, m[1], ml[1]);
	wire_delta_free(&d);

	small_catalog(&c);
	cr_assert_eq(wire_encode_catalog(&c, &msg, &len), 0);
	truncate_all("catalog", dec_catalog, msg, len);
	free(msg);
	wire_catalog_free(&c);

	small_stats(&s);
	cr_assert_eq(wire_encode_stats(&s, &msg, &len), 0);
	truncate_all("stats", dec_stats, msg, len);
	free(msg);

	cr_assert_eq(wire_encode_replay_req(&r, &msg, &len), 0);
	truncate_all("replay request", dec_req, msg, len);
	free(msg);

	blobs[0] = (struct wire_blob){ m[0], ml[0] };
	blobs[1] = (struct wire_blob){ m[1], ml[1] };
	cr_assert_eq(wire_encode_replay_rep(WIRE_REPLAY_OK, 1, blobs, 2, &msg, &len), 0);
	truncate_all("replay answer", dec_rep, msg, len);
	free(msg);

	/* a message with later-version fields is truncated inside them too */
	build_delta(&d, 2, 10, 0, 1.0);
	len = tpack_delta(&d, &(struct tweak){ .extra = 2, .entry_extra = 1 }, &msg);
	truncate_all("delta with extra fields", dec_delta, msg, len);
	free(msg);
	wire_delta_free(&d);

	free(m[0]);
	free(m[1]);
	wire_delta_free(&trunc_d);
	wire_catalog_free(&trunc_c);
}

/* ---- 4. wrong types at every field ----------------------------------------- */

/*
 * Re-packs a msgpack tree with object number 'target' (preorder) replaced
 * by a value of another type: variant 0 nil, 1 a string (for an integer)
 * or an integer (for the rest), 2 a negative integer, 3 a float.
 * Returns false when the variant does not apply to that object.
 */
static bool repack(msgpack_packer *pk, const msgpack_object *o, int *idx, int target,
		   int variant, bool *applied)
{
	uint32_t i;

	if ((*idx)++ == target) {
		bool is_int = o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;

		*applied = true;
		switch (variant) {
		case 0:
			msgpack_pack_nil(pk);
			return true;
		case 1:
			if (is_int) {
				msgpack_pack_str(pk, 1);
				msgpack_pack_str_body(pk, "7", 1);
			} else {
				msgpack_pack_uint64(pk, 1);
			}
			return true;
		case 2:
			msgpack_pack_int64(pk, -1);
			return is_int;
		default:
			msgpack_pack_double(pk, 1.0);
			return is_int;
		}
	}
	switch (o->type) {
	case MSGPACK_OBJECT_ARRAY:
		msgpack_pack_array(pk, o->via.array.size);
		for (i = 0; i < o->via.array.size; i++)
			if (!repack(pk, &o->via.array.ptr[i], idx, target, variant, applied))
				return false;
		return true;
	case MSGPACK_OBJECT_MAP:
		msgpack_pack_map(pk, o->via.map.size);
		for (i = 0; i < o->via.map.size; i++)
			if (!repack(pk, &o->via.map.ptr[i].key, idx, target, variant, applied) ||
			    !repack(pk, &o->via.map.ptr[i].val, idx, target, variant, applied))
				return false;
		return true;
	default:
		msgpack_pack_object(pk, *o);
		return true;
	}
}

/* Every object of the body of msg, replaced by every wrong type, is rejected. */
static void wrong_types(const char *what, decode_fn fn, const char *msg, size_t len,
			size_t topic_len)
{
	msgpack_unpacked up;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t off = 0;
	int target, variant, idx, tested = 0;
	bool applied, ok;
	const char *why;

	msgpack_unpacked_init(&up);
	cr_assert_eq(msgpack_unpack_next(&up, msg + topic_len, len - topic_len, &off),
		     MSGPACK_UNPACK_SUCCESS);
	/* sanity: re-packing unchanged gives the same bytes */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	idx = 0;
	applied = false;
	repack(&pk, &up.data, &idx, -1, 0, &applied);
	cr_assert_eq(sb.size, len - topic_len);
	cr_assert_eq(memcmp(sb.data, msg + topic_len, sb.size), 0);
	msgpack_sbuffer_destroy(&sb);

	for (target = 0;; target++) {
		applied = false;
		for (variant = 0; variant < 4; variant++) {
			msgpack_sbuffer_init(&sb);
			if (topic_len)
				msgpack_sbuffer_write(&sb, msg, topic_len);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			idx = 0;
			applied = false;
			ok = repack(&pk, &up.data, &idx, target, variant, &applied);
			if (applied && ok) {
				why = NULL;
				CHECK(fn(sb.data, sb.size, &why) < 0,
				      "%s: object %d as variant %d accepted", what, target, variant);
				CHECK(why && !strncmp(why, what, strlen(what)),
				      "%s: object %d: reason '%s'", what, target, why);
				tested++;
			}
			msgpack_sbuffer_destroy(&sb);
			if (!applied)
				break;
		}
		if (!applied)
			break;
	}
	cr_assert_gt(tested, 10);
	msgpack_unpacked_destroy(&up);
}

Test(malformed, wrong_types)
{
	struct wire_delta d;
	struct wire_catalog c;
	struct wire_stats s;
	struct wire_replay_req r = { .box = "b", .epoch = 1, .first = 1, .last = 2 };
	struct wire_blob blob;
	char *msg, *dm;
	size_t len, dl;

	wire_delta_init(&trunc_d);
	wire_catalog_init(&trunc_c);
	build_delta(&d, 3, 10, 0, 2.0);
	cr_assert_eq(wire_encode_delta(&d, &dm, &dl), 0);
	wrong_types("delta", dec_delta, dm, dl, strlen(dm) + 1);

	small_catalog(&c);
	cr_assert_eq(wire_encode_catalog(&c, &msg, &len), 0);
	wrong_types("catalog", dec_catalog, msg, len, strlen(msg) + 1);
	free(msg);
	wire_catalog_free(&c);

	small_stats(&s);
	cr_assert_eq(wire_encode_stats(&s, &msg, &len), 0);
	wrong_types("stats", dec_stats, msg, len, strlen(msg) + 1);
	free(msg);

	cr_assert_eq(wire_encode_replay_req(&r, &msg, &len), 0);
	wrong_types("replay request", dec_req, msg, len, 0);
	free(msg);

	blob = (struct wire_blob){ dm, dl };
	cr_assert_eq(wire_encode_replay_rep(WIRE_REPLAY_OK, 1, &blob, 1, &msg, &len), 0);
	wrong_types("replay answer", dec_rep, msg, len, 0);
	free(msg);
	free(dm);
	wire_delta_free(&d);
	wire_delta_free(&trunc_d);
	wire_catalog_free(&trunc_c);
}

/* Exact reasons for a few fields, so a reason names what failed. */
Test(malformed, reasons_name_the_field)
{
	/* padded so that the body's 8 fields are not refused as too many for the bytes */
#define PAD "\0\0\0\0\0\0\0\0"
	static const char s_epoch[] = "delta/b\0\x98\x01\xa1" "b" "\xa1x" PAD;
	static const char s_neg[] = "delta/b\0\x98\x01\xa1" "b" "\x01\xff" PAD;
	static const char s_int8[] = "delta/b\0\x98\x01\xa1" "b" "\xd0\xfe" PAD;
	static const char s_ver[] = "delta/b\0\x98\x02" PAD;
	static const char s_ver0[] = "delta/b\0\x98\x00" PAD;
	static const char s_body[] = "delta/b\0\xc0";
	static const char s_c1[] = "delta/b\0\xc1";

	expect_delta_fail(s_epoch, sizeof(s_epoch) - 1, -EINVAL,
			  "delta: epoch: not an unsigned integer");
	expect_delta_fail(s_neg, sizeof(s_neg) - 1, -EINVAL, "delta: seq: negative");
	expect_delta_fail(s_int8, sizeof(s_int8) - 1, -EINVAL, "delta: epoch: negative");
	expect_delta_fail(s_ver, sizeof(s_ver) - 1, -EINVAL,
			  "delta: unknown version 2 (this receiver knows 1)");
	expect_delta_fail(s_ver0, sizeof(s_ver0) - 1, -EINVAL,
			  "delta: unknown version 0 (this receiver knows 1)");
	expect_delta_fail(s_body, sizeof(s_body) - 1, -EINVAL, "delta: body: not an array");
	expect_delta_fail(s_c1, sizeof(s_c1) - 1, -EINVAL, "delta: body: not an array");
	expect_delta_fail(s_ver, 8, -EINVAL, "delta: body: truncated");
}

/* Signed and wider-than-needed integers holding a valid value are accepted. */
Test(malformed, integer_forms)
{
	static const char m[] = "delta/b\0\x98\xd0\x01\xa1" "b"
		"\xcf\0\0\0\0\0\0\0\x05"	/* epoch 5 as uint64 */
		"\xd3\0\0\0\0\0\0\0\x06"	/* seq 6 as int64 */
		"\xcc\x07\xcd\0\x08\x03\x90";
	struct wire_delta d;
	const char *why;

	wire_delta_init(&d);
	cr_assert_eq(wire_decode_delta(m, sizeof(m) - 1, &d, &why), 0, "%s", why);
	cr_assert_eq(d.epoch, 5);
	cr_assert_eq(d.seq, 6);
	cr_assert_eq(d.start_ns, 7);
	cr_assert_eq(d.end_ns, 8);
	wire_delta_free(&d);
}

/* ---- lengths beyond the buffer, absurd counts ------------------------------ */

static void huge_delta(const char *msg, size_t len, const char *why_want)
{
	struct wire_delta d;
	const char *why = NULL;

	wire_delta_init(&d);
	cr_assert_eq(wire_decode_delta(msg, len, &d, &why), -EINVAL);
	cr_assert_str_eq(why, why_want);
	cr_assert_eq(d.cap_h, 0, "allocated %u entries", d.cap_h);
	cr_assert_eq(d.cap_b, 0, "allocated %u buckets", d.cap_b);
	wire_delta_free(&d);
}

#define HEAD "delta/b\0\x98\x01\xa1" "b" "\x01\x02\x03\x04\x03"
#define HIST0 "\x98\x01\x00\x01\x05\x05\x05\x00"

Test(malformed, lengths_beyond_the_buffer)
{
	static const char h1[] = HEAD "\xdd\xff\xff\xff\xff" "0123456789";
	static const char h2[] = HEAD "\xdd\x00\x01\x00\x00" "0123456789";
	static const char h3[] = HEAD "\xdc\x00\x02" "0123456789";
	static const char b1[] = "delta/b\0\x98\x01\xdb\xff\xff\xff\xff" "0123456789";
	static const char k1[] = HEAD "\x91" HIST0 "\xdd\xff\xff\xff\xff" "012345";
	static const char e1[] = "delta/b\0\x99\x01\xa1" "b" "\x01\x02\x03\x04\x03\x90"
				 "\xdd\xff\xff\xff\xfe" "0123";
	static const char e2[] = "delta/b\0\x99\x01\xa1" "b" "\x01\x02\x03\x04\x03\x90"
				 "\xc6\xff\xff\xff\xfe" "0123";
	static const char e3[] = "delta/b\0\x99\x01\xa1" "b" "\x01\x02\x03\x04\x03\x90"
				 "\x91\x91\x91\xdf\x7f\xff\xff\xff" "0123";
	static const char c1[] = "catalog/b\0\x95\x01\xa1" "b" "\x01\x02\xdd\xff\xff\xff\xff"
				 "0123456789";
	static const char c2[] = "catalog/b\0\x95\x01\xa1" "b" "\x01\x02\xdd\x00\x00\x10\x00"
				 "0123456789";
	static const char s1[] = "stats/b\0\x96\x01\xa1" "b" "\x01\x02\x03\xdf\xff\xff\xff\xff"
				 "0123456789";
	static const char r1[] = "\x94\x01\x00\x01\xdd\xff\xff\xff\xff" "0123456789";
	static const char r2[] = "\x94\x01\x00\x01\x91\xc6\xff\xff\xff\xff" "0123456789";
	struct wire_catalog c;
	struct wire_stats s;
	struct wire_blob bl[4];
	const char *why;
	uint64_t first;
	uint32_t n;
	int st;

	huge_delta(h1, sizeof(h1) - 1, "delta: hists: 4294967295 entries, more than WIRE_MAX_HISTS");
	huge_delta(h2, sizeof(h2) - 1, "delta: hists: 65536 entries but only 10 bytes left");
	huge_delta(h3, sizeof(h3) - 1, "delta: hists: 2 entries but only 10 bytes left");
	huge_delta(b1, sizeof(b1) - 1, "delta: box: length 4294967295 but only 10 bytes left");
	huge_delta(e1, sizeof(e1) - 1,
		   "delta: extra field: 4294967294 entries but only 4 bytes left");
	huge_delta(e2, sizeof(e2) - 1, "delta: extra field: truncated");
	huge_delta(e3, sizeof(e3) - 1,
		   "delta: extra field: 4294967294 entries but only 4 bytes left");
	expect_delta_fail(k1, sizeof(k1) - 1, -EINVAL,
			  "delta: hist 0: buckets: 4294967295 entries but only 6 bytes left");

	wire_catalog_init(&c);
	cr_assert_eq(wire_decode_catalog(c1, sizeof(c1) - 1, &c, &why), -EINVAL);
	cr_assert_str_eq(why, "catalog: customers: 4294967295 entries, more than WIRE_MAX_CUSTS");
	cr_assert_eq(wire_decode_catalog(c2, sizeof(c2) - 1, &c, &why), -EINVAL);
	cr_assert_str_eq(why, "catalog: customers: 4096 entries but only 10 bytes left");
	cr_assert_eq(c.cap, 0);
	wire_catalog_free(&c);

	cr_assert_eq(wire_decode_stats(s1, sizeof(s1) - 1, &s, &why), -EINVAL);
	cr_assert_str_eq(why, "stats: counters: 4294967295, more than WIRE_MAX_STATS");

	cr_assert_eq(wire_decode_replay_rep(r1, sizeof(r1) - 1, &st, &first, bl, UINT32_MAX, &n,
					    &why), -EINVAL);
	cr_assert_str_eq(why, "replay answer: messages: 4294967295 entries but only 10 bytes left");
	cr_assert_eq(wire_decode_replay_rep(r2, sizeof(r2) - 1, &st, &first, bl, 4, &n, &why),
		     -EINVAL);
	cr_assert_str_eq(why,
			 "replay answer: message 0: bytes: length 4294967295 but only 10 bytes left");
}

/* ---- broken histograms, order, topics, trailing bytes ---------------------- */

/* The small delta packed by tpack_delta after 'mutate' changed it. */
static void bad_delta(void (*mutate)(struct wire_delta *), const struct tweak *w,
		      const char *why_want)
{
	struct wire_delta d;
	char *msg;
	size_t len;

	small_delta(&d);
	if (mutate)
		mutate(&d);
	len = tpack_delta(&d, w, &msg);
	expect_delta_fail(msg, len, -EINVAL, why_want);
	free(msg);
	wire_delta_free(&d);
}

static void m_slot_range(struct wire_delta *d) { d->b[d->h[1].off].slot = PF_HIST_NSLOTS; }
static void m_gap_range(struct wire_delta *d)
{
	d->b[d->h[1].off + d->h[1].nb - 1].slot = 300;
}
static void m_gap_zero(struct wire_delta *d)
{
	cr_assert_geq(d->h[3].nb, 3);
	d->b[d->h[3].off + 2].slot = d->b[d->h[3].off + 1].slot;
}
static void m_gap_neg(struct wire_delta *d)
{
	cr_assert_geq(d->h[3].nb, 3);
	d->b[d->h[3].off + 2].slot = (uint16_t)(d->b[d->h[3].off + 1].slot - 1);
}
static void m_count(struct wire_delta *d) { d->h[2].count++; }
static void m_count0(struct wire_delta *d) { d->h[2].count = 0; d->h[2].nb = 0; }
static void m_bucket0(struct wire_delta *d)
{
	cr_assert_geq(d->h[2].nb, 2);
	d->h[2].count -= d->b[d->h[2].off + 1].n;
	d->b[d->h[2].off + 1].n = 0;
}
static void m_minmax(struct wire_delta *d)
{
	d->h[0].nb = 1;
	d->h[0].count = d->b[d->h[0].off].n;
	d->h[0].min = hist_slot_hi(d->b[d->h[0].off].slot);
	d->h[0].max = hist_slot_lo(d->b[d->h[0].off].slot);
}
static void m_min_slot(struct wire_delta *d) { d->h[0].min = hist_slot_lo(d->b[0].slot) - 1; }
static void m_max_slot(struct wire_delta *d) { d->h[5].max += 100000000; }
static void m_key_order(struct wire_delta *d) { d->h[2].key = d->h[0].key; }
static void m_half_order(struct wire_delta *d) { d->h[1].half = 0; }
static void m_half2(struct wire_delta *d) { d->h[1].half = 2; }
static void m_scale(struct wire_delta *d) { d->scale = 4; }
static void m_overflow(struct wire_delta *d)
{
	cr_assert_geq(d->h[0].nb, 2);
	d->b[d->h[0].off].n = UINT64_MAX;
	d->h[0].count = UINT64_MAX;
}

Test(malformed, histograms)
{
	bad_delta(m_slot_range, &(struct tweak){ 0 },
		  "delta: hist 1: first slot: 210 out of range (at most 209)");
	bad_delta(m_gap_range, &(struct tweak){ 0 }, NULL);
	bad_delta(m_gap_zero, &(struct tweak){ 0 }, "delta: hist 3: bucket slots not increasing");
	bad_delta(m_gap_neg, &(struct tweak){ 0 }, "delta: hist 3: bucket gap: negative");
	bad_delta(m_count, &(struct tweak){ 0 },
		  "delta: hist 2: count differs from the sum of bucket counts");
	bad_delta(m_count0, &(struct tweak){ 0 },
		  "delta: hist 2: buckets: 0 entries, not an odd number");
	bad_delta(m_bucket0, &(struct tweak){ 0 }, "delta: hist 2: bucket count is 0");
	bad_delta(m_minmax, &(struct tweak){ 0 }, "delta: hist 0: min > max");
	bad_delta(m_min_slot, &(struct tweak){ 0 }, "delta: hist 0: min not in the first bucket's slot");
	bad_delta(m_max_slot, &(struct tweak){ 0 }, "delta: hist 5: max not in the last bucket's slot");
	bad_delta(m_key_order, &(struct tweak){ 0 }, "delta: hist 2: (key, half) not increasing");
	bad_delta(m_half_order, &(struct tweak){ 0 }, "delta: hist 1: (key, half) not increasing");
	bad_delta(m_half2, &(struct tweak){ 0 }, "delta: hist 1: half: 2 out of range (at most 1)");
	bad_delta(m_scale, &(struct tweak){ 0 }, "delta: scale 4 not supported (only 3)");
	bad_delta(m_overflow, &(struct tweak){ 0 }, "delta: hist 0: bucket counts overflow");
	bad_delta(NULL, &(struct tweak){ .key0 = 1ULL << 32 },
		  "delta: hist 0: key: 4294967296 out of range (at most 4294967295)");
	bad_delta(NULL, &(struct tweak){ .entry_missing = 1 },
		  "delta: hist 0: 7 fields, at least 8 expected");
}

Test(malformed, gap_out_of_range_reason)
{
	struct wire_delta d;
	char *msg;
	size_t len;
	char want[96];

	small_delta(&d);
	m_gap_range(&d);
	snprintf(want, sizeof(want), "delta: hist 1: bucket %u: slot 300 out of range",
		 d.h[1].nb - 1);
	len = tpack_delta(&d, &(struct tweak){ 0 }, &msg);
	expect_delta_fail(msg, len, -EINVAL, want);
	free(msg);
	wire_delta_free(&d);
}

/* One rule for box ids: what the agent's --box-id, box= pins and the store use. */
Test(box_id, one_rule)
{
	cr_assert(wire_box_ok("shaper-7"));
	cr_assert(wire_box_ok("~!#$%&'()*+,-.:;<=>?@[]^_`{|}"));
	cr_assert_not(wire_box_ok(""));
	cr_assert_not(wire_box_ok("a b"));
	cr_assert_not(wire_box_ok("a/b"));
	cr_assert_not(wire_box_ok("b\xc3\xb8x"));
	cr_assert_not(wire_box_ok("a\tb"));
	cr_assert(wire_box_ok("012345678901234567890123456789012345678901234567890123456789012"));
	cr_assert_str_eq(wire_box_check("0123456789012345678901234567890123456789012345678901234567890123",
					64), "box id longer than 63 bytes");
	cr_assert_str_eq(wire_box_check("bx", 0), "box id empty");
}

Test(malformed, topics_and_framing)
{
	static const char junk = 0;

	bad_delta(NULL, &(struct tweak){ .topic = "catalog/shaper-7" },
		  "delta: topic: not \"delta/<box>\"");
	bad_delta(NULL, &(struct tweak){ .topic = "delta/" }, "delta: topic: box id empty");
	bad_delta(NULL, &(struct tweak){ .topic = "delta/a b" },
		  "delta: topic: box id has a byte outside printable ASCII (or a space)");
	bad_delta(NULL, &(struct tweak){ .topic = "delta/a/b" }, "delta: topic: box id has a '/'");
	bad_delta(NULL, &(struct tweak){
		.topic = "delta/0123456789012345678901234567890123456789012345678901234567890123" },
		  "delta: topic: box id longer than 63 bytes");
	bad_delta(NULL, &(struct tweak){ .topic = "delta/other" },
		  "delta: box: \"shaper-7\" differs from the topic's");
	bad_delta(NULL, &(struct tweak){ .box = "", .topic = "delta/x" },
		  "delta: box: box id empty");
	bad_delta(NULL, &(struct tweak){ .trail = &junk, .ntrail = 1 },
		  "delta: 1 trailing bytes after the body");
	bad_delta(NULL, &(struct tweak){ .missing = 1 }, "delta: body: 7 fields, at least 8 expected");
	bad_delta(NULL, &(struct tweak){ .set_version = 1, .version = 2, .extra = 1 },
		  "delta: unknown version 2 (this receiver knows 1)");
	bad_delta(NULL, &(struct tweak){ .set_version = 1, .version = UINT64_MAX },
		  "delta: unknown version 18446744073709551615 (this receiver knows 1)");
	expect_delta_fail("delta/b", 7, -EINVAL, "delta: topic: no NUL in the first 80 bytes");
	expect_delta_fail("", 0, -EINVAL, "delta: topic: no NUL in the first 80 bytes");
}

Test(malformed, catalog)
{
	struct wire_catalog c, out;
	const char *why;
	char *msg;
	size_t len;
	struct {
		void (*mut)(struct wire_catalog *);
		struct tweak w;
		const char *why;
	} *t, cases[] = {
		{ NULL, { .key0 = 6 }, "catalog: customer 1: key 5 not above the one before" },
		{ NULL, { .entry_missing = 1 }, "catalog: customer 0: 3 fields, at least 4 expected" },
		{ NULL, { .set_version = 1, .version = 9 },
		  "catalog: unknown version 9 (this receiver knows 1)" },
		{ NULL, { .topic = "delta/shaper-7" }, "catalog: topic: not \"catalog/<box>\"" },
		{ NULL, { .trail = "\x90", .ntrail = 1 }, "catalog: 1 trailing bytes after the body" },
	};
	size_t i;

	wire_catalog_init(&out);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t = &cases[i];
		small_catalog(&c);
		len = tpack_catalog(&c, &t->w, &msg);
		cr_assert_eq(wire_decode_catalog(msg, len, &out, &why), -EINVAL, "case %zu", i);
		cr_assert_str_eq(why, t->why);
		cr_assert_eq(out.n, 0);
		free(msg);
		wire_catalog_free(&c);
	}
	/* strings the builder refuses, packed by hand */
	small_catalog(&c);
	strcpy(c.c[1].name, "Latin-1 \xe9t\xe9");
	len = tpack_catalog(&c, &(struct tweak){ 0 }, &msg);
	cr_assert_eq(wire_decode_catalog(msg, len, &out, &why), -EINVAL);
	cr_assert_str_eq(why, "catalog: customer 1: name: not valid UTF-8");
	free(msg);
	strcpy(c.c[1].name, "overlong \xc0\xaf");
	len = tpack_catalog(&c, &(struct tweak){ 0 }, &msg);
	cr_assert_eq(wire_decode_catalog(msg, len, &out, &why), -EINVAL);
	free(msg);
	strcpy(c.c[1].name, "surrogate \xed\xa0\x80");
	len = tpack_catalog(&c, &(struct tweak){ 0 }, &msg);
	cr_assert_eq(wire_decode_catalog(msg, len, &out, &why), -EINVAL);
	free(msg);
	strcpy(c.c[1].name, "ok");
	c.c[2].id[0] = '\0';
	len = tpack_catalog(&c, &(struct tweak){ 0 }, &msg);
	cr_assert_eq(wire_decode_catalog(msg, len, &out, &why), -EINVAL);
	cr_assert_str_eq(why, "catalog: customer 2: id: empty");
	free(msg);
	wire_catalog_free(&c);
	/* a 64-byte id, one more than fits */
	{
		static const char m[] = "catalog/b\0\x95\x01\xa1" "b" "\x01\x02\x91\x94\x00\xd9\x40"
			"0123456789012345678901234567890123456789012345678901234567890123"
			"\xa0\xa0";

		cr_assert_eq(wire_decode_catalog(m, sizeof(m) - 1, &out, &why), -EINVAL);
		cr_assert_str_eq(why, "catalog: customer 0: id: too long");
	}
	/* a NUL inside a string */
	{
		static const char m[] = "catalog/b\0\x95\x01\xa1" "b" "\x01\x02\x91\x94\x00\xa3"
			"a\0b" "\xa0\xa0";

		cr_assert_eq(wire_decode_catalog(m, sizeof(m) - 1, &out, &why), -EINVAL);
		cr_assert_str_eq(why, "catalog: customer 0: id: not valid UTF-8");
	}
	wire_catalog_free(&out);
}

Test(malformed, stats)
{
	struct wire_stats s, out;
	const char *why;
	char *msg;
	size_t len;

	small_stats(&s);
	strcpy(s.s[2].name, "samples");
	len = tpack_stats(&s, &(struct tweak){ 0 }, &msg);
	cr_assert_eq(wire_decode_stats(msg, len, &out, &why), -EINVAL);
	cr_assert_str_eq(why, "stats: counter 2: name \"samples\" given twice");
	cr_assert_eq(out.n, 0);
	free(msg);
	small_stats(&s);
	strcpy(s.s[0].name, "has space");
	len = tpack_stats(&s, &(struct tweak){ 0 }, &msg);
	cr_assert_eq(wire_decode_stats(msg, len, &out, &why), -EINVAL);
	cr_assert_str_eq(why, "stats: counter 0: name: stat name has a byte outside printable ASCII");
	free(msg);
	{
		static const char m[] = "stats/b\0\x96\x01\xa1" "b" "\x01\x02\x03\xde\x00\x41"
			"\x00\x00\x00\x00";

		cr_assert_eq(wire_decode_stats(m, sizeof(m) - 1, &out, &why), -EINVAL);
		cr_assert_str_eq(why, "stats: counters: 65, more than WIRE_MAX_STATS");
	}
	{
		static const char m[] = "stats/b\0\x96\x01\xa1" "b" "\x01\x02\x03\x81\xd9\x20"
			"01234567890123456789012345678901" "\x01";

		cr_assert_eq(wire_decode_stats(m, sizeof(m) - 1, &out, &why), -EINVAL);
		cr_assert_str_eq(why, "stats: counter 0: name: stat name longer than 31 bytes");
	}
}

Test(malformed, replay)
{
	struct wire_replay_req r = { .box = "b", .epoch = 1, .first = 5, .last = 4 }, out;
	struct wire_blob bl[2] = { { "stats/b\0\x90", 9 }, { "", 0 } };
	const char *why;
	char *msg;
	size_t len;
	uint64_t first;
	uint32_t n;
	int st;

	len = tpack_req(&r, &(struct tweak){ 0 }, &msg);
	cr_assert_eq(wire_decode_replay_req(msg, len, &out, &why), -EINVAL);
	cr_assert_str_eq(why, "replay request: first 5 > last 4");
	free(msg);
	r.first = 4;
	len = tpack_req(&r, &(struct tweak){ .topic = "delta/b" }, &msg);
	cr_assert_eq(wire_decode_replay_req(msg, len, &out, &why), -EINVAL);
	cr_assert_str_eq(why, "replay request: body: not an array");
	free(msg);
	len = tpack_req(&r, &(struct tweak){ .set_version = 1, .version = 3 }, &msg);
	cr_assert_eq(wire_decode_replay_req(msg, len, &out, &why), -EINVAL);
	cr_assert_str_eq(why, "replay request: unknown version 3 (this receiver knows 1)");
	free(msg);

	len = tpack_rep(3, 0, NULL, 0, &(struct tweak){ 0 }, &msg);
	cr_assert_eq(wire_decode_replay_rep(msg, len, &st, &first, bl, 2, &n, &why), -EINVAL);
	cr_assert_str_eq(why, "replay answer: status: 3 out of range (at most 2)");
	free(msg);
	len = tpack_rep(0, 0, bl, 1, &(struct tweak){ 0 }, &msg);
	cr_assert_eq(wire_decode_replay_rep(msg, len, &st, &first, bl, 2, &n, &why), -EINVAL);
	cr_assert_str_eq(why, "replay answer: message 0: not a delta");
	free(msg);
	len = tpack_rep(0, 0, bl, 0, &(struct tweak){ .trail = "\0", .ntrail = 1 }, &msg);
	cr_assert_eq(wire_decode_replay_rep(msg, len, &st, &first, bl, 2, &n, &why), -EINVAL);
	cr_assert_str_eq(why, "replay answer: 1 trailing bytes after the body");
	free(msg);
	/* the encoder refuses the same */
	cr_assert_eq(wire_encode_replay_rep(0, 0, bl, 1, &msg, &len), -EINVAL);
	cr_assert_eq(wire_encode_replay_rep(3, 0, NULL, 0, &msg, &len), -EINVAL);
	r.first = 5;
	cr_assert_eq(wire_encode_replay_req(&r, &msg, &len), -EINVAL);
}

/* ---- the builders refuse what the decoder would ----------------------------- */

Test(build, refuses_invalid)
{
	static struct hist_sparse s, bad;
	struct wire_delta d;
	struct wire_catalog c;
	struct wire_stats st;
	char *msg, longname[200];
	size_t len;

	small_delta(&d);
	make_hist(&s, 20000000, 10, 0.5);
	cr_assert_eq(wire_delta_add(&d, d.h[d.nh - 1].key, 1, &s), -EINVAL);	/* order */
	cr_assert_eq(wire_delta_add(&d, 1000, 2, &s), -EINVAL);			/* half */
	bad = s;
	bad.count++;
	cr_assert_eq(wire_delta_add(&d, 1000, 0, &bad), -EINVAL);
	bad = s;
	bad.min = bad.max + 1;
	cr_assert_eq(wire_delta_add(&d, 1000, 0, &bad), -EINVAL);
	hist_sparse_init(&bad);
	cr_assert_eq(wire_delta_add(&d, 1000, 0, &bad), -EINVAL);		/* empty */
	cr_assert_eq(d.nh, 6);
	cr_assert_eq(wire_delta_add(&d, 1000, 0, &s), 0);
	strcpy(d.box, "has space");
	cr_assert_eq(wire_encode_delta(&d, &msg, &len), -EINVAL);
	d.box[0] = '\0';
	cr_assert_eq(wire_encode_delta(&d, &msg, &len), -EINVAL);
	strcpy(d.box, "ok");
	d.scale = 2;
	cr_assert_eq(wire_encode_delta(&d, &msg, &len), -EINVAL);
	d.scale = PF_HIST_SCALE;
	d.b[0].n++;		/* changed behind the builder's back */
	cr_assert_eq(wire_encode_delta(&d, &msg, &len), -EINVAL);
	wire_delta_free(&d);

	wire_catalog_init(&c);
	strcpy(c.box, "b");
	cr_assert_eq(wire_catalog_add(&c, 5, "a", "n", "s"), 0);
	cr_assert_eq(wire_catalog_add(&c, 5, "b", "n", "s"), -EINVAL);
	cr_assert_eq(wire_catalog_add(&c, 6, "", "n", "s"), -EINVAL);
	cr_assert_eq(wire_catalog_add(&c, 6, "c", "\xe9t\xe9", "s"), -EINVAL);
	memset(longname, 'x', 150);
	longname[150] = '\0';
	cr_assert_eq(wire_catalog_add(&c, 6, "c", longname, "s"), -ENAMETOOLONG);
	cr_assert_eq(c.n, 1);
	wire_catalog_free(&c);

	small_stats(&st);
	strcpy(st.s[1].name, "packets");
	cr_assert_eq(wire_encode_stats(&st, &msg, &len), -EINVAL);
	st.s[1].name[0] = '\0';
	cr_assert_eq(wire_encode_stats(&st, &msg, &len), -EINVAL);
}

/* ---- the version rule: extra trailing fields of version 1 are skipped ------- */

Test(version, extra_fields_ignored)
{
	struct wire_delta d, back;
	struct wire_catalog c, cback;
	struct wire_stats s, sback;
	struct wire_replay_req r = { .box = "b", .epoch = 1, .first = 2, .last = 3 }, rback;
	struct wire_blob bl, got[1];
	const char *why = NULL;
	char *msg, *dm;
	size_t len, dl;
	uint64_t first;
	uint32_t n;
	int st;

	small_delta(&d);
	len = tpack_delta(&d, &(struct tweak){ .extra = 3, .entry_extra = 2 }, &msg);
	wire_delta_init(&back);
	cr_assert_eq(wire_decode_delta(msg, len, &back, &why), 0, "%s", why);
	delta_eq(&d, &back);
	free(msg);
	/* and the same message as version 2 is refused */
	len = tpack_delta(&d, &(struct tweak){ .extra = 3, .entry_extra = 2, .set_version = 1,
					       .version = 2 }, &msg);
	cr_assert_eq(wire_decode_delta(msg, len, &back, &why), -EINVAL);
	free(msg);

	small_catalog(&c);
	len = tpack_catalog(&c, &(struct tweak){ .extra = 1, .entry_extra = 3 }, &msg);
	wire_catalog_init(&cback);
	cr_assert_eq(wire_decode_catalog(msg, len, &cback, &why), 0, "%s", why);
	catalog_eq(&c, &cback);
	free(msg);

	small_stats(&s);
	len = tpack_stats(&s, &(struct tweak){ .extra = 2 }, &msg);
	cr_assert_eq(wire_decode_stats(msg, len, &sback, &why), 0, "%s", why);
	stats_eq(&s, &sback);
	free(msg);

	len = tpack_req(&r, &(struct tweak){ .extra = 1 }, &msg);
	cr_assert_eq(wire_decode_replay_req(msg, len, &rback, &why), 0, "%s", why);
	cr_assert_eq(rback.last, 3);
	free(msg);

	cr_assert_eq(wire_encode_delta(&d, &dm, &dl), 0);
	bl = (struct wire_blob){ dm, dl };
	len = tpack_rep(1, 2, &bl, 1, &(struct tweak){ .extra = 2 }, &msg);
	cr_assert_eq(wire_decode_replay_rep(msg, len, &st, &first, got, 1, &n, &why), 0, "%s", why);
	cr_assert_eq(n, 1);
	cr_assert_eq(st, 1);
	cr_assert_eq(first, 2);
	free(msg);
	free(dm);

	/* the independent packer agrees byte for byte with the encoder */
	cr_assert_eq(wire_encode_delta(&d, &dm, &dl), 0);
	len = tpack_delta(&d, &(struct tweak){ 0 }, &msg);
	cr_assert_eq(len, dl);
	cr_assert_eq(memcmp(msg, dm, len), 0);
	free(msg);
	free(dm);

	wire_delta_free(&d);
	wire_delta_free(&back);
	wire_catalog_free(&c);
	wire_catalog_free(&cback);
}
