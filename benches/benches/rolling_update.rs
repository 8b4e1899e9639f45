//! P3 ten rolling updates under load through the real Traefik: how many requests fail, and
//! how long the cut-over takes.
//!
//! A busybox httpd app answering `v<VERSION>` is routed through Traefik's file provider
//! (`TraefikProxy`); 8 concurrent clients on loopback request it over and over (one
//! connection per request) while `platform.services().update` changes `VERSION` ten times —
//! each a rolling update: start the new container, wait until ready, route to both, route to
//! the new one only, drain, stop the old one. The baseline is the same ten updates done the
//! plain way, with the same runtime and proxy, on a second host under the same load: stop the
//! old container, start the new one, route to it.
//!
//! ```text
//! cargo bench -p caas-benches --bench rolling_update      # about a minute and a half
//! ```
//!
//! Figures: failed requests (the goal: 0; the bench asserts it after printing), the cut-over
//! (from the first answer of the new version to the last answer of the old one: both answer
//! meanwhile, so nothing is lost; p50 and max of the ten), and each update's duration (p50);
//! for the baseline, the failed requests and the downtime (from the last answer of the old
//! version to the first of the new). `ratio` is our update's duration over the baseline's.
//! The Traefik process, its file-provider directory and the request helper are the ones of
//! caas-traefik's integration tests (`caas-traefik/tests/common`), reused as they are. Needs
//! Docker, the busybox image and Traefik of `scripts/test-env.sh`; without them it says why
//! and exits 0 (fails in CI).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../caas-traefik/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_benches::{Figure, Goal, median, ms};
use caas_core::labels;
use caas_core::memory::InMemoryStore;
use caas_core::model::{EnvVar, PlanLimits, PortSpec, Protocol, ServiceSpec};
use caas_core::platform::{ApplyMode, DeployApp, RolloutTiming, ServiceUpdate};
use caas_core::ports::proxy::{RouteRule, ServiceRoutes};
use caas_core::ports::runtime::{ContainerSpec, LabelSelector, NetworkAttachment, NetworkSpec};
use caas_core::units::GIB;
use caas_core::validate::{Hostname, ImageRef};
use caas_core::{ContainerRuntime, Platform, Proxy};
use caas_core::{ProjectRef, ServiceRef};
use caas_testkit::load::HttpLoad;
use caas_traefik::{Entrypoints, TraefikProxy};

const UPDATES: u32 = 10;
const CLIENTS: usize = 8;
const GOAL: (&str, &str, &str) = ("P3", "10 rolling updates under load", "0 failed requests");
const SCRIPT: &str =
    "mkdir -p /www && echo \"v$VERSION\" > /www/index.html && exec httpd -f -p 8080 -h /www";

/// What the clients saw: each answer's time and version, and each failure.
#[derive(Default)]
struct Seen {
    answers: Vec<(Instant, u32)>,
    failures: Vec<(Instant, String)>,
}

/// The versions the answers carry (`v<N>`); any other answer is a failure.
fn versions(seen: caas_testkit::load::Seen) -> Seen {
    let mut out = Seen {
        answers: Vec::new(),
        failures: seen.failures,
    };
    for (at, body) in seen.answers {
        match body.trim().strip_prefix('v').and_then(|v| v.parse().ok()) {
            Some(v) => out.answers.push((at, v)),
            None => out
                .failures
                .push((at, format!("unexpected answer {body:?}"))),
        }
    }
    out
}

fn start_load(port: u16, host: &str) -> HttpLoad {
    HttpLoad::start("127.0.0.1", port, host, "/index.html", CLIENTS)
}

/// Per version `2..=UPDATES+1`: the last answer of the previous version minus the first
/// answer of this one (positive: both answered meanwhile; negative: nothing answered).
fn overlaps(seen: &Seen) -> Vec<f64> {
    (2..=UPDATES + 1)
        .map(|v| {
            let first_new = seen.answers.iter().filter(|a| a.1 == v).map(|a| a.0).min();
            let last_old = seen
                .answers
                .iter()
                .filter(|a| a.1 == v - 1)
                .map(|a| a.0)
                .max();
            let (first_new, last_old) = (
                first_new.unwrap_or_else(|| panic!("v{v} never answered")),
                last_old.unwrap_or_else(|| panic!("v{} never answered", v - 1)),
            );
            if last_old >= first_new {
                (last_old - first_new).as_secs_f64()
            } else {
                -(first_new - last_old).as_secs_f64()
            }
        })
        .collect()
}

fn secs_ms(s: f64) -> String {
    format!("{:.0} ms", s * 1e3)
}

async fn ip_of(runtime: &dyn ContainerRuntime, id: &str) -> String {
    runtime
        .inspect_container_opt(id)
        .await
        .unwrap()
        .unwrap()
        .ip_addresses
        .values()
        .next()
        .unwrap()
        .clone()
}

async fn route(proxy: &TraefikProxy, key: &str, host: &str, ip: &str) {
    let routes = ServiceRoutes {
        key: key.to_string(),
        rules: vec![RouteRule {
            host: Hostname::parse(host).unwrap().into(),
            path_prefix: "/".into(),
            strip_prefix: false,
            tls: false,
        }],
        upstreams: vec![format!("http://{ip}:8080")],
    };
    let g = proxy.apply(&routes).await.unwrap();
    proxy
        .wait_applied(key, g, Duration::from_secs(20))
        .await
        .unwrap();
}

async fn wait_serving(port: u16, host: &str, version: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match common::get(port, "/index.html", host).await {
            Ok((200, body)) if body.trim() == version => return,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "{host} never answered {version} through Traefik: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The baseline's container of `version`.
fn plain_spec(instance: &str, image: &str, network: &str, version: u32) -> ContainerSpec {
    let mut spec = ContainerSpec::new(format!("caas-{instance}-plain-v{version}"), image);
    spec.command = Some(vec!["sh".into(), "-c".into(), SCRIPT.into()]);
    spec.env = vec![("VERSION".into(), version.to_string())];
    spec.networks = vec![NetworkAttachment {
        network: network.into(),
        aliases: vec!["plain".into()],
    }];
    spec.exposed_ports = vec![PortSpec {
        container_port: 8080,
        protocol: Protocol::Tcp,
    }];
    spec.stop_timeout = Duration::from_secs(2);
    spec.labels.insert(labels::MANAGED.into(), "true".into());
    spec.labels.insert(labels::INSTANCE.into(), instance.into());
    spec
}

fn main() {
    let rt = caas_benches::tokio_runtime();
    rt.block_on(async move {
        let Some((docker, image)) = caas_benches::docker(&[GOAL]).await else {
            return;
        };
        if caas_testkit::env::var("CAAS_TEST_TRAEFIK_BIN").is_none() {
            // `Traefik::start` panics in CI and returns None elsewhere; say so first.
            caas_benches::require("CAAS_TEST_TRAEFIK_BIN", "the Traefik binary", &[GOAL]);
            return;
        }
        let traefik = common::Traefik::start().await.expect("Traefik");
        let runtime: Arc<dyn ContainerRuntime> = Arc::new(docker.clone());
        let proxy = Arc::new(
            TraefikProxy::new(&traefik.dir, traefik.api_url(), Entrypoints::default()).unwrap(),
        );
        let instance = format!("roll{}", caas_testkit::env::run_id());
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
        let (who, org) = (&tenant.admin, tenant.org.as_str());

        // Ours: a platform app routed through Traefik.
        let mut spec = ServiceSpec::new(ImageRef::parse(&image).unwrap());
        spec.command = Some(vec!["sh".into(), "-c".into(), SCRIPT.into()]);
        spec.env.push(EnvVar::plain("VERSION", "1").unwrap());
        spec.ports.push(PortSpec {
            container_port: 8080,
            protocol: Protocol::Tcp,
        });
        let svc = platform
            .services()
            .deploy_app(
                who,
                &ProjectRef::new(org, "web"),
                DeployApp::new("site", spec),
            )
            .await
            .unwrap();
        let sel = LabelSelector::managed().with(labels::SERVICE, svc.id);
        let c = runtime.list_containers(&sel).await.unwrap()[0].id.clone();
        let host = format!("{org}.caas.test");
        route(
            &proxy,
            &svc.id.to_string(),
            &host,
            &ip_of(runtime.as_ref(), &c).await,
        )
        .await;
        wait_serving(traefik.web, &host, "v1").await;

        let load = start_load(traefik.web, &host);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut durations = Vec::new();
        for v in 2..=UPDATES + 1 {
            let mut u = ServiceUpdate::default();
            u.env_set
                .push(EnvVar::plain("VERSION", v.to_string()).unwrap());
            let t = Instant::now();
            let r = platform
                .services()
                .update(who, &ServiceRef::new(org, "web", "site"), u, false)
                .await
                .unwrap_or_else(|e| panic!("update {v}: {e}"));
            durations.push(t.elapsed());
            assert_eq!(r.mode, ApplyMode::Rolling);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ours = versions(load.finish().await);
        wait_serving(traefik.web, &host, &format!("v{}", UPDATES + 1)).await;
        assert_eq!(
            runtime.list_containers(&sel).await.unwrap().len(),
            1,
            "the old containers are gone"
        );

        // The baseline: stop the old container, start the new one, route to it.
        let network = format!("caas-{instance}-plain");
        runtime
            .create_network(&NetworkSpec::new(
                network.clone(),
                [
                    (labels::MANAGED.to_string(), "true".to_string()),
                    (labels::INSTANCE.to_string(), instance.clone()),
                ]
                .into(),
            ))
            .await
            .unwrap();
        let plain_host = format!("plain.{org}.caas.test");
        let plain_key = format!("plain-{instance}");
        let start = |v: u32| {
            let (runtime, spec) = (runtime.clone(), plain_spec(&instance, &image, &network, v));
            async move {
                let id = runtime
                    .create_container(&spec)
                    .await
                    .unwrap()
                    .id()
                    .to_string();
                runtime.start_container(&id).await.unwrap();
                id
            }
        };
        let mut old = start(1).await;
        route(
            &proxy,
            &plain_key,
            &plain_host,
            &ip_of(runtime.as_ref(), &old).await,
        )
        .await;
        wait_serving(traefik.web, &plain_host, "v1").await;
        let load = start_load(traefik.web, &plain_host);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut plain_durations = Vec::new();
        for v in 2..=UPDATES + 1 {
            let t = Instant::now();
            runtime
                .stop_container(&old, Duration::from_secs(2))
                .await
                .unwrap();
            let new = start(v).await;
            route(
                &proxy,
                &plain_key,
                &plain_host,
                &ip_of(runtime.as_ref(), &new).await,
            )
            .await;
            plain_durations.push(t.elapsed());
            runtime.remove_container(&old, true).await.unwrap();
            old = new;
            // Until the new version answers, as a rolling update's end guarantees.
            wait_serving(traefik.web, &plain_host, &format!("v{v}")).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let plain = versions(load.finish().await);

        let cut = overlaps(&ours);
        let gaps: Vec<f64> = overlaps(&plain).iter().map(|o| -o).collect();
        let cut_max = cut.iter().copied().fold(f64::MIN, f64::max);
        let (d, pd) = (median(&durations), median(&plain_durations));
        let failed = ours.failures.len();
        Figure {
            id: "P3".into(),
            what: format!("{UPDATES} rolling updates under load"),
            ours: format!(
                "{failed} failed of {} requests, cut-over p50 {} (max {}), update p50 {}",
                ours.answers.len() + failed,
                secs_ms(caas_benches::median_f64(&cut)),
                secs_ms(cut_max),
                ms(d)
            ),
            baseline_name: "stop-then-start".into(),
            baseline: format!(
                "{} failed of {} requests, downtime p50 {}, update p50 {}",
                plain.failures.len(),
                plain.answers.len() + plain.failures.len(),
                secs_ms(caas_benches::median_f64(&gaps)),
                ms(pd)
            ),
            ratio: d.as_secs_f64() / pd.as_secs_f64(),
            goal: Goal::Property {
                text: "0 failed requests".into(),
                met: failed == 0,
            },
        }
        .print();

        let _ = proxy.remove(&svc.id.to_string()).await;
        let _ = proxy.remove(&plain_key).await;
        let sel = LabelSelector::managed().with(labels::INSTANCE, &instance);
        for c in runtime.list_containers(&sel).await.unwrap_or_default() {
            let _ = runtime.remove_container(&c.id, true).await;
        }
        for n in runtime.list_networks(&sel).await.unwrap_or_default() {
            let _ = runtime.remove_network(&n.name).await;
        }
        assert_eq!(
            failed,
            0,
            "failed requests during rolling updates: {:?}",
            &ours.failures[..failed.min(10)]
                .iter()
                .map(|f| &f.1)
                .collect::<Vec<_>>()
        );
    });
}
