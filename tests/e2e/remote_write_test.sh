#!/bin/bash
# --remote-write into a real Prometheus (Debian's 2.42, started here on
# loopback with native histograms and the remote write receiver, its
# storage in a temporary folder). An aggregator gets the synthetic fleet of
# tests/tools/pffeed (a burst with known distributions, then only empty
# deltas, so every total stays put) and writes every second. Then:
#  - the native histogram of the fleet, of every site and every box, both
#    halves, has exactly the aggregator's count, sum and bucket counts (its
#    1 h window holds the whole burst), through Prometheus' HTTP API;
#  - histogram_quantile(0.5, ...) lies in the bucket of the aggregator's p50;
#  - Prometheus stopped and started again: the aggregator retries, its
#    queue drains, and the totals are still exact (nothing lost);
#  - https:// with --remote-write-ca and --remote-write-basic-auth into a
#    Prometheus with TLS and basic auth; with a wrong password nothing is
#    stored and each reason is said once;
#  - a fleet split between two aggregators: sum by (site) in PromQL equals
#    what one aggregator over all boxes writes, bucket for bucket;
#  - --remote-write-queue-dir: requests queued while the receiver is down
#    outlive a kill -9 of the aggregator and arrive after its restart;
#  - every PromQL expression of deploy/grafana's dashboard and of
#    deploy/prometheus' recording rules returns data from that Prometheus,
#    every alert expression runs; promtool check rules and test rules pass;
#  - a Prometheus without native histograms: a plain error naming the
#    flag it needs, and retries back off (no storm); --remote-write-classic
#    into it gives le series equal to what /metrics shows.
set -u
. "$(dirname "$0")/lib.sh"

B=${OUT:-build}
[[ $B == /* ]] || B=$TOPO_ROOT/$B
DIR=$(mktemp -d)
pids=()
prom_pid=""

cleanup() {
	local p
	for p in "${pids[@]}" $prom_pid; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}" $prom_pid; do wait "$p" 2>/dev/null; done
	rm -rf "$DIR"
}
trap cleanup EXIT

for tool in prometheus promtool jq curl; do
	command -v "$tool" >/dev/null || { not_ok "$tool is not installed (make deps)"; topo_exit; }
done

printf 'global:\n  scrape_interval: 1h\n' > "$DIR/prom.yml"
# start_prom DATA PORT [FLAGS...]: Prometheus on 127.0.0.1:PORT (empty: a
# free one, another if it was taken meanwhile; -> $PORT), until ready
start_prom() {
	local data=$1 want=$2 try
	shift 2
	for try in 1 2 3; do
		PORT=${want:-$(free_port)}
		prometheus --config.file="$DIR/prom.yml" --storage.tsdb.path="$data" \
			--web.listen-address="127.0.0.1:$PORT" --web.enable-remote-write-receiver \
			"$@" >> "$data.log" 2>&1 &
		prom_pid=$!
		for _ in $(seq 600); do	# 30 s: a loaded CI machine starts it slowly
			if [ -n "${PROBE_TLS:-}" ]; then	# TLS and basic auth
				curl -sf --cacert "$PROBE_TLS" -u pingfold:pw \
					"https://localhost:$PORT/-/ready" >/dev/null 2>&1 && return 0
			else
				curl -sf "http://127.0.0.1:$PORT/-/ready" >/dev/null 2>&1 && return 0
			fi
			kill -0 "$prom_pid" 2>/dev/null || break
			sleep 0.05
		done
		kill "$prom_pid" 2>/dev/null; wait "$prom_pid" 2>/dev/null
		diag "Prometheus on port $PORT did not come up (try $try):"
		tail -3 "$data.log" | sed 's/^/#   /'
	done
	return 1
}

if ! start_prom "$DIR/prom" "" --enable-feature=native-histograms; then
	not_ok "Prometheus with native histograms and the remote write receiver"
	topo_exit
fi
PP=$PORT
ok "Prometheus $(prometheus --version 2>&1 | awk 'NR == 1 { print $3 }') on 127.0.0.1:$PP"

HP=$(free_port)
"$B/pingfold-aggregator" -l "ipc://$DIR/in" -q "ipc://$DIR/q" --http "http://127.0.0.1:$HP" \
	--remote-write "http://127.0.0.1:$PP/api/v1/write" --remote-write-interval 1000 \
	--remote-write-customers --id main-agg > "$DIR/agg.log" 2>&1 &
pids+=($!)
"$B/tests/tools/pffeed" -c "ipc://$DIR/in" --every 500 > "$DIR/feed" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$DIR/feed" && break; sleep 0.05; done

q() { timeout 20 "$B/pingfold" -s "ipc://$DIR/q" "$@"; }
# pq QUERY: Prometheus' answer (the one on $PP; another with PQ_PORT=)
pq() { curl -sG --max-time 10 "http://127.0.0.1:${PQ_PORT:-$PP}/api/v1/query" --data-urlencode "query=$1"; }
metric() { curl -s --max-time 10 "http://127.0.0.1:$HP/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# The burst is merged at once; then the next write carries it all.
sent=$(awk '$1 == "total" { print $2 }' "$DIR/feed")
fleet_in_prom() {
	pq 'sum(histogram_count(pingfold_fleet_rtt_seconds{aggregator="main-agg"}))' |
		jq -r '.data.result[0].value[1] // 0'
}
for _ in $(seq 100); do
	[ "$(fleet_in_prom)" = "$sent" ] && break
	sleep 0.1
done
check "the fleet's samples reached Prometheus: $(fleet_in_prom) of $sent" test "$(fleet_in_prom)" = "$sent"

# same KIND NAME HALF: Prometheus' native histogram = the query API's 1 h one
# (count, sum to the µs, and each bucket: its schema-3 index from its upper
# bound, log2(upper) * 8, and its count; pingfold's overflow bucket, upper
# bound null, is sent as index 49)
same() {
	local kind=$1 name=$2 half=$3 sel ours theirs
	case $kind in
	fleet) sel="pingfold_fleet_rtt_seconds{aggregator=\"main-agg\",half=\"$half\"}" ;;
	site) sel="pingfold_site_rtt_seconds{aggregator=\"main-agg\",site=\"$name\",half=\"$half\"}" ;;
	box) sel="pingfold_box_rtt_seconds{aggregator=\"main-agg\",box=\"$name\",half=\"$half\"}" ;;
	esac
	ours=$(q query $kind ${name:+"$name"} -w 1h --json | jq -c --arg h "$half" '.halves[$h] |
		{count, sum: (.sum_ns / 1e9 * 1e6 | round),
		 b: [.buckets[] | [(.[1] // 69.79 | log2 * 8 | round), .[2]]]}')
	theirs=$(pq "$sel" | jq -c '.data.result[0].histogram[1] |
		{count: (.count | tonumber), sum: (.sum | tonumber * 1e6 | round),
		 b: [.buckets[] | [(.[2] | tonumber | log2 * 8 | round), (.[3] | tonumber)]]}')
	[ -n "$ours" ] && [ "$ours" = "$theirs" ] && return 0
	diag "$kind $name $half: ours $ours"
	diag "$kind $name $half: Prometheus $theirs"
	return 1
}
n=0 bad=""
for half in access internet; do
	same fleet "" $half || bad+=" fleet/$half"
	n=$((n + 1))
	while read -r site; do
		[ "$(q query site "$site" -w 1h --json | jq --arg h $half '.halves[$h].count')" = 0 ] && continue
		same site "$site" $half || bad+=" $site/$half"
		n=$((n + 1))
	done < <(q sites --json | jq -r '.sites[]')
	while read -r box; do
		[ "$(q query box "$box" -w 1h --json | jq --arg h $half '.halves[$h].count')" = 0 ] && continue
		same box "$box" $half || bad+=" $box/$half"
		n=$((n + 1))
	done < <(q boxes --json | jq -r '.boxes[].box')
done
check "$n native histograms (fleet, sites, boxes; both halves) equal the aggregator's: count, sum, every bucket${bad:+ (not:$bad)}" \
	test -z "$bad" -a "$n" -gt 6

# p50: Prometheus interpolates inside a bucket; it must be pingfold's bucket
p50_ok=1
for site in North South; do
	ours=$(q query site $site -w 1h --json | jq '.halves.access.p50_ms / 1000')
	theirs=$(pq "histogram_quantile(0.5, pingfold_site_rtt_seconds{site=\"$site\",half=\"access\"})" |
		jq -r '.data.result[0].value[1]')
	# the bucket (2^((j-1)/8), 2^(j/8)] s of each: j = ceil(8 log2(x))
	awk -v a="$ours" -v b="$theirs" 'function j(x, y) { y = 8 * log(x) / log(2)
		return y == int(y) ? y : (y > 0 ? int(y) + 1 : int(y)) }
		BEGIN { exit !(a > 0 && b > 0 && j(a) == j(b)) }' ||
		{ p50_ok=0; diag "site $site p50: ours $ours s, histogram_quantile $theirs s"; }
done
check "histogram_quantile(0.5) lies in the bucket of the aggregator's p50 (sites North, South)" \
	test $p50_ok = 1
# a request waits in the queue for the time its POST takes, once a second:
# the sender keeps up when the queue is found empty between two writes.
# Looked for over 10 s (ten writes): Prometheus can take more than the 1 s
# interval to answer one request on a loaded machine (the queue is not
# empty then), but not ten in a row while keeping up.
for _ in $(seq 100); do
	[ "$(metric pingfold_aggregator_remote_write_queue_bytes)" = 0 ] && break
	sleep 0.1
done
diag "remote write: sent $(metric pingfold_aggregator_remote_write_sent_total), retried $(metric pingfold_aggregator_remote_write_retries_total), dropped $(metric pingfold_aggregator_remote_write_dropped_total), queue $(metric pingfold_aggregator_remote_write_queue_bytes) bytes"
check "/metrics: requests sent, none dropped, the queue empty between writes" \
	test "$(metric pingfold_aggregator_remote_write_sent_total)" -gt 0 -a \
	     "$(metric pingfold_aggregator_remote_write_dropped_total)" = 0 -a \
	     "$(metric pingfold_aggregator_remote_write_queue_bytes)" = 0

# an excluded customer (--exclude): its samples stay out of the fleet's,
# boxes' and sites' series, as out of the aggregator's own figures
printf 'c08\n' > "$DIR/exclude"
"$B/pingfold-aggregator" -l "ipc://$DIR/in-x" -q "ipc://$DIR/q-x" --id x-agg --exclude "$DIR/exclude" \
	--remote-write "http://127.0.0.1:$PP/api/v1/write" --remote-write-interval 1000 \
	> "$DIR/agg-x.log" 2>&1 &
pids+=($!)
"$B/tests/tools/pffeed" -c "ipc://$DIR/in-x" --every 500 > "$DIR/feed-x" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$DIR/feed-x" && break; sleep 0.05; done
want_x=$(awk '$1 == "total" { t = $2 } $1 == "cust" && $2 == "c08" { c += $4 } END { print t - c }' "$DIR/feed-x")
fleet_x() {
	pq 'sum(histogram_count(pingfold_fleet_rtt_seconds{aggregator="x-agg"}))' |
		jq -r '.data.result[0].value[1] // 0'
}
for _ in $(seq 100); do [ "$(fleet_x)" = "$want_x" ] && break; sleep 0.1; done
check "--exclude: the fleet's series leave the excluded customer out ($(fleet_x) = $want_x)" \
	test "$(fleet_x)" = "$want_x"
ridge_x=$(pq 'sum(histogram_count(pingfold_site_rtt_seconds{aggregator="x-agg",site="South/Ridge",half="access"}))' |
	jq -r '.data.result[0].value[1] // 0')
want_r=$(awk '$1 == "cust" && ($2 == "c09" || $2 == "c10") && $3 == "access" { c += $4 } END { print c }' "$DIR/feed-x")
check "...and so do its site's ($ridge_x = c09 + c10 = $want_r)" test "$ridge_x" = "$want_r"

# ---- the dashboard and the rules, on this data ------------------------------------
DASH=$TOPO_ROOT/deploy/grafana/pingfold-dashboard.json
RULES=$TOPO_ROOT/deploy/prometheus
# the dashboard's variables as Grafana would fill them; a 5 s rate window
# holds several of this test's 1 s samples
expand() { sed -e 's/\$site/North/g; s/\$customer/c05/g; s/\$half/access/g' \
	       -e 's/\$__rate_interval/5s/g'; }
bad="" n=0
while read -r e; do
	n=$((n + 1))
	[ "$(pq "$(expand <<<"$e")" | jq '.data.result | length')" -gt 0 ] 2>/dev/null ||
		bad+=" [$e]"
done < <(jq -r '.panels[].targets[].expr' "$DASH")
check "the dashboard's $n queries return data${bad:+ (not:$bad)}" test -z "$bad" -a "$n" -ge 10
bad="" n=0
while read -r e; do
	n=$((n + 1))
	[ "$(pq "$(sed 's/\[[0-9]*[md]\]/[5s]/g' <<<"$e")" | jq '.data.result | length')" -gt 0 ] 2>/dev/null ||
		bad+=" [$e]"
done < <(awk '/- record:/ { r = 1; next } r && /expr:/ { sub(/^ *expr: */, ""); print; r = 0 }' \
	"$RULES/pingfold-rules.yml")
check "the $n recording rules return data (their windows at 5 s)${bad:+ (not:$bad)}" \
	test -z "$bad" -a "$n" -ge 4
bad="" n=0
while read -r e; do
	n=$((n + 1))
	[ "$(pq "$e" | jq -r '.status')" = success ] || bad+=" [$e]"
done < <(awk '/- alert:/ { a = 1; next } a && /expr:/ { sub(/^ *expr: */, ""); print; a = 0 }' \
	"$RULES/pingfold-rules.yml")
check "the $n alert expressions run${bad:+ (not:$bad)}" test -z "$bad" -a "$n" -ge 4
check "promtool check rules: deploy/prometheus/pingfold-rules.yml" \
	promtool check rules "$RULES/pingfold-rules.yml"
check "promtool test rules: every alert fires when it should, and only then" \
	bash -c "cd '$RULES' && promtool test rules pingfold-rules.test.yml"

# ---- the receiver goes away and comes back --------------------------------------
kill -TERM "$prom_pid"; wait "$prom_pid" 2>/dev/null
retried0=$(metric pingfold_aggregator_remote_write_retries_total)
for _ in $(seq 100); do
	[ "$(metric pingfold_aggregator_remote_write_retries_total)" -gt "$retried0" ] && break
	sleep 0.1
done
check "Prometheus stopped: the aggregator retries, the queue holds the requests" \
	test "$(metric pingfold_aggregator_remote_write_retries_total)" -gt "$retried0" -a \
	     "$(metric pingfold_aggregator_remote_write_queue_bytes)" -gt 0
sleep 3
start_prom "$DIR/prom" "$PP" --enable-feature=native-histograms ||
	not_ok "Prometheus restarted on port $PP"
for _ in $(seq 400); do	# backoff is at most a few seconds by now
	[ "$(metric pingfold_aggregator_remote_write_queue_bytes)" = 0 ] && break
	sleep 0.1
done
check "Prometheus back: the queue drained, nothing dropped" \
	test "$(metric pingfold_aggregator_remote_write_queue_bytes)" = 0 -a \
	     "$(metric pingfold_aggregator_remote_write_dropped_total)" = 0
for _ in $(seq 50); do [ "$(fleet_in_prom)" = "$sent" ] && break; sleep 0.1; done
check "...and its totals are still exact (fleet $(fleet_in_prom) of $sent; site North access)" \
	bash -c "[ '$(fleet_in_prom)' = '$sent' ]" && same site North access

# ---- a fleet split between two aggregators adds up in PromQL ---------------------
# agg-a gets shaper-n1 and shaper-s1, agg-b shaper-n2 and shaper-s2 (so sites
# North and South each span both); agg-c gets all four: sum by (site) over
# a and b must be c's histogram, bucket for bucket
for x in a:5 b:10 c:15; do
	"$B/pingfold-aggregator" -l "ipc://$DIR/in-${x%:*}" -q "ipc://$DIR/q-${x%:*}" \
		--remote-write "http://127.0.0.1:$PP/api/v1/write" --remote-write-interval 1000 \
		--id "agg-${x%:*}" > "$DIR/agg-${x%:*}.log" 2>&1 &
	pids+=($!)
	"$B/tests/tools/pffeed" -c "ipc://$DIR/in-${x%:*}" --every 500 --boxes "${x#*:}" \
		> "$DIR/feed-${x%:*}" 2>&1 &
	pids+=($!)
done
for x in a b c; do
	for _ in $(seq 100); do grep -q '^ready' "$DIR/feed-$x" && break; sleep 0.05; done
done
total() { awk '$1 == "total" { print $2 }' "$DIR/feed-$1"; }
in_prom() {
	pq "sum(histogram_count(pingfold_fleet_rtt_seconds{aggregator=~\"$1\"}))" |
		jq -r '.data.result[0].value[1] // 0'
}
for _ in $(seq 100); do
	[ "$(in_prom 'agg-a|agg-b')" = $(($(total a) + $(total b))) ] &&
		[ "$(in_prom agg-c)" = "$(total c)" ] && break
	sleep 0.1
done
check "split fleet: a + b wrote $(in_prom 'agg-a|agg-b') samples, c $(in_prom agg-c)" \
	test "$(in_prom 'agg-a|agg-b')" = "$(in_prom agg-c)" -a "$(total c)" -gt 0
hist() {	# hist SELECTOR: count, sum (µs), buckets by schema-3 index
	pq "$1" | jq -c '.data.result[0].histogram[1] | {count, sum: (.sum | tonumber * 1e6 | round),
		b: [.buckets[] | [(.[2] | tonumber | log2 * 8 | round), .[3]]]}'
}
bad="" n=0
for site in North South 'North/Tower 1' 'South/Ridge'; do
	for half in access internet; do
		ab=$(hist "sum by (site, half) (pingfold_site_rtt_seconds{aggregator=~\"agg-a|agg-b\",site=\"$site\",half=\"$half\"})")
		c=$(hist "pingfold_site_rtt_seconds{aggregator=\"agg-c\",site=\"$site\",half=\"$half\"}")
		n=$((n + 1))
		[ "$ab" != null ] && [ "$ab" = "$c" ] || { bad+=" $site/$half"; diag "$site $half: a+b $ab, c $c"; }
	done
done
check "sum by (site) over two aggregators = one aggregator over all boxes ($n site-halves, every bucket)${bad:+ (not:$bad)}" \
	test -z "$bad"

# ---- the queue on disk outlives the aggregator ------------------------------------
# An aggregator whose receiver is not up yet queues its requests in
# --remote-write-queue-dir; killed with -9 and started again (without its
# fleet), it sends them once the receiver is up: nothing merged is lost.
P3=$(free_port)
QD=$DIR/rwq
qagg() {
	"$B/pingfold-aggregator" -l "ipc://$DIR/in-q" -q "ipc://$DIR/q-q" --id q-agg \
		--remote-write "http://127.0.0.1:$P3/api/v1/write" --remote-write-interval 1000 \
		--remote-write-queue-dir "$QD" >> "$DIR/agg-q.log" 2>&1 &
	qpid=$!
	pids+=($qpid)
}
qagg
"$B/tests/tools/pffeed" -c "ipc://$DIR/in-q" --every 500 > "$DIR/feed-q" 2>&1 &
fpid=$!
pids+=($fpid)
for _ in $(seq 100); do grep -q '^ready' "$DIR/feed-q" && break; sleep 0.05; done
queued() { find "$QD" -name '*.req' 2>/dev/null | wc -l; }
for _ in $(seq 100); do [ "$(queued)" -ge 3 ] && break; sleep 0.1; done
nq=$(queued)
kill -KILL "$qpid"; kill -TERM "$fpid"
wait "$qpid" "$fpid" 2>/dev/null
check "receiver down: $nq requests queued on disk, the aggregator killed with -9" test "$nq" -ge 3
start_prom "$DIR/prom3" "$P3" --enable-feature=native-histograms || not_ok "Prometheus on port $P3"
qagg
for _ in $(seq 200); do [ "$(queued)" = 0 ] && break; sleep 0.1; done
got=$(PQ_PORT=$P3 pq 'sum(histogram_count(pingfold_fleet_rtt_seconds{aggregator="q-agg"}))' |
	jq -r '.data.result[0].value[1] // 0')
check "restarted, it sent them all ($(queued) left): Prometheus has $got of $(total q) samples" \
	test "$(queued)" = 0 -a "$got" = "$(total q)"
[ "$got" = "$(total q)" ] || tail -n 5 "$DIR/agg-q.log" "$DIR/prom3.log" | sed 's/^/#   /'
check "...and said so in its log" grep -q 'requests from before the restart queued' "$DIR/agg-q.log"

# ---- https and basic auth (Prometheus' own web config) -----------------------------
ossl() { openssl "$@" >/dev/null 2>&1; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=test-ca -keyout "$DIR/ca.key" -out "$DIR/ca.crt" &&
ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
	-keyout "$DIR/srv.key" -out "$DIR/srv.csr" &&
ossl x509 -req -in "$DIR/srv.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
	-days 2 -out "$DIR/srv.crt" -extfile <(printf 'subjectAltName=DNS:localhost\n')
# user pingfold, password "pw" (bcrypt, as Prometheus wants it)
cat > "$DIR/web.yml" <<WEB
tls_server_config:
  cert_file: $DIR/srv.crt
  key_file: $DIR/srv.key
basic_auth_users:
  pingfold: \$2b\$12\$1mh8SSf/EO6r2xV/m/SGr.PkfwcJGeDa766633ahBvvHo09F4GD66
WEB
PROBE_TLS=$DIR/ca.crt start_prom "$DIR/prom4" "" --enable-feature=native-histograms \
	--web.config.file="$DIR/web.yml" ||
	not_ok "Prometheus with TLS and basic auth"
P4=$PORT
for x in good:pingfold:pw bad:pingfold:wrong; do
	n=${x%%:*}
	"$B/pingfold-aggregator" -l "ipc://$DIR/in-$n" -q "ipc://$DIR/q-$n" --id "tls-$n" \
		--remote-write "https://localhost:$P4/api/v1/write" --remote-write-ca "$DIR/ca.crt" \
		--remote-write-basic-auth "${x#*:}" --remote-write-interval 1000 \
		> "$DIR/agg-$n.log" 2>&1 &
	pids+=($!)
	"$B/tests/tools/pffeed" -c "ipc://$DIR/in-$n" --every 500 > "$DIR/feed-$n" 2>&1 &
	pids+=($!)
done
tlsq() {
	curl -sG --max-time 10 --cacert "$DIR/ca.crt" -u pingfold:pw \
		"https://localhost:$P4/api/v1/query" --data-urlencode "query=$1" |
		jq -r '.data.result[0].value[1] // 0'
}
for _ in $(seq 100); do
	[ "$(tlsq 'sum(histogram_count(pingfold_fleet_rtt_seconds{aggregator="tls-good"}))')" = "$(total good)" ] &&
		break
	sleep 0.1
done
check "https:// with --remote-write-ca and basic auth: $(tlsq 'sum(histogram_count(pingfold_fleet_rtt_seconds{aggregator="tls-good"}))') of $(total good) samples" \
	test "$(tlsq 'sum(histogram_count(pingfold_fleet_rtt_seconds{aggregator="tls-good"}))')" = "$(total good)"
# Go's server answers 401 before reading the body and closes the
# connection: depending on who is faster a request ends as "HTTP 401"
# (dropped) or "Connection shutdown" (retried with backoff). Either way
# nothing may be stored, and each reason is said once.
for _ in $(seq 200); do
	grep -q 'remote write to' "$DIR/agg-bad.log" && break
	sleep 0.1
done
sleep 3		# more refused requests, each reason still said once
said=$(grep 'remote write to' "$DIR/agg-bad.log" | sort | uniq -d | wc -l)
check "a wrong password: nothing stored, $(grep -c 'remote write to' "$DIR/agg-bad.log") reason(s) said once each ($(grep -o 'HTTP 401\|Connection shutdown' "$DIR/agg-bad.log" | sort -u | tr '\n' ' '))" \
	test "$(grep -c 'remote write to' "$DIR/agg-bad.log")" -ge 1 -a "$said" = 0 -a \
	     "$(tlsq 'count(pingfold_fleet_rtt_seconds{aggregator="tls-bad"})')" = 0
[ "$said" = 0 ] || sed 's/^/#   /' "$DIR/agg-bad.log"
kill -TERM "$prom_pid"; wait "$prom_pid" 2>/dev/null

# ---- a receiver without native histograms -----------------------------------------
kill -TERM "$prom_pid"; wait "$prom_pid" 2>/dev/null
start_prom "$DIR/prom2" "" || not_ok "a second Prometheus, without native histograms"
P2=$PORT
"$B/pingfold-aggregator" -l "ipc://$DIR/in2" -q "ipc://$DIR/q2" \
	--remote-write "http://127.0.0.1:$P2/api/v1/write" --remote-write-interval 1000 \
	> "$DIR/agg2.log" 2>&1 &
pids+=($!)
"$B/tests/tools/pffeed" -c "ipc://$DIR/in2" --every 500 > "$DIR/feed2" 2>&1 &
pids+=($!)
sleep 8
errs=$(grep -c 'native histograms are disabled' "$DIR/prom2.log")
check "without native histograms: the log says what the receiver needs" \
	grep -q 'remote write to .*HTTP 500: native histograms are disabled (the receiver does not take native histograms: Prometheus needs --enable-feature=native-histograms); retrying' "$DIR/agg2.log"
check "...once ($(grep -c 'remote write to' "$DIR/agg2.log") line), and retries back off: $errs requests in 8 s" \
	test "$(grep -c 'remote write to' "$DIR/agg2.log")" = 1 -a "$errs" -ge 2 -a "$errs" -le 6

# ---- --remote-write-classic: le series, for that same receiver ----------------------
H3=$(free_port)
"$B/pingfold-aggregator" -l "ipc://$DIR/in3" -q "ipc://$DIR/q3" --id classic-agg \
	--http "http://127.0.0.1:$H3" --remote-write "http://127.0.0.1:$P2/api/v1/write" \
	--remote-write-interval 1000 --remote-write-classic > "$DIR/agg3.log" 2>&1 &
pids+=($!)
"$B/tests/tools/pffeed" -c "ipc://$DIR/in3" --every 500 > "$DIR/feed-3" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$DIR/feed-3" && break; sleep 0.05; done
for _ in $(seq 300); do	# its first request within ~1 s; 30 s on a loaded machine
	[ "$(PQ_PORT=$P2 pq 'sum(pingfold_fleet_rtt_seconds_count{aggregator="classic-agg"})' |
		jq -r '.data.result[0].value[1] // 0')" = "$(total 3)" ] && break
	sleep 0.1
done
# every le, _sum and _count of site North's access half as /metrics shows them
ours=$(curl -s --max-time 10 "http://127.0.0.1:$H3/metrics" |
	awk '/^pingfold_site_rtt_seconds_(bucket|count)\{site="North",half="access"/ {
		le = "-"; if (match($0, /le="[^"]*"/)) le = substr($0, RSTART + 4, RLENGTH - 5)
		print (index($1, "_count") ? "count" : le), $2 }' | sort)
theirs=$(PQ_PORT=$P2 pq '{__name__=~"pingfold_site_rtt_seconds_(bucket|count)",aggregator="classic-agg",site="North",half="access"}' |
	jq -r '.data.result[] | "\(if .metric.__name__ | endswith("_count") then "count" else .metric.le end) \(.value[1])"' |
	sort)
check "--remote-write-classic into a Prometheus without native histograms: $(wc -l <<<"$theirs") le and count series of site North equal /metrics'" \
	test -n "$ours" -a "$ours" = "$theirs" -a "$(wc -l <<<"$ours")" -gt 50
topo_exit
