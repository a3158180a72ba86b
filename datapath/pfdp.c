// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * pingfold-dp: the datapath alone, for tests, benchmarks and debugging.
 * Loads and attaches the programs, fills the customer trie, polls exact
 * deltas every interval, and prints per customer-half totals at the end.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "datapath/datapath.h"
#include "common/cfgfile.h"
#include "common/log.h"

#define PFDP_MAX_IFACES 8

static const char usage[] =
"Usage: pingfold-dp [OPTIONS]\n"
"Attach the pingfold datapath, poll its exact deltas, print totals at exit.\n"
"\n"
"  -i, --iface IF          attach to IF (ingress and egress); repeatable\n"
"  -c, --customer S=P[,P]  customer slot S owns prefixes P; repeatable\n"
"  -t, --time SECONDS      run this long (default: until SIGINT/SIGTERM)\n"
"  -n, --interval MS       poll interval (default 1000)\n"
"  -r, --rate-limit MS     per-flow timestamp rate limit (default 10)\n"
"  -f, --max-flows N       flow and timestamp map entries (default 1048576)\n"
"  -C, --max-customers N   histogram slots (default 16384)\n"
"  -p, --pin DIR           pin maps under DIR (default: no pinning)\n"
"  -a, --attach MODE       tcx, tc (clsact filters) or auto (default)\n"
"  -P, --tc-priority N     clsact filter priority (default 0: the lowest that\n"
"                          runs before every filter already there)\n"
"  -R, --record-psh        record data segments with PSH too (their ACKs may\n"
"                          wait for the peer's delayed-ACK timer)\n"
"  -E, --empty             attach an empty program instead (the baseline\n"
"                          of make bench: what a hook itself costs)\n"
"  -v, --verbose           debug logging (libbpf too)\n"
"\n"
"Output, one line per customer-half with samples, then the totals:\n"
"  customer SLOT HALF count N sum_ns S min_ns A max_ns B p50_ns C p90_ns D\n"
"  buckets SLOT HALF LO:N ...  (each non-empty bucket: its lower bound in ns)\n"
"  deltas N polls P          (sum of every delta's count)\n"
"  stat NAME VALUE           (the datapath's own counters)\n"
"  hooks tcx T missing M not_first F not_running R reattached A blind B\n"
"                            (the hooks at the last check, see --attach)\n"
"\n"
"Example:\n"
"  pingfold-dp -i eth1 -c 0=198.18.1.0/24,2001:db8:1::/48 -c 1=198.18.2.7 -t 30\n";

struct pfdp {
	struct hist (*h)[PF_NHALVES];	/* accumulated per slot */
	uint32_t nslots;
	uint64_t deltas;
	uint64_t polls;
	struct pf_dp_health health;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	struct cfg_err e;
	int rc = cfg_u64(opt, s, min, max, out, &e);

	if (rc)
		pr_err("%s", e.msg);
	return rc;
}

/* "SLOT=PREFIX[,PREFIX...]" into the trie. */
static int add_customer(struct pf_dp *dp, const char *arg)
{
	char buf[1024], *save, *tok;
	const char *eq = strchr(arg, '='), *why;
	struct prefix p;
	uint64_t slot;
	int err;

	if (!eq || (size_t)(eq - arg) >= 32 || strlen(eq + 1) >= sizeof(buf)) {
		pr_err("--customer '%s': expected SLOT=PREFIX[,PREFIX...]", arg);
		return -EINVAL;
	}
	memcpy(buf, arg, eq - arg);
	buf[eq - arg] = '\0';
	err = parse_u64("--customer", buf, 0, pf_dp_max_customers(dp) - 1, &slot);
	if (err)
		return err;
	snprintf(buf, sizeof(buf), "%s", eq + 1);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (prefix_parse(tok, &p, &why)) {
			pr_err("--customer '%s': '%s': %s", arg, tok, why);
			return -EINVAL;
		}
		err = pf_dp_prefix_set(dp, &p, (uint32_t)slot);
		if (err)
			return err;
	}
	return 0;
}

static int on_delta(void *ctx, uint32_t slot, enum pf_half half, const struct hist_sparse *d)
{
	struct pfdp *st = ctx;

	if (slot >= st->nslots)
		return -ERANGE;
	hist_merge_sparse(&st->h[slot][half], d);
	st->deltas += d->count;
	return 0;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (!stop && nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Poll until stopped. The last poll comes after the hooks are detached, so
 * that nothing adds a sample between the last read and report()'s read of
 * the counters: the sum of the deltas then equals the datapath's "samples"
 * counter exactly even while packets of closing connections are in flight.
 * (A tcx detach waits for programs still running; removing a tc filter does
 * not, so with --attach tc a packet in the program at that instant may still
 * count.)
 */
static int run(struct pf_dp *dp, struct pfdp *st, uint64_t secs, uint64_t interval_ms,
	       const char *const *ifaces, int nif)
{
	struct timespec t0, now;
	bool last = false;
	int err, i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!last) {
		sleep_ms(interval_ms);
		pf_dp_check(dp, &st->health);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (stop || (secs && (uint64_t)(now.tv_sec - t0.tv_sec) >= secs)) {
			for (i = 0; i < nif; i++)
				pf_dp_detach(dp, ifaces[i]);
			last = true;
		}
		err = pf_dp_read(dp, on_delta, st);
		err = err ?: pf_dp_commit_read(dp, st->polls + 1);
		if (err) {
			pr_err("reading deltas: %s", strerror(-err));
			return err;
		}
		st->polls++;
	}
	return 0;
}

static void report(struct pf_dp *dp, struct pfdp *st)
{
	static const char *const half_name[] = { "access", "internet" };
	uint64_t stats[PF_STAT_MAX];
	uint32_t s, k;
	int h, i;

	for (s = 0; s < st->nslots; s++) {
		for (h = 0; h < PF_NHALVES; h++) {
			struct hist *x = &st->h[s][h];

			if (!x->count)
				continue;
			printf("customer %u %s count %llu sum_ns %llu min_ns %llu max_ns %llu "
			       "p50_ns %.0f p90_ns %.0f\n", s, half_name[h],
			       (unsigned long long)x->count, (unsigned long long)x->sum,
			       (unsigned long long)x->min, (unsigned long long)x->max,
			       hist_quantile(x, 0.5), hist_quantile(x, 0.9));
			printf("buckets %u %s", s, half_name[h]);
			for (k = 0; k < PF_HIST_NSLOTS; k++)
				if (x->slot[k])
					printf(" %llu:%llu", (unsigned long long)hist_slot_lo(k),
					       (unsigned long long)x->slot[k]);
			printf("\n");
		}
	}
	printf("deltas %llu polls %llu\n", (unsigned long long)st->deltas,
	       (unsigned long long)st->polls);
	if (pf_dp_stats(dp, stats) == 0)
		for (i = 0; i < PF_STAT_MAX; i++)
			printf("stat %s %llu\n", pf_dp_stat_name(i), (unsigned long long)stats[i]);
	printf("hooks tcx %d missing %u not_first %u not_running %u reattached %llu blind %llu\n",
	       st->health.tcx, st->health.missing, st->health.not_first, st->health.not_running,
	       (unsigned long long)st->health.reattached,
	       (unsigned long long)st->health.blind_checks);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "iface", required_argument, NULL, 'i' },
		{ "customer", required_argument, NULL, 'c' },
		{ "time", required_argument, NULL, 't' },
		{ "interval", required_argument, NULL, 'n' },
		{ "rate-limit", required_argument, NULL, 'r' },
		{ "max-flows", required_argument, NULL, 'f' },
		{ "max-customers", required_argument, NULL, 'C' },
		{ "pin", required_argument, NULL, 'p' },
		{ "attach", required_argument, NULL, 'a' },
		{ "tc-priority", required_argument, NULL, 'P' },
		{ "empty", no_argument, NULL, 'E' },
		{ "record-psh", no_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *ifaces[PFDP_MAX_IFACES], *custs[256];
	int nif = 0, ncust = 0, c, i, err = 0;
	uint64_t secs = 0, interval = 1000, v;
	struct pfdp st = { 0 };
	struct pf_dp_opts o;
	struct pf_dp *dp;

	log_set_ident("pingfold-dp");
	pf_dp_opts_default(&o);
	o.pin_dir = NULL;
	while ((c = getopt_long(argc, argv, "i:c:t:n:r:f:C:p:a:P:ERvh", lopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (nif == PFDP_MAX_IFACES) {
				pr_err("at most %d interfaces", PFDP_MAX_IFACES);
				return 2;
			}
			ifaces[nif++] = optarg;
			break;
		case 'c':
			if (ncust == 256) {
				pr_err("at most 256 --customer options");
				return 2;
			}
			custs[ncust++] = optarg;
			break;
		case 't': err = parse_u64("--time", optarg, 1, 86400, &secs); break;
		case 'n': err = parse_u64("--interval", optarg, 10, 3600000, &interval); break;
		case 'r':
			err = parse_u64("--rate-limit", optarg, 0, 60000, &v);
			o.rate_limit_ns = v * 1000000;
			break;
		case 'f':
			err = parse_u64("--max-flows", optarg, 64, 1U << 26, &v);
			o.max_flows = (uint32_t)v;
			break;
		case 'C':
			err = parse_u64("--max-customers", optarg, 1, 1U << 22, &v);
			o.max_customers = (uint32_t)v;
			break;
		case 'p': o.pin_dir = optarg; break;
		case 'a':
			if (pf_hook_mode_parse(optarg, &o.attach_mode)) {
				pr_err("--attach '%s': expected tcx, tc or auto", optarg);
				return 2;
			}
			break;
		case 'P':
			err = parse_u64("--tc-priority", optarg, 0, 65535, &v);
			o.tc_priority = (uint32_t)v;
			break;
		case 'E': o.attach_empty = true; break;
		case 'R': o.record_psh = true; break;
		case 'v': log_set_level(LOG_LVL_DEBUG); break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
		if (err)
			return 2;
	}
	if (optind != argc || !nif) {
		pr_err(optind != argc ? "unexpected argument '%s'" : "no --iface given%s",
		       optind != argc ? argv[optind] : "");
		return 2;
	}
	st.nslots = o.max_customers;
	st.h = calloc(st.nslots, sizeof(*st.h));
	if (!st.h)
		return 1;
	for (v = 0; v < st.nslots; v++)
		for (i = 0; i < PF_NHALVES; i++)
			hist_init(&st.h[v][i]);
	err = pf_dp_open(&dp, &o);
	if (err)
		return 1;
	for (i = 0; i < ncust && !err; i++)
		err = add_customer(dp, custs[i]);
	err = err ?: pf_dp_commit(dp);
	for (i = 0; i < nif && !err; i++)
		err = pf_dp_attach(dp, ifaces[i]);
	if (!err) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		printf("ready\n");
		fflush(stdout);
		err = run(dp, &st, secs, interval, ifaces, nif);
		report(dp, &st);
	}
	pf_dp_close(dp);
	free(st.h);
	return err ? 1 : 0;
}
