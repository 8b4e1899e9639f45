//! P4 live limit update: `platform.services().update` changing only a running app's resources
//! (memory, CPU, pids) — permission check, diff, quota resize in the store, the engine's live
//! `update`, records — next to a raw bollard `update_container` of a plain container with
//! the same limits. Goal: no restart, p50 < 100 ms.
//!
//! ```text
//! cargo bench -p caas-benches --bench live_update      # about half a minute
//! ```
//!
//! 30 timed updates per side (after 3 untimed each), alternating, between two sets of limits
//! (so every update changes something). The bench asserts the hard part of the goal: every
//! update was applied live, the container is the same one, started at the same time and
//! never restarted, and it runs with the last limits. Over a SQLite file store
//! (`CAAS_BENCH_STORE=memory` for the in-memory one). Needs the Docker engine and busybox
//! image of `scripts/test-env.sh`; without them it says why and exits 0 (fails in CI).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::container::{Config, CreateContainerOptions, UpdateContainerOptions};
use bollard::models::HostConfig;
use caas_benches::{Figure, Goal, median, ms, percentile};
use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::{ResourceLimits, ServiceSpec};
use caas_core::platform::{ApplyMode, DeployApp, ServiceUpdate};
use caas_core::ports::runtime::LabelSelector;
use caas_core::units::MIB;
use caas_core::validate::ImageRef;
use caas_core::{ContainerRuntime, Platform, Store};
use caas_core::{ProjectRef, ServiceRef};
use caas_sqlite::SqliteStore;

const RUNS: usize = 30;
const WARMUP: usize = 3;
const GOAL: (&str, &str, &str) = ("P4", "live limit update p50", "no restart, p50 < 100 ms");

fn limits(i: usize) -> ResourceLimits {
    if i % 2 == 0 {
        ResourceLimits {
            cpu_millis: 200,
            memory_bytes: 96 * MIB,
            pids: 128,
        }
    } else {
        ResourceLimits {
            cpu_millis: 100,
            memory_bytes: 64 * MIB,
            pids: 64,
        }
    }
}

async fn store(dir: &std::path::Path) -> Arc<dyn Store> {
    if std::env::var("CAAS_BENCH_STORE").as_deref() == Ok("memory") {
        return Arc::new(InMemoryStore::new());
    }
    let s = SqliteStore::open(dir.join("caas.db").to_str().unwrap())
        .await
        .unwrap();
    s.migrate().await.unwrap();
    Arc::new(s)
}

fn main() {
    let rt = caas_benches::tokio_runtime();
    rt.block_on(async move {
        let Some((docker, image)) = caas_benches::docker(&[GOAL]).await else {
            return;
        };
        let client = docker.client().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let instance = format!("upd{}", caas_testkit::env::run_id());
        let platform = Platform::builder()
            .store(store(dir.path()).await)
            .runtime(Arc::new(docker.clone()))
            .instance(instance.clone())
            .build()
            .unwrap();
        let tenant = caas_testkit::platform::seed_tenant(
            &platform,
            caas_testkit::platform::test_limits(),
            "p",
        )
        .await;
        let (who, org) = (&tenant.admin, tenant.org.as_str());
        let mut spec = ServiceSpec::new(ImageRef::parse(&image).unwrap());
        spec.command = Some(vec!["sleep".into(), "3600".into()]);
        spec.resources = limits(1);
        let svc = platform
            .services()
            .deploy_app(who, &ProjectRef::new(org, "p"), DeployApp::new("app", spec))
            .await
            .unwrap();
        let sel = LabelSelector::managed().with(labels::SERVICE, svc.id);
        let before = docker.list_containers(&sel).await.unwrap();
        assert_eq!(before.len(), 1);
        let before = docker
            .inspect_container_opt(&before[0].id)
            .await
            .unwrap()
            .unwrap();

        // The baseline's plain container.
        let l = limits(1);
        let raw = client
            .create_container(
                Some(CreateContainerOptions {
                    name: format!("caas-{instance}-raw"),
                    platform: None,
                }),
                Config {
                    image: Some(image.clone()),
                    cmd: Some(vec!["sleep".to_string(), "3600".to_string()]),
                    labels: Some(
                        [
                            (labels::MANAGED.to_string(), "true".to_string()),
                            (labels::INSTANCE.to_string(), instance.clone()),
                        ]
                        .into(),
                    ),
                    host_config: Some(HostConfig {
                        memory: Some(l.memory_bytes as i64),
                        memory_swap: Some(l.memory_bytes as i64),
                        nano_cpus: Some(l.cpu_millis as i64 * 1_000_000),
                        pids_limit: Some(l.pids as i64),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .id;
        client.start_container::<String>(&raw, None).await.unwrap();

        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for i in 0..WARMUP + RUNS {
            let mut u = ServiceUpdate::default();
            u.resources = Some(limits(i));
            let t = Instant::now();
            let r = platform
                .services()
                .update(who, &ServiceRef::new(org, "p", "app"), u, false)
                .await
                .unwrap();
            let o = t.elapsed();
            assert_eq!(r.mode, ApplyMode::Live, "update {i} was applied live");
            let l = limits(i);
            let t = Instant::now();
            client
                .update_container(
                    &raw,
                    UpdateContainerOptions::<String> {
                        memory: Some(l.memory_bytes as i64),
                        memory_swap: Some(l.memory_bytes as i64),
                        nano_cpus: Some(l.cpu_millis as i64 * 1_000_000),
                        pids_limit: Some(l.pids as i64),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let b = t.elapsed();
            if i >= WARMUP {
                ours.push(o);
                theirs.push(b);
            }
        }

        // No restart: the same container, started once, running the last limits.
        let after = docker.list_containers(&sel).await.unwrap();
        assert_eq!(after.len(), 1);
        let after = docker
            .inspect_container_opt(&after[0].id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.id, before.id, "the same container");
        assert_eq!(after.started_at, before.started_at, "never restarted");
        assert_eq!(after.restart_count, 0, "never restarted");
        assert_eq!(
            after.limits,
            limits(WARMUP + RUNS - 1),
            "the last limits apply"
        );

        let (o, b) = (median(&ours), median(&theirs));
        eprintln!(
            "P4 p90: ours {}, raw {}",
            ms(percentile(&ours, 90.0)),
            ms(percentile(&theirs, 90.0))
        );
        Figure {
            id: "P4".into(),
            what: "live limit update p50".into(),
            ours: format!("{} (same container, 0 restarts)", ms(o)),
            baseline_name: "raw bollard update".into(),
            baseline: ms(b),
            ratio: o.as_secs_f64() / b.as_secs_f64(),
            goal: Goal::Property {
                text: "no restart, p50 < 100 ms".into(),
                met: o < Duration::from_millis(100),
            },
        }
        .print();

        let sel = LabelSelector::managed().with(labels::INSTANCE, &instance);
        for c in docker.list_containers(&sel).await.unwrap_or_default() {
            let _ = docker.remove_container(&c.id, true).await;
        }
        for n in docker.list_networks(&sel).await.unwrap_or_default() {
            let _ = docker.remove_network(&n.name).await;
        }
    });
}
