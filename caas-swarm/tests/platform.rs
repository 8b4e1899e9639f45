//! `Platform` on the single-node swarm: what an embedder gets by swapping the runtime. A
//! replicated app and a stateful service deploy, reconcile clean, start, stop, restart, log
//! and delete, and nothing is left behind.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::{PlanLimits, ResourceLimits, ServiceSpec, ServiceStatus, VolumeMount};
use caas_core::platform::{DeleteOptions, DeployApp};
use caas_core::ports::runtime::{ContainerStatus, LabelSelector, LogOptions};
use caas_core::units::{GIB, MIB};
use caas_core::validate::{ImageRef, Name};
use caas_core::{ContainerRuntime, Platform};
use caas_core::{ProjectRef, ServiceRef};
use caas_testkit::env;
use futures::TryStreamExt;

fn small(image: &str, command: &str) -> ServiceSpec {
    let mut spec = ServiceSpec::new(ImageRef::parse(image).unwrap());
    spec.command = Some(vec!["sh".into(), "-c".into(), command.into()]);
    spec.resources = ResourceLimits {
        cpu_millis: 100,
        memory_bytes: 32 * MIB,
        pids: 32,
    };
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_operations_run_replicated_services_on_swarm_and_leave_nothing() {
    let Some((rt, image)) = common::solo().await else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt);
    let instance = format!("swp{}", env::run_id());
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(runtime.clone())
        .instance(instance.clone())
        .stop_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let tenant = caas_testkit::platform::seed_tenant(
        &platform,
        PlanLimits {
            cpu_millis: 2000,
            memory_bytes: 2 * GIB,
            storage_bytes: GIB,
            max_containers: 4,
            max_projects: 1,
            max_domains: 20,
            max_pids: 1024,
            backup_storage_bytes: 10 * 1024 * 1024 * 1024,
        },
        "p",
    )
    .await;
    let (admin, org) = (&tenant.admin, tenant.org.as_str());

    let mut web = small(&image, "echo hello from $(hostname); exec sleep 3600");
    web.replicas = 2;
    let svc = platform
        .services()
        .deploy_app(
            admin,
            &ProjectRef::new(org, "p"),
            DeployApp::new("web", web),
        )
        .await
        .unwrap();
    assert_eq!(svc.status, ServiceStatus::Running);
    let usage = platform.orgs().usage(admin, org).await.unwrap();
    assert_eq!(
        usage.committed.containers, 2,
        "each replica holds its quota"
    );

    // Quota counts replicas: two more do not fit in a plan of four containers.
    let mut more = small(&image, "exec sleep 3600");
    more.replicas = 3;
    let e = platform
        .services()
        .deploy_app(
            admin,
            &ProjectRef::new(org, "p"),
            DeployApp::new("more", more),
        )
        .await
        .unwrap_err();
    assert!(e.is_quota_exceeded(), "{e}");

    let mut notes = small(&image, "echo boot >> /data/boots; exec sleep 3600");
    notes.volumes.push(VolumeMount {
        volume: Name::parse("data").unwrap(),
        target: "/data".into(),
        read_only: false,
        size_bytes: 16 * MIB,
    });
    platform
        .services()
        .deploy_app(
            admin,
            &ProjectRef::new(org, "p"),
            DeployApp::new("notes", notes),
        )
        .await
        .unwrap();

    let report = platform.reconcile().await.unwrap();
    assert!(
        report.adopted.is_empty() && report.lost.is_empty(),
        "{report:?}"
    );
    assert!(report.removed_containers.is_empty(), "{report:?}");

    let logs: Vec<_> = platform
        .services()
        .logs(
            admin,
            &ServiceRef::new(org, "p", "web"),
            &LogOptions::default(),
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let hellos = logs
        .iter()
        .filter(|l| l.text.starts_with("hello from "))
        .count();
    assert_eq!(hellos, 2, "one line per replica: {logs:?}");

    let stopped = platform
        .services()
        .stop(admin, &ServiceRef::new(org, "p", "web"))
        .await
        .unwrap();
    assert!(stopped.changed);
    let sel = LabelSelector::managed().with(labels::SERVICE, svc.id);
    let c = &runtime.list_containers(&sel).await.unwrap()[0];
    assert_eq!(c.status, ContainerStatus::Exited);
    let started = platform
        .services()
        .start(admin, &ServiceRef::new(org, "p", "web"))
        .await
        .unwrap();
    assert!(started.changed);
    let before = runtime.inspect_container_opt(&c.id).await.unwrap().unwrap();
    assert_eq!(before.status, ContainerStatus::Running);
    platform
        .services()
        .restart(admin, &ServiceRef::new(org, "p", "web"))
        .await
        .unwrap();
    let after = runtime.inspect_container_opt(&c.id).await.unwrap().unwrap();
    assert_eq!(after.status, ContainerStatus::Running);
    assert!(after.started_at > before.started_at, "restarted: {after:?}");
    assert_eq!(after.id, before.id, "the same container after a restart");

    let report = platform.reconcile().await.unwrap();
    assert!(report.is_clean(), "{report:?}");

    for name in ["web", "notes"] {
        platform
            .services()
            .delete(
                admin,
                &ServiceRef::new(org, "p", name),
                DeleteOptions::with_volumes(),
            )
            .await
            .unwrap();
    }
    platform
        .projects()
        .delete(
            admin,
            &ProjectRef::new(org, "p"),
            DeleteOptions::with_volumes(),
        )
        .await
        .unwrap();
    let all = LabelSelector::managed().with(labels::INSTANCE, &instance);
    assert!(runtime.list_containers(&all).await.unwrap().is_empty());
    assert!(runtime.list_networks(&all).await.unwrap().is_empty());
    assert!(runtime.list_volumes(&all).await.unwrap().is_empty());
}
