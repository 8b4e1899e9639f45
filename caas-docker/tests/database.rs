//! Databases on the real engine: a PostgreSQL database deployed by the platform keeps its rows
//! across container recreation, because its data lives on the persistent volume.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::EnvVar;
use caas_core::model::{DatabaseEngine, PlanLimits};
use caas_core::platform::{
    ApplyMode, DatabaseImages, DeleteOptions, DeployDatabase, ServiceUpdate,
};
use caas_core::units::GIB;
use caas_core::{ContainerRuntime, Platform};
use caas_core::{ProjectRef, ServiceRef};
use caas_testkit::env;

#[tokio::test]
async fn postgres_rows_survive_recreating_the_container() {
    let Some((rt, _)) = common::docker().await else {
        return;
    };
    let Some(image) = env::require("CAAS_TEST_POSTGRES_IMAGE", "the local PostgreSQL image") else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt);
    let instance = format!("t{}", env::run_id());
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(runtime.clone())
        .instance(instance.clone())
        .database_images(DatabaseImages::default().with(DatabaseEngine::Postgres, image))
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
        "data",
    )
    .await;
    let (admin, slug) = (tenant.admin.clone(), tenant.org.clone());

    let db = platform
        .services()
        .deploy_database(
            &admin,
            &ProjectRef::new(&slug, "data"),
            DeployDatabase::new("orders", DatabaseEngine::Postgres),
        )
        .await
        .unwrap();
    let creds = db.credentials.clone();
    let url = |ip: &str| {
        format!(
            "postgres://{}:{}@{ip}:{}/{}",
            creds.username, creds.password, creds.port, creds.database
        )
    };

    let ip = common::container_ip(&*runtime, db.service.id, &instance).await;
    let pool = common::pg_connect(&url(&ip)).await;
    sqlx::query("CREATE TABLE orders (id int PRIMARY KEY, item text)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO orders VALUES (42, 'coffee')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    platform
        .services()
        .recreate(&admin, &ServiceRef::new(&slug, "data", "orders"))
        .await
        .unwrap();
    let ip = common::container_ip(&*runtime, db.service.id, &instance).await;
    let pool = common::pg_connect(&url(&ip)).await;
    let (item,): (String,) = sqlx::query_as("SELECT item FROM orders WHERE id = 42")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(item, "coffee");
    pool.close().await;

    // An env change to the database: stop-then-start on the same volume, rows kept.
    let mut update = ServiceUpdate::default();
    update.env_set.push(EnvVar::plain("TZ", "UTC").unwrap());
    let preview = platform
        .services()
        .update(
            &admin,
            &ServiceRef::new(&slug, "data", "orders"),
            update.clone(),
            true,
        )
        .await
        .unwrap()
        .preview;
    assert_eq!(preview.mode, ApplyMode::Recreate);
    let done = platform
        .services()
        .update(
            &admin,
            &ServiceRef::new(&slug, "data", "orders"),
            update,
            false,
        )
        .await
        .unwrap();
    assert_eq!(done.mode, ApplyMode::Recreate);
    let ip = common::container_ip(&*runtime, db.service.id, &instance).await;
    let pool = common::pg_connect(&url(&ip)).await;
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
    pool.close().await;

    platform
        .projects()
        .delete(
            &admin,
            &ProjectRef::new(&slug, "data"),
            DeleteOptions::with_volumes(),
        )
        .await
        .unwrap();
    let left = runtime
        .list_volumes(
            &caas_core::ports::runtime::LabelSelector::managed().with(labels::INSTANCE, &instance),
        )
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}
