//! The mockall mocks behind feature `mock` plug into `Platform` like any backend.

#![allow(clippy::unwrap_used)]
#![cfg(feature = "mock")]

use std::sync::Arc;

use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::ports::store::{MockSettingStore, StoreParts};
use caas_core::{Error, Platform};

#[tokio::test]
async fn a_mocked_store_outage_shows_in_health() {
    let mut settings = MockSettingStore::new();
    settings
        .expect_ping()
        .times(1)
        .returning(|| Err(Error::unavailable("mock-store", "connection refused")));
    // Only the settings area (which answers the health check) is mocked.
    let mut parts = StoreParts::from_store(Arc::new(InMemoryStore::new()));
    parts.settings = Arc::new(settings);
    let platform = Platform::builder()
        .store_parts(parts)
        .runtime(Arc::new(InMemoryRuntime::new()))
        .build()
        .expect("platform");
    let health = platform.health().await;
    assert_eq!(health.status, "degraded");
    assert!(!health.store.available);
    assert!(
        health
            .store
            .error
            .as_deref()
            .unwrap_or("")
            .contains("connection refused")
    );
    assert!(health.runtime.available);
}
