#!/bin/sh
# /usr/local/bin/docker-entrypoint.sh of caas/redis:7-local, the local
# look-alike of the official `redis` image that scripts/test-env.sh derives
# from caas/debian-services:bookworm (Debian's Redis 7; no registry).
#
# As in the official image: `redis-server [config] [--options]` (or just
# `--options`, or a `*.conf` file) runs Redis as the redis user in the working
# directory, /data (a volume), after handing it to that user (a fresh named
# volume is root-owned); anything else is run as given (e.g. `redis-cli`).
# Privileges are dropped with setpriv: only CAP_CHOWN, CAP_SETUID and
# CAP_SETGID are needed, and it works under no-new-privileges. Redis ends up as
# PID 1 (exec all the way), so `docker stop` (SIGTERM) reaches it directly.
set -e

# First argument an option (`--requirepass x`) or a config file: for redis-server.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis:redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$1" = redis-server ]; then
    # The official image is compiled with protected mode off ("unnecessary in
    # the context of Docker"); Debian's build keeps it on, which refuses
    # clients from other containers when no password is set. Turn it off the
    # same way: as a default that a config file or a later option overrides.
    # Redis wants the config file (or `-` for stdin) first, and looks at
    # --version/--help/--test-memory/--check-system only as the first option.
    shift
    case "${1:-}" in
    -v | --version | -h | --help | --test-memory | --check-system) ;;
    "" | --*) set -- --protected-mode no "$@" ;;
    -) set -- "$@" --protected-mode no ;;
    *)
        if ! grep -Eqi '^[[:space:]]*protected-mode[[:space:]]' "$1" 2>/dev/null; then
            conf=$1
            shift
            set -- "$conf" --protected-mode no "$@"
        fi
        ;;
    esac
    set -- redis-server "$@"

    # Files Redis writes are for its own user only (official image: umask 0077
    # unless a non-default umask was set).
    if [ "$(umask)" = 0022 ]; then
        umask 0077
    fi
fi

exec "$@"
