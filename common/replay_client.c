// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include "replay_client.h"

#define REPLAY_CLIENT_CAP	4096	/* deltas in one answer (the server's cap) */

static int from_nng(int rc, const char **why)
{
	*why = nng_strerror(rc);
	switch (rc) {
	case NNG_ETIMEDOUT: return -ETIMEDOUT;
	case NNG_ECONNREFUSED: return -ECONNREFUSED;
	case NNG_ENOMEM: return -ENOMEM;
	default: return -EIO;
	}
}

/* One request and its answer: the deltas of it go to fn; *next = the seq after the last. */
static int ask(nng_socket req, const struct wire_replay_req *r, struct wire_blob *msgs,
	       struct wire_delta *d, replay_fn fn, void *ctx, struct replay_result *res,
	       uint64_t *next, const char **why)
{
	char *out = NULL, *in = NULL;
	size_t olen, ilen = 0;
	uint32_t n = 0, i;
	int rc, err = 0;

	if (wire_encode_replay_req(r, &out, &olen)) {
		*why = "request not encodable";
		return -EINVAL;
	}
	rc = nng_send(req, out, olen, 0);
	free(out);
	rc = rc ?: nng_recv(req, &in, &ilen, NNG_FLAG_ALLOC);
	if (rc)
		return from_nng(rc, why);
	res->answers++;
	if (wire_decode_replay_rep(in, ilen, &res->status, &res->oldest, msgs, REPLAY_CLIENT_CAP,
				   &n, why)) {
		err = -EPROTO;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *dwhy;

		if (wire_decode_delta(msgs[i].p, msgs[i].len, d, &dwhy) || strcmp(d->box, r->box) ||
		    d->epoch != r->epoch || d->seq < r->first || d->seq > r->last) {
			res->bad++;
			continue;
		}
		fn(ctx, d);
		res->got++;
		if (d->seq >= *next)
			*next = d->seq + 1;
	}
out:
	nng_free(in, ilen);
	return err;
}

int replay_fetch(const char *url, const struct tls_opts *tls, int timeout_ms,
		 const struct wire_replay_req *r, replay_fn fn, void *ctx,
		 struct replay_result *res, const char **why)
{
	struct wire_replay_req q = *r;
	struct wire_blob *msgs;
	struct wire_delta d;
	nng_socket req;
	nng_dialer dl;
	uint64_t next;
	int rc, err;

	memset(res, 0, sizeof(*res));
	*why = NULL;
	msgs = calloc(REPLAY_CLIENT_CAP, sizeof(*msgs));
	if (!msgs)
		return -ENOMEM;
	rc = nng_req0_open(&req);
	if (rc) {
		free(msgs);
		return from_nng(rc, why);
	}
	/* a dial in the background: the send waits for it, up to its timeout */
	nng_socket_set_ms(req, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_socket_set_ms(req, NNG_OPT_SENDTIMEO, timeout_ms);
	nng_socket_set_size(req, NNG_OPT_RECVMAXSZ, WIRE_MAX_MSG);
	if (tls_dial(req, url, tls, NNG_FLAG_NONBLOCK | TLS_DIAL_QUIET, &dl)) {
		nng_close(req);
		free(msgs);
		*why = "cannot dial";
		return -ECONNREFUSED;
	}
	wire_delta_init(&d);
	for (;;) {
		next = q.first;
		err = ask(req, &q, msgs, &d, fn, ctx, res, &next, why);
		/* a PARTIAL answer that stopped short (size): ask for the rest */
		if (err || res->status != WIRE_REPLAY_PARTIAL || next == q.first || next > q.last)
			break;
		q.first = next;
	}
	wire_delta_free(&d);
	nng_close(req);
	free(msgs);
	return err;
}
