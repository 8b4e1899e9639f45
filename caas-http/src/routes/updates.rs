//! Configuration updates of a service: `PATCH …/services/{service}` (with `?dry_run=true` for
//! the preview), its deployment history and rollback. The `*Doc` types only document the
//! answers (handlers serialize the core types); the OpenAPI test compares the two.

use axum::Json;
use axum::extract::State;
use caas_core::DeploymentId;
use caas_core::model::Deployment;
use caas_core::platform::{ServiceUpdate, UpdateResult};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::ServicePath;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams, QueryParams};
use crate::{AppState, schema};

/// `?dry_run=true` previews the update without applying it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DryRunQuery {
    /// Only compute what would change (default `false`).
    #[serde(default)]
    pub(crate) dry_run: Option<bool>,
}

/// A change to a service's configuration; every field is optional.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ServiceUpdateDoc {
    /// Variables to set (added or replaced); `secret: true` hides the value from then on.
    env_set: Vec<schema::EnvVar>,
    /// Variables to remove.
    env_unset: Vec<String>,
    /// New limits.
    resources: Option<schema::ResourceLimits>,
    /// New image.
    image: Option<String>,
    /// New command; an empty list goes back to the image's default.
    command: Option<Vec<String>>,
    /// New health check.
    health_check: Option<schema::HealthCheck>,
    /// Remove the health check.
    remove_health_check: bool,
}

/// How an update is (or would be) applied.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum ApplyModeDoc {
    /// Nothing changes.
    Noop,
    /// Limits changed on the running container.
    Live,
    /// Stop the old container, then start the new one (single writers).
    Recreate,
    /// Start the new container, switch traffic, drain, stop the old one.
    Rolling,
}

/// One changed field (secrets redacted).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct SpecChangeDoc {
    /// `image`, `command`, `env.KEY`, `resources.memory_bytes`, `health_check`.
    field: String,
    /// Before (null when absent).
    before: serde_json::Value,
    /// After (null when removed).
    after: serde_json::Value,
}

/// Signed quota change per dimension.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct QuotaDeltaDoc {
    /// Millicores.
    cpu_millis: i64,
    /// Bytes.
    memory_bytes: i64,
    /// Bytes.
    storage_bytes: i64,
    /// Containers.
    containers: i64,
}

/// A validation problem.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct FieldErrorDoc {
    /// The field.
    field: String,
    /// What is wrong.
    reason: String,
}

/// What an update would do.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct UpdatePreviewDoc {
    /// Changed fields.
    changes: Vec<SpecChangeDoc>,
    /// How it would be applied.
    mode: ApplyModeDoc,
    /// Why that mode.
    reason: String,
    /// Quota change.
    quota_delta: QuotaDeltaDoc,
    /// Validation problems (a real update with problems answers 422).
    errors: Vec<FieldErrorDoc>,
}

/// What an update did.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct UpdateResultDoc {
    /// The preview it was based on.
    preview: UpdatePreviewDoc,
    /// Whether anything was applied.
    applied: bool,
    /// How it was applied.
    mode: ApplyModeDoc,
    /// The service afterwards (secrets redacted).
    service: schema::Service,
}

/// Status of a deployment.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum DeploymentStatusDoc {
    /// Being rolled out.
    Pending,
    /// The service's current deployment.
    Active,
    /// Replaced by a newer one.
    Superseded,
    /// Failed; see `error`.
    Failed,
    /// Removed with the service.
    Removed,
}

/// One rollout of a service's spec (secrets redacted).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct DeploymentDoc {
    /// Id.
    id: Uuid,
    /// Service.
    service: Uuid,
    /// Organization.
    org: Uuid,
    /// Project.
    project: Uuid,
    /// The spec that was deployed.
    spec: schema::ServiceSpec,
    /// Status.
    status: DeploymentStatusDoc,
    /// The container's id.
    container_id: Option<String>,
    /// Why it failed.
    error: Option<String>,
    /// When it started.
    created_at: DateTime<Utc>,
    /// When it finished.
    finished_at: Option<DateTime<Utc>>,
}

/// Which deployment to roll back to.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RollbackRequest {
    /// A deployment of this service; the one before the current when absent.
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    pub(crate) to: Option<DeploymentId>,
}

/// Previews (`?dry_run=true`) or applies a configuration update. Limits alone change live;
/// other changes roll stateless apps with no downtime and recreate single writers
/// (databases) stop-then-start; the preview says which.
#[utoipa::path(
    patch,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}",
    tag = "services",
    params(ServicePath, DryRunQuery),
    request_body = ServiceUpdateDoc,
    responses(
        (status = 200, description = "The preview, and what was applied", body = UpdateResultDoc),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
        (status = 409, description = "Quota exceeded, or the new version never became ready (the old one keeps serving)", body = ErrorBody),
        (status = 422, description = "Invalid update; `details.field` names the field", body = ErrorBody),
    )
)]
pub(crate) async fn update_service(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
    QueryParams(q): QueryParams<DryRunQuery>,
    JsonBody(update): JsonBody<ServiceUpdate>,
) -> Result<Json<UpdateResult>, ApiError> {
    Ok(Json(
        s.platform
            .update_service(
                &who,
                &p.org,
                &p.project,
                &p.service,
                update,
                q.dry_run.unwrap_or(false),
            )
            .await?,
    ))
}

/// The deployments of a service, newest first.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/deployments",
    tag = "services",
    params(ServicePath),
    responses(
        (status = 200, description = "Deployments, newest first (secrets redacted)", body = Vec<DeploymentDoc>),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
    )
)]
pub(crate) async fn list_deployments(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
) -> Result<Json<Vec<Deployment>>, ApiError> {
    Ok(Json(
        s.platform
            .list_deployments(&who, &p.org, &p.project, &p.service)
            .await?,
    ))
}

/// Rolls a service back to an earlier deployment's spec (the previous one by default).
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/rollback",
    tag = "services",
    params(ServicePath),
    request_body(content = Option<RollbackRequest>, description = "Optional; an empty body rolls back to the previous deployment"),
    responses(
        (status = 200, description = "What the rollback did", body = UpdateResultDoc),
        (status = 404, description = "No such organization, project, service or deployment", body = ErrorBody),
        (status = 409, description = "No earlier deployment, or the rollout failed", body = ErrorBody),
    )
)]
pub(crate) async fn rollback_service(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
    body: Option<JsonBody<RollbackRequest>>,
) -> Result<Json<UpdateResult>, ApiError> {
    let to = body.and_then(|JsonBody(b)| b.to);
    Ok(Json(
        s.platform
            .rollback_service(&who, &p.org, &p.project, &p.service, to)
            .await?,
    ))
}
