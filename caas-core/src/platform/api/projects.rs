//! [`Projects`]: projects of an organization.

use super::ProjectRef;
use crate::auth::Principal;
use crate::error::Result;
use crate::model::Project;
use crate::platform::{DeleteOptions, NewProject, Platform};

/// Projects: the groups of services of an organization.
///
/// Borrowed from the platform with [`Platform::projects`]; cheap to copy.
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
/// use caas_core::ProjectRef;
/// use caas_core::platform::NewProject;
///
/// platform.projects().create(&admin, "acme", NewProject::new("blog")).await?;
/// let blog = ProjectRef::new("acme", "blog");
/// assert_eq!(platform.projects().get(&admin, &blog).await?.name.as_str(), "blog");
/// assert_eq!(platform.projects().list(&admin, "acme").await?.len(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Projects<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// The projects of an organization: see [`Projects`].
    pub fn projects(&self) -> Projects<'_> {
        Projects { platform: self }
    }
}

impl Projects<'_> {
    /// Creates a project, counting it against the plan's project limit.
    /// Errors: `QuotaExceeded`, `Conflict` (subscription inactive), `AlreadyExists`,
    /// `InvalidInput`, `PermissionDenied`, `NotFound`.
    pub async fn create(self, who: &Principal, org: &str, new: NewProject) -> Result<Project> {
        self.platform.create_project(who, org, new).await
    }

    /// Projects of an organization that the principal may see.
    pub async fn list(self, who: &Principal, org: &str) -> Result<Vec<Project>> {
        self.platform.list_projects(who, org).await
    }

    /// A project by name. Errors: `NotFound`.
    pub async fn get(self, who: &Principal, project: &ProjectRef) -> Result<Project> {
        self.platform
            .project(who, &project.org, &project.project)
            .await
    }

    /// Deletes a project with all its services, its network, and — when `options.volumes` is
    /// set — its volumes; releases its quota. Errors: `NotFound`, `PermissionDenied`,
    /// `Unavailable` (what was removed before the failure stays removed; repeating the call
    /// finishes the job).
    pub async fn delete(
        self,
        who: &Principal,
        project: &ProjectRef,
        options: DeleteOptions,
    ) -> Result<()> {
        self.platform
            .delete_project(who, &project.org, &project.project, options)
            .await
    }
}
