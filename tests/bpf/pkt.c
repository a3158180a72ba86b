// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Crafted frames for the datapath tests; see pkt.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>
#include "common/prefix.h"
#include "datapath/pingfold_shared.h"
#include "pkt.h"

#define PKT_DIE(...)						\
	do {							\
		fprintf(stderr, "pkt: " __VA_ARGS__);		\
		fputc('\n', stderr);				\
		abort();					\
	} while (0)

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static uint16_t ip_csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

size_t pkt_opt_ts(uint8_t *p, uint32_t tsval, uint32_t tsecr)
{
	p[0] = PKT_OPT_TS;
	p[1] = 10;
	put32(p + 2, tsval);
	put32(p + 6, tsecr);
	return 10;
}

static int is_v6(const struct pkt_spec *s)
{
	return strchr(s->src, ':') != NULL;
}

static uint8_t l4proto(const struct pkt_spec *s)
{
	return s->proto ? s->proto : 6;
}

/* L4 header bytes (TCP header + options, ICMP echo, UDP). */
static size_t l4_hdr(const struct pkt_spec *s, uint8_t *out)
{
	uint8_t opt[64] = { 0 };
	size_t olen = 0, hl;

	switch (l4proto(s)) {
	case 6:
		if (s->opts) {
			if (s->optlen > 40)
				PKT_DIE("TCP options too long");
			memcpy(opt, s->opts, s->optlen);
			olen = s->optlen;
		} else if (!s->no_ts) {
			opt[0] = PKT_OPT_NOP;
			opt[1] = PKT_OPT_NOP;
			olen = 2 + pkt_opt_ts(opt + 2, s->tsval, s->tsecr);
		}
		olen = (olen + 3) & ~(size_t)3;
		hl = 20 + olen;
		memset(out, 0, hl);
		put16(out, s->sport);
		put16(out + 2, s->dport);
		put32(out + 4, 1000);			/* seq */
		put32(out + 8, s->flags & PKT_ACK ? 2000 : 0);
		out[12] = (uint8_t)((s->doff ? s->doff : (int)(hl / 4)) << 4);
		out[13] = s->flags;
		put16(out + 14, 65535);			/* window */
		memcpy(out + 20, opt, olen);
		return hl;
	case 1:
	case 58:
		memset(out, 0, 8);
		out[0] = s->icmp_type;
		put16(out + 4, s->icmp_id);
		put16(out + 6, s->icmp_seq);
		return 8;
	default:
		memset(out, 0, 8);
		put16(out, s->sport);
		put16(out + 2, s->dport);
		put16(out + 4, (uint16_t)(8 + s->payload));
		return 8;
	}
}

static size_t eth_hdr(const struct pkt_spec *s, uint8_t *p)
{
	static const uint8_t dmac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	static const uint8_t smac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	size_t off = 12;
	int i;

	if (s->ntags > PKT_MAX_TAGS)
		PKT_DIE("too many tags");
	memcpy(p, dmac, 6);
	memcpy(p + 6, smac, 6);
	for (i = 0; i < s->ntags; i++) {
		put16(p + off, s->tpid[i]);
		put16(p + off + 2, (uint16_t)(100 + i));	/* VID */
		off += 4;
	}
	put16(p + off, s->ethertype ? s->ethertype : is_v6(s) ? 0x86dd : 0x0800);
	return off + 2;
}

static size_t ip4_hdr(const struct pkt_spec *s, uint8_t *p, size_t l4len)
{
	size_t hl = 20 + s->ip_optlen;
	int ihl = s->ip_ihl ? s->ip_ihl : (int)(hl / 4);
	int ver = s->ip_version ? s->ip_version : 4;

	if (s->ip_optlen % 4)
		PKT_DIE("IPv4 options must be a multiple of 4");
	memset(p, 0, hl);
	p[0] = (uint8_t)(ver << 4 | (ihl & 0xf));
	put16(p + 2, (uint16_t)(s->ip_totlen ? s->ip_totlen : (int)(hl + l4len)));
	put16(p + 4, 0x1234);
	put16(p + 6, s->ip_frag);
	p[8] = 64;
	p[9] = l4proto(s);
	if (inet_pton(AF_INET, s->src, p + 12) != 1 || inet_pton(AF_INET, s->dst, p + 16) != 1)
		PKT_DIE("bad IPv4 address %s or %s", s->src, s->dst);
	memset(p + 20, 1, s->ip_optlen);		/* NOPs */
	put16(p + 10, ip_csum(p, hl));
	return hl;
}

static size_t ext_hdrs(const struct pkt_spec *s, uint8_t *p)
{
	size_t off = 0;
	int i;

	for (i = 0; i < s->next; i++) {
		const struct pkt_ext *e = &s->ext[i];
		uint8_t nh = i + 1 < s->next ? s->ext[i + 1].type : l4proto(s);

		if (e->bytes < 8 || e->bytes % (e->type == 51 ? 4 : 8) ||
		    (e->type == 44 && e->bytes != 8))
			PKT_DIE("bad extension header size %u", e->bytes);
		memset(p + off, 0, e->bytes);
		p[off] = nh;
		if (e->type == 44) {
			put16(p + off + 2, e->frag_off);
			put32(p + off + 4, 0xabcd);
		} else if (e->type == 51) {
			p[off + 1] = e->bytes / 4 - 2;
			put32(p + off + 4, 0x100);	/* SPI */
		} else {
			p[off + 1] = e->bytes / 8 - 1;
			if (e->type == 43) {
				p[off + 2] = 4;		/* segment routing, 0 left */
			} else {
				p[off + 2] = 1;		/* PadN over the rest */
				p[off + 3] = e->bytes - 4;
			}
		}
		off += e->bytes;
	}
	return off;
}

static size_t ip6_hdr(const struct pkt_spec *s, uint8_t *p, size_t l4len)
{
	size_t ext = ext_hdrs(s, p + 40);

	memset(p, 0, 40);
	p[0] = (uint8_t)((s->ip_version ? s->ip_version : 6) << 4);
	put16(p + 4, (uint16_t)(s->ip_totlen ? s->ip_totlen : (int)(ext + l4len)));
	p[6] = s->next ? s->ext[0].type : l4proto(s);
	p[7] = 64;
	if (inet_pton(AF_INET6, s->src, p + 8) != 1 || inet_pton(AF_INET6, s->dst, p + 24) != 1)
		PKT_DIE("bad IPv6 address %s or %s", s->src, s->dst);
	return 40 + ext;
}

size_t pkt_build(const struct pkt_spec *s, uint8_t *buf, size_t cap)
{
	uint8_t l4[128];
	size_t off, l4hl, need;
	int i;

	l4hl = l4_hdr(s, l4);
	if (s->next > PKT_MAX_EXT)
		PKT_DIE("too many extension headers");
	need = 14 + 4 * PKT_MAX_TAGS + 60 + l4hl + s->payload + s->trailer;
	for (i = 0; i < s->next; i++)
		need += s->ext[i].bytes;
	if (need > cap)
		PKT_DIE("frame does not fit");
	off = eth_hdr(s, buf);
	if (is_v6(s))
		off += ip6_hdr(s, buf + off, l4hl + s->payload);
	else
		off += ip4_hdr(s, buf + off, l4hl + s->payload);
	memcpy(buf + off, l4, l4hl);
	off += l4hl;
	memset(buf + off, 0x5a, s->payload);
	off += s->payload;
	memset(buf + off, 0, s->trailer);
	return off + s->trailer;
}

size_t pkt_l4_end(const struct pkt_spec *s)
{
	struct pkt_spec h = *s;
	uint8_t buf[PKT_MAX];

	h.payload = 0;
	h.trailer = 0;
	return pkt_build(&h, buf, sizeof(buf));
}

struct pkt_spec pkt_echo(const struct pkt_spec *s)
{
	struct pkt_spec e = *s;

	e.src = s->dst;
	e.dst = s->src;
	e.sport = s->dport;
	e.dport = s->sport;
	e.payload = 0;
	e.trailer = 0;
	e.opts = NULL;
	e.optlen = 0;
	e.doff = 0;
	e.no_ts = 0;
	if (l4proto(s) == 6) {
		e.flags = PKT_ACK;
		e.tsval = s->tsecr + 1;
		e.tsecr = s->tsval;
	} else if (l4proto(s) == 1) {
		e.icmp_type = 0;
	} else if (l4proto(s) == 58) {
		e.icmp_type = 129;
	}
	return e;
}

int pkt_flow_key(const struct pkt_spec *s, struct pf_flow_key *k)
{
	struct prefix a, b;
	const char *why;

	if (prefix_parse(s->src, &a, &why) || prefix_parse(s->dst, &b, &why))
		return -1;
	memset(k, 0, sizeof(*k));
	memcpy(k->saddr, a.addr, 16);
	memcpy(k->daddr, b.addr, 16);
	k->sport = htons(s->sport);
	k->dport = htons(s->dport);
	k->proto = 6;
	return 0;
}
