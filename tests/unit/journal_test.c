// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * datapath/journal.c: what the agent finds after a crash at each step of a
 * poll (write journal.tmp, rename it, commit the read, publish).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "datapath/journal.h"

#define EPOCH 1234567ULL

static char dir[64], path[96], tmp[104];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pf_journal_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/journal", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
}

static void teardown(void)
{
	unlink(path);
	unlink(tmp);
	rmdir(dir);
}

TestSuite(journal, .init = setup, .fini = teardown);

static const struct pf_dp_upd upd[] = {
	{ .cust = 3, .half = 1, .slot = 17, .value = 99 },
	{ .cust = 4, .half = 0, .slot = PF_DP_UPD_SUM, .value = 1ULL << 40 },
};

static void write_seq(uint64_t seq, const char *msg)
{
	cr_assert_eq(journal_write(path, EPOCH, seq, msg, strlen(msg), upd, 2), 0);
}

/* The seq recovered with committed as the reader state says (0: none). */
static uint64_t recovered(uint64_t committed, const char **why)
{
	struct journal_entry e;
	uint64_t seq;
	int rc = journal_read(path, EPOCH, committed, &e, why);

	cr_assert_geq(rc, 0);
	if (!rc)
		return 0;
	seq = e.seq;
	journal_entry_free(&e);
	return seq;
}

Test(journal, round_trip)
{
	struct journal_entry e;
	const char *why;

	write_seq(5, "delta five");
	cr_assert_eq(journal_read(path, EPOCH, 4, &e, &why), 1);
	cr_assert_eq(e.seq, 5);
	cr_assert_eq(e.len, 10);
	cr_assert_eq(memcmp(e.msg, "delta five", 10), 0);
	cr_assert_eq(e.nupd, 2);
	cr_assert_eq(memcmp(e.upd, upd, sizeof(upd)), 0);
	journal_entry_free(&e);
}

Test(journal, a_crash_at_each_step_of_a_poll)
{
	const char *why;
	int fd;

	/* before any poll: nothing */
	cr_assert_eq(recovered(0, &why), 0);
	cr_assert_null(why);
	/* poll 1 done: journal 1, committed 1 -> publish 1 again, apply nothing */
	write_seq(1, "one");
	cr_assert_eq(recovered(1, &why), 1);
	/* poll 2 dies while writing journal.tmp: the old journal is whole */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_eq(write(fd, "PFJRNL01\x01", 9), 9);
	close(fd);
	cr_assert_eq(recovered(1, &why), 1, "journal 1 (committed), the torn tmp ignored");
	/* poll 2 dies after the rename, before the commit: 2 = committed + 1 */
	write_seq(2, "two");
	cr_assert_eq(recovered(1, &why), 2, "journal 2 is applied and published");
	/* poll 2 dies after the commit (before or after publishing) */
	cr_assert_eq(recovered(2, &why), 2, "journal 2 is published again only");
	/* a journal older than the committed seq is not published again */
	cr_assert_eq(recovered(3, &why), 0);
	cr_assert_null(why);
}

Test(journal, another_epoch_is_not_recovered)
{
	struct journal_entry e;
	const char *why;

	write_seq(7, "seven");
	cr_assert_eq(journal_read(path, EPOCH + 1, 6, &e, &why), 0);
	cr_assert_null(why);
}

Test(journal, damaged_ones_say_why)
{
	const char *why;

	write_seq(7, "seven");
	cr_assert_eq(truncate(path, 40 + 3), 0);	/* header + 3 of 5 message bytes */
	cr_assert_eq(recovered(6, &why), 0);
	cr_assert_str_eq(why, "short");
	cr_assert_eq(truncate(path, 20), 0);
	cr_assert_eq(recovered(6, &why), 0);
	cr_assert_str_eq(why, "short header");
	write_seq(7, "seven");
	{
		int fd = open(path, O_WRONLY);

		cr_assert_eq(write(fd, "XXXXXXXX", 8), 8);
		close(fd);
	}
	cr_assert_eq(recovered(6, &why), 0);
	cr_assert_str_eq(why, "not a journal");
}
