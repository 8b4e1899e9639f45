//! Tenants can neither read nor steer the real Traefik: its API does not answer a tenant
//! container (through the host's gateway address, or through the public entrypoint) while
//! the platform on the host reads it; and with the Docker provider on, as the platform
//! configures it, an image shipping `traefik.*` labels (and `caas.managed=true`) deployed
//! through the platform gets no router, while a container carrying the proxy's labels does.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_core::ProjectRef;
use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::{PortSpec, Protocol, ResourceLimits, ServiceSpec};
use caas_core::platform::DeployApp;
use caas_core::ports::proxy::{RouteRule, ServiceRoutes};
use caas_core::ports::runtime::{ContainerSpec, LabelSelector, NetworkAttachment, NetworkSpec};
use caas_core::units::MIB;
use caas_core::validate::{HostPattern, ImageRef};
use caas_core::{ContainerRuntime, Platform, Proxy, ServiceId};
use caas_docker::{DockerConnection, DockerRuntime, HostGuard};
use caas_testkit::env;
use caas_testkit::probe::{connects, exec_output};
use caas_traefik::{DockerProvider, Entrypoints, TraefikProxy, new_route_token};
use futures::{FutureExt, StreamExt};

/// The test engine (host guard as asked), the busybox image and the engine's address.
async fn docker(guard: HostGuard) -> Option<(DockerRuntime, String, String)> {
    let host = env::require("CAAS_TEST_DOCKER_HOST", "a Docker engine")?;
    let image = env::require("CAAS_TEST_BUSYBOX_IMAGE", "the local busybox image")?;
    let path = host.strip_prefix("unix://").unwrap_or(&host).to_string();
    match DockerRuntime::builder()
        .connection(DockerConnection::Unix { path: path.into() })
        .helper_image(image.clone())
        .host_guard(guard)
        .build()
        .await
    {
        Ok(rt) => Some((rt, image, host)),
        Err(e) => env::unavailable("the Docker engine", e),
    }
}

fn platform(runtime: Arc<dyn ContainerRuntime>, instance: &str) -> Platform {
    Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(runtime)
        .instance(instance)
        .stop_timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

fn small(image: &str, command: &str) -> ServiceSpec {
    let mut spec = ServiceSpec::new(ImageRef::parse(image).unwrap());
    spec.command = Some(vec!["sh".into(), "-c".into(), command.into()]);
    spec.resources = ResourceLimits {
        cpu_millis: 100,
        memory_bytes: 32 * MIB,
        pids: 32,
    };
    spec
}

async fn container_of(rt: &dyn ContainerRuntime, service: ServiceId, instance: &str) -> String {
    let selector = LabelSelector::managed()
        .with(labels::SERVICE, service)
        .with(labels::INSTANCE, instance);
    rt.list_containers(&selector).await.unwrap()[0].id.clone()
}

/// Runs `body`, then removes every container and network of `instance`, even after a panic.
async fn cleaning_up<F: std::future::Future<Output = ()>>(
    rt: &dyn ContainerRuntime,
    instance: &str,
    body: F,
) {
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    let selector = LabelSelector::managed().with(labels::INSTANCE, instance);
    for c in rt.list_containers(&selector).await.unwrap_or_default() {
        let _ = rt.remove_container(&c.id, true).await;
    }
    for n in rt.list_networks(&selector).await.unwrap_or_default() {
        let _ = rt.remove_network(&n.name).await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_container_cannot_read_traefiks_api_while_the_platform_can() {
    // The host guard would refuse every host port anyway: without it, what keeps tenants
    // out is the API's loopback address alone.
    let Some((rt, image, _)) = docker(HostGuard::Off).await else {
        return;
    };
    let Some(traefik) = common::Traefik::start_with(common::Options {
        public_web: true,
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt.clone());
    let instance = format!("api{}", env::run_id());
    let platform = platform(runtime.clone(), &instance);
    cleaning_up(&*runtime, &instance, async {
        let t = caas_testkit::platform::seed_tenant(
            &platform,
            caas_testkit::platform::test_limits(),
            "p",
        )
        .await;
        let svc = platform
            .services()
            .deploy_app(
                &t.admin,
                &ProjectRef::new(&t.org, "p"),
                DeployApp::new("tenant", small(&image, "exec sleep 3600")),
            )
            .await
            .unwrap();
        let tenant = container_of(&*runtime, svc.id, &instance).await;
        let info = runtime
            .inspect_container_opt(&tenant)
            .await
            .unwrap()
            .unwrap();
        let network = info.ip_addresses.keys().next().unwrap().clone();
        let n = rt
            .client()
            .unwrap()
            .inspect_network::<String>(&network, None)
            .await
            .unwrap();
        let gateway = n
            .ipam
            .and_then(|i| i.config)
            .and_then(|c| c.into_iter().find_map(|c| c.gateway))
            .expect("a gateway address");

        // The public entrypoint answers the tenant (the probe works, the host is reachable)...
        assert!(
            connects(&*runtime, &tenant, &gateway, traefik.web).await,
            "the tenant does not even reach the web entrypoint at {gateway}:{}",
            traefik.web
        );
        // ...the API's port does not...
        assert!(
            !connects(&*runtime, &tenant, &gateway, traefik.api).await,
            "a tenant container reached Traefik's API at {gateway}:{}",
            traefik.api
        );
        // ...and the public entrypoint does not serve the API either.
        let through_web = exec_output(
            &*runtime,
            &tenant,
            &format!(
                "timeout 5 wget -q -O- http://{gateway}:{}/api/http/routers 2>&1; echo EXIT=$?",
                traefik.web
            ),
        )
        .await;
        assert!(
            through_web.contains("404") && !through_web.contains("\"rule\""),
            "{through_web}"
        );

        // The platform, on the host, reads it.
        let (status, body) = common::get(traefik.api, "/api/http/routers", "localhost")
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let proxy =
            TraefikProxy::new(&traefik.dir, traefik.api_url(), Entrypoints::default()).unwrap();
        let routes = ServiceRoutes {
            key: format!("api-{instance}"),
            rules: vec![RouteRule {
                host: HostPattern::parse(format!("{instance}.example.test")).unwrap(),
                path_prefix: "/".into(),
                strip_prefix: false,
                tls: false,
            }],
            upstreams: vec!["http://127.0.0.1:9".into()],
        };
        let g = proxy.apply(&routes).await.unwrap();
        proxy
            .wait_applied(&routes.key, g, Duration::from_secs(10))
            .await
            .unwrap();
    })
    .await;
}

/// Builds `tag` from the busybox image with hostile labels: a Traefik router for
/// `evil.test`, `traefik.enable=true` and the platform's own `caas.managed=true`.
async fn build_hostile_image(rt: &DockerRuntime, base: &str, tag: &str) {
    let dockerfile = format!(
        "FROM {base}\n\
         LABEL traefik.enable=\"true\" \\\n\
               traefik.http.routers.evil.rule=\"Host(`evil.test`)\" \\\n\
               traefik.http.routers.evil.entrypoints=\"web\" \\\n\
               traefik.http.routers.evil.priority=\"1000000\" \\\n\
               traefik.http.services.evil.loadbalancer.server.port=\"8080\" \\\n\
               caas.managed=\"true\"\n"
    );
    let mut context = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    context
        .append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .unwrap();
    let context = context.into_inner().unwrap();
    let docker = rt.client().unwrap();
    let mut build = docker.build_image(
        bollard::image::BuildImageOptions {
            dockerfile: "Dockerfile".to_string(),
            t: tag.to_string(),
            rm: true,
            forcerm: true,
            ..Default::default()
        },
        None,
        Some(context.into()),
    );
    while let Some(step) = build.next().await {
        let step = step.unwrap();
        assert!(step.error.is_none(), "building {tag}: {step:?}");
    }
}

/// The names of the routers Traefik serves.
async fn routers(api: u16) -> Vec<(String, String)> {
    let (status, body) = common::get(api, "/api/http/routers", "localhost")
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    list.iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_string(),
                r["rule"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_image_shipping_traefik_labels_gets_no_route_from_the_docker_provider() {
    let Some((rt, image, endpoint)) = docker(HostGuard::Auto).await else {
        return;
    };
    let token = new_route_token();
    let Some(traefik) = common::Traefik::start_with(common::Options {
        docker_provider: Some(DockerProvider::new(token.clone()).endpoint(endpoint)),
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt.clone());
    let instance = format!("lbl{}", env::run_id());
    let hostile = format!("caas-test/hostile-labels:{instance}");
    build_hostile_image(&rt, &image, &hostile).await;
    let proxy = TraefikProxy::new(&traefik.dir, traefik.api_url(), Entrypoints::default())
        .unwrap()
        .with_docker_labels(8080, token.clone())
        .unwrap();
    let platform = platform(runtime.clone(), &instance);

    cleaning_up(&*runtime, &instance, async {
        let t = caas_testkit::platform::seed_tenant(
            &platform,
            caas_testkit::platform::test_limits(),
            "p",
        )
        .await;
        // The hostile image, deployed through the platform like any tenant's.
        let mut spec = small(
            &hostile,
            "mkdir -p /www && echo evil > /www/index.html && exec httpd -f -p 8080 -h /www",
        );
        spec.ports.push(PortSpec {
            container_port: 8080,
            protocol: Protocol::Tcp,
        });
        let svc = platform
            .services()
            .deploy_app(
                &t.admin,
                &ProjectRef::new(&t.org, "p"),
                DeployApp::new("evil", spec),
            )
            .await
            .unwrap();
        let evil = container_of(&*runtime, svc.id, &instance).await;
        let evil_labels = runtime
            .inspect_container_opt(&evil)
            .await
            .unwrap()
            .unwrap()
            .labels;
        assert_eq!(
            evil_labels
                .get("traefik.http.routers.evil.rule")
                .map(String::as_str),
            Some("Host(`evil.test`)"),
            "the engine merged the image's labels into the container's: {evil_labels:?}"
        );
        assert_eq!(evil_labels[labels::MANAGED], "true");

        // A container the proxy labelled, created after it, on its own network.
        let net = format!("caas-lbl-{instance}");
        let managed = BTreeMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::INSTANCE.to_string(), instance.clone()),
        ]);
        runtime
            .create_network(&NetworkSpec::new(&net, managed.clone()))
            .await
            .unwrap();
        let key = format!("good-{instance}");
        let routes = ServiceRoutes {
            key: key.clone(),
            rules: vec![RouteRule {
                host: HostPattern::parse("good.test").unwrap(),
                path_prefix: "/".into(),
                strip_prefix: false,
                tls: false,
            }],
            upstreams: vec![],
        };
        let mut good = ContainerSpec::new(format!("caas-lbl-good-{instance}"), &image);
        good.command = Some(vec![
            "sh".into(),
            "-c".into(),
            "mkdir -p /www && echo good > /www/index.html && exec httpd -f -p 8080 -h /www".into(),
        ]);
        good.labels = proxy.container_labels(&routes).unwrap();
        good.labels.extend(managed);
        good.networks = vec![NetworkAttachment {
            network: net.clone(),
            aliases: vec![],
        }];
        let id = runtime
            .create_container(&good)
            .await
            .unwrap()
            .id()
            .to_string();
        runtime.start_container(&id).await.unwrap();

        // Traefik picks the labelled container up: the provider works and reads this engine.
        let router = format!("caas-{key}-0@docker");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = common::get(traefik.web, "/", "good.test").await.unwrap();
            if status == 200 && body.contains("good") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no route to the labelled container: {status} {body}; routers {:?}; log {}",
                routers(traefik.api).await,
                traefik.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let served = routers(traefik.api).await;
        assert!(served.iter().any(|(n, _)| *n == router), "{served:?}");

        // The hostile image got nothing: no router of its, nothing for its host.
        assert!(
            !served
                .iter()
                .any(|(n, rule)| n.starts_with("evil") || rule.contains("evil.test")),
            "{served:?}"
        );
        let (status, body) = common::get(traefik.web, "/", "evil.test").await.unwrap();
        assert_eq!(status, 404, "evil.test was routed: {body}");
    })
    .await;
    let _ = rt
        .client()
        .unwrap()
        .remove_image(
            &hostile,
            Some(bollard::image::RemoveImageOptions {
                force: true,
                ..Default::default()
            }),
            None,
        )
        .await;
}
