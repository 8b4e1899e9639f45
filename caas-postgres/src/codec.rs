//! Column encodings shared by every area: typed column reads, enums by their stored names
//! (`caas_core::codec::StoredName`, matching the migrations' CHECK constraints; exhaustive in
//! caas-core, so a new variant fails to compile there instead of failing a CHECK here),
//! per-organization locks, and finishing transactions. The SQLite store follows the same
//! convention (`codec.rs` and `error.rs`, the same helper names).

use caas_core::codec::{StoredName, parse_name};
use caas_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};

use crate::error::{SERVICE, db_error, from_i64};

/// Reads column `col`, mapping a missing column or an undecodable value to `Backend`.
pub(crate) fn get<'r, T>(row: &'r PgRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(col)
        .map_err(|e| Error::backend_source(SERVICE, format!("cannot read column {col}"), e))
}

/// Reads a BIGINT column holding an unsigned amount.
pub(crate) fn get_u64(row: &PgRow, col: &str) -> Result<u64> {
    from_i64(col, get::<i64>(row, col)?)
}

/// Commits `tx` when `result` is `Ok`, rolls it back otherwise, so locks are released before
/// the caller sees the outcome.
pub(crate) async fn finish<T>(tx: Transaction<'_, Postgres>, result: Result<T>) -> Result<T> {
    match result {
        Ok(v) => {
            tx.commit().await.map_err(db_error)?;
            Ok(v)
        }
        Err(e) => {
            // The error that made us roll back is the one worth reporting; a failed rollback
            // (lost connection) ends the transaction on the server anyway.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// What a per-organization transaction lock serializes: each kind of work has its own lock, so
/// reservations never wait for domains.
#[derive(Debug, Clone, Copy)]
#[repr(i32)]
pub(crate) enum OrgLock {
    /// Quota reservations and their increases.
    Quota = 1,
    /// Domains (their count against the plan).
    Domains = 2,
}

/// Takes the transaction-level advisory lock `kind` of organization `org`, held until the
/// transaction ends. The organization is a host application's as much as ours, so there may
/// be no row of ours to lock: the lock is on the id itself (its 128 bits folded to 32; two
/// organizations that fold alike only wait for each other). With READ COMMITTED, every
/// statement after the lock sees what the previous holder committed.
pub(crate) async fn lock_org(
    tx: &mut Transaction<'_, Postgres>,
    kind: OrgLock,
    org: caas_core::OrgId,
) -> Result<()> {
    let bits = org.0.as_u128();
    let folded =
        (bits as u32) ^ ((bits >> 32) as u32) ^ ((bits >> 64) as u32) ^ ((bits >> 96) as u32);
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(kind as i32)
        .bind(i32::from_ne_bytes(folded.to_ne_bytes()))
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Reads the enum stored by name in column `col` (`table_column` names it in errors).
pub(crate) fn read_name<T: StoredName>(row: &PgRow, col: &str, table_column: &str) -> Result<T> {
    parse_name(SERVICE, table_column, &get::<String>(row, col)?)
}
