//! An organization's alerting: `GET|PUT /v1/orgs/{org}/alerts`.
//!
//! - The settings are the organization's rules and the webhook notifications are POSTed to;
//!   a `PUT` replaces both at once (an empty body object clears them). Viewers read them;
//!   administrators and owners change them.
//! - The webhook secret is never returned: answers show `********`, and sending `********`
//!   back keeps the stored secret, so a client can edit what it read and send it back.
//! - Rules fire and resolve through the alert evaluator, which the embedder (or the reference
//!   server) runs; the answer lists the firing alerts and the recent ones.

use axum::Json;
use axum::extract::State;
use caas_core::platform::{AlertSettings, AlertsView};

use super::OrgPath;
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams};

/// The organization's alert rules, webhook (secret hidden) and alerts.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/alerts",
    tag = "alerts",
    params(OrgPath),
    responses(
        (status = 200, description = "Settings and alerts", body = AlertsView),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
    )
)]
pub(crate) async fn get_alerts(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
) -> Result<Json<AlertsView>, ApiError> {
    Ok(Json(s.platform.monitoring().alerts(&who, &p.org).await?))
}

/// Replaces the organization's alert rules and webhook.
#[utoipa::path(
    put,
    path = "/v1/orgs/{org}/alerts",
    tag = "alerts",
    params(OrgPath),
    request_body = AlertSettings,
    responses(
        (status = 200, description = "The new settings (secret hidden) and the alerts", body = AlertsView),
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
    Ok(Json(
        s.platform
            .monitoring()
            .set_alerts(&who, &p.org, settings)
            .await?,
    ))
}
