// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cfgfile.h"
#include "sys.h"

static char **owned;
static size_t nowned, capowned;

char *cfg_strdup(const char *v)
{
	char *d;

	if (nowned == capowned) {
		size_t cap = capowned ? capowned * 2 : 32;
		char **n = realloc(owned, cap * sizeof(*n));

		if (!n)
			return NULL;
		owned = n;
		capowned = cap;
	}
	d = strdup(v);
	if (d)
		owned[nowned++] = d;
	return d;
}

#define CFG_LINE_MAX 4096
#define CFG_FILE_MAX (16u << 20)

int cfg_u64(const char *key, const char *v, uint64_t min, uint64_t max, uint64_t *out,
	    struct cfg_err *err)
{
	unsigned long long x;
	char *end;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *v < '0' || *v > '9' || *end || x < min || x > max) {
		snprintf(err->msg, sizeof(err->msg), "%s: '%s' is not a number in %llu..%llu", key,
			 v, (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int parse_line(const char *name, unsigned lineno, char *line, cfgfile_fn fn, void *ctx,
		      struct cfg_err *err)
{
	char *eq, *key, *val;
	int rc;

	line = trim(line);
	if (!*line || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		cfg_err_set(err, name, lineno, 0, "expected 'key = value'");
		return -EINVAL;
	}
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	if (!*key) {
		cfg_err_set(err, name, lineno, 0, "missing key before '='");
		return -EINVAL;
	}
	err->msg[0] = '\0';
	rc = fn(ctx, key, val, err);
	if (rc) {
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg[0] ? err->msg : "invalid setting");
		cfg_err_set(err, name, lineno, 0, "%s", msg);
	}
	return rc;
}

int cfgfile_parse(const char *name, const char *buf, size_t len, cfgfile_fn fn, void *ctx,
		  struct cfg_err *err)
{
	char line[CFG_LINE_MAX];
	unsigned lineno = 0;
	size_t pos = 0;
	int rc;

	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;

		lineno++;
		if (n >= sizeof(line)) {
			cfg_err_set(err, name, lineno, 0, "line too long");
			return -EINVAL;
		}
		if (memchr(buf + pos, '\0', n)) {
			cfg_err_set(err, name, lineno, 0, "NUL byte in line");
			return -EINVAL;
		}
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		rc = parse_line(name, lineno, line, fn, ctx, err);
		if (rc)
			return rc;
		pos += n + 1;
	}
	return 0;
}

int cfgfile_load(const char *path, cfgfile_fn fn, void *ctx, struct cfg_err *err)
{
	char *buf;
	size_t len;
	int rc = sys_read_file(path, CFG_FILE_MAX, &buf, &len);

	if (rc == -EFBIG)
		return cfg_err_set(err, path, 0, rc, "file too large (16 MiB at most)");
	if (rc)
		return cfg_err_set(err, path, 0, rc, "%s", strerror(-rc));
	rc = cfgfile_parse(path, buf, len, fn, ctx, err);
	free(buf);
	return rc;
}
