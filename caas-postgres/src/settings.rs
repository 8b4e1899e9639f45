//! Platform-wide settings: one JSON document per key (the secret fields of some sealed, see
//! "Secrets at rest" in the crate docs).

use caas_core::Result;
use caas_core::secrets::Sealer;
use sqlx::postgres::PgPool;
use sqlx::types::Json;

use crate::error::db_error;

pub(crate) async fn setting_opt(
    pool: &PgPool,
    sealer: &Sealer,
    key: &str,
) -> Result<Option<serde_json::Value>> {
    let value: Option<Json<serde_json::Value>> =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await
            .map_err(db_error)?;
    value.map(|v| sealer.open_setting(key, v.0)).transpose()
}

pub(crate) async fn put_setting(
    pool: &PgPool,
    sealer: &Sealer,
    key: &str,
    value: &serde_json::Value,
) -> Result<()> {
    let value = sealer.seal_setting(key, value)?;
    // An empty or over-long key violates settings_key_check: InvalidInput naming `key`.
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, now()) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
    )
    .bind(key)
    .bind(Json(&value))
    .execute(pool)
    .await
    .map_err(db_error)?;
    Ok(())
}
