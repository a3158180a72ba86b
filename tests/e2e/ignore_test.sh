#!/bin/bash
# Ignore lists (issue 10, docs/datapath.md "Ignored remote prefixes"):
# pingfold-agent on the shaper namespace with --ignore-file naming server
# 198.19.0.2, real TCP both ways from two customers, a test subscriber
# (pfsub -k) counting what each delta carries. In order:
#   1. a malformed ignore file on SIGHUP is refused with file:line and the
#      list in force stays;
#   2. custA talks only to the ignored server: its access half counts (the
#      server's packets echoed by custA), its internet half gets nothing,
#      and the agent counts the timestamps it did not store ("ignored");
#      custB, talking to the other server, has both halves;
#   3. SIGHUP with the server taken out of the file: custA's internet half
#      counts again.
set -u
. "$(dirname "$0")/lib.sh"

AGENT=$TOPO_ROOT/${OUT:-build}/pingfold-agent
PFSUB=$TOPO_ROOT/${OUT:-build}/tests/tools/pfsub
[[ ${OUT:-build} == /* ]] && AGENT=$OUT/pingfold-agent PFSUB=$OUT/tests/tools/pfsub
topo_setup nodelay || exit 1
# 'ip netns exec' remounts /sys: pins go to a bpffs of our own
BPFFS=$(mktemp -d)
mount -t bpf bpf "$BPFFS" || exit 1
trap 'topo_cleanup; umount "$BPFFS"; rmdir "$BPFFS"' EXIT
topo_add_customer 198.18.1.10 198.18.1.20
topo_add_server 198.19.0.1 198.19.0.2

cust=$TOPO_DIR/customers.txt
printf 'custA 198.18.1.10\ncustB 198.18.1.20\n' > "$cust"
ign=$TOPO_DIR/ignore.txt
printf '# the management server: far away on purpose\n198.19.0.2/32\n' > "$ign"

LOG=$TOPO_DIR/agent.log
topo_bg shp "$LOG" "$AGENT" -i "$SHP_CUST_IF" -C "$cust" -b box1 -n 200 \
	-l tcp://127.0.0.1:7700 --state-dir "$TOPO_DIR/state" --pin-dir "$BPFFS/pf" \
	--max-customers 16 --max-flows 4096 --rate-limit 0 --ignore-file "$ign"
AGENT_PID=$TOPO_LAST_PID
check "the agent starts with 1 prefix ignored" wait_log "$LOG" "ignoring samples towards 1 prefixes"
SUB=$TOPO_DIR/pfsub.out
topo_bg shp "$SUB" "$PFSUB" -u tcp://127.0.0.1:7700 -t 60 -k
SUB_PID=$TOPO_LAST_PID

# 1. a malformed file: refused, where, the list stays
printf '198.19.0.2/32\n198.19.0.300\n' > "$ign"
kill -HUP "$AGENT_PID"
check "a malformed ignore file is refused with file:line, the list in force stays" \
	wait_log "$LOG" "ignore.txt:2: '198.19.0.300'.*the ignore list in force stays"
printf '198.19.0.2/32\n' > "$ign"

# count CUSTOMER HALF: samples of the deltas taken so far
count() { awk -v c="$1" -v h="$2" '$1 == "dkey" && $4 == c && $5 == h { n += $6 } END { print n + 0 }' "$SUB"; }
# stat NAME: the agent's last stats message
stat() { awk -v k="$1" '$1 == "hstat" && $3 == k { v = $4 } END { print v + 0 }' "$SUB"; }
# settle: the traffic ended; wait for a delta after it (interval 200 ms)
settle() {
	local n
	n=$(grep -c '^dkey' "$SUB")
	sleep 0.6
	for _ in $(seq 50); do [ "$(grep -c '^dkey' "$SUB")" -gt "$n" ] || break; n=$(grep -c '^dkey' "$SUB"); sleep 0.3; done
}

# 2. custA only to the ignored server, custB to the other
topo_iperf_client 198.18.1.10 198.19.0.2 3 50M
topo_iperf_client 198.18.1.20 198.19.0.1 3 50M
check "iperf3 traffic ran (round 1)" topo_iperf_wait
settle
a_acc=$(count custA access) a_int=$(count custA internet)
b_acc=$(count custB access) b_int=$(count custB internet)
diag "round 1: custA access $a_acc internet $a_int; custB access $b_acc internet $b_int"
check "custA's access half counts its own echoes ($a_acc)" test "$a_acc" -gt 0
check "custA's internet half has nothing from the ignored server" test "$a_int" = 0
check "custB, towards the other server, has both halves" test "$b_acc" -gt 0 -a "$b_int" -gt 0
ignored=$(stat ignored)
check "the datapath counted the timestamps it did not store ($ignored ignored)" test "$ignored" -gt 0

# 3. the server taken out of the list: custA's internet half counts again
printf '# none\n' > "$ign"
kill -HUP "$AGENT_PID"
check "SIGHUP: the list is now empty" wait_log "$LOG" "ignoring samples towards 0 prefixes"
before=$(count custA internet)
topo_iperf_client 198.18.1.10 198.19.0.2 3 50M
check "iperf3 traffic ran (round 2)" topo_iperf_wait
settle
a_int=$(count custA internet)
check "custA's internet half counts again ($before -> $a_int)" test "$a_int" -gt "$before"
check "the agent reports the list's size (agent_ignore_prefixes 0)" test "$(stat agent_ignore_prefixes)" = 0

kill -TERM "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
kill -TERM "$SUB_PID" 2>/dev/null
topo_exit
