//! Custom domains through the real Traefik: on the real engine, two busybox httpd apps
//! deployed by a `Platform` with [`TraefikProxy`], domains added and proved by their TXT
//! records (an in-memory resolver), then host, path and wildcard routing checked through
//! Traefik's web entrypoint, the routers checked through Traefik's API, and an injection
//! corpus refused before anything is written; and the HTTP challenge of a claim answered by
//! the platform itself (`caas_http`'s route) through Traefik, proving the claim.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::{PlanLimits, PortSpec, Protocol, ServiceSpec, VerificationStatus};
use caas_core::platform::{DeployApp, DomainConfig, NewDomain, VerificationMethod};
use caas_core::ports::dns::InMemoryDns;
use caas_core::ports::runtime::LabelSelector;
use caas_core::units::GIB;
use caas_core::validate::ImageRef;
use caas_core::{ContainerRuntime, Error, Platform, Principal, Proxy, ServiceId};
use caas_core::{ProjectRef, ServiceRef};
use caas_docker::{DockerConnection, DockerRuntime};
use caas_testkit::env;
use caas_traefik::{Entrypoints, TraefikProxy, router_name};

fn app(image: &str, body: &str) -> ServiceSpec {
    let mut spec = ServiceSpec::new(ImageRef::parse(image).unwrap());
    spec.command = Some(vec![
        "sh".into(),
        "-c".into(),
        format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 8080 -h /www"),
    ]);
    spec.ports.push(PortSpec {
        container_port: 8080,
        protocol: Protocol::Tcp,
    });
    spec
}

async fn containers(runtime: &Arc<dyn ContainerRuntime>, svc: ServiceId) -> Vec<String> {
    runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, svc))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// Polls `host` + `path` through Traefik until it answers 200 with `body`.
async fn expect_body(web: u16, host: &str, path: &str, body: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match common::get(web, path, host).await {
            Ok((200, b)) if b.trim() == body => return,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "{host}{path} never answered {body:?} through Traefik: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A body in chunked transfer encoding, decoded (other bodies unchanged).
fn dechunk(body: &str) -> String {
    if body.trim_start().starts_with('[') || body.trim_start().starts_with('{') {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Adds a domain and publishes the TXT record proving its claim (when it makes one).
async fn add(
    p: &Platform,
    dns: &InMemoryDns,
    who: &Principal,
    org: &str,
    service: &str,
    new: NewDomain,
) {
    let d = p
        .domains()
        .add(who, &ServiceRef::new(org, "web", service), new)
        .await
        .unwrap();
    if let Some(proof) = d.ownership {
        dns.set_txt(&proof.txt_name, [proof.txt_value]);
    }
}

async fn verify(p: &Platform, who: &Principal, org: &str, host: &str, path: Option<&str>) {
    let d = p
        .domains()
        .verify(who, org, host, path, VerificationMethod::Dns)
        .await
        .unwrap();
    assert!(!d.is_empty());
    for d in d {
        assert!(
            matches!(d.verification, VerificationStatus::Verified { .. }),
            "{host}: {:?}",
            d.verification
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn host_and_path_routing_to_two_apps_through_traefik() {
    let Some(traefik) = common::Traefik::start().await else {
        return;
    };
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
    let rt = match DockerRuntime::builder()
        .connection(DockerConnection::Unix { path: path.into() })
        .build()
        .await
    {
        Ok(rt) => rt,
        Err(e) => {
            let _: Option<()> = env::unavailable("the Docker engine", e);
            return;
        }
    };
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(rt);
    let proxy = Arc::new(
        TraefikProxy::new(&traefik.dir, traefik.api_url(), Entrypoints::default()).unwrap(),
    );
    let run = env::run_id();
    let instance = format!("dom{run}");
    let localhost: IpAddr = "127.0.0.1".parse().unwrap();
    let dns = Arc::new(InMemoryDns::new());
    let (a, b) = (format!("a.{run}.test"), format!("b.{run}.test"));
    let wildcard = format!("*.{run}.test");
    dns.set_ips(&a, [localhost]);
    dns.set_ips(&b, [localhost]);
    dns.set_ips(&wildcard, [localhost]);
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(runtime.clone())
        .proxy(proxy.clone())
        .dns_resolver(dns.clone())
        .domains(
            DomainConfig::new()
                .public_address(localhost)
                .wildcards(true),
        )
        .instance(instance.clone())
        .stop_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let t = caas_testkit::platform::seed_tenant(
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
    let (who, org) = (&t.admin, t.org.as_str());
    let one = platform
        .services()
        .deploy_app(
            who,
            &ProjectRef::new(org, "web"),
            DeployApp::new("one", app(&image, "app-one")),
        )
        .await
        .unwrap();
    let two = platform
        .services()
        .deploy_app(
            who,
            &ProjectRef::new(org, "web"),
            DeployApp::new("two", app(&image, "app-two")),
        )
        .await
        .unwrap();
    let before_one = containers(&runtime, one.id).await;
    let before_two = containers(&runtime, two.id).await;
    assert_eq!((before_one.len(), before_two.len()), (1, 1));

    // Domains on running services: pending until verified, then routed.
    add(&platform, &dns, who, org, "one", NewDomain::new(a.clone())).await;
    add(
        &platform,
        &dns,
        who,
        org,
        "two",
        NewDomain::new(a.clone())
            .path_prefix("/two")
            .strip_prefix(true),
    )
    .await;
    add(&platform, &dns, who, org, "two", NewDomain::new(b.clone())).await;
    assert_eq!(
        std::fs::read_dir(&traefik.dir).unwrap().count(),
        0,
        "nothing is routed before verification"
    );
    add(
        &platform,
        &dns,
        who,
        org,
        "two",
        NewDomain::new(wildcard.clone()),
    )
    .await;
    verify(&platform, who, org, &a, None).await;
    verify(&platform, who, org, &b, None).await;
    verify(&platform, who, org, &wildcard, None).await;

    expect_body(traefik.web, &a, "/index.html", "app-one").await;
    expect_body(traefik.web, &a, "/two/index.html", "app-two").await;
    expect_body(traefik.web, &b, "/index.html", "app-two").await;
    // The wildcard answers for any one label below it, in any case; the exact host `a` still
    // goes to its own service (an exact host wins over a wildcard), deeper names match nothing.
    expect_body(
        traefik.web,
        &format!("any.{run}.test"),
        "/index.html",
        "app-two",
    )
    .await;
    expect_body(
        traefik.web,
        &format!("ANY-Other.{run}.test"),
        "/index.html",
        "app-two",
    )
    .await;
    expect_body(traefik.web, &a, "/index.html", "app-one").await;
    let (status, _) = common::get(traefik.web, "/index.html", &format!("x.y.{run}.test"))
        .await
        .unwrap();
    assert_eq!(status, 404, "a wildcard covers one label only");
    let (status, _) = common::get(traefik.web, "/index.html", &format!("{run}.test"))
        .await
        .unwrap();
    assert_eq!(status, 404, "a wildcard does not cover its base");
    assert_eq!(
        containers(&runtime, one.id).await,
        before_one,
        "not recreated"
    );
    assert_eq!(
        containers(&runtime, two.id).await,
        before_two,
        "not recreated"
    );

    // Exactly one router per (host, path) from the file provider, named after the service.
    let (status, body) = common::get(traefik.api, "/api/http/routers", "localhost")
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let routers: Vec<serde_json::Value> = serde_json::from_str(&dechunk(&body)).unwrap();
    let ours: Vec<(String, String)> = routers
        .iter()
        .filter(|r| r["provider"] == "file")
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let names: BTreeSet<String> = ours.iter().map(|(n, _)| n.clone()).collect();
    let expected: BTreeSet<String> = [
        router_name(&one.id.to_string(), 0),
        router_name(&two.id.to_string(), 0),
        router_name(&two.id.to_string(), 1),
        router_name(&two.id.to_string(), 2),
    ]
    .into_iter()
    .map(|n| format!("{n}@file"))
    .collect();
    assert_eq!(names, expected, "{ours:?}");
    let wildcard_rule = format!(
        "HostRegexp(`(?i)^[a-z0-9]([a-z0-9-]{{0,61}}[a-z0-9])?\\.{}\\.test$`)",
        run
    );
    assert_eq!(
        ours.iter().filter(|(_, r)| *r == wildcard_rule).count(),
        1,
        "{wildcard_rule}: {ours:?}"
    );
    for (host, path) in [(&a, None), (&a, Some("/two")), (&b, None)] {
        let wanted = match path {
            None => format!("Host(`{host}`)"),
            Some(p) => format!("Host(`{host}`) && PathPrefix(`{p}`)"),
        };
        assert_eq!(
            ours.iter().filter(|(_, r)| *r == wanted).count(),
            1,
            "{wanted}: {ours:?}"
        );
    }

    // The injection corpus: refused naming the field, and never written for Traefik.
    let long_label = "x".repeat(64);
    let corpus = [
        format!("a`.{run}.test"),
        format!("a.{run}.test`) || Host(`evil.test"),
        format!("a'.{run}.test"),
        format!("a\".{run}.test"),
        format!("a b.{run}.test"),
        format!("a(b).{run}.test"),
        format!("a.{run}.test||evil.test"),
        format!("{long_label}.{run}.test"),
        format!("ä`.{run}.test"),
        format!("é vil.{run}.test"),
        format!("xn--a.{run}.test"),
        format!("*.{run}.test`) || HostRegexp(`.*"),
        format!("*.*.{run}.test"),
        format!("a*.{run}.test"),
        "*.test".to_string(),
    ];
    let files_before: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(&traefik.dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        v.sort();
        v
    };
    for host in &corpus {
        let err = platform
            .domains()
            .add(
                who,
                &ServiceRef::new(org, "web", "one"),
                NewDomain::new(host.clone()),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { field, .. } if field == "hostname"),
            "{host:?}: {err}"
        );
    }
    let files_after: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(&traefik.dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        files_before, files_after,
        "the corpus changed Traefik's files"
    );
    for f in &files_after {
        for bad in corpus.iter().map(String::as_str).chain([
            "evil",
            "||",
            "(b)",
            "ä",
            "é",
            long_label.as_str(),
        ]) {
            assert!(!f.contains(bad), "{bad:?} reached Traefik: {f}");
        }
    }
    assert_eq!(
        platform
            .domains()
            .list(who, &ServiceRef::new(org, "web", "one"))
            .await
            .unwrap()
            .len(),
        1
    );

    // Clean up.
    for s in [one.id, two.id] {
        let _ = proxy.remove(&s.to_string()).await;
    }
    let sel = LabelSelector::managed().with(labels::INSTANCE, &instance);
    for c in runtime.list_containers(&sel).await.unwrap_or_default() {
        let _ = runtime.remove_container(&c.id, true).await;
    }
    for n in runtime.list_networks(&sel).await.unwrap_or_default() {
        let _ = runtime.remove_network(&n.name).await;
    }
}
