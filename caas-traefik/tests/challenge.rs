//! The HTTP challenge of a hostname claim, answered by the platform itself through the real
//! Traefik: the claim's challenge route sends `http://<host>/.well-known/caas-challenge/<token>`
//! to `caas_http`'s route on a real listener, HTTP verification fetches it through Traefik's
//! web entrypoint, and once proven the challenge route is gone and the service's routers are
//! there. (Services run on the in-memory runtime: what is tested is the proxy path.)

#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::model::{PortSpec, Protocol, ServiceSpec, VerificationStatus};
use caas_core::platform::{DeployApp, DomainConfig, NewDomain, VerificationMethod};
use caas_core::ports::dns::InMemoryDns;
use caas_core::validate::ImageRef;
use caas_core::{Platform, Proxy};
use caas_core::{ProjectRef, ServiceRef};
use caas_testkit::env;
use caas_traefik::{Entrypoints, TraefikProxy, router_name};

/// The names of the routers Traefik serves from the file provider.
async fn file_routers(api: u16) -> Vec<String> {
    let (status, body) = common::get(api, "/api/http/routers", "localhost")
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let start = body.find('[').unwrap_or(0);
    let end = body.rfind(']').map_or(body.len(), |i| i + 1);
    let routers: Vec<serde_json::Value> = serde_json::from_str(&body[start..end]).unwrap();
    routers
        .iter()
        .filter(|r| r["provider"] == "file")
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_answers_its_http_challenge_through_traefik_and_the_claim_is_proven() {
    let Some(traefik) = common::Traefik::start().await else {
        return;
    };
    let localhost: IpAddr = "127.0.0.1".parse().unwrap();
    // The platform's own HTTP listener, where Traefik sends challenge requests.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_port = listener.local_addr().unwrap().port();
    let proxy = Arc::new(
        TraefikProxy::new(&traefik.dir, traefik.api_url(), Entrypoints::default()).unwrap(),
    );
    let image = "caas/busybox:latest";
    let runtime = InMemoryRuntime::new();
    runtime.add_image(image);
    let dns = Arc::new(InMemoryDns::new());
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(Arc::new(runtime))
        .proxy(proxy.clone())
        .dns_resolver(dns.clone())
        .domains(
            DomainConfig::new()
                .public_address(localhost)
                .http_challenge(format!("http://127.0.0.1:{api_port}"))
                .http_port(traefik.web)
                .http_timeout(Duration::from_secs(5)),
        )
        .build()
        .unwrap();
    let app = caas_http::router(
        platform.clone(),
        Arc::new(caas_http::BearerTokenAuthenticator),
    );
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let t = caas_testkit::platform::seed_tenant(
        &platform,
        caas_testkit::platform::test_limits(),
        "web",
    )
    .await;
    let mut spec = ServiceSpec::new(ImageRef::parse(image).unwrap());
    spec.ports.push(PortSpec {
        container_port: 8080,
        protocol: Protocol::Tcp,
    });
    let svc = platform
        .services()
        .deploy_app(
            &t.admin,
            &ProjectRef::new(&t.org, "web"),
            DeployApp::new("site", spec),
        )
        .await
        .unwrap();
    let host = format!("shop.{}.test", env::run_id());
    dns.set_ips(&host, [localhost]);

    let d = platform
        .domains()
        .add(
            &t.admin,
            &ServiceRef::new(&t.org, "web", "site"),
            NewDomain::new(host.clone()),
        )
        .await
        .unwrap();
    let proof = d.ownership.unwrap();
    let token = proof.txt_value;
    let path = format!("/.well-known/caas-challenge/{token}");
    assert_eq!(
        proof.http_url.as_deref(),
        Some(format!("http://{host}{path}").as_str())
    );
    // Anyone asking Traefik for the token on the hostname gets it from the platform; other
    // hosts and other tokens get nothing.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match common::get(traefik.web, &path, &host).await {
            Ok((200, body)) if body.trim() == token => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "Traefik never answered the challenge: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let (status, _) = common::get(traefik.web, &path, "elsewhere.test")
        .await
        .unwrap();
    assert_eq!(status, 404);
    let (status, _) = common::get(
        traefik.web,
        "/.well-known/caas-challenge/not-the-token",
        &host,
    )
    .await
    .unwrap();
    assert_eq!(status, 404);
    assert!(
        platform
            .store()
            .domains
            .host_claim_opt(&host)
            .await
            .unwrap()
            .is_some_and(|c| !c.is_verified()),
        "asking proves nothing by itself"
    );

    // The platform fetches it through Traefik: the claim is proven and the service routed.
    let out = platform
        .domains()
        .verify(&t.admin, &t.org, &host, None, VerificationMethod::Http)
        .await
        .unwrap();
    assert!(
        matches!(out[0].verification, VerificationStatus::Verified { .. }),
        "{:?}",
        out[0].verification
    );
    assert!(out[0].readiness.as_ref().unwrap().points_at_platform);
    let routers = file_routers(traefik.api).await;
    assert_eq!(
        routers,
        vec![format!("{}@file", router_name(&svc.id.to_string(), 0))],
        "the challenge route is gone, the service is routed"
    );
    assert!(
        proxy
            .routes_opt(&svc.id.to_string())
            .await
            .unwrap()
            .is_some()
    );
    let (status, _) = common::get(traefik.web, &path, &host).await.unwrap();
    assert_ne!(status, 200, "a proven claim answers no challenge");
    server.abort();
}
