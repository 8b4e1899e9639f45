//! Behaviours of events, audit entries, settings and API tokens, and of
//! missing rows across all tables.

use std::sync::Arc;

use caas_core::model::{AuditEntry, NewOrganization, NewPlan, ServiceEventKind};
use caas_core::ports::store::AuditFilter;
use caas_core::{DeploymentId, OrgId, PlanId, ProjectId, ReservationId, ServiceId, Store, UserId};

use super::{
    assert_already_exists, assert_not_found, audit_of, deployment_of, event_of, generous_limits,
    now, seed_org, seed_project, seed_service, seed_user, service_of, unique,
};

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
        scope: caas_core::model::TokenScope::default(),
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
    // The user may be a host application's (a directory other than this store): the token
    // store keeps tokens of users it does not hold; the platform checks the user first.
    store
        .create_api_token(&stranger)
        .await
        .expect("token of a user of another directory");
    assert_eq!(
        store
            .api_token_by_hash_opt(&stranger.token_sha256)
            .await
            .expect("by hash")
            .map(|t| t.user),
        Some(stranger.user)
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

/// A token's scope reads back exactly: read-only, and the organizations and projects it
/// lists in the order given, `None` (every one) distinct from an empty list (none), whether
/// the organizations still exist or not.
pub async fn api_token_scopes_roundtrip_exactly(store: Arc<dyn Store>) {
    use caas_core::ApiTokenId;
    use caas_core::model::{ApiToken, TokenOrg, TokenScope};
    let user = seed_user(&*store, "scope").await;
    let org = seed_org(&*store, "scope").await;
    let (shop, side) = (
        seed_project(&*store, &org, "shop").await,
        seed_project(&*store, &org, "side").await,
    );
    let gone = OrgId::new();
    let scopes = [
        TokenScope::default(),
        TokenScope {
            read_only: true,
            orgs: None,
        },
        TokenScope {
            read_only: false,
            orgs: Some(vec![]),
        },
        TokenScope {
            read_only: true,
            orgs: Some(vec![
                TokenOrg {
                    org: org.id,
                    projects: Some(vec![side.id, shop.id]),
                },
                TokenOrg {
                    org: gone,
                    projects: None,
                },
                TokenOrg {
                    org: OrgId::new(),
                    projects: Some(vec![]),
                },
            ]),
        },
    ];
    let mut made = Vec::new();
    for (i, scope) in scopes.into_iter().enumerate() {
        let t = ApiToken {
            id: ApiTokenId::new(),
            user: user.id,
            name: format!("t{i}"),
            token_sha256: format!("{:0>64}", &unique("s")[2..]),
            expires_at: None,
            scope,
            created_at: now(),
        };
        store.create_api_token(&t).await.expect("create");
        assert_eq!(
            store
                .api_token_by_hash_opt(&t.token_sha256)
                .await
                .expect("read"),
            Some(t.clone()),
            "by hash"
        );
        made.push(t);
    }
    assert_eq!(store.list_api_tokens(user.id).await.expect("list"), made);
}
