//! P8 backup of a 1 GiB volume: `platform.backups().create` (the runtime's whole-volume
//! archive — read from the volume's directory on the host when the engine is local, through
//! the engine's archive API otherwise — zstd, SHA-256, written to a local-directory object
//! store) next to a plain host `tar -cf` of the same volume directory into a file on the same
//! disk.
//!
//! ```text
//! cargo bench -p caas-benches --bench backup     # about a minute, plus filling the volume
//! CAAS_BENCH_BACKUP_MIB=256 cargo bench -p caas-benches --bench backup   # a smaller volume
//! ```
//!
//! Needs the Docker engine and busybox image of `scripts/test-env.sh` (from the environment or
//! `/var/tmp/caas-test-env/env`); without them it says why and exits 0. The volume holds half
//! random (incompressible) and half repetitive (compressible) 1 MiB files. Each side runs
//! three times, alternating, after one untimed warm-up each (the page cache then holds the
//! volume for both); the medians are compared:
//! `P8 backup of a 1024 MiB volume: ours X MiB/s, host tar Y MiB/s, ratio Z (goal >= 0.70)`.
//! Two more lines say where the time goes: the runtime's `read_archive` alone, and the
//! engine's archive API alone (a runtime built with `host_access(false)`), each with its
//! ratio to host tar.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_benches::{Figure, Goal, median};
use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::{PlanLimits, RestartPolicy};
use caas_core::platform::{BackupConfig, BackupRequest, NewVolume};
use caas_core::ports::runtime::{ContainerSpec, ContainerStatus, LabelSelector, Mount};
use caas_core::units::{GIB, MIB};
use caas_core::{ContainerRuntime, Platform};
use caas_docker::DockerRuntime;

const RUNS: usize = 3;

fn mib_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / MIB as f64 / d.as_secs_f64()
}

/// Runs `script` in a one-off container with `volume` at /data until it exits.
async fn run_on(rt: &DockerRuntime, image: &str, instance: &str, volume: &str, script: &str) {
    let mut spec = ContainerSpec::new(format!("caas-bench-{}", caas_testkit::env::run_id()), image);
    spec.command = Some(vec!["sh".into(), "-c".into(), script.into()]);
    spec.mounts = vec![Mount {
        volume: volume.into(),
        target: "/data".into(),
        read_only: false,
    }];
    spec.limits.memory_bytes = 512 * MIB;
    spec.limits.cpu_millis = 2000;
    spec.labels.insert(labels::MANAGED.into(), "true".into());
    spec.labels.insert(labels::INSTANCE.into(), instance.into());
    spec.restart_policy = RestartPolicy::No;
    let id = rt.create_container(&spec).await.unwrap().id().to_string();
    rt.start_container(&id).await.unwrap();
    loop {
        let info = rt.inspect_container_opt(&id).await.unwrap().unwrap();
        if info.status == ContainerStatus::Exited {
            assert_eq!(info.exit_code, Some(0), "filling the volume failed");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rt.remove_container(&id, true).await.unwrap();
}

fn host_tar(dir: &str, out: &std::path::Path) -> Duration {
    let t = Instant::now();
    let status = std::process::Command::new("tar")
        .args(["-C", dir, "-cf"])
        .arg(out)
        .arg(".")
        .status()
        .expect("host tar runs");
    let d = t.elapsed();
    assert!(status.success(), "host tar failed");
    std::fs::remove_file(out).unwrap();
    d
}

/// Reads the whole volume through `rt.read_archive` `RUNS` times; the median.
async fn read_whole(rt: &DockerRuntime, volume: &str, at_least: u64) -> Duration {
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut s = rt.read_archive(volume, "/").await.unwrap();
        let mut n = 0u64;
        while let Some(chunk) = futures::StreamExt::next(&mut s).await {
            n += chunk.unwrap().len() as u64;
        }
        assert!(n >= at_least, "the archive holds the volume ({n} bytes)");
        runs.push(t.elapsed());
    }
    median(&runs)
}

fn main() {
    let mib = caas_benches::env_number("CAAS_BENCH_BACKUP_MIB", 1024);
    let what = format!("backup of a {mib} MiB volume");
    let goal = ("P8", what.as_str(), ">= 0.70");
    let rt = caas_benches::tokio_runtime();
    rt.block_on(async {
        let Some((docker, image)) = caas_benches::docker(&[goal]).await else {
            return;
        };
        // The same engine with the host paths off: archives through the engine's API.
        let through_api = DockerRuntime::builder()
            .connection(docker.connection().clone())
            .helper_image(image.clone())
            .host_access(false)
            .build()
            .await
            .expect("the Docker engine");
        let instance = format!("bench{}", caas_testkit::env::run_id());
        let dir = tempfile::tempdir().unwrap();
        let objects =
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let platform = Platform::builder()
            .store(Arc::new(InMemoryStore::new()))
            .runtime(Arc::new(docker.clone()))
            .instance(instance.clone())
            .backups(BackupConfig::new(objects))
            .build()
            .unwrap();
        let tenant = caas_testkit::platform::seed_tenant(
            &platform,
            PlanLimits {
                cpu_millis: 4000,
                memory_bytes: 4 * GIB,
                storage_bytes: 4 * mib * MIB,
                max_containers: 4,
                max_projects: 1,
                max_domains: 20,
                max_pids: 1024,
                backup_storage_bytes: 10 * 1024 * 1024 * 1024,
            },
            "p",
        )
        .await;
        let (who, org) = (&tenant.admin, tenant.org.as_str());
        let v = platform
            .volumes().create(who, org, NewVolume::new("p", "data", 2 * mib * MIB))
            .await
            .unwrap()
            .volume;
        let half = mib / 2;
        eprintln!("filling a volume with {mib} MiB ...");
        run_on(
            &docker,
            &image,
            &instance,
            &v.runtime_name,
            &format!(
                "set -e; mkdir -p /data/random /data/text
                 for i in $(seq 1 {half}); do dd if=/dev/urandom of=/data/random/$i bs=1048576 count=1 2>/dev/null; done
                 yes 'the quick brown fox jumps over the lazy dog' | head -c 1048576 > /data/text/1
                 for i in $(seq 2 {}); do cp /data/text/1 /data/text/$i; done",
                mib - half
            ),
        )
        .await;
        let mountpoint = String::from_utf8(
            std::process::Command::new("docker")
                .args(["volume", "inspect", "-f", "{{.Mountpoint}}", &v.runtime_name])
                .output()
                .expect("docker volume inspect")
                .stdout,
        )
        .unwrap()
        .trim()
        .to_string();
        let tar_out = dir.path().join("plain.tar");
        // The runtime's archive alone (read from the host when it can), and the engine's
        // archive API alone (what any backup through the engine reads through).
        let archive = read_whole(&docker, &v.runtime_name, mib * MIB).await;
        let engine = read_whole(&through_api, &v.runtime_name, mib * MIB).await;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let mut stored = 0;
        for run in 0..=RUNS {
            let t = Instant::now();
            let b = platform
                .backups().create(who, org, "data", BackupRequest::default())
                .await
                .unwrap();
            let d = t.elapsed();
            assert!(b.error.is_none(), "{:?}", b.error);
            stored = b.size_bytes.unwrap();
            platform
                .backups().delete(who, org, &b.id.to_string())
                .await
                .unwrap();
            let h = host_tar(&mountpoint, &tar_out);
            if run > 0 {
                ours.push(d);
                theirs.push(h);
            }
        }
        let bytes = mib * MIB;
        let (o, h) = (median(&ours), median(&theirs));
        let rate = |d: Duration| format!("{:.0} MiB/s ({:.2} s)", mib_per_s(bytes, d), d.as_secs_f64());
        Figure {
            id: "P8".into(),
            what: what.clone(),
            ours: format!("{}, stored {:.0} MiB", rate(o), stored as f64 / MIB as f64),
            baseline_name: "host tar".into(),
            baseline: rate(h),
            ratio: h.as_secs_f64() / o.as_secs_f64(),
            goal: Goal::RatioAtLeast(0.7),
        }
        .print();
        println!(
            "P8 the runtime's read_archive alone reads {}: ratio {:.2} vs host tar",
            rate(archive),
            h.as_secs_f64() / archive.as_secs_f64()
        );
        println!(
            "P8 the engine's archive API alone (host_access(false)) reads {}: ratio {:.2} vs host tar",
            rate(engine),
            h.as_secs_f64() / engine.as_secs_f64()
        );
        platform
            .volumes().delete(who, org, "data", true)
            .await
            .unwrap();
        let sel = LabelSelector::managed().with(labels::INSTANCE, &instance);
        for c in docker.list_containers(&sel).await.unwrap_or_default() {
            let _ = docker.remove_container(&c.id, true).await;
        }
    });
}
