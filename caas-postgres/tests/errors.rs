//! Error mapping of `PgStore` against the real PostgreSQL: unique violations become
//! `AlreadyExists` naming the kind and the conflicting name, foreign-key violations `NotFound`
//! of the referenced object, missing rows `NotFound` with kind and id, values the schema
//! refuses `InvalidInput` naming the field, and terminated server connections are replaced
//! without the caller noticing.

#![allow(clippy::unwrap_used)]

mod common;

use caas_core::ports::store::prelude::*;
use std::fmt::Debug;

use caas_core::model::{
    AuditEntry, DatabaseEngine, Member, NewOrganization, NewPlan, NewUser, Role, ServiceEventKind,
    ServiceKind, SubscriptionStatus, User,
};
use caas_core::units::ResourceAmounts;
use caas_core::{
    AuditId, DeploymentId, Error, OrgId, PlanId, ProjectId, ReservationId, Result, ServiceId,
    TemplateInstanceId, UserId,
};
use caas_postgres::PgStore;
use caas_testkit::quota::GrantedLedger;
use caas_testkit::store::{
    LegacyDomain, deployment_of, event_of, generous_limits, now, project_of, seed_deployment,
    seed_org, seed_plan, seed_project, seed_service, seed_subscribed_org, seed_user, service_of,
    stored_template_of, subscription_of, template_instance_of, unique,
};
use sqlx::Connection;

fn err<T: Debug>(result: Result<T>, what: &str) -> Error {
    match result {
        Ok(v) => panic!("{what}: expected an error, got Ok({v:?})"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_already_exists<T: Debug>(result: Result<T>, kind: &str, id: impl ToString) {
    match err(result, kind) {
        Error::AlreadyExists { kind: k, id: i } => {
            assert_eq!((k, i), (kind, id.to_string()));
        }
        e => panic!("expected AlreadyExists({kind}), got {e:?}"),
    }
}

#[track_caller]
fn assert_not_found<T: Debug>(result: Result<T>, kind: &str, id: impl ToString) {
    match err(result, kind) {
        Error::NotFound { kind: k, id: i } => assert_eq!((k, i), (kind, id.to_string())),
        e => panic!("expected NotFound({kind}), got {e:?}"),
    }
}

#[track_caller]
fn assert_invalid<T: Debug>(result: Result<T>, field: &str) {
    let e = err(result, field);
    assert_eq!(e.field(), Some(field), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_violations_are_already_exists_naming_kind_and_name() {
    let Some((store, _db)) = common::fresh_pg_store().await else {
        return;
    };
    let org = seed_org(&store, "uniq").await;
    let twin = NewOrganization::new(org.slug.to_string())
        .build(now())
        .unwrap();
    assert_already_exists(store.create_org(&twin).await, "organization", &org.slug);
    let other = seed_org(&store, "uniq-other").await;
    let mut renamed = other.clone();
    renamed.slug = org.slug.clone();
    assert_already_exists(store.update_org(&renamed).await, "organization", &org.slug);

    let user = seed_user(&store, "uniq").await;
    let twin = NewUser::new(user.email.to_uppercase())
        .build(now())
        .unwrap();
    assert_already_exists(store.create_user(&twin).await, "user", &user.email);

    let plan = seed_plan(&store, "uniq", generous_limits()).await;
    let twin = NewPlan::new(plan.name.to_string(), generous_limits())
        .build(now())
        .unwrap();
    assert_already_exists(store.create_plan(&twin).await, "plan", &plan.name);
    let mut renamed = seed_plan(&store, "uniq-other", generous_limits()).await;
    renamed.name = plan.name.clone();
    assert_already_exists(store.update_plan(&renamed).await, "plan", &plan.name);

    let project = seed_project(&store, &org, "web").await;
    assert_already_exists(
        store.create_project(&project_of(&org, "web")).await,
        "project",
        "web",
    );
    let service = seed_service(&store, &project, "api").await;
    assert_already_exists(
        store.create_service(&service_of(&project, "api")).await,
        "service",
        "api",
    );
    let mut renamed = seed_service(&store, &project, "worker").await;
    renamed.name = service.name.clone();
    assert_already_exists(store.update_service(&renamed).await, "service", "api");

    let deployment = seed_deployment(&store, &service).await;
    assert_already_exists(
        store.create_deployment(&deployment).await,
        "deployment",
        deployment.id,
    );
    let event = event_of(&service, ServiceEventKind::Started, now());
    store.append_event(&event).await.unwrap();
    assert_already_exists(store.append_event(&event).await, "event", event.id);
    let entry = AuditEntry {
        id: AuditId::new(),
        at: now(),
        actor: None,
        org: None,
        action: "test".into(),
        target: "platform".into(),
        before: None,
        after: None,
    };
    store.append_audit(&entry).await.unwrap();
    assert_already_exists(store.append_audit(&entry).await, "audit entry", entry.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_key_violations_are_not_found_of_the_referenced_object() {
    let Some((store, _db)) = common::fresh_pg_store().await else {
        return;
    };
    let org = seed_org(&store, "fk").await;
    let user = seed_user(&store, "fk").await;
    let plan = seed_plan(&store, "fk", generous_limits()).await;
    let ghost_org = OrgId::new();
    let ghost_user = UserId::new();

    let member = |org: OrgId, user: UserId| Member {
        org,
        user,
        role: Role::Member,
        projects: None,
        created_at: now(),
    };
    assert_not_found(
        store.put_member(&member(ghost_org, user.id)).await,
        "organization",
        ghost_org,
    );
    assert_not_found(
        store.put_member(&member(org.id, ghost_user)).await,
        "user",
        ghost_user,
    );

    let mut sub = subscription_of(&org, &plan, SubscriptionStatus::Active);
    sub.plan = PlanId::new();
    assert_not_found(store.put_subscription(&sub).await, "plan", sub.plan);
    let mut sub = subscription_of(&org, &plan, SubscriptionStatus::Active);
    sub.org = ghost_org;
    assert_not_found(
        store.put_subscription(&sub).await,
        "organization",
        ghost_org,
    );

    // caas-rs's own tables do not reference the directory's (it may be a host
    // application's): a project of an organization this store does not hold is kept.
    let mut project = project_of(&org, "web");
    project.org = ghost_org;
    store
        .create_project(&project)
        .await
        .expect("a project of another directory's organization");

    let project = seed_project(&store, &org, "web").await;
    let mut service = service_of(&project, "api");
    service.project = ProjectId::new();
    assert_not_found(
        store.create_service(&service).await,
        "project",
        service.project,
    );
    // A real project, but of another organization: the reference is (project, org).
    let other = seed_org(&store, "fk-other").await;
    let mut smuggled = service_of(&project, "api");
    smuggled.org = other.id;
    assert_not_found(store.create_service(&smuggled).await, "project", project.id);

    let service = seed_service(&store, &project, "api").await;
    let mut orphan = deployment_of(&service, now());
    orphan.service = ServiceId::new();
    assert_not_found(
        store.create_deployment(&orphan).await,
        "service",
        orphan.service,
    );
    let mut mismatched = deployment_of(&service, now());
    mismatched.org = other.id;
    assert_not_found(
        store.create_deployment(&mismatched).await,
        "service",
        service.id,
    );
    let mut event = event_of(&service, ServiceEventKind::Lost, now());
    event.service = ServiceId::new();
    assert_not_found(store.append_event(&event).await, "service", event.service);

    let at = now();
    assert_not_found(
        store
            .reserve_for(ghost_org, ResourceAmounts::ZERO, at, at)
            .await,
        "organization",
        ghost_org,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_rows_are_not_found_with_kind_and_id() {
    let Some((store, _db)) = common::fresh_pg_store().await else {
        return;
    };
    let (u, o, p) = (UserId::new(), OrgId::new(), PlanId::new());
    let (pr, s, d, r) = (
        ProjectId::new(),
        ServiceId::new(),
        DeploymentId::new(),
        ReservationId::new(),
    );
    assert_not_found(store.user(u).await, "user", u);
    assert_not_found(store.org(o).await, "organization", o);
    assert_not_found(store.delete_org(o).await, "organization", o);
    assert_not_found(store.plan(p).await, "plan", p);
    assert_not_found(store.delete_plan(p).await, "plan", p);
    assert_not_found(store.project(pr).await, "project", pr);
    assert_not_found(store.delete_project(pr).await, "project", pr);
    assert_not_found(store.service(s).await, "service", s);
    assert_not_found(store.delete_service(s).await, "service", s);
    assert_not_found(store.deployment(d).await, "deployment", d);
    assert_not_found(store.reservation(r).await, "reservation", r);
    assert_not_found(store.quota_commit(r, "x", now()).await, "reservation", r);
    assert_not_found(store.quota_release(r).await, "reservation", r);
    assert_not_found(store.usage_for(o, now()).await, "organization", o);

    let org = seed_org(&store, "ghost").await;
    let project = seed_project(&store, &org, "web").await;
    let service = service_of(&project, "api");
    assert_not_found(store.update_service(&service).await, "service", service.id);
    let ghost = NewOrganization::new("ghost-org").build(now()).unwrap();
    assert_not_found(store.update_org(&ghost).await, "organization", ghost.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_beyond_bigint_are_invalid_input_naming_the_field() {
    let Some((store, _db)) = common::fresh_pg_store().await else {
        return;
    };
    let mut limits = generous_limits();
    limits.cpu_millis = u64::MAX;
    let plan = NewPlan::new("huge", limits).build(now()).unwrap();
    assert_invalid(store.create_plan(&plan).await, "limits.cpu_millis");
    assert_not_found(store.plan(plan.id).await, "plan", plan.id);

    let mut plan = NewPlan::new("pricey", generous_limits())
        .build(now())
        .unwrap();
    plan.monthly_price_cents = u64::MAX;
    assert_invalid(store.create_plan(&plan).await, "monthly_price_cents");

    let mut plan = seed_plan(&store, "grow", generous_limits()).await;
    plan.limits.max_projects = u64::MAX;
    assert_invalid(store.update_plan(&plan).await, "limits.max_projects");
    assert_eq!(
        store.plan(plan.id).await.unwrap().limits,
        generous_limits(),
        "refused update changed nothing"
    );

    // A reservation that large can never fit a storable plan: it is a quota refusal.
    let (org, _) = seed_subscribed_org(&store, "huge", generous_limits()).await;
    let at = now();
    let ask = ResourceAmounts {
        memory_bytes: u64::MAX,
        ..ResourceAmounts::ZERO
    };
    let e = err(
        store
            .reserve_for(org.id, ask, at, at + chrono::Duration::minutes(1))
            .await,
        "quota_reserve(huge)",
    );
    assert!(e.is_quota_exceeded(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_the_schema_refuses_are_invalid_input_naming_the_column() {
    let Some((store, _db)) = common::fresh_pg_store().await else {
        return;
    };
    // Built around the validating constructor, as a careless embedder might.
    let user = User {
        id: UserId::new(),
        email: "long@example.com".into(),
        display_name: "x".repeat(201),
        platform_admin: false,
        disabled: false,
        created_at: now(),
    };
    assert_invalid(store.create_user(&user).await, "display_name");

    let org = seed_org(&store, "checks").await;
    let plan = seed_plan(&store, "checks", generous_limits()).await;
    let mut sub = subscription_of(&org, &plan, SubscriptionStatus::Active);
    sub.period_end = sub.period_start - chrono::Duration::days(1);
    assert_invalid(store.put_subscription(&sub).await, "period_end");

    let mut nul = org.clone();
    nul.display_name = "nul\0byte".into();
    let e = err(store.update_org(&nul).await, "update_org(NUL)");
    assert!(e.is_invalid_input(), "{e:?}");
    assert_eq!(store.org(org.id).await.unwrap(), org);

    assert_invalid(store.put_setting("", &serde_json::json!(1)).await, "key");
    assert_eq!(store.setting_opt("").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_instance_errors_name_the_instance_or_the_missing_project() {
    let Some((store, _db)) = common::fresh_pg_store().await else {
        return;
    };
    let org = seed_org(&store, "tpl").await;
    let project = seed_project(&store, &org, "web").await;
    let blog = template_instance_of(&project, "blog");
    store.create_template_instance(&blog).await.unwrap();

    assert_already_exists(
        store
            .create_template_instance(&template_instance_of(&project, "blog"))
            .await,
        "template instance",
        "blog",
    );
    let mut same_id = template_instance_of(&project, "shop");
    same_id.id = blog.id;
    assert_already_exists(
        store.create_template_instance(&same_id).await,
        "template instance",
        blog.id,
    );
    let mut orphan = template_instance_of(&project, "shop");
    orphan.project = ProjectId::new();
    assert_not_found(
        store.create_template_instance(&orphan).await,
        "project",
        orphan.project,
    );
    let missing = TemplateInstanceId::new();
    assert_not_found(
        store.template_instance(missing).await,
        "template instance",
        missing,
    );
    assert_not_found(store.delete_template("nope").await, "template", "nope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_and_outputs_with_a_nul_character_are_invalid_input_and_store_nothing() {
    let Some((store, _db)) = common::fresh_pg_store().await else {
        return;
    };
    // JSONB cannot hold U+0000; the server refuses it and nothing is written.
    let id = unique("nul");
    let mut template = stored_template_of(&id, 0);
    template.template.description = "nul\0byte".into();
    let e = err(store.put_template(&template).await, "put_template(NUL)");
    assert!(e.is_invalid_input(), "{e:?}");
    assert_eq!(store.template_opt(&id).await.unwrap(), None);

    let org = seed_org(&store, "nul").await;
    let project = seed_project(&store, &org, "web").await;
    let mut instance = template_instance_of(&project, "blog");
    instance.outputs[0].value = "nul\0byte".into();
    let e = err(
        store.create_template_instance(&instance).await,
        "create_template_instance(NUL)",
    );
    assert!(e.is_invalid_input(), "{e:?}");
    assert_not_found(
        store.template_instance(instance.id).await,
        "template instance",
        instance.id,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_deletes_are_conflicts_naming_the_object() {
    let Some((store, _db)) = common::fresh_pg_store().await else {
        return;
    };
    let (org, plan) = seed_subscribed_org(&store, "busy", generous_limits()).await;
    let e = err(store.delete_plan(plan.id).await, "delete_plan(in use)");
    assert!(
        e.is_conflict() && e.to_string().contains(plan.name.as_str()),
        "{e}"
    );
    let project = seed_project(&store, &org, "web").await;
    let mut db = project_of(&org, "data");
    db.reservation = Some(ReservationId::new());
    store.create_project(&db).await.unwrap();
    let mut service = service_of(&db, "pg");
    service.kind = ServiceKind::Database {
        engine: DatabaseEngine::Postgres,
    };
    store.create_service(&service).await.unwrap();
    let e = err(store.delete_project(db.id).await, "delete_project(busy)");
    assert!(e.is_conflict() && e.to_string().contains("'data'"), "{e}");
    store.delete_project(project.id).await.unwrap();
}

/// The server ends every connection of the store (a restart, an administrator, a failover):
/// the next calls open new connections and succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_server_connections_are_replaced_transparently() {
    let Some((store, db)) = common::fresh_pg_store().await else {
        return;
    };
    let org = seed_org(&store, "survivor").await;
    // Open several pooled connections.
    let (a, b, c) = tokio::join!(store.org(org.id), store.org(org.id), store.ping());
    a.unwrap();
    b.unwrap();
    c.unwrap();

    let mut admin = sqlx::PgConnection::connect_with(&db.admin).await.unwrap();
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
         WHERE application_name = $1 AND usename = current_user \
         AND backend_type = 'client backend'",
    )
    .bind(&db.name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!terminated.is_empty() && terminated.iter().all(|t| *t));

    for _ in 0..3 {
        assert_eq!(store.org(org.id).await.unwrap(), org);
    }
    store.ping().await.unwrap();
    admin.close().await.unwrap();
}

#[tokio::test]
async fn bad_urls_and_credentials_are_invalid_input() {
    let e = err(
        PgStore::connect("mysql://nobody@127.0.0.1/db").await,
        "connect(mysql)",
    );
    assert_eq!(e.field(), Some("database_url"), "{e:?}");

    let Some(db) = common::fresh_database().await else {
        return;
    };
    let wrong = db.options.clone().password("definitely-not-the-password");
    let e = err(PgStore::connect_with(wrong).await, "connect(bad password)");
    assert_eq!(e.field(), Some("database_url"), "{e:?}");
    let missing = db.options.clone().database("caas_t_does_not_exist");
    let e = err(PgStore::connect_with(missing).await, "connect(no database)");
    assert_eq!(e.field(), Some("database_url"), "{e:?}");
}

#[tokio::test]
async fn the_upgrade_to_one_firing_alert_resolves_duplicates_keeping_the_oldest() {
    let Some(db) = common::fresh_database().await else {
        return;
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(db.options.clone())
        .await
        .unwrap();
    // The schema before `0010_one_firing_alert.sql`, which let two evaluators raise one alert.
    let before = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            caas_postgres::MIGRATOR
                .migrations
                .iter()
                .filter(|m| m.version < 10)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    before.run(&pool).await.unwrap();
    let store = PgStore::from_pool(pool);
    caas_testkit::store::upgrading_resolves_duplicate_firing_alerts(&store, async {
        store.migrate().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_upgrade_to_hostname_claims_gives_each_hostname_one_owner() {
    let Some(db) = common::fresh_database().await else {
        return;
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(db.options.clone())
        .await
        .unwrap();
    // The schema before `0011_tenant_isolation.sql`: a verification per domain, and one
    // hostname shared by several organizations on different paths.
    let before = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            caas_postgres::MIGRATOR
                .migrations
                .iter()
                .filter(|m| m.version < 11)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    before.run(&pool).await.unwrap();
    let store = PgStore::from_pool(pool);
    let insert_legacy = async |legacy: LegacyDomain| {
        let d = &legacy.domain;
        sqlx::query(
            "INSERT INTO domains (id, org_id, service_id, hostname, path_prefix, strip_prefix, \
             target_port, verification, verification_token, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(d.id.0)
        .bind(d.org.0)
        .bind(d.service.0)
        .bind(d.hostname.as_str())
        .bind(&d.path_prefix)
        .bind(d.strip_prefix)
        .bind(i32::from(d.target_port))
        .bind(sqlx::types::Json(&legacy.verification))
        .bind(&legacy.token)
        .bind(d.created_at)
        .execute(store.pool())
        .await
        .unwrap();
    };
    caas_testkit::store::upgrading_gives_each_hostname_one_owner(&store, insert_legacy, async {
        store.migrate().await.unwrap();
    })
    .await;
}
