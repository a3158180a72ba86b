/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * One box's publishing side, used by pingfold-agent and by an aggregator
 * that republishes: the pub socket (listening and/or dialling), deltas
 * kept in a replay ring (and, if asked, in files so a restart keeps
 * them), the replay server that answers gap requests from it, the catalog
 * cadence, and counters. docs/wire.md has the messages.
 */
#ifndef PINGFOLD_PUBLISHER_H
#define PINGFOLD_PUBLISHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tls.h"

#define PUBLISHER_REPLAY_MAX	4096	/* deltas in one replay answer */

struct publisher_opts {
	const char *box;
	uint64_t epoch;
	const char *const *listen;	/* the pub socket listens here */
	int nlisten;
	const char *const *dial;	/* ... and dials here (kept redialling) */
	int ndial;
	const char *const *replay;	/* the replay server listens here; none: no server */
	int nreplay;
	const struct tls_opts *tls;	/* for tls+tcp:// URLs */
	uint32_t ring_len;		/* deltas kept for replay */
	const char *ring_dir;		/* NULL: the ring is kept in memory only */
	uint32_t catalog_every;		/* deltas between catalogs (0 or 1: every one) */
	bool warn_plain;		/* warn of plain tcp:// URLs */
};

struct publisher_counts {
	uint64_t bytes, errors;		/* published; failed sends */
	uint64_t replay_requests, replay_sent;	/* requests answered, deltas in them */
	uint64_t ring_bytes;
	uint64_t subscribers;		/* connected now */
};

struct publisher;

int publisher_open(struct publisher **pp, const struct publisher_opts *o);
/* Stops the replay server, lets queued messages leave (linger_ms), closes. */
void publisher_close(struct publisher *p, int linger_ms);

/* Publishes delta seq and keeps it for replay; takes msg (malloc'd). */
void publisher_delta(struct publisher *p, uint64_t seq, char *msg, size_t len);
/* Publishes a catalog or stats message (not kept). */
int publisher_send(struct publisher *p, const char *msg, size_t len);
/*
 * Whether a catalog is due before the next delta: changed (the names
 * changed), a subscriber connected since the last one, or catalog_every
 * deltas went by. Call once per delta; true resets the cadence.
 */
bool publisher_catalog_due(struct publisher *p, bool changed);
void publisher_counts(struct publisher *p, struct publisher_counts *c);

/*
 * ring_dir: takes back this epoch's files with seq in (committed -
 * ring_len, committed] into the ring, removes every other file. Returns
 * how many were taken.
 */
int publisher_ring_load(struct publisher *p, uint64_t committed);
/* Removes ring_dir and its files (the agent's --detach). */
void publisher_ring_remove(const char *ring_dir);

#endif /* PINGFOLD_PUBLISHER_H */
