//! Wildcard domains (`*.example.com`): only where enabled, one organization per wildcard and
//! the hosts it covers, verification on a name below the wildcard, routing and certificates.

use super::*;
use caas_core::platform::CERTIFICATE_PROBE_LABEL;
use caas_core::validate::HostPattern;

fn wildcard_world() -> DomainConfig {
    DomainConfig::new()
        .public_address(PUBLIC)
        .cname_target(Hostname::parse("edge.caas.example").unwrap())
        .wildcards(true)
}

async fn add_in(w: &World, org: &str, host: &str) -> caas_core::Result<caas_core::model::Domain> {
    w.platform
        .add_domain(&w.who, org, "shop", "web", NewDomain::new(host))
        .await
}

#[tokio::test]
async fn wildcards_are_refused_unless_enabled() {
    let w = world().await;
    let svc = deploy(&w, "acme", "web").await;
    let err = add(&w, "web", NewDomain::new("*.example.com"))
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("hostname"), "{err}");
    assert!(err.to_string().contains("not enabled"), "{err}");
    assert!(w.store.list_domains(svc).await.unwrap().is_empty());
}

#[tokio::test]
async fn enabled_wildcards_still_refuse_malformed_patterns() {
    let w = world_with(wildcard_world()).await;
    let svc = deploy(&w, "acme", "web").await;
    for bad in [
        "*.com",
        "*",
        "*.*.example.com",
        "a*.example.com",
        "*example.com",
        "*.exa`mple.com",
        "*.example.com`) || HostRegexp(`.*",
        "*.bücher.de",
    ] {
        let err = add(&w, "web", NewDomain::new(bad)).await.unwrap_err();
        assert!(err.is_invalid_input(), "{bad:?}: {err}");
        assert_eq!(err.field(), Some("hostname"), "{bad:?}: {err}");
    }
    assert!(w.store.list_domains(svc).await.unwrap().is_empty());
    let d = add(&w, "web", NewDomain::new("*.Example.COM"))
        .await
        .unwrap();
    assert_eq!(d.hostname.as_str(), "*.example.com");
    assert!(d.hostname.is_wildcard());
}

#[tokio::test]
async fn a_wildcard_and_the_hosts_it_covers_belong_to_one_organization() {
    let w = world_with(wildcard_world()).await;
    deploy(&w, "acme", "web").await;
    deploy(&w, "other", "web").await;

    // Another tenant's exact host blocks a wildcard over it...
    add_in(&w, "other", "shop.tenants.example").await.unwrap();
    let err = add_in(&w, "acme", "*.tenants.example").await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("shop.tenants.example"), "{err}");
    assert!(
        !err.to_string().contains("other"),
        "no hint of the other tenant: {err}"
    );

    // ...and a wildcard blocks another tenant's hosts below it, on any path.
    add_in(&w, "acme", "*.acme.example").await.unwrap();
    for host in ["shop.acme.example", "api.acme.example"] {
        let err = add_in(&w, "other", host).await.unwrap_err();
        assert!(err.is_conflict(), "{host}: {err}");
        assert!(err.to_string().contains("*.acme.example"), "{err}");
    }
    let err = w
        .platform
        .add_domain(
            &w.who,
            "other",
            "shop",
            "web",
            NewDomain::new("blog.acme.example").path_prefix("/x"),
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    // The same wildcard twice is one owner per host and path.
    let err = add_in(&w, "other", "*.acme.example").await.unwrap_err();
    assert!(err.to_string().contains("already in use"), "{err}");

    // Not covered: the apex, deeper names, siblings of the base.
    for host in ["acme.example", "a.b.acme.example", "xacme.example"] {
        add_in(&w, "other", host).await.unwrap();
    }
    // The wildcard's own organization adds exact hosts below it (they win over the wildcard).
    add_in(&w, "acme", "www.acme.example").await.unwrap();
}

#[tokio::test]
async fn a_wildcard_is_verified_on_a_name_below_it_and_routed_as_a_wildcard() {
    let w = world_with(wildcard_world()).await;
    let svc = deploy(&w, "acme", "web").await;
    let (id, ip) = container(&w, svc).await;
    let d = add(&w, "web", NewDomain::new("*.apps.example.com"))
        .await
        .unwrap();

    // A record for the base alone proves nothing about names below it.
    w.dns.set_ips("apps.example.com", [PUBLIC]);
    let out = verify_dns(&w, "*.apps.example.com").await;
    let VerificationStatus::Failed { reason } = &out[0].verification else {
        panic!("{out:?}")
    };
    assert!(
        reason.contains("*.apps.example.com (checked as caas-verify-"),
        "{reason}"
    );
    assert!(
        w.proxy
            .routes_opt(&svc.to_string())
            .await
            .unwrap()
            .is_none()
    );

    // A wildcard record pointing at the platform does.
    w.dns.set_ips("*.apps.example.com", [PUBLIC]);
    let out = verify_dns(&w, "*.APPS.example.com").await;
    assert!(
        matches!(out[0].verification, VerificationStatus::Verified { .. }),
        "{out:?}"
    );
    assert_eq!(out[0].id, d.id);
    let routes = w.proxy.routes_opt(&svc.to_string()).await.unwrap().unwrap();
    assert_eq!(
        routes.rules,
        vec![RouteRule {
            host: HostPattern::parse_field("hostname", "*.apps.example.com", true).unwrap(),
            path_prefix: "/".into(),
            strip_prefix: false,
            tls: false,
        }]
    );
    assert_eq!(routes.upstreams, vec![format!("http://{ip}:8080")]);
    assert_eq!(container(&w, svc).await.0, id, "no recreate");

    // The certificate is the one served for a name below the wildcard.
    let probe = format!("{CERTIFICATE_PROBE_LABEL}.apps.example.com");
    w.proxy.set_certificate(&probe, CertificateStatus::Pending);
    assert_eq!(
        w.platform
            .certificate_status(&w.who, "acme", "*.apps.example.com")
            .await
            .unwrap(),
        CertificateStatus::Pending
    );

    w.platform
        .remove_domain(&w.who, "acme", "shop", "web", "*.apps.example.com", None)
        .await
        .unwrap();
    assert!(
        w.proxy
            .routes_opt(&svc.to_string())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_wildcard_cname_to_the_platform_target_verifies_it() {
    let w = world_with(wildcard_world()).await;
    deploy(&w, "acme", "web").await;
    add(&w, "web", NewDomain::new("*.cn.example.com"))
        .await
        .unwrap();
    w.dns.set_cname("*.cn.example.com", ["edge.caas.example."]);
    w.platform.reverify_domains().await.unwrap();
    let d = &w
        .platform
        .list_domains(&w.who, "acme", "shop", "web")
        .await
        .unwrap()[0];
    assert!(
        matches!(d.verification, VerificationStatus::Verified { .. }),
        "{d:?}"
    );
}
