#!/usr/bin/env bash
# Run every test: the unit and integration suites on a normal build, the
# same again on an ASan+UBSan build and on a ThreadSanitizer build (with
# [gateway] threads = 4), make distcheck, and each fuzz target
# for a bounded time. The last line is "N passed, M failed, K skipped",
# where N, M and K count test cases, not programs:
#   - a cmocka program (tests/unit/test_*): its own "[  PASSED  ] n
#     test(s)." and "[  FAILED  ] n test(s)" lines (every group summed);
#   - a Python script that ends with fhtest.run_cases(): its
#     "cases: P passed, F failed, S skipped" line;
#   - any other test, make distcheck and each fuzz target: one case, by
#     its result.
# A program that crashed, or printed no counts where counts are due,
# is one failed case. Each run starts from fresh build directories, so
# that a build failure can never report the numbers of a previous run.
#
# Environment: JOBS (make -j for builds, default: the number of CPUs),
# CHECK_JOBS (make -j for the suites, default JOBS), FUZZ_SECONDS (per
# target, default 30), FUZZ_PARALLEL (targets at a time, default 2),
# DISTCHECK_TESTS (the tests distcheck runs from the tarball; default the
# unit tests and two integration scripts: the full suites already ran
# twice above, distcheck proves the tarball builds and tests from itself).
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
ncpu=$(nproc 2>/dev/null || echo 2)
jobs=${JOBS:-$ncpu}
check_jobs=${CHECK_JOBS:-$jobs}
fuzz_seconds=${FUZZ_SECONDS:-30}
fuzz_parallel=${FUZZ_PARALLEL:-2}
pass=0 fail=0 skip=0
status=0
t0=$(date +%s)

elapsed() { echo "$(( $(date +%s) - t0 ))s"; }

failed() {	# failed WHAT: one failed case
	echo "FAIL: $1"; fail=$((fail + 1)); status=1
}

cd "$src" && ./autogen.sh >/dev/null 2>&1 || {
	./autogen.sh; echo "0 passed, 1 failed"; exit 1; }

# Missing test tools fail the run rather than build fewer tests.
pkg-config --exists 'cmocka >= 1.1' || failed "cmocka (libcmocka-dev) missing: no unit tests"
command -v clang >/dev/null 2>&1 || failed "clang missing: no fuzz targets"
pkg-config --exists jemalloc || failed "jemalloc (libjemalloc-dev) missing: the plain build would use glibc's malloc"

# count_test LOG TRS: add the cases of one test to the totals.
count_test() {
	local log=$1 trs=$2 res p=0 f=0 s=0 n line
	res=$(sed -n 's/^:test-result: *//p' "$trs" | head -1)
	case $log in
	*/tests/unit/test_*)	# a cmocka program (a script is by result)
		if grep -q '^\[  PASSED  \] [0-9]* test' "$log" ||
		   grep -q '^\[  FAILED  \] [0-9]* test' "$log"; then
			for n in $(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log"); do p=$((p + n)); done
			for n in $(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log"); do f=$((f + n)); done
			for n in $(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log"); do s=$((s + n)); done
		elif [ "$res" = SKIP ]; then
			s=1
		else
			f=1	# crashed, or never said how many
		fi ;;
	*)
		line=$(grep -a '^cases: [0-9]* passed, [0-9]* failed, [0-9]* skipped$' "$log" | tail -1)
		if [ -n "$line" ]; then
			set -- $line
			p=$2 f=$4 s=$6
		else
			case $res in
			PASS|XFAIL) p=1 ;;
			SKIP) s=1 ;;
			*) f=1 ;;
			esac
		fi ;;
	esac
	# The harness says it failed (a crash after the counts, a daemon
	# that exited badly): at least one failed case.
	case $res in
	FAIL|ERROR|XPASS) [ "$f" -eq 0 ] && f=1 ;;
	esac
	[ "$f" -gt 0 ] && echo "FAIL: ${log%.log} ($f failed cases)"
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	[ "$f" -eq 0 ] || status=1
}

suite() {	# suite NAME CONFIGURE-ARGS...
	local name=$1; shift
	local dir=$src/build-$name before_p=$pass before_f=$fail before_s=$skip
	local trs t
	echo "=== $name build ($(elapsed)) ==="
	rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || {
		failed "$name: cannot make $dir"; return 1; }
	if ! "$src/configure" -q "$@" >configure.out 2>&1 ||
	   ! make -j"$jobs" >build.out 2>&1 ||
	   ! make -j"$jobs" check TESTS= >>build.out 2>&1; then
		tail -40 configure.out build.out 2>/dev/null
		failed "$name: build"; return 1
	fi
	echo "=== $name tests ($(elapsed)) ==="
	make -j"$check_jobs" check >check.out 2>&1 || status=1
	grep -E '^(PASS|FAIL|ERROR|SKIP|XPASS):' check.out
	if [ ! -f test-suite.log ]; then
		tail -40 check.out; failed "$name: make check wrote no test-suite.log"
		return 1
	fi
	for trs in $(find . -name '*.trs' | sort); do
		t=${trs#./}
		count_test "$dir/${t%.trs}.log" "$trs"
	done
	grep -q '^# \(FAIL\|ERROR\|XPASS\): *[1-9]' test-suite.log &&
		sed -n '/^FAIL\|^ERROR/,/^$/p' test-suite.log | head -200
	echo "$name: $((pass - before_p)) passed, $((fail - before_f)) failed," \
	    "$((skip - before_s)) skipped"
}

# [gateway] threads: the plain suite on one loop, ASan+UBSan with the
# default (one per CPU), ThreadSanitizer with four (tests/integration/
# fhtest.py gives every daemon FH_TEST_THREADS).
FH_TEST_THREADS=1 suite plain
suite asan --enable-asan
FH_TEST_THREADS=4 suite tsan --enable-tsan

# distcheck: the tarball has everything to build, test, install and
# uninstall out of tree. One case.
echo "=== distcheck ($(elapsed)) ==="
if [ -f "$src/build-plain/Makefile" ]; then
	cd "$src/build-plain"
	dtests=${DISTCHECK_TESTS-$(make -s print-unit-tests 2>/dev/null |
	    grep '^tests/unit/') tests/integration/01-gateway-config.py tests/integration/10-broker-pubsub.py}
	if make -j"$jobs" distcheck TESTS="$dtests" >distcheck.out 2>&1; then
		echo "PASS: make distcheck"; pass=$((pass + 1))
	else
		tail -60 distcheck.out; failed "make distcheck"
	fi
else
	failed "make distcheck: no plain build"
fi

# fuzz_one TARGET: run in the background, result in fuzz-NAME.rc.
fuzz_one() {
	local n
	n=$(basename "$1")
	make -s fuzz FUZZ_TARGETS="$1" FUZZ_SECONDS="$fuzz_seconds" \
	    >"fuzz-$n.out" 2>&1
	echo $? >"fuzz-$n.rc"
}

if command -v clang >/dev/null 2>&1; then
	echo "=== fuzz build ($(elapsed)) ==="
	dir=$src/build-fuzz
	rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
	if CC=clang "$src/configure" -q --enable-fuzzing --disable-werror >configure.out 2>&1 &&
	   make -j"$jobs" >build.out 2>&1; then
		# only the targets: a Makefile regenerated on the way talks too
		targets=$(make -s print-fuzz-targets 2>/dev/null |
		    tr ' ' '\n' | grep '^tests/fuzz/')
		[ -n "$targets" ] || failed "fuzz: no targets built"
		set -- $targets
		while [ $# -gt 0 ]; do
			batch=
			for _ in $(seq "$fuzz_parallel"); do
				[ $# -gt 0 ] || break
				batch="$batch $1"; fuzz_one "$1" & shift
			done
			wait
			for t in $batch; do
				n=$(basename "$t")
				if [ "$(cat "fuzz-$n.rc" 2>/dev/null)" = 0 ]; then
					echo "PASS: fuzz $n (${fuzz_seconds}s)"
					pass=$((pass + 1))
				else
					tail -60 "fuzz-$n.out"; failed "fuzz $n"
				fi
			done
		done
	else
		tail -40 configure.out build.out; failed "fuzz build"
	fi
fi

echo "wall time $(elapsed)"
echo "$pass passed, $fail failed, $skip skipped"
exit $status
