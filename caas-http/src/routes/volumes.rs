//! Persistent volumes: `GET|POST /v1/orgs/{org}/volumes` (`?project=` filters) and
//! `GET|DELETE /v1/orgs/{org}/volumes/{volume}` (`?force=true` detaches mounting services
//! first). `{volume}` is the volume's id, or its name when that is unique in the organization
//! (an ambiguous name is 409: use the id). The `*Doc` types only document the answers
//! (handlers serialize the core types); the OpenAPI test compares the two.

use axum::Json;
use axum::extract::State;
use caas_core::platform::{NewVolume, VolumeView};
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

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

/// A volume to create.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct NewVolumeDoc {
    /// The project whose services mount it (by name, in their spec's `volumes`).
    project: String,
    /// Name, unique in the project (DNS-label rules).
    name: String,
    /// Size counted against the storage quota (1 MiB - 64 TiB).
    size_bytes: u64,
}

/// How full a volume is, from its last measurement.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum VolumeStateDoc {
    /// Below 80 % of its size (or never measured).
    Ok,
    /// At or above 80 % of its size.
    Warning,
    /// At or above its size: mounted read-only from the next recreate, no deploy may add to it.
    Full,
}

/// A volume's last measured usage.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct VolumeUsageDoc {
    /// Bytes in use.
    bytes: u64,
    /// When it was measured.
    at: DateTime<Utc>,
}

/// When a volume is backed up automatically (cron, UTC) and which scheduled backups are kept:
/// a backup is kept when any rule keeps it; with neither rule every backup is kept.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct BackupScheduleDoc {
    /// Five-field cron expression (minute hour day-of-month month day-of-week), UTC.
    cron: String,
    /// Keep the newest N scheduled backups.
    keep_last: Option<u32>,
    /// Keep scheduled backups younger than this many days.
    max_age_days: Option<u32>,
    /// Stop the services mounting the volume around each copy.
    consistent: bool,
    /// With `consistent`: pause them instead of stopping them.
    pause: bool,
    /// Take logical dumps of the volume's database.
    logical: bool,
    /// When the schedule was set: runs are due from then on.
    since: DateTime<Utc>,
}

/// A persistent volume, holding its size against the organization's storage quota.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct VolumeDoc {
    /// Id.
    id: Uuid,
    /// Organization.
    org: Uuid,
    /// Project.
    project: Uuid,
    /// Name, unique in the project.
    name: String,
    /// Size counted against the storage quota.
    size_bytes: u64,
    /// Name of the volume in the runtime (changes when a restore swaps in restored data).
    runtime_name: String,
    /// The quota reservation holding the size.
    reservation: Option<Uuid>,
    /// How full it is.
    state: VolumeStateDoc,
    /// Last measurement.
    usage: Option<VolumeUsageDoc>,
    /// Automatic backups.
    backup_schedule: Option<BackupScheduleDoc>,
    /// When it was created.
    created_at: DateTime<Utc>,
}

/// A service mounting a volume.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct MountedByDoc {
    /// The service's name.
    service: String,
    /// Where it is mounted.
    target: String,
    /// Mounted read-only (as asked; a full volume is mounted read-only anyway).
    read_only: bool,
}

/// A volume (every field of `VolumeDoc`) with its project's name, how full it is and what
/// mounts it.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct VolumeViewDoc {
    /// Id.
    id: Uuid,
    /// Organization.
    org: Uuid,
    /// Project.
    project: Uuid,
    /// Name, unique in the project.
    name: String,
    /// Size counted against the storage quota.
    size_bytes: u64,
    /// Name of the volume in the runtime (changes when a restore swaps in restored data).
    runtime_name: String,
    /// The quota reservation holding the size.
    reservation: Option<Uuid>,
    /// How full it is.
    state: VolumeStateDoc,
    /// Last measurement.
    usage: Option<VolumeUsageDoc>,
    /// Automatic backups.
    backup_schedule: Option<BackupScheduleDoc>,
    /// When it was created.
    created_at: DateTime<Utc>,
    /// The project's name.
    project_name: String,
    /// Usage in percent of the size, from the last measurement.
    percent_used: Option<u64>,
    /// Services of the project that mount it.
    mounted_by: Vec<MountedByDoc>,
}

/// The organization's volumes the caller may see (of one project with `?project=`).
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/volumes",
    tag = "volumes",
    params(OrgPath, ListVolumesQuery),
    responses(
        (status = 200, description = "Volumes, with what mounts them", body = Vec<VolumeViewDoc>),
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
            .list_volumes(&who, &p.org, q.project.as_deref())
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
    request_body = NewVolumeDoc,
    responses(
        (status = 201, description = "Created", body = VolumeViewDoc),
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
    let v = s.platform.create_volume(&who, &p.org, new).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// A volume by id or name.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/volumes/{volume}",
    tag = "volumes",
    params(VolumePath),
    responses(
        (status = 200, description = "The volume", body = VolumeViewDoc),
        (status = 404, description = "No such organization (or not a member) or volume", body = ErrorBody),
        (status = 409, description = "Several projects have a volume of this name: use its id", body = ErrorBody),
    )
)]
pub(crate) async fn get_volume(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<VolumePath>,
) -> Result<Json<VolumeView>, ApiError> {
    Ok(Json(s.platform.volume(&who, &p.org, &p.volume).await?))
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
        .delete_volume(&who, &p.org, &p.volume, q.force.unwrap_or(false))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
