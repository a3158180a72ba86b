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
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_topo
sysctl -qw kernel.bpf_stats_enabled=1

declare -A EG IN
names=(empty)
for k in "${!BINS[@]}"; do names+=("$((k + 1))"); done
for r in $(seq "$ROUNDS"); do
	for k in $(seq 0 ${#BINS[@]}); do
		if [ "$k" = 0 ]; then dp_start "${BINS[0]}" tcx -E; else dp_start "${BINS[$((k - 1))]}" tcx; fi
		ids=$(bpftool prog show 2>/dev/null |
			awk -F: '/ name pf_tc_(ingress|egress|empty|empty_egress) / { print $1 }' | tail -n 2)
		line="round $r ${names[$k]}: $(gbps "$STREAMS") Gbit/s"
		for id in $ids; do
			v=$(printf '%.0f/%d' "$(ns_of "$id")" "$(runs_of "$id")")
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
	# shellcheck disable=SC2086  # the lists split into one value a line
	printf '%-6s egress median %s ns, ingress median %s ns  (%s)\n' "$n" \
		"$(printf '%s\n' ${EG[$n]} | median)" "$(printf '%s\n' ${IN[$n]} | median)" "$what"
done
