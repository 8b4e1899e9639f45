//! The OpenAPI document: it parses, documents exactly the routes the router serves, and its
//! schemas describe what the API really answers.

#![allow(clippy::unwrap_used)]

mod common;

use caas_core::ports::store::prelude::*;
use std::collections::BTreeSet;

use axum::body::Body;
use common::{SERVICES, World, web_app, world, world_without_backups};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn document(w: &World) -> Value {
    let (status, doc) = w.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    doc
}

#[tokio::test]
async fn the_document_parses_and_documents_exactly_the_routes_served() {
    let w = world().await;
    let doc = document(&w).await;
    let parsed = oas3::from_json(doc.to_string())
        .unwrap_or_else(|e| panic!("invalid OpenAPI document: {e}\n{doc:#}"));
    assert!(parsed.openapi.starts_with("3.1"));
    // Every schema a reference names is in the document (query parameters included, whose
    // schemas utoipa does not collect by itself).
    let text = doc.to_string();
    for rest in text.split("\"#/components/schemas/").skip(1) {
        let name = &rest[..rest.find('"').unwrap()];
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling reference to {name}"
        );
    }

    let served: BTreeSet<(String, String)> = caas_http::routes()
        .into_iter()
        .map(|(m, p)| (m.as_str().to_ascii_lowercase(), p.to_string()))
        .collect();
    let documented: BTreeSet<(String, String)> = parsed
        .paths
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(path, item)| {
            item.methods()
                .into_iter()
                .map(|(m, _)| (m.as_str().to_ascii_lowercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(phantom.is_empty(), "documented but not served: {phantom:?}");
    assert_eq!(served.len(), 93);
}

#[tokio::test]
async fn every_operation_documents_its_answers_and_its_security() {
    let w = world().await;
    let doc = document(&w).await;
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} has no success answer"
            );
            assert!(
                ids.insert(op["operationId"].as_str().unwrap().to_string()),
                "operation ids are unique: {method} {path}"
            );
            let public = matches!(
                path.as_str(),
                "/v1/health" | "/v1/openapi.json" | "/.well-known/caas-challenge/{token}"
            );
            if public {
                assert!(op.get("security").is_none(), "{method} {path}");
            } else {
                assert_eq!(op["security"], json!([{"bearer": []}]), "{method} {path}");
                assert!(responses.contains_key("401"), "{method} {path}");
                assert!(responses.contains_key("503"), "{method} {path}");
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
            for (name, _) in path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(|n| (n, ()))
            {
                let documented = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == name && p["in"] == "path");
                assert!(documented, "{method} {path} documents {{{name}}}");
            }
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Bodies that may be left out are optional, and an object when given (never `null`).
    for (path, method, required) in [
        ("/v1/orgs/{org}/volumes/{volume}/backups", "post", false),
        ("/v1/orgs/{org}/backups/{backup}/restore", "post", false),
        (
            "/v1/orgs/{org}/projects/{project}/services/{service}/rollback",
            "post",
            false,
        ),
        ("/v1/orgs/{org}/volumes", "post", true),
        (
            "/v1/orgs/{org}/projects/{project}/templates/{template}/deploy",
            "post",
            true,
        ),
        ("/v1/admin/templates/{template}", "post", true),
        ("/v1/admin/templates/{template}", "put", true),
        ("/v1/orgs/{org}/alerts", "put", true),
        ("/v1/admin/users", "post", true),
        ("/v1/admin/users/{user}/tokens", "post", true),
        ("/v1/tokens", "post", true),
        (
            "/v1/orgs/{org}/volumes/{volume}/backup-schedule",
            "put",
            true,
        ),
    ] {
        let body = &doc["paths"][path][method]["requestBody"];
        assert_eq!(body["required"], required, "{method} {path}: {body}");
        assert!(
            body["content"]["application/json"]["schema"]["$ref"].is_string(),
            "{method} {path}: {body}"
        );
    }
}

/// Checks `value` against `schema` (the subset of JSON Schema utoipa writes): types, enums,
/// required and declared properties, `oneOf`, `allOf`, `$ref`. Returns what does not match.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    check_object(doc, schema, value, at, errors, true);
}

/// The schema a `$ref` names.
fn target<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let name = reference.trim_start_matches("#/components/schemas/");
    let target = &doc["components"]["schemas"][name];
    assert!(!target.is_null(), "dangling reference {reference}");
    target
}

/// [`check`]; with `closed` false, an object's members no part of `schema` declares are left
/// to the caller: the members of an `allOf` (utoipa's `#[serde(flatten)]`) each declare some
/// of the object's fields, and the object must have no field that none of them declares.
fn check_object(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
    closed: bool,
) {
    if let Some(r) = schema["$ref"].as_str() {
        return check_object(doc, target(doc, r), value, at, errors, closed);
    }
    if let Some(branches) = schema["oneOf"].as_array() {
        let matching = branches
            .iter()
            .filter(|b| {
                let mut e = Vec::new();
                check_object(doc, b, value, at, &mut e, closed);
                e.is_empty()
            })
            .count();
        if matching == 0 {
            errors.push(format!("{at}: matches no oneOf branch: {value}"));
        }
        return;
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            check_object(doc, s, value, at, errors, false);
        }
        if let (true, Value::Object(map), Some(declared)) =
            (closed, value, declared(doc, schema, value))
        {
            for key in map.keys().filter(|k| !declared.contains(*k)) {
                errors.push(format!("{at}.{key}: not documented"));
            }
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let documented = types.is_empty()
        || types.contains(&actual)
        || (actual == "integer" && types.contains(&"number"));
    if !documented {
        errors.push(format!("{at}: is {actual}, documented as {types:?}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check(doc, &schema["items"], item, &format!("{at}[{i}]"), errors);
            }
        }
        Value::Object(map) => {
            let properties = schema["properties"].as_object();
            for required in schema["required"].as_array().into_iter().flatten() {
                if !map.contains_key(required.as_str().unwrap()) {
                    errors.push(format!("{at}: missing required {required}"));
                }
            }
            for (key, v) in map {
                let path = format!("{at}.{key}");
                match properties.and_then(|p| p.get(key)) {
                    Some(s) => check(doc, s, v, &path, errors),
                    None => match &schema["additionalProperties"] {
                        Value::Object(_) => {
                            check(doc, &schema["additionalProperties"], v, &path, errors)
                        }
                        Value::Bool(false) => errors.push(format!("{path}: not allowed")),
                        _ if closed && properties.is_some() => {
                            errors.push(format!("{path}: not documented"))
                        }
                        _ => {}
                    },
                }
            }
        }
        _ => {}
    }
}

/// The fields `schema` declares for `value`: its properties, those of every `allOf` member,
/// and those of the `oneOf` branches `value` matches. `None` when it takes any field.
fn declared(doc: &Value, schema: &Value, value: &Value) -> Option<BTreeSet<String>> {
    if let Some(r) = schema["$ref"].as_str() {
        return declared(doc, target(doc, r), value);
    }
    let mut parts: Vec<&Value> = schema["allOf"].as_array().into_iter().flatten().collect();
    parts.extend(
        schema["oneOf"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| {
                let mut e = Vec::new();
                check_object(doc, b, value, "", &mut e, false);
                e.is_empty()
            }),
    );
    let open = schema["additionalProperties"].is_object() || schema["additionalProperties"] == true;
    let properties = schema["properties"].as_object();
    if open || (parts.is_empty() && properties.is_none()) {
        return None;
    }
    let mut all: BTreeSet<String> = properties
        .into_iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    for part in parts {
        all.extend(declared(doc, part, value)?);
    }
    Some(all)
}

/// The documented schema of an operation's answer (or request body, for `status` "request").
fn schema_of<'a>(doc: &'a Value, method: &Method, template: &str, status: &str) -> &'a Value {
    let op = &doc["paths"][template][method.as_str().to_ascii_lowercase()];
    assert!(!op.is_null(), "{method} {template} is documented");
    if status == "request" {
        return &op["requestBody"]["content"]["application/json"]["schema"];
    }
    let schema = &op["responses"][status]["content"]["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {template} documents a {status} body"
    );
    schema
}

/// Checks real answers against the document and collects what differs.
struct Verifier<'a> {
    doc: &'a Value,
    checked: usize,
    errors: Vec<String>,
}

impl<'a> Verifier<'a> {
    fn new(doc: &'a Value) -> Self {
        Self {
            doc,
            checked: 0,
            errors: Vec::new(),
        }
    }

    /// A JSON answer (or an empty 204) and the JSON request body that produced it.
    fn json(
        &mut self,
        method: Method,
        template: &str,
        got: (StatusCode, Value),
        request: Option<&Value>,
    ) {
        let doc = self.doc;
        let status = got.0.as_str().to_string();
        assert!(
            got.0.is_success() || got.0.is_client_error() || got.0 == StatusCode::NOT_IMPLEMENTED,
            "{method} {template}: {got:?}"
        );
        if got.0 == StatusCode::NO_CONTENT {
            let op = &doc["paths"][template][method.as_str().to_ascii_lowercase()];
            assert!(
                op["responses"]["204"].is_object() && op["responses"]["204"]["content"].is_null(),
                "{method} {template} documents an empty 204"
            );
            assert_eq!(got.1, Value::Null, "{method} {template}");
            self.checked += 1;
            return;
        }
        check(
            doc,
            schema_of(doc, &method, template, &status),
            &got.1,
            &format!("{method} {template} {status}"),
            &mut self.errors,
        );
        if let Some(body) = request {
            check(
                doc,
                schema_of(doc, &method, template, "request"),
                body,
                &format!("{method} {template} request"),
                &mut self.errors,
            );
        }
        self.checked += 1;
    }

    /// A non-JSON answer: its media type is one the operation documents for its status.
    fn content(&mut self, method: Method, template: &str, status: StatusCode, content_type: &str) {
        let op = &self.doc["paths"][template][method.as_str().to_ascii_lowercase()];
        assert!(!op.is_null(), "{method} {template} is documented");
        let media = content_type.split(';').next().unwrap_or_default().trim();
        let documented = &op["responses"][status.as_str()]["content"];
        if documented.get(media).is_none() {
            self.errors.push(format!(
                "{method} {template} {status}: answered {media}, documented {:?}",
                documented.as_object().map(|o| o.keys().collect::<Vec<_>>())
            ));
        }
        self.checked += 1;
    }

    /// A value that the document describes by a named schema (the data of an SSE event).
    fn schema(&mut self, name: &str, value: &Value, at: &str) {
        let reference = json!({ "$ref": format!("#/components/schemas/{name}") });
        check(self.doc, &reference, value, at, &mut self.errors);
        self.checked += 1;
    }

    fn finish(self, at_least: usize) {
        assert!(
            self.errors.is_empty(),
            "answers differ from the document:\n{}",
            self.errors.join("\n")
        );
        assert!(self.checked >= at_least, "{}", self.checked);
    }
}

#[tokio::test]
async fn real_answers_and_requests_match_their_documented_schemas() {
    let w = world().await;
    w.runtime.add_image("redis:7-alpine");
    let doc = document(&w).await;
    let svc = "/v1/orgs/{org}/projects/{project}/services";
    let mut v = Verifier::new(&doc);

    let health = w.call(Method::GET, "/v1/health", None, None).await;
    v.json(Method::GET, "/v1/health", health, None);
    v.json(
        Method::GET,
        "/v1/admin/runtime",
        w.get("/v1/admin/runtime", &w.admin).await,
        None,
    );
    v.json(
        Method::POST,
        "/v1/admin/runtime/test",
        w.call(Method::POST, "/v1/admin/runtime/test", Some(&w.admin), None)
            .await,
        None,
    );
    v.json(
        Method::GET,
        "/v1/admin/runtime/detect",
        w.get("/v1/admin/runtime/detect", &w.admin).await,
        None,
    );
    let plan = json!({"name": "pro", "display_name": "Pro", "limits": {"cpu_millis": 1000, "memory_bytes": 1_073_741_824u64, "storage_bytes": 0, "max_containers": 2, "max_projects": 1}, "monthly_price_cents": 900, "currency": "EUR"});
    v.json(
        Method::POST,
        "/v1/admin/plans",
        w.post("/v1/admin/plans", &w.admin, plan.clone()).await,
        Some(&plan),
    );
    v.json(
        Method::GET,
        "/v1/admin/plans",
        w.get("/v1/admin/plans", &w.owner).await,
        None,
    );
    let patch = json!({"display_name": "Pro+"});
    v.json(
        Method::PATCH,
        "/v1/admin/plans/{plan}",
        w.call(
            Method::PATCH,
            "/v1/admin/plans/pro",
            Some(&w.admin),
            Some(patch.clone()),
        )
        .await,
        Some(&patch),
    );
    let org = json!({"slug": "initech", "display_name": "Initech"});
    v.json(
        Method::POST,
        "/v1/orgs",
        w.post("/v1/orgs", &w.admin, org.clone()).await,
        Some(&org),
    );
    v.json(
        Method::GET,
        "/v1/orgs",
        w.get("/v1/orgs", &w.admin).await,
        None,
    );
    let sub = json!({"plan": "pro", "status": "active"});
    v.json(
        Method::PUT,
        "/v1/orgs/{org}/subscription",
        w.call(
            Method::PUT,
            "/v1/orgs/initech/subscription",
            Some(&w.admin),
            Some(sub.clone()),
        )
        .await,
        Some(&sub),
    );
    v.json(
        Method::GET,
        "/v1/orgs/{org}/usage",
        w.get("/v1/orgs/acme/usage", &w.owner).await,
        None,
    );
    let project = json!({"name": "blog"});
    v.json(
        Method::POST,
        "/v1/orgs/{org}/projects",
        w.post("/v1/orgs/acme/projects", &w.owner, project.clone())
            .await,
        Some(&project),
    );
    v.json(
        Method::GET,
        "/v1/orgs/{org}/projects",
        w.get("/v1/orgs/acme/projects", &w.owner).await,
        None,
    );
    let mut app = web_app("web");
    app["spec"]["health_check"] =
        json!({"probe": {"type": "http", "port": 8080, "path": "/"}, "interval": 5000});
    app["spec"]["restart_policy"] = json!({"type": "on_failure", "max_retries": 3});
    app["spec"]["volumes"] = json!([{"volume": "data", "target": "/data"}]);
    app["spec"]["labels"] = json!({"com.example.team": "web"});
    v.json(
        Method::POST,
        svc,
        w.post(SERVICES, &w.owner, app.clone()).await,
        Some(&app),
    );
    let db = json!({"name": "cache", "database": {"engine": "redis", "image": "redis:7-alpine"}});
    v.json(
        Method::POST,
        svc,
        w.post(SERVICES, &w.owner, db.clone()).await,
        Some(&db),
    );
    v.json(Method::GET, svc, w.get(SERVICES, &w.owner).await, None);
    let one = "/v1/orgs/{org}/projects/{project}/services/{service}";
    v.json(
        Method::GET,
        one,
        w.get(&format!("{SERVICES}/web"), &w.owner).await,
        None,
    );
    for action in ["stop", "start", "restart"] {
        v.json(
            Method::POST,
            &format!("{one}/{action}"),
            w.call(
                Method::POST,
                &format!("{SERVICES}/web/{action}"),
                Some(&w.owner),
                None,
            )
            .await,
            None,
        );
    }
    let service = w.get(&format!("{SERVICES}/web"), &w.owner).await.1;
    let container = w.container_of(service["id"].as_str().unwrap()).await;
    w.runtime
        .push_log(
            &container,
            caas_core::ports::runtime::LogStream::Stdout,
            "hi",
        )
        .unwrap();
    v.json(
        Method::GET,
        &format!("{one}/logs"),
        w.get(&format!("{SERVICES}/web/logs"), &w.owner).await,
        None,
    );
    // Volumes and backups: the web service above mounts `data`.
    let volumes = "/v1/orgs/{org}/volumes";
    let volume = "/v1/orgs/{org}/volumes/{volume}";
    let new_volume = json!({"project": "shop", "name": "files", "size_bytes": 67_108_864u64});
    v.json(
        Method::POST,
        volumes,
        w.post("/v1/orgs/acme/volumes", &w.owner, new_volume.clone())
            .await,
        Some(&new_volume),
    );
    let (_, data) = w.get("/v1/orgs/acme/volumes/data", &w.owner).await;
    w.runtime
        .put_file(data["runtime_name"].as_str().unwrap(), "a/b.txt", b"hello")
        .unwrap();
    w.platform.volumes().check().await.unwrap();
    v.json(
        Method::GET,
        volumes,
        w.get("/v1/orgs/acme/volumes?project=shop", &w.owner).await,
        None,
    );
    let backups = format!("{volume}/backups");
    let live = json!({"consistent": true});
    let (status, backup) = w
        .post("/v1/orgs/acme/volumes/data/backups", &w.owner, live.clone())
        .await;
    let backup_id = backup["id"].as_str().unwrap_or_default().to_string();
    v.json(Method::POST, &backups, (status, backup), Some(&live));
    w.runtime.fail_next(
        caas_core::memory::RuntimeOp::ReadArchive,
        caas_core::memory::Fault::Backend("disk error".into()),
    );
    let (status, failed) = w
        .call(
            Method::POST,
            "/v1/orgs/acme/volumes/files/backups",
            Some(&w.owner),
            None,
        )
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let failed_id = failed["id"].as_str().unwrap().to_string();
    v.json(Method::POST, &backups, (status, failed), None);
    v.json(
        Method::GET,
        &backups,
        w.get("/v1/orgs/acme/volumes/data/backups", &w.owner).await,
        None,
    );
    let schedule = format!("{volume}/backup-schedule");
    let every_night =
        json!({"cron": "0 3 * * *", "keep_last": 3, "max_age_days": 7, "consistent": true});
    v.json(
        Method::PUT,
        &schedule,
        w.put(
            "/v1/orgs/acme/volumes/data/backup-schedule",
            &w.owner,
            every_night.clone(),
        )
        .await,
        Some(&every_night),
    );
    let (status, with_schedule) = w.get("/v1/orgs/acme/volumes/data", &w.owner).await;
    assert!(with_schedule["usage"].is_object(), "{with_schedule}");
    assert!(with_schedule["backup_schedule"].is_object());
    v.json(Method::GET, volume, (status, with_schedule), None);
    v.json(
        Method::DELETE,
        &schedule,
        w.delete("/v1/orgs/acme/volumes/data/backup-schedule", &w.owner)
            .await,
        None,
    );
    v.json(
        Method::GET,
        "/v1/orgs/{org}/backups",
        w.get("/v1/orgs/acme/backups", &w.owner).await,
        None,
    );
    v.json(
        Method::GET,
        "/v1/orgs/{org}/backups/{backup}",
        w.get(&format!("/v1/orgs/acme/backups/{backup_id}"), &w.owner)
            .await,
        None,
    );
    w.runtime.set_latency(
        caas_core::memory::RuntimeOp::ReadArchive,
        std::time::Duration::from_millis(300),
    );
    let (status, _, running) = w
        .call_with(
            Method::POST,
            "/v1/orgs/acme/volumes/files/backups",
            Some(&w.owner),
            &[("prefer", "respond-async")],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{running}");
    v.json(Method::POST, &backups, (status, running), None);
    assert!(
        w.platform
            .backups()
            .wait_for_copies(std::time::Duration::from_secs(10))
            .await
    );
    w.runtime.clear_faults();
    let restore = "/v1/orgs/{org}/backups/{backup}/restore";
    let restore_path = format!("/v1/orgs/acme/backups/{backup_id}/restore");
    v.json(
        Method::POST,
        restore,
        w.call(Method::POST, &restore_path, Some(&w.owner), None)
            .await,
        None,
    );
    let into_new =
        json!({"new_volume": {"project": "shop", "name": "copy", "size_bytes": 67_108_864u64}});
    v.json(
        Method::POST,
        restore,
        w.post(&restore_path, &w.owner, into_new.clone()).await,
        Some(&into_new),
    );
    let into_existing = json!({"volume": "copy"});
    v.json(
        Method::POST,
        restore,
        w.post(&restore_path, &w.owner, into_existing.clone()).await,
        Some(&into_existing),
    );
    v.json(
        Method::POST,
        restore,
        w.post(&restore_path, &w.member, json!({})).await,
        None,
    );
    v.json(
        Method::DELETE,
        "/v1/orgs/{org}/backups/{backup}",
        w.delete(&format!("/v1/orgs/acme/backups/{failed_id}"), &w.owner)
            .await,
        None,
    );
    v.json(
        Method::PUT,
        &schedule,
        w.put(
            "/v1/orgs/acme/volumes/data/backup-schedule",
            &w.owner,
            json!({"cron": "every night"}),
        )
        .await,
        None,
    );
    v.json(
        Method::DELETE,
        volume,
        w.delete("/v1/orgs/acme/volumes/data", &w.owner).await,
        None,
    );
    v.json(
        Method::DELETE,
        volume,
        w.delete("/v1/orgs/acme/volumes/copy", &w.owner).await,
        None,
    );
    let without = world_without_backups().await;
    without
        .post("/v1/orgs/acme/volumes", &without.owner, new_volume.clone())
        .await;
    v.json(
        Method::POST,
        &backups,
        without
            .call(
                Method::POST,
                "/v1/orgs/acme/volumes/files/backups",
                Some(&without.owner),
                None,
            )
            .await,
        None,
    );
    // Errors, too.
    v.json(
        Method::GET,
        "/v1/orgs/{org}",
        w.get("/v1/orgs/acme", &w.stranger).await,
        None,
    );
    v.json(
        Method::POST,
        svc,
        w.post(SERVICES, &w.owner, json!({"name": "x"})).await,
        None,
    );
    v.finish(40);
}

/// A raw answer: status, content type and body.
async fn raw_get(w: &World, path: &str, token: &str) -> (StatusCode, String, String) {
    let req = Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = w.app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

/// The data of the next SSE event named `name` (skipping others).
async fn sse_event(body: &mut Body, buf: &mut String, name: &str) -> Value {
    loop {
        while let Some((event, rest)) = buf.split_once("\n\n") {
            let (event, rest) = (event.to_string(), rest.to_string());
            *buf = rest;
            if event.lines().any(|l| l == format!("event: {name}")) {
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                return serde_json::from_str(&data).unwrap();
            }
        }
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
            .await
            .expect("an event within 10 s")
            .expect("the stream is open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buf.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
}

#[tokio::test]
async fn monitoring_answers_match_their_documented_schemas() {
    use caas_core::model::{MetricSample, Resolution};

    let w = world().await;
    let doc = document(&w).await;
    let mut v = Verifier::new(&doc);
    let one = "/v1/orgs/{org}/projects/{project}/services/{service}";
    let web = format!("{SERVICES}/web");
    let service = w.deploy_web().await;
    let id = service["id"].as_str().unwrap();
    let container = w.container_of(id).await;
    w.runtime.set_cpu_load(&container, 300).unwrap();

    // A watcher turns the engine's events into service events.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = caas_core::platform::WatcherConfig::default()
        .stop_grace(std::time::Duration::from_millis(100));
    tokio::spawn(w.platform.clone().run_event_watcher(config, async {
        let _ = stopped.await;
    }));

    // An hour of samples up to now, rolled up into minutes.
    let svc = w.store.service(id.parse().unwrap()).await.unwrap();
    let now = chrono::Utc::now();
    let samples: Vec<MetricSample> = (0..360)
        .map(|i| MetricSample {
            org: svc.org,
            service: svc.id,
            at: now - chrono::Duration::seconds(3600 - i * 10),
            cpu_percent: 90.0,
            memory_bytes: 3_000_000,
            memory_limit_bytes: 268_435_456,
            net_rx_bytes: 10,
            net_tx_bytes: 20,
            block_read_bytes: 30,
            block_write_bytes: 40,
            pids: 2,
        })
        .collect();
    w.store.insert_metrics(&samples).await.unwrap();
    w.store
        .rollup_metrics(Resolution::Minute, now - chrono::Duration::hours(2), now)
        .await
        .unwrap();

    v.json(
        Method::GET,
        &format!("{one}/stats"),
        w.get(&format!("{web}/stats"), &w.viewer).await,
        None,
    );
    let (status, points) = w.get(&format!("{web}/metrics"), &w.viewer).await;
    assert!(points.as_array().is_some_and(|p| !p.is_empty()), "{points}");
    v.json(
        Method::GET,
        &format!("{one}/metrics"),
        (status, points),
        None,
    );
    v.json(
        Method::GET,
        &format!("{one}/metrics"),
        w.get(&format!("{web}/metrics?step=raw"), &w.viewer).await,
        None,
    );
    let (status, content_type, svg) = raw_get(&w, &format!("{web}/metrics.svg"), &w.viewer).await;
    assert!(svg.starts_with("<svg"), "{svg}");
    v.content(
        Method::GET,
        &format!("{one}/metrics.svg"),
        status,
        &content_type,
    );

    // The stream: `stats` events are StatsSnapshots, `error` events error bodies.
    let req = Request::get(format!("{web}/stats/stream?interval_ms=500"))
        .header("authorization", format!("Bearer {}", w.viewer))
        .body(Body::empty())
        .unwrap();
    let res = w.app.clone().oneshot(req).await.unwrap();
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    v.content(
        Method::GET,
        &format!("{one}/stats/stream"),
        res.status(),
        &content_type,
    );
    let mut body = res.into_body();
    let mut buf = String::new();
    let snapshot = sse_event(&mut body, &mut buf, "stats").await;
    v.schema("StatsSnapshot", &snapshot, "stats event");

    // A crash the engine restarts from, then a stop: events, restarts and an error event.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    w.runtime.simulate_exit(&container, 3, false, true).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let events = loop {
        let (status, events) = w.get(&format!("{web}/events"), &w.viewer).await;
        if events.to_string().contains("engine_restart") {
            break (status, events);
        }
        assert!(std::time::Instant::now() < deadline, "{events}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    v.json(Method::GET, &format!("{one}/events"), events, None);
    let (status, health) = w.get(&format!("{web}/health"), &w.viewer).await;
    assert!(
        !health["restarts"].as_array().unwrap().is_empty(),
        "{health}"
    );
    v.json(
        Method::GET,
        &format!("{one}/health"),
        (status, health),
        None,
    );
    w.call(Method::POST, &format!("{web}/stop"), Some(&w.owner), None)
        .await;
    let error = sse_event(&mut body, &mut buf, "error").await;
    v.schema("ErrorBody", &error, "error event");
    drop(body);
    let (status, health) = w
        .get(&format!("{web}/health?window_secs=600"), &w.viewer)
        .await;
    assert!(health["container"]["finished_at"].is_string(), "{health}");
    v.json(
        Method::GET,
        &format!("{one}/health"),
        (status, health),
        None,
    );
    v.json(
        Method::GET,
        &format!("{one}/stats"),
        w.get(&format!("{web}/stats"), &w.viewer).await,
        None,
    );
    w.call(Method::POST, &format!("{web}/start"), Some(&w.owner), None)
        .await;

    // Alerts: settings in, a firing alert out.
    let alerts = "/v1/orgs/{org}/alerts";
    v.json(
        Method::GET,
        alerts,
        w.get("/v1/orgs/acme/alerts", &w.viewer).await,
        None,
    );
    let settings = json!({
        "rules": [
            {"name": "hot", "condition": {"type": "cpu_above", "percent": 50}, "for_secs": 60},
            {"name": "full", "project": "shop", "service": "web",
             "condition": {"type": "storage_above", "percent": 90}, "enabled": false},
            {"name": "sick", "condition": {"type": "unhealthy"}},
            {"name": "looping", "condition": {"type": "restart_loop", "restarts": 3}},
            {"name": "big", "condition": {"type": "memory_above", "percent": 95}},
        ],
        "webhook": {"url": "https://hooks.example.com/caas", "secret": "whsec-0123456789abcdef"},
    });
    v.json(
        Method::PUT,
        alerts,
        w.put("/v1/orgs/acme/alerts", &w.owner, settings.clone())
            .await,
        Some(&settings),
    );
    let report = w.platform.monitoring().evaluate_alerts().await.unwrap();
    assert!(report.fired >= 1, "{report:?}");
    let (status, view) = w.get("/v1/orgs/acme/alerts", &w.viewer).await;
    assert!(!view["firing"].as_array().unwrap().is_empty(), "{view}");
    v.json(Method::GET, alerts, (status, view), None);
    v.json(
        Method::PUT,
        alerts,
        w.put("/v1/orgs/acme/alerts", &w.viewer, json!({})).await,
        None,
    );
    v.json(
        Method::PUT,
        alerts,
        w.put(
            "/v1/orgs/acme/alerts",
            &w.owner,
            json!({"rules": [{"name": "x"}]}),
        )
        .await,
        None,
    );

    // The usage report, as JSON and as CSV.
    let report = "/v1/orgs/{org}/usage/report";
    let (status, json_report) = w.get("/v1/orgs/acme/usage/report", &w.viewer).await;
    assert!(
        json_report["services"].as_array().is_some(),
        "{json_report}"
    );
    v.json(Method::GET, report, (status, json_report), None);
    let (status, content_type, csv) =
        raw_get(&w, "/v1/orgs/acme/usage/report?format=csv", &w.viewer).await;
    assert!(csv.starts_with("kind,id,name,"), "{csv}");
    v.content(Method::GET, report, status, &content_type);

    // Errors.
    v.json(
        Method::GET,
        &format!("{one}/metrics"),
        w.get(&format!("{web}/metrics?step=week"), &w.viewer).await,
        None,
    );
    let (status, content_type, _) =
        raw_get(&w, &format!("{web}/metrics.svg?metric=disk"), &w.viewer).await;
    v.content(
        Method::GET,
        &format!("{one}/metrics.svg"),
        status,
        &content_type,
    );
    v.json(
        Method::GET,
        &format!("{one}/stats/stream"),
        w.get(&format!("{web}/stats/stream?interval_ms=10"), &w.viewer)
            .await,
        None,
    );
    v.json(
        Method::GET,
        &format!("{one}/events"),
        w.get(&format!("{SERVICES}/nope/events"), &w.viewer).await,
        None,
    );
    v.json(
        Method::GET,
        report,
        w.get("/v1/orgs/acme/usage/report?format=pdf", &w.viewer)
            .await,
        None,
    );
    let _ = stop.send(());
    v.finish(20);
}

/// A template using every kind of parameter, a health check, a volume and a secret output.
fn full_template(name: &str) -> Value {
    json!({
        "format": 1,
        "id": "hello",
        "name": name,
        "category": "demo",
        "description": "Greets visitors.",
        "icon": "https://example.com/hello.svg",
        "tags": ["demo"],
        "minimum": {"cpu_millis": 100, "memory_bytes": 67_108_864u64, "storage_bytes": 67_108_864u64},
        "parameters": [
            {"name": "greeting", "label": "Greeting", "description": "What it says.", "type": "string", "default": "hello", "pattern": "[a-z]+", "max_length": 20},
            {"name": "port", "type": "int", "default": 8080, "min": 1024, "max": 65535},
            {"name": "verbose", "type": "bool", "default": false},
            {"name": "mode", "type": "enum", "values": ["quiet", "loud"], "default": "quiet"},
            {"name": "token", "type": "secret", "generate": {"length": 32, "charset": "hex"}},
            {"name": "motto", "type": "string", "required": true}
        ],
        "services": [{
            "name": "web",
            "image": common::IMAGE,
            "command": ["httpd", "-f", "-p", "{{ params.port }}"],
            "env": {"GREETING": "{{ params.greeting }}", "MODE": "{{ params.mode }}", "VERBOSE": "{{ params.verbose }}", "TOKEN": "{{ params.token }}", "MOTTO": "{{ params.motto }}"},
            "ports": ["{{ params.port }}"],
            "volumes": [{"name": "files", "target": "/srv", "size_bytes": 67_108_864u64, "read_only": false}],
            "health_check": {"probe": {"type": "tcp", "port": 8080}, "interval": 1000},
            "resources": {"cpu_millis": 100, "memory_bytes": 67_108_864u64, "pids": 64},
            "domain": true
        }, {
            "name": "cache",
            "database": "redis"
        }],
        "outputs": [
            {"name": "url", "value": "http://{{ services.web.host }}:{{ services.web.port }}/"},
            {"name": "cache_url", "value": "{{ services.cache.url }}", "secret": true}
        ]
    })
}

#[tokio::test]
async fn template_answers_and_requests_match_their_documented_schemas() {
    let w = world().await;
    for image in ["wordpress:6-apache", "mysql:8.4", "redis:7.2"] {
        w.runtime.add_image(image);
    }
    let doc = document(&w).await;
    let mut v = Verifier::new(&doc);
    let catalogue = "/v1/templates";
    let one = "/v1/templates/{template}";
    let deploy = "/v1/orgs/{org}/projects/{project}/templates/{template}/deploy";
    let instances = "/v1/orgs/{org}/projects/{project}/template-instances";
    let instance = "/v1/orgs/{org}/projects/{project}/template-instances/{instance}";
    let admin = "/v1/admin/templates/{template}";
    let project = "/v1/orgs/acme/projects/shop";

    let (status, all) = w.get(catalogue, &w.viewer).await;
    let ids: Vec<String> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() >= 10, "{all}");
    v.json(Method::GET, catalogue, (status, all), None);
    v.json(
        Method::GET,
        catalogue,
        w.get("/v1/templates?category=database", &w.viewer).await,
        None,
    );
    // Every built-in definition.
    for id in &ids {
        v.json(
            Method::GET,
            one,
            w.get(&format!("/v1/templates/{id}"), &w.viewer).await,
            None,
        );
    }

    // The administrators' catalogue.
    let create = json!({"template": full_template("Hello"), "enabled": true, "position": 5});
    v.json(
        Method::POST,
        admin,
        w.post("/v1/admin/templates/hello", &w.admin, create.clone())
            .await,
        Some(&create),
    );
    let update = json!({"template": full_template("Hello again"), "enabled": true, "position": 7});
    v.json(
        Method::PUT,
        admin,
        w.put("/v1/admin/templates/hello", &w.admin, update.clone())
            .await,
        Some(&update),
    );
    let disable = json!({"enabled": false});
    v.json(
        Method::PUT,
        admin,
        w.put("/v1/admin/templates/wordpress", &w.admin, disable.clone())
            .await,
        Some(&disable),
    );
    v.json(
        Method::GET,
        catalogue,
        w.get(catalogue, &w.admin).await,
        None,
    );
    v.json(
        Method::GET,
        one,
        w.get("/v1/templates/hello", &w.admin).await,
        None,
    );
    v.json(
        Method::DELETE,
        admin,
        w.delete("/v1/admin/templates/wordpress", &w.admin).await,
        None,
    );

    // Dry runs and deploys.
    let blog = json!({"name": "blog", "parameters": {"table_prefix": "blog_"}});
    let (status, dry) = w
        .post(
            &format!("{project}/templates/wordpress/deploy?dry_run=true"),
            &w.member,
            blog.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    v.json(Method::POST, deploy, (status, dry), Some(&blog));
    let (status, done) = w
        .post(
            &format!("{project}/templates/wordpress/deploy"),
            &w.member,
            blog.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    v.json(Method::POST, deploy, (status, done), Some(&blog));
    let hello = json!({"name": "hi", "parameters": {"greeting": "bonjour", "port": 8080, "verbose": true, "mode": "loud", "token": "a-given-token-value", "motto": "hi"}});
    let (status, done) = w
        .post(
            &format!("{project}/templates/hello/deploy"),
            &w.member,
            hello.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    v.json(Method::POST, deploy, (status, done), Some(&hello));
    let (status, listed) = w
        .get(&format!("{project}/template-instances"), &w.viewer)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    v.json(Method::GET, instances, (status, listed), None);
    v.json(
        Method::DELETE,
        instance,
        w.delete(
            &format!("{project}/template-instances/blog?volumes=true"),
            &w.member,
        )
        .await,
        None,
    );
    v.json(
        Method::DELETE,
        instance,
        w.delete(&format!("{project}/template-instances/hi"), &w.member)
            .await,
        None,
    );

    // Errors, too.
    v.json(
        Method::GET,
        catalogue,
        w.get("/v1/templates?sort=name", &w.viewer).await,
        None,
    );
    v.json(
        Method::GET,
        one,
        w.get("/v1/templates/nope", &w.viewer).await,
        None,
    );
    v.json(
        Method::POST,
        deploy,
        w.post(
            &format!("{project}/templates/wordpress/deploy"),
            &w.member,
            json!({"name": "x", "parameters": {"table_prefix": "no spaces"}}),
        )
        .await,
        None,
    );
    v.json(
        Method::POST,
        deploy,
        w.post(
            &format!("{project}/templates/wordpress/deploy"),
            &w.viewer,
            json!({"name": "x"}),
        )
        .await,
        None,
    );
    v.json(
        Method::POST,
        deploy,
        w.post(
            &format!("{project}/templates/nope/deploy"),
            &w.member,
            json!({"name": "x"}),
        )
        .await,
        None,
    );
    let small = common::world_with(common::PlanLimits {
        memory_bytes: 600 * 1024 * 1024,
        ..common::limits()
    })
    .await;
    v.json(
        Method::POST,
        deploy,
        small
            .post(
                &format!("{project}/templates/wordpress/deploy"),
                &small.member,
                json!({"name": "blog"}),
            )
            .await,
        None,
    );
    v.json(
        Method::DELETE,
        instance,
        w.delete(&format!("{project}/template-instances/blog"), &w.viewer)
            .await,
        None,
    );
    v.json(
        Method::DELETE,
        instance,
        w.delete(&format!("{project}/template-instances/gone"), &w.member)
            .await,
        None,
    );
    v.json(
        Method::POST,
        admin,
        w.post(
            "/v1/admin/templates/other",
            &w.admin,
            json!({"template": full_template("Mismatch")}),
        )
        .await,
        None,
    );
    v.json(
        Method::POST,
        admin,
        w.post(
            "/v1/admin/templates/hello",
            &w.admin,
            json!({"template": full_template("Again")}),
        )
        .await,
        None,
    );
    v.json(
        Method::PUT,
        admin,
        w.put(
            "/v1/admin/templates/hello",
            &w.owner,
            json!({"enabled": false}),
        )
        .await,
        None,
    );
    v.json(
        Method::PUT,
        admin,
        w.put("/v1/admin/templates/nope", &w.admin, json!({})).await,
        None,
    );
    v.json(
        Method::DELETE,
        admin,
        w.delete("/v1/admin/templates/wordpress", &w.admin).await,
        None,
    );
    v.json(
        Method::DELETE,
        admin,
        w.delete("/v1/admin/templates/hello", &w.admin).await,
        None,
    );
    v.finish(28 + ids.len());
}

#[tokio::test]
async fn member_invitation_and_administration_answers_match_their_documented_schemas() {
    let w = world().await;
    w.deploy_web().await;
    let doc = document(&w).await;
    let mut v = Verifier::new(&doc);
    let members = "/v1/orgs/{org}/members";
    let member = "/v1/orgs/{org}/members/{user}";
    let transfer = "/v1/orgs/{org}/transfer-ownership";
    let invitations = "/v1/orgs/{org}/invitations";
    let invitation = "/v1/orgs/{org}/invitations/{invitation}";
    let accept = "/v1/invitations/{token}/accept";
    let decline = "/v1/invitations/{token}/decline";
    let orgs = "/v1/admin/orgs";
    let bulk = "/v1/admin/orgs/bulk";
    let suspend = "/v1/admin/orgs/{org}/suspend";
    let reactivate = "/v1/admin/orgs/{org}/reactivate";
    let audit = "/v1/admin/audit";
    let dave = w.token_for_new_user("dave@example.com").await;
    let erin = w.token_for_new_user("erin@example.com").await;

    // Members.
    v.json(
        Method::GET,
        members,
        w.get("/v1/orgs/acme/members", &w.viewer).await,
        None,
    );
    let add = json!({"user": "erin@example.com", "role": "member", "projects": ["shop"]});
    let got = w.post("/v1/orgs/acme/members", &w.owner, add.clone()).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    v.json(Method::POST, members, got, Some(&add));
    let change = json!({"role": "admin", "projects": null});
    let got = w
        .call(
            Method::PATCH,
            "/v1/orgs/acme/members/erin@example.com",
            Some(&w.owner),
            Some(change.clone()),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    v.json(Method::PATCH, member, got, Some(&change));
    let to = json!({"to": "erin@example.com"});
    let got = w
        .post("/v1/orgs/acme/transfer-ownership", &w.owner, to.clone())
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    v.json(Method::POST, transfer, got, Some(&to));
    v.json(
        Method::DELETE,
        member,
        w.delete("/v1/orgs/acme/members/viewer@acme.example", &erin)
            .await,
        None,
    );

    // Invitations.
    let invite = json!({"email": "dave@example.com", "role": "viewer", "expires_in_days": 2});
    let got = w
        .post("/v1/orgs/acme/invitations", &erin, invite.clone())
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    v.json(Method::POST, invitations, got, Some(&invite));
    v.json(
        Method::GET,
        invitations,
        w.get("/v1/orgs/acme/invitations", &erin).await,
        None,
    );
    let token = w.mailed_token("dave@example.com");
    let got = w
        .call(
            Method::POST,
            &format!("/v1/invitations/{token}/accept"),
            Some(&dave),
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    v.json(Method::POST, accept, got, None);
    let invite = json!({"email": "frank@example.com", "role": "member"});
    let (_, created) = w.post("/v1/orgs/acme/invitations", &erin, invite).await;
    let frank = w.token_for_new_user("frank@example.com").await;
    let token = w.mailed_token("frank@example.com");
    v.json(
        Method::POST,
        decline,
        w.call(
            Method::POST,
            &format!("/v1/invitations/{token}/decline"),
            Some(&frank),
            None,
        )
        .await,
        None,
    );
    let (_, created_again) = w
        .post(
            "/v1/orgs/acme/invitations",
            &erin,
            json!({"email": "frank@example.com", "role": "member"}),
        )
        .await;
    assert_ne!(created["id"], created_again["id"]);
    let id = created_again["id"].as_str().unwrap();
    v.json(
        Method::DELETE,
        invitation,
        w.delete(&format!("/v1/orgs/acme/invitations/{id}"), &erin)
            .await,
        None,
    );

    // Administration.
    v.json(Method::GET, orgs, w.get(orgs, &w.admin).await, None);
    v.json(
        Method::GET,
        orgs,
        w.get("/v1/admin/orgs?plan=starter&limit=1&offset=1", &w.admin)
            .await,
        None,
    );
    v.json(
        Method::POST,
        suspend,
        w.call(
            Method::POST,
            "/v1/admin/orgs/acme/suspend",
            Some(&w.admin),
            None,
        )
        .await,
        None,
    );
    v.json(
        Method::POST,
        reactivate,
        w.call(
            Method::POST,
            "/v1/admin/orgs/acme/reactivate",
            Some(&w.admin),
            None,
        )
        .await,
        None,
    );
    for action in [
        json!({"type": "suspend"}),
        json!({"type": "reactivate"}),
        json!({"type": "change_plan", "plan": "starter"}),
        json!({"type": "add_member", "user": "dave@example.com", "role": "viewer"}),
        json!({"type": "remove_member", "user": "dave@example.com"}),
        json!({"type": "delete", "volumes": true}),
    ] {
        let body = json!({"action": action, "orgs": ["globex", "nope"]});
        let got = w.post(bulk, &w.admin, body.clone()).await;
        assert_eq!(got.0, StatusCode::OK, "{}", got.1);
        v.json(Method::POST, bulk, got, Some(&body));
    }
    let got = w.get(audit, &w.admin).await;
    let entries = got.1.as_array().unwrap().len();
    assert!(entries > 10, "{}", got.1);
    v.json(Method::GET, audit, got, None);
    v.json(
        Method::GET,
        audit,
        w.get("/v1/admin/audit?org=acme&action=member.&limit=5", &erin)
            .await,
        None,
    );

    // Errors, too.
    for (method, template, got) in [
        (
            Method::POST,
            members,
            w.post(
                "/v1/orgs/acme/members",
                &erin,
                json!({"user": "nobody@example.com", "role": "viewer"}),
            )
            .await,
        ),
        (
            Method::PATCH,
            member,
            w.call(
                Method::PATCH,
                "/v1/orgs/acme/members/erin@example.com",
                Some(&erin),
                Some(json!({"role": "viewer"})),
            )
            .await,
        ),
        (
            Method::DELETE,
            member,
            w.delete("/v1/orgs/acme/members/erin@example.com", &dave)
                .await,
        ),
        (
            Method::POST,
            transfer,
            w.post(
                "/v1/orgs/acme/transfer-ownership",
                &dave,
                json!({"to": "x"}),
            )
            .await,
        ),
        (
            Method::POST,
            invitations,
            w.post(
                "/v1/orgs/acme/invitations",
                &erin,
                json!({"email": "x", "role": "viewer"}),
            )
            .await,
        ),
        (
            Method::GET,
            invitations,
            w.get("/v1/orgs/acme/invitations", &dave).await,
        ),
        (
            Method::DELETE,
            invitation,
            w.delete("/v1/orgs/acme/invitations/nope", &erin).await,
        ),
        (
            Method::POST,
            accept,
            w.call(
                Method::POST,
                "/v1/invitations/caas_inv_nope/accept",
                Some(&dave),
                None,
            )
            .await,
        ),
        (
            Method::POST,
            decline,
            w.call(
                Method::POST,
                "/v1/invitations/caas_inv_nope/decline",
                Some(&dave),
                None,
            )
            .await,
        ),
        (
            Method::GET,
            orgs,
            w.get("/v1/admin/orgs?limit=0", &w.admin).await,
        ),
        (Method::GET, orgs, w.get(orgs, &erin).await),
        (
            Method::POST,
            suspend,
            w.call(
                Method::POST,
                "/v1/admin/orgs/nope/suspend",
                Some(&w.admin),
                None,
            )
            .await,
        ),
        (
            Method::POST,
            reactivate,
            w.call(
                Method::POST,
                "/v1/admin/orgs/acme/reactivate",
                Some(&erin),
                None,
            )
            .await,
        ),
        (
            Method::POST,
            bulk,
            w.post(
                bulk,
                &w.admin,
                json!({"action": {"type": "suspend"}, "orgs": []}),
            )
            .await,
        ),
        (
            Method::GET,
            audit,
            w.get("/v1/admin/audit?since=yesterday", &w.admin).await,
        ),
        (Method::GET, audit, w.get(audit, &erin).await),
        (
            Method::GET,
            audit,
            w.get("/v1/admin/audit?org=globex", &erin).await,
        ),
    ] {
        assert!(got.0.is_client_error(), "{method} {template}: {got:?}");
        v.json(method, template, got, None);
    }
    let without = common::world_without_mailer().await;
    let got = without
        .post(
            "/v1/orgs/acme/invitations",
            &without.owner,
            json!({"email": "x@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::NOT_IMPLEMENTED);
    v.json(Method::POST, invitations, got, None);
    v.finish(40);
}

#[tokio::test]
async fn user_and_token_answers_match_their_documented_schemas() {
    let w = world().await;
    let doc = document(&w).await;
    let mut v = Verifier::new(&doc);
    let me = "/v1/me";
    let users = "/v1/admin/users";
    let user_tokens = "/v1/admin/users/{user}/tokens";
    let tokens = "/v1/tokens";
    let token = "/v1/tokens/{id}";

    // Users.
    let new = json!({"email": "bob@example.com", "display_name": "Bob", "platform_admin": false});
    let got = w.post(users, &w.admin, new.clone()).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    v.json(Method::POST, users, got, Some(&new));
    let new = json!({"email": "carol@example.com"});
    let got = w.post(users, &w.admin, new.clone()).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    v.json(Method::POST, users, got, Some(&new));
    v.json(Method::GET, users, w.get(users, &w.admin).await, None);
    let got = w
        .get("/v1/admin/users?search=EXAMPLE&limit=2&offset=1", &w.admin)
        .await;
    assert_eq!(got.1["items"].as_array().unwrap().len(), 2, "{}", got.1);
    assert_eq!(got.1["more"], true, "{}", got.1);
    v.json(Method::GET, users, got, None);

    // Tokens: handed over, then the user's own.
    let body = json!({"name": "first", "expires_in_days": 30});
    let got = w
        .post(
            "/v1/admin/users/bob@example.com/tokens",
            &w.admin,
            body.clone(),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let bob = got.1["secret"].as_str().unwrap().to_string();
    v.json(Method::POST, user_tokens, got, Some(&body));
    let body = json!({"name": "laptop"});
    let got = w.post(tokens, &bob, body.clone()).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let id = got.1["id"].as_str().unwrap().to_string();
    v.json(Method::POST, tokens, got, Some(&body));
    v.json(Method::GET, tokens, w.get(tokens, &bob).await, None);
    v.json(Method::GET, me, w.get(me, &bob).await, None);
    v.json(Method::GET, me, w.get(me, &w.owner).await, None);
    v.json(
        Method::DELETE,
        token,
        w.delete(&format!("/v1/tokens/{id}"), &bob).await,
        None,
    );
    // A scoped token: the request by names, the answer by ids.
    let body = json!({"name": "acme-ro", "expires_in_days": 7, "scope": {"read_only": true, "orgs": [{"org": "acme", "projects": ["shop"]}, {"org": "globex"}]}});
    let got = w.post(tokens, &w.admin, body.clone()).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    assert_eq!(got.1["scope"]["read_only"], true, "{}", got.1);
    assert!(
        got.1["scope"]["orgs"][0]["projects"][0].is_string(),
        "{}",
        got.1
    );
    assert!(got.1["scope"]["orgs"][1]["projects"].is_null(), "{}", got.1);
    let narrow = got.1["secret"].as_str().unwrap().to_string();
    v.json(Method::POST, tokens, got, Some(&body));
    v.json(Method::GET, tokens, w.get(tokens, &w.admin).await, None);
    v.json(Method::GET, me, w.get(me, &narrow).await, None);
    // Disabling and enabling a user.
    let disable = "/v1/admin/users/{user}/disable";
    let enable = "/v1/admin/users/{user}/enable";
    let got = w
        .call(
            Method::POST,
            "/v1/admin/users/bob@example.com/disable",
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["disabled"], true, "{}", got.1);
    v.json(Method::POST, disable, got, None);
    v.json(Method::GET, users, w.get(users, &w.admin).await, None);
    let got = w
        .call(
            Method::POST,
            "/v1/admin/users/bob@example.com/enable",
            Some(&w.admin),
            None,
        )
        .await;
    assert_eq!(got.1["disabled"], false, "{}", got.1);
    v.json(Method::POST, enable, got, None);
    let admin_id = w.get(me, &w.admin).await.1["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Errors, too.
    for (method, template, got) in [
        (
            Method::POST,
            users,
            w.post(users, &w.admin, json!({"email": "bob@example.com"}))
                .await,
        ),
        (
            Method::POST,
            users,
            w.post(users, &w.admin, json!({"email": "not an address"}))
                .await,
        ),
        (
            Method::POST,
            users,
            w.post(users, &w.owner, json!({"email": "x@example.com"}))
                .await,
        ),
        (
            Method::GET,
            users,
            w.get("/v1/admin/users?limit=501", &w.admin).await,
        ),
        (Method::GET, users, w.get(users, &w.owner).await),
        (
            Method::POST,
            user_tokens,
            w.post(
                "/v1/admin/users/nobody@example.com/tokens",
                &w.admin,
                json!({"name": "x"}),
            )
            .await,
        ),
        (
            Method::POST,
            user_tokens,
            w.post(
                "/v1/admin/users/bob@example.com/tokens",
                &w.owner,
                json!({"name": "x"}),
            )
            .await,
        ),
        (
            Method::POST,
            user_tokens,
            w.post(
                "/v1/admin/users/not-an-address/tokens",
                &w.admin,
                json!({"name": "x"}),
            )
            .await,
        ),
        (
            Method::POST,
            tokens,
            w.post(tokens, &bob, json!({"name": ""})).await,
        ),
        (
            Method::POST,
            tokens,
            w.post(tokens, &bob, json!({"name": "x", "expires_in_days": 3651}))
                .await,
        ),
        (
            Method::DELETE,
            token,
            w.delete(&format!("/v1/tokens/{id}"), &bob).await,
        ),
        (
            Method::DELETE,
            token,
            w.delete("/v1/tokens/nope", &bob).await,
        ),
        (
            Method::POST,
            tokens,
            w.post(tokens, &narrow, json!({"name": "x"})).await,
        ),
        (
            Method::POST,
            tokens,
            w.post(
                tokens,
                &bob,
                json!({"name": "x", "scope": {"orgs": [{"org": "acme"}]}}),
            )
            .await,
        ),
        (
            Method::POST,
            tokens,
            w.post(
                tokens,
                &w.admin,
                json!({"name": "x", "scope": {"orgs": [{"org": "acme"}, {"org": "acme"}]}}),
            )
            .await,
        ),
        (
            Method::POST,
            disable,
            w.call(
                Method::POST,
                &format!("/v1/admin/users/{admin_id}/disable"),
                Some(&w.admin),
                None,
            )
            .await,
        ),
        (
            Method::POST,
            disable,
            w.call(
                Method::POST,
                "/v1/admin/users/bob@example.com/disable",
                Some(&w.owner),
                None,
            )
            .await,
        ),
        (
            Method::POST,
            disable,
            w.call(
                Method::POST,
                "/v1/admin/users/nobody@example.com/disable",
                Some(&w.admin),
                None,
            )
            .await,
        ),
        (
            Method::POST,
            enable,
            w.call(
                Method::POST,
                "/v1/admin/users/not-an-address/enable",
                Some(&w.admin),
                None,
            )
            .await,
        ),
    ] {
        assert!(got.0.is_client_error(), "{method} {template}: {got:?}");
        v.json(method, template, got, None);
    }
    v.finish(35);
}

#[test]
fn the_checker_notices_undocumented_and_missing_fields() {
    let doc = json!({"components": {"schemas": {"P": {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}}}});
    let schema = json!({"$ref": "#/components/schemas/P"});
    let mut errors = Vec::new();
    check(&doc, &schema, &json!({"a": 1}), "x", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    check(&doc, &schema, &json!({"a": "1", "b": 2}), "x", &mut errors);
    assert_eq!(errors.len(), 2, "{errors:?}");
    errors.clear();
    check(&doc, &schema, &json!({}), "x", &mut errors);
    assert_eq!(errors.len(), 1, "{errors:?}");

    // A flattened struct: each `allOf` member declares some of the fields, none declares `c`.
    let flattened = json!({"allOf": [
        {"$ref": "#/components/schemas/P"},
        {"type": "object", "required": ["b"], "properties": {"b": {"type": "string"}}},
    ]});
    errors.clear();
    check(
        &doc,
        &flattened,
        &json!({"a": 1, "b": "x"}),
        "x",
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    check(
        &doc,
        &flattened,
        &json!({"a": 1, "b": "x", "c": 2}),
        "x",
        &mut errors,
    );
    assert_eq!(errors, ["x.c: not documented"]);
    errors.clear();
    check(&doc, &flattened, &json!({"b": 1}), "x", &mut errors);
    assert_eq!(errors.len(), 2, "{errors:?}");
}
