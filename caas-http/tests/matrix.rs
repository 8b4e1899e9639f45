//! The permission matrix: every route of the API × every kind of caller, each cell with the
//! exact class of answer it must get.
//!
//! The routes come from the OpenAPI document the router serves, so a route added without an
//! expectation here fails [`every_route_has_an_expectation`]. The callers are: nobody
//! (no credentials), a viewer, a member, an admin and the owner of `acme`, a viewer, a member
//! and an admin of `acme` scoped to the project `shop` (where everything the routes name
//! lives), an admin scoped to the project `side` (for whom all of `shop` does not exist), a
//! platform administrator, the owner of another organization (`globex`), and a user invited
//! to `acme` who is a member of nothing. Scoped API tokens are callers too: the owner's and
//! the platform administrator's read-only tokens (every `GET` as their user, every change
//! 403), the tokens of a user who is a member of `acme` and a viewer of `globex`, one
//! restricted to `acme` (as a member there) and one to `globex` (to which `acme` does not
//! exist), and the platform administrator's token restricted to `acme` (its owner there, no
//! administrator anywhere). The API token the matrix revokes is the member's. The same table is run against a suspended `acme` (its owner
//! and a platform administrator: reads answer, changes are refused with 409), and every route
//! is called with another organization's ids (404, and nothing changes).
//!
//! A cell that should succeed and may change something runs in a fresh world of its own;
//! every other cell runs in one shared world, which must read exactly the same afterwards —
//! a refusal that changed something fails the test even if its status looked right.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use caas_core::model::Role;
use common::{IMAGE, World, memory_config, web_app};
use futures::StreamExt;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Viewer,
    Member,
    Admin,
    Owner,
    /// A viewer of `acme` scoped to the project `shop`.
    ScopedViewer,
    /// A member of `acme` scoped to the project `shop`.
    ScopedMember,
    /// An admin of `acme` scoped to the project `shop`.
    ScopedAdmin,
    /// An admin of `acme` scoped to the project `side`: `shop` is not theirs to see.
    Elsewhere,
    PlatformAdmin,
    /// The owner of `globex`: a member of another organization.
    OtherOrg,
    /// Invited to `acme` (by e-mail), a member of nothing.
    Invitee,
    /// The owner's read-only token.
    ReadOnlyOwner,
    /// The platform administrator's read-only token.
    ReadOnlyAdmin,
    /// A member of `acme` and viewer of `globex`, with a token restricted to `acme`.
    OnlyAcme,
    /// The same user, with a token restricted to `globex`: `acme` does not exist for it.
    OnlyGlobex,
    /// The platform administrator's token restricted to `acme`.
    AdminOnlyAcme,
}

const CALLERS: [Caller; 17] = [
    Caller::Anonymous,
    Caller::Viewer,
    Caller::Member,
    Caller::Admin,
    Caller::Owner,
    Caller::ScopedViewer,
    Caller::ScopedMember,
    Caller::ScopedAdmin,
    Caller::Elsewhere,
    Caller::PlatformAdmin,
    Caller::OtherOrg,
    Caller::Invitee,
    Caller::ReadOnlyOwner,
    Caller::ReadOnlyAdmin,
    Caller::OnlyAcme,
    Caller::OnlyGlobex,
    Caller::AdminOnlyAcme,
];

impl Caller {
    fn role(self) -> Option<Role> {
        match self {
            Self::Viewer | Self::ScopedViewer => Some(Role::Viewer),
            Self::Member | Self::ScopedMember => Some(Role::Member),
            Self::Admin | Self::ScopedAdmin | Self::Elsewhere => Some(Role::Admin),
            Self::Owner => Some(Role::Owner),
            _ => None,
        }
    }

    /// Whether the membership is scoped to projects.
    fn scoped(self) -> bool {
        matches!(
            self,
            Self::ScopedViewer | Self::ScopedMember | Self::ScopedAdmin | Self::Elsewhere
        )
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// Everyone, without credentials too.
    Anyone,
    /// Every authenticated caller.
    Authenticated,
    /// Platform administrators; everyone else 403, whichever organization the path names.
    PlatformAdmin,
    /// Members of `acme` from this role up, and platform administrators; lower roles 403,
    /// non-members 404 (as for an organization that does not exist). Members scoped to `shop`
    /// as their role.
    Org(Role),
    /// As [`Who::Org`] for members of the whole organization; members scoped to projects 403
    /// whatever their role (organization-wide settings, and grants or targets wider than
    /// their scope).
    OrgWide(Role),
    /// As [`Who::OrgWide`], but what the route names is wider than a scoped caller's scope,
    /// so to one with the role it does not exist (404).
    OrgWideHidden(Role),
    /// The invited user; everyone else 403.
    Invitee,
    /// The holder of the token (the member of `acme`) and platform administrators; everyone
    /// else 404, as for a token that does not exist.
    Holder,
}

/// The class of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// 2xx.
    Success,
    /// 401 `UNAUTHENTICATED`.
    Unauthenticated,
    /// 403 `PERMISSION_DENIED`.
    Forbidden,
    /// 404 `NOT_FOUND`, for the organization itself when the path names one.
    NotFound,
    /// 404 `NOT_FOUND` for something inside the organization the caller may not see (a
    /// project outside its scope, or what lives there).
    Hidden,
    /// 422 `INVALID_INPUT` naming a field.
    Invalid,
    /// 409 `CONFLICT`: the organization is suspended.
    Suspended,
    /// 409 `CONFLICT`: the service is not running (its suspension stopped it).
    NotRunning,
}

/// One request of the matrix.
#[derive(Debug, Clone)]
struct Case {
    method: Method,
    /// The route, as the document names it.
    template: &'static str,
    path: String,
    body: Option<Value>,
    who: Who,
    /// What the callers `who` allows get: `Success`, or `Invalid` for a malformed request.
    allowed: Want,
    /// Refused while the organization is suspended.
    blocked: bool,
    /// Answers 409 for a stopped service, as every service of a suspended organization is.
    needs_running: bool,
    /// Names something of the project `shop` (in its path or its body).
    bound: bool,
    /// What the admin scoped to `side` gets, when not what the rules say.
    elsewhere: Option<Want>,
    /// Reaches beyond any organization (a new organization, a token of every organization):
    /// refused with 403 to tokens restricted to organizations.
    unscoped: bool,
}

impl Case {
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }
    fn query(mut self, query: &str) -> Self {
        self.path.push_str(query);
        self
    }
    fn blocked(mut self) -> Self {
        self.blocked = true;
        self
    }
    fn needs_running(mut self) -> Self {
        self.needs_running = true;
        self
    }
    fn invalid(mut self) -> Self {
        self.allowed = Want::Invalid;
        self
    }
    fn not_found(mut self) -> Self {
        self.allowed = Want::NotFound;
        self
    }
    fn bound(mut self) -> Self {
        self.bound = true;
        self
    }
    fn elsewhere(mut self, want: Want) -> Self {
        self.elsewhere = Some(want);
        self
    }
    fn unscoped(mut self) -> Self {
        self.unscoped = true;
        self
    }

    /// What a read-only token gets where its user gets `as_user`: every `GET` the same, every
    /// change 403 — but a request malformed for everyone, refused before any permission.
    fn read_only(&self, as_user: Want) -> Want {
        match as_user {
            _ if self.method == Method::GET => as_user,
            Want::Invalid if matches!(self.who, Who::Anyone | Who::Authenticated) => as_user,
            _ => Want::Forbidden,
        }
    }

    /// What a token restricted to organizations gets where `as_user` is what its user gets
    /// inside them (and outside, where it is a stranger).
    fn restricted(&self, as_user: Want) -> Want {
        match self.who {
            // Not the holder of the token the matrix revokes.
            Who::Holder => Want::NotFound,
            _ if self.unscoped && as_user == Want::Success => Want::Forbidden,
            _ => as_user,
        }
    }

    /// What `caller` must get.
    fn want(&self, caller: Caller) -> Want {
        match caller {
            Caller::ReadOnlyOwner => return self.read_only(self.want(Caller::Owner)),
            Caller::ReadOnlyAdmin => return self.read_only(self.want(Caller::PlatformAdmin)),
            Caller::OnlyAcme => return self.restricted(self.want(Caller::Member)),
            Caller::OnlyGlobex => return self.restricted(self.want(Caller::OtherOrg)),
            Caller::AdminOnlyAcme => return self.restricted(self.want(Caller::Owner)),
            _ => {}
        }
        if caller == Caller::Anonymous {
            return match self.who {
                Who::Anyone => self.allowed,
                _ => Want::Unauthenticated,
            };
        }
        let may = match self.who {
            Who::Anyone | Who::Authenticated => true,
            Who::Holder => match caller {
                Caller::Member | Caller::PlatformAdmin => true,
                _ => return Want::NotFound,
            },
            Who::PlatformAdmin => caller == Caller::PlatformAdmin,
            Who::Invitee => caller == Caller::Invitee,
            Who::Org(min) | Who::OrgWide(min) | Who::OrgWideHidden(min) => match caller {
                Caller::PlatformAdmin => true,
                Caller::OtherOrg | Caller::Invitee => return Want::NotFound,
                c => {
                    let role = c.role().is_some_and(|r| r >= min);
                    if c == Caller::Elsewhere {
                        if let Some(want) = self.elsewhere {
                            return want;
                        }
                        if self.bound {
                            return Want::Hidden;
                        }
                    }
                    match self.who {
                        Who::OrgWide(_) if c.scoped() => false,
                        Who::OrgWideHidden(_) if c.scoped() && role => return Want::Hidden,
                        Who::OrgWideHidden(_) if c.scoped() => false,
                        _ => role,
                    }
                }
            },
        };
        if may { self.allowed } else { Want::Forbidden }
    }

    /// What `caller` must get while `acme` is suspended.
    fn want_suspended(&self, caller: Caller) -> Want {
        match self.want(caller) {
            Want::Success if self.blocked => Want::Suspended,
            Want::Success if self.needs_running => Want::NotRunning,
            other => other,
        }
    }
}

/// What [`prepare`] made: ids that differ from world to world.
#[derive(Debug, Clone)]
struct Ids {
    backup: String,
    invitation: String,
    token: String,
    /// A second API token of the member's (`ci`).
    api_token: String,
}

/// The tokens of the callers.
#[derive(Debug, Clone)]
struct Tokens {
    admin_role: String,
    invitee: String,
    scoped_viewer: String,
    scoped_member: String,
    scoped_admin: String,
    elsewhere: String,
    read_only_owner: String,
    read_only_admin: String,
    only_acme: String,
    only_globex: String,
    admin_only_acme: String,
}

fn token<'a>(w: &'a World, t: &'a Tokens, caller: Caller) -> Option<&'a str> {
    Some(match caller {
        Caller::Anonymous => return None,
        Caller::Viewer => &w.viewer,
        Caller::Member => &w.member,
        Caller::Admin => &t.admin_role,
        Caller::Owner => &w.owner,
        Caller::PlatformAdmin => &w.admin,
        Caller::OtherOrg => &w.stranger,
        Caller::Invitee => &t.invitee,
        Caller::ScopedViewer => &t.scoped_viewer,
        Caller::ScopedMember => &t.scoped_member,
        Caller::ScopedAdmin => &t.scoped_admin,
        Caller::Elsewhere => &t.elsewhere,
        Caller::ReadOnlyOwner => &t.read_only_owner,
        Caller::ReadOnlyAdmin => &t.read_only_admin,
        Caller::OnlyAcme => &t.only_acme,
        Caller::OnlyGlobex => &t.only_globex,
        Caller::AdminOnlyAcme => &t.admin_only_acme,
    })
}

/// A token minted with `token` for its own user, of `scope`.
async fn scoped_token(w: &World, token: &str, name: &str, scope: Value) -> String {
    ok(
        w,
        Method::POST,
        "/v1/tokens",
        token,
        Some(json!({"name": name, "scope": scope})),
    )
    .await["secret"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A small template with one web server, `id`.
fn definition(id: &str) -> Value {
    json!({
        "format": 1,
        "id": id,
        "name": "Tiny",
        "category": "demo",
        "description": "One web server.",
        "services": [{"name": "web", "image": IMAGE}]
    })
}

fn limits() -> Value {
    json!({"cpu_millis": 1000, "memory_bytes": 1_073_741_824u64, "storage_bytes": 0, "max_containers": 1, "max_projects": 1})
}

async fn ok(w: &World, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, v) = w.call(method.clone(), path, Some(token), body).await;
    assert!(status.is_success(), "{method} {path}: {status} {v}");
    v
}

/// `acme` with everything the routes name: `web` (two deployments, the domain
/// `shop.example.com`), the volume `data` with a backup and a schedule, the template `tiny`
/// and its instance `blog`, the unused plan `spare`, the administrator's template `custom`,
/// the member `extra@acme.example`, the user `newbie@example.com`, an admin, an
/// invitation for `invitee@example.com`, a second API token of the member's, and the scoped
/// tokens of the callers (`two@acme.example` is a member of `acme` and a viewer of `globex`).
async fn prepare() -> (World, Tokens, Ids) {
    let w = common::world_with_verifiable_domains().await;
    let svc = "/v1/orgs/acme/projects/shop/services/web";
    for id in ["tiny", "custom"] {
        ok(
            &w,
            Method::POST,
            &format!("/v1/admin/templates/{id}"),
            &w.admin,
            Some(json!({"template": definition(id)})),
        )
        .await;
    }
    w.deploy_web().await;
    ok(
        &w,
        Method::PATCH,
        svc,
        &w.owner,
        Some(json!({"env_set": [{"key": "A", "value": "1"}]})),
    )
    .await;
    ok(
        &w,
        Method::POST,
        &format!("{svc}/domains"),
        &w.owner,
        Some(json!({"hostname": "shop.example.com"})),
    )
    .await;
    ok(
        &w,
        Method::POST,
        "/v1/orgs/acme/volumes",
        &w.owner,
        Some(json!({"project": "shop", "name": "data", "size_bytes": 1_048_576})),
    )
    .await;
    let backup = ok(
        &w,
        Method::POST,
        "/v1/orgs/acme/volumes/data/backups",
        &w.owner,
        None,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &w,
        Method::PUT,
        "/v1/orgs/acme/volumes/data/backup-schedule",
        &w.owner,
        Some(json!({"cron": "0 3 * * *", "keep_last": 7})),
    )
    .await;
    ok(
        &w,
        Method::POST,
        "/v1/orgs/acme/projects/shop/templates/tiny/deploy",
        &w.owner,
        Some(json!({"name": "blog"})),
    )
    .await;
    ok(
        &w,
        Method::POST,
        "/v1/admin/plans",
        &w.admin,
        Some(json!({"name": "spare", "limits": limits()})),
    )
    .await;
    ok(
        &w,
        Method::POST,
        "/v1/orgs/acme/projects",
        &w.owner,
        Some(json!({"name": "side"})),
    )
    .await;
    w.token_with_role("extra@acme.example", Role::Member).await;
    let admin_role = w.token_with_role("admin@acme.example", Role::Admin).await;
    let shop: Option<&[&str]> = Some(&["shop"]);
    let scoped_viewer = w
        .token_with_scope("sv@acme.example", Role::Viewer, shop)
        .await;
    let scoped_member = w
        .token_with_scope("sm@acme.example", Role::Member, shop)
        .await;
    let scoped_admin = w
        .token_with_scope("sa@acme.example", Role::Admin, shop)
        .await;
    let elsewhere = w
        .token_with_scope("side@acme.example", Role::Admin, Some(&["side"]))
        .await;
    w.token_for_new_user("newbie@example.com").await;
    let invitee = w.token_for_new_user("invitee@example.com").await;
    let two = w.token_with_role("two@acme.example", Role::Member).await;
    ok(
        &w,
        Method::POST,
        "/v1/orgs/globex/members",
        &w.stranger,
        Some(json!({"user": "two@acme.example", "role": "viewer"})),
    )
    .await;
    let only_acme = scoped_token(&w, &two, "acme", json!({"orgs": [{"org": "acme"}]})).await;
    let only_globex = scoped_token(&w, &two, "globex", json!({"orgs": [{"org": "globex"}]})).await;
    let read_only_owner = scoped_token(&w, &w.owner, "ro", json!({"read_only": true})).await;
    let read_only_admin = scoped_token(&w, &w.admin, "ro", json!({"read_only": true})).await;
    let admin_only_acme =
        scoped_token(&w, &w.admin, "acme", json!({"orgs": [{"org": "acme"}]})).await;
    let invitation = ok(
        &w,
        Method::POST,
        "/v1/orgs/acme/invitations",
        &w.owner,
        Some(json!({"email": "invitee@example.com", "role": "viewer"})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = w.mailed_token("invitee@example.com");
    let api_token = ok(
        &w,
        Method::POST,
        "/v1/tokens",
        &w.member,
        Some(json!({"name": "ci"})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    (
        w,
        Tokens {
            admin_role,
            invitee,
            scoped_viewer,
            scoped_member,
            scoped_admin,
            elsewhere,
            read_only_owner,
            read_only_admin,
            only_acme,
            only_globex,
            admin_only_acme,
        },
        Ids {
            backup,
            invitation,
            token,
            api_token,
        },
    )
}

/// A route's path with `acme`'s names and `ids`.
fn concrete(template: &str, ids: &Ids) -> String {
    template
        .replace("{org}", "acme")
        .replace("{project}", "shop")
        .replace("{service}", "web")
        .replace("{plan}", "spare")
        .replace("{volume}", "data")
        .replace("{backup}", &ids.backup)
        .replace("{domain}", "shop.example.com")
        .replace("{template}", "tiny")
        .replace("{instance}", "blog")
        .replace("{user}", "extra@acme.example")
        .replace("{invitation}", &ids.invitation)
        .replace("{token}", &ids.token)
        .replace("{id}", &ids.api_token)
}

/// Every expectation, for the world `ids` come from.
fn cases(ids: &Ids) -> Vec<Case> {
    use Method as M;
    use Role::{Admin, Member, Owner, Viewer};
    use Who::{Anyone, Authenticated, Holder, Invitee, Org, PlatformAdmin};
    use Who::{OrgWide, OrgWideHidden};
    let c = |method: Method, template: &'static str, who: Who| Case {
        path: concrete(template, ids),
        method,
        template,
        body: None,
        who,
        allowed: Want::Success,
        blocked: false,
        needs_running: false,
        bound: [
            "{project}",
            "{volume}",
            "{backup}",
            "{domain}",
            "{instance}",
        ]
        .iter()
        .any(|p| template.contains(p)),
        elsewhere: None,
        unscoped: false,
    };
    const SVC: &str = "/v1/orgs/{org}/projects/{project}/services/{service}";
    vec![
        c(M::GET, "/v1/health", Anyone),
        // No claim is pending on the host these requests name.
        c(M::GET, "/.well-known/caas-challenge/{token}", Anyone)
            .path("/.well-known/caas-challenge/abcdefghijklmnopqrstuvwxyz012345")
            .not_found(),
        c(M::GET, "/v1/openapi.json", Anyone),
        // Runtime and plans.
        c(M::GET, "/v1/admin/runtime", PlatformAdmin),
        c(M::PUT, "/v1/admin/runtime", PlatformAdmin)
            .body(serde_json::to_value(memory_config("new")).unwrap()),
        c(M::POST, "/v1/admin/runtime/test", PlatformAdmin),
        c(M::GET, "/v1/admin/runtime/detect", PlatformAdmin),
        c(M::GET, "/v1/admin/plans", Authenticated),
        c(M::POST, "/v1/admin/plans", PlatformAdmin)
            .body(json!({"name": "gold", "limits": limits()})),
        c(M::GET, "/v1/admin/plans/{plan}", Authenticated),
        c(M::PATCH, "/v1/admin/plans/{plan}", PlatformAdmin)
            .body(json!({"monthly_price_cents": 1})),
        c(M::DELETE, "/v1/admin/plans/{plan}", PlatformAdmin),
        // Users and API tokens.
        c(M::GET, "/v1/me", Authenticated),
        c(M::GET, "/v1/tokens", Authenticated),
        // No scope asked: every organization, wider than a restricted token.
        c(M::POST, "/v1/tokens", Authenticated)
            .body(json!({"name": "laptop"}))
            .unscoped(),
        // A token of `acme` only: who cannot see `acme` cannot name it.
        c(M::POST, "/v1/tokens", Org(Viewer))
            .body(json!({"name": "acme", "scope": {"orgs": [{"org": "acme"}]}})),
        c(M::POST, "/v1/tokens", Org(Viewer))
            .body(json!({"name": "shop", "scope": {"read_only": true, "orgs": [{"org": "acme", "projects": ["shop"]}]}}))
            .bound(),
        c(M::POST, "/v1/tokens", Authenticated)
            .body(json!({"name": "laptop", "scope": {"orgs": [{"org": "acme", "projects": "shop"}]}}))
            .invalid(),
        c(M::POST, "/v1/tokens", Authenticated)
            .body(json!({"name": "laptop", "expires_in_days": 0}))
            .invalid(),
        c(M::DELETE, "/v1/tokens/{id}", Holder),
        c(M::GET, "/v1/admin/users", PlatformAdmin),
        c(M::GET, "/v1/admin/users", PlatformAdmin)
            .query("?search=acme&limit=0")
            .invalid(),
        c(M::POST, "/v1/admin/users", PlatformAdmin).body(json!({"email": "zoe@example.com"})),
        c(M::POST, "/v1/admin/users", Authenticated)
            .body(json!({"emial": "zoe@example.com"}))
            .invalid(),
        c(M::POST, "/v1/admin/users/{user}/tokens", PlatformAdmin)
            .body(json!({"name": "handed-over"})),
        c(M::POST, "/v1/admin/users/{user}/disable", PlatformAdmin),
        c(M::POST, "/v1/admin/users/{user}/enable", PlatformAdmin),
        // Organizations.
        c(M::GET, "/v1/orgs", Authenticated),
        c(M::POST, "/v1/orgs", Authenticated)
            .body(json!({"slug": "initech"}))
            .unscoped(),
        c(M::GET, "/v1/orgs/{org}", Org(Viewer)),
        c(M::PATCH, "/v1/orgs/{org}", Org(Owner)).body(json!({"display_name": "Mine"})),
        c(M::DELETE, "/v1/orgs/{org}", Org(Owner)),
        c(M::GET, "/v1/orgs/{org}/subscription", Org(Viewer)),
        // Administrators only, whoever asks: a 403 that is the same for every organization.
        c(M::PUT, "/v1/orgs/{org}/subscription", PlatformAdmin).body(json!({"plan": "starter"})),
        c(M::GET, "/v1/orgs/{org}/usage", Org(Viewer)),
        c(M::GET, "/v1/orgs/{org}/usage/report", OrgWide(Viewer)),
        c(M::GET, "/v1/orgs/{org}/alerts", Org(Viewer)),
        c(M::PUT, "/v1/orgs/{org}/alerts", OrgWide(Admin)).body(json!({"rules": [
            {"name": "looping", "condition": {"type": "restart_loop", "restarts": 3}}
        ]})),
        // Projects and services.
        c(M::GET, "/v1/orgs/{org}/projects", Org(Viewer)),
        c(M::POST, "/v1/orgs/{org}/projects", OrgWide(Admin))
            .body(json!({"name": "other"}))
            .blocked(),
        c(M::GET, "/v1/orgs/{org}/projects/{project}", Org(Viewer)),
        c(
            M::DELETE,
            "/v1/orgs/{org}/projects/{project}",
            OrgWide(Admin),
        ),
        c(
            M::GET,
            "/v1/orgs/{org}/projects/{project}/services",
            Org(Viewer),
        ),
        c(
            M::POST,
            "/v1/orgs/{org}/projects/{project}/services",
            Org(Member),
        )
        .body(web_app("api"))
        .blocked(),
        c(M::GET, SVC, Org(Viewer)),
        c(M::PATCH, SVC, Org(Member))
            .body(json!({"env_set": [{"key": "B", "value": "2"}]}))
            .blocked(),
        c(M::DELETE, SVC, Org(Member)),
        c(
            M::POST,
            "/v1/orgs/{org}/projects/{project}/services/{service}/start",
            Org(Member),
        )
        .blocked(),
        c(
            M::POST,
            "/v1/orgs/{org}/projects/{project}/services/{service}/stop",
            Org(Member),
        )
        .blocked(),
        c(
            M::POST,
            "/v1/orgs/{org}/projects/{project}/services/{service}/restart",
            Org(Member),
        )
        .blocked(),
        c(
            M::GET,
            "/v1/orgs/{org}/projects/{project}/services/{service}/logs",
            Org(Viewer),
        ),
        c(
            M::GET,
            "/v1/orgs/{org}/projects/{project}/services/{service}/deployments",
            Org(Viewer),
        ),
        c(
            M::POST,
            "/v1/orgs/{org}/projects/{project}/services/{service}/rollback",
            Org(Member),
        )
        .blocked(),
        // Monitoring.
        c(
            M::GET,
            "/v1/orgs/{org}/projects/{project}/services/{service}/stats",
            Org(Viewer),
        )
        .needs_running(),
        c(
            M::GET,
            "/v1/orgs/{org}/projects/{project}/services/{service}/stats/stream",
            Org(Viewer),
        ),
        c(
            M::GET,
            "/v1/orgs/{org}/projects/{project}/services/{service}/metrics",
            Org(Viewer),
        ),
        c(
            M::GET,
            "/v1/orgs/{org}/projects/{project}/services/{service}/metrics.svg",
            Org(Viewer),
        ),
        c(
            M::GET,
            "/v1/orgs/{org}/projects/{project}/services/{service}/health",
            Org(Viewer),
        ),
        c(
            M::GET,
            "/v1/orgs/{org}/projects/{project}/services/{service}/events",
            Org(Viewer),
        ),
        // Domains.
        c(
            M::GET,
            "/v1/orgs/{org}/projects/{project}/services/{service}/domains",
            Org(Viewer),
        ),
        c(
            M::POST,
            "/v1/orgs/{org}/projects/{project}/services/{service}/domains",
            Org(Member),
        )
        .body(json!({"hostname": "api.example.com"}))
        .blocked(),
        c(
            M::DELETE,
            "/v1/orgs/{org}/projects/{project}/services/{service}/domains/{domain}",
            Org(Member),
        )
        .blocked(),
        c(
            M::POST,
            "/v1/orgs/{org}/domains/{domain}/verify",
            Org(Member),
        )
        .body(json!({"method": "dns"}))
        .blocked(),
        c(
            M::GET,
            "/v1/orgs/{org}/domains/{domain}/certificate",
            Org(Viewer),
        ),
        // Volumes and backups.
        c(M::GET, "/v1/orgs/{org}/volumes", Org(Viewer)),
        c(M::POST, "/v1/orgs/{org}/volumes", Org(Member))
            .body(json!({"project": "shop", "name": "other", "size_bytes": 1_048_576}))
            .blocked()
            .bound(),
        c(M::GET, "/v1/orgs/{org}/volumes/{volume}", Org(Viewer)),
        // Deleting stays possible while suspended (data can always be removed).
        c(M::DELETE, "/v1/orgs/{org}/volumes/{volume}", Org(Member)),
        c(
            M::GET,
            "/v1/orgs/{org}/volumes/{volume}/backups",
            Org(Viewer),
        ),
        c(
            M::POST,
            "/v1/orgs/{org}/volumes/{volume}/backups",
            Org(Member),
        )
        .blocked(),
        c(
            M::PUT,
            "/v1/orgs/{org}/volumes/{volume}/backup-schedule",
            Org(Member),
        )
        .body(json!({"cron": "0 4 * * *", "max_age_days": 30}))
        .blocked(),
        c(
            M::DELETE,
            "/v1/orgs/{org}/volumes/{volume}/backup-schedule",
            Org(Member),
        )
        .blocked(),
        c(M::GET, "/v1/orgs/{org}/backups", Org(Viewer)),
        c(M::GET, "/v1/orgs/{org}/backups/{backup}", Org(Viewer)),
        c(M::DELETE, "/v1/orgs/{org}/backups/{backup}", Org(Member)),
        c(
            M::POST,
            "/v1/orgs/{org}/backups/{backup}/restore",
            Org(Admin),
        )
        .body(json!({"volume": "data"}))
        .blocked(),
        // Templates.
        c(M::GET, "/v1/templates", Authenticated),
        c(M::GET, "/v1/templates/{template}", Authenticated),
        c(
            M::POST,
            "/v1/orgs/{org}/projects/{project}/templates/{template}/deploy",
            Org(Member),
        )
        .body(json!({"name": "site"}))
        .blocked(),
        c(
            M::GET,
            "/v1/orgs/{org}/projects/{project}/template-instances",
            Org(Viewer),
        ),
        c(
            M::DELETE,
            "/v1/orgs/{org}/projects/{project}/template-instances/{instance}",
            Org(Member),
        ),
        c(M::POST, "/v1/admin/templates/{template}", PlatformAdmin)
            .path("/v1/admin/templates/fresh")
            .body(json!({"template": definition("fresh")})),
        c(M::PUT, "/v1/admin/templates/{template}", PlatformAdmin).body(json!({"enabled": false})),
        c(M::DELETE, "/v1/admin/templates/{template}", PlatformAdmin)
            .path("/v1/admin/templates/custom"),
        // Members and invitations.
        c(M::GET, "/v1/orgs/{org}/members", Org(Viewer)),
        // No project list grants the whole organization: wider than a scoped admin's own.
        c(M::POST, "/v1/orgs/{org}/members", OrgWide(Admin))
            .body(json!({"user": "newbie@example.com", "role": "viewer"})),
        c(M::POST, "/v1/orgs/{org}/members", Org(Admin))
            .body(json!({"user": "newbie@example.com", "role": "viewer", "projects": ["shop"]}))
            .elsewhere(Want::Invalid),
        // A malformed body is refused before anything is looked at: the same 422 for all.
        c(M::POST, "/v1/orgs/{org}/members", Authenticated)
            .body(json!({"user": "newbie@example.com", "role": "boss"}))
            .invalid(),
        // The member is organization-wide: wider than any scoped admin.
        c(M::PATCH, "/v1/orgs/{org}/members/{user}", OrgWide(Admin))
            .body(json!({"role": "viewer"})),
        c(M::DELETE, "/v1/orgs/{org}/members/{user}", OrgWide(Admin)),
        c(M::POST, "/v1/orgs/{org}/transfer-ownership", Org(Owner))
            .body(json!({"to": "extra@acme.example"})),
        c(M::GET, "/v1/orgs/{org}/invitations", Org(Admin)),
        c(M::POST, "/v1/orgs/{org}/invitations", OrgWide(Admin))
            .body(json!({"email": "someone@example.com", "role": "viewer"})),
        c(M::POST, "/v1/orgs/{org}/invitations", Org(Admin))
            .body(json!({"email": "someone@example.com", "role": "viewer", "projects": ["shop"]}))
            .elsewhere(Want::Invalid),
        // The invitation is organization-wide: not a scoped admin's to see.
        c(
            M::DELETE,
            "/v1/orgs/{org}/invitations/{invitation}",
            OrgWideHidden(Admin),
        ),
        c(M::POST, "/v1/invitations/{token}/accept", Invitee),
        c(M::POST, "/v1/invitations/{token}/decline", Invitee),
        // Organization administration.
        c(M::GET, "/v1/admin/orgs", PlatformAdmin),
        c(M::GET, "/v1/admin/orgs", PlatformAdmin)
            .query("?limit=0")
            .invalid(),
        c(M::POST, "/v1/admin/orgs/bulk", PlatformAdmin)
            .body(json!({"action": {"type": "suspend"}, "orgs": ["acme", "globex", "nope"]})),
        c(M::POST, "/v1/admin/orgs/bulk", PlatformAdmin)
            .body(json!({"action": {"type": "suspend"}, "orgs": []}))
            .invalid(),
        c(M::POST, "/v1/admin/orgs/{org}/suspend", PlatformAdmin),
        c(M::POST, "/v1/admin/orgs/{org}/reactivate", PlatformAdmin),
        c(M::GET, "/v1/admin/audit", PlatformAdmin),
        c(M::GET, "/v1/admin/audit", Org(Owner)).query("?org=acme&action=member."),
        c(M::GET, "/v1/admin/audit", Authenticated)
            .query("?since=yesterday")
            .invalid(),
    ]
}

/// An answer's status, and its body unless it succeeded (a stats stream never ends).
async fn send(w: &World, case: &Case, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(case.method.clone())
        .uri(&case.path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match &case.body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(axum::body::Body::from(b.to_string())),
        None => req.body(axum::body::Body::empty()),
    }
    .unwrap();
    let res = w.app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    if status.is_success() {
        return (status, Value::Null);
    }
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into())),
    )
}

/// `None` when `got` is of the class `want`, otherwise what differs.
fn differs(case: &Case, want: Want, got: &(StatusCode, Value)) -> Option<String> {
    let (status, body) = got;
    let code = body["code"].as_str().unwrap_or_default();
    let fine = match want {
        Want::Success => status.is_success(),
        Want::Unauthenticated => *status == StatusCode::UNAUTHORIZED && code == "UNAUTHENTICATED",
        Want::Forbidden => *status == StatusCode::FORBIDDEN && code == "PERMISSION_DENIED",
        // A 404 for something inside the organization would tell that it exists.
        Want::NotFound => {
            *status == StatusCode::NOT_FOUND
                && code == "NOT_FOUND"
                && (body["details"]["kind"] == "organization"
                    || !(case.path.starts_with("/v1/orgs/") || case.path.contains("org=")))
        }
        Want::Hidden => *status == StatusCode::NOT_FOUND && code == "NOT_FOUND",
        Want::Invalid => {
            *status == StatusCode::UNPROCESSABLE_ENTITY
                && code == "INVALID_INPUT"
                && body["details"]["field"]
                    .as_str()
                    .is_some_and(|f| !f.is_empty())
        }
        Want::Suspended => {
            *status == StatusCode::CONFLICT
                && code == "CONFLICT"
                && body["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("organization 'acme' is suspended"))
        }
        Want::NotRunning => {
            *status == StatusCode::CONFLICT
                && code == "CONFLICT"
                && body["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("not running"))
        }
    };
    (!fine).then(|| format!("want {want:?}, got {status} {body}"))
}

/// What a platform administrator reads of both organizations and the platform: a refused
/// call must leave all of it as it was.
async fn snapshot(w: &World) -> Vec<(String, Value)> {
    let svc = "/v1/orgs/acme/projects/shop/services/web";
    let mut paths = vec![
        "/v1/orgs".to_string(),
        "/v1/admin/plans".into(),
        "/v1/admin/runtime".into(),
        "/v1/templates".into(),
        "/v1/admin/orgs".into(),
        "/v1/admin/audit?limit=1000".into(),
        "/v1/admin/users?limit=500".into(),
        "/v1/tokens".into(),
        format!("{svc}/deployments"),
        format!("{svc}/domains"),
        "/v1/orgs/acme/projects/shop/template-instances".into(),
    ];
    for org in ["acme", "globex"] {
        for tail in [
            "",
            "/members",
            "/invitations",
            "/projects",
            "/subscription",
            "/volumes",
            "/backups",
            "/alerts",
        ] {
            paths.push(format!("/v1/orgs/{org}{tail}"));
        }
    }
    paths.push("/v1/orgs/acme/projects/shop/services".into());
    let mut out = Vec::new();
    for p in paths {
        let (status, body) = w.get(&p, &w.admin).await;
        out.push((format!("{p} {status}"), body));
    }
    // The tokens of the member's, one of which the matrix tries to revoke.
    let (status, body) = w.get("/v1/tokens", &w.member).await;
    out.push((format!("the member's /v1/tokens {status}"), body));
    out
}

/// Runs the table for `callers` (on `acme` suspended first, when `suspended`) and returns
/// every cell that answered otherwise, and how many cells ran.
async fn run(callers: &[Caller], suspended: bool) -> (Vec<String>, usize) {
    let (shared, tokens, ids) = prepare().await;
    if suspended {
        ok(
            &shared,
            Method::POST,
            "/v1/admin/orgs/acme/suspend",
            &shared.admin,
            None,
        )
        .await;
    }
    let want = |case: &Case, caller: Caller| {
        if suspended {
            case.want_suspended(caller)
        } else {
            case.want(caller)
        }
    };
    let mut failures = Vec::new();
    let mut fresh = Vec::new();
    let before = snapshot(&shared).await;
    let mut cells = 0;
    for (i, case) in cases(&ids).iter().enumerate() {
        for &caller in callers {
            let want = want(case, caller);
            cells += 1;
            if case.method != Method::GET && want == Want::Success {
                fresh.push((i, caller, want));
                continue;
            }
            let got = send(&shared, case, token(&shared, &tokens, caller)).await;
            if let Some(d) = differs(case, want, &got) {
                failures.push(format!("{caller:?} {} {}: {d}", case.method, case.path));
            }
        }
    }
    let after = snapshot(&shared).await;
    for ((path, a), (_, b)) in before.iter().zip(&after) {
        if a != b {
            failures.push(format!(
                "a refused or read-only call changed {path}:\n  before {a}\n  after  {b}"
            ));
        }
    }
    // Each call that may change something in a world of its own.
    let outcomes: Vec<Option<String>> = futures::stream::iter(fresh)
        .map(|(i, caller, want)| async move {
            let (w, tokens, ids) = prepare().await;
            if suspended {
                ok(
                    &w,
                    Method::POST,
                    "/v1/admin/orgs/acme/suspend",
                    &w.admin,
                    None,
                )
                .await;
            }
            let case = &cases(&ids)[i];
            let got = send(&w, case, token(&w, &tokens, caller)).await;
            differs(case, want, &got)
                .map(|d| format!("{caller:?} {} {}: {d}", case.method, case.path))
        })
        .buffer_unordered(8)
        .collect()
        .await;
    failures.extend(outcomes.into_iter().flatten());
    (failures, cells)
}

fn report(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} cells answered otherwise:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_route_has_an_expectation() {
    let w = common::world().await;
    let (status, doc) = w.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.to_ascii_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let served: BTreeSet<(String, String)> = caas_http::routes()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, served,
        "the document lists exactly the routes served"
    );
    let ids = Ids {
        backup: "b".into(),
        invitation: "i".into(),
        token: "t".into(),
        api_token: "a".into(),
    };
    let expected: BTreeSet<(String, String)> = cases(&ids)
        .iter()
        .map(|c| (c.method.to_string(), c.template.to_string()))
        .collect();
    let missing: Vec<_> = documented.difference(&expected).collect();
    let stale: Vec<_> = expected.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes without an expectation: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "expectations for routes that do not exist: {stale:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_caller_gets_exactly_its_answer_on_every_route() {
    let (failures, cells) = run(&CALLERS, false).await;
    report(&failures);
    assert!(cells >= 94 * CALLERS.len(), "{cells}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_organization_reads_but_refuses_changes_to_its_owner_and_administrators() {
    let (failures, cells) = run(&[Caller::Owner, Caller::PlatformAdmin], true).await;
    report(&failures);
    assert!(cells >= 94 * 2, "{cells}");
}

/// `globex`'s own things, under names and ids `acme` does not have.
struct Theirs {
    volume: String,
    backup: String,
    invitation: String,
}

async fn give_globex_its_own(w: &World) -> Theirs {
    let t = &w.stranger;
    ok(
        w,
        Method::POST,
        "/v1/orgs/globex/projects",
        t,
        Some(json!({"name": "lab"})),
    )
    .await;
    ok(
        w,
        Method::POST,
        "/v1/orgs/globex/projects/lab/services",
        t,
        Some(web_app("api")),
    )
    .await;
    ok(
        w,
        Method::POST,
        "/v1/orgs/globex/projects/lab/services/api/domains",
        t,
        Some(json!({"hostname": "lab.example.com"})),
    )
    .await;
    let volume = ok(
        w,
        Method::POST,
        "/v1/orgs/globex/volumes",
        t,
        Some(json!({"project": "lab", "name": "files", "size_bytes": 1_048_576})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let backup = ok(
        w,
        Method::POST,
        "/v1/orgs/globex/volumes/files/backups",
        t,
        None,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        w,
        Method::POST,
        "/v1/orgs/globex/projects/lab/templates/tiny/deploy",
        t,
        Some(json!({"name": "blog2"})),
    )
    .await;
    w.token_for_new_user("gina@globex.example").await;
    ok(
        w,
        Method::POST,
        "/v1/orgs/globex/members",
        t,
        Some(json!({"user": "gina@globex.example", "role": "viewer"})),
    )
    .await;
    let invitation = ok(
        w,
        Method::POST,
        "/v1/orgs/globex/invitations",
        t,
        Some(json!({"email": "hank@example.com", "role": "viewer"})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    Theirs {
        volume,
        backup,
        invitation,
    }
}

#[tokio::test]
async fn another_organizations_ids_under_our_path_are_404_on_every_route() {
    let (w, _, ids) = prepare().await;
    let theirs = give_globex_its_own(&w).await;
    let before = snapshot(&w).await;
    let globex_value = |param: &str| -> Option<String> {
        Some(match param {
            "project" => "lab".into(),
            "service" => "api".into(),
            "volume" => theirs.volume.clone(),
            "backup" => theirs.backup.clone(),
            "domain" => "lab.example.com".into(),
            "instance" => "blog2".into(),
            "user" => "gina@globex.example".into(),
            "invitation" => theirs.invitation.clone(),
            // Templates are the platform's, not an organization's.
            _ => return None,
        })
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in cases(&ids) {
        if !case.template.starts_with("/v1/orgs/{org}/") || case.allowed != Want::Success {
            continue;
        }
        let params: Vec<&str> = case
            .template
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .filter(|p| *p != "org")
            .collect();
        for param in params {
            let Some(value) = globex_value(param) else {
                continue;
            };
            // acme's path, but this one of globex's.
            let template = case.template.replace(&format!("{{{param}}}"), &value);
            let mixed = Case {
                path: concrete(&template, &ids),
                ..case.clone()
            };
            for token in [&w.owner, &w.admin] {
                let got = send(&w, &mixed, Some(token)).await;
                checked += 1;
                let fine = got.0 == StatusCode::NOT_FOUND && got.1["code"] == "NOT_FOUND";
                if !fine {
                    failures.push(format!(
                        "{} {} ({param} of globex): {} {}",
                        mixed.method, mixed.path, got.0, got.1
                    ));
                }
            }
        }
    }
    let after = snapshot(&w).await;
    for ((path, a), (_, b)) in before.iter().zip(&after) {
        if a != b {
            failures.push(format!("{path} changed:\n  before {a}\n  after  {b}"));
        }
    }
    report(&failures);
    assert!(checked >= 80, "{checked}");
    // globex still has all of its own.
    let (_, volumes) = w.get("/v1/orgs/globex/volumes", &w.stranger).await;
    assert_eq!(volumes.as_array().unwrap().len(), 1);
    let (_, invitations) = w.get("/v1/orgs/globex/invitations", &w.stranger).await;
    assert_eq!(invitations.as_array().unwrap().len(), 1);
}
