//! Alerts: put by id, found by rule and subject while firing, listed newest first.

use caas_core::codec::StoredName;
use caas_core::model::{Alert, AlertState};
use caas_core::{AlertId, Error, OrgId, Result, ServiceId};
use sqlx::postgres::{PgPool, PgRow};
use uuid::Uuid;

use crate::codec::{get, read_name};
use crate::error::{Violation, db_error, on_violation};

/// Most alerts one `list_alerts` call returns.
const MAX_ALERT_PAGE: u32 = 1000;

const COLUMNS: &str = "id, org_id, service_id, subject, rule, state, message, since, resolved_at";

fn alert_from_row(row: &PgRow) -> Result<Alert> {
    Ok(Alert {
        id: AlertId(get(row, "id")?),
        org: OrgId(get(row, "org_id")?),
        service: get::<Option<Uuid>>(row, "service_id")?.map(ServiceId),
        subject: get(row, "subject")?,
        rule: get(row, "rule")?,
        state: read_name(row, "state", "alerts.state")?,
        message: get(row, "message")?,
        since: get(row, "since")?,
        resolved_at: get(row, "resolved_at")?,
    })
}

/// The refusal of a second firing alert of a rule and subject.
fn firing_already(a: &Alert) -> Error {
    Error::already_exists("firing alert", format!("{} about {}", a.rule, a.subject))
}

pub(crate) async fn put(pool: &PgPool, a: &Alert) -> Result<()> {
    // Replacing by id replaces every field, like the in-memory store.
    sqlx::query(&format!(
        "INSERT INTO alerts ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (id) DO UPDATE SET org_id = EXCLUDED.org_id, \
         service_id = EXCLUDED.service_id, subject = EXCLUDED.subject, rule = EXCLUDED.rule, \
         state = EXCLUDED.state, message = EXCLUDED.message, since = EXCLUDED.since, \
         resolved_at = EXCLUDED.resolved_at"
    ))
    .bind(a.id.0)
    .bind(a.org.0)
    .bind(a.service.map(|s| s.0))
    .bind(&a.subject)
    .bind(&a.rule)
    .bind(a.state.name())
    .bind(&a.message)
    .bind(a.since)
    .bind(a.resolved_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            // No foreign key: the organization may be a host application's.
            Violation::ForeignKey(_) => None,
            Violation::Unique("alerts_one_firing") => Some(firing_already(a)),
            Violation::Unique(_) => Some(Error::already_exists("alert", a.id)),
        })
    })?;
    Ok(())
}

pub(crate) async fn firing_opt(
    pool: &PgPool,
    org: OrgId,
    rule: &str,
    subject: &str,
) -> Result<Option<Alert>> {
    // At most one (the unique index `alerts_one_firing`).
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM alerts \
         WHERE org_id = $1 AND rule = $2 AND subject = $3 AND state = $4 ORDER BY id LIMIT 1"
    ))
    .bind(org.0)
    .bind(rule)
    .bind(subject)
    .bind(AlertState::Firing.name())
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .as_ref()
    .map(alert_from_row)
    .transpose()
}

pub(crate) async fn list(
    pool: &PgPool,
    org: OrgId,
    firing_only: bool,
    limit: u32,
) -> Result<Vec<Alert>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM alerts WHERE org_id = $1 AND (NOT $2 OR state = $3) \
         ORDER BY since DESC, id DESC LIMIT $4"
    ))
    .bind(org.0)
    .bind(firing_only)
    .bind(AlertState::Firing.name())
    .bind(i64::from(limit.min(MAX_ALERT_PAGE)))
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(alert_from_row)
    .collect()
}

pub(crate) async fn by_id(pool: &PgPool, id: AlertId) -> Result<Alert> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM alerts WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(alert_from_row)
        .transpose()?
        .ok_or_else(|| Error::not_found("alert", id))
}
