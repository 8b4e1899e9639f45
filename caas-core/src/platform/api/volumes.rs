//! [`Volumes`]: persistent volumes.

use crate::auth::Principal;
use crate::error::Result;
use crate::platform::{NewVolume, Platform, VolumeCheckReport, VolumeView};

/// Persistent volumes of an organization: creation, reads, deletion and the size check.
///
/// Borrowed from the platform with [`Platform::volumes`]; cheap to copy.
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
/// use caas_core::platform::NewVolume;
/// use caas_core::units::GIB;
///
/// platform.volumes().create(&admin, "acme", NewVolume::new("shop", "uploads", GIB)).await?;
/// let volumes = platform.volumes().list(&admin, "acme", Some("shop")).await?;
/// assert_eq!(volumes.len(), 1);
/// platform.volumes().delete(&admin, "acme", "uploads", false).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Volumes<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// The persistent volumes: see [`Volumes`].
    pub fn volumes(&self) -> Volumes<'_> {
        Volumes { platform: self }
    }
}

impl Volumes<'_> {
    /// Creates a volume in a project: its size is reserved against the storage quota until it
    /// is deleted. Errors: `InvalidInput` naming the field, `AlreadyExists` (name in
    /// project), `QuotaExceeded`, `NotFound`, `PermissionDenied`, `Unavailable` (nothing is
    /// left behind).
    pub async fn create(self, who: &Principal, org: &str, new: NewVolume) -> Result<VolumeView> {
        self.platform.create_volume(who, org, new).await
    }

    /// The volumes of an organization (of one project when given) the principal may see.
    /// Errors: `NotFound`, `PermissionDenied`.
    pub async fn list(
        self,
        who: &Principal,
        org: &str,
        project: Option<&str>,
    ) -> Result<Vec<VolumeView>> {
        self.platform.list_volumes(who, org, project).await
    }

    /// One volume, by id or by name (a name must be unique in the organization; otherwise
    /// use the id). Errors: `NotFound`, `Conflict` (ambiguous name), `PermissionDenied`.
    pub async fn get(self, who: &Principal, org: &str, volume: &str) -> Result<VolumeView> {
        self.platform.volume(who, org, volume).await
    }

    /// Deletes a volume and its data, releasing its storage quota. Refused while a service
    /// mounts it unless `force`: then each such service is first recreated without the mount.
    /// Backups of the volume are kept.
    ///
    /// Errors: `Conflict` (mounted, not forced; or the runtime still uses it), `NotFound`,
    /// `PermissionDenied`, `Unavailable` (the record stays until the runtime object is gone).
    pub async fn delete(self, who: &Principal, org: &str, volume: &str, force: bool) -> Result<()> {
        self.platform.delete_volume(who, org, volume, force).await
    }

    /// Measures every volume's usage through the runtime, records it, moves volumes between
    /// `ok`, `warning` and `full`, fires and resolves alerts and records events on the services
    /// that mount a volume whose state got worse. A system operation (no principal).
    /// Errors: `Unavailable` (the store); a volume the runtime cannot measure is reported.
    pub async fn check(self) -> Result<VolumeCheckReport> {
        self.platform.check_volumes().await
    }
}
