//! The container runtime port: what actually runs.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::{HealthCheck, PortSpec, ResourceLimits, RestartPolicy};

/// Capabilities every managed container keeps after `CapDrop: ALL`: what common images (web
/// servers binding port 80, databases switching to their own user) need, and nothing that
/// reaches the host.
pub const ALLOWED_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "NET_BIND_SERVICE",
];

/// Optional security settings on top of the hardened default, which is always applied: not
/// privileged, `CapDrop: ALL` plus a subset of [`ALLOWED_CAPABILITIES`], `no-new-privileges`,
/// no host network/PID/IPC namespaces, no bind mounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SecurityProfile {
    /// Capabilities added back; each must be in [`ALLOWED_CAPABILITIES`].
    pub cap_add: Vec<String>,
    /// Mount the root file system read-only.
    pub read_only_rootfs: bool,
    /// Run as this user (`uid[:gid]` or a name).
    pub user: Option<String>,
}

impl Default for SecurityProfile {
    fn default() -> Self {
        Self {
            cap_add: ALLOWED_CAPABILITIES.iter().map(|s| s.to_string()).collect(),
            read_only_rootfs: false,
            user: None,
        }
    }
}

/// A named volume mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// The volume's runtime name.
    pub volume: String,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
}

/// A network a container joins, with its DNS aliases there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttachment {
    /// The network's runtime name.
    pub network: String,
    /// Host names other containers on the network use.
    pub aliases: Vec<String>,
}

/// Everything a runtime needs to create a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContainerSpec {
    /// Container name (unique in the runtime).
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Overrides the image's command.
    pub command: Option<Vec<String>>,
    /// Overrides the image's entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Environment (`KEY`, `value`).
    pub env: Vec<(String, String)>,
    /// Labels (the platform's managed labels included).
    pub labels: BTreeMap<String, String>,
    /// Limits, always set.
    pub limits: ResourceLimits,
    /// Volume mounts.
    pub mounts: Vec<Mount>,
    /// Networks to join.
    pub networks: Vec<NetworkAttachment>,
    /// Ports exposed on the networks.
    pub exposed_ports: Vec<PortSpec>,
    /// Health check run by the engine.
    pub health_check: Option<HealthCheck>,
    /// Restart policy.
    pub restart_policy: RestartPolicy,
    /// Security settings on top of the hardened default.
    pub security: SecurityProfile,
    /// Grace period for a stop before the process is killed.
    pub stop_timeout: Duration,
    /// Instances to run: 1 unless the runtime's [`RuntimeCapabilities::max_replicas`] allows
    /// more; a runtime that cannot honour the number refuses the create with `InvalidInput`
    /// naming `spec.replicas`. Left out of the serialized form when 1, so specs serialized
    /// before the field existed (and digests of them) stay the same.
    #[serde(default = "one_replica", skip_serializing_if = "is_one_replica")]
    pub replicas: u32,
}

fn one_replica() -> u32 {
    1
}

fn is_one_replica(n: &u32) -> bool {
    *n == 1
}

impl ContainerSpec {
    /// A spec with hardened defaults for everything but the name and image.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            image: image.into(),
            command: None,
            entrypoint: None,
            env: Vec::new(),
            labels: BTreeMap::new(),
            limits: ResourceLimits::default(),
            mounts: Vec::new(),
            networks: Vec::new(),
            exposed_ports: Vec::new(),
            health_check: None,
            restart_policy: RestartPolicy::default(),
            security: SecurityProfile::default(),
            stop_timeout: Duration::from_secs(10),
            replicas: 1,
        }
    }
}

/// Outcome of an idempotent create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CreateOutcome {
    /// Created now; the runtime id.
    Created(String),
    /// An identical object (same name and same `caas.deployment` label for containers) already
    /// existed; its runtime id.
    AlreadyExists(String),
}

impl CreateOutcome {
    /// The runtime id either way.
    pub fn id(&self) -> &str {
        match self {
            Self::Created(id) | Self::AlreadyExists(id) => id,
        }
    }
}

/// Outcome of an idempotent start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartOutcome {
    /// Started now.
    Started,
    /// Was already running.
    AlreadyRunning,
}

/// Outcome of an idempotent stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopOutcome {
    /// Stopped now.
    Stopped,
    /// Was not running.
    AlreadyStopped,
}

/// Outcome of an idempotent remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemoveOutcome {
    /// Removed now.
    Removed,
    /// Did not exist.
    NotFound,
}

/// Outcome of a limit update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateOutcome {
    /// Applied to the running container without restarting it.
    Live,
    /// The runtime cannot change this live; recreate the container. Nothing was changed.
    RequiresRecreate,
    /// Applied by the runtime's own rolling update: new instances were started with the new
    /// limits and became ready (healthy, when a health check is set) before the old ones
    /// stopped, under the same id; clients that reach the workload through the runtime's
    /// service discovery ([`ContainerRuntime::upstream_hosts`]) see no gap. A failed update is
    /// rolled back by the runtime and reported as an error.
    Rolled,
}

/// What a runtime can do beyond the common contract, for the platform to check before it asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RuntimeCapabilities {
    /// Most instances one workload may run ([`ContainerSpec::replicas`]); 1 on a single host.
    pub max_replicas: u32,
    /// Whether the platform's own host can open connections to the addresses in
    /// [`ContainerInfo::ip_addresses`] (true for a local bridge network; false for overlay
    /// networks of a cluster, which only their members reach). When false the platform skips
    /// its TCP readiness probe and relies on the runtime's status and health.
    pub addresses_reachable: bool,
}

impl RuntimeCapabilities {
    /// One instance per workload, addresses reachable: a single local engine.
    pub const fn single_host() -> Self {
        Self {
            max_replicas: 1,
            addresses_reachable: true,
        }
    }

    /// A cluster running up to `max_replicas` instances per workload on networks the
    /// platform's host is not part of.
    pub const fn cluster(max_replicas: u32) -> Self {
        Self {
            max_replicas,
            addresses_reachable: false,
        }
    }
}

impl Default for RuntimeCapabilities {
    fn default() -> Self {
        Self::single_host()
    }
}

/// Coarse container state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ContainerStatus {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Being restarted by the engine.
    Restarting,
    /// Exited.
    Exited,
    /// Being removed.
    Removing,
    /// Dead (failed removal).
    Dead,
}

/// Health as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Within the start period.
    Starting,
    /// Passing.
    Healthy,
    /// Failing.
    Unhealthy,
}

/// The security-relevant settings a runtime actually applied, for hardening checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedSecurity {
    /// Privileged mode.
    pub privileged: bool,
    /// Capabilities dropped.
    pub cap_drop: Vec<String>,
    /// Capabilities added.
    pub cap_add: Vec<String>,
    /// `no-new-privileges` set.
    pub no_new_privileges: bool,
    /// Network mode (`host` would be a breach).
    pub network_mode: String,
    /// PID mode (`host` would be a breach).
    pub pid_mode: String,
    /// IPC mode (`host` would be a breach).
    pub ipc_mode: String,
    /// Host paths bind-mounted (must be empty).
    pub bind_mounts: Vec<String>,
}

/// A container's observed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// Runtime id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Image reference it was created from.
    pub image: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// State.
    pub status: ContainerStatus,
    /// Health, when a check is configured.
    pub health: Option<HealthStatus>,
    /// Restarts by the engine.
    pub restart_count: u64,
    /// Killed by the OOM killer on its last exit.
    pub oom_killed: bool,
    /// Exit code of the last exit.
    pub exit_code: Option<i64>,
    /// Last start.
    pub started_at: Option<DateTime<Utc>>,
    /// Last exit.
    pub finished_at: Option<DateTime<Utc>>,
    /// Address on each network (network name → IP).
    pub ip_addresses: BTreeMap<String, String>,
    /// Limits in force.
    pub limits: ResourceLimits,
    /// Environment (`KEY=value`), as the runtime holds it.
    pub env: Vec<String>,
    /// Mounts (volume name → target).
    pub mounts: Vec<Mount>,
    /// Security settings in force.
    pub security: AppliedSecurity,
}

/// A container in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSummary {
    /// Runtime id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// State.
    pub status: ContainerStatus,
}

/// Selects objects by labels: each entry requires the key, and the value when given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSelector(pub Vec<(String, Option<String>)>);

impl LabelSelector {
    /// Objects carrying `caas.managed=true`.
    pub fn managed() -> Self {
        Self(vec![(
            crate::labels::MANAGED.to_string(),
            Some("true".to_string()),
        )])
    }
    /// Adds `key=value`.
    pub fn with(mut self, key: &str, value: impl ToString) -> Self {
        self.0.push((key.to_string(), Some(value.to_string())));
        self
    }
    /// Adds "has `key`".
    pub fn has(mut self, key: &str) -> Self {
        self.0.push((key.to_string(), None));
        self
    }
    /// Whether `labels` satisfy the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|(k, v)| match (labels.get(k), v) {
            (Some(_), None) => true,
            (Some(actual), Some(want)) => actual == want,
            (None, _) => false,
        })
    }
}

/// A network to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NetworkSpec {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// No route to the outside world.
    pub internal: bool,
}

impl NetworkSpec {
    /// A bridge network with these labels.
    pub fn new(name: impl Into<String>, labels: BTreeMap<String, String>) -> Self {
        Self {
            name: name.into(),
            labels,
            internal: false,
        }
    }
}

/// A network as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Runtime id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// A volume to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VolumeSpec {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Driver (`local` when None).
    pub driver: Option<String>,
    /// Driver options (e.g. a size limit where the driver supports one).
    pub driver_opts: BTreeMap<String, String>,
}

impl VolumeSpec {
    /// A local volume with these labels.
    pub fn new(name: impl Into<String>, labels: BTreeMap<String, String>) -> Self {
        Self {
            name: name.into(),
            labels,
            driver: None,
            driver_opts: BTreeMap::new(),
        }
    }
}

/// A volume as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInfo {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Driver.
    pub driver: String,
}

/// Which log stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogLine {
    /// Stream.
    pub stream: LogStream,
    /// When, if the runtime reports it.
    pub at: Option<DateTime<Utc>>,
    /// The text, without the trailing newline.
    pub text: String,
}

/// Which logs to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogOptions {
    /// Only the last N lines.
    pub tail: Option<usize>,
    /// Only lines after this time.
    pub since: Option<DateTime<Utc>>,
    /// Keep the stream open for new lines.
    pub follow: bool,
}

impl LogOptions {
    /// The last `n` lines, not following.
    pub fn tail(n: usize) -> Self {
        Self {
            tail: Some(n),
            ..Self::default()
        }
    }
}

/// One raw stats reading, as counters: callers compute rates from two readings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawStats {
    /// When it was read.
    pub at: DateTime<Utc>,
    /// Total CPU time used by the container, nanoseconds.
    pub cpu_total_ns: u64,
    /// Total CPU time of the host, nanoseconds (0 when unknown).
    pub system_cpu_ns: u64,
    /// CPUs online.
    pub online_cpus: u32,
    /// Memory usage including page cache.
    pub memory_usage_bytes: u64,
    /// Page cache to subtract (`inactive_file`), as the Docker CLI does.
    pub memory_cache_bytes: u64,
    /// Memory limit.
    pub memory_limit_bytes: u64,
    /// Network bytes received.
    pub net_rx_bytes: u64,
    /// Network bytes sent.
    pub net_tx_bytes: u64,
    /// Block bytes read.
    pub block_read_bytes: u64,
    /// Block bytes written.
    pub block_write_bytes: u64,
    /// Processes.
    pub pids: u64,
}

/// What happened in the runtime.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuntimeEventKind {
    /// Created.
    Create,
    /// Started.
    Start,
    /// Exited.
    Die {
        /// Exit code.
        exit_code: i64,
    },
    /// OOM kill.
    Oom,
    /// Stopped.
    Stop,
    /// Restarted.
    Restart,
    /// Health changed.
    Health {
        /// New status.
        status: HealthStatus,
    },
    /// Removed.
    Destroy,
    /// Anything else, by the engine's name.
    Other {
        /// Engine's action name.
        action: String,
    },
}

/// An event about a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Container id.
    pub container_id: String,
    /// What.
    pub kind: RuntimeEventKind,
    /// The container's labels.
    pub labels: BTreeMap<String, String>,
}

/// What answered a ping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EngineInfo {
    /// Backend name (`docker`, `memory`, ...).
    pub backend: String,
    /// Engine version.
    pub version: String,
    /// API version in use.
    pub api_version: String,
    /// Operating system.
    pub os: String,
    /// Architecture.
    pub arch: String,
}

/// A stream of archive bytes (an uncompressed tar).
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// A [`std::io::Write`] for blocking code (a tar builder, a compressor) that sends what is
/// written as chunks of about `chunk` bytes into a bounded channel, so a slow consumer slows
/// the writer down instead of filling memory. A closed channel is a `BrokenPipe` error;
/// [`Write::flush`](std::io::Write::flush) sends what is buffered.
#[derive(Debug)]
pub struct ChunkSender<E> {
    tx: tokio::sync::mpsc::Sender<std::result::Result<Bytes, E>>,
    buf: Vec<u8>,
    chunk: usize,
}

impl<E> ChunkSender<E> {
    /// A writer into `tx` in chunks of `chunk` bytes (at least 4 KiB).
    pub fn new(tx: tokio::sync::mpsc::Sender<std::result::Result<Bytes, E>>, chunk: usize) -> Self {
        let chunk = chunk.max(4096);
        Self {
            tx,
            buf: Vec::with_capacity(chunk),
            chunk,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(self.chunk));
        self.tx
            .blocking_send(Ok(Bytes::from(full)))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}

impl<E> std::io::Write for ChunkSender<E> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= self.chunk {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The actual state of containers, networks and volumes.
///
/// Every method is idempotent where its outcome type says so, and maps engine errors to
/// [`Error`](crate::Error): missing objects → `NotFound`, name clashes → `AlreadyExists` or
/// `Conflict`, unreachable engine → `Unavailable`.
///
/// A "container" is the unit the platform deploys: one container on a single engine, or a
/// replicated workload (e.g. a Swarm service) on a cluster, which then reports aggregate state
/// under one id. A cluster backend may answer `Unsupported` where this contract says so, and
/// nowhere else:
///
/// - `create_container` when it cannot apply the hardened default on its engines;
/// - `stats_once`, `volume_usage`, `read_archive`, `write_archive` when the workload or volume
///   lives on a node whose engine the backend cannot reach;
/// - `pause_container`, `unpause_container` and `exec`, which every backend may leave
///   unsupported (their default).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ContainerRuntime: Send + Sync + std::fmt::Debug + 'static {
    /// Checks the engine answers and says what it is. Errors: `Unavailable`.
    async fn ping(&self) -> Result<EngineInfo>;

    /// What this runtime can do beyond the common contract (default:
    /// [`RuntimeCapabilities::single_host`]).
    fn capabilities(&self) -> RuntimeCapabilities {
        RuntimeCapabilities::single_host()
    }

    /// Where a proxy on the workload's network sends its traffic: host names or IP addresses,
    /// without a port, one entry per upstream. The default is the container's address on its
    /// first network (none while it has no address); a runtime with its own service discovery
    /// returns a name that resolves to the workload's ready instances. Errors: `NotFound`,
    /// `Unavailable`.
    async fn upstream_hosts(&self, id: &str) -> Result<Vec<String>> {
        let info = self
            .inspect_container_opt(id)
            .await?
            .ok_or_else(|| crate::Error::not_found("container", id))?;
        Ok(info.ip_addresses.values().take(1).cloned().collect())
    }

    /// Creates a container (not started). A container with the same name and the same
    /// `caas.deployment` label is `AlreadyExists`; the same name with another deployment is
    /// `Conflict`. Errors: `NotFound` (image or network), `Conflict`, `InvalidInput` (naming
    /// `spec.replicas` when more instances are asked than the runtime runs), `Unsupported`
    /// (the hardened default cannot be applied), `Unavailable`.
    async fn create_container(&self, spec: &ContainerSpec) -> Result<CreateOutcome>;
    /// Starts a container. Errors: `NotFound`, `Unavailable`.
    async fn start_container(&self, id: &str) -> Result<StartOutcome>;
    /// Stops a container, killing it after `timeout`. Errors: `NotFound`, `Unavailable`.
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<StopOutcome>;
    /// Restarts a container. Errors: `NotFound`, `Unavailable`.
    async fn restart_container(&self, id: &str, timeout: Duration) -> Result<()>;
    /// Removes a container (`force` kills a running one). Errors: `Conflict` when running and
    /// not forced, `Unavailable`.
    async fn remove_container(&self, id: &str, force: bool) -> Result<RemoveOutcome>;
    /// Inspects a container by id or name; `None` when it does not exist. Errors: `Unavailable`.
    async fn inspect_container_opt(&self, id: &str) -> Result<Option<ContainerInfo>>;
    /// Lists containers (running or not) matching the selector. Errors: `Unavailable`.
    async fn list_containers(&self, selector: &LabelSelector) -> Result<Vec<ContainerSummary>>;
    /// Changes CPU, memory and pids limits: live, by the runtime's own rolling update, or not at
    /// all (the outcome says which). Errors: `NotFound`, `InvalidInput`, `Unavailable`.
    async fn update_limits(&self, id: &str, limits: &ResourceLimits) -> Result<UpdateOutcome>;
    /// Reads logs. Errors: `NotFound`, `Unavailable`.
    async fn logs(
        &self,
        id: &str,
        options: &LogOptions,
    ) -> Result<BoxStream<'static, Result<LogLine>>>;
    /// One stats reading (summed over the instances of a replicated workload). Errors:
    /// `NotFound`, `Conflict` (not running), `Unsupported` (an instance's node is out of the
    /// backend's reach), `Unavailable`.
    async fn stats_once(&self, id: &str) -> Result<RawStats>;
    /// Events about containers matching the selector, from now on. Errors: `Unavailable`.
    async fn events(
        &self,
        selector: &LabelSelector,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent>>>;

    /// Creates a network (same name and labels → `AlreadyExists`). Errors: `Conflict`, `Unavailable`.
    async fn create_network(&self, spec: &NetworkSpec) -> Result<CreateOutcome>;
    /// Removes a network. Errors: `Conflict` (containers attached), `Unavailable`.
    async fn remove_network(&self, name: &str) -> Result<RemoveOutcome>;
    /// Inspects a network; `None` when missing. Errors: `Unavailable`.
    async fn inspect_network_opt(&self, name: &str) -> Result<Option<NetworkInfo>>;
    /// Lists networks matching the selector. Errors: `Unavailable`.
    async fn list_networks(&self, selector: &LabelSelector) -> Result<Vec<NetworkInfo>>;

    /// Creates a volume (same name → `AlreadyExists`). Errors: `Unavailable`.
    async fn create_volume(&self, spec: &VolumeSpec) -> Result<CreateOutcome>;
    /// Removes a volume. Errors: `Conflict` (in use), `Unavailable`.
    async fn remove_volume(&self, name: &str) -> Result<RemoveOutcome>;
    /// Inspects a volume; `None` when missing. Errors: `Unavailable`.
    async fn inspect_volume_opt(&self, name: &str) -> Result<Option<VolumeInfo>>;
    /// Lists volumes matching the selector. Errors: `Unavailable`.
    async fn list_volumes(&self, selector: &LabelSelector) -> Result<Vec<VolumeInfo>>;
    /// Bytes used by a volume, when the engine can tell. Errors: `NotFound`, `Unsupported`
    /// (the volume's node is out of reach), `Unavailable`.
    async fn volume_usage(&self, name: &str) -> Result<Option<u64>>;
    /// Reads `path` (relative to the volume root, `/` for all) out of a volume as an
    /// uncompressed tar. Errors: `NotFound`, `Unsupported` (the volume's node is out of reach),
    /// `Unavailable`.
    async fn read_archive(&self, volume: &str, path: &str) -> Result<ByteStream>;
    /// Extracts an uncompressed tar into `path` of a volume. The caller validates entries
    /// first. Errors: `NotFound`, `InvalidInput` (not a tar), `Unsupported` (the volume's node
    /// is out of reach), `Unavailable`.
    async fn write_archive(&self, volume: &str, path: &str, tar: ByteStream) -> Result<()>;

    /// Freezes the processes of a running container: they keep their memory and connections
    /// and write nothing until [`unpause_container`](Self::unpause_container). Pausing a paused
    /// container succeeds. Errors: `NotFound`, `Conflict` (not running), `Unsupported` (the
    /// default: this runtime cannot pause), `Unavailable`.
    async fn pause_container(&self, id: &str) -> Result<()> {
        Err(crate::Error::unsupported(format!(
            "pausing containers ('{id}'): this runtime cannot pause; stop the container instead"
        )))
    }
    /// Thaws a paused container; one that is not paused is left as it is. Errors: `NotFound`,
    /// `Unsupported` (the default), `Unavailable`.
    async fn unpause_container(&self, id: &str) -> Result<()> {
        Err(crate::Error::unsupported(format!(
            "pausing containers ('{id}'): this runtime cannot pause"
        )))
    }
    /// Runs `command` (program and arguments, no shell unless the command names one) in a
    /// running container, as the container's user and with its environment. `stdin`, when
    /// given, is written to the command's standard input, which is then closed; without it
    /// the command gets no input. Returns what the command writes to its standard output, as
    /// it comes; when the command exits with a status other than 0, the stream's last item is
    /// a `Backend` error naming the status and the end of the command's standard error (which
    /// is otherwise discarded). A `stdin` stream that fails closes the input there (the command
    /// sees its input end early) and the output stream ends with that error. Dropping the
    /// output stream before its end abandons the command: its input is closed and its output
    /// discarded (the engine may let it run until it notices).
    ///
    /// Errors: `NotFound`, `Conflict` (not running), `InvalidInput` (naming `command` when it is
    /// empty), `Unsupported` (the default: this runtime cannot run commands in containers),
    /// `Unavailable`.
    async fn exec(
        &self,
        id: &str,
        command: &[String],
        stdin: Option<ByteStream>,
    ) -> Result<ByteStream> {
        let _ = (command, stdin);
        Err(crate::Error::unsupported(format!(
            "running commands in containers ('{id}'): this runtime cannot"
        )))
    }

    /// Whether an image is present locally. Errors: `Unavailable`.
    async fn image_present(&self, image: &str) -> Result<bool>;
    /// Pulls an image. Errors: `NotFound` naming the image, `Unavailable`.
    async fn pull_image(&self, image: &str) -> Result<()>;
}

/// What a connection test found out about an engine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EngineDetails {
    /// Engine version.
    pub version: String,
    /// API version negotiated.
    pub api_version: String,
    /// Oldest API version the engine accepts.
    pub min_api_version: String,
    /// Operating system of the host.
    pub os: String,
    /// Architecture.
    pub arch: String,
    /// Kernel version.
    pub kernel_version: String,
    /// cgroup version (`1` or `2`).
    pub cgroup_version: String,
    /// cgroup driver (`cgroupfs`, `systemd`).
    pub cgroup_driver: String,
    /// Storage driver (`overlay2`, ...).
    pub storage_driver: String,
    /// Whether containers survive a daemon restart.
    pub live_restore: bool,
    /// CPUs of the host.
    pub cpus: u64,
    /// Memory of the host, bytes.
    pub memory_bytes: u64,
    /// Containers (all states).
    pub containers: u64,
    /// Running containers.
    pub containers_running: u64,
    /// Images.
    pub images: u64,
}

/// The result of testing a connection to an engine: never an error, always an answer an
/// administrator can act on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionReport {
    /// What was tried (`unix:///var/run/docker.sock`).
    pub target: String,
    /// Whether the engine answered.
    pub reachable: bool,
    /// Round trip of a ping, milliseconds.
    pub round_trip_ms: Option<u64>,
    /// What the engine reported.
    pub engine: Option<EngineDetails>,
    /// The raw error, when unreachable.
    pub error: Option<String>,
    /// What to do about it.
    pub advice: Option<String>,
}
