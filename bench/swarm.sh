#!/bin/sh
# swarm.sh - the example's six-service stack (examples/tasktracker: postgres
# + nats-like infra -> api + worker -> dashboard -> nginx-like; its images,
# healthchecks and intervals: 10 s for postgres and nats, 5 s for api and
# dashboard, 30 s for worker and nginx; without published ports) deployed
# three ways, median of $RUNS (3) runs each, every run from nothing:
#
#   local   `ttdeploy apply` in local mode on the shared private daemon
#           (containers; ttdeploy runs the health checks itself)
#   swarm   `ttdeploy apply` in swarm mode on the three-node swarm of
#           tests/cluster.sh (node 1, the manager): layer by layer, each
#           layer's tasks running and healthy before the next starts
#   stack   `docker stack deploy -c` of the same stack on the same swarm
#           (depends_on written as a list, which stack deploy ignores: every
#           service starts at once), timed until every service's task runs
#           and is healthy (polled every 0.2 s)
#
# BENCH_ONLY=local|swarm|stack runs one of them.  The local runs use the
# shared daemon: run them under the e2e lock (flock -o
# /tmp/ttdeploy-e2e.lock).  Not part of `make test`.
set -eu
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-3}
ONLY=${BENCH_ONLY:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

# The example's compose file (examples/tasktracker/compose.yml) as project
# $2, without its published ports (fixed ports of the shared daemon; and
# Swarm's ingress needs IPVS, which this kernel lacks).  With $1 = list:
# depends_on as a list and no name: key, for docker stack deploy.
stack_yml() {
    awk -v list="$1" -v name="$2" '
        /^name:/ { if (list != "list") print "name: " name; next }
        skip && match($0, /^ */) && RLENGTH > skipind { next }
        { skip = 0 }
        /^ *ports:$/ { skip = 1; match($0, /^ */); skipind = RLENGTH; next }
        list == "list" && /condition: service_healthy$/ { next }
        list == "list" && dep && match($0, /^ */) && RLENGTH > depind { sub(/^ */, "&- "); sub(/:$/, ""); print; next }
        { dep = 0 }
        /^ *depends_on:$/ { dep = 1; match($0, /^ */); depind = RLENGTH }
        { print }
    ' examples/tasktracker/compose.yml
}

# Folder $1 for `ttdeploy apply`: compose.yml (project $2) and plan.yml.
tt_folder() {
    mkdir -p "$1"
    stack_yml conditions "$2" >"$1/compose.yml"
    printf 'version: 1\ncompose: [compose.yml]\nrelease: {version: bench}\n' >"$1/plan.yml"
}

# Runs `ttdeploy apply` of folder $1 $RUNS times, cleaning with $2 before
# each run and after the last; appends the seconds to $work/$3; the other
# arguments go to apply (--host, --mode).
time_apply() {
    dir=$1
    clean=$2
    what=$3
    shift 3
    : >"$work/$3"
    for i in $(seq "$RUNS"); do
        $clean
        rm -rf "$dir/.ttdeploy"
        t0=$(now)
        "$TTDEPLOY" apply --progress plain "$@" "$dir/plan.yml" >"$work/out" 2>&1 ||
            { cat "$work/out" >&2; echo "swarm bench: $what run $i failed" >&2; exit 1; }
        t1=$(now)
        echo "$t1 - $t0" | bc >>"$work/$what"
        echo "$what run $i: $(tail -1 "$work/$what") s"
    done
    $clean
}

# ---- local mode on the shared daemon --------------------------------------
LOCAL=$work/tt-local
local_clean() { bench_down "$LOCAL/compose.yml" ttbench-swl; }
if want local; then
    tt_folder "$LOCAL" ttbench-swl
    time_apply "$LOCAL" local_clean local --host "$DOCKER_HOST" --mode local
fi

# ---- the swarm of tests/cluster.sh ----------------------------------------
if want swarm || want stack; then
    tests/cluster.sh up ttdeploy-test/postgres:15 >/dev/null 2>&1 ||
        { tests/cluster.sh up ttdeploy-test/postgres:15; exit 1; }
    MANAGER=$(tests/cluster.sh env | sed 's/^DOCKER_HOST=//')
    NODE_SOCKS=$(for n in 1 2 3; do echo "unix://${MANAGER#unix://}" | sed "s|/n1/|/n$n/|"; done)
fi

# Removes stack $1 from the swarm: its services and networks, then its
# volumes on every node (which fails while a task's container still uses
# them: that is the wait for the containers to go), 60 s at most.
swarm_clean() {
    docker -H "$MANAGER" stack rm "$1" >/dev/null 2>&1 || true
    tries=0
    while :; do
        left=0
        for h in $NODE_SOCKS; do
            for v in $(docker -H "$h" volume ls -q --filter "name=$1_"); do
                docker -H "$h" volume rm "$v" >/dev/null 2>&1 || left=1
            done
            [ -z "$(docker -H "$h" ps -aq --filter "label=com.docker.stack.namespace=$1")" ] || left=1
        done
        [ -n "$(docker -H "$MANAGER" network ls -q --filter "label=com.docker.stack.namespace=$1")" ] && left=1
        [ "$left" = 0 ] && return 0
        tries=$((tries + 1))
        [ "$tries" -le 300 ] || { echo "swarm bench: stack $1 still there after 60 s" >&2; exit 1; }
        docker -H "$MANAGER" stack rm "$1" >/dev/null 2>&1 || true
        sleep 0.2
    done
}

SWARM=$work/tt-swarm
swarm_tt_clean() { swarm_clean ttbench-sws; }
if want swarm; then
    tt_folder "$SWARM" ttbench-sws
    time_apply "$SWARM" swarm_tt_clean swarm --host "$MANAGER" --mode swarm
fi

# True when stack $1 has 6 services, each with a task that runs (Swarm says
# running only after the first healthy check of a service with one).
stack_ready() {
    n=$(docker -H "$MANAGER" stack ps "$1" --filter desired-state=running \
        --format '{{.CurrentState}}' 2>/dev/null | grep -c '^Running' || true)
    [ "$n" -eq 6 ]
}

if want stack; then
    stack_yml list ttbench-stk >"$work/stack.yml"
    : >"$work/stack"
    for i in $(seq "$RUNS"); do
        swarm_clean ttbench-stk
        t0=$(now)
        docker -H "$MANAGER" stack deploy -c "$work/stack.yml" ttbench-stk >/dev/null 2>&1
        t1=$(now)
        j=0
        while ! stack_ready ttbench-stk; do
            j=$((j + 1))
            [ "$j" -le 900 ] || { echo "swarm bench: stack not ready after 180 s" >&2; exit 1; }
            sleep 0.2
        done
        t2=$(now)
        echo "$(echo "$t2 - $t0" | bc) $(echo "$t1 - $t0" | bc)" >>"$work/stack"
        echo "stack run $i: deploy returned $(echo "$t1 - $t0" | bc) s, all running and healthy $(tail -1 "$work/stack" | cut -d' ' -f1) s"
    done
    swarm_clean ttbench-stk
fi

printf 'swarm bench (median of %s, six services, example intervals):' "$RUNS"
want local && printf ' ttdeploy local %.2f s;' "$(median <"$work/local")"
want swarm && printf ' ttdeploy swarm %.2f s;' "$(median <"$work/swarm")"
want stack && printf ' docker stack deploy %.2f s to all healthy (returns after %.2f s, no order);' \
    "$(cut -d' ' -f1 "$work/stack" | median)" "$(cut -d' ' -f2 "$work/stack" | median)"
echo
