//! `ensure_proxy` on the real engine: Traefik from the local image runs as a managed
//! container configured by flags only, twice without a second container, and answers
//! `/ping` on its bridge address.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use caas_core::ContainerRuntime;
use caas_core::labels;
use caas_core::ports::runtime::{ContainerStatus, LabelSelector};
use caas_docker::{DockerConnection, DockerRuntime};
use caas_testkit::env;
use caas_traefik::{ProxyContainer, StaticConfig, ensure_proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(ip: &str, port: u16, path: &str) -> std::io::Result<String> {
    let mut s = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect((ip, port)),
    )
    .await
    .map_err(|_| std::io::Error::other("connect timeout"))??;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut buf))
        .await
        .map_err(|_| std::io::Error::other("read timeout"))??;
    Ok(buf)
}

#[tokio::test]
async fn ensure_proxy_runs_traefik_idempotently_and_it_answers_ping() {
    let Some(docker) = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine") else {
        return;
    };
    let Some(image) = env::require("CAAS_TEST_TRAEFIK_IMAGE", "the local Traefik image") else {
        return;
    };
    let path = docker
        .strip_prefix("unix://")
        .unwrap_or(&docker)
        .to_string();
    let rt = match DockerRuntime::builder()
        .connection(DockerConnection::Unix { path: path.into() })
        .build()
        .await
    {
        Ok(rt) => rt,
        Err(e) => {
            env::unavailable::<()>("the Docker engine", e);
            return;
        }
    };
    let run = env::run_id();
    let mut config = StaticConfig::new(
        "0.0.0.0:8000".parse().unwrap(),
        "0.0.0.0:8081".parse().unwrap(),
    );
    config.websecure = Some("0.0.0.0:8443".parse().unwrap());
    let mut p = ProxyContainer::new(format!("caas-proxy-{run}"), image, config);
    p.labels.insert(labels::TEST_RUN.into(), run.clone());

    let first = ensure_proxy(&rt, &p).await.unwrap();
    let second = ensure_proxy(&rt, &p).await.unwrap();
    assert_eq!(first.id, second.id, "the second call reuses the container");
    assert_eq!(second.status, ContainerStatus::Running);
    assert_eq!(second.labels[labels::MANAGED], "true");
    assert_eq!(second.labels[labels::KIND], "proxy");
    let found = rt
        .list_containers(
            &LabelSelector::managed()
                .with(labels::KIND, "proxy")
                .with(labels::TEST_RUN, &run),
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");

    let ip = second.ip_addresses.values().next().unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    let ping = loop {
        match get(&ip, 8081, "/ping").await {
            Ok(a) if a.starts_with("HTTP/1.1 200") => break a,
            other => {
                if Instant::now() > deadline {
                    let info = rt.inspect_container_opt(&second.id).await;
                    panic!("no /ping answer from {ip}:8081: {other:?} ({info:?})");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(ping.ends_with("OK"), "{ping}");

    // Stopped by hand: ensure_proxy starts it again.
    rt.stop_container(&second.id, Duration::from_secs(5))
        .await
        .unwrap();
    let third = ensure_proxy(&rt, &p).await.unwrap();
    assert_eq!(third.id, first.id);
    assert_eq!(third.status, ContainerStatus::Running);

    rt.remove_container(&first.id, true).await.unwrap();
    assert!(rt.inspect_container_opt(&first.id).await.unwrap().is_none());
}
