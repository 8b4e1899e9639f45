//! Who may call what, on every route: no token → 401; a stranger to the organization → 404
//! (exactly as for an organization that does not exist); a non-administrator on administrator
//! routes → 403; roles too low → 403.

#![allow(clippy::unwrap_used)]

mod common;

use caas_core::model::Role;
use common::{SERVICES, World, assert_error, memory_config, web_app, world};
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// A concrete path for a route template: `acme`, `shop`, `web`, `starter`, the volume `data`,
/// the backup `backup`, the template `wordpress` and its instance `blog`.
fn concrete(template: &str, backup: &str) -> String {
    template
        .replace("{org}", "acme")
        .replace("{project}", "shop")
        .replace("{service}", "web")
        .replace("{plan}", "starter")
        .replace("{volume}", "data")
        .replace("{backup}", backup)
        .replace("{template}", "wordpress")
        .replace("{instance}", "blog")
        .replace("{user}", "member@acme.example")
        .replace("{invitation}", "0190f0c0-0000-7000-8000-000000000000")
        .replace("{token}", "caas_inv_not-a-real-token")
        .replace("{id}", "0190f0c0-0000-7000-8000-000000000001")
}

/// A small template definition with the id `id`.
fn definition(id: &str) -> Value {
    json!({
        "format": 1,
        "id": id,
        "name": "Mine",
        "category": "demo",
        "description": "One web server.",
        "services": [{"name": "web", "image": common::IMAGE}]
    })
}

/// A valid body for the routes that take one.
fn body(method: &Method, template: &str) -> Option<Value> {
    let limits = json!({"cpu_millis": 1000, "memory_bytes": 1_073_741_824u64, "storage_bytes": 0, "max_containers": 1, "max_projects": 1});
    match (method.as_str(), template) {
        ("PUT", "/v1/admin/runtime") => Some(serde_json::to_value(memory_config("new")).unwrap()),
        ("POST", "/v1/admin/plans") => Some(json!({"name": "gold", "limits": limits})),
        ("PATCH", "/v1/admin/plans/{plan}") => Some(json!({"monthly_price_cents": 1})),
        ("POST", "/v1/orgs") => Some(json!({"slug": "initech"})),
        ("PATCH", "/v1/orgs/{org}") => Some(json!({"display_name": "Mine"})),
        ("PUT", "/v1/orgs/{org}/subscription") => Some(json!({"plan": "starter"})),
        ("POST", "/v1/orgs/{org}/projects") => Some(json!({"name": "other"})),
        ("POST", "/v1/orgs/{org}/projects/{project}/services") => Some(web_app("api")),
        ("POST", "/v1/orgs/{org}/projects/{project}/services/{service}/domains") => {
            Some(json!({"hostname": "shop.example.com"}))
        }
        ("POST", "/v1/orgs/{org}/domains/{domain}/verify") => Some(json!({"method": "dns"})),
        ("PATCH", "/v1/orgs/{org}/projects/{project}/services/{service}") => {
            Some(json!({"env_set": [{"key": "A", "value": "1"}]}))
        }
        ("POST", "/v1/orgs/{org}/volumes") => {
            Some(json!({"project": "shop", "name": "other", "size_bytes": 1_048_576}))
        }
        ("POST", "/v1/orgs/{org}/volumes/{volume}/backups") => Some(json!({"consistent": false})),
        ("PUT", "/v1/orgs/{org}/volumes/{volume}/backup-schedule") => {
            Some(json!({"cron": "0 3 * * *", "keep_last": 7}))
        }
        ("POST", "/v1/orgs/{org}/backups/{backup}/restore") => Some(json!({"volume": "data"})),
        ("PUT", "/v1/orgs/{org}/alerts") => Some(json!({"rules": [
            {"name": "looping", "condition": {"type": "restart_loop", "restarts": 3}}
        ]})),
        ("POST", "/v1/orgs/{org}/projects/{project}/templates/{template}/deploy") => {
            Some(json!({"name": "site"}))
        }
        ("POST", "/v1/admin/templates/{template}") => {
            Some(json!({"template": definition("wordpress")}))
        }
        ("PUT", "/v1/admin/templates/{template}") => Some(json!({"enabled": false})),
        ("POST", "/v1/orgs/{org}/members") => {
            Some(json!({"user": "boss@globex.example", "role": "viewer"}))
        }
        ("PATCH", "/v1/orgs/{org}/members/{user}") => Some(json!({"role": "viewer"})),
        ("POST", "/v1/orgs/{org}/transfer-ownership") => Some(json!({"to": "member@acme.example"})),
        ("POST", "/v1/orgs/{org}/invitations") => {
            Some(json!({"email": "new@example.com", "role": "viewer"}))
        }
        ("POST", "/v1/admin/orgs/bulk") => {
            Some(json!({"action": {"type": "suspend"}, "orgs": ["acme"]}))
        }
        ("POST", "/v1/admin/users") => Some(json!({"email": "new@example.com"})),
        ("POST", "/v1/admin/users/{user}/tokens") | ("POST", "/v1/tokens") => {
            Some(json!({"name": "ci"}))
        }
        _ => None,
    }
}

fn is_public(template: &str) -> bool {
    matches!(template, "/v1/health" | "/v1/openapi.json")
}

/// `web` deployed, and the volume `data` with one backup (its id returned).
async fn world_with_web() -> (World, String) {
    let w = world().await;
    w.deploy_web().await;
    let (status, v) = w
        .post(
            "/v1/orgs/acme/volumes",
            &w.owner,
            json!({"project": "shop", "name": "data", "size_bytes": 1_048_576}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, b) = w
        .call(
            Method::POST,
            "/v1/orgs/acme/volumes/data/backups",
            Some(&w.owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let backup = b["id"].as_str().unwrap().to_string();
    (w, backup)
}

#[tokio::test]
async fn every_route_but_health_and_the_document_requires_a_token() {
    let (w, backup) = world_with_web().await;
    let routes = caas_http::routes();
    assert!(routes.len() >= 50, "{routes:?}");
    for (method, template) in routes {
        let path = concrete(template, &backup);
        for token in [None, Some("caas_not-a-real-token"), Some("garbage")] {
            let got = w
                .call(method.clone(), &path, token, body(&method, template))
                .await;
            if template.starts_with("/.well-known/caas-challenge/") {
                // No credentials needed; a token of no pending claim is simply not found.
                assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
            } else if is_public(template) {
                assert_eq!(got.0, StatusCode::OK, "{method} {path}");
            } else {
                assert_error(&got, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
            }
        }
    }
    // Nothing was changed by the refused calls.
    let (_, services) = w.get(SERVICES, &w.owner).await;
    assert_eq!(services.as_array().unwrap().len(), 1);
    let (_, volumes) = w.get("/v1/orgs/acme/volumes", &w.owner).await;
    assert_eq!(volumes.as_array().unwrap().len(), 1);
    let (_, backups) = w.get("/v1/orgs/acme/backups", &w.owner).await;
    assert_eq!(backups.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_401_names_the_bearer_scheme_and_needs_no_valid_body() {
    let w = world().await;
    let req = http::Request::post("/v1/orgs")
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{not json"))
        .unwrap();
    let res = tower::ServiceExt::oneshot(w.app.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn strangers_get_404_for_everything_in_another_organization() {
    let (w, backup) = world_with_web().await;
    for (method, template) in caas_http::routes() {
        if !template.starts_with("/v1/orgs/{org}") {
            continue;
        }
        let path = concrete(template, &backup);
        let got = w
            .call(
                method.clone(),
                &path,
                Some(&w.stranger),
                body(&method, template),
            )
            .await;
        if template == "/v1/orgs/{org}/subscription" && method == Method::PUT {
            // Administrators only, whoever asks and whichever organization: 403 reveals nothing.
            assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
            let missing = w
                .call(
                    method.clone(),
                    "/v1/orgs/nope/subscription",
                    Some(&w.stranger),
                    body(&method, template),
                )
                .await;
            assert_eq!(missing, got);
            continue;
        }
        assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_eq!(got.1["details"]["kind"], "organization", "{method} {path}");
        // Exactly the answer for an organization that does not exist.
        let missing = w
            .call(
                method.clone(),
                &path.replacen("/acme", "/nope", 1),
                Some(&w.stranger),
                body(&method, template),
            )
            .await;
        assert_eq!(missing.0, got.0, "{method} {path}");
        assert_eq!(missing.1["code"], got.1["code"]);
    }
    // And the stranger's list does not show it.
    let (status, orgs) = w.get("/v1/orgs", &w.stranger).await;
    assert_eq!(status, StatusCode::OK);
    let slugs: Vec<&str> = orgs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["globex"]);
    // Nothing of acme's changed.
    let (_, org) = w.get("/v1/orgs/acme", &w.owner).await;
    assert_eq!(org["display_name"], "acme");
    let (_, services) = w.get(SERVICES, &w.owner).await;
    assert_eq!(services.as_array().unwrap().len(), 1);
    let (_, volumes) = w.get("/v1/orgs/acme/volumes", &w.owner).await;
    assert_eq!(volumes.as_array().unwrap().len(), 1);
    assert_eq!(volumes[0]["backup_schedule"], Value::Null);
    let (_, backups) = w.get("/v1/orgs/acme/backups", &w.owner).await;
    assert_eq!(backups.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn non_administrators_get_403_on_administrator_routes_but_may_read_plans() {
    let w = world().await;
    for (method, template) in caas_http::routes() {
        if !template.starts_with("/v1/admin/") {
            continue;
        }
        let path = concrete(template, "");
        for token in [&w.owner, &w.stranger] {
            let got = w
                .call(method.clone(), &path, Some(token), body(&method, template))
                .await;
            if method == Method::GET && template.starts_with("/v1/admin/plans") {
                assert_eq!(got.0, StatusCode::OK, "plans are the price list: {got:?}");
            } else {
                assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
            }
        }
    }
    let (_, plan) = w.get("/v1/admin/plans/starter", &w.admin).await;
    assert_eq!(plan["monthly_price_cents"], 0, "unchanged");
}

#[tokio::test]
async fn viewers_read_but_may_not_deploy_operate_or_delete() {
    let (w, _) = world_with_web().await;
    let (status, _) = w.get(SERVICES, &w.viewer).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = w.get(&format!("{SERVICES}/web/logs"), &w.viewer).await;
    assert_eq!(status, StatusCode::OK);
    let got = w.post(SERVICES, &w.viewer, web_app("api")).await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    assert!(
        got.1["message"]
            .as_str()
            .unwrap()
            .contains("service.deploy"),
        "{}",
        got.1
    );
    let got = w
        .post(
            SERVICES,
            &w.viewer,
            json!({"name": "db", "database": {"engine": "postgres"}}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    for action in ["start", "stop", "restart"] {
        let got = w
            .call(
                Method::POST,
                &format!("{SERVICES}/web/{action}"),
                Some(&w.viewer),
                None,
            )
            .await;
        assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    }
    let got = w
        .call(
            Method::DELETE,
            &format!("{SERVICES}/web"),
            Some(&w.viewer),
            None,
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let got = w
        .post("/v1/orgs/acme/projects", &w.viewer, json!({"name": "blog"}))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
}

#[tokio::test]
async fn members_deploy_but_do_not_manage_projects_or_the_organization() {
    let w = world().await;
    let (status, body) = w.post(SERVICES, &w.member, web_app("web")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let got = w
        .call(
            Method::DELETE,
            "/v1/orgs/acme/projects/shop",
            Some(&w.member),
            None,
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let got = w
        .call(
            Method::PATCH,
            "/v1/orgs/acme",
            Some(&w.member),
            Some(json!({"display_name": "Members Inc."})),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
    let got = w
        .call(Method::DELETE, "/v1/orgs/acme", Some(&w.member), None)
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
}

/// The monitoring routes: live stats and their stream, metrics and their chart, health,
/// events, alerts and the usage report.
const MONITORING: [(Method, &str); 9] = [
    (
        Method::GET,
        "/v1/orgs/{org}/projects/{project}/services/{service}/stats",
    ),
    (
        Method::GET,
        "/v1/orgs/{org}/projects/{project}/services/{service}/stats/stream",
    ),
    (
        Method::GET,
        "/v1/orgs/{org}/projects/{project}/services/{service}/metrics",
    ),
    (
        Method::GET,
        "/v1/orgs/{org}/projects/{project}/services/{service}/metrics.svg",
    ),
    (
        Method::GET,
        "/v1/orgs/{org}/projects/{project}/services/{service}/health",
    ),
    (
        Method::GET,
        "/v1/orgs/{org}/projects/{project}/services/{service}/events",
    ),
    (Method::GET, "/v1/orgs/{org}/alerts"),
    (Method::PUT, "/v1/orgs/{org}/alerts"),
    (Method::GET, "/v1/orgs/{org}/usage/report"),
];

/// The status of an answer, without reading its body (a stats stream never ends).
async fn status_of(
    w: &World,
    method: &Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> StatusCode {
    let mut req = http::Request::builder()
        .method(method.clone())
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            axum::body::Body::from(b.to_string())
        }
        None => axum::body::Body::empty(),
    };
    let res = tower::ServiceExt::oneshot(w.app.clone(), req.body(body).unwrap())
        .await
        .unwrap();
    res.status()
}

#[tokio::test]
async fn viewers_read_every_monitoring_route_and_only_admins_change_alerts() {
    let (w, _) = world_with_web().await;
    let served = caas_http::routes();
    for (method, template) in &MONITORING {
        assert!(
            served.iter().any(|(m, t)| m == method && t == template),
            "{method} {template} is served"
        );
    }
    let admin = w.token_with_role("admin@acme.example", Role::Admin).await;
    let roles = [
        ("viewer", &w.viewer),
        ("member", &w.member),
        ("admin", &admin),
        ("owner", &w.owner),
    ];
    for (method, template) in &MONITORING {
        let path = concrete(template, "");
        for (role, token) in roles {
            let got = status_of(&w, method, &path, token, body(method, template)).await;
            let may = *method == Method::GET || matches!(role, "admin" | "owner");
            let want = if may {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(got, want, "{role}: {method} {path}");
        }
    }
    let (_, view) = w.get("/v1/orgs/acme/alerts", &w.viewer).await;
    assert_eq!(view["settings"]["rules"][0]["name"], "looping");
}

#[tokio::test]
async fn another_organizations_services_and_alerts_are_404_on_every_monitoring_route() {
    let (w, _) = world_with_web().await;
    // globex has a project and a service of its own.
    let (status, p) = w
        .post(
            "/v1/orgs/globex/projects",
            &w.stranger,
            json!({"name": "lab"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let (status, s) = w
        .post(
            "/v1/orgs/globex/projects/lab/services",
            &w.stranger,
            web_app("api"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    for (method, template) in &MONITORING {
        let theirs = template
            .replace("{org}", "globex")
            .replace("{project}", "lab")
            .replace("{service}", "api");
        // acme's owner on globex's paths, on globex's project under acme, and the other way.
        let mixed = template
            .replace("{org}", "acme")
            .replace("{project}", "lab")
            .replace("{service}", "api");
        let ours = concrete(template, "");
        for (path, token) in [
            (&theirs, &w.owner),
            (&ours, &w.stranger),
            (&mixed, &w.owner),
        ] {
            if path == &mixed && !template.contains("{project}") {
                continue;
            }
            let got = w
                .call(method.clone(), path, Some(token), body(method, template))
                .await;
            assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
        }
        // The owner of globex still reads its own.
        if *method == Method::GET && !template.ends_with("/stream") {
            let (status, body) = w.get(&theirs, &w.stranger).await;
            assert_eq!(status, StatusCode::OK, "{theirs}: {body}");
        }
    }
    let (_, acme) = w.get("/v1/orgs/acme/alerts", &w.owner).await;
    assert_eq!(
        acme["settings"]["rules"],
        json!([]),
        "nothing of acme's changed"
    );
}

/// The customers' template routes: the catalogue, deploys and instances.
const TEMPLATES: [(Method, &str); 5] = [
    (Method::GET, "/v1/templates"),
    (Method::GET, "/v1/templates/{template}"),
    (
        Method::POST,
        "/v1/orgs/{org}/projects/{project}/templates/{template}/deploy",
    ),
    (
        Method::GET,
        "/v1/orgs/{org}/projects/{project}/template-instances",
    ),
    (
        Method::DELETE,
        "/v1/orgs/{org}/projects/{project}/template-instances/{instance}",
    ),
];

/// [`world_with_web`] with WordPress's images.
async fn world_for_templates() -> World {
    let (w, _) = world_with_web().await;
    w.runtime.add_image("wordpress:6-apache");
    w.runtime.add_image("mysql:8.4");
    w
}

#[tokio::test]
async fn viewers_browse_templates_and_list_instances_members_deploy_and_delete_them() {
    let w = world_for_templates().await;
    let served = caas_http::routes();
    for (method, template) in &TEMPLATES {
        assert!(
            served.iter().any(|(m, t)| m == method && t == template),
            "{method} {template} is served"
        );
    }
    let admin = w.token_with_role("admin@acme.example", Role::Admin).await;
    let roles = [
        ("member", &w.member),
        ("admin", &admin),
        ("owner", &w.owner),
        ("viewer", &w.viewer),
    ];
    for (role, token) in roles {
        if role == "viewer" {
            // Something to refuse to delete.
            let (status, body) = w
                .post(
                    &concrete(TEMPLATES[2].1, ""),
                    &w.owner,
                    json!({"name": "blog"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        // Each role's own instance `blog`, deployed and deleted (with its volumes, so the
        // next role's can be called the same) through the routes.
        for (method, template) in &TEMPLATES {
            let mut path = concrete(template, "");
            if *method == Method::DELETE {
                path.push_str("?volumes=true");
            }
            let body = (*method == Method::POST).then(|| json!({"name": "blog"}));
            let got = w.call(method.clone(), &path, Some(token), body).await;
            let want = match (role, method.as_str()) {
                (_, "GET") => StatusCode::OK,
                ("viewer", _) => StatusCode::FORBIDDEN,
                (_, "POST") => StatusCode::CREATED,
                _ => StatusCode::NO_CONTENT,
            };
            assert_eq!(got.0, want, "{role}: {method} {path}: {}", got.1);
            if want == StatusCode::FORBIDDEN {
                assert_error(&got, want, "PERMISSION_DENIED");
            }
        }
        // A dry run is a deploy too.
        let got = w
            .post(
                &format!("{}?dry_run=true", concrete(TEMPLATES[2].1, "")),
                token,
                json!({"name": "blog"}),
            )
            .await;
        let want = if role == "viewer" {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::OK
        };
        assert_eq!(got.0, want, "{role}: {}", got.1);
    }
    // The viewer's refusals changed nothing.
    let (_, instances) = w
        .get("/v1/orgs/acme/projects/shop/template-instances", &w.viewer)
        .await;
    assert_eq!(instances.as_array().unwrap().len(), 1, "{instances}");
    assert_eq!(instances[0]["name"], "blog");
    let (_, services) = w.get(SERVICES, &w.owner).await;
    assert_eq!(
        services.as_array().unwrap().len(),
        3,
        "web and the blog's two"
    );
}

#[tokio::test]
async fn another_organizations_projects_and_instances_are_404_on_every_template_route() {
    let w = world_for_templates().await;
    // globex has a project with an instance of its own, and acme one called the same.
    let (status, p) = w
        .post(
            "/v1/orgs/globex/projects",
            &w.stranger,
            json!({"name": "lab"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let (status, d) = w
        .post(
            "/v1/orgs/globex/projects/lab/templates/wordpress/deploy",
            &w.stranger,
            json!({"name": "blog"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    let (status, d) = w
        .post(
            "/v1/orgs/acme/projects/shop/templates/wordpress/deploy",
            &w.owner,
            json!({"name": "blog"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    for (method, template) in TEMPLATES.iter().filter(|(_, t)| t.starts_with("/v1/orgs/")) {
        let theirs = template
            .replace("{org}", "globex")
            .replace("{project}", "lab")
            .replace("{template}", "wordpress")
            .replace("{instance}", "blog");
        let mixed = template
            .replace("{org}", "acme")
            .replace("{project}", "lab")
            .replace("{template}", "wordpress")
            .replace("{instance}", "blog");
        let ours = concrete(template, "");
        for (path, token) in [
            (&theirs, &w.owner),
            (&ours, &w.stranger),
            (&mixed, &w.owner),
        ] {
            let body = (*method == Method::POST).then(|| json!({"name": "other"}));
            let got = w.call(method.clone(), path, Some(token), body).await;
            assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
        }
    }
    // Each still has its own.
    for (path, token) in [
        (
            "/v1/orgs/globex/projects/lab/template-instances",
            &w.stranger,
        ),
        ("/v1/orgs/acme/projects/shop/template-instances", &w.owner),
    ] {
        let (status, list) = w.get(path, token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {list}");
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["blog"], "{path}");
    }
}
