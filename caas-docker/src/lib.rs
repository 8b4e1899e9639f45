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
//!   configuration (`Platform::update_runtime_config`).
//! - [`detect`]: tries `DOCKER_HOST`, the default sockets, rootless Docker, Podman and
//!   `tcp://localhost:2375`, and returns every candidate with what answered.
//! - [`test_connection`]: a [`ConnectionReport`](caas_core::ports::runtime::ConnectionReport)
//!   with engine and API versions, OS/arch, cgroup version and driver, storage driver,
//!   live-restore, counts and round-trip time, or the error turned into advice.

mod connection;
mod connector;
mod diagnose;
mod error;
mod exec;
mod host_archive;
mod host_stats;
mod runtime;

pub use connection::{DEFAULT_TIMEOUT_SECS, DockerConnection, MIN_API_VERSION};
pub use connector::{BACKEND, DockerConnector};
pub use diagnose::{Candidate, Detection, DetectionInputs, candidates, detect, test_connection};
pub use runtime::{DockerRuntime, DockerRuntimeBuilder};
