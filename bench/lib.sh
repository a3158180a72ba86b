# shellcheck shell=bash
# What bench/run.sh and bench/ab.sh share: the shaper namespace with one
# customer and one iperf3 server, and pingfold-dp attached to it. Source
# after setting SECS; uses tests/e2e/lib.sh.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib.sh"

# bench_topo: client -> shaper -> server, TSO/GSO off, no delay line, an
# iperf3 server; bpf_stats put back and everything removed at exit.
bench_topo() {
	topo_setup nooffload nodelay || exit 1
	topo_add_customer 198.18.1.10
	topo_add_server 198.19.0.1
	topo_iperf_server 5201 || exit 1
	BENCH_OLD_STATS=$(sysctl -n kernel.bpf_stats_enabled)
	trap 'sysctl -qw kernel.bpf_stats_enabled=$BENCH_OLD_STATS; topo_cleanup' EXIT
}

# gbps STREAMS: one iperf3 run of SECS seconds from the customer, received
# rate in Gbit/s
# shellcheck disable=SC2153  # SECS: set by the script that sources this
gbps() {
	topo_exec cli iperf3 -c 198.19.0.1 -B 198.18.1.10 -p 5201 -t "$SECS" \
		-P "$1" -J 2>/dev/null |
		awk -F'[:,]' '/"sum_received"/ { f = 1 } f && /"bits_per_second"/ { printf "%.3f\n", $2 / 1e9; exit }'
}

# ns_of ID: run_time_ns / run_cnt of loaded program ID (0 before any run)
ns_of() {
	bpftool prog show id "$1" | awk '{ for (i = 1; i < NF; i++) { if ($i == "run_time_ns") t = $(i + 1); if ($i == "run_cnt") c = $(i + 1) } }
		END { print (c > 0 ? t / c : 0) }'
}

# runs_of ID: run_cnt of loaded program ID
runs_of() {
	bpftool prog show id "$1" | awk '{ for (i = 1; i < NF; i++) if ($i == "run_cnt") c = $(i + 1) } END { print c + 0 }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# dp_start BIN MODE [ARGS] / dp_stop: pingfold-dp BIN on the shaper's
# customer-facing interface, attached with tcx or tc (clsact); ARGS -E:
# the empty programs instead.
dp_start() {
	local bin=$1

	shift
	DP_LOG=$TOPO_DIR/pfdp-$RANDOM.log
	topo_bg shp "$DP_LOG" "$bin" -i "$SHP_CUST_IF" -c 0=198.18.1.0/24 -f 65536 -a "$@"
	DP_PID=$TOPO_LAST_PID
	for _ in $(seq 100); do grep -qs '^ready' "$DP_LOG" && break; sleep 0.05; done
}
dp_stop() { kill -TERM "$DP_PID"; wait "$DP_PID" 2>/dev/null; }
