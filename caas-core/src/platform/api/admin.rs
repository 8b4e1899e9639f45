//! [`Admin`]: platform administration.

use crate::auth::Principal;
use crate::error::Result;
use crate::model::AuditEntry;
use crate::platform::{AdminOrgFilter, BulkItem, BulkRequest, OrgPage, Platform};
use crate::ports::connector::{RuntimeConfig, RuntimeDetection};
use crate::ports::runtime::ConnectionReport;
use crate::ports::store::AuditFilter;

/// Platform administration: the organizations overview, suspension, bulk actions, the audit log and
/// the runtime connection.
///
/// Borrowed from the platform with [`Platform::admin`]; cheap to copy.
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
/// use caas_core::platform::AdminOrgFilter;
/// use caas_core::ports::store::AuditFilter;
///
/// let page = platform.admin().orgs(&admin, &AdminOrgFilter::default()).await?;
/// assert_eq!(page.total, 1);
/// assert!(platform.admin().suspend_org(&admin, "acme").await?);
/// let log = platform.admin().audit_log(&admin, &AuditFilter::default()).await?;
/// assert!(!log.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Admin<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// The platform administration: see [`Admin`].
    pub fn admin(&self) -> Admin<'_> {
        Admin { platform: self }
    }
}

impl Admin<'_> {
    /// Organizations with their members, containers, subscription, billing data and usage,
    /// filtered and paged, with the count of all that match (platform administrators only).
    /// Errors: `PermissionDenied`,
    /// `InvalidInput` (`limit`).
    pub async fn orgs(self, who: &Principal, filter: &AdminOrgFilter) -> Result<OrgPage> {
        self.platform.admin_orgs(who, filter).await
    }

    /// Suspends an organization (see `platform/org_admin.rs`); `false` when it already was.
    /// Errors: `NotFound`, `PermissionDenied` (platform administrators only), `Unavailable`.
    pub async fn suspend_org(self, who: &Principal, slug: &str) -> Result<bool> {
        self.platform.suspend_org(who, slug).await
    }

    /// Reactivates a suspended organization and starts the services its suspension stopped; `false`
    /// when it was active. Errors: as [`Admin::suspend_org`](crate::platform::Admin::suspend_org).
    pub async fn reactivate_org(self, who: &Principal, slug: &str) -> Result<bool> {
        self.platform.reactivate_org(who, slug).await
    }

    /// Runs `request.action` on each organization, one at a time, reporting each (platform
    /// administrators only). Errors (of the call): `PermissionDenied`, `InvalidInput`
    /// (`orgs`: empty, too many, or twice the same).
    pub async fn bulk_orgs(self, who: &Principal, request: BulkRequest) -> Result<Vec<BulkItem>> {
        self.platform.bulk_orgs(who, request).await
    }

    /// The audit log, newest first (platform administrators; organization owners for their
    /// organization's entries when `filter.org` is theirs). `filter.limit` is 1 to
    /// [`policy::MAX_AUDIT_ENTRIES`](crate::platform::policy::MAX_AUDIT_ENTRIES) and an action
    /// prefix 1-64 of `a-z0-9._`. Errors: `InvalidInput` (`limit`, `action`),
    /// `PermissionDenied`.
    pub async fn audit_log(self, who: &Principal, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        self.platform.audit_log(who, filter).await
    }

    /// The runtime configuration in use. Errors: `PermissionDenied`, `Unsupported` (no
    /// connector).
    pub async fn runtime_config(self, who: &Principal) -> Result<RuntimeConfig> {
        self.platform.runtime_config(who).await
    }

    /// Switches to the runtime configuration stored by an administrator, if any (call at
    /// start-up). Returns the configuration now in use. Errors: `InvalidInput` (a stored
    /// configuration no longer valid), `Unavailable` (store).
    pub async fn load_runtime_config(self) -> Result<Option<RuntimeConfig>> {
        self.platform.load_runtime_config().await
    }

    /// Validates, tests, persists and switches to a new runtime configuration. The switch
    /// happens even when the engine does not answer yet (the report says so), so an
    /// administrator can point the platform at an engine that is being set up.
    /// Errors: `PermissionDenied`, `InvalidInput` naming the field, `Unsupported`, `Unavailable`
    /// (store).
    pub async fn update_runtime_config(
        self,
        who: &Principal,
        config: RuntimeConfig,
    ) -> Result<ConnectionReport> {
        self.platform.update_runtime_config(who, config).await
    }

    /// Tests a configuration (the one in use when `config` is `None`) without switching.
    /// Errors: `PermissionDenied`, `InvalidInput`, `Unsupported`.
    pub async fn test_runtime(
        self,
        who: &Principal,
        config: Option<RuntimeConfig>,
    ) -> Result<ConnectionReport> {
        self.platform.test_runtime(who, config).await
    }

    /// Looks for engines in the usual places. Errors: `PermissionDenied`, `Unsupported`.
    pub async fn detect_runtime(self, who: &Principal) -> Result<RuntimeDetection> {
        self.platform.detect_runtime(who).await
    }
}
