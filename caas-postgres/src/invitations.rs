//! Invitations to join an organization, found by id or by the SHA-256 of their token, going
//! with their organization.

use caas_core::codec::StoredName;
use caas_core::model::Invitation;
use caas_core::{Error, InvitationId, OrgId, ProjectId, Result, UserId};
use sqlx::postgres::{PgPool, PgRow};
use uuid::Uuid;

use crate::codec::{get, read_name};
use crate::error::{Violation, db_error, on_violation};

const COLUMNS: &str =
    "id, org_id, email, role, projects, token_sha256, invited_by, expires_at, created_at";

/// Whether `sha256` can be a stored token hash (64 lowercase hex digits, as the schema
/// checks). Anything else is absent without asking the server, which would refuse a NUL
/// byte with an error instead.
fn storable(sha256: &str) -> bool {
    sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn invitation_from_row(row: &PgRow) -> Result<Invitation> {
    let projects: Option<Vec<Uuid>> = get(row, "projects")?;
    Ok(Invitation {
        id: InvitationId(get(row, "id")?),
        org: OrgId(get(row, "org_id")?),
        email: get(row, "email")?,
        role: read_name(row, "role", "invitations.role")?,
        projects: projects.map(|ps| ps.into_iter().map(ProjectId).collect()),
        token_sha256: get(row, "token_sha256")?,
        invited_by: UserId(get(row, "invited_by")?),
        expires_at: get(row, "expires_at")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) async fn create(pool: &PgPool, i: &Invitation) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO invitations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(i.id.0)
    .bind(i.org.0)
    .bind(&i.email)
    .bind(i.role.name())
    .bind(
        i.projects
            .as_ref()
            .map(|ps| ps.iter().map(|p| p.0).collect::<Vec<Uuid>>()),
    )
    .bind(&i.token_sha256)
    .bind(i.invited_by.0)
    .bind(i.expires_at)
    .bind(i.created_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            // A clash of ids or of token hashes: both name the id, never the hash.
            Violation::Unique(_) => Some(Error::already_exists("invitation", i.id)),
            Violation::ForeignKey(_) => Some(Error::not_found("organization", i.org)),
        })
    })?;
    Ok(())
}

pub(crate) async fn by_id(pool: &PgPool, id: InvitationId) -> Result<Invitation> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM invitations WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(invitation_from_row)
        .transpose()?
        .ok_or_else(|| Error::not_found("invitation", id))
}

pub(crate) async fn by_hash_opt(pool: &PgPool, sha256: &str) -> Result<Option<Invitation>> {
    if !storable(sha256) {
        return Ok(None);
    }
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM invitations WHERE token_sha256 = $1"
    ))
    .bind(sha256)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?
    .as_ref()
    .map(invitation_from_row)
    .transpose()
}

pub(crate) async fn list(pool: &PgPool, org: OrgId) -> Result<Vec<Invitation>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM invitations WHERE org_id = $1 ORDER BY id"
    ))
    .bind(org.0)
    .fetch_all(pool)
    .await
    .map_err(db_error)?
    .iter()
    .map(invitation_from_row)
    .collect()
}

pub(crate) async fn delete(pool: &PgPool, id: InvitationId) -> Result<()> {
    let done = sqlx::query("DELETE FROM invitations WHERE id = $1")
        .bind(id.0)
        .execute(pool)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("invitation", id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::storable;

    #[test]
    fn only_lowercase_hex_sha256_is_storable() {
        assert!(storable(&"0a".repeat(32)));
        assert!(!storable(&"0A".repeat(32)));
        assert!(!storable(&"0a".repeat(31)));
        assert!(!storable(&format!("{}\0", "a".repeat(63))));
        assert!(!storable(""));
    }
}
