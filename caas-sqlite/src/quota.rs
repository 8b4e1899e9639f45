//! Quota reservations.
//!
//! `quota_reserve` sums the organization's live reservations, checks them against the
//! [`QuotaGrant`] the engine read from the plan source, and inserts the new pending
//! reservation inside one `BEGIN IMMEDIATE` transaction: SQLite
//! takes the database's single write lock at `BEGIN`, so no other reservation (from this or
//! any other process) can be summed or inserted between our sum and our insert. Within this
//! process the write transactions also queue on [`SqliteStore`]'s write gate, so they wait in
//! FIFO order instead of polling SQLite's busy handler. The decisions themselves are
//! `caas_core`'s shared `sum_usage` and [`QuotaGrant::check`], so every store refuses with the
//! same words.

use caas_core::codec::amount_numbers;
use caas_core::model::{Reservation, ReservationState, Usage};
use caas_core::ports::quota::{QuotaGrant, sum_usage};
use caas_core::units::ResourceAmounts;
use caas_core::{Error, OrgId, ReservationId, Result};
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{Cols, all, ts};
use crate::error::db_error;

fn reservation(row: &SqliteRow) -> Result<Reservation> {
    let c = Cols::new(row, "reservations");
    Ok(Reservation {
        id: c.id("id")?,
        org: c.id("org_id")?,
        amounts: ResourceAmounts {
            cpu_millis: c.u64("cpu_millis")?,
            memory_bytes: c.u64("memory_bytes")?,
            storage_bytes: c.u64("storage_bytes")?,
            containers: c.u64("containers")?,
            projects: c.u64("projects")?,
        },
        state: c.name("state")?,
        owner: c.text_opt("owner")?,
        expires_at: c.ts("expires_at")?,
        created_at: c.ts("created_at")?,
    })
}

/// The organization's reservations that count at `now`: committed, and pending unexpired.
async fn live(conn: &mut SqliteConnection, org: OrgId, now: &str) -> Result<Vec<Reservation>> {
    let rows = sqlx::query(
        "SELECT * FROM reservations
         WHERE org_id = ?
           AND (state = 'committed' OR (state = 'pending' AND expires_at > ?))",
    )
    .bind(org.as_uuid())
    .bind(now)
    .fetch_all(conn)
    .await
    .map_err(db_error)?;
    all(&rows, reservation)
}

pub(crate) async fn reserve(
    s: &SqliteStore,
    grant: &QuotaGrant,
    amounts: ResourceAmounts,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Reservation> {
    let now_text = ts("now", now)?;
    let expires_text = ts("expires_at", expires_at)?;
    let numbers = amount_numbers(&amounts)?;

    let org = grant.org;
    let mut tx = s.write().await?;
    let held = live(tx.conn(), org, &now_text).await?;
    let (committed, pending) = sum_usage(&held, now);
    grant.check(&committed.plus(&pending), &amounts)?;

    let r = Reservation {
        id: ReservationId::new(),
        org,
        amounts,
        state: ReservationState::Pending,
        owner: None,
        expires_at,
        created_at: now,
    };
    let [cpu, mem, storage, containers, projects] = numbers;
    sqlx::query(
        "INSERT INTO reservations (id, org_id, cpu_millis, memory_bytes, storage_bytes, containers,
                                   projects, state, owner, expires_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', NULL, ?, ?)",
    )
    .bind(r.id.as_uuid())
    .bind(org.as_uuid())
    .bind(cpu)
    .bind(mem)
    .bind(storage)
    .bind(containers)
    .bind(projects)
    .bind(&expires_text)
    .bind(&now_text)
    .execute(tx.conn())
    .await
    .map_err(db_error)?;
    tx.commit().await?;
    Ok(r)
}

pub(crate) async fn commit(
    s: &SqliteStore,
    id: ReservationId,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    // One conditional update decides atomically; when it changes nothing, the row says why.
    let done = sqlx::query(
        "UPDATE reservations SET state = 'committed', owner = ?
         WHERE id = ? AND state = 'pending' AND expires_at > ?",
    )
    .bind(owner)
    .bind(id.as_uuid())
    .bind(ts("now", now)?)
    .execute(s.pool())
    .await
    .map_err(db_error)?;
    if done.rows_affected() > 0 {
        return Ok(());
    }
    let r = by_id(s, id).await?;
    match r.state {
        ReservationState::Committed => Ok(()),
        ReservationState::Released => Err(Error::conflict(format!(
            "reservation {id} was already released"
        ))),
        ReservationState::Pending => Err(Error::conflict(format!(
            "reservation {id} expired before it was committed"
        ))),
    }
}

pub(crate) async fn resize(
    s: &SqliteStore,
    id: ReservationId,
    grant: &QuotaGrant,
    amounts: ResourceAmounts,
    now: DateTime<Utc>,
) -> Result<Reservation> {
    let now_text = ts("now", now)?;
    let numbers = amount_numbers(&amounts)?;
    let mut tx = s.write().await?;
    let mut r = sqlx::query("SELECT * FROM reservations WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(tx.conn())
        .await
        .map_err(db_error)?
        .map_or_else(
            || Err(Error::not_found("reservation", id)),
            |row| reservation(&row),
        )?;
    if r.state == ReservationState::Released {
        return Err(Error::conflict(format!(
            "reservation {id} was already released"
        )));
    }
    grant.check_org(r.org)?;
    let increase = amounts.minus(&r.amounts);
    if !increase.is_zero() {
        let held = live(tx.conn(), r.org, &now_text).await?;
        let (committed, pending) = sum_usage(&held, now);
        grant.check(&committed.plus(&pending), &increase)?;
    }
    let [cpu, mem, storage, containers, projects] = numbers;
    sqlx::query(
        "UPDATE reservations SET cpu_millis = ?, memory_bytes = ?, storage_bytes = ?,
                                 containers = ?, projects = ?
         WHERE id = ?",
    )
    .bind(cpu)
    .bind(mem)
    .bind(storage)
    .bind(containers)
    .bind(projects)
    .bind(id.as_uuid())
    .execute(tx.conn())
    .await
    .map_err(db_error)?;
    tx.commit().await?;
    r.amounts = amounts;
    Ok(r)
}

pub(crate) async fn release(s: &SqliteStore, id: ReservationId) -> Result<()> {
    let done = sqlx::query("UPDATE reservations SET state = 'released' WHERE id = ?")
        .bind(id.as_uuid())
        .execute(s.pool())
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("reservation", id));
    }
    Ok(())
}

pub(crate) async fn by_id(s: &SqliteStore, id: ReservationId) -> Result<Reservation> {
    sqlx::query("SELECT * FROM reservations WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map_or_else(
            || Err(Error::not_found("reservation", id)),
            |r| reservation(&r),
        )
}

pub(crate) async fn usage(
    s: &SqliteStore,
    grant: &QuotaGrant,
    now: DateTime<Utc>,
) -> Result<Usage> {
    let now_text = ts("now", now)?;
    let mut conn = s.pool().acquire().await.map_err(db_error)?;
    let held = live(&mut conn, grant.org, &now_text).await?;
    let (committed, pending) = sum_usage(&held, now);
    Ok(grant.usage(committed, pending))
}

pub(crate) async fn expire(s: &SqliteStore, now: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE reservations SET state = 'released' WHERE state = 'pending' AND expires_at <= ?",
    )
    .bind(ts("now", now)?)
    .execute(s.pool())
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use caas_core::codec::StoredName;

    #[test]
    fn state_names_in_sql_are_the_stored_names() {
        // The SQL above spells states literally.
        for (state, text) in [
            (ReservationState::Pending, "pending"),
            (ReservationState::Committed, "committed"),
            (ReservationState::Released, "released"),
        ] {
            assert_eq!(state.name(), text);
        }
    }
}
