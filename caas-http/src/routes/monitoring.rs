//! Measurements of one service, under `/v1/orgs/{org}/projects/{project}/services/{service}`
//! (its health and events are in [`super::service_health`]):
//!
//! - `GET …/stats`: live numbers from two readings 500 ms apart (on Docker about a second);
//! - `GET …/stats/stream`: the same as Server-Sent Events — one `stats` event per snapshot
//!   every `interval_ms` (default 2000, 500-60000), an `error` event (data: an error body)
//!   for a reading that failed, after which the stream goes on, and a keep-alive comment every
//!   15 s; it ends when the service is deleted;
//! - `GET …/metrics`: the history the metrics collector wrote, over `[from, to)` (RFC 3339;
//!   `to` defaults to now, `from` to an hour before `to`), at `step` (`raw`, `minute`, `hour`,
//!   `day`) or, without one, the coarsest resolution giving at least 60 points — for the
//!   default hour, minute points. Rolled-up points exist for complete buckets only, once the
//!   collector's maintenance pass (every minute) has rolled them up: the last minute or two
//!   of a range show in `step=raw` only;
//! - `GET …/metrics.svg`: the same range drawn as an SVG chart of one `metric` (`cpu`,
//!   `memory`, `pids`; default `cpu`).
//!
//! Every route is open to viewers. Unknown query parameters, bad times, steps and metrics are
//! 422 naming the parameter. Defaults are computed from the server's clock.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use caas_core::model::{MetricPoint, Resolution};
use caas_core::platform::StatsSnapshot;
use caas_core::platform::policy;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use super::ServicePath;
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, PathParams, QueryParams};
use crate::render::{self, ChartMetric};

/// `?interval_ms=`: how often the stream sends a snapshot.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamQuery {
    /// Milliseconds between snapshots, 500-60000 (default 2000).
    #[serde(default)]
    interval_ms: Option<u64>,
}

/// No query parameters: any is refused (422), as on every monitoring route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoQuery {}

/// A time range and its resolution.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricsQuery {
    /// Start (RFC 3339, inclusive; encode `+` as `%2B`). Default: an hour before `to`.
    #[serde(default)]
    from: Option<DateTime<Utc>>,
    /// End (RFC 3339, exclusive). Default: now.
    #[serde(default)]
    to: Option<DateTime<Utc>>,
    /// Resolution. Default: the coarsest one giving at least 60 points over the range
    /// (`minute` for an hour). Rolled-up points cover complete buckets only: the newest
    /// minutes show in `raw` only.
    #[serde(default)]
    step: Option<Resolution>,
}

/// A chart: which metric, over which range, at which resolution.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChartQuery {
    /// The metric drawn (default `cpu`).
    #[serde(default)]
    metric: Option<ChartMetric>,
    /// Start (RFC 3339, inclusive; encode `+` as `%2B`). Default: an hour before `to`.
    #[serde(default)]
    from: Option<DateTime<Utc>>,
    /// End (RFC 3339, exclusive). Default: now.
    #[serde(default)]
    to: Option<DateTime<Utc>>,
    /// Resolution. Default: the coarsest one giving at least 60 points over the range.
    #[serde(default)]
    step: Option<Resolution>,
}

/// `[from, to)` with the defaults: `to` now, `from` the platform's default range before `to`.
fn range(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> (DateTime<Utc>, DateTime<Utc>) {
    let to = to.unwrap_or_else(Utc::now);
    let from = from.unwrap_or_else(|| {
        to.checked_sub_signed(policy::DEFAULT_METRICS_RANGE)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    });
    (from, to)
}

/// The stream interval asked for, or the platform's default (the platform checks its bounds).
fn stream_interval(interval_ms: Option<u64>) -> Duration {
    interval_ms.map_or(policy::DEFAULT_STREAM_INTERVAL, Duration::from_millis)
}

/// Live stats of the service's container, from two readings 500 ms apart.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/stats",
    tag = "monitoring",
    params(ServicePath),
    responses(
        (status = 200, description = "CPU, memory, pids, network and block IO now", body = StatsSnapshot),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
        (status = 409, description = "The service was never deployed or is not running", body = ErrorBody),
        (status = 422, description = "A query parameter (this route takes none); `details.field` names it", body = ErrorBody),
    )
)]
pub(crate) async fn service_stats(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
    QueryParams(NoQuery {}): QueryParams<NoQuery>,
) -> Result<Json<StatsSnapshot>, ApiError> {
    Ok(Json(
        s.platform.monitoring().stats(&who, &p.to_ref()).await?,
    ))
}

/// Live stats as Server-Sent Events: one `stats` event (data: a `StatsSnapshot`) every
/// `interval_ms`, following the service onto a new container after an update; an `error`
/// event (data: an error body, e.g. `CONFLICT` while the service is stopped) for a reading
/// that failed, after which the stream goes on; a keep-alive comment every 15 s. The stream
/// ends when the service is deleted, or its caller's access or credentials are revoked.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/stats/stream",
    tag = "monitoring",
    params(ServicePath, StreamQuery),
    responses(
        (status = 200, description = "`stats` events (data: `StatsSnapshot`) and `error` events (data: `ErrorBody`)", content(
            (String = "text/event-stream"),
        )),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
        (status = 422, description = "Invalid query; `details.field` names the parameter", body = ErrorBody),
        (status = 429, description = "Too many streams open for the user or the organization, or too many requests; `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub(crate) async fn service_stats_stream(
    State(s): State<AppState>,
    parts: http::request::Parts,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
    QueryParams(q): QueryParams<StreamQuery>,
) -> Result<Response, ApiError> {
    let interval = stream_interval(q.interval_ms);
    let snapshots = s
        .platform
        .monitoring()
        .stats_stream(&who, &p.to_ref(), interval)
        .await?;
    let events = snapshots.map(|reading| match reading {
        Ok(snapshot) => Event::default().event("stats").json_data(snapshot),
        Err(e) => Event::default()
            .event("error")
            .json_data(ApiError::from(e).parts().1),
    });
    let events = crate::limits::until_revoked(&s, &who, parts, events);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The service's metrics history over `[from, to)`, oldest first.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/metrics",
    tag = "monitoring",
    params(ServicePath, MetricsQuery),
    responses(
        (status = 200, description = "Points, oldest first (empty when nothing was collected)", body = Vec<MetricPoint>),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
        (status = 422, description = "Invalid query (`from` not before `to`, a bad time or step); `details.field` names the parameter", body = ErrorBody),
    )
)]
pub(crate) async fn service_metrics(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
    QueryParams(q): QueryParams<MetricsQuery>,
) -> Result<Json<Vec<MetricPoint>>, ApiError> {
    let (from, to) = range(q.from, q.to);
    Ok(Json(
        s.platform
            .monitoring()
            .metrics(&who, &p.to_ref(), from, to, q.step)
            .await?,
    ))
}

/// One metric of the service over `[from, to)` as an SVG chart (720 × 280): the average as
/// a line, each bucket's minimum and maximum as a band, UTC times on the x axis.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/metrics.svg",
    tag = "monitoring",
    params(ServicePath, ChartQuery),
    responses(
        (status = 200, description = "An SVG document (axes and \"no data in this range\" when nothing was collected)", content(
            (String = "image/svg+xml"),
        )),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
        (status = 422, description = "Invalid query (`from` not before `to`, a bad time, step or metric); `details.field` names the parameter", body = ErrorBody),
    )
)]
pub(crate) async fn service_chart(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
    QueryParams(q): QueryParams<ChartQuery>,
) -> Result<Response, ApiError> {
    let (from, to) = range(q.from, q.to);
    let metric = q.metric.unwrap_or(ChartMetric::Cpu);
    let points = s
        .platform
        .monitoring()
        .metrics(&who, &p.to_ref(), from, to, q.step)
        .await?;
    let svg = render::service_chart(&p.project, &p.service, metric, &points, from, to)?;
    Ok(([(http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}
