//! The runtime conformance suite against the real Docker engine. Every object a behaviour
//! creates carries its run's `caas.test-run` label and is removed at the end, pass or fail.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use caas_testkit::runtime::RuntimeFixture;

async fn docker_fixture() -> Option<RuntimeFixture> {
    let (rt, image) = common::docker().await?;
    Some(RuntimeFixture::new(Arc::new(rt), image))
}

caas_testkit::runtime_suite!(docker_fixture());
