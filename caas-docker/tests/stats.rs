//! Live stats on the real engine: a busy loop limited to half a CPU reads 50 % of one core
//! (100 % of its limit), computed from two one-shot readings.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use caas_core::model::{ResourceLimits, ServiceSpec};
use caas_core::platform::{DeleteOptions, DeployApp};
use caas_core::units::MIB;
use caas_core::validate::ImageRef;

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
        .deploy_app(&admin, &slug, "p", DeployApp::new("busy", spec))
        .await
        .unwrap();
    // Let the loop settle into its CFS quota.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut readings = Vec::new();
    for _ in 0..3 {
        readings.push(platform.service_stats(&admin, &slug, "p", "busy").await);
    }

    // Clean up before asserting, so a failure leaves nothing behind.
    platform
        .delete_project(&admin, &slug, "p", DeleteOptions::default())
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
