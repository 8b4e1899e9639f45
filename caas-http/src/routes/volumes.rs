//! Persistent volumes: `GET|POST /v1/orgs/{org}/volumes` (`?project=` filters) and
//! `GET|DELETE /v1/orgs/{org}/volumes/{volume}` (`?force=true` detaches mounting services
//! first). `{volume}` is the volume's id, or its name when that is unique in the organization
//! (an ambiguous name is 409: use the id).

use axum::Json;
use axum::extract::State;
use caas_core::platform::{NewVolume, VolumeView};
use http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{OrgPath, VolumePath};
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams, QueryParams};

/// `?project=shop`: only the volumes of one project.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListVolumesQuery {
    /// The project's name (default: every project the caller may see).
    #[serde(default)]
    pub(crate) project: Option<String>,
}

/// `?force=true`: delete a volume even while services mount it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForceQuery {
    /// Recreate the services that mount the volume without the mount first (default `false`:
    /// a mounted volume is not deleted, 409).
    #[serde(default)]
    pub(crate) force: Option<bool>,
}

/// The organization's volumes the caller may see (of one project with `?project=`).
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/volumes",
    tag = "volumes",
    params(OrgPath, ListVolumesQuery),
    responses(
        (status = 200, description = "Volumes, with what mounts them", body = Vec<VolumeView>),
        (status = 404, description = "No such organization (or not a member) or project", body = ErrorBody),
        (status = 422, description = "Unknown query parameter; `details.field` names it", body = ErrorBody),
    )
)]
pub(crate) async fn list_volumes(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
    QueryParams(q): QueryParams<ListVolumesQuery>,
) -> Result<Json<Vec<VolumeView>>, ApiError> {
    Ok(Json(
        s.platform
            .volumes()
            .list(&who, &p.org, q.project.as_deref())
            .await?,
    ))
}

/// Creates a volume in a project; its size is reserved against the storage quota until it
/// is deleted. Services of the project mount it by name.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/volumes",
    tag = "volumes",
    params(OrgPath),
    request_body = NewVolume,
    responses(
        (status = 201, description = "Created", body = VolumeView),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member) or project", body = ErrorBody),
        (status = 409, description = "The name is taken in the project (`ALREADY_EXISTS`), the plan's storage limit would be exceeded (`QUOTA_EXCEEDED`, dimensions in `details`) or the subscription is inactive (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names the field", body = ErrorBody),
    )
)]
pub(crate) async fn create_volume(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
    JsonBody(new): JsonBody<NewVolume>,
) -> Result<(StatusCode, Json<VolumeView>), ApiError> {
    let v = s.platform.volumes().create(&who, &p.org, new).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// A volume by id or name.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/volumes/{volume}",
    tag = "volumes",
    params(VolumePath),
    responses(
        (status = 200, description = "The volume", body = VolumeView),
        (status = 404, description = "No such organization (or not a member) or volume", body = ErrorBody),
        (status = 409, description = "Several projects have a volume of this name: use its id", body = ErrorBody),
    )
)]
pub(crate) async fn get_volume(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<VolumePath>,
) -> Result<Json<VolumeView>, ApiError> {
    Ok(Json(
        s.platform.volumes().get(&who, &p.org, &p.volume).await?,
    ))
}

/// Deletes a volume and its data and releases its storage quota; its backups are kept.
/// Refused while services mount it unless `?force=true`, which first recreates each of them
/// without the mount.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/volumes/{volume}",
    tag = "volumes",
    params(VolumePath, ForceQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member) or volume", body = ErrorBody),
        (status = 409, description = "Mounted by services (without `force`), an ambiguous name, or a backup or restore of the volume is running", body = ErrorBody),
    )
)]
pub(crate) async fn delete_volume(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<VolumePath>,
    QueryParams(q): QueryParams<ForceQuery>,
) -> Result<StatusCode, ApiError> {
    s.platform
        .volumes()
        .delete(&who, &p.org, &p.volume, q.force.unwrap_or(false))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
