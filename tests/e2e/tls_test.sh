#!/bin/bash
# TLS between agents and the aggregator (tls+tcp://, mutual, one CA):
#  - an agent whose certificate our CA signed is accepted, its deltas merged;
#  - an agent with a self-signed certificate is refused, logged, and adds
#    nothing;
#  - an aggregator with a certificate from another CA is refused by the
#    good agent (agents verify the aggregator too);
#  - identity: dialled with box=ID, an agent must hold a certificate that
#    names ID, and may only send as ID: a certificate for box-a sending as
#    box-b is refused (logged once), one for localhost dialled as box=good2
#    fails the handshake.
# Everything runs in a private network namespace on its loopback, with
# real samples from ping; certificates are made with openssl, as in
# docs/operations.md.
set -u
. "$(dirname "$0")/lib.sh"

scratch_setup
NS=pftls$$
cleanup_more() {
	ip netns del "$NS" 2>/dev/null
	umount "$DIR/bpffs" 2>/dev/null
}

# cert NAME CA: a key and a certificate for CN=localhost signed by CA,
# both in NAME.pem (the form nng reads)
ossl() { openssl "$@" >/dev/null 2>&1; }
newca() {
	ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=$1" -keyout "$DIR/$1.key" -out "$DIR/$1.crt"
}
cert() {
	local name=${3:-localhost}
	ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
		-keyout "$DIR/$1.key" -out "$DIR/$1.csr" &&
	ossl x509 -req -in "$DIR/$1.csr" -CA "$DIR/$2.crt" -CAkey "$DIR/$2.key" -CAcreateserial \
		-days 2 -out "$DIR/$1.crt" -extfile <(printf 'subjectAltName=DNS:%s\n' "$name") &&
	cat "$DIR/$1.crt" "$DIR/$1.key" > "$DIR/$1.pem"
}
newca pingfold-ca && newca other-ca && cert agent pingfold-ca && cert agg pingfold-ca &&
	cert rogue other-ca && cert agg-rogue other-ca && cert boxa pingfold-ca box-a
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
	-keyout "$DIR/self.key" -out "$DIR/self.crt" && cat "$DIR/self.crt" "$DIR/self.key" > "$DIR/self.pem"
check "test certificates made with openssl" test -s "$DIR/agent.pem" -a -s "$DIR/self.pem" -a -s "$DIR/agg-rogue.pem"

ip netns add "$NS" && ip -n "$NS" link set lo up
mkdir -p "$DIR/bpffs" && mount -t bpf bpf "$DIR/bpffs"
# The customer is 127.0.0.2 alone, so that the TLS connections themselves
# (localhost: 127.0.0.1 or ::1, with TCP timestamps) make no samples: once
# the ping is over, the samples stop and the counts can be compared exactly.
printf 'lo 127.0.0.2/32 site=Loop\n' > "$DIR/customers.txt"

# agent NAME PORT CERT PRIO: an agent on lo publishing on tls+tcp://localhost:PORT
agent() {
	ip netns exec "$NS" "$B/pingfold-agent" -i lo -C "$DIR/customers.txt" -b "$1" -n 300 \
		-l "tls+tcp://localhost:$2" -r "tls+tcp://localhost:$(($2 + 1))" \
		--tls-ca "$DIR/pingfold-ca.crt" --tls-cert "$DIR/$3.pem" --tc-priority "$4" \
		--pin-dir "$DIR/bpffs/$1" --state-dir "$DIR/state-$1" --max-flows 4096 \
		> "$DIR/$1.log" 2>&1 &
	pids+=($!)
}
agent good 7710 agent 1
agent selfsigned 7720 self 2
agent otherca 7730 rogue 3
agent box-b 7740 boxa 4		# a certificate for box-a, sending as box-b
agent box-a 7750 boxa 5
agent good2 7760 agent 6	# a certificate for localhost, dialled as box=good2
# aggregator NAME CERT: dials the three agents, query API on ipc
aggregator() {
	ip netns exec "$NS" "$B/pingfold-aggregator" -n 300 --tls-ca "$DIR/pingfold-ca.crt" \
		--tls-cert "$DIR/$2.pem" -q "ipc://$DIR/$1.q" \
		-a "tls+tcp://localhost:7710,replay=tls+tcp://localhost:7711" \
		-a "tls+tcp://localhost:7720,replay=tls+tcp://localhost:7721" \
		-a "tls+tcp://localhost:7730,replay=tls+tcp://localhost:7731" \
		-a "tls+tcp://localhost:7740,replay=tls+tcp://localhost:7741,box=box-a" \
		-a "tls+tcp://localhost:7750,replay=tls+tcp://localhost:7751,box=box-a" \
		-a "tls+tcp://localhost:7760,replay=tls+tcp://localhost:7761,box=good2" \
		> "$DIR/$1.log" 2>&1 &
	pids+=($!)
}
# every agent attached before the ping, so that each echo makes its sample
for a in good selfsigned otherca box-b box-a good2; do
	wait_log "$DIR/$a.log" "running:" || echo "# agent $a did not say it runs"
done
aggregator agg agg
aggregator rogue agg-rogue
ip netns exec "$NS" ping -q -c 20 -i 0.2 127.0.0.2 >/dev/null
sleep 1

# The box's merged samples and its datapath counter come from two messages
# (delta N, then stats N): they are compared where the stats are of the
# last delta merged (stats_seq = last_seq) and the last ping's samples are
# in (the ping ended a second ago; the agent reads every 300 ms).
for _ in $(seq 50); do
	boxes=$(timeout 10 "$B/pingfold" -s "ipc://$DIR/agg.q" boxes --json)
	read -r merged counter lseq sseq <<<"$(jq -r '.boxes[] | select(.box == "good") |
		"\(.samples) \(.stats.samples) \(.last_seq) \(.stats_seq)"' <<<"$boxes")"
	[ -n "$lseq" ] && [ "$lseq" = "$sseq" ] && [ "$merged" = "$counter" ] && break
	sleep 0.1
done
# 20 echoes, one access sample each (the agent ran before the first)
if [ "${merged:-0}" -ge 20 ] && [ "$merged" = "$counter" ]; then
	ok "the agent with a CA-signed certificate is accepted: $merged samples merged = its datapath's counter"
else
	not_ok "good agent: merged ${merged:-none}, its counter ${counter:-none} (delta $lseq, stats of $sseq)"
fi
check "the self-signed agent contributes nothing" \
	test -z "$(jq -r '.boxes[] | select(.box == "selfsigned") | .box' <<<"$boxes")"
check "the agent with another CA's certificate contributes nothing" \
	test -z "$(jq -r '.boxes[] | select(.box == "otherca") | .box' <<<"$boxes")"
check "the refusal of the self-signed agent is logged" \
	wait_log "$DIR/agg.log" "localhost:7720: peer refused: TLS authentication failed"
check "the refusal of the other CA's agent is logged" \
	wait_log "$DIR/agg.log" "localhost:7730: peer refused: TLS authentication failed"
check "box=box-a: its agent with a certificate for box-a is merged" \
	test "$(jq -r '.boxes[] | select(.box == "box-a") | .samples' <<<"$boxes")" -gt 0
check "a certificate for box-a sending as box-b adds nothing" \
	test -z "$(jq -r '.boxes[] | select(.box == "box-b") | .box' <<<"$boxes")"
check "... and is refused once in the log, naming both ids" \
	test "$(grep -c "box 'box-b' sent from tls+tcp://localhost:7740, which may only send as 'box-a'" "$DIR/agg.log")" = 1
check "box=good2 with a certificate that does not name good2: nothing merged" \
	test -z "$(jq -r '.boxes[] | select(.box == "good2") | .box' <<<"$boxes")"
check "... the handshake's refusal is logged" \
	wait_log "$DIR/agg.log" "localhost:7760: peer refused: TLS authentication failed"
rboxes=$(timeout 10 "$B/pingfold" -s "ipc://$DIR/rogue.q" boxes --json)
check "an aggregator with an untrusted certificate gets nothing from the good agent" \
	test "$(jq '.boxes | length' <<<"$rboxes")" = 0
check "... and logs why" wait_log "$DIR/rogue.log" "localhost:7710: peer refused: TLS authentication failed"
check "agents warn about nothing for TLS URLs" test -z "$(grep -h 'plain TCP' "$DIR"/good.log)"
topo_exit
