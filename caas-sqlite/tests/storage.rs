//! What the conformance suites cannot see: how `SqliteStore` maps SQLite's errors (naming the
//! kind and the conflicting name or missing id), how it encodes values in the file, and that quota atomicity holds between two stores (two pools,
//! as two processes would have) on one file.
#![allow(clippy::unwrap_used)]

use caas_core::ServiceRef;
use caas_core::ports::store::prelude::*;
use std::sync::Arc;
use std::time::Instant;

use caas_core::model::{
    NewOrganization, NewPlan, NewUser, PlanLimits, Resolution, SubscriptionStatus,
};
use caas_core::units::ResourceAmounts;
use caas_core::{Error, OrgId, PlanId, ProjectId, ServiceId, Store, TemplateInstanceId, UserId};
use caas_sqlite::SqliteStore;
use caas_testkit::metrics;
use caas_testkit::quota::GrantedLedger;
use caas_testkit::store::{
    LegacyDomain, deployment_of, event_of, generous_limits, now, project_of, rich_template,
    seed_org, seed_plan, seed_project, seed_service, seed_subscribed_org, seed_template_instance,
    seed_user, service_of, stored_template_of, subscription_of, template_instance_of, unique,
};
use chrono::{Duration, SubsecRound, TimeZone, Utc};
use tempfile::TempDir;

async fn file_store() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir).await;
    store.migrate().await.unwrap();
    (store, dir)
}

async fn open_in(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("caas.db").to_str().unwrap())
        .await
        .unwrap()
}

fn kind_and_id(e: &Error) -> (&'static str, &str) {
    match e {
        Error::NotFound { kind, id } | Error::AlreadyExists { kind, id } => (kind, id),
        other => panic!("expected NotFound or AlreadyExists, got {other:?}"),
    }
}

#[tokio::test]
async fn unique_violations_are_already_exists_naming_the_conflicting_name() {
    let (store, _dir) = file_store().await;
    let user = seed_user(&store, "ann").await;
    let twin = NewUser::new(user.email.clone()).build(now()).unwrap();
    let e = store.create_user(&twin).await.unwrap_err();
    assert!(e.is_already_exists());
    assert_eq!(kind_and_id(&e), ("user", user.email.as_str()));

    let org = seed_org(&store, "acme").await;
    let twin = NewOrganization::new(org.slug.to_string())
        .build(now())
        .unwrap();
    let e = store.create_org(&twin).await.unwrap_err();
    assert_eq!(kind_and_id(&e), ("organization", org.slug.as_str()));
    let mut same_id = twin.clone();
    same_id.id = org.id;
    same_id.slug = caas_core::validate::Slug::parse(unique("fresh")).unwrap();
    let e = store.create_org(&same_id).await.unwrap_err();
    assert_eq!(
        kind_and_id(&e),
        ("organization", org.id.to_string().as_str())
    );

    let project = seed_project(&store, &org, "web").await;
    let e = store
        .create_project(&project_of(&org, "web"))
        .await
        .unwrap_err();
    assert_eq!(kind_and_id(&e), ("project", "web"));
    seed_service(&store, &project, "api").await;
    let e = store
        .create_service(&service_of(&project, "api"))
        .await
        .unwrap_err();
    assert_eq!(kind_and_id(&e), ("service", "api"));

    let plan = seed_plan(&store, "gold", generous_limits()).await;
    let mut renamed = seed_plan(&store, "silver", generous_limits()).await;
    renamed.name = plan.name.clone();
    let e = store.update_plan(&renamed).await.unwrap_err();
    assert_eq!(kind_and_id(&e), ("plan", plan.name.as_str()));
}

#[tokio::test]
async fn foreign_key_violations_are_not_found_of_the_missing_row() {
    let (store, _dir) = file_store().await;
    let org = seed_org(&store, "fk").await;
    let user = seed_user(&store, "fk").await;
    let plan = seed_plan(&store, "fk", generous_limits()).await;
    let project = seed_project(&store, &org, "web").await;
    let service = seed_service(&store, &project, "api").await;

    let ghost_user = UserId::new();
    let member = caas_core::model::Member {
        org: org.id,
        user: ghost_user,
        role: caas_core::model::Role::Member,
        projects: Some(vec![project.id]),
        created_at: now(),
    };
    let e = store.put_member(&member).await.unwrap_err();
    assert_eq!(kind_and_id(&e), ("user", ghost_user.to_string().as_str()));
    let ghost_org = OrgId::new();
    let member = caas_core::model::Member {
        org: ghost_org,
        user: user.id,
        ..member
    };
    let e = store.put_member(&member).await.unwrap_err();
    assert_eq!(
        kind_and_id(&e),
        ("organization", ghost_org.to_string().as_str())
    );

    let mut sub = subscription_of(&org, &plan, SubscriptionStatus::Active);
    sub.plan = PlanId::new();
    let e = store.put_subscription(&sub).await.unwrap_err();
    assert_eq!(kind_and_id(&e), ("plan", sub.plan.to_string().as_str()));

    let mut d = deployment_of(&service, now());
    d.service = ServiceId::new();
    let e = store.create_deployment(&d).await.unwrap_err();
    assert_eq!(kind_and_id(&e), ("service", d.service.to_string().as_str()));

    let mut ev = event_of(&service, caas_core::model::ServiceEventKind::Lost, now());
    ev.service = ServiceId::new();
    let e = store.append_event(&ev).await.unwrap_err();
    assert_eq!(
        kind_and_id(&e),
        ("service", ev.service.to_string().as_str())
    );

    // caas-rs's own tables do not reference the directory's (it may be a host
    // application's): a project of an organization this store does not hold is kept.
    let mut p = project_of(&org, "jobs");
    p.org = OrgId::new();
    store
        .create_project(&p)
        .await
        .expect("a project of another directory's organization");
}

#[tokio::test]
async fn refused_deletes_say_what_remains() {
    let (store, _dir) = file_store().await;
    let (org, plan) = seed_subscribed_org(&store, "busy", generous_limits()).await;
    let project = seed_project(&store, &org, "web").await;
    seed_service(&store, &project, "api").await;
    seed_service(&store, &project, "worker").await;

    let e = store.delete_project(project.id).await.unwrap_err();
    assert!(e.is_conflict());
    assert!(
        e.to_string().contains("'web' still has 2 service(s)"),
        "{e}"
    );
    let e = store.delete_plan(plan.id).await.unwrap_err();
    assert!(e.is_conflict());
    assert!(e.to_string().contains("used by 1 subscription(s)"), "{e}");

    // The refusals rolled back and released the write lock: writes still work.
    store.delete_org(org.id).await.unwrap();
    store.delete_plan(plan.id).await.unwrap();
}

#[tokio::test]
async fn values_the_schema_refuses_are_invalid_input_naming_the_field() {
    let (store, _dir) = file_store().await;
    let limits = PlanLimits {
        memory_bytes: u64::MAX,
        ..generous_limits()
    };
    let plan = NewPlan::new(unique("huge"), limits).build(now()).unwrap();
    let e = store.create_plan(&plan).await.unwrap_err();
    assert_eq!(e.field(), Some("limits.memory_bytes"), "{e:?}");
    assert!(store.plan(plan.id).await.unwrap_err().is_not_found());

    let mut plan = NewPlan::new(unique("pricey"), generous_limits())
        .build(now())
        .unwrap();
    plan.monthly_price_cents = u64::MAX;
    let e = store.create_plan(&plan).await.unwrap_err();
    assert_eq!(e.field(), Some("monthly_price_cents"), "{e:?}");

    let mut user = NewUser::new(format!("{}@example.com", unique("far")))
        .build(now())
        .unwrap();
    user.created_at = Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap();
    let e = store.create_user(&user).await.unwrap_err();
    assert_eq!(e.field(), Some("created_at"), "{e:?}");

    // Check constraints are named after their field.
    let mut user = NewUser::new(format!("{}@example.com", unique("loud")))
        .build(now())
        .unwrap();
    user.email = user.email.to_uppercase();
    let e = store.create_user(&user).await.unwrap_err();
    assert_eq!(e.field(), Some("email"), "{e:?}");
    let org = seed_org(&store, "backwards").await;
    let plan = seed_plan(&store, "backwards", generous_limits()).await;
    let mut sub = subscription_of(&org, &plan, SubscriptionStatus::Active);
    sub.period_end = sub.period_start - chrono::Duration::days(1);
    let e = store.put_subscription(&sub).await.unwrap_err();
    assert_eq!(e.field(), Some("period_end"), "{e:?}");
}

#[tokio::test]
async fn ids_are_blobs_and_timestamps_fixed_precision_text_truncated_to_microseconds() {
    let (store, _dir) = file_store().await;
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 8, 30, 0).unwrap()
        + chrono::Duration::nanoseconds(123_456_789);
    let mut org = NewOrganization::new(unique("raw")).build(at).unwrap();
    org.created_at = at;
    store.create_org(&org).await.unwrap();

    let (kind, len, created_at, status): (String, i64, String, String) = sqlx::query_as(
        "SELECT typeof(id), length(id), created_at, status FROM organizations WHERE slug = ?",
    )
    .bind(org.slug.as_str())
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((kind.as_str(), len), ("blob", 16));
    assert_eq!(created_at, "2026-03-01T08:30:00.123456Z");
    assert_eq!(status, "active");
    let read = store.org(org.id).await.unwrap();
    assert_eq!(read.created_at, at.trunc_subsecs(6));
}

#[tokio::test]
async fn search_folds_unicode_case_and_takes_wildcards_literally() {
    let (store, _dir) = file_store().await;
    let mut new = NewOrganization::new(unique("ecole"));
    new.display_name = "ÉCOLE 100%_Sûre".into();
    let ecole = new.build(now()).unwrap();
    store.create_org(&ecole).await.unwrap();
    let mut new = NewOrganization::new(unique("plain"));
    new.display_name = "Plain 100 Co".into();
    let plain = new.build(now()).unwrap();
    store.create_org(&plain).await.unwrap();

    let search = |needle: &str| {
        let mut f = caas_core::ports::store::OrgFilter::default();
        f.search = Some(needle.to_string());
        let store = store.clone();
        async move {
            store
                .list_orgs(&f)
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("école").await, vec![ecole.id]);
    assert_eq!(search("SÛRE").await, vec![ecole.id]);
    assert_eq!(search("%").await, vec![ecole.id]);
    assert_eq!(search("0%_s").await, vec![ecole.id]);
    assert_eq!(search("_").await, vec![ecole.id]);
    assert_eq!(search("100 ").await, vec![plain.id]);
}

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let (store, dir) = file_store().await;
    let (org, plan) = seed_subscribed_org(&store, "durable", generous_limits()).await;
    let at = now();
    let r = store
        .reserve_for(
            org.id,
            ResourceAmounts::one_project(),
            at,
            at + chrono::Duration::minutes(15),
        )
        .await
        .unwrap();
    store.pool().close().await;
    drop(store);

    let reopened = open_in(&dir).await;
    reopened.migrate().await.unwrap();
    assert_eq!(reopened.org(org.id).await.unwrap(), org);
    assert_eq!(reopened.plan(plan.id).await.unwrap(), plan);
    assert_eq!(reopened.reservation(r.id).await.unwrap(), r);
}

/// Two stores on one file have separate pools and separate in-process write gates, like two
/// processes: only SQLite's write lock (`BEGIN IMMEDIATE`) keeps them from over-admitting.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_never_admit_past_the_limit() {
    const CALLERS: usize = 40;
    const LIMIT: u64 = 10;
    let (first, dir) = file_store().await;
    let second = open_in(&dir).await;
    let limits = PlanLimits {
        max_containers: LIMIT,
        ..generous_limits()
    };
    let (org, _) = seed_subscribed_org(&first, "twins", limits).await;
    let stores: [Arc<dyn Store>; 2] = [Arc::new(first), Arc::new(second)];
    let one = ResourceAmounts {
        containers: 1,
        ..ResourceAmounts::ZERO
    };
    let started = Instant::now();
    for round in 0..5 {
        let barrier = Arc::new(tokio::sync::Barrier::new(CALLERS));
        let tasks: Vec<_> = (0..CALLERS)
            .map(|i| {
                let store = stores[i % 2].clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let at = now();
                    store
                        .reserve_for(org.id, one, at, at + chrono::Duration::minutes(15))
                        .await
                })
            })
            .collect();
        let mut admitted = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(r) => admitted.push(r),
                Err(e) => assert!(e.is_quota_exceeded(), "round {round}: {e:?}"),
            }
        }
        assert_eq!(admitted.len() as u64, LIMIT, "round {round}");
        for r in admitted {
            stores[0].quota_release(r.id).await.unwrap();
        }
    }
    eprintln!("5 rounds across two stores took {:?}", started.elapsed());
}

/// A writer that keeps the lock past the 5 s busy timeout makes writes fail with the
/// retryable `Unavailable`, not `Backend`.
#[tokio::test]
async fn a_database_locked_past_the_busy_timeout_is_unavailable() {
    let (store, dir) = file_store().await;
    let (org, _) = seed_subscribed_org(&store, "locked", generous_limits()).await;
    let other = open_in(&dir).await;
    let mut holder = other.pool().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await
        .unwrap();

    let at = now();
    let e = store
        .reserve_for(
            org.id,
            ResourceAmounts::one_project(),
            at,
            at + chrono::Duration::minutes(15),
        )
        .await
        .unwrap_err();
    assert!(e.is_unavailable() && e.is_retryable(), "{e:?}");

    sqlx::query("ROLLBACK").execute(&mut *holder).await.unwrap();
    let at = now();
    store
        .reserve_for(
            org.id,
            ResourceAmounts::one_project(),
            at,
            at + chrono::Duration::minutes(15),
        )
        .await
        .unwrap();
}

/// No free connection within the pool's acquire timeout is `Unavailable` too.
#[tokio::test]
async fn an_exhausted_pool_is_unavailable() {
    let store = SqliteStore::open(":memory:").await.unwrap();
    store.migrate().await.unwrap();
    let held = store.pool().acquire().await.unwrap();
    let e = store.ping().await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    drop(held);
    store.ping().await.unwrap();
}

#[tokio::test]
async fn metric_values_the_store_cannot_keep_are_invalid_input_and_the_batch_is_refused_whole() {
    let (store, _dir) = file_store().await;
    let svc = ServiceId::new();
    let t0 = metrics::base(2030);
    let good = metrics::sample(svc, t0, 1.0, 1);
    let mut big = metrics::sample(svc, t0 + Duration::seconds(1), 1.0, 1);
    big.net_rx_bytes = u64::MAX;
    let e = store
        .insert_metrics(&[good.clone(), big])
        .await
        .unwrap_err();
    assert!(e.is_invalid_input(), "{e:?}");
    assert_eq!(e.field(), Some("net_rx_bytes"), "{e:?}");
    let mut nan = good.clone();
    nan.cpu_percent = f64::NAN;
    let e = store.insert_metrics(&[nan]).await.unwrap_err();
    assert_eq!(e.field(), Some("cpu_percent"), "{e:?}");
    let day = t0 + Duration::days(1);
    let raw = store.query_metrics(svc, Resolution::Raw, t0, day);
    assert!(
        raw.await.unwrap().is_empty(),
        "nothing of a refused batch is stored"
    );

    // i64::MAX itself is kept exactly.
    let mut max = good;
    max.block_write_bytes = i64::MAX as u64;
    assert_eq!(store.insert_metrics(&[max]).await.unwrap(), 1);
    let raw = store.query_metrics(svc, Resolution::Raw, t0, day).await;
    assert_eq!(raw.unwrap()[0].block_write_bytes, i64::MAX as u64);
}

#[tokio::test]
async fn metric_times_are_integer_microseconds_and_buckets_floor_before_1970() {
    let (store, _dir) = file_store().await;
    let svc = ServiceId::new();
    let epoch = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap();
    let samples = [
        metrics::sample(svc, epoch - Duration::milliseconds(29_500), 10.0, 10),
        metrics::sample(svc, epoch - Duration::nanoseconds(1_000), 30.0, 30),
        metrics::sample(svc, epoch + Duration::seconds(10), 50.0, 50),
    ];
    store.insert_metrics(&samples).await.unwrap();
    let (kind, at): (String, i64) =
        sqlx::query_as("SELECT typeof(at), min(at) FROM metric_samples WHERE service_id = ?")
            .bind(svc.as_uuid())
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!((kind.as_str(), at), ("integer", -29_500_000));

    let (from, to) = (epoch - Duration::hours(1), epoch + Duration::minutes(1));
    let written = store.rollup_metrics(Resolution::Minute, from, to).await;
    assert_eq!(written.unwrap(), 2);
    let got = store.query_metrics(svc, Resolution::Minute, from, to).await;
    let got = got.unwrap();
    let expected = metrics::expected_rollup(&samples, Resolution::Minute);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].at, epoch - Duration::minutes(1));
    for (g, e) in got.iter().zip(&expected) {
        metrics::assert_point_eq(g, e);
    }
}

#[tokio::test]
async fn metrics_outlive_their_service_and_queries_stop_at_10_000_points() {
    let (store, _dir) = file_store().await;
    let org = seed_org(&store, "metered").await;
    let project = seed_project(&store, &org, "web").await;
    let service = seed_service(&store, &project, "api").await;
    let t0 = metrics::base(2031);
    let samples: Vec<_> = (0..10_001)
        .map(|i| metrics::sample(service.id, t0 + Duration::seconds(i), 1.0, i as u64))
        .collect();
    assert_eq!(store.insert_metrics(&samples).await.unwrap(), 10_001);
    store.delete_service(service.id).await.unwrap();

    let day = t0 + Duration::days(1);
    let got = store.query_metrics(service.id, Resolution::Raw, t0, day);
    let got = got.await.unwrap();
    assert_eq!(got.len(), 10_000);
    assert_eq!(got[0].at, t0);
    assert_eq!(got[9_999].at, t0 + Duration::seconds(9_999));
}

#[tokio::test]
async fn template_instance_errors_name_the_instance_or_the_missing_project() {
    let (store, _dir) = file_store().await;
    let org = seed_org(&store, "tpl").await;
    let project = seed_project(&store, &org, "web").await;
    let blog = seed_template_instance(&store, &project, "blog").await;

    let e = store
        .create_template_instance(&template_instance_of(&project, "blog"))
        .await
        .unwrap_err();
    assert_eq!(kind_and_id(&e), ("template instance", "blog"));
    let mut same_id = template_instance_of(&project, "shop");
    same_id.id = blog.id;
    let e = store.create_template_instance(&same_id).await.unwrap_err();
    assert_eq!(
        kind_and_id(&e),
        ("template instance", blog.id.to_string().as_str())
    );

    let mut orphan = template_instance_of(&project, "shop");
    orphan.project = ProjectId::new();
    let e = store.create_template_instance(&orphan).await.unwrap_err();
    assert_eq!(
        kind_and_id(&e),
        ("project", orphan.project.to_string().as_str())
    );
    let missing = TemplateInstanceId::new();
    let e = store.template_instance(missing).await.unwrap_err();
    assert_eq!(
        kind_and_id(&e),
        ("template instance", missing.to_string().as_str())
    );
    let e = store.delete_template("nope").await.unwrap_err();
    assert_eq!(kind_and_id(&e), ("template", "nope"));
}

#[tokio::test]
async fn templates_and_instances_are_json_text_in_the_file() {
    let (store, _dir) = file_store().await;
    let id = unique("tpl");
    let mut template = stored_template_of(&id, -4);
    template.template = rich_template(&id);
    store.put_template(&template).await.unwrap();
    let (kind, name, engine, position): (String, String, String, i64) = sqlx::query_as(
        "SELECT typeof(definition), json_extract(definition, '$.name'),
                json_extract(definition, '$.services[0].database'), position
         FROM templates WHERE id = ?",
    )
    .bind(&id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(
        (kind.as_str(), name, engine.as_str(), position),
        ("text", template.template.name.clone(), "postgres", -4)
    );

    let org = seed_org(&store, "tpl-json").await;
    let project = seed_project(&store, &org, "web").await;
    let instance = seed_template_instance(&store, &project, "blog").await;
    let (services, first, secret): (i64, String, i64) = sqlx::query_as(
        "SELECT json_array_length(services), json_extract(services, '$[0]'),
                json_extract(outputs, '$[1].secret')
         FROM template_instances WHERE id = ?",
    )
    .bind(instance.id.as_uuid())
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(
        (services, first, secret),
        (3, instance.services[0].to_string(), 1)
    );
}

#[tokio::test]
async fn the_upgrade_to_one_firing_alert_resolves_duplicates_keeping_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir).await;
    // The schema before `0009_one_firing_alert.sql`, which let two evaluators raise one alert.
    migrations_before(9).run(store.pool()).await.unwrap();
    caas_testkit::store::upgrading_resolves_duplicate_firing_alerts(&store, async {
        store.migrate().await.unwrap();
    })
    .await;
}

/// Migrations before `version` only: the schema an earlier release left.
fn migrations_before(version: i64) -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            caas_sqlite::MIGRATOR
                .migrations
                .iter()
                .filter(|m| m.version < version)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    }
}

/// Writes a domain as releases before `0010_tenant_isolation.sql` stored it: with its own
/// verification (JSON text) and token, in the store's timestamp format.
async fn insert_legacy_domain(store: &SqliteStore, legacy: LegacyDomain) {
    let d = &legacy.domain;
    sqlx::query(
        "INSERT INTO domains (id, org_id, service_id, hostname, path_prefix, strip_prefix,
                              target_port, verification, verification_token, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(d.id.as_uuid())
    .bind(d.org.as_uuid())
    .bind(d.service.as_uuid())
    .bind(d.hostname.as_str())
    .bind(&d.path_prefix)
    .bind(d.strip_prefix)
    .bind(i64::from(d.target_port))
    .bind(serde_json::to_string(&legacy.verification).unwrap())
    .bind(&legacy.token)
    .bind(d.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
    .execute(store.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn the_upgrade_to_hostname_claims_gives_each_hostname_one_owner() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir).await;
    // The schema before `0010_tenant_isolation.sql`: a verification per domain, and one
    // hostname shared by several organizations on different paths.
    migrations_before(10).run(store.pool()).await.unwrap();
    let insert_legacy = async |legacy: LegacyDomain| insert_legacy_domain(&store, legacy).await;
    caas_testkit::store::upgrading_gives_each_hostname_one_owner(&store, insert_legacy, async {
        store.migrate().await.unwrap();
    })
    .await;
    // The migration wrote the claims' expiry in the store's own format (six fractional
    // digits, where SQLite's strftime gives three), so it compares as text with the times
    // the store writes.
    let expiries: Vec<String> = sqlx::query_scalar("SELECT expires_at FROM host_claims")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(!expiries.is_empty());
    for e in expiries {
        assert_eq!(e.len(), "2026-01-31T12:00:00.000000Z".len(), "{e}");
        assert!(e.ends_with("000Z") && e.as_bytes()[19] == b'.', "{e}");
    }
}

/// Connections of the pool that knew the old schema read the reshaped tables correctly after
/// the upgrade. SQLite re-prepares their statements, but sqlx keeps the column list it got
/// when it prepared one: with `SELECT *` on a rebuilt table it would look columns up at their
/// old positions. The store names the columns it reads from the tables the upgrade reshapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_that_knew_the_old_schema_read_the_upgraded_tables() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir).await;
    migrations_before(10).run(store.pool()).await.unwrap();
    let org = seed_org(&store, "stale").await;
    let svc = seed_service(&store, &seed_project(&store, &org, "p").await, "web").await;
    let mut legacy =
        caas_testkit::store::domain_of(&svc, &format!("{}.example.com", unique("stale")), "/");
    legacy.created_at = now();
    insert_legacy_domain(
        &store,
        LegacyDomain {
            domain: legacy.clone(),
            verification: caas_core::model::VerificationStatus::Pending,
            token: unique("tok"),
        },
    )
    .await;
    // Every connection of the pool (8) loads the old schema.
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::query("SELECT count(*) FROM domains")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        held.push(conn);
    }
    drop(held);
    store.migrate().await.unwrap();
    let store = Arc::new(store);
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let store = Arc::clone(&store);
        reads.spawn(async move {
            (
                store.list_org_domains(org.id).await.unwrap(),
                store.list_host_claims(Some(org.id)).await.unwrap().len(),
            )
        });
    }
    for (domains, claims) in reads.join_all().await {
        assert_eq!((domains, claims), (vec![legacy.clone()], 1));
    }
}

/// After the upgrade, on a platform over the upgraded file: the hostname's owner keeps its
/// proven domain routed, while the domain another organization held on the same hostname (a
/// longer path, which would have taken the owner's traffic) is reported conflicted and the
/// reconciler removes the route the earlier version had given it.
#[tokio::test]
async fn after_the_upgrade_another_organizations_domain_on_a_hostname_is_conflicted_and_unrouted() {
    use caas_core::memory::{InMemoryProxy, InMemoryRuntime};
    use caas_core::model::VerificationStatus;
    use caas_core::ports::proxy::{RouteRule, ServiceRoutes};
    use caas_core::{Platform, Proxy};

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open_in(&dir).await);
    migrations_before(10).run(store.pool()).await.unwrap();
    let victim = seed_org(&*store, "victim").await;
    let attacker = seed_org(&*store, "attacker").await;
    let theirs = seed_service(&*store, &seed_project(&*store, &victim, "p").await, "web").await;
    let mine = seed_service(&*store, &seed_project(&*store, &attacker, "p").await, "web").await;
    let host = format!("{}.example.com", unique("shop"));
    let t0 = now() - Duration::days(3);
    let legacy = [
        (&theirs, "/", t0, VerificationStatus::Verified { at: t0 }),
        (
            &mine,
            "/login",
            t0 + Duration::hours(1),
            VerificationStatus::Verified { at: t0 },
        ),
    ];
    let proxy = Arc::new(InMemoryProxy::new());
    for (svc, path, at, verification) in legacy {
        let mut domain = caas_testkit::store::domain_of(svc, &host, path);
        domain.created_at = at;
        insert_legacy_domain(
            &store,
            LegacyDomain {
                domain,
                verification,
                token: unique("tok"),
            },
        )
        .await;
        // What the earlier version routed for each.
        proxy
            .apply(&ServiceRoutes {
                key: svc.id.to_string(),
                rules: vec![RouteRule {
                    host: caas_core::validate::HostPattern::parse(host.as_str()).unwrap(),
                    path_prefix: path.into(),
                    strip_prefix: false,
                    tls: false,
                }],
                upstreams: vec![],
            })
            .await
            .unwrap();
    }
    store.migrate().await.unwrap();

    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(InMemoryRuntime::new()))
        .proxy(proxy.clone())
        .build()
        .unwrap();
    let admin = platform
        .users()
        .ensure_platform_admin("root@example.com")
        .await
        .unwrap();
    let admin = platform.principal_for(admin.id).await.unwrap();
    let report = platform.reconcile().await.unwrap();
    assert_eq!(report.rerouted, vec![mine.id], "{report:?}");
    assert!(
        proxy
            .routes_opt(&mine.id.to_string())
            .await
            .unwrap()
            .is_none()
    );
    let kept = proxy
        .routes_opt(&theirs.id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.rules.len(), 1);
    assert_eq!(kept.rules[0].path_prefix, "/");

    let view = |org: &caas_core::model::Organization| {
        let (platform, admin, slug) = (platform.clone(), admin.clone(), org.slug.to_string());
        async move {
            platform
                .domains()
                .list(&admin, &ServiceRef::new(&slug, "p", "web"))
                .await
                .unwrap()
        }
    };
    let attacker_view = view(&attacker).await;
    assert_eq!(attacker_view.len(), 1, "the row is kept");
    assert!(
        matches!(&attacker_view[0].verification, VerificationStatus::Conflicted { reason } if reason.contains("belongs to another organization")),
        "{attacker_view:?}"
    );
    let victim_view = view(&victim).await;
    assert!(
        matches!(
            victim_view[0].verification,
            VerificationStatus::Verified { .. }
        ),
        "{victim_view:?}"
    );
}

/// Users and API tokens written before `0011_token_scopes.sql` come out of the upgrade enabled
/// and with the whole of their user's rights, also read through connections that knew the old
/// schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_upgrade_to_token_scopes_keeps_users_enabled_and_tokens_whole() {
    use caas_core::ApiTokenId;
    use caas_core::model::{ApiToken, TokenScope};

    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir).await;
    migrations_before(11).run(store.pool()).await.unwrap();
    let stored = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let user = NewUser::new(format!("{}@example.com", unique("old")))
        .build(now())
        .unwrap();
    sqlx::query(
        "INSERT INTO users (id, email, display_name, platform_admin, created_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(user.id.as_uuid())
    .bind(&user.email)
    .bind(&user.display_name)
    .bind(user.platform_admin)
    .bind(stored(user.created_at))
    .execute(store.pool())
    .await
    .unwrap();
    let token = ApiToken {
        id: ApiTokenId::new(),
        user: user.id,
        name: "ci".into(),
        token_sha256: format!("{:0>64}", &unique("old")[4..]),
        expires_at: Some(now() + Duration::days(3)),
        scope: TokenScope::default(),
        created_at: now(),
    };
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_sha256, expires_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(token.id.as_uuid())
    .bind(token.user.as_uuid())
    .bind(&token.name)
    .bind(&token.token_sha256)
    .bind(token.expires_at.map(stored))
    .bind(stored(token.created_at))
    .execute(store.pool())
    .await
    .unwrap();
    // Every connection of the pool (8) loads the old schema.
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut conn = store.pool().acquire().await.unwrap();
        for table in ["users", "api_tokens"] {
            sqlx::query(&format!("SELECT * FROM {table}"))
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        }
        held.push(conn);
    }
    drop(held);
    store.migrate().await.unwrap();
    let store = Arc::new(store);
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        let (id, hash) = (user.id, token.token_sha256.clone());
        reads.spawn(async move {
            (
                store.user(id).await.unwrap(),
                store.api_token_by_hash_opt(&hash).await.unwrap(),
            )
        });
    }
    for (read_user, read_token) in reads.join_all().await {
        assert!(!read_user.disabled);
        assert_eq!(read_user, user);
        assert_eq!(read_token.as_ref(), Some(&token));
    }
}
