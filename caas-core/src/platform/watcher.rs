//! The event watcher: turns the engine's container events into service events (exits, OOM
//! kills, restarts by the engine, health changes), keeping the last log lines of a service
//! that crashed or became unhealthy.
//!
//! - It follows [`ContainerRuntime::events`](crate::ContainerRuntime::events) for this
//!   instance's service containers. When the stream fails or ends it reconnects with
//!   exponential backoff (from [`WatcherConfig::initial_backoff`] up to
//!   [`WatcherConfig::max_backoff`]), and after every reconnect it lists and inspects the
//!   containers again, so what happened during the gap is not lost: a higher restart count, an
//!   exit, an OOM kill or a health change seen then is recorded as if its event had arrived.
//! - An exit (`die`) that is followed by the engine's `stop` within
//!   [`WatcherConfig::stop_grace`] was asked for (a stop, restart or update) and is not
//!   recorded; any other exit is `died` with its exit code, or `oom_killed` when the kernel
//!   killed it. A start that follows such an exit (the restart policy at work), or whose
//!   restart count went up, is `engine_restart`.
//! - `died`, `oom_killed` and a change to `unhealthy` carry the last
//!   [`WatcherConfig::log_lines`] log lines of the container in their message.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Platform;
use crate::ids::ServiceId;
use crate::labels;
use crate::model::ServiceEventKind;
use crate::ports::runtime::{
    ContainerInfo, ContainerStatus, HealthStatus, LogOptions, RuntimeEvent, RuntimeEventKind,
};

/// Settings of the event watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatcherConfig {
    /// First wait before reconnecting (default 500 ms).
    pub initial_backoff: Duration,
    /// Longest wait before reconnecting (default 30 s).
    pub max_backoff: Duration,
    /// How long after an exit a `stop` event marks it as asked for (default 3 s).
    pub stop_grace: Duration,
    /// Log lines kept with a crash or a change to unhealthy (default 50).
    pub log_lines: usize,
}

impl Default for WatcherConfig {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            stop_grace: Duration::from_secs(3),
            log_lines: 50,
        }
    }
}

impl WatcherConfig {
    /// Other backoff bounds.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }
    /// Another stop grace.
    pub fn stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }
}

/// What the watcher did since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatcherStats {
    /// Successful connections to the event stream (the first one included).
    pub connects: u64,
    /// Engine events received.
    pub events: u64,
    /// Service events recorded.
    pub recorded: u64,
    /// Events recorded from a re-listing after a gap rather than from the stream.
    pub recovered: u64,
    /// Failed connections and stream errors.
    pub errors: u64,
}

/// What the watcher last knew of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    service: ServiceId,
    restart_count: u64,
    running: bool,
    health: Option<HealthStatus>,
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Seen {
    fn of(info: &ContainerInfo) -> Option<Self> {
        Some(Self {
            service: info.labels.get(labels::SERVICE)?.parse().ok()?,
            restart_count: info.restart_count,
            running: info.status == ContainerStatus::Running,
            health: info.health,
            finished_at: info.finished_at,
        })
    }
}

/// Exits waiting to see whether a `stop` follows.
struct PendingExit {
    container: String,
    service: ServiceId,
    kind: ServiceEventKind,
    at: Instant,
}

struct Watch {
    platform: Platform,
    config: WatcherConfig,
    seen: HashMap<String, Seen>,
    pending: Vec<PendingExit>,
    stats: WatcherStats,
}

impl Watch {
    /// Lists and inspects every service container; with `record`, what changed since last
    /// seen becomes events (after a gap in the stream).
    async fn relist(&mut self, record: bool) {
        let runtime = self.platform.runtime();
        let selector = self.platform.selector().with(labels::KIND, "service");
        let Ok(list) = runtime.list_containers(&selector).await else {
            self.stats.errors += 1;
            return;
        };
        let mut now_seen = HashMap::new();
        for c in list {
            let Ok(Some(info)) = runtime.inspect_container_opt(&c.id).await else {
                continue;
            };
            let Some(seen) = Seen::of(&info) else {
                continue;
            };
            if record && let Some(before) = self.seen.get(&c.id).copied() {
                for kind in missed(&before, &seen, &info) {
                    self.record(&c.id, seen.service, kind).await;
                    self.stats.recovered += 1;
                }
            }
            now_seen.insert(c.id, seen);
        }
        self.seen = now_seen;
    }

    async fn on_event(&mut self, e: RuntimeEvent) {
        self.stats.events += 1;
        let Some(service) = e
            .labels
            .get(labels::SERVICE)
            .and_then(|s| s.parse::<ServiceId>().ok())
        else {
            return;
        };
        match e.kind {
            RuntimeEventKind::Die { exit_code } => {
                let oom = matches!(
                    self.platform.runtime().inspect_container_opt(&e.container_id).await,
                    Ok(Some(ref i)) if i.oom_killed
                );
                let kind = if oom {
                    ServiceEventKind::OomKilled
                } else {
                    ServiceEventKind::Died { exit_code }
                };
                if let Some(s) = self.seen.get_mut(&e.container_id) {
                    s.running = false;
                }
                self.pending.push(PendingExit {
                    container: e.container_id,
                    service,
                    kind,
                    at: Instant::now(),
                });
            }
            RuntimeEventKind::Oom => {
                // The exit that follows is recorded as the OOM kill.
            }
            RuntimeEventKind::Stop | RuntimeEventKind::Destroy => {
                self.pending.retain(|p| p.container != e.container_id);
                if matches!(e.kind, RuntimeEventKind::Destroy) {
                    self.seen.remove(&e.container_id);
                }
            }
            RuntimeEventKind::Start | RuntimeEventKind::Restart => {
                let info = match self
                    .platform
                    .runtime()
                    .inspect_container_opt(&e.container_id)
                    .await
                {
                    Ok(Some(i)) => i,
                    _ => return,
                };
                let Some(now) = Seen::of(&info) else { return };
                let before = self.seen.insert(e.container_id.clone(), now);
                // A start right after an exit without a `stop` in between is the restart
                // policy at work (asked-for starts and restarts come after a `stop`); a higher
                // restart count says the same when the exit was missed.
                let after_exit = self.pending.iter().any(|p| p.container == e.container_id);
                if after_exit || before.is_some_and(|b| now.restart_count > b.restart_count) {
                    // Restarted by its restart policy: the exit before it was not asked for.
                    self.flush_container(&e.container_id).await;
                    self.record(&e.container_id, service, ServiceEventKind::EngineRestart)
                        .await;
                }
            }
            RuntimeEventKind::Health { status } => {
                let changed = self
                    .seen
                    .get_mut(&e.container_id)
                    .map(|s| s.health.replace(status) != Some(status))
                    .unwrap_or(true);
                if changed {
                    self.record(
                        &e.container_id,
                        service,
                        ServiceEventKind::HealthChanged {
                            status: health_name(status).to_string(),
                        },
                    )
                    .await;
                }
            }
            RuntimeEventKind::Create | RuntimeEventKind::Other { .. } => {}
        }
    }

    /// Records the pending exits of one container now (a restart proved them real).
    async fn flush_container(&mut self, container: &str) {
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.container == container);
        self.pending = rest;
        for p in due {
            self.record(&p.container, p.service, p.kind).await;
        }
    }

    /// Records the exits whose grace passed without a `stop`.
    async fn flush_due(&mut self) {
        let grace = self.config.stop_grace;
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.at.elapsed() >= grace);
        self.pending = rest;
        for p in due {
            self.record(&p.container, p.service, p.kind).await;
        }
    }

    async fn record(&mut self, container: &str, service: ServiceId, kind: ServiceEventKind) {
        let Ok(svc) = self.platform.inner.store.services.service(service).await else {
            return;
        };
        let mut message = describe(&kind);
        let with_logs = matches!(
            &kind,
            ServiceEventKind::Died { .. } | ServiceEventKind::OomKilled
        ) || matches!(&kind, ServiceEventKind::HealthChanged { status } if status == "unhealthy");
        if with_logs {
            let tail = last_lines(&self.platform, container, self.config.log_lines).await;
            if !tail.is_empty() {
                message.push_str("; last log lines:\n");
                message.push_str(&tail);
            }
        }
        self.platform.record_event(&svc, kind, &message).await;
        self.stats.recorded += 1;
    }
}

/// What happened to a container between two inspections (after a gap in the event stream).
fn missed(before: &Seen, now: &Seen, info: &ContainerInfo) -> Vec<ServiceEventKind> {
    let mut out = Vec::new();
    let exited_again = now.finished_at.is_some() && now.finished_at != before.finished_at;
    if now.restart_count > before.restart_count {
        out.push(ServiceEventKind::EngineRestart);
    } else if before.running && !now.running && exited_again {
        out.push(if info.oom_killed {
            ServiceEventKind::OomKilled
        } else {
            ServiceEventKind::Died {
                exit_code: info.exit_code.unwrap_or(-1),
            }
        });
    }
    if now.health != before.health
        && let Some(h) = now.health
    {
        out.push(ServiceEventKind::HealthChanged {
            status: health_name(h).to_string(),
        });
    }
    out
}

fn health_name(h: HealthStatus) -> &'static str {
    match h {
        HealthStatus::Starting => "starting",
        HealthStatus::Healthy => "healthy",
        HealthStatus::Unhealthy => "unhealthy",
    }
}

fn describe(kind: &ServiceEventKind) -> String {
    match kind {
        ServiceEventKind::Died { exit_code } => {
            format!("the container exited with code {exit_code}")
        }
        ServiceEventKind::OomKilled => {
            "the kernel killed the container for exceeding its memory limit".into()
        }
        ServiceEventKind::EngineRestart => "the engine restarted the container".into(),
        ServiceEventKind::HealthChanged { status } => format!("health is now {status}"),
        _ => String::new(),
    }
}

/// The last `n` log lines of a container, one per line, at most 16 KiB.
pub(super) async fn last_lines(platform: &Platform, container: &str, n: usize) -> String {
    let Ok(stream) = platform
        .runtime()
        .logs(container, &LogOptions::tail(n))
        .await
    else {
        return String::new();
    };
    let lines: Vec<String> = stream
        .filter_map(|l| async move { l.ok().map(|l| l.text) })
        .collect()
        .await;
    let mut text = lines.join("\n");
    if text.len() > 16 * 1024 {
        let cut = text.len() - 16 * 1024;
        let start = (cut..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        text = text.split_off(start);
    }
    text
}

/// Watches the engine's events until `shutdown` completes (see the module docs); returns its
/// counters. The loop of [`Platform::run_event_watcher`].
pub(super) async fn watch_events(
    platform: Platform,
    config: WatcherConfig,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> WatcherStats {
    let mut w = Watch {
        platform,
        config,
        seen: HashMap::new(),
        pending: Vec::new(),
        stats: WatcherStats::default(),
    };
    tokio::pin!(shutdown);
    let mut backoff = config.initial_backoff;
    let mut first = true;
    loop {
        let selector = w.platform.selector().with(labels::KIND, "service");
        let runtime = w.platform.runtime();
        let stream = tokio::select! {
            () = &mut shutdown => return w.stats,
            s = runtime.events(&selector) => s,
        };
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                w.stats.errors += 1;
                tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "event stream unavailable; retrying");
                tokio::select! {
                    () = &mut shutdown => return w.stats,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(config.max_backoff);
                continue;
            }
        };
        w.stats.connects += 1;
        backoff = config.initial_backoff;
        // Subscribed first, then listed: nothing falls between the two.
        w.relist(!first).await;
        first = false;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                () = &mut shutdown => {
                    w.flush_due().await;
                    return w.stats;
                }
                _ = tick.tick() => w.flush_due().await,
                item = stream.next() => match item {
                    Some(Ok(e)) => w.on_event(e).await,
                    Some(Err(e)) => {
                        w.stats.errors += 1;
                        tracing::warn!(error = %e, "event stream failed; reconnecting");
                        break;
                    }
                    None => {
                        tracing::info!("event stream ended; reconnecting");
                        break;
                    }
                },
            }
        }
        tokio::select! {
            () = &mut shutdown => return w.stats,
            () = tokio::time::sleep(backoff) => {}
        }
    }
}
