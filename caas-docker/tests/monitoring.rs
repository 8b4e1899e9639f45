//! Health and events on the real engine, with the event watcher following Docker's event
//! stream: an OOM-killed container shows as an OOM kill and an engine restart, an unhealthy
//! container reports its status and last log lines, a stop asked for is not a crash, and the
//! metrics collector's samples feed the health window.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use caas_core::model::{HealthCheck, HealthProbe, ResourceLimits, ServiceEventKind, ServiceSpec};
use caas_core::platform::{DeleteOptions, DeployApp, WatcherConfig};
use caas_core::ports::runtime::HealthStatus;
use caas_core::units::MIB;
use caas_core::validate::ImageRef;
use caas_core::{Platform, ServiceId};
use caas_core::{ProjectRef, ServiceRef};

/// Polls the service's events until one matches `want` (within 60 s); all of them.
async fn wait_event(
    platform: &Platform,
    svc: ServiceId,
    want: impl Fn(&ServiceEventKind) -> bool,
) -> Vec<caas_core::model::ServiceEvent> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = platform
            .store()
            .history
            .list_events(svc, 200)
            .await
            .unwrap();
        if events.iter().any(|e| want(&e.kind)) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "no such event within 60 s: {:?}",
            events.iter().map(|e| &e.kind).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_kills_unhealthy_containers_and_asked_for_stops_on_the_engine() {
    let Some((platform, _runtime, tenant, image)) = common::platform_on_docker("mon").await else {
        return;
    };
    let (who, org) = (tenant.admin.clone(), tenant.org.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(platform.clone().run_event_watcher(
        WatcherConfig::default().stop_grace(Duration::from_secs(2)),
        async {
            let _ = stopped.await;
        },
    ));
    // Give the watcher its subscription before anything happens.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A shell that builds a 64 MiB string under a 16 MiB limit: killed by the kernel, then
    // restarted by its restart policy.
    let mut hog = ServiceSpec::new(ImageRef::parse(image.clone()).unwrap());
    hog.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "echo allocating; x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo done; sleep 600"
            .into(),
    ]);
    hog.resources = ResourceLimits {
        cpu_millis: 500,
        memory_bytes: 16 * MIB,
        pids: 64,
    };
    let hog = platform
        .services()
        .deploy_app(
            &who,
            &ProjectRef::new(&org, "p"),
            DeployApp::new("hog", hog),
        )
        .await
        .unwrap();
    let events = wait_event(&platform, hog.id, |k| *k == ServiceEventKind::EngineRestart).await;
    let oom = events
        .iter()
        .find(|e| e.kind == ServiceEventKind::OomKilled)
        .unwrap_or_else(|| panic!("an OOM kill: {events:?}"));
    assert!(oom.message.contains("allocating"), "{}", oom.message);
    let health = platform
        .monitoring()
        .health(
            &who,
            &ServiceRef::new(&org, "p", "hog"),
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert!(health.container.unwrap().restart_count >= 1);
    assert!(
        health
            .restarts
            .iter()
            .any(|e| e.kind == ServiceEventKind::OomKilled),
        "{:?}",
        health.restarts
    );
    platform
        .services()
        .delete(
            &who,
            &ServiceRef::new(&org, "p", "hog"),
            DeleteOptions::default(),
        )
        .await
        .unwrap();

    // A health check that always fails, on a process that keeps logging.
    let mut sick = ServiceSpec::new(ImageRef::parse(image).unwrap());
    sick.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "while :; do echo 'still serving, honest'; sleep 1; done".into(),
    ]);
    sick.health_check = Some(HealthCheck {
        probe: HealthProbe::Command {
            command: vec!["false".into()],
        },
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        retries: 1,
        start_period: Duration::ZERO,
    });
    let sick = platform
        .services()
        .deploy_app(
            &who,
            &ProjectRef::new(&org, "p"),
            DeployApp::new("sick", sick),
        )
        .await
        .unwrap();
    let events = wait_event(&platform, sick.id, |k| {
        *k == ServiceEventKind::HealthChanged {
            status: "unhealthy".into(),
        }
    })
    .await;
    let e = events
        .iter()
        .find(|e| matches!(&e.kind, ServiceEventKind::HealthChanged { status } if status == "unhealthy"))
        .unwrap();
    assert!(e.message.contains("still serving, honest"), "{}", e.message);
    let health = platform
        .monitoring()
        .health(
            &who,
            &ServiceRef::new(&org, "p", "sick"),
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert_eq!(
        health.container.unwrap().health,
        Some(HealthStatus::Unhealthy)
    );
    assert!(
        health.last_logs.iter().any(|l| l.contains("still serving")),
        "{:?}",
        health.last_logs
    );
    assert!(health.uptime_percent > 0.0);

    // Stopped on request: no crash recorded.
    platform
        .services()
        .stop(&who, &ServiceRef::new(&org, "p", "sick"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let kinds: Vec<ServiceEventKind> = platform
        .store()
        .history
        .list_events(sick.id, 200)
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

    let _ = stop.send(());
    let stats = watcher.await.unwrap();
    assert_eq!(stats.connects, 1, "{stats:?}");
    platform
        .projects()
        .delete(&who, &ProjectRef::new(&org, "p"), DeleteOptions::default())
        .await
        .unwrap();
}
