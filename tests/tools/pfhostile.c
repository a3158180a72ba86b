// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * pfhostile: a hostile peer for the aggregator's tests (tests/e2e/
 * hostile_test.sh). Each run is one attack over one fresh connection:
 *
 *   pfhostile -c URL forge BOX       deltas under another box's id: seq
 *                                    1..20 of its epoch (--epoch), 1000
 *                                    samples each, then seq 2^62, then two
 *                                    new epochs
 *   pfhostile -c URL values BOX      under its own id: count 2^64-6, sum
 *                                    2^64-1, end 1 ns, end 2^64-1, end <
 *                                    start (one delta each, seq 2..6 after
 *                                    an honest seq 1)
 *   pfhostile -c URL customers BOX N ROUNDS  catalogs of N new ids each
 *   pfhostile -c URL boxes N         stats messages of N new box ids
 *   pfhostile -c URL garbage N       N random messages behind valid topics
 *   pfhostile -c URL feed BOX SECS   an honest box: one delta of 10
 *                                    samples every 100 ms (--skip N: every
 *                                    Nth is not sent, a gap); prints
 *                                    "samples N" (those sent)
 *   pfhostile slow-query HOST PORT SECS   a req/rep client that sends
 *                                    queries for every customer and never
 *                                    reads its answers
 *   pfhostile idle-http HOST PORT N SECS  N idle TCP connections
 *   pfhostile blackhole PORT SECS    a listener that accepts and never
 *                                    answers (a dead replay host)
 *
 * Sends repeat nothing and wait --settle ms (default 300) after dialling,
 * since pub/sub drops what is sent before the connection is up. Prints
 * "sent N" (messages) at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/supplemental/util/platform.h>
#include "common/sys.h"
#include "common/hist.h"
#include "datapath/pingfold_shared.h"
#include "common/wire.h"

#define NS 1000000000ULL

static uint64_t now_ns(void)
{
	return sys_now_ns(CLOCK_REALTIME);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "pfhostile: %s: %s\n", what, rc > 0 ? nng_strerror(rc) : strerror(-rc));
	exit(1);
}

static nng_socket pub;
static unsigned long sent;

static void send_buf(char *msg, size_t len)
{
	int rc = nng_send(pub, msg, len, 0);

	if (rc)
		die("send", rc);
	free(msg);
	sent++;
}

/* A delta of one customer-half (key 0, access): n samples of v ns. */
static void send_delta(const char *box, uint64_t epoch, uint64_t seq, uint64_t n, uint64_t v)
{
	struct wire_delta d;
	struct hist_sparse sp;
	struct hist h;
	uint64_t end = now_ns();
	char *msg;
	size_t len;

	wire_delta_init(&d);
	snprintf(d.box, sizeof(d.box), "%s", box);
	d.epoch = epoch;
	d.seq = seq;
	d.start_ns = end - NS / 10;
	d.end_ns = end;
	d.scale = PF_HIST_SCALE;
	hist_init(&h);
	hist_add_n(&h, v, n);
	hist_to_sparse(&h, &sp);
	if (wire_delta_add(&d, 0, PF_HALF_ACCESS, &sp) || wire_encode_delta(&d, &msg, &len))
		die("encode", -EINVAL);
	send_buf(msg, len);
	wire_delta_free(&d);
}

/*
 * A delta of one bucket with the given count, sum and times: well formed
 * (the encoder checks structure only), its values hostile.
 */
static void send_raw(const char *box, uint64_t seq, uint64_t count, uint64_t sum,
		     uint64_t start, uint64_t end)
{
	struct wire_delta d;
	struct wire_hist hh = { .key = 0, .half = PF_HALF_ACCESS, .off = 0, .nb = 1 };
	struct wire_bucket b;
	char *msg;
	size_t len;

	wire_delta_init(&d);
	snprintf(d.box, sizeof(d.box), "%s", box);
	d.epoch = 1;
	d.seq = seq;
	d.start_ns = start;
	d.end_ns = end;
	d.scale = PF_HIST_SCALE;
	hh.count = count;
	hh.sum = sum;
	hh.min = hh.max = 1000000;
	b.slot = (uint16_t)pf_hist_slot(1000000);
	b.n = count;
	d.h = &hh;
	d.nh = 1;
	d.b = &b;
	d.nb = 1;
	if (wire_encode_delta(&d, &msg, &len))
		die("encode", -EINVAL);
	send_buf(msg, len);
}

static void dial(const char *url, int settle_ms)
{
	int rc = nng_pub0_open(&pub);

	/* pub drops what its per-pipe queue cannot hold: make room for a burst */
	rc = rc ?: nng_socket_set_int(pub, NNG_OPT_SENDBUF, 8192);
	rc = rc ?: nng_dial(pub, url, NULL, 0);
	if (rc)
		die(url, rc);
	nng_msleep(settle_ms);
}

static int tcp_connect(const char *host, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* SP over TCP: an 8-byte header (0, 'S', 'P', 0, protocol, 0, 0), then
 * messages framed by a 64-bit big-endian length. REQ is protocol 0x30;
 * a request body is a 32-bit request id with the high bit set, then the
 * query. */
static int slow_query(const char *host, int port, int secs)
{
	static const unsigned char hdr[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
	static const char q[] = "[\"customers\"]";
	int fd = tcp_connect(host, port), i;
	time_t until = time(NULL) + secs;

	if (fd < 0) {
		perror("pfhostile: slow-query connect");
		return 1;
	}
	if (write(fd, hdr, 8) != 8)
		return 1;
	for (i = 0; i < 64 && time(NULL) < until; i++) {
		unsigned char m[8 + 4 + sizeof(q) - 1];
		uint64_t n = 4 + sizeof(q) - 1;
		uint32_t id = 0x80000000u | (uint32_t)(i + 1);
		int k;

		for (k = 0; k < 8; k++)
			m[k] = (unsigned char)(n >> (56 - 8 * k));
		m[8] = (unsigned char)(id >> 24);
		m[9] = (unsigned char)(id >> 16);
		m[10] = (unsigned char)(id >> 8);
		m[11] = (unsigned char)id;
		memcpy(m + 12, q, sizeof(q) - 1);
		if (write(fd, m, sizeof(m)) != (ssize_t)sizeof(m))
			break;
		sent++;
		usleep(50000);
	}
	while (time(NULL) < until)	/* and never read */
		sleep(1);
	close(fd);
	return 0;
}

static int idle_http(const char *host, int port, int n, int secs)
{
	int *fds = calloc((size_t)n, sizeof(int)), i, ok = 0;

	for (i = 0; fds && i < n; i++) {
		fds[i] = tcp_connect(host, port);
		ok += fds[i] >= 0;
	}
	printf("connected %d\n", ok);
	fflush(stdout);
	sleep((unsigned)secs);
	for (i = 0; fds && i < n; i++) {
		char c;

		/* a connection the server closed reads EOF (or a reset) */
		if (fds[i] >= 0 && recv(fds[i], &c, 1, MSG_DONTWAIT) == 0)
			ok--;
	}
	printf("still open %d\n", ok);
	return 0;
}

static int blackhole(int port, int secs)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	time_t until = time(NULL) + secs;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096)) {
		perror("pfhostile: blackhole");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	while (time(NULL) < until)	/* the kernel accepts into the backlog; we never read */
		sleep(1);
	return 0;
}

int main(int argc, char **argv)
{
	const char *url = NULL, *mode;
	uint64_t epoch = 0;
	int settle = 300, i = 1, skip = 0;

	signal(SIGPIPE, SIG_IGN);
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-c") && i + 1 < argc)
			url = argv[++i];
		else if (!strcmp(argv[i], "--epoch") && i + 1 < argc)
			epoch = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--settle") && i + 1 < argc)
			settle = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--skip") && i + 1 < argc)
			skip = atoi(argv[++i]);
		else
			goto usage;
		i++;
	}
	if (i >= argc)
		goto usage;
	mode = argv[i++];
	if (!strcmp(mode, "slow-query") && i + 3 == argc)
		return slow_query(argv[i], atoi(argv[i + 1]), atoi(argv[i + 2]));
	if (!strcmp(mode, "idle-http") && i + 4 == argc)
		return idle_http(argv[i], atoi(argv[i + 1]), atoi(argv[i + 2]), atoi(argv[i + 3]));
	if (!strcmp(mode, "blackhole") && i + 2 == argc)
		return blackhole(atoi(argv[i]), atoi(argv[i + 1]));
	if (!url)
		goto usage;
	if (!strcmp(mode, "forge") && i + 1 == argc) {
		const char *box = argv[i];
		uint64_t q;

		dial(url, settle);
		for (q = 1; q <= 20; q++)
			send_delta(box, epoch, q, 1000, 1000000);
		send_delta(box, epoch, 1ULL << 62, 1000, 1000000);
		send_delta(box, epoch + 1, 1, 1000, 1000000);
		send_delta(box, epoch + 2, 1, 1000, 1000000);
	} else if (!strcmp(mode, "values") && i + 1 == argc) {
		const char *box = argv[i];
		uint64_t t = now_ns();

		dial(url, settle);
		send_delta(box, 1, 1, 5, 1000000);
		send_raw(box, 2, UINT64_MAX - 5, (UINT64_MAX - 5) * 1000000ULL, t - NS, t);
		send_raw(box, 3, 1, UINT64_MAX, t - NS, t);
		send_raw(box, 4, 1, 1000000, 0, 1);
		send_raw(box, 5, 1, 1000000, t - NS, UINT64_MAX);
		send_raw(box, 6, 1, 1000000, t, t - NS);
	} else if (!strcmp(mode, "customers") && i + 3 == argc) {
		const char *box = argv[i];
		uint32_t n = (uint32_t)atoi(argv[i + 1]), r, rounds = (uint32_t)atoi(argv[i + 2]), k;

		dial(url, settle);
		for (r = 0; r < rounds; r++) {
			struct wire_catalog c;
			char *msg, id[64];
			size_t len;

			wire_catalog_init(&c);
			snprintf(c.box, sizeof(c.box), "%s", box);
			c.epoch = 1;
			c.seq = r + 1;
			for (k = 0; k < n; k++) {
				snprintf(id, sizeof(id), "fake-%u-%u", r, k);
				if (wire_catalog_add(&c, k, id, "", "Fake/Site"))
					die("catalog", -EINVAL);
			}
			if (wire_encode_catalog(&c, &msg, &len))
				die("encode", -EINVAL);
			send_buf(msg, len);
			wire_catalog_free(&c);
		}
	} else if (!strcmp(mode, "boxes") && i + 1 == argc) {
		int n = atoi(argv[i]), k;

		dial(url, settle);
		for (k = 0; k < n; k++) {
			struct wire_stats st = { 0 };
			char *msg;
			size_t len;

			snprintf(st.box, sizeof(st.box), "fakebox-%d", k);
			st.epoch = 1;
			st.time_ns = now_ns();
			if (wire_encode_stats(&st, &msg, &len))
				die("encode", -EINVAL);
			send_buf(msg, len);
		}
	} else if (!strcmp(mode, "garbage") && i + 1 == argc) {
		static const char *const topics[] = { "delta/x", "catalog/x", "stats/x", "junk" };
		int n = atoi(argv[i]), k;
		unsigned seed = 7;

		dial(url, settle);
		for (k = 0; k < n; k++) {
			size_t tl = strlen(topics[k % 4]) + 1, len = tl + (size_t)(rand_r(&seed) % 200);
			char *m = malloc(len);
			size_t j;

			memcpy(m, topics[k % 4], tl);
			for (j = tl; j < len; j++)
				m[j] = (char)rand_r(&seed);
			send_buf(m, len);
			/* ~2k/s: a flood, not a test of the SUB socket's queue (1,024
			 * messages: a 100 ms stall of the aggregator holds 200) */
			if (k % 100 == 99)
				nng_msleep(50);
		}
	} else if (!strcmp(mode, "feed") && i + 2 == argc) {
		const char *box = argv[i];
		uint64_t until = now_ns() + (uint64_t)atoi(argv[i + 1]) * NS, q = 0, n = 0;

		dial(url, settle);
		epoch = epoch ? epoch : now_ns();
		while (now_ns() < until) {
			if (!skip || ++q % (uint64_t)skip) {
				if (!skip)
					q++;
				send_delta(box, epoch, q, 10, 2000000);
				n += 10;
			}
			nng_msleep(100);
		}
		printf("samples %llu\n", (unsigned long long)n);
	} else {
		goto usage;
	}
	nng_msleep(200);	/* let the last messages leave */
	printf("sent %lu\n", sent);
	return 0;
usage:
	fprintf(stderr, "usage: see the comment at the top of tests/tools/pfhostile.c\n");
	return 2;
}
