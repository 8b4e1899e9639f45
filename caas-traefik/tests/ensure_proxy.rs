//! `ensure_proxy` on the real engine: Traefik from the local image runs as a managed
//! container configured by flags only, twice without a second container, and answers
//! `/ping` on its bridge address; its API is refused on a public address unless asked for,
//! and a proxy that joins a tenant network serves its API on its control network only.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use caas_core::ContainerRuntime;
use caas_core::labels;
use caas_core::ports::runtime::{
    ContainerSpec, ContainerStatus, LabelSelector, NetworkAttachment, NetworkSpec,
};
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

    // A public API address is refused before anything is created...
    let e = ensure_proxy(&rt, &p).await.unwrap_err();
    assert_eq!(e.field(), Some("api"), "{e}");
    assert!(
        rt.inspect_container_opt(&p.name).await.unwrap().is_none(),
        "nothing was created"
    );
    // ...unless the operator says only the platform reaches it: this container joins no
    // tenant network, and the test reads /ping on its bridge address.
    p.config.api_beyond_loopback = true;

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

/// Whether a TCP connection from inside container `id` to `ip:port` opens.
async fn connects_from(rt: &DockerRuntime, id: &str, ip: &str, port: u16) -> bool {
    use futures::TryStreamExt;
    let probe =
        format!("if nc -w 2 {ip} {port} -e true </dev/null; then echo OPEN; else echo CLOSED; fi");
    let out: Vec<u8> = rt
        .exec(id, &["sh".into(), "-c".into(), probe], None)
        .await
        .unwrap()
        .map_ok(|b| b.to_vec())
        .try_concat()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&out);
    match out.trim().lines().last() {
        Some("OPEN") => true,
        Some("CLOSED") => false,
        other => panic!("unexpected probe output {other:?} ({out})"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_on_tenant_networks_serves_its_api_on_its_control_network_only() {
    let Some(docker) = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine") else {
        return;
    };
    let Some(image) = env::require("CAAS_TEST_TRAEFIK_IMAGE", "the local Traefik image") else {
        return;
    };
    let Some(busybox) = env::require("CAAS_TEST_BUSYBOX_IMAGE", "the local busybox image") else {
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
    let labels = std::collections::BTreeMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::TEST_RUN.to_string(), run.clone()),
    ]);
    let (control, tenants) = (format!("caas-ctl-{run}"), format!("caas-tenant-{run}"));
    for n in [&control, &tenants] {
        rt.create_network(&NetworkSpec::new(n, labels.clone()))
            .await
            .unwrap();
    }
    let body = async {
        // Traefik joins the control network first, with an alias there only, and a tenant
        // network (as a Swarm proxy joins every project's); its API listens on the alias.
        let mut config = StaticConfig::new(
            "0.0.0.0:8000".parse().unwrap(),
            "0.0.0.0:8081".parse().unwrap(),
        );
        config.api_host = Some("caas-proxy-api".into());
        config.api_beyond_loopback = true;
        let mut p = ProxyContainer::new(format!("caas-proxy-ctl-{run}"), &image, config);
        p.labels.insert(labels::TEST_RUN.into(), run.clone());
        p.networks = vec![
            NetworkAttachment {
                network: control.clone(),
                aliases: vec!["caas-proxy-api".into()],
            },
            NetworkAttachment {
                network: tenants.clone(),
                aliases: vec![],
            },
        ];
        let proxy = ensure_proxy(&rt, &p).await.unwrap();
        let (control_ip, tenant_side_ip) = (
            proxy.ip_addresses[&control].clone(),
            proxy.ip_addresses[&tenants].clone(),
        );

        let mut spec = ContainerSpec::new(format!("caas-tenant-{run}"), &busybox);
        spec.command = Some(vec!["sleep".into(), "3600".into()]);
        spec.labels = labels.clone();
        spec.networks = vec![NetworkAttachment {
            network: tenants.clone(),
            aliases: vec![],
        }];
        let tenant = rt.create_container(&spec).await.unwrap().id().to_string();
        rt.start_container(&tenant).await.unwrap();

        // The platform reaches the API on the control network.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match get(&control_ip, 8081, "/ping").await {
                Ok(a) if a.starts_with("HTTP/1.1 200") => break,
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "no /ping on the control network at {control_ip}:8081: {other:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        // The tenant reaches the proxy's web entrypoint, not its API.
        assert!(connects_from(&rt, &tenant, &tenant_side_ip, 8000).await);
        assert!(
            !connects_from(&rt, &tenant, &tenant_side_ip, 8081).await,
            "a tenant reached the proxy's API at {tenant_side_ip}:8081"
        );
    };
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(body)).await;
    let mine = LabelSelector::managed().with(labels::TEST_RUN, &run);
    for c in rt.list_containers(&mine).await.unwrap_or_default() {
        let _ = rt.remove_container(&c.id, true).await;
    }
    for n in [&control, &tenants] {
        let _ = rt.remove_network(n).await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
