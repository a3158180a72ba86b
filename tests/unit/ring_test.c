// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/ring.h"

static void push(struct ring *r, uint64_t seq)
{
	char *m = malloc(16);

	snprintf(m, 16, "msg%llu", (unsigned long long)seq);
	ring_push(r, seq, m, strlen(m) + 1);
}

static void free_out(struct ring_entry *e, int n)
{
	while (n > 0)
		free(e[--n].msg);
}

Test(ring, keeps_the_last_cap_and_answers_ranges)
{
	struct ring r;
	struct ring_entry out[16];
	uint64_t oldest;
	int n, i;

	cr_assert_eq(ring_init(&r, 4, 7), 0);
	for (i = 1; i <= 10; i++)
		push(&r, i);
	n = ring_get(&r, 7, 1, 10, 16, out, &oldest);
	cr_assert_eq(oldest, 7);
	cr_assert_eq(n, 4, "got %d", n);
	for (i = 0; i < n; i++) {
		char want[16];

		snprintf(want, sizeof(want), "msg%d", 7 + i);
		cr_assert_eq(out[i].seq, (uint64_t)(7 + i));
		cr_assert_str_eq(out[i].msg, want);
	}
	free_out(out, n);
	n = ring_get(&r, 7, 8, 9, 16, out, &oldest);
	cr_assert_eq(n, 2);
	cr_assert_eq(out[0].seq, 8);
	free_out(out, n);
	n = ring_get(&r, 7, 8, 10, 1, out, &oldest);
	cr_assert_eq(n, 1, "max is respected");
	free_out(out, n);
	ring_free(&r);
}

Test(ring, wrong_epoch_and_hostile_ranges)
{
	struct ring r;
	struct ring_entry out[4];
	uint64_t oldest;
	int n;

	cr_assert_eq(ring_init(&r, 8, 1), 0);
	push(&r, 1);
	push(&r, 2);
	cr_assert_eq(ring_get(&r, 2, 1, 2, 4, out, &oldest), -ESRCH);
	/* the whole u64 range must come back at once with what is held */
	n = ring_get(&r, 1, 0, UINT64_MAX, 4, out, &oldest);
	cr_assert_eq(n, 2);
	free_out(out, n);
	cr_assert_eq(ring_get(&r, 1, 5, 3, 4, out, &oldest), 0, "first > last");
	cr_assert_eq(ring_get(&r, 1, 100, 200, 4, out, &oldest), 0, "beyond the newest");
	cr_assert_eq(r.bytes, strlen("msg1") + 1 + strlen("msg2") + 1);
	ring_free(&r);
}

Test(ring, empty_ring)
{
	struct ring r;
	struct ring_entry out[2];
	uint64_t oldest = 99;

	cr_assert_eq(ring_init(&r, 2, 1), 0);
	cr_assert_eq(ring_get(&r, 1, 1, 5, 2, out, &oldest), 0);
	cr_assert_eq(oldest, 0);
	ring_free(&r);
	cr_assert_eq(ring_init(&r, 0, 1), -EINVAL);
}
