//! [`DockerRuntime`]: the [`ContainerRuntime`] port on a Docker engine.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::container::{
    Config, CreateContainerOptions, DownloadFromContainerOptions, ListContainersOptions, LogOutput,
    LogsOptions, NetworkingConfig, RemoveContainerOptions, RestartContainerOptions, StatsOptions,
    StopContainerOptions, UpdateContainerOptions, UploadToContainerOptions,
};
use bollard::image::CreateImageOptions;
use bollard::models::{
    ContainerStateStatusEnum, EndpointSettings, HealthConfig, HealthStatusEnum, HostConfig,
    HostConfigLogConfig, MountTypeEnum, RestartPolicyNameEnum,
};
use bollard::network::{ConnectNetworkOptions, CreateNetworkOptions, ListNetworksOptions};
use bollard::system::EventsOptions;
use bollard::volume::{CreateVolumeOptions, ListVolumesOptions, RemoveVolumeOptions};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};

use caas_core::model::{HealthProbe, ResourceLimits, RestartPolicy};
use caas_core::ports::runtime::{
    ALLOWED_CAPABILITIES, AppliedSecurity, ByteStream, ContainerInfo, ContainerSpec,
    ContainerStatus, ContainerSummary, CreateOutcome, EngineInfo, HealthStatus, LabelSelector,
    LogLine, LogOptions, LogStream, Mount, NetworkInfo, NetworkSpec, RawStats, RemoveOutcome,
    RuntimeEvent, RuntimeEventKind, StartOutcome, StopOutcome, UpdateOutcome, VolumeInfo,
    VolumeSpec,
};
use caas_core::units::millis_to_nano_cpus;
use caas_core::{ContainerRuntime, Error, Result, labels};

use crate::connection::{DEFAULT_TIMEOUT_SECS, DockerConnection, MIN_API_VERSION};
use crate::error::{SERVICE, is_status, map_err};
use crate::host_guard::{Firewall, HostGuard};

/// Builds a [`DockerRuntime`].
#[derive(Debug, Clone)]
pub struct DockerRuntimeBuilder {
    connection: DockerConnection,
    timeout_secs: u64,
    helper_image: String,
    host_access: bool,
    host_guard: HostGuard,
    iptables: Option<std::path::PathBuf>,
}

impl Default for DockerRuntimeBuilder {
    fn default() -> Self {
        Self {
            connection: DockerConnection::default(),
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            helper_image: "busybox:stable".to_string(),
            host_access: true,
            host_guard: HostGuard::default(),
            iptables: None,
        }
    }
}

impl DockerRuntimeBuilder {
    /// Where the engine is (default: `/var/run/docker.sock`).
    pub fn connection(mut self, connection: DockerConnection) -> Self {
        self.connection = connection;
        self
    }
    /// Request timeout in seconds (default 120).
    pub fn timeout_secs(mut self, secs: u64) -> Self {
        self.timeout_secs = secs;
        self
    }
    /// The image of the short-lived helper containers used to copy archives in and out of
    /// volumes. It is never started, so any small image works; it must be present or pullable.
    pub fn helper_image(mut self, image: impl Into<String>) -> Self {
        self.helper_image = image.into();
        self
    }
    /// Whether whole-volume archives (backups) and one-shot statistics may be read straight
    /// from the host's files (default: yes), which is several times faster than through the
    /// engine's API. Used only when the engine is reached over a Unix socket and this process
    /// can read what the engine reports (typically: it runs as root on the engine's host, in
    /// its cgroup namespace): a volume with the `local` driver and no options is read from its
    /// directory, a running container's statistics from its cgroup and `/proc` files;
    /// otherwise, or when this is off, both go through the engine's API. The volume walk
    /// never follows a link out of the volume; see the crate docs.
    pub fn host_access(mut self, enabled: bool) -> Self {
        self.host_access = enabled;
        self
    }
    /// Whether containers on the networks this runtime creates may open TCP connections to
    /// the engine's host (default [`HostGuard::Auto`]: refused whenever this process can
    /// install the firewall rules; see the crate docs, "Host guard").
    pub fn host_guard(mut self, guard: HostGuard) -> Self {
        self.host_guard = guard;
        self
    }
    /// The `iptables` command the host guard runs (default: `/usr/sbin/iptables`,
    /// `/sbin/iptables`, else `iptables` from `PATH`). It must drive the same backend as the
    /// engine (nf_tables or legacy), as Debian's alternatives arrange.
    pub fn iptables(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.iptables = Some(path.into());
        self
    }

    /// Prepares a client without contacting the engine, speaking API 1.41 (Docker 20.10, the
    /// oldest engine supported): for servers that must start while the engine is down and
    /// report it as unavailable until it answers. Errors: `InvalidInput` (configuration).
    pub fn build_lazy(self) -> Result<DockerRuntime> {
        self.connection.validate()?;
        // A missing socket makes the client constructor fail: connect on first use instead.
        let docker = self
            .connection
            .client_with_version(self.timeout_secs, &MIN_API_VERSION)
            .ok();
        Ok(self.assemble(docker))
    }

    /// Connects and negotiates the API version (works with engines down to API 1.41).
    /// Errors: `InvalidInput` (configuration), `Unavailable` (engine not answering).
    pub async fn build(self) -> Result<DockerRuntime> {
        let docker = self
            .connection
            .client(self.timeout_secs)?
            .negotiate_version()
            .await
            .map_err(map_err)?;
        Ok(self.assemble(Some(docker)))
    }

    fn assemble(self, docker: Option<Docker>) -> DockerRuntime {
        let host_access = self.host_access && self.connection.is_local();
        DockerRuntime {
            client: Arc::new(RwLock::new(docker)),
            host_stats: host_access
                .then(crate::host_stats::HostStats::detect)
                .flatten()
                .map(Arc::new),
            host_access,
            connection: self.connection,
            helper_image: self.helper_image,
            timeout_secs: self.timeout_secs,
            network_creation: Arc::default(),
            firewall: Arc::new(Firewall::new(self.host_guard, self.iptables)),
        }
    }
}

/// The [`ContainerRuntime`] on one Docker engine, through bollard.
///
/// Every container it creates gets the hardened default (see
/// [`ALLOWED_CAPABILITIES`]): not privileged, `CapDrop: ALL` plus the allowlist,
/// `no-new-privileges`, memory (without extra swap), CPU and pids limits, a private IPC
/// namespace, no host namespaces, only named-volume mounts, and bounded json-file logs.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    // None until the engine's address can be opened (e.g. a socket that does not exist yet).
    client: Arc<RwLock<Option<Docker>>>,
    connection: DockerConnection,
    helper_image: String,
    timeout_secs: u64,
    host_access: bool,
    host_stats: Option<Arc<crate::host_stats::HostStats>>,
    // The engine's duplicate-name check is not atomic: concurrent creates of one name all
    // succeed. Creations of one name through this runtime take turns; see `create_network`.
    network_creation: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    firewall: Arc<Firewall>,
}

impl DockerRuntime {
    /// Starts building a runtime.
    pub fn builder() -> DockerRuntimeBuilder {
        DockerRuntimeBuilder::default()
    }

    /// The connection in use.
    pub fn connection(&self) -> &DockerConnection {
        &self.connection
    }

    /// The bollard client, for what the port does not cover. Errors: `Unavailable` while the
    /// engine's address cannot be opened.
    pub fn client(&self) -> Result<Docker> {
        if let Some(d) = self
            .client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            return Ok(d.clone());
        }
        let docker = self
            .connection
            .client_with_version(self.timeout_secs, &MIN_API_VERSION)?;
        *self.client.write().unwrap_or_else(|p| p.into_inner()) = Some(docker.clone());
        Ok(docker)
    }

    fn label_filters(selector: &LabelSelector) -> HashMap<String, Vec<String>> {
        let labels = selector
            .0
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect();
        HashMap::from([("label".to_string(), labels)])
    }

    async fn helper_container(&self, volume: &str) -> Result<String> {
        let Some(info) = self.inspect_volume_opt(volume).await? else {
            return Err(Error::not_found("volume", volume));
        };
        // The helper carries the volume's labels, so whatever cleans up the volume's owner
        // (the reconciler, a test run) finds the helper too.
        let mut helper_labels: HashMap<String, String> = info.labels.into_iter().collect();
        helper_labels.insert(labels::MANAGED.to_string(), "true".to_string());
        helper_labels.insert(labels::KIND.to_string(), "archive-helper".to_string());
        if !self.image_present(&self.helper_image).await? {
            self.pull_image(&self.helper_image).await?;
        }
        let config = Config {
            image: Some(self.helper_image.clone()),
            cmd: Some(vec!["true".to_string()]),
            network_disabled: Some(true),
            labels: Some(helper_labels),
            host_config: Some(HostConfig {
                mounts: Some(vec![bollard::models::Mount {
                    target: Some("/v".into()),
                    source: Some(volume.to_string()),
                    typ: Some(MountTypeEnum::VOLUME),
                    ..Default::default()
                }]),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges:true".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .client()?
            .create_container(None::<CreateContainerOptions<String>>, config)
            .await
            .map_err(map_err)?;
        Ok(created.id)
    }

    /// The volume's directory opened for reading from the host, when that is allowed and
    /// possible (see [`DockerRuntimeBuilder::host_volume_access`]). Errors: `NotFound`.
    async fn host_volume_dir(&self, volume: &str) -> Result<Option<std::os::fd::OwnedFd>> {
        if !self.host_access {
            return Ok(None);
        }
        let v = match self.client()?.inspect_volume(volume).await {
            Ok(v) => v,
            Err(e) if is_status(&e, 404) => return Err(Error::not_found("volume", volume)),
            Err(e) => return Err(map_err(e)),
        };
        if v.driver != "local" || v.options.values().any(|o| !o.is_empty()) {
            return Ok(None);
        }
        let dir = std::path::PathBuf::from(&v.mountpoint);
        Ok(
            tokio::task::spawn_blocking(move || crate::host_archive::open_root(&dir))
                .await
                .ok()
                .flatten(),
        )
    }

    fn remove_later(&self, id: String) {
        let Ok(docker) = self.client() else {
            return;
        };
        tokio::spawn(async move {
            let _ = docker
                .remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await;
        });
    }
}

fn volume_path(path: &str) -> String {
    let p = path.trim_matches('/');
    if p.is_empty() {
        "/v/.".to_string()
    } else {
        format!("/v/{p}")
    }
}

/// An engine error about container `id`: 404 → `NotFound` naming it, 409 → `Conflict`.
fn container_err(e: bollard::errors::Error, id: &str) -> Error {
    if is_status(&e, 404) {
        Error::not_found("container", id)
    } else {
        map_err(e)
    }
}

fn network_info(n: bollard::models::Network) -> NetworkInfo {
    NetworkInfo {
        id: n.id.unwrap_or_default(),
        name: n.name.unwrap_or_default(),
        labels: n.labels.unwrap_or_default().into_iter().collect(),
    }
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s?).ok()?.with_timezone(&Utc);
    // The engine reports "0001-01-01T00:00:00Z" for "never".
    (t.timestamp() > 0).then_some(t)
}

fn status_of(s: Option<&ContainerStateStatusEnum>) -> ContainerStatus {
    match s {
        Some(ContainerStateStatusEnum::RUNNING) => ContainerStatus::Running,
        Some(ContainerStateStatusEnum::PAUSED) => ContainerStatus::Paused,
        Some(ContainerStateStatusEnum::RESTARTING) => ContainerStatus::Restarting,
        Some(ContainerStateStatusEnum::EXITED) => ContainerStatus::Exited,
        Some(ContainerStateStatusEnum::REMOVING) => ContainerStatus::Removing,
        Some(ContainerStateStatusEnum::DEAD) => ContainerStatus::Dead,
        _ => ContainerStatus::Created,
    }
}

fn status_of_str(s: &str) -> ContainerStatus {
    match s {
        "running" => ContainerStatus::Running,
        "paused" => ContainerStatus::Paused,
        "restarting" => ContainerStatus::Restarting,
        "exited" => ContainerStatus::Exited,
        "removing" => ContainerStatus::Removing,
        "dead" => ContainerStatus::Dead,
        _ => ContainerStatus::Created,
    }
}

fn health_of(s: &str) -> Option<HealthStatus> {
    match s {
        "starting" => Some(HealthStatus::Starting),
        "healthy" => Some(HealthStatus::Healthy),
        "unhealthy" => Some(HealthStatus::Unhealthy),
        _ => None,
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn healthcheck(spec: &ContainerSpec) -> Option<HealthConfig> {
    let h = spec.health_check.as_ref()?;
    // HTTP and TCP probes run inside the container with busybox-style tools; images without
    // `wget`/`nc` should use a command probe.
    let test = match &h.probe {
        HealthProbe::Command { command } => {
            let mut t = vec!["CMD".to_string()];
            t.extend(command.iter().cloned());
            t
        }
        HealthProbe::Http { port, path } => vec![
            "CMD-SHELL".to_string(),
            format!("wget -q -O /dev/null http://127.0.0.1:{port}{path} || exit 1"),
        ],
        HealthProbe::Tcp { port } => vec![
            "CMD-SHELL".to_string(),
            format!("nc -z 127.0.0.1 {port} || exit 1"),
        ],
    };
    Some(HealthConfig {
        test: Some(test),
        interval: Some(nanos(h.interval)),
        timeout: Some(nanos(h.timeout)),
        retries: Some(i64::from(h.retries)),
        start_period: Some(nanos(h.start_period)),
        ..Default::default()
    })
}

fn restart_policy(p: RestartPolicy) -> bollard::models::RestartPolicy {
    let (name, max) = match p {
        RestartPolicy::No => (RestartPolicyNameEnum::NO, None),
        RestartPolicy::OnFailure { max_retries } => (
            RestartPolicyNameEnum::ON_FAILURE,
            Some(i64::from(max_retries)),
        ),
        RestartPolicy::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
        RestartPolicy::Always => (RestartPolicyNameEnum::ALWAYS, None),
    };
    bollard::models::RestartPolicy {
        name: Some(name),
        maximum_retry_count: max,
    }
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The hardened host configuration of a managed container.
fn host_config(spec: &ContainerSpec) -> HostConfig {
    let cap_add: Vec<String> = spec
        .security
        .cap_add
        .iter()
        .map(|c| c.trim_start_matches("CAP_").to_ascii_uppercase())
        .filter(|c| ALLOWED_CAPABILITIES.contains(&c.as_str()))
        .collect();
    HostConfig {
        privileged: Some(false),
        cap_drop: Some(vec!["ALL".into()]),
        cap_add: Some(cap_add),
        security_opt: Some(vec!["no-new-privileges:true".into()]),
        readonly_rootfs: Some(spec.security.read_only_rootfs),
        memory: Some(i64_of(spec.limits.memory_bytes)),
        memory_swap: Some(i64_of(spec.limits.memory_bytes)),
        nano_cpus: Some(millis_to_nano_cpus(spec.limits.cpu_millis)),
        pids_limit: Some(i64_of(spec.limits.pids)),
        ipc_mode: Some("private".into()),
        network_mode: Some(
            spec.networks
                .first()
                .map_or_else(|| "bridge".to_string(), |n| n.network.clone()),
        ),
        mounts: Some(
            spec.mounts
                .iter()
                .map(|m| bollard::models::Mount {
                    target: Some(m.target.clone()),
                    source: Some(m.volume.clone()),
                    typ: Some(MountTypeEnum::VOLUME),
                    read_only: Some(m.read_only),
                    ..Default::default()
                })
                .collect(),
        ),
        restart_policy: Some(restart_policy(spec.restart_policy)),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".to_string(), "10m".to_string()),
                ("max-file".to_string(), "3".to_string()),
            ])),
        }),
        init: Some(false),
        ..Default::default()
    }
}

fn event_kind(action: &str, attrs: &HashMap<String, String>) -> RuntimeEventKind {
    match action {
        "create" => RuntimeEventKind::Create,
        "start" => RuntimeEventKind::Start,
        "die" => RuntimeEventKind::Die {
            exit_code: attrs
                .get("exitCode")
                .and_then(|c| c.parse().ok())
                .unwrap_or(-1),
        },
        "oom" => RuntimeEventKind::Oom,
        "stop" => RuntimeEventKind::Stop,
        "restart" => RuntimeEventKind::Restart,
        "destroy" => RuntimeEventKind::Destroy,
        a if a.starts_with("health_status") => {
            match health_of(a.rsplit(':').next().unwrap_or("").trim()) {
                Some(status) => RuntimeEventKind::Health { status },
                None => RuntimeEventKind::Other {
                    action: a.to_string(),
                },
            }
        }
        other => RuntimeEventKind::Other {
            action: other.to_string(),
        },
    }
}

impl DockerRuntime {
    /// Every network named exactly `name` (the engine's name filter matches substrings),
    /// oldest first, ties broken by id.
    async fn networks_named(&self, name: &str) -> Result<Vec<NetworkInfo>> {
        let mut same: Vec<_> = self
            .engine_networks_named(name)
            .await?
            .into_iter()
            .map(|n| (n.created.unwrap_or_default(), network_info(n)))
            .collect();
        same.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        Ok(same.into_iter().map(|(_, n)| n).collect())
    }

    /// Every network named exactly `name`, as the engine lists them (driver and options
    /// included).
    async fn engine_networks_named(&self, name: &str) -> Result<Vec<bollard::models::Network>> {
        Ok(self
            .client()?
            .list_networks(Some(ListNetworksOptions {
                filters: HashMap::from([("name", vec![name])]),
            }))
            .await
            .map_err(map_err)?
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name))
            .filter(|n| n.id.is_some())
            .collect())
    }

    async fn create_network_unguarded(&self, spec: &NetworkSpec) -> Result<CreateOutcome> {
        // One turn per name: settling a creation takes a while, other names need not wait.
        let turn = self
            .network_creation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(spec.name.clone())
            .or_default()
            .clone();
        let _turn = turn.lock().await;
        if let Some(existing) = self.inspect_network_opt(&spec.name).await? {
            return if existing.labels == spec.labels {
                Ok(CreateOutcome::AlreadyExists(existing.id))
            } else {
                Err(Error::conflict(format!(
                    "a network named '{}' already exists with other labels",
                    spec.name
                )))
            };
        }
        let started = std::time::Instant::now();
        let r = self
            .client()?
            .create_network(CreateNetworkOptions {
                name: spec.name.clone(),
                check_duplicate: true,
                driver: "bridge".into(),
                internal: spec.internal,
                labels: spec.labels.clone().into_iter().collect(),
                ..Default::default()
            })
            .await;
        match r {
            Ok(n) => {
                self.settle_network_duplicates(&spec.name, n.id, started.elapsed())
                    .await
            }
            Err(e) if is_status(&e, 409) => match self.inspect_network_opt(&spec.name).await? {
                Some(n) if n.labels == spec.labels => Ok(CreateOutcome::AlreadyExists(n.id)),
                _ => Err(Error::conflict(format!(
                    "network '{}' already exists",
                    spec.name
                ))),
            },
            Err(e) => Err(map_err(e)),
        }
    }

    async fn remove_network_unguarded(&self, name: &str) -> Result<RemoveOutcome> {
        let attached =
            || Error::conflict(format!("network '{name}' still has containers attached"));
        match self.client()?.remove_network(name).await {
            Ok(()) => Ok(RemoveOutcome::Removed),
            Err(e) if is_status(&e, 404) => Ok(RemoveOutcome::NotFound),
            Err(e) if is_status(&e, 403) || is_status(&e, 409) => Err(attached()),
            // Concurrent creators left several networks of the name: remove them all.
            Err(e) if is_status(&e, 400) => {
                let same = self.networks_named(name).await?;
                if same.is_empty() {
                    return Err(map_err(e));
                }
                for n in same {
                    match self.client()?.remove_network(&n.id).await {
                        Ok(()) => {}
                        Err(e) if is_status(&e, 404) => {}
                        Err(e) if is_status(&e, 403) || is_status(&e, 409) => {
                            return Err(attached());
                        }
                        Err(e) => return Err(map_err(e)),
                    }
                }
                Ok(RemoveOutcome::Removed)
            }
            Err(e) => Err(map_err(e)),
        }
    }

    /// Installs the host guard's rule for the network `id` (see [`HostGuard`]).
    async fn guard_network(&self, id: &str) -> Result<()> {
        if !self.firewall.enabled() {
            return Ok(());
        }
        let network = self
            .client()?
            .inspect_network::<String>(id, None)
            .await
            .map_err(map_err)?;
        self.firewall.guard(&network).await
    }

    /// Installs the host guard's rules for every managed network of the engine (idempotent;
    /// rules of networks that no longer exist are swept), and returns how many bridge
    /// networks it covered. Networks get their rule when this runtime creates them; call this
    /// at start-up to cover networks created before the guard existed, or after a firewall
    /// reload flushed the rules. Errors: `Unsupported` (with [`HostGuard::Required`], when the
    /// rules cannot be installed), `Unavailable`.
    pub async fn guard_host(&self) -> Result<usize> {
        if !self.firewall.enabled() {
            return Ok(0);
        }
        let managed = self
            .client()?
            .list_networks(Some(ListNetworksOptions {
                filters: Self::label_filters(&LabelSelector::managed()),
            }))
            .await
            .map_err(map_err)?;
        let mut covered = 0;
        for n in managed {
            if crate::host_guard::bridge_name(&n).is_some() {
                self.firewall.guard(&n).await?;
                covered += 1;
            }
        }
        Ok(covered)
    }

    /// When several clients (other processes, other runtimes) create one network name at the
    /// same time, the engine lets them all through. Every creator then keeps the same one, the
    /// oldest (ties broken by id), and removes its own if it is not that one.
    ///
    /// The engine stamps a network's creation time when it starts creating it but lists it
    /// only once the driver is done, and concurrent creations queue behind each other in the
    /// driver, so an older network may still be on its way when this creator first looks. It
    /// keeps looking until the networks of the name have stayed the same for twice as long as
    /// its own creation took (`took`, how long a creation takes under the current load), at
    /// most [`NETWORK_SETTLE_LIMIT`], and answers with the oldest it sees then.
    async fn settle_network_duplicates(
        &self,
        name: &str,
        ours: String,
        took: Duration,
    ) -> Result<CreateOutcome> {
        let quiet = (took * 2).clamp(Duration::from_millis(100), Duration::from_secs(2));
        let started = std::time::Instant::now();
        let mut kept = true;
        let mut last: Option<Vec<String>> = None;
        let mut unchanged_since = started;
        loop {
            let same: Vec<String> = self
                .networks_named(name)
                .await?
                .into_iter()
                .map(|n| n.id)
                .collect();
            if kept && let Some(keep) = same.first().filter(|keep| **keep != ours) {
                tracing::info!(
                    network = name,
                    "another client created this network too; keeping theirs"
                );
                match self.client()?.remove_network(&ours).await {
                    Ok(()) => {}
                    Err(e) if is_status(&e, 404) => {}
                    // A client that found ours meanwhile attached a container to it: ours
                    // stays (removing the name removes both later), the caller gets the one
                    // every other creator keeps.
                    Err(e) => {
                        tracing::warn!(
                            network = name,
                            error = %map_err(e),
                            "could not remove this client's duplicate of the network"
                        );
                        return Ok(CreateOutcome::AlreadyExists(keep.clone()));
                    }
                }
                kept = false;
                continue;
            }
            let now = std::time::Instant::now();
            if last.as_ref() != Some(&same) {
                unchanged_since = now;
            }
            if now - unchanged_since >= quiet || now - started >= NETWORK_SETTLE_LIMIT {
                return match same.into_iter().next() {
                    _ if kept => Ok(CreateOutcome::Created(ours)),
                    Some(keep) => Ok(CreateOutcome::AlreadyExists(keep)),
                    // Ours gave way to a network that has gone since (someone removed it).
                    None => Err(Error::conflict(format!(
                        "network '{name}' was removed while it was being created; create it \
                         again"
                    ))),
                };
            }
            last = Some(same);
            tokio::time::sleep(quiet / 4).await;
        }
    }
}

/// The longest [`DockerRuntime::create_network`] waits for concurrent creations of the same
/// name to show before it answers.
const NETWORK_SETTLE_LIMIT: Duration = Duration::from_secs(10);

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn ping(&self) -> Result<EngineInfo> {
        let v = self.client()?.version().await.map_err(map_err)?;
        Ok(EngineInfo {
            backend: "docker".into(),
            version: v.version.unwrap_or_default(),
            api_version: self.client()?.client_version().to_string(),
            os: v.os.unwrap_or_default(),
            arch: v.arch.unwrap_or_default(),
        })
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<CreateOutcome> {
        if spec.replicas > 1 {
            return Err(Error::invalid(
                "spec.replicas",
                format!(
                    "{} replicas asked, but a single Docker engine runs one container per \
                     service; set replicas to 1, or use a clustered runtime (caas-swarm's \
                     SwarmRuntime on Docker Swarm)",
                    spec.replicas
                ),
            ));
        }
        // The engine only notices a missing network at start; refuse at create like the port
        // says. The container joins the networks by id: while concurrent creators of a name
        // settle on one network, the engine refuses the name as ambiguous.
        let mut network_ids = Vec::with_capacity(spec.networks.len());
        for n in &spec.networks {
            match self.inspect_network_opt(&n.network).await? {
                Some(found) => network_ids.push(found.id),
                None => return Err(Error::not_found("network", &n.network)),
            }
        }
        let mut host = host_config(spec);
        let mut endpoints = HashMap::new();
        if let (Some(first), Some(id)) = (spec.networks.first(), network_ids.first()) {
            host.network_mode = Some(id.clone());
            endpoints.insert(
                id.clone(),
                EndpointSettings {
                    aliases: Some(first.aliases.clone()),
                    ..Default::default()
                },
            );
        }
        let config = Config {
            image: Some(spec.image.clone()),
            cmd: spec.command.clone(),
            entrypoint: spec.entrypoint.clone(),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            exposed_ports: Some(
                spec.exposed_ports
                    .iter()
                    .map(|p| {
                        let proto = match p.protocol {
                            caas_core::model::Protocol::Tcp => "tcp",
                            caas_core::model::Protocol::Udp => "udp",
                        };
                        (format!("{}/{proto}", p.container_port), HashMap::new())
                    })
                    .collect(),
            ),
            healthcheck: healthcheck(spec),
            stop_timeout: Some(i64::try_from(spec.stop_timeout.as_secs()).unwrap_or(10)),
            user: spec.security.user.clone(),
            host_config: Some(host),
            networking_config: Some(NetworkingConfig {
                endpoints_config: endpoints,
            }),
            ..Default::default()
        };
        let created = self
            .client()?
            .create_container(
                Some(CreateContainerOptions {
                    name: spec.name.clone(),
                    platform: None,
                }),
                config,
            )
            .await;
        let id = match created {
            Ok(r) => r.id,
            Err(e) if is_status(&e, 409) => {
                // Same name: ours (same deployment) is an idempotent success, anything else a clash.
                let existing = self.inspect_container_opt(&spec.name).await?;
                return match existing {
                    Some(c)
                        if spec.labels.contains_key(labels::DEPLOYMENT)
                            && c.labels.get(labels::DEPLOYMENT)
                                == spec.labels.get(labels::DEPLOYMENT) =>
                    {
                        Ok(CreateOutcome::AlreadyExists(c.id))
                    }
                    _ => Err(Error::conflict(format!(
                        "a container named '{}' already exists",
                        spec.name
                    ))),
                };
            }
            Err(e) if is_status(&e, 404) => {
                return Err(Error::not_found(
                    "image or network",
                    format!("{}: {e}", spec.image),
                ));
            }
            Err(e) => return Err(map_err(e)),
        };
        for (extra, network) in spec.networks.iter().zip(&network_ids).skip(1) {
            let connected = self
                .client()?
                .connect_network(
                    network,
                    ConnectNetworkOptions {
                        container: id.clone(),
                        endpoint_config: EndpointSettings {
                            aliases: Some(extra.aliases.clone()),
                            ..Default::default()
                        },
                    },
                )
                .await;
            if let Err(e) = connected {
                let _ = self.remove_container(&id, true).await;
                return Err(map_err(e));
            }
        }
        Ok(CreateOutcome::Created(id))
    }

    async fn start_container(&self, id: &str) -> Result<StartOutcome> {
        // The engine answers 304 for "already started", which bollard reports as success:
        // look first so the outcome is truthful.
        match self.inspect_container_opt(id).await? {
            None => return Err(Error::not_found("container", id)),
            Some(c) if c.status == ContainerStatus::Running => {
                return Ok(StartOutcome::AlreadyRunning);
            }
            Some(_) => {}
        }
        match self.client()?.start_container::<String>(id, None).await {
            Ok(()) => Ok(StartOutcome::Started),
            Err(e) if is_status(&e, 304) => Ok(StartOutcome::AlreadyRunning),
            Err(e) if is_status(&e, 404) => Err(Error::not_found("container", id)),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn pause_container(&self, id: &str) -> Result<()> {
        match self.inspect_container_opt(id).await? {
            None => return Err(Error::not_found("container", id)),
            Some(c) if c.status == ContainerStatus::Paused => return Ok(()),
            Some(c) if c.status != ContainerStatus::Running => {
                return Err(Error::conflict(format!(
                    "container '{id}' is not running ({:?}): only a running container can be \
                     paused",
                    c.status
                )));
            }
            Some(_) => {}
        }
        self.client()?
            .pause_container(id)
            .await
            .map_err(|e| container_err(e, id))
    }

    async fn unpause_container(&self, id: &str) -> Result<()> {
        match self.inspect_container_opt(id).await? {
            None => Err(Error::not_found("container", id)),
            Some(c) if c.status != ContainerStatus::Paused => Ok(()),
            Some(_) => self
                .client()?
                .unpause_container(id)
                .await
                .map_err(|e| container_err(e, id)),
        }
    }

    async fn exec(
        &self,
        id: &str,
        command: &[String],
        stdin: Option<ByteStream>,
    ) -> Result<ByteStream> {
        crate::exec::run(self.client()?, id, command, stdin).await
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<StopOutcome> {
        let t = i64::try_from(timeout.as_secs()).unwrap_or(10);
        match self.inspect_container_opt(id).await? {
            None => return Err(Error::not_found("container", id)),
            Some(c)
                if !matches!(
                    c.status,
                    ContainerStatus::Running
                        | ContainerStatus::Paused
                        | ContainerStatus::Restarting
                ) =>
            {
                return Ok(StopOutcome::AlreadyStopped);
            }
            Some(_) => {}
        }
        match self
            .client()?
            .stop_container(id, Some(StopContainerOptions { t }))
            .await
        {
            Ok(()) => Ok(StopOutcome::Stopped),
            Err(e) if is_status(&e, 304) => Ok(StopOutcome::AlreadyStopped),
            Err(e) if is_status(&e, 404) => Err(Error::not_found("container", id)),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn restart_container(&self, id: &str, timeout: Duration) -> Result<()> {
        let t = isize::try_from(timeout.as_secs()).unwrap_or(10);
        match self
            .client()?
            .restart_container(id, Some(RestartContainerOptions { t }))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_status(&e, 404) => Err(Error::not_found("container", id)),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn remove_container(&self, id: &str, force: bool) -> Result<RemoveOutcome> {
        match self
            .client()?
            .remove_container(
                id,
                Some(RemoveContainerOptions {
                    force,
                    v: false,
                    link: false,
                }),
            )
            .await
        {
            Ok(()) => Ok(RemoveOutcome::Removed),
            Err(e) if is_status(&e, 404) => Ok(RemoveOutcome::NotFound),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("already in progress") =>
            {
                // Someone else is removing it: wait until it is gone, then report success.
                for _ in 0..50 {
                    if self.inspect_container_opt(id).await?.is_none() {
                        return Ok(RemoveOutcome::Removed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(Error::conflict(format!(
                    "container '{id}' is still being removed"
                )))
            }
            Err(e) if is_status(&e, 409) => Err(Error::conflict(format!(
                "container '{id}' is running (or being removed); stop it first or remove with force"
            ))),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn inspect_container_opt(&self, id: &str) -> Result<Option<ContainerInfo>> {
        let c = match self.client()?.inspect_container(id, None).await {
            Ok(c) => c,
            Err(e) if is_status(&e, 404) => return Ok(None),
            Err(e) => return Err(map_err(e)),
        };
        let state = c.state.unwrap_or_default();
        let config = c.config.unwrap_or_default();
        let host = c.host_config.unwrap_or_default();
        let ips = c
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(name, ep)| {
                ep.ip_address
                    .filter(|ip| !ip.is_empty())
                    .map(|ip| (name, ip))
            })
            .collect();
        let mounts = c
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter(|m| matches!(m.typ, Some(bollard::models::MountPointTypeEnum::VOLUME)))
            .map(|m| Mount {
                volume: m.name.unwrap_or_default(),
                target: m.destination.unwrap_or_default(),
                read_only: !m.rw.unwrap_or(true),
            })
            .collect();
        let bind_mounts = host
            .binds
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(
                host.mounts
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|m| matches!(m.typ, Some(MountTypeEnum::BIND)))
                    .filter_map(|m| m.source),
            )
            .collect();
        Ok(Some(ContainerInfo {
            id: c.id.unwrap_or_default(),
            name: c
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            image: config.image.unwrap_or_default(),
            labels: config.labels.unwrap_or_default().into_iter().collect(),
            status: status_of(state.status.as_ref()),
            health: state.health.and_then(|h| h.status).and_then(|s| match s {
                HealthStatusEnum::STARTING => Some(HealthStatus::Starting),
                HealthStatusEnum::HEALTHY => Some(HealthStatus::Healthy),
                HealthStatusEnum::UNHEALTHY => Some(HealthStatus::Unhealthy),
                _ => None,
            }),
            restart_count: u64::try_from(c.restart_count.unwrap_or(0)).unwrap_or(0),
            oom_killed: state.oom_killed.unwrap_or(false),
            exit_code: state.exit_code,
            started_at: parse_time(state.started_at.as_deref()),
            finished_at: parse_time(state.finished_at.as_deref()),
            ip_addresses: ips,
            limits: ResourceLimits {
                cpu_millis: u64::try_from(host.nano_cpus.unwrap_or(0) / 1_000_000).unwrap_or(0),
                memory_bytes: u64::try_from(host.memory.unwrap_or(0)).unwrap_or(0),
                pids: u64::try_from(host.pids_limit.unwrap_or(0)).unwrap_or(0),
            },
            env: config.env.unwrap_or_default(),
            mounts,
            security: AppliedSecurity {
                privileged: host.privileged.unwrap_or(false),
                cap_drop: host.cap_drop.unwrap_or_default(),
                cap_add: host.cap_add.unwrap_or_default(),
                no_new_privileges: host
                    .security_opt
                    .unwrap_or_default()
                    .iter()
                    .any(|o| o == "no-new-privileges:true" || o == "no-new-privileges"),
                network_mode: host.network_mode.unwrap_or_default(),
                pid_mode: host.pid_mode.unwrap_or_default(),
                ipc_mode: host.ipc_mode.unwrap_or_default(),
                bind_mounts,
            },
        }))
    }

    async fn list_containers(&self, selector: &LabelSelector) -> Result<Vec<ContainerSummary>> {
        let list = self
            .client()?
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Self::label_filters(selector),
                ..Default::default()
            }))
            .await
            .map_err(map_err)?;
        let mut out: Vec<ContainerSummary> = list
            .into_iter()
            .map(|c| ContainerSummary {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                image: c.image.unwrap_or_default(),
                labels: c.labels.unwrap_or_default().into_iter().collect(),
                status: status_of_str(c.state.as_deref().unwrap_or("")),
            })
            .collect();
        out.reverse(); // the engine lists newest first; the port lists oldest first
        Ok(out)
    }

    async fn update_limits(&self, id: &str, limits: &ResourceLimits) -> Result<UpdateOutcome> {
        limits.validate()?;
        let r = self
            .client()?
            .update_container(
                id,
                UpdateContainerOptions::<String> {
                    memory: Some(i64_of(limits.memory_bytes)),
                    memory_swap: Some(i64_of(limits.memory_bytes)),
                    nano_cpus: Some(millis_to_nano_cpus(limits.cpu_millis)),
                    pids_limit: Some(i64_of(limits.pids)),
                    ..Default::default()
                },
            )
            .await;
        match r {
            Ok(()) => Ok(UpdateOutcome::Live),
            Err(e) if is_status(&e, 404) => Err(Error::not_found("container", id)),
            // cgroup v1 refuses to lower memory below current usage; the engine says so with
            // a 500/409. Recreating with the new limit is the fallback.
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("memory") || message.contains("Memory") =>
            {
                tracing::info!(%message, "live memory update refused; recreate needed");
                Ok(UpdateOutcome::RequiresRecreate)
            }
            Err(e) => Err(map_err(e)),
        }
    }

    async fn logs(
        &self,
        id: &str,
        options: &LogOptions,
    ) -> Result<BoxStream<'static, Result<LogLine>>> {
        // Fail fast with NotFound instead of a stream whose first item is an error.
        if self.inspect_container_opt(id).await?.is_none() {
            return Err(Error::not_found("container", id));
        }
        let opts = LogsOptions::<String> {
            follow: options.follow,
            stdout: true,
            stderr: true,
            since: options.since.map_or(0, |t| t.timestamp()),
            until: 0,
            timestamps: true,
            tail: options
                .tail
                .map_or_else(|| "all".to_string(), |n| n.to_string()),
        };
        let stream = self.client()?.logs(id, Some(opts)).map(|item| {
            let out = item.map_err(map_err)?;
            let (stream, bytes) = match out {
                LogOutput::StdErr { message } => (LogStream::Stderr, message),
                LogOutput::StdOut { message }
                | LogOutput::Console { message }
                | LogOutput::StdIn { message } => (LogStream::Stdout, message),
            };
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim_end_matches('\n');
            let (at, text) = match text.split_once(' ') {
                Some((ts, rest)) => match DateTime::parse_from_rfc3339(ts) {
                    Ok(t) => (Some(t.with_timezone(&Utc)), rest),
                    Err(_) => (None, text),
                },
                None => (None, text),
            };
            Ok(LogLine {
                stream,
                at,
                text: text.to_string(),
            })
        });
        Ok(stream.boxed())
    }

    async fn stats_once(&self, id: &str) -> Result<RawStats> {
        if let Some(host) = &self.host_stats {
            if let Some(stats) = host.read_known(id) {
                return Ok(stats);
            }
            let info = match self.client()?.inspect_container(id, None).await {
                Ok(info) => info,
                Err(e) if is_status(&e, 404) => return Err(Error::not_found("container", id)),
                Err(e) => return Err(map_err(e)),
            };
            let state = info.state.unwrap_or_default();
            let pid = state.pid.and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
            if state.running == Some(true) && pid > 0 {
                if let Some(stats) = host.read_new(id, pid) {
                    return Ok(stats);
                }
            }
        }
        let mut s = self.client()?.stats(
            id,
            Some(StatsOptions {
                stream: false,
                one_shot: true,
            }),
        );
        let stats = match s.next().await {
            Some(Ok(st)) => st,
            Some(Err(e)) if is_status(&e, 404) => return Err(Error::not_found("container", id)),
            Some(Err(e)) => return Err(map_err(e)),
            None => return Err(Error::unavailable(SERVICE, "the engine returned no stats")),
        };
        // Read the answer to its end, so its connection goes back to the pool.
        while s.next().await.is_some() {}
        let cache = match stats.memory_stats.stats {
            Some(bollard::container::MemoryStatsStats::V1(v1)) => v1.total_inactive_file,
            Some(bollard::container::MemoryStatsStats::V2(v2)) => v2.inactive_file,
            None => 0,
        };
        let (mut rx, mut tx) = (0, 0);
        for n in stats.networks.unwrap_or_default().values() {
            rx += n.rx_bytes;
            tx += n.tx_bytes;
        }
        let (mut read, mut write) = (0, 0);
        for e in stats
            .blkio_stats
            .io_service_bytes_recursive
            .unwrap_or_default()
        {
            match e.op.to_ascii_lowercase().as_str() {
                "read" => read += e.value,
                "write" => write += e.value,
                _ => {}
            }
        }
        let at = stats.read;
        if stats.memory_stats.limit.is_none() && stats.pids_stats.current.is_none() {
            return Err(Error::conflict(format!("container '{id}' is not running")));
        }
        Ok(RawStats {
            at,
            cpu_total_ns: stats.cpu_stats.cpu_usage.total_usage,
            system_cpu_ns: stats.cpu_stats.system_cpu_usage.unwrap_or(0),
            online_cpus: u32::try_from(stats.cpu_stats.online_cpus.unwrap_or(1)).unwrap_or(1),
            memory_usage_bytes: stats.memory_stats.usage.unwrap_or(0),
            memory_cache_bytes: cache,
            memory_limit_bytes: stats.memory_stats.limit.unwrap_or(0),
            net_rx_bytes: rx,
            net_tx_bytes: tx,
            block_read_bytes: read,
            block_write_bytes: write,
            pids: stats.pids_stats.current.unwrap_or(0),
        })
    }

    async fn events(
        &self,
        selector: &LabelSelector,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent>>> {
        let mut filters = Self::label_filters(selector);
        filters.insert("type".into(), vec!["container".into()]);
        // Check the engine answers before handing out a stream.
        self.client()?.ping().await.map_err(map_err)?;
        let stream = self
            .client()?
            .events(Some(EventsOptions::<String> {
                since: None,
                until: None,
                filters,
            }))
            .map_err(map_err)
            .map_ok(|m| {
                let actor = m.actor.unwrap_or_default();
                let attrs = actor.attributes.unwrap_or_default();
                let at = m
                    .time_nano
                    .and_then(|n| {
                        DateTime::from_timestamp(n / 1_000_000_000, (n % 1_000_000_000) as u32)
                    })
                    .unwrap_or_else(Utc::now);
                RuntimeEvent {
                    at,
                    container_id: actor.id.unwrap_or_default(),
                    kind: event_kind(m.action.as_deref().unwrap_or(""), &attrs),
                    labels: attrs
                        .into_iter()
                        .filter(|(k, _)| k != "name" && k != "image" && k != "exitCode")
                        .collect::<BTreeMap<_, _>>(),
                }
            });
        Ok(stream.boxed())
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<CreateOutcome> {
        let outcome = self.create_network_unguarded(spec).await?;
        if let Err(e) = self.guard_network(outcome.id()).await {
            // A network tenants could use to reach the host is not kept.
            if matches!(outcome, CreateOutcome::Created(_)) {
                let _ = self.remove_network(outcome.id()).await;
            }
            return Err(e);
        }
        Ok(outcome)
    }

    async fn remove_network(&self, name: &str) -> Result<RemoveOutcome> {
        let known = if self.firewall.enabled() {
            match self.client()?.inspect_network::<String>(name, None).await {
                Ok(n) if n.name.as_deref() == Some(name) || n.id.as_deref() == Some(name) => {
                    vec![n]
                }
                Ok(_) => Vec::new(),
                Err(_) => self.engine_networks_named(name).await.unwrap_or_default(),
            }
        } else {
            Vec::new()
        };
        let outcome = self.remove_network_unguarded(name).await?;
        for n in &known {
            self.firewall.unguard(n).await;
        }
        Ok(outcome)
    }

    async fn inspect_network_opt(&self, name: &str) -> Result<Option<NetworkInfo>> {
        match self.client()?.inspect_network::<String>(name, None).await {
            // The engine matches ids by prefix and names exactly; only accept an exact name or id.
            Ok(n) if n.name.as_deref() == Some(name) || n.id.as_deref() == Some(name) => {
                Ok(Some(network_info(n)))
            }
            Ok(_) => Ok(None),
            Err(e) if is_status(&e, 404) => Ok(None),
            // Two clients creating one name at once can leave two networks of that name for a
            // moment (the engine's duplicate check is not atomic), and the engine refuses to
            // pick one. The creators keep the oldest and remove the rest, so answer with it.
            Err(e) if is_status(&e, 400) => {
                match self.networks_named(name).await?.into_iter().next() {
                    Some(oldest) => Ok(Some(oldest)),
                    None => Err(map_err(e)),
                }
            }
            Err(e) => Err(map_err(e)),
        }
    }

    async fn list_networks(&self, selector: &LabelSelector) -> Result<Vec<NetworkInfo>> {
        let list = self
            .client()?
            .list_networks(Some(ListNetworksOptions {
                filters: Self::label_filters(selector),
            }))
            .await
            .map_err(map_err)?;
        Ok(list.into_iter().map(network_info).collect())
    }

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<CreateOutcome> {
        // The engine answers "created" for an existing name too: look first.
        if self.inspect_volume_opt(&spec.name).await?.is_some() {
            return Ok(CreateOutcome::AlreadyExists(spec.name.clone()));
        }
        let v = self
            .client()?
            .create_volume(CreateVolumeOptions {
                name: spec.name.clone(),
                driver: spec.driver.clone().unwrap_or_else(|| "local".into()),
                driver_opts: spec.driver_opts.clone().into_iter().collect(),
                labels: spec.labels.clone().into_iter().collect(),
            })
            .await
            .map_err(map_err)?;
        Ok(CreateOutcome::Created(v.name))
    }

    async fn remove_volume(&self, name: &str) -> Result<RemoveOutcome> {
        match self
            .client()?
            .remove_volume(name, Some(RemoveVolumeOptions { force: false }))
            .await
        {
            Ok(()) => Ok(RemoveOutcome::Removed),
            Err(e) if is_status(&e, 404) => Ok(RemoveOutcome::NotFound),
            Err(e) if is_status(&e, 409) => Err(Error::conflict(format!(
                "volume '{name}' is in use by a container"
            ))),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn inspect_volume_opt(&self, name: &str) -> Result<Option<VolumeInfo>> {
        match self.client()?.inspect_volume(name).await {
            Ok(v) => Ok(Some(VolumeInfo {
                name: v.name,
                labels: v.labels.into_iter().collect(),
                driver: v.driver,
            })),
            Err(e) if is_status(&e, 404) => Ok(None),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn list_volumes(&self, selector: &LabelSelector) -> Result<Vec<VolumeInfo>> {
        let list = self
            .client()?
            .list_volumes(Some(ListVolumesOptions {
                filters: Self::label_filters(selector),
            }))
            .await
            .map_err(map_err)?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| VolumeInfo {
                name: v.name,
                labels: v.labels.into_iter().collect(),
                driver: v.driver,
            })
            .collect())
    }

    async fn volume_usage(&self, name: &str) -> Result<Option<u64>> {
        if self.inspect_volume_opt(name).await?.is_none() {
            return Err(Error::not_found("volume", name));
        }
        let df = self.client()?.df().await.map_err(map_err)?;
        Ok(df
            .volumes
            .unwrap_or_default()
            .into_iter()
            .find(|v| v.name == name)
            .and_then(|v| v.usage_data)
            .and_then(|u| u64::try_from(u.size).ok()))
    }

    async fn read_archive(&self, volume: &str, path: &str) -> Result<ByteStream> {
        if path.trim_matches('/').is_empty() {
            if let Some(root) = self.host_volume_dir(volume).await? {
                let rx = crate::host_archive::stream(root, volume.to_string());
                return Ok(futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|item| (item, rx))
                })
                .boxed());
            }
        }
        let helper = self.helper_container(volume).await?;
        let mut stream = self
            .client()?
            .download_from_container(
                &helper,
                Some(DownloadFromContainerOptions {
                    path: volume_path(path),
                }),
            )
            .map_err(map_err)
            .peekable();
        // Surface a missing path as an error of this call, not of the stream.
        if let Some(Err(_)) = std::pin::Pin::new(&mut stream).peek().await {
            let first = stream.next().await;
            self.remove_later(helper);
            return match first {
                Some(Err(e)) if e.is_not_found() => {
                    Err(Error::not_found("path", format!("{volume}:{path}")))
                }
                Some(Err(e)) => Err(e),
                _ => Err(Error::backend(SERVICE, "archive stream ended unexpectedly")),
            };
        }
        // Remove the helper as soon as the stream is exhausted (before the consumer sees its
        // end), or in the background if the consumer drops it early.
        let mut guard = HelperGuard {
            runtime: self.clone(),
            id: Some(helper),
        };
        let finish = futures::stream::once(async move {
            if let Some(id) = guard.id.take() {
                let _ = guard.runtime.remove_container(&id, true).await;
            }
            None
        })
        .filter_map(futures::future::ready);
        Ok(stream.chain(finish).boxed())
    }

    async fn write_archive(&self, volume: &str, path: &str, tar: ByteStream) -> Result<()> {
        let helper = self.helper_container(volume).await?;
        let (tx, rx) = futures::channel::mpsc::channel::<Bytes>(4);
        let upstream_error = std::sync::Arc::new(std::sync::Mutex::new(None::<Error>));
        let err_slot = upstream_error.clone();
        let pump = tokio::spawn(async move {
            let mut tar = tar;
            let mut tx = tx;
            while let Some(item) = tar.next().await {
                match item {
                    Ok(b) => {
                        if futures::SinkExt::send(&mut tx, b).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        *err_slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        break;
                    }
                }
            }
        });
        let r = self
            .client()?
            .upload_to_container_streaming(
                &helper,
                Some(UploadToContainerOptions {
                    path: volume_path(path),
                    no_overwrite_dir_non_dir: "true".to_string(),
                }),
                rx,
            )
            .await;
        let _ = pump.await;
        let _ = self.remove_container(&helper, true).await;
        if let Some(e) = upstream_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(e);
        }
        match r {
            Ok(()) => Ok(()),
            Err(e) if is_status(&e, 404) => {
                Err(Error::not_found("path", format!("{volume}:{path}")))
            }
            Err(e) if is_status(&e, 400) || is_status(&e, 500) => Err(Error::invalid(
                "archive",
                format!("the engine refused the archive: {e}"),
            )),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn image_present(&self, image: &str) -> Result<bool> {
        match self.client()?.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_status(&e, 404) => Ok(false),
            Err(e) => Err(map_err(e)),
        }
    }

    async fn pull_image(&self, image: &str) -> Result<()> {
        let mut s = self.client()?.create_image(
            Some(CreateImageOptions {
                from_image: image.to_string(),
                ..Default::default()
            }),
            None,
            None,
        );
        while let Some(item) = s.next().await {
            match item {
                Ok(info) => {
                    if let Some(err) = info.error {
                        return Err(Error::not_found("image", format!("{image}: {err}")));
                    }
                }
                Err(e) if is_status(&e, 404) => {
                    return Err(Error::not_found("image", format!("{image}: {e}")));
                }
                Err(e @ bollard::errors::Error::DockerResponseServerError { .. }) => {
                    return Err(Error::unavailable(
                        SERVICE,
                        format!("pulling image '{image}' failed: {e}"),
                    ));
                }
                Err(e) => return Err(map_err(e)),
            }
        }
        Ok(())
    }
}

/// Removes an archive helper container when the stream that needs it is dropped.
#[derive(Debug)]
struct HelperGuard {
    runtime: DockerRuntime,
    id: Option<String>,
}

impl Drop for HelperGuard {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                self.runtime.remove_later(id);
            }
        }
    }
}
