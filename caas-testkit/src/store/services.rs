//! Behaviours of projects, services and deployments.

use std::sync::Arc;

use caas_core::model::{
    DeploymentStatus, EnvVar, Service, ServiceEventKind, ServiceKind, ServiceStatus,
};
use caas_core::units::MIB;
use caas_core::validate::ImageRef;
use caas_core::{ProjectId, ReservationId, ServiceId, Store};

use super::{
    assert_already_exists, assert_conflict, assert_not_found, deployment_of, event_of, now,
    project_of, seed_deployment, seed_org, seed_project, seed_service, service_of,
};

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

/// The store's own tables do not depend on its directory: an organization a host
/// application's directory holds (and this store does not) owns projects, services,
/// deployments, volumes, backups, alerts and reservations here like any other, and its
/// projects still cascade. (The platform checks organizations through the directory before it
/// creates anything; the store only keeps the records.)
pub async fn an_organization_of_a_host_directory_owns_records_here(store: Arc<dyn Store>) {
    use crate::store::storage::{alert_of, backup_of, seed_volume};
    let host_org = caas_core::model::NewOrganization::new(super::unique("panel-org"))
        .build(now())
        .expect("fixture organization is valid");
    assert_not_found(store.org(host_org.id).await, "org (the host's, not ours)");

    let project = seed_project(&*store, &host_org, "web").await;
    let service = seed_service(&*store, &project, "api").await;
    let deployment = seed_deployment(&*store, &service).await;
    let volume = seed_volume(&*store, &project, "data").await;
    let backup = backup_of(&volume, now());
    store.create_backup(&backup).await.expect("create_backup");
    let alert = alert_of(host_org.id, "service_down", "service:api", now());
    store.put_alert(&alert).await.expect("put_alert");
    let grant = caas_core::QuotaGrant {
        org: host_org.id,
        org_slug: host_org.slug.to_string(),
        subscription: None,
        plan: None,
    };
    assert_conflict(
        store
            .quota_reserve(
                &grant,
                caas_core::units::ResourceAmounts::one_project(),
                now(),
                now() + chrono::Duration::minutes(1),
            )
            .await,
        "quota_reserve(the host's organization, no subscription in the grant)",
    );

    assert_eq!(
        store
            .list_projects(host_org.id)
            .await
            .expect("list_projects"),
        vec![project.clone()]
    );
    assert_eq!(
        store.service(service.id).await.expect("service").org,
        host_org.id
    );
    assert_eq!(
        store
            .list_deployments(service.id)
            .await
            .expect("list_deployments"),
        vec![deployment]
    );
    assert_eq!(
        store.backup(backup.id).await.expect("backup").org,
        host_org.id
    );
    assert_eq!(store.alert(alert.id).await.expect("alert").org, host_org.id);

    store
        .delete_service(service.id)
        .await
        .expect("delete_service");
    store
        .delete_project(project.id)
        .await
        .expect("delete_project");
    assert_not_found(
        store.volume(volume.id).await,
        "volume(of the deleted project)",
    );
    assert!(
        store
            .list_projects(host_org.id)
            .await
            .expect("list_projects")
            .is_empty()
    );
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
