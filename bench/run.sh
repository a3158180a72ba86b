#!/bin/bash
# make bench: datapath cost, as ratios against baselines measured in the
# same run (see docs/benchmarks.md).
#  1. ns per packet by BPF_PROG_TEST_RUN on crafted packets, against an
#     empty tc program (build/bench/dp_bench).
#  2. Forwarding throughput through a shaper namespace with the datapath
#     attached as tcx links and as clsact filters, and with empty programs
#     attached (the hook's own share), against the same path with nothing
#     attached, alternately, TSO/GSO off; plus ns per invocation from the
#     kernel's bpf_stats, for each way of attaching, against the empty
#     programs' under the same traffic.
set -u
OUT=${OUT:-build}
ROUNDS=${BENCH_ROUNDS:-7}
# shellcheck disable=SC2034  # read by bench/lib.sh (gbps)
SECS=${BENCH_SECS:-3}

echo "== datapath: BPF_PROG_TEST_RUN"
if [ -x "$OUT"/bench/dp_bench ]; then "$OUT"/bench/dp_bench || exit 1; else echo "(dp_bench not built)"; fi

echo
echo "== agent: one poll of 100,000 customers with samples"
"$OUT"/bench/poll_bench | grep -v '^poll_bench' || exit 1

echo
echo "== aggregator: merge throughput (decoding included) against decoding alone"
"$OUT"/bench/merge_bench || exit 1

echo
echo "== aggregator: windows at full length (memory, top and queries per window, closing)"
"$OUT"/bench/window_bench || exit 1

echo
echo "== aggregator: history on disk (SQLite): writing, disk per day, reads and heatmaps"
"$OUT"/bench/history_bench || exit 1

echo
echo "== aggregator: Prometheus remote write bodies (protobuf + snappy) against protobuf alone"
"$OUT"/bench/promrw_bench || exit 1

echo
echo "== datapath: forwarding throughput through the shaper namespace"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
PFDP=$TOPO_ROOT/$OUT/pingfold-dp
[[ $OUT == /* ]] && PFDP=$OUT/pingfold-dp
bench_topo

# prog_ns ID: "N ns/packet (R runs)" of loaded program ID
prog_ns() {
	local r

	r=$(runs_of "$1")
	if [ "$r" -gt 0 ]; then printf '%.0f ns/packet (%d runs)' "$(ns_of "$1")" "$r"; else echo "no runs"; fi
}

sysctl -qw kernel.bpf_stats_enabled=0
for streams in 1 4; do
	off=() tcx=() tc=() empty=()
	for r in $(seq "$ROUNDS"); do
		# rotate the order so drift does not favour one side
		for k in $(seq 0 3); do
			case $(((r + k) % 4)) in
			0) off+=("$(gbps "$streams")") ;;
			1) dp_start "$PFDP" tcx; tcx+=("$(gbps "$streams")"); dp_stop ;;
			2) dp_start "$PFDP" tc; tc+=("$(gbps "$streams")"); dp_stop ;;
			3) dp_start "$PFDP" tcx -E; empty+=("$(gbps "$streams")"); dp_stop ;;
			esac
		done
	done
	moff=$(printf '%s\n' "${off[@]}" | median)
	mtcx=$(printf '%s\n' "${tcx[@]}" | median)
	mtc=$(printf '%s\n' "${tc[@]}" | median)
	mem=$(printf '%s\n' "${empty[@]}" | median)
	printf '%d stream(s): median without %s Gbit/s, tcx %s, clsact %s, empty programs (tcx) %s\n' \
		"$streams" "$moff" "$mtcx" "$mtc" "$mem"
	printf '  rounds without: %s\n  rounds tcx:     %s\n  rounds clsact:  %s\n  rounds empty:   %s\n' \
		"${off[*]}" "${tcx[*]}" "${tc[*]}" "${empty[*]}"
	# each round ran the four sides one after the other: the median of
	# the rounds' own ratios is not moved by the VM drifting between rounds
	rr() { paste -d' ' <(printf '%s\n' "${off[@]}") <(printf '%s\n' "$@") |
		awk '$1 > 0 { print $2 / $1 }' | median; }
	printf '  ratio with/without (%d stream), median of the rounds'"'"' ratios: tcx %.3f, clsact %.3f (target >= 0.95); empty programs %.3f (the hook'"'"'s own share)\n' \
		"$streams" "$(rr "${tcx[@]}")" "$(rr "${tc[@]}")" "$(rr "${empty[@]}")"
	awk -v a="$mtcx" -v c="$mtc" -v b="$moff" -v e="$mem" \
		'BEGIN { printf "  (ratio of the medians: tcx %.3f, clsact %.3f, empty %.3f)\n", a / b, c / b, e / b }'
done

echo
echo "== datapath: ns per invocation under iperf3 traffic (kernel bpf_stats)"
sysctl -qw kernel.bpf_stats_enabled=1
# prog_run NAME-REGEX: ids of the two programs just attached
prog_ids() { bpftool prog show 2>/dev/null | awk -F: -v re="$1" '$0 ~ " name " re " " { print $1 }' | tail -n 2; }
for streams in 1 4; do
	# the empty programs attached the same way first: the hook's own cost
	dp_start "$PFDP" tcx -E
	ids=$(prog_ids 'pf_tc_empty(_egress)?')
	gbps "$streams" >/dev/null
	e_in=0 e_eg=0
	for id in $ids; do
		case $(bpftool prog show id "$id") in
		*pf_tc_empty_egress*) e_eg=$(ns_of "$id") ;;
		*) e_in=$(ns_of "$id") ;;
		esac
	done
	dp_stop
	for mode in tcx tc; do
		dp_start "$PFDP" "$mode"
		ids=$(prog_ids 'pf_tc_(ingress|egress)')
		gbps "$streams" >/dev/null
		for id in $ids; do
			name=$(bpftool prog show id "$id" | awk '{ for (i = 1; i < NF; i++) if ($i == "name") print $(i + 1) }')
			case $name in
			pf_tc_ingress) e=$e_in target=120 ;;
			*) e=$e_eg target=200 ;;
			esac
			printf '%s, %d stream(s): %-13s %s; empty program %.0f ns: %.2fx (target <= %d ns)\n' \
				"$mode" "$streams" "$name" "$(prog_ns "$id")" "$e" \
				"$(awk -v a="$(ns_of "$id")" -v b="$e" 'BEGIN { print (b > 0 ? a / b : 0) }')" "$target"
		done
		dp_stop
	done
done
echo "  (reference on these VMs: ePPing's aggregation mode ~800 ns per ingress and ~950 per egress"
echo "   invocation, issue 10; its 0.35x would be 280 and 330 ns)"
