// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* agent/keys.c: stable customer keys, quarantine, recovery from the trie. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include "agent/keys.h"

static struct custlist list(const char *text)
{
	struct custlist l;
	struct cfg_err e;

	cr_assert_eq(custlist_parse("t", text, strlen(text), &l, &e), 0, "%s", e.msg);
	return l;
}

/* Plans and applies l at seq with the trie given; returns the key of each id. */
static void load(struct keys *k, const char *text, const struct key_pin *trie, size_t ntrie,
		 uint64_t seq)
{
	struct custlist l = list(text);
	const struct cust *full;
	struct key_plan plan;

	cr_assert_eq(keys_plan(k, &l, trie, ntrie, seq, &plan, &full), 0);
	keys_apply(k, &l, &plan, seq);
	key_plan_free(&plan);
}

static uint32_t key_of(const struct keys *k, const char *id)
{
	const struct cust *c = custlist_find(&k->cust, id);

	cr_assert_not_null(c, "%s not in the list", id);
	return k->cust_key[c - k->cust.v];
}

static struct prefix pfx(const char *s)
{
	struct prefix p;
	const char *why;

	cr_assert_eq(prefix_parse(s, &p, &why), 0);
	return p;
}

Test(keys, stable_across_reloads_in_any_order)
{
	struct keys k;
	uint32_t a, b, c;

	cr_assert_eq(keys_init(&k, 8), 0);
	load(&k, "a 198.18.0.1\nb 198.18.0.2\nc 198.18.0.3\n", NULL, 0, 0);
	a = key_of(&k, "a");
	b = key_of(&k, "b");
	c = key_of(&k, "c");
	cr_assert(a != b && b != c && a != c);
	load(&k, "c 198.18.0.3\nd 198.18.0.4\na 198.18.0.9\n", NULL, 0, 1);
	cr_assert_eq(key_of(&k, "a"), a, "a keeps its key though its prefix changed");
	cr_assert_eq(key_of(&k, "c"), c);
	cr_assert_neq(key_of(&k, "d"), b, "b's key is quarantined");
	cr_assert(k.v[b].named && !k.v[b].used, "b stays named while quarantined");
	cr_assert_str_eq(k.v[b].c.id, "b");
	cr_assert_str_eq(k.v[a].c.id, "a");
	keys_free(&k);
}

Test(keys, quarantine_lasts_its_intervals_then_the_key_is_reused)
{
	struct keys k;
	uint32_t b;
	uint64_t seq = 10;

	cr_assert_eq(keys_init(&k, 2), 0);
	load(&k, "a 198.18.0.1\nb 198.18.0.2\n", NULL, 0, seq);
	b = key_of(&k, "b");
	load(&k, "a 198.18.0.1\n", NULL, 0, seq);	/* b leaves at seq 10 */
	/* only b's key could take e, and it is quarantined until 10 + 2 */
	for (uint64_t s = seq; s < seq + KEYS_QUARANTINE; s++) {
		struct custlist l = list("a 198.18.0.1\ne 198.18.0.5\n");
		const struct cust *full = NULL;
		struct key_plan plan;

		cr_assert_eq(keys_plan(&k, &l, NULL, 0, s, &plan, &full), -ENOSPC, "seq %llu",
			     (unsigned long long)s);
		cr_assert_str_eq(full->id, "e");
		custlist_free(&l);
	}
	load(&k, "a 198.18.0.1\ne 198.18.0.5\n", NULL, 0, seq + KEYS_QUARANTINE);
	cr_assert_eq(key_of(&k, "e"), b);
	cr_assert_str_eq(k.v[b].c.id, "e");
	keys_free(&k);
}

Test(keys, a_failed_plan_changes_nothing)
{
	struct custlist l = list("a 198.18.0.1\nb 198.18.0.2\nc 198.18.0.3\n");
	const struct cust *full;
	struct key_plan plan;
	struct keys k;

	cr_assert_eq(keys_init(&k, 2), 0);
	load(&k, "x 198.18.0.7\n", NULL, 0, 0);
	cr_assert_eq(keys_plan(&k, &l, NULL, 0, 5, &plan, &full), -ENOSPC);
	cr_assert_null(plan.cust_key);
	cr_assert_eq(k.cust.n, 1);
	cr_assert(k.v[key_of(&k, "x")].used, "the old list keeps its key");
	custlist_free(&l);
	keys_free(&k);
}

Test(keys, after_a_restart_the_trie_gives_the_keys_back)
{
	struct key_pin trie[] = {
		{ pfx("198.18.0.2/32"), 5 },	/* b's, from the agent before */
		{ pfx("198.18.0.1/32"), 3 },	/* a's */
		{ pfx("198.18.1.0/24"), 3 },	/* a's second prefix */
		{ pfx("198.18.9.9/32"), 6 },	/* a customer no longer listed */
	};
	struct custlist l = list("a 198.18.0.1 198.18.1.0/24\nb 198.18.0.2\nc 198.18.0.3\n");
	const struct cust *full;
	struct key_plan plan;
	struct keys k;

	cr_assert_eq(keys_init(&k, 8), 0);
	cr_assert_eq(keys_plan(&k, &l, trie, 4, 0, &plan, &full), 0);
	cr_assert_eq(plan.nrecovered, 2);
	cr_assert_eq(plan.nstale, 1);
	cr_assert_eq(memcmp(&plan.stale[0], &trie[3].p, sizeof(struct prefix)), 0);
	keys_apply(&k, &l, &plan, 0);
	key_plan_free(&plan);
	cr_assert_eq(key_of(&k, "a"), 3);
	cr_assert_eq(key_of(&k, "b"), 5);
	cr_assert(key_of(&k, "c") != 3 && key_of(&k, "c") != 5);
	keys_free(&k);
}

Test(keys, a_key_claimed_twice_goes_to_the_first)
{
	/* two customers whose prefixes the trie maps to one key (a list that
	 * moved a prefix between customers while no agent ran) */
	struct key_pin trie[] = {
		{ pfx("198.18.0.1/32"), 4 },
		{ pfx("198.18.0.2/32"), 4 },
		{ pfx("198.18.0.3/32"), 99 },	/* beyond the table */
	};
	struct custlist l = list("a 198.18.0.1\nb 198.18.0.2\nc 198.18.0.3\n");
	const struct cust *full;
	struct key_plan plan;
	struct keys k;

	cr_assert_eq(keys_init(&k, 8), 0);
	cr_assert_eq(keys_plan(&k, &l, trie, 3, 0, &plan, &full), 0);
	keys_apply(&k, &l, &plan, 0);
	key_plan_free(&plan);
	cr_assert_eq(key_of(&k, "a"), 4);
	cr_assert_neq(key_of(&k, "b"), 4);
	cr_assert_lt(key_of(&k, "c"), 8);
	cr_assert_neq(key_of(&k, "b"), key_of(&k, "c"));
	keys_free(&k);
}
