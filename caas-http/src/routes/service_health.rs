//! Health and events of one service, under
//! `/v1/orgs/{org}/projects/{project}/services/{service}`:
//!
//! - `GET …/health`: the container's state as the engine reports it, restarts and uptime over
//!   the last `window_secs` (default a day, at most 30 days) reconstructed from the service's
//!   events, and the last log lines when the service is unhealthy or not running;
//! - `GET …/events`: what happened to the service, newest first (`limit`, default 100, at
//!   most 1000).
//!
//! Exits, OOM kills, engine restarts and health changes are recorded by the event watcher,
//! which the embedder (or the reference server) runs; deploys, starts and stops by the
//! platform itself. Both routes are open to viewers; unknown or bad query parameters are 422
//! naming the parameter. The `*Doc` types only document the answers; the OpenAPI test
//! compares them with real answers.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use caas_core::Error;
use caas_core::model::ServiceEvent;
use caas_core::platform::ServiceHealth;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::ServicePath;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, PathParams, QueryParams};
use crate::{AppState, schema};

/// Health window when `window_secs` is not given: a day.
const DEFAULT_HEALTH_WINDOW_SECS: u64 = 86_400;
/// The longest health window: 30 days.
const MAX_HEALTH_WINDOW_SECS: u64 = 30 * 86_400;
/// Events returned when `limit` is not given.
const DEFAULT_EVENTS: u32 = 100;
/// Most events one answer holds.
const MAX_EVENTS: u32 = 1_000;

/// `?window_secs=`: the window health is computed over.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthQuery {
    /// Seconds back from now, 1-2592000 (30 days; default 86400, a day).
    #[serde(default)]
    window_secs: Option<u64>,
}

/// `?limit=`: how many events.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    /// Most events, newest first, 1-1000 (default 100).
    #[serde(default)]
    limit: Option<u32>,
}

/// A container's state as the engine reports it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum ContainerStateDoc {
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

/// A container's health as its health check reports it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum ContainerHealthStatusDoc {
    /// Within the start period.
    Starting,
    /// Passing.
    Healthy,
    /// Failing.
    Unhealthy,
}

/// The current container of a service, as the engine reports it.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ContainerHealthDoc {
    /// Runtime id.
    id: String,
    /// State.
    state: ContainerStateDoc,
    /// Health, when a check is configured.
    health: Option<ContainerHealthStatusDoc>,
    /// Restarts by the engine since the container was created.
    restart_count: u64,
    /// Killed by the OOM killer on its last exit.
    oom_killed: bool,
    /// Exit code of the last exit.
    exit_code: Option<i64>,
    /// Last start.
    started_at: Option<DateTime<Utc>>,
    /// Last exit.
    finished_at: Option<DateTime<Utc>>,
}

/// What happened to a service.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum ServiceEventKindDoc {
    /// A deployment became active.
    Deployed,
    /// A deployment failed and was rolled back.
    DeployFailed {
        /// Why.
        reason: String,
    },
    /// Started on request.
    Started,
    /// Stopped on request.
    Stopped,
    /// Restarted on request.
    Restarted,
    /// The container exited without being asked to.
    Died {
        /// Exit code.
        exit_code: i64,
    },
    /// The kernel killed the container for exceeding its memory limit.
    OomKilled,
    /// The engine restarted the container (its restart policy).
    EngineRestart,
    /// The health status changed.
    HealthChanged {
        /// `healthy`, `unhealthy` or `starting`.
        status: String,
    },
    /// The reconciler found the container missing.
    Lost,
    /// The service was deleted.
    Deleted,
    /// A volume the service mounts reached the warning threshold of its size.
    VolumeAlmostFull {
        /// The volume's name.
        volume: String,
        /// How full, in percent of its size.
        percent: u32,
    },
    /// A volume the service mounts is full.
    VolumeFull {
        /// The volume's name.
        volume: String,
    },
    /// Paused (frozen) for a consistent copy of a volume it mounts.
    Paused,
    /// Thawed after being paused.
    Unpaused,
    /// A volume the service mounts was restored from a backup.
    VolumeRestored {
        /// The volume's name.
        volume: String,
        /// The backup's id.
        backup: String,
    },
}

/// Something that happened to a service.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ServiceEventDoc {
    /// Id.
    id: Uuid,
    /// The organization's id.
    org: Uuid,
    /// The service's id.
    service: Uuid,
    /// What happened.
    kind: ServiceEventKindDoc,
    /// Detail: for exits, OOM kills and a change to unhealthy, the last log lines.
    message: String,
    /// When.
    at: DateTime<Utc>,
}

/// A service's health over a window.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ServiceHealthDoc {
    /// The service's name.
    service: String,
    /// Its status as the platform knows it.
    status: schema::ServiceStatus,
    /// Its container now (`null` when it has none).
    container: Option<ContainerHealthDoc>,
    /// Start of the window.
    since: DateTime<Utc>,
    /// Share of the window the service was up, in percent (from its events).
    uptime_percent: f64,
    /// Exits, OOM kills and engine restarts within the window, newest first.
    restarts: Vec<ServiceEventDoc>,
    /// The last log lines, when the container is unhealthy or not running.
    last_logs: Vec<String>,
}

/// The service's health over the last `window_secs`: its container's state, restarts and
/// uptime, and the last log lines when it is unhealthy or not running.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/health",
    tag = "monitoring",
    params(ServicePath, HealthQuery),
    responses(
        (status = 200, description = "Health over the window", body = ServiceHealthDoc),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
        (status = 422, description = "Invalid query; `details.field` names the parameter", body = ErrorBody),
    )
)]
pub(crate) async fn service_health(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
    QueryParams(q): QueryParams<HealthQuery>,
) -> Result<Json<ServiceHealth>, ApiError> {
    let secs = q.window_secs.unwrap_or(DEFAULT_HEALTH_WINDOW_SECS);
    if !(1..=MAX_HEALTH_WINDOW_SECS).contains(&secs) {
        return Err(Error::invalid(
            "window_secs",
            format!("must be between 1 and {MAX_HEALTH_WINDOW_SECS} (30 days)"),
        )
        .into());
    }
    Ok(Json(
        s.platform
            .service_health(
                &who,
                &p.org,
                &p.project,
                &p.service,
                Duration::from_secs(secs),
            )
            .await?,
    ))
}

/// The service's events, newest first: deploys, starts and stops, exits, OOM kills, engine
/// restarts, health changes, volume warnings and restores.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/events",
    tag = "monitoring",
    params(ServicePath, EventsQuery),
    responses(
        (status = 200, description = "Events, newest first", body = Vec<ServiceEventDoc>),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
        (status = 422, description = "Invalid query; `details.field` names the parameter", body = ErrorBody),
    )
)]
pub(crate) async fn service_events(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
    QueryParams(q): QueryParams<EventsQuery>,
) -> Result<Json<Vec<ServiceEvent>>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_EVENTS);
    if !(1..=MAX_EVENTS).contains(&limit) {
        return Err(Error::invalid("limit", format!("must be between 1 and {MAX_EVENTS}")).into());
    }
    Ok(Json(
        s.platform
            .service_events(&who, &p.org, &p.project, &p.service, limit)
            .await?,
    ))
}
