//! Smoke test: the real Traefik binary starts with a generated static configuration and
//! answers on its API port.

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use caas_testkit::env;
use caas_traefik::StaticConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await?;
    Ok(buf)
}

#[tokio::test]
async fn traefik_starts_and_answers_on_its_api_port() {
    let Some(bin) = env::require("CAAS_TEST_TRAEFIK_BIN", "the Traefik binary") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (web, api) = (free_port(), free_port());
    let mut cfg = StaticConfig::new(
        format!("127.0.0.1:{web}").parse().unwrap(),
        format!("127.0.0.1:{api}").parse().unwrap(),
    );
    cfg.file_provider_dir = Some(dir.path().join("dynamic"));
    std::fs::create_dir_all(dir.path().join("dynamic")).unwrap();
    let file = dir.path().join("traefik.yml");
    std::fs::write(&file, cfg.to_yaml().unwrap()).unwrap();
    let mut child = tokio::process::Command::new(&bin)
        .arg(format!("--configFile={}", file.display()))
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));

    let deadline = Instant::now() + Duration::from_secs(20);
    let version = loop {
        if let Ok(body) = http_get(api, "/api/version").await {
            if body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200") {
                break body;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .await
                .unwrap();
            panic!("traefik exited with {status}: {err}");
        }
        assert!(
            Instant::now() < deadline,
            "traefik did not answer on its API port within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(version.contains("\"Version\""), "{version}");
    let ping = http_get(api, "/ping").await.unwrap();
    assert!(ping.contains("OK"), "{ping}");
    // The web entrypoint is up too: an unrouted request gets Traefik's own 404.
    let not_found = http_get(web, "/").await.unwrap();
    assert!(not_found.contains("404"), "{not_found}");
    child.kill().await.unwrap();
}
