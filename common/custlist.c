// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Customer lists: LibreQoS's ShapedDevices.csv or a plain list, and the
 * site tree of network.json. Rules and decisions are in custlist.h.
 *
 * Loading collects rows (one per CSV row or plain line) and their
 * prefixes in file order, then sorts once to merge rows of a customer
 * and once to find duplicate prefixes, so a big file costs O(n log n).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "custlist.h"
#include "sys.h"
#include "utf8.h"

#define LEGACY_NCOLS	13
#define SHOW_MAX	64	/* bytes of a bad value quoted in a message */

/* The columns we use; COL_N first entries of known_cols, in this order. */
enum col { COL_ID, COL_NAME, COL_PARENT, COL_V4, COL_V6, COL_N };

static const char *const col_label[COL_N] = {
	"Circuit ID", "Circuit Name", "Parent Node", "IPv4", "IPv6"
};
/* LibreQoS's fixed order, for files without a header row. */
static const int legacy_col[COL_N] = { 0, 1, 4, 6, 7 };
/* Header names after normalization (lower case, letters and digits only). */
static const char *const known_cols[] = {
	"circuitid", "circuitname", "parentnode", "ipv4", "ipv6",
	"deviceid", "devicename", "mac", "downloadmin", "downloadminmbps",
	"uploadmin", "uploadminmbps", "downloadmax", "downloadmaxmbps",
	"uploadmax", "uploadmaxmbps", "comment", "sqm",
};

struct row {
	uint32_t id, name, where;	/* pool offsets; where: Parent Node or site= */
	uint32_t line;
	uint32_t pfx0, npfx;		/* its prefixes: ld->pfx[pfx0 ..] */
};

struct pent {
	struct prefix p;
	uint32_t row;
};

struct loader {
	const char *file;
	struct cfg_err *err;
	unsigned line;
	bool plain;
	bool have_cols;			/* header seen or legacy layout chosen */
	bool header;
	int col[COL_N];			/* -1: no such column */
	size_t ncols;
	char *pool;
	size_t npool, cappool;
	struct row *rows;
	size_t nrows, caprows;
	struct pent *pfx;
	size_t npfx, cappfx;
	char *scratch;			/* the current line, split in place */
	char *cells[CUST_COLS_MAX];
	size_t ncells;
};

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}


/* Keeps the error of the earliest line in *best (line UINT_MAX: none yet). */
__attribute__((format(printf, 4, 5)))
static void keep_first(struct cfg_err *best, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (line >= best->line)
		return;
	va_start(ap, fmt);
	cfg_err_vset(best, file, line, -EINVAL, fmt, ap);
	va_end(ap);
}

/* Returns p grown to hold need elements, or NULL (p still valid). */
static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 64;

	if (need <= *cap)
		return p;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / size)
			return NULL;
		ncap *= 2;
	}
	p = realloc(p, ncap * size);
	if (p)
		*cap = ncap;
	return p;
}

static int read_all(const char *path, char **bufp, size_t *lenp, struct cfg_err *err)
{
	int rc = sys_read_file(path, CUST_FILE_MAX, bufp, lenp);

	if (rc == -EFBIG)
		return cfg_err_set(err, path, 0, rc, "larger than %u bytes", CUST_FILE_MAX);
	if (rc)
		return cfg_err_set(err, path, 0, rc, "%s", strerror(-rc));
	return 0;
}

/* ---- loading ------------------------------------------------------ */


__attribute__((format(printf, 2, 3)))
static int row_err(struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_err_vset(ld->err, ld->file, ld->line, -EINVAL, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int oom(struct loader *ld)
{
	return cfg_err_set(ld->err, ld->file, 0, -ENOMEM, "out of memory");
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char *trim(char *s)
{
	char *e;

	while (is_blank(*s))
		s++;
	e = s + strlen(s);
	while (e > s && is_blank(e[-1]))
		e--;
	*e = '\0';
	return s;
}

static int pool_add(struct loader *ld, const char *s, uint32_t *off)
{
	size_t n = strlen(s) + 1;
	char *np = grow(ld->pool, &ld->cappool, ld->npool + n, 1);

	if (!np)
		return oom(ld);
	ld->pool = np;
	memcpy(np + ld->npool, s, n);
	*off = (uint32_t)ld->npool;
	ld->npool += n;
	return 0;
}

static int add_prefix(struct loader *ld, const struct prefix *p)
{
	struct pent *np = grow(ld->pfx, &ld->cappfx, ld->npfx + 1, sizeof(*np));

	if (!np)
		return oom(ld);
	ld->pfx = np;
	np[ld->npfx].p = *p;
	np[ld->npfx].row = (uint32_t)ld->nrows;	/* the row being added */
	ld->npfx++;
	return 0;
}

/* Appends the row whose prefixes are ld->pfx[pfx0 ..]. */
static int add_row(struct loader *ld, const char *id, const char *name, const char *where,
		   size_t pfx0)
{
	struct row *nr = grow(ld->rows, &ld->caprows, ld->nrows + 1, sizeof(*nr));
	struct row r = {
		.line = ld->line, .pfx0 = (uint32_t)pfx0, .npfx = (uint32_t)(ld->npfx - pfx0)
	};

	if (!nr)
		return oom(ld);
	ld->rows = nr;
	if (pool_add(ld, id, &r.id) || pool_add(ld, name, &r.name) ||
	    pool_add(ld, where, &r.where))
		return -ENOMEM;
	nr[ld->nrows++] = r;
	return 0;
}

static int check_len(struct loader *ld, const char *what, const char *s, size_t size)
{
	size_t n = strlen(s);

	if (n >= size)
		return row_err(ld, "%s too long (%zu bytes, at most %zu)", what, n, size - 1);
	if (!utf8_valid(s, n))
		return row_err(ld, "%s is not valid UTF-8 (save the file as UTF-8)", what);
	return 0;
}

/* Splits s (one line, modified in place) into trimmed, unquoted cells. */
static int csv_split(struct loader *ld, char *s)
{
	char *r = s, *start, *end, sep;
	size_t n = 0;

	for (;;) {
		if (n == CUST_COLS_MAX)
			return row_err(ld, "more than %d columns", CUST_COLS_MAX);
		while (is_blank(*r))
			r++;
		if (*r == '"') {
			char *w = ++r;

			start = w;
			for (;;) {
				if (!*r)
					return row_err(ld, "unterminated quote in column %zu", n + 1);
				if (*r == '"' && r[1] != '"')
					break;
				*w++ = *r;
				r += *r == '"' ? 2 : 1;
			}
			r++;
			while (is_blank(*r))
				r++;
			if (*r && *r != ',')
				return row_err(ld, "text after the closing quote in column %zu", n + 1);
			end = w;
		} else {
			start = r;
			while (*r && *r != ',')
				r++;
			end = r;
		}
		sep = *r;
		*end = '\0';
		ld->cells[n++] = trim(start);
		if (!sep)
			break;
		r++;
	}
	ld->ncells = n;
	return 0;
}

/* "Circuit ID" -> "circuitid"; false if too long to be a known name. */
static bool col_norm(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; *s; s++) {
		char c = *s;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			continue;
		if (n + 1 >= size)
			return false;
		out[n++] = c;
	}
	out[n] = '\0';
	return true;
}

static int col_known(const char *cell)
{
	char norm[32];
	size_t i;

	if (!col_norm(cell, norm, sizeof(norm)))
		return -1;
	for (i = 0; i < sizeof(known_cols) / sizeof(known_cols[0]); i++)
		if (!strcmp(norm, known_cols[i]))
			return (int)i;
	return -1;
}

/* Takes the first row as header if it names any known column. */
static int csv_columns(struct loader *ld)
{
	size_t i;
	int k;

	for (k = 0; k < COL_N; k++)
		ld->col[k] = -1;
	for (i = 0; i < ld->ncells; i++) {
		k = col_known(ld->cells[i]);
		if (k < 0)
			continue;
		ld->header = true;
		if (k >= COL_N)
			continue;
		if (ld->col[k] >= 0)
			return row_err(ld, "column %s given twice (columns %d and %zu)",
				       col_label[k], ld->col[k] + 1, i + 1);
		ld->col[k] = (int)i;
	}
	ld->have_cols = true;
	if (!ld->header) {
		memcpy(ld->col, legacy_col, sizeof(ld->col));
		ld->ncols = LEGACY_NCOLS;
		return 0;
	}
	ld->ncols = ld->ncells;
	if (ld->col[COL_ID] < 0)
		return row_err(ld, "header has no Circuit ID column");
	if (ld->col[COL_V4] < 0 && ld->col[COL_V6] < 0)
		return row_err(ld, "header has no IPv4 or IPv6 column");
	return 0;
}

static bool is_addr_sep(char c)
{
	return c == ',' || is_blank(c);
}

/* Adds the addresses of one cell (a list split at commas and blanks). */
static int csv_addrs(struct loader *ld, char *s, enum col col)
{
	const char *why, *start;
	struct prefix p;
	char save;
	int rc;

	for (;;) {
		while (is_addr_sep(*s))
			s++;
		if (!*s)
			return 0;
		start = s;
		while (*s && !is_addr_sep(*s))
			s++;
		save = *s;
		*s = '\0';
		if (prefix_parse(start, &p, &why))
			return row_err(ld, "bad address '%.*s' in column %s: %s", SHOW_MAX, start,
				       col_label[col], why);
		if (prefix_is_v4(&p) != (col == COL_V4))
			return row_err(ld, "%s address '%.*s' in column %s",
				       col == COL_V4 ? "IPv6" : "IPv4", SHOW_MAX, start,
				       col_label[col]);
		rc = add_prefix(ld, &p);
		if (rc)
			return rc;
		*s = save;
	}
}

static int csv_row(struct loader *ld)
{
	char *f[COL_N];
	size_t i, last = 0, pfx0 = ld->npfx;
	int k, rc;

	for (i = 0; i < ld->ncells; i++)
		if (ld->cells[i][0])
			last = i + 1;
	if (!last)
		return 0;	/* ",,,,": a blank row */
	if (!ld->have_cols) {
		rc = csv_columns(ld);
		if (rc || ld->header)
			return rc;
	}
	if (last > ld->ncols) {
		if (ld->header)
			return row_err(ld, "%zu columns, but the header has %zu (an address list not in quotes?)",
				       last, ld->ncols);
		return row_err(ld, "%zu columns, more than LibreQoS's %d (an address list not in quotes?)",
			       last, LEGACY_NCOLS);
	}
	for (k = 0; k < COL_N; k++)
		f[k] = ld->col[k] >= 0 && (size_t)ld->col[k] < ld->ncells ? ld->cells[ld->col[k]] : "";
	if (!f[COL_ID][0])
		return row_err(ld, "missing Circuit ID");
	rc = check_len(ld, "Circuit ID", f[COL_ID], CUST_ID_MAX);
	if (!rc)
		rc = check_len(ld, "Circuit Name", f[COL_NAME], CUST_NAME_MAX);
	if (!rc)
		rc = check_len(ld, "Parent Node", f[COL_PARENT], CUST_NAME_MAX);
	if (!rc)
		rc = csv_addrs(ld, f[COL_V4], COL_V4);
	if (!rc)
		rc = csv_addrs(ld, f[COL_V6], COL_V6);
	if (!rc)
		rc = add_row(ld, f[COL_ID], f[COL_NAME], f[COL_PARENT], pfx0);
	if (rc)
		ld->npfx = pfx0;
	return rc;
}

static int check_site(struct loader *ld, const char *site)
{
	size_t n = strlen(site);

	if (!n)
		return row_err(ld, "empty site=");
	if (n >= CUST_SITE_MAX)
		return row_err(ld, "site too long (%zu bytes, at most %d)", n, CUST_SITE_MAX - 1);
	if (site[0] == '/' || site[n - 1] == '/' || strstr(site, "//"))
		return row_err(ld, "site '%s' has an empty name between '/'", site);
	if (!utf8_valid(site, n))
		return row_err(ld, "site is not valid UTF-8 (save the file as UTF-8)");
	return 0;
}

/* "customer-id prefix [prefix...] [site=PATH]" */
static int plain_row(struct loader *ld, char *s)
{
	size_t pfx0 = ld->npfx;
	const char *id = s, *site = "", *why, *word;
	struct prefix p;
	int rc = 0;

	while (*s && !is_blank(*s))
		s++;
	if (*s)
		*s++ = '\0';
	rc = check_len(ld, "customer id", id, CUST_ID_MAX);
	while (!rc) {
		while (is_blank(*s))
			s++;
		if (!*s || *s == '#')
			break;
		if (!strncmp(s, "site=", 5)) {
			site = trim(s + 5);
			rc = check_site(ld, site);
			break;
		}
		word = s;
		while (*s && !is_blank(*s))
			s++;
		if (*s)
			*s++ = '\0';
		if (prefix_parse(word, &p, &why))
			rc = row_err(ld, "bad prefix '%.*s': %s", SHOW_MAX, word, why);
		else
			rc = add_prefix(ld, &p);
	}
	if (!rc && ld->npfx == pfx0)
		rc = row_err(ld, "no prefix for customer '%s'", id);
	if (!rc)
		rc = add_row(ld, id, "", site, pfx0);
	if (rc)
		ld->npfx = pfx0;
	return rc;
}

static bool comma_outside_quotes(const char *s)
{
	bool quoted = false;

	for (; *s; s++) {
		if (*s == '"')
			quoted = !quoted;
		else if (*s == ',' && !quoted)
			return true;
	}
	return false;
}

static int load_line(struct loader *ld, const char *p, size_t n, bool *first)
{
	char *s;
	int rc;

	if (n && p[n - 1] == '\r')
		n--;
	if (n > CUST_LINE_MAX)
		return row_err(ld, "line longer than %d bytes", CUST_LINE_MAX);
	if (memchr(p, '\0', n))
		return row_err(ld, "NUL byte in line");
	memcpy(ld->scratch, p, n);
	ld->scratch[n] = '\0';
	s = ld->scratch;
	while (is_blank(*s))
		s++;
	if (!*s || *s == '#')
		return 0;
	if (*first) {
		ld->plain = !comma_outside_quotes(s);
		*first = false;
	}
	if (ld->plain)
		return plain_row(ld, s);
	rc = csv_split(ld, s);
	return rc ? rc : csv_row(ld);
}

static const char *row_str(const struct loader *ld, uint32_t off)
{
	return ld->pool + off;
}

static int cmp_rows(const void *a, const void *b, void *arg)
{
	const struct loader *ld = arg;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	int c = strcmp(row_str(ld, ld->rows[i].id), row_str(ld, ld->rows[j].id));

	return c ? c : (i > j) - (i < j);	/* then file order */
}

static int cmp_pfx(const void *a, const void *b, void *arg)
{
	const struct loader *ld = arg;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	const struct prefix *p = &ld->pfx[i].p, *q = &ld->pfx[j].p;
	int c = memcmp(p->addr, q->addr, sizeof(p->addr));

	if (!c)
		c = (p->len > q->len) - (p->len < q->len);
	return c ? c : (i > j) - (i < j);
}

static uint32_t *index_array(size_t n)
{
	uint32_t *v = malloc((n ? n : 1) * sizeof(*v));
	size_t i;

	for (i = 0; v && i < n; i++)
		v[i] = (uint32_t)i;
	return v;
}

/* Rows of one customer must agree on Parent Node (CSV) or site= (plain). */
static void check_groups(struct loader *ld, const uint32_t *order, struct cfg_err *best)
{
	const char *what = ld->plain ? "site" : "Parent Node";
	const char *who = ld->plain ? "customer" : "circuit";
	size_t i, g = 0;

	for (i = 1; i <= ld->nrows; i++) {
		const struct row *r, *ref;

		if (i < ld->nrows && !strcmp(row_str(ld, ld->rows[order[i]].id),
					     row_str(ld, ld->rows[order[g]].id)))
			continue;
		/* rows order[g .. i) are one customer, in file order */
		ref = NULL;
		for (; g < i; g++) {
			r = &ld->rows[order[g]];
			if (ld->plain && !row_str(ld, r->where)[0])
				continue;
			if (!ref)
				ref = r;
			else if (strcmp(row_str(ld, r->where), row_str(ld, ref->where)))
				keep_first(best, ld->file, r->line,
					   "%s '%s' differs from '%s' given for %s '%s' at line %u",
					   what, row_str(ld, r->where), row_str(ld, ref->where), who,
					   row_str(ld, r->id), ref->line);
		}
	}
}

static void check_dups(struct loader *ld, const uint32_t *order, struct cfg_err *best)
{
	char buf[PREFIX_STRLEN];
	size_t i;

	for (i = 1; i < ld->npfx; i++) {
		const struct pent *a = &ld->pfx[order[i - 1]], *b = &ld->pfx[order[i]];
		const struct row *ra = &ld->rows[a->row];

		if (a->p.len != b->p.len || memcmp(a->p.addr, b->p.addr, sizeof(a->p.addr)))
			continue;
		keep_first(best, ld->file, ld->rows[b->row].line,
			   "duplicate prefix %s also owned by customer '%s' at line %u",
			   prefix_format(&b->p, buf, sizeof(buf)), row_str(ld, ra->id), ra->line);
	}
}

static int sites_build(const char **v, size_t n, char ***outp, size_t *noutp);

static int build(struct loader *ld, const uint32_t *order, struct custlist *out)
{
	const char **sites = NULL;
	size_t i, g;
	int rc;

	out->v = calloc(ld->nrows ? ld->nrows : 1, sizeof(*out->v));
	if (!out->v)
		return oom(ld);
	for (g = 0; g < ld->nrows; g = i) {
		const struct row *first = &ld->rows[order[g]];
		struct cust *c = &out->v[out->n];
		uint32_t n = 0;

		for (i = g; i < ld->nrows && !strcmp(row_str(ld, ld->rows[order[i]].id),
						     row_str(ld, first->id)); i++)
			n += ld->rows[order[i]].npfx;
		if (!n)
			continue;	/* a circuit without addresses */
		c->prefixes = malloc(n * sizeof(*c->prefixes));
		if (!c->prefixes)
			return oom(ld);
		out->n++;
		copy_str(c->id, sizeof(c->id), row_str(ld, first->id));
		c->line = first->line;
		if (!ld->plain)
			copy_str(c->parent, sizeof(c->parent), row_str(ld, first->where));
		for (i = g; i < ld->nrows && !strcmp(row_str(ld, ld->rows[order[i]].id), c->id); i++) {
			const struct row *r = &ld->rows[order[i]];
			uint32_t k;

			if (!c->name[0])
				copy_str(c->name, sizeof(c->name), row_str(ld, r->name));
			if (ld->plain && !c->site[0])
				copy_str(c->site, sizeof(c->site), row_str(ld, r->where));
			for (k = 0; k < r->npfx; k++) {
				const struct prefix *p = &ld->pfx[r->pfx0 + k].p;

				c->prefixes[c->nprefixes++] = *p;
				if (prefix_is_v4(p))
					out->nv4++;
				else
					out->nv6++;
			}
		}
		out->nprefixes += c->nprefixes;
	}
	sites = malloc((out->n ? out->n : 1) * sizeof(*sites));
	if (!sites)
		return oom(ld);
	for (i = 0; i < out->n; i++)
		sites[i] = out->v[i].site;
	rc = sites_build(sites, out->n, &out->sites, &out->nsites);
	free(sites);
	return rc ? oom(ld) : 0;
}

/*
 * After the rows are read (all of them, or those before an error at line
 * *err), checks what needs every row and keeps the earliest error.
 */
static int finish(struct loader *ld, int rc, struct custlist *out)
{
	uint32_t *rorder = index_array(ld->nrows), *porder = index_array(ld->npfx);
	struct cfg_err best = { .line = UINT_MAX };

	if (rc == -EINVAL)
		best = *ld->err;
	else if (rc)
		goto out;
	if (!rorder || !porder) {
		rc = oom(ld);
		goto out;
	}
	qsort_r(rorder, ld->nrows, sizeof(*rorder), cmp_rows, ld);
	qsort_r(porder, ld->npfx, sizeof(*porder), cmp_pfx, ld);
	check_groups(ld, rorder, &best);
	check_dups(ld, porder, &best);
	if (best.line != UINT_MAX) {
		*ld->err = best;
		rc = -EINVAL;
		goto out;
	}
	rc = build(ld, rorder, out);
out:
	free(porder);
	free(rorder);
	return rc;
}

int custlist_parse(const char *name, const char *buf, size_t len, struct custlist *out,
		   struct cfg_err *err)
{
	struct loader ld = { .file = name, .err = err };
	const char *p = buf, *end = buf + len, *nl;
	bool first = true;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	if (len > CUST_FILE_MAX)
		return cfg_err_set(err, name, 0, -EFBIG, "larger than %u bytes", CUST_FILE_MAX);
	ld.scratch = malloc(CUST_LINE_MAX + 1);
	if (!ld.scratch)
		return oom(&ld);
	if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;
	while (p < end && !rc) {
		nl = memchr(p, '\n', (size_t)(end - p));
		ld.line++;
		rc = load_line(&ld, p, (size_t)((nl ? nl : end) - p), &first);
		p = nl ? nl + 1 : end;
	}
	rc = finish(&ld, rc, out);
	if (rc)
		custlist_free(out);
	else
		copy_str(out->file, sizeof(out->file), name);
	free(ld.scratch);
	free(ld.rows);
	free(ld.pfx);
	free(ld.pool);
	return rc;
}

int custlist_load(const char *path, struct custlist *out, struct cfg_err *err)
{
	size_t len;
	char *buf;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	rc = read_all(path, &buf, &len, err);
	if (rc)
		return rc;
	rc = custlist_parse(path, buf, len, out, err);
	free(buf);
	return rc;
}

/* ---- sites -------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Distinct non-empty strings of v (sorted in place) into a new array. */
static int sites_build(const char **v, size_t n, char ***outp, size_t *noutp)
{
	char **out;
	size_t i, k = 0;

	qsort(v, n, sizeof(*v), cmp_str);
	out = calloc(n ? n : 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (!v[i][0] || (k && !strcmp(out[k - 1], v[i])))
			continue;
		out[k] = strdup(v[i]);
		if (!out[k]) {
			while (k)
				free(out[--k]);
			free(out);
			return -ENOMEM;
		}
		k++;
	}
	*outp = out;
	*noutp = k;
	return 0;
}

/* ---- network.json ------------------------------------------------- */

struct node {
	const char *name;	/* the key, owned by json-c */
	int parent;		/* -1 at the top */
	char *path;		/* built when a customer needs it */
};

struct net {
	const char *file;
	struct cfg_err *err;
	struct node *v;
	size_t n, cap;
};

static int net_walk(struct net *t, struct json_object *obj, int parent)
{
	json_object_object_foreach(obj, key, val) {
		struct json_object *children;
		struct node *nv = grow(t->v, &t->cap, t->n + 1, sizeof(*nv));
		int idx = (int)t->n, rc;

		if (!nv || t->n >= INT_MAX)
			return cfg_err_set(t->err, t->file, 0, -ENOMEM, "out of memory");
		t->v = nv;
		nv[t->n++] = (struct node){ .name = key, .parent = parent };
		if (!json_object_is_type(val, json_type_object))
			return cfg_err_set(t->err, t->file, 0, -EINVAL, "node '%s' is not an object", key);
		if (!json_object_object_get_ex(val, "children", &children) || !children)
			continue;
		if (!json_object_is_type(children, json_type_object))
			return cfg_err_set(t->err, t->file, 0, -EINVAL,
				       "\"children\" of node '%s' is not an object", key);
		rc = net_walk(t, children, idx);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Path from the top to node i, cached. Returns 0, or -EINVAL with *why
 * set (and *bad the offending name) when the path cannot be one.
 */
static int node_path(struct net *t, int i, const char **out, const char **why, const char **bad)
{
	char buf[CUST_SITE_MAX];
	size_t len = 0, n;
	int j;

	if (t->v[i].path) {
		*out = t->v[i].path;
		return 0;
	}
	/* names from the node up, written right to left */
	buf[sizeof(buf) - 1] = '\0';
	for (j = i; j >= 0; j = t->v[j].parent) {
		const char *name = t->v[j].name;

		n = strlen(name);
		*bad = name;
		if (!n || strchr(name, '/')) {
			*why = n ? "has a '/' in its name" : "has an empty name";
			return -EINVAL;
		}
		if (len + n + (len ? 1 : 0) > sizeof(buf) - 1) {
			*bad = t->v[i].name;
			*why = "is too deep: site path longer than 255 bytes";
			return -EINVAL;
		}
		if (len)
			buf[sizeof(buf) - 2 - len++] = '/';
		memcpy(buf + sizeof(buf) - 1 - len - n, name, n);
		len += n;
	}
	t->v[i].path = strdup(buf + sizeof(buf) - 1 - len);
	if (!t->v[i].path)
		return -ENOMEM;
	*out = t->v[i].path;
	return 0;
}

static int cmp_node(const void *a, const void *b, void *arg)
{
	const struct net *t = arg;
	int i = *(const int *)a, j = *(const int *)b;
	int c = strcmp(t->v[i].name, t->v[j].name);

	return c ? c : (i > j) - (i < j);	/* then tree order */
}

/* First index in the sorted order whose node is named name. */
static size_t node_lower(const struct net *t, const int *order, const char *name)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(t->v[order[mid]].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Sets site[i] to customer i's new site, or keeps the earliest error. */
static int net_resolve(struct net *t, const int *order, const struct custlist *l,
		       const char **site, struct cfg_err *best)
{
	const char *lfile = l->file[0] ? l->file : "customers";
	size_t i, k, cnt;

	for (i = 0; i < l->n; i++) {
		const struct cust *c = &l->v[i];
		const char *why, *bad, *p2;
		int rc;

		site[i] = c->site;
		if (!c->parent[0])
			continue;	/* no Parent Node, or a plain list's site= */
		k = node_lower(t, order, c->parent);
		for (cnt = 0; k + cnt < t->n && !strcmp(t->v[order[k + cnt]].name, c->parent); cnt++)
			;
		if (!cnt) {
			keep_first(best, lfile, c->line, "Parent Node '%s' not found in %s",
				   c->parent, t->file);
			continue;
		}
		rc = node_path(t, order[k], &site[i], &why, &bad);
		if (rc == -ENOMEM)
			return rc;
		if (rc) {
			keep_first(best, lfile, c->line, "Parent Node '%s': node '%s' in %s %s",
				   c->parent, bad, t->file, why);
			continue;
		}
		if (cnt > 1) {
			rc = node_path(t, order[k + 1], &p2, &why, &bad);
			if (rc == -ENOMEM)
				return rc;
			keep_first(best, lfile, c->line,
				   "Parent Node '%s' is ambiguous: %s has it %zu times ('%s', '%s')",
				   c->parent, t->file, cnt, site[i], rc ? "?" : p2);
		}
	}
	return 0;
}

static unsigned line_of(const char *buf, size_t off)
{
	unsigned line = 1;
	size_t i;

	for (i = 0; i < off; i++)
		line += buf[i] == '\n';
	return line;
}

static int net_parse(const char *name, const char *buf, size_t len, struct json_object **objp,
		     struct cfg_err *err)
{
	struct json_tokener *tok = json_tokener_new();
	enum json_tokener_error jerr;
	struct json_object *obj;
	size_t end;

	if (!tok)
		return cfg_err_set(err, name, 0, -ENOMEM, "out of memory");
	if (len > INT_MAX) {
		json_tokener_free(tok);
		return cfg_err_set(err, name, 0, -EFBIG, "larger than %d bytes", INT_MAX);
	}
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_continue)
		return cfg_err_set(err, name, line_of(buf, len), -EINVAL, "unexpected end of file");
	if (jerr != json_tokener_success || !obj) {
		json_object_put(obj);
		return cfg_err_set(err, name, line_of(buf, end), -EINVAL, "%s",
			       json_tokener_error_desc(jerr));
	}
	while (end < len && (is_blank(buf[end]) || buf[end] == '\n' || buf[end] == '\r'))
		end++;
	if (end < len) {
		json_object_put(obj);
		return cfg_err_set(err, name, line_of(buf, end), -EINVAL,
			       "text after the end of the top-level object");
	}
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return cfg_err_set(err, name, 0, -EINVAL, "the top level is not an object");
	}
	*objp = obj;
	return 0;
}

int custlist_apply_network_buf(struct custlist *l, const char *name, const char *buf,
			       size_t len, struct cfg_err *err)
{
	struct net t = { .file = name, .err = err };
	struct cfg_err best = { .line = UINT_MAX };
	struct json_object *obj = NULL;
	const char **site = NULL, **tmp = NULL;
	char **sites = NULL;
	size_t i, nsites = 0;
	int *order = NULL;
	int rc;

	memset(err, 0, sizeof(*err));
	rc = net_parse(name, buf, len, &obj, err);
	if (rc)
		return rc;
	rc = net_walk(&t, obj, -1);
	if (rc)
		goto out;
	order = malloc((t.n ? t.n : 1) * sizeof(*order));
	site = calloc(l->n ? l->n : 1, sizeof(*site));
	tmp = calloc(l->n ? l->n : 1, sizeof(*tmp));
	if (!order || !site || !tmp)
		goto out_nomem;
	for (i = 0; i < t.n; i++)
		order[i] = (int)i;
	qsort_r(order, t.n, sizeof(*order), cmp_node, &t);
	rc = net_resolve(&t, order, l, site, &best);
	if (rc)
		goto out_nomem;
	if (best.line != UINT_MAX) {
		*err = best;
		rc = -EINVAL;
		goto out;
	}
	memcpy(tmp, site, l->n * sizeof(*tmp));
	if (sites_build(tmp, l->n, &sites, &nsites))
		goto out_nomem;
	/* nothing fails from here: commit */
	for (i = 0; i < l->n; i++)
		if (site[i] != l->v[i].site)
			copy_str(l->v[i].site, sizeof(l->v[i].site), site[i]);
	for (i = 0; i < l->nsites; i++)
		free(l->sites[i]);
	free(l->sites);
	l->sites = sites;
	l->nsites = nsites;
	rc = 0;
	goto out;

out_nomem:
	rc = cfg_err_set(err, name, 0, -ENOMEM, "out of memory");
out:
	for (i = 0; i < t.n; i++)
		free(t.v[i].path);
	free(t.v);
	free(tmp);
	free(site);
	free(order);
	json_object_put(obj);
	return rc;
}

int custlist_apply_network(struct custlist *l, const char *json_path, struct cfg_err *err)
{
	size_t len;
	char *buf;
	int rc;

	memset(err, 0, sizeof(*err));
	rc = read_all(json_path, &buf, &len, err);
	if (rc)
		return rc;
	rc = custlist_apply_network_buf(l, json_path, buf, len, err);
	free(buf);
	return rc;
}

/* ---- lookup ------------------------------------------------------- */

static int cmp_id(const void *key, const void *elem)
{
	return strcmp(key, ((const struct cust *)elem)->id);
}

const struct cust *custlist_find(const struct custlist *l, const char *id)
{
	if (!l->n)
		return NULL;
	return bsearch(id, l->v, l->n, sizeof(*l->v), cmp_id);
}

void custlist_free(struct custlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].prefixes);
	free(l->v);
	for (i = 0; i < l->nsites; i++)
		free(l->sites[i]);
	free(l->sites);
	memset(l, 0, sizeof(*l));
}
