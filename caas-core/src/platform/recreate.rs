//! Recreating a service's container from its current spec (stop, then start a new one on the
//! same volumes and network). The single-writer way to roll a service; zero-downtime rolling
//! updates for routed stateless apps build on the same steps.

use tracing::instrument;

use super::Platform;
use super::deploy::volume_labels;
use super::tenancy::{network_labels, network_name};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::DeploymentId;
use crate::model::{Deployment, DeploymentStatus, Service, ServiceEventKind, ServiceStatus};
use crate::ports::runtime::{NetworkSpec, VolumeSpec};

impl Platform {
    /// Replaces a service's container with a new one built from its current spec, keeping its
    /// volumes and network: the old container is stopped first (single writer), the new one
    /// created and started; if that fails the new one is removed and the old one started
    /// again, and the failed deployment is recorded with the reason.
    ///
    /// Errors: `NotFound`, `PermissionDenied`, `Conflict` (never deployed), `Unavailable`.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %name))]
    pub async fn recreate_service(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: &str,
    ) -> Result<Service> {
        let (org, project, mut svc) = self
            .authorize_service(who, org_slug, project, name, Action::ServiceDeploy)
            .await?;
        let old_container = self.current_container(&svc).await?;
        let old_id = svc
            .current_deployment
            .ok_or_else(|| Error::conflict(format!("service '{name}' has no deployment")))?;
        let store = &self.inner.store;
        let runtime = self.runtime();
        let now = self.now();
        let mut dep = Deployment {
            id: DeploymentId::new(),
            service: svc.id,
            org: svc.org,
            project: svc.project,
            spec: svc.spec.clone(),
            status: DeploymentStatus::Pending,
            container_id: None,
            error: None,
            created_at: now,
            finished_at: None,
        };
        store.create_deployment(&dep).await?;

        runtime
            .create_network(&NetworkSpec::new(
                network_name(&project),
                self.scoped(network_labels(&project)),
            ))
            .await?;
        for m in &svc.spec.volumes {
            runtime
                .create_volume(&VolumeSpec::new(
                    super::deploy::volume_runtime_name(&project, m.volume.as_str()),
                    self.scoped(volume_labels(&project, m.volume.as_str())),
                ))
                .await?;
        }
        let image = svc.spec.image.normalized();
        if !runtime.image_present(&image).await? {
            runtime.pull_image(&image).await?;
        }
        runtime
            .stop_container(&old_container, self.inner.stop_timeout)
            .await?;
        let spec = self.container_spec(&project, &svc, dep.id);
        let started = async {
            let id = runtime.create_container(&spec).await?.id().to_string();
            runtime.start_container(&id).await?;
            Ok::<_, Error>(id)
        }
        .await;
        let new_container = match started {
            Ok(id) => id,
            Err(e) => {
                // Roll back: the old container serves again.
                let _ = self.remove_deployment_containers(dep.id).await;
                let restarted = runtime.start_container(&old_container).await;
                dep.status = DeploymentStatus::Failed;
                dep.error = Some(e.to_string());
                dep.finished_at = Some(self.now());
                let _ = store.update_deployment(&dep).await;
                self.record_event(
                    &svc,
                    ServiceEventKind::DeployFailed {
                        reason: e.to_string(),
                    },
                    "recreate failed; the previous container was started again",
                )
                .await;
                if let Err(re) = restarted {
                    tracing::error!(error = %re, "could not restart the previous container");
                }
                return Err(e);
            }
        };
        let now = self.now();
        dep.status = DeploymentStatus::Active;
        dep.container_id = Some(new_container);
        dep.finished_at = Some(now);
        store.update_deployment(&dep).await?;
        svc.current_deployment = Some(dep.id);
        svc.status = ServiceStatus::Running;
        svc.updated_at = now;
        store.update_service(&svc).await?;
        let mut old = store.deployment(old_id).await?;
        old.status = DeploymentStatus::Superseded;
        store.update_deployment(&old).await?;
        if let Err(e) = runtime.remove_container(&old_container, true).await {
            // The reconciler removes containers of superseded deployments.
            tracing::warn!(error = %e, "could not remove the previous container");
        }
        self.record_event(&svc, ServiceEventKind::Deployed, "recreated")
            .await;
        self.audit(
            Some(who),
            Some(org.id),
            "service.recreate",
            format!("service:{}", svc.id),
            None,
            None,
        )
        .await;
        Ok(svc.redacted())
    }
}
