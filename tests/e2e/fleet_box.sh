#!/bin/bash
# One shaper box of a simulated fleet, run in the background by
# fleet_test.sh and by make demo:   fleet_box.sh BOX DIR
# Environment: BOX_CUSTOMERS (a plain customer list) or BOX_CUSTOMERS_FILE,
# BOX_ADDRS (customer addresses), BOX_ACCESS (delay rules), BOX_INTERNET
# (delay rules for the servers, default 10 ms), BOX_TRAFFIC (addresses
# that send), BOX_RATE (iperf3 rate each way, default 5M), BOX_LISTEN
# (agent pub URL), BOX_REPLAY, BOX_AGENT_ARGS (more agent options), SECS.
# Protocol through files in DIR: writes BOX.ns (its shaper namespace) and
# BOX.ready; waits for DIR/go, starts its clients (then BOX.flowing), runs
# traffic for SECS (or until DIR/stop),
# writes BOX.traffic; at DIR/stop stops its agent (a last delta), writes
# BOX.stopped; at DIR/teardown removes everything it made.
set -u
BOX=$1 DIR=$2
export TOPO_PREFIX=pf$BOX
. "$(dirname "$0")/lib.sh"
AGENT=$TOPO_ROOT/${OUT:-build}/pingfold-agent
[[ ${OUT:-build} == /* ]] && AGENT=$OUT/pingfold-agent

topo_setup || exit 1
BPFFS=$(mktemp -d)
mount -t bpf bpf "$BPFFS" || exit 1
trap 'topo_cleanup; umount "$BPFFS"; rmdir "$BPFFS"' EXIT
# shellcheck disable=SC2086
topo_add_customer $BOX_ADDRS
topo_add_server 198.19.0.1 2001:db8:2::1
topo_delay_access "$BOX_ACCESS" || exit 1
topo_delay_internet "${BOX_INTERNET:-198.19.0.1=10 2001:db8:2::1=10}" || exit 1
customers=${BOX_CUSTOMERS_FILE:-$DIR/$BOX.customers}
[ -n "${BOX_CUSTOMERS_FILE:-}" ] || printf '%s\n' "$BOX_CUSTOMERS" > "$customers"
# shellcheck disable=SC2086
topo_bg shp "$DIR/$BOX.agent.log" "$AGENT" -i "$SHP_CUST_IF" -C "$customers" \
	-b "$BOX" -n 500 -l "$BOX_LISTEN" -r "$BOX_REPLAY" --state-dir "$TOPO_DIR/state" \
	--pin-dir "$BPFFS/pingfold" --max-customers 64 --max-flows 65536 ${BOX_AGENT_ARGS:-}
agent=$TOPO_LAST_PID
for _ in $(seq 100); do grep -q "running:" "$DIR/$BOX.agent.log" && break; sleep 0.05; done
echo "$NS_SHP" > "$DIR/$BOX.ns"
touch "$DIR/$BOX.ready"
while [ ! -e "$DIR/go" ]; do sleep 0.05; done
for a in $BOX_TRAFFIC; do
	case $a in *:*) srv=2001:db8:2::1 ;; *) srv=198.19.0.1 ;; esac
	# 16 KiB writes: iperf3's 128 KiB default at 5 Mbit/s is a burst every
	# 200 ms, a sample or so each (the first segment with a new TSval), 60
	# in 10 s; one of every 26 ms gives the medians six times as many
	topo_iperf_client "$a" "$srv" "$SECS" "${BOX_RATE:-5M}" -l 16K
done
touch "$DIR/$BOX.flowing"	# every client started (a loaded machine takes seconds)
# until the traffic ends or we are told to stop
while [ ! -e "$DIR/stop" ]; do
	alive=0
	for p in "${TOPO_CLIENTS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
	[ $alive = 1 ] || break
	sleep 0.2
done
[ -e "$DIR/stop" ] || topo_iperf_wait
touch "$DIR/$BOX.traffic"
while [ ! -e "$DIR/stop" ]; do sleep 0.05; done
kill -TERM "$agent"
wait "$agent" 2>/dev/null
touch "$DIR/$BOX.stopped"
while [ ! -e "$DIR/teardown" ]; do sleep 0.05; done
