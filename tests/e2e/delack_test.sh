#!/bin/bash
# Delayed ACKs (issue 10; docs/datapath.md "Delayed ACKs"): request/response
# TCP with think time (tests/tools/pfrr: 100-byte requests, 200-byte
# answers after 30 ms, 35 ms between exchanges, 40 exchanges a connection)
# from a customer 10 ms away to a server 10 ms away. Such a quick exchange
# puts Linux in its interactive ("pingpong") mode: the receiver of a
# message holds its ACK for its answer, or its delayed-ACK timer (40 ms),
# so a timestamp stored on the message measures that wait too. Measured twice, with pingfold-dp as it runs (PSH segments
# not recorded) and with --record-psh (every data segment recorded):
#  - the share of samples more than 20 ms (half the shortest delayed-ACK
#    wait) above the path's RTT, per half, printed;
#  - as it runs: none (the samples it keeps come from handshakes and FINs);
#  - with --record-psh: most samples are inflated (what the rule avoids).
set -u
. "$(dirname "$0")/lib.sh"

PFDP=${OUT:-build}/pingfold-dp
PFRR=${OUT:-build}/tests/tools/pfrr
[[ $PFDP == /* ]] || PFDP=$TOPO_ROOT/$PFDP
[[ $PFRR == /* ]] || PFRR=$TOPO_ROOT/$PFRR
RTT_MS=10
INFLATED_MS=$((RTT_MS + 20))

topo_setup || exit 1
topo_add_customer 198.18.1.10
topo_add_server 198.19.0.1
topo_delay_access "198.18.1.10=$RTT_MS" || exit 1
topo_delay_internet "198.19.0.1=$RTT_MS" || exit 1
topo_bg srv "$TOPO_DIR/rr-server.log" "$PFRR" -s -p 5301 -t 30
for _ in $(seq 100); do grep -q '^listening' "$TOPO_DIR/rr-server.log" && break; sleep 0.05; done

# run NAME ARGS...: pingfold-dp with ARGS while pfrr runs its exchanges
run() {
	local out=$TOPO_DIR/$1.out pid
	shift
	topo_bg shp "$out" "$PFDP" -i "$SHP_CUST_IF" -n 200 -f 4096 -c 0=198.18.1.10 "$@"
	pid=$TOPO_LAST_PID
	for _ in $(seq 100); do grep -q '^ready' "$out" && break; sleep 0.05; done
	topo_exec cli "$PFRR" -c 198.19.0.1 -p 5301 -B 198.18.1.10 -k 2 -n 40 -w 35 \
		> "$TOPO_DIR/rr-client.log" 2>&1 || diag "pfrr client: $(cat "$TOPO_DIR/rr-client.log")"
	sleep 0.5
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null
}
# share OUT HALF: "N INFLATED" samples of the half, and how many above INFLATED_MS
share() {
	awk -v h="$2" -v lim=$((INFLATED_MS * 1000000)) '$1 == "buckets" && $3 == h {
		for (i = 4; i <= NF; i++) { split($i, b, ":"); n += b[2]; if (b[1] + 0 >= lim) x += b[2] }
	} END { print n + 0, x + 0 }' "$TOPO_DIR/$1.out"
}

run psh --record-psh
run default
check "request/response traffic ran" grep -q '^done 80 exchanges' "$TOPO_DIR/rr-client.log"
for half in access internet; do
	read -r n x <<<"$(share psh $half)"
	diag "with --record-psh, $half: $x of $n samples more than 20 ms above the ${RTT_MS} ms RTT"
	check "with --record-psh, most $half samples are inflated by the peer's wait ($x of $n)" \
		test "$n" -gt 0 -a $((2 * x)) -gt "$n"
	read -r n x <<<"$(share default $half)"
	diag "as it runs, $half: $x of $n samples more than 20 ms above the RTT"
	check "as it runs, no $half sample is inflated ($x of $n), and there are samples" \
		test "$n" -gt 0 -a "$x" = 0
done
skipped=$(awk '$1 == "stat" && $2 == "psh_skipped" { print $3 }' "$TOPO_DIR/default.out")
check "the PSH segments not recorded are counted ($skipped)" test "${skipped:-0}" -gt 0
topo_exit
