//! Volumes (unique by name per project, going with their project) and their backups (which
//! outlive the volume and its project, and go with the organization).

use caas_core::codec::StoredName;
use caas_core::model::{Backup, BackupSchedule, Volume, VolumeUsage};
use caas_core::validate::Name;
use caas_core::{BackupId, Error, OrgId, ProjectId, ReservationId, Result, VolumeId};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;
use uuid::Uuid;

use crate::codec::{get, get_u64, read_name};
use crate::error::{Violation, corrupt, db_error, from_i64, on_violation, to_i64};

fn name_column(table_column: &'static str, value: String) -> Result<Name> {
    Name::parse(value.as_str()).map_err(|_| corrupt(table_column, &value))
}

/// Reads a nullable BIGINT column holding an unsigned amount.
fn get_u64_opt(row: &PgRow, col: &str) -> Result<Option<u64>> {
    get::<Option<i64>>(row, col)?
        .map(|v| from_i64(col, v))
        .transpose()
}

/// An optional amount for a BIGINT column. Errors: `InvalidInput` (`field`) above `i64::MAX`.
fn to_bigint_opt(field: &str, v: Option<u64>) -> Result<Option<i64>> {
    v.map(|v| to_i64(field, v)).transpose()
}

// --- volumes ---

const VOLUME_COLUMNS: &str = "id, org_id, project_id, name, size_bytes, runtime_name, \
     reservation_id, state, usage_bytes, usage_at, backup_schedule, created_at";

fn volume_from_row(row: &PgRow) -> Result<Volume> {
    let usage = match (
        get_u64_opt(row, "usage_bytes")?,
        get::<Option<DateTime<Utc>>>(row, "usage_at")?,
    ) {
        (Some(bytes), Some(at)) => Some(VolumeUsage { bytes, at }),
        (None, None) => None,
        (bytes, _) => {
            return Err(corrupt(
                "volumes.usage_bytes",
                format!("{bytes:?} without a matching usage_at"),
            ));
        }
    };
    Ok(Volume {
        id: VolumeId(get(row, "id")?),
        org: OrgId(get(row, "org_id")?),
        project: ProjectId(get(row, "project_id")?),
        name: name_column("volumes.name", get(row, "name")?)?,
        size_bytes: get_u64(row, "size_bytes")?,
        runtime_name: get(row, "runtime_name")?,
        reservation: get::<Option<Uuid>>(row, "reservation_id")?.map(ReservationId),
        state: read_name(row, "state", "volumes.state")?,
        usage,
        backup_schedule: get::<Option<Json<BackupSchedule>>>(row, "backup_schedule")?
            .map(|Json(s)| s),
        created_at: get(row, "created_at")?,
    })
}

pub(crate) async fn create_volume(pool: &PgPool, v: &Volume) -> Result<()> {
    // The (project, org) key refuses a project of another organization too; checking first
    // names the project whatever else is wrong.
    let owner: Option<Uuid> = sqlx::query_scalar("SELECT org_id FROM projects WHERE id = $1")
        .bind(v.project.0)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
    if owner != Some(v.org.0) {
        return Err(Error::not_found("project", v.project));
    }
    sqlx::query(&format!(
        "INSERT INTO volumes ({VOLUME_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(v.id.0)
    .bind(v.org.0)
    .bind(v.project.0)
    .bind(v.name.as_str())
    .bind(to_i64("size_bytes", v.size_bytes)?)
    .bind(&v.runtime_name)
    .bind(v.reservation.map(|r| r.0))
    .bind(v.state.name())
    .bind(to_bigint_opt("usage.bytes", v.usage.map(|u| u.bytes))?)
    .bind(v.usage.map(|u| u.at))
    .bind(v.backup_schedule.as_ref().map(Json))
    .bind(v.created_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |viol| match viol {
            Violation::Unique("volumes_pkey") => Some(Error::already_exists("volume", v.id)),
            Violation::Unique(_) => Some(Error::already_exists("volume", &v.name)),
            Violation::ForeignKey("volumes_org_fkey") => {
                Some(Error::not_found("organization", v.org))
            }
            Violation::ForeignKey(_) => Some(Error::not_found("project", v.project)),
        })
    })?;
    Ok(())
}

pub(crate) async fn volume_by_id(pool: &PgPool, id: VolumeId) -> Result<Volume> {
    sqlx::query(&format!(
        "SELECT {VOLUME_COLUMNS} FROM volumes WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .as_ref()
    .map(volume_from_row)
    .transpose()?
    .ok_or_else(|| Error::not_found("volume", id))
}

pub(crate) async fn volume_by_name_opt(
    pool: &PgPool,
    project: ProjectId,
    name: &str,
) -> Result<Option<Volume>> {
    sqlx::query(&format!(
        "SELECT {VOLUME_COLUMNS} FROM volumes WHERE project_id = $1 AND name = $2"
    ))
    .bind(project.0)
    .bind(name)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .as_ref()
    .map(volume_from_row)
    .transpose()
}

pub(crate) async fn list_volumes(
    pool: &PgPool,
    org: Option<OrgId>,
    project: Option<ProjectId>,
) -> Result<Vec<Volume>> {
    sqlx::query(&format!(
        "SELECT {VOLUME_COLUMNS} FROM volumes \
         WHERE ($1::uuid IS NULL OR org_id = $1) AND ($2::uuid IS NULL OR project_id = $2) \
         ORDER BY id"
    ))
    .bind(org.map(|o| o.0))
    .bind(project.map(|p| p.0))
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(volume_from_row)
    .collect()
}

pub(crate) async fn update_volume(pool: &PgPool, v: &Volume) -> Result<()> {
    // Organization, project, name and creation time are the volume's identity: never moved.
    let done = sqlx::query(
        "UPDATE volumes SET size_bytes = $2, runtime_name = $3, reservation_id = $4, \
         state = $5, usage_bytes = $6, usage_at = $7, backup_schedule = $8 WHERE id = $1",
    )
    .bind(v.id.0)
    .bind(to_i64("size_bytes", v.size_bytes)?)
    .bind(&v.runtime_name)
    .bind(v.reservation.map(|r| r.0))
    .bind(v.state.name())
    .bind(to_bigint_opt("usage.bytes", v.usage.map(|u| u.bytes))?)
    .bind(v.usage.map(|u| u.at))
    .bind(v.backup_schedule.as_ref().map(Json))
    .execute(pool)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("volume", v.id));
    }
    Ok(())
}

pub(crate) async fn delete_volume(pool: &PgPool, id: VolumeId) -> Result<()> {
    // Its backups stay: they have no foreign key to the volume.
    let done = sqlx::query("DELETE FROM volumes WHERE id = $1")
        .bind(id.0)
        .execute(pool)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("volume", id));
    }
    Ok(())
}

// --- backups ---

const BACKUP_COLUMNS: &str = "id, org_id, volume_id, project_id, volume_name, status, \
     triggered_by, consistent, paused, format, archive_bytes, size_bytes, sha256, location, error, \
     created_at, finished_at";

fn backup_from_row(row: &PgRow) -> Result<Backup> {
    Ok(Backup {
        id: BackupId(get(row, "id")?),
        org: OrgId(get(row, "org_id")?),
        volume: VolumeId(get(row, "volume_id")?),
        project: ProjectId(get(row, "project_id")?),
        volume_name: name_column("backups.volume_name", get(row, "volume_name")?)?,
        status: read_name(row, "status", "backups.status")?,
        trigger: read_name(row, "triggered_by", "backups.triggered_by")?,
        consistent: get(row, "consistent")?,
        paused: get(row, "paused")?,
        format: read_name(row, "format", "backups.format")?,
        archive_bytes: get_u64_opt(row, "archive_bytes")?,
        size_bytes: get_u64_opt(row, "size_bytes")?,
        sha256: get(row, "sha256")?,
        location: get(row, "location")?,
        error: get(row, "error")?,
        created_at: get(row, "created_at")?,
        finished_at: get(row, "finished_at")?,
    })
}

pub(crate) async fn create_backup(pool: &PgPool, b: &Backup) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO backups ({BACKUP_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    ))
    .bind(b.id.0)
    .bind(b.org.0)
    .bind(b.volume.0)
    .bind(b.project.0)
    .bind(b.volume_name.as_str())
    .bind(b.status.name())
    .bind(b.trigger.name())
    .bind(b.consistent)
    .bind(b.paused)
    .bind(b.format.name())
    .bind(to_bigint_opt("archive_bytes", b.archive_bytes)?)
    .bind(to_bigint_opt("size_bytes", b.size_bytes)?)
    .bind(b.sha256.as_deref())
    .bind(b.location.as_deref())
    .bind(b.error.as_deref())
    .bind(b.created_at)
    .bind(b.finished_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            Violation::Unique(_) => Some(Error::already_exists("backup", b.id)),
            // No foreign key on the organization (it may be a host application's).
            Violation::ForeignKey(_) => None,
        })
    })?;
    Ok(())
}

pub(crate) async fn backup_by_id(pool: &PgPool, id: BackupId) -> Result<Backup> {
    sqlx::query(&format!(
        "SELECT {BACKUP_COLUMNS} FROM backups WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .as_ref()
    .map(backup_from_row)
    .transpose()?
    .ok_or_else(|| Error::not_found("backup", id))
}

/// Backups matching `filter` (a condition on `$1`), newest first.
async fn list_backups_where(pool: &PgPool, filter: &str, id: Uuid) -> Result<Vec<Backup>> {
    sqlx::query(&format!(
        "SELECT {BACKUP_COLUMNS} FROM backups WHERE {filter} ORDER BY created_at DESC, id DESC"
    ))
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(backup_from_row)
    .collect()
}

pub(crate) async fn list_backups(pool: &PgPool, volume: VolumeId) -> Result<Vec<Backup>> {
    list_backups_where(pool, "volume_id = $1", volume.0).await
}

pub(crate) async fn list_org_backups(pool: &PgPool, org: OrgId) -> Result<Vec<Backup>> {
    list_backups_where(pool, "org_id = $1", org.0).await
}

pub(crate) async fn update_backup(pool: &PgPool, b: &Backup) -> Result<()> {
    // What was backed up, when and why is history; only the outcome changes.
    let done = sqlx::query(
        "UPDATE backups SET status = $2, archive_bytes = $3, size_bytes = $4, sha256 = $5, \
         location = $6, error = $7, finished_at = $8 WHERE id = $1",
    )
    .bind(b.id.0)
    .bind(b.status.name())
    .bind(to_bigint_opt("archive_bytes", b.archive_bytes)?)
    .bind(to_bigint_opt("size_bytes", b.size_bytes)?)
    .bind(b.sha256.as_deref())
    .bind(b.location.as_deref())
    .bind(b.error.as_deref())
    .bind(b.finished_at)
    .execute(pool)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("backup", b.id));
    }
    Ok(())
}

pub(crate) async fn delete_backup(pool: &PgPool, id: BackupId) -> Result<()> {
    let done = sqlx::query("DELETE FROM backups WHERE id = $1")
        .bind(id.0)
        .execute(pool)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("backup", id));
    }
    Ok(())
}
