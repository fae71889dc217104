#!/bin/sh
# swarm_example.sh - how long the bundled example takes to deploy, from
# nothing until every service's task (container) runs and is healthy:
#
#   ttdeploy up, swarm mode      the stack only, layer by layer (the DAG)
#   ttdeploy apply, swarm mode   all phases of v1.4.0 (backup skipped on a
#                                fresh database, migration with rehearsal,
#                                infra, app, verify)
#   docker stack deploy          the same stack (ttdeploy config of
#                                compose.yml + compose.swarm.yml, with
#                                depends_on written as a list, which it
#                                needs and then ignores), --resolve-image
#                                never, then polled until every service
#                                shows 1/1 (a task with a healthcheck
#                                counts once healthy)
#   ttdeploy up / apply, local   the same in local mode on the shared daemon
#
# on tests/swarm.sh's one-node swarm.  Median of RUNS (default 3), each
# from a clean slate (down -v, a fresh store).  Not part of `make test`.
set -eu
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-3}
LOCAL_HOST=$DOCKER_HOST
tests/swarm.sh up >/dev/null 2>&1
SWARM_HOST=$(tests/swarm.sh env | cut -d= -f2-)
NS_IP=$(tests/swarm.sh ip)
export PG_PORT=27532 API_PORT=27101 HTTP_PORT=27181 RELEASE=v1.4.0 API_IMAGE=tasktracker/api:v1.4.0
work=$(mktemp -d /var/tmp/ttdeploy-bench-XXXXXX)
SW=ttbenchsw
ST=ttbenchst
LO=ttbenchlo

cleanup() {
    DOCKER_HOST=$SWARM_HOST "$TTDEPLOY" down --mode swarm -v -f "$work/$SW/compose.yml" \
        -f "$work/$SW/compose.swarm.yml" --progress quiet >/dev/null 2>&1 || true
    DOCKER_HOST=$SWARM_HOST docker stack rm $ST >/dev/null 2>&1 || true
    bench_down "$work/$LO/compose.yml" $LO
    rm -rf "$work"
}
trap cleanup EXIT

# A copy of the example as project $1 in $work/$1.
copy_example() {
    mkdir -p "$work/$1"
    cp -r examples/tasktracker/. "$work/$1/"
    rm -rf "$work/$1/.ttdeploy" "$work/$1/backups"
    sed -i "s/^name: tasktracker/name: $1/" "$work/$1/compose.yml"
    sed -i "s/^project: tasktracker/project: $1/" "$work/$1/plan.yml"
}
copy_example $SW
copy_example $LO
for host in "$SWARM_HOST" "$LOCAL_HOST"; do
    DOCKER_HOST=$host examples/tasktracker/demo/build-images.sh >/dev/null
done

# The stack file for docker stack deploy: the merged compose files, resolved by ttdeploy,
# in the shape the docker CLI's loader takes.
DOCKER_HOST=$SWARM_HOST "$TTDEPLOY" config -f "$work/$SW/compose.yml" \
    -f "$work/$SW/compose.swarm.yml" >"$work/merged.yml"
python3 - "$work/merged.yml" "$work/stack.yml" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
doc.pop("name", None)
for s in doc["services"].values():
    if "depends_on" in s:
        s["depends_on"] = sorted(s["depends_on"])  # a list: the CLI takes no conditions
    for key in ("restart", "networks"):
        s.pop(key, None)
    for p in s.get("ports", []):
        p.pop("host_ip", None)
        p["published"] = int(p["published"])
doc["version"] = "3.8"
yaml.safe_dump(doc, open(sys.argv[2], "w"))
PY

sw_down() {
    DOCKER_HOST=$SWARM_HOST "$TTDEPLOY" down --mode swarm -v -f "$work/$SW/compose.yml" \
        -f "$work/$SW/compose.swarm.yml" --progress quiet >/dev/null
}
st_down() {
    DOCKER_HOST=$SWARM_HOST docker stack rm $ST >/dev/null 2>&1 || true
    while DOCKER_HOST=$SWARM_HOST docker ps -aq --filter label=com.docker.stack.namespace=$ST |
        grep -q .; do sleep 0.2; done
    while DOCKER_HOST=$SWARM_HOST docker network ls -q --filter label=com.docker.stack.namespace=$ST |
        grep -q .; do sleep 0.2; done
    DOCKER_HOST=$SWARM_HOST docker volume rm -f ${ST}_pgdata >/dev/null 2>&1 || true
}
lo_down() { bench_down "$work/$LO/compose.yml" $LO; }

# The seconds command "$@" takes (it must succeed).
timed() {
    t0=$(now)
    "$@" >"$work/last.log" 2>&1 || { cat "$work/last.log" >&2; exit 1; }
    echo "$(now) - $t0" | bc
}

sw_up() {
    DOCKER_HOST=$SWARM_HOST "$TTDEPLOY" up --mode swarm -f "$work/$SW/compose.yml" \
        -f "$work/$SW/compose.swarm.yml" --progress quiet
}
sw_apply() {
    DOCKER_HOST=$SWARM_HOST ENGINE_MODE=swarm DB_HOST=$NS_IP API_HOST=$NS_IP \
        "$TTDEPLOY" apply --state "$work/sw-$i.db" --progress quiet "$work/$SW/plan.yml"
}
st_deploy() {
    DOCKER_HOST=$SWARM_HOST docker stack deploy --resolve-image never -c "$work/stack.yml" $ST
    until [ "$(DOCKER_HOST=$SWARM_HOST docker service ls \
        --filter label=com.docker.stack.namespace=$ST --format '{{.Replicas}}' |
        grep -c '^1/1')" -eq 6 ]; do sleep 0.1; done
}
lo_up() { "$TTDEPLOY" up -f "$work/$LO/compose.yml" --progress quiet; }
lo_apply() { "$TTDEPLOY" apply --state "$work/lo-$i.db" --progress quiet "$work/$LO/plan.yml"; }

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

: >"$work/results"
for i in $(seq "$RUNS"); do
    for what in sw_up sw_apply st_deploy lo_up lo_apply; do
        sw_down # all of them: the swarm runs one stack at a time (the same host ports)
        st_down
        lo_down
        echo "$what $(timed $what)" >>"$work/results"
    done
done
sw_down
st_down
lo_down

printf '%-44s %10s   (median of %s, seconds: each run)\n' "the example, from nothing to healthy" "seconds" "$RUNS"
for what in sw_up sw_apply st_deploy lo_up lo_apply; do
    case $what in
    sw_up) label="ttdeploy up, swarm mode (DAG kept)" ;;
    sw_apply) label="ttdeploy apply, swarm mode (all phases)" ;;
    st_deploy) label="docker stack deploy (order ignored)" ;;
    lo_up) label="ttdeploy up, local mode" ;;
    lo_apply) label="ttdeploy apply, local mode (all phases)" ;;
    esac
    runs=$(awk -v w=$what '$1 == w { printf "%.2f ", $2 }' "$work/results")
    m=$(awk -v w=$what '$1 == w { print $2 }' "$work/results" | median)
    printf '%-44s %10.2f   %s\n' "$label" "$m" "$runs"
done
