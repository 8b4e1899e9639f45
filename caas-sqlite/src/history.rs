//! Service events and the audit log: append-only, listed newest first. The audit log is
//! filtered in SQL: by organization, actor, action prefix (a range on `action`) and time.

use caas_core::model::{AuditEntry, ServiceEvent};
use caas_core::ports::store::{AuditFilter, ceil_micros, prefix_end};
use caas_core::{Error, Result, ServiceId};
use chrono::{DateTime, Datelike, Utc};
use sqlx::QueryBuilder;
use sqlx::sqlite::{Sqlite, SqliteRow};

use crate::SqliteStore;
use crate::codec::{self, Cols, all, ts};
use crate::error::{db_error, on_write};

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
        let parents = [("service", "services", e.service.as_uuid())];
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
    .map_err(db_error)?;
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
    .map_err(|e| crate::error::on_unique(e, |_| Error::already_exists("audit entry", a.id)))?;
    Ok(())
}

pub(crate) async fn list_audit(s: &SqliteStore, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
    // Only the conditions the filter sets go into the statement, so each combination gets a
    // plan that uses its index (`?1 IS NULL OR org_id = ?1` would defeat them all).
    let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM audit_log WHERE 1");
    if let Some(org) = f.org {
        q.push(" AND org_id = ").push_bind(org.as_uuid());
    }
    if let Some(actor) = f.actor {
        q.push(" AND actor = ").push_bind(actor.as_uuid());
    }
    if let Some(prefix) = f.action_prefix.as_deref().filter(|p| !p.is_empty()) {
        // A range instead of LIKE: LIKE would need its wildcards escaped and ignores ASCII
        // case, while `action` compares bytewise (BINARY), like `str::starts_with`.
        q.push(" AND action >= ").push_bind(prefix.to_string());
        if let Some(end) = prefix_end(prefix) {
            q.push(" AND action < ").push_bind(end);
        }
    }
    match since_bound(f.since) {
        Bound::Open => {}
        Bound::At(t) => {
            q.push(" AND at >= ").push_bind(t);
        }
        Bound::Empty => return Ok(Vec::new()),
    }
    // The cursor's id breaks ties at exactly `before`; a `before` between stored
    // microseconds has no entries at it, so the id does not matter then.
    let tie = f
        .before_id
        .filter(|_| f.before.is_some_and(|b| ceil_micros(b) == Some(b)));
    match (before_bound(f.before), tie) {
        (Bound::Open, _) => {}
        (Bound::At(t), None) => {
            q.push(" AND at < ").push_bind(t);
        }
        (Bound::At(t), Some(id)) => {
            // A row comparison, which the (…, at, id) indexes serve.
            q.push(" AND (at, id) < (")
                .push_bind(t)
                .push(", ")
                .push_bind(id.as_uuid())
                .push(")");
        }
        (Bound::Empty, _) => return Ok(Vec::new()),
    }
    q.push(" ORDER BY at DESC, id DESC LIMIT ")
        .push_bind(f.limit.min(MAX_AUDIT_PAGE));
    let rows = q.build().fetch_all(s.pool()).await.map_err(db_error)?;
    all(&rows, audit)
}

/// Most audit entries one `list_audit` call returns.
const MAX_AUDIT_PAGE: u32 = 1000;

/// A time bound of the audit filter as the store can compare it.
#[derive(Debug, PartialEq, Eq)]
enum Bound {
    /// No condition: every stored entry passes.
    Open,
    /// Compare with this stored timestamp text.
    At(String),
    /// No stored entry passes.
    Empty,
}

/// `at >= since`, for stored entries (whose years lie in 0000–9999).
fn since_bound(since: Option<DateTime<Utc>>) -> Bound {
    let Some(since) = since else {
        return Bound::Open;
    };
    match ceil_micros(since) {
        None => Bound::Empty,
        Some(t) if t.year() > 9999 => Bound::Empty,
        Some(t) if t.year() < 0 => Bound::Open,
        Some(t) => ts("since", t).map_or(Bound::Empty, Bound::At),
    }
}

/// `at < before`, for stored entries (whose years lie in 0000–9999).
fn before_bound(before: Option<DateTime<Utc>>) -> Bound {
    let Some(before) = before else {
        return Bound::Open;
    };
    match ceil_micros(before) {
        None => Bound::Open,
        Some(t) if t.year() > 9999 => Bound::Open,
        Some(t) if t.year() < 0 => Bound::Empty,
        Some(t) => ts("before", t).map_or(Bound::Open, Bound::At),
    }
}

pub(crate) async fn setting_opt(s: &SqliteStore, key: &str) -> Result<Option<serde_json::Value>> {
    let sealer = s.sealer().await;
    let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE key = ?")
        .bind(key)
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?;
    row.map(|(v,)| {
        let value = serde_json::from_str(&v).map_err(|e| {
            Error::backend_source("sqlite", format!("setting '{key}' holds invalid JSON"), e)
        })?;
        sealer.open_setting(key, value)
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
    let sealer = s.sealer().await;
    let value = sealer.seal_setting(key, value)?;
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value.to_string())
    .bind(ts("updated_at", chrono::Utc::now())?)
    .execute(s.pool())
    .await
    .map_err(db_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, TimeZone, Utc};

    use super::{Bound, before_bound, ceil_micros, since_bound};

    #[test]
    fn time_bounds_round_up_to_the_microsecond_and_clamp_to_storable_years() {
        let t = Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap();
        assert_eq!(ceil_micros(t), Some(t));
        assert_eq!(
            ceil_micros(t + Duration::nanoseconds(1)),
            Some(t + Duration::microseconds(1))
        );
        assert_eq!(ceil_micros(DateTime::<Utc>::MAX_UTC), None);
        assert_eq!(
            since_bound(Some(t + Duration::nanoseconds(500))),
            Bound::At("2026-01-31T12:00:00.000001Z".into())
        );
        assert_eq!(since_bound(None), Bound::Open);
        assert_eq!(before_bound(None), Bound::Open);
        let far_future = Utc.with_ymd_and_hms(12000, 1, 1, 0, 0, 0).unwrap();
        let far_past = Utc.with_ymd_and_hms(-300, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(since_bound(Some(far_future)), Bound::Empty);
        assert_eq!(since_bound(Some(far_past)), Bound::Open);
        assert_eq!(before_bound(Some(far_future)), Bound::Open);
        assert_eq!(before_bound(Some(far_past)), Bound::Empty);
        assert_eq!(since_bound(Some(DateTime::<Utc>::MAX_UTC)), Bound::Empty);
        assert_eq!(before_bound(Some(DateTime::<Utc>::MAX_UTC)), Bound::Open);
        assert_eq!(since_bound(Some(DateTime::<Utc>::MIN_UTC)), Bound::Open);
        assert_eq!(before_bound(Some(DateTime::<Utc>::MIN_UTC)), Bound::Empty);
    }
}
