//! Application templates over HTTP: the catalogue (`/v1/templates[/{template}]`), deploys and
//! dry runs (`…/projects/{project}/templates/{template}/deploy`), instances
//! (`…/projects/{project}/template-instances[/{instance}]`) and the administrators' catalogue
//! (`/v1/admin/templates/{template}`).

#![allow(clippy::unwrap_used)]

mod common;

use caas_core::memory::RuntimeOp;
use caas_core::model::REDACTED;
use common::{
    IMAGE, PlanLimits, SERVICES, World, assert_error, assert_invalid, limits, world_with,
};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const CATALOGUE: &str = "/v1/templates";
const PROJECT: &str = "/v1/orgs/acme/projects/shop";
const INSTANCES: &str = "/v1/orgs/acme/projects/shop/template-instances";
const ADMIN: &str = "/v1/admin/templates";
const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// A world whose engine has WordPress's images.
async fn world_for(limits: PlanLimits) -> World {
    let w = world_with(limits).await;
    w.runtime.add_image("wordpress:6-apache");
    w.runtime.add_image("mysql:8.4");
    w
}

async fn world() -> World {
    world_for(limits()).await
}

fn deploy_path(template: &str, dry_run: bool) -> String {
    let query = if dry_run { "?dry_run=true" } else { "" };
    format!("{PROJECT}/templates/{template}/deploy{query}")
}

impl World {
    async fn deploy(&self, template: &str, body: Value) -> (StatusCode, Value) {
        self.post(&deploy_path(template, false), &self.member, body)
            .await
    }

    async fn deploy_blog(&self, name: &str) -> Value {
        let (status, body) = self.deploy("wordpress", json!({ "name": name })).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn names(&self, path: &str) -> Vec<String> {
        let (status, list) = self.get(path, &self.viewer).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list.as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect()
    }

    async fn catalogue_ids(&self, token: &str) -> Vec<String> {
        let (status, list) = self.get(CATALOGUE, token).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list.as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// The value of an env variable of a planned or deployed service.
fn env<'a>(service: &'a Value, key: &str) -> &'a Value {
    &service["spec"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == key)
        .unwrap_or_else(|| panic!("{key} in {service}"))["value"]
}

fn output<'a>(outputs: &'a Value, name: &str) -> &'a Value {
    outputs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {outputs}"))
}

#[tokio::test]
async fn the_catalogue_is_browsed_whole_or_by_category() {
    let w = world().await;
    let (status, all) = w.get(CATALOGUE, &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let all = all.as_array().unwrap();
    assert!(all.len() >= 10, "{all:?}");
    for e in all {
        assert_eq!(
            (e["builtin"].as_bool(), e["enabled"].as_bool()),
            (Some(true), Some(true))
        );
        assert!(e.get("template").is_none(), "summaries only: {e}");
        assert!(e["minimum"]["memory_bytes"].is_u64(), "{e}");
    }
    let positions: Vec<i64> = all
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert!(positions.is_sorted(), "{positions:?}");
    assert_eq!(all[0]["id"], "wordpress");
    assert_eq!(all[0]["category"], "cms");

    let (status, dbs) = w.get("/v1/templates?category=database", &w.stranger).await;
    assert_eq!(status, StatusCode::OK, "{dbs}");
    let dbs = dbs.as_array().unwrap();
    assert!(dbs.len() >= 4, "{dbs:?}");
    assert!(dbs.iter().all(|e| e["category"] == "database"), "{dbs:?}");
    assert!(dbs.iter().any(|e| e["id"] == "postgresql"));
    let (status, none) = w.get("/v1/templates?category=games", &w.viewer).await;
    assert_eq!((status, none), (StatusCode::OK, json!([])));
    assert_invalid(&w.get("/v1/templates?sort=name", &w.viewer).await, "sort");
}

#[tokio::test]
async fn one_template_answers_its_full_definition() {
    let w = world().await;
    let (status, wp) = w.get("/v1/templates/wordpress", &w.viewer).await;
    assert_eq!(status, StatusCode::OK, "{wp}");
    assert_eq!(wp["id"], "wordpress");
    assert_eq!(wp["builtin"], true);
    let t = &wp["template"];
    assert_eq!(t["format"], 1);
    assert_eq!(t["parameters"][0]["name"], "table_prefix");
    assert_eq!(t["parameters"][0]["type"], "string");
    assert_eq!(t["parameters"][0]["default"], "wp_");
    let services: Vec<&str> = t["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["db", "web"]);
    assert_eq!(t["services"][0]["database"], "mysql");
    assert_eq!(output(&t["outputs"], "database_url")["secret"], true);

    let got = w.get("/v1/templates/nope", &w.viewer).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(got.1["details"]["kind"], "template");
}

#[tokio::test]
async fn a_dry_run_answers_the_plan_with_secrets_redacted_and_creates_nothing() {
    let w = world().await;
    let (_, before) = w.get("/v1/orgs/acme/usage", &w.viewer).await;
    let (status, dry) = w
        .post(
            &deploy_path("wordpress", true),
            &w.member,
            json!({"name": "blog", "parameters": {"table_prefix": "blog_"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["applied"], false);
    assert_eq!(dry["instance"], Value::Null);
    assert_eq!(dry["services"], json!([]));
    assert_eq!(
        dry["outputs"],
        json!([]),
        "no secret outputs before a deploy"
    );
    let plan = &dry["plan"];
    assert_eq!(
        (&plan["template"], &plan["instance"]),
        (&json!("wordpress"), &json!("blog"))
    );
    let names: Vec<&str> = plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["blog-db", "blog-web"], "dependencies first");
    let web = &plan["services"][1];
    assert_eq!(env(web, "WORDPRESS_DB_HOST"), "blog-db:3306");
    assert_eq!(env(web, "WORDPRESS_TABLE_PREFIX"), "blog_");
    assert_eq!(env(web, "WORDPRESS_DB_PASSWORD"), REDACTED);
    assert_eq!(env(&plan["services"][0], "MYSQL_PASSWORD"), REDACTED);
    assert_eq!(output(&plan["outputs"], "database_url")["value"], REDACTED);
    assert_eq!(
        output(&plan["outputs"], "install_page")["value"],
        "http://blog-web/wp-admin/install.php"
    );
    assert_eq!(plan["quota"]["containers"], 2);
    assert_eq!(plan["quota"]["memory_bytes"], 768 * MIB);
    assert_eq!(plan["quota"]["storage_bytes"], 2 * GIB);

    assert_eq!(w.runtime.calls(RuntimeOp::CreateContainer), 0);
    assert!(w.names(SERVICES).await.is_empty());
    assert!(w.names(INSTANCES).await.is_empty());
    assert!(w.names("/v1/orgs/acme/volumes").await.is_empty());
    let (_, after) = w.get("/v1/orgs/acme/usage", &w.viewer).await;
    assert_eq!(after, before, "no quota held");
    // The name is still free.
    w.deploy_blog("blog").await;
}

#[tokio::test]
async fn deploying_wordpress_answers_the_secret_database_url_once() {
    let w = world().await;
    let done = w.deploy_blog("blog").await;
    assert_eq!(done["applied"], true);
    assert_eq!(done["instance"]["name"], "blog");
    assert_eq!(done["instance"]["template"], "wordpress");
    let services: Vec<&str> = done["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["blog-db", "blog-web"]);
    assert!(
        done["services"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "running")
    );
    assert_eq!(env(&done["services"][1], "WORDPRESS_DB_PASSWORD"), REDACTED);

    let url = output(&done["outputs"], "database_url");
    assert_eq!(url["secret"], true);
    let url = url["value"].as_str().unwrap();
    let password = url
        .strip_prefix("mysql://app:")
        .and_then(|rest| rest.split_once('@'))
        .map(|(password, _)| password)
        .unwrap_or_else(|| panic!("{url}"));
    assert!(password.len() >= 24, "{url}");
    assert_eq!(
        output(&done["outputs"], "install_page")["value"],
        "http://blog-web/wp-admin/install.php"
    );
    let answer = done.to_string();
    assert_eq!(
        answer.matches(password).count(),
        1,
        "only in the output: {answer}"
    );
    assert_eq!(
        output(&done["instance"]["outputs"], "database_url")["value"],
        REDACTED
    );

    // Never again: not in the instance list, the services, their deployments.
    let (_, instances) = w.get(INSTANCES, &w.viewer).await;
    assert_eq!(instances.as_array().unwrap().len(), 1);
    assert_eq!(instances[0]["id"], done["instance"]["id"]);
    assert_eq!(
        output(&instances[0]["outputs"], "database_url")["value"],
        REDACTED
    );
    for path in [
        INSTANCES.to_string(),
        SERVICES.to_string(),
        format!("{SERVICES}/blog-web"),
        format!("{SERVICES}/blog-web/deployments"),
        format!("{SERVICES}/blog-db/deployments"),
    ] {
        let (status, body) = w.get(&path, &w.owner).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(
            !body.to_string().contains(password),
            "{path} leaks the password"
        );
    }
    let (_, usage) = w.get("/v1/orgs/acme/usage", &w.viewer).await;
    assert_eq!(usage["usage"]["committed"]["containers"], 2);
    assert_eq!(usage["usage"]["committed"]["storage_bytes"], 2 * GIB);

    let again = w.deploy("wordpress", json!({"name": "blog"})).await;
    assert_error(&again, StatusCode::CONFLICT, "ALREADY_EXISTS");
    assert_eq!(again.1["details"]["kind"], "template instance");
}

#[tokio::test]
async fn instances_are_listed_then_deleted_with_or_without_their_volumes() {
    let w = world().await;
    w.deploy_blog("one").await;
    w.deploy_blog("two").await;
    assert_eq!(w.names(INSTANCES).await, ["one", "two"]);
    assert_eq!(w.names(SERVICES).await.len(), 4);
    assert_eq!(w.names("/v1/orgs/acme/volumes").await.len(), 4);

    // Viewers list but do not delete.
    let got = w.delete(&format!("{INSTANCES}/one"), &w.viewer).await;
    assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");

    let (status, body) = w.delete(&format!("{INSTANCES}/one"), &w.member).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(w.names(INSTANCES).await, ["two"]);
    let services = w.names(SERVICES).await;
    assert!(
        services.iter().all(|s| s.starts_with("two-")),
        "{services:?}"
    );
    let volumes = w.names("/v1/orgs/acme/volumes").await;
    assert_eq!(volumes.len(), 4, "kept by default: {volumes:?}");

    let (status, body) = w
        .delete(&format!("{INSTANCES}/two?volumes=true"), &w.member)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(w.names(INSTANCES).await.is_empty());
    assert!(w.names(SERVICES).await.is_empty());
    let volumes = w.names("/v1/orgs/acme/volumes").await;
    assert!(volumes.iter().all(|v| v.starts_with("one-")), "{volumes:?}");
    assert_eq!(volumes.len(), 2);
    let (_, usage) = w.get("/v1/orgs/acme/usage", &w.viewer).await;
    assert_eq!(usage["usage"]["committed"]["containers"], 0);
    assert_eq!(
        usage["usage"]["committed"]["storage_bytes"],
        2 * GIB,
        "one's volumes"
    );

    let got = w.delete(&format!("{INSTANCES}/two"), &w.member).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(got.1["details"]["kind"], "template instance");
    assert_invalid(
        &w.delete(&format!("{INSTANCES}/one?volume=true"), &w.member)
            .await,
        "volume",
    );
}

#[tokio::test]
async fn bad_deploys_are_422_naming_the_field_and_create_nothing() {
    let w = world().await;
    w.runtime.add_image("node:20-alpine");
    let cases = [
        (
            "wordpress",
            json!({"name": "blog", "parameters": {"table_prefix": "wp prefix!"}}),
            "parameters.table_prefix",
        ),
        (
            "wordpress",
            json!({"name": "blog", "parameters": {"nope": 1}}),
            "parameters.nope",
        ),
        (
            "nodejs",
            json!({"name": "app", "parameters": {"port": "eighty"}}),
            "parameters.port",
        ),
        (
            "nodejs",
            json!({"name": "app", "parameters": {"port": 70000}}),
            "parameters.port",
        ),
        (
            "nodejs",
            json!({"name": "app", "parameters": {"node_env": "staging"}}),
            "parameters.node_env",
        ),
        ("wordpress", json!({"name": "Bad Name"}), "name"),
        ("wordpress", json!({}), "name"),
        ("wordpress", json!({"name": "blog", "params": {}}), "params"),
        (
            "wordpress",
            json!({"name": "blog", "parameters": [1]}),
            "parameters",
        ),
    ];
    for (template, body, field) in cases {
        for dry_run in [true, false] {
            let got = w
                .post(&deploy_path(template, dry_run), &w.member, body.clone())
                .await;
            assert_invalid(&got, field);
        }
    }
    assert_invalid(
        &w.post(
            &format!("{PROJECT}/templates/wordpress/deploy?dry_run=maybe"),
            &w.member,
            json!({"name": "blog"}),
        )
        .await,
        "dry_run",
    );
    let got = w.deploy("nope", json!({"name": "x"})).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(got.1["details"]["kind"], "template");
    let got = w
        .post(
            "/v1/orgs/acme/projects/nope/templates/wordpress/deploy",
            &w.member,
            json!({"name": "x"}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    // A name a template's service needs is taken.
    let (status, _) = w
        .post(SERVICES, &w.owner, common::web_app("blog-web"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let got = w.deploy("wordpress", json!({"name": "blog"})).await;
    assert_error(&got, StatusCode::CONFLICT, "ALREADY_EXISTS");
    assert_eq!(got.1["details"]["id"], "blog-web");
    assert_eq!(
        w.names(SERVICES).await,
        ["blog-web"],
        "nothing else was created"
    );
    assert!(w.names(INSTANCES).await.is_empty());
}

#[tokio::test]
async fn exceeding_the_plan_with_the_whole_plan_is_409_quota_exceeded_and_creates_nothing() {
    // Either of WordPress's services fits (512 + 256 MiB); both together do not.
    let w = world_for(PlanLimits {
        memory_bytes: 600 * MIB,
        ..limits()
    })
    .await;
    let got = w.deploy("wordpress", json!({"name": "blog"})).await;
    assert_error(&got, StatusCode::CONFLICT, "QUOTA_EXCEEDED");
    let dims = got.1["details"]["dimensions"].as_array().unwrap();
    assert_eq!(dims.len(), 1, "{}", got.1);
    assert_eq!(dims[0]["dimension"], "memory_bytes");
    assert_eq!(dims[0]["requested"], 768 * MIB, "the whole plan at once");
    assert_eq!(dims[0]["limit"], 600 * MIB);
    assert_eq!(got.1["details"]["plan"], "starter");

    assert_eq!(w.runtime.calls(RuntimeOp::CreateContainer), 0);
    assert_eq!(w.runtime.calls(RuntimeOp::CreateVolume), 0);
    assert!(w.names(SERVICES).await.is_empty());
    assert!(w.names(INSTANCES).await.is_empty());
    assert!(w.names("/v1/orgs/acme/volumes").await.is_empty());
    let (_, usage) = w.get("/v1/orgs/acme/usage", &w.viewer).await;
    assert_eq!(usage["usage"]["committed"]["memory_bytes"], 0);
    assert_eq!(
        usage["usage"]["pending"]["memory_bytes"], 0,
        "the reservation was released"
    );
}

/// A small template of one busybox web server, as a JSON definition.
fn hello(id: &str) -> Value {
    json!({
        "format": 1,
        "id": id,
        "name": "Hello",
        "category": "demo",
        "description": "Greets visitors.",
        "tags": ["demo"],
        "minimum": {"cpu_millis": 100, "memory_bytes": 67_108_864},
        "parameters": [
            {"name": "greeting", "label": "Greeting", "type": "string", "default": "hello", "max_length": 100},
            {"name": "port", "type": "int", "default": 8080, "min": 1024, "max": 65535},
            {"name": "token", "type": "secret", "generate": {"length": 32, "charset": "hex"}}
        ],
        "services": [{
            "name": "web",
            "image": IMAGE,
            "command": ["httpd", "-f", "-p", "{{ params.port }}"],
            "env": {"GREETING": "{{ params.greeting }}", "TOKEN": "{{ params.token }}"},
            "ports": ["{{ params.port }}"],
            "resources": {"cpu_millis": 100, "memory_bytes": 67_108_864, "pids": 64},
            "domain": true
        }],
        "outputs": [
            {"name": "url", "value": "http://{{ services.web.host }}:{{ services.web.port }}/"},
            {"name": "token", "value": "{{ params.token }}"}
        ]
    })
}

#[tokio::test]
async fn administrators_add_a_template_from_a_json_definition_and_customers_deploy_it() {
    let w = world().await;
    let (status, entry) = w
        .post(
            &format!("{ADMIN}/hello"),
            &w.admin,
            json!({"template": hello("hello"), "position": -5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    assert_eq!(
        (&entry["id"], &entry["builtin"], &entry["enabled"]),
        (&json!("hello"), &json!(false), &json!(true))
    );
    assert_eq!(entry["position"], -5);
    assert_eq!(
        entry["template"]["parameters"][2]["generate"]["charset"],
        "hex"
    );
    assert_eq!(
        w.catalogue_ids(&w.viewer).await[0],
        "hello",
        "first by position"
    );
    let (_, demo) = w.get("/v1/templates?category=demo", &w.viewer).await;
    assert_eq!(demo.as_array().unwrap().len(), 1);

    let got = w
        .post(
            &format!("{ADMIN}/hello"),
            &w.admin,
            json!({"template": hello("hello")}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "ALREADY_EXISTS");
    let got = w
        .post(
            &format!("{ADMIN}/wordpress"),
            &w.admin,
            json!({"template": hello("wordpress")}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "ALREADY_EXISTS");

    let (status, done) = w
        .deploy(
            "hello",
            json!({"name": "hi", "parameters": {"greeting": "bonjour", "port": 9090}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    let web = &done["services"][0];
    assert_eq!(web["name"], "hi-web");
    assert_eq!(env(web, "GREETING"), "bonjour");
    assert_eq!(env(web, "TOKEN"), REDACTED);
    assert_eq!(web["spec"]["ports"][0]["container_port"], 9090);
    assert_eq!(
        output(&done["outputs"], "url")["value"],
        "http://hi-web:9090/"
    );
    // An output referencing a secret parameter is a secret, shown once.
    let token = output(&done["outputs"], "token");
    assert_eq!(token["secret"], true);
    let token = token["value"].as_str().unwrap();
    assert!(
        token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );
    let (_, instances) = w.get(INSTANCES, &w.viewer).await;
    assert_eq!(output(&instances[0]["outputs"], "token")["value"], REDACTED);
}

#[tokio::test]
async fn invalid_definitions_are_422_naming_the_field_under_template() {
    let w = world().await;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut t = hello("hello");
        edit(&mut t);
        json!({ "template": t })
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|t| t["id"] = json!("other")), "template.id"),
        (with(&|t| t["format"] = json!(2)), "template.format"),
        (
            with(&|t| t["services"][0]["image"] = json!("Not An Image")),
            "template.services[0].image",
        ),
        (
            with(&|t| t["services"][0]["imagee"] = json!(IMAGE)),
            "template.services[0].imagee",
        ),
        (
            with(&|t| t["services"][0]["env"]["X"] = json!("{{ params.missing }}")),
            "template.services[0].env.X",
        ),
        (
            with(&|t| t["services"][0]["depends_on"] = json!(["db"])),
            "template.services[0].depends_on",
        ),
        (with(&|t| t["services"] = json!([])), "template.services"),
        (
            with(&|t| t["parameters"][0]["pattern"] = json!("[0-9]+")),
            "template.parameters[0].default",
        ),
        (
            with(&|t| t["parameters"][2]["generate"]["length"] = json!(4)),
            "template.parameters[2].generate.length",
        ),
        (
            with(&|t| t["parameters"][1]["type"] = json!("float")),
            "template.parameters[1]",
        ),
        (
            with(&|t| t["category"] = json!("Not A Category")),
            "template.category",
        ),
        (
            json!({"template": hello("hello"), "enabled": "yes"}),
            "enabled",
        ),
        (
            json!({"template": hello("hello"), "featured": true}),
            "featured",
        ),
        (
            with(&|t| t["parameters"][0]["defualt"] = json!("x")),
            "template.parameters[0].defualt",
        ),
        (json!({"enabled": true}), "template"),
    ];
    for (body, field) in cases {
        let got = w
            .post(&format!("{ADMIN}/hello"), &w.admin, body.clone())
            .await;
        assert_invalid(&got, field);
    }
    assert!(
        !w.catalogue_ids(&w.admin)
            .await
            .contains(&"hello".to_string()),
        "nothing was saved"
    );
}

#[tokio::test]
async fn administrators_disable_reorder_change_and_delete_templates() {
    let w = world().await;
    let created = w
        .post(
            &format!("{ADMIN}/hello"),
            &w.admin,
            json!({"template": hello("hello")}),
        )
        .await;
    assert_eq!(created.0, StatusCode::CREATED, "{}", created.1);
    assert_eq!(created.1["position"], 1000, "after the built-ins");
    assert_eq!(w.catalogue_ids(&w.viewer).await.last().unwrap(), "hello");

    // Disabled: gone for customers, listed for administrators, deployable by nobody.
    let (status, entry) = w
        .put(
            &format!("{ADMIN}/hello"),
            &w.admin,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    assert_eq!(entry["enabled"], false);
    assert_eq!(entry["position"], 1000, "kept");
    assert!(
        !w.catalogue_ids(&w.viewer)
            .await
            .contains(&"hello".to_string())
    );
    assert!(
        w.catalogue_ids(&w.admin)
            .await
            .contains(&"hello".to_string())
    );
    let got = w.get("/v1/templates/hello", &w.member).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, _) = w.get("/v1/templates/hello", &w.admin).await;
    assert_eq!(status, StatusCode::OK);
    let got = w.deploy("hello", json!({"name": "hi"})).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = w
        .post(
            &deploy_path("hello", false),
            &w.admin,
            json!({"name": "hi"}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "CONFLICT");

    // Reordered: enabled again, first; a built-in moved becomes an override.
    let (status, entry) = w
        .put(
            &format!("{ADMIN}/hello"),
            &w.admin,
            json!({"enabled": true, "position": -10}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    let (status, wp) = w
        .put(
            &format!("{ADMIN}/wordpress"),
            &w.admin,
            json!({"position": 5000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{wp}");
    assert_eq!(
        (&wp["builtin"], &wp["enabled"]),
        (&json!(false), &json!(true))
    );
    let ids = w.catalogue_ids(&w.viewer).await;
    assert_eq!(ids.first().unwrap(), "hello");
    assert_eq!(ids.last().unwrap(), "wordpress");

    // A new definition; its id stays.
    let mut changed = hello("hello");
    changed["name"] = json!("Hello again");
    let (status, entry) = w
        .put(
            &format!("{ADMIN}/hello"),
            &w.admin,
            json!({"template": changed}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    assert_eq!(
        (&entry["name"], &entry["position"]),
        (&json!("Hello again"), &json!(-10))
    );
    assert_invalid(
        &w.put(
            &format!("{ADMIN}/hello"),
            &w.admin,
            json!({"template": hello("other")}),
        )
        .await,
        "template.id",
    );
    let mut broken = hello("hello");
    broken["services"][0]["image"] = json!("Not An Image");
    assert_invalid(
        &w.put(
            &format!("{ADMIN}/hello"),
            &w.admin,
            json!({"template": broken}),
        )
        .await,
        "template.services[0].image",
    );
    assert_invalid(
        &w.put(&format!("{ADMIN}/hello"), &w.admin, json!({"positon": 1}))
            .await,
        "positon",
    );
    let got = w
        .put(
            &format!("{ADMIN}/nope"),
            &w.admin,
            json!({"enabled": false}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Deleted: an administrator's template goes; an override's built-in comes back; a
    // built-in itself stays.
    let (status, body) = w.delete(&format!("{ADMIN}/hello"), &w.admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let got = w.get("/v1/templates/hello", &w.admin).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = w.delete(&format!("{ADMIN}/hello"), &w.admin).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, _) = w.delete(&format!("{ADMIN}/wordpress"), &w.admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, wp) = w.get("/v1/templates/wordpress", &w.viewer).await;
    assert_eq!((&wp["builtin"], &wp["position"]), (&json!(true), &json!(0)));
    let got = w.delete(&format!("{ADMIN}/wordpress"), &w.admin).await;
    assert_error(&got, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        got.1["message"].as_str().unwrap().contains("disable"),
        "{}",
        got.1
    );
}

#[tokio::test]
async fn only_platform_administrators_manage_the_catalogue() {
    let w = world().await;
    for token in [&w.owner, &w.member, &w.viewer, &w.stranger] {
        for (method, body) in [
            (Method::POST, Some(json!({"template": hello("hello")}))),
            (Method::PUT, Some(json!({"enabled": false}))),
            (Method::DELETE, None),
        ] {
            for id in ["hello", "wordpress"] {
                let mut body = body.clone();
                if let Some(b) = body.as_mut().filter(|_| method == Method::POST) {
                    b["template"]["id"] = json!(id);
                }
                let got = w
                    .call(method.clone(), &format!("{ADMIN}/{id}"), Some(token), body)
                    .await;
                assert_error(&got, StatusCode::FORBIDDEN, "PERMISSION_DENIED");
            }
        }
    }
    let ids = w.catalogue_ids(&w.viewer).await;
    assert!(!ids.contains(&"hello".to_string()));
    let (_, wp) = w.get("/v1/templates/wordpress", &w.viewer).await;
    assert_eq!(
        (&wp["builtin"], &wp["enabled"]),
        (&json!(true), &json!(true)),
        "unchanged"
    );
}
