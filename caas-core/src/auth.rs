//! Who asks ([`Principal`]) and what they may do ([`Action`], [`min_role`]).
//!
//! Permissions live here, in core, and every [`Platform`](crate::Platform) operation checks them
//! before touching anything — the HTTP facade adds nothing but authentication.
//!
//! | action | minimum org role |
//! |---|---|
//! | `org.view`, `project.view`, `service.view`, `usage.view`, `usage.report` | viewer |
//! | `service.logs` | viewer |
//! | `service.deploy`, `service.operate` (start/stop/restart), `service.delete` | member |
//! | `volume.manage` (create, attach, back up, schedule backups), `volume.delete` (volumes and backups) | member |
//! | `project.create`, `project.delete`, `member.manage`, `volume.restore`, `alert.manage` | admin |
//! | `org.update`, `org.delete` | owner |
//! | `plan.manage`, `runtime.manage`, `subscription.manage`, `org.list_all`, `user.manage`, `template.manage` | platform admin only |
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

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{OrgId, ProjectId, UserId};
use crate::model::Role;

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
    /// List all organizations (platform admin).
    OrgListAll,
    /// Manage users (platform admin).
    UserManage,
}

impl Action {
    /// Dotted name used in errors, logs and the audit log.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::OrgView => "org.view",
            Self::OrgUpdate => "org.update",
            Self::OrgDelete => "org.delete",
            Self::MemberManage => "member.manage",
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
            Self::UserManage => "user.manage",
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
        ProjectCreate | ProjectDelete | MemberManage | VolumeRestore | AlertManage => {
            Some(Role::Admin)
        }
        OrgUpdate | OrgDelete => Some(Role::Owner),
        PlanManage | RuntimeManage | SubscriptionManage | OrgListAll | UserManage
        | TemplateManage => None,
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
}

impl Principal {
    /// A platform administrator.
    pub fn platform_admin(user: UserId) -> Self {
        Self {
            user,
            platform_admin: true,
            grants: HashMap::new(),
        }
    }

    /// A user with no memberships yet.
    pub fn user(user: UserId) -> Self {
        Self {
            user,
            platform_admin: false,
            grants: HashMap::new(),
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

    /// The role in `org`, if any.
    pub fn role_in(&self, org: OrgId) -> Option<Role> {
        self.grants.get(&org).map(|g| g.role)
    }

    /// Whether the principal may perform `action` in `org` (on `project`, when given).
    pub fn can(&self, action: Action, org: Option<OrgId>, project: Option<ProjectId>) -> bool {
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
        } else {
            Err(Error::denied(action, "platform administrators only"))
        }
    }

    /// Fails unless the principal may perform `action` in `org` (on `project`).
    ///
    /// Non-members get [`Error::NotFound`] naming `org_label`, so they learn nothing about other
    /// tenants; members without the role get [`Error::PermissionDenied`].
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
        match self.grants.get(&org) {
            None => Err(Error::not_found("organization", org_label)),
            Some(g) => match (&g.projects, project) {
                (Some(scope), Some(p)) if !scope.contains(&p) => {
                    Err(Error::not_found("project", p))
                }
                (Some(_), _)
                    if org_wide_only(action)
                        && g.role >= min_role(action).unwrap_or(Role::Owner) =>
                {
                    Err(Error::denied(
                        action,
                        "members scoped to projects may not act on the organization as a whole",
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
}
