//! An organization's alerting: `GET|PUT /v1/orgs/{org}/alerts`.
//!
//! - The settings are the organization's rules and the webhook notifications are POSTed to;
//!   a `PUT` replaces both at once (an empty body object clears them). Viewers read them;
//!   administrators and owners change them.
//! - The webhook secret is never returned: answers show `********`, and sending `********`
//!   back keeps the stored secret, so a client can edit what it read and send it back.
//! - Rules fire and resolve through the alert evaluator, which the embedder (or the reference
//!   server) runs; the answer lists the firing alerts and the recent ones.
//! - The `*Doc` types only document the bodies (handlers use the core types); the OpenAPI
//!   test compares the two.

use axum::Json;
use axum::extract::State;
use caas_core::platform::{AlertSettings, AlertsView};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::OrgPath;
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams};

/// What an alert rule watches (`type` says which).
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum AlertConditionDoc {
    /// Every raw sample of the window is above this share of the CPU limit (needs the
    /// metrics collector).
    CpuAbove {
        /// Percent of the CPU limit (1-1000).
        percent: f64,
    },
    /// Every raw sample of the window is above this share of the memory limit.
    MemoryAbove {
        /// Percent of the memory limit (1-100).
        percent: f64,
    },
    /// A volume the service mounts is above this share of its size.
    StorageAbove {
        /// Percent of the volume's size (1-100).
        percent: f64,
    },
    /// The container has been unhealthy for the whole window (needs the event watcher).
    Unhealthy,
    /// The engine restarted the container at least `restarts` times in the window (needs
    /// the event watcher).
    RestartLoop {
        /// Restarts that make a loop (2-1000).
        restarts: u32,
    },
}

/// One alert rule.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct AlertRuleDoc {
    /// Name, unique in the organization (DNS-label rules).
    name: String,
    /// The project of the one service this rule is about (with `service`).
    #[serde(default)]
    project: Option<String>,
    /// The one service this rule is about; every service of the organization when absent.
    #[serde(default)]
    service: Option<String>,
    /// What it watches.
    condition: AlertConditionDoc,
    /// How long the condition must hold, seconds (60-86400; default 300).
    #[serde(default)]
    for_secs: u64,
    /// Evaluated at all (default `true`).
    #[serde(default)]
    enabled: bool,
}

/// Where notifications are POSTed: signed JSON (HMAC-SHA256 of the body with the secret).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct WebhookTargetDoc {
    /// `https://` (or `http://`) URL, at most 2048 characters.
    url: String,
    /// Shared secret, 16-256 characters; `********` in answers, and `********` sent back
    /// keeps the stored one.
    secret: String,
}

/// An organization's alert rules and webhook.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct AlertSettingsDoc {
    /// The rules (at most 100; default none).
    #[serde(default)]
    rules: Vec<AlertRuleDoc>,
    /// Where notifications go (none: alerts are only recorded).
    #[serde(default)]
    webhook: Option<WebhookTargetDoc>,
}

/// The state of an alert.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum AlertStateDoc {
    /// The condition holds.
    Firing,
    /// The condition no longer holds.
    Resolved,
}

/// A raised alert: one per rule and subject while it fires.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct AlertDoc {
    /// Id.
    id: Uuid,
    /// The organization's id.
    org: Uuid,
    /// The service's id, when it is about one.
    service: Option<Uuid>,
    /// What it is about (`service:<id>`, `volume:<id>`).
    subject: String,
    /// The rule's name (or the platform's own, such as `volume_usage_warning`).
    rule: String,
    /// State.
    state: AlertStateDoc,
    /// Detail.
    message: String,
    /// When it started firing.
    since: DateTime<Utc>,
    /// When it resolved.
    resolved_at: Option<DateTime<Utc>>,
}

/// An organization's alerting: its settings (secret hidden) and its alerts.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct AlertsViewDoc {
    /// Rules and webhook.
    settings: AlertSettingsDoc,
    /// Firing alerts, newest first.
    firing: Vec<AlertDoc>,
    /// Recent alerts of any state, newest first (at most 100).
    recent: Vec<AlertDoc>,
}

/// The organization's alert rules, webhook (secret hidden) and alerts.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/alerts",
    tag = "alerts",
    params(OrgPath),
    responses(
        (status = 200, description = "Settings and alerts", body = AlertsViewDoc),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
    )
)]
pub(crate) async fn get_alerts(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
) -> Result<Json<AlertsView>, ApiError> {
    Ok(Json(s.platform.alerts(&who, &p.org).await?))
}

/// Replaces the organization's alert rules and webhook.
#[utoipa::path(
    put,
    path = "/v1/orgs/{org}/alerts",
    tag = "alerts",
    params(OrgPath),
    request_body = AlertSettingsDoc,
    responses(
        (status = 200, description = "The new settings (secret hidden) and the alerts", body = AlertsViewDoc),
        (status = 403, description = "Role too low (admin or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
        (status = 422, description = "Invalid settings; `details.field` names the field (`rules[0].for_secs`, `webhook.secret`, ...)", body = ErrorBody),
    )
)]
pub(crate) async fn put_alerts(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
    JsonBody(settings): JsonBody<AlertSettings>,
) -> Result<Json<AlertsView>, ApiError> {
    Ok(Json(s.platform.set_alerts(&who, &p.org, settings).await?))
}
