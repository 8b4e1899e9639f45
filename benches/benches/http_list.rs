//! P6 an authenticated list endpoint: `GET /v1/orgs/{org}/projects/{project}/services` of
//! `caas_http::router` (bearer API token checked against the store, the member's principal
//! loaded, permission checked, organization, project and services read, secrets redacted,
//! JSON) next to a bare axum handler answering the same 10 services as JSON from memory. Both
//! are served by axum on loopback; the same client (a minimal keep-alive HTTP/1.1 loop, 8
//! connections) drives them. Goal: ours >= 0.7 × the bare handler's requests/s.
//!
//! ```text
//! cargo bench -p caas-benches --bench http_list      # about half a minute
//! ```
//!
//! Measured twice: over the in-memory store — the goal's figure: the facade's own cost
//! (authentication, routing, permission checks, redaction, JSON) — and, for information, over
//! a SQLite file store (the reference server's default), where the six database reads of each
//! request dominate. Each side runs 3 × 2 s, alternating, after 0.5 s
//! of warm-up; the medians of requests/s are compared. Needs no external service.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::routing::get;
use caas_benches::{Figure, Goal, median_f64};
use caas_core::ProjectRef;
use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::model::{NewUser, Role, Service, ServiceSpec};
use caas_core::platform::{DeployApp, NewMember};
use caas_core::validate::ImageRef;
use caas_core::{Platform, Store};
use caas_sqlite::SqliteStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 8;
const ROUNDS: usize = 3;
const ROUND: Duration = Duration::from_secs(2);
const WARMUP: Duration = Duration::from_millis(500);
const SERVICES: usize = 10;
const IMAGE: &str = "caas/busybox:latest";

/// One keep-alive connection sending `request` until `until`; the number of 200 answers.
async fn connection(addr: SocketAddr, request: Arc<Vec<u8>>, until: Instant) -> u64 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut n = 0;
    while Instant::now() < until {
        s.write_all(&request).await.unwrap();
        // Headers, then Content-Length bytes of body.
        let (head, len) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..end]).unwrap();
                assert!(head.starts_with("HTTP/1.1 200"), "answer: {head}");
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().unwrap())
                    })
                    .expect("a Content-Length");
                break (end + 4, len);
            }
            let r = s.read(&mut chunk).await.unwrap();
            assert!(r > 0, "the server closed the connection");
            buf.extend_from_slice(&chunk[..r]);
        };
        while buf.len() < head + len {
            let r = s.read(&mut chunk).await.unwrap();
            assert!(r > 0, "the server closed the connection");
            buf.extend_from_slice(&chunk[..r]);
        }
        buf.drain(..head + len);
        n += 1;
    }
    n
}

/// Requests/s of `CONNECTIONS` connections for `d`.
async fn load(addr: SocketAddr, request: &Arc<Vec<u8>>, d: Duration) -> f64 {
    let t = Instant::now();
    let until = t + d;
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| tokio::spawn(connection(addr, request.clone(), until)))
        .collect();
    let mut n = 0;
    for task in tasks {
        n += task.await.unwrap();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A platform over `store` with `SERVICES` apps in one project, a member's API token, and
/// the project's services path.
async fn platform(store: Arc<dyn Store>) -> (Platform, String, String) {
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let platform = Platform::builder()
        .store(store)
        .runtime(Arc::new(runtime))
        .build()
        .unwrap();
    let mut limits = caas_testkit::platform::test_limits();
    limits.max_containers = 100;
    let t = caas_testkit::platform::seed_tenant(&platform, limits, "web").await;
    for i in 0..SERVICES {
        let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
        spec.command = Some(vec![
            "httpd".into(),
            "-f".into(),
            "-p".into(),
            "8080".into(),
        ]);
        spec.resources.cpu_millis = 100;
        spec.resources.memory_bytes = 64 * caas_core::units::MIB;
        platform
            .services()
            .deploy_app(
                &t.admin,
                &ProjectRef::new(&t.org, "web"),
                DeployApp::new(format!("app{i}"), spec),
            )
            .await
            .unwrap();
    }
    let email = format!("member-{}@example.com", caas_testkit::env::run_id());
    let user = platform
        .users()
        .create(&t.admin, NewUser::new(email.clone()))
        .await
        .unwrap();
    platform
        .members()
        .add(&t.admin, &t.org, NewMember::new(email, Role::Member))
        .await
        .unwrap();
    let member = platform.principal_for(user.id).await.unwrap();
    let (_, token) = platform
        .tokens()
        .create(
            &member,
            None,
            caas_core::platform::NewApiToken::new("bench"),
        )
        .await
        .unwrap();
    (
        platform,
        token,
        format!("/v1/orgs/{}/projects/web/services", t.org),
    )
}

fn request(path: &str, token: Option<&str>) -> Arc<Vec<u8>> {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    Arc::new(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{auth}\r\n").into_bytes())
}

/// Measures both sides over `store`; the goal's figure when `goal`, else a line for
/// information.
async fn measure(store: Arc<dyn Store>, store_name: &str, goal: bool) {
    let (platform, token, path) = platform(store).await;
    // Every limit is checked on every request, none ever reached: the measure includes what
    // they cost.
    let ours = serve(caas_http::router_with(
        platform.clone(),
        Arc::new(caas_http::BearerTokenAuthenticator),
        caas_http::HttpLimits::new()
            .per_user(u32::MAX, u32::MAX)
            .max_in_flight(1 << 20),
    ))
    .await;
    // The bare handler answers what ours answers: the same services, serialized per request.
    let member = platform
        .tokens()
        .authenticate(&token)
        .await
        .unwrap()
        .expect("the token authenticates");
    let org = path.split('/').nth(3).unwrap().to_string();
    let services: Arc<Vec<Service>> = Arc::new(
        platform
            .services()
            .list(&member, &ProjectRef::new(&org, "web"))
            .await
            .unwrap(),
    );
    assert_eq!(services.len(), SERVICES);
    let bare = serve(axum::Router::new().route(
        "/v1/orgs/{org}/projects/{project}/services",
        get(move || {
            let services = services.clone();
            async move { Json(services.as_ref().clone()) }
        }),
    ))
    .await;
    let (ours_req, bare_req) = (request(&path, Some(&token)), request(&path, None));
    let (mut o, mut b) = (Vec::new(), Vec::new());
    load(ours, &ours_req, WARMUP).await;
    load(bare, &bare_req, WARMUP).await;
    for _ in 0..ROUNDS {
        o.push(load(ours, &ours_req, ROUND).await);
        b.push(load(bare, &bare_req, ROUND).await);
    }
    let (o, b) = (median_f64(&o), median_f64(&b));
    if !goal {
        eprintln!(
            "P6 for information, over the {store_name}: ours {o:.0} req/s, bare axum JSON \
             handler {b:.0} req/s, ratio {:.2} (each request reads the token, the user, the \
             memberships, the organization, the project and the services from the database)",
            o / b
        );
        return;
    }
    Figure {
        id: "P6".into(),
        what: format!("authenticated list endpoint ({store_name})"),
        ours: format!("{o:.0} req/s"),
        baseline_name: "bare axum JSON handler".into(),
        baseline: format!("{b:.0} req/s"),
        ratio: o / b,
        goal: Goal::RatioAtLeast(0.7),
    }
    .print();
}

fn main() {
    let rt = caas_benches::tokio_runtime();
    rt.block_on(async {
        measure(Arc::new(InMemoryStore::new()), "in-memory store", true).await;
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(dir.path().join("caas.db").to_str().unwrap())
            .await
            .unwrap();
        sqlite.migrate().await.unwrap();
        measure(Arc::new(sqlite), "SQLite file store", false).await;
    });
}
