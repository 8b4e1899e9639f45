//! Organization administration on the in-memory backends: members and roles with last-owner
//! protection and ownership transfer, invitations (mailed, accepted once, expiring, only by
//! the invited address), the administrators' overview, suspension, bulk operations with
//! per-item results, and the audit log.

#![allow(clippy::unwrap_used)]

use caas_core::ports::store::prelude::*;
use caas_core::{ProjectRef, ServiceRef};
use std::sync::Arc;
use std::time::Duration;

use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::model::{
    NewOrganization, NewPlan, NewUser, OrgStatus, PlanLimits, Role, ServiceSpec, ServiceStatus,
    SubscriptionStatus,
};
use caas_core::platform::{
    AdminOrgFilter, BulkAction, BulkRequest, DeployApp, MemberUpdate, NewInvitation, NewMember,
    NewProject, RolloutTiming,
};
use caas_core::ports::mailer::InMemoryMailer;
use caas_core::ports::store::AuditFilter;
use caas_core::units::GIB;
use caas_core::validate::ImageRef;
use caas_core::{ManualClock, Platform, Principal};

const IMAGE: &str = "caas/busybox:latest";

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    clock: Arc<ManualClock>,
    mailer: Arc<InMemoryMailer>,
    admin: Principal,
}

async fn world() -> World {
    let store = Arc::new(InMemoryStore::new());
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let mailer = Arc::new(InMemoryMailer::new());
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime))
        .clock(clock.clone())
        .mailer(mailer.clone())
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
    let admin = platform
        .users()
        .ensure_platform_admin("root@example.com")
        .await
        .unwrap();
    let admin = platform.principal_for(admin.id).await.unwrap();
    for (name, price) in [("small", 900), ("big", 4900)] {
        let mut plan = NewPlan::new(
            name,
            PlanLimits {
                cpu_millis: 4000,
                memory_bytes: 4 * GIB,
                storage_bytes: 10 * GIB,
                max_containers: 5,
                max_projects: 2,
                max_domains: 20,
                max_pids: 1024,
                backup_storage_bytes: 10 * 1024 * 1024 * 1024,
            },
        );
        plan.monthly_price_cents = price;
        platform.plans().create(&admin, plan).await.unwrap();
    }
    World {
        platform,
        store,
        clock,
        mailer,
        admin,
    }
}

impl World {
    async fn user(&self, email: &str) -> Principal {
        let u = match self.store.user_by_email_opt(email).await.unwrap() {
            Some(u) => u,
            None => self
                .platform
                .users()
                .create(&self.admin, NewUser::new(email))
                .await
                .unwrap(),
        };
        self.platform.principal_for(u.id).await.unwrap()
    }

    /// An organization owned by `owner@<slug>.example`, subscribed to `plan`.
    async fn org(&self, slug: &str, plan: &str) -> Principal {
        let owner = self.user(&format!("owner@{slug}.example")).await;
        self.platform
            .orgs()
            .create(&self.admin, NewOrganization::new(slug), Some(owner.user))
            .await
            .unwrap();
        self.platform
            .orgs()
            .set_subscription(&self.admin, slug, plan, SubscriptionStatus::Active)
            .await
            .unwrap();
        self.platform.principal_for(owner.user).await.unwrap()
    }

    async fn fresh(&self, p: &Principal) -> Principal {
        self.platform.principal_for(p.user).await.unwrap()
    }
}

#[tokio::test]
async fn members_roles_last_owner_and_ownership_transfer() {
    let w = world().await;
    let owner = w.org("acme", "small").await;
    let bob = w.user("bob@example.com").await;
    let carol = w.user("carol@example.com").await;
    w.platform
        .members()
        .add(
            &owner,
            "acme",
            NewMember::new("Bob@Example.com", Role::Admin),
        )
        .await
        .unwrap();
    let bob = w.fresh(&bob).await;
    // An admin manages members, but not owners.
    let err = w
        .platform
        .members()
        .add(
            &bob,
            "acme",
            NewMember::new("carol@example.com", Role::Owner),
        )
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    w.platform
        .members()
        .add(
            &bob,
            "acme",
            NewMember::new(carol.user.to_string(), Role::Viewer),
        )
        .await
        .unwrap();
    let err = w
        .platform
        .members()
        .add(
            &bob,
            "acme",
            NewMember::new("carol@example.com", Role::Member),
        )
        .await
        .unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    let err = w
        .platform
        .members()
        .add(
            &bob,
            "acme",
            NewMember::new("nobody@example.com", Role::Member),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let carol = w.fresh(&carol).await;
    let err = w
        .platform
        .members()
        .add(
            &carol,
            "acme",
            NewMember::new("x@example.com", Role::Member),
        )
        .await
        .unwrap_err();
    assert!(
        err.is_permission_denied(),
        "viewers do not manage members: {err}"
    );
    let listed = w.platform.members().list(&carol, "acme").await.unwrap();
    assert_eq!(listed.len(), 3);

    // The last owner is neither demoted nor removed, not even by itself.
    let owner_email = "owner@acme.example";
    let err = w
        .platform
        .members()
        .update(&owner, "acme", owner_email, MemberUpdate::role(Role::Admin))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let err = w
        .platform
        .members()
        .remove(&owner, "acme", owner_email)
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let err = w
        .platform
        .members()
        .update(&bob, "acme", owner_email, MemberUpdate::role(Role::Admin))
        .await
        .unwrap_err();
    assert!(
        err.is_permission_denied(),
        "an admin cannot demote an owner: {err}"
    );

    // Transfer: bob becomes owner, the old owner admin; now the old owner can leave.
    let t = w
        .platform
        .members()
        .transfer_ownership(&owner, "acme", "bob@example.com")
        .await
        .unwrap();
    assert_eq!(t.role, Role::Owner);
    let roles: Vec<(String, Role)> = w
        .platform
        .members()
        .list(&carol, "acme")
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.email, m.role))
        .collect();
    assert!(
        roles.contains(&(owner_email.to_string(), Role::Admin)),
        "{roles:?}"
    );
    let old = w.fresh(&owner).await;
    w.platform
        .members()
        .remove(&old, "acme", owner_email)
        .await
        .unwrap();
    // A viewer leaves on their own.
    w.platform
        .members()
        .remove(&carol, "acme", "carol@example.com")
        .await
        .unwrap();
    assert_eq!(
        w.platform
            .members()
            .list(&w.fresh(&bob).await, "acme")
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn viewers_removing_others_are_refused_whether_the_address_has_an_account_or_not() {
    let w = world().await;
    let owner = w.org("acme", "small").await;
    w.user("bob@example.com").await;
    w.user("carol@example.com").await;
    w.platform
        .members()
        .add(
            &owner,
            "acme",
            NewMember::new("carol@example.com", Role::Viewer),
        )
        .await
        .unwrap();
    let carol = w.user("carol@example.com").await;
    let mut answers = Vec::new();
    for address in [
        "bob@example.com",
        "nobody@example.com",
        "owner@acme.example",
    ] {
        let err = w
            .platform
            .members()
            .remove(&carol, "acme", address)
            .await
            .unwrap_err();
        assert!(err.is_permission_denied(), "{address}: {err}");
        answers.push(err.to_string());
    }
    assert!(answers.windows(2).all(|a| a[0] == a[1]), "{answers:?}");
    // Leaving stays open to everyone.
    w.platform
        .members()
        .remove(&carol, "acme", "carol@example.com")
        .await
        .unwrap();
}

#[tokio::test]
async fn invitations_are_mailed_accepted_once_expire_and_belong_to_their_address() {
    let w = world().await;
    let owner = w.org("acme", "small").await;
    let created = w
        .platform
        .members()
        .invite(
            &owner,
            "acme",
            NewInvitation::new("Dave@Example.com", Role::Member),
        )
        .await
        .unwrap();
    assert!(created.token.starts_with("caas_inv_"));
    let mail = &w.mailer.sent()[0];
    assert_eq!(mail.to, "dave@example.com");
    assert_eq!(mail.token, created.token);
    assert!(
        !format!("{mail:?}").contains(&created.token),
        "Debug hides the token"
    );
    let listed = w
        .platform
        .members()
        .invitations(&owner, "acme")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_ne!(listed[0].token_sha256, created.token, "stored hashed");
    let err = w
        .platform
        .members()
        .invite(
            &owner,
            "acme",
            NewInvitation::new("dave@example.com", Role::Viewer),
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "already invited: {err}");

    let eve = w.user("eve@example.com").await;
    let err = w
        .platform
        .members()
        .accept_invitation(&eve, &created.token)
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let dave = w.user("dave@example.com").await;
    let m = w
        .platform
        .members()
        .accept_invitation(&dave, &created.token)
        .await
        .unwrap();
    assert_eq!(m.role, Role::Member);
    let err = w
        .platform
        .members()
        .accept_invitation(&dave, &created.token)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "used up: {err}");
    assert!(
        w.platform
            .members()
            .invitations(&owner, "acme")
            .await
            .unwrap()
            .is_empty()
    );

    // Expiry.
    let late = w
        .platform
        .members()
        .invite(
            &owner,
            "acme",
            NewInvitation::new("frank@example.com", Role::Viewer),
        )
        .await
        .unwrap();
    w.clock.advance(chrono::Duration::days(8));
    let frank = w.user("frank@example.com").await;
    let err = w
        .platform
        .members()
        .accept_invitation(&frank, &late.token)
        .await
        .unwrap_err();
    assert!(
        err.is_conflict() && err.to_string().contains("expired"),
        "{err}"
    );
    assert!(
        w.platform
            .members()
            .accept_invitation(&frank, &late.token)
            .await
            .unwrap_err()
            .is_not_found()
    );

    // Decline and revoke.
    let d = w
        .platform
        .members()
        .invite(
            &owner,
            "acme",
            NewInvitation::new("frank@example.com", Role::Viewer),
        )
        .await
        .unwrap();
    w.platform
        .members()
        .decline_invitation(&frank, &d.token)
        .await
        .unwrap();
    assert!(
        w.platform
            .members()
            .accept_invitation(&frank, &d.token)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let r = w
        .platform
        .members()
        .invite(
            &owner,
            "acme",
            NewInvitation::new("frank@example.com", Role::Viewer),
        )
        .await
        .unwrap();
    w.platform
        .members()
        .revoke_invitation(&owner, "acme", &r.invitation.id.to_string())
        .await
        .unwrap();
    assert!(
        w.platform
            .members()
            .accept_invitation(&frank, &r.token)
            .await
            .unwrap_err()
            .is_not_found()
    );
    for bad in [
        NewInvitation::new("not an address", Role::Viewer),
        NewInvitation::new("x@example.com", Role::Viewer).expires_in_days(90),
    ] {
        assert!(
            w.platform
                .members()
                .invite(&owner, "acme", bad)
                .await
                .unwrap_err()
                .is_invalid_input()
        );
    }
    let viewer = w.fresh(&frank).await;
    let err = w
        .platform
        .members()
        .invite(
            &viewer,
            "acme",
            NewInvitation::new("y@example.com", Role::Viewer),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found() || err.is_permission_denied(), "{err}");
}

#[tokio::test]
async fn administrators_list_organizations_with_members_usage_and_billing() {
    let w = world().await;
    let acme = w.org("acme", "small").await;
    w.org("globex", "big").await;
    w.org("initech", "big").await;
    w.platform
        .projects()
        .create(&acme, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    let spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
    w.platform
        .services()
        .deploy_app(
            &acme,
            &ProjectRef::new("acme", "shop"),
            DeployApp::new("web", spec),
        )
        .await
        .unwrap();
    let page = w
        .platform
        .admin()
        .orgs(&w.admin, &AdminOrgFilter::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 3);
    let a = page
        .items
        .iter()
        .find(|o| o.org.slug.as_str() == "acme")
        .unwrap();
    assert_eq!((a.members, a.containers), (1, 1));
    assert_eq!(a.plan.as_deref(), Some("small"));
    assert_eq!(a.monthly_price_cents, Some(900));
    assert!(a.period_end > a.period_start);
    assert!(
        a.usage
            .dimensions
            .iter()
            .any(|d| d.dimension == "containers" && d.used == 1)
    );

    let big = w
        .platform
        .admin()
        .orgs(&w.admin, &AdminOrgFilter::default().plan("big").page(1, 0))
        .await
        .unwrap();
    assert_eq!(big.items.len(), 1);
    assert!(big.more);
    assert_eq!(big.total, 2, "the count covers every page");
    let next = w
        .platform
        .admin()
        .orgs(&w.admin, &AdminOrgFilter::default().plan("big").page(1, 1))
        .await
        .unwrap();
    assert_eq!((next.items.len(), next.total, next.more), (1, 2, false));
    assert_ne!(next.items[0].org.slug, big.items[0].org.slug);
    assert_eq!(page.total, 3);
    // An offset past the end (even the largest) is an empty page, never an overflow.
    for offset in [3, u32::MAX] {
        let past = w
            .platform
            .admin()
            .orgs(&w.admin, &AdminOrgFilter::default().page(500, offset))
            .await
            .unwrap();
        assert!(past.items.is_empty() && !past.more, "{offset}");
        assert_eq!(past.total, 3);
    }
    assert_eq!(big.items[0].plan.as_deref(), Some("big"));
    let searched = w
        .platform
        .admin()
        .orgs(&w.admin, &AdminOrgFilter::default().search("GLO"))
        .await
        .unwrap();
    assert_eq!(searched.items.len(), 1);
    let err = w
        .platform
        .admin()
        .orgs(&acme, &AdminOrgFilter::default())
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
}

#[tokio::test]
async fn suspension_stops_services_blocks_deploys_and_reactivation_restarts_them() {
    let w = world().await;
    let acme = w.org("acme", "small").await;
    w.platform
        .projects()
        .create(&acme, "acme", NewProject::new("shop"))
        .await
        .unwrap();
    let spec = ServiceSpec::new(ImageRef::parse(IMAGE).unwrap());
    w.platform
        .services()
        .deploy_app(
            &acme,
            &ProjectRef::new("acme", "shop"),
            DeployApp::new("web", spec.clone()),
        )
        .await
        .unwrap();
    w.platform
        .services()
        .deploy_app(
            &acme,
            &ProjectRef::new("acme", "shop"),
            DeployApp::new("idle", spec.clone()),
        )
        .await
        .unwrap();
    w.platform
        .services()
        .stop(&acme, &ServiceRef::new("acme", "shop", "idle"))
        .await
        .unwrap();

    assert!(
        w.platform
            .admin()
            .suspend_org(&w.admin, "acme")
            .await
            .unwrap()
    );
    assert!(
        !w.platform
            .admin()
            .suspend_org(&w.admin, "acme")
            .await
            .unwrap(),
        "idempotent"
    );
    assert_eq!(
        w.platform.orgs().get(&acme, "acme").await.unwrap().status,
        OrgStatus::Suspended
    );
    let web = w
        .platform
        .services()
        .get(&acme, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();
    assert_eq!(web.status, ServiceStatus::Stopped);
    let err = w
        .platform
        .services()
        .deploy_app(
            &acme,
            &ProjectRef::new("acme", "shop"),
            DeployApp::new("more", spec.clone()),
        )
        .await
        .unwrap_err();
    assert!(
        err.is_conflict() && err.to_string().contains("suspended"),
        "{err}"
    );
    let err = w
        .platform
        .services()
        .start(&acme, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    // Reading still works.
    assert_eq!(
        w.platform
            .services()
            .list(&acme, &ProjectRef::new("acme", "shop"))
            .await
            .unwrap()
            .len(),
        2
    );

    assert!(
        w.platform
            .admin()
            .reactivate_org(&w.admin, "acme")
            .await
            .unwrap()
    );
    assert!(
        !w.platform
            .admin()
            .reactivate_org(&w.admin, "acme")
            .await
            .unwrap()
    );
    let web = w
        .platform
        .services()
        .get(&acme, &ServiceRef::new("acme", "shop", "web"))
        .await
        .unwrap();
    assert_eq!(web.status, ServiceStatus::Running, "started again");
    let idle = w
        .platform
        .services()
        .get(&acme, &ServiceRef::new("acme", "shop", "idle"))
        .await
        .unwrap();
    assert_eq!(
        idle.status,
        ServiceStatus::Stopped,
        "was stopped before: stays stopped"
    );
    w.platform
        .services()
        .deploy_app(
            &acme,
            &ProjectRef::new("acme", "shop"),
            DeployApp::new("more", spec),
        )
        .await
        .unwrap();
    let err = w
        .platform
        .admin()
        .suspend_org(&acme, "acme")
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
}

#[tokio::test]
async fn bulk_operations_report_each_item_and_repeat_harmlessly() {
    let w = world().await;
    for slug in ["acme", "globex", "initech"] {
        w.org(slug, "small").await;
    }
    w.user("ops@example.com").await;
    let orgs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let r = w
        .platform
        .admin()
        .bulk_orgs(
            &w.admin,
            BulkRequest::new(BulkAction::Suspend, orgs(&["acme", "nope", "globex"])),
        )
        .await
        .unwrap();
    assert_eq!(
        r.iter().map(|i| i.ok).collect::<Vec<_>>(),
        [true, false, true]
    );
    assert_eq!(r[1].code.as_deref(), Some("NOT_FOUND"));
    let again = w
        .platform
        .admin()
        .bulk_orgs(
            &w.admin,
            BulkRequest::new(BulkAction::Suspend, orgs(&["acme", "globex"])),
        )
        .await
        .unwrap();
    assert!(again.iter().all(|i| i.ok && !i.changed), "{again:?}");

    let plan = w
        .platform
        .admin()
        .bulk_orgs(
            &w.admin,
            BulkRequest::new(
                BulkAction::ChangePlan { plan: "big".into() },
                orgs(&["acme", "initech"]),
            ),
        )
        .await
        .unwrap();
    assert!(plan.iter().all(|i| i.ok && i.changed), "{plan:?}");
    let add = BulkRequest::new(
        BulkAction::AddMember {
            user: "ops@example.com".into(),
            role: Role::Viewer,
        },
        orgs(&["acme", "globex"]),
    );
    assert!(
        w.platform
            .admin()
            .bulk_orgs(&w.admin, add.clone())
            .await
            .unwrap()
            .iter()
            .all(|i| i.changed)
    );
    assert!(
        w.platform
            .admin()
            .bulk_orgs(&w.admin, add)
            .await
            .unwrap()
            .iter()
            .all(|i| i.ok && !i.changed)
    );
    let del = BulkRequest::new(BulkAction::Delete { volumes: true }, orgs(&["initech"]));
    assert!(
        w.platform
            .admin()
            .bulk_orgs(&w.admin, del.clone())
            .await
            .unwrap()[0]
            .changed
    );
    let repeat = w.platform.admin().bulk_orgs(&w.admin, del).await.unwrap();
    assert!(repeat[0].ok && !repeat[0].changed, "{repeat:?}");
    for bad in [orgs(&[]), orgs(&["acme", "acme"])] {
        let err = w
            .platform
            .admin()
            .bulk_orgs(&w.admin, BulkRequest::new(BulkAction::Reactivate, bad))
            .await
            .unwrap_err();
        assert_eq!(err.field(), Some("orgs"));
    }

    // The audit log has who, what, when, before and after.
    let entries = w
        .platform
        .admin()
        .audit_log(
            &w.admin,
            &AuditFilter::default().action_prefix("org.suspend"),
        )
        .await
        .unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let e = &entries[0];
    assert_eq!(e.actor, Some(w.admin.user));
    assert_eq!(e.before.as_ref().unwrap()["status"], "active");
    assert_eq!(e.after.as_ref().unwrap()["status"], "suspended");
    let acme = w.store.org_by_slug_opt("acme").await.unwrap().unwrap();
    let owner = w.user("owner@acme.example").await;
    let own = w
        .platform
        .admin()
        .audit_log(&owner, &AuditFilter::default().org(acme.id))
        .await
        .unwrap();
    assert!(!own.is_empty() && own.iter().all(|e| e.org == Some(acme.id)));
    assert!(
        w.platform
            .admin()
            .audit_log(&owner, &AuditFilter::default())
            .await
            .unwrap_err()
            .is_permission_denied()
    );
}
