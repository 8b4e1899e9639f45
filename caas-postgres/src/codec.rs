//! Column encodings shared by every area: enums as their snake_case text (matching the
//! migration's CHECK constraints), typed column reads, and finishing transactions.
//!
//! Enums are matched exhaustively rather than through serde so that a variant added in
//! caas-core fails to compile here instead of failing a CHECK at runtime.

use caas_core::model::{
    DeploymentStatus, OrgStatus, ReservationState, Role, ServiceStatus, SubscriptionStatus,
};
use caas_core::{Error, Result};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};

use crate::error::{SERVICE, corrupt, db_error, from_bigint};

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
    from_bigint(col, get::<i64>(row, col)?)
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

/// Text form of an organization status.
pub(crate) fn org_status(s: OrgStatus) -> &'static str {
    match s {
        OrgStatus::Active => "active",
        OrgStatus::Suspended => "suspended",
    }
}

/// Parses an organization status column.
pub(crate) fn parse_org_status(s: &str) -> Result<OrgStatus> {
    match s {
        "active" => Ok(OrgStatus::Active),
        "suspended" => Ok(OrgStatus::Suspended),
        other => Err(corrupt("organizations.status", other)),
    }
}

/// Text form of a role.
pub(crate) fn role(r: Role) -> &'static str {
    r.as_str()
}

/// Parses a role column.
pub(crate) fn parse_role(s: &str) -> Result<Role> {
    match s {
        "viewer" => Ok(Role::Viewer),
        "member" => Ok(Role::Member),
        "admin" => Ok(Role::Admin),
        "owner" => Ok(Role::Owner),
        other => Err(corrupt("members.role", other)),
    }
}

/// Text form of a subscription status.
pub(crate) fn subscription_status(s: SubscriptionStatus) -> &'static str {
    s.as_str()
}

/// Parses a subscription status column.
pub(crate) fn parse_subscription_status(s: &str) -> Result<SubscriptionStatus> {
    match s {
        "active" => Ok(SubscriptionStatus::Active),
        "suspended" => Ok(SubscriptionStatus::Suspended),
        "cancelled" => Ok(SubscriptionStatus::Cancelled),
        other => Err(corrupt("subscriptions.status", other)),
    }
}

/// Text form of a service status.
pub(crate) fn service_status(s: ServiceStatus) -> &'static str {
    match s {
        ServiceStatus::Deploying => "deploying",
        ServiceStatus::Running => "running",
        ServiceStatus::Stopped => "stopped",
        ServiceStatus::Failed => "failed",
    }
}

/// Parses a service status column.
pub(crate) fn parse_service_status(s: &str) -> Result<ServiceStatus> {
    match s {
        "deploying" => Ok(ServiceStatus::Deploying),
        "running" => Ok(ServiceStatus::Running),
        "stopped" => Ok(ServiceStatus::Stopped),
        "failed" => Ok(ServiceStatus::Failed),
        other => Err(corrupt("services.status", other)),
    }
}

/// Text form of a deployment status.
pub(crate) fn deployment_status(s: DeploymentStatus) -> &'static str {
    match s {
        DeploymentStatus::Pending => "pending",
        DeploymentStatus::Active => "active",
        DeploymentStatus::Superseded => "superseded",
        DeploymentStatus::Failed => "failed",
        DeploymentStatus::Removed => "removed",
    }
}

/// Parses a deployment status column.
pub(crate) fn parse_deployment_status(s: &str) -> Result<DeploymentStatus> {
    match s {
        "pending" => Ok(DeploymentStatus::Pending),
        "active" => Ok(DeploymentStatus::Active),
        "superseded" => Ok(DeploymentStatus::Superseded),
        "failed" => Ok(DeploymentStatus::Failed),
        "removed" => Ok(DeploymentStatus::Removed),
        other => Err(corrupt("deployments.status", other)),
    }
}

/// Text form of a reservation state.
pub(crate) fn reservation_state(s: ReservationState) -> &'static str {
    match s {
        ReservationState::Pending => "pending",
        ReservationState::Committed => "committed",
        ReservationState::Released => "released",
    }
}

/// Parses a reservation state column.
pub(crate) fn parse_reservation_state(s: &str) -> Result<ReservationState> {
    match s {
        "pending" => Ok(ReservationState::Pending),
        "committed" => Ok(ReservationState::Committed),
        "released" => Ok(ReservationState::Released),
        other => Err(corrupt("reservations.state", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_texts_roundtrip_and_match_serde() {
        for s in [OrgStatus::Active, OrgStatus::Suspended] {
            assert_eq!(parse_org_status(org_status(s)).unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), org_status(s));
        }
        for r in [Role::Viewer, Role::Member, Role::Admin, Role::Owner] {
            assert_eq!(parse_role(role(r)).unwrap(), r);
        }
        for s in [
            SubscriptionStatus::Active,
            SubscriptionStatus::Suspended,
            SubscriptionStatus::Cancelled,
        ] {
            assert_eq!(
                parse_subscription_status(subscription_status(s)).unwrap(),
                s
            );
        }
        for s in [
            ServiceStatus::Deploying,
            ServiceStatus::Running,
            ServiceStatus::Stopped,
            ServiceStatus::Failed,
        ] {
            assert_eq!(parse_service_status(service_status(s)).unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), service_status(s));
        }
        for s in [
            DeploymentStatus::Pending,
            DeploymentStatus::Active,
            DeploymentStatus::Superseded,
            DeploymentStatus::Failed,
            DeploymentStatus::Removed,
        ] {
            assert_eq!(parse_deployment_status(deployment_status(s)).unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), deployment_status(s));
        }
        for s in [
            ReservationState::Pending,
            ReservationState::Committed,
            ReservationState::Released,
        ] {
            assert_eq!(parse_reservation_state(reservation_state(s)).unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), reservation_state(s));
        }
        assert!(parse_role("root").unwrap_err().is_backend());
    }
}
