//! `/v1/admin/...`: the runtime configuration and the plans, as a platform administrator.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use caas_core::Platform;
use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use common::{assert_error, assert_invalid, memory_config, world};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn the_runtime_configuration_is_read_tested_detected_and_replaced() {
    let w = world().await;
    let (status, config) = w.get("/v1/admin/runtime", &w.admin).await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(
        config,
        json!({"backend": "memory", "settings": {"name": "initial"}})
    );

    // Testing without a body tests the configuration in use.
    let (status, report) = w
        .call(Method::POST, "/v1/admin/runtime/test", Some(&w.admin), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["target"], "initial");
    assert_eq!(report["reachable"], true);
    // So does an empty body, even one announced as JSON.
    let req = http::Request::post("/v1/admin/runtime/test")
        .header("authorization", format!("Bearer {}", w.admin))
        .header("content-type", "application/json")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(w.app.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // With a body, that configuration — without switching to it.
    let (status, report) = w
        .post(
            "/v1/admin/runtime/test",
            &w.admin,
            serde_json::to_value(memory_config("candidate")).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["target"], "candidate");
    let (_, config) = w.get("/v1/admin/runtime", &w.admin).await;
    assert_eq!(config["settings"]["name"], "initial");

    let (status, detection) = w.get("/v1/admin/runtime/detect", &w.admin).await;
    assert_eq!(status, StatusCode::OK, "{detection}");
    assert_eq!(detection["chosen"]["settings"]["name"], "detected");

    let (status, report) = w
        .call(
            Method::PUT,
            "/v1/admin/runtime",
            Some(&w.admin),
            Some(serde_json::to_value(memory_config("replaced")).unwrap()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["reachable"], true);
    let (_, config) = w.get("/v1/admin/runtime", &w.admin).await;
    assert_eq!(config["settings"]["name"], "replaced");
}

#[tokio::test]
async fn bad_runtime_configurations_are_422_naming_the_field() {
    let w = world().await;
    let got = w
        .call(
            Method::PUT,
            "/v1/admin/runtime",
            Some(&w.admin),
            Some(json!({"backend": "memory", "settings": {"name": 5}})),
        )
        .await;
    assert_invalid(&got, "settings.name");
    let got = w
        .call(
            Method::PUT,
            "/v1/admin/runtime",
            Some(&w.admin),
            Some(json!({"backend": "docker", "settings": {"name": "x"}})),
        )
        .await;
    assert_invalid(&got, "backend");
    let got = w
        .post(
            "/v1/admin/runtime/test",
            &w.admin,
            json!({"backend": "memory", "setings": {}}),
        )
        .await;
    assert_invalid(&got, "setings");
    let (_, config) = w.get("/v1/admin/runtime", &w.admin).await;
    assert_eq!(config["settings"]["name"], "initial", "unchanged");
}

#[tokio::test]
async fn a_platform_without_a_runtime_connector_answers_501() {
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(Arc::new(InMemoryRuntime::new()))
        .build()
        .unwrap();
    let admin = platform
        .users()
        .ensure_platform_admin("root@example.com")
        .await
        .unwrap();
    let token = platform
        .tokens()
        .ensure_bootstrap(&admin)
        .await
        .unwrap()
        .unwrap();
    let app = caas_http::router(platform, Arc::new(caas_http::BearerTokenAuthenticator));
    let req = http::Request::get("/v1/admin/runtime")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(app, req).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_IMPLEMENTED);
}

#[tokio::test]
async fn plans_are_created_read_listed_updated_and_deleted() {
    let w = world().await;
    let limits = json!({"cpu_millis": 8000, "memory_bytes": 8_589_934_592u64, "storage_bytes": 0, "max_containers": 20, "max_projects": 5});
    let (status, plan) = w
        .post(
            "/v1/admin/plans",
            &w.admin,
            json!({"name": "pro", "display_name": "Pro", "limits": limits, "monthly_price_cents": 4900, "currency": "EUR"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    assert_eq!(plan["name"], "pro");
    assert_eq!(plan["display_name"], "Pro");
    // A plan that names no domain limit gets the default one.
    let mut with_default = limits.clone();
    with_default["max_domains"] = json!(50);
    with_default["max_pids"] = json!(1024);
    with_default["backup_storage_bytes"] = json!(50u64 << 30);
    assert_eq!(plan["limits"], with_default);
    assert_eq!(plan["currency"], "EUR");
    assert!(plan["id"].is_string());

    let (status, got) = w.get("/v1/admin/plans/pro", &w.owner).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, plan);
    let (status, all) = w.get("/v1/admin/plans", &w.owner).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pro", "starter"]);

    let (status, updated) = w
        .call(
            Method::PATCH,
            "/v1/admin/plans/pro",
            Some(&w.admin),
            Some(json!({"monthly_price_cents": 3900, "limits": {"cpu_millis": 1, "memory_bytes": 2, "storage_bytes": 3, "max_containers": 4, "max_projects": 5, "max_domains": 6}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["monthly_price_cents"], 3900);
    assert_eq!(updated["limits"]["max_containers"], 4);
    assert_eq!(updated["limits"]["max_domains"], 6);
    assert_eq!(updated["display_name"], "Pro", "kept");

    let (status, body) = w
        .call(Method::DELETE, "/v1/admin/plans/pro", Some(&w.admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, serde_json::Value::Null);
    let got = w.get("/v1/admin/plans/pro", &w.admin).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn plan_conflicts_are_409() {
    let w = world().await;
    let got = w
        .post(
            "/v1/admin/plans",
            &w.admin,
            json!({"name": "starter", "limits": {"cpu_millis": 1, "memory_bytes": 1, "storage_bytes": 1, "max_containers": 1, "max_projects": 1}}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "ALREADY_EXISTS");
    let got = w
        .call(
            Method::DELETE,
            "/v1/admin/plans/starter",
            Some(&w.admin),
            None,
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "CONFLICT");
    assert!(got.1["message"].as_str().unwrap().contains("subscription"));
}

#[tokio::test]
async fn bad_plans_are_422_naming_the_field() {
    let w = world().await;
    let limits = json!({"cpu_millis": 1, "memory_bytes": 1, "storage_bytes": 1, "max_containers": 1, "max_projects": 1});
    let cases = [
        (json!({"name": "Bad Name", "limits": limits}), "name"),
        (
            json!({"name": "gold", "limits": limits, "currency": "euro"}),
            "currency",
        ),
        (
            json!({"name": "gold", "limits": limits, "colour": "gold"}),
            "colour",
        ),
        (json!({"name": "gold"}), "limits"),
        (
            json!({"name": "gold", "limits": {"cpu_millis": -1, "memory_bytes": 1, "storage_bytes": 1, "max_containers": 1, "max_projects": 1}}),
            "limits.cpu_millis",
        ),
        (
            json!({"name": "gold", "limits": {"cpu_milis": 1, "cpu_millis": 1, "memory_bytes": 1, "storage_bytes": 1, "max_containers": 1, "max_projects": 1}}),
            "limits.cpu_milis",
        ),
    ];
    for (body, field) in cases {
        let got = w.post("/v1/admin/plans", &w.admin, body).await;
        assert_invalid(&got, field);
    }
    let got = w
        .call(
            Method::PATCH,
            "/v1/admin/plans/starter",
            Some(&w.admin),
            Some(json!({"price": 5})),
        )
        .await;
    assert_invalid(&got, "price");
    let got = w
        .call(
            Method::PATCH,
            "/v1/admin/plans/starter",
            Some(&w.admin),
            Some(json!({"currency": "usd"})),
        )
        .await;
    assert_invalid(&got, "currency");
    let (_, all) = w.get("/v1/admin/plans", &w.admin).await;
    assert_eq!(all.as_array().unwrap().len(), 1, "nothing was created");
}

#[tokio::test]
async fn malformed_bodies_are_refused_with_json_errors() {
    let w = world().await;
    let send = |content_type: Option<&'static str>, body: &'static str| {
        let app = w.app.clone();
        let token = w.admin.clone();
        async move {
            let mut req = http::Request::post("/v1/admin/plans")
                .header("authorization", format!("Bearer {token}"));
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let res =
                tower::ServiceExt::oneshot(app, req.body(axum::body::Body::from(body)).unwrap())
                    .await
                    .unwrap();
            let status = res.status();
            let bytes = http_body_util::BodyExt::collect(res.into_body())
                .await
                .unwrap()
                .to_bytes();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
            )
        }
    };
    let got = send(Some("application/json"), "{\"name\": ").await;
    assert_invalid(&got, "body");
    let got = send(Some("application/json"), "[1, 2]").await;
    assert_invalid(&got, "body");
    let got = send(Some("text/plain"), "{}").await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    let got = send(None, "{}").await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    let big: &'static str = Box::leak(
        format!(
            "{{\"name\": \"{}\"}}",
            "x".repeat(caas_http::MAX_BODY_BYTES)
        )
        .into_boxed_str(),
    );
    let got = send(Some("application/json"), big).await;
    assert_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
}
