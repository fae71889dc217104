#!/bin/sh
# swarm.sh - a one-node Docker Swarm on a private dockerd, for swarm mode's tests.
#
#   tests/swarm.sh up      start (or reuse) the daemon, init the swarm, load the images
#   tests/swarm.sh env     print the DOCKER_HOST line for the swarm's daemon
#   tests/swarm.sh purge   stop it and delete its root
#
# It lives under $TTDEPLOY_TEST_ROOT/swarm1 (default /var/tmp/ttdeploy-test):
# its own socket, data root, exec root, pidfile and containerd namespaces,
# started the way tests/infra.sh starts the shared daemon (setsid, fds 3-9
# closed).  The swarm listens on 127.0.0.1:23770 only.  The images come from
# the shared daemon (`tests/infra.sh up` builds them): docker save | docker load.
set -eu

BASE=${TTDEPLOY_TEST_ROOT:-/var/tmp/ttdeploy-test}
ROOT=$BASE/swarm1
SOCK=$ROOT/docker.sock
SHARED=unix://$BASE/docker.sock
IMAGES="ttdeploy-test/postgres:15 ttdeploy-test/busybox:latest ttdeploy-test/migrator:2"
HERE=$(cd "$(dirname "$0")" && pwd)

log() { echo "swarm: $*" >&2; }

ping_ok() {
    [ -S "$SOCK" ] && curl -sf --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1
}

start_daemon() {
    if ping_ok; then
        log "reusing the daemon on $SOCK"
        return 0
    fi
    command -v dockerd >/dev/null || { log "dockerd not found: apt-get install docker.io"; exit 1; }
    mkdir -p "$ROOT/data" "$ROOT/exec"
    rm -f "$SOCK"
    log "starting dockerd on $SOCK (data root $ROOT/data)"
    setsid sh -c 'for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && [ "$fd" -lt 10 ] && eval "exec $fd>&-"; done
                  exec "$@"' close_fds_exec \
        dockerd --host "unix://$SOCK" --data-root "$ROOT/data" --exec-root "$ROOT/exec" \
        --pidfile "$ROOT/dockerd.pid" --containerd-namespace ttdeploy-swarm1 \
        --containerd-plugins-namespace ttdeploy-swarm1-plugins --bridge none \
        >"$ROOT/dockerd.log" 2>&1 </dev/null &
    i=0
    while ! ping_ok; do
        i=$((i + 1))
        if [ "$i" -gt 120 ]; then
            log "dockerd did not answer /_ping within 60 s; its log ($ROOT/dockerd.log):"
            tail -20 "$ROOT/dockerd.log" >&2
            exit 1
        fi
        sleep 0.5
    done
}

init_swarm() {
    state=$(DOCKER_HOST=unix://$SOCK docker info --format '{{.Swarm.LocalNodeState}}')
    [ "$state" = active ] && return 0
    log "docker swarm init on 127.0.0.1:23770"
    DOCKER_HOST=unix://$SOCK docker swarm init --advertise-addr 127.0.0.1 \
        --listen-addr 127.0.0.1:23770 >/dev/null
}

load_images() {
    for image in $IMAGES; do
        DOCKER_HOST=unix://$SOCK docker image inspect "$image" >/dev/null 2>&1 && continue
        DOCKER_HOST=$SHARED docker image inspect "$image" >/dev/null 2>&1 ||
            { log "$image is not on the shared daemon: run tests/infra.sh up first"; exit 1; }
        log "loading $image from the shared daemon"
        DOCKER_HOST=$SHARED docker save "$image" | DOCKER_HOST=unix://$SOCK docker load >/dev/null
    done
}

case "${1:-}" in
up)
    "$HERE/infra.sh" up
    start_daemon
    init_swarm
    load_images
    ;;
env)
    echo "DOCKER_HOST=unix://$SOCK"
    ;;
purge)
    if [ -f "$ROOT/dockerd.pid" ]; then
        pid=$(cat "$ROOT/dockerd.pid")
        kill "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 40 ]; do sleep 0.5; i=$((i + 1)); done
    fi
    umount -R "$ROOT/exec" 2>/dev/null || true
    umount -R "$ROOT/data" 2>/dev/null || true
    rm -rf "$ROOT"
    ;;
*)
    echo "usage: tests/swarm.sh up|env|purge" >&2
    exit 2
    ;;
esac
