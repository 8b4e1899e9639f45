//! Users, organizations and members.

use caas_core::codec::StoredName;
use caas_core::model::{Member, Organization, User};
use caas_core::ports::store::{OrgFilter, UserFilter};
use caas_core::validate::Slug;
use caas_core::{Error, OrgId, Result, UserId};
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{self, Cols, all, ts};
use crate::error::{db_error, on_unique, on_write};

/// The columns [`user`] reads (named, not `*`: `0011_token_scopes.sql` added `disabled`; see
/// [`crate::plans::PLAN_COLUMNS`]).
const USER_COLUMNS: &str = "id, email, display_name, platform_admin, disabled, created_at";

fn user(row: &SqliteRow) -> Result<User> {
    let c = Cols::new(row, "users");
    Ok(User {
        id: c.id("id")?,
        email: c.text("email")?,
        display_name: c.text("display_name")?,
        platform_admin: c.bool("platform_admin")?,
        disabled: c.bool("disabled")?,
        created_at: c.ts("created_at")?,
    })
}

fn org(row: &SqliteRow) -> Result<Organization> {
    let c = Cols::new(row, "organizations");
    Ok(Organization {
        id: c.id("id")?,
        slug: c.parsed("slug", Slug::parse)?,
        display_name: c.text("display_name")?,
        status: c.name("status")?,
        created_at: c.ts("created_at")?,
    })
}

fn member(row: &SqliteRow) -> Result<Member> {
    let c = Cols::new(row, "members");
    Ok(Member {
        org: c.id("org_id")?,
        user: c.id("user_id")?,
        role: c.name("role")?,
        projects: c.json_opt("projects")?,
        created_at: c.ts("created_at")?,
    })
}

/// How searches fold case: Unicode lowercase, as `InMemoryStore` does.
fn fold(s: &str) -> String {
    s.to_lowercase()
}

// --- users ---

pub(crate) async fn create_user(s: &SqliteStore, u: &User) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, email, display_name, platform_admin, disabled, created_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(u.id.as_uuid())
    .bind(&u.email)
    .bind(&u.display_name)
    .bind(u.platform_admin)
    .bind(u.disabled)
    .bind(ts("created_at", u.created_at)?)
    .execute(s.pool())
    .await
    .map_err(|e| {
        on_unique(e, |cols| {
            if cols == "users.id" {
                Error::already_exists("user", u.id)
            } else {
                Error::already_exists("user", &u.email)
            }
        })
    })?;
    Ok(())
}

pub(crate) async fn user_by_id(s: &SqliteStore, id: UserId) -> Result<User> {
    sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
        .bind(id.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map_or_else(|| Err(Error::not_found("user", id)), |r| user(&r))
}

pub(crate) async fn user_by_email_opt(s: &SqliteStore, email: &str) -> Result<Option<User>> {
    // E-mail addresses are stored lowercase (ASCII, like `NewUser::build`).
    sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?"))
        .bind(email.to_ascii_lowercase())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map(|r| user(&r))
        .transpose()
}

pub(crate) async fn list_users(s: &SqliteStore, f: &UserFilter) -> Result<Vec<User>> {
    // SQLite's built-in lower() folds ASCII letters only — the search's documented rule —
    // and `instr` is a plain substring test, so '%' and '_' are ordinary characters.
    let needle = f.search.as_deref().map(str::to_ascii_lowercase);
    let rows = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users
         WHERE ?1 IS NULL OR instr(lower(email), ?1) > 0 OR instr(lower(display_name), ?1) > 0
         ORDER BY email
         LIMIT ?2 OFFSET ?3"
    ))
    .bind(needle)
    .bind(f.limit.min(500))
    .bind(f.offset)
    .fetch_all(s.pool())
    .await
    .map_err(db_error)?;
    all(&rows, user)
}

pub(crate) async fn set_user_disabled(s: &SqliteStore, id: UserId, disabled: bool) -> Result<()> {
    let done = sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
        .bind(disabled)
        .bind(id.as_uuid())
        .execute(s.pool())
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("user", id));
    }
    Ok(())
}

// --- organizations ---

pub(crate) async fn create_org(s: &SqliteStore, o: &Organization) -> Result<()> {
    sqlx::query(
        "INSERT INTO organizations (id, slug, display_name, display_name_folded, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(o.id.as_uuid())
    .bind(o.slug.as_str())
    .bind(&o.display_name)
    .bind(fold(&o.display_name))
    .bind(o.status.name())
    .bind(ts("created_at", o.created_at)?)
    .execute(s.pool())
    .await
    .map_err(|e| {
        on_unique(e, |cols| {
            if cols == "organizations.id" {
                Error::already_exists("organization", o.id)
            } else {
                Error::already_exists("organization", &o.slug)
            }
        })
    })?;
    Ok(())
}

pub(crate) async fn org_by_id(s: &SqliteStore, id: OrgId) -> Result<Organization> {
    sqlx::query("SELECT * FROM organizations WHERE id = ?")
        .bind(id.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map_or_else(|| Err(Error::not_found("organization", id)), |r| org(&r))
}

pub(crate) async fn org_by_slug_opt(s: &SqliteStore, slug: &str) -> Result<Option<Organization>> {
    sqlx::query("SELECT * FROM organizations WHERE slug = ?")
        .bind(slug)
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map(|r| org(&r))
        .transpose()
}

pub(crate) async fn list_orgs(s: &SqliteStore, f: &OrgFilter) -> Result<Vec<Organization>> {
    // `instr` is a plain substring test: no LIKE wildcards to escape in the needle. Slugs are
    // lowercase ASCII by validation; display names are matched through their folded copy.
    let status = f.status.map(StoredName::name);
    let needle = f.search.as_deref().map(fold);
    let rows = sqlx::query(
        "SELECT * FROM organizations
         WHERE (?1 IS NULL OR status = ?1)
           AND (?2 IS NULL OR instr(slug, ?2) > 0 OR instr(display_name_folded, ?2) > 0)
         ORDER BY slug
         LIMIT ?3 OFFSET ?4",
    )
    .bind(status)
    .bind(needle)
    .bind(f.limit.min(500))
    .bind(f.offset)
    .fetch_all(s.pool())
    .await
    .map_err(db_error)?;
    all(&rows, org)
}

pub(crate) async fn update_org(s: &SqliteStore, o: &Organization) -> Result<()> {
    let done = sqlx::query(
        "UPDATE organizations
         SET slug = ?, display_name = ?, display_name_folded = ?, status = ?
         WHERE id = ?",
    )
    .bind(o.slug.as_str())
    .bind(&o.display_name)
    .bind(fold(&o.display_name))
    .bind(o.status.name())
    .bind(o.id.as_uuid())
    .execute(s.pool())
    .await
    .map_err(|e| on_unique(e, |_| Error::already_exists("organization", &o.slug)))?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("organization", o.id));
    }
    Ok(())
}

/// The organization's rows in caas-rs's own tables, which reference no directory table
/// (`0014_foreign_directory.sql`, so a host application's directory can stand in for ours):
/// deleted explicitly, children first. Services go before their projects, whose key refuses
/// to lose a project with services; deleting services cascades to their deployments, events
/// and domains, and projects to their volumes and template instances, while the statements
/// for those tables take the rows a cascade would not reach. Hostname claims, released
/// claims, metrics and the audit log are history that outlives the organization, as before.
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

pub(crate) async fn delete_org(s: &SqliteStore, id: OrgId) -> Result<()> {
    let mut tx = s.write().await?;
    // Members, the subscription and invitations cascade from the organization's row.
    let done = sqlx::query("DELETE FROM organizations WHERE id = ?")
        .bind(id.as_uuid())
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("organization", id));
    }
    for table in ORG_TABLES {
        // `table` is one of our own table names, never input.
        sqlx::query(&format!("DELETE FROM {table} WHERE org_id = ?"))
            .bind(id.as_uuid())
            .execute(tx.conn())
            .await
            .map_err(db_error)?;
    }
    tx.commit().await
}

// --- members ---

pub(crate) async fn put_member(s: &SqliteStore, m: &Member) -> Result<()> {
    let result = sqlx::query(
        "INSERT INTO members (org_id, user_id, role, projects, created_at)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (org_id, user_id) DO UPDATE
         SET role = excluded.role, projects = excluded.projects, created_at = excluded.created_at",
    )
    .bind(m.org.as_uuid())
    .bind(m.user.as_uuid())
    .bind(m.role.name())
    .bind(codec::json_opt(m.projects.as_ref())?)
    .bind(ts("created_at", m.created_at)?)
    .execute(s.pool())
    .await;
    if let Err(e) = result {
        let parents = [
            ("organization", "organizations", m.org.as_uuid()),
            ("user", "users", m.user.as_uuid()),
        ];
        return Err(on_write(s.pool(), e, &parents, |_| {
            Error::already_exists("member", m.user)
        })
        .await);
    }
    Ok(())
}

pub(crate) async fn remove_member(s: &SqliteStore, org: OrgId, user: UserId) -> Result<bool> {
    let done = sqlx::query("DELETE FROM members WHERE org_id = ? AND user_id = ?")
        .bind(org.as_uuid())
        .bind(user.as_uuid())
        .execute(s.pool())
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn members(s: &SqliteStore, org: OrgId) -> Result<Vec<Member>> {
    let rows = sqlx::query("SELECT * FROM members WHERE org_id = ? ORDER BY created_at, user_id")
        .bind(org.as_uuid())
        .fetch_all(s.pool())
        .await
        .map_err(db_error)?;
    all(&rows, member)
}

pub(crate) async fn memberships(s: &SqliteStore, user: UserId) -> Result<Vec<Member>> {
    let rows = sqlx::query("SELECT * FROM members WHERE user_id = ? ORDER BY created_at, org_id")
        .bind(user.as_uuid())
        .fetch_all(s.pool())
        .await
        .map_err(db_error)?;
    all(&rows, member)
}
