/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * pingfold's wire format: msgpack messages behind an ASCII topic, carried
 * by nng pub/sub and req/rep. Specified in docs/wire.md.
 *
 * A message is TOPIC '\0' MSGPACK-BODY. Topics:
 *   "delta/<box>"    struct wire_delta
 *   "catalog/<box>"  struct wire_catalog
 *   "stats/<box>"    struct wire_stats
 * so subscribers filter with nng prefix subscriptions ("delta/", or
 * "delta/box-7" + NUL for exactly one box).
 */
#ifndef PINGFOLD_WIRE_H
#define PINGFOLD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "hist.h"

#define WIRE_VERSION		1
#define WIRE_BOX_MAX		64	/* box id bytes incl. NUL */
#define WIRE_TOPIC_MAX		80
#define WIRE_MAX_MSG		(64u << 20)	/* NNG_OPT_RECVMAXSZ of receivers */
#define WIRE_MAX_HISTS		(1u << 22)	/* customer-halves in one delta */
#define WIRE_MAX_STATS		64
#define WIRE_MAX_CUSTS		(WIRE_MAX_HISTS / 2)	/* entries in one catalog */

enum wire_kind { WIRE_DELTA = 1, WIRE_CATALOG = 2, WIRE_STATS = 3 };

/*
 * The one rule for a box id, wherever one is read (agent settings, the
 * aggregator's box= pins, messages, the store): 1..63 bytes of printable
 * ASCII, no space and no '/' (ids like "?BOX/KEY" are split at the '/').
 * wire_box_check returns why s[0..n) is not one, or NULL.
 */
const char *wire_box_check(const char *s, size_t n);
bool wire_box_ok(const char *box);

struct wire_bucket {
	uint16_t slot;		/* 0..PF_HIST_NSLOTS-1 */
	uint64_t n;		/* > 0 */
};

/* One customer-half of a delta; its buckets are b[off .. off + nb). */
struct wire_hist {
	uint32_t key;		/* customer key, named by the box's catalog */
	uint8_t half;		/* PF_HALF_ACCESS / PF_HALF_INTERNET */
	uint64_t count, sum, min, max;
	uint32_t off, nb;
};

struct wire_delta {
	char box[WIRE_BOX_MAX];
	uint64_t epoch;		/* datapath instance of the box */
	uint64_t seq;		/* 1, 2, ... within an epoch */
	uint64_t start_ns, end_ns;	/* interval, CLOCK_REALTIME */
	uint8_t scale;		/* PF_HIST_SCALE */
	struct wire_hist *h;	/* sorted by (key, half) */
	uint32_t nh, cap_h;
	struct wire_bucket *b;
	uint32_t nb, cap_b;
};

struct wire_cust {
	uint32_t key;
	char id[64];
	char name[128];
	char site[256];
};

struct wire_catalog {
	char box[WIRE_BOX_MAX];
	uint64_t epoch;
	uint64_t seq;		/* the last delta seq sent before this catalog */
	struct wire_cust *c;
	uint32_t n, cap;
};

struct wire_stat {
	char name[32];
	uint64_t value;
};

struct wire_stats {
	char box[WIRE_BOX_MAX];
	uint64_t epoch;
	uint64_t seq;
	uint64_t time_ns;
	struct wire_stat s[WIRE_MAX_STATS];
	uint32_t n;
};

/*
 * Building a delta: entries must be added in increasing (key, half).
 * wire_delta_add returns -EINVAL for an entry the decoder would reject
 * (order, half > 1, count 0, see hist_sparse_validate), -E2BIG past
 * WIRE_MAX_HISTS. init sets scale to PF_HIST_SCALE.
 */
void wire_delta_init(struct wire_delta *d);
void wire_delta_reset(struct wire_delta *d);	/* keeps the allocations */
/*
 * Room for nh histograms and nb buckets, its pages touched now: a reader
 * that knows its size at start takes the page faults there, not in its
 * first interval.
 */
int wire_delta_reserve(struct wire_delta *d, uint32_t nh, uint32_t nb);
void wire_delta_free(struct wire_delta *d);
int wire_delta_add(struct wire_delta *d, uint32_t key, uint8_t half,
		   const struct hist_sparse *h);
/* Entry i as a sparse histogram. */
void wire_delta_get(const struct wire_delta *d, uint32_t i, struct hist_sparse *out);

/*
 * Keys in increasing order; id 1..63 bytes, name and site up to 127 and
 * 255 bytes, all UTF-8. -EINVAL (order, empty id, bad UTF-8),
 * -ENAMETOOLONG, -E2BIG past WIRE_MAX_CUSTS.
 */
void wire_catalog_init(struct wire_catalog *c);
void wire_catalog_free(struct wire_catalog *c);
int wire_catalog_add(struct wire_catalog *c, uint32_t key, const char *id,
		     const char *name, const char *site);

/*
 * Encoding: the whole message (topic, NUL, body) into a malloc'd buffer.
 * Returns 0 or -errno.
 */
int wire_encode_delta(const struct wire_delta *d, char **buf, size_t *len);
int wire_encode_catalog(const struct wire_catalog *c, char **buf, size_t *len);
int wire_encode_stats(const struct wire_stats *s, char **buf, size_t *len);

/*
 * Decoding a whole message. Every length, type and range is checked
 * against the bytes that remain; nothing is allocated from a length the
 * bytes cannot back. On error returns -EINVAL (-ENOMEM, -E2BIG) and sets
 * *why to a static string naming what is wrong ("delta: histogram 3:
 * bucket slot 250 out of range"). The kind is told by the topic.
 * *why points to thread-local storage, valid until the next wire_decode_*
 * call of the same thread. A failed decode leaves the struct empty
 * (nh, n = 0) but keeps its allocations; decoding again reuses them.
 */
int wire_kind_of(const void *msg, size_t len);
int wire_decode_delta(const void *msg, size_t len, struct wire_delta *d, const char **why);
int wire_decode_catalog(const void *msg, size_t len, struct wire_catalog *c, const char **why);
int wire_decode_stats(const void *msg, size_t len, struct wire_stats *s, const char **why);

/*
 * Replay request and answer (nng req/rep): "send me seq a..b of epoch E".
 * Neither has a topic. The request is msgpack [version, box, epoch,
 * first, last] (first <= last). The answer is a sequence of delta
 * messages, each as encoded above, framed as msgpack [version, status,
 * first_available, [bin, bin, ...]] where status 0 = all found, 1 = some
 * older than the ring (first_available says from where), 2 = unknown
 * epoch. An answer, like any message, is at most WIRE_MAX_MSG bytes:
 * 17 + sum(5 + len) bounds its size.
 */
struct wire_replay_req {
	char box[WIRE_BOX_MAX];
	uint64_t epoch, first, last;
};
int wire_encode_replay_req(const struct wire_replay_req *r, char **buf, size_t *len);
int wire_decode_replay_req(const void *msg, size_t len, struct wire_replay_req *r,
			   const char **why);

enum wire_replay_status { WIRE_REPLAY_OK = 0, WIRE_REPLAY_PARTIAL = 1, WIRE_REPLAY_NO_EPOCH = 2 };

struct wire_blob {
	const void *p;
	size_t len;
};

/* The answer: status, the oldest seq still held, and whole delta messages. */
int wire_encode_replay_rep(int status, uint64_t first_available, const struct wire_blob *msgs,
			   uint32_t n, char **buf, size_t *len);
/* msgs[] point into msg; more than cap of them is -E2BIG. */
int wire_decode_replay_rep(const void *msg, size_t len, int *status, uint64_t *first_available,
			   struct wire_blob *msgs, uint32_t cap, uint32_t *n, const char **why);

#endif /* PINGFOLD_WIRE_H */
