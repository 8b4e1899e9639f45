//! Zero-downtime configuration updates through the real Traefik, on the real engine: a load
//! loop of concurrent clients on loopback keeps requesting a busybox httpd app while it is
//! updated; not one request may fail.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::{
    EnvVar, HealthCheck, HealthProbe, PlanLimits, PortSpec, Protocol, ServiceSpec,
};
use caas_core::platform::{ApplyMode, DeployApp, RolloutTiming, ServiceUpdate};
use caas_core::ports::proxy::{RouteRule, ServiceRoutes};
use caas_core::ports::runtime::LabelSelector;
use caas_core::units::GIB;
use caas_core::validate::{Hostname, ImageRef};
use caas_core::{ContainerRuntime, Platform, Principal, Proxy, ServiceId};
use caas_core::{ProjectRef, ServiceRef};
use caas_docker::{DockerConnection, DockerRuntime};
use caas_testkit::env;
use caas_testkit::load::HttpLoad;
use caas_traefik::{Entrypoints, TraefikProxy};

struct Setup {
    platform: Platform,
    runtime: Arc<dyn ContainerRuntime>,
    proxy: Arc<TraefikProxy>,
    traefik: common::Traefik,
    admin: Principal,
    slug: String,
    host: String,
    instance: String,
    service: ServiceId,
}

async fn setup() -> Option<Setup> {
    let traefik = common::Traefik::start().await?;
    let docker = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine")?;
    let image = env::require("CAAS_TEST_BUSYBOX_IMAGE", "the local busybox image")?;
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
        Err(e) => return env::unavailable("the Docker engine", e),
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt);
    let proxy = Arc::new(
        TraefikProxy::new(&traefik.dir, traefik.api_url(), Entrypoints::default()).unwrap(),
    );
    let instance = format!("zd{}", env::run_id());
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(runtime.clone())
        .proxy(proxy.clone())
        .instance(instance.clone())
        .stop_timeout(Duration::from_secs(2))
        .rollout(RolloutTiming::new(
            Duration::from_secs(30),
            Duration::from_millis(500),
            Duration::from_millis(500),
        ))
        .build()
        .unwrap();
    let tenant = caas_testkit::platform::seed_tenant(
        &platform,
        PlanLimits {
            cpu_millis: 4000,
            memory_bytes: 4 * GIB,
            storage_bytes: 10 * GIB,
            max_containers: 10,
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
    spec.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "mkdir -p /www && echo \"v$VERSION\" > /www/index.html && exec httpd -f -p 8080 -h /www"
            .into(),
    ]);
    spec.env.push(EnvVar::plain("VERSION", "1").unwrap());
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

    // Route a host to it through Traefik.
    let host = format!("{slug}.caas.test");
    let c = &runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, svc.id))
        .await
        .unwrap()[0];
    let ip = runtime
        .inspect_container_opt(&c.id)
        .await
        .unwrap()
        .unwrap()
        .ip_addresses
        .values()
        .next()
        .unwrap()
        .clone();
    let routes = ServiceRoutes {
        key: svc.id.to_string(),
        rules: vec![RouteRule {
            host: Hostname::parse(host.clone()).unwrap().into(),
            path_prefix: "/".into(),
            strip_prefix: false,
            tls: false,
        }],
        upstreams: vec![format!("http://{ip}:8080")],
    };
    let g = proxy.apply(&routes).await.unwrap();
    proxy
        .wait_applied(&routes.key, g, Duration::from_secs(20))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match common::get(traefik.web, "/index.html", &host).await {
            Ok((200, body)) if body.contains("v1") => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "the app never answered through Traefik: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Some(Setup {
        platform,
        runtime,
        proxy,
        traefik,
        admin,
        slug,
        host,
        instance,
        service: svc.id,
    })
}

fn start_load(port: u16, host: &str, clients: usize) -> HttpLoad {
    HttpLoad::start("127.0.0.1", port, host, "/index.html", clients)
}

async fn cleanup(s: &Setup) {
    let _ = s.proxy.remove(&s.service.to_string()).await;
    let sel = LabelSelector::managed().with(labels::INSTANCE, &s.instance);
    for c in s.runtime.list_containers(&sel).await.unwrap_or_default() {
        let _ = s.runtime.remove_container(&c.id, true).await;
    }
    for n in s.runtime.list_networks(&sel).await.unwrap_or_default() {
        let _ = s.runtime.remove_network(&n.name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_env_updates_under_load_lose_no_request() {
    let Some(s) = setup().await else {
        return;
    };
    let load = start_load(s.traefik.web, &s.host, 8);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    for v in 2..=11 {
        let mut u = ServiceUpdate::default();
        u.env_set
            .push(EnvVar::plain("VERSION", v.to_string()).unwrap());
        let r = s
            .platform
            .services()
            .update(&s.admin, &ServiceRef::new(&s.slug, "web", "site"), u, false)
            .await
            .unwrap_or_else(|e| panic!("update {v}: {e}"));
        assert_eq!(r.mode, ApplyMode::Rolling);
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, failed, failures) = load.finish().await.tally(|b| b.starts_with('v'));
    eprintln!("10 rolling updates in {elapsed:?}: {ok} requests served, {failed} failed");
    assert_eq!(
        failed,
        0,
        "failed requests: {:?}",
        &failures[..failures.len().min(10)]
    );
    assert!(ok > 100, "the load loop ran ({ok} requests)");
    let (status, body) = common::get(s.traefik.web, "/index.html", &s.host)
        .await
        .unwrap();
    assert_eq!((status, body.trim()), (200, "v11"));
    let containers = s
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, s.service))
        .await
        .unwrap();
    assert_eq!(containers.len(), 1, "old containers are gone");
    cleanup(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_that_never_gets_healthy_is_rolled_back_without_failed_requests() {
    let Some(s) = setup().await else {
        return;
    };
    let before = s
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, s.service))
        .await
        .unwrap();
    let load = start_load(s.traefik.web, &s.host, 8);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut u = ServiceUpdate::default();
    u.env_set.push(EnvVar::plain("VERSION", "broken").unwrap());
    u.health_check = Some(HealthCheck {
        probe: HealthProbe::Command {
            command: vec!["false".into()],
        },
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        retries: 1,
        start_period: Duration::ZERO,
    });
    let err = s
        .platform
        .services()
        .update(&s.admin, &ServiceRef::new(&s.slug, "web", "site"), u, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unhealthy"), "{err}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, failed, failures) = load.finish().await.tally(|b| b.starts_with('v'));
    assert_eq!(
        failed,
        0,
        "failed requests: {:?}",
        &failures[..failures.len().min(10)]
    );
    assert!(ok > 10);
    let after = s
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, s.service))
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, before[0].id, "the old container still serves");
    let (status, body) = common::get(s.traefik.web, "/index.html", &s.host)
        .await
        .unwrap();
    assert_eq!((status, body.trim()), (200, "v1"));
    cleanup(&s).await;
}
