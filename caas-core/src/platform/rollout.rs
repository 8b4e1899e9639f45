//! Rolling a service onto a new spec: a new deployment, a new container on the same volumes
//! and network, and the old one retired — stop-then-start for single writers, start-then-stop
//! (wait healthy → route → drain) for stateless apps. Any failure leaves the old container
//! serving and records why.

use std::time::{Duration, Instant};

use super::Platform;
use crate::error::{Error, Result};
use crate::ids::DeploymentId;
use crate::labels;
use crate::model::{
    Deployment, DeploymentStatus, Project, Service, ServiceEventKind, ServiceSpec, ServiceStatus,
};
use crate::naming::network_name;
use crate::ports::proxy::ServiceRoutes;
use crate::ports::runtime::{ContainerStatus, HealthStatus, NetworkSpec};

/// How a new container replaces the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// Stop the old container, then start the new one (single writers: databases, services
    /// with writable volumes). There is a gap in service.
    StopThenStart,
    /// Start the new container next to the old one, wait until it is healthy, route to it,
    /// stop routing to the old one, drain, then stop the old one. No gap.
    StartThenStop,
}

impl Platform {
    /// Rolls `svc` onto `spec` with `strategy`; on success the service record carries the new
    /// spec and deployment. On failure nothing changes in the service record, the new
    /// container is gone, the old one serves, and the failed deployment says why.
    pub(crate) async fn roll_out(
        &self,
        project: &Project,
        svc: &Service,
        spec: ServiceSpec,
        strategy: Strategy,
    ) -> Result<Service> {
        let store = &self.inner.store;
        let runtime = self.runtime();
        let old_container = self.current_container(svc).await?;
        let old_deployment = svc
            .current_deployment
            .ok_or_else(|| Error::conflict(format!("service '{}' has no deployment", svc.name)))?;
        let mut dep = Deployment {
            id: DeploymentId::new(),
            service: svc.id,
            org: svc.org,
            project: svc.project,
            spec: spec.clone(),
            status: DeploymentStatus::Pending,
            container_id: None,
            error: None,
            created_at: self.now(),
            finished_at: None,
        };
        store.services.create_deployment(&dep).await?;
        let mut next = svc.clone();
        next.spec = spec;

        let mut created_volumes = Vec::new();
        let outcome = async {
            runtime
                .create_network(&NetworkSpec::new(
                    network_name(project),
                    self.scoped(labels::network_labels(project.org, project.id)),
                ))
                .await?;
            self.ensure_volumes(project, &next.spec, false, &mut created_volumes)
                .await?;
            let image = next.spec.image.normalized();
            if !runtime.image_present(&image).await? {
                runtime.pull_image(&image).await?;
            }
            if strategy == Strategy::StopThenStart {
                runtime
                    .stop_container(&old_container, self.inner.stop_timeout)
                    .await?;
            }
            let mounts = self.mounts_for(project, &next.spec).await?;
            let cspec = self.container_spec(project, &next, dep.id, mounts);
            let id = runtime.create_container(&cspec).await?.id().to_string();
            runtime.start_container(&id).await?;
            self.wait_ready(&id, &next).await?;
            if strategy == Strategy::StartThenStop {
                self.switch_routes(&next, &old_container, &id).await?;
            } else {
                // A routed service's traffic follows the recreated container.
                self.restore_routes(&next, &id).await?;
            }
            Ok::<_, Error>(id)
        }
        .await;

        let new_container = match outcome {
            Ok(id) => id,
            Err(e) => {
                let _ = self.remove_deployment_containers(dep.id).await;
                for v in &created_volumes {
                    if let Err(re) = self.destroy_volume(v).await {
                        tracing::error!(error = %re, volume = %v.name, "could not remove a volume the rollout created");
                    }
                }
                if strategy == Strategy::StopThenStart {
                    if let Err(re) = runtime.start_container(&old_container).await {
                        tracing::error!(error = %re, "could not restart the previous container");
                    } else if let Err(re) = self.restore_routes(&next, &old_container).await {
                        // Its address may have changed while it was stopped.
                        tracing::error!(error = %re, "could not restore the previous routes");
                    }
                } else if let Err(re) = self.restore_routes(&next, &old_container).await {
                    tracing::error!(error = %re, "could not restore the previous routes");
                }
                dep.status = DeploymentStatus::Failed;
                dep.error = Some(e.to_string());
                dep.finished_at = Some(self.now());
                let _ = store.services.update_deployment(&dep).await;
                self.record_event(
                    svc,
                    ServiceEventKind::DeployFailed {
                        reason: e.to_string(),
                    },
                    "rollout failed; the previous container keeps serving",
                )
                .await;
                return Err(e);
            }
        };

        self.commit_volumes(&created_volumes).await?;
        if strategy == Strategy::StartThenStop {
            // Requests already in flight to the old container finish before it stops.
            tokio::time::sleep(self.inner.drain_period).await;
        }
        let now = self.now();
        dep.status = DeploymentStatus::Active;
        dep.container_id = Some(new_container);
        dep.finished_at = Some(now);
        store.services.update_deployment(&dep).await?;
        next.current_deployment = Some(dep.id);
        next.status = ServiceStatus::Running;
        next.updated_at = now;
        store.services.update_service(&next).await?;
        let mut old = store.services.deployment(old_deployment).await?;
        old.status = DeploymentStatus::Superseded;
        store.services.update_deployment(&old).await?;
        let _ = runtime
            .stop_container(&old_container, self.inner.stop_timeout)
            .await;
        if let Err(e) = runtime.remove_container(&old_container, true).await {
            // The reconciler removes containers of superseded deployments.
            tracing::warn!(error = %e, "could not remove the previous container");
        }
        self.record_event(&next, ServiceEventKind::Deployed, "rolled out")
            .await;
        Ok(next)
    }

    /// Waits until a new container is ready: healthy when it has a health check, otherwise
    /// running without a restart for the readiness window and (with the TCP probe) accepting
    /// connections on its first port. Errors: `Conflict` (it exited,
    /// restarted or became unhealthy), `Unavailable` (timeout).
    pub(super) async fn wait_ready(&self, id: &str, svc: &Service) -> Result<()> {
        let runtime = self.runtime();
        let deadline = Instant::now() + self.inner.rollout_timeout;
        let mut running_since: Option<Instant> = None;
        loop {
            let info = runtime
                .inspect_container_opt(id)
                .await?
                .ok_or_else(|| Error::conflict("the new container disappeared"))?;
            match info.status {
                ContainerStatus::Running | ContainerStatus::Created => {}
                other => {
                    return Err(Error::conflict(format!(
                        "the new container is {other:?} (exit code {:?}) instead of running",
                        info.exit_code
                    )));
                }
            }
            if info.restart_count > 0 {
                return Err(Error::conflict(
                    "the new container restarted while starting",
                ));
            }
            if svc.spec.health_check.is_some() {
                match info.health {
                    Some(HealthStatus::Healthy) => return Ok(()),
                    Some(HealthStatus::Unhealthy) => {
                        return Err(Error::conflict("the new container is unhealthy"));
                    }
                    _ => {}
                }
            } else if info.status == ContainerStatus::Running {
                let since = *running_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= self.inner.ready_window && self.port_answers(&info, svc).await
                {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::unavailable(
                    "platform",
                    format!(
                        "the new container was not ready within {} s",
                        self.inner.rollout_timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Without a health check: whether the service's first TCP port accepts a connection on
    /// the container's address (true when probing is off, or there is no TCP port or address).
    async fn port_answers(
        &self,
        info: &crate::ports::runtime::ContainerInfo,
        svc: &Service,
    ) -> bool {
        if !self.inner.tcp_probe || !self.runtime().capabilities().addresses_reachable {
            return true;
        }
        let Some(port) = svc
            .spec
            .ports
            .iter()
            .find(|p| p.protocol == crate::model::Protocol::Tcp)
            .map(|p| p.container_port)
        else {
            return true;
        };
        let Some(ip) = info.ip_addresses.values().next() else {
            return true;
        };
        let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
            return true;
        };
        matches!(
            tokio::time::timeout(
                Duration::from_secs(1),
                tokio::net::TcpStream::connect((ip, port))
            )
            .await,
            Ok(Ok(_))
        )
    }

    /// The upstream URLs of a container for a service's routes ([`ContainerRuntime::upstream_hosts`]
    /// on its domains' target port, else on its first port); empty when it has no port or no
    /// address.
    ///
    /// [`ContainerRuntime::upstream_hosts`]: crate::ContainerRuntime::upstream_hosts
    async fn upstream_of(&self, container: &str, svc: &Service) -> Result<Vec<String>> {
        let domain_port = self
            .inner
            .store
            .domains
            .list_domains(svc.id)
            .await?
            .first()
            .map(|d| d.target_port);
        let Some(port) = domain_port.or(svc.spec.ports.first().map(|p| p.container_port)) else {
            return Ok(Vec::new());
        };
        let hosts = match self.runtime().upstream_hosts(container).await {
            Err(e) if e.is_not_found() => {
                return Err(Error::conflict(format!(
                    "container {container} disappeared"
                )));
            }
            other => other?,
        };
        Ok(hosts.iter().map(|h| format!("http://{h}:{port}")).collect())
    }

    /// Routes a service's traffic from the old container to the new one through the proxy:
    /// both → wait applied → new only → wait applied. Nothing to do when the service is not
    /// routed.
    async fn switch_routes(&self, svc: &Service, old: &str, new: &str) -> Result<()> {
        let Some(proxy) = self.inner.proxy.clone() else {
            return Ok(());
        };
        let key = svc.id.to_string();
        let Some(current) = proxy.routes_opt(&key).await? else {
            return Ok(());
        };
        let (old_up, new_up) = (
            self.upstream_of(old, svc).await?,
            self.upstream_of(new, svc).await?,
        );
        if old_up.is_empty() || new_up.is_empty() {
            return Ok(());
        }
        let timeout = self.inner.rollout_timeout;
        let mut upstreams = old_up;
        upstreams.extend(new_up.iter().cloned());
        let both = ServiceRoutes {
            upstreams,
            ..current.clone()
        };
        let g = proxy.apply(&both).await?;
        proxy.wait_applied(&key, g, timeout).await?;
        let only_new = ServiceRoutes {
            upstreams: new_up,
            ..current
        };
        let g = proxy.apply(&only_new).await?;
        proxy.wait_applied(&key, g, timeout).await
    }

    /// Makes `container` the only upstream of a routed service (after a failed rolling
    /// update, or after a stop-then-start recreate).
    async fn restore_routes(&self, svc: &Service, old: &str) -> Result<()> {
        let Some(proxy) = self.inner.proxy.clone() else {
            return Ok(());
        };
        let key = svc.id.to_string();
        let Some(current) = proxy.routes_opt(&key).await? else {
            return Ok(());
        };
        let old_up = self.upstream_of(old, svc).await?;
        if old_up.is_empty() || current.upstreams == old_up {
            return Ok(());
        }
        let g = proxy
            .apply(&ServiceRoutes {
                upstreams: old_up,
                ..current
            })
            .await?;
        proxy
            .wait_applied(&key, g, self.inner.rollout_timeout)
            .await
    }
}
