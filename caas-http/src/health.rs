//! `GET /v1/health`.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use caas_core::platform::HealthReport;
use http::StatusCode;

use crate::AppState;

/// Whether the platform and its backends answer. Needs no credentials and reveals no tenant
/// data. Always 200 while the server runs; `status` is `degraded` when a backend is down.
#[utoipa::path(
    get,
    path = "/v1/health",
    responses((status = 200, description = "The server is up; see which backends answer", body = HealthReport))
)]
pub(crate) async fn health(State(state): State<AppState>) -> impl IntoResponse {
    (StatusCode::OK, Json(state.platform.health().await))
}
