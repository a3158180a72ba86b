# shellcheck shell=bash
# Namespace topology for pingfold's end-to-end tests. Source it, then:
#
#   topo_setup [nooffload] [nodelay]   build it; cleanup is trapped on EXIT
#   topo_add_customer ADDR...          customer addresses in cli
#   topo_add_server ADDR...            server addresses in srv
#   topo_delay_access "ADDR=SPEC ..."  delays in dlya, by source address
#   topo_delay_internet "ADDR=SPEC ..." delays in dlyb, by source address
#
#   cli ── dlya ── shp ── dlyb ── srv
#
# cli holds the customers, srv the servers, both as /32 and /128 on eth0.
# dlya and dlyb are routers that send everything arriving on a veth into a
# TUN device run by tests/tools/delayline (policy routing: iif veth -> table
# 100 -> dev dl0); what delayline writes back is routed by the main table.
# A delay is chosen by a packet's SOURCE address, so an access rule for a
# customer delays its upstream packets and an internet rule for a server
# its downstream packets: a customer's RTT to a server is access + internet.
# shp is a plain router, where tests attach the datapath.
#
# Addresses (all in 198.18.0.0/15 and 2001:db8::/32):
#   customers   198.18.0.0/16      2001:db8:1::/48
#   servers     198.19.0.0/17      2001:db8:2::/48
#   transit     198.19.255.0/24    2001:db8:ff::/48
#     cli.eth0    .2/30  ff:1::2   --  dlya.cli0   .1/30  ff:1::1
#     dlya.shp0   .5/30  ff:2::1   --  shp.cust0   .6/30  ff:2::2
#     shp.inet0   .9/30  ff:3::1   --  dlyb.shp0  .10/30  ff:3::2
#     dlyb.srv0  .13/30  ff:4::1   --  srv.eth0   .14/30  ff:4::2
#
# Exported: NS_CLI NS_DLYA NS_SHP NS_DLYB NS_SRV, SHP_CUST_IF SHP_INET_IF,
# TOPO_DIR (scratch folder, removed at cleanup unless TOPO_KEEP=1).
# Environment: OUT (build folder), DELAYLINE (binary), DELAYLINE_ARGS (more
# options for it), TOPO_PREFIX (name prefix, default "pf"), TOPO_NO_OFFLOAD=1
# (same as "nooffload"), TOPO_QUEUES=N (veths with N TX and RX queues),
# TOPO_NO_TXCSUM=1 (checksums filled by the senders: for XDP on veths),
# TOPO_RT=0 (delayline without SCHED_FIFO),
# TOPO_KEEP=1 (keep the logs).
#
# delayline runs SCHED_FIFO (chrt -f 10) where allowed: under iperf3 load a
# normal task is woken up to a millisecond late, a FIFO one well under
# 0.2 ms. It only busy-polls for 100 us before each due packet, and the
# kernel keeps 5% of each CPU for normal tasks (sched_rt_runtime_us).

TOPO_ID=${TOPO_PREFIX:-pf}$$
NS_CLI=$TOPO_ID-cli
NS_DLYA=$TOPO_ID-dlya
NS_SHP=$TOPO_ID-shp
NS_DLYB=$TOPO_ID-dlyb
NS_SRV=$TOPO_ID-srv
SHP_CUST_IF=cust0
SHP_INET_IF=inet0
SHP_CUST_ADDR4=198.19.255.6
SHP_CUST_ADDR6=2001:db8:ff:2::2
SHP_INET_ADDR4=198.19.255.9
SHP_INET_ADDR6=2001:db8:ff:3::1
export NS_CLI NS_DLYA NS_SHP NS_DLYB NS_SRV SHP_CUST_IF SHP_INET_IF
TOPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DELAYLINE=${DELAYLINE:-${OUT:-build}/tests/tools/delayline}
[[ -x $DELAYLINE || $DELAYLINE == /* ]] || DELAYLINE=$TOPO_ROOT/$DELAYLINE

TOPO_NAMESPACES=()	# created so far, deleted by topo_cleanup
TOPO_PIDS=()		# background processes, killed by topo_cleanup
TOPO_CLIENTS=()		# iperf3 clients, waited for by topo_iperf_wait
TOPO_CUSTOMERS=()
TOPO_SERVERS=()
TOPO_DIR=
TOPO_DELAY=1
TOPO_CHRT=()
TOPO_IPERF_PORT=5201
TOPO_TESTS=0
TOPO_FAILS=0

# --- tap output ----------------------------------------------------------

ok() { TOPO_TESTS=$((TOPO_TESTS + 1)); echo "ok - $*"; }
not_ok() { TOPO_TESTS=$((TOPO_TESTS + 1)); TOPO_FAILS=$((TOPO_FAILS + 1)); echo "not ok - $*"; }
diag() { echo "# $*"; }

# check "desc" cmd...: ok if cmd succeeds, not ok otherwise.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# Exit status for the end of a test: 1 if anything failed or nothing ran.
topo_exit() {
	[ "$TOPO_FAILS" -eq 0 ] && [ "$TOPO_TESTS" -gt 0 ]
	exit $?
}

# --- numbers -------------------------------------------------------------

# within VALUE TARGET TOL: |VALUE - TARGET| <= TOL (decimals allowed).
within() {
	awk -v v="$1" -v t="$2" -v d="$3" 'BEGIN { x = v - t; exit !(x <= d && -x <= d) }'
}

# fcmp "EXPR": awk arithmetic comparison, e.g. fcmp "$a < 1.5".
fcmp() {
	awk "BEGIN { exit !($*) }"
}

# Numbers on stdin, one a line -> "COUNT MIN MEDIAN MAX" (median of an even
# count: the mean of the middle two). Prints "0 - - -" for no numbers.
topo_summary() {
	sort -g | awk '{ v[NR] = $1 }
	END {
		if (!NR) { print "0 - - -"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%d %.3f %.3f %.3f\n", NR, v[1], m, v[NR]
	}'
}

# --- namespaces ----------------------------------------------------------

_topo_err() { echo "topo: $*" >&2; }

# Full namespace name for a short one (cli, dlya, shp, dlyb, srv).
_topo_ns() {
	case $1 in
	cli) echo "$NS_CLI" ;; dlya) echo "$NS_DLYA" ;; shp) echo "$NS_SHP" ;;
	dlyb) echo "$NS_DLYB" ;; srv) echo "$NS_SRV" ;; *) echo "$1" ;;
	esac
}

# topo_exec NS cmd...: run cmd in namespace NS (short or full name).
topo_exec() {
	local ns
	ns=$(_topo_ns "$1")
	shift
	ip netns exec "$ns" "$@"
}

# topo_bg NS LOG cmd...: start cmd in NS in the background, output to LOG;
# its pid is in TOPO_LAST_PID and is killed by topo_cleanup.
topo_bg() {
	local ns log=$2
	ns=$(_topo_ns "$1")
	shift 2
	ip netns exec "$ns" "$@" >"$log" 2>&1 </dev/null &
	TOPO_LAST_PID=$!
	TOPO_PIDS+=("$TOPO_LAST_PID")
}

_topo_sysctl() {
	local ns=$1
	shift
	ip netns exec "$ns" sysctl -q -w "$@" >/dev/null
}

# A namespace with loopback up, forwarding on, no rp_filter, no DAD. The
# "default" settings come first so every interface created later has them.
_topo_ns_add() {
	local ns=$1
	ip netns add "$ns" || return 1
	TOPO_NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up &&
	_topo_sysctl "$ns" net.ipv4.ip_forward=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.conf.all.send_redirects=0 \
		net.ipv4.conf.default.send_redirects=0 \
		net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.forwarding=1
}

# _topo_link NS1 IF1 ADDR4 ADDR6 NS2 IF2 ADDR4 ADDR6: a veth pair, up,
# addressed (prefix lengths included in the addresses).
_topo_link() {
	# shellcheck disable=SC2086  # TOPO_QUEUES=N: N TX and RX queues a side (MQ tests)
	ip -n "$1" link add "$2" ${TOPO_QUEUES:+numtxqueues $TOPO_QUEUES numrxqueues $TOPO_QUEUES} \
		type veth peer name "$6" netns "$5" \
		${TOPO_QUEUES:+numtxqueues $TOPO_QUEUES numrxqueues $TOPO_QUEUES} &&
	_topo_if_up "$1" "$2" "$3" "$4" && _topo_if_up "$5" "$6" "$7" "$8"
}

_topo_if_up() {
	ip -n "$1" addr add "$3" dev "$2" &&
	ip -n "$1" addr add "$4" dev "$2" nodad &&
	ip -n "$1" link set "$2" up || return 1
	if [ -n "${TOPO_NO_OFFLOAD:-}" ]; then
		ip netns exec "$1" ethtool -K "$2" tso off gso off >/dev/null ||
			{ _topo_err "ethtool -K $2 tso off gso off failed in $1"; return 1; }
	fi
	# XDP (a shaper's cpumap redirect) rebuilds the skb without the
	# CHECKSUM_PARTIAL a veth passes on: senders must fill checksums in.
	if [ -n "${TOPO_NO_TXCSUM:-}" ]; then
		ip netns exec "$1" ethtool -K "$2" tx off >/dev/null ||
			{ _topo_err "ethtool -K $2 tx off failed in $1"; return 1; }
	fi
}

# _topo_route NS ADDR4_ROUTE... -- ADDR6_ROUTE...: each route "DST via GW".
_topo_route() {
	local ns=$1 fam=-4 r
	shift
	for r in "$@"; do
		if [ "$r" = -- ]; then fam=-6; continue; fi
		# shellcheck disable=SC2086
		ip -n "$ns" $fam route add $r || { _topo_err "$ns: ip $fam route add $r failed"; return 1; }
	done
}

# A delay box: veths IF_A and IF_B both feed the tun dl0 through table 100.
_topo_delaybox() {
	local ns=$1 fam ifc
	ip -n "$ns" tuntap add dev dl0 mode tun &&
	ip -n "$ns" link set dl0 txqueuelen 10000 up || return 1
	for fam in -4 -6; do
		for ifc in "$2" "$3"; do
			ip -n "$ns" $fam rule add pref 100 iif "$ifc" lookup 100 || return 1
		done
		ip -n "$ns" $fam route add default dev dl0 table 100 || return 1
	done
}

# _topo_wait_oper NS IF...: wait until each interface is operationally up.
# Carrier changes reach the stack through linkwatch, which may hold them for
# up to a second; until then the device drops what is sent (its qdisc is
# still noop) and IPv6 has not joined its solicited-node groups, so a first
# neighbour solicitation would be lost and retried only a second later.
_topo_wait_oper() {
	local ns=$1 ifc st
	shift
	for _ in $(seq 150); do
		st=
		for ifc in "$@"; do
			st+=$(ip netns exec "$ns" cat "/sys/class/net/$ifc/operstate")
		done
		[ "$st" = "$(printf 'up%.0s' "$@")" ] && return 0
		sleep 0.02
	done
	_topo_err "$ns: interfaces $* not up after 3 s"
	return 1
}

_topo_build() {
	local ns
	for ns in "$NS_CLI" "$NS_DLYA" "$NS_SHP" "$NS_DLYB" "$NS_SRV"; do
		_topo_ns_add "$ns" || { _topo_err "cannot set up namespace $ns"; return 1; }
	done
	_topo_link "$NS_CLI" eth0 198.19.255.2/30 2001:db8:ff:1::2/64 \
		"$NS_DLYA" cli0 198.19.255.1/30 2001:db8:ff:1::1/64 &&
	_topo_link "$NS_DLYA" shp0 198.19.255.5/30 2001:db8:ff:2::1/64 \
		"$NS_SHP" "$SHP_CUST_IF" $SHP_CUST_ADDR4/30 $SHP_CUST_ADDR6/64 &&
	_topo_link "$NS_SHP" "$SHP_INET_IF" $SHP_INET_ADDR4/30 $SHP_INET_ADDR6/64 \
		"$NS_DLYB" shp0 198.19.255.10/30 2001:db8:ff:3::2/64 &&
	_topo_link "$NS_DLYB" srv0 198.19.255.13/30 2001:db8:ff:4::1/64 \
		"$NS_SRV" eth0 198.19.255.14/30 2001:db8:ff:4::2/64 ||
		{ _topo_err "cannot create veth links"; return 1; }
	_topo_route "$NS_CLI" "default via 198.19.255.1" -- \
		"default via 2001:db8:ff:1::1" &&
	_topo_route "$NS_DLYA" "198.18.0.0/16 via 198.19.255.2" \
		"default via 198.19.255.6" -- \
		"2001:db8:1::/48 via 2001:db8:ff:1::2" "default via 2001:db8:ff:2::2" &&
	_topo_route "$NS_SHP" "198.18.0.0/16 via 198.19.255.5" \
		"default via 198.19.255.10" -- \
		"2001:db8:1::/48 via 2001:db8:ff:2::1" "default via 2001:db8:ff:3::2" &&
	_topo_route "$NS_DLYB" "198.19.0.0/17 via 198.19.255.14" \
		"default via 198.19.255.9" -- \
		"2001:db8:2::/48 via 2001:db8:ff:4::2" "default via 2001:db8:ff:3::1" &&
	_topo_route "$NS_SRV" "default via 198.19.255.13" -- \
		"default via 2001:db8:ff:4::1" || return 1
	_topo_wait_oper "$NS_CLI" eth0 && _topo_wait_oper "$NS_DLYA" cli0 shp0 &&
	_topo_wait_oper "$NS_SHP" "$SHP_CUST_IF" "$SHP_INET_IF" &&
	_topo_wait_oper "$NS_DLYB" shp0 srv0 && _topo_wait_oper "$NS_SRV" eth0 ||
		return 1
	[ "$TOPO_DELAY" = 1 ] || return 0
	_topo_delaybox "$NS_DLYA" cli0 shp0 && _topo_delaybox "$NS_DLYB" shp0 srv0 ||
		{ _topo_err "cannot set up the tun delay boxes"; return 1; }
}

_topo_on_signal() { exit $((128 + $1)); }

# topo_setup [nooffload] [nodelay]: build the topology and trap topo_cleanup
# on EXIT (a test that needs its own EXIT trap must call topo_cleanup in it).
#   nooffload  TSO and GSO off on every veth, for MTU-sized packets
#   nodelay    dlya and dlyb plain routers: no tun, no delayline
topo_setup() {
	local arg
	for arg in "$@"; do
		case $arg in
		nooffload) TOPO_NO_OFFLOAD=1 ;;
		nodelay) TOPO_DELAY=0 ;;
		*) _topo_err "topo_setup: unknown option '$arg'"; return 1 ;;
		esac
	done
	if [ "$(id -u)" -ne 0 ]; then
		_topo_err "must run as root (network namespaces)"
		return 1
	fi
	if [ "$TOPO_DELAY" = 1 ] && [ ! -x "$DELAYLINE" ]; then
		_topo_err "delayline binary $DELAYLINE not found: run make first"
		return 1
	fi
	DELAYLINE=$(realpath "$DELAYLINE")
	if [ "${TOPO_RT:-1}" != 0 ] && chrt -f 10 true 2>/dev/null; then
		TOPO_CHRT=(chrt -f 10)
	fi
	trap topo_cleanup EXIT
	trap '_topo_on_signal 1' HUP
	trap '_topo_on_signal 2' INT
	trap '_topo_on_signal 15' TERM
	TOPO_DIR=$(mktemp -d "/tmp/pingfold-e2e.$TOPO_ID.XXXXXX") || return 1
	export TOPO_DIR
	_topo_build || return 1
	[ "$TOPO_DELAY" = 1 ] || return 0
	topo_delay_access "" && topo_delay_internet ""
}

# topo_cleanup: stop every process we started, delete every namespace.
# Safe to call more than once.
topo_cleanup() {
	local pid ns
	for pid in "${TOPO_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for _ in $(seq 20); do
		for pid in "${TOPO_PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null && break
			pid=
		done
		[ -z "$pid" ] && break
		sleep 0.1
	done
	for pid in "${TOPO_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	# Anything left inside our namespaces was started by us too.
	for ns in "${TOPO_NAMESPACES[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
	done
	[ ${#TOPO_PIDS[@]} -eq 0 ] || wait "${TOPO_PIDS[@]}" 2>/dev/null
	for ns in "${TOPO_NAMESPACES[@]}"; do
		ip netns del "$ns" 2>/dev/null || _topo_err "cannot delete namespace $ns"
	done
	TOPO_PIDS=() TOPO_CLIENTS=() TOPO_NAMESPACES=()
	if [ -n "$TOPO_DIR" ] && [ -z "${TOPO_KEEP:-}" ]; then
		rm -rf "$TOPO_DIR"
	elif [ -n "$TOPO_DIR" ]; then
		_topo_err "logs kept in $TOPO_DIR"
	fi
	TOPO_DIR=
}

# --- addresses -----------------------------------------------------------

# _topo_addr NS ADDR KIND: add ADDR as /32 or /128 on eth0 of NS, after
# checking it lies in the block routed toward NS.
_topo_addr() {
	local ns=$1 a=$2 kind=$3 ok=
	case $kind:$a in
	customer:198.18.*|customer:2001:db8:1:*) ok=1 ;;
	server:198.19.*.*) [ "$(echo "$a" | cut -d. -f3)" -lt 128 ] 2>/dev/null && ok=1 ;;
	server:2001:db8:2:*) ok=1 ;;
	esac
	if [ -z "$ok" ]; then
		_topo_err "$kind address $a is outside the $kind blocks (see lib.sh)"
		return 1
	fi
	case $a in
	*:*) ip -n "$ns" addr add "$a/128" dev eth0 nodad ;;
	*) ip -n "$ns" addr add "$a/32" dev eth0 ;;
	esac || { _topo_err "cannot add $kind address $a"; return 1; }
}

# topo_add_customer ADDR...: customer addresses (198.18.0.0/16,
# 2001:db8:1::/48) in cli.
topo_add_customer() {
	local a
	for a in "$@"; do
		_topo_addr "$NS_CLI" "$a" customer || return 1
		TOPO_CUSTOMERS+=("$a")
	done
}

# topo_add_server ADDR...: server addresses (198.19.0.0/17,
# 2001:db8:2::/48) in srv.
topo_add_server() {
	local a
	for a in "$@"; do
		_topo_addr "$NS_SRV" "$a" server || return 1
		TOPO_SERVERS+=("$a")
	done
}

# Namespace that holds a customer or server address (cli by default).
_topo_ns_of() {
	local a
	for a in "${TOPO_SERVERS[@]}"; do
		[ "$a" = "$1" ] && { echo "$NS_SRV"; return; }
	done
	echo "$NS_CLI"
}

# --- delays --------------------------------------------------------------

# _topo_delayline NAME NS "ADDR=SPEC ...": (re)start the delayline of a
# delay box with these rules, and wait until it has the tun open.
_topo_delayline() {
	local ns=$2 pidf="$TOPO_DIR/$1.pid" log="$TOPO_DIR/$1.log"
	local old rule lines args=()
	if [ "$TOPO_DELAY" != 1 ]; then
		_topo_err "no delay boxes: topology built with nodelay"
		return 1
	fi
	for rule in $3; do
		args+=(-r "$rule")
	done
	old=$(cat "$pidf" 2>/dev/null)
	if [ -n "$old" ]; then
		kill -TERM "$old" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$old" 2>/dev/null || break
			sleep 0.02
		done
	fi
	rm -f "$pidf"
	lines=0
	[ -f "$log" ] && lines=$(wc -l <"$log")
	# shellcheck disable=SC2086
	ip netns exec "$ns" "${TOPO_CHRT[@]}" "$DELAYLINE" -i dl0 -p "$pidf" \
		${DELAYLINE_ARGS:-} "${args[@]}" </dev/null >>"$log" 2>&1 &
	TOPO_PIDS+=("$!")
	for _ in $(seq 100); do
		if [ "$(cat "$pidf" 2>/dev/null)" = "$!" ]; then
			_topo_wait_oper "$ns" dl0
			return
		fi
		kill -0 "$!" 2>/dev/null || break
		sleep 0.02
	done
	_topo_err "delayline in $ns did not start:"
	tail -n +$((lines + 1)) "$log" | sed 's/^/  /' >&2
	return 1
}

# topo_delay_access "ADDR=SPEC ...": access delays in dlya, by source
# address (customers' upstream). SPEC: MS or MIN-MAX/PERIOD_S. "" = none.
topo_delay_access() { _topo_delayline dlya "$NS_DLYA" "$1"; }

# topo_delay_internet "ADDR=SPEC ...": internet delays in dlyb, by source
# address (servers' downstream). "" = none.
topo_delay_internet() { _topo_delayline dlyb "$NS_DLYB" "$1"; }

# topo_delay_stats dlya|dlyb: the delayline's counters so far, as "# " lines.
topo_delay_stats() {
	local pidf="$TOPO_DIR/$1.pid" log="$TOPO_DIR/$1.log" n
	n=$(wc -l <"$log")
	kill -USR1 "$(cat "$pidf")" 2>/dev/null || return 1
	sleep 0.1
	tail -n +$((n + 1)) "$log" | sed 's/^/# /'
}

# --- traffic -------------------------------------------------------------

# topo_ping_rtts SRC DST COUNT [INTERVAL_S]: ping DST from SRC (a customer
# or server address) and print each RTT in ms, one a line.
topo_ping_rtts() {
	local ns
	ns=$(_topo_ns_of "$1")
	# One ping first so neighbour resolution is not in the samples.
	ip netns exec "$ns" ping -n -q -c 1 -W 2 -I "$1" "$2" >/dev/null 2>&1
	ip netns exec "$ns" timeout 60 ping -n -c "$3" -i "${4:-0.1}" -W 2 \
		-I "$1" "$2" 2>/dev/null | sed -n 's/.* time=\([0-9.]*\) ms.*/\1/p'
}

# topo_iperf_server PORT: an iperf3 server in srv on PORT (all addresses),
# returned once it listens.
topo_iperf_server() {
	local port=$1
	topo_bg srv "$TOPO_DIR/iperf-server-$port.log" iperf3 -s -p "$port"
	for _ in $(seq 100); do
		[ -n "$(ip netns exec "$NS_SRV" ss -Hltn "sport = :$port")" ] && return 0
		sleep 0.02
	done
	_topo_err "iperf3 server on port $port did not start"
	return 1
}

# topo_iperf_client ADDR SERVER [SECS [RATE [ARGS...]]]: from customer
# ADDR, iperf3 to SERVER for SECS (default 5) at RATE per direction
# (default 10M) in the background, on a server of its own. Bidirectional
# unless TOPO_IPERF_DIR says otherwise (e.g. -R, or "" for upload only).
# Sets TOPO_LAST_PID and TOPO_LAST_LOG; wait with topo_iperf_wait.
topo_iperf_client() {
	local addr=$1 srv=$2 secs=${3:-5} rate=${4:-10M} port=$TOPO_IPERF_PORT
	local log="$TOPO_DIR/iperf-client-$addr-$port.log"
	shift 4 2>/dev/null || shift $#
	TOPO_IPERF_PORT=$((TOPO_IPERF_PORT + 1))
	topo_iperf_server "$port" || return 1
	# shellcheck disable=SC2086
	topo_bg cli "$log" timeout -k 2 $((secs + 15)) iperf3 -c "$srv" \
		-B "$addr" -p "$port" -t "$secs" -b "$rate" \
		${TOPO_IPERF_DIR---bidir} "$@"
	TOPO_CLIENTS+=("$TOPO_LAST_PID")
	# shellcheck disable=SC2034  # for the caller
	TOPO_LAST_LOG=$log
}

# topo_iperf_wait: wait for every iperf3 client; fails if any failed.
topo_iperf_wait() {
	local pid rc=0
	for pid in "${TOPO_CLIENTS[@]}"; do
		wait "$pid" || rc=1
	done
	TOPO_CLIENTS=()
	return $rc
}

# free_port: a loopback TCP port nothing listens on now
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

# wait_log FILE PATTERN [TRIES]: until PATTERN (grep) appears in FILE,
# 0.05 s apart, 200 tries (10 s) unless told; false if it never does
wait_log() {
	local i
	for i in $(seq "${3:-200}"); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}

# --- tests without the topology ---------------------------------------------
# scratch_setup: B (the build folder, OUT, absolute), DIR (a new temporary
# folder) and pids (add background processes to it). At exit the processes
# get SIGTERM and are waited for, then cleanup_more runs if the test
# defines it (namespaces, mounts), then DIR is removed.
scratch_setup() {
	B=${OUT:-build}
	[[ $B == /* ]] || B=$TOPO_ROOT/$B
	DIR=$(mktemp -d)
	pids=()
	trap _scratch_cleanup EXIT
}

_scratch_cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	if declare -F cleanup_more >/dev/null; then cleanup_more; fi
	rm -rf "$DIR"
}
