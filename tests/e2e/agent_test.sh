#!/bin/bash
# pingfold-agent on a shaper namespace with real TCP and known delays, and
# a test subscriber (pfsub) on tcp://127.0.0.1 in the same namespace.
# In one run, in order:
#   - the subscriber drops its connection for 2.5 s, then recovers the
#     missed deltas through the agent's replay socket;
#   - meanwhile the agent is killed with SIGKILL mid-traffic and started
#     again on the same pins and state (its replay ring survives);
#   - SIGHUP with a changed customer list (one customer gone, one new);
#   - SIGHUP with a malformed list: refused with file:line, old list kept.
# At the end the subscriber's total (each delta once) must equal the
# datapath's own sample counter, with nothing lost and one epoch.
set -u
. "$(dirname "$0")/lib.sh"

AGENT=$TOPO_ROOT/${OUT:-build}/pingfold-agent
PFSUB=$TOPO_ROOT/${OUT:-build}/tests/tools/pfsub
[[ ${OUT:-build} == /* ]] && AGENT=$OUT/pingfold-agent PFSUB=$OUT/tests/tools/pfsub
topo_setup || exit 1
# 'ip netns exec' remounts /sys: pins go to a bpffs of our own
BPFFS=$(mktemp -d)
mount -t bpf bpf "$BPFFS" || exit 1
PIN=$BPFFS/pingfold
trap 'topo_cleanup; umount "$BPFFS"; rmdir "$BPFFS"' EXIT
topo_add_customer 198.18.1.10 198.18.1.20 2001:db8:1::30 198.18.1.40
topo_add_server 198.19.0.1 2001:db8:2::1
topo_delay_access "198.18.1.10=5 198.18.1.20=20 2001:db8:1::30=40" || exit 1
topo_delay_internet "198.19.0.1=10 2001:db8:2::1=10" || exit 1

cust=$TOPO_DIR/customers.txt
cat > "$cust" <<'EOF'
# id      prefixes                 site
custA  198.18.1.10/32           site=North/Tower1
custB  198.18.1.20              site=North/Tower2
custC  2001:db8:1::30/128       site=South
custD  198.18.1.40              site=South
EOF
state=$TOPO_DIR/state
args=(-i "$SHP_CUST_IF" -C "$cust" -b box1 -n 500 -l tcp://127.0.0.1:7700
      -r tcp://127.0.0.1:7701 --state-dir "$state" --pin-dir "$PIN"
      --max-customers 64 --max-flows 65536)

start_agent() {
	AGENT_LOG=$TOPO_DIR/agent-$1.log
	topo_bg shp "$AGENT_LOG" "$AGENT" "${args[@]}"
	AGENT_PID=$TOPO_LAST_PID
	wait_log "$AGENT_LOG" "running:"
}

sub_out=$TOPO_DIR/pfsub.out
topo_bg shp "$sub_out" "$PFSUB" -u tcp://127.0.0.1:7700 -r tcp://127.0.0.1:7701 -t 60 -p 4 -P 2500
sub_pid=$TOPO_LAST_PID
check "agent starts and runs" start_agent 1

topo_iperf_client 198.18.1.10 198.19.0.1 15 10M
topo_iperf_client 198.18.1.20 198.19.0.1 15 10M
topo_iperf_client 2001:db8:1::30 2001:db8:2::1 15 10M

# the subscriber is away from ~2 s to ~4.5 s; the agent is killed while
# it is away, so some of what it missed must come from the restarted
# agent's ring
sleep 3.5
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
diag "agent killed with SIGKILL; restarting"
check "agent restarts on its pins and state" start_agent 2
check "restarted agent continues the same epoch" grep -q "continuing after a restart" "$AGENT_LOG"

sleep 2
sed -i -e '/^custD/d' "$cust"
echo "custE  198.18.1.50  site=South" >> "$cust"
kill -HUP "$AGENT_PID"
check "SIGHUP: reloaded with custD gone and custE new" wait_log "$AGENT_LOG" "reloaded: 4 customers" 60

sleep 2
good=$(cat "$cust")
printf 'custA 198.18.1.10\ncustB 198.18.1.999\n' > "$cust"
kill -HUP "$AGENT_PID"
if wait_log "$AGENT_LOG" "reload rejected" 60 &&
   grep -q "reload rejected.*customers.txt:2:.*198.18.1.999" "$AGENT_LOG"; then
	ok "malformed list refused with file:line ($(grep -o 'customers.txt:2:.*' "$AGENT_LOG" | head -1))"
else
	not_ok "malformed list not refused with file:line"
	grep reload "$AGENT_LOG" | sed 's/^/# /'
fi
echo "$good" > "$cust"

check "iperf3 traffic ran" topo_iperf_wait
sleep 1
kill -TERM "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
sleep 0.5
kill -TERM "$sub_pid"
wait "$sub_pid" 2>/dev/null

grep -E '^(gap|total|paused|resumed)|dup$' "$sub_out" | sed 's/^/# /'
grep -E '^cust ' "$sub_out" | sed 's/^/# /'
total=$(awk '$1 == "total" { print $2 }' "$sub_out")
lost=$(awk '$1 == "total" { print $10 }' "$sub_out")
replayed=$(awk '$1 == "total" { print $8 }' "$sub_out")
samples=$(awk '$1 == "stat" && $3 == "samples" { v = $4 } END { print v }' "$sub_out")
epochs=$(awk '$1 == "delta" { print $3 }' "$sub_out" | sort -u | wc -l)
diag "subscriber total=$total samples counter=$samples replayed=$replayed lost=$lost epochs=$epochs"

if [ -n "$total" ] && [ "$total" -gt 0 ] && [ "$total" = "$samples" ]; then
	ok "every sample received exactly once: subscriber total = datapath samples = $total"
else
	not_ok "subscriber total ${total:-?} != datapath samples ${samples:-?}"
fi
check "the missed deltas came back by replay, none lost" \
	test "${replayed:-0}" -gt 0 -a "${lost:-1}" -eq 0
check "one epoch across the SIGKILL restart" test "$epochs" -eq 1
per_cust=$(awk '$1 == "cust" { s += $4 } END { print s + 0 }' "$sub_out")
check "per-customer counts add up to the total" test "$per_cust" = "${total:-x}"
for c in custA custB custC; do
	check "$c has access and internet samples" \
		test "$(awk -v c=$c '$1 == "cust" && $2 == c' "$sub_out" | wc -l)" -eq 2
done
# attribution: mean access RTT of custC (40 ms) far above custA's (5 ms)
meanA=$(awk '$1 == "cust" && $2 == "custA" && $3 == "access" { printf "%d", $5 / $4 / 1e6 }' "$sub_out")
meanC=$(awk '$1 == "cust" && $2 == "custC" && $3 == "access" { printf "%d", $5 / $4 / 1e6 }' "$sub_out")
check "attribution kept: custA access mean ${meanA:-?} ms < 15, custC ${meanC:-?} ms in 35..80" \
	test "${meanA:-99}" -lt 15 -a "${meanC:-0}" -ge 35 -a "${meanC:-0}" -le 80
check "custD (no traffic) has no samples" test -z "$(awk '$1 == "cust" && $2 == "custD"' "$sub_out")"

topo_exec shp "$AGENT" --detach --state-dir "$state" --pin-dir "$PIN" -q
check "--detach removed the pins" test ! -e "$PIN"
check "--detach removed the tc filters" \
	test -z "$(topo_exec shp tc filter show dev "$SHP_CUST_IF" ingress)"
topo_exit
