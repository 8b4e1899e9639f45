//! [`Monitoring`]: monitoring of services and alerts.

use super::ServiceRef;
use crate::auth::Principal;
use crate::error::Result;
use crate::ids::UserId;
use crate::model::{MetricPoint, Resolution, ServiceEvent};
use crate::platform::{
    AlertReport, AlertSettings, AlertsView, Collector, CollectorConfig, Platform, ServiceHealth,
    StatsSnapshot,
};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Monitoring: live stats, metrics history, service health and events, alert settings.
///
/// Borrowed from the platform with [`Platform::monitoring`]; cheap to copy.
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
/// use std::time::Duration;
/// use caas_core::ServiceRef;
///
/// let web = ServiceRef::new("acme", "shop", "web");
/// let health = platform.monitoring().health(&admin, &web, Duration::from_secs(3600)).await?;
/// assert_eq!(health.status, caas_core::model::ServiceStatus::Running);
/// let events = platform.monitoring().events(&admin, &web, 10).await?;
/// assert!(!events.is_empty());
/// platform.monitoring().alerts(&admin, "acme").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Monitoring<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// The monitoring of services and alerts: see [`Monitoring`].
    pub fn monitoring(&self) -> Monitoring<'_> {
        Monitoring { platform: self }
    }
}

impl Monitoring<'_> {
    /// Live stats of a service from two readings
    /// [`LIVE_STATS_WINDOW`](crate::platform::LIVE_STATS_WINDOW) apart (see [`StatsSnapshot`]).
    /// Errors: `NotFound` (also for principals who may not see the service), `Conflict` (never
    /// deployed or not running), `Unavailable`.
    pub async fn stats(self, who: &Principal, service: &ServiceRef) -> Result<StatsSnapshot> {
        self.platform
            .service_stats(who, &service.org, &service.project, &service.service)
            .await
    }

    /// Live stats of a service as a stream: one [`StatsSnapshot`] every `interval` (between
    /// [`policy::MIN_STREAM_INTERVAL`](crate::platform::policy::MIN_STREAM_INTERVAL) and
    /// [`policy::MAX_STREAM_INTERVAL`](crate::platform::policy::MAX_STREAM_INTERVAL), else
    /// `InvalidInput` naming `interval_ms`), each from the reading before it,
    /// following the service onto a new container after an update. A failed reading is an `Err`
    /// item and the stream goes on; it ends when the service is deleted or the caller loses access,
    /// and counts against the [`StreamLimits`](crate::platform::StreamLimits). Errors (of the
    /// call): as [`Monitoring::stats`](crate::platform::Monitoring::stats), and `RateLimited` (too
    /// many streams open).
    pub async fn stats_stream(
        self,
        who: &Principal,
        service: &ServiceRef,
        interval: Duration,
    ) -> Result<futures::stream::BoxStream<'static, Result<StatsSnapshot>>> {
        self.platform
            .service_stats_stream(
                who,
                &service.org,
                &service.project,
                &service.service,
                interval,
            )
            .await
    }

    /// Metrics history of a service over `[from, to)`, oldest first, at `step` or, when not
    /// given, at the coarsest resolution giving at least
    /// [`MIN_CHART_POINTS`](crate::platform::MIN_CHART_POINTS) points
    /// ([`Resolution::for_range`]). Errors: `NotFound` (also for principals who may not see
    /// the service), `InvalidInput` (`from` not before `to`), `Unavailable`.
    ///
    /// The core returns the data only: caas-http draws it as an SVG chart
    /// (`caas_http::render::service_chart`).
    pub async fn metrics(
        self,
        who: &Principal,
        service: &ServiceRef,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step: Option<Resolution>,
    ) -> Result<Vec<MetricPoint>> {
        self.platform
            .service_metrics(
                who,
                &service.org,
                &service.project,
                &service.service,
                from,
                to,
                step,
            )
            .await
    }

    /// A service's health over the last `window` (see [`ServiceHealth`]), from a second to
    /// [`policy::MAX_HEALTH_WINDOW`](crate::platform::policy::MAX_HEALTH_WINDOW). Errors:
    /// `InvalidInput` (`window_secs`), `NotFound`, `Unavailable`.
    pub async fn health(
        self,
        who: &Principal,
        service: &ServiceRef,
        window: Duration,
    ) -> Result<ServiceHealth> {
        self.platform
            .service_health(
                who,
                &service.org,
                &service.project,
                &service.service,
                window,
            )
            .await
    }

    /// A service's events, newest first, at most `limit` (1 to
    /// [`policy::MAX_EVENTS`](crate::platform::policy::MAX_EVENTS)). Errors: `InvalidInput`
    /// (`limit`), `NotFound`, `Unavailable`.
    pub async fn events(
        self,
        who: &Principal,
        service: &ServiceRef,
        limit: u32,
    ) -> Result<Vec<ServiceEvent>> {
        self.platform
            .service_events(who, &service.org, &service.project, &service.service, limit)
            .await
    }

    /// An organization's alert settings (webhook secret hidden) and its alerts. A member
    /// scoped to projects sees the alerts about its projects' services and volumes, the rules
    /// for every service or for its projects' services, and no webhook. Errors: `NotFound`.
    pub async fn alerts(self, who: &Principal, org: &str) -> Result<AlertsView> {
        self.platform.alerts(who, org).await
    }

    /// Replaces an organization's alert rules and webhook. Errors: `InvalidInput` naming the
    /// field, `NotFound`, `PermissionDenied` (admin or higher).
    pub async fn set_alerts(
        self,
        who: &Principal,
        org: &str,
        settings: AlertSettings,
    ) -> Result<AlertsView> {
        self.platform.set_alerts(who, org, settings).await
    }

    /// Evaluates every organization's rules once (a system operation: no principal), fires
    /// and resolves alerts and sends their notifications. Errors: `Unavailable` (the store).
    pub async fn evaluate_alerts(self) -> Result<AlertReport> {
        self.platform.evaluate_alerts().await
    }

    /// The metrics collector of this platform (see [`Collector`]).
    pub fn collector(self, config: CollectorConfig) -> Collector {
        self.platform.collector(config)
    }

    /// How many streams `user` has open now.
    pub fn open_streams(self, user: UserId) -> usize {
        self.platform.open_streams(user)
    }
}
