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
. "$(dirname "$0")/../tests/e2e/lib.sh"
PFDP=$TOPO_ROOT/$OUT/pingfold-dp
[[ $OUT == /* ]] && PFDP=$OUT/pingfold-dp

topo_setup nooffload nodelay || exit 1
topo_add_customer 198.18.1.10
topo_add_server 198.19.0.1
topo_iperf_server 5201 || exit 1

old_stats=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -qw kernel.bpf_stats_enabled=$old_stats; topo_cleanup' EXIT

# gbps STREAMS: one iperf3 run from the customer, received rate in Gbit/s
gbps() {
	topo_exec cli iperf3 -c 198.19.0.1 -B 198.18.1.10 -p 5201 -t "$SECS" \
		-P "$1" -J 2>/dev/null |
		awk -F'[:,]' '/"sum_received"/ { f = 1 } f && /"bits_per_second"/ { printf "%.3f\n", $2 / 1e9; exit }'
}

# prog_ns ID: run_time_ns / run_cnt of loaded program ID
prog_ns() {
	bpftool prog show id "$1" 2>/dev/null |
		awk '{ for (i = 1; i < NF; i++) { if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") c = $(i + 1) } }
		     END { if (c > 0) printf "%.0f ns/packet (%d runs)", t / c, c; else print "no runs" }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# dp_start MODE [ARGS] / dp_stop: pingfold-dp on the shaper's customer-facing
# interface, attached with tcx or tc (clsact); ARGS -E: empty programs instead.
dp_start() {
	DP_LOG=$TOPO_DIR/pfdp-$RANDOM.log
	topo_bg shp "$DP_LOG" "$PFDP" -i "$SHP_CUST_IF" -c 0=198.18.1.0/24 -f 65536 -a "$@"
	DP_PID=$TOPO_LAST_PID
	for _ in $(seq 100); do grep -qs '^ready' "$DP_LOG" && break; sleep 0.05; done
}
dp_stop() { kill -TERM "$DP_PID"; wait "$DP_PID" 2>/dev/null; }

sysctl -qw kernel.bpf_stats_enabled=0
for streams in 1 4; do
	off=() tcx=() tc=() empty=()
	for r in $(seq "$ROUNDS"); do
		# rotate the order so drift does not favour one side
		for k in $(seq 0 3); do
			case $(((r + k) % 4)) in
			0) off+=("$(gbps "$streams")") ;;
			1) dp_start tcx; tcx+=("$(gbps "$streams")"); dp_stop ;;
			2) dp_start tc; tc+=("$(gbps "$streams")"); dp_stop ;;
			3) dp_start tcx -E; empty+=("$(gbps "$streams")"); dp_stop ;;
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
# ns_of ID: run_time_ns / run_cnt
ns_of() { bpftool prog show id "$1" | awk '{ for (i = 1; i < NF; i++) { if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") c = $(i + 1) } } END { print (c > 0 ? t / c : 0) }'; }
for streams in 1 4; do
	# the empty programs attached the same way first: the hook's own cost
	dp_start tcx -E
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
		dp_start "$mode"
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
