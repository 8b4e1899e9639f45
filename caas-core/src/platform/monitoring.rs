//! Monitoring: live stats of a service and the metrics collector (history, rollups, retention).
//!
//! The design notes are on [`StatsSnapshot`] (live stats) and [`Collector`] (history), where
//! rustdoc shows them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::instrument;

use super::Platform;
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{OrgId, ServiceId};
use crate::labels;
use crate::model::{MetricPoint, MetricSample, Resolution, ResourceLimits};
use crate::ports::runtime::{ContainerStatus, RawStats};

/// How far apart the two readings of [`Monitoring::stats`](crate::platform::Monitoring::stats) are.
pub const LIVE_STATS_WINDOW: Duration = Duration::from_millis(500);

/// The fewest points a metrics range query aims for when no step is given (see
/// [`Resolution::for_range`]): an hour reads minute points, three days read hour points.
pub const MIN_CHART_POINTS: u32 = 60;

/// CPU use in percent of one core between two readings of the same container; `None` when they
/// cannot be compared (counters went backwards because the container restarted, or no time
/// passed).
///
/// Uses the host CPU counter (`system_cpu_ns` × `online_cpus`) when both readings carry it,
/// like the Docker CLI, and wall-clock time otherwise.
pub fn cpu_percent(prev: &RawStats, cur: &RawStats) -> Option<f64> {
    let cpu = cur.cpu_total_ns.checked_sub(prev.cpu_total_ns)? as f64;
    if prev.system_cpu_ns > 0 && cur.system_cpu_ns > prev.system_cpu_ns {
        let system = (cur.system_cpu_ns - prev.system_cpu_ns) as f64;
        let cpus = f64::from(cur.online_cpus.max(1));
        return Some(cpu / system * cpus * 100.0);
    }
    let wall = (cur.at - prev.at).num_nanoseconds()?;
    (wall > 0).then(|| cpu / wall as f64 * 100.0)
}

/// Memory in use as the Docker CLI reports it: usage minus page cache.
pub fn memory_in_use(stats: &RawStats) -> u64 {
    stats
        .memory_usage_bytes
        .saturating_sub(stats.memory_cache_bytes)
}

/// `value` in percent of `limit`; `None` without a limit.
pub fn percent_of(value: f64, limit: f64) -> Option<f64> {
    (limit > 0.0).then(|| value / limit * 100.0)
}

/// Live numbers of one container, computed from two readings.
///
/// The engine's one-shot stats carry cumulative counters only: a single reading cannot tell how
/// busy a container is right now. [`StatsSnapshot::from_readings`] computes the numbers from two
/// successive readings of the same container, the way the Docker CLI does:
///
/// - **CPU %** (of one core): `Δ container CPU ns / Δ host CPU ns × online CPUs × 100` when the
///   runtime reports the host's CPU counter, otherwise `Δ container CPU ns / Δ wall-clock ns ×
///   100`. A container using half a core reads 50, two full cores read 200.
/// - **CPU % of limit**: CPU % divided by the container's CPU limit in cores
///   (`cpu_millis / 1000`): 50 % of one core under a 0.5 CPU limit is 100 % of the limit.
/// - **Memory**: usage minus page cache (`inactive_file`), as `docker stats` shows it, and its
///   percentage of the memory limit the engine enforces.
/// - **Pids**, and their percentage of the pids limit; network and block IO counters with
///   their rates over the window.
///
/// [`Monitoring::stats`](crate::platform::Monitoring::stats) always measures its own window
/// ([`LIVE_STATS_WINDOW`], two readings 500 ms apart) rather than reusing the collector's last
/// reading: the collector may not run in this process, and its readings are up to an interval old,
/// while live stats must say what happens now. Docker samples containers on a one-second tick and a
/// one-shot read waits for the next tick, so on Docker the two readings are one tick (≈1 s) apart
/// and the call takes 1–1.5 s; the computation uses each reading's own timestamp and counters, so
/// the result is exact for whatever window the engine delivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsSnapshot {
    /// When the second reading was taken.
    pub at: DateTime<Utc>,
    /// Time between the two readings, milliseconds.
    pub window_ms: u64,
    /// CPU use in percent of one core (200 = two full cores); `None` when the container
    /// restarted between the readings.
    pub cpu_percent: Option<f64>,
    /// CPU limit, millicores.
    pub cpu_limit_millis: u64,
    /// CPU use in percent of the CPU limit.
    pub cpu_limit_percent: Option<f64>,
    /// Memory in use (usage minus page cache), bytes.
    pub memory_bytes: u64,
    /// Memory limit, bytes.
    pub memory_limit_bytes: u64,
    /// Memory in use in percent of the limit.
    pub memory_percent: Option<f64>,
    /// Processes and threads.
    pub pids: u64,
    /// Pids limit.
    pub pids_limit: u64,
    /// Pids in percent of the limit.
    pub pids_percent: Option<f64>,
    /// Bytes received over the network since start.
    pub net_rx_bytes: u64,
    /// Bytes sent over the network since start.
    pub net_tx_bytes: u64,
    /// Receive rate over the window, bytes per second.
    pub net_rx_bytes_per_sec: f64,
    /// Send rate over the window, bytes per second.
    pub net_tx_bytes_per_sec: f64,
    /// Bytes read from block devices since start.
    pub block_read_bytes: u64,
    /// Bytes written to block devices since start.
    pub block_write_bytes: u64,
    /// Block read rate over the window, bytes per second.
    pub block_read_bytes_per_sec: f64,
    /// Block write rate over the window, bytes per second.
    pub block_write_bytes_per_sec: f64,
}

impl StatsSnapshot {
    /// Computes the snapshot from two successive readings of one container and the limits in
    /// force. The memory limit is the one the engine reports, falling back to `limits`.
    pub fn from_readings(prev: &RawStats, cur: &RawStats, limits: &ResourceLimits) -> Self {
        let window_ns = (cur.at - prev.at).num_nanoseconds().unwrap_or(0).max(0);
        let rate = |a: u64, b: u64| {
            if window_ns == 0 {
                0.0
            } else {
                b.saturating_sub(a) as f64 / (window_ns as f64 / 1e9)
            }
        };
        let cpu = cpu_percent(prev, cur);
        let memory = memory_in_use(cur);
        let memory_limit = if cur.memory_limit_bytes > 0 {
            cur.memory_limit_bytes
        } else {
            limits.memory_bytes
        };
        Self {
            at: cur.at,
            window_ms: u64::try_from(window_ns / 1_000_000).unwrap_or(0),
            cpu_percent: cpu,
            cpu_limit_millis: limits.cpu_millis,
            // Percent of one core over the limit in cores: (cpu / (millis / 1000)).
            cpu_limit_percent: cpu
                .and_then(|c| percent_of(c / 100.0, limits.cpu_millis as f64 / 1000.0)),
            memory_bytes: memory,
            memory_limit_bytes: memory_limit,
            memory_percent: percent_of(memory as f64, memory_limit as f64),
            pids: cur.pids,
            pids_limit: limits.pids,
            pids_percent: percent_of(cur.pids as f64, limits.pids as f64),
            net_rx_bytes: cur.net_rx_bytes,
            net_tx_bytes: cur.net_tx_bytes,
            net_rx_bytes_per_sec: rate(prev.net_rx_bytes, cur.net_rx_bytes),
            net_tx_bytes_per_sec: rate(prev.net_tx_bytes, cur.net_tx_bytes),
            block_read_bytes: cur.block_read_bytes,
            block_write_bytes: cur.block_write_bytes,
            block_read_bytes_per_sec: rate(prev.block_read_bytes, cur.block_read_bytes),
            block_write_bytes_per_sec: rate(prev.block_write_bytes, cur.block_write_bytes),
        }
    }
}

/// The sample the collector stores for two successive readings of a service's container;
/// `None` when they cannot be compared (see [`cpu_percent`]).
pub fn metric_sample(
    org: OrgId,
    service: ServiceId,
    prev: &RawStats,
    cur: &RawStats,
) -> Option<MetricSample> {
    Some(MetricSample {
        org,
        service,
        at: cur.at,
        cpu_percent: cpu_percent(prev, cur)?,
        memory_bytes: memory_in_use(cur),
        memory_limit_bytes: cur.memory_limit_bytes,
        net_rx_bytes: cur.net_rx_bytes,
        net_tx_bytes: cur.net_tx_bytes,
        block_read_bytes: cur.block_read_bytes,
        block_write_bytes: cur.block_write_bytes,
        pids: cur.pids,
    })
}

/// How long points of each resolution are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// Raw samples (default 2 days).
    pub raw: Duration,
    /// Minute points (default 14 days).
    pub minute: Duration,
    /// Hour points (default 90 days).
    pub hour: Duration,
    /// Day points (default 2 years, 730 days).
    pub day: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Self {
            raw: Duration::from_secs(2 * DAY),
            minute: Duration::from_secs(14 * DAY),
            hour: Duration::from_secs(90 * DAY),
            day: Duration::from_secs(730 * DAY),
        }
    }
}

impl Retention {
    /// The retention of `resolution`.
    pub fn of(&self, resolution: Resolution) -> Duration {
        match resolution {
            Resolution::Raw => self.raw,
            Resolution::Minute => self.minute,
            Resolution::Hour => self.hour,
            Resolution::Day => self.day,
        }
    }
}

/// Settings of the metrics collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CollectorConfig {
    /// Time between cycles (default 10 s; at least 1 ms).
    pub interval: Duration,
    /// Most `stats_once` calls in flight (default 8; at least 1).
    pub concurrency: usize,
    /// Time between rollup and retention passes (default 60 s); the first cycle runs one.
    pub maintenance_interval: Duration,
    /// How long each resolution is kept.
    pub retention: Retention,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            concurrency: 8,
            maintenance_interval: Duration::from_secs(60),
            retention: Retention::default(),
        }
    }
}

impl CollectorConfig {
    /// The defaults with this interval and concurrency.
    pub fn new(interval: Duration, concurrency: usize) -> Self {
        Self {
            interval,
            concurrency,
            ..Self::default()
        }
    }
}

/// What the collector did since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectorStats {
    /// Cycles completed.
    pub cycles: u64,
    /// Ticks skipped because the previous cycle was still running.
    pub skipped: u64,
    /// Samples written.
    pub samples_written: u64,
    /// `insert_metrics` batches written (at most one per cycle; none when a cycle has no
    /// sample).
    pub batches: u64,
    /// Rollup and retention passes completed.
    pub maintenance_passes: u64,
    /// Failures (listing, stats reads, writes, rollups, retention); each is logged and retried
    /// next cycle. A container that stopped between listing and reading is not a failure.
    pub errors: u64,
    /// Containers read in the last cycle.
    pub last_cycle_containers: u64,
    /// Duration of the last cycle, milliseconds.
    pub last_cycle_ms: u64,
}

/// Reads a running collector's [`CollectorStats`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct CollectorHandle {
    rx: watch::Receiver<CollectorStats>,
}

impl CollectorHandle {
    /// The counters now.
    pub fn stats(&self) -> CollectorStats {
        *self.rx.borrow()
    }

    /// Waits until the counters satisfy `pred`; `None` when the collector stopped first.
    pub async fn wait_for(
        &self,
        mut pred: impl FnMut(&CollectorStats) -> bool,
    ) -> Option<CollectorStats> {
        let mut rx = self.rx.clone();
        rx.wait_for(|s| pred(s)).await.ok().map(|s| *s)
    }
}

/// The metrics collector of a platform.
///
/// It (or [`Platform::run_collector`]) reads every running managed service container
/// of this instance each [`CollectorConfig::interval`], with at most
/// [`CollectorConfig::concurrency`] `stats_once` calls in flight, and computes one
/// [`MetricSample`] per container against that container's previous reading. The first reading
/// of a container (and the first one after its counters went backwards, i.e. it restarted)
/// only primes the computation and yields no sample: a CPU percentage needs two readings, and a
/// made-up 0 would drag averages down. All samples of a cycle are written in one
/// `insert_metrics` batch.
///
/// Cycles never overlap: when a tick comes while the previous cycle still runs (a slow engine),
/// the tick is skipped and counted in [`CollectorStats::skipped`]. Every
/// [`CollectorConfig::maintenance_interval`] a cycle also rolls minute, hour and day points up
/// to now (only complete buckets; the first pass after start-up goes back as far as the source
/// resolution is retained, so a restart leaves no gaps) and drops points older than the
/// [`Retention`] of their resolution. On shutdown the cycle in progress is dropped: its samples
/// are not written, nothing else is left half done.
///
/// Counters are published through a [`CollectorHandle`] (a watch channel), readable and
/// awaitable by the embedder while the collector runs.
///
/// ```no_run
/// # use caas_core::platform::{Collector, CollectorConfig};
/// # async fn f(platform: caas_core::Platform) {
/// let collector = Collector::new(platform, CollectorConfig::default());
/// let handle = collector.handle();
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let task = tokio::spawn(collector.run(async { let _ = stopped.await; }));
/// // ... later
/// println!("{:?}", handle.stats());
/// let _ = stop.send(());
/// let _final_stats = task.await;
/// # }
/// ```
#[derive(Debug)]
pub struct Collector {
    platform: Platform,
    config: CollectorConfig,
    stats: watch::Sender<CollectorStats>,
}

/// State carried from one cycle to the next (cycles never overlap).
#[derive(Debug, Default)]
struct CycleState {
    /// Last reading per container id, with the container's org and service.
    previous: HashMap<String, (OrgId, ServiceId, RawStats)>,
    /// When the last maintenance pass ran.
    last_maintenance: Option<tokio::time::Instant>,
    /// Up to when each resolution was rolled up.
    rolled_until: HashMap<Resolution, DateTime<Utc>>,
}

type CycleFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Collector {
    /// A collector over `platform`'s runtime and store.
    pub fn new(platform: Platform, config: CollectorConfig) -> Self {
        let (stats, _) = watch::channel(CollectorStats::default());
        Self {
            platform,
            config,
            stats,
        }
    }

    /// A handle to read the counters while it runs.
    pub fn handle(&self) -> CollectorHandle {
        CollectorHandle {
            rx: self.stats.subscribe(),
        }
    }

    /// Runs cycles until `shutdown` completes; returns the final counters. The cycle in
    /// progress at shutdown is dropped.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> CollectorStats {
        let interval = self.config.interval.max(Duration::from_millis(1));
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let state = Arc::new(tokio::sync::Mutex::new(CycleState::default()));
        let stats = Arc::new(self.stats);
        let mut running: Option<CycleFuture> = None;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = async { running.as_mut().expect("guarded by the select condition").await },
                    if running.is_some() => {
                    running = None;
                }
                _ = tick.tick() => {
                    if running.is_some() {
                        stats.send_modify(|s| s.skipped += 1);
                        tracing::debug!("metrics cycle still running; tick skipped");
                    } else {
                        running = Some(Box::pin(cycle(
                            self.platform.clone(),
                            self.config,
                            state.clone(),
                            stats.clone(),
                        )));
                    }
                }
            }
        }
        drop(running);
        *stats.borrow()
    }
}

/// One collector cycle: read, compute, write one batch, maintain when due.
async fn cycle(
    platform: Platform,
    config: CollectorConfig,
    state: Arc<tokio::sync::Mutex<CycleState>>,
    stats: Arc<watch::Sender<CollectorStats>>,
) {
    let started = tokio::time::Instant::now();
    let mut state = state.lock().await;
    let mut errors = 0u64;
    let runtime = platform.runtime();
    let selector = platform.selector().with(labels::KIND, "service");
    let containers = match runtime.list_containers(&selector).await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %e, "metrics cycle could not list containers");
            stats.send_modify(|s| {
                s.errors += 1;
                s.cycles += 1;
            });
            return;
        }
    };
    let targets: Vec<(String, OrgId, ServiceId)> = containers
        .into_iter()
        .filter(|c| c.status == ContainerStatus::Running)
        .filter_map(|c| {
            let org = c.labels.get(labels::ORG)?.parse().ok()?;
            let service = c.labels.get(labels::SERVICE)?.parse().ok()?;
            Some((c.id, org, service))
        })
        .collect();
    let read = targets.len() as u64;
    let readings: Vec<_> = futures::stream::iter(targets)
        .map(|(id, org, service)| {
            let runtime = runtime.clone();
            async move {
                let r = runtime.stats_once(&id).await;
                (id, org, service, r)
            }
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect()
        .await;

    let mut samples = Vec::with_capacity(readings.len());
    let mut previous = HashMap::with_capacity(readings.len());
    for (id, org, service, r) in readings {
        match r {
            Ok(raw) => {
                if let Some((_, _, prev)) = state.previous.get(&id)
                    && let Some(s) = metric_sample(org, service, prev, &raw)
                {
                    samples.push(s);
                }
                previous.insert(id, (org, service, raw));
            }
            // Stopped or removed since the listing: nothing to measure.
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(e) => {
                errors += 1;
                tracing::warn!(error = %e, container = %id, "stats read failed");
            }
        }
    }
    // Containers not read this cycle start over next time.
    state.previous = previous;

    let mut written = 0;
    let mut batches = 0;
    if !samples.is_empty() {
        match platform.inner.store.metrics.insert_metrics(&samples).await {
            Ok(n) => {
                written = n;
                batches = 1;
            }
            Err(e) => {
                errors += 1;
                tracing::warn!(error = %e, samples = samples.len(), "metrics batch write failed");
            }
        }
    }

    let due = state
        .last_maintenance
        .is_none_or(|t| t.elapsed() >= config.maintenance_interval);
    let mut maintained = 0;
    if due {
        state.last_maintenance = Some(tokio::time::Instant::now());
        errors += maintain(&platform, &config, &mut state).await;
        maintained = 1;
    }

    let elapsed = started.elapsed();
    stats.send_modify(|s| {
        s.cycles += 1;
        s.samples_written += written;
        s.batches += batches;
        s.maintenance_passes += maintained;
        s.errors += errors;
        s.last_cycle_containers = read;
        s.last_cycle_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    });
}

/// Rollups up to now, then retention; returns the number of failures.
async fn maintain(platform: &Platform, config: &CollectorConfig, state: &mut CycleState) -> u64 {
    let store = &platform.inner.store;
    let now = platform.now();
    let ago = |d: Duration| now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let mut errors = 0;
    for r in [Resolution::Minute, Resolution::Hour, Resolution::Day] {
        let Some(source) = r.source() else { continue };
        // Redo the last bucket rolled too (idempotent), in case samples arrived late; the first
        // pass goes back as far as the source data is kept.
        let since = match state.rolled_until.get(&r) {
            Some(t) => *t - r.width(),
            None => ago(config.retention.of(source)),
        };
        match store.metrics.rollup_metrics(r, since, now).await {
            Ok(_) => {
                state.rolled_until.insert(r, now);
            }
            Err(e) => {
                errors += 1;
                tracing::warn!(error = %e, resolution = r.as_str(), "metrics rollup failed");
            }
        }
    }
    for r in Resolution::ALL {
        if let Err(e) = store
            .metrics
            .delete_metrics_before(r, ago(config.retention.of(r)))
            .await
        {
            errors += 1;
            tracing::warn!(error = %e, resolution = r.as_str(), "metrics retention failed");
        }
    }
    errors
}

impl Platform {
    /// The metrics collector of this platform (see [`Collector`]).
    pub(crate) fn collector(&self, config: CollectorConfig) -> Collector {
        Collector::new(self.clone(), config)
    }

    /// Live stats of a service from two readings [`LIVE_STATS_WINDOW`] apart (see
    /// [`StatsSnapshot`]). Errors: `NotFound` (also for principals who may not see the service),
    /// `Conflict` (never deployed or not running), `Unavailable`.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %service))]
    pub(crate) async fn service_stats(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        service: &str,
    ) -> Result<StatsSnapshot> {
        let (_, _, svc) = self
            .authorize_service(who, org_slug, project, service, Action::ServiceView)
            .await?;
        let container = self.current_container(&svc).await?;
        let runtime = self.runtime();
        let info = runtime
            .inspect_container_opt(&container)
            .await?
            .ok_or_else(|| Error::conflict(format!("service '{service}' has no container")))?;
        let first = runtime.stats_once(&container).await?;
        tokio::time::sleep(LIVE_STATS_WINDOW).await;
        let second = runtime.stats_once(&container).await?;
        Ok(StatsSnapshot::from_readings(&first, &second, &info.limits))
    }

    /// Live stats of a service as a stream: one [`StatsSnapshot`] every `interval` (at least
    /// [`LIVE_STATS_WINDOW`]), each from the reading before it, following the service onto a new
    /// container after an update. A failed reading is an `Err` item and the stream goes on; it ends
    /// when the service is deleted or the caller loses access, and counts against the
    /// [`StreamLimits`](super::StreamLimits). Errors (of the call): as
    /// [`Monitoring::stats`](crate::platform::Monitoring::stats), and `RateLimited` (too many
    /// streams open).
    pub(crate) async fn service_stats_stream(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        service: &str,
        interval: Duration,
    ) -> Result<futures::stream::BoxStream<'static, Result<StatsSnapshot>>> {
        super::policy::check_stream_interval(interval)?;
        let (org, _, svc) = self
            .authorize_service(who, org_slug, project, service, Action::ServiceView)
            .await?;
        struct State {
            platform: Platform,
            service: ServiceId,
            previous: Option<(String, RawStats)>,
            first: bool,
        }
        let state = State {
            platform: self.clone(),
            service: svc.id,
            previous: None,
            first: true,
        };
        let stream = futures::stream::unfold(state, move |mut st| async move {
            loop {
                // Right after a priming reading the next one comes a window later; after a
                // snapshot, an interval later.
                if let Some((_, prev)) = &st.previous {
                    // Counted from the previous reading, so reading time does not add up.
                    let wait = if st.first {
                        LIVE_STATS_WINDOW
                    } else {
                        interval
                    };
                    let elapsed = (chrono::Utc::now() - prev.at)
                        .to_std()
                        .unwrap_or(Duration::ZERO);
                    tokio::time::sleep(wait.saturating_sub(elapsed)).await;
                }
                let svc = match st.platform.inner.store.services.service(st.service).await {
                    Ok(s) => s,
                    Err(e) if e.is_not_found() => return None,
                    Err(e) => return Some((Err(e), st)),
                };
                let read = async {
                    let container = st.platform.current_container(&svc).await?;
                    let runtime = st.platform.runtime();
                    let info = runtime
                        .inspect_container_opt(&container)
                        .await?
                        .ok_or_else(|| Error::conflict("the service has no container"))?;
                    let raw = runtime.stats_once(&container).await?;
                    Ok::<_, Error>((container, info.limits, raw))
                }
                .await;
                match read {
                    Ok((container, limits, raw)) => {
                        let snapshot = match &st.previous {
                            Some((c, prev)) if *c == container => {
                                Some(StatsSnapshot::from_readings(prev, &raw, &limits))
                            }
                            _ => None,
                        };
                        st.previous = Some((container, raw));
                        // The first reading of a container only primes the next one.
                        st.first = snapshot.is_none();
                        if let Some(s) = snapshot {
                            return Some((Ok(s), st));
                        }
                    }
                    Err(e) => {
                        st.previous = None;
                        st.first = true;
                        tokio::time::sleep(interval).await;
                        return Some((Err(e), st));
                    }
                }
            }
        });
        self.limited_stream(
            who,
            org.id,
            svc.project,
            Action::ServiceView,
            stream.boxed(),
        )
    }

    /// Metrics history of a service over `[from, to)`, oldest first, at `step` or, when not
    /// given, at the coarsest resolution giving at least [`MIN_CHART_POINTS`] points
    /// ([`Resolution::for_range`]). Errors: `NotFound` (also for principals who may not see
    /// the service), `InvalidInput` (`from` not before `to`), `Unavailable`.
    ///
    /// The core returns the data only: caas-http draws it as an SVG chart
    /// (`caas_http::render::service_chart`, which replaces the former `Platform::service_chart`
    /// and `render_chart` of this crate).
    // The service path (org, project, name) plus the range, like every service operation.
    #[allow(clippy::too_many_arguments)]
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %service))]
    pub(crate) async fn service_metrics(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        service: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step: Option<Resolution>,
    ) -> Result<Vec<MetricPoint>> {
        let (_, _, svc) = self
            .authorize_service(who, org_slug, project, service, Action::ServiceView)
            .await?;
        if from >= to {
            return Err(Error::invalid("from", "must be before `to`"));
        }
        let resolution = step.unwrap_or_else(|| Resolution::for_range(from, to, MIN_CHART_POINTS));
        let store = &self.inner.store;
        let mut points = store
            .metrics
            .query_metrics(svc.id, resolution, from, to)
            .await?;
        if resolution == Resolution::Raw {
            return Ok(points);
        }
        // Rollups exist only for complete buckets, after the collector's maintenance: the
        // newest part of the range comes from raw samples, summarised the same way.
        let rolled_until = points.last().map_or(from, |p| p.at + resolution.width());
        if rolled_until < to {
            let raw = store
                .metrics
                .query_metrics(svc.id, Resolution::Raw, rolled_until.max(from), to)
                .await?;
            let mut bucket: Vec<MetricPoint> = Vec::new();
            let mut start = None;
            for p in raw {
                let b = resolution.bucket(p.at);
                if let Some(s) = start
                    && s != b
                {
                    if let Some(summary) = MetricPoint::summarise(s, &bucket) {
                        points.push(summary);
                    }
                    bucket.clear();
                }
                start = Some(b);
                bucket.push(p);
            }
            if let Some(s) = start
                && let Some(summary) = MetricPoint::summarise(s, &bucket)
            {
                points.push(summary);
            }
        }
        Ok(points)
    }
}
