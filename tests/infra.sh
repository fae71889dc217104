#!/bin/sh
# infra.sh - the test environment: a private dockerd and offline images.
#
#   tests/infra.sh up      start (or reuse) the daemon and build missing images
#   tests/infra.sh env     print the DOCKER_HOST line for the private daemon
#   tests/infra.sh down    stop the daemon started by `up` (data root is kept)
#   tests/infra.sh purge   stop it and delete its data root
#
# Everything lives under $TTDEPLOY_TEST_ROOT (default /var/tmp/ttdeploy-test):
# its own socket, data root, exec root and containerd namespace, so the
# system's daemon (if any) is never touched.  Images are made with `docker
# import` of root filesystems assembled from the host: no registry is needed.
set -eu

ROOT=${TTDEPLOY_TEST_ROOT:-/var/tmp/ttdeploy-test}
SOCK=$ROOT/docker.sock
export DOCKER_HOST=unix://$SOCK
export DOCKER_BUILDKIT=0
BUSYBOX_IMAGE=ttdeploy-test/busybox:latest
PG_IMAGE=ttdeploy-test/postgres:15
MIGRATOR_IMAGE=ttdeploy-test/migrator:2
MIGRATOR3_IMAGE=ttdeploy-test/migrator:3
HERE=$(cd "$(dirname "$0")" && pwd)

log() { echo "infra: $*" >&2; }
. "$HERE/daemon-lib.sh"

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
    spawn_detached "$ROOT/dockerd.log" \
        dockerd --host "unix://$SOCK" --data-root "$ROOT/data" --exec-root "$ROOT/exec" \
        --pidfile "$ROOT/dockerd.pid" --containerd-namespace ttdeploy-test \
        --containerd-plugins-namespace ttdeploy-test-plugins --bridge none
    wait_until "dockerd answered /_ping on $SOCK" "$ROOT/dockerd.log" ping_ok
    log "dockerd answers /_ping"
}

have_image() {
    docker image inspect "$1" >/dev/null 2>&1
}

# Copies a binary and the shared libraries ldd names into rootfs $1.
copy_with_libs() {
    rootfs=$1
    shift
    for f in "$@"; do
        mkdir -p "$rootfs$(dirname "$f")"
        cp -L "$f" "$rootfs$f"
        ldd "$f" 2>/dev/null | awk '/=>/ { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
            [ -n "$lib" ] && [ -f "$lib" ] || continue
            mkdir -p "$rootfs$(dirname "$lib")"
            [ -f "$rootfs$lib" ] || cp -L "$lib" "$rootfs$lib"
        done
    done
}

busybox_rootfs() {
    rootfs=$1
    mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/www/api" "$rootfs/root"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
    done
    chmod 1777 "$rootfs/tmp"
    printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:postgres:/var/lib/postgresql:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\npostgres:x:999:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
    echo '{"status":"ok"}' >"$rootfs/www/api/health"
    echo ok >"$rootfs/www/healthz"
    echo '<h1>tasktracker</h1>' >"$rootfs/www/index.html"
}

# Imports rootfs $1 as image $2, the other arguments being `docker import`
# options (--change ...); then removes the rootfs.
import_rootfs() {
    rootfs=$1
    image=$2
    shift 2
    tar -C "$rootfs" -c . | docker import "$@" - "$image" >/dev/null
    rm -rf "$rootfs"
}

build_busybox() {
    have_image "$BUSYBOX_IMAGE" && return 0
    log "building $BUSYBOX_IMAGE from /bin/busybox (static)"
    tmp=$(mktemp -d)
    busybox_rootfs "$tmp"
    import_rootfs "$tmp" "$BUSYBOX_IMAGE" --change 'ENV PATH=/bin' --change 'CMD ["sh"]'
}

# The host's PostgreSQL 15 with the libraries ldd names, in rootfs $1.
postgres_rootfs() {
    tmp=$1
    pgbin=/usr/lib/postgresql/15/bin
    [ -x $pgbin/postgres ] || { log "$pgbin/postgres not found: apt-get install postgresql-15"; exit 1; }
    busybox_rootfs "$tmp"
    copy_with_libs "$tmp" $pgbin/postgres $pgbin/initdb $pgbin/pg_ctl $pgbin/pg_isready \
        $pgbin/psql $pgbin/pg_dump $pgbin/pg_restore $pgbin/createdb $pgbin/dropdb
    mkdir -p "$tmp/usr/lib/postgresql/15/lib"
    cp -a /usr/lib/postgresql/15/lib/. "$tmp/usr/lib/postgresql/15/lib/"
    for so in /usr/lib/postgresql/15/lib/*.so; do copy_with_libs "$tmp" "$so"; done
    mkdir -p "$tmp/usr/share/postgresql" "$tmp/usr/share/zoneinfo" "$tmp/var/lib/postgresql" "$tmp/var/run/postgresql"
    cp -a /usr/share/postgresql/15 "$tmp/usr/share/postgresql/"
    cp -a /usr/share/zoneinfo/. "$tmp/usr/share/zoneinfo/"
    for b in pg_isready psql pg_dump pg_restore createdb dropdb; do ln -sf /usr/lib/postgresql/15/bin/$b "$tmp/bin/$b"; done
}

# Builds image $1 (unless the daemon has it; the log says "building $1 $2")
# from the PostgreSQL root plus tests/images/$3 installed as /bin/$4; the
# other arguments are `docker import` options.
build_on_postgres() {
    image=$1
    what=$2
    script=$3
    tool=$4
    shift 4
    have_image "$image" && return 0
    log "building $image $what"
    tmp=$(mktemp -d)
    postgres_rootfs "$tmp"
    cp "$HERE/images/$script" "$tmp/bin/$tool"
    chmod 755 "$tmp/bin/$tool"
    import_rootfs "$tmp" "$image" --change 'ENV PATH=/bin:/usr/lib/postgresql/15/bin' "$@"
}

build_postgres() {
    build_on_postgres "$PG_IMAGE" "from the host's PostgreSQL 15" pg-entrypoint.sh pg-entrypoint \
        --change 'ENV PGDATA=/var/lib/postgresql/data' --change 'EXPOSE 5432' \
        --change 'ENTRYPOINT ["/bin/pg-entrypoint"]' --change 'CMD []'
}

# An application image that can migrate a database: busybox (httpd for its
# health endpoint), psql, and fake-alembic, an Alembic-like migration command.
build_migrator() {
    build_on_postgres "$MIGRATOR_IMAGE" "(busybox, psql, fake-alembic)" fake-alembic fake-alembic \
        --change 'CMD ["sh"]'
}

# The same with fake-alembic's FAKE_ALEMBIC_DIR mode (revisions from an
# image's folder of SQL files), also installed as `alembic`: the base of
# the example's api image (examples/tasktracker/Dockerfile).  A new tag, so
# a daemon that holds :2 from before builds it.
build_migrator3() {
    have_image "$MIGRATOR3_IMAGE" && return 0
    build_on_postgres "$MIGRATOR3_IMAGE" "(busybox, psql, fake-alembic with FAKE_ALEMBIC_DIR)" \
        fake-alembic fake-alembic --change 'CMD ["sh"]'
    cid=$(docker create "$MIGRATOR3_IMAGE" sh)
    ln -s fake-alembic "${TMPDIR:-/tmp}/alembic.$$"
    docker cp "${TMPDIR:-/tmp}/alembic.$$" "$cid:/bin/alembic" >/dev/null
    rm -f "${TMPDIR:-/tmp}/alembic.$$"
    docker commit "$cid" "$MIGRATOR3_IMAGE" >/dev/null
    docker rm "$cid" >/dev/null
}

# A reverse proxy for blue-green tests: Debian's nginx with the libraries ldd
# names on the busybox root (sh, wget for health checks), configured by
# tests/images/nginx-*.conf: /etc/nginx/upstream/*.conf (a folder to
# bind-mount) and /etc/nginx/conf.d/*.conf, pid in /run so `nginx -s reload`
# and `nginx -t` work through docker exec.
NGINX_IMAGE=ttdeploy-test/nginx:1

nginx_rootfs() {
    tmp=$1
    [ -x /usr/sbin/nginx ] || { log "/usr/sbin/nginx not found: apt-get install nginx"; exit 1; }
    busybox_rootfs "$tmp"
    copy_with_libs "$tmp" /usr/sbin/nginx
    mkdir -p "$tmp/etc/nginx/conf.d" "$tmp/etc/nginx/upstream" "$tmp/run" "$tmp/var/log/nginx" \
        "$tmp/var/lib/nginx/body" "$tmp/var/lib/nginx/proxy" "$tmp/var/lock" "$tmp/usr/share/nginx"
    cp "$HERE/images/nginx-main.conf" "$tmp/etc/nginx/nginx.conf"
    cp "$HERE/images/nginx-default.conf" "$tmp/etc/nginx/conf.d/default.conf"
    cp "$HERE/images/nginx-upstream.conf" "$tmp/etc/nginx/upstream/api_backend.conf"
    ln -s /usr/sbin/nginx "$tmp/bin/nginx"
    ln -s /dev/stdout "$tmp/var/log/nginx/access.log"
    ln -s /dev/stderr "$tmp/var/log/nginx/error.log"
}

build_nginx() {
    have_image "$NGINX_IMAGE" && return 0
    log "building $NGINX_IMAGE from the host's nginx"
    tmp=$(mktemp -d)
    nginx_rootfs "$tmp"
    import_rootfs "$tmp" "$NGINX_IMAGE" --change 'ENV PATH=/bin:/usr/sbin' --change 'EXPOSE 80' \
        --change 'CMD ["nginx"]'
}

case "${1:-up}" in
up)
    start_daemon
    build_busybox
    build_postgres
    build_migrator
    build_migrator3
    build_nginx
    ;;
env)
    echo "DOCKER_HOST=$DOCKER_HOST"
    ;;
down | purge)
    [ "$1" = purge ] && "$HERE/swarm.sh" purge
    [ "$1" = down ] || TTDEPLOY_TEST_ROOT=$ROOT sh "$HERE/cluster.sh" purge
    if [ -f "$ROOT/dockerd.pid" ]; then
        pid=$(cat "$ROOT/dockerd.pid")
        kill "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 40 ]; do sleep 0.5; i=$((i + 1)); done
    fi
    if [ "$1" = purge ]; then
        "$HERE/remote.sh" purge
        umount -R "$ROOT/exec" 2>/dev/null || true
        rm -rf "$ROOT"
    fi
    ;;
*)
    echo "usage: tests/infra.sh up|env|down|purge" >&2
    exit 2
    ;;
esac
