// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * ns per packet of the datapath by BPF_PROG_TEST_RUN, as ratios against
 * the empty tc program measured the same way in the same run.
 *
 * Steady-state rows run one frame with repeat = REPEAT (the kernel
 * reports the mean). A frame that stores a timestamp or yields a sample
 * does so only once, so those rows are run one call at a time, REPEAT
 * calls, with the state reset between calls, and compared with the empty
 * program run the same way (per-call figures include the kernel's timer
 * overhead, which the per-call baseline shows). Each reset clears the
 * flow's entry in CPU 0's flow cache too (the bench runs on CPU 0), so that
 * the stored and matched rows go the whole way; a row with only the cache
 * entry cleared shows what a miss costs.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "datapath/datapath.h"
#include "common/log.h"
#include "../tests/bpf/pkt.c"

#define REPEAT 100000

struct frame {
	uint8_t buf[PKT_MAX];
	size_t len;
};

static struct frame mk(const struct pkt_spec *s)
{
	struct frame f;

	f.len = pkt_build(s, f.buf, sizeof(f.buf));
	return f;
}

static double run_repeat(int fd, const struct frame *f, int repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->buf, .data_size_in = f->len,
		    .repeat = repeat);

	if (bpf_prog_test_run_opts(fd, &o)) {
		fprintf(stderr, "dp_bench: BPF_PROG_TEST_RUN: %s\n", strerror(errno));
		exit(1);
	}
	return o.duration;
}

typedef void (*reset_fn)(void *ctx);

/* Mean ns of REPEAT single runs, reset() before each. */
static double run_calls(int fd, const struct frame *f, reset_fn reset, void *ctx)
{
	double total = 0;
	int i;

	for (i = 0; i < REPEAT; i++) {
		if (reset)
			reset(ctx);
		total += run_repeat(fd, f, 1);
	}
	return total / REPEAT;
}

static void row(const char *what, double ns, double base)
{
	printf("  %-52s %7.1f ns  %5.2fx empty\n", what, ns, ns / base);
}

struct reset_ctx {
	int flows, tstamps, fcache;
	struct pf_flow_key flow;	/* the direction whose state is reset */
	struct pf_pkt_key ts;		/* the timestamp (re)stored */
	int store;			/* 1: put ts back; 0: remove it */
};

static void reset_state(void *p)
{
	struct reset_ctx *c = p;
	struct pf_flow_state st;
	struct pf_fcache_ent none;
	__u32 slot = pf_fcache_slot(&c->flow);	/* CPU 0's: main() runs there */
	__u64 t = 1;

	memset(&none, 0, sizeof(none));
	bpf_map_update_elem(c->fcache, &slot, &none, BPF_ANY);

	if (c->flows < 0)	/* the flow cache only */
		return;
	if (bpf_map_lookup_elem(c->flows, &c->flow, &st) == 0) {
		st.seen_id = 0;
		st.seen_echo = 0;
		st.last_record_ns = 0;
		bpf_map_update_elem(c->flows, &c->flow, &st, BPF_EXIST);
	}
	if (c->store)
		bpf_map_update_elem(c->tstamps, &c->ts, &t, BPF_ANY);
	else
		bpf_map_delete_elem(c->tstamps, &c->ts);
}

int main(void)
{
	/* a bulk segment (no PSH: a small message with PSH is not stored) */
	struct pkt_spec data = { .src = "198.19.0.1", .dst = "198.18.1.10", .sport = 443,
				 .dport = 40000, .flags = PKT_ACK, .tsval = 1000,
				 .tsecr = 77, .payload = 512 };
	struct pkt_spec nocust = data, udp = data, ack;
	struct frame f_data, f_ack, f_nocust, f_udp;
	struct reset_ctx rc;
	struct pf_dp_opts o;
	struct prefix p;
	struct pf_dp *dp;
	const char *why;
	double base, base_call;
	int fd, fd_empty;

	cpu_set_t cpu0;

	log_set_ident("dp_bench");
	CPU_ZERO(&cpu0);	/* the flow cache entries reset below are CPU 0's */
	CPU_SET(0, &cpu0);
	if (sched_setaffinity(0, sizeof(cpu0), &cpu0))
		return 1;
	pf_dp_opts_default(&o);
	o.pin_dir = NULL;
	o.max_flows = 65536;
	o.rate_limit_ns = 0;
	o.load_empty = true;
	if (pf_dp_open(&dp, &o))
		return 1;
	prefix_parse("198.18.0.0/16", &p, &why);
	if (pf_dp_prefix_set(dp, &p, 0) || pf_dp_commit(dp))
		return 1;
	fd = pf_dp_prog_fd(dp, "pf_tc_ingress");
	fd_empty = pf_dp_prog_fd(dp, "pf_tc_empty");

	ack = pkt_echo(&data);
	nocust.dst = "198.19.9.9";
	udp.proto = 17;
	f_data = mk(&data);
	f_ack = mk(&ack);
	f_nocust = mk(&nocust);
	f_udp = mk(&udp);

	printf("repeat %d; frames: IPv4 TCP, 512 B payload, customer 198.18.0.0/16\n", REPEAT);
	base = run_repeat(fd_empty, &f_data, REPEAT);
	row("empty tc program (baseline)", base, base);
	run_repeat(fd, &f_data, 1);	/* creates the flow state, stores the TSval */
	run_repeat(fd, &f_ack, 1);	/* matches it */
	row("TCP TS, customer, TSval already seen (most packets)", run_repeat(fd, &f_data, REPEAT), base);
	row("TCP TS pure ACK, TSecr already looked up", run_repeat(fd, &f_ack, REPEAT), base);
	run_repeat(fd, &f_nocust, 1);
	row("TCP TS, no customer at either end", run_repeat(fd, &f_nocust, REPEAT), base);
	row("non-TCP (UDP)", run_repeat(fd, &f_udp, REPEAT), base);

	printf("one call at a time, state reset between calls:\n");
	base_call = run_calls(fd_empty, &f_data, NULL, NULL);
	row("empty tc program (per-call baseline)", base_call, base_call);
	rc.fcache = pf_dp_map_fd(dp, "fcache");
	rc.flows = -1;		/* the flow cache entry only: the flow's state stays */
	pkt_flow_key(&data, &rc.flow);
	row("TSval already seen, not in the flow cache (evicted)",
	    run_calls(fd, &f_data, reset_state, &rc), base_call);
	row("TSval already seen, in the flow cache",
	    run_calls(fd, &f_data, NULL, NULL), base_call);
	rc.flows = pf_dp_map_fd(dp, "flows");
	rc.tstamps = pf_dp_map_fd(dp, "tstamps");
	rc.fcache = pf_dp_map_fd(dp, "fcache");
	pkt_flow_key(&data, &rc.flow);
	rc.ts.flow = rc.flow;
	rc.ts.id = data.tsval;
	rc.store = 0;
	row("TCP TS, customer, new TSval -> timestamp stored",
	    run_calls(fd, &f_data, reset_state, &rc), base_call);
	pkt_flow_key(&ack, &rc.flow);
	rc.store = 1;
	row("TCP TS echo matched -> RTT sample into histogram",
	    run_calls(fd, &f_ack, reset_state, &rc), base_call);
	pf_dp_close(dp);
	return 0;
}
