//! Plan and organization administration on the in-memory backends: read, update, delete —
//! with permissions, validation naming the field, and audit entries.

#![allow(clippy::unwrap_used)]

use caas_core::ProjectRef;
use caas_core::ports::store::prelude::*;
use std::sync::Arc;

use caas_core::labels;
use caas_core::memory::{InMemoryProxy, InMemoryRuntime, InMemoryStore};
use caas_core::model::{
    NewOrganization, NewPlan, NewUser, OrgStatus, PlanLimits, Role, ServiceSpec,
    SubscriptionStatus, VolumeMount,
};
use caas_core::platform::{DeleteOptions, DeployApp, NewProject, OrgUpdate, PlanUpdate};
use caas_core::ports::runtime::{ContainerSpec, LabelSelector};
use caas_core::ports::store::AuditFilter;
use caas_core::units::GIB;
use caas_core::validate::{ImageRef, Name};
use caas_core::{ContainerRuntime, Platform, Principal};

const IMAGE: &str = "caas/busybox:latest";

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    runtime: InMemoryRuntime,
    admin: Principal,
    owner: Principal,
}

fn limits() -> PlanLimits {
    PlanLimits {
        cpu_millis: 4000,
        memory_bytes: 4 * GIB,
        storage_bytes: 10 * GIB,
        max_containers: 10,
        max_projects: 3,
        max_domains: 20,
        max_pids: 1024,
        backup_storage_bytes: 10 * 1024 * 1024 * 1024,
    }
}

async fn world() -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime.clone()))
        .proxy(Arc::new(InMemoryProxy::new()))
        .build()
        .unwrap();
    let admin = platform
        .users()
        .ensure_platform_admin("root@example.com")
        .await
        .unwrap();
    let admin = platform.principal_for(admin.id).await.unwrap();
    let owner = platform
        .users()
        .create(&admin, NewUser::new("owner@acme.example"))
        .await
        .unwrap();
    platform
        .plans()
        .create(&admin, NewPlan::new("starter", limits()))
        .await
        .unwrap();
    platform
        .orgs()
        .create(&admin, NewOrganization::new("acme"), Some(owner.id))
        .await
        .unwrap();
    platform
        .orgs()
        .set_subscription(&admin, "acme", "starter", SubscriptionStatus::Active)
        .await
        .unwrap();
    let owner = platform.principal_for(owner.id).await.unwrap();
    World {
        platform,
        store,
        runtime,
        admin,
        owner,
    }
}

impl World {
    /// A user with `role` in `acme` (or no role at all).
    async fn user(&self, email: &str, role: Option<Role>) -> Principal {
        let user = self
            .platform
            .users()
            .create(&self.admin, NewUser::new(email))
            .await
            .unwrap();
        let org = self.platform.orgs().get(&self.admin, "acme").await.unwrap();
        match role {
            Some(role) => Principal::user(user.id).with_role(org.id, role),
            None => Principal::user(user.id),
        }
    }

    async fn audit_actions(&self) -> Vec<String> {
        self.store
            .list_audit(&AuditFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

fn app(name: &str, volume: Option<&str>) -> DeployApp {
    let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
    if let Some(v) = volume {
        spec.volumes.push(VolumeMount {
            volume: Name::parse(v).unwrap(),
            target: "/data".into(),
            read_only: false,
            size_bytes: GIB,
        });
    }
    DeployApp::new(name, spec)
}

fn plan_update() -> PlanUpdate {
    PlanUpdate::default()
}

#[tokio::test]
async fn a_plan_is_read_by_name_by_anyone_and_unknown_plans_are_not_found() {
    let w = world().await;
    let plan = w.platform.plans().get(&w.owner, "starter").await.unwrap();
    assert_eq!(plan.name.as_str(), "starter");
    assert_eq!(plan.limits, limits());
    let err = w.platform.plans().get(&w.admin, "gold").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn an_administrator_updates_a_plans_display_name_limits_and_price_with_an_audit_entry() {
    let w = world().await;
    let mut update = plan_update();
    update.display_name = Some("Starter (2025)".into());
    update.limits = Some(PlanLimits {
        max_projects: 5,
        ..limits()
    });
    update.monthly_price_cents = Some(1900);
    update.currency = Some("EUR".into());
    let plan = w
        .platform
        .plans()
        .update(&w.admin, "starter", update)
        .await
        .unwrap();
    assert_eq!(plan.display_name, "Starter (2025)");
    assert_eq!(plan.limits.max_projects, 5);
    assert_eq!(plan.monthly_price_cents, 1900);
    assert_eq!(plan.currency, "EUR");
    assert_eq!(
        w.platform.plans().get(&w.owner, "starter").await.unwrap(),
        plan
    );
    // The new limits govern the organization's usage at once.
    let usage = w.platform.orgs().usage(&w.owner, "acme").await.unwrap();
    assert_eq!(usage.limits.unwrap().max_projects, 5);
    assert!(w.audit_actions().await.contains(&"plan.update".to_string()));

    // An empty display name falls back to the plan's name; nothing else changes.
    let mut update = plan_update();
    update.display_name = Some(" ".into());
    let plan = w
        .platform
        .plans()
        .update(&w.admin, "starter", update)
        .await
        .unwrap();
    assert_eq!(plan.display_name, "starter");
    assert_eq!(plan.monthly_price_cents, 1900);
}

#[tokio::test]
async fn plan_updates_name_the_invalid_field_and_change_nothing() {
    let w = world().await;
    let before = w.platform.plans().get(&w.admin, "starter").await.unwrap();
    let mut update = plan_update();
    update.currency = Some("euro".into());
    update.monthly_price_cents = Some(5);
    let err = w
        .platform
        .plans()
        .update(&w.admin, "starter", update)
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("currency"), "{err}");
    let mut update = plan_update();
    update.display_name = Some("x".repeat(201));
    let err = w
        .platform
        .plans()
        .update(&w.admin, "starter", update)
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("display_name"), "{err}");
    assert_eq!(
        w.platform.plans().get(&w.admin, "starter").await.unwrap(),
        before
    );
}

#[tokio::test]
async fn only_platform_administrators_change_or_delete_plans() {
    let w = world().await;
    let mut update = plan_update();
    update.monthly_price_cents = Some(0);
    let err = w
        .platform
        .plans()
        .update(&w.owner, "starter", update)
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let err = w
        .platform
        .plans()
        .delete(&w.owner, "starter")
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let err = w
        .platform
        .plans()
        .update(&w.admin, "gold", plan_update())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn a_plan_in_use_cannot_be_deleted_and_an_unused_one_can() {
    let w = world().await;
    let err = w
        .platform
        .plans()
        .delete(&w.admin, "starter")
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    w.platform
        .plans()
        .create(&w.admin, NewPlan::new("spare", limits()))
        .await
        .unwrap();
    w.platform.plans().delete(&w.admin, "spare").await.unwrap();
    assert!(
        w.platform
            .plans()
            .get(&w.admin, "spare")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        w.platform
            .plans()
            .delete(&w.admin, "spare")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(w.audit_actions().await.contains(&"plan.delete".to_string()));
}

#[tokio::test]
async fn owners_rename_their_organization_but_only_administrators_change_slug_or_status() {
    let w = world().await;
    let mut update = OrgUpdate::default();
    update.display_name = Some("ACME Corp.".into());
    let org = w
        .platform
        .orgs()
        .update(&w.owner, "acme", update)
        .await
        .unwrap();
    assert_eq!(org.display_name, "ACME Corp.");
    assert!(w.audit_actions().await.contains(&"org.update".to_string()));

    let mut update = OrgUpdate::default();
    update.slug = Some("acme-corp".into());
    let err = w
        .platform
        .orgs()
        .update(&w.owner, "acme", update.clone())
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let mut status = OrgUpdate::default();
    status.status = Some(OrgStatus::Suspended);
    let err = w
        .platform
        .orgs()
        .update(&w.owner, "acme", status.clone())
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");

    let org = w
        .platform
        .orgs()
        .update(&w.admin, "acme", update)
        .await
        .unwrap();
    assert_eq!(org.slug.as_str(), "acme-corp");
    assert_eq!(org.display_name, "ACME Corp.", "kept");
    let org = w
        .platform
        .orgs()
        .update(&w.admin, "acme-corp", status)
        .await
        .unwrap();
    assert_eq!(org.status, OrgStatus::Suspended);
    assert!(
        w.platform
            .orgs()
            .get(&w.owner, "acme")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(
        w.platform
            .orgs()
            .get(&w.owner, "acme-corp")
            .await
            .unwrap()
            .status,
        OrgStatus::Suspended
    );
}

#[tokio::test]
async fn org_updates_are_refused_to_strangers_and_lesser_roles_and_name_bad_fields() {
    let w = world().await;
    let mut rename = OrgUpdate::default();
    rename.display_name = Some("Mine now".into());
    let stranger = w.user("eve@evil.example", None).await;
    let err = w
        .platform
        .orgs()
        .update(&stranger, "acme", rename.clone())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "strangers learn nothing: {err}");
    let admin_member = w.user("adm@acme.example", Some(Role::Admin)).await;
    let err = w
        .platform
        .orgs()
        .update(&admin_member, "acme", rename)
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");

    let mut bad = OrgUpdate::default();
    bad.slug = Some("Not A Slug".into());
    let err = w
        .platform
        .orgs()
        .update(&w.admin, "acme", bad)
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("slug"), "{err}");
    let mut bad = OrgUpdate::default();
    bad.display_name = Some("tab\tbell\u{7}".into());
    let err = w
        .platform
        .orgs()
        .update(&w.owner, "acme", bad)
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("display_name"), "{err}");

    w.platform
        .orgs()
        .create(&w.admin, NewOrganization::new("globex"), None)
        .await
        .unwrap();
    let mut taken = OrgUpdate::default();
    taken.slug = Some("globex".into());
    let err = w
        .platform
        .orgs()
        .update(&w.admin, "acme", taken)
        .await
        .unwrap_err();
    assert!(err.is_already_exists(), "{err}");
}

#[tokio::test]
async fn deleting_an_organization_removes_its_projects_services_containers_and_networks() {
    let w = world().await;
    for project in ["shop", "blog"] {
        w.platform
            .projects()
            .create(&w.owner, "acme", NewProject::new(project))
            .await
            .unwrap();
        w.platform
            .services()
            .deploy_app(
                &w.owner,
                &ProjectRef::new("acme", project),
                app("web", Some("data")),
            )
            .await
            .unwrap();
    }
    let org = w.platform.orgs().get(&w.owner, "acme").await.unwrap();
    // A leftover of an interrupted deploy: labelled with the organization, unknown to the store.
    let mut leftover = ContainerSpec::new("caas-leftover", IMAGE);
    leftover.labels = labels::container_labels(
        org.id,
        caas_core::ProjectId::new(),
        caas_core::ServiceId::new(),
        caas_core::DeploymentId::new(),
    );
    leftover
        .labels
        .insert(labels::INSTANCE.into(), "default".into());
    w.runtime.create_container(&leftover).await.unwrap();
    // Another tenant's service must survive.
    w.platform
        .orgs()
        .create(&w.admin, NewOrganization::new("globex"), None)
        .await
        .unwrap();
    w.platform
        .orgs()
        .set_subscription(&w.admin, "globex", "starter", SubscriptionStatus::Active)
        .await
        .unwrap();
    w.platform
        .projects()
        .create(&w.admin, "globex", NewProject::new("site"))
        .await
        .unwrap();
    w.platform
        .services()
        .deploy_app(
            &w.admin,
            &ProjectRef::new("globex", "site"),
            app("web", None),
        )
        .await
        .unwrap();

    w.platform
        .orgs()
        .delete(&w.owner, "acme", DeleteOptions::default())
        .await
        .unwrap();

    let acme = LabelSelector::managed().with(labels::ORG, org.id);
    assert!(w.runtime.list_containers(&acme).await.unwrap().is_empty());
    assert!(w.runtime.list_networks(&acme).await.unwrap().is_empty());
    assert_eq!(
        w.runtime.list_volumes(&acme).await.unwrap().len(),
        2,
        "volumes are kept unless asked"
    );
    assert!(w.store.org_by_slug_opt("acme").await.unwrap().is_none());
    assert!(w.store.list_projects(org.id).await.unwrap().is_empty());
    assert!(w.store.subscription_opt(org.id).await.unwrap().is_none());
    assert!(
        w.platform
            .orgs()
            .get(&w.admin, "acme")
            .await
            .unwrap_err()
            .is_not_found()
    );
    let globex = w
        .platform
        .services()
        .list(&w.admin, &ProjectRef::new("globex", "site"))
        .await
        .unwrap();
    assert_eq!(globex.len(), 1, "other tenants are untouched");
    let actions = w.audit_actions().await;
    assert!(actions.contains(&"org.delete".to_string()), "{actions:?}");
    assert!(
        actions.contains(&"project.delete".to_string()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn deleting_an_organization_with_volumes_removes_them_too() {
    let w = world().await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    w.platform
        .services()
        .deploy_app(
            &w.owner,
            &ProjectRef::new("acme", "shop"),
            app("web", Some("data")),
        )
        .await
        .unwrap();
    let org = w.platform.orgs().get(&w.owner, "acme").await.unwrap();
    w.platform
        .orgs()
        .delete(&w.admin, "acme", DeleteOptions::with_volumes())
        .await
        .unwrap();
    let acme = LabelSelector::managed().with(labels::ORG, org.id);
    assert!(w.runtime.list_volumes(&acme).await.unwrap().is_empty());
    assert!(
        w.runtime
            .list_containers(&LabelSelector::managed())
            .await
            .unwrap()
            .is_empty()
    );
    // Its subscription is gone with it, so the plan is free to be deleted.
    w.platform
        .plans()
        .delete(&w.admin, "starter")
        .await
        .unwrap();
}

#[tokio::test]
async fn only_owners_and_administrators_delete_an_organization() {
    let w = world().await;
    w.platform
        .projects()
        .create(&w.owner, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    let stranger = w.user("eve@evil.example", None).await;
    let err = w
        .platform
        .orgs()
        .delete(&stranger, "acme", DeleteOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let admin_member = w.user("adm@acme.example", Some(Role::Admin)).await;
    let err = w
        .platform
        .orgs()
        .delete(&admin_member, "acme", DeleteOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    assert_eq!(
        w.platform
            .projects()
            .list(&w.owner, "acme")
            .await
            .unwrap()
            .len(),
        1,
        "nothing was deleted"
    );
    let err = w
        .platform
        .orgs()
        .delete(&w.admin, "nope", DeleteOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
