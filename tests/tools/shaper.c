// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * pf-shaper: loader of the STAND-IN shaper (tests/tools/shaper.bpf.c), for
 * pingfold's coexistence tests. Its "start" does what LibreQoS 2026's lqosd
 * does on every start: on each interface delete the clsact qdisc, add it
 * again, attach the egress classifier (at each --prio, handle 1), and
 * attach XDP (cpumap redirect), replacing what was there. The programs stay
 * attached after it exits. HTB and MQ are the test's, made with tc.
 *
 *   pf-shaper start -i IF [-i IF] -c ADDR=CPU:MINOR [-c ...] [-p PRIO ...]
 *   pf-shaper stop -i IF [-i IF]     (XDP off, clsact deleted: a shutdown)
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include "shaper.skel.h"

#define MAX_IFS		4
#define MAX_PRIOS	4
#define CPUMAP_QSIZE	2048

struct shaper_cust {
	__u32 cpu;
	__u32 minor;
};

static int fail(const char *what, const char *on, int err)
{
	fprintf(stderr, "pf-shaper: %s %s: %s\n", what, on, strerror(err < 0 ? -err : err));
	return 1;
}

static void clsact_delete(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

	bpf_tc_hook_destroy(&hook);	/* "tc qdisc del dev X clsact" */
}

static int add_customer(struct shaper *s, const char *arg)
{
	struct shaper_cust c;
	char addr[64];
	struct in_addr a;
	unsigned cpu, minor;

	if (sscanf(arg, "%63[^=]=%u:%x", addr, &cpu, &minor) != 3 || inet_pton(AF_INET, addr, &a) != 1) {
		fprintf(stderr, "pf-shaper: -c '%s': expected IPV4=CPU:MINOR(hex)\n", arg);
		return -EINVAL;
	}
	c.cpu = cpu;
	c.minor = minor;
	if (bpf_map_update_elem(bpf_map__fd(s->maps.shaper_custs), &a.s_addr, &c, BPF_ANY))
		return -errno;
	return 0;
}

static int start(const int *ifs, int nif, const char **custs, int ncust, const unsigned *prios,
		 int nprio)
{
	struct bpf_cpumap_val cv = { .qsize = CPUMAP_QSIZE };
	struct shaper *s;
	int i, k, err, ncpu;

	s = shaper__open_and_load();
	if (!s)
		return fail("loading", "shaper.bpf.o", errno);
	ncpu = libbpf_num_possible_cpus();
	for (i = 0; i < ncpu && i < 64; i++)
		if (bpf_map_update_elem(bpf_map__fd(s->maps.shaper_cpus), &i, &cv, BPF_ANY))
			return fail("cpumap entry for CPU", "", errno);
	for (i = 0; i < ncust; i++)
		if ((err = add_customer(s, custs[i])))
			return fail("customer", custs[i], err);
	for (i = 0; i < nif; i++) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifs[i],
				    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
		char name[IF_NAMESIZE] = "";

		if_indextoname(ifs[i], name);
		clsact_delete(ifs[i]);
		err = bpf_tc_hook_create(&hook);
		if (err)
			return fail("adding clsact on", name, err);
		hook.attach_point = BPF_TC_EGRESS;
		for (k = 0; k < nprio; k++) {
			DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = 1, .priority = prios[k],
					    .prog_fd = bpf_program__fd(s->progs.shaper_tc));

			err = bpf_tc_attach(&hook, &o);
			if (err)
				return fail("attaching the classifier on", name, err);
		}
		err = bpf_xdp_attach(ifs[i], bpf_program__fd(s->progs.shaper_xdp),
				     XDP_FLAGS_DRV_MODE, NULL);
		if (err)
			return fail("attaching XDP on", name, err);
	}
	shaper__destroy(s);	/* the attachments keep programs and maps alive */
	return 0;
}

static int stop(const int *ifs, int nif)
{
	int i;

	for (i = 0; i < nif; i++) {
		bpf_xdp_detach(ifs[i], 0, NULL);
		clsact_delete(ifs[i]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *custs[64];
	unsigned prios[MAX_PRIOS];
	int ifs[MAX_IFS], nif = 0, ncust = 0, nprio = 0, c;

	if (argc < 2 || (strcmp(argv[1], "start") && strcmp(argv[1], "stop"))) {
		fprintf(stderr, "usage: pf-shaper start|stop -i IF [-c ADDR=CPU:MINOR] [-p PRIO]\n");
		return 2;
	}
	optind = 2;
	while ((c = getopt(argc, argv, "i:c:p:")) != -1) {
		switch (c) {
		case 'i':
			if (nif == MAX_IFS || !(ifs[nif] = if_nametoindex(optarg)))
				return fail("interface", optarg, ENODEV);
			nif++;
			break;
		case 'c':
			if (ncust < 64)
				custs[ncust++] = optarg;
			break;
		case 'p':
			if (nprio < MAX_PRIOS)
				prios[nprio++] = strtoul(optarg, NULL, 0);
			break;
		default:
			return 2;
		}
	}
	if (!nprio)
		prios[nprio++] = 1;
	libbpf_set_print(NULL);
	return !strcmp(argv[1], "start") ? start(ifs, nif, custs, ncust, prios, nprio) :
					   stop(ifs, nif);
}
