//! [`Members`]: members of an organization and invitations to join it.

use crate::auth::Principal;
use crate::error::Result;
use crate::model::Invitation;
use crate::platform::{
    CreatedInvitation, MemberUpdate, MemberView, NewInvitation, NewMember, Platform,
};

/// Members and invitations: who belongs to an organization, with which role.
///
/// Borrowed from the platform with [`Platform::members`]; cheap to copy.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::{InMemoryRuntime, InMemoryStore};
/// # use caas_core::model::{NewOrganization, NewPlan, PlanLimits, SubscriptionStatus};
/// # use caas_core::platform::NewProject;
/// # use caas_core::units::GIB;
/// # use caas_core::Platform;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let runtime = InMemoryRuntime::new();
/// # runtime.add_image("caas/busybox:latest");
/// # let platform = Platform::builder()
/// #     .store(Arc::new(InMemoryStore::new()))
/// #     .runtime(Arc::new(runtime))
/// #     .build()?;
/// # let admin = platform.users().ensure_platform_admin("ops@example.com").await?;
/// # let admin = platform.principal_for(admin.id).await?;
/// # let limits = PlanLimits {
/// #     cpu_millis: 2_000,
/// #     memory_bytes: 2 * GIB,
/// #     storage_bytes: 10 * GIB,
/// #     max_containers: 5,
/// #     max_projects: 2,
/// #     max_domains: 10,
/// #     max_pids: 512,
/// #     backup_storage_bytes: 20 * GIB,
/// # };
/// # platform.plans().create(&admin, NewPlan::new("starter", limits)).await?;
/// # platform.orgs().create(&admin, NewOrganization::new("acme"), None).await?;
/// # platform
/// #     .orgs()
/// #     .set_subscription(&admin, "acme", "starter", SubscriptionStatus::Active)
/// #     .await?;
/// # platform.projects().create(&admin, "acme", NewProject::new("shop")).await?;
/// use caas_core::model::{NewUser, Role};
/// use caas_core::platform::NewMember;
///
/// let ann = platform.users().create(&admin, NewUser::new("ann@example.com")).await?;
/// platform
///     .members()
///     .add(&admin, "acme", NewMember::new(ann.id.to_string(), Role::Member))
///     .await?;
/// assert!(platform.members().list(&admin, "acme").await?.iter().any(|m| m.user == ann.id));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Members<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// The members of an organization and invitations to join it: see [`Members`].
    pub fn members(&self) -> Members<'_> {
        Members { platform: self }
    }
}

impl Members<'_> {
    /// The members of an organization. Errors: `NotFound`.
    pub async fn list(self, who: &Principal, org: &str) -> Result<Vec<MemberView>> {
        self.platform.list_members(who, org).await
    }

    /// Adds an existing user to an organization. Errors: `NotFound` (user), `AlreadyExists`
    /// (already a member), `InvalidInput` (a project), `PermissionDenied` (admin or higher;
    /// owner to add an owner).
    pub async fn add(self, who: &Principal, org: &str, new: NewMember) -> Result<MemberView> {
        self.platform.add_member(who, org, new).await
    }

    /// Changes a member's role or project scope. Errors: `NotFound`, `Conflict` (demoting
    /// the last owner), `InvalidInput`, `PermissionDenied` (admin or higher; owner for
    /// anything about the owner role).
    pub async fn update(
        self,
        who: &Principal,
        org: &str,
        user: &str,
        update: MemberUpdate,
    ) -> Result<MemberView> {
        self.platform.update_member(who, org, user, update).await
    }

    /// Removes a member (a member may always remove themselves, but not with a read-only
    /// token). Errors: `NotFound`, `Conflict` (the last owner), `PermissionDenied`.
    pub async fn remove(self, who: &Principal, org: &str, user: &str) -> Result<()> {
        self.platform.remove_member(who, org, user).await
    }

    /// Makes `to` (a member) an owner and the calling owner an admin. Errors: `NotFound`,
    /// `PermissionDenied` (owners and platform administrators only).
    pub async fn transfer_ownership(
        self,
        who: &Principal,
        org: &str,
        to: &str,
    ) -> Result<MemberView> {
        self.platform.transfer_ownership(who, org, to).await
    }

    /// Invites an address: the token goes to the mailer and is returned once. Errors:
    /// `InvalidInput` naming the field, `Conflict` (already a member, or invited and not
    /// expired), `PermissionDenied` (admin or higher; owner to invite an owner),
    /// `Unavailable` (the mailer; nothing is kept).
    pub async fn invite(
        self,
        who: &Principal,
        org: &str,
        new: NewInvitation,
    ) -> Result<CreatedInvitation> {
        self.platform.invite(who, org, new).await
    }

    /// The organization's pending invitations (expired ones included until used up or
    /// revoked). Errors: `NotFound`, `PermissionDenied` (admin or higher).
    pub async fn invitations(self, who: &Principal, org: &str) -> Result<Vec<Invitation>> {
        self.platform.list_invitations(who, org).await
    }

    /// Revokes an invitation. Errors: `NotFound`, `PermissionDenied`.
    pub async fn revoke_invitation(self, who: &Principal, org: &str, id: &str) -> Result<()> {
        self.platform.revoke_invitation(who, org, id).await
    }

    /// Accepts an invitation for the calling user (whose address must be the invited one):
    /// they become a member with the invited role; the token is used up. Errors: `NotFound`
    /// (unknown or used token), `Conflict` (expired), `PermissionDenied` (another address; a
    /// read-only token, or one restricted to organizations).
    pub async fn accept_invitation(self, who: &Principal, token: &str) -> Result<MemberView> {
        self.platform.accept_invitation(who, token).await
    }

    /// Declines an invitation for the calling user; the token is used up. Errors: as
    /// [`Members::accept_invitation`](crate::platform::Members::accept_invitation).
    pub async fn decline_invitation(self, who: &Principal, token: &str) -> Result<()> {
        self.platform.decline_invitation(who, token).await
    }
}
