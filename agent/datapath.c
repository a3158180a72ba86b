// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Loader and reader of the pingfold datapath. See docs/datapath.md for the
 * memory layout and why reads are exact.
 */
#include <errno.h>
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
#include "pingfold.skel.h"
#include "agent/datapath.h"
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

struct pf_attach {
	int ifindex;
	char name[IF_NAMESIZE];
	bool created_hook;	/* we made the clsact qdisc, so we remove it */
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
	struct pf_shadow *shadow;
	size_t shadow_len;
	struct hist_sparse scratch;
	int ncpus;
	uint64_t *percpu;
	struct pf_attach att[PF_DP_MAX_IFACES];
	int natt;
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

/* A new datapath instance gets an epoch; a reused one keeps its own. */
static int init_meta(struct pf_dp *dp)
{
	int fd = bpf_map__fd(dp->skel->maps.meta);
	struct pf_meta m;
	struct timespec ts;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fd, &zero, &m))
		return -errno;
	if (m.epoch == 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		m.epoch = (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
		if (bpf_map_update_elem(fd, &zero, &m, BPF_ANY))
			return -errno;
	}
	dp->epoch = m.epoch;
	return 0;
}

static int read_all(struct pf_dp *dp, bool full, pf_dp_delta_fn cb, void *ctx);

static int map_memory(struct pf_dp *dp)
{
	dp->hists = map_mmap(dp->skel->maps.hists, &dp->hists_len);
	if (!dp->hists)
		return -ENOMEM;
	dp->dirty = map_mmap(dp->skel->maps.dirty, &dp->dirty_len);
	if (!dp->dirty)
		return -ENOMEM;
	dp->shadow_len = (size_t)dp->o.max_customers * sizeof(struct pf_shadow);
	dp->shadow = mmap(NULL, dp->shadow_len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dp->shadow == MAP_FAILED) {
		dp->shadow = NULL;
		pr_err("cannot allocate %zu bytes of reader state", dp->shadow_len);
		return -ENOMEM;
	}
	dp->ncpus = libbpf_num_possible_cpus();
	if (dp->ncpus <= 0)
		return dp->ncpus ?: -EINVAL;
	dp->percpu = calloc(dp->ncpus, sizeof(uint64_t));
	return dp->percpu ? 0 : -ENOMEM;
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
	err = err ?: init_meta(dp);
	/* reused maps: what they hold was read by an earlier reader or is lost */
	if (!err && dp->reused)
		err = read_all(dp, true, NULL, NULL);
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

uint32_t pf_dp_max_customers(const struct pf_dp *dp)
{
	return dp->o.max_customers;
}

static int tc_attach_one(struct pf_dp *dp, int ifindex, enum bpf_tc_attach_point ap, int fd)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ap);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = PF_DP_TC_HANDLE,
			    .priority = dp->o.tc_priority, .prog_fd = fd,
			    .flags = BPF_TC_F_REPLACE);

	return bpf_tc_attach(&hook, &opts);
}

static void tc_detach_one(struct pf_dp *dp, int ifindex, enum bpf_tc_attach_point ap)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = ap);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = PF_DP_TC_HANDLE,
			    .priority = dp->o.tc_priority);

	bpf_tc_detach(&hook, &opts);
}

int pf_dp_attach(struct pf_dp *dp, const char *ifname)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	struct pf_attach *a;
	int ifindex, err;

	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		pr_err("interface '%s' not found", ifname);
		return -ENODEV;
	}
	if (dp->natt == PF_DP_MAX_IFACES) {
		pr_err("interface '%s': at most %d interfaces", ifname, PF_DP_MAX_IFACES);
		return -E2BIG;
	}
	a = &dp->att[dp->natt];
	memset(a, 0, sizeof(*a));
	hook.ifindex = ifindex;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		pr_err("interface '%s': cannot create clsact qdisc: %s", ifname, strerror(-err));
		return err;
	}
	a->created_hook = !err;
	a->ifindex = ifindex;
	snprintf(a->name, sizeof(a->name), "%s", ifname);
	err = tc_attach_one(dp, ifindex, BPF_TC_INGRESS,
			    bpf_program__fd(dp->skel->progs.pf_tc_ingress));
	if (!err)
		err = tc_attach_one(dp, ifindex, BPF_TC_EGRESS,
				    bpf_program__fd(dp->skel->progs.pf_tc_egress));
	if (err) {
		pr_err("interface '%s': cannot attach tc programs: %s", ifname, strerror(-err));
		dp->natt++;
		pf_dp_detach(dp, ifname);
		return err;
	}
	dp->natt++;
	pr_info("attached to %s (ingress and egress, tc priority %u)", ifname, dp->o.tc_priority);
	return 0;
}

static void detach(struct pf_dp *dp, struct pf_attach *a)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

	tc_detach_one(dp, a->ifindex, BPF_TC_INGRESS);
	tc_detach_one(dp, a->ifindex, BPF_TC_EGRESS);
	if (a->created_hook)
		bpf_tc_hook_destroy(&hook);
}

int pf_dp_detach(struct pf_dp *dp, const char *ifname)
{
	int i;

	for (i = 0; i < dp->natt; i++) {
		if (strcmp(dp->att[i].name, ifname))
			continue;
		detach(dp, &dp->att[i]);
		dp->att[i] = dp->att[--dp->natt];
		return 0;
	}
	return -ENOENT;
}

void pf_dp_close(struct pf_dp *dp)
{
	if (!dp)
		return;
	while (dp->natt)
		detach(dp, &dp->att[--dp->natt]);
	if (dp->hists)
		munmap(dp->hists, dp->hists_len);
	if (dp->dirty)
		munmap(dp->dirty, dp->dirty_len);
	if (dp->shadow)
		munmap(dp->shadow, dp->shadow_len);
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
	int fd = bpf_map__fd(dp->skel->maps.stats);
	__u32 i;
	int c;

	for (i = 0; i < PF_STAT_MAX; i++) {
		if (bpf_map_lookup_elem(fd, &i, dp->percpu))
			return -errno;
		out[i] = 0;
		for (c = 0; c < dp->ncpus; c++)
			out[i] += dp->percpu[c];
	}
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
		m = xchg(&hh->mask[w], 0);
		if (full)
			m = ~0ULL;
		while (m) {
			s = w * 64 + __builtin_ctzll(m);
			m &= m - 1;
			if (s >= PF_HIST_NSLOTS)
				break;
			cur = __atomic_load_n(&hh->slots[s], __ATOMIC_ACQUIRE);
			d = cur - sh->slots[s];
			if (!d)
				continue;
			sh->slots[s] = cur;
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
	sh->sum = cur;
	mn = ~xchg(&hh->min_inv, 0);
	mx = xchg(&hh->max_ns, 0);
	sp->min = clamp(mn, hist_slot_lo(sp->idx[0]), hist_slot_hi(sp->idx[0]));
	sp->max = clamp(mx, hist_slot_lo(sp->idx[n - 1]), hist_slot_hi(sp->idx[n - 1]));
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
	return read_all(dp, false, cb, ctx);
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
