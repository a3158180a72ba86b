// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <snappy-c.h>
#include "aggregator/promrw.h"
#include "aggregator/proto/remote.pb-c.h"
#include "common/utf8.h"

typedef Pingfold__Prompb__WriteRequest WriteRequest;
typedef Pingfold__Prompb__TimeSeries TimeSeries;
typedef Pingfold__Prompb__Label Label;
typedef Pingfold__Prompb__Histogram Histogram;
typedef Pingfold__Prompb__BucketSpan BucketSpan;

int promrw_bucket_index(uint32_t slot)
{
	return hist_slot_otel_index(slot) + 1;
}

/* Everything a request points to, in a few arrays allocated once per request. */
struct req {
	TimeSeries *ts;
	TimeSeries **tsp;
	Histogram *hist;
	Histogram **histp;
	Label *lab;
	Label **labp;
	BucketSpan *span;
	BucketSpan **spanp;
	int64_t *delta;
	size_t nlab, nspan, ndelta;	/* used so far */
};

static void req_free(struct req *q)
{
	free(q->ts);
	free(q->tsp);
	free(q->hist);
	free(q->histp);
	free(q->lab);
	free(q->labp);
	free(q->span);
	free(q->spanp);
	free(q->delta);
}

static bool label_ok(const char *s, bool name)
{
	return s && (!name || *s) && utf8_valid(s, strlen(s));
}

/* The native histogram of h: spans over runs of non-empty buckets, deltas between counts. */
static void build_hist(struct req *q, Histogram *ph, const struct hist *h, int64_t ts_ms)
{
	size_t span0 = q->nspan, delta0 = q->ndelta;
	int64_t prev_count = 0;
	int prev_idx = 0;
	uint32_t s;

	*ph = (Histogram)PINGFOLD__PROMPB__HISTOGRAM__INIT;
	ph->count_case = PINGFOLD__PROMPB__HISTOGRAM__COUNT_COUNT_INT;
	ph->count_int = h->count;
	ph->sum = (double)h->sum / 1e9;
	ph->schema = PROMRW_SCHEMA;
	ph->zero_threshold = PROMRW_ZERO_THRESHOLD;
	ph->zero_count_case = PINGFOLD__PROMPB__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_INT;
	ph->zero_count_int = h->slot[PF_HIST_SLOT_UNDER];
	ph->timestamp = ts_ms;
	for (s = PF_HIST_SLOT_UNDER + 1; s < PF_HIST_NSLOTS; s++) {
		int idx = promrw_bucket_index(s);

		if (!h->slot[s])
			continue;
		if (q->nspan == span0 || idx != prev_idx + 1) {
			BucketSpan *sp = &q->span[q->nspan];

			*sp = (BucketSpan)PINGFOLD__PROMPB__BUCKET_SPAN__INIT;
			sp->offset = q->nspan == span0 ? idx : idx - prev_idx - 1;
			q->spanp[q->nspan++] = sp;
		}
		q->span[q->nspan - 1].length++;
		q->delta[q->ndelta++] = (int64_t)h->slot[s] - prev_count;
		prev_count = (int64_t)h->slot[s];
		prev_idx = idx;
	}
	ph->n_positive_spans = q->nspan - span0;
	ph->positive_spans = &q->spanp[span0];
	ph->n_positive_deltas = q->ndelta - delta0;
	ph->positive_deltas = &q->delta[delta0];
}

static int build_series(struct req *q, size_t k, const struct promrw_series *s, int64_t ts_ms)
{
	TimeSeries *ts = &q->ts[k];
	size_t lab0 = q->nlab;
	int i;

	if (!label_ok(s->name, true))
		return -EINVAL;
	for (i = 0; i <= s->nlabels; i++) {
		Label *l = &q->lab[q->nlab];

		*l = (Label)PINGFOLD__PROMPB__LABEL__INIT;
		l->name = (char *)(i ? s->labels[2 * (i - 1)] : "__name__");
		l->value = (char *)(i ? s->labels[2 * (i - 1) + 1] : s->name);
		if (!label_ok(l->name, true) || !label_ok(l->value, false))
			return -EINVAL;
		q->labp[q->nlab++] = l;
	}
	*ts = (TimeSeries)PINGFOLD__PROMPB__TIME_SERIES__INIT;
	ts->n_labels = q->nlab - lab0;
	ts->labels = &q->labp[lab0];
	build_hist(q, &q->hist[k], s->h, ts_ms);
	q->histp[k] = &q->hist[k];
	ts->n_histograms = 1;
	ts->histograms = &q->histp[k];
	q->tsp[k] = ts;
	return 0;
}

int promrw_encode_raw(const struct promrw_series *s, size_t n, int64_t ts_ms, uint8_t **out,
		      size_t *len)
{
	WriteRequest wr = PINGFOLD__PROMPB__WRITE_REQUEST__INIT;
	struct req q = { 0 };
	size_t i, nlab = 0, nb = 0, sz;
	uint32_t b;
	int err = 0;

	*out = NULL;
	for (i = 0; i < n; i++) {
		nlab += (size_t)s[i].nlabels + 1;
		for (b = PF_HIST_SLOT_UNDER + 1; b < PF_HIST_NSLOTS; b++)
			nb += s[i].h->slot[b] != 0;
	}
	q.ts = malloc((n + 1) * sizeof(*q.ts));
	q.tsp = malloc((n + 1) * sizeof(*q.tsp));
	q.hist = malloc((n + 1) * sizeof(*q.hist));
	q.histp = malloc((n + 1) * sizeof(*q.histp));
	q.lab = malloc((nlab + 1) * sizeof(*q.lab));
	q.labp = malloc((nlab + 1) * sizeof(*q.labp));
	q.span = malloc((nb + 1) * sizeof(*q.span));
	q.spanp = malloc((nb + 1) * sizeof(*q.spanp));
	q.delta = malloc((nb + 1) * sizeof(*q.delta));
	if (!q.ts || !q.tsp || !q.hist || !q.histp || !q.lab || !q.labp || !q.span || !q.spanp ||
	    !q.delta)
		err = -ENOMEM;
	for (i = 0; i < n && !err; i++)
		err = build_series(&q, i, &s[i], ts_ms);
	if (!err) {
		wr.n_timeseries = n;
		wr.timeseries = q.tsp;
		sz = pingfold__prompb__write_request__get_packed_size(&wr);
		*out = malloc(sz ? sz : 1);
		if (*out)
			*len = pingfold__prompb__write_request__pack(&wr, *out);
		else
			err = -ENOMEM;
	}
	req_free(&q);
	return err;
}

void promrw_fmt_double(double v, char *out, size_t cap)
{
	int p;

	for (p = 1; p <= 17; p++) {
		snprintf(out, cap, "%.*g", p, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

/* ---- classic series: NAME_bucket{le}, NAME_sum, NAME_count ------------------ */

#define CLASSIC_NLE	((PF_HIST_SLOT_OVER - 1) / PROMRW_LE_STEP + 1)	/* finite le values */
#define CLASSIC_PER	(CLASSIC_NLE + 3)	/* + Inf, _sum, _count */

struct classic {
	TimeSeries *ts;
	TimeSeries **tsp;
	Label *lab;
	Label **labp;
	Pingfold__Prompb__Sample *smp;
	Pingfold__Prompb__Sample **smpp;
	char (*names)[3][128];		/* per histogram: _bucket, _sum, _count */
	char le[CLASSIC_NLE + 1][32];
	size_t nts, nlab;
};

static Label *add_label(struct classic *c, const char *name, const char *value)
{
	Label *l = &c->lab[c->nlab];

	*l = (Label)PINGFOLD__PROMPB__LABEL__INIT;
	l->name = (char *)name;
	l->value = (char *)value;
	c->labp[c->nlab++] = l;
	return l;
}

/* One series: name, the histogram's labels with le in name order, one sample. */
static int classic_series(struct classic *c, const struct promrw_series *s, const char *name,
			  const char *le, double v, int64_t ts_ms)
{
	TimeSeries *ts = &c->ts[c->nts];
	size_t lab0 = c->nlab;
	int i;

	if (!label_ok(name, true))
		return -EINVAL;
	add_label(c, "__name__", name);
	for (i = 0; i < s->nlabels; i++) {
		const char *ln = s->labels[2 * i];

		if (le && strcmp(ln, "le") > 0) {
			add_label(c, "le", le);
			le = NULL;
		}
		if (!label_ok(ln, true) || !label_ok(s->labels[2 * i + 1], false))
			return -EINVAL;
		add_label(c, ln, s->labels[2 * i + 1]);
	}
	if (le)
		add_label(c, "le", le);
	c->smp[c->nts] = (Pingfold__Prompb__Sample)PINGFOLD__PROMPB__SAMPLE__INIT;
	c->smp[c->nts].value = v;
	c->smp[c->nts].timestamp = ts_ms;
	c->smpp[c->nts] = &c->smp[c->nts];
	*ts = (TimeSeries)PINGFOLD__PROMPB__TIME_SERIES__INIT;
	ts->n_labels = c->nlab - lab0;
	ts->labels = &c->labp[lab0];
	ts->n_samples = 1;
	ts->samples = &c->smpp[c->nts];
	c->tsp[c->nts++] = ts;
	return 0;
}

static int classic_hist(struct classic *c, size_t k, const struct promrw_series *s, int64_t ts_ms)
{
	char (*nm)[128] = c->names[k];
	uint64_t cum = 0;
	uint32_t slot, j = 0;
	int err = 0;

	snprintf(nm[0], sizeof(nm[0]), "%s_bucket", s->name);
	snprintf(nm[1], sizeof(nm[1]), "%s_sum", s->name);
	snprintf(nm[2], sizeof(nm[2]), "%s_count", s->name);
	for (slot = 0; slot < PF_HIST_SLOT_OVER && !err; slot++) {
		cum += s->h->slot[slot];
		if ((slot - PF_HIST_SLOT_UNDER) % PROMRW_LE_STEP)
			continue;
		err = classic_series(c, s, nm[0], c->le[j++], (double)cum, ts_ms);
	}
	err = err ?: classic_series(c, s, nm[0], "+Inf", (double)s->h->count, ts_ms);
	err = err ?: classic_series(c, s, nm[1], NULL, (double)s->h->sum / 1e9, ts_ms);
	err = err ?: classic_series(c, s, nm[2], NULL, (double)s->h->count, ts_ms);
	return err;
}

int promrw_encode_classic_raw(const struct promrw_series *s, size_t n, int64_t ts_ms,
			      uint8_t **out, size_t *len)
{
	WriteRequest wr = PINGFOLD__PROMPB__WRITE_REQUEST__INIT;
	struct classic c = { 0 };
	size_t i, m = n * CLASSIC_PER + 1, nlab = 1, sz;
	uint32_t slot, j = 0;
	int err = 0;

	*out = NULL;
	for (i = 0; i < n; i++)
		nlab += CLASSIC_PER * ((size_t)s[i].nlabels + 2);
	for (slot = 0; slot < PF_HIST_SLOT_OVER; slot += PROMRW_LE_STEP)
		promrw_fmt_double(hist_slot_upper_s(slot), c.le[j++], sizeof(c.le[0]));
	c.ts = malloc(m * sizeof(*c.ts));
	c.tsp = malloc(m * sizeof(*c.tsp));
	c.smp = malloc(m * sizeof(*c.smp));
	c.smpp = malloc(m * sizeof(*c.smpp));
	c.lab = malloc(nlab * sizeof(*c.lab));
	c.labp = malloc(nlab * sizeof(*c.labp));
	c.names = malloc((n + 1) * sizeof(*c.names));
	if (!c.ts || !c.tsp || !c.smp || !c.smpp || !c.lab || !c.labp || !c.names)
		err = -ENOMEM;
	for (i = 0; i < n && !err; i++)
		err = classic_hist(&c, i, &s[i], ts_ms);
	if (!err) {
		wr.n_timeseries = c.nts;
		wr.timeseries = c.tsp;
		sz = pingfold__prompb__write_request__get_packed_size(&wr);
		*out = malloc(sz ? sz : 1);
		if (*out)
			*len = pingfold__prompb__write_request__pack(&wr, *out);
		else
			err = -ENOMEM;
	}
	free(c.ts);
	free(c.tsp);
	free(c.smp);
	free(c.smpp);
	free(c.lab);
	free(c.labp);
	free(c.names);
	return err;
}

/* snappy's block format of raw (taken). */
static int compress(uint8_t *raw, size_t rlen, char **out, size_t *len)
{
	size_t clen = snappy_max_compressed_length(rlen);
	int err = 0;

	*out = malloc(clen ? clen : 1);
	if (!*out)
		err = -ENOMEM;
	else if (snappy_compress((const char *)raw, rlen, *out, &clen) != SNAPPY_OK)
		err = -EINVAL;
	free(raw);
	if (err) {
		free(*out);
		*out = NULL;
		return err;
	}
	*len = clen;
	return 0;
}

int promrw_encode_classic(const struct promrw_series *s, size_t n, int64_t ts_ms, char **out,
			  size_t *len)
{
	uint8_t *raw;
	size_t rlen;
	int err = promrw_encode_classic_raw(s, n, ts_ms, &raw, &rlen);

	return err ?: compress(raw, rlen, out, len);
}

int promrw_encode(const struct promrw_series *s, size_t n, int64_t ts_ms, char **out,
		  size_t *len)
{
	uint8_t *raw;
	size_t rlen;
	int err = promrw_encode_raw(s, n, ts_ms, &raw, &rlen);

	return err ?: compress(raw, rlen, out, len);
}
