//! The reconciler: compares what the store says should exist with what the runtime runs, by
//! labels, and repairs the difference. A crash at any point of a deploy leaves nothing the next
//! reconcile cannot explain.
//!
//! | found | action |
//! |---|---|
//! | an active deployment whose container runs but is not recorded (crash before the record) | adopt it |
//! | an active deployment without any container | mark the service failed, event `lost` |
//! | several containers for one deployment | keep one, remove the others |
//! | a pending deployment older than the grace period (a deploy that crashed) | roll it back: remove its containers, mark it failed, and delete the service if it never ran |
//! | a managed container of an unknown or finished deployment | remove it (orphan) |
//! | a managed network of a deleted project | remove it |
//! | a volume record whose storage reservation was never committed, older than the grace period (a deploy or volume creation that crashed) | roll it back: remove its (empty, unused) runtime volume, its record and its reservation |
//! | a backup still `running` after the grace period, its volume not busy in this process (a backup that crashed) | mark it failed, remove its partial archive; for a consistent one, start again the services it stopped |
//! | a managed volume of a deleted project | report it; data is never deleted by the reconciler |
//! | expired pending quota reservations | release them |
//! | a service on a claimed hostname whose routes in the proxy differ from its domains under verified claims (another organization's domains an upgrade left on a hostname; a crash between a change and its routing) | route exactly its verified domains |

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::Platform;
use crate::error::Result;
use crate::ids::{DeploymentId, ProjectId, ServiceId};
use crate::labels;
use crate::model::{DeploymentStatus, ServiceEventKind, ServiceStatus};
use crate::ports::runtime::{ContainerStatus, ContainerSummary};

/// What one reconcile pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileReport {
    /// Containers adopted as their deployment's container.
    pub adopted: Vec<String>,
    /// Services whose container was missing.
    pub lost: Vec<ServiceId>,
    /// Interrupted deployments rolled back.
    pub rolled_back: Vec<DeploymentId>,
    /// Orphan or duplicate containers removed.
    pub removed_containers: Vec<String>,
    /// Networks of deleted projects removed.
    pub removed_networks: Vec<String>,
    /// Volumes of deleted projects, left in place.
    pub orphan_volumes: Vec<String>,
    /// Volumes whose creation was interrupted, rolled back (runtime names).
    pub rolled_back_volumes: Vec<String>,
    /// Backups interrupted before they finished, marked failed.
    pub failed_backups: Vec<crate::ids::BackupId>,
    /// Expired pending reservations released.
    pub reservations_expired: u64,
    /// Services whose routes were re-applied to match their verified domains.
    pub rerouted: Vec<ServiceId>,
    /// Problems that did not stop the pass (each is retried next time).
    pub errors: Vec<String>,
}

impl ReconcileReport {
    /// Whether the pass changed nothing and found nothing wrong.
    pub fn is_clean(&self) -> bool {
        self.adopted.is_empty()
            && self.lost.is_empty()
            && self.rolled_back.is_empty()
            && self.removed_containers.is_empty()
            && self.removed_networks.is_empty()
            && self.rolled_back_volumes.is_empty()
            && self.failed_backups.is_empty()
            && self.rerouted.is_empty()
            && self.errors.is_empty()
    }
}

fn parse_label<T: std::str::FromStr>(c: &ContainerSummary, key: &str) -> Option<T> {
    c.labels.get(key).and_then(|v| v.parse().ok())
}

impl Platform {
    /// One reconcile pass (a system operation: no principal). Errors: `Unavailable` when the
    /// runtime or the store cannot be listed at all; anything narrower lands in the report's
    /// `errors` and is retried next pass.
    #[tracing::instrument(skip_all)]
    pub async fn reconcile(&self) -> Result<ReconcileReport> {
        let store = &self.inner.store;
        let runtime = self.runtime();
        let now = self.now();
        let grace = chrono::Duration::from_std(self.inner.pending_grace)
            .unwrap_or(chrono::Duration::minutes(10));
        let mut report = ReconcileReport {
            reservations_expired: store.quota.quota_expire(now).await?,
            ..ReconcileReport::default()
        };

        let containers = runtime
            .list_containers(&self.selector().with(labels::KIND, "service"))
            .await?;
        let mut by_deployment: HashMap<DeploymentId, Vec<ContainerSummary>> = HashMap::new();
        let mut unlabelled = Vec::new();
        for c in containers {
            match parse_label::<DeploymentId>(&c, labels::DEPLOYMENT) {
                Some(d) => by_deployment.entry(d).or_default().push(c),
                None => unlabelled.push(c),
            }
        }
        // Deployments whose containers must stay: active ones and those still in progress.
        let mut keep: HashSet<DeploymentId> = HashSet::new();

        for mut svc in store.services.list_all_services().await? {
            let deployments = store.services.list_deployments(svc.id).await?;
            let mut service_deleted = false;
            for mut d in deployments {
                let found = by_deployment.get(&d.id).cloned().unwrap_or_default();
                match d.status {
                    DeploymentStatus::Pending if now - d.created_at < grace => {
                        keep.insert(d.id);
                    }
                    DeploymentStatus::Pending => {
                        // A deploy that crashed: undo it.
                        by_deployment.remove(&d.id);
                        for c in &found {
                            match runtime.remove_container(&c.id, true).await {
                                Ok(_) => report.removed_containers.push(c.id.clone()),
                                Err(e) => report.errors.push(format!("removing {}: {e}", c.id)),
                            }
                        }
                        d.status = DeploymentStatus::Failed;
                        d.error = Some("interrupted; rolled back by the reconciler".into());
                        d.finished_at = Some(now);
                        report.rolled_back.push(d.id);
                        if svc.current_deployment.is_none() {
                            // The service never ran: the whole deploy is undone.
                            if let Err(e) = store.services.delete_service(svc.id).await {
                                report
                                    .errors
                                    .push(format!("deleting service {}: {e}", svc.id));
                            } else {
                                service_deleted = true;
                                if let Some(r) = svc.reservation {
                                    if let Err(e) = self.inner.quota.release(r).await {
                                        report.errors.push(format!("releasing {r}: {e}"));
                                    }
                                }
                            }
                        } else if let Err(e) = store.services.update_deployment(&d).await {
                            report
                                .errors
                                .push(format!("updating deployment {}: {e}", d.id));
                        }
                    }
                    DeploymentStatus::Active => {
                        keep.insert(d.id);
                        self.reconcile_active(&mut svc, &mut d, found, &mut report)
                            .await;
                    }
                    DeploymentStatus::Superseded
                    | DeploymentStatus::Failed
                    | DeploymentStatus::Removed => {}
                }
                if service_deleted {
                    break;
                }
            }
        }

        // Whatever is labelled but not kept is an orphan.
        for (d, cs) in by_deployment {
            if keep.contains(&d) {
                continue;
            }
            for c in cs {
                match runtime.remove_container(&c.id, true).await {
                    Ok(_) => report.removed_containers.push(c.id),
                    Err(e) => report.errors.push(format!("removing orphan {}: {e}", c.id)),
                }
            }
        }
        for c in unlabelled {
            match runtime.remove_container(&c.id, true).await {
                Ok(_) => report.removed_containers.push(c.id),
                Err(e) => report
                    .errors
                    .push(format!("removing unlabelled {}: {e}", c.id)),
            }
        }
        self.reconcile_volumes(&mut report, grace).await?;
        self.reconcile_backups(&mut report, grace).await?;
        self.reconcile_projects(&mut report).await?;
        let (rerouted, errors) = self.reconcile_domain_routes().await?;
        report.rerouted = rerouted;
        report.errors.extend(errors);
        if !report.is_clean() {
            tracing::info!(?report, "reconciled");
        }
        Ok(report)
    }

    async fn reconcile_active(
        &self,
        svc: &mut crate::model::Service,
        d: &mut crate::model::Deployment,
        mut found: Vec<ContainerSummary>,
        report: &mut ReconcileReport,
    ) {
        let store = &self.inner.store;
        let runtime = self.runtime();
        let now = self.now();
        if found.is_empty() {
            if svc.status != ServiceStatus::Failed && svc.current_deployment == Some(d.id) {
                svc.status = ServiceStatus::Failed;
                svc.updated_at = now;
                if let Err(e) = store.services.update_service(svc).await {
                    report
                        .errors
                        .push(format!("updating service {}: {e}", svc.id));
                    return;
                }
                self.record_event(
                    svc,
                    ServiceEventKind::Lost,
                    "container missing from the runtime",
                )
                .await;
                report.lost.push(svc.id);
            }
            return;
        }
        // Keep the recorded container if present, else a running one, else the first.
        found.sort_by_key(|c| {
            (
                Some(&c.id) != d.container_id.as_ref(),
                c.status != ContainerStatus::Running,
            )
        });
        let chosen = found.remove(0);
        for extra in found {
            match runtime.remove_container(&extra.id, true).await {
                Ok(_) => report.removed_containers.push(extra.id),
                Err(e) => report
                    .errors
                    .push(format!("removing duplicate {}: {e}", extra.id)),
            }
        }
        if d.container_id.as_deref() != Some(chosen.id.as_str()) {
            d.container_id = Some(chosen.id.clone());
            if let Err(e) = store.services.update_deployment(d).await {
                report
                    .errors
                    .push(format!("updating deployment {}: {e}", d.id));
                return;
            }
            report.adopted.push(chosen.id.clone());
        }
        if svc.current_deployment != Some(d.id) && svc.status == ServiceStatus::Deploying {
            // The deploy crashed between recording the deployment and the service: finish it.
            if let Some(r) = svc.reservation {
                if let Err(e) = self
                    .inner
                    .quota
                    .commit(r, &format!("service:{}", svc.id))
                    .await
                {
                    report.errors.push(format!("committing {r}: {e}"));
                }
            }
            svc.current_deployment = Some(d.id);
            svc.status = ServiceStatus::Running;
            svc.updated_at = now;
            if let Err(e) = store.services.update_service(svc).await {
                report
                    .errors
                    .push(format!("updating service {}: {e}", svc.id));
            }
        }
    }

    /// Rolls back volumes whose creation never completed: their reservation is not committed
    /// (a crash between reserving and committing) and they are older than the grace period.
    async fn reconcile_volumes(
        &self,
        report: &mut ReconcileReport,
        grace: chrono::Duration,
    ) -> Result<()> {
        let store = &self.inner.store;
        let now = self.now();
        for v in store.volumes.list_all_volumes().await? {
            if now - v.created_at < grace {
                continue;
            }
            let Some(r) = v.reservation else { continue };
            let committed = match store.quota.reservation(r).await {
                Ok(res) => res.state == crate::model::ReservationState::Committed,
                Err(e) if e.is_not_found() => false,
                Err(e) => return Err(e),
            };
            if committed {
                continue;
            }
            if let Err(e) = self.destroy_volume(&v).await {
                report
                    .errors
                    .push(format!("rolling back volume {}: {e}", v.runtime_name));
                continue;
            }
            report.rolled_back_volumes.push(v.runtime_name.clone());
        }
        Ok(())
    }

    async fn reconcile_projects(&self, report: &mut ReconcileReport) -> Result<()> {
        let runtime = self.runtime();
        let mut known: BTreeMap<ProjectId, bool> = BTreeMap::new();
        let networks = runtime
            .list_networks(&self.selector().with(labels::KIND, "network"))
            .await?;
        let volumes = runtime
            .list_volumes(&self.selector().with(labels::KIND, "volume"))
            .await?;
        for (name, labels_, is_network) in networks
            .into_iter()
            .map(|n| (n.name, n.labels, true))
            .chain(volumes.into_iter().map(|v| (v.name, v.labels, false)))
        {
            let Some(project) = labels_
                .get(labels::PROJECT)
                .and_then(|p| p.parse::<ProjectId>().ok())
            else {
                continue;
            };
            let exists = match known.get(&project) {
                Some(e) => *e,
                None => {
                    let e = match self.inner.store.services.project(project).await {
                        Ok(_) => true,
                        Err(e) if e.is_not_found() => false,
                        Err(e) => return Err(e),
                    };
                    known.insert(project, e);
                    e
                }
            };
            if exists {
                continue;
            }
            if is_network {
                match runtime.remove_network(&name).await {
                    Ok(_) => report.removed_networks.push(name),
                    Err(e) => report.errors.push(format!("removing network {name}: {e}")),
                }
            } else {
                report.orphan_volumes.push(name);
            }
        }
        Ok(())
    }
}
