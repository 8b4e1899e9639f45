//! Volumes (unique by name per project, going with their project) and their backups (which
//! outlive the volume and its project, and go with the organization).

use caas_core::codec::StoredName;
use caas_core::model::{Backup, Volume, VolumeUsage};
use caas_core::validate::Name;
use caas_core::{BackupId, Error, OrgId, ProjectId, Result, VolumeId};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{self, Cols, all, to_i64, ts, ts_opt};
use crate::error::{corrupt, db_error, on_unique, on_write};

/// A nullable amount column (`Cols` reads only non-null ones).
fn u64_opt(row: &SqliteRow, table: &'static str, col: &str) -> Result<Option<u64>> {
    let v: Option<i64> = row.try_get(col).map_err(|e| corrupt(table, col, e))?;
    v.map(|v| u64::try_from(v).map_err(|_| corrupt(table, col, format!("negative amount {v}"))))
        .transpose()
}

/// An optional amount as stored. Errors: `InvalidInput` (`field`) above `i64::MAX`.
fn int_opt(field: &str, value: Option<u64>) -> Result<Option<i64>> {
    value.map(|v| to_i64(field, v)).transpose()
}

fn volume(row: &SqliteRow) -> Result<Volume> {
    let c = Cols::new(row, "volumes");
    let usage = match (
        u64_opt(row, "volumes", "usage_bytes")?,
        c.ts_opt("usage_at")?,
    ) {
        (Some(bytes), Some(at)) => Some(VolumeUsage { bytes, at }),
        (None, None) => None,
        _ => {
            return Err(corrupt(
                "volumes",
                "usage_bytes",
                "usage_bytes and usage_at must both be set or both be NULL",
            ));
        }
    };
    Ok(Volume {
        id: c.id("id")?,
        org: c.id("org_id")?,
        project: c.id("project_id")?,
        name: c.parsed("name", Name::parse)?,
        size_bytes: c.u64("size_bytes")?,
        runtime_name: c.text("runtime_name")?,
        reservation: c.id_opt("reservation_id")?,
        state: c.name("state")?,
        usage,
        backup_schedule: c.json_opt("backup_schedule")?,
        created_at: c.ts("created_at")?,
    })
}

fn backup(row: &SqliteRow) -> Result<Backup> {
    let c = Cols::new(row, "backups");
    Ok(Backup {
        id: c.id("id")?,
        org: c.id("org_id")?,
        volume: c.id("volume_id")?,
        project: c.id("project_id")?,
        volume_name: c.parsed("volume_name", Name::parse)?,
        status: c.name("status")?,
        trigger: c.name("triggered_by")?,
        consistent: c.bool("consistent")?,
        paused: c.bool("paused")?,
        format: c.name("format")?,
        archive_bytes: u64_opt(row, "backups", "archive_bytes")?,
        size_bytes: u64_opt(row, "backups", "size_bytes")?,
        sha256: c.text_opt("sha256")?,
        location: c.text_opt("location")?,
        error: c.text_opt("error")?,
        created_at: c.ts("created_at")?,
        finished_at: c.ts_opt("finished_at")?,
    })
}

// --- volumes ---

pub(crate) async fn create_volume(s: &SqliteStore, v: &Volume) -> Result<()> {
    // The project must belong to the volume's organization (the (project, org) key says so
    // too; checking first names the project whatever else is wrong).
    let owner: Option<uuid::Uuid> = sqlx::query_scalar("SELECT org_id FROM projects WHERE id = ?")
        .bind(v.project.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?;
    if owner != Some(v.org.as_uuid()) {
        return Err(Error::not_found("project", v.project));
    }
    let result = sqlx::query(
        "INSERT INTO volumes (id, org_id, project_id, name, size_bytes, runtime_name,
                              reservation_id, state, usage_bytes, usage_at, backup_schedule,
                              created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(v.id.as_uuid())
    .bind(v.org.as_uuid())
    .bind(v.project.as_uuid())
    .bind(v.name.as_str())
    .bind(to_i64("size_bytes", v.size_bytes)?)
    .bind(&v.runtime_name)
    .bind(v.reservation.map(|r| r.as_uuid()))
    .bind(v.state.name())
    .bind(int_opt("usage.bytes", v.usage.map(|u| u.bytes))?)
    .bind(ts_opt("usage.at", v.usage.map(|u| u.at))?)
    .bind(codec::json_opt(v.backup_schedule.as_ref())?)
    .bind(ts("created_at", v.created_at)?)
    .execute(s.pool())
    .await;
    if let Err(e) = result {
        let parents = [("project", "projects", v.project.as_uuid())];
        return Err(on_write(s.pool(), e, &parents, |cols| {
            if cols == "volumes.id" {
                Error::already_exists("volume", v.id)
            } else {
                Error::already_exists("volume", &v.name)
            }
        })
        .await);
    }
    Ok(())
}

pub(crate) async fn volume_by_id(s: &SqliteStore, id: VolumeId) -> Result<Volume> {
    sqlx::query("SELECT * FROM volumes WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map_or_else(|| Err(Error::not_found("volume", id)), |r| volume(&r))
}

pub(crate) async fn volume_by_name_opt(
    s: &SqliteStore,
    project: ProjectId,
    name: &str,
) -> Result<Option<Volume>> {
    sqlx::query("SELECT * FROM volumes WHERE project_id = ? AND name = ?")
        .bind(project.as_uuid())
        .bind(name)
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map(|r| volume(&r))
        .transpose()
}

pub(crate) async fn list_volumes(
    s: &SqliteStore,
    org: OrgId,
    project: Option<ProjectId>,
) -> Result<Vec<Volume>> {
    let rows = match project {
        None => {
            sqlx::query("SELECT * FROM volumes WHERE org_id = ? ORDER BY id")
                .bind(org.as_uuid())
                .fetch_all(s.pool())
                .await
        }
        Some(p) => {
            sqlx::query("SELECT * FROM volumes WHERE org_id = ? AND project_id = ? ORDER BY id")
                .bind(org.as_uuid())
                .bind(p.as_uuid())
                .fetch_all(s.pool())
                .await
        }
    }
    .map_err(db_error)?;
    all(&rows, volume)
}

pub(crate) async fn list_all_volumes(s: &SqliteStore) -> Result<Vec<Volume>> {
    let rows = sqlx::query("SELECT * FROM volumes ORDER BY id")
        .fetch_all(s.pool())
        .await
        .map_err(db_error)?;
    all(&rows, volume)
}

pub(crate) async fn update_volume(s: &SqliteStore, v: &Volume) -> Result<()> {
    // Organization, project, name and creation time are the volume's identity: never moved.
    let done = sqlx::query(
        "UPDATE volumes
         SET size_bytes = ?, runtime_name = ?, reservation_id = ?, state = ?, usage_bytes = ?,
             usage_at = ?, backup_schedule = ?
         WHERE id = ?",
    )
    .bind(to_i64("size_bytes", v.size_bytes)?)
    .bind(&v.runtime_name)
    .bind(v.reservation.map(|r| r.as_uuid()))
    .bind(v.state.name())
    .bind(int_opt("usage.bytes", v.usage.map(|u| u.bytes))?)
    .bind(ts_opt("usage.at", v.usage.map(|u| u.at))?)
    .bind(codec::json_opt(v.backup_schedule.as_ref())?)
    .bind(v.id.as_uuid())
    .execute(s.pool())
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("volume", v.id));
    }
    Ok(())
}

pub(crate) async fn delete_volume(s: &SqliteStore, id: VolumeId) -> Result<()> {
    // Its backups stay: they have no foreign key to the volume.
    let done = sqlx::query("DELETE FROM volumes WHERE id = ?")
        .bind(id.as_uuid())
        .execute(s.pool())
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("volume", id));
    }
    Ok(())
}

// --- backups ---

pub(crate) async fn create_backup(s: &SqliteStore, b: &Backup) -> Result<()> {
    let result = sqlx::query(
        "INSERT INTO backups (id, org_id, volume_id, project_id, volume_name, status,
                              triggered_by, consistent, paused, format, archive_bytes,
                              size_bytes, sha256, location, error, created_at, finished_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(b.id.as_uuid())
    .bind(b.org.as_uuid())
    .bind(b.volume.as_uuid())
    .bind(b.project.as_uuid())
    .bind(b.volume_name.as_str())
    .bind(b.status.name())
    .bind(b.trigger.name())
    .bind(b.consistent)
    .bind(b.paused)
    .bind(b.format.as_str())
    .bind(int_opt("archive_bytes", b.archive_bytes)?)
    .bind(int_opt("size_bytes", b.size_bytes)?)
    .bind(b.sha256.as_deref())
    .bind(b.location.as_deref())
    .bind(b.error.as_deref())
    .bind(ts("created_at", b.created_at)?)
    .bind(ts_opt("finished_at", b.finished_at)?)
    .execute(s.pool())
    .await;
    // No foreign key: backups outlive their volume and project, and the organization may be a
    // host application's (0014_foreign_directory.sql).
    result.map_err(|e| on_unique(e, |_| Error::already_exists("backup", b.id)))?;
    Ok(())
}

pub(crate) async fn backup_by_id(s: &SqliteStore, id: BackupId) -> Result<Backup> {
    sqlx::query("SELECT * FROM backups WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map_or_else(|| Err(Error::not_found("backup", id)), |r| backup(&r))
}

pub(crate) async fn list_backups(s: &SqliteStore, volume: VolumeId) -> Result<Vec<Backup>> {
    let rows =
        sqlx::query("SELECT * FROM backups WHERE volume_id = ? ORDER BY created_at DESC, id DESC")
            .bind(volume.as_uuid())
            .fetch_all(s.pool())
            .await
            .map_err(db_error)?;
    all(&rows, backup)
}

pub(crate) async fn list_org_backups(s: &SqliteStore, org: OrgId) -> Result<Vec<Backup>> {
    let rows =
        sqlx::query("SELECT * FROM backups WHERE org_id = ? ORDER BY created_at DESC, id DESC")
            .bind(org.as_uuid())
            .fetch_all(s.pool())
            .await
            .map_err(db_error)?;
    all(&rows, backup)
}

pub(crate) async fn update_backup(s: &SqliteStore, b: &Backup) -> Result<()> {
    // What was backed up, when and why is history; only the outcome changes.
    let done = sqlx::query(
        "UPDATE backups
         SET status = ?, archive_bytes = ?, size_bytes = ?, sha256 = ?, location = ?, error = ?,
             finished_at = ?
         WHERE id = ?",
    )
    .bind(b.status.name())
    .bind(int_opt("archive_bytes", b.archive_bytes)?)
    .bind(int_opt("size_bytes", b.size_bytes)?)
    .bind(b.sha256.as_deref())
    .bind(b.location.as_deref())
    .bind(b.error.as_deref())
    .bind(ts_opt("finished_at", b.finished_at)?)
    .bind(b.id.as_uuid())
    .execute(s.pool())
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("backup", b.id));
    }
    Ok(())
}

pub(crate) async fn delete_backup(s: &SqliteStore, id: BackupId) -> Result<()> {
    let done = sqlx::query("DELETE FROM backups WHERE id = ?")
        .bind(id.as_uuid())
        .execute(s.pool())
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("backup", id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use caas_core::ports::store::prelude::*;
    use caas_testkit::store::{backup_of, now, seed_org, seed_project, volume_of};

    use super::*;

    #[tokio::test]
    async fn amounts_above_i64_are_refused_naming_the_field_and_store_nothing() {
        let store = SqliteStore::open(":memory:").await.unwrap();
        store.migrate().await.unwrap();
        let org = seed_org(&store, "big").await;
        let project = seed_project(&store, &org, "web").await;

        let mut v = volume_of(&project, "data");
        v.size_bytes = u64::MAX;
        let e = store.create_volume(&v).await.unwrap_err();
        assert_eq!(e.field(), Some("size_bytes"), "{e:?}");
        assert_not_stored(store.volume(v.id).await);

        v.size_bytes = 1;
        store.create_volume(&v).await.unwrap();
        let mut huge = v.clone();
        huge.usage = Some(VolumeUsage {
            bytes: u64::MAX,
            at: now(),
        });
        let e = store.update_volume(&huge).await.unwrap_err();
        assert_eq!(e.field(), Some("usage.bytes"), "{e:?}");
        assert_eq!(store.volume(v.id).await.unwrap(), v);

        let mut b = backup_of(&v, now());
        b.archive_bytes = Some(u64::MAX);
        let e = store.create_backup(&b).await.unwrap_err();
        assert_eq!(e.field(), Some("archive_bytes"), "{e:?}");
        assert_not_stored(store.backup(b.id).await);
    }

    fn assert_not_stored<T: std::fmt::Debug>(r: Result<T>) {
        assert!(r.as_ref().is_err_and(Error::is_not_found), "{r:?}");
    }
}
