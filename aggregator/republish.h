/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * An aggregator republishing what it merged as one box of its own, in the
 * agents' format (--republish): a higher aggregator subscribes to it like
 * to an agent. Keys are this republisher's index of each customer id, named
 * in a catalog sent with every delta; replay as an agent's
 * (common/publisher.h).
 */
#ifndef PINGFOLD_REPUBLISH_H
#define PINGFOLD_REPUBLISH_H

#include <stdint.h>
#include "aggregator/store.h"
#include "common/publisher.h"

struct republish_counts {
	uint64_t deltas;	/* published */
	uint64_t errors;	/* ticks whose delta could not be built (kept for the next) */
	uint64_t unnamed;	/* catalog entries left out (an id too long for the wire) */
	uint64_t subscribers;	/* connected now */
};

struct republisher;

/* pub: box (the aggregator's --id), URLs, replay URLs, TLS; epoch is set here. */
int republish_open(struct republisher **rp, const struct publisher_opts *pub, uint64_t now);
void republish_close(struct republisher *r);
/*
 * Both under the store's lock (ids and names come from it).
 * take: keeps what a merged delta d adds, by customer id; -ENOMEM loses
 * nothing taken before. tick: publishes the catalog and one delta of what
 * was taken since the last; on error it keeps that for the next tick.
 */
int republish_take(struct republisher *r, struct store *s, const struct wire_delta *d);
int republish_tick(struct republisher *r, struct store *s, uint64_t now);
void republish_counts(struct republisher *r, struct republish_counts *c);

#endif /* PINGFOLD_REPUBLISH_H */
