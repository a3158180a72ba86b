#!/bin/bash
# Expected-high-latency customers (issue 13, --exclude FILE): an aggregator
# with an exclude file gets tests/tools/pffeed's fleet. The excluded
# customer keeps its own numbers and is marked, but its site, the fleet
# and the top list leave it out; SIGHUP reads the file again (a changed
# set is taken, a bad file is refused with file:line and the set in
# force stays); /metrics counts both.
set -u
. "$(dirname "$0")/lib.sh"

scratch_setup

command -v jq >/dev/null || { not_ok "jq is not installed (make deps)"; topo_exit; }

printf '# satellite links\nc08   # Fay Farm\n\n' > "$DIR/exclude"
HP=$(free_port)
"$B/pingfold-aggregator" -l "ipc://$DIR/in" -q "ipc://$DIR/q" -n 500 --exclude "$DIR/exclude" \
	--http "http://127.0.0.1:$HP" > "$DIR/agg.log" 2>&1 &
AGG=$!
pids+=($AGG)
q() { timeout 20 "$B/pingfold" -s "ipc://$DIR/q" "$@"; }
for _ in $(seq 100); do q boxes >/dev/null 2>&1 && break; sleep 0.05; done
"$B/tests/tools/pffeed" -c "ipc://$DIR/in" --every 500 > "$DIR/feed" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$DIR/feed" && break; sleep 0.05; done
check "pffeed sent its burst" grep -q '^ready' "$DIR/feed"
sent() { awk -v id="$1" -v h="$2" '$1 == "cust" && $2 == id && $3 == h { print $4 }' "$DIR/feed"; }
# the aggregator has it all when the fleet count is in (pffeed's total minus c08's)
want_fleet=$(( $(awk '$1 == "total" { print $2 }' "$DIR/feed") - $(sent c08 access) - $(sent c08 internet) ))
for _ in $(seq 100); do
	f=$(q --json query fleet -w 1h | jq '.halves.access.count + .halves.internet.count')
	[ "$f" = "$want_fleet" ] && break
	sleep 0.1
done
check "the fleet leaves the excluded customer out ($f = pffeed's total - c08's)" \
	test "$f" = "$want_fleet"
c08=$(q --json query customer c08 -w 1h)
check "the excluded customer keeps its own numbers" \
	test "$(jq '.halves.access.count' <<<"$c08")" = "$(sent c08 access)"
check "...and is marked excluded" test "$(jq '.excluded' <<<"$c08")" = true
ridge=$(q --json query site South/Ridge -w 1h | jq '.halves.access.count')
check "its site South/Ridge is the sum of the others (c09 + c10)" \
	test "$ridge" = $(( $(sent c09 access) + $(sent c10 access) ))
top=$(q --json top customers -w 1h -n 20 | jq -r '[.items[].name] | join(" ")')
check "the top list leaves it out ($top)" bash -c "! grep -qw c08 <<<'$top' && grep -qw c10 <<<'$top'"
check "the customers list marks it" \
	test "$(q --json customers | jq -r '[.customers[] | select(.excluded) | .id] | join(" ")')" = c08

# SIGHUP: a changed file is taken
printf 'c10\n' > "$DIR/exclude"
kill -HUP $AGG
for _ in $(seq 50); do [ "$(q --json query customer c10 -w 1h | jq '.excluded')" = true ] && break; sleep 0.1; done
check "SIGHUP reads the file again (c10 excluded now)" \
	test "$(q --json query customer c10 -w 1h | jq '.excluded')" = true
check "...and c08 no longer" test "$(q --json query customer c08 -w 1h | jq '.excluded')" = null
# a bad file: refused, named with its line; the set in force stays
printf 'c09\n%s\n' "$(printf 'x%.0s' $(seq 70))" > "$DIR/exclude"
kill -HUP $AGG
for _ in $(seq 50); do grep -q "exclude:2: customer id longer" "$DIR/agg.log" && break; sleep 0.1; done
check "a bad file is refused, naming file:line" grep -q "$DIR/exclude:2: customer id longer than 63 bytes" "$DIR/agg.log"
check "...and the set in force stays (c10 excluded, c09 not)" \
	test "$(q --json query customer c10 -w 1h | jq '.excluded')" = true -a \
	     "$(q --json query customer c09 -w 1h | jq '.excluded')" = null
curl -sf "http://127.0.0.1:$HP/metrics" > "$DIR/metrics"
grep -qx 'pingfold_aggregator_exclude_loads_total 2' "$DIR/metrics" &&
	grep -qx 'pingfold_aggregator_exclude_errors_total 1' "$DIR/metrics"
check "/metrics counts the files taken (2) and refused (1)" test $? -eq 0
check "the aggregator is still running" kill -0 $AGG

topo_exit
