//! `…/services/...`: deploy apps and databases, read, operate, stream logs, delete.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::body::Body;
use caas_core::ContainerRuntime;
use caas_core::memory::{Fault, RuntimeOp};
use caas_core::ports::runtime::{ContainerStatus, LabelSelector, LogStream};
use caas_core::units::MIB;
use common::{
    PlanLimits, SERVICES, assert_error, assert_invalid, limits, web_app, world, world_with,
};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

#[tokio::test]
async fn an_app_is_deployed_read_listed_and_deleted_with_secrets_redacted() {
    let w = world().await;
    let (status, service) = w.post(SERVICES, &w.member, web_app("web")).await;
    assert_eq!(status, StatusCode::CREATED, "{service}");
    assert_eq!(service["name"], "web");
    assert_eq!(service["status"], "running");
    assert_eq!(service["kind"], json!({"type": "app"}));
    assert_eq!(service["spec"]["env"][0]["value"], "hello");
    assert_eq!(service["spec"]["env"][1]["value"], "********");
    assert_eq!(service["spec"]["ports"][0]["container_port"], 8080);
    let container = w.container_of(service["id"].as_str().unwrap()).await;
    let info = w
        .runtime
        .inspect_container_opt(&container)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.status, ContainerStatus::Running);

    let (status, got) = w.get(&format!("{SERVICES}/web"), &w.viewer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["id"], service["id"]);
    assert_eq!(got["spec"]["env"][1]["value"], "********");
    let (_, all) = w.get(SERVICES, &w.viewer).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["spec"]["env"][1]["value"], "********");

    let (status, _) = w
        .call(
            Method::DELETE,
            &format!("{SERVICES}/web"),
            Some(&w.member),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &w.get(&format!("{SERVICES}/web"), &w.owner).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert!(
        w.runtime
            .list_containers(&LabelSelector::managed())
            .await
            .unwrap()
            .is_empty()
    );
    let (_, usage) = w.get("/v1/orgs/acme/usage", &w.owner).await;
    assert_eq!(usage["usage"]["committed"]["containers"], 0);
}

#[tokio::test]
async fn a_database_returns_its_credentials_once() {
    let w = world().await;
    w.runtime.add_image("postgres:16-alpine");
    let (status, created) = w
        .post(
            SERVICES,
            &w.owner,
            json!({"name": "db", "database": {"engine": "postgres", "image": "postgres:16-alpine", "volume_size_bytes": 64 * MIB}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["service"]["kind"],
        json!({"type": "database", "engine": "postgres"})
    );
    let password = created["credentials"]["password"].as_str().unwrap();
    assert!(password.len() >= 16);
    assert_eq!(created["credentials"]["host"], "db");
    assert!(
        created["credentials"]["connection_string"]
            .as_str()
            .unwrap()
            .starts_with("postgres://")
    );
    let (_, got) = w.get(&format!("{SERVICES}/db"), &w.owner).await;
    assert!(got.get("credentials").is_none());
    assert!(
        !got.to_string().contains(password),
        "the password is never returned again: {got}"
    );
}

#[tokio::test]
async fn bad_service_bodies_are_422_naming_the_field() {
    let w = world().await;
    let mut typo = web_app("web");
    typo["spec"]["comand"] = json!(["sh"]);
    let mut env_typo = web_app("web");
    env_typo["spec"]["env"][0]["secrte"] = json!(true);
    let mut bad_memory = web_app("web");
    bad_memory["spec"]["resources"] = json!({"memory_bytes": 1});
    let mut bad_port = web_app("web");
    bad_port["spec"]["ports"] = json!([{"container_port": "http"}]);
    let mut bad_label = web_app("web");
    bad_label["spec"]["labels"] = json!({"caas.managed": "false"});
    let cases = [
        (typo, "spec.comand"),
        (env_typo, "spec.env[0].secrte"),
        (bad_memory, "spec.resources.memory_bytes"),
        (bad_port, "spec.ports[0].container_port"),
        (bad_label, "spec.labels.caas.managed"),
        (
            json!({"name": "web", "spec": {"image": "Not An Image"}}),
            "spec.image",
        ),
        (
            json!({"name": "Web!", "spec": {"image": "caas/busybox"}}),
            "name",
        ),
        (json!({"name": "web", "image": "caas/busybox"}), "image"),
        (json!({"name": "web"}), "spec"),
        (
            json!({"name": "web", "spec": {"image": "caas/busybox"}, "database": {"engine": "redis"}}),
            "spec",
        ),
        (
            json!({"name": "db", "database": {"engine": "oracle"}}),
            "database.engine",
        ),
        (
            json!({"name": "db", "database": {"engine": "redis", "size": 1}}),
            "database.size",
        ),
        (
            json!({"name": "db", "database": {"engine": "redis", "volume_size_bytes": 1}}),
            "database.volume_size_bytes",
        ),
        (
            json!({"name": "db", "database": {"engine": "redis", "resources": {"memory_bytes": 1}}}),
            "database.resources.memory_bytes",
        ),
    ];
    for (body, field) in cases {
        let got = w.post(SERVICES, &w.owner, body.clone()).await;
        assert_invalid(&got, field);
    }
    let (_, all) = w.get(SERVICES, &w.owner).await;
    assert_eq!(all, json!([]), "nothing was deployed");
}

#[tokio::test]
async fn exceeding_the_plan_is_409_quota_exceeded_naming_each_dimension() {
    let w = world_with(PlanLimits {
        max_containers: 1,
        memory_bytes: 300 * MIB,
        ..limits()
    })
    .await;
    w.deploy_web().await;
    let got = w.post(SERVICES, &w.owner, web_app("api")).await;
    assert_error(&got, StatusCode::CONFLICT, "QUOTA_EXCEEDED");
    let dims: Vec<&str> = got.1["details"]["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dimension"].as_str().unwrap())
        .collect();
    assert_eq!(dims, ["memory_bytes", "containers"], "{}", got.1);
    let containers = &got.1["details"]["dimensions"][1];
    assert_eq!(containers["used"], 1);
    assert_eq!(containers["requested"], 1);
    assert_eq!(containers["limit"], 1);
    assert_eq!(got.1["details"]["plan"], "starter");
    let got = w.post(SERVICES, &w.owner, web_app("web")).await;
    assert_error(&got, StatusCode::CONFLICT, "ALREADY_EXISTS");
}

#[tokio::test]
async fn a_service_is_stopped_started_and_restarted_idempotently() {
    let w = world().await;
    let service = w.deploy_web().await;
    let container = w.container_of(service["id"].as_str().unwrap()).await;
    let op = |action: &'static str| {
        let path = format!("{SERVICES}/web/{action}");
        let token = w.member.clone();
        let w = &w;
        async move { w.call(Method::POST, &path, Some(&token), None).await }
    };
    let (status, out) = op("stop").await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["changed"], true);
    assert_eq!(out["service"]["status"], "stopped");
    assert_eq!(
        w.runtime
            .inspect_container_opt(&container)
            .await
            .unwrap()
            .unwrap()
            .status,
        ContainerStatus::Exited
    );
    let (_, out) = op("stop").await;
    assert_eq!(out["changed"], false);
    let (status, out) = op("start").await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["changed"], true);
    assert_eq!(out["service"]["status"], "running");
    let (_, out) = op("start").await;
    assert_eq!(out["changed"], false);
    let (status, out) = op("restart").await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["changed"], true);
    assert_eq!(
        w.runtime
            .inspect_container_opt(&container)
            .await
            .unwrap()
            .unwrap()
            .status,
        ContainerStatus::Running
    );
    assert_error(
        &w.call(
            Method::POST,
            &format!("{SERVICES}/nope/start"),
            Some(&w.member),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn an_unavailable_runtime_is_503_and_retryable() {
    let w = world().await;
    w.deploy_web().await;
    w.runtime
        .fail_always(RuntimeOp::StopContainer, Fault::Unavailable);
    let got = w
        .call(
            Method::POST,
            &format!("{SERVICES}/web/stop"),
            Some(&w.owner),
            None,
        )
        .await;
    assert_error(&got, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
    assert_eq!(got.1["retryable"], true);
}

#[tokio::test]
async fn logs_are_a_json_array_honouring_tail_and_since() {
    let w = world().await;
    let service = w.deploy_web().await;
    let container = w.container_of(service["id"].as_str().unwrap()).await;
    for i in 0..5 {
        w.runtime
            .push_log(&container, LogStream::Stdout, &format!("line {i}"))
            .unwrap();
    }
    w.runtime
        .push_log(&container, LogStream::Stderr, "oops")
        .unwrap();
    let (status, lines) = w.get(&format!("{SERVICES}/web/logs"), &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{lines}");
    let lines = lines.as_array().unwrap();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0]["text"], "line 0");
    assert_eq!(lines[0]["stream"], "stdout");
    assert_eq!(
        lines[5],
        json!({"stream": "stderr", "at": lines[5]["at"], "text": "oops"})
    );

    let (_, tail) = w
        .get(&format!("{SERVICES}/web/logs?tail=2"), &w.viewer)
        .await;
    let texts: Vec<&str> = tail
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["line 4", "oops"]);
    let (_, none) = w
        .get(
            &format!("{SERVICES}/web/logs?since=2999-01-01T00:00:00Z"),
            &w.viewer,
        )
        .await;
    assert_eq!(none, json!([]));

    assert_invalid(
        &w.get(&format!("{SERVICES}/web/logs?tail=-1"), &w.viewer)
            .await,
        "tail",
    );
    assert_invalid(
        &w.get(&format!("{SERVICES}/web/logs?since=yesterday"), &w.viewer)
            .await,
        "since",
    );
    assert_invalid(
        &w.get(&format!("{SERVICES}/web/logs?follow=please"), &w.viewer)
            .await,
        "follow",
    );
    assert_invalid(
        &w.get(&format!("{SERVICES}/web/logs?lines=5"), &w.viewer)
            .await,
        "lines",
    );
}

/// Reads SSE frames until `want` events arrived (or a timeout).
async fn sse_events(body: &mut Body, want: usize) -> Vec<(String, serde_json::Value)> {
    let mut buf = String::new();
    let mut events = Vec::new();
    while events.len() < want {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("an event within 5 s")
            .expect("the stream is open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buf.push_str(std::str::from_utf8(&data).unwrap());
        }
        while let Some((event, rest)) = buf.split_once("\n\n") {
            let mut name = String::from("message");
            let mut data = String::new();
            for line in event.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_string();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            if !data.is_empty() {
                events.push((name, serde_json::from_str(&data).unwrap()));
            }
            buf = rest.to_string();
        }
    }
    events
}

#[tokio::test]
async fn following_logs_streams_past_and_new_lines_as_server_sent_events() {
    let w = world().await;
    let service = w.deploy_web().await;
    let container = w.container_of(service["id"].as_str().unwrap()).await;
    w.runtime
        .push_log(&container, LogStream::Stdout, "before")
        .unwrap();
    let req = Request::get(format!("{SERVICES}/web/logs?follow=true"))
        .header("authorization", format!("Bearer {}", w.viewer))
        .body(Body::empty())
        .unwrap();
    let res = w.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let first = sse_events(&mut body, 1).await;
    assert_eq!(first[0].0, "log");
    assert_eq!(first[0].1["text"], "before");

    w.runtime
        .push_log(&container, LogStream::Stderr, "after")
        .unwrap();
    let next = sse_events(&mut body, 1).await;
    assert_eq!(next[0].0, "log");
    assert_eq!(next[0].1["text"], "after");
    assert_eq!(next[0].1["stream"], "stderr");
}

#[tokio::test]
async fn logs_of_a_stranger_service_are_404_and_of_nothing_deployed_409() {
    let w = world().await;
    w.deploy_web().await;
    assert_error(
        &w.get(&format!("{SERVICES}/web/logs?follow=true"), &w.stranger)
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &w.get(&format!("{SERVICES}/api/logs"), &w.owner).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}
