//! Who asks ([`Principal`]) and what they may do ([`Action`], [`min_role`]).
//!
//! Permissions live here, in core, and every [`Platform`](crate::Platform) operation checks them
//! before touching anything — the HTTP facade adds nothing but authentication.
//!
//! | action | minimum org role | a read ([`is_read`]) |
//! |---|---|---|
//! | `org.view`, `project.view`, `service.view`, `usage.view`, `usage.report` | viewer | yes |
//! | `service.logs` | viewer | yes |
//! | `service.deploy`, `service.operate` (start/stop/restart), `service.delete` | member | no |
//! | `volume.manage` (create, attach, back up, schedule backups), `volume.delete` (volumes and backups) | member | no |
//! | `invitation.view` (the pending invitations) | admin | yes |
//! | `project.create`, `project.delete`, `member.manage`, `volume.restore`, `alert.manage` | admin | no |
//! | `org.update`, `org.delete` | owner | no |
//! | `org.list_all` (the overview, the audit log), `user.view`, `runtime.view` | platform admin only | yes |
//! | `plan.manage`, `runtime.manage`, `subscription.manage`, `org.administer` (suspend, reactivate, bulk changes), `user.manage`, `template.manage` | platform admin only | no |
//!
//! A few changes are the user's own and need no role: creating an organization
//! (`org.create`), creating and revoking their API tokens (`token.create`, `token.revoke`),
//! answering an invitation addressed to them (`invitation.accept`, `invitation.decline`) and
//! leaving an organization (`member.leave`). Only the credential limits them (see below).
//!
//! A suspended organization's members keep reading and deleting, but `service.deploy`,
//! `service.operate`, `volume.manage`, `volume.restore` and `project.create` are refused with
//! `Conflict` until a platform administrator reactivates it.
//!
//! Platform administrators may do everything. A principal that is not a member of an
//! organization gets [`Error::NotFound`] for it, never a hint that it exists.
//!
//! # Members scoped to projects
//!
//! A membership may name projects (`projects`); such a member — a *scoped* viewer, member or
//! admin — has its role on those projects only, and everything outside them is
//! [`Error::NotFound`], as if it did not exist. Owners are never scoped. Of the organization
//! as a whole, a scoped member:
//!
//! | may | may not |
//! |---|---|
//! | read the organization, its project list (its own projects only), its members (project names outside its scope left out) and its usage totals against the plan | read the usage report (`usage.report`: every service's billing lines) |
//! | read the alerts about services and volumes of its projects (without the webhook) | set the alert rules or webhook (`alert.manage`), change or delete the organization, create or delete projects |
//! | as a scoped admin: add and invite members, change and remove members, and revoke invitations — all within its own projects | grant a role above its own or a scope beyond its own (no project list is the whole organization), change its own role or scope, touch a member or invitation whose scope is wider than its own |
//!
//! The same holds for every caller: nobody grants a role or a project scope wider than their
//! own, through any route (members, invitations, ownership transfer); only owners grant the
//! owner role.
//!
//! # API tokens
//!
//! A token acts as its user, narrowed by its [`TokenScope`]
//! ([`Tokens::authenticate`](crate::platform::Tokens::authenticate) builds the principal
//! with [`Principal::narrowed`]); it never reaches more than its user does at the time it is
//! used, so a membership removed or a role lowered takes effect on every token at once.
//!
//! - **Read-only** (`read_only`): only the actions [`is_read`] names pass; every other action
//!   and every change of the user's own (creating organizations, creating or revoking tokens,
//!   answering invitations, leaving) is [`Error::PermissionDenied`] saying that the token's
//!   scope is read-only. Where the token could not even see the organization or project, the
//!   answer stays [`Error::NotFound`]. A dry run (an update preview, a template plan) asks the
//!   permission of the change it previews.
//! - **Restricted to organizations** (`orgs`): the grants keep only the listed organizations,
//!   each limited to the listed projects when the entry names some (intersected with the
//!   member's own project scope: the narrower wins, and an empty intersection is no project).
//!   Every other organization is [`Error::NotFound`], exactly as for a stranger, even where
//!   the user is a member. Such a token cannot create organizations or answer invitations
//!   (those reach beyond its list: [`Error::PermissionDenied`]).
//! - **A platform administrator's token restricted to organizations** acts, in each listed
//!   organization (and its listed projects), as an owner would, and nowhere else: it is no
//!   longer a platform administrator, so every platform-wide action (`plan.manage`,
//!   `runtime.*`, `user.*`, `subscription.manage`, `org.list_all`, `org.administer`,
//!   `template.manage`, revoking other users' tokens) is refused with `PermissionDenied`. A
//!   read-only administrator's token without a list reads everything an administrator
//!   reads, and changes nothing.
//! - **Minting**: a token creates only tokens of an equal or narrower scope that expire no
//!   later than itself (see [`Tokens::create`](crate::platform::Tokens::create)):
//!   a read-only token creates none; a restricted token must list organizations, within its
//!   own list, and projects within its own per organization (what it cannot see is
//!   `NotFound`, what would be wider is `PermissionDenied`); a later expiry is `InvalidInput`
//!   on `valid_for`.
//! - A token restricted to organizations still lists and revokes its user's other tokens:
//!   they are the user's own, and revoking only takes access away.
//! - A disabled user ([`User::disabled`](crate::model::User::disabled)) has no principal at
//!   all: [`Platform::principal_for`](crate::Platform::principal_for) answers `NotFound`
//!   and every token of theirs is refused, until a platform administrator enables them.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{OrgId, ProjectId, UserId};
use crate::model::{Role, TokenScope};

/// Why a read-only token is refused a change.
const READ_ONLY: &str = "the API token's scope is read-only";

/// Something a principal may or may not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Action {
    /// Read an organization.
    OrgView,
    /// Change an organization's details.
    OrgUpdate,
    /// Delete an organization.
    OrgDelete,
    /// Manage members and invitations.
    MemberManage,
    /// Read the pending invitations.
    InvitationView,
    /// Read projects.
    ProjectView,
    /// Create a project.
    ProjectCreate,
    /// Delete a project.
    ProjectDelete,
    /// Read services.
    ServiceView,
    /// Deploy or update a service.
    ServiceDeploy,
    /// Start, stop, restart a service.
    ServiceOperate,
    /// Delete a service.
    ServiceDelete,
    /// Read a service's logs.
    ServiceLogs,
    /// Create and attach volumes; take and schedule backups.
    VolumeManage,
    /// Delete a volume or a backup (allowed while the organization is suspended).
    VolumeDelete,
    /// Restore a backup over a volume's data.
    VolumeRestore,
    /// Set an organization's alert rules and webhook.
    AlertManage,
    /// Manage the template catalogue (platform admin).
    TemplateManage,
    /// Read usage.
    UsageView,
    /// Read the usage report: every service's billing lines (organization-wide members only).
    UsageReport,
    /// Manage plans (platform admin).
    PlanManage,
    /// Configure the runtime (platform admin).
    RuntimeManage,
    /// Manage subscriptions (platform admin).
    SubscriptionManage,
    /// List all organizations, read the audit log (platform admin).
    OrgListAll,
    /// Suspend and reactivate organizations, change many at once (platform admin).
    OrgAdminister,
    /// Read users (platform admin).
    UserView,
    /// Manage users: create, disable, enable, hand tokens over (platform admin).
    UserManage,
    /// Read the runtime configuration and detect engines (platform admin).
    RuntimeView,
}

impl Action {
    /// Dotted name used in errors, logs and the audit log.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::OrgView => "org.view",
            Self::OrgUpdate => "org.update",
            Self::OrgDelete => "org.delete",
            Self::MemberManage => "member.manage",
            Self::InvitationView => "invitation.view",
            Self::ProjectView => "project.view",
            Self::ProjectCreate => "project.create",
            Self::ProjectDelete => "project.delete",
            Self::ServiceView => "service.view",
            Self::ServiceDeploy => "service.deploy",
            Self::ServiceOperate => "service.operate",
            Self::ServiceDelete => "service.delete",
            Self::ServiceLogs => "service.logs",
            Self::VolumeManage => "volume.manage",
            Self::VolumeDelete => "volume.delete",
            Self::VolumeRestore => "volume.restore",
            Self::AlertManage => "alert.manage",
            Self::TemplateManage => "template.manage",
            Self::UsageView => "usage.view",
            Self::UsageReport => "usage.report",
            Self::PlanManage => "plan.manage",
            Self::RuntimeManage => "runtime.manage",
            Self::SubscriptionManage => "subscription.manage",
            Self::OrgListAll => "org.list_all",
            Self::OrgAdminister => "org.administer",
            Self::UserView => "user.view",
            Self::UserManage => "user.manage",
            Self::RuntimeView => "runtime.view",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The least org role allowed to perform `action`; `None` means platform administrators only.
pub fn min_role(action: Action) -> Option<Role> {
    use Action::*;
    match action {
        OrgView | ProjectView | ServiceView | ServiceLogs | UsageView | UsageReport => {
            Some(Role::Viewer)
        }
        ServiceDeploy | ServiceOperate | ServiceDelete | VolumeManage | VolumeDelete => {
            Some(Role::Member)
        }
        ProjectCreate | ProjectDelete | MemberManage | InvitationView | VolumeRestore
        | AlertManage => Some(Role::Admin),
        OrgUpdate | OrgDelete => Some(Role::Owner),
        PlanManage | RuntimeManage | RuntimeView | SubscriptionManage | OrgListAll
        | OrgAdminister | UserView | UserManage | TemplateManage => None,
    }
}

/// Whether `action` only reads: the actions a read-only API token may perform. Everything
/// else changes something.
pub fn is_read(action: Action) -> bool {
    use Action::*;
    match action {
        OrgView | ProjectView | ServiceView | ServiceLogs | UsageView | UsageReport
        | InvitationView | OrgListAll | UserView | RuntimeView => true,
        OrgUpdate | OrgDelete | MemberManage | ProjectCreate | ProjectDelete | ServiceDeploy
        | ServiceOperate | ServiceDelete | VolumeManage | VolumeDelete | VolumeRestore
        | AlertManage | TemplateManage | PlanManage | RuntimeManage | SubscriptionManage
        | OrgAdminister | UserManage => false,
    }
}

/// Actions on the organization as a whole that members scoped to projects may not perform.
fn org_wide_only(action: Action) -> bool {
    matches!(
        action,
        Action::ProjectCreate
            | Action::ProjectDelete
            | Action::OrgUpdate
            | Action::OrgDelete
            | Action::AlertManage
            | Action::UsageReport
    )
}

/// A principal's membership as the authenticator saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Role.
    pub role: Role,
    /// When set, only these projects.
    pub projects: Option<Vec<ProjectId>>,
}

/// Who performs an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The user.
    pub user: UserId,
    /// Platform administrators may do everything.
    pub platform_admin: bool,
    /// Roles per organization.
    pub grants: HashMap<OrgId, Grant>,
    /// The scope of the API token the principal acts with (the whole of the user's rights for
    /// other credentials); `grants` and `platform_admin` are already narrowed to it (see
    /// [`Principal::narrowed`]).
    #[serde(default)]
    pub scope: TokenScope,
    /// When the credential in use stops being accepted, if ever: tokens it creates may not
    /// outlive it.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl Principal {
    /// A platform administrator.
    pub fn platform_admin(user: UserId) -> Self {
        Self {
            platform_admin: true,
            ..Self::user(user)
        }
    }

    /// A user with no memberships yet.
    pub fn user(user: UserId) -> Self {
        Self {
            user,
            platform_admin: false,
            grants: HashMap::new(),
            scope: TokenScope::default(),
            expires_at: None,
        }
    }

    /// Adds a role in an organization (all projects).
    pub fn with_role(mut self, org: OrgId, role: Role) -> Self {
        self.grants.insert(
            org,
            Grant {
                role,
                projects: None,
            },
        );
        self
    }

    /// The principal acting with an API token of `scope` that expires at `expires_at`: the
    /// grants keep only the organizations the scope lists, each limited to the projects its
    /// entry names (intersected with the member's own project scope); a platform
    /// administrator's token that lists organizations acts as an owner of each of them and is
    /// no platform administrator any more. A read-only scope is kept for [`Principal::can`].
    pub fn narrowed(mut self, scope: &TokenScope, expires_at: Option<DateTime<Utc>>) -> Self {
        if let Some(orgs) = &scope.orgs {
            let mut grants = HashMap::new();
            for entry in orgs {
                let base = if self.platform_admin {
                    Some(Grant {
                        role: Role::Owner,
                        projects: None,
                    })
                } else {
                    self.grants.get(&entry.org).cloned()
                };
                if let Some(grant) = base {
                    let projects = match (grant.projects, &entry.projects) {
                        (None, theirs) => theirs.clone(),
                        (mine, None) => mine,
                        (Some(mine), Some(theirs)) => {
                            Some(mine.into_iter().filter(|p| theirs.contains(p)).collect())
                        }
                    };
                    grants.insert(
                        entry.org,
                        Grant {
                            role: grant.role,
                            projects,
                        },
                    );
                }
            }
            self.grants = grants;
            self.platform_admin = false;
        }
        self.scope = scope.clone();
        self.expires_at = expires_at;
        self
    }

    /// The role in `org`, if any.
    pub fn role_in(&self, org: OrgId) -> Option<Role> {
        self.grants.get(&org).map(|g| g.role)
    }

    /// Whether the principal may perform `action` in `org` (on `project`, when given).
    pub fn can(&self, action: Action, org: Option<OrgId>, project: Option<ProjectId>) -> bool {
        if self.scope.read_only && !is_read(action) {
            return false;
        }
        if self.platform_admin {
            return true;
        }
        let (Some(required), Some(org)) = (min_role(action), org) else {
            return false;
        };
        let Some(grant) = self.grants.get(&org) else {
            return false;
        };
        if grant.role < required {
            return false;
        }
        match &grant.projects {
            Some(scope) => !org_wide_only(action) && project.is_none_or(|p| scope.contains(&p)),
            None => true,
        }
    }

    /// The projects the principal is limited to in `org`: `None` for the whole organization
    /// (platform administrators, and members without a project scope).
    pub fn scope_in(&self, org: OrgId) -> Option<&[ProjectId]> {
        if self.platform_admin {
            return None;
        }
        self.grants.get(&org).and_then(|g| g.projects.as_deref())
    }

    /// Whether `scope` (a project list, `None` for the whole organization) is within what the
    /// principal holds in `org`.
    pub fn covers(&self, org: OrgId, scope: Option<&[ProjectId]>) -> bool {
        match (self.scope_in(org), scope) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => theirs.iter().all(|p| mine.contains(p)),
        }
    }

    /// Fails unless the principal may perform a platform-admin `action`.
    pub fn require_admin(&self, action: Action) -> Result<()> {
        if self.can(action, None, None) {
            Ok(())
        } else if self.platform_admin {
            Err(Error::denied(action, READ_ONLY))
        } else if self.scope.orgs.is_some() {
            Err(Error::denied(
                action,
                "platform administrators only (a token restricted to organizations never acts as one)",
            ))
        } else {
            Err(Error::denied(action, "platform administrators only"))
        }
    }

    /// Fails when the credential in use is read-only: for the changes of the user's own that
    /// no role governs (`what`: `token.create`, `member.leave`, ...) and for changes checked
    /// otherwise than by [`Principal::require`]. Errors: `PermissionDenied`.
    pub fn require_writable(&self, what: impl fmt::Display) -> Result<()> {
        if self.scope.read_only {
            return Err(Error::denied(what, READ_ONLY));
        }
        Ok(())
    }

    /// Fails when the credential in use is read-only or restricted to organizations: for the
    /// changes of the user's own that reach beyond any listed organization (`what`:
    /// `org.create`, `invitation.accept`, ...). Errors: `PermissionDenied`.
    pub fn require_unrestricted(&self, what: impl fmt::Display) -> Result<()> {
        self.require_writable(&what)?;
        if self.scope.orgs.is_some() {
            return Err(Error::denied(
                what,
                "the API token's scope is limited to the organizations it lists",
            ));
        }
        Ok(())
    }

    /// Fails unless the principal may perform `action` in `org` (on `project`).
    ///
    /// Non-members get [`Error::NotFound`] naming `org_label`, so they learn nothing about other
    /// tenants (so do tokens restricted to other organizations); members without the role get
    /// [`Error::PermissionDenied`], and so do read-only tokens asked for a change.
    pub fn require(
        &self,
        action: Action,
        org: OrgId,
        project: Option<ProjectId>,
        org_label: &str,
    ) -> Result<()> {
        if self.can(action, Some(org), project) {
            return Ok(());
        }
        let read_only = self.scope.read_only && !is_read(action);
        match self.grants.get(&org) {
            // Only a read-only token keeps an administrator from anything.
            None if self.platform_admin => Err(Error::denied(action, READ_ONLY)),
            None => Err(Error::not_found("organization", org_label)),
            Some(g) => match (&g.projects, project) {
                (Some(scope), Some(p)) if !scope.contains(&p) => {
                    Err(Error::not_found("project", p))
                }
                _ if read_only => Err(Error::denied(action, READ_ONLY)),
                (Some(_), _)
                    if org_wide_only(action)
                        && g.role >= min_role(action).unwrap_or(Role::Owner) =>
                {
                    Err(Error::denied(
                        action,
                        "members (and tokens) scoped to projects may not act on the organization as a whole",
                    ))
                }
                _ => Err(Error::denied(
                    action,
                    format!(
                        "requires role {} or higher; you are {}",
                        min_role(action).map_or("platform admin", |r| r.as_str()),
                        g.role.as_str()
                    ),
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_orders_roles() {
        let org = OrgId::new();
        let viewer = Principal::user(UserId::new()).with_role(org, Role::Viewer);
        let member = Principal::user(UserId::new()).with_role(org, Role::Member);
        let admin = Principal::user(UserId::new()).with_role(org, Role::Admin);
        assert!(viewer.can(Action::ServiceView, Some(org), None));
        assert!(!viewer.can(Action::ServiceDeploy, Some(org), None));
        assert!(member.can(Action::ServiceDeploy, Some(org), None));
        assert!(!member.can(Action::ProjectCreate, Some(org), None));
        assert!(admin.can(Action::ProjectCreate, Some(org), None));
        assert!(!admin.can(Action::OrgDelete, Some(org), None));
        assert!(!admin.can(Action::PlanManage, Some(org), None));
        assert!(Principal::platform_admin(UserId::new()).can(Action::PlanManage, None, None));
    }

    #[test]
    fn strangers_get_not_found_and_members_get_denied() {
        let org = OrgId::new();
        let stranger = Principal::user(UserId::new());
        assert!(
            stranger
                .require(Action::ServiceView, org, None, "acme")
                .unwrap_err()
                .is_not_found()
        );
        let viewer = Principal::user(UserId::new()).with_role(org, Role::Viewer);
        assert!(
            viewer
                .require(Action::ServiceDeploy, org, None, "acme")
                .unwrap_err()
                .is_permission_denied()
        );
    }

    #[test]
    fn project_scope_limits_members() {
        let org = OrgId::new();
        let (p1, p2) = (ProjectId::new(), ProjectId::new());
        let mut m = Principal::user(UserId::new());
        m.grants.insert(
            org,
            Grant {
                role: Role::Admin,
                projects: Some(vec![p1]),
            },
        );
        assert!(m.can(Action::ServiceDeploy, Some(org), Some(p1)));
        assert!(!m.can(Action::ServiceDeploy, Some(org), Some(p2)));
        assert!(!m.can(Action::ProjectCreate, Some(org), None));
        assert!(
            !m.can(Action::ProjectDelete, Some(org), Some(p1)),
            "not even its own project"
        );
        for wide in [
            Action::OrgUpdate,
            Action::OrgDelete,
            Action::AlertManage,
            Action::UsageReport,
            Action::ProjectDelete,
        ] {
            assert!(!m.can(wide, Some(org), None), "{wide}");
        }
        assert!(m.can(Action::MemberManage, Some(org), None));
        assert!(m.can(Action::UsageView, Some(org), None));
        assert_eq!(m.scope_in(org), Some(&[p1][..]));
        assert!(m.covers(org, Some(&[p1])));
        assert!(m.covers(org, Some(&[])));
        assert!(!m.covers(org, Some(&[p1, p2])));
        assert!(
            !m.covers(org, None),
            "the whole organization is wider than one project"
        );
        let wide = Principal::user(UserId::new()).with_role(org, Role::Admin);
        assert!(wide.covers(org, None));
        assert_eq!(wide.scope_in(org), None);
    }

    fn restricted(orgs: Vec<(OrgId, Option<Vec<ProjectId>>)>) -> TokenScope {
        TokenScope {
            read_only: false,
            orgs: Some(
                orgs.into_iter()
                    .map(|(org, projects)| crate::model::TokenOrg { org, projects })
                    .collect(),
            ),
        }
    }

    #[test]
    fn every_action_is_a_read_or_a_change_and_reads_need_no_more_than_their_writes() {
        use Action::*;
        let reads = [
            OrgView,
            ProjectView,
            ServiceView,
            ServiceLogs,
            UsageView,
            UsageReport,
            InvitationView,
            OrgListAll,
            UserView,
            RuntimeView,
        ];
        for a in reads {
            assert!(is_read(a), "{a}");
        }
        for a in [
            ServiceDeploy,
            MemberManage,
            OrgAdminister,
            UserManage,
            RuntimeManage,
        ] {
            assert!(!is_read(a), "{a}");
        }
    }

    #[test]
    fn a_read_only_token_reads_as_its_user_and_changes_nothing() {
        let org = OrgId::new();
        let ro = TokenScope {
            read_only: true,
            orgs: None,
        };
        let owner = Principal::user(UserId::new())
            .with_role(org, Role::Owner)
            .narrowed(&ro, None);
        assert!(owner.can(Action::ServiceView, Some(org), None));
        assert!(owner.can(Action::InvitationView, Some(org), None));
        assert!(!owner.can(Action::ServiceDeploy, Some(org), None));
        let err = owner
            .require(Action::ServiceDeploy, org, None, "acme")
            .unwrap_err();
        assert!(err.is_permission_denied(), "{err}");
        assert!(err.to_string().contains("read-only"), "{err}");
        assert!(
            owner
                .require(Action::ServiceView, OrgId::new(), None, "other")
                .unwrap_err()
                .is_not_found(),
            "another organization stays unknown"
        );
        assert!(owner.require_writable("token.create").is_err());
        let admin = Principal::platform_admin(UserId::new()).narrowed(&ro, None);
        assert!(admin.require_admin(Action::OrgListAll).is_ok());
        assert!(admin.require_admin(Action::UserView).is_ok());
        let err = admin.require_admin(Action::PlanManage).unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
        let err = admin
            .require(Action::OrgDelete, org, None, "acme")
            .unwrap_err();
        assert!(err.is_permission_denied(), "{err}");
    }

    #[test]
    fn an_org_restricted_token_keeps_only_its_organizations_and_the_narrower_projects() {
        let (acme, globex) = (OrgId::new(), OrgId::new());
        let (p1, p2, p3) = (ProjectId::new(), ProjectId::new(), ProjectId::new());
        let mut user = Principal::user(UserId::new()).with_role(globex, Role::Admin);
        user.grants.insert(
            acme,
            Grant {
                role: Role::Member,
                projects: Some(vec![p1, p2]),
            },
        );
        let only_acme = user
            .clone()
            .narrowed(&restricted(vec![(acme, Some(vec![p2, p3]))]), None);
        assert_eq!(
            only_acme.scope_in(acme),
            Some(&[p2][..]),
            "the intersection"
        );
        assert!(
            only_acme
                .require(Action::OrgView, globex, None, "globex")
                .unwrap_err()
                .is_not_found()
        );
        assert!(only_acme.require_unrestricted("org.create").is_err());
        assert!(only_acme.require_writable("token.create").is_ok());
        let whole = user.narrowed(&restricted(vec![(globex, None)]), None);
        assert_eq!(whole.role_in(globex), Some(Role::Admin));
        assert_eq!(whole.scope_in(globex), None);
        assert_eq!(whole.role_in(acme), None);
    }

    #[test]
    fn an_administrators_restricted_token_is_an_owner_of_its_organizations_only() {
        let (acme, globex, p) = (OrgId::new(), OrgId::new(), ProjectId::new());
        let admin = Principal::platform_admin(UserId::new()).narrowed(
            &restricted(vec![(acme, None), (globex, Some(vec![p]))]),
            None,
        );
        assert!(!admin.platform_admin);
        assert_eq!(admin.role_in(acme), Some(Role::Owner));
        assert!(admin.can(Action::OrgDelete, Some(acme), None));
        assert_eq!(admin.scope_in(globex), Some(&[p][..]));
        assert!(!admin.can(Action::OrgDelete, Some(globex), None));
        assert!(
            admin
                .require(Action::OrgView, OrgId::new(), None, "x")
                .unwrap_err()
                .is_not_found()
        );
        let err = admin.require_admin(Action::PlanManage).unwrap_err();
        assert!(err.to_string().contains("restricted"), "{err}");
    }
}
