//! P2 one stats sweep over 50 running containers: the metrics collector's cycle (list the
//! service containers, one-shot stats of each with bounded concurrency, one batch written)
//! next to `docker stats --no-stream` on the same 50 containers.
//!
//! ```text
//! cargo bench -p caas-benches --bench stats_sweep    # about a minute
//! ```
//!
//! Needs the Docker engine and busybox image of `scripts/test-env.sh`; without them it says
//! why and exits 0. Each side runs five times; the medians are compared:
//!
//! Docker answers a one-shot stats request at the next tick of its per-container stats
//! collector (once a second), so a sweep through the engine's API takes about a second per
//! round of concurrent requests: the collector's concurrency decides the figure.
//!
//! `P2 stats sweep over 50 containers: ours X s, docker stats --no-stream Y s, ratio Z (goal <= 0.25)`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_benches::{Figure, Goal, median};
use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::platform::CollectorConfig;
use caas_core::ports::runtime::{ContainerSpec, LabelSelector};
use caas_core::units::MIB;
use caas_core::{ContainerRuntime, OrgId, Platform, ServiceId};

const CONTAINERS: usize = 50;
const RUNS: usize = 5;

fn main() {
    const GOAL: (&str, &str, &str) = ("P2", "stats sweep over 50 containers", "<= 0.25");
    let rt = caas_benches::tokio_runtime();
    rt.block_on(async move {
        let Some((docker, image)) = caas_benches::docker(&[GOAL]).await else {
            return;
        };
        let instance = format!("sweep{}", caas_testkit::env::run_id());
        let platform = Platform::builder()
            .store(Arc::new(InMemoryStore::new()))
            .runtime(Arc::new(docker.clone()))
            .instance(instance.clone())
            .build()
            .unwrap();
        let org = OrgId::new();
        let mut ids = Vec::new();
        eprintln!("starting {CONTAINERS} containers ...");
        for i in 0..CONTAINERS {
            let mut spec = ContainerSpec::new(format!("caas-{instance}-{i}"), image.clone());
            spec.command = Some(vec!["sleep".into(), "3600".into()]);
            spec.limits.memory_bytes = 16 * MIB;
            spec.limits.cpu_millis = 100;
            for (k, v) in [
                (labels::MANAGED, "true".to_string()),
                (labels::INSTANCE, instance.clone()),
                (labels::KIND, "service".to_string()),
                (labels::ORG, org.to_string()),
                (labels::SERVICE, ServiceId::new().to_string()),
            ] {
                spec.labels.insert(k.to_string(), v);
            }
            let id = docker
                .create_container(&spec)
                .await
                .unwrap()
                .id()
                .to_string();
            docker.start_container(&id).await.unwrap();
            ids.push(id);
        }

        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for _ in 0..RUNS {
            let collector = platform
                .monitoring()
                .collector(CollectorConfig::new(Duration::from_secs(3600), 8));
            let handle = collector.handle();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(collector.run(async {
                let _ = stopped.await;
            }));
            let s = handle.wait_for(|s| s.cycles >= 1).await.unwrap();
            assert_eq!(s.last_cycle_containers, CONTAINERS as u64, "{s:?}");
            ours.push(Duration::from_millis(s.last_cycle_ms));
            let _ = stop.send(());
            let _ = task.await;

            let t = Instant::now();
            let out = std::process::Command::new("docker")
                .args(["stats", "--no-stream"])
                .args(&ids)
                .output()
                .expect("docker stats");
            theirs.push(t.elapsed());
            assert!(out.status.success(), "docker stats failed");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).lines().count(),
                CONTAINERS + 1,
                "one line per container and a header"
            );
        }
        let (o, t) = (median(&ours), median(&theirs));
        Figure {
            id: "P2".into(),
            what: format!("stats sweep over {CONTAINERS} containers"),
            ours: format!("{:.3} s", o.as_secs_f64()),
            baseline_name: "docker stats --no-stream".into(),
            baseline: format!("{:.3} s", t.as_secs_f64()),
            ratio: o.as_secs_f64() / t.as_secs_f64(),
            goal: Goal::RatioAtMost(0.25),
        }
        .print();
        let sel = LabelSelector::managed().with(labels::INSTANCE, &instance);
        for c in docker.list_containers(&sel).await.unwrap_or_default() {
            let _ = docker.remove_container(&c.id, true).await;
        }
    });
}
