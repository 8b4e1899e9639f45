//! Start, stop, restart and logs of a deployed service.

use futures::stream::BoxStream;
use tracing::instrument;

use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::model::{Service, ServiceEventKind, ServiceStatus};
use crate::ports::runtime::{LogLine, LogOptions, StartOutcome, StopOutcome};

/// What a lifecycle operation did: `changed` is false when the service already was in the
/// requested state (the operation is idempotent).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LifecycleOutcome {
    /// The service after the operation (secrets redacted).
    pub service: Service,
    /// Whether anything changed.
    pub changed: bool,
}

/// Start, stop or restart.
#[derive(Debug, Clone, Copy)]
enum Operation {
    Start,
    Stop,
    Restart,
}

impl Platform {
    pub(super) async fn current_container(&self, svc: &Service) -> Result<String> {
        let dep = svc
            .current_deployment
            .ok_or_else(|| Error::conflict(format!("service '{}' has no deployment", svc.name)))?;
        self.inner
            .store
            .services
            .deployment(dep)
            .await?
            .container_id
            .ok_or_else(|| Error::conflict(format!("service '{}' has no container yet", svc.name)))
    }

    /// Stops a service's current container and records it stopped, without an event (for
    /// operations that stop a service around their own work). Errors: `Conflict` (never
    /// deployed), `Unavailable`.
    pub(super) async fn stop_quietly(&self, svc: &Service) -> Result<Service> {
        let container = self.current_container(svc).await?;
        self.runtime()
            .stop_container(&container, self.inner.stop_timeout)
            .await?;
        self.set_status(svc.clone(), ServiceStatus::Stopped).await
    }

    async fn set_status(&self, mut svc: Service, status: ServiceStatus) -> Result<Service> {
        if svc.status != status {
            svc.status = status;
            svc.updated_at = self.now();
            self.inner.store.services.update_service(&svc).await?;
        }
        Ok(svc)
    }

    /// Starts a stopped service; a running one is left alone (`changed: false`).
    /// Errors: `NotFound`, `PermissionDenied`, `Conflict` (never deployed), `Unavailable`.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %name))]
    pub(crate) async fn start_service(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: &str,
    ) -> Result<LifecycleOutcome> {
        self.operate(who, org_slug, project, name, Operation::Start)
            .await
    }

    /// Stops a running service gracefully (killed after the platform's stop timeout); a
    /// stopped one is left alone. Errors: as [`Services::start`](crate::platform::Services::start).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %name))]
    pub(crate) async fn stop_service(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: &str,
    ) -> Result<LifecycleOutcome> {
        self.operate(who, org_slug, project, name, Operation::Stop)
            .await
    }

    /// Restarts a service (starting it if it was stopped). Errors: as
    /// [`Services::start`](crate::platform::Services::start).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %name))]
    pub(crate) async fn restart_service(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: &str,
    ) -> Result<LifecycleOutcome> {
        self.operate(who, org_slug, project, name, Operation::Restart)
            .await
    }

    /// The one path of start, stop and restart: authorize, act on the current container,
    /// record the status, and — when something changed — an event and an audit entry.
    async fn operate(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: &str,
        op: Operation,
    ) -> Result<LifecycleOutcome> {
        let (org, _, svc) = self
            .authorize_service(who, org_slug, project, name, Action::ServiceOperate)
            .await?;
        let container = self.current_container(&svc).await?;
        let runtime = self.runtime();
        let timeout = self.inner.stop_timeout;
        let (changed, status, kind, message, action) = match op {
            Operation::Start => (
                runtime.start_container(&container).await? == StartOutcome::Started,
                ServiceStatus::Running,
                ServiceEventKind::Started,
                "started on request",
                "service.start",
            ),
            Operation::Stop => (
                runtime.stop_container(&container, timeout).await? == StopOutcome::Stopped,
                ServiceStatus::Stopped,
                ServiceEventKind::Stopped,
                "stopped on request",
                "service.stop",
            ),
            Operation::Restart => {
                runtime.restart_container(&container, timeout).await?;
                (
                    true,
                    ServiceStatus::Running,
                    ServiceEventKind::Restarted,
                    "restarted on request",
                    "service.restart",
                )
            }
        };
        let svc = self.set_status(svc, status).await?;
        if changed {
            self.record_event(&svc, kind, message).await;
            self.audit(
                Some(who),
                Some(org.id),
                action,
                format!("service:{}", svc.id),
                None,
                json(&svc.status),
            )
            .await;
        }
        Ok(LifecycleOutcome {
            service: svc.redacted(),
            changed,
        })
    }

    /// The logs of a service's current container; a followed stream counts against the
    /// [`StreamLimits`](super::StreamLimits) and ends when the caller loses access. Errors:
    /// `NotFound`, `PermissionDenied`, `Conflict` (never deployed), `RateLimited` (too many
    /// streams open), `Unavailable`.
    pub(crate) async fn service_logs(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: &str,
        options: &LogOptions,
    ) -> Result<BoxStream<'static, Result<LogLine>>> {
        let (org, _, svc) = self
            .authorize_service(who, org_slug, project, name, Action::ServiceLogs)
            .await?;
        let container = self.current_container(&svc).await?;
        let lines = self.runtime().logs(&container, options).await?;
        if !options.follow {
            return Ok(lines);
        }
        self.limited_stream(who, org.id, svc.project, Action::ServiceLogs, lines)
    }
}
