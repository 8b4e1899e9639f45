//! Configuration updates on the in-memory backends: preview, live limits, rolling updates with
//! routing, recreate for single writers, rollback on failure, quota, history and rollback.

#![allow(clippy::unwrap_used)]

use caas_core::ports::store::prelude::*;
use caas_core::{ProjectRef, ServiceRef};
use std::sync::Arc;
use std::time::Duration;

use caas_core::labels;
use caas_core::memory::{InMemoryProxy, InMemoryRuntime, InMemoryStore};
use caas_core::model::{
    DatabaseEngine, DeploymentStatus, EnvVar, NewOrganization, NewPlan, PlanLimits, PortSpec,
    Protocol, ResourceLimits, ServiceEventKind, ServiceSpec, SubscriptionStatus,
};
use caas_core::platform::{
    ApplyMode, DeployApp, DeployDatabase, NewProject, RolloutTiming, ServiceUpdate,
};
use caas_core::ports::proxy::{RouteRule, ServiceRoutes};
use caas_core::ports::runtime::{ContainerInfo, HealthStatus, LabelSelector};
use caas_core::units::{GIB, MIB};
use caas_core::validate::{Hostname, ImageRef};
use caas_core::{ContainerRuntime, Platform, Principal, Proxy, ServiceId};

const IMAGE: &str = "caas/busybox:latest";

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    runtime: InMemoryRuntime,
    proxy: Arc<InMemoryProxy>,
    who: Principal,
}

async fn world(memory_limit: u64) -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    runtime.add_image("caas/busybox:2");
    runtime.add_image("postgres:16");
    let proxy = Arc::new(InMemoryProxy::new());
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime.clone()))
        .proxy(proxy.clone())
        .rollout(
            RolloutTiming::new(
                Duration::from_secs(2),
                Duration::from_millis(50),
                Duration::from_millis(10),
            )
            // The in-memory engine's addresses are not reachable.
            .with_tcp_probe(false),
        )
        .build()
        .unwrap();
    let admin = platform
        .users()
        .ensure_platform_admin("root@example.com")
        .await
        .unwrap();
    let who = platform.principal_for(admin.id).await.unwrap();
    let limits = PlanLimits {
        cpu_millis: 4000,
        memory_bytes: memory_limit,
        storage_bytes: 10 * GIB,
        max_containers: 10,
        max_projects: 3,
        max_domains: 20,
        max_pids: 1024,
        backup_storage_bytes: 10 * 1024 * 1024 * 1024,
    };
    platform
        .plans()
        .create(&who, NewPlan::new("p", limits))
        .await
        .unwrap();
    platform
        .orgs()
        .create(&who, NewOrganization::new("acme"), None)
        .await
        .unwrap();
    platform
        .orgs()
        .set_subscription(&who, "acme", "p", SubscriptionStatus::Active)
        .await
        .unwrap();
    platform
        .projects()
        .create(&who, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    World {
        platform,
        store,
        runtime,
        proxy,
        who,
    }
}

async fn deploy_web(w: &World) -> ServiceId {
    let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
    spec.env.push(EnvVar::plain("VERSION", "1").unwrap());
    spec.ports.push(PortSpec {
        container_port: 8080,
        protocol: Protocol::Tcp,
    });
    w.platform
        .services()
        .deploy_app(
            &w.who,
            &ProjectRef::new("acme", "shop"),
            DeployApp::new("web", spec),
        )
        .await
        .unwrap()
        .id
}

async fn container(w: &World, svc: ServiceId) -> ContainerInfo {
    let cs = w
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, svc))
        .await
        .unwrap();
    assert_eq!(cs.len(), 1, "exactly one container: {cs:?}");
    w.runtime
        .inspect_container_opt(&cs[0].id)
        .await
        .unwrap()
        .unwrap()
}

fn env_update(version: &str) -> ServiceUpdate {
    let mut u = ServiceUpdate::default();
    u.env_set.push(EnvVar::plain("VERSION", version).unwrap());
    u
}

#[tokio::test]
async fn a_dry_run_previews_and_touches_nothing() {
    let w = world(4 * GIB).await;
    let svc = deploy_web(&w).await;
    let before = container(&w, svc).await;
    let mut u = env_update("2");
    u.resources = Some(ResourceLimits {
        memory_bytes: 512 * MIB,
        ..ResourceLimits::default()
    });
    let r = w
        .platform
        .services()
        .update(&w.who, &ServiceRef::new("acme", "shop", "web"), u, true)
        .await
        .unwrap();
    assert!(!r.applied);
    assert_eq!(r.preview.mode, ApplyMode::Rolling);
    let fields: Vec<&str> = r.preview.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["resources.memory_bytes", "env.VERSION"]);
    assert_eq!(r.preview.quota_delta.memory_bytes, 256 * MIB as i64);
    assert!(r.preview.errors.is_empty());
    assert_eq!(container(&w, svc).await.id, before.id);
    assert_eq!(w.store.service(svc).await.unwrap().spec.env[0].value, "1");

    // Problems are listed by a preview and refused by the real thing.
    let mut bad = ServiceUpdate::default();
    bad.env_unset.push("NOPE".into());
    let r = w
        .platform
        .services()
        .update(
            &w.who,
            &ServiceRef::new("acme", "shop", "web"),
            bad.clone(),
            true,
        )
        .await
        .unwrap();
    assert_eq!(r.preview.errors[0].field, "env_unset.NOPE");
    let err = w
        .platform
        .services()
        .update(&w.who, &ServiceRef::new("acme", "shop", "web"), bad, false)
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("env_unset.NOPE"));
}

#[tokio::test]
async fn limits_change_live_without_a_restart_and_quota_follows() {
    let w = world(4 * GIB).await;
    let svc = deploy_web(&w).await;
    let before = container(&w, svc).await;
    let mut u = ServiceUpdate::default();
    u.resources = Some(ResourceLimits {
        cpu_millis: 750,
        memory_bytes: 512 * MIB,
        pids: 300,
    });
    let r = w
        .platform
        .services()
        .update(&w.who, &ServiceRef::new("acme", "shop", "web"), u, false)
        .await
        .unwrap();
    assert_eq!(r.mode, ApplyMode::Live);
    let after = container(&w, svc).await;
    assert_eq!(after.id, before.id);
    assert_eq!(after.started_at, before.started_at);
    assert_eq!(after.limits.memory_bytes, 512 * MIB);
    let usage = w.platform.orgs().usage(&w.who, "acme").await.unwrap();
    assert_eq!(usage.committed.memory_bytes, 512 * MIB);
    assert_eq!(usage.committed.cpu_millis, 750);
}

#[tokio::test]
async fn growth_beyond_the_plan_is_refused_and_nothing_changes() {
    let w = world(GIB).await;
    let svc = deploy_web(&w).await;
    let before = container(&w, svc).await;
    let mut u = ServiceUpdate::default();
    u.resources = Some(ResourceLimits {
        memory_bytes: 2 * GIB,
        ..ResourceLimits::default()
    });
    let err = w
        .platform
        .services()
        .update(&w.who, &ServiceRef::new("acme", "shop", "web"), u, false)
        .await
        .unwrap_err();
    let q = err.quota().unwrap();
    assert_eq!(q.dimensions[0].dimension, "memory_bytes");
    assert_eq!(container(&w, svc).await.limits, before.limits);
    let usage = w.platform.orgs().usage(&w.who, "acme").await.unwrap();
    assert_eq!(usage.committed.memory_bytes, 256 * MIB);
}

#[tokio::test]
async fn env_changes_roll_a_stateless_app_and_move_its_routes() {
    let w = world(4 * GIB).await;
    let svc = deploy_web(&w).await;
    let old = container(&w, svc).await;
    let old_up = format!("http://{}:8080", old.ip_addresses.values().next().unwrap());
    let routes = ServiceRoutes {
        key: svc.to_string(),
        rules: vec![RouteRule {
            host: Hostname::parse("shop.example.com").unwrap().into(),
            path_prefix: "/".into(),
            strip_prefix: false,
            tls: false,
        }],
        upstreams: vec![old_up.clone()],
    };
    w.proxy.apply(&routes).await.unwrap();

    let r = w
        .platform
        .services()
        .update(
            &w.who,
            &ServiceRef::new("acme", "shop", "web"),
            env_update("2"),
            false,
        )
        .await
        .unwrap();
    assert_eq!(r.mode, ApplyMode::Rolling);
    let new = container(&w, svc).await;
    assert_ne!(new.id, old.id);
    assert!(new.env.contains(&"VERSION=2".to_string()));
    let routed = w.proxy.routes_opt(&svc.to_string()).await.unwrap().unwrap();
    let new_up = format!("http://{}:8080", new.ip_addresses.values().next().unwrap());
    assert_eq!(routed.upstreams, vec![new_up]);
    assert_eq!(routed.rules, routes.rules, "domains untouched");

    let history = w
        .platform
        .services()
        .deployments(&w.who, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].status, DeploymentStatus::Active);
    assert_eq!(history[1].status, DeploymentStatus::Superseded);

    // And back to the first version.
    let r = w
        .platform
        .services()
        .rollback(&w.who, &ServiceRef::new("acme", "shop", "web"), None)
        .await
        .unwrap();
    assert!(r.applied);
    assert!(
        container(&w, svc)
            .await
            .env
            .contains(&"VERSION=1".to_string())
    );
}

#[tokio::test]
async fn a_new_version_that_never_becomes_healthy_is_rolled_back() {
    let w = world(4 * GIB).await;
    let svc = deploy_web(&w).await;
    let old = container(&w, svc).await;
    let old_up = format!("http://{}:8080", old.ip_addresses.values().next().unwrap());
    w.proxy
        .apply(&ServiceRoutes {
            key: svc.to_string(),
            rules: vec![],
            upstreams: vec![old_up.clone()],
        })
        .await
        .unwrap();
    w.runtime.set_health_on_start(HealthStatus::Unhealthy);
    let mut u = env_update("broken");
    u.health_check = Some(caas_core::model::HealthCheck {
        probe: caas_core::model::HealthProbe::Tcp { port: 8080 },
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        retries: 1,
        start_period: Duration::ZERO,
    });
    let err = w
        .platform
        .services()
        .update(&w.who, &ServiceRef::new("acme", "shop", "web"), u, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unhealthy"), "{err}");
    let still = container(&w, svc).await;
    assert_eq!(still.id, old.id, "the old container keeps serving");
    assert_eq!(
        w.proxy
            .routes_opt(&svc.to_string())
            .await
            .unwrap()
            .unwrap()
            .upstreams,
        vec![old_up]
    );
    let s = w.store.service(svc).await.unwrap();
    assert_eq!(s.spec.env[0].value, "1", "spec unchanged");
    let history = w.store.list_deployments(svc).await.unwrap();
    assert_eq!(history[0].status, DeploymentStatus::Failed);
    assert!(history[0].error.as_deref().unwrap().contains("unhealthy"));
    let events = w.store.list_events(svc, 1).await.unwrap();
    assert!(matches!(
        events[0].kind,
        ServiceEventKind::DeployFailed { .. }
    ));
    let usage = w.platform.orgs().usage(&w.who, "acme").await.unwrap();
    assert_eq!(usage.committed.containers, 1);
}

#[tokio::test]
async fn databases_are_recreated_stop_then_start_and_the_preview_says_so() {
    let w = world(4 * GIB).await;
    let db = w
        .platform
        .services()
        .deploy_database(
            &w.who,
            &ProjectRef::new("acme", "shop"),
            DeployDatabase::new("db", DatabaseEngine::Postgres),
        )
        .await
        .unwrap();
    let volume = container(&w, db.service.id).await.mounts[0].volume.clone();
    w.runtime.put_file(&volume, "PG_VERSION", b"16").unwrap();
    let mut u = ServiceUpdate::default();
    u.env_set.push(EnvVar::plain("TZ", "UTC").unwrap());
    let preview = w
        .platform
        .services()
        .update(
            &w.who,
            &ServiceRef::new("acme", "shop", "db"),
            u.clone(),
            true,
        )
        .await
        .unwrap()
        .preview;
    assert_eq!(preview.mode, ApplyMode::Recreate);
    assert!(
        preview.reason.contains("single writer"),
        "{}",
        preview.reason
    );
    let r = w
        .platform
        .services()
        .update(&w.who, &ServiceRef::new("acme", "shop", "db"), u, false)
        .await
        .unwrap();
    assert_eq!(r.mode, ApplyMode::Recreate);
    let c = container(&w, db.service.id).await;
    assert!(c.env.contains(&"TZ=UTC".to_string()));
    assert_eq!(c.mounts[0].volume, volume);
    assert_eq!(
        w.runtime.file(&volume, "PG_VERSION").unwrap().as_ref(),
        b"16"
    );
    // Secrets stay secret in the result.
    assert!(
        !serde_json::to_string(&r)
            .unwrap()
            .contains(&db.credentials.password)
    );
}
