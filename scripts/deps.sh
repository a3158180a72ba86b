#!/bin/sh
# Install the Debian packages pingfold needs, only those missing.
# Idempotent: checks with dpkg first, runs apt-get update at most once.
set -eu

PKGS="build-essential clang llvm libbpf-dev libelf-dev zlib1g-dev libnng-dev
libmsgpack-dev libjson-c-dev libcriterion-dev bpftool iproute2 iperf3 ethtool pkg-config
libprotobuf-c-dev protobuf-c-compiler libsnappy-dev libsqlite3-dev sqlite3
libclang-rt-14-dev iputils-ping jq openssl curl nodejs chromium
prometheus systemd man-db strace"
[ "${PINGFOLD_DEPS_EXTRA:-}" ] && PKGS="$PKGS $PINGFOLD_DEPS_EXTRA"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing; run 'make deps' as root" >&2
	exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
