// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Loader and reader of the pingfold datapath. See docs/datapath.md for the
 * memory layout and why reads are exact.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "common/sys.h"
#include "pingfold.skel.h"
#include "datapath/datapath.h"
#include "common/log.h"

#define PF_DP_MAX_IFACES 32

/* The reader's last view of one customer-half: cumulative values. */
struct pf_shadow_half {
	uint64_t sum;
	uint64_t slots[PF_HIST_NSLOTS];
};

struct pf_shadow {
	struct pf_shadow_half half[PF_NHALVES];
};

/* Head of the reader state file; the shadow array follows at one page. */
#define PF_STATE_MAGIC "PFSTATE1"
struct pf_state_hdr {
	char magic[8];
	uint32_t version;
	uint32_t max_customers;
	uint64_t epoch;
	uint64_t committed_seq;
	uint64_t committed_samples;	/* version 2: samples of this epoch's deltas */
};

/* One interface we attached to, and what the last check read of its counters. */
struct pf_attach {
	struct pf_hook hook;
	uint64_t if_pkts[PF_HOOK_NDIRS];	/* the interface's rx / tx packets */
	bool counted;				/* if_pkts hold a reading */
	unsigned blind_logged;			/* bit per direction: "does not run" said */
};

struct pf_dp {
	struct pingfold *skel;
	struct pf_dp_opts o;
	char pin_dir[PATH_MAX / 2];
	bool reused;
	uint64_t epoch;
	struct pf_cust_hist *hists;
	size_t hists_len;
	__u64 *dirty;
	size_t dirty_len;
	uint32_t dirty_words;
	struct pf_state_hdr *state;	/* mmap of the state file, or anonymous */
	size_t state_len;
	struct pf_shadow *shadow;	/* inside the same mapping */
	bool state_kept;		/* state file matched the maps */
	bool full_pending;		/* next read compares every slot */
	struct pf_dp_upd *staged;	/* shadow updates of the last read */
	size_t nstaged, cap_staged;
	struct hist_sparse scratch;
	int ncpus;
	struct pf_stats *percpu;
	struct pf_attach att[PF_DP_MAX_IFACES];
	int natt;
	uint64_t hook_pkts[PF_HOOK_NDIRS][PF_HOOK_SLOTS];	/* at the last check */
	struct pf_dp_health health;
};

static const char *const stat_names[PF_STAT_MAX] = {
	[PF_STAT_PACKETS] = "packets",
	[PF_STAT_PARSED] = "parsed",
	[PF_STAT_NOT_IP] = "not_ip",
	[PF_STAT_TRUNCATED] = "truncated",
	[PF_STAT_ODD] = "odd",
	[PF_STAT_OTHER_L4] = "other_l4",
	[PF_STAT_TCP_NO_TS] = "tcp_no_ts",
	[PF_STAT_NO_CUSTOMER] = "no_customer",
	[PF_STAT_RECORDED] = "recorded",
	[PF_STAT_RATE_LIMITED] = "rate_limited",
	[PF_STAT_MATCHED] = "matched",
	[PF_STAT_SAMPLES] = "samples",
	[PF_STAT_FLOW_FULL] = "flow_map_full",
	[PF_STAT_TS_FULL] = "ts_map_full",
	[PF_STAT_BAD_SLOT] = "bad_slot",
};

const char *pf_dp_stat_name(enum pf_stat s)
{
	return s < PF_STAT_MAX ? stat_names[s] : "?";
}

void pf_dp_opts_default(struct pf_dp_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->pin_dir = PF_DP_PIN_DIR;
	o->max_customers = PF_DP_MAX_CUSTOMERS;
	o->max_prefixes = PF_DP_MAX_PREFIXES;
	o->max_flows = PF_DP_MAX_FLOWS;
	o->rate_limit_ns = PF_DP_RATE_LIMIT_NS;
	o->tc_priority = PF_DP_TC_PRIO;
}

static int libbpf_log(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	if (lvl == LIBBPF_DEBUG && log_get_level() < LOG_LVL_DEBUG)
		return 0;
	/* verifier logs are long: straight to stderr, unsplit */
	fputs(lvl == LIBBPF_WARN ? "libbpf: " : "libbpf: debug: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

static int mkdir_p(const char *dir)
{
	char tmp[PATH_MAX];
	char *p;

	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int set_pins(struct pf_dp *dp)
{
	struct bpf_map *map;
	char path[PATH_MAX];
	int err, found = 0, total = 0;

	err = mkdir_p(dp->pin_dir);
	if (err) {
		pr_err("cannot create pin directory %s: %s (is bpffs mounted on /sys/fs/bpf?)",
		       dp->pin_dir, strerror(-err));
		return err;
	}
	bpf_object__for_each_map(map, dp->skel->obj) {
		if (bpf_map__is_internal(map))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dp->pin_dir, bpf_map__name(map));
		err = bpf_map__set_pin_path(map, path);
		if (err)
			return err;
		total++;
		found += access(path, F_OK) == 0;
	}
	if (found && found != total)
		pr_warn("%s holds %d of %d maps; the missing ones are created anew",
			dp->pin_dir, found, total);
	dp->reused = found > 0;
	return 0;
}

static int size_maps(struct pf_dp *dp)
{
	const struct pf_dp_opts *o = &dp->o;
	struct pingfold *s = dp->skel;
	int err = 0;

	dp->dirty_words = (o->max_customers + 63) / 64;
	err = err ?: bpf_map__set_max_entries(s->maps.hists, o->max_customers);
	err = err ?: bpf_map__set_max_entries(s->maps.dirty, dp->dirty_words);
	err = err ?: bpf_map__set_max_entries(s->maps.customers, o->max_prefixes);
	err = err ?: bpf_map__set_max_entries(s->maps.flows, o->max_flows);
	err = err ?: bpf_map__set_max_entries(s->maps.tstamps, o->max_flows);
	return err;
}

static void *map_mmap(struct bpf_map *map, size_t *len)
{
	size_t pg = sysconf(_SC_PAGESIZE);
	size_t n = (size_t)bpf_map__max_entries(map) * bpf_map__value_size(map);
	void *p;

	*len = (n + pg - 1) / pg * pg;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);
	if (p == MAP_FAILED) {
		pr_err("cannot mmap map %s: %s", bpf_map__name(map), strerror(errno));
		return NULL;
	}
	return p;
}

static size_t state_size(uint32_t max_customers)
{
	size_t pg = sysconf(_SC_PAGESIZE);

	return pg + (size_t)max_customers * sizeof(struct pf_shadow);
}

/*
 * The reader's state: a file (kept across agent restarts, so a restarted
 * reader knows what was already reported) or anonymous memory.
 */
static int map_state(struct pf_dp *dp)
{
	size_t len = state_size(dp->o.max_customers);
	struct stat st;
	int fd = -1, flags = MAP_PRIVATE | MAP_ANONYMOUS;
	bool existed = false;

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

static int map_memory(struct pf_dp *dp)
{
	int err;

	dp->hists = map_mmap(dp->skel->maps.hists, &dp->hists_len);
	if (!dp->hists)
		return -ENOMEM;
	dp->dirty = map_mmap(dp->skel->maps.dirty, &dp->dirty_len);
	if (!dp->dirty)
		return -ENOMEM;
	err = map_state(dp);
	if (err)
		return err;
	dp->ncpus = libbpf_num_possible_cpus();
	if (dp->ncpus <= 0)
		return dp->ncpus ?: -EINVAL;
	dp->percpu = calloc(dp->ncpus, sizeof(*dp->percpu));
	return dp->percpu ? 0 : -ENOMEM;
}

static int set_epoch(struct pf_dp *dp, bool renew)
{
	int fd = bpf_map__fd(dp->skel->maps.meta);
	struct pf_meta m;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fd, &zero, &m))
		return -errno;
	if (m.epoch == 0 || renew) {
		m.epoch = sys_now_ns(CLOCK_REALTIME);
		if (bpf_map_update_elem(fd, &zero, &m, BPF_ANY))
			return -errno;
	}
	dp->epoch = m.epoch;
	return 0;
}

static int read_all(struct pf_dp *dp, bool full, pf_dp_delta_fn cb, void *ctx);

/*
 * Ties the reader state to the maps. Kept state of the same epoch: the
 * next read compares every slot, so whatever the datapath counted since
 * the last committed read is reported, once. New maps: zero state. Maps
 * that outlived their state: their counts so far cannot be told apart
 * from reported ones, so they become the baseline, and a new epoch tells
 * receivers that the sequence starts again.
 */
static int init_state(struct pf_dp *dp)
{
	bool kept = dp->reused && dp->state_kept;
	int err;

	err = set_epoch(dp, false);
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
		if (!err)
			err = set_epoch(dp, true);
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

int pf_dp_open(struct pf_dp **dpp, const struct pf_dp_opts *o)
{
	struct pf_dp *dp;
	int err;

	*dpp = NULL;
	if (!o->max_customers || !o->max_prefixes || !o->max_flows) {
		pr_err("datapath sizes must be positive");
		return -EINVAL;
	}
	libbpf_set_print(libbpf_log);
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->o = *o;
	dp->skel = pingfold__open();
	if (!dp->skel) {
		err = -errno;
		pr_err("cannot open the BPF object: %s", strerror(-err));
		goto out_free;
	}
	dp->skel->rodata->pf_rate_limit_ns = o->rate_limit_ns;
	bpf_program__set_autoload(dp->skel->progs.pf_tc_empty, o->load_empty);
	err = size_maps(dp);
	if (o->pin_dir && !err) {
		if (snprintf(dp->pin_dir, sizeof(dp->pin_dir), "%s", o->pin_dir) >=
		    (int)sizeof(dp->pin_dir)) {
			pr_err("pin directory name too long: %s", o->pin_dir);
			err = -ENAMETOOLONG;
			goto out_destroy;
		}
		err = set_pins(dp);
	}
	if (err)
		goto out_destroy;
	err = pingfold__load(dp->skel);
	if (err) {
		pr_err("cannot load the BPF datapath%s%s: %s", dp->reused ? " reusing maps in " : "",
		       dp->reused ? dp->pin_dir : "", strerror(-err));
		if (dp->reused)
			pr_err("pinned maps differ from the options (sizes?); remove %s to start afresh",
			       dp->pin_dir);
		goto out_destroy;
	}
	err = map_memory(dp);
	err = err ?: init_state(dp);
	if (err)
		goto out_close;
	*dpp = dp;
	return 0;

out_close:
	pf_dp_close(dp);
	return err;
out_destroy:
	pingfold__destroy(dp->skel);
out_free:
	free(dp);
	return err;
}

bool pf_dp_reused(const struct pf_dp *dp)
{
	return dp->reused;
}

uint64_t pf_dp_epoch(const struct pf_dp *dp)
{
	return dp->epoch;
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

uint32_t pf_dp_max_customers(const struct pf_dp *dp)
{
	return dp->o.max_customers;
}

static void prog_fds(struct pf_dp *dp, int fd[PF_HOOK_NDIRS])
{
	fd[PF_HOOK_INGRESS] = bpf_program__fd(dp->skel->progs.pf_tc_ingress);
	fd[PF_HOOK_EGRESS] = bpf_program__fd(dp->skel->progs.pf_tc_egress);
}

int pf_dp_attach(struct pf_dp *dp, const char *ifname)
{
	struct pf_attach *a;
	int fd[PF_HOOK_NDIRS], err, i;

	for (i = 0; i < dp->natt; i++)
		if (!strcmp(dp->att[i].hook.ifname, ifname))
			return 0;
	if (dp->natt == PF_DP_MAX_IFACES) {
		pr_err("interface '%s': at most %d interfaces", ifname, PF_DP_MAX_IFACES);
		return -E2BIG;
	}
	a = &dp->att[dp->natt];
	memset(a, 0, sizeof(*a));
	prog_fds(dp, fd);
	err = pf_hook_attach(&a->hook, ifname, dp->o.attach_mode, dp->o.tc_priority,
			     dp->o.pin_dir ? dp->pin_dir : NULL, fd);
	if (err)
		return err;
	dp->natt++;
	return 0;
}

int pf_dp_detach(struct pf_dp *dp, const char *ifname)
{
	int i;

	for (i = 0; i < dp->natt; i++) {
		if (strcmp(dp->att[i].hook.ifname, ifname))
			continue;
		pf_hook_detach(&dp->att[i].hook);
		dp->att[i] = dp->att[--dp->natt];
		return 0;
	}
	return -ENOENT;
}

int pf_dp_detach_ifname(const char *ifname, const char *pin_dir)
{
	return pf_hook_detach_any(ifname, pin_dir);
}

/* An interface's packet counter from sysfs (of the caller's network namespace). */
static int if_counter(const char *ifname, const char *which, uint64_t *v)
{
	char path[128];
	unsigned long long x;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, which);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fscanf(f, "%llu", &x);
	fclose(f);
	if (n != 1)
		return -EIO;
	*v = x;
	return 0;
}

/* Every CPU's struct pf_stats into dp->percpu. */
static int read_percpu_stats(struct pf_dp *dp)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(dp->skel->maps.stats), &zero, dp->percpu))
		return -errno;
	return 0;
}

/* Packets the interface moved while our program saw none: it is not running. */
#define PF_DP_BLIND_PKTS 16

static void check_running(struct pf_dp *dp, struct pf_dp_health *h)
{
	static const char *const which[PF_HOOK_NDIRS] = { "rx_packets", "tx_packets" };
	uint64_t prog[PF_HOOK_NDIRS][PF_HOOK_SLOTS] = { { 0 } };
	uint64_t ifd[PF_HOOK_NDIRS][PF_HOOK_SLOTS] = { { 0 } };
	bool have[PF_HOOK_NDIRS][PF_HOOK_SLOTS] = { { false } };
	int c, d, i, k;

	if (read_percpu_stats(dp))
		return;
	for (c = 0; c < dp->ncpus; c++)
		for (d = 0; d < PF_HOOK_NDIRS; d++)
			for (k = 0; k < PF_HOOK_SLOTS; k++)
				prog[d][k] += dp->percpu[c].hook_pkts[d][k];
	/* interfaces whose index shares a slot are judged together */
	for (i = 0; i < dp->natt; i++) {
		struct pf_attach *a = &dp->att[i];

		k = a->hook.ifindex % PF_HOOK_SLOTS;
		for (d = 0; d < PF_HOOK_NDIRS; d++) {
			uint64_t v = 0;

			if (if_counter(a->hook.ifname, which[d], &v))
				continue;
			if (a->counted && v >= a->if_pkts[d]) {
				ifd[d][k] += v - a->if_pkts[d];
				have[d][k] = true;
			}
			a->if_pkts[d] = v;
		}
		a->counted = true;
	}
	for (i = 0; i < dp->natt; i++) {
		struct pf_attach *a = &dp->att[i];

		k = a->hook.ifindex % PF_HOOK_SLOTS;
		for (d = 0; d < PF_HOOK_NDIRS; d++) {
			bool blind = have[d][k] && ifd[d][k] >= PF_DP_BLIND_PKTS &&
				     prog[d][k] == dp->hook_pkts[d][k];
			if (blind) {
				h->not_running++;
				if (!(a->blind_logged & (1u << d)))
					pr_warn("interface '%s' %s: %llu packets passed, pingfold's "
						"program saw none: it is attached but does not run",
						a->hook.ifname, pf_hook_dir_name(d),
						(unsigned long long)ifd[d][k]);
				a->blind_logged |= 1u << d;
			} else if (have[d][k] && (a->blind_logged & (1u << d))) {
				pr_info("interface '%s' %s: pingfold's program runs again",
					a->hook.ifname, pf_hook_dir_name(d));
				a->blind_logged &= ~(1u << d);
			}
		}
	}
	memcpy(dp->hook_pkts, prog, sizeof(prog));
}

int pf_dp_check(struct pf_dp *dp, struct pf_dp_health *out)
{
	struct pf_dp_health *h = &dp->health;
	int fd[PF_HOOK_NDIRS], i, d, n, now = 0;

	prog_fds(dp, fd);
	h->hooks = h->missing = h->not_first = h->not_running = 0;
	for (i = 0; i < dp->natt; i++) {
		struct pf_hook *hk = &dp->att[i].hook;

		n = pf_hook_check(hk, fd);
		if (n > 0)
			now += n;
		h->tcx = hk->mode == PF_HOOK_TCX;
		for (d = 0; d < PF_HOOK_NDIRS; d++) {
			h->hooks++;
			h->missing += hk->side[d].state == PF_HOOK_MISSING;
			h->not_first += hk->side[d].state == PF_HOOK_NOT_FIRST;
		}
	}
	check_running(dp, h);
	/* a re-attachment means the interval before it was (partly) blind */
	h->reattached += (uint64_t)now;
	if (h->missing || h->not_first || h->not_running || now)
		h->blind_checks++;
	if (out)
		*out = *h;
	return 0;
}

void pf_dp_release(struct pf_dp *dp)
{
	if (!dp)
		return;
	while (dp->natt)
		pf_hook_release(&dp->att[--dp->natt].hook);
	pf_dp_close(dp);
}

void pf_dp_close(struct pf_dp *dp)
{
	if (!dp)
		return;
	while (dp->natt)
		pf_hook_detach(&dp->att[--dp->natt].hook);
	if (dp->hists)
		munmap(dp->hists, dp->hists_len);
	if (dp->dirty)
		munmap(dp->dirty, dp->dirty_len);
	if (dp->state)
		munmap(dp->state, dp->state_len);
	free(dp->staged);
	free(dp->percpu);
	pingfold__destroy(dp->skel);
	free(dp);
}

int pf_dp_unpin(const char *pin_dir)
{
	static const char *const maps[] = {
		"customers", "hists", "dirty", "flows", "tstamps", "stats", "meta",
	};
	char path[PATH_MAX];
	size_t i;
	int err = 0;

	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, maps[i]);
		if (unlink(path) && errno != ENOENT)
			err = -errno;
	}
	if (rmdir(pin_dir) && errno != ENOENT)
		err = err ?: -errno;
	return err;
}

static void lpm_key(struct pf_lpm_key *k, const struct prefix *p)
{
	k->prefixlen = p->len;
	memcpy(k->addr, p->addr, 16);
}

int pf_dp_prefix_set(struct pf_dp *dp, const struct prefix *p, uint32_t slot)
{
	struct pf_cust_val v = { .slot = slot };
	struct pf_lpm_key k;
	char buf[PREFIX_STRLEN];

	if (slot >= dp->o.max_customers) {
		pr_err("prefix %s: customer slot %u beyond the %u the datapath holds",
		       prefix_format(p, buf, sizeof(buf)), slot, dp->o.max_customers);
		return -ERANGE;
	}
	lpm_key(&k, p);
	if (bpf_map_update_elem(bpf_map__fd(dp->skel->maps.customers), &k, &v, BPF_ANY)) {
		int err = -errno;

		if (err == -ENOSPC || err == -E2BIG || err == -ENOMEM)
			pr_err("prefix %s: customer trie full (%u prefixes)",
			       prefix_format(p, buf, sizeof(buf)), dp->o.max_prefixes);
		else
			pr_err("prefix %s: cannot add to the customer trie: %s",
			       prefix_format(p, buf, sizeof(buf)), strerror(-err));
		return err;
	}
	return 0;
}

int pf_dp_prefix_del(struct pf_dp *dp, const struct prefix *p)
{
	struct pf_lpm_key k;

	lpm_key(&k, p);
	if (bpf_map_delete_elem(bpf_map__fd(dp->skel->maps.customers), &k))
		return -errno;
	return 0;
}

int pf_dp_prefix_each(struct pf_dp *dp, pf_dp_prefix_fn fn, void *ctx)
{
	int fd = bpf_map__fd(dp->skel->maps.customers);
	struct pf_lpm_key k, next;
	struct pf_cust_val v;
	struct prefix p;
	void *prev = NULL;
	int err;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &v))
			continue;	/* deleted meanwhile */
		memcpy(p.addr, k.addr, 16);
		p.len = (uint8_t)k.prefixlen;
		err = fn(ctx, &p, v.slot);
		if (err)
			return err;
	}
	return errno == ENOENT ? 0 : -errno;
}

int pf_dp_commit(struct pf_dp *dp)
{
	int fd = bpf_map__fd(dp->skel->maps.meta);
	struct pf_meta m;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fd, &zero, &m))
		return -errno;
	m.gen++;
	if (bpf_map_update_elem(fd, &zero, &m, BPF_ANY))
		return -errno;
	return 0;
}

int pf_dp_stats(struct pf_dp *dp, uint64_t out[PF_STAT_MAX])
{
	int c, i, err = read_percpu_stats(dp);

	if (err)
		return err;
	for (i = 0; i < PF_STAT_MAX; i++)
		out[i] = 0;
	for (c = 0; c < dp->ncpus; c++)
		for (i = 0; i < PF_STAT_MAX; i++)
			out[i] += dp->percpu[c].c[i];
	return 0;
}

static uint64_t xchg(__u64 *p, uint64_t v)
{
	return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/*
 * One customer-half: the slots flagged since the last read (all of them
 * when full) are diffed against the shadow. min/max are reset only when
 * there is a delta, and clamped into its first/last slot, since a sample
 * racing the read may have set them while its count lands next time.
 */
static int stage(struct pf_dp *dp, uint32_t cust, int half, uint32_t slot, uint64_t v)
{
	struct pf_dp_upd *u;

	if (dp->nstaged == dp->cap_staged) {
		size_t cap = dp->cap_staged ? dp->cap_staged * 2 : 4096;

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

static int read_half(struct pf_dp *dp, uint32_t cust, int half, bool full,
		     pf_dp_delta_fn cb, void *ctx)
{
	struct pf_hist_half *hh = &dp->hists[cust].half[half];
	struct pf_shadow_half *sh = &dp->shadow[cust].half[half];
	struct hist_sparse *sp = &dp->scratch;
	uint64_t m, cur, d, mn, mx;
	uint32_t w, s, n = 0;

	sp->count = 0;
	for (w = 0; w < PF_HIST_MASK_WORDS; w++) {
		/*
		 * Most words are zero: a plain load first spares a locked
		 * exchange. A bit set just after it waits for the next read,
		 * and its counter was incremented before the bit was set.
		 */
		m = full ? ~0ULL : __atomic_load_n(&hh->mask[w], __ATOMIC_RELAXED);
		if (m && !full)
			m = xchg(&hh->mask[w], 0);
		while (m) {
			s = w * 64 + __builtin_ctzll(m);
			m &= m - 1;
			if (s >= PF_HIST_NSLOTS)
				break;
			cur = __atomic_load_n(&hh->slots[s], __ATOMIC_ACQUIRE);
			d = cur - sh->slots[s];
			if (!d)
				continue;
			if (stage(dp, cust, half, s, cur))
				return -ENOMEM;
			sp->idx[n] = (uint16_t)s;
			sp->cnt[n] = d;
			sp->count += d;
			n++;
		}
	}
	sp->n = n;
	if (!n)
		return 0;
	cur = __atomic_load_n(&hh->sum_ns, __ATOMIC_ACQUIRE);
	sp->sum = cur - sh->sum;
	if (stage(dp, cust, half, PF_DP_UPD_SUM, cur))
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
	return cb ? cb(ctx, cust, half, sp) : 0;
}

static int read_all(struct pf_dp *dp, bool full, pf_dp_delta_fn cb, void *ctx)
{
	uint32_t w, cust;
	uint64_t bits;
	int half, err;

	for (w = 0; w < dp->dirty_words; w++) {
		bits = xchg(&dp->dirty[w], 0);
		if (full)
			bits = ~0ULL;
		while (bits) {
			cust = w * 64 + __builtin_ctzll(bits);
			bits &= bits - 1;
			if (cust >= dp->o.max_customers)
				break;
			for (half = 0; half < PF_NHALVES; half++) {
				err = read_half(dp, cust, half, full, cb, ctx);
				if (err)
					return err;
			}
		}
	}
	return 0;
}

int pf_dp_read(struct pf_dp *dp, pf_dp_delta_fn cb, void *ctx)
{
	int err;

	if (dp->nstaged)
		return -EBUSY;	/* the previous read is not committed */
	err = read_all(dp, dp->full_pending, cb, ctx);
	if (!err) {
		dp->full_pending = false;
		return 0;
	}
	/*
	 * Stopped: the dirty and mask bits cleared so far are gone, but the
	 * shadow is untouched, so a full comparison next time finds it all.
	 */
	dp->nstaged = 0;
	dp->full_pending = true;
	return err;
}

const struct pf_dp_upd *pf_dp_staged(const struct pf_dp *dp, size_t *n)
{
	*n = dp->nstaged;
	return dp->staged;
}

int pf_dp_apply(struct pf_dp *dp, const struct pf_dp_upd *u, size_t n, uint64_t seq)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct pf_shadow_half *sh;

		if (u[i].cust >= dp->o.max_customers || u[i].half >= PF_NHALVES ||
		    u[i].slot > PF_DP_UPD_SUM)
			return -EINVAL;
		sh = &dp->shadow[u[i].cust].half[u[i].half];
		if (u[i].slot == PF_DP_UPD_SUM) {
			sh->sum = u[i].value;
		} else {
			/* cumulative values: what they grew by is what was reported */
			dp->state->committed_samples += u[i].value - sh->slots[u[i].slot];
			sh->slots[u[i].slot] = u[i].value;
		}
	}
	__atomic_store_n(&dp->state->committed_seq, seq, __ATOMIC_RELEASE);
	return 0;
}

int pf_dp_commit_read(struct pf_dp *dp, uint64_t seq)
{
	int err = pf_dp_apply(dp, dp->staged, dp->nstaged, seq);

	if (!err)
		dp->nstaged = 0;
	return err;
}

int pf_dp_prog_fd(struct pf_dp *dp, const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(dp->skel->obj, name);

	return p ? bpf_program__fd(p) : -ENOENT;
}

int pf_dp_map_fd(struct pf_dp *dp, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(dp->skel->obj, name);

	return m ? bpf_map__fd(m) : -ENOENT;
}
