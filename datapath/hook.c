// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Attaching the datapath to an interface's hooks, as a guest of whatever
 * shaper owns the box. See hook.h and docs/operations.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "datapath/hook.h"
#include "datapath/tcx_compat.h"
#include "common/log.h"

#define TC_MAX_FILTERS	256	/* listed per hook; more are not looked at */
#define NL_TIMEOUT_MS	1000

static const char *const dir_name[PF_HOOK_NDIRS] = { "ingress", "egress" };
/* The datapath's program names, to recognise our filters without a handle. */
static const char *const our_progs[] = { "pf_tc_ingress", "pf_tc_egress", "pf_tc_empty" };

const char *pf_hook_dir_name(enum pf_hook_dir d)
{
	return d < PF_HOOK_NDIRS ? dir_name[d] : "?";
}

const char *pf_hook_mode_name(enum pf_hook_mode m)
{
	return m == PF_HOOK_TCX ? "tcx" : m == PF_HOOK_TC ? "tc" : "auto";
}

int pf_hook_mode_parse(const char *s, enum pf_hook_mode *m)
{
	if (!strcmp(s, "auto"))
		*m = PF_HOOK_AUTO;
	else if (!strcmp(s, "tcx"))
		*m = PF_HOOK_TCX;
	else if (!strcmp(s, "tc") || !strcmp(s, "clsact"))
		*m = PF_HOOK_TC;
	else
		return -EINVAL;
	return 0;
}

static unsigned tcx_type(enum pf_hook_dir d)
{
	return d == PF_HOOK_INGRESS ? PF_BPF_TCX_INGRESS : PF_BPF_TCX_EGRESS;
}

/* Program ids on a tcx hook, in the order they run; -EINVAL without tcx. */
static int tcx_query(int ifindex, enum pf_hook_dir d, __u32 *ids, __u32 *cnt)
{
	LIBBPF_OPTS(bpf_prog_query_opts, q, .prog_ids = ids, .prog_cnt = *cnt);
	int err;

	err = bpf_prog_query_opts(ifindex, (enum bpf_attach_type)tcx_type(d), &q);
	if (err && errno != ENOSPC)	/* ENOSPC: more than *cnt; the first ones are there */
		return -errno;
	*cnt = q.prog_cnt;
	return 0;
}

bool pf_hook_tcx_supported(void)
{
	static int known = -1;
	__u32 ids[1], cnt = 1;

	if (known < 0)
		known = tcx_query(1, PF_HOOK_INGRESS, ids, &cnt) == 0;	/* loopback */
	return known;
}

static uint32_t prog_id_of_fd(int fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* "name" of the program with this id, or "" when it cannot be read. */
static void prog_name(uint32_t id, char *buf, size_t len)
{
	struct bpf_prog_info info;
	__u32 ilen = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	buf[0] = '\0';
	if (fd < 0)
		return;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen) == 0)
		snprintf(buf, len, "%s", info.name);
	close(fd);
}

static bool is_our_prog_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(our_progs) / sizeof(our_progs[0]); i++)
		if (!strcmp(name, our_progs[i]))
			return true;
	return false;
}

/* ---- clsact filters over rtnetlink ------------------------------------- */

struct tc_filter {
	uint32_t prio;
	uint32_t handle;
	uint16_t proto;		/* host order */
	char kind[16];
	uint32_t prog_id;	/* bpf filters */
};

static int nl_open(void)
{
	struct timeval tv = { .tv_sec = NL_TIMEOUT_MS / 1000,
			      .tv_usec = (NL_TIMEOUT_MS % 1000) * 1000 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void parse_bpf_opts(struct rtattr *nest, struct tc_filter *f)
{
	int len = RTA_PAYLOAD(nest);
	struct rtattr *a;

	for (a = RTA_DATA(nest); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == TCA_BPF_ID && RTA_PAYLOAD(a) >= 4)
			memcpy(&f->prog_id, RTA_DATA(a), 4);
}

/* One RTM_NEWTFILTER message: 1 and *f filled for a filter of chain 0. */
static int parse_filter(struct nlmsghdr *nh, struct tc_filter *f)
{
	struct tcmsg *t = NLMSG_DATA(nh);
	int len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*t));
	struct rtattr *a, *opts = NULL;
	uint32_t chain = 0;

	if (len < 0 || !t->tcm_handle)	/* handle 0: a priority's head, not a filter */
		return 0;
	memset(f, 0, sizeof(*f));
	f->prio = TC_H_MAJ(t->tcm_info) >> 16;
	f->proto = ntohs((uint16_t)TC_H_MIN(t->tcm_info));
	f->handle = t->tcm_handle;
	for (a = (struct rtattr *)((char *)t + NLMSG_ALIGN(sizeof(*t))); RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		if (a->rta_type == TCA_KIND)
			snprintf(f->kind, sizeof(f->kind), "%.*s", (int)RTA_PAYLOAD(a),
				 (char *)RTA_DATA(a));
		else if (a->rta_type == TCA_OPTIONS)
			opts = a;
		else if (a->rta_type == TCA_CHAIN && RTA_PAYLOAD(a) >= 4)
			memcpy(&chain, RTA_DATA(a), 4);
	}
	if (chain)	/* only reached by a goto: does not decide who runs first */
		return 0;
	if (opts && !strcmp(f->kind, "bpf"))
		parse_bpf_opts(opts, f);
	return 1;
}

/* Sends an rtnetlink dump request; cb gets every answer; 0 or -errno. */
static int nl_dump(uint16_t type, int ifindex, uint32_t parent,
		   int (*cb)(struct nlmsghdr *nh, void *ctx), void *ctx)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg t;
	} req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg)), .nlmsg_type = type,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex, .tcm_parent = parent },
	};
	static char buf[65536];
	int fd, err = 0;
	bool done = false;

	fd = nl_open();
	if (fd < 0)
		return fd;
	if (send(fd, &req, req.nh.nlmsg_len, 0) < 0) {
		err = -errno;
		goto out;
	}
	while (!done) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *nh;

		if (len < 0) {
			err = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)len);
		     nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				err = ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
				goto out;
			}
			cb(nh, ctx);
		}
	}
out:
	close(fd);
	return err;
}

struct tc_list_ctx {
	struct tc_filter *v;
	int n, max;
};

static int tc_list_cb(struct nlmsghdr *nh, void *ctx)
{
	struct tc_list_ctx *c = ctx;

	if (nh->nlmsg_type == RTM_NEWTFILTER && c->n < c->max)
		c->n += parse_filter(nh, &c->v[c->n]);
	return 0;
}

/*
 * The filters of chain 0 on a clsact hook, in the order they run (by
 * priority, then as the classifier walks them). No clsact: none.
 */
static int tc_list(int ifindex, enum pf_hook_dir d, struct tc_filter *out, int max)
{
	struct tc_list_ctx c = { .v = out, .max = max };
	uint32_t parent = TC_H_MAKE(TC_H_CLSACT, d == PF_HOOK_INGRESS ? TC_H_MIN_INGRESS :
				    TC_H_MIN_EGRESS);
	int err = nl_dump(RTM_GETTFILTER, ifindex, parent, tc_list_cb, &c);

	return err ? err : c.n;
}

struct clsact_ctx {
	int ifindex;
	bool found;
};

static int clsact_cb(struct nlmsghdr *nh, void *ctx)
{
	struct clsact_ctx *c = ctx;
	struct tcmsg *t = NLMSG_DATA(nh);
	int len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*t));
	struct rtattr *a;

	/* a dump may list every interface's qdiscs */
	if (nh->nlmsg_type != RTM_NEWQDISC || len < 0 || t->tcm_ifindex != c->ifindex ||
	    t->tcm_handle != TC_H_MAKE(TC_H_CLSACT, 0))
		return 0;
	for (a = (struct rtattr *)((char *)t + NLMSG_ALIGN(sizeof(*t))); RTA_OK(a, len);
	     a = RTA_NEXT(a, len))
		if (a->rta_type == TCA_KIND && !strncmp(RTA_DATA(a), "clsact", RTA_PAYLOAD(a)))
			c->found = true;
	return 0;
}

/* Whether ifindex has a clsact qdisc (ours to add if missing, never to delete). */
static int has_clsact(int ifindex, bool *yes)
{
	struct clsact_ctx c = { .ifindex = ifindex };
	int err = nl_dump(RTM_GETQDISC, ifindex, 0, clsact_cb, &c);

	*yes = c.found;
	return err;
}

static bool tc_is_ours(const struct tc_filter *f, uint32_t our_id)
{
	char name[32];

	if (f->handle != PF_TC_HANDLE || strcmp(f->kind, "bpf"))
		return false;
	if (our_id)
		return f->prog_id == our_id;
	prog_name(f->prog_id, name, sizeof(name));
	return is_our_prog_name(name);
}

/* Our BPF filter (protocol all) can share a priority only with BPF filters of protocol all. */
static bool tc_shareable(const struct tc_filter *f)
{
	return !strcmp(f->kind, "bpf") && f->proto == ETH_P_ALL;
}

static void tc_describe(const struct tc_filter *f, char *buf, size_t len)
{
	char name[32] = "";

	if (f->prog_id)
		prog_name(f->prog_id, name, sizeof(name));
	snprintf(buf, len, "tc filter priority %u handle 0x%x %s%s%s%s protocol 0x%04x",
		 f->prio, f->handle, f->kind, f->prog_id ? " (" : "", name,
		 f->prog_id ? ")" : "", f->proto);
}

/* Whether priority p holds a filter ours cannot share; *who names it. */
static bool tc_prio_blocked(const struct tc_filter *v, int n, uint32_t p, uint32_t our_id,
			    const struct tc_filter **who)
{
	int i;

	for (i = 0; i < n; i++) {
		if (v[i].prio != p || tc_is_ours(&v[i], our_id))
			continue;
		if (!tc_shareable(&v[i])) {
			*who = &v[i];
			return true;
		}
	}
	return false;
}

/*
 * The priority to attach at: the configured one, or the lowest (runs
 * first) that holds nothing or only BPF filters ours can go ahead of.
 */
static int tc_choose_prio(struct pf_hook *h, enum pf_hook_dir d, const struct tc_filter *v,
			  int n, uint32_t *prio)
{
	const struct tc_filter *who = NULL;
	char desc[PF_HOOK_DESC];
	uint32_t p;

	if (h->want_prio) {
		if (tc_prio_blocked(v, n, h->want_prio, 0, &who)) {
			tc_describe(who, desc, sizeof(desc));
			pr_err("interface '%s' %s: priority %u holds %s, which pingfold's BPF "
			       "filter cannot share: choose another --tc-priority, or 0 to let "
			       "pingfold choose", h->ifname, dir_name[d], h->want_prio, desc);
			return -EEXIST;
		}
		*prio = h->want_prio;
		return 0;
	}
	for (p = 1; p < 0xffff; p++)
		if (!tc_prio_blocked(v, n, p, 0, &who))
			break;
	*prio = p;
	return 0;
}

static int tc_add(struct pf_hook *h, enum pf_hook_dir d, uint32_t prio, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = h->ifindex,
		    .attach_point = d == PF_HOOK_INGRESS ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = PF_TC_HANDLE, .priority = prio,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err;

	bool have;

	/* a missing clsact is added (the shaper may have deleted it); never removed */
	hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
	err = has_clsact(h->ifindex, &have);
	if (!err && !have)
		err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		pr_err("interface '%s': cannot add a clsact qdisc: %s", h->ifname, strerror(-err));
		return err;
	}
	hook.attach_point = d == PF_HOOK_INGRESS ? BPF_TC_INGRESS : BPF_TC_EGRESS;
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		pr_err("interface '%s' %s: cannot add the tc filter at priority %u: %s",
		       h->ifname, dir_name[d], prio, strerror(-err));
		return err;
	}
	h->side[d].prio = prio;
	h->side[d].prog_id = opts.prog_id;
	return 0;
}

static int tc_del(int ifindex, enum pf_hook_dir d, uint32_t prio)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = d == PF_HOOK_INGRESS ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = PF_TC_HANDLE, .priority = prio);

	return bpf_tc_detach(&hook, &opts);
}

/* ---- tcx links --------------------------------------------------------- */

static void link_pin_path(const struct pf_hook *h, enum pf_hook_dir d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/tcx-%s-%s", h->pin_dir, h->ifname, dir_name[d]);
}

/* An earlier agent's pinned link for this hook, or -1 (a stale pin is removed). */
static int tcx_take_pinned(struct pf_hook *h, enum pf_hook_dir d)
{
	struct pf_tcx_link_info info;
	__u32 len = sizeof(info);
	char path[256];
	int fd;

	if (!h->pin_dir[0])
		return -1;
	link_pin_path(h, d, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == PF_BPF_LINK_TYPE_TCX &&
	    (int)info.ifindex == h->ifindex && info.attach_type == tcx_type(d))
		return fd;
	/* the interface went away (or was re-created) since: start anew */
	pr_info("interface '%s' %s: pinned link %s no longer attached here, replacing it",
		h->ifname, dir_name[d], path);
	close(fd);
	unlink(path);
	return -1;
}

static int tcx_pin(struct pf_hook *h, enum pf_hook_dir d, int fd)
{
	char path[256];

	if (!h->pin_dir[0])
		return 0;
	link_pin_path(h, d, path, sizeof(path));
	unlink(path);
	if (bpf_obj_pin(fd, path)) {
		int err = -errno;

		pr_err("interface '%s' %s: cannot pin the tcx link at %s: %s", h->ifname,
		       dir_name[d], path, strerror(-err));
		return err;
	}
	return 0;
}

/* A new link, first on the hook. */
static int tcx_link_new(struct pf_hook *h, enum pf_hook_dir d, int prog_fd)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = PF_BPF_F_BEFORE);
	int fd, err;

	fd = bpf_link_create(prog_fd, h->ifindex, (enum bpf_attach_type)tcx_type(d), &lo);
	if (fd < 0) {
		err = -errno;
		pr_err("interface '%s' %s: cannot create the tcx link: %s", h->ifname,
		       dir_name[d], strerror(-err));
		return err;
	}
	err = tcx_pin(h, d, fd);
	if (err) {
		close(fd);
		return err;
	}
	h->side[d].link_fd = fd;
	h->side[d].prog_id = prog_id_of_fd(prog_fd);
	return 0;
}

static void tcx_link_drop(struct pf_hook *h, enum pf_hook_dir d)
{
	struct pf_hook_side *s = &h->side[d];

	if (s->link_fd < 0)
		return;
	bpf_link_detach(s->link_fd);
	close(s->link_fd);
	s->link_fd = -1;
}

static int tcx_attach(struct pf_hook *h, enum pf_hook_dir d, int prog_fd)
{
	struct pf_hook_side *s = &h->side[d];
	int fd = tcx_take_pinned(h, d);

	if (fd >= 0) {
		/* an earlier agent's link: keep its place, give it our program */
		if (bpf_link_update(fd, prog_fd, NULL) == 0) {
			s->link_fd = fd;
			s->prog_id = prog_id_of_fd(prog_fd);
			return 0;
		}
		pr_warn("interface '%s' %s: cannot update the pinned tcx link: %s; replacing it",
			h->ifname, dir_name[d], strerror(errno));
		bpf_link_detach(fd);
		close(fd);
	}
	return tcx_link_new(h, d, prog_fd);
}

/* ---- attach / check / detach ------------------------------------------- */

static int attach_side(struct pf_hook *h, enum pf_hook_dir d, int prog_fd)
{
	struct tc_filter v[TC_MAX_FILTERS];
	uint32_t prio;
	int n, err;

	if (h->mode == PF_HOOK_TCX)
		return tcx_attach(h, d, prog_fd);
	n = tc_list(h->ifindex, d, v, TC_MAX_FILTERS);
	if (n < 0) {
		pr_err("interface '%s' %s: cannot list tc filters: %s", h->ifname, dir_name[d],
		       strerror(-n));
		return n;
	}
	err = tc_choose_prio(h, d, v, n, &prio);
	if (err)
		return err;
	/* ours elsewhere (an earlier agent, another priority): move it here */
	for (int i = 0; i < n; i++)
		if (v[i].prio != prio && tc_is_ours(&v[i], 0))
			tc_del(h->ifindex, d, v[i].prio);
	return tc_add(h, d, prio, prog_fd);
}

int pf_hook_attach(struct pf_hook *h, const char *ifname, enum pf_hook_mode mode,
		   uint32_t tc_prio, const char *pin_dir, const int prog_fd[PF_HOOK_NDIRS])
{
	int d, err;

	memset(h, 0, sizeof(*h));
	h->side[0].link_fd = h->side[1].link_fd = -1;
	if (snprintf(h->ifname, sizeof(h->ifname), "%s", ifname) >= (int)sizeof(h->ifname)) {
		pr_err("interface '%s': name too long", ifname);
		return -ENAMETOOLONG;
	}
	h->ifindex = if_nametoindex(ifname);
	if (!h->ifindex) {
		pr_err("interface '%s' not found", ifname);
		return -ENODEV;
	}
	if (mode == PF_HOOK_TCX && !pf_hook_tcx_supported()) {
		pr_err("interface '%s': --attach tcx, but this kernel has no tcx (6.6+); "
		       "use --attach tc or auto", ifname);
		return -EOPNOTSUPP;
	}
	h->mode = mode == PF_HOOK_AUTO ? (pf_hook_tcx_supported() ? PF_HOOK_TCX : PF_HOOK_TC) :
		  mode;
	h->want_prio = tc_prio;
	if (pin_dir)
		snprintf(h->pin_dir, sizeof(h->pin_dir), "%s", pin_dir);
	for (d = 0; d < PF_HOOK_NDIRS; d++) {
		err = attach_side(h, d, prog_fd[d]);
		if (err) {
			pf_hook_detach(h);
			return err;
		}
	}
	/* an earlier agent's clsact filters, when this one uses tcx */
	if (h->mode == PF_HOOK_TCX)
		for (d = 0; d < PF_HOOK_NDIRS; d++) {
			struct tc_filter v[TC_MAX_FILTERS];
			int i, n = tc_list(h->ifindex, d, v, TC_MAX_FILTERS);

			for (i = 0; i < n; i++)
				if (tc_is_ours(&v[i], 0))
					tc_del(h->ifindex, d, v[i].prio);
		}
	pf_hook_check(h, prog_fd);
	if (h->mode == PF_HOOK_TCX)
		pr_info("attached to %s (ingress and egress, tcx links first on each hook)",
			ifname);
	else
		pr_info("attached to %s (ingress and egress, clsact filters at priority %u/%u)",
			ifname, h->side[0].prio, h->side[1].prio);
	return 0;
}

/*
 * What runs before ours on a hook, written into desc; PF_HOOK_MISSING when
 * ours is not there at all. *movable: re-attaching would put ours first.
 */
static enum pf_hook_state inspect(struct pf_hook *h, enum pf_hook_dir d, char *desc,
				  size_t len, bool *movable)
{
	struct pf_hook_side *s = &h->side[d];
	__u32 ids[64], cnt = 64;
	struct tc_filter v[TC_MAX_FILTERS];
	char name[32];
	int i, n, mine = -1;

	desc[0] = '\0';
	*movable = true;
	if (h->mode == PF_HOOK_TCX) {
		if (tcx_query(h->ifindex, d, ids, &cnt))
			return PF_HOOK_MISSING;
		for (i = 0; i < (int)cnt && mine < 0; i++)
			if (ids[i] == s->prog_id)
				mine = i;
		if (mine < 0)
			return PF_HOOK_MISSING;
		/* another pingfold's programs always pass on: no need to get ahead */
		for (i = 0; i < mine; i++) {
			prog_name(ids[i], name, sizeof(name));
			if (!is_our_prog_name(name)) {
				snprintf(desc, len, "tcx program id %u (%s)", ids[i], name);
				return PF_HOOK_NOT_FIRST;
			}
		}
		return PF_HOOK_OK;
	}
	n = tc_list(h->ifindex, d, v, TC_MAX_FILTERS);
	if (n < 0)
		return PF_HOOK_MISSING;
	for (i = 0; i < n && mine < 0; i++)
		if (v[i].prio == s->prio && tc_is_ours(&v[i], s->prog_id))
			mine = i;
	if (mine < 0)
		return PF_HOOK_MISSING;
	/* a tcx program of someone else runs before every clsact filter */
	if (pf_hook_tcx_supported() && tcx_query(h->ifindex, d, ids, &cnt) == 0) {
		for (i = 0; i < (int)cnt; i++) {
			prog_name(ids[i], name, sizeof(name));
			if (is_our_prog_name(name))
				continue;
			snprintf(desc, len, "tcx program id %u (%s)", ids[i], name);
			*movable = false;
			return PF_HOOK_NOT_FIRST;
		}
	}
	for (i = 0; i < mine; i++) {
		if (tc_is_ours(&v[i], 0))
			continue;
		tc_describe(&v[i], desc, len);
		/* ahead of it only in its own priority (BPF) or a lower one */
		*movable = tc_shareable(&v[i]) || (h->want_prio ? h->want_prio : 1) < v[i].prio;
		return PF_HOOK_NOT_FIRST;
	}
	return PF_HOOK_OK;
}

static int reattach_side(struct pf_hook *h, enum pf_hook_dir d, int prog_fd, bool present)
{
	struct pf_hook_side *s = &h->side[d];

	if (h->mode == PF_HOOK_TCX) {
		tcx_link_drop(h, d);
		return tcx_link_new(h, d, prog_fd);
	}
	if (s->prio && present)
		tc_del(h->ifindex, d, s->prio);
	s->prio = 0;
	return attach_side(h, d, prog_fd);
}

int pf_hook_check(struct pf_hook *h, const int prog_fd[PF_HOOK_NDIRS])
{
	char desc[PF_HOOK_DESC];
	int d, err, done = 0;

	for (d = 0; d < PF_HOOK_NDIRS; d++) {
		struct pf_hook_side *s = &h->side[d];
		enum pf_hook_state st, was = s->state;
		bool movable;

		st = inspect(h, d, desc, sizeof(desc), &movable);
		if (st == PF_HOOK_OK) {
			if (was != PF_HOOK_OK)
				pr_info("interface '%s' %s: pingfold's program runs first again",
					h->ifname, dir_name[d]);
			s->state = st;
			s->before[0] = '\0';
			continue;
		}
		/* the same blocker as last time, already tried: only report it */
		if (st == PF_HOOK_NOT_FIRST && was == PF_HOOK_NOT_FIRST &&
		    !strcmp(desc, s->before))
			continue;
		if (st == PF_HOOK_MISSING)
			pr_warn("interface '%s' %s: pingfold's %s is gone (a shaper reload?); "
				"re-attaching", h->ifname, dir_name[d],
				h->mode == PF_HOOK_TCX ? "tcx link" : "clsact filter");
		else if (movable)
			pr_warn("interface '%s' %s: %s runs before pingfold's program; "
				"re-attaching in front of it", h->ifname, dir_name[d], desc);
		if (st == PF_HOOK_MISSING || movable) {
			err = reattach_side(h, d, prog_fd[d], st != PF_HOOK_MISSING);
			if (err) {
				s->state = PF_HOOK_MISSING;
				continue;
			}
			done++;
			st = inspect(h, d, desc, sizeof(desc), &movable);
		}
		s->state = st;
		if (st == PF_HOOK_NOT_FIRST) {
			pr_warn("interface '%s' %s: %s runs before pingfold's program and may end "
				"the chain: pingfold sees only what it passes on", h->ifname,
				dir_name[d], desc);
			snprintf(s->before, sizeof(s->before), "%s", desc);
		} else if (st == PF_HOOK_OK) {
			pr_info("interface '%s' %s: re-attached, first on the hook", h->ifname,
				dir_name[d]);
			s->before[0] = '\0';
		}
	}
	return done;
}

void pf_hook_detach(struct pf_hook *h)
{
	char path[256];
	int d;

	for (d = 0; d < PF_HOOK_NDIRS; d++) {
		struct pf_hook_side *s = &h->side[d];

		if (h->mode == PF_HOOK_TCX) {
			tcx_link_drop(h, d);
			if (h->pin_dir[0]) {
				link_pin_path(h, d, path, sizeof(path));
				unlink(path);
			}
		} else if (s->prio) {
			struct tc_filter v[TC_MAX_FILTERS];
			int i, n = tc_list(h->ifindex, d, v, TC_MAX_FILTERS);

			/* only if what sits at our priority and handle is still ours */
			for (i = 0; i < n; i++)
				if (v[i].prio == s->prio && tc_is_ours(&v[i], s->prog_id))
					tc_del(h->ifindex, d, s->prio);
			s->prio = 0;
		}
	}
}

void pf_hook_release(struct pf_hook *h)
{
	int d;

	for (d = 0; d < PF_HOOK_NDIRS; d++) {
		if (h->side[d].link_fd >= 0)
			close(h->side[d].link_fd);
		h->side[d].link_fd = -1;
	}
}

int pf_hook_detach_any(const char *ifname, const char *pin_dir)
{
	struct pf_hook h = { .side = { { .link_fd = -1 }, { .link_fd = -1 } } };
	struct tc_filter v[TC_MAX_FILTERS];
	char path[256];
	int d, i, n, removed = 0;

	snprintf(h.ifname, sizeof(h.ifname), "%s", ifname);
	if (pin_dir)
		snprintf(h.pin_dir, sizeof(h.pin_dir), "%s", pin_dir);
	h.ifindex = if_nametoindex(ifname);
	for (d = 0; d < PF_HOOK_NDIRS; d++) {
		if (pin_dir) {
			int fd;

			link_pin_path(&h, d, path, sizeof(path));
			fd = bpf_obj_get(path);
			if (fd >= 0) {
				bpf_link_detach(fd);
				close(fd);
				removed++;
			}
			unlink(path);
		}
		if (!h.ifindex)
			continue;
		n = tc_list(h.ifindex, d, v, TC_MAX_FILTERS);
		for (i = 0; i < n; i++)
			if (tc_is_ours(&v[i], 0) && tc_del(h.ifindex, d, v[i].prio) == 0)
				removed++;
	}
	if (!h.ifindex && !removed)
		return -ENODEV;
	return removed;
}
