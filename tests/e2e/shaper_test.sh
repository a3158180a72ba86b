#!/bin/bash
# pingfold-agent as a guest on a LibreQoS-style shaper box, with tcx and
# with clsact filters (--attach tc). The shaper is tests/tools/shaper.bpf.c,
# a stand-in written here: XDP cpumap redirect on both interfaces, an egress
# classifier at priorities 1 and 0xC02F (handle 1) that sets the HTB class
# and returns TC_ACT_OK, MQ with one HTB per TX queue (2 queues, XPS CPU n
# -> queue n). Its "start" is lqosd's: delete clsact, add clsact, attach.
# Customer A (CPU 0) is shaped to 20 Mbit/s, B (CPU 1) to 50 Mbit/s.
# The agent is attached to the customer-facing interface only.
#
# For each mode, in order: pingfold first then the shaper; the shaper
# restarted twice; the agent killed with SIGKILL and restarted; the agent
# exits; --detach; the shaper first then pingfold; --detach-on-exit. After
# each step: both customers' download rates within 10% of their HTB rate
# (never above once pingfold is gone); the shaper's filters and XDP (tc
# filter show, bpftool net) identical to what its start made; and after a
# shaper start, samples for both customers in both halves within two
# intervals, with the re-attachment counted (clsact) or not needed (tcx).
set -u
. "$(dirname "$0")/lib.sh"

B=${OUT:-build}
[[ $B == /* ]] || B=$TOPO_ROOT/$B
AGENT=$B/pingfold-agent PFDP=$B/pingfold-dp PFSUB=$B/tests/tools/pfsub
SHAPER=$B/tests/tools/pf-shaper
INTERVAL_MS=500
A=198.18.1.10 BB=198.18.1.20 SRV=198.19.0.1
RATE_A=20 RATE_B=50

TOPO_NO_TXCSUM=1 TOPO_QUEUES=2 topo_setup nooffload nodelay || exit 1
BPFFS=$(mktemp -d)
mount -t bpf bpf "$BPFFS" || exit 1
trap 'topo_cleanup; umount "$BPFFS"; rmdir "$BPFFS"' EXIT
topo_add_customer $A $BB
topo_add_server $SRV

shp() { ip netns exec "$NS_SHP" "$@"; }

# MQ + one HTB per TX queue on both shaper interfaces, XPS CPU n -> queue n
htb_setup() {
	local ifc q
	for ifc in "$SHP_CUST_IF" "$SHP_INET_IF"; do
		shp sh -c "echo 1 > /sys/class/net/$ifc/queues/tx-0/xps_cpus &&
			   echo 2 > /sys/class/net/$ifc/queues/tx-1/xps_cpus" || return 1
		shp tc qdisc replace dev "$ifc" root handle 7fff: mq || return 1
		for q in 1 2; do
			shp tc qdisc add dev "$ifc" parent 7fff:$q handle $q: htb default 2 &&
			shp tc class add dev "$ifc" parent $q: classid $q:1 htb rate 10gbit &&
			shp tc class add dev "$ifc" parent $q:1 classid $q:2 htb rate 10gbit &&
			shp tc class add dev "$ifc" parent $q:1 classid $q:10 htb \
				rate ${RATE_A}mbit ceil ${RATE_A}mbit &&
			shp tc class add dev "$ifc" parent $q:1 classid $q:11 htb \
				rate ${RATE_B}mbit ceil ${RATE_B}mbit || return 1
		done
	done
}
check "MQ with an HTB per TX queue, XPS on both shaper interfaces" htb_setup

shaper_start() {
	shp "$SHAPER" start -i "$SHP_CUST_IF" -i "$SHP_INET_IF" \
		-c $A=0:10 -c $BB=1:11 -p 1 -p 0xC02F
}

# The shaper's parts: its filters (ours left out) and XDP, by program id.
shaper_parts() {
	local ifc dir
	for ifc in "$SHP_CUST_IF" "$SHP_INET_IF"; do
		for dir in ingress egress; do
			shp tc filter show dev "$ifc" $dir | grep handle | grep -v 'handle 0x7066' |
				sed "s/^/$ifc $dir: /"
		done
		shp bpftool net show dev "$ifc" | grep -v pf_tc_ | grep -E 'xdp|clsact|id'
	done
}

# Long-running light traffic both ways for the samples: 300 kbit/s each
# direction and customer, well inside both HTB rates, in 1400-byte writes
# (iperf3's default 128 KiB would send one burst every 3.5 s).
TOPO_IPERF_DIR=--bidir
topo_iperf_client $A $SRV 600 300K -l 1400
topo_iperf_client $BB $SRV 600 300K -l 1400
TOPO_CLIENTS=()	# not waited for by rates_ok; stopped at cleanup

# rates_ok WHAT: concurrent downloads (iperf3 -R, 3 s after a 1 s warm-up)
# at HTB rate +-10%. HTB counts Ethernet frames, iperf3 TCP payload: 1448
# of 1514 bytes is 0.956, less the 0.3 Mbit/s of light traffic, so a
# correct shaper reads about 0.94 of its rate; an unshaped one 20-50x.
rates_ok() {
	local what=$1 la lb ra rb
	TOPO_IPERF_DIR=-R topo_iperf_client $A $SRV 3 0 -O 1 -J
	la=$TOPO_LAST_LOG
	TOPO_IPERF_DIR=-R topo_iperf_client $BB $SRV 3 0 -O 1 -J
	lb=$TOPO_LAST_LOG
	if ! topo_iperf_wait; then
		not_ok "$what: iperf3 failed"
		return
	fi
	ra=$(jq '.end.sum_received.bits_per_second / 1e5 | round / 10' "$la")
	rb=$(jq '.end.sum_received.bits_per_second / 1e5 | round / 10' "$lb")
	if within "$ra" $RATE_A $(awk "BEGIN{print $RATE_A * 0.1}") &&
	   within "$rb" $RATE_B $(awk "BEGIN{print $RATE_B * 0.1}"); then
		ok "$what: download rates $ra and $rb Mbit/s (HTB $RATE_A and $RATE_B)"
	else
		not_ok "$what: download rates $ra and $rb Mbit/s, want $RATE_A and $RATE_B +-10%"
	fi
}

parts_same() {
	local what=$1 now
	now=$(shaper_parts)
	if [ "$now" = "$PARTS" ] && [ -n "$now" ]; then
		ok "$what: the shaper's filters and XDP are as its start left them"
	else
		not_ok "$what: the shaper's parts changed"
		diff <(echo "$PARTS") <(echo "$now") | sed 's/^/#   /'
	fi
}

# an aggregator, for the box health that `pingfold boxes` shows
topo_bg shp "$TOPO_DIR/aggregator.log" "$B/pingfold-aggregator" -a tcp://127.0.0.1:7700 \
	-q tcp://127.0.0.1:7800

SUB=$TOPO_DIR/pfsub.out
topo_bg shp "$SUB" "$PFSUB" -k -u tcp://127.0.0.1:7700 -t 900
hstat() { awk -v n="$1" '$1 == "hstat" && $3 == n { v = $4 } END { print v + 0 }' "$SUB"; }

# samples_ok WHAT: the second delta to arrive from now holds both
# customers' access and internet halves: re-attached within one interval,
# counting again by the next. (A delta's dkey lines come before it.)
ndeltas() { grep -cE '^delta .* (live|replay)$' "$SUB"; }
samples_ok() {
	local what=$1 want got
	want=$(($(ndeltas) + 2))
	for _ in $(seq $((4 * 1000 / INTERVAL_MS * 10))); do
		[ "$(ndeltas)" -ge "$want" ] && break
		sleep 0.1
	done
	got=$(awk -v w=$want '
		$1 == "dkey" && $6 > 0 { k[$4 "/" $5] = 1 }
		$1 == "delta" && ($7 == "live" || $7 == "replay") {
			if (++n == w) { for (x in k) print x; exit }
			delete k
		}' "$SUB" | sort | tr '\n' ' ')
	if [ "$got" = "custA/access custA/internet custB/access custB/internet " ]; then
		ok "$what: samples for both customers, both halves, by the 2nd delta"
	else
		not_ok "$what: the 2nd delta has samples for '${got}' only"
	fi
}

AGENT_N=0
start_agent() {
	local i
	AGENT_N=$((AGENT_N + 1))
	AGENT_LOG=$TOPO_DIR/agent-$MODE-$AGENT_N.log
	topo_bg shp "$AGENT_LOG" "$AGENT" "${ARGS[@]}" "$@"
	AGENT_PID=$TOPO_LAST_PID
	for i in $(seq 200); do
		grep -q "running:" "$AGENT_LOG" && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.05
	done
	sed 's/^/#   /' "$AGENT_LOG"
	return 1
}

stop_agent() {
	kill -"$1" "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
}

# Our programs on the customer interface: tcx links pinned, or filters.
ours_attached() {
	if [ "$MODE" = tcx ]; then
		[ -e "$PIN/tcx-$SHP_CUST_IF-ingress" ] && [ -e "$PIN/tcx-$SHP_CUST_IF-egress" ]
	else
		[ "$(shp tc filter show dev "$SHP_CUST_IF" ingress | grep -c 'handle 0x7066')" = 1 ] &&
		[ "$(shp tc filter show dev "$SHP_CUST_IF" egress | grep -c 'handle 0x7066')" = 1 ]
	fi
}
ours_gone() {
	[ ! -e "$PIN/tcx-$SHP_CUST_IF-ingress" ] && [ ! -e "$PIN/tcx-$SHP_CUST_IF-egress" ] &&
	! shp tc filter show dev "$SHP_CUST_IF" ingress | grep -q 'handle 0x7066' &&
	! shp tc filter show dev "$SHP_CUST_IF" egress | grep -q 'handle 0x7066'
}

shaper_restart() {
	local what=$1 before
	before=$(hstat hook_reattached)
	shaper_start || { not_ok "$what: shaper start failed"; return; }
	PARTS=$(shaper_parts)
	samples_ok "$what"
	parts_same "$what"
	if [ "$MODE" = tc ]; then
		if [ "$(hstat hook_reattached)" -gt "$before" ] &&
		   grep -q "clsact filter is gone" "$AGENT_LOG"; then
			ok "$what: re-attachment counted ($(hstat hook_reattached)) and logged"
		else
			not_ok "$what: re-attachment not counted or not logged"
		fi
	else
		check "$what: tcx links untouched by the clsact reset (no re-attachment)" \
			test "$(hstat hook_reattached)" = "$before"
	fi
	check "$what: every hook attached and first" \
		test "$(hstat hook_missing)$(hstat hook_not_first)" = 00
}

for MODE in tcx tc; do
	PIN=$BPFFS/pingfold-$MODE
	ARGS=(-i "$SHP_CUST_IF" -C "$TOPO_DIR/customers.txt" -b box1 -n $INTERVAL_MS
	      -l tcp://127.0.0.1:7700 --state-dir "$TOPO_DIR/state-$MODE" --pin-dir "$PIN"
	      --max-customers 64 --max-flows 65536 --attach $MODE)
	printf 'custA %s\ncustB %s\n' $A $BB > "$TOPO_DIR/customers.txt"
	diag "--- attach $MODE"

	check "$MODE: agent starts before the shaper" start_agent
	check "$MODE: agent attached with $MODE" ours_attached
	shaper_restart "$MODE: shaper started after pingfold"
	rates_ok "$MODE: shaper started after pingfold"
	shaper_restart "$MODE: shaper restarted (1)"
	shaper_restart "$MODE: shaper restarted (2)"
	rates_ok "$MODE: after two shaper restarts"
	# "box1 ok ... reatt blind": what the agent's last stats said
	boxes=$(shp "$B/pingfold" -s tcp://127.0.0.1:7800 boxes | awk '$1 == "box1"')
	diag "pingfold boxes: $boxes"
	if [ "$MODE" = tc ]; then
		check "$MODE: pingfold boxes shows the re-attachments and blind intervals" \
			awk -v r="$(hstat hook_reattached)" '$1 == "box1" && $2 == "ok" &&
				$(NF - 1) >= 6 && $(NF - 1) <= r + 0 && $NF >= 3 { f = 1 } END { exit !f }' <<<"$boxes"
	else
		check "$MODE: pingfold boxes shows no re-attachment" \
			awk '$1 == "box1" && $2 == "ok" && $(NF - 1) == 0 { f = 1 } END { exit !f }' <<<"$boxes"
	fi

	stop_agent KILL
	parts_same "$MODE: agent killed with SIGKILL"
	check "$MODE: agent restarts on the same pins" start_agent
	samples_ok "$MODE: agent restarted"
	parts_same "$MODE: agent restarted"
	rates_ok "$MODE: agent restarted"

	stop_agent TERM
	parts_same "$MODE: agent exited"
	check "$MODE: an exiting agent leaves its programs counting" ours_attached
	rates_ok "$MODE: agent exited"

	shp "$AGENT" "${ARGS[@]}" --detach > "$TOPO_DIR/detach-$MODE.log" 2>&1
	check "$MODE: --detach removes pingfold's programs" ours_gone
	parts_same "$MODE: after --detach"
	rates_ok "$MODE: after --detach"

	shaper_start
	PARTS=$(shaper_parts)
	check "$MODE: agent starts after the shaper" start_agent --detach-on-exit
	samples_ok "$MODE: pingfold started after the shaper"
	parts_same "$MODE: pingfold started after the shaper"
	rates_ok "$MODE: pingfold started after the shaper"
	stop_agent TERM
	check "$MODE: --detach-on-exit removes pingfold's programs" ours_gone
	parts_same "$MODE: after --detach-on-exit"
	rates_ok "$MODE: after --detach-on-exit"
	shp "$SHAPER" stop -i "$SHP_CUST_IF" -i "$SHP_INET_IF"
done

# A filter of another kind at the wanted priority is named; with priority
# chosen, pingfold goes behind it, says so, and reports that it is blind.
shp tc qdisc add dev "$SHP_INET_IF" clsact
shp tc filter add dev "$SHP_INET_IF" ingress prio 1 protocol ip u32 match u32 0 0 flowid 1:1
out=$TOPO_DIR/pfdp-u32.out
shp "$PFDP" -i "$SHP_INET_IF" -a tc -P 1 -t 1 >"$out" 2>&1
check "clsact: priority 1 held by a u32 filter is refused, naming it" \
	grep -q "priority 1 holds tc filter priority 1 handle .* u32" "$out"
shp "$PFDP" -i "$SHP_INET_IF" -a tc -n 300 -t 2 >"$out" 2>&1
check "clsact: chosen priority behind the u32 filter, said in the log" \
	grep -q "u32.* runs before pingfold's program" "$out"
check "clsact: the hook is reported not first and not running" \
	grep -q "^hooks tcx 0 missing 0 not_first 1 not_running 1 " "$out"
grep '^hooks' "$out" | sed 's/^/# /'

topo_exit
