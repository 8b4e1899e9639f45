//! The store, quota and metrics conformance suites of `caas-testkit`, run against the real
//! PostgreSQL with one fresh, migrated schema per test.

mod common;

use common::fresh_store;

mod store {
    use super::*;

    caas_testkit::store_suite!(fresh_store());
}

mod quota {
    use super::*;

    caas_testkit::quota_suite!(fresh_store());
}

mod metrics {
    use super::*;

    caas_testkit::metrics_suite!(fresh_store());
}

mod platform_quota {
    use super::*;

    caas_testkit::platform_quota_suite!(fresh_store());
}

mod tokens {
    use super::*;

    caas_testkit::token_suite!(fresh_store());
}
