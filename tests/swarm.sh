#!/bin/sh
# swarm.sh - a one-node Docker Swarm on a private dockerd, for swarm mode's tests.
#
#   tests/swarm.sh up      start (or reuse) the daemon, init the swarm, load the images
#   tests/swarm.sh env     print the DOCKER_HOST line for the swarm's daemon
#   tests/swarm.sh ip      print the address where its published ports answer
#   tests/swarm.sh purge   stop it and delete its root
#
# It lives under $TTDEPLOY_TEST_ROOT/swarm1 (default /var/tmp/ttdeploy-test):
# its own socket, data root, exec root, pidfile and containerd namespaces,
# started the way tests/infra.sh starts the shared daemon (setsid, fds 3-9
# closed), in a network namespace of its own (ttswarm1) joined to the host
# by a veth pair: the host is 10.231.7.1, the daemon's namespace
# 10.231.7.2, where the services' published ports (mode: host) answer.
# The swarm listens on 127.0.0.1:23770 of that namespace only.  The images
# come from the shared daemon (`tests/infra.sh up` builds them):
# docker save | docker load; migrator:3 is the base of the example's api
# images, which the README's swarm section builds on this daemon.
set -eu

BASE=${TTDEPLOY_TEST_ROOT:-/var/tmp/ttdeploy-test}
ROOT=$BASE/swarm1
SOCK=$ROOT/docker.sock
SHARED=unix://$BASE/docker.sock
NETNS=ttswarm1
HOST_IP=10.231.7.1
NS_IP=10.231.7.2
IMAGES="ttdeploy-test/postgres:15 ttdeploy-test/busybox:latest ttdeploy-test/migrator:2
    ttdeploy-test/migrator:3"
HERE=$(cd "$(dirname "$0")" && pwd)

log() { echo "swarm: $*" >&2; }
. "$(dirname "$0")/daemon-lib.sh"

ping_ok() {
    [ -S "$SOCK" ] && curl -sf --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1
}

make_netns() {
    ip netns exec $NETNS true 2>/dev/null && return 0
    command -v ip >/dev/null || { log "ip not found: apt-get install iproute2"; exit 1; }
    log "network namespace $NETNS ($NS_IP, the host $HOST_IP)"
    ip netns add $NETNS
    ip link add ttsw1h type veth peer name ttsw1n
    ip link set ttsw1n netns $NETNS
    ip addr add $HOST_IP/30 dev ttsw1h
    ip link set ttsw1h up
    ip netns exec $NETNS ip addr add $NS_IP/30 dev ttsw1n
    ip netns exec $NETNS ip link set ttsw1n up
    ip netns exec $NETNS ip link set lo up
    ip netns exec $NETNS ip route add default via $HOST_IP
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
    # DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: a task runs the node's own copy
    # of its image without asking a registry first (there is none here).
    spawn_detached "$ROOT/dockerd.log" \
        nsenter --net=/var/run/netns/$NETNS env DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 \
        dockerd --host "unix://$SOCK" --data-root "$ROOT/data" --exec-root "$ROOT/exec" \
        --pidfile "$ROOT/dockerd.pid" --containerd-namespace ttdeploy-swarm1 \
        --containerd-plugins-namespace ttdeploy-swarm1-plugins --bridge none
    wait_until "dockerd answered /_ping on $SOCK" "$ROOT/dockerd.log" ping_ok
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
    make_netns
    start_daemon
    init_swarm
    load_images
    ;;
env)
    echo "DOCKER_HOST=unix://$SOCK"
    ;;
ip)
    echo "$NS_IP"
    ;;
purge)
    if [ -f "$ROOT/dockerd.pid" ]; then
        pid=$(cat "$ROOT/dockerd.pid")
        kill "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 40 ]; do sleep 0.5; i=$((i + 1)); done
    fi
    # Every mount under the root, deepest first: the data root's bind mount,
    # and the netns files dockerd binds under exec/netns (exec itself is no
    # mount, so `umount -R exec` would leave them and rm would fail).
    awk -v r="$ROOT/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$ROOT"
    ip link del ttsw1h 2>/dev/null || true
    ip netns del $NETNS 2>/dev/null || true
    ;;
*)
    echo "usage: tests/swarm.sh up|env|ip|purge" >&2
    exit 2
    ;;
esac
