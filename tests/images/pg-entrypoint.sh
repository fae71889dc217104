#!/bin/sh
# Entry point of the ttdeploy-test/postgres image: the host's Debian
# PostgreSQL binaries in a minimal root.  Like the official image, it
# initialises $PGDATA on first start (superuser postgres, password
# $POSTGRES_PASSWORD, database $POSTGRES_DB), then serves on all addresses.
set -e
PGBIN=/usr/lib/postgresql/15/bin
PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA
mkdir -p "$PGDATA" /var/run/postgresql
chown -R postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "${POSTGRES_PASSWORD:-postgres}" > /tmp/pwfile
    chown postgres /tmp/pwfile
    su -s /bin/sh postgres -c "$PGBIN/initdb -D '$PGDATA' -U postgres --pwfile=/tmp/pwfile \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C" >/dev/null
    rm -f /tmp/pwfile
    echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    if [ -n "$POSTGRES_DB" ] && [ "$POSTGRES_DB" != postgres ]; then
        echo "CREATE DATABASE \"$POSTGRES_DB\";" |
            su -s /bin/sh postgres -c "$PGBIN/postgres --single -D '$PGDATA' postgres" >/dev/null
    fi
fi
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
    exec "$@"
fi
exec su -s /bin/sh postgres -c "exec $PGBIN/postgres -D '$PGDATA' $*"
