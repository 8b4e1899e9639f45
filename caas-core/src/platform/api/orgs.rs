//! [`Orgs`]: organizations, their subscription to a plan and their usage.

use crate::auth::Principal;
use crate::error::Result;
use crate::ids::UserId;
use crate::model::{NewOrganization, Organization, Subscription, SubscriptionStatus, Usage};
use crate::platform::{DeleteOptions, OrgUpdate, Platform, UsageReport, UsageSummary};
use crate::ports::store::OrgFilter;
use chrono::{DateTime, Utc};

/// Organizations: creation, reads, changes and deletion, subscriptions and usage.
///
/// Borrowed from the platform with [`Platform::orgs`]; cheap to copy.
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
/// use caas_core::model::NewOrganization;
///
/// let globex = platform
///     .orgs()
///     .create(&admin, NewOrganization::new("globex"), None)
///     .await?;
/// assert_eq!(platform.orgs().get(&admin, "globex").await?.id, globex.id);
/// let usage = platform.orgs().usage(&admin, "acme").await?;
/// assert_eq!(usage.committed.containers, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Orgs<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// The organizations, their subscription to a plan and their usage: see [`Orgs`].
    pub fn orgs(&self) -> Orgs<'_> {
        Orgs { platform: self }
    }
}

impl Orgs<'_> {
    /// Creates an organization. A platform admin may name any existing user as `owner`; anyone
    /// else becomes the owner of the organization they create. Errors: `InvalidInput`,
    /// `AlreadyExists` (slug), `NotFound` (owner), `PermissionDenied`.
    pub async fn create(
        self,
        who: &Principal,
        new: NewOrganization,
        owner: Option<UserId>,
    ) -> Result<Organization> {
        self.platform.create_org(who, new, owner).await
    }

    /// An organization by slug. Errors: `NotFound` (also for non-members).
    pub async fn get(self, who: &Principal, slug: &str) -> Result<Organization> {
        self.platform.org(who, slug).await
    }

    /// Organizations the principal can see: all for platform admins, their own otherwise.
    pub async fn list(self, who: &Principal, filter: &OrgFilter) -> Result<Vec<Organization>> {
        self.platform.list_orgs(who, filter).await
    }

    /// Changes an organization: its display name (owners and platform admins), its slug or
    /// status (platform admins only). Errors: `NotFound` (also for non-members),
    /// `PermissionDenied`, `InvalidInput` naming the field, `AlreadyExists` (slug).
    pub async fn update(
        self,
        who: &Principal,
        slug: &str,
        update: OrgUpdate,
    ) -> Result<Organization> {
        self.platform.update_org(who, slug, update).await
    }

    /// Deletes an organization with everything it owns: each project as
    /// [`Projects::delete`](crate::platform::Projects::delete) deletes it (services, containers,
    /// routes, network, quota; volumes when `options.volumes` is set), then any container or
    /// network still labelled with the organization, then its store records (members, subscription,
    /// reservations). Owners and platform admins only.
    ///
    /// Errors: `NotFound` (also for non-members), `PermissionDenied`, `Unavailable` (what was
    /// removed before the failure stays removed; repeating the call finishes the job).
    pub async fn delete(self, who: &Principal, slug: &str, options: DeleteOptions) -> Result<()> {
        self.platform.delete_org(who, slug, options).await
    }

    /// The organization's subscription. Errors: `NotFound`.
    pub async fn subscription(self, who: &Principal, org: &str) -> Result<Subscription> {
        self.platform.subscription(who, org).await
    }

    /// Subscribes an organization to a plan, or changes its plan or status (platform admin
    /// only). The period runs a month from now. Errors: `PermissionDenied`, `NotFound`.
    pub async fn set_subscription(
        self,
        who: &Principal,
        org: &str,
        plan_name: &str,
        status: SubscriptionStatus,
    ) -> Result<Subscription> {
        self.platform
            .set_subscription(who, org, plan_name, status)
            .await
    }

    /// What the organization uses against its plan. Errors: `NotFound`.
    pub async fn usage(self, who: &Principal, org: &str) -> Result<Usage> {
        self.platform.usage(who, org).await
    }

    /// The organization's usage per dimension with percentages and warnings at 80 %.
    /// Errors: `NotFound`, `PermissionDenied`.
    pub async fn usage_summary(self, who: &Principal, org: &str) -> Result<UsageSummary> {
        self.platform.usage_summary(who, org).await
    }

    /// An organization's usage over `[from, to)` (see `platform/usage_report.rs`). Errors:
    /// `InvalidInput` (`from` not before `to`, or a period over a year), `NotFound`,
    /// `PermissionDenied`, `Unavailable`.
    pub async fn usage_report(
        self,
        who: &Principal,
        org: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<UsageReport> {
        self.platform.usage_report(who, org, from, to).await
    }
}
