//! Connection tests, auto-detection and runtime configuration through `Platform`, against the
//! real engine and against addresses where no engine (or no permission) is.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use caas_core::memory::InMemoryStore;
use caas_core::ports::connector::RuntimeConfig;
use caas_core::{Platform, Principal};
use caas_docker::{DetectionInputs, DockerConnection, DockerConnector, test_connection};

fn real_socket(host: &str) -> DockerConnection {
    DockerConnection::from_env_value(Some(host), false, None).unwrap()
}

#[tokio::test]
async fn the_real_engine_reports_versions_cgroups_storage_and_counts() {
    let Some(host) = caas_testkit::env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine") else {
        return;
    };
    let r = test_connection(&real_socket(&host), Duration::from_secs(5)).await;
    assert!(r.reachable, "{r:?}");
    assert!(r.round_trip_ms.is_some());
    let e = r.engine.expect("engine details");
    assert!(!e.version.is_empty() && !e.api_version.is_empty());
    assert!(e.cgroup_version == "1" || e.cgroup_version == "2", "{e:?}");
    assert!(!e.cgroup_driver.is_empty() && !e.storage_driver.is_empty());
    assert!(!e.os.is_empty() && !e.arch.is_empty());
    assert!(e.images >= 1, "the test images are present");
    assert!(r.error.is_none() && r.advice.is_none());
}

#[tokio::test]
async fn a_missing_socket_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let conn = DockerConnection::Unix {
        path: dir.path().join("docker.sock"),
    };
    let r = test_connection(&conn, Duration::from_secs(2)).await;
    assert!(!r.reachable);
    let advice = r.advice.unwrap();
    assert!(advice.contains("does not exist"), "{advice}");
}

#[tokio::test]
async fn a_tcp_port_nobody_listens_on_is_connection_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conn = DockerConnection::Tcp {
        url: format!("tcp://127.0.0.1:{port}"),
    };
    let r = test_connection(&conn, Duration::from_secs(2)).await;
    assert!(!r.reachable);
    let advice = r.advice.unwrap();
    assert!(
        advice.contains("connection refused"),
        "{advice} / {:?}",
        r.error
    );
}

/// Root reads every socket, so the check runs as `nobody` (through `setpriv`) against the real
/// socket, which only root and the docker group may use.
#[tokio::test]
async fn a_socket_without_permission_is_explained() {
    let Some(host) = caas_testkit::env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine") else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_caas-docker-check");
    let out = tokio::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin)
        .arg(&host)
        .output()
        .await
        .expect("setpriv (util-linux) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["reachable"], false, "{r}");
    let advice = r["advice"].as_str().unwrap();
    assert!(advice.contains("permission denied"), "{advice}");
    assert!(advice.contains("docker' group"), "{advice}");
}

#[tokio::test]
async fn detection_lists_every_candidate_and_chooses_the_engine_that_answers() {
    let Some(host) = caas_testkit::env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine") else {
        return;
    };
    let d = caas_docker::detect(&DetectionInputs::default()).await;
    assert!(d.candidates.len() >= 4, "{d:?}");
    let chosen = d.chosen.expect("the local engine answers");
    assert_eq!(chosen.describe(), real_socket(&host).describe());
    let tcp = d
        .candidates
        .iter()
        .find(|c| c.source == "TCP on localhost")
        .unwrap();
    assert!(!tcp.report.reachable);
    assert!(tcp.report.advice.is_some());
}

#[tokio::test]
async fn administrators_switch_the_runtime_through_the_platform_and_it_persists() {
    let Some((rt, image)) = common::docker().await else {
        return;
    };
    let good = DockerConnector::config(rt.connection());
    let connector = Arc::new(DockerConnector::new(DetectionInputs::default(), image));
    let store = Arc::new(InMemoryStore::new());
    let build = || {
        Platform::builder()
            .store(store.clone())
            .runtime(Arc::new(rt.clone()))
            .runtime_connector(connector.clone(), good.clone())
            .build()
            .unwrap()
    };
    let platform = build();
    let admin_user = platform
        .users()
        .ensure_platform_admin("ops@example.com")
        .await
        .unwrap();
    let admin = platform.principal_for(admin_user.id).await.unwrap();
    assert_eq!(platform.admin().runtime_config(&admin).await.unwrap(), good);
    assert!(
        platform
            .admin()
            .test_runtime(&admin, None)
            .await
            .unwrap()
            .reachable
    );

    // Non-admins may do none of it.
    let someone = Principal::user(caas_core::UserId::new());
    assert!(
        platform
            .admin()
            .runtime_config(&someone)
            .await
            .unwrap_err()
            .is_permission_denied()
    );
    assert!(
        platform
            .admin()
            .detect_runtime(&someone)
            .await
            .unwrap_err()
            .is_permission_denied()
    );

    // Invalid settings name the field.
    let bad = RuntimeConfig {
        backend: "docker".into(),
        settings: serde_json::json!({"type": "tcp", "url": "localhost"}),
    };
    let err = platform
        .admin()
        .update_runtime_config(&admin, bad)
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("settings.connection.url"), "{err}");

    // Point it at a socket where nothing listens: saved, switched, reported unreachable.
    let dir = tempfile::tempdir().unwrap();
    let nowhere = DockerConnector::config(&DockerConnection::Unix {
        path: dir.path().join("nope.sock"),
    });
    let report = platform
        .admin()
        .update_runtime_config(&admin, nowhere.clone())
        .await
        .unwrap();
    assert!(!report.reachable);
    assert_eq!(platform.health().await.status, "degraded");

    // A new platform over the same store picks the stored configuration up at start.
    let restarted = build();
    assert_eq!(
        restarted.admin().load_runtime_config().await.unwrap(),
        Some(nowhere)
    );
    assert_eq!(restarted.health().await.status, "degraded");

    // And back.
    assert!(
        platform
            .admin()
            .update_runtime_config(&admin, good.clone())
            .await
            .unwrap()
            .reachable
    );
    assert_eq!(platform.health().await.status, "ok");
    let detected = platform.admin().detect_runtime(&admin).await.unwrap();
    assert_eq!(
        detected.chosen.map(|c| c.backend),
        Some("docker".to_string())
    );
}
