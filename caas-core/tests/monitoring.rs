//! Monitoring on the in-memory backends: live stats computed from two readings, the collector
//! (bounded concurrency, no overlapping cycles, one batch per cycle, prompt shutdown), rollups,
//! retention and permissions.

#![allow(clippy::unwrap_used)]

use caas_core::ports::store::prelude::*;
use caas_core::{ProjectRef, ServiceRef};
use std::sync::Arc;
use std::time::Duration;

use caas_core::labels;
use caas_core::memory::{InMemoryRuntime, InMemoryStore, RuntimeOp};
use caas_core::model::{
    MetricSample, NewOrganization, NewPlan, NewUser, PlanLimits, Resolution, ResourceLimits, Role,
    ServiceSpec, SubscriptionStatus,
};
use caas_core::platform::{
    CollectorConfig, DeployApp, NewProject, StatsSnapshot, cpu_percent, memory_in_use,
};
use caas_core::ports::runtime::{LabelSelector, RawStats};
use caas_core::units::{GIB, MIB};
use caas_core::validate::ImageRef;
use caas_core::{ContainerRuntime, Platform, Principal, ServiceId};
use chrono::Utc;

const IMAGE: &str = "caas/busybox:latest";

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    runtime: InMemoryRuntime,
    owner: Principal,
    stranger: Principal,
}

async fn world() -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime.clone()))
        .build()
        .unwrap();
    let admin = platform
        .users()
        .ensure_platform_admin("root@example.com")
        .await
        .unwrap();
    let admin = platform.principal_for(admin.id).await.unwrap();
    let owner = platform
        .users()
        .create(&admin, NewUser::new("owner@acme.example"))
        .await
        .unwrap();
    let stranger = platform
        .users()
        .create(&admin, NewUser::new("eve@evil.example"))
        .await
        .unwrap();
    let limits = PlanLimits {
        cpu_millis: 64_000,
        memory_bytes: 64 * GIB,
        storage_bytes: 10 * GIB,
        max_containers: 64,
        max_projects: 2,
        max_domains: 20,
        max_pids: 1024,
        backup_storage_bytes: 10 * 1024 * 1024 * 1024,
    };
    platform
        .plans()
        .create(&admin, NewPlan::new("big", limits))
        .await
        .unwrap();
    platform
        .orgs()
        .create(&admin, NewOrganization::new("acme"), Some(owner.id))
        .await
        .unwrap();
    platform
        .orgs()
        .set_subscription(&admin, "acme", "big", SubscriptionStatus::Active)
        .await
        .unwrap();
    let owner = platform.principal_for(owner.id).await.unwrap();
    platform
        .projects()
        .create(&owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    let stranger = platform.principal_for(stranger.id).await.unwrap();
    World {
        platform,
        store,
        runtime,
        owner,
        stranger,
    }
}

impl World {
    /// Deploys a service and returns its id and container id.
    async fn deploy(&self, name: &str, limits: ResourceLimits) -> (ServiceId, String) {
        let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
        spec.resources = limits;
        let svc = self
            .platform
            .services()
            .deploy_app(
                &self.owner,
                &ProjectRef::new("acme", "shop"),
                DeployApp::new(name, spec),
            )
            .await
            .unwrap();
        let sel = LabelSelector::managed().with(labels::SERVICE, svc.id);
        let id = self.runtime.list_containers(&sel).await.unwrap()[0]
            .id
            .clone();
        (svc.id, id)
    }

    async fn raw_count(&self, service: ServiceId) -> usize {
        let now = Utc::now();
        self.store
            .query_metrics(
                service,
                Resolution::Raw,
                now - chrono::Duration::days(1),
                now + chrono::Duration::days(1),
            )
            .await
            .unwrap()
            .len()
    }
}

fn small() -> ResourceLimits {
    ResourceLimits {
        cpu_millis: 100,
        memory_bytes: 64 * MIB,
        pids: 64,
    }
}

fn reading(at_ms: i64, cpu_ns: u64, system_ns: u64, cpus: u32) -> RawStats {
    RawStats {
        at: chrono::DateTime::from_timestamp_millis(at_ms).unwrap(),
        cpu_total_ns: cpu_ns,
        system_cpu_ns: system_ns,
        online_cpus: cpus,
        memory_usage_bytes: 300 * MIB,
        memory_cache_bytes: 100 * MIB,
        memory_limit_bytes: 512 * MIB,
        net_rx_bytes: 1000,
        pids: 8,
        ..RawStats::default()
    }
}

#[test]
fn cpu_percent_uses_host_counters_like_the_cli_and_falls_back_to_wall_clock() {
    // 2 CPUs: 1 s of wall time is 2 s of host CPU; the container used 0.5 s → 50 % of one core.
    let a = reading(0, 0, 10_000_000_000, 2);
    let b = reading(1000, 500_000_000, 12_000_000_000, 2);
    assert!((cpu_percent(&a, &b).unwrap() - 50.0).abs() < 1e-9);
    // Without host counters: wall clock.
    let a = reading(0, 0, 0, 2);
    let b = reading(2000, 3_000_000_000, 0, 2);
    assert!((cpu_percent(&a, &b).unwrap() - 150.0).abs() < 1e-9);
    // Counters went backwards (restart): no answer rather than a wrong one.
    assert_eq!(cpu_percent(&b, &a), None);
    assert_eq!(memory_in_use(&b), 200 * MIB);

    let mut b = reading(1000, 250_000_000, 0, 1);
    b.net_rx_bytes = 3000;
    let s = StatsSnapshot::from_readings(
        &reading(0, 0, 0, 1),
        &b,
        &ResourceLimits {
            cpu_millis: 500,
            memory_bytes: GIB,
            pids: 32,
        },
    );
    assert!((s.cpu_percent.unwrap() - 25.0).abs() < 1e-9);
    assert!((s.cpu_limit_percent.unwrap() - 50.0).abs() < 1e-9);
    assert_eq!(s.memory_bytes, 200 * MIB);
    assert_eq!(s.memory_limit_bytes, 512 * MIB, "the engine's limit wins");
    assert!((s.memory_percent.unwrap() - 200.0 / 512.0 * 100.0).abs() < 1e-9);
    assert!((s.pids_percent.unwrap() - 25.0).abs() < 1e-9);
    assert!((s.net_rx_bytes_per_sec - 2000.0).abs() < 1e-9);
    assert_eq!(s.window_ms, 1000);
}

#[tokio::test]
async fn live_stats_read_the_load_against_the_limits_and_memory_without_cache() {
    let w = world().await;
    let (_, id) = w
        .deploy(
            "web",
            ResourceLimits {
                cpu_millis: 500,
                memory_bytes: 256 * MIB,
                pids: 100,
            },
        )
        .await;
    w.runtime.set_cpu_load(&id, 500).unwrap();
    w.runtime.set_memory_usage(&id, 64 * MIB).unwrap();
    let s = w
        .platform
        .monitoring()
        .stats(&w.owner, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();
    let cpu = s.cpu_percent.unwrap();
    assert!((cpu - 50.0).abs() <= 5.0, "cpu {cpu}");
    let of_limit = s.cpu_limit_percent.unwrap();
    assert!((of_limit - 100.0).abs() <= 10.0, "cpu of limit {of_limit}");
    // The in-memory engine reports usage = in use + 1 MiB of page cache.
    assert_eq!(s.memory_bytes, 64 * MIB);
    assert_eq!(s.memory_limit_bytes, 256 * MIB);
    assert!((s.memory_percent.unwrap() - 25.0).abs() < 1e-9);
    assert_eq!(s.pids, 1);
    assert!((s.pids_percent.unwrap() - 1.0).abs() < 1e-9);
    assert!(s.window_ms >= 450, "{s:?}");
    let json = serde_json::to_value(&s).unwrap();
    assert!(json["cpu_percent"].is_f64());
}

#[tokio::test]
async fn strangers_get_not_found_for_stats_and_metrics_viewers_may_read() {
    let w = world().await;
    w.deploy("web", small()).await;
    let now = Utc::now();
    let hour_ago = now - chrono::Duration::hours(1);
    let err = w
        .platform
        .monitoring()
        .stats(&w.stranger, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = w
        .platform
        .monitoring()
        .metrics(
            &w.stranger,
            &ServiceRef::new("acme", "shop", "web"),
            hour_ago,
            now,
            None,
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    let org = w.platform.orgs().get(&w.owner, "acme").await.unwrap();
    let viewer = Principal::user(w.stranger.user).with_role(org.id, Role::Viewer);
    w.platform
        .monitoring()
        .metrics(
            &viewer,
            &ServiceRef::new("acme", "shop", "web"),
            hour_ago,
            now,
            None,
        )
        .await
        .unwrap();
    w.platform
        .monitoring()
        .stats(&viewer, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();
    let err = w
        .platform
        .monitoring()
        .metrics(
            &viewer,
            &ServiceRef::new("acme", "shop", "web"),
            now,
            hour_ago,
            None,
        )
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
}

#[tokio::test]
async fn a_slow_engine_skips_ticks_instead_of_overlapping_and_concurrency_stays_bounded() {
    let w = world().await;
    let mut services = Vec::new();
    for i in 0..30 {
        let (svc, id) = w.deploy(&format!("s{i}"), small()).await;
        w.runtime.set_cpu_load(&id, 50).unwrap();
        services.push(svc);
    }
    // 30 reads of 100 ms, 4 at a time: a cycle takes ~800 ms, four times the interval.
    w.runtime
        .set_latency(RuntimeOp::Stats, Duration::from_millis(100));
    let collector = w
        .platform
        .monitoring()
        .collector(CollectorConfig::new(Duration::from_millis(200), 4));
    let handle = collector.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(collector.run(async {
        let _ = stopped.await;
    }));
    let seen = tokio::time::timeout(Duration::from_secs(30), handle.wait_for(|s| s.cycles >= 3))
        .await
        .unwrap()
        .unwrap();
    stop.send(()).unwrap();
    let last = task.await.unwrap();

    assert!(seen.skipped > 0, "{seen:?}");
    assert_eq!(
        w.runtime.max_in_flight(RuntimeOp::Stats),
        4,
        "exactly the configured concurrency"
    );
    assert_eq!(last.errors, 0, "{last:?}");
    // The first cycle only primes; every later cycle writes one batch of 30 samples.
    assert_eq!(last.batches, last.cycles - 1, "{last:?}");
    assert_eq!(last.samples_written, 30 * (last.cycles - 1), "{last:?}");
    assert_eq!(last.last_cycle_containers, 30);
    let mut stored = 0;
    for svc in &services {
        let n = w.raw_count(*svc).await;
        assert_eq!(
            n as u64,
            last.cycles - 1,
            "one sample per service per cycle"
        );
        stored += n as u64;
    }
    assert_eq!(stored, last.samples_written);
    println!("slow engine: {last:?}");
}

#[tokio::test]
async fn samples_carry_the_load_and_land_in_one_batch_per_cycle() {
    let w = world().await;
    let (busy, busy_id) = w.deploy("busy", small()).await;
    let (idle, _) = w.deploy("idle", small()).await;
    w.runtime.set_cpu_load(&busy_id, 250).unwrap();
    w.runtime.set_memory_usage(&busy_id, 10 * MIB).unwrap();
    let collector = w
        .platform
        .monitoring()
        .collector(CollectorConfig::new(Duration::from_millis(300), 8));
    let handle = collector.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(collector.run(async {
        let _ = stopped.await;
    }));
    tokio::time::timeout(Duration::from_secs(10), handle.wait_for(|s| s.cycles >= 4))
        .await
        .unwrap()
        .unwrap();
    stop.send(()).unwrap();
    let last = task.await.unwrap();
    assert_eq!(last.skipped, 0, "{last:?}");
    assert_eq!(last.batches, last.cycles - 1);
    assert_eq!(last.samples_written, 2 * (last.cycles - 1));
    assert_eq!(w.raw_count(busy).await as u64, last.cycles - 1);
    assert_eq!(w.raw_count(idle).await as u64, last.cycles - 1);

    let now = Utc::now();
    let points = w
        .platform
        .monitoring()
        .metrics(
            &w.owner,
            &ServiceRef::new("acme", "shop", "busy"),
            now - chrono::Duration::minutes(5),
            now + chrono::Duration::minutes(1),
            None,
        )
        .await
        .unwrap();
    assert_eq!(points.len() as u64, last.cycles - 1, "six minutes read raw");
    for p in &points {
        assert!(
            (p.cpu_percent.avg - 25.0).abs() <= 5.0,
            "cpu {}",
            p.cpu_percent.avg
        );
        assert_eq!(p.memory_bytes.avg, (10 * MIB) as f64);
        assert_eq!(p.memory_limit_bytes, 64 * MIB);
    }
}

#[tokio::test]
async fn the_collector_stops_promptly_even_in_the_middle_of_a_slow_cycle() {
    let w = world().await;
    w.deploy("web", small()).await;
    w.runtime
        .set_latency(RuntimeOp::Stats, Duration::from_secs(3600));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(w.platform.clone().run_collector(
        CollectorConfig::new(Duration::from_millis(50), 2),
        async {
            let _ = stopped.await;
        },
    ));
    while w.runtime.calls(RuntimeOp::Stats) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = std::time::Instant::now();
    stop.send(()).unwrap();
    let last = tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("stopped within a second")
        .unwrap();
    assert!(asked.elapsed() < Duration::from_millis(500));
    assert_eq!(last.cycles, 0, "the cycle in progress was dropped");
    assert!(last.skipped >= 2, "{last:?}");
    assert_eq!(w.runtime.max_in_flight(RuntimeOp::Stats), 1);
}

#[tokio::test]
async fn maintenance_rolls_up_applies_retention_and_range_queries_pick_the_resolution() {
    let w = world().await;
    let (svc, _) = w.deploy("web", small()).await;
    let org = w.platform.orgs().get(&w.owner, "acme").await.unwrap();
    let now = Utc::now();
    let sample = |minutes_ago: i64, cpu: f64| MetricSample {
        org: org.id,
        service: svc,
        at: now - chrono::Duration::minutes(minutes_ago),
        cpu_percent: cpu,
        memory_bytes: MIB,
        memory_limit_bytes: 64 * MIB,
        net_rx_bytes: 0,
        net_tx_bytes: 0,
        block_read_bytes: 0,
        block_write_bytes: 0,
        pids: 1,
    };
    // Two samples a minute for the last three hours, and one from four days ago.
    let mut samples = Vec::new();
    for m in 2..180 {
        samples.push(sample(m, 10.0));
        samples.push(sample(m, 30.0));
    }
    samples.push(sample(4 * 24 * 60, 99.0));
    w.store.insert_metrics(&samples).await.unwrap();

    let collector = w
        .platform
        .monitoring()
        .collector(CollectorConfig::new(Duration::from_secs(3600), 8));
    let handle = collector.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(collector.run(async {
        let _ = stopped.await;
    }));
    tokio::time::timeout(
        Duration::from_secs(10),
        handle.wait_for(|s| s.maintenance_passes >= 1),
    )
    .await
    .unwrap()
    .unwrap();
    stop.send(()).unwrap();
    let last = task.await.unwrap();
    assert_eq!(last.errors, 0, "{last:?}");

    // Retention: the raw sample of four days ago is gone (raw keeps two days).
    let old = w
        .store
        .query_metrics(
            svc,
            Resolution::Raw,
            now - chrono::Duration::days(5),
            now - chrono::Duration::days(3),
        )
        .await
        .unwrap();
    assert!(old.is_empty(), "{old:?}");

    // Three hours: at least 60 minutes → minute points, each averaging its two samples.
    let from = now - chrono::Duration::hours(3);
    let points = w
        .platform
        .monitoring()
        .metrics(
            &w.owner,
            &ServiceRef::new("acme", "shop", "web"),
            from,
            now,
            None,
        )
        .await
        .unwrap();
    assert!(points.len() >= 170, "{} minute points", points.len());
    for p in &points {
        assert_eq!(p.at, Resolution::Minute.bucket(p.at), "minute-aligned");
        assert!((p.cpu_percent.avg - 20.0).abs() < 1e-9);
        assert_eq!(p.cpu_percent.min, 10.0);
        assert_eq!(p.cpu_percent.max, 30.0);
    }
    let total: u64 = points.iter().map(|p| p.samples).sum();
    let raw = w
        .store
        .query_metrics(svc, Resolution::Raw, from, now)
        .await
        .unwrap();
    // Every complete minute is rolled; the raw samples of the current minute may not be yet.
    assert!(total <= raw.len() as u64 && total + 4 >= raw.len() as u64);
    // An explicit step wins; ten minutes pick raw samples.
    let hours = w
        .platform
        .monitoring()
        .metrics(
            &w.owner,
            &ServiceRef::new("acme", "shop", "web"),
            from,
            now,
            Some(Resolution::Hour),
        )
        .await
        .unwrap();
    assert!((2..=3).contains(&hours.len()), "{hours:?}");
    let recent = w
        .platform
        .monitoring()
        .metrics(
            &w.owner,
            &ServiceRef::new("acme", "shop", "web"),
            now - chrono::Duration::minutes(10),
            now,
            None,
        )
        .await
        .unwrap();
    assert!(recent.iter().all(|p| p.samples == 1), "raw points");
    assert_eq!(recent.len(), 18, "two samples a minute for minutes 2..=10");
}
