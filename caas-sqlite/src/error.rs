//! Mapping sqlx/SQLite errors into [`caas_core::Error`].
//!
//! Constraint violations are recognised by SQLite's extended result codes (sqlx turns them on):
//! unique and primary-key violations (2067, 1555) become `AlreadyExists` through a per-call
//! closure that knows which name conflicted; foreign-key violations (787) are resolved by
//! [`missing_parent`] into `NotFound` of the referenced object; check and not-null violations
//! (275, 1299) become `InvalidInput`. A busy or locked database (5, 6 and their extended
//! codes) and pool time-outs become the retryable `Unavailable`; anything else is `Backend`.

use caas_core::Error;
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqlitePool;
use uuid::Uuid;

/// The service name used in errors.
pub(crate) const SERVICE: &str = "sqlite";

const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;

/// Maps an error no caller-specific rule claimed.
pub(crate) fn db_error(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::PoolTimedOut => Error::Unavailable {
            service: SERVICE,
            message:
                "no database connection became free within the pool's 5 s acquire timeout; retry"
                    .into(),
            source: Some(Box::new(e)),
        },
        sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed | sqlx::Error::Io(_) => {
            Error::Unavailable {
                service: SERVICE,
                message: format!("the database cannot be reached: {e}"),
                source: Some(Box::new(e)),
            }
        }
        sqlx::Error::Database(d) => {
            let code = extended_code(&e).unwrap_or(0);
            if matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED) {
                return Error::Unavailable {
                    service: SERVICE,
                    message: format!(
                        "the database stayed locked by another writer beyond the busy timeout ({}); retry",
                        d.message()
                    ),
                    source: Some(Box::new(e)),
                };
            }
            match d.kind() {
                ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                    let detail = d.message();
                    let field = detail
                        .split_once(": ")
                        .map_or(detail, |(_, rest)| rest)
                        .to_string();
                    Error::invalid(field, format!("refused by the store: {detail}"))
                }
                ErrorKind::ForeignKeyViolation => Error::conflict(format!(
                    "the change refers to, or removes, a row another one depends on ({})",
                    d.message()
                )),
                _ => Error::backend_source(SERVICE, "query failed", e),
            }
        }
        _ => Error::backend_source(SERVICE, "query failed", e),
    }
}

fn extended_code(e: &sqlx::Error) -> Option<i32> {
    match e {
        sqlx::Error::Database(d) => d.code().and_then(|c| c.parse().ok()),
        _ => None,
    }
}

/// The columns of a violated unique (or primary-key) constraint, e.g. `users.email`, as
/// SQLite names them in "UNIQUE constraint failed: users.email".
pub(crate) fn unique_columns(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(d) if d.kind() == ErrorKind::UniqueViolation => Some(
            d.message()
                .split_once(": ")
                .map_or(d.message(), |(_, cols)| cols),
        ),
        _ => None,
    }
}

/// Maps a unique violation with `already_exists` (given the violated columns), anything
/// else with [`db_error`].
pub(crate) fn on_unique(e: sqlx::Error, already_exists: impl FnOnce(&str) -> Error) -> Error {
    match unique_columns(&e) {
        Some(cols) => already_exists(cols),
        None => db_error(e),
    }
}

/// Whether the error is a foreign-key violation.
pub(crate) fn is_foreign_key(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == ErrorKind::ForeignKeyViolation)
}

/// A row a new row refers to: its kind (for `NotFound`), its table and its id.
pub(crate) type Parent = (&'static str, &'static str, Uuid);

/// After a foreign-key violation (SQLite does not say which key failed): `NotFound` of the
/// first parent that does not exist, or `Conflict` if all exist by now (one was deleted and
/// re-created concurrently). Must not be called while this task holds a pool connection: a
/// `:memory:` pool has only one.
pub(crate) async fn missing_parent(pool: &SqlitePool, parents: &[Parent]) -> Error {
    for &(kind, table, id) in parents {
        // `table` is one of our own table names, never user input.
        let sql = format!("SELECT 1 FROM {table} WHERE id = ?");
        match sqlx::query(&sql).bind(id).fetch_optional(pool).await {
            Ok(None) => return Error::not_found(kind, id),
            Ok(Some(_)) => {}
            Err(e) => return db_error(e),
        }
    }
    Error::conflict("a row this change refers to was removed concurrently; retry")
}

/// Maps a write that may violate a foreign key (resolved with [`missing_parent`]) or a unique
/// constraint (mapped by `already_exists`).
pub(crate) async fn on_write(
    pool: &SqlitePool,
    e: sqlx::Error,
    parents: &[Parent],
    already_exists: impl FnOnce(&str) -> Error,
) -> Error {
    if is_foreign_key(&e) {
        missing_parent(pool, parents).await
    } else {
        on_unique(e, already_exists)
    }
}

/// A value read from the database that does not decode: the file was edited by hand or by
/// another program.
pub(crate) fn corrupt(
    table: &str,
    column: &str,
    e: impl Into<caas_core::error::BoxError>,
) -> Error {
    let source = e.into();
    Error::Backend {
        service: SERVICE,
        message: format!("column {table}.{column} holds a value the store cannot read: {source}"),
        source: Some(source),
    }
}
