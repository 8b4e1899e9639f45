//! The store and quota conformance suites of `caas-testkit`, run against [`InMemoryStore`].

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use caas_core::Store;
use caas_core::memory::InMemoryStore;

async fn memory_store() -> Option<Arc<dyn Store>> {
    Some(Arc::new(InMemoryStore::new()))
}

mod store {
    use super::*;

    caas_testkit::store_suite!(memory_store());
}

mod quota {
    use super::*;

    caas_testkit::quota_suite!(memory_store());
}

mod metrics {
    use super::*;

    caas_testkit::metrics_suite!(memory_store());
}

mod platform_quota {
    use super::*;

    caas_testkit::platform_quota_suite!(memory_store());
}

mod tokens {
    use super::*;

    caas_testkit::token_suite!(memory_store());
}
