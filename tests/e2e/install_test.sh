#!/bin/bash
# Deployment (issue 6, tests 2 and 3):
#  - make install DESTDIR=... PREFIX=/usr produces the tree docs/operations.md
#    lists, nothing more; the programs run; paths are fixed up to PREFIX;
#  - the systemd units pass systemd-analyze verify and its security review,
#    and the agent's capability set is exactly what the datapath needs;
#  - make deb: the same tree, with the Depends of the linked libraries;
#  - the example configs hold, and the docs describe, every setting;
#  - pingfold-rollout: check on the example inventory passes, on broken
#    ones fails naming FILE:LINE; install, with stand-ins for ssh and scp,
#    writes a fake root from the .deb; the agent and the aggregator run
#    from it as their units would (capabilities, an unprivileged user) in
#    a private network namespace, and status sees the box.
set -u
. "$(dirname "$0")/lib.sh"

ROOT=$TOPO_ROOT
O=${OUT:-build}
B=$O
[[ $B == /* ]] || B=$ROOT/$B
T=$(mktemp -d)
NS=pfinst$$
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	mountpoint -q "$T/bpffs" && umount "$T/bpffs"
	rm -rf "$T"
}
trap cleanup EXIT
chmod 0755 "$T"

MAKE=(make -C "$ROOT" --no-print-directory OUT="$O")
# until the Makefile includes deploy/install.mk itself
grep -q '^include deploy/install.mk' "$ROOT/Makefile" ||
	MAKE+=(-f Makefile -f deploy/install.mk)
ROLLOUT=$ROOT/deploy/rollout/pingfold-rollout
DEST=$T/dest
P=$DEST/usr

# --- make install ----------------------------------------------------------

if "${MAKE[@]}" install DESTDIR="$DEST" PREFIX=/usr >"$T/install.log" 2>&1; then
	ok "make install DESTDIR=... PREFIX=/usr"
else
	not_ok "make install: $(tail -n 5 "$T/install.log")"
	topo_exit
fi

# The documented tree: the first code block after '### Installed files'.
awk '/^### Installed files/ { s = 1 } s && /^```/ { if (b) exit; b = 1; next } b { print $1 }' \
	"$ROOT/docs/operations.md" | grep '^PREFIX/' | sed 's|^PREFIX/||' >"$T/documented"
missing=""
while read -r p; do
	if [[ $p == */ ]]; then
		[ -n "$(ls -A "$P/$p" 2>/dev/null)" ] || missing+=" $p"
	else
		[ -f "$P/$p" ] || missing+=" $p"
	fi
done <"$T/documented"
if [ "$(wc -l <"$T/documented")" -ge 20 ] && [ -z "$missing" ]; then
	ok "every path docs/operations.md lists is installed ($(wc -l <"$T/documented") paths)"
else
	not_ok "documented paths missing from the install:${missing:- (the list has only $(wc -l <"$T/documented") paths)}"
fi
# ...and nothing is installed that the list does not cover
(cd "$P" && find . -type f | sed 's|^\./||' | sort) >"$T/installed"
extra=""
while read -r f; do
	covered=0
	while read -r p; do
		if [ "$f" = "$p" ] || { [[ $p == */ ]] && [[ $f == "$p"* ]]; }; then covered=1; break; fi
	done <"$T/documented"
	[ $covered = 1 ] || extra+=" $f"
done <"$T/installed"
check "nothing installed beyond the documented tree${extra:+: $extra}" test -z "$extra"
[ -z "$(cd "$DEST" && ls -A | grep -vx usr)" ]
check "make install writes only under PREFIX" test $? -eq 0

bad=""
for prog in pingfold-agent pingfold-aggregator pingfold pingfold-dp pingfold-rollout; do
	out=$("$P/bin/$prog" --help 2>&1) && [[ $out == Usage:* ]] || bad+=" $prog"
done
check "the installed programs run: --help prints their usage${bad:+ (not:$bad)}" test -z "$bad"

if command -v man >/dev/null; then
	bad=""
	for m in man8/pingfold-agent.8 man8/pingfold-aggregator.8 man1/pingfold.1 man8/pingfold-dp.8; do
		name=${m#*/}; name=${name%.*}
		warn=$(MANWIDTH=100 man --warnings -l "$P/share/man/$m" 2>&1 >"$T/man.txt")
		opts=$("$P/bin/$name" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u)
		miss=$(grep -oE -- '--[a-z][a-z-]+' "$T/man.txt" | sort -u | comm -13 - <(echo "$opts"))
		grep -q "^ *$name - " "$T/man.txt" && [ -n "$opts" ] && [ -z "$miss" ] &&
			[ -z "$warn" ] || bad+=" $m${warn:+ ($warn)}${miss:+ (lacks $miss)}"
	done
	check "the man pages render without warnings, with NAME and every option of --help${bad:+:$bad}" \
		test -z "$bad"
else
	diag "skip: man pages not rendered (no man)"
fi

# Paths fixed up to PREFIX: a second install with the default /usr/local.
"${MAKE[@]}" install DESTDIR="$T/local" >/dev/null 2>&1
U=$T/local/usr/local/lib/systemd/system
grep -qx 'ExecStart=/usr/local/bin/pingfold-agent -c /etc/pingfold/agent.conf $PINGFOLD_AGENT_OPTS' \
	"$U/pingfold-agent.service" 2>/dev/null &&
grep -q '^ExecStart=/usr/local/bin/pingfold-aggregator ' "$U/pingfold-aggregator.service" &&
grep -qx 'EXAMPLES=/usr/local/share/pingfold/examples' "$T/local/usr/local/bin/pingfold-rollout" &&
grep -q '^ExecStart=/usr/bin/pingfold-agent ' "$P/lib/systemd/system/pingfold-agent.service"
check "units and pingfold-rollout name the programs and examples under PREFIX" test $? -eq 0
"${MAKE[@]}" uninstall DESTDIR="$T/local" >/dev/null 2>&1
left=$(cd "$T/local" && find . -type f)
check "make uninstall removes every file it installed${left:+ (left: $left)}" test -z "$left"

# --- the units ------------------------------------------------------------

UNITS=$P/lib/systemd/system
# systemd-analyze verify needs no running systemd (it loads the units
# itself), but it checks that ExecStart's program exists, on this host:
# copies of the units name the installed programs under DESTDIR, so a unit
# naming a path outside the installed tree still fails. MANPATH lets it
# find our man pages (Documentation=man:...). Unknown keys are only
# warnings (exit 0): any output fails the check.
verify_units() {	# verify_units DIR
	MANPATH=$P/share/man systemd-analyze verify "$1"/pingfold-* 2>&1
}
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/units"
	for u in "$UNITS"/pingfold-*; do
		sed "s|=/usr/bin/pingfold|=$P/bin/pingfold|" "$u" >"$T/units/${u##*/}"
	done
	out=$(verify_units "$T/units")
	rc=$?
	check "systemd-analyze verify: the 4 units are clean${out:+: $out}" \
		test $rc -eq 0 -a -z "$out" -a "$(ls "$T/units" | wc -l)" -eq 4
	# the same check sees a mistake (so a clean result means something)
	cp -r "$T/units" "$T/units-bad"
	sed -i 's/^Restart=on-failure/Restart=on-failure\nRestrat=always/' \
		"$T/units-bad/pingfold-agent.service"
	check "systemd-analyze verify catches a misspelt key" \
		test -n "$(verify_units "$T/units-bad")"
	# --threshold counts tenths: 30 = an exposure level of 3.0
	for u in pingfold-agent.service:30 pingfold-aggregator.service:20; do
		out=$(systemd-analyze security --offline=yes --threshold="${u#*:}" \
			"$T/units/${u%:*}" 2>&1)
		rc=$?
		level=$(sed -n 's/.*exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
		check "systemd-analyze security: ${u%:*} exposure ${level:-?} is at most $((${u#*:} / 10)).$((${u#*:} % 10))" \
			test $rc -eq 0 -a -n "$level"
	done
else
	diag "skip: systemd-analyze is not installed (Debian package systemd): units not verified"
fi

unit_get() {	# unit_get FILE KEY: the values of KEY
	sed -n "s/^$2=//p" "$1"
}
A=$UNITS/pingfold-agent.service
G=$UNITS/pingfold-aggregator.service
[ "$(unit_get "$A" Restart)" = on-failure ] && [ "$(unit_get "$G" Restart)" = on-failure ]
check "both services restart on failure" test $? -eq 0
check "both services raise the descriptor limit (LimitNOFILE)" \
	test "$(unit_get "$A" LimitNOFILE)" -ge 4096 -a "$(unit_get "$G" LimitNOFILE)" -ge 16384
[ "$(unit_get "$A" RuntimeDirectory)" = pingfold ] &&
	[ "$(unit_get "$A" RuntimeDirectoryPreserve)" = yes ] &&
	grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$A"
check "the agent's state directory outlives restarts, and reload sends SIGHUP" test $? -eq 0
[ "$(unit_get "$G" DynamicUser)" = yes ] && [ -z "$(unit_get "$G" CapabilityBoundingSet)" ] &&
	[ -z "$(unit_get "$G" User)" ]
check "the aggregator runs as a dynamic user with no capabilities" test $? -eq 0
grep -q -- '--history-dir /var/lib/pingfold ' "$G" &&
	[[ " $(unit_get "$G" StateDirectory) " == *" pingfold "* ]]
check "the aggregator keeps its history in its state directory /var/lib/pingfold" test $? -eq 0
path=$UNITS/pingfold-agent-reload.path
grep -qx 'PathChanged=/opt/libreqos/src/ShapedDevices.csv' "$path" &&
	grep -qx 'PathChanged=/opt/libreqos/src/network.json' "$path" &&
	grep -qx 'ExecStart=/bin/systemctl try-reload-or-restart pingfold-agent.service' \
		"$UNITS/pingfold-agent-reload.service" && grep -qx 'Also=pingfold-agent-reload.path' "$A"
check "the .path unit reloads the agent when LibreQoS's files change" test $? -eq 0

# The capability set: the installed agent, run as its unit runs it (root's
# uid, the unit's bounding set, no new privileges), loads and attaches in a
# namespace of its own; without any one of the set it does not.
CAPS=$(unit_get "$A" CapabilityBoundingSet)
capset() {	# "CAP_BPF CAP_NET_ADMIN" -> "-all,+bpf,+net_admin"
	local c s=-all
	for c in $1; do s+=",+$(tr '[:upper:]' '[:lower:]' <<<"${c#CAP_}")"; done
	echo "$s"
}
mkdir -p "$T/bpffs" && mount -t bpf bpf "$T/bpffs"
ip netns add "$NS" && ip -n "$NS" link set lo up
printf 'lo 127.0.0.0/8 site=Loop\n' >"$T/lo.txt"
as_unit() {	# as_unit CAPS cmd...: the agent's unit's privileges
	local caps=$1
	shift
	ip netns exec "$NS" setpriv --bounding-set="$(capset "$caps")" --inh-caps=-all \
		--no-new-privs -- "$@"
}
once() {	# once CAPS
	as_unit "$1" "$P/bin/pingfold-agent" -i lo -C "$T/lo.txt" --pin-dir "$T/bpffs/once" \
		--state-dir "$T/once" --max-flows 4096 -n 200 --once --detach-on-exit -q \
		>"$T/once.log" 2>&1
}
if once "$CAPS"; then
	ok "the agent loads and attaches with only the unit's capabilities ($CAPS)"
else
	not_ok "the agent with the unit's capabilities ($CAPS): $(tail -n 3 "$T/once.log")"
fi
for c in $CAPS; do
	once "${CAPS//$c/}"
	check "without $c the datapath does not load (each capability is needed)" test $? -ne 0
done
ip netns exec "$NS" "$P/bin/pingfold-agent" --detach --pin-dir "$T/bpffs/once" \
	--state-dir "$T/once" -q 2>/dev/null

# The system calls the agent makes (strace of a --once run) are none of
# the groups its unit denies.
if command -v strace >/dev/null && command -v systemd-analyze >/dev/null; then
	as_unit "$CAPS" strace -f -qq -o "$T/trace" "$P/bin/pingfold-agent" -i lo -C "$T/lo.txt" \
		--pin-dir "$T/bpffs/once" --state-dir "$T/once" --max-flows 4096 -n 200 --once \
		--detach-on-exit -q -l tcp://127.0.0.1:7799 -r tcp://127.0.0.1:7798 >/dev/null 2>&1
	sed -e 's/^[0-9]* *//' -e 's/(.*//' "$T/trace" | grep -v '^[<+-]' | sort -u >"$T/used"
	denied=$(unit_get "$A" SystemCallFilter | sed -n 's/^~//p')
	hit=""
	for g in $denied; do
		hit+=$(systemd-analyze syscall-filter "$g" 2>/dev/null | sed -n 's/^ *\([a-z0-9_]*\)$/\1/p' |
			grep -xFf "$T/used" | sed "s/^/ $g:/" | tr -d '\n')
	done
	[ "$(wc -l <"$T/used")" -gt 20 ] && [ -n "$denied" ]
	check "the agent calls nothing its unit's SystemCallFilter denies${hit:+:$hit}" \
		test $? -eq 0 -a -z "$hit"
	ip netns exec "$NS" "$P/bin/pingfold-agent" --detach --pin-dir "$T/bpffs/once" \
		--state-dir "$T/once" -q 2>/dev/null
else
	diag "skip: no strace: the agent's system calls are not checked against its unit"
fi

# --- make deb ----------------------------------------------------------------

deb=$("${MAKE[@]}" deb 2>"$T/deb.log" | tail -n 1)
if [[ $deb == */pingfold_*_*.deb ]] && { [ -f "$ROOT/$deb" ] || [ -f "$deb" ]; }; then
	[ -f "$deb" ] || deb=$ROOT/$deb
	ok "make deb builds ${deb##*/}"
	dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./||' >"$T/deb.list"
	miss=""
	for f in usr/bin/pingfold-agent usr/bin/pingfold-aggregator usr/bin/pingfold \
		 usr/bin/pingfold-rollout usr/lib/systemd/system/pingfold-agent.service \
		 usr/lib/systemd/system/pingfold-aggregator.service \
		 usr/lib/systemd/system/pingfold-agent-reload.path; do
		grep -qx "$f" "$T/deb.list" || miss+=" $f"
	done
	check "dpkg-deb -c lists the programs and the units${miss:+ (missing:$miss)}" test -z "$miss"
	dpkg-deb -x "$deb" "$T/debx" && rm -f "$T/debx/usr/share/doc/pingfold/copyright"
	out=$(diff -r "$T/debx/usr" "$P" 2>&1)
	check "the package holds the make install tree, byte for byte${out:+: $(head -c 300 <<<"$out")}" \
		test -z "$out" -a -f "$T/debx/usr/bin/pingfold-agent"
	depends=$(dpkg-deb -f "$deb" Depends)
	miss=""
	for lib in libbpf1 libc6 libjson-c5 libnng1; do
		grep -qE "(^|, )$lib( |,|$)" <<<"$depends" || miss+=" $lib"
	done
	check "dpkg-deb -I: Depends: $depends${miss:+ (missing:$miss)}" test -z "$miss"
	arch=$(dpkg --print-architecture)
	[ "$(dpkg-deb -f "$deb" Package)" = pingfold ] &&
		[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ]
	check "the package is pingfold for $arch" test $? -eq 0
	mkdir -p "$T/ctl" && dpkg-deb -e "$deb" "$T/ctl"
	bad=""
	for s in postinst prerm postrm; do
		[ -x "$T/ctl/$s" ] && sh -n "$T/ctl/$s" || bad+=" $s"
	done
	grep -q '\[ -d /run/systemd/system \]' "$T/ctl/postinst" &&
		grep -q 'systemctl daemon-reload' "$T/ctl/postinst" || bad+=" postinst-guard"
	check "maintainer scripts parse; postinst reloads systemd only where it runs${bad:+ ($bad)}" \
		test -z "$bad"
else
	not_ok "make deb: '$deb' $(tail -n 5 "$T/deb.log")"
	deb=""
fi

# --- every setting configured and documented -----------------------------------

help_keys() {	# help_keys PROGRAM: long options that take a value
	"$1" --help | grep -oE -- '--[a-z][a-z-]+ [A-Z]' | sed 's/^--//; s/ .*//' | grep -vx config |
		sort -u
}
help_flags() {	# help_flags PROGRAM: long options without a value
	"$1" --help | grep -oE -- '--[a-z][a-z-]+' | sed 's/^--//' | sort -u |
		comm -23 - <({ help_keys "$1"; echo config; } | sort) |
		grep -vxE 'help|dry-run|once|json|detach|verbose|quiet'
}
rollout_keys() {	# rollout_keys AGENT|AGGREGATOR: the tool's list
	sed -n "/^$1_KEYS=\"/,/\"\$/p" "$ROLLOUT" | tr -d '"' | sed "s/^$1_KEYS=//" | tr ' ' '\n' |
		grep . | sort -u
}
for prog in agent aggregator; do
	PROG=$(tr '[:lower:]' '[:upper:]' <<<"$prog")
	ex=$ROOT/deploy/config/$prog.conf.example
	keys=$(help_keys "$P/bin/pingfold-$prog")
	flags=$(help_flags "$P/bin/pingfold-$prog")
	miss="" undoc="" unknown=""
	for k in $keys; do
		grep -qE "^#?$k = " "$ex" || miss+=" $k"
	done
	for k in $flags; do	# file keys (detach-on-exit) or named in a comment
		grep -qE "^#?$k = |--$k" "$ex" || miss+=" $k"
	done
	for k in $keys $flags; do
		grep -q "\`$k\`\\|\`--$k\`" "$ROOT/docs/operations.md" || undoc+=" $k"
	done
	for k in $keys; do
		rollout_keys "$PROG" | grep -qx "$k" || unknown+=" $k"
	done
	check "$prog.conf.example has every setting of pingfold-$prog --help${miss:+ (missing:$miss)}" \
		test -n "$keys" -a -z "$miss"
	check "docs/operations.md describes every pingfold-$prog setting${undoc:+ (missing:$undoc)}" \
		test -z "$undoc"
	check "pingfold-rollout knows every pingfold-$prog setting${unknown:+ (missing:$unknown)}" \
		test -z "$unknown"
done

# The examples with every setting uncommented are accepted (the agent's
# customer files: the demo's, and an ignore file, on the command line).
DEMO=$ROOT/deploy/demo
sed -E 's/^#([a-z-]+ = )/\1/' "$ROOT/deploy/config/agent.conf.example" >"$T/agent-all.conf"
printf '# the example ignore file\n198.18.251.0/24\n' >"$T/ignore.txt"
out=$("$P/bin/pingfold-agent" --dry-run -c "$T/agent-all.conf" -C "$DEMO/ShapedDevices.csv" \
	-N "$DEMO/network.json" --ignore-file "$T/ignore.txt" 2>&1)
check "agent.conf.example, every setting set: pingfold-agent --dry-run accepts it ($out)" \
	test $? -eq 0
out=$("$P/bin/pingfold-agent" --dry-run -c "$ROOT/deploy/config/agent.conf.example" \
	-C "$DEMO/ShapedDevices.csv" -N "$DEMO/network.json" 2>&1)
check "agent.conf.example as shipped: accepted ($out)" test $? -eq 0
sed -E 's/^#([a-z-]+ = )/\1/' "$ROOT/deploy/config/aggregator.conf.example" >"$T/agg-all.conf"
# no --dry-run: -c FILE is read before the other options, so --help after
# it checks every key and value (a wrong one exits 2)
out=$("$P/bin/pingfold-aggregator" -c "$T/agg-all.conf" --help 2>&1 >/dev/null)
check "aggregator.conf.example, every setting set: accepted${out:+ ($out)}" test $? -eq 0
printf 'agent = tcp://198.18.0.1:7700\nviews = 7801\n' >"$T/agg-bad.conf"
out=$("$P/bin/pingfold-aggregator" -c "$T/agg-bad.conf" --help 2>&1 >/dev/null)
check "...the same check refuses a bad value, naming file:line ($out)" \
	grep -q 'agg-bad.conf:2: ' <<<"$out"

# --- pingfold-rollout check ------------------------------------------------------

out=$("$ROLLOUT" -i "$ROOT/deploy/rollout/inventory.example" check 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q '^check: ok$' <<<"$out" && grep -q '3 boxes, aggregator agg1' <<<"$out" &&
   grep -q '^  aggregator on agg1.example.net (line [0-9]*): 3 agents' <<<"$out"; then
	ok "pingfold-rollout check passes on inventory.example: 3 boxes, 3 agents for the aggregator"
else
	not_ok "pingfold-rollout check on inventory.example: rc $rc: $(tail -n 3 <<<"$out")"
fi
out=$("$ROLLOUT" -i "$ROOT/deploy/rollout/inventory.example" render aggregator | grep -v '^#' | grep .)
grep -qx 'agent = tcp://198.18.7.3:7700,replay=tcp://198.18.7.3:7701' <<<"$out" &&
	grep -qx 'http = http://127.0.0.1:7880' <<<"$out" && [ "$(grep -c '^agent = ' <<<"$out")" -eq 3 ]
check "render aggregator: one agent line per box, at the box's host, with its replay URL" \
	test $? -eq 0
out=$("$ROLLOUT" -i "$ROOT/deploy/rollout/inventory.example" render shaper3 | grep -v '^#' | grep .)
[ "$(grep -c '^iface = ' <<<"$out")" -eq 1 ] && grep -qx 'iface = ens19,ens20' <<<"$out" &&
	grep -qx 'max-flows = 4194304' <<<"$out" && grep -qx 'box-id = shaper3' <<<"$out"
check "render shaper3: the inventory's settings replace the template's" test $? -eq 0
sed "s|/opt/libreqos/src|$DEMO|g" "$ROOT/deploy/rollout/inventory.example" >"$T/local.inv"
out=$("$ROLLOUT" -i "$T/local.inv" --bin "$P/bin" check --local 2>&1)
check "check --local: pingfold-agent --dry-run accepts every box's config" \
	test $? -eq 0 -a "$(grep -c ': pingfold-agent --dry-run: 36 customers' <<<"$out")" -eq 3

# broken inventories: LINE, the inventory text (\n = new line), what the
# message must say, more options
bad_inventory() {
	local n=$1 text=$2 pat=$3 out rc
	shift 3
	printf "$text" >"$T/bad.inv"
	out=$("$ROLLOUT" -i "$T/bad.inv" --bin "$P/bin" "$@" check --local 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && grep -qE -- "^$T/bad.inv:$n: $pat" <<<"$out"; then
		ok "check refuses: $(grep -m1 "^$T/bad.inv:$n: " <<<"$out" | sed "s|^$T/||")"
	else
		not_ok "check on '$text': rc $rc (want 1), no '$T/bad.inv:$n: $pat' in: $(head -c 300 <<<"$out")"
	fi
}
AGG='aggregator agg1.example.net\n'
DEF="defaults customers=$DEMO/ShapedDevices.csv listen=tcp://0.0.0.0:7700\n"
bad_inventory 3 "$AGG$DEF"'s1.example.net s1 ens19 max-flow=10\n' "unknown pingfold-agent setting 'max-flow'"
bad_inventory 4 "$AGG$DEF"'s1.example.net s1 ens19\ns2.example.net s1 ens19\n' "box id 's1' again \\(line 3\\)"
bad_inventory 4 "$AGG$DEF"'s1.example.net s1 ens19\ns1.example.net s2 ens19\n' "host 's1.example.net' again"
bad_inventory 3 "$AGG$DEF"'s1.example.net s1 ens19 max-flows\n' "'max-flows': expected key=value"
bad_inventory 3 "$AGG$DEF"'s1.example.net s1 ens19 max-flows=10\n' "box s1: pingfold-agent --dry-run refuses its config: max-flows: '10'"
bad_inventory 3 "$AGG$DEF"'s1.example.net s1/x ens19\n' "box id 's1/x'"
bad_inventory 3 "$AGG$DEF"'s1.example.net s1 an-interface-name-too-long\n' "interface 'an-interface-name-too-long'"
bad_inventory 2 "$DEF"'s1.example.net s1 ens19\n' "no 'aggregator HOST' line"
bad_inventory 4 "$AGG$DEF"'s1.example.net s1 ens19\naggregator agg2.example.net\n' "a second aggregator line \\(the first: line 1\\)"
grep -v '^listen = ' "$ROOT/deploy/config/agent.conf.example" >"$T/nolisten.tpl"
bad_inventory 4 "$AGG$DEF"'s1.example.net s1 ens19\ns2.example.net s2 ens19 listen=\n' "listen: empty value"
bad_inventory 2 "$AGG"'s1.example.net s1 ens19 customers=/x\n' "box s1: publishes nowhere" \
	--agent-template "$T/nolisten.tpl"
bad_inventory 1 'aggregator agg1.example.net views=7801\n'"$DEF"'s1.example.net s1 ens19\n' "aggregator: pingfold-aggregator refuses its config: views: '7801' is not a URL"
bad_inventory 3 "$AGG$DEF"'s1.example.net\n' "expected 'HOST BOX-ID"

# --- pingfold-rollout install and status, on a fake root ------------------------

# Stand-ins for ssh and scp: commands run here, in the namespace, with a
# systemctl that answers is-active from the agent's pid and hands
# --root calls to the real one (or logs them, where there is none).
mkdir -p "$T/bin" "$T/fakebin"
cat >"$T/bin/ssh" <<EOF
#!/bin/bash
while [[ \$1 == -* ]]; do case \$1 in -[opliF]) shift 2 ;; *) shift ;; esac; done
echo "\$1" >>"$T/ssh.log"
shift
PATH=$T/fakebin:\$PATH exec ip netns exec $NS bash -c "\$*"
EOF
cat >"$T/bin/scp" <<'EOF'
#!/bin/bash
args=()
for a in "$@"; do [[ $a == -* ]] || args+=("${a#*:}"); done
exec cp "${args[@]}"
EOF
cat >"$T/fakebin/systemctl" <<EOF
#!/bin/bash
echo "systemctl \$*" >>"$T/systemctl.log"
case "\$*" in
--root=*) [ -x /usr/bin/systemctl ] && exec /usr/bin/systemctl "\$@"; exit 0 ;;
"is-active pingfold-agent.service")
	if kill -0 "\$(cat "$T/agent.pid" 2>/dev/null)" 2>/dev/null; then echo active; else echo inactive; exit 3; fi ;;
*) exit 1 ;;
esac
EOF
chmod +x "$T/bin/ssh" "$T/bin/scp" "$T/fakebin/systemctl"
export SSH=$T/bin/ssh SCP=$T/bin/scp

FAKE=$T/fake
cat >"$T/fleet.inv" <<EOF
# the test's fleet: one box and the aggregator, both "at" 127.0.0.1 in the namespace
aggregator 127.0.0.1 views=tcp://127.0.0.1:7811
defaults customers=$DEMO/ShapedDevices.csv network=$DEMO/network.json
defaults pin-dir=$T/bpffs/pingfold state-dir=$T/state max-flows=4096 interval=200
127.0.0.1 testbox lo
EOF
if [ -n "$deb" ]; then
	ls -d /tmp/pingfold-rollout.* 2>/dev/null | sort >"$T/tmp.before"
	"$ROLLOUT" -i "$T/fleet.inv" -p "$deb" --root "$FAKE" install >"$T/rollout.log" 2>&1
	rc=$?
	ls -d /tmp/pingfold-rollout.* 2>/dev/null | sort >"$T/tmp.after"
	check "pingfold-rollout install (.deb, --root, ssh/scp stand-ins): $(tail -n 1 "$T/rollout.log")" \
		test $rc -eq 0 -a "$(tail -n 1 "$T/rollout.log")" = "install: 2 ok, 0 failed"
	[ -x "$FAKE/usr/bin/pingfold-agent" ] && [ -f "$FAKE/usr/lib/systemd/system/pingfold-agent.service" ]
	check "the package is unpacked into the fake root" test $? -eq 0
	conf=$FAKE/etc/pingfold/agent.conf
	grep -qx 'box-id = testbox' "$conf" && grep -qx 'iface = lo' "$conf" &&
		grep -qx "customers = $DEMO/ShapedDevices.csv" "$conf" &&
		grep -qx 'listen = tcp://0.0.0.0:7700' "$conf" && grep -qx 'interval = 200' "$conf"
	check "/etc/pingfold/agent.conf: the template with the inventory's settings" test $? -eq 0
	grep -qx 'agent = tcp://127.0.0.1:7700,replay=tcp://127.0.0.1:7701' \
		"$FAKE/etc/pingfold/aggregator.conf" &&
		grep -qx 'views = tcp://127.0.0.1:7811' "$FAKE/etc/pingfold/aggregator.conf" &&
		! grep -q '^agent = tcp://shaper' "$FAKE/etc/pingfold/aggregator.conf"
	check "/etc/pingfold/aggregator.conf dials the box, the template's agents replaced" test $? -eq 0
	dropin=$FAKE/etc/systemd/system/pingfold-agent-reload.path.d/pingfold-rollout.conf
	[ "$(grep '^PathChanged=' "$dropin" 2>/dev/null | tr '\n' ' ')" = \
	  "PathChanged= PathChanged=$DEMO/ShapedDevices.csv PathChanged=$DEMO/network.json " ]
	check "the .path drop-in watches the box's own customer files" test $? -eq 0
	if [ -x /usr/bin/systemctl ]; then
		W=$FAKE/etc/systemd/system
		[ -L "$W/multi-user.target.wants/pingfold-agent.service" ] &&
			[ -L "$W/pingfold-agent.service.wants/pingfold-agent-reload.path" ] &&
			[ -L "$W/multi-user.target.wants/pingfold-aggregator.service" ]
		check "the units are enabled (systemctl --root), the .path unit with the agent" test $? -eq 0
	else
		grep -q -- "--root=$FAKE enable --quiet pingfold-agent.service" "$T/systemctl.log"
		check "systemctl --root enable is asked for the units" test $? -eq 0
	fi
	left=$(comm -13 "$T/tmp.before" "$T/tmp.after")
	check "the boxes' temporary folders are removed${left:+ (left: $left)}" \
		test -z "$left" -a "$(grep -c . "$T/ssh.log")" -ge 4

	# a config the box refuses leaves the old one in place
	cp "$conf" "$T/conf.before"
	sed 's/^127.0.0.1 testbox lo$/127.0.0.1 testbox lo max-prefixes=3/' "$T/fleet.inv" >"$T/fleet-bad.inv"
	"$ROLLOUT" -i "$T/fleet-bad.inv" -p "$deb" --root "$FAKE" install testbox >"$T/rollout2.log" 2>&1
	rc=$?
	[ $rc -eq 1 ] && grep -q 'the new agent.conf is refused (the old one stays): .*more than --max-prefixes 3' \
		"$T/rollout2.log" && cmp -s "$conf" "$T/conf.before"
	check "install: a config the box's dry-run refuses is not written" test $? -eq 0

	# Run what was installed as the units would: the agent with its
	# unit's capabilities, the aggregator as nobody with none, both with
	# their unit's ExecStart and the fake root's files.
	exec_start() {	# exec_start UNIT: its ExecStart, paths into the fake root
		unit_get "$FAKE/usr/lib/systemd/system/$1" ExecStart |
			sed -e "s|^/usr/bin/|$FAKE/usr/bin/|" -e "s| /etc/pingfold/| $FAKE/etc/pingfold/|" \
			    -e "s| /var/lib/| $FAKE/var/lib/|g" -e 's| \$PINGFOLD_[A-Z]*_OPTS||'
	}
	# as systemd makes a unit's StateDirectory, owned by its (dynamic) user
	for d in $(unit_get "$FAKE/usr/lib/systemd/system/pingfold-aggregator.service" StateDirectory); do
		mkdir -p "$FAKE/var/lib/$d" && chown 65534:65534 "$FAKE/var/lib/$d"
	done
	read -ra cmd <<<"$(exec_start pingfold-agent.service)"
	as_unit "$(unit_get "$FAKE/usr/lib/systemd/system/pingfold-agent.service" CapabilityBoundingSet)" \
		"${cmd[@]}" >"$T/agent.log" 2>&1 &
	PIDS+=($!)
	echo $! >"$T/agent.pid"
	read -ra cmd <<<"$(exec_start pingfold-aggregator.service)"
	ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups --bounding-set=-all \
		--inh-caps=-all --no-new-privs -- "${cmd[@]}" >"$T/aggregator.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 50); do
		out=$("$ROLLOUT" -i "$T/fleet.inv" --root "$FAKE" status 2>&1) && break
		sleep 0.2
	done
	if grep -qE '^testbox +127\.0\.0\.1 +active +ok$' <<<"$out"; then
		ok "status: the box's agent is active and ok in 'pingfold boxes' of the aggregator (unprivileged)"
	else
		not_ok "status: $out; agent: $(tail -n 3 "$T/agent.log"); aggregator: $(tail -n 3 "$T/aggregator.log")"
	fi
	kill "${PIDS[0]}" 2>/dev/null
	wait "${PIDS[0]}" 2>/dev/null
	out=$("$ROLLOUT" -i "$T/fleet.inv" --root "$FAKE" status 2>&1)
	rc=$?
	check "status fails once the agent stopped: $(grep '^testbox' <<<"$out" | tr -s ' ')" \
		test $rc -eq 1
	ip netns exec "$NS" "$FAKE/usr/bin/pingfold-agent" -c "$conf" --detach -q 2>/dev/null
else
	not_ok "pingfold-rollout install: no package to install (make deb failed)"
fi

topo_exit
