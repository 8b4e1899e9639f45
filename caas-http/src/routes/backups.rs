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
//! - The `*Doc` types only document the answers (handlers serialize the core types); the
//!   OpenAPI test compares the two.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use caas_core::Error;
use caas_core::model::{Backup, Volume};
use caas_core::platform::{BackupRequest, RestoreOutcome, RestoreRequest, ScheduleRequest};
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::volumes::{NewVolumeDoc, VolumeDoc};
use super::{BackupPath, OrgPath, VolumePath};
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams};

/// How to take a backup.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct BackupRequestDoc {
    /// Stop the running services that mount the volume around the copy, and start them again
    /// (default `false`: a live copy while they keep running).
    consistent: Option<bool>,
    /// With `consistent`: pause (freeze) the services instead of stopping them, and thaw them
    /// afterwards (default `false`).
    pause: Option<bool>,
    /// Dump the database whose data volume this is (postgres, mysql, mariadb) through its own
    /// tool, inside its running container, instead of copying the files (default `false`;
    /// not with `consistent`).
    logical: Option<bool>,
}

/// A backup schedule to set (replaces the volume's current one).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ScheduleRequestDoc {
    /// Five-field cron expression, UTC (`0 3 * * *`: every day at 03:00).
    #[schema(example = "0 3 * * *")]
    cron: String,
    /// Keep the newest N scheduled backups (1-1000).
    keep_last: Option<u32>,
    /// Keep scheduled backups younger than this many days (1-3650).
    max_age_days: Option<u32>,
    /// Stop the services mounting the volume around each copy (default `false`).
    consistent: Option<bool>,
    /// With `consistent`: pause them instead (default `false`).
    pause: Option<bool>,
    /// Take logical dumps of the volume's database (default `false`).
    logical: Option<bool>,
}

/// Where to restore: the volume the backup was taken of (no field, or an empty body), an
/// existing volume of the organization (`volume`), or a new volume (`new_volume`) — not
/// both.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct RestoreRequestDoc {
    /// An existing volume: its id, or a name unique in the organization.
    volume: Option<String>,
    /// A volume to create for the restored data (removed again if the restore fails).
    new_volume: Option<NewVolumeDoc>,
}

/// Status of a backup.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum BackupStatusDoc {
    /// In progress.
    Running,
    /// Stored.
    Succeeded,
    /// Failed; see `error`.
    Failed,
}

/// What started a backup.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum BackupTriggerDoc {
    /// Asked for through the API.
    Manual,
    /// The volume's backup schedule (retention applies to these only).
    Scheduled,
}

/// What a backup holds.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum BackupFormatDoc {
    /// A tar of the volume's files.
    Archive,
    /// A PostgreSQL logical dump (plain SQL); restores through a running postgres service.
    PgDump,
    /// A MySQL logical dump; restores through a running mysql service.
    MysqlDump,
    /// A MariaDB logical dump; restores through a running mariadb service.
    MariadbDump,
}

/// One backup of a volume. Backups outlive their volume: they can be restored into a new one.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct BackupDoc {
    /// Id.
    id: Uuid,
    /// Organization.
    org: Uuid,
    /// The volume it was taken of.
    volume: Uuid,
    /// The volume's project.
    project: Uuid,
    /// The volume's name when it was taken.
    volume_name: String,
    /// Status.
    status: BackupStatusDoc,
    /// What started it.
    trigger: BackupTriggerDoc,
    /// Whether the services mounting the volume were stopped (or paused) around the copy.
    consistent: bool,
    /// Whether they were paused rather than stopped.
    paused: bool,
    /// What the stored object holds.
    format: BackupFormatDoc,
    /// Size of the uncompressed archive (tar) or dump.
    archive_bytes: Option<u64>,
    /// Stored (zstd-compressed) size.
    size_bytes: Option<u64>,
    /// SHA-256 of the stored object, hex; checked before a restore.
    sha256: Option<String>,
    /// Object key of the archive in the backup destination.
    location: Option<String>,
    /// Why it failed.
    error: Option<String>,
    /// When it started.
    created_at: DateTime<Utc>,
    /// When it finished.
    finished_at: Option<DateTime<Utc>>,
}

/// What a restored archive held.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct ArchiveSummaryDoc {
    /// Entries.
    entries: u64,
    /// Regular files.
    files: u64,
    /// Directories.
    directories: u64,
    /// Symbolic links.
    symlinks: u64,
    /// Hard links.
    hardlinks: u64,
    /// Bytes of file contents.
    bytes: u64,
}

/// What a restore did.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct RestoreOutcomeDoc {
    /// The backup restored.
    backup: BackupDoc,
    /// The volume afterwards.
    volume: VolumeDoc,
    /// What the archive held.
    archive: ArchiveSummaryDoc,
    /// Services recreated onto the restored data (running ones run again, stopped ones stay
    /// stopped).
    services: Vec<String>,
}

/// The backups of a volume, newest first.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/volumes/{volume}/backups",
    tag = "backups",
    params(VolumePath),
    responses(
        (status = 200, description = "Backups, newest first", body = Vec<BackupDoc>),
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
        s.platform.list_backups(&who, &p.org, &p.volume).await?,
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
    request_body(content = Option<BackupRequestDoc>, description = "Optional; an empty body takes a live copy"),
    responses(
        (status = 201, description = "The backup record: `succeeded`, or `failed` with the reason", body = BackupDoc),
        (status = 202, description = "With `Prefer: respond-async`: the backup record, `running`; the copy goes on", body = BackupDoc,
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
            .backup_volume(&who, &p.org, &p.volume, request)
            .await?;
        return Ok((StatusCode::CREATED, Json(backup)).into_response());
    }
    let backup = s
        .platform
        .start_backup(&who, &p.org, &p.volume, request)
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
        (status = 200, description = "The backup", body = BackupDoc),
        (status = 404, description = "No such organization (or not a member) or backup", body = ErrorBody),
    )
)]
pub(crate) async fn get_backup(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<BackupPath>,
) -> Result<Json<Backup>, ApiError> {
    Ok(Json(s.platform.backup(&who, &p.org, &p.backup).await?))
}

/// Sets a volume's backup schedule and retention (replacing the current one); the backup
/// scheduler takes the backups.
#[utoipa::path(
    put,
    path = "/v1/orgs/{org}/volumes/{volume}/backup-schedule",
    tag = "backups",
    params(VolumePath),
    request_body = ScheduleRequestDoc,
    responses(
        (status = 200, description = "The volume with its schedule", body = VolumeDoc),
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
            .set_backup_schedule(&who, &p.org, &p.volume, Some(schedule))
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
        .set_backup_schedule(&who, &p.org, &p.volume, None)
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
        (status = 200, description = "Backups, newest first", body = Vec<BackupDoc>),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
    )
)]
pub(crate) async fn list_backups(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
) -> Result<Json<Vec<Backup>>, ApiError> {
    Ok(Json(s.platform.list_org_backups(&who, &p.org).await?))
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
    s.platform.delete_backup(&who, &p.org, &p.backup).await?;
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
    request_body(content = Option<RestoreRequestDoc>, description = "Optional; an empty body restores into the volume the backup was taken of"),
    responses(
        (status = 200, description = "What the restore did", body = RestoreOutcomeDoc),
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
        .restore_backup(&who, &p.org, &p.backup, request)
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
