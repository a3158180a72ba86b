#!/bin/bash
# An aggregator no peer can stall, forge or bloat. Beside an honest box with
# real traffic (b1: namespaces, delay lines, its agent, dialled with box=b1)
# and two synthetic boxes that dial in (f1, whose replay host is a dead
# listener that never answers, and f2), tests/tools/pfhostile attacks over
# its own connections: forged deltas under b1's and f2's ids (a second
# connection claiming a bound id), hostile values, a flood of customer ids
# and of box ids past the bounds, garbage, a query client that never reads
# its answers, and 1,100 idle HTTP connections against a 1,024 fd limit.
# Checks: the honest boxes' counts stay exact and on time, queries and the
# page answer within 1 s throughout, memory and descriptors stay bounded,
# every attack is counted under its reason, SIGTERM takes under 2 s.
set -u
. "$(dirname "$0")/lib.sh"

B=${OUT:-build}
[[ $B == /* ]] || B=$TOPO_ROOT/$B
H=$B/tests/tools/pfhostile
DIR=$(mktemp -d)
HTTP=http://127.0.0.1:7890 LISTEN=tcp://127.0.0.1:7891 QUERY=tcp://127.0.0.1:7892
SECS=14
box_pids=() pids=() agg=

cleanup() {
	touch "$DIR/teardown" "$DIR/stop" "$DIR/go"
	[ -n "$agg" ] && kill -TERM "$agg" 2>/dev/null
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${box_pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$DIR"
}
trap cleanup EXIT

BOX_CUSTOMERS=$'A 198.18.1.10 site=North/T1\nB 198.18.1.20 site=North/T1' \
BOX_ADDRS="198.18.1.10 198.18.1.20" BOX_ACCESS="198.18.1.10=5 198.18.1.20=20" \
BOX_TRAFFIC="198.18.1.10 198.18.1.20" BOX_LISTEN="ipc://$DIR/b1.pub" \
BOX_REPLAY="ipc://$DIR/b1.rep" SECS=$SECS OUT=$B \
	bash "$(dirname "$0")/fleet_box.sh" b1 "$DIR" > "$DIR/b1.log" 2>&1 &
box_pids+=($!)
for _ in $(seq 600); do [ -e "$DIR/b1.ready" ] && break; sleep 0.05; done
check "the honest box b1 is up" test -e "$DIR/b1.ready"

"$H" blackhole 7893 60 > "$DIR/blackhole.out" 2>&1 &
pids+=($!)
# 1,024 descriptors, as systemd gives by default without LimitNOFILE
(ulimit -n 1024; exec "$B/pingfold-aggregator" -n 300 \
	-a "ipc://$DIR/b1.pub,replay=ipc://$DIR/b1.rep,box=b1" -l "$LISTEN" -q "$QUERY" \
	--http "$HTTP" --replay-for f1=tcp://127.0.0.1:7893 --max-customers 30000 \
	--max-boxes 50 --http-max-conns 64 > "$DIR/agg.log" 2>&1) &
agg=$!
for _ in $(seq 100); do curl -sf "$HTTP/api/boxes" >/dev/null && break; sleep 0.1; done
touch "$DIR/go"

# the synthetic boxes: f1 misses every 4th delta (replays go to the dead host)
"$H" -c "$LISTEN" --skip 4 feed f1 10 > "$DIR/f1.out" 2>&1 &
pids+=($!)
"$H" -c "$LISTEN" feed f2 10 > "$DIR/f2.out" 2>&1 &
f2=$!
pids+=($!)
sleep 1
# a big store, so that a customers answer is 1.2 MB (for the slow reader)
"$H" -c "$LISTEN" customers big 20000 1 > /dev/null
epoch=$(timeout 5 "$B/pingfold" -s "$QUERY" boxes --json | jq -r '.boxes[] | select(.box == "b1") | .epoch')

# the attacks, with the measurements running
"$H" slow-query 127.0.0.1 7892 8 > "$DIR/slow.out" 2>&1 &
pids+=($!)
"$H" idle-http 127.0.0.1 7890 1100 8 > "$DIR/idle.out" 2>&1 &
pids+=($!)
(
	for _ in $(seq 16); do
		t0=$(date +%s%N)
		timeout 5 "$B/pingfold" -s "$QUERY" top -n 5 --once > /dev/null 2>&1 || echo "query failed"
		t1=$(date +%s%N)
		curl -sf -m 5 -o /dev/null "$HTTP/api/boxes" || echo "http failed"
		t2=$(date +%s%N)
		echo "lat $(((t1 - t0) / 1000000)) $(((t2 - t1) / 1000000))"
		echo "rss $(awk '/VmRSS/ { print $2 }' /proc/"$agg"/status) fds $(ls /proc/"$agg"/fd | wc -l)"
		sleep 0.5
	done
) > "$DIR/measure.out" 2>&1 &
measure=$!
"$H" -c "$LISTEN" --epoch "${epoch:-1}" forge b1 > /dev/null
"$H" -c "$LISTEN" forge f2 > /dev/null
"$H" -c "$LISTEN" values v1 > /dev/null
"$H" -c "$LISTEN" customers flood 20000 3 > /dev/null
"$H" -c "$LISTEN" boxes 200 > /dev/null
"$H" -c "$LISTEN" garbage 3000 > /dev/null
wait "$f2"
f2_sent=$(awk '/^samples/ { print $2 }' "$DIR/f2.out")
sleep 0.5
f2_merged=$(timeout 5 "$B/pingfold" -s "$QUERY" boxes --json | jq -r '.boxes[] | select(.box == "f2") | .samples')
check "f2 merged on time: all its $f2_sent samples within 0.5 s of its end (${f2_merged:-?})" \
	test "${f2_merged:-0}" = "${f2_sent:-x}"
wait "$measure"

diag "latencies (ms, query and page): $(awk '/^lat/ { printf "%s/%s ", $2, $3 }' "$DIR/measure.out")"
read -r qmax hmax <<<"$(awk '/^lat/ { if ($2 > q) q = $2; if ($3 > h) h = $3 } END { print q + 0, h + 0 }' "$DIR/measure.out")"
check "queries answered within 1 s throughout (slowest ${qmax} ms)" \
	test "$(grep -c '^lat' "$DIR/measure.out")" = 16 -a "$qmax" -lt 1000 -a -z "$(grep failed "$DIR/measure.out")"
check "the page answered within 1 s throughout, 1,100 idle connections open (slowest ${hmax} ms)" \
	test "$hmax" -lt 1000 -a "$(awk '/^connected/ { print $2 }' "$DIR/idle.out")" = 1100
read -r rss fds <<<"$(awk '/^rss/ { if ($2 > r) r = $2; if ($4 > f) f = $4 } END { print r + 0, f + 0 }' "$DIR/measure.out")"
# 30 MB measured; ASan (make SANITIZE=1) adds its shadow and a 256 MB quarantine
rss_max=150
ldd "$B/pingfold-aggregator" | grep -q libasan && rss_max=600
check "memory bounded: peak RSS ${rss} KiB < $rss_max MiB" test "$rss" -gt 0 -a "$rss" -lt $((rss_max * 1024))
check "descriptors bounded: at most $fds of 1,024 in use" test "$fds" -gt 0 -a "$fds" -lt 200

# traffic ends; the last deltas arrive
for _ in $(seq 300); do [ -e "$DIR/b1.traffic" ] && break; sleep 0.1; done
touch "$DIR/stop"
for _ in $(seq 200); do [ -e "$DIR/b1.stopped" ] && break; sleep 0.05; done
sleep 1
boxes=$(timeout 5 "$B/pingfold" -s "$QUERY" boxes --json)
box() { jq -r --arg b "$1" ".boxes[] | select(.box == \$b) | $2" <<<"$boxes"; }
read -r merged committed <<<"$(box b1 '"\(.samples) \(.stats.samples_committed)"')"
check "b1: samples merged = its committed count ($merged = $committed), forgeries added nothing" \
	test "${merged:-0}" -gt 0 -a "${merged:-0}" = "${committed:-x}"
check "forged deltas under b1's id refused as identity, counted for b1 ($(box b1 .refused.identity))" \
	test "$(box b1 .refused.identity)" -gt 0
check "a second connection claiming f2 refused as identity ($(box f2 .refused.identity))" \
	test "$(box f2 .refused.identity)" -gt 0
check "bound ids are logged once per connection" \
	test "$(grep -c "box 'b1' is bound to another connection" "$DIR/agg.log")" = 1
check "hostile values refused: 2 malformed (count 2^64-6, sum 2^64-1), 3 time" \
	test "$(box v1 .refused.malformed) $(box v1 .refused.time) $(box v1 .samples)" = "2 3 5"
check "a flood of customer ids refused at --max-customers (limit: $(box flood .refused.limit))" \
	test "$(box flood .refused.limit)" -gt 0
ncust=$(timeout 5 "$B/pingfold" -s "$QUERY" customers --json | jq '.customers | length')
check "customers stay within the bound ($ncust <= 30000)" test "$ncust" -le 30000 -a "$ncust" -ge 20000
check "boxes stay within --max-boxes 50 ($(jq '.boxes | length' <<<"$boxes"))" \
	test "$(jq '.boxes | length' <<<"$boxes")" -le 50
metrics=$(curl -sf "$HTTP/metrics")
m() { awk -v k="$1" '$1 == k { print $2 }' <<<"$metrics"; }
check "limit and malformed refusals counted in /metrics ($(m 'pingfold_aggregator_refused_total{reason="limit"}'), $(m 'pingfold_aggregator_refused_total{reason="malformed"}'))" \
	test "$(m 'pingfold_aggregator_refused_total{reason="limit"}')" -gt 0 -a \
	"$(m 'pingfold_aggregator_refused_total{reason="malformed"}')" -gt 2
check "refusals logged rate-limited ($(grep -c refused "$DIR/agg.log") lines for thousands)" \
	test "$(grep -c 'refused' "$DIR/agg.log")" -lt 100 -a -n "$(grep 'more refusals not logged' "$DIR/agg.log")"
check "the query client that never reads lost an answer (counted: $(m pingfold_aggregator_query_drops_total)) and was closed" \
	test "$(m pingfold_aggregator_query_drops_total)" -gt 0 -a \
	-n "$(grep 'does not take its answers: closed' "$DIR/agg.log")"
check "idle HTTP connections evicted at the cap ($(m pingfold_http_evicted_total))" \
	test "$(m pingfold_http_evicted_total)" -gt 0
read -r g l <<<"$(box f1 '"\(.gaps) \(.lost)"')"
check "f1's replays to the dead host gave up, counted as lost (gaps $g, lost $l)" \
	test "${g:-0}" -gt 0 -a "${l:-0}" -gt 0
check "... and were logged as timed out" grep -q "replay of .* from tcp://127.0.0.1:7893: Timed out" "$DIR/agg.log"

t0=$(date +%s%N)
kill -TERM "$agg"
for _ in $(seq 50); do kill -0 "$agg" 2>/dev/null || break; sleep 0.05; done
t1=$(date +%s%N)
check "SIGTERM with a replay waiting on a dead host: gone in $(((t1 - t0) / 1000000)) ms (< 2 s)" \
	test $(((t1 - t0) / 1000000)) -lt 2000
agg=
topo_exit
