//! The [`Store`] conformance suite.
//!
//! Every behaviour is one `pub async fn` taking an `Arc<dyn Store>`; [`store_suite!`](crate::store_suite)
//! expands into one `#[tokio::test]` per behaviour. The fixtures (`seed_*`, [`subscribe`],
//! [`deployment_of`], …) are public so other suites and backends' own tests can reuse them.
//!
//! Sharing a database: every behaviour creates its own organizations, users and plans under
//! unique names ([`unique`]) and only asserts on what it created, so the suite also passes when
//! a backend runs all tests against one shared database, concurrently. Global lists
//! (`list_plans`, `list_all_services`, `list_audit` without an org) are checked by filtering to
//! the test's own rows.
//!
//! Timestamps: fixtures use [`now`], which is truncated to whole microseconds; a backend must
//! store timestamps with at least microsecond precision to round-trip values exactly.
//!
//! The quota methods of the store (`quota_*`, `reservation`) are covered by
//! [`crate::quota`].

use std::collections::BTreeMap;
use std::fmt::Debug;

use caas_core::model::{
    AuditEntry, Deployment, DeploymentStatus, EnvVar, Member, NewOrganization, NewPlan, NewUser,
    Organization, Plan, PlanLimits, PortSpec, Project, Protocol, Role, Service, ServiceEvent,
    ServiceEventKind, ServiceKind, ServiceSpec, ServiceStatus, Subscription, SubscriptionStatus,
    User,
};
use caas_core::units::MIB;
use caas_core::validate::{ImageRef, Name};
use caas_core::{
    AuditId, DeploymentId, Error, EventId, OrgId, ProjectId, Result, ServiceId, Store,
    SubscriptionId,
};
use chrono::{DateTime, SubsecRound, Utc};

mod audit;
mod catalogue;
mod domains;
mod history;
mod invitations;
mod plans;
mod services;
mod storage;
mod tenancy;

pub use audit::*;
pub use catalogue::*;
pub use domains::*;
pub use history::*;
pub use invitations::*;
pub use plans::*;
pub use services::*;
pub use storage::*;
pub use tenancy::*;

/// Expands into one `#[tokio::test]` per [`Store`] behaviour of [`crate::store`].
///
/// `$make` is an expression evaluating to a future that yields `Option<Arc<dyn Store>>`; it is
/// evaluated once per test, so each test gets its own store (or its own connection to a shared
/// database). When it yields `None` the test returns early: a backend whose service may be
/// missing on a developer machine (PostgreSQL) returns `None` there, and its setup code is
/// responsible for panicking in CI instead (see [`crate::env::require`] and
/// [`crate::env::unavailable`]).
///
/// The tests are emitted where the macro is invoked, as plain functions named after the
/// behaviours; invoke it inside a module (`mod store { use super::*; … }`) to group them. The
/// calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dependency.
///
/// ```text
/// use std::sync::Arc;
/// use caas_core::{Store, memory::InMemoryStore};
///
/// mod store {
///     use super::*;
///     caas_testkit::store_suite!(async { Some(Arc::new(InMemoryStore::new()) as Arc<dyn Store>) });
/// }
/// ```
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        $crate::store_suite!(@tests $make;
            store_answers_ping,
            settings_roundtrip_and_replace,
            api_tokens_roundtrip_by_hash_and_revoke,
            api_token_scopes_roundtrip_exactly,
            domains_roundtrip_and_list_per_service_org_and_host,
            a_hostname_belongs_to_one_organization_with_every_path,
            sixteen_organizations_claiming_one_hostname_at_once_leave_one_owner,
            a_claim_ends_with_its_last_domain,
            domains_go_with_their_service,
            updates_record_verification_and_routing_fields,
            expired_unproven_claims_are_released_with_their_domains,
            verified_claims_are_remembered_per_site,
            the_plan_bounds_an_organizations_domains,
            wildcards_are_stored_and_listed_under_their_base,
            users_roundtrip_and_emails_are_unique,
            disabling_a_user_keeps_everything_else,
            user_lookup_by_email_ignores_case,
            list_users_is_ordered_by_email_and_pages,
            list_users_searches_email_and_display_name,
            orgs_roundtrip_by_id_and_slug,
            org_slugs_are_unique,
            list_orgs_is_ordered_by_slug_and_pages,
            list_orgs_searches_slug_and_display_name_case_insensitively,
            list_orgs_filters_by_status,
            update_org_replaces_mutable_fields,
            update_org_to_a_taken_slug_is_already_exists,
            deleting_an_org_cascades_to_projects_services_and_members,
            audit_entries_outlive_their_organization,
            put_member_adds_and_replaces_a_membership,
            members_and_memberships_list_both_directions,
            remove_member_reports_whether_there_was_one,
            put_member_requires_an_existing_org_and_user,
            invitations_roundtrip_with_every_field,
            invitation_ids_and_token_hashes_are_unique,
            create_invitation_requires_an_existing_org,
            invitation_lookup_by_hash_finds_only_that_token,
            list_invitations_is_per_org_in_creation_order,
            deleted_invitation_is_not_found,
            deleting_an_org_removes_its_invitations,
            plans_roundtrip_by_id_and_name,
            plan_names_are_unique,
            list_plans_is_ordered_by_name,
            update_plan_replaces_limits_and_price,
            plan_in_use_cannot_be_deleted,
            put_subscription_creates_and_replaces_the_one_subscription,
            put_subscription_requires_an_existing_org_and_plan,
            projects_roundtrip_by_id_and_name,
            project_names_are_unique_per_org_not_globally,
            an_organization_of_a_host_directory_owns_records_here,
            projects_list_per_org_in_creation_order,
            project_with_services_cannot_be_deleted,
            services_roundtrip_with_spec_and_secrets,
            service_names_are_unique_per_project_not_globally,
            create_service_requires_a_project_of_the_same_org,
            list_services_by_org_and_by_project,
            list_all_services_spans_organizations,
            update_service_replaces_mutable_fields,
            deleting_a_service_removes_its_deployments_and_events,
            deployments_roundtrip_and_update,
            create_deployment_refuses_duplicates_and_missing_services,
            deployments_list_newest_first,
            events_and_audit_list_newest_first_with_limit,
            list_audit_filters_by_org,
            list_audit_filters_by_action_prefix,
            list_audit_filters_by_actor,
            list_audit_since_is_inclusive_and_before_exclusive,
            list_audit_combines_every_filter,
            list_audit_pages_through_entries_sharing_a_timestamp,
            list_audit_limit_applies_after_filters,
            list_audit_pages_back_with_before,
            list_audit_action_prefix_matches_wildcards_literally,
            lookup_of_missing_id_is_not_found,
            update_of_missing_row_is_not_found,
            delete_of_missing_row_is_not_found,
            volumes_roundtrip_by_id_and_name_and_list_per_org_project_and_all,
            volume_names_are_unique_per_project_not_globally,
            create_volume_requires_a_project_of_the_same_org,
            update_volume_replaces_mutable_fields_only,
            deleted_volume_is_not_found,
            deleting_a_project_removes_its_volumes_but_keeps_backups,
            deleting_an_org_removes_its_volumes_backups_and_alerts,
            backups_roundtrip_and_list_per_volume_and_org_newest_first,
            update_backup_replaces_mutable_fields_only,
            delete_backup_then_not_found,
            backups_outlive_their_volume,
            put_alert_inserts_and_replaces_by_id,
            firing_alert_opt_matches_org_rule_subject_and_firing_state,
            only_one_alert_of_a_rule_and_subject_fires_at_a_time,
            concurrent_raisers_of_one_alert_leave_one_firing,
            list_alerts_is_newest_first_filtered_and_limited,
            list_alerts_caps_the_limit_at_1000,
            missing_volumes_backups_and_alerts_are_not_found,
            templates_roundtrip_their_whole_definition,
            put_template_replaces_the_whole_record,
            list_templates_is_ordered_by_position_then_id,
            deleted_template_is_not_found,
            template_instances_roundtrip_by_id_and_name_and_list_per_org_and_project,
            template_instance_names_are_unique_per_project_not_globally,
            create_template_instance_requires_a_project_of_the_same_org,
            deleted_template_instance_is_not_found,
            template_instances_outlive_their_template_and_services,
            deleting_a_project_removes_its_template_instances,
            deleting_an_org_removes_its_template_instances,
            missing_templates_and_instances_are_not_found,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(store) = $make.await else {
                    return;
                };
                $crate::store::$name(store).await;
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// `prefix` followed by `-` and eight random hex digits: a name no other test uses. Keep
/// `prefix` at most 31 characters so the result is a valid organization slug.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..8])
}

/// The current time truncated to whole microseconds (what SQL backends store).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Limits large enough never to matter, yet representable in a signed 64-bit column.
pub fn generous_limits() -> PlanLimits {
    PlanLimits {
        cpu_millis: 1 << 40,
        memory_bytes: 1 << 50,
        storage_bytes: 1 << 50,
        max_containers: 1 << 30,
        max_projects: 1 << 30,
        max_domains: 1 << 30,
        max_pids: 1 << 20,
        backup_storage_bytes: 1 << 50,
    }
}

/// Creates a user with a unique e-mail address starting with `prefix`.
pub async fn seed_user(store: &dyn Store, prefix: &str) -> User {
    let user = NewUser::new(format!("{}@example.com", unique(prefix)))
        .build(now())
        .expect("fixture user is valid");
    store.create_user(&user).await.expect("create_user");
    user
}

/// Creates an active organization whose slug is `prefix` plus a unique suffix.
pub async fn seed_org(store: &dyn Store, prefix: &str) -> Organization {
    let org = NewOrganization::new(unique(prefix))
        .build(now())
        .expect("fixture organization is valid");
    store.create_org(&org).await.expect("create_org");
    org
}

/// Creates a plan named `prefix` plus a unique suffix, with `limits`.
pub async fn seed_plan(store: &dyn Store, prefix: &str, limits: PlanLimits) -> Plan {
    let plan = NewPlan::new(unique(prefix), limits)
        .build(now())
        .expect("fixture plan is valid");
    store.create_plan(&plan).await.expect("create_plan");
    plan
}

/// A subscription of `org` to `plan` with `status` (not stored).
pub fn subscription_of(
    org: &Organization,
    plan: &Plan,
    status: SubscriptionStatus,
) -> Subscription {
    let at = now();
    Subscription {
        id: SubscriptionId::new(),
        org: org.id,
        plan: plan.id,
        status,
        period_start: at,
        period_end: at + chrono::Duration::days(30),
        created_at: at,
    }
}

/// Subscribes `org` to `plan` (active) and returns the stored subscription.
pub async fn subscribe(store: &dyn Store, org: &Organization, plan: &Plan) -> Subscription {
    let sub = subscription_of(org, plan, SubscriptionStatus::Active);
    store
        .put_subscription(&sub)
        .await
        .expect("put_subscription");
    sub
}

/// Creates an organization (slug from `prefix`) subscribed to a fresh plan with `limits`.
pub async fn seed_subscribed_org(
    store: &dyn Store,
    prefix: &str,
    limits: PlanLimits,
) -> (Organization, Plan) {
    let org = seed_org(store, prefix).await;
    let plan = seed_plan(store, prefix, limits).await;
    subscribe(store, &org, &plan).await;
    (org, plan)
}

/// Adds `user` to `org` with `role`, covering every project.
pub async fn seed_member(store: &dyn Store, org: &Organization, user: &User, role: Role) -> Member {
    let member = Member {
        org: org.id,
        user: user.id,
        role,
        projects: None,
        created_at: now(),
    };
    store.put_member(&member).await.expect("put_member");
    member
}

/// A project named `name` in `org` (not stored).
pub fn project_of(org: &Organization, name: &str) -> Project {
    Project {
        id: ProjectId::new(),
        org: org.id,
        name: Name::parse(name).expect("fixture project name is valid"),
        reservation: None,
        created_at: now(),
    }
}

/// Creates a project named `name` in `org` (names only need to be unique in the org).
pub async fn seed_project(store: &dyn Store, org: &Organization, name: &str) -> Project {
    let project = project_of(org, name);
    store
        .create_project(&project)
        .await
        .expect("create_project");
    project
}

/// A spec with a secret, a plain variable, a port and a label: enough to catch a backend that
/// drops or redacts part of it.
pub fn sample_spec() -> ServiceSpec {
    let mut spec = ServiceSpec::new(ImageRef::parse("caas/busybox:1.36").expect("valid image"));
    spec.command = Some(vec![
        "httpd".into(),
        "-f".into(),
        "-p".into(),
        "8080".into(),
    ]);
    spec.env = vec![
        EnvVar::plain("GREETING", "hello").expect("valid env"),
        EnvVar::secret("DB_PASSWORD", "hunter2").expect("valid env"),
    ];
    spec.ports = vec![PortSpec {
        container_port: 8080,
        protocol: Protocol::Tcp,
    }];
    spec.resources.cpu_millis = 250;
    spec.resources.memory_bytes = 128 * MIB;
    spec.labels = BTreeMap::from([("team".to_string(), "web".to_string())]);
    spec
}

/// An app service named `name` in `project` running [`sample_spec`] (not stored).
pub fn service_of(project: &Project, name: &str) -> Service {
    let at = now();
    Service {
        id: ServiceId::new(),
        org: project.org,
        project: project.id,
        name: Name::parse(name).expect("fixture service name is valid"),
        kind: ServiceKind::App,
        spec: sample_spec(),
        status: ServiceStatus::Deploying,
        current_deployment: None,
        reservation: None,
        created_at: at,
        updated_at: at,
    }
}

/// Creates a service named `name` in `project` (names only need to be unique in the project).
pub async fn seed_service(store: &dyn Store, project: &Project, name: &str) -> Service {
    let service = service_of(project, name);
    store
        .create_service(&service)
        .await
        .expect("create_service");
    service
}

/// A pending deployment of `service`'s spec created at `at` (not stored).
pub fn deployment_of(service: &Service, at: DateTime<Utc>) -> Deployment {
    Deployment {
        id: DeploymentId::new(),
        service: service.id,
        org: service.org,
        project: service.project,
        spec: service.spec.clone(),
        status: DeploymentStatus::Pending,
        container_id: None,
        error: None,
        created_at: at,
        finished_at: None,
    }
}

/// Records a pending deployment of `service` created now.
pub async fn seed_deployment(store: &dyn Store, service: &Service) -> Deployment {
    let deployment = deployment_of(service, now());
    store
        .create_deployment(&deployment)
        .await
        .expect("create_deployment");
    deployment
}

/// An event of `service` at `at` (not stored).
pub fn event_of(service: &Service, kind: ServiceEventKind, at: DateTime<Utc>) -> ServiceEvent {
    ServiceEvent {
        id: EventId::new(),
        org: service.org,
        service: service.id,
        kind,
        message: "conformance".to_string(),
        at,
    }
}

/// An audit entry about `org` at `at` (not stored).
pub fn audit_of(org: Option<OrgId>, action: &str, at: DateTime<Utc>) -> AuditEntry {
    AuditEntry {
        id: AuditId::new(),
        at,
        actor: None,
        org,
        action: action.to_string(),
        target: org.map_or_else(|| "platform".to_string(), |o| format!("org:{o}")),
        before: Some(serde_json::json!({ "status": "active" })),
        after: Some(serde_json::json!({ "status": "suspended", "n": 3 })),
    }
}

// ---------------------------------------------------------------------------------------------
// Error assertions
// ---------------------------------------------------------------------------------------------

fn expect_error<T: Debug>(result: Result<T>, what: &str, expected: &str) -> Error {
    match result {
        Ok(v) => panic!("{what}: expected {expected}, got Ok({v:?})"),
        Err(e) => e,
    }
}

/// Asserts `result` failed with [`Error::NotFound`]; `what` names the call in the message.
pub fn assert_not_found<T: Debug>(result: Result<T>, what: &str) {
    let e = expect_error(result, what, "NotFound");
    assert!(e.is_not_found(), "{what}: expected NotFound, got {e:?}");
}

/// Asserts `result` failed with [`Error::AlreadyExists`].
pub fn assert_already_exists<T: Debug>(result: Result<T>, what: &str) {
    let e = expect_error(result, what, "AlreadyExists");
    assert!(
        e.is_already_exists(),
        "{what}: expected AlreadyExists, got {e:?}"
    );
}

/// Asserts `result` failed with [`Error::Conflict`] and returns the error.
pub fn assert_conflict<T: Debug>(result: Result<T>, what: &str) -> Error {
    let e = expect_error(result, what, "Conflict");
    assert!(e.is_conflict(), "{what}: expected Conflict, got {e:?}");
    e
}

/// Asserts `result` failed with [`Error::QuotaExceeded`] and returns the error.
pub fn assert_quota_exceeded<T: Debug>(result: Result<T>, what: &str) -> Error {
    let e = expect_error(result, what, "QuotaExceeded");
    assert!(
        e.is_quota_exceeded(),
        "{what}: expected QuotaExceeded, got {e:?}"
    );
    e
}

fn ids<T, I: Ord + Copy>(rows: &[T], id: impl Fn(&T) -> I) -> Vec<I> {
    rows.iter().map(id).collect()
}
