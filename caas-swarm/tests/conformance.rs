//! The runtime conformance suite against SwarmRuntime on the single-node swarm of
//! `scripts/swarm-env.sh`. Every object a behaviour creates carries its run's
//! `caas.test-run` label and is removed at the end, pass or fail.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use caas_testkit::runtime::RuntimeFixture;

async fn swarm_fixture() -> Option<RuntimeFixture> {
    let (rt, image) = common::solo().await?;
    Some(RuntimeFixture::new(Arc::new(rt), image))
}

caas_testkit::runtime_suite!(swarm_fixture());
