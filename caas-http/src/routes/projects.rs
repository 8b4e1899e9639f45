//! `/v1/orgs/{org}/projects/...`: projects, each a private network for its services.

use axum::Json;
use axum::extract::State;
use caas_core::model::Project;
use caas_core::platform::NewProject;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{DeleteQuery, OrgPath, ProjectPath};
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams, QueryParams};

/// A new project.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateProject {
    /// Name, unique in the organization (DNS-label rules); used in URLs.
    name: String,
}

/// The organization's projects the caller may see.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects",
    tag = "projects",
    params(OrgPath),
    responses(
        (status = 200, description = "Projects", body = Vec<Project>),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
    )
)]
pub(crate) async fn list_projects(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
) -> Result<Json<Vec<Project>>, ApiError> {
    Ok(Json(s.platform.projects().list(&who, &p.org).await?))
}

/// Creates a project, counting it against the plan's project limit.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/projects",
    tag = "projects",
    params(OrgPath),
    request_body = CreateProject,
    responses(
        (status = 201, description = "Created", body = Project),
        (status = 403, description = "Role too low (admin or owner required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
        (status = 409, description = "The name is taken (`ALREADY_EXISTS`), the plan's project limit is reached (`QUOTA_EXCEEDED`, dimensions in `details`) or the subscription is inactive (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names the field", body = ErrorBody),
    )
)]
pub(crate) async fn create_project(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
    JsonBody(body): JsonBody<CreateProject>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let project = s
        .platform
        .projects()
        .create(&who, &p.org, NewProject::new(body.name))
        .await?;
    Ok((StatusCode::CREATED, Json(project)))
}

/// A project by name.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}",
    tag = "projects",
    params(ProjectPath),
    responses(
        (status = 200, description = "The project", body = Project),
        (status = 404, description = "No such organization (or not a member) or project", body = ErrorBody),
    )
)]
pub(crate) async fn get_project(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ProjectPath>,
) -> Result<Json<Project>, ApiError> {
    Ok(Json(s.platform.projects().get(&who, &p.to_ref()).await?))
}

/// Deletes a project with all its services and its network (and volumes with
/// `?volumes=true`); releases its quota.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/projects/{project}",
    tag = "projects",
    params(ProjectPath, DeleteQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Role too low (admin or owner required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member) or project", body = ErrorBody),
    )
)]
pub(crate) async fn delete_project(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ProjectPath>,
    QueryParams(q): QueryParams<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    s.platform
        .projects()
        .delete(&who, &p.to_ref(), q.options())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
