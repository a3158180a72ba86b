// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The exactly-once reader of the datapath's histograms (docs/datapath.md,
 * "Exact deltas"): a shadow of what was reported, kept in the reader state
 * file; each read stages the differences, a commit makes them the reader's
 * record and the next read writes them into the shadow ("Committing",
 * below). The agent journals the staged updates before it commits
 * (datapath/journal.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "datapath/datapath_int.h"
#include "common/log.h"
#include "common/sys.h"

static int read_all(struct pf_dp *dp, bool full, pf_dp_delta_fn cb, void *ctx);
static void apply_pending(struct pf_dp *dp, uint32_t upto);

/*
 * The reader walks 100,000 customers' histograms, 3.4 KiB apart, and
 * their shadows: a handful of cache misses per customer-half, each one
 * waited for in turn if read one customer at a time. So customers are
 * read in batches, in three steps: the batch's headers (masks, sum,
 * min, max) are prefetched together; their mask bits are taken, each
 * flagged slot's counter and shadow prefetched; then the slots are read.
 * The misses of a batch overlap instead of adding up. The order of a
 * customer-half's reads is unchanged: mask bits taken, then counters,
 * then sum, then min and max.
 */
#define RD_BATCH	8	/* poll_bench: 8 read faster than 4, 16 or 32 */

struct rd_half {
	uint32_t cust;
	uint16_t half;
	uint16_t n;		/* flagged slots: slots[off .. off + n) */
	uint32_t off;
};

struct rd_batch {
	uint32_t cust[RD_BATCH];
	uint32_t ncust;
	struct rd_half h[RD_BATCH * PF_NHALVES];
	uint32_t nh;
	uint16_t slots[RD_BATCH * PF_NHALVES * PF_HIST_NSLOTS];
};

static size_t state_size(uint32_t max_customers)
{
	size_t pg = sysconf(_SC_PAGESIZE);

	return pg + (size_t)max_customers * sizeof(struct pf_shadow);
}

/*
 * The reader's state: a file (kept across agent restarts, so a restarted
 * reader knows what was already reported) or anonymous memory.
 */
int pf_dpi_map_state(struct pf_dp *dp)
{
	size_t len = state_size(dp->o.max_customers);
	struct stat st;
	int fd = -1, flags = MAP_PRIVATE | MAP_ANONYMOUS;
	bool existed = false;

	dp->batch = malloc(sizeof(*dp->batch));
	/*
	 * Staged updates: room for a bucket and a sum of every customer-half,
	 * its pages touched now rather than in the first read (~20 us a fault
	 * on a VM: ~30 ms for 100,000 customers). More grows it.
	 */
	dp->cap_staged = (size_t)dp->o.max_customers * PF_NHALVES * 2;
	dp->cap_pend = dp->cap_staged;
	dp->staged = malloc(dp->cap_staged * sizeof(*dp->staged));
	dp->pend = malloc(dp->cap_pend * sizeof(*dp->pend));
	if (!dp->batch || !dp->staged || !dp->pend)
		return -ENOMEM;
	sys_prefault(dp->staged, dp->cap_staged * sizeof(*dp->staged));
	sys_prefault(dp->pend, dp->cap_pend * sizeof(*dp->pend));
	if (dp->o.state_path) {
		fd = open(dp->o.state_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || fstat(fd, &st)) {
			pr_err("reader state %s: %s", dp->o.state_path, strerror(errno));
			goto fail;
		}
		existed = (size_t)st.st_size == len;
		if (!existed && ftruncate(fd, 0) == 0 && ftruncate(fd, len)) {
			pr_err("reader state %s: cannot size to %zu bytes: %s", dp->o.state_path,
			       len, strerror(errno));
			goto fail;
		}
		flags = MAP_SHARED;
	}
	dp->state = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
	if (dp->state == MAP_FAILED) {
		dp->state = NULL;
		pr_err("cannot map %zu bytes of reader state: %s", len, strerror(errno));
		goto fail;
	}
	if (fd >= 0)
		close(fd);
	dp->state_len = len;
	dp->shadow = (void *)((char *)dp->state + sysconf(_SC_PAGESIZE));
	dp->state_kept = existed && !memcmp(dp->state->magic, PF_STATE_MAGIC, 8) &&
			 (dp->state->version == 1 || dp->state->version == 2) &&
			 dp->state->max_customers == dp->o.max_customers;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -errno ?: -EIO;
}

/*
 * Ties the reader state to the maps. Kept state of the same epoch: the
 * next read compares every slot, so whatever the datapath counted since
 * the last committed read is reported, once. New maps: zero state. Maps
 * that outlived their state: their counts so far cannot be told apart
 * from reported ones, so they become the baseline, and a new epoch tells
 * receivers that the sequence starts again.
 */
int pf_dpi_init_state(struct pf_dp *dp)
{
	bool kept = dp->reused && dp->state_kept;
	int err;

	err = pf_dpi_set_epoch(dp, false);
	if (err)
		return err;
	if (kept && dp->state->epoch == dp->epoch) {
		if (dp->state->version == 1) {	/* from before committed_samples */
			uint64_t n = 0;
			uint32_t c, h, k;

			for (c = 0; c < dp->o.max_customers; c++)
				for (h = 0; h < PF_NHALVES; h++)
					for (k = 0; k < PF_HIST_NSLOTS; k++)
						n += dp->shadow[c].half[h].slots[k];
			dp->state->committed_samples = n;
			dp->state->version = 2;
		}
		dp->full_pending = true;
		return 0;
	}
	dp->state_kept = false;
	memset(dp->shadow, 0, (size_t)dp->o.max_customers * sizeof(struct pf_shadow));
	if (dp->reused) {
		if (dp->o.state_path)
			pr_warn("reader state %s does not match the pinned maps: counts so far "
				"are taken as reported, new epoch", dp->o.state_path);
		err = read_all(dp, true, NULL, NULL);
		if (!err)
			err = pf_dp_commit_read(dp, 0);
		if (!err) {
			apply_pending(dp, UINT32_MAX);	/* the baseline is in the shadow now */
			err = pf_dpi_set_epoch(dp, true);
		}
		if (err)
			return err;
	}
	memcpy(dp->state->magic, PF_STATE_MAGIC, 8);
	dp->state->version = 2;
	dp->state->max_customers = dp->o.max_customers;
	dp->state->epoch = dp->epoch;
	dp->state->committed_seq = 0;
	dp->state->committed_samples = 0;
	return 0;
}

uint64_t pf_dp_committed_seq(const struct pf_dp *dp)
{
	return dp->state->committed_seq;
}

uint64_t pf_dp_committed_samples(const struct pf_dp *dp)
{
	return dp->state->committed_samples;
}

bool pf_dp_state_kept(const struct pf_dp *dp)
{
	return dp->state_kept;
}

static uint64_t xchg(__u64 *p, uint64_t v)
{
	return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* One shadow update of the read, kept until it is committed. */
static int stage(struct pf_dp *dp, uint32_t cust, int half, uint32_t slot, uint64_t v)
{
	struct pf_dp_upd *u;

	if (dp->nstaged == dp->cap_staged) {
		size_t cap = dp->cap_staged * 2;	/* sized at start: never 0 */

		u = realloc(dp->staged, cap * sizeof(*u));
		if (!u)
			return -ENOMEM;
		dp->staged = u;
		dp->cap_staged = cap;
	}
	u = &dp->staged[dp->nstaged++];
	u->cust = cust;
	u->half = (uint16_t)half;
	u->slot = (uint16_t)slot;
	u->value = v;
	return 0;
}

static void rd_prefetch_headers(const struct pf_dp *dp, const struct rd_batch *b)
{
	uint32_t i;
	int half;

	for (i = 0; i < b->ncust; i++)
		for (half = 0; half < PF_NHALVES; half++) {
			const struct pf_hist_half *hh = &dp->hists[b->cust[i]].half[half];

			/* the header is 56 bytes: at most two lines */
			__builtin_prefetch(&hh->sum_ns, 1);
			__builtin_prefetch(&hh->mask[PF_HIST_MASK_WORDS - 1], 1);
		}
}

/* Takes the mask bits of every half of the batch (all of them when full). */
static void rd_take_masks(struct pf_dp *dp, struct rd_batch *b, bool full)
{
	uint32_t i, w, s, off = 0;
	uint64_t m;
	int half;

	b->nh = 0;
	for (i = 0; i < b->ncust; i++) {
		for (half = 0; half < PF_NHALVES; half++) {
			struct pf_hist_half *hh = &dp->hists[b->cust[i]].half[half];
			struct pf_shadow_half *sh = &dp->shadow[b->cust[i]].half[half];
			struct rd_half *r = &b->h[b->nh];

			r->cust = b->cust[i];
			r->half = (uint16_t)half;
			r->off = off;
			r->n = 0;
			for (w = 0; w < PF_HIST_MASK_WORDS; w++) {
				/*
				 * Most words are zero: a plain load first spares a
				 * locked exchange. A bit set just after it waits for
				 * the next read, and its counter was incremented
				 * before the bit was set.
				 */
				m = full ? ~0ULL : __atomic_load_n(&hh->mask[w], __ATOMIC_RELAXED);
				if (m && !full)
					m = xchg(&hh->mask[w], 0);
				while (m) {
					s = w * 64 + __builtin_ctzll(m);
					m &= m - 1;
					if (s >= PF_HIST_NSLOTS)
						break;
					if (!full) {
						__builtin_prefetch(&hh->slots[s], 0);
						__builtin_prefetch(&sh->slots[s], 0);
					}
					b->slots[off + r->n++] = (uint16_t)s;
				}
			}
			if (r->n) {
				__builtin_prefetch(&sh->sum, 0);
				off += r->n;
				b->nh++;
			}
		}
	}
}

/*
 * One customer-half whose mask bits were taken: the flagged slots are
 * diffed against the shadow. min/max are reset only when there is a
 * delta, and clamped into its first/last slot, since a sample racing the
 * read may have set them while its count lands next time.
 */
static int read_half(struct pf_dp *dp, const struct rd_batch *b, const struct rd_half *r,
		     pf_dp_delta_fn cb, void *ctx)
{
	struct pf_hist_half *hh = &dp->hists[r->cust].half[r->half];
	struct pf_shadow_half *sh = &dp->shadow[r->cust].half[r->half];
	struct hist_sparse *sp = &dp->scratch;
	uint64_t cur, d, mn, mx;
	uint32_t i, s, n = 0;

	sp->count = 0;
	for (i = 0; i < r->n; i++) {
		s = b->slots[r->off + i];
		cur = __atomic_load_n(&hh->slots[s], __ATOMIC_ACQUIRE);
		d = cur - sh->slots[s];
		if (!d)
			continue;
		if (stage(dp, r->cust, r->half, s, cur))
			return -ENOMEM;
		sp->idx[n] = (uint16_t)s;
		sp->cnt[n] = d;
		sp->count += d;
		n++;
	}
	sp->n = n;
	if (!n)
		return 0;
	dp->staged_samples += sp->count;
	cur = __atomic_load_n(&hh->sum_ns, __ATOMIC_ACQUIRE);
	sp->sum = cur - sh->sum;
	if (stage(dp, r->cust, r->half, PF_DP_UPD_SUM, cur))
		return -ENOMEM;
	mn = ~xchg(&hh->min_inv, 0);
	mx = xchg(&hh->max_ns, 0);
	sp->min = clamp(mn, hist_slot_lo(sp->idx[0]), hist_slot_hi(sp->idx[0]));
	sp->max = clamp(mx, hist_slot_lo(sp->idx[n - 1]), hist_slot_hi(sp->idx[n - 1]));
	/* raced: the registers were reset under a counted sample; its bucket's bounds */
	if (sp->min > sp->max) {
		sp->min = hist_slot_lo(sp->idx[0]);
		sp->max = hist_slot_hi(sp->idx[n - 1]);
	}
	return cb ? cb(ctx, r->cust, r->half, sp) : 0;
}

static int read_batch(struct pf_dp *dp, struct rd_batch *b, bool full,
		      pf_dp_delta_fn cb, void *ctx)
{
	uint32_t i;
	int err;

	rd_prefetch_headers(dp, b);
	rd_take_masks(dp, b, full);
	/* the last commit's updates up to this batch, their lines on their way */
	apply_pending(dp, b->cust[b->ncust - 1]);
	for (i = 0; i < b->nh; i++) {
		err = read_half(dp, b, &b->h[i], cb, ctx);
		if (err)
			return err;
	}
	b->ncust = 0;
	return 0;
}

static int read_all(struct pf_dp *dp, bool full, pf_dp_delta_fn cb, void *ctx)
{
	struct rd_batch *b = dp->batch;
	uint32_t w, cust;
	uint64_t bits;
	int err;

	b->ncust = 0;
	for (w = 0; w < dp->dirty_words; w++) {
		bits = xchg(&dp->dirty[w], 0);
		if (full)
			bits = ~0ULL;
		while (bits) {
			cust = w * 64 + __builtin_ctzll(bits);
			bits &= bits - 1;
			if (cust >= dp->o.max_customers)
				break;
			b->cust[b->ncust++] = cust;
			if (b->ncust == RD_BATCH) {
				err = read_batch(dp, b, full, cb, ctx);
				if (err)
					return err;
			}
		}
	}
	err = b->ncust ? read_batch(dp, b, full, cb, ctx) : 0;
	if (!err)
		apply_pending(dp, UINT32_MAX);	/* customers without samples this time */
	return err;
}

int pf_dp_read(struct pf_dp *dp, pf_dp_delta_fn cb, void *ctx)
{
	int err;

	if (dp->nstaged)
		return -EBUSY;	/* the previous read is not committed */
	dp->staged_samples = 0;
	err = read_all(dp, dp->full_pending, cb, ctx);
	if (!err) {
		dp->full_pending = false;
		return 0;
	}
	/*
	 * Stopped: the dirty and mask bits cleared so far are gone, but the
	 * shadow holds only committed values (the pending ones written so far
	 * were committed), so a full comparison next time finds it all.
	 */
	dp->nstaged = 0;
	dp->staged_samples = 0;
	dp->full_pending = true;
	return err;
}

const struct pf_dp_upd *pf_dp_staged(const struct pf_dp *dp, size_t *n)
{
	*n = dp->nstaged;
	return dp->staged;
}

/* Writes one update into the shadow. */
static void shadow_set(struct pf_dp *dp, const struct pf_dp_upd *u)
{
	struct pf_shadow_half *sh = &dp->shadow[u->cust].half[u->half];

	if (u->slot == PF_DP_UPD_SUM)
		sh->sum = u->value;
	else
		sh->slots[u->slot] = u->value;
}

/*
 * Committing (docs/datapath.md, "Exact deltas"): a commit records
 * its sequence number and samples in the state and keeps its updates as
 * pending; the next read writes them into the shadow customer by customer,
 * when it has that customer's shadow lines in hand anyway, instead of a
 * pass of its own over 100,000 customers' cold lines. Until then the
 * journal holds them (the agent writes it before it commits, and the next
 * journal only after a read that wrote them all), and pf_dp_apply of that
 * journal after a restart writes them again: updates are absolute values.
 * Writes the pending updates of customers up to 'upto'.
 */
static void apply_pending(struct pf_dp *dp, uint32_t upto)
{
	while (dp->pend_next < dp->npend && dp->pend[dp->pend_next].cust <= upto)
		shadow_set(dp, &dp->pend[dp->pend_next++]);
}

/*
 * Journaled updates: written into the shadow (after any pending ones).
 * Those of a sequence number not yet committed count as committed samples;
 * those of one already committed (its shadow writes were pending when the
 * process stopped) are only written again.
 */
int pf_dp_apply(struct pf_dp *dp, const struct pf_dp_upd *u, size_t n, uint64_t seq)
{
	bool counted = seq <= dp->state->committed_seq;
	size_t i;

	for (i = 0; i < n; i++)
		if (u[i].cust >= dp->o.max_customers || u[i].half >= PF_NHALVES ||
		    u[i].slot > PF_DP_UPD_SUM)
			return -EINVAL;
	apply_pending(dp, UINT32_MAX);
	for (i = 0; i < n; i++) {
		struct pf_shadow_half *sh = &dp->shadow[u[i].cust].half[u[i].half];

		/* cumulative values: what they grew by is what was reported */
		if (!counted && u[i].slot != PF_DP_UPD_SUM)
			dp->state->committed_samples += u[i].value - sh->slots[u[i].slot];
		shadow_set(dp, &u[i]);
	}
	if (!counted)
		__atomic_store_n(&dp->state->committed_seq, seq, __ATOMIC_RELEASE);
	return 0;
}

int pf_dp_commit_read(struct pf_dp *dp, uint64_t seq)
{
	struct pf_dp_upd *u = dp->pend;
	size_t cap = dp->cap_pend;

	apply_pending(dp, UINT32_MAX);	/* a read wrote them all; this is for a failed one */
	dp->state->committed_samples += dp->staged_samples;
	__atomic_store_n(&dp->state->committed_seq, seq, __ATOMIC_RELEASE);
	dp->pend = dp->staged;
	dp->cap_pend = dp->cap_staged;
	dp->npend = dp->nstaged;
	dp->pend_next = 0;
	dp->staged = u;
	dp->cap_staged = cap;
	dp->nstaged = 0;
	dp->staged_samples = 0;
	return 0;
}

/* At close: the pending updates written, so the state file is whole. */
void pf_dpi_free_state(struct pf_dp *dp)
{
	if (dp->shadow)
		apply_pending(dp, UINT32_MAX);
	free(dp->staged);
	free(dp->pend);
	free(dp->batch);
}
