//! [`Services`]: services: apps and databases.

use super::{ProjectRef, ServiceRef};
use crate::auth::Principal;
use crate::error::Result;
use crate::ids::DeploymentId;
use crate::model::{Deployment, Service};
use crate::platform::{
    DeleteOptions, DeployApp, DeployDatabase, DeployedDatabase, LifecycleOutcome, Platform,
    ServiceUpdate, UpdateResult,
};
use crate::ports::runtime::{LogLine, LogOptions};
use futures::stream::BoxStream;

/// Services (apps and databases): deploys, reads, lifecycle, updates, rollbacks and logs.
///
/// Borrowed from the platform with [`Platform::services`]; cheap to copy.
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
/// use caas_core::model::{ServiceSpec, ServiceStatus};
/// use caas_core::platform::{DeleteOptions, DeployApp};
/// use caas_core::validate::ImageRef;
/// use caas_core::ProjectRef;
///
/// let shop = ProjectRef::new("acme", "shop");
/// let spec = ServiceSpec::new(ImageRef::parse("caas/busybox:latest")?);
/// let web = platform
///     .services()
///     .deploy_app(&admin, &shop, DeployApp::new("web", spec))
///     .await?;
/// assert_eq!(web.status, ServiceStatus::Running);
///
/// let web = shop.service("web");
/// platform.services().stop(&admin, &web).await?;
/// assert_eq!(platform.services().get(&admin, &web).await?.status, ServiceStatus::Stopped);
/// platform.services().delete(&admin, &web, DeleteOptions::default()).await?;
/// assert!(platform.services().list(&admin, &shop).await?.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Services<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// The services: apps and databases: see [`Services`].
    pub fn services(&self) -> Services<'_> {
        Services { platform: self }
    }
}

impl Services<'_> {
    /// Deploys an app into a project and starts it. Returns the service (secrets redacted).
    ///
    /// Errors: `InvalidInput` (naming the field), `AlreadyExists` (service name),
    /// `QuotaExceeded`, `Conflict` (inactive subscription), `NotFound` (project, image),
    /// `PermissionDenied`, `Unavailable` (runtime or store; nothing is left behind).
    pub async fn deploy_app(
        self,
        who: &Principal,
        project: &ProjectRef,
        app: DeployApp,
    ) -> Result<Service> {
        self.platform
            .deploy_app(who, &project.org, &project.project, app)
            .await
    }

    /// Deploys a database: a service with its data on a persistent volume, credentials
    /// generated and passed through the engine's documented environment variables. The
    /// credentials are in the result and never returned again.
    ///
    /// Errors: as [`Services::deploy_app`](crate::platform::Services::deploy_app).
    pub async fn deploy_database(
        self,
        who: &Principal,
        project: &ProjectRef,
        db: DeployDatabase,
    ) -> Result<DeployedDatabase> {
        self.platform
            .deploy_database(who, &project.org, &project.project, db)
            .await
    }

    /// A service by name (secrets redacted). Errors: `NotFound`.
    pub async fn get(self, who: &Principal, service: &ServiceRef) -> Result<Service> {
        self.platform
            .service(who, &service.org, &service.project, &service.service)
            .await
    }

    /// Services of a project (secrets redacted). Errors: `NotFound`.
    pub async fn list(self, who: &Principal, project: &ProjectRef) -> Result<Vec<Service>> {
        self.platform
            .list_services(who, &project.org, &project.project)
            .await
    }

    /// Deletes a service: stops and removes every container labelled with it, its routes, its
    /// record (with its deployments and events), and releases its quota. Its volumes are kept
    /// unless `options.volumes` is set (a volume another service of the project still mounts is
    /// always kept). Idempotent for containers already gone.
    ///
    /// Errors: `NotFound`, `PermissionDenied`, `Unavailable` (nothing is deleted from the store
    /// until the runtime confirmed the containers are gone).
    pub async fn delete(
        self,
        who: &Principal,
        service: &ServiceRef,
        options: DeleteOptions,
    ) -> Result<()> {
        self.platform
            .delete_service(
                who,
                &service.org,
                &service.project,
                &service.service,
                options,
            )
            .await
    }

    /// Starts a stopped service; a running one is left alone (`changed: false`).
    /// Errors: `NotFound`, `PermissionDenied`, `Conflict` (never deployed), `Unavailable`.
    pub async fn start(self, who: &Principal, service: &ServiceRef) -> Result<LifecycleOutcome> {
        self.platform
            .start_service(who, &service.org, &service.project, &service.service)
            .await
    }

    /// Stops a running service gracefully (killed after the platform's stop timeout); a
    /// stopped one is left alone. Errors: as [`Services::start`](crate::platform::Services::start).
    pub async fn stop(self, who: &Principal, service: &ServiceRef) -> Result<LifecycleOutcome> {
        self.platform
            .stop_service(who, &service.org, &service.project, &service.service)
            .await
    }

    /// Restarts a service (starting it if it was stopped). Errors: as
    /// [`Services::start`](crate::platform::Services::start).
    pub async fn restart(self, who: &Principal, service: &ServiceRef) -> Result<LifecycleOutcome> {
        self.platform
            .restart_service(who, &service.org, &service.project, &service.service)
            .await
    }

    /// Replaces a service's container with a new one built from its current spec, keeping its
    /// volumes and network: the old container is stopped first (single writer), the new one
    /// created and started; if that fails the new one is removed and the old one started
    /// again, and the failed deployment is recorded with the reason.
    ///
    /// Errors: `NotFound`, `PermissionDenied`, `Conflict` (never deployed), `Unavailable`.
    pub async fn recreate(self, who: &Principal, service: &ServiceRef) -> Result<Service> {
        self.platform
            .recreate_service(who, &service.org, &service.project, &service.service)
            .await
    }

    /// The logs of a service's current container; a followed stream counts against the
    /// [`StreamLimits`](crate::platform::StreamLimits) and ends when the caller loses access.
    /// Errors: `NotFound`, `PermissionDenied`, `Conflict` (never deployed), `RateLimited` (too many
    /// streams open), `Unavailable`.
    pub async fn logs(
        self,
        who: &Principal,
        service: &ServiceRef,
        options: &LogOptions,
    ) -> Result<BoxStream<'static, Result<LogLine>>> {
        self.platform
            .service_logs(
                who,
                &service.org,
                &service.project,
                &service.service,
                options,
            )
            .await
    }

    /// Previews (`dry_run`) or applies a configuration update. See `platform/update.rs` for how
    /// each kind of change is applied.
    ///
    /// Errors: `InvalidInput` naming the field (when not a dry run; a dry run lists the
    /// problems in the preview), `QuotaExceeded`, `NotFound`, `PermissionDenied`, `Conflict`
    /// (the new container never became ready; the old one keeps serving), `Unavailable`.
    pub async fn update(
        self,
        who: &Principal,
        service: &ServiceRef,
        update: ServiceUpdate,
        dry_run: bool,
    ) -> Result<UpdateResult> {
        self.platform
            .update_service(
                who,
                &service.org,
                &service.project,
                &service.service,
                update,
                dry_run,
            )
            .await
    }

    /// Rolls a service back to the spec of an earlier deployment (the one before the current when
    /// `to` is `None`), the same way an update is applied. Errors: as
    /// [`Services::update`](crate::platform::Services::update); `NotFound` for an unknown
    /// deployment.
    pub async fn rollback(
        self,
        who: &Principal,
        service: &ServiceRef,
        to: Option<DeploymentId>,
    ) -> Result<UpdateResult> {
        self.platform
            .rollback_service(who, &service.org, &service.project, &service.service, to)
            .await
    }

    /// Deployments of a service, newest first (secrets redacted).
    /// Errors: `NotFound`, `PermissionDenied`.
    pub async fn deployments(
        self,
        who: &Principal,
        service: &ServiceRef,
    ) -> Result<Vec<Deployment>> {
        self.platform
            .list_deployments(who, &service.org, &service.project, &service.service)
            .await
    }
}
