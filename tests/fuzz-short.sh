#!/bin/sh
# fuzz-short.sh - each libFuzzer target given replays its seed corpus
# (tests/fuzz/corpus/NAME: every input there once, which is how the crashes
# found earlier stay fixed), then fuzzes FUZZ_SHORT seconds (default 20)
# from it, with its dictionary when there is one, into a scratch corpus.
# A target passes when both end without a finding.  Prints a line per
# target and the closing "N passed, N failed".  Two targets run at a time
# (FUZZ_JOBS), one a core.
set -u
cd "$(dirname "$0")/.."
pass=0
fail=0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# One target: its lines go to $scratch/NAME.out, "pass" or "fail" to NAME.rc.
run_one() {
    f=$1
    name=$(basename "$f")
    seeds=tests/fuzz/corpus/${name#fuzz_}
    dict=tests/fuzz/${name#fuzz_}.dict
    mkdir -p "$scratch/$name"
    log="$scratch/$name.log"
    out="$scratch/$name.out"
    if "$f" -runs=0 -rss_limit_mb=2048 "$seeds" >"$log" 2>&1 &&
        "$f" -max_total_time="${FUZZ_SHORT:-20}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
            $( [ -f "$dict" ] && echo "-dict=$dict") -artifact_prefix="$scratch/$name-" \
            -print_final_stats=1 "$scratch/$name" "$seeds" >>"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        echo "  ok   $name (${runs:-?} runs)" >"$out"
        echo pass >"$scratch/$name.rc"
    else
        echo "  FAIL $name" >"$out"
        grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -20 >>"$out"
        for a in "$scratch/$name"-*; do
            [ -f "$a" ] && cp "$a" "build-fuzz/" && echo "       kept build-fuzz/$(basename "$a")" >>"$out"
        done
        echo fail >"$scratch/$name.rc"
    fi
}

# FUZZ_JOBS targets at a time (default 2: one a core); each keeps its full time.
running=0
for f in "$@"; do
    run_one "$f" &
    running=$((running + 1))
    if [ "$running" -ge "${FUZZ_JOBS:-2}" ]; then
        wait
        running=0
    fi
done
wait
for f in "$@"; do
    name=$(basename "$f")
    cat "$scratch/$name.out"
    if [ "$(cat "$scratch/$name.rc" 2>/dev/null)" = pass ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
