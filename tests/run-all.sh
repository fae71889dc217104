#!/bin/sh
# run-all.sh - runs every suite and prints one closing line "N passed, N failed".
#
# First the static checks of the source tree (tests/static/test_*.py: the
# layering rules).  Arguments: the Criterion unit-test binaries.  Then the e2e suites
# (tests/e2e/test_*.py) run against $TTDEPLOY; those that need Docker use
# the private daemon that tests/infra.sh starts (or reuses).
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
total_pass=0
total_fail=0
log=$(mktemp)
# Under SAN=1: Criterion's runner leaks a little of its own (tests/lsan.supp).
LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS

# Seconds since the previous suite ended (the budget is 30 minutes in all).
suite_t0=$(date +%s)

add_counts() { # $1 passed, $2 failed, $3 suite
    total_pass=$((total_pass + $1))
    total_fail=$((total_fail + $2))
    now=$(date +%s)
    printf '%-28s %4d passed, %d failed   %4d s\n' "$3" "$1" "$2" "$((now - suite_t0))"
    suite_t0=$now
}

run_py_suite() { # $1 suite file, $2 name
    run_cmd_suite "$2" "$PYTHON" "$1"
}

# A suite that prints "  ok"/"  FAIL" lines and "N passed, N failed": $1 name, the rest its command.
run_cmd_suite() {
    name=$1
    shift
    "$@" >"$log" 2>&1
    rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [ -z "$line" ]; then
        cat "$log"
        add_counts 0 1 "$name (crashed, exit $rc)"
        return
    fi
    grep -v '^  ok ' "$log" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$' | head -60
    add_counts "$(echo "$line" | cut -d' ' -f1)" "$(echo "$line" | cut -d' ' -f3)" "$name"
}

for suite in tests/static/test_*.py; do
    run_py_suite "$suite" "static/$(basename "$suite" .py)"
done

for t in "$@"; do
    name=unit/$(basename "$t")
    # A full stack for each allocation, so tests/lsan.supp can tell the runner's from a test's.
    ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" "$t" --jobs 2 >"$log" 2>&1
    rc=$?
    line=$(grep 'Synthesis:' "$log" | tail -1)
    if [ -z "$line" ]; then
        cat "$log"
        add_counts 0 1 "$name (crashed, exit $rc)"
        continue
    fi
    pass=$(echo "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
    fail=$(echo "$line" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
    crash=$(echo "$line" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
    if [ "$((fail + crash))" -gt 0 ] || [ "$rc" -ne 0 ]; then
        grep -v '^\[----\] *$' "$log" | grep -E 'FAIL|CRASH|Assertion|error|ERROR|Sanitizer|\[----\]' | head -40
        [ "$((fail + crash))" -eq 0 ] && crash=1
    fi
    add_counts "$pass" "$((fail + crash))" "$name"
done

# The fuzz targets: each replays its corpus, then fuzzes $FUZZ_SHORT seconds.
if [ -n "${FUZZ_BINS:-}" ]; then
    # shellcheck disable=SC2086 # a list of paths without spaces
    run_cmd_suite "fuzz/short (${FUZZ_SHORT:-20} s each)" tests/fuzz-short.sh $FUZZ_BINS
fi

# One run at a time on the private daemon and its test ports: other
# checkouts of this machine running e2e suites take the same lock.
exec 9>/tmp/ttdeploy-e2e.lock
flock 9
if tests/infra.sh up >"$log" 2>&1; then
    DOCKER_HOST=$(tests/infra.sh env | sed 's/^DOCKER_HOST=//')
    export DOCKER_HOST
else
    cat "$log"
    echo "infra: the private dockerd could not start; Docker suites will fail" >&2
fi

for suite in tests/e2e/test_*.py; do
    run_py_suite "$suite" "e2e/$(basename "$suite" .py)"
done
rm -f "$log"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
