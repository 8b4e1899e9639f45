//! A platform on the in-memory backends behind the router, with API tokens for a platform
//! administrator, the owner, a member and a viewer of `acme`, and the owner of `globex` (a
//! stranger to `acme`). Backups go to an in-memory object store (`World::objects`) unless the
//! world is built without a backup destination; invitations to an in-memory mailer
//! (`World::mailer`) unless it is built without one.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use caas_core::ports::store::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use caas_core::memory::{InMemoryRuntime, InMemoryStore};
pub use caas_core::model::PlanLimits;
use caas_core::model::{Member, NewOrganization, NewPlan, NewUser, Role, SubscriptionStatus};
use caas_core::platform::NewProject;
use caas_core::ports::connector::{RuntimeConfig, RuntimeConnector, RuntimeDetection};
use caas_core::ports::dns::InMemoryDns;
use caas_core::ports::mailer::InMemoryMailer;
use caas_core::ports::runtime::{ConnectionReport, LabelSelector};
use caas_core::units::GIB;
use caas_core::{ContainerRuntime, Error, ManualClock, Platform, Principal};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const IMAGE: &str = "caas/busybox:latest";

/// A connector for the in-memory runtime: settings are `{"name": "<label>"}`.
#[derive(Debug)]
pub struct MemoryConnector(pub InMemoryRuntime);

#[async_trait]
impl RuntimeConnector for MemoryConnector {
    fn backend(&self) -> &'static str {
        "memory"
    }
    fn validate(&self, settings: &Value) -> caas_core::Result<()> {
        match settings.get("name") {
            Some(Value::String(_)) => Ok(()),
            _ => Err(Error::invalid("settings.name", "must be a string")),
        }
    }
    async fn connect(&self, _: &Value) -> caas_core::Result<Arc<dyn ContainerRuntime>> {
        Ok(Arc::new(self.0.clone()))
    }
    async fn test(&self, settings: &Value) -> ConnectionReport {
        ConnectionReport {
            target: settings["name"].as_str().unwrap_or_default().to_string(),
            reachable: true,
            round_trip_ms: Some(1),
            ..ConnectionReport::default()
        }
    }
    async fn detect(&self) -> RuntimeDetection {
        let config = memory_config("detected");
        RuntimeDetection {
            candidates: vec![],
            chosen: Some(config),
        }
    }
}

pub fn memory_config(name: &str) -> RuntimeConfig {
    RuntimeConfig {
        backend: "memory".into(),
        settings: json!({ "name": name }),
    }
}

pub fn limits() -> PlanLimits {
    PlanLimits {
        cpu_millis: 4000,
        memory_bytes: 4 * GIB,
        storage_bytes: 10 * GIB,
        max_containers: 10,
        max_projects: 3,
        max_domains: 20,
        max_pids: 1024,
        backup_storage_bytes: 10 * 1024 * 1024 * 1024,
    }
}

pub struct World {
    pub app: Router,
    pub platform: Platform,
    pub runtime: InMemoryRuntime,
    pub store: Arc<InMemoryStore>,
    /// The backup destination (empty and unused without backups).
    pub objects: Arc<object_store::memory::InMemory>,
    /// Where invitations go (empty and unused without a mailer).
    pub mailer: Arc<InMemoryMailer>,
    /// The platform's clock, when the world was built with a manual one.
    pub clock: Option<Arc<ManualClock>>,
    /// The resolver domain verification asks, when the world was built with one.
    pub dns: Option<Arc<InMemoryDns>>,
    pub admin: String,
    pub owner: String,
    pub member: String,
    pub viewer: String,
    /// Owner of `globex`, nothing in `acme`.
    pub stranger: String,
}

async fn token_for(platform: &Platform, admin: &Principal, user: caas_core::UserId) -> String {
    platform
        .tokens()
        .create(
            admin,
            Some(user),
            caas_core::platform::NewApiToken::new("test"),
        )
        .await
        .unwrap()
        .1
}

/// `acme` (plan `starter` with `limits`, project `shop`) and `globex`.
pub async fn world_with(limits: PlanLimits) -> World {
    build(Setup {
        limits,
        ..Setup::default()
    })
    .await
}

/// [`world_with`], with custom domains served as `domains` says.
pub async fn world_with_domains(
    limits: PlanLimits,
    domains: caas_core::platform::DomainConfig,
) -> World {
    build(Setup {
        limits,
        domains,
        ..Setup::default()
    })
    .await
}

/// [`world`] on a platform without a backup destination.
pub async fn world_without_backups() -> World {
    build(Setup {
        backups: false,
        ..Setup::default()
    })
    .await
}

/// [`world`] on a platform without a mailer.
pub async fn world_without_mailer() -> World {
    build(Setup {
        mailer: false,
        ..Setup::default()
    })
    .await
}

/// [`world`] on a platform whose clock only moves when told (`World::clock`).
pub async fn world_with_manual_clock() -> World {
    build(Setup {
        manual_clock: true,
        ..Setup::default()
    })
    .await
}

/// [`world`] where domains can be verified: the platform's public address is 203.0.113.10,
/// an in-memory resolver (`World::dns`) points `shop.example.com` at it (so the name is
/// ready), and tests publish TXT records there.
pub async fn world_with_verifiable_domains() -> World {
    let address: std::net::IpAddr = "203.0.113.10".parse().unwrap();
    let dns = Arc::new(InMemoryDns::new());
    dns.set_ips("shop.example.com", [address]);
    build(Setup {
        domains: caas_core::platform::DomainConfig::new().public_address(address),
        dns: Some(dns),
        ..Setup::default()
    })
    .await
}

/// How a world's platform is built.
struct Setup {
    limits: PlanLimits,
    domains: caas_core::platform::DomainConfig,
    backups: bool,
    mailer: bool,
    manual_clock: bool,
    dns: Option<Arc<InMemoryDns>>,
    http_limits: Option<caas_http::HttpLimits>,
    stream_limits: Option<caas_core::platform::StreamLimits>,
    token_lifetime: Option<caas_core::platform::TokenLifetime>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            limits: limits(),
            domains: caas_core::platform::DomainConfig::default(),
            backups: true,
            mailer: true,
            manual_clock: false,
            dns: None,
            http_limits: None,
            stream_limits: None,
            token_lifetime: None,
        }
    }
}

/// [`world`] whose platform gives API tokens `lifetime`.
pub async fn world_with_token_lifetime(lifetime: caas_core::platform::TokenLifetime) -> World {
    build(Setup {
        token_lifetime: Some(lifetime),
        ..Setup::default()
    })
    .await
}

/// [`world`] whose router enforces `http` and whose platform `streams`.
pub async fn world_with_limits(
    http: caas_http::HttpLimits,
    streams: caas_core::platform::StreamLimits,
) -> World {
    build(Setup {
        http_limits: Some(http),
        stream_limits: Some(streams),
        ..Setup::default()
    })
    .await
}

async fn build(setup: Setup) -> World {
    let Setup {
        limits,
        domains,
        backups,
        mailer: with_mailer,
        manual_clock,
        dns,
        http_limits,
        stream_limits,
        token_lifetime,
    } = setup;
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let objects = Arc::new(object_store::memory::InMemory::new());
    let mailer = Arc::new(InMemoryMailer::new());
    let clock = manual_clock.then(|| Arc::new(ManualClock::new(chrono::Utc::now())));
    let mut builder = Platform::builder();
    if backups {
        builder = builder.backups(caas_core::platform::BackupConfig::new(objects.clone()));
    }
    if with_mailer {
        builder = builder.mailer(mailer.clone());
    }
    if let Some(c) = &clock {
        builder = builder.clock(c.clone());
    }
    if let Some(d) = &dns {
        builder = builder.dns_resolver(d.clone());
    }
    if let Some(l) = stream_limits {
        builder = builder.stream_limits(l);
    }
    if let Some(l) = token_lifetime {
        builder = builder.token_lifetime(l);
    }
    let platform = builder
        .store(store.clone())
        .runtime(Arc::new(runtime.clone()))
        .runtime_connector(
            Arc::new(MemoryConnector(runtime.clone())),
            memory_config("initial"),
        )
        .rollout(
            caas_core::platform::RolloutTiming::new(
                Duration::from_secs(5),
                Duration::from_millis(50),
                Duration::from_millis(10),
            )
            // The in-memory engine's addresses are not reachable.
            .with_tcp_probe(false),
        )
        .domains(domains)
        .build()
        .unwrap();
    let admin_user = platform
        .users()
        .ensure_platform_admin("root@example.com")
        .await
        .unwrap();
    let admin_token = platform
        .tokens()
        .ensure_bootstrap(&admin_user)
        .await
        .unwrap()
        .unwrap();
    let admin = platform.principal_for(admin_user.id).await.unwrap();
    platform
        .plans()
        .create(&admin, NewPlan::new("starter", limits))
        .await
        .unwrap();
    let mut tokens = Vec::new();
    let mut users = Vec::new();
    for email in [
        "owner@acme.example",
        "member@acme.example",
        "viewer@acme.example",
        "boss@globex.example",
    ] {
        let user = platform
            .users()
            .create(&admin, NewUser::new(email))
            .await
            .unwrap();
        tokens.push(token_for(&platform, &admin, user.id).await);
        users.push(user.id);
    }
    let acme = platform
        .orgs()
        .create(&admin, NewOrganization::new("acme"), Some(users[0]))
        .await
        .unwrap();
    platform
        .orgs()
        .create(&admin, NewOrganization::new("globex"), Some(users[3]))
        .await
        .unwrap();
    for (user, role) in [(users[1], Role::Member), (users[2], Role::Viewer)] {
        store
            .put_member(&Member {
                org: acme.id,
                user,
                role,
                projects: None,
                created_at: chrono::Utc::now(),
            })
            .await
            .unwrap();
    }
    for org in ["acme", "globex"] {
        platform
            .orgs()
            .set_subscription(&admin, org, "starter", SubscriptionStatus::Active)
            .await
            .unwrap();
    }
    platform
        .projects()
        .create(&admin, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    // Tests make requests as fast as they can: limits of their own where they test them.
    let app = caas_http::router_with(
        platform.clone(),
        Arc::new(caas_http::BearerTokenAuthenticator),
        http_limits.unwrap_or_else(|| caas_http::HttpLimits::new().per_user(1_000_000, 1_000_000)),
    );
    let mut tokens = tokens.into_iter();
    World {
        app,
        platform,
        runtime,
        store,
        objects,
        mailer,
        clock,
        dns,
        admin: admin_token,
        owner: tokens.next().unwrap(),
        member: tokens.next().unwrap(),
        viewer: tokens.next().unwrap(),
        stranger: tokens.next().unwrap(),
    }
}

pub async fn world() -> World {
    world_with(limits()).await
}

/// The busybox httpd app.
pub fn web_app(name: &str) -> Value {
    json!({
        "name": name,
        "spec": {
            "image": IMAGE,
            "command": ["httpd", "-f", "-p", "8080"],
            "ports": [{"container_port": 8080}],
            "env": [
                {"key": "GREETING", "value": "hello"},
                {"key": "API_KEY", "value": "s3cr3t", "secret": true}
            ]
        }
    })
}

pub const SERVICES: &str = "/v1/orgs/acme/projects/shop/services";

impl World {
    /// Sends a request; the body is JSON when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, _, json) = self.call_with(method, path, token, &[], body).await;
        (status, json)
    }

    /// Sends a request with extra headers; answers the status, headers and body.
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, http::HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, headers, json)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// A new user with `role` in `acme`, and their API token.
    pub async fn token_with_role(&self, email: &str, role: Role) -> String {
        self.token_with_scope(email, role, None).await
    }

    /// A new member of `acme` with `role` on the named projects only (every project with
    /// `None`), and their API token.
    pub async fn token_with_scope(
        &self,
        email: &str,
        role: Role,
        projects: Option<&[&str]>,
    ) -> String {
        let acme = self.store.org_by_slug_opt("acme").await.unwrap().unwrap();
        let mut ids = None;
        if let Some(names) = projects {
            let mut v = Vec::new();
            for n in names {
                v.push(
                    self.store
                        .project_by_name_opt(acme.id, n)
                        .await
                        .unwrap()
                        .unwrap()
                        .id,
                );
            }
            ids = Some(v);
        }
        let admin = self
            .platform
            .principal_for(self.admin_id().await)
            .await
            .unwrap();
        let user = self
            .platform
            .users()
            .create(&admin, NewUser::new(email))
            .await
            .unwrap();
        self.store
            .put_member(&Member {
                org: acme.id,
                user: user.id,
                role,
                projects: ids,
                created_at: chrono::Utc::now(),
            })
            .await
            .unwrap();
        token_for(&self.platform, &admin, user.id).await
    }

    /// A new user with no membership anywhere, and their API token.
    pub async fn token_for_new_user(&self, email: &str) -> String {
        let admin = self
            .platform
            .principal_for(self.admin_id().await)
            .await
            .unwrap();
        let user = self
            .platform
            .users()
            .create(&admin, NewUser::new(email))
            .await
            .unwrap();
        token_for(&self.platform, &admin, user.id).await
    }

    /// The token of the last invitation mailed to `email`.
    pub fn mailed_token(&self, email: &str) -> String {
        self.mailer
            .sent()
            .into_iter()
            .rev()
            .find(|m| m.to == email)
            .unwrap_or_else(|| panic!("nothing was mailed to {email}"))
            .token
    }

    async fn admin_id(&self) -> caas_core::UserId {
        self.platform
            .users()
            .ensure_platform_admin("root@example.com")
            .await
            .unwrap()
            .id
    }

    pub async fn deploy_web(&self) -> Value {
        let (status, body) = self.post(SERVICES, &self.owner, web_app("web")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// The runtime id of a service's container.
    pub async fn container_of(&self, service_id: &str) -> String {
        let containers = self
            .runtime
            .list_containers(&LabelSelector::managed().with(caas_core::labels::SERVICE, service_id))
            .await
            .unwrap();
        assert_eq!(containers.len(), 1, "{containers:?}");
        containers[0].id.clone()
    }
}

/// Asserts a JSON error: status, code, and (for 422) the field.
/// The secret of a 201 token answer.
pub fn secret(got: &(StatusCode, Value)) -> String {
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let secret = got.1["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("caas_"), "{secret}");
    secret
}

pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    assert!(got.1["message"].is_string(), "{}", got.1);
    assert!(got.1["retryable"].is_boolean(), "{}", got.1);
}

pub fn assert_invalid(got: &(StatusCode, Value), field: &str) {
    assert_error(got, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_INPUT");
    assert_eq!(got.1["details"]["field"], field, "{}", got.1);
}
