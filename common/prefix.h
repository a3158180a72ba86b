/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* IPv4/IPv6 addresses and prefixes in one form: 16 bytes, IPv4 v4-mapped. */
#ifndef PINGFOLD_PREFIX_H
#define PINGFOLD_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct prefix {
	uint8_t addr[16];	/* host bits beyond len are zero */
	uint8_t len;		/* 0..128; IPv4 /n is stored as 96 + n */
};

/*
 * Parses "198.18.0.0/24", "2001:db8::/48" or a bare address (a host
 * prefix). Returns 0, or -EINVAL with *why set to a static reason.
 * Host bits set beyond the prefix length are an error (a likely typo).
 */
int prefix_parse(const char *s, struct prefix *out, const char **why);
bool prefix_is_v4(const struct prefix *p);
/* Writes the canonical text form ("198.18.0.0/24"); returns buf. */
char *prefix_format(const struct prefix *p, char *buf, size_t len);
bool prefix_contains(const struct prefix *p, const uint8_t addr[16]);

#define PREFIX_STRLEN 64

/*
 * Appends to *v (*n entries; grown with realloc, the caller frees) the
 * prefixes in text: separated by spaces, tabs, commas or newlines, '#'
 * to the end of a line a comment. A refused word fills e with where
 * ("WHAT:LINE") and why; what was appended before stays. 0 or -errno.
 */
struct cfg_err;
int prefix_list_parse(const char *text, const char *what, struct prefix **v, size_t *n,
		      struct cfg_err *e);

#endif /* PINGFOLD_PREFIX_H */
