//! Secrets at rest: the key check, the start-up step that seals what a store without a key
//! wrote, and key rotation (see "Secrets at rest" in the crate docs).

use caas_core::secrets::{
    SEALED_PREFIX, SECRET_SETTINGS, Sealer, SecretDoc, SecretKey, has_plaintext, wrong_key,
};
use caas_core::{Error, OrgId, Result};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, Transaction};
use tokio::sync::RwLockReadGuard;
use uuid::Uuid;

use crate::PgStore;
use crate::codec::finish;
use crate::error::{SERVICE, db_error};

/// Rows read, resealed and written back at a time (one `UPDATE … FROM UNNEST` each).
const PAGE: i64 = 200;

/// A JSONB column holding secrets: its table, column, and the SQL/JSON path of its
/// `{ "value", "secret" }` entries.
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
        entries: "$.env[*]",
        doc: SecretDoc::ServiceSpec,
    },
    SecretColumn {
        table: "deployments",
        column: "spec",
        entries: "$.env[*]",
        doc: SecretDoc::ServiceSpec,
    },
    SecretColumn {
        table: "template_instances",
        column: "outputs",
        entries: "$[*]",
        doc: SecretDoc::InstanceOutputs,
    },
];

impl PgStore {
    /// The sealer of this store, held so no key change happens before the caller's statement
    /// is done. Taken before any connection, so a key change (which holds it, then takes a
    /// connection) never waits for a statement that waits for it.
    pub(crate) async fn sealer(&self) -> RwLockReadGuard<'_, Sealer> {
        self.secrets.read().await
    }

    /// Seals secret values under `key` from now on (this store and its clones). Call after
    /// [`migrate`](Self::migrate). In one transaction: the first time a key is used, its key
    /// check is stored (of servers starting at once with different keys, the first to commit
    /// wins and the others fail); later, `key` must open the stored one; then every secret
    /// value still in plaintext (written by a store without a key, or before this version) is
    /// sealed — running it again finds nothing left to do.
    ///
    /// Errors: `InvalidInput` on `secret_key` when `key` is not the key the store's secrets
    /// are sealed under ([`caas_core::secrets::wrong_key`]), or when the schema is not
    /// migrated; `Backend` (a stored secret that does not open); `Unavailable`.
    pub async fn with_secret_key(self, key: SecretKey) -> Result<Self> {
        let mut sealer = self.secrets.write().await;
        let keyed = Sealer::new(key);
        let tx = self.pool.begin().await.map_err(db_error)?;
        let (tx, result) = in_tx(tx, async |conn| {
            let Some(key) = keyed.key() else {
                return Ok(0);
            };
            sqlx::query(
                "INSERT INTO secret_key_check (id, key_id, sealed_check) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(key.id())
            .bind(key.key_check()?)
            .execute(&mut *conn)
            .await
            .map_err(missing_table)?;
            let (id, check) = key_check(conn).await?;
            if !key.opens_key_check(&check) {
                return Err(wrong_key(&id, key));
            }
            reseal_all(conn, true, |doc, v| keyed.seal_plaintext_json(doc, v)).await
        })
        .await;
        let sealed = finish(tx, result).await?;
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
    /// store and its clones use it from then on), in one transaction: a failure or a crash
    /// part-way leaves everything under the old key, a commit everything under the new one.
    /// Returns how many values were sealed again. Other processes using the old key must be
    /// stopped first (the reference server's `rotate-secret-key` runs with the servers
    /// stopped): what they write afterwards would not open.
    ///
    /// Errors: `InvalidInput` on `secret_key` when the store has no key (see
    /// [`with_secret_key`](Self::with_secret_key)) or its key no longer opens the stored key
    /// check (another process rotated it), on `new_key` when it is the key in use; `Backend`
    /// (a stored value that does not open: nothing is changed); `Unavailable`.
    pub async fn rotate_secret_key(&self, new_key: SecretKey) -> Result<u64> {
        let mut sealer = self.secrets.write().await;
        let (old_key, rotated) = sealer.rotation_to(new_key.clone())?;
        let tx = self.pool.begin().await.map_err(db_error)?;
        let current: &Sealer = &sealer;
        let (tx, result) = in_tx(tx, async |conn| {
            // The row lock orders rotations (and first starts) of several processes.
            let (id, check) = key_check(conn).await?;
            if !old_key.opens_key_check(&check) {
                return Err(wrong_key(&id, &old_key));
            }
            let resealed =
                reseal_all(conn, false, |doc, v| current.reseal_json(&rotated, doc, v)).await?;
            sqlx::query(
                "UPDATE secret_key_check SET key_id = $1, sealed_check = $2, rotated_at = now() \
                 WHERE id = 1",
            )
            .bind(new_key.id())
            .bind(new_key.key_check()?)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
            Ok(resealed)
        })
        .await;
        let resealed = finish(tx, result).await?;
        tracing::info!(resealed, key = new_key.id(), "rotated the secret key");
        *sealer = rotated;
        Ok(resealed)
    }
}

/// Runs `f` on the transaction's connection, handing the transaction back with the result
/// (for [`finish`]).
async fn in_tx<'c, T>(
    mut tx: Transaction<'c, Postgres>,
    f: impl AsyncFnOnce(&mut PgConnection) -> Result<T>,
) -> (Transaction<'c, Postgres>, Result<T>) {
    let result = f(&mut tx).await;
    (tx, result)
}

fn missing_table(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01") => Error::invalid(
            "secret_key",
            "the schema has no key check table: call migrate() before with_secret_key()",
        ),
        _ => db_error(e),
    }
}

/// The stored key check (key id, sealed check), locked for the transaction.
async fn key_check(conn: &mut PgConnection) -> Result<(String, String)> {
    sqlx::query_as("SELECT key_id, sealed_check FROM secret_key_check WHERE id = 1 FOR UPDATE")
        .fetch_optional(conn)
        .await
        .map_err(missing_table)?
        .ok_or_else(|| {
            Error::backend(
                SERVICE,
                "the store's key check is gone; open the store with with_secret_key again",
            )
        })
}

/// Applies `f` to every stored document holding secrets — with `plaintext_only`, to those
/// holding a secret still in plaintext — and writes back those it changed. Returns the sum of
/// what `f` returned.
async fn reseal_all(
    conn: &mut PgConnection,
    plaintext_only: bool,
    mut f: impl FnMut(SecretDoc<'_>, &mut Value) -> Result<usize>,
) -> Result<u64> {
    let mut total = 0u64;
    for c in &COLUMNS {
        total += reseal_column(conn, c, plaintext_only, &mut f).await?;
    }
    for (prefix, _) in SECRET_SETTINGS {
        let rows: Vec<(String, Json<Value>)> =
            sqlx::query_as("SELECT key, value FROM settings WHERE starts_with(key, $1)")
                .bind(*prefix)
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?;
        for (key, Json(mut value)) in rows {
            let doc = SecretDoc::Setting(&key);
            if plaintext_only && !has_plaintext(doc, &value) {
                continue;
            }
            let n = f(doc, &mut value)?;
            if n > 0 {
                sqlx::query("UPDATE settings SET value = $2 WHERE key = $1")
                    .bind(&key)
                    .bind(Json(&value))
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
    conn: &mut PgConnection,
    c: &SecretColumn,
    plaintext_only: bool,
    f: &mut impl FnMut(SecretDoc<'_>, &mut Value) -> Result<usize>,
) -> Result<u64> {
    let (table, column, entries) = (c.table, c.column, c.entries);
    // Only rows with a secret entry (still in plaintext, when asked), found in SQL so the
    // start-up step reads nothing when there is nothing to do.
    let plaintext = if plaintext_only {
        format!(" && !(@.value starts with \"{SEALED_PREFIX}\")")
    } else {
        String::new()
    };
    let select = format!(
        "SELECT id, org_id, {column} FROM {table} \
         WHERE ($1::uuid IS NULL OR id > $1) \
           AND jsonb_path_exists({column}, '{entries} ? (@.secret == true{plaintext})') \
         ORDER BY id LIMIT {PAGE}"
    );
    let update = format!(
        "UPDATE {table} AS t SET {column} = u.doc \
         FROM UNNEST($1::uuid[], $2::jsonb[]) AS u(id, doc) WHERE t.id = u.id"
    );
    let mut after: Option<Uuid> = None;
    let mut total = 0u64;
    loop {
        let rows: Vec<(Uuid, Uuid, Json<Value>)> = sqlx::query_as(&select)
            .bind(after)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
        let Some(last) = rows.last().map(|r| r.0) else {
            break;
        };
        let (mut ids, mut docs) = (Vec::new(), Vec::new());
        for (id, org, Json(mut value)) in rows {
            let n = f((c.doc)(OrgId(org)), &mut value)?;
            if n > 0 {
                ids.push(id);
                docs.push(Json(value));
                total += n as u64;
            }
        }
        if !ids.is_empty() {
            sqlx::query(&update)
                .bind(&ids)
                .bind(&docs)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
        }
        after = Some(last);
    }
    Ok(total)
}
