//! `PATCH …/services/{service}` (with `?dry_run=true`), `…/deployments` and `…/rollback`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{SERVICES, assert_error, assert_invalid, world};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_dry_run_previews_and_a_patch_applies_then_history_and_rollback() {
    let w = world().await;
    let service = w.deploy_web().await;
    let web = format!("{SERVICES}/web");
    let change = json!({"env_set": [{"key": "GREETING", "value": "bonjour"}], "resources": {"memory_bytes": 536870912}});

    let (status, preview) = w
        .call(
            Method::PATCH,
            &format!("{web}?dry_run=true"),
            Some(&w.member),
            Some(change.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["applied"], false);
    assert_eq!(preview["preview"]["mode"], "rolling");
    assert_eq!(preview["preview"]["quota_delta"]["memory_bytes"], 268435456);
    let fields: Vec<&str> = preview["preview"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["resources.memory_bytes", "env.GREETING"]);
    let before = w.container_of(service["id"].as_str().unwrap()).await;
    assert_eq!(
        w.container_of(service["id"].as_str().unwrap()).await,
        before,
        "nothing touched"
    );

    let (status, done) = w
        .call(Method::PATCH, &web, Some(&w.member), Some(change))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["applied"], true);
    assert_eq!(done["mode"], "rolling");
    assert_eq!(done["service"]["spec"]["env"][0]["value"], "bonjour");
    assert_eq!(
        done["service"]["spec"]["env"][1]["value"], "********",
        "secrets stay redacted"
    );
    assert_ne!(
        w.container_of(service["id"].as_str().unwrap()).await,
        before
    );

    let (status, history) = w.get(&format!("{web}/deployments"), &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["status"], "active");
    assert_eq!(history[1]["status"], "superseded");
    assert!(!history.iter().any(|d| d.to_string().contains("s3cr3t")));

    let (status, back) = w
        .call(
            Method::POST,
            &format!("{web}/rollback"),
            Some(&w.member),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["service"]["spec"]["env"][0]["value"], "hello");
}

#[tokio::test]
async fn limits_alone_change_live() {
    let w = world().await;
    let service = w.deploy_web().await;
    let before = w.container_of(service["id"].as_str().unwrap()).await;
    let (status, done) = w
        .call(
            Method::PATCH,
            &format!("{SERVICES}/web"),
            Some(&w.member),
            Some(json!({"resources": {"cpu_millis": 750, "memory_bytes": 268435456, "pids": 256}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["mode"], "live");
    assert_eq!(
        w.container_of(service["id"].as_str().unwrap()).await,
        before
    );
}

#[tokio::test]
async fn bad_updates_name_the_field_and_viewers_may_not_update() {
    let w = world().await;
    w.deploy_web().await;
    let web = format!("{SERVICES}/web");
    let got = w
        .call(
            Method::PATCH,
            &web,
            Some(&w.member),
            Some(json!({"env_unset": ["NOPE"]})),
        )
        .await;
    assert_invalid(&got, "env_unset.NOPE");
    let got = w
        .call(
            Method::PATCH,
            &web,
            Some(&w.member),
            Some(json!({"imgae": "x"})),
        )
        .await;
    assert_invalid(&got, "imgae");
    let got = w
        .call(
            Method::PATCH,
            &web,
            Some(&w.viewer),
            Some(json!({"env_unset": []})),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let got = w
        .call(Method::PATCH, &web, Some(&w.stranger), Some(json!({})))
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = w
        .call(
            Method::POST,
            &format!("{web}/rollback"),
            Some(&w.member),
            None,
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "CONFLICT");
}
