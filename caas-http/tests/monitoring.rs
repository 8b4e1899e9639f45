//! Monitoring over HTTP on the in-memory backends: live stats and their stream, the metrics
//! history and its SVG chart, health and events, alert settings, usage reports in JSON and CSV.

#![allow(clippy::unwrap_used)]

mod common;

use caas_core::ports::store::prelude::*;
use std::time::Duration;

use axum::body::Body;
use caas_core::model::{MetricSample, Resolution, Role};
use caas_core::platform::WatcherConfig;
use caas_core::ports::runtime::LogStream;
use caas_core::units::MIB;
use chrono::{DateTime, Utc};
use common::{SERVICES, World, assert_error, assert_invalid, world};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const WEB: &str = "/v1/orgs/acme/projects/shop/services/web";

/// A GET answer with its headers and raw body.
async fn raw_get(w: &World, path: &str, token: &str) -> (StatusCode, http::HeaderMap, String) {
    let req = Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = w.app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

/// Opens an SSE stream; panics unless it answers 200 `text/event-stream`.
async fn open_stream(w: &World, path: &str, token: &str) -> Body {
    let req = Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = w.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    res.into_body()
}

/// The next SSE event (name, data), or `None` when the stream ended.
async fn next_event(body: &mut Body, buf: &mut String) -> Option<(String, Value)> {
    loop {
        while let Some((event, rest)) = buf.split_once("\n\n") {
            let (event, rest) = (event.to_string(), rest.to_string());
            *buf = rest;
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
                return Some((name, serde_json::from_str(&data).unwrap()));
            }
        }
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("an event within 10 s")?
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buf.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
}

/// `web` deployed; its service id and container.
async fn deployed(w: &World) -> (String, String) {
    let service = w.deploy_web().await;
    let id = service["id"].as_str().unwrap().to_string();
    let container = w.container_of(&id).await;
    (id, container)
}

/// A raw sample of `web` at `at`, `cpu` % of one core, 100 MiB of a 512 MiB limit.
async fn sample(w: &World, service: &str, at: DateTime<Utc>, cpu: f64) -> MetricSample {
    let service = w.store.service(service.parse().unwrap()).await.unwrap();
    MetricSample {
        org: service.org,
        service: service.id,
        at,
        cpu_percent: cpu,
        memory_bytes: 100 * MIB,
        memory_limit_bytes: 512 * MIB,
        net_rx_bytes: 0,
        net_tx_bytes: 0,
        block_read_bytes: 0,
        block_write_bytes: 0,
        pids: 3,
    }
}

/// One sample every 10 s over `[from, from + minutes)`, then the minute rollups up to now.
async fn record(w: &World, service: &str, from: DateTime<Utc>, minutes: i64, cpu: f64) {
    let mut samples = Vec::new();
    for i in 0..minutes * 6 {
        samples.push(sample(w, service, from + chrono::Duration::seconds(i * 10), cpu).await);
    }
    w.store.insert_metrics(&samples).await.unwrap();
    w.store
        .rollup_metrics(Resolution::Minute, from, Utc::now())
        .await
        .unwrap();
}

/// The start of the minute `minutes` ago.
fn minutes_ago(minutes: i64) -> DateTime<Utc> {
    Resolution::Minute.bucket(Utc::now() - chrono::Duration::minutes(minutes))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn live_stats_measure_the_cpu_load_of_the_running_container() {
    let w = world().await;
    let (_, container) = deployed(&w).await;
    // Half a core busy under the default limit of 500 millicores: 50 % of a core, 100 % of the
    // limit.
    w.runtime.set_cpu_load(&container, 500).unwrap();
    w.runtime.set_memory_usage(&container, 64 * MIB).unwrap();
    let (status, stats) = w.get(&format!("{WEB}/stats"), &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    let cpu = stats["cpu_percent"].as_f64().unwrap();
    assert!((cpu - 50.0).abs() < 5.0, "{stats}");
    let of_limit = stats["cpu_limit_percent"].as_f64().unwrap();
    assert!((of_limit - 100.0).abs() < 10.0, "{stats}");
    assert_eq!(stats["cpu_limit_millis"], 500);
    assert_eq!(stats["memory_bytes"], 64 * MIB);
    assert_eq!(stats["memory_limit_bytes"], 256 * MIB);
    assert_eq!(stats["memory_percent"], 25.0);
    assert_eq!(stats["pids"], 1);
    assert!(stats["window_ms"].as_u64().unwrap() >= 500, "{stats}");

    let (status, _) = w
        .call(Method::POST, &format!("{WEB}/stop"), Some(&w.owner), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &w.get(&format!("{WEB}/stats"), &w.viewer).await,
        StatusCode::CONFLICT,
        "CONFLICT",
    );
    assert_error(
        &w.get(&format!("{SERVICES}/api/stats"), &w.viewer).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_invalid(
        &w.get(&format!("{WEB}/stats?interval_ms=500"), &w.viewer)
            .await,
        "interval_ms",
    );
}

#[tokio::test]
async fn the_stats_stream_sends_snapshots_error_events_while_stopped_and_ends_with_the_service() {
    let w = world().await;
    let (_, container) = deployed(&w).await;
    w.runtime.set_cpu_load(&container, 250).unwrap();
    let mut body = open_stream(
        &w,
        &format!("{WEB}/stats/stream?interval_ms=500"),
        &w.viewer,
    )
    .await;
    let mut buf = String::new();
    for _ in 0..2 {
        let (name, data) = next_event(&mut body, &mut buf).await.unwrap();
        assert_eq!(name, "stats", "{data}");
        let cpu = data["cpu_percent"].as_f64().unwrap();
        assert!((cpu - 25.0).abs() < 5.0, "{data}");
    }

    // Stopped: the readings fail, each an `error` event, and the stream goes on.
    let (status, _) = w
        .call(Method::POST, &format!("{WEB}/stop"), Some(&w.owner), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let error = loop {
        let (name, data) = next_event(&mut body, &mut buf).await.unwrap();
        if name == "error" {
            break data;
        }
        assert_eq!(name, "stats");
    };
    assert_eq!(error["code"], "CONFLICT", "{error}");
    let (name, _) = next_event(&mut body, &mut buf).await.unwrap();
    assert_eq!(name, "error", "still stopped");
    let (status, _) = w
        .call(Method::POST, &format!("{WEB}/start"), Some(&w.owner), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    loop {
        let (name, data) = next_event(&mut body, &mut buf).await.unwrap();
        if name == "stats" {
            assert!(data["cpu_percent"].is_number(), "{data}");
            break;
        }
    }

    // Deleted: the stream ends.
    let (status, _) = w.delete(WEB, &w.owner).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut ended = false;
    for _ in 0..5 {
        if next_event(&mut body, &mut buf).await.is_none() {
            ended = true;
            break;
        }
    }
    assert!(ended, "the stream ends with the service");
}

#[tokio::test]
async fn the_stats_stream_checks_its_interval_and_the_caller_first() {
    let w = world().await;
    deployed(&w).await;
    for bad in ["interval_ms=499", "interval_ms=60001", "interval_ms=soon"] {
        assert_invalid(
            &w.get(&format!("{WEB}/stats/stream?{bad}"), &w.viewer).await,
            "interval_ms",
        );
    }
    assert_invalid(
        &w.get(&format!("{WEB}/stats/stream?every=1s"), &w.viewer)
            .await,
        "every",
    );
    assert_error(
        &w.get(&format!("{WEB}/stats/stream"), &w.stranger).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    // The longest interval is accepted (the first snapshot comes half a second after the
    // priming reading).
    let mut body = open_stream(
        &w,
        &format!("{WEB}/stats/stream?interval_ms=60000"),
        &w.viewer,
    )
    .await;
    let (name, _) = next_event(&mut body, &mut String::new()).await.unwrap();
    assert_eq!(name, "stats");
}

#[tokio::test]
async fn metrics_answer_the_samples_in_range_at_the_asked_step() {
    let w = world().await;
    let (id, _) = deployed(&w).await;
    let start = minutes_ago(30);
    record(&w, &id, start, 20, 40.0).await;

    // The last hour by default, at minute points (complete minutes only).
    let (status, points) = w.get(&format!("{WEB}/metrics"), &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{points}");
    let points = points.as_array().unwrap();
    assert_eq!(points.len(), 20, "{points:?}");
    assert_eq!(points[0]["at"], rfc3339(start));
    assert_eq!(points[0]["samples"], 6);
    assert_eq!(points[0]["service"], id.as_str());
    assert_eq!(points[0]["cpu_percent"]["avg"], 40.0);
    assert_eq!(points[0]["memory_bytes"]["max"], (100 * MIB) as f64);
    assert_eq!(points[0]["memory_limit_bytes"], 512 * MIB);
    assert_eq!(points[0]["pids"]["min"], 3.0);

    // Raw samples of five minutes.
    let (from, to) = (start, start + chrono::Duration::minutes(5));
    let (status, raw) = w
        .get(
            &format!(
                "{WEB}/metrics?from={}&to={}&step=raw",
                rfc3339(from),
                rfc3339(to)
            ),
            &w.viewer,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{raw}");
    let raw = raw.as_array().unwrap();
    assert_eq!(raw.len(), 30);
    assert_eq!(raw[1]["samples"], 1);
    assert_eq!(raw[1]["at"], rfc3339(start + chrono::Duration::seconds(10)));
    // An offset other than Z, encoded.
    let (status, offset) = w
        .get(
            &format!(
                "{WEB}/metrics?from={}&step=minute",
                (start + chrono::Duration::minutes(18))
                    .with_timezone(&chrono::FixedOffset::east_opt(7200).unwrap())
                    .to_rfc3339()
                    .replace('+', "%2B")
            ),
            &w.viewer,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{offset}");
    assert_eq!(offset.as_array().unwrap().len(), 2);
    // Outside the samples: nothing.
    let (_, none) = w
        .get(&format!("{WEB}/metrics?to={}", rfc3339(start)), &w.viewer)
        .await;
    assert_eq!(none, json!([]));

    let later = rfc3339(start + chrono::Duration::minutes(1));
    assert_invalid(
        &w.get(
            &format!("{WEB}/metrics?from={later}&to={}", rfc3339(start)),
            &w.viewer,
        )
        .await,
        "from",
    );
    assert_invalid(
        &w.get(&format!("{WEB}/metrics?step=second"), &w.viewer)
            .await,
        "step",
    );
    assert_invalid(
        &w.get(&format!("{WEB}/metrics?from=yesterday"), &w.viewer)
            .await,
        "from",
    );
    assert_invalid(
        &w.get(&format!("{WEB}/metrics?to=2030-13-01T00:00:00Z"), &w.viewer)
            .await,
        "to",
    );
    assert_invalid(
        &w.get(&format!("{WEB}/metrics?resolution=raw"), &w.viewer)
            .await,
        "resolution",
    );
    assert_error(
        &w.get(&format!("{SERVICES}/api/metrics"), &w.viewer).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn the_chart_is_an_svg_of_the_asked_metric() {
    let w = world().await;
    let (id, _) = deployed(&w).await;
    record(&w, &id, minutes_ago(30), 20, 40.0).await;
    let (status, headers, svg) = raw_get(&w, &format!("{WEB}/metrics.svg"), &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{svg}");
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("shop/web — cpu"), "cpu by default");
    assert!(svg.contains("<polyline"), "the average line");

    let (status, _, memory) = raw_get(
        &w,
        &format!("{WEB}/metrics.svg?metric=memory&step=raw"),
        &w.viewer,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(memory.contains("shop/web — memory"));
    assert!(memory.contains("MiB"));
    let (_, _, empty) = raw_get(
        &w,
        &format!(
            "{WEB}/metrics.svg?metric=pids&to={}",
            rfc3339(minutes_ago(120))
        ),
        &w.viewer,
    )
    .await;
    assert!(empty.contains("no data in this range"), "{empty}");

    assert_invalid(
        &w.get(&format!("{WEB}/metrics.svg?metric=disk"), &w.viewer)
            .await,
        "metric",
    );
    assert_invalid(
        &w.get(&format!("{WEB}/metrics.svg?step=week"), &w.viewer)
            .await,
        "step",
    );
    assert_invalid(
        &w.get(&format!("{WEB}/metrics.svg?width=100"), &w.viewer)
            .await,
        "width",
    );
    let (status, headers, body) =
        raw_get(&w, &format!("{WEB}/metrics.svg?from=soon"), &w.viewer).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        headers["content-type"], "application/json",
        "errors are JSON"
    );
}

/// Runs the event watcher until the returned sender is dropped or fired.
fn watch(w: &World) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = WatcherConfig::default()
        .backoff(Duration::from_millis(50), Duration::from_millis(200))
        .stop_grace(Duration::from_millis(200));
    tokio::spawn(w.platform.clone().run_event_watcher(config, async {
        let _ = stopped.await;
    }));
    stop
}

/// Waits until `…/events` holds an event of type `kind`; all the events.
async fn wait_event(w: &World, kind: &str) -> Vec<Value> {
    for _ in 0..200 {
        let (status, events) = w.get(&format!("{WEB}/events"), &w.viewer).await;
        assert_eq!(status, StatusCode::OK, "{events}");
        let events = events.as_array().unwrap().clone();
        if events.iter().any(|e| e["kind"]["type"] == kind) {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "no {kind} event: {:?}",
        w.get(&format!("{WEB}/events"), &w.viewer).await
    );
}

#[tokio::test]
async fn health_and_events_show_crashes_engine_restarts_and_the_last_logs() {
    let w = world().await;
    let _watcher = watch(&w);
    // Let the watcher subscribe before anything happens.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (id, container) = deployed(&w).await;
    // Uptime is counted in milliseconds: let a few pass.
    tokio::time::sleep(Duration::from_millis(20)).await;

    let (status, health) = w.get(&format!("{WEB}/health"), &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["service"], "web");
    assert_eq!(health["status"], "running");
    assert_eq!(health["container"]["state"], "running");
    assert_eq!(health["container"]["restart_count"], 0);
    assert!(health["uptime_percent"].as_f64().unwrap() > 0.0, "{health}");
    assert_eq!(health["restarts"], json!([]));
    assert_eq!(health["last_logs"], json!([]));

    // A crash the engine restarts from.
    w.runtime
        .push_log(&container, LogStream::Stderr, "panic: out of cheese")
        .unwrap();
    w.runtime.simulate_exit(&container, 1, false, true).unwrap();
    let events = wait_event(&w, "engine_restart").await;
    let kinds: Vec<&Value> = events.iter().map(|e| &e["kind"]).collect();
    assert!(
        kinds.contains(&&json!({"type": "died", "exit_code": 1})),
        "{kinds:?}"
    );
    assert_eq!(kinds.last().unwrap()["type"], "deployed", "newest first");
    let died = events.iter().find(|e| e["kind"]["type"] == "died").unwrap();
    assert!(
        died["message"].as_str().unwrap().contains("out of cheese"),
        "{died}"
    );
    assert_eq!(died["service"], id.as_str());
    let (_, health) = w.get(&format!("{WEB}/health"), &w.viewer).await;
    assert_eq!(health["container"]["state"], "running", "{health}");
    assert_eq!(health["container"]["restart_count"], 1);
    let restarts: Vec<&Value> = health["restarts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["kind"]["type"])
        .collect();
    assert_eq!(restarts, ["engine_restart", "died"], "{health}");

    // Killed for its memory and not restarted: down, with its last log lines.
    w.runtime
        .simulate_exit(&container, 137, true, false)
        .unwrap();
    wait_event(&w, "oom_killed").await;
    let (_, health) = w
        .get(&format!("{WEB}/health?window_secs=3600"), &w.viewer)
        .await;
    assert_eq!(health["container"]["state"], "exited", "{health}");
    assert_eq!(health["container"]["oom_killed"], true);
    assert_eq!(health["container"]["exit_code"], 137);
    assert!(health["container"]["finished_at"].is_string());
    assert!(
        health["last_logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "panic: out of cheese"),
        "{health}"
    );
    let uptime = health["uptime_percent"].as_f64().unwrap();
    assert!(uptime > 0.0 && uptime < 100.0, "{health}");

    let (_, one) = w.get(&format!("{WEB}/events?limit=1"), &w.viewer).await;
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
    for bad in ["limit=0", "limit=1001", "limit=many"] {
        assert_invalid(
            &w.get(&format!("{WEB}/events?{bad}"), &w.viewer).await,
            "limit",
        );
    }
    for bad in ["window_secs=0", "window_secs=2592001", "window_secs=-5"] {
        assert_invalid(
            &w.get(&format!("{WEB}/health?{bad}"), &w.viewer).await,
            "window_secs",
        );
    }
    let (status, _) = w
        .get(&format!("{WEB}/health?window_secs=2592000"), &w.viewer)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_invalid(
        &w.get(&format!("{WEB}/events?since=today"), &w.viewer).await,
        "since",
    );
    assert_error(
        &w.get(&format!("{WEB}/health"), &w.stranger).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

const SECRET: &str = "whsec-0123456789abcdef";

fn settings() -> Value {
    json!({
        "rules": [
            {"name": "hot", "condition": {"type": "cpu_above", "percent": 90}, "for_secs": 120},
            {"name": "looping", "project": "shop", "service": "web",
             "condition": {"type": "restart_loop", "restarts": 3}, "for_secs": 600, "enabled": false},
        ],
        "webhook": {"url": "https://hooks.example.com/caas", "secret": SECRET},
    })
}

#[tokio::test]
async fn alert_settings_are_read_by_viewers_and_replaced_by_admins_with_the_secret_hidden() {
    let w = world().await;
    let (status, empty) = w.get("/v1/orgs/acme/alerts", &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(
        empty,
        json!({"settings": {"rules": [], "webhook": null}, "firing": [], "recent": []})
    );

    let (status, view) = w.put("/v1/orgs/acme/alerts", &w.owner, settings()).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["settings"]["webhook"]["secret"], "********");
    assert_eq!(
        view["settings"]["webhook"]["url"],
        "https://hooks.example.com/caas"
    );
    let rules = &view["settings"]["rules"];
    assert_eq!(rules[0]["name"], "hot");
    assert_eq!(rules[0]["enabled"], true, "enabled by default");
    assert_eq!(rules[0]["project"], Value::Null);
    assert_eq!(rules[1]["service"], "web");
    assert_eq!(rules[1]["enabled"], false);
    assert!(!view.to_string().contains(SECRET), "{view}");
    let (_, read) = w.get("/v1/orgs/acme/alerts", &w.viewer).await;
    assert_eq!(read, view);

    // What was read can be edited and sent back: `********` keeps the secret.
    let mut edited = read["settings"].clone();
    edited["rules"][0]["for_secs"] = json!(300);
    let admin = w.token_with_role("admin@acme.example", Role::Admin).await;
    let (status, view) = w.put("/v1/orgs/acme/alerts", &admin, edited).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["settings"]["rules"][0]["for_secs"], 300);
    assert_eq!(view["settings"]["webhook"]["secret"], "********");
    let acme = w.store.org_by_slug_opt("acme").await.unwrap().unwrap();
    let stored = w
        .store
        .setting_opt(&format!("alerts.{}", acme.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["webhook"]["secret"], SECRET, "the secret is kept");

    // Members and viewers read but do not change them.
    for token in [&w.member, &w.viewer] {
        assert_error(
            &w.put("/v1/orgs/acme/alerts", token, json!({})).await,
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
        );
    }
    // An empty object clears them; without a stored webhook `********` is no secret.
    let (status, cleared) = w.put("/v1/orgs/acme/alerts", &w.owner, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["settings"], json!({"rules": [], "webhook": null}));
    assert_invalid(
        &w.put(
            "/v1/orgs/acme/alerts",
            &w.owner,
            json!({"webhook": {"url": "https://hooks.example.com/caas", "secret": "********"}}),
        )
        .await,
        "webhook.secret",
    );
}

#[tokio::test]
async fn invalid_alert_settings_are_422_naming_the_field() {
    let w = world().await;
    let with_rule = |rule: Value| json!({"rules": [rule]});
    let cpu = json!({"type": "cpu_above", "percent": 90});
    let cases = [
        (
            with_rule(json!({"name": "hot", "condition": cpu, "for_secs": 10})),
            "rules[0].for_secs",
        ),
        (
            with_rule(json!({"name": "Hot Rule", "condition": cpu})),
            "rules[0].name",
        ),
        (
            with_rule(json!({"name": "hot", "condition": {"type": "cpu_above", "percent": 0}})),
            "rules[0].condition.percent",
        ),
        (
            with_rule(
                json!({"name": "loop", "condition": {"type": "restart_loop", "restarts": 1}}),
            ),
            "rules[0].condition.restarts",
        ),
        (
            with_rule(json!({"name": "hot", "service": "web", "condition": cpu})),
            "rules[0].service",
        ),
        (
            with_rule(json!({"name": "hot", "condition": cpu, "threshold": 3})),
            "rules[0].threshold",
        ),
        (json!({"rules": [], "email": "ops@acme.example"}), "email"),
        (
            json!({"webhook": {"url": "ftp://hooks.example.com", "secret": SECRET}}),
            "webhook.url",
        ),
        (
            json!({"webhook": {"url": "https://hooks.example.com", "secret": "short"}}),
            "webhook.secret",
        ),
    ];
    for (body, field) in cases {
        assert_invalid(&w.put("/v1/orgs/acme/alerts", &w.owner, body).await, field);
    }
    let twice = json!({"rules": [
        {"name": "hot", "condition": cpu},
        {"name": "hot", "condition": {"type": "unhealthy"}},
    ]});
    assert_invalid(
        &w.put("/v1/orgs/acme/alerts", &w.owner, twice).await,
        "rules[1].name",
    );
    let got = w
        .put(
            "/v1/orgs/acme/alerts",
            &w.owner,
            with_rule(json!({"name": "hot", "condition": {"type": "too_hot"}})),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_INPUT");
    assert!(
        got.1["details"]["field"]
            .as_str()
            .unwrap()
            .starts_with("rules[0].condition"),
        "{}",
        got.1
    );
    // Nothing was stored.
    let (_, view) = w.get("/v1/orgs/acme/alerts", &w.owner).await;
    assert_eq!(view["settings"]["rules"], json!([]));
}

#[tokio::test]
async fn a_firing_alert_shows_in_the_view() {
    let w = world().await;
    let (id, _) = deployed(&w).await;
    let rule = json!({"rules": [{"name": "hot", "condition": {"type": "cpu_above", "percent": 50}, "for_secs": 60}]});
    let (status, _) = w.put("/v1/orgs/acme/alerts", &w.owner, rule).await;
    assert_eq!(status, StatusCode::OK);
    // 90 % of a core under a 0.5-core limit, for the last minute.
    let now = Utc::now();
    let mut samples = Vec::new();
    for s in (0..=60).step_by(5) {
        samples.push(sample(&w, &id, now - chrono::Duration::seconds(s), 90.0).await);
    }
    w.store.insert_metrics(&samples).await.unwrap();
    let report = w.platform.monitoring().evaluate_alerts().await.unwrap();
    assert_eq!(report.fired, 1, "{report:?}");
    let (_, view) = w.get("/v1/orgs/acme/alerts", &w.viewer).await;
    let firing = view["firing"].as_array().unwrap();
    assert_eq!(firing.len(), 1, "{view}");
    assert_eq!(firing[0]["rule"], "hot");
    assert_eq!(firing[0]["state"], "firing");
    assert_eq!(firing[0]["service"], id.as_str());
    assert_eq!(firing[0]["resolved_at"], Value::Null);
    assert_eq!(view["recent"][0]["id"], firing[0]["id"]);
}

#[tokio::test]
async fn the_usage_report_answers_json_or_a_csv_download() {
    let w = world().await;
    let (id, _) = deployed(&w).await;
    // One hour at half a core (10 s samples), two hours ago.
    let from = minutes_ago(120);
    record(&w, &id, from, 60, 50.0).await;
    let to = from + chrono::Duration::hours(2);
    let period = format!("from={}&to={}", rfc3339(from), rfc3339(to));

    let (status, report) = w
        .get(&format!("/v1/orgs/acme/usage/report?{period}"), &w.viewer)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["org"], "acme");
    assert_eq!(report["from"], rfc3339(from));
    assert_eq!(report["resolution"], "minute");
    assert_eq!(report["services"][0]["service"], id.as_str());
    assert_eq!(report["services"][0]["name"], "shop/web");
    let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-9;
    assert!(close(&report["totals"]["container_hours"], 1.0), "{report}");
    assert!(close(&report["totals"]["cpu_core_hours"], 0.5), "{report}");
    assert!(
        close(&report["totals"]["memory_gib_hours"], 0.5),
        "{report}"
    );
    let (_, json_too) = w
        .get(
            &format!("/v1/orgs/acme/usage/report?{period}&format=json"),
            &w.viewer,
        )
        .await;
    assert_eq!(json_too, report);

    let (status, headers, csv) = raw_get(
        &w,
        &format!("/v1/orgs/acme/usage/report?{period}&format=csv"),
        &w.viewer,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{headers:?}"
    );
    let basic = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    assert_eq!(
        headers["content-disposition"],
        format!(
            "attachment; filename=\"usage-acme-{}-{}.csv\"",
            basic(from),
            basic(to)
        )
        .as_str()
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "kind,id,name,container_hours,cpu_core_hours,memory_gib_hours,storage_gib_hours,backup_bytes"
    );
    assert_eq!(
        lines[1],
        format!("service,{id},shop/web,1.000000,0.500000,0.500000,,")
    );
    assert!(
        lines.last().unwrap().starts_with("total,,acme,1.000000,"),
        "{csv}"
    );

    // Without a period: this month so far.
    let (status, month) = w.get("/v1/orgs/acme/usage/report", &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{month}");
    assert!(
        month["from"].as_str().unwrap().ends_with("-01T00:00:00Z"),
        "{month}"
    );

    assert_invalid(
        &w.get(
            &format!("/v1/orgs/acme/usage/report?{period}&format=xml"),
            &w.viewer,
        )
        .await,
        "format",
    );
    assert_invalid(
        &w.get(
            &format!(
                "/v1/orgs/acme/usage/report?from={}&to={}",
                rfc3339(to),
                rfc3339(from)
            ),
            &w.viewer,
        )
        .await,
        "from",
    );
    assert_invalid(
        &w.get(
            "/v1/orgs/acme/usage/report?from=2020-01-01T00:00:00Z&to=2022-01-01T00:00:00Z",
            &w.viewer,
        )
        .await,
        "to",
    );
    assert_invalid(
        &w.get("/v1/orgs/acme/usage/report?from=last-month", &w.viewer)
            .await,
        "from",
    );
    assert_invalid(
        &w.get("/v1/orgs/acme/usage/report?period=month", &w.viewer)
            .await,
        "period",
    );
    assert_error(
        &w.get("/v1/orgs/acme/usage/report?format=csv", &w.stranger)
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}
