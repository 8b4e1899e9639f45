//! Service events and the audit log: append-only, listed newest first.

use caas_core::model::{AuditEntry, ServiceEvent};
use caas_core::ports::store::AuditFilter;
use caas_core::{Error, Result, ServiceId};
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{self, Cols, all, ts};
use crate::errors::{db, on_write};

fn event(row: &SqliteRow) -> Result<ServiceEvent> {
    let c = Cols::new(row, "service_events");
    Ok(ServiceEvent {
        id: c.id("id")?,
        org: c.id("org_id")?,
        service: c.id("service_id")?,
        kind: c.json("kind")?,
        message: c.text("message")?,
        at: c.ts("at")?,
    })
}

fn audit(row: &SqliteRow) -> Result<AuditEntry> {
    let c = Cols::new(row, "audit_log");
    Ok(AuditEntry {
        id: c.id("id")?,
        at: c.ts("at")?,
        actor: c.id_opt("actor")?,
        org: c.id_opt("org_id")?,
        action: c.text("action")?,
        target: c.text("target")?,
        before: c.json_opt("before")?,
        after: c.json_opt("after")?,
    })
}

pub(crate) async fn append_event(s: &SqliteStore, e: &ServiceEvent) -> Result<()> {
    let result = sqlx::query(
        "INSERT INTO service_events (id, org_id, service_id, kind, message, at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(e.id.as_uuid())
    .bind(e.org.as_uuid())
    .bind(e.service.as_uuid())
    .bind(codec::json(&e.kind)?)
    .bind(&e.message)
    .bind(ts("at", e.at)?)
    .execute(s.pool())
    .await;
    if let Err(err) = result {
        let parents = [
            ("service", "services", e.service.as_uuid()),
            ("organization", "organizations", e.org.as_uuid()),
        ];
        return Err(on_write(s.pool(), err, &parents, |_| {
            Error::already_exists("event", e.id)
        })
        .await);
    }
    Ok(())
}

pub(crate) async fn list_events(
    s: &SqliteStore,
    service: ServiceId,
    limit: u32,
) -> Result<Vec<ServiceEvent>> {
    let rows = sqlx::query(
        "SELECT * FROM service_events WHERE service_id = ? ORDER BY at DESC, id DESC LIMIT ?",
    )
    .bind(service.as_uuid())
    .bind(limit)
    .fetch_all(s.pool())
    .await
    .map_err(db)?;
    all(&rows, event)
}

pub(crate) async fn append_audit(s: &SqliteStore, a: &AuditEntry) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, org_id, action, target, before, after)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(a.id.as_uuid())
    .bind(ts("at", a.at)?)
    .bind(a.actor.map(|u| u.as_uuid()))
    .bind(a.org.map(|o| o.as_uuid()))
    .bind(&a.action)
    .bind(&a.target)
    .bind(codec::json_opt(a.before.as_ref())?)
    .bind(codec::json_opt(a.after.as_ref())?)
    .execute(s.pool())
    .await
    .map_err(|e| crate::errors::on_unique(e, |_| Error::already_exists("audit entry", a.id)))?;
    Ok(())
}

pub(crate) async fn list_audit(s: &SqliteStore, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
    let limit = f.limit.min(1000);
    let rows = match f.org {
        Some(org) => {
            sqlx::query(
                "SELECT * FROM audit_log WHERE org_id = ? ORDER BY at DESC, id DESC LIMIT ?",
            )
            .bind(org.as_uuid())
            .bind(limit)
            .fetch_all(s.pool())
            .await
        }
        None => {
            sqlx::query("SELECT * FROM audit_log ORDER BY at DESC, id DESC LIMIT ?")
                .bind(limit)
                .fetch_all(s.pool())
                .await
        }
    }
    .map_err(db)?;
    all(&rows, audit)
}

pub(crate) async fn setting_opt(s: &SqliteStore, key: &str) -> Result<Option<serde_json::Value>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE key = ?")
        .bind(key)
        .fetch_optional(s.pool())
        .await
        .map_err(db)?;
    row.map(|(v,)| {
        serde_json::from_str(&v).map_err(|e| {
            Error::backend_source("sqlite", format!("setting '{key}' holds invalid JSON"), e)
        })
    })
    .transpose()
}

pub(crate) async fn put_setting(
    s: &SqliteStore,
    key: &str,
    value: &serde_json::Value,
) -> Result<()> {
    if key.is_empty() || key.len() > 128 {
        return Err(Error::invalid("key", "must be 1-128 characters"));
    }
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value.to_string())
    .bind(ts("updated_at", chrono::Utc::now())?)
    .execute(s.pool())
    .await
    .map_err(db)?;
    Ok(())
}
