#!/bin/sh
# build-images.sh - builds the example's api images on the daemon that
# DOCKER_HOST names: tasktracker/api:v1.3.0 (revision 0001), v1.4.0 (0001,
# 0002: the Dockerfile beside the plan) and the broken v1.5.0 (plus 0003).
# Used by `make example`, `make demo` and tests/e2e/test_example.py.  Only
# COPY/ENV/CMD steps: the classic builder needs no network and no registry.
set -eu
cd "$(dirname "$0")/.."
export DOCKER_BUILDKIT=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
build() { # TAG [docker build options]: quiet unless it fails
    tag=$1
    shift
    docker build -q -t "tasktracker/api:$tag" "$@" . >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
}
build v1.4.0
build v1.3.0 -f demo/Dockerfile.v1.3.0
build v1.5.0 -f demo/Dockerfile.v1.5.0
echo "built tasktracker/api:v1.3.0, v1.4.0 and v1.5.0 (broken)"
