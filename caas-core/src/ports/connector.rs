//! The runtime connector port: how the platform (re)connects to its engine from a stored
//! configuration, tests a configuration and detects engines — so administrators can change the
//! runtime at run time without the platform knowing the backend.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ports::runtime::{ConnectionReport, ContainerRuntime};

/// A runtime configuration as the platform stores it: the backend's name and its own settings
/// (for Docker, a `DockerConnection` as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuntimeConfig {
    /// Backend name, e.g. `docker`.
    pub backend: String,
    /// Backend-specific settings.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub settings: serde_json::Value,
}

/// One engine candidate found by detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DetectedCandidate {
    /// Where it came from (`DOCKER_HOST`, `default socket`, ...).
    pub source: String,
    /// The configuration tried, when the source was valid.
    pub config: Option<RuntimeConfig>,
    /// What the test found.
    pub report: ConnectionReport,
}

/// Everything detection tried, and the first configuration that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuntimeDetection {
    /// Candidates in the order tried.
    pub candidates: Vec<DetectedCandidate>,
    /// The first reachable one.
    pub chosen: Option<RuntimeConfig>,
}

/// Connects runtimes of one backend from configurations.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait RuntimeConnector: Send + Sync + std::fmt::Debug + 'static {
    /// The backend name configurations must carry.
    fn backend(&self) -> &'static str;
    /// Checks settings without connecting. Errors: `InvalidInput` naming the field.
    fn validate(&self, settings: &serde_json::Value) -> Result<()>;
    /// A runtime for these settings. It must not fail because the engine is down (the runtime
    /// reports `Unavailable` until it answers). Errors: `InvalidInput`.
    async fn connect(&self, settings: &serde_json::Value) -> Result<Arc<dyn ContainerRuntime>>;
    /// Tests settings against the engine; never fails, the report says what is wrong.
    async fn test(&self, settings: &serde_json::Value) -> ConnectionReport;
    /// Tries the usual places an engine listens.
    async fn detect(&self) -> RuntimeDetection;
}
