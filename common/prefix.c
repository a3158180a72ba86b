// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfgerr.h"
#include "prefix.h"

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

bool prefix_is_v4(const struct prefix *p)
{
	return p->len >= 96 && memcmp(p->addr, v4_mapped, 12) == 0;
}

static int parse_len(const char *s, int max, const char **why)
{
	char *end;
	long v;

	if (!*s) {
		*why = "empty prefix length";
		return -EINVAL;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > max || !(*s >= '0' && *s <= '9')) {
		*why = max == 32 ? "prefix length must be 0..32" : "prefix length must be 0..128";
		return -EINVAL;
	}
	return (int)v;
}

int prefix_parse(const char *s, struct prefix *out, const char **why)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	int i, len, v4;

	*why = NULL;
	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= INET6_ADDRSTRLEN) {
		*why = alen ? "address too long" : "empty address";
		return -EINVAL;
	}
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	v4 = !strchr(buf, ':');
	if (v4) {
		memcpy(out->addr, v4_mapped, 12);
		if (inet_pton(AF_INET, buf, out->addr + 12) != 1) {
			*why = "not an IPv4 address";
			return -EINVAL;
		}
	} else if (inet_pton(AF_INET6, buf, out->addr) != 1) {
		*why = "not an IPv6 address";
		return -EINVAL;
	}
	len = slash ? parse_len(slash + 1, v4 ? 32 : 128, why) : (v4 ? 32 : 128);
	if (len < 0)
		return len;
	out->len = (uint8_t)(v4 ? 96 + len : len);
	for (i = out->len; i < 128; i++) {
		if (out->addr[i / 8] & (0x80 >> (i % 8))) {
			*why = "host bits set beyond the prefix length";
			return -EINVAL;
		}
	}
	return 0;
}

char *prefix_format(const struct prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (prefix_is_v4(p)) {
		inet_ntop(AF_INET, p->addr + 12, a, sizeof(a));
		snprintf(buf, len, "%s/%d", a, p->len - 96);
	} else {
		inet_ntop(AF_INET6, p->addr, a, sizeof(a));
		snprintf(buf, len, "%s/%d", a, p->len);
	}
	return buf;
}

bool prefix_contains(const struct prefix *p, const uint8_t addr[16])
{
	int full = p->len / 8, rest = p->len % 8;

	if (memcmp(p->addr, addr, full))
		return false;
	if (!rest)
		return true;
	return ((p->addr[full] ^ addr[full]) & (0xff << (8 - rest))) == 0;
}

int prefix_list_parse(const char *text, const char *what, struct prefix **v, size_t *n,
		      struct cfg_err *e)
{
	unsigned line = strchr(text, '\n') ? 1 : 0;	/* one line (an option): no number */
	const char *p = text;

	while (*p) {
		char word[PREFIX_STRLEN];
		const char *start, *why;
		struct prefix pf, *nv;
		size_t len;

		if (*p == '\n') {
			line++;
			p++;
			continue;
		}
		if (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r') {
			p++;
			continue;
		}
		if (*p == '#') {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		start = p;
		while (*p && !strchr(" \t,\r\n#", *p))
			p++;
		len = (size_t)(p - start);
		if (len >= sizeof(word))
			return cfg_err_set(e, what, line, -EINVAL, "'%.40s...': too long for a prefix",
					   start);
		memcpy(word, start, len);
		word[len] = '\0';
		if (prefix_parse(word, &pf, &why))
			return cfg_err_set(e, what, line, -EINVAL, "'%s': %s", word, why);
		nv = realloc(*v, (*n + 1) * sizeof(**v));
		if (!nv)
			return cfg_err_set(e, what, line, -ENOMEM, "out of memory");
		*v = nv;
		nv[(*n)++] = pf;
	}
	return 0;
}
