// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The aggregator's HTTP server (see httpd.h). One thread accepts and reads
 * requests with poll(); complete requests go to a queue that `workers`
 * threads answer. A connection is in exactly one place: the reader's list
 * (sending its request) or the queue / a worker (being answered).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "common/sys.h"
#include "aggregator/httpd.h"
#include "common/log.h"

#define REQ_MAX		(16u << 10)

struct conn {
	int fd;
	uint64_t t0_ms;			/* accepted */
	size_t n;
	struct conn *next;		/* in the work queue */
	char buf[REQ_MAX + 1];
};

struct httpd {
	struct httpd_opts o;
	httpd_fn fn;
	void *arg;
	int lfd, wake[2];
	pthread_t reader, *workers;
	volatile int stopping;
	struct conn **rd;		/* reading, oldest first (reader thread only) */
	uint32_t nrd;
	pthread_mutex_t lock;		/* queue, working, counts */
	pthread_cond_t cond;
	struct conn *qhead, *qtail;
	uint32_t working;
	struct httpd_counts c;
};

static uint64_t now_ms(void)
{
	return sys_now_ns(CLOCK_MONOTONIC) / 1000000;
}

static void count(struct httpd *h, uint64_t *field)
{
	pthread_mutex_lock(&h->lock);
	(*field)++;
	pthread_mutex_unlock(&h->lock);
}

void httpd_reply(struct httpd_req *r, int status, const char *type, const void *body,
		 size_t len)
{
	free(r->body);
	r->body = len ? malloc(len) : NULL;
	if (len && !r->body) {
		r->status = 500;
		snprintf(r->type, sizeof(r->type), "text/plain");
		r->len = 0;
		return;
	}
	if (len)
		memcpy(r->body, body, len);
	r->len = len;
	r->status = status;
	snprintf(r->type, sizeof(r->type), "%s", type);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/* Writes all of buf before the deadline; false if not. */
static bool write_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		uint64_t now;

		if (w > 0) {
			buf += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return false;
		now = now_ms();
		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) < 0)
			return false;
	}
	return true;
}

static bool respond(struct httpd *h, int fd, const struct httpd_req *r, bool head)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
			 r->status, reason(r->status), r->type, r->len);
	uint64_t deadline = now_ms() + h->o.write_ms;

	return write_all(fd, hdr, (size_t)n, deadline) &&
	       (head || write_all(fd, r->body, r->len, deadline));
}

/* Answers one complete request (a worker). */
static void handle(struct httpd *h, struct conn *c)
{
	struct httpd_req r = { .status = 500 };
	char *sp1, *sp2, *eol;
	bool head = false, ok;

	snprintf(r.type, sizeof(r.type), "text/plain");
	eol = strstr(c->buf, "\r\n");
	if (eol)
		*eol = '\0';
	sp1 = strchr(c->buf, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) || sp1[1] != '/') {
		httpd_reply(&r, 400, "text/plain", "bad request\n", 12);
		count(h, &h->c.bad_requests);
	} else {
		*sp1 = *sp2 = '\0';
		r.method = c->buf;
		r.target = sp1 + 1;
		head = !strcmp(r.method, "HEAD");
		if (strcmp(r.method, "GET") && !head)
			httpd_reply(&r, 405, "text/plain", "GET or HEAD only\n", 17);
		else
			h->fn(h->arg, &r);
	}
	ok = respond(h, c->fd, &r, head);
	free(r.body);
	pthread_mutex_lock(&h->lock);
	if (ok)
		h->c.served++;
	else
		h->c.write_drops++;
	pthread_mutex_unlock(&h->lock);
}

static void *worker(void *arg)
{
	struct httpd *h = arg;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		struct conn *c;

		while (!h->qhead && !h->stopping)
			pthread_cond_wait(&h->cond, &h->lock);
		if (!h->qhead)
			break;
		c = h->qhead;
		h->qhead = c->next;
		if (!h->qhead)
			h->qtail = NULL;
		pthread_mutex_unlock(&h->lock);
		if (!h->stopping)
			handle(h, c);
		close(c->fd);
		free(c);
		pthread_mutex_lock(&h->lock);
		h->working--;
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* Reader: drops reading connection i (closing it). */
static void rd_drop(struct httpd *h, uint32_t i)
{
	close(h->rd[i]->fd);
	free(h->rd[i]);
	memmove(&h->rd[i], &h->rd[i + 1], (h->nrd - i - 1) * sizeof(h->rd[0]));
	h->nrd--;
}

/* Reader: a complete request goes to the workers. */
static void rd_dispatch(struct httpd *h, uint32_t i)
{
	struct conn *c = h->rd[i];

	memmove(&h->rd[i], &h->rd[i + 1], (h->nrd - i - 1) * sizeof(h->rd[0]));
	h->nrd--;
	c->next = NULL;
	pthread_mutex_lock(&h->lock);
	if (h->qtail)
		h->qtail->next = c;
	else
		h->qhead = c;
	h->qtail = c;
	h->working++;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

/* Reader: input on connection i; false if it left the list. */
static bool rd_input(struct httpd *h, uint32_t i)
{
	struct conn *c = h->rd[i];
	ssize_t n = recv(c->fd, c->buf + c->n, REQ_MAX - c->n, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0) {
		rd_drop(h, i);
		return false;
	}
	c->n += (size_t)n;
	c->buf[c->n] = '\0';
	if (strstr(c->buf, "\r\n\r\n")) {
		rd_dispatch(h, i);
		return false;
	}
	if (c->n == REQ_MAX) {
		static const char too[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
					  "Content-Length: 0\r\nConnection: close\r\n\r\n";

		(void)!send(c->fd, too, sizeof(too) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		count(h, &h->c.bad_requests);
		rd_drop(h, i);
		return false;
	}
	return true;
}

static uint32_t open_conns(struct httpd *h)
{
	uint32_t w;

	pthread_mutex_lock(&h->lock);
	w = h->working;
	h->c.open = w + h->nrd;
	pthread_mutex_unlock(&h->lock);
	return w + h->nrd;
}

/* Reader: takes what the listening socket has. */
static void rd_accept(struct httpd *h)
{
	static const char full[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
				   "Connection: close\r\nRetry-After: 1\r\n\r\n";

	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if ((errno == EMFILE || errno == ENFILE) && h->nrd) {
				rd_drop(h, 0);	/* out of descriptors: the oldest waiting goes */
				count(h, &h->c.evicted);
				continue;
			}
			return;
		}
		count(h, &h->c.accepted);
		if (open_conns(h) >= h->o.max_conns) {
			if (!h->nrd) {
				(void)!send(fd, full, sizeof(full) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
				close(fd);
				count(h, &h->c.refused_full);
				continue;
			}
			rd_drop(h, 0);
			count(h, &h->c.evicted);
		}
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->t0_ms = now_ms();
		c->n = 0;
		h->rd[h->nrd++] = c;
	}
}

static void *reader(void *arg)
{
	struct httpd *h = arg;
	struct pollfd *p = calloc(h->o.max_conns + 2, sizeof(*p));
	uint32_t i;

	while (p && !h->stopping) {
		uint64_t now = now_ms(), next = now + 1000;
		int n;

		p[0] = (struct pollfd){ .fd = h->wake[0], .events = POLLIN };
		p[1] = (struct pollfd){ .fd = h->lfd, .events = POLLIN };
		for (i = 0; i < h->nrd; i++) {
			uint64_t dl = h->rd[i]->t0_ms + h->o.idle_ms;

			p[2 + i] = (struct pollfd){ .fd = h->rd[i]->fd, .events = POLLIN };
			if (dl < next)
				next = dl;
		}
		n = poll(p, 2 + h->nrd, next > now ? (int)(next - now) : 0);
		if (n < 0 && errno != EINTR)
			break;
		if (p[0].revents) {
			char b[64];

			(void)!read(h->wake[0], b, sizeof(b));
		}
		/* from the newest down: dropping one moves only those after it */
		for (i = h->nrd; i-- > 0;)
			if (p[2 + i].revents)
				rd_input(h, i);
		now = now_ms();
		for (i = h->nrd; i-- > 0;) {
			if (now - h->rd[i]->t0_ms >= h->o.idle_ms) {
				rd_drop(h, i);
				count(h, &h->c.timed_out);
			}
		}
		if (p[1].revents)
			rd_accept(h);
		open_conns(h);
	}
	while (h->nrd)
		rd_drop(h, h->nrd - 1);
	free(p);
	return NULL;
}

static int listen_on(const struct httpd_opts *o)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, one = 1, err;

	if (inet_pton(AF_INET, o->host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(o->port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, o->host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(o->port);
		sl = sizeof(*s6);
	} else {
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 128)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int httpd_start(struct httpd **hp, const struct httpd_opts *o, httpd_fn fn, void *arg)
{
	struct httpd *h = calloc(1, sizeof(*h));
	uint32_t i;
	int err;

	*hp = NULL;
	if (!h)
		return -ENOMEM;
	h->o = *o;
	h->o.max_conns = o->max_conns ? o->max_conns : 256;
	h->o.idle_ms = o->idle_ms ? o->idle_ms : 10000;
	h->o.write_ms = o->write_ms ? o->write_ms : 10000;
	h->o.workers = o->workers ? o->workers : 4;
	h->fn = fn;
	h->arg = arg;
	h->rd = calloc(h->o.max_conns, sizeof(*h->rd));
	h->workers = calloc(h->o.workers, sizeof(*h->workers));
	if (!h->rd || !h->workers || pipe2(h->wake, O_CLOEXEC | O_NONBLOCK)) {
		free(h->rd);
		free(h->workers);
		free(h);
		return -ENOMEM;
	}
	h->lfd = listen_on(&h->o);
	if (h->lfd < 0) {
		err = h->lfd;
		pr_err("http: listen on %s port %u: %s", o->host, o->port,
		       err == -EINVAL ? "not a numeric IPv4 or IPv6 address" : strerror(-err));
		close(h->wake[0]);
		close(h->wake[1]);
		free(h->rd);
		free(h->workers);
		free(h);
		return err;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	for (i = 0; i < h->o.workers; i++)
		pthread_create(&h->workers[i], NULL, worker, h);
	pthread_create(&h->reader, NULL, reader, h);
	*hp = h;
	return 0;
}

void httpd_stop(struct httpd *h)
{
	uint32_t i;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = 1;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	(void)!write(h->wake[1], "x", 1);
	pthread_join(h->reader, NULL);
	for (i = 0; i < h->o.workers; i++)
		pthread_join(h->workers[i], NULL);
	close(h->lfd);
	close(h->wake[0]);
	close(h->wake[1]);
	free(h->rd);
	free(h->workers);
	free(h);
}

void httpd_counts(struct httpd *h, struct httpd_counts *out)
{
	pthread_mutex_lock(&h->lock);
	*out = h->c;
	pthread_mutex_unlock(&h->lock);
}
