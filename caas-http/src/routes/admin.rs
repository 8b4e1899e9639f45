//! `/v1/admin/...`: the runtime configuration and the plans (platform administrators; plans
//! are readable by every authenticated caller, as the platform decides: they are the price
//! list).

use axum::Json;
use axum::extract::State;
use caas_core::model::{NewPlan, Plan, PlanLimits};
use caas_core::platform::PlanUpdate;
use caas_core::ports::connector::{RuntimeConfig, RuntimeDetection};
use caas_core::ports::runtime::ConnectionReport;
use http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::PlanPath;
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams};

/// The runtime configuration in use.
#[utoipa::path(
    get,
    path = "/v1/admin/runtime",
    tag = "admin",
    responses(
        (status = 200, description = "The configuration in use", body = RuntimeConfig),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 501, description = "The platform's runtime is fixed (no connector)", body = ErrorBody),
    )
)]
pub(crate) async fn runtime_config(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<RuntimeConfig>, ApiError> {
    Ok(Json(s.platform.admin().runtime_config(&who).await?))
}

/// Validates, tests, stores and switches to a new runtime configuration. The switch happens
/// even when the engine does not answer yet; the report says so.
#[utoipa::path(
    put,
    path = "/v1/admin/runtime",
    tag = "admin",
    request_body = RuntimeConfig,
    responses(
        (status = 200, description = "Switched; what the connection test found", body = ConnectionReport),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 422, description = "Invalid configuration; `details.field` names the field", body = ErrorBody),
        (status = 501, description = "The platform's runtime is fixed (no connector)", body = ErrorBody),
    )
)]
pub(crate) async fn update_runtime_config(
    State(s): State<AppState>,
    Caller(who): Caller,
    JsonBody(config): JsonBody<RuntimeConfig>,
) -> Result<Json<ConnectionReport>, ApiError> {
    Ok(Json(
        s.platform
            .admin()
            .update_runtime_config(&who, config)
            .await?,
    ))
}

/// Tests a runtime configuration without switching to it: the body's, or the one in use when
/// the request has no body.
#[utoipa::path(
    post,
    path = "/v1/admin/runtime/test",
    tag = "admin",
    request_body(content = Option<RuntimeConfig>, description = "The configuration to test; send no body to test the one in use"),
    responses(
        (status = 200, description = "What the test found (never an error: unreachable engines are reported)", body = ConnectionReport),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 422, description = "Invalid configuration; `details.field` names the field", body = ErrorBody),
        (status = 501, description = "The platform's runtime is fixed (no connector)", body = ErrorBody),
    )
)]
pub(crate) async fn test_runtime(
    State(s): State<AppState>,
    Caller(who): Caller,
    config: Option<JsonBody<RuntimeConfig>>,
) -> Result<Json<ConnectionReport>, ApiError> {
    let config = config.map(|JsonBody(c)| c);
    Ok(Json(s.platform.admin().test_runtime(&who, config).await?))
}

/// Looks for engines in the usual places and tests each.
#[utoipa::path(
    get,
    path = "/v1/admin/runtime/detect",
    tag = "admin",
    responses(
        (status = 200, description = "Every candidate tried, and the first that answered", body = RuntimeDetection),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 501, description = "The platform's runtime is fixed (no connector)", body = ErrorBody),
    )
)]
pub(crate) async fn detect_runtime(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<RuntimeDetection>, ApiError> {
    Ok(Json(s.platform.admin().detect_runtime(&who).await?))
}

/// A new plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatePlan {
    /// Unique name (DNS-label rules: lowercase letters, digits, `-`).
    name: String,
    /// Name shown to customers; the name when empty.
    #[serde(default)]
    display_name: String,
    /// Limits.
    limits: PlanLimits,
    /// Monthly price in cents (default 0).
    #[serde(default)]
    monthly_price_cents: u64,
    /// ISO 4217 currency code (default `USD`).
    #[serde(default)]
    currency: String,
}

/// Changes to a plan; absent fields are left as they are. New limits apply to new
/// reservations only.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanPatch {
    /// Name shown to customers; the plan's name when empty.
    #[serde(default)]
    display_name: Option<String>,
    /// New limits (all five dimensions).
    #[serde(default)]
    limits: Option<PlanLimits>,
    /// Monthly price in cents.
    #[serde(default)]
    monthly_price_cents: Option<u64>,
    /// ISO 4217 currency code.
    #[serde(default)]
    currency: Option<String>,
}

/// Every plan, ordered by name.
#[utoipa::path(
    get,
    path = "/v1/admin/plans",
    tag = "plans",
    responses(
        (status = 200, description = "Every plan (any authenticated caller may read them)", body = Vec<Plan>),
    )
)]
pub(crate) async fn list_plans(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Vec<Plan>>, ApiError> {
    Ok(Json(s.platform.plans().list(&who).await?))
}

/// Creates a plan.
#[utoipa::path(
    post,
    path = "/v1/admin/plans",
    tag = "plans",
    request_body = CreatePlan,
    responses(
        (status = 201, description = "Created", body = Plan),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 409, description = "A plan with this name exists", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names the field", body = ErrorBody),
    )
)]
pub(crate) async fn create_plan(
    State(s): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<CreatePlan>,
) -> Result<(StatusCode, Json<Plan>), ApiError> {
    let mut new = NewPlan::new(body.name, body.limits);
    new.display_name = body.display_name;
    new.monthly_price_cents = body.monthly_price_cents;
    new.currency = body.currency;
    let plan = s.platform.plans().create(&who, new).await?;
    Ok((StatusCode::CREATED, Json(plan)))
}

/// A plan by name.
#[utoipa::path(
    get,
    path = "/v1/admin/plans/{plan}",
    tag = "plans",
    params(PlanPath),
    responses(
        (status = 200, description = "The plan", body = Plan),
        (status = 404, description = "No such plan", body = ErrorBody),
    )
)]
pub(crate) async fn get_plan(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<PlanPath>,
) -> Result<Json<Plan>, ApiError> {
    Ok(Json(s.platform.plans().get(&who, &p.plan).await?))
}

/// Changes a plan's display name, limits, price or currency.
#[utoipa::path(
    patch,
    path = "/v1/admin/plans/{plan}",
    tag = "plans",
    params(PlanPath),
    request_body = PlanPatch,
    responses(
        (status = 200, description = "The plan after the change", body = Plan),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names the field", body = ErrorBody),
    )
)]
pub(crate) async fn update_plan(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<PlanPath>,
    JsonBody(body): JsonBody<PlanPatch>,
) -> Result<Json<Plan>, ApiError> {
    let mut update = PlanUpdate::default();
    update.display_name = body.display_name;
    update.limits = body.limits;
    update.monthly_price_cents = body.monthly_price_cents;
    update.currency = body.currency;
    Ok(Json(
        s.platform.plans().update(&who, &p.plan, update).await?,
    ))
}

/// Deletes a plan that no subscription uses.
#[utoipa::path(
    delete,
    path = "/v1/admin/plans/{plan}",
    tag = "plans",
    params(PlanPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 404, description = "No such plan", body = ErrorBody),
        (status = 409, description = "Subscriptions still use the plan", body = ErrorBody),
    )
)]
pub(crate) async fn delete_plan(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<PlanPath>,
) -> Result<StatusCode, ApiError> {
    s.platform.plans().delete(&who, &p.plan).await?;
    Ok(StatusCode::NO_CONTENT)
}
