/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * pingfold-agent: one per shaper box. Loads the datapath and the customer
 * list, reads exact deltas every interval and publishes them.
 */
#ifndef PINGFOLD_AGENT_H
#define PINGFOLD_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include "datapath/datapath.h"
#include "common/custlist.h"
#include "common/options.h"
#include "common/tls.h"
#include "common/wire.h"

#define AGENT_MAX_IFACES	32
#define AGENT_MAX_URLS		8
#define AGENT_STATE_DIR		"/run/pingfold"

struct agent_cfg {
	const char *ifaces[AGENT_MAX_IFACES];
	int nifaces;
	char box[WIRE_BOX_MAX];
	uint64_t interval_ms;
	const char *listen[AGENT_MAX_URLS];	/* pub socket listens here */
	int nlisten;
	const char *connect[AGENT_MAX_URLS];	/* pub socket dials here */
	int nconnect;
	const char *replay[AGENT_MAX_URLS];	/* rep socket for replays */
	int nreplay;
	uint32_t replay_intervals;		/* deltas kept for replay */
	uint32_t catalog_every;			/* intervals between catalogs */
	const char *customers;			/* ShapedDevices.csv or plain list */
	const char *network;			/* network.json, optional */
	const char *ignore[AGENT_MAX_URLS];	/* --ignore: remote prefixes not to count */
	int nignore;
	const char *ignore_file;		/* --ignore-file: one prefix a line */
	const char *state_dir;
	struct pf_dp_opts dp;
	bool detach_on_exit;
	struct tls_opts tls;		/* for tls+tcp:// URLs */
};

void agent_cfg_default(struct agent_cfg *c);
/* One setting by its long option name (command line and config file). */
int agent_cfg_set(struct agent_cfg *c, const char *key, const char *value, struct cfg_err *err);
/* Every option: the command line, config keys, --help (agent/config.c). */
extern const struct opt agent_opts[];

struct agent;

/* Parses and checks the customer files; the same checks --dry-run does. */
int agent_check_customers(const struct agent_cfg *c, struct custlist *out, struct cfg_err *err);

/* The prefixes of --ignore and --ignore-file (the same checks --dry-run does). */
int agent_check_ignores(const struct agent_cfg *c, struct prefix **out, size_t *n,
			struct cfg_err *err);

/* Loads and attaches the datapath, loads customers, opens sockets. */
int agent_open(struct agent **ap, const struct agent_cfg *c);
/* One interval's work: read, journal, commit, publish. */
int agent_poll(struct agent *a);
/* Re-reads the customer files and the ignore list; on error the old ones stay. */
int agent_reload(struct agent *a);
/* Runs until *stop; SIGHUP sets *reload. */
int agent_run(struct agent *a, volatile int *stop, volatile int *reload);
/* The last polled delta as JSON on stdout (--once --json). */
void agent_print_json(struct agent *a);
/* Final poll; then either leaves the datapath running or removes it all. */
void agent_close(struct agent *a, bool final_poll);

/* Removes what an agent added: its tcx links or tc filters, pins, state. */
int agent_detach(const struct agent_cfg *c);

#endif /* PINGFOLD_AGENT_H */
