//! Service events and the audit log. The audit log is filtered in SQL: by organization,
//! actor, action prefix (a range on `action`) and time.

use caas_core::model::{AuditEntry, ServiceEvent, ServiceEventKind};
use caas_core::ports::store::{AuditFilter, ceil_micros, prefix_end};
use caas_core::{AuditId, Error, EventId, OrgId, Result, ServiceId, UserId};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::QueryBuilder;
use sqlx::postgres::{PgPool, PgRow, Postgres};
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
    // Only the conditions the filter sets go into the statement, so each combination gets a
    // plan that uses its index, generic plans included (`$1 IS NULL OR org_id = $1` would not).
    let mut q = QueryBuilder::<Postgres>::new(
        "SELECT id, at, actor, org_id, action, target, before, after FROM audit_log WHERE TRUE",
    );
    if let Some(org) = filter.org {
        q.push(" AND org_id = ").push_bind(org.0);
    }
    if let Some(actor) = filter.actor {
        q.push(" AND actor = ").push_bind(actor.0);
    }
    if let Some(prefix) = filter.action_prefix.as_deref().filter(|p| !p.is_empty()) {
        if prefix.contains('\0') {
            // Text cannot hold U+0000, so no stored action starts with it.
            return Ok(Vec::new());
        }
        // A range on the "C"-collated column instead of LIKE, whose wildcards would need
        // escaping: bytewise, exactly `str::starts_with`, and served by `audit_by_action`.
        q.push(" AND action >= ").push_bind(prefix.to_string());
        if let Some(end) = prefix_end(prefix) {
            q.push(" AND action < ").push_bind(end);
        }
    }
    match since_bound(filter.since) {
        Bound::Open => {}
        Bound::At(t) => {
            q.push(" AND at >= ").push_bind(t);
        }
        Bound::Empty => return Ok(Vec::new()),
    }
    // The cursor's id breaks ties at exactly `before`; a `before` between stored
    // microseconds has no entries at it, so the id does not matter then.
    let tie = filter
        .before_id
        .filter(|_| filter.before.is_some_and(|b| ceil_micros(b) == Some(b)));
    match (before_bound(filter.before), tie) {
        (Bound::Open, _) => {}
        (Bound::At(t), None) => {
            q.push(" AND at < ").push_bind(t);
        }
        (Bound::At(t), Some(id)) => {
            // A row comparison, which the (…, at, id) indexes serve.
            q.push(" AND (at, id) < (")
                .push_bind(t)
                .push(", ")
                .push_bind(id.0)
                .push(")");
        }
        (Bound::Empty, _) => return Ok(Vec::new()),
    }
    q.push(" ORDER BY at DESC, id DESC LIMIT ")
        .push_bind(i64::from(filter.limit.min(MAX_AUDIT_PAGE)));
    q.build()
        .fetch_all(pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(audit_from_row)
        .collect()
}

/// A time bound of the audit filter as the server can compare it.
#[derive(Debug, PartialEq, Eq)]
enum Bound {
    /// No condition: every stored entry passes.
    Open,
    /// Compare with this time (whole microseconds, within PostgreSQL's range).
    At(DateTime<Utc>),
    /// No stored entry passes.
    Empty,
}

/// The earliest instant a TIMESTAMPTZ holds (4714-11-24 BC, Julian day 0); chrono's latest
/// lies before PostgreSQL's (294276 AD).
fn pg_min() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(-4713, 11, 24)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.and_utc())
}

/// `at >= since`, for stored entries.
fn since_bound(since: Option<DateTime<Utc>>) -> Bound {
    match since.map(ceil_micros) {
        None => Bound::Open,
        Some(None) => Bound::Empty,
        Some(Some(t)) if t <= pg_min() => Bound::Open,
        Some(Some(t)) => Bound::At(t),
    }
}

/// `at < before`, for stored entries.
fn before_bound(before: Option<DateTime<Utc>>) -> Bound {
    match before.map(ceil_micros) {
        None | Some(None) => Bound::Open,
        Some(Some(t)) if t <= pg_min() => Bound::Empty,
        Some(Some(t)) => Bound::At(t),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, TimeZone, Utc};

    use super::{Bound, before_bound, ceil_micros, pg_min, since_bound};

    #[test]
    fn time_bounds_round_up_to_the_microsecond_and_clamp_to_the_server_range() {
        let t = Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap();
        assert_eq!(
            ceil_micros(t + Duration::nanoseconds(1)),
            Some(t + Duration::microseconds(1))
        );
        assert_eq!(
            since_bound(Some(t + Duration::nanoseconds(500))),
            Bound::At(t + Duration::microseconds(1))
        );
        assert_eq!(before_bound(Some(t)), Bound::At(t));
        assert_eq!(since_bound(None), Bound::Open);
        assert_eq!(before_bound(None), Bound::Open);
        assert_eq!(since_bound(Some(DateTime::<Utc>::MAX_UTC)), Bound::Empty);
        assert_eq!(before_bound(Some(DateTime::<Utc>::MAX_UTC)), Bound::Open);
        let ancient = pg_min() - Duration::days(1);
        assert_eq!(since_bound(Some(ancient)), Bound::Open);
        assert_eq!(before_bound(Some(ancient)), Bound::Empty);
        assert_eq!(before_bound(Some(pg_min())), Bound::Empty);
        assert_eq!(
            since_bound(Some(pg_min() + Duration::days(1))),
            Bound::At(pg_min() + Duration::days(1))
        );
    }
}
