// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include "cfgfile.h"
#include "log.h"
#include "tls.h"

bool tls_url(const char *url)
{
	return !strncmp(url, "tls+", 4);
}

int tls_opts_set(struct tls_opts *o, const char *key, const char *v, struct cfg_err *err)
{
	const char **dst;
	char *d;

	if (!strcmp(key, "tls-ca"))
		dst = &o->ca_file;
	else if (!strcmp(key, "tls-cert"))
		dst = &o->cert_key_file;
	else if (!strcmp(key, "tls-server-name"))
		dst = &o->server_name;
	else
		return -ENOENT;
	if (!*v) {
		snprintf(err->msg, sizeof(err->msg), "%s: empty value", key);
		return -EINVAL;
	}
	d = cfg_strdup(v);
	if (!d)
		return -ENOMEM;
	*dst = d;
	return 0;
}

static int make_config(nng_tls_config **cfg, nng_tls_mode mode, const char *url,
		       const struct tls_opts *o)
{
	int rc;

	if (!o || !o->ca_file || !o->cert_key_file) {
		pr_err("%s: TLS needs --tls-ca FILE and --tls-cert FILE", url);
		return -EINVAL;
	}
	rc = nng_tls_config_alloc(cfg, mode);
	if (rc) {
		pr_err("%s: TLS: %s", url, nng_strerror(rc));
		return -EIO;
	}
	rc = nng_tls_config_version(*cfg, NNG_TLS_1_2, NNG_TLS_1_2);
	rc = rc ?: nng_tls_config_auth_mode(*cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	if (!rc) {
		rc = nng_tls_config_ca_file(*cfg, o->ca_file);
		if (rc)
			pr_err("%s: CA file %s: %s", url, o->ca_file, nng_strerror(rc));
	}
	if (!rc) {
		rc = nng_tls_config_cert_key_file(*cfg, o->cert_key_file, NULL);
		if (rc)
			pr_err("%s: certificate/key file %s: %s", url, o->cert_key_file,
			       nng_strerror(rc));
	}
	if (!rc && mode == NNG_TLS_MODE_CLIENT && o->server_name)
		rc = nng_tls_config_server_name(*cfg, o->server_name);
	if (rc) {
		nng_tls_config_free(*cfg);
		return -EINVAL;
	}
	return 0;
}

#define PROBE_TRIES 240	/* 2 minutes of a peer that is not up */
#define PROBE_RESETS 5	/* handshakes closed by the peer before we give its answer up */

struct probe {
	char *url;
	nng_tls_config *cfg;
};

/* One blocking dial with the same TLS settings, to say why it fails. */
static void *probe_thread(void *arg)
{
	struct probe *p = arg;
	nng_socket s;
	nng_dialer d;
	int rc = 0, i, resets;

	/* while the peer is not up yet, keep trying: the answer that matters
	 * is the handshake's */
	for (i = 0, resets = 0; i < PROBE_TRIES; i++) {
		rc = nng_sub0_open(&s);
		rc = rc ?: nng_dialer_create(&d, s, p->url);
		rc = rc ?: nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, p->cfg);
		rc = rc ?: nng_dialer_start(d, 0);
		nng_close(s);
		/* a peer that refuses our certificate may close before its alert
		 * is read: a reset is asked again, a few times, for the real answer */
		if ((rc == NNG_ECONNRESET || rc == NNG_ECONNSHUT || rc == NNG_ECLOSED) &&
		    ++resets < PROBE_RESETS) {
			nng_msleep(100);
			continue;
		}
		if (rc != NNG_ECONNREFUSED && rc != NNG_ETIMEDOUT && rc != NNG_EADDRINVAL)
			break;
		if (i == 0)
			pr_warn("%s: not reachable yet (%s); retrying", p->url, nng_strerror(rc));
		nng_msleep(500);
	}
	if (rc == NNG_EPEERAUTH || rc == NNG_ECRYPTO)
		pr_err("%s: peer refused: TLS authentication failed (%s): its certificate is "
		       "not signed by our CA, or ours not by its", p->url, nng_strerror(rc));
	else if (resets >= PROBE_RESETS)
		pr_err("%s: peer closed every TLS handshake (%s): it may refuse our certificate; "
		       "nng keeps retrying", p->url, nng_strerror(rc));
	else if (rc && rc != NNG_EPROTO)
		pr_warn("%s: %s; nng keeps retrying", p->url, nng_strerror(rc));
	nng_tls_config_free(p->cfg);
	free(p->url);
	free(p);
	return NULL;
}

static void probe(const char *url, nng_tls_config *cfg)
{
	struct probe *p = calloc(1, sizeof(*p));
	pthread_t t;

	if (!p || !(p->url = strdup(url))) {
		free(p);
		return;
	}
	p->cfg = cfg;
	nng_tls_config_hold(cfg);
	if (pthread_create(&t, NULL, probe_thread, p)) {
		nng_tls_config_free(cfg);
		free(p->url);
		free(p);
		return;
	}
	pthread_detach(t);
}

int tls_dial(nng_socket s, const char *url, const struct tls_opts *o, int flags,
	     nng_dialer *d)
{
	nng_tls_config *cfg = NULL;
	int rc;

	rc = nng_dialer_create(d, s, url);
	if (rc) {
		pr_err("%s: %s", url, nng_strerror(rc));
		return -EINVAL;
	}
	if (tls_url(url)) {
		if (make_config(&cfg, NNG_TLS_MODE_CLIENT, url, o))
			return -EINVAL;
		rc = nng_dialer_set_ptr(*d, NNG_OPT_TLS_CONFIG, cfg);
	}
	rc = rc ?: nng_dialer_start(*d, flags & ~TLS_DIAL_QUIET);
	if (!rc && cfg && (flags & NNG_FLAG_NONBLOCK) && !(flags & TLS_DIAL_QUIET))
		probe(url, cfg);
	if (cfg)
		nng_tls_config_free(cfg);	/* the dialer holds its own reference */
	if (rc && (flags & NNG_FLAG_NONBLOCK))
		pr_err("%s: %s", url, nng_strerror(rc));
	return rc ? -EIO : 0;
}

int tls_listen(nng_socket s, const char *url, const struct tls_opts *o, nng_listener *l)
{
	nng_tls_config *cfg = NULL;
	int rc;

	rc = nng_listener_create(l, s, url);
	if (rc) {
		pr_err("listen on %s: %s", url, nng_strerror(rc));
		return -EINVAL;
	}
	if (tls_url(url)) {
		if (make_config(&cfg, NNG_TLS_MODE_SERVER, url, o))
			return -EINVAL;
		rc = nng_listener_set_ptr(*l, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
	}
	rc = rc ?: nng_listener_start(*l, 0);
	if (rc) {
		pr_err("listen on %s: %s", url, nng_strerror(rc));
		return -EIO;
	}
	return 0;
}
