//! Smoke test: a real SQLite file opens in WAL mode with foreign keys on, and migrates twice.

#![allow(clippy::unwrap_used)]

use caas_sqlite::SqliteStore;

#[tokio::test]
async fn opens_a_file_in_wal_mode_and_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("caas.db");
    let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('organizations', 'services', 'reservations', 'audit_log')",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(n, 4);
    // Foreign keys are enforced: a member of a missing organization is refused.
    let orphan = sqlx::query(
        "INSERT INTO members (org_id, user_id, role, created_at) VALUES (x'00', x'01', 'owner', '2026-01-01T00:00:00Z')",
    )
    .execute(store.pool())
    .await;
    assert!(orphan.is_err());
    assert!(path.exists());
}

#[tokio::test]
async fn opens_in_memory() {
    let store = SqliteStore::open(":memory:").await.unwrap();
    store.migrate().await.unwrap();
}
