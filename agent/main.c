// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* pingfold-agent: options, then the agent's loop. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "agent/agent.h"
#include "common/cfgfile.h"
#include "common/log.h"

static const char usage[] =
"Usage: pingfold-agent [OPTIONS]\n"
"Passive per-customer latency on a shaper box: attaches the pingfold\n"
"datapath, reads exact histogram deltas every interval and publishes them\n"
"(msgpack over nng pub/sub). Foreground; logs to stderr.\n"
"\n"
"  -c, --config FILE         settings as 'key = value' lines (keys are the long\n"
"                            option names below); the command line wins\n"
"  -i, --iface IF            attach to IF (ingress + egress); repeatable\n"
"  -C, --customers FILE      LibreQoS ShapedDevices.csv or a plain list\n"
"                            ('customer-id prefix [prefix...] [site=PATH]')\n"
"  -N, --network FILE        LibreQoS network.json: customers' site paths\n"
"  -b, --box-id ID           this box's name (default: the hostname)\n"
"  -n, --interval MS         poll interval (default 1000)\n"
"  -l, --listen URL          publish here (e.g. tcp://0.0.0.0:7700); repeatable\n"
"  -d, --connect URL         publish by dialling an aggregator; repeatable\n"
"  -r, --replay URL          answer replay requests here (e.g. tcp://0.0.0.0:7701)\n"
"      --replay-intervals N  deltas kept for replay (default 600)\n"
"      --tls-ca FILE         for tls+tcp:// URLs: the CA that signed the\n"
"                            aggregators' certificates (required of them)\n"
"      --tls-cert FILE       our certificate and private key (one PEM file)\n"
"      --tls-server-name N   with --connect: the name in the aggregator's cert\n"
"      --catalog-every N     intervals between catalogs (default 30)\n"
"      --max-customers N     histogram slots (default 16384; 3.4 KiB each)\n"
"      --max-prefixes N      customer trie size (default 65536)\n"
"      --max-flows N         flow and timestamp entries, each (default 1048576)\n"
"      --rate-limit MS       per-flow timestamp rate limit (default 10)\n"
"      --attach MODE         tcx, tc (clsact filters) or auto (default: tcx\n"
"                            where the kernel has it, else tc)\n"
"      --tc-priority N       clsact filter priority (default 0: the lowest\n"
"                            that runs before every filter already there)\n"
"      --pin-dir DIR         pinned maps (default /sys/fs/bpf/pingfold)\n"
"      --state-dir DIR       reader state and journal (default /run/pingfold)\n"
"      --detach-on-exit      on SIGTERM/SIGINT remove programs, pins and state\n"
"                            (default: leave them, so a restart loses nothing)\n"
"      --dry-run             check the configuration and customer files, print\n"
"                            a summary, exit\n"
"      --once                one interval, then exit (with --json: print it)\n"
"      --json                with --once: the delta and counters as JSON\n"
"      --detach              remove what an agent added (filters, pins, state)\n"
"  -v, --verbose             debug logging (twice: libbpf too)\n"
"  -q, --quiet               warnings and errors only\n"
"  -h, --help\n"
"\n"
"Signals: SIGHUP re-reads the customer files (a bad file is refused, the old\n"
"list stays); SIGTERM/SIGINT publish a last delta and exit.\n"
"\n"
"Examples:\n"
"  pingfold-agent --dry-run -C /opt/libreqos/src/ShapedDevices.csv \\\n"
"      -N /opt/libreqos/src/network.json\n"
"  pingfold-agent -i ens19 -C ShapedDevices.csv -N network.json \\\n"
"      -l tcp://0.0.0.0:7700 -r tcp://0.0.0.0:7701\n"
"  pingfold-agent -c /etc/pingfold/agent.conf\n"
"  pingfold-agent -i ens19 -C ShapedDevices.csv -l tls+tcp://0.0.0.0:7700 \\\n"
"      -r tls+tcp://0.0.0.0:7701 --tls-ca ca.pem --tls-cert shaper1.pem\n"
"  pingfold-agent -i ens19 -C customers.txt --once --json | jq .\n"
"  pingfold-agent --detach\n";

enum { OPT_REPLAY_N = 256, OPT_CATALOG, OPT_MAXC, OPT_MAXP, OPT_MAXF, OPT_RATE, OPT_PRIO,
       OPT_PIN, OPT_STATE, OPT_DETACH_EXIT, OPT_DRY, OPT_ONCE, OPT_JSON, OPT_DETACH,
       OPT_TLS_CA, OPT_TLS_CERT, OPT_TLS_NAME, OPT_ATTACH };

static const struct option lopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "iface", required_argument, NULL, 'i' },
	{ "customers", required_argument, NULL, 'C' },
	{ "network", required_argument, NULL, 'N' },
	{ "box-id", required_argument, NULL, 'b' },
	{ "interval", required_argument, NULL, 'n' },
	{ "listen", required_argument, NULL, 'l' },
	{ "connect", required_argument, NULL, 'd' },
	{ "replay", required_argument, NULL, 'r' },
	{ "replay-intervals", required_argument, NULL, OPT_REPLAY_N },
	{ "catalog-every", required_argument, NULL, OPT_CATALOG },
	{ "max-customers", required_argument, NULL, OPT_MAXC },
	{ "max-prefixes", required_argument, NULL, OPT_MAXP },
	{ "max-flows", required_argument, NULL, OPT_MAXF },
	{ "rate-limit", required_argument, NULL, OPT_RATE },
	{ "tc-priority", required_argument, NULL, OPT_PRIO },
	{ "attach", required_argument, NULL, OPT_ATTACH },
	{ "pin-dir", required_argument, NULL, OPT_PIN },
	{ "state-dir", required_argument, NULL, OPT_STATE },
	{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-server-name", required_argument, NULL, OPT_TLS_NAME },
	{ "detach-on-exit", no_argument, NULL, OPT_DETACH_EXIT },
	{ "dry-run", no_argument, NULL, OPT_DRY },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "detach", no_argument, NULL, OPT_DETACH },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static volatile int stop, reload;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload = 1;
	else
		stop = 1;
}

struct flags {
	bool dry_run, once, json, detach;
	int verbose, quiet;
};

static int cfg_from_file(void *ctx, const char *key, const char *value, struct cfg_err *err)
{
	return agent_cfg_set(ctx, key, value, err);
}

/* The config file first (wherever -c stands), then the other options. */
static int parse_args(int argc, char **argv, struct agent_cfg *cfg, struct flags *f)
{
	struct cfg_err e = { .file = "(command line)" };
	char buf[600];
	int c, i;

	for (i = 1; i < argc; i++) {
		const char *file = NULL;

		if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))
			file = i + 1 < argc ? argv[i + 1] : NULL;
		else if (!strncmp(argv[i], "--config=", 9))
			file = argv[i] + 9;
		if (file && cfgfile_load(file, cfg_from_file, cfg, &e)) {
			pr_err("%s", cfg_err_str(&e, buf, sizeof(buf)));
			return 2;
		}
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:i:C:N:b:n:l:d:r:vqh", lopts, NULL)) != -1) {
		const char *key = NULL;

		switch (c) {
		case 'c': continue;
		case OPT_DETACH_EXIT: cfg->detach_on_exit = true; continue;
		case OPT_DRY: f->dry_run = true; continue;
		case OPT_ONCE: f->once = true; continue;
		case OPT_JSON: f->json = true; continue;
		case OPT_DETACH: f->detach = true; continue;
		case 'v': f->verbose++; continue;
		case 'q': f->quiet = 1; continue;
		case 'h': fputs(usage, stdout); exit(0);
		case '?': fputs("Try 'pingfold-agent --help'.\n", stderr); return 2;
		}
		for (i = 0; lopts[i].name; i++)
			if (lopts[i].val == c)
				key = lopts[i].name;
		e.msg[0] = '\0';
		if (!key || agent_cfg_set(cfg, key, optarg, &e)) {
			pr_err("--%s", e.msg);
			return 2;
		}
	}
	if (optind < argc) {
		pr_err("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (f->json && !f->once) {
		pr_err("--json goes with --once");
		return 2;
	}
	return 0;
}

static int dry_run(const struct agent_cfg *cfg)
{
	struct custlist l;
	struct cfg_err e;
	char buf[600];

	if (agent_check_customers(cfg, &l, &e)) {
		pr_err("%s", cfg_err_str(&e, buf, sizeof(buf)));
		return 1;
	}
	printf("%zu customers, %zu prefixes (%zu IPv4, %zu IPv6), %zu sites\n", l.n, l.nprefixes,
	       l.nv4, l.nv6, l.nsites);
	custlist_free(&l);
	return 0;
}

int main(int argc, char **argv)
{
	struct agent_cfg cfg;
	struct flags f = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	struct agent *a;
	int rc;

	log_set_ident("pingfold-agent");
	agent_cfg_default(&cfg);
	rc = parse_args(argc, argv, &cfg, &f);
	if (rc)
		return rc;
	log_set_level(f.quiet ? LOG_LVL_WARN : f.verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (f.dry_run)
		return dry_run(&cfg);
	if (f.detach)
		return agent_detach(&cfg) ? 1 : 0;
	if (!cfg.nifaces) {
		pr_err("no interface to attach to (--iface IF)");
		return 2;
	}
	if (!f.once && !cfg.nlisten && !cfg.nconnect)
		pr_warn("neither --listen nor --connect: deltas go nowhere");
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (agent_open(&a, &cfg))
		return 1;
	if (f.once) {
		struct timespec ts = { .tv_sec = cfg.interval_ms / 1000,
				       .tv_nsec = (cfg.interval_ms % 1000) * 1000000 };

		nanosleep(&ts, NULL);
		rc = agent_poll(a);
		if (!rc && f.json)
			agent_print_json(a);
		agent_close(a, false);
		return rc ? 1 : 0;
	}
	pr_info("running: interval %llu ms", (unsigned long long)cfg.interval_ms);
	rc = agent_run(a, &stop, &reload);
	agent_close(a, rc == 0);
	return rc ? 1 : 0;
}
