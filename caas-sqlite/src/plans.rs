//! Plans and subscriptions.

use caas_core::codec::StoredName;
use caas_core::codec::plan_numbers;
use caas_core::model::{Plan, PlanLimits, Subscription};
use caas_core::validate::Name;
use caas_core::{Error, OrgId, PlanId, Result};
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{Cols, all, ts};
use crate::error::{db_error, on_unique, on_write};

/// The columns [`plan`] reads. Named rather than `*`: a statement prepared on a connection
/// that has not seen the latest migration yet then still yields exactly these columns (with
/// `*`, sqlx would keep the column list of the older table; see "Migrations" in the crate docs).
pub(crate) const PLAN_COLUMNS: &str = "id, name, display_name, cpu_millis, memory_bytes, \
     storage_bytes, max_containers, max_projects, max_domains, max_pids, backup_storage_bytes, \
     monthly_price_cents, currency, created_at";

pub(crate) fn plan(row: &SqliteRow) -> Result<Plan> {
    let c = Cols::new(row, "plans");
    Ok(Plan {
        id: c.id("id")?,
        name: c.parsed("name", Name::parse)?,
        display_name: c.text("display_name")?,
        limits: PlanLimits {
            cpu_millis: c.u64("cpu_millis")?,
            memory_bytes: c.u64("memory_bytes")?,
            storage_bytes: c.u64("storage_bytes")?,
            max_containers: c.u64("max_containers")?,
            max_projects: c.u64("max_projects")?,
            max_domains: c.u64("max_domains")?,
            max_pids: c.u64("max_pids")?,
            backup_storage_bytes: c.u64("backup_storage_bytes")?,
        },
        monthly_price_cents: c.u64("monthly_price_cents")?,
        currency: c.text("currency")?,
        created_at: c.ts("created_at")?,
    })
}

pub(crate) fn subscription(row: &SqliteRow) -> Result<Subscription> {
    let c = Cols::new(row, "subscriptions");
    Ok(Subscription {
        id: c.id("id")?,
        org: c.id("org_id")?,
        plan: c.id("plan_id")?,
        status: c.name("status")?,
        period_start: c.ts("period_start")?,
        period_end: c.ts("period_end")?,
        created_at: c.ts("created_at")?,
    })
}

pub(crate) async fn create_plan(s: &SqliteStore, p: &Plan) -> Result<()> {
    let [
        cpu,
        mem,
        storage,
        containers,
        projects,
        domains,
        pids,
        backups,
        price,
    ] = plan_numbers(p)?;
    sqlx::query(
        "INSERT INTO plans (id, name, display_name, cpu_millis, memory_bytes, storage_bytes,
                            max_containers, max_projects, max_domains, max_pids,
                            backup_storage_bytes, monthly_price_cents, currency, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(p.id.as_uuid())
    .bind(p.name.as_str())
    .bind(&p.display_name)
    .bind(cpu)
    .bind(mem)
    .bind(storage)
    .bind(containers)
    .bind(projects)
    .bind(domains)
    .bind(pids)
    .bind(backups)
    .bind(price)
    .bind(&p.currency)
    .bind(ts("created_at", p.created_at)?)
    .execute(s.pool())
    .await
    .map_err(|e| {
        on_unique(e, |cols| {
            if cols == "plans.id" {
                Error::already_exists("plan", p.id)
            } else {
                Error::already_exists("plan", &p.name)
            }
        })
    })?;
    Ok(())
}

pub(crate) async fn plan_by_id(s: &SqliteStore, id: PlanId) -> Result<Plan> {
    sqlx::query(&format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = ?"))
        .bind(id.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map_or_else(|| Err(Error::not_found("plan", id)), |r| plan(&r))
}

pub(crate) async fn plan_by_name_opt(s: &SqliteStore, name: &str) -> Result<Option<Plan>> {
    sqlx::query(&format!("SELECT {PLAN_COLUMNS} FROM plans WHERE name = ?"))
        .bind(name)
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map(|r| plan(&r))
        .transpose()
}

pub(crate) async fn list_plans(s: &SqliteStore) -> Result<Vec<Plan>> {
    let rows = sqlx::query(&format!("SELECT {PLAN_COLUMNS} FROM plans ORDER BY name"))
        .fetch_all(s.pool())
        .await
        .map_err(db_error)?;
    all(&rows, plan)
}

pub(crate) async fn update_plan(s: &SqliteStore, p: &Plan) -> Result<()> {
    let [
        cpu,
        mem,
        storage,
        containers,
        projects,
        domains,
        pids,
        backups,
        price,
    ] = plan_numbers(p)?;
    let done = sqlx::query(
        "UPDATE plans
         SET name = ?, display_name = ?, cpu_millis = ?, memory_bytes = ?, storage_bytes = ?,
             max_containers = ?, max_projects = ?, max_domains = ?, max_pids = ?,
             backup_storage_bytes = ?, monthly_price_cents = ?, currency = ?
         WHERE id = ?",
    )
    .bind(p.name.as_str())
    .bind(&p.display_name)
    .bind(cpu)
    .bind(mem)
    .bind(storage)
    .bind(containers)
    .bind(projects)
    .bind(domains)
    .bind(pids)
    .bind(backups)
    .bind(price)
    .bind(&p.currency)
    .bind(p.id.as_uuid())
    .execute(s.pool())
    .await
    .map_err(|e| on_unique(e, |_| Error::already_exists("plan", &p.name)))?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("plan", p.id));
    }
    Ok(())
}

pub(crate) async fn delete_plan(s: &SqliteStore, id: PlanId) -> Result<()> {
    // The count and the delete share one write transaction, so no subscription can move onto
    // the plan in between (the RESTRICT key would refuse too, but without saying how many).
    let mut tx = s.write().await?;
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM plans WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(tx.conn())
        .await
        .map_err(db_error)?;
    let Some(name) = name else {
        return Err(Error::not_found("plan", id));
    };
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM subscriptions WHERE plan_id = ?")
        .bind(id.as_uuid())
        .fetch_one(tx.conn())
        .await
        .map_err(db_error)?;
    if users > 0 {
        return Err(Error::conflict(format!(
            "plan '{name}' is used by {users} subscription(s); move them to another plan first"
        )));
    }
    sqlx::query("DELETE FROM plans WHERE id = ?")
        .bind(id.as_uuid())
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
    tx.commit().await
}

pub(crate) async fn put_subscription(s: &SqliteStore, sub: &Subscription) -> Result<()> {
    // One subscription per organization: a second put replaces every field, id included.
    let result = sqlx::query(
        "INSERT INTO subscriptions (id, org_id, plan_id, status, period_start, period_end, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (org_id) DO UPDATE
         SET id = excluded.id, plan_id = excluded.plan_id, status = excluded.status,
             period_start = excluded.period_start, period_end = excluded.period_end,
             created_at = excluded.created_at",
    )
    .bind(sub.id.as_uuid())
    .bind(sub.org.as_uuid())
    .bind(sub.plan.as_uuid())
    .bind(sub.status.name())
    .bind(ts("period_start", sub.period_start)?)
    .bind(ts("period_end", sub.period_end)?)
    .bind(ts("created_at", sub.created_at)?)
    .execute(s.pool())
    .await;
    if let Err(e) = result {
        let parents = [
            ("organization", "organizations", sub.org.as_uuid()),
            ("plan", "plans", sub.plan.as_uuid()),
        ];
        return Err(on_write(s.pool(), e, &parents, |_| {
            Error::already_exists("subscription", sub.id)
        })
        .await);
    }
    Ok(())
}

pub(crate) async fn subscription_opt(s: &SqliteStore, org: OrgId) -> Result<Option<Subscription>> {
    sqlx::query("SELECT * FROM subscriptions WHERE org_id = ?")
        .bind(org.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map(|r| subscription(&r))
        .transpose()
}
