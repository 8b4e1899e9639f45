//! A host application that owns its directory and plans: the platform reads users,
//! organizations, members, plans and subscriptions from the parts it is given and refuses to
//! change them ("managed by the host application"), before anything else happens; everything
//! else works as with one store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use caas_core::ProjectRef;
use caas_core::memory::{InMemoryRuntime, InMemoryStore, RuntimeOp};
use caas_core::model::{NewOrganization, NewPlan, NewUser, Role, ServiceSpec, SubscriptionStatus};
use caas_core::platform::{
    DeleteOptions, DeployApp, MemberUpdate, NewInvitation, NewMember, NewProject, OrgUpdate,
    PlanUpdate,
};
use caas_core::validate::ImageRef;
use caas_core::{Error, Platform, Principal, Store};
use caas_testkit::platform::{Tenant, seed_tenant, test_limits};

const IMAGE: &str = "caas/busybox:latest";

struct World {
    /// Wired like a host application's: directory and plans read-only.
    hosted: Platform,
    runtime: Arc<InMemoryRuntime>,
    tenant: Tenant,
    member: Principal,
}

/// A tenant seeded through a platform that owns everything, then a second platform over the
/// same data whose directory and plans are read-only parts (as a host application's tables
/// would be).
async fn world() -> World {
    let store: Arc<dyn Store> = Arc::new(InMemoryStore::new());
    let runtime = Arc::new(InMemoryRuntime::new());
    runtime.add_image(IMAGE);
    let owner = Platform::builder()
        .store(store.clone())
        .runtime(runtime.clone())
        .build()
        .unwrap();
    let mut limits = test_limits();
    limits.max_containers = 5;
    let tenant = seed_tenant(&owner, limits, "web").await;
    let user = owner
        .users()
        .create(&tenant.admin, NewUser::new("dev@acme.example"))
        .await
        .unwrap();
    owner
        .members()
        .add(
            &tenant.admin,
            &tenant.org,
            NewMember::new("dev@acme.example", Role::Member),
        )
        .await
        .unwrap();
    // A user of the host who is not a member.
    owner
        .users()
        .create(&tenant.admin, NewUser::new("ops@acme.example"))
        .await
        .unwrap();
    let hosted = Platform::builder()
        .store(store.clone())
        .directory(store.clone())
        .plans(store)
        .runtime(runtime.clone())
        .build()
        .unwrap();
    let member = hosted.principal_for(user.id).await.unwrap();
    World {
        hosted,
        runtime,
        tenant,
        member,
    }
}

fn managed_by_host(result: Result<impl std::fmt::Debug, Error>, what: &str) {
    match result {
        Err(Error::Conflict { message }) => assert!(
            message.contains("managed by the host application") && message.contains(what),
            "{message}"
        ),
        other => panic!("expected a conflict naming the host application, got {other:?}"),
    }
}

fn app(name: &str) -> DeployApp {
    let mut spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
    spec.command = Some(vec!["sleep".into(), "3600".into()]);
    spec.resources.cpu_millis = 100;
    spec.resources.memory_bytes = 64 * caas_core::units::MIB;
    DeployApp::new(name, spec)
}

#[tokio::test]
async fn members_of_the_hosts_organizations_deploy_against_the_hosts_plans() {
    let w = world().await;
    let svc = w
        .hosted
        .services()
        .deploy_app(
            &w.member,
            &ProjectRef::new(&w.tenant.org, "web"),
            app("api"),
        )
        .await
        .unwrap();
    assert_eq!(svc.name.as_str(), "api");
    // The plan read through the plan part bounds the organization: five containers.
    for i in 1..5 {
        w.hosted
            .services()
            .deploy_app(
                &w.member,
                &ProjectRef::new(&w.tenant.org, "web"),
                app(&format!("api{i}")),
            )
            .await
            .unwrap();
    }
    let refused = w
        .hosted
        .services()
        .deploy_app(
            &w.member,
            &ProjectRef::new(&w.tenant.org, "web"),
            app("one-too-many"),
        )
        .await;
    assert!(
        matches!(refused, Err(Error::QuotaExceeded { .. })),
        "{refused:?}"
    );
    let members = w
        .hosted
        .members()
        .list(&w.tenant.admin, &w.tenant.org)
        .await
        .unwrap();
    assert_eq!(members.len(), 2, "{members:?}");
}

#[tokio::test]
async fn users_organizations_and_members_are_changed_by_the_host_only() {
    let w = world().await;
    let (admin, org) = (&w.tenant.admin, w.tenant.org.as_str());
    managed_by_host(
        w.hosted
            .users()
            .create(admin, NewUser::new("new@acme.example"))
            .await,
        "users, organizations and members",
    );
    managed_by_host(
        w.hosted
            .orgs()
            .create(admin, NewOrganization::new("another"), None)
            .await,
        "users, organizations and members",
    );
    managed_by_host(
        w.hosted
            .members()
            .add(admin, org, NewMember::new("ops@acme.example", Role::Viewer))
            .await,
        "users, organizations and members",
    );
    managed_by_host(
        w.hosted
            .members()
            .update(
                admin,
                org,
                "dev@acme.example",
                MemberUpdate::role(Role::Admin),
            )
            .await,
        "users, organizations and members",
    );
    managed_by_host(
        w.hosted
            .members()
            .remove(admin, org, "dev@acme.example")
            .await,
        "users, organizations and members",
    );
    managed_by_host(
        w.hosted
            .members()
            .invite(
                admin,
                org,
                NewInvitation::new("guest@acme.example", Role::Viewer),
            )
            .await,
        "users, organizations and members",
    );
    managed_by_host(
        w.hosted.users().disable(admin, "dev@acme.example").await,
        "users, organizations and members",
    );
    managed_by_host(
        w.hosted
            .orgs()
            .update(admin, org, OrgUpdate::default())
            .await,
        "users, organizations and members",
    );
    managed_by_host(
        w.hosted.admin().suspend_org(admin, org).await,
        "users, organizations and members",
    );
    // Nothing changed: the member is still there with the same role, nobody was invited.
    let members = w.hosted.members().list(admin, org).await.unwrap();
    let dev = members
        .iter()
        .find(|m| m.email == "dev@acme.example")
        .expect("the member stays");
    assert_eq!(dev.role, Role::Member);
    assert!(
        w.hosted
            .members()
            .invitations(admin, org)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn deleting_a_hosts_organization_is_refused_before_anything_is_torn_down() {
    let w = world().await;
    w.hosted
        .services()
        .deploy_app(
            &w.member,
            &ProjectRef::new(&w.tenant.org, "web"),
            app("api"),
        )
        .await
        .unwrap();
    managed_by_host(
        w.hosted
            .orgs()
            .delete(
                &w.tenant.admin,
                &w.tenant.org,
                DeleteOptions::with_volumes(),
            )
            .await,
        "users, organizations and members",
    );
    for op in [RuntimeOp::StopContainer, RuntimeOp::RemoveContainer] {
        assert_eq!(w.runtime.calls(op), 0, "nothing was torn down ({op:?})");
    }
    let services = w
        .hosted
        .services()
        .list(&w.member, &ProjectRef::new(&w.tenant.org, "web"))
        .await
        .unwrap();
    assert_eq!(services.len(), 1);
}

#[tokio::test]
async fn plans_and_subscriptions_are_changed_by_the_host_only() {
    let w = world().await;
    let admin = &w.tenant.admin;
    managed_by_host(
        w.hosted
            .plans()
            .create(admin, NewPlan::new("gold", test_limits()))
            .await,
        "plans and subscriptions",
    );
    let plan = w
        .hosted
        .orgs()
        .subscription(admin, &w.tenant.org)
        .await
        .unwrap()
        .plan;
    let plan = w
        .hosted
        .plans()
        .list(admin)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.id == plan)
        .unwrap();
    managed_by_host(
        w.hosted
            .plans()
            .update(admin, plan.name.as_str(), PlanUpdate::default())
            .await,
        "plans and subscriptions",
    );
    managed_by_host(
        w.hosted.plans().delete(admin, plan.name.as_str()).await,
        "plans and subscriptions",
    );
    managed_by_host(
        w.hosted
            .orgs()
            .set_subscription(
                admin,
                &w.tenant.org,
                plan.name.as_str(),
                SubscriptionStatus::Suspended,
            )
            .await,
        "plans and subscriptions",
    );
    let sub = w
        .hosted
        .orgs()
        .subscription(admin, &w.tenant.org)
        .await
        .unwrap();
    assert_eq!(sub.status, SubscriptionStatus::Active);
}

/// The directory and the plans in one store (the host application's tables), everything else
/// in another: members of the host's organizations deploy, the host's plan bounds them, a
/// change of the host's plan bounds the next deploy, and the platform's own store holds no
/// user, organization, member, plan or subscription.
#[tokio::test]
async fn a_directory_and_plans_apart_from_the_store_bound_deploys_and_leave_no_copy() {
    let host: Arc<dyn Store> = Arc::new(InMemoryStore::new());
    let ours: Arc<dyn Store> = Arc::new(InMemoryStore::new());
    let runtime = Arc::new(InMemoryRuntime::new());
    runtime.add_image(IMAGE);
    // The host application's sign-up and billing, played by a platform over its store.
    let host_side = Platform::builder()
        .store(host.clone())
        .runtime(runtime.clone())
        .build()
        .unwrap();
    let mut limits = test_limits();
    limits.max_containers = 2;
    let tenant = seed_tenant(&host_side, limits, "web").await;

    let hosted = Platform::builder()
        .store(ours.clone())
        .directory(host.clone())
        .plans(host.clone())
        .runtime(runtime.clone())
        .build()
        .unwrap();
    let admin = hosted.principal_for(tenant.admin.user).await.unwrap();
    let org_id = host.org_by_slug_opt(&tenant.org).await.unwrap().unwrap().id;
    hosted
        .projects()
        .create(&admin, &tenant.org, NewProject::new("shop"))
        .await
        .unwrap();
    for name in ["api", "worker"] {
        hosted
            .services()
            .deploy_app(&admin, &ProjectRef::new(&tenant.org, "shop"), app(name))
            .await
            .unwrap();
    }
    let refused = hosted
        .services()
        .deploy_app(&admin, &ProjectRef::new(&tenant.org, "shop"), app("third"))
        .await;
    assert!(
        matches!(refused, Err(Error::QuotaExceeded { .. })),
        "the host's plan allows two containers: {refused:?}"
    );

    // The host raises its plan's limit: the next deploy sees it.
    let sub = host.subscription_opt(org_id).await.unwrap().unwrap();
    let mut plan = host.plan(sub.plan).await.unwrap();
    plan.limits.max_containers = 3;
    host.update_plan(&plan).await.unwrap();
    hosted
        .services()
        .deploy_app(&admin, &ProjectRef::new(&tenant.org, "shop"), app("third"))
        .await
        .unwrap();
    let usage = hosted.orgs().usage(&admin, &tenant.org).await.unwrap();
    assert_eq!(usage.limits.map(|l| l.max_containers), Some(3));

    // No copy of the host's tenancy in our store.
    assert!(
        ours.list_orgs(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        ours.list_users(&Default::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(ours.list_plans().await.unwrap().is_empty());
    assert!(ours.org(org_id).await.is_err());
    assert!(ours.members(org_id).await.unwrap().is_empty());
    assert!(ours.subscription_opt(org_id).await.unwrap().is_none());
    assert_eq!(ours.list_services(org_id, None).await.unwrap().len(), 3);
}
