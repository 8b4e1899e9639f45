//! The vertical slice on the real engine: `Platform` deploys the busybox httpd app, the host
//! reaches it over its project network, every container it made is hardened, and deleting it
//! leaves nothing labelled behind.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::{PlanLimits, PortSpec, Protocol, ServiceSpec};
use caas_core::platform::{DeleteOptions, DeployApp};
use caas_core::ports::runtime::{ALLOWED_CAPABILITIES, LabelSelector};
use caas_core::units::GIB;
use caas_core::validate::ImageRef;
use caas_core::{ContainerRuntime, Platform};
use caas_core::{ProjectRef, ServiceRef};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn http_get(addr: &str) -> std::io::Result<String> {
    let mut s = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::other("connect timeout"))??;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").await?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await?;
    Ok(buf)
}

#[tokio::test]
async fn platform_deploys_busybox_httpd_reachable_hardened_and_deletes_it_cleanly() {
    let Some((rt, image)) = common::docker().await else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt);
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(runtime.clone())
        .stop_timeout(Duration::from_secs(2))
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
        "web",
    )
    .await;
    let (admin, slug) = (tenant.admin.clone(), tenant.org.clone());

    let mut spec = ServiceSpec::new(ImageRef::parse(image).unwrap());
    // busybox httpd serving a page written at start; the entrypoint runs as given.
    spec.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "mkdir -p /www && echo hello-from-caas > /www/index.html && exec httpd -f -p 8080 -h /www"
            .into(),
    ]);
    spec.ports.push(PortSpec {
        container_port: 8080,
        protocol: Protocol::Tcp,
    });
    let svc = platform
        .services()
        .deploy_app(
            &admin,
            &ProjectRef::new(&slug, "web"),
            DeployApp::new("site", spec),
        )
        .await
        .unwrap();

    let selector = LabelSelector::managed().with(labels::ORG, svc.org);
    let containers = runtime.list_containers(&selector).await.unwrap();
    assert_eq!(containers.len(), 1);
    let info = runtime
        .inspect_container_opt(&containers[0].id)
        .await
        .unwrap()
        .unwrap();

    // Hardening, as the engine reports it.
    let sec = &info.security;
    assert!(!sec.privileged);
    assert_eq!(sec.cap_drop, vec!["ALL".to_string()]);
    for cap in &sec.cap_add {
        let c = cap.trim_start_matches("CAP_");
        assert!(
            ALLOWED_CAPABILITIES.contains(&c),
            "unexpected capability {cap}"
        );
    }
    assert!(sec.no_new_privileges);
    assert_ne!(sec.network_mode, "host");
    assert_ne!(sec.pid_mode, "host");
    assert_ne!(sec.ipc_mode, "host");
    assert!(sec.bind_mounts.is_empty());
    assert!(info.limits.memory_bytes > 0 && info.limits.cpu_millis > 0 && info.limits.pids > 0);
    assert!(!info.env.iter().any(|e| e.contains("docker.sock")));

    // Reachable from the host over the project network.
    let ip = info
        .ip_addresses
        .values()
        .next()
        .expect("an address")
        .clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        match http_get(&format!("{ip}:8080")).await {
            Ok(body) if body.contains("hello-from-caas") => break body,
            other => {
                assert!(Instant::now() < deadline, "httpd did not answer: {other:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(
        page.starts_with("HTTP/1.") && page.contains("200"),
        "{page}"
    );

    platform
        .services()
        .delete(
            &admin,
            &ServiceRef::new(&slug, "web", "site"),
            DeleteOptions::default(),
        )
        .await
        .unwrap();
    platform
        .projects()
        .delete(
            &admin,
            &ProjectRef::new(&slug, "web"),
            DeleteOptions::default(),
        )
        .await
        .unwrap();
    assert!(runtime.list_containers(&selector).await.unwrap().is_empty());
    assert!(runtime.list_networks(&selector).await.unwrap().is_empty());
}
