//! [`Domains`]: domains routed to services.

use super::ServiceRef;
use crate::auth::Principal;
use crate::error::Result;
use crate::model::Domain;
use crate::platform::{DomainView, NewDomain, Platform, VerificationMethod};
use crate::ports::proxy::CertificateStatus;

/// Domains of services: adding, listing, removing, ownership verification and certificates.
///
/// Borrowed from the platform with [`Platform::domains`]; cheap to copy.
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
/// # let spec = caas_core::model::ServiceSpec::new(caas_core::validate::ImageRef::parse("caas/busybox:latest")?);
/// # platform
/// #     .services()
/// #     .deploy_app(&admin, &caas_core::ProjectRef::new("acme", "shop"), caas_core::platform::DeployApp::new("web", spec))
/// #     .await?;
/// use caas_core::ServiceRef;
///
/// let web = ServiceRef::new("acme", "shop", "web");
/// assert!(platform.domains().list(&admin, &web).await?.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Domains<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// The domains routed to services: see [`Domains`].
    pub fn domains(&self) -> Domains<'_> {
        Domains { platform: self }
    }
}

impl Domains<'_> {
    /// Adds a domain to a service. The first domain of the organization on a hostname claims
    /// it (pending until proved, see `docs/domains.md`); on a hostname the organization has
    /// already proved, the domain is routed at once. The service's container is untouched.
    ///
    /// Errors: `NotFound`, `PermissionDenied` (member or higher), `InvalidInput` naming the
    /// field (`hostname`, `path_prefix`, `strip_prefix`, `target_port`), `Conflict` (another
    /// organization owns the hostname or a wildcard over it; the hostname is reserved by the
    /// platform), `AlreadyExists` (the organization has this hostname and path already),
    /// `QuotaExceeded` (the plan's `max_domains`), `Unavailable` (the proxy).
    pub async fn add(
        self,
        who: &Principal,
        service: &ServiceRef,
        new: NewDomain,
    ) -> Result<DomainView> {
        self.platform
            .add_domain(who, &service.org, &service.project, &service.service, new)
            .await
    }

    /// The domains of a service, oldest first. Errors: `NotFound`.
    pub async fn list(self, who: &Principal, service: &ServiceRef) -> Result<Vec<DomainView>> {
        self.platform
            .list_domains(who, &service.org, &service.project, &service.service)
            .await
    }

    /// Removes a service's domains on `hostname` (only the one with path prefix `path` when
    /// given) and re-applies the service's routes. The organization's claim on the hostname
    /// ends with its last domain there. Returns what was removed.
    ///
    /// Errors: `NotFound` (service, or no such domain on it), `PermissionDenied`,
    /// `Unavailable` (the proxy).
    pub async fn remove(
        self,
        who: &Principal,
        service: &ServiceRef,
        hostname: &str,
        path: Option<&str>,
    ) -> Result<Vec<Domain>> {
        self.platform
            .remove_domain(
                who,
                &service.org,
                &service.project,
                &service.service,
                hostname,
                path,
            )
            .await
    }

    /// The certificate state of a domain of the organization (`NotConfigured` without a
    /// proxy). Errors: `NotFound`, `Unavailable`.
    pub async fn certificate_status(
        self,
        who: &Principal,
        org: &str,
        hostname: &str,
    ) -> Result<CertificateStatus> {
        self.platform.certificate_status(who, org, hostname).await
    }

    /// Verifies the organization's claim on `hostname` with `method` (`path` only narrows
    /// which of its domains must be visible to the caller), records `Verified` or `Failed`
    /// with the reason and the readiness, and routes the organization's domains on the
    /// hostname once verified. Returns the caller's domains on the hostname afterwards.
    ///
    /// Errors: `NotFound`, `PermissionDenied` (member or higher on the domains' projects),
    /// `Conflict` (another organization owns the hostname), `InvalidInput` naming `method` (HTTP
    /// for a wildcard), `Unsupported` (HTTP without
    /// [`DomainConfig::http_challenge`](crate::platform::DomainConfig::http_challenge); a resolver
    /// that cannot read TXT records), `Unavailable` (the resolver or the proxy failed; the status
    /// is unchanged).
    pub async fn verify(
        self,
        who: &Principal,
        org: &str,
        hostname: &str,
        path: Option<&str>,
        method: VerificationMethod,
    ) -> Result<Vec<DomainView>> {
        self.platform
            .verify_domain(who, org, hostname, path, method)
            .await
    }

    /// The answer to an HTTP challenge for `host` (a `Host` header: any case, with or without
    /// a port): the token, when it is the token of an unproven claim on that hostname. No
    /// principal: the proxy forwards these requests from anyone.
    /// Errors: `Unavailable` (the store).
    pub async fn challenge_answer(self, host: &str, token: &str) -> Result<Option<String>> {
        self.platform.challenge_answer(host, token).await
    }

    /// Re-checks every unproven claim (a system operation: no principal), TXT first, then HTTP
    /// where it may prove ownership, at most
    /// [`DomainConfig::checks_per_org`](crate::platform::DomainConfig::checks_per_org) checks of
    /// one organization at a time; releases unproven claims past their expiry with their domains;
    /// routes the domains of claims that became verified. Returns how many became verified. Errors:
    /// `Unavailable` (the store).
    pub async fn reverify(self) -> Result<usize> {
        self.platform.reverify_domains().await
    }
}
