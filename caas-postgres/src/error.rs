//! Mapping sqlx and PostgreSQL errors to [`caas_core::Error`].
//!
//! Two layers: [`db_error`] maps any error without context (connection trouble, constraint
//! classes, everything else), and [`on_violation`] lets a call site turn a unique or
//! foreign-key violation into the precise error its trait method documents, knowing which
//! constraint fired and what the caller passed.

use std::fmt;

use caas_core::Error;
use sqlx::error::ErrorKind;

/// The service name used in errors.
pub(crate) const SERVICE: &str = "postgres";

/// A constraint violation a statement ran into, by constraint name (see the migration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Violation<'a> {
    /// SQLSTATE 23505.
    Unique(&'a str),
    /// SQLSTATE 23503.
    ForeignKey(&'a str),
}

/// Maps `e`, first offering unique and foreign-key violations to `f`; when `f` returns `None`
/// (or the error is something else) the generic mapping of [`db_error`] applies.
pub(crate) fn on_violation(
    e: sqlx::Error,
    f: impl FnOnce(Violation<'_>) -> Option<Error>,
) -> Error {
    if let sqlx::Error::Database(db) = &e {
        let constraint = db.constraint().unwrap_or_default();
        let violation = match db.kind() {
            ErrorKind::UniqueViolation => Some(Violation::Unique(constraint)),
            ErrorKind::ForeignKeyViolation => Some(Violation::ForeignKey(constraint)),
            _ => None,
        };
        if let Some(mapped) = violation.and_then(f) {
            return mapped;
        }
    }
    db_error(e)
}

/// How a SQLSTATE is reported to callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// The server is unreachable, shutting down, overloaded, or the transaction lost a race it
    /// can win on retry: `Unavailable` (retryable).
    Unavailable,
    /// 23505: `AlreadyExists`.
    Unique,
    /// 23503: `Conflict` naming the reference (call sites map the documented cases to
    /// `NotFound` first).
    ForeignKey,
    /// 23514 and 23502, and data exceptions (class 22): `InvalidInput`.
    Invalid,
    /// Authentication failures (class 28) and a missing database (3D000): `InvalidInput` on
    /// the database URL.
    Configuration,
    /// Anything else: `Backend`.
    Other,
}

/// Classifies a SQLSTATE code.
pub(crate) fn classify(code: &str) -> Class {
    match code {
        // 08: connection exception; 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
        // connect now, 57P05 idle session timeout; 53300 too many connections; 40001
        // serialization failure and 40P01 deadlock (retrying the call may succeed).
        c if c.starts_with("08") => Class::Unavailable,
        "57P01" | "57P02" | "57P03" | "57P05" | "53300" | "40001" | "40P01" => Class::Unavailable,
        "23505" => Class::Unique,
        "23503" => Class::ForeignKey,
        "23514" | "23502" => Class::Invalid,
        c if c.starts_with("22") => Class::Invalid,
        "3D000" => Class::Configuration,
        c if c.starts_with("28") => Class::Configuration,
        _ => Class::Other,
    }
}

/// Maps an sqlx error without call-site context.
///
/// | sqlx error | caas error |
/// |---|---|
/// | `PoolTimedOut`, `PoolClosed`, `Io`, `Tls`, `WorkerCrashed` | `Unavailable` |
/// | SQLSTATE class 08, 57P01/02/03/05, 53300, 40001, 40P01 | `Unavailable` |
/// | 23505 unique violation | `AlreadyExists` (kind from the table, the constraint as id) |
/// | 23503 foreign-key violation | `Conflict` naming the constraint |
/// | 23514 check, 23502 not-null, class 22 data exception | `InvalidInput` naming the column |
/// | class 28 (authentication), 3D000 (no such database), `Configuration` | `InvalidInput` (`database_url`) |
/// | `RowNotFound` and everything else | `Backend` |
pub(crate) fn db_error(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::Configuration(c) => Error::invalid("database_url", c.to_string()),
        sqlx::Error::PoolTimedOut => unavailable(
            "no database connection became available within the pool's acquire timeout: the \
             server is down or unreachable, or every connection is busy; retry later",
            e,
        ),
        sqlx::Error::PoolClosed => unavailable("the store's connection pool was closed", e),
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
            unavailable(format!("cannot talk to the server: {e}"), e)
        }
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = db.message().to_string();
            let constraint = db.constraint().map(str::to_string);
            let table = db.table().map(str::to_string);
            let column = db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .and_then(|pg| pg.column())
                .map(str::to_string);
            let source = sqlx::Error::Database(db);
            match classify(&code) {
                Class::Unavailable => {
                    unavailable(format!("the server refused ({code}): {message}"), source)
                }
                Class::Unique => Error::AlreadyExists {
                    kind: kind_of_table(table.as_deref()),
                    id: constraint.unwrap_or(message),
                },
                Class::ForeignKey => Error::conflict(format!(
                    "{message}; the referenced object does not exist or is still referenced{}",
                    constraint
                        .map(|c| format!(" (constraint {c})"))
                        .unwrap_or_default()
                )),
                Class::Invalid => Error::invalid(
                    field_of(table.as_deref(), constraint.as_deref(), column.as_deref()),
                    message,
                ),
                Class::Configuration => Error::invalid("database_url", message),
                Class::Other => Error::backend_source(
                    SERVICE,
                    format!("statement failed ({code}): {message}"),
                    source,
                ),
            }
        }
        e => Error::backend_source(SERVICE, e.to_string(), e),
    }
}

fn unavailable(message: impl Into<String>, source: sqlx::Error) -> Error {
    Error::Unavailable {
        service: SERVICE,
        message: message.into(),
        source: Some(Box::new(source)),
    }
}

/// The caas kind of object a table holds, for messages.
fn kind_of_table(table: Option<&str>) -> &'static str {
    match table {
        Some("users") => "user",
        Some("organizations") => "organization",
        Some("members") => "member",
        Some("invitations") => "invitation",
        Some("domains") => "domain",
        Some("host_claims") => "hostname claim",
        Some("plans") => "plan",
        Some("subscriptions") => "subscription",
        Some("projects") => "project",
        Some("services") => "service",
        Some("deployments") => "deployment",
        Some("reservations") => "reservation",
        Some("service_events") => "event",
        Some("audit_log") => "audit entry",
        Some("settings") => "setting",
        _ => "row",
    }
}

/// The field an invalid value belongs to: the column when the server names it, else the
/// check constraint's name without its `<table>_` prefix and `_check` suffix (the migration
/// names checks `<table>_<column>_check`).
fn field_of(table: Option<&str>, constraint: Option<&str>, column: Option<&str>) -> String {
    if let Some(column) = column {
        return column.to_string();
    }
    match (table, constraint) {
        (Some(t), Some(c)) => c
            .strip_prefix(t)
            .and_then(|c| c.strip_prefix('_'))
            .unwrap_or(c)
            .trim_end_matches("_check")
            .to_string(),
        (None, Some(c)) => c.trim_end_matches("_check").to_string(),
        _ => "value".to_string(),
    }
}

/// An unsigned amount for a BIGINT column: `caas_core::codec::to_i64` (`InvalidInput` naming
/// `field` above `i64::MAX`).
pub(crate) use caas_core::codec::to_i64;

/// A BIGINT column back as an unsigned amount (`Backend` naming the column when negative).
pub(crate) fn from_i64(column: &str, v: i64) -> caas_core::Result<u64> {
    caas_core::codec::from_i64(SERVICE, column, v)
}

/// A `Backend` error for a stored value the store cannot read back.
pub(crate) fn corrupt(column: &str, value: impl fmt::Display) -> Error {
    caas_core::codec::corrupt(SERVICE, column, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_and_shutdown_codes_are_unavailable() {
        for code in [
            "08000", "08001", "08003", "08006", "08P01", "57P01", "57P02", "57P03", "53300",
            "40001", "40P01",
        ] {
            assert_eq!(classify(code), Class::Unavailable, "{code}");
        }
    }

    #[test]
    fn constraint_and_data_codes_are_classified() {
        assert_eq!(classify("23505"), Class::Unique);
        assert_eq!(classify("23503"), Class::ForeignKey);
        assert_eq!(classify("23514"), Class::Invalid);
        assert_eq!(classify("22021"), Class::Invalid);
        assert_eq!(classify("28P01"), Class::Configuration);
        assert_eq!(classify("3D000"), Class::Configuration);
        assert_eq!(classify("42P01"), Class::Other);
        assert_eq!(classify(""), Class::Other);
    }

    #[test]
    fn pool_and_io_errors_are_retryable_unavailable() {
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        ] {
            let mapped = db_error(e);
            assert!(
                mapped.is_unavailable() && mapped.is_retryable(),
                "{mapped:?}"
            );
        }
        assert!(db_error(sqlx::Error::RowNotFound).is_backend());
    }

    #[test]
    fn check_constraint_names_become_fields() {
        assert_eq!(
            field_of(Some("users"), Some("users_display_name_check"), None),
            "display_name"
        );
        assert_eq!(
            field_of(Some("plans"), Some("plans_limits_check"), None),
            "limits"
        );
        assert_eq!(field_of(Some("plans"), None, Some("name")), "name");
        assert_eq!(field_of(None, None, None), "value");
    }

    #[test]
    fn amounts_above_bigint_are_invalid_input_naming_the_field() {
        assert_eq!(to_i64("limits.cpu_millis", 7).unwrap(), 7);
        let e = to_i64("limits.cpu_millis", u64::MAX).unwrap_err();
        assert_eq!(e.field(), Some("limits.cpu_millis"));
        assert!(from_i64("cpu_millis", -1).unwrap_err().is_backend());
    }
}
