// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The datapath (datapath/pingfold.bpf.c) through the loader (datapath/datapath.c),
 * on crafted frames run by BPF_PROG_TEST_RUN. Times come from
 * bpf_ktime_get_ns(), so an RTT is the real time between the recording run
 * and the echo run: each sample is checked against the window
 * [time slept between them, wall time around both runs].
 *
 * Every step checks every counter (what moved and that nothing else did)
 * and every customer-half the reader reports (where samples landed and
 * that nothing landed anywhere else).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "common/cfgerr.h"
#include "datapath/datapath.h"
#include "pingfold.skel.h"
#include "pkt.h"
#include "pkt.c"

#define MS(x)		((uint64_t)(x) * 1000000ULL)
#define ETH_MIN		14

/* Customers (see setup) and hosts; only 198.18.0.0/15 and 2001:db8::/32. */
#define R4A	"198.19.1.1"		/* remote, no customer */
#define R4B	"198.19.2.2"		/* remote, no customer */
#define C4_0	"198.19.100.9"		/* slot 0: 198.19.100.0/24 */
#define C4_1	"198.18.1.10"		/* slot 1: 198.18.0.0/16 */
#define C4_1B	"198.18.6.7"		/* slot 1 */
#define C4_1C	"198.18.4.255"		/* slot 1, next to slot 2's /24 */
#define C4_2	"198.18.5.7"		/* slot 2: 198.18.5.0/24 */
#define C4_2B	"198.18.5.255"		/* slot 2 */
#define R6A	"2001:db8:ff::1"	/* remote */
#define R6B	"2001:db8:ff::2"	/* remote */
#define C6_3	"2001:db8:1::10"	/* slot 3: 2001:db8:1::/48 */
#define C6_3B	"2001:db8:1:6::7"	/* slot 3 */
#define C6_4	"2001:db8:1:5::7"	/* slot 4: 2001:db8:1:5::/64 */

static const struct {
	const char *pfx;
	uint32_t slot;
} customers[] = {
	{ "198.19.100.0/24", 0 },
	{ "198.18.0.0/16", 1 },
	{ "198.18.5.0/24", 2 },
	{ "2001:db8:1::/48", 3 },
	{ "2001:db8:1:5::/64", 4 },
};

static struct pf_dp *dp;
static int prog_in, prog_eg;

/* --- setup --------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000ULL, .tv_nsec = ns % 1000000000ULL };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

static void sleep_until(uint64_t t)
{
	uint64_t now = now_ns();

	if (now < t)
		sleep_ns(t - now);
}

static void set_customer(const char *pfx, uint32_t slot)
{
	struct prefix p;
	const char *why;

	cr_assert_eq(prefix_parse(pfx, &p, &why), 0, "%s: %s", pfx, why);
	cr_assert_eq(pf_dp_prefix_set(dp, &p, slot), 0, "cannot add %s", pfx);
}

static void del_customer(const char *pfx)
{
	struct prefix p;
	const char *why;

	cr_assert_eq(prefix_parse(pfx, &p, &why), 0, "%s: %s", pfx, why);
	cr_assert_eq(pf_dp_prefix_del(dp, &p), 0, "cannot delete %s", pfx);
}

static bool opt_record_psh;	/* the dpp suite: pf_dp_opts.record_psh */

static void dp_start(bool default_rate_limit)
{
	struct pf_dp_opts o;
	size_t i;
	int err;

	pf_dp_opts_default(&o);
	cr_assert_eq(o.rate_limit_ns, MS(10), "default rate limit is not 10 ms");
	o.pin_dir = NULL;
	o.max_flows = 4096;
	o.max_customers = 64;
	o.max_prefixes = 64;
	if (!default_rate_limit)
		o.rate_limit_ns = 0;
	o.record_psh = opt_record_psh;
	err = pf_dp_open(&dp, &o);
	cr_assert_eq(err, 0, "pf_dp_open: %s", strerror(-err));
	for (i = 0; i < sizeof(customers) / sizeof(customers[0]); i++)
		set_customer(customers[i].pfx, customers[i].slot);
	cr_assert_eq(pf_dp_commit(dp), 0);
	prog_in = pf_dp_prog_fd(dp, "pf_tc_ingress");
	prog_eg = pf_dp_prog_fd(dp, "pf_tc_egress");
	cr_assert_geq(prog_in, 0, "no pf_tc_ingress program");
	cr_assert_geq(prog_eg, 0, "no pf_tc_egress program");
}

static void setup_default(void)
{
	dp_start(true);
}

static void setup_norl(void)
{
	dp_start(false);
}

static void teardown(void)
{
	pf_dp_close(dp);
	dp = NULL;
}

static void setup_psh(void)
{
	opt_record_psh = true;
	dp_start(false);
}

TestSuite(dp, .init = setup_default, .fini = teardown, .timeout = 20);
TestSuite(dp0, .init = setup_norl, .fini = teardown, .timeout = 20);
TestSuite(dpp, .init = setup_psh, .fini = teardown, .timeout = 20);

/* --- running frames ------------------------------------------------------ */

/*
 * Runs one frame; 0 or -errno of the test run. When it ran, the program
 * must have returned TC_ACT_UNSPEC and left the frame as it was.
 */
static int run_raw(int prog, const uint8_t *data, size_t len)
{
	static uint8_t out[PKT_MAX + 256];
	int err;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

	memset(out, 0xee, sizeof(out));
	err = bpf_prog_test_run_opts(prog, &o);
	if (err)
		return err;
	cr_assert_eq((int32_t)o.retval, -1, "program returned %d, not TC_ACT_UNSPEC",
		     (int32_t)o.retval);
	cr_assert_eq(o.data_size_out, len, "frame of %zu bytes came out with %u", len,
		     o.data_size_out);
	cr_assert(memcmp(out, data, len) == 0, "the program modified a %zu-byte frame", len);
	return 0;
}

static void run_on(int prog, const struct pkt_spec *s)
{
	uint8_t f[PKT_MAX];
	size_t n = pkt_build(s, f, sizeof(f));
	int err = run_raw(prog, f, n);

	cr_assert_eq(err, 0, "test run of a %zu-byte frame: %s", n, strerror(-err));
}

static void run(const struct pkt_spec *s)
{
	run_on(prog_in, s);
}

/* --- counters -------------------------------------------------------------- */

/* Expected counter deltas, in enum pf_stat order; unnamed ones must stay. */
struct st {
	uint64_t packets, parsed, not_ip, truncated, odd, other_l4, tcp_no_ts,
		 no_customer, recorded, rate_limited, matched, samples, flow_full,
		 ts_full, bad_slot, ignored, fcache_hits, psh_skipped, fast;
};
_Static_assert(sizeof(struct st) == PF_STAT_MAX * sizeof(uint64_t),
	       "struct st must list every pf_stat");
_Static_assert(PF_STAT_PACKETS == 0 && PF_STAT_RECORDED == 8 && PF_STAT_BAD_SLOT == 14 &&
	       PF_STAT_IGNORED == 15 && PF_STAT_FCACHE_HIT == 16 && PF_STAT_PSH_SKIPPED == 17 &&
	       PF_STAT_FAST == 18,
	       "struct st follows enum pf_stat");

static uint64_t st_mark[PF_STAT_MAX];

static void stats_read(uint64_t out[PF_STAT_MAX])
{
	cr_assert_eq(pf_dp_stats(dp, out), 0, "pf_dp_stats failed");
}

/* Counters moved by exactly exp since the last check. */
static void stats_expect(const char *what, const struct st *exp)
{
	const uint64_t *e = (const uint64_t *)exp;
	uint64_t cur[PF_STAT_MAX];
	char bad[1024] = "";
	size_t n = 0;
	int i;

	stats_read(cur);
	for (i = 0; i < PF_STAT_MAX; i++) {
		uint64_t d = cur[i] - st_mark[i];

		if (d != e[i] && n < sizeof(bad))
			n += snprintf(bad + n, sizeof(bad) - n, " %s=%" PRIu64 " (want %" PRIu64 ")",
				      pf_dp_stat_name(i), d, e[i]);
	}
	memcpy(st_mark, cur, sizeof(cur));
	cr_assert(bad[0] == '\0', "%s: counters moved wrongly:%s", what, bad);
}

#define EXPECT_STATS(what, ...)	stats_expect(what, &(const struct st){ __VA_ARGS__ })

/* --- reading deltas -------------------------------------------------------- */

#define MAX_GOT	160

struct got {
	uint32_t cust;
	int half;
	struct hist_sparse h;
};

static struct {
	int n;
	struct got g[MAX_GOT];
} D;

static int collect(void *ctx, uint32_t cust, enum pf_half half, const struct hist_sparse *d)
{
	(void)ctx;
	if (D.n == MAX_GOT)
		return -E2BIG;
	D.g[D.n].cust = cust;
	D.g[D.n].half = half;
	D.g[D.n].h = *d;
	D.n++;
	return 0;
}

static const char *half_name(int half)
{
	return half == PF_HALF_ACCESS ? "access" : half == PF_HALF_INTERNET ? "internet" : "?";
}

static const char *deltas_str(void)
{
	static char buf[2048];
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < D.n && n < sizeof(buf); i++)
		n += snprintf(buf + n, sizeof(buf) - n, " [slot %u %s: count %" PRIu64 " sum %" PRIu64
			      " min %" PRIu64 " max %" PRIu64 "]", D.g[i].cust,
			      half_name(D.g[i].half), D.g[i].h.count, D.g[i].h.sum, D.g[i].h.min,
			      D.g[i].h.max);
	return D.n ? buf : " none";
}

static uint64_t read_seq;

/* One committed pf_dp_read into D; every delta must be well-formed and unique. */
static void read_deltas(void)
{
	int i, j, err;

	memset(&D, 0, sizeof(D));
	err = pf_dp_read(dp, collect, NULL);
	cr_assert_eq(err, 0, "pf_dp_read: %d", err);
	err = pf_dp_commit_read(dp, ++read_seq);
	cr_assert_eq(err, 0, "pf_dp_commit_read: %d", err);
	for (i = 0; i < D.n; i++) {
		const struct hist_sparse *h = &D.g[i].h;
		uint64_t c = 0;
		uint32_t e;

		cr_assert_lt(D.g[i].cust, 64u, "delta for slot %u beyond the datapath", D.g[i].cust);
		cr_assert(D.g[i].half == PF_HALF_ACCESS || D.g[i].half == PF_HALF_INTERNET);
		cr_assert_gt(h->count, 0, "empty delta passed to the callback:%s", deltas_str());
		for (e = 0; e < h->n; e++)
			c += h->cnt[e];
		cr_assert_eq(c, h->count, "count %" PRIu64 " is not the sum of slots %" PRIu64,
			     h->count, c);
		cr_assert_eq(hist_sparse_validate(h), 0, "malformed delta:%s", deltas_str());
		for (j = 0; j < i; j++)
			cr_assert(D.g[j].cust != D.g[i].cust || D.g[j].half != D.g[i].half,
				  "customer-half reported twice in one read:%s", deltas_str());
	}
}

static const struct hist_sparse *delta_of(uint32_t cust, int half)
{
	int i;

	for (i = 0; i < D.n; i++)
		if (D.g[i].cust == cust && D.g[i].half == half)
			return &D.g[i].h;
	return NULL;
}

static uint64_t deltas_total(void)
{
	uint64_t t = 0;
	int i;

	for (i = 0; i < D.n; i++)
		t += D.g[i].h.count;
	return t;
}

/* Bounds of an RTT: at least what was slept, at most the time around both runs. */
struct win {
	uint64_t lo, hi;
};

/* Count of samples of h whose slot lies in the slots of w. */
static uint64_t count_in(const struct hist_sparse *h, struct win w)
{
	uint32_t lo = pf_hist_slot(w.lo), hi = pf_hist_slot(w.hi), e;
	uint64_t c = 0;

	for (e = 0; e < h->n; e++)
		if (h->idx[e] >= lo && h->idx[e] <= hi)
			c += h->cnt[e];
	return c;
}

/* h holds exactly count samples, all inside w. */
static void expect_hist(const struct hist_sparse *h, uint64_t count, struct win w,
			const char *where)
{
	cr_assert_eq(h->count, count, "%s: %" PRIu64 " samples, expected %" PRIu64 ":%s", where,
		     h->count, count, deltas_str());
	cr_assert_eq(count_in(h, w), count,
		     "%s: samples outside slots %u..%u (window %" PRIu64 "..%" PRIu64 " ns):%s",
		     where, pf_hist_slot(w.lo), pf_hist_slot(w.hi), w.lo, w.hi, deltas_str());
	cr_assert(h->min >= w.lo && h->max <= w.hi,
		  "%s: min %" PRIu64 " / max %" PRIu64 " outside %" PRIu64 "..%" PRIu64, where,
		  h->min, h->max, w.lo, w.hi);
	cr_assert(h->sum >= count * w.lo && h->sum <= count * w.hi,
		  "%s: sum %" PRIu64 " outside %" PRIu64 "..%" PRIu64, where, h->sum,
		  count * w.lo, count * w.hi);
	if (count == 1)
		cr_assert(h->min == h->sum && h->max == h->sum,
			  "%s: one sample but min %" PRIu64 " max %" PRIu64 " sum %" PRIu64, where,
			  h->min, h->max, h->sum);
}

struct want {
	uint32_t cust;
	int half;
	uint64_t count;
	struct win w;
};

/* The next read reports exactly these customer-halves, and nothing else. */
static void expect_deltas(const struct want *w, int n)
{
	char where[64];
	int i;

	read_deltas();
	cr_assert_eq(D.n, n, "%d customer-halves got samples, expected %d:%s", D.n, n,
		     deltas_str());
	for (i = 0; i < n; i++) {
		const struct hist_sparse *h = delta_of(w[i].cust, w[i].half);

		snprintf(where, sizeof(where), "slot %u %s", w[i].cust, half_name(w[i].half));
		cr_assert(h != NULL, "%s got no sample:%s", where, deltas_str());
		expect_hist(h, w[i].count, w[i].w, where);
	}
}

#define EXPECT_DELTAS(...)						\
	do {								\
		const struct want w_[] = { __VA_ARGS__ };		\
		expect_deltas(w_, (int)(sizeof(w_) / sizeof(w_[0])));	\
	} while (0)

static void expect_no_deltas(const char *what)
{
	read_deltas();
	cr_assert_eq(D.n, 0, "%s: samples where none were due:%s", what, deltas_str());
}

/* Records with rec, sleeps, echoes with echo: the window of the sample. */
static struct win rtt_run(int prog_rec, const struct pkt_spec *rec, int prog_echo,
			  const struct pkt_spec *echo, uint64_t sleep)
{
	uint64_t t0 = now_ns();

	run_on(prog_rec, rec);
	sleep_ns(sleep);
	run_on(prog_echo, echo);
	return (struct win){ sleep, now_ns() - t0 };
}

/* One timestamp and its echo: one sample, in cust's half and nowhere else. */
static void one_rtt(const struct pkt_spec *rec, uint32_t cust, int half, uint64_t sleep)
{
	struct pkt_spec echo = pkt_echo(rec);
	uint64_t t0 = now_ns();
	struct win w;

	run(rec);
	EXPECT_STATS("record", .packets = 1, .parsed = 1, .recorded = 1);
	sleep_ns(sleep);
	run(&echo);
	w = (struct win){ sleep, now_ns() - t0 };
	EXPECT_STATS("echo", .packets = 1, .parsed = 1, .matched = 1, .samples = 1);
	EXPECT_DELTAS({ cust, half, 1, w });
}

/* A TCP data segment from src to dst carrying TSval tsval. */
#define DATA(s, d, sp, dp_, ts)						\
	((struct pkt_spec){ .src = (s), .dst = (d), .sport = (sp), .dport = (dp_),	\
			    .flags = PKT_ACK, .tsval = (ts), .tsecr = 7,		\
			    .payload = 100 })

static void set_tags(struct pkt_spec *s, const uint16_t *tpid, int n)
{
	memcpy(s->tpid, tpid, n * sizeof(*tpid));
	s->ntags = n;
}

static void set_ext(struct pkt_spec *s, const struct pkt_ext *e, int n)
{
	memcpy(s->ext, e, n * sizeof(*e));
	s->next = n;
}

/* --- 1. Ethernet, VLAN tags ------------------------------------------------ */

Test(dp, ipv4_plain_and_vlan_tags)
{
	static const struct {
		const char *name;
		uint16_t tpid[2];
		int n;
	} enc[] = {
		{ "plain Ethernet", { 0 }, 0 },
		{ "802.1Q", { 0x8100 }, 1 },
		{ "QinQ: 802.1ad + 802.1Q", { 0x88a8, 0x8100 }, 2 },
		{ "double 802.1Q", { 0x8100, 0x8100 }, 2 },
	};
	size_t i;

	for (i = 0; i < sizeof(enc) / sizeof(enc[0]); i++) {
		struct pkt_spec rec = DATA(R4A, C4_1, 443, (uint16_t)(40001 + i), 1000);

		cr_log_info("%s", enc[i].name);
		set_tags(&rec, enc[i].tpid, enc[i].n);
		one_rtt(&rec, 1, PF_HALF_ACCESS, MS(3));
	}
}

Test(dp, three_tags_are_odd)
{
	static const uint16_t three[] = { 0x88a8, 0x8100, 0x8100 };
	static const uint16_t two[] = { 0x88a8, 0x8100 };
	struct pkt_spec rec = DATA(R4A, C4_1, 443, 40001, 1000), echo;
	uint64_t t0;

	set_tags(&rec, three, 3);
	echo = pkt_echo(&rec);
	run(&rec);
	EXPECT_STATS("3-tag record", .packets = 1, .odd = 1);
	run(&echo);
	EXPECT_STATS("3-tag echo", .packets = 1, .odd = 1);
	/* nothing was stored: the same echo with two tags matches nothing */
	set_tags(&echo, two, 2);
	run(&echo);
	EXPECT_STATS("2-tag echo of a 3-tag record", .packets = 1, .parsed = 1);
	expect_no_deltas("three tags");

	/* a 3-tag echo of a good record does not consume it */
	set_tags(&rec, two, 2);
	rec.tsval = 2000;
	echo = pkt_echo(&rec);
	t0 = now_ns();
	run(&rec);
	EXPECT_STATS("2-tag record", .packets = 1, .parsed = 1, .recorded = 1);
	sleep_ns(MS(3));
	set_tags(&echo, three, 3);
	run(&echo);
	EXPECT_STATS("3-tag echo", .packets = 1, .odd = 1);
	set_tags(&echo, two, 2);
	run(&echo);
	EXPECT_STATS("2-tag echo", .packets = 1, .parsed = 1, .matched = 1, .samples = 1);
	EXPECT_DELTAS({ 1, PF_HALF_ACCESS, 1, { MS(3), now_ns() - t0 } });
}

/* --- IPv4 options, fragments ----------------------------------------------- */

Test(dp, ipv4_options_and_fragments)
{
	static const uint16_t frag[] = { 0x2000 /* MF */, 0x0010 /* offset 128 */, 0x2010 };
	struct pkt_spec rec = DATA(R4A, C4_1, 443, 40001, 1000), echo;
	struct pkt_spec opt = DATA(R4A, C4_1, 443, 40009, 1000);
	size_t i;

	opt.ip_optlen = 8;
	one_rtt(&opt, 1, PF_HALF_ACCESS, MS(3));

	for (i = 0; i < sizeof(frag) / sizeof(frag[0]); i++) {
		rec.ip_frag = frag[i];
		run(&rec);
		EXPECT_STATS("fragment", .packets = 1, .odd = 1);
	}
	echo = pkt_echo(&rec);
	echo.ip_frag = 0;
	run(&echo);
	EXPECT_STATS("echo of fragments", .packets = 1, .parsed = 1);
	expect_no_deltas("IPv4 fragments");
	/* DF alone is not a fragment */
	rec.ip_frag = 0x4000;
	rec.tsval = 2000;
	rec.sport = 444;
	one_rtt(&rec, 1, PF_HALF_ACCESS, MS(1));
}

/* --- 2. IPv6 --------------------------------------------------------------- */

Test(dp, ipv6_plain_and_extension_headers)
{
	static const struct pkt_ext four[] = {
		{ 0, 8, 0 },	/* hop-by-hop */
		{ 60, 16, 0 },	/* destination options */
		{ 43, 24, 0 },	/* routing */
		{ 44, 8, 0 },	/* atomic fragment */
	};
	static const struct pkt_ext six[] = {
		{ 0, 8, 0 }, { 60, 16, 0 }, { 43, 24, 0 }, { 51, 24, 0 }, { 44, 8, 0 }, { 60, 8, 0 },
	};
	struct pkt_spec rec = DATA(R6A, C6_3, 443, 40001, 1000);

	one_rtt(&rec, 3, PF_HALF_ACCESS, MS(3));
	rec.sport = 444;
	set_ext(&rec, four, 4);
	one_rtt(&rec, 3, PF_HALF_ACCESS, MS(3));
	rec.sport = 445;
	set_ext(&rec, six, 6);
	one_rtt(&rec, 3, PF_HALF_ACCESS, MS(3));
}

Test(dp, ipv6_seven_extension_headers_are_odd)
{
	static const struct pkt_ext ext[] = {
		{ 0, 8, 0 }, { 60, 16, 0 }, { 43, 24, 0 }, { 51, 24, 0 }, { 44, 8, 0 }, { 60, 8, 0 },
		{ 60, 8, 0 },
	};
	struct pkt_spec rec = DATA(R6A, C6_3, 443, 40001, 1000), echo;

	set_ext(&rec, ext, 7);
	echo = pkt_echo(&rec);
	run(&rec);
	EXPECT_STATS("7 ext record", .packets = 1, .odd = 1);
	run(&echo);
	EXPECT_STATS("7 ext echo", .packets = 1, .odd = 1);
	echo.next = 0;
	run(&echo);
	EXPECT_STATS("plain echo", .packets = 1, .parsed = 1);
	expect_no_deltas("7 extension headers");
}

Test(dp, ipv6_non_atomic_fragments_are_skipped)
{
	static const uint16_t frag[] = { 185 << 3 /* offset 1480 */, 1 /* first, M */, 185 << 3 | 1 };
	struct pkt_ext ext[] = { { 0, 8, 0 }, { 44, 8, 0 } };
	struct pkt_spec rec = DATA(R6A, C6_3, 443, 40001, 1000), echo;
	uint64_t t0;
	size_t i;

	for (i = 0; i < sizeof(frag) / sizeof(frag[0]); i++) {
		ext[1].frag_off = frag[i];
		set_ext(&rec, ext, 2);
		run(&rec);
		EXPECT_STATS("non-atomic fragment record", .packets = 1, .odd = 1);
	}
	echo = pkt_echo(&rec);
	echo.next = 0;
	run(&echo);
	EXPECT_STATS("plain echo", .packets = 1, .parsed = 1);
	expect_no_deltas("fragment records");

	/* a fragment echoing a good record does not consume it */
	rec.next = 0;
	rec.tsval = 2000;
	echo = pkt_echo(&rec);
	t0 = now_ns();
	run(&rec);
	EXPECT_STATS("plain record", .packets = 1, .parsed = 1, .recorded = 1);
	sleep_ns(MS(3));
	ext[1].frag_off = 185 << 3;
	set_ext(&echo, ext, 2);
	run(&echo);
	EXPECT_STATS("fragment echo", .packets = 1, .odd = 1);
	ext[1].frag_off = 0;
	set_ext(&echo, ext, 2);
	run(&echo);
	EXPECT_STATS("atomic fragment echo", .packets = 1, .parsed = 1, .matched = 1,
		     .samples = 1);
	EXPECT_DELTAS({ 3, PF_HALF_ACCESS, 1, { MS(3), now_ns() - t0 } });
}

/* --- malformed headers, other protocols ------------------------------------ */

Test(dp, malformed_headers_and_other_protocols)
{
	struct pkt_spec good = DATA(R4A, C4_1, 443, 40001, 1000), s;
	struct pkt_spec good6 = DATA(R6A, C6_3, 443, 40001, 1000);
	static const struct pkt_ext hop16[] = { { 0, 16, 0 } };

	s = good;
	s.ip_version = 6;
	run(&s);
	EXPECT_STATS("IPv4 ethertype, version 6", .packets = 1, .odd = 1);
	s = good;
	s.ip_ihl = 4;
	run(&s);
	EXPECT_STATS("IHL 4", .packets = 1, .odd = 1);
	s = good;
	s.ip_totlen = 19;
	run(&s);
	EXPECT_STATS("total length below header length", .packets = 1, .odd = 1);
	s = good;
	s.doff = 4;
	run(&s);
	EXPECT_STATS("TCP data offset 4", .packets = 1, .odd = 1);
	s = good;
	s.payload = 0;
	s.ip_totlen = 20 + 24;	/* the TCP header is 32 bytes */
	run(&s);
	EXPECT_STATS("TCP header beyond the IP length", .packets = 1, .odd = 1);
	s = good6;
	s.ip_version = 4;
	run(&s);
	EXPECT_STATS("IPv6 ethertype, version 4", .packets = 1, .odd = 1);
	s = good6;
	set_ext(&s, hop16, 1);
	s.ip_totlen = 8;
	run(&s);
	EXPECT_STATS("IPv6 payload shorter than its extension headers", .packets = 1, .odd = 1);
	s = good6;
	s.ip_totlen = 24;	/* the TCP header is 32 bytes */
	s.payload = 0;
	run(&s);
	EXPECT_STATS("TCP header beyond the IPv6 payload", .packets = 1, .odd = 1);

	s = DATA(R4A, C4_1, 53, 40001, 0);
	s.ethertype = 0x0806;
	run(&s);
	EXPECT_STATS("ARP", .packets = 1, .not_ip = 1);
	s = (struct pkt_spec){ .src = R4A, .dst = C4_1, .proto = 17, .sport = 53, .dport = 40001,
			       .payload = 40 };
	run(&s);
	EXPECT_STATS("UDP", .packets = 1, .other_l4 = 1);
	s = (struct pkt_spec){ .src = R4A, .dst = C4_1, .proto = 1, .icmp_type = 3 };
	run(&s);
	EXPECT_STATS("ICMP unreachable", .packets = 1, .other_l4 = 1);
	s = (struct pkt_spec){ .src = R6A, .dst = C6_3, .proto = 58, .icmp_type = 135 };
	run(&s);
	EXPECT_STATS("ICMPv6 neighbour solicitation", .packets = 1, .other_l4 = 1);
	s = (struct pkt_spec){ .src = R4A, .dst = C4_1, .proto = 1, .icmp_type = 128 };
	run(&s);
	EXPECT_STATS("ICMPv6 type in ICMPv4", .packets = 1, .other_l4 = 1);
	s = (struct pkt_spec){ .src = R6A, .dst = C6_3, .proto = 1, .icmp_type = 8 };
	run(&s);
	EXPECT_STATS("ICMPv4 in IPv6", .packets = 1, .other_l4 = 1);
	expect_no_deltas("malformed headers, other protocols");
}

/* --- 3. truncation --------------------------------------------------------- */

/*
 * The shortest frame BPF_PROG_TEST_RUN accepts: an Ethernet header, and
 * for an untagged IPv4/IPv6 ethertype the IP header too (6.x kernels).
 */
static size_t kernel_min_len(const uint8_t *f, size_t n)
{
	uint16_t proto = n >= ETH_MIN ? (uint16_t)(f[12] << 8 | f[13]) : 0;

	return ETH_MIN + (proto == 0x0800 ? 20 : proto == 0x86dd ? 40 : 0);
}

static void cut(const uint8_t *f, size_t n, size_t len, const char *what)
{
	char msg[96];
	int err = run_raw(prog_in, f, len);

	snprintf(msg, sizeof(msg), "%s cut to %zu bytes", what, len);
	if (len < kernel_min_len(f, n) && err == -EINVAL) {
		stats_expect(msg, &(struct st){ 0 });
		return;
	}
	cr_assert_eq(err, 0, "%s: test run: %s", msg, strerror(-err));
	EXPECT_STATS(msg, .packets = 1, .truncated = 1);
}

/*
 * The shape pf_fast takes (untagged, IPv4 without options or IPv6 without
 * extension headers, TCP whose options begin NOP NOP TS): its hits count
 * fast_path as well as fcache_hits.
 */
static bool fast_shape(const struct pkt_spec *s)
{
	return s->proto == 0 && s->ntags == 0 && s->ethertype == 0 && s->ip_optlen == 0 &&
	       s->next == 0 && !s->no_ts && !s->opts && !s->doff && !s->ip_version &&
	       !s->ip_ihl && !s->ip_frag;
}

/*
 * rec and its echo cut at every length: inside the headers, nothing is
 * stored or matched and the cut counts as truncated; inside the payload
 * (the IP header says how long it is) the TSval is no longer new. The
 * whole frames still give their one sample.
 */
static void truncation(const struct pkt_spec *rec, uint32_t cust, int half)
{
	struct pkt_spec echo = pkt_echo(rec);
	uint8_t f[PKT_MAX], e[PKT_MAX];
	size_t fn = pkt_build(rec, f, sizeof(f)), en = pkt_build(&echo, e, sizeof(e));
	size_t hdr = pkt_l4_end(rec), len;
	uint64_t t0;

	cr_assert_eq(en, pkt_l4_end(&echo), "the echo is headers only");
	cr_assert_lt(hdr, fn, "the record carries a payload");
	for (len = 0; len < hdr; len++)
		cut(f, fn, len, "record");
	t0 = now_ns();
	cr_assert_eq(run_raw(prog_in, f, fn), 0);
	EXPECT_STATS("whole record", .packets = 1, .parsed = 1, .recorded = 1);
	for (len = hdr; len < fn; len++) {
		cr_assert_eq(run_raw(prog_in, f, len), 0);
		/* TCP: the same flow and TSval as the whole one, left at the cache */
		EXPECT_STATS("record cut in its payload", .packets = 1, .parsed = 1,
			     .fcache_hits = rec->proto == 0, .fast = fast_shape(rec));
	}
	sleep_ns(MS(3));
	for (len = 0; len < en; len++)
		cut(e, en, len, "echo");
	cr_assert_eq(run_raw(prog_in, e, en), 0);
	EXPECT_STATS("whole echo", .packets = 1, .parsed = 1, .matched = 1, .samples = 1);
	EXPECT_DELTAS({ cust, half, 1, { MS(3), now_ns() - t0 } });
}

Test(dp, truncated_tcp)
{
	static const uint16_t tag[] = { 0x8100 };
	static const uint16_t qinq[] = { 0x88a8, 0x8100 };
	static const struct pkt_ext ext[] = {
		{ 0, 8, 0 }, { 60, 16, 0 }, { 43, 24, 0 }, { 51, 24, 0 }, { 44, 8, 0 },
	};
	struct pkt_spec rec = DATA(R4A, C4_1, 443, 40001, 1000);

	rec.payload = 20;
	truncation(&rec, 1, PF_HALF_ACCESS);
	rec = DATA(R6A, C6_3, 443, 40003, 1000);
	rec.payload = 20;
	truncation(&rec, 3, PF_HALF_ACCESS);
	/* tagged frames: the kernel runs cuts inside the IP header too */
	rec = DATA(C4_1, R4A, 40002, 443, 1000);
	set_tags(&rec, tag, 1);
	rec.ip_optlen = 12;
	rec.payload = 20;
	truncation(&rec, 1, PF_HALF_INTERNET);
	rec = DATA(R6A, C6_3, 443, 40001, 1000);
	set_tags(&rec, qinq, 2);
	set_ext(&rec, ext, 5);
	rec.payload = 20;
	truncation(&rec, 3, PF_HALF_ACCESS);
}

Test(dp, truncated_icmp)
{
	static const uint16_t tag[] = { 0x8100 };
	struct pkt_spec rec = { .src = R4A, .dst = C4_1, .proto = 1, .icmp_type = 8,
				.icmp_id = 0x4242, .icmp_seq = 1, .payload = 56 };

	set_tags(&rec, tag, 1);
	truncation(&rec, 1, PF_HALF_ACCESS);
	rec = (struct pkt_spec){ .src = C6_4, .dst = R6A, .proto = 58, .icmp_type = 128,
				 .icmp_id = 0x4242, .icmp_seq = 1, .payload = 56 };
	set_tags(&rec, tag, 1);
	truncation(&rec, 4, PF_HALF_INTERNET);
	rec.ntags = 0;
	rec.icmp_seq = 2;
	truncation(&rec, 4, PF_HALF_INTERNET);
}

/* --- 4. TCP options --------------------------------------------------------- */

Test(dp, tcp_without_timestamp)
{
	static const uint8_t syn_opts[] = { 2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2 };
	static const uint8_t sack[] = { 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2 };
	struct pkt_spec rec = DATA(R4A, C4_1, 443, 40001, 1000), s, echo;

	s = rec;
	s.no_ts = 1;
	run(&s);
	EXPECT_STATS("no options", .packets = 1, .parsed = 1, .tcp_no_ts = 1);
	s.flags = PKT_SYN;
	s.payload = 0;
	s.opts = syn_opts;
	s.optlen = sizeof(syn_opts);
	run(&s);
	EXPECT_STATS("SYN without timestamp", .packets = 1, .parsed = 1, .tcp_no_ts = 1);
	s = rec;
	s.opts = sack;
	s.optlen = sizeof(sack);
	run(&s);
	EXPECT_STATS("SACK, no timestamp", .packets = 1, .parsed = 1, .tcp_no_ts = 1);
	echo = pkt_echo(&rec);
	run(&echo);
	EXPECT_STATS("echo of the TSval never sent", .packets = 1, .parsed = 1);
	expect_no_deltas("TCP without timestamps");
}

struct opt_layout {
	const char *name;
	uint8_t b[40];
	size_t len, ts_at;
	int syn;
};

/* Timestamp options among others, as stacks and middleboxes send them. */
static const struct opt_layout ts_layouts[] = {
	{ "Linux SYN: MSS, SACKOK, TS, NOP, WS",
	  { 2, 4, 5, 0xb4, 4, 2, 8, 10, [16] = 1, 3, 3, 7 }, 20, 6, 1 },
	{ "macOS SYN: MSS, NOP, WS, NOP, NOP, TS, SACKOK, EOL",
	  { 2, 4, 5, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10, [20] = 4, 2, 0, 0 }, 24, 10, 1 },
	{ "MSS, SACKOK, NOP, WS, NOP, NOP, TS",
	  { 2, 4, 5, 0xb4, 4, 2, 1, 3, 3, 7, 1, 1, 8, 10 }, 22, 12, 1 },
	{ "options blanked to NOPs by a middlebox",
	  { 2, 4, 5, 0xb4, 1, 1, 1, 1, 1, 1, 8, 10 }, 20, 10, 1 },
	{ "NOP, NOP, SACK (2 blocks), NOP, NOP, TS",
	  { 1, 1, 5, 18, [20] = 1, 1, 8, 10 }, 32, 22, 0 },
	{ "NOP, TS, NOP (unaligned)", { 1, 8, 10, [11] = 1 }, 12, 1, 0 },
	{ "experimental option (kind 254), NOP, NOP, TS",
	  { 254, 6, 0xf9, 0x89, 0, 0, 1, 1, 8, 10 }, 18, 8, 0 },
};

Test(dp, tcp_timestamp_after_other_options)
{
	size_t i;

	for (i = 0; i < sizeof(ts_layouts) / sizeof(ts_layouts[0]); i++) {
		const struct opt_layout *l = &ts_layouts[i];
		struct pkt_spec rec = DATA(R4A, C4_1, 443, (uint16_t)(41000 + i),
					   (uint32_t)(5000 + i));
		uint8_t o[40];

		memcpy(o, l->b, sizeof(o));
		pkt_opt_ts(o + l->ts_at, rec.tsval, rec.tsecr);
		rec.opts = o;
		rec.optlen = l->len;
		if (l->syn) {
			rec.flags = PKT_SYN;
			rec.payload = 0;
		}
		cr_log_info("layout: %s", l->name);
		one_rtt(&rec, 1, PF_HALF_ACCESS, MS(1));
	}
}

/* rec's options hide its timestamp: no record, and its echo matches nothing. */
static void expect_ts_hidden(const char *what, const uint8_t *opts, size_t len, uint16_t sport)
{
	struct pkt_spec rec = DATA(R4A, C4_1, sport, 40001, 1000), echo;

	rec.opts = opts;
	rec.optlen = len;
	echo = pkt_echo(&rec);
	run(&rec);
	EXPECT_STATS(what, .packets = 1, .parsed = 1, .tcp_no_ts = 1);
	run(&echo);
	EXPECT_STATS("echo of a hidden TSval", .packets = 1, .parsed = 1);
	expect_no_deltas(what);
}

#define TS_BYTES	8, 10, 0, 0, 0x03, 0xe8, 0, 0, 0, 7	/* TSval 1000, TSecr 7 */

Test(dp, tcp_malformed_options_hide_timestamp)
{
	static const uint8_t eol[] = { 0, 1, TS_BYTES };
	static const uint8_t len0[] = { 254, 0, 1, 1, TS_BYTES };
	static const uint8_t len1[] = { 254, 1, 1, 1, TS_BYTES };
	static const uint8_t badlen[] = { 8, 8, 0, 0, 0x03, 0xe8, 0, 0, 1, 1 };
	static const uint8_t overrun[] = { 254, 30, TS_BYTES };
	static const uint8_t ts_cut[] = { 1, 1, 8, 10, 0, 0, 0x03, 0xe8 };

	expect_ts_hidden("EOL before the timestamp", eol, sizeof(eol), 501);
	expect_ts_hidden("option of length 0", len0, sizeof(len0), 502);
	expect_ts_hidden("option of length 1", len1, sizeof(len1), 503);
	expect_ts_hidden("timestamp option of length 8", badlen, sizeof(badlen), 504);
	expect_ts_hidden("option longer than the options", overrun, sizeof(overrun), 505);
	expect_ts_hidden("timestamp cut by the end of the options", ts_cut, sizeof(ts_cut), 506);
}

/*
 * An option whose length runs past the options by 64 bytes or more: TCP
 * (RFC 9293 3.1, Linux tcp_parse_options) stops parsing there, so the
 * packet has no timestamp; the bytes inside it are not options.
 */
Test(dp, tcp_option_length_past_64_hides_timestamp)
{
	static const uint8_t wrap[40] = { 254, 66, TS_BYTES, [12] = 1, 1, 1, 1, 1, 1, 1, 1, 1,
					  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
					  1, 1 };

	expect_ts_hidden("option of length 66 in 40 bytes of options", wrap, sizeof(wrap), 507);
}

/* --- 5. ICMP echo ------------------------------------------------------------ */

/* A request, stray replies that must match nothing, the reply, a repeat. */
static void icmp_echo(const char *src, const char *dst, uint8_t proto, uint8_t req,
		      uint32_t cust, int half)
{
	struct pkt_spec rq = { .src = src, .dst = dst, .proto = proto, .icmp_type = req,
			       .icmp_id = 0x4242, .icmp_seq = 7, .payload = 56 };
	struct pkt_spec rp = pkt_echo(&rq), s;
	uint64_t t0 = now_ns();
	struct win w;

	run(&rq);
	EXPECT_STATS("request", .packets = 1, .parsed = 1, .recorded = 1);
	run(&rq);
	EXPECT_STATS("same request again", .packets = 1, .parsed = 1);
	sleep_ns(MS(3));
	s = rp;
	s.icmp_seq = 8;
	run(&s);
	EXPECT_STATS("reply with another seq", .packets = 1, .parsed = 1);
	s = rp;
	s.icmp_id = 0x4243;
	run(&s);
	EXPECT_STATS("reply with another id", .packets = 1, .parsed = 1);
	s = rp;
	s.src = src;
	s.dst = dst;
	run(&s);
	EXPECT_STATS("reply in the request's direction", .packets = 1, .parsed = 1);
	run(&rp);
	w = (struct win){ MS(3), now_ns() - t0 };
	EXPECT_STATS("reply", .packets = 1, .parsed = 1, .matched = 1, .samples = 1);
	run(&rp);
	EXPECT_STATS("same reply again", .packets = 1, .parsed = 1);
	EXPECT_DELTAS({ cust, half, 1, w });
}

Test(dp, icmp_echo_v4_v6)
{
	icmp_echo(R4A, C4_1, 1, 8, 1, PF_HALF_ACCESS);
	icmp_echo(R6A, C6_3, 58, 128, 3, PF_HALF_ACCESS);
	/* customers pinging out */
	icmp_echo(C4_0, R4B, 1, 8, 0, PF_HALF_INTERNET);
	icmp_echo(C6_4, R6B, 58, 128, 4, PF_HALF_INTERNET);
}

Test(dp, icmp_outstanding_requests_match_by_seq)
{
	static const uint16_t order[] = { 2, 1, 3 };
	struct pkt_spec rq = { .src = R4A, .dst = C4_2, .proto = 1, .icmp_type = 8,
			       .icmp_id = 9, .payload = 56 }, rp;
	uint64_t t0 = now_ns();
	uint16_t seq;
	size_t i;

	for (seq = 1; seq <= 3; seq++) {
		rq.icmp_seq = seq;
		run(&rq);
	}
	EXPECT_STATS("3 requests", .packets = 3, .parsed = 3, .recorded = 3);
	sleep_ns(MS(3));
	rp = pkt_echo(&rq);
	for (i = 0; i < 3; i++) {
		rp.icmp_seq = order[i];
		run(&rp);
	}
	EXPECT_STATS("3 replies", .packets = 3, .parsed = 3, .matched = 3, .samples = 3);
	EXPECT_DELTAS({ 2, PF_HALF_ACCESS, 3, { MS(3), now_ns() - t0 } });
}

/* --- 6. customers ------------------------------------------------------------ */

Test(dp, lpm_longest_prefix_wins)
{
	static const struct {
		const char *dst;
		uint32_t slot;
	} to[] = {
		{ C4_2, 2 }, { C4_2B, 2 }, { C4_1B, 1 }, { C4_1C, 1 },
		{ C6_4, 4 }, { C6_3B, 3 }, { C4_0, 0 },
		{ "198.18.7.9", 6 }, { "198.18.7.8", 1 },
		{ "2001:db8:1:5::9", 7 }, { "2001:db8:1:5::8", 4 },
	};
	enum { N = sizeof(to) / sizeof(to[0]) };
	struct pkt_spec rec[N], echo;
	uint64_t t0;
	struct win w;
	int i;

	/* host routes inside the /16 and the /64 */
	set_customer("198.18.7.9/32", 6);
	set_customer("2001:db8:1:5::9/128", 7);
	cr_assert_eq(pf_dp_commit(dp), 0);
	t0 = now_ns();

	for (i = 0; i < N; i++) {
		rec[i] = DATA(strchr(to[i].dst, ':') ? R6A : R4A, to[i].dst, 443,
			      (uint16_t)(42000 + i), (uint32_t)(100 + i));
		run(&rec[i]);
	}
	EXPECT_STATS("records", .packets = N, .parsed = N, .recorded = N);
	sleep_ns(MS(3));
	for (i = 0; i < N; i++) {
		echo = pkt_echo(&rec[i]);
		run(&echo);
	}
	w = (struct win){ MS(3), now_ns() - t0 };
	EXPECT_STATS("echoes", .packets = N, .parsed = N, .matched = N, .samples = N);
	EXPECT_DELTAS({ 2, PF_HALF_ACCESS, 2, w }, { 1, PF_HALF_ACCESS, 3, w },
		      { 4, PF_HALF_ACCESS, 2, w }, { 3, PF_HALF_ACCESS, 1, w },
		      { 0, PF_HALF_ACCESS, 1, w }, { 6, PF_HALF_ACCESS, 1, w },
		      { 7, PF_HALF_ACCESS, 1, w });
}

Test(dp, customer_sends_internet_half)
{
	struct pkt_spec rec = DATA(C4_1, R4A, 40001, 443, 1000);
	struct pkt_spec rec6 = DATA(C6_3, R6A, 40001, 443, 1000);

	one_rtt(&rec, 1, PF_HALF_INTERNET, MS(3));
	one_rtt(&rec6, 3, PF_HALF_INTERNET, MS(3));
}

Test(dp, between_two_customers_each_gets_one)
{
	struct pkt_spec rec = DATA(C4_1B, C4_2, 40001, 443, 1000), echo = pkt_echo(&rec);
	struct win w;

	/* slot 1 sends, slot 2 echoes: access of slot 2, internet of slot 1 */
	w = rtt_run(prog_in, &rec, prog_in, &echo, MS(3));
	EXPECT_STATS("1 -> 2", .packets = 2, .parsed = 2, .recorded = 1, .matched = 1,
		     .samples = 2);
	EXPECT_DELTAS({ 2, PF_HALF_ACCESS, 1, w }, { 1, PF_HALF_INTERNET, 1, w });
	cr_assert_eq(delta_of(2, PF_HALF_ACCESS)->sum, delta_of(1, PF_HALF_INTERNET)->sum,
		     "one RTT, two different values:%s", deltas_str());

	/* and the other way round */
	rec = DATA(C4_2, C4_1B, 443, 40001, 5000);
	echo = pkt_echo(&rec);
	w = rtt_run(prog_in, &rec, prog_in, &echo, MS(3));
	EXPECT_STATS("2 -> 1", .packets = 2, .parsed = 2, .recorded = 1, .matched = 1,
		     .samples = 2);
	EXPECT_DELTAS({ 1, PF_HALF_ACCESS, 1, w }, { 2, PF_HALF_INTERNET, 1, w });
	cr_assert_eq(delta_of(1, PF_HALF_ACCESS)->sum, delta_of(2, PF_HALF_INTERNET)->sum,
		     "one RTT, two different values:%s", deltas_str());
}

Test(dp, handshake_samples_both_halves)
{
	struct pkt_spec syn = { .src = R4A, .dst = C4_1, .sport = 50000, .dport = 443,
				.flags = PKT_SYN, .tsval = 500, .tsecr = 0 };
	struct pkt_spec synack = { .src = C4_1, .dst = R4A, .sport = 443, .dport = 50000,
				   .flags = PKT_SYN | PKT_ACK, .tsval = 9000, .tsecr = 500 };
	struct pkt_spec ack = { .src = R4A, .dst = C4_1, .sport = 50000, .dport = 443,
				.flags = PKT_ACK, .tsval = 501, .tsecr = 9000 };
	uint64_t t0, t1, t2;

	t0 = now_ns();
	run(&syn);
	EXPECT_STATS("SYN", .packets = 1, .parsed = 1, .recorded = 1);
	sleep_ns(MS(3));
	t1 = now_ns();
	run(&synack);
	EXPECT_STATS("SYN-ACK", .packets = 1, .parsed = 1, .matched = 1, .samples = 1,
		     .recorded = 1);
	t2 = now_ns();
	sleep_ns(MS(30));
	run(&ack);
	EXPECT_STATS("ACK", .packets = 1, .parsed = 1, .matched = 1, .samples = 1);
	EXPECT_DELTAS({ 1, PF_HALF_ACCESS, 1, { MS(3), t2 - t0 } },
		      { 1, PF_HALF_INTERNET, 1, { MS(30), now_ns() - t1 } });
}

Test(dp, no_customer_records_nothing)
{
	struct pkt_spec recs[] = {
		DATA(R4A, R4B, 443, 40001, 1000),
		DATA(R6A, R6B, 443, 40001, 1000),
		{ .src = R4A, .dst = R4B, .proto = 1, .icmp_type = 8, .icmp_id = 1, .icmp_seq = 1 },
		{ .src = R6B, .dst = R6A, .proto = 58, .icmp_type = 128, .icmp_id = 1, .icmp_seq = 1 },
	};
	struct pkt_spec echo;
	size_t i;

	for (i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		run(&recs[i]);
		EXPECT_STATS("no customer", .packets = 1, .parsed = 1, .no_customer = 1);
		echo = pkt_echo(&recs[i]);
		run(&echo);
		EXPECT_STATS("echo between non-customers", .packets = 1, .parsed = 1,
			     .no_customer = 1);
	}
	expect_no_deltas("no customer");
}

static void set_ignores(const char *text)
{
	struct prefix *v = NULL;
	struct cfg_err e;
	size_t n = 0;

	cr_assert_eq(prefix_list_parse(text, "test", &v, &n, &e), 0, "%s", e.msg);
	cr_assert_eq(pf_dp_ignore_set(dp, v, n), 0);
	free(v);
}

/*
 * Ignored remote prefixes: no timestamp is stored towards them (counted
 * "ignored", once per TSval that would have been stored), so the customer's
 * internet half gets nothing from them; the access half of the same flow
 * (stored towards the customer, echoed by it) still counts; other remotes
 * are untouched; taking the prefix out again brings the samples back, also
 * for flows that existed before; IPv6 and ICMP alike.
 */
Test(dp0, ignored_prefixes_count_nothing_towards_them)
{
	struct pkt_spec up = DATA(C4_1, R4A, 40001, 443, 1000), down, up6, ping, other;
	struct pkt_spec echo;
	uint64_t t0;

	/* a flow before the list: its state learns the list at the next packet */
	run(&up);
	EXPECT_STATS("before the list", .packets = 1, .parsed = 1, .recorded = 1);
	set_ignores("198.19.1.0/24 2001:db8:ff::/64");
	echo = pkt_echo(&up);
	run(&echo);
	EXPECT_STATS("the echo of what was stored before: not taken", .packets = 1, .parsed = 1);
	up.tsval = 1001;
	run(&up);
	EXPECT_STATS("towards an ignored remote", .packets = 1, .parsed = 1, .ignored = 1);
	echo = pkt_echo(&up);
	run(&echo);
	EXPECT_STATS("its echo", .packets = 1, .parsed = 1);
	up.tsval = 1001;
	run(&up);
	EXPECT_STATS("the same TSval again: nothing", .packets = 1, .parsed = 1, .fcache_hits = 1, .fast = 1);

	/* the other direction of the same flow: the customer's access half counts */
	down = DATA(R4A, C4_1, 443, 40001, 7000);
	t0 = now_ns();
	run(&down);
	EXPECT_STATS("towards the customer", .packets = 1, .parsed = 1, .recorded = 1);
	sleep_ns(MS(2));
	echo = pkt_echo(&down);
	run(&echo);
	EXPECT_STATS("the customer echoes", .packets = 1, .parsed = 1, .matched = 1, .samples = 1);
	EXPECT_DELTAS({ 1, PF_HALF_ACCESS, 1, { MS(2), now_ns() - t0 } });

	/* IPv6 and ICMP towards ignored prefixes */
	up6 = DATA(C6_3, R6A, 40001, 443, 1000);
	run(&up6);
	EXPECT_STATS("IPv6 towards an ignored remote", .packets = 1, .parsed = 1, .ignored = 1);
	ping = (struct pkt_spec){ .src = C4_1, .dst = "198.19.1.77", .proto = 1, .icmp_type = 8,
				  .icmp_id = 9, .icmp_seq = 1 };
	run(&ping);
	EXPECT_STATS("a ping to an ignored remote", .packets = 1, .parsed = 1, .ignored = 1);
	echo = pkt_echo(&ping);
	run(&echo);
	EXPECT_STATS("its reply", .packets = 1, .parsed = 1);
	expect_no_deltas("towards ignored remotes");

	/* another remote is not touched */
	other = DATA(C4_1, R4B, 40002, 443, 1000);
	one_rtt(&other, 1, PF_HALF_INTERNET, MS(2));

	/* the list emptied: the same flow samples again */
	set_ignores("");
	up.tsval = 1002;
	one_rtt(&up, 1, PF_HALF_INTERNET, MS(2));
	up6.tsval = 1001;
	one_rtt(&up6, 3, PF_HALF_INTERNET, MS(2));
}

Test(dp0, customer_change_after_commit)
{
	struct pkt_spec rec = DATA(R4A, "198.19.3.3", 443, 40001, 100), echo;
	uint64_t t0;

	run(&rec);
	EXPECT_STATS("not yet a customer", .packets = 1, .parsed = 1, .no_customer = 1);
	set_customer("198.19.3.0/24", 5);
	cr_assert_eq(pf_dp_commit(dp), 0);
	rec.tsval = 101;
	t0 = now_ns();
	run(&rec);
	EXPECT_STATS("now a customer", .packets = 1, .parsed = 1, .recorded = 1);
	sleep_ns(MS(3));
	echo = pkt_echo(&rec);
	run(&echo);
	EXPECT_STATS("echo", .packets = 1, .parsed = 1, .matched = 1, .samples = 1);
	EXPECT_DELTAS({ 5, PF_HALF_ACCESS, 1, { MS(3), now_ns() - t0 } });

	rec.tsval = 102;
	run(&rec);
	EXPECT_STATS("record before removal", .packets = 1, .parsed = 1, .recorded = 1);
	del_customer("198.19.3.0/24");
	cr_assert_eq(pf_dp_commit(dp), 0);
	echo = pkt_echo(&rec);
	run(&echo);
	EXPECT_STATS("echo after removal", .packets = 1, .parsed = 1, .no_customer = 1);
	rec.tsval = 103;
	run(&rec);
	EXPECT_STATS("no longer a customer", .packets = 1, .parsed = 1, .no_customer = 1);
	expect_no_deltas("removed customer");
}

Test(dp, slot_outside_hists_is_counted)
{
	int fd = pf_dp_map_fd(dp, "customers");
	struct pf_lpm_key k = { .prefixlen = 96 + 24,
				.addr = { [10] = 0xff, [11] = 0xff, 198, 19, 7, 0 } };
	struct pf_cust_val v = { .slot = 100 };
	struct pkt_spec rec = DATA(R4A, "198.19.7.7", 443, 40001, 100), echo;
	struct prefix p;
	const char *why;

	cr_assert_eq(prefix_parse("198.19.8.0/24", &p, &why), 0);
	cr_assert_eq(pf_dp_prefix_set(dp, &p, 64), -ERANGE, "slot 64 of 64 accepted");
	cr_assert_geq(fd, 0);
	cr_assert_eq(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0);
	cr_assert_eq(pf_dp_commit(dp), 0);
	run(&rec);
	EXPECT_STATS("record", .packets = 1, .parsed = 1, .recorded = 1);
	echo = pkt_echo(&rec);
	run(&echo);
	EXPECT_STATS("echo", .packets = 1, .parsed = 1, .matched = 1, .bad_slot = 1);
	expect_no_deltas("bad slot");
}

/* --- rate limit, TSval rules, pure ACKs ------------------------------------ */

Test(dp, rate_limit_default_10ms)
{
	struct pkt_spec rec = DATA(R4A, C4_1, 443, 40001, 100), echo;
	const struct hist_sparse *h;
	uint64_t t100, t102, tend;
	uint32_t ts;

	t100 = now_ns();
	run(&rec);
	EXPECT_STATS("TSval 100", .packets = 1, .parsed = 1, .recorded = 1);
	rec.tsval = 101;
	run(&rec);
	cr_assert_lt(now_ns() - t100, MS(10), "too slow to test the rate limit");
	EXPECT_STATS("TSval 101 within 10 ms", .packets = 1, .parsed = 1, .rate_limited = 1);
	sleep_until(t100 + MS(11));
	rec.tsval = 102;
	t102 = now_ns();
	run(&rec);
	EXPECT_STATS("TSval 102 after 11 ms", .packets = 1, .parsed = 1, .recorded = 1);
	/* the limit runs from the last stored TSval, not the last seen */
	rec.tsval = 103;
	run(&rec);
	cr_assert_lt(now_ns() - t102, MS(10), "too slow to test the rate limit");
	EXPECT_STATS("TSval 103 within 10 ms of 102", .packets = 1, .parsed = 1,
		     .rate_limited = 1);
	sleep_ns(MS(3));
	for (ts = 100; ts <= 103; ts++) {
		rec.tsval = ts;
		echo = pkt_echo(&rec);
		run(&echo);
	}
	tend = now_ns();
	EXPECT_STATS("echoes of 100..103", .packets = 4, .parsed = 4, .matched = 2, .samples = 2);
	read_deltas();
	cr_assert_eq(D.n, 1, "samples in other customer-halves:%s", deltas_str());
	h = delta_of(1, PF_HALF_ACCESS);
	cr_assert(h != NULL && h->count == 2, "expected 2 samples:%s", deltas_str());
	cr_assert(h->min >= MS(3) && h->min <= tend - t102, "TSval 102's RTT:%s", deltas_str());
	cr_assert(h->max >= MS(14) && h->max <= tend - t100, "TSval 100's RTT:%s", deltas_str());
	cr_assert(h->sum == h->min + h->max, "sum of two samples:%s", deltas_str());
}

Test(dp0, rate_limit_zero_records_every_new_tsval)
{
	struct pkt_spec rec = DATA(R4A, C4_1, 443, 40001, 100), echo;
	uint64_t t0 = now_ns();
	uint32_t ts;

	for (ts = 100; ts < 105; ts++) {
		rec.tsval = ts;
		run(&rec);
	}
	EXPECT_STATS("5 TSvals at once", .packets = 5, .parsed = 5, .recorded = 5);
	sleep_ns(MS(3));
	for (ts = 100; ts < 105; ts++) {
		rec.tsval = ts;
		echo = pkt_echo(&rec);
		run(&echo);
	}
	EXPECT_STATS("5 echoes", .packets = 5, .parsed = 5, .matched = 5, .samples = 5);
	EXPECT_DELTAS({ 1, PF_HALF_ACCESS, 5, { MS(3), now_ns() - t0 } });
}

Test(dp0, same_tsval_records_once_echo_matches_once)
{
	struct pkt_spec rec = DATA(R4A, C4_1, 443, 40001, 100), echo;
	uint64_t t0 = now_ns();

	run(&rec);
	EXPECT_STATS("TSval 100", .packets = 1, .parsed = 1, .recorded = 1);
	sleep_ns(MS(3));
	run(&rec);
	EXPECT_STATS("TSval 100 again", .packets = 1, .parsed = 1, .fcache_hits = 1, .fast = 1);
	rec.tsval = 99;
	run(&rec);
	EXPECT_STATS("older TSval 99", .packets = 1, .parsed = 1);
	echo = pkt_echo(&rec);
	run(&echo);
	EXPECT_STATS("echo of 99", .packets = 1, .parsed = 1);
	rec.tsval = 100;
	echo = pkt_echo(&rec);
	run(&echo);
	EXPECT_STATS("echo of 100", .packets = 1, .parsed = 1, .matched = 1, .samples = 1);
	/* the RTT runs from the first packet with TSval 100 */
	EXPECT_DELTAS({ 1, PF_HALF_ACCESS, 1, { MS(3), now_ns() - t0 } });
	run(&echo);
	EXPECT_STATS("echo of 100 again", .packets = 1, .parsed = 1, .fcache_hits = 1, .fast = 1);
	echo.payload = 50;	/* data echoing it, and carrying a TSval of its own */
	run(&echo);
	EXPECT_STATS("data echoing 100", .packets = 1, .parsed = 1, .recorded = 1);
	expect_no_deltas("repeated echoes");
}

Test(dp0, tsval_wraparound)
{
	static const uint32_t newer[] = { 0xfffffffeU, 0xffffffffU, 0x00000001U, 0x00000002U };
	struct pkt_spec rec = DATA(R4A, C4_1, 443, 40001, 0), echo;
	uint64_t t0 = now_ns();
	size_t i;

	for (i = 0; i < 4; i++) {
		rec.tsval = newer[i];
		run(&rec);
		EXPECT_STATS("newer TSval across the wrap", .packets = 1, .parsed = 1,
			     .recorded = 1);
	}
	rec.tsval = 0xfffffff0U;
	run(&rec);
	EXPECT_STATS("TSval from before the wrap", .packets = 1, .parsed = 1);
	rec.tsval = 0x00000001U;
	run(&rec);
	EXPECT_STATS("TSval 1 again", .packets = 1, .parsed = 1);
	sleep_ns(MS(3));
	for (i = 0; i < 4; i++) {
		rec.tsval = newer[i];
		echo = pkt_echo(&rec);
		run(&echo);
	}
	rec.tsval = 0xfffffff0U;
	echo = pkt_echo(&rec);
	run(&echo);
	EXPECT_STATS("echoes", .packets = 5, .parsed = 5, .matched = 4, .samples = 4);
	EXPECT_DELTAS({ 1, PF_HALF_ACCESS, 4, { MS(3), now_ns() - t0 } });
}

Test(dp0, only_data_syn_fin_record)
{
	struct pkt_spec ack = DATA(R4A, C4_1, 443, 40010, 100);
	struct pkt_spec padded, fin, syn, rst, echo;
	uint64_t t0 = now_ns();

	ack.flags = PKT_ACK;
	ack.payload = 0;
	run(&ack);
	EXPECT_STATS("pure ACK", .packets = 1, .parsed = 1);
	padded = ack;
	padded.tsval = 101;
	padded.flags = PKT_ACK | PKT_PSH;
	padded.trailer = 6;	/* Ethernet padding is not payload */
	run(&padded);
	EXPECT_STATS("pure ACK with Ethernet padding", .packets = 1, .parsed = 1, .fcache_hits = 1, .fast = 1);
	fin = ack;
	fin.dport = 40011;
	fin.tsval = 200;
	fin.flags = PKT_FIN | PKT_ACK;
	run(&fin);
	EXPECT_STATS("FIN", .packets = 1, .parsed = 1, .recorded = 1);
	syn = ack;
	syn.dport = 40012;
	syn.tsval = 300;
	syn.tsecr = 0;
	syn.flags = PKT_SYN;
	run(&syn);
	EXPECT_STATS("SYN", .packets = 1, .parsed = 1, .recorded = 1);
	rst = ack;
	rst.dport = 40013;
	rst.tsval = 400;
	rst.flags = PKT_RST | PKT_ACK;
	rst.payload = 10;
	run(&rst);
	EXPECT_STATS("RST with data", .packets = 1, .parsed = 1);
	sleep_ns(MS(3));
	echo = pkt_echo(&ack);
	run(&echo);
	echo = pkt_echo(&padded);
	run(&echo);
	echo = pkt_echo(&rst);
	run(&echo);
	EXPECT_STATS("echoes of what was not recorded", .packets = 3, .parsed = 3);
	echo = pkt_echo(&fin);
	run(&echo);
	echo = pkt_echo(&syn);
	run(&echo);
	EXPECT_STATS("echoes of FIN and SYN", .packets = 2, .parsed = 2, .matched = 2,
		     .samples = 2);
	EXPECT_DELTAS({ 1, PF_HALF_ACCESS, 2, { MS(3), now_ns() - t0 } });
}

/* --- 7. the reader ----------------------------------------------------------- */

Test(dp0, reader_deltas_are_exact)
{
	enum { N = 12 };
	struct pkt_spec rec = DATA(R4A, C4_1, 443, 40001, 0), echo;
	const struct hist_sparse *h;
	uint64_t t0, t1, t2;
	struct win w1, w2;
	int i;

	t0 = now_ns();
	for (i = 0; i < N; i++) {
		rec.tsval = 1000 + i;
		run(&rec);
	}
	sleep_ns(MS(3));
	for (i = 0; i < N / 2; i++) {
		rec.tsval = 1000 + i;
		echo = pkt_echo(&rec);
		run(&echo);
	}
	t1 = now_ns();
	sleep_ns(MS(30));
	for (i = N / 2; i < N; i++) {
		rec.tsval = 1000 + i;
		echo = pkt_echo(&rec);
		run(&echo);
	}
	t2 = now_ns();
	EXPECT_STATS("N records and echoes", .packets = 2 * N, .parsed = 2 * N, .recorded = N,
		     .matched = N, .samples = N);
	w1 = (struct win){ MS(3), t1 - t0 };
	w2 = (struct win){ MS(33), t2 - t0 };
	cr_assert_lt(pf_hist_slot(w1.hi), pf_hist_slot(w2.lo), "too slow: windows overlap");

	read_deltas();
	cr_assert_eq(D.n, 1, "samples in other customer-halves:%s", deltas_str());
	h = delta_of(1, PF_HALF_ACCESS);
	cr_assert(h != NULL, "no delta for slot 1 access:%s", deltas_str());
	cr_assert_eq(h->count, N, "count %" PRIu64 ", expected %d", h->count, N);
	cr_assert_eq(count_in(h, w1), N / 2, "the 3 ms samples:%s", deltas_str());
	cr_assert_eq(count_in(h, w2), N / 2, "the 33 ms samples:%s", deltas_str());
	cr_assert(h->min >= w1.lo && h->min <= w1.hi, "min %" PRIu64, h->min);
	cr_assert(h->max >= w2.lo && h->max <= w2.hi, "max %" PRIu64, h->max);
	cr_assert(h->sum >= N / 2 * (w1.lo + w2.lo) && h->sum <= N / 2 * (w1.hi + w2.hi),
		  "sum %" PRIu64, h->sum);
	cr_assert(h->sum >= N * h->min && h->sum <= N * h->max,
		  "sum %" PRIu64 " inconsistent with min/max", h->sum);

	expect_no_deltas("second read");
	EXPECT_STATS("reads move no counter", .packets = 0);

	/* the next delta holds only what came after */
	rec.tsval = 5000;
	echo = pkt_echo(&rec);
	w1 = rtt_run(prog_in, &rec, prog_in, &echo, MS(1));
	EXPECT_STATS("one more", .packets = 2, .parsed = 2, .recorded = 1, .matched = 1,
		     .samples = 1);
	EXPECT_DELTAS({ 1, PF_HALF_ACCESS, 1, w1 });
	expect_no_deltas("read after the last one");
}

/* Samples in many customer-halves (TSvals from ts); returns how many. */
static uint64_t mixed_samples(uint32_t ts)
{
	struct pkt_spec recs[] = {
		DATA(R4A, C4_1, 443, 40001, ts),	/* 1 access */
		DATA(C4_1, R4A, 40002, 443, ts),	/* 1 internet */
		DATA(C4_1B, C4_2, 40003, 443, ts),	/* 2 access, 1 internet */
		DATA(R6A, C6_3, 443, 40004, ts),	/* 3 access (x3) */
		DATA(R6A, C6_3, 443, 40004, ts + 1),
		DATA(R6A, C6_3, 443, 40004, ts + 2),
		{ .src = C4_0, .dst = R4B, .proto = 1, .icmp_type = 8, .icmp_id = 3,
		  .icmp_seq = (uint16_t)ts },		/* 0 internet */
	};
	enum { N = sizeof(recs) / sizeof(recs[0]) };
	struct pkt_spec echo;
	int i;

	for (i = 0; i < N; i++)
		run(&recs[i]);
	for (i = 0; i < N; i++) {
		echo = pkt_echo(&recs[i]);
		run(&echo);
	}
	EXPECT_STATS("mixed", .packets = 2 * N, .parsed = 2 * N, .recorded = N, .matched = N,
		     .samples = N + 1);
	return N + 1;
}

Test(dp0, reader_totals_match_counters)
{
	uint64_t before[PF_STAT_MAX], after[PF_STAT_MAX], n;
	const struct win any = { 0, MS(1000) };

	stats_read(before);
	n = mixed_samples(100);
	stats_read(after);
	EXPECT_DELTAS({ 1, PF_HALF_ACCESS, 1, any }, { 1, PF_HALF_INTERNET, 2, any },
		      { 2, PF_HALF_ACCESS, 1, any }, { 3, PF_HALF_ACCESS, 3, any },
		      { 0, PF_HALF_INTERNET, 1, any });
	cr_assert_eq(deltas_total(), n, "deltas sum to %" PRIu64 ", expected %" PRIu64,
		     deltas_total(), n);
	cr_assert_eq(deltas_total(), after[PF_STAT_SAMPLES] - before[PF_STAT_SAMPLES]);
	expect_no_deltas("second read");
	n = mixed_samples(200);
	read_deltas();
	cr_assert_eq(deltas_total(), n, "second batch: deltas sum to %" PRIu64, deltas_total());
}

Test(dp0, read_must_be_committed)
{
	struct pkt_spec rec = DATA(R4A, C4_1, 443, 40001, 100), echo = pkt_echo(&rec);

	rtt_run(prog_in, &rec, prog_in, &echo, MS(1));
	memset(&D, 0, sizeof(D));
	cr_assert_eq(pf_dp_read(dp, collect, NULL), 0);
	cr_assert_eq(D.n, 1, "first read:%s", deltas_str());
	cr_assert_eq(pf_dp_read(dp, collect, NULL), -EBUSY, "read over an uncommitted one");
	cr_assert_eq(D.n, 1, "a refused read reported:%s", deltas_str());
	cr_assert_eq(pf_dp_commit_read(dp, 1), 0);
	expect_no_deltas("after the commit");
}

static int stop_at_first(void *ctx, uint32_t cust, enum pf_half half,
			 const struct hist_sparse *d)
{
	int *calls = ctx;

	(void)cust;
	(void)half;
	(void)d;
	(*calls)++;
	return 7;
}

/*
 * A read stopped by its callback is not committed ("commit nothing
 * then"), so the next read must report every sample, once.
 */
Test(dp0, read_stopped_by_callback_loses_nothing)
{
	struct pkt_spec recs[] = {
		DATA(R4A, C4_1, 443, 40001, 100),	/* slot 1 access */
		DATA(C4_1, R4A, 40002, 443, 100),	/* slot 1 internet */
		DATA(R4A, C4_2, 443, 40003, 100),	/* slot 2 access */
	};
	struct pkt_spec echo;
	int calls = 0, err;
	size_t i;

	for (i = 0; i < 3; i++)
		run(&recs[i]);
	for (i = 0; i < 3; i++) {
		echo = pkt_echo(&recs[i]);
		run(&echo);
	}
	EXPECT_STATS("three customer-halves", .packets = 6, .parsed = 6, .recorded = 3,
		     .matched = 3, .samples = 3);
	err = pf_dp_read(dp, stop_at_first, &calls);
	cr_assert_eq(err, 7, "the callback's stop is returned (got %d)", err);
	cr_assert_eq(calls, 1, "the walk went on after the callback stopped it");
	memset(&D, 0, sizeof(D));
	err = pf_dp_read(dp, collect, NULL);
	cr_assert_eq(err, 0, "read after a stopped read: %d (%s)", err, strerror(-err));
	cr_assert_eq(pf_dp_commit_read(dp, ++read_seq), 0);
	cr_assert_eq(deltas_total(), 3, "after a stopped read, the next reports%s", deltas_str());
	cr_assert(delta_of(1, PF_HALF_ACCESS) && delta_of(1, PF_HALF_INTERNET) &&
		  delta_of(2, PF_HALF_ACCESS), "missing:%s", deltas_str());
	expect_no_deltas("after the commit");
}

/*
 * The reader takes customers in batches (datapath/reader.c): 50 customers,
 * more than a batch holds, each with its own number of samples in its
 * access half and some in their internet half too, all read exactly once,
 * in customer order; then a second round in every other customer only.
 */
Test(dp0, reader_batches_read_every_customer_exactly)
{
	enum { FIRST = 10, NC = 50 };
	uint32_t want[64][PF_NHALVES] = { { 0 } };
	char pfx[32], host[32];
	int c, k, i, half;

	for (c = FIRST; c < FIRST + NC; c++) {
		snprintf(pfx, sizeof(pfx), "198.19.50.%d/32", c);
		set_customer(pfx, (uint32_t)c);
	}
	cr_assert_eq(pf_dp_commit(dp), 0);
	for (int round = 0; round < 2; round++) {
		uint64_t n = 0;

		memset(want, 0, sizeof(want));
		for (c = FIRST; c < FIRST + NC; c++) {
			if (round && c % 2)
				continue;
			snprintf(host, sizeof(host), "198.19.50.%d", c);
			for (k = 0; k < 1 + c % 4; k++) {	/* 1..4 access samples */
				struct pkt_spec rec = DATA(R4A, host, 443, 40000,
							   (uint32_t)(1000 * round + 10 * c + k));
				struct pkt_spec echo = pkt_echo(&rec);

				run(&rec);
				run(&echo);
				want[c][PF_HALF_ACCESS]++;
			}
			if (c % 3 == 0) {			/* one internet sample */
				struct pkt_spec rec = DATA(host, R4A, 40001, 443,
							   (uint32_t)(1000 * round + 10 * c));
				struct pkt_spec echo = pkt_echo(&rec);

				run(&rec);
				run(&echo);
				want[c][PF_HALF_INTERNET]++;
			}
			n += want[c][0] + want[c][1];
		}
		EXPECT_STATS("the round's samples", .packets = 2 * n, .parsed = 2 * n,
			     .recorded = n, .matched = n, .samples = n);
		read_deltas();
		for (i = 0; i < D.n; i++) {
			c = (int)D.g[i].cust;
			half = D.g[i].half;
			cr_assert_eq(D.g[i].h.count, want[c][half],
				     "round %d, slot %d %s: %" PRIu64 " samples, want %u", round, c,
				     half_name(half), D.g[i].h.count, want[c][half]);
			want[c][half] = 0;
			if (i)
				cr_assert(D.g[i - 1].cust < D.g[i].cust ||
					  (D.g[i - 1].cust == D.g[i].cust && D.g[i - 1].half < half),
					  "round %d: out of order at %d:%s", round, i, deltas_str());
		}
		for (c = 0; c < 64; c++)
			cr_assert(!want[c][0] && !want[c][1], "round %d, slot %d: no delta",
				  round, c);
		expect_no_deltas("read again");
	}
}

/*
 * A commit leaves its updates pending until the next read writes them into
 * the shadow (datapath/reader.c, "Committing"). A reader process that ends
 * in between leaves them out of its state file: the journal puts them back
 * (pf_dp_apply), and nothing is reported twice or lost. Four ends of a
 * first life, each with 3 samples of slot 5 read: killed before its commit
 * (the journal holds an uncommitted read), killed after it (updates
 * pending), closed after it (pf_dp_close wrote them: nothing to apply),
 * killed after a next read of a sample of slot 4 alone, not committed (that
 * read must have written slot 5's pending updates, past its last customer:
 * the journal then holds only the next read's).
 */
enum first_end { END_BEFORE_COMMIT, END_AFTER_COMMIT, END_CLOSED, END_AFTER_NEXT_READ };

struct handoff {		/* the first life's staged updates: its "journal" */
	size_t n;
	struct pf_dp_upd u[64];
};

static int count_samples(void *ctx, uint32_t cust, enum pf_half half, const struct hist_sparse *d)
{
	(void)cust, (void)half;
	*(uint64_t *)ctx += d->count;
	return 0;
}

/* n samples in host's access half, by test runs of its own program */
static int samples_into(struct pf_dp *d, const char *host, uint32_t ts0, int n)
{
	int prog = pf_dp_prog_fd(d, "pf_tc_ingress"), k;

	for (k = 0; k < n; k++) {
		struct pkt_spec rec = DATA(R4A, host, 443, 40000, ts0 + (uint32_t)k);
		struct pkt_spec echo = pkt_echo(&rec);
		uint8_t f[PKT_MAX];

		if (run_raw(prog, f, pkt_build(&rec, f, sizeof(f))) ||
		    run_raw(prog, f, pkt_build(&echo, f, sizeof(f))))
			return -1;
	}
	return 0;
}

/* The first life, in a child: 3 samples read, then it ends as told. */
static int first_life(const struct pf_dp_opts *o, enum first_end end, struct handoff *h)
{
	const struct pf_dp_upd *u;
	struct pf_dp *d;
	struct prefix p;
	const char *why;
	uint64_t n = 0;

	if (pf_dp_open(&d, o) || prefix_parse("198.19.60.1/32", &p, &why) ||
	    pf_dp_prefix_set(d, &p, 5) || prefix_parse("198.19.60.2/32", &p, &why) ||
	    pf_dp_prefix_set(d, &p, 4) || pf_dp_commit(d) ||
	    samples_into(d, "198.19.60.1", 100, 3) || pf_dp_read(d, count_samples, &n) || n != 3)
		return 1;
	if (end == END_AFTER_NEXT_READ) {
		if (pf_dp_commit_read(d, 1) || samples_into(d, "198.19.60.2", 100, 1) ||
		    pf_dp_read(d, count_samples, &n) || n != 4)
			return 4;
	}
	u = pf_dp_staged(d, &h->n);
	if (h->n > sizeof(h->u) / sizeof(h->u[0]))
		return 2;
	memcpy(h->u, u, h->n * sizeof(*u));
	if ((end == END_AFTER_COMMIT || end == END_CLOSED) && pf_dp_commit_read(d, 1))
		return 3;
	if (end == END_CLOSED)
		pf_dp_close(d);
	_exit(0);	/* killed: no close, nothing written at exit */
}

Test(restart, committed_updates_pending_then_restored, .timeout = 60)
{
	static const char *const ends[] = { "killed before its commit", "killed after its commit",
					    "closed after its commit",
					    "killed after a next read, not committed" };
	char fs[] = "/tmp/pf-bpffs-XXXXXX", dir[64], state[96];
	struct handoff *h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct pf_dp_opts o;
	struct pf_dp *d;
	int end, status;
	uint64_t n, seq, total;
	pid_t pid;

	cr_assert_neq(h, MAP_FAILED);
	cr_assert(mkdtemp(fs), "mkdtemp: %s", strerror(errno));
	cr_assert_eq(mount("bpf", fs, "bpf", 0, NULL), 0, "mount bpffs: %s", strerror(errno));
	for (end = END_BEFORE_COMMIT; end <= END_AFTER_NEXT_READ; end++) {
		snprintf(dir, sizeof(dir), "%s/%d", fs, end);
		snprintf(state, sizeof(state), "%s.state%d", fs, end);
		cr_assert_eq(mkdir(dir, 0700), 0);
		pf_dp_opts_default(&o);
		o.pin_dir = dir;
		o.state_path = state;
		o.max_flows = 4096;
		o.max_customers = 64;
		o.max_prefixes = 64;
		o.rate_limit_ns = 0;
		fflush(NULL);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0)
			_exit(first_life(&o, (enum first_end)end, h));
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "%s: the first life failed (status %d)", ends[end], status);

		cr_assert_eq(pf_dp_open(&d, &o), 0);
		cr_assert(pf_dp_state_kept(d), "%s: the state file was not kept", ends[end]);
		cr_assert_eq(pf_dp_committed_seq(d), end == END_BEFORE_COMMIT ? 0 : 1, "%s", ends[end]);
		cr_assert_eq(pf_dp_committed_samples(d), end == END_BEFORE_COMMIT ? 0 : 3, "%s",
			     ends[end]);
		/* what the agent does with its journal */
		seq = end == END_AFTER_NEXT_READ ? 2 : 1;
		total = end == END_AFTER_NEXT_READ ? 4 : 3;
		if (end != END_CLOSED)
			cr_assert_eq(pf_dp_apply(d, h->u, h->n, seq), 0);
		cr_assert_eq(pf_dp_committed_seq(d), seq, "%s", ends[end]);
		cr_assert_eq(pf_dp_committed_samples(d), total, "%s: counted again", ends[end]);
		n = 0;
		cr_assert_eq(pf_dp_read(d, count_samples, &n), 0);
		cr_assert_eq(n, 0, "%s: %" PRIu64 " samples reported again", ends[end], n);
		cr_assert_eq(pf_dp_commit_read(d, ++seq), 0);
		/* and on from there: 2 new samples, exactly */
		cr_assert_eq(samples_into(d, "198.19.60.1", 200, 2), 0);
		n = 0;
		cr_assert_eq(pf_dp_read(d, count_samples, &n), 0);
		cr_assert_eq(pf_dp_commit_read(d, ++seq), 0);
		cr_assert_eq(n, 2, "%s: %" PRIu64 " samples after the restart, want 2", ends[end], n);
		cr_assert_eq(pf_dp_committed_samples(d), total + 2, "%s", ends[end]);
		pf_dp_close(d);
		cr_assert_eq(pf_dp_unpin(dir), 0);
		unlink(state);
	}
	umount2(fs, MNT_DETACH);
	rmdir(fs);
	munmap(h, sizeof(*h));
}

/* --- 8. passive: TC_ACT_UNSPEC, frames unchanged ---------------------------- */

Test(dp, passive_on_every_frame)
{
	static const uint16_t tags3[] = { 0x88a8, 0x8100, 0x8100 };
	static const struct pkt_ext ext7[] = {
		{ 0, 8, 0 }, { 60, 16, 0 }, { 43, 24, 0 }, { 51, 24, 0 }, { 44, 8, 0 }, { 60, 8, 0 },
		{ 60, 8, 0 },
	};
	struct pkt_spec cat[16];
	uint64_t st[PF_STAT_MAX], runs = 0;
	uint8_t f[PKT_MAX];
	size_t n, len;
	int i = 0, k, prog;

	cat[i++] = DATA(R4A, C4_1, 443, 40001, 100);
	cat[i] = pkt_echo(&cat[i - 1]), i++;
	cat[i++] = DATA(R6A, C6_3, 443, 40001, 100);
	cat[i] = pkt_echo(&cat[i - 1]), i++;
	cat[i] = DATA(R4A, C4_1, 443, 40002, 100), set_tags(&cat[i], tags3, 3), i++;
	cat[i] = DATA(R6A, C6_3, 443, 40002, 100), set_ext(&cat[i], ext7, 7), i++;
	cat[i] = DATA(R4A, C4_1, 443, 40003, 100), cat[i].ip_frag = 0x2000, i++;
	cat[i] = DATA(R4A, C4_1, 443, 40004, 100), cat[i].no_ts = 1, i++;
	cat[i] = DATA(R4A, R4B, 443, 40005, 100), i++;
	cat[i++] = (struct pkt_spec){ .src = R4A, .dst = C4_1, .proto = 1, .icmp_type = 8,
				      .icmp_id = 5, .icmp_seq = 5, .payload = 56 };
	cat[i] = pkt_echo(&cat[i - 1]), i++;
	cat[i++] = (struct pkt_spec){ .src = R6A, .dst = C6_3, .proto = 17, .sport = 53,
				      .dport = 53, .payload = 30 };
	cat[i] = DATA(R4A, C4_1, 443, 40006, 100), cat[i].ethertype = 0x0806, i++;
	cat[i] = DATA(R4A, C4_1, 443, 40007, 100), cat[i].doff = 3, i++;

	stats_read(st);
	for (k = 0; k < i; k++) {
		n = pkt_build(&cat[k], f, sizeof(f));
		for (prog = 0; prog < 2; prog++) {
			/* whole, and cut at a few places */
			for (len = kernel_min_len(f, n); len <= n;
			     len += len < n && len + 7 > n ? n - len : 7) {
				cr_assert_eq(run_raw(prog ? prog_eg : prog_in, f, len), 0,
					     "frame %d cut to %zu", k, len);
				runs++;
				if (len == n)
					break;
			}
		}
	}
	stats_read(st_mark);
	cr_assert_eq(st_mark[PF_STAT_PACKETS] - st[PF_STAT_PACKETS], runs,
		     "the programs saw %" PRIu64 " of %" PRIu64 " frames",
		     st_mark[PF_STAT_PACKETS] - st[PF_STAT_PACKETS], runs);
}

Test(dp, egress_and_ingress_share_state)
{
	struct pkt_spec rec = DATA(R4A, C4_1, 443, 40001, 100), echo = pkt_echo(&rec);
	struct win w;

	w = rtt_run(prog_eg, &rec, prog_in, &echo, MS(3));
	EXPECT_STATS("egress record, ingress echo", .packets = 2, .parsed = 2, .recorded = 1,
		     .matched = 1, .samples = 1);
	EXPECT_DELTAS({ 1, PF_HALF_ACCESS, 1, w });
	rec = DATA(C4_1, R4A, 40002, 443, 100);
	echo = pkt_echo(&rec);
	w = rtt_run(prog_in, &rec, prog_eg, &echo, MS(3));
	EXPECT_STATS("ingress record, egress echo", .packets = 2, .parsed = 2, .recorded = 1,
		     .matched = 1, .samples = 1);
	EXPECT_DELTAS({ 1, PF_HALF_INTERNET, 1, w });
}

/* --- pinned maps from another build ---------------------------------------- */

/* A map pinned at dir/name as another build might have left it. */
static void pin_foreign(const char *dir, const char *name, enum bpf_map_type type,
			uint32_t key, uint32_t val, uint32_t entries)
{
	char path[256];
	int fd = bpf_map_create(type, name, key, val, entries, NULL);

	cr_assert_geq(fd, 0, "bpf_map_create %s: %s", name, strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(bpf_obj_pin(fd, path), 0, "pin %s: %s", path, strerror(errno));
	close(fd);
}

static uint32_t pinned_value_size(const char *dir, const char *name)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	return info.value_size;
}

/*
 * An upgrade that changed the counters' layout (stats of 8 bytes here):
 * the pinned counters are made anew and the datapath loads, keeping the
 * rest; a changed histogram layout is refused, not dropped.
 */
Test(dp, pinned_counters_of_another_layout_are_made_anew)
{
	struct pf_dp_opts o;
	struct pf_dp *d2;
	char fs[] = "/tmp/pf-bpffs-XXXXXX", dir[64];

	/* a bpffs of our own (/sys/fs/bpf may not be mounted here) */
	cr_assert(mkdtemp(fs), "mkdtemp: %s", strerror(errno));
	cr_assert_eq(mount("bpf", fs, "bpf", 0, NULL), 0, "mount bpffs: %s", strerror(errno));
	snprintf(dir, sizeof(dir), "%s/a", fs);
	cr_assert_eq(mkdir(dir, 0700), 0);
	pf_dp_opts_default(&o);
	o.pin_dir = dir;
	o.max_flows = 4096;
	o.max_customers = 64;
	o.max_prefixes = 64;
	pin_foreign(dir, "stats", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1);
	cr_assert_eq(pf_dp_open(&d2, &o), 0, "the datapath refused old counters");
	cr_assert_eq(pinned_value_size(dir, "stats"), sizeof(struct pf_stats));
	pf_dp_close(d2);
	cr_assert_eq(pf_dp_unpin(dir), 0);

	snprintf(dir, sizeof(dir), "%s/b", fs);
	cr_assert_eq(mkdir(dir, 0700), 0);
	pin_foreign(dir, "hists", BPF_MAP_TYPE_ARRAY, 4, 8, 64);
	cr_assert_neq(pf_dp_open(&d2, &o), 0, "histograms of another layout were taken");
	cr_assert_eq(pinned_value_size(dir, "hists"), 8, "the old histograms were touched");
	umount2(fs, MNT_DETACH);
	rmdir(fs);
}

/* --- the flow cache ---------------------------------------------------------- */

/* A flow direction's key as the parser builds it (TCP, ports in network order). */
static struct pf_flow_key flow_key(const char *src, const char *dst, uint16_t sport,
				   uint16_t dport)
{
	struct pkt_spec s = { .src = src, .dst = dst, .sport = sport, .dport = dport };
	struct pf_flow_key k;

	cr_assert_eq(pkt_flow_key(&s, &k), 0, "%s -> %s", src, dst);
	return k;
}

/* Runs the programs on CPU 0 from here on: the cache entries are CPU 0's. */
static void on_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	cr_assert_eq(sched_setaffinity(0, sizeof(set), &set), 0);
}

/*
 * Hit: a packet with the flow's last TSval and TSecr leaves at the cache
 * (counted), and changes nothing. Miss: a new TSval or TSecr goes the whole
 * way. Eviction: two flow directions sharing an entry take turns in it;
 * each packet then goes the whole way and is judged by the flow's own state
 * (not new: nothing), so the samples are exactly those without a cache.
 */
Test(dp0, fcache_hit_miss_and_eviction)
{
	struct pkt_spec a = DATA(C4_1, R4A, 40001, 443, 100), b, echo;
	struct pf_flow_key ka = flow_key(C4_1, R4A, 40001, 443), kb;
	uint16_t port;
	uint64_t t0;

	on_cpu0();
	run(&a);
	EXPECT_STATS("first TSval", .packets = 1, .parsed = 1, .recorded = 1);
	run(&a);
	EXPECT_STATS("the same again: a hit", .packets = 1, .parsed = 1, .fcache_hits = 1, .fast = 1);
	a.tsval = 101;
	t0 = now_ns();
	run(&a);
	EXPECT_STATS("a new TSval: a miss, stored", .packets = 1, .parsed = 1, .recorded = 1);

	/* a flow direction that shares a's entry */
	for (port = 1024; port; port++) {
		kb = flow_key(C4_1, R4A, port, 443);
		if (port != 40001 && pf_fcache_slot(&kb) == pf_fcache_slot(&ka))
			break;
	}
	cr_assert(port, "no port shares the entry");
	b = DATA(C4_1, R4A, port, 443, 7000);
	run(&b);
	EXPECT_STATS("b takes the entry", .packets = 1, .parsed = 1, .recorded = 1);
	run(&a);
	EXPECT_STATS("a again, evicted: not new by its own state", .packets = 1, .parsed = 1);
	run(&b);
	EXPECT_STATS("b again, evicted by a", .packets = 1, .parsed = 1);
	run(&b);
	EXPECT_STATS("b once more: a hit", .packets = 1, .parsed = 1, .fcache_hits = 1, .fast = 1);
	sleep_ns(MS(2));
	echo = pkt_echo(&a);
	run(&echo);
	EXPECT_STATS("a's echo", .packets = 1, .parsed = 1, .matched = 1, .samples = 1);
	run(&echo);
	EXPECT_STATS("a's echo again: a hit", .packets = 1, .parsed = 1, .fcache_hits = 1, .fast = 1);
	EXPECT_DELTAS({ 1, PF_HALF_INTERNET, 1, { MS(2), now_ns() - t0 } });
	echo = pkt_echo(&b);
	run(&echo);
	EXPECT_STATS("b's echo", .packets = 1, .parsed = 1, .matched = 1, .samples = 1);
	read_deltas();
	cr_assert_eq(deltas_total(), 1, "one sample for b:%s", deltas_str());
}

/*
 * The fast path (pf_fast) against the whole way, on one flow whose cache
 * entry holds the packets' TSval and TSecr: the same packet in a shape the
 * fast path leaves to pf_parse (a VLAN tag, IPv4 options, an IPv6
 * extension header, TS not the first option) is a hit the whole way; a
 * malformed one is what the whole way says it is (odd), never a hit.
 */
static void fast_and_whole(struct pkt_spec a, const char *fam)
{
	static const uint16_t tag[] = { 0x8100 };
	static const struct pkt_ext hop8[] = { { 0, 8, 0 } };
	uint8_t late_ts[12] = { 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1 };	/* NOP, TS, NOP */
	struct pkt_spec v;
	char what[96];
	uint32_t ts;

#define SAY(s) (snprintf(what, sizeof(what), "%s: %s", fam, s), what)
	run(&a);
	EXPECT_STATS(SAY("first"), .packets = 1, .parsed = 1, .recorded = 1);
	run(&a);
	EXPECT_STATS(SAY("again: the fast path"), .packets = 1, .parsed = 1, .fcache_hits = 1,
		     .fast = 1);
	v = a;
	set_tags(&v, tag, 1);
	run(&v);
	EXPECT_STATS(SAY("tagged: a hit the whole way"), .packets = 1, .parsed = 1,
		     .fcache_hits = 1);
	v = a;
	if (a.src[0] == '2')
		set_ext(&v, hop8, 1);
	else
		v.ip_optlen = 4;
	run(&v);
	EXPECT_STATS(SAY("IP options: a hit the whole way"), .packets = 1, .parsed = 1,
		     .fcache_hits = 1);
	v = a;
	ts = htonl(a.tsval);
	memcpy(late_ts + 3, &ts, 4);
	ts = htonl(a.tsecr);
	memcpy(late_ts + 7, &ts, 4);
	v.opts = late_ts;
	v.optlen = sizeof(late_ts);
	run(&v);
	EXPECT_STATS(SAY("TS after a NOP: a hit the whole way"), .packets = 1, .parsed = 1,
		     .fcache_hits = 1);
	v = a;
	v.payload = 0;
	v.ip_totlen = (a.src[0] == '2' ? 0 : 20) + 24;	/* the TCP header is 32 bytes */
	run(&v);
	EXPECT_STATS(SAY("TCP header beyond the IP length"), .packets = 1, .odd = 1);
	v = a;
	v.ip_version = a.src[0] == '2' ? 4 : 6;
	run(&v);
	EXPECT_STATS(SAY("the other IP version"), .packets = 1, .odd = 1);
	v = a;
	v.doff = 4;
	run(&v);
	EXPECT_STATS(SAY("TCP data offset 4"), .packets = 1, .odd = 1);
	if (a.src[0] != '2') {
		v = a;
		v.ip_totlen = 19;
		run(&v);
		EXPECT_STATS(SAY("IP length below its header"), .packets = 1, .odd = 1);
		v = a;
		v.ip_frag = 0x2000;	/* MF */
		run(&v);
		EXPECT_STATS(SAY("a first fragment"), .packets = 1, .odd = 1);
	}
	v = a;
	v.payload = 0;
	v.tsecr = 0;	/* a pure ACK echoing nothing: neither records nor matches */
	run(&v);
	EXPECT_STATS(SAY("nothing to record or match: parsed, no hit"), .packets = 1,
		     .parsed = 1);
	run(&a);
	EXPECT_STATS(SAY("the packet itself once more"), .packets = 1, .parsed = 1,
		     .fcache_hits = 1, .fast = 1);
#undef SAY
}

Test(dp0, fast_path_agrees_with_the_whole_way)
{
	struct pkt_spec ack;

	on_cpu0();
	fast_and_whole(DATA(C4_1, R4A, 40031, 443, 300), "IPv4");
	fast_and_whole(DATA(R6A, C6_3, 443, 40032, 300), "IPv6");
	/* a pure ACK: matches nothing here, then leaves at the fast path */
	ack = DATA(R4A, C4_1, 443, 40033, 900);
	ack.flags = PKT_ACK;
	ack.payload = 0;
	run(&ack);
	EXPECT_STATS("pure ACK", .packets = 1, .parsed = 1);
	run(&ack);
	EXPECT_STATS("pure ACK again", .packets = 1, .parsed = 1, .fcache_hits = 1, .fast = 1);
	expect_no_deltas("no echo of a stored TSval");
}

/*
 * An entry that says more than the flow's state (as when another CPU took
 * the flow's packets since): the packets it lets go carry a TSval this CPU
 * saw already, so nothing is stored from them and no sample is ever wrong;
 * the next new TSval is stored and echoed exactly.
 */
Test(dp0, fcache_stale_entry_never_makes_a_wrong_sample)
{
	struct pkt_spec a = DATA(C4_1, R4A, 40007, 443, 500), echo;
	struct pf_fcache_ent ent;
	__u32 idx;
	uint64_t t0;

	on_cpu0();
	memset(&ent, 0, sizeof(ent));
	ent.key = flow_key(C4_1, R4A, 40007, 443);
	ent.id = 500;
	ent.has_id = 1;
	ent.echo = 7;		/* DATA's TSecr */
	ent.has_echo = 1;
	idx = pf_fcache_slot(&ent.key);
	cr_assert_eq(bpf_map_update_elem(pf_dp_map_fd(dp, "fcache"), &idx, &ent, BPF_ANY), 0);
	run(&a);
	EXPECT_STATS("a TSval the entry has seen", .packets = 1, .parsed = 1, .fcache_hits = 1, .fast = 1);
	echo = pkt_echo(&a);
	run(&echo);
	EXPECT_STATS("its echo: nothing stored, no sample", .packets = 1, .parsed = 1);
	a.tsval = 501;
	t0 = now_ns();
	run(&a);
	EXPECT_STATS("the next TSval", .packets = 1, .parsed = 1, .recorded = 1);
	sleep_ns(MS(2));
	echo = pkt_echo(&a);
	run(&echo);
	EXPECT_STATS("its echo", .packets = 1, .parsed = 1, .matched = 1, .samples = 1);
	EXPECT_DELTAS({ 1, PF_HALF_INTERNET, 1, { MS(2), now_ns() - t0 } });
}

/*
 * A TSecr newer than the newest TSval stored the other way is not looked
 * up: a timestamp planted in the map for such a TSval (the datapath never
 * stores one there) is not matched, while the echo of the stored TSval is,
 * exactly. (Before the other direction exists every new TSecr is looked
 * up: one_rtt's tests.)
 */
Test(dp0, echo_newer_than_any_stored_tsval_is_not_looked_up)
{
	struct pkt_spec a = DATA(C4_1, R4A, 40011, 443, 300), echo, first;
	struct pf_pkt_key planted;
	__u64 t_planted;
	uint64_t t0;

	/* the reverse direction exists first (data from the remote) */
	first = DATA(R4A, C4_1, 443, 40011, 9000);
	first.tsecr = 0;
	run(&first);
	EXPECT_STATS("the remote's first packet", .packets = 1, .parsed = 1, .recorded = 1);
	t0 = now_ns();
	run(&a);
	EXPECT_STATS("TSval 300 stored", .packets = 1, .parsed = 1, .recorded = 1);
	memset(&planted, 0, sizeof(planted));
	planted.flow = flow_key(C4_1, R4A, 40011, 443);
	planted.id = 305;
	t_planted = now_ns() - MS(50);
	cr_assert_eq(bpf_map_update_elem(pf_dp_map_fd(dp, "tstamps"), &planted, &t_planted,
					 BPF_ANY), 0);
	sleep_ns(MS(2));
	echo = pkt_echo(&a);
	echo.tsecr = 305;
	run(&echo);
	EXPECT_STATS("an echo of 305, newer than the stored 300: no lookup", .packets = 1,
		     .parsed = 1);
	expect_no_deltas("no lookup, no sample");
	echo.tsecr = 300;
	run(&echo);
	EXPECT_STATS("the echo of 300", .packets = 1, .parsed = 1, .matched = 1, .samples = 1);
	EXPECT_DELTAS({ 1, PF_HALF_INTERNET, 1, { MS(2), now_ns() - t0 } });
}

/* --- data with PSH (delayed ACKs) ----------------------------------------------- */

/*
 * A small message (data with PSH and less than 1024 bytes, whose ACK may
 * wait for the peer's answer or delayed-ACK timer) is not stored, and
 * counted, once per new TSval; its TSval stays seen, so a later segment without PSH with the
 * same TSval is not stored either (the echo may be the message's); the
 * next new TSval without PSH is; SYN and FIN with PSH still record, and so
 * does bulk with PSH (1024 bytes and more).
 */
Test(dp0, data_with_psh_is_not_recorded)
{
	struct pkt_spec msg = DATA(C4_1, R4A, 40020, 443, 100), bulk, fin, echo;
	uint64_t t0;

	msg.flags = PKT_ACK | PKT_PSH;
	run(&msg);
	EXPECT_STATS("a message (PSH)", .packets = 1, .parsed = 1, .psh_skipped = 1);
	run(&msg);
	EXPECT_STATS("the same again", .packets = 1, .parsed = 1, .fcache_hits = 1, .fast = 1);
	bulk = msg;
	bulk.flags = PKT_ACK;
	run(&bulk);
	EXPECT_STATS("a segment without PSH, the same TSval: seen", .packets = 1, .parsed = 1,
		     .fcache_hits = 1, .fast = 1);
	echo = pkt_echo(&msg);
	run(&echo);
	EXPECT_STATS("their ACK: nothing to match", .packets = 1, .parsed = 1);
	bulk.tsval = 101;
	t0 = now_ns();
	run(&bulk);
	EXPECT_STATS("the next TSval, without PSH", .packets = 1, .parsed = 1, .recorded = 1);
	sleep_ns(MS(2));
	echo = pkt_echo(&bulk);
	run(&echo);
	EXPECT_STATS("its ACK", .packets = 1, .parsed = 1, .matched = 1, .samples = 1);
	EXPECT_DELTAS({ 1, PF_HALF_INTERNET, 1, { MS(2), now_ns() - t0 } });
	fin = msg;
	fin.tsval = 103;
	fin.flags = PKT_ACK | PKT_PSH | PKT_FIN;
	run(&fin);
	EXPECT_STATS("FIN with PSH records", .packets = 1, .parsed = 1, .recorded = 1);
	msg.sport = 40022;	/* bulk: a full segment or a GRO aggregate, with PSH */
	msg.payload = 1024;
	run(&msg);
	EXPECT_STATS("1024 bytes with PSH record", .packets = 1, .parsed = 1, .recorded = 1);
	msg.payload = 1023;
	msg.tsval = 104;
	run(&msg);
	EXPECT_STATS("1023 do not", .packets = 1, .parsed = 1, .psh_skipped = 1);
}

/* pf_dp_opts.record_psh (pingfold-dp --record-psh): every data segment records. */
Test(dpp, record_psh_records_messages_too)
{
	struct pkt_spec msg = DATA(C4_1, R4A, 40021, 443, 100);

	msg.flags = PKT_ACK | PKT_PSH;
	one_rtt(&msg, 1, PF_HALF_INTERNET, MS(2));
}

/*
 * The verifier's work for each program, from its own statistics (log level
 * 4): within a quarter of its limit of 1,000,000 instructions, so that a
 * change that multiplies the paths (a loop or a walk inlined into a caller)
 * fails here rather than at a customer's box whose kernel prunes less.
 */
#define PF_VERIFIER_BUDGET 250000

static long verified_insns(const char *log)
{
	const char *p = strstr(log, "processed ");

	return p ? strtol(p + strlen("processed "), NULL, 10) : -1;
}

Test(load, verifier_work_within_a_quarter_of_its_limit, .timeout = 120)
{
	static char log_in[1 << 16], log_eg[1 << 16];
	struct pingfold *s = pingfold__open();
	long n_in, n_eg;

	cr_assert_not_null(s, "open: %s", strerror(errno));
	/* small maps: only the programs are of interest */
	bpf_map__set_max_entries(s->maps.flows, 1024);
	bpf_map__set_max_entries(s->maps.tstamps, 1024);
	bpf_program__set_autoload(s->progs.pf_tc_empty, false);
	bpf_program__set_autoload(s->progs.pf_tc_empty_egress, false);
	bpf_program__set_log_level(s->progs.pf_tc_ingress, 4);
	bpf_program__set_log_buf(s->progs.pf_tc_ingress, log_in, sizeof(log_in));
	bpf_program__set_log_level(s->progs.pf_tc_egress, 4);
	bpf_program__set_log_buf(s->progs.pf_tc_egress, log_eg, sizeof(log_eg));
	cr_assert_eq(pingfold__load(s), 0, "load: %s", strerror(errno));
	n_in = verified_insns(log_in);
	n_eg = verified_insns(log_eg);
	pingfold__destroy(s);
	cr_assert_gt(n_in, 0, "no statistics in the verifier's log: %s", log_in);
	cr_assert_gt(n_eg, 0, "no statistics in the verifier's log: %s", log_eg);
	cr_assert_leq(n_in, PF_VERIFIER_BUDGET, "pf_tc_ingress: %ld instructions verified", n_in);
	cr_assert_leq(n_eg, PF_VERIFIER_BUDGET, "pf_tc_egress: %ld instructions verified", n_eg);
	cr_log_info("verified: ingress %ld, egress %ld instructions", n_in, n_eg);
}
