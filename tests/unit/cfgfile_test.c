// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "common/cfgfile.h"

struct seen {
	char keys[8][32], vals[8][64];
	int n;
};

static int collect(void *ctx, const char *key, const char *value, struct cfg_err *err)
{
	struct seen *s = ctx;

	if (!strcmp(key, "bad")) {
		snprintf(err->msg, sizeof(err->msg), "bad: '%s' is not allowed", value);
		return -EINVAL;
	}
	snprintf(s->keys[s->n], 32, "%s", key);
	snprintf(s->vals[s->n], 64, "%s", value);
	s->n++;
	return 0;
}

static int parse(const char *text, struct seen *s, struct cfg_err *e)
{
	memset(s, 0, sizeof(*s));
	memset(e, 0, sizeof(*e));
	return cfgfile_parse("t.conf", text, strlen(text), collect, s, e);
}

Test(cfgfile, keys_values_comments_blank_lines)
{
	struct seen s;
	struct cfg_err e;

	cr_assert_eq(parse("# c\n\n iface = eth1 eth2 \nlisten=tcp://0.0.0.0:7700\r\n"
			   "empty =\n", &s, &e), 0, "%s", e.msg);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(s.keys[0], "iface");
	cr_assert_str_eq(s.vals[0], "eth1 eth2");
	cr_assert_str_eq(s.vals[1], "tcp://0.0.0.0:7700");
	cr_assert_str_eq(s.vals[2], "");
}

Test(cfgfile, errors_carry_file_and_line)
{
	struct seen s;
	struct cfg_err e;
	char buf[600];

	cr_assert_neq(parse("a = 1\nno equals sign\n", &s, &e), 0);
	cr_assert_str_eq(cfg_err_str(&e, buf, sizeof(buf)), "t.conf:2: expected 'key = value'");
	cr_assert_neq(parse("a = 1\n\n = 3\n", &s, &e), 0);
	cr_assert_str_eq(cfg_err_str(&e, buf, sizeof(buf)), "t.conf:3: missing key before '='");
	cr_assert_neq(parse("a = 1\nbad = x\nc = 2\n", &s, &e), 0);
	cr_assert_str_eq(cfg_err_str(&e, buf, sizeof(buf)), "t.conf:2: bad: 'x' is not allowed");
	cr_assert_eq(s.n, 1, "stops at the first error");
}

Test(cfgfile, missing_file)
{
	struct seen s = { 0 };
	struct cfg_err e;
	char buf[600];

	cr_assert_eq(cfgfile_load("/nonexistent/x.conf", collect, &s, &e), -ENOENT);
	cr_assert(strstr(cfg_err_str(&e, buf, sizeof(buf)), "/nonexistent/x.conf"));
}

Test(cfgfile, numbers_in_range)
{
	static const char *const bad[] = { "", "-1", "+5", "5x", " 5", "0", "1001",
					   "99999999999999999999999" };
	struct cfg_err e;
	uint64_t v = 0;
	size_t i;

	cr_assert_eq(cfg_u64("n", "1000", 1, 1000, &v, &e), 0);
	cr_assert_eq(v, 1000);
	cr_assert_eq(cfg_u64("n", "1", 1, 1000, &v, &e), 0);
	cr_assert_eq(v, 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		cr_assert_eq(cfg_u64("n", bad[i], 1, 1000, &v, &e), -EINVAL, "'%s' taken", bad[i]);
		cr_assert_eq(v, 7, "'%s' wrote a value", bad[i]);
	}
	cr_assert_str_eq(e.msg, "n: '99999999999999999999999' is not a number in 1..1000");
}
