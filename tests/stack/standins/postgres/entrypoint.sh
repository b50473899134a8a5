#!/bin/sh
set -eu
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 0700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:?}" >"$pwfile"
    chown postgres "$pwfile"
    su postgres -s /bin/sh -c "initdb -D '$PGDATA' -U '$user' --pwfile='$pwfile' --auth-local=trust --auth-host=scram-sha-256 -E UTF8" >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.auto.conf"
    su postgres -s /bin/sh -c "pg_ctl -D '$PGDATA' -o '-c listen_addresses=' -w start" >/dev/null
    if [ "$db" != postgres ]; then
        PGPASSWORD=$POSTGRES_PASSWORD psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$user" -d postgres \
            -c "CREATE DATABASE \"$db\"" >/dev/null
    fi
    su postgres -s /bin/sh -c "pg_ctl -D '$PGDATA' -m fast -w stop" >/dev/null
fi
if [ "$1" = postgres ]; then
    shift
    exec su postgres -s /bin/sh -c 'exec postgres -D "$PGDATA" "$@"' -- postgres "$@"
fi
exec "$@"
