//! Smoke tests: the real PostgreSQL answers and the migrations apply (twice, idempotently) in
//! a fresh database; in a database whose default collation is not bytewise, audit action
//! prefixes still match exactly what `str::starts_with` matches.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use caas_postgres::PgStore;
use caas_testkit::env;

#[tokio::test]
async fn connects_and_migrates_a_fresh_database() {
    let Some(url) = env::require("CAAS_TEST_DATABASE_URL", "PostgreSQL") else {
        return;
    };
    let admin = match PgStore::connect(&url).await {
        Ok(s) => s,
        Err(e) => return env::unavailable("PostgreSQL", e).unwrap_or(()),
    };
    let db = format!("caas_smoke_{}", env::run_id());
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(admin.pool())
        .await
        .unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    let store = PgStore::connect(&format!("{base}/{db}")).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.0.as_str()).collect();
    for t in [
        "organizations",
        "plans",
        "subscriptions",
        "services",
        "reservations",
        "audit_log",
    ] {
        assert!(names.contains(&t), "{t} missing from {names:?}");
    }
    // Constraints are real: a bad slug is refused by the database itself.
    let bad = sqlx::query(
        "INSERT INTO organizations (id, slug, display_name, status, created_at) VALUES (gen_random_uuid(), 'Bad Slug', 'x', 'active', now())",
    )
    .execute(store.pool())
    .await;
    assert!(bad.is_err());
    store.pool().close().await;
    // The server may still be ending the sessions the pool just closed.
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(admin.pool())
        .await
        .unwrap();
}

/// The conformance behaviours of action prefixes in a database whose default collation is
/// ICU English (where `Up` sorts next to `up` and punctuation does not sort by code point): the
/// schema gives `audit_log.action` the "C" collation, so the prefix range stays bytewise.
#[tokio::test]
async fn audit_action_prefixes_are_bytewise_under_a_linguistic_default_collation() {
    let Some(url) = env::require("CAAS_TEST_DATABASE_URL", "PostgreSQL") else {
        return;
    };
    let admin = match PgStore::connect(&url).await {
        Ok(s) => s,
        Err(e) => return env::unavailable("PostgreSQL", e).unwrap_or(()),
    };
    // Named like the conformance fixture's schemas (`caas_t_<secs>_<id>`), so a run that dies
    // here leaves a database the next run's sweep drops.
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let db = format!("caas_t_{secs}_{}_icu", env::run_id());
    sqlx::query(&format!(
        "CREATE DATABASE {db} TEMPLATE template0 LOCALE 'C.UTF-8' LOCALE_PROVIDER icu \
         ICU_LOCALE 'en'"
    ))
    .execute(admin.pool())
    .await
    .unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    let store = PgStore::connect(&format!("{base}/{db}")).await.unwrap();
    store.migrate().await.unwrap();
    // The premise: this database's default order is not bytewise.
    let (linguistic,): (bool,) = sqlx::query_as("SELECT 'up' < 'Uq'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(
        linguistic,
        "the database's default collation should be ICU English"
    );

    let shared: Arc<dyn caas_core::Store> = Arc::new(store.clone());
    caas_testkit::store::list_audit_action_prefix_matches_wildcards_literally(shared.clone()).await;
    caas_testkit::store::list_audit_filters_by_action_prefix(shared).await;

    store.pool().close().await;
    // The server may still be ending the sessions the pool just closed.
    sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(admin.pool())
        .await
        .unwrap();
}
