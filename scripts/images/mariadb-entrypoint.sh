#!/usr/bin/env bash
# /usr/local/bin/docker-entrypoint.sh of caas/mariadb:11-local (also tagged
# caas/mysql:8-local), the local look-alike of the official `mariadb` image
# that scripts/test-env.sh derives from caas/debian-web:bookworm (Debian's
# MariaDB 10.11; no registry).
#
# Same contract as the official entrypoint, for what a hosting platform uses.
# Each MARIADB_* variable has the official image's MYSQL_* alias (the MARIADB_
# name wins when both are set), so MySQL-style deployments work unchanged:
#   MARIADB_ROOT_PASSWORD             root password (root@localhost and
#     / MYSQL_ROOT_PASSWORD           root@MARIADB_ROOT_HOST)
#   MARIADB_ALLOW_EMPTY_ROOT_PASSWORD root without a password
#     / MYSQL_ALLOW_EMPTY_PASSWORD
#   MARIADB_RANDOM_ROOT_PASSWORD      a random root password, printed once
#     / MYSQL_RANDOM_ROOT_PASSWORD    ("GENERATED ROOT PASSWORD: ...")
#     (one of these three is required on first start)
#   MARIADB_ROOT_HOST / MYSQL_ROOT_HOST  host part of the second root account
#                                     (default %; localhost: none)
#   MARIADB_DATABASE / MYSQL_DATABASE database created on first start
#   MARIADB_USER / MYSQL_USER         user created on first start, granted ALL
#   MARIADB_PASSWORD / MYSQL_PASSWORD on MARIADB_DATABASE, as 'user'@'%'
#   MARIADB_INITDB_SKIP_TZINFO / MYSQL_INITDB_SKIP_TZINFO  no time zone tables
#   *_FILE                            read any of the values above from a file
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz|*.sql.xz|*.sql.zst
#                                     run once, after the set-up above
# The data directory (default /var/lib/mysql, a volume) is initialised on the
# first start only, when it has no `mysql` system database. A healthcheck user
# (healthcheck@localhost/127.0.0.1/::1, USAGE only) is created with its
# credentials in <datadir>/.my-healthcheck.cnf, for /usr/local/bin/healthcheck.sh
# (`healthcheck.sh --connect --innodb_initialized`, as in the official image).
# `mariadbd [args]` / `mysqld [args]` (or just `--option` args) starts the
# server; anything else is run as given (e.g. `mariadb`, `bash`).
#
# Started as root (the normal case), it hands the data directory (a fresh
# named volume is root-owned) and the socket directory to the mysql user, then
# re-runs itself as mysql with setpriv: only CAP_CHOWN, CAP_SETUID and
# CAP_SETGID are needed, and it works under no-new-privileges (no setuid
# binary involved). mariadbd ends up as PID 1 (exec all the way), listening on
# 0.0.0.0:3306, so `docker stop` (SIGTERM) shuts it down cleanly.
set -Eeo pipefail

log() { echo "$(date -u '+%F %T') 0 [Note] [Entrypoint]: $*"; }
warn() { echo "$(date -u '+%F %T') 0 [Warn] [Entrypoint]: $*" >&2; }
die() {
    echo "$(date -u '+%F %T') 0 [ERROR] [Entrypoint]: $*" >&2
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

# mariadb_file_env MARIADB_NAME [DEFAULT] [MYSQL_NAME]: MARIADB_NAME(_FILE),
# falling back to its MYSQL_ alias (MYSQL_NAME when the alias is not simply
# MARIADB_ -> MYSQL_); both end up exported with the same value.
mariadb_file_env() {
    local maria=$1 def=${2:-} mysql=${3:-MYSQL_${1#MARIADB_}}
    file_env "$mysql" "$def"
    file_env "$maria" "${!mysql}"
    export "$mysql=${!maria}"
}

# mariadbd --help / --version: no set-up needed.
want_help() {
    local arg
    for arg; do
        case "$arg" in
        -'?' | --help | --print-defaults | -V | --version) return 0 ;;
        esac
    done
    return 1
}

# get_config NAME ARGS...: the server's effective setting NAME, given ARGS
# (the server command), e.g. datadir, socket, port.
get_config() {
    local conf=$1
    shift
    "$@" --verbose --help 2>/dev/null |
        awk -v conf="$conf" '$1 == conf && /^[^ \t]/ { sub(/^[^ \t]+[ \t]+/, ""); print; exit }'
}

setup_env() {
    DATADIR=$(get_config datadir "$@")
    DATADIR=${DATADIR%/}
    SOCKET=$(get_config socket "$@")
    PORT=$(get_config port "$@")
    [[ -n "$DATADIR" && -n "$SOCKET" ]] || die "cannot read datadir/socket from '$* --verbose --help'"
    mariadb_file_env MARIADB_ROOT_PASSWORD
    mariadb_file_env MARIADB_ROOT_HOST '%'
    mariadb_file_env MARIADB_DATABASE
    mariadb_file_env MARIADB_USER
    mariadb_file_env MARIADB_PASSWORD
    mariadb_file_env MARIADB_ALLOW_EMPTY_ROOT_PASSWORD '' MYSQL_ALLOW_EMPTY_PASSWORD
    mariadb_file_env MARIADB_RANDOM_ROOT_PASSWORD
    mariadb_file_env MARIADB_INITDB_SKIP_TZINFO
}

# As root: make the data and socket directories the mysql user's.
prepare_dirs_as_root() {
    local sockdir=${SOCKET%/*}
    mkdir -p "$DATADIR" "$sockdir"
    # Only what is not mysql's already: cheap on a big existing data directory.
    find "$DATADIR" \! -user mysql -exec chown mysql:mysql '{}' +
    [[ "$(stat -c %U "$sockdir")" == mysql ]] || chown mysql:mysql "$sockdir"
}

verify_minimum_env() {
    if [[ -z "$MARIADB_ROOT_PASSWORD" && -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" &&
        -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]]; then
        cat >&2 <<'EOF'
Error: Database is uninitialized and password option is not specified
       You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD
       and MARIADB_RANDOM_ROOT_PASSWORD (or their MYSQL_* equivalents)
EOF
        exit 1
    fi
    if [[ -n "$MARIADB_USER" && "$MARIADB_USER" == root ]]; then
        die "MARIADB_USER=root: MARIADB_USER and MARIADB_PASSWORD are for a regular user and cannot be used for the root user (use MARIADB_ROOT_PASSWORD)"
    fi
    if [[ -n "$MARIADB_USER" && -z "$MARIADB_PASSWORD" ]]; then
        die "MARIADB_PASSWORD must be set when MARIADB_USER is set"
    fi
    if [[ -z "$MARIADB_USER" && -n "$MARIADB_PASSWORD" ]]; then
        warn "MARIADB_PASSWORD set without MARIADB_USER; ignored"
    fi
}

# A SQL string literal's contents (backslash escapes are on in the set-up).
sql_string() {
    local s=${1//\\/\\\\}
    s=${s//\'/\\\'}
    printf '%s' "$s"
}

# A SQL identifier's contents (inside backticks).
sql_ident() { printf '%s' "${1//\`/\`\`}"; }

random_password() {
    local pw
    pw=$(head -c 512 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')
    printf '%s' "${pw:0:32}"
}

# process_sql [mariadb args]: run SQL on the temporary server as root.
process_sql() {
    MYSQL_PWD=$ROOT_PW_SET mariadb --protocol=socket -uroot -hlocalhost --socket="$SOCKET" \
        --comments "$@"
}

temp_server_start() {
    "$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" --wsrep_on=OFF \
        --expire-logs-days=0 --skip-slave-start --loose-innodb_buffer_pool_load_at_startup=0 &
    TEMP_PID=$!
    log "waiting for the temporary server (pid $TEMP_PID) to start"
    local i
    for ((i = 0; i < 60; i++)); do
        if process_sql --database=mysql -e 'SELECT 1' >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$TEMP_PID" 2>/dev/null || die "the temporary server exited during start-up"
        sleep 0.5
    done
    die "unable to start the temporary server"
}

temp_server_stop() {
    log "stopping the temporary server"
    kill "$TEMP_PID"
    wait "$TEMP_PID" || die "the temporary server did not stop cleanly"
    log "temporary server stopped"
}

init_database() {
    verify_minimum_env
    log "initializing database files in $DATADIR"
    mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
        --skip-test-db --skip-name-resolve --default-time-zone=SYSTEM --skip-log-bin \
        --expire-logs-days=0 --loose-innodb_buffer_pool_load_at_startup=0 \
        --loose-innodb_buffer_pool_dump_at_shutdown=0 >/dev/null
    log "database files initialized"

    ROOT_PW_SET=""
    temp_server_start "$@"

    if [[ -z "$MARIADB_INITDB_SKIP_TZINFO" ]]; then
        log "loading time zone info"
        mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo 2>/dev/null |
            process_sql --database=mysql
    fi

    local root_pw=$MARIADB_ROOT_PASSWORD
    if [[ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]]; then
        root_pw=$(random_password)
        log "GENERATED ROOT PASSWORD: $root_pw"
    fi
    local rp health_pw sql
    rp=$(sql_string "$root_pw")
    health_pw=$(random_password)
    sql="SET @@SESSION.SQL_LOG_BIN=0;
SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
-- Only root@localhost (and root@MARIADB_ROOT_HOST below), no anonymous users.
DROP USER IF EXISTS root@'127.0.0.1', root@'::1', ''@'localhost';
EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\\'', @@hostname, '\\'');
EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS \\'\\'@\\'', @@hostname, '\\'');
SET PASSWORD FOR 'root'@'localhost' = PASSWORD('$rp');
CREATE USER 'healthcheck'@'127.0.0.1' IDENTIFIED BY '$health_pw';
CREATE USER 'healthcheck'@'::1' IDENTIFIED BY '$health_pw';
CREATE USER 'healthcheck'@'localhost' IDENTIFIED BY '$health_pw';
GRANT USAGE ON *.* TO 'healthcheck'@'127.0.0.1', 'healthcheck'@'::1', 'healthcheck'@'localhost';
"
    if [[ -n "$MARIADB_ROOT_HOST" && "$MARIADB_ROOT_HOST" != localhost ]]; then
        local rh
        rh=$(sql_string "$MARIADB_ROOT_HOST")
        sql+="CREATE USER 'root'@'$rh' IDENTIFIED BY '$rp';
GRANT ALL ON *.* TO 'root'@'$rh' WITH GRANT OPTION;
GRANT PROXY ON ''@'%' TO 'root'@'$rh' WITH GRANT OPTION;
"
    fi
    if [[ -n "$MARIADB_DATABASE" ]]; then
        log "creating database $MARIADB_DATABASE"
        sql+="CREATE DATABASE IF NOT EXISTS \`$(sql_ident "$MARIADB_DATABASE")\`;
"
    fi
    if [[ -n "$MARIADB_USER" ]]; then
        local u
        u=$(sql_string "$MARIADB_USER")
        log "creating user $MARIADB_USER"
        sql+="CREATE USER '$u'@'%' IDENTIFIED BY '$(sql_string "$MARIADB_PASSWORD")';
"
        if [[ -n "$MARIADB_DATABASE" ]]; then
            log "giving user $MARIADB_USER access to schema $MARIADB_DATABASE"
            sql+="GRANT ALL ON \`$(sql_ident "$MARIADB_DATABASE")\`.* TO '$u'@'%';
"
        fi
    fi
    sql+="FLUSH PRIVILEGES;"
    log "securing system users"
    process_sql --database=mysql <<<"$sql"
    ROOT_PW_SET=$root_pw

    # For healthcheck.sh; the option file is the mysql user's only.
    (
        umask 0077
        printf '[client]\nport=%s\nsocket=%s\nuser=healthcheck\npassword=%s\nprotocol=tcp\n' \
            "${PORT:-3306}" "$SOCKET" "$health_pw" >"$DATADIR/.my-healthcheck.cnf"
    )

    local f db_args=()
    [[ -n "$MARIADB_DATABASE" ]] && db_args=(--database="$MARIADB_DATABASE")
    for f in /docker-entrypoint-initdb.d/*; do
        [[ -e "$f" ]] || continue
        case "$f" in
        *.sh)
            if [[ -x "$f" ]]; then
                log "$0: running $f"
                "$f"
            else
                log "$0: sourcing $f"
                # shellcheck disable=SC1090
                . "$f"
            fi
            ;;
        *.sql)
            log "$0: running $f"
            process_sql "${db_args[@]}" <"$f"
            ;;
        *.sql.gz)
            log "$0: running $f"
            gunzip -c "$f" | process_sql "${db_args[@]}"
            ;;
        *.sql.xz)
            log "$0: running $f"
            xzcat "$f" | process_sql "${db_args[@]}"
            ;;
        *.sql.zst)
            log "$0: running $f"
            zstd -dc "$f" | process_sql "${db_args[@]}"
            ;;
        *) log "$0: ignoring $f" ;;
        esac
    done

    temp_server_stop
    log "MariaDB init process done. Ready for start up."
}

# Options only: they are for mariadbd.
if [[ "${1:0:1}" == - ]]; then
    set -- mariadbd "$@"
fi

if [[ "$1" == mariadbd || "$1" == mysqld ]] && ! want_help "$@"; then
    log "entrypoint script for MariaDB Server started"
    setup_env "$@"
    if [[ "$(id -u)" == 0 ]]; then
        prepare_dirs_as_root
        log "switching to dedicated user 'mysql'"
        exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
    fi
    if [[ -d "$DATADIR/mysql" ]]; then
        log "MariaDB database directory appears to contain a database; skipping initialization"
    else
        init_database "$@"
    fi
    # Secrets are not for the server's environment.
    unset MARIADB_ROOT_PASSWORD MYSQL_ROOT_PASSWORD MARIADB_PASSWORD MYSQL_PASSWORD
fi

exec "$@"
