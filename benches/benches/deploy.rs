//! P1 deploy p50 and P7 twenty parallel deploys per second, on the real Docker engine.
//!
//! Ours is `platform.services().deploy_app` of a busybox app (`sleep`) with a volume of its own,
//! over a SQLite file store (the reference server's default; `CAAS_BENCH_STORE=memory` for the
//! in-memory one): permission check, quota reserved in the store, service and deployment records,
//! the project network ensured, the volume created, image present, container created and started,
//! quota committed, records updated, event written. The baseline is raw bollard
//! `create_container` + `start_container` of the same image and command with the same limits,
//! capabilities, restart policy and a user-defined network — what a program talking to the engine
//! directly does to run the same container.
//!
//! ```text
//! cargo bench -p caas-benches --bench deploy              # about two minutes
//! cargo bench -p caas-benches --bench deploy -- p1        # only P1 (or p7)
//! cargo bench -p caas-benches --bench deploy -- profile   # where a deploy's time goes
//! ```
//!
//! P1: 31 timed deploys per side (after 2 untimed each), alternating one by one; the p50s
//! are compared (`ratio = ours / raw`, goal <= 1.10). P7: three rounds, alternating, of 20
//! deploys started at once on each side; deploys/s is 20 / the round's wall time, and the
//! medians are compared (`ratio = ours / raw`, goal >= 0.8). Everything is removed, untimed,
//! between rounds and at the end. Needs the Docker engine and busybox image of
//! `scripts/test-env.sh`; without them it says why and exits 0 (fails in CI).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::{Config, CreateContainerOptions, RemoveContainerOptions};
use bollard::models::{HostConfig, RestartPolicy as DockerRestart, RestartPolicyNameEnum};
use bollard::network::CreateNetworkOptions;
use caas_benches::{Figure, Goal, median, median_f64, ms, percentile};
use caas_core::labels;
use caas_core::memory::{InMemoryStore, RuntimeOp};
use caas_core::model::{PlanLimits, ServiceSpec, VolumeMount};
use caas_core::platform::{DeleteOptions, DeployApp};
use caas_core::ports::runtime::LabelSelector;
use caas_core::units::{GIB, MIB};
use caas_core::validate::{ImageRef, Name};
use caas_core::{ContainerRuntime, Platform, Principal, Store};
use caas_core::{ProjectRef, ServiceRef};
use caas_docker::DockerRuntime;
use caas_sqlite::SqliteStore;

const P1_RUNS: usize = 31;
const P1_WARMUP: usize = 2;
const PARALLEL: usize = 20;
const P7_ROUNDS: usize = 3;
const MEMORY: u64 = 32 * MIB;
const CPU_MILLIS: u64 = 100;
const PIDS: u64 = 64;
/// A round of parallel deploys not done by then is a bug, not a figure.
const STUCK: Duration = Duration::from_secs(120);

const GOALS: [(&str, &str, &str); 2] = [
    ("P1", "deploy p50", "<= 1.10"),
    ("P7", "20 parallel deploys per second", ">= 0.80"),
];

struct Bench {
    platform: Platform,
    docker: DockerRuntime,
    client: Docker,
    admin: Principal,
    org: String,
    instance: String,
    image: String,
    raw_network: String,
}

impl Bench {
    fn app(&self, name: &str) -> DeployApp {
        let mut spec = ServiceSpec::new(ImageRef::parse(&self.image).unwrap());
        spec.command = Some(vec!["sleep".into(), "3600".into()]);
        spec.resources.memory_bytes = MEMORY;
        spec.resources.cpu_millis = CPU_MILLIS;
        spec.resources.pids = PIDS;
        spec.volumes.push(VolumeMount {
            volume: Name::parse(format!("{name}-data")).unwrap(),
            target: "/data".into(),
            read_only: false,
            size_bytes: 64 * MIB,
        });
        DeployApp::new(name, spec)
    }

    async fn ours(&self, name: &str) -> Duration {
        let app = self.app(name);
        let t = Instant::now();
        self.platform
            .services()
            .deploy_app(&self.admin, &ProjectRef::new(&self.org, "p"), app)
            .await
            .unwrap_or_else(|e| panic!("deploy {name}: {e}"));
        t.elapsed()
    }

    /// Raw bollard: the same container as the platform runs, minus the volume.
    async fn raw(&self, name: &str) -> Duration {
        self.raw_with(name, false).await
    }

    /// As [`Bench::raw`]; with `volume`, a new named volume at `/data` as well (the engine
    /// creates it), for the profile.
    async fn raw_with(&self, name: &str, volume: bool) -> Duration {
        let config = Config {
            image: Some(self.image.clone()),
            cmd: Some(vec!["sleep".to_string(), "3600".to_string()]),
            labels: Some(
                [
                    (labels::MANAGED.to_string(), "true".to_string()),
                    (labels::INSTANCE.to_string(), self.instance.clone()),
                ]
                .into(),
            ),
            host_config: Some(HostConfig {
                memory: Some(MEMORY as i64),
                memory_swap: Some(MEMORY as i64),
                nano_cpus: Some(CPU_MILLIS as i64 * 1_000_000),
                pids_limit: Some(PIDS as i64),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges:true".into()]),
                network_mode: Some(self.raw_network.clone()),
                mounts: volume.then(|| {
                    vec![bollard::models::Mount {
                        target: Some("/data".into()),
                        source: Some(format!("caas-{}-raw-{name}-data", self.instance)),
                        typ: Some(bollard::models::MountTypeEnum::VOLUME),
                        volume_options: Some(bollard::models::MountVolumeOptions {
                            labels: Some(
                                [
                                    (labels::MANAGED.to_string(), "true".to_string()),
                                    (labels::INSTANCE.to_string(), self.instance.clone()),
                                ]
                                .into(),
                            ),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]
                }),
                restart_policy: Some(DockerRestart {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let t = Instant::now();
        let id = self
            .client
            .create_container(
                Some(CreateContainerOptions {
                    name: format!("caas-{}-raw-{name}", self.instance),
                    platform: None,
                }),
                config,
            )
            .await
            .unwrap()
            .id;
        self.client
            .start_container::<String>(&id, None)
            .await
            .unwrap();
        t.elapsed()
    }

    /// Removes, untimed, the platform's services (with their volumes) and the raw containers.
    async fn clear(&self) {
        for s in self
            .platform
            .services()
            .list(&self.admin, &ProjectRef::new(&self.org, "p"))
            .await
            .unwrap()
        {
            self.platform
                .services()
                .delete(
                    &self.admin,
                    &ServiceRef::new(&self.org, "p", s.name.as_str()),
                    DeleteOptions::with_volumes(),
                )
                .await
                .unwrap();
        }
        let sel = LabelSelector::managed().with(labels::INSTANCE, &self.instance);
        for c in self.docker.list_containers(&sel).await.unwrap() {
            self.client
                .remove_container(
                    &c.id,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await
                .unwrap();
        }
    }

    async fn cleanup(&self) {
        self.clear().await;
        let sel = LabelSelector::managed().with(labels::INSTANCE, &self.instance);
        for n in self.docker.list_networks(&sel).await.unwrap_or_default() {
            let _ = self.docker.remove_network(&n.name).await;
        }
        for v in self.docker.list_volumes(&sel).await.unwrap_or_default() {
            let _ = self.docker.remove_volume(&v.name).await;
        }
    }
}

async fn store(dir: &std::path::Path) -> (Arc<dyn Store>, &'static str) {
    match std::env::var("CAAS_BENCH_STORE").as_deref() {
        Ok("memory") => (Arc::new(InMemoryStore::new()), "in-memory store"),
        _ => {
            let s = SqliteStore::open(dir.join("caas.db").to_str().unwrap())
                .await
                .unwrap();
            s.migrate().await.unwrap();
            (Arc::new(s), "SQLite file store")
        }
    }
}

async fn p1(b: &Bench) {
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for i in 0..P1_WARMUP + P1_RUNS {
        let o = b.ours(&format!("s{i}")).await;
        let r = b.raw(&format!("s{i}")).await;
        if i >= P1_WARMUP {
            ours.push(o);
            raw.push(r);
        }
    }
    let (o, r) = (median(&ours), median(&raw));
    eprintln!(
        "P1 p90: ours {}, raw {}",
        ms(percentile(&ours, 90.0)),
        ms(percentile(&raw, 90.0))
    );
    Figure {
        id: "P1".into(),
        what: "deploy p50".into(),
        ours: ms(o),
        baseline_name: "raw bollard create+start".into(),
        baseline: ms(r),
        ratio: o.as_secs_f64() / r.as_secs_f64(),
        goal: Goal::RatioAtMost(1.10),
    }
    .print();
}

/// Waits for every task, panicking with the names of those not done after [`STUCK`].
async fn join_all(what: &str, tasks: Vec<(String, tokio::task::JoinHandle<Duration>)>) {
    let deadline = tokio::time::Instant::now() + STUCK;
    let mut stuck = Vec::new();
    for (name, task) in tasks {
        match tokio::time::timeout_at(deadline, task).await {
            Ok(r) => {
                r.unwrap();
            }
            Err(_) => stuck.push(name),
        }
    }
    assert!(
        stuck.is_empty(),
        "{what}: {} deploys not done after {STUCK:?}: {stuck:?}",
        stuck.len()
    );
}

async fn p7(b: &Arc<Bench>) {
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for round in 0..P7_ROUNDS {
        b.clear().await;
        let t = Instant::now();
        let tasks: Vec<_> = (0..PARALLEL)
            .map(|i| {
                let (b, name) = (b.clone(), format!("r{round}-{i}"));
                (
                    name.clone(),
                    tokio::spawn(async move { b.ours(&name).await }),
                )
            })
            .collect();
        join_all("ours", tasks).await;
        ours.push(PARALLEL as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let tasks: Vec<_> = (0..PARALLEL)
            .map(|i| {
                let (b, name) = (b.clone(), format!("r{round}-{i}"));
                (
                    name.clone(),
                    tokio::spawn(async move { b.raw(&name).await }),
                )
            })
            .collect();
        join_all("raw", tasks).await;
        raw.push(PARALLEL as f64 / t.elapsed().as_secs_f64());
        eprintln!(
            "P7 round {round}: ours {:.1} deploys/s, raw {:.1} deploys/s",
            ours[round], raw[round]
        );
    }
    let (o, r) = (median_f64(&ours), median_f64(&raw));
    Figure {
        id: "P7".into(),
        what: format!("{PARALLEL} parallel deploys per second"),
        ours: format!("{o:.1} deploys/s"),
        baseline_name: "raw bollard create+start".into(),
        baseline: format!("{r:.1} deploys/s"),
        ratio: o / r,
        goal: Goal::RatioAtLeast(0.8),
    }
    .print();
}

/// The instants of the runtime calls of a deploy, noted by the hook of `profile`.
type Marks = Arc<std::sync::Mutex<Vec<(RuntimeOp, Instant)>>>;

/// A runtime on `docker` that notes every call the platform makes in `marks`.
fn marked(docker: &DockerRuntime, marks: &Marks) -> Arc<dyn ContainerRuntime> {
    let marks = marks.clone();
    let hook: caas_testkit::hooked::Hook = Arc::new(move |op| {
        marks.lock().unwrap().push((op, Instant::now()));
        Box::pin(async {})
    });
    let ops = [
        RuntimeOp::CreateContainer,
        RuntimeOp::StartContainer,
        RuntimeOp::InspectContainer,
        RuntimeOp::ListContainers,
        RuntimeOp::CreateNetwork,
        RuntimeOp::InspectNetwork,
        RuntimeOp::CreateVolume,
        RuntimeOp::InspectVolume,
        RuntimeOp::ImagePresent,
        RuntimeOp::PullImage,
    ];
    Arc::new(caas_testkit::hooked::HookedRuntime::new(
        Arc::new(docker.clone()),
        &ops,
        hook,
    ))
}

/// `cargo bench --bench deploy -- profile`: where one deploy's time goes. The platform runs on
/// the same engine through a runtime that notes the instant of every call ([`marked`]); each
/// segment is the time from one call to the next (the call itself, and the platform's store
/// work after it), medians over [`P1_RUNS`] deploys.
async fn profile(b: &Bench, marks: &Marks) {
    let mut segments: Vec<Vec<(String, Duration)>> = Vec::new();
    for i in 0..P1_WARMUP + P1_RUNS {
        marks.lock().unwrap().clear();
        let t0 = Instant::now();
        b.ours(&format!("prof{i}")).await;
        let end = Instant::now();
        let noted = marks.lock().unwrap().clone();
        let mut run = Vec::new();
        let mut prev = ("permission, quota, records".to_string(), t0);
        for (op, at) in noted {
            run.push((prev.0, at - prev.1));
            prev = (format!("{op:?} and after"), at);
        }
        run.push((prev.0, end - prev.1));
        if i >= P1_WARMUP {
            segments.push(run);
        }
    }
    let total: Vec<Duration> = segments
        .iter()
        .map(|r| r.iter().map(|s| s.1).sum())
        .collect();
    let (mut plain, mut with_volume) = (Vec::new(), Vec::new());
    for i in 0..P1_WARMUP + P1_RUNS {
        let p = b.raw_with(&format!("prof{i}"), false).await;
        let v = b.raw_with(&format!("profv{i}"), true).await;
        if i >= P1_WARMUP {
            plain.push(p);
            with_volume.push(v);
        }
    }
    eprintln!(
        "raw bollard create+start p50: {}; with a new named volume at /data: {}",
        ms(median(&plain)),
        ms(median(&with_volume))
    );
    eprintln!(
        "deploy profile: p50 {} over {} deploys",
        ms(median(&total)),
        segments.len()
    );
    for (k, (name, _)) in segments[0].iter().enumerate() {
        let d: Vec<Duration> = segments
            .iter()
            .filter_map(|r| r.get(k).map(|s| s.1))
            .collect();
        eprintln!("  {:>9}  {name}", ms(median(&d)));
    }
}

fn main() {
    caas_benches::log_from_env();
    // `cargo bench --bench deploy -- p7` runs only P7 (and `p1` only P1).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parts = ["p1", "p7", "profile"];
    let only = |p: &str| {
        if args.iter().any(|a| parts.contains(&a.as_str())) {
            args.iter().any(|a| a == p)
        } else {
            p != "profile"
        }
    };
    let rt = caas_benches::tokio_runtime();
    rt.block_on(async move {
        let Some((docker, image)) = caas_benches::docker(&GOALS).await else {
            return;
        };
        let client = docker.client().unwrap();
        let marks = Marks::default();
        let dir = tempfile::tempdir().unwrap();
        let (store, store_name) = store(dir.path()).await;
        let instance = format!("dep{}", caas_testkit::env::run_id());
        let platform = Platform::builder()
            .store(store)
            .runtime(if only("profile") {
                marked(&docker, &marks)
            } else {
                Arc::new(docker.clone())
            })
            .instance(instance.clone())
            .build()
            .unwrap();
        let tenant = caas_testkit::platform::seed_tenant(
            &platform,
            PlanLimits {
                cpu_millis: 1_000_000,
                memory_bytes: 1024 * GIB,
                storage_bytes: 1024 * GIB,
                max_containers: 1000,
                max_projects: 2,
                max_domains: 20,
                max_pids: 1024,
                backup_storage_bytes: 10 * 1024 * 1024 * 1024,
            },
            "p",
        )
        .await;
        let raw_network = format!("caas-{instance}-raw");
        client
            .create_network(CreateNetworkOptions {
                name: raw_network.clone(),
                driver: "bridge".into(),
                labels: [
                    (labels::MANAGED.to_string(), "true".to_string()),
                    (labels::INSTANCE.to_string(), instance.clone()),
                ]
                .into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let bench = Arc::new(Bench {
            platform,
            docker,
            client,
            admin: tenant.admin,
            org: tenant.org,
            instance,
            image,
            raw_network,
        });
        eprintln!("deploy: ours over the {store_name}");
        if only("p1") {
            p1(&bench).await;
        }
        if only("p7") {
            p7(&bench).await;
        }
        if only("profile") {
            profile(&bench, &marks).await;
        }
        bench.cleanup().await;
    });
}
