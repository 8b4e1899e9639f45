//! [`DockerConnector`]: lets the platform (re)connect to Docker from a stored configuration.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caas_core::ports::connector::{
    DetectedCandidate, RuntimeConfig, RuntimeConnector, RuntimeDetection,
};
use caas_core::ports::runtime::ConnectionReport;
use caas_core::{ContainerRuntime, Error, Result};

use crate::diagnose::{DetectionInputs, detect, test_connection};
use crate::{DockerConnection, DockerRuntime};

/// The backend name of Docker runtime configurations.
pub const BACKEND: &str = "docker";

/// Connects [`DockerRuntime`]s from [`RuntimeConfig`]s whose settings are a
/// [`DockerConnection`] as JSON, e.g. `{"type": "unix", "path": "/var/run/docker.sock"}`.
#[derive(Debug, Clone)]
pub struct DockerConnector {
    inputs: DetectionInputs,
    helper_image: String,
    timeout_secs: u64,
}

impl DockerConnector {
    /// A connector; `inputs` are what auto-detection looks at, `helper_image` the image of
    /// archive helper containers (see [`crate::DockerRuntimeBuilder::helper_image`]).
    pub fn new(inputs: DetectionInputs, helper_image: impl Into<String>) -> Self {
        Self {
            inputs,
            helper_image: helper_image.into(),
            timeout_secs: crate::DEFAULT_TIMEOUT_SECS,
        }
    }

    /// The configuration of a connection.
    pub fn config(connection: &DockerConnection) -> RuntimeConfig {
        RuntimeConfig {
            backend: BACKEND.to_string(),
            settings: serde_json::to_value(connection).unwrap_or_default(),
        }
    }

    fn parse(settings: &serde_json::Value) -> Result<DockerConnection> {
        let c: DockerConnection = serde_json::from_value(settings.clone()).map_err(|e| {
            Error::invalid(
                "settings",
                format!("not a Docker connection ({e}); expected e.g. {{\"type\":\"unix\",\"path\":\"/var/run/docker.sock\"}}, {{\"type\":\"tcp\",\"url\":\"tcp://host:2375\"}} or {{\"type\":\"tls\",\"url\":...,\"ca\":...,\"cert\":...,\"key\":...}}"),
            )
        })?;
        c.validate().map_err(|e| e.in_field("settings"))?;
        Ok(c)
    }
}

#[async_trait]
impl RuntimeConnector for DockerConnector {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn validate(&self, settings: &serde_json::Value) -> Result<()> {
        Self::parse(settings).map(|_| ())
    }

    async fn connect(&self, settings: &serde_json::Value) -> Result<Arc<dyn ContainerRuntime>> {
        let connection = Self::parse(settings)?;
        let builder = DockerRuntime::builder()
            .connection(connection)
            .timeout_secs(self.timeout_secs)
            .helper_image(self.helper_image.clone());
        // Negotiate when the engine answers; otherwise start lazily at the oldest supported API.
        let runtime = match builder.clone().build().await {
            Ok(rt) => rt,
            Err(e) if e.is_unavailable() => builder.build_lazy()?,
            Err(e) => return Err(e),
        };
        Ok(Arc::new(runtime))
    }

    async fn test(&self, settings: &serde_json::Value) -> ConnectionReport {
        match Self::parse(settings) {
            Ok(c) => test_connection(&c, Duration::from_secs(5)).await,
            Err(e) => ConnectionReport {
                target: settings.to_string(),
                error: Some(e.to_string()),
                advice: Some("fix the configuration".into()),
                ..ConnectionReport::default()
            },
        }
    }

    async fn detect(&self) -> RuntimeDetection {
        let d = detect(&self.inputs).await;
        RuntimeDetection {
            candidates: d
                .candidates
                .into_iter()
                .map(|c| DetectedCandidate {
                    source: c.source,
                    config: c.connection.as_ref().map(Self::config),
                    report: c.report,
                })
                .collect(),
            chosen: d.chosen.as_ref().map(Self::config),
        }
    }
}
