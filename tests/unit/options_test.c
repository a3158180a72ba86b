// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* common/options.c: one table for the command line, config files and --help. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/options.h"

struct cfg {
	uint64_t interval_ns;
	uint32_t workers;
	const char *dir;
	const char *urls[2];
	int nurls;
	bool on, shown;
	int verbose;
	char fn_seen[32];
};

static int set_fn(void *c, const char *key, const char *v, struct cfg_err *e)
{
	if (!strcmp(v, "bad")) {
		snprintf(e->msg, sizeof(e->msg), "%s: bad", key);
		return -EINVAL;
	}
	snprintf(((struct cfg *)c)->fn_seen, sizeof(((struct cfg *)c)->fn_seen), "%s=%s", key, v);
	return 0;
}

#define F(f) offsetof(struct cfg, f)
static const struct opt table[] = {
	{ "config", 'c', OPT_FN, .arg = "FILE", .flags = OPT_F_CLI_ONLY, .help = "a file" },
	{ "interval", 'n', OPT_U64, F(interval_ns), 0, 10, 1000, 1000000, .arg = "MS",
	  .help = "every MS\n(second line)" },
	{ "workers", 0, OPT_U32, F(workers), 0, 1, 8, .arg = "N", .help = "workers" },
	{ "dir", 0, OPT_STR, F(dir), .arg = "DIR", .help = "a folder" },
	{ "url", 'u', OPT_URLS, F(urls), F(nurls), 0, 2, .arg = "URL", .help = "up to two" },
	{ "no-thing", 0, OPT_BOOL, F(on), .flags = OPT_F_CLEARS, .file_name = "thing",
	  .help = "turns it off" },
	{ "shown", 0, OPT_BOOL, F(shown), .help = "turns it on" },
	{ "custom", 0, OPT_FN, .set = set_fn, .arg = "X", .help = "by a function" },
	{ .type = OPT_HEADING, .help = "Heading:" },
	{ "verbose", 'v', OPT_CLI, .help = "more" },
	{ 0 }
};

static int on_flag(void *c, const struct opt *o)
{
	if (!strcmp(o->name, "verbose"))
		((struct cfg *)c)->verbose++;
	return 0;
}

static int parse(struct cfg *c, int argc, const char **argv)
{
	memset(c, 0, sizeof(*c));
	c->on = true;
	return opts_parse(table, c, argc, (char **)argv, "t", on_flag);
}

Test(options, command_line)
{
	const char *argv[] = { "t", "-n", "20", "--workers", "3", "--dir", "/x", "-u", "tcp://a:1",
			       "--url=ipc:///b", "--no-thing", "--shown", "--custom", "y", "-vv" };
	struct cfg c;

	cr_assert_eq(parse(&c, 15, argv), 0);
	cr_assert_eq(c.interval_ns, 20000000);
	cr_assert_eq(c.workers, 3);
	cr_assert_str_eq(c.dir, "/x");
	cr_assert_eq(c.nurls, 2);
	cr_assert_str_eq(c.urls[1], "ipc:///b");
	cr_assert(!c.on && c.shown);
	cr_assert_str_eq(c.fn_seen, "custom=y");
	cr_assert_eq(c.verbose, 2);
}

Test(options, errors_say_what)
{
	const char *range[] = { "t", "-n", "5" }, *url[] = { "t", "-u", "nope" },
		   *many[] = { "t", "-u", "a://1", "-u", "a://2", "-u", "a://3" },
		   *extra[] = { "t", "stray" }, *fn[] = { "t", "--custom", "bad" };
	struct cfg_err e;
	struct cfg c;

	cr_assert_eq(parse(&c, 3, range), 2);
	cr_assert_eq(parse(&c, 3, url), 2);
	cr_assert_eq(parse(&c, 7, many), 2);
	cr_assert_eq(parse(&c, 2, extra), 2);
	cr_assert_eq(parse(&c, 3, fn), 2);
	cr_assert_eq(opts_set(table, &c, "interval", "5", &e), -EINVAL);
	cr_assert_str_eq(e.msg, "interval: '5' is not a number in 10..1000");
	cr_assert_eq(opts_set(table, &c, "url", "nope", &e), -EINVAL);
	cr_assert_str_eq(e.msg, "url: 'nope' is not a URL (tcp://HOST:PORT, tls+tcp://..., "
				"ipc:///path)");
	cr_assert_eq(opts_set(table, &c, "no-thing", "yes", &e), -EINVAL, "the file says 'thing'");
	cr_assert_str_eq(e.msg, "unknown setting 'no-thing'");
	cr_assert_eq(opts_set(table, &c, "config", "x", &e), -EINVAL, "not a file key");
	cr_assert_eq(opts_set(table, &c, "verbose", "1", &e), -EINVAL, "not a file key");
	cr_assert_eq(opts_set(table, &c, "shown", "maybe", &e), -EINVAL);
	cr_assert_str_eq(e.msg, "shown: yes or no");
}

Test(options, a_file_first_then_the_command_line)
{
	char path[] = "/tmp/pf_opts_test.XXXXXX";
	int fd = mkstemp(path);
	const char *text = "# comment\ninterval = 30\nthing = no\nshown = yes\nworkers = 2\n";
	const char *argv[] = { "t", "--workers", "5", "-c", path };
	struct cfg c;

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cr_assert_eq(parse(&c, 5, argv), 0);
	unlink(path);
	cr_assert_eq(c.interval_ns, 30000000);
	cr_assert_eq(c.workers, 5, "the command line wins, wherever -c stands");
	cr_assert(!c.on && c.shown);
}

Test(options, usage_lists_every_option_in_80_columns)
{
	char *buf = NULL, *line, *save;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const struct opt *o;

	opts_usage(f, table);
	fclose(f);
	for (o = table; o->type != OPT_END; o++) {
		char want[64];

		if (o->type == OPT_HEADING)
			continue;
		snprintf(want, sizeof(want), "--%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		cr_assert(strstr(buf, want), "%s missing", want);
	}
	cr_assert(strstr(buf, "  -n, --interval MS         every MS\n"
			      "                            (second line)\n"));
	cr_assert(strstr(buf, "\nHeading:\n"));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cr_assert_leq(strlen(line), 80, "%s", line);
		cr_assert_neq(line[strlen(line) - 1], ' ', "trailing space: '%s'", line);
	}
	free(buf);
}
