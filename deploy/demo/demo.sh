#!/bin/bash
# make demo: a simulated fleet in network namespaces. Three shaper boxes
# in two sites (North: shaper-n1, shaper-n2; South: shaper-s1), each with
# its delay lines, customers from deploy/demo/ShapedDevices.csv (the
# Comment column gives each one its simulated access delay, one of them
# bufferbloated), servers at known internet delays, iperf3 traffic, a
# pingfold-agent per box and one pingfold-aggregator. Shows a live
# `pingfold top`; Ctrl-C (or `make demo-stop`) removes everything.
#
#   deploy/demo/demo.sh          run until Ctrl-C
#   DEMO_SECS=30 deploy/demo/demo.sh   run 30 s, print the views, stop
#   deploy/demo/demo.sh stop     stop a demo running elsewhere
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${OUT:-build}
[[ $B == /* ]] || B=$ROOT/$B
CSV=$ROOT/deploy/demo/ShapedDevices.csv
NET=$ROOT/deploy/demo/network.json
RUN=${DEMO_RUN:-/run/pingfold-demo}
SECS=${DEMO_SECS:-0}
QUERY=${DEMO_QUERY:-tcp://127.0.0.1:7800}
VIEWS=${DEMO_VIEWS:-tcp://127.0.0.1:7801}
HTTP=${DEMO_HTTP:-http://127.0.0.1:7880}
BOXES="shaper-n1 shaper-n2 shaper-s1"

# Simulated internet: each box's servers are this far away.
declare -A INTERNET=([shaper-n1]=12 [shaper-n2]=25 [shaper-s1]=45)
# Which box serves which access point (LibreQoS Parent Node).
box_of() {
	case $1 in "AP N1"*) echo shaper-n1 ;; "AP N2"*) echo shaper-n2 ;; "AP S1"*) echo shaper-s1 ;; esac
}

stop_demo() {
	[ -d "$RUN" ] || return 0
	echo "demo: stopping..."
	touch "$RUN/stop"
	for _ in $(seq 100); do
		local all=1 b
		for b in $BOXES; do [ -e "$RUN/$b.stopped" ] || [ ! -e "$RUN/$b.ready" ] || all=0; done
		[ $all = 1 ] && break
		sleep 0.1
	done
	if [ -f "$RUN/aggregator.pid" ]; then
		local agg
		agg=$(cat "$RUN/aggregator.pid")
		kill -TERM "$agg" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$agg" 2>/dev/null || break; sleep 0.1; done
	fi
	touch "$RUN/teardown"
	for p in $(cat "$RUN"/*.boxpid 2>/dev/null); do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -TERM "$p" 2>/dev/null
	done
	rm -rf "$RUN"
	echo "demo: stopped; namespaces, processes and pinned maps removed"
}

if [ "${1:-}" = stop ]; then
	stop_demo
	exit 0
fi
if [ -e "$RUN" ]; then
	echo "demo: $RUN exists: a demo is running (make demo-stop)" >&2
	exit 1
fi
mkdir -p "$RUN"
trap 'stop_demo; exit 130' INT TERM
trap 'stop_demo' EXIT

# Per box: customer addresses, access delay rules, senders, from the CSV.
declare -A ADDRS ACCESS
while IFS=, read -r id name dev devname parent mac v4 v6 _ _ _ _ comment; do
	case $id in \#*|"Circuit ID"|"") continue ;; esac
	box=$(box_of "$parent")
	delay=$(sed -n 's/.*demo access=\([0-9./-]*\).*/\1/p' <<<"$comment")
	[ -n "$box" ] && [ -n "$delay" ] || continue
	ADDRS[$box]+="$v4 "
	ACCESS[$box]+="$v4=$delay "
	if [ -n "$v6" ]; then
		h=${v6%/*}10	# a host in the customer's /64
		ADDRS[$box]+="$h "
		ACCESS[$box]+="$h=$delay "
	fi
done < "$CSV"

for b in $BOXES; do
	d=${INTERNET[$b]}
	BOX_CUSTOMERS_FILE=$CSV BOX_ADDRS=${ADDRS[$b]} BOX_ACCESS=${ACCESS[$b]} \
	BOX_TRAFFIC=${ADDRS[$b]} BOX_INTERNET="198.19.0.1=$d 2001:db8:2::1=$d" BOX_RATE=1M \
	BOX_LISTEN=ipc://$RUN/$b.pub BOX_REPLAY=ipc://$RUN/$b.rep BOX_AGENT_ARGS="-N $NET" \
	SECS=$((SECS > 0 ? SECS + 5 : 86400)) OUT=$B \
		setsid bash "$ROOT/tests/e2e/fleet_box.sh" "$b" "$RUN" > "$RUN/$b.log" 2>&1 &
	echo $! > "$RUN/$b.boxpid"
done
# wait_boxes WHAT: until every box has written $RUN/BOX.WHAT (at most 60 s)
wait_boxes() {
	local all b
	for _ in $(seq 600); do
		all=1
		for b in $BOXES; do [ -e "$RUN/$b.$1" ] || all=0; done
		[ $all = 1 ] && return
		sleep 0.1
	done
}
echo "demo: starting 3 shaper boxes (namespaces, delay lines, agents)..."
wait_boxes ready
for b in $BOXES; do
	[ -e "$RUN/$b.ready" ] || { echo "demo: box $b did not start:"; tail -5 "$RUN/$b.log"; exit 1; }
done

aargs=()
for b in $BOXES; do aargs+=(-a "ipc://$RUN/$b.pub,replay=ipc://$RUN/$b.rep"); done
http=()
"$B/pingfold-aggregator" --help | grep -q -- '--http URL' && http=(--http "$HTTP")
"$B/pingfold-aggregator" "${aargs[@]}" -q "$QUERY" -p "$VIEWS" "${http[@]}" --id demo-agg \
	> "$RUN/aggregator.log" 2>&1 &
echo $! > "$RUN/aggregator.pid"
touch "$RUN/go"

cat <<EOF

  pingfold demo: 3 boxes (North: shaper-n1, shaper-n2; South: shaper-s1),
  36 customers from deploy/demo/ShapedDevices.csv, sites from network.json.
  Access delays 2..150 ms as the CSV's Comment column says; customer 2006
  is bufferbloated (20..500 ms). Internet: 12, 25, 45 ms by box.

  Try:  build/pingfold top               worst customers (access p95)
        build/pingfold top sites
        build/pingfold query site North -w 1m
        build/pingfold boxes
EOF
[ ${#http[@]} -gt 0 ] && echo "        overview page: $HTTP/"
echo

if [ "$SECS" -gt 0 ]; then
	# SECS of traffic for every customer: count from when the last box has
	# started all its clients (each waits for its iperf3 server to listen)
	wait_boxes flowing
	sleep "$SECS"
	"$B/pingfold" -s "$QUERY" top customers -w 1m -n 40 --once
	"$B/pingfold" -s "$QUERY" top sites -w 1m --once
	"$B/pingfold" -s "$QUERY" boxes
	exit 0
fi
sleep 5
echo "demo: live view (Ctrl-C stops the demo)"
"$B/pingfold" -s "$QUERY" top customers -w 1m -n 15 -i 2
