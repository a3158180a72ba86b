// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <criterion/criterion.h>
#include <string.h>
#include <errno.h>
#include <stdlib.h>
#include "common/cfgerr.h"
#include "common/prefix.h"

static struct prefix parse_ok(const char *s)
{
	struct prefix p;
	const char *why = NULL;

	cr_assert_eq(prefix_parse(s, &p, &why), 0, "'%s' rejected: %s", s, why);
	return p;
}

static void parse_bad(const char *s, const char *reason)
{
	struct prefix p;
	const char *why = NULL;

	cr_assert_neq(prefix_parse(s, &p, &why), 0, "'%s' accepted", s);
	cr_assert(why && strstr(why, reason), "'%s': reason '%s', expected '%s'", s,
		  why ? why : "(none)", reason);
}

Test(prefix, ipv4_is_v4_mapped_with_len_plus_96)
{
	struct prefix p = parse_ok("198.18.5.0/24");
	const uint8_t want[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 5, 0 };

	cr_assert_eq(p.len, 96 + 24);
	cr_assert_arr_eq(p.addr, want, 16);
	cr_assert(prefix_is_v4(&p));
}

Test(prefix, bare_addresses_are_host_prefixes)
{
	cr_assert_eq(parse_ok("198.18.0.7").len, 128);
	cr_assert_eq(parse_ok("2001:db8::7").len, 128);
	cr_assert_not(prefix_is_v4(&(struct prefix){ .len = 128 }));
}

Test(prefix, ipv6)
{
	struct prefix p = parse_ok("2001:db8:1::/48");
	char buf[PREFIX_STRLEN];

	cr_assert_eq(p.len, 48);
	cr_assert_eq(p.addr[0], 0x20);
	cr_assert_eq(p.addr[3], 0xb8);
	cr_assert_str_eq(prefix_format(&p, buf, sizeof(buf)), "2001:db8:1::/48");
	cr_assert_not(prefix_is_v4(&p));
}

Test(prefix, format_round_trip)
{
	static const char *const in[] = { "198.18.0.0/15", "198.19.255.255/32", "0.0.0.0/0",
					  "2001:db8::/32", "2001:db8:a:b::1/128", "::/0" };
	char buf[PREFIX_STRLEN];
	size_t i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct prefix p = parse_ok(in[i]);

		cr_assert_str_eq(prefix_format(&p, buf, sizeof(buf)), in[i]);
	}
}

Test(prefix, rejects_with_reason)
{
	parse_bad("198.18.1.1/24", "host bits");
	parse_bad("2001:db8::1/64", "host bits");
	parse_bad("198.18.0.0/33", "0..32");
	parse_bad("2001:db8::/129", "0..128");
	parse_bad("198.18.0.0/", "empty prefix length");
	parse_bad("198.18.0.0/2x", "0..32");
	parse_bad("198.18.0.0/-1", "0..32");
	parse_bad("198.18.0", "IPv4");
	parse_bad("198.18.0.256", "IPv4");
	parse_bad("2001:db8:::1", "IPv6");
	parse_bad("", "empty address");
	parse_bad("/24", "empty address");
}

Test(prefix, contains)
{
	struct prefix p = parse_ok("198.18.4.0/22"), h;

	h = parse_ok("198.18.7.255");
	cr_assert(prefix_contains(&p, h.addr));
	h = parse_ok("198.18.8.0");
	cr_assert_not(prefix_contains(&p, h.addr));
	p = parse_ok("2001:db8:2::/47");
	h = parse_ok("2001:db8:3:ffff::1");
	cr_assert(prefix_contains(&p, h.addr));
	h = parse_ok("2001:db8:4::1");
	cr_assert_not(prefix_contains(&p, h.addr));
}

Test(prefix, list_from_a_file_and_an_option)
{
	struct prefix *v = NULL;
	struct cfg_err e;
	char buf[600];
	size_t n = 0;

	cr_assert_eq(prefix_list_parse("# management servers\n198.18.7.0/24  # far away\n\n"
				       "2001:db8:9::/48,198.19.4.4\n", "ign.txt", &v, &n, &e), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(prefix_format(&v[0], buf, sizeof(buf)), "198.18.7.0/24");
	cr_assert_str_eq(prefix_format(&v[1], buf, sizeof(buf)), "2001:db8:9::/48");
	cr_assert_str_eq(prefix_format(&v[2], buf, sizeof(buf)), "198.19.4.4/32");
	cr_assert_eq(prefix_list_parse("198.18.9.0/24 2001:db8::1", "--ignore", &v, &n, &e), 0);
	cr_assert_eq(n, 5);
	/* a bad word: where, and what was there before stays */
	cr_assert_eq(prefix_list_parse("198.18.1.0/24\n\n198.18.1.1/24\n", "ign.txt", &v, &n, &e),
		     -EINVAL);
	cr_assert_eq(n, 6);
	cr_assert_eq(e.line, 3);
	cfg_err_str(&e, buf, sizeof(buf));
	cr_assert(strstr(buf, "ign.txt:3: '198.18.1.1/24'"), "%s", buf);
	cr_assert_eq(prefix_list_parse("nope", "--ignore", &v, &n, &e), -EINVAL);
	cfg_err_str(&e, buf, sizeof(buf));
	cr_assert(!strncmp(buf, "--ignore: 'nope'", 16), "%s", buf);
	free(v);
}
