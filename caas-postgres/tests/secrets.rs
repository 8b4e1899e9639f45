//! Secrets at rest on PostgreSQL: `caas-testkit`'s secrets suite on a fresh schema per test,
//! raw rows read with SQL.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use caas_core::Store;
use caas_core::secrets::SecretKey;
use caas_postgres::PgStore;
use caas_testkit::secrets::SecretsHarness;
use common::{FreshDatabase, TEST_ACQUIRE_TIMEOUT, fresh_database};
use sqlx::postgres::PgPoolOptions;

/// One fresh schema; every store the suite opens is a new pool on it.
struct Schema(FreshDatabase);

impl Schema {
    async fn fresh() -> Option<Self> {
        fresh_database().await.map(Self)
    }

    async fn open(&self) -> PgStore {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(TEST_ACQUIRE_TIMEOUT)
            .connect_with(self.0.options.clone())
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.0.name));
        let store = PgStore::from_pool(pool);
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("migrate {}: {e}", self.0.name));
        store
    }

    async fn open_with(&self, key: SecretKey) -> caas_core::Result<PgStore> {
        self.open().await.with_secret_key(key).await
    }
}

#[async_trait]
impl SecretsHarness for Schema {
    async fn open_plain(&self) -> Arc<dyn Store> {
        Arc::new(self.open().await)
    }

    async fn open_keyed(&self, key: SecretKey) -> caas_core::Result<Arc<dyn Store>> {
        Ok(Arc::new(self.open_with(key).await?))
    }

    async fn rotate(&self, old: SecretKey, new: SecretKey) -> caas_core::Result<u64> {
        let store = self.open_with(old).await?;
        let result = store.rotate_secret_key(new).await;
        store.pool().close().await;
        result
    }

    async fn raw_rows(&self) -> Vec<String> {
        let store = self.open().await;
        let mut rows = Vec::new();
        for sql in [
            "SELECT spec::text FROM services ORDER BY id",
            "SELECT spec::text FROM deployments ORDER BY id",
            "SELECT outputs::text FROM template_instances ORDER BY id",
            "SELECT key || '=' || value::text FROM settings ORDER BY key",
            "SELECT action || ' ' || coalesce(before::text, '') || ' ' || coalesce(after::text, '') \
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

caas_testkit::secrets_suite!(Schema::fresh());

/// A fresh, migrated schema whose store seals secrets.
async fn keyed_store() -> Option<Arc<dyn Store>> {
    let (store, _) = common::fresh_pg_store().await?;
    Some(Arc::new(
        store
            .with_secret_key(SecretKey::generate())
            .await
            .expect("open with a key"),
    ))
}

/// The whole store conformance suite again, on a store with a key: sealing changes no
/// behaviour of the port.
mod conformance_with_a_key {
    use super::*;

    caas_testkit::store_suite!(keyed_store());
}
