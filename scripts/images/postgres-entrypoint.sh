#!/usr/bin/env bash
# /usr/local/bin/docker-entrypoint.sh of caas/postgres:15-local, the local
# look-alike of the official `postgres` image that scripts/test-env.sh derives
# from caas/debian-services:bookworm (Debian's PostgreSQL 15; no registry).
#
# Same contract as the official entrypoint, for what a hosting platform uses:
#   POSTGRES_PASSWORD          superuser password; required on first start
#                              unless POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_USER              superuser name (default postgres)
#   POSTGRES_DB                database created on first start (default: user)
#   POSTGRES_HOST_AUTH_METHOD  pg_hba method for TCP (default scram-sha-256)
#   POSTGRES_INITDB_ARGS       extra initdb arguments
#   *_FILE                     read the value of the four above from a file
#   PGDATA                     data directory (default /var/lib/postgresql/data)
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz  run once after initdb
# `postgres [args]` (or just `-c ...` args) starts the server; anything else is
# run as given (e.g. `bash`, `psql`).
#
# Started as root (the normal case), it hands PGDATA (a fresh named volume is
# root-owned) and the socket directory to the postgres user, then re-runs
# itself as postgres with setpriv. That needs only CAP_CHOWN, CAP_FOWNER,
# CAP_SETUID and CAP_SETGID, and works under no-new-privileges (no setuid
# binary involved). PostgreSQL ends up as PID 1 (exec all the way), so
# `docker stop` signals it directly; the image's STOPSIGNAL is SIGINT (fast
# shutdown), as in the official image.
set -Eeo pipefail

log() { echo "docker-entrypoint: $*"; }
die() {
    echo "docker-entrypoint: error: $*" >&2
    exit 1
}

# file_env VAR [DEFAULT]: VAR from the environment, or from the file named by
# VAR_FILE, or DEFAULT; exported, VAR_FILE unset.
file_env() {
    local var=$1 file_var=${1}_FILE def=${2:-} val
    if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
        die "both $var and $file_var are set (but are exclusive)"
    fi
    val=$def
    if [[ -n "${!var:-}" ]]; then
        val=${!var}
    elif [[ -n "${!file_var:-}" ]]; then
        val=$(<"${!file_var}")
    fi
    export "$var=$val"
    unset "$file_var"
}

# postgres --help / --version / --describe-config: no set-up needed.
want_help() {
    local arg
    for arg; do
        case "$arg" in
        -'?' | --help | --describe-config | -V | --version) return 0 ;;
        esac
    done
    return 1
}

setup_env() {
    export PGDATA=${PGDATA:-/var/lib/postgresql/data}
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=}"
}

# As root: make PGDATA and the socket directory the postgres user's.
prepare_dirs_as_root() {
    mkdir -p "$PGDATA"
    # Only what is not postgres's already: cheap on a big existing cluster.
    find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
    chmod 0700 "$PGDATA"
    mkdir -p /var/run/postgresql
    chown postgres:postgres /var/run/postgresql
    chmod 3777 /var/run/postgresql
}

# psql against the local server over the Unix socket (local auth is trust).
process_sql() {
    psql -X -q -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password "$@"
}

init_database() {
    if [[ -z "$POSTGRES_PASSWORD" && "$POSTGRES_HOST_AUTH_METHOD" != trust ]]; then
        cat >&2 <<'EOF'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
       connections without a password. This is *not* recommended.
EOF
        exit 1
    fi
    local auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    log "initializing database in $PGDATA (superuser $POSTGRES_USER, host auth $auth)"
    # POSTGRES_INITDB_ARGS is shell words, as in the official image.
    if [[ -n "$POSTGRES_PASSWORD" ]]; then
        eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") \
            --auth-host="$auth" --auth-local=trust '"$POSTGRES_INITDB_ARGS"
    else
        eval 'initdb --username="$POSTGRES_USER" --auth-host="$auth" --auth-local=trust '"$POSTGRES_INITDB_ARGS"
    fi
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    {
        echo
        [[ "$auth" == trust ]] && echo '# warning: trust is enabled for all connections'
        echo "host all all all $auth"
    } >>"$PGDATA/pg_hba.conf"

    # A temporary server on the Unix socket only: nothing outside can connect
    # (or pass a health check over TCP) before the set-up is complete.
    log "starting a temporary server for the set-up"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
    process_sql --dbname postgres --set db="$POSTGRES_DB" <<'EOSQL'
SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
EOSQL
    local f
    for f in /docker-entrypoint-initdb.d/*; do
        [[ -e "$f" ]] || continue
        case "$f" in
        *.sh)
            if [[ -x "$f" ]]; then
                log "running $f"
                "$f"
            else
                log "sourcing $f"
                # shellcheck disable=SC1090
                . "$f"
            fi
            ;;
        *.sql)
            log "running $f"
            process_sql --dbname "$POSTGRES_DB" -f "$f"
            ;;
        *.sql.gz)
            log "running $f"
            gunzip -c "$f" | process_sql --dbname "$POSTGRES_DB"
            ;;
        *) log "ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    log "PostgreSQL init process complete; ready for start up."
}

# Options only: they are for postgres.
if [[ "${1:0:1}" == - ]]; then
    set -- postgres "$@"
fi

if [[ "$1" == postgres ]] && ! want_help "$@"; then
    setup_env
    if [[ "$(id -u)" == 0 ]]; then
        prepare_dirs_as_root
        HOME=$(getent passwd postgres | cut -d: -f6)
        export HOME
        exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
    fi
    if [[ -s "$PGDATA/PG_VERSION" ]]; then
        log "PostgreSQL database directory appears to contain a database; skipping initialization"
    else
        init_database
    fi
fi

exec "$@"
