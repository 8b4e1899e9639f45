//! Secrets at rest: the key check, the start-up step that seals what a store without a key
//! wrote, and key rotation (see "Secrets at rest" in the crate docs).

use caas_core::secrets::{SEALED_PREFIX, SECRET_SETTINGS, Sealer, SecretDoc, SecretKey, wrong_key};
use caas_core::{Error, OrgId, Result};
use serde_json::Value;
use sqlx::SqliteConnection;
use tokio::sync::RwLockReadGuard;
use uuid::Uuid;

use crate::SqliteStore;
use crate::codec::ts;
use crate::error::{SERVICE, db_error};

/// Rows read, resealed and written back at a time.
const PAGE: i64 = 200;

/// A JSON column holding secrets: its table, column, and the JSON path of the array of
/// `{ "value", "secret" }` entries in it.
struct SecretColumn {
    table: &'static str,
    column: &'static str,
    entries: &'static str,
    doc: fn(OrgId) -> SecretDoc<'static>,
}

const COLUMNS: [SecretColumn; 3] = [
    SecretColumn {
        table: "services",
        column: "spec",
        entries: "$.env",
        doc: SecretDoc::ServiceSpec,
    },
    SecretColumn {
        table: "deployments",
        column: "spec",
        entries: "$.env",
        doc: SecretDoc::ServiceSpec,
    },
    SecretColumn {
        table: "template_instances",
        column: "outputs",
        entries: "$",
        doc: SecretDoc::InstanceOutputs,
    },
];

impl SqliteStore {
    /// The sealer of this store, held so no key change happens before the caller's statement
    /// is done. Taken before any connection, so a key change (which holds it, then takes a
    /// connection) never waits for a statement that waits for it.
    pub(crate) async fn sealer(&self) -> RwLockReadGuard<'_, Sealer> {
        self.secrets.read().await
    }

    /// Seals secret values under `key` from now on (this store and its clones). Call after
    /// [`migrate`](Self::migrate). In one write transaction: the first time a key is used,
    /// its key check is stored; later, `key` must open the stored one; then every secret value
    /// still in plaintext (written by a store without a key, or before this version) is sealed
    /// — running it again finds nothing left to do.
    ///
    /// Errors: `InvalidInput` on `secret_key` when `key` is not the key the store's secrets
    /// are sealed under ([`caas_core::secrets::wrong_key`]), or when the schema is not
    /// migrated; `Backend` (a stored secret that does not open); `Unavailable`.
    pub async fn with_secret_key(self, key: SecretKey) -> Result<Self> {
        let mut sealer = self.secrets.write().await;
        let mut tx = self.write().await?;
        match key_check(tx.conn()).await? {
            Some((id, check)) if !key.opens_key_check(&check) => {
                return Err(wrong_key(&id, &key));
            }
            Some(_) => {}
            None => {
                sqlx::query(
                    "INSERT INTO secret_key_check (id, key_id, sealed_check, created_at)
                     VALUES (1, ?, ?, ?)",
                )
                .bind(key.id())
                .bind(key.key_check()?)
                .bind(ts("created_at", chrono::Utc::now())?)
                .execute(tx.conn())
                .await
                .map_err(db_error)?;
            }
        }
        let keyed = Sealer::new(key);
        let sealed =
            reseal_all(tx.conn(), true, |doc, v| keyed.seal_plaintext_json(doc, v)).await?;
        tx.commit().await?;
        if sealed > 0 {
            tracing::info!(
                sealed,
                "sealed the secret values a store without a key had written"
            );
        }
        *sealer = keyed;
        drop(sealer);
        Ok(self)
    }

    /// Re-encrypts every secret value under `new_key` and makes it the store's key (this
    /// store and its clones use it from then on), in one write transaction: a failure or a
    /// crash part-way leaves everything under the old key, a commit everything under the new
    /// one. Returns how many values were sealed again. Other processes using the old key must
    /// be stopped first (the reference server's `rotate-secret-key` runs with the server
    /// stopped): what they write afterwards would not open.
    ///
    /// Errors: `InvalidInput` on `secret_key` when the store has no key (see
    /// [`with_secret_key`](Self::with_secret_key)) or its key no longer opens the stored key
    /// check (another process rotated it), on `new_key` when it is the key in use; `Backend`
    /// (a stored value that does not open: nothing is changed); `Unavailable`.
    pub async fn rotate_secret_key(&self, new_key: SecretKey) -> Result<u64> {
        let mut sealer = self.secrets.write().await;
        let (old_key, rotated) = sealer.rotation_to(new_key.clone())?;
        let mut tx = self.write().await?;
        match key_check(tx.conn()).await? {
            Some((_, check)) if old_key.opens_key_check(&check) => {}
            Some((id, _)) => return Err(wrong_key(&id, &old_key)),
            None => {
                return Err(Error::backend(
                    SERVICE,
                    "the store's key check is gone; open the store with with_secret_key again",
                ));
            }
        }
        let resealed = reseal_all(tx.conn(), false, |doc, v| {
            sealer.reseal_json(&rotated, doc, v)
        })
        .await?;
        sqlx::query(
            "UPDATE secret_key_check SET key_id = ?, sealed_check = ?, rotated_at = ? WHERE id = 1",
        )
        .bind(new_key.id())
        .bind(new_key.key_check()?)
        .bind(ts("rotated_at", chrono::Utc::now())?)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await?;
        tracing::info!(resealed, key = new_key.id(), "rotated the secret key");
        *sealer = rotated;
        Ok(resealed)
    }
}

/// The stored key check (key id, sealed check), if a key was ever used.
async fn key_check(conn: &mut SqliteConnection) -> Result<Option<(String, String)>> {
    sqlx::query_as("SELECT key_id, sealed_check FROM secret_key_check WHERE id = 1")
        .fetch_optional(conn)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.message().contains("no such table") => Error::invalid(
                "secret_key",
                "the schema has no key check table: call migrate() before with_secret_key()",
            ),
            e => db_error(e),
        })
}

/// Applies `f` to every stored document holding secrets — with `plaintext_only`, to those
/// holding a secret still in plaintext — and writes back those it changed. Returns the sum of
/// what `f` returned.
async fn reseal_all(
    conn: &mut SqliteConnection,
    plaintext_only: bool,
    mut f: impl FnMut(SecretDoc<'_>, &mut Value) -> Result<usize>,
) -> Result<u64> {
    let mut total = 0u64;
    for c in &COLUMNS {
        total += reseal_column(conn, c, plaintext_only, &mut f).await?;
    }
    for (prefix, _) in SECRET_SETTINGS {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM settings WHERE substr(key, 1, ?) = ?")
                .bind(i64::try_from(prefix.len()).unwrap_or(i64::MAX))
                .bind(*prefix)
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?;
        for (key, text) in rows {
            let mut value = parse(&text, "settings.value")?;
            let doc = SecretDoc::Setting(&key);
            if plaintext_only && !caas_core::secrets::has_plaintext(doc, &value) {
                continue;
            }
            let n = f(doc, &mut value)?;
            if n > 0 {
                sqlx::query("UPDATE settings SET value = ? WHERE key = ?")
                    .bind(value.to_string())
                    .bind(&key)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                total += n as u64;
            }
        }
    }
    Ok(total)
}

async fn reseal_column(
    conn: &mut SqliteConnection,
    c: &SecretColumn,
    plaintext_only: bool,
    f: &mut impl FnMut(SecretDoc<'_>, &mut Value) -> Result<usize>,
) -> Result<u64> {
    let (table, column, entries) = (c.table, c.column, c.entries);
    // Only rows with a secret entry (still in plaintext, when asked), found in SQL so the
    // start-up step reads nothing when there is nothing to do.
    let plaintext = if plaintext_only {
        "AND substr(json_extract(e.value, '$.value'), 1, ?2) IS NOT ?3"
    } else {
        ""
    };
    let select = format!(
        "SELECT id, org_id, {column} FROM {table}
         WHERE (?1 IS NULL OR id > ?1)
           AND EXISTS (SELECT 1 FROM json_each({table}.{column}, '{entries}') e
                       WHERE json_extract(e.value, '$.secret') = 1 {plaintext})
         ORDER BY id LIMIT {PAGE}"
    );
    let update = format!("UPDATE {table} SET {column} = ? WHERE id = ?");
    let mut after: Option<Uuid> = None;
    let mut total = 0u64;
    loop {
        let mut query = sqlx::query_as::<_, (Uuid, Uuid, String)>(&select).bind(after);
        if plaintext_only {
            query = query
                .bind(i64::try_from(SEALED_PREFIX.len()).unwrap_or(i64::MAX))
                .bind(SEALED_PREFIX);
        }
        let rows = query.fetch_all(&mut *conn).await.map_err(db_error)?;
        let Some(last) = rows.last().map(|r| r.0) else {
            break;
        };
        for (id, org, text) in rows {
            let mut value = parse(&text, &format!("{table}.{column}"))?;
            let n = f((c.doc)(OrgId(org)), &mut value)?;
            if n > 0 {
                sqlx::query(&update)
                    .bind(value.to_string())
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                total += n as u64;
            }
        }
        after = Some(last);
    }
    Ok(total)
}

fn parse(text: &str, column: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| Error::backend_source(SERVICE, format!("{column} holds invalid JSON"), e))
}
