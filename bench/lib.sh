# lib.sh - what the shell benchmarks share, sourced by them after `set -eu`:
# run from the repository root, the binary under test ($TTDEPLOY, default
# ./ttdeploy), the private dockerd of tests/infra.sh exported as
# DOCKER_HOST, a clock, and taking a project down.

cd "$(dirname "$0")/.."
TTDEPLOY=${TTDEPLOY:-./ttdeploy}
tests/infra.sh up >/dev/null 2>&1
DOCKER_HOST=$(tests/infra.sh env | sed 's/^DOCKER_HOST=//')
export DOCKER_HOST

# Seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }

# Takes project $2 of compose file $1 down with its volumes, quietly; never fails.
bench_down() {
    "$TTDEPLOY" down -f "$1" -p "$2" -v --progress quiet >/dev/null 2>&1 || true
}
