// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * pffeed: a synthetic fleet for the aggregator's HTTP tests. Dials the
 * aggregator's --listen URL with a pub socket, like agents that dial in,
 * and sends for four boxes in two sites (with subsites) their catalogs,
 * one burst of deltas with known, deterministic sample distributions
 * (ending 40, 8, 2 and 0 minutes ago, so that every window holds a
 * different part) and a stats message. Then, until SIGINT/SIGTERM or --secs, every --every ms
 * an empty delta (no samples, next seq) for every box but the last, which
 * goes silent and so turns stale. One message of the burst is undecodable
 * (a decode error). The numbers the aggregator shows stay put after the
 * burst: windows only lose them when they age out.
 *
 * Output: "sent ID HALF END_S COUNT SITE" for each customer-half of each
 * burst delta (SITE: the rest of the line), "cust ID HALF
 * COUNT" for what was sent in all, "total COUNT" (with the unnamed key's),
 * then "ready".
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/supplemental/util/platform.h>
#include "common/hist.h"
#include "datapath/pingfold_shared.h"
#include "common/wire.h"

#define NBOXES	4
#define BURST	4		/* deltas per box in the burst, of these ages: */
static const uint64_t burst_age_s[BURST] = { 40 * 60, 8 * 60, 2 * 60, 0 };

struct cust {
	uint32_t key;
	const char *id, *name, *site;
	unsigned boxes;		/* bit i: box i names it and sends its samples */
	double access_ms, internet_ms;	/* median; 0: no samples */
	int bloat;		/* heavy tail on access */
	int n;			/* samples per half and box */
};

static const char *const box_name[NBOXES] = { "shaper-n1", "shaper-n2", "shaper-s1", "shaper-s2" };

/* Sites North (Tower 1, Tower 2) and South (Ridge, Valley). shaper-s2 goes stale. */
static const struct cust custs[] = {
	{ 1, "c01", "Alice Anders", "North/Tower 1", 1, 4, 12, 0, 400 },
	{ 2, "c02", "Bob's Bakery", "North/Tower 1", 1, 9, 20, 0, 300 },
	{ 3, "c03", "Café Müller", "North/Tower 1", 1, 22, 30, 0, 250 },
	{ 4, "c04", "<b>Tag</b> & \"Co\"", "North/Tower 2", 2, 35, 8, 0, 200 },
	{ 5, "c05", "Dora Diaz", "North/Tower 2", 2, 60, 15, 0, 350 },
	{ 6, "c06", "Eve Echo", "North", 2, 2, 45, 0, 150 },
	{ 7, "c07", "Shared Shop", "North/Tower 2", 1 | 2, 15, 25, 0, 220 },
	{ 8, "c08", "Fay Farm", "South/Ridge", 4, 80, 150, 0, 180 },
	{ 9, "c09", "Gus Garage", "South/Ridge", 4, 6, 18, 0, 500 },
	{ 10, "c10", "Bufferbloat Bob", "South/Ridge", 4, 30, 22, 1, 600 },
	{ 11, "c11", "Hal Hut", "South/Valley", 8, 12, 40, 0, 260 },
	{ 12, "c12", "Ivy Inn", "South/Valley", 8, 140, 5, 0, 120 },
	{ 13, "c13", "Quiet Quinn", "South", 4, 0, 0, 0, 0 },
};
#define NCUSTS (sizeof(custs) / sizeof(custs[0]))
/* A key shaper-n1's catalog does not name: merged as "?shaper-n1/99". */
#define UNNAMED_KEY 99

static volatile sig_atomic_t stop;
static volatile int connected;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)arg;
	if (ev == NNG_PIPE_EV_ADD_POST)
		connected = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Deterministic: the same samples every run. */
static uint64_t rng = 88172645463325252ULL;

static double uniform(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
	return sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
}

/* n samples around median ms (log-normal, sigma 0.15), bloat: a long tail. */
static void fill(struct hist *h, double ms, int bloat, int n)
{
	int i;

	hist_init(h);
	for (i = 0; i < n; i++) {
		double v = ms * exp(0.15 * gauss());

		if (bloat)
			v += -log(uniform()) * 90;
		hist_add(h, (uint64_t)(v * 1e6));
	}
}

static int send_msg(nng_socket s, int rc, char *buf, size_t len)
{
	if (rc)
		return rc;
	rc = nng_send(s, buf, len, 0);
	free(buf);
	return rc ? -EIO : 0;
}

static int send_catalog(nng_socket s, int b, uint64_t epoch)
{
	struct wire_catalog c;
	char *buf = NULL;
	size_t len = 0, i;
	int rc = 0;

	wire_catalog_init(&c);
	snprintf(c.box, sizeof(c.box), "%s", box_name[b]);
	c.epoch = epoch;
	for (i = 0; i < NCUSTS && !rc; i++)
		if (custs[i].boxes & (1u << b))
			rc = wire_catalog_add(&c, custs[i].key, custs[i].id, custs[i].name,
					      custs[i].site);
	rc = rc ?: wire_encode_catalog(&c, &buf, &len);
	wire_catalog_free(&c);
	return send_msg(s, rc, buf, len);
}

static int add_hist(struct wire_delta *d, uint32_t key, int half, const struct hist *h)
{
	struct hist_sparse sp;

	if (!h->count)
		return 0;
	hist_to_sparse(h, &sp);
	return wire_delta_add(d, key, (uint8_t)half, &sp);
}

/*
 * Delta seq of box b, ending age_s ago (so windows differ); with samples:
 * n / BURST fresh ones of each of its customer-halves.
 */
static long box_mask = 15;	/* --boxes */

static int send_delta(nng_socket s, int b, uint64_t epoch, uint64_t seq, uint64_t iv_ns,
		      uint64_t age_s, int samples, uint64_t cnt[][PF_NHALVES])
{
	/* a box left out still draws its samples: the others' stay the same */
	bool mine = box_mask >> b & 1;
	struct wire_delta d;
	uint64_t end = now_ns() - age_s * 1000000000ULL;
	struct hist h;
	char *buf = NULL;
	size_t len = 0, i;
	int rc = 0, half;

	wire_delta_init(&d);
	snprintf(d.box, sizeof(d.box), "%s", box_name[b]);
	d.epoch = epoch;
	d.seq = seq;
	d.start_ns = end - iv_ns;
	d.end_ns = end;
	for (i = 0; i < NCUSTS && samples && !rc; i++) {
		if (!(custs[i].boxes & (1u << b)))
			continue;
		for (half = 0; half < PF_NHALVES && !rc; half++) {
			double ms = half ? custs[i].internet_ms : custs[i].access_ms;

			if (ms <= 0)
				continue;
			fill(&h, ms, custs[i].bloat && !half, custs[i].n / BURST);
			cnt[i][half] += mine ? h.count : 0;
			if (mine && samples)	/* for history: what ended when */
				printf("sent %s %s %llu %llu %s\n", custs[i].id,
				       half ? "internet" : "access",
				       (unsigned long long)(end / 1000000000ULL),
				       (unsigned long long)h.count, custs[i].site);
			rc = add_hist(&d, custs[i].key, half, &h);
		}
	}
	if (samples && b == 0 && !rc) {	/* one key the catalog does not name */
		fill(&h, 7, 0, 40);
		cnt[NCUSTS][0] += mine ? h.count : 0;
		rc = add_hist(&d, UNNAMED_KEY, 0, &h);
	}
	if (!mine) {
		wire_delta_free(&d);
		return rc;
	}
	rc = rc ?: wire_encode_delta(&d, &buf, &len);
	wire_delta_free(&d);
	return send_msg(s, rc, buf, len);
}

static int send_stats(nng_socket s, int b, uint64_t epoch, uint64_t seq, uint64_t samples)
{
	struct wire_stats st = { .epoch = epoch, .seq = seq, .time_ns = now_ns(), .n = 2 };
	char *buf = NULL;
	size_t len = 0;
	int rc;

	snprintf(st.box, sizeof(st.box), "%s", box_name[b]);
	snprintf(st.s[0].name, sizeof(st.s[0].name), "samples");
	st.s[0].value = samples;
	snprintf(st.s[1].name, sizeof(st.s[1].name), "flows");
	st.s[1].value = 42;
	rc = wire_encode_stats(&st, &buf, &len);
	return send_msg(s, rc, buf, len);
}

static const char usage[] =
"Usage: pffeed -c URL [--secs N] [--every MS] [--boxes MASK]\n"
"Sends a synthetic fleet (4 boxes, sites North and South) to an aggregator's\n"
"--listen URL, then keeps 3 of the boxes alive with empty deltas.\n"
"--boxes MASK: only the boxes of these bits (1 shaper-n1, 2 shaper-n2,\n"
"4 shaper-s1, 8 shaper-s2; default 15), to split a fleet between aggregators.\n";

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "connect", required_argument, NULL, 'c' }, { "secs", required_argument, NULL, 's' },
		{ "every", required_argument, NULL, 'e' }, { "boxes", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' }, { 0 }
	};
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t cnt[NCUSTS + 1][PF_NHALVES] = { { 0 } }, box_cnt[NBOXES];
	uint64_t epoch = now_ns(), seq[NBOXES] = { 0 }, t_end, iv, total;
	const char *url = NULL;
	long secs = 0, every = 1000, mask = 15;
	nng_socket s;
	size_t i;
	int ch, b, half, k, rc;

	while ((ch = getopt_long(argc, argv, "c:s:e:b:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': url = optarg; break;
		case 's': secs = strtol(optarg, NULL, 10); break;
		case 'e': every = strtol(optarg, NULL, 10); break;
		case 'b': mask = box_mask = strtol(optarg, NULL, 0); break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!url || every < 10) {
		fputs(usage, stderr);
		return 2;
	}
	iv = (uint64_t)every * 1000000ULL;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = nng_pub0_open(&s);
	/* pub drops what its pipe's queue cannot hold: room for the whole burst */
	rc = rc ?: nng_socket_set_int(s, NNG_OPT_SENDBUF, 1024);
	rc = rc ?: nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, on_pipe, NULL);
	rc = rc ?: nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK);
	if (rc) {
		fprintf(stderr, "pffeed: %s: %s\n", url, nng_strerror(rc));
		return 1;
	}
	for (k = 0; k < 500 && !connected && !stop; k++)
		nng_msleep(10);
	if (!connected) {
		fprintf(stderr, "pffeed: %s: no connection\n", url);
		nng_close(s);
		return 1;
	}
	nng_msleep(100);	/* the subscriber's side of the pipe is up too */

	for (b = 0; b < NBOXES && !rc; b++)
		rc = mask >> b & 1 ? send_catalog(s, b, epoch) : 0;
	nng_msleep(50);
	for (b = 0; b < NBOXES && !rc; b++) {
		uint64_t before = 0, after = 0;

		for (i = 0; i <= NCUSTS; i++)
			before += cnt[i][0] + cnt[i][1];
		for (k = 0; k < BURST && !rc; k++) {
			rc = send_delta(s, b, epoch, ++seq[b], iv, burst_age_s[k], 1, cnt);
			nng_msleep(2);
		}
		for (i = 0; i <= NCUSTS; i++)
			after += cnt[i][0] + cnt[i][1];
		box_cnt[b] = after - before;
	}
	for (b = 0; b < NBOXES && !rc; b++)
		rc = mask >> b & 1 ? send_stats(s, b, epoch, seq[b], box_cnt[b]) : 0;
	if (!rc && (mask & 1)) {	/* one message the aggregator cannot decode */
		static const char bad[] = "delta/shaper-n1\0\x93\xff\xff";

		rc = nng_send(s, (void *)bad, sizeof(bad) - 1, 0) ? -EIO : 0;
	}
	if (rc) {
		fprintf(stderr, "pffeed: sending: %s\n", strerror(-rc));
		nng_close(s);
		return 1;
	}
	for (i = 0; i < NCUSTS; i++)
		for (half = 0; half < PF_NHALVES; half++)
			printf("cust %s %s %llu\n", custs[i].id, half ? "internet" : "access",
			       (unsigned long long)cnt[i][half]);
	for (b = 0, total = 0; b < NBOXES; b++)
		total += box_cnt[b];
	printf("total %llu\n", (unsigned long long)total);
	printf("ready\n");
	fflush(stdout);

	t_end = secs > 0 ? now_ns() + (uint64_t)secs * 1000000000ULL : UINT64_MAX;
	while (!stop && now_ns() < t_end) {
		nng_msleep((nng_duration)every);
		for (b = 0; b < NBOXES - 1 && !stop; b++)
			if ((mask >> b & 1) && send_delta(s, b, epoch, ++seq[b], iv, 0, 0, NULL))
				break;
	}
	nng_close(s);
	return 0;
}
