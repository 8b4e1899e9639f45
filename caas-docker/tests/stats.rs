//! Live stats on the real engine: a busy loop limited to half a CPU reads 50 % of one core
//! (100 % of its limit), computed from two one-shot readings.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use caas_core::model::{ResourceLimits, ServiceSpec};
use caas_core::platform::{DeleteOptions, DeployApp};
use caas_core::units::MIB;
use caas_core::validate::ImageRef;
use caas_core::{ProjectRef, ServiceRef};

#[tokio::test]
async fn a_busy_loop_limited_to_half_a_cpu_reads_fifty_percent() {
    let Some((platform, _runtime, tenant, image)) = common::platform_on_docker("st").await else {
        return;
    };
    let (admin, slug) = (tenant.admin.clone(), tenant.org.clone());
    let mut spec = ServiceSpec::new(ImageRef::parse(image).unwrap());
    spec.command = Some(vec!["sh".into(), "-c".into(), "while :; do :; done".into()]);
    spec.resources = ResourceLimits {
        cpu_millis: 500,
        memory_bytes: 64 * MIB,
        pids: 64,
    };
    platform
        .services()
        .deploy_app(
            &admin,
            &ProjectRef::new(&slug, "p"),
            DeployApp::new("busy", spec),
        )
        .await
        .unwrap();
    // Let the loop settle into its CFS quota.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut readings = Vec::new();
    for _ in 0..3 {
        readings.push(
            platform
                .monitoring()
                .stats(&admin, &ServiceRef::new(&slug, "p", "busy"))
                .await,
        );
    }

    // Clean up before asserting, so a failure leaves nothing behind.
    platform
        .projects()
        .delete(
            &admin,
            &ProjectRef::new(&slug, "p"),
            DeleteOptions::default(),
        )
        .await
        .unwrap();

    for r in readings {
        let s = r.unwrap();
        println!(
            "cpu {:.2} % of one core, {:.2} % of limit, memory {} B ({:.2} %), pids {}, window {} ms",
            s.cpu_percent.unwrap_or(f64::NAN),
            s.cpu_limit_percent.unwrap_or(f64::NAN),
            s.memory_bytes,
            s.memory_percent.unwrap_or(f64::NAN),
            s.pids,
            s.window_ms
        );
        let cpu = s.cpu_percent.unwrap();
        assert!((cpu - 50.0).abs() <= 5.0, "cpu {cpu} % of one core");
        let of_limit = s.cpu_limit_percent.unwrap();
        assert!(
            (of_limit - 100.0).abs() <= 10.0,
            "cpu {of_limit} % of limit"
        );
        assert_eq!(s.cpu_limit_millis, 500);
        assert_eq!(s.memory_limit_bytes, 64 * MIB);
        assert!(s.memory_bytes > 0 && s.memory_bytes < 64 * MIB, "{s:?}");
        assert!(s.pids >= 1, "{s:?}");
        assert_eq!(s.pids_limit, 64);
    }
}

/// Statistics read from the host's cgroup and proc files agree with the engine's own for the
/// same container; a stopped or missing container is refused as the engine refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_statistics_agree_with_the_engines() {
    use caas_core::ContainerRuntime;
    use caas_core::ports::runtime::ContainerSpec;
    use caas_testkit::runtime::RuntimeFixture;
    use std::sync::Arc;

    let Some((host, image)) = common::docker_with(true).await else {
        return;
    };
    let (engine, _) = common::docker_with(false).await.expect("engine");
    let fx = RuntimeFixture::new(Arc::new(host.clone()), image.clone());
    fx.scoped(async {
        let mut spec = ContainerSpec::new(fx.name("stats"), image.clone());
        spec.command = Some(vec![
            "sh".into(),
            "-c".into(),
            "dd if=/dev/zero of=/tmp/fill bs=1M count=8 2>/dev/null; while :; do :; done".into(),
        ]);
        spec.labels = fx.labels();
        spec.limits = ResourceLimits {
            cpu_millis: 500,
            memory_bytes: 64 * MIB,
            pids: 64,
        };
        let id = host.create_container(&spec).await.unwrap().id().to_string();
        host.start_container(&id).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = engine.stats_once(&id).await.unwrap();
        let ours = host.stats_once(&id).await.unwrap();
        let again = host.stats_once(&id).await.unwrap();
        let after = engine.stats_once(&id).await.unwrap();
        println!("engine {before:?}\nhost   {ours:?}\nengine {after:?}");
        let between = |f: fn(&caas_core::ports::runtime::RawStats) -> u64, what: &str| {
            assert!(
                f(&before) <= f(&ours) && f(&ours) <= f(&after),
                "{what}: {} <= {} <= {}",
                f(&before),
                f(&ours),
                f(&after)
            );
        };
        between(|s| s.cpu_total_ns, "cpu");
        between(|s| s.system_cpu_ns, "host cpu");
        between(|s| s.net_rx_bytes, "received");
        between(|s| s.net_tx_bytes, "sent");
        assert!(ours.cpu_total_ns > 0 && again.cpu_total_ns >= ours.cpu_total_ns);
        assert_eq!(ours.memory_limit_bytes, 64 * MIB);
        assert_eq!(ours.memory_limit_bytes, after.memory_limit_bytes);
        assert_eq!(ours.online_cpus, after.online_cpus);
        assert_eq!(ours.pids, after.pids);
        // 8 MiB written to the container's tmpfs-less /tmp sit in its page cache.
        let (lo, hi) = (
            before.memory_usage_bytes.min(after.memory_usage_bytes),
            before.memory_usage_bytes.max(after.memory_usage_bytes),
        );
        assert!(
            ours.memory_usage_bytes >= lo * 3 / 4 && ours.memory_usage_bytes <= hi * 5 / 4,
            "memory {} vs {lo}..{hi}",
            ours.memory_usage_bytes
        );
        assert!(ours.memory_usage_bytes >= 8 * MIB, "{ours:?}");

        host.stop_container(&id, Duration::from_secs(1))
            .await
            .unwrap();
        let stopped = host.stats_once(&id).await.unwrap_err();
        let engine_says = engine.stats_once(&id).await.unwrap_err();
        assert_eq!(stopped.to_string(), engine_says.to_string());
        host.remove_container(&id, true).await.unwrap();
        assert!(host.stats_once(&id).await.unwrap_err().is_not_found());
    })
    .await;
}
