//! Alerts: put by id, found by rule and subject while firing, listed newest first.

use caas_core::codec::StoredName;
use caas_core::model::{Alert, AlertState};
use caas_core::{AlertId, Error, OrgId, Result};
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{Cols, all, ts, ts_opt};
use crate::error::{db_error, on_unique};

/// Most alerts one `list_alerts` call returns.
const MAX_ALERT_PAGE: u32 = 1000;

fn alert(row: &SqliteRow) -> Result<Alert> {
    let c = Cols::new(row, "alerts");
    Ok(Alert {
        id: c.id("id")?,
        org: c.id("org_id")?,
        service: c.id_opt("service_id")?,
        subject: c.text("subject")?,
        rule: c.text("rule")?,
        state: c.name("state")?,
        message: c.text("message")?,
        since: c.ts("since")?,
        resolved_at: c.ts_opt("resolved_at")?,
    })
}

pub(crate) async fn put(s: &SqliteStore, a: &Alert) -> Result<()> {
    // Replacing by id replaces every field, like the in-memory store.
    let result = sqlx::query(
        "INSERT INTO alerts (id, org_id, service_id, subject, rule, state, message, since,
                             resolved_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE
         SET org_id = excluded.org_id, service_id = excluded.service_id,
             subject = excluded.subject, rule = excluded.rule, state = excluded.state,
             message = excluded.message, since = excluded.since,
             resolved_at = excluded.resolved_at",
    )
    .bind(a.id.as_uuid())
    .bind(a.org.as_uuid())
    .bind(a.service.map(|sv| sv.as_uuid()))
    .bind(&a.subject)
    .bind(&a.rule)
    .bind(a.state.name())
    .bind(&a.message)
    .bind(ts("since", a.since)?)
    .bind(ts_opt("resolved_at", a.resolved_at)?)
    .execute(s.pool())
    .await;
    // No foreign key: the organization may be a host application's (0014_foreign_directory.sql).
    // The only unique constraint an upsert by id can break: `alerts_one_firing`.
    result.map_err(|e| {
        on_unique(e, |_| {
            Error::already_exists("firing alert", format!("{} about {}", a.rule, a.subject))
        })
    })?;
    Ok(())
}

pub(crate) async fn firing_opt(
    s: &SqliteStore,
    org: OrgId,
    rule: &str,
    subject: &str,
) -> Result<Option<Alert>> {
    // At most one (the unique index `alerts_one_firing`).
    sqlx::query(
        "SELECT * FROM alerts WHERE org_id = ? AND rule = ? AND subject = ? AND state = ?
         ORDER BY id LIMIT 1",
    )
    .bind(org.as_uuid())
    .bind(rule)
    .bind(subject)
    .bind(AlertState::Firing.name())
    .fetch_optional(s.pool())
    .await
    .map_err(db_error)?
    .map(|r| alert(&r))
    .transpose()
}

pub(crate) async fn list(
    s: &SqliteStore,
    org: OrgId,
    firing_only: bool,
    limit: u32,
) -> Result<Vec<Alert>> {
    let rows = sqlx::query(
        "SELECT * FROM alerts WHERE org_id = ? AND (? = 0 OR state = ?)
         ORDER BY since DESC, id DESC LIMIT ?",
    )
    .bind(org.as_uuid())
    .bind(firing_only)
    .bind(AlertState::Firing.name())
    .bind(limit.min(MAX_ALERT_PAGE))
    .fetch_all(s.pool())
    .await
    .map_err(db_error)?;
    all(&rows, alert)
}

pub(crate) async fn by_id(s: &SqliteStore, id: AlertId) -> Result<Alert> {
    sqlx::query("SELECT * FROM alerts WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map_or_else(|| Err(Error::not_found("alert", id)), |r| alert(&r))
}
