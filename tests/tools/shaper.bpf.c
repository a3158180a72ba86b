// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * A STAND-IN for a LibreQoS shaper's datapath (xdp-cpumap-tc), written
 * here for pingfold's tests; not LibreQoS code. It does what pingfold must
 * coexist with, and nothing more:
 *   shaper_xdp   on both interfaces: IPv4 packets of a known customer are
 *                redirected into a cpumap, to the customer's CPU;
 *   shaper_tc    a clsact egress classifier: sets skb->priority to the
 *                customer's HTB class under the HTB of this CPU's TX
 *                queue (major = CPU + 1; XPS maps CPU n to queue n) and
 *                returns TC_ACT_OK, which ends the filter chain.
 * IPv6 and unknown addresses pass untouched (default class).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TC_ACT_OK	0
#define ETH_P_IP	0x0800

struct shaper_cust {
	__u32 cpu;		/* cpumap slot: the CPU that handles the customer */
	__u32 minor;		/* HTB class minor under each queue's HTB */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);	/* IPv4 address, network order */
	__type(value, struct shaper_cust);
	__uint(max_entries, 1024);
} shaper_custs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
	__uint(max_entries, 64);
} shaper_cpus SEC(".maps");

/* The customer of an IPv4 packet in [data, end) (destination first), or NULL. */
static __always_inline struct shaper_cust *lookup(void *data, void *end)
{
	struct ethhdr *eth = data;
	struct shaper_cust *c;
	struct iphdr *ip;
	__u32 a;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return NULL;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return NULL;
	a = ip->daddr;

	c = bpf_map_lookup_elem(&shaper_custs, &a);
	if (c)
		return c;
	a = ip->saddr;
	return bpf_map_lookup_elem(&shaper_custs, &a);
}

SEC("xdp")
int shaper_xdp(struct xdp_md *ctx)
{
	struct shaper_cust *c = lookup((void *)(long)ctx->data, (void *)(long)ctx->data_end);

	if (!c)
		return XDP_PASS;
	return bpf_redirect_map(&shaper_cpus, c->cpu, XDP_PASS);
}

SEC("tc")
int shaper_tc(struct __sk_buff *skb)
{
	struct shaper_cust *c = lookup((void *)(long)skb->data, (void *)(long)skb->data_end);

	if (c)
		skb->priority = ((bpf_get_smp_processor_id() + 1) << 16) | c->minor;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
