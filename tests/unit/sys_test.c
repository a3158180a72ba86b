// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* common/sys.c: the one whole-file reader and clock. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/sys.h"

static char path[64];

static void write_tmp(const char *data, size_t n)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/pf_sys_test.XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static void rm_tmp(void)
{
	unlink(path);
}

TestSuite(read_file, .fini = rm_tmp);

Test(read_file, whole_file_nul_terminated_up_to_max)
{
	char big[200000], *buf;
	size_t len;

	memset(big, 'x', sizeof(big));
	big[7] = '\0';		/* embedded NULs are kept: len, not strlen */
	write_tmp(big, sizeof(big));
	cr_assert_eq(sys_read_file(path, sizeof(big), &buf, &len), 0);
	cr_assert_eq(len, sizeof(big));
	cr_assert_eq(memcmp(buf, big, len), 0);
	cr_assert_eq(buf[len], '\0');
	free(buf);
	cr_assert_eq(sys_read_file(path, sizeof(big) - 1, &buf, &len), -EFBIG);
}

Test(read_file, empty_and_missing)
{
	char *buf;
	size_t len = 99;

	write_tmp("", 0);
	cr_assert_eq(sys_read_file(path, 10, &buf, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert_eq(buf[0], '\0');
	free(buf);
	cr_assert_eq(sys_read_file("/nonexistent/pingfold", 10, &buf, &len), -ENOENT);
	cr_assert_eq(sys_read_file("/tmp", 10, &buf, &len), -EISDIR);
}

Test(clock, realtime_is_now_and_monotonic_does_not_go_back)
{
	uint64_t a = sys_now_ns(CLOCK_MONOTONIC), b = sys_now_ns(CLOCK_MONOTONIC);

	cr_assert_geq(b, a);
	cr_assert_gt(sys_now_ns(CLOCK_REALTIME), 1700000000ULL * 1000000000ULL);
}

Test(write_file, whole_then_renamed_and_no_tmp_left)
{
	char dir[] = "/tmp/pf_sys_w.XXXXXX", p[64], tmp[72], *buf;
	size_t len;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/f", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	cr_assert_eq(sys_write_file(p, "first", 5), 0);
	cr_assert_eq(sys_write_file(p, "second!", 7), 0);
	cr_assert_eq(sys_read_file(p, 100, &buf, &len), 0);
	cr_assert_eq(len, 7);
	cr_assert_eq(memcmp(buf, "second!", 7), 0);
	free(buf);
	cr_assert_neq(access(tmp, F_OK), 0, "no .tmp left");
	cr_assert_eq(sys_write_file("/nonexistent/pingfold/f", "x", 1), -ENOENT);
	unlink(p);
	rmdir(dir);
}
