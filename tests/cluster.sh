#!/bin/sh
# cluster.sh - a three-node Docker Swarm for the cluster tests, on one machine.
#
#   tests/cluster.sh up [IMAGE...]  make (or reuse and repair) the cluster, load
#                                   busybox and the IMAGEs into every node
#   tests/cluster.sh env            print the DOCKER_HOST line of node 1, the manager
#   tests/cluster.sh status         print what exists: namespaces, daemons, nodes
#   tests/cluster.sh purge          leave the swarm, stop the daemons, delete the
#                                   namespaces, the bridge and the root
#
# Each node is a network namespace ttd-nN (N = 1, 2, 3) with a veth pair to
# the bridge ttdbr0 in the root namespace (10.231.0.1/24), the node at
# 10.231.0.1N, and a private dockerd started inside it under
# $TTDEPLOY_TEST_ROOT/cluster/nN: its own socket (nN/docker.sock, a unix
# socket, so reachable from the root namespace), data root, exec root,
# pidfile and containerd namespaces, and its own hostname ttd-nN (a UTS
# namespace from unshare), so `docker node ls` tells the nodes apart.
# The daemon enters the namespace with `nsenter --net`, not `ip netns exec`:
# the latter mounts a fresh /sys, which hides /sys/fs/cgroup, and dockerd
# then refuses to start ("Devices cgroup isn't mounted").  Node 1
# runs `swarm init`, nodes 2 and 3 `swarm join` with the worker token; node 2
# carries the label role=api.  Images come from the shared test daemon
# (tests/infra.sh) by `docker save | docker load`: no registry is needed.
#
# DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1: a node's agent runs a task from the
# image it holds instead of trying a registry first (none is reachable).
#
# The root namespace's FORWARD chain (policy DROP under dockerd, and
# br_netfilter sends bridged frames through it) gets one rule accepting
# ttdbr0 to ttdbr0, so the nodes reach each other; purge removes it.
set -eu

TROOT=${TTDEPLOY_TEST_ROOT:-/var/tmp/ttdeploy-test}
ROOT=$TROOT/cluster
SHARED_HOST=unix://$TROOT/docker.sock
BRIDGE=ttdbr0
NET=10.231.0
NODES="1 2 3"
BUSYBOX_IMAGE=ttdeploy-test/busybox:latest
FORWARD_RULE="-i $BRIDGE -o $BRIDGE -m comment --comment ttdeploy-cluster -j ACCEPT"

log() { echo "cluster: $*" >&2; }
. "$(dirname "$0")/daemon-lib.sh"
die() {
    log "$*"
    exit 1
}

sock() { echo "$ROOT/n$1/docker.sock"; }
# docker on node $1
nd() {
    n=$1
    shift
    docker -H "unix://$(sock "$n")" "$@"
}

ping_ok() {
    [ -S "$(sock "$1")" ] && curl -sf --max-time 2 --unix-socket "$(sock "$1")" http://d/_ping >/dev/null 2>&1
}

have_netns() { ip netns list | grep -qw "ttd-n$1"; }

# The bridge in the root namespace, its address and the FORWARD rule.
bridge_up() {
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        log "creating bridge $BRIDGE ($NET.1/24)"
        ip link add "$BRIDGE" type bridge
    fi
    ip addr show dev "$BRIDGE" | grep -q "inet $NET.1/24" || ip addr add "$NET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    # shellcheck disable=SC2086
    iptables -C FORWARD $FORWARD_RULE 2>/dev/null || iptables -I FORWARD $FORWARD_RULE
}

# Namespace ttd-n$1 with loopback up and eth0 at $NET.1$1, linked to the bridge.
node_net_up() {
    n=$1
    ns=ttd-n$n
    have_netns "$n" || {
        log "creating network namespace $ns"
        ip netns add "$ns"
    }
    ip -n "$ns" link set lo up
    if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
        ip link del "ttd-v$n" 2>/dev/null || true
        ip link add "ttd-v$n" type veth peer name eth0 netns "$ns"
    fi
    ip link set "ttd-v$n" master "$BRIDGE" up
    ip -n "$ns" addr show dev eth0 | grep -q "inet $NET.1$n/24" || ip -n "$ns" addr add "$NET.1$n/24" dev eth0
    ip -n "$ns" link set eth0 up
    # No default route: a registry lookup fails at once (network unreachable)
    # instead of waiting for the host's DNS server (20 s per task).
    ip -n "$ns" route del default 2>/dev/null || true
}

# The private dockerd of node $1, started as tests/infra.sh starts the shared
# one (setsid, descriptors 3-9 closed, a deadline on the wait), inside the
# node's network namespace and a UTS namespace named after the node.
node_daemon_up() {
    n=$1
    dir=$ROOT/n$n
    if ping_ok "$n"; then
        return 0
    fi
    mkdir -p "$dir/data" "$dir/exec"
    if [ -f "$dir/dockerd.pid" ] && kill -0 "$(cat "$dir/dockerd.pid")" 2>/dev/null; then
        die "node $n: dockerd (pid $(cat "$dir/dockerd.pid")) runs but does not answer on $(sock "$n"): tests/cluster.sh purge, then up"
    fi
    rm -f "$(sock "$n")" "$dir/dockerd.pid"
    log "starting dockerd of node $n in ttd-n$n on $(sock "$n")"
    spawn_detached "$dir/dockerd.log" \
        nsenter --net="/run/netns/ttd-n$n" unshare --uts sh -c 'hostname "$0" && exec "$@"' "ttd-n$n" \
        env DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 \
        dockerd --host "unix://$(sock "$n")" --data-root "$dir/data" --exec-root "$dir/exec" \
        --pidfile "$dir/dockerd.pid" --containerd-namespace "ttdeploy-cluster-n$n" \
        --containerd-plugins-namespace "ttdeploy-cluster-n$n-plugins" --bridge none
}

node_daemon_wait() {
    wait_until "node $1: dockerd answered /_ping" "$ROOT/n$1/dockerd.log" ping_ok "$1"
}

swarm_state() { nd "$1" info --format '{{.Swarm.LocalNodeState}}'; }
node_id() { nd "$1" info --format '{{.Swarm.NodeID}}'; }

# Node 1 is the manager: init unless it already manages a swarm.
swarm_init() {
    if [ "$(swarm_state 1)" = active ] && [ "$(nd 1 info --format '{{.Swarm.ControlAvailable}}')" = true ]; then
        return 0
    fi
    [ "$(swarm_state 1)" = inactive ] || nd 1 swarm leave --force >/dev/null
    log "swarm init on node 1 ($NET.11)"
    nd 1 swarm init --advertise-addr "$NET.11" --listen-addr "$NET.11:2377" \
        --default-addr-pool 10.232.0.0/16 >/dev/null
}

# Nodes 2 and 3 join node 1's swarm, or leave a stale one first (a node
# is in the swarm when the manager knows its id).
swarm_join() {
    n=$1
    if [ "$(swarm_state "$n")" = active ] && nd 1 node inspect "$(node_id "$n")" >/dev/null 2>&1; then
        return 0
    fi
    [ "$(swarm_state "$n")" = inactive ] || nd "$n" swarm leave --force >/dev/null
    log "node $n joins the swarm"
    nd "$n" swarm join --token "$(nd 1 swarm join-token -q worker)" \
        --advertise-addr "$NET.1$n" --listen-addr "$NET.1$n:2377" "$NET.11:2377" >/dev/null
}

# Drops nodes that are down (left behind by an earlier join), labels node 2,
# and waits (30 s) until the three nodes are Ready.
swarm_nodes() {
    for id in $(nd 1 node ls --format '{{.ID}} {{.Status}}' | awk '$2 == "Down" { print $1 }'); do
        nd 1 node rm --force "$id" >/dev/null
    done
    nd 1 node update --label-add role=api "$(node_id 2)" >/dev/null
    i=0
    while [ "$(nd 1 node ls --format '{{.Status}}' | grep -c '^Ready$')" -ne 3 ]; do
        i=$((i + 1))
        [ "$i" -le 60 ] || die "the swarm has not 3 Ready nodes after 30 s: $(nd 1 node ls)"
        sleep 0.5
    done
}

# Loads each image from the shared daemon into every node that lacks it.
load_images() {
    for image in "$@"; do
        docker -H "$SHARED_HOST" image inspect "$image" >/dev/null 2>&1 ||
            die "$image is not on the shared daemon ($SHARED_HOST): run tests/infra.sh up"
        for n in $NODES; do
            nd "$n" image inspect "$image" >/dev/null 2>&1 && continue
            log "loading $image into node $n"
            docker -H "$SHARED_HOST" save "$image" | nd "$n" load >/dev/null
        done
    done
}

up() {
    command -v dockerd >/dev/null || die "dockerd not found: apt-get install docker.io"
    ip netns list >/dev/null 2>&1 || die "ip netns does not work here (root and iproute2 are needed)"
    command -v iptables >/dev/null || die "iptables not found: apt-get install iptables"
    mkdir -p "$ROOT"
    bridge_up
    for n in $NODES; do node_net_up "$n"; done
    for n in $NODES; do node_daemon_up "$n"; done
    for n in $NODES; do node_daemon_wait "$n"; done
    swarm_init
    swarm_join 2
    swarm_join 3
    swarm_nodes
    load_images "$BUSYBOX_IMAGE" "$@"
}

status() {
    for n in $NODES; do
        if have_netns "$n"; then ns=yes; else ns=no; fi
        if ping_ok "$n"; then d="answers, swarm $(swarm_state "$n")"; else d="not answering"; fi
        echo "node $n: namespace ttd-n$n $ns, dockerd $d"
    done
    ping_ok 1 && nd 1 node ls || true
}

# Stops node $1's dockerd (and anything left in its namespace).
node_stop() {
    n=$1
    pidfile=$ROOT/n$n/dockerd.pid
    if [ -f "$pidfile" ]; then
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 40 ]; do sleep 0.5; i=$((i + 1)); done
        kill -9 "$pid" 2>/dev/null || true
    fi
    if have_netns "$n"; then
        for pid in $(ip netns pids "ttd-n$n"); do kill -9 "$pid" 2>/dev/null || true; done
    fi
}

purge() {
    for n in 3 2 1; do
        ping_ok "$n" && nd "$n" swarm leave --force >/dev/null 2>&1 || true
    done
    for n in $NODES; do node_stop "$n"; done
    for n in $NODES; do
        have_netns "$n" && ip netns del "ttd-n$n"
        ip link del "ttd-v$n" 2>/dev/null || true
    done
    ip link del "$BRIDGE" 2>/dev/null || true
    # What the daemons mounted under the root (netns files, overlays), deepest first.
    for m in $(awk -v r="$ROOT/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    # shellcheck disable=SC2086
    while iptables -C FORWARD $FORWARD_RULE 2>/dev/null; do iptables -D FORWARD $FORWARD_RULE; done
    rm -rf "$ROOT"
}

case "${1:-up}" in
up)
    shift $(($# > 0 ? 1 : 0))
    up "$@"
    ;;
env)
    echo "DOCKER_HOST=unix://$(sock 1)"
    ;;
status)
    status
    ;;
purge)
    purge
    ;;
*)
    echo "usage: tests/cluster.sh up [IMAGE...]|env|status|purge" >&2
    exit 2
    ;;
esac
