#!/bin/sh
# readiness.sh - the tasktracker stack (six services; healthcheck intervals
# 10 s for postgres and nats, 5 s for api and dashboard, 30 s for worker and
# nginx; images ready at once) from nothing to ready: `ttdeploy up` against
# Debian's docker-compose on the same private daemon, median of 5 runs each.
#
# Prints, for ttdeploy: time until `up` returns with everything ready, its
# CPU time and the health-check execs it ran; for docker-compose: time until
# `up -d` returns and until Docker calls all six healthy; and the ratios.
# Targets: ttdeploy under 3 s (issue 7), under 1.3 s (issue 18).  Then the
# engine's own floor for the same stack (bench/start_floor.py): its four
# layers' start requests plus a probe each, with nothing of ttdeploy's.
set -eu
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
export PG_PORT=25555 API_PORT=28000 HTTP_PORT=28080
command -v docker-compose >/dev/null || { echo "readiness: apt-get install docker-compose" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# docker-compose 1.29 rejects the top-level name: key (the project name is
# given with -p) and host_ip in a long-form port: both tools read the same
# file with the ports written short.
grep -v '^name:' examples/tasktracker/compose.yml |
    sed -E 's/\{target: ([0-9]+), published: "([^"]+)", host_ip: ([0-9.]+), mode: host\}/"\3:\2:\1"/' \
        >"$work/compose.yml"
grep -q '{target:' "$work/compose.yml" && { echo "readiness: a port line of the example is not in the form this script rewrites" >&2; exit 1; }
PROJECT=ttbench

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# Between runs the containers go and the database volume stays (as on a
# host that redeploys: postgres starts on its data instead of running
# initdb, which alone takes about 2 s here); purge removes the volume too.
clean() { "$TTDEPLOY" down -f "$work/compose.yml" -p $PROJECT --progress quiet >/dev/null 2>&1 || true; }
purge() { bench_down "$work/compose.yml" $PROJECT; }
purge
"$TTDEPLOY" up -f "$work/compose.yml" -p $PROJECT --progress quiet >/dev/null 2>&1 # initdb, once
all_healthy() {
    n=$(docker ps --filter "label=com.docker.compose.project=$PROJECT" --filter health=healthy -q | wc -l)
    [ "$n" -eq 6 ]
}

: >"$work/tt" ; : >"$work/dc_up" ; : >"$work/dc_healthy"
for i in $(seq "$RUNS"); do
    clean
    t0=$(now)
    /usr/bin/time -f "%U %S" -o "$work/cpu" "$TTDEPLOY" up -f "$work/compose.yml" -p $PROJECT --progress plain >"$work/out" 2>&1
    t1=$(now)
    execs=$(sed -n 's/.*(\([0-9]*\) health-check execs).*/\1/p' "$work/out")
    cpu=$(awk '{ print $1 + $2 }' "$work/cpu")
    echo "$(echo "$t1 - $t0" | bc) $cpu $execs" >>"$work/tt"
    echo "ttdeploy run $i: $(tail -1 "$work/tt")  (seconds, cpu seconds, execs)"
done
# What dockerd alone needs for this stack, on the containers ttdeploy left running.
floor=$(python3 bench/start_floor.py $PROJECT "$RUNS")
echo "$floor"
# docker-compose keeps its own volume between its runs the same way (it
# refuses one that ttdeploy created): its first up runs initdb, untimed.
purge
dc_clean() { docker-compose -f "$work/compose.yml" -p $PROJECT down >/dev/null 2>&1 || true; }
docker-compose -f "$work/compose.yml" -p $PROJECT up -d >/dev/null 2>&1
while ! all_healthy; do sleep 0.2; done
for i in $(seq "$RUNS"); do
    dc_clean
    t0=$(now)
    docker-compose -f "$work/compose.yml" -p $PROJECT up -d >/dev/null 2>&1
    t1=$(now)
    while ! all_healthy; do sleep 0.2; done
    t2=$(now)
    echo "$(echo "$t1 - $t0" | bc) $(echo "$t2 - $t0" | bc)" >>"$work/dc"
    echo "docker-compose run $i: up -d returned $(echo "$t1 - $t0" | bc) s, all healthy $(echo "$t2 - $t0" | bc) s"
done
purge
tt=$(cut -d' ' -f1 "$work/tt" | median)
ttcpu=$(cut -d' ' -f2 "$work/tt" | median)
ttexecs=$(cut -d' ' -f3 "$work/tt" | median)
dcup=$(cut -d' ' -f1 "$work/dc" | median)
dchealthy=$(cut -d' ' -f2 "$work/dc" | median)
printf 'readiness (median of %s): ttdeploy up %.2f s all ready (cpu %.2f s, %s execs); ' "$RUNS" "$tt" "$ttcpu" "$ttexecs"
printf 'docker-compose up -d %.2f s, all healthy %.2f s; ratio %.1fx to return, %.1fx to healthy (targets: ttdeploy < 3 s, < 1.3 s)\n' \
    "$dcup" "$dchealthy" "$(echo "$dcup / $tt" | bc -l)" "$(echo "$dchealthy / $tt" | bc -l)"
echo "$floor"
