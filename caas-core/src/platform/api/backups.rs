//! [`Backups`]: backups of volumes.

use crate::auth::Principal;
use crate::error::Result;
use crate::model::{Backup, Volume};
use crate::platform::{
    BackupRequest, Platform, RestoreOutcome, RestoreRequest, ScheduleReport, ScheduleRequest,
};
use std::time::Duration;

/// Backups of volumes: taking them, listing, deleting, schedules and restores.
///
/// Borrowed from the platform with [`Platform::backups`]; cheap to copy.
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
/// # use caas_core::platform::BackupConfig;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let runtime = InMemoryRuntime::new();
/// # runtime.add_image("caas/busybox:latest");
/// # let platform = Platform::builder()
/// #     .store(Arc::new(InMemoryStore::new()))
/// #     .runtime(Arc::new(runtime))
/// #     .backups(BackupConfig::new(Arc::new(object_store::memory::InMemory::new())))
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
/// use caas_core::platform::{BackupRequest, NewVolume};
/// use caas_core::units::GIB;
///
/// // The platform was built with `.backups(BackupConfig::new(object_store))`.
/// platform.volumes().create(&admin, "acme", NewVolume::new("shop", "uploads", GIB)).await?;
/// let backup = platform
///     .backups()
///     .create(&admin, "acme", "uploads", BackupRequest::default())
///     .await?;
/// assert_eq!(platform.backups().get(&admin, "acme", &backup.id.to_string()).await?.id, backup.id);
/// assert_eq!(platform.backups().list(&admin, "acme", "uploads").await?.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Backups<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// The backups of volumes: see [`Backups`].
    pub fn backups(&self) -> Backups<'_> {
        Backups { platform: self }
    }
}

impl Backups<'_> {
    /// Takes a backup of a volume now (see `docs/backups.md`). Returns the backup record,
    /// `succeeded` or `failed` with the reason, once the copy is over. The copy runs as a task
    /// of its own: a caller that goes away (a closed HTTP connection) does not stop it.
    ///
    /// Errors: `InvalidInput` naming the field (`pause` without `consistent`, `logical` with
    /// it, `logical` on a volume that is not a postgres, mysql or mariadb service's data),
    /// `Unsupported` (no backup destination), `Conflict` (a backup, restore or delete of the
    /// volume is running; `logical` and the database is not running), `NotFound`,
    /// `PermissionDenied` (member or higher).
    pub async fn create(
        self,
        who: &Principal,
        org: &str,
        volume: &str,
        request: BackupRequest,
    ) -> Result<Backup> {
        self.platform.backup_volume(who, org, volume, request).await
    }

    /// Starts a backup of a volume and answers as soon as its record exists, `running`; the copy
    /// goes on in the background (for a large volume, longer than an HTTP client or a proxy waits).
    /// [`Backups::get`](crate::platform::Backups::get) and the lists show how it ends; an
    /// interrupted one (the process stopped) is marked `failed` by the reconciler.
    /// [`Backups::wait_for_copies`](crate::platform::Backups::wait_for_copies) lets a shutting-down
    /// process finish it first.
    ///
    /// Errors: those of [`Backups::create`](crate::platform::Backups::create) that come before the
    /// record exists.
    pub async fn start(
        self,
        who: &Principal,
        org: &str,
        volume: &str,
        request: BackupRequest,
    ) -> Result<Backup> {
        self.platform.start_backup(who, org, volume, request).await
    }

    /// One backup of the organization. Errors: `NotFound` (also for one the principal may
    /// not see).
    pub async fn get(self, who: &Principal, org: &str, backup: &str) -> Result<Backup> {
        self.platform.backup(who, org, backup).await
    }

    /// The backups of a volume, newest first. Errors: `NotFound`, `PermissionDenied`.
    pub async fn list(self, who: &Principal, org: &str, volume: &str) -> Result<Vec<Backup>> {
        self.platform.list_backups(who, org, volume).await
    }

    /// Every backup of the organization the principal may see (of deleted volumes too),
    /// newest first. Errors: `NotFound`.
    pub async fn list_org(self, who: &Principal, org: &str) -> Result<Vec<Backup>> {
        self.platform.list_org_backups(who, org).await
    }

    /// Deletes a backup and its stored archive. Errors: `Conflict` (still running),
    /// `NotFound`, `PermissionDenied`, `Unavailable` (the store; the record stays).
    pub async fn delete(self, who: &Principal, org: &str, backup: &str) -> Result<()> {
        self.platform.delete_backup(who, org, backup).await
    }

    /// Sets (or with `None` removes) a volume's backup schedule and retention.
    /// Errors: `InvalidInput` naming the field, `NotFound`, `PermissionDenied`,
    /// `Unsupported` (no backup destination).
    pub async fn set_schedule(
        self,
        who: &Principal,
        org: &str,
        volume: &str,
        schedule: Option<ScheduleRequest>,
    ) -> Result<Volume> {
        self.platform
            .set_backup_schedule(who, org, volume, schedule)
            .await
    }

    /// Restores a succeeded backup (see `docs/backups.md`): into the volume it was taken of by
    /// default, or `request`'s existing or new volume.
    ///
    /// A logical dump is restored through the running database whose data volume the target
    /// is (see `docs/backups.md`), never into a new volume.
    ///
    /// Errors: `InvalidInput` (field `archive`: the archive failed validation — nothing was
    /// written; or a field of `request`: `new_volume` for a logical dump, `volume` when the
    /// target is not a database of the dump's engine), `Conflict` (the backup is not
    /// succeeded, its volume was deleted and no target is given, the object does not match
    /// its SHA-256, the target is busy, or a dump's database is not running), `NotFound`,
    /// `PermissionDenied` (admin or higher on the target's project), `Backend` (the database
    /// refused the dump; the message says what was left changed), `Unsupported`,
    /// `Unavailable`.
    pub async fn restore(
        self,
        who: &Principal,
        org: &str,
        backup: &str,
        request: RestoreRequest,
    ) -> Result<RestoreOutcome> {
        self.platform
            .restore_backup(who, org, backup, request)
            .await
    }

    /// Takes every scheduled backup that is due and applies retention (a system operation:
    /// no principal). Errors: `Unavailable` (the store); a failing volume lands in the report.
    pub async fn run_due(self) -> Result<ScheduleReport> {
        self.platform.run_due_backups().await
    }

    /// Waits until the manual backups and restores in progress (those started with
    /// [`Backups::start`](crate::platform::Backups::start) too) have finished, at most `within`. A
    /// process calls it when it shuts down, after it stopped taking requests, so that their records
    /// do not stay `running`. Returns whether none is left.
    pub async fn wait_for_copies(self, within: Duration) -> bool {
        self.platform.wait_for_copies(within).await
    }
}
