//! The [`ContainerRuntime`](caas_core::ContainerRuntime) port on Docker, through bollard.
//!
//! - [`DockerConnection`]: Unix socket (default `/var/run/docker.sock`, no credentials), TCP,
//!   or TCP with mutual TLS. SSH is not supported by the bollard version in use: forward the
//!   remote socket and connect to it as a Unix socket.
//! - [`DockerRuntime`]: containers with the hardened default, networks, volumes, archives,
//!   logs, one-shot stats, events, images, pausing, and commands run inside containers
//!   (`exec`, with standard input streamed in and standard output streamed out). Engine errors map to `caas_core::Error`
//!   (404 → `NotFound`, 409 → `Conflict`, connection failures → `Unavailable` with advice).
//! - Host access ([`DockerRuntimeBuilder::host_access`], on by default): when the engine is on
//!   this host and this process may read its files, whole-volume archives (backups) are read
//!   from the volume's directory and one-shot statistics from the container's cgroup and
//!   `/proc` files, several times faster than through the API (see `benches/`). The volume
//!   walk opens every entry relative to its parent with `O_NOFOLLOW`, so links a tenant plants
//!   never lead it outside the volume; the archive has the engine's names, owners, modes,
//!   times and hard links, leaves sockets out as the engine does, and does not copy extended
//!   attributes. Anything that cannot be read from here falls back to the API.
//!
//! ```no_run
//! # async fn run() -> caas_core::Result<()> {
//! use caas_core::ContainerRuntime;
//! use caas_docker::{DockerConnection, DockerRuntime};
//!
//! let runtime = DockerRuntime::builder()
//!     .connection(DockerConnection::default())
//!     .build()
//!     .await?;
//! println!("{:?}", runtime.ping().await?);
//! # Ok(()) }
//! ```
//!
//! - [`DockerConnector`]: lets `Platform` switch engines at run time from a stored
//!   configuration (`platform.admin().update_runtime_config`).
//! - [`detect`]: tries `DOCKER_HOST`, the default sockets, rootless Docker, Podman and
//!   `tcp://localhost:2375`, and returns every candidate with what answered.
//! - [`test_connection`]: a [`ConnectionReport`](caas_core::ports::runtime::ConnectionReport)
//!   with engine and API versions, OS/arch, cgroup version and driver, storage driver,
//!   live-restore, counts and round-trip time, or the error turned into advice.
//!
//! # Isolation
//!
//! Every project gets a bridge network of its own; the engine keeps bridges apart (its
//! `DOCKER-ISOLATION` chains drop traffic from one bridge to another), so a container of one
//! project — of the same organization or another — cannot open a connection to a container
//! of another project (`tests/isolation.rs` tries it with TCP connects from inside
//! containers).
//!
//! What bridges do not stop is the way to the host itself: a container reaches every address
//! of its host through its gateway (`172.18.0.1`), and with it whatever listens on `0.0.0.0`
//! there (the platform's API, dockerd's TCP port, PostgreSQL, Traefik's API). The **host
//! guard** ([`DockerRuntimeBuilder::host_guard`], [`HostGuard::Auto`] by default) closes it:
//! for each network the runtime creates it installs an iptables rule refusing new TCP
//! connections from that network's bridge to the host, and removes the rule with the
//! network. Docker 20.10 offers no network option for this and its `DOCKER-USER` chain sits
//! in `FORWARD`, which never sees packets addressed to the host, so the rules live in a chain
//! of their own, [`HOST_GUARD_CHAIN`] (`CAAS-HOST-GUARD`), jumped to from the top of `INPUT`:
//!
//! ```text
//! -A INPUT -j CAAS-HOST-GUARD
//! -A CAAS-HOST-GUARD -i br-<network id> -p tcp -m conntrack --ctstate NEW \
//!    -m comment --comment caas-host-guard:<network id> -j REJECT --reject-with tcp-reset
//! ```
//!
//! - Only connections *from* containers are refused: the platform's own connections to them
//!   (readiness probes, Traefik on the host forwarding to upstreams) and their replies pass,
//!   and the host still reaches its own services through the gateway address. Containers
//!   still reach each other on their network and the outside world; UDP is not touched (a
//!   DNS resolver on the host keeps answering).
//! - To let tenants reach one host port (a mail relay), insert an `ACCEPT` rule at the top
//!   of `CAAS-HOST-GUARD` (`iptables -I CAAS-HOST-GUARD -p tcp --dport 25 -j ACCEPT`): the
//!   runtime only appends to the chain.
//! - It needs `iptables` (Debian: `apt-get install iptables`) driving the engine's backend,
//!   root (or `CAP_NET_ADMIN`), and the engine's bridges in this process's network
//!   namespace. With [`HostGuard::Auto`] a runtime that cannot install the rules (engine on
//!   another host, rootless engine, no privileges) warns once and runs unguarded;
//!   [`HostGuard::Required`] refuses to create networks instead; [`HostGuard::Off`] leaves
//!   the host to its own firewall.
//! - Rules are idempotent (a network found already there gets its rule checked, not
//!   doubled), rules whose bridge has gone are swept on the next creation, and
//!   [`DockerRuntime::guard_host`] re-installs the rules of every managed network (at
//!   start-up after an upgrade, or after a firewall reload flushed them).
//! - Managed networks are IPv4 only, so there are no ip6tables rules.
//!
//! Containers run as the user their spec names (`ServiceSpec::user`, `uid[:gid]` or a name
//! the image knows); for root inside containers not to be root on the host at all, run the
//! engine with user-namespace remapping (`docs/security.md`).

mod connection;
mod connector;
mod diagnose;
mod error;
mod exec;
mod host_archive;
mod host_guard;
mod host_stats;
mod runtime;

pub use connection::{DEFAULT_TIMEOUT_SECS, DockerConnection, MIN_API_VERSION};
pub use connector::{BACKEND, DockerConnector};
pub use diagnose::{Candidate, Detection, DetectionInputs, candidates, detect, test_connection};
pub use host_guard::{HOST_GUARD_CHAIN, HostGuard};
pub use runtime::{DockerRuntime, DockerRuntimeBuilder};
