/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The customer list of one box: customers (LibreQoS circuits) with their
 * prefixes and site paths, read from LibreQoS's ShapedDevices.csv or a
 * plain text list, plus network.json for the site tree.
 */
#ifndef PINGFOLD_CUSTLIST_H
#define PINGFOLD_CUSTLIST_H

#include <stddef.h>
#include <stdint.h>
#include "cfgerr.h"
#include "prefix.h"

#define CUST_ID_MAX	64	/* bytes incl. NUL */
#define CUST_NAME_MAX	128
#define CUST_SITE_MAX	256	/* "Region/Tower A/AP 3": names joined by '/' */
#define CUST_LINE_MAX	65536	/* bytes in one line, without the newline */
#define CUST_COLS_MAX	256	/* columns in one CSV row */
#define CUST_FILE_MAX	(1u << 30)	/* bytes in a customer or network file */

struct cust {
	char id[CUST_ID_MAX];		/* Circuit ID, or the plain list's first word */
	char name[CUST_NAME_MAX];	/* Circuit Name ("" if none) */
	char parent[CUST_NAME_MAX];	/* Parent Node as written ("" if none) */
	char site[CUST_SITE_MAX];	/* full path, after custlist_apply_network */
	struct prefix *prefixes;
	uint32_t nprefixes;
	unsigned line;			/* first line that named this customer */
};

struct custlist {
	struct cust *v;			/* sorted by id */
	size_t n;
	size_t nprefixes, nv4, nv6;
	char **sites;			/* distinct site paths, sorted; NULL-free */
	size_t nsites;
	char file[256];			/* the file it was read from, for errors */
};

/*
 * Reads a customer file. ShapedDevices.csv (LibreQoS): columns found by
 * header name, compared case-insensitively ignoring spaces and
 * punctuation ("Circuit ID" = "circuit_id"); required: Circuit ID and at
 * least one of IPv4 / IPv6; optional: Circuit Name, Parent Node, Device
 * ID, ... . Without a header row, LibreQoS's column order is assumed:
 * Circuit ID, Circuit Name, Device ID, Device Name, Parent Node, MAC, IPv4,
 * IPv6, Download Min, Upload Min, Download Max, Upload Max, Comment.
 * Lines starting with '#' are comments, blank lines skipped, fields
 * trimmed, trailing optional columns may be missing, a UTF-8 BOM is
 * ignored, quoted cells may hold several addresses/CIDRs separated by
 * commas. Rows with the same Circuit ID are devices of one customer.
 * Plain list (told apart by content: no comma outside quotes on its first
 * data line): "customer-id prefix [prefix...] [site=PATH]" per line.
 * The same prefix given to two customers is an error.
 * Returns 0, or -errno with *err filled (file, line, what).
 *
 * Details, decided here:
 *  - CSV or plain: the first line that is neither blank nor a comment
 *    decides; a comma outside double quotes makes the file CSV.
 *  - Header or legacy: the first CSV row is a header when any of its
 *    cells is a known column name (circuitid, circuitname, deviceid,
 *    devicename, parentnode, mac, ipv4, ipv6, download/upload min/max
 *    with or without "mbps", comment, sqm). Unknown columns are ignored;
 *    a known one given twice is an error.
 *  - Cells are trimmed, quoted or not; "" in quotes is one quote; a
 *    quoted cell ends on its line (a newline inside quotes is an
 *    unterminated quote). Address cells split at commas and blanks;
 *    IPv4 cells take IPv4 only, IPv6 cells IPv6 only; a bare address is
 *    a /32 or /128. A row of empty cells counts as blank. A row with
 *    more non-empty cells than the header (or the 13 legacy columns) is
 *    an error: usually an address list that is not in quotes.
 *  - Rows of one circuit: Parent Node must be the same on every row (an
 *    error otherwise, at the later row); Circuit Name is the first
 *    non-empty one (later differing names are ignored).
 *  - A circuit without any address is skipped silently (LibreQoS
 *    allows it; we have nothing to attribute to it).
 *  - Plain list: '#' starts a comment where a word would start; site=
 *    takes the rest of the line, so a path may hold spaces; a site path
 *    is names joined by '/', none empty. Lines with the same id merge;
 *    their site= values must agree. A line needs at least one prefix.
 *  - Limits: lines up to CUST_LINE_MAX bytes, ids/names/parents/sites
 *    shorter than their fields, CUST_COLS_MAX columns, files up to
 *    CUST_FILE_MAX bytes; longer is an error, never truncated.
 *  - Errors come from the earliest offending line; on error *out is
 *    left empty (zeroed), so the caller keeps its old list. *out is
 *    overwritten, not freed, on entry.
 *  - The customer's site is "" until custlist_apply_network (CSV) or
 *    as given by site= (plain list).
 */
int custlist_load(const char *path, struct custlist *out, struct cfg_err *err);
/* The same from memory; name is used in errors. */
int custlist_parse(const char *name, const char *buf, size_t len,
		   struct custlist *out, struct cfg_err *err);

/*
 * Reads LibreQoS's network.json (nested objects: node name -> { ...,
 * "children": { ... } }) and sets each customer's site to the path from
 * the root to its Parent Node ("Site A/AP 1"). A Parent Node missing from
 * the tree is an error naming the customer's line. Customers whose site
 * came from a plain list's site= are kept as they are.
 *
 * Node names are the object keys; only "children" is looked into. A
 * Parent Node found at more than one place in the tree is an error
 * (ambiguous), as is a '/' in a name on a path that is used. Customer
 * errors carry the customer file's name and the customer's first line.
 * l->sites becomes the distinct paths that customers have; ancestors
 * are not added (whoever rolls up splits the paths at '/'). On error l is
 * left unchanged.
 */
int custlist_apply_network(struct custlist *l, const char *json_path, struct cfg_err *err);
int custlist_apply_network_buf(struct custlist *l, const char *name, const char *buf,
			       size_t len, struct cfg_err *err);

const struct cust *custlist_find(const struct custlist *l, const char *id);
void custlist_free(struct custlist *l);

#endif /* PINGFOLD_CUSTLIST_H */
