//! API tokens, stored by the SHA-256 of their secret.

use caas_core::model::{ApiToken, TokenScope};
use caas_core::{ApiTokenId, Error, Result, UserId};
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{Cols, all, json_opt, ts, ts_opt};
use crate::error::{db_error, on_unique};

/// The columns [`token`] reads (named, not `*`: `0011_token_scopes.sql` added the scope; see
/// [`crate::plans::PLAN_COLUMNS`]).
const COLUMNS: &str = "id, user_id, name, token_sha256, expires_at, read_only, orgs, created_at";

fn token(row: &SqliteRow) -> Result<ApiToken> {
    let c = Cols::new(row, "api_tokens");
    Ok(ApiToken {
        id: c.id("id")?,
        user: c.id("user_id")?,
        name: c.text("name")?,
        token_sha256: c.text("token_sha256")?,
        expires_at: c.ts_opt("expires_at")?,
        scope: TokenScope {
            read_only: c.bool("read_only")?,
            orgs: c.json_opt("orgs")?,
        },
        created_at: c.ts("created_at")?,
    })
}

pub(crate) async fn create(s: &SqliteStore, t: &ApiToken) -> Result<()> {
    let result = sqlx::query(&format!(
        "INSERT INTO api_tokens ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(t.id.as_uuid())
    .bind(t.user.as_uuid())
    .bind(&t.name)
    .bind(&t.token_sha256)
    .bind(ts_opt("expires_at", t.expires_at)?)
    .bind(t.scope.read_only)
    .bind(json_opt(t.scope.orgs.as_ref())?)
    .bind(ts("created_at", t.created_at)?)
    .execute(s.pool())
    .await;
    // No foreign key: the user may be a host application's (0014_foreign_directory.sql).
    result.map_err(|e| on_unique(e, |_| Error::already_exists("api token", t.id)))?;
    Ok(())
}

pub(crate) async fn by_hash_opt(s: &SqliteStore, sha256: &str) -> Result<Option<ApiToken>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE token_sha256 = ?"
    ))
    .bind(sha256)
    .fetch_optional(s.pool())
    .await
    .map_err(db_error)?;
    row.as_ref().map(token).transpose()
}

pub(crate) async fn list(s: &SqliteStore, user: UserId) -> Result<Vec<ApiToken>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE user_id = ? ORDER BY id"
    ))
    .bind(user.as_uuid())
    .fetch_all(s.pool())
    .await
    .map_err(db_error)?;
    all(&rows, token)
}

pub(crate) async fn delete(s: &SqliteStore, id: ApiTokenId) -> Result<()> {
    let done = sqlx::query("DELETE FROM api_tokens WHERE id = ?")
        .bind(id.as_uuid())
        .execute(s.pool())
        .await
        .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("api token", id));
    }
    Ok(())
}
