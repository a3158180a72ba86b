#!/bin/bash
# Builds the wire decoder fuzzer (clang libFuzzer, ASan + UBSan) into
# $OUT/fuzz/wire_fuzz and runs it for FUZZ_SECONDS (default 60) on a copy
# of the seed corpus tests/fuzz/corpus/wire/. Prints one TAP line
# ("ok - ..." / "not ok - ...") and exits non-zero on a crash, leak,
# undefined behaviour, an allocation over -malloc_limit_mb, or a slow input.
#   tests/fuzz/run.sh          build and fuzz
#   tests/fuzz/run.sh --seed   rewrite the seed corpus (tests/fuzz/wire_seed.c)
# A crashing input is kept as $OUT/fuzz/wire-crash-*; replay it with
#   $OUT/fuzz/wire_fuzz FILE
set -u
cd "$(dirname "$0")/../.." || exit 2
OUT=${OUT:-build}
SECS=${FUZZ_SECONDS:-60}
CLANG=${CLANG:-clang}
CC=${CC:-cc}
SRC="common/wire.c common/hist.c common/utf8.c"
CORPUS=tests/fuzz/corpus/wire
dir=$OUT/fuzz
bin=$dir/wire_fuzz
log=$dir/wire_fuzz.log
mkdir -p "$dir"

if [ "${1:-}" = --seed ]; then
	$CC -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -I. -I"$OUT" $SRC \
		tests/fuzz/wire_seed.c -o "$dir/wire_seed" -lm || exit 1
	rm -f "$CORPUS"/*
	mkdir -p "$CORPUS"
	"$dir/wire_seed" "$CORPUS" || exit 1
	ls -l "$CORPUS"
	exit 0
fi

if ! $CLANG -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers -D_GNU_SOURCE \
	-I. -I"$OUT" $SRC tests/fuzz/wire_fuzz.c -o "$bin" -lm >"$log" 2>&1; then
	sed 's/^/# /' "$log" | tail -n 20
	echo "not ok - wire decoder fuzzer does not build"
	exit 1
fi

work=$dir/wire-corpus
rm -rf "$work"
mkdir -p "$work"
cp "$CORPUS"/* "$work"/ || exit 1
rm -f "$dir"/wire-crash-* "$dir"/wire-leak-* "$dir"/wire-timeout-* "$dir"/wire-oom-* \
	"$dir"/wire-slow-unit-*
"$bin" -max_total_time="$SECS" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
	-malloc_limit_mb=512 -dict=tests/fuzz/wire.dict -artifact_prefix="$dir/wire-" \
	"$work" >"$log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
	echo "# $(grep -c . <<<"$(ls "$work")") corpus files, $((runs / (SECS > 0 ? SECS : 1))) runs/s; log in $log"
	echo "ok - wire decoder fuzzed $SECS s, $runs runs, no crash"
	exit 0
fi
grep -E 'ERROR|SUMMARY|wire_fuzz:|Test unit written|runtime error' "$log" | head -n 20 | sed 's/^/# /'
echo "not ok - wire decoder fuzzer failed (exit $rc) after ${runs:-?} runs; inputs in $dir/wire-*, log in $log"
exit 1
