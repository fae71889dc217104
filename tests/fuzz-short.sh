#!/bin/sh
# fuzz-short.sh - each libFuzzer target given replays its seed corpus
# (tests/fuzz/corpus/NAME: every input there once, which is how the crashes
# found earlier stay fixed), then fuzzes FUZZ_SHORT seconds (default 20)
# from it, with its dictionary when there is one, into a scratch corpus.
# A target passes when both end without a finding.  Prints a line per
# target and the closing "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
pass=0
fail=0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for f in "$@"; do
    name=$(basename "$f")
    seeds=tests/fuzz/corpus/${name#fuzz_}
    dict=tests/fuzz/${name#fuzz_}.dict
    mkdir -p "$scratch/$name"
    log="$scratch/$name.log"
    if "$f" -runs=0 -rss_limit_mb=2048 "$seeds" >"$log" 2>&1 &&
        "$f" -max_total_time="${FUZZ_SHORT:-20}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
            $( [ -f "$dict" ] && echo "-dict=$dict") -artifact_prefix="$scratch/$name-" \
            -print_final_stats=1 "$scratch/$name" "$seeds" >>"$log" 2>&1; then
        pass=$((pass + 1))
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        echo "  ok   $name (${runs:-?} runs)"
    else
        fail=$((fail + 1))
        echo "  FAIL $name"
        grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -20
        for a in "$scratch/$name"-*; do
            [ -f "$a" ] && cp "$a" "build-fuzz/" && echo "       kept build-fuzz/$(basename "$a")"
        done
    fi
done
echo "$pass passed, $fail failed"
