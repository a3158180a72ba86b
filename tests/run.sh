#!/bin/bash
# Runs the test groups (unit, bpf, e2e, fuzz; all by default) and ends with
# the summary line "N passed, N failed".
#  - Criterion binaries: their "Synthesis:" line is counted test by test.
#  - e2e scripts (tests/e2e/*_test.sh) and tests/fuzz/run.sh: lines "ok - ..." / "not ok - ..."
#    are counted; a script that exits non-zero without a "not ok" line
#    counts as one failure.
# TEST_FILTER=substring runs only the matching programs.
# SAN_OUT=DIR: the unit group also runs DIR/tests/unit/*_test (the same
# tests built with ASan+UBSan, `make SANITIZE=1`), named NAME-asan.
set -u
OUT=${OUT:-build}
groups=${*:-unit bpf e2e fuzz}
passed=0 failed=0
failures=()
logdir=$OUT/test-logs
mkdir -p "$logdir"

run_criterion() {
	local bin=$1 name log line t p f c
	name=$(basename "$bin")${2:-}
	log=$logdir/$name.log
	echo "== $name"
	"$bin" --jobs 1 >"$log" 2>&1
	local rc=$?
	grep -E '^\[(----|FAIL)\]|Assertion|Synthesis' "$log" | tail -n 40
	line=$(grep -a 'Synthesis:' "$log" | tail -n1)
	if [[ $line =~ Tested:\ ([0-9]+).*Passing:\ ([0-9]+).*Failing:\ ([0-9]+).*Crashing:\ ([0-9]+) ]]; then
		t=${BASH_REMATCH[1]} p=${BASH_REMATCH[2]} f=${BASH_REMATCH[3]}
		passed=$((passed + p)); failed=$((failed + t - p))
		[ "$f" -gt 0 ] || [ "$t" -ne "$p" ] && failures+=("$name")
	else
		failed=$((failed + 1)); failures+=("$name (no summary, rc=$rc)")
	fi
}

run_script() {
	local sh=$1 name log rc ok nok
	name=$(basename "$sh" .sh)
	log=$logdir/$name.log
	echo "== $name"
	OUT=$OUT bash "$sh" 2>&1 | tee "$log" | grep -E '^(ok|not ok|#)'
	rc=${PIPESTATUS[0]}
	ok=$(grep -c '^ok ' "$log"); nok=$(grep -c '^not ok ' "$log")
	passed=$((passed + ok)); failed=$((failed + nok))
	if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
		failed=$((failed + 1)); failures+=("$name (exit $rc)")
	elif [ "$nok" -gt 0 ]; then
		failures+=("$name")
	fi
}

for g in $groups; do
	case $g in
	unit|bpf)
		for b in "$OUT"/tests/$g/*_test; do
			[ -x "$b" ] || continue
			[[ -n ${TEST_FILTER:-} && $b != *$TEST_FILTER* ]] && continue
			run_criterion "$b"
		done
		if [ "$g" = unit ] && [ -n "${SAN_OUT:-}" ]; then
			for b in "$SAN_OUT"/tests/unit/*_test; do
				[ -x "$b" ] || continue
				[[ -n ${TEST_FILTER:-} && $b != *$TEST_FILTER* ]] && continue
				run_criterion "$b" -asan
			done
		fi ;;
	e2e)
		for s in tests/e2e/*_test.sh; do
			[ -f "$s" ] || continue
			[[ -n ${TEST_FILTER:-} && $s != *$TEST_FILTER* ]] && continue
			run_script "$s"
		done ;;
	fuzz)
		[ -f tests/fuzz/run.sh ] && [[ -z ${TEST_FILTER:-} || fuzz == *$TEST_FILTER* ]] &&
			run_script tests/fuzz/run.sh ;;
	*) echo "run.sh: unknown group '$g'" >&2; exit 2 ;;
	esac
done

for f in "${failures[@]}"; do echo "FAILED: $f (log in $logdir)"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
