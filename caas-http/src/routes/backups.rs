//! Backups of volumes, their schedules and restores:
//! `GET|POST /v1/orgs/{org}/volumes/{volume}/backups`,
//! `PUT|DELETE /v1/orgs/{org}/volumes/{volume}/backup-schedule`, `GET /v1/orgs/{org}/backups`,
//! `GET|DELETE /v1/orgs/{org}/backups/{backup}` and
//! `POST /v1/orgs/{org}/backups/{backup}/restore`.
//!
//! - Taking a backup answers 201 with the backup record once the copy is over — also when the
//!   copy failed: the record exists, says `failed` and why (`error`), and shows in the lists
//!   until deleted; a client checks `status`. Refusals before any record is made (a backup
//!   or restore of the volume is running, 409) are errors. With `Prefer: respond-async` it
//!   answers 202 with the `running` record and `Location` as soon as the record exists; the
//!   client polls the backup.
//! - Without a backup destination on the platform, taking a backup, setting or removing a
//!   schedule and restoring answer 501 `UNSUPPORTED`; the lists still answer (with the
//!   records the store has, usually none).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use caas_core::Error;
use caas_core::model::{Backup, Volume};
use caas_core::platform::{BackupRequest, RestoreOutcome, RestoreRequest, ScheduleRequest};
use http::{HeaderMap, HeaderName, StatusCode, header};

use super::{BackupPath, OrgPath, VolumePath};
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams};

/// The backups of a volume, newest first.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/volumes/{volume}/backups",
    tag = "backups",
    params(VolumePath),
    responses(
        (status = 200, description = "Backups, newest first", body = Vec<Backup>),
        (status = 404, description = "No such organization (or not a member) or volume", body = ErrorBody),
        (status = 409, description = "Several projects have a volume of this name: use its id", body = ErrorBody),
    )
)]
pub(crate) async fn list_volume_backups(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<VolumePath>,
) -> Result<Json<Vec<Backup>>, ApiError> {
    Ok(Json(
        s.platform.backups().list(&who, &p.org, &p.volume).await?,
    ))
}

/// Takes a backup of a volume now: its files as a tar (or a logical dump of its database),
/// compressed with zstd, stored in the platform's backup destination. Answers once the copy is
/// over, with the record — 201 also when the copy failed (`status: failed`, the reason in
/// `error`). With `Prefer: respond-async` it answers 202 as soon as the backup is recorded
/// (`status: running`), with `Location` naming the backup to poll
/// (`GET /v1/orgs/{org}/backups/{backup}`) until its status is `succeeded` or `failed`.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/volumes/{volume}/backups",
    tag = "backups",
    params(
        VolumePath,
        ("Prefer" = Option<String>, Header, description = "`respond-async`: answer 202 once the backup is recorded instead of when it is over (RFC 7240)"),
    ),
    request_body(content = Option<BackupRequest>, description = "Optional; an empty body takes a live copy"),
    responses(
        (status = 201, description = "The backup record: `succeeded`, or `failed` with the reason", body = Backup),
        (status = 202, description = "With `Prefer: respond-async`: the backup record, `running`; the copy goes on", body = Backup,
            headers(
                ("Location" = String, description = "The backup: `/v1/orgs/{org}/backups/{backup}`"),
                ("Preference-Applied" = String, description = "`respond-async`"),
            )),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member) or volume", body = ErrorBody),
        (status = 409, description = "A backup, restore or delete of the volume is running, an ambiguous name, or `logical` and the database is not running", body = ErrorBody),
        (status = 422, description = "Invalid body (`pause` without `consistent`, `logical` with it, `logical` on a volume that is not a postgres, mysql or mariadb service's data); `details.field` names the field", body = ErrorBody),
        (status = 501, description = "No backup destination is configured on this platform (`UNSUPPORTED`)", body = ErrorBody),
    )
)]
pub(crate) async fn create_backup(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<VolumePath>,
    headers: HeaderMap,
    body: Option<JsonBody<BackupRequest>>,
) -> Result<Response, ApiError> {
    let request = body.map(|JsonBody(b)| b).unwrap_or_default();
    if !prefers_async(&headers) {
        let backup = s
            .platform
            .backups()
            .create(&who, &p.org, &p.volume, request)
            .await?;
        return Ok((StatusCode::CREATED, Json(backup)).into_response());
    }
    let backup = s
        .platform
        .backups()
        .start(&who, &p.org, &p.volume, request)
        .await?;
    let location = format!("/v1/orgs/{}/backups/{}", p.org, backup.id);
    Ok((
        StatusCode::ACCEPTED,
        [
            (header::LOCATION, location),
            (
                HeaderName::from_static("preference-applied"),
                "respond-async".to_string(),
            ),
        ],
        Json(backup),
    )
        .into_response())
}

/// Whether the request's `Prefer` headers (RFC 7240: comma-separated preferences, names
/// case-insensitive, parameters after `;`) ask for `respond-async`.
fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|pref| pref.split([';', '=']).next().unwrap_or("").trim())
        .any(|name| name.eq_ignore_ascii_case("respond-async"))
}

/// One backup of the organization: poll it after an asynchronous backup until `status` is
/// `succeeded` or `failed`.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/backups/{backup}",
    tag = "backups",
    params(BackupPath),
    responses(
        (status = 200, description = "The backup", body = Backup),
        (status = 404, description = "No such organization (or not a member) or backup", body = ErrorBody),
    )
)]
pub(crate) async fn get_backup(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<BackupPath>,
) -> Result<Json<Backup>, ApiError> {
    Ok(Json(
        s.platform.backups().get(&who, &p.org, &p.backup).await?,
    ))
}

/// Sets a volume's backup schedule and retention (replacing the current one); the backup
/// scheduler takes the backups.
#[utoipa::path(
    put,
    path = "/v1/orgs/{org}/volumes/{volume}/backup-schedule",
    tag = "backups",
    params(VolumePath),
    request_body = ScheduleRequest,
    responses(
        (status = 200, description = "The volume with its schedule", body = Volume),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member) or volume", body = ErrorBody),
        (status = 409, description = "Several projects have a volume of this name: use its id", body = ErrorBody),
        (status = 422, description = "Invalid schedule (`cron`, `keep_last`, `max_age_days`, `pause`, `consistent`, `logical`); `details.field` names the field", body = ErrorBody),
        (status = 501, description = "No backup destination is configured on this platform (`UNSUPPORTED`)", body = ErrorBody),
    )
)]
pub(crate) async fn put_backup_schedule(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<VolumePath>,
    JsonBody(schedule): JsonBody<ScheduleRequest>,
) -> Result<Json<Volume>, ApiError> {
    Ok(Json(
        s.platform
            .backups()
            .set_schedule(&who, &p.org, &p.volume, Some(schedule))
            .await?,
    ))
}

/// Removes a volume's backup schedule; its backups are kept.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/volumes/{volume}/backup-schedule",
    tag = "backups",
    params(VolumePath),
    responses(
        (status = 204, description = "Removed (also when there was none)"),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member) or volume", body = ErrorBody),
        (status = 409, description = "Several projects have a volume of this name: use its id", body = ErrorBody),
        (status = 501, description = "No backup destination is configured on this platform (`UNSUPPORTED`)", body = ErrorBody),
    )
)]
pub(crate) async fn delete_backup_schedule(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<VolumePath>,
) -> Result<StatusCode, ApiError> {
    s.platform
        .backups()
        .set_schedule(&who, &p.org, &p.volume, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every backup of the organization the caller may see, of deleted volumes too, newest first.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/backups",
    tag = "backups",
    params(OrgPath),
    responses(
        (status = 200, description = "Backups, newest first", body = Vec<Backup>),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
    )
)]
pub(crate) async fn list_backups(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
) -> Result<Json<Vec<Backup>>, ApiError> {
    Ok(Json(s.platform.backups().list_org(&who, &p.org).await?))
}

/// Deletes a backup and its stored archive.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/backups/{backup}",
    tag = "backups",
    params(BackupPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member) or backup", body = ErrorBody),
        (status = 409, description = "The backup is still running", body = ErrorBody),
        (status = 501, description = "The backup has a stored archive but no backup destination is configured any more (`UNSUPPORTED`)", body = ErrorBody),
    )
)]
pub(crate) async fn delete_backup(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<BackupPath>,
) -> Result<StatusCode, ApiError> {
    s.platform.backups().delete(&who, &p.org, &p.backup).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restores a succeeded backup: into the volume it was taken of (empty body), another volume
/// of the organization (`volume`) or a new one (`new_volume`). The archive is checked
/// against its SHA-256 and validated before anything is written; the data goes into a fresh
/// runtime volume and the services mounting the target are recreated onto it, so a failed
/// restore leaves the old data untouched. A logical dump (`format` other than `archive`) is
/// checked the same way and applied through the running database whose data volume the
/// target is (not into a new volume); PostgreSQL applies it whole or not at all.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/backups/{backup}/restore",
    tag = "backups",
    params(BackupPath),
    request_body(content = Option<RestoreRequest>, description = "Optional; an empty body restores into the volume the backup was taken of"),
    responses(
        (status = 200, description = "What the restore did", body = RestoreOutcome),
        (status = 403, description = "Role too low (admin or owner required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), backup, volume or project", body = ErrorBody),
        (status = 409, description = "The backup did not succeed, its volume was deleted and no target is given, the stored object does not match its SHA-256, the target is busy, a logical dump's database is not running, or the new volume's name is taken or over quota", body = ErrorBody),
        (status = 422, description = "Invalid target (`volume`, `new_volume.*`; a logical dump restores only into the volume of a database of its engine) or an archive that failed validation or is larger than the target can take (`archive`: nothing was written); `details.field` names the field", body = ErrorBody),
        (status = 500, description = "The database refused the dump (`BACKEND`; the message says what its client printed and what was left changed)", body = ErrorBody),
        (status = 501, description = "No backup destination is configured on this platform (`UNSUPPORTED`)", body = ErrorBody),
        (status = 503, description = "The backup destination cannot be reached, or the staging directory has no room for the backup (`UNAVAILABLE`; the message names the directory and both sizes)", body = ErrorBody),
    )
)]
pub(crate) async fn restore_backup(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<BackupPath>,
    body: Option<JsonBody<RestoreRequest>>,
) -> Result<Json<RestoreOutcome>, ApiError> {
    let request = body.map(|JsonBody(b)| b).unwrap_or_default();
    let new_volume = request.new_volume.is_some();
    let outcome = s
        .platform
        .backups()
        .restore(&who, &p.org, &p.backup, request)
        .await
        .map_err(|e| if new_volume { new_volume_field(e) } else { e })?;
    Ok(Json(outcome))
}

/// Names an invalid field of the new volume as the request does (`new_volume.size_bytes`
/// rather than the platform's `size_bytes`, which it reports as for a volume on its own).
fn new_volume_field(e: Error) -> Error {
    match &e {
        Error::InvalidInput { field, .. }
            if matches!(field.as_str(), "project" | "name" | "size_bytes") =>
        {
            e.in_field("new_volume")
        }
        _ => e,
    }
}
