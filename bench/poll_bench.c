// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Agent poll cost: 100,000 customers with samples. The samples are real:
 * each customer's frames (a data packet with a new TSval towards it and
 * its echo) run through the loaded datapath by BPF_PROG_TEST_RUN, a few
 * rounds, so every customer has 1..ROUNDS samples in its access half.
 * The data packets of 4096 customers go first, then their echoes: an RTT
 * is the time of that pass (~20 ms here), so samples land in the slots
 * real RTTs use (a microsecond RTT would put a half's count in the cache
 * line of its sum and flatter the reader) and sums, minima and maxima
 * take their real number of bytes.
 *
 * Measured, in CPU time of this process:
 *  - one agent poll: pf_dp_read (mmap, dirty bits) + commit, building the
 *    wire delta and encoding it; and the bytes per customer-half. The
 *    median of five warm polls, each after one more round of samples;
 *    the first poll shown apart (the pages of the maps and of the
 *    buffers were faulted in when the datapath was opened and the delta
 *    reserved, as the agent does, not here);
 *  - the baseline: reading the same map with a bpf_map_lookup_elem loop
 *    over every customer (what a reader without mmap/dirty bits does).
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "datapath/datapath.h"
#include "common/log.h"
#include "common/wire.h"
#include "bench/synth.h"
#include "../tests/bpf/pkt.c"

#define NCUST	100000
#define ROUNDS	3
#define CHUNK	4096	/* customers between a data packet and its echo */
#define WARM	5	/* warm polls timed; the median is shown */

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void cust_addr(uint32_t i, char *buf, size_t len)
{
	/* 198.18.0.0/15 holds 131072 addresses; skip .0 of the first /24 */
	uint32_t a = (198u << 24) | (18u << 16) | (i + 1);

	snprintf(buf, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static int run(int fd, const struct pkt_spec *s)
{
	uint8_t buf[PKT_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .repeat = 1);

	o.data_size_in = pkt_build(s, buf, sizeof(buf));
	return bpf_prog_test_run_opts(fd, &o);
}

/* Customer i's data packet of round r (a TSval stored), or its echo (a sample). */
static int frame(int fd, uint32_t i, uint32_t r, bool echo)
{
	/* a bulk segment: a small message with PSH is not stored */
	struct pkt_spec d = { .src = "198.19.200.1", .dport = 40000, .sport = 443,
			      .flags = PKT_ACK, .tsval = 1000 * r, .tsecr = 1, .payload = 100 };
	struct pkt_spec e;
	char addr[32];

	cust_addr(i, addr, sizeof(addr));
	d.dst = addr;
	e = pkt_echo(&d);
	return run(fd, echo ? &e : &d);
}

static int make_samples(int fd, uint32_t from, uint32_t to)
{
	uint32_t i, c, r;
	int echo;

	/* CHUNK customers' data packets, then their echoes: RTTs of ~20 ms */
	for (r = from; r <= to; r++)
		for (c = 0; c < NCUST; c += CHUNK)
			for (echo = 0; echo <= 1; echo++)
				for (i = c; i < c + CHUNK && i < NCUST; i++)
					if (frame(fd, i, r, echo))
						return -1;
	return 0;
}

static int on_delta(void *ctx, uint32_t slot, enum pf_half half, const struct hist_sparse *h)
{
	return wire_delta_add(ctx, slot, (uint8_t)half, h);
}

/* CPU ms of one poll's parts: the read (building the delta), the commit, the encoding */
enum { P_READ, P_COMMIT, P_ENCODE, NPARTS };

/* One agent poll: read, commit, the wire delta built and encoded. */
static int poll(struct pf_dp *dp, struct wire_delta *d, uint64_t seq, char **msg, size_t *len,
		double part[NPARTS])
{
	double t0 = cpu_ms(), t1, t2;
	int err;

	wire_delta_reset(d);
	if (pf_dp_read(dp, on_delta, d))
		return -1;
	t1 = cpu_ms();
	if (pf_dp_commit_read(dp, seq))
		return -1;
	t2 = cpu_ms();
	d->seq = seq;
	snprintf(d->box, sizeof(d->box), "bench");
	d->scale = PF_HIST_SCALE;
	err = wire_encode_delta(d, msg, len);
	part[P_ENCODE] = cpu_ms() - t2;
	part[P_COMMIT] = t2 - t1;
	part[P_READ] = t1 - t0;
	return err;
}

int main(void)
{
	struct pf_cust_hist *v = malloc(sizeof(*v));
	struct wire_delta d;
	struct pf_dp_opts o;
	struct pf_dp *dp;
	struct prefix p;
	const char *why;
	char addr[32], *msg;
	size_t len;
	double t0, poll_ms, base_ms, first_ms, warm[WARM], parts[NPARTS][WARM], part[NPARTS];
	uint64_t hists = 0;
	uint32_t i, k;
	int fd, mfd;

	log_set_ident("poll_bench");
	pf_dp_opts_default(&o);
	o.pin_dir = NULL;
	o.max_customers = 131072;
	o.max_prefixes = 131072;
	o.max_flows = 1 << 18;
	o.rate_limit_ns = 0;
	if (!v || pf_dp_open(&dp, &o))
		return 1;
	for (i = 0; i < NCUST; i++) {
		cust_addr(i, addr, sizeof(addr));
		prefix_parse(addr, &p, &why);
		if (pf_dp_prefix_set(dp, &p, i))
			return 1;
	}
	pf_dp_commit(dp);
	fd = pf_dp_prog_fd(dp, "pf_tc_ingress");
	printf("%d customers, %d rounds of a data packet and, %d customers later, its echo "
	       "(BPF_PROG_TEST_RUN)...\n", NCUST, ROUNDS, CHUNK);
	if (make_samples(fd, 1, ROUNDS)) {
		fprintf(stderr, "poll_bench: test run failed\n");
		return 1;
	}

	/* baseline first: it does not consume anything */
	mfd = pf_dp_map_fd(dp, "hists");
	t0 = cpu_ms();
	for (i = 0; i < NCUST; i++) {
		if (bpf_map_lookup_elem(mfd, &i, v))
			return 1;
		hists += v->half[0].slots[0] + v->half[1].slots[0];
	}
	base_ms = cpu_ms() - t0;

	/* the first poll; the delta reserved as the agent does */
	wire_delta_init(&d);
	if (wire_delta_reserve(&d, o.max_customers * PF_NHALVES, o.max_customers * PF_NHALVES * 2))
		return 1;
	t0 = cpu_ms();
	if (poll(dp, &d, 1, &msg, &len, part))
		return 1;
	first_ms = cpu_ms() - t0;
	if (d.nh)
		printf("  a sample's RTT: %.0f ms (customer 0's mean: the time of %d customers' packets)\n",
		       d.h[0].sum / 1e6 / d.h[0].count, CHUNK);
	free(msg);
	/* warm polls, each after one more round of samples: the median */
	for (i = 0; i < WARM; i++) {
		if (make_samples(fd, ROUNDS + 1 + i, ROUNDS + 1 + i))
			return 1;
		t0 = cpu_ms();
		if (poll(dp, &d, 2 + i, &msg, &len, part))
			return 1;
		warm[i] = cpu_ms() - t0;
		for (k = 0; k < NPARTS; k++)
			parts[k][i] = part[k];
		if (i + 1 < WARM)
			free(msg);
	}
	poll_ms = syn_median(warm, WARM);	/* sorts warm */

	printf("  baseline: bpf_map_lookup_elem loop over %d customers   %8.1f ms CPU\n",
	       NCUST, base_ms);
	printf("  agent poll: read + commit + delta + encode              %8.1f ms CPU  %5.2fx baseline"
	       "   (target <= 10 ms)\n", poll_ms, poll_ms / base_ms);
	printf("    (median of %d warm polls, each after a round of samples: %.1f .. %.1f ms)\n",
	       WARM, warm[0], warm[WARM - 1]);
	printf("    of which: read and delta built %.1f ms, commit %.1f ms, encoding %.1f ms"
	       " (medians)\n", syn_median(parts[P_READ], WARM), syn_median(parts[P_COMMIT], WARM),
	       syn_median(parts[P_ENCODE], WARM));
	printf("  the agent's first poll                                  %8.1f ms CPU"
	       "   (target <= 30 ms)\n", first_ms);
	printf("  delta: %u customer-halves, %zu bytes, %.1f bytes per customer-half   "
	       "(target <= 40)\n", d.nh, len, (double)len / (d.nh ? d.nh : 1));
	if (hists == UINT64_MAX)
		printf("(unreachable: keeps the baseline loop)\n");
	free(msg);
	wire_delta_free(&d);
	free(v);
	pf_dp_close(dp);
	return 0;
}
