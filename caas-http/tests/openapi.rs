//! The OpenAPI document: it parses, documents exactly the routes the router serves, and its
//! schemas describe what the API really answers.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{SERVICES, World, web_app, world, world_without_backups};
use http::{Method, StatusCode};
use serde_json::{Value, json};

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
    assert_eq!(served.len(), 50);
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
            let public = matches!(path.as_str(), "/v1/health" | "/v1/openapi.json");
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
/// required and declared properties, `oneOf`, `$ref`. Returns what does not match.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        assert!(!target.is_null(), "dangling reference {r}");
        return check(doc, target, value, at, errors);
    }
    if let Some(branches) = schema["oneOf"].as_array() {
        let matching = branches
            .iter()
            .filter(|b| {
                let mut e = Vec::new();
                check(doc, b, value, at, &mut e);
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
            check(doc, s, value, at, errors);
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
                        _ if properties.is_some() => errors.push(format!("{path}: not documented")),
                        _ => {}
                    },
                }
            }
        }
        _ => {}
    }
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

#[tokio::test]
async fn real_answers_and_requests_match_their_documented_schemas() {
    let w = world().await;
    w.runtime.add_image("redis:7-alpine");
    let doc = document(&w).await;
    let svc = "/v1/orgs/{org}/projects/{project}/services";
    let mut checked = 0;
    let mut errors = Vec::new();
    let mut verify = |method: Method,
                      template: &str,
                      got: (StatusCode, Value),
                      request: Option<&Value>| {
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
            checked += 1;
            return;
        }
        check(
            &doc,
            schema_of(&doc, &method, template, &status),
            &got.1,
            &format!("{method} {template} {status}"),
            &mut errors,
        );
        if let Some(body) = request {
            check(
                &doc,
                schema_of(&doc, &method, template, "request"),
                body,
                &format!("{method} {template} request"),
                &mut errors,
            );
        }
        checked += 1;
    };

    let health = w.call(Method::GET, "/v1/health", None, None).await;
    verify(Method::GET, "/v1/health", health, None);
    verify(
        Method::GET,
        "/v1/admin/runtime",
        w.get("/v1/admin/runtime", &w.admin).await,
        None,
    );
    verify(
        Method::POST,
        "/v1/admin/runtime/test",
        w.call(Method::POST, "/v1/admin/runtime/test", Some(&w.admin), None)
            .await,
        None,
    );
    verify(
        Method::GET,
        "/v1/admin/runtime/detect",
        w.get("/v1/admin/runtime/detect", &w.admin).await,
        None,
    );
    let plan = json!({"name": "pro", "display_name": "Pro", "limits": {"cpu_millis": 1000, "memory_bytes": 1_073_741_824u64, "storage_bytes": 0, "max_containers": 2, "max_projects": 1}, "monthly_price_cents": 900, "currency": "EUR"});
    verify(
        Method::POST,
        "/v1/admin/plans",
        w.post("/v1/admin/plans", &w.admin, plan.clone()).await,
        Some(&plan),
    );
    verify(
        Method::GET,
        "/v1/admin/plans",
        w.get("/v1/admin/plans", &w.owner).await,
        None,
    );
    let patch = json!({"display_name": "Pro+"});
    verify(
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
    verify(
        Method::POST,
        "/v1/orgs",
        w.post("/v1/orgs", &w.admin, org.clone()).await,
        Some(&org),
    );
    verify(
        Method::GET,
        "/v1/orgs",
        w.get("/v1/orgs", &w.admin).await,
        None,
    );
    let sub = json!({"plan": "pro", "status": "active"});
    verify(
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
    verify(
        Method::GET,
        "/v1/orgs/{org}/usage",
        w.get("/v1/orgs/acme/usage", &w.owner).await,
        None,
    );
    let project = json!({"name": "blog"});
    verify(
        Method::POST,
        "/v1/orgs/{org}/projects",
        w.post("/v1/orgs/acme/projects", &w.owner, project.clone())
            .await,
        Some(&project),
    );
    verify(
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
    verify(
        Method::POST,
        svc,
        w.post(SERVICES, &w.owner, app.clone()).await,
        Some(&app),
    );
    let db = json!({"name": "cache", "database": {"engine": "redis", "image": "redis:7-alpine"}});
    verify(
        Method::POST,
        svc,
        w.post(SERVICES, &w.owner, db.clone()).await,
        Some(&db),
    );
    verify(Method::GET, svc, w.get(SERVICES, &w.owner).await, None);
    let one = "/v1/orgs/{org}/projects/{project}/services/{service}";
    verify(
        Method::GET,
        one,
        w.get(&format!("{SERVICES}/web"), &w.owner).await,
        None,
    );
    for action in ["stop", "start", "restart"] {
        verify(
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
    verify(
        Method::GET,
        &format!("{one}/logs"),
        w.get(&format!("{SERVICES}/web/logs"), &w.owner).await,
        None,
    );
    // Volumes and backups: the web service above mounts `data`.
    let volumes = "/v1/orgs/{org}/volumes";
    let volume = "/v1/orgs/{org}/volumes/{volume}";
    let new_volume = json!({"project": "shop", "name": "files", "size_bytes": 67_108_864u64});
    verify(
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
    w.platform.check_volumes().await.unwrap();
    verify(
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
    verify(Method::POST, &backups, (status, backup), Some(&live));
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
    verify(Method::POST, &backups, (status, failed), None);
    verify(
        Method::GET,
        &backups,
        w.get("/v1/orgs/acme/volumes/data/backups", &w.owner).await,
        None,
    );
    let schedule = format!("{volume}/backup-schedule");
    let every_night =
        json!({"cron": "0 3 * * *", "keep_last": 3, "max_age_days": 7, "consistent": true});
    verify(
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
    verify(Method::GET, volume, (status, with_schedule), None);
    verify(
        Method::DELETE,
        &schedule,
        w.delete("/v1/orgs/acme/volumes/data/backup-schedule", &w.owner)
            .await,
        None,
    );
    verify(
        Method::GET,
        "/v1/orgs/{org}/backups",
        w.get("/v1/orgs/acme/backups", &w.owner).await,
        None,
    );
    let restore = "/v1/orgs/{org}/backups/{backup}/restore";
    let restore_path = format!("/v1/orgs/acme/backups/{backup_id}/restore");
    verify(
        Method::POST,
        restore,
        w.call(Method::POST, &restore_path, Some(&w.owner), None)
            .await,
        None,
    );
    let into_new =
        json!({"new_volume": {"project": "shop", "name": "copy", "size_bytes": 67_108_864u64}});
    verify(
        Method::POST,
        restore,
        w.post(&restore_path, &w.owner, into_new.clone()).await,
        Some(&into_new),
    );
    let into_existing = json!({"volume": "copy"});
    verify(
        Method::POST,
        restore,
        w.post(&restore_path, &w.owner, into_existing.clone()).await,
        Some(&into_existing),
    );
    verify(
        Method::POST,
        restore,
        w.post(&restore_path, &w.member, json!({})).await,
        None,
    );
    verify(
        Method::DELETE,
        "/v1/orgs/{org}/backups/{backup}",
        w.delete(&format!("/v1/orgs/acme/backups/{failed_id}"), &w.owner)
            .await,
        None,
    );
    verify(
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
    verify(
        Method::DELETE,
        volume,
        w.delete("/v1/orgs/acme/volumes/data", &w.owner).await,
        None,
    );
    verify(
        Method::DELETE,
        volume,
        w.delete("/v1/orgs/acme/volumes/copy", &w.owner).await,
        None,
    );
    let without = world_without_backups().await;
    without
        .post("/v1/orgs/acme/volumes", &without.owner, new_volume.clone())
        .await;
    verify(
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
    verify(
        Method::GET,
        "/v1/orgs/{org}",
        w.get("/v1/orgs/acme", &w.stranger).await,
        None,
    );
    verify(
        Method::POST,
        svc,
        w.post(SERVICES, &w.owner, json!({"name": "x"})).await,
        None,
    );
    assert!(
        errors.is_empty(),
        "answers differ from the document:\n{}",
        errors.join("\n")
    );
    assert!(checked >= 40, "{checked}");
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
}
