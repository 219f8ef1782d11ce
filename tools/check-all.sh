#!/usr/bin/env bash
# Run every test: the unit and integration suites on a normal build, the
# same again on an ASan+UBSan build, and each fuzz target for a bounded
# time. Ends with one line "N passed, M failed".
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-2}
fuzz_seconds=${FUZZ_SECONDS:-60}
pass=0 fail=0 skip=0
status=0

cd "$src" && ./autogen.sh >/dev/null 2>&1 || { echo "autogen failed"; ./autogen.sh; exit 1; }

count() {	# add the counts from one automake test-suite.log
	local log=$1 p f e s
	p=$(sed -n 's/^# PASS: *//p' "$log"); f=$(sed -n 's/^# FAIL: *//p' "$log")
	e=$(sed -n 's/^# ERROR: *//p' "$log"); s=$(sed -n 's/^# SKIP: *//p' "$log")
	pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0} + ${e:-0}))
	skip=$((skip + ${s:-0}))
}

suite() {	# suite NAME CONFIGURE-ARGS...
	local name=$1; shift
	local dir=$src/build-$name
	echo "=== $name build ==="
	mkdir -p "$dir" && cd "$dir" || return 1
	if ! { [ -f Makefile ] || "$src/configure" -q "$@"; } ||
	   ! make -j"$jobs" >build.out 2>&1; then
		tail -40 build.out 2>/dev/null; echo "$name: build failed"
		fail=$((fail + 1)); status=1; return 1
	fi
	echo "=== $name tests ==="
	make -j"$jobs" check >check.out 2>&1 || status=1
	grep -E '^(PASS|FAIL|ERROR|SKIP|XPASS):' check.out
	if [ -f test-suite.log ]; then
		count test-suite.log
		grep -q '^# \(FAIL\|ERROR\): *[1-9]' test-suite.log &&
			sed -n '/^FAIL\|^ERROR/,/^$/p' test-suite.log | head -200
	else
		tail -40 check.out; fail=$((fail + 1))
	fi
}

suite plain
suite asan --enable-asan

if command -v clang >/dev/null 2>&1; then
	echo "=== fuzz build ==="
	dir=$src/build-fuzz
	mkdir -p "$dir" && cd "$dir"
	if { [ -f Makefile ] || CC=clang "$src/configure" -q --enable-fuzzing --disable-werror; } &&
	   make -j"$jobs" >build.out 2>&1; then
		targets=$(make -s -f Makefile print-fuzz-targets 2>/dev/null)
		for t in $targets; do
			if make -s fuzz FUZZ_TARGETS="$t" FUZZ_SECONDS="$fuzz_seconds" >"fuzz-$(basename "$t").out" 2>&1; then
				echo "PASS: fuzz $(basename "$t") (${fuzz_seconds}s)"; pass=$((pass + 1))
			else
				echo "FAIL: fuzz $(basename "$t")"; cat "fuzz-$(basename "$t").out" | tail -60
				fail=$((fail + 1)); status=1
			fi
		done
	else
		tail -40 build.out; echo "fuzz build failed"; fail=$((fail + 1)); status=1
	fi
fi

echo "$pass passed, $fail failed, $skip skipped"
exit $status
