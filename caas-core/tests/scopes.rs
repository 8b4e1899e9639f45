//! Members scoped to projects stay inside their scope, enforced in `Platform`: a scoped admin
//! cannot widen its own membership, grant (by adding, changing or inviting) a role or a scope
//! wider than its own, touch a member wider than itself, or change the organization's
//! settings; of organization-wide data it reads what `caas_core::auth` says.

#![allow(clippy::unwrap_used)]

use caas_core::ProjectRef;
use caas_core::ports::store::prelude::*;
use std::sync::Arc;

use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::model::{
    Alert, AlertState, NewOrganization, NewPlan, NewUser, PlanLimits, Role, SubscriptionStatus,
};
use caas_core::platform::{
    AlertCondition, AlertRule, AlertSettings, MemberUpdate, NewInvitation, NewMember, NewProject,
    OrgUpdate,
};
use caas_core::ports::mailer::InMemoryMailer;
use caas_core::units::GIB;
use caas_core::{AlertId, Error, Platform, Principal};

struct World {
    platform: Platform,
    store: Arc<InMemoryStore>,
    mailer: Arc<InMemoryMailer>,
    owner: Principal,
    /// An admin of `acme` scoped to the project `shop`.
    scoped: Principal,
}

/// `acme` with the projects `shop`, `blog` and `lab`; its owner; an admin scoped to `shop`; an
/// organization-wide admin `wide@acme.example`; a member `both@acme.example` scoped to `shop`
/// and `blog`; a member `mate@acme.example` scoped to `shop`; the user `new@example.com`.
async fn world() -> World {
    let store = Arc::new(InMemoryStore::new());
    let mailer = Arc::new(InMemoryMailer::new());
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(InMemoryRuntime::new()))
        .mailer(mailer.clone())
        .build()
        .unwrap();
    let root = platform
        .users()
        .ensure_platform_admin("root@example.com")
        .await
        .unwrap();
    let root = platform.principal_for(root.id).await.unwrap();
    let limits = PlanLimits {
        cpu_millis: 1000,
        memory_bytes: GIB,
        storage_bytes: GIB,
        max_containers: 2,
        max_projects: 5,
        max_domains: 5,
        max_pids: 1024,
        backup_storage_bytes: 10 * 1024 * 1024 * 1024,
    };
    platform
        .plans()
        .create(&root, NewPlan::new("p", limits))
        .await
        .unwrap();
    let owner = platform
        .users()
        .create(&root, NewUser::new("owner@acme.example"))
        .await
        .unwrap();
    platform
        .orgs()
        .create(&root, NewOrganization::new("acme"), Some(owner.id))
        .await
        .unwrap();
    platform
        .orgs()
        .set_subscription(&root, "acme", "p", SubscriptionStatus::Active)
        .await
        .unwrap();
    let owner = platform.principal_for(owner.id).await.unwrap();
    for p in ["shop", "blog", "lab"] {
        platform
            .projects()
            .create(&owner, "acme", NewProject::new(p))
            .await
            .unwrap();
    }
    let members: [(&str, Role, Option<Vec<&str>>); 5] = [
        ("scoped@acme.example", Role::Admin, Some(vec!["shop"])),
        ("wide@acme.example", Role::Admin, None),
        (
            "both@acme.example",
            Role::Member,
            Some(vec!["shop", "blog"]),
        ),
        ("mate@acme.example", Role::Member, Some(vec!["shop"])),
        ("new@example.com", Role::Viewer, None),
    ];
    for (email, role, projects) in members {
        let u = platform
            .users()
            .create(&root, NewUser::new(email))
            .await
            .unwrap();
        if email == "new@example.com" {
            continue;
        }
        let mut m = NewMember::new(u.email, role);
        if let Some(p) = projects {
            m = m.projects(p.iter().map(ToString::to_string).collect());
        }
        platform.members().add(&owner, "acme", m).await.unwrap();
    }
    let scoped = store
        .user_by_email_opt("scoped@acme.example")
        .await
        .unwrap()
        .unwrap();
    let scoped = platform.principal_for(scoped.id).await.unwrap();
    World {
        platform,
        store,
        mailer,
        owner,
        scoped,
    }
}

impl World {
    async fn member(&self, email: &str) -> caas_core::platform::MemberView {
        self.platform
            .members()
            .list(&self.owner, "acme")
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.email == email)
            .unwrap()
    }
}

fn denied<T: std::fmt::Debug>(r: caas_core::Result<T>, what: &str) -> Error {
    let e = r.unwrap_err();
    assert!(e.is_permission_denied(), "{what}: {e}");
    e
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn a_scoped_admin_cannot_widen_or_change_its_own_membership() {
    let w = world().await;
    let me = "scoped@acme.example";
    for update in [
        MemberUpdate::projects(None),
        MemberUpdate::projects(Some(names(&["shop", "blog"]))),
        MemberUpdate::projects(Some(names(&["shop"]))),
        MemberUpdate::role(Role::Owner),
        MemberUpdate::role(Role::Viewer),
    ] {
        denied(
            w.platform
                .members()
                .update(&w.scoped, "acme", me, update.clone())
                .await,
            &format!("{update:?}"),
        );
    }
    let m = w.member(me).await;
    assert_eq!((m.role, m.projects), (Role::Admin, Some(names(&["shop"]))));
    // It may still leave.
    w.platform
        .members()
        .remove(&w.scoped, "acme", me)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_scoped_admin_grants_nothing_wider_than_its_own_scope_and_role() {
    let w = world().await;
    // No project list is the whole organization: wider.
    denied(
        w.platform
            .members()
            .add(
                &w.scoped,
                "acme",
                NewMember::new("new@example.com", Role::Viewer),
            )
            .await,
        "an organization-wide member",
    );
    denied(
        w.platform
            .members()
            .invite(
                &w.scoped,
                "acme",
                NewInvitation::new("x@example.com", Role::Admin),
            )
            .await,
        "an organization-wide invitation",
    );
    denied(
        w.platform
            .members()
            .add(
                &w.scoped,
                "acme",
                NewMember::new("new@example.com", Role::Owner).projects(names(&["shop"])),
            )
            .await,
        "a role above its own",
    );
    // A project outside its scope is no project at all to it.
    for projects in [vec!["blog"], vec!["shop", "lab"], vec!["nope"]] {
        let e = w
            .platform
            .members()
            .add(
                &w.scoped,
                "acme",
                NewMember::new("new@example.com", Role::Viewer).projects(names(&projects)),
            )
            .await
            .unwrap_err();
        assert!(e.is_invalid_input(), "{projects:?}: {e}");
        assert!(e.field().is_some_and(|f| f.starts_with("projects[")), "{e}");
        let e = w
            .platform
            .members()
            .invite(
                &w.scoped,
                "acme",
                NewInvitation::new("x@example.com", Role::Viewer).projects(names(&projects)),
            )
            .await
            .unwrap_err();
        assert!(e.is_invalid_input(), "{projects:?}: {e}");
    }
    assert!(w.mailer.sent().is_empty(), "nothing was mailed");
    // Within its scope, as much as its own role.
    let added = w
        .platform
        .members()
        .add(
            &w.scoped,
            "acme",
            NewMember::new("new@example.com", Role::Admin).projects(names(&["shop"])),
        )
        .await
        .unwrap();
    assert_eq!(added.projects, Some(names(&["shop"])));
    let inv = w
        .platform
        .members()
        .invite(
            &w.scoped,
            "acme",
            NewInvitation::new("guest@example.com", Role::Member).projects(names(&["shop"])),
        )
        .await
        .unwrap();
    // The invitation's scope becomes the membership's.
    let root = w
        .store
        .user_by_email_opt("root@example.com")
        .await
        .unwrap()
        .unwrap();
    let root = w.platform.principal_for(root.id).await.unwrap();
    let guest = w
        .platform
        .users()
        .create(&root, NewUser::new("guest@example.com"))
        .await
        .unwrap();
    let guest = w.platform.principal_for(guest.id).await.unwrap();
    let joined = w
        .platform
        .members()
        .accept_invitation(&guest, &inv.token)
        .await
        .unwrap();
    assert_eq!(
        (joined.role, joined.projects),
        (Role::Member, Some(names(&["shop"])))
    );
    let guest = w.platform.principal_for(guest.user).await.unwrap();
    assert!(
        w.platform
            .projects()
            .get(&guest, &ProjectRef::new("acme", "blog"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    // Owners are never scoped.
    let e = w
        .platform
        .members()
        .add(
            &w.owner,
            "acme",
            NewMember::new("x-owner@example.com", Role::Owner).projects(names(&["shop"])),
        )
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("projects"), "{e}");
}

#[tokio::test]
async fn a_scoped_admin_cannot_touch_members_wider_than_itself() {
    let w = world().await;
    for target in [
        "wide@acme.example",
        "both@acme.example",
        "owner@acme.example",
    ] {
        denied(
            w.platform
                .members()
                .update(&w.scoped, "acme", target, MemberUpdate::role(Role::Viewer))
                .await,
            &format!("change {target}"),
        );
        denied(
            w.platform.members().remove(&w.scoped, "acme", target).await,
            &format!("remove {target}"),
        );
    }
    // Nor widen one inside its scope.
    denied(
        w.platform
            .members()
            .update(
                &w.scoped,
                "acme",
                "mate@acme.example",
                MemberUpdate::projects(None),
            )
            .await,
        "lift a member's scope",
    );
    // Within its scope it manages members.
    let m = w
        .platform
        .members()
        .update(
            &w.scoped,
            "acme",
            "mate@acme.example",
            MemberUpdate::role(Role::Viewer),
        )
        .await
        .unwrap();
    assert_eq!(m.role, Role::Viewer);
    w.platform
        .members()
        .remove(&w.scoped, "acme", "mate@acme.example")
        .await
        .unwrap();
    // Invitations wider than its scope are not its to see or revoke.
    let wide = w
        .platform
        .members()
        .invite(
            &w.owner,
            "acme",
            NewInvitation::new("all@example.com", Role::Viewer),
        )
        .await
        .unwrap();
    assert!(
        w.platform
            .members()
            .invitations(&w.scoped, "acme")
            .await
            .unwrap()
            .is_empty()
    );
    let e = w
        .platform
        .members()
        .revoke_invitation(&w.scoped, "acme", &wide.invitation.id.to_string())
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(
        w.platform
            .members()
            .invitations(&w.owner, "acme")
            .await
            .unwrap()
            .len(),
        1
    );
    // And it cannot hand the organization over.
    denied(
        w.platform
            .members()
            .transfer_ownership(&w.scoped, "acme", "scoped@acme.example")
            .await,
        "transfer",
    );
}

#[tokio::test]
async fn a_scoped_admin_changes_no_organization_wide_setting() {
    let w = world().await;
    let hook = AlertSettings::new(vec![AlertRule::new(
        "loop",
        AlertCondition::RestartLoop { restarts: 3 },
    )])
    .webhook("https://hooks.example.com/x", "0123456789abcdef");
    let e = denied(
        w.platform
            .monitoring()
            .set_alerts(&w.scoped, "acme", hook.clone())
            .await,
        "set the alert webhook",
    );
    assert!(e.to_string().contains("scoped to projects"), "{e}");
    denied(
        w.platform
            .orgs()
            .update(
                &w.scoped,
                "acme",
                serde_json::from_value::<OrgUpdate>(serde_json::json!({"display_name": "Mine"}))
                    .unwrap(),
            )
            .await,
        "rename the organization",
    );
    denied(
        w.platform
            .projects()
            .create(&w.scoped, "acme", NewProject::new("mine"))
            .await,
        "create a project",
    );
    let now = chrono::Utc::now();
    denied(
        w.platform
            .orgs()
            .usage_report(&w.scoped, "acme", now - chrono::Duration::days(1), now)
            .await,
        "read the usage report",
    );
    // Organization-wide admins keep doing all of it.
    let wide = w
        .store
        .user_by_email_opt("wide@acme.example")
        .await
        .unwrap()
        .unwrap();
    let wide = w.platform.principal_for(wide.id).await.unwrap();
    w.platform
        .monitoring()
        .set_alerts(&wide, "acme", hook)
        .await
        .unwrap();
    w.platform
        .orgs()
        .usage_report(&wide, "acme", now - chrono::Duration::days(1), now)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_scoped_member_reads_organization_wide_data_only_for_its_projects() {
    let w = world().await;
    let org = w.store.org_by_slug_opt("acme").await.unwrap().unwrap();
    // Alerts about a service and a volume of each project, and rules naming projects.
    let mut ids = Vec::new();
    for project in ["shop", "blog"] {
        let p = w
            .store
            .project_by_name_opt(org.id, project)
            .await
            .unwrap()
            .unwrap();
        let svc = caas_testkit::store::seed_service(&*w.store, &p, "web").await;
        let alert = Alert {
            id: AlertId::new(),
            org: org.id,
            service: Some(svc.id),
            subject: format!("service:{}", svc.id),
            rule: format!("r-{project}"),
            state: AlertState::Firing,
            message: format!("about {project}"),
            since: chrono::Utc::now(),
            resolved_at: None,
        };
        w.store.put_alert(&alert).await.unwrap();
        ids.push(alert.id);
    }
    let settings = AlertSettings::new(vec![
        AlertRule::new("every", AlertCondition::Unhealthy),
        AlertRule::new("shop-web", AlertCondition::Unhealthy).for_service("shop", "web"),
        AlertRule::new("blog-web", AlertCondition::Unhealthy).for_service("blog", "web"),
    ])
    .webhook("https://hooks.example.com/x", "0123456789abcdef");
    w.platform
        .monitoring()
        .set_alerts(&w.owner, "acme", settings)
        .await
        .unwrap();

    let view = w
        .platform
        .monitoring()
        .alerts(&w.scoped, "acme")
        .await
        .unwrap();
    assert_eq!(
        view.firing.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    assert!(view.recent.iter().all(|a| a.id == ids[0]));
    assert_eq!(view.settings.webhook, None, "no webhook");
    let rules: Vec<&str> = view
        .settings
        .rules
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(rules, ["every", "shop-web"]);
    let all = w
        .platform
        .monitoring()
        .alerts(&w.owner, "acme")
        .await
        .unwrap();
    assert_eq!(all.firing.len(), 2);
    assert!(all.settings.webhook.is_some());

    // Members: everyone is listed, but only the project names it may see.
    let both = w
        .platform
        .members()
        .list(&w.scoped, "acme")
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.email == "both@acme.example")
        .unwrap();
    assert_eq!(both.projects, Some(names(&["shop"])));
    // Projects: its own; usage totals: yes.
    let projects = w.platform.projects().list(&w.scoped, "acme").await.unwrap();
    assert_eq!(
        projects
            .iter()
            .map(|p| p.name.to_string())
            .collect::<Vec<_>>(),
        ["shop"]
    );
    w.platform.orgs().usage(&w.scoped, "acme").await.unwrap();
    w.platform
        .orgs()
        .usage_summary(&w.scoped, "acme")
        .await
        .unwrap();
    // The organization's audit log is its owners' (and platform administrators').
    denied(
        w.platform
            .admin()
            .audit_log(
                &w.scoped,
                &caas_core::ports::store::AuditFilter::default().org(org.id),
            )
            .await,
        "the audit log",
    );
}

#[tokio::test]
async fn ownership_transfer_makes_an_organization_wide_owner() {
    let w = world().await;
    let m = w
        .platform
        .members()
        .transfer_ownership(&w.owner, "acme", "mate@acme.example")
        .await
        .unwrap();
    assert_eq!((m.role, m.projects), (Role::Owner, None));
}
