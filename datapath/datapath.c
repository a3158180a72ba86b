// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Loader of the pingfold datapath: maps, pins, attaching (datapath/hook.c),
 * health, the customer trie, counters. The exactly-once reader is in
 * datapath/reader.c. See docs/datapath.md.
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
#include "datapath/datapath_int.h"
#include "common/log.h"

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
	[PF_STAT_IGNORED] = "ignored",
	[PF_STAT_FCACHE_HIT] = "fcache_hits",
	[PF_STAT_PSH_SKIPPED] = "psh_skipped",
	[PF_STAT_FAST] = "fast_path",
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

/*
 * Maps that hold only caches and counters: when a pinned one has another
 * layout than this build's (an upgrade that changed it), it is made anew
 * rather than refusing to start. The customers' histograms, dirty bits,
 * trie and meta are never dropped this way: a change there stops the load
 * with a message (see pf_dp_open).
 */
static bool map_is_cache(const char *name)
{
	static const char *const caches[] = { "flows", "tstamps", "stats", "ignores", "fcache" };
	size_t i;

	for (i = 0; i < sizeof(caches) / sizeof(caches[0]); i++)
		if (!strcmp(name, caches[i]))
			return true;
	return false;
}

/* The pinned map at path differs from map (type, sizes, entries, flags)? */
static bool pin_differs(const struct bpf_map *map, const char *path)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);
	bool differs;

	if (fd < 0)
		return false;	/* not readable: libbpf says what is wrong */
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		close(fd);
		return false;
	}
	close(fd);
	differs = info.type != (__u32)bpf_map__type(map) ||
		  info.key_size != bpf_map__key_size(map) ||
		  info.value_size != bpf_map__value_size(map) ||
		  info.max_entries != bpf_map__max_entries(map) ||
		  info.map_flags != bpf_map__map_flags(map);
	return differs;
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
		if (access(path, F_OK))
			continue;
		if (map_is_cache(bpf_map__name(map)) && pin_differs(map, path)) {
			pr_warn("pinned map %s has another layout than this build's (an upgrade?): "
				"made anew (it holds only caches and counters)", path);
			if (unlink(path) && errno != ENOENT)
				return -errno;
			continue;
		}
		found++;
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
	int err = 0, ncpus;

	dp->dirty_words = (o->max_customers + 63) / 64;
	err = err ?: bpf_map__set_max_entries(s->maps.hists, o->max_customers);
	err = err ?: bpf_map__set_max_entries(s->maps.dirty, dp->dirty_words);
	err = err ?: bpf_map__set_max_entries(s->maps.customers, o->max_prefixes);
	err = err ?: bpf_map__set_max_entries(s->maps.flows, o->max_flows);
	err = err ?: bpf_map__set_max_entries(s->maps.tstamps, o->max_flows);
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0 || ncpus > 65536)
		return ncpus < 0 ? ncpus : -ERANGE;
	err = err ?: bpf_map__set_max_entries(s->maps.fcache, (__u32)ncpus * PF_FCACHE_SLOTS);
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
	/*
	 * The reader writes these pages (it clears mask and dirty bits): the
	 * first write to each page costs a fault, ~10 us on a VM, ~1 s over
	 * 100,000 customers. Taken here, at start, not in the first poll.
	 */
	sys_prefault(p, *len);
	return p;
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
	err = pf_dpi_map_state(dp);
	if (err)
		return err;
	dp->ncpus = libbpf_num_possible_cpus();
	if (dp->ncpus <= 0)
		return dp->ncpus ?: -EINVAL;
	dp->percpu = calloc(dp->ncpus, sizeof(*dp->percpu));
	return dp->percpu ? 0 : -ENOMEM;
}

int pf_dpi_set_epoch(struct pf_dp *dp, bool renew)
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
	dp->skel->rodata->pf_record_psh = o->record_psh;
	bpf_program__set_autoload(dp->skel->progs.pf_tc_empty, o->load_empty || o->attach_empty);
	bpf_program__set_autoload(dp->skel->progs.pf_tc_empty_egress, o->attach_empty);
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
	err = err ?: pf_dpi_init_state(dp);
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

static void prog_fds(struct pf_dp *dp, int fd[PF_HOOK_NDIRS])
{
	if (dp->o.attach_empty) {	/* the baseline of make bench */
		fd[PF_HOOK_INGRESS] = bpf_program__fd(dp->skel->progs.pf_tc_empty);
		fd[PF_HOOK_EGRESS] = bpf_program__fd(dp->skel->progs.pf_tc_empty_egress);
		return;
	}
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
	pf_dpi_free_state(dp);
	if (dp->state)
		munmap(dp->state, dp->state_len);
	free(dp->percpu);
	pingfold__destroy(dp->skel);
	free(dp);
}

int pf_dp_unpin(const char *pin_dir)
{
	static const char *const maps[] = {
		"customers", "hists", "dirty", "flows", "tstamps", "stats", "meta", "ignores", "fcache",
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

/* One (prefix -> unused) entry of the ignore trie, for sync_ignores. */
static bool in_list(const struct prefix *ps, size_t n, const struct pf_lpm_key *k)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ps[i].len == k->prefixlen && !memcmp(ps[i].addr, k->addr, 16))
			return true;
	return false;
}

int pf_dp_ignore_set(struct pf_dp *dp, const struct prefix *ps, size_t n)
{
	int fd = bpf_map__fd(dp->skel->maps.ignores), mfd = bpf_map__fd(dp->skel->maps.meta);
	struct pf_lpm_key k, next, *gone = NULL;
	char buf[PREFIX_STRLEN];
	size_t i, ngone = 0, cap = 0;
	struct pf_meta m;
	__u32 zero = 0, v = 1, count = 0;
	void *prev = NULL;
	int err = 0;

	for (i = 0; i < n; i++) {
		lpm_key(&k, &ps[i]);
		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY)) {
			err = -errno;
			pr_err("ignore prefix %s: %s", prefix_format(&ps[i], buf, sizeof(buf)),
			       err == -ENOSPC || err == -E2BIG || err == -ENOMEM ?
			       "the ignore trie is full (4096 prefixes)" : strerror(-err));
			return err;
		}
	}
	/* what is no longer listed goes (collected first: deleting while walking skips keys) */
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		count++;
		if (in_list(ps, n, &k))
			continue;
		if (ngone == cap) {
			struct pf_lpm_key *g = realloc(gone, (cap = cap ? 2 * cap : 16) * sizeof(*g));

			if (!g) {
				free(gone);
				return -ENOMEM;
			}
			gone = g;
		}
		gone[ngone++] = k;
	}
	for (i = 0; i < ngone; i++)
		if (bpf_map_delete_elem(fd, &gone[i]) && errno != ENOENT)
			err = err ?: -errno;
	free(gone);
	if (err)
		return err;
	if (bpf_map_lookup_elem(mfd, &zero, &m))
		return -errno;
	m.n_ignores = count - (__u32)ngone;
	m.gen++;		/* flows look their ends up again */
	if (bpf_map_update_elem(mfd, &zero, &m, BPF_ANY))
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
