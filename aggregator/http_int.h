/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* What the aggregator's HTTP parts share: http.c (page, /api) and metrics.c. */
#ifndef PINGFOLD_HTTP_INT_H
#define PINGFOLD_HTTP_INT_H

#include <stdint.h>
#include "aggregator/http.h"
#include "aggregator/httpd.h"
#include "aggregator/promrw.h"
#include "common/jsonw.h"

/* /metrics: every HTTP_LE_STEP-th bucket boundary is an le (see docs/http.md). */
#define HTTP_LE_STEP	PROMRW_LE_STEP	/* the same les as --remote-write-classic */
#define HTTP_ARGS_MAX	8
#define HTTP_QUERY_MAX	4096	/* bytes of a decoded q= */

struct http {
	struct http_opts opts;
	char *url, *static_dir;
	struct store *store;
	pthread_mutex_t *lock;
	struct httpd *srv;
	struct http_counters ctr;
};

static const char *const half_name[PF_NHALVES] = { "access", "internet" };

void http_reply(struct httpd_req *r, uint16_t status, const char *type, const void *body,
		size_t len);
/* w as JSON (500 if it ran out of memory); an {"error": msg} answer. */
void http_reply_jw(struct httpd_req *r, uint16_t status, struct jw *w);
void http_reply_error(struct httpd_req *r, uint16_t status, const char *msg);
/* GET /metrics */
void http_metrics(struct http *h, struct httpd_req *r);

#endif /* PINGFOLD_HTTP_INT_H */
