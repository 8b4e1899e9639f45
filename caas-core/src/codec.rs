//! What every store backend needs to turn the model into columns and back, in one place, so
//! the SQL stores (and any other backend) follow one convention:
//!
//! - [`StoredName`]: the stored name of each enum the stores keep as text (the same as its
//!   serde name, checked by a test here). The names are matched exhaustively next to the
//!   types, so a new variant fails to compile here instead of failing a `CHECK` constraint at
//!   runtime; [`parse_name`] reads a column back, a value this version cannot read being a
//!   `Backend` error that names the column.
//! - [`to_i64`] / [`from_i64`]: the one integer-range check between the model's unsigned
//!   amounts and signed 64-bit columns.

use std::fmt;

use crate::error::{Error, Result};
use crate::model::{
    AlertState, BackupFormat, BackupStatus, BackupTrigger, DeploymentStatus, OrgStatus,
    ReservationState, Role, ServiceStatus, SubscriptionStatus, VolumeState,
};

/// An enum stored as its name.
pub trait StoredName: Sized + Copy + 'static {
    /// Every variant.
    const ALL: &'static [Self];
    /// The stored name (`snake_case`, as serde writes it).
    fn name(self) -> &'static str;
    /// The variant named `name`, if any.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }
}

macro_rules! stored_names {
    ($($ty:ident { $($variant:ident => $name:literal),+ $(,)? })+) => {
        $(
            impl StoredName for $ty {
                const ALL: &'static [Self] = &[$($ty::$variant),+];
                fn name(self) -> &'static str {
                    match self {
                        $($ty::$variant => $name),+
                    }
                }
            }
        )+
    };
}

stored_names! {
    OrgStatus { Active => "active", Suspended => "suspended" }
    Role { Viewer => "viewer", Member => "member", Admin => "admin", Owner => "owner" }
    SubscriptionStatus { Active => "active", Suspended => "suspended", Cancelled => "cancelled" }
    ServiceStatus {
        Deploying => "deploying",
        Running => "running",
        Stopped => "stopped",
        Failed => "failed",
    }
    DeploymentStatus {
        Pending => "pending",
        Active => "active",
        Superseded => "superseded",
        Failed => "failed",
        Removed => "removed",
    }
    ReservationState { Pending => "pending", Committed => "committed", Released => "released" }
    VolumeState { Ok => "ok", Warning => "warning", Full => "full" }
    BackupStatus { Running => "running", Succeeded => "succeeded", Failed => "failed" }
    BackupTrigger { Manual => "manual", Scheduled => "scheduled" }
    BackupFormat {
        Archive => "archive",
        PgDump => "pg_dump",
        MysqlDump => "mysql_dump",
        MariadbDump => "mariadb_dump",
    }
    AlertState { Firing => "firing", Resolved => "resolved" }
}

/// Reads the enum stored in `column` as `value`. Errors: `Backend` of `service` naming the
/// column when this version does not know the name.
pub fn parse_name<T: StoredName>(service: &'static str, column: &str, value: &str) -> Result<T> {
    T::from_name(value).ok_or_else(|| corrupt(service, column, value))
}

/// An unsigned amount as a signed 64-bit column. Errors: `InvalidInput` naming `field` above
/// `i64::MAX`.
pub fn to_i64(field: &str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| {
        Error::invalid(
            field,
            format!(
                "{value} is larger than the largest value the store can keep ({})",
                i64::MAX
            ),
        )
    })
}

/// A plan's numbers as signed 64-bit columns, in the order the SQL stores keep them: CPU,
/// memory, storage, containers, projects, domains, processes, backup storage, monthly price.
/// Errors: `InvalidInput` naming the field above `i64::MAX`.
pub fn plan_numbers(plan: &crate::model::Plan) -> Result<[i64; 9]> {
    let l = &plan.limits;
    Ok([
        to_i64("limits.cpu_millis", l.cpu_millis)?,
        to_i64("limits.memory_bytes", l.memory_bytes)?,
        to_i64("limits.storage_bytes", l.storage_bytes)?,
        to_i64("limits.max_containers", l.max_containers)?,
        to_i64("limits.max_projects", l.max_projects)?,
        to_i64("limits.max_domains", l.max_domains)?,
        to_i64("limits.max_pids", l.max_pids)?,
        to_i64("limits.backup_storage_bytes", l.backup_storage_bytes)?,
        to_i64("monthly_price_cents", plan.monthly_price_cents)?,
    ])
}

/// Reserved amounts as signed 64-bit columns, in the order the SQL stores keep them: CPU,
/// memory, storage, containers, projects. Errors: `InvalidInput` naming the field above
/// `i64::MAX`.
pub fn amount_numbers(amounts: &crate::units::ResourceAmounts) -> Result<[i64; 5]> {
    Ok([
        to_i64("amounts.cpu_millis", amounts.cpu_millis)?,
        to_i64("amounts.memory_bytes", amounts.memory_bytes)?,
        to_i64("amounts.storage_bytes", amounts.storage_bytes)?,
        to_i64("amounts.containers", amounts.containers)?,
        to_i64("amounts.projects", amounts.projects)?,
    ])
}

/// A signed 64-bit column back as an unsigned amount (the schemas keep amounts non-negative,
/// so a negative value means the row was written around the store). Errors: `Backend` of
/// `service` naming the column.
pub fn from_i64(service: &'static str, column: &str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| corrupt(service, column, value))
}

/// The `Backend` error of `service` for a stored value this version cannot read back.
pub fn corrupt(service: &'static str, column: &str, value: impl fmt::Display) -> Error {
    Error::backend(
        service,
        format!("column {column} holds '{value}', which this version of caas cannot read"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: StoredName + serde::Serialize + PartialEq + fmt::Debug>() {
        for v in T::ALL {
            assert_eq!(serde_json::to_value(v).unwrap(), v.name(), "{v:?}");
            assert_eq!(T::from_name(v.name()), Some(*v));
        }
        assert_eq!(T::from_name("no-such-name"), None);
    }

    #[test]
    fn stored_names_are_the_serde_names_and_read_back() {
        check::<OrgStatus>();
        check::<Role>();
        check::<SubscriptionStatus>();
        check::<ServiceStatus>();
        check::<DeploymentStatus>();
        check::<ReservationState>();
        check::<VolumeState>();
        check::<BackupStatus>();
        check::<BackupTrigger>();
        check::<BackupFormat>();
        check::<AlertState>();
    }

    #[test]
    fn unknown_names_and_out_of_range_numbers_name_the_column_or_field() {
        let e = parse_name::<Role>("db", "members.role", "root").unwrap_err();
        assert!(e.is_backend(), "{e:?}");
        assert!(e.to_string().contains("members.role"), "{e}");
        assert!(e.to_string().contains("'root'"), "{e}");
        assert_eq!(to_i64("amounts.cpu_millis", 7).unwrap(), 7);
        let e = to_i64("amounts.cpu_millis", u64::MAX).unwrap_err();
        assert!(matches!(&e, Error::InvalidInput { field, .. } if field == "amounts.cpu_millis"));
        assert_eq!(from_i64("db", "c", 0).unwrap(), 0);
        assert!(from_i64("db", "reservations.containers", -1).is_err());
    }
}
