/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Fetching missed deltas from a box's replay server (common/publisher.h):
 * the one client, used by the aggregator's replay workers and the test
 * tools. One answer holds at most what fits in one message; after a
 * PARTIAL answer that stopped short, the client asks again for the rest.
 */
#ifndef PINGFOLD_REPLAY_CLIENT_H
#define PINGFOLD_REPLAY_CLIENT_H

#include <stdint.h>
#include "tls.h"
#include "wire.h"

/* One delta of the range asked for (box, epoch and seq checked). */
typedef void (*replay_fn)(void *ctx, const struct wire_delta *d);

struct replay_result {
	int status;		/* of the last answer: enum wire_replay_status */
	uint64_t oldest;	/* the oldest seq the box still held */
	uint64_t got;		/* deltas given to fn */
	uint64_t bad;		/* messages that did not decode, or not of the range */
	uint32_t answers;
};

/*
 * Asks url for r->first..r->last of r->box, epoch r->epoch. Every socket
 * step has timeout_ms (connecting and sending; the answer). Returns 0 when
 * answers came (however much they held: see res), -EPROTO for an answer
 * that did not decode (*why says why), -ETIMEDOUT, -ECONNREFUSED, -ENOMEM,
 * or -EIO for another nng error (*why: nng's text).
 */
int replay_fetch(const char *url, const struct tls_opts *tls, int timeout_ms,
		 const struct wire_replay_req *r, replay_fn fn, void *ctx,
		 struct replay_result *res, const char **why);

#endif /* PINGFOLD_REPLAY_CLIENT_H */
