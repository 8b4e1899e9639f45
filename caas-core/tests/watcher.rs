//! The event watcher and service health on the in-memory runtime: exits, OOM kills, engine
//! restarts and health changes become service events with the last log lines; asked-for stops
//! do not; a cut event stream is reconnected and what happened meanwhile is recovered;
//! health shows state, restarts, uptime and logs.

#![allow(clippy::unwrap_used)]

use caas_core::ports::store::prelude::*;
use caas_core::{ProjectRef, ServiceRef};
use std::sync::Arc;
use std::time::Duration;

use caas_core::labels;
use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::model::{PlanLimits, ServiceEventKind, ServiceSpec};
use caas_core::platform::{DeployApp, RolloutTiming, WatcherConfig};
use caas_core::ports::runtime::{HealthStatus, LabelSelector, LogStream};
use caas_core::units::GIB;
use caas_core::validate::ImageRef;
use caas_core::{ContainerRuntime, Platform, ServiceId};

const IMAGE: &str = "caas/busybox:latest";

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    runtime: InMemoryRuntime,
    tenant: caas_testkit::platform::Tenant,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<caas_core::platform::WatcherStats>,
}

async fn world() -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime.clone()))
        .rollout(
            RolloutTiming::new(
                Duration::from_secs(2),
                Duration::from_millis(10),
                Duration::ZERO,
            )
            .with_tcp_probe(false),
        )
        .build()
        .unwrap();
    let tenant = caas_testkit::platform::seed_tenant(
        &platform,
        PlanLimits {
            cpu_millis: 4000,
            memory_bytes: 4 * GIB,
            storage_bytes: 4 * GIB,
            max_containers: 5,
            max_projects: 1,
            max_domains: 20,
            max_pids: 1024,
            backup_storage_bytes: 10 * 1024 * 1024 * 1024,
        },
        "p",
    )
    .await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = WatcherConfig::default()
        .backoff(Duration::from_millis(50), Duration::from_millis(200))
        .stop_grace(Duration::from_millis(300));
    let task = tokio::spawn(platform.clone().run_event_watcher(config, async {
        let _ = stopped.await;
    }));
    World {
        platform,
        store,
        runtime,
        tenant,
        stop: Some(stop),
        task,
    }
}

impl World {
    async fn deploy(&self, name: &str) -> (ServiceId, String) {
        let spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
        let svc = self
            .platform
            .services()
            .deploy_app(
                &self.tenant.admin,
                &ProjectRef::new(&self.tenant.org, "p"),
                DeployApp::new(name, spec),
            )
            .await
            .unwrap();
        let c = self
            .runtime
            .list_containers(&LabelSelector::managed().with(labels::SERVICE, svc.id))
            .await
            .unwrap();
        (svc.id, c[0].id.clone())
    }

    /// Waits until the service has an event matching `want`; all its events, newest first.
    async fn wait_event(
        &self,
        svc: ServiceId,
        want: impl Fn(&ServiceEventKind) -> bool,
    ) -> Vec<caas_core::model::ServiceEvent> {
        for _ in 0..100 {
            let events = self.store.list_events(svc, 100).await.unwrap();
            if events.iter().any(|e| want(&e.kind)) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        panic!(
            "no such event: {:?}",
            self.store.list_events(svc, 100).await.unwrap()
        );
    }

    async fn finish(mut self) -> caas_core::platform::WatcherStats {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap()
    }
}

#[tokio::test]
async fn crashes_oom_kills_and_engine_restarts_become_events_with_their_last_logs() {
    let w = world().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (svc, c) = w.deploy("web").await;
    w.runtime
        .push_log(&c, LogStream::Stderr, "allocating 2 GiB")
        .unwrap();
    w.runtime.simulate_exit(&c, 137, true, true).unwrap();
    let events = w
        .wait_event(svc, |k| *k == ServiceEventKind::EngineRestart)
        .await;
    let oom = events
        .iter()
        .find(|e| e.kind == ServiceEventKind::OomKilled)
        .expect("an OOM kill before the restart");
    assert!(oom.message.contains("allocating 2 GiB"), "{}", oom.message);

    w.runtime
        .push_log(&c, LogStream::Stdout, "panic: bad config")
        .unwrap();
    w.runtime.simulate_exit(&c, 3, false, false).unwrap();
    let events = w
        .wait_event(svc, |k| *k == ServiceEventKind::Died { exit_code: 3 })
        .await;
    assert!(
        events[0].message.contains("panic: bad config"),
        "{}",
        events[0].message
    );

    w.runtime.set_health(&c, HealthStatus::Unhealthy).unwrap();
    let events = w
        .wait_event(svc, |k| {
            *k == ServiceEventKind::HealthChanged {
                status: "unhealthy".into(),
            }
        })
        .await;
    assert!(
        events[0].message.contains("last log lines"),
        "{}",
        events[0].message
    );
    let stats = w.finish().await;
    assert_eq!(stats.connects, 1);
    assert!(stats.recorded >= 4, "{stats:?}");
}

#[tokio::test]
async fn a_stop_asked_for_is_not_a_crash() {
    let w = world().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (svc, _) = w.deploy("web").await;
    let (who, org) = (&w.tenant.admin, w.tenant.org.as_str());
    w.platform
        .services()
        .stop(who, &ServiceRef::new(org, "p", "web"))
        .await
        .unwrap();
    w.platform
        .services()
        .start(who, &ServiceRef::new(org, "p", "web"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let kinds: Vec<ServiceEventKind> = w
        .store
        .list_events(svc, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        !kinds
            .iter()
            .any(|k| matches!(k, ServiceEventKind::Died { .. })),
        "{kinds:?}"
    );
    assert!(kinds.contains(&ServiceEventKind::Stopped), "{kinds:?}");
    w.finish().await;
}

#[tokio::test]
async fn after_a_cut_stream_the_watcher_reconnects_and_recovers_what_it_missed() {
    let w = world().await;
    let (svc, c) = w.deploy("web").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    w.runtime.cut_event_streams();
    // While the watcher waits to reconnect: a restart by the engine and a health change.
    w.runtime.simulate_exit(&c, 1, false, true).unwrap();
    w.runtime.set_health(&c, HealthStatus::Unhealthy).unwrap();
    w.wait_event(svc, |k| *k == ServiceEventKind::EngineRestart)
        .await;
    w.wait_event(
        svc,
        |k| matches!(k, ServiceEventKind::HealthChanged { status } if status == "unhealthy"),
    )
    .await;
    let stats = w.finish().await;
    assert!(stats.connects >= 2, "{stats:?}");
    assert!(stats.recovered >= 2, "{stats:?}");
}

#[tokio::test]
async fn health_shows_state_restarts_uptime_and_the_logs_of_an_unwell_service() {
    let w = world().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (svc, c) = w.deploy("web").await;
    let (who, org) = (&w.tenant.admin, w.tenant.org.as_str());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let h = w
        .platform
        .monitoring()
        .health(
            who,
            &ServiceRef::new(org, "p", "web"),
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert!(h.last_logs.is_empty());
    assert!(h.uptime_percent > 0.0);
    let container = h.container.unwrap();
    assert_eq!(container.restart_count, 0);

    w.runtime
        .push_log(&c, LogStream::Stderr, "cannot open /data/db")
        .unwrap();
    w.runtime.simulate_exit(&c, 2, false, true).unwrap();
    w.wait_event(svc, |k| *k == ServiceEventKind::EngineRestart)
        .await;
    w.runtime.set_health(&c, HealthStatus::Unhealthy).unwrap();
    let h = w
        .platform
        .monitoring()
        .health(
            who,
            &ServiceRef::new(org, "p", "web"),
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let container = h.container.unwrap();
    assert_eq!(container.health, Some(HealthStatus::Unhealthy));
    assert_eq!(container.restart_count, 1);
    assert!(
        h.restarts
            .iter()
            .any(|e| e.kind == ServiceEventKind::EngineRestart),
        "{:?}",
        h.restarts
    );
    assert!(
        h.last_logs
            .iter()
            .any(|l| l.contains("cannot open /data/db")),
        "{:?}",
        h.last_logs
    );
    let events = w
        .platform
        .monitoring()
        .events(who, &ServiceRef::new(org, "p", "web"), 10)
        .await
        .unwrap();
    assert!(!events.is_empty());
    let stranger = caas_core::Principal::user(caas_core::UserId::new());
    let err = w
        .platform
        .monitoring()
        .health(
            &stranger,
            &ServiceRef::new(org, "p", "web"),
            Duration::from_secs(60),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    w.finish().await;
}
