/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Customer keys: which index of the datapath's histograms (the key of the
 * wire format) counts for which customer. Keys are stable: a customer
 * keeps its key across reloads, and after a restart gets the key the
 * pinned trie already gives its prefixes. A key whose customer left is
 * quarantined for KEYS_QUARANTINE intervals, still named in the catalog, so
 * samples racing the change are not given to a newcomer.
 *
 * Pure: planning reads the trie's content as a list and changes nothing;
 * the caller writes the datapath, then applies the plan.
 */
#ifndef PINGFOLD_KEYS_H
#define PINGFOLD_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/custlist.h"
#include "common/wire.h"

#define KEYS_QUARANTINE	2	/* intervals before a freed key is reused */
#define KEYS_NONE	0xffffffffU

struct key_slot {
	struct wire_cust c;	/* the customer it counts for (c.key = its index) */
	bool used;		/* a customer of the current list has it */
	bool named;		/* c holds a name (current or recently removed) */
	uint64_t freed_seq;	/* seq when its customer went away */
};

struct keys {
	struct key_slot *v;	/* [n], indexed by key */
	uint32_t n;
	struct custlist cust;	/* the current list */
	uint32_t *cust_key;	/* key of cust.v[i] */
};

/* What the datapath's trie holds now: one prefix and the key it gives. */
struct key_pin {
	struct prefix p;
	uint32_t key;
};

struct key_plan {
	uint32_t *cust_key;	/* [l->n]: the key of each customer of the new list */
	struct prefix *stale;	/* prefixes in the trie that the new list does not have */
	size_t nstale;
	size_t nrecovered;	/* customers that took their key from the trie */
};

int keys_init(struct keys *k, uint32_t n);
void keys_free(struct keys *k);

/*
 * Plans the keys of list l at seq: the key it had in the current list (same
 * id), else the one the trie gives its prefixes, else a free one (not used,
 * not quarantined). A key wanted twice goes to the first customer. Returns
 * 0, -ENOMEM, or -ENOSPC with *full the customer that found no key. Nothing
 * in k changes.
 */
int keys_plan(const struct keys *k, const struct custlist *l, const struct key_pin *trie,
	      size_t ntrie, uint64_t seq, struct key_plan *plan, const struct cust **full);
/* Makes the plan current: takes l's contents and plan->cust_key. */
void keys_apply(struct keys *k, struct custlist *l, struct key_plan *plan, uint64_t seq);
void key_plan_free(struct key_plan *plan);

#endif /* PINGFOLD_KEYS_H */
