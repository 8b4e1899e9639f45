//! Platform-level behaviours of API tokens and users, run over any store (with the in-memory
//! runtime): a token's scope survives the store and narrows its user (read-only, restricted
//! to organizations and projects), a token creates nothing wider or longer-lived than itself,
//! the platform's lifetime policy bounds new tokens, and a disabled user's tokens stop until
//! the user is enabled again.
//!
//! ```text
//! mod tokens {
//!     use super::*;
//!     caas_testkit::token_suite!(fresh_store());
//! }
//! ```

use std::sync::Arc;
use std::time::Duration;

use caas_core::ProjectRef;
use caas_core::memory::InMemoryRuntime;
use caas_core::model::{
    NewOrganization, NewPlan, NewUser, Role, ServiceSpec, SubscriptionStatus, User,
};
use caas_core::platform::{DeployApp, NewApiToken, NewMember, NewProject, TokenLifetime};
use caas_core::ports::store::AuditFilter;
use caas_core::validate::ImageRef;
use caas_core::{Error, Platform, Principal, Result, Store};

use crate::platform::{seed_tenant, test_limits};
use crate::store::unique;

/// Expands into one `#[tokio::test]` per token behaviour; `$make` yields
/// `Option<Arc<dyn Store>>`.
#[macro_export]
macro_rules! token_suite {
    ($make:expr) => {
        $crate::token_suite!(@tests $make;
            a_read_only_token_reads_and_changes_nothing,
            a_token_restricted_to_organizations_sees_no_other,
            a_token_creates_nothing_wider_or_longer_lived_than_itself,
            an_administrators_restricted_token_is_no_administrator,
            the_platform_lifetime_policy_bounds_new_tokens,
            a_disabled_users_tokens_stop_until_enabled_again,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(store) = $make.await else { return; };
                $crate::tokens::$name(store).await;
            }
        )+
    };
}

const IMAGE: &str = "caas/busybox:latest";
const DAY: Duration = Duration::from_secs(86_400);

/// A platform (tokens live 30 days by default, 90 at most), an administrator, `acme` (with
/// the projects `shop` and `side`) where `user` is a member, and `globex` which `user` owns.
struct World {
    platform: Platform,
    store: Arc<dyn Store>,
    admin: Principal,
    acme: String,
    globex: String,
    user: User,
    /// A token of `user`'s with the whole of their rights.
    full: String,
}

async fn world(store: Arc<dyn Store>) -> World {
    let runtime = InMemoryRuntime::new();
    runtime.add_image(IMAGE);
    let platform = Platform::builder()
        .store(store.clone())
        .runtime(Arc::new(runtime))
        .token_lifetime(TokenLifetime::new(Some(DAY * 30), Some(DAY * 90)))
        .build()
        .expect("platform");
    let t = seed_tenant(&platform, test_limits(), "shop").await;
    let admin = t.admin;
    platform
        .projects()
        .create(&admin, &t.org, NewProject::new("side"))
        .await
        .expect("side");
    let user = platform
        .users()
        .create(
            &admin,
            NewUser::new(format!("{}@example.com", unique("dana"))),
        )
        .await
        .expect("user");
    platform
        .members()
        .add(
            &admin,
            &t.org,
            NewMember::new(user.email.clone(), Role::Member),
        )
        .await
        .expect("member");
    let globex = unique("globex");
    platform
        .orgs()
        .create(&admin, NewOrganization::new(globex.clone()), Some(user.id))
        .await
        .expect("globex");
    let plan = unique("plan");
    platform
        .plans()
        .create(&admin, NewPlan::new(plan.clone(), test_limits()))
        .await
        .expect("plan");
    platform
        .orgs()
        .set_subscription(&admin, &globex, &plan, SubscriptionStatus::Active)
        .await
        .expect("subscription");
    let (_, full) = platform
        .tokens()
        .create(&admin, Some(user.id), NewApiToken::new("full"))
        .await
        .expect("token");
    World {
        platform,
        store,
        admin,
        acme: t.org,
        globex,
        user,
        full,
    }
}

impl World {
    /// The principal of a token secret, which must be accepted.
    async fn principal(&self, secret: &str) -> Principal {
        self.platform
            .tokens()
            .authenticate(secret)
            .await
            .expect("authenticate")
            .expect("the token is accepted")
    }

    /// Mints `new` as `who` and returns the principal of the new token.
    async fn mint(&self, who: &Principal, new: NewApiToken) -> Principal {
        let (_, secret) = self
            .platform
            .tokens()
            .create(who, None, new)
            .await
            .expect("create_api_token");
        self.principal(&secret).await
    }
}

#[track_caller]
fn denied_by_scope<T: std::fmt::Debug>(got: Result<T>, what: &str) {
    match got {
        Err(e @ Error::PermissionDenied { .. }) => {
            assert!(e.to_string().contains("scope"), "{what}: {e}");
        }
        other => panic!("{what}: want PermissionDenied by the token's scope, got {other:?}"),
    }
}

#[track_caller]
fn not_found<T: std::fmt::Debug>(got: Result<T>, what: &str) {
    match got {
        Err(e) if e.is_not_found() => {}
        other => panic!("{what}: want NotFound, got {other:?}"),
    }
}

#[track_caller]
fn invalid<T: std::fmt::Debug>(got: Result<T>, field: &str, what: &str) {
    match got {
        Err(e) if e.field() == Some(field) => {}
        other => panic!("{what}: want InvalidInput on {field}, got {other:?}"),
    }
}

/// A read-only token reads what its user reads and is refused every change with
/// `PermissionDenied` saying its scope is read-only: deploys, projects, new organizations,
/// tokens (creating and revoking), leaving an organization.
pub async fn a_read_only_token_reads_and_changes_nothing(store: Arc<dyn Store>) {
    let w = world(store).await;
    let full = w.principal(&w.full).await;
    w.platform
        .projects()
        .create(&full, &w.globex, NewProject::new("lab"))
        .await
        .expect("the full token changes things");
    let (token, secret) = w
        .platform
        .tokens()
        .create(&full, None, NewApiToken::new("ro").read_only())
        .await
        .expect("a narrower token");
    assert!(token.scope.read_only);
    let ro = w.principal(&secret).await;

    let org = w.platform.orgs().get(&ro, &w.globex).await.expect("reads");
    assert_eq!(org.slug.as_str(), w.globex);
    assert_eq!(
        w.platform
            .projects()
            .list(&ro, &w.acme)
            .await
            .expect("reads")
            .len(),
        2
    );
    assert_eq!(
        w.platform
            .users()
            .me(&ro)
            .await
            .expect("me")
            .memberships
            .len(),
        2
    );

    let spec = ServiceSpec::new(ImageRef::parse(IMAGE).expect("image"));
    denied_by_scope(
        w.platform
            .services()
            .deploy_app(
                &ro,
                &ProjectRef::new(&w.globex, "lab"),
                DeployApp::new("web", spec),
            )
            .await,
        "deploy as the owner",
    );
    denied_by_scope(
        w.platform
            .projects()
            .create(&ro, &w.globex, NewProject::new("more"))
            .await,
        "create_project",
    );
    denied_by_scope(
        w.platform
            .orgs()
            .create(&ro, NewOrganization::new(unique("mine")), None)
            .await,
        "create_org",
    );
    denied_by_scope(
        w.platform
            .tokens()
            .create(&ro, None, NewApiToken::new("again").read_only())
            .await,
        "a read-only token creates no token, read-only or not",
    );
    denied_by_scope(w.platform.tokens().revoke(&ro, token.id).await, "revoke");
    denied_by_scope(
        w.platform
            .members()
            .remove(&ro, &w.acme, &w.user.email)
            .await,
        "leave",
    );
    denied_by_scope(
        w.platform
            .members()
            .transfer_ownership(&ro, &w.globex, &w.user.email)
            .await,
        "transfer_ownership",
    );
    // What it cannot see stays unknown.
    not_found(
        w.platform.orgs().get(&ro, &unique("nobody")).await,
        "another organization",
    );
    assert!(
        w.platform
            .tokens()
            .authenticate(&secret)
            .await
            .expect("authenticate")
            .is_some(),
        "the refusals changed nothing"
    );
}

/// A token restricted to one organization finds every other organization of its user
/// `NotFound`, lists and reports only its own, creates no organization and answers no
/// invitation; restricted to a project, the organization's other projects do not exist.
pub async fn a_token_restricted_to_organizations_sees_no_other(store: Arc<dyn Store>) {
    let w = world(store).await;
    let full = w.principal(&w.full).await;
    let only_acme = w.mint(&full, NewApiToken::new("acme").org(&w.acme)).await;
    not_found(
        w.platform.orgs().get(&only_acme, &w.globex).await,
        "the organization the user owns",
    );
    not_found(
        w.platform.projects().list(&only_acme, &w.globex).await,
        "its projects",
    );
    let listed = w
        .platform
        .orgs()
        .list(&only_acme, &Default::default())
        .await
        .expect("list_orgs");
    assert_eq!(
        listed
            .iter()
            .map(|o| o.slug.to_string())
            .collect::<Vec<_>>(),
        vec![w.acme.clone()]
    );
    let me = w.platform.users().me(&only_acme).await.expect("me");
    assert_eq!(me.memberships.len(), 1, "{me:?}");
    assert_eq!(me.memberships[0].org, w.acme);
    assert_eq!(
        only_acme.role_in(w.org_id(&w.acme).await),
        Some(Role::Member)
    );
    denied_by_scope(
        w.platform
            .orgs()
            .create(&only_acme, NewOrganization::new(unique("mine")), None)
            .await,
        "create_org",
    );
    denied_by_scope(
        w.platform
            .members()
            .accept_invitation(&only_acme, "caas_inv_whatever")
            .await,
        "accept_invitation",
    );

    let only_shop = w
        .mint(&full, NewApiToken::new("shop").projects(&w.acme, ["shop"]))
        .await;
    w.platform
        .projects()
        .get(&only_shop, &ProjectRef::new(&w.acme, "shop"))
        .await
        .expect("its project");
    not_found(
        w.platform
            .projects()
            .get(&only_shop, &ProjectRef::new(&w.acme, "side"))
            .await,
        "a project outside its scope",
    );
    assert_eq!(
        w.platform
            .projects()
            .list(&only_shop, &w.acme)
            .await
            .expect("list")
            .len(),
        1
    );
}

/// A token creates only tokens within its own scope and expiry: a restricted token cannot
/// drop its list (`PermissionDenied`), name an organization it cannot see (`NotFound`), drop
/// its project list (`PermissionDenied`) or name a project beyond it (`NotFound`); asking for
/// a later expiry is `InvalidInput` on `valid_for`, asking nothing ends with the creator.
pub async fn a_token_creates_nothing_wider_or_longer_lived_than_itself(store: Arc<dyn Store>) {
    let w = world(store).await;
    let full = w.principal(&w.full).await;
    let parent_expiry = full.expires_at.expect("the default lifetime applies");
    let only_acme = w.mint(&full, NewApiToken::new("acme").org(&w.acme)).await;
    denied_by_scope(
        w.platform
            .tokens()
            .create(&only_acme, None, NewApiToken::new("everything"))
            .await,
        "no organization list is every organization",
    );
    not_found(
        w.platform
            .tokens()
            .create(&only_acme, None, NewApiToken::new("g").org(&w.globex))
            .await,
        "an organization outside its list",
    );
    let again = w
        .mint(&only_acme, NewApiToken::new("same").org(&w.acme))
        .await;
    assert_eq!(again.scope, only_acme.scope, "an equal scope is allowed");
    let only_shop = w
        .mint(
            &only_acme,
            NewApiToken::new("shop").projects(&w.acme, ["shop"]),
        )
        .await;
    denied_by_scope(
        w.platform
            .tokens()
            .create(&only_shop, None, NewApiToken::new("acme").org(&w.acme))
            .await,
        "the whole organization from a project token",
    );
    not_found(
        w.platform
            .tokens()
            .create(
                &only_shop,
                None,
                NewApiToken::new("side").projects(&w.acme, ["side"]),
            )
            .await,
        "a project outside its list",
    );

    invalid(
        w.platform
            .tokens()
            .create(
                &full,
                None,
                NewApiToken::new("longer").valid_for(chrono::Duration::days(45)),
            )
            .await,
        "valid_for",
        "past the expiry of the token in use",
    );
    let (child, _) = w
        .platform
        .tokens()
        .create(&full, None, NewApiToken::new("unasked"))
        .await
        .expect("unasked lifetime");
    assert_eq!(
        child.expires_at,
        Some(parent_expiry),
        "ends with its creator"
    );
    let (short, _) = w
        .platform
        .tokens()
        .create(
            &full,
            None,
            NewApiToken::new("short").valid_for(chrono::Duration::days(1)),
        )
        .await
        .expect("shorter");
    assert!(short.expires_at.is_some_and(|t| t < parent_expiry));
    // Scopes survive the store: what was minted reads back.
    let listed = w.platform.tokens().list(&full).await.expect("list");
    let shop = listed
        .iter()
        .find(|t| t.name == "shop")
        .expect("the shop token");
    assert_eq!(shop.scope, only_shop.scope);
}

/// A platform administrator's token restricted to an organization acts there as its owner
/// would and nowhere else, and is no platform administrator.
pub async fn an_administrators_restricted_token_is_no_administrator(store: Arc<dyn Store>) {
    let w = world(store).await;
    let admin = w
        .mint(&w.admin, NewApiToken::new("acme").org(&w.acme))
        .await;
    assert!(!admin.platform_admin);
    w.platform
        .projects()
        .create(&admin, &w.acme, NewProject::new("extra"))
        .await
        .expect("as the owner of acme");
    not_found(
        w.platform.orgs().get(&admin, &w.globex).await,
        "another organization",
    );
    for got in [
        w.platform
            .users()
            .create(&admin, NewUser::new(format!("{}@example.com", unique("x"))))
            .await
            .map(|_| ()),
        w.platform
            .users()
            .disable(&admin, &w.user.email)
            .await
            .map(|_| ()),
        w.platform
            .admin()
            .suspend_org(&admin, &w.acme)
            .await
            .map(|_| ()),
    ] {
        match got {
            Err(Error::PermissionDenied { .. }) => {}
            other => panic!("a platform-wide action: {other:?}"),
        }
    }
    let read_only = w.mint(&w.admin, NewApiToken::new("ro").read_only()).await;
    assert!(read_only.platform_admin, "an unrestricted read-only admin");
    w.platform
        .orgs()
        .get(&read_only, &w.globex)
        .await
        .expect("reads every organization");
    w.platform
        .admin()
        .audit_log(&read_only, &AuditFilter::default())
        .await
        .expect("reads the audit log");
    denied_by_scope(
        w.platform.admin().suspend_org(&read_only, &w.acme).await,
        "suspend",
    );
}

/// New tokens live the platform's default unless asked otherwise, and never longer than its
/// maximum (`InvalidInput` on `valid_for`, naming it); the bootstrap token is exempt.
pub async fn the_platform_lifetime_policy_bounds_new_tokens(store: Arc<dyn Store>) {
    let w = world(store).await;
    let admin_user = w
        .platform
        .users()
        .get(&w.admin, &w.admin.user.to_string())
        .await;
    let admin_user = admin_user.expect("admin");
    // A principal of no token (a session, say): only the policy applies.
    // The platform's clock keeps whole microseconds.
    let before = chrono::Utc::now() - chrono::Duration::milliseconds(1);
    let (token, _) = w
        .platform
        .tokens()
        .create(&w.admin, None, NewApiToken::new("default"))
        .await
        .expect("default lifetime");
    let expires = token.expires_at.expect("the default applies");
    assert!(expires >= before + chrono::Duration::days(30));
    assert!(expires <= chrono::Utc::now() + chrono::Duration::days(30));
    let err = w
        .platform
        .tokens()
        .create(
            &w.admin,
            None,
            NewApiToken::new("long").valid_for(chrono::Duration::days(91)),
        )
        .await
        .expect_err("above the maximum");
    assert_eq!(err.field(), Some("valid_for"), "{err}");
    assert!(err.to_string().contains("90 days"), "{err}");
    w.platform
        .tokens()
        .create(
            &w.admin,
            None,
            NewApiToken::new("max").valid_for(chrono::Duration::days(90)),
        )
        .await
        .expect("the maximum itself");
    // The bootstrap token of a fresh administrator never expires.
    let fresh = w
        .platform
        .users()
        .ensure_platform_admin(&format!("{}@example.com", unique("root")))
        .await
        .expect("admin");
    let secret = w
        .platform
        .tokens()
        .ensure_bootstrap(&fresh)
        .await
        .expect("bootstrap")
        .expect("first");
    let p = w.principal(&secret).await;
    assert_eq!(p.expires_at, None);
    assert_ne!(admin_user.id, fresh.id);
}

/// Disabling a user refuses every token of theirs at once (and `principal_for` answers
/// `NotFound`) while their memberships stay; enabling them brings the tokens back. Only
/// platform administrators disable, never themselves; both are audited.
pub async fn a_disabled_users_tokens_stop_until_enabled_again(store: Arc<dyn Store>) {
    let w = world(store).await;
    let full = w.principal(&w.full).await;
    let (_, narrow) = w
        .platform
        .tokens()
        .create(&full, None, NewApiToken::new("ro").read_only())
        .await
        .expect("second token");
    match w
        .platform
        .users()
        .disable(&full, &w.admin.user.to_string())
        .await
    {
        Err(Error::PermissionDenied { .. }) => {}
        other => panic!("a user disables nobody: {other:?}"),
    }
    let ro_admin = w.mint(&w.admin, NewApiToken::new("ro").read_only()).await;
    denied_by_scope(
        w.platform.users().disable(&ro_admin, &w.user.email).await,
        "a read-only administrator's token",
    );
    match w
        .platform
        .users()
        .disable(&w.admin, &w.admin.user.to_string())
        .await
    {
        Err(Error::Conflict { .. }) => {}
        other => panic!("an administrator cannot disable themselves: {other:?}"),
    }

    let user = w
        .platform
        .users()
        .disable(&w.admin, &w.user.email)
        .await
        .expect("disable");
    assert!(user.disabled);
    for secret in [&w.full, &narrow] {
        assert!(
            w.platform
                .tokens()
                .authenticate(secret)
                .await
                .expect("authenticate")
                .is_none(),
            "a disabled user's token"
        );
    }
    not_found(w.platform.principal_for(w.user.id).await, "principal_for");
    assert_eq!(
        w.store
            .memberships(w.user.id)
            .await
            .expect("memberships")
            .len(),
        2,
        "memberships stay"
    );
    assert_eq!(
        w.platform
            .users()
            .disable(&w.admin, &w.user.email)
            .await
            .expect("again"),
        user,
        "disabling twice changes nothing"
    );

    let user = w
        .platform
        .users()
        .enable(&w.admin, &w.user.id.to_string())
        .await
        .expect("enable");
    assert!(!user.disabled);
    let back = w.principal(&w.full).await;
    assert_eq!(back.grants, full.grants, "every membership is back");
    w.principal(&narrow).await;

    let mut filter = AuditFilter::default().action_prefix("user.");
    filter.actor = Some(w.admin.user);
    let actions: Vec<String> = w
        .platform
        .admin()
        .audit_log(&w.admin, &filter)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.target == format!("user:{}", w.user.id))
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions.get(..2),
        Some(&["user.enable".to_string(), "user.disable".to_string()][..]),
        "newest first"
    );
}

impl World {
    async fn org_id(&self, slug: &str) -> caas_core::OrgId {
        self.platform
            .orgs()
            .get(&self.admin, slug)
            .await
            .expect("org")
            .id
    }
}
