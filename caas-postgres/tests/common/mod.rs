//! Fresh schemas for the integration tests: one `CREATE SCHEMA caas_t_<secs>_<id>` per test
//! in the database named by `CAAS_TEST_DATABASE_URL`, and connections whose `search_path` is
//! that schema alone, so the store's unqualified tables (and its metric partitions) land there
//! and nothing else is visible. An empty migrated schema costs well under a megabyte of
//! catalog rows and empty relations, where a database cost ~7.5 MB and a checkpoint. (The
//! migrator's advisory lock is per database, so concurrent tests now migrate one after the
//! other; that takes milliseconds each.)
//!
//! Connections also carry the schema's name as `application_name`, which tells whether a test
//! still uses a schema. Schemas are not dropped when a test ends (the store is handed to the
//! suites as an `Arc<dyn Store>`, with no hook at the end); instead, the first test of every
//! process drops the `caas_t_*` schemas created more than [`STALE_AFTER`] ago that no
//! connection uses, so each run cleans up after the previous ones without touching a
//! concurrent run's. Stale `caas_t_*` databases of the earlier database-per-test fixture go
//! the same way.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use caas_core::Store;
use caas_postgres::PgStore;
use caas_testkit::env;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use tokio::sync::OnceCell;

/// Prefix of every schema (formerly database) these tests create.
const PREFIX: &str = "caas_t_";

/// Test schemas older than this are dropped at the start of the next test process, unless a
/// connection still uses them. Long enough that a concurrent run's schema is connected to by
/// then.
const STALE_AFTER: Duration = Duration::from_secs(300);

/// Connections per test store. Tests run in parallel against one server (100 connections by
/// default), and the concurrency behaviour needs several to be meaningful.
pub(crate) const TEST_POOL_CONNECTIONS: u32 = 6;

/// Acquire timeout of test stores: generous, because the machine may be busy building; the
/// production 5 s bound is exercised by the outage test instead.
pub(crate) const TEST_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

static SWEPT: OnceCell<()> = OnceCell::const_new();

/// A schema created for one test.
pub(crate) struct FreshDatabase {
    /// Options for the test database as given in the URL (default `search_path`).
    pub(crate) admin: PgConnectOptions,
    /// Options for the fresh schema: `search_path` set to it alone, `application_name` its
    /// name.
    pub(crate) options: PgConnectOptions,
    /// Its name (also the connections' `application_name`).
    pub(crate) name: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Creates an empty schema, or returns `None` when PostgreSQL is not configured outside CI
/// (in CI a missing or unreachable server panics).
pub(crate) async fn fresh_database() -> Option<FreshDatabase> {
    let url = env::require("CAAS_TEST_DATABASE_URL", "PostgreSQL")?;
    let admin = PgConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("CAAS_TEST_DATABASE_URL is not a PostgreSQL URL: {e}"));
    let mut conn = match PgConnection::connect_with(&admin).await {
        Ok(conn) => conn,
        Err(e) => return env::unavailable("PostgreSQL", e),
    };
    SWEPT.get_or_init(|| sweep(&mut conn)).await;
    let name = format!("{PREFIX}{}_{}", unix_now(), env::run_id());
    sqlx::query(&format!("CREATE SCHEMA {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("CREATE SCHEMA {name}: {e}"));
    let _ = conn.close().await;
    Some(FreshDatabase {
        options: admin
            .clone()
            .options([("search_path", name.as_str())])
            .application_name(&name),
        admin,
        name,
    })
}

/// Whether `name` (`caas_t_<secs>_<id>`) was created before `cutoff`.
fn created_before(name: &str, cutoff: u64) -> bool {
    name.strip_prefix(PREFIX)
        .and_then(|rest| rest.split('_').next())
        .and_then(|secs| secs.parse::<u64>().ok())
        .is_some_and(|secs| secs < cutoff)
}

/// Drops stale test schemas nobody uses, and stale test databases; failures (a concurrent
/// sweep got there first, someone is connected) are ignored.
async fn sweep(conn: &mut PgConnection) {
    let cutoff = unix_now().saturating_sub(STALE_AFTER.as_secs());
    let schemas: Vec<String> = sqlx::query_scalar(
        r"SELECT n.nspname::text FROM pg_namespace n WHERE n.nspname LIKE 'caas\_t\_%'
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.application_name = n.nspname)",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for name in schemas.iter().filter(|n| created_before(n, cutoff)) {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
            .execute(&mut *conn)
            .await;
    }
    let databases: Vec<String> = sqlx::query_scalar(
        r"SELECT datname::text FROM pg_database WHERE datname LIKE 'caas\_t\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for name in databases.iter().filter(|n| created_before(n, cutoff)) {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut *conn)
            .await;
    }
}

/// A migrated [`PgStore`] in a fresh schema, with a small pool.
pub(crate) async fn fresh_pg_store() -> Option<(PgStore, FreshDatabase)> {
    let db = fresh_database().await?;
    let pool = PgPoolOptions::new()
        .max_connections(TEST_POOL_CONNECTIONS)
        .acquire_timeout(TEST_ACQUIRE_TIMEOUT)
        .connect_with(db.options.clone())
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", db.name));
    let store = PgStore::from_pool(pool);
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate {}: {e}", db.name));
    Some((store, db))
}

/// What the conformance suites need: a fresh store as `Arc<dyn Store>`.
pub(crate) async fn fresh_store() -> Option<Arc<dyn Store>> {
    let (store, _) = fresh_pg_store().await?;
    Some(Arc::new(store))
}
