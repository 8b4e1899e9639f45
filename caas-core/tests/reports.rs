//! Usage reports and the live stats stream on the in-memory backends (charts are drawn, and
//! tested, in caas-http).

#![allow(clippy::unwrap_used)]

use caas_core::ports::store::prelude::*;
use caas_core::{ProjectRef, ServiceRef};
use std::sync::Arc;
use std::time::Duration;

use caas_core::labels;
use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::model::{PlanLimits, Resolution, ServiceSpec};
use caas_core::platform::{DeleteOptions, DeployApp, NewVolume};
use caas_core::ports::runtime::LabelSelector;
use caas_core::units::GIB;
use caas_core::validate::ImageRef;
use caas_core::{ContainerRuntime, ManualClock, Platform, ServiceId};
use chrono::{DateTime, Utc};
use futures::StreamExt;

const IMAGE: &str = "caas/busybox:latest";

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    runtime: InMemoryRuntime,
    clock: Arc<ManualClock>,
    tenant: caas_testkit::platform::Tenant,
}

async fn world(clock_at: DateTime<Utc>) -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let clock = Arc::new(ManualClock::new(clock_at));
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime.clone()))
        .clock(clock.clone())
        .metrics_interval(Duration::from_secs(10))
        .build()
        .unwrap();
    let tenant = caas_testkit::platform::seed_tenant(
        &platform,
        PlanLimits {
            cpu_millis: 4000,
            memory_bytes: 4 * GIB,
            storage_bytes: 100 * GIB,
            max_containers: 5,
            max_projects: 1,
            max_domains: 20,
            max_pids: 1024,
            backup_storage_bytes: 10 * 1024 * 1024 * 1024,
        },
        "p",
    )
    .await;
    World {
        platform,
        store,
        runtime,
        clock,
        tenant,
    }
}

impl World {
    async fn deploy(&self, name: &str) -> ServiceId {
        let spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
        self.platform
            .services()
            .deploy_app(
                &self.tenant.admin,
                &ProjectRef::new(&self.tenant.org, "p"),
                DeployApp::new(name, spec),
            )
            .await
            .unwrap()
            .id
    }

    /// A sample every 10 s for `minutes` from `from`, at `cpu` % of one core, 512 MiB limit.
    async fn run(&self, svc: ServiceId, from: DateTime<Utc>, minutes: i64, cpu: f64) {
        let org = self.store.service(svc).await.unwrap().org;
        let samples = caas_testkit::metrics::steady(org, svc, from, minutes, cpu);
        self.store.insert_metrics(&samples).await.unwrap();
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn a_usage_report_sums_container_cpu_memory_and_storage_hours() {
    let start = at("2030-03-01T00:00:00Z");
    let w = world(start).await;
    let (who, org) = (&w.tenant.admin, w.tenant.org.as_str());
    let web = w.deploy("web").await;
    let gone = w.deploy("gone").await;
    // web: two hours at 50 % of a core; gone: one hour at 100 %, then deleted.
    w.run(web, start, 120, 50.0).await;
    w.run(gone, start, 60, 100.0).await;
    w.platform
        .volumes()
        .create(who, org, NewVolume::new("p", "data", 2 * GIB))
        .await
        .unwrap();
    w.clock.advance(chrono::Duration::hours(3));
    w.platform
        .services()
        .delete(
            who,
            &ServiceRef::new(org, "p", "gone"),
            DeleteOptions::keep_volumes(),
        )
        .await
        .unwrap();
    // A busy log: more than a page of other entries after the deletion.
    let org_id = w.store.service(web).await.unwrap().org;
    for i in 0..2100 {
        let mut e = caas_testkit::store::audit_of(
            Some(org_id),
            "service.restart",
            start + chrono::Duration::hours(3) + chrono::Duration::milliseconds(i),
        );
        e.target = format!("service:{web}");
        w.store.append_audit(&e).await.unwrap();
    }
    for r in [Resolution::Minute, Resolution::Hour] {
        w.store
            .rollup_metrics(r, start, start + chrono::Duration::hours(3))
            .await
            .unwrap();
    }
    let report = w
        .platform
        .orgs()
        .usage_report(who, org, start, start + chrono::Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(report.resolution, Resolution::Minute);
    let t = &report.totals;
    assert!((t.container_hours - 3.0).abs() < 1e-9, "{t:?}");
    assert!((t.cpu_core_hours - 2.0).abs() < 1e-9, "{t:?}");
    assert!((t.memory_gib_hours - 1.5).abs() < 1e-9, "{t:?}");
    assert!(
        (t.storage_gib_hours - 6.0).abs() < 1e-6,
        "2 GiB for 3 h: {t:?}"
    );
    assert_eq!(
        report.services.len(),
        2,
        "the deleted service is still billed"
    );
    let g = report.services.iter().find(|s| s.service == gone).unwrap();
    assert_eq!(g.name.as_deref(), Some("gone"));
    assert!((g.cpu_core_hours - 1.0).abs() < 1e-9);
    // Its CSV rendering is tested in caas-http (render::usage), where it moved.

    // A week is read from hour points, with the same sums.
    let week = w
        .platform
        .orgs()
        .usage_report(who, org, start, start + chrono::Duration::days(7))
        .await
        .unwrap();
    assert_eq!(week.resolution, Resolution::Hour);
    assert!((week.totals.cpu_core_hours - 2.0).abs() < 1e-9);
    for (from, to, field) in [
        (start, start, "from"),
        (start, start + chrono::Duration::days(400), "to"),
    ] {
        let err = w
            .platform
            .orgs()
            .usage_report(who, org, from, to)
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some(field));
    }
    let stranger = caas_core::Principal::user(caas_core::UserId::new());
    assert!(
        w.platform
            .orgs()
            .usage_report(&stranger, org, start, start + chrono::Duration::hours(1))
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn the_stats_stream_yields_snapshots_at_the_interval() {
    let w = world(Utc::now()).await;
    let (who, org) = (&w.tenant.admin, w.tenant.org.as_str());
    let web = w.deploy("web").await;
    let id = w
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, web))
        .await
        .unwrap()[0]
        .id
        .clone();
    w.runtime.set_cpu_load(&id, 250).unwrap();
    let started = std::time::Instant::now();
    let got: Vec<_> = w
        .platform
        .monitoring()
        .stats_stream(
            who,
            &ServiceRef::new(org, "p", "web"),
            Duration::from_millis(600),
        )
        .await
        .unwrap()
        .take(3)
        .collect()
        .await;
    let took = started.elapsed();
    assert_eq!(got.len(), 3);
    for s in &got {
        let cpu = s.as_ref().unwrap().cpu_percent.unwrap();
        assert!((cpu - 25.0).abs() <= 5.0, "{cpu}");
    }
    // Priming window (500 ms) + two intervals (600 ms each).
    assert!(took >= Duration::from_millis(1600), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn recent_metrics_not_rolled_up_yet_come_from_the_raw_samples() {
    let now = at("2030-03-01T12:00:30Z");
    let w = world(now).await;
    let (who, org) = (&w.tenant.admin, w.tenant.org.as_str());
    let web = w.deploy("web").await;
    // Ten minutes of samples, none rolled up.
    w.run(web, now - chrono::Duration::minutes(10), 10, 40.0)
        .await;
    let points = w
        .platform
        .monitoring()
        .metrics(
            who,
            &ServiceRef::new(org, "p", "web"),
            now - chrono::Duration::hours(1),
            now,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        points.len(),
        11,
        "one minute point per minute touched: {}",
        points.len()
    );
    assert!(
        points
            .iter()
            .all(|p| (p.cpu_percent.avg - 40.0).abs() < 1e-9)
    );
    assert_eq!(points.iter().map(|p| p.samples).sum::<u64>(), 60);
    assert!(points.windows(2).all(|w| w[0].at < w[1].at));
    // Rolled up, the same answer (now from the minute points).
    w.store
        .rollup_metrics(Resolution::Minute, now - chrono::Duration::hours(1), now)
        .await
        .unwrap();
    let again = w
        .platform
        .monitoring()
        .metrics(
            who,
            &ServiceRef::new(org, "p", "web"),
            now - chrono::Duration::hours(1),
            now,
            None,
        )
        .await
        .unwrap();
    assert_eq!(again.iter().map(|p| p.samples).sum::<u64>(), 60);
    assert_eq!(again.len(), points.len());
}
