//! `/v1/orgs/{org}/projects/{project}/services/...`: apps and managed databases, their
//! lifecycle and their logs.
//!
//! Creating a service takes one JSON shape with exactly one of two members:
//!
//! - an app: `{"name": "web", "spec": {"image": "caas/busybox:latest", ...}}`;
//! - a database: `{"name": "db", "database": {"engine": "postgres"}}` (optional `image`,
//!   `resources`, `volume_size_bytes`). The 201 answer then carries the generated
//!   `credentials` next to the `service` — the only time they are shown.
//!
//! Services are always returned with secret environment values redacted.

use std::collections::VecDeque;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use caas_core::Error;
use caas_core::model::{DatabaseEngine, ResourceLimits, Service, ServiceSpec};
use caas_core::platform::{DeployApp, DeployDatabase, DeployedDatabase, LifecycleOutcome};
use caas_core::ports::runtime::{LogLine, LogOptions};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{DeleteQuery, ProjectPath, ServicePath};
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams, QueryParams};

/// Most lines a JSON log answer holds (the last ones); use `tail` or `follow` for more control.
pub use caas_core::platform::policy::MAX_LOG_LINES;

/// A new service: exactly one of `spec` (an app) or `database` (a managed database).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateService {
    name: String,
    #[serde(default)]
    spec: Option<ServiceSpec>,
    #[serde(default)]
    database: Option<DatabaseRequest>,
}

/// A managed database to provision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DatabaseRequest {
    /// The engine.
    engine: DatabaseEngine,
    /// Image override (default: the platform's image for the engine).
    #[serde(default)]
    image: Option<String>,
    /// Limits (default: 500 millicores, 512 MiB, 256 pids).
    #[serde(default)]
    resources: Option<ResourceLimits>,
    /// Size of the data volume counted against the storage quota (default 1 GiB).
    #[serde(default)]
    volume_size_bytes: Option<u64>,
}

/// An app to deploy.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct NewApp {
    /// Service name, unique in the project (DNS-label rules); its host name on the network.
    name: String,
    /// What to run.
    spec: ServiceSpec,
}

/// A managed database to provision.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct NewDatabase {
    /// Service name, unique in the project (DNS-label rules); the host name apps use.
    name: String,
    /// The database.
    #[schema(value_type = DatabaseRequest)]
    database: (),
}

/// A new service: an app (`spec`) or a managed database (`database`), never both.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
// Documentation only (requests are read into `CreateService`): never built, never moved.
#[allow(dead_code, clippy::large_enum_variant)]
pub(crate) enum NewService {
    /// An app.
    App(NewApp),
    /// A database.
    Database(NewDatabase),
}

/// The answer to creating a service: the service for an app, the service and its
/// credentials for a database.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
// Documentation only (handlers answer `Service` or `DeployedDatabase`): never built.
#[allow(dead_code, clippy::large_enum_variant)]
pub(crate) enum CreatedService {
    /// An app.
    App(Service),
    /// A database.
    Database(DeployedDatabase),
}

/// Which logs to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogsQuery {
    /// Only the last N lines.
    #[serde(default)]
    tail: Option<usize>,
    /// Only lines at or after this time (RFC 3339; encode `+` as `%2B`).
    #[serde(default)]
    since: Option<DateTime<Utc>>,
    /// Keep the connection open and stream new lines as Server-Sent Events.
    #[serde(default)]
    follow: Option<bool>,
}

/// The project's services.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/services",
    tag = "services",
    params(ProjectPath),
    responses(
        (status = 200, description = "Services (secrets redacted)", body = Vec<Service>),
        (status = 404, description = "No such organization (or not a member) or project", body = ErrorBody),
    )
)]
pub(crate) async fn list_services(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ProjectPath>,
) -> Result<Json<Vec<Service>>, ApiError> {
    Ok(Json(s.platform.services().list(&who, &p.to_ref()).await?))
}

/// Deploys an app or provisions a database and starts it. Quota is reserved first; a failure
/// at any step leaves nothing behind.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/projects/{project}/services",
    tag = "services",
    params(ProjectPath),
    request_body = NewService,
    responses(
        (status = 201, description = "Running: the service for an app; the service and its credentials (shown once) for a database", body = CreatedService),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), project or image", body = ErrorBody),
        (status = 409, description = "The name is taken (`ALREADY_EXISTS`), the plan's limits would be exceeded (`QUOTA_EXCEEDED`, dimensions in `details`) or the subscription is inactive (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names the field", body = ErrorBody),
    )
)]
pub(crate) async fn create_service(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ProjectPath>,
    JsonBody(body): JsonBody<CreateService>,
) -> Result<Response, ApiError> {
    match (body.spec, body.database) {
        (Some(spec), None) => {
            let service = s
                .platform
                .services()
                .deploy_app(&who, &p.to_ref(), DeployApp::new(body.name, spec))
                .await?;
            Ok((StatusCode::CREATED, Json(service)).into_response())
        }
        (None, Some(db)) => {
            let mut new = DeployDatabase::new(body.name, db.engine);
            new.image = db.image;
            new.resources = db.resources;
            new.volume_size_bytes = db.volume_size_bytes;
            let deployed = s
                .platform
                .services()
                .deploy_database(&who, &p.to_ref(), new)
                .await
                .map_err(database_field)?;
            Ok((StatusCode::CREATED, Json(deployed)).into_response())
        }
        _ => Err(Error::invalid(
            "spec",
            "give exactly one of `spec` (an app) or `database` (a managed database)",
        )
        .into()),
    }
}

/// Names a database's invalid field as the request does (`database.resources.memory_bytes`
/// rather than the generated spec's `spec.resources.memory_bytes`).
fn database_field(e: Error) -> Error {
    let Error::InvalidInput { field, reason } = e else {
        return e;
    };
    let field = match field.as_str() {
        "volume_size_bytes" => "database.volume_size_bytes".to_string(),
        f if f.starts_with("spec.resources") || f == "spec.image" => {
            format!("database.{}", &f["spec.".len()..])
        }
        _ => field,
    };
    Error::InvalidInput { field, reason }
}

/// A service by name.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}",
    tag = "services",
    params(ServicePath),
    responses(
        (status = 200, description = "The service (secrets redacted)", body = Service),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
    )
)]
pub(crate) async fn get_service(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
) -> Result<Json<Service>, ApiError> {
    Ok(Json(s.platform.services().get(&who, &p.to_ref()).await?))
}

/// Deletes a service: its containers, routes and record; releases its quota. Volumes are kept
/// unless `?volumes=true`.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}",
    tag = "services",
    params(ServicePath, DeleteQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
    )
)]
pub(crate) async fn delete_service(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
    QueryParams(q): QueryParams<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    s.platform
        .services()
        .delete(&who, &p.to_ref(), q.options())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a stopped service; a running one is left alone (`changed: false`).
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/start",
    tag = "services",
    params(ServicePath),
    responses(
        (status = 200, description = "What the operation did", body = LifecycleOutcome),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
        (status = 409, description = "The service was never deployed", body = ErrorBody),
    )
)]
pub(crate) async fn start_service(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
) -> Result<Json<LifecycleOutcome>, ApiError> {
    Ok(Json(s.platform.services().start(&who, &p.to_ref()).await?))
}

/// Stops a running service gracefully; a stopped one is left alone (`changed: false`).
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/stop",
    tag = "services",
    params(ServicePath),
    responses(
        (status = 200, description = "What the operation did", body = LifecycleOutcome),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
        (status = 409, description = "The service was never deployed", body = ErrorBody),
    )
)]
pub(crate) async fn stop_service(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
) -> Result<Json<LifecycleOutcome>, ApiError> {
    Ok(Json(s.platform.services().stop(&who, &p.to_ref()).await?))
}

/// Restarts a service (starting it if it was stopped).
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/restart",
    tag = "services",
    params(ServicePath),
    responses(
        (status = 200, description = "What the operation did", body = LifecycleOutcome),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
        (status = 409, description = "The service was never deployed", body = ErrorBody),
    )
)]
pub(crate) async fn restart_service(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
) -> Result<Json<LifecycleOutcome>, ApiError> {
    Ok(Json(
        s.platform.services().restart(&who, &p.to_ref()).await?,
    ))
}

/// The logs of the service's current container: a JSON array of lines (at most the last
/// 10 000), or with `follow=true` a Server-Sent Events stream — one `log` event per line
/// (data: the line as JSON), and an `error` event (data: an error body) if the runtime fails
/// mid-stream, after which the stream ends.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/logs",
    tag = "services",
    params(ServicePath, LogsQuery),
    responses(
        (status = 200, description = "Log lines, oldest first", content(
            (Vec<LogLine> = "application/json"),
            (String = "text/event-stream"),
        )),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
        (status = 409, description = "The service was never deployed", body = ErrorBody),
        (status = 422, description = "Invalid query; `details.field` names the parameter", body = ErrorBody),
        (status = 429, description = "Too many streams open for the user or the organization (`follow=true`), or too many requests; `Retry-After` says when to try again", body = ErrorBody),
    )
)]
pub(crate) async fn service_logs(
    State(s): State<AppState>,
    parts: http::request::Parts,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
    QueryParams(q): QueryParams<LogsQuery>,
) -> Result<Response, ApiError> {
    let follow = q.follow.unwrap_or(false);
    let mut options = LogOptions::default();
    options.tail = q.tail;
    options.since = q.since;
    options.follow = follow;
    let mut lines = s
        .platform
        .services()
        .logs(&who, &p.to_ref(), &options)
        .await?;
    if follow {
        let events = crate::limits::until_revoked(&s, &who, parts, sse_events(lines));
        return Ok(Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let mut kept = VecDeque::new();
    while let Some(line) = lines.next().await {
        if kept.len() == MAX_LOG_LINES {
            kept.pop_front();
        }
        kept.push_back(line?);
    }
    Ok(Json(kept).into_response())
}

/// Log lines as `log` events; a failure becomes one `error` event that ends the stream.
fn sse_events(
    lines: futures::stream::BoxStream<'static, caas_core::Result<LogLine>>,
) -> impl futures::Stream<Item = Result<Event, axum::Error>> {
    lines.scan(false, |failed, line| {
        if *failed {
            return futures::future::ready(None);
        }
        let event = match line {
            Ok(line) => Event::default().event("log").json_data(line),
            Err(e) => {
                *failed = true;
                Event::default()
                    .event("error")
                    .json_data(ApiError::from(e).parts().1)
            }
        };
        futures::future::ready(Some(event))
    })
}
