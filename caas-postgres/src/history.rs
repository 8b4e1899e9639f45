//! Service events and the audit log.

use caas_core::model::{AuditEntry, ServiceEvent, ServiceEventKind};
use caas_core::ports::store::AuditFilter;
use caas_core::{AuditId, Error, EventId, OrgId, Result, ServiceId, UserId};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;
use uuid::Uuid;

use crate::codec::get;
use crate::error::{Violation, db_error, on_violation};

/// Most audit entries one `list_audit` call returns.
const MAX_AUDIT_PAGE: u32 = 1000;

fn event_from_row(row: &PgRow) -> Result<ServiceEvent> {
    Ok(ServiceEvent {
        id: EventId(get(row, "id")?),
        org: OrgId(get(row, "org_id")?),
        service: ServiceId(get(row, "service_id")?),
        kind: get::<Json<ServiceEventKind>>(row, "kind")?.0,
        message: get(row, "message")?,
        at: get(row, "at")?,
    })
}

pub(crate) async fn append_event(pool: &PgPool, event: &ServiceEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO service_events (id, org_id, service_id, kind, message, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event.id.0)
    .bind(event.org.0)
    .bind(event.service.0)
    .bind(Json(&event.kind))
    .bind(&event.message)
    .bind(event.at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            Violation::ForeignKey(_) => Some(Error::not_found("service", event.service)),
            Violation::Unique(_) => Some(Error::already_exists("event", event.id)),
        })
    })?;
    Ok(())
}

pub(crate) async fn list_events(
    pool: &PgPool,
    service: ServiceId,
    limit: u32,
) -> Result<Vec<ServiceEvent>> {
    sqlx::query(
        "SELECT id, org_id, service_id, kind, message, at FROM service_events \
         WHERE service_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(service.0)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(event_from_row)
    .collect()
}

fn audit_from_row(row: &PgRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: AuditId(get(row, "id")?),
        at: get(row, "at")?,
        actor: get::<Option<Uuid>>(row, "actor")?.map(UserId),
        org: get::<Option<Uuid>>(row, "org_id")?.map(OrgId),
        action: get(row, "action")?,
        target: get(row, "target")?,
        before: get(row, "before")?,
        after: get(row, "after")?,
    })
}

pub(crate) async fn append_audit(pool: &PgPool, entry: &AuditEntry) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, org_id, action, target, before, after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(entry.id.0)
    .bind(entry.at)
    .bind(entry.actor.map(|a| a.0))
    .bind(entry.org.map(|o| o.0))
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(entry.before.as_ref())
    .bind(entry.after.as_ref())
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            Violation::Unique(_) => Some(Error::already_exists("audit entry", entry.id)),
            Violation::ForeignKey(_) => None,
        })
    })?;
    Ok(())
}

pub(crate) async fn list_audit(pool: &PgPool, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
    sqlx::query(
        "SELECT id, at, actor, org_id, action, target, before, after FROM audit_log \
         WHERE ($1::uuid IS NULL OR org_id = $1) ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(filter.org.map(|o| o.0))
    .bind(i64::from(filter.limit.min(MAX_AUDIT_PAGE)))
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(audit_from_row)
    .collect()
}
