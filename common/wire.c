// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * pingfold's wire format (docs/wire.md), written and read here without a
 * library. The writer puts MessagePack's shortest forms straight into one
 * buffer (byte for byte what msgpack-c's packer writes; wire_test compares
 * them). The reader does not use msgpack_unpack(), which trusts container
 * lengths: here every length is checked against the bytes that remain
 * before it is used, and nothing is allocated that the remaining bytes
 * cannot back.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "utf8.h"
#include "wire.h"

/* Positional fields of each array; more may follow (docs/wire.md). */
#define DELTA_FIELDS		8	/* ver box epoch seq start end scale hists */
#define HIST_FIELDS		8	/* key half count sum min max slot buckets */
#define CATALOG_FIELDS		5	/* ver box epoch seq custs */
#define CUST_FIELDS		4	/* key id name site */
#define STATS_FIELDS		6	/* ver box epoch seq time map */
#define REQ_FIELDS		5	/* ver box epoch first last */
#define REP_FIELDS		4	/* ver status first_available msgs */

/* Fewest bytes one entry can take: what a count must be backed by. */
#define HIST_MIN_BYTES		10
#define CUST_MIN_BYTES		5
#define BLOB_MIN_BYTES		2

static const char *const kind_name[] = {
	[WIRE_DELTA] = "delta",
	[WIRE_CATALOG] = "catalog",
	[WIRE_STATS] = "stats",
};

/* ---- validation shared by encoder and decoder ------------------------- */

const char *wire_box_check(const char *s, size_t n)
{
	size_t i;

	if (!n)
		return "box id empty";
	if (n >= WIRE_BOX_MAX)
		return "box id longer than 63 bytes";
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return "box id has a byte outside printable ASCII (or a space)";
		if (s[i] == '/')
			return "box id has a '/'";
	}
	return NULL;
}

bool wire_box_ok(const char *box)
{
	return !wire_box_check(box, strnlen(box, WIRE_BOX_MAX));
}


/* A catalog string of at most cap-1 bytes; id must not be empty. */
static const char *cust_str_check(const char *s, size_t n, size_t cap, bool empty_ok)
{
	if (!n && !empty_ok)
		return "empty";
	if (n >= cap)
		return "too long";
	if (!utf8_valid(s, n))
		return "not valid UTF-8";
	return NULL;
}

/* A stat name: 1..31 bytes of printable ASCII without space. */
static const char *stat_name_check(const char *s, size_t n)
{
	size_t i;

	if (!n)
		return "stat name empty";
	if (n >= sizeof(((struct wire_stat *)0)->name))
		return "stat name longer than 31 bytes";
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return "stat name has a byte outside printable ASCII";
	return NULL;
}

/*
 * One customer-half as a delta holds it, against the entry before it
 * (prev, or NULL): its place, then hist_check_buckets' rule.
 */
static const char *hist_check(const struct wire_hist *h, const struct wire_bucket *b,
			      const struct wire_hist *prev)
{
	if (h->half > 1)
		return "half unknown (not 0 or 1)";
	if (prev && (h->key < prev->key || (h->key == prev->key && h->half <= prev->half)))
		return "(key, half) not increasing";
	return hist_check_buckets(h->count, h->min, h->max, &b->slot, &b->n, sizeof(*b),
				  sizeof(*b), h->nb);
}
/* ---- building ---------------------------------------------------------- */

void wire_delta_init(struct wire_delta *d)
{
	memset(d, 0, sizeof(*d));
	d->scale = PF_HIST_SCALE;
}

void wire_delta_reset(struct wire_delta *d)
{
	d->nh = 0;
	d->nb = 0;
}

void wire_delta_free(struct wire_delta *d)
{
	free(d->h);
	free(d->b);
	wire_delta_init(d);
}

static int delta_reserve(struct wire_delta *d, uint32_t nh, uint32_t nb)
{
	if (nh > d->cap_h) {
		uint32_t cap = d->cap_h ? d->cap_h : 64;
		struct wire_hist *h;

		while (cap < nh)
			cap = cap > UINT32_MAX / 2 ? nh : cap * 2;
		h = realloc(d->h, (size_t)cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		d->h = h;
		d->cap_h = cap;
	}
	if (nb > d->cap_b) {
		uint32_t cap = d->cap_b ? d->cap_b : 256;
		struct wire_bucket *b;

		while (cap < nb)
			cap = cap > UINT32_MAX / 2 ? nb : cap * 2;
		b = realloc(d->b, (size_t)cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		d->b = b;
		d->cap_b = cap;
	}
	return 0;
}

int wire_delta_reserve(struct wire_delta *d, uint32_t nh, uint32_t nb)
{
	int err = delta_reserve(d, nh, nb);

	if (err)
		return err;
	memset(d->h + d->nh, 0, (size_t)(d->cap_h - d->nh) * sizeof(*d->h));
	memset(d->b + d->nb, 0, (size_t)(d->cap_b - d->nb) * sizeof(*d->b));
	return 0;
}

int wire_delta_add(struct wire_delta *d, uint32_t key, uint8_t half,
		   const struct hist_sparse *s)
{
	struct wire_hist *h;
	uint32_t i;
	int err;

	if (d->nh >= WIRE_MAX_HISTS)
		return -E2BIG;
	if (s->n > PF_HIST_NSLOTS)
		return -EINVAL;
	err = delta_reserve(d, d->nh + 1, d->nb + s->n);
	if (err)
		return err;
	h = &d->h[d->nh];
	*h = (struct wire_hist){ .key = key, .half = half, .count = s->count, .sum = s->sum,
				 .min = s->min, .max = s->max, .off = d->nb, .nb = s->n };
	for (i = 0; i < s->n; i++)
		d->b[d->nb + i] = (struct wire_bucket){ .slot = s->idx[i], .n = s->cnt[i] };
	if (hist_check(h, d->b + h->off, d->nh ? h - 1 : NULL))
		return -EINVAL;
	d->nh++;
	d->nb += s->n;
	return 0;
}

void wire_delta_get(const struct wire_delta *d, uint32_t i, struct hist_sparse *out)
{
	const struct wire_hist *h = &d->h[i];
	uint32_t k;

	out->count = h->count;
	out->sum = h->sum;
	out->min = h->min;
	out->max = h->max;
	out->n = h->nb;
	for (k = 0; k < h->nb; k++) {
		out->idx[k] = d->b[h->off + k].slot;
		out->cnt[k] = d->b[h->off + k].n;
	}
}

void wire_catalog_init(struct wire_catalog *c)
{
	memset(c, 0, sizeof(*c));
}

void wire_catalog_free(struct wire_catalog *c)
{
	free(c->c);
	wire_catalog_init(c);
}

static int catalog_reserve(struct wire_catalog *c, uint32_t n)
{
	struct wire_cust *v;
	uint32_t cap;

	if (n <= c->cap)
		return 0;
	cap = c->cap ? c->cap * 2 : 64;
	if (cap < n)
		cap = n;
	v = realloc(c->c, (size_t)cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->c = v;
	c->cap = cap;
	return 0;
}

/* Checks a catalog entry against the one before it: NULL or what is wrong. */
static const char *cust_check(const struct wire_cust *e, const struct wire_cust *prev)
{
	if (prev && e->key <= prev->key)
		return "keys not increasing";
	if (cust_str_check(e->id, strnlen(e->id, sizeof(e->id)), sizeof(e->id), false))
		return "bad id";
	if (cust_str_check(e->name, strnlen(e->name, sizeof(e->name)), sizeof(e->name), true))
		return "bad name";
	if (cust_str_check(e->site, strnlen(e->site, sizeof(e->site)), sizeof(e->site), true))
		return "bad site";
	return NULL;
}

int wire_catalog_add(struct wire_catalog *c, uint32_t key, const char *id,
		     const char *name, const char *site)
{
	struct wire_cust *e;
	size_t li = strlen(id), ln = strlen(name), ls = strlen(site);
	int err;

	if (c->n >= WIRE_MAX_CUSTS)
		return -E2BIG;
	if (li >= sizeof(e->id) || ln >= sizeof(e->name) || ls >= sizeof(e->site))
		return -ENAMETOOLONG;
	err = catalog_reserve(c, c->n + 1);
	if (err)
		return err;
	e = &c->c[c->n];
	e->key = key;
	memcpy(e->id, id, li + 1);
	memcpy(e->name, name, ln + 1);
	memcpy(e->site, site, ls + 1);
	if (cust_check(e, c->n ? e - 1 : NULL))
		return -EINVAL;
	c->n++;
	return 0;
}

/* ---- encoding ---------------------------------------------------------- */

/*
 * The writer: MessagePack's smallest form of each value (what msgpack-c's
 * packer writes, byte for byte: wire_test compares them) into one growing
 * buffer. Room is made before a group of values (enc_room), and each
 * value is then written inline: a delta of 100,000 customer-halves is a
 * million values, and a call through a write callback for each one was
 * most of the encoding time. Room is made for a group's most bytes, so
 * the buffer may go up to ENC_MAX, a little past WIRE_MAX_MSG, before
 * enc_finish measures the message against the limit.
 */
#define ENC_MAX		((size_t)WIRE_MAX_MSG + (64u << 10))

struct enc {
	uint8_t *buf;
	size_t len, cap;
	int err;		/* out of memory, or past WIRE_MAX_MSG */
};

/* Room for n more bytes; false (and e->err) when there is none. */
static bool enc_room(struct enc *e, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (e->err)
		return false;
	if (n <= e->cap - e->len)
		return true;
	if (n > ENC_MAX - e->len) {
		e->err = -E2BIG;
		return false;
	}
	cap = e->cap ? e->cap : 4096;
	while (cap - e->len < n)
		cap *= 2;
	p = realloc(e->buf, cap);
	if (!p) {
		e->err = -ENOMEM;
		return false;
	}
	e->buf = p;
	e->cap = cap;
	return true;
}

static inline void w8(struct enc *e, uint8_t v)
{
	e->buf[e->len++] = v;
}

static inline void wbe(struct enc *e, uint64_t v, unsigned n)
{
	while (n--)
		w8(e, (uint8_t)(v >> (8 * n)));
}

/* A header: 'fix' holds n < fix_max in its low bits, else 8/16/32-bit forms. */
static inline void w_hdr(struct enc *e, uint8_t fix, uint32_t fix_max, uint8_t t8, uint8_t t16,
			 uint8_t t32, uint32_t n)
{
	if (n < fix_max)
		w8(e, fix | (uint8_t)n);
	else if (t8 && n <= 0xff)
		w8(e, t8), w8(e, (uint8_t)n);
	else if (n <= 0xffff)
		w8(e, t16), wbe(e, n, 2);
	else
		w8(e, t32), wbe(e, n, 4);
}

/* Writers without a room check: at most 9 bytes each. */
static inline void w_uint(struct enc *e, uint64_t v)
{
	if (v < 0x80)
		w8(e, (uint8_t)v);
	else if (v <= 0xff)
		w8(e, 0xcc), w8(e, (uint8_t)v);
	else if (v <= 0xffff)
		w8(e, 0xcd), wbe(e, v, 2);
	else if (v <= 0xffffffff)
		w8(e, 0xce), wbe(e, v, 4);
	else
		w8(e, 0xcf), wbe(e, v, 8);
}

static inline void w_array(struct enc *e, uint32_t n)
{
	w_hdr(e, 0x90, 16, 0, 0xdc, 0xdd, n);
}

static void put_uint(struct enc *e, uint64_t v)
{
	if (enc_room(e, 9))
		w_uint(e, v);
}

static void put_array(struct enc *e, uint32_t n)
{
	if (enc_room(e, 5))
		w_array(e, n);
}

static void put_map(struct enc *e, uint32_t n)
{
	if (enc_room(e, 5))
		w_hdr(e, 0x80, 16, 0, 0xde, 0xdf, n);
}

static void put_raw(struct enc *e, const void *p, size_t n)
{
	if (enc_room(e, n)) {
		memcpy(e->buf + e->len, p, n);
		e->len += n;
	}
}

/* A string (str) or binary (bin): its head, then its bytes. */
static void put_bytes(struct enc *e, bool str, const void *p, size_t n)
{
	if (n > UINT32_MAX) {
		e->err = -E2BIG;
		return;
	}
	if (enc_room(e, 5)) {
		if (str)
			w_hdr(e, 0xa0, 32, 0xd9, 0xda, 0xdb, (uint32_t)n);
		else
			w_hdr(e, 0, 0, 0xc4, 0xc5, 0xc6, (uint32_t)n);
	}
	put_raw(e, p, n);
}

static void put_str(struct enc *e, const char *s)
{
	put_bytes(e, true, s, strlen(s));
}

/* Starts a message: the topic "KIND/BOX" and its NUL, or nothing. */
static void enc_start(struct enc *e, enum wire_kind kind, const char *box)
{
	memset(e, 0, sizeof(*e));
	if (kind) {
		const char *k = kind_name[kind];

		put_raw(e, k, strlen(k));
		put_raw(e, "/", 1);
		put_raw(e, box, strlen(box) + 1);
	}
}

static int enc_finish(struct enc *e, char **buf, size_t *len)
{
	if (!e->err && e->len > WIRE_MAX_MSG)
		e->err = -E2BIG;
	if (e->err) {
		free(e->buf);
		return e->err;
	}
	*len = e->len;
	*buf = (char *)e->buf;
	return 0;
}

/* The header fields every topic'd body starts with. */
static void put_head(struct enc *e, uint32_t nfields, const char *box, uint64_t epoch,
		     uint64_t seq)
{
	put_array(e, nfields);
	put_uint(e, WIRE_VERSION);
	put_str(e, box);
	put_uint(e, epoch);
	put_uint(e, seq);
}

int wire_encode_delta(const struct wire_delta *d, char **buf, size_t *len)
{
	struct enc e;
	uint32_t i, k;

	if (!wire_box_ok(d->box) || d->scale != PF_HIST_SCALE || d->nh > WIRE_MAX_HISTS)
		return -EINVAL;
	enc_start(&e, WIRE_DELTA, d->box);
	put_head(&e, DELTA_FIELDS, d->box, d->epoch, d->seq);
	put_uint(&e, d->start_ns);
	put_uint(&e, d->end_ns);
	put_uint(&e, d->scale);
	put_array(&e, d->nh);
	for (i = 0; i < d->nh; i++) {
		const struct wire_hist *h = &d->h[i];
		const struct wire_bucket *b = d->b + h->off;

		/* checked as it is written: one pass over what may be out of cache */
		if (h->off > d->nb || h->nb > d->nb - h->off ||
		    hist_check(h, b, i ? h - 1 : NULL)) {
			free(e.buf);
			return -EINVAL;
		}
		/* two array heads, seven numbers, 2 nb - 1 bucket numbers */
		if (!enc_room(&e, 2 * 5 + 9 * (7 + 2 * (size_t)h->nb)))
			break;
		w_array(&e, HIST_FIELDS);
		w_uint(&e, h->key);
		w_uint(&e, h->half);
		w_uint(&e, h->count);
		w_uint(&e, h->sum);
		w_uint(&e, h->min);
		w_uint(&e, h->max);
		w_uint(&e, b[0].slot);
		/* n0, gap1, n1, gap2, n2, ...: gap = slot difference, >= 1 */
		w_array(&e, 2 * h->nb - 1);
		w_uint(&e, b[0].n);
		for (k = 1; k < h->nb; k++) {
			w_uint(&e, b[k].slot - b[k - 1].slot);
			w_uint(&e, b[k].n);
		}
	}
	return enc_finish(&e, buf, len);
}

int wire_encode_catalog(const struct wire_catalog *c, char **buf, size_t *len)
{
	struct enc e;
	uint32_t i;

	if (!wire_box_ok(c->box) || c->n > WIRE_MAX_CUSTS)
		return -EINVAL;
	for (i = 0; i < c->n; i++)
		if (cust_check(&c->c[i], i ? &c->c[i - 1] : NULL))
			return -EINVAL;
	enc_start(&e, WIRE_CATALOG, c->box);
	put_head(&e, CATALOG_FIELDS, c->box, c->epoch, c->seq);
	put_array(&e, c->n);
	for (i = 0; i < c->n; i++) {
		put_array(&e, CUST_FIELDS);
		put_uint(&e, c->c[i].key);
		put_str(&e, c->c[i].id);
		put_str(&e, c->c[i].name);
		put_str(&e, c->c[i].site);
	}
	return enc_finish(&e, buf, len);
}

int wire_encode_stats(const struct wire_stats *s, char **buf, size_t *len)
{
	struct enc e;
	uint32_t i, j;

	if (!wire_box_ok(s->box) || s->n > WIRE_MAX_STATS)
		return -EINVAL;
	for (i = 0; i < s->n; i++) {
		const char *nm = s->s[i].name;

		if (stat_name_check(nm, strnlen(nm, sizeof(s->s[i].name))))
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (!strcmp(nm, s->s[j].name))
				return -EINVAL;
	}
	enc_start(&e, WIRE_STATS, s->box);
	put_head(&e, STATS_FIELDS, s->box, s->epoch, s->seq);
	put_uint(&e, s->time_ns);
	put_map(&e, s->n);
	for (i = 0; i < s->n; i++) {
		put_str(&e, s->s[i].name);
		put_uint(&e, s->s[i].value);
	}
	return enc_finish(&e, buf, len);
}

int wire_encode_replay_req(const struct wire_replay_req *r, char **buf, size_t *len)
{
	struct enc e;

	if (!wire_box_ok(r->box) || r->first > r->last)
		return -EINVAL;
	enc_start(&e, 0, NULL);
	put_head(&e, REQ_FIELDS, r->box, r->epoch, r->first);
	put_uint(&e, r->last);
	return enc_finish(&e, buf, len);
}

int wire_encode_replay_rep(int status, uint64_t first_available, const struct wire_blob *msgs,
			   uint32_t n, char **buf, size_t *len)
{
	struct enc e;
	uint32_t i;

	if (status < WIRE_REPLAY_OK || status > WIRE_REPLAY_NO_EPOCH)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (msgs[i].len > WIRE_MAX_MSG)
			return -E2BIG;
		if (wire_kind_of(msgs[i].p, msgs[i].len) != WIRE_DELTA)
			return -EINVAL;
	}
	enc_start(&e, 0, NULL);
	put_array(&e, REP_FIELDS);
	put_uint(&e, WIRE_VERSION);
	put_uint(&e, (uint64_t)status);
	put_uint(&e, first_available);
	put_array(&e, n);
	for (i = 0; i < n; i++) {
		put_bytes(&e, false, msgs[i].p, msgs[i].len);
		if (e.err)
			break;		/* enc_finish says why */
	}
	return enc_finish(&e, buf, len);
}

/* ---- the reader ---------------------------------------------------------- */

/*
 * A cursor over the bytes of one message. Failures format the reason
 * into a thread-local buffer: "KIND: WHERE: FIELD: what".
 */
struct dec {
	const uint8_t *p, *end;
	const char *kind;	/* "delta", "replay request", ... */
	const char *where;	/* "hist", "customer", ... or NULL; formatted only */
	uint32_t where_i;	/* on failure, with its index: "hist 3: " */
	const char **why;
};

static __thread char wire_why[192];

__attribute__((format(printf, 3, 4)))
static int dec_fail(struct dec *c, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->where)
		n = snprintf(wire_why, sizeof(wire_why), "%s: %s %u: ", c->kind, c->where,
			     c->where_i);
	else
		n = snprintf(wire_why, sizeof(wire_why), "%s: ", c->kind);
	if (n < 0 || (size_t)n >= sizeof(wire_why))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(wire_why + n, sizeof(wire_why) - (size_t)n, fmt, ap);
	va_end(ap);
	*c->why = wire_why;
	return err;
}

static size_t left(const struct dec *c)
{
	return (size_t)(c->end - c->p);
}

static uint64_t be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

/*
 * An unsigned integer: positive fixint, uint 8..64, or a signed int
 * 8..64 holding a value >= 0 (other packers may choose those).
 */
static int get_uint(struct dec *c, const char *field, uint64_t max, uint64_t *v)
{
	unsigned n;
	bool sgn = false;
	uint8_t t;

	if (!left(c))
		return dec_fail(c, -EINVAL, "%s: truncated", field);
	t = *c->p;
	if (t <= 0x7f) {
		*v = t;
		n = 0;
	} else if (t >= 0xe0) {
		return dec_fail(c, -EINVAL, "%s: negative", field);
	} else if (t >= 0xcc && t <= 0xcf) {
		n = 1u << (t - 0xcc);
	} else if (t >= 0xd0 && t <= 0xd3) {
		n = 1u << (t - 0xd0);
		sgn = true;
	} else {
		return dec_fail(c, -EINVAL, "%s: not an unsigned integer", field);
	}
	if (left(c) < 1 + n)
		return dec_fail(c, -EINVAL, "%s: truncated", field);
	if (n) {
		*v = be(c->p + 1, n);
		if (sgn && *v >> (8 * n - 1))
			return dec_fail(c, -EINVAL, "%s: negative", field);
	}
	if (*v > max)
		return dec_fail(c, -EINVAL, "%s: %llu out of range (at most %llu)", field,
				(unsigned long long)*v, (unsigned long long)max);
	c->p += 1 + n;
	return 0;
}

/*
 * A container or string header: type byte, then the count in 0, 2 or 4
 * bytes. fix_lo..fix_hi are the "fix" types holding the count in the low
 * bits (mask); l16/l32 (and l8, when not 0) the long forms.
 */
struct hdr_kind {
	const char *name;
	uint8_t fix_lo, fix_hi, mask, l8, l16, l32;
};

static const struct hdr_kind K_ARRAY = { "an array", 0x90, 0x9f, 0x0f, 0, 0xdc, 0xdd };
static const struct hdr_kind K_MAP = { "a map", 0x80, 0x8f, 0x0f, 0, 0xde, 0xdf };
static const struct hdr_kind K_STR = { "a string", 0xa0, 0xbf, 0x1f, 0xd9, 0xda, 0xdb };
static const struct hdr_kind K_BIN = { "binary", 0xff, 0x00, 0, 0xc4, 0xc5, 0xc6 };

static int get_hdr(struct dec *c, const char *field, const struct hdr_kind *k, uint32_t *n)
{
	unsigned lb;
	uint8_t t;

	if (!left(c))
		return dec_fail(c, -EINVAL, "%s: truncated", field);
	t = *c->p;
	if (t >= k->fix_lo && t <= k->fix_hi) {
		*n = t & k->mask;
		c->p++;
		return 0;
	}
	if (k->l8 && t == k->l8)
		lb = 1;
	else if (t == k->l16)
		lb = 2;
	else if (t == k->l32)
		lb = 4;
	else
		return dec_fail(c, -EINVAL, "%s: not %s", field, k->name);
	if (left(c) < 1 + lb)
		return dec_fail(c, -EINVAL, "%s: truncated", field);
	*n = (uint32_t)be(c->p + 1, lb);
	c->p += 1 + lb;
	return 0;
}

/* An array of n entries, each at least min_bytes long, all of them still in the buffer. */
static int get_array(struct dec *c, const char *field, size_t min_bytes, uint32_t *n)
{
	int err = get_hdr(c, field, &K_ARRAY, n);

	if (err)
		return err;
	if (*n > left(c) / min_bytes)
		return dec_fail(c, -EINVAL, "%s: %u entries but only %zu bytes left", field,
				*n, left(c));
	return 0;
}

/* A string or binary of n bytes, all still in the buffer. */
static int get_bytes(struct dec *c, const char *field, const struct hdr_kind *k,
		     const void **p, uint32_t *n)
{
	int err = get_hdr(c, field, k, n);

	if (err)
		return err;
	if (*n > left(c))
		return dec_fail(c, -EINVAL, "%s: length %u but only %zu bytes left", field, *n,
				left(c));
	*p = c->p;
	c->p += *n;
	return 0;
}

/* Skips one value of any type, containers included, without recursion. */
static int skip_value(struct dec *c, const char *field)
{
	uint64_t pending = 1;

	while (pending) {
		uint64_t items = 0, body = 0;
		unsigned hdr = 1, lb = 0;
		uint8_t t;

		if (!left(c))
			return dec_fail(c, -EINVAL, "%s: truncated", field);
		t = *c->p;
		if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
			;
		else if (t <= 0x8f)
			items = 2 * (t & 0x0f);
		else if (t <= 0x9f)
			items = t & 0x0f;
		else if (t <= 0xbf)
			body = t & 0x1f;
		else if (t == 0xc4 || t == 0xd9)	/* bin8, str8 */
			lb = 1;
		else if (t == 0xc5 || t == 0xda)
			lb = 2;
		else if (t == 0xc6 || t == 0xdb)
			lb = 4;
		else if (t >= 0xc7 && t <= 0xc9)	/* ext 8/16/32: length, type */
			lb = 1u << (t - 0xc7), hdr = 2;
		else if (t == 0xca)
			body = 4;
		else if (t == 0xcb)
			body = 8;
		else if (t >= 0xcc && t <= 0xcf)
			body = 1u << (t - 0xcc);
		else if (t >= 0xd0 && t <= 0xd3)
			body = 1u << (t - 0xd0);
		else if (t >= 0xd4 && t <= 0xd8)	/* fixext: type + 1..16 bytes */
			body = 1 + (1u << (t - 0xd4));
		else if (t == 0xdc || t == 0xde)
			lb = 2;
		else if (t == 0xdd || t == 0xdf)
			lb = 4;
		else
			return dec_fail(c, -EINVAL, "%s: invalid type byte 0x%02x", field, t);
		if (lb) {
			uint64_t n;

			if (left(c) < 1 + lb)
				return dec_fail(c, -EINVAL, "%s: truncated", field);
			n = be(c->p + 1, lb);
			if (t >= 0xdc)
				items = t >= 0xde ? 2 * n : n;
			else
				body = n;
			hdr += lb;
		}
		if (left(c) < hdr || body > left(c) - hdr)
			return dec_fail(c, -EINVAL, "%s: truncated", field);
		c->p += hdr + body;
		pending += items - 1;
		if (pending > left(c))
			return dec_fail(c, -EINVAL, "%s: %llu entries but only %zu bytes left",
					field, (unsigned long long)pending, left(c));
	}
	return 0;
}

/* Skips fields after the first 'known' of an array of nf (a later minor version's). */
static int skip_extra(struct dec *c, uint32_t nf, uint32_t known, const char *field)
{
	int err = 0;

	for (; nf > known && !err; nf--)
		err = skip_value(c, field);
	return err;
}

static int end_check(struct dec *c)
{
	c->where = NULL;
	if (left(c))
		return dec_fail(c, -EINVAL, "%zu trailing bytes after the body", left(c));
	return 0;
}

/*
 * The topic "KIND/BOX" and its NUL: kind 0 for a message without topic.
 * Sets the cursor on the body and copies the box id.
 */
static int dec_start(struct dec *c, const void *msg, size_t len, enum wire_kind kind,
		     const char *name, char *box, const char **why)
{
	static __thread const char *ignored;
	const char *nul, *k;
	size_t kl;

	c->p = msg;
	c->end = c->p + len;
	c->kind = name;
	c->where = NULL;
	c->why = why ? why : &ignored;
	*c->why = NULL;
	if (len > WIRE_MAX_MSG)
		return dec_fail(c, -E2BIG, "%zu bytes, more than WIRE_MAX_MSG", len);
	if (!kind)
		return 0;
	nul = len ? memchr(msg, '\0', len < WIRE_TOPIC_MAX ? len : WIRE_TOPIC_MAX) : NULL;
	if (!nul)
		return dec_fail(c, -EINVAL, "topic: no NUL in the first %d bytes", WIRE_TOPIC_MAX);
	k = kind_name[kind];
	kl = strlen(k);
	if ((size_t)(nul - (const char *)msg) <= kl || memcmp(msg, k, kl) ||
	    ((const char *)msg)[kl] != '/')
		return dec_fail(c, -EINVAL, "topic: not \"%s/<box>\"", k);
	if ((k = wire_box_check((const char *)msg + kl + 1, (size_t)(nul - (const char *)msg) - kl - 1)))
		return dec_fail(c, -EINVAL, "topic: %s", k);
	memcpy(box, (const char *)msg + kl + 1, (size_t)(nul - (const char *)msg) - kl);
	c->p = (const uint8_t *)nul + 1;
	return 0;
}

int wire_kind_of(const void *msg, size_t len)
{
	const char *nul;
	size_t tl, kl;
	int k;

	nul = len ? memchr(msg, '\0', len < WIRE_TOPIC_MAX ? len : WIRE_TOPIC_MAX) : NULL;
	if (!nul)
		return -EINVAL;
	tl = (size_t)(nul - (const char *)msg);
	for (k = WIRE_DELTA; k <= WIRE_STATS; k++) {
		kl = strlen(kind_name[k]);
		if (tl > kl && !memcmp(msg, kind_name[k], kl) && ((const char *)msg)[kl] == '/')
			return wire_box_check((const char *)msg + kl + 1, tl - kl - 1) ? -EINVAL : k;
	}
	return -EINVAL;
}

/* The array header and version of a body; *nf fields, at least 'known'. */
static int get_body(struct dec *c, uint32_t known, uint32_t *nf)
{
	uint64_t ver;
	int err;

	err = get_array(c, "body", 1, nf);
	if (err)
		return err;
	if (!*nf)
		return dec_fail(c, -EINVAL, "body: empty array");
	err = get_uint(c, "version", UINT64_MAX, &ver);
	if (err)
		return err;
	if (ver != WIRE_VERSION)
		return dec_fail(c, -EINVAL, "unknown version %llu (this receiver knows %d)",
				(unsigned long long)ver, WIRE_VERSION);
	if (*nf < known)
		return dec_fail(c, -EINVAL, "body: %u fields, at least %u expected", *nf, known);
	return 0;
}

/* A string field copied NUL-terminated into dst of cap bytes, after checking it. */
static int get_str(struct dec *c, const char *field, char *dst, size_t cap,
		   const char *(*check)(const char *, size_t))
{
	const void *p;
	uint32_t n;
	const char *bad;
	int err;

	err = get_bytes(c, field, &K_STR, &p, &n);
	if (err)
		return err;
	if ((bad = check(p, n)))
		return dec_fail(c, -EINVAL, "%s: %s", field, bad);
	if (n >= cap)
		return dec_fail(c, -EINVAL, "%s: too long", field);
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

/* The box field of a body; equal to the topic's box when there is one. */
static int get_box(struct dec *c, char *box, const char *topic_box)
{
	int err = get_str(c, "box", box, WIRE_BOX_MAX, wire_box_check);

	if (!err && topic_box && strcmp(box, topic_box))
		return dec_fail(c, -EINVAL, "box: \"%s\" differs from the topic's", box);
	return err;
}

static int get_head(struct dec *c, char *box, const char *topic_box, uint64_t *epoch,
		    uint64_t *seq)
{
	return get_box(c, box, topic_box) ?: get_uint(c, "epoch", UINT64_MAX, epoch) ?:
	       get_uint(c, "seq", UINT64_MAX, seq);
}

/* ---- decoding ---------------------------------------------------------- */

/* One histogram entry, appended to d (whose nh, nb it advances). */
static int dec_hist(struct dec *c, struct wire_delta *d)
{
	struct wire_hist *h = &d->h[d->nh];
	struct wire_bucket *b;
	uint64_t v = 0, slot = 0;
	uint32_t nf, nl, k;
	const char *bad;
	int err;

	err = get_array(c, "entry", 1, &nf);
	if (err)
		return err;
	if (nf < HIST_FIELDS)
		return dec_fail(c, -EINVAL, "%u fields, at least %d expected", nf, HIST_FIELDS);
	*h = (struct wire_hist){ .off = d->nb };
	err = get_uint(c, "key", UINT32_MAX, &v);
	h->key = (uint32_t)v;
	err = err ?: get_uint(c, "half", 1, &v);
	h->half = (uint8_t)v;
	err = err ?: get_uint(c, "count", UINT64_MAX, &h->count);
	err = err ?: get_uint(c, "sum", UINT64_MAX, &h->sum);
	err = err ?: get_uint(c, "min", UINT64_MAX, &h->min);
	err = err ?: get_uint(c, "max", UINT64_MAX, &h->max);
	err = err ?: get_uint(c, "first slot", PF_HIST_NSLOTS - 1, &slot);
	err = err ?: get_array(c, "buckets", 1, &nl);
	if (err)
		return err;
	if (!nl || !(nl & 1))
		return dec_fail(c, -EINVAL, "buckets: %u entries, not an odd number", nl);
	if (nl / 2 + 1 > PF_HIST_NSLOTS)
		return dec_fail(c, -EINVAL, "buckets: more than %d", PF_HIST_NSLOTS);
	h->nb = nl / 2 + 1;
	if (delta_reserve(d, 0, d->nb + h->nb))	/* the caller reserved the entries */
		return dec_fail(c, -ENOMEM, "out of memory");
	b = d->b + h->off;
	for (k = 0; k < h->nb; k++) {
		if (k) {
			err = get_uint(c, "bucket gap", PF_HIST_NSLOTS - 1, &v);
			if (err)
				return err;
			slot += v;
			if (slot >= PF_HIST_NSLOTS)
				return dec_fail(c, -EINVAL, "bucket %u: slot %llu out of range", k,
						(unsigned long long)slot);
		}
		b[k].slot = (uint16_t)slot;
		err = get_uint(c, "bucket count", UINT64_MAX, &b[k].n);
		if (err)
			return err;
	}
	if ((bad = hist_check(h, b, d->nh ? h - 1 : NULL)))
		return dec_fail(c, -EINVAL, "%s", bad);
	err = skip_extra(c, nf, HIST_FIELDS, "extra field");
	if (err)
		return err;
	d->nh++;
	d->nb += h->nb;
	return 0;
}

int wire_decode_delta(const void *msg, size_t len, struct wire_delta *d, const char **why)
{
	char tbox[WIRE_BOX_MAX];
	struct dec c;
	uint32_t nf, nh, i;
	uint64_t v;
	int err;

	wire_delta_reset(d);
	err = dec_start(&c, msg, len, WIRE_DELTA, "delta", tbox, why);
	err = err ?: get_body(&c, DELTA_FIELDS, &nf);
	err = err ?: get_head(&c, d->box, tbox, &d->epoch, &d->seq);
	err = err ?: get_uint(&c, "start_ns", UINT64_MAX, &d->start_ns);
	err = err ?: get_uint(&c, "end_ns", UINT64_MAX, &d->end_ns);
	err = err ?: get_uint(&c, "scale", UINT8_MAX, &v);
	if (err)
		return err;
	d->scale = (uint8_t)v;
	if (d->scale != PF_HIST_SCALE)
		return dec_fail(&c, -EINVAL, "scale %u not supported (only %d)", d->scale,
				PF_HIST_SCALE);
	err = get_hdr(&c, "hists", &K_ARRAY, &nh);
	if (err)
		return err;
	if (nh > WIRE_MAX_HISTS)
		return dec_fail(&c, -EINVAL, "hists: %u entries, more than WIRE_MAX_HISTS", nh);
	if (nh > left(&c) / HIST_MIN_BYTES)
		return dec_fail(&c, -EINVAL, "hists: %u entries but only %zu bytes left", nh,
				left(&c));
	if (delta_reserve(d, nh, 0))
		return dec_fail(&c, -ENOMEM, "out of memory");
	for (i = 0; i < nh; i++) {
		c.where = "hist";
		c.where_i = i;
		err = dec_hist(&c, d);
		if (err) {
			wire_delta_reset(d);
			return err;
		}
	}
	c.where = NULL;
	err = skip_extra(&c, nf, DELTA_FIELDS, "extra field");
	err = err ?: end_check(&c);
	if (err)
		wire_delta_reset(d);
	return err;
}

static const char *id_check(const char *s, size_t n)
{
	return cust_str_check(s, n, sizeof(((struct wire_cust *)0)->id), false);
}

static const char *name_check(const char *s, size_t n)
{
	return cust_str_check(s, n, sizeof(((struct wire_cust *)0)->name), true);
}

static const char *site_check(const char *s, size_t n)
{
	return cust_str_check(s, n, sizeof(((struct wire_cust *)0)->site), true);
}

static int dec_cust(struct dec *c, struct wire_catalog *cat)
{
	struct wire_cust *e = &cat->c[cat->n];
	uint32_t nf;
	uint64_t v;
	int err;

	err = get_array(c, "entry", 1, &nf);
	if (err)
		return err;
	if (nf < CUST_FIELDS)
		return dec_fail(c, -EINVAL, "%u fields, at least %d expected", nf, CUST_FIELDS);
	err = get_uint(c, "key", UINT32_MAX, &v);
	if (err)
		return err;
	e->key = (uint32_t)v;
	if (cat->n && e->key <= e[-1].key)
		return dec_fail(c, -EINVAL, "key %u not above the one before", e->key);
	err = get_str(c, "id", e->id, sizeof(e->id), id_check);
	err = err ?: get_str(c, "name", e->name, sizeof(e->name), name_check);
	err = err ?: get_str(c, "site", e->site, sizeof(e->site), site_check);
	err = err ?: skip_extra(c, nf, CUST_FIELDS, "extra field");
	if (!err)
		cat->n++;
	return err;
}

int wire_decode_catalog(const void *msg, size_t len, struct wire_catalog *cat, const char **why)
{
	char tbox[WIRE_BOX_MAX];
	struct dec c;
	uint32_t nf, n, i;
	int err;

	cat->n = 0;
	err = dec_start(&c, msg, len, WIRE_CATALOG, "catalog", tbox, why);
	err = err ?: get_body(&c, CATALOG_FIELDS, &nf);
	err = err ?: get_head(&c, cat->box, tbox, &cat->epoch, &cat->seq);
	err = err ?: get_hdr(&c, "customers", &K_ARRAY, &n);
	if (err)
		return err;
	if (n > WIRE_MAX_CUSTS)
		return dec_fail(&c, -EINVAL, "customers: %u entries, more than WIRE_MAX_CUSTS", n);
	if (n > left(&c) / CUST_MIN_BYTES)
		return dec_fail(&c, -EINVAL, "customers: %u entries but only %zu bytes left", n,
				left(&c));
	for (i = 0; i < n; i++) {
		/* grown as entries arrive: a struct is ~90 times its smallest encoding */
		if (catalog_reserve(cat, i + 1)) {
			err = dec_fail(&c, -ENOMEM, "out of memory");
			break;
		}
		c.where = "customer";
		c.where_i = i;
		err = dec_cust(&c, cat);
		if (err)
			break;
	}
	if (!err) {
		c.where = NULL;
		err = skip_extra(&c, nf, CATALOG_FIELDS, "extra field");
		err = err ?: end_check(&c);
	}
	if (err)
		cat->n = 0;
	return err;
}

int wire_decode_stats(const void *msg, size_t len, struct wire_stats *s, const char **why)
{
	char tbox[WIRE_BOX_MAX];
	struct dec c;
	uint32_t nf, n, i, j;
	int err;

	memset(s, 0, sizeof(*s));
	err = dec_start(&c, msg, len, WIRE_STATS, "stats", tbox, why);
	err = err ?: get_body(&c, STATS_FIELDS, &nf);
	err = err ?: get_head(&c, s->box, tbox, &s->epoch, &s->seq);
	err = err ?: get_uint(&c, "time_ns", UINT64_MAX, &s->time_ns);
	err = err ?: get_hdr(&c, "counters", &K_MAP, &n);
	if (err)
		goto out;
	if (n > WIRE_MAX_STATS) {
		err = dec_fail(&c, -EINVAL, "counters: %u, more than WIRE_MAX_STATS", n);
		goto out;
	}
	for (i = 0; i < n && !err; i++) {
		struct wire_stat *st = &s->s[i];

		c.where = "counter";
		c.where_i = i;
		err = get_str(&c, "name", st->name, sizeof(st->name), stat_name_check);
		err = err ?: get_uint(&c, "value", UINT64_MAX, &st->value);
		for (j = 0; j < i && !err; j++)
			if (!strcmp(st->name, s->s[j].name))
				err = dec_fail(&c, -EINVAL, "name \"%s\" given twice", st->name);
	}
	if (!err) {
		s->n = n;
		c.where = NULL;
		err = skip_extra(&c, nf, STATS_FIELDS, "extra field");
		err = err ?: end_check(&c);
	}
out:
	if (err)
		s->n = 0;
	return err;
}

int wire_decode_replay_req(const void *msg, size_t len, struct wire_replay_req *r,
			   const char **why)
{
	struct dec c;
	uint32_t nf;
	int err;

	memset(r, 0, sizeof(*r));
	err = dec_start(&c, msg, len, 0, "replay request", NULL, why);
	err = err ?: get_body(&c, REQ_FIELDS, &nf);
	err = err ?: get_head(&c, r->box, NULL, &r->epoch, &r->first);
	err = err ?: get_uint(&c, "last", UINT64_MAX, &r->last);
	if (err)
		return err;
	if (r->first > r->last)
		return dec_fail(&c, -EINVAL, "first %llu > last %llu",
				(unsigned long long)r->first, (unsigned long long)r->last);
	return skip_extra(&c, nf, REQ_FIELDS, "extra field") ?: end_check(&c);
}

int wire_decode_replay_rep(const void *msg, size_t len, int *status, uint64_t *first_available,
			   struct wire_blob *msgs, uint32_t cap, uint32_t *n, const char **why)
{
	struct dec c;
	uint32_t nf, nm, i, bl;
	uint64_t v;
	const void *p;
	int err;

	*n = 0;
	err = dec_start(&c, msg, len, 0, "replay answer", NULL, why);
	err = err ?: get_body(&c, REP_FIELDS, &nf);
	err = err ?: get_uint(&c, "status", WIRE_REPLAY_NO_EPOCH, &v);
	err = err ?: get_uint(&c, "first_available", UINT64_MAX, first_available);
	err = err ?: get_array(&c, "messages", BLOB_MIN_BYTES, &nm);
	if (err)
		return err;
	*status = (int)v;
	if (nm > cap)
		return dec_fail(&c, -E2BIG, "messages: %u, more than the caller's %u", nm, cap);
	for (i = 0; i < nm; i++) {
		c.where = "message";
		c.where_i = i;
		err = get_bytes(&c, "bytes", &K_BIN, &p, &bl);
		if (err)
			return err;
		if (wire_kind_of(p, bl) != WIRE_DELTA)
			return dec_fail(&c, -EINVAL, "not a delta");
		msgs[i] = (struct wire_blob){ p, bl };
	}
	c.where = NULL;
	err = skip_extra(&c, nf, REP_FIELDS, "extra field") ?: end_check(&c);
	if (!err)
		*n = nm;
	return err;
}
