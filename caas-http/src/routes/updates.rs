//! Configuration updates of a service: `PATCH …/services/{service}` (with `?dry_run=true` for
//! the preview), its deployment history and rollback.

use axum::Json;
use axum::extract::State;
use caas_core::DeploymentId;
use caas_core::model::Deployment;
use caas_core::platform::{ServiceUpdate, UpdateResult};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::ServicePath;
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams, QueryParams};

/// `?dry_run=true` previews the update without applying it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DryRunQuery {
    /// Only compute what would change (default `false`).
    #[serde(default)]
    pub(crate) dry_run: Option<bool>,
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
    request_body = ServiceUpdate,
    responses(
        (status = 200, description = "The preview, and what was applied", body = UpdateResult),
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
            .services()
            .update(&who, &p.to_ref(), update, q.dry_run.unwrap_or(false))
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
        (status = 200, description = "Deployments, newest first (secrets redacted)", body = Vec<Deployment>),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
    )
)]
pub(crate) async fn list_deployments(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
) -> Result<Json<Vec<Deployment>>, ApiError> {
    Ok(Json(
        s.platform.services().deployments(&who, &p.to_ref()).await?,
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
        (status = 200, description = "What the rollback did", body = UpdateResult),
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
            .services()
            .rollback(&who, &p.to_ref(), to)
            .await?,
    ))
}
