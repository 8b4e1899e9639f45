//! Crash safety: a deploy interrupted at every step, then a reconcile pass; afterwards the
//! deploy either completed or was rolled back, nothing is orphaned, and no deployment ever has
//! two containers.

#![allow(clippy::unwrap_used)]

use caas_core::ProjectRef;
use caas_core::ports::store::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caas_core::labels;
use caas_core::memory::{InMemoryRuntime, InMemoryStore, RuntimeOp};
use caas_core::model::{
    NewOrganization, NewPlan, PlanLimits, Reservation, ServiceSpec, ServiceStatus,
    SubscriptionStatus, Usage, VolumeMount,
};
use caas_core::platform::{DeployApp, NewProject};
use caas_core::ports::runtime::{ContainerSpec, LabelSelector};
use caas_core::units::{GIB, ResourceAmounts};
use caas_core::validate::{ImageRef, Name};
use caas_core::{
    ContainerRuntime, ManualClock, OrgId, Platform, Principal, QuotaEngine, ReservationId,
    StoreQuotaEngine,
};

const IMAGE: &str = "caas/busybox:latest";

/// A quota engine whose `commit` can be made slow, to interrupt a deploy right before it.
#[derive(Debug)]
struct SlowCommit {
    inner: StoreQuotaEngine,
    delay: std::sync::Mutex<Option<Duration>>,
}

#[async_trait]
impl QuotaEngine for SlowCommit {
    async fn reserve(
        &self,
        org: OrgId,
        amounts: ResourceAmounts,
    ) -> caas_core::Result<Reservation> {
        self.inner.reserve(org, amounts).await
    }
    async fn commit(&self, r: ReservationId, owner: &str) -> caas_core::Result<()> {
        let d = *self.delay.lock().unwrap();
        if let Some(d) = d {
            tokio::time::sleep(d).await;
        }
        self.inner.commit(r, owner).await
    }
    async fn resize(
        &self,
        r: ReservationId,
        amounts: ResourceAmounts,
    ) -> caas_core::Result<Reservation> {
        self.inner.resize(r, amounts).await
    }
    async fn release(&self, r: ReservationId) -> caas_core::Result<()> {
        self.inner.release(r).await
    }
    async fn usage(&self, org: OrgId) -> caas_core::Result<Usage> {
        self.inner.usage(org).await
    }
}

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    runtime: InMemoryRuntime,
    clock: Arc<ManualClock>,
    quota: Arc<SlowCommit>,
    admin: Principal,
}

async fn world() -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let quota = Arc::new(SlowCommit {
        inner: StoreQuotaEngine::over(store.clone(), clock.clone()),
        delay: std::sync::Mutex::new(None),
    });
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime.clone()))
        .clock(clock.clone())
        .quota(quota.clone())
        .pending_grace(Duration::from_secs(300))
        .build()
        .unwrap();
    let admin = platform
        .users()
        .ensure_platform_admin("root@example.com")
        .await
        .unwrap();
    let admin = platform.principal_for(admin.id).await.unwrap();
    let limits = PlanLimits {
        cpu_millis: 4000,
        memory_bytes: 4 * GIB,
        storage_bytes: 10 * GIB,
        max_containers: 10,
        max_projects: 3,
        max_domains: 20,
        max_pids: 1024,
        backup_storage_bytes: 10 * 1024 * 1024 * 1024,
    };
    platform
        .plans()
        .create(&admin, NewPlan::new("p", limits))
        .await
        .unwrap();
    platform
        .orgs()
        .create(&admin, NewOrganization::new("acme"), None)
        .await
        .unwrap();
    platform
        .orgs()
        .set_subscription(&admin, "acme", "p", SubscriptionStatus::Active)
        .await
        .unwrap();
    platform
        .projects()
        .create(&admin, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    World {
        platform,
        store,
        runtime,
        clock,
        quota,
        admin,
    }
}

fn app() -> DeployApp {
    let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
    spec.volumes.push(VolumeMount {
        volume: Name::parse("data").unwrap(),
        target: "/data".into(),
        read_only: false,
        size_bytes: GIB,
    });
    DeployApp::new("web", spec)
}

/// Checks the invariants after a reconcile: the deploy completed exactly once or left nothing.
async fn assert_consistent(w: &World, when: &str) {
    let containers = w
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::KIND, "service"))
        .await
        .unwrap();
    let services = w.store.list_all_services().await.unwrap();
    let org = w.platform.orgs().get(&w.admin, "acme").await.unwrap();
    let usage = w.platform.orgs().usage(&w.admin, "acme").await.unwrap();
    match services.as_slice() {
        [] => {
            assert!(
                containers.is_empty(),
                "{when}: orphan containers {containers:?}"
            );
            assert_eq!(usage.committed.containers, 0, "{when}");
            assert!(usage.pending.is_zero(), "{when}: {usage:?}");
        }
        [svc] => {
            assert_eq!(svc.status, ServiceStatus::Running, "{when}");
            let dep = w
                .store
                .deployment(svc.current_deployment.expect("current deployment"))
                .await
                .unwrap();
            assert_eq!(containers.len(), 1, "{when}: exactly one container");
            assert_eq!(
                containers[0].labels[labels::DEPLOYMENT],
                dep.id.to_string(),
                "{when}"
            );
            assert_eq!(
                dep.container_id.as_deref(),
                Some(containers[0].id.as_str()),
                "{when}"
            );
            assert_eq!(usage.committed.containers, 1, "{when}: {usage:?}");
            assert!(usage.pending.is_zero(), "{when}: {usage:?}");
        }
        more => panic!("{when}: {} services", more.len()),
    }
    assert_eq!(org.slug.as_str(), "acme");
    // A second pass finds nothing left to do.
    let again = w.platform.reconcile().await.unwrap();
    assert!(again.is_clean(), "{when}: second pass {again:?}");
}

/// Interrupts a deploy while `op` is in flight (the platform process "crashes" there), then
/// reconciles after the grace period.
async fn crash_during(op: Option<RuntimeOp>, slow_commit: bool) {
    let w = world().await;
    let when = format!("crash during {op:?} (slow commit: {slow_commit})");
    if let Some(op) = op {
        w.runtime.set_latency(op, Duration::from_secs(3600));
    }
    if slow_commit {
        *w.quota.delay.lock().unwrap() = Some(Duration::from_secs(3600));
    }
    let p = w.platform.clone();
    let admin = w.admin.clone();
    let task = tokio::spawn(async move {
        p.services()
            .deploy_app(&admin, &ProjectRef::new("acme", "shop"), app())
            .await
    });
    // Let the deploy run up to the slow step, then kill it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    task.abort();
    assert!(
        task.await.unwrap_err().is_cancelled(),
        "{when}: deploy was still running"
    );
    w.runtime.clear_faults();
    *w.quota.delay.lock().unwrap() = None;

    // Within the grace period an in-flight deploy is left alone.
    let early = w.platform.reconcile().await.unwrap();
    assert!(early.rolled_back.is_empty(), "{when}: {early:?}");

    w.clock.advance(chrono::Duration::minutes(10));
    let report = w.platform.reconcile().await.unwrap();
    assert!(report.errors.is_empty(), "{when}: {report:?}");
    // The records were written before the first runtime step, so there is always one
    // interrupted deployment to roll back.
    assert_eq!(report.rolled_back.len(), 1, "{when}: {report:?}");
    let created_container = matches!(op, Some(RuntimeOp::StartContainer)) || slow_commit;
    assert_eq!(
        report.removed_containers.len(),
        usize::from(created_container),
        "{when}: {report:?}"
    );
    assert_consistent(&w, &when).await;

    // And the service can be deployed again afterwards.
    if w.store.list_all_services().await.unwrap().is_empty() {
        w.platform
            .services()
            .deploy_app(&w.admin, &ProjectRef::new("acme", "shop"), app())
            .await
            .unwrap();
        assert_consistent(&w, &format!("{when}, redeployed")).await;
    }
}

#[tokio::test]
async fn a_deploy_interrupted_at_any_step_is_rolled_back_by_the_reconciler() {
    for op in [
        RuntimeOp::CreateNetwork,
        RuntimeOp::CreateVolume,
        RuntimeOp::ImagePresent,
        RuntimeOp::CreateContainer,
        RuntimeOp::StartContainer,
    ] {
        crash_during(Some(op), false).await;
    }
    // After the container started, before the quota commit and the records.
    crash_during(None, true).await;
}

#[tokio::test]
async fn a_deploy_that_recorded_its_container_but_not_its_service_is_completed() {
    let w = world().await;
    let svc = w
        .platform
        .services()
        .deploy_app(&w.admin, &ProjectRef::new("acme", "shop"), app())
        .await
        .unwrap();
    // Simulate a crash after the deployment became active but before the service record and
    // the container id were written.
    let mut s = w.store.service(svc.id).await.unwrap();
    let mut d = w
        .store
        .deployment(s.current_deployment.unwrap())
        .await
        .unwrap();
    d.container_id = None;
    w.store.update_deployment(&d).await.unwrap();
    s.current_deployment = None;
    s.status = ServiceStatus::Deploying;
    w.store.update_service(&s).await.unwrap();

    let report = w.platform.reconcile().await.unwrap();
    assert_eq!(report.adopted.len(), 1, "{report:?}");
    assert_consistent(&w, "adopted").await;
}

#[tokio::test]
async fn lost_containers_and_orphans_are_handled() {
    let w = world().await;
    let svc = w
        .platform
        .services()
        .deploy_app(&w.admin, &ProjectRef::new("acme", "shop"), app())
        .await
        .unwrap();
    // An orphan of this instance (a deployment the store never heard of) and a container of
    // another platform instance sharing the engine.
    let mut orphan = ContainerSpec::new("orphan", IMAGE);
    orphan.labels =
        labels::container_labels(svc.org, svc.project, svc.id, caas_core::DeploymentId::new());
    orphan
        .labels
        .insert(labels::INSTANCE.into(), "default".into());
    w.runtime.create_container(&orphan).await.unwrap();
    let mut foreign = orphan.clone();
    foreign.name = "foreign".into();
    foreign
        .labels
        .insert(labels::INSTANCE.into(), "staging".into());
    w.runtime.create_container(&foreign).await.unwrap();

    let report = w.platform.reconcile().await.unwrap();
    assert_eq!(report.removed_containers.len(), 1, "{report:?}");
    assert!(
        w.runtime
            .inspect_container_opt("foreign")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        w.runtime
            .inspect_container_opt("orphan")
            .await
            .unwrap()
            .is_none()
    );

    // The service's container disappears behind the platform's back.
    let c = w
        .runtime
        .list_containers(
            &LabelSelector::managed()
                .with(labels::SERVICE, svc.id)
                .with(labels::INSTANCE, "default"),
        )
        .await
        .unwrap();
    w.runtime.lose_container(&c[0].id).unwrap();
    let report = w.platform.reconcile().await.unwrap();
    assert_eq!(report.lost, vec![svc.id]);
    let s = w.store.service(svc.id).await.unwrap();
    assert_eq!(s.status, ServiceStatus::Failed);
    let events = w.store.list_events(svc.id, 5).await.unwrap();
    assert_eq!(events[0].kind, caas_core::model::ServiceEventKind::Lost);
    // Reported once, not on every pass.
    assert!(w.platform.reconcile().await.unwrap().lost.is_empty());
}

#[tokio::test]
async fn networks_of_deleted_projects_are_removed_and_their_volumes_reported() {
    let w = world().await;
    w.platform
        .services()
        .deploy_app(&w.admin, &ProjectRef::new("acme", "shop"), app())
        .await
        .unwrap();
    // The project disappears from the store without the runtime side being cleaned (a crash
    // in the middle of a project delete).
    let project = w
        .platform
        .projects()
        .get(&w.admin, &ProjectRef::new("acme", "shop"))
        .await
        .unwrap();
    for s in w
        .store
        .list_services(project.org, Some(project.id))
        .await
        .unwrap()
    {
        w.store.delete_service(s.id).await.unwrap();
    }
    w.store.delete_project(project.id).await.unwrap();
    let report = w.platform.reconcile().await.unwrap();
    assert_eq!(report.removed_containers.len(), 1, "{report:?}");
    assert_eq!(report.removed_networks.len(), 1, "{report:?}");
    assert_eq!(report.orphan_volumes.len(), 1, "{report:?}");
    assert!(
        w.runtime
            .inspect_volume_opt(&report.orphan_volumes[0])
            .await
            .unwrap()
            .is_some(),
        "data is never deleted by the reconciler"
    );
}

#[tokio::test]
async fn the_reconciler_worker_stops_on_shutdown() {
    let w = world().await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(w.platform.clone().run_reconciler(
        Duration::from_millis(10),
        async {
            let _ = rx.await;
        },
    ));
    tokio::time::sleep(Duration::from_millis(50)).await;
    tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), worker)
        .await
        .expect("stops promptly")
        .unwrap();
    assert!(
        w.runtime.calls(RuntimeOp::ListContainers) >= 2,
        "ran several passes"
    );
}
