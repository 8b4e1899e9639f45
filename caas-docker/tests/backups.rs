//! Volumes and backups on the real engine: backup → wipe → restore gives a tree with the same
//! SHA-256 (20 rounds), a running PostgreSQL backed up consistently and restored with its
//! rows, a corpus of hostile archives refused with nothing written, usage measured by the
//! engine, a hard size limit through a tmpfs volume driver, logical dumps of PostgreSQL,
//! MySQL and MariaDB through their own tools, and consistent copies with the service paused.

#![allow(clippy::unwrap_used)]

mod common;

use caas_core::ports::store::prelude::*;
use caas_core::{ProjectRef, ServiceRef};
use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::{
    BackupFormat, BackupStatus, DatabaseEngine, PlanLimits, RestartPolicy, ServiceEventKind,
    ServiceSpec, ServiceStatus, VolumeMount, VolumeState,
};
use caas_core::platform::{
    BackupConfig, BackupRequest, DatabaseImages, DeleteOptions, DeployApp, DeployDatabase,
    NewVolume, RestoreRequest, RolloutTiming, VolumeDriver,
};
use caas_core::ports::runtime::{ContainerSpec, ContainerStatus, LabelSelector, LogOptions, Mount};
use caas_core::units::{GIB, MIB};
use caas_core::validate::{ImageRef, Name};
use caas_core::{ContainerRuntime, Platform};
use caas_testkit::env;
use futures::StreamExt;
use object_store::ObjectStore;
use sha2::Digest;

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    runtime: Arc<dyn ContainerRuntime>,
    objects: Arc<object_store::local::LocalFileSystem>,
    image: String,
    instance: String,
    tenant: caas_testkit::platform::Tenant,
    _dir: tempfile::TempDir,
}

impl Drop for World {
    fn drop(&mut self) {
        let (runtime, instance) = (self.runtime.clone(), self.instance.clone());
        // Best effort, on a runtime of its own: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let sel = LabelSelector::managed().with(labels::INSTANCE, &instance);
                for c in runtime.list_containers(&sel).await.unwrap_or_default() {
                    let _ = runtime.remove_container(&c.id, true).await;
                }
                for v in runtime.list_volumes(&sel).await.unwrap_or_default() {
                    let _ = runtime.remove_volume(&v.name).await;
                }
                for n in runtime.list_networks(&sel).await.unwrap_or_default() {
                    let _ = runtime.remove_network(&n.name).await;
                }
            });
        })
        .join();
    }
}

async fn world(driver: Option<VolumeDriver>, images: Option<DatabaseImages>) -> Option<World> {
    let (rt, image) = common::docker().await?;
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt);
    let dir = tempfile::tempdir().unwrap();
    let objects =
        Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let store = Arc::new(InMemoryStore::new());
    let instance = format!("bk{}", env::run_id());
    let mut builder = Platform::builder()
        .store(store.clone())
        .runtime(runtime.clone())
        .instance(instance.clone())
        .stop_timeout(Duration::from_secs(2))
        .backups(BackupConfig::new(objects.clone()).staging_dir(dir.path()))
        .rollout(
            RolloutTiming::new(
                Duration::from_secs(60),
                Duration::from_millis(300),
                Duration::ZERO,
            )
            .with_tcp_probe(false),
        );
    if let Some(d) = driver {
        builder = builder.volume_driver(d);
    }
    if let Some(i) = images {
        builder = builder.database_images(i);
    }
    let platform = builder.build().unwrap();
    let tenant = caas_testkit::platform::seed_tenant(
        &platform,
        PlanLimits {
            cpu_millis: 4000,
            memory_bytes: 4 * GIB,
            storage_bytes: 20 * GIB,
            max_containers: 10,
            max_projects: 2,
            max_domains: 20,
            max_pids: 1024,
            backup_storage_bytes: 10 * 1024 * 1024 * 1024,
        },
        "p",
    )
    .await;
    Some(World {
        platform,
        store,
        runtime,
        objects,
        image,
        instance,
        tenant,
        _dir: dir,
    })
}

/// Prints a digest line for every entry below /data: path, type, mode, size, and the
/// contents' SHA-256 or the link target.
const TREE_DIGEST: &str = r#"cd /data && find . | sort | while IFS= read -r f; do
  if [ -L "$f" ]; then echo "L $f $(readlink "$f")";
  elif [ -d "$f" ]; then echo "D $f $(stat -c %a "$f")";
  else echo "F $f $(stat -c '%a %s' "$f") $(sha256sum < "$f" | cut -d' ' -f1)"; fi
done | sha256sum | cut -d' ' -f1"#;

/// Writes a tree with nested directories, binary and empty files, an executable, a name with
/// spaces, a symbolic link and a hard link.
const MAKE_TREE: &str = r#"set -e; cd /data
mkdir -p conf/nested/deeper 'with space'
echo 'port = 8080' > conf/app.toml
dd if=/dev/urandom of=conf/nested/blob.bin bs=1024 count=300 2>/dev/null
: > empty
printf '#!/bin/sh\necho hi\n' > run.sh; chmod 0755 run.sh
echo spaced > 'with space/file name.txt'
ln -s conf/app.toml current
ln conf/nested/blob.bin conf/nested/deeper/hard.bin
chmod 0700 conf/nested/deeper"#;

impl World {
    fn admin(&self) -> (&caas_core::Principal, &str) {
        (&self.tenant.admin, self.tenant.org.as_str())
    }

    /// Runs `script` in a one-off busybox container with the runtime volume at /data; its
    /// exit code and output.
    async fn run_on(&self, volume: &str, script: &str) -> (i64, String) {
        let mut spec = ContainerSpec::new(format!("caas-t-{}", env::run_id()), self.image.clone());
        spec.command = Some(vec!["sh".into(), "-c".into(), script.into()]);
        spec.mounts = vec![Mount {
            volume: volume.into(),
            target: "/data".into(),
            read_only: false,
        }];
        spec.labels.insert(labels::MANAGED.into(), "true".into());
        spec.labels
            .insert(labels::INSTANCE.into(), self.instance.clone());
        spec.restart_policy = RestartPolicy::No;
        let id = self
            .runtime
            .create_container(&spec)
            .await
            .unwrap()
            .id()
            .to_string();
        self.runtime.start_container(&id).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let code = loop {
            let info = self
                .runtime
                .inspect_container_opt(&id)
                .await
                .unwrap()
                .unwrap();
            if info.status == ContainerStatus::Exited {
                break info.exit_code.unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "the one-off container did not finish"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let lines: Vec<String> = self
            .runtime
            .logs(&id, &LogOptions::default())
            .await
            .unwrap()
            .map(|l| l.unwrap().text)
            .collect()
            .await;
        self.runtime.remove_container(&id, true).await.unwrap();
        (code, lines.join("\n"))
    }

    async fn digest(&self, volume: &str) -> String {
        let (code, out) = self.run_on(volume, TREE_DIGEST).await;
        assert_eq!(code, 0, "{out}");
        out.trim().to_string()
    }

    async fn runtime_name(&self, volume: &str) -> String {
        let (who, org) = self.admin();
        self.platform
            .volumes()
            .get(who, org, volume)
            .await
            .unwrap()
            .volume
            .runtime_name
    }

    /// Deploys `app` in project `p` mounting volume `data`, writes [`MAKE_TREE`] and then
    /// `more` (a shell command, may be empty) into it: the runtime volume and its digest.
    async fn app_with_tree(&self, more: &str) -> (String, String) {
        let (who, org) = self.admin();
        self.platform
            .services()
            .deploy_app(
                who,
                &ProjectRef::new(org, "p"),
                DeployApp::new("app", self.sleeper("data")),
            )
            .await
            .unwrap();
        let name = self.runtime_name("data").await;
        let script = if more.is_empty() {
            MAKE_TREE.to_string()
        } else {
            format!("{MAKE_TREE}; {more}")
        };
        let (code, out) = self.run_on(&name, &script).await;
        assert_eq!(code, 0, "{out}");
        let digest = self.digest(&name).await;
        (name, digest)
    }

    fn sleeper(&self, volume: &str) -> ServiceSpec {
        let mut spec = ServiceSpec::new(ImageRef::parse(self.image.clone()).unwrap());
        spec.command = Some(vec!["sleep".into(), "3600".into()]);
        spec.volumes.push(VolumeMount {
            volume: Name::parse(volume).unwrap(),
            target: "/data".into(),
            read_only: false,
            size_bytes: GIB,
        });
        spec
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_wipe_restore_gives_an_identical_tree_twenty_times() {
    let Some(w) = world(None, None).await else {
        return;
    };
    let (who, org) = w.admin();
    let (_, original) = w.app_with_tree("").await;
    let mut sizes = Vec::new();
    for round in 0..20 {
        let b = w
            .platform
            .backups()
            .create(who, org, "data", BackupRequest::default())
            .await
            .unwrap();
        assert_eq!(
            b.status,
            BackupStatus::Succeeded,
            "round {round}: {:?}",
            b.error
        );
        sizes.push(b.size_bytes.unwrap());
        let current = w.runtime_name("data").await;
        let (code, out) = w
            .run_on(&current, "rm -rf /data/* && echo wiped > /data/stray")
            .await;
        assert_eq!(code, 0, "{out}");
        assert_ne!(
            w.digest(&current).await,
            original,
            "round {round}: the wipe did nothing"
        );
        let restored = w
            .platform
            .backups()
            .restore(who, org, &b.id.to_string(), RestoreRequest::same_volume())
            .await
            .unwrap();
        assert_eq!(restored.services.len(), 1);
        let now = w.runtime_name("data").await;
        assert_ne!(now, current, "round {round}: a new runtime volume");
        assert_eq!(w.digest(&now).await, original, "round {round}");
        assert!(
            w.runtime
                .inspect_volume_opt(&current)
                .await
                .unwrap()
                .is_none(),
            "round {round}: the replaced runtime volume is gone"
        );
    }
    eprintln!("20 rounds identical; stored sizes {:?} bytes", &sizes[..3]);
    // The stored objects are zstd archives of the recorded size and digest.
    let b = &w.platform.backups().list(who, org, "data").await.unwrap()[0];
    let bytes = w
        .objects
        .get(&object_store::path::Path::from(b.location.clone().unwrap()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(Some(bytes.len() as u64), b.size_bytes);
    assert_eq!(
        b.sha256.clone().unwrap(),
        hex::encode(sha2::Sha256::digest(&bytes))
    );

    // The engine measures usage: 300 KiB of random data in a 1 GiB volume is fine; in a
    // 400 KiB volume it is a warning.
    let report = w.platform.volumes().check().await.unwrap();
    assert_eq!(report.measured, 1, "{report:?}");
    let v = w.platform.volumes().get(who, org, "data").await.unwrap();
    let used = v.volume.usage.unwrap().bytes;
    assert!((300 * 1024..700 * 1024).contains(&used), "{used}");
    assert_eq!(v.volume.state, VolumeState::Ok);
    let mut small = v.volume.clone();
    small.size_bytes = used + used / 10;
    w.store.update_volume(&small).await.unwrap();
    w.platform.volumes().check().await.unwrap();
    assert_eq!(
        w.platform
            .volumes()
            .get(who, org, "data")
            .await
            .unwrap()
            .volume
            .state,
        VolumeState::Warning
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_started_in_the_background_finishes_on_the_engine_and_restores_the_tree() {
    let Some(w) = world(None, None).await else {
        return;
    };
    let (who, org) = w.admin();
    let (name, original) = w
        .app_with_tree("dd if=/dev/urandom of=/data/big.bin bs=1M count=64 2>/dev/null")
        .await;
    let running = w
        .platform
        .backups()
        .start(who, org, "data", BackupRequest::consistent(true))
        .await
        .unwrap();
    assert_eq!(running.status, BackupStatus::Running);
    let id = running.id.to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let b = w.platform.backups().get(who, org, &id).await.unwrap();
        if b.status != BackupStatus::Running {
            break b;
        }
        assert!(Instant::now() < deadline, "the backup did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done.status, BackupStatus::Succeeded, "{:?}", done.error);
    assert!(done.archive_bytes.unwrap() > 64 << 20, "{done:?}");
    assert!(
        w.platform
            .backups()
            .wait_for_copies(Duration::from_secs(10))
            .await
    );
    let bytes = w
        .objects
        .get(&object_store::path::Path::from(
            done.location.clone().unwrap(),
        ))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        done.sha256.clone().unwrap(),
        hex::encode(sha2::Sha256::digest(&bytes))
    );
    let app = w
        .platform
        .services()
        .get(who, &ServiceRef::new(org, "p", "app"))
        .await
        .unwrap();
    assert_eq!(
        app.status,
        ServiceStatus::Running,
        "started again after the copy"
    );
    let (code, out) = w.run_on(&name, "rm -rf /data/*").await;
    assert_eq!(code, 0, "{out}");
    w.platform
        .backups()
        .restore(who, org, &id, RestoreRequest::same_volume())
        .await
        .unwrap();
    assert_eq!(w.digest(&w.runtime_name("data").await).await, original);
}

/// A world with the local PostgreSQL image and a database `orders` in project `p`; `None`
/// when the image or the engine is missing (a failure in CI).
async fn postgres_world() -> Option<(World, caas_core::platform::DeployedDatabase)> {
    let pg_image = env::require("CAAS_TEST_POSTGRES_IMAGE", "the local PostgreSQL image")?;
    let images = DatabaseImages::default().with(DatabaseEngine::Postgres, pg_image);
    let w = world(None, Some(images)).await?;
    let (who, org) = w.admin();
    let db = w
        .platform
        .services()
        .deploy_database(
            who,
            &ProjectRef::new(org, "p"),
            DeployDatabase::new("orders", DatabaseEngine::Postgres),
        )
        .await
        .unwrap();
    Some((w, db))
}

/// A pool on the database's current container (its address changes when it is recreated).
async fn pg_pool(w: &World, db: &caas_core::platform::DeployedDatabase) -> sqlx::PgPool {
    let c = &db.credentials;
    let ip = common::container_ip(&*w.runtime, db.service.id, &w.instance).await;
    common::pg_connect(&format!(
        "postgres://{}:{}@{ip}:{}/{}",
        c.username, c.password, c.port, c.database
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_postgres_is_backed_up_consistently_and_restored_with_its_rows() {
    let Some((w, db)) = postgres_world().await else {
        return;
    };
    let (who, org) = w.admin();
    let pool = pg_pool(&w, &db).await;
    sqlx::query("CREATE TABLE orders (id int PRIMARY KEY, item text)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 1000) g")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let volume = db.service.spec.volumes[0].volume.to_string();
    let b = w
        .platform
        .backups()
        .create(who, org, &volume, BackupRequest::consistent(true))
        .await
        .unwrap();
    assert_eq!(b.status, BackupStatus::Succeeded, "{:?}", b.error);
    // Running again after the copy; a row written after the backup is gone after the restore.
    let pool = pg_pool(&w, &db).await;
    sqlx::query("INSERT INTO orders VALUES (5000, 'after the backup')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let out = w
        .platform
        .backups()
        .restore(who, org, &b.id.to_string(), RestoreRequest::same_volume())
        .await
        .unwrap();
    assert_eq!(out.services[0].as_str(), "orders");
    let pool = pg_pool(&w, &db).await;
    let (count, max): (i64, i32) = sqlx::query_as("SELECT count(*), max(id) FROM orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((count, max), (1000, 1000));
    pool.close().await;

    // And into a new volume, mounted by nobody.
    let copy = w
        .platform
        .backups()
        .restore(
            who,
            org,
            &b.id.to_string(),
            RestoreRequest::into_new(NewVolume::new("p", "orders-copy", GIB)),
        )
        .await
        .unwrap();
    let (code, out) = w
        .run_on(
            &copy.volume.runtime_name,
            "test -f /data/PG_VERSION && cat /data/PG_VERSION",
        )
        .await;
    assert_eq!((code, out.trim()), (0, "15"), "{out}");
    w.platform
        .projects()
        .delete(
            who,
            &ProjectRef::new(org, "p"),
            DeleteOptions::with_volumes(),
        )
        .await
        .unwrap();
}

/// The current container of a service.
async fn container_of(
    w: &World,
    service: caas_core::ServiceId,
) -> caas_core::ports::runtime::ContainerInfo {
    let selector = LabelSelector::managed()
        .with(labels::SERVICE, service)
        .with(labels::INSTANCE, &w.instance);
    let c = &w.runtime.list_containers(&selector).await.unwrap()[0];
    w.runtime
        .inspect_container_opt(&c.id)
        .await
        .unwrap()
        .unwrap()
}

/// Decompresses a stored backup object.
async fn stored_text(w: &World, b: &caas_core::model::Backup) -> String {
    let bytes = w
        .objects
        .get(&object_store::path::Path::from(b.location.clone().unwrap()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    String::from_utf8(zstd::decode_all(&bytes[..]).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_postgres_is_dumped_logically_and_restored_whole_or_not_at_all() {
    let Some((w, db)) = postgres_world().await else {
        return;
    };
    let (who, org) = w.admin();
    let pool = pg_pool(&w, &db).await;
    sqlx::query("CREATE TABLE orders (id int PRIMARY KEY, item text, doc jsonb)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO orders SELECT g, 'item ' || g, jsonb_build_object('n', g) \
         FROM generate_series(1, 1000) g",
    )
    .execute(&pool)
    .await
    .unwrap();
    let tricky = "it's a \"quoted\"\nmulti-line \\ item; DROP TABLE orders; --";
    sqlx::query("UPDATE orders SET item = $1 WHERE id = 7")
        .bind(tricky)
        .execute(&pool)
        .await
        .unwrap();
    let before = container_of(&w, db.service.id).await;

    let volume = db.service.spec.volumes[0].volume.to_string();
    let b = w
        .platform
        .backups()
        .create(who, org, &volume, BackupRequest::logical())
        .await
        .unwrap();
    assert_eq!(b.status, BackupStatus::Succeeded, "{:?}", b.error);
    assert_eq!(b.format, BackupFormat::PgDump);
    assert!(!b.consistent && !b.paused);
    assert!(
        b.location.as_deref().unwrap().ends_with(".sql.zst"),
        "{b:?}"
    );
    // The dump went through the running database: same container, never stopped.
    let after = container_of(&w, db.service.id).await;
    assert_eq!(
        (after.id.as_str(), after.status),
        (before.id.as_str(), ContainerStatus::Running)
    );
    assert_eq!(after.started_at, before.started_at);
    // What is stored is pg_dump's SQL, whole, without the password.
    let text = stored_text(&w, &b).await;
    assert_eq!(Some(text.len() as u64), b.archive_bytes);
    assert!(
        text.contains("CREATE TABLE public.orders"),
        "{}",
        &text[..text.len().min(2000)]
    );
    assert!(text.contains("PostgreSQL database dump complete"));
    assert!(
        !text.contains(&db.credentials.password),
        "the dump holds no credentials"
    );

    // Changes after the dump.
    sqlx::query("DELETE FROM orders WHERE id > 10")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO orders VALUES (5000, 'after the dump', '{}')")
        .execute(&pool)
        .await
        .unwrap();
    // A view the dump does not hold depends on the table, so the dump's DROP TABLE fails:
    // PostgreSQL rolls the whole restore back.
    sqlx::query("CREATE VIEW recent AS SELECT * FROM orders")
        .execute(&pool)
        .await
        .unwrap();
    let e = w
        .platform
        .backups()
        .restore(who, org, &b.id.to_string(), RestoreRequest::same_volume())
        .await
        .unwrap_err();
    assert!(e.is_backend(), "{e:?}");
    assert!(e.to_string().contains("rolled the restore back"), "{e}");
    assert!(
        e.to_string().contains("recent"),
        "psql's error is in the message: {e}"
    );
    let count: (i64,) = sqlx::query_as("SELECT count(*) FROM orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count.0, 11, "nothing changed");
    // Also not what the dump drops before the table (its primary key).
    let pkey: (i64,) =
        sqlx::query_as("SELECT count(*) FROM pg_constraint WHERE conname = 'orders_pkey'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        pkey.0, 1,
        "the dump's first statements were rolled back too"
    );

    sqlx::query("DROP VIEW recent")
        .execute(&pool)
        .await
        .unwrap();
    let out = w
        .platform
        .backups()
        .restore(who, org, &b.id.to_string(), RestoreRequest::same_volume())
        .await
        .unwrap();
    assert_eq!(out.services[0].as_str(), "orders");
    assert_eq!(Some(out.archive.bytes), b.archive_bytes);
    let (count, max): (i64, i32) = sqlx::query_as("SELECT count(*), max(id) FROM orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((count, max), (1000, 1000));
    let (item, n): (String, i64) =
        sqlx::query_as("SELECT item, (doc->>'n')::bigint FROM orders WHERE id = 7")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((item.as_str(), n), (tricky, 7));
    pool.close().await;
    // Restored in place: the same container kept running.
    assert_eq!(container_of(&w, db.service.id).await.id, before.id);

    // A dump is not restored into a new volume, nor dumped together with a stop.
    let e = w
        .platform
        .backups()
        .restore(
            who,
            org,
            &b.id.to_string(),
            RestoreRequest::into_new(NewVolume::new("p", "orders-copy", GIB)),
        )
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("new_volume"), "{e}");
    let mut both = BackupRequest::logical();
    both.consistent = true;
    let e = w
        .platform
        .backups()
        .create(who, org, &volume, both)
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("consistent"), "{e}");
    // A stopped database can be neither dumped nor restored into.
    w.platform
        .services()
        .stop(who, &ServiceRef::new(org, "p", "orders"))
        .await
        .unwrap();
    let e = w
        .platform
        .backups()
        .create(who, org, &volume, BackupRequest::logical())
        .await
        .unwrap_err();
    assert!(e.is_conflict(), "{e:?}");
    let e = w
        .platform
        .backups()
        .restore(who, org, &b.id.to_string(), RestoreRequest::same_volume())
        .await
        .unwrap_err();
    assert!(e.is_conflict(), "{e:?}");
    w.platform
        .projects()
        .delete(
            who,
            &ProjectRef::new(org, "p"),
            DeleteOptions::with_volumes(),
        )
        .await
        .unwrap();
}

/// Runs SQL in a MySQL or MariaDB service's container with its own client, as root; the
/// rows, tab-separated.
async fn my_sql(
    w: &World,
    service: caas_core::ServiceId,
    engine: DatabaseEngine,
    sql: &str,
) -> String {
    let client = match engine {
        DatabaseEngine::Mysql => {
            "MYSQL_PWD=\"$MYSQL_ROOT_PASSWORD\" exec mysql -uroot -N -B \"$MYSQL_DATABASE\""
        }
        _ => "MYSQL_PWD=\"$MARIADB_ROOT_PASSWORD\" exec mariadb -uroot -N -B \"$MARIADB_DATABASE\"",
    };
    let id = container_of(w, service).await.id;
    let cmd = vec!["sh".to_string(), "-c".to_string(), client.to_string()];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let input = futures::stream::iter([Ok(bytes::Bytes::from(sql.to_string()))]).boxed();
        let out: caas_core::Result<Vec<bytes::Bytes>> =
            match w.runtime.exec(&id, &cmd, Some(input)).await {
                Ok(s) => futures::TryStreamExt::try_collect(s).await,
                Err(e) => Err(e),
            };
        match out {
            Ok(chunks) => return String::from_utf8(chunks.concat()).unwrap(),
            // The server may still be starting.
            Err(e) if Instant::now() < deadline => {
                eprintln!("retrying: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}

/// Waits until the MySQL or MariaDB server of `service` is the one that stays. The image's
/// entrypoint first runs a temporary server without networking to initialize the database and
/// then restarts it: a statement sent to that one may be cut off half-way (the table created,
/// the rows not), so a retried batch would fail on what it already did.
async fn serving(w: &World, service: caas_core::ServiceId, engine: DatabaseEngine) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let networking = my_sql(w, service, engine, "SELECT @@skip_networking").await;
        if networking.trim() == "0" {
            return;
        }
        eprintln!(
            "the server initializes (skip_networking = {})",
            networking.trim()
        );
        assert!(
            Instant::now() < deadline,
            "the server still runs without networking (initializing)"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn mysql_family_dump_roundtrip(
    engine: DatabaseEngine,
    image_var: &str,
    format: BackupFormat,
) {
    let Some(image) = env::require(image_var, "the local MySQL/MariaDB look-alike image") else {
        return;
    };
    let images = DatabaseImages::default().with(engine, image);
    let Some(w) = world(None, Some(images)).await else {
        return;
    };
    let (who, org) = w.admin();
    let db = w
        .platform
        .services()
        .deploy_database(
            who,
            &ProjectRef::new(org, "p"),
            DeployDatabase::new("shop", engine),
        )
        .await
        .unwrap();
    let id = db.service.id;
    serving(&w, id, engine).await;
    my_sql(
        &w,
        id,
        engine,
        "CREATE TABLE items (id INT PRIMARY KEY, name TEXT, data BLOB) ENGINE=InnoDB;
         INSERT INTO items WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 500)
           SELECT n, CONCAT('item ', n), UNHEX(MD5(n)) FROM s;
         UPDATE items SET name = 'it''s a \"quoted\"\\nline' WHERE id = 7;",
    )
    .await;
    let volume = db.service.spec.volumes[0].volume.to_string();
    let b = w
        .platform
        .backups()
        .create(who, org, &volume, BackupRequest::logical())
        .await
        .unwrap();
    assert_eq!(b.status, BackupStatus::Succeeded, "{:?}", b.error);
    assert_eq!(b.format, format);
    let text = stored_text(&w, &b).await;
    assert!(
        text.contains("CREATE TABLE `items`"),
        "{}",
        &text[..text.len().min(2000)]
    );
    assert!(text.contains("-- Dump completed"));
    assert!(!text.contains(&db.credentials.password));

    my_sql(
        &w,
        id,
        engine,
        "DELETE FROM items WHERE id > 10; INSERT INTO items VALUES (9000, 'after', NULL);",
    )
    .await;
    assert_eq!(
        my_sql(&w, id, engine, "SELECT COUNT(*) FROM items")
            .await
            .trim(),
        "11"
    );
    let before = container_of(&w, id).await;
    let out = w
        .platform
        .backups()
        .restore(who, org, &b.id.to_string(), RestoreRequest::same_volume())
        .await
        .unwrap();
    assert_eq!(out.services[0].as_str(), "shop");
    assert_eq!(
        my_sql(
            &w,
            id,
            engine,
            "SELECT COUNT(*), MAX(id), SUM(LENGTH(data)) FROM items"
        )
        .await
        .trim(),
        "500\t500\t8000"
    );
    assert_eq!(
        my_sql(&w, id, engine, "SELECT HEX(name) FROM items WHERE id = 7")
            .await
            .trim(),
        hex::encode_upper("it's a \"quoted\"\nline")
    );
    assert_eq!(
        container_of(&w, id).await.id,
        before.id,
        "restored in place"
    );
    w.platform
        .projects()
        .delete(
            who,
            &ProjectRef::new(org, "p"),
            DeleteOptions::with_volumes(),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_mariadb_is_dumped_logically_and_restored_with_its_rows() {
    mysql_family_dump_roundtrip(
        DatabaseEngine::Mariadb,
        "CAAS_TEST_MARIADB_IMAGE",
        BackupFormat::MariadbDump,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_mysql_is_dumped_logically_and_restored_with_its_rows() {
    mysql_family_dump_roundtrip(
        DatabaseEngine::Mysql,
        "CAAS_TEST_MYSQL_IMAGE",
        BackupFormat::MysqlDump,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_consistent_backup_freezes_the_service_without_stopping_it() {
    let Some(w) = world(None, None).await else {
        return;
    };
    let (who, org) = w.admin();
    let app = w
        .platform
        .services()
        .deploy_app(
            who,
            &ProjectRef::new(org, "p"),
            DeployApp::new("app", w.sleeper("data")),
        )
        .await
        .unwrap();
    let name = w.runtime_name("data").await;
    let (code, out) = w.run_on(&name, MAKE_TREE).await;
    assert_eq!(code, 0, "{out}");
    let original = w.digest(&name).await;
    let before = container_of(&w, app.id).await;
    let b = w
        .platform
        .backups()
        .create(who, org, "data", BackupRequest::paused())
        .await
        .unwrap();
    assert_eq!(b.status, BackupStatus::Succeeded, "{:?}", b.error);
    assert!(b.consistent && b.paused);
    assert_eq!(b.format, BackupFormat::Archive);
    // Thawed, not restarted: the same process, started at the same time.
    let after = container_of(&w, app.id).await;
    assert_eq!(
        (after.id.as_str(), after.status),
        (before.id.as_str(), ContainerStatus::Running)
    );
    assert_eq!(after.started_at, before.started_at);
    let kinds: Vec<ServiceEventKind> = w
        .platform
        .monitoring()
        .events(who, &ServiceRef::new(org, "p", "app"), 20)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&ServiceEventKind::Paused), "{kinds:?}");
    assert!(kinds.contains(&ServiceEventKind::Unpaused), "{kinds:?}");
    assert!(!kinds.contains(&ServiceEventKind::Stopped), "{kinds:?}");
    // And the copy restores to the same tree.
    let (code, out) = w.run_on(&name, "rm -rf /data/*").await;
    assert_eq!(code, 0, "{out}");
    w.platform
        .backups()
        .restore(who, org, &b.id.to_string(), RestoreRequest::same_volume())
        .await
        .unwrap();
    assert_eq!(w.digest(&w.runtime_name("data").await).await, original);
    // Pausing is for consistent copies only.
    let mut pause_alone = BackupRequest::default();
    pause_alone.pause = true;
    let e = w
        .platform
        .backups()
        .create(who, org, "data", pause_alone)
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("pause"), "{e}");
    // A volume that is not a database's has no logical dump.
    let e = w
        .platform
        .backups()
        .create(who, org, "data", BackupRequest::logical())
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("logical"), "{e}");
    assert!(e.to_string().contains("app"), "names what mounts it: {e}");
}

fn raw_tar(kind: tar::EntryType, name: &str, link: Option<&str>, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    let old = h.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(l) = link {
        old.linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_cksum();
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}

/// Two entries: a symbolic link to `/` and a file written through it.
fn link_then_write() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (kind, name, link, data) in [
        (tar::EntryType::Symlink, "root", Some("/"), &b""[..]),
        (tar::EntryType::Regular, "root/tmp/pwned", None, &b"x"[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            old.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_archives_are_refused_and_nothing_is_written_on_the_engine() {
    let Some(w) = world(None, None).await else {
        return;
    };
    let (who, org) = w.admin();
    let v = w
        .platform
        .volumes()
        .create(who, org, NewVolume::new("p", "data", MIB))
        .await
        .unwrap();
    let name = v.volume.runtime_name.clone();
    let (code, out) = w.run_on(&name, MAKE_TREE).await;
    assert_eq!(code, 0, "{out}");
    let before = w.digest(&name).await;
    let b = w
        .platform
        .backups()
        .create(who, org, "data", BackupRequest::default())
        .await
        .unwrap();
    let key = object_store::path::Path::from(b.location.clone().unwrap());
    let selector = LabelSelector::managed().with(labels::INSTANCE, &w.instance);
    let volumes_before = w.runtime.list_volumes(&selector).await.unwrap().len();
    use tar::EntryType::*;
    let corpus: Vec<(&str, Vec<u8>)> = vec![
        (
            "dot-dot",
            raw_tar(Regular, "../../etc/cron.d/evil", None, b"x"),
        ),
        ("absolute", raw_tar(Regular, "/etc/passwd", None, b"x")),
        ("symlink to /", raw_tar(Symlink, "out", Some("/"), b"")),
        (
            "symlink up",
            raw_tar(Symlink, "out", Some("../../../../.."), b""),
        ),
        ("write through a link", link_then_write()),
        (
            "hard link out",
            raw_tar(Link, "h", Some("../../etc/shadow"), b""),
        ),
        ("character device", raw_tar(Char, "null", None, b"")),
        ("block device", raw_tar(Block, "sda", None, b"")),
        ("fifo", raw_tar(Fifo, "pipe", None, b"")),
        (
            "over-size",
            raw_tar(Regular, "big", None, &vec![0u8; 2 * 1024 * 1024]),
        ),
        ("garbage", vec![0x5a; 8192]),
    ];
    for (what, tar) in corpus {
        let compressed = zstd::encode_all(tar.as_slice(), 3).unwrap();
        w.objects
            .put(&key, compressed.clone().into())
            .await
            .unwrap();
        let mut forged = w.store.backup(b.id).await.unwrap();
        forged.sha256 = Some(hex::encode(sha2::Sha256::digest(&compressed)));
        w.store.update_backup(&forged).await.unwrap();
        let err = w
            .platform
            .backups()
            .restore(who, org, &b.id.to_string(), RestoreRequest::same_volume())
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("archive"), "{what}: {err}");
        assert_eq!(w.runtime_name("data").await, name, "{what}");
        assert_eq!(w.digest(&name).await, before, "{what}: the volume changed");
        assert_eq!(
            w.runtime.list_volumes(&selector).await.unwrap().len(),
            volumes_before,
            "{what}: a runtime volume was left behind"
        );
    }
    // Nothing escaped onto the engine's host either.
    assert!(!std::path::Path::new("/tmp/pwned").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tmpfs_volume_driver_enforces_the_size_as_a_hard_limit() {
    let driver = VolumeDriver::new()
        .option("type", "tmpfs")
        .option("device", "tmpfs")
        .option("o", "size={size}");
    let Some(w) = world(Some(driver), None).await else {
        return;
    };
    let (who, org) = w.admin();
    let v = w
        .platform
        .volumes()
        .create(who, org, NewVolume::new("p", "scratch", 2 * MIB))
        .await
        .unwrap();
    let (code, out) = w
        .run_on(
            &v.volume.runtime_name,
            "dd if=/dev/zero of=/data/fits bs=1024 count=1024 && dd if=/dev/zero of=/data/too-much bs=1024 count=2048",
        )
        .await;
    assert_ne!(code, 0, "writing past the size must fail: {out}");
    assert!(out.contains("No space left"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_reads_no_more_of_a_volume_than_its_size_allows() {
    let Some(w) = world(None, None).await else {
        return;
    };
    let (who, org) = w.admin();
    // A 1 MiB volume on the engine's default driver (a soft limit) filled far past its size:
    // the read stops at the size plus the margin (64 MiB here), the backup fails with the
    // reason, and nothing is left in the destination.
    let v = w
        .platform
        .volumes()
        .create(who, org, NewVolume::new("p", "stuffed", MIB))
        .await
        .unwrap();
    let cap = caas_core::platform::archive_read_cap(MIB);
    let (code, out) = w
        .run_on(
            &v.volume.runtime_name,
            "dd if=/dev/urandom of=/data/big bs=1048576 count=80 2>&1",
        )
        .await;
    assert_eq!(code, 0, "{out}");
    let started = Instant::now();
    let b = w
        .platform
        .backups()
        .create(who, org, "stuffed", BackupRequest::default())
        .await
        .unwrap();
    assert_eq!(b.status, BackupStatus::Failed, "{b:?}");
    let reason = b.error.clone().unwrap();
    assert!(reason.contains("larger than its size allows"), "{reason}");
    assert!(reason.contains(&cap.to_string()), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let left: Vec<_> = w.objects.list(None).collect().await;
    assert!(left.is_empty(), "{left:?}");
    // Within its size, the same volume backs up.
    let (code, out) = w
        .run_on(
            &v.volume.runtime_name,
            "rm /data/big && echo small > /data/f",
        )
        .await;
    assert_eq!(code, 0, "{out}");
    let b = w
        .platform
        .backups()
        .create(who, org, "stuffed", BackupRequest::default())
        .await
        .unwrap();
    assert_eq!(b.status, BackupStatus::Succeeded, "{b:?}");
}
