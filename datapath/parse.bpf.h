/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Packet parsing for the pingfold datapath (BPF only): Ethernet, up to two
 * VLAN tags, IPv4, IPv6 with a bounded walk of extension headers, TCP with
 * its timestamp option, ICMP and ICMPv6 echo. Every read is bounds-checked
 * against data_end; anything odd is reported, never faults. Only static
 * inline helpers here; the global functions (pf_parse, pf_parse_tcp_ts)
 * are defined in pingfold.bpf.c.
 */
#ifndef PINGFOLD_PARSE_BPF_H
#define PINGFOLD_PARSE_BPF_H

#define PF_ETH_P_IP	0x0800
#define PF_ETH_P_IPV6	0x86DD
#define PF_ETH_P_8021Q	0x8100
#define PF_ETH_P_8021AD	0x88A8

#define PF_NEXTHDR_HOP		0
#define PF_NEXTHDR_TCP		6
#define PF_NEXTHDR_ROUTING	43
#define PF_NEXTHDR_FRAGMENT	44
#define PF_NEXTHDR_AUTH		51
#define PF_NEXTHDR_DEST		60
#define PF_NEXTHDR_ICMPV6	58
#define PF_PROTO_ICMP		1

/* vmlinux.h carries no macros: the protocol numbers used here, by name. */
#define PF_TCPOPT_EOL		0	/* end of options */
#define PF_TCPOPT_NOP		1
#define PF_TCPOPT_TIMESTAMP	8
#define PF_TCPOLEN_TIMESTAMP	10
#define PF_ICMP_ECHOREPLY	0
#define PF_ICMP_ECHO		8
#define PF_ICMPV6_ECHO_REQUEST	128
#define PF_ICMPV6_ECHO_REPLY	129

#define PF_MAX_VLAN		2
#define PF_MAX_EXTHDR		6
#define PF_MAX_TCP_OPTS		10

enum pf_parse_res {
	PF_PARSE_OK,
	PF_PARSE_NOT_IP,
	PF_PARSE_TRUNC,
	PF_PARSE_ODD,
	PF_PARSE_OTHER_L4,
	PF_PARSE_NO_TS,
};

/* What the datapath needs to know of a packet. */
struct pf_pkt {
	struct pf_flow_key key;	/* this packet's direction */
	__u32 id;		/* TSval / ICMP seq to record */
	__u32 echo;		/* TSecr / ICMP seq to match */
	__u8 can_record;
	__u8 can_match;
	__u8 is_tcp;
	__u8 psh;		/* a small message: data < PF_PSH_SMALL bytes with PSH
				 * (not SYN or FIN): see pf_process */
};

struct pf_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct pf_opt_hdr {		/* IPv6 extension header prefix */
	__u8 nexthdr;
	__u8 len;
};

struct pf_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

struct pf_icmp_echo {		/* ICMP and ICMPv6 echo share this layout */
	__u8 type;
	__u8 code;
	__sum16 csum;
	__be16 id;
	__be16 seq;
};

static __always_inline void pf_v4_mapped(__u8 *dst, __be32 a)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &a, 4);
}

/*
 * The flow key's words as pf_v4_mapped and the parsers write them (the
 * fast path builds its key in registers): bytes 8-15 of a v4-mapped
 * address, and bytes 32-39 (ports, protocol, zero padding).
 */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PF_V4_MAPPED_WORD(a)	(0xffff0000ULL | ((__u64)(__u32)(a) << 32))
#define PF_PORTS_WORD(sp, dp, proto) \
	((__u64)(__u16)(sp) | ((__u64)(__u16)(dp) << 16) | ((__u64)(__u8)(proto) << 32))
#else
#define PF_V4_MAPPED_WORD(a)	(0x0000ffff00000000ULL | (__u64)(__u32)(a))
#define PF_PORTS_WORD(sp, dp, proto) \
	(((__u64)(__u16)(sp) << 48) | ((__u64)(__u16)(dp) << 32) | ((__u64)(__u8)(proto) << 24))
#endif

/* Walks Ethernet and VLAN tags; returns the L3 ethertype (network order). */
static __always_inline int pf_parse_eth(void **pos, void *end, __be16 *proto)
{
	struct ethhdr *eth = *pos;
	__be16 p;
	int i;

	if ((void *)(eth + 1) > end)
		return PF_PARSE_TRUNC;
	p = eth->h_proto;
	*pos = eth + 1;
#pragma unroll
	for (i = 0; i < PF_MAX_VLAN; i++) {
		struct pf_vlan_hdr *vh = *pos;

		if (p != bpf_htons(PF_ETH_P_8021Q) && p != bpf_htons(PF_ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > end)
			return PF_PARSE_TRUNC;
		p = vh->proto;
		*pos = vh + 1;
	}
	if (p == bpf_htons(PF_ETH_P_8021Q) || p == bpf_htons(PF_ETH_P_8021AD))
		return PF_PARSE_ODD;
	*proto = p;
	return PF_PARSE_OK;
}

/* IPv4: addresses, protocol, L4 length. Fragments are skipped (no L4). */
static __always_inline int pf_parse_ipv4(void **pos, void *end, struct pf_pkt *pk,
					 __u8 *l4proto, int *l4len)
{
	struct iphdr *iph = *pos;
	int hlen, tot;

	if ((void *)(iph + 1) > end)
		return PF_PARSE_TRUNC;
	if (iph->version != 4 || iph->ihl < 5)
		return PF_PARSE_ODD;
	hlen = iph->ihl * 4;
	if (*pos + hlen > end)
		return PF_PARSE_TRUNC;
	if (iph->frag_off & bpf_htons(0x3fff))	/* MF or an offset */
		return PF_PARSE_ODD;
	tot = bpf_ntohs(iph->tot_len);
	if (tot < hlen)
		return PF_PARSE_ODD;
	pf_v4_mapped(pk->key.saddr, iph->saddr);
	pf_v4_mapped(pk->key.daddr, iph->daddr);
	*l4proto = iph->protocol;
	*l4len = tot - hlen;
	*pos += hlen;
	return PF_PARSE_OK;
}

/* IPv6 with at most PF_MAX_EXTHDR extension headers before L4. */
static __always_inline int pf_parse_ipv6(void **pos, void *end, struct pf_pkt *pk,
					 __u8 *l4proto, int *l4len)
{
	struct ipv6hdr *ip6 = *pos;
	__u8 nh;
	int len, i;

	if ((void *)(ip6 + 1) > end)
		return PF_PARSE_TRUNC;
	if (ip6->version != 6)
		return PF_PARSE_ODD;
	__builtin_memcpy(pk->key.saddr, &ip6->saddr, 16);
	__builtin_memcpy(pk->key.daddr, &ip6->daddr, 16);
	nh = ip6->nexthdr;
	len = bpf_ntohs(ip6->payload_len);
	*pos = ip6 + 1;
#pragma unroll
	for (i = 0; i < PF_MAX_EXTHDR; i++) {
		struct pf_opt_hdr *oh = *pos;
		struct pf_frag_hdr *fh = *pos;
		int hl;

		switch (nh) {
		case PF_NEXTHDR_HOP:
		case PF_NEXTHDR_ROUTING:
		case PF_NEXTHDR_DEST:
		case PF_NEXTHDR_AUTH:
			if (*pos + 8 > end)
				return PF_PARSE_TRUNC;
			if (nh == PF_NEXTHDR_AUTH)
				hl = (oh->len + 2) * 4;
			else
				hl = (oh->len + 1) * 8;
			nh = oh->nexthdr;
			break;
		case PF_NEXTHDR_FRAGMENT:
			if ((void *)(fh + 1) > end)
				return PF_PARSE_TRUNC;
			/* only an atomic fragment (offset 0, no MF) has L4 */
			if (fh->frag_off & bpf_htons(0xfff9))
				return PF_PARSE_ODD;
			hl = 8;
			nh = fh->nexthdr;
			break;
		default:
			goto done;
		}
		*pos += hl;
		len -= hl;
	}
	if (nh == PF_NEXTHDR_HOP || nh == PF_NEXTHDR_ROUTING || nh == PF_NEXTHDR_DEST ||
	    nh == PF_NEXTHDR_AUTH || nh == PF_NEXTHDR_FRAGMENT)
		return PF_PARSE_ODD;	/* more extension headers than we walk */
done:
	if (len < 0)
		return PF_PARSE_ODD;
	*l4proto = nh;
	*l4len = len;
	return PF_PARSE_OK;
}

/*
 * Data with PSH and less than this many bytes is a lone message (a
 * request, an answer, a keystroke) whose ACK a receiver may hold: not
 * recorded (pf_process). Larger ones are bulk: a full segment, or a GRO/GSO
 * aggregate of several (which carries the PSH of its last), acknowledged
 * at once by a receiver with more than one segment's worth unacknowledged.
 */
#define PF_PSH_SMALL	1024

/* NOP, NOP, kind 8, length 10: how Linux starts the options of every segment */
#define PF_TS_FAST_WORD	0x0101080aU
/* A TCP header with that option first: what the fast path reads */
#define PF_FAST_TCP_LEN	32

struct pf_tcp_ts {
	__u32 tsval;
	__u32 tsecr;
};

/* Pure ACKs are not echoed promptly: only data, SYN or FIN record. */
static __always_inline bool pf_tcp_can_record(const struct tcphdr *th, int l4len, int doff)
{
	return !th->rst && (th->syn || th->fin || l4len > doff);
}

static __always_inline bool pf_tcp_can_match(const struct tcphdr *th, __u32 tsecr)
{
	return th->ack && tsecr != 0;
}

/* Defined in pingfold.bpf.c: global functions, verified once each. */
int pf_parse_tcp_ts(struct __sk_buff *skb, __u32 optoff, __u32 olen, struct pf_tcp_ts *ts);

static __always_inline int pf_parse_tcp(struct __sk_buff *skb, void *pos, void *end,
					struct pf_pkt *pk, int l4len)
{
	struct tcphdr *th = pos;
	struct pf_tcp_ts ts;
	__u32 optoff;
	__u8 *opt;
	int doff;

	if ((void *)(th + 1) > end)
		return PF_PARSE_TRUNC;
	doff = th->doff * 4;
	if (doff < (int)sizeof(*th) || doff > l4len)
		return PF_PARSE_ODD;
	if (pos + doff > end)
		return PF_PARSE_TRUNC;
	pk->key.sport = th->source;
	pk->key.dport = th->dest;
	pk->is_tcp = 1;
	opt = (__u8 *)(th + 1);
	if (doff >= (int)sizeof(*th) + 12 && (void *)(opt + 12) <= end &&
	    *(__u32 *)opt == bpf_htonl(PF_TS_FAST_WORD)) {
		/* Linux's own layout (NOP NOP TS first): what the walk below finds */
		ts.tsval = bpf_ntohl(*(__be32 *)(opt + 4));
		ts.tsecr = bpf_ntohl(*(__be32 *)(opt + 8));
	} else {
		optoff = (__u32)((void *)opt - (void *)(long)skb->data);
		if (pf_parse_tcp_ts(skb, optoff, doff - sizeof(*th), &ts))
			return PF_PARSE_NO_TS;
	}
	pk->id = ts.tsval;
	pk->echo = ts.tsecr;
	pk->can_record = pf_tcp_can_record(th, l4len, doff);
	pk->psh = th->psh && !th->syn && !th->fin && l4len - doff < PF_PSH_SMALL &&
		  !pf_record_psh;
	pk->can_match = pf_tcp_can_match(th, ts.tsecr);
	return PF_PARSE_OK;
}

static __always_inline int pf_parse_icmp(void *pos, void *end, struct pf_pkt *pk, int v6)
{
	struct pf_icmp_echo *ic = pos;
	__u8 req = v6 ? PF_ICMPV6_ECHO_REQUEST : PF_ICMP_ECHO;
	__u8 rep = v6 ? PF_ICMPV6_ECHO_REPLY : PF_ICMP_ECHOREPLY;

	if ((void *)(ic + 1) > end)
		return PF_PARSE_TRUNC;
	if (ic->type != req && ic->type != rep)
		return PF_PARSE_OTHER_L4;
	pk->key.sport = ic->id;
	pk->key.dport = ic->id;
	pk->id = bpf_ntohs(ic->seq);
	pk->echo = pk->id;
	pk->can_record = ic->type == req;
	pk->can_match = ic->type == rep;
	return PF_PARSE_OK;
}

#endif /* PINGFOLD_PARSE_BPF_H */
