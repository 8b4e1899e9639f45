//! Templates on the real engine: the PostgreSQL and Redis templates deploy databases that
//! answer a query and a PING with the credentials the deploy generated and returned once.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use caas_core::ProjectRef;
use caas_core::memory::InMemoryStore;
use caas_core::model::{DatabaseEngine, PlanLimits};
use caas_core::platform::{DatabaseImages, DeleteOptions, DeployTemplate};
use caas_core::units::GIB;
use caas_core::{ContainerRuntime, Platform};
use caas_testkit::env;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_redis_templates_answer_with_their_generated_credentials() {
    let Some((rt, _)) = common::docker().await else {
        return;
    };
    let Some(pg) = env::require("CAAS_TEST_POSTGRES_IMAGE", "the local PostgreSQL image") else {
        return;
    };
    let Some(redis) = env::require("CAAS_TEST_REDIS_IMAGE", "the local Redis image") else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt);
    let instance = format!("tpl{}", env::run_id());
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(runtime.clone())
        .instance(instance.clone())
        .database_images(
            DatabaseImages::default()
                .with(DatabaseEngine::Postgres, pg)
                .with(DatabaseEngine::Redis, redis),
        )
        .build()
        .unwrap();
    let t = caas_testkit::platform::seed_tenant(
        &platform,
        PlanLimits {
            cpu_millis: 4000,
            memory_bytes: 4 * GIB,
            storage_bytes: 10 * GIB,
            max_containers: 5,
            max_projects: 1,
            max_domains: 20,
            max_pids: 1024,
            backup_storage_bytes: 10 * 1024 * 1024 * 1024,
        },
        "p",
    )
    .await;
    let (who, org) = (&t.admin, t.org.as_str());

    // PostgreSQL: the connection string is an output, shown once.
    let done = platform
        .templates()
        .deploy(
            who,
            &ProjectRef::new(org, "p"),
            "postgresql",
            DeployTemplate::new("pg"),
            false,
        )
        .await
        .unwrap();
    let url = done
        .outputs
        .iter()
        .find(|o| o.name == "connection_string")
        .unwrap()
        .value
        .clone();
    assert!(url.starts_with("postgres://app:"), "{url}");
    let svc = &done.services[0];
    assert_eq!(svc.name.as_str(), "pg-db");
    let ip = common::container_ip(&*runtime, svc.id, &instance).await;
    // The host in the URL is the service's name on the project network; from here, its address.
    let pool = common::pg_connect(&url.replace("@pg-db:", &format!("@{ip}:"))).await;
    let (one,): (i32,) = sqlx::query_as("SELECT 1").fetch_one(&pool).await.unwrap();
    assert_eq!(one, 1);
    pool.close().await;
    let wrong = url.replace("postgres://app:", "postgres://app:wrong");
    let err = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(3))
        .connect(&wrong.replace("@pg-db:", &format!("@{ip}:")))
        .await;
    assert!(err.is_err(), "a wrong password is refused");

    // Redis: AUTH with the generated password, then PING.
    let done = platform
        .templates()
        .deploy(
            who,
            &ProjectRef::new(org, "p"),
            "redis",
            DeployTemplate::new("kv"),
            false,
        )
        .await
        .unwrap();
    let url = done.outputs[0].value.clone();
    let password = url
        .strip_prefix("redis://:")
        .and_then(|r| r.split_once('@'))
        .map(|(p, _)| p.to_string())
        .unwrap();
    let ip = common::container_ip(&*runtime, done.services[0].id, &instance).await;
    let mut answer = String::new();
    for _ in 0..100 {
        if let Ok(mut s) = tokio::net::TcpStream::connect((ip.as_str(), 6379)).await {
            s.write_all(format!("AUTH {password}\r\nPING\r\n").as_bytes())
                .await
                .unwrap();
            let mut buf = [0u8; 64];
            let n = tokio::time::timeout(std::time::Duration::from_secs(3), s.read(&mut buf))
                .await
                .unwrap_or(Ok(0))
                .unwrap_or(0);
            answer = String::from_utf8_lossy(&buf[..n]).to_string();
            if answer.contains("PONG") {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        answer.starts_with("+OK\r\n") && answer.contains("+PONG"),
        "{answer:?}"
    );

    for name in ["pg", "kv"] {
        platform
            .templates()
            .delete_instance(
                who,
                &ProjectRef::new(org, "p"),
                name,
                DeleteOptions::with_volumes(),
            )
            .await
            .unwrap();
    }
    platform
        .projects()
        .delete(
            who,
            &ProjectRef::new(org, "p"),
            DeleteOptions::with_volumes(),
        )
        .await
        .unwrap();
}
