//! Smoke test: the real PostgreSQL answers and the migrations apply (twice, idempotently) in
//! a fresh database.

#![allow(clippy::unwrap_used)]

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
    sqlx::query(&format!("DROP DATABASE {db}"))
        .execute(admin.pool())
        .await
        .unwrap();
}
