//! The upgrade to a foreign directory (`migrations/0014_foreign_directory.sql`): caas-rs's own
//! tables stop referencing `organizations` and `users`, so a host application's organizations
//! and users need no row in this store, while every row, index and key between caas-rs's
//! tables survives the upgrade, and `delete_org` still removes what an organization owns.
#![allow(clippy::unwrap_used)]

use caas_core::ports::store::prelude::*;
use std::collections::BTreeMap;

use caas_core::model::{
    ApiToken, Member, NewOrganization, NewPlan, Organization, Role, ServiceEventKind,
    SubscriptionStatus, TokenScope,
};
use caas_core::ports::quota::QuotaGrant;
use caas_core::units::ResourceAmounts;
use caas_core::{ApiTokenId, OrgId, UserId};
use caas_sqlite::SqliteStore;
use caas_testkit::store::{
    alert_of, audit_of, backup_of, claim_of, deployment_of, domain_of, event_of, generous_limits,
    invitation_of, now, project_of, seed_subscribed_org, seed_user, service_of, subscription_of,
    template_instance_of, unique, volume_of,
};
use chrono::Duration;
use sqlx::SqlitePool;
use tempfile::TempDir;

/// The tables that lose their key to `organizations`.
const ORG_KEYED: [&str; 10] = [
    "projects",
    "services",
    "deployments",
    "reservations",
    "service_events",
    "domains",
    "volumes",
    "backups",
    "alerts",
    "template_instances",
];

/// The directory's own tables, which keep their keys.
const DIRECTORY: [&str; 3] = ["members", "subscriptions", "invitations"];

/// A store on a file whose schema an earlier release left: migrations before `version` only.
async fn store_migrated_before(version: i64) -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("caas.db").to_str().unwrap())
        .await
        .unwrap();
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
    .run(store.pool())
    .await
    .unwrap();
    (store, dir)
}

async fn fresh_store() -> (SqliteStore, TempDir) {
    let (store, dir) = store_migrated_before(i64::MAX).await;
    store.migrate().await.unwrap();
    (store, dir)
}

/// The grant of an organization of this store's own directory.
async fn grant_of(store: &SqliteStore, org: OrgId) -> QuotaGrant {
    QuotaGrant::load(store, store, org).await.unwrap()
}

/// An organization as a host application's directory holds it: never stored here.
fn host_org(prefix: &str) -> Organization {
    NewOrganization::new(unique(prefix)).build(now()).unwrap()
}

/// What a host application grants its organization: an active subscription to a plan, neither
/// of them stored here.
fn host_grant(org: &Organization) -> QuotaGrant {
    let plan = NewPlan::new(unique("host-plan"), generous_limits())
        .build(now())
        .unwrap();
    QuotaGrant {
        org: org.id,
        org_slug: org.slug.to_string(),
        subscription: Some(subscription_of(org, &plan, SubscriptionStatus::Active)),
        plan: Some(plan),
    }
}

/// Gives `org`, through the store, a row in each of caas-rs's tables that has an `org_id` (one
/// project with a service, its deployment, event, domain and claim, a volume with a backup, an
/// alert, a template instance, a reservation, an audit entry and a metric sample), with
/// `grant` for the reservation and the domain.
async fn seed_everything(store: &SqliteStore, org: &Organization, grant: &QuotaGrant) {
    let project = project_of(org, "web");
    store.create_project(&project).await.unwrap();
    let service = service_of(&project, "api");
    store.create_service(&service).await.unwrap();
    store
        .create_deployment(&deployment_of(&service, now()))
        .await
        .unwrap();
    store
        .append_event(&event_of(&service, ServiceEventKind::Lost, now()))
        .await
        .unwrap();
    let domain = domain_of(&service, &format!("{}.example.com", unique("www")), "/");
    store
        .create_domain(&domain, &claim_of(&domain), grant)
        .await
        .unwrap();
    let volume = volume_of(&project, "data");
    store.create_volume(&volume).await.unwrap();
    store
        .create_backup(&backup_of(&volume, now()))
        .await
        .unwrap();
    let mut alert = alert_of(org.id, "service_down", "service:api", now());
    alert.service = Some(service.id);
    store.put_alert(&alert).await.unwrap();
    store
        .create_template_instance(&template_instance_of(&project, "blog"))
        .await
        .unwrap();
    let at = now();
    store
        .quota_reserve(
            grant,
            ResourceAmounts::one_project(),
            at,
            at + Duration::minutes(15),
        )
        .await
        .unwrap();
    store
        .append_audit(&audit_of(Some(org.id), "project.create", now()))
        .await
        .unwrap();
    store
        .insert_metrics(&caas_testkit::metrics::steady(
            org.id,
            service.id,
            now(),
            1,
            5.0,
        ))
        .await
        .unwrap();
}

/// Gives `org` the directory's rows: a member (a new user), an invitation, the member's token.
async fn seed_directory(store: &SqliteStore, org: &Organization) {
    let user = seed_user(store, "member").await;
    store
        .put_member(&Member {
            org: org.id,
            user: user.id,
            role: Role::Owner,
            projects: None,
            created_at: now(),
        })
        .await
        .unwrap();
    store
        .create_invitation(&invitation_of(org, &user, Role::Member))
        .await
        .unwrap();
    store.create_api_token(&token_of(user.id)).await.unwrap();
}

fn token_of(user: UserId) -> ApiToken {
    ApiToken {
        id: ApiTokenId::new(),
        user,
        name: "ci".into(),
        token_sha256: caas_testkit::store::random_sha256(),
        expires_at: None,
        scope: TokenScope::default(),
        created_at: now(),
    }
}

/// The user tables of the database (not SQLite's, not sqlx's bookkeeping).
async fn tables(pool: &SqlitePool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT name FROM sqlite_schema
         WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'
         ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Every row of every table, each as the SQL literals of its values (exact: blobs in hex),
/// sorted.
async fn dump(pool: &SqlitePool) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for table in tables(pool).await {
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                .bind(&table)
                .fetch_all(pool)
                .await
                .unwrap();
        let row = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        let mut rows: Vec<String> = sqlx::query_scalar(&format!("SELECT {row} FROM \"{table}\""))
            .fetch_all(pool)
            .await
            .unwrap();
        rows.sort();
        out.insert(table, rows);
    }
    out
}

/// `(type, name, sql)` of every table, index and trigger.
async fn schema(pool: &SqlitePool) -> BTreeMap<(String, String), Option<String>> {
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter().map(|(t, n, s)| ((t, n), s)).collect()
}

/// The tables `table` references, as `PRAGMA foreign_key_list` says.
async fn references(pool: &SqlitePool, table: &str) -> Vec<String> {
    let mut parents: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)")
            .bind(table)
            .fetch_all(pool)
            .await
            .unwrap();
    parents.sort();
    parents
}

/// What `PRAGMA integrity_check` says, and how many rows `PRAGMA foreign_key_check` finds.
async fn integrity(pool: &SqlitePool) -> (Vec<String>, i64) {
    let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(pool)
        .await
        .unwrap();
    let violations: i64 = sqlx::query_scalar("SELECT count(*) FROM pragma_foreign_key_check")
        .fetch_one(pool)
        .await
        .unwrap();
    (check, violations)
}

async fn count(pool: &SqlitePool, table: &str, org: OrgId) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE org_id = ?"))
        .bind(org.as_uuid())
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_keeps_every_row_index_and_key_between_caas_tables() {
    // The schema the previous release left, with two organizations' rows in it.
    let (store, _dir) = store_migrated_before(14).await;
    let mut orgs = Vec::new();
    for prefix in ["acme", "globex"] {
        let (org, _plan) = seed_subscribed_org(&store, prefix, generous_limits()).await;
        seed_everything(&store, &org, &grant_of(&store, org.id).await).await;
        seed_directory(&store, &org).await;
        orgs.push(org);
    }
    let rows = dump(store.pool()).await;
    // Every table has rows to keep, but those the seeding leaves alone.
    let untouched = [
        "secret_key_check",
        "metric_rollups",
        "released_host_claims",
        "settings",
        "templates",
    ];
    for (table, kept) in &rows {
        assert!(
            untouched.contains(&table.as_str()) || !kept.is_empty(),
            "{table} was seeded"
        );
    }
    let before = schema(store.pool()).await;

    store.migrate().await.unwrap();

    assert_eq!(
        dump(store.pool()).await,
        rows,
        "every row is kept, unchanged"
    );
    assert_eq!(
        integrity(store.pool()).await,
        (vec!["ok".to_string()], 0),
        "integrity_check is ok and foreign_key_check finds nothing"
    );
    // Only the keys to the directory are gone: the table text differs by them alone, and every
    // index (and trigger, were there any) is unchanged.
    let after = schema(store.pool()).await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for ((kind, name), sql) in &before {
        let expected = match (kind.as_str(), sql) {
            ("table", Some(sql)) if ORG_KEYED.contains(&name.as_str()) => {
                Some(sql.replace(" REFERENCES organizations (id) ON DELETE CASCADE", ""))
            }
            ("table", Some(sql)) if name == "api_tokens" => {
                Some(sql.replace(" REFERENCES users (id) ON DELETE CASCADE", ""))
            }
            _ => sql.clone(),
        };
        assert_eq!(
            after[&(kind.clone(), name.clone())],
            expected,
            "{kind} {name}"
        );
    }
    for table in ORG_KEYED.iter().chain(&["api_tokens"]) {
        let parents = references(store.pool(), table).await;
        assert!(
            !parents.contains(&"organizations".to_string())
                && !parents.contains(&"users".to_string()),
            "{table} references {parents:?}"
        );
    }
    assert_eq!(
        references(store.pool(), "services").await,
        ["projects"],
        "services keep their (project, organization) key"
    );
    for (table, parent) in [
        ("deployments", "services"),
        ("service_events", "services"),
        ("domains", "services"),
        ("volumes", "projects"),
        ("template_instances", "projects"),
    ] {
        assert_eq!(references(store.pool(), table).await, [parent], "{table}");
    }
    assert_eq!(
        references(store.pool(), "members").await,
        ["organizations", "users"]
    );
    assert_eq!(
        references(store.pool(), "subscriptions").await,
        ["organizations", "plans"]
    );
    assert_eq!(
        references(store.pool(), "invitations").await,
        ["organizations"]
    );
    for table in DIRECTORY {
        assert!(!rows[table].is_empty());
    }

    // The keys between caas-rs's tables still act. A project with services cannot go; a
    // service takes its deployments, events and domains with it; then its project takes its
    // volumes and template instances.
    let org = &orgs[0];
    let project = store.list_projects(org.id).await.unwrap()[0].clone();
    let refused = sqlx::query("DELETE FROM projects WHERE id = ?")
        .bind(project.id.as_uuid())
        .execute(store.pool())
        .await;
    assert!(refused.is_err(), "the services' key refuses: {refused:?}");
    let service = store.list_services(org.id, None).await.unwrap()[0].clone();
    store.delete_service(service.id).await.unwrap();
    for table in ["services", "deployments", "service_events", "domains"] {
        assert_eq!(count(store.pool(), table, org.id).await, 0, "{table}");
    }
    store.delete_project(project.id).await.unwrap();
    for table in ["projects", "volumes", "template_instances"] {
        assert_eq!(count(store.pool(), table, org.id).await, 0, "{table}");
    }
    // Backups outlive their volume and project, as before.
    assert_eq!(count(store.pool(), "backups", org.id).await, 1);
}

/// Connections of the pool that loaded the schema before the upgrade stop enforcing the removed
/// keys at once: the upgrade bumps the schema cookie, so each reloads the schema, and the
/// connection that ran it reloads it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pooled_connection_forgets_the_removed_keys_after_the_upgrade() {
    let (store, _dir) = store_migrated_before(14).await;
    // Every connection of the pool (8) loads the old schema.
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::query("SELECT count(*) FROM projects")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        held.push(conn);
    }
    drop(held);

    store.migrate().await.unwrap();

    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(store.pool().acquire().await.unwrap());
    }
    for (i, conn) in held.iter_mut().enumerate() {
        let host = host_org("host");
        let project = project_of(&host, &format!("p{i}"));
        sqlx::query("INSERT INTO projects (id, org_id, name, created_at) VALUES (?, ?, ?, ?)")
            .bind(project.id.as_uuid())
            .bind(host.id.as_uuid())
            .bind(project.name.as_str())
            .bind("2026-01-31T12:00:00.000000Z")
            .execute(&mut **conn)
            .await
            .unwrap_or_else(|e| panic!("connection {i} still enforces the old key: {e}"));
    }
}

/// A schema whose text is not what the earlier migrations wrote (edited by hand) is refused:
/// the upgrade fails naming its check, and leaves every table as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unexpected_schema_is_refused_and_left_unchanged() {
    let (store, _dir) = store_migrated_before(14).await;
    let mut conn = store.pool().acquire().await.unwrap();
    let version: i64 = sqlx::query_scalar("PRAGMA schema_version")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    for sql in [
        "PRAGMA writable_schema = ON".to_string(),
        "UPDATE sqlite_schema
         SET sql = replace(sql, 'REFERENCES organizations (id)', 'REFERENCES organizations(id)')
         WHERE name = 'alerts'"
            .to_string(),
        "PRAGMA writable_schema = RESET".to_string(),
        format!("PRAGMA schema_version = {}", version + 1),
    ] {
        sqlx::query(&sql).execute(&mut *conn).await.unwrap();
    }
    drop(conn);
    let before = schema(store.pool()).await;

    let e = store.migrate().await.unwrap_err();

    assert!(
        format!("{e:?}").contains("foreign_directory_upgrade"),
        "{e:?}"
    );
    assert_eq!(schema(store.pool()).await, before);
    // Tables edited before the check failed are back too.
    assert_eq!(
        references(store.pool(), "projects").await,
        ["organizations"]
    );
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(!applied.contains(&14), "{applied:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_applications_organization_and_user_need_no_row_in_this_store() {
    let (store, _dir) = fresh_store().await;
    let host = host_org("host");
    let grant = host_grant(&host);
    seed_everything(&store, &host, &grant).await;
    for table in ORG_KEYED {
        assert!(count(store.pool(), table, host.id).await > 0, "{table}");
    }
    assert!(store.org(host.id).await.unwrap_err().is_not_found());
    let project = store.list_projects(host.id).await.unwrap();
    assert_eq!(project.len(), 1);
    let service = store.list_services(host.id, None).await.unwrap();
    assert_eq!(service.len(), 1);
    assert_eq!(
        store
            .list_volumes(host.id, Some(project[0].id))
            .await
            .unwrap()
            .len(),
        1
    );
    let usage = store.quota_usage(&grant, now()).await.unwrap();
    assert_eq!(usage.pending, ResourceAmounts::one_project());

    // A token of a host application's user.
    let token = token_of(UserId::new());
    store.create_api_token(&token).await.unwrap();
    assert_eq!(
        store
            .api_token_by_hash_opt(&token.token_sha256)
            .await
            .unwrap(),
        Some(token)
    );

    // The directory's own tables still want their organization here.
    let user = seed_user(&store, "member").await;
    let refused = store
        .put_member(&Member {
            org: host.id,
            user: user.id,
            role: Role::Member,
            projects: None,
            created_at: now(),
        })
        .await
        .unwrap_err();
    assert!(refused.is_not_found(), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_organization_removes_its_rows_and_keeps_history_and_neighbours() {
    let (store, _dir) = fresh_store().await;
    let (gone, _plan) = seed_subscribed_org(&store, "gone", generous_limits()).await;
    seed_everything(&store, &gone, &grant_of(&store, gone.id).await).await;
    seed_directory(&store, &gone).await;
    let (neighbour, _plan) = seed_subscribed_org(&store, "neighbour", generous_limits()).await;
    seed_everything(&store, &neighbour, &grant_of(&store, neighbour.id).await).await;
    seed_directory(&store, &neighbour).await;
    let host = host_org("host");
    seed_everything(&store, &host, &host_grant(&host)).await;
    let history = ["host_claims", "audit_log", "metric_samples"];
    let all = ORG_KEYED.iter().chain(&DIRECTORY).chain(&history);
    let mut before = BTreeMap::new();
    for &table in all.clone() {
        for org in [gone.id, neighbour.id, host.id] {
            before.insert((table, org), count(store.pool(), table, org).await);
        }
    }
    let tokens = dump(store.pool()).await.remove("api_tokens");

    store.delete_org(gone.id).await.unwrap();

    for &table in all {
        let gone_after = count(store.pool(), table, gone.id).await;
        if history.contains(&table) {
            // History outlives the organization.
            assert!(before[&(table, gone.id)] > 0, "{table} was seeded");
            assert_eq!(gone_after, before[&(table, gone.id)], "{table}");
        } else {
            assert_eq!(gone_after, 0, "{table}");
        }
        for org in [neighbour.id, host.id] {
            let after = count(store.pool(), table, org).await;
            assert_eq!(
                after,
                before[&(table, org)],
                "{table} of another organization"
            );
        }
    }
    // The member's token stays: users are not deleted with an organization.
    assert_eq!(dump(store.pool()).await.remove("api_tokens"), tokens);
    assert!(store.delete_org(gone.id).await.unwrap_err().is_not_found());
    assert_eq!(integrity(store.pool()).await, (vec!["ok".to_string()], 0));
}
