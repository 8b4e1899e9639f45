#!/usr/bin/env bash
# /usr/local/bin/healthcheck.sh of caas/mariadb:11-local, the look-alike of the
# official `mariadb` image's health check script (scripts/test-env.sh).
#
#   healthcheck.sh [--defaults-file=F | --defaults-extra-file=F | --no-defaults]
#                  [--datadir=D] [--su-mysql] TEST...
# Tests, run in order; the exit status is 0 only when all pass:
#   --connect                     the server accepts TCP connections on
#                                 localhost (a login is not required)
#   --innodb_initialized          InnoDB is initialised (needs a login)
#   --innodb_buffer_pool_loaded   the buffer pool load at start-up is done
# Credentials come from <datadir>/.my-healthcheck.cnf, written by the
# entrypoint on first start (user healthcheck, USAGE only), unless given.
set -eo pipefail

datadir=/var/lib/mysql
defaults=()
tests=()
for arg; do
    case "$arg" in
    --defaults-file=* | --defaults-extra-file=* | --no-defaults) defaults=("$arg") ;;
    --datadir=*) datadir=${arg#--datadir=} ;;
    # The checks only read an option file: root can, no user switch needed.
    --su-mysql | --su=*) ;;
    --connect | --innodb_initialized | --innodb_buffer_pool_loaded) tests+=("${arg#--}") ;;
    *)
        echo "healthcheck.sh: unknown option or test $arg" >&2
        exit 1
        ;;
    esac
done
if ((${#tests[@]} == 0)); then
    echo "healthcheck.sh: no test given (--connect, --innodb_initialized, --innodb_buffer_pool_loaded)" >&2
    exit 1
fi
if ((${#defaults[@]} == 0)) && [[ -r "$datadir/.my-healthcheck.cnf" ]]; then
    defaults=(--defaults-extra-file="$datadir/.my-healthcheck.cnf")
fi

sql() {
    mariadb "${defaults[@]}" -h localhost --protocol tcp --skip-column-names -e "$1"
}

connect() {
    local out rc=0
    out=$(mariadb "${defaults[@]}" -h localhost --protocol tcp -e 'select 1' 2>&1) || rc=$?
    # Any answer (even "Access denied") means the server is up; only "Can't
    # connect" does not.
    if ((rc != 0)) && grep -qF "Can't connect" <<<"$out"; then
        return 1
    fi
    return 0
}

innodb_initialized() {
    [[ "$(sql "select 1 from information_schema.ENGINES where engine = 'innodb' and support in ('YES', 'DEFAULT', 'ENABLED')")" == 1 ]]
}

innodb_buffer_pool_loaded() {
    local status
    status=$(sql "select VARIABLE_VALUE from information_schema.GLOBAL_STATUS where VARIABLE_NAME = 'INNODB_BUFFER_POOL_LOAD_STATUS'")
    [[ "$status" == *"load completed"* ]]
}

for t in "${tests[@]}"; do
    case "$t" in
    connect) connect ;;
    innodb_initialized) innodb_initialized ;;
    innodb_buffer_pool_loaded) innodb_buffer_pool_loaded ;;
    esac || {
        echo "healthcheck $t failed" >&2
        exit 1
    }
done
exit 0
