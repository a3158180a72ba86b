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

static const char usage_head[] =
"Usage: pingfold-agent [OPTIONS]\n"
"Passive per-customer latency on a shaper box: attaches the pingfold\n"
"datapath, reads exact histogram deltas every interval and publishes them\n"
"(msgpack over nng pub/sub). Foreground; logs to stderr.\n"
"\n";

static const char usage_tail[] =
"\n"
"Signals: SIGHUP re-reads the customer files and --ignore-file (a bad file is\n"
"refused, the old list stays); SIGTERM/SIGINT publish a last delta and exit.\n"
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

static struct flags flags;

/* The options without a value that are not settings. */
static int on_flag(void *cfg, const struct opt *o)
{
	(void)cfg;
	if (!strcmp(o->name, "help")) {
		fputs(usage_head, stdout);
		opts_usage(stdout, agent_opts);
		fputs(usage_tail, stdout);
		exit(0);
	}
	if (!strcmp(o->name, "dry-run"))
		flags.dry_run = true;
	else if (!strcmp(o->name, "once"))
		flags.once = true;
	else if (!strcmp(o->name, "json"))
		flags.json = true;
	else if (!strcmp(o->name, "detach"))
		flags.detach = true;
	else if (!strcmp(o->name, "verbose"))
		flags.verbose++;
	else if (!strcmp(o->name, "quiet"))
		flags.quiet = 1;
	return 0;
}

static int dry_run(const struct agent_cfg *cfg)
{
	struct prefix *ign;
	struct custlist l;
	struct cfg_err e;
	char buf[600];
	size_t nign;

	if (agent_check_customers(cfg, &l, &e)) {
		pr_err("%s", cfg_err_str(&e, buf, sizeof(buf)));
		return 1;
	}
	printf("%zu customers, %zu prefixes (%zu IPv4, %zu IPv6), %zu sites\n", l.n, l.nprefixes,
	       l.nv4, l.nv6, l.nsites);
	custlist_free(&l);
	if (agent_check_ignores(cfg, &ign, &nign, &e)) {
		pr_err("%s", cfg_err_str(&e, buf, sizeof(buf)));
		return 1;
	}
	if (nign)
		printf("%zu prefixes ignored\n", nign);
	free(ign);
	return 0;
}

int main(int argc, char **argv)
{
	struct agent_cfg cfg;
	struct flags *f = &flags;
	struct sigaction sa = { .sa_handler = on_signal };
	struct agent *a;
	int rc;

	log_set_ident("pingfold-agent");
	agent_cfg_default(&cfg);
	rc = opts_parse(agent_opts, &cfg, argc, argv, "pingfold-agent", on_flag);
	if (rc)
		return rc;
	if (f->json && !f->once) {
		pr_err("--json goes with --once");
		return 2;
	}
	log_set_level(f->quiet ? LOG_LVL_WARN : f->verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (f->dry_run)
		return dry_run(&cfg);
	if (f->detach)
		return agent_detach(&cfg) ? 1 : 0;
	if (!cfg.nifaces) {
		pr_err("no interface to attach to (--iface IF)");
		return 2;
	}
	if (!f->once && !cfg.nlisten && !cfg.nconnect)
		pr_warn("neither --listen nor --connect: deltas go nowhere");
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (agent_open(&a, &cfg))
		return 1;
	if (f->once) {
		struct timespec ts = { .tv_sec = cfg.interval_ms / 1000,
				       .tv_nsec = (cfg.interval_ms % 1000) * 1000000 };

		nanosleep(&ts, NULL);
		rc = agent_poll(a);
		if (!rc && f->json)
			agent_print_json(a);
		agent_close(a, false);
		return rc ? 1 : 0;
	}
	pr_info("running: interval %llu ms", (unsigned long long)cfg.interval_ms);
	rc = agent_run(a, &stop, &reload);
	agent_close(a, rc == 0);
	return rc ? 1 : 0;
}
