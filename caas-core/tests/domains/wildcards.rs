//! Wildcard domains (`*.example.com`): only where enabled, one organization per wildcard and
//! the hosts it covers, proved by the TXT record of their base, readiness checked on a name
//! below the wildcard, routing and certificates.

use super::*;
use caas_core::ServiceRef;
use caas_core::platform::CERTIFICATE_PROBE_LABEL;
use caas_core::validate::HostPattern;

fn wildcard_world() -> DomainConfig {
    DomainConfig::new()
        .public_address(PUBLIC)
        .cname_target(Hostname::parse("edge.caas.example").unwrap())
        .wildcards(true)
}

async fn add_host(w: &World, org: &str, host: &str) -> caas_core::Result<DomainView> {
    add_in(w, org, NewDomain::new(host)).await
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
        "*.bü`cher.de",
        "*.xn--a.de",
    ] {
        let err = add(&w, "web", NewDomain::new(bad)).await.unwrap_err();
        assert!(err.is_invalid_input(), "{bad:?}: {err}");
        assert_eq!(err.field(), Some("hostname"), "{bad:?}: {err}");
    }
    assert!(w.store.list_domains(svc).await.unwrap().is_empty());
    let d = add(&w, "web", NewDomain::new("*.Example.COM"))
        .await
        .unwrap();
    assert_eq!(d.domain.hostname.as_str(), "*.example.com");
    assert!(d.domain.hostname.is_wildcard());
    let d = add(&w, "web", NewDomain::new("*.Bücher.example"))
        .await
        .unwrap();
    assert_eq!(d.domain.hostname.as_str(), "*.xn--bcher-kva.example");
}

#[tokio::test]
async fn a_wildcard_and_the_hosts_it_covers_belong_to_one_organization() {
    let w = world_with(wildcard_world()).await;
    deploy(&w, "acme", "web").await;
    deploy(&w, "rival", "web").await;

    // Another tenant's exact host blocks a wildcard over it...
    add_host(&w, "rival", "shop.tenants.example").await.unwrap();
    let err = add_host(&w, "acme", "*.tenants.example").await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("shop.tenants.example"), "{err}");
    assert!(
        !err.to_string().contains("rival"),
        "no hint of the other tenant: {err}"
    );

    // ...and a wildcard blocks another tenant's hosts below it, on any path.
    add_host(&w, "acme", "*.acme.example").await.unwrap();
    for host in ["shop.acme.example", "api.acme.example"] {
        let err = add_host(&w, "rival", host).await.unwrap_err();
        assert!(err.is_conflict(), "{host}: {err}");
        assert!(err.to_string().contains("*.acme.example"), "{err}");
    }
    let err = w
        .platform
        .domains()
        .add(
            &w.who,
            &ServiceRef::new("rival", "shop", "web"),
            NewDomain::new("blog.acme.example").path_prefix("/x"),
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    // The same wildcard is one organization's, with every path.
    let err = add_in(
        &w,
        "rival",
        NewDomain::new("*.acme.example").path_prefix("/y"),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("belongs to another organization"),
        "{err}"
    );

    // Not covered: the apex, deeper names, siblings of the base.
    for host in ["acme.example", "a.b.acme.example", "xacme.example"] {
        add_host(&w, "rival", host).await.unwrap();
    }
    // The wildcard's own organization adds exact hosts below it (they win over the wildcard).
    add_host(&w, "acme", "www.acme.example").await.unwrap();
}

#[tokio::test]
async fn a_wildcard_is_proved_by_the_txt_record_of_its_base_and_routed_as_a_wildcard() {
    let w = world_with(wildcard_world()).await;
    let svc = deploy(&w, "acme", "web").await;
    let (id, ip) = container(&w, svc).await;
    let d = add(&w, "web", NewDomain::new("*.apps.example.com"))
        .await
        .unwrap();
    let proof = d.ownership.clone().unwrap();
    assert_eq!(proof.txt_name, "_caas-challenge.apps.example.com");
    assert_eq!(proof.http_url, None, "wildcards are proved by TXT only");

    // A wildcard record pointing at the platform makes it ready, and proves nothing.
    w.dns.set_ips("*.apps.example.com", [PUBLIC]);
    let out = verify_dns(&w, "*.apps.example.com").await;
    assert!(
        matches!(out[0].verification, VerificationStatus::Failed { .. }),
        "{out:?}"
    );
    let ready = out[0].readiness.clone().unwrap();
    assert!(ready.points_at_platform, "{ready:?}");
    assert!(
        ready.detail.contains("caas-verify-"),
        "checked below the wildcard: {ready:?}"
    );
    assert!(
        w.proxy
            .routes_opt(&svc.to_string())
            .await
            .unwrap()
            .is_none()
    );

    // The TXT record of its base does.
    publish_txt(&w, &d);
    let out = verify_dns(&w, "*.APPS.example.com").await;
    assert!(verified(&out[0]), "{out:?}");
    assert_eq!(out[0].domain.id, d.domain.id);
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
            .domains()
            .certificate_status(&w.who, "acme", "*.apps.example.com")
            .await
            .unwrap(),
        CertificateStatus::Pending
    );

    w.platform
        .domains()
        .remove(
            &w.who,
            &ServiceRef::new("acme", "shop", "web"),
            "*.apps.example.com",
            None,
        )
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
async fn the_verifier_proves_a_wildcard_once_its_txt_record_is_published() {
    let w = world_with(wildcard_world()).await;
    deploy(&w, "acme", "web").await;
    let d = add(&w, "web", NewDomain::new("*.cn.example.com"))
        .await
        .unwrap();
    w.dns.set_cname("*.cn.example.com", ["edge.caas.example."]);
    assert_eq!(w.platform.domains().reverify().await.unwrap(), 0);
    let view = &w
        .platform
        .domains()
        .list(&w.who, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap()[0];
    assert!(
        view.readiness.as_ref().unwrap().points_at_platform,
        "{view:?}"
    );
    assert!(!verified(view));
    publish_txt(&w, &d);
    assert_eq!(w.platform.domains().reverify().await.unwrap(), 1);
    let view = &w
        .platform
        .domains()
        .list(&w.who, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap()[0];
    assert!(verified(view), "{view:?}");
}
