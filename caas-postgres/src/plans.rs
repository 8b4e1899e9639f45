//! Plans and subscriptions.

use caas_core::codec::StoredName;
use caas_core::codec::plan_numbers;
use caas_core::model::{Plan, PlanLimits, Subscription};
use caas_core::validate::Name;
use caas_core::{Error, OrgId, PlanId, Result, SubscriptionId};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::codec::{finish, get, get_u64, read_name};
use crate::error::{Violation, corrupt, db_error, on_violation};

/// The columns [`plan_from_row`] reads, for queries in other modules.
pub(crate) const PLAN_COLUMNS: &str = "id, name, display_name, cpu_millis, memory_bytes, \
     storage_bytes, max_containers, max_projects, max_domains, max_pids, backup_storage_bytes, \
     monthly_price_cents, currency, \
     created_at";

/// The columns [`subscription_from_row`] reads.
pub(crate) const SUBSCRIPTION_COLUMNS: &str =
    "id, org_id, plan_id, status, period_start, period_end, created_at";

pub(crate) fn plan_from_row(row: &PgRow) -> Result<Plan> {
    let name: String = get(row, "name")?;
    Ok(Plan {
        id: PlanId(get(row, "id")?),
        name: Name::parse(name.as_str()).map_err(|_| corrupt("plans.name", &name))?,
        display_name: get(row, "display_name")?,
        limits: PlanLimits {
            cpu_millis: get_u64(row, "cpu_millis")?,
            memory_bytes: get_u64(row, "memory_bytes")?,
            storage_bytes: get_u64(row, "storage_bytes")?,
            max_containers: get_u64(row, "max_containers")?,
            max_projects: get_u64(row, "max_projects")?,
            max_domains: get_u64(row, "max_domains")?,
            max_pids: get_u64(row, "max_pids")?,
            backup_storage_bytes: get_u64(row, "backup_storage_bytes")?,
        },
        monthly_price_cents: get_u64(row, "monthly_price_cents")?,
        currency: get(row, "currency")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) fn subscription_from_row(row: &PgRow) -> Result<Subscription> {
    Ok(Subscription {
        id: SubscriptionId(get(row, "id")?),
        org: OrgId(get(row, "org_id")?),
        plan: PlanId(get(row, "plan_id")?),
        status: read_name(row, "status", "subscriptions.status")?,
        period_start: get(row, "period_start")?,
        period_end: get(row, "period_end")?,
        created_at: get(row, "created_at")?,
    })
}

fn plan_name_taken(plan: &Plan) -> impl FnOnce(Violation<'_>) -> Option<Error> + '_ {
    |v| match v {
        Violation::Unique(_) => Some(Error::already_exists("plan", &plan.name)),
        Violation::ForeignKey(_) => None,
    }
}

pub(crate) async fn create_plan(pool: &PgPool, plan: &Plan) -> Result<()> {
    let [
        cpu,
        memory,
        storage,
        containers,
        projects,
        domains,
        pids,
        backups,
        price,
    ] = plan_numbers(plan)?;
    sqlx::query(
        "INSERT INTO plans (id, name, display_name, cpu_millis, memory_bytes, storage_bytes, \
         max_containers, max_projects, max_domains, max_pids, backup_storage_bytes, \
         monthly_price_cents, currency, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(plan.id.0)
    .bind(plan.name.as_str())
    .bind(&plan.display_name)
    .bind(cpu)
    .bind(memory)
    .bind(storage)
    .bind(containers)
    .bind(projects)
    .bind(domains)
    .bind(pids)
    .bind(backups)
    .bind(price)
    .bind(&plan.currency)
    .bind(plan.created_at)
    .execute(pool)
    .await
    .map_err(|e| on_violation(e, plan_name_taken(plan)))?;
    Ok(())
}

/// A plan by id on any connection (the quota transaction reads it on its own).
pub(crate) async fn plan_on(conn: &mut PgConnection, id: PlanId) -> Result<Plan> {
    sqlx::query(&format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?
        .map(|row| plan_from_row(&row))
        .transpose()?
        .ok_or_else(|| Error::not_found("plan", id))
}

pub(crate) async fn plan(pool: &PgPool, id: PlanId) -> Result<Plan> {
    let mut conn = pool.acquire().await.map_err(db_error)?;
    plan_on(&mut conn, id).await
}

pub(crate) async fn plan_by_name_opt(pool: &PgPool, name: &str) -> Result<Option<Plan>> {
    sqlx::query(&format!("SELECT {PLAN_COLUMNS} FROM plans WHERE name = $1"))
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?
        .map(|row| plan_from_row(&row))
        .transpose()
}

pub(crate) async fn list_plans(pool: &PgPool) -> Result<Vec<Plan>> {
    sqlx::query(&format!("SELECT {PLAN_COLUMNS} FROM plans ORDER BY name"))
        .fetch_all(pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(plan_from_row)
        .collect()
}

pub(crate) async fn update_plan(pool: &PgPool, plan: &Plan) -> Result<()> {
    let [
        cpu,
        memory,
        storage,
        containers,
        projects,
        domains,
        pids,
        backups,
        price,
    ] = plan_numbers(plan)?;
    let done = sqlx::query(
        "UPDATE plans SET name = $2, display_name = $3, cpu_millis = $4, memory_bytes = $5, \
         storage_bytes = $6, max_containers = $7, max_projects = $8, max_domains = $9, \
         max_pids = $10, backup_storage_bytes = $11, monthly_price_cents = $12, currency = $13 \
         WHERE id = $1",
    )
    .bind(plan.id.0)
    .bind(plan.name.as_str())
    .bind(&plan.display_name)
    .bind(cpu)
    .bind(memory)
    .bind(storage)
    .bind(containers)
    .bind(projects)
    .bind(domains)
    .bind(pids)
    .bind(backups)
    .bind(price)
    .bind(&plan.currency)
    .execute(pool)
    .await
    .map_err(|e| on_violation(e, plan_name_taken(plan)))?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("plan", plan.id));
    }
    Ok(())
}

fn plan_in_use(name: &str, users: i64) -> Error {
    Error::conflict(format!(
        "plan '{name}' is used by {users} subscription(s); move them to another plan first"
    ))
}

pub(crate) async fn delete_plan(pool: &PgPool, id: PlanId) -> Result<()> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let result = delete_plan_in(&mut tx, id).await;
    finish(tx, result).await
}

async fn delete_plan_in(tx: &mut Transaction<'_, Postgres>, id: PlanId) -> Result<()> {
    // The row lock makes a concurrent put_subscription naming this plan wait for us (its
    // foreign-key check locks the plan row too) and then fail with NotFound, or makes us wait
    // for it and then see its subscription.
    let name: String = sqlx::query_scalar("SELECT name FROM plans WHERE id = $1 FOR UPDATE")
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?
        .ok_or_else(|| Error::not_found("plan", id))?;
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM subscriptions WHERE plan_id = $1")
        .bind(id.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_error)?;
    if users > 0 {
        return Err(plan_in_use(&name, users));
    }
    sqlx::query("DELETE FROM plans WHERE id = $1")
        .bind(id.0)
        .execute(&mut **tx)
        .await
        .map_err(|e| {
            on_violation(e, |v| match v {
                // RESTRICT backs up the count above.
                Violation::ForeignKey(_) => Some(plan_in_use(&name, 1)),
                Violation::Unique(_) => None,
            })
        })?;
    Ok(())
}

pub(crate) async fn put_subscription(pool: &PgPool, sub: &Subscription) -> Result<()> {
    // One subscription per organization: a second put replaces the first, id included.
    sqlx::query(
        "INSERT INTO subscriptions (id, org_id, plan_id, status, period_start, period_end, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (org_id) DO UPDATE SET id = EXCLUDED.id, plan_id = EXCLUDED.plan_id, \
         status = EXCLUDED.status, period_start = EXCLUDED.period_start, \
         period_end = EXCLUDED.period_end, created_at = EXCLUDED.created_at",
    )
    .bind(sub.id.0)
    .bind(sub.org.0)
    .bind(sub.plan.0)
    .bind(sub.status.name())
    .bind(sub.period_start)
    .bind(sub.period_end)
    .bind(sub.created_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            Violation::ForeignKey("subscriptions_org_fkey") => {
                Some(Error::not_found("organization", sub.org))
            }
            Violation::ForeignKey("subscriptions_plan_fkey") => {
                Some(Error::not_found("plan", sub.plan))
            }
            Violation::Unique(_) => Some(Error::already_exists("subscription", sub.id)),
            Violation::ForeignKey(_) => None,
        })
    })?;
    Ok(())
}

pub(crate) async fn subscription_opt(pool: &PgPool, org: OrgId) -> Result<Option<Subscription>> {
    sqlx::query(&format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE org_id = $1"
    ))
    .bind(org.0)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .map(|row| subscription_from_row(&row))
    .transpose()
}
