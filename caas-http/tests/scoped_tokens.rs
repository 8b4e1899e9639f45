//! Scoped API tokens and disabled users over HTTP, as an attacker would try them: a narrow
//! token minting a wider or longer-lived one, a read-only token deploying, a token restricted
//! to one organization reaching another its user belongs to, a disabled user's tokens (and
//! open streams), and an administrator disabling themselves.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use caas_core::ProjectRef;
use caas_core::model::Role;
use caas_core::platform::{StreamLimits, TokenLifetime};
use caas_http::HttpLimits;
use common::{
    SERVICES, World, assert_error, assert_invalid, secret, web_app, world,
    world_with_token_lifetime,
};
use futures::StreamExt;
use http::{Method, StatusCode};
use serde_json::{Value, json};

const DAY: Duration = Duration::from_secs(86_400);

/// A token minted with `token`, of `scope` (and `extra` fields).
async fn mint(w: &World, token: &str, scope: Value, extra: Value) -> (StatusCode, Value) {
    let mut body = json!({"name": "scoped", "scope": scope});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    w.post("/v1/tokens", token, body).await
}

fn assert_denied_by_scope(got: &(StatusCode, Value)) {
    assert_error(got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    assert!(
        got.1["message"].as_str().unwrap().contains("scope"),
        "{}",
        got.1
    );
}

#[tokio::test]
async fn a_read_only_token_reads_what_its_owner_reads_and_deploys_nothing() {
    let w = world().await;
    w.deploy_web().await;
    let ro = secret(&mint(&w, &w.owner, json!({"read_only": true}), json!({})).await);
    let (status, services) = w.get(SERVICES, &ro).await;
    assert_eq!(status, StatusCode::OK, "{services}");
    assert_eq!(services.as_array().unwrap().len(), 1);

    let got = w.post(SERVICES, &ro, web_app("api")).await;
    assert_denied_by_scope(&got);
    assert!(got.1["message"].as_str().unwrap().contains("read-only"));
    assert_denied_by_scope(
        &w.call(
            Method::POST,
            &format!("{SERVICES}/web/stop"),
            Some(&ro),
            None,
        )
        .await,
    );
    assert_denied_by_scope(&w.delete(&format!("{SERVICES}/web"), &ro).await);
    assert_eq!(
        w.get(SERVICES, &w.owner).await.1,
        services,
        "nothing changed"
    );
    // Nor does it mint tokens (not even read-only ones), revoke them, or leave.
    assert_denied_by_scope(&mint(&w, &ro, json!({"read_only": true}), json!({})).await);
    let (_, listed) = w.get("/v1/tokens", &ro).await;
    for t in listed.as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        assert_denied_by_scope(&w.delete(&format!("/v1/tokens/{id}"), &ro).await);
    }
    assert_denied_by_scope(
        &w.delete("/v1/orgs/acme/members/owner@acme.example", &ro)
            .await,
    );
    // The token says what it is.
    let mine = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "scoped")
        .unwrap();
    assert_eq!(mine["scope"], json!({"read_only": true, "orgs": null}));
}

#[tokio::test]
async fn a_token_restricted_to_one_organization_finds_its_users_other_organizations_missing() {
    let w = world().await;
    let full = w.token_with_role("dual@acme.example", Role::Member).await;
    let (status, body) = w
        .post(
            "/v1/orgs/globex/members",
            &w.stranger,
            json!({"user": "dual@acme.example", "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let only_acme = secret(&mint(&w, &full, json!({"orgs": [{"org": "acme"}]}), json!({})).await);

    assert_eq!(w.get("/v1/orgs/globex", &full).await.0, StatusCode::OK);
    let got = w.get("/v1/orgs/globex", &only_acme).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(got.1["details"]["kind"], "organization", "{}", got.1);
    let got = w.get("/v1/orgs/globex/members", &only_acme).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = w
        .post(
            "/v1/orgs/globex/projects",
            &only_acme,
            json!({"name": "sneaky"}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (_, orgs) = w.get("/v1/orgs", &only_acme).await;
    let slugs: Vec<&str> = orgs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme"]);
    let (_, me) = w.get("/v1/me", &only_acme).await;
    assert_eq!(me["memberships"].as_array().unwrap().len(), 1, "{me}");
    assert_denied_by_scope(
        &w.post("/v1/orgs", &only_acme, json!({"slug": "initech"}))
            .await,
    );
    // Restricted to a project, the organization's other projects do not exist.
    let (status, body) = w
        .post("/v1/orgs/acme/projects", &w.owner, json!({"name": "side"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let only_shop = secret(
        &mint(
            &w,
            &full,
            json!({"orgs": [{"org": "acme", "projects": ["shop"]}]}),
            json!({}),
        )
        .await,
    );
    assert_eq!(
        w.get("/v1/orgs/acme/projects/shop", &only_shop).await.0,
        StatusCode::OK
    );
    assert_error(
        &w.get("/v1/orgs/acme/projects/side", &only_shop).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let (_, projects) = w.get("/v1/orgs/acme/projects", &only_shop).await;
    assert_eq!(projects.as_array().unwrap().len(), 1, "{projects}");
}

#[tokio::test]
async fn a_narrow_token_mints_nothing_wider_or_longer_lived_than_itself() {
    let w = world_with_token_lifetime(TokenLifetime::new(Some(DAY * 30), Some(DAY * 90))).await;
    // The platform's maximum.
    let got = w
        .post(
            "/v1/tokens",
            &w.owner,
            json!({"name": "forever", "expires_in_days": 91}),
        )
        .await;
    assert_invalid(&got, "expires_in_days");
    assert!(
        got.1["message"].as_str().unwrap().contains("90 days"),
        "{}",
        got.1
    );
    let got = w
        .post("/v1/tokens", &w.owner, json!({"name": "default"}))
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    assert!(got.1["expires_at"].is_string(), "the default applies");

    let acme = json!({"orgs": [{"org": "acme"}]});
    let narrow = mint(&w, &w.owner, acme.clone(), json!({"expires_in_days": 10})).await;
    let narrow_expiry = narrow.1["expires_at"].clone();
    let narrow = secret(&narrow);
    // Wider: every organization, another organization, the whole of a restricted one.
    assert_denied_by_scope(&w.post("/v1/tokens", &narrow, json!({"name": "all"})).await);
    assert_error(
        &mint(&w, &narrow, json!({"orgs": [{"org": "globex"}]}), json!({})).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let shop = secret(
        &mint(
            &w,
            &narrow,
            json!({"orgs": [{"org": "acme", "projects": ["shop"]}]}),
            json!({}),
        )
        .await,
    );
    assert_denied_by_scope(&mint(&w, &shop, acme.clone(), json!({})).await);
    // Longer-lived: asked, refused; unasked, it ends with its creator.
    assert_invalid(
        &mint(&w, &narrow, acme.clone(), json!({"expires_in_days": 20})).await,
        "expires_in_days",
    );
    let same = mint(&w, &narrow, acme.clone(), json!({})).await;
    assert_eq!(same.0, StatusCode::CREATED, "{}", same.1);
    assert_eq!(same.1["expires_at"], narrow_expiry, "{}", same.1);
    // Narrower in every way is fine.
    let ro = mint(
        &w,
        &narrow,
        json!({"read_only": true, "orgs": [{"org": "acme", "projects": ["shop"]}]}),
        json!({"expires_in_days": 1}),
    )
    .await;
    assert_eq!(ro.0, StatusCode::CREATED, "{}", ro.1);
    // A read-only token mints nothing at all.
    assert_denied_by_scope(
        &mint(
            &w,
            &secret(&ro),
            json!({"read_only": true, "orgs": [{"org": "acme", "projects": ["shop"]}]}),
            json!({}),
        )
        .await,
    );
    // Nor can a restricted administrator's token hand tokens to others.
    let admin_acme = secret(&mint(&w, &w.admin, acme.clone(), json!({})).await);
    assert_error(
        &w.post(
            "/v1/admin/users/owner@acme.example/tokens",
            &admin_acme,
            json!({"name": "x"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
    );
}

#[tokio::test]
async fn a_disabled_users_tokens_are_refused_until_they_are_enabled_again() {
    let w = world().await;
    let second = secret(&w.post("/v1/tokens", &w.member, json!({"name": "ci"})).await);
    assert_eq!(w.get("/v1/me", &w.member).await.0, StatusCode::OK);
    let got = w
        .call(
            Method::POST,
            "/v1/admin/users/member@acme.example/disable",
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["disabled"], true);
    for token in [&w.member, &second] {
        assert_error(
            &w.get("/v1/me", token).await,
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
        );
    }
    // The membership stays, for the record.
    let (_, members) = w.get("/v1/orgs/acme/members", &w.owner).await;
    assert!(
        members.to_string().contains("member@acme.example"),
        "{members}"
    );
    let got = w
        .call(
            Method::POST,
            "/v1/admin/users/member@acme.example/enable",
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["disabled"], false);
    for token in [&w.member, &second] {
        assert_eq!(w.get("/v1/orgs/acme", token).await.0, StatusCode::OK);
    }
    // Audited.
    let (_, audit) = w.get("/v1/admin/audit?action=user.", &w.admin).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.get(..2), Some(&["user.enable", "user.disable"][..]));
}

#[tokio::test]
async fn nobody_disables_themselves_and_only_administrators_disable_anyone() {
    let w = world().await;
    let got = w
        .call(
            Method::POST,
            "/v1/admin/users/root@example.com/disable",
            Some(&w.admin),
            None,
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(w.get("/v1/me", &w.admin).await.0, StatusCode::OK);
    for token in [&w.owner, &w.member] {
        assert_error(
            &w.call(
                Method::POST,
                "/v1/admin/users/viewer@acme.example/disable",
                Some(token),
                None,
            )
            .await,
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
        );
    }
    let ro = secret(&mint(&w, &w.admin, json!({"read_only": true}), json!({})).await);
    assert_denied_by_scope(
        &w.call(
            Method::POST,
            "/v1/admin/users/viewer@acme.example/disable",
            Some(&ro),
            None,
        )
        .await,
    );
    assert_eq!(w.get("/v1/me", &w.viewer).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disabled_users_open_stream_ends() {
    let w = common::world_with_limits(
        HttpLimits::new().stream_recheck(Duration::from_millis(100)),
        StreamLimits::new().recheck(Duration::from_millis(100)),
    )
    .await;
    let owner = w
        .platform
        .tokens()
        .authenticate(&w.owner)
        .await
        .unwrap()
        .unwrap();
    let body = web_app("web");
    let spec: caas_core::model::ServiceSpec = serde_json::from_value(body["spec"].clone()).unwrap();
    w.platform
        .services()
        .deploy_app(
            &owner,
            &ProjectRef::new("acme", "shop"),
            caas_core::platform::DeployApp::new("web", spec),
        )
        .await
        .unwrap();
    let req = http::Request::get(format!("{SERVICES}/web/logs?follow=true"))
        .header("authorization", format!("Bearer {}", w.viewer))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(w.app.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let got = w
        .call(
            Method::POST,
            "/v1/admin/users/viewer@acme.example/disable",
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    let mut frames = res.into_body().into_data_stream();
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(frame) = frames.next().await {
            if frame.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream did not end");
}
