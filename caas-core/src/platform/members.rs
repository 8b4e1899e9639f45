//! Members of an organization and invitations to join it.
//!
//! - Admins add existing users, change roles and project scopes, and remove members; only
//!   owners (and platform administrators) grant, change or take away the owner role, and
//!   owners always hold every project. Nobody grants a role or a project scope wider than
//!   their own: an admin scoped to projects adds, invites, changes and removes members only
//!   within those projects (naming them: no project list means the whole organization), and
//!   changes neither its own membership nor one wider than its own (see [`crate::auth`]). An
//!   organization always keeps at least one owner: the last one can be neither removed nor
//!   demoted — transfer the ownership first. Anyone may leave an organization (but the last
//!   owner).
//! - Invitations carry a random token, stored only as its SHA-256 and handed to the
//!   [`Mailer`](crate::ports::mailer::Mailer) (and returned once to whoever invited). They
//!   expire (1 to 30 days, 7 by default); accepting or declining uses them up, and only the
//!   invited address may do either. Admins list and revoke them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::tokens::token_hash;
use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{InvitationId, ProjectId, UserId};
use crate::model::{Invitation, Member, Organization, Role};
use crate::ports::mailer::InvitationMail;
use crate::validate;

/// Length of an invitation token (base62 characters after the prefix).
const TOKEN_LEN: usize = 40;
/// Prefix of invitation tokens, so they are recognisable in logs and scanners.
pub const INVITATION_PREFIX: &str = "caas_inv_";

/// A member, with the user's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberView {
    /// The user.
    pub user: UserId,
    /// Their e-mail address.
    pub email: String,
    /// Their name.
    pub display_name: String,
    /// Their role.
    pub role: Role,
    /// When set, the only projects they may see (names).
    pub projects: Option<Vec<String>>,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
}

/// A member to add: an existing user by e-mail address or id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewMember {
    /// The user's e-mail address or id.
    pub user: String,
    /// Role.
    pub role: Role,
    /// Only these projects (names); every project when absent.
    #[serde(default)]
    pub projects: Option<Vec<String>>,
}

impl NewMember {
    /// `user` (e-mail or id) as `role` on every project.
    pub fn new(user: impl Into<String>, role: Role) -> Self {
        Self {
            user: user.into(),
            role,
            projects: None,
        }
    }
    /// Only these projects.
    pub fn projects(mut self, projects: Vec<String>) -> Self {
        self.projects = Some(projects);
        self
    }
}

/// Changes to a membership.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MemberUpdate {
    /// A new role.
    #[serde(default)]
    pub role: Option<Role>,
    /// New project scope: a list of names, or `[]`-free `null` for every project (send
    /// `{"projects": null}` explicitly to lift a scope).
    #[serde(default, with = "double_option")]
    pub projects: Option<Option<Vec<String>>>,
}

impl MemberUpdate {
    /// Only a new role.
    pub fn role(role: Role) -> Self {
        Self {
            role: Some(role),
            projects: None,
        }
    }
    /// Only a new project scope (`None`: every project).
    pub fn projects(projects: Option<Vec<String>>) -> Self {
        Self {
            role: None,
            projects: Some(projects),
        }
    }
}

/// `Option<Option<T>>` that tells an absent field from an explicit `null`.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(inner) => inner.serialize(s),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// An invitation to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewInvitation {
    /// The address to invite.
    pub email: String,
    /// Role granted on acceptance.
    pub role: Role,
    /// Only these projects (names); every project when absent.
    #[serde(default)]
    pub projects: Option<Vec<String>>,
    /// Days until it expires (1-30, default 7).
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

impl NewInvitation {
    /// Invites `email` as `role` for a week.
    pub fn new(email: impl Into<String>, role: Role) -> Self {
        Self {
            email: email.into(),
            role,
            projects: None,
            expires_in_days: None,
        }
    }
    /// Only these projects.
    pub fn projects(mut self, projects: Vec<String>) -> Self {
        self.projects = Some(projects);
        self
    }
    /// Another validity.
    pub fn expires_in_days(mut self, days: u32) -> Self {
        self.expires_in_days = Some(days);
        self
    }
}

/// A created invitation and its token, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedInvitation {
    /// The invitation.
    pub invitation: Invitation,
    /// The secret token.
    pub token: String,
}

fn new_token() -> String {
    use rand::Rng;
    let body: String = rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(TOKEN_LEN)
        .map(char::from)
        .collect();
    format!("{INVITATION_PREFIX}{body}")
}

impl Platform {
    /// A member as `who` may see it: project names outside `who`'s scope are left out.
    async fn member_view(&self, who: &Principal, m: &Member) -> Result<MemberView> {
        let user = self.inner.store.directory.user(m.user).await?;
        let visible = |id: &ProjectId| who.scope_in(m.org).is_none_or(|s| s.contains(id));
        let projects = match &m.projects {
            None => None,
            Some(ids) => {
                let mut names = Vec::new();
                for id in ids.iter().filter(|id| visible(id)) {
                    if let Ok(p) = self.inner.store.services.project(*id).await {
                        names.push(p.name.to_string());
                    }
                }
                Some(names)
            }
        };
        Ok(MemberView {
            user: m.user,
            email: user.email,
            display_name: user.display_name,
            role: m.role,
            projects,
            joined_at: m.created_at,
        })
    }

    /// The members of an organization. Errors: `NotFound`.
    pub(crate) async fn list_members(
        &self,
        who: &Principal,
        org_slug: &str,
    ) -> Result<Vec<MemberView>> {
        let org = self.authorize_org(who, org_slug, Action::OrgView).await?;
        let mut out = Vec::new();
        for m in self.inner.store.directory.members(org.id).await? {
            out.push(self.member_view(who, &m).await?);
        }
        Ok(out)
    }

    /// Resolves a user by e-mail address or id. Errors: `NotFound`, `InvalidInput` naming
    /// `field` (neither an id nor an address).
    pub(super) async fn find_user(&self, field: &str, user: &str) -> Result<crate::model::User> {
        let not_found = || Error::not_found("user", user);
        if let Ok(id) = user.parse::<uuid::Uuid>() {
            return self
                .inner
                .store
                .directory
                .user(UserId(id))
                .await
                .map_err(|e| if e.is_not_found() { not_found() } else { e });
        }
        validate::email(field, &user.trim().to_ascii_lowercase())?;
        self.inner
            .store
            .directory
            .user_by_email_opt(&user.trim().to_ascii_lowercase())
            .await?
            .ok_or_else(not_found)
    }

    /// The ids of the named projects, as a scope `who` grants: projects outside `who`'s own
    /// scope are no project at all to them. Errors: `InvalidInput` naming `field[i]`.
    async fn project_ids(
        &self,
        who: &Principal,
        org: &Organization,
        field: &str,
        names: &Option<Vec<String>>,
    ) -> Result<Option<Vec<ProjectId>>> {
        let Some(names) = names else { return Ok(None) };
        let mut ids = Vec::new();
        for (i, n) in names.iter().enumerate() {
            let p = self
                .inner
                .store
                .services
                .project_by_name_opt(org.id, n)
                .await?
                .filter(|p| who.can(Action::ProjectView, Some(org.id), Some(p.id)))
                .ok_or_else(|| {
                    Error::invalid(format!("{field}[{i}]"), format!("no project '{n}'"))
                })?;
            if !ids.contains(&p.id) {
                ids.push(p.id);
            }
        }
        Ok(Some(ids))
    }

    /// Whether `who` may grant or take the owner role in `org`.
    fn may_touch_owners(who: &Principal, org: &Organization) -> bool {
        who.platform_admin || who.role_in(org.id) == Some(Role::Owner)
    }

    /// Refuses a grant of `role` on `scope` wider than what `who` holds: a role above their
    /// own, a scope beyond theirs, an owner scoped to projects. Errors: `PermissionDenied`,
    /// `InvalidInput` naming `projects`.
    fn check_grant(
        who: &Principal,
        org: &Organization,
        role: Role,
        scope: Option<&[ProjectId]>,
    ) -> Result<()> {
        if role == Role::Owner && scope.is_some() {
            return Err(Error::invalid(
                "projects",
                "owners hold every project; leave 'projects' out",
            ));
        }
        if !who.platform_admin && who.role_in(org.id).is_none_or(|mine| role > mine) {
            return Err(Error::denied(
                Action::MemberManage,
                format!("you cannot grant the role {} above your own", role.as_str()),
            ));
        }
        if !who.covers(org.id, scope) {
            return Err(Error::denied(
                Action::MemberManage,
                "you may grant access only to projects of your own scope: name them in 'projects' (none means the whole organization)",
            ));
        }
        Ok(())
    }

    /// Refuses `who` changing or removing the membership `target` when it is wider than
    /// their own (or, for a scoped member, their own). Errors: `PermissionDenied`.
    fn check_touch(who: &Principal, org: &Organization, target: &Member) -> Result<()> {
        let scoped = who.scope_in(org.id).is_some();
        if scoped && target.user == who.user {
            return Err(Error::denied(
                Action::MemberManage,
                "members scoped to projects cannot change their own role or scope",
            ));
        }
        if !who.covers(org.id, target.projects.as_deref()) {
            return Err(Error::denied(
                Action::MemberManage,
                "this member's scope is wider than yours",
            ));
        }
        Ok(())
    }

    async fn owners(&self, org: &Organization) -> Result<usize> {
        Ok(self
            .inner
            .store
            .directory
            .members(org.id)
            .await?
            .iter()
            .filter(|m| m.role == Role::Owner)
            .count())
    }

    /// Adds an existing user to an organization. Errors: `NotFound` (user), `AlreadyExists`
    /// (already a member), `InvalidInput` (a project), `PermissionDenied` (admin or higher;
    /// owner to add an owner).
    #[instrument(skip_all, fields(caas.org = %org_slug))]
    pub(crate) async fn add_member(
        &self,
        who: &Principal,
        org_slug: &str,
        new: NewMember,
    ) -> Result<MemberView> {
        let org = self
            .authorize_org(who, org_slug, Action::MemberManage)
            .await?;
        if new.role == Role::Owner && !Self::may_touch_owners(who, &org) {
            return Err(Error::denied(
                Action::MemberManage,
                "only owners may add owners",
            ));
        }
        let projects = self
            .project_ids(who, &org, "projects", &new.projects)
            .await?;
        Self::check_grant(who, &org, new.role, projects.as_deref())?;
        let user = self.find_user("user", &new.user).await?;
        if self
            .inner
            .store
            .directory
            .members(org.id)
            .await?
            .iter()
            .any(|m| m.user == user.id)
        {
            return Err(Error::already_exists("member", &user.email));
        }
        let member = Member {
            org: org.id,
            user: user.id,
            role: new.role,
            projects,
            created_at: self.now(),
        };
        self.inner
            .store
            .directory_admin()?
            .put_member(&member)
            .await?;
        self.audit(
            Some(who),
            Some(org.id),
            "member.add",
            format!("user:{}", user.id),
            None,
            json(&member),
        )
        .await;
        self.member_view(who, &member).await
    }

    async fn membership(&self, org: &Organization, user: UserId) -> Result<Member> {
        self.inner
            .store
            .directory
            .members(org.id)
            .await?
            .into_iter()
            .find(|m| m.user == user)
            .ok_or_else(|| Error::not_found("member", user))
    }

    /// Changes a member's role or project scope. Errors: `NotFound`, `Conflict` (demoting
    /// the last owner), `InvalidInput`, `PermissionDenied` (admin or higher; owner for
    /// anything about the owner role).
    #[instrument(skip_all, fields(caas.org = %org_slug))]
    pub(crate) async fn update_member(
        &self,
        who: &Principal,
        org_slug: &str,
        user: &str,
        update: MemberUpdate,
    ) -> Result<MemberView> {
        let org = self
            .authorize_org(who, org_slug, Action::MemberManage)
            .await?;
        let target = self.find_user("user", user).await?;
        let before = self.membership(&org, target.id).await?;
        Self::check_touch(who, &org, &before)?;
        let mut after = before.clone();
        if let Some(role) = update.role {
            let touches_owner = role == Role::Owner || before.role == Role::Owner;
            if touches_owner && !Self::may_touch_owners(who, &org) {
                return Err(Error::denied(
                    Action::MemberManage,
                    "only owners may grant or take the owner role",
                ));
            }
            if before.role == Role::Owner && role != Role::Owner && self.owners(&org).await? <= 1 {
                return Err(Error::conflict(
                    "this is the organization's last owner: transfer the ownership first",
                ));
            }
            after.role = role;
        }
        if let Some(projects) = update.projects {
            after.projects = self.project_ids(who, &org, "projects", &projects).await?;
        }
        if after != before {
            Self::check_grant(who, &org, after.role, after.projects.as_deref())?;
            self.inner
                .store
                .directory_admin()?
                .put_member(&after)
                .await?;
            self.audit(
                Some(who),
                Some(org.id),
                "member.update",
                format!("user:{}", target.id),
                json(&before),
                json(&after),
            )
            .await;
        }
        self.member_view(who, &after).await
    }

    /// Removes a member (a member may always remove themselves, but not with a read-only
    /// token). Errors: `NotFound`, `Conflict` (the last owner), `PermissionDenied`.
    #[instrument(skip_all, fields(caas.org = %org_slug))]
    pub(crate) async fn remove_member(
        &self,
        who: &Principal,
        org_slug: &str,
        user: &str,
    ) -> Result<()> {
        let org = self.authorize_org(who, org_slug, Action::OrgView).await?;
        // Permission before the lookup's outcome: a viewer must not learn which addresses
        // have an account from a 404 versus a 403.
        let target = self.find_user("user", user).await;
        let leaving = matches!(&target, Ok(t) if t.id == who.user);
        if leaving {
            who.require_writable("member.leave")?;
        } else {
            who.require(Action::MemberManage, org.id, None, org_slug)?;
        }
        let target = target?;
        let m = self.membership(&org, target.id).await?;
        if !leaving {
            Self::check_touch(who, &org, &m)?;
        }
        if m.role == Role::Owner {
            if !leaving && !Self::may_touch_owners(who, &org) {
                return Err(Error::denied(
                    Action::MemberManage,
                    "only owners may remove owners",
                ));
            }
            if self.owners(&org).await? <= 1 {
                return Err(Error::conflict(
                    "this is the organization's last owner: transfer the ownership first",
                ));
            }
        }
        self.inner
            .store
            .directory_admin()?
            .remove_member(org.id, target.id)
            .await?;
        self.audit(
            Some(who),
            Some(org.id),
            "member.remove",
            format!("user:{}", target.id),
            json(&m),
            None,
        )
        .await;
        Ok(())
    }

    /// Makes `to` (a member) an owner and the calling owner an admin. Errors: `NotFound`,
    /// `PermissionDenied` (owners and platform administrators only).
    #[instrument(skip_all, fields(caas.org = %org_slug))]
    pub(crate) async fn transfer_ownership(
        &self,
        who: &Principal,
        org_slug: &str,
        to: &str,
    ) -> Result<MemberView> {
        let org = self.authorize_org(who, org_slug, Action::OrgView).await?;
        who.require_writable(Action::OrgUpdate)?;
        if !Self::may_touch_owners(who, &org) {
            return Err(Error::denied(
                Action::OrgUpdate,
                "only owners may transfer the ownership",
            ));
        }
        if who.scope_in(org.id).is_some() {
            return Err(Error::denied(
                Action::OrgUpdate,
                "members scoped to projects cannot transfer the ownership",
            ));
        }
        let target = self.find_user("to", to).await?;
        let mut m = self.membership(&org, target.id).await?;
        let before = m.clone();
        // Owners hold every project.
        m.role = Role::Owner;
        m.projects = None;
        self.inner.store.directory_admin()?.put_member(&m).await?;
        if who.user != target.id
            && let Ok(mut me) = self.membership(&org, who.user).await
            && me.role == Role::Owner
        {
            me.role = Role::Admin;
            self.inner.store.directory_admin()?.put_member(&me).await?;
        }
        self.audit(
            Some(who),
            Some(org.id),
            "org.transfer_ownership",
            format!("user:{}", target.id),
            json(&before),
            json(&m),
        )
        .await;
        self.member_view(who, &m).await
    }

    /// Invites an address: the token goes to the mailer and is returned once. Errors:
    /// `InvalidInput` naming the field, `Conflict` (already a member, or invited and not
    /// expired), `PermissionDenied` (admin or higher; owner to invite an owner),
    /// `Unavailable` (the mailer; nothing is kept).
    #[instrument(skip_all, fields(caas.org = %org_slug))]
    pub(crate) async fn invite(
        &self,
        who: &Principal,
        org_slug: &str,
        new: NewInvitation,
    ) -> Result<CreatedInvitation> {
        let org = self
            .authorize_org(who, org_slug, Action::MemberManage)
            .await?;
        // Accepting adds a member: refused up front when the host application owns members.
        self.inner.store.directory_admin()?;
        if new.role == Role::Owner && !Self::may_touch_owners(who, &org) {
            return Err(Error::denied(
                Action::MemberManage,
                "only owners may invite owners",
            ));
        }
        let projects = self
            .project_ids(who, &org, "projects", &new.projects)
            .await?;
        Self::check_grant(who, &org, new.role, projects.as_deref())?;
        let email = new.email.trim().to_ascii_lowercase();
        validate::email("email", &email)?;
        let days = new.expires_in_days.unwrap_or(7);
        if !(1..=30).contains(&days) {
            return Err(Error::invalid("expires_in_days", "must be 1-30"));
        }
        if let Some(u) = self.inner.store.directory.user_by_email_opt(&email).await?
            && self
                .inner
                .store
                .directory
                .members(org.id)
                .await?
                .iter()
                .any(|m| m.user == u.id)
        {
            return Err(Error::conflict(format!("{email} is already a member")));
        }
        let now = self.now();
        for i in self
            .inner
            .store
            .invitations
            .list_invitations(org.id)
            .await?
        {
            if i.email == email {
                if i.expires_at > now {
                    return Err(Error::conflict(format!(
                        "{email} is already invited (until {}); revoke that invitation first",
                        i.expires_at
                    )));
                }
                self.inner.store.invitations.delete_invitation(i.id).await?;
            }
        }
        let token = new_token();
        let invitation = Invitation {
            id: InvitationId::new(),
            org: org.id,
            email: email.clone(),
            role: new.role,
            projects,
            token_sha256: token_hash(&token),
            invited_by: who.user,
            expires_at: now + chrono::Duration::days(i64::from(days)),
            created_at: now,
        };
        self.inner
            .store
            .invitations
            .create_invitation(&invitation)
            .await?;
        if let Some(mailer) = &self.inner.mailer {
            let inviter = self
                .inner
                .store
                .directory
                .user(who.user)
                .await
                .map(|u| u.email)
                .unwrap_or_default();
            let mail = InvitationMail {
                to: email,
                org: org.slug.to_string(),
                org_name: org.display_name.clone(),
                role: new.role,
                invited_by: inviter,
                token: token.clone(),
                expires_at: invitation.expires_at,
            };
            if let Err(e) = mailer.send_invitation(&mail).await {
                let _ = self
                    .inner
                    .store
                    .invitations
                    .delete_invitation(invitation.id)
                    .await;
                return Err(e);
            }
        }
        self.audit(
            Some(who),
            Some(org.id),
            "invitation.create",
            format!("invitation:{}", invitation.id),
            None,
            json(&invitation),
        )
        .await;
        Ok(CreatedInvitation { invitation, token })
    }

    /// The organization's pending invitations (expired ones included until used up or
    /// revoked). Errors: `NotFound`, `PermissionDenied` (admin or higher).
    pub(crate) async fn list_invitations(
        &self,
        who: &Principal,
        org_slug: &str,
    ) -> Result<Vec<Invitation>> {
        let org = self
            .authorize_org(who, org_slug, Action::InvitationView)
            .await?;
        Ok(self
            .inner
            .store
            .invitations
            .list_invitations(org.id)
            .await?
            .into_iter()
            .filter(|i| who.covers(org.id, i.projects.as_deref()))
            .collect())
    }

    /// Revokes an invitation. Errors: `NotFound`, `PermissionDenied`.
    pub(crate) async fn revoke_invitation(
        &self,
        who: &Principal,
        org_slug: &str,
        id: &str,
    ) -> Result<()> {
        let org = self
            .authorize_org(who, org_slug, Action::MemberManage)
            .await?;
        let not_found = || Error::not_found("invitation", id);
        let id: uuid::Uuid = id.parse().map_err(|_| not_found())?;
        let inv = match self
            .inner
            .store
            .invitations
            .invitation(InvitationId(id))
            .await
        {
            // An invitation wider than the caller's scope is not theirs to see.
            Ok(i) if i.org == org.id && who.covers(org.id, i.projects.as_deref()) => i,
            Ok(_) => return Err(not_found()),
            Err(e) if e.is_not_found() => return Err(not_found()),
            Err(e) => return Err(e),
        };
        self.inner
            .store
            .invitations
            .delete_invitation(inv.id)
            .await?;
        self.audit(
            Some(who),
            Some(org.id),
            "invitation.revoke",
            format!("invitation:{}", inv.id),
            json(&inv),
            None,
        )
        .await;
        Ok(())
    }

    /// The invitation behind a token, if it is the caller's and still valid.
    async fn own_invitation(
        &self,
        who: &Principal,
        token: &str,
    ) -> Result<(Invitation, crate::model::User)> {
        let not_found = || Error::not_found("invitation", "(token)");
        let inv = self
            .inner
            .store
            .invitations
            .invitation_by_hash_opt(&token_hash(token))
            .await?
            .ok_or_else(not_found)?;
        let user = self.inner.store.directory.user(who.user).await?;
        if user.email != inv.email {
            return Err(Error::denied(
                Action::OrgView,
                "this invitation is for another address",
            ));
        }
        if inv.expires_at <= self.now() {
            self.inner
                .store
                .invitations
                .delete_invitation(inv.id)
                .await?;
            return Err(Error::conflict(
                "the invitation has expired; ask for a new one",
            ));
        }
        Ok((inv, user))
    }

    /// Accepts an invitation for the calling user (whose address must be the invited one):
    /// they become a member with the invited role; the token is used up. Errors: `NotFound`
    /// (unknown or used token), `Conflict` (expired), `PermissionDenied` (another address; a
    /// read-only token, or one restricted to organizations).
    #[instrument(skip_all)]
    pub(crate) async fn accept_invitation(
        &self,
        who: &Principal,
        token: &str,
    ) -> Result<MemberView> {
        who.require_unrestricted("invitation.accept")?;
        let (inv, user) = self.own_invitation(who, token).await?;
        let org = self.inner.store.directory.org(inv.org).await?;
        let existing = self
            .inner
            .store
            .directory
            .members(org.id)
            .await?
            .into_iter()
            .find(|m| m.user == user.id);
        let member = match existing {
            Some(m) => m,
            None => {
                let m = Member {
                    org: org.id,
                    user: user.id,
                    role: inv.role,
                    projects: inv.projects.clone(),
                    created_at: self.now(),
                };
                self.inner.store.directory_admin()?.put_member(&m).await?;
                m
            }
        };
        self.inner
            .store
            .invitations
            .delete_invitation(inv.id)
            .await?;
        self.audit(
            Some(who),
            Some(org.id),
            "invitation.accept",
            format!("invitation:{}", inv.id),
            json(&inv),
            json(&member),
        )
        .await;
        self.member_view(who, &member).await
    }

    /// Declines an invitation for the calling user; the token is used up. Errors: as
    /// [`Members::accept_invitation`](crate::platform::Members::accept_invitation).
    pub(crate) async fn decline_invitation(&self, who: &Principal, token: &str) -> Result<()> {
        who.require_unrestricted("invitation.decline")?;
        let (inv, _) = self.own_invitation(who, token).await?;
        self.inner
            .store
            .invitations
            .delete_invitation(inv.id)
            .await?;
        self.audit(
            Some(who),
            Some(inv.org),
            "invitation.decline",
            format!("invitation:{}", inv.id),
            json(&inv),
            None,
        )
        .await;
        Ok(())
    }
}
