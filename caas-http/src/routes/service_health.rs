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
//! naming the parameter.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use caas_core::model::ServiceEvent;
use caas_core::platform::ServiceHealth;
use caas_core::platform::policy;
use serde::Deserialize;
use utoipa::IntoParams;

use super::ServicePath;
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, PathParams, QueryParams};

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

/// The service's health over the last `window_secs`: its container's state, restarts and
/// uptime, and the last log lines when it is unhealthy or not running.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/health",
    tag = "monitoring",
    params(ServicePath, HealthQuery),
    responses(
        (status = 200, description = "Health over the window", body = ServiceHealth),
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
    // The window's bounds are the platform's (caas_core::platform::policy).
    let window = q
        .window_secs
        .map_or(policy::DEFAULT_HEALTH_WINDOW, Duration::from_secs);
    Ok(Json(
        s.platform
            .monitoring()
            .health(&who, &p.to_ref(), window)
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
        (status = 200, description = "Events, newest first", body = Vec<ServiceEvent>),
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
    let limit = q.limit.unwrap_or(policy::DEFAULT_EVENTS);
    Ok(Json(
        s.platform
            .monitoring()
            .events(&who, &p.to_ref(), limit)
            .await?,
    ))
}
