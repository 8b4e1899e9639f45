//! A dockerd restart in the middle of a deploy, on the real engine. This file holds a single
//! test so that no other test of this binary runs while the daemon is down (cargo runs test
//! binaries one after another).
//!
//! The deploy is held right after its container was created; the daemon is stopped (SIGTERM)
//! and started again through the project's provisioning script. Either the deploy then
//! completes, or it fails and the reconciler removes what it left: no orphan, never two
//! containers for one deployment, quota consistent.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_core::ProjectRef;
use caas_core::labels;
use caas_core::memory::{InMemoryStore, RuntimeOp};
use caas_core::model::{PlanLimits, ServiceSpec};
use caas_core::platform::DeployApp;
use caas_core::ports::runtime::LabelSelector;
use caas_core::units::GIB;
use caas_core::validate::ImageRef;
use caas_core::{ContainerRuntime, ManualClock, Platform};
use caas_testkit::env;
use caas_testkit::hooked::HookedRuntime;
use tokio::sync::mpsc;

fn docker_up() -> bool {
    std::process::Command::new("docker")
        .arg("info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn stop_dockerd() {
    let pid = std::fs::read_to_string("/var/run/docker.pid").expect("dockerd pid file");
    let ok = std::process::Command::new("kill")
        .args(["-TERM", pid.trim()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "could not signal dockerd");
    // Wait for the process itself to exit, not just for the API to go quiet.
    let proc_dir = format!("/proc/{}", pid.trim());
    let deadline = Instant::now() + Duration::from_secs(90);
    while docker_up() || std::path::Path::new(&proc_dir).exists() {
        assert!(Instant::now() < deadline, "dockerd did not stop");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn start_dockerd() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/test-env.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success() && docker_up(),
        "scripts/test-env.sh could not bring dockerd back: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

struct Harness {
    platform: Platform,
    runtime: Arc<dyn ContainerRuntime>,
    clock: Arc<ManualClock>,
    admin: caas_core::Principal,
    slug: String,
    instance: String,
}

async fn harness(
    real: Arc<dyn ContainerRuntime>,
    image: &str,
    paused: mpsc::Sender<()>,
    resume: Arc<tokio::sync::Mutex<mpsc::Receiver<()>>>,
) -> (Harness, DeployApp) {
    let hook: caas_testkit::hooked::Hook = Arc::new(move |_op| {
        let paused = paused.clone();
        let resume = resume.clone();
        Box::pin(async move {
            let _ = paused.send(()).await;
            let _ = resume.lock().await.recv().await;
        })
    });
    let hooked = Arc::new(HookedRuntime::new(
        real.clone(),
        &[RuntimeOp::StartContainer],
        hook,
    ));
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let instance = format!("t{}", env::run_id());
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(hooked)
        .clock(clock.clone())
        .instance(instance.clone())
        .stop_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let tenant = caas_testkit::platform::seed_tenant(
        &platform,
        PlanLimits {
            cpu_millis: 2000,
            memory_bytes: 2 * GIB,
            storage_bytes: 10 * GIB,
            max_containers: 5,
            max_projects: 2,
            max_domains: 20,
            max_pids: 1024,
            backup_storage_bytes: 10 * 1024 * 1024 * 1024,
        },
        "web",
    )
    .await;
    let (admin, slug) = (tenant.admin.clone(), tenant.org.clone());
    let mut spec = ServiceSpec::new(ImageRef::parse(image).unwrap());
    spec.command = Some(vec!["sleep".into(), "3600".into()]);
    (
        Harness {
            platform,
            runtime: real,
            clock,
            admin,
            slug,
            instance,
        },
        DeployApp::new("app", spec),
    )
}

async fn assert_consistent(h: &Harness, case: &str) {
    h.clock.advance(chrono::Duration::minutes(15));
    let report = h.platform.reconcile().await.unwrap();
    assert!(report.errors.is_empty(), "{case}: {report:?}");
    let containers = h
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::INSTANCE, &h.instance))
        .await
        .unwrap();
    let services = h
        .platform
        .services()
        .list(&h.admin, &ProjectRef::new(&h.slug, "web"))
        .await
        .unwrap();
    let usage = h.platform.orgs().usage(&h.admin, &h.slug).await.unwrap();
    match services.as_slice() {
        [] => {
            assert!(containers.is_empty(), "{case}: orphans {containers:?}");
            assert_eq!(usage.committed.containers, 0, "{case}");
        }
        [svc] => {
            assert_eq!(containers.len(), 1, "{case}: {containers:?}");
            assert_eq!(
                containers[0].labels[labels::DEPLOYMENT],
                svc.current_deployment.unwrap().to_string(),
                "{case}"
            );
            assert_eq!(usage.committed.containers, 1, "{case}");
        }
        _ => panic!("{case}: two services"),
    }
    assert!(usage.pending.is_zero(), "{case}: {usage:?}");
    assert!(
        h.platform.reconcile().await.unwrap().is_clean(),
        "{case}: second pass"
    );
    // Clean up what this case made.
    for c in containers {
        let _ = h.runtime.remove_container(&c.id, true).await;
    }
    for n in h
        .runtime
        .list_networks(&LabelSelector::managed().with(labels::INSTANCE, &h.instance))
        .await
        .unwrap()
    {
        let _ = h.runtime.remove_network(&n.name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dockerd_restart_in_the_middle_of_a_deploy_leaves_nothing_unexplained() {
    let Some((rt, image)) = common::docker().await else {
        return;
    };
    let real: Arc<dyn ContainerRuntime> = Arc::new(rt);

    // Case 1: the daemon restarts while the deploy waits; the deploy then finishes.
    {
        let (ptx, mut prx) = mpsc::channel(1);
        let (rtx, rrx) = mpsc::channel(1);
        let (h, app) = harness(
            real.clone(),
            &image,
            ptx,
            Arc::new(tokio::sync::Mutex::new(rrx)),
        )
        .await;
        let p = h.platform.clone();
        let (admin, slug) = (h.admin.clone(), h.slug.clone());
        let deploy = tokio::spawn(async move {
            p.services()
                .deploy_app(&admin, &ProjectRef::new(&slug, "web"), app)
                .await
        });
        prx.recv().await.expect("deploy reached start");
        tokio::task::spawn_blocking(|| {
            stop_dockerd();
            start_dockerd();
        })
        .await
        .unwrap();
        rtx.send(()).await.unwrap();
        let outcome = deploy.await.unwrap();
        assert!(outcome.is_ok(), "deploy after the restart: {outcome:?}");
        assert_consistent(&h, "restart while paused").await;
    }

    // Case 2: the deploy continues while the daemon is down; it fails, and what it left is
    // cleaned up once the daemon is back.
    {
        let (ptx, mut prx) = mpsc::channel(1);
        let (rtx, rrx) = mpsc::channel(1);
        let (h, app) = harness(
            real.clone(),
            &image,
            ptx,
            Arc::new(tokio::sync::Mutex::new(rrx)),
        )
        .await;
        let p = h.platform.clone();
        let (admin, slug) = (h.admin.clone(), h.slug.clone());
        let deploy = tokio::spawn(async move {
            p.services()
                .deploy_app(&admin, &ProjectRef::new(&slug, "web"), app)
                .await
        });
        prx.recv().await.expect("deploy reached start");
        tokio::task::spawn_blocking(stop_dockerd).await.unwrap();
        rtx.send(()).await.unwrap();
        let outcome = deploy.await.unwrap();
        let err = outcome.expect_err("the daemon is down");
        assert!(err.is_unavailable(), "{err}");
        tokio::task::spawn_blocking(start_dockerd).await.unwrap();
        assert_consistent(&h, "restart after failure").await;
    }
}
