//! Quota reservations.
//!
//! `quota_reserve` runs in one READ COMMITTED transaction that first takes the
//! organization's quota lock (a transaction-level advisory lock on its id: the organization
//! and its plan may live in a host application's tables, so there is no row of ours to lock).
//! Every reservation of one organization therefore queues on that lock; each statement after
//! it takes a fresh snapshot, so the holder sees every reservation committed by the previous
//! holder before it sums usage, checks the grant and inserts. Reservations of different
//! organizations do not wait for each other.
//!
//! The plan comes with the call (a [`QuotaGrant`] the engine read from the plan source), and
//! refusal wording and arithmetic come from `caas_core::ports::quota`, so every backend
//! refuses with the same words.

use caas_core::codec::StoredName;
use caas_core::codec::amount_numbers;
use caas_core::model::{Reservation, ReservationState, Usage};
use caas_core::ports::quota::{QuotaGrant, sum_usage};
use caas_core::units::ResourceAmounts;
use caas_core::{Error, OrgId, ReservationId, Result};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::codec::{OrgLock, finish, get, get_u64, lock_org, read_name};
use crate::error::db_error;

const RESERVATION_COLUMNS: &str = "id, org_id, cpu_millis, memory_bytes, storage_bytes, \
     containers, projects, state, owner, expires_at, created_at";

fn reservation_from_row(row: &PgRow) -> Result<Reservation> {
    Ok(Reservation {
        id: ReservationId(get(row, "id")?),
        org: OrgId(get(row, "org_id")?),
        amounts: ResourceAmounts {
            cpu_millis: get_u64(row, "cpu_millis")?,
            memory_bytes: get_u64(row, "memory_bytes")?,
            storage_bytes: get_u64(row, "storage_bytes")?,
            containers: get_u64(row, "containers")?,
            projects: get_u64(row, "projects")?,
        },
        state: read_name(row, "state", "reservations.state")?,
        owner: get(row, "owner")?,
        expires_at: get(row, "expires_at")?,
        created_at: get(row, "created_at")?,
    })
}

/// The reservations that count at `now`: committed ones and unexpired pending ones.
async fn live_reservations(
    conn: &mut PgConnection,
    org: OrgId,
    now: DateTime<Utc>,
) -> Result<Vec<Reservation>> {
    // `state <> 'released'` lets the planner use the partial index reservations_live_by_org.
    sqlx::query(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM reservations \
         WHERE org_id = $1 AND state <> 'released' \
           AND (state = 'committed' OR expires_at > $2)"
    ))
    .bind(org.0)
    .bind(now)
    .fetch_all(conn)
    .await
    .map_err(db_error)?
    .iter()
    .map(reservation_from_row)
    .collect()
}

pub(crate) async fn reserve(
    pool: &PgPool,
    grant: &QuotaGrant,
    amounts: ResourceAmounts,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Reservation> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let result = reserve_in(&mut tx, grant, amounts, now, expires_at).await;
    finish(tx, result).await
}

async fn reserve_in(
    tx: &mut Transaction<'_, Postgres>,
    grant: &QuotaGrant,
    amounts: ResourceAmounts,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Reservation> {
    let org = grant.org;
    lock_org(tx, OrgLock::Quota, org).await?;
    let (committed, pending) = sum_usage(&live_reservations(tx, org, now).await?, now);
    grant.check(&committed.plus(&pending), &amounts)?;

    let [cpu, memory, storage, containers, projects] = amount_numbers(&amounts)?;
    let reservation = Reservation {
        id: ReservationId::new(),
        org,
        amounts,
        state: ReservationState::Pending,
        owner: None,
        expires_at,
        created_at: now,
    };
    sqlx::query(
        "INSERT INTO reservations (id, org_id, cpu_millis, memory_bytes, storage_bytes, \
         containers, projects, state, owner, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10)",
    )
    .bind(reservation.id.0)
    .bind(org.0)
    .bind(cpu)
    .bind(memory)
    .bind(storage)
    .bind(containers)
    .bind(projects)
    .bind(ReservationState::Pending.name())
    .bind(expires_at)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(reservation)
}

pub(crate) async fn commit(
    pool: &PgPool,
    id: ReservationId,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    // One conditional update does the transition atomically; only when it matches nothing do
    // we look at why.
    let done = sqlx::query(
        "UPDATE reservations SET state = 'committed', owner = $2 \
         WHERE id = $1 AND state = 'pending' AND expires_at > $3",
    )
    .bind(id.0)
    .bind(owner)
    .bind(now)
    .execute(pool)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let r = reservation(pool, id).await?;
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
    pool: &PgPool,
    id: ReservationId,
    grant: &QuotaGrant,
    amounts: ResourceAmounts,
    now: DateTime<Utc>,
) -> Result<Reservation> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let result = resize_in(&mut tx, id, grant, amounts, now).await;
    finish(tx, result).await
}

async fn resize_in(
    tx: &mut Transaction<'_, Postgres>,
    id: ReservationId,
    grant: &QuotaGrant,
    amounts: ResourceAmounts,
    now: DateTime<Utc>,
) -> Result<Reservation> {
    let org: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT org_id FROM reservations WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
    let org = OrgId(org.ok_or_else(|| Error::not_found("reservation", id))?);
    grant.check_org(org)?;
    // Same lock as quota_reserve: increases and new reservations of an org are serialized.
    lock_org(tx, OrgLock::Quota, org).await?;
    let [cpu, memory, storage, containers, projects] = amount_numbers(&amounts)?;
    let mut r = sqlx::query(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = $1 FOR UPDATE"
    ))
    .bind(id.0)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_error)
    .and_then(|row| reservation_from_row(&row))?;
    if r.state == ReservationState::Released {
        return Err(Error::conflict(format!(
            "reservation {id} was already released"
        )));
    }
    let increase = amounts.minus(&r.amounts);
    if !increase.is_zero() {
        let (committed, pending) = sum_usage(&live_reservations(tx, org, now).await?, now);
        grant.check(&committed.plus(&pending), &increase)?;
    }
    sqlx::query(
        "UPDATE reservations SET cpu_millis = $2, memory_bytes = $3, storage_bytes = $4, \
         containers = $5, projects = $6 WHERE id = $1",
    )
    .bind(id.0)
    .bind(cpu)
    .bind(memory)
    .bind(storage)
    .bind(containers)
    .bind(projects)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    r.amounts = amounts;
    Ok(r)
}

pub(crate) async fn release(pool: &PgPool, id: ReservationId) -> Result<()> {
    let done = sqlx::query("UPDATE reservations SET state = 'released' WHERE id = $1")
        .bind(id.0)
        .execute(pool)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("reservation", id));
    }
    Ok(())
}

pub(crate) async fn reservation(pool: &PgPool, id: ReservationId) -> Result<Reservation> {
    sqlx::query(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .map(|row| reservation_from_row(&row))
    .transpose()?
    .ok_or_else(|| Error::not_found("reservation", id))
}

pub(crate) async fn usage(pool: &PgPool, grant: &QuotaGrant, now: DateTime<Utc>) -> Result<Usage> {
    let mut conn = pool.acquire().await.map_err(db_error)?;
    let (committed, pending) = sum_usage(&live_reservations(&mut conn, grant.org, now).await?, now);
    Ok(grant.usage(committed, pending))
}

pub(crate) async fn expire(pool: &PgPool, now: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE reservations SET state = 'released' WHERE state = 'pending' AND expires_at <= $1",
    )
    .bind(now)
    .execute(pool)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected())
}
