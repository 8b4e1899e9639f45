//! Behaviours of saved templates and template instances.
//!
//! Templates are platform-wide (no owner), so every behaviour saves templates under ids made
//! with [`unique`] and checks `list_templates` filtered to its own ids.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use caas_core::model::{
    DatabaseEngine, HealthCheck, HealthProbe, InstanceOutput, ParameterKind, Project,
    ResourceLimits, SecretCharset, SecretRule, StoredTemplate, TEMPLATE_FORMAT, Template,
    TemplateInstance, TemplateMinimum, TemplateOutput, TemplateParameter, TemplateService,
    TemplateVolume,
};
use caas_core::units::{GIB, MIB};
use caas_core::validate::Name;
use caas_core::{OrgId, ProjectId, ServiceId, Store, TemplateInstanceId};
use chrono::Duration;

use super::{
    assert_already_exists, assert_conflict, assert_not_found, now, seed_org, seed_project,
    seed_service, unique,
};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A WordPress-like template with id `id` using every part of the format: each parameter type
/// (a secret with a `generate` rule, one with only a pattern, negative bounds), a managed
/// `database: postgres` service with a command health check, an app with an HTTP health check,
/// env, ports, volumes, dependencies, limits and a domain, a TCP-checked cache, an amount above
/// `i64::MAX`, non-ASCII text and plain and secret outputs. Enough to catch a backend that
/// drops, reorders or coerces part of it.
pub fn rich_template(id: &str) -> Template {
    let parameter = |name: &str, kind: ParameterKind| TemplateParameter {
        name: name.to_string(),
        label: format!("{name} label"),
        description: format!("What {name} is for"),
        required: false,
        kind,
    };
    Template {
        format: TEMPLATE_FORMAT,
        id: id.to_string(),
        name: "WordPress — blog & CMS".to_string(),
        category: "cms".to_string(),
        description: "Publishing platform with a managed PostgreSQL database.\nÜmlauts: ✓"
            .to_string(),
        icon: Some("https://example.com/icons/wordpress.svg".to_string()),
        tags: vec!["php".into(), "blog".into(), "cms".into()],
        minimum: TemplateMinimum {
            cpu_millis: 750,
            memory_bytes: 768 * MIB,
            // Above i64::MAX: the definition is a document, not a row of BIGINTs.
            storage_bytes: u64::MAX,
        },
        parameters: vec![
            TemplateParameter {
                required: true,
                ..parameter(
                    "site_title",
                    ParameterKind::String {
                        default: Some("My \"blog\"".into()),
                        pattern: Some(r"^[^<>]{1,80}$".into()),
                        max_length: Some(80),
                    },
                )
            },
            parameter(
                "workers",
                ParameterKind::Int {
                    default: Some(-3),
                    min: Some(i64::MIN),
                    max: Some(i64::MAX),
                },
            ),
            parameter(
                "debug",
                ParameterKind::Bool {
                    default: Some(false),
                },
            ),
            parameter(
                "php_version",
                ParameterKind::Enum {
                    values: vec!["8.2".into(), "8.3".into()],
                    default: Some("8.3".into()),
                },
            ),
            TemplateParameter {
                required: true,
                ..parameter(
                    "admin_password",
                    ParameterKind::Secret {
                        generate: Some(SecretRule {
                            length: 32,
                            charset: SecretCharset::Hex,
                        }),
                        pattern: None,
                    },
                )
            },
            parameter(
                "smtp_password",
                ParameterKind::Secret {
                    generate: None,
                    pattern: Some("^.{12,}$".into()),
                },
            ),
            parameter(
                "tagline",
                ParameterKind::String {
                    default: None,
                    pattern: None,
                    max_length: None,
                },
            ),
        ],
        services: vec![
            TemplateService {
                name: "db".into(),
                database: Some(DatabaseEngine::Postgres),
                image: None,
                command: None,
                env: BTreeMap::new(),
                ports: vec![],
                volumes: vec![],
                health_check: Some(HealthCheck {
                    probe: HealthProbe::Command {
                        command: vec!["pg_isready".into(), "-U".into(), "wordpress".into()],
                    },
                    interval: StdDuration::from_millis(2_500),
                    timeout: StdDuration::from_secs(2),
                    retries: 10,
                    start_period: StdDuration::from_secs(30),
                }),
                depends_on: vec![],
                resources: Some(ResourceLimits {
                    cpu_millis: 500,
                    memory_bytes: 512 * MIB,
                    pids: 128,
                }),
                domain: false,
                user: None,
            },
            TemplateService {
                name: "cache".into(),
                database: Some(DatabaseEngine::Redis),
                image: None,
                command: None,
                env: BTreeMap::new(),
                ports: vec![],
                volumes: vec![],
                health_check: Some(HealthCheck {
                    probe: HealthProbe::Tcp { port: 6379 },
                    interval: StdDuration::from_secs(10),
                    timeout: StdDuration::from_secs(5),
                    retries: 3,
                    start_period: StdDuration::ZERO,
                }),
                depends_on: vec![],
                resources: None,
                domain: false,
                user: None,
            },
            TemplateService {
                name: "app".into(),
                database: None,
                image: Some("caas/wordpress:php{{ params.php_version }}".into()),
                command: Some(vec![
                    "apache2-foreground".into(),
                    "-DFOREGROUND".into(),
                    "{{ instance }}".into(),
                ]),
                env: BTreeMap::from([
                    (
                        "WORDPRESS_DB_HOST".to_string(),
                        "{{ services.db.host }}:{{ services.db.port }}".to_string(),
                    ),
                    (
                        "WORDPRESS_DB_PASSWORD".to_string(),
                        "{{ services.db.password }}".to_string(),
                    ),
                    (
                        "WORDPRESS_TITLE".to_string(),
                        "{{ params.site_title }}".to_string(),
                    ),
                    ("EMPTY".to_string(), String::new()),
                ]),
                ports: vec!["80".into(), "{{ params.workers }}".into()],
                volumes: vec![
                    TemplateVolume {
                        name: "content".into(),
                        target: "/var/www/html/wp-content".into(),
                        size_bytes: 5 * GIB,
                        read_only: false,
                    },
                    TemplateVolume {
                        name: "config".into(),
                        target: "/etc/wordpress".into(),
                        size_bytes: 64 * MIB,
                        read_only: true,
                    },
                ],
                health_check: Some(HealthCheck {
                    probe: HealthProbe::Http {
                        port: 80,
                        path: "/wp-login.php?check=1".into(),
                    },
                    interval: StdDuration::from_secs(15),
                    timeout: StdDuration::from_millis(1_500),
                    retries: 5,
                    start_period: StdDuration::from_secs(60),
                }),
                depends_on: vec!["db".into(), "cache".into()],
                resources: Some(ResourceLimits {
                    cpu_millis: 1_000,
                    memory_bytes: GIB,
                    pids: 512,
                }),
                domain: true,
                user: Some("www-data".into()),
            },
        ],
        outputs: vec![
            TemplateOutput {
                name: "url".into(),
                value: "https://{{ instance }}.example.com/wp-admin/".into(),
                secret: false,
            },
            TemplateOutput {
                name: "admin_password".into(),
                value: "{{ params.admin_password }}".into(),
                secret: true,
            },
        ],
    }
}

/// A small template with id `id`: one app service, no parameters, no outputs (what the
/// behaviours that are not about the definition's encoding save).
pub fn minimal_template(id: &str) -> Template {
    Template {
        format: TEMPLATE_FORMAT,
        id: id.to_string(),
        name: "Static site".to_string(),
        category: "web".to_string(),
        description: "Serves files.".to_string(),
        icon: None,
        tags: vec![],
        minimum: TemplateMinimum::default(),
        parameters: vec![],
        services: vec![TemplateService {
            name: "web".into(),
            database: None,
            image: Some("caas/busybox:1.36".into()),
            command: None,
            env: BTreeMap::new(),
            ports: vec!["8080".into()],
            volumes: vec![],
            health_check: None,
            depends_on: vec![],
            resources: None,
            domain: true,
            user: Some("1000:1000".into()),
        }],
        outputs: vec![],
    }
}

/// An enabled saved template `id` at `position` with [`minimal_template`] as its definition,
/// saved now (not stored).
pub fn stored_template_of(id: &str, position: i32) -> StoredTemplate {
    let at = now();
    StoredTemplate {
        id: Name::parse(id).expect("fixture template id is valid"),
        template: minimal_template(id),
        enabled: true,
        position,
        created_at: at,
        updated_at: at,
    }
}

/// Saves [`stored_template_of`] `id` at `position`.
pub async fn seed_template(store: &dyn Store, id: &str, position: i32) -> StoredTemplate {
    let template = stored_template_of(id, position);
    store.put_template(&template).await.expect("put_template");
    template
}

/// An instance named `name` of the WordPress template in `project`, with three services and a
/// plain and a redacted output (not stored).
pub fn template_instance_of(project: &Project, name: &str) -> TemplateInstance {
    TemplateInstance {
        id: TemplateInstanceId::new(),
        org: project.org,
        project: project.id,
        name: Name::parse(name).expect("fixture instance name is valid"),
        template: Name::parse("wordpress").expect("valid template id"),
        services: vec![ServiceId::new(), ServiceId::new(), ServiceId::new()],
        outputs: vec![
            InstanceOutput {
                name: "url".into(),
                value: format!("https://{name}.example.com/wp-admin/"),
                secret: false,
            },
            InstanceOutput {
                name: "admin_password".into(),
                value: "********".into(),
                secret: true,
            },
        ],
        created_at: now(),
    }
}

/// Records an instance named `name` in `project` (names only need to be unique in the project).
pub async fn seed_template_instance(
    store: &dyn Store,
    project: &Project,
    name: &str,
) -> TemplateInstance {
    let instance = template_instance_of(project, name);
    store
        .create_template_instance(&instance)
        .await
        .expect("create_template_instance");
    instance
}

/// The saved templates among `ids`, in the store's order.
async fn listed_templates(store: &dyn Store, ids: &[&str]) -> Vec<StoredTemplate> {
    store
        .list_templates()
        .await
        .expect("list_templates")
        .into_iter()
        .filter(|t| ids.contains(&t.id.as_str()))
        .collect()
}

/// The ids of `rows`, for comparing orders with readable failures.
fn template_ids(rows: &[StoredTemplate]) -> Vec<String> {
    rows.iter().map(|t| t.id.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

/// A saved template's whole definition reads back exactly, through `template_opt` and
/// `list_templates`: every parameter type with its rules (a `secret` with a `generate` rule),
/// a `database: postgres` service with a health check, env, volumes, limits and outputs.
pub async fn templates_roundtrip_their_whole_definition(store: Arc<dyn Store>) {
    let id = unique("tpl-rich");
    let mut saved = stored_template_of(&id, 7);
    saved.template = rich_template(&id);
    store.put_template(&saved).await.expect("put_template");
    assert_eq!(
        store.template_opt(&id).await.expect("template_opt"),
        Some(saved.clone())
    );
    assert_eq!(listed_templates(&*store, &[&id]).await, vec![saved.clone()]);

    // Each parameter on its own, so a failure names the kind that does not survive.
    for parameter in &saved.template.parameters {
        let mut one = saved.clone();
        one.template.parameters = vec![parameter.clone()];
        store.put_template(&one).await.expect("put_template");
        assert_eq!(
            store.template_opt(&id).await.expect("template_opt"),
            Some(one),
            "parameter {}",
            parameter.name
        );
    }
}

/// `put_template` with the id of a saved template replaces every field of it: definition,
/// enabled flag, position and both times.
pub async fn put_template_replaces_the_whole_record(store: Arc<dyn Store>) {
    let id = unique("tpl-put");
    let original = seed_template(&*store, &id, 7).await;

    let mut definition = minimal_template(&id);
    definition.name = "Static site, v2".into();
    definition.icon = Some("globe".into());
    definition.tags = vec!["static".into()];
    definition.services[0].image = Some("caas/busybox:1.37".into());
    definition.services[0].ports = vec!["80".into(), "443".into()];
    let replaced = StoredTemplate {
        id: original.id.clone(),
        template: definition,
        enabled: false,
        position: -2,
        created_at: original.created_at - Duration::days(1),
        updated_at: original.updated_at + Duration::seconds(90),
    };
    store
        .put_template(&replaced)
        .await
        .expect("put_template(replace)");
    assert_eq!(
        store.template_opt(&id).await.expect("template_opt"),
        Some(replaced.clone())
    );
    assert_eq!(
        listed_templates(&*store, &[&id]).await,
        vec![replaced],
        "one template per id"
    );

    // And back: nothing of the replacement lingers.
    store.put_template(&original).await.expect("put_template");
    assert_eq!(
        store.template_opt(&id).await.expect("template_opt"),
        Some(original)
    );
}

/// `list_templates` orders by position (negative ones first), then by id compared bytewise
/// (`-` before letters and digits), whatever the order they were saved in or their times.
pub async fn list_templates_is_ordered_by_position_then_id(store: Arc<dyn Store>) {
    let base = unique("cat");
    let id = |suffix: &str| format!("{base}{suffix}");
    let t0 = now();
    // (id, position), saved in this order, each saved earlier than the one before.
    let saved = [
        (id("b"), 5),
        (id("-z"), 5),
        (id("a"), 5),
        (id("0"), 5),
        (id("-a"), i32::MAX),
        (id("z"), i32::MIN),
        (id("m"), -1),
        (id("-m"), 0),
    ];
    let mut all = Vec::new();
    for (i, (tid, position)) in saved.iter().enumerate() {
        let at = t0 - Duration::seconds(i as i64);
        let mut template = stored_template_of(tid, *position);
        template.created_at = at;
        template.updated_at = at;
        store.put_template(&template).await.expect("put_template");
        all.push(template);
    }
    let mut expected = all.clone();
    expected.sort_by(|a, b| (a.position, a.id.as_str()).cmp(&(b.position, b.id.as_str())));
    assert_eq!(
        template_ids(&expected),
        [
            id("z"),
            id("m"),
            id("-m"),
            id("-z"),
            id("0"),
            id("a"),
            id("b"),
            id("-a")
        ],
        "the fixture's own expectation"
    );

    let ids: Vec<&str> = saved.iter().map(|(t, _)| t.as_str()).collect();
    let listed = listed_templates(&*store, &ids).await;
    assert_eq!(template_ids(&listed), template_ids(&expected));
    assert_eq!(listed, expected);

    // Moving one changes its place.
    let mut moved = expected[0].clone();
    moved.position = 6;
    store
        .put_template(&moved)
        .await
        .expect("put_template(move)");
    let listed = listed_templates(&*store, &ids).await;
    assert_eq!(listed.last(), Some(&expected[7]));
    assert_eq!(listed[6], moved);
}

/// A deleted template is gone from look-ups and the list; deleting it again is `NotFound`;
/// its id can be saved again.
pub async fn deleted_template_is_not_found(store: Arc<dyn Store>) {
    let gone = unique("tpl-del");
    let kept = unique("tpl-kept");
    let template = seed_template(&*store, &gone, 1).await;
    let other = seed_template(&*store, &kept, 2).await;

    store.delete_template(&gone).await.expect("delete_template");
    assert_eq!(store.template_opt(&gone).await.expect("template_opt"), None);
    assert_not_found(store.delete_template(&gone).await, "delete_template(again)");
    assert_eq!(
        listed_templates(&*store, &[&gone, &kept]).await,
        vec![other.clone()]
    );
    assert_eq!(
        store.template_opt(&kept).await.expect("template_opt"),
        Some(other)
    );

    store
        .put_template(&template)
        .await
        .expect("put_template(again)");
    assert_eq!(
        store.template_opt(&gone).await.expect("template_opt"),
        Some(template)
    );
}

// ---------------------------------------------------------------------------------------------
// Template instances
// ---------------------------------------------------------------------------------------------

/// Instances read back exactly (services in order, outputs) by id and by name in their
/// project, and list per organization and per project in creation order (by id, not by name
/// or recorded time).
pub async fn template_instances_roundtrip_by_id_and_name_and_list_per_org_and_project(
    store: Arc<dyn Store>,
) {
    let org = seed_org(&*store, "tpl-inst").await;
    let web = seed_project(&*store, &org, "web").await;
    let shop = seed_project(&*store, &org, "shop").await;
    let other = seed_org(&*store, "tpl-inst-other").await;
    let other_web = seed_project(&*store, &other, "web").await;
    let t0 = now();

    let mut blog = template_instance_of(&web, "wp");
    blog.template = Name::parse(unique("custom")).expect("valid template id");
    blog.services = (0..12).map(|_| ServiceId::new()).collect();
    blog.created_at = t0;
    store
        .create_template_instance(&blog)
        .await
        .expect("create_template_instance");
    let mut bare = template_instance_of(&web, "blog");
    bare.services = vec![];
    bare.outputs = vec![];
    bare.created_at = t0 - Duration::seconds(1);
    store
        .create_template_instance(&bare)
        .await
        .expect("create_template_instance");
    let mut store_front = template_instance_of(&shop, "wp");
    store_front.created_at = t0 - Duration::seconds(2);
    store
        .create_template_instance(&store_front)
        .await
        .expect("create_template_instance");
    let foreign = seed_template_instance(&*store, &other_web, "wp").await;

    for i in [&blog, &bare, &store_front, &foreign] {
        assert_eq!(
            &store
                .template_instance(i.id)
                .await
                .expect("template_instance"),
            i
        );
    }
    let by_name = |project: ProjectId, name: &'static str| {
        let store = store.clone();
        async move {
            store
                .template_instance_by_name_opt(project, name)
                .await
                .expect("template_instance_by_name_opt")
        }
    };
    assert_eq!(by_name(web.id, "wp").await, Some(blog.clone()));
    assert_eq!(by_name(web.id, "blog").await, Some(bare.clone()));
    assert_eq!(by_name(shop.id, "wp").await, Some(store_front.clone()));
    assert_eq!(by_name(other_web.id, "wp").await, Some(foreign.clone()));
    assert_eq!(by_name(shop.id, "blog").await, None);
    assert_eq!(by_name(web.id, "WP").await, None);

    let list = |org: OrgId, project: Option<ProjectId>| {
        let store = store.clone();
        async move {
            store
                .list_template_instances(org, project)
                .await
                .expect("list_template_instances")
        }
    };
    assert_eq!(
        list(org.id, None).await,
        vec![blog.clone(), bare.clone(), store_front.clone()]
    );
    assert_eq!(list(org.id, Some(web.id)).await, vec![blog, bare]);
    assert_eq!(list(org.id, Some(shop.id)).await, vec![store_front]);
    assert_eq!(list(other.id, None).await, vec![foreign]);
    assert!(
        list(other.id, Some(web.id)).await.is_empty(),
        "the organization filters too"
    );
    assert!(list(OrgId::new(), None).await.is_empty());
}

/// An instance name is taken once per project (by another id or the same one); another
/// project may use it, and deleting the instance frees it.
pub async fn template_instance_names_are_unique_per_project_not_globally(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "tpl-names").await;
    let web = seed_project(&*store, &org, "web").await;
    let api = seed_project(&*store, &org, "api").await;
    let blog = seed_template_instance(&*store, &web, "blog").await;

    assert_already_exists(
        store
            .create_template_instance(&template_instance_of(&web, "blog"))
            .await,
        "same name in the same project",
    );
    let mut same_id = template_instance_of(&web, "other");
    same_id.id = blog.id;
    assert_already_exists(store.create_template_instance(&same_id).await, "same id");
    assert_eq!(
        store
            .list_template_instances(org.id, None)
            .await
            .expect("list"),
        vec![blog.clone()]
    );
    assert_eq!(
        store
            .template_instance_by_name_opt(web.id, "other")
            .await
            .expect("by name"),
        None
    );

    let elsewhere = seed_template_instance(&*store, &api, "blog").await;
    store
        .delete_template_instance(blog.id)
        .await
        .expect("delete_template_instance");
    let again = seed_template_instance(&*store, &web, "blog").await;
    assert_eq!(
        store
            .list_template_instances(org.id, None)
            .await
            .expect("list"),
        vec![elsewhere, again]
    );
}

/// An instance needs an existing project of its own organization: a missing project, another
/// organization's project or a missing organization is `NotFound`, and nothing is recorded.
pub async fn create_template_instance_requires_a_project_of_the_same_org(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "tpl-owner").await;
    let project = seed_project(&*store, &org, "web").await;
    let other = seed_org(&*store, "tpl-stranger").await;
    let foreign = seed_project(&*store, &other, "web").await;

    let mut missing = template_instance_of(&project, "blog");
    missing.project = ProjectId::new();
    assert_not_found(
        store.create_template_instance(&missing).await,
        "missing project",
    );

    let mut cross = template_instance_of(&foreign, "blog");
    cross.org = org.id;
    assert_not_found(
        store.create_template_instance(&cross).await,
        "project of another organization",
    );

    let mut orphan = template_instance_of(&project, "blog");
    orphan.org = OrgId::new();
    assert_not_found(
        store.create_template_instance(&orphan).await,
        "missing organization",
    );

    for i in [&missing, &cross, &orphan] {
        assert_not_found(
            store.template_instance(i.id).await,
            "template_instance(refused)",
        );
    }
    for (o, p) in [(org.id, project.id), (other.id, foreign.id)] {
        assert!(
            store
                .list_template_instances(o, None)
                .await
                .expect("list")
                .is_empty()
        );
        assert_eq!(
            store
                .template_instance_by_name_opt(p, "blog")
                .await
                .expect("by name"),
            None
        );
    }
}

/// A deleted instance is gone everywhere; deleting it again is `NotFound`; its services and
/// the other instances are untouched.
pub async fn deleted_template_instance_is_not_found(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "tpl-inst-del").await;
    let project = seed_project(&*store, &org, "web").await;
    let service = seed_service(&*store, &project, "blog-app").await;
    let mut instance = template_instance_of(&project, "blog");
    instance.services = vec![service.id];
    store
        .create_template_instance(&instance)
        .await
        .expect("create_template_instance");
    let kept = seed_template_instance(&*store, &project, "shop").await;

    store
        .delete_template_instance(instance.id)
        .await
        .expect("delete_template_instance");
    assert_not_found(
        store.template_instance(instance.id).await,
        "template_instance(deleted)",
    );
    assert_not_found(
        store.delete_template_instance(instance.id).await,
        "delete_template_instance(again)",
    );
    assert_eq!(
        store
            .template_instance_by_name_opt(project.id, "blog")
            .await
            .expect("by name"),
        None
    );
    assert_eq!(
        store
            .list_template_instances(org.id, Some(project.id))
            .await
            .expect("list"),
        vec![kept]
    );
    assert_eq!(
        store.service(service.id).await.expect("service"),
        service,
        "only the record goes"
    );
}

/// Instance records outlive the saved template they came from and the services they list:
/// neither is a key.
pub async fn template_instances_outlive_their_template_and_services(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "tpl-outlive").await;
    let project = seed_project(&*store, &org, "web").await;
    let template_id = unique("tpl-saved");
    seed_template(&*store, &template_id, 0).await;
    let app = seed_service(&*store, &project, "blog-app").await;
    let db = seed_service(&*store, &project, "blog-db").await;
    let mut instance = template_instance_of(&project, "blog");
    instance.template = Name::parse(template_id.as_str()).expect("valid id");
    instance.services = vec![db.id, app.id];
    store
        .create_template_instance(&instance)
        .await
        .expect("create_template_instance");

    store
        .delete_template(&template_id)
        .await
        .expect("delete_template");
    store.delete_service(app.id).await.expect("delete_service");
    store.delete_service(db.id).await.expect("delete_service");
    assert_eq!(
        store
            .template_instance(instance.id)
            .await
            .expect("template_instance"),
        instance
    );
    assert_eq!(
        store
            .list_template_instances(org.id, None)
            .await
            .expect("list"),
        vec![instance]
    );
}

/// Deleting a project without services deletes its instance records and no other project's;
/// a project with services keeps its instances too.
pub async fn deleting_a_project_removes_its_template_instances(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "tpl-proj").await;
    let doomed = seed_project(&*store, &org, "doomed").await;
    let busy = seed_project(&*store, &org, "busy").await;
    seed_service(&*store, &busy, "blog-app").await;
    let blog = seed_template_instance(&*store, &doomed, "blog").await;
    let shop = seed_template_instance(&*store, &doomed, "shop").await;
    let busy_blog = seed_template_instance(&*store, &busy, "blog").await;

    assert_conflict(
        store.delete_project(busy.id).await,
        "delete_project(with services)",
    );
    assert_eq!(
        store
            .template_instance(busy_blog.id)
            .await
            .expect("template_instance"),
        busy_blog
    );

    store
        .delete_project(doomed.id)
        .await
        .expect("delete_project");
    for i in [&blog, &shop] {
        assert_not_found(
            store.template_instance(i.id).await,
            "template_instance(of a deleted project)",
        );
    }
    assert_eq!(
        store
            .template_instance_by_name_opt(doomed.id, "blog")
            .await
            .expect("by name"),
        None
    );
    assert!(
        store
            .list_template_instances(org.id, Some(doomed.id))
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        store
            .list_template_instances(org.id, None)
            .await
            .expect("list"),
        vec![busy_blog]
    );

    // A new project of the same name starts without instances, and may reuse their names.
    let reborn = seed_project(&*store, &org, "doomed").await;
    seed_template_instance(&*store, &reborn, "blog").await;
}

/// Deleting an organization deletes its instance records and nothing of another organization
/// (saved templates, which have no owner, stay).
pub async fn deleting_an_org_removes_its_template_instances(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "tpl-doomed").await;
    let web = seed_project(&*store, &org, "web").await;
    let api = seed_project(&*store, &org, "api").await;
    seed_service(&*store, &web, "blog-app").await;
    let gone = [
        seed_template_instance(&*store, &web, "blog").await,
        seed_template_instance(&*store, &api, "blog").await,
    ];
    let other = seed_org(&*store, "tpl-survivor").await;
    let survivor =
        seed_template_instance(&*store, &seed_project(&*store, &other, "web").await, "blog").await;
    let template = seed_template(&*store, &unique("tpl-global"), 3).await;

    store.delete_org(org.id).await.expect("delete_org");
    for i in &gone {
        assert_not_found(
            store.template_instance(i.id).await,
            "template_instance(of a deleted org)",
        );
    }
    assert!(
        store
            .list_template_instances(org.id, None)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        store
            .template_instance_by_name_opt(web.id, "blog")
            .await
            .expect("by name"),
        None
    );
    assert_eq!(
        store
            .list_template_instances(other.id, None)
            .await
            .expect("list"),
        vec![survivor.clone()]
    );
    assert_eq!(
        store
            .template_instance(survivor.id)
            .await
            .expect("template_instance"),
        survivor
    );
    assert_eq!(
        store
            .template_opt(template.id.as_str())
            .await
            .expect("template_opt"),
        Some(template)
    );
}

/// Look-ups and deletes of templates and instances that never existed are `NotFound` (or
/// `None` for `_opt` look-ups, nothing for lists), also for ids and names no template or
/// instance could have.
pub async fn missing_templates_and_instances_are_not_found(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "tpl-ghosts").await;
    let project = seed_project(&*store, &org, "web").await;
    let never = unique("tpl-never");

    assert_eq!(
        store.template_opt(&never).await.expect("template_opt"),
        None
    );
    assert_not_found(store.delete_template(&never).await, "delete_template");
    let long = "x".repeat(300);
    for odd in ["", "Not A Name", "nul\0byte", long.as_str()] {
        assert_eq!(
            store.template_opt(odd).await.expect("template_opt(odd id)"),
            None,
            "{odd:?}"
        );
        assert_not_found(store.delete_template(odd).await, "delete_template(odd id)");
        assert_eq!(
            store
                .template_instance_by_name_opt(project.id, odd)
                .await
                .expect("by name (odd)"),
            None,
            "{odd:?}"
        );
    }
    assert_not_found(
        store.template_instance(TemplateInstanceId::new()).await,
        "template_instance",
    );
    assert_not_found(
        store
            .delete_template_instance(TemplateInstanceId::new())
            .await,
        "delete_template_instance",
    );
    assert_eq!(
        store
            .template_instance_by_name_opt(project.id, "blog")
            .await
            .expect("by name"),
        None
    );
    assert_eq!(
        store
            .template_instance_by_name_opt(ProjectId::new(), "blog")
            .await
            .expect("by name"),
        None
    );
    assert!(
        store
            .list_template_instances(org.id, None)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        store
            .list_template_instances(org.id, Some(project.id))
            .await
            .expect("list")
            .is_empty()
    );
}
