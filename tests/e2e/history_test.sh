#!/bin/bash
# Durable history (issue 13, docs/aggregator.md "History"): an aggregator
# with --history-dir gets the synthetic fleet of tests/tools/pffeed, whose
# burst holds deltas that ended 40, 8, 2 and 0 minutes ago (the older ones
# land in periods that are already closed, so they become history points
# at once, as replays would). Then, on the real SQLite file:
#  - every customer's five-minute points (query API "history") equal, point
#    by point, the sum of what pffeed sent that ended in that period; every
#    closed period's samples are there; the site's minute points likewise;
#  - `pingfold history customer ID` prints the same counts; --json too;
#  - a heatmap of a site's customers (over HTTP /api/query): each cell is
#    that customer's p95 of its point at that time;
#  - the aggregator is killed (SIGKILL) and started again on the same
#    directory: the points are all there, unchanged;
#  - a foreign file as history.db: the aggregator refuses to start, names
#    the file, and leaves it as it was;
#  - without --history-dir, a history query is a clear error.
set -u
. "$(dirname "$0")/lib.sh"

scratch_setup

for tool in jq; do
	command -v $tool >/dev/null || { not_ok "$tool is not installed (make deps)"; topo_exit; }
done

# start_agg NAME ARGS...: an aggregator for pffeed at ipc://$DIR/NAME.in, queries at NAME.q
start_agg() {
	local name=$1
	shift
	"$B/pingfold-aggregator" -l "ipc://$DIR/$name.in" -q "ipc://$DIR/$name.q" -n 500 "$@" \
		>> "$DIR/$name.log" 2>&1 &
	AGG_PID=$!
	pids+=($AGG_PID)
	for _ in $(seq 100); do
		q "$name" boxes >/dev/null 2>&1 && return 0
		kill -0 $AGG_PID 2>/dev/null || break
		sleep 0.05
	done
	return 1
}
q() { local n=$1; shift; timeout 20 "$B/pingfold" -s "ipc://$DIR/$n.q" "$@"; }

HP=$(free_port)
start_agg main --history-dir "$DIR/hist" --http "http://127.0.0.1:$HP" ||
	{ not_ok "the aggregator starts with --history-dir"; sed 's/^/#   /' "$DIR/main.log"; topo_exit; }
"$B/tests/tools/pffeed" -c "ipc://$DIR/main.in" --every 500 > "$DIR/feed" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$DIR/feed" && break; sleep 0.05; done
check "pffeed sent its burst" grep -q '^ready' "$DIR/feed"
check "the history file was made" test -s "$DIR/hist/history.db"

# expected FILTER PERIOD NOW: "START COUNT" per period of PERIOD seconds,
# from pffeed's sent lines matching the awk FILTER (on $2 id, $3 half,
# $6.. site), for periods that closed at least 25 s before NOW
expected() {
	awk -v now="$3" -v p="$2" '/^sent / {
		site = $6; for (i = 7; i <= NF; i++) site = site " " $i
		if (!('"$1"')) next
		t = $4 - $4 % p
		if (t + p + 25 <= now) c[t] += $5
	} END { for (t in c) print t, c[t] }' "$DIR/feed" | sort -n
}
# got KIND ID HALF PERIOD NOW: "START COUNT" of the history points of the
# same periods (both sides cut at the same NOW: a period settling between
# the two reads is on neither)
got() {
	"$B/pingfold" -s "ipc://$DIR/main.q" --json history "$1" "$2" --since 2h |
		jq -r --arg h "$3" '.points[] | select(.[$h].count > 0) | "\(.t) \(.[$h].count)"' |
		awk -v now="$5" -v p="$4" '$1 + p + 25 <= now' | sort -n
}

# the points come when the store's next slot closes and the writer has
# written them: wait for them, not a guessed time
for _ in $(seq 60); do
	now=$(date +%s)
	want_c=$(expected '$2 == "c01" && $3 == "access"' 300 $now)
	got_c=$(got customer c01 access 300 $now)
	[ "$got_c" = "$want_c" ] && break
	sleep 0.5
done
check "pffeed sent c01 samples in at least two closed five minutes" \
	test "$(wc -l <<<"$want_c")" -ge 2
check "c01's five-minute points equal what was sent in each period" \
	test "$got_c" = "$want_c"
ok_all=1
for id in c02 c05 c07 c08 c10; do
	for half in access internet; do
		now=$(date +%s)
		w=$(expected "\$2 == \"$id\" && \$3 == \"$half\"" 300 $now)
		g=$(got customer "$id" "$half" 300 $now)
		if [ "$w" != "$g" ]; then
			ok_all=0
			diag "$id $half: sent [$w] history [$g]"
		fi
	done
done
check "every customer's points equal what was sent, both halves" test $ok_all = 1
# the site: minute points of what came while its minute was still kept
# (pffeed's 2 minutes ago; 8 and 40 minutes ago are past the store's
# minutes, see docs/aggregator.md)
now=$(date +%s)		# both sides cut at the same instant
want_s=$(awk -v now=$now '/^sent / && $3 == "access" && $6 == "North/Tower" && $7 == "1" {
	t = $4 - $4 % 60; if (t + 60 + 25 <= now && $4 > now - 200) c[t] += $5
} END { for (t in c) print t, c[t] }' "$DIR/feed" | sort -n)
got_s=$("$B/pingfold" -s "ipc://$DIR/main.q" --json history site "North/Tower 1" --since 5m |
	jq -r '.points[] | select(.access.count > 0) | "\(.t) \(.access.count)"' |
	awk -v now=$now '$1 + 60 + 25 <= now' | sort -n)
check "the site's minute point of 2 minutes ago equals what its customers sent" \
	test -n "$want_s" -a "$want_s" = "$got_s"
diag "site North/Tower 1: sent [$want_s] history [$got_s]"

# the CLI's table shows the same counts
table=$(q main history customer c01 --since 2h)
n_rows=$(grep -cE '^  [0-9]{4}-' <<<"$table")
first=$(head -1 <<<"$want_c" | awk '{ print $2 }')
check "pingfold history customer c01 prints a row per point" test "$n_rows" -ge 2
check "the table's counts are the points' counts" grep -qE " $first +[0-9.]+ " <<<"$table"
# the same points per hour: their sum is the five minutes' sum (read before
# and after it: a five minutes closing in between would change it)
sum_pts() { q main --json history customer c01 --since 2h "$@" | jq '[.points[].access.count] | add'; }
for _ in 1 2 3; do
	s5=$(sum_pts) s60=$(sum_pts --step 1h) s5b=$(sum_pts)
	[ "$s5" = "$s5b" ] && break
done
check "--step 1h merges the points into hours ($s60 = $s5)" test -n "$s5" -a "$s60" = "$s5"
out=$("$B/pingfold" -s "ipc://$DIR/main.q" history customer 2>&1)
rc=$?
check "history without an id is a clear error (exit $rc)" \
	test $rc = 2 -a -n "$(grep 'which one' <<<"$out")"

# a heatmap of a site's customers: every cell is that customer's p95 of
# its point at that time (the history query's), every point a cell
hm=$(curl -sf --get --data-urlencode \
	'q=["heatmap","customers","North/Tower 1","2h","0s","5m","access","p95"]' \
	"http://127.0.0.1:$HP/api/query")
check "the heatmap has a row for each of North/Tower 1's customers" \
	test "$(jq -c '[.rows[].name]' <<<"$hm")" = '["c01","c02","c03"]'
# (five minutes that closed at least 25 s before: none closes between the reads)
settled=$(( $(date +%s) - 325 ))
cells=$(jq -r --argjson s $settled '.times as $t | .rows[] | .name as $n | .values | to_entries[] |
	select(.value != null and $t[.key] <= $s) | "\($n) \($t[.key]) \(.value)"' <<<"$hm" | sort)
points=$(for id in c01 c02 c03; do
	"$B/pingfold" -s "ipc://$DIR/main.q" --json history customer $id --since 2h --step 5m |
		jq -r --arg id $id --argjson s $settled '.points[] | select(.access.count > 0 and .t <= $s) |
			"\($id) \(.t) \(.access.p95_ms)"'
done | sort)
check "every heatmap cell is the p95 of that customer's point (${#cells} bytes)" \
	test -n "$cells" -a "$cells" = "$points"

# kill -9, start again on the same directory: everything still there
# (five minutes that closed 25 s before the kill: none closes meanwhile)
settled=$(( $(date +%s) - 325 ))
before=$(q main --json history customer c01 --since 2h | jq -c --argjson s $settled '[.points[] | select(.t <= $s)]')
kill -KILL $AGG_PID
wait $AGG_PID 2>/dev/null
start_agg main --history-dir "$DIR/hist" ||
	{ not_ok "the aggregator starts again on its history"; sed 's/^/#   /' "$DIR/main.log"; }
check "the restart says nothing was lost (no batch in flight)" \
	bash -c "! grep -q 'stopped while writing' '$DIR/main.log'"
after=$(q main --json history customer c01 --since 2h | jq -c --argjson s $settled '[.points[] | select(.t <= $s)]')
check "after kill -9 and a restart, the points are all there, unchanged" \
	test -n "$before" -a "$before" = "$after"

# a foreign file is refused, named, and left as it was
mkdir -p "$DIR/foreign"
head -c 4096 /dev/urandom > "$DIR/foreign/history.db"
sum=$(md5sum < "$DIR/foreign/history.db")
out=$(timeout 10 "$B/pingfold-aggregator" -l "ipc://$DIR/f.in" -q "ipc://$DIR/f.q" \
	--history-dir "$DIR/foreign" 2>&1)
rc=$?
check "a foreign history.db stops the aggregator (exit $rc)" test $rc -ne 0 -a $rc -ne 124
check "the error names the file" grep -q "$DIR/foreign/history.db" <<<"$out"
check "the file is left as it was" test "$(md5sum < "$DIR/foreign/history.db")" = "$sum"

# no --history-dir: a clear answer
start_agg plain || not_ok "an aggregator without history starts"
out=$(q plain history fleet 2>&1)
check "without --history-dir, history is a clear error" grep -q "without --history-dir" <<<"$out"

topo_exit
