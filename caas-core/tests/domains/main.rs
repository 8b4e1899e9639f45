//! Custom domains on the in-memory backends: validation, one owner across tenants,
//! verification by DNS and HTTP, routing of verified domains only, permissions.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use caas_core::labels;
use caas_core::memory::{InMemoryProxy, InMemoryRuntime, InMemoryStore};
use caas_core::model::{
    NewOrganization, NewPlan, PlanLimits, PortSpec, Protocol, Role, ServiceSpec,
    SubscriptionStatus, VerificationStatus,
};
use caas_core::platform::{
    DeployApp, DomainConfig, NewDomain, NewProject, RolloutTiming, VerificationMethod,
};
use caas_core::ports::dns::InMemoryDns;
use caas_core::ports::proxy::{CertificateStatus, RouteRule, ServiceRoutes};
use caas_core::ports::runtime::LabelSelector;
use caas_core::units::GIB;
use caas_core::validate::{Hostname, ImageRef};
use caas_core::{ContainerRuntime, Platform, Principal, Proxy, ServiceId, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod wildcards;

const IMAGE: &str = "caas/busybox:latest";
const PUBLIC: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    runtime: InMemoryRuntime,
    proxy: Arc<InMemoryProxy>,
    dns: Arc<InMemoryDns>,
    who: Principal,
}

async fn world_with(config: DomainConfig) -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let proxy = Arc::new(InMemoryProxy::new());
    let dns = Arc::new(InMemoryDns::new());
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime.clone()))
        .proxy(proxy.clone())
        .dns_resolver(dns.clone())
        .domains(config)
        .rollout(
            RolloutTiming::new(
                Duration::from_secs(2),
                Duration::from_millis(20),
                Duration::from_millis(10),
            )
            .with_tcp_probe(false),
        )
        .build()
        .unwrap();
    let admin = platform
        .ensure_platform_admin("root@example.com")
        .await
        .unwrap();
    let who = platform.principal_for(admin.id).await.unwrap();
    let limits = PlanLimits {
        cpu_millis: 8000,
        memory_bytes: 8 * GIB,
        storage_bytes: 10 * GIB,
        max_containers: 10,
        max_projects: 3,
    };
    platform
        .create_plan(&who, NewPlan::new("p", limits))
        .await
        .unwrap();
    for org in ["acme", "other"] {
        platform
            .create_org(&who, NewOrganization::new(org), None)
            .await
            .unwrap();
        platform
            .set_subscription(&who, org, "p", SubscriptionStatus::Active)
            .await
            .unwrap();
        platform
            .create_project(&who, org, NewProject::new("shop"))
            .await
            .unwrap();
    }
    World {
        platform,
        store,
        runtime,
        proxy,
        dns,
        who,
    }
}

async fn world() -> World {
    world_with(
        DomainConfig::new()
            .public_address(PUBLIC)
            .cname_target(Hostname::parse("edge.caas.example").unwrap()),
    )
    .await
}

async fn deploy(w: &World, org: &str, name: &str) -> ServiceId {
    let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
    spec.ports.push(PortSpec {
        container_port: 8080,
        protocol: Protocol::Tcp,
    });
    w.platform
        .deploy_app(&w.who, org, "shop", DeployApp::new(name, spec))
        .await
        .unwrap()
        .id
}

async fn container(w: &World, svc: ServiceId) -> (String, String) {
    let cs = w
        .runtime
        .list_containers(&LabelSelector::managed().with(labels::SERVICE, svc))
        .await
        .unwrap();
    assert_eq!(cs.len(), 1, "exactly one container: {cs:?}");
    let info = w
        .runtime
        .inspect_container_opt(&cs[0].id)
        .await
        .unwrap()
        .unwrap();
    let ip = info.ip_addresses.values().next().unwrap().clone();
    (info.id, ip)
}

fn rule(host: &str, path: &str, strip: bool) -> RouteRule {
    RouteRule {
        host: Hostname::parse(host).unwrap().into(),
        path_prefix: path.into(),
        strip_prefix: strip,
        tls: false,
    }
}

async fn add(
    w: &World,
    service: &str,
    d: NewDomain,
) -> caas_core::Result<caas_core::model::Domain> {
    w.platform
        .add_domain(&w.who, "acme", "shop", service, d)
        .await
}

async fn verify_dns(w: &World, host: &str) -> Vec<caas_core::model::Domain> {
    w.platform
        .verify_domain(&w.who, "acme", host, None, VerificationMethod::Dns)
        .await
        .unwrap()
}

#[tokio::test]
async fn invalid_domains_are_refused_naming_the_field_and_nothing_is_stored() {
    let w = world().await;
    let svc = deploy(&w, "acme", "web").await;
    let long_label = format!("{}.example.com", "a".repeat(64));
    let long_name = format!("{}example.com", "abcdefghi.".repeat(26));
    let hosts = [
        "a`b.example.com",
        "evil.com`) || Host(`x.com",
        "a\"b.example.com",
        "a'b.example.com",
        "a b.example.com",
        "a(b).example.com",
        "a||b.example.com",
        "a|b.example.com",
        long_label.as_str(),
        long_name.as_str(),
        "bücher.example.com",
        "*.example.com",
        "",
        "localhost",
        "a..example.com",
    ];
    for h in hosts {
        let err = add(&w, "web", NewDomain::new(h)).await.unwrap_err();
        assert!(err.is_invalid_input(), "{h:?}: {err}");
        assert_eq!(err.field(), Some("hostname"), "{h:?}: {err}");
    }
    let paths = [
        "x", "/a b", "/a`b", "/a'b", "/a\"b", "/a(b)", "/a||b", "/../x", "/a//b", "/ü", "/a?b",
        "/a#b", "/a%20",
    ];
    for p in paths {
        let err = add(&w, "web", NewDomain::new("app.example.com").path_prefix(p))
            .await
            .unwrap_err();
        assert!(err.is_invalid_input(), "{p:?}: {err}");
        assert_eq!(err.field(), Some("path_prefix"), "{p:?}: {err}");
    }
    let err = add(
        &w,
        "web",
        NewDomain::new("app.example.com").strip_prefix(true),
    )
    .await
    .unwrap_err();
    assert_eq!(err.field(), Some("strip_prefix"));
    let err = add(&w, "web", NewDomain::new("app.example.com").target_port(0))
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("target_port"));
    assert!(w.store.list_domains(svc).await.unwrap().is_empty());
    assert!(w.proxy.keys().is_empty());
}

#[tokio::test]
async fn one_owner_per_host_and_path_across_tenants() {
    let w = world().await;
    deploy(&w, "acme", "web").await;
    deploy(&w, "other", "web").await;
    let d = add(&w, "web", NewDomain::new("App.Example.com"))
        .await
        .unwrap();
    assert_eq!(d.hostname.as_str(), "app.example.com");
    assert_eq!(d.path_prefix, "/");
    assert_eq!(d.target_port, 8080);
    assert_eq!(d.verification, VerificationStatus::Pending);
    assert_eq!(d.verification_token.len(), 32);
    let err = w
        .platform
        .add_domain(
            &w.who,
            "other",
            "shop",
            "web",
            NewDomain::new("app.example.com"),
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict() || err.is_already_exists(), "{err}");
    assert!(err.to_string().contains("already in use"), "{err}");
    // Another path on the same host is another route (a trailing slash is dropped).
    let d2 = w
        .platform
        .add_domain(
            &w.who,
            "other",
            "shop",
            "web",
            NewDomain::new("app.example.com").path_prefix("/api/"),
        )
        .await
        .unwrap();
    assert_eq!(d2.path_prefix, "/api");
}

#[tokio::test]
async fn pending_domains_are_not_routed_and_adding_does_not_recreate() {
    let w = world().await;
    let svc = deploy(&w, "acme", "web").await;
    let (before, _) = container(&w, svc).await;
    add(&w, "web", NewDomain::new("app.example.com"))
        .await
        .unwrap();
    assert_eq!(container(&w, svc).await.0, before);
    assert!(
        w.proxy
            .routes_opt(&svc.to_string())
            .await
            .unwrap()
            .is_none()
    );
    // A failed verification routes nothing either.
    let out = verify_dns(&w, "app.example.com").await;
    let VerificationStatus::Failed { reason } = &out[0].verification else {
        panic!("{out:?}")
    };
    assert!(reason.contains("no A/AAAA records"), "{reason}");
    assert!(
        w.proxy
            .routes_opt(&svc.to_string())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(container(&w, svc).await.0, before);
}

#[tokio::test]
async fn dns_verification_by_address_or_cname_routes_exactly_the_verified_rules() {
    let w = world().await;
    let svc = deploy(&w, "acme", "web").await;
    let (id, ip) = container(&w, svc).await;
    add(&w, "web", NewDomain::new("a.example.com"))
        .await
        .unwrap();
    add(
        &w,
        "web",
        NewDomain::new("a.example.com")
            .path_prefix("/two")
            .strip_prefix(true),
    )
    .await
    .unwrap();
    add(&w, "web", NewDomain::new("b.example.com"))
        .await
        .unwrap();
    add(&w, "web", NewDomain::new("c.example.com"))
        .await
        .unwrap();

    w.dns.set_ips("a.example.com", [PUBLIC]);
    w.dns.set_cname("b.example.com", ["EDGE.caas.example."]);
    w.dns
        .set_ips("c.example.com", ["198.51.100.1".parse().unwrap()]);
    w.dns.set_cname("c.example.com", ["elsewhere.example.net"]);

    let out = verify_dns(&w, "a.example.com").await;
    assert_eq!(out.len(), 2);
    assert!(
        out.iter()
            .all(|d| matches!(d.verification, VerificationStatus::Verified { .. }))
    );
    verify_dns(&w, "b.example.com").await;
    let out = verify_dns(&w, "c.example.com").await;
    let VerificationStatus::Failed { reason } = &out[0].verification else {
        panic!("{out:?}")
    };
    assert!(reason.contains("198.51.100.1"), "{reason}");
    assert!(reason.contains("203.0.113.7"), "{reason}");
    assert!(reason.contains("elsewhere.example.net"), "{reason}");

    let routes = w.proxy.routes_opt(&svc.to_string()).await.unwrap().unwrap();
    assert_eq!(
        routes,
        ServiceRoutes {
            key: svc.to_string(),
            rules: vec![
                rule("a.example.com", "/", false),
                rule("a.example.com", "/two", true),
                rule("b.example.com", "/", false),
            ],
            upstreams: vec![format!("http://{ip}:8080")],
        }
    );
    assert_eq!(container(&w, svc).await.0, id, "no recreate");

    // A resolver outage changes nothing.
    w.dns.set_unavailable(true);
    let err = w
        .platform
        .verify_domain(
            &w.who,
            "acme",
            "c.example.com",
            None,
            VerificationMethod::Dns,
        )
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    w.dns.set_unavailable(false);

    // The periodic re-check picks up a fixed record.
    w.dns.set_ips("c.example.com", [PUBLIC]);
    assert_eq!(w.platform.reverify_domains().await.unwrap(), 1);
    let routes = w.proxy.routes_opt(&svc.to_string()).await.unwrap().unwrap();
    assert_eq!(routes.rules.len(), 4);

    // Removal unroutes: one path, then the whole host, then the rest.
    let removed = w
        .platform
        .remove_domain(&w.who, "acme", "shop", "web", "a.example.com", Some("/two"))
        .await
        .unwrap();
    assert_eq!(removed.len(), 1);
    let routes = w.proxy.routes_opt(&svc.to_string()).await.unwrap().unwrap();
    assert_eq!(routes.rules.len(), 3);
    for host in ["a.example.com", "b.example.com", "c.example.com"] {
        w.platform
            .remove_domain(&w.who, "acme", "shop", "web", host, None)
            .await
            .unwrap();
    }
    assert!(
        w.proxy
            .routes_opt(&svc.to_string())
            .await
            .unwrap()
            .is_none()
    );
    let err = w
        .platform
        .remove_domain(&w.who, "acme", "shop", "web", "a.example.com", None)
        .await
        .unwrap_err();
    assert!(err.is_not_found());
}

#[tokio::test]
async fn a_suspended_organization_verifies_no_domain_until_it_is_reactivated() {
    let w = world().await;
    deploy(&w, "acme", "web").await;
    add(&w, "web", NewDomain::new("a.example.com"))
        .await
        .unwrap();
    w.dns.set_ips("a.example.com", [PUBLIC]);
    assert!(w.platform.suspend_org(&w.who, "acme").await.unwrap());
    let err = w
        .platform
        .verify_domain(
            &w.who,
            "acme",
            "a.example.com",
            None,
            VerificationMethod::Dns,
        )
        .await
        .unwrap_err();
    assert!(
        err.is_conflict() && err.to_string().contains("suspended"),
        "{err}"
    );
    let stored = w
        .store
        .list_org_domains(w.store.org_by_slug_opt("acme").await.unwrap().unwrap().id)
        .await
        .unwrap();
    assert_eq!(
        stored[0].verification,
        VerificationStatus::Pending,
        "unchanged"
    );
    assert!(w.platform.reactivate_org(&w.who, "acme").await.unwrap());
    let out = verify_dns(&w, "a.example.com").await;
    assert!(matches!(
        out[0].verification,
        VerificationStatus::Verified { .. }
    ));
}

#[tokio::test]
async fn dns_verification_needs_a_configured_address_or_target() {
    let w = world_with(DomainConfig::new()).await;
    deploy(&w, "acme", "web").await;
    add(&w, "web", NewDomain::new("a.example.com"))
        .await
        .unwrap();
    let err = w
        .platform
        .verify_domain(
            &w.who,
            "acme",
            "a.example.com",
            None,
            VerificationMethod::Dns,
        )
        .await
        .unwrap_err();
    assert!(err.is_unsupported(), "{err}");
}

/// Serves `body` with `status` to every request on `listener`.
fn http_server(listener: tokio::net::TcpListener, status: &'static str, body: String) {
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = conn.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
            });
        }
    });
}

#[tokio::test]
async fn http_verification_fetches_the_token_from_the_resolved_address() {
    for (status, with_token, ok) in [
        ("200 OK", true, true),
        ("200 OK", false, false),
        ("404 Not Found", true, false),
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let w = world_with(DomainConfig::new().http_port(port)).await;
        let svc = deploy(&w, "acme", "web").await;
        let d = add(&w, "web", NewDomain::new("h.example.com"))
            .await
            .unwrap();
        let body = if with_token {
            format!("{}\n", d.verification_token)
        } else {
            "something else".to_string()
        };
        http_server(listener, status, body);
        w.dns
            .set_ips("h.example.com", [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        let out = w
            .platform
            .verify_domain(
                &w.who,
                "acme",
                "h.example.com",
                None,
                VerificationMethod::Http,
            )
            .await
            .unwrap();
        let routed = w.proxy.routes_opt(&svc.to_string()).await.unwrap();
        match (&out[0].verification, ok) {
            (VerificationStatus::Verified { .. }, true) => assert!(routed.is_some()),
            (VerificationStatus::Failed { reason }, false) => {
                assert!(reason.contains("127.0.0.1"), "{reason}");
                assert!(routed.is_none());
            }
            other => panic!("{status} {with_token}: {other:?}"),
        }
    }
    // A host that does not resolve fails with the reason.
    let w = world().await;
    deploy(&w, "acme", "web").await;
    add(&w, "web", NewDomain::new("nx.example.com"))
        .await
        .unwrap();
    let out = w
        .platform
        .verify_domain(
            &w.who,
            "acme",
            "nx.example.com",
            None,
            VerificationMethod::Http,
        )
        .await
        .unwrap();
    assert!(
        matches!(&out[0].verification, VerificationStatus::Failed { reason } if reason.contains("no A/AAAA"))
    );
}

#[tokio::test]
async fn a_recreate_keeps_a_routed_service_routed_to_its_new_container() {
    let w = world().await;
    let svc = deploy(&w, "acme", "web").await;
    add(&w, "web", NewDomain::new("a.example.com"))
        .await
        .unwrap();
    w.dns.set_ips("a.example.com", [PUBLIC]);
    verify_dns(&w, "a.example.com").await;
    let (old, _) = container(&w, svc).await;
    w.platform
        .recreate_service(&w.who, "acme", "shop", "web")
        .await
        .unwrap();
    let (new, ip) = container(&w, svc).await;
    assert_ne!(old, new);
    let routes = w.proxy.routes_opt(&svc.to_string()).await.unwrap().unwrap();
    assert_eq!(routes.upstreams, vec![format!("http://{ip}:8080")]);
}

#[tokio::test]
async fn permissions_and_certificates() {
    let w = world().await;
    deploy(&w, "acme", "web").await;
    add(&w, "web", NewDomain::new("a.example.com"))
        .await
        .unwrap();
    let org = w.store.org_by_slug_opt("acme").await.unwrap().unwrap();
    let user = caas_core::UserId::new();
    let viewer = Principal::user(user).with_role(org.id, Role::Viewer);
    let stranger = Principal::user(caas_core::UserId::new());

    let err = w
        .platform
        .add_domain(
            &viewer,
            "acme",
            "shop",
            "web",
            NewDomain::new("v.example.com"),
        )
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let err = w
        .platform
        .verify_domain(
            &viewer,
            "acme",
            "a.example.com",
            None,
            VerificationMethod::Dns,
        )
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let err = w
        .platform
        .remove_domain(&viewer, "acme", "shop", "web", "a.example.com", None)
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    assert_eq!(
        w.platform
            .list_domains(&viewer, "acme", "shop", "web")
            .await
            .unwrap()
            .len(),
        1
    );

    let err = w
        .platform
        .add_domain(
            &stranger,
            "acme",
            "shop",
            "web",
            NewDomain::new("s.example.com"),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = w
        .platform
        .list_domains(&stranger, "acme", "shop", "web")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = w
        .platform
        .verify_domain(
            &stranger,
            "acme",
            "a.example.com",
            None,
            VerificationMethod::Dns,
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = w
        .platform
        .certificate_status(&stranger, "acme", "a.example.com")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    // Another tenant's domain is not found either.
    let err = w
        .platform
        .certificate_status(&w.who, "other", "a.example.com")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    w.proxy
        .set_certificate("a.example.com", CertificateStatus::Pending);
    assert_eq!(
        w.platform
            .certificate_status(&viewer, "acme", "a.example.com")
            .await
            .unwrap(),
        CertificateStatus::Pending
    );
}
