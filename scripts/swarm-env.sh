#!/usr/bin/env bash
# Docker Swarm clusters for the caas-swarm tests, on this one machine.
#
# Each swarm node is its own dockerd, entered into its own network namespace
# with `nsenter --net=` (not `ip netns exec`, which remounts /sys and hides the
# cgroups) and its own UTS namespace (so every node has its own host name),
# with its own --data-root, --exec-root, --pidfile, socket and --cgroup-parent.
# The shared test engine (/var/run/docker.sock) is never touched: it must not
# become a swarm manager, colleagues run tests on it.
#
# Two swarms:
#   solo      one node (manager) for the runtime conformance suite
#   cluster   c1 (manager) + c2, c3 (workers) for the multi-node scenario
#
# Nodes are joined over a host bridge (caas-swbr, 192.168.213.0/24). The
# kernel has no IPVS: service VIPs and the ingress routing mesh do not work,
# so services use `--endpoint-mode dnsrr` (caas-swarm always does). Images are
# copied from the shared engine (docker save | docker load) and every dockerd
# runs with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 so tasks never try a
# registry, and with --no-new-privileges (Swarm on API 1.41 cannot set it per
# service).
#
#   scripts/swarm-env.sh                 provision (idempotent; a few seconds when warm)
#   scripts/swarm-env.sh --check         only report; change nothing (exit 1 if not ready)
#   scripts/swarm-env.sh --env           print the exports the tests read
#   scripts/swarm-env.sh node-down NODE  cut NODE off the network (node-loss tests)
#   scripts/swarm-env.sh node-up NODE    reconnect NODE and wait until it is ready again
#
# Needs the shared engine and the images of scripts/test-env.sh; that script
# calls this one near its end. Logs: /var/tmp/caas-test-env/swarm/<node>/dockerd.log
set -euo pipefail

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

BASE_DIR=/var/tmp/caas-test-env/swarm
# Short: a unix socket path must stay under 108 bytes.
RUN_DIR=/run/caas-swarm
BRIDGE=caas-swbr
BRIDGE_ADDR=192.168.213.1
PREFIX_LEN=24
SHARED_DOCKER=${CAAS_SWARM_SOURCE_DOCKER:-unix:///var/run/docker.sock}
BUSYBOX_IMAGE=${CAAS_TEST_BUSYBOX_IMAGE:-caas/busybox:latest}
TRAEFIK_IMAGE=${CAAS_TEST_TRAEFIK_IMAGE:-caas/traefik:local}

# node → "address swarm role"
declare -A NODE_ADDR=([solo]=192.168.213.10 [c1]=192.168.213.20 [c2]=192.168.213.21 [c3]=192.168.213.22)
declare -A NODE_SWARM=([solo]=solo [c1]=cluster [c2]=cluster [c3]=cluster)
declare -A NODE_ROLE=([solo]=manager [c1]=manager [c2]=worker [c3]=worker)
# Overlay subnets come from these pools (not 10.0.0.0/8, which may be routed here).
declare -A SWARM_POOL=([solo]=10.213.0.0/16 [cluster]=10.214.0.0/16)
declare -A SWARM_MANAGER=([solo]=solo [cluster]=c1)
NODES=(solo c1 c2 c3)
# Images each node needs; the managers also run the test's Traefik.
declare -A NODE_IMAGES=([solo]="$BUSYBOX_IMAGE" [c1]="$BUSYBOX_IMAGE $TRAEFIK_IMAGE" [c2]="$BUSYBOX_IMAGE" [c3]="$BUSYBOX_IMAGE")

CHECK=0
MISSING=0

log() { echo "[swarm-env] $*"; }
die() {
    echo "[swarm-env] ERROR: $*" >&2
    exit 1
}
missing() {
    MISSING=1
    log "check: $1: MISSING ($2)"
}

netns() { echo "caas-sw-$1"; }
host_veth() { echo "caas-sw-$1"; }
socket() { echo "$RUN_DIR/$1/docker.sock"; }
node_docker() {
    local n=$1
    shift
    timeout 30 docker -H "unix://$(socket "$n")" "$@"
}
node_ok() { node_docker "$1" info >/dev/null 2>&1; }

# --- network -------------------------------------------------------------------

ensure_bridge() {
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ((CHECK)) && {
            missing bridge "$BRIDGE absent"
            return
        }
        ip link add "$BRIDGE" type bridge
        log "network: created bridge $BRIDGE"
    fi
    if ! ip -4 addr show dev "$BRIDGE" | grep -q "inet $BRIDGE_ADDR/"; then
        ((CHECK)) && {
            missing bridge "$BRIDGE has no $BRIDGE_ADDR"
            return
        }
        ip addr add "$BRIDGE_ADDR/$PREFIX_LEN" dev "$BRIDGE"
    fi
    ((CHECK)) || ip link set "$BRIDGE" up
    # Frames between nodes cross the host's FORWARD chain (br_netfilter), whose
    # policy is DROP once the shared dockerd runs: let the swarm bridge through.
    if ! iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; then
        ((CHECK)) && {
            missing bridge "no FORWARD accept rule for $BRIDGE"
            return
        }
        iptables -I FORWARD 1 -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
        log "network: FORWARD accepts $BRIDGE <-> $BRIDGE"
    fi
}

ensure_netns() {
    local n=$1 ns veth addr
    ns=$(netns "$n")
    veth=$(host_veth "$n")
    addr=${NODE_ADDR[$n]}
    if [[ ! -e /run/netns/$ns ]]; then
        ((CHECK)) && {
            missing "node $n" "network namespace $ns absent"
            return 1
        }
        ip netns add "$ns"
        log "node $n: created network namespace $ns"
    fi
    if ! ip link show "$veth" >/dev/null 2>&1; then
        ((CHECK)) && {
            missing "node $n" "veth $veth absent"
            return 1
        }
        ip link add "$veth" type veth peer name eth0 netns "$ns"
        log "node $n: veth $veth <-> $ns/eth0"
    fi
    if ((CHECK)); then
        return 0
    fi
    ip link set "$veth" master "$BRIDGE"
    ip link set "$veth" up
    ip -n "$ns" link set lo up
    if ! ip -n "$ns" -4 addr show dev eth0 | grep -q "inet $addr/"; then
        ip -n "$ns" addr add "$addr/$PREFIX_LEN" dev eth0
    fi
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route replace default via "$BRIDGE_ADDR" dev eth0
}

# --- dockerd -------------------------------------------------------------------

pid_alive_dockerd() {
    local pid
    [[ -s "$1" ]] || return 1
    pid=$(tr -dc '0-9' <"$1")
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null &&
        [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]] &&
        [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}

ensure_dockerd() {
    local n=$1 run=$RUN_DIR/$1 dir=$BASE_DIR/$1 i
    if node_ok "$n"; then
        return 0
    fi
    ((CHECK)) && {
        missing "node $n" "dockerd does not answer on $(socket "$n")"
        return 1
    }
    mkdir -p "$run" "$dir/data"
    if pid_alive_dockerd "$run/docker.pid"; then
        log "node $n: dockerd (pid $(cat "$run/docker.pid")) alive but not answering; waiting"
    else
        # A daemon killed with an earlier session leaves pid files behind.
        rm -f "$run/docker.pid" "$run/containerd/containerd.pid"
        log "node $n: starting dockerd in $(netns "$n") (log $dir/dockerd.log)"
        echo "=== $(date -Is) starting dockerd for node $n" >>"$dir/dockerd.log"
        # setsid: outlive the calling shell; 9>&-: never hold test-env.sh's lock.
        DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 setsid nohup \
            nsenter --net="/run/netns/$(netns "$n")" \
            unshare --uts sh -c "hostname caas-sw-$n && exec dockerd \
                --data-root '$dir/data' --exec-root '$run' --pidfile '$run/docker.pid' \
                -H 'unix://$(socket "$n")' --cgroup-parent '/caas-swarm-$n' \
                --no-new-privileges --log-level warn" \
            >>"$dir/dockerd.log" 2>&1 </dev/null 9>&- &
    fi
    for ((i = 0; i < 60; i++)); do
        node_ok "$n" && return 0
        sleep 1
    done
    tail -n 20 "$dir/dockerd.log" >&2 || true
    die "node $n: dockerd did not answer within 60 s; see $dir/dockerd.log"
}

swarm_state() { node_docker "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || true; }

ensure_swarm() {
    local s=$1 m=${SWARM_MANAGER[$1]} n state token
    state=$(swarm_state "$m")
    if [[ "$state" != active ]]; then
        ((CHECK)) && {
            missing "swarm $s" "manager $m is '$state'"
            return
        }
        log "swarm $s: init on $m"
        node_docker "$m" swarm init --advertise-addr "${NODE_ADDR[$m]}" \
            --listen-addr "${NODE_ADDR[$m]}:2377" \
            --default-addr-pool "${SWARM_POOL[$s]}" --default-addr-pool-mask-length 24 \
            --task-history-limit 2 >/dev/null
    fi
    for n in "${NODES[@]}"; do
        [[ ${NODE_SWARM[$n]} == "$s" && ${NODE_ROLE[$n]} == worker ]] || continue
        state=$(swarm_state "$n")
        # Active, but in a swarm this manager does not know (its data root was wiped)?
        if [[ "$state" == active ]] && ! listed "$m" "$n"; then
            ((CHECK)) && {
                missing "node $n" "in another swarm than $m's"
                continue
            }
            log "swarm $s: $n belongs to another swarm; leaving it"
            node_docker "$n" swarm leave --force >/dev/null 2>&1 || true
            state=inactive
        fi
        [[ "$state" == active ]] && continue
        ((CHECK)) && {
            missing "node $n" "not in swarm $s ('$state')"
            continue
        }
        if [[ "$state" == pending || "$state" == error ]]; then
            node_docker "$n" swarm leave --force >/dev/null 2>&1 || true
        fi
        token=$(node_docker "$m" swarm join-token -q worker)
        log "swarm $s: joining $n as a worker"
        node_docker "$n" swarm join --token "$token" --advertise-addr "${NODE_ADDR[$n]}" \
            --listen-addr "${NODE_ADDR[$n]}:2377" "${NODE_ADDR[$m]}:2377" >/dev/null
    done
}

# listed MANAGER NODE: the manager lists NODE (any status).
listed() {
    node_docker "$1" node ls --format '{{.Hostname}}' 2>/dev/null | grep -qx "caas-sw-$2"
}

# forget_replaced MANAGER NODE: a node that rejoined leaves its old entry behind, Down;
# remove such entries once the node is Ready under a new one.
forget_replaced() {
    local m=$1 n=$2 id
    for id in $(node_docker "$m" node ls --format '{{.ID}} {{.Hostname}} {{.Status}}' |
        awk -v h="caas-sw-$n" '$2 == h && $3 == "Down" {print $1}'); do
        node_docker "$m" node rm --force "$id" >/dev/null 2>&1 || true
    done
}

image_id() { docker -H "$SHARED_DOCKER" image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

ensure_images() {
    local n=$1 img want have
    for img in ${NODE_IMAGES[$n]}; do
        want=$(image_id "$img")
        [[ -n "$want" ]] || die "image $img is missing on the shared engine; run scripts/test-env.sh"
        have=$(node_docker "$n" image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)
        [[ "$have" == "$want" ]] && continue
        ((CHECK)) && {
            missing "node $n" "image $img not loaded"
            continue
        }
        log "node $n: loading $img"
        docker -H "$SHARED_DOCKER" save "$img" | node_docker "$n" load >/dev/null
    done
}

wait_ready() {
    local m=$1 n=$2 i
    for ((i = 0; i < 60; i++)); do
        node_docker "$m" node ls --format '{{.Hostname}} {{.Status}}' 2>/dev/null |
            grep -qx "caas-sw-$n Ready" && return 0
        sleep 1
    done
    die "node $n is not Ready in its swarm after 60 s; see $BASE_DIR/$n/dockerd.log"
}

env_lines() {
    cat <<EOF
export CAAS_TEST_SWARM_SOLO_HOST=unix://$(socket solo)
export CAAS_TEST_SWARM_CLUSTER_MANAGER=unix://$(socket c1)
export CAAS_TEST_SWARM_CLUSTER_NODES=unix://$(socket c1),unix://$(socket c2),unix://$(socket c3)
export CAAS_TEST_SWARM_CLUSTER_ADDR=${NODE_ADDR[c1]}
export CAAS_TEST_SWARM_SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/swarm-env.sh
EOF
}

node_down() {
    local n=$1
    [[ -n "${NODE_ADDR[$n]:-}" ]] || die "unknown node '$n'"
    ip link set "$(host_veth "$n")" down
    log "node $n: link down (cut off from its swarm)"
}

node_up() {
    local n=$1
    [[ -n "${NODE_ADDR[$n]:-}" ]] || die "unknown node '$n'"
    ip link set "$(host_veth "$n")" up
    wait_ready "${SWARM_MANAGER[${NODE_SWARM[$n]}]}" "$n"
    log "node $n: link up and Ready"
}

main() {
    case "${1:-}" in
    "") ;;
    --check) CHECK=1 ;;
    --env)
        env_lines
        return
        ;;
    node-down)
        node_down "${2:?node-down NODE}"
        return
        ;;
    node-up)
        node_up "${2:?node-up NODE}"
        return
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
        return
        ;;
    *)
        echo "usage: $0 [--check|--env|node-down NODE|node-up NODE]" >&2
        exit 2
        ;;
    esac
    [[ $EUID -eq 0 ]] || die "must run as root (network namespaces, dockerd)"
    local start=$SECONDS n s
    ensure_bridge
    for n in "${NODES[@]}"; do
        ensure_netns "$n" || continue
        # A node cut off by node-down and never brought back.
        ((CHECK)) || ip link set "$(host_veth "$n")" up
        ensure_dockerd "$n" || continue
        ensure_images "$n"
    done
    for s in solo cluster; do
        ((MISSING)) && ((CHECK)) && break
        ensure_swarm "$s"
    done
    if ! ((CHECK)); then
        for n in "${NODES[@]}"; do
            wait_ready "${SWARM_MANAGER[${NODE_SWARM[$n]}]}" "$n"
            forget_replaced "${SWARM_MANAGER[${NODE_SWARM[$n]}]}" "$n"
        done
    fi
    if ((CHECK && MISSING)); then
        log "check: not ready"
        exit 1
    fi
    log "ready in $((SECONDS - start)) s"
}

main "$@"
