//! End to end: the real server binary starts with its defaults (SQLite in a fresh data
//! directory, the real Docker engine) and answers `GET /v1/health` on a loopback port.

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use caas_testkit::env;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

async fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await?;
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

struct Server {
    child: tokio::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

async fn start(docker_host: &str) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_caas-server"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("DOCKER_HOST", docker_host)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start caas-server");
    let mut server = Server {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if get(port, "/v1/health").await.is_ok() {
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("caas-server exited early with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "caas-server did not listen within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn server_starts_with_defaults_and_reports_the_real_engine() {
    let Some(docker) = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine") else {
        return;
    };
    let mut server = start(&docker).await;
    let (status, body) = get(server.port, "/v1/health").await.expect("health");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["store"]["available"], true, "{v}");
    assert_eq!(v["runtime"]["available"], true, "{v}");
    assert_eq!(v["engine"]["backend"], "docker", "{v}");
    assert_eq!(v["status"], "ok");
    // Graceful shutdown on SIGTERM.
    let pid = server.child.id().expect("pid");
    let killed = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), server.child.wait())
        .await
        .expect("server stops within 10 s of SIGTERM")
        .expect("wait");
    assert!(exit.success(), "clean exit: {exit}");
}

#[tokio::test]
async fn server_starts_without_an_engine_and_reports_it_unavailable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = format!("unix://{}", dir.path().join("no-docker.sock").display());
    let server = start(&missing).await;
    let (status, body) = get(server.port, "/v1/health").await.expect("health");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["status"], "degraded", "{v}");
    assert_eq!(v["runtime"]["available"], false, "{v}");
    assert_eq!(v["store"]["available"], true, "{v}");
}

#[tokio::test]
async fn the_server_reconciles_at_start_up_and_removes_orphans() {
    use caas_core::ContainerRuntime;
    use caas_core::ports::runtime::ContainerSpec;

    let Some(docker) = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine") else {
        return;
    };
    let Some(image) = env::require("CAAS_TEST_BUSYBOX_IMAGE", "the local busybox image") else {
        return;
    };
    let path = docker
        .strip_prefix("unix://")
        .unwrap_or(&docker)
        .to_string();
    let rt = caas_docker::DockerRuntime::builder()
        .connection(caas_docker::DockerConnection::Unix { path: path.into() })
        .build()
        .await
        .expect("engine");
    // A container of this server's instance whose deployment no store knows: an orphan.
    let mut spec = ContainerSpec::new(format!("caas-orphan-{}", env::run_id()), image);
    spec.command = Some(vec!["sleep".into(), "300".into()]);
    spec.labels = caas_core::labels::container_labels(
        caas_core::OrgId::new(),
        caas_core::ProjectId::new(),
        caas_core::ServiceId::new(),
        caas_core::DeploymentId::new(),
    );
    spec.labels
        .insert(caas_core::labels::INSTANCE.into(), "default".into());
    let id = rt
        .create_container(&spec)
        .await
        .expect("create")
        .id()
        .to_string();
    rt.start_container(&id).await.expect("start");

    let _server = start(&docker).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while rt
        .inspect_container_opt(&id)
        .await
        .expect("inspect")
        .is_some()
    {
        assert!(Instant::now() < deadline, "the orphan was not removed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
