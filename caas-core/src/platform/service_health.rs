//! A service's health: its container's state as the engine reports it, restarts and uptime
//! over a window reconstructed from the service's events, and the last log lines when it is
//! not well.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::Platform;
use crate::auth::{Action, Principal};
use crate::error::Result;
use crate::model::{ServiceEvent, ServiceEventKind, ServiceStatus};
use crate::ports::runtime::{ContainerStatus, HealthStatus};
use crate::validate::Name;

/// Log lines shown with a service that is unhealthy or not running.
pub const HEALTH_LOG_LINES: usize = 50;
/// Events read to reconstruct a window (newest first).
const EVENTS_READ: u32 = 1000;

/// The current container of a service, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerHealth {
    /// Runtime id.
    pub id: String,
    /// State.
    pub state: ContainerStatus,
    /// Health, when a check is configured.
    pub health: Option<HealthStatus>,
    /// Restarts by the engine since the container was created.
    pub restart_count: u64,
    /// Killed by the OOM killer on its last exit.
    pub oom_killed: bool,
    /// Exit code of the last exit.
    pub exit_code: Option<i64>,
    /// Last start.
    pub started_at: Option<DateTime<Utc>>,
    /// Last exit.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A service's health over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceHealth {
    /// The service.
    pub service: Name,
    /// Its status as the platform knows it.
    pub status: ServiceStatus,
    /// Its container now (`None` when it has none).
    pub container: Option<ContainerHealth>,
    /// Start of the window (not before the service was created).
    pub since: DateTime<Utc>,
    /// Share of the window the service was up, in percent (from its events).
    pub uptime_percent: f64,
    /// Exits, OOM kills and engine restarts within the window, newest first.
    pub restarts: Vec<ServiceEvent>,
    /// The last log lines, when the container is unhealthy or not running.
    pub last_logs: Vec<String>,
}

/// Whether an event leaves the service up (`Some(true)`), down (`Some(false)`) or says
/// nothing about it.
fn up_after(kind: &ServiceEventKind) -> Option<bool> {
    match kind {
        ServiceEventKind::Deployed
        | ServiceEventKind::Started
        | ServiceEventKind::Restarted
        | ServiceEventKind::EngineRestart => Some(true),
        ServiceEventKind::Died { .. }
        | ServiceEventKind::OomKilled
        | ServiceEventKind::Stopped
        | ServiceEventKind::Lost
        | ServiceEventKind::Deleted => Some(false),
        _ => None,
    }
}

/// The share of `[since, now]` a service was up, in percent, from its events (newest first):
/// the state at `since` is the one the last earlier event left; before any event, down.
pub fn uptime_percent(events: &[ServiceEvent], since: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    let total = (now - since).num_milliseconds();
    if total <= 0 {
        return 0.0;
    }
    let mut oldest_first: Vec<&ServiceEvent> = events.iter().collect();
    oldest_first.sort_by_key(|e| e.at);
    let mut up = oldest_first
        .iter()
        .filter(|e| e.at <= since)
        .filter_map(|e| up_after(&e.kind))
        .next_back()
        .unwrap_or(false);
    let mut from = since;
    let mut up_ms = 0i64;
    for e in oldest_first.iter().filter(|e| e.at > since && e.at <= now) {
        let Some(next) = up_after(&e.kind) else {
            continue;
        };
        if up {
            up_ms += (e.at - from).num_milliseconds();
        }
        up = next;
        from = e.at;
    }
    if up {
        up_ms += (now - from).num_milliseconds();
    }
    (up_ms as f64 / total as f64 * 100.0).clamp(0.0, 100.0)
}

impl Platform {
    /// A service's health over the last `window` (see [`ServiceHealth`]). Errors: `NotFound`,
    /// `Unavailable`.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %service))]
    pub(crate) async fn service_health(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        service: &str,
        window: Duration,
    ) -> Result<ServiceHealth> {
        super::policy::check_health_window(window)?;
        let (_, _, svc) = self
            .authorize_service(who, org_slug, project, service, Action::ServiceView)
            .await?;
        let now = self.now();
        // Time before the service existed is not downtime.
        let since = (now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::days(1)))
            .max(svc.created_at);
        let events = self
            .inner
            .store
            .history
            .list_events(svc.id, EVENTS_READ)
            .await?;
        let uptime = uptime_percent(&events, since, now);
        let restarts = events
            .iter()
            .filter(|e| e.at >= since)
            .filter(|e| {
                matches!(
                    e.kind,
                    ServiceEventKind::Died { .. }
                        | ServiceEventKind::OomKilled
                        | ServiceEventKind::EngineRestart
                )
            })
            .cloned()
            .collect();
        let mut container = None;
        let mut last_logs = Vec::new();
        if let Ok(id) = self.current_container(&svc).await
            && let Some(info) = self.runtime().inspect_container_opt(&id).await?
        {
            let unwell = info.status != ContainerStatus::Running
                || info.health == Some(HealthStatus::Unhealthy);
            if unwell {
                let tail = super::watcher::last_lines(self, &id, HEALTH_LOG_LINES).await;
                last_logs = tail.lines().map(String::from).collect();
            }
            container = Some(ContainerHealth {
                id: info.id,
                state: info.status,
                health: info.health,
                restart_count: info.restart_count,
                oom_killed: info.oom_killed,
                exit_code: info.exit_code,
                started_at: info.started_at,
                finished_at: info.finished_at,
            });
        }
        Ok(ServiceHealth {
            service: svc.name,
            status: svc.status,
            container,
            since,
            uptime_percent: uptime,
            restarts,
            last_logs,
        })
    }

    /// A service's events, newest first, at most `limit` (capped at 1000). Errors:
    /// `NotFound`, `Unavailable`.
    pub(crate) async fn service_events(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        service: &str,
        limit: u32,
    ) -> Result<Vec<ServiceEvent>> {
        super::policy::check_limit(limit, super::policy::MAX_EVENTS)?;
        let (_, _, svc) = self
            .authorize_service(who, org_slug, project, service, Action::ServiceView)
            .await?;
        self.inner
            .store
            .history
            .list_events(svc.id, limit.min(1000))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EventId, OrgId, ServiceId};

    fn ev(kind: ServiceEventKind, at: DateTime<Utc>) -> ServiceEvent {
        ServiceEvent {
            id: EventId::new(),
            org: OrgId::new(),
            service: ServiceId::new(),
            kind,
            message: String::new(),
            at,
        }
    }

    #[test]
    fn uptime_follows_up_and_down_events_across_the_window() {
        let now = Utc::now();
        let m = |min: i64| now - chrono::Duration::minutes(min);
        let since = m(100);
        // Up before the window, down for 10 minutes inside it, up again.
        let events = vec![
            ev(ServiceEventKind::Deployed, m(200)),
            ev(ServiceEventKind::Died { exit_code: 1 }, m(50)),
            ev(
                ServiceEventKind::HealthChanged { status: "x".into() },
                m(45),
            ),
            ev(ServiceEventKind::EngineRestart, m(40)),
        ];
        let u = uptime_percent(&events, since, now);
        assert!((u - 90.0).abs() < 0.01, "{u}");
        assert_eq!(uptime_percent(&[], since, now), 0.0);
        let always = vec![ev(ServiceEventKind::Started, m(500))];
        assert_eq!(uptime_percent(&always, since, now), 100.0);
        // Deployed in the middle of the window.
        let late = vec![ev(ServiceEventKind::Deployed, m(25))];
        assert!((uptime_percent(&late, since, now) - 25.0).abs() < 0.01);
    }
}
