//! Connecting integration tests to the engine that `scripts/test-env.sh` provisioned.

#![allow(dead_code, unreachable_pub)]

use caas_core::ContainerRuntime;
use caas_docker::{DockerConnection, DockerRuntime};
use caas_testkit::env;

/// The test engine and the local busybox image, or `None` (skip) outside CI when absent.
pub async fn docker() -> Option<(DockerRuntime, String)> {
    docker_with(true).await
}

/// As [`docker`]; `host_access` false makes whole-volume archives and statistics go through
/// the engine's API as they do when the engine is on another host.
pub async fn docker_with(host_access: bool) -> Option<(DockerRuntime, String)> {
    let host = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine")?;
    let image = env::require("CAAS_TEST_BUSYBOX_IMAGE", "the local busybox image")?;
    let path = host.strip_prefix("unix://").unwrap_or(&host).to_string();
    let rt = match DockerRuntime::builder()
        .connection(DockerConnection::Unix { path: path.into() })
        .helper_image(image.clone())
        .host_access(host_access)
        .build()
        .await
    {
        Ok(rt) => rt,
        Err(e) => return env::unavailable("the Docker engine", e),
    };
    if let Err(e) = rt.ping().await {
        return env::unavailable("the Docker engine", e);
    }
    match rt.image_present(&image).await {
        Ok(true) => Some((rt, image)),
        Ok(false) => env::unavailable("the busybox image", format!("{image} is not present")),
        Err(e) => env::unavailable("the Docker engine", e),
    }
}

/// A platform on the test engine (in-memory store, its own `caas.instance`, a 1 s stop
/// timeout) with a subscribed tenant owning project `p`; the runtime and the busybox image too.
pub async fn platform_on_docker(
    instance_prefix: &str,
) -> Option<(
    caas_core::Platform,
    std::sync::Arc<dyn ContainerRuntime>,
    caas_testkit::platform::Tenant,
    String,
)> {
    use std::sync::Arc;
    let (rt, image) = docker().await?;
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt);
    let platform = caas_core::Platform::builder()
        .store(Arc::new(caas_core::memory::InMemoryStore::new()))
        .runtime(runtime.clone())
        .instance(format!("{instance_prefix}{}", env::run_id()))
        .stop_timeout(std::time::Duration::from_secs(1))
        .build()
        .expect("platform");
    let limits = caas_core::model::PlanLimits {
        cpu_millis: 4000,
        memory_bytes: 4 * caas_core::units::GIB,
        storage_bytes: caas_core::units::GIB,
        max_containers: 2,
        max_projects: 1,
        max_domains: 20,
        max_pids: 1024,
        backup_storage_bytes: 10 * 1024 * 1024 * 1024,
    };
    let tenant = caas_testkit::platform::seed_tenant(&platform, limits, "p").await;
    Some((platform, runtime, tenant, image))
}

/// The address of a service's container on its network.
pub async fn container_ip(
    rt: &dyn ContainerRuntime,
    service: caas_core::ServiceId,
    instance: &str,
) -> String {
    let selector = caas_core::ports::runtime::LabelSelector::managed()
        .with(caas_core::labels::SERVICE, service)
        .with(caas_core::labels::INSTANCE, instance);
    let c = &rt.list_containers(&selector).await.expect("list")[0];
    let info = rt
        .inspect_container_opt(&c.id)
        .await
        .expect("inspect")
        .expect("the container exists");
    info.ip_addresses
        .values()
        .next()
        .expect("an address")
        .clone()
}

/// A one-connection pool to a PostgreSQL that may still be starting (up to 60 s).
pub async fn pg_connect(url: &str) -> sqlx::PgPool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(url)
            .await
        {
            Ok(p) => return p,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "database did not accept connections: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
        }
    }
}
