//! [`InMemoryRuntime`]: a simulated container engine with fault injection.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use crate::error::{Error, Result};
use crate::model::ResourceLimits;
use crate::ports::runtime::{
    AppliedSecurity, ByteStream, ContainerInfo, ContainerRuntime, ContainerSpec, ContainerStatus,
    ContainerSummary, CreateOutcome, EngineInfo, HealthStatus, LabelSelector, LogLine, LogOptions,
    LogStream, NetworkInfo, NetworkSpec, RawStats, RemoveOutcome, RuntimeEvent, RuntimeEventKind,
    StartOutcome, StopOutcome, UpdateOutcome, VolumeInfo, VolumeSpec,
};

/// The operations of the runtime port, for fault injection and call accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuntimeOp {
    /// `ping`.
    Ping,
    /// `create_container`.
    CreateContainer,
    /// `start_container`.
    StartContainer,
    /// `stop_container`.
    StopContainer,
    /// `restart_container`.
    RestartContainer,
    /// `remove_container`.
    RemoveContainer,
    /// `inspect_container_opt`.
    InspectContainer,
    /// `list_containers`.
    ListContainers,
    /// `update_limits`.
    UpdateLimits,
    /// `logs`.
    Logs,
    /// `stats_once`.
    Stats,
    /// `events`.
    Events,
    /// `create_network`.
    CreateNetwork,
    /// `remove_network`.
    RemoveNetwork,
    /// `inspect_network_opt` and `list_networks`.
    InspectNetwork,
    /// `create_volume`.
    CreateVolume,
    /// `remove_volume`.
    RemoveVolume,
    /// `inspect_volume_opt`, `list_volumes` and `volume_usage`.
    InspectVolume,
    /// `read_archive`.
    ReadArchive,
    /// `write_archive`.
    WriteArchive,
    /// `image_present`.
    ImagePresent,
    /// `pull_image`.
    PullImage,
    /// `pause_container` and `unpause_container`.
    PauseContainer,
    /// `exec`.
    Exec,
}

/// What an injected fault does.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Fail with `Unavailable` (a dead or restarting daemon).
    Unavailable,
    /// Fail with `Backend` carrying this message.
    Backend(String),
    /// Perform the operation, then report `Unavailable` (the daemon acted but the answer was lost).
    AfterEffect,
}

#[derive(Debug, Default)]
struct Faults {
    // op -> (faults to fire on the next calls, in order)
    next: HashMap<RuntimeOp, Vec<Fault>>,
    always: HashMap<RuntimeOp, Fault>,
    latency: HashMap<RuntimeOp, Duration>,
    down: bool,
}

#[derive(Debug, Default)]
struct Accounting {
    calls: HashMap<RuntimeOp, u64>,
    in_flight: HashMap<RuntimeOp, u64>,
    max_in_flight: HashMap<RuntimeOp, u64>,
}

#[derive(Debug, Clone)]
struct SimContainer {
    info: ContainerInfo,
    spec: ContainerSpec,
    logs: Vec<LogLine>,
    cpu_load_millis: u64,
    cpu_ns: u64,
    cpu_last: Option<DateTime<Utc>>,
    memory_usage: u64,
    created_seq: u64,
}

#[derive(Debug, Clone)]
enum Node {
    Dir,
    File(Bytes),
    Symlink(String),
}

#[derive(Debug, Clone)]
struct SimVolume {
    info: VolumeInfo,
    files: BTreeMap<String, Node>,
}

#[derive(Debug, Default)]
struct Engine {
    containers: BTreeMap<String, SimContainer>,
    networks: BTreeMap<String, NetworkInfo>,
    volumes: BTreeMap<String, SimVolume>,
    images: HashSet<String>,
    registry: Option<HashSet<String>>,
    next_ip: u32,
    // What a started container with a health check reports until told otherwise.
    health_on_start: Option<HealthStatus>,
}

/// A simulated engine: containers with states, networks, volumes holding real file contents
/// (so archives round-trip), stats, events, logs — and fault injection hooks so crash, outage
/// and slow-daemon paths can be tested.
///
/// Images: any image can be "pulled" unless [`InMemoryRuntime::restrict_registry`] limits the
/// simulated registry. Stats: CPU counters advance at the load set by
/// [`InMemoryRuntime::set_cpu_load`] (default 0) in real time.
#[derive(Debug, Clone)]
pub struct InMemoryRuntime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engine: Mutex<Engine>,
    faults: Mutex<Faults>,
    accounting: Mutex<Accounting>,
    events: Mutex<broadcast::Sender<RuntimeEvent>>,
    log_tx: broadcast::Sender<(String, LogLine)>,
    seq: AtomicU64,
    max_replicas: std::sync::atomic::AtomicU32,
    exec: Mutex<Option<ExecHandler>>,
}

/// A command run by [`InMemoryRuntime::exec`], as its handler sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExecCall {
    /// The container, as inspected.
    pub container: ContainerInfo,
    /// Program and arguments.
    pub command: Vec<String>,
    /// Everything written to standard input (empty without input).
    pub stdin: Bytes,
}

type ExecFn = dyn Fn(ExecCall) -> Result<Bytes> + Send + Sync;

#[derive(Clone)]
struct ExecHandler(Arc<ExecFn>);

impl std::fmt::Debug for ExecHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExecHandler")
    }
}

impl Default for InMemoryRuntime {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn normalize_image(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

fn rel(path: &str) -> String {
    path.trim_matches('/').to_string()
}

struct InFlight<'a> {
    rt: &'a InMemoryRuntime,
    op: RuntimeOp,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut a = lock(&self.rt.inner.accounting);
        if let Some(n) = a.in_flight.get_mut(&self.op) {
            *n = n.saturating_sub(1);
        }
    }
}

impl InMemoryRuntime {
    /// An empty engine.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(1024);
        let (log_tx, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                engine: Mutex::new(Engine {
                    next_ip: 2,
                    ..Engine::default()
                }),
                faults: Mutex::new(Faults::default()),
                accounting: Mutex::new(Accounting::default()),
                events: Mutex::new(events),
                log_tx,
                seq: AtomicU64::new(1),
                max_replicas: std::sync::atomic::AtomicU32::new(1),
                exec: Mutex::new(None),
            }),
        }
    }

    /// Accepts up to `n` replicas per container, as a clustered runtime would (reported by
    /// `capabilities`); the simulated container stays one. The default is 1.
    pub fn set_max_replicas(&self, n: u32) {
        self.inner.max_replicas.store(n.max(1), Ordering::SeqCst);
    }

    /// Makes an image present locally.
    pub fn add_image(&self, image: &str) {
        lock(&self.inner.engine)
            .images
            .insert(normalize_image(image));
    }

    /// Limits the simulated registry to these images (pulling anything else is `NotFound`).
    pub fn restrict_registry(&self, images: &[&str]) {
        lock(&self.inner.engine).registry =
            Some(images.iter().map(|i| normalize_image(i)).collect());
    }

    /// The next call of `op` fails with `fault` (queued after earlier injected faults).
    pub fn fail_next(&self, op: RuntimeOp, fault: Fault) {
        lock(&self.inner.faults)
            .next
            .entry(op)
            .or_default()
            .push(fault);
    }

    /// Every call of `op` fails with `fault` until [`InMemoryRuntime::clear_faults`].
    pub fn fail_always(&self, op: RuntimeOp, fault: Fault) {
        lock(&self.inner.faults).always.insert(op, fault);
    }

    /// Every call of `op` takes at least `latency` (a slow daemon).
    pub fn set_latency(&self, op: RuntimeOp, latency: Duration) {
        lock(&self.inner.faults).latency.insert(op, latency);
    }

    /// Simulates the daemon going away (`true`) or coming back (`false`): every call fails with
    /// `Unavailable` while it is down; state is kept, like a daemon with live-restore.
    pub fn set_down(&self, down: bool) {
        lock(&self.inner.faults).down = down;
    }

    /// Removes every injected fault and latency.
    pub fn clear_faults(&self) {
        *lock(&self.inner.faults) = Faults::default();
    }

    /// How often `op` was called.
    pub fn calls(&self, op: RuntimeOp) -> u64 {
        lock(&self.inner.accounting)
            .calls
            .get(&op)
            .copied()
            .unwrap_or(0)
    }

    /// The most calls of `op` that were in flight at once.
    pub fn max_in_flight(&self, op: RuntimeOp) -> u64 {
        lock(&self.inner.accounting)
            .max_in_flight
            .get(&op)
            .copied()
            .unwrap_or(0)
    }

    /// Sets the simulated CPU load of a container in millicores (1000 = one core busy).
    pub fn set_cpu_load(&self, id: &str, millis: u64) -> Result<()> {
        self.with_container(id, |c| {
            Self::advance_cpu(c, Utc::now());
            c.cpu_load_millis = millis;
        })
    }

    /// Sets the simulated memory usage of a container.
    pub fn set_memory_usage(&self, id: &str, bytes: u64) -> Result<()> {
        self.with_container(id, |c| c.memory_usage = bytes)
    }

    /// Appends a log line to a container.
    pub fn push_log(&self, id: &str, stream: LogStream, text: &str) -> Result<()> {
        let line = LogLine {
            stream,
            at: Some(Utc::now()),
            text: text.to_string(),
        };
        let cid = self.with_container(id, |c| {
            c.logs.push(line.clone());
            c.info.id.clone()
        })?;
        let _ = self.inner.log_tx.send((cid, line));
        Ok(())
    }

    /// What containers with a health check report right after they start (default
    /// `Healthy`; `Starting` or `Unhealthy` to simulate slow or broken apps).
    pub fn set_health_on_start(&self, status: HealthStatus) {
        lock(&self.inner.engine).health_on_start = Some(status);
    }

    /// Sets a container's health and emits a health event.
    pub fn set_health(&self, id: &str, status: HealthStatus) -> Result<()> {
        let (cid, labels) = self.with_container(id, |c| {
            c.info.health = Some(status);
            (c.info.id.clone(), c.info.labels.clone())
        })?;
        self.emit(&cid, RuntimeEventKind::Health { status }, labels);
        Ok(())
    }

    /// Simulates the process exiting (`oom`: killed for exceeding its memory limit). When
    /// `engine_restarts` is set, the engine restarts it as a restart policy would.
    pub fn simulate_exit(
        &self,
        id: &str,
        exit_code: i64,
        oom: bool,
        engine_restarts: bool,
    ) -> Result<()> {
        let now = Utc::now();
        let (cid, labels) = self.with_container(id, |c| {
            c.info.status = ContainerStatus::Exited;
            c.info.exit_code = Some(exit_code);
            c.info.oom_killed = oom;
            c.info.finished_at = Some(now);
            if engine_restarts {
                c.info.status = ContainerStatus::Running;
                c.info.restart_count += 1;
                c.info.started_at = Some(now);
            }
            (c.info.id.clone(), c.info.labels.clone())
        })?;
        if oom {
            self.emit(&cid, RuntimeEventKind::Oom, labels.clone());
        }
        self.emit(&cid, RuntimeEventKind::Die { exit_code }, labels.clone());
        if engine_restarts {
            self.emit(&cid, RuntimeEventKind::Start, labels);
        }
        Ok(())
    }

    /// Ends every open event stream (as a daemon restart or a dropped connection would);
    /// later calls of `events` get a new stream. Events emitted in between reach nobody.
    pub fn cut_event_streams(&self) {
        let (fresh, _) = broadcast::channel(1024);
        *lock(&self.inner.events) = fresh;
    }

    /// Answers [`exec`](ContainerRuntime::exec) with `handler`: what it returns is the
    /// command's standard output, an error is the command failing. Without a handler `exec`
    /// is `Unsupported` (the simulated containers run no programs).
    pub fn on_exec(&self, handler: impl Fn(ExecCall) -> Result<Bytes> + Send + Sync + 'static) {
        *lock(&self.inner.exec) = Some(ExecHandler(Arc::new(handler)));
    }

    /// Removes a container behind the platform's back (a lost container).
    pub fn lose_container(&self, id: &str) -> Result<()> {
        let mut e = lock(&self.inner.engine);
        let key = Self::resolve(&e, id).ok_or_else(|| Error::not_found("container", id))?;
        e.containers.remove(&key);
        Ok(())
    }

    /// Writes a file into a volume directly (test set-up).
    pub fn put_file(&self, volume: &str, path: &str, contents: &[u8]) -> Result<()> {
        let mut e = lock(&self.inner.engine);
        let v = e
            .volumes
            .get_mut(volume)
            .ok_or_else(|| Error::not_found("volume", volume))?;
        let p = rel(path);
        Self::ensure_parents(&mut v.files, &p);
        v.files
            .insert(p, Node::File(Bytes::copy_from_slice(contents)));
        Ok(())
    }

    /// Reads a file out of a volume directly (test checks).
    pub fn file(&self, volume: &str, path: &str) -> Option<Bytes> {
        let e = lock(&self.inner.engine);
        match e.volumes.get(volume)?.files.get(&rel(path))? {
            Node::File(b) => Some(b.clone()),
            _ => None,
        }
    }

    fn ensure_parents(files: &mut BTreeMap<String, Node>, p: &str) {
        let mut acc = String::new();
        let comps: Vec<&str> = p.split('/').collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(c);
            files.entry(acc.clone()).or_insert(Node::Dir);
        }
    }

    fn with_container<T>(&self, id: &str, f: impl FnOnce(&mut SimContainer) -> T) -> Result<T> {
        let mut e = lock(&self.inner.engine);
        let key = Self::resolve(&e, id).ok_or_else(|| Error::not_found("container", id))?;
        let c = e
            .containers
            .get_mut(&key)
            .ok_or_else(|| Error::not_found("container", id))?;
        Ok(f(c))
    }

    fn resolve(e: &Engine, id_or_name: &str) -> Option<String> {
        if e.containers.contains_key(id_or_name) {
            return Some(id_or_name.to_string());
        }
        let name = id_or_name.trim_start_matches('/');
        e.containers
            .values()
            .find(|c| {
                c.info.name == name || (id_or_name.len() >= 12 && c.info.id.starts_with(id_or_name))
            })
            .map(|c| c.info.id.clone())
    }

    fn advance_cpu(c: &mut SimContainer, now: DateTime<Utc>) {
        if c.info.status == ContainerStatus::Running {
            if let Some(last) = c.cpu_last {
                let dt = (now - last).num_nanoseconds().unwrap_or(0).max(0) as u64;
                c.cpu_ns += dt.saturating_mul(c.cpu_load_millis) / 1000;
            }
            c.cpu_last = Some(now);
        } else {
            c.cpu_last = None;
        }
    }

    fn emit(&self, id: &str, kind: RuntimeEventKind, labels: BTreeMap<String, String>) {
        let _ = lock(&self.inner.events).send(RuntimeEvent {
            at: Utc::now(),
            container_id: id.to_string(),
            kind,
            labels,
        });
    }

    async fn enter(&self, op: RuntimeOp) -> Result<(InFlight<'_>, bool)> {
        {
            let mut a = lock(&self.inner.accounting);
            *a.calls.entry(op).or_default() += 1;
            let n = a.in_flight.entry(op).or_default();
            *n += 1;
            let now = *n;
            let m = a.max_in_flight.entry(op).or_default();
            *m = (*m).max(now);
        }
        let guard = InFlight { rt: self, op };
        let (latency, fault) = {
            let mut f = lock(&self.inner.faults);
            let latency = f.latency.get(&op).copied();
            let fault = if f.down {
                Some(Fault::Unavailable)
            } else if let Some(q) = f.next.get_mut(&op).filter(|q| !q.is_empty()) {
                Some(q.remove(0))
            } else {
                f.always.get(&op).cloned()
            };
            (latency, fault)
        };
        if let Some(l) = latency {
            tokio::time::sleep(l).await;
        }
        match fault {
            None => Ok((guard, false)),
            Some(Fault::AfterEffect) => Ok((guard, true)),
            Some(Fault::Unavailable) => Err(Error::unavailable(
                "memory-runtime",
                format!("injected fault: engine unavailable during {op:?}"),
            )),
            Some(Fault::Backend(m)) => Err(Error::backend("memory-runtime", m)),
        }
    }

    fn after(lost_answer: bool, op: RuntimeOp) -> Result<()> {
        if lost_answer {
            Err(Error::unavailable(
                "memory-runtime",
                format!("injected fault: answer to {op:?} lost after it took effect"),
            ))
        } else {
            Ok(())
        }
    }

    fn alloc_ip(e: &mut Engine) -> String {
        let n = e.next_ip;
        e.next_ip += 1;
        format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
    }

    fn tar_of(files: &BTreeMap<String, Node>, root: &str) -> Result<Vec<u8>> {
        let mut b = tar::Builder::new(Vec::new());
        let prefix = rel(root);
        let tar_err =
            |e: std::io::Error| Error::backend_source("memory-runtime", "building tar", e);
        let base = prefix.rsplit('/').next().unwrap_or("").to_string();
        for (path, node) in files {
            let inside = if prefix.is_empty() {
                Some(path.clone())
            } else if path == &prefix {
                Some(base.clone())
            } else {
                path.strip_prefix(&format!("{prefix}/"))
                    .map(|r| format!("{base}/{r}"))
            };
            let Some(name) = inside else { continue };
            if name.is_empty() {
                continue;
            }
            let mut h = tar::Header::new_gnu();
            h.set_mtime(0);
            match node {
                Node::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{name}/"), std::io::empty())
                        .map_err(tar_err)?;
                }
                Node::File(data) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, &name, data.as_ref())
                        .map_err(tar_err)?;
                }
                Node::Symlink(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    b.append_link(&mut h, &name, target).map_err(tar_err)?;
                }
            }
        }
        b.into_inner().map_err(tar_err)
    }
}

fn selector_stream<T: Clone + Send + 'static>(
    rx: broadcast::Receiver<T>,
    keep: impl Fn(&T) -> bool + Send + 'static,
) -> BoxStream<'static, T> {
    BroadcastStream::new(rx)
        .filter_map(move |r| {
            let out = match r {
                Ok(v) if keep(&v) => Some(v),
                _ => None,
            };
            futures::future::ready(out)
        })
        .boxed()
}

#[async_trait]
impl ContainerRuntime for InMemoryRuntime {
    async fn ping(&self) -> Result<EngineInfo> {
        let (_g, lost) = self.enter(RuntimeOp::Ping).await?;
        Self::after(lost, RuntimeOp::Ping)?;
        Ok(EngineInfo {
            backend: "memory".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            api_version: "1".into(),
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
        })
    }

    fn capabilities(&self) -> crate::ports::runtime::RuntimeCapabilities {
        let mut caps = crate::ports::runtime::RuntimeCapabilities::single_host();
        caps.max_replicas = self.inner.max_replicas.load(Ordering::SeqCst);
        caps
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<CreateOutcome> {
        let (_g, lost) = self.enter(RuntimeOp::CreateContainer).await?;
        let max = self.inner.max_replicas.load(Ordering::SeqCst);
        if spec.replicas > max {
            return Err(Error::invalid(
                "spec.replicas",
                format!("the in-memory runtime runs at most {max} replica(s)"),
            ));
        }
        let id = {
            let mut e = lock(&self.inner.engine);
            if let Some(existing) = e.containers.values().find(|c| c.info.name == spec.name) {
                let same = existing.info.labels.get(crate::labels::DEPLOYMENT)
                    == spec.labels.get(crate::labels::DEPLOYMENT)
                    && spec.labels.contains_key(crate::labels::DEPLOYMENT);
                return if same {
                    Ok(CreateOutcome::AlreadyExists(existing.info.id.clone()))
                } else {
                    Err(Error::conflict(format!(
                        "a container named '{}' already exists",
                        spec.name
                    )))
                };
            }
            let image = normalize_image(&spec.image);
            if !e.images.contains(&image) {
                return Err(Error::not_found("image", &spec.image));
            }
            for n in &spec.networks {
                if !e.networks.contains_key(&n.network) {
                    return Err(Error::not_found("network", &n.network));
                }
            }
            for m in &spec.mounts {
                if !e.volumes.contains_key(&m.volume) {
                    // Like Docker, a named volume mounted at create time springs into existence.
                    e.volumes.insert(
                        m.volume.clone(),
                        SimVolume {
                            info: VolumeInfo {
                                name: m.volume.clone(),
                                labels: BTreeMap::new(),
                                driver: "local".into(),
                            },
                            files: BTreeMap::new(),
                        },
                    );
                }
            }
            let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed);
            let id = format!(
                "{:064x}",
                u128::from(seq) << 64 | u128::from(rand::random::<u64>())
            );
            let cap_add = spec
                .security
                .cap_add
                .iter()
                .filter(|c| crate::ports::runtime::ALLOWED_CAPABILITIES.contains(&c.as_str()))
                .cloned()
                .collect();
            let info = ContainerInfo {
                id: id.clone(),
                name: spec.name.clone(),
                image: spec.image.clone(),
                labels: spec.labels.clone(),
                status: ContainerStatus::Created,
                health: None,
                restart_count: 0,
                oom_killed: false,
                exit_code: None,
                started_at: None,
                finished_at: None,
                ip_addresses: BTreeMap::new(),
                limits: spec.limits,
                env: spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                mounts: spec.mounts.clone(),
                security: AppliedSecurity {
                    privileged: false,
                    cap_drop: vec!["ALL".into()],
                    cap_add,
                    no_new_privileges: true,
                    network_mode: spec
                        .networks
                        .first()
                        .map_or("bridge".to_string(), |n| n.network.clone()),
                    pid_mode: String::new(),
                    ipc_mode: "private".into(),
                    bind_mounts: Vec::new(),
                },
            };
            e.containers.insert(
                id.clone(),
                SimContainer {
                    info,
                    spec: spec.clone(),
                    logs: Vec::new(),
                    cpu_load_millis: 0,
                    cpu_ns: 0,
                    cpu_last: None,
                    memory_usage: 4 * crate::units::MIB,
                    created_seq: seq,
                },
            );
            id
        };
        self.emit(&id, RuntimeEventKind::Create, spec.labels.clone());
        Self::after(lost, RuntimeOp::CreateContainer)?;
        Ok(CreateOutcome::Created(id))
    }

    async fn start_container(&self, id: &str) -> Result<StartOutcome> {
        let (_g, lost) = self.enter(RuntimeOp::StartContainer).await?;
        let now = Utc::now();
        let started = {
            let mut e = lock(&self.inner.engine);
            let health_on_start = e.health_on_start.unwrap_or(HealthStatus::Healthy);
            let key = Self::resolve(&e, id).ok_or_else(|| Error::not_found("container", id))?;
            let networks: Vec<String> = e.containers[&key]
                .spec
                .networks
                .iter()
                .map(|n| n.network.clone())
                .collect();
            if let Some(missing) = networks.iter().find(|n| !e.networks.contains_key(*n)) {
                return Err(Error::not_found("network", missing));
            }
            let ips: Vec<String> = if e.containers[&key].info.ip_addresses.is_empty() {
                networks.iter().map(|_| Self::alloc_ip(&mut e)).collect()
            } else {
                Vec::new()
            };
            let c = e
                .containers
                .get_mut(&key)
                .ok_or_else(|| Error::not_found("container", id))?;
            if c.info.status == ContainerStatus::Running {
                None
            } else {
                c.info.status = ContainerStatus::Running;
                c.info.started_at = Some(now);
                c.info.exit_code = None;
                c.info.oom_killed = false;
                if c.spec.health_check.is_some() {
                    c.info.health = Some(health_on_start);
                }
                for (n, ip) in networks.iter().zip(ips) {
                    c.info.ip_addresses.insert(n.clone(), ip);
                }
                c.cpu_last = Some(now);
                Some((c.info.id.clone(), c.info.labels.clone()))
            }
        };
        let outcome = match started {
            None => StartOutcome::AlreadyRunning,
            Some((cid, labels)) => {
                self.emit(&cid, RuntimeEventKind::Start, labels);
                StartOutcome::Started
            }
        };
        Self::after(lost, RuntimeOp::StartContainer)?;
        Ok(outcome)
    }

    async fn pause_container(&self, id: &str) -> Result<()> {
        let (_g, lost) = self.enter(RuntimeOp::PauseContainer).await?;
        let paused = self.with_container(id, |c| match c.info.status {
            ContainerStatus::Paused => Ok(None),
            ContainerStatus::Running => {
                c.info.status = ContainerStatus::Paused;
                Ok(Some((c.info.id.clone(), c.info.labels.clone())))
            }
            other => Err(Error::conflict(format!(
                "container '{id}' is not running ({other:?}): only a running container can be \
                 paused"
            ))),
        })??;
        if let Some((cid, labels)) = paused {
            let action = "pause".to_string();
            self.emit(&cid, RuntimeEventKind::Other { action }, labels);
        }
        Self::after(lost, RuntimeOp::PauseContainer)
    }

    async fn unpause_container(&self, id: &str) -> Result<()> {
        let (_g, lost) = self.enter(RuntimeOp::PauseContainer).await?;
        let thawed = self.with_container(id, |c| {
            (c.info.status == ContainerStatus::Paused).then(|| {
                c.info.status = ContainerStatus::Running;
                (c.info.id.clone(), c.info.labels.clone())
            })
        })?;
        if let Some((cid, labels)) = thawed {
            let action = "unpause".to_string();
            self.emit(&cid, RuntimeEventKind::Other { action }, labels);
        }
        Self::after(lost, RuntimeOp::PauseContainer)
    }

    async fn exec(
        &self,
        id: &str,
        command: &[String],
        stdin: Option<ByteStream>,
    ) -> Result<ByteStream> {
        let (_g, lost) = self.enter(RuntimeOp::Exec).await?;
        if command.is_empty() {
            return Err(Error::invalid("command", "empty: name the program to run"));
        }
        let container = self.with_container(id, |c| c.info.clone())?;
        if container.status != ContainerStatus::Running {
            return Err(Error::conflict(format!(
                "container '{id}' is not running ({:?}): commands run only in running containers",
                container.status
            )));
        }
        let handler = lock(&self.inner.exec).clone().ok_or_else(|| {
            Error::unsupported(
                "running commands in simulated containers: set InMemoryRuntime::on_exec",
            )
        })?;
        let mut input = Vec::new();
        if let Some(mut s) = stdin {
            while let Some(chunk) = s.next().await {
                match chunk {
                    Ok(chunk) => input.extend_from_slice(&chunk),
                    // The input ends there and the output with the error, as on an engine.
                    Err(e) => return Ok(stream::iter([Err(e)]).boxed()),
                }
            }
        }
        Self::after(lost, RuntimeOp::Exec)?;
        let output = (handler.0)(ExecCall {
            container,
            command: command.to_vec(),
            stdin: Bytes::from(input),
        });
        Ok(stream::iter([output]).boxed())
    }

    async fn stop_container(&self, id: &str, _timeout: Duration) -> Result<StopOutcome> {
        let (_g, lost) = self.enter(RuntimeOp::StopContainer).await?;
        let now = Utc::now();
        let stopped = self.with_container(id, |c| {
            if matches!(
                c.info.status,
                ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
            ) {
                Self::advance_cpu(c, now);
                c.info.status = ContainerStatus::Exited;
                c.info.exit_code = Some(0);
                c.info.finished_at = Some(now);
                c.info.ip_addresses.clear();
                c.cpu_last = None;
                Some((c.info.id.clone(), c.info.labels.clone()))
            } else {
                None
            }
        })?;
        let outcome = match stopped {
            None => StopOutcome::AlreadyStopped,
            Some((cid, labels)) => {
                self.emit(&cid, RuntimeEventKind::Die { exit_code: 0 }, labels.clone());
                self.emit(&cid, RuntimeEventKind::Stop, labels);
                StopOutcome::Stopped
            }
        };
        Self::after(lost, RuntimeOp::StopContainer)?;
        Ok(outcome)
    }

    async fn restart_container(&self, id: &str, _timeout: Duration) -> Result<()> {
        let (_g, lost) = self.enter(RuntimeOp::RestartContainer).await?;
        let now = Utc::now();
        let (cid, labels) = self.with_container(id, |c| {
            c.info.status = ContainerStatus::Running;
            c.info.started_at = Some(now);
            c.info.exit_code = None;
            c.cpu_last = Some(now);
            (c.info.id.clone(), c.info.labels.clone())
        })?;
        {
            let mut e = lock(&self.inner.engine);
            if let Some(key) = Self::resolve(&e, &cid) {
                let nets: Vec<String> = e.containers[&key]
                    .spec
                    .networks
                    .iter()
                    .map(|n| n.network.clone())
                    .collect();
                if e.containers[&key].info.ip_addresses.is_empty() {
                    let ips: Vec<String> = nets.iter().map(|_| Self::alloc_ip(&mut e)).collect();
                    if let Some(c) = e.containers.get_mut(&key) {
                        c.info.ip_addresses = nets.into_iter().zip(ips).collect();
                    }
                }
            }
        }
        self.emit(&cid, RuntimeEventKind::Restart, labels);
        Self::after(lost, RuntimeOp::RestartContainer)
    }

    async fn remove_container(&self, id: &str, force: bool) -> Result<RemoveOutcome> {
        let (_g, lost) = self.enter(RuntimeOp::RemoveContainer).await?;
        let removed = {
            let mut e = lock(&self.inner.engine);
            match Self::resolve(&e, id) {
                None => None,
                Some(key) => {
                    let running = e.containers[&key].info.status == ContainerStatus::Running;
                    if running && !force {
                        return Err(Error::conflict(format!(
                            "container '{id}' is running; stop it first or remove with force"
                        )));
                    }
                    e.containers
                        .remove(&key)
                        .map(|c| (c.info.id, c.info.labels))
                }
            }
        };
        let outcome = match removed {
            None => RemoveOutcome::NotFound,
            Some((cid, labels)) => {
                self.emit(&cid, RuntimeEventKind::Destroy, labels);
                RemoveOutcome::Removed
            }
        };
        Self::after(lost, RuntimeOp::RemoveContainer)?;
        Ok(outcome)
    }

    async fn inspect_container_opt(&self, id: &str) -> Result<Option<ContainerInfo>> {
        let (_g, lost) = self.enter(RuntimeOp::InspectContainer).await?;
        Self::after(lost, RuntimeOp::InspectContainer)?;
        let e = lock(&self.inner.engine);
        Ok(Self::resolve(&e, id).and_then(|k| e.containers.get(&k).map(|c| c.info.clone())))
    }

    async fn list_containers(&self, selector: &LabelSelector) -> Result<Vec<ContainerSummary>> {
        let (_g, lost) = self.enter(RuntimeOp::ListContainers).await?;
        Self::after(lost, RuntimeOp::ListContainers)?;
        let e = lock(&self.inner.engine);
        let mut v: Vec<&SimContainer> = e
            .containers
            .values()
            .filter(|c| selector.matches(&c.info.labels))
            .collect();
        v.sort_by_key(|c| c.created_seq);
        Ok(v.into_iter()
            .map(|c| ContainerSummary {
                id: c.info.id.clone(),
                name: c.info.name.clone(),
                image: c.info.image.clone(),
                labels: c.info.labels.clone(),
                status: c.info.status,
            })
            .collect())
    }

    async fn update_limits(&self, id: &str, limits: &ResourceLimits) -> Result<UpdateOutcome> {
        let (_g, lost) = self.enter(RuntimeOp::UpdateLimits).await?;
        limits.validate()?;
        self.with_container(id, |c| {
            c.info.limits = *limits;
            c.spec.limits = *limits;
        })?;
        Self::after(lost, RuntimeOp::UpdateLimits)?;
        Ok(UpdateOutcome::Live)
    }

    async fn logs(
        &self,
        id: &str,
        options: &LogOptions,
    ) -> Result<BoxStream<'static, Result<LogLine>>> {
        let (_g, lost) = self.enter(RuntimeOp::Logs).await?;
        Self::after(lost, RuntimeOp::Logs)?;
        let rx = self.inner.log_tx.subscribe();
        let (cid, mut lines) = self.with_container(id, |c| (c.info.id.clone(), c.logs.clone()))?;
        if let Some(since) = options.since {
            lines.retain(|l| l.at.is_none_or(|at| at >= since));
        }
        if let Some(t) = options.tail {
            let skip = lines.len().saturating_sub(t);
            lines.drain(..skip);
        }
        let past = stream::iter(lines.into_iter().map(Ok));
        if options.follow {
            let live = selector_stream(rx, move |(c, _)| *c == cid).map(|(_, l)| Ok(l));
            Ok(past.chain(live).boxed())
        } else {
            Ok(past.boxed())
        }
    }

    async fn stats_once(&self, id: &str) -> Result<RawStats> {
        let (_g, lost) = self.enter(RuntimeOp::Stats).await?;
        Self::after(lost, RuntimeOp::Stats)?;
        let now = Utc::now();
        self.with_container(id, |c| {
            if c.info.status != ContainerStatus::Running {
                return Err(Error::conflict(format!("container '{id}' is not running")));
            }
            Self::advance_cpu(c, now);
            let system_ns = u64::try_from(now.timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0);
            Ok(RawStats {
                at: now,
                cpu_total_ns: c.cpu_ns,
                system_cpu_ns: system_ns,
                online_cpus: 1,
                memory_usage_bytes: c.memory_usage + crate::units::MIB,
                memory_cache_bytes: crate::units::MIB,
                memory_limit_bytes: c.info.limits.memory_bytes,
                net_rx_bytes: 0,
                net_tx_bytes: 0,
                block_read_bytes: 0,
                block_write_bytes: 0,
                pids: 1,
            })
        })?
    }

    async fn events(
        &self,
        selector: &LabelSelector,
    ) -> Result<BoxStream<'static, Result<RuntimeEvent>>> {
        let (_g, lost) = self.enter(RuntimeOp::Events).await?;
        Self::after(lost, RuntimeOp::Events)?;
        let selector = selector.clone();
        Ok(selector_stream(
            lock(&self.inner.events).subscribe(),
            move |ev: &RuntimeEvent| selector.matches(&ev.labels),
        )
        .map(Ok)
        .boxed())
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<CreateOutcome> {
        let (_g, lost) = self.enter(RuntimeOp::CreateNetwork).await?;
        let outcome = {
            let mut e = lock(&self.inner.engine);
            if let Some(n) = e.networks.get(&spec.name) {
                if n.labels == spec.labels {
                    CreateOutcome::AlreadyExists(n.id.clone())
                } else {
                    return Err(Error::conflict(format!(
                        "a network named '{}' already exists with other labels",
                        spec.name
                    )));
                }
            } else {
                let id = format!("net{:061x}", self.inner.seq.fetch_add(1, Ordering::Relaxed));
                e.networks.insert(
                    spec.name.clone(),
                    NetworkInfo {
                        id: id.clone(),
                        name: spec.name.clone(),
                        labels: spec.labels.clone(),
                    },
                );
                CreateOutcome::Created(id)
            }
        };
        Self::after(lost, RuntimeOp::CreateNetwork)?;
        Ok(outcome)
    }

    async fn remove_network(&self, name: &str) -> Result<RemoveOutcome> {
        let (_g, lost) = self.enter(RuntimeOp::RemoveNetwork).await?;
        let outcome = {
            let mut e = lock(&self.inner.engine);
            if !e.networks.contains_key(name) {
                RemoveOutcome::NotFound
            } else {
                let attached = e
                    .containers
                    .values()
                    .filter(|c| c.spec.networks.iter().any(|n| n.network == name))
                    .count();
                if attached > 0 {
                    return Err(Error::conflict(format!(
                        "network '{name}' has {attached} container(s) attached"
                    )));
                }
                e.networks.remove(name);
                RemoveOutcome::Removed
            }
        };
        Self::after(lost, RuntimeOp::RemoveNetwork)?;
        Ok(outcome)
    }

    async fn inspect_network_opt(&self, name: &str) -> Result<Option<NetworkInfo>> {
        let (_g, lost) = self.enter(RuntimeOp::InspectNetwork).await?;
        Self::after(lost, RuntimeOp::InspectNetwork)?;
        Ok(lock(&self.inner.engine).networks.get(name).cloned())
    }

    async fn list_networks(&self, selector: &LabelSelector) -> Result<Vec<NetworkInfo>> {
        let (_g, lost) = self.enter(RuntimeOp::InspectNetwork).await?;
        Self::after(lost, RuntimeOp::InspectNetwork)?;
        Ok(lock(&self.inner.engine)
            .networks
            .values()
            .filter(|n| selector.matches(&n.labels))
            .cloned()
            .collect())
    }

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<CreateOutcome> {
        let (_g, lost) = self.enter(RuntimeOp::CreateVolume).await?;
        let outcome = {
            let mut e = lock(&self.inner.engine);
            if e.volumes.contains_key(&spec.name) {
                CreateOutcome::AlreadyExists(spec.name.clone())
            } else {
                e.volumes.insert(
                    spec.name.clone(),
                    SimVolume {
                        info: VolumeInfo {
                            name: spec.name.clone(),
                            labels: spec.labels.clone(),
                            driver: spec.driver.clone().unwrap_or_else(|| "local".into()),
                        },
                        files: BTreeMap::new(),
                    },
                );
                CreateOutcome::Created(spec.name.clone())
            }
        };
        Self::after(lost, RuntimeOp::CreateVolume)?;
        Ok(outcome)
    }

    async fn remove_volume(&self, name: &str) -> Result<RemoveOutcome> {
        let (_g, lost) = self.enter(RuntimeOp::RemoveVolume).await?;
        let outcome = {
            let mut e = lock(&self.inner.engine);
            if !e.volumes.contains_key(name) {
                RemoveOutcome::NotFound
            } else {
                if let Some(c) = e
                    .containers
                    .values()
                    .find(|c| c.spec.mounts.iter().any(|m| m.volume == name))
                {
                    return Err(Error::conflict(format!(
                        "volume '{name}' is in use by container '{}'",
                        c.info.name
                    )));
                }
                e.volumes.remove(name);
                RemoveOutcome::Removed
            }
        };
        Self::after(lost, RuntimeOp::RemoveVolume)?;
        Ok(outcome)
    }

    async fn inspect_volume_opt(&self, name: &str) -> Result<Option<VolumeInfo>> {
        let (_g, lost) = self.enter(RuntimeOp::InspectVolume).await?;
        Self::after(lost, RuntimeOp::InspectVolume)?;
        Ok(lock(&self.inner.engine)
            .volumes
            .get(name)
            .map(|v| v.info.clone()))
    }

    async fn list_volumes(&self, selector: &LabelSelector) -> Result<Vec<VolumeInfo>> {
        let (_g, lost) = self.enter(RuntimeOp::InspectVolume).await?;
        Self::after(lost, RuntimeOp::InspectVolume)?;
        Ok(lock(&self.inner.engine)
            .volumes
            .values()
            .filter(|v| selector.matches(&v.info.labels))
            .map(|v| v.info.clone())
            .collect())
    }

    async fn volume_usage(&self, name: &str) -> Result<Option<u64>> {
        let (_g, lost) = self.enter(RuntimeOp::InspectVolume).await?;
        Self::after(lost, RuntimeOp::InspectVolume)?;
        let e = lock(&self.inner.engine);
        let v = e
            .volumes
            .get(name)
            .ok_or_else(|| Error::not_found("volume", name))?;
        Ok(Some(
            v.files
                .values()
                .map(|n| match n {
                    Node::File(b) => b.len() as u64,
                    _ => 0,
                })
                .sum(),
        ))
    }

    async fn read_archive(&self, volume: &str, path: &str) -> Result<ByteStream> {
        let (_g, lost) = self.enter(RuntimeOp::ReadArchive).await?;
        Self::after(lost, RuntimeOp::ReadArchive)?;
        let tar = {
            let e = lock(&self.inner.engine);
            let v = e
                .volumes
                .get(volume)
                .ok_or_else(|| Error::not_found("volume", volume))?;
            let p = rel(path);
            if !p.is_empty() && !v.files.contains_key(&p) {
                return Err(Error::not_found("path", format!("{volume}:{path}")));
            }
            Self::tar_of(&v.files, &p)?
        };
        Ok(stream::iter(
            tar.chunks(64 * 1024)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        )
        .boxed())
    }

    async fn write_archive(&self, volume: &str, path: &str, mut tar: ByteStream) -> Result<()> {
        let (_g, lost) = self.enter(RuntimeOp::WriteArchive).await?;
        if !lock(&self.inner.engine).volumes.contains_key(volume) {
            return Err(Error::not_found("volume", volume));
        }
        let mut buf = Vec::new();
        while let Some(chunk) = tar.next().await {
            buf.extend_from_slice(&chunk?);
        }
        let base = rel(path);
        let mut staged = Vec::new();
        let bad = |e: std::io::Error| Error::invalid("archive", format!("not a valid tar: {e}"));
        let mut archive = tar::Archive::new(buf.as_slice());
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let name = entry.path().map_err(bad)?.to_string_lossy().to_string();
            // `./conf/app.toml` (as `tar -C dir -c .` writes it) is `conf/app.toml`.
            let clean = name
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".")
                .collect::<Vec<_>>()
                .join("/");
            if clean.split('/').any(|c| c == "..") || name.starts_with('/') {
                return Err(Error::invalid(
                    "archive",
                    format!("entry '{name}' escapes the target"),
                ));
            }
            let full = match (base.is_empty(), clean.is_empty()) {
                (true, _) => clean,
                (false, true) => base.clone(),
                (false, false) => format!("{base}/{clean}"),
            };
            let node = match entry.header().entry_type() {
                tar::EntryType::Directory => Node::Dir,
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).map_err(bad)?;
                    Node::File(Bytes::from(data))
                }
                tar::EntryType::Symlink => Node::Symlink(
                    entry
                        .link_name()
                        .map_err(bad)?
                        .map(|l| l.to_string_lossy().to_string())
                        .unwrap_or_default(),
                ),
                other => {
                    return Err(Error::invalid(
                        "archive",
                        format!("entry '{name}' has unsupported type {other:?}"),
                    ));
                }
            };
            staged.push((full, node));
        }
        {
            let mut e = lock(&self.inner.engine);
            let v = e
                .volumes
                .get_mut(volume)
                .ok_or_else(|| Error::not_found("volume", volume))?;
            for (p, node) in staged {
                if p.is_empty() {
                    continue;
                }
                Self::ensure_parents(&mut v.files, &p);
                v.files.insert(p, node);
            }
        }
        Self::after(lost, RuntimeOp::WriteArchive)
    }

    async fn image_present(&self, image: &str) -> Result<bool> {
        let (_g, lost) = self.enter(RuntimeOp::ImagePresent).await?;
        Self::after(lost, RuntimeOp::ImagePresent)?;
        Ok(lock(&self.inner.engine)
            .images
            .contains(&normalize_image(image)))
    }

    async fn pull_image(&self, image: &str) -> Result<()> {
        let (_g, lost) = self.enter(RuntimeOp::PullImage).await?;
        {
            let mut e = lock(&self.inner.engine);
            let img = normalize_image(image);
            if e.registry.as_ref().is_some_and(|r| !r.contains(&img)) {
                return Err(Error::not_found("image", image));
            }
            e.images.insert(img);
        }
        Self::after(lost, RuntimeOp::PullImage)
    }
}
