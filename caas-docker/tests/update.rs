//! Live limit changes on the real engine: the container is not restarted.

#![allow(clippy::unwrap_used)]

mod common;

use caas_core::labels;
use caas_core::model::{ResourceLimits, ServiceSpec};
use caas_core::platform::{ApplyMode, DeleteOptions, DeployApp, ServiceUpdate};
use caas_core::ports::runtime::LabelSelector;
use caas_core::units::MIB;
use caas_core::validate::ImageRef;
use caas_core::{ProjectRef, ServiceRef};

#[tokio::test]
async fn a_live_memory_change_keeps_the_container_and_its_start_time() {
    let Some((platform, runtime, tenant, image)) = common::platform_on_docker("u").await else {
        return;
    };
    let (admin, slug) = (tenant.admin.clone(), tenant.org.clone());
    let mut spec = ServiceSpec::new(ImageRef::parse(image).unwrap());
    spec.command = Some(vec!["sleep".into(), "3600".into()]);
    let svc = platform
        .services()
        .deploy_app(
            &admin,
            &ProjectRef::new(&slug, "p"),
            DeployApp::new("app", spec),
        )
        .await
        .unwrap();
    let sel = LabelSelector::managed().with(labels::SERVICE, svc.id);
    let id = runtime.list_containers(&sel).await.unwrap()[0].id.clone();
    let before = runtime.inspect_container_opt(&id).await.unwrap().unwrap();

    let mut u = ServiceUpdate::default();
    u.resources = Some(ResourceLimits {
        cpu_millis: 750,
        memory_bytes: 384 * MIB,
        pids: 200,
    });
    let r = platform
        .services()
        .update(&admin, &ServiceRef::new(&slug, "p", "app"), u, false)
        .await
        .unwrap();
    assert_eq!(r.mode, ApplyMode::Live);
    let after = runtime.inspect_container_opt(&id).await.unwrap().unwrap();
    assert_eq!(after.id, before.id);
    assert_eq!(after.started_at, before.started_at, "not restarted");
    assert_eq!(after.restart_count, before.restart_count);
    assert_eq!(after.limits.memory_bytes, 384 * MIB);
    assert_eq!(after.limits.cpu_millis, 750);
    assert_eq!(after.limits.pids, 200);

    platform
        .projects()
        .delete(
            &admin,
            &ProjectRef::new(&slug, "p"),
            DeleteOptions::default(),
        )
        .await
        .unwrap();
}
