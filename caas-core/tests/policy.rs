//! Input policy without the HTTP facade: an embedder calling the handles gets the bounds the
//! facade's clients get (`caas_core::platform::policy`), refused before authorization with
//! the parameter named, and the bounds themselves accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::model::ServiceSpec;
use caas_core::platform::{DeployApp, policy};
use caas_core::ports::store::AuditFilter;
use caas_core::validate::ImageRef;
use caas_core::{Error, Platform, ProjectRef};
use caas_testkit::platform::{seed_tenant, test_limits};

const IMAGE: &str = "caas/busybox:latest";

fn field<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[tokio::test]
async fn out_of_bounds_inputs_are_refused_naming_the_parameter_and_the_bounds_pass() {
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(Arc::new(runtime))
        .build()
        .unwrap();
    let tenant = seed_tenant(&platform, test_limits(), "web").await;
    let project = ProjectRef::new(&tenant.org, &tenant.project);
    let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
    spec.command = Some(vec!["sleep".into(), "3600".into()]);
    platform
        .services()
        .deploy_app(&tenant.admin, &project, DeployApp::new("api", spec))
        .await
        .unwrap();
    let svc = project.service("api");
    let who = &tenant.admin;
    let monitoring = platform.monitoring();

    for limit in [0, policy::MAX_EVENTS + 1] {
        assert_eq!(field(monitoring.events(who, &svc, limit).await), "limit");
    }
    monitoring
        .events(who, &svc, policy::MAX_EVENTS)
        .await
        .unwrap();

    for window in [
        Duration::ZERO,
        policy::MAX_HEALTH_WINDOW + Duration::from_secs(1),
    ] {
        assert_eq!(
            field(monitoring.health(who, &svc, window).await),
            "window_secs"
        );
    }
    monitoring
        .health(who, &svc, policy::MAX_HEALTH_WINDOW)
        .await
        .unwrap();

    for interval in [
        policy::MIN_STREAM_INTERVAL - Duration::from_millis(1),
        policy::MAX_STREAM_INTERVAL + Duration::from_millis(1),
    ] {
        assert_eq!(
            field(
                monitoring
                    .stats_stream(who, &svc, interval)
                    .await
                    .map(|_| ())
            ),
            "interval_ms"
        );
    }

    let mut filter = AuditFilter::default();
    filter.limit = policy::MAX_AUDIT_ENTRIES + 1;
    assert_eq!(
        field(platform.admin().audit_log(who, &filter).await),
        "limit"
    );
    filter.limit = policy::MAX_AUDIT_ENTRIES;
    filter.action_prefix = Some("service.'; DROP TABLE audit_log; --".into());
    assert_eq!(
        field(platform.admin().audit_log(who, &filter).await),
        "action"
    );
    filter.action_prefix = Some("service.".into());
    assert!(
        !platform
            .admin()
            .audit_log(who, &filter)
            .await
            .unwrap()
            .is_empty()
    );
}
