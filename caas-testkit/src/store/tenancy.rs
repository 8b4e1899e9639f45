//! Behaviours of users, organizations and memberships.

use std::sync::Arc;

use crate::quota::GrantedLedger;
use caas_core::model::{
    Member, NewOrganization, NewUser, OrgStatus, Organization, Role, ServiceEventKind,
};
use caas_core::ports::store::{AuditFilter, OrgFilter, UserFilter};
use caas_core::validate::Slug;
use caas_core::{OrgId, Store, UserId};

use super::{
    assert_already_exists, assert_not_found, audit_of, event_of, generous_limits, ids, now,
    seed_deployment, seed_member, seed_org, seed_project, seed_service, seed_subscribed_org,
    seed_user, unique,
};

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

/// Users are created enabled; disabling one changes that flag only — every look-up and the
/// list show it, memberships and tokens stay — and enabling brings it back. Unknown users are
/// `NotFound`.
pub async fn disabling_a_user_keeps_everything_else(store: Arc<dyn Store>) {
    use caas_core::ApiTokenId;
    use caas_core::model::ApiToken;
    let user = seed_user(&*store, "stopped").await;
    assert!(!user.disabled);
    let org = seed_org(&*store, "stopped").await;
    let member = seed_member(&*store, &org, &user, Role::Member).await;
    let token = ApiToken {
        id: ApiTokenId::new(),
        user: user.id,
        name: "ci".into(),
        token_sha256: format!("{:0>64}", &unique("d")[2..]),
        expires_at: None,
        scope: Default::default(),
        created_at: now(),
    };
    store.create_api_token(&token).await.expect("token");

    store
        .set_user_disabled(user.id, true)
        .await
        .expect("disable");
    let disabled = caas_core::model::User {
        disabled: true,
        ..user.clone()
    };
    assert_eq!(store.user(user.id).await.expect("user"), disabled);
    assert_eq!(
        store
            .user_by_email_opt(&user.email)
            .await
            .expect("by e-mail"),
        Some(disabled.clone())
    );
    let mut filter = UserFilter::default();
    filter.search = Some(user.email.clone());
    assert_eq!(
        store.list_users(&filter).await.expect("list"),
        vec![disabled.clone()]
    );
    assert_eq!(
        store.memberships(user.id).await.expect("memberships"),
        vec![member.clone()]
    );
    assert_eq!(
        store.list_api_tokens(user.id).await.expect("tokens"),
        vec![token.clone()]
    );
    store
        .set_user_disabled(user.id, true)
        .await
        .expect("disabling twice");

    store
        .set_user_disabled(user.id, false)
        .await
        .expect("enable");
    assert_eq!(store.user(user.id).await.expect("user"), user);
    assert_not_found(
        store.set_user_disabled(UserId::new(), true).await,
        "set_user_disabled(unknown user)",
    );
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

fn user_search(text: &str) -> UserFilter {
    let mut f = UserFilter::default();
    f.search = Some(text.to_string());
    f
}

/// `list_users` orders by e-mail address whatever the creation order, and pages with limit
/// and offset.
pub async fn list_users_is_ordered_by_email_and_pages(store: Arc<dyn Store>) {
    let token = unique("lu");
    let mut created = Vec::new();
    for local in ["carol", "alice", "bob"] {
        let user = NewUser::new(format!("{local}.{token}@example.com"))
            .build(now())
            .expect("valid user");
        store.create_user(&user).await.expect("create_user");
        created.push(user);
    }
    let emails = |users: &[caas_core::model::User]| -> Vec<String> {
        users.iter().map(|u| u.email.clone()).collect()
    };
    let all = store
        .list_users(&user_search(&token))
        .await
        .expect("list_users");
    assert_eq!(
        emails(&all),
        ["alice", "bob", "carol"].map(|l| format!("{l}.{token}@example.com")),
        "ordered by e-mail"
    );
    assert!(
        all.iter().all(|u| created.contains(u)),
        "read back unchanged"
    );

    let mut page = user_search(&token);
    page.limit = 2;
    let first = store.list_users(&page).await.expect("list_users(page 1)");
    assert_eq!(emails(&first), emails(&all[..2]));
    page.offset = 2;
    let second = store.list_users(&page).await.expect("list_users(page 2)");
    assert_eq!(emails(&second), emails(&all[2..]));
    page.offset = 3;
    let past = store.list_users(&page).await.expect("list_users(past end)");
    assert!(past.is_empty(), "{past:?}");
}

/// The search matches a substring of the e-mail address or of the display name, ASCII
/// letters in either case; `%` and `_` are plain characters.
pub async fn list_users_searches_email_and_display_name(store: Arc<dyn Store>) {
    let token = unique("us");
    let mut new = NewUser::new(format!("dana.{token}@example.com"));
    new.display_name = format!("Dana Ärger {token}");
    let dana = new.build(now()).expect("valid user");
    store.create_user(&dana).await.expect("create_user");
    let other = seed_user(&*store, "someone").await;

    for search in [
        token.to_uppercase(),
        format!("DANA.{token}@"),
        format!("DANA Ärger {token}"),
        format!("Ärger {}", token.to_uppercase()),
    ] {
        let found = store
            .list_users(&user_search(&search))
            .await
            .expect("list_users(search)");
        assert_eq!(found, vec![dana.clone()], "search {search:?}");
    }
    for search in [
        format!("{token}%"),
        format!("dana_{token}"),
        "%".to_string(),
    ] {
        let found = store
            .list_users(&user_search(&search))
            .await
            .expect("list_users(search)");
        assert!(
            !found.contains(&dana) && !found.contains(&other),
            "no wildcards in {search:?}: {found:?}"
        );
    }
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
        .reserve_for(
            org.id,
            caas_core::units::ResourceAmounts::one_project(),
            at,
            at + chrono::Duration::minutes(15),
        )
        .await
        .expect("reserve_for");

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
