//! Connecting integration tests to the swarms `scripts/swarm-env.sh` provisioned (through
//! `scripts/test-env.sh`).

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use caas_core::ContainerRuntime;
use caas_docker::DockerConnection;
use caas_swarm::SwarmRuntime;
use caas_testkit::env;

/// A `unix://` URL as a connection.
pub fn unix(url: &str) -> DockerConnection {
    DockerConnection::Unix {
        path: url.strip_prefix("unix://").unwrap_or(url).into(),
    }
}

/// A builder with the settings every test uses: the local busybox as helper image, the
/// daemons' `--no-new-privileges` declared (swarm-env.sh starts them so).
pub fn builder(manager: &str, image: &str) -> caas_swarm::SwarmRuntimeBuilder {
    SwarmRuntime::builder()
        .manager(unix(manager))
        .helper_image(image)
        .daemons_enforce_no_new_privileges(true)
        .converge_timeout(Duration::from_secs(60))
}

/// Builds a runtime, checks it answers and has the image; `None` (skip) outside CI when the
/// swarm is not there.
pub async fn ready(
    builder: caas_swarm::SwarmRuntimeBuilder,
    what: &str,
    image: &str,
) -> Option<SwarmRuntime> {
    let rt = match builder.build().await {
        Ok(rt) => rt,
        Err(e) => return env::unavailable(what, e),
    };
    if let Err(e) = rt.ping().await {
        return env::unavailable(what, e);
    }
    match rt.image_present(image).await {
        Ok(true) => Some(rt),
        Ok(false) => env::unavailable(what, format!("{image} is not loaded on every node")),
        Err(e) => env::unavailable(what, e),
    }
}

/// The single-node swarm and the busybox image.
pub async fn solo() -> Option<(SwarmRuntime, String)> {
    let host = env::require("CAAS_TEST_SWARM_SOLO_HOST", "the single-node swarm")?;
    let image = env::require("CAAS_TEST_BUSYBOX_IMAGE", "the local busybox image")?;
    let rt = ready(builder(&host, &image), "the single-node swarm", &image).await?;
    Some((rt, image))
}
