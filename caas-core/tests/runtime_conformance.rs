//! The runtime and proxy conformance suites against the in-memory backends.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use caas_core::memory::{InMemoryProxy, InMemoryRuntime};
use caas_core::ports::runtime::LogStream;
use caas_testkit::proxy::SharedProxy;
use caas_testkit::runtime::RuntimeFixture;

/// The image the suite uses; any name works for the simulated engine.
const IMAGE: &str = "caas-test/busybox:latest";

async fn memory_runtime() -> Option<RuntimeFixture> {
    let rt = InMemoryRuntime::new();
    rt.add_image(IMAGE);
    // Like the test machines, no registry is reachable: only the local image "exists".
    rt.restrict_registry(&[IMAGE]);
    // The simulated containers run no programs: answer the two commands the exec behaviour
    // runs like a shell would.
    rt.on_exec(|call| match call.command.get(2).map(String::as_str) {
        Some("cat") => Ok(call.stdin),
        Some(script) if script.ends_with("exit 3") => Err(caas_core::Error::backend(
            "memory-runtime",
            "`sh` exited with status 3: no such table",
        )),
        _ => Ok(bytes::Bytes::new()),
    });
    let emitter = rt.clone();
    Some(
        RuntimeFixture::new(Arc::new(rt), IMAGE).with_log_emitter(move |id, lines| {
            for line in lines {
                emitter
                    .push_log(id, LogStream::Stdout, line)
                    .expect("push_log to a running container");
            }
        }),
    )
}

async fn memory_proxy() -> Option<SharedProxy> {
    Some(Arc::new(InMemoryProxy::new()))
}

mod runtime {
    use super::*;

    caas_testkit::runtime_suite!(memory_runtime());
}

mod proxy {
    use super::*;

    caas_testkit::proxy_suite!(memory_proxy());
}

/// The testkit's own guarantee: a behaviour that panics still removes what its run created,
/// and only that.
#[tokio::test]
async fn a_failing_behaviour_still_cleans_up_its_run() {
    use caas_core::ports::runtime::{LabelSelector, NetworkSpec, VolumeSpec};
    use futures::FutureExt;

    let fx = memory_runtime().await.expect("in-memory fixture");
    let rt = fx.runtime.clone();
    let mut other = fx.container_spec("other-run");
    other
        .labels
        .insert(caas_core::labels::TEST_RUN.into(), "another-run".into());
    rt.create_container(&other)
        .await
        .expect("other run's container");

    let failed = std::panic::AssertUnwindSafe(fx.scoped(async {
        rt.create_container(&fx.container_spec("doomed"))
            .await
            .expect("container");
        rt.create_network(&NetworkSpec::new(fx.name("net"), fx.labels()))
            .await
            .expect("network");
        rt.create_volume(&VolumeSpec::new(fx.name("vol"), fx.labels()))
            .await
            .expect("volume");
        panic!("the behaviour fails");
    }))
    .catch_unwind()
    .await;
    assert!(failed.is_err(), "the panic must propagate");

    let sel = fx.selector();
    assert!(rt.list_containers(&sel).await.unwrap().is_empty());
    assert!(rt.list_networks(&sel).await.unwrap().is_empty());
    assert!(rt.list_volumes(&sel).await.unwrap().is_empty());
    let survivors = rt
        .list_containers(&LabelSelector::default().with(caas_core::labels::TEST_RUN, "another-run"))
        .await
        .unwrap();
    assert_eq!(survivors.len(), 1, "another run's objects are left alone");
}
