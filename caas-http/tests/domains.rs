//! `GET|POST …/services/{service}/domains`, `DELETE …/domains/{domain}`,
//! `POST /v1/orgs/{org}/domains/{domain}/verify` and `GET …/domains/{domain}/certificate`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{SERVICES, assert_error, limits, world, world_with_domains};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn domains_are_added_listed_verified_and_removed() {
    let w = world().await;
    w.deploy_web().await;
    let domains = format!("{SERVICES}/web/domains");

    let (status, d) = w
        .call(
            Method::POST,
            &domains,
            Some(&w.member),
            Some(json!({"hostname": "Shop.Example.com", "path_prefix": "/api", "strip_prefix": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["hostname"], "shop.example.com");
    assert_eq!(d["path_prefix"], "/api");
    assert_eq!(d["verification"]["state"], "pending");
    assert_eq!(d["verification_token"].as_str().unwrap().len(), 32);

    let got = w
        .call(
            Method::POST,
            &domains,
            Some(&w.owner),
            Some(json!({"hostname": "shop.example.com", "path_prefix": "/api"})),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "CONFLICT");

    for bad in [
        "evil.com`) || Host(`x.com",
        "a b.example.com",
        "*.example.com",
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

    // No public address is configured on this platform: DNS verification is unsupported.
    let got = w
        .call(
            Method::POST,
            "/v1/orgs/acme/domains/shop.example.com/verify",
            Some(&w.member),
            Some(json!({"method": "dns"})),
        )
        .await;
    assert_eq!(got.0, StatusCode::NOT_IMPLEMENTED, "{}", got.1);
    let got = w
        .call(
            Method::POST,
            "/v1/orgs/acme/domains/shop.example.com/verify",
            Some(&w.member),
            Some(json!({"method": "carrier-pigeon"})),
        )
        .await;
    assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", got.1);
    let got = w
        .call(
            Method::POST,
            "/v1/orgs/acme/domains/shop.example.com/verify",
            Some(&w.viewer),
            Some(json!({"method": "dns"})),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");

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
