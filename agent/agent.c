// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * pingfold-agent's work: customers -> slots -> trie; every interval read
 * exact deltas, journal them, commit, publish. See docs/agent.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>
#include "common/sys.h"
#include "agent/agent.h"
#include "agent/keys.h"
#include "common/publisher.h"
#include "datapath/journal.h"
#include "common/cfgfile.h"
#include "common/jsonw.h"
#include "common/log.h"


struct agent {
	struct agent_cfg cfg;
	struct pf_dp *dp;
	struct keys keys;		/* customer keys and the current list */
	bool catalog_dirty;
	uint64_t epoch;
	uint64_t seq;			/* last delta published */
	uint64_t last_end_ns;
	struct wire_delta delta;
	struct publisher *pub;		/* pub socket, replay ring and server */
	int lock_fd;
	char journal[PATH_MAX];
	char ring_dir[PATH_MAX];
	struct pf_dp_health health;	/* the hooks at the last poll */
	/* counters published in stats/<box> */
	uint64_t n_polls, n_reloads, n_reload_errors;
	size_t n_ignores;		/* prefixes in the ignore trie */
};

/* ---- the customer files and the ignore list ----------------------------- */

#define AGENT_MAX_IGNORES	4096	/* the ignore trie's size */

int agent_check_ignores(const struct agent_cfg *c, struct prefix **out, size_t *n,
			struct cfg_err *err)
{
	char *text = NULL;
	size_t len;
	int i, rc = 0;

	*out = NULL;
	*n = 0;
	for (i = 0; !rc && i < c->nignore; i++)
		rc = prefix_list_parse(c->ignore[i], "--ignore", out, n, err);
	if (!rc && c->ignore_file) {
		rc = sys_read_file(c->ignore_file, 1 << 20, &text, &len);
		if (rc)
			rc = cfg_err_set(err, c->ignore_file, 0, rc, "%s", rc == -EFBIG ?
					 "larger than 1 MiB" : strerror(-rc));
		else
			rc = prefix_list_parse(text, c->ignore_file, out, n, err);
		free(text);
	}
	if (!rc && *n > AGENT_MAX_IGNORES)
		rc = cfg_err_set(err, c->ignore_file ? c->ignore_file : "--ignore", 0, -E2BIG,
				 "%zu prefixes to ignore, more than %d", *n, AGENT_MAX_IGNORES);
	if (rc) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

/* The ignore trie from the options and file: 0, or an error logged (the old list stays). */
static int load_ignores(struct agent *a, bool reload)
{
	struct prefix *v;
	struct cfg_err e;
	char buf[600];
	size_t n;
	int err = agent_check_ignores(&a->cfg, &v, &n, &e);

	if (err) {
		pr_err("%s%s", cfg_err_str(&e, buf, sizeof(buf)),
		       reload ? "; the ignore list in force stays" : "");
		return err;
	}
	err = pf_dp_ignore_set(a->dp, v, n);
	free(v);
	if (err) {
		pr_err("cannot set the ignore list in the datapath: %s", strerror(-err));
		return err;
	}
	if (n || a->n_ignores)
		pr_info("ignoring samples towards %zu prefixes", n);
	a->n_ignores = n;
	return 0;
}

int agent_check_customers(const struct agent_cfg *c, struct custlist *out, struct cfg_err *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!c->customers) {
		snprintf(err->file, sizeof(err->file), "(options)");
		err->line = 0;
		snprintf(err->msg, sizeof(err->msg), "no customer file (--customers FILE)");
		return -EINVAL;
	}
	rc = custlist_load(c->customers, out, err);
	if (!rc && c->network)
		rc = custlist_apply_network(out, c->network, err);
	if (!rc && out->n > c->dp.max_customers) {
		snprintf(err->file, sizeof(err->file), "%s", c->customers);
		err->line = 0;
		snprintf(err->msg, sizeof(err->msg), "%zu customers, more than --max-customers %u",
			 out->n, c->dp.max_customers);
		rc = -E2BIG;
	}
	if (!rc && out->nprefixes > c->dp.max_prefixes) {
		snprintf(err->file, sizeof(err->file), "%s", c->customers);
		err->line = 0;
		snprintf(err->msg, sizeof(err->msg), "%zu prefixes, more than --max-prefixes %u",
			 out->nprefixes, c->dp.max_prefixes);
		rc = -E2BIG;
	}
	if (rc)
		custlist_free(out);
	return rc;
}

/* ---- customer keys ------------------------------------------------------ */

struct pin_list {
	struct key_pin *v;
	size_t n, cap;
};

static int on_trie_prefix(void *ctx, const struct prefix *p, uint32_t key)
{
	struct pin_list *t = ctx;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct key_pin *n = realloc(t->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		t->v = n;
		t->cap = cap;
	}
	t->v[t->n++] = (struct key_pin){ *p, key };
	return 0;
}

/*
 * Gives every customer of l its key (agent/keys.h), then writes the trie:
 * every prefix of l set, every other prefix deleted, generation bumped. On
 * success l becomes the current list; on error the old one stays.
 */
static int assign_keys(struct agent *a, struct custlist *l)
{
	struct pin_list t = { 0 };
	const struct cust *full;
	struct key_plan plan;
	size_t i;
	uint32_t j;
	int err;

	err = pf_dp_prefix_each(a->dp, on_trie_prefix, &t);
	err = err ?: keys_plan(&a->keys, l, t.v, t.n, a->seq, &plan, &full);
	free(t.v);
	if (err == -ENOSPC)
		pr_err("no free customer key for '%s' (--max-customers %u)", full->id, a->keys.n);
	if (err)
		return err;
	for (i = 0; i < l->n && !err; i++)
		for (j = 0; j < l->v[i].nprefixes && !err; j++)
			err = pf_dp_prefix_set(a->dp, &l->v[i].prefixes[j], plan.cust_key[i]);
	for (i = 0; i < plan.nstale && !err; i++)
		pf_dp_prefix_del(a->dp, &plan.stale[i]);
	err = err ?: pf_dp_commit(a->dp);
	if (!err) {
		keys_apply(&a->keys, l, &plan, a->seq);
		a->catalog_dirty = true;
	}
	key_plan_free(&plan);
	return err;
}

/* ---- publishing --------------------------------------------------------- */

static int send_catalog(struct agent *a)
{
	struct wire_catalog c;
	char *msg;
	size_t len;
	uint32_t s;
	int err = 0;

	wire_catalog_init(&c);
	snprintf(c.box, sizeof(c.box), "%s", a->cfg.box);
	c.epoch = a->epoch;
	c.seq = a->seq;
	for (s = 0; s < a->keys.n && err != -ENOMEM; s++) {
		const struct wire_cust *wc = &a->keys.v[s].c;

		if (!a->keys.v[s].named)
			continue;
		/* one unencodable entry must not silence the others */
		err = wire_catalog_add(&c, s, wc->id, wc->name, wc->site);
		if (err && err != -ENOMEM)
			pr_warn("catalog: customer '%s' left out: %s", wc->id, strerror(-err));
	}
	err = err == -ENOMEM ? err : wire_encode_catalog(&c, &msg, &len);
	wire_catalog_free(&c);
	if (err) {
		pr_err("encoding the catalog: %s", strerror(-err));
		return err;
	}
	publisher_send(a->pub, msg, len);
	free(msg);
	a->catalog_dirty = false;
	return 0;
}

static void stat_add(struct wire_stats *st, const char *name, uint64_t v)
{
	if (st->n == WIRE_MAX_STATS)
		return;
	snprintf(st->s[st->n].name, sizeof(st->s[st->n].name), "%s", name);
	st->s[st->n++].value = v;
}

static void send_stats(struct agent *a)
{
	uint64_t dp[PF_STAT_MAX];
	struct publisher_counts pc;
	struct wire_stats st = { 0 };
	char *msg;
	size_t len;
	int i;

	snprintf(st.box, sizeof(st.box), "%s", a->cfg.box);
	st.epoch = a->epoch;
	st.seq = a->seq;
	st.time_ns = sys_now_ns(CLOCK_REALTIME);
	if (pf_dp_stats(a->dp, dp) == 0)
		for (i = 0; i < PF_STAT_MAX; i++)
			stat_add(&st, pf_dp_stat_name(i), dp[i]);
	stat_add(&st, "samples_committed", pf_dp_committed_samples(a->dp));
	stat_add(&st, "agent_polls", a->n_polls);
	publisher_counts(a->pub, &pc);
	stat_add(&st, "agent_publish_errors", pc.errors);
	stat_add(&st, "agent_bytes_published", pc.bytes);
	stat_add(&st, "agent_replay_requests", pc.replay_requests);
	stat_add(&st, "agent_replay_deltas_sent", pc.replay_sent);
	stat_add(&st, "agent_reloads", a->n_reloads);
	stat_add(&st, "agent_reload_errors", a->n_reload_errors);
	stat_add(&st, "agent_customers", a->keys.cust.n);
	stat_add(&st, "agent_ignore_prefixes", a->n_ignores);
	stat_add(&st, "agent_ring_bytes", pc.ring_bytes);
	stat_add(&st, "hook_tcx", a->health.tcx);
	stat_add(&st, "hook_count", a->health.hooks);
	stat_add(&st, "hook_missing", a->health.missing);
	stat_add(&st, "hook_not_first", a->health.not_first);
	stat_add(&st, "hook_not_running", a->health.not_running);
	stat_add(&st, "hook_reattached", a->health.reattached);
	stat_add(&st, "hook_blind_intervals", a->health.blind_checks);
	if (wire_encode_stats(&st, &msg, &len) == 0) {
		publisher_send(a->pub, msg, len);
		free(msg);
	}
}

/* ---- after a restart: the journal ----------------------------------------- */

/*
 * The journaled delta either was committed (seq == committed: its updates
 * may still have been pending, datapath/reader.c, and are written again)
 * or not yet (seq == committed + 1: they are applied and committed now).
 * Either way it is published again under its own seq, and receivers drop
 * it if they had it.
 */
static int journal_recover(struct agent *a)
{
	uint64_t committed = pf_dp_committed_seq(a->dp);
	struct journal_entry e;
	const char *why;
	int n, rc;

	a->seq = committed;
	n = publisher_ring_load(a->pub, committed);
	if (n)
		pr_info("replay ring: %d deltas kept from before the restart", n);
	rc = journal_read(a->journal, a->epoch, committed, &e, &why);
	if (rc < 0) {
		pr_err("journal %s: %s", a->journal, strerror(-rc));
		return rc;
	}
	if (rc == 0) {
		if (why)
			pr_warn("journal %s is %s; ignored", a->journal, why);
		return 0;
	}
	rc = pf_dp_apply(a->dp, e.upd, e.nupd, e.seq);
	if (rc) {
		journal_entry_free(&e);
		return rc;
	}
	a->seq = e.seq;
	pr_info("recovered delta %llu of epoch %llu from the journal; publishing it again",
		(unsigned long long)e.seq, (unsigned long long)a->epoch);
	publisher_delta(a->pub, e.seq, e.msg, e.len);
	e.msg = NULL;
	journal_entry_free(&e);
	return 0;
}

/* ---- the interval -------------------------------------------------------- */

static int on_delta(void *ctx, uint32_t slot, enum pf_half half, const struct hist_sparse *d)
{
	struct agent *a = ctx;

	return wire_delta_add(&a->delta, slot, (uint8_t)half, d);
}

int agent_poll(struct agent *a)
{
	uint64_t end = sys_now_ns(CLOCK_REALTIME);
	const struct pf_dp_upd *upd;
	size_t len, nupd;
	char *msg;
	int err;

	/* a shaper reload may have removed or overtaken our programs */
	pf_dp_check(a->dp, &a->health);
	wire_delta_reset(&a->delta);
	err = pf_dp_read(a->dp, on_delta, a);
	if (err) {
		pr_err("reading the datapath: %s", strerror(-err));
		return err;
	}
	snprintf(a->delta.box, sizeof(a->delta.box), "%s", a->cfg.box);
	a->delta.epoch = a->epoch;
	a->delta.seq = a->seq + 1;
	a->delta.start_ns = a->last_end_ns ? a->last_end_ns : end - a->cfg.interval_ms * 1000000;
	a->delta.end_ns = end;
	a->delta.scale = PF_HIST_SCALE;
	err = wire_encode_delta(&a->delta, &msg, &len);
	if (err) {
		pr_err("encoding delta %llu: %s", (unsigned long long)a->delta.seq, strerror(-err));
		return err;
	}
	/* journal, then commit, then publish: see docs/agent.md */
	upd = pf_dp_staged(a->dp, &nupd);
	err = journal_write(a->journal, a->epoch, a->seq + 1, msg, len, upd, nupd);
	if (err)
		pr_err("journal %s: %s", a->journal, strerror(-err));
	err = err ?: pf_dp_commit_read(a->dp, a->seq + 1);
	if (err) {
		free(msg);
		return err;
	}
	a->seq++;
	a->last_end_ns = end;
	a->n_polls++;
	if (publisher_catalog_due(a->pub, a->catalog_dirty))
		send_catalog(a);
	publisher_delta(a->pub, a->seq, msg, len);
	send_stats(a);
	return 0;
}

static int open_publisher(struct agent *a)
{
	const struct agent_cfg *c = &a->cfg;
	struct publisher_opts o = {
		.box = c->box, .epoch = a->epoch,
		.listen = c->listen, .nlisten = c->nlisten,
		.dial = c->connect, .ndial = c->nconnect,
		.replay = c->replay, .nreplay = c->nreplay,
		.tls = &c->tls, .ring_len = c->replay_intervals, .ring_dir = a->ring_dir,
		.catalog_every = c->catalog_every, .warn_plain = true,
	};

	return publisher_open(&a->pub, &o);
}

/* ---- open / run / close ------------------------------------------------- */

static void remove_state(const struct agent_cfg *c);

static int state_paths(struct agent *a, char *state, size_t len)
{
	char lock[PATH_MAX];

	if (mkdir(a->cfg.state_dir, 0700) && errno != EEXIST) {
		pr_err("state directory %s: %s", a->cfg.state_dir, strerror(errno));
		return -errno;
	}
	snprintf(lock, sizeof(lock), "%s/lock", a->cfg.state_dir);
	a->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (a->lock_fd < 0 || flock(a->lock_fd, LOCK_EX | LOCK_NB)) {
		pr_err("%s: another pingfold-agent uses %s", lock, a->cfg.state_dir);
		return -EBUSY;
	}
	snprintf(state, len, "%s/reader.state", a->cfg.state_dir);
	snprintf(a->journal, sizeof(a->journal), "%s/journal", a->cfg.state_dir);
	snprintf(a->ring_dir, sizeof(a->ring_dir), "%s/ring", a->cfg.state_dir);
	return 0;
}

/* The interfaces attached, for a later --detach (one name a line). */
static void save_ifaces(struct agent *a)
{
	char path[PATH_MAX];
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "%s/ifaces", a->cfg.state_dir);
	f = fopen(path, "w");
	if (!f)
		return;
	for (i = 0; i < a->cfg.nifaces; i++)
		fprintf(f, "%s\n", a->cfg.ifaces[i]);
	fclose(f);
}

int agent_open(struct agent **ap, const struct agent_cfg *cfg)
{
	struct custlist l;
	struct cfg_err e;
	char state[PATH_MAX], buf[600];
	struct pf_dp_opts o;
	struct agent *a;
	uint32_t ncust;
	int err, i;

	*ap = NULL;
	err = agent_check_customers(cfg, &l, &e);
	if (err) {
		pr_err("%s", cfg_err_str(&e, buf, sizeof(buf)));
		return err;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		custlist_free(&l);
		return -ENOMEM;
	}
	a->cfg = *cfg;
	a->lock_fd = -1;
	wire_delta_init(&a->delta);
	err = state_paths(a, state, sizeof(state));
	if (err)
		goto fail;
	o = cfg->dp;
	o.state_path = state;
	err = pf_dp_open(&a->dp, &o);
	if (err)
		goto fail;
	a->epoch = pf_dp_epoch(a->dp);
	ncust = pf_dp_max_customers(a->dp);
	/* a histogram of every customer-half, two buckets each: grown beyond */
	err = wire_delta_reserve(&a->delta, ncust * PF_NHALVES, ncust * PF_NHALVES * 2);
	err = err ?: keys_init(&a->keys, ncust);
	err = err ?: open_publisher(a);
	err = err ?: assign_keys(a, &l);
	err = err ?: load_ignores(a, false);
	if (err)
		goto fail;
	pr_info("box %s epoch %llu: %zu customers, %zu prefixes%s", cfg->box,
		(unsigned long long)a->epoch, a->keys.cust.n, a->keys.cust.nprefixes,
		pf_dp_state_kept(a->dp) ? " (continuing after a restart)" : "");
	err = journal_recover(a);
	if (err)
		goto fail;
	for (i = 0; i < cfg->nifaces; i++) {
		err = pf_dp_attach(a->dp, cfg->ifaces[i]);
		if (err)
			goto fail;
	}
	save_ifaces(a);
	a->last_end_ns = sys_now_ns(CLOCK_REALTIME);
	send_catalog(a);
	*ap = a;
	return 0;
fail:
	custlist_free(&l);
	/*
	 * A fresh start that failed takes back what it made; a restart that
	 * failed leaves the running datapath counting for the next try.
	 */
	if (a->dp && !pf_dp_reused(a->dp)) {
		pf_dp_close(a->dp);
		a->dp = NULL;
		if (cfg->dp.pin_dir)
			pf_dp_unpin(cfg->dp.pin_dir);
		remove_state(cfg);
	}
	agent_close(a, false);
	return err;
}

int agent_reload(struct agent *a)
{
	struct custlist l;
	struct cfg_err e;
	char buf[600];
	int err;

	a->n_reloads++;
	if ((a->cfg.nignore || a->cfg.ignore_file || a->n_ignores) && load_ignores(a, true))
		a->n_reload_errors++;
	err = agent_check_customers(&a->cfg, &l, &e);
	if (err) {
		a->n_reload_errors++;
		pr_err("reload rejected, the old customer list stays: %s",
		       cfg_err_str(&e, buf, sizeof(buf)));
		return err;
	}
	err = assign_keys(a, &l);
	if (err) {
		a->n_reload_errors++;
		custlist_free(&l);
		pr_err("reload failed while updating the datapath: %s", strerror(-err));
		return err;
	}
	pr_info("reloaded: %zu customers, %zu prefixes", a->keys.cust.n, a->keys.cust.nprefixes);
	return send_catalog(a);
}

static void sleep_until(uint64_t t, volatile int *stop, volatile int *reload)
{
	struct timespec ts = { .tv_sec = t / 1000000000ULL, .tv_nsec = t % 1000000000ULL };

	while (!*stop && !*reload &&
	       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

int agent_run(struct agent *a, volatile int *stop, volatile int *reload)
{
	uint64_t next = sys_now_ns(CLOCK_MONOTONIC);
	int err;

	while (!*stop) {
		next += a->cfg.interval_ms * 1000000ULL;
		sleep_until(next, stop, reload);
		if (*reload) {
			*reload = 0;
			agent_reload(a);
			next -= a->cfg.interval_ms * 1000000ULL;	/* keep the beat */
			continue;
		}
		if (*stop)
			break;
		err = agent_poll(a);
		if (err)
			return err;
	}
	return 0;
}

void agent_print_json(struct agent *a)
{
	static const char *const half[] = { "access", "internet" };
	static const struct { const char *key; double q; } qs[] = {
		{ "p50_ns", 0.5 }, { "p95_ns", 0.95 }, { "p99_ns", 0.99 },
	};
	const struct wire_delta *d = &a->delta;
	uint64_t st[PF_STAT_MAX];
	struct hist_sparse h;
	uint32_t i, k;
	struct jw w;

	jw_init(&w);
	jw_obj(&w);
	jw_kstr(&w, "box", d->box);
	jw_ku64(&w, "epoch", d->epoch);
	jw_ku64(&w, "seq", d->seq);
	jw_ku64(&w, "start_ns", d->start_ns);
	jw_ku64(&w, "end_ns", d->end_ns);
	jw_ku64(&w, "scale", PF_HIST_SCALE);
	jw_key(&w, "hists");
	jw_arr(&w);
	for (i = 0; i < d->nh; i++) {
		const struct key_slot *s = &a->keys.v[d->h[i].key];

		wire_delta_get(d, i, &h);
		jw_obj(&w);
		jw_ku64(&w, "key", d->h[i].key);
		jw_kstr(&w, "customer", s->named ? s->c.id : "");
		jw_kstr(&w, "site", s->named ? s->c.site : "");
		jw_kstr(&w, "half", half[d->h[i].half & 1]);
		jw_ku64(&w, "count", h.count);
		jw_ku64(&w, "sum_ns", h.sum);
		jw_ku64(&w, "min_ns", h.min);
		jw_ku64(&w, "max_ns", h.max);
		for (k = 0; k < sizeof(qs) / sizeof(qs[0]); k++)
			jw_ku64(&w, qs[k].key, (uint64_t)llround(hist_sparse_quantile(&h, qs[k].q)));
		jw_key(&w, "buckets");
		jw_arr(&w);
		for (k = 0; k < h.n; k++) {
			jw_arr(&w);
			jw_u64(&w, h.idx[k]);
			jw_u64(&w, h.cnt[k]);
			jw_arr_end(&w);
		}
		jw_arr_end(&w);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_key(&w, "stats");
	jw_obj(&w);
	if (pf_dp_stats(a->dp, st) == 0)
		for (i = 0; i < PF_STAT_MAX; i++)
			jw_ku64(&w, pf_dp_stat_name(i), st[i]);
	jw_obj_end(&w);
	jw_obj_end(&w);
	if (!w.err)
		printf("%.*s\n", (int)w.len, w.buf);
	else
		pr_err("--json: out of memory");
	fflush(stdout);
	jw_free(&w);
}

static void remove_state(const struct agent_cfg *c)
{
	static const char *const files[] = { "reader.state", "journal", "journal.tmp", "ifaces" };
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", c->state_dir, files[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/ring", c->state_dir);
	publisher_ring_remove(path);
}

void agent_close(struct agent *a, bool final_poll)
{
	if (!a)
		return;
	if (final_poll && a->dp)
		agent_poll(a);
	publisher_close(a->pub, a->dp && final_poll ? 100 : 0);
	if (a->dp && a->cfg.detach_on_exit) {
		/* only our links and filters; a clsact qdisc is never ours to delete */
		pf_dp_close(a->dp);
		if (a->cfg.dp.pin_dir)
			pf_dp_unpin(a->cfg.dp.pin_dir);
		remove_state(&a->cfg);
		pr_info("detached and removed the pinned maps (--detach-on-exit)");
	} else if (a->dp) {
		/* leave the programs counting for the next agent */
		pf_dp_release(a->dp);
	}
	wire_delta_free(&a->delta);
	keys_free(&a->keys);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	free(a);
}

static void detach_one(const struct agent_cfg *c, const char *name)
{
	int n = pf_dp_detach_ifname(name, c->dp.pin_dir);

	if (n > 0)
		pr_info("detached from %s (%d program%s of pingfold's; nothing else touched)",
			name, n, n == 1 ? "" : "s");
}

int agent_detach(const struct agent_cfg *c)
{
	char path[PATH_MAX], name[64];
	int i, err = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/ifaces", c->state_dir);
	f = fopen(path, "r");
	if (f) {
		while (fscanf(f, "%63s", name) == 1)
			detach_one(c, name);
		fclose(f);
	}
	for (i = 0; i < c->nifaces; i++)
		detach_one(c, c->ifaces[i]);
	if (c->dp.pin_dir)
		err = pf_dp_unpin(c->dp.pin_dir);
	remove_state(c);
	return err;
}
