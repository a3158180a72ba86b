/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Dialling and listening for both daemons, with TLS for tls+tcp:// URLs:
 * TLS 1.2 (nng's mbedTLS), our certificate and key from one PEM file, and
 * the peer's certificate required and checked against a CA, both ways.
 * Plain tcp:// stays available (the caller warns). See docs/operations.md.
 */
#ifndef PINGFOLD_TLS_H
#define PINGFOLD_TLS_H

#include <stdbool.h>
#include <nng/nng.h>
#include "cfgerr.h"

struct tls_opts {
	const char *ca_file;		/* CA that signed the peers' certificates */
	const char *cert_key_file;	/* our certificate and private key (PEM) */
	const char *server_name;	/* dialling: name the peer's certificate carries */
};

bool tls_url(const char *url);
/*
 * The settings tls-ca, tls-cert and tls-server-name (options and config
 * keys of both daemons). Returns 0 when set, -ENOENT for another key,
 * -EINVAL with err->msg for a bad value.
 */
int tls_opts_set(struct tls_opts *o, const char *key, const char *value, struct cfg_err *err);
/*
 * Dials or listens on url. flags NNG_FLAG_NONBLOCK: nng keeps redialling,
 * and for a TLS URL a one-off dial in the background logs why a peer is
 * refused (nng's own redials are silent); 0: one blocking attempt.
 * Returns 0 or -errno (logged with url, except a failed blocking dial,
 * whose nng error is returned as -EIO for the caller to report).
 * TLS_DIAL_QUIET with NNG_FLAG_NONBLOCK: no background probe (a short-lived
 * dial whose caller reports its own errors, e.g. a replay fetch).
 */
#define TLS_DIAL_QUIET	0x10000
int tls_dial(nng_socket s, const char *url, const struct tls_opts *o, int flags,
	     nng_dialer *d);
int tls_listen(nng_socket s, const char *url, const struct tls_opts *o, nng_listener *l);

#endif /* PINGFOLD_TLS_H */
