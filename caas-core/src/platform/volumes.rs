//! Persistent volumes: created on their own or with the service that first mounts them, each
//! holding its size against the organization's storage quota until it is deleted.
//!
//! - **Create** reserves the size (storage quota), records the volume, creates it in the runtime
//!   with the managed labels and the configured [`VolumeDriver`], then commits the reservation; any
//!   failure undoes the earlier steps.
//! - **Mounting**: a service's spec mounts volumes of its project by name. A mount of a volume that
//!   does not exist yet creates it (size from the mount) as part of the deploy and is undone with
//!   it. A full volume cannot be mounted writable by a new deploy.
//! - **Delete** is refused while a service mounts the volume, unless forced: then each such service
//!   is recreated without the mount first. Backups of a deleted volume are kept.
//! - **Usage**: [`Volumes::check`](crate::platform::Volumes::check) measures every volume through
//!   the runtime. At [`VOLUME_WARNING_PERCENT`] of its size a volume is `warning` (an alert fires
//!   and each service mounting it gets a `volume_almost_full` event); at its size it is `full`
//!   (another alert, `volume_full` events) and from then on it is mounted read-only whenever a
//!   container of a service mounting it is created, and deploys that would add to it are refused.
//!   Alerts resolve once usage falls back.
//! - **Hard limits**: the size is a quota and a soft limit measured by the platform; the local
//!   driver of Docker does not enforce sizes. Where the host can, configure a [`VolumeDriver`]
//!   whose options carry the size (`{size}` is replaced by the volume's size in bytes): e.g. the
//!   local driver with `type=tmpfs`, `device=tmpfs`, `o=size={size}` (hard limit, memory-backed,
//!   not persistent), a size-aware volume plugin, or the local driver on an XFS file system with
//!   project quotas. Users never pass driver options.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{AlertId, OrgId, VolumeId};
use crate::labels;
use crate::model::{
    Alert, AlertState, Organization, Project, Service, ServiceEventKind, ServiceSpec, Volume,
    VolumeMount, VolumeState, VolumeUsage,
};
use crate::naming::volume_runtime_name;
use crate::ports::runtime::{CreateOutcome, Mount, VolumeSpec};
use crate::units::{MIB, ResourceAmounts};
use crate::validate::Name;

/// Usage, in percent of a volume's size, from which it is `warning`.
pub const VOLUME_WARNING_PERCENT: u64 = 80;
/// Largest volume size accepted (64 TiB).
pub const MAX_VOLUME_BYTES: u64 = 64 * 1024 * 1024 * MIB;
/// The alert rule of a volume at or above the warning threshold.
pub const RULE_VOLUME_WARNING: &str = "volume_usage_warning";
/// The alert rule of a full volume.
pub const RULE_VOLUME_FULL: &str = "volume_full";

/// How the platform creates volumes in the runtime (an operator setting; see the module docs
/// for hard size limits).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VolumeDriver {
    /// The runtime's volume driver (`local` when `None`).
    pub driver: Option<String>,
    /// Driver options; `{size}` in a value is replaced by the volume's size in bytes.
    pub options: BTreeMap<String, String>,
}

impl VolumeDriver {
    /// The runtime's default driver, no options.
    pub fn new() -> Self {
        Self::default()
    }
    /// Another driver.
    pub fn driver(mut self, name: impl Into<String>) -> Self {
        self.driver = Some(name.into());
        self
    }
    /// Adds a driver option (`{size}` is replaced by the volume's size in bytes).
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.insert(key.into(), value.into());
        self
    }
    fn options_for(&self, size: u64) -> BTreeMap<String, String> {
        self.options
            .iter()
            .map(|(k, v)| (k.clone(), v.replace("{size}", &size.to_string())))
            .collect()
    }
}

/// A volume to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewVolume {
    /// The project whose services mount it.
    pub project: String,
    /// Name, unique in the project (DNS-label rules).
    pub name: String,
    /// Size counted against the storage quota (at least 1 MiB).
    pub size_bytes: u64,
}

impl NewVolume {
    /// A volume `name` of `size_bytes` in `project`.
    pub fn new(project: impl Into<String>, name: impl Into<String>, size_bytes: u64) -> Self {
        Self {
            project: project.into(),
            name: name.into(),
            size_bytes,
        }
    }
}

/// A service mounting a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MountedBy {
    /// The service's name.
    pub service: Name,
    /// Where it is mounted.
    pub target: String,
    /// Mounted read-only (as asked; a full volume is mounted read-only anyway).
    pub read_only: bool,
}

/// A volume with what mounts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VolumeView {
    /// The volume.
    #[serde(flatten)]
    pub volume: Volume,
    /// The project's name.
    pub project_name: Name,
    /// Usage in percent of the size, from the last measurement.
    pub percent_used: Option<u64>,
    /// Services of the project that mount it.
    pub mounted_by: Vec<MountedBy>,
}

/// What one pass of [`Volumes::check`](crate::platform::Volumes::check) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeCheckReport {
    /// Volumes measured.
    pub measured: usize,
    /// Volumes whose state changed (`runtime name`, new state).
    pub changed: Vec<(String, VolumeState)>,
    /// Volumes that could not be measured, with the reason.
    pub failed: Vec<(String, String)>,
}

/// The state of a volume of `size` holding `bytes`.
pub fn volume_state(bytes: u64, size: u64) -> VolumeState {
    if bytes >= size {
        VolumeState::Full
    } else if u128::from(bytes) * 100 >= u128::from(size) * u128::from(VOLUME_WARNING_PERCENT) {
        VolumeState::Warning
    } else {
        VolumeState::Ok
    }
}

fn percent(bytes: u64, size: u64) -> u64 {
    u64::try_from(u128::from(bytes) * 100 / u128::from(size.max(1))).unwrap_or(u64::MAX)
}

fn check_size(field: &str, size: u64) -> Result<()> {
    if !(MIB..=MAX_VOLUME_BYTES).contains(&size) {
        return Err(Error::invalid(
            field,
            format!("must be between 1 MiB ({MIB}) and 64 TiB ({MAX_VOLUME_BYTES}) bytes"),
        ));
    }
    Ok(())
}

/// Labels of a volume's runtime object: the project's volume labels plus its id.
fn runtime_labels(project: &Project, volume: &Volume) -> BTreeMap<String, String> {
    let mut l = labels::volume_labels(project.org, project.id, volume.name.as_str());
    l.insert(labels::VOLUME_ID.to_string(), volume.id.to_string());
    l
}

impl Platform {
    /// Creates a volume in a project: its size is reserved against the storage quota until it
    /// is deleted. Errors: `InvalidInput` naming the field, `AlreadyExists` (name in
    /// project), `QuotaExceeded`, `NotFound`, `PermissionDenied`, `Unavailable` (nothing is
    /// left behind).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %new.project))]
    pub(crate) async fn create_volume(
        &self,
        who: &Principal,
        org_slug: &str,
        new: NewVolume,
    ) -> Result<VolumeView> {
        let (org, project) = self
            .authorize_project(who, org_slug, &new.project, Action::VolumeManage)
            .await?;
        let name = Name::parse_field("name", new.name)?;
        check_size("size_bytes", new.size_bytes)?;
        if self
            .inner
            .store
            .volumes
            .volume_by_name_opt(project.id, name.as_str())
            .await?
            .is_some()
        {
            return Err(Error::already_exists("volume", name));
        }
        let volume = self
            .provision_volume(&project, &name, new.size_bytes, true)
            .await?;
        self.audit(
            Some(who),
            Some(org.id),
            "volume.create",
            format!("volume:{}", volume.id),
            None,
            json(&volume),
        )
        .await;
        self.view(&project, volume).await
    }

    /// Reserves, records and creates a volume; undoes what it did on failure. With `commit`
    /// the reservation is committed to the volume; without, the caller commits it (see
    /// [`Platform::commit_volumes`]) once the operation that needed the volume succeeded, so a
    /// crash before that leaves a pending reservation the reconciler rolls back.
    pub(super) async fn provision_volume(
        &self,
        project: &Project,
        name: &Name,
        size: u64,
        commit: bool,
    ) -> Result<Volume> {
        let reservation = self
            .inner
            .quota
            .reserve(
                project.org,
                ResourceAmounts {
                    storage_bytes: size,
                    ..ResourceAmounts::default()
                },
            )
            .await?;
        let volume = Volume {
            id: VolumeId::new(),
            org: project.org,
            project: project.id,
            name: name.clone(),
            size_bytes: size,
            runtime_name: volume_runtime_name(project, name.as_str()),
            reservation: Some(reservation.id),
            state: VolumeState::Ok,
            usage: None,
            backup_schedule: None,
            created_at: self.now(),
        };
        if let Err(e) = self.inner.store.volumes.create_volume(&volume).await {
            let _ = self.inner.quota.release(reservation.id).await;
            return Err(e);
        }
        let created = async {
            let outcome = self
                .create_runtime_volume(project, &volume, &volume.runtime_name)
                .await?;
            if commit {
                self.commit_volumes(std::slice::from_ref(&volume)).await?;
            }
            Ok::<_, Error>(outcome)
        }
        .await;
        match created {
            Ok(_) => Ok(volume),
            Err(e) => {
                tracing::warn!(error = %e, volume = %volume.name, "volume creation failed; undoing");
                let _ = self.inner.store.volumes.delete_volume(volume.id).await;
                let _ = self.inner.quota.release(reservation.id).await;
                Err(e)
            }
        }
    }

    /// Commits the storage reservations of volumes provisioned without committing.
    /// Errors: `Conflict` (expired), `Unavailable`.
    pub(super) async fn commit_volumes(&self, volumes: &[Volume]) -> Result<()> {
        for v in volumes {
            if let Some(r) = v.reservation {
                self.inner
                    .quota
                    .commit(r, &format!("volume:{}", v.id))
                    .await?;
            }
        }
        Ok(())
    }

    /// Creates the runtime object of `volume` under `runtime_name` (idempotent: an existing
    /// one of that name is adopted). Errors: `Unavailable`.
    pub(super) async fn create_runtime_volume(
        &self,
        project: &Project,
        volume: &Volume,
        runtime_name: &str,
    ) -> Result<CreateOutcome> {
        let driver = &self.inner.volume_driver;
        let mut spec = VolumeSpec::new(runtime_name, self.scoped(runtime_labels(project, volume)));
        spec.driver = driver.driver.clone();
        spec.driver_opts = driver.options_for(volume.size_bytes);
        self.runtime().create_volume(&spec).await
    }

    /// The volumes of an organization (of one project when given) the principal may see.
    /// Errors: `NotFound`, `PermissionDenied`.
    pub(crate) async fn list_volumes(
        &self,
        who: &Principal,
        org_slug: &str,
        project: Option<&str>,
    ) -> Result<Vec<VolumeView>> {
        let org = self.authorize_org(who, org_slug, Action::OrgView).await?;
        let project_id = match project {
            Some(p) => Some(
                self.authorize_project(who, org_slug, p, Action::ServiceView)
                    .await?
                    .1
                    .id,
            ),
            None => None,
        };
        let mut out = Vec::new();
        for v in self
            .inner
            .store
            .volumes
            .list_volumes(org.id, project_id)
            .await?
        {
            if !who.can(Action::ServiceView, Some(org.id), Some(v.project)) {
                continue;
            }
            let project = self.inner.store.services.project(v.project).await?;
            out.push(self.view(&project, v).await?);
        }
        Ok(out)
    }

    /// One volume, by id or by name (a name must be unique in the organization; otherwise
    /// use the id). Errors: `NotFound`, `Conflict` (ambiguous name), `PermissionDenied`.
    pub(crate) async fn volume(
        &self,
        who: &Principal,
        org_slug: &str,
        volume: &str,
    ) -> Result<VolumeView> {
        let (_, v) = self
            .authorize_volume(who, org_slug, volume, Action::ServiceView)
            .await?;
        let project = self.inner.store.services.project(v.project).await?;
        self.view(&project, v).await
    }

    /// Deletes a volume and its data, releasing its storage quota. Refused while a service
    /// mounts it unless `force`: then each such service is first recreated without the mount.
    /// Backups of the volume are kept.
    ///
    /// Errors: `Conflict` (mounted, not forced; or the runtime still uses it), `NotFound`,
    /// `PermissionDenied`, `Unavailable` (the record stays until the runtime object is gone).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.volume = %volume))]
    pub(crate) async fn delete_volume(
        &self,
        who: &Principal,
        org_slug: &str,
        volume: &str,
        force: bool,
    ) -> Result<()> {
        let (org, v) = self
            .authorize_volume(who, org_slug, volume, Action::VolumeDelete)
            .await?;
        let project = self.inner.store.services.project(v.project).await?;
        let users = self.services_mounting(&v).await?;
        if !users.is_empty() && !force {
            let names: Vec<String> = users.iter().map(|s| s.name.to_string()).collect();
            return Err(Error::conflict(format!(
                "volume '{}' is mounted by {}; detach it first, or delete with force to recreate them without it",
                v.name,
                names.join(", ")
            )));
        }
        let _busy = self.volume_busy(v.id)?;
        for svc in users {
            let mut spec = svc.spec.clone();
            spec.volumes.retain(|m| m.volume != v.name);
            self.detach_for_delete(&project, &svc, spec).await?;
        }
        self.destroy_volume(&v).await?;
        self.audit(
            Some(who),
            Some(org.id),
            "volume.delete",
            format!("volume:{}", v.id),
            json(&v),
            json(&serde_json::json!({ "force": force })),
        )
        .await;
        Ok(())
    }

    /// Recreates a service on `spec` (its mounts minus the volume being deleted).
    async fn detach_for_delete(
        &self,
        project: &Project,
        svc: &Service,
        spec: ServiceSpec,
    ) -> Result<()> {
        if svc.current_deployment.is_none() {
            let mut s = svc.clone();
            s.spec = spec;
            s.updated_at = self.now();
            return self.inner.store.services.update_service(&s).await;
        }
        let was_running = svc.status == crate::model::ServiceStatus::Running;
        let s = self
            .roll_out(project, svc, spec, super::rollout::Strategy::StopThenStart)
            .await?;
        if !was_running {
            self.stop_quietly(&s).await?;
        }
        Ok(())
    }

    /// Removes a volume's runtime object, record and reservation.
    pub(super) async fn destroy_volume(&self, v: &Volume) -> Result<()> {
        self.runtime().remove_volume(&v.runtime_name).await?;
        self.inner.store.volumes.delete_volume(v.id).await?;
        if let Some(r) = v.reservation {
            self.inner.quota.release(r).await?;
        }
        Ok(())
    }

    /// Releases the records and reservations of a project's volumes, and removes their
    /// runtime objects when `remove_data` (for deleting the project).
    pub(super) async fn forget_project_volumes(
        &self,
        project: &Project,
        remove_data: bool,
    ) -> Result<()> {
        for v in self
            .inner
            .store
            .volumes
            .list_volumes(project.org, Some(project.id))
            .await?
        {
            if remove_data {
                self.destroy_volume(&v).await?;
            } else {
                self.inner.store.volumes.delete_volume(v.id).await?;
                if let Some(r) = v.reservation {
                    self.inner.quota.release(r).await?;
                }
            }
        }
        Ok(())
    }

    /// The services of the volume's project whose spec mounts it.
    pub(super) async fn services_mounting(&self, v: &Volume) -> Result<Vec<Service>> {
        Ok(self
            .inner
            .store
            .services
            .list_services(v.org, Some(v.project))
            .await?
            .into_iter()
            .filter(|s| s.spec.volumes.iter().any(|m| m.volume == v.name))
            .collect())
    }

    async fn view(&self, project: &Project, volume: Volume) -> Result<VolumeView> {
        let mounted_by = self
            .services_mounting(&volume)
            .await?
            .into_iter()
            .flat_map(|s| {
                s.spec
                    .volumes
                    .iter()
                    .filter(|m| m.volume == volume.name)
                    .map(|m| MountedBy {
                        service: s.name.clone(),
                        target: m.target.clone(),
                        read_only: m.read_only,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        Ok(VolumeView {
            percent_used: volume.usage.map(|u| percent(u.bytes, volume.size_bytes)),
            project_name: project.name.clone(),
            volume,
            mounted_by,
        })
    }

    /// Resolves a volume by id or unique name in an organization and checks `action` on its
    /// project. Errors: `NotFound`, `Conflict` (the name exists in several projects),
    /// `PermissionDenied`.
    pub(super) async fn authorize_volume(
        &self,
        who: &Principal,
        org_slug: &str,
        volume: &str,
        action: Action,
    ) -> Result<(Organization, Volume)> {
        let org = self.authorize_org(who, org_slug, Action::OrgView).await?;
        let candidates: Vec<Volume> = match volume.parse::<uuid::Uuid>() {
            Ok(id) => match self.inner.store.volumes.volume(VolumeId(id)).await {
                Ok(v) if v.org == org.id => vec![v],
                Ok(_) => Vec::new(),
                Err(e) if e.is_not_found() => Vec::new(),
                Err(e) => return Err(e),
            },
            Err(_) => self
                .inner
                .store
                .volumes
                .list_volumes(org.id, None)
                .await?
                .into_iter()
                .filter(|v| v.name.as_str() == volume)
                .collect(),
        };
        let visible: Vec<Volume> = candidates
            .into_iter()
            .filter(|v| who.can(Action::ServiceView, Some(org.id), Some(v.project)))
            .collect();
        let v = match visible.len() {
            0 => return Err(Error::not_found("volume", volume)),
            1 => visible
                .into_iter()
                .next()
                .ok_or_else(|| Error::not_found("volume", volume))?,
            n => {
                return Err(Error::conflict(format!(
                    "{n} projects have a volume named '{volume}'; use its id"
                )));
            }
        };
        who.require(action, org.id, Some(v.project), org_slug)?;
        Self::refuse_if_suspended(&org, action)?;
        Ok((org, v))
    }

    /// The volume records behind a spec's mounts, creating the missing ones (their storage
    /// reserved, not committed); each created one is pushed to `created` so the caller
    /// commits them on success ([`Platform::commit_volumes`]) or undoes them on failure.
    /// With `new_writer`, a writable mount of a full volume is refused.
    /// Errors: `Conflict` (full), `QuotaExceeded`, `Unavailable`.
    pub(super) async fn ensure_volumes(
        &self,
        project: &Project,
        spec: &ServiceSpec,
        new_writer: bool,
        created: &mut Vec<Volume>,
    ) -> Result<Vec<(VolumeMount, Volume)>> {
        let mut out = Vec::new();
        for m in &spec.volumes {
            let v = match self
                .inner
                .store
                .volumes
                .volume_by_name_opt(project.id, m.volume.as_str())
                .await?
            {
                Some(v) => {
                    if new_writer && !m.read_only && v.state == VolumeState::Full {
                        return Err(Error::conflict(format!(
                            "volume '{}' is full ({} of {} bytes used); a deploy that writes to it is refused: free space or mount it read-only",
                            v.name,
                            v.usage.map_or(0, |u| u.bytes),
                            v.size_bytes
                        )));
                    }
                    // Runtime objects can go missing (a restore interrupted, an operator):
                    // recreate empty rather than fail the deploy.
                    if self
                        .runtime()
                        .inspect_volume_opt(&v.runtime_name)
                        .await?
                        .is_none()
                    {
                        self.create_runtime_volume(project, &v, &v.runtime_name)
                            .await?;
                    }
                    v
                }
                None => {
                    let v = self
                        .provision_volume(project, &m.volume, m.size_bytes, false)
                        .await?;
                    created.push(v.clone());
                    v
                }
            };
            out.push((m.clone(), v));
        }
        Ok(out)
    }

    /// The runtime mounts of a spec: each volume by its current runtime name, read-only when
    /// asked or when the volume is full.
    pub(super) async fn mounts_for(
        &self,
        project: &Project,
        spec: &ServiceSpec,
    ) -> Result<Vec<Mount>> {
        let mut out = Vec::new();
        for m in &spec.volumes {
            let v = self
                .inner
                .store
                .volumes
                .volume_by_name_opt(project.id, m.volume.as_str())
                .await?;
            out.push(Mount {
                volume: v.as_ref().map_or_else(
                    || volume_runtime_name(project, m.volume.as_str()),
                    |v| v.runtime_name.clone(),
                ),
                target: m.target.clone(),
                read_only: m.read_only || v.is_some_and(|v| v.state == VolumeState::Full),
            });
        }
        Ok(out)
    }

    /// Measures every volume's usage through the runtime, records it, moves volumes between
    /// `ok`, `warning` and `full`, fires and resolves alerts and records events on the services
    /// that mount a volume whose state got worse. A system operation (no principal).
    /// Errors: `Unavailable` (the store); a volume the runtime cannot measure is reported.
    #[instrument(skip_all)]
    pub(crate) async fn check_volumes(&self) -> Result<VolumeCheckReport> {
        let mut report = VolumeCheckReport::default();
        let runtime = self.runtime();
        for mut v in self.inner.store.volumes.list_all_volumes().await? {
            let bytes = match runtime.volume_usage(&v.runtime_name).await {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(e) => {
                    report.failed.push((v.runtime_name.clone(), e.to_string()));
                    continue;
                }
            };
            report.measured += 1;
            let state = volume_state(bytes, v.size_bytes);
            let before = v.state;
            v.usage = Some(VolumeUsage {
                bytes,
                at: self.now(),
            });
            v.state = state;
            self.inner.store.volumes.update_volume(&v).await?;
            if state != before {
                report.changed.push((v.runtime_name.clone(), state));
                self.on_volume_state(&v, before, bytes).await;
            }
        }
        Ok(report)
    }

    /// Alerts and events for a volume whose state changed from `before`.
    async fn on_volume_state(&self, v: &Volume, before: VolumeState, bytes: u64) {
        let pct = percent(bytes, v.size_bytes);
        let subject = format!("volume:{}", v.id);
        let warn_msg = format!(
            "volume '{}' is {pct} % full ({bytes} of {} bytes)",
            v.name, v.size_bytes
        );
        let full_msg = format!(
            "volume '{}' is full ({bytes} of {} bytes): it is mounted read-only from the next recreate and deploys that write to it are refused",
            v.name, v.size_bytes
        );
        let warning = v.state != VolumeState::Ok;
        let full = v.state == VolumeState::Full;
        for (rule, on, msg) in [
            (RULE_VOLUME_WARNING, warning, &warn_msg),
            (RULE_VOLUME_FULL, full, &full_msg),
        ] {
            if let Some(changed) = self.set_alert(v.org, rule, &subject, on, msg).await {
                self.notify_org(v.org, changed).await;
            }
        }
        let worse = matches!(
            (before, v.state),
            (VolumeState::Ok, VolumeState::Warning | VolumeState::Full)
                | (VolumeState::Warning, VolumeState::Full)
        );
        if !worse {
            return;
        }
        let users = match self.services_mounting(v).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "could not list the services of a volume");
                return;
            }
        };
        for svc in users {
            let (kind, msg) = if full {
                (
                    ServiceEventKind::VolumeFull {
                        volume: v.name.to_string(),
                    },
                    &full_msg,
                )
            } else {
                (
                    ServiceEventKind::VolumeAlmostFull {
                        volume: v.name.to_string(),
                        percent: u32::try_from(pct).unwrap_or(u32::MAX),
                    },
                    &warn_msg,
                )
            };
            self.record_event(&svc, kind, msg).await;
        }
    }

    /// Makes `rule` about `subject` fire (deduplicated: one firing alert at a time, which the store
    /// enforces, so that of two evaluators raising it at once only one gets it back and notifies)
    /// or resolves it; returns the alert when its state changed. Failures are logged: alerts never
    /// fail the operation that raised them.
    pub(super) async fn set_alert(
        &self,
        org: OrgId,
        rule: &str,
        subject: &str,
        firing: bool,
        message: &str,
    ) -> Option<Alert> {
        let store = &self.inner.store;
        let result = async {
            match (
                store.history.firing_alert_opt(org, rule, subject).await?,
                firing,
            ) {
                (Some(_), true) | (None, false) => Ok(None),
                (None, true) => {
                    let a = Alert {
                        id: AlertId::new(),
                        org,
                        service: None,
                        subject: subject.to_string(),
                        rule: rule.to_string(),
                        state: AlertState::Firing,
                        message: message.to_string(),
                        since: self.now(),
                        resolved_at: None,
                    };
                    match store.history.put_alert(&a).await {
                        Ok(()) => Ok(Some(a)),
                        // Another evaluator raised it between the look-up and now: it is
                        // theirs to notify.
                        Err(e) if e.is_already_exists() => Ok(None),
                        Err(e) => Err(e),
                    }
                }
                (Some(mut a), false) => {
                    a.state = AlertState::Resolved;
                    a.resolved_at = Some(self.now());
                    a.message = message.to_string();
                    store.history.put_alert(&a).await.map(|()| Some(a))
                }
            }
        }
        .await;
        result.unwrap_or_else(|e: Error| {
            tracing::warn!(error = %e, rule, subject, "could not record an alert");
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_follow_the_thresholds() {
        assert_eq!(volume_state(0, 100), VolumeState::Ok);
        assert_eq!(volume_state(79, 100), VolumeState::Ok);
        assert_eq!(volume_state(80, 100), VolumeState::Warning);
        assert_eq!(volume_state(99, 100), VolumeState::Warning);
        assert_eq!(volume_state(100, 100), VolumeState::Full);
        assert_eq!(volume_state(u64::MAX, u64::MAX - 1), VolumeState::Full);
        assert_eq!(percent(50, 200), 25);
    }

    #[test]
    fn driver_options_carry_the_size() {
        let d = VolumeDriver::new()
            .option("type", "tmpfs")
            .option("o", "size={size}");
        assert_eq!(d.options_for(1024)["o"], "size=1024");
        assert_eq!(d.options_for(1024)["type"], "tmpfs");
    }
}
