/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Crafted Ethernet frames for BPF_PROG_TEST_RUN: VLAN tags, IPv4 (options,
 * fragments), IPv6 (extension headers), TCP (any options), ICMP/ICMPv6
 * echo, UDP. Test helper only: the caller owns correctness of odd specs.
 */
#ifndef PINGFOLD_TESTS_PKT_H
#define PINGFOLD_TESTS_PKT_H

#include <stddef.h>
#include <stdint.h>

#define PKT_MAX		2048
#define PKT_MAX_TAGS	4
#define PKT_MAX_EXT	10

#define PKT_FIN		0x01
#define PKT_SYN		0x02
#define PKT_RST		0x04
#define PKT_PSH		0x08
#define PKT_ACK		0x10

/* TCP option kinds */
#define PKT_OPT_EOL	0
#define PKT_OPT_NOP	1
#define PKT_OPT_MSS	2
#define PKT_OPT_WS	3
#define PKT_OPT_SACKP	4
#define PKT_OPT_SACK	5
#define PKT_OPT_TS	8

/* One IPv6 extension header; the builder chains next-header fields. */
struct pkt_ext {
	uint8_t type;		/* 0 hop-by-hop, 43 routing, 44 fragment, 51 AH, 60 dest */
	uint8_t bytes;		/* total size: multiple of 8 (AH: of 4), >= 8 */
	uint16_t frag_off;	/* fragment header: offset << 3 | M, host order */
};

struct pkt_spec {
	const char *src, *dst;		/* both IPv4 or both IPv6, text form */
	uint16_t tpid[PKT_MAX_TAGS];	/* VLAN tags, outermost first */
	int ntags;
	uint16_t ethertype;		/* 0: from the address family */
	uint8_t proto;			/* 0: TCP; 1 ICMP, 58 ICMPv6, 17 UDP */
	/* TCP */
	uint16_t sport, dport;
	uint8_t flags;
	uint32_t tsval, tsecr;
	int no_ts;			/* no options at all (unless opts) */
	const uint8_t *opts;		/* raw options instead of NOP NOP TS */
	size_t optlen;			/* padded with EOL to a multiple of 4 */
	int doff;			/* override the data offset (words) */
	size_t payload;			/* bytes after the L4 header */
	/* ICMP / ICMPv6 */
	uint8_t icmp_type;
	uint16_t icmp_id, icmp_seq;
	/* IPv4 */
	uint16_t ip_frag;		/* frag_off field, host order */
	uint8_t ip_optlen;		/* bytes of IPv4 options (NOPs), multiple of 4 */
	int ip_version;			/* override the version nibble */
	int ip_ihl;			/* override IHL (words) */
	int ip_totlen;			/* override total length (IPv6: payload length) */
	/* IPv6 */
	struct pkt_ext ext[PKT_MAX_EXT];
	int next;
	/* bytes after the IP packet, as Ethernet padding */
	size_t trailer;
};

/* Builds the frame into buf; returns its length (aborts on a bad spec). */
size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap);

/* Offset of the first byte after the L4 header (where payload starts). */
size_t pkt_l4_end(const struct pkt_spec *s);

/* Writes a timestamp option (10 bytes) at p; returns 10. */
size_t pkt_opt_ts(uint8_t *p, uint32_t tsval, uint32_t tsecr);

/*
 * The packet that echoes s from its receiver: TCP pure ACK with
 * TSecr = s->tsval (its own TSval s->tsecr + 1), or the ICMP echo reply.
 * Addresses, ports and encapsulation are mirrored.
 */
struct pkt_spec pkt_echo(const struct pkt_spec *s);

/*
 * The datapath's flow key of a TCP spec's direction (addresses v4-mapped,
 * ports in network order), as its parser builds it. 0, or -1 on a bad address.
 */
struct pf_flow_key;
int pkt_flow_key(const struct pkt_spec *s, struct pf_flow_key *k);

#endif /* PINGFOLD_TESTS_PKT_H */
