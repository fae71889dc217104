#!/bin/sh
# remote.sh - remote Docker engines for tests/e2e/test_remote.py: a second
# private dockerd on tcp://127.0.0.1:23760 with TLS, and an sshd on
# 127.0.0.1:22220 in front of the shared private daemon (tests/infra.sh).
#
#   tests/remote.sh up      start (or reuse) both; needs `tests/infra.sh up` first
#   tests/remote.sh env     print NAME=value lines the tests read (hosts, folders)
#   tests/remote.sh purge   stop both and delete their root
#
# Everything lives under $TTDEPLOY_TEST_ROOT/remote (default
# /var/tmp/ttdeploy-test/remote):
#   tls/ca, tls/server, tls/client (DOCKER_CERT_PATH: ca.pem cert.pem
#     key.pem), tls/wrongca (the client's cert and key with another CA's
#     ca.pem), all made here with openssl; the server's certificate names
#     IP:127.0.0.1 and DNS:localhost.
#   tls/data, tls/exec: the TLS daemon's own data root, exec root and
#     containerd namespace; --bridge none, --iptables=false (the shared
#     daemon owns the host's docker chains; published ports go through
#     docker-proxy) and its own address pool, so its networks never overlap
#     the shared daemon's; one FORWARD rule (comment ttdeploy-remote) lets
#     its containers reach each other.  Images the tests and the README's
#     two-machine commands use are copied from the shared daemon with
#     docker save | docker load.
#   ssh/: sshd's host key, config and log; a client key in authorized_keys;
#     sshd sets DOCKER_HOST to the shared daemon's socket for every session
#     (SetEnv), so `ssh ... docker system dial-stdio` reaches it.  ssh/bin/ssh
#     is a wrapper the tests put first on PATH: /usr/bin/ssh -F ssh/ssh_config,
#     a config naming the client key and a known_hosts with the host key, so
#     ssh's own configuration is what makes the connection, as for a user.
set -eu

ROOT=${TTDEPLOY_TEST_ROOT:-/var/tmp/ttdeploy-test}
R=$ROOT/remote
SHARED_SOCK=$ROOT/docker.sock
TLS_PORT=23760
TLS_POOL=10.233.0.0/16 # clear of cluster.sh (10.231.0) and swarm.sh (10.231.7)
SSH_PORT=22220
# migrator:3 is the base of the example's api images (examples/tasktracker/demo/build-images.sh).
IMAGES="ttdeploy-test/busybox:latest ttdeploy-test/postgres:15 ttdeploy-test/migrator:3"

log() { echo "remote: $*" >&2; }
. "$(dirname "$0")/daemon-lib.sh"

tls_ping() {
    curl -sf --max-time 2 --cacert "$R/tls/client/ca.pem" --cert "$R/tls/client/cert.pem" \
        --key "$R/tls/client/key.pem" "https://127.0.0.1:$TLS_PORT/_ping" >/dev/null 2>&1
}

# Runs the command after $1 and $2 until it succeeds, up to 60 s; then says that $1 did not
# happen, with the end of log $2.

tls_docker() {
    docker --host "tcp://127.0.0.1:$TLS_PORT" --tlsverify --tlscacert "$R/tls/client/ca.pem" \
        --tlscert "$R/tls/client/cert.pem" --tlskey "$R/tls/client/key.pem" "$@"
}

# A key ($1/key.pem) and a certificate ($1/cert.pem) signed by the CA in $2, for $3 (CN) with
# the extensions in $4.
make_cert() {
    dir=$1
    ca=$2
    mkdir -p "$dir"
    openssl ecparam -genkey -name prime256v1 -noout -out "$dir/key.pem" 2>/dev/null
    openssl req -new -key "$dir/key.pem" -subj "/CN=$3" -out "$dir/req.csr"
    printf '%s\n' "$4" >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/req.csr" -CA "$ca/ca.pem" -CAkey "$ca/key.pem" \
        -CAcreateserial -days 3650 -extfile "$dir/ext.cnf" -out "$dir/cert.pem" 2>/dev/null
    rm -f "$dir/req.csr" "$dir/ext.cnf"
    chmod 600 "$dir/key.pem"
}

make_ca() {
    mkdir -p "$1"
    openssl ecparam -genkey -name prime256v1 -noout -out "$1/key.pem" 2>/dev/null
    openssl req -x509 -new -key "$1/key.pem" -days 3650 -subj "/CN=$2" -out "$1/ca.pem"
}

make_certs() {
    [ -f "$R/tls/wrongca/key.pem" ] && return 0
    log "making a CA, server and client certificates with openssl in $R/tls"
    rm -rf "$R/tls/ca" "$R/tls/server" "$R/tls/client" "$R/tls/wrongca" "$R/tls/otherca"
    make_ca "$R/tls/ca" "ttdeploy-test CA"
    make_cert "$R/tls/server" "$R/tls/ca" localhost \
        "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
    make_cert "$R/tls/client" "$R/tls/ca" ttdeploy-test-client "extendedKeyUsage=clientAuth"
    cp "$R/tls/ca/ca.pem" "$R/tls/client/ca.pem"
    make_ca "$R/tls/otherca" "another CA"
    mkdir -p "$R/tls/wrongca"
    cp "$R/tls/otherca/ca.pem" "$R/tls/wrongca/ca.pem"
    cp "$R/tls/client/cert.pem" "$R/tls/client/key.pem" "$R/tls/wrongca/"
}

start_tls_daemon() {
    if tls_ping; then
        log "reusing the TLS daemon on tcp://127.0.0.1:$TLS_PORT"
        return 0
    fi
    mkdir -p "$R/tls/data" "$R/tls/exec"
    log "starting dockerd on tcp://127.0.0.1:$TLS_PORT (TLS, data root $R/tls/data)"
    spawn_detached "$R/tls/dockerd.log" \
        dockerd --host "tcp://127.0.0.1:$TLS_PORT" --tlsverify \
        --tlscacert "$R/tls/ca/ca.pem" --tlscert "$R/tls/server/cert.pem" \
        --tlskey "$R/tls/server/key.pem" --data-root "$R/tls/data" --exec-root "$R/tls/exec" \
        --pidfile "$R/tls/dockerd.pid" --containerd-namespace ttdeploy-remote \
        --containerd-plugins-namespace ttdeploy-remote-plugins --bridge none --iptables=false \
        --ip6tables=false --default-address-pool base=$TLS_POOL,size=24
    wait_until "dockerd answered /_ping over TLS" "$R/tls/dockerd.log" tls_ping
}

# The host's FORWARD policy is DROP (the shared daemon sets it) and bridged packets go through
# iptables (br_netfilter), while this daemon adds no rules (--iptables=false): without this one,
# containers on its networks could not reach each other (the example's api and its database).
allow_forwarding() {
    rule="FORWARD -s $TLS_POOL -d $TLS_POOL -m comment --comment ttdeploy-remote -j ACCEPT"
    # shellcheck disable=SC2086 # the rule's words
    iptables -C $rule 2>/dev/null || iptables -A $rule
}

load_images() {
    for image in $IMAGES; do
        tls_docker image inspect "$image" >/dev/null 2>&1 && continue
        log "copying $image from the shared daemon"
        docker --host "unix://$SHARED_SOCK" save "$image" | tls_docker load >/dev/null
    done
}

ssh_ok() {
    "$R/ssh/bin/ssh" -o BatchMode=yes -o ConnectTimeout=2 -p "$SSH_PORT" root@127.0.0.1 true 2>/dev/null
}

sshd_alive() {
    [ -f "$R/ssh/sshd.pid" ] && kill -0 "$(cat "$R/ssh/sshd.pid")" 2>/dev/null
}

make_ssh_files() {
    s=$R/ssh
    [ -f "$s/ssh_config" ] && return 0
    mkdir -p "$s/bin"
    chmod 700 "$s"
    ssh-keygen -q -t ed25519 -N '' -C ttdeploy-test-host -f "$s/host_key"
    ssh-keygen -q -t ed25519 -N '' -C ttdeploy-test-client -f "$s/client_key"
    cp "$s/client_key.pub" "$s/authorized_keys"
    echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1-2 "$s/host_key.pub")" >"$s/known_hosts"
    cat >"$s/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $s/host_key
PidFile $s/sshd.pid
AuthorizedKeysFile $s/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
SetEnv DOCKER_HOST=unix://$SHARED_SOCK
EOF
    cat >"$s/ssh_config" <<EOF
Host *
  IdentityFile $s/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $s/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  LogLevel ERROR
EOF
    printf '#!/bin/sh\nexec /usr/bin/ssh -F %s/ssh_config "$@"\n' "$s" >"$s/bin/ssh"
    chmod 755 "$s/bin/ssh"
}

start_sshd() {
    make_ssh_files
    if sshd_alive; then
        log "reusing sshd on 127.0.0.1:$SSH_PORT"
        return 0
    fi
    mkdir -p /run/sshd # sshd's privilege separation directory, fixed at build time
    log "starting sshd on 127.0.0.1:$SSH_PORT"
    spawn_detached /dev/null /usr/sbin/sshd -D -f "$R/ssh/sshd_config" -E "$R/ssh/sshd.log"
    wait_until "sshd let the test key in" "$R/ssh/sshd.log" ssh_ok
}

stop_pidfile() {
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 40 ]; do sleep 0.5; i=$((i + 1)); done
}

case "${1:-up}" in
up)
    [ -S "$SHARED_SOCK" ] || { log "no shared daemon at $SHARED_SOCK: run tests/infra.sh up first"; exit 1; }
    command -v openssl >/dev/null || { log "openssl not found: apt-get install openssl"; exit 1; }
    [ -x /usr/sbin/sshd ] || { log "/usr/sbin/sshd not found: apt-get install openssh-server"; exit 1; }
    mkdir -p "$R"
    make_certs
    start_tls_daemon
    allow_forwarding
    load_images
    start_sshd
    ;;
env)
    echo "REMOTE_TLS_HOST=tcp://127.0.0.1:$TLS_PORT"
    echo "REMOTE_TLS_CERTS=$R/tls/client"
    echo "REMOTE_TLS_WRONG_CA=$R/tls/wrongca"
    echo "REMOTE_SSH_HOST=ssh://root@127.0.0.1:$SSH_PORT"
    echo "REMOTE_SSH_DIR=$R/ssh"
    ;;
purge)
    stop_pidfile "$R/ssh/sshd.pid"
    stop_pidfile "$R/tls/dockerd.pid"
    umount -R "$R/tls/exec" 2>/dev/null || true
    while iptables -D FORWARD -s $TLS_POOL -d $TLS_POOL -m comment --comment ttdeploy-remote \
        -j ACCEPT 2>/dev/null; do :; done
    rm -rf "$R"
    ;;
*)
    echo "usage: tests/remote.sh up|env|purge" >&2
    exit 2
    ;;
esac
