//! Configuration updates with a preview: env, resources, image, command and health check.
//!
//! | what changes | how it is applied |
//! |---|---|
//! | nothing | nothing (`noop`) |
//! | only resources | live on the running container (`live`: same container, same start time); if the engine refuses, like a rolling update or a recreate below |
//! | anything else, single writer before or after (a database, or a writable volume) | stop the old container, start the new one (`recreate`) |
//! | anything else, stateless app | start the new one, wait until healthy, route to it, drain, stop the old one (`rolling`) |
//!
//! The quota delta is reserved before anything is touched (only growth is checked) and given
//! back if the update fails. A preview (`dry_run`) computes all of it and changes nothing.

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::rollout::Strategy;
use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::DeploymentId;
use crate::model::{
    Deployment, DeploymentStatus, EnvVar, HealthCheck, REDACTED, ResourceLimits, Service,
    ServiceKind, ServiceSpec, VolumeMount, VolumeState,
};
use crate::ports::runtime::UpdateOutcome;
use crate::validate::{self, ImageRef};

/// A change to a service's configuration; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServiceUpdate {
    /// Variables to set (added or replaced); `secret: true` hides the value from then on.
    #[serde(default)]
    pub env_set: Vec<EnvVar>,
    /// Variables to remove.
    #[serde(default)]
    pub env_unset: Vec<String>,
    /// New limits.
    #[serde(default)]
    pub resources: Option<ResourceLimits>,
    /// New image.
    #[serde(default)]
    pub image: Option<ImageRef>,
    /// New command; an empty list goes back to the image's default.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// New health check.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// Remove the health check.
    #[serde(default)]
    pub remove_health_check: bool,
    /// Volumes of the service's project to mount (they must exist; a full volume only
    /// read-only).
    #[serde(default)]
    pub volumes_attach: Vec<VolumeAttach>,
    /// Volumes to unmount, by name (their data stays in the volume).
    #[serde(default)]
    pub volumes_detach: Vec<String>,
}

/// A volume to mount into a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VolumeAttach {
    /// The volume's name in the project.
    pub volume: String,
    /// Where to mount it (absolute path).
    pub target: String,
    /// Mount it read-only.
    #[serde(default)]
    pub read_only: bool,
}

impl VolumeAttach {
    /// Mounts `volume` at `target`, writable.
    pub fn new(volume: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            volume: volume.into(),
            target: target.into(),
            read_only: false,
        }
    }
    /// Read-only.
    pub fn read_only(mut self, on: bool) -> Self {
        self.read_only = on;
        self
    }
}

/// How an update is (or would be) applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApplyMode {
    /// Nothing changes.
    Noop,
    /// Applied to the running container.
    Live,
    /// Stop the old container, then start the new one.
    Recreate,
    /// Start the new container, switch traffic, then stop the old one.
    Rolling,
}

/// One changed field, secrets redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpecChange {
    /// `image`, `command`, `env.KEY`, `resources.memory_bytes`, `health_check`.
    pub field: String,
    /// Before (null when absent).
    pub before: serde_json::Value,
    /// After (null when removed).
    pub after: serde_json::Value,
}

/// Signed change of quota per dimension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaDelta {
    /// Millicores.
    pub cpu_millis: i64,
    /// Bytes.
    pub memory_bytes: i64,
    /// Bytes.
    pub storage_bytes: i64,
    /// Containers.
    pub containers: i64,
}

/// A validation problem found by a preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The field (`env_set.FOO`, `spec.resources.memory_bytes`, ...).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// What an update would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdatePreview {
    /// Changed fields.
    pub changes: Vec<SpecChange>,
    /// How it would be applied.
    pub mode: ApplyMode,
    /// Why that mode.
    pub reason: String,
    /// Quota change.
    pub quota_delta: QuotaDelta,
    /// Validation problems (an update with problems is refused).
    pub errors: Vec<FieldError>,
}

/// What an update did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateResult {
    /// The preview it was based on.
    pub preview: UpdatePreview,
    /// Whether anything was applied (false for a dry run or a no-op).
    pub applied: bool,
    /// How it was applied (may differ from the preview when the engine refused a live change).
    pub mode: ApplyMode,
    /// The service afterwards (secrets redacted).
    pub service: Service,
}

fn delta(before: &ServiceSpec, after: &ServiceSpec) -> QuotaDelta {
    let (b, a) = (before.quota_amounts(), after.quota_amounts());
    let d = |x: u64, y: u64| {
        i64::try_from(y).unwrap_or(i64::MAX) - i64::try_from(x).unwrap_or(i64::MAX)
    };
    QuotaDelta {
        cpu_millis: d(b.cpu_millis, a.cpu_millis),
        memory_bytes: d(b.memory_bytes, a.memory_bytes),
        storage_bytes: d(b.storage_bytes, a.storage_bytes),
        containers: d(b.containers, a.containers),
    }
}

fn shown(v: &EnvVar) -> serde_json::Value {
    if v.secret {
        serde_json::Value::String(REDACTED.into())
    } else {
        serde_json::Value::String(v.value.clone())
    }
}

/// The fields that differ between two specs, secrets redacted.
pub fn diff(before: &ServiceSpec, after: &ServiceSpec) -> Vec<SpecChange> {
    let mut out = Vec::new();
    let mut push = |field: String, b: serde_json::Value, a: serde_json::Value| {
        if b != a {
            out.push(SpecChange {
                field,
                before: b,
                after: a,
            });
        }
    };
    let j = |v: &dyn erased::Ser| v.value();
    push("image".into(), j(&before.image), j(&after.image));
    push("command".into(), j(&before.command), j(&after.command));
    push(
        "entrypoint".into(),
        j(&before.entrypoint),
        j(&after.entrypoint),
    );
    for (name, b, a) in [
        (
            "cpu_millis",
            before.resources.cpu_millis,
            after.resources.cpu_millis,
        ),
        (
            "memory_bytes",
            before.resources.memory_bytes,
            after.resources.memory_bytes,
        ),
        ("pids", before.resources.pids, after.resources.pids),
    ] {
        push(format!("resources.{name}"), b.into(), a.into());
    }
    push(
        "health_check".into(),
        j(&before.health_check),
        j(&after.health_check),
    );
    push("volumes".into(), j(&before.volumes), j(&after.volumes));
    let mut keys: Vec<&str> = before
        .env
        .iter()
        .chain(&after.env)
        .map(|v| v.key.as_str())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        let b = before.env.iter().find(|v| v.key.as_str() == k);
        let a = after.env.iter().find(|v| v.key.as_str() == k);
        let changed = match (b, a) {
            (Some(b), Some(a)) => b.value != a.value || b.secret != a.secret,
            _ => true,
        };
        if changed {
            let (bv, av) = (
                b.map_or(serde_json::Value::Null, shown),
                a.map_or(serde_json::Value::Null, shown),
            );
            // A changed secret shows as a change even though both sides read "********".
            out.push(SpecChange {
                field: format!("env.{k}"),
                before: bv,
                after: av,
            });
        }
    }
    out
}

mod erased {
    /// Serializes anything to JSON for a diff.
    pub(super) trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

/// Applies an update to a spec, collecting every problem instead of stopping at the first.
fn apply(spec: &ServiceSpec, u: &ServiceUpdate) -> (ServiceSpec, Vec<FieldError>) {
    let mut next = spec.clone();
    let mut errors = Vec::new();
    for key in &u.env_unset {
        if let Err(e) = validate::env_key(&format!("env_unset.{key}"), key) {
            errors.push(FieldError {
                field: e.field().unwrap_or("env_unset").to_string(),
                reason: e.to_string(),
            });
            continue;
        }
        let before = next.env.len();
        next.env.retain(|v| v.key.as_str() != key);
        if next.env.len() == before {
            errors.push(FieldError {
                field: format!("env_unset.{key}"),
                reason: format!("'{key}' is not set"),
            });
        }
    }
    for v in &u.env_set {
        match next.env.iter_mut().find(|x| x.key == v.key) {
            Some(x) => *x = v.clone(),
            None => next.env.push(v.clone()),
        }
    }
    if let Some(r) = u.resources {
        next.resources = r;
    }
    if let Some(i) = &u.image {
        next.image = i.clone();
    }
    if let Some(c) = &u.command {
        next.command = if c.is_empty() { None } else { Some(c.clone()) };
    }
    if u.remove_health_check && u.health_check.is_some() {
        errors.push(FieldError {
            field: "health_check".into(),
            reason: "cannot both set and remove the health check".into(),
        });
    } else if u.remove_health_check {
        next.health_check = None;
    } else if let Some(h) = &u.health_check {
        next.health_check = Some(h.clone());
    }
    for (i, name) in u.volumes_detach.iter().enumerate() {
        let before = next.volumes.len();
        next.volumes.retain(|m| m.volume.as_str() != name);
        if next.volumes.len() == before {
            errors.push(FieldError {
                field: format!("volumes_detach[{i}]"),
                reason: format!("the service does not mount a volume '{name}'"),
            });
        }
    }
    for (i, a) in u.volumes_attach.iter().enumerate() {
        match validate::Name::parse_field(&format!("volumes_attach[{i}].volume"), a.volume.clone())
        {
            Ok(volume) => {
                if next.volumes.iter().any(|m| m.volume == volume) {
                    errors.push(FieldError {
                        field: format!("volumes_attach[{i}].volume"),
                        reason: format!("volume '{volume}' is already mounted"),
                    });
                    continue;
                }
                next.volumes.push(VolumeMount {
                    volume,
                    target: a.target.clone(),
                    read_only: a.read_only,
                    // Attached volumes exist: their own size counts, not this one.
                    size_bytes: crate::units::MIB,
                });
            }
            Err(e) => errors.push(FieldError {
                field: e.field().unwrap_or("volumes_attach").to_string(),
                reason: e.to_string(),
            }),
        }
    }
    if let Err(e) = next.validate() {
        errors.push(FieldError {
            field: e.field().unwrap_or("spec").to_string(),
            reason: match e {
                Error::InvalidInput { reason, .. } => reason,
                other => other.to_string(),
            },
        });
    }
    (next, errors)
}

/// Whether a service must never run twice at once: databases and services with a writable
/// volume.
pub fn single_writer(svc: &Service) -> bool {
    matches!(svc.kind, ServiceKind::Database { .. })
        || svc.spec.volumes.iter().any(|v| !v.read_only)
}

fn plan_mode(svc: &Service, next: &ServiceSpec, changes: &[SpecChange]) -> (ApplyMode, String) {
    if changes.is_empty() {
        return (ApplyMode::Noop, "nothing changes".into());
    }
    if changes.iter().all(|c| c.field.starts_with("resources.")) {
        return (
            ApplyMode::Live,
            "only limits change: applied to the running container without a restart".into(),
        );
    }
    let after = Service {
        spec: next.clone(),
        ..svc.clone()
    };
    if single_writer(svc) || single_writer(&after) {
        (
            ApplyMode::Recreate,
            "single writer (a database or a writable volume): the old container stops before the new one starts; expect a short interruption".into(),
        )
    } else {
        (
            ApplyMode::Rolling,
            "stateless: the new container starts next to the old one and takes over the traffic once healthy".into(),
        )
    }
}

impl Platform {
    /// Previews (`dry_run`) or applies a configuration update. See the module docs for how
    /// each kind of change is applied.
    ///
    /// Errors: `InvalidInput` naming the field (when not a dry run; a dry run lists the
    /// problems in the preview), `QuotaExceeded`, `NotFound`, `PermissionDenied`, `Conflict`
    /// (the new container never became ready; the old one keeps serving), `Unavailable`.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %name, dry_run))]
    pub(crate) async fn update_service(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: &str,
        update: ServiceUpdate,
        dry_run: bool,
    ) -> Result<UpdateResult> {
        let (org, project, svc) = self
            .authorize_service(who, org_slug, project, name, Action::ServiceDeploy)
            .await?;
        let (next, errors) = apply(&svc.spec, &update);
        self.apply_spec(
            who,
            org.id,
            &project,
            svc,
            next,
            errors,
            dry_run,
            "service.update",
        )
        .await
    }

    /// Rolls a service back to the spec of an earlier deployment (the one before the current when
    /// `to` is `None`), the same way an update is applied. Errors: as
    /// [`Services::update`](crate::platform::Services::update); `NotFound` for an unknown
    /// deployment.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %name))]
    pub(crate) async fn rollback_service(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: &str,
        to: Option<DeploymentId>,
    ) -> Result<UpdateResult> {
        let (org, project, svc) = self
            .authorize_service(who, org_slug, project, name, Action::ServiceDeploy)
            .await?;
        let history = self.inner.store.services.list_deployments(svc.id).await?;
        let target: Deployment = match to {
            Some(id) => history
                .into_iter()
                .find(|d| d.id == id)
                .ok_or_else(|| Error::not_found("deployment", id))?,
            None => history
                .into_iter()
                .find(|d| {
                    Some(d.id) != svc.current_deployment
                        && matches!(d.status, DeploymentStatus::Superseded)
                })
                .ok_or_else(|| {
                    Error::conflict(format!(
                        "service '{name}' has no earlier deployment to roll back to"
                    ))
                })?,
        };
        let spec = target.spec.clone();
        self.apply_spec(
            who,
            org.id,
            &project,
            svc,
            spec,
            Vec::new(),
            false,
            "service.rollback",
        )
        .await
    }

    /// Deployments of a service, newest first (secrets redacted).
    /// Errors: `NotFound`, `PermissionDenied`.
    pub(crate) async fn list_deployments(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        name: &str,
    ) -> Result<Vec<Deployment>> {
        let (_, _, svc) = self
            .authorize_service(who, org_slug, project, name, Action::ServiceView)
            .await?;
        Ok(self
            .inner
            .store
            .services
            .list_deployments(svc.id)
            .await?
            .into_iter()
            .map(|mut d| {
                d.spec = d.spec.redacted();
                d
            })
            .collect())
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply_spec(
        &self,
        who: &Principal,
        org: crate::ids::OrgId,
        project: &crate::model::Project,
        svc: Service,
        next: ServiceSpec,
        errors: Vec<FieldError>,
        dry_run: bool,
        action: &str,
    ) -> Result<UpdateResult> {
        let changes = diff(&svc.spec, &next);
        let (mode, reason) = plan_mode(&svc, &next, &changes);
        let mut errors = errors;
        errors.extend(self.check_attached(project, &svc.spec, &next).await?);
        let preview = UpdatePreview {
            changes,
            mode,
            reason,
            quota_delta: delta(&svc.spec, &next),
            errors,
        };
        if let (false, Some(e)) = (dry_run, preview.errors.first()) {
            return Err(Error::invalid(e.field.clone(), e.reason.clone()));
        }
        if dry_run || mode == ApplyMode::Noop {
            return Ok(UpdateResult {
                preview,
                applied: false,
                mode,
                service: svc.redacted(),
            });
        }
        self.check_pids(org, &next).await?;
        // Reserve growth first; give it back if anything below fails.
        let reservation = svc.reservation;
        let (before_amounts, after_amounts) = (svc.spec.quota_amounts(), next.quota_amounts());
        if let Some(r) = reservation {
            if after_amounts != before_amounts {
                self.inner
                    .quota
                    .resize(
                        r,
                        before_amounts.plus(&after_amounts.minus(&before_amounts)),
                    )
                    .await?;
            }
        }
        let outcome = self.apply_mode(project, &svc, next.clone(), mode).await;
        let (service, applied_mode) = match outcome {
            Ok(v) => v,
            Err(e) => {
                if let Some(r) = reservation {
                    let _ = self.inner.quota.resize(r, before_amounts).await;
                }
                return Err(e);
            }
        };
        if let Some(r) = reservation {
            // Shrinking is given back once the new configuration runs.
            if after_amounts != before_amounts {
                if let Err(e) = self.inner.quota.resize(r, after_amounts).await {
                    tracing::warn!(error = %e, "could not shrink the reservation");
                }
            }
        }
        self.audit(
            Some(who),
            Some(org),
            action,
            format!("service:{}", svc.id),
            json(&svc.spec.redacted()),
            json(&service.spec.redacted()),
        )
        .await;
        Ok(UpdateResult {
            preview,
            applied: true,
            mode: applied_mode,
            service: service.redacted(),
        })
    }

    /// Problems with the volumes `next` mounts that `current` does not: each must exist in
    /// the project, and a full one may only be mounted read-only.
    async fn check_attached(
        &self,
        project: &crate::model::Project,
        current: &ServiceSpec,
        next: &ServiceSpec,
    ) -> Result<Vec<FieldError>> {
        let mut out = Vec::new();
        let added = next
            .volumes
            .iter()
            .filter(|m| !current.volumes.iter().any(|c| c.volume == m.volume));
        for (i, m) in added.enumerate() {
            match self
                .inner
                .store
                .volumes
                .volume_by_name_opt(project.id, m.volume.as_str())
                .await?
            {
                None => out.push(FieldError {
                    field: format!("volumes_attach[{i}].volume"),
                    reason: format!(
                        "project '{}' has no volume '{}'; create it first",
                        project.name, m.volume
                    ),
                }),
                Some(v) if v.state == VolumeState::Full && !m.read_only => out.push(FieldError {
                    field: format!("volumes_attach[{i}].read_only"),
                    reason: format!(
                        "volume '{}' is full: it can only be mounted read-only",
                        v.name
                    ),
                }),
                Some(_) => {}
            }
        }
        Ok(out)
    }

    async fn apply_mode(
        &self,
        project: &crate::model::Project,
        svc: &Service,
        next: ServiceSpec,
        mode: ApplyMode,
    ) -> Result<(Service, ApplyMode)> {
        if mode == ApplyMode::Live {
            let container = self.current_container(svc).await?;
            match self
                .runtime()
                .update_limits(&container, &next.resources)
                .await?
            {
                UpdateOutcome::Live => {
                    let mut s = svc.clone();
                    s.spec = next;
                    s.updated_at = self.now();
                    self.inner.store.services.update_service(&s).await?;
                    return Ok((s, ApplyMode::Live));
                }
                UpdateOutcome::Rolled => {
                    // The runtime replaced the instances itself, health-gated and start-first.
                    let mut s = svc.clone();
                    s.spec = next;
                    s.updated_at = self.now();
                    self.inner.store.services.update_service(&s).await?;
                    return Ok((s, ApplyMode::Rolling));
                }
                UpdateOutcome::RequiresRecreate => {
                    tracing::info!("the engine cannot change these limits live; rolling instead");
                }
            }
        }
        let strategy = if single_writer(svc) {
            Strategy::StopThenStart
        } else {
            Strategy::StartThenStop
        };
        let applied = if strategy == Strategy::StopThenStart {
            ApplyMode::Recreate
        } else {
            ApplyMode::Rolling
        };
        let s = self.roll_out(project, svc, next, strategy).await?;
        Ok((s, applied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::ImageRef;

    fn spec() -> ServiceSpec {
        let mut s = ServiceSpec::new(ImageRef::parse("caas/busybox").unwrap());
        s.env.push(EnvVar::plain("A", "1").unwrap());
        s.env.push(EnvVar::secret("TOKEN", "old-secret").unwrap());
        s
    }

    #[test]
    fn diff_redacts_secrets_but_still_shows_their_change() {
        let before = spec();
        let mut u = ServiceUpdate::default();
        u.env_set
            .push(EnvVar::secret("TOKEN", "new-secret").unwrap());
        u.env_unset.push("A".into());
        let (after, errors) = apply(&before, &u);
        assert!(errors.is_empty());
        let changes = diff(&before, &after);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["env.A", "env.TOKEN"]);
        let text = serde_json::to_string(&changes).unwrap();
        assert!(!text.contains("secret\""), "{text}");
        assert!(!text.contains("new-secret") && !text.contains("old-secret"));
    }

    #[test]
    fn apply_collects_every_problem_with_its_field() {
        let mut u = ServiceUpdate::default();
        u.env_unset.push("MISSING".into());
        u.env_set.push(EnvVar::plain("B", "x\ny").unwrap());
        u.resources = Some(ResourceLimits {
            memory_bytes: 1,
            ..ResourceLimits::default()
        });
        let (_, errors) = apply(&spec(), &u);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["env_unset.MISSING", "spec.env.B"]);
    }

    #[test]
    fn resources_only_is_live_else_rolling_or_recreate() {
        let svc = Service {
            id: crate::ids::ServiceId::new(),
            org: crate::ids::OrgId::new(),
            project: crate::ids::ProjectId::new(),
            name: crate::validate::Name::parse("web").unwrap(),
            kind: ServiceKind::App,
            spec: spec(),
            status: crate::model::ServiceStatus::Running,
            current_deployment: None,
            reservation: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let mut u = ServiceUpdate {
            resources: Some(ResourceLimits {
                memory_bytes: 512 * crate::units::MIB,
                ..ResourceLimits::default()
            }),
            ..ServiceUpdate::default()
        };
        let (after, _) = apply(&svc.spec, &u);
        assert_eq!(
            plan_mode(&svc, &after, &diff(&svc.spec, &after)).0,
            ApplyMode::Live
        );
        assert_eq!(delta(&svc.spec, &after).memory_bytes, 256 * 1024 * 1024);
        u.image = Some(ImageRef::parse("caas/busybox:2").unwrap());
        let (after, _) = apply(&svc.spec, &u);
        assert_eq!(
            plan_mode(&svc, &after, &diff(&svc.spec, &after)).0,
            ApplyMode::Rolling
        );
        let db = Service {
            kind: ServiceKind::Database {
                engine: crate::model::DatabaseEngine::Postgres,
            },
            ..svc.clone()
        };
        assert_eq!(
            plan_mode(&db, &after, &diff(&db.spec, &after)).0,
            ApplyMode::Recreate
        );
        assert_eq!(plan_mode(&svc, &svc.spec, &[]).0, ApplyMode::Noop);
    }
}
