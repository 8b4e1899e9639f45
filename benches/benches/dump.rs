//! Logical dump of a PostgreSQL database: `platform.backups().create` with `logical` (pg_dump in
//! the database's container through the runtime's `exec`, zstd, SHA-256, written to a
//! local-directory object store) next to the same pg_dump through `docker exec`, piped into
//! the `zstd` command into a file on the same disk. Not one of the benchmark issue's goals: a
//! figure for docs/backups.md.
//!
//! ```text
//! cargo bench -p caas-benches --bench dump                            # 1,000,000 rows
//! CAAS_BENCH_DUMP_ROWS=200000 cargo bench -p caas-benches --bench dump
//! ```
//!
//! Needs the Docker engine and PostgreSQL image of `scripts/test-env.sh` and the `zstd`
//! command; without them it says why and exits 0. Each side runs three times, alternating,
//! after one untimed warm-up each; the medians are compared:
//! `DUMP logical dump of N rows: ours X MiB/s, docker exec pg_dump | zstd Y MiB/s, ratio Z`
//! (the baseline's time over ours: above 1 is faster than the baseline).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_benches::{Figure, Goal, median};
use caas_core::ProjectRef;
use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::DatabaseEngine;
use caas_core::platform::{
    BackupConfig, BackupRequest, DatabaseImages, DeleteOptions, DeployDatabase,
};
use caas_core::ports::runtime::LabelSelector;
use caas_core::units::MIB;
use caas_core::{ContainerRuntime, Platform};
use futures::StreamExt;

const RUNS: usize = 3;

/// The dump command the platform runs, for the baseline to run the same.
const PG_DUMP: &str = "PGPASSWORD=\"$POSTGRES_PASSWORD\" exec pg_dump \
     --username=\"$POSTGRES_USER\" --dbname=\"$POSTGRES_DB\" \
     --clean --if-exists --no-owner --no-privileges --lock-wait-timeout=120000";

fn main() {
    let rows = caas_benches::env_number("CAAS_BENCH_DUMP_ROWS", 1_000_000);
    let what = format!("logical dump of {rows} rows");
    let goal = ("DUMP", what.as_str(), "report only");
    let rt = caas_benches::tokio_runtime();
    rt.block_on(async {
        let Some((docker, _)) = caas_benches::docker(&[goal]).await else {
            return;
        };
        let Some(pg_image) =
            caas_benches::require("CAAS_TEST_POSTGRES_IMAGE", "the PostgreSQL image", &[goal])
        else {
            return;
        };
        if std::process::Command::new("zstd")
            .arg("--version")
            .output()
            .is_err()
        {
            caas_benches::not_measured(goal.0, goal.1, goal.2, "the zstd command is missing");
            return;
        }
        let instance = format!("bench{}", caas_testkit::env::run_id());
        let dir = tempfile::tempdir().unwrap();
        let objects =
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let runtime: Arc<dyn ContainerRuntime> = Arc::new(docker.clone());
        let platform = Platform::builder()
            .store(Arc::new(InMemoryStore::new()))
            .runtime(runtime.clone())
            .instance(instance.clone())
            .backups(BackupConfig::new(objects))
            .database_images(DatabaseImages::default().with(DatabaseEngine::Postgres, pg_image))
            .build()
            .unwrap();
        let tenant = caas_testkit::platform::seed_tenant(
            &platform,
            caas_testkit::store::generous_limits(),
            "p",
        )
        .await;
        let (who, org) = (&tenant.admin, tenant.org.as_str());
        let db = platform
            .services()
            .deploy_database(
                who,
                &ProjectRef::new(org, "p"),
                DeployDatabase::new("orders", DatabaseEngine::Postgres),
            )
            .await
            .unwrap();
        let volume = db.service.spec.volumes[0].volume.to_string();
        let selector = LabelSelector::managed()
            .with(labels::SERVICE, db.service.id)
            .with(labels::INSTANCE, &instance);
        let container = runtime.list_containers(&selector).await.unwrap()[0]
            .id
            .clone();
        eprintln!("filling the database with {rows} rows ...");
        let fill = format!(
            "CREATE TABLE orders (id bigint PRIMARY KEY, item text, doc jsonb, created timestamptz);
             INSERT INTO orders SELECT g, md5(g::text) || ' item ' || g,
               jsonb_build_object('n', g, 'tag', md5((g * 7)::text)), now() - g * interval '1 s'
             FROM generate_series(1, {rows}) g;"
        );
        let psql = "PGPASSWORD=\"$POSTGRES_PASSWORD\" exec psql -q -v ON_ERROR_STOP=1 \
                    --username=\"$POSTGRES_USER\" --dbname=\"$POSTGRES_DB\"";
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let input = futures::stream::iter([Ok(bytes::Bytes::from(fill.clone()))]).boxed();
            let cmd = vec!["sh".to_string(), "-c".to_string(), psql.to_string()];
            let out = runtime.exec(&container, &cmd, Some(input)).await.unwrap();
            let items: Vec<caas_core::Result<bytes::Bytes>> = out.collect().await;
            match items.into_iter().find_map(|i| i.err()) {
                None => break,
                Some(e) if Instant::now() < deadline => {
                    eprintln!("retrying the fill: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Some(e) => panic!("filling the database: {e}"),
            }
        }
        let out_file = dir.path().join("plain.sql.zst");
        let baseline = || {
            let t = Instant::now();
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "docker exec {container} sh -c '{}' | zstd -q -3 -f -o {}",
                    PG_DUMP.replace('\'', "'\\''"),
                    out_file.display()
                ))
                .status()
                .expect("docker exec");
            assert!(status.success(), "docker exec pg_dump | zstd failed");
            t.elapsed()
        };
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let (mut dumped, mut stored) = (0, 0);
        for run in 0..=RUNS {
            let t = Instant::now();
            let b = platform
                .backups()
                .create(who, org, &volume, BackupRequest::logical())
                .await
                .unwrap();
            let d = t.elapsed();
            assert!(b.error.is_none(), "{:?}", b.error);
            (dumped, stored) = (b.archive_bytes.unwrap(), b.size_bytes.unwrap());
            platform
                .backups()
                .delete(who, org, &b.id.to_string())
                .await
                .unwrap();
            let h = baseline();
            if run > 0 {
                ours.push(d);
                theirs.push(h);
            }
        }
        let (o, h) = (median(&ours), median(&theirs));
        let rate = |d: Duration| {
            format!(
                "{:.0} MiB/s ({:.2} s)",
                dumped as f64 / MIB as f64 / d.as_secs_f64(),
                d.as_secs_f64()
            )
        };
        Figure {
            id: "DUMP".into(),
            what: format!("{what} ({:.0} MiB of SQL)", dumped as f64 / MIB as f64),
            ours: format!("{}, stored {:.0} MiB", rate(o), stored as f64 / MIB as f64),
            baseline_name: "docker exec pg_dump | zstd".into(),
            baseline: rate(h),
            ratio: h.as_secs_f64() / o.as_secs_f64(),
            // No goal in the benchmarks issue: the figure is reported, not judged.
            goal: Goal::Property {
                text: "report only".into(),
                met: true,
            },
        }
        .print();
        platform
            .projects()
            .delete(
                who,
                &ProjectRef::new(org, "p"),
                DeleteOptions::with_volumes(),
            )
            .await
            .unwrap();
    });
}
