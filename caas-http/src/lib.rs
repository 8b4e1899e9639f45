//! The HTTP facade over [`Platform`]: an axum [`Router`] factory, nothing else.
//!
//! ```
//! # use std::sync::Arc;
//! # use caas_core::{Platform, Principal, memory::{InMemoryStore, InMemoryRuntime}};
//! # #[derive(Debug)] struct NoAuth;
//! # #[async_trait::async_trait]
//! # impl caas_http::Authenticator for NoAuth {
//! #     async fn authenticate(&self, _: &http::request::Parts, _: &Platform) -> caas_core::Result<Option<Principal>> { Ok(None) }
//! # }
//! let platform = Platform::builder()
//!     .store(Arc::new(InMemoryStore::new()))
//!     .runtime(Arc::new(InMemoryRuntime::new()))
//!     .build()
//!     .unwrap();
//! let app: axum::Router = caas_http::router(platform, Arc::new(NoAuth));
//! # let _ = app;
//! ```
//!
//! - The embedder supplies an [`Authenticator`] that turns a request into a
//!   [`Principal`](caas_core::Principal); permissions are enforced by the platform itself.
//! - Errors are JSON `{ "code", "message", "details", "retryable" }` ([`ApiError`]).
//! - Every response carries an `x-request-id` (taken from the request or generated); bodies
//!   are limited to 1 MiB; each request is traced.
//! - The OpenAPI document is served at `/v1/openapi.json`.
//!
//! Routes so far: `GET /v1/health`, `GET /v1/openapi.json`. The rest of the REST API arrives
//! with the HTTP work, in the same style.

mod auth;
mod error;
mod health;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use caas_core::Platform;
use http::HeaderName;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

pub use auth::Authenticator;
pub use error::{ApiError, ErrorBody};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) platform: Platform,
    #[allow(dead_code)]
    pub(crate) auth: Arc<dyn Authenticator>,
}

/// The OpenAPI document of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "caas-rs",
        description = "Containers as a service: the REST API of a caas-rs platform."
    ),
    paths(health::health),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

/// Builds the API router over `platform`, authenticating requests with `auth`.
pub fn router(platform: Platform, auth: Arc<dyn Authenticator>) -> Router {
    let state = AppState { platform, auth };
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/v1/health", get(health::health))
        .route("/v1/openapi.json", get(openapi))
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
