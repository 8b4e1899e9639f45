//! Limits a caller cannot exceed: requests a second per user (429 with `Retry-After`),
//! requests in flight (503 at once), a request timeout whose work still finishes, and
//! streams — at most so many per user and organization, ended when their token is revoked
//! or their member removed, and exempt from the timeout.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use caas_core::ProjectRef;
use caas_core::memory::RuntimeOp;
use caas_core::model::Role;
use caas_core::platform::StreamLimits;
use caas_http::HttpLimits;
use common::{SERVICES, World, assert_error, world_with_limits};
use futures::StreamExt;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

const STATS: &str = "/v1/orgs/acme/projects/shop/services/web/stats/stream?interval_ms=1000";
const LOGS: &str = "/v1/orgs/acme/projects/shop/services/web/logs?follow=true";

/// Deploys `web` through the platform itself: the request limits under test do not apply.
async fn deploy_web(w: &World) {
    let owner = w
        .platform
        .tokens()
        .authenticate(&w.owner)
        .await
        .unwrap()
        .unwrap();
    let body = common::web_app("web");
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
}

/// Opens a stream; its status and, when it opened, its body.
async fn open(w: &World, path: &str, token: &str) -> (StatusCode, Option<Body>) {
    let req = Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = w.app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    if status.is_success() {
        (status, Some(res.into_body()))
    } else {
        (status, None)
    }
}

/// Reads `body` until it ends, or fails the test after `within`.
async fn ends_within(body: Body, within: Duration) {
    let mut frames = body.into_data_stream();
    let ended = tokio::time::timeout(within, async {
        while let Some(frame) = frames.next().await {
            if frame.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream did not end within {within:?}");
}

#[tokio::test]
async fn a_user_making_too_many_requests_a_second_gets_429_with_retry_after() {
    let w = world_with_limits(HttpLimits::new().per_user(1, 5), StreamLimits::new()).await;
    for i in 0..5 {
        let (status, body) = w.get("/v1/orgs/acme", &w.owner).await;
        assert_eq!(status, StatusCode::OK, "request {i}: {body}");
    }
    let (status, headers, body) = w
        .call_with(Method::GET, "/v1/orgs/acme", Some(&w.owner), &[], None)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "RATE_LIMITED");
    assert_eq!(body["retryable"], true);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(body["details"]["retry_after_secs"], 1);
    // Another user has a budget of their own; the limited one has one again after a second.
    let (status, _) = w.get("/v1/orgs/acme", &w.viewer).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = w.get("/v1/orgs/acme", &w.owner).await;
    assert_eq!(status, StatusCode::OK);
    // A flood of 200 requests at once: exactly the burst passes.
    let w = world_with_limits(HttpLimits::new().per_user(1, 20), StreamLimits::new()).await;
    let answers = futures::future::join_all(
        (0..200).map(|_| w.call(Method::GET, "/v1/orgs/acme/projects", Some(&w.member), None)),
    )
    .await;
    let ok = answers.iter().filter(|(s, _)| s.is_success()).count();
    let limited = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!((20..=21).contains(&ok), "{ok} passed");
    assert_eq!(ok + limited, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_request_is_answered_503_at_the_timeout_and_its_work_still_finishes() {
    let w = world_with_limits(
        HttpLimits::new().request_timeout(Duration::from_millis(300)),
        StreamLimits::new(),
    )
    .await;
    deploy_web(&w).await;
    w.runtime
        .set_latency(RuntimeOp::StopContainer, Duration::from_secs(2));
    let started = Instant::now();
    let (status, headers, body) = w
        .call_with(
            Method::POST,
            &format!("{SERVICES}/web/stop"),
            Some(&w.owner),
            &[],
            None,
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "UNAVAILABLE");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("goes on in the background"),
        "{body}"
    );
    assert_eq!(headers["retry-after"], "1");
    // The stop was not cut half-way: the service ends up stopped.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, svc) = w.get(&format!("{SERVICES}/web"), &w.owner).await;
        if svc["status"] == "stopped" {
            break;
        }
        assert!(Instant::now() < deadline, "never stopped: {svc}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn beyond_the_requests_in_flight_the_api_answers_503_at_once() {
    let w = world_with_limits(HttpLimits::new().max_in_flight(1), StreamLimits::new()).await;
    deploy_web(&w).await;
    w.runtime
        .set_latency(RuntimeOp::StopContainer, Duration::from_secs(1));
    let slow = {
        let app = w.app.clone();
        let token = w.owner.clone();
        tokio::spawn(async move {
            let req = Request::post(format!("{SERVICES}/web/stop"))
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            app.oneshot(req).await.unwrap().status()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let (status, headers, body) = w
        .call_with(Method::GET, "/v1/orgs/acme", Some(&w.viewer), &[], None)
        .await;
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(slow.await.unwrap(), StatusCode::OK);
    let (status, _) = w.get("/v1/orgs/acme", &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "the slot is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_are_capped_per_user_and_per_organization_and_outlive_the_timeout() {
    let w = world_with_limits(
        HttpLimits::new().request_timeout(Duration::from_millis(200)),
        StreamLimits::new().per_user(2).per_org(3),
    )
    .await;
    deploy_web(&w).await;
    let (s1, b1) = open(&w, STATS, &w.member).await;
    let (s2, _b2) = open(&w, LOGS, &w.member).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    let req = Request::get(STATS)
        .header("authorization", format!("Bearer {}", w.member))
        .body(Body::empty())
        .unwrap();
    let res = w.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("streams open"),
        "{body}"
    );
    // The organization's third stream is someone else's; its fourth is refused.
    let (s3, _b3) = open(&w, STATS, &w.viewer).await;
    assert_eq!(s3, StatusCode::OK);
    assert_eq!(
        open(&w, STATS, &w.owner).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A closed stream gives its place back; a stream lives past the request timeout.
    let mut b1 = b1.unwrap().into_data_stream();
    let first = tokio::time::timeout(Duration::from_secs(5), b1.next()).await;
    assert!(
        matches!(first, Ok(Some(Ok(_)))),
        "a stats event past the timeout: {first:?}"
    );
    drop(b1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(open(&w, STATS, &w.owner).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_ends_when_its_token_is_revoked_or_its_member_removed() {
    let limits = StreamLimits::new().recheck(Duration::from_millis(100));
    let w = world_with_limits(
        HttpLimits::new().stream_recheck(Duration::from_millis(100)),
        limits,
    )
    .await;
    deploy_web(&w).await;
    // Revoking the token ends its stream.
    let (status, token) = w
        .post(
            "/v1/tokens",
            &w.member,
            serde_json::json!({"name": "watch"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let secret = token["secret"].as_str().unwrap().to_string();
    let (status, body) = open(&w, STATS, &secret).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = w
        .delete(
            &format!("/v1/tokens/{}", token["id"].as_str().unwrap()),
            &w.member,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    ends_within(body.unwrap(), Duration::from_secs(3)).await;
    // Removing the member ends theirs.
    let extra = w
        .token_with_role("watcher@acme.example", Role::Viewer)
        .await;
    let (status, body) = open(&w, LOGS, &extra).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = w
        .delete("/v1/orgs/acme/members/watcher@acme.example", &w.owner)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    ends_within(body.unwrap(), Duration::from_secs(3)).await;
    // Nobody's places are left taken.
    let got = w.call(Method::GET, STATS, Some(&extra), None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
}
