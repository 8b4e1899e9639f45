//! Secrets at rest on SQLite: `caas-testkit`'s secrets suite on a database file (raw rows read
//! with SQL), and the file itself: a store with a key never writes a secret to disk.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use caas_core::Store;
use caas_core::secrets::SecretKey;
use caas_sqlite::SqliteStore;
use caas_testkit::secrets::SecretsHarness;
use tempfile::TempDir;

/// One database file in its own temporary directory.
struct FileDb {
    path: PathBuf,
    _dir: TempDir,
}

impl FileDb {
    async fn fresh() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        Some(Self {
            path: dir.path().join("caas.db"),
            _dir: dir,
        })
    }

    async fn open(&self) -> SqliteStore {
        let store = SqliteStore::open(self.path.to_str().unwrap())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    async fn open_with(&self, key: SecretKey) -> caas_core::Result<SqliteStore> {
        self.open().await.with_secret_key(key).await
    }
}

#[async_trait]
impl SecretsHarness for FileDb {
    async fn open_plain(&self) -> Arc<dyn Store> {
        Arc::new(self.open().await)
    }

    async fn open_keyed(&self, key: SecretKey) -> caas_core::Result<Arc<dyn Store>> {
        Ok(Arc::new(self.open_with(key).await?))
    }

    async fn rotate(&self, old: SecretKey, new: SecretKey) -> caas_core::Result<u64> {
        self.open_with(old).await?.rotate_secret_key(new).await
    }

    async fn raw_rows(&self) -> Vec<String> {
        let store = self.open().await;
        let mut rows = Vec::new();
        for sql in [
            "SELECT spec FROM services ORDER BY id",
            "SELECT spec FROM deployments ORDER BY id",
            "SELECT outputs FROM template_instances ORDER BY id",
            "SELECT key || '=' || value FROM settings ORDER BY key",
            "SELECT action || ' ' || coalesce(before, '') || ' ' || coalesce(after, '') \
             FROM audit_log ORDER BY id",
            "SELECT key_id || ' ' || sealed_check FROM secret_key_check",
        ] {
            let texts: Vec<String> = sqlx::query_scalar(sql)
                .fetch_all(store.pool())
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            rows.extend(texts);
        }
        store.pool().close().await;
        rows
    }
}

mod suite {
    use super::*;

    caas_testkit::secrets_suite!(FileDb::fresh());
}

/// Beyond the rows: the database file and its write-ahead log never held a secret, since a
/// store with a key seals before it writes.
#[tokio::test]
async fn the_database_file_never_holds_a_secret() {
    let db = FileDb::fresh().await.unwrap();
    let store = db.open_with(SecretKey::generate()).await.unwrap();
    let planted = caas_testkit::secrets::plant_secrets(Arc::new(store.clone())).await;
    let mut bytes = std::fs::read(&db.path).unwrap();
    if let Ok(wal) = std::fs::read(db.path.with_extension("db-wal")) {
        bytes.extend(wal);
    }
    assert!(bytes.len() > 4096, "the file was read");
    for secret in &planted.secrets {
        let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "a secret is in the database file");
    }
    let sealed = caas_core::secrets::SEALED_PREFIX.as_bytes();
    assert!(bytes.windows(sealed.len()).any(|w| w == sealed));
}

/// A `:memory:` store seals too (one connection: the start-up step and the reads never need
/// two at once).
#[tokio::test]
async fn a_memory_store_with_a_key_seals_and_reads_back() {
    let store = SqliteStore::open(":memory:").await.unwrap();
    store.migrate().await.unwrap();
    let store = store.with_secret_key(SecretKey::generate()).await.unwrap();
    let planted = caas_testkit::secrets::plant_secrets(Arc::new(store.clone())).await;
    caas_testkit::secrets::assert_secrets_read_back(&store, &planted).await;
    let specs: Vec<String> = sqlx::query_scalar("SELECT spec FROM services")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let specs = specs.join("\n");
    // The app's variable and the database password live in services' specs.
    for secret in &planted.secrets[..2] {
        assert!(!specs.contains(secret.as_str()), "{specs}");
    }
    assert!(specs.contains(caas_core::secrets::SEALED_PREFIX), "{specs}");
}

/// A fresh, migrated `:memory:` database whose store seals secrets (nothing left on disk).
async fn keyed_store() -> Option<Arc<dyn Store>> {
    let store = SqliteStore::open(":memory:").await.unwrap();
    store.migrate().await.unwrap();
    Some(Arc::new(
        store.with_secret_key(SecretKey::generate()).await.unwrap(),
    ))
}

/// The whole store conformance suite again, on a store with a key: sealing changes no
/// behaviour of the port.
mod conformance_with_a_key {
    use super::*;

    caas_testkit::store_suite!(keyed_store());
}
