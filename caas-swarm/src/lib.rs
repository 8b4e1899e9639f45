//! The [`ContainerRuntime`](caas_core::ContainerRuntime) port on Docker Swarm: the same
//! `Platform` on a cluster of Docker engines, each workload a replicated Swarm service.
//!
//! For an embedder the change is one line, the runtime handed to the platform builder:
//!
//! ```no_run
//! # async fn run() -> caas_core::Result<()> {
//! # use std::sync::Arc;
//! # let store = Arc::new(caas_core::memory::InMemoryStore::new());
//! use caas_docker::DockerConnection;
//! use caas_swarm::SwarmRuntime;
//!
//! let runtime = SwarmRuntime::builder().manager(DockerConnection::default()).build().await?;
//! let platform = caas_core::Platform::builder()
//!     .store(store)
//!     .runtime(Arc::new(runtime))
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! `docs/swarm.md` in the repository says when to choose Swarm, how to set up routing and what
//! was measured; this page is the reference.
//!
//! # Mapping
//!
//! | port | Swarm |
//! |---|---|
//! | container | a replicated service (endpoint mode `dnsrr`), named after the container (names over 63 characters are shortened with a digest; label `caas.swarm.name` keeps the original) |
//! | `ContainerSpec::replicas` | the service's replicas once started (label `caas.swarm.replicas`); up to [`SwarmRuntimeBuilder::max_replicas`] |
//! | create | the service with 0 replicas ("created, not started") |
//! | start | scale to the replicas; returns once they run (health-checked tasks run once healthy) or one failed, within the converge timeout |
//! | stop | scale to 0 (label `caas.swarm.stopped-at`); the tasks stop with the grace period the container was created with |
//! | restart | Swarm's rolling replacement (a forced update: start-first, health-gated, rolled back on failure) |
//! | remove | delete the service and wait until the nodes removed its task containers |
//! | inspect, list | the service plus its tasks, aggregated (see below) |
//! | `update_limits` | Swarm's rolling update of the same service → [`UpdateOutcome::Rolled`](caas_core::ports::runtime::UpdateOutcome::Rolled); `Live` when nothing runs |
//! | logs | the manager's service log API (all tasks; `tail` counts per task) |
//! | stats | one reading per running task from its node's engine, summed |
//! | events | container events of every known node engine, for task containers, reported under their service's id |
//! | network | an overlay network on the manager, one per project; attachable only when [`SwarmRuntimeBuilder::attach_to_networks`] names containers to join it |
//! | volume | a local volume on the storage node; services mounting it are pinned there (`node.id==…`) |
//! | archives, volume usage | a helper container on the volume's node, through its engine |
//! | images | present when on every schedulable known node; pulled on each of them |
//! | `upstream_hosts` | the service name: on its networks it resolves to the tasks that run (and are healthy) |
//!
//! A container's status: `Running` when every asked replica has a running task, `Created`
//! while they are on their way (or before the first start), `Restarting` when fewer run and a
//! task ended by itself since the service last changed, `Exited` after a stop. Its
//! `restart_count` counts those ended tasks, `started_at` is the latest start among running
//! tasks, `ip_addresses` are the first running task's.
//!
//! # Updates
//!
//! A change of the spec (environment, image, volumes) goes through the platform's own rolling
//! update: a new service for the new deployment, routes switched from the old service's name
//! to the new one, the old one drained and removed. That keeps the deployment label as the
//! unit of idempotency and the reconciler's view of "one service per deployment". Limits and
//! restarts use Swarm's rolling update of the same service: `order: start-first` (stop-first
//! when the service writes a volume, so two writers never share it), `failure_action:
//! rollback`, one task at a time, each watched for [`SwarmRuntimeBuilder::update_monitor`].
//! Both give the same guarantee to clients that reach the service by its name: Swarm adds a
//! task to the name's answers only once it is healthy and removes it before stopping it.
//!
//! # Routing
//!
//! Nothing is published on the nodes (the kernel of the development machine has no IPVS, and
//! routing does not need it). A proxy must sit on the services' overlay networks: run it as a
//! container on a manager and name it in [`SwarmRuntimeBuilder::attach_to_networks`], so it
//! joins every network this runtime creates. The platform then routes to
//! [`ContainerRuntime::upstream_hosts`](caas_core::ContainerRuntime::upstream_hosts), the
//! service's name, and the proxy resolves it on each new connection. Give the proxy a dial
//! timeout of a few seconds (Traefik: `--serverstransport.forwardingtimeouts.dialtimeout=6s`):
//! a task on a node that was just lost does not refuse connections, it never answers, and Go
//! tries the name's next address after at most 2 s.
//!
//! The runtime reports [`RuntimeCapabilities::cluster`](caas_core::ports::runtime::RuntimeCapabilities::cluster):
//! the platform's host is not on the overlay networks, so the platform skips its TCP readiness
//! probe and relies on the status and health above.
//!
//! # Hardening
//!
//! Every service gets `CapDrop: ALL` plus the allowed capabilities, no privileged mode (Swarm
//! has none), no host namespaces, only named volumes, memory, CPU and pids limits, and
//! reservations of a share of them ([`SwarmRuntimeBuilder::reservations`]). no-new-privileges
//! is set per service from API 1.46 (Docker 27) on; older managers ignore the field and no
//! engine reports the daemon-wide `--no-new-privileges`, so there the embedder declares it
//! with [`SwarmRuntimeBuilder::daemons_enforce_no_new_privileges`], and creates are refused
//! without it. Swarm cannot limit swap: run the nodes without swap, or a task may use as
//! much swap as memory.
//!
//! # Isolation
//!
//! Each project's services share an overlay network of its own (a VXLAN segment of its
//! own); a task of one project — of the same organization or another — cannot open a
//! connection to a task of another project (`tests/isolation.rs` tries it with TCP connects
//! from inside tasks). The networks are not attachable, so no plain container started on a
//! node can join them, unless the runtime attaches the proxy
//! ([`SwarmRuntimeBuilder::attach_to_networks`]); then the proxy sits on every project's
//! network, and its API must listen on an address of its own network only (Traefik:
//! `docs/security.md`). Overlay traffic between nodes is not encrypted: keep the nodes on a
//! private network. The host guard of `caas-docker` does not cover Swarm nodes; protect
//! their ports with the nodes' own firewalls.
//!
//! # What is `Unsupported`
//!
//! Only where the port allows it:
//!
//! - `create_container` on a manager older than API 1.46 without the no-new-privileges
//!   declaration;
//! - `stats_once` when a task runs on a node whose engine this runtime does not know
//!   ([`SwarmRuntimeBuilder::node`]);
//! - `volume_usage`, `read_archive`, `write_archive` for a volume mounted by a service pinned
//!   to such a node.
//!
//! Building a runtime for a manager reached over TLS is `Unsupported` too: tasks, nodes and
//! service logs are read with a small client of this crate (bollard 0.18 has no such calls)
//! that speaks only Unix sockets and plain TCP; forward the socket instead.

mod api;
mod error;
mod port;
mod runtime;
mod spec;
mod state;
mod storage;
mod workloads;

pub use port::BACKEND;
pub use runtime::{DEFAULT_MAX_REPLICAS, SwarmRuntime, SwarmRuntimeBuilder};
pub use spec::{LABEL_HEALTH_CHECK, LABEL_NAME, LABEL_NODE, LABEL_REPLICAS, LABEL_STOPPED_AT};
