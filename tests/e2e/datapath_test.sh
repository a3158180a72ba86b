#!/bin/bash
# The datapath on real TCP through namespaces, with known delays:
#   customers 0,1,2 have access delays 5, 20, 80 ms (IPv4, IPv4, IPv6),
#   customer 3 sends nothing, the server is 10 ms away (internet half).
# pingfold-dp runs in the shaper namespace, attached to its
# customer-facing interface, polling deltas every 200 ms, and is stopped
# while the traffic still flows.
# Checks: each access and internet median within one bucket width + 1 ms
# of its delay; no samples for the silent customer; the sum of every
# delta equals the datapath's own sample counter (exactness).
set -u
. "$(dirname "$0")/lib.sh"

PFDP=${OUT:-build}/pingfold-dp
[[ $PFDP == /* ]] || PFDP=$TOPO_ROOT/$PFDP
SECS=${DP_TEST_SECS:-6}
BUCKET=0.0905	# 2^(1/8) - 1: one bucket's relative width

topo_setup || exit 1
topo_add_customer 198.18.1.10 198.18.1.20 2001:db8:1::30 198.18.1.40
topo_add_server 198.19.0.1 2001:db8:2::1
topo_delay_access "198.18.1.10=5 198.18.1.20=20 2001:db8:1::30=80" || exit 1
topo_delay_internet "198.19.0.1=10 2001:db8:2::1=10" || exit 1

out=$TOPO_DIR/pfdp.out
topo_bg shp "$out" "$PFDP" -i "$SHP_CUST_IF" -n 200 -f 65536 \
	-c 0=198.18.1.10/32 -c 1=198.18.1.20 -c 2=2001:db8:1::30/128 -c 3=198.18.1.40
pfdp_pid=$TOPO_LAST_PID
for _ in $(seq 100); do grep -q '^ready' "$out" && break; sleep 0.05; done
check "pingfold-dp attached in the shaper namespace" grep -q '^ready' "$out"

# pingfold-dp is stopped while the traffic still flows (2 s before its end):
# exactness must hold however busy the hooks are at the last poll.
topo_iperf_client 198.18.1.10 198.19.0.1 "$((SECS + 2))" 20M
topo_iperf_client 198.18.1.20 198.19.0.1 "$((SECS + 2))" 20M
topo_iperf_client 2001:db8:1::30 2001:db8:2::1 "$((SECS + 2))" 20M
sleep "$SECS"
kill -TERM "$pfdp_pid"
wait "$pfdp_pid" 2>/dev/null
check "iperf3 traffic ran for every customer" topo_iperf_wait
check "pingfold-dp exited cleanly and reported" grep -q '^deltas ' "$out"
grep -E '^(customer|deltas|stat (samples|matched|recorded|packets))' "$out" | sed 's/^/# /'

# field VALUE-NAME of a "customer SLOT HALF ..." line
cfield() {
	awk -v s="$1" -v h="$2" -v f="$3" \
		'$1 == "customer" && $2 == s && $3 == h { for (i = 4; i < NF; i += 2) if ($i == f) print $(i + 1) }' "$out"
}

# median_ok SLOT HALF DELAY_MS
median_ok() {
	local slot=$1 half=$2 ms=$3 count p50 tol
	count=$(cfield "$slot" "$half" count)
	p50=$(cfield "$slot" "$half" p50_ns)
	if [ -z "$count" ] || [ "$count" -lt 50 ]; then
		not_ok "customer $slot $half: ${count:-0} samples, want >= 50"
		return
	fi
	tol=$(awk -v d="$ms" -v b="$BUCKET" 'BEGIN { print d * b + 1 }')
	if fcmp "($p50 / 1e6 - $ms) <= $tol && ($ms - $p50 / 1e6) <= $tol"; then
		ok "customer $slot $half median $(awk -v p="$p50" 'BEGIN{printf "%.2f", p/1e6}') ms within $tol ms of $ms ms ($count samples)"
	else
		not_ok "customer $slot $half median $(awk -v p="$p50" 'BEGIN{printf "%.2f", p/1e6}') ms not within $tol ms of $ms ms"
	fi
}

median_ok 0 access 5
median_ok 1 access 20
median_ok 2 access 80
median_ok 0 internet 10
median_ok 1 internet 10
median_ok 2 internet 10

if grep -q '^customer 3 ' "$out"; then
	not_ok "customer 3 sent nothing but has samples"
else
	ok "customer 3 (no traffic) has no samples"
fi

deltas=$(awk '$1 == "deltas" { print $2 }' "$out")
samples=$(awk '$1 == "stat" && $2 == "samples" { print $3 }' "$out")
polls=$(awk '$1 == "deltas" { print $4 }' "$out")
sum_counts=$(awk '$1 == "customer" { s += $5 } END { print s + 0 }' "$out")
if [ -n "$deltas" ] && [ "$deltas" = "$samples" ] && [ "$sum_counts" = "$samples" ] &&
   [ "${polls:-0}" -ge 10 ]; then
	ok "exact: sum of $polls polls' deltas = datapath samples counter = $samples"
else
	not_ok "exactness: deltas=${deltas:-?} per-customer sum=$sum_counts samples=${samples:-?} polls=${polls:-?}"
fi

topo_exit
