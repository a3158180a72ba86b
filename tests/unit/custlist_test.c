// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/custlist.h"

/* The 13 columns of LibreQoS's ShapedDevices.csv. */
#define HDR "Circuit ID,Circuit Name,Device ID,Device Name,Parent Node,MAC,IPv4,IPv6," \
	    "Download Min Mbps,Upload Min Mbps,Download Max Mbps,Upload Max Mbps,Comment\n"

/* tests/data/NAME, found from this file's path so the cwd is the repo root. */
static const char *data(const char *name)
{
	static char buf[4][512];
	static int k;
	const char *slash = strrchr(__FILE__, '/');
	int dirlen = slash ? (int)(slash - __FILE__) : 1;
	char *b = buf[k++ % 4];

	snprintf(b, sizeof(buf[0]), "%.*s/../data/%s", dirlen, slash ? __FILE__ : ".", name);
	return b;
}

static void load_ok(const char *path, struct custlist *l)
{
	struct cfg_err e;
	char msg[600];
	int rc = custlist_load(path, l, &e);

	cr_assert_eq(rc, 0, "%s: rc %d: %s", path, rc, cfg_err_str(&e, msg, sizeof(msg)));
}

static void parse_ok(const char *name, const char *text, struct custlist *l)
{
	struct cfg_err e;
	char msg[600];
	int rc = custlist_parse(name, text, strlen(text), l, &e);

	cr_assert_eq(rc, 0, "rc %d: %s", rc, cfg_err_str(&e, msg, sizeof(msg)));
}

/* The text is refused with exactly want, and the list is left empty. */
static void parse_err(const char *name, const char *text, size_t len, const char *want)
{
	struct custlist l;
	struct cfg_err e;
	char msg[600];
	int rc = custlist_parse(name, text, len, &l, &e);

	cr_assert_eq(rc, -EINVAL, "accepted (rc %d), expected: %s", rc, want);
	cr_assert_str_eq(cfg_err_str(&e, msg, sizeof(msg)), want);
	cr_assert_eq(l.n, 0);
	cr_assert_null(l.v);
	cr_assert_null(l.sites);
}

static void csv_err(const char *text, const char *want)
{
	parse_err("mem.csv", text, strlen(text), want);
}

static const struct cust *must_find(const struct custlist *l, const char *id)
{
	const struct cust *c = custlist_find(l, id);

	cr_assert_not_null(c, "customer '%s' not found", id);
	cr_assert_str_eq(c->id, id);
	return c;
}

/* The customer's prefixes, formatted and joined by ' '. */
static const char *pfx_str(const struct cust *c)
{
	static char buf[2048];
	char one[PREFIX_STRLEN];
	size_t n = 0;
	uint32_t i;

	buf[0] = '\0';
	for (i = 0; i < c->nprefixes; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "",
				      prefix_format(&c->prefixes[i], one, sizeof(one)));
	return buf;
}

static void assert_sorted(const struct custlist *l)
{
	size_t i;

	for (i = 1; i < l->n; i++)
		cr_assert_lt(strcmp(l->v[i - 1].id, l->v[i].id), 0, "'%s' before '%s'",
			     l->v[i - 1].id, l->v[i].id);
}

Test(custlist, libreqos_header_layout)
{
	struct custlist l;
	const struct cust *c;

	load_ok(data("ShapedDevices.csv"), &l);
	/* 3001 has no address: skipped */
	cr_assert_eq(l.n, 6);
	cr_assert_eq(l.nprefixes, 12);
	cr_assert_eq(l.nv4, 8);
	cr_assert_eq(l.nv6, 4);
	cr_assert_eq(l.nsites, 0, "sites come from network.json");
	cr_assert_null(custlist_find(&l, "3001"));
	assert_sorted(&l);

	c = must_find(&l, "1002");
	cr_assert_str_eq(c->name, "31 Marconi St");
	cr_assert_str_eq(c->parent, "AP_A1");
	cr_assert_str_eq(c->site, "");
	cr_assert_eq(c->line, 5);
	cr_assert_str_eq(pfx_str(c), "198.18.0.20/32 198.18.0.21/32");

	c = must_find(&l, "2001");
	cr_assert_str_eq(c->name, "Acme \"Widgets\" Ltd");
	cr_assert_str_eq(pfx_str(c), "198.18.2.0/24 2001:db8:20::/48");
	cr_assert_eq(c->line, 9);

	c = must_find(&l, "2003");	/* no Comment column at all */
	cr_assert_str_eq(c->parent, "Core PoP");
	cr_assert_str_eq(pfx_str(c), "198.18.4.0/28");
	cr_assert_str_eq(l.file, data("ShapedDevices.csv"));
	custlist_free(&l);
	cr_assert_eq(l.n, 0);
	cr_assert_null(l.v);
}

Test(custlist, circuit_over_several_device_rows)
{
	struct custlist l;
	const struct cust *c;

	load_ok(data("ShapedDevices.csv"), &l);
	c = must_find(&l, "1001");
	cr_assert_eq(c->line, 3, "first row of the circuit");
	cr_assert_str_eq(c->name, "968 Circle St., Gurnee");
	cr_assert_str_eq(pfx_str(c), "198.18.0.10/32 2001:db8:10::/56 198.18.0.11/32");
	custlist_free(&l);

	/* rows need not be adjacent; the first non-empty Circuit Name wins */
	parse_ok("mem.csv",
		 HDR
		 "c9,,d1,,AP,,198.18.9.1,,,,,,\n"
		 "c8,Eight,d1,,AP,,198.18.8.1,,,,,,\n"
		 "c9,Nine,d2,,AP,,198.18.9.2,,,,,,\n"
		 "c9,Other name,d3,,AP,,,2001:db8:9::/64,,,,,\n",
		 &l);
	cr_assert_eq(l.n, 2);
	c = must_find(&l, "c9");
	cr_assert_str_eq(c->name, "Nine");
	cr_assert_eq(c->line, 2);
	cr_assert_str_eq(pfx_str(c), "198.18.9.1/32 198.18.9.2/32 2001:db8:9::/64");
	cr_assert_eq(l.nprefixes, 4);
	custlist_free(&l);
}

Test(custlist, header_names_in_other_spellings_and_order)
{
	struct custlist l;
	const struct cust *c;

	parse_ok("mem.csv",
		 " circuit_id , IPV6,ipv4 ,Parent-Node,CircuitName,Something Else\n"
		 "z1,2001:db8:1::/48,198.18.5.0/24,Tower 1,Zed One,ignored\n"
		 "a2,,198.18.6.1,Tower 2,A Two\n",
		 &l);
	cr_assert_eq(l.n, 2);
	cr_assert_str_eq(l.v[0].id, "a2", "sorted by id");
	c = must_find(&l, "z1");
	cr_assert_str_eq(c->name, "Zed One");
	cr_assert_str_eq(c->parent, "Tower 1");
	cr_assert_str_eq(pfx_str(c), "198.18.5.0/24 2001:db8:1::/48");
	c = must_find(&l, "a2");
	cr_assert_str_eq(c->parent, "Tower 2");
	cr_assert_str_eq(pfx_str(c), "198.18.6.1/32");
	custlist_free(&l);

	/* only Circuit ID and one address column are needed */
	parse_ok("mem.csv", "CIRCUIT ID,ipv6\nx,2001:db8:7::1\n", &l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(pfx_str(must_find(&l, "x")), "2001:db8:7::1/128");
	cr_assert_eq(l.nv6, 1);
	custlist_free(&l);
}

Test(custlist, legacy_layout_without_header)
{
	struct custlist l;
	const struct cust *c;

	load_ok(data("ShapedDevices-legacy.csv"), &l);
	cr_assert_eq(l.n, 3);
	cr_assert_eq(l.nprefixes, 5);
	c = must_find(&l, "5001");
	cr_assert_eq(c->line, 2, "the first row is data, not a header");
	cr_assert_str_eq(c->name, "Hilltop");
	cr_assert_str_eq(c->parent, "AP_A2");
	cr_assert_str_eq(pfx_str(c), "198.18.10.1/32 2001:db8:50::/56");
	cr_assert_str_eq(pfx_str(must_find(&l, "5002")), "198.18.10.2/32 198.18.10.3/32");
	/* a row that stops after IPv4 */
	cr_assert_str_eq(pfx_str(must_find(&l, "5003")), "198.18.10.4/32");
	custlist_free(&l);
}

Test(custlist, quoted_multi_address_cells)
{
	struct custlist l;
	const struct cust *c;

	parse_ok("mem.csv",
		 HDR
		 "q1,\"Name, with comma\",d,dev,AP,,\"198.18.7.1, 198.18.7.2,198.18.7.8/29\","
		 "\" 2001:db8:7::/48 ,2001:db8:8::1 \",1,1,2,2,\"say \"\"hi\"\"\"\n"
		 "q2,  Spaced Name  ,d,dev,AP,,  \"198.18.7.64/26\"  ,,1,1,2,2,\n"
		 "q3,n,d,dev,AP,,\"198.18.7.128 198.18.7.129\",,1,1,2,2,\n",
		 &l);
	c = must_find(&l, "q1");
	cr_assert_str_eq(c->name, "Name, with comma");
	cr_assert_str_eq(pfx_str(c),
			 "198.18.7.1/32 198.18.7.2/32 198.18.7.8/29 2001:db8:7::/48 2001:db8:8::1/128");
	c = must_find(&l, "q2");
	cr_assert_str_eq(c->name, "Spaced Name", "cells are trimmed");
	cr_assert_str_eq(pfx_str(c), "198.18.7.64/26");
	cr_assert_str_eq(pfx_str(must_find(&l, "q3")), "198.18.7.128/32 198.18.7.129/32");
	cr_assert_eq(l.nv4, 6);
	cr_assert_eq(l.nv6, 2);
	custlist_free(&l);
}

Test(custlist, ipv6_prefixes)
{
	struct custlist l;
	const struct cust *c;

	parse_ok("mem.csv",
		 "Circuit ID,IPv4,IPv6\n"
		 "v6only,,2001:db8:abcd::/48\n"
		 "host,,2001:DB8::0:1\n"
		 "both,198.18.30.0/24,\"2001:db8:30::/56,2001:db8:31::/56\"\n",
		 &l);
	cr_assert_eq(l.n, 3);
	cr_assert_eq(l.nv4, 1);
	cr_assert_eq(l.nv6, 4);
	cr_assert_eq(l.nprefixes, 5);
	c = must_find(&l, "v6only");
	cr_assert_eq(c->nprefixes, 1);
	cr_assert_eq(c->prefixes[0].len, 48);
	cr_assert_not(prefix_is_v4(&c->prefixes[0]));
	cr_assert_str_eq(pfx_str(must_find(&l, "host")), "2001:db8::1/128");
	cr_assert_str_eq(pfx_str(must_find(&l, "both")),
			 "198.18.30.0/24 2001:db8:30::/56 2001:db8:31::/56");
	custlist_free(&l);
}

Test(custlist, blank_comment_lines_and_crlf)
{
	struct custlist l;

	parse_ok("mem.csv",
		 "\r\n# generated\r\n   \r\n\t# indented comment\r\n"
		 "Circuit ID,Parent Node,IPv4,IPv6\r\n"
		 "\r\n"
		 ",,,\r\n"
		 "c1,AP,198.18.40.1,2001:db8:40::1\r\n"
		 "# c2,AP,198.18.40.2,\r\n"
		 "c3,AP,198.18.40.3,\r\n"
		 "c4,AP,198.18.40.4,2001:db8:40::4",	/* no final newline */
		 &l);
	cr_assert_eq(l.n, 3);
	cr_assert_null(custlist_find(&l, "c2"));
	cr_assert_eq(must_find(&l, "c1")->line, 8);
	cr_assert_str_eq(pfx_str(must_find(&l, "c1")), "198.18.40.1/32 2001:db8:40::1/128");
	cr_assert_str_eq(pfx_str(must_find(&l, "c4")), "198.18.40.4/32 2001:db8:40::4/128");
	custlist_free(&l);
}

Test(custlist, utf8_bom_is_ignored)
{
	struct custlist l;

	/* without a header the BOM would otherwise stick to the first id */
	parse_ok("mem.csv", "\xef\xbb\xbf" "7001,Name,d,dev,AP,,198.18.41.1,\n", &l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.v[0].id, "7001");
	custlist_free(&l);

	parse_ok("mem.csv", "\xef\xbb\xbf" HDR "7002,Name,d,dev,AP,,198.18.41.2,\n", &l);
	cr_assert_str_eq(must_find(&l, "7002")->parent, "AP");
	custlist_free(&l);

	parse_ok("mem.txt", "\xef\xbb\xbf" "p1 198.18.41.3\n", &l);
	cr_assert_str_eq(l.v[0].id, "p1");
	custlist_free(&l);
}

Test(custlist, customer_without_address_is_skipped)
{
	struct custlist l;

	parse_ok("mem.csv", HDR "e1,Empty,d,dev,AP,,,,1,1,2,2,\ne2,Two,d,dev,AP,,198.18.42.1\n", &l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.v[0].id, "e2");
	custlist_free(&l);

	/* and a file of such circuits is an empty list, not a crash */
	parse_ok("mem.csv", HDR "e1,Empty,d,dev,AP\ne2,,d2\n", &l);
	cr_assert_eq(l.n, 0);
	cr_assert_null(custlist_find(&l, "e1"));
	custlist_free(&l);

	parse_ok("mem.csv", "", &l);
	cr_assert_eq(l.n, 0);
	custlist_free(&l);
}

Test(custlist, plain_list_with_site)
{
	struct custlist l;
	const struct cust *c;

	load_ok(data("customers.txt"), &l);
	cr_assert_eq(l.n, 3);
	cr_assert_eq(l.nprefixes, 6);
	cr_assert_eq(l.nv4, 5);
	cr_assert_eq(l.nv6, 1);
	c = must_find(&l, "cust-a");
	cr_assert_str_eq(c->site, "Region North/Tower A");
	cr_assert_str_eq(c->parent, "");
	cr_assert_eq(c->line, 2);
	cr_assert_str_eq(pfx_str(c), "198.18.20.0/24 2001:db8:100::/48 198.18.23.0/25");
	c = must_find(&l, "cust-b");
	cr_assert_str_eq(c->site, "");
	cr_assert_str_eq(pfx_str(c), "198.18.21.0/24", "the comment is not a prefix");
	c = must_find(&l, "cust-c");
	cr_assert_str_eq(c->site, "Region South/Tower C/AP C1", "site= keeps spaces");
	cr_assert_eq(l.nsites, 2);
	cr_assert_str_eq(l.sites[0], "Region North/Tower A");
	cr_assert_str_eq(l.sites[1], "Region South/Tower C/AP C1");
	custlist_free(&l);
	cr_assert_null(l.sites);
}

Test(custlist, csv_or_plain_is_told_by_the_first_data_line)
{
	struct custlist l;

	/* a comma outside quotes: CSV (legacy, here) */
	parse_ok("x", "# a, b\nk1,Name,d,dn,AP,,198.18.43.1\n", &l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.v[0].name, "Name");
	cr_assert_str_eq(pfx_str(&l.v[0]), "198.18.43.1/32");
	custlist_free(&l);

	/* commas only in the comment and in quotes: plain */
	parse_ok("x", "# a, b\nk1 198.18.43.1 site=\"A,B\"\n", &l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.v[0].site, "\"A,B\"");
	cr_assert_str_eq(pfx_str(&l.v[0]), "198.18.43.1/32");
	custlist_free(&l);
}

Test(custlist, network_json_nesting_gives_site_paths)
{
	struct custlist l;
	struct cfg_err e;
	char msg[600];
	int rc;

	load_ok(data("ShapedDevices.csv"), &l);
	rc = custlist_apply_network(&l, data("network.json"), &e);
	cr_assert_eq(rc, 0, "%s", cfg_err_str(&e, msg, sizeof(msg)));
	cr_assert_str_eq(must_find(&l, "1001")->site, "Region North/Tower A/AP_A1");
	cr_assert_str_eq(must_find(&l, "1003")->site, "Region North/Tower A/AP_A2");
	cr_assert_str_eq(must_find(&l, "2001")->site, "Region North/Tower B/AP_B1");
	cr_assert_str_eq(must_find(&l, "2002")->site, "Region South/Tower C/AP_C1");
	cr_assert_str_eq(must_find(&l, "2003")->site, "Core PoP");
	cr_assert_eq(l.nsites, 5, "distinct paths with customers only, no ancestors");
	cr_assert_str_eq(l.sites[0], "Core PoP");
	cr_assert_str_eq(l.sites[1], "Region North/Tower A/AP_A1");
	cr_assert_str_eq(l.sites[2], "Region North/Tower A/AP_A2");
	cr_assert_str_eq(l.sites[3], "Region North/Tower B/AP_B1");
	cr_assert_str_eq(l.sites[4], "Region South/Tower C/AP_C1");
	custlist_free(&l);
}

Test(custlist, network_keeps_plain_sites_and_empty_parents)
{
	static const char net[] = "{\"Tower 1\": {\"children\": {\"AP 1\": {}}}}";
	struct custlist l;
	struct cfg_err e;
	char msg[600];
	int rc;

	load_ok(data("customers.txt"), &l);
	rc = custlist_apply_network_buf(&l, "net.json", net, strlen(net), &e);
	cr_assert_eq(rc, 0, "%s", cfg_err_str(&e, msg, sizeof(msg)));
	cr_assert_str_eq(must_find(&l, "cust-a")->site, "Region North/Tower A");
	cr_assert_str_eq(must_find(&l, "cust-b")->site, "");
	cr_assert_eq(l.nsites, 2);
	custlist_free(&l);

	parse_ok("mem.csv", "Circuit ID,Parent Node,IPv4\nn1,,198.18.44.1\nn2,AP 1,198.18.44.2\n", &l);
	rc = custlist_apply_network_buf(&l, "net.json", net, strlen(net), &e);
	cr_assert_eq(rc, 0, "%s", cfg_err_str(&e, msg, sizeof(msg)));
	cr_assert_str_eq(must_find(&l, "n1")->site, "");
	cr_assert_str_eq(must_find(&l, "n2")->site, "Tower 1/AP 1");
	cr_assert_eq(l.nsites, 1);
	cr_assert_str_eq(l.sites[0], "Tower 1/AP 1");
	custlist_free(&l);
}

/* Customers c1 (AP_A, line 2), c2 (AP_B, line 3), c3 (no parent), then json. */
static void net_err(const char *json, const char *want)
{
	static const char csv[] =
		"Circuit ID,Parent Node,IPv4\nc1,AP_A,198.18.45.1\nc2,AP_B,198.18.45.2\nc3,,198.18.45.3\n";
	struct custlist l;
	struct cfg_err e;
	char msg[600];
	int rc;

	parse_ok("mem.csv", csv, &l);
	rc = custlist_apply_network_buf(&l, "net.json", json, strlen(json), &e);
	cr_assert_eq(rc, -EINVAL, "accepted (rc %d), expected: %s", rc, want);
	cr_assert_str_eq(cfg_err_str(&e, msg, sizeof(msg)), want);
	/* left as it was */
	cr_assert_str_eq(l.v[0].site, "");
	cr_assert_str_eq(l.v[1].site, "");
	cr_assert_eq(l.nsites, 0);
	custlist_free(&l);
}

Test(custlist, network_errors)
{
	net_err("{\"S\": {\"children\": {\"AP_A\": {}}}}",
		"mem.csv:3: Parent Node 'AP_B' not found in net.json");
	net_err("{\"S1\": {\"children\": {\"AP_A\": {}, \"AP_B\": {}}},\n"
		" \"S2\": {\"children\": {\"AP_B\": {}}}}",
		"mem.csv:3: Parent Node 'AP_B' is ambiguous: net.json has it 2 times ('S1/AP_B', 'S2/AP_B')");
	/* the earliest customer line is named, whatever the order of ids */
	net_err("{}", "mem.csv:2: Parent Node 'AP_A' not found in net.json");
	net_err("{\"A/B\": {\"children\": {\"AP_A\": {}, \"AP_B\": {}}}}",
		"mem.csv:2: Parent Node 'AP_A': node 'A/B' in net.json has a '/' in its name");
	net_err("{\n \"S\": {\n  \"children\": {,}\n }\n}",
		"net.json:3: quoted object property name expected");
	net_err("{\"S\": {\n\"children\": {", "net.json:2: unexpected end of file");
	net_err("{\"AP_A\": {}, \"AP_B\": {}}\n]\n", "net.json:2: text after the end of the top-level object");
	net_err("[1, 2]", "net.json: the top level is not an object");
	net_err("{\"AP_A\": 5, \"AP_B\": {}}", "net.json: node 'AP_A' is not an object");
	net_err("{\"S\": {\"children\": [\"AP_A\"]}}", "net.json: \"children\" of node 'S' is not an object");
}

Test(custlist, network_path_too_long)
{
	char json[2048], want[600], name[101];
	struct custlist l;
	struct cfg_err e;
	char msg[600];
	int rc;

	memset(name, 'n', 100);
	name[100] = '\0';
	/* 100 + 1 + 100 + 1 + 100 + 1 + 4 bytes: longer than 255 */
	snprintf(json, sizeof(json),
		 "{\"%s1\": {\"children\": {\"%s2\": {\"children\": {\"%s3\": {\"children\": {\"AP_A\": {}}}}}}}}",
		 name, name, name);
	parse_ok("mem.csv", "Circuit ID,Parent Node,IPv4\nc1,AP_A,198.18.46.1\n", &l);
	rc = custlist_apply_network_buf(&l, "net.json", json, strlen(json), &e);
	cr_assert_eq(rc, -EINVAL);
	snprintf(want, sizeof(want),
		 "mem.csv:2: Parent Node 'AP_A': node 'AP_A' in net.json is too deep: site path longer than 255 bytes");
	cr_assert_str_eq(cfg_err_str(&e, msg, sizeof(msg)), want);
	custlist_free(&l);
}

Test(custlist, malformed_rows_give_exact_file_and_line)
{
	csv_err(HDR "c1,n,d,dn,AP,,198.18.0.300,\n",
		"mem.csv:2: bad address '198.18.0.300' in column IPv4: not an IPv4 address");
	csv_err(HDR "c1,n,d,dn,AP,,\"198.18.0.1, x\",\n",
		"mem.csv:2: bad address 'x' in column IPv4: not an IPv4 address");
	csv_err(HDR "c1,n,d,dn,AP,,198.18.0.1/24,\n",
		"mem.csv:2: bad address '198.18.0.1/24' in column IPv4: host bits set beyond the prefix length");
	csv_err(HDR "c1,n,d,dn,AP,,198.18.0.0/33,\n",
		"mem.csv:2: bad address '198.18.0.0/33' in column IPv4: prefix length must be 0..32");
	csv_err(HDR "c1,n,d,dn,AP,,,2001:db8::/129\n",
		"mem.csv:2: bad address '2001:db8::/129' in column IPv6: prefix length must be 0..128");
	csv_err(HDR "c1,n,d,dn,AP,,,2001:db8::zz\n",
		"mem.csv:2: bad address '2001:db8::zz' in column IPv6: not an IPv6 address");
	csv_err(HDR "c1,n,d,dn,AP,,2001:db8::1,\n",
		"mem.csv:2: IPv6 address '2001:db8::1' in column IPv4");
	csv_err(HDR "c1,n,d,dn,AP,,,198.18.0.1\n",
		"mem.csv:2: IPv4 address '198.18.0.1' in column IPv6");
	csv_err(HDR "c1,n,d,dn,AP,,198.18.1.0/24,\n\n# x\nc2,n,d,dn,AP,,198.18.1.0/24,\n",
		"mem.csv:5: duplicate prefix 198.18.1.0/24 also owned by customer 'c1' at line 2");
	csv_err(HDR "c1,n,d,dn,AP,,,2001:db8:1::/48\nc2,n,d,dn,AP,,,2001:DB8:1:0::/48\n",
		"mem.csv:3: duplicate prefix 2001:db8:1::/48 also owned by customer 'c1' at line 2");
	csv_err(HDR "c1,n,d,dn,AP,,\"198.18.1.1, 198.18.1.1/32\",\n",
		"mem.csv:2: duplicate prefix 198.18.1.1/32 also owned by customer 'c1' at line 2");
	csv_err(HDR ",n,d,dn,AP,,198.18.0.1,\n", "mem.csv:2: missing Circuit ID");
	csv_err(HDR "c1,n,d,dn,AP,,\"198.18.0.1,198.18.0.2\n",
		"mem.csv:2: unterminated quote in column 7");
	csv_err(HDR "c1,\"Multi\nline\",d,dn,AP,,198.18.0.1,\n",
		"mem.csv:2: unterminated quote in column 2");
	csv_err(HDR "c1,n,d,dn,AP,,\"198.18.0.1\" x,\n",
		"mem.csv:2: text after the closing quote in column 7");
	csv_err(HDR "c1,n,d,dn,AP,,198.18.0.1,198.18.0.2,2001:db8::1,1,1,2,2,x\n",
		"mem.csv:2: 14 columns, but the header has 13 (an address list not in quotes?)");
	csv_err("c1,n,d,dn,AP,,198.18.0.1,198.18.0.2,2001:db8::1,1,1,2,2,x\n",
		"mem.csv:1: 14 columns, more than LibreQoS's 13 (an address list not in quotes?)");
	csv_err("Circuit Name,IPv4\nn,198.18.0.1\n", "mem.csv:1: header has no Circuit ID column");
	csv_err("# c\nCircuit ID,Circuit Name,Comment\n", "mem.csv:2: header has no IPv4 or IPv6 column");
	csv_err("Circuit ID,IPv4,ip_v4\n", "mem.csv:1: column IPv4 given twice (columns 2 and 3)");
	csv_err(HDR "c1,n,d1,,AP_A,,198.18.0.1,\nc1,n,d2,,AP_B,,198.18.0.2,\n",
		"mem.csv:3: Parent Node 'AP_B' differs from 'AP_A' given for circuit 'c1' at line 2");
	csv_err(HDR "c1,n,d1,,AP_A,,198.18.0.1,\nc1,n,d2,,,,198.18.0.2,\n",
		"mem.csv:3: Parent Node '' differs from 'AP_A' given for circuit 'c1' at line 2");
}

Test(custlist, too_long_values_are_refused)
{
	char buf[80000], want[600];
	size_t n;

	n = (size_t)snprintf(buf, sizeof(buf), HDR "%064d,n,d,dn,AP,,198.18.0.1,\n", 7);
	cr_assert_lt(n, sizeof(buf));
	csv_err(buf, "mem.csv:2: Circuit ID too long (64 bytes, at most 63)");
	/* 63 bytes fit */
	snprintf(buf, sizeof(buf), HDR "%063d,n,d,dn,AP,,198.18.0.1,\n", 7);
	{
		struct custlist l;

		parse_ok("mem.csv", buf, &l);
		cr_assert_eq(strlen(l.v[0].id), 63);
		custlist_free(&l);
	}
	snprintf(buf, sizeof(buf), HDR "c1,%0128d,d,dn,AP,,198.18.0.1,\n", 1);
	csv_err(buf, "mem.csv:2: Circuit Name too long (128 bytes, at most 127)");
	snprintf(buf, sizeof(buf), HDR "c1,n,d,dn,%0200d,,198.18.0.1,\n", 1);
	csv_err(buf, "mem.csv:2: Parent Node too long (200 bytes, at most 127)");
	snprintf(buf, sizeof(buf), "%070d 198.18.0.1\n", 1);
	parse_err("mem.txt", buf, strlen(buf), "mem.txt:1: customer id too long (70 bytes, at most 63)");

	/* a line of 65537 bytes */
	n = (size_t)snprintf(buf, sizeof(buf), HDR "c1,n,d,dn,AP,,198.18.0.1,,,,,,");
	memset(buf + n, 'x', CUST_LINE_MAX + 1 - (n - strlen(HDR)));
	n += CUST_LINE_MAX + 1 - (n - strlen(HDR));
	buf[n] = '\0';
	snprintf(want, sizeof(want), "mem.csv:2: line longer than %d bytes", CUST_LINE_MAX);
	csv_err(buf, want);
	buf[n - 1] = '\0';	/* exactly CUST_LINE_MAX: fine */
	{
		struct custlist l;

		parse_ok("mem.csv", buf, &l);
		cr_assert_eq(l.n, 1);
		custlist_free(&l);
	}

	/* many short columns */
	n = (size_t)snprintf(buf, sizeof(buf), "c1,n,d,dn,AP,,198.18.0.1");
	while (n < 1000)
		buf[n++] = ',';
	buf[n] = '\0';
	csv_err(buf, "mem.csv:1: more than 256 columns");

	parse_err("mem.csv", HDR "c1,n,d,dn,AP,,198.18.0.1\0,\n", strlen(HDR) + 26,
		  "mem.csv:2: NUL byte in line");
}

Test(custlist, plain_list_errors)
{
	const char *t;

	t = "# list\nc1 198.18.0.0/24\nc2 bogus\n";
	parse_err("mem.txt", t, strlen(t), "mem.txt:3: bad prefix 'bogus': not an IPv4 address");
	t = "c1\n";
	parse_err("mem.txt", t, strlen(t), "mem.txt:1: no prefix for customer 'c1'");
	t = "c1 site=A/B\n";
	parse_err("mem.txt", t, strlen(t), "mem.txt:1: no prefix for customer 'c1'");
	t = "c1 198.18.0.1 site=\n";
	parse_err("mem.txt", t, strlen(t), "mem.txt:1: empty site=");
	t = "c1 198.18.0.1 site=A//B\n";
	parse_err("mem.txt", t, strlen(t), "mem.txt:1: site 'A//B' has an empty name between '/'");
	t = "c1 198.18.0.1 site=/A\n";
	parse_err("mem.txt", t, strlen(t), "mem.txt:1: site '/A' has an empty name between '/'");
	t = "c1 198.18.0.1 site=A\nc2 198.18.0.2\nc1 198.18.0.3 site=B\n";
	parse_err("mem.txt", t, strlen(t),
		  "mem.txt:3: site 'B' differs from 'A' given for customer 'c1' at line 1");
	t = "c1 198.18.0.0/16\nc2 198.18.0.0/16\n";
	parse_err("mem.txt", t, strlen(t),
		  "mem.txt:2: duplicate prefix 198.18.0.0/16 also owned by customer 'c1' at line 1");
}

Test(custlist, plain_lines_merge_and_agree_on_site)
{
	struct custlist l;

	parse_ok("mem.txt", "c1 198.18.0.1\nc1 198.18.0.2 site=S/T\nc1 198.18.0.3 site=S/T\n", &l);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.v[0].site, "S/T");
	cr_assert_str_eq(pfx_str(&l.v[0]), "198.18.0.1/32 198.18.0.2/32 198.18.0.3/32");
	custlist_free(&l);
}

Test(custlist, first_error_in_file_order_wins)
{
	/* the duplicate (line 3) comes before the bad address (line 4) */
	csv_err(HDR "c1,n,d,dn,AP,,198.18.1.0/24,\nc2,n,d,dn,AP,,198.18.1.0/24,\nc3,n,d,dn,AP,,bad,\n",
		"mem.csv:3: duplicate prefix 198.18.1.0/24 also owned by customer 'c1' at line 2");
	/* the Parent Node conflict (line 3) before a duplicate (line 4) */
	csv_err(HDR "z,n,d,dn,A,,198.18.2.1,\nz,n,d,dn,B,,198.18.2.2,\na,n,d,dn,A,,198.18.2.1,\n",
		"mem.csv:3: Parent Node 'B' differs from 'A' given for circuit 'z' at line 2");
	/* the bad address (line 2) before a duplicate (line 4) */
	csv_err(HDR "c0,n,d,dn,AP,,bad,\nc1,n,d,dn,AP,,198.18.1.0/24,\nc2,n,d,dn,AP,,198.18.1.0/24,\n",
		"mem.csv:2: bad address 'bad' in column IPv4: not an IPv4 address");
}

Test(custlist, file_errors_name_the_file)
{
	struct custlist l = { .n = 99 };
	struct cfg_err e;
	char msg[600], want[600];
	const char *path = data("no-such-file.csv");
	int rc;

	rc = custlist_load(path, &l, &e);
	cr_assert_eq(rc, -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	cr_assert_str_eq(cfg_err_str(&e, msg, sizeof(msg)), want);
	cr_assert_eq(l.n, 0);

	parse_ok("mem.csv", "Circuit ID,IPv4\nc1,198.18.0.1\n", &l);
	rc = custlist_apply_network(&l, path, &e);
	cr_assert_eq(rc, -ENOENT);
	cr_assert_str_eq(cfg_err_str(&e, msg, sizeof(msg)), want);
	custlist_free(&l);

	rc = custlist_load(data(""), &l, &e);	/* a directory */
	cr_assert_eq(rc, -EISDIR);
	cr_assert(strstr(cfg_err_str(&e, msg, sizeof(msg)), ": Is a directory"), "%s", msg);
}

Test(custlist, find_uses_the_sorted_list)
{
	struct custlist l;
	size_t i;

	parse_ok("mem.txt", "m 198.18.0.3\nb 198.18.0.1\nz 198.18.0.4\na 198.18.0.0\nc 198.18.0.2\n", &l);
	assert_sorted(&l);
	for (i = 0; i < l.n; i++)
		cr_assert_eq(custlist_find(&l, l.v[i].id), &l.v[i]);
	cr_assert_null(custlist_find(&l, "d"));
	cr_assert_null(custlist_find(&l, ""));
	cr_assert_null(custlist_find(&l, "zz"));
	custlist_free(&l);
	cr_assert_null(custlist_find(&l, "a"));
}

Test(custlist, err_str_formats)
{
	struct cfg_err e = { .file = "f.csv", .line = 7, .msg = "bad" };
	char buf[64];

	cr_assert_str_eq(cfg_err_str(&e, buf, sizeof(buf)), "f.csv:7: bad");
	e.line = 0;
	cr_assert_str_eq(cfg_err_str(&e, buf, sizeof(buf)), "f.csv: bad");
}

Test(custlist, hundred_thousand_customers, .timeout = 60)
{
	const size_t n = 100000;
	size_t cap = n * 120 + 256, len, i;
	char *buf = malloc(cap), msg[600];
	struct custlist l;
	struct cfg_err e;
	struct timespec t0, t1;
	const struct cust *c;
	int rc;

	cr_assert_not_null(buf);
	len = (size_t)snprintf(buf, cap, HDR);
	/* ids in descending order; every tenth circuit has a second device row */
	for (i = n; i-- > 0;) {
		len += (size_t)snprintf(buf + len, cap - len,
					"c%06zu,Customer %zu,d%zu,,AP_%zu,,198.%zu.%zu.%zu,2001:db8:%zx:%zx::/64,1,1,2,2,\n",
					i, i, i, i % 500, 18 + i / 65536, (i / 256) % 256, i % 256,
					i >> 16, i & 0xffff);
		if (i % 10 == 0)
			len += (size_t)snprintf(buf + len, cap - len,
						"c%06zu,Customer %zu,e%zu,,AP_%zu,,,2001:db8:%zx:%zx:1::/80,1,1,2,2,\n",
						i, i, i, i % 500, i >> 16, i & 0xffff);
	}
	cr_assert_lt(len, cap);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = custlist_parse("big.csv", buf, len, &l, &e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_eq(rc, 0, "%s", cfg_err_str(&e, msg, sizeof(msg)));
	cr_log_info("100k customers (%zu bytes) parsed in %.1f ms\n", len,
		    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	cr_assert_eq(l.n, n);
	cr_assert_eq(l.nv4, n);
	cr_assert_eq(l.nv6, n + n / 10);
	cr_assert_eq(l.nprefixes, l.nv4 + l.nv6);
	assert_sorted(&l);
	c = must_find(&l, "c099990");
	cr_assert_str_eq(pfx_str(c), "198.19.134.150/32 2001:db8:1:8696::/64 2001:db8:1:8696:1::/80");
	cr_assert_str_eq(c->parent, "AP_490");
	c = must_find(&l, "c000000");
	cr_assert_str_eq(pfx_str(c), "198.18.0.0/32 2001:db8::/64 2001:db8:0:0:1::/80");
	cr_assert_null(custlist_find(&l, "c100000"));
	custlist_free(&l);

	/* one duplicate at the very end is found and placed */
	len += (size_t)snprintf(buf + len, cap - len, "late,,,,AP_1,,198.18.0.5,,,,,,\n");
	rc = custlist_parse("big.csv", buf, len, &l, &e);
	cr_assert_eq(rc, -EINVAL);
	snprintf(msg, sizeof(msg), "big.csv:%zu: duplicate prefix 198.18.0.5/32 also owned by customer 'c000005' at line %zu",
		 n + n / 10 + 2, n + n / 10 + 2 - 6 - 1);
	{
		char got[600];

		cr_assert_str_eq(cfg_err_str(&e, got, sizeof(got)), msg);
	}
	free(buf);
}

Test(custlist, names_must_be_utf8)
{
	/* a Latin-1 name (0xe9) exported by an old billing system */
	static const char csv[] = "Circuit ID,Circuit Name,IPv4\n"
				  "7001,Caf\xe9 du Port,198.18.7.1\n";
	static const char plain[] = "ok 198.18.7.2\ncaf\xe9 198.18.7.3\n";
	struct custlist l;
	struct cfg_err e;
	char buf[600];

	cr_assert_neq(custlist_parse("latin1.csv", csv, sizeof(csv) - 1, &l, &e), 0);
	cr_assert_str_eq(cfg_err_str(&e, buf, sizeof(buf)),
			 "latin1.csv:2: Circuit Name is not valid UTF-8 (save the file as UTF-8)");
	cr_assert_neq(custlist_parse("p.txt", plain, sizeof(plain) - 1, &l, &e), 0);
	cr_assert_str_eq(cfg_err_str(&e, buf, sizeof(buf)),
			 "p.txt:2: customer id is not valid UTF-8 (save the file as UTF-8)");
}
