//! The mockall mocks behind feature `mock` plug into `Platform` like any backend.

#![allow(clippy::unwrap_used)]
#![cfg(feature = "mock")]

use std::sync::Arc;

use caas_core::memory::InMemoryRuntime;
use caas_core::ports::store::MockStore;
use caas_core::{Error, Platform};

#[tokio::test]
async fn a_mocked_store_outage_shows_in_health() {
    let mut store = MockStore::new();
    store
        .expect_ping()
        .times(1)
        .returning(|| Err(Error::unavailable("mock-store", "connection refused")));
    let platform = Platform::builder()
        .store(Arc::new(store))
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
