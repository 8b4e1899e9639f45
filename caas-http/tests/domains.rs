//! `GET|POST …/services/{service}/domains`, `DELETE …/domains/{domain}`,
//! `POST /v1/orgs/{org}/domains/{domain}/verify`, `GET …/domains/{domain}/certificate` and
//! `GET /.well-known/caas-challenge/{token}`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{SERVICES, assert_error, limits, world_with_domains, world_with_verifiable_domains};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn domains_are_added_listed_verified_and_removed() {
    let w = world_with_verifiable_domains().await;
    w.deploy_web().await;
    let domains = format!("{SERVICES}/web/domains");

    let (status, d) = w
        .call(
            Method::POST,
            &domains,
            Some(&w.member),
            Some(json!({"hostname": "Shop.Example.com.", "path_prefix": "/api", "strip_prefix": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["hostname"], "shop.example.com");
    assert_eq!(d["path_prefix"], "/api");
    assert_eq!(d["verification"]["state"], "pending");
    assert_eq!(
        d["ownership"]["txt_name"],
        "_caas-challenge.shop.example.com"
    );
    let token = d["ownership"]["txt_value"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 32);
    assert!(d["ownership"]["expires_at"].is_string());

    let got = w
        .call(
            Method::POST,
            &domains,
            Some(&w.owner),
            Some(json!({"hostname": "shop.example.com", "path_prefix": "/api"})),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "ALREADY_EXISTS");

    for bad in [
        "evil.com`) || Host(`x.com",
        "a b.example.com",
        "*.example.com",
        "bü`cher.example.com",
    ] {
        let got = w
            .call(
                Method::POST,
                &domains,
                Some(&w.member),
                Some(json!({"hostname": bad})),
            )
            .await;
        assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", got.1);
        assert_eq!(got.1["details"]["field"], "hostname", "{}", got.1);
    }
    let got = w
        .call(
            Method::POST,
            &domains,
            Some(&w.viewer),
            Some(json!({"hostname": "v.example.com"})),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");

    let (status, list) = w.get(&domains, &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1);

    // The platform answers the claim's HTTP challenge for its hostname only.
    assert_eq!(
        challenge(&w, "shop.example.com", &token).await,
        (StatusCode::OK, token.clone())
    );
    assert_eq!(
        challenge(&w, "SHOP.example.com:80", &token).await.0,
        StatusCode::OK
    );
    assert_eq!(
        challenge(&w, "other.example.com", &token).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        challenge(&w, "shop.example.com", "nope").await.0,
        StatusCode::NOT_FOUND
    );

    // Without the TXT record the claim fails, saying what to add; with it, it is verified.
    let verify = |who: String, body: serde_json::Value| {
        let w = &w;
        async move {
            w.call(
                Method::POST,
                "/v1/orgs/acme/domains/shop.example.com/verify",
                Some(&who),
                Some(body),
            )
            .await
        }
    };
    let (status, out) = verify(w.member.clone(), json!({"method": "dns"})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out[0]["verification"]["state"], "failed", "{out}");
    assert!(
        out[0]["verification"]["reason"]
            .as_str()
            .unwrap()
            .contains("_caas-challenge.shop.example.com"),
        "{out}"
    );
    assert_eq!(out[0]["readiness"]["points_at_platform"], true, "{out}");
    // This platform answers no HTTP challenges through a proxy.
    let got = verify(w.member.clone(), json!({"method": "http"})).await;
    assert_eq!(got.0, StatusCode::NOT_IMPLEMENTED, "{}", got.1);
    let got = verify(w.member.clone(), json!({"method": "carrier-pigeon"})).await;
    assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", got.1);
    let got = verify(w.viewer.clone(), json!({"method": "dns"})).await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    w.dns
        .as_ref()
        .unwrap()
        .set_txt("_caas-challenge.shop.example.com", [token.clone()]);
    let (status, out) = verify(w.member.clone(), json!({"method": "dns"})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out[0]["verification"]["state"], "verified", "{out}");
    assert!(out[0]["ownership"].is_null(), "{out}");
    assert_eq!(
        challenge(&w, "shop.example.com", &token).await.0,
        StatusCode::NOT_FOUND,
        "a proven claim answers no challenge"
    );

    let (status, cert) = w
        .get(
            "/v1/orgs/acme/domains/shop.example.com/certificate",
            &w.viewer,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cert}");
    assert_eq!(cert["state"], "not_configured");
    let got = w
        .get(
            "/v1/orgs/acme/domains/shop.example.com/certificate",
            &w.stranger,
        )
        .await;
    assert_eq!(got.0, StatusCode::NOT_FOUND);
    let got = w
        .get(
            "/v1/orgs/acme/domains/nope.example.com/certificate",
            &w.owner,
        )
        .await;
    assert_eq!(got.0, StatusCode::NOT_FOUND);

    let got = w
        .call(
            Method::DELETE,
            &format!("{domains}/shop.example.com?path=/other"),
            Some(&w.member),
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::NOT_FOUND, "{}", got.1);
    let got = w
        .call(
            Method::DELETE,
            &format!("{domains}/shop.example.com?path=/api"),
            Some(&w.member),
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::NO_CONTENT, "{}", got.1);
    let (_, list) = w.get(&domains, &w.viewer).await;
    assert!(list.as_array().unwrap().is_empty());
}

/// `GET /.well-known/caas-challenge/{token}` as the proxy forwards it: no credentials, the
/// claimed hostname in `Host`.
async fn challenge(w: &common::World, host: &str, token: &str) -> (StatusCode, String) {
    let req = http::Request::get(format!("/.well-known/caas-challenge/{token}"))
        .header("host", host)
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(w.app.clone(), req)
        .await
        .unwrap();
    let status = res.status();
    if status == StatusCode::OK {
        assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    }
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn another_organization_cannot_route_a_path_on_a_hostname_it_does_not_own() {
    let w = world_with_verifiable_domains().await;
    w.deploy_web().await;
    let (status, mine) = w
        .call(
            Method::POST,
            &format!("{SERVICES}/web/domains"),
            Some(&w.owner),
            Some(json!({"hostname": "shop.example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    // globex's own service, and its attempts on acme's hostname under every spelling.
    let (status, project) = w
        .call(
            Method::POST,
            "/v1/orgs/globex/projects",
            Some(&w.stranger),
            Some(json!({"name": "lab"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    let (status, svc) = w
        .call(
            Method::POST,
            "/v1/orgs/globex/projects/lab/services",
            Some(&w.stranger),
            Some(common::web_app("api")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{svc}");
    let theirs = "/v1/orgs/globex/projects/lab/services/api/domains";
    for (host, path) in [
        ("shop.example.com", "/login"),
        ("shop.example.com", "/"),
        ("SHOP.EXAMPLE.COM.", "/account"),
        ("shop.example.com", "/login/"),
    ] {
        let got = w
            .call(
                Method::POST,
                theirs,
                Some(&w.stranger),
                Some(json!({"hostname": host, "path_prefix": path})),
            )
            .await;
        assert_error(&got, StatusCode::CONFLICT, "CONFLICT");
        let message = got.1["message"].as_str().unwrap();
        assert!(
            message.contains("belongs to another organization"),
            "{message}"
        );
        assert!(!message.contains("acme"), "names the owner: {message}");
    }
    let (_, list) = w.get(theirs, &w.stranger).await;
    assert!(list.as_array().unwrap().is_empty());
    // Nor can globex verify or read acme's hostname through its own organization.
    let got = w
        .call(
            Method::POST,
            "/v1/orgs/globex/domains/shop.example.com/verify",
            Some(&w.stranger),
            Some(json!({"method": "dns"})),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn the_plan_limits_domains_with_a_quota_answer() {
    let mut l = limits();
    l.max_domains = 1;
    let w = world_with_domains(l, caas_core::platform::DomainConfig::new()).await;
    w.deploy_web().await;
    let domains = format!("{SERVICES}/web/domains");
    let (status, _) = w
        .call(
            Method::POST,
            &domains,
            Some(&w.member),
            Some(json!({"hostname": "one.example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let got = w
        .call(
            Method::POST,
            &domains,
            Some(&w.member),
            Some(json!({"hostname": "two.example.com"})),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "QUOTA_EXCEEDED");
    assert_eq!(
        got.1["details"]["dimensions"][0]["dimension"], "domains",
        "{}",
        got.1
    );
}

#[tokio::test]
async fn wildcard_domains_work_through_every_domain_route() {
    let w = world_with_domains(
        limits(),
        caas_core::platform::DomainConfig::new().wildcards(true),
    )
    .await;
    w.deploy_web().await;
    let domains = format!("{SERVICES}/web/domains");
    let (status, d) = w
        .call(
            Method::POST,
            &domains,
            Some(&w.member),
            Some(json!({"hostname": "*.Apps.example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["hostname"], "*.apps.example.com");
    let got = w
        .call(
            Method::POST,
            &domains,
            Some(&w.member),
            Some(json!({"hostname": "*.com"})),
        )
        .await;
    assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", got.1);
    let (status, cert) = w
        .get(
            "/v1/orgs/acme/domains/*.apps.example.com/certificate",
            &w.viewer,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cert}");
    assert_eq!(cert["state"], "not_configured");
    let got = w
        .call(
            Method::DELETE,
            &format!("{domains}/*.apps.example.com"),
            Some(&w.member),
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::NO_CONTENT, "{}", got.1);
    let (_, list) = w.get(&domains, &w.viewer).await;
    assert!(list.as_array().unwrap().is_empty());
}
