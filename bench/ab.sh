#!/bin/bash
# bench/ab.sh BIN [BIN...]: ns per invocation (kernel bpf_stats) of the
# datapath's programs under one iperf3 stream through the shaper namespace,
# for several builds of pingfold-dp and the empty programs, in alternating
# rounds; prints each round and the medians (docs/benchmarks.md, "Comparing
# builds"). A change of 10-20 ns per egress ACK is below what one make bench
# run resolves on this VM; alternating the builds round by round resolves it.
# Environment: ROUNDS (7), SECS (2), STREAMS (1).
set -u
OUT=${OUT:-build}
ROUNDS=${ROUNDS:-7}
SECS=${SECS:-2}
STREAMS=${STREAMS:-1}
[ $# -ge 1 ] || { echo "usage: $0 PINGFOLD-DP [PINGFOLD-DP...]" >&2; exit 2; }
for b in "$@"; do [ -x "$b" ] || { echo "$0: $b: not an executable" >&2; exit 2; }; done
BINS=("$@")
. "$(dirname "$0")/../tests/e2e/lib.sh"

topo_setup nooffload nodelay || exit 1
topo_add_customer 198.18.1.10
topo_add_server 198.19.0.1
topo_iperf_server 5201 || exit 1
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -qw kernel.bpf_stats_enabled=$old_stats; topo_cleanup' EXIT
sysctl -qw kernel.bpf_stats_enabled=1

gbps() {
	topo_exec cli iperf3 -c 198.19.0.1 -B 198.18.1.10 -p 5201 -t "$SECS" -P "$STREAMS" -J 2>/dev/null |
		awk -F'[:,]' '/"sum_received"/ { f = 1 } f && /"bits_per_second"/ { printf "%.3f\n", $2 / 1e9; exit }'
}
# ns_runs ID: "run_time_ns / run_cnt" and run_cnt, as NS/RUNS
ns_runs() {
	bpftool prog show id "$1" | awk '{ for (i = 1; i < NF; i++) { if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") c = $(i + 1) } }
		END { printf "%.0f/%d", (c > 0 ? t / c : 0), c }'
}
dp_start() {	# dp_start BIN [-E]
	DP_LOG=$TOPO_DIR/pfdp-$RANDOM.log
	topo_bg shp "$DP_LOG" "$1" -i "$SHP_CUST_IF" -c 0=198.18.1.0/24 -f 65536 -a tcx ${2:-}
	DP_PID=$TOPO_LAST_PID
	for _ in $(seq 100); do grep -qs '^ready' "$DP_LOG" && break; sleep 0.05; done
}
dp_stop() { kill -TERM "$DP_PID"; wait "$DP_PID" 2>/dev/null; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

declare -A EG IN
names=(empty)
for k in "${!BINS[@]}"; do names+=("$((k + 1))"); done
for r in $(seq "$ROUNDS"); do
	for k in $(seq 0 ${#BINS[@]}); do
		if [ "$k" = 0 ]; then dp_start "${BINS[0]}" -E; else dp_start "${BINS[$((k - 1))]}"; fi
		ids=$(bpftool prog show 2>/dev/null |
			awk -F: '/ name pf_tc_(ingress|egress|empty|empty_egress) / { print $1 }' | tail -n 2)
		line="round $r ${names[$k]}: $(gbps "$STREAMS") Gbit/s"
		for id in $ids; do
			v=$(ns_runs "$id")
			case $(bpftool prog show id "$id") in
			*egress*) EG[${names[$k]}]+="${v%/*} " line+=" egress $v" ;;
			*) IN[${names[$k]}]+="${v%/*} " line+=" ingress $v" ;;
			esac
		done
		echo "$line"
		dp_stop
	done
done
for k in "${!names[@]}"; do
	n=${names[$k]}
	what="empty programs"
	[ "$k" -gt 0 ] && what=${BINS[$((k - 1))]}
	printf '%-6s egress median %s ns, ingress median %s ns  (%s)\n' "$n" \
		"$(printf '%s\n' ${EG[$n]} | median)" "$(printf '%s\n' ${IN[$n]} | median)" "$what"
done
