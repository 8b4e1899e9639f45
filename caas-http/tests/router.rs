//! The router over in-memory backends, through `oneshot`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use caas_core::memory::{Fault, InMemoryRuntime, InMemoryStore, RuntimeOp};
use caas_core::{Platform, Principal};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

#[derive(Debug)]
struct Nobody;

#[async_trait::async_trait]
impl caas_http::Authenticator for Nobody {
    async fn authenticate(
        &self,
        _: &http::request::Parts,
        _: &Platform,
    ) -> caas_core::Result<Option<Principal>> {
        Ok(None)
    }
}

fn app(runtime: InMemoryRuntime) -> axum::Router {
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(Arc::new(runtime))
        .build()
        .unwrap();
    caas_http::router(platform, Arc::new(Nobody))
}

async fn get(app: axum::Router, path: &str) -> (StatusCode, http::HeaderMap, serde_json::Value) {
    let res = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn health_reports_ok_with_a_request_id() {
    let (status, headers, body) = get(app(InMemoryRuntime::new()), "/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["runtime"]["available"], true);
    assert_eq!(body["engine"]["backend"], "memory");
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn health_reports_a_down_runtime_as_degraded() {
    let rt = InMemoryRuntime::new();
    rt.fail_always(RuntimeOp::Ping, Fault::Unavailable);
    let (status, _, body) = get(app(rt), "/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["runtime"]["available"], false);
    assert!(
        body["runtime"]["error"]
            .as_str()
            .unwrap()
            .contains("unavailable")
    );
}

#[tokio::test]
async fn openapi_document_parses_and_lists_health() {
    let (status, _, body) = get(app(InMemoryRuntime::new()), "/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let text = serde_json::to_string(&body).unwrap();
    let doc =
        oas3::from_json(text).unwrap_or_else(|e| panic!("invalid OpenAPI document: {e}\n{body:#}"));
    assert!(doc.openapi.starts_with("3.1"));
    let paths = doc.paths.unwrap_or_default();
    assert!(paths.contains_key("/v1/health"));
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let (status, _, _) = get(app(InMemoryRuntime::new()), "/v1/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
