//! A hosting panel's own tenancy as caas-rs's directory and plan source.
//!
//! The panel keeps users, organizations, members, plans and subscriptions in its own
//! PostgreSQL tables (`examples/panel/schema.sql`: `users`, `organizations`,
//! `organization_members`, `container_plans`, `container_subscriptions`) and writes them from
//! its own sign-up, membership and billing. [`PanelTenancy`] reads them as a
//! [`Directory`] and a [`PlanSource`]; caas-rs keeps everything else (projects, services,
//! volumes, reservations, …) in its own store, with no copy of a user, organization, member
//! or plan. Changes to the panel's tenancy go through the panel: the platform answers them
//! "managed by the host application".
//!
//! What the adapter translates:
//! - roles: a panel `admin` user is a platform administrator; organization roles `owner`,
//!   `admin`, `member` are caas-rs's roles of the same names;
//! - plans: `max_cpu_cores` and `max_memory_gb` (decimals) become millicores and bytes,
//!   `max_storage_gb` bytes (GiB); the dimensions the panel has no column for (domains,
//!   processes, backup storage) come from [`PanelTenancy::with_defaults`]. Only `active` plans
//!   are listed or found by name; a subscription keeps resolving its plan by id;
//! - subscriptions: `active`, `suspended` and `cancelled` as caas-rs's statuses (only an
//!   active one lets an organization deploy), and a suspended subscription suspends the
//!   organization.
//!
//! Plan names: a panel's plan name ("Pro 2024") becomes a caas-rs name by lower-casing it and
//! turning every other character into `-` ("pro-2024"); the panel's name is the display name.

use async_trait::async_trait;
use caas_core::model::{
    Member, OrgStatus, Organization, Plan, PlanLimits, Role, Subscription, SubscriptionStatus, User,
};
use caas_core::ports::store::{Directory, OrgFilter, PlanSource, UserFilter};
use caas_core::validate::{Name, Slug};
use caas_core::{Error, OrgId, PlanId, Result, SubscriptionId, UserId};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

/// The panel's schema, for tests and the example to create.
pub const SCHEMA: &str = include_str!("../panel/schema.sql");

const SERVICE: &str = "the panel's database";

/// Bytes in one of the panel's gigabytes (GiB, as caas-rs counts).
const GIB: i64 = 1 << 30;

/// The panel's tables as caas-rs's [`Directory`] and [`PlanSource`] (read-only).
#[derive(Debug, Clone)]
pub struct PanelTenancy {
    pool: PgPool,
    defaults: PlanLimits,
}

impl PanelTenancy {
    /// Reads the panel's tables through `pool` (its `search_path` finds them).
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            defaults: PlanLimits::default(),
        }
    }

    /// The limits of the dimensions the panel's plans have no column for (domains, processes,
    /// backup storage); the others are ignored. Default: [`PlanLimits::default`].
    pub fn with_defaults(mut self, defaults: PlanLimits) -> Self {
        self.defaults = defaults;
        self
    }
}

fn db(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            Error::unavailable(SERVICE, e.to_string())
        }
        e => Error::backend_source(SERVICE, "query failed", e),
    }
}

fn col<'r, T>(row: &'r PgRow, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(name)
        .map_err(|e| Error::backend_source(SERVICE, format!("cannot read column {name}"), e))
}

fn amount(row: &PgRow, name: &str) -> Result<u64> {
    let v: i64 = col(row, name)?;
    u64::try_from(v).map_err(|_| {
        Error::backend(
            SERVICE,
            format!("{name} is negative ({v}); a plan's limits must be zero or more"),
        )
    })
}

const USER_COLUMNS: &str = "id, email, name, role, created_at";

fn user(row: &PgRow) -> Result<User> {
    Ok(User {
        id: UserId(col(row, "id")?),
        email: col::<String>(row, "email")?.to_lowercase(),
        display_name: col(row, "name")?,
        platform_admin: col::<String>(row, "role")? == "admin",
        disabled: false,
        created_at: col(row, "created_at")?,
    })
}

/// The organization with its status: suspended when its subscription is.
const ORG_SELECT: &str = "SELECT o.id, o.name, o.slug, o.created_at, \
     COALESCE(s.status = 'suspended', FALSE) AS suspended \
     FROM organizations o LEFT JOIN container_subscriptions s ON s.organization_id = o.id";

fn org(row: &PgRow) -> Result<Organization> {
    let slug: String = col(row, "slug")?;
    Ok(Organization {
        id: OrgId(col(row, "id")?),
        slug: Slug::parse(slug.clone()).map_err(|e| {
            Error::backend(
                SERVICE,
                format!("organization slug {slug:?} is not usable by caas-rs: {e}"),
            )
        })?,
        display_name: col(row, "name")?,
        status: if col::<bool>(row, "suspended")? {
            OrgStatus::Suspended
        } else {
            OrgStatus::Active
        },
        created_at: col(row, "created_at")?,
    })
}

const MEMBER_COLUMNS: &str = "organization_id, user_id, role, created_at";

fn member(row: &PgRow) -> Result<Member> {
    let role = match col::<String>(row, "role")?.as_str() {
        "owner" => Role::Owner,
        "admin" => Role::Admin,
        "member" => Role::Member,
        other => {
            return Err(Error::backend(
                SERVICE,
                format!("unknown member role {other:?}"),
            ));
        }
    };
    Ok(Member {
        org: OrgId(col(row, "organization_id")?),
        user: UserId(col(row, "user_id")?),
        role,
        projects: None,
        created_at: col(row, "created_at")?,
    })
}

/// A plan with its limits converted in SQL: cores to millicores and GB to bytes, rounded.
const PLAN_SELECT: &str = "SELECT id, name, price_cents, created_at, \
     round(max_cpu_cores * 1000)::bigint AS cpu_millis, \
     round(max_memory_gb * 1073741824)::bigint AS memory_bytes, \
     max_storage_gb::bigint AS storage_gb, \
     max_containers::bigint AS containers, max_projects::bigint AS projects \
     FROM container_plans";

/// The caas-rs name of a panel plan name: lower case, other characters as `-`.
pub fn plan_name(panel_name: &str) -> String {
    let mapped: String = panel_name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    mapped.trim_matches('-').to_string()
}

impl PanelTenancy {
    fn plan(&self, row: &PgRow) -> Result<Plan> {
        let panel_name: String = col(row, "name")?;
        let name = Name::parse_field("name", plan_name(&panel_name)).map_err(|e| {
            Error::backend(
                SERVICE,
                format!("plan name {panel_name:?} is not usable by caas-rs: {e}"),
            )
        })?;
        let storage_gb = amount(row, "storage_gb")?;
        Ok(Plan {
            id: PlanId(col(row, "id")?),
            name,
            display_name: panel_name,
            limits: PlanLimits {
                cpu_millis: amount(row, "cpu_millis")?,
                memory_bytes: amount(row, "memory_bytes")?,
                storage_bytes: storage_gb.saturating_mul(GIB as u64),
                max_containers: amount(row, "containers")?,
                max_projects: amount(row, "projects")?,
                ..self.defaults
            },
            monthly_price_cents: u64::try_from(col::<i32>(row, "price_cents")?).unwrap_or(0),
            currency: "USD".to_string(),
            created_at: col(row, "created_at")?,
        })
    }
}

fn subscription(row: &PgRow) -> Result<Subscription> {
    let status = match col::<String>(row, "status")?.as_str() {
        "active" => SubscriptionStatus::Active,
        "suspended" => SubscriptionStatus::Suspended,
        "cancelled" => SubscriptionStatus::Cancelled,
        other => {
            return Err(Error::backend(
                SERVICE,
                format!("unknown subscription status {other:?}"),
            ));
        }
    };
    Ok(Subscription {
        id: SubscriptionId(col(row, "id")?),
        org: OrgId(col(row, "organization_id")?),
        plan: PlanId(col(row, "plan_id")?),
        status,
        period_start: col(row, "current_period_start")?,
        period_end: col(row, "current_period_end")?,
        created_at: col(row, "created_at")?,
    })
}

/// `%needle%` for ILIKE, with the pattern characters escaped.
fn like(needle: &str) -> String {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[async_trait]
impl Directory for PanelTenancy {
    async fn user(&self, id: UserId) -> Result<User> {
        sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|r| user(&r))
            .transpose()?
            .ok_or_else(|| Error::not_found("user", id))
    }

    async fn user_by_email_opt(&self, email: &str) -> Result<Option<User>> {
        sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| user(&r))
        .transpose()
    }

    async fn list_users(&self, filter: &UserFilter) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users \
             WHERE $1::text IS NULL OR email ILIKE $1 OR name ILIKE $1 \
             ORDER BY lower(email) LIMIT $2 OFFSET $3"
        ))
        .bind(filter.search.as_deref().map(like))
        .bind(i64::from(filter.limit))
        .bind(i64::from(filter.offset))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(user).collect()
    }

    async fn org(&self, id: OrgId) -> Result<Organization> {
        sqlx::query(&format!("{ORG_SELECT} WHERE o.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|r| org(&r))
            .transpose()?
            .ok_or_else(|| Error::not_found("organization", id))
    }

    async fn org_by_slug_opt(&self, slug: &str) -> Result<Option<Organization>> {
        sqlx::query(&format!("{ORG_SELECT} WHERE o.slug = $1"))
            .bind(slug)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|r| org(&r))
            .transpose()
    }

    async fn list_orgs(&self, filter: &OrgFilter) -> Result<Vec<Organization>> {
        let suspended = filter.status.map(|s| s == OrgStatus::Suspended);
        let rows = sqlx::query(&format!(
            "{ORG_SELECT} \
             WHERE ($1::text IS NULL OR o.slug ILIKE $1 OR o.name ILIKE $1) \
               AND ($2::bool IS NULL OR COALESCE(s.status = 'suspended', FALSE) = $2) \
             ORDER BY o.slug LIMIT $3 OFFSET $4"
        ))
        .bind(filter.search.as_deref().map(like))
        .bind(suspended)
        .bind(i64::from(filter.limit))
        .bind(i64::from(filter.offset))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(org).collect()
    }

    async fn members(&self, org: OrgId) -> Result<Vec<Member>> {
        let rows = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS} FROM organization_members \
             WHERE organization_id = $1 ORDER BY created_at, user_id"
        ))
        .bind(org.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(member).collect()
    }

    async fn memberships(&self, user: UserId) -> Result<Vec<Member>> {
        let rows = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS} FROM organization_members \
             WHERE user_id = $1 ORDER BY created_at, organization_id"
        ))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(member).collect()
    }
}

#[async_trait]
impl PlanSource for PanelTenancy {
    async fn plan(&self, id: PlanId) -> Result<Plan> {
        sqlx::query(&format!("{PLAN_SELECT} WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|r| self.plan(&r))
            .transpose()?
            .ok_or_else(|| Error::not_found("plan", id))
    }

    async fn plan_by_name_opt(&self, name: &str) -> Result<Option<Plan>> {
        Ok(self
            .list_plans()
            .await?
            .into_iter()
            .find(|p| p.name.as_str() == name))
    }

    async fn list_plans(&self) -> Result<Vec<Plan>> {
        let rows = sqlx::query(&format!("{PLAN_SELECT} WHERE active ORDER BY name"))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut plans = rows
            .iter()
            .map(|r| self.plan(r))
            .collect::<Result<Vec<_>>>()?;
        plans.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
        Ok(plans)
    }

    async fn subscription_opt(&self, org: OrgId) -> Result<Option<Subscription>> {
        sqlx::query(
            "SELECT id, organization_id, plan_id, status, current_period_start, \
             current_period_end, created_at \
             FROM container_subscriptions WHERE organization_id = $1",
        )
        .bind(org.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| subscription(&r))
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panel_plan_names_become_caas_names() {
        assert_eq!(plan_name("Pro 2024"), "pro-2024");
        assert_eq!(plan_name("  Starter  "), "starter");
        assert_eq!(plan_name("Team (EU)"), "team--eu");
    }

    #[test]
    fn search_patterns_escape_like_characters() {
        assert_eq!(like("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}

/// The panel's side of the tables, as its own sign-up, membership and billing write them:
/// what the example and the tests use to play the panel. caas-rs never calls these.
pub mod panel_side {
    use sqlx::PgPool;
    use uuid::Uuid;

    /// A row of `container_plans`.
    #[derive(Debug, Clone)]
    pub struct PanelPlan {
        /// `name`.
        pub name: String,
        /// `max_cpu_cores` (a decimal).
        pub max_cpu_cores: f64,
        /// `max_memory_gb` (a decimal).
        pub max_memory_gb: f64,
        /// `max_storage_gb`.
        pub max_storage_gb: i32,
        /// `max_containers`.
        pub max_containers: i32,
        /// `max_projects`.
        pub max_projects: i32,
    }

    /// Creates the panel's tables (`examples/panel/schema.sql`) where the pool's
    /// `search_path` points.
    pub async fn create_schema(pool: &PgPool) -> sqlx::Result<()> {
        sqlx::raw_sql(super::SCHEMA).execute(pool).await?;
        Ok(())
    }

    /// A user (`role`: `admin` or `user`).
    pub async fn add_user(
        pool: &PgPool,
        email: &str,
        name: &str,
        role: &str,
    ) -> sqlx::Result<Uuid> {
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO users (id, email, name, role) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(email)
            .bind(name)
            .bind(role)
            .execute(pool)
            .await?;
        Ok(id)
    }

    /// An organization owned by `owner`, who becomes its `owner` member.
    pub async fn add_org(pool: &PgPool, name: &str, slug: &str, owner: Uuid) -> sqlx::Result<Uuid> {
        let id = Uuid::new_v4();
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO organizations (id, name, slug, owner_id) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(name)
            .bind(slug)
            .bind(owner)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO organization_members (organization_id, user_id, role) \
             VALUES ($1, $2, 'owner')",
        )
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A member (`role`: `owner`, `admin` or `member`).
    pub async fn add_member(pool: &PgPool, org: Uuid, user: Uuid, role: &str) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO organization_members (organization_id, user_id, role) \
             VALUES ($1, $2, $3)",
        )
        .bind(org)
        .bind(user)
        .bind(role)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// An active plan.
    pub async fn add_plan(pool: &PgPool, plan: &PanelPlan) -> sqlx::Result<Uuid> {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO container_plans (id, name, max_cpu_cores, max_memory_gb, \
             max_storage_gb, max_containers, max_projects) \
             VALUES ($1, $2, $3::numeric, $4::numeric, $5, $6, $7)",
        )
        .bind(id)
        .bind(&plan.name)
        .bind(plan.max_cpu_cores)
        .bind(plan.max_memory_gb)
        .bind(plan.max_storage_gb)
        .bind(plan.max_containers)
        .bind(plan.max_projects)
        .execute(pool)
        .await?;
        Ok(id)
    }

    /// Subscribes `org` to `plan` for thirty days (`status`: `active`, `suspended` or
    /// `cancelled`).
    pub async fn subscribe(pool: &PgPool, org: Uuid, plan: Uuid, status: &str) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO container_subscriptions (id, organization_id, plan_id, status, \
             current_period_start, current_period_end) \
             VALUES ($1, $2, $3, $4, now(), now() + interval '30 days')",
        )
        .bind(Uuid::new_v4())
        .bind(org)
        .bind(plan)
        .bind(status)
        .execute(pool)
        .await?;
        Ok(())
    }
}
