#!/bin/bash
# The aggregator's HTTP side (docs/http.md; issue 5, tests 2 and 3).
# An aggregator with --http gets a synthetic fleet from tests/tools/pffeed
# (4 boxes, sites North and South with subsites, 13 customers, one box
# going stale, one undecodable message). Then:
#  - the page in headless Chromium (tests/e2e/web_cdp.js, over the DevTools
#    protocol): no console errors, every site shown, and every number in
#    the DOM (sites, fleet, boxes, worst customers, a site's customers, a
#    customer's numbers and histogram bars) equal to the query API's answer
#    for the same window (pingfold --json); screenshots kept in
#    $OUT/test-artifacts/ (overview.png, site.png, customer.png,
#    overview-phone.png);
#  - /metrics: valid Prometheus text (promtool check metrics), and every
#    bucket, _sum and _count of the fleet, of each site and (with
#    --metrics-customers) of each customer equal to the query API's 1 h
#    histograms; box health and the aggregator's counters;
#  - /api: the query API over HTTP, its errors, the convenience endpoints.
#  - history on the page (the aggregator keeps history, c05 is excluded):
#    the sites heatmap, North's charts and customers heatmap, its worst
#    customer's charts over 1h and, after a click, 24h: every settled
#    point and cell equal to the query API's answer to the same request;
#    c05 marked excluded in the list, on its page and in the heatmap.
# Needs chromium, node (>= 18), jq, curl and promtool (Debian: chromium,
# nodejs, jq, curl, prometheus).
set -u
. "$(dirname "$0")/lib.sh"

scratch_setup
ART=$B/test-artifacts
W=15m
GREEN=40 YELLOW=120	# not the defaults: the page must take them from /api/config

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
for tool in "$CHROMIUM" node jq curl promtool; do
	if ! command -v "${tool:-chromium}" >/dev/null; then
		not_ok "${tool:-chromium} is not installed (make deps)"
		topo_exit
	fi
done

# start_agg NAME ARGS...: an aggregator listening for pffeed at ipc://$DIR/NAME.in,
# its query API at ipc://$DIR/NAME.q and HTTP on a free port (-> $PORT)
start_agg() {
	local name=$1 try
	shift
	for try in 1 2 3; do
		PORT=$(free_port)
		"$B/pingfold-aggregator" -l "ipc://$DIR/$name.in" -q "ipc://$DIR/$name.q" \
			-p "ipc://$DIR/$name.v" --http "http://127.0.0.1:$PORT" --stale 3 "$@" \
			> "$DIR/$name.log" 2>&1 &
		pids+=($!)
		for _ in $(seq 100); do
			curl -sf "http://127.0.0.1:$PORT/api/config" >/dev/null 2>&1 && return 0
			kill -0 "$!" 2>/dev/null || break
			sleep 0.05
		done
		diag "aggregator $name on port $PORT did not come up (try $try):"
		sed 's/^/#   /' "$DIR/$name.log"
	done
	return 1
}

# feed NAME: the synthetic fleet into aggregator NAME, until the test ends
feed() {
	"$B/tests/tools/pffeed" -c "ipc://$DIR/$1.in" --every 500 > "$DIR/$1.feed" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do
		grep -q '^ready' "$DIR/$1.feed" && return 0
		sleep 0.05
	done
	return 1
}

q() { timeout 20 "$B/pingfold" -s "ipc://$DIR/main.q" "$@"; }
get() { curl -s --max-time 20 "http://127.0.0.1:$PORT$1"; }

# ---- the aggregator, its data ----------------------------------------------

: > "$DIR/exclude"
if ! start_agg main --green-ms $GREEN --yellow-ms $YELLOW --history-dir "$DIR/hist" \
	--exclude "$DIR/exclude" || ! feed main; then
	not_ok "an aggregator with --http and a synthetic fleet"
	topo_exit
fi
MAIN_PID=${pids[-2]}	# (the last is its pffeed)
ok "an aggregator with --http on port $PORT, history and a synthetic fleet (4 boxes, 2 sites)"
URL=http://127.0.0.1:$PORT
sent=$(awk '$1 == "total" { print $2 }' "$DIR/main.feed")
check "the aggregator merged every sample sent ($sent)" \
	test "$(q query fleet -w 1h --json | jq '.halves.access.count + .halves.internet.count')" = "$sent"
# c05 (North/Tower 2, the worst of North) flagged from now on: what was
# merged stays, the page marks it
echo c05 > "$DIR/exclude"
kill -HUP "$MAIN_PID"
for _ in $(seq 100); do
	[ "$(q customers --json | jq -r '.customers[] | select(.id == "c05") | .excluded')" = true ] && break
	sleep 0.05
done
check "c05 is excluded after SIGHUP" \
	test "$(q customers --json | jq -c '[.customers[] | select(.excluded) | .id]')" = '["c05"]'
for _ in $(seq 100); do	# shaper-s2 falls silent after its burst
	[ "$(q boxes --json | jq -r '.boxes[] | select(.box == "shaper-s2") | .stale')" = true ] && break
	sleep 0.1
done
check "box shaper-s2 went stale, the others are fresh" \
	test "$(q boxes --json | jq -c '[.boxes[] | select(.stale) | .box]')" = '["shaper-s2"]'

# ---- the page, served -------------------------------------------------------

if get / | grep -q '<script src="app.js">'; then
	ok "GET / serves the overview page built into the binary"
else
	not_ok "GET / serves the overview page built into the binary (build/web_assets.c linked?)"
fi
check "the page's files have their content types" \
	test "$(curl -s -o /dev/null -w '%{content_type}' "$URL/app.js")" = "text/javascript; charset=utf-8" -a \
	     "$(curl -s -o /dev/null -w '%{content_type}' "$URL/style.css")" = "text/css; charset=utf-8"
check "the built-in app.js is web/app.js" cmp -s <(get /app.js) "$TOPO_ROOT/web/app.js"

# ---- /api ---------------------------------------------------------------------

enc() { jq -rn --arg s "$1" '$s | @uri'; }
same_json() { [ -n "$1" ] && [ "$(jq -S . <<<"$1")" = "$(jq -S . <<<"$2")" ]; }
check "/api/query answers as the query API does (site North/Tower 1, 15m)" \
	same_json "$(get "/api/query?q=$(enc '["site","North/Tower 1","15m"]')")" \
		  "$(q query site 'North/Tower 1' -w 15m --json)"
convenience_api() {
	same_json "$(get '/api/customer?id=c05&w=1m')" "$(q query customer c05 -w 1m --json)" &&
	same_json "$(get '/api/site?name=South&w=1h')" "$(q query site South -w 1h --json)" &&
	same_json "$(get '/api/fleet?w=5m')" "$(q query fleet -w 5m --json)" &&
	same_json "$(get '/api/box?id=shaper-n1&w=10s')" "$(q query box shaper-n1 -w 10s --json)" &&
	same_json "$(get '/api/top?of=site&half=internet&q=p99&n=3&w=15m')" \
		  "$(q top sites --half internet -p 99 -n 3 -w 15m --json)" &&
	same_json "$(get /api/sites)" "$(q sites --json)" &&
	same_json "$(get /api/customers)" "$(q customers --json)"
}
check "/api/customer, /box, /site, /fleet, /top, /sites, /customers answer as the query API" convenience_api
check "/api/config gives the thresholds of --green-ms and --yellow-ms" \
	test "$(get /api/config | jq -c '[.green_ms, .yellow_ms, .default_window]')" = "[$GREEN,$YELLOW,\"5m\"]"
check "/api/config says history is kept (--history-dir)" test "$(get /api/config | jq .history)" = true
status() { curl -s -o "$DIR/body" -w '%{http_code}' "$URL$1"; }
check "errors are JSON with 4xx: bad q 400, unknown customer 404, unknown endpoint 404, bad window 400, unknown site 404" \
	test "$(status '/api/query?q=nope')$(jq -r 'has("error")' "$DIR/body")" = 400true -a \
	     "$(status "/api/query?q=$(enc '["customer","nobody"]')")$(jq -r .error "$DIR/body")" = "404no such customer" -a \
	     "$(status /api/nothing)$(jq -r 'has("error")' "$DIR/body")" = 404true -a \
	     "$(status '/api/overview?w=2m')$(jq -r 'has("error")' "$DIR/body")" = 400true -a \
	     "$(status '/api/site_customers?site=Nowhere')$(jq -r .error "$DIR/body")" = "404no such site"

# ---- the page in Chromium ---------------------------------------------------

# pffeed's burst held deltas that ended 40, 8, 2 and 0 minutes ago: those
# of closed periods become history points (rewritten whole) when the
# store's next slot closes. Wait for them, not a guessed time: every
# customer's five minutes that closed 25 s ago hold what was sent.
history_in() {
	local now id want got
	now=$(date +%s)
	for id in $(awk '/^sent / { print $2 }' "$DIR/main.feed" | sort -u); do
		want=$(awk -v now="$now" -v id="$id" '/^sent / && $2 == id {
			t = $4 - $4 % 300; if (t + 325 <= now) c[t] += $5
		} END { for (t in c) print t, c[t] }' "$DIR/main.feed" | sort -n)
		got=$(q --json history customer "$id" --since 2h |
			jq -r '.points[] | "\(.t) \(.access.count + .internet.count)"' |
			awk -v now="$now" '$1 + 325 <= now && $2 > 0' | sort -n)
		[ "$want" = "$got" ] || return 1
	done
}
for _ in $(seq 60); do history_in && break; sleep 0.5; done
check "the history holds every customer's closed five minutes" history_in

SITE=North
CDP=$DIR/cdp
RANGE=1h
timeout 150 node "$TOPO_ROOT/tests/e2e/web_cdp.js" "$CHROMIUM" \
	"$URL/?w=$W&r=$RANGE" "$CDP" "$SITE" > "$DIR/cdp.log" 2>&1 &
cdp_pid=$!
pids+=("$cdp_pid")
if ! wait $cdp_pid || [ ! -s "$CDP/result.json" ]; then
	not_ok "headless Chromium loads the page and drills down (web_cdp.js)"
	grep -v -e 'dbus' "$DIR/cdp.log" | sed 's/^/#   /' | tail -n 25
	topo_exit
fi
ok "headless Chromium loads the page and drills down to $SITE and its worst customer"
mkdir -p "$ART"
for f in overview site customer overview-phone; do cp "$CDP/$f.png" "$ART/$f.png"; done
R=$CDP/result.json
nerr=$(jq '.errors | length' "$R")
check "no console errors, exceptions or failed requests ($nerr)" test "$nerr" = 0
jq -r '.errors[]' "$R" | sed 's/^/#   /'
check "the page shows the window it was asked for ($W)" test "$(jq -r .window "$R")" = $W
check "the chosen window and history range stand out (pressed buttons styled apart)" \
	test "$(jq -r .pressed_distinct "$R")" = true
check "the page shows every site of the aggregator" \
	test "$(jq -c '.sites | sort' "$R")" = "$(q sites --json | jq -c '.sites | sort')" -a \
	     "$(jq '.sites | length' "$R")" = 6
check "the stale box stands out (row and badge)" \
	test "$(jq -c .stale "$R")" = '["shaper-s2"]' -a "$(jq -r .badge "$R")" = "4 boxes, 1 stale"

# answers -> "kind TAB name TAB half TAB q TAB value", as the page's data attributes
api_rows() {
	jq -r --arg k "$1" --arg n "$2" '.halves | to_entries[] | .key as $h | .value as $v |
		("p50_ms", "p90_ms", "p95_ms", "p99_ms", "min_ms", "max_ms", "mean_ms", "count") as $q |
		[$k, $n, $h, $q, ($v[$q] // "" | tostring)] | @tsv'
}
{
	q query fleet -w $W --json | api_rows fleet ""
	while read -r s; do
		q query site "$s" -w $W --json | api_rows site "$s"
	done < <(q sites --json | jq -r '.sites[]')
	q top customers -w $W -p 95 -n 10 --json |
		jq -r '.items[] | ["top", .name, "access", "p95_ms", .value_ms], ["top", .name, "access", "count", .count] | @tsv'
	q boxes --json | jq -r '.boxes[] | . as $b | ("stale", "gaps", "lost", "recovered", "dups", "samples") as $q |
		["box", .box, "", $q, ($b[$q] | tostring)] | @tsv'
	for c in $(jq -r '.customers[]' "$R"); do
		q query customer "$c" -w $W --json | api_rows customer "$c"
	done
} > "$DIR/api.tsv"

# same_numbers DOM.tsv KINDS [NAME]: every API number of those kinds (and that
# entity) is on the page, equal (as doubles), coloured by the thresholds,
# shown rounded as the page's fmtMs does.
same_numbers() {
	awk -F'\t' -v kinds="$2" -v only="${3-}" -v g=$GREEN -v y=$YELLOW '
	function fail(m) { if (++bad <= 10) print "#   " m }
	BEGIN { n = split(kinds, k, " "); for (i = 1; i <= n; i++) want[k[i]] = 1 }
	NR == FNR { if (($1 in want) && (only == "" || $2 == only)) api[$1 FS $2 FS $3 FS $4] = $5; next }
	!($1 in want) || (only != "" && $2 != only) { next }
	$1 == "box" && $4 !~ /^(stale|gaps|lost|recovered|dups|samples)$/ { next }
	{
		key = $1 FS $2 FS $3 FS $4
		seen[key] = 1
		if (!(key in api)) { fail("on the page, not in the API: " key); next }
		if (api[key] == "" || $5 == "" || $5 !~ /^[-0-9.e+]+$/) {
			if (api[key] != $5) fail(key ": page \"" $5 "\", API \"" api[key] "\"")
			checked++
			next
		}
		v = $5 + 0
		if (v != api[key] + 0) { fail(key ": page " $5 ", API " api[key]); next }
		t = $6; gsub(/,/, "", t)
		checked++
		if ($4 == "count" || $1 == "box") { if (t + 0 != v) fail(key ": shows " $6 " for " v); next }
		d = v < 10 ? 0.005 : v < 100 ? 0.05 : 0.5
		if (t - v > d * 1.000001 || v - t > d * 1.000001) fail(key ": shows " $6 " for " v)
		lvl = v < g ? "green" : v < y ? "yellow" : "red"
		if ($7 != "" && $7 != lvl) fail(key ": coloured " $7 " for " v)
	}
	END {
		for (key in api)
			if (!(key in seen) && key !~ /(p90_ms|min_ms|max_ms|mean_ms)$/) fail("not on the page: " key)
		print "#   " checked + 0 " numbers compared"
		exit bad > 0 || !checked
	}' "$DIR/api.tsv" "$1"
}
check "fleet and site numbers in the DOM equal the query API's ($W)" same_numbers "$CDP/overview.tsv" "fleet site"
check "box health in the DOM equals the query API's" same_numbers "$CDP/overview.tsv" box
top_names() { awk -F'\t' '$1 == "top" && $4 == "p95_ms" { print $2 }' "$1"; }
check "the worst customers in the DOM are 'pingfold top', in its order" \
	test "$(top_names "$CDP/overview.tsv")" = "$(top_names "$DIR/api.tsv")" -a -n "$(top_names "$DIR/api.tsv")"
check "... and their numbers" same_numbers "$CDP/overview.tsv" top

want=$(q customers --json | jq -c --arg s "$SITE" '[.customers[] | select(.site == $s or (.site | startswith($s + "/"))) | .id] | sort')
check "site $SITE lists its subtree's customers ($(jq length <<<"$want"))" \
	test "$(jq -c '.customers | sort' "$R")" = "$want"
check "site $SITE: every customer's numbers equal the query API's" same_numbers "$CDP/site.tsv" customer
order=$(jq -r '.customers[]' "$R" | while read -r c; do
	awk -F'\t' -v c="$c" '$1 == "customer" && $2 == c && $3 == "access" && $4 == "p95_ms" { print ($5 == "" ? -1 : $5) }' "$DIR/api.tsv"
done)
check "site $SITE: customers worst first by access p95" test "$order" = "$(sort -g -r <<<"$order")"

C=$(jq -r .customer "$R")
check "customer $C: its numbers equal the query API's" same_numbers "$CDP/customer.tsv" customer "$C"
check "customer $C: the histogram's bars are the query API's buckets" \
	test "$(sort "$CDP/buckets.tsv")" = "$(q query customer "$C" -w $W --json |
		jq -r --arg c "$C" '.halves | to_entries[] | .key as $h | .value.buckets[] | [$c, $h, .[0], .[2]] | @tsv' | sort)"
check "customer $C: percentiles drawn as lines (3 per half)" test "$(jq '.lines | length' "$R")" = 6
check "customer $C: the title names the customer and its site" \
	grep -q "($C) — $SITE" <<<"$(jq -r .customer_title "$R")"
check "on a phone (390 px) nothing overflows sideways" test "$(jq -r .phone_overflow "$R")" = false
check "the excluded customer is marked in $SITE's list and on its own page (c05)" \
	test "$(jq -c .site_excluded "$R")" = '["c05"]' -a "$C" = c05 -a "$(jq -r .customer_excluded "$R")" = true

# ---- history on the page: charts and heatmaps = the query API ---------------
#
# Each chart and heatmap says what it asked (data-query) and the answer's
# from / to; the same request with those times is asked again here. Points
# and cells of periods that closed 25 s before the page's answer (and
# were in the history already, see history_in) cannot change in between:
# those must be equal, every one, both ways; the others must be there
# with the same times and coloured by their own value.

# api_history VISUAL: the answer to the page's request, as dumpHistory's rows
api_history() {
	local v req id
	v=$(jq -c --arg k "$1" '.visuals[$k]' "$R")
	id=$(jq -r .id <<<"$v")
	req=$(jq -c '(.query | fromjson) as $q | .from as $f | .to as $t |
		(if $q[0] == "history" and $q[1] == "fleet" then 2 else 3 end) as $i |
		$q | .[$i] = $f | .[$i + 1] = $t' <<<"$v")
	get "/api/query?q=$(enc "$req")" | jq -r --arg id "$id" --argjson q "$req" '
		if .kind == "history" then
			($id | split("-") | last) as $h | .step_s as $st |
			.points[] | select(.[$h].count > 0) | . as $p |
			("p50_ms", "p95_ms", "p99_ms") as $k |
			[$id, "history", (if $q[1] == "fleet" then "" else $q[2] end), $h, $k, $p.t, "", $p[$h][$k], $st]
		else
			.rows[] | . as $r | .values | to_entries[] |
			[$id, "heat", $r.name, "", "", ($r.from + .key * $r.step_s), $r.step_s, (.value // ""), $r.step_s]
		end | map(tostring) | @tsv'
}
# same_history VISUAL: the page's rows of VISUAL equal the API's (see above)
same_history() {
	local v file id to
	v=$(jq -c --arg k "$1" '.visuals[$k]' "$R")
	file=$(jq -r .file <<<"$v") id=$(jq -r .id <<<"$v") to=$(jq -r .to <<<"$v")
	[ "$v" != null ] && [ -n "$to" ] || { diag "$1: not drawn"; return 1; }
	api_history "$1" > "$DIR/api-$id.tsv"
	awk -F'\t' -v id="$id" -v to="$to" -v g=$GREEN -v y=$YELLOW '
	function fail(m) { if (++bad <= 10) print "#   " id ": " m }
	NR == FNR {
		k = $2 FS $3 FS $4 FS $5 FS $6
		step[k] = $9; api[k] = $8
		next
	}
	$1 != id { next }
	{
		k = $2 FS $3 FS $4 FS $5 FS $6
		seen[k] = 1
		if (!(k in api)) {
			if ($6 + $7 + 25 <= to) fail("on the page, not in the API: " k)
			next
		}
		settled = $6 + step[k] + 25 <= to
		if ($8 == "" || api[k] == "") {
			if (settled && $8 != api[k]) fail(k ": page \"" $8 "\", API \"" api[k] "\"")
		} else if (settled && $8 + 0 != api[k] + 0) {
			fail(k ": page " $8 ", API " api[k])
		}
		if (settled) { compared++; if ($8 != "") values++ }
		lvl = $8 == "" ? "none" : $8 + 0 < g ? "green" : $8 + 0 < y ? "yellow" : "red"
		if ($9 != lvl) fail(k ": coloured " $9 " for \"" $8 "\"")
	}
	END {
		for (k in api) if (!(k in seen) && split(k, f, FS) && f[5] + step[k] + 25 <= to)
			fail("not on the page: " k)
		print "#   " id ": " compared + 0 " settled points or cells compared, " values + 0 " with a value"
		exit bad > 0 || !values
	}' "$DIR/api-$id.tsv" "$CDP/$file"
}
hist_pair() { same_history "$1:$2-access" && same_history "$1:$2-internet"; }
if [ "$(jq -r .history_on "$R")" = true ]; then
	check "sites heatmap ($RANGE, access p95, every site): cells = the query API's heatmap" \
		same_history heat-sites.tsv:sites-heat
	check "site $SITE over $RANGE: access and internet p50/p95/p99 = the query API's history" \
		hist_pair history-site.tsv site-line
	check "$SITE's customers heatmap (its 30 worst) = the query API's, c05 marked excluded" \
		same_history history-site.tsv:customers-heat
	check "... and its excluded customer marked" \
		test "$(jq -c '.visuals["history-site.tsv:customers-heat"].excluded' "$R")" = '["c05"]'
	check "customer $C over $RANGE: p50/p95/p99 of both halves = the query API's history" \
		hist_pair history-customer.tsv line
	check "customer $C over 24h (the range button): asked again and = the query API's" \
		hist_pair history-customer-24h.tsv line
	check "... with the 24h request" \
		test "$(jq -r '.visuals["history-customer-24h.tsv:line-access"].query | fromjson | .[3]' "$R")" = 24h
else
	not_ok "the page shows history (an aggregator with --history-dir)"
fi
png_ok() {
	local f
	for f in overview site customer overview-phone; do
		[ "$(head -c 8 "$ART/$f.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
		[ "$(stat -c %s "$ART/$f.png")" -gt 10000 ] || return 1
	done
}
check "screenshots kept in $ART (overview, site, customer, overview-phone)" png_ok

# ---- /metrics --------------------------------------------------------------------

M=$DIR/metrics.txt
ctype=$(curl -s -o "$M" -w '%{content_type}' "$URL/metrics")
check "/metrics is text/plain; version=0.0.4" test "$ctype" = "text/plain; version=0.0.4; charset=utf-8"
promcheck() { promtool check metrics < "$1" > "$DIR/promtool.out" 2>&1; }
check "/metrics is valid Prometheus text (promtool check metrics)" promcheck "$M"
sed 's/^/#   /' "$DIR/promtool.out"

# same_hist METRIC LABELS ANSWER HALF: the series equals the answer's half exactly
same_hist() {
	jq -r --arg h "$4" '.halves[$h] | "count \(.count)", "sum \(.sum_ns)", (.buckets[] | "b \(.[0]) \(.[2])")' <<<"$3" |
	HM=$1 HWANT=$2 awk '
	function fail(x) { if (++bad <= 5) print "#   " m "{" want "}: " x }
	BEGIN { m = ENVIRON["HM"]; want = ENVIRON["HWANT"] }	# not -v: it eats backslashes
	NR == FNR {
		if ($1 == "count") cnt = $2
		else if ($1 == "sum") { s = int($2 / 1e9); f = sprintf("%09d", $2 - s * 1e9)
			sub(/0+$/, "", f); sum = f == "" ? s "" : s "." f }
		else b[$2] = $3
		next
	}
	{
		name = $0; sub(/\{.*/, "", name)
		lb = $0; sub(/^[^{]*\{/, "", lb); sub(/\} [^ ]+$/, "", lb)
		le = ""
		if (match(lb, /,le="[^"]*"$/)) { le = substr(lb, RSTART + 5, RLENGTH - 6); lb = substr(lb, 1, RSTART - 1) }
		if (lb != want) next
		if (name == m "_count") { nc++; if ($NF != cnt) fail("_count " $NF " != " cnt) }
		else if (name == m "_sum") { ns++; if ($NF != sum) fail("_sum " $NF " != " sum) }
		else if (name == m "_bucket") {
			nb++
			if (le == "+Inf") { if ($NF != cnt) fail("+Inf " $NF " != " cnt); next }
			x = log(le) / log(2) * 8 + 160; S = int(x + 0.5)
			if (x - S > 1e-9 || S - x > 1e-9 || S % 4) fail("le " le " is not every 4th boundary")
			e = 0
			for (k in b) if (k + 0 <= S) e += b[k]
			if ($NF != e) fail("le " le ": " $NF " != " e)
			if ($NF + 0 < prev) fail("le " le ": not cumulative")
			prev = $NF + 0
		}
	}
	END {
		if (nb != 54 || nc != 1 || ns != 1) fail(nb + 0 " buckets (want 53 + Inf), " nc + 0 " _count, " ns + 0 " _sum")
		exit bad > 0
	}' - "$M"
}
hist_ok=1 nser=0
for half in access internet; do
	same_hist pingfold_fleet_rtt_seconds "half=\"$half\"" "$(q query fleet -w 1h --json)" $half || hist_ok=0
	nser=$((nser + 1))
	while read -r s; do
		same_hist pingfold_site_rtt_seconds "site=\"$s\",half=\"$half\"" "$(q query site "$s" -w 1h --json)" $half || hist_ok=0
		nser=$((nser + 1))
	done < <(q sites --json | jq -r '.sites[]')
done
check "every bucket, _sum and _count of the fleet and each site equal the query API's 1h histograms ($nser series)" \
	test $hist_ok = 1
check "no per-customer series without --metrics-customers" test "$(grep -c '^pingfold_customer_rtt_seconds' "$M")" = 0

mval() { awk -v k="$1" '$1 == k { print $2 }' "$M"; }
bx=$(q boxes --json)
# box_gauges BOX: its gauges in /metrics say what 'pingfold boxes' says
box_gauges() {
	local b=$1 want got m
	want=$(jq -r --arg b "$b" '.boxes[] | select(.box == $b) |
		"\(if .stale then 1 else 0 end) \(.samples) \(.unnamed) \(.gaps)"' <<<"$bx")
	got=$(for m in stale samples_total unnamed_total gaps_total; do
		mval "pingfold_box_$m{box=\"$b\"}"
	done | paste -sd ' ')
	[ "$got" = "$want" ] && [ -n "$(mval "pingfold_box_last_seen_seconds{box=\"$b\"}")" ]
}
box_ok=1
for b in $(jq -r '.boxes[].box' <<<"$bx"); do
	box_gauges "$b" || { box_ok=0; diag "box $b: gauges differ from 'pingfold boxes'"; }
done
check "box health gauges (stale, samples, unnamed, last seen, gaps) per box" test $box_ok = 1
sum_deltas=$(awk '/^pingfold_box_(deltas|duplicates)_total\{/ { n += $2 } END { print n + 0 }' "$M")
check "the aggregator's counters: deltas received = the boxes' deltas + duplicates ($sum_deltas)" \
	test "$(mval pingfold_aggregator_deltas_received_total)" = "$sum_deltas"
[ -n "$(mval pingfold_aggregator_decode_errors_total)" ] ||
	diag "no pingfold_aggregator_decode_errors_total: the aggregator does not call http_set_counters()"
check "the aggregator's counters: 1 decode error (pffeed's bad message), messages, replays" \
	test "$(mval pingfold_aggregator_decode_errors_total)" = 1 -a \
	     -n "$(mval pingfold_aggregator_messages_total)" -a -n "$(mval pingfold_aggregator_replays_total)" -a \
	     "$(mval pingfold_aggregator_samples_total)" = "$(jq '[.boxes[].samples] | add' <<<"$bx")"

# ---- a second aggregator: --metrics-customers, the page from --http-static ----------

esc() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' <<<"$1"; }	# a label value

if start_agg cust --metrics-customers --http-static "$TOPO_ROOT/web" && feed cust; then
	M2=$DIR/metrics2.txt
	curl -s "http://127.0.0.1:$PORT/metrics" > "$M2"
	check "--metrics-customers: still valid Prometheus text" promcheck "$M2"
	cust_ok=0 ncust=0
	while IFS=$'\t' read -r id name site; do
		lab="customer=\"$(esc "$id")\",name=\"$(esc "$name")\",site=\"$(esc "$site")\""
		ans=$(timeout 20 "$B/pingfold" -s "ipc://$DIR/cust.q" query customer "$id" -w 1h --json)
		for half in access internet; do
			M=$M2 same_hist pingfold_customer_rtt_seconds "$lab,half=\"$half\"" "$ans" $half || cust_ok=1
		done
		ncust=$((ncust + 1))
	done < <(timeout 20 "$B/pingfold" -s "ipc://$DIR/cust.q" customers --json | jq -r '.customers[] | [.id, .name, .site] | @tsv')
	check "--metrics-customers: each customer's series equal its 1h histograms ($ncust customers, names escaped)" \
		test $cust_ok = 0 -a $ncust -ge 13
	check "without --history-dir, /api/config says there is no history (the page hides it)" \
		test "$(curl -s "http://127.0.0.1:$PORT/api/config" | jq .history)" = false
	check "--http-static serves the page from the folder" \
		cmp -s <(curl -s "http://127.0.0.1:$PORT/style.css") "$TOPO_ROOT/web/style.css"
else
	not_ok "a second aggregator with --metrics-customers --http-static web"
fi

topo_exit
