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
use std::sync::Arc;

use caas_core::model::{
    AuditEntry, Deployment, DeploymentStatus, EnvVar, Member, NewOrganization, NewPlan, NewUser,
    OrgStatus, Organization, Plan, PlanLimits, PortSpec, Project, Protocol, Role, Service,
    ServiceEvent, ServiceEventKind, ServiceKind, ServiceSpec, ServiceStatus, Subscription,
    SubscriptionStatus, User,
};
use caas_core::ports::store::{AuditFilter, OrgFilter};
use caas_core::units::{GIB, MIB};
use caas_core::validate::{ImageRef, Name, Slug};
use caas_core::{
    AuditId, DeploymentId, Error, EventId, OrgId, PlanId, ProjectId, ReservationId, Result,
    ServiceId, Store, SubscriptionId, UserId,
};
use chrono::{DateTime, SubsecRound, Utc};

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
            domains_roundtrip_and_list_per_service_org_and_all,
            a_host_and_path_has_one_owner_across_organizations,
            domains_go_with_their_service,
            update_domain_changes_verification,
            users_roundtrip_and_emails_are_unique,
            user_lookup_by_email_ignores_case,
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
            plans_roundtrip_by_id_and_name,
            plan_names_are_unique,
            list_plans_is_ordered_by_name,
            update_plan_replaces_limits_and_price,
            plan_in_use_cannot_be_deleted,
            put_subscription_creates_and_replaces_the_one_subscription,
            put_subscription_requires_an_existing_org_and_plan,
            projects_roundtrip_by_id_and_name,
            project_names_are_unique_per_org_not_globally,
            create_project_requires_an_existing_org,
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
            lookup_of_missing_id_is_not_found,
            update_of_missing_row_is_not_found,
            delete_of_missing_row_is_not_found,
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

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

/// A created user reads back unchanged; a second user with the same e-mail is refused.
pub async fn users_roundtrip_and_emails_are_unique(store: Arc<dyn Store>) {
    let user = seed_user(&*store, "alice").await;
    assert_eq!(store.user(user.id).await.expect("user"), user);

    let mut twin = NewUser::new(user.email.clone())
        .build(now())
        .expect("valid user");
    twin.display_name = "Twin".into();
    assert_ne!(twin.id, user.id);
    assert_already_exists(store.create_user(&twin).await, "create_user(same e-mail)");
    assert_not_found(store.user(twin.id).await, "user(refused twin)");
}

/// `user_by_email_opt` finds a user whatever the case of the address asked for.
pub async fn user_lookup_by_email_ignores_case(store: Arc<dyn Store>) {
    let mut new = NewUser::new(format!("{}@Example.COM", unique("Bob")));
    new.display_name = "Bob".into();
    new.platform_admin = true;
    let user = new.build(now()).expect("valid user");
    store.create_user(&user).await.expect("create_user");
    assert_eq!(user.email, user.email.to_lowercase());

    let found = store
        .user_by_email_opt(&user.email)
        .await
        .expect("user_by_email_opt");
    assert_eq!(found.as_ref(), Some(&user));
    let found = store
        .user_by_email_opt(&user.email.to_uppercase())
        .await
        .expect("user_by_email_opt(uppercase)");
    assert_eq!(found.as_ref(), Some(&user));
    let missing = store
        .user_by_email_opt(&format!("{}@example.com", unique("nobody")))
        .await
        .expect("user_by_email_opt(missing)");
    assert_eq!(missing, None);
}

// ---------------------------------------------------------------------------------------------
// Organizations
// ---------------------------------------------------------------------------------------------

/// A created organization reads back unchanged by id and by slug.
pub async fn orgs_roundtrip_by_id_and_slug(store: Arc<dyn Store>) {
    let mut new = NewOrganization::new(unique("acme"));
    new.display_name = "Acme Corp".into();
    let org = new.build(now()).expect("valid org");
    store.create_org(&org).await.expect("create_org");

    assert_eq!(store.org(org.id).await.expect("org"), org);
    let by_slug = store
        .org_by_slug_opt(org.slug.as_str())
        .await
        .expect("org_by_slug_opt");
    assert_eq!(by_slug, Some(org.clone()));
    assert_eq!(org.status, OrgStatus::Active);
    assert_eq!(
        store
            .org_by_slug_opt(&unique("absent"))
            .await
            .expect("org_by_slug_opt(missing)"),
        None
    );
}

/// A second organization with a taken slug is refused and not stored.
pub async fn org_slugs_are_unique(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "dup").await;
    let twin = NewOrganization::new(org.slug.to_string())
        .build(now())
        .expect("valid org");
    assert_already_exists(store.create_org(&twin).await, "create_org(same slug)");
    assert_not_found(store.org(twin.id).await, "org(refused twin)");
    let by_slug = store
        .org_by_slug_opt(org.slug.as_str())
        .await
        .expect("org_by_slug_opt")
        .expect("the original is still there");
    assert_eq!(by_slug.id, org.id);
}

async fn seed_org_with_slug(store: &dyn Store, slug: &str, display_name: &str) -> Organization {
    let mut new = NewOrganization::new(slug);
    new.display_name = display_name.into();
    let org = new.build(now()).expect("valid org");
    store.create_org(&org).await.expect("create_org");
    org
}

fn search(token: &str) -> OrgFilter {
    let mut f = OrgFilter::default();
    f.search = Some(token.to_string());
    f
}

/// `list_orgs` orders by slug whatever the creation order, and pages with limit and offset.
pub async fn list_orgs_is_ordered_by_slug_and_pages(store: Arc<dyn Store>) {
    let token = unique("pg");
    let c = seed_org_with_slug(&*store, &format!("c-{token}"), "").await;
    let a = seed_org_with_slug(&*store, &format!("a-{token}"), "").await;
    let b = seed_org_with_slug(&*store, &format!("b-{token}"), "").await;

    let all = store.list_orgs(&search(&token)).await.expect("list_orgs");
    assert_eq!(ids(&all, |o| o.id), vec![a.id, b.id, c.id]);
    assert_eq!(all[0], a);

    let mut page = search(&token);
    page.limit = 2;
    let first = store.list_orgs(&page).await.expect("list_orgs(page 1)");
    assert_eq!(ids(&first, |o| o.id), vec![a.id, b.id]);
    page.offset = 2;
    let second = store.list_orgs(&page).await.expect("list_orgs(page 2)");
    assert_eq!(ids(&second, |o| o.id), vec![c.id]);
    page.offset = 3;
    let past = store.list_orgs(&page).await.expect("list_orgs(past end)");
    assert!(past.is_empty(), "{past:?}");
}

/// The search matches a substring of the slug or of the display name, ignoring case.
pub async fn list_orgs_searches_slug_and_display_name_case_insensitively(store: Arc<dyn Store>) {
    let token = unique("srch");
    let in_slug = seed_org_with_slug(&*store, &format!("x-{token}"), "Plain").await;
    let in_name = seed_org_with_slug(
        &*store,
        &unique("other"),
        &format!("The {} Company", token.to_uppercase()),
    )
    .await;
    let _unrelated = seed_org(&*store, "unrelated").await;

    let found = store
        .list_orgs(&search(&token.to_uppercase()))
        .await
        .expect("list_orgs(search)");
    let mut expected = vec![in_slug.clone(), in_name.clone()];
    expected.sort_by(|x, y| x.slug.cmp(&y.slug));
    assert_eq!(found, expected);

    let found = store
        .list_orgs(&search(&format!("the {token} comp")))
        .await
        .expect("list_orgs(search display name)");
    assert_eq!(ids(&found, |o| o.id), vec![in_name.id]);
}

/// The status filter keeps only organizations in that status.
pub async fn list_orgs_filters_by_status(store: Arc<dyn Store>) {
    let token = unique("st");
    let active = seed_org_with_slug(&*store, &format!("a-{token}"), "").await;
    let mut suspended = seed_org_with_slug(&*store, &format!("s-{token}"), "").await;
    suspended.status = OrgStatus::Suspended;
    store.update_org(&suspended).await.expect("update_org");

    let mut f = search(&token);
    f.status = Some(OrgStatus::Suspended);
    let found = store.list_orgs(&f).await.expect("list_orgs(suspended)");
    assert_eq!(found, vec![suspended.clone()]);
    f.status = Some(OrgStatus::Active);
    let found = store.list_orgs(&f).await.expect("list_orgs(active)");
    assert_eq!(found, vec![active.clone()]);
    f.status = None;
    let found = store.list_orgs(&f).await.expect("list_orgs(any)");
    assert_eq!(ids(&found, |o| o.id), vec![active.id, suspended.id]);
}

/// `update_org` replaces display name, status and slug; the old slug no longer resolves.
pub async fn update_org_replaces_mutable_fields(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "before").await;
    let mut changed = org.clone();
    changed.slug = Slug::parse(unique("after")).expect("valid slug");
    changed.display_name = "Renamed Ltd".into();
    changed.status = OrgStatus::Suspended;
    store.update_org(&changed).await.expect("update_org");

    assert_eq!(store.org(org.id).await.expect("org"), changed);
    assert_eq!(
        store
            .org_by_slug_opt(changed.slug.as_str())
            .await
            .expect("org_by_slug_opt(new)"),
        Some(changed.clone())
    );
    assert_eq!(
        store
            .org_by_slug_opt(org.slug.as_str())
            .await
            .expect("org_by_slug_opt(old)"),
        None
    );
}

/// Renaming an organization to another's slug is refused and changes nothing.
pub async fn update_org_to_a_taken_slug_is_already_exists(store: Arc<dyn Store>) {
    let first = seed_org(&*store, "first").await;
    let second = seed_org(&*store, "second").await;
    let mut clash = second.clone();
    clash.slug = first.slug.clone();
    clash.display_name = "Clash".into();
    assert_already_exists(store.update_org(&clash).await, "update_org(taken slug)");
    assert_eq!(store.org(second.id).await.expect("org(second)"), second);
    assert_eq!(store.org(first.id).await.expect("org(first)"), first);
}

/// Deleting an organization removes its members, subscription, projects, services,
/// deployments, events and reservations; users, plans and other organizations stay.
pub async fn deleting_an_org_cascades_to_projects_services_and_members(store: Arc<dyn Store>) {
    let (org, plan) = seed_subscribed_org(&*store, "doomed", generous_limits()).await;
    let user = seed_user(&*store, "doomed-owner").await;
    seed_member(&*store, &org, &user, Role::Owner).await;
    let project = seed_project(&*store, &org, "web").await;
    let service = seed_service(&*store, &project, "api").await;
    let deployment = seed_deployment(&*store, &service).await;
    store
        .append_event(&event_of(&service, ServiceEventKind::Started, now()))
        .await
        .expect("append_event");
    let at = now();
    let reservation = store
        .quota_reserve(
            org.id,
            caas_core::units::ResourceAmounts::one_project(),
            at,
            at + chrono::Duration::minutes(15),
        )
        .await
        .expect("quota_reserve");

    // A neighbour that must survive.
    let other = seed_org(&*store, "neighbour").await;
    let other_project = seed_project(&*store, &other, "web").await;
    seed_member(&*store, &other, &user, Role::Viewer).await;

    store.delete_org(org.id).await.expect("delete_org");

    assert_not_found(store.org(org.id).await, "org(deleted)");
    assert_eq!(
        store
            .org_by_slug_opt(org.slug.as_str())
            .await
            .expect("org_by_slug_opt"),
        None
    );
    assert!(store.members(org.id).await.expect("members").is_empty());
    let memberships = store.memberships(user.id).await.expect("memberships");
    assert_eq!(ids(&memberships, |m| m.org), vec![other.id]);
    assert_eq!(
        store
            .subscription_opt(org.id)
            .await
            .expect("subscription_opt"),
        None
    );
    assert!(
        store
            .list_projects(org.id)
            .await
            .expect("list_projects")
            .is_empty()
    );
    assert_not_found(store.project(project.id).await, "project(of deleted org)");
    assert_not_found(store.service(service.id).await, "service(of deleted org)");
    assert!(
        store
            .list_services(org.id, None)
            .await
            .expect("list_services")
            .is_empty()
    );
    assert_not_found(
        store.deployment(deployment.id).await,
        "deployment(of deleted org)",
    );
    assert!(
        store
            .list_deployments(service.id)
            .await
            .expect("list_deployments")
            .is_empty()
    );
    assert!(
        store
            .list_events(service.id, 10)
            .await
            .expect("list_events")
            .is_empty()
    );
    assert_not_found(
        store.reservation(reservation.id).await,
        "reservation(of deleted org)",
    );

    assert_eq!(store.user(user.id).await.expect("user survives"), user);
    assert_eq!(
        store
            .project(other_project.id)
            .await
            .expect("neighbour project"),
        other_project
    );
    assert_eq!(store.plan(plan.id).await.expect("plan survives"), plan);
    // With its only subscription gone, the plan is free to delete.
    store.delete_plan(plan.id).await.expect("delete_plan");
}

/// Audit entries about an organization stay readable after it is deleted (the log is history).
pub async fn audit_entries_outlive_their_organization(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "audited").await;
    let t = now();
    let created = audit_of(Some(org.id), "org.create", t);
    store.append_audit(&created).await.expect("append_audit");
    store.delete_org(org.id).await.expect("delete_org");
    let deleted = audit_of(Some(org.id), "org.delete", t + chrono::Duration::seconds(1));
    store
        .append_audit(&deleted)
        .await
        .expect("append_audit(after delete)");

    let mut f = AuditFilter::default();
    f.org = Some(org.id);
    let log = store.list_audit(&f).await.expect("list_audit");
    assert_eq!(log, vec![deleted, created]);
}

// ---------------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------------

/// `put_member` adds a membership, and a second put replaces role and project scope.
pub async fn put_member_adds_and_replaces_a_membership(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "team").await;
    let project = seed_project(&*store, &org, "web").await;
    let user = seed_user(&*store, "carol").await;
    let member = seed_member(&*store, &org, &user, Role::Member).await;
    assert_eq!(
        store.members(org.id).await.expect("members"),
        vec![member.clone()]
    );

    let mut promoted = member.clone();
    promoted.role = Role::Admin;
    promoted.projects = Some(vec![project.id]);
    store
        .put_member(&promoted)
        .await
        .expect("put_member(replace)");
    assert_eq!(
        store.members(org.id).await.expect("members"),
        vec![promoted.clone()]
    );
    assert_eq!(
        store.memberships(user.id).await.expect("memberships"),
        vec![promoted]
    );
}

/// `members` lists an organization's members and `memberships` a user's organizations.
pub async fn members_and_memberships_list_both_directions(store: Arc<dyn Store>) {
    let org_a = seed_org(&*store, "org-a").await;
    let org_b = seed_org(&*store, "org-b").await;
    let dave = seed_user(&*store, "dave").await;
    let erin = seed_user(&*store, "erin").await;
    let lonely = seed_user(&*store, "lonely").await;
    let dave_a = seed_member(&*store, &org_a, &dave, Role::Owner).await;
    let erin_a = seed_member(&*store, &org_a, &erin, Role::Viewer).await;
    let dave_b = seed_member(&*store, &org_b, &dave, Role::Member).await;

    let mut members_a = store.members(org_a.id).await.expect("members(a)");
    members_a.sort_by_key(|m| m.user);
    let mut expected = vec![dave_a.clone(), erin_a.clone()];
    expected.sort_by_key(|m| m.user);
    assert_eq!(members_a, expected);
    assert_eq!(
        store.members(org_b.id).await.expect("members(b)"),
        vec![dave_b.clone()]
    );

    let mut of_dave = store.memberships(dave.id).await.expect("memberships(dave)");
    of_dave.sort_by_key(|m| m.org);
    let mut expected = vec![dave_a, dave_b];
    expected.sort_by_key(|m| m.org);
    assert_eq!(of_dave, expected);
    assert_eq!(
        store.memberships(erin.id).await.expect("memberships(erin)"),
        vec![erin_a]
    );
    assert!(
        store
            .memberships(lonely.id)
            .await
            .expect("memberships(lonely)")
            .is_empty()
    );
}

/// `remove_member` returns `true` when it removed a membership and `false` the second time.
pub async fn remove_member_reports_whether_there_was_one(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "leavers").await;
    let frank = seed_user(&*store, "frank").await;
    let grace = seed_user(&*store, "grace").await;
    seed_member(&*store, &org, &frank, Role::Member).await;
    let stays = seed_member(&*store, &org, &grace, Role::Owner).await;

    assert!(
        store
            .remove_member(org.id, frank.id)
            .await
            .expect("remove_member")
    );
    assert!(
        !store
            .remove_member(org.id, frank.id)
            .await
            .expect("remove_member(again)")
    );
    assert_eq!(store.members(org.id).await.expect("members"), vec![stays]);
    assert!(
        store
            .memberships(frank.id)
            .await
            .expect("memberships")
            .is_empty()
    );
}

/// A membership naming a missing organization or user is refused with `NotFound`.
pub async fn put_member_requires_an_existing_org_and_user(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "strict").await;
    let user = seed_user(&*store, "henry").await;
    let ghost_user = Member {
        org: org.id,
        user: UserId::new(),
        role: Role::Member,
        projects: None,
        created_at: now(),
    };
    assert_not_found(
        store.put_member(&ghost_user).await,
        "put_member(missing user)",
    );
    let ghost_org = Member {
        org: OrgId::new(),
        user: user.id,
        role: Role::Member,
        projects: None,
        created_at: now(),
    };
    assert_not_found(
        store.put_member(&ghost_org).await,
        "put_member(missing org)",
    );
    assert!(store.members(org.id).await.expect("members").is_empty());
    assert!(
        store
            .memberships(user.id)
            .await
            .expect("memberships")
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Plans and subscriptions
// ---------------------------------------------------------------------------------------------

/// A created plan reads back unchanged by id and by name.
pub async fn plans_roundtrip_by_id_and_name(store: Arc<dyn Store>) {
    let mut new = NewPlan::new(
        unique("starter"),
        PlanLimits {
            cpu_millis: 2000,
            memory_bytes: 4 * GIB,
            storage_bytes: 20 * GIB,
            max_containers: 10,
            max_projects: 3,
        },
    );
    new.display_name = "Starter".into();
    new.monthly_price_cents = 1999;
    new.currency = "EUR".into();
    let plan = new.build(now()).expect("valid plan");
    store.create_plan(&plan).await.expect("create_plan");

    assert_eq!(store.plan(plan.id).await.expect("plan"), plan);
    assert_eq!(
        store
            .plan_by_name_opt(plan.name.as_str())
            .await
            .expect("plan_by_name_opt"),
        Some(plan)
    );
    assert_eq!(
        store
            .plan_by_name_opt(&unique("absent"))
            .await
            .expect("plan_by_name_opt(missing)"),
        None
    );
}

/// A second plan with a taken name is refused and not stored.
pub async fn plan_names_are_unique(store: Arc<dyn Store>) {
    let plan = seed_plan(&*store, "pro", generous_limits()).await;
    let twin = NewPlan::new(plan.name.to_string(), PlanLimits::default())
        .build(now())
        .expect("valid plan");
    assert_already_exists(store.create_plan(&twin).await, "create_plan(same name)");
    assert_not_found(store.plan(twin.id).await, "plan(refused twin)");
    assert_eq!(store.plan(plan.id).await.expect("plan"), plan);
}

/// `list_plans` returns every plan ordered by name.
pub async fn list_plans_is_ordered_by_name(store: Arc<dyn Store>) {
    let token = unique("lp");
    let mut made = Vec::new();
    for prefix in ["zeta", "alpha", "mid"] {
        let plan = NewPlan::new(format!("{prefix}-{token}"), generous_limits())
            .build(now())
            .expect("valid plan");
        store.create_plan(&plan).await.expect("create_plan");
        made.push(plan);
    }
    let all = store.list_plans().await.expect("list_plans");
    let names: Vec<String> = all.iter().map(|p| p.name.to_string()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "list_plans is not ordered by name");
    let ours: Vec<PlanId> = all
        .iter()
        .filter(|p| p.name.as_str().ends_with(&token))
        .map(|p| p.id)
        .collect();
    assert_eq!(ours, vec![made[1].id, made[2].id, made[0].id]);
}

/// `update_plan` replaces limits, price and display name.
pub async fn update_plan_replaces_limits_and_price(store: Arc<dyn Store>) {
    let plan = seed_plan(&*store, "growing", generous_limits()).await;
    let mut changed = plan.clone();
    changed.limits = PlanLimits {
        cpu_millis: 4000,
        memory_bytes: 8 * GIB,
        storage_bytes: 100 * GIB,
        max_containers: 25,
        max_projects: 5,
    };
    changed.monthly_price_cents = 4900;
    changed.display_name = "Growing (2025)".into();
    store.update_plan(&changed).await.expect("update_plan");
    assert_eq!(store.plan(plan.id).await.expect("plan"), changed);
}

/// A plan with a subscription cannot be deleted; once no subscription uses it, it can.
pub async fn plan_in_use_cannot_be_deleted(store: Arc<dyn Store>) {
    let (org, old) = seed_subscribed_org(&*store, "mover", generous_limits()).await;
    assert_conflict(store.delete_plan(old.id).await, "delete_plan(in use)");
    assert_eq!(store.plan(old.id).await.expect("plan still there"), old);

    let new = seed_plan(&*store, "mover-new", generous_limits()).await;
    let mut sub = store
        .subscription_opt(org.id)
        .await
        .expect("subscription_opt")
        .expect("subscribed");
    sub.plan = new.id;
    store
        .put_subscription(&sub)
        .await
        .expect("put_subscription(move)");

    store
        .delete_plan(old.id)
        .await
        .expect("delete_plan(unused)");
    assert_not_found(store.plan(old.id).await, "plan(deleted)");
    assert_eq!(
        store
            .plan_by_name_opt(old.name.as_str())
            .await
            .expect("plan_by_name_opt"),
        None
    );
    assert_conflict(store.delete_plan(new.id).await, "delete_plan(new, in use)");
}

/// An organization has no subscription until one is put; a second put replaces it.
pub async fn put_subscription_creates_and_replaces_the_one_subscription(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "subscriber").await;
    let basic = seed_plan(&*store, "basic", generous_limits()).await;
    let premium = seed_plan(&*store, "premium", generous_limits()).await;
    assert_eq!(
        store
            .subscription_opt(org.id)
            .await
            .expect("subscription_opt"),
        None
    );

    let sub = subscribe(&*store, &org, &basic).await;
    assert_eq!(
        store
            .subscription_opt(org.id)
            .await
            .expect("subscription_opt"),
        Some(sub.clone())
    );

    let mut replaced = sub.clone();
    replaced.plan = premium.id;
    replaced.status = SubscriptionStatus::Suspended;
    replaced.period_end = sub.period_end + chrono::Duration::days(30);
    store
        .put_subscription(&replaced)
        .await
        .expect("put_subscription(replace)");
    assert_eq!(
        store
            .subscription_opt(org.id)
            .await
            .expect("subscription_opt"),
        Some(replaced)
    );
    // The replaced plan is no longer in use.
    store
        .delete_plan(basic.id)
        .await
        .expect("delete_plan(basic)");
}

/// A subscription naming a missing organization or plan is refused with `NotFound`.
pub async fn put_subscription_requires_an_existing_org_and_plan(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "picky").await;
    let plan = seed_plan(&*store, "picky", generous_limits()).await;

    let mut ghost_plan = subscription_of(&org, &plan, SubscriptionStatus::Active);
    ghost_plan.plan = PlanId::new();
    assert_not_found(
        store.put_subscription(&ghost_plan).await,
        "put_subscription(missing plan)",
    );
    let mut ghost_org = subscription_of(&org, &plan, SubscriptionStatus::Active);
    ghost_org.org = OrgId::new();
    assert_not_found(
        store.put_subscription(&ghost_org).await,
        "put_subscription(missing org)",
    );
    assert_eq!(
        store
            .subscription_opt(org.id)
            .await
            .expect("subscription_opt"),
        None
    );
    assert_eq!(
        store
            .subscription_opt(ghost_org.org)
            .await
            .expect("subscription_opt(missing org)"),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// Projects
// ---------------------------------------------------------------------------------------------

/// A created project reads back unchanged by id and by name in its organization.
pub async fn projects_roundtrip_by_id_and_name(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "proj").await;
    let mut project = project_of(&org, "storefront");
    project.reservation = Some(ReservationId::new());
    store
        .create_project(&project)
        .await
        .expect("create_project");

    assert_eq!(store.project(project.id).await.expect("project"), project);
    assert_eq!(
        store
            .project_by_name_opt(org.id, "storefront")
            .await
            .expect("project_by_name_opt"),
        Some(project.clone())
    );
    assert_eq!(
        store
            .project_by_name_opt(org.id, "other")
            .await
            .expect("project_by_name_opt(missing)"),
        None
    );
    let other = seed_org(&*store, "proj-other").await;
    assert_eq!(
        store
            .project_by_name_opt(other.id, "storefront")
            .await
            .expect("project_by_name_opt(other org)"),
        None
    );
}

/// Two projects of one organization cannot share a name; two organizations can.
pub async fn project_names_are_unique_per_org_not_globally(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "pn").await;
    let other = seed_org(&*store, "pn-other").await;
    let first = seed_project(&*store, &org, "web").await;
    let twin = project_of(&org, "web");
    assert_already_exists(
        store.create_project(&twin).await,
        "create_project(same name)",
    );
    assert_not_found(store.project(twin.id).await, "project(refused twin)");

    let elsewhere = seed_project(&*store, &other, "web").await;
    assert_eq!(
        store
            .project_by_name_opt(org.id, "web")
            .await
            .expect("project_by_name_opt"),
        Some(first)
    );
    assert_eq!(
        store
            .project_by_name_opt(other.id, "web")
            .await
            .expect("project_by_name_opt(other)"),
        Some(elsewhere)
    );
}

/// A project of a missing organization is refused with `NotFound`.
pub async fn create_project_requires_an_existing_org(store: Arc<dyn Store>) {
    let mut project = project_of(&seed_org(&*store, "anchor").await, "web");
    project.org = OrgId::new();
    assert_not_found(
        store.create_project(&project).await,
        "create_project(missing org)",
    );
    assert_not_found(store.project(project.id).await, "project(refused)");
}

/// `list_projects` returns one organization's projects in creation order.
pub async fn projects_list_per_org_in_creation_order(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "lister").await;
    let other = seed_org(&*store, "lister-other").await;
    let mut made = Vec::new();
    for name in ["zulu", "alpha", "mike"] {
        made.push(seed_project(&*store, &org, name).await);
    }
    let foreign = seed_project(&*store, &other, "alpha").await;

    assert_eq!(
        store.list_projects(org.id).await.expect("list_projects"),
        made
    );
    assert_eq!(
        store
            .list_projects(other.id)
            .await
            .expect("list_projects(other)"),
        vec![foreign]
    );
    let empty = seed_org(&*store, "lister-empty").await;
    assert!(
        store
            .list_projects(empty.id)
            .await
            .expect("list_projects(empty)")
            .is_empty()
    );
}

/// A project that still has services cannot be deleted; once they are gone, it can.
pub async fn project_with_services_cannot_be_deleted(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "keeper").await;
    let project = seed_project(&*store, &org, "web").await;
    let service = seed_service(&*store, &project, "api").await;

    assert_conflict(
        store.delete_project(project.id).await,
        "delete_project(with services)",
    );
    assert_eq!(store.project(project.id).await.expect("project"), project);

    store
        .delete_service(service.id)
        .await
        .expect("delete_service");
    store
        .delete_project(project.id)
        .await
        .expect("delete_project");
    assert_not_found(store.project(project.id).await, "project(deleted)");
    assert_eq!(
        store
            .project_by_name_opt(org.id, "web")
            .await
            .expect("project_by_name_opt"),
        None
    );
    assert!(
        store
            .list_projects(org.id)
            .await
            .expect("list_projects")
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------------------------

/// A service reads back unchanged, spec included: the store keeps secret values (redaction is
/// the platform's job when returning them).
pub async fn services_roundtrip_with_spec_and_secrets(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "svc").await;
    let project = seed_project(&*store, &org, "data").await;
    let mut service = service_of(&project, "db");
    service.kind = ServiceKind::Database {
        engine: caas_core::model::DatabaseEngine::Postgres,
    };
    service.reservation = Some(ReservationId::new());
    store
        .create_service(&service)
        .await
        .expect("create_service");

    let read = store.service(service.id).await.expect("service");
    assert_eq!(read, service);
    let secret = read
        .spec
        .env
        .iter()
        .find(|v| v.key.as_str() == "DB_PASSWORD")
        .expect("secret env var kept");
    assert!(secret.secret);
    assert_eq!(secret.value, "hunter2");
    assert_eq!(
        store
            .service_by_name_opt(project.id, "db")
            .await
            .expect("service_by_name_opt"),
        Some(service)
    );
    assert_eq!(
        store
            .service_by_name_opt(project.id, "cache")
            .await
            .expect("service_by_name_opt(missing)"),
        None
    );
}

/// Two services of one project cannot share a name; services of two projects can.
pub async fn service_names_are_unique_per_project_not_globally(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "sn").await;
    let web = seed_project(&*store, &org, "web").await;
    let jobs = seed_project(&*store, &org, "jobs").await;
    let first = seed_service(&*store, &web, "worker").await;
    let twin = service_of(&web, "worker");
    assert_already_exists(
        store.create_service(&twin).await,
        "create_service(same name)",
    );
    assert_not_found(store.service(twin.id).await, "service(refused twin)");

    let other = seed_service(&*store, &jobs, "worker").await;
    assert_eq!(
        store
            .service_by_name_opt(web.id, "worker")
            .await
            .expect("service_by_name_opt(web)"),
        Some(first)
    );
    assert_eq!(
        store
            .service_by_name_opt(jobs.id, "worker")
            .await
            .expect("service_by_name_opt(jobs)"),
        Some(other)
    );
}

/// A service of a missing project, or of a project belonging to another organization, is
/// refused with `NotFound`.
pub async fn create_service_requires_a_project_of_the_same_org(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "mine").await;
    let theirs = seed_org(&*store, "theirs").await;
    let their_project = seed_project(&*store, &theirs, "web").await;

    let mut missing = service_of(&their_project, "api");
    missing.project = ProjectId::new();
    assert_not_found(
        store.create_service(&missing).await,
        "create_service(missing project)",
    );

    let mut smuggled = service_of(&their_project, "api");
    smuggled.org = org.id;
    assert_not_found(
        store.create_service(&smuggled).await,
        "create_service(project of another org)",
    );
    assert_not_found(store.service(smuggled.id).await, "service(refused)");
    assert!(
        store
            .list_services(their_project.org, None)
            .await
            .expect("list_services")
            .is_empty()
    );
}

/// `list_services` returns an organization's services, optionally of one project only, in
/// creation order.
pub async fn list_services_by_org_and_by_project(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "ls").await;
    let other = seed_org(&*store, "ls-other").await;
    let web = seed_project(&*store, &org, "web").await;
    let jobs = seed_project(&*store, &org, "jobs").await;
    let a = seed_service(&*store, &web, "frontend").await;
    let b = seed_service(&*store, &jobs, "cron").await;
    let c = seed_service(&*store, &web, "api").await;
    let foreign_project = seed_project(&*store, &other, "web").await;
    seed_service(&*store, &foreign_project, "frontend").await;

    assert_eq!(
        store
            .list_services(org.id, None)
            .await
            .expect("list_services"),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(
        store
            .list_services(org.id, Some(web.id))
            .await
            .expect("list_services(web)"),
        vec![a, c]
    );
    assert_eq!(
        store
            .list_services(org.id, Some(jobs.id))
            .await
            .expect("list_services(jobs)"),
        vec![b]
    );
    assert!(
        store
            .list_services(org.id, Some(foreign_project.id))
            .await
            .expect("list_services(foreign project)")
            .is_empty()
    );
}

/// `list_all_services` includes the services of every organization.
pub async fn list_all_services_spans_organizations(store: Arc<dyn Store>) {
    let one = seed_org(&*store, "all-one").await;
    let two = seed_org(&*store, "all-two").await;
    let p1 = seed_project(&*store, &one, "web").await;
    let p2 = seed_project(&*store, &two, "web").await;
    let s1 = seed_service(&*store, &p1, "api").await;
    let s2 = seed_service(&*store, &p2, "api").await;

    let all = store.list_all_services().await.expect("list_all_services");
    let ours: Vec<Service> = all
        .into_iter()
        .filter(|s| s.org == one.id || s.org == two.id)
        .collect();
    assert_eq!(ours, vec![s1, s2]);
}

/// `update_service` replaces status, current deployment, spec and timestamps.
pub async fn update_service_replaces_mutable_fields(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "upd").await;
    let project = seed_project(&*store, &org, "web").await;
    let service = seed_service(&*store, &project, "api").await;
    let deployment = seed_deployment(&*store, &service).await;

    let mut changed = service.clone();
    changed.status = ServiceStatus::Running;
    changed.current_deployment = Some(deployment.id);
    changed.reservation = Some(ReservationId::new());
    changed.spec.image = ImageRef::parse("caas/busybox:1.37").expect("valid image");
    changed
        .spec
        .env
        .push(EnvVar::plain("NEW", "1").expect("valid env"));
    changed.spec.resources.memory_bytes = 512 * MIB;
    changed.spec.replicas = 2;
    changed.updated_at = service.updated_at + chrono::Duration::seconds(5);
    store
        .update_service(&changed)
        .await
        .expect("update_service");

    assert_eq!(store.service(service.id).await.expect("service"), changed);
    assert_eq!(
        store
            .service_by_name_opt(project.id, "api")
            .await
            .expect("service_by_name_opt"),
        Some(changed)
    );
}

/// Deleting a service removes its deployments and events, and nothing of its siblings.
pub async fn deleting_a_service_removes_its_deployments_and_events(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "del").await;
    let project = seed_project(&*store, &org, "web").await;
    let doomed = seed_service(&*store, &project, "old").await;
    let sibling = seed_service(&*store, &project, "new").await;
    let d1 = seed_deployment(&*store, &doomed).await;
    let d2 = seed_deployment(&*store, &sibling).await;
    let t = now();
    store
        .append_event(&event_of(&doomed, ServiceEventKind::OomKilled, t))
        .await
        .expect("append_event");
    let kept = event_of(&sibling, ServiceEventKind::Deployed, t);
    store.append_event(&kept).await.expect("append_event");

    store
        .delete_service(doomed.id)
        .await
        .expect("delete_service");

    assert_not_found(store.service(doomed.id).await, "service(deleted)");
    assert_eq!(
        store
            .service_by_name_opt(project.id, "old")
            .await
            .expect("service_by_name_opt"),
        None
    );
    assert_not_found(
        store.deployment(d1.id).await,
        "deployment(of deleted service)",
    );
    assert!(
        store
            .list_deployments(doomed.id)
            .await
            .expect("list_deployments")
            .is_empty()
    );
    assert!(
        store
            .list_events(doomed.id, 10)
            .await
            .expect("list_events")
            .is_empty()
    );
    assert_eq!(
        store.deployment(d2.id).await.expect("sibling deployment"),
        d2
    );
    assert_eq!(
        store
            .list_events(sibling.id, 10)
            .await
            .expect("sibling events"),
        vec![kept]
    );
    assert_eq!(
        store
            .list_services(org.id, None)
            .await
            .expect("list_services"),
        vec![sibling]
    );
}

// ---------------------------------------------------------------------------------------------
// Deployments
// ---------------------------------------------------------------------------------------------

/// A deployment reads back unchanged; `update_deployment` replaces status, container, error
/// and finish time.
pub async fn deployments_roundtrip_and_update(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "dep").await;
    let project = seed_project(&*store, &org, "web").await;
    let service = seed_service(&*store, &project, "api").await;
    let deployment = seed_deployment(&*store, &service).await;
    assert_eq!(
        store.deployment(deployment.id).await.expect("deployment"),
        deployment
    );

    let mut active = deployment.clone();
    active.status = DeploymentStatus::Active;
    active.container_id = Some("0123456789abcdef".into());
    active.finished_at = Some(deployment.created_at + chrono::Duration::seconds(3));
    store
        .update_deployment(&active)
        .await
        .expect("update_deployment");
    assert_eq!(
        store.deployment(deployment.id).await.expect("deployment"),
        active
    );

    let mut failed = active.clone();
    failed.status = DeploymentStatus::Failed;
    failed.error = Some("health check never passed".into());
    store
        .update_deployment(&failed)
        .await
        .expect("update_deployment(failed)");
    assert_eq!(
        store
            .list_deployments(service.id)
            .await
            .expect("list_deployments"),
        vec![failed]
    );
}

/// Recording a deployment twice, or for a missing service, is refused.
pub async fn create_deployment_refuses_duplicates_and_missing_services(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "depdup").await;
    let project = seed_project(&*store, &org, "web").await;
    let service = seed_service(&*store, &project, "api").await;
    let deployment = seed_deployment(&*store, &service).await;

    assert_already_exists(
        store.create_deployment(&deployment).await,
        "create_deployment(same id)",
    );
    let mut orphan = deployment_of(&service, now());
    orphan.service = ServiceId::new();
    assert_not_found(
        store.create_deployment(&orphan).await,
        "create_deployment(missing service)",
    );
    assert_not_found(store.deployment(orphan.id).await, "deployment(refused)");
    assert_eq!(
        store
            .list_deployments(service.id)
            .await
            .expect("list_deployments"),
        vec![deployment]
    );
}

/// `list_deployments` returns one service's deployments, newest first.
pub async fn deployments_list_newest_first(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "hist").await;
    let project = seed_project(&*store, &org, "web").await;
    let service = seed_service(&*store, &project, "api").await;
    let other = seed_service(&*store, &project, "worker").await;
    let t0 = now();
    let mut made = Vec::new();
    for i in 0..4 {
        let d = deployment_of(&service, t0 + chrono::Duration::seconds(i));
        store
            .create_deployment(&d)
            .await
            .expect("create_deployment");
        made.push(d);
    }
    let foreign = deployment_of(&other, t0);
    store
        .create_deployment(&foreign)
        .await
        .expect("create_deployment(other)");

    made.reverse();
    assert_eq!(
        store
            .list_deployments(service.id)
            .await
            .expect("list_deployments"),
        made
    );
    assert_eq!(
        store
            .list_deployments(other.id)
            .await
            .expect("list_deployments(other)"),
        vec![foreign]
    );
}

// ---------------------------------------------------------------------------------------------
// Events and audit
// ---------------------------------------------------------------------------------------------

/// Events and audit entries list newest first (by time, not by insertion), at most `limit`.
pub async fn events_and_audit_list_newest_first_with_limit(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "log").await;
    let project = seed_project(&*store, &org, "web").await;
    let service = seed_service(&*store, &project, "api").await;
    let other = seed_service(&*store, &project, "worker").await;
    let t0 = now();
    let at = |s: i64| t0 + chrono::Duration::seconds(s);

    // Appended out of time order on purpose.
    let kinds = [
        (2, ServiceEventKind::Died { exit_code: 137 }),
        (0, ServiceEventKind::Deployed),
        (
            3,
            ServiceEventKind::HealthChanged {
                status: "healthy".into(),
            },
        ),
        (
            1,
            ServiceEventKind::DeployFailed {
                reason: "image missing".into(),
            },
        ),
    ];
    let mut events = Vec::new();
    for (s, kind) in kinds {
        let e = event_of(&service, kind, at(s));
        store.append_event(&e).await.expect("append_event");
        events.push(e);
    }
    store
        .append_event(&event_of(&other, ServiceEventKind::Lost, at(10)))
        .await
        .expect("append_event(other)");
    events.sort_by_key(|e| std::cmp::Reverse(e.at));

    assert_eq!(
        store
            .list_events(service.id, 10)
            .await
            .expect("list_events"),
        events
    );
    assert_eq!(
        store
            .list_events(service.id, 2)
            .await
            .expect("list_events(limit 2)"),
        events[..2].to_vec()
    );

    let mut entries = Vec::new();
    for s in [1, 3, 0, 2] {
        let e = audit_of(Some(org.id), &format!("service.step{s}"), at(s));
        store.append_audit(&e).await.expect("append_audit");
        entries.push(e);
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.at));
    let mut f = AuditFilter::default();
    f.org = Some(org.id);
    assert_eq!(store.list_audit(&f).await.expect("list_audit"), entries);
    f.limit = 3;
    assert_eq!(
        store.list_audit(&f).await.expect("list_audit(limit 3)"),
        entries[..3].to_vec()
    );
}

/// The audit filter keeps one organization's entries; without it, every organization's and
/// the platform's own entries are listed.
pub async fn list_audit_filters_by_org(store: Arc<dyn Store>) {
    let one = seed_org(&*store, "aud-one").await;
    let two = seed_org(&*store, "aud-two").await;
    let actor = seed_user(&*store, "auditor").await;
    let t = now();
    let mut e1 = audit_of(Some(one.id), "org.update", t);
    e1.actor = Some(actor.id);
    let e2 = audit_of(
        Some(two.id),
        "org.update",
        t + chrono::Duration::milliseconds(1),
    );
    let e3 = audit_of(None, "plan.create", t + chrono::Duration::milliseconds(2));
    for e in [&e1, &e2, &e3] {
        store.append_audit(e).await.expect("append_audit");
    }

    let mut f = AuditFilter::default();
    f.org = Some(one.id);
    assert_eq!(
        store.list_audit(&f).await.expect("list_audit(one)"),
        vec![e1.clone()]
    );
    f.org = Some(two.id);
    assert_eq!(
        store.list_audit(&f).await.expect("list_audit(two)"),
        vec![e2.clone()]
    );

    let mut all = AuditFilter::default();
    all.limit = 1000;
    let listed = store.list_audit(&all).await.expect("list_audit(all)");
    let ours: Vec<AuditEntry> = listed
        .into_iter()
        .filter(|e| [e1.id, e2.id, e3.id].contains(&e.id))
        .collect();
    assert_eq!(ours, vec![e3, e2, e1]);
}

// ---------------------------------------------------------------------------------------------
// Missing rows
// ---------------------------------------------------------------------------------------------

/// Look-ups of ids that were never created fail with `NotFound`; `_opt` look-ups and lists
/// return nothing.
pub async fn lookup_of_missing_id_is_not_found(store: Arc<dyn Store>) {
    assert_not_found(store.user(UserId::new()).await, "user");
    assert_not_found(store.org(OrgId::new()).await, "org");
    assert_not_found(store.plan(PlanId::new()).await, "plan");
    assert_not_found(store.project(ProjectId::new()).await, "project");
    assert_not_found(store.service(ServiceId::new()).await, "service");
    assert_not_found(store.deployment(DeploymentId::new()).await, "deployment");
    assert_not_found(store.reservation(ReservationId::new()).await, "reservation");

    let org = OrgId::new();
    assert_eq!(
        store.subscription_opt(org).await.expect("subscription_opt"),
        None
    );
    assert_eq!(
        store
            .project_by_name_opt(org, "web")
            .await
            .expect("project_by_name_opt"),
        None
    );
    assert_eq!(
        store
            .service_by_name_opt(ProjectId::new(), "api")
            .await
            .expect("service_by_name_opt"),
        None
    );
    assert!(store.members(org).await.expect("members").is_empty());
    assert!(
        store
            .memberships(UserId::new())
            .await
            .expect("memberships")
            .is_empty()
    );
    assert!(
        store
            .list_projects(org)
            .await
            .expect("list_projects")
            .is_empty()
    );
    assert!(
        store
            .list_services(org, None)
            .await
            .expect("list_services")
            .is_empty()
    );
    assert!(
        store
            .list_deployments(ServiceId::new())
            .await
            .expect("list_deployments")
            .is_empty()
    );
    assert!(
        store
            .list_events(ServiceId::new(), 10)
            .await
            .expect("list_events")
            .is_empty()
    );
    assert!(
        !store
            .remove_member(org, UserId::new())
            .await
            .expect("remove_member")
    );
}

/// Updates of rows that do not exist fail with `NotFound` and create nothing.
pub async fn update_of_missing_row_is_not_found(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "ghosts").await;
    let project = seed_project(&*store, &org, "web").await;
    let service = seed_service(&*store, &project, "api").await;

    let ghost_org = NewOrganization::new(unique("ghost"))
        .build(now())
        .expect("valid org");
    assert_not_found(store.update_org(&ghost_org).await, "update_org");
    assert_not_found(store.org(ghost_org.id).await, "org(after update)");

    let ghost_plan = NewPlan::new(unique("ghost"), generous_limits())
        .build(now())
        .expect("valid plan");
    assert_not_found(store.update_plan(&ghost_plan).await, "update_plan");
    assert_not_found(store.plan(ghost_plan.id).await, "plan(after update)");

    let ghost_service = service_of(&project, "ghost");
    assert_not_found(store.update_service(&ghost_service).await, "update_service");
    assert_not_found(
        store.service(ghost_service.id).await,
        "service(after update)",
    );

    let ghost_deployment = deployment_of(&service, now());
    assert_not_found(
        store.update_deployment(&ghost_deployment).await,
        "update_deployment",
    );
    assert_not_found(
        store.deployment(ghost_deployment.id).await,
        "deployment(after update)",
    );
}

/// Deletes of rows that do not exist fail with `NotFound`.
pub async fn delete_of_missing_row_is_not_found(store: Arc<dyn Store>) {
    assert_not_found(store.delete_org(OrgId::new()).await, "delete_org");
    assert_not_found(store.delete_plan(PlanId::new()).await, "delete_plan");
    assert_not_found(
        store.delete_project(ProjectId::new()).await,
        "delete_project",
    );
    assert_not_found(
        store.delete_service(ServiceId::new()).await,
        "delete_service",
    );

    // Deleting twice: the second delete finds nothing.
    let org = seed_org(&*store, "twice").await;
    store.delete_org(org.id).await.expect("delete_org");
    assert_not_found(store.delete_org(org.id).await, "delete_org(again)");
}

/// The store answers a ping.
pub async fn store_answers_ping(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
}

/// Settings are absent until put, read back exactly, and replaced by a second put.
pub async fn settings_roundtrip_and_replace(store: Arc<dyn Store>) {
    let key = unique("setting");
    assert_eq!(store.setting_opt(&key).await.expect("read"), None);
    let v1 = serde_json::json!({"backend": "docker", "settings": {"type": "unix", "path": "/var/run/docker.sock"}});
    store.put_setting(&key, &v1).await.expect("put");
    assert_eq!(store.setting_opt(&key).await.expect("read"), Some(v1));
    let v2 = serde_json::json!({"backend": "docker", "settings": {"type": "tcp", "url": "tcp://10.0.0.5:2375"}, "n": 2});
    store.put_setting(&key, &v2).await.expect("replace");
    assert_eq!(store.setting_opt(&key).await.expect("read"), Some(v2));
}

/// API tokens are found by their hash, listed per user, unique by hash, and revoked once.
pub async fn api_tokens_roundtrip_by_hash_and_revoke(store: Arc<dyn Store>) {
    use caas_core::ApiTokenId;
    use caas_core::model::ApiToken;
    let user = seed_user(&*store, "tok").await;
    let t = ApiToken {
        id: ApiTokenId::new(),
        user: user.id,
        name: "ci".into(),
        token_sha256: format!("{:0>64}", &unique("t")[2..]),
        expires_at: Some(now() + chrono::Duration::days(30)),
        created_at: now(),
    };
    store.create_api_token(&t).await.expect("create");
    assert_eq!(
        store
            .api_token_by_hash_opt(&t.token_sha256)
            .await
            .expect("read"),
        Some(t.clone())
    );
    assert_eq!(
        store
            .api_token_by_hash_opt(&"f".repeat(64))
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        store.list_api_tokens(user.id).await.expect("list"),
        vec![t.clone()]
    );
    let same_hash = ApiToken {
        id: ApiTokenId::new(),
        ..t.clone()
    };
    assert_already_exists(
        store.create_api_token(&same_hash).await,
        "token with the same hash",
    );
    let stranger = ApiToken {
        id: ApiTokenId::new(),
        user: caas_core::UserId::new(),
        token_sha256: format!("{:0>64}", &unique("u")[2..]),
        ..t.clone()
    };
    assert_not_found(
        store.create_api_token(&stranger).await,
        "token of a missing user",
    );
    store.delete_api_token(t.id).await.expect("revoke");
    assert_not_found(store.delete_api_token(t.id).await, "revoked token");
    assert_eq!(
        store
            .api_token_by_hash_opt(&t.token_sha256)
            .await
            .expect("read"),
        None
    );
}

/// A domain of `service` (unsaved), pending verification.
pub fn domain_of(service: &Service, host: &str, path: &str) -> caas_core::model::Domain {
    caas_core::model::Domain {
        id: caas_core::DomainId::new(),
        org: service.org,
        service: service.id,
        hostname: caas_core::validate::Hostname::parse(host).expect("fixture hostname"),
        path_prefix: path.to_string(),
        strip_prefix: false,
        target_port: 8080,
        verification: caas_core::model::VerificationStatus::Pending,
        verification_token: unique("tok"),
        created_at: now(),
    }
}

/// Domains read back exactly, by id, by host and path, per service, per organization and all.
pub async fn domains_roundtrip_and_list_per_service_org_and_all(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "dom").await;
    let project = seed_project(&*store, &org, "p").await;
    let svc = seed_service(&*store, &project, "web").await;
    let host = format!("{}.example.com", unique("d"));
    let a = domain_of(&svc, &host, "/");
    let b = domain_of(&svc, &host, "/api");
    store.create_domain(&a).await.expect("create");
    store.create_domain(&b).await.expect("create");
    assert_eq!(store.domain(a.id).await.expect("read"), a);
    assert_eq!(
        store.domain_by_host_opt(&host, "/api").await.expect("read"),
        Some(b.clone())
    );
    assert_eq!(
        store
            .domain_by_host_opt(&host, "/nope")
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        store.list_domains(svc.id).await.expect("list"),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        store.list_org_domains(org.id).await.expect("list"),
        vec![a.clone(), b.clone()]
    );
    let all = store.list_all_domains().await.expect("list");
    assert!(all.contains(&a) && all.contains(&b));
    assert_not_found(
        store.domain(caas_core::DomainId::new()).await,
        "missing domain",
    );
    let mut stranger = domain_of(&svc, &format!("x{host}"), "/");
    stranger.service = ServiceId::new();
    assert_not_found(
        store.create_domain(&stranger).await,
        "domain of a missing service",
    );
}

/// The same hostname and path cannot be claimed twice, not even by another organization;
/// another path on the same host can.
pub async fn a_host_and_path_has_one_owner_across_organizations(store: Arc<dyn Store>) {
    let host = format!("{}.example.com", unique("own"));
    let org1 = seed_org(&*store, "own").await;
    let p1 = seed_project(&*store, &org1, "p").await;
    let s1 = seed_service(&*store, &p1, "web").await;
    let org2 = seed_org(&*store, "other").await;
    let p2 = seed_project(&*store, &org2, "p").await;
    let s2 = seed_service(&*store, &p2, "web").await;
    store
        .create_domain(&domain_of(&s1, &host, "/"))
        .await
        .expect("first claim");
    assert_already_exists(
        store.create_domain(&domain_of(&s2, &host, "/")).await,
        "same host and path in another organization",
    );
    assert_already_exists(
        store.create_domain(&domain_of(&s1, &host, "/")).await,
        "same host and path on the same service",
    );
    store
        .create_domain(&domain_of(&s2, &host, "/blog"))
        .await
        .expect("another path of the same host");
}

/// Deleting a service removes its domains (and frees their hosts).
pub async fn domains_go_with_their_service(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "gone").await;
    let project = seed_project(&*store, &org, "p").await;
    let svc = seed_service(&*store, &project, "web").await;
    let host = format!("{}.example.com", unique("g"));
    let d = domain_of(&svc, &host, "/");
    store.create_domain(&d).await.expect("create");
    store.delete_service(svc.id).await.expect("delete service");
    assert_not_found(store.domain(d.id).await, "domain of a deleted service");
    assert_eq!(
        store.domain_by_host_opt(&host, "/").await.expect("read"),
        None
    );
    let other = seed_service(&*store, &project, "web2").await;
    store
        .create_domain(&domain_of(&other, &host, "/"))
        .await
        .expect("the host is free again");
}

/// Updating a domain changes its verification; deleting twice is NotFound.
pub async fn update_domain_changes_verification(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "ver").await;
    let project = seed_project(&*store, &org, "p").await;
    let svc = seed_service(&*store, &project, "web").await;
    let mut d = domain_of(&svc, &format!("{}.example.com", unique("v")), "/");
    store.create_domain(&d).await.expect("create");
    d.verification = caas_core::model::VerificationStatus::Verified { at: now() };
    store.update_domain(&d).await.expect("update");
    assert_eq!(store.domain(d.id).await.expect("read"), d);
    d.verification = caas_core::model::VerificationStatus::Failed {
        reason: "no A record points at the platform".into(),
    };
    store.update_domain(&d).await.expect("update");
    assert_eq!(store.domain(d.id).await.expect("read"), d);
    store.delete_domain(d.id).await.expect("delete");
    assert_not_found(store.delete_domain(d.id).await, "deleted domain");
    assert_not_found(store.update_domain(&d).await, "update of a deleted domain");
}
