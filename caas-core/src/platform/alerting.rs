//! Alerts: rules per organization (or per service), evaluated by a worker, deduplicated, and
//! sent through the [`Notifier`] to the organization's webhook when they fire and resolve.
//!
//! | condition | fires when |
//! |---|---|
//! | `cpu_above { percent }` | every raw sample of the last `for_secs` is above `percent` of the CPU limit, and the samples cover the window |
//! | `memory_above { percent }` | the same, for memory in use against the memory limit |
//! | `storage_above { percent }` | a volume the service mounts is above `percent` of its size |
//! | `unhealthy` | the container has been unhealthy for at least `for_secs` |
//! | `restart_loop { restarts }` | the engine restarted the container at least `restarts` times in the last `for_secs` |
//!
//! A rule without a service applies to every service of the organization (one alert per
//! service). One alert fires per rule and service at a time; it resolves when the condition
//! stops holding. Volume alerts (see [`super::volumes`]) go through the same webhook.
//! Metrics conditions need the metrics collector running; health and restarts need the event
//! watcher.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::model::{
    Alert, AlertState, Organization, Resolution, Service, ServiceEventKind, VolumeState,
};
use crate::ports::notifier::{AlertNotification, WebhookTarget};
use crate::ports::runtime::HealthStatus;
use crate::validate;

/// The placeholder shown instead of a webhook secret.
const SECRET_SHOWN: &str = "********";
/// Most rules per organization.
pub const MAX_ALERT_RULES: usize = 100;

/// What an alert rule watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertCondition {
    /// CPU use above this percentage of the limit.
    CpuAbove {
        /// Percent of the CPU limit (1-1000).
        percent: f64,
    },
    /// Memory in use above this percentage of the limit.
    MemoryAbove {
        /// Percent of the memory limit (1-100).
        percent: f64,
    },
    /// A mounted volume above this percentage of its size.
    StorageAbove {
        /// Percent of the volume's size (1-100).
        percent: f64,
    },
    /// The container is unhealthy.
    Unhealthy,
    /// The engine keeps restarting the container.
    RestartLoop {
        /// Restarts within the window that make a loop (at least 2).
        restarts: u32,
    },
}

fn default_for() -> u64 {
    300
}

fn yes() -> bool {
    true
}

/// One alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AlertRule {
    /// Name, unique in the organization (DNS-label rules); the alert's rule name.
    pub name: String,
    /// The project of the service this rule is about (with `service`).
    #[serde(default)]
    pub project: Option<String>,
    /// The service this rule is about; every service of the organization when absent.
    #[serde(default)]
    pub service: Option<String>,
    /// What it watches.
    pub condition: AlertCondition,
    /// How long the condition must hold (60-86400 s; default 300).
    #[serde(default = "default_for")]
    pub for_secs: u64,
    /// Evaluated at all (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl AlertRule {
    /// A rule for every service of the organization.
    pub fn new(name: impl Into<String>, condition: AlertCondition) -> Self {
        Self {
            name: name.into(),
            project: None,
            service: None,
            condition,
            for_secs: default_for(),
            enabled: true,
        }
    }
    /// Only about one service.
    pub fn for_service(mut self, project: impl Into<String>, service: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self.service = Some(service.into());
        self
    }
    /// Another window.
    pub fn for_secs(mut self, secs: u64) -> Self {
        self.for_secs = secs;
        self
    }
}

/// An organization's alert rules and where notifications go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AlertSettings {
    /// The rules.
    #[serde(default)]
    pub rules: Vec<AlertRule>,
    /// Where notifications are POSTed (none: alerts are only recorded). On update, a secret
    /// of `********` (as returned) keeps the stored one.
    #[serde(default)]
    pub webhook: Option<WebhookTarget>,
}

impl AlertSettings {
    /// These rules, no webhook.
    pub fn new(rules: Vec<AlertRule>) -> Self {
        Self {
            rules,
            webhook: None,
        }
    }
    /// With a webhook.
    pub fn webhook(mut self, url: impl Into<String>, secret: impl Into<String>) -> Self {
        self.webhook = Some(WebhookTarget {
            url: url.into(),
            secret: secret.into(),
        });
        self
    }
    fn redacted(&self) -> Self {
        let mut s = self.clone();
        if let Some(w) = &mut s.webhook {
            w.secret = SECRET_SHOWN.into();
        }
        s
    }
}

/// An organization's alerting: settings (secret hidden) and alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertsView {
    /// Rules and webhook.
    pub settings: AlertSettings,
    /// Firing alerts, newest first.
    pub firing: Vec<Alert>,
    /// Recent alerts of any state, newest first (at most 100).
    pub recent: Vec<Alert>,
}

/// What one evaluation pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertReport {
    /// Rule × service pairs evaluated.
    pub evaluated: u64,
    /// Alerts that started firing.
    pub fired: u64,
    /// Alerts that resolved.
    pub resolved: u64,
    /// Notifications sent.
    pub notified: u64,
    /// Problems that did not stop the pass.
    pub errors: Vec<String>,
}

fn setting_key(org: OrgId) -> String {
    format!("alerts.{org}")
}

fn check_settings(s: &AlertSettings) -> Result<()> {
    if s.rules.len() > MAX_ALERT_RULES {
        return Err(Error::invalid(
            "rules",
            format!("at most {MAX_ALERT_RULES} rules"),
        ));
    }
    let mut names = HashSet::new();
    for (i, r) in s.rules.iter().enumerate() {
        let f = |x: &str| format!("rules[{i}].{x}");
        validate::dns_label(&f("name"), &r.name)?;
        if !names.insert(r.name.as_str()) {
            return Err(Error::invalid(
                f("name"),
                format!("'{}' is used twice", r.name),
            ));
        }
        match (&r.project, &r.service) {
            (Some(p), Some(s)) => {
                validate::dns_label(&f("project"), p)?;
                validate::dns_label(&f("service"), s)?;
            }
            (None, None) => {}
            _ => {
                return Err(Error::invalid(
                    f("service"),
                    "give both project and service, or neither for every service",
                ));
            }
        }
        if !(60..=86_400).contains(&r.for_secs) {
            return Err(Error::invalid(
                f("for_secs"),
                "must be between 60 and 86400",
            ));
        }
        let bad_percent = |p: f64, max: f64| !(p.is_finite() && p >= 1.0 && p <= max);
        match r.condition {
            AlertCondition::CpuAbove { percent } if bad_percent(percent, 1000.0) => {
                return Err(Error::invalid(f("condition.percent"), "must be 1-1000"));
            }
            AlertCondition::MemoryAbove { percent } | AlertCondition::StorageAbove { percent }
                if bad_percent(percent, 100.0) =>
            {
                return Err(Error::invalid(f("condition.percent"), "must be 1-100"));
            }
            AlertCondition::RestartLoop { restarts } if !(2..=1000).contains(&restarts) => {
                return Err(Error::invalid(f("condition.restarts"), "must be 2-1000"));
            }
            _ => {}
        }
    }
    if let Some(w) = &s.webhook {
        let ok = (w.url.starts_with("https://") || w.url.starts_with("http://"))
            && w.url.len() <= 2048
            && !w.url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(Error::invalid(
                "webhook.url",
                "must be an http(s) URL without spaces, at most 2048 characters",
            ));
        }
        if w.secret.len() < 16 || w.secret.len() > 256 {
            return Err(Error::invalid(
                "webhook.secret",
                "must be 16 to 256 characters",
            ));
        }
    }
    Ok(())
}

impl Platform {
    async fn stored_alert_settings(&self, org: OrgId) -> Result<AlertSettings> {
        match self
            .inner
            .store
            .settings
            .setting_opt(&setting_key(org))
            .await?
        {
            Some(serde_json::Value::Null) | None => Ok(AlertSettings::default()),
            Some(v) => serde_json::from_value(v)
                .map_err(|e| Error::backend_source("platform", "reading alert settings", e)),
        }
    }

    /// An organization's alert settings (webhook secret hidden) and its alerts. A member
    /// scoped to projects sees the alerts about its projects' services and volumes, the rules
    /// for every service or for its projects' services, and no webhook. Errors: `NotFound`.
    pub(crate) async fn alerts(&self, who: &Principal, org_slug: &str) -> Result<AlertsView> {
        let org = self.authorize_org(who, org_slug, Action::OrgView).await?;
        let mut settings = self.stored_alert_settings(org.id).await?.redacted();
        let store = &self.inner.store;
        let mut view = AlertsView {
            settings: AlertSettings::default(),
            firing: store.history.list_alerts(org.id, true, 1000).await?,
            recent: store.history.list_alerts(org.id, false, 100).await?,
        };
        if let Some(scope) = who.scope_in(org.id) {
            settings.webhook = None;
            let names: Vec<String> = store
                .services
                .list_projects(org.id)
                .await?
                .into_iter()
                .filter(|p| scope.contains(&p.id))
                .map(|p| p.name.to_string())
                .collect();
            settings
                .rules
                .retain(|r| r.project.as_ref().is_none_or(|p| names.contains(p)));
            let mut projects = std::collections::HashMap::new();
            for a in view.firing.iter().chain(&view.recent) {
                if !projects.contains_key(&a.subject) {
                    let project = self.alert_project(a).await;
                    projects.insert(a.subject.clone(), project);
                }
            }
            let visible = |a: &Alert| {
                projects
                    .get(&a.subject)
                    .copied()
                    .flatten()
                    .is_some_and(|p| scope.contains(&p))
            };
            view.firing.retain(visible);
            view.recent.retain(visible);
        }
        view.settings = settings;
        Ok(view)
    }

    /// The project an alert is about (its service's, or its volume's), if it still exists.
    async fn alert_project(&self, alert: &Alert) -> Option<crate::ids::ProjectId> {
        let store = &self.inner.store;
        if let Some(service) = alert.service {
            return store
                .services
                .service(service)
                .await
                .ok()
                .map(|s| s.project);
        }
        let id = alert.subject.strip_prefix("volume:")?.parse().ok()?;
        store
            .volumes
            .volume(crate::ids::VolumeId(id))
            .await
            .ok()
            .map(|v| v.project)
    }

    /// Replaces an organization's alert rules and webhook. Errors: `InvalidInput` naming the
    /// field, `NotFound`, `PermissionDenied` (admin or higher).
    #[instrument(skip_all, fields(caas.org = %org_slug))]
    pub(crate) async fn set_alerts(
        &self,
        who: &Principal,
        org_slug: &str,
        mut settings: AlertSettings,
    ) -> Result<AlertsView> {
        let org = self
            .authorize_org(who, org_slug, Action::AlertManage)
            .await?;
        let before = self.stored_alert_settings(org.id).await?;
        if let (Some(new), Some(old)) = (&mut settings.webhook, &before.webhook)
            && new.secret == SECRET_SHOWN
        {
            new.secret = old.secret.clone();
        }
        check_settings(&settings)?;
        let value = serde_json::to_value(&settings)
            .map_err(|e| Error::backend_source("platform", "writing alert settings", e))?;
        self.inner
            .store
            .settings
            .put_setting(&setting_key(org.id), &value)
            .await?;
        self.audit(
            Some(who),
            Some(org.id),
            "alerts.update",
            format!("org:{}", org.id),
            json(&before.redacted()),
            json(&settings.redacted()),
        )
        .await;
        self.alerts(who, org_slug).await
    }

    /// Evaluates every organization's rules once (a system operation: no principal), fires
    /// and resolves alerts and sends their notifications. Errors: `Unavailable` (the store).
    #[instrument(skip_all)]
    pub(crate) async fn evaluate_alerts(&self) -> Result<AlertReport> {
        let mut report = AlertReport::default();
        let mut filter = crate::ports::store::OrgFilter {
            limit: 500,
            ..Default::default()
        };
        loop {
            let orgs = self.inner.store.directory.list_orgs(&filter).await?;
            let n = orgs.len();
            for org in orgs {
                if let Err(e) = self.evaluate_org(&org, &mut report).await {
                    report.errors.push(format!("{}: {e}", org.slug));
                }
            }
            if n < filter.limit as usize {
                break;
            }
            filter.offset += filter.limit;
        }
        Ok(report)
    }

    async fn evaluate_org(&self, org: &Organization, report: &mut AlertReport) -> Result<()> {
        let settings = self.stored_alert_settings(org.id).await?;
        let rules: Vec<&AlertRule> = settings.rules.iter().filter(|r| r.enabled).collect();
        if rules.is_empty() {
            return Ok(());
        }
        let services = self
            .inner
            .store
            .services
            .list_services(org.id, None)
            .await?;
        let projects = self.inner.store.services.list_projects(org.id).await?;
        for rule in rules {
            let targets: Vec<&Service> = services
                .iter()
                .filter(|s| match (&rule.project, &rule.service) {
                    (Some(p), Some(n)) => {
                        s.name.as_str() == n
                            && projects
                                .iter()
                                .any(|x| x.id == s.project && x.name.as_str() == p)
                    }
                    _ => true,
                })
                .collect();
            for svc in targets {
                report.evaluated += 1;
                let (holds, detail) = match self.condition_holds(svc, rule).await {
                    Ok(v) => v,
                    Err(e) => {
                        report
                            .errors
                            .push(format!("{} on {}: {e}", rule.name, svc.name));
                        continue;
                    }
                };
                let message = format!("{}: {} {detail}", rule.name, svc.name);
                let subject = format!("service:{}", svc.id);
                if let Some(alert) = self
                    .set_alert_for(org.id, Some(svc), &rule.name, &subject, holds, &message)
                    .await
                {
                    match alert.state {
                        AlertState::Firing => report.fired += 1,
                        AlertState::Resolved => report.resolved += 1,
                    }
                    match self.notify(org, &settings, alert).await {
                        Ok(true) => report.notified += 1,
                        Ok(false) => {}
                        Err(e) => report.errors.push(format!("notifying {}: {e}", rule.name)),
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether `rule` holds for `svc` now, and a detail for the alert's message.
    async fn condition_holds(&self, svc: &Service, rule: &AlertRule) -> Result<(bool, String)> {
        let now = self.now();
        let window = chrono::Duration::seconds(i64::try_from(rule.for_secs).unwrap_or(86_400));
        let since = now - window;
        match rule.condition {
            AlertCondition::CpuAbove { percent } | AlertCondition::MemoryAbove { percent } => {
                let cpu = matches!(rule.condition, AlertCondition::CpuAbove { .. });
                let points = self
                    .inner
                    .store
                    .metrics // The end is exclusive: include a sample taken right now.
                    .query_metrics(
                        svc.id,
                        Resolution::Raw,
                        since,
                        now + chrono::Duration::milliseconds(1),
                    )
                    .await?;
                let cores = svc.spec.resources.cpu_millis as f64 / 1000.0;
                let values: Vec<f64> = points
                    .iter()
                    .map(|p| {
                        if cpu {
                            p.cpu_percent.avg / cores.max(0.001)
                        } else {
                            p.memory_bytes.avg / (p.memory_limit_bytes.max(1) as f64) * 100.0
                        }
                    })
                    .collect();
                // The samples must cover the window, not just its end.
                let covered =
                    points.first().is_some_and(|p| p.at <= since + window / 4) && points.len() >= 2;
                let holds = covered && values.iter().all(|v| *v > percent);
                let low = values.iter().copied().fold(f64::INFINITY, f64::min);
                let what = if cpu { "CPU" } else { "memory" };
                Ok((
                    holds,
                    if holds {
                        format!(
                            "{what} above {percent} % of its limit for {} s (lowest {low:.1} %)",
                            rule.for_secs
                        )
                    } else {
                        format!("{what} back below {percent} % of its limit")
                    },
                ))
            }
            AlertCondition::StorageAbove { percent } => {
                let mut worst: Option<(String, f64)> = None;
                for m in &svc.spec.volumes {
                    let Some(v) = self
                        .inner
                        .store
                        .volumes
                        .volume_by_name_opt(svc.project, m.volume.as_str())
                        .await?
                    else {
                        continue;
                    };
                    let used = v.usage.map_or(0.0, |u| u.bytes as f64) / v.size_bytes.max(1) as f64
                        * 100.0;
                    let used = if v.state == VolumeState::Full {
                        used.max(100.0)
                    } else {
                        used
                    };
                    if worst.as_ref().is_none_or(|(_, w)| used > *w) {
                        worst = Some((v.name.to_string(), used));
                    }
                }
                Ok(match worst {
                    Some((name, used)) if used > percent => (
                        true,
                        format!("volume {name} at {used:.0} % (above {percent} %)"),
                    ),
                    _ => (false, format!("volumes back below {percent} %")),
                })
            }
            AlertCondition::Unhealthy => {
                let unhealthy_now = match self.current_container(svc).await {
                    Ok(id) => self
                        .runtime()
                        .inspect_container_opt(&id)
                        .await?
                        .is_some_and(|i| i.health == Some(HealthStatus::Unhealthy)),
                    Err(_) => false,
                };
                let events = self.inner.store.history.list_events(svc.id, 200).await?;
                let since_when = events.iter().find_map(|e| match &e.kind {
                    ServiceEventKind::HealthChanged { status } => Some((status.clone(), e.at)),
                    _ => None,
                });
                let long_enough =
                    since_when.is_some_and(|(status, at)| status == "unhealthy" && at <= since);
                Ok(if unhealthy_now && long_enough {
                    (true, format!("unhealthy for more than {} s", rule.for_secs))
                } else {
                    (false, "healthy again".into())
                })
            }
            AlertCondition::RestartLoop { restarts } => {
                let events = self.inner.store.history.list_events(svc.id, 1000).await?;
                let n = events
                    .iter()
                    .filter(|e| e.at >= since && e.kind == ServiceEventKind::EngineRestart)
                    .count();
                let holds = n >= restarts as usize;
                Ok((
                    holds,
                    if holds {
                        format!("restarted {n} times in {} s", rule.for_secs)
                    } else {
                        "no longer restarting".into()
                    },
                ))
            }
        }
    }

    /// [`Platform::set_alert`] with the service recorded; the alert when its state changed.
    async fn set_alert_for(
        &self,
        org: OrgId,
        svc: Option<&Service>,
        rule: &str,
        subject: &str,
        firing: bool,
        message: &str,
    ) -> Option<Alert> {
        let changed = self.set_alert(org, rule, subject, firing, message).await?;
        match svc {
            Some(s) if changed.service.is_none() => {
                let mut a = changed;
                a.service = Some(s.id);
                if let Err(e) = self.inner.store.history.put_alert(&a).await {
                    tracing::warn!(error = %e, "could not record the alert's service");
                }
                Some(a)
            }
            _ => Some(changed),
        }
    }

    /// Sends a changed alert to the organization's webhook; `false` when there is no webhook
    /// or no notifier. Errors: the notifier's.
    pub(super) async fn notify(
        &self,
        org: &Organization,
        settings: &AlertSettings,
        alert: Alert,
    ) -> Result<bool> {
        let (Some(notifier), Some(target)) = (&self.inner.notifier, &settings.webhook) else {
            return Ok(false);
        };
        let n = AlertNotification {
            org: org.slug.to_string(),
            alert,
            target: target.clone(),
        };
        match tokio::time::timeout(Duration::from_secs(15), notifier.notify(&n)).await {
            Ok(r) => r.map(|()| true),
            Err(_) => Err(Error::unavailable(
                "notifier",
                "the webhook did not answer within 15 s",
            )),
        }
    }

    /// Sends a changed volume alert to the organization's webhook; failures are logged.
    pub(super) async fn notify_org(&self, org: OrgId, alert: Alert) {
        let result = async {
            let org = self.inner.store.directory.org(org).await?;
            let settings = self.stored_alert_settings(org.id).await?;
            self.notify(&org, &settings, alert).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not send an alert notification");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stores_seal_the_webhook_secret_where_the_setting_keeps_it() {
        let org = OrgId::new();
        let key = setting_key(org);
        let settings = AlertSettings::new(vec![]).webhook("https://hooks.example", "s".repeat(16));
        let value = serde_json::to_value(&settings).unwrap_or_default();
        let pointers = crate::secrets::secret_pointers(&key);
        assert!(!pointers.is_empty(), "{key} is listed in SECRET_SETTINGS");
        for pointer in pointers {
            assert_eq!(
                value.pointer(pointer),
                Some(&serde_json::json!("s".repeat(16)))
            );
        }
    }
}
