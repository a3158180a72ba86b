// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* pingfold-agent's settings: one table for the command line, files and --help. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "agent/agent.h"
#include "common/cfgfile.h"

void agent_cfg_default(struct agent_cfg *c)
{
	memset(c, 0, sizeof(*c));
	if (gethostname(c->box, sizeof(c->box)) || !c->box[0])
		snprintf(c->box, sizeof(c->box), "box");
	c->box[sizeof(c->box) - 1] = '\0';
	c->interval_ms = 1000;
	c->replay_intervals = 600;
	c->catalog_every = 30;
	c->state_dir = AGENT_STATE_DIR;
	pf_dp_opts_default(&c->dp);
}

/* "iface = eth1 eth2" in a file; one per --iface */
static int set_iface(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
	struct agent_cfg *c = cfg;
	char buf[1024], *tok, *save;
	int before = c->nifaces;

	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		if (c->nifaces == AGENT_MAX_IFACES) {
			snprintf(err->msg, sizeof(err->msg), "%s: at most %d", key, AGENT_MAX_IFACES);
			return -E2BIG;
		}
		c->ifaces[c->nifaces] = cfg_strdup(tok);
		if (!c->ifaces[c->nifaces++])
			return -ENOMEM;
	}
	if (c->nifaces == before) {
		snprintf(err->msg, sizeof(err->msg), "%s: empty value", key);
		return -EINVAL;
	}
	return 0;
}

static int set_box(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
	struct agent_cfg *c = cfg;
	const char *why = wire_box_check(v, strlen(v));

	if (why) {
		snprintf(err->msg, sizeof(err->msg), "%s '%.64s': %s (1..%zu bytes of printable "
			 "ASCII, no space or '/')", key, v, why, sizeof(c->box) - 1);
		return -EINVAL;
	}
	snprintf(c->box, sizeof(c->box), "%s", v);
	return 0;
}

static int set_attach(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
	struct agent_cfg *c = cfg;

	if (pf_hook_mode_parse(v, &c->dp.attach_mode)) {
		snprintf(err->msg, sizeof(err->msg), "%s: '%s' is not tcx, tc or auto", key, v);
		return -EINVAL;
	}
	return 0;
}

static int set_tls(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
	return tls_opts_set(&((struct agent_cfg *)cfg)->tls, key, v, err);
}

#define F(field)	offsetof(struct agent_cfg, field)
#define URLS(field)	OPT_URLS, F(field), F(n##field), 0, AGENT_MAX_URLS

const struct opt agent_opts[] = {
	{ "config", 'c', OPT_FN, .arg = "FILE", .flags = OPT_F_CLI_ONLY,
	  .help = "settings as 'key = value' lines (keys are the long\n"
		  "option names below); the command line wins" },
	{ "iface", 'i', OPT_FN, .set = set_iface, .arg = "IF",
	  .help = "attach to IF (ingress + egress); repeatable" },
	{ "customers", 'C', OPT_STR, F(customers), .arg = "FILE",
	  .help = "LibreQoS ShapedDevices.csv or a plain list\n"
		  "('customer-id prefix [prefix...] [site=PATH]')" },
	{ "network", 'N', OPT_STR, F(network), .arg = "FILE",
	  .help = "LibreQoS network.json: customers' site paths" },
	{ "ignore", 0, OPT_LIST, F(ignore), F(nignore), 0, AGENT_MAX_URLS, .arg = "P[,P]",
	  .help = "remote prefixes whose samples must not count (a far\n"
		  "management server, a VPN concentrator); repeatable" },
	{ "ignore-file", 0, OPT_STR, F(ignore_file), .arg = "FILE",
	  .help = "more of them, one or more a line, '#' comments\n"
		  "(SIGHUP reads it again)" },
	{ "box-id", 'b', OPT_FN, .set = set_box, .arg = "ID",
	  .help = "this box's name (default: the hostname)" },
	{ "interval", 'n', OPT_U64, F(interval_ms), 0, 100, 3600000, .arg = "MS",
	  .help = "poll interval (default 1000)" },
	{ "listen", 'l', URLS(listen), .arg = "URL",
	  .help = "publish here (e.g. tcp://0.0.0.0:7700); repeatable" },
	{ "connect", 'd', URLS(connect), .arg = "URL",
	  .help = "publish by dialling an aggregator; repeatable" },
	{ "replay", 'r', URLS(replay), .arg = "URL",
	  .help = "answer replay requests here (e.g. tcp://0.0.0.0:7701)" },
	{ "replay-intervals", 0, OPT_U32, F(replay_intervals), 0, 1, 1000000, .arg = "N",
	  .help = "deltas kept for replay (default 600)" },
	{ "tls-ca", 0, OPT_FN, .set = set_tls, .arg = "FILE",
	  .help = "for tls+tcp:// URLs: the CA that signed the\n"
		  "aggregators' certificates (required of them)" },
	{ "tls-cert", 0, OPT_FN, .set = set_tls, .arg = "FILE",
	  .help = "our certificate and private key (one PEM file)" },
	{ "tls-server-name", 0, OPT_FN, .set = set_tls, .arg = "N",
	  .help = "with --connect: the name in the aggregator's cert" },
	{ "catalog-every", 0, OPT_U32, F(catalog_every), 0, 1, 1000000, .arg = "N",
	  .help = "intervals between catalogs (default 30)" },
	{ "max-customers", 0, OPT_U32, F(dp.max_customers), 0, 1, 1U << 22, .arg = "N",
	  .help = "histogram slots (default 16384; 3.4 KiB each)" },
	{ "max-prefixes", 0, OPT_U32, F(dp.max_prefixes), 0, 1, 1U << 24, .arg = "N",
	  .help = "customer trie size (default 65536)" },
	{ "max-flows", 0, OPT_U32, F(dp.max_flows), 0, 64, 1U << 26, .arg = "N",
	  .help = "flow and timestamp entries, each (default 1048576)" },
	{ "rate-limit", 0, OPT_U64, F(dp.rate_limit_ns), 0, 0, 60000, 1000000, .arg = "MS",
	  .help = "per-flow timestamp rate limit (default 10)" },
	{ "attach", 0, OPT_FN, .set = set_attach, .arg = "MODE",
	  .help = "tcx, tc (clsact filters) or auto (default: tcx\n"
		  "where the kernel has it, else tc)" },
	{ "tc-priority", 0, OPT_U32, F(dp.tc_priority), 0, 0, 65535, .arg = "N",
	  .help = "clsact filter priority (default 0: the lowest\n"
		  "that runs before every filter already there)" },
	{ "pin-dir", 0, OPT_STR, F(dp.pin_dir), .arg = "DIR",
	  .help = "pinned maps (default /sys/fs/bpf/pingfold)" },
	{ "state-dir", 0, OPT_STR, F(state_dir), .arg = "DIR",
	  .help = "reader state and journal (default /run/pingfold)" },
	{ "record-psh", 0, OPT_BOOL, F(dp.record_psh),
	  .help = "store timestamps on small messages too (data with\n"
		  "PSH under 1 KiB; their samples include the peer's\n"
		  "delayed-ACK wait: docs/datapath.md)" },
	{ "detach-on-exit", 0, OPT_BOOL, F(detach_on_exit),
	  .help = "on SIGTERM/SIGINT remove programs, pins and state\n"
		  "(default: leave them, so a restart loses nothing)" },
	{ "dry-run", 0, OPT_CLI, .help = "check the configuration and customer files, print\n"
					 "a summary, exit" },
	{ "once", 0, OPT_CLI, .help = "one interval, then exit (with --json: print it)" },
	{ "json", 0, OPT_CLI, .help = "with --once: the delta and counters as JSON" },
	{ "detach", 0, OPT_CLI, .help = "remove what an agent added (filters, pins, state)" },
	{ "verbose", 'v', OPT_CLI, .help = "debug logging (twice: libbpf too)" },
	{ "quiet", 'q', OPT_CLI, .help = "warnings and errors only" },
	{ "help", 'h', OPT_CLI },
	{ 0 }
};

int agent_cfg_set(struct agent_cfg *c, const char *key, const char *v, struct cfg_err *err)
{
	return opts_set(agent_opts, c, key, v, err);
}
