#!/bin/bash
# A fleet: three shaper boxes (each its own namespaces, delay lines, agent)
# in two sites, one customer (S) served by two boxes, and two aggregators
# in a chain (agg1 merges the boxes and republishes; agg2 subscribes to
# agg1). agg1 reaches box b3 over TCP; while traffic runs, its connection
# is cut again and again for 3 s, so deltas are missed and must come back
# by replay. Checks: per-customer medians against the delays, site
# rollups = sums of their customers, totals = the datapaths' own counters,
# recovery of the cut, agg2 = agg1 per customer, and the pingfold CLI.
# Restart without loss (issue 13): agg3, beside agg1 on the same boxes
# (started after the traffic), keeps history; once a minute with traffic
# in it is on disk it is killed
# (SIGKILL) and started again while the agents still run: its history and
# the boxes' replay rings must give back exactly agg1's 1 h window (agg1
# never stopped), customer by customer.
set -u
. "$(dirname "$0")/lib.sh"

B=${OUT:-build}
[[ $B == /* ]] || B=$TOPO_ROOT/$B
DIR=$(mktemp -d)
SECS=${FLEET_SECS:-10}
BUCKET=0.0905
box_pids=() agg_pids=()

cleanup() {
	touch "$DIR/teardown" "$DIR/stop" "$DIR/go"
	for p in "${agg_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${box_pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$DIR"
}
trap cleanup EXIT

start_box() {
	local box=$1
	BOX_CUSTOMERS=$2 BOX_ADDRS=$3 BOX_ACCESS=$4 BOX_TRAFFIC=$5 BOX_LISTEN=$6 \
	BOX_REPLAY=$7 SECS=$SECS OUT=$B bash "$(dirname "$0")/fleet_box.sh" "$box" "$DIR" \
		> "$DIR/$box.log" 2>&1 &
	box_pids+=($!)
}

start_box b1 $'A 198.18.1.10 site=North/Tower1\nB 198.18.1.20 site=North/Tower1\nS 198.18.1.50 site=North/Shared' \
	"198.18.1.10 198.18.1.20 198.18.1.50" "198.18.1.10=5 198.18.1.20=20 198.18.1.50=30" \
	"198.18.1.10 198.18.1.20 198.18.1.50" "ipc://$DIR/b1.pub" "ipc://$DIR/b1.rep"
start_box b2 $'C 198.18.1.30 site=North/Tower2\nD 198.18.1.40 site=North/Tower2\nS 198.18.1.50 site=North/Shared' \
	"198.18.1.30 198.18.1.40 198.18.1.50" "198.18.1.30=10 198.18.1.40=50 198.18.1.50=30" \
	"198.18.1.30 198.18.1.40 198.18.1.50" "ipc://$DIR/b2.pub" "ipc://$DIR/b2.rep"
start_box b3 $'E 198.18.1.60 site=South/Tower3\nF 2001:db8:1::70 site=South/Tower3\nG 198.18.1.80 site=South/Tower3' \
	"198.18.1.60 2001:db8:1::70 198.18.1.80" "198.18.1.60=40 2001:db8:1::70=80" \
	"198.18.1.60 2001:db8:1::70" "tcp://127.0.0.1:7700" "tcp://127.0.0.1:7701"

for _ in $(seq 600); do
	[ -e "$DIR/b1.ready" ] && [ -e "$DIR/b2.ready" ] && [ -e "$DIR/b3.ready" ] && break
	sleep 0.05
done
check "three boxes with their agents are up" test -e "$DIR/b1.ready" -a -e "$DIR/b2.ready" -a -e "$DIR/b3.ready"
NS3=$(cat "$DIR/b3.ns" 2>/dev/null)

ip netns exec "$NS3" "$B/pingfold-aggregator" --id agg1 -n 500 \
	-a "ipc://$DIR/b1.pub,replay=ipc://$DIR/b1.rep" -a "ipc://$DIR/b2.pub,replay=ipc://$DIR/b2.rep" \
	-a "tcp://127.0.0.1:7700,replay=tcp://127.0.0.1:7701" \
	-q "ipc://$DIR/q1" -p "ipc://$DIR/v1" -r "ipc://$DIR/r1" --republish-replay "ipc://$DIR/r1r" \
	> "$DIR/agg1.log" 2>&1 &
agg_pids+=($!)
"$B/pingfold-aggregator" --id agg2 -n 500 -a "ipc://$DIR/r1,replay=ipc://$DIR/r1r" \
	-q "ipc://$DIR/q2" > "$DIR/agg2.log" 2>&1 &
agg_pids+=($!)
start_agg3() {
	ip netns exec "$NS3" "$B/pingfold-aggregator" --id agg3 -n 500 \
		-a "ipc://$DIR/b1.pub,replay=ipc://$DIR/b1.rep" -a "ipc://$DIR/b2.pub,replay=ipc://$DIR/b2.rep" \
		-a "tcp://127.0.0.1:7700,replay=tcp://127.0.0.1:7701" --history-dir "$DIR/hist" \
		-q "ipc://$DIR/q3" >> "$DIR/agg3.log" 2>&1 &
	AGG3=$!
	agg_pids+=($AGG3)
}
"$B/pingfold" -V "ipc://$DIR/v1" watch view/site/ > "$DIR/watch.out" 2>&1 &
agg_pids+=($!)
sleep 1

touch "$DIR/go"
sleep 3
# cut agg1 <-> b3's agent again and again for 3 s (nng redials each time)
for _ in $(seq 30); do
	ip netns exec "$NS3" ss -K dst 127.0.0.1 dport = 7700 >/dev/null 2>&1
	sleep 0.1
done
for _ in $(seq 600); do
	[ -e "$DIR/b1.traffic" ] && [ -e "$DIR/b2.traffic" ] && [ -e "$DIR/b3.traffic" ] && break
	sleep 0.1
done

# agg3 starts now, its load kept out of the RTTs measured above: the
# boxes' replay rings give it the traffic. Killed and started again once
# a minute with traffic is on disk.
start_agg3
q1() { timeout 20 "$B/pingfold" -s "ipc://$DIR/q1" "$@"; }
q3() { timeout 20 "$B/pingfold" -s "ipc://$DIR/q3" "$@"; }
fleet_pts() { q3 --json history fleet --since 10m | jq -c '[.points[] | select(.access.count + .internet.count > 0)]'; }
for _ in $(seq 150); do
	[ "$(fleet_pts | jq length)" -gt 0 ] 2>/dev/null && break
	sleep 0.5
done
before_pts=$(fleet_pts)
check "agg3: a minute with traffic is in its history ($(jq length <<<"$before_pts") fleet points)" \
	test "$(jq length <<<"$before_pts")" -gt 0
kill -KILL $AGG3
wait $AGG3 2>/dev/null
start_agg3
fleet_count() { "$1" query fleet -w 1h --json 2>/dev/null | jq '.halves.access.count + .halves.internet.count'; }
# every customer's and site's 1 h histograms, as one line
hists() {
	local id
	for id in A B C D E F S; do
		"$1" query customer "$id" -w 1h --json 2>/dev/null | jq -c '.halves | map_values({count, buckets})'
	done
	for id in North North/Tower1 South/Tower3; do
		"$1" query site "$id" -w 1h --json 2>/dev/null | jq -c '.halves | map_values({count, buckets})'
	done
}
# settled: the boxes' replays are in (the history gave back the fleet's
# minutes at once; customers come from the replays)
for _ in $(seq 300); do
	h1=$(hists q1) h3=$(hists q3)
	[ "$h1" = "$h3" ] && break
	sleep 0.1
done
n1=$(fleet_count q1) n3=$(fleet_count q3)
check "agg3 after kill -9 and a restart: 1 h fleet count $n3 = agg1's (never stopped) $n1" \
	test -n "$n1" -a "$n1" = "$n3"
check "agg3's restart put history points back into its windows" \
	grep -q "points of the last hour put back into the windows" "$DIR/agg3.log"
check "agg3 after the restart: every customer's and site's 1 h histograms equal agg1's" \
	test -n "$h1" -a "$h1" = "$h3"
[ "$h1" = "$h3" ] || diag "agg1: $(cut -c1-300 <<<"$h1" | tr '\n' ' ') / agg3: $(cut -c1-300 <<<"$h3" | tr '\n' ' ')"

check "agg3's history fleet points are there after the restart, unchanged" \
	test "$(fleet_pts | jq -c --argjson n "$(jq length <<<"$before_pts")" '.[:$n]')" = "$before_pts"

touch "$DIR/stop"
for _ in $(seq 200); do
	[ -e "$DIR/b1.stopped" ] && [ -e "$DIR/b2.stopped" ] && [ -e "$DIR/b3.stopped" ] && break
	sleep 0.05
done
sleep 2	# agg1 merges the last deltas, republishes; agg2 takes them

q2() { timeout 20 "$B/pingfold" -s "ipc://$DIR/q2" "$@"; }

boxes=$(q1 boxes --json)
for b in b1 b2 b3; do
	# committed: what the box's deltas so far carry (its final stats); the
	# datapath's own counter may be ahead by samples after the last read
	read -r merged counter dpc <<<"$(jq -r --arg b $b '.boxes[] | select(.box == $b) | "\(.samples) \(.stats.samples_committed) \(.stats.samples)"' <<<"$boxes")"
	if [ -n "$merged" ] && [ "$merged" -gt 0 ] && [ "$merged" = "$counter" ] && [ "$counter" -le "$dpc" ]; then
		ok "box $b: samples merged = its committed count = $merged (datapath counter $dpc)"
	else
		not_ok "box $b: merged ${merged:-?} != committed ${counter:-?} (datapath counter ${dpc:-?})"
	fi
done
read -r gaps gapd rec lost <<<"$(jq -r '.boxes[] | select(.box == "b3") | "\(.gaps) \(.gap_deltas) \(.recovered) \(.lost)"' <<<"$boxes")"
diag "b3 after the cut: gaps $gaps, missed deltas $gapd, recovered $rec, lost $lost"
check "the cut made gaps and every missed delta came back by replay" \
	test "${gapd:-0}" -gt 0 -a "${rec:-0}" = "${gapd:-x}" -a "${lost:-1}" -eq 0

fleet=$(q1 query fleet -w 1h --json)
fleet_n=$(jq '.halves.access.count + .halves.internet.count' <<<"$fleet")
box_sum=$(jq '[.boxes[].stats.samples_committed] | add' <<<"$boxes")
check "fleet count $fleet_n = sum of the three boxes' committed counts $box_sum" test "$fleet_n" = "$box_sum"

# median HALF ID MS
median_ok() {
	local half=$1 id=$2 want=$3 p50 n tol
	read -r n p50 <<<"$(q1 query customer "$id" -w 1h --json | jq -r ".halves.$half | \"\(.count) \(.p50_ms)\"")"
	tol=$(awk -v d="$want" -v b="$BUCKET" 'BEGIN { print d * b + 1 }')
	if [ "${n:-0}" -ge 20 ] && fcmp "($p50 - $want) <= $tol && ($want - $p50) <= $tol"; then
		ok "customer $id $half median $p50 ms within $tol of $want ms ($n samples)"
	else
		not_ok "customer $id $half median ${p50:-?} ms ($n samples), want $want +- $tol"
		q1 query customer "$id" -w 1h --json | jq -c ".halves.$half" | sed 's/^/# /'
	fi
}
median_ok access A 5
median_ok access B 20
median_ok access C 10
median_ok access D 50
median_ok access S 30
median_ok access E 40
median_ok access F 80
median_ok internet A 10
median_ok internet F 10
check "customer G (no traffic) has no samples" \
	test "$(q1 query customer G -w 1h --json 2>/dev/null | jq '.halves.access.count + .halves.internet.count')" = 0
check "customer S is one customer, named by two boxes" \
	test "$(q1 customers --json | jq -r '.customers[] | select(.id == "S") | .boxes')" = 2

# site rollups: each site's count = the sum of its subtree's customers
rollup_ok=1
for site in North North/Tower1 North/Tower2 North/Shared South South/Tower3; do
	s=$(q1 query site "$site" -w 1h --json | jq '.halves.access.count + .halves.internet.count')
	sum=0
	for id in A B C D E F G S; do
		csite=$(grep -h "^$id " "$DIR"/b*.customers | head -1 | sed 's/.*site=//')
		case "$csite" in "$site"|"$site"/*)
			n=$(q1 query customer "$id" -w 1h --json | jq '.halves.access.count + .halves.internet.count')
			sum=$((sum + n)) ;;
		esac
	done
	[ "$s" = "$sum" ] || { rollup_ok=0; diag "site $site: $s != customers' $sum"; }
done
check "every site's count equals the sum of its customers (6 sites)" test $rollup_ok = 1

stack_ok=1
for id in A B C D E F S; do
	a=$(q1 query customer "$id" -w 1h --json | jq -c '.halves | map_values({count, buckets})')
	b=$(q2 query customer "$id" -w 1h --json | jq -c '.halves | map_values({count, buckets})')
	[ -n "$a" ] && [ "$a" = "$b" ] || { stack_ok=0; diag "customer $id: agg1 $a / agg2 $b"; }
done
check "two aggregators in a chain give the same per-customer histograms as one" test $stack_ok = 1
check "agg2 sees the same site tree" \
	test "$(q1 query site North -w 1h --json | jq '.halves.access.count')" = \
	     "$(q2 query site North -w 1h --json | jq '.halves.access.count')"

top=$(q1 top customers -w 1h -p 95 -n 5 --json)
sorted=$(jq '[.items[].value_ms] | . == (sort | reverse)' <<<"$top")
first=$(jq -r '.items[0].name' <<<"$top")
firstv=$(jq -r '.items[0].value_ms' <<<"$top")
qv=$(q1 query customer "$first" -w 1h --json | jq -r '.halves.access.p95_ms')
check "pingfold top --json: worst first ($first), its p95 equals the query's" \
	test "$sorted" = true -a "$firstv" = "$qv" -a "$first" = F
check "pingfold top prints a table" bash -c "timeout 20 '$B/pingfold' -s 'ipc://$DIR/q1' top --once -w 1h | grep -q '^  1 .*F '"
check "pingfold boxes prints the three boxes" \
	test "$(q1 boxes | grep -cE '^  b[123] ')" = 3
check "pingfold query customer prints both halves" \
	bash -c "timeout 20 '$B/pingfold' -s 'ipc://$DIR/q1' query customer A -w 1h | grep -q '^  internet'"
out=$(timeout 20 "$B/pingfold" -s "ipc://$DIR/nothing" boxes 2>&1)
check "an unreachable aggregator is a clear error" grep -q "cannot reach the aggregator at ipc://$DIR/nothing" <<<"$out"
check "the view stream carries site views (pingfold watch)" grep -q '^view/site/North {' "$DIR/watch.out"
topo_exit
