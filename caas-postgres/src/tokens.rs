//! API tokens, stored by the SHA-256 of their secret.

use caas_core::model::{ApiToken, TokenOrg, TokenScope};
use caas_core::{ApiTokenId, Error, Result, UserId};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;

use crate::error::{Violation, db_error, on_violation};

/// The columns [`token`] reads.
const COLUMNS: &str = "id, user_id, name, token_sha256, expires_at, read_only, orgs, created_at";

fn token(row: &PgRow) -> Result<ApiToken> {
    let get = |e: sqlx::Error| db_error(e);
    let orgs: Option<Json<Vec<TokenOrg>>> = row.try_get("orgs").map_err(get)?;
    Ok(ApiToken {
        id: ApiTokenId(row.try_get("id").map_err(get)?),
        user: UserId(row.try_get("user_id").map_err(get)?),
        name: row.try_get("name").map_err(get)?,
        token_sha256: row.try_get("token_sha256").map_err(get)?,
        expires_at: row.try_get("expires_at").map_err(get)?,
        scope: TokenScope {
            read_only: row.try_get("read_only").map_err(get)?,
            orgs: orgs.map(|Json(o)| o),
        },
        created_at: row.try_get("created_at").map_err(get)?,
    })
}

pub(crate) async fn create(pool: &PgPool, t: &ApiToken) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO api_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(t.id.0)
    .bind(t.user.0)
    .bind(&t.name)
    .bind(&t.token_sha256)
    .bind(t.expires_at)
    .bind(t.scope.read_only)
    .bind(t.scope.orgs.as_ref().map(Json))
    .bind(t.created_at)
    .execute(pool)
    .await
    .map_err(|e| {
        on_violation(e, |v| match v {
            Violation::Unique(_) => Some(Error::already_exists("api token", t.id)),
            // No foreign key: the user may be a host application's.
            Violation::ForeignKey(_) => None,
        })
    })?;
    Ok(())
}

pub(crate) async fn by_hash_opt(pool: &PgPool, sha256: &str) -> Result<Option<ApiToken>> {
    // No stored hash holds a NUL byte; the server would refuse the query with an error.
    if sha256.contains('\0') {
        return Ok(None);
    }
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE token_sha256 = $1"
    ))
    .bind(sha256)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    row.as_ref().map(token).transpose()
}

pub(crate) async fn list(pool: &PgPool, user: UserId) -> Result<Vec<ApiToken>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id"
    ))
    .bind(user.0)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    rows.iter().map(token).collect()
}

pub(crate) async fn delete(pool: &PgPool, id: ApiTokenId) -> Result<()> {
    let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1")
        .bind(id.0)
        .execute(pool)
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("api token", id));
    }
    Ok(())
}
