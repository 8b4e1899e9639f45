//! [`Plans`]: plans.

use crate::auth::Principal;
use crate::error::Result;
use crate::model::{NewPlan, Plan};
use crate::platform::{PlanUpdate, Platform};

/// Plans: the price list, its limits, read by everyone and changed by platform administrators.
///
/// Borrowed from the platform with [`Platform::plans`]; cheap to copy.
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
/// let starter = platform.plans().get(&admin, "starter").await?;
/// assert_eq!(starter.limits.max_containers, 5);
/// assert_eq!(platform.plans().list(&admin).await?.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Plans<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// The plans: see [`Plans`].
    pub fn plans(&self) -> Plans<'_> {
        Plans { platform: self }
    }
}

impl Plans<'_> {
    /// Creates a plan (platform admin only). Errors: `PermissionDenied`, `InvalidInput`,
    /// `AlreadyExists`.
    pub async fn create(self, who: &Principal, new: NewPlan) -> Result<Plan> {
        self.platform.create_plan(who, new).await
    }

    /// All plans (any authenticated principal may read them: they are the price list).
    pub async fn list(self, who: &Principal) -> Result<Vec<Plan>> {
        self.platform.list_plans(who).await
    }

    /// A plan by name (any principal may read plans: they are the price list).
    /// Errors: `NotFound`.
    pub async fn get(self, who: &Principal, name: &str) -> Result<Plan> {
        self.platform.plan(who, name).await
    }

    /// Changes a plan's display name, limits, price or currency (platform admin only).
    /// Errors: `PermissionDenied`, `NotFound`, `InvalidInput` naming the field.
    pub async fn update(self, who: &Principal, name: &str, update: PlanUpdate) -> Result<Plan> {
        self.platform.update_plan(who, name, update).await
    }

    /// Deletes a plan (platform admin only). Errors: `PermissionDenied`, `NotFound`,
    /// `Conflict` while a subscription uses it.
    pub async fn delete(self, who: &Principal, name: &str) -> Result<()> {
        self.platform.delete_plan(who, name).await
    }
}
