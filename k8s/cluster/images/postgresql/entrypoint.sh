#!/bin/bash
# PostgreSQL 15 as this container's PID 1. On first start (PGDATA without PG_VERSION) it
# runs initdb, then, on a server reachable only through its Unix socket, creates the
# application's role (LOGIN, not superuser) and its database, owned by that role. The
# superuser postgres has no password: it can only connect over the socket inside the
# container (peer). Every TCP client authenticates with scram-sha-256.
#   POSTGRES_PASSWORD   required: the application role's password
#   POSTGRES_USER       the application role, default postgres (then only its password is set)
#   POSTGRES_DB         its database, default POSTGRES_USER
#   PGPORT              port to listen on, 5432 by default (read by postgres itself)
#   PGDATA              /var/lib/postgresql/data
# Extra arguments go to postgres (e.g. -c max_connections=50).
set -euo pipefail

log() { echo "postgres-entrypoint: $*" >&2; }

: "${PGDATA:=/var/lib/postgresql/data}"
user="${POSTGRES_USER:-postgres}"
database="${POSTGRES_DB:-$user}"

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
        log "POSTGRES_PASSWORD is empty"
        exit 1
    fi
    # PGDATA may be a fresh volume mounted at its parent folder: made here, by this user.
    mkdir -p "$PGDATA"
    chmod 0700 "$PGDATA" || {
        log "$PGDATA is not owned by uid $(id -u): mount the volume at its parent folder"
        exit 1
    }
    if [[ -n "$(ls -A "$PGDATA")" ]]; then
        log "$PGDATA is not empty but holds no database (no PG_VERSION)"
        exit 1
    fi
    log "initialising $PGDATA"
    initdb --pgdata "$PGDATA" --username postgres --encoding UTF8 --locale C.UTF-8 \
        --auth-local peer --auth-host scram-sha-256 >/dev/null
    # Any address, with a password; the local socket for the postgres user only (peer).
    cat >"$PGDATA/pg_hba.conf" <<'HBA'
# TYPE  DATABASE  USER  ADDRESS     METHOD
local   all       all               peer
host    all       all   0.0.0.0/0   scram-sha-256
host    all       all   ::/0        scram-sha-256
HBA
    pg_ctl --pgdata "$PGDATA" --wait --silent \
        -o "-c listen_addresses='' -c unix_socket_directories=/run/postgresql" start
    # psql variables quote the names and the password (no SQL injection); the password is
    # read from the environment (\getenv), so it is on no command line.
    psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 --host /run/postgresql --username postgres \
        --dbname postgres --set user="$user" --set database="$database" <<'SQL'
\getenv password POSTGRES_PASSWORD
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I LOGIN', :'user')
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'user')
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
SQL
    pg_ctl --pgdata "$PGDATA" --wait --silent --mode fast stop
    log "created role $user and database $database"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/run/postgresql "$@"
