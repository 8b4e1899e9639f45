//! [`Platform`]: the orchestrator holding all business logic over the ports.
//!
//! Its operations are reached through one handle per area ([`Platform::orgs`],
//! [`Platform::services`], [`Platform::volumes`], … listed on [`Platform`]); a project or a
//! service is addressed by a [`ProjectRef`] or a [`ServiceRef`].
//!
//! Every public operation takes a [`Principal`] and checks its permissions first (see
//! [`crate::auth`]), validates its input, then acts. Operations open one tracing span each,
//! with stable dotted fields (`caas.org`, `caas.project`, `caas.service`) and never secrets.

mod admin;
mod alerting;
mod api;
mod backup_limits;
mod backups;
mod database;
mod deploy;
mod domains;
mod dumps;
mod health;
mod lifecycle;
mod members;
mod monitoring;
mod org_admin;
pub mod policy;
mod reconcile;
mod recreate;
mod rollout;
mod runtime_admin;
mod service_health;
mod streams;
mod templates;
mod tenancy;
mod tokens;
mod update;
mod usage;
mod usage_report;
mod users;
mod volumes;
mod watcher;
mod workers;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{OrgId, UserId};
use crate::model::{AuditEntry, Organization, Project, Service};
use crate::ports::clock::{Clock, SystemClock};
use crate::ports::connector::{RuntimeConfig, RuntimeConnector};
use crate::ports::proxy::Proxy;
use crate::ports::quota::{QuotaEngine, StoreQuotaEngine};
use crate::ports::runtime::ContainerRuntime;
use crate::ports::store::{Directory, PlanSource, Store, StoreParts};

pub use admin::{OrgUpdate, PlanUpdate};
pub use alerting::{
    AlertCondition, AlertReport, AlertRule, AlertSettings, AlertsView, MAX_ALERT_RULES,
};
pub use api::{
    Admin, Backups, Domains, Members, Monitoring, Orgs, Plans, ProjectRef, Projects, ServiceRef,
    Services, Templates, Tokens, Users, Volumes,
};
pub use backup_limits::archive_read_cap;
pub use backups::{
    BackupConfig, BackupRequest, MAX_ARCHIVE_ENTRIES, RestoreOutcome, RestoreRequest,
    ScheduleReport, ScheduleRequest, next_run, parse_cron, retention_victims,
};
pub use database::{
    DatabaseCredentials, DatabaseImages, DeployDatabase, DeployedDatabase, data_volume_name,
    database_spec, generate_password,
};
pub use deploy::{DeleteOptions, DeployApp};
pub use domains::{
    CERTIFICATE_PROBE_LABEL, CHALLENGE_TXT_LABEL, DomainConfig, DomainView, HTTP_CHALLENGE_PREFIX,
    NewDomain, OwnershipProof, VerificationMethod, path_prefix,
};
pub use health::{ComponentHealth, HealthReport};
pub use lifecycle::LifecycleOutcome;
pub use members::{
    CreatedInvitation, INVITATION_PREFIX, MemberUpdate, MemberView, NewInvitation, NewMember,
};
pub use monitoring::{
    Collector, CollectorConfig, CollectorHandle, CollectorStats, LIVE_STATS_WINDOW,
    MIN_CHART_POINTS, Retention, StatsSnapshot, cpu_percent, memory_in_use, metric_sample,
    percent_of,
};
pub use org_admin::{
    AdminOrgFilter, BulkAction, BulkItem, BulkRequest, MAX_PAGE, OrgOverview, OrgPage,
};
pub use reconcile::ReconcileReport;
pub use runtime_admin::RUNTIME_SETTING;
pub use service_health::{ContainerHealth, HEALTH_LOG_LINES, ServiceHealth, uptime_percent};
pub use streams::StreamLimits;
pub use templates::{
    DeployTemplate, MAX_TEMPLATE_SERVICES, PlannedParameter, PlannedService, TemplateDeployment,
    TemplateEntry, TemplatePlan, TemplateUpdate, builtin_templates, database_engines, instantiate,
    merge, parse_template, validate_template,
};
pub use tenancy::NewProject;
pub use tokens::{
    MAX_TOKEN_SCOPE_ITEMS, NewApiToken, NewTokenOrg, NewTokenScope, TOKEN_PREFIX, TokenLifetime,
    token_hash,
};
pub use update::{
    ApplyMode, FieldError, QuotaDelta, ServiceUpdate, SpecChange, UpdatePreview, UpdateResult,
    VolumeAttach, diff, single_writer,
};
pub use usage::{DimensionUsage, UsageSummary, WARNING_PERCENT, summarise};
pub use usage_report::{
    DEFAULT_METRICS_INTERVAL, ServiceUsageRow, UsageReport, UsageTotals, VolumeUsageRow,
};
pub use users::{Account, AdminUserFilter, Membership, UserPage};
pub use volumes::{
    MAX_VOLUME_BYTES, MountedBy, NewVolume, RULE_VOLUME_FULL, RULE_VOLUME_WARNING,
    VOLUME_WARNING_PERCENT, VolumeCheckReport, VolumeDriver, VolumeView, volume_state,
};
pub use watcher::{WatcherConfig, WatcherStats};

/// Builds a [`Platform`] from its ports.
#[derive(Debug, Default)]
pub struct PlatformBuilder {
    store: Option<StoreParts>,
    directory: Option<Arc<dyn Directory>>,
    plans: Option<Arc<dyn PlanSource>>,
    runtime: Option<Arc<dyn ContainerRuntime>>,
    proxy: Option<Arc<dyn Proxy>>,
    quota: Option<Arc<dyn QuotaEngine>>,
    clock: Option<Arc<dyn Clock>>,
    stop_timeout: Option<Duration>,
    connector: Option<(Arc<dyn RuntimeConnector>, RuntimeConfig)>,
    database_images: Option<DatabaseImages>,
    instance: Option<String>,
    pending_grace: Option<Duration>,
    rollout: Option<RolloutTiming>,
    dns: Option<Arc<dyn crate::ports::dns::DnsResolver>>,
    domains: Option<DomainConfig>,
    volume_driver: Option<VolumeDriver>,
    backups: Option<BackupConfig>,
    notifier: Option<Arc<dyn crate::ports::notifier::Notifier>>,
    metrics_interval: Option<Duration>,
    stream_limits: Option<StreamLimits>,
    mailer: Option<Arc<dyn crate::ports::mailer::Mailer>>,
    token_lifetime: Option<TokenLifetime>,
}

/// Timing of rolling updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RolloutTiming {
    /// How long a new container may take to become ready (default 60 s).
    pub timeout: Duration,
    /// Without a health check, how long a new container must keep running to count as ready
    /// (default 2 s).
    pub ready_window: Duration,
    /// How long the old container keeps running after traffic moved away from it, so requests
    /// in flight finish (default 5 s).
    pub drain_period: Duration,
    /// Without a health check, also require a TCP connection to the service's first port on
    /// the new container's address to succeed (default on; turn it off when the platform
    /// cannot reach container networks, e.g. a remote engine).
    pub tcp_probe: bool,
}

impl Default for RolloutTiming {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            ready_window: Duration::from_secs(2),
            drain_period: Duration::from_secs(5),
            tcp_probe: true,
        }
    }
}

impl RolloutTiming {
    /// Timing with these values.
    pub fn new(timeout: Duration, ready_window: Duration, drain_period: Duration) -> Self {
        Self {
            timeout,
            ready_window,
            drain_period,
            tcp_probe: true,
        }
    }

    /// Turns the TCP readiness probe on or off.
    pub fn with_tcp_probe(mut self, on: bool) -> Self {
        self.tcp_probe = on;
        self
    }
}

impl PlatformBuilder {
    /// The store (required): every area of it (see [`StoreParts`]). To back single areas with
    /// something else, use [`PlatformBuilder::directory`], [`PlatformBuilder::plans`] or
    /// [`PlatformBuilder::store_parts`].
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(StoreParts::from_store(store));
        self
    }
    /// The store, area by area (instead of [`PlatformBuilder::store`]).
    pub fn store_parts(mut self, parts: StoreParts) -> Self {
        self.store = Some(parts);
        self
    }
    /// Users, organizations and members are read from `directory` and never changed: the
    /// platform refuses to create users or organizations, change members, or send
    /// invitations, answering `Conflict` ("managed by the host application"), before anything
    /// else happens. For a host application that keeps these rows itself, in its own tables
    /// (see `docs/embedding.md`): the store's own records (projects, services, reservations,
    /// …) refer to organizations and users by id only, so `directory` may be any object.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use caas_core::{Platform, Store};
    /// # use caas_core::memory::{InMemoryRuntime, InMemoryStore};
    /// // Here another in-memory store plays the host application's tables.
    /// let host: Arc<dyn Store> = Arc::new(InMemoryStore::new());
    /// let platform = Platform::builder()
    ///     .store(Arc::new(InMemoryStore::new()))
    ///     .directory(host.clone())
    ///     .plans(host)
    ///     .runtime(Arc::new(InMemoryRuntime::new()))
    ///     .build()?;
    /// # Ok::<(), caas_core::Error>(())
    /// ```
    pub fn directory(mut self, directory: Arc<dyn Directory>) -> Self {
        self.directory = Some(directory);
        self
    }
    /// Plans and subscriptions are read from `plans` and never changed: the platform refuses
    /// to create, change or delete plans and subscriptions, answering `Conflict` ("managed by
    /// the host application"). The quota engine reads each organization's plan from `plans`
    /// just before it reserves, so a change of the host's plan bounds the very next deploy.
    pub fn plans(mut self, plans: Arc<dyn PlanSource>) -> Self {
        self.plans = Some(plans);
        self
    }
    /// The container runtime (required).
    pub fn runtime(mut self, runtime: Arc<dyn ContainerRuntime>) -> Self {
        self.runtime = Some(runtime);
        self
    }
    /// The proxy (optional: without one, services are reachable only on their project network).
    pub fn proxy(mut self, proxy: Arc<dyn Proxy>) -> Self {
        self.proxy = Some(proxy);
        self
    }
    /// The quota engine (default: [`StoreQuotaEngine`] over the store).
    pub fn quota(mut self, quota: Arc<dyn QuotaEngine>) -> Self {
        self.quota = Some(quota);
        self
    }
    /// The clock (default: [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }
    /// The connector that (re)connects the runtime when an administrator changes its
    /// configuration, and the configuration the given runtime was built from. Without one, the
    /// runtime is fixed and runtime configuration operations are `Unsupported`.
    pub fn runtime_connector(
        mut self,
        connector: Arc<dyn RuntimeConnector>,
        current: RuntimeConfig,
    ) -> Self {
        self.connector = Some((connector, current));
        self
    }
    /// The images used for managed databases (default: [`DatabaseImages::default`]).
    pub fn database_images(mut self, images: DatabaseImages) -> Self {
        self.database_images = Some(images);
        self
    }
    /// The name of this platform instance (default `default`): every object it creates is
    /// labelled `caas.instance=<name>` and the reconciler only touches objects of its own
    /// instance, so several platforms can share one engine. Errors at build: `InvalidInput`
    /// unless a DNS label.
    pub fn instance(mut self, name: impl Into<String>) -> Self {
        self.instance = Some(name.into());
        self
    }
    /// How old a pending deployment must be before the reconciler treats it as interrupted
    /// and rolls it back (default 10 minutes; longer than any deploy takes).
    pub fn pending_grace(mut self, grace: Duration) -> Self {
        self.pending_grace = Some(grace);
        self
    }
    /// Timing of rolling updates (see [`RolloutTiming`]).
    pub fn rollout(mut self, timing: RolloutTiming) -> Self {
        self.rollout = Some(timing);
        self
    }
    /// The resolver domain verification asks (default: [`crate::ports::dns::SystemDns`]).
    pub fn dns_resolver(mut self, dns: Arc<dyn crate::ports::dns::DnsResolver>) -> Self {
        self.dns = Some(dns);
        self
    }
    /// How custom domains are verified and served (see [`DomainConfig`]).
    pub fn domains(mut self, config: DomainConfig) -> Self {
        self.domains = Some(config);
        self
    }
    /// How volumes are created in the runtime (default: the runtime's default driver; see
    /// [`VolumeDriver`] for hard size limits).
    pub fn volume_driver(mut self, driver: VolumeDriver) -> Self {
        self.volume_driver = Some(driver);
        self
    }
    /// How many followed logs and live stats streams users and organizations may have open
    /// at once, and how often their access is checked again (default [`StreamLimits`]).
    pub fn stream_limits(mut self, limits: StreamLimits) -> Self {
        self.stream_limits = Some(limits);
        self
    }
    /// The interval the metrics collector samples at (default 10 s, as
    /// [`CollectorConfig::default`]): usage reports count each sample as this much time.
    pub fn metrics_interval(mut self, interval: Duration) -> Self {
        self.metrics_interval = Some(interval);
        self
    }
    /// Where invitations are delivered (without one, the token is only returned to whoever
    /// invited).
    pub fn mailer(mut self, mailer: Arc<dyn crate::ports::mailer::Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }
    /// Where alert notifications are sent (without one, alerts are only recorded).
    pub fn notifier(mut self, notifier: Arc<dyn crate::ports::notifier::Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }
    /// Where and how volumes are backed up (without one, backup operations are
    /// `Unsupported`).
    pub fn backups(mut self, config: BackupConfig) -> Self {
        self.backups = Some(config);
        self
    }
    /// How long API tokens live: a default and a maximum (default: neither, tokens live until
    /// revoked unless their creator says otherwise). Errors at build: `InvalidInput` (see
    /// [`TokenLifetime`]).
    pub fn token_lifetime(mut self, lifetime: TokenLifetime) -> Self {
        self.token_lifetime = Some(lifetime);
        self
    }
    /// How long a container gets to stop before it is killed (default 10 s).
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = Some(timeout);
        self
    }

    /// Builds the platform. Errors: `InvalidInput` naming a missing required port.
    pub fn build(self) -> Result<Platform> {
        let mut store = self
            .store
            .ok_or_else(|| Error::invalid("store", "a Store is required"))?;
        if let Some(directory) = self.directory {
            store.directory = directory;
            store.directory_admin = None;
        }
        if let Some(plans) = self.plans {
            store.plans = plans;
            store.plan_admin = None;
        }
        let runtime = self
            .runtime
            .ok_or_else(|| Error::invalid("runtime", "a ContainerRuntime is required"))?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let quota = self.quota.unwrap_or_else(|| {
            Arc::new(StoreQuotaEngine::new(
                store.quota.clone(),
                store.directory.clone(),
                store.plans.clone(),
                clock.clone(),
            ))
        });
        let instance = self.instance.unwrap_or_else(|| "default".to_string());
        crate::validate::dns_label("instance", &instance)?;
        let token_lifetime = self.token_lifetime.unwrap_or_default();
        token_lifetime.validate()?;
        let (connector, config) = match self.connector {
            Some((c, cfg)) => (Some(c), Some(cfg)),
            None => (None, None),
        };
        Ok(Platform {
            inner: Arc::new(Inner {
                store,
                runtime: RwLock::new(runtime),
                connector,
                runtime_config: RwLock::new(config),
                proxy: self.proxy,
                database_images: self.database_images.unwrap_or_default(),
                instance,
                pending_grace: self.pending_grace.unwrap_or(Duration::from_secs(600)),
                rollout_timeout: self.rollout.unwrap_or_default().timeout,
                ready_window: self.rollout.unwrap_or_default().ready_window,
                drain_period: self.rollout.unwrap_or_default().drain_period,
                tcp_probe: self.rollout.unwrap_or_default().tcp_probe,
                quota,
                clock,
                stop_timeout: self.stop_timeout.unwrap_or(Duration::from_secs(10)),
                token_lifetime,
                dns: self
                    .dns
                    .unwrap_or_else(|| Arc::new(crate::ports::dns::SystemDns)),
                domains: self.domains.unwrap_or_default(),
                volume_driver: self.volume_driver.unwrap_or_default(),
                backups: self.backups.map(backups::Backups::new),
                notifier: self.notifier,
                mailer: self.mailer,
                metrics_interval: self
                    .metrics_interval
                    .unwrap_or(usage_report::DEFAULT_METRICS_INTERVAL),
                stream_limits: self.stream_limits.unwrap_or_default(),
                open_streams: Arc::default(),
                busy_volumes: std::sync::Mutex::new(std::collections::HashSet::new()),
                domain_checks: domains::CheckPermits::default(),
                copies: tokio_util::task::TaskTracker::new(),
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    store: StoreParts,
    // Swapped when an administrator changes the runtime configuration; operations clone the
    // Arc once and keep using the runtime they started with.
    runtime: RwLock<Arc<dyn ContainerRuntime>>,
    connector: Option<Arc<dyn RuntimeConnector>>,
    runtime_config: RwLock<Option<RuntimeConfig>>,
    database_images: DatabaseImages,
    instance: String,
    pending_grace: Duration,
    rollout_timeout: Duration,
    ready_window: Duration,
    drain_period: Duration,
    tcp_probe: bool,
    proxy: Option<Arc<dyn Proxy>>,
    quota: Arc<dyn QuotaEngine>,
    clock: Arc<dyn Clock>,
    stop_timeout: Duration,
    token_lifetime: TokenLifetime,
    dns: Arc<dyn crate::ports::dns::DnsResolver>,
    domains: DomainConfig,
    volume_driver: VolumeDriver,
    backups: Option<backups::Backups>,
    notifier: Option<Arc<dyn crate::ports::notifier::Notifier>>,
    mailer: Option<Arc<dyn crate::ports::mailer::Mailer>>,
    metrics_interval: Duration,
    stream_limits: StreamLimits,
    // Followed logs and live stats open now, per user and organization.
    open_streams: Arc<streams::OpenStreams>,
    // Volumes with a backup, restore or delete in progress: one at a time per volume.
    busy_volumes: std::sync::Mutex<std::collections::HashSet<crate::ids::VolumeId>>,
    // Checks of one organization's hostname claims run a few at a time.
    domain_checks: domains::CheckPermits,
    // Manual backups and restores run as tasks of their own (a caller that goes away does not
    // stop them half way); `platform.backups().wait_for_copies` waits for them at shutdown.
    copies: tokio_util::task::TaskTracker,
}

/// The containers-as-a-service platform: cheap to clone, shareable across tasks.
///
/// Its operations are grouped by area, one borrowed handle each (in the manner of kube's
/// `Api<K>`); operations on a project or a service take a [`ProjectRef`] or a [`ServiceRef`]:
///
/// | Handle | Area |
/// |---|---|
/// | [`Platform::orgs`] | organizations, subscriptions, usage |
/// | [`Platform::projects`] | projects of an organization |
/// | [`Platform::members`] | members and invitations |
/// | [`Platform::users`] | user accounts |
/// | [`Platform::tokens`] | API tokens and authentication |
/// | [`Platform::plans`] | plans (the price list) |
/// | [`Platform::services`] | apps and databases: deploy, lifecycle, updates, logs |
/// | [`Platform::volumes`] | persistent volumes |
/// | [`Platform::backups`] | volume backups, schedules, restores |
/// | [`Platform::domains`] | domains, verification, certificates |
/// | [`Platform::templates`] | the template catalogue and template instances |
/// | [`Platform::monitoring`] | live stats, metrics, service health and events, alerts |
/// | [`Platform::admin`] | platform administration: organizations, audit log, runtime |
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::{Platform, memory::{InMemoryStore, InMemoryRuntime}};
/// let platform = Platform::builder()
///     .store(Arc::new(InMemoryStore::new()))
///     .runtime(Arc::new(InMemoryRuntime::new()))
///     .build()
///     .unwrap();
/// # let _ = platform;
/// ```
#[derive(Debug, Clone)]
pub struct Platform {
    inner: Arc<Inner>,
}

impl Platform {
    /// Starts building a platform.
    pub fn builder() -> PlatformBuilder {
        PlatformBuilder::default()
    }

    /// The store, area by area.
    pub fn store(&self) -> &StoreParts {
        &self.inner.store
    }
    /// The container runtime in use now.
    pub fn runtime(&self) -> Arc<dyn ContainerRuntime> {
        self.inner
            .runtime
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    /// The proxy, when configured.
    pub fn proxy(&self) -> Option<&Arc<dyn Proxy>> {
        self.inner.proxy.as_ref()
    }
    /// The mailer that delivers invitations, when configured.
    pub fn mailer(&self) -> Option<&Arc<dyn crate::ports::mailer::Mailer>> {
        self.inner.mailer.as_ref()
    }
    /// The quota engine.
    pub fn quota(&self) -> &Arc<dyn QuotaEngine> {
        &self.inner.quota
    }

    /// The name of this platform instance (see [`PlatformBuilder::instance`]).
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// Adds this instance's label to a set of labels.
    fn scoped(
        &self,
        mut l: std::collections::BTreeMap<String, String>,
    ) -> std::collections::BTreeMap<String, String> {
        l.insert(
            crate::labels::INSTANCE.to_string(),
            self.inner.instance.clone(),
        );
        l
    }

    /// Selects this instance's managed objects.
    fn selector(&self) -> crate::ports::runtime::LabelSelector {
        crate::ports::runtime::LabelSelector::managed()
            .with(crate::labels::INSTANCE, &self.inner.instance)
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Builds the principal of a user from the store: the user's admin flag and memberships.
    /// Authenticators call this after checking a credential (and narrow it to the
    /// credential's scope, see [`Principal::narrowed`]). Errors: `NotFound` (no such user, or
    /// a disabled one: to authentication a disabled user does not exist).
    pub async fn principal_for(&self, user: UserId) -> Result<Principal> {
        let u = self.inner.store.directory.user(user).await?;
        if u.disabled {
            return Err(Error::not_found("user", user));
        }
        let mut p = Principal::user(user);
        p.platform_admin = u.platform_admin;
        for m in self.inner.store.directory.memberships(user).await? {
            p.grants.insert(
                m.org,
                crate::auth::Grant {
                    role: m.role,
                    projects: m.projects,
                },
            );
        }
        Ok(p)
    }

    /// Resolves an organization by slug and checks `action` on it. Non-members get `NotFound`.
    async fn authorize_org(
        &self,
        who: &Principal,
        org_slug: &str,
        action: Action,
    ) -> Result<Organization> {
        let org = self.inner.store.directory.org_by_slug_opt(org_slug).await?;
        match org {
            Some(org) => {
                who.require(action, org.id, None, org_slug)?;
                Self::refuse_if_suspended(&org, action)?;
                Ok(org)
            }
            None if who.platform_admin => Err(Error::not_found("organization", org_slug)),
            // Same answer whether the organization exists or not.
            None => Err(Error::not_found("organization", org_slug)),
        }
    }

    /// A suspended organization reads and deletes, but deploys and changes nothing.
    fn refuse_if_suspended(org: &Organization, action: Action) -> Result<()> {
        if org.status == crate::model::OrgStatus::Suspended
            && org_admin::blocked_while_suspended(action)
        {
            return Err(Error::conflict(format!(
                "organization '{}' is suspended: {} is refused until a platform administrator reactivates it",
                org.slug, action
            )));
        }
        Ok(())
    }

    /// Resolves an organization and a project by name, and checks `action` on the project.
    async fn authorize_project(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        action: Action,
    ) -> Result<(Organization, Project)> {
        // View first so non-members learn nothing, then the real action on the project.
        let org = self.authorize_org(who, org_slug, Action::OrgView).await?;
        let project = self
            .inner
            .store
            .services
            .project_by_name_opt(org.id, project)
            .await?
            .ok_or_else(|| Error::not_found("project", project))?;
        who.require(action, org.id, Some(project.id), org_slug)?;
        Self::refuse_if_suspended(&org, action)?;
        Ok((org, project))
    }

    /// Resolves org, project and service by name, checking `action`.
    async fn authorize_service(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        service: &str,
        action: Action,
    ) -> Result<(Organization, Project, Service)> {
        let (org, project) = self
            .authorize_project(who, org_slug, project, action)
            .await?;
        let svc = self
            .inner
            .store
            .services
            .service_by_name_opt(project.id, service)
            .await?
            .ok_or_else(|| Error::not_found("service", service))?;
        Ok((org, project, svc))
    }

    /// Appends an audit entry; failures are logged, never fatal to the operation they record.
    async fn audit(
        &self,
        who: Option<&Principal>,
        org: Option<OrgId>,
        action: &str,
        target: String,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) {
        let entry = AuditEntry {
            id: crate::ids::AuditId::new(),
            at: self.now(),
            actor: who.map(|p| p.user),
            org,
            action: action.to_string(),
            target,
            before,
            after,
        };
        if let Err(e) = self.inner.store.history.append_audit(&entry).await {
            tracing::warn!(error = %e, action, "could not append audit entry");
        }
    }
}

/// Marks a volume busy while alive (see [`Platform::volume_busy`]).
pub(super) struct VolumeBusy {
    platform: Platform,
    volume: crate::ids::VolumeId,
}

impl Drop for VolumeBusy {
    fn drop(&mut self) {
        self.platform
            .inner
            .busy_volumes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.volume);
    }
}

impl Platform {
    /// Claims a volume for a backup, restore or delete until the guard drops.
    /// Errors: `Conflict` when another one runs on it.
    fn volume_busy(&self, volume: crate::ids::VolumeId) -> Result<VolumeBusy> {
        let mut busy = self
            .inner
            .busy_volumes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !busy.insert(volume) {
            return Err(Error::conflict(
                "a backup, restore or delete of this volume is in progress; try again when it is done",
            ));
        }
        Ok(VolumeBusy {
            platform: self.clone(),
            volume,
        })
    }
}

fn json<T: serde::Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}
