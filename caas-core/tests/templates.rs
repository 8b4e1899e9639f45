//! Application templates on the in-memory backends: every built-in template validates and
//! instantiates with its defaults and refuses bad parameters; deploys reserve the whole plan
//! first, run in dependency order, and leave nothing behind when they fail; instances are
//! deleted as a whole; administrators manage the catalogue.

#![allow(clippy::unwrap_used)]

use caas_core::ProjectRef;
use caas_core::ports::store::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use caas_core::memory::{InMemoryRuntime, InMemoryStore, RuntimeOp};
use caas_core::model::{PlanLimits, REDACTED, Role, ServiceKind, Template};
use caas_core::platform::{
    DatabaseImages, DeleteOptions, DeployTemplate, RolloutTiming, TemplateUpdate,
    builtin_templates, instantiate, parse_template, validate_template,
};
use caas_core::units::{GIB, MIB};
use caas_core::{ContainerRuntime, Platform, Principal};
use serde_json::json;

const IMAGES: &[&str] = &[
    "wordpress:6-apache",
    "mysql:8.4",
    "postgres:16",
    "redis:7.2",
    "node:20-alpine",
];

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    runtime: InMemoryRuntime,
    tenant: caas_testkit::platform::Tenant,
}

async fn world(limits: PlanLimits) -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    for i in IMAGES {
        runtime.add_image(i);
    }
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime.clone()))
        .rollout(
            RolloutTiming::new(
                Duration::from_secs(2),
                Duration::from_millis(10),
                Duration::ZERO,
            )
            .with_tcp_probe(false),
        )
        .build()
        .unwrap();
    let tenant = caas_testkit::platform::seed_tenant(&platform, limits, "p").await;
    World {
        platform,
        store,
        runtime,
        tenant,
    }
}

fn roomy() -> PlanLimits {
    PlanLimits {
        cpu_millis: 8000,
        memory_bytes: 8 * GIB,
        storage_bytes: 20 * GIB,
        max_containers: 10,
        max_projects: 2,
        max_domains: 20,
        max_pids: 1024,
        backup_storage_bytes: 10 * 1024 * 1024 * 1024,
    }
}

#[test]
fn every_builtin_template_validates_and_instantiates_with_its_defaults() {
    let all = builtin_templates().unwrap();
    assert!(all.len() >= 10, "{}", all.len());
    let mut categories = std::collections::BTreeSet::new();
    for t in &all {
        validate_template(t).unwrap_or_else(|e| panic!("{}: {e}", t.id));
        let plan = instantiate(t, "inst", &BTreeMap::new(), &DatabaseImages::default())
            .unwrap_or_else(|e| panic!("{}: {e}", t.id));
        assert_eq!(plan.services.len(), t.services.len(), "{}", t.id);
        for s in &plan.services {
            assert!(s.name.as_str().starts_with("inst-"), "{}", s.name);
            s.spec.validate().unwrap();
        }
        // Dependencies come first.
        for (i, s) in plan.services.iter().enumerate() {
            for d in &s.depends_on {
                let j = plan.services.iter().position(|x| &x.name == d).unwrap();
                assert!(j < i, "{}: {} before {}", t.id, d, s.name);
            }
        }
        assert!(plan.quota.containers as usize == t.services.len());
        categories.insert(t.category.clone());
    }
    for want in [
        "cms",
        "database",
        "runtime",
        "devtools",
        "monitoring",
        "automation",
    ] {
        assert!(categories.contains(want), "{categories:?}");
    }
    for want in ["wordpress", "nodejs", "postgresql", "redis"] {
        assert!(all.iter().any(|t| t.id == want), "{want}");
    }
}

#[test]
fn wordpress_wires_its_database_and_keeps_secrets_secret() {
    let t = builtin_templates()
        .unwrap()
        .into_iter()
        .find(|t| t.id == "wordpress")
        .unwrap();
    let plan = instantiate(&t, "blog", &BTreeMap::new(), &DatabaseImages::default()).unwrap();
    assert_eq!(plan.services[0].name.as_str(), "blog-db");
    assert!(matches!(
        plan.services[0].kind,
        ServiceKind::Database { .. }
    ));
    let web = &plan.services[1];
    assert_eq!(web.name.as_str(), "blog-web");
    assert!(web.domain);
    let env: BTreeMap<&str, (&str, bool)> = web
        .spec
        .env
        .iter()
        .map(|v| (v.key.as_str(), (v.value.as_str(), v.secret)))
        .collect();
    assert_eq!(env["WORDPRESS_DB_HOST"], ("blog-db:3306", false));
    assert_eq!(env["WORDPRESS_DB_USER"].0, "app");
    assert_eq!(env["WORDPRESS_DB_NAME"].0, "blog_db");
    let (password, secret) = env["WORDPRESS_DB_PASSWORD"];
    assert!(secret && password.len() >= 24, "{password}");
    // The database service got the same password through its own variables.
    let db_pw = plan.services[0]
        .spec
        .env
        .iter()
        .find(|v| v.key.as_str() == "MYSQL_PASSWORD")
        .unwrap();
    assert_eq!(db_pw.value, password);
    let url = plan
        .outputs
        .iter()
        .find(|o| o.name == "database_url")
        .unwrap();
    assert!(url.secret && url.value.contains(password));
    let shown = plan.redacted();
    let text = serde_json::to_string(&shown).unwrap();
    assert!(!text.contains(password), "redacted plan leaks the password");
    assert!(text.contains(REDACTED));
    assert_eq!(plan.quota.storage_bytes, 2 * GIB, "db data + wp-content");
}

#[test]
fn bad_parameters_are_refused_naming_the_parameter() {
    let all = builtin_templates().unwrap();
    let node = all.iter().find(|t| t.id == "nodejs").unwrap();
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (json!({"nope": 1}), "parameters.nope"),
        (json!({"port": "eighty"}), "parameters.port"),
        (json!({"port": 70000}), "parameters.port"),
        (json!({"node_env": "staging"}), "parameters.node_env"),
        (json!({"image": "Bad Image!"}), "parameters.image"),
        (json!({"command": "a".repeat(2000)}), "parameters.command"),
    ];
    for (params, field) in cases {
        let given: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(params.clone()).unwrap();
        let e = instantiate(node, "app", &given, &DatabaseImages::default()).unwrap_err();
        assert_eq!(e.field(), Some(field), "{params}: {e}");
    }
    let e = instantiate(
        node,
        "Bad Name",
        &BTreeMap::new(),
        &DatabaseImages::default(),
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("name"));
    let given: BTreeMap<String, serde_json::Value> =
        serde_json::from_value(json!({"port": 8081, "command": "npm start"})).unwrap();
    let plan = instantiate(node, "app", &given, &DatabaseImages::default()).unwrap();
    assert_eq!(plan.services[0].spec.ports[0].container_port, 8081);
    assert_eq!(
        plan.services[0].spec.command.as_deref().unwrap(),
        ["sh", "-c", "npm start"]
    );
    // Every built-in refuses an unknown parameter too.
    for t in &all {
        let given: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(json!({"no_such_parameter": "x"})).unwrap();
        let e = instantiate(t, "x", &given, &DatabaseImages::default()).unwrap_err();
        assert_eq!(e.field(), Some("parameters.no_such_parameter"), "{}", t.id);
    }
}

#[test]
fn templates_name_a_non_root_user_where_their_image_allows_it() {
    let all = builtin_templates().unwrap();
    let user_of = |id: &str, params: serde_json::Value, service: &str| {
        let t = all.iter().find(|t| t.id == id).unwrap();
        let given: BTreeMap<String, serde_json::Value> = serde_json::from_value(params).unwrap();
        let plan = instantiate(t, "x", &given, &DatabaseImages::default())
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        plan.services
            .iter()
            .find(|s| s.template_name == service)
            .unwrap()
            .spec
            .user
            .clone()
    };
    assert_eq!(
        user_of("adminer", json!({}), "app").as_deref(),
        Some("adminer")
    );
    assert_eq!(user_of("ghost", json!({}), "web").as_deref(), Some("node"));
    assert_eq!(user_of("n8n", json!({}), "app").as_deref(), Some("node"));
    assert_eq!(user_of("nodejs", json!({}), "app").as_deref(), Some("node"));
    assert_eq!(
        user_of("nodejs", json!({"user": "1000:1000"}), "app").as_deref(),
        Some("1000:1000")
    );
    // Database services keep their images' own users (they start as root and switch).
    assert_eq!(user_of("wordpress", json!({}), "db"), None);
    // A user the parameter's pattern lets through is still checked as a user.
    let node = all.iter().find(|t| t.id == "nodejs").unwrap();
    let given: BTreeMap<String, serde_json::Value> =
        serde_json::from_value(json!({"user": "1000:"})).unwrap();
    let e = instantiate(node, "x", &given, &DatabaseImages::default()).unwrap_err();
    assert_eq!(e.field(), Some("services[0].spec.user"), "{e}");
}

fn custom(yaml: &str) -> Template {
    parse_template(yaml).unwrap()
}

#[test]
fn broken_templates_are_refused_naming_the_field() {
    let ok = "format: 1\nid: t\nname: T\ncategory: x\ndescription: d\nservices:\n  - name: a\n    image: caas/busybox\n";
    validate_template(&custom(ok)).unwrap();
    let cases = [
        (ok.replace("format: 1", "format: 2"), "format"),
        (ok.replace("id: t", "id: T T"), "id"),
        (
            format!("{ok}    depends_on: [b]\n"),
            "services[0].depends_on",
        ),
        (
            format!("{ok}  - name: a\n    image: caas/busybox\n"),
            "services[1].name",
        ),
        (
            format!("{ok}    env:\n      X: \"{{{{ params.missing }}}}\"\n"),
            "services[0].env.X",
        ),
        (
            format!("{ok}    env:\n      X: \"{{{{ services.nope.host }}}}\"\n"),
            "services[0].env.X",
        ),
        (
            format!(
                "{ok}    depends_on: [b]\n  - name: b\n    image: caas/busybox\n    depends_on: [a]\n"
            ),
            "services[0].depends_on",
        ),
        (
            format!(
                "{ok}parameters:\n  - name: p\n    type: string\n    default: abc\n    pattern: \"[0-9]+\"\n"
            ),
            "parameters[0].default",
        ),
        (
            format!(
                "{ok}parameters:\n  - name: s\n    type: secret\n    generate: {{length: 4}}\n"
            ),
            "parameters[0].generate.length",
        ),
        (
            format!("{ok}    ports: [\"http\"]\n"),
            "services[0].ports[0]",
        ),
        (
            format!("{ok}    user: \"root; id\"\n"),
            "services[0].spec.user",
        ),
        (
            format!("{ok}  - name: db\n    database: postgres\n    user: \"999\"\n"),
            "services[1].user",
        ),
    ];
    for (yaml, field) in cases {
        let e = validate_template(&custom(&yaml)).unwrap_err();
        assert_eq!(e.field(), Some(field), "{yaml}\n{e}");
    }
    let e = parse_template("format: 1\nid: t\nunknown_key: 1\n").unwrap_err();
    assert_eq!(e.field(), Some("template"), "{e}");
}

#[tokio::test]
async fn a_dry_run_shows_the_plan_and_a_deploy_creates_the_instance_in_order() {
    let w = world(roomy()).await;
    let (who, org) = (&w.tenant.admin, w.tenant.org.as_str());
    let dry = w
        .platform
        .templates()
        .deploy(
            who,
            &ProjectRef::new(org, "p"),
            "wordpress",
            DeployTemplate::new("blog"),
            true,
        )
        .await
        .unwrap();
    assert!(!dry.applied && dry.outputs.is_empty());
    assert_eq!(dry.plan.services.len(), 2);
    assert!(
        w.platform
            .services()
            .list(who, &ProjectRef::new(org, "p"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        w.runtime.calls(RuntimeOp::CreateContainer),
        0,
        "a dry run creates nothing"
    );

    let done = w
        .platform
        .templates()
        .deploy(
            who,
            &ProjectRef::new(org, "p"),
            "wordpress",
            DeployTemplate::new("blog"),
            false,
        )
        .await
        .unwrap();
    assert!(done.applied);
    let names: Vec<&str> = done.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["blog-db", "blog-web"]);
    let instance = done.instance.unwrap();
    assert_eq!(instance.services.len(), 2);
    let secret = done.outputs.iter().find(|o| o.secret).unwrap();
    assert!(secret.value.starts_with("mysql://app:"), "{}", secret.value);
    // Stored redacted: shown once.
    let listed = w
        .platform
        .templates()
        .instances(who, &ProjectRef::new(org, "p"))
        .await
        .unwrap();
    assert_eq!(
        listed[0].outputs.iter().find(|o| o.secret).unwrap().value,
        REDACTED
    );
    let usage = w.platform.orgs().usage(who, org).await.unwrap();
    assert_eq!(usage.committed.containers, 2);
    assert_eq!(usage.committed.storage_bytes, 2 * GIB);
    assert!(usage.pending.is_zero(), "{usage:?}");

    let err = w
        .platform
        .templates()
        .deploy(
            who,
            &ProjectRef::new(org, "p"),
            "wordpress",
            DeployTemplate::new("blog"),
            false,
        )
        .await
        .unwrap_err();
    assert!(err.is_already_exists(), "{err}");

    w.platform
        .templates()
        .delete_instance(
            who,
            &ProjectRef::new(org, "p"),
            "blog",
            DeleteOptions::with_volumes(),
        )
        .await
        .unwrap();
    assert!(
        w.platform
            .services()
            .list(who, &ProjectRef::new(org, "p"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        w.platform
            .templates()
            .instances(who, &ProjectRef::new(org, "p"))
            .await
            .unwrap()
            .is_empty()
    );
    let usage = w.platform.orgs().usage(who, org).await.unwrap();
    assert_eq!(
        (usage.committed.containers, usage.committed.storage_bytes),
        (0, 0)
    );
}

#[tokio::test]
async fn the_whole_plan_is_checked_against_the_quota_before_anything_is_created() {
    let w = world(PlanLimits {
        memory_bytes: 600 * MIB,
        ..roomy()
    })
    .await;
    let (who, org) = (&w.tenant.admin, w.tenant.org.as_str());
    // A dry run says so too, without reserving anything.
    let dry = w
        .platform
        .templates()
        .deploy(
            who,
            &ProjectRef::new(org, "p"),
            "wordpress",
            DeployTemplate::new("blog"),
            true,
        )
        .await
        .unwrap_err();
    assert_eq!(
        dry.quota().expect("quota exceeded").dimensions[0].requested,
        768 * MIB
    );
    let usage = w.platform.orgs().usage(who, org).await.unwrap();
    assert_eq!(usage.pending.memory_bytes, 0, "a dry run reserves nothing");
    let err = w
        .platform
        .templates()
        .deploy(
            who,
            &ProjectRef::new(org, "p"),
            "wordpress",
            DeployTemplate::new("blog"),
            false,
        )
        .await
        .unwrap_err();
    let q = err.quota().expect("quota exceeded");
    assert_eq!(q.dimensions[0].dimension, "memory_bytes");
    assert_eq!(
        q.dimensions[0].requested,
        768 * MIB,
        "the whole plan at once"
    );
    assert!(
        w.platform
            .services()
            .list(who, &ProjectRef::new(org, "p"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(w.runtime.calls(RuntimeOp::CreateContainer) == 0);
}

#[tokio::test]
async fn a_deploy_that_fails_halfway_leaves_nothing_behind() {
    let w = world(roomy()).await;
    let (who, org) = (&w.tenant.admin, w.tenant.org.as_str());
    // Gitea's database comes up; its web image cannot be pulled.
    w.runtime.restrict_registry(IMAGES);
    let err = w
        .platform
        .templates()
        .deploy(
            who,
            &ProjectRef::new(org, "p"),
            "gitea",
            DeployTemplate::new("git"),
            false,
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("gitea/gitea"), "{err}");
    assert_eq!(
        w.runtime.calls(RuntimeOp::StartContainer),
        1,
        "the database had started"
    );
    assert!(
        w.platform
            .services()
            .list(who, &ProjectRef::new(org, "p"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        w.platform
            .volumes()
            .list(who, org, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        w.platform
            .templates()
            .instances(who, &ProjectRef::new(org, "p"))
            .await
            .unwrap()
            .is_empty()
    );
    let containers = w
        .runtime
        .list_containers(&caas_core::ports::runtime::LabelSelector::managed())
        .await
        .unwrap();
    assert!(containers.is_empty(), "{containers:?}");
    let volumes = w
        .runtime
        .list_volumes(&caas_core::ports::runtime::LabelSelector::managed())
        .await
        .unwrap();
    assert!(volumes.is_empty(), "{volumes:?}");
    let usage = w.platform.orgs().usage(who, org).await.unwrap();
    assert_eq!(usage.committed.containers, 0);
    assert_eq!(usage.committed.storage_bytes, 0);
    assert!(usage.pending.is_zero(), "{usage:?}");
}

#[tokio::test]
async fn administrators_manage_the_catalogue_and_customers_see_enabled_templates() {
    let w = world(roomy()).await;
    let admin = &w.tenant.admin;
    let org = w
        .store
        .org_by_slug_opt(&w.tenant.org)
        .await
        .unwrap()
        .unwrap();
    let member = Principal::user(caas_core::UserId::new()).with_role(org.id, Role::Member);
    let all = w.platform.templates().list(&member, None).await.unwrap();
    assert!(all.len() >= 10);
    assert!(all.iter().all(|e| e.builtin && e.enabled));
    let dbs = w
        .platform
        .templates()
        .list(&member, Some("database"))
        .await
        .unwrap();
    assert!(dbs.iter().all(|e| e.category == "database") && dbs.len() >= 4);

    let mine = custom(
        "format: 1\nid: hello\nname: Hello\ncategory: demo\ndescription: A greeting.\nservices:\n  - name: web\n    image: caas/busybox\n",
    );
    let err = w
        .platform
        .templates()
        .create(&member, mine.clone(), true, None)
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let created = w
        .platform
        .templates()
        .create(admin, mine.clone(), true, Some(-5))
        .await
        .unwrap();
    assert!(!created.builtin);
    assert_eq!(
        w.platform.templates().list(&member, None).await.unwrap()[0].id,
        "hello"
    );
    let err = w
        .platform
        .templates()
        .create(admin, mine.clone(), true, None)
        .await
        .unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    let mut broken = mine.clone();
    broken.services[0].image = Some("Not An Image".into());
    let err = w
        .platform
        .templates()
        .update(admin, "hello", TemplateUpdate::default().template(broken))
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("template.services[0].image"), "{err}");

    // Disabled: gone for customers, still there for admins; not deployable.
    w.platform
        .templates()
        .update(admin, "wordpress", TemplateUpdate::default().enabled(false))
        .await
        .unwrap();
    assert!(
        w.platform
            .templates()
            .get(&member, "wordpress")
            .await
            .unwrap_err()
            .is_not_found()
    );
    let e = w
        .platform
        .templates()
        .get(admin, "wordpress")
        .await
        .unwrap();
    assert!(!e.enabled && !e.builtin, "an override of the built-in");
    let err = w
        .platform
        .templates()
        .deploy(
            &member,
            &ProjectRef::new(&w.tenant.org, "p"),
            "wordpress",
            DeployTemplate::new("x"),
            true,
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    // Deleting the override brings the built-in back; a built-in itself cannot be deleted.
    w.platform
        .templates()
        .delete(admin, "wordpress")
        .await
        .unwrap();
    assert!(
        w.platform
            .templates()
            .get(&member, "wordpress")
            .await
            .unwrap()
            .builtin
    );
    assert!(
        w.platform
            .templates()
            .delete(admin, "wordpress")
            .await
            .unwrap_err()
            .is_conflict()
    );
    w.platform.templates().delete(admin, "hello").await.unwrap();
    assert!(
        w.platform
            .templates()
            .delete(admin, "hello")
            .await
            .unwrap_err()
            .is_not_found()
    );
}
