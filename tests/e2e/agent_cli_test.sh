#!/bin/bash
# pingfold-agent's command line: --dry-run summaries and file:line errors,
# option validation, config files, an unknown interface, --once --json,
# small messages timestamped only with --record-psh.
set -u
. "$(dirname "$0")/lib.sh"

AGENT=$TOPO_ROOT/${OUT:-build}/pingfold-agent
[[ ${OUT:-build} == /* ]] && AGENT=$OUT/pingfold-agent
DATA=$TOPO_ROOT/tests/data
TMP=$(mktemp -d)
NS=pfcli$$
# 'ip netns exec' remounts /sys: pins go to a bpffs of our own
mkdir -p "$TMP/bpffs" && mount -t bpf bpf "$TMP/bpffs" || exit 1
PIN=$TMP/bpffs/pingfold
trap 'ip netns del $NS 2>/dev/null; umount "$TMP/bpffs"; rm -rf "$TMP"' EXIT

# expect "desc" RC PATTERN cmd...: exit code RC and PATTERN in the output
expect() {
	local desc=$1 rc=$2 pat=$3 out got
	shift 3
	out=$("$@" 2>&1)
	got=$?
	if [ "$got" -eq "$rc" ] && grep -qE -- "$pat" <<<"$out"; then
		ok "$desc"
	else
		not_ok "$desc: exit $got (want $rc), output: $(head -c 300 <<<"$out")"
	fi
}

expect "--dry-run on ShapedDevices.csv + network.json prints the summary" 0 \
	'^[0-9]+ customers, [0-9]+ prefixes \([0-9]+ IPv4, [0-9]+ IPv6\), [0-9]+ sites$' \
	"$AGENT" --dry-run -C "$DATA/ShapedDevices.csv" -N "$DATA/network.json"
expect "--dry-run on a plain list" 0 'customers, .* sites$' \
	"$AGENT" --dry-run -C "$DATA/customers.txt"
sed '4s/198\.18\.0\.[0-9]*/198.18.0.300/' "$DATA/ShapedDevices.csv" > "$TMP/bad.csv"
expect "a malformed row is refused with file:line" 1 "bad.csv:4: .*198.18.0.300" \
	"$AGENT" --dry-run -C "$TMP/bad.csv"
expect "a missing customer file is named" 1 "nosuch.csv" \
	"$AGENT" --dry-run -C "$TMP/nosuch.csv"
expect "--interval must be a number" 2 "interval.*'abc'" \
	"$AGENT" --dry-run -C "$DATA/customers.txt" --interval abc
expect "--max-flows is range-checked" 2 "max-flows.*'10'" \
	"$AGENT" --dry-run -C "$DATA/customers.txt" --max-flows 10
# the one box-id rule of the wire format, checked where the id is set
expect "--box-id with a byte outside printable ASCII is refused at once" 2 \
	"box-id 'b.*x': box id has a byte outside printable ASCII" \
	"$AGENT" --dry-run -C "$DATA/customers.txt" --box-id 'bøx'
expect "--box-id with a '/' is refused" 2 "box-id 'a/b': box id has a '/'" \
	"$AGENT" --dry-run -C "$DATA/customers.txt" --box-id a/b
printf '# far away\n198.18.250.0/24 2001:db8:fe::/48\n198.18.251.1\n' > "$TMP/ignore.txt"
expect "--dry-run counts the ignored prefixes (option and file)" 0 '^4 prefixes ignored$' \
	"$AGENT" --dry-run -C "$DATA/customers.txt" --ignore 198.18.252.0/24 --ignore-file "$TMP/ignore.txt"
printf '198.18.250.0/24\n198.18.250.1/24\n' > "$TMP/ignore.txt"
expect "a bad ignore prefix is refused with file:line" 1 "ignore.txt:2: '198.18.250.1/24'" \
	"$AGENT" --dry-run -C "$DATA/customers.txt" --ignore-file "$TMP/ignore.txt"
expect "a bad --ignore is named" 1 "--ignore: 'nope'" \
	"$AGENT" --dry-run -C "$DATA/customers.txt" --ignore nope
printf 'customers = %s\nfoo = 1\n' "$DATA/customers.txt" > "$TMP/agent.conf"
expect "a config file error names file:line" 2 "agent.conf:2: unknown setting 'foo'" \
	"$AGENT" --dry-run -c "$TMP/agent.conf"
printf '# agent\ncustomers = %s\ninterval = 500\n' "$DATA/customers.txt" > "$TMP/agent.conf"
expect "a config file is read" 0 "customers, " "$AGENT" --dry-run -c "$TMP/agent.conf"

ip netns add "$NS"
ip -n "$NS" link set lo up
printf 'lo 127.0.0.0/8 site=Loop\n' > "$TMP/lo.txt"
expect "an unknown interface is named, and nothing is left behind" 1 \
	"interface 'nosuchif0' not found" \
	ip netns exec "$NS" "$AGENT" -i nosuchif0 -C "$TMP/lo.txt" --pin-dir "$PIN" \
	--state-dir "$TMP/state" --max-flows 4096
check "no pins left after the failed start" test ! -e "$PIN"

# pings for as long as the agent runs, however long loading and attaching
# take: its one interval (1.5 s after attaching) always holds some
ip netns exec "$NS" ping -q -i 0.2 127.0.0.1 >/dev/null &
ping_pid=$!
out=$(ip netns exec "$NS" "$AGENT" -i lo -C "$TMP/lo.txt" --pin-dir "$PIN" \
	--state-dir "$TMP/state" --max-flows 4096 -n 1500 --once --json --detach-on-exit -q)
kill "$ping_pid"
wait "$ping_pid" 2>/dev/null
if grep -q '"customer":"lo","site":"Loop","half":"access","count":[1-9]' <<<"$out" &&
   grep -q '"samples":[1-9]' <<<"$out"; then
	ok "--once --json prints the interval's delta with customer, site and counts"
else
	not_ok "--once --json output: $(head -c 400 <<<"$out")"
fi
# small messages (tests/tools/pfrr over lo, 100-byte requests and 200-byte
# answers): not timestamped by default (psh_skipped), timestamped with
# --record-psh (the option reaches the datapath)
PFRR=$TOPO_ROOT/${OUT:-build}/tests/tools/pfrr
[[ ${OUT:-build} == /* ]] && PFRR=$OUT/tests/tools/pfrr
ip netns exec "$NS" "$PFRR" -s -p 5400 -t 2 > "$TMP/rr.log" 2>&1 &
rr_srv=$!
for _ in $(seq 100); do grep -q '^listening' "$TMP/rr.log" && break; sleep 0.05; done
psh_once() {	# psh_once [ARGS]: "psh_skipped recorded" of one --once interval under pfrr
	local cli o
	ip netns exec "$NS" "$PFRR" -c 127.0.0.1 -p 5400 -k 1 -n 2000 -w 5 >/dev/null 2>&1 &
	cli=$!
	o=$(ip netns exec "$NS" "$AGENT" -i lo -C "$TMP/lo.txt" --pin-dir "$PIN" \
		--state-dir "$TMP/state" --max-flows 4096 -n 1500 --once --json --detach-on-exit -q "$@")
	kill "$cli" 2>/dev/null
	wait "$cli" 2>/dev/null
	jq -r '"\(.stats.psh_skipped) \(.stats.recorded)"' <<<"$o"
}
read -r skipped recorded <<<"$(psh_once)"
check "small messages are not timestamped (psh_skipped $skipped, recorded $recorded)" \
	test "${skipped:-0}" -gt 0
read -r skipped2 recorded2 <<<"$(psh_once --record-psh)"
check "--record-psh: they are (psh_skipped $skipped2, recorded $recorded2)" \
	test "$skipped2" = 0 -a "${recorded2:-0}" -gt "${recorded:-0}"
kill "$rr_srv" 2>/dev/null
wait "$rr_srv" 2>/dev/null

ip netns exec "$NS" "$AGENT" --detach --pin-dir "$PIN" --state-dir "$TMP/state" -q
check "--detach after --once leaves no pins" test ! -e "$PIN"
check "--detach after --once leaves no tc filter on lo" \
	test -z "$(ip netns exec "$NS" tc filter show dev lo ingress)"
topo_exit
