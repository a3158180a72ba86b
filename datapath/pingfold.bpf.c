// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * pingfold datapath: passive RTT from TCP timestamps and ICMP echo, folded
 * in the kernel into per-customer histograms (see docs/datapath.md).
 *
 * A packet that carries a new TSval (or an ICMP echo request) towards B has
 * its time stored; the first packet coming back from B that echoes it
 * (TSecr, or the echo reply) yields one RTT sample: observation point ->
 * B -> observation point. If B is a customer, that is B's access half; if
 * the other end A is a customer, it is A's internet half.
 *
 * The programs never drop or modify packets and return TC_ACT_UNSPEC
 * (TCX_NEXT under tcx), so the next program or filter (an existing
 * shaper's classifier) still runs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "datapath/pingfold_shared.h"

/* Set by the loader before load; read by the parser. */
const volatile __u8 pf_record_psh = 0;	/* 1: record data with PSH too */

#include "datapath/parse.bpf.h"

#define TC_ACT_UNSPEC	(-1)
#define PF_EEXIST	17	/* errno of a BPF_NOEXIST update of a present key */
/*
 * A compare-and-swap fails only when another CPU changed the value in
 * between; after this many the new value is given up. What that costs is
 * bounded: the reader clamps min and max into their buckets, so a lost
 * update moves a delta's max within its bucket, never its counts or sum.
 */
#define PF_CAS_TRIES	64

/* Tunables, set by the loader before load. */
const volatile __u64 pf_rate_limit_ns = 10 * 1000 * 1000;

/* Sizes below are defaults; the loader sets them from its options. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct pf_lpm_key);
	__type(value, struct pf_cust_val);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} customers SEC(".maps");

/*
 * Remote prefixes whose samples must not count (a far-away management
 * server, a VPN concentrator): no timestamp is stored towards them, so
 * no sample measures the path to them. Value unused.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct pf_lpm_key);
	__type(value, __u32);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ignores SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pf_cust_hist);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_MMAPABLE);
} hists SEC(".maps");

/* One bit per customer slot with samples since the reader last looked. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16384 / 64);
	__uint(map_flags, BPF_F_MMAPABLE);
} dirty SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct pf_flow_key);
	__type(value, struct pf_flow_state);
	__uint(max_entries, 1 << 20);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct pf_pkt_key);
	__type(value, __u64);
	__uint(max_entries, 1 << 20);
} tstamps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct pf_stats);
	__uint(max_entries, 1);
} stats SEC(".maps");

/*
 * The flow cache: PF_FCACHE_SLOTS entries per CPU, CPU n's at n *
 * PF_FCACHE_SLOTS (the loader sizes it for the possible CPUs). A plain
 * array, not a per-CPU one: its lookup is an address computation with no
 * load from the map itself; mmapable, so entries start on a page and each
 * is one cache line.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pf_fcache_ent);
	__uint(max_entries, PF_FCACHE_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
} fcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct pf_meta);
	__uint(max_entries, 1);
} meta SEC(".maps");

/* ---- parsing: the global functions of parse.bpf.h ----------------------- */

/*
 * Finds the timestamp option (kind 8, length 10) in the TCP options at
 * byte offset optoff of the packet, olen bytes long. A global function:
 * the verifier checks it once, not once per path through the headers.
 */
__noinline int pf_parse_tcp_ts(struct __sk_buff *skb, __u32 optoff, __u32 olen,
			       struct pf_tcp_ts *ts)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 off = 0;
	__u8 *p;
	int i;

	if (!ts || optoff > 0x3fff || olen > 40)
		return -1;
	for (i = 0; i < PF_MAX_TCP_OPTS; i++) {
		__u8 kind, len;

		/* an option running past the options ends the walk (as in Linux) */
		if (off > 40)
			return -1;
		p = data + optoff + off;
		if (off + 1 > olen || (void *)(p + 1) > end)
			return -1;
		kind = p[0];
		if (kind == PF_TCPOPT_EOL)
			return -1;
		if (kind == PF_TCPOPT_NOP) {
			off++;
			continue;
		}
		if (off + 2 > olen || (void *)(p + 2) > end)
			return -1;
		len = p[1];
		if (len < 2)
			return -1;
		if (kind == PF_TCPOPT_TIMESTAMP && len == PF_TCPOLEN_TIMESTAMP) {
			if (off + PF_TCPOLEN_TIMESTAMP > olen ||
			    (void *)(p + PF_TCPOLEN_TIMESTAMP) > end)
				return -1;
			ts->tsval = bpf_ntohl(*(__be32 *)(p + 2));
			ts->tsecr = bpf_ntohl(*(__be32 *)(p + 6));
			return 0;
		}
		off += len;
	}
	return -1;
}

/* Global, so the verifier checks the parser once (see pf_parse_tcp_ts). */
__noinline int pf_parse(struct __sk_buff *skb, struct pf_pkt *pk)
{
	void *end = (void *)(long)skb->data_end;
	void *pos = (void *)(long)skb->data;
	__be16 proto;
	__u8 l4;
	int l4len, r, v6;

	if (!pk)
		return PF_PARSE_ODD;
	r = pf_parse_eth(&pos, end, &proto);
	if (r)
		return r;
	if (proto == bpf_htons(PF_ETH_P_IP)) {
		v6 = 0;
		r = pf_parse_ipv4(&pos, end, pk, &l4, &l4len);
	} else if (proto == bpf_htons(PF_ETH_P_IPV6)) {
		v6 = 1;
		r = pf_parse_ipv6(&pos, end, pk, &l4, &l4len);
	} else {
		return PF_PARSE_NOT_IP;
	}
	if (r)
		return r;
	pk->key.proto = l4;
	if (l4 == PF_NEXTHDR_TCP)
		return pf_parse_tcp(skb, pos, end, pk, l4len);
	if ((!v6 && l4 == PF_PROTO_ICMP) || (v6 && l4 == PF_NEXTHDR_ICMPV6))
		return pf_parse_icmp(pos, end, pk, v6);
	return PF_PARSE_OTHER_L4;
}

/* ---- accounting ----------------------------------------------------------- */

static __always_inline struct pf_stats *pf_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stats, &zero);
}

/* Every packet a program sees: in all, and by hook (direction, interface). */
static __always_inline void pf_count_packet(struct pf_stats *st, struct __sk_buff *skb, int dir)
{
	st->c[PF_STAT_PACKETS]++;
	st->hook_pkts[dir & 1][skb->ifindex & (PF_HOOK_SLOTS - 1)]++;
}

static __always_inline void pf_stat(__u32 id)
{
	struct pf_stats *st = pf_stats();

	if (st && id < PF_STAT_MAX)
		st->c[id]++;
}

/*
 * *p = max(*p, v), atomically. A global function: its bounded loop is
 * verified once, not once for every path of each caller into it (inlined
 * twice in pf_account it was two thirds of the whole program's verifier
 * work).
 */
__noinline int pf_atomic_max(__u64 *p, __u64 v)
{
	__u64 old;
	int i;

	if (!p)
		return -1;
	old = *p;
	for (i = 0; i < PF_CAS_TRIES && v > old; i++) {
		__u64 prev = __sync_val_compare_and_swap(p, old, v);

		if (prev == old)
			break;
		old = prev;
	}
	return 0;
}

/*
 * Adds one sample to a customer's half. Order matters to the reader:
 * min/max first, then the slot counter and the sum, then the dirty bits
 * (a read between the slot and the sum puts them in adjacent deltas; see
 * docs/datapath.md).
 * Global functions (here and below) are verified once each, which keeps
 * the verifier's work far from its limit (see docs/datapath.md).
 */
__noinline int pf_account(__u32 cust, __u32 half, __u64 rtt)
{
	struct pf_cust_hist *h = bpf_map_lookup_elem(&hists, &cust);
	struct pf_hist_half *hh;
	__u32 s, w;
	__u64 bit, *d;

	if (!h) {
		pf_stat(PF_STAT_BAD_SLOT);
		return -1;
	}
	hh = &h->half[half & 1];
	s = pf_hist_slot(rtt);
	if (s >= PF_HIST_NSLOTS)
		return -1;
	pf_atomic_max(&hh->max_ns, rtt);
	pf_atomic_max(&hh->min_inv, ~rtt);
	__sync_fetch_and_add(&hh->slots[s], 1);
	__sync_fetch_and_add(&hh->sum_ns, rtt);
	bit = 1ULL << (s & 63);
	w = (s / 64) & (PF_HIST_MASK_WORDS - 1);
	if (!(hh->mask[w] & bit))
		__sync_fetch_and_or(&hh->mask[w], bit);
	w = cust / 64;
	bit = 1ULL << (cust & 63);
	d = bpf_map_lookup_elem(&dirty, &w);
	if (d && !(*d & bit))
		__sync_fetch_and_or(d, bit);
	pf_stat(PF_STAT_SAMPLES);
	return 0;
}

static __always_inline __u32 pf_customer(const __u8 *addr)
{
	struct pf_lpm_key k = { .prefixlen = 128 };
	struct pf_cust_val *v;

	__builtin_memcpy(k.addr, addr, 16);
	v = bpf_map_lookup_elem(&customers, &k);
	return v ? v->slot : PF_SLOT_NONE;
}

static __always_inline bool pf_ignored(const __u8 *addr)
{
	struct pf_lpm_key k = { .prefixlen = 128 };

	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(&ignores, &k) != NULL;
}

/* The other direction of a flow direction. */
static __always_inline void pf_reverse_key(const struct pf_flow_key *in, struct pf_flow_key *out)
{
	__builtin_memcpy(out->saddr, in->daddr, 16);
	__builtin_memcpy(out->daddr, in->saddr, 16);
	out->sport = in->dport;
	out->dport = in->sport;
	out->proto = in->proto;
	__builtin_memset(out->pad, 0, sizeof(out->pad));
}

static __always_inline struct pf_meta *pf_meta(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&meta, &zero);
}

static __always_inline void pf_lookup_customers(const struct pf_flow_key *k,
						struct pf_flow_state *st,
						const struct pf_meta *m)
{
	st->slot_src = pf_customer(k->saddr);
	st->slot_dst = pf_customer(k->daddr);
	st->ignored = 0;
	if (m && m->n_ignores) {
		if (pf_ignored(k->saddr))
			st->ignored |= PF_IGN_SRC;
		if (pf_ignored(k->daddr))
			st->ignored |= PF_IGN_DST;
	}
	st->gen = m ? m->gen : 0;
}

/*
 * The state of this flow direction, created on its first packet (also for
 * flows with no customer, so their packets cost one lookup, not two trie
 * walks). Falls back to *tmp when the map refuses the entry.
 */
static __always_inline struct pf_flow_state *
pf_flow_get(const struct pf_flow_key *k, struct pf_flow_state *tmp)
{
	struct pf_flow_state *st = bpf_map_lookup_elem(&flows, k);
	struct pf_meta *m = pf_meta();
	long err;

	if (st) {
		if (st->gen != (m ? m->gen : 0))
			pf_lookup_customers(k, st, m);
		return st;
	}
	__builtin_memset(tmp, 0, sizeof(*tmp));
	pf_lookup_customers(k, tmp, m);
	err = bpf_map_update_elem(&flows, k, tmp, BPF_NOEXIST);
	if (err && err != -PF_EEXIST)
		pf_stat(PF_STAT_FLOW_FULL);
	st = bpf_map_lookup_elem(&flows, k);
	return st ? st : tmp;
}

/*
 * This packet, from B to A, echoes an id stored for A -> B? The sample is
 * B's access half (B = this packet's source) and A's internet half.
 */
__noinline int pf_match(const struct pf_pkt *pk, __u32 cust_b, __u32 cust_a)
{
	struct pf_pkt_key k;
	__u64 *ts, t0, now;

	if (!pk)
		return -1;
	pf_reverse_key(&pk->key, &k.flow);
	k.id = pk->echo;
	ts = bpf_map_lookup_elem(&tstamps, &k);
	if (!ts)
		return 0;
	t0 = *ts;
	/* only the CPU whose delete succeeds takes the sample */
	if (bpf_map_delete_elem(&tstamps, &k))
		return 0;
	now = bpf_ktime_get_ns();
	if (now <= t0)
		return 0;
	pf_stat(PF_STAT_MATCHED);
	if (cust_b != PF_SLOT_NONE)
		pf_account(cust_b, PF_HALF_ACCESS, now - t0);
	if (cust_a != PF_SLOT_NONE)
		pf_account(cust_a, PF_HALF_INTERNET, now - t0);
	return 1;
}

/*
 * Tells the other direction's state (when it exists) the newest TSval
 * stored this way, so that its echoes of newer ones skip the lookup. Once
 * per stored timestamp, not per packet.
 */
__noinline int pf_note_stored(const struct pf_flow_key *fk, __u32 id)
{
	struct pf_flow_key rk;
	struct pf_flow_state *rev;

	if (!fk)
		return -1;
	pf_reverse_key(fk, &rk);
	rev = bpf_map_lookup_elem(&flows, &rk);
	if (!rev)
		return 0;	/* its echoes are all looked up until it exists */
	if (!rev->stored_valid || (__s32)(id - rev->stored_hi) > 0)
		rev->stored_hi = id;	/* only forward: CPUs may store out of order */
	rev->stored_valid = 1;
	return 1;
}

/* Stores the time of this packet under (flow direction, id). */
__noinline int pf_store(const struct pf_flow_key *fk, __u32 id, __u64 now)
{
	struct pf_pkt_key k;
	long err;

	if (!fk)
		return -1;
	k.flow = *fk;
	k.id = id;
	err = bpf_map_update_elem(&tstamps, &k, &now, BPF_NOEXIST);
	if (err) {
		if (err != -PF_EEXIST)
			pf_stat(PF_STAT_TS_FULL);
		return 0;
	}
	pf_stat(PF_STAT_RECORDED);
	return 1;
}

/* This CPU's flow-cache entry for a flow direction (direct-mapped). */
static __always_inline struct pf_fcache_ent *pf_fcache(const struct pf_flow_key *k)
{
	__u32 idx = pf_fcache_slot(k) | (bpf_get_smp_processor_id() << PF_FCACHE_BITS);

	return bpf_map_lookup_elem(&fcache, &idx);	/* NULL beyond the CPUs sized for */
}

static __always_inline bool pf_key_eq(const struct pf_flow_key *a, const struct pf_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

/*
 * A TCP packet with nothing new for this CPU: the same flow direction, and
 * the TSval (if it could record) and TSecr (if it could match) of the last
 * one this CPU took through pf_process. Everything pf_process would do with
 * it has been done with those values already: a TSval not newer than the
 * flow's last is never stored, a TSecr equal to the flow's last is never
 * looked up (and another CPU's newer ones only make this one older).
 */
static __always_inline bool pf_fcache_holds(const struct pf_fcache_ent *e, bool can_record,
					    __u32 id, bool can_match, __u32 echo)
{
	if (can_record && (!e->has_id || e->id != id))
		return false;
	if (can_match && (!e->has_echo || e->echo != echo))
		return false;
	return true;
}

static __always_inline bool pf_fcache_hit(const struct pf_fcache_ent *e, const struct pf_pkt *pk)
{
	if (!e || !pk->is_tcp || !pf_key_eq(&e->key, &pk->key))
		return false;
	return pf_fcache_holds(e, pk->can_record, pk->id, pk->can_match, pk->echo);
}

static __always_inline void pf_fcache_put(struct pf_fcache_ent *e, const struct pf_pkt *pk,
					  bool no_cust)
{
	if (!e || !pk->is_tcp)
		return;
	if (!pf_key_eq(&e->key, &pk->key)) {
		e->key = pk->key;
		e->has_id = 0;
		e->has_echo = 0;
	}
	if (pk->can_record) {
		e->id = pk->id;
		e->has_id = 1;
	}
	if (pk->can_match) {
		e->echo = pk->echo;
		e->has_echo = 1;
	}
	e->no_cust = no_cust;
}

/*
 * Per packet: the flow cache, and only past it one flow-state lookup. Only
 * the first packet carrying a new TSecr is matched, only the first carrying
 * a new TSval may be stored (wrap-aware, after the rate limit); ICMP echoes
 * always are.
 */
__noinline int pf_process(const struct pf_pkt *pk)
{
	struct pf_flow_state tmp, *st;
	struct pf_fcache_ent *e;
	__u64 now;

	if (!pk)
		return -1;
	e = pf_fcache(&pk->key);
	if (pf_fcache_hit(e, pk)) {
		pf_stat(PF_STAT_FCACHE_HIT);
		if (e->no_cust)
			pf_stat(PF_STAT_NO_CUSTOMER);
		return 0;
	}
	st = pf_flow_get(&pk->key, &tmp);
	if (st->slot_src == PF_SLOT_NONE && st->slot_dst == PF_SLOT_NONE) {
		pf_stat(PF_STAT_NO_CUSTOMER);
		pf_fcache_put(e, pk, true);
		return 0;
	}
	pf_fcache_put(e, pk, false);
	/*
	 * An echo from an ignored end: nothing was stored for it (see below).
	 * A TSecr newer than the newest TSval stored the other way has nothing
	 * to match: no lookup (most new TSecrs echo TSvals the rate limit
	 * passed over).
	 */
	if (pk->can_match && !(st->ignored & PF_IGN_SRC) &&
	    (!pk->is_tcp || !st->seen_echo || pk->echo != st->last_echo)) {
		st->last_echo = pk->echo;
		st->seen_echo = 1;
		if (!pk->is_tcp || !st->stored_valid || (__s32)(pk->echo - st->stored_hi) <= 0)
			pf_match(pk, st->slot_src, st->slot_dst);
	}
	if (!pk->can_record)
		return 0;
	if (pk->is_tcp) {
		if (st->seen_id && (__s32)(pk->id - st->last_id) <= 0)
			return 0;	/* not a new TSval */
		st->last_id = pk->id;
		st->seen_id = 1;
	}
	now = bpf_ktime_get_ns();
	if (pk->is_tcp && st->last_record_ns && now - st->last_record_ns < pf_rate_limit_ns) {
		pf_stat(PF_STAT_RATE_LIMITED);
		return 0;
	}
	if (st->ignored & PF_IGN_DST) {	/* its echo would measure the path to an ignored end */
		if (pk->is_tcp)
			st->last_record_ns = now;	/* counted as often as it would be stored */
		pf_stat(PF_STAT_IGNORED);
		return 0;
	}
	/*
	 * A small message with PSH (a request, an answer, a keystroke): the
	 * peer acknowledges it with its answer or when its delayed-ACK timer
	 * fires, so a sample on it would measure that wait (docs/datapath.md
	 * "Delayed ACKs"). Not stored; its TSval stays seen (above), so no
	 * later segment with it is stored either: the echo may be its.
	 */
	if (pk->psh) {
		pf_stat(PF_STAT_PSH_SKIPPED);
		return 0;
	}
	if (pf_store(&pk->key, pk->id, now)) {
		st->last_record_ns = now;
		if (pk->is_tcp)
			pf_note_stored(&pk->key, pk->id);
	}
	return 0;
}

/*
 * The fast path: the packet most of a bulk flow's are, and nearly every
 * ACK: untagged Ethernet, IPv4 without options or IPv6 without extension
 * headers, TCP whose options begin NOP NOP TS (Linux's layout), and a
 * flow-cache entry that holds its TSval and TSecr (pf_fcache_hit). Such a
 * packet is counted as pf_handle and pf_process would count it, with its
 * key built in registers, no parse into a struct pf_pkt and no call of
 * pf_process: on egress, where an ACK finds the program's code and data
 * cold, that took 35-40 ns off ~230 (docs/benchmarks.md). Any other packet
 * returns 0 and goes the whole way, which finds the same for the packets
 * taken here (BPF test dp0::fast_path_agrees_with_the_whole_way).
 */
__noinline int pf_fast(struct __sk_buff *skb, int dir)
{
	struct pf_stats *stats = pf_stats();
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct pf_fcache_ent *e;
	struct pf_flow_key k;
	__u64 *w = (__u64 *)&k;
	struct tcphdr *th;
	__u32 tsval, tsecr;
	int l4len, doff;
	bool rec, match;
	__u8 *opt;

	if (!stats || (void *)(eth + 1) > end)
		return 0;
	if (eth->h_proto == bpf_htons(PF_ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		th = (void *)(iph + 1);
		if ((void *)th + PF_FAST_TCP_LEN > end)
			return 0;
		if (*(__u8 *)iph != 0x45 || iph->protocol != PF_NEXTHDR_TCP ||
		    (iph->frag_off & bpf_htons(0x3fff)))
			return 0;	/* options, fragments: pf_parse */
		l4len = (int)bpf_ntohs(iph->tot_len) - (int)sizeof(*iph);
		w[0] = 0;
		w[1] = PF_V4_MAPPED_WORD(iph->saddr);
		w[2] = 0;
		w[3] = PF_V4_MAPPED_WORD(iph->daddr);
	} else if (eth->h_proto == bpf_htons(PF_ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		const __u64 *a = (const __u64 *)&ip6->saddr;

		th = (void *)(ip6 + 1);
		if ((void *)th + PF_FAST_TCP_LEN > end)
			return 0;
		if (ip6->version != 6 || ip6->nexthdr != PF_NEXTHDR_TCP)
			return 0;	/* extension headers: pf_parse */
		l4len = bpf_ntohs(ip6->payload_len);
		w[0] = a[0];
		w[1] = a[1];
		w[2] = a[2];
		w[3] = a[3];
	} else {
		return 0;
	}
	doff = th->doff * 4;
	opt = (__u8 *)(th + 1);
	if (doff < PF_FAST_TCP_LEN || doff > l4len ||
	    *(__u32 *)opt != bpf_htonl(PF_TS_FAST_WORD))
		return 0;
	tsval = bpf_ntohl(*(__be32 *)(opt + 4));
	tsecr = bpf_ntohl(*(__be32 *)(opt + 8));
	rec = pf_tcp_can_record(th, l4len, doff);
	match = pf_tcp_can_match(th, tsecr);
	if (!rec && !match)
		return 0;	/* the whole way counts it parsed and leaves it */
	w[4] = PF_PORTS_WORD(th->source, th->dest, PF_NEXTHDR_TCP);
	e = pf_fcache(&k);
	if (!e || !pf_key_eq(&e->key, &k) || !pf_fcache_holds(e, rec, tsval, match, tsecr))
		return 0;
	pf_count_packet(stats, skb, dir);
	stats->c[PF_STAT_PARSED]++;
	stats->c[PF_STAT_FCACHE_HIT]++;
	stats->c[PF_STAT_FAST]++;
	if (e->no_cust)
		stats->c[PF_STAT_NO_CUSTOMER]++;
	return 1;
}

static __always_inline void pf_handle(struct __sk_buff *skb, int dir)
{
	struct pf_stats *stats;
	struct pf_pkt pk;
	__u32 r;

	if (pf_fast(skb, dir))
		return;
	stats = pf_stats();
	if (!stats)
		return;
	__builtin_memset(&pk, 0, sizeof(pk));
	r = pf_parse(skb, &pk);
	pf_count_packet(stats, skb, dir);
	switch (r) {
	case PF_PARSE_OK:
		stats->c[PF_STAT_PARSED]++;
		break;
	case PF_PARSE_NOT_IP:
		stats->c[PF_STAT_NOT_IP]++;
		return;
	case PF_PARSE_TRUNC:
		stats->c[PF_STAT_TRUNCATED]++;
		return;
	case PF_PARSE_NO_TS:
		stats->c[PF_STAT_PARSED]++;
		stats->c[PF_STAT_TCP_NO_TS]++;
		return;
	case PF_PARSE_OTHER_L4:
		stats->c[PF_STAT_OTHER_L4]++;
		return;
	default:
		stats->c[PF_STAT_ODD]++;
		return;
	}
	if (pk.can_match || pk.can_record)
		pf_process(&pk);
}

SEC("tc")
int pf_tc_ingress(struct __sk_buff *skb)
{
	pf_handle(skb, 0);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int pf_tc_egress(struct __sk_buff *skb)
{
	pf_handle(skb, 1);
	return TC_ACT_UNSPEC;
}

/*
 * Baselines for benchmarks: the cost of an empty tc program (two, so that
 * bpf_stats tells ingress from egress when they are attached, pfdp -E).
 */
SEC("tc")
int pf_tc_empty(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}

SEC("tc")
int pf_tc_empty_egress(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
