// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * pfrr: request/response TCP traffic with think time, for the delayed-ACK
 * measurement (tests/e2e/delack_test.sh). Small messages, one at a time,
 * with pauses: the traffic whose ACKs a receiver delays.
 *
 *   pfrr -s -p PORT [-t THINK_MS] [-r BYTES]
 *        server: each connection in turn; per request (up to 4096 bytes
 *        read at once), wait THINK_MS, answer BYTES (default 200)
 *   pfrr -c ADDR -p PORT [-B ADDR] [-k CONNS] [-n N] [-q BYTES] [-w MS]
 *        client: CONNS connections one after the other (default 3), N
 *        exchanges each (default 20): BYTES request (default 100), the
 *        whole answer, then a pause of MS (default 150)
 *
 * Every socket has a 10 s deadline. Exit 0 when every exchange completed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void deadline(int fd)
{
	struct timeval tv = { .tv_sec = 10 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);

		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_n(int fd, char *buf, size_t n)
{
	while (n) {
		ssize_t r = read(fd, buf, n);

		if (r <= 0)
			return -1;
		n -= (size_t)r;
	}
	return 0;
}

/* A listening or connected socket for host:port (numeric). */
static int sock_for(const char *host, const char *port, const char *bind_to, int listening)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST },
			*ai, *b = NULL;
	int fd, one = 1, rc;

	if (listening)
		hints.ai_flags |= AI_PASSIVE;
	hints.ai_family = host && strchr(host, ':') ? AF_INET6 : listening ? AF_INET6 : AF_INET;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		fprintf(stderr, "pfrr: %s: %s\n", host ? host : "*", gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0)
		goto fail;
	deadline(fd);
	if (listening) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 16))
			goto fail;
	} else {
		if (bind_to) {
			hints.ai_flags = AI_NUMERICHOST;
			if (getaddrinfo(bind_to, NULL, &hints, &b) ||
			    bind(fd, b->ai_addr, b->ai_addrlen))
				goto fail;
			freeaddrinfo(b);
			b = NULL;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen))
			goto fail;
	}
	freeaddrinfo(ai);
	return fd;
fail:
	fprintf(stderr, "pfrr: %s port %s: %s\n", host ? host : "*", port, strerror(errno));
	if (b)
		freeaddrinfo(b);
	freeaddrinfo(ai);
	if (fd >= 0)
		close(fd);
	return -1;
}

int main(int argc, char **argv)
{
	const char *host = NULL, *port = NULL, *bind_to = NULL;
	long think = 0, resp = 200, req = 100, pause = 150, conns = 3, n = 20, i, k;
	int server = 0, c, fd;
	char buf[4096];

	while ((c = getopt(argc, argv, "sc:p:B:t:r:k:n:q:w:")) != -1) {
		switch (c) {
		case 's': server = 1; break;
		case 'c': host = optarg; break;
		case 'p': port = optarg; break;
		case 'B': bind_to = optarg; break;
		case 't': think = atol(optarg); break;
		case 'r': resp = atol(optarg); break;
		case 'k': conns = atol(optarg); break;
		case 'n': n = atol(optarg); break;
		case 'q': req = atol(optarg); break;
		case 'w': pause = atol(optarg); break;
		default:
			fprintf(stderr, "usage: pfrr -s -p PORT [-t MS] [-r BYTES] | "
				"pfrr -c ADDR -p PORT [-B ADDR] [-k N] [-n N] [-q BYTES] [-w MS]\n");
			return 2;
		}
	}
	if (!port || (!server && !host) || resp < 1 || resp > (long)sizeof(buf) || req < 1 ||
	    req > (long)sizeof(buf)) {
		fprintf(stderr, "pfrr: -p PORT, and -s or -c ADDR; sizes 1..4096\n");
		return 2;
	}
	memset(buf, 'x', sizeof(buf));
	if (server) {
		int lfd = sock_for(NULL, port, NULL, 1);

		if (lfd < 0)
			return 1;
		printf("listening\n");
		fflush(stdout);
		for (;;) {
			struct timeval tv = { .tv_sec = 10 };
			int cfd = accept(lfd, NULL, NULL);

			if (cfd < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;	/* the listening deadline: wait on */
				return 1;
			}
			setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			while (read(cfd, buf, sizeof(buf)) > 0) {
				sleep_ms(think);
				if (write_all(cfd, buf, (size_t)resp))
					break;
			}
			close(cfd);
		}
	}
	for (k = 0; k < conns; k++) {
		fd = sock_for(host, port, bind_to, 0);
		if (fd < 0)
			return 1;
		for (i = 0; i < n; i++) {
			if (write_all(fd, buf, (size_t)req) || read_n(fd, buf, (size_t)resp)) {
				fprintf(stderr, "pfrr: exchange %ld of connection %ld: %s\n", i, k,
					strerror(errno));
				return 1;
			}
			sleep_ms(pause);
		}
		close(fd);
	}
	printf("done %ld exchanges\n", conns * n);
	return 0;
}
