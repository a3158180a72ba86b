#!/bin/bash
# The test harness's delays are what the tests are told they are: through
# cli - dlya - shp - dlyb - srv, each customer's ping RTT to the server is
# its access delay plus the server's internet delay (median within 1.5 ms),
# for IPv4 and IPv6, also under iperf3 load; a MIN-MAX/PERIOD rule sweeps
# its range; an address without a rule gets no access delay.
set -u
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

TOL=1.5			# ms, on a median
INET=10			# ms, the server's internet delay
SRV4=198.19.0.1 SRV6=2001:db8:2::1
# name v4 v6 access-delay
CUSTOMERS=(
	"c5 198.18.1.10 2001:db8:1::10 5"
	"c20 198.18.1.20 2001:db8:1::20 20"
	"c80 198.18.1.30 2001:db8:1::30 80"
	"none 198.18.1.99 2001:db8:1::99 0"
)
VAR4=198.18.1.40 VAR6=2001:db8:1::40 VAR_MIN=10 VAR_MAX=50 VAR_PERIOD=2

if ! command -v ping >/dev/null; then
	not_ok "ping is not installed (Debian package iputils-ping)"
	exit 1
fi
# shellcheck disable=SC2119  # no options: delays on, offloads on
if ! topo_setup; then
	not_ok "topology setup"
	exit 1
fi

rules="$VAR4=$VAR_MIN-$VAR_MAX/$VAR_PERIOD $VAR6=$VAR_MIN-$VAR_MAX/$VAR_PERIOD"
for c in "${CUSTOMERS[@]}"; do
	read -r name a4 a6 d <<<"$c"
	topo_add_customer "$a4" "$a6" || exit 1
	[ "$d" = 0 ] || rules+=" $a4=$d $a6=$d"
done
topo_add_customer "$VAR4" "$VAR6" || exit 1
topo_add_server "$SRV4" "$SRV6" || exit 1
if topo_delay_access "$rules" && topo_delay_internet "$SRV4=$INET $SRV6=$INET"; then
	ok "delaylines started"
else
	not_ok "delaylines started"
	exit 1
fi

# check_median NAME SRC DST EXPECT FILE: the median RTT in FILE is EXPECT.
check_median() {
	local n min med max
	read -r n min med max <"$5"
	if [ "$n" -ge 8 ] && within "$med" "$4" "$TOL"; then
		ok "$1 $2 -> $3: median RTT $med ms, want $4 +- $TOL ($n pings, min $min max $max)"
	else
		not_ok "$1 $2 -> $3: median RTT $med ms, want $4 +- $TOL ($n pings, min $min max $max)"
	fi
}

# All pings at once: constant rules 10 at 0.1 s, the varying rule 150 at
# 20 ms over 1.5 periods (the delay moves 0.8 ms between two pings).
run_pings() {
	local tag=$1 c name a4 a6 d pids=()
	for c in "${CUSTOMERS[@]}"; do
		read -r name a4 a6 d <<<"$c"
		topo_ping_rtts "$a4" "$SRV4" 10 | topo_summary >"$TOPO_DIR/$tag-$name-4" &
		pids+=($!)
		topo_ping_rtts "$a6" "$SRV6" 10 | topo_summary >"$TOPO_DIR/$tag-$name-6" &
		pids+=($!)
	done
	if [ "$tag" = idle ]; then
		topo_ping_rtts "$VAR4" "$SRV4" 150 0.02 >"$TOPO_DIR/var-4" &
		pids+=($!)
		topo_ping_rtts "$VAR6" "$SRV6" 150 0.02 >"$TOPO_DIR/var-6" &
		pids+=($!)
	fi
	wait "${pids[@]}"
}

check_pings() {
	local tag=$1 c name a4 a6 d
	for c in "${CUSTOMERS[@]}"; do
		read -r name a4 a6 d <<<"$c"
		check_median "$tag" "$a4" "$SRV4" $((d + INET)) "$TOPO_DIR/$tag-$name-4"
		check_median "$tag" "$a6" "$SRV6" $((d + INET)) "$TOPO_DIR/$tag-$name-6"
	done
}

# late_max_ms dlya|dlyb: the delay line's largest lateness so far, in ms.
late_max_ms() {
	topo_delay_stats "$1" | sed -n 's/.*late mean [0-9.]* us, max \([0-9.]*\) us.*/\1/p' |
		tail -n1 | awk '{ printf "%.3f", $1 / 1000 }'
}

# The varying rule: the RTTs reach both ends of MIN..MAX (+ internet), and
# none falls outside it. Above the peak an RTT may carry what the path adds
# by itself: its own RTT (the undelayed customer's median less the internet
# delay) and the lateness each delay line reports for this phase.
check_varying() {
	local src=$1 file=$2 slack=$3 n min med max lo=$((VAR_MIN + INET)) hi=$((VAR_MAX + INET))
	read -r n min med max < <(topo_summary <"$file")
	if [ "$n" -ge 120 ] && within "$min" $((lo + 1)) 1.5 &&
	   fcmp "$max >= $hi - 2.5 && $max <= $hi + $slack"; then
		ok "varying $src: RTTs span $min..$max ms, want $lo..$hi (+$slack ms path) ($n pings)"
	else
		not_ok "varying $src: RTTs span $min..$max ms, want $lo..$hi (+$slack ms path) ($n pings)"
	fi
}

# check_delayline dlya|dlyb: nothing dropped or failed, released on time.
check_delayline() {
	local stats drop werr mean
	stats=$(topo_delay_stats "$1")
	echo "$stats"
	drop=$(echo "$stats" | sed -n 's/.* \([0-9]*\) dropped.*/\1/p' | tail -n1)
	werr=$(echo "$stats" | sed -n 's/.* \([0-9]*\) write errors.*/\1/p' | tail -n1)
	mean=$(echo "$stats" | sed -n 's/.*late mean \([0-9.]*\) us.*/\1/p' | tail -n1)
	if [ "$drop" = 0 ] && [ "$werr" = 0 ] && fcmp "${mean:-1e9} < 100"; then
		ok "$1: 0 dropped, 0 write errors, mean lateness $mean us < 100 us"
	else
		not_ok "$1: ${drop:-?} dropped, ${werr:-?} write errors, mean lateness ${mean:-?} us"
	fi
}

run_pings idle
check_pings idle
read -r _ _ base _ <"$TOPO_DIR/idle-none-4"
slack=$(awk -v b="$base" -v i=$INET -v a="$(late_max_ms dlya)" -v c="$(late_max_ms dlyb)" \
	'BEGIN { printf "%.3f", (b - i > 0 ? b - i : 0) + a + c }')
check_varying "$VAR4" "$TOPO_DIR/var-4" "$slack"
check_varying "$VAR6" "$TOPO_DIR/var-6" "$slack"

# Same again while two customers move 10 Mbit/s each way.
topo_iperf_client 198.18.1.10 "$SRV4" 4 10M &&
topo_iperf_client 2001:db8:1::20 "$SRV6" 4 10M || not_ok "iperf3 start"
sleep 1
run_pings load
check_pings load
if topo_iperf_wait; then
	ok "iperf3 bidirectional runs finished"
else
	not_ok "iperf3 bidirectional runs finished"
	sed 's/^/# /' "$TOPO_DIR"/iperf-client-*.log | tail -n 20
fi

check_delayline dlya
check_delayline dlyb
topo_exit
