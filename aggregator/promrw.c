// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
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

int promrw_encode(const struct promrw_series *s, size_t n, int64_t ts_ms, char **out,
		  size_t *len)
{
	uint8_t *raw;
	size_t rlen, clen;
	int err = promrw_encode_raw(s, n, ts_ms, &raw, &rlen);

	if (err)
		return err;
	clen = snappy_max_compressed_length(rlen);
	*out = malloc(clen ? clen : 1);
	if (!*out) {
		free(raw);
		return -ENOMEM;
	}
	if (snappy_compress((const char *)raw, rlen, *out, &clen) != SNAPPY_OK) {
		free(*out);
		*out = NULL;
		free(raw);
		return -EINVAL;
	}
	*len = clen;
	free(raw);
	return 0;
}
