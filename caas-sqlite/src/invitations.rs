//! Invitations to join an organization, found by id or by the SHA-256 of their token, going
//! with their organization.

use caas_core::codec::StoredName;
use caas_core::model::Invitation;
use caas_core::{Error, InvitationId, OrgId, Result};
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{self, Cols, all, ts};
use crate::error::{db_error, on_write};

/// The columns [`invitation`] reads (named, not `*`: see [`crate::plans::PLAN_COLUMNS`]).
const COLUMNS: &str =
    "id, org_id, email, role, projects, token_sha256, invited_by, expires_at, created_at";

fn invitation(row: &SqliteRow) -> Result<Invitation> {
    let c = Cols::new(row, "invitations");
    Ok(Invitation {
        id: c.id("id")?,
        org: c.id("org_id")?,
        email: c.text("email")?,
        role: c.name("role")?,
        projects: c.json_opt("projects")?,
        token_sha256: c.text("token_sha256")?,
        invited_by: c.id("invited_by")?,
        expires_at: c.ts("expires_at")?,
        created_at: c.ts("created_at")?,
    })
}

pub(crate) async fn create(s: &SqliteStore, i: &Invitation) -> Result<()> {
    let result = sqlx::query(&format!(
        "INSERT INTO invitations ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(i.id.as_uuid())
    .bind(i.org.as_uuid())
    .bind(&i.email)
    .bind(i.role.name())
    .bind(codec::json_opt(i.projects.as_ref())?)
    .bind(&i.token_sha256)
    .bind(i.invited_by.as_uuid())
    .bind(ts("expires_at", i.expires_at)?)
    .bind(ts("created_at", i.created_at)?)
    .execute(s.pool())
    .await;
    if let Err(e) = result {
        let parents = [("organization", "organizations", i.org.as_uuid())];
        // A clash of ids or of token hashes: both name the id, never the hash.
        return Err(on_write(s.pool(), e, &parents, |_| {
            Error::already_exists("invitation", i.id)
        })
        .await);
    }
    Ok(())
}

pub(crate) async fn by_id(s: &SqliteStore, id: InvitationId) -> Result<Invitation> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM invitations WHERE id = ?"))
        .bind(id.as_uuid())
        .fetch_optional(s.pool())
        .await
        .map_err(db_error)?
        .map_or_else(
            || Err(Error::not_found("invitation", id)),
            |r| invitation(&r),
        )
}

pub(crate) async fn by_hash_opt(s: &SqliteStore, sha256: &str) -> Result<Option<Invitation>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM invitations WHERE token_sha256 = ?"
    ))
    .bind(sha256)
    .fetch_optional(s.pool())
    .await
    .map_err(db_error)?
    .map(|r| invitation(&r))
    .transpose()
}

pub(crate) async fn list(s: &SqliteStore, org: OrgId) -> Result<Vec<Invitation>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM invitations WHERE org_id = ? ORDER BY id"
    ))
    .bind(org.as_uuid())
    .fetch_all(s.pool())
    .await
    .map_err(db_error)?;
    all(&rows, invitation)
}

pub(crate) async fn delete(s: &SqliteStore, id: InvitationId) -> Result<()> {
    let done = sqlx::query("DELETE FROM invitations WHERE id = ?")
        .bind(id.as_uuid())
        .execute(s.pool())
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("invitation", id));
    }
    Ok(())
}
