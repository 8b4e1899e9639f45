//! Connecting integration tests to the engine that `scripts/test-env.sh` provisioned.

#![allow(dead_code, unreachable_pub)]

use caas_core::ContainerRuntime;
use caas_docker::{DockerConnection, DockerRuntime};
use caas_testkit::env;

/// The test engine and the local busybox image, or `None` (skip) outside CI when absent.
pub async fn docker() -> Option<(DockerRuntime, String)> {
    let host = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine")?;
    let image = env::require("CAAS_TEST_BUSYBOX_IMAGE", "the local busybox image")?;
    let path = host.strip_prefix("unix://").unwrap_or(&host).to_string();
    let rt = match DockerRuntime::builder()
        .connection(DockerConnection::Unix { path: path.into() })
        .helper_image(image.clone())
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
