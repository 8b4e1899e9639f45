//! Criterion micro-benches of the pure and store-bound hot paths:
//!
//! - `labels`: a service container's managed labels (`caas_core::labels::container_labels`),
//!   Traefik's Docker-provider labels (`caas_traefik::docker_labels`) and its file-provider
//!   configuration (`caas_traefik::file_config`, and the YAML text `TraefikProxy::apply`
//!   writes), for one plain route and for four routes with TLS, a wildcard and a stripped
//!   prefix;
//! - `templates`: `caas_core::platform::instantiate` of every built-in template with its
//!   defaults (generated secrets included);
//! - `quota`: `StoreQuotaEngine::reserve` + `release` on the in-memory store, a SQLite file
//!   and PostgreSQL (left out, saying why, without `CAAS_TEST_DATABASE_URL`);
//! - `auth`: `Principal::can` / `require` for an administrator, a member, a project-scoped
//!   member and a stranger (whose refusal builds the `NotFound` error);
//! - `secrets`: sealing and opening one secret value (`caas_core::secrets`,
//!   XChaCha20-Poly1305 with a fresh nonce), and what a store adds per write and read of a
//!   PostgreSQL database's spec (three plain variables, one secret) with and without a key.
//!
//! ```text
//! cargo bench -p caas-benches --bench micro                 # about two minutes
//! cargo bench -p caas-benches --bench micro -- quota        # one group
//! ```
//!
//! Each benchmark warms up for 0.5 s and measures for 1.5 s (10 samples at least), so the set
//! stays short on a shared two-CPU machine; figures are per operation.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use caas_benches::PgSchema;
use caas_core::auth::{Action, Grant};
use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::model::Role;
use caas_core::platform::{DatabaseImages, builtin_templates, instantiate};
use caas_core::ports::proxy::{RouteRule, ServiceRoutes};
use caas_core::units::{MIB, ResourceAmounts};
use caas_core::validate::HostPattern;
use caas_core::{
    DeploymentId, OrgId, Platform, Principal, ProjectId, QuotaEngine, ServiceId, Store,
    StoreQuotaEngine, SystemClock, UserId,
};
use caas_sqlite::SqliteStore;
use caas_traefik::{Entrypoints, docker_labels, file_config};
use criterion::{BenchmarkId, Criterion, black_box};

fn rule(host: &str, path: &str, strip: bool, tls: bool) -> RouteRule {
    RouteRule {
        host: HostPattern::parse_field("host", host, true).unwrap(),
        path_prefix: path.into(),
        strip_prefix: strip,
        tls,
    }
}

fn routes(rules: Vec<RouteRule>, upstreams: usize) -> ServiceRoutes {
    ServiceRoutes {
        key: ServiceId::new().to_string(),
        rules,
        upstreams: (0..upstreams)
            .map(|i| format!("http://172.18.0.{}:8080", i + 2))
            .collect(),
    }
}

fn labels(c: &mut Criterion) {
    let mut g = c.benchmark_group("labels");
    let (org, project, service, deployment) = (
        OrgId::new(),
        ProjectId::new(),
        ServiceId::new(),
        DeploymentId::new(),
    );
    g.bench_function("container_labels", |b| {
        b.iter(|| {
            caas_core::labels::container_labels(
                black_box(org),
                black_box(project),
                black_box(service),
                black_box(deployment),
            )
        })
    });
    let eps = Entrypoints {
        cert_resolver: Some("le".into()),
        wildcard_cert_resolver: Some("le-dns".into()),
        ..Entrypoints::default()
    };
    let cases = [
        (
            "1_route",
            routes(vec![rule("app.example.com", "/", false, false)], 1),
        ),
        (
            "4_routes_tls",
            routes(
                vec![
                    rule("app.example.com", "/", false, true),
                    rule("www.example.com", "/", false, true),
                    rule("*.apps.example.com", "/", false, true),
                    rule("app.example.com", "/api", true, true),
                ],
                2,
            ),
        ),
    ];
    for (name, r) in &cases {
        g.bench_with_input(BenchmarkId::new("docker_labels", name), r, |b, r| {
            b.iter(|| docker_labels(black_box(r), &eps, 8080))
        });
        g.bench_with_input(BenchmarkId::new("file_config", name), r, |b, r| {
            b.iter(|| file_config(black_box(r), &eps))
        });
        // What `TraefikProxy::apply` writes: the configuration as YAML and the routes as JSON.
        g.bench_with_input(BenchmarkId::new("file_config_yaml", name), r, |b, r| {
            b.iter(|| {
                let yaml = serde_yaml::to_string(&file_config(black_box(r), &eps)).unwrap();
                let meta = serde_json::to_string(r).unwrap();
                format!("# Written by caas-rs; do not edit.\n# caas-routes: {meta}\n{yaml}")
            })
        });
    }
    g.finish();
}

fn templates(c: &mut Criterion) {
    let mut g = c.benchmark_group("templates");
    let images = DatabaseImages::default();
    let none = BTreeMap::new();
    for t in builtin_templates().unwrap() {
        // Every built-in deploys with its defaults alone; the bench measures that path.
        instantiate(&t, "bench", &none, &images)
            .unwrap_or_else(|e| panic!("template {} with its defaults: {e}", t.id));
        g.bench_with_input(BenchmarkId::new("instantiate", &t.id), &t, |b, t| {
            b.iter(|| instantiate(black_box(t), "bench", &none, &images).unwrap())
        });
    }
    g.finish();
}

/// An organization on `store` subscribed to a roomy plan.
async fn subscribed_org(store: Arc<dyn Store>) -> OrgId {
    let platform = Platform::builder()
        .store(store)
        .runtime(Arc::new(InMemoryRuntime::new()))
        .build()
        .unwrap();
    let mut limits = caas_testkit::platform::test_limits();
    limits.max_containers = u64::MAX / 2;
    limits.cpu_millis = u64::MAX / 2;
    limits.memory_bytes = u64::MAX / 2;
    let tenant = caas_testkit::platform::seed_tenant(&platform, limits, "p").await;
    platform
        .orgs()
        .get(&tenant.admin, &tenant.org)
        .await
        .unwrap()
        .id
}

fn quota(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let mut stores: Vec<(&str, Arc<dyn Store>)> = vec![("memory", Arc::new(InMemoryStore::new()))];
    let sqlite = rt.block_on(async {
        let s = SqliteStore::open(dir.path().join("bench.db").to_str().unwrap())
            .await
            .unwrap();
        s.migrate().await.unwrap();
        s
    });
    stores.push(("sqlite_file", Arc::new(sqlite)));
    let mut pg = None;
    match caas_testkit::env::var("CAAS_TEST_DATABASE_URL") {
        Some(url) => match rt.block_on(PgSchema::create(&url)) {
            Ok(s) => {
                stores.push(("postgres", Arc::new(s.store.clone())));
                pg = Some(s);
            }
            Err(e) => {
                assert!(!caas_testkit::env::in_ci(), "PostgreSQL not usable: {e}");
                eprintln!("quota/postgres: left out, PostgreSQL is not usable: {e}");
            }
        },
        None => {
            assert!(
                !caas_testkit::env::in_ci(),
                "CAAS_TEST_DATABASE_URL is required in CI"
            );
            eprintln!("quota/postgres: left out, CAAS_TEST_DATABASE_URL is not set");
        }
    }
    let amounts = ResourceAmounts {
        cpu_millis: 100,
        memory_bytes: 64 * MIB,
        storage_bytes: 0,
        containers: 1,
        projects: 0,
    };
    let mut g = c.benchmark_group("quota");
    for (name, store) in &stores {
        let org = rt.block_on(subscribed_org(store.clone()));
        let engine = StoreQuotaEngine::over(store.clone(), Arc::new(SystemClock));
        g.bench_function(BenchmarkId::new("reserve_release", name), |b| {
            b.to_async(rt).iter(|| async {
                let r = engine.reserve(org, amounts).await.unwrap();
                engine.release(r.id).await.unwrap();
            })
        });
    }
    g.finish();
    if let Some(s) = pg {
        rt.block_on(s.drop_schema());
    }
}

fn auth(c: &mut Criterion) {
    let mut g = c.benchmark_group("auth");
    let org = OrgId::new();
    let (p1, p2) = (ProjectId::new(), ProjectId::new());
    let admin = Principal::platform_admin(UserId::new());
    // A member of a few organizations, as a panel user often is.
    let mut member = Principal::user(UserId::new()).with_role(org, Role::Member);
    for _ in 0..4 {
        member = member.with_role(OrgId::new(), Role::Viewer);
    }
    let mut scoped = Principal::user(UserId::new());
    scoped.grants.insert(
        org,
        Grant {
            role: Role::Admin,
            projects: Some(vec![p2, p1]),
        },
    );
    let stranger = Principal::user(UserId::new()).with_role(OrgId::new(), Role::Owner);
    g.bench_function("can_platform_admin", |b| {
        b.iter(|| black_box(&admin).can(Action::PlanManage, None, None))
    });
    g.bench_function("require_member_deploy", |b| {
        b.iter(|| {
            black_box(&member)
                .require(Action::ServiceDeploy, org, Some(p1), "acme")
                .unwrap()
        })
    });
    g.bench_function("require_project_scoped", |b| {
        b.iter(|| {
            black_box(&scoped)
                .require(Action::ServiceOperate, org, Some(p1), "acme")
                .unwrap()
        })
    });
    g.bench_function("require_member_denied", |b| {
        b.iter(|| {
            black_box(&member)
                .require(Action::OrgDelete, org, None, "acme")
                .unwrap_err()
        })
    });
    g.bench_function("require_stranger_not_found", |b| {
        b.iter(|| {
            black_box(&stranger)
                .require(Action::ServiceView, org, None, "acme")
                .unwrap_err()
        })
    });
    g.finish();
}

fn secrets(c: &mut Criterion) {
    use caas_core::model::{EnvVar, ServiceSpec};
    use caas_core::secrets::{Sealer, SecretKey};
    use caas_core::validate::ImageRef;

    let key = SecretKey::generate();
    let context = "org/0190a6e2-0000-7000-8000-000000000000/env/POSTGRES_PASSWORD";
    let password = "x7Kq2vN9pL4mR8tY3wZ6bC1dF5gH0jS2";
    let sealed = key.seal(password, context).unwrap();
    let mut g = c.benchmark_group("secrets");
    g.bench_function("seal_value", |b| {
        b.iter(|| key.seal(black_box(password), context).unwrap())
    });
    g.bench_function("open_value", |b| {
        b.iter(|| key.open(black_box(&sealed), context).unwrap())
    });
    let org = OrgId::new();
    let mut spec = ServiceSpec::new(ImageRef::parse("postgres:16").unwrap());
    spec.env
        .push(EnvVar::plain("POSTGRES_USER", "app").unwrap());
    spec.env
        .push(EnvVar::plain("POSTGRES_DB", "orders").unwrap());
    spec.env
        .push(EnvVar::plain("PGDATA", "/var/lib/postgresql/data").unwrap());
    spec.env
        .push(EnvVar::secret("POSTGRES_PASSWORD", password).unwrap());
    for (name, sealer) in [
        ("plaintext", Sealer::plaintext()),
        ("keyed", Sealer::new(key.clone())),
    ] {
        let stored = sealer.seal_spec(org, &spec).unwrap();
        g.bench_function(BenchmarkId::new("store_spec", name), |b| {
            b.iter(|| sealer.seal_spec(org, black_box(&spec)).unwrap().to_string())
        });
        let text = stored.to_string();
        g.bench_function(BenchmarkId::new("load_spec", name), |b| {
            b.iter(|| {
                let value: serde_json::Value = serde_json::from_str(black_box(&text)).unwrap();
                sealer.open_spec(org, value).unwrap()
            })
        });
    }
    g.finish();
}

fn main() {
    let rt = caas_benches::tokio_runtime();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(10)
        .configure_from_args();
    labels(&mut c);
    templates(&mut c);
    quota(&mut c, &rt);
    auth(&mut c);
    secrets(&mut c);
    c.final_summary();
}
