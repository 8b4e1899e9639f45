//! Conformance suites every caas-rs backend must pass.
//!
//! One suite per port, one `pub async fn` per behaviour, and a macro per suite that expands
//! into one named `#[tokio::test]` per behaviour, so a backend's test output lists exactly which
//! behaviour broke. The in-memory backends of `caas-core` and every real backend (Docker,
//! PostgreSQL, SQLite, Traefik) run the same suites.
//!
//! ```text
//! caas_testkit::store_suite!(async {
//!     Some(std::sync::Arc::new(caas_core::memory::InMemoryStore::new()) as std::sync::Arc<dyn caas_core::Store>)
//! });
//! ```

pub mod hooked;
pub mod load;
pub mod metrics;
pub mod platform;
pub mod probe;
pub mod proxy;
pub mod quota;
pub mod runtime;
pub mod secrets;
pub mod store;
pub mod tokens;

/// Test-environment helpers shared by integration tests of every crate.
pub mod env;
