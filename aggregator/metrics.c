// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * /metrics: Prometheus text exposition 0.0.4 (docs/http.md). What it
 * needs of the store is copied under the lock, then formatted without it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aggregator/http_int.h"
#include "aggregator/promrw.h"
#include "common/log.h"
#include "common/sys.h"

/* ---- /metrics ------------------------------------------------------------- */

struct text {
	char *buf;
	size_t len, cap;
	int err;
};

static int text_grow(struct text *t, size_t need)
{
	size_t cap = t->cap ? t->cap : 65536;
	char *b;

	while (cap < need)
		cap *= 2;
	b = realloc(t->buf, cap);
	if (!b)
		return -ENOMEM;
	t->buf = b;
	t->cap = cap;
	return 0;
}

static void __attribute__((format(printf, 2, 3))) tprintf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->err || (!t->cap && (t->err = text_grow(t, 65536))))
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->err = -EINVAL;
			return;
		}
		if ((size_t)n < t->cap - t->len)
			break;
		t->err = text_grow(t, t->len + (size_t)n + 1);
		if (t->err)
			return;
	}
	t->len += (size_t)n;
}

/* A label value: \ " and newline escaped, into out (truncated to cap). */
static const char *label_esc(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s && o + 3 < cap; s++) {
		if (*s == '\\' || *s == '"') {
			out[o++] = '\\';
			out[o++] = *s;
		} else if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return out;
}

/* The shortest decimal that reads back as the same double. */
static void fmt_double(double v, char *out, size_t cap)
{
	promrw_fmt_double(v, out, cap);
}

/* ns as exact decimal seconds: 1234567891 -> "1.234567891". */
static void fmt_ns_s(uint64_t ns, char *out, size_t cap)
{
	size_t n;

	n = (size_t)snprintf(out, cap, "%" PRIu64 ".%09" PRIu64, ns / 1000000000U,
			     ns % 1000000000U);
	while (n > 1 && out[n - 1] == '0')
		out[--n] = '\0';
	if (n && out[n - 1] == '.')
		out[--n] = '\0';
}

/*
 * One histogram series: cumulative counts at every HTTP_LE_STEP-th bucket
 * boundary (slots 0, 4, ..., 208: le = 2^-20 .. 2^6 s, a factor sqrt(2)
 * apart), +Inf, sum in seconds, count. Exact: an le is a bucket's upper
 * bound, so the count at it is the sum of whole buckets.
 */
static void hist_series(struct text *t, const char *name, const char *labels,
			const struct hist *hg)
{
	char le[40], sum[40];
	uint64_t cum = 0;
	uint32_t s;

	for (s = 0; s < PF_HIST_SLOT_OVER; s++) {
		cum += hg->slot[s];
		if ((s - PF_HIST_SLOT_UNDER) % HTTP_LE_STEP)
			continue;
		fmt_double(hist_slot_upper_s(s), le, sizeof(le));
		tprintf(t, "%s_bucket{%s,le=\"%s\"} %" PRIu64 "\n", name, labels, le, cum);
	}
	fmt_ns_s(hg->sum, sum, sizeof(sum));
	tprintf(t, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", name, labels, hg->count);
	tprintf(t, "%s_sum{%s} %s\n", name, labels, sum);
	tprintf(t, "%s_count{%s} %" PRIu64 "\n", name, labels, hg->count);
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	tprintf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * /metrics reads the store under its lock only to copy what it needs: each
 * series' histogram, compact (its non-empty buckets), with its names.
 * The text (the bulk of the work: 1 GB for 120k sites) is written after
 * the lock is released, so merging never waits for a scrape.
 */
enum { SNAP_FLEET, SNAP_SITE, SNAP_CUSTOMER };
struct snap {
	uint8_t kind, half;
	char *names;			/* site; or id \0 name \0 site */
	uint64_t count, sum;
	uint32_t n;
	uint16_t *idx;
	uint64_t *cnt;
};
struct snaps {
	struct snap *v;
	size_t n, cap;
	bool err;
};

static void snap_add(struct snaps *ss, int kind, int half, const char *a, const char *b,
		     const char *c, const struct hist *h)
{
	size_t la = a ? strlen(a) + 1 : 0, lb = b ? strlen(b) + 1 : 0, lc = c ? strlen(c) + 1 : 0;
	struct hist_sparse hs;
	struct snap *sp;

	if (ss->err)
		return;
	if (ss->n == ss->cap) {
		size_t cap = ss->cap ? ss->cap * 2 : 64;
		struct snap *v = realloc(ss->v, cap * sizeof(*v));

		if (!v) {
			ss->err = true;
			return;
		}
		ss->v = v;
		ss->cap = cap;
	}
	hist_to_sparse(h, &hs);
	sp = &ss->v[ss->n];
	memset(sp, 0, sizeof(*sp));
	sp->names = la + lb + lc ? malloc(la + lb + lc) : NULL;
	sp->idx = hs.n ? malloc(hs.n * sizeof(*sp->idx)) : NULL;
	sp->cnt = hs.n ? malloc(hs.n * sizeof(*sp->cnt)) : NULL;
	if ((la + lb + lc && !sp->names) || (hs.n && (!sp->idx || !sp->cnt))) {
		free(sp->names);
		free(sp->idx);
		free(sp->cnt);
		ss->err = true;
		return;
	}
	if (la)
		memcpy(sp->names, a, la);
	if (lb)
		memcpy(sp->names + la, b, lb);
	if (lc)
		memcpy(sp->names + la + lb, c, lc);
	sp->kind = (uint8_t)kind;
	sp->half = (uint8_t)half;
	sp->count = hs.count;
	sp->sum = hs.sum;
	sp->n = hs.n;
	if (hs.n) {
		memcpy(sp->idx, hs.idx, hs.n * sizeof(*sp->idx));
		memcpy(sp->cnt, hs.cnt, hs.n * sizeof(*sp->cnt));
	}
	ss->n++;
}

static void snaps_free(struct snaps *ss)
{
	size_t i;

	for (i = 0; i < ss->n; i++) {
		free(ss->v[i].names);
		free(ss->v[i].idx);
		free(ss->v[i].cnt);
	}
	free(ss->v);
}

/* Under the lock: the fleet's, every site's and (if asked) every customer's 1 h. */
static void metrics_snap(struct http *h, struct snaps *ss, uint64_t now)
{
	struct hist hg[PF_NHALVES];
	struct store_cust_info *c = NULL;
	char **sites = NULL;
	size_t n = 0, i;
	int k;

	if (store_fleet(h->store, STORE_W1H, now, hg) == 0)
		for (k = 0; k < PF_NHALVES; k++)
			snap_add(ss, SNAP_FLEET, k, NULL, NULL, NULL, &hg[k]);
	if (store_sites(h->store, &sites, &n) == 0) {
		for (i = 0; i < n; i++) {
			if (store_site(h->store, sites[i], STORE_W1H, now, hg) == 0)
				for (k = 0; k < PF_NHALVES; k++)
					snap_add(ss, SNAP_SITE, k, sites[i], NULL, NULL, &hg[k]);
			free(sites[i]);
		}
		free(sites);
	}
	if (!h->opts.metrics_customers || store_customers(h->store, &c, &n))
		return;
	for (i = 0; i < n; i++)
		if (store_customer(h->store, c[i].id, STORE_W1H, now, hg) == 0)
			for (k = 0; k < PF_NHALVES; k++)
				snap_add(ss, SNAP_CUSTOMER, k, c[i].id, c[i].name, c[i].site, &hg[k]);
	free(c);
}

/* Without the lock: the series' text, family by family (they come in order). */
static void metrics_rtt(struct text *t, const struct snaps *ss)
{
	static const char *const fam[] = { "pingfold_fleet_rtt_seconds",
		"pingfold_site_rtt_seconds", "pingfold_customer_rtt_seconds" };
	static const char *const help[] = {
		"Round-trip time of the whole fleet over the last 1 h (sliding window).",
		"Round-trip time of a site and its subtree over the last 1 h (sliding window).",
		"Round-trip time of a customer over the last 1 h (sliding window)." };
	char lab[1200], e1[600], e2[300], e3[600];
	int last = -1;
	size_t i;
	uint32_t k;

	for (i = 0; i < ss->n; i++) {
		const struct snap *sp = &ss->v[i];
		struct hist hg;

		if (sp->kind != last) {
			family(t, fam[sp->kind], "histogram", help[sp->kind]);
			last = sp->kind;
		}
		hist_init(&hg);
		hg.count = sp->count;
		hg.sum = sp->sum;
		for (k = 0; k < sp->n; k++)
			hg.slot[sp->idx[k]] = sp->cnt[k];
		if (sp->kind == SNAP_FLEET) {
			snprintf(lab, sizeof(lab), "half=\"%s\"", half_name[sp->half]);
		} else if (sp->kind == SNAP_SITE) {
			snprintf(lab, sizeof(lab), "site=\"%s\",half=\"%s\"",
				 label_esc(sp->names, e1, sizeof(e1)), half_name[sp->half]);
		} else {
			const char *id = sp->names, *name = id + strlen(id) + 1;
			const char *site = name + strlen(name) + 1;

			snprintf(lab, sizeof(lab), "customer=\"%s\",name=\"%s\",site=\"%s\",half=\"%s\"",
				 label_esc(id, e2, sizeof(e2)), label_esc(name, e3, sizeof(e3)),
				 label_esc(site, e1, sizeof(e1)), half_name[sp->half]);
		}
		hist_series(t, fam[sp->kind], lab, &hg);
	}
}

/* Per-box values, one family at a time. */
#define BOX_U64(field) offsetof(struct store_box_info, field)
static const struct box_metric {
	const char *name, *type, *help;
	size_t off;
} box_metrics[] = {
	{ "pingfold_box_deltas_total", "counter", "Deltas merged from the box.", BOX_U64(deltas) },
	{ "pingfold_box_duplicates_total", "counter", "Deltas of the box seen twice and ignored.",
	  BOX_U64(dups) },
	{ "pingfold_box_gaps_total", "counter", "Jumps in the box's sequence.", BOX_U64(gaps) },
	{ "pingfold_box_gap_deltas_total", "counter", "Deltas missed in those jumps.",
	  BOX_U64(gap_deltas) },
	{ "pingfold_box_recovered_total", "counter", "Missed deltas that came back by replay.",
	  BOX_U64(recovered) },
	{ "pingfold_box_lost_total", "counter", "Missed deltas that could not be recovered.",
	  BOX_U64(lost) },
	{ "pingfold_box_unnamed_total", "counter",
	  "Customer-halves merged under a key no catalog of the box named.", BOX_U64(unnamed) },
	{ "pingfold_box_samples_total", "counter", "RTT samples merged from the box.",
	  BOX_U64(samples) },
	{ "pingfold_box_late_total", "counter",
	  "Deltas older than the longest window (counted in totals only).", BOX_U64(late) },
	{ "pingfold_box_last_seq", "gauge", "Highest delta sequence number of the box's epoch.",
	  BOX_U64(last_seq) },
};

static void metrics_boxes(struct text *t, const struct store_box_info *b, size_t n,
			  uint64_t now)
{
	char e[200], st[80];
	size_t i, m;
	uint32_t k;

	family(t, "pingfold_box_stale", "gauge",
	       "1 if the box sent nothing for --stale of its intervals.");
	for (i = 0; i < n; i++)
		tprintf(t, "pingfold_box_stale{box=\"%s\"} %d\n", label_esc(b[i].box, e, sizeof(e)),
			b[i].stale ? 1 : 0);
	family(t, "pingfold_box_last_seen_seconds", "gauge",
	       "Seconds since the box's last message.");
	for (i = 0; i < n; i++)
		tprintf(t, "pingfold_box_last_seen_seconds{box=\"%s\"} %.3f\n",
			label_esc(b[i].box, e, sizeof(e)),
			now > b[i].last_seen_ns ? (double)(now - b[i].last_seen_ns) / 1e9 : 0.0);
	family(t, "pingfold_box_interval_seconds", "gauge",
	       "Interval of the box's deltas (end - start of its last one).");
	for (i = 0; i < n; i++)
		tprintf(t, "pingfold_box_interval_seconds{box=\"%s\"} %.3f\n",
			label_esc(b[i].box, e, sizeof(e)), (double)b[i].interval_ns / 1e9);
	for (m = 0; m < sizeof(box_metrics) / sizeof(box_metrics[0]); m++) {
		family(t, box_metrics[m].name, box_metrics[m].type, box_metrics[m].help);
		for (i = 0; i < n; i++)
			tprintf(t, "%s{box=\"%s\"} %" PRIu64 "\n", box_metrics[m].name,
				label_esc(b[i].box, e, sizeof(e)),
				*(const uint64_t *)((const char *)&b[i] + box_metrics[m].off));
	}
	family(t, "pingfold_box_refused_total", "counter",
	       "The box's messages refused, by reason (see docs/aggregator.md).");
	for (i = 0; i < n; i++)
		for (k = 0; k < STORE_NREFUSALS; k++)
			tprintf(t, "pingfold_box_refused_total{box=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
				label_esc(b[i].box, e, sizeof(e)), store_refusal_name(k),
				b[i].refused[k]);
	family(t, "pingfold_box_agent_stat", "gauge",
	       "The box agent's own counters, from its last stats message.");
	for (i = 0; i < n; i++)
		for (k = 0; k < b[i].stats.n; k++)
			tprintf(t, "pingfold_box_agent_stat{box=\"%s\",stat=\"%s\"} %" PRIu64 "\n",
				label_esc(b[i].box, e, sizeof(e)),
				label_esc(b[i].stats.s[k].name, st, sizeof(st)),
				b[i].stats.s[k].value);
}

static void counter(struct text *t, const char *name, const char *help, uint64_t v)
{
	family(t, name, "counter", help);
	tprintf(t, "%s %" PRIu64 "\n", name, v);
}

static void gauge(struct text *t, const char *name, const char *help, double v)
{
	family(t, name, "gauge", help);
	tprintf(t, "%s %.17g\n", name, v);
}

static void metrics_self(struct http *h, struct text *t, const struct store_box_info *b,
			 size_t n)
{
	uint64_t sum[5] = { 0 }, stale = 0, refused[STORE_NREFUSALS];
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		sum[0] += b[i].deltas + b[i].dups;
		sum[1] += b[i].dups;
		sum[2] += b[i].gaps;
		sum[3] += b[i].recovered;
		sum[4] += b[i].lost;
		stale += b[i].stale;
	}
	counter(t, "pingfold_aggregator_deltas_received_total",
		"Deltas received from all boxes, duplicates included.", sum[0]);
	counter(t, "pingfold_aggregator_duplicates_total", "Duplicate deltas ignored.", sum[1]);
	counter(t, "pingfold_aggregator_gaps_total", "Sequence gaps detected.", sum[2]);
	counter(t, "pingfold_aggregator_recovered_total", "Missed deltas recovered by replay.",
		sum[3]);
	counter(t, "pingfold_aggregator_lost_total", "Missed deltas not recovered.", sum[4]);
	counter(t, "pingfold_aggregator_samples_total", "RTT samples merged.",
		store_total_samples(h->store));
	if (h->ctr.msgs)
		counter(t, "pingfold_aggregator_messages_total", "Messages received.",
			*h->ctr.msgs);
	if (h->ctr.decode_errors)
		counter(t, "pingfold_aggregator_decode_errors_total",
			"Messages refused (undecodable or of an unknown kind).",
			*h->ctr.decode_errors);
	if (h->ctr.replays)
		counter(t, "pingfold_aggregator_replays_total", "Replay requests made to boxes.",
			*h->ctr.replays);
	if (h->ctr.replayed)
		counter(t, "pingfold_aggregator_replayed_deltas_total",
			"Deltas merged from replay answers.", *h->ctr.replayed);
	if (h->ctr.query_drops)
		counter(t, "pingfold_aggregator_query_drops_total",
			"Query answers dropped: the client had not taken its previous one.",
			*h->ctr.query_drops);
	if (h->ctr.rw) {
		const struct rw_counts *c = h->ctr.rw;

		counter(t, "pingfold_aggregator_remote_write_sent_total",
			"Remote write requests a receiver took (2xx).",
			__atomic_load_n(&c->sent, __ATOMIC_RELAXED));
		counter(t, "pingfold_aggregator_remote_write_retries_total",
			"Remote write requests tried again (5xx, network errors).",
			__atomic_load_n(&c->retried, __ATOMIC_RELAXED));
		counter(t, "pingfold_aggregator_remote_write_dropped_total",
			"Remote write requests given up: refused (4xx) or pushed out of a full queue.",
			__atomic_load_n(&c->dropped, __ATOMIC_RELAXED));
		gauge(t, "pingfold_aggregator_remote_write_queue_bytes",
		      "Bytes of remote write requests waiting to be sent.",
		      (double)__atomic_load_n(&c->queue_bytes, __ATOMIC_RELAXED));
		gauge(t, "pingfold_aggregator_remote_write_series",
		      "Series in the last remote write request.",
		      (double)__atomic_load_n(&c->series, __ATOMIC_RELAXED));
	}
	if (h->ctr.exclude_loads)
		counter(t, "pingfold_aggregator_exclude_loads_total",
			"--exclude files taken (at start and on SIGHUP).", *h->ctr.exclude_loads);
	if (h->ctr.exclude_errors)
		counter(t, "pingfold_aggregator_exclude_errors_total",
			"--exclude files refused (unreadable, or a bad line): the set before stays.",
			*h->ctr.exclude_errors);
	if (h->opts.hist) {
		struct history_stats hs;

		history_get_stats(h->opts.hist, &hs);
		counter(t, "pingfold_aggregator_history_points_total",
			"Points of closed periods written to the history file.", hs.points);
		counter(t, "pingfold_aggregator_history_dropped_total",
			"History points not written (queue full, or a write failed).", hs.dropped);
		counter(t, "pingfold_aggregator_history_errors_total",
			"Failed writes or reads of the history file.", hs.errors);
		counter(t, "pingfold_aggregator_history_pruned_total",
			"History points removed as older than they are kept.", hs.pruned);
		gauge(t, "pingfold_aggregator_history_queue_bytes",
		      "Bytes of history points waiting to be written.", (double)hs.queued);
		family(t, "pingfold_aggregator_history_write_seconds_total", "counter",
		       "CPU time the history writer spent writing.");
		tprintf(t, "pingfold_aggregator_history_write_seconds_total %.9f\n",
			(double)hs.write_ns / 1e9);
	}
	store_refusals(h->store, refused);
	family(t, "pingfold_aggregator_refused_total", "counter",
	       "Messages refused, by reason: malformed, time, overflow, limit, seq_jump, identity.");
	for (k = 0; k < STORE_NREFUSALS; k++)
		tprintf(t, "pingfold_aggregator_refused_total{reason=\"%s\"} %" PRIu64 "\n",
			store_refusal_name(k), refused[k]);
	{
		uint64_t forgotten;
		uint32_t nc = store_ncustomers(h->store, &forgotten);

		gauge(t, "pingfold_aggregator_customers", "Customers kept.", (double)nc);
		counter(t, "pingfold_aggregator_forgotten_total",
			"Customers forgotten (no box names them, nothing in any window).",
			forgotten);
	}
	gauge(t, "pingfold_aggregator_boxes", "Boxes known.", (double)n);
	gauge(t, "pingfold_aggregator_stale_boxes", "Boxes that are stale.", (double)stale);
	gauge(t, "pingfold_aggregator_store_bytes", "Memory the store holds (approximate).",
	      (double)store_mem_bytes(h->store));
	if (h->srv) {
		struct httpd_counts c;

		httpd_counts(h->srv, &c);
		gauge(t, "pingfold_http_connections", "HTTP connections open.", (double)c.open);
		counter(t, "pingfold_http_requests_total", "HTTP requests answered.", c.served);
		counter(t, "pingfold_http_timed_out_total",
			"HTTP connections closed for not sending a request in time.", c.timed_out);
		counter(t, "pingfold_http_evicted_total",
			"Waiting HTTP connections closed to make room (connection cap, fds).",
			c.evicted);
		counter(t, "pingfold_http_refused_total",
			"HTTP connections refused with 503 at the connection cap.", c.refused_full);
		counter(t, "pingfold_http_bad_requests_total", "Malformed HTTP requests.",
			c.bad_requests);
		counter(t, "pingfold_http_write_drops_total",
			"HTTP answers dropped: the client did not take them in time.", c.write_drops);
	}
}

void http_metrics(struct http *h, struct httpd_req *r)
{
	struct store_box_info *b = NULL;
	struct text t = { 0 }, self = { 0 };
	struct snaps ss = { 0 };
	size_t n = 0;
	uint64_t now;

	/* under the lock: copies, and the aggregator's own few lines */
	pthread_mutex_lock(h->lock);
	now = sys_now_ns(CLOCK_REALTIME);
	metrics_snap(h, &ss, now);
	if (store_boxes(h->store, now, &b, &n))
		n = 0;
	metrics_self(h, &self, b, n);
	pthread_mutex_unlock(h->lock);
	/* the text, with the store free for merging */
	if (!ss.err)
		metrics_rtt(&t, &ss);
	snaps_free(&ss);
	metrics_boxes(&t, b, n, now);
	free(b);
	if (self.buf)
		tprintf(&t, "%.*s", (int)self.len, self.buf);
	t.err |= self.err || ss.err;
	free(self.buf);
	if (t.err)
		http_reply(r, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
	else
		http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", t.buf, t.len);
	free(t.buf);
}
