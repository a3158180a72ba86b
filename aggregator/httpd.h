/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * A small HTTP/1.1 server for the aggregator's page, API and /metrics,
 * made to be exposed to untrusted clients on an ISP's network:
 *  - at most max_conns connections at once: at the cap the oldest one
 *    still sending its request is closed to make room, or, if none is,
 *    the new one gets 503 and is closed; so idle connections can never
 *    take all file descriptors, nor lock honest clients out;
 *  - a request (line and headers, at most 16 KiB) must arrive within
 *    idle_ms of the connection's accept, else it is closed (slowloris);
 *  - an answer must be taken within write_ms, else it is dropped;
 *  - GET and HEAD only; one request per connection (Connection: close);
 *  - handlers run on `workers` threads, never on the accepting one.
 * Everything is counted (httpd_counts).
 */
#ifndef PINGFOLD_HTTPD_H
#define PINGFOLD_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct httpd_opts {
	const char *host;		/* numeric IPv4 or IPv6 address */
	uint16_t port;
	uint32_t max_conns;		/* default 256 */
	uint32_t idle_ms;		/* default 10000 */
	uint32_t write_ms;		/* default 10000 */
	uint32_t workers;		/* default 4 */
};

/* One request; the handler answers with httpd_reply (else 500). */
struct httpd_req {
	const char *method;		/* "GET" or "HEAD" */
	const char *target;		/* as sent: "/api/top?w=1m" */
	int status;
	char type[96];
	char *body;
	size_t len;
};

struct httpd_counts {
	uint64_t accepted, served, timed_out, evicted, refused_full, bad_requests, write_drops;
	uint32_t open;
};

typedef void (*httpd_fn)(void *arg, struct httpd_req *r);

struct httpd;

/* Listens and serves; 0 or -errno (logged, naming the address). */
int httpd_start(struct httpd **hp, const struct httpd_opts *o, httpd_fn fn, void *arg);
/* Stops accepting, closes every connection, waits for running handlers. */
void httpd_stop(struct httpd *h);
/* Copies body; a second call replaces the first. */
void httpd_reply(struct httpd_req *r, int status, const char *type, const void *body,
		 size_t len);
void httpd_counts(struct httpd *h, struct httpd_counts *out);

#endif /* PINGFOLD_HTTPD_H */
