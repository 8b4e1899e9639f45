//! Deploying and deleting services.
//!
//! A deploy runs these steps, each undone in reverse order if a later one fails, so a failure
//! anywhere leaves nothing behind but the failed deployment's record:
//!
//! 1. validate the spec, resolve the project (permission checked);
//! 2. reserve the spec's quota (CPU, memory, one container);
//! 3. record the service and a pending deployment;
//! 4. ensure the project network (idempotent, labelled);
//! 5. ensure the volumes it mounts (creating missing ones, each reserving its own storage;
//!    a writable mount of a full volume is refused) and the image (pulled when missing);
//! 6. create the container with the managed labels and the hardened defaults;
//! 7. start it;
//! 8. commit the reservation to the service, mark the deployment active, record an event.

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{DeploymentId, EventId, ServiceId};
use crate::labels;
use crate::model::{
    Deployment, DeploymentStatus, Project, Service, ServiceEvent, ServiceEventKind, ServiceKind,
    ServiceSpec, ServiceStatus, Volume,
};
use crate::naming::{container_name, network_name, volume_runtime_name};
use crate::ports::runtime::{
    ContainerSpec, CreateOutcome, Mount, NetworkAttachment, NetworkSpec, RemoveOutcome,
};
use crate::validate::Name;

/// Input for deploying an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeployApp {
    /// Service name, unique in the project (DNS-label rules); its host name on the network.
    pub name: String,
    /// What to run.
    pub spec: ServiceSpec,
}

impl DeployApp {
    /// An app called `name` running `spec`.
    pub fn new(name: impl Into<String>, spec: ServiceSpec) -> Self {
        Self {
            name: name.into(),
            spec,
        }
    }
}

/// What a delete also removes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeleteOptions {
    /// Also remove the volumes (their data is lost).
    pub volumes: bool,
}

impl DeleteOptions {
    /// Keep volumes (the default).
    pub fn keep_volumes() -> Self {
        Self { volumes: false }
    }
    /// Remove volumes too.
    pub fn with_volumes() -> Self {
        Self { volumes: true }
    }
}

/// Undo steps of a deploy in progress, run in reverse on failure.
enum Undo {
    ReleaseReservation(crate::ids::ReservationId),
    DeleteService(ServiceId),
    /// Every container labelled with the deployment: also finds one whose create succeeded
    /// but whose answer was lost.
    RemoveDeploymentContainers(DeploymentId),
    /// A volume this deploy created, with its record and reservation (volumes that existed
    /// before are kept).
    DestroyVolume(Box<Volume>),
}

impl Platform {
    /// Deploys an app into a project and starts it. Returns the service (secrets redacted).
    ///
    /// Errors: `InvalidInput` (naming the field), `AlreadyExists` (service name),
    /// `QuotaExceeded`, `Conflict` (inactive subscription), `NotFound` (project, image),
    /// `PermissionDenied`, `Unavailable` (runtime or store; nothing is left behind).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %app.name))]
    pub(crate) async fn deploy_app(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        app: DeployApp,
    ) -> Result<Service> {
        self.deploy_new_service(who, org_slug, project, app.name, ServiceKind::App, app.spec)
            .await
    }

    /// Records and starts a new service of any kind; the steps are in the module docs.
    pub(super) async fn deploy_new_service(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: String,
        kind: ServiceKind,
        spec: ServiceSpec,
    ) -> Result<Service> {
        let (org, project) = self
            .authorize_project(who, org_slug, project, Action::ServiceDeploy)
            .await?;
        let name = Name::parse_field("name", name)?;
        spec.validate()?;
        self.check_replicas(&spec)?;
        self.check_pids(org.id, &spec).await?;
        if self
            .inner
            .store
            .services
            .service_by_name_opt(project.id, name.as_str())
            .await?
            .is_some()
        {
            return Err(Error::already_exists("service", name));
        }

        let reservation = self
            .inner
            .quota
            .reserve(org.id, spec.quota_amounts())
            .await?;
        let mut undo = vec![Undo::ReleaseReservation(reservation.id)];
        let now = self.now();
        let service = Service {
            id: ServiceId::new(),
            org: org.id,
            project: project.id,
            name,
            kind,
            spec,
            status: ServiceStatus::Deploying,
            current_deployment: None,
            reservation: Some(reservation.id),
            created_at: now,
            updated_at: now,
        };
        let deployment = Deployment {
            id: DeploymentId::new(),
            service: service.id,
            org: org.id,
            project: project.id,
            spec: service.spec.clone(),
            status: DeploymentStatus::Pending,
            container_id: None,
            error: None,
            created_at: now,
            finished_at: None,
        };

        match self
            .run_deploy(&project, service, deployment, &mut undo)
            .await
        {
            Ok(service) => {
                self.audit(
                    Some(who),
                    Some(org.id),
                    "service.deploy",
                    format!("service:{}", service.id),
                    None,
                    json(&service.redacted()),
                )
                .await;
                Ok(service.redacted())
            }
            Err(e) => {
                tracing::warn!(error = %e, "deploy failed; rolling back");
                self.rollback(undo).await;
                Err(e)
            }
        }
    }

    async fn run_deploy(
        &self,
        project: &Project,
        mut service: Service,
        mut deployment: Deployment,
        undo: &mut Vec<Undo>,
    ) -> Result<Service> {
        let store = &self.inner.store;
        let runtime = self.runtime();
        store.services.create_service(&service).await?;
        undo.push(Undo::DeleteService(service.id));
        store.services.create_deployment(&deployment).await?;

        // The network, the volumes and the image do not depend on one another: they are
        // made ready at the same time (a third of a deploy's own engine time).
        let network_spec = NetworkSpec::new(
            network_name(project),
            self.scoped(labels::network_labels(project.org, project.id)),
        );
        let image = service.spec.image.normalized();
        let image_ready = async {
            if !runtime.image_present(&image).await? {
                runtime.pull_image(&image).await?;
            }
            Ok::<_, crate::Error>(())
        };
        let mut created = Vec::new();
        let (network, ensured, image_ready) = futures::join!(
            runtime.create_network(&network_spec),
            self.ensure_volumes(project, &service.spec, true, &mut created),
            image_ready,
        );
        undo.extend(
            created
                .iter()
                .cloned()
                .map(|v| Undo::DestroyVolume(Box::new(v))),
        );
        network?;
        ensured?;
        image_ready?;
        let mounts = self.mounts_for(project, &service.spec).await?;
        let spec = self.container_spec(project, &service, deployment.id, mounts);
        undo.push(Undo::RemoveDeploymentContainers(deployment.id));
        let outcome = runtime.create_container(&spec).await?;
        let container_id = outcome.id().to_string();
        if matches!(outcome, CreateOutcome::AlreadyExists(_)) {
            tracing::info!("container of this deployment already existed; adopting it");
        }
        runtime.start_container(&container_id).await?;

        if let Some(r) = service.reservation {
            self.inner
                .quota
                .commit(r, &format!("service:{}", service.id))
                .await?;
        }
        self.commit_volumes(&created).await?;
        let now = self.now();
        deployment.status = DeploymentStatus::Active;
        deployment.container_id = Some(container_id);
        deployment.finished_at = Some(now);
        store.services.update_deployment(&deployment).await?;
        service.status = ServiceStatus::Running;
        service.current_deployment = Some(deployment.id);
        service.updated_at = now;
        store.services.update_service(&service).await?;
        self.record_event(&service, ServiceEventKind::Deployed, "deployed")
            .await;
        Ok(service)
    }

    async fn rollback(&self, undo: Vec<Undo>) {
        for step in undo.into_iter().rev() {
            let result = match step {
                Undo::RemoveDeploymentContainers(id) => self.remove_deployment_containers(id).await,
                Undo::DestroyVolume(v) => self.destroy_volume(&v).await,
                Undo::DeleteService(id) => match self.inner.store.services.delete_service(id).await
                {
                    Err(e) if e.is_not_found() => Ok(()),
                    other => other,
                },
                Undo::ReleaseReservation(id) => self.inner.quota.release(id).await,
            };
            if let Err(e) = result {
                // The reconciler removes what is left (labels say what it belongs to) and the
                // reservation expires by itself.
                tracing::error!(error = %e, "rollback step failed; the reconciler will clean up");
            }
        }
    }

    pub(super) async fn remove_deployment_containers(
        &self,
        deployment: DeploymentId,
    ) -> Result<()> {
        let selector =
            crate::ports::runtime::LabelSelector::managed().with(labels::DEPLOYMENT, deployment);
        for c in self.runtime().list_containers(&selector).await? {
            self.runtime().remove_container(&c.id, true).await?;
        }
        Ok(())
    }

    /// The container spec of a service's deployment: managed labels last (user labels can
    /// never override them), hardened defaults, the project network with the service name as
    /// alias, and `mounts` (from [`Platform::mounts_for`]).
    pub(super) fn container_spec(
        &self,
        project: &Project,
        service: &Service,
        deployment: DeploymentId,
        mounts: Vec<Mount>,
    ) -> ContainerSpec {
        let s = &service.spec;
        let mut spec =
            ContainerSpec::new(container_name(service, deployment), s.image.normalized());
        spec.command = s.command.clone();
        spec.entrypoint = s.entrypoint.clone();
        spec.env = s
            .env
            .iter()
            .map(|v| (v.key.to_string(), v.value.clone()))
            .collect();
        spec.labels = s.labels.clone();
        spec.labels.retain(|k, _| {
            !crate::validate::RESERVED_LABEL_PREFIXES
                .iter()
                .any(|p| k.to_ascii_lowercase().starts_with(p))
        });
        spec.labels.extend(self.scoped(labels::container_labels(
            service.org,
            service.project,
            service.id,
            deployment,
        )));
        spec.limits = s.resources;
        spec.mounts = mounts;
        spec.networks = vec![NetworkAttachment {
            network: network_name(project),
            aliases: vec![service.name.to_string()],
        }];
        spec.exposed_ports = s.ports.clone();
        spec.health_check = s.health_check.clone();
        spec.security.user = s.user.clone();
        spec.restart_policy = s.restart_policy;
        spec.stop_timeout = self.inner.stop_timeout;
        spec.replicas = s.replicas;
        spec
    }

    /// Refuses more replicas than the runtime runs per service. Errors: `InvalidInput` naming
    /// `spec.replicas`, with the fix.
    /// Refuses a spec asking for more processes per container than the organization's plan
    /// allows (`max_pids`). Errors: `QuotaExceeded` (dimension `pids`).
    pub(super) async fn check_pids(
        &self,
        org: crate::ids::OrgId,
        spec: &ServiceSpec,
    ) -> Result<()> {
        let store = &self.inner.store;
        let Some(sub) = store.plans.subscription_opt(org).await? else {
            return Ok(());
        };
        let plan = store.plans.plan(sub.plan).await?;
        let limit = plan.limits.max_pids;
        if spec.resources.pids <= limit {
            return Ok(());
        }
        Err(crate::error::QuotaExceeded {
            org: store.directory.org(org).await?.slug.to_string(),
            plan: plan.name.to_string(),
            dimensions: vec![crate::error::DimensionExceeded {
                dimension: "pids".to_string(),
                used: 0,
                requested: spec.resources.pids,
                limit,
            }],
        }
        .into())
    }

    pub(super) fn check_replicas(&self, spec: &ServiceSpec) -> Result<()> {
        let max = self.runtime().capabilities().max_replicas;
        if spec.replicas > max {
            return Err(Error::invalid(
                "spec.replicas",
                format!(
                    "{} replicas asked, but this platform's container runtime runs at most {max} \
                     instance(s) per service; set replicas to {max}, or run the platform on a \
                     clustered runtime (e.g. caas-swarm's SwarmRuntime on Docker Swarm)",
                    spec.replicas
                ),
            ));
        }
        Ok(())
    }

    /// A service by name (secrets redacted). Errors: `NotFound`.
    pub(crate) async fn service(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: &str,
    ) -> Result<Service> {
        let (_, _, svc) = self
            .authorize_service(who, org_slug, project, name, Action::ServiceView)
            .await?;
        Ok(svc.redacted())
    }

    /// Services of a project (secrets redacted). Errors: `NotFound`.
    pub(crate) async fn list_services(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
    ) -> Result<Vec<Service>> {
        let (org, project) = self
            .authorize_project(who, org_slug, project, Action::ServiceView)
            .await?;
        Ok(self
            .inner
            .store
            .services
            .list_services(org.id, Some(project.id))
            .await?
            .iter()
            .map(Service::redacted)
            .collect())
    }

    /// Deletes a service: stops and removes every container labelled with it, its routes, its
    /// record (with its deployments and events), and releases its quota. Its volumes are kept
    /// unless `options.volumes` is set (a volume another service of the project still mounts is
    /// always kept). Idempotent for containers already gone.
    ///
    /// Errors: `NotFound`, `PermissionDenied`, `Unavailable` (nothing is deleted from the store
    /// until the runtime confirmed the containers are gone).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %name))]
    pub(crate) async fn delete_service(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: &str,
        options: DeleteOptions,
    ) -> Result<()> {
        let (org, project, svc) = self
            .authorize_service(who, org_slug, project, name, Action::ServiceDelete)
            .await?;
        self.remove_service(&project, &svc, options).await?;
        self.audit(
            Some(who),
            Some(org.id),
            "service.delete",
            format!("service:{}", svc.id),
            json(&svc.redacted()),
            json(&options),
        )
        .await;
        Ok(())
    }

    /// Removes a service's containers, routes, record and reservation (and volumes when asked).
    pub(super) async fn remove_service(
        &self,
        project: &Project,
        svc: &Service,
        options: DeleteOptions,
    ) -> Result<()> {
        let runtime = self.runtime();
        let selector = self.selector().with(labels::SERVICE, svc.id);
        for c in runtime.list_containers(&selector).await? {
            let _ = runtime.stop_container(&c.id, self.inner.stop_timeout).await;
            match runtime.remove_container(&c.id, true).await? {
                RemoveOutcome::Removed | RemoveOutcome::NotFound => {}
            }
        }
        if let Some(proxy) = &self.inner.proxy {
            proxy.remove(&svc.id.to_string()).await?;
        }
        self.inner.store.services.delete_service(svc.id).await?;
        if let Some(r) = svc.reservation {
            self.inner.quota.release(r).await?;
        }
        if options.volumes {
            let others = self
                .inner
                .store
                .services
                .list_services(svc.org, Some(svc.project))
                .await?;
            for m in &svc.spec.volumes {
                let shared = others
                    .iter()
                    .any(|o| o.spec.volumes.iter().any(|v| v.volume == m.volume));
                if shared {
                    tracing::info!(volume = %m.volume, "volume kept: another service mounts it");
                    continue;
                }
                match self
                    .inner
                    .store
                    .volumes
                    .volume_by_name_opt(project.id, m.volume.as_str())
                    .await?
                {
                    Some(v) => self.destroy_volume(&v).await?,
                    None => {
                        runtime
                            .remove_volume(&volume_runtime_name(project, m.volume.as_str()))
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) async fn record_event(
        &self,
        service: &Service,
        kind: ServiceEventKind,
        message: &str,
    ) {
        let ev = ServiceEvent {
            id: EventId::new(),
            org: service.org,
            service: service.id,
            kind,
            message: message.to_string(),
            at: self.now(),
        };
        if let Err(e) = self.inner.store.history.append_event(&ev).await {
            tracing::warn!(error = %e, "could not record service event");
        }
    }
}
