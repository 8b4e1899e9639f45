//! Users, organizations and members.

use caas_core::codec::StoredName;
use caas_core::model::{Member, Organization, User};
use caas_core::ports::store::{OrgFilter, UserFilter};
use caas_core::validate::Slug;
use caas_core::{Error, OrgId, ProjectId, Result, UserId};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::codec::{finish, get, read_name};
use crate::error::{Violation, corrupt, db_error, on_violation};

/// Most organizations (or users) one `list_orgs` (`list_users`) call returns.
const MAX_ORG_PAGE: u32 = 500;

// --- users ---

fn user_from_row(row: &PgRow) -> Result<User> {
    Ok(User {
        id: UserId(get(row, "id")?),
        email: get(row, "email")?,
        display_name: get(row, "display_name")?,
        platform_admin: get(row, "platform_admin")?,
        disabled: get(row, "disabled")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) async fn create_user(pool: &PgPool, user: &User) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, email, display_name, platform_admin, disabled, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.id.0)
    .bind(&user.email)
    .bind(&user.display_name)
    .bind(user.platform_admin)
    .bind(user.disabled)
    .bind(user.created_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            Violation::Unique("users_email_key") => {
                Some(Error::already_exists("user", &user.email))
            }
            Violation::Unique(_) => Some(Error::already_exists("user", user.id)),
            Violation::ForeignKey(_) => None,
        })
    })?;
    Ok(())
}

pub(crate) async fn user(pool: &PgPool, id: UserId) -> Result<User> {
    sqlx::query(
        "SELECT id, email, display_name, platform_admin, disabled, created_at FROM users WHERE id = $1",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .map(|row| user_from_row(&row))
    .transpose()?
    .ok_or_else(|| Error::not_found("user", id))
}

pub(crate) async fn user_by_email_opt(pool: &PgPool, email: &str) -> Result<Option<User>> {
    // Stored e-mails have their ASCII letters lowercased (see NewUser::build); fold the
    // question the same way so the unique index answers it.
    sqlx::query(
        "SELECT id, email, display_name, platform_admin, disabled, created_at FROM users WHERE email = $1",
    )
    .bind(email.to_ascii_lowercase())
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .map(|row| user_from_row(&row))
    .transpose()
}

pub(crate) async fn list_users(pool: &PgPool, filter: &UserFilter) -> Result<Vec<User>> {
    // The search folds ASCII letters only (whatever the database's locale makes of lower()),
    // as every backend does; strpos has no wildcards. Byte order, like the other backends.
    sqlx::query(
        "SELECT id, email, display_name, platform_admin, disabled, created_at FROM users \
         WHERE $1::text IS NULL \
            OR strpos(translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), $1) > 0 \
            OR strpos(translate(display_name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), $1) > 0 \
         ORDER BY email COLLATE \"C\" \
         LIMIT $2 OFFSET $3",
    )
    .bind(filter.search.as_deref().map(str::to_ascii_lowercase))
    .bind(i64::from(filter.limit.min(MAX_ORG_PAGE)))
    .bind(i64::from(filter.offset))
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(user_from_row)
    .collect()
}

pub(crate) async fn set_user_disabled(pool: &PgPool, id: UserId, disabled: bool) -> Result<()> {
    let done = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
        .bind(disabled)
        .bind(id.0)
        .execute(pool)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("user", id));
    }
    Ok(())
}

// --- organizations ---

fn org_from_row(row: &PgRow) -> Result<Organization> {
    let slug: String = get(row, "slug")?;
    Ok(Organization {
        id: OrgId(get(row, "id")?),
        slug: Slug::parse(slug.as_str()).map_err(|_| corrupt("organizations.slug", &slug))?,
        display_name: get(row, "display_name")?,
        status: read_name(row, "status", "organizations.status")?,
        created_at: get(row, "created_at")?,
    })
}

fn org_slug_taken(org: &Organization) -> impl FnOnce(Violation<'_>) -> Option<Error> + '_ {
    |v| match v {
        Violation::Unique(_) => Some(Error::already_exists("organization", &org.slug)),
        Violation::ForeignKey(_) => None,
    }
}

pub(crate) async fn create_org(pool: &PgPool, org: &Organization) -> Result<()> {
    sqlx::query(
        "INSERT INTO organizations (id, slug, display_name, status, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(org.id.0)
    .bind(org.slug.as_str())
    .bind(&org.display_name)
    .bind(org.status.name())
    .bind(org.created_at)
    .execute(pool)
    .await
    .map_err(|e| on_violation(e, org_slug_taken(org)))?;
    Ok(())
}

pub(crate) async fn org(pool: &PgPool, id: OrgId) -> Result<Organization> {
    sqlx::query(
        "SELECT id, slug, display_name, status, created_at FROM organizations WHERE id = $1",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .map(|row| org_from_row(&row))
    .transpose()?
    .ok_or_else(|| Error::not_found("organization", id))
}

pub(crate) async fn org_by_slug_opt(pool: &PgPool, slug: &str) -> Result<Option<Organization>> {
    sqlx::query(
        "SELECT id, slug, display_name, status, created_at FROM organizations WHERE slug = $1",
    )
    .bind(slug)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .map(|row| org_from_row(&row))
    .transpose()
}

pub(crate) async fn list_orgs(pool: &PgPool, filter: &OrgFilter) -> Result<Vec<Organization>> {
    // strpos over lower() on both sides: a case-insensitive substring match without LIKE's
    // wildcards, so '%' and '_' in the search are plain characters.
    sqlx::query(
        "SELECT id, slug, display_name, status, created_at FROM organizations \
         WHERE ($1::text IS NULL OR status = $1) \
           AND ($2::text IS NULL \
                OR strpos(lower(slug), lower($2)) > 0 \
                OR strpos(lower(display_name), lower($2)) > 0) \
         ORDER BY slug \
         LIMIT $3 OFFSET $4",
    )
    .bind(filter.status.map(StoredName::name))
    .bind(filter.search.as_deref())
    .bind(i64::from(filter.limit.min(MAX_ORG_PAGE)))
    .bind(i64::from(filter.offset))
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(org_from_row)
    .collect()
}

pub(crate) async fn update_org(pool: &PgPool, org: &Organization) -> Result<()> {
    let done = sqlx::query(
        "UPDATE organizations SET slug = $2, display_name = $3, status = $4 WHERE id = $1",
    )
    .bind(org.id.0)
    .bind(org.slug.as_str())
    .bind(&org.display_name)
    .bind(org.status.name())
    .execute(pool)
    .await
    .map_err(|e| on_violation(e, org_slug_taken(org)))?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("organization", org.id));
    }
    Ok(())
}

/// The organization's rows in caas-rs's own tables, which reference no directory table (so
/// a host application's directory can stand in for ours): deleted explicitly, children first.
/// Deleting projects cascades to their services, volumes and template instances, and
/// services to their deployments, events and domains; the statements for those tables catch
/// rows a cascade would not reach. Claims, released claims, metrics and the audit log are
/// history that outlives the organization.
const ORG_TABLES: [&str; 10] = [
    "domains",
    "service_events",
    "deployments",
    "template_instances",
    "services",
    "volumes",
    "projects",
    "backups",
    "alerts",
    "reservations",
];

pub(crate) async fn delete_org(pool: &PgPool, id: OrgId) -> Result<()> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    let result = delete_org_in(&mut tx, id).await;
    finish(tx, result).await
}

async fn delete_org_in(tx: &mut Transaction<'_, Postgres>, id: OrgId) -> Result<()> {
    // The organization row first: a concurrent delete of the same organization waits here and
    // then finds nothing. Members, the subscription and invitations cascade from it.
    let done = sqlx::query("DELETE FROM organizations WHERE id = $1")
        .bind(id.0)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("organization", id));
    }
    for table in ORG_TABLES {
        sqlx::query(&format!("DELETE FROM {table} WHERE org_id = $1"))
            .bind(id.0)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

// --- members ---

fn member_from_row(row: &PgRow) -> Result<Member> {
    let projects: Option<Vec<Uuid>> = get(row, "projects")?;
    Ok(Member {
        org: OrgId(get(row, "org_id")?),
        user: UserId(get(row, "user_id")?),
        role: read_name(row, "role", "members.role")?,
        projects: projects.map(|ps| ps.into_iter().map(ProjectId).collect()),
        created_at: get(row, "created_at")?,
    })
}

pub(crate) async fn put_member(pool: &PgPool, member: &Member) -> Result<()> {
    let projects: Option<Vec<Uuid>> = member
        .projects
        .as_ref()
        .map(|ps| ps.iter().map(|p| p.0).collect());
    sqlx::query(
        "INSERT INTO members (org_id, user_id, role, projects, created_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (org_id, user_id) DO UPDATE \
         SET role = EXCLUDED.role, projects = EXCLUDED.projects, created_at = EXCLUDED.created_at",
    )
    .bind(member.org.0)
    .bind(member.user.0)
    .bind(member.role.name())
    .bind(projects)
    .bind(member.created_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            Violation::ForeignKey("members_org_fkey") => {
                Some(Error::not_found("organization", member.org))
            }
            Violation::ForeignKey("members_user_fkey") => {
                Some(Error::not_found("user", member.user))
            }
            _ => None,
        })
    })?;
    Ok(())
}

pub(crate) async fn remove_member(pool: &PgPool, org: OrgId, user: UserId) -> Result<bool> {
    let done = sqlx::query("DELETE FROM members WHERE org_id = $1 AND user_id = $2")
        .bind(org.0)
        .bind(user.0)
        .execute(pool)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn members(pool: &PgPool, org: OrgId) -> Result<Vec<Member>> {
    sqlx::query(
        "SELECT org_id, user_id, role, projects, created_at FROM members \
         WHERE org_id = $1 ORDER BY created_at, user_id",
    )
    .bind(org.0)
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(member_from_row)
    .collect()
}

pub(crate) async fn memberships(pool: &PgPool, user: UserId) -> Result<Vec<Member>> {
    sqlx::query(
        "SELECT org_id, user_id, role, projects, created_at FROM members \
         WHERE user_id = $1 ORDER BY created_at, org_id",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(member_from_row)
    .collect()
}
