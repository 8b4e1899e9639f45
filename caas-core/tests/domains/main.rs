//! Custom domains on the in-memory backends: validation, one organization per hostname,
//! routing of verified domains only, permissions. Proving ownership (TXT, HTTP, readiness,
//! expiry, reserved names, limits) is in `ownership.rs`, wildcards in `wildcards.rs`.

#![allow(clippy::unwrap_used)]

use caas_core::ports::store::prelude::*;
use caas_core::{ProjectRef, ServiceRef};
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
    DeployApp, DomainConfig, DomainView, NewDomain, NewProject, RolloutTiming, VerificationMethod,
};
use caas_core::ports::dns::InMemoryDns;
use caas_core::ports::proxy::{CertificateStatus, RouteRule, ServiceRoutes};
use caas_core::ports::runtime::LabelSelector;
use caas_core::units::GIB;
use caas_core::validate::{Hostname, ImageRef};
use caas_core::{ContainerRuntime, ManualClock, Platform, Principal, Proxy, ServiceId};

mod ownership;
mod wildcards;

const IMAGE: &str = "caas/busybox:latest";
const PUBLIC: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    runtime: InMemoryRuntime,
    proxy: Arc<InMemoryProxy>,
    dns: Arc<InMemoryDns>,
    clock: Arc<ManualClock>,
    who: Principal,
}

async fn world_with(config: DomainConfig) -> World {
    world_on(config, None, 20).await
}

/// A platform with the organizations `acme` and `rival`, each with a project `shop`, on a
/// plan allowing `max_domains`; it asks `resolver`, or the world's table of records; the
/// clock is manual.
async fn world_on(
    config: DomainConfig,
    resolver: Option<Arc<dyn caas_core::ports::dns::DnsResolver>>,
    max_domains: u64,
) -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let proxy = Arc::new(InMemoryProxy::new());
    let dns = Arc::new(InMemoryDns::new());
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime.clone()))
        .proxy(proxy.clone())
        .dns_resolver(resolver.unwrap_or_else(|| dns.clone()))
        .clock(clock.clone())
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
        .users()
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
        max_domains,
        max_pids: 1024,
        backup_storage_bytes: 10 * GIB,
    };
    platform
        .plans()
        .create(&who, NewPlan::new("p", limits))
        .await
        .unwrap();
    for org in ["acme", "rival"] {
        platform
            .orgs()
            .create(&who, NewOrganization::new(org), None)
            .await
            .unwrap();
        platform
            .orgs()
            .set_subscription(&who, org, "p", SubscriptionStatus::Active)
            .await
            .unwrap();
        platform
            .projects()
            .create(&who, org, NewProject::new("shop"))
            .await
            .unwrap();
    }
    World {
        platform,
        store,
        runtime,
        proxy,
        dns,
        clock,
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
        .services()
        .deploy_app(
            &w.who,
            &ProjectRef::new(org, "shop"),
            DeployApp::new(name, spec),
        )
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

async fn add(w: &World, service: &str, d: NewDomain) -> caas_core::Result<DomainView> {
    w.platform
        .domains()
        .add(&w.who, &ServiceRef::new("acme", "shop", service), d)
        .await
}

async fn add_in(w: &World, org: &str, d: NewDomain) -> caas_core::Result<DomainView> {
    w.platform
        .domains()
        .add(&w.who, &ServiceRef::new(org, "shop", "web"), d)
        .await
}

async fn verify_in(
    w: &World,
    org: &str,
    host: &str,
    method: VerificationMethod,
) -> caas_core::Result<Vec<DomainView>> {
    w.platform
        .domains()
        .verify(&w.who, org, host, None, method)
        .await
}

async fn verify_dns(w: &World, host: &str) -> Vec<DomainView> {
    verify_in(w, "acme", host, VerificationMethod::Dns)
        .await
        .unwrap()
}

/// Publishes the TXT record proving `view`'s claim, as its owner would.
fn publish_txt(w: &World, view: &DomainView) {
    let proof = view.ownership.as_ref().expect("an unproven claim");
    w.dns.set_txt(&proof.txt_name, [proof.txt_value.clone()]);
}

fn verified(v: &DomainView) -> bool {
    matches!(v.verification, VerificationStatus::Verified { .. })
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
        "bü`cher.example.com",
        "bücher.example.com`) || Host(`x.com",
        "xn--a.example.com",
        "*.example.com",
        "",
        "localhost",
        "a..example.com",
        "a.example.com..",
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
async fn another_organization_cannot_take_a_path_on_a_hostname_it_does_not_own() {
    let w = world().await;
    deploy(&w, "acme", "web").await;
    let theirs = deploy(&w, "rival", "web").await;
    let d = add(&w, "web", NewDomain::new("Shop.Example.com"))
        .await
        .unwrap();
    assert_eq!(d.domain.hostname.as_str(), "shop.example.com");
    assert_eq!(d.domain.path_prefix, "/");
    assert_eq!(d.domain.target_port, 8080);
    assert_eq!(d.verification, VerificationStatus::Pending);
    // The attack: a longer prefix on the victim's hostname would win in the proxy. Refused
    // whatever the path, before and after the victim proved the name, without naming it.
    for proven in [false, true] {
        for path in ["/login", "/", "/api/v2", "/login/"] {
            let err = add_in(
                &w,
                "rival",
                NewDomain::new("shop.example.com").path_prefix(path),
            )
            .await
            .unwrap_err();
            assert!(err.is_conflict(), "{path}: {err}");
            let said = err.to_string();
            assert!(said.contains("belongs to another organization"), "{said}");
            assert!(!said.contains("acme"), "names the owner: {said}");
        }
        if !proven {
            publish_txt(&w, &d);
            assert!(verified(&verify_dns(&w, "shop.example.com").await[0]));
        }
    }
    assert!(w.store.list_domains(theirs).await.unwrap().is_empty());
    assert!(
        w.proxy
            .routes_opt(&theirs.to_string())
            .await
            .unwrap()
            .is_none(),
        "nothing of the other organization is routed"
    );
    // The owner's own second path and service share the hostname.
    deploy(&w, "acme", "api").await;
    let api = add(
        &w,
        "api",
        NewDomain::new("shop.example.com").path_prefix("/api/"),
    )
    .await
    .unwrap();
    assert_eq!(api.domain.path_prefix, "/api");
    let err = add(&w, "web", NewDomain::new("shop.example.com"))
        .await
        .unwrap_err();
    assert!(err.is_already_exists(), "{err}");
}

#[tokio::test]
async fn every_spelling_of_a_hostname_is_the_same_name() {
    let w = world().await;
    deploy(&w, "acme", "web").await;
    deploy(&w, "rival", "web").await;
    let d = add(&w, "web", NewDomain::new("Bücher.Example."))
        .await
        .unwrap();
    assert_eq!(d.domain.hostname.as_str(), "xn--bcher-kva.example");
    for spelling in [
        "xn--bcher-kva.example",
        "XN--BCHER-KVA.EXAMPLE.",
        "bücher.example",
        "BÜCHER.example",
    ] {
        let err = add_in(&w, "rival", NewDomain::new(spelling).path_prefix("/x"))
            .await
            .unwrap_err();
        assert!(err.is_conflict(), "{spelling}: {err}");
    }
    // Verification, listing and removal accept any spelling too.
    publish_txt(&w, &d);
    assert!(verified(&verify_dns(&w, "BÜCHER.example.").await[0]));
    let removed = w
        .platform
        .domains()
        .remove(
            &w.who,
            &ServiceRef::new("acme", "shop", "web"),
            "xn--BCHER-kva.example",
            None,
        )
        .await
        .unwrap();
    assert_eq!(removed.len(), 1);
}

#[tokio::test]
async fn pending_domains_are_not_routed_and_adding_does_not_recreate() {
    let w = world().await;
    let svc = deploy(&w, "acme", "web").await;
    let (before, _) = container(&w, svc).await;
    let d = add(&w, "web", NewDomain::new("app.example.com"))
        .await
        .unwrap();
    let proof = d.ownership.clone().unwrap();
    assert_eq!(proof.txt_name, "_caas-challenge.app.example.com");
    assert_eq!(proof.txt_value.len(), 32);
    assert_eq!(container(&w, svc).await.0, before);
    assert!(
        w.proxy
            .routes_opt(&svc.to_string())
            .await
            .unwrap()
            .is_none()
    );
    // A failed verification routes nothing either, and says what to add.
    let out = verify_dns(&w, "app.example.com").await;
    let VerificationStatus::Failed { reason } = &out[0].verification else {
        panic!("{out:?}")
    };
    assert!(
        reason.contains("no TXT record at _caas-challenge.app.example.com"),
        "{reason}"
    );
    assert!(reason.contains(&proof.txt_value), "{reason}");
    w.dns
        .set_txt("_caas-challenge.app.example.com", ["another value"]);
    let out = verify_dns(&w, "app.example.com").await;
    assert!(
        matches!(&out[0].verification, VerificationStatus::Failed { reason } if reason.contains("none of the 1 TXT records")),
        "{out:?}"
    );
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
async fn txt_verification_routes_exactly_the_verified_rules() {
    let w = world().await;
    let svc = deploy(&w, "acme", "web").await;
    let (id, ip) = container(&w, svc).await;
    let a = add(&w, "web", NewDomain::new("a.example.com"))
        .await
        .unwrap();
    let a2 = add(
        &w,
        "web",
        NewDomain::new("a.example.com")
            .path_prefix("/two")
            .strip_prefix(true),
    )
    .await
    .unwrap();
    assert_eq!(
        a2.ownership, a.ownership,
        "one claim, one token per hostname"
    );
    let b = add(&w, "web", NewDomain::new("b.example.com"))
        .await
        .unwrap();
    let c = add(&w, "web", NewDomain::new("c.example.com"))
        .await
        .unwrap();
    publish_txt(&w, &a);
    publish_txt(&w, &b);
    w.dns.set_ips("a.example.com", [PUBLIC]);
    w.dns
        .set_ips("c.example.com", ["198.51.100.1".parse().unwrap()]);
    w.dns.set_cname("c.example.com", ["elsewhere.example.net"]);

    let out = verify_dns(&w, "a.example.com").await;
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(verified));
    assert!(out.iter().all(|d| d.ownership.is_none()));
    let ready = out[0].readiness.clone().unwrap();
    assert!(ready.points_at_platform, "{ready:?}");
    assert!(verified(&verify_dns(&w, "b.example.com").await[0]));
    let out = verify_dns(&w, "c.example.com").await;
    assert!(matches!(
        out[0].verification,
        VerificationStatus::Failed { .. }
    ));
    let ready = out[0].readiness.clone().unwrap();
    assert!(!ready.points_at_platform);
    for part in ["198.51.100.1", "203.0.113.7", "elsewhere.example.net"] {
        assert!(ready.detail.contains(part), "{}", ready.detail);
    }

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
    let err = verify_in(&w, "acme", "c.example.com", VerificationMethod::Dns)
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    w.dns.set_unavailable(false);

    // The periodic re-check picks up the record once it is published.
    publish_txt(&w, &c);
    assert_eq!(w.platform.domains().reverify().await.unwrap(), 1);
    let routes = w.proxy.routes_opt(&svc.to_string()).await.unwrap().unwrap();
    assert_eq!(routes.rules.len(), 4);

    // A new path on a proven hostname is routed at once.
    let d = add(
        &w,
        "web",
        NewDomain::new("b.example.com").path_prefix("/new"),
    )
    .await
    .unwrap();
    assert!(verified(&d));
    let routes = w.proxy.routes_opt(&svc.to_string()).await.unwrap().unwrap();
    assert_eq!(routes.rules.len(), 5);

    // Removal unroutes: one path, then the whole host, then the rest.
    let removed = w
        .platform
        .domains()
        .remove(
            &w.who,
            &ServiceRef::new("acme", "shop", "web"),
            "a.example.com",
            Some("/two"),
        )
        .await
        .unwrap();
    assert_eq!(removed.len(), 1);
    let routes = w.proxy.routes_opt(&svc.to_string()).await.unwrap().unwrap();
    assert_eq!(routes.rules.len(), 4);
    for host in ["a.example.com", "b.example.com", "c.example.com"] {
        w.platform
            .domains()
            .remove(&w.who, &ServiceRef::new("acme", "shop", "web"), host, None)
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
        .domains()
        .remove(
            &w.who,
            &ServiceRef::new("acme", "shop", "web"),
            "a.example.com",
            None,
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    // A removed hostname is free, and a new claim must be proven again.
    let again = add(&w, "web", NewDomain::new("a.example.com"))
        .await
        .unwrap();
    assert_eq!(again.verification, VerificationStatus::Pending);
    assert_ne!(
        again.ownership.unwrap().txt_value,
        a.ownership.unwrap().txt_value
    );
}

#[tokio::test]
async fn a_suspended_organization_verifies_no_domain_until_it_is_reactivated() {
    let w = world().await;
    deploy(&w, "acme", "web").await;
    let d = add(&w, "web", NewDomain::new("a.example.com"))
        .await
        .unwrap();
    publish_txt(&w, &d);
    assert!(
        w.platform
            .admin()
            .suspend_org(&w.who, "acme")
            .await
            .unwrap()
    );
    let err = verify_in(&w, "acme", "a.example.com", VerificationMethod::Dns)
        .await
        .unwrap_err();
    assert!(
        err.is_conflict() && err.to_string().contains("suspended"),
        "{err}"
    );
    let claim = w
        .store
        .host_claim_opt("a.example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claim.verification, VerificationStatus::Pending, "unchanged");
    assert!(
        w.platform
            .admin()
            .reactivate_org(&w.who, "acme")
            .await
            .unwrap()
    );
    assert!(verified(&verify_dns(&w, "a.example.com").await[0]));
}

#[tokio::test]
async fn a_recreate_keeps_a_routed_service_routed_to_its_new_container() {
    let w = world().await;
    let svc = deploy(&w, "acme", "web").await;
    let d = add(&w, "web", NewDomain::new("a.example.com"))
        .await
        .unwrap();
    publish_txt(&w, &d);
    verify_dns(&w, "a.example.com").await;
    let (old, _) = container(&w, svc).await;
    w.platform
        .services()
        .recreate(&w.who, &ServiceRef::new("acme", "shop", "web"))
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
        .domains()
        .add(
            &viewer,
            &ServiceRef::new("acme", "shop", "web"),
            NewDomain::new("v.example.com"),
        )
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let err = w
        .platform
        .domains()
        .verify(
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
        .domains()
        .remove(
            &viewer,
            &ServiceRef::new("acme", "shop", "web"),
            "a.example.com",
            None,
        )
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    assert_eq!(
        w.platform
            .domains()
            .list(&viewer, &ServiceRef::new("acme", "shop", "web"))
            .await
            .unwrap()
            .len(),
        1
    );

    let err = w
        .platform
        .domains()
        .add(
            &stranger,
            &ServiceRef::new("acme", "shop", "web"),
            NewDomain::new("s.example.com"),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = w
        .platform
        .domains()
        .list(&stranger, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = w
        .platform
        .domains()
        .verify(
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
        .domains()
        .certificate_status(&stranger, "acme", "a.example.com")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    // Another tenant's domain is not found either.
    let err = w
        .platform
        .domains()
        .certificate_status(&w.who, "rival", "a.example.com")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    w.proxy
        .set_certificate("a.example.com", CertificateStatus::Pending);
    assert_eq!(
        w.platform
            .domains()
            .certificate_status(&viewer, "acme", "a.example.com")
            .await
            .unwrap(),
        CertificateStatus::Pending
    );
}
