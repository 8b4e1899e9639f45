//! Liveness of the platform's backends.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Platform;
use crate::ports::runtime::EngineInfo;

/// How one backend answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComponentHealth {
    /// Whether it answered in time.
    pub available: bool,
    /// Round trip in milliseconds.
    pub latency_ms: u64,
    /// Why not, when unavailable.
    pub error: Option<String>,
}

/// The platform's health: it is up when it can answer at all; each backend says whether it
/// is reachable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthReport {
    /// `ok` when every backend is available, `degraded` otherwise.
    pub status: String,
    /// caas-rs version.
    pub version: String,
    /// The store.
    pub store: ComponentHealth,
    /// The container runtime.
    pub runtime: ComponentHealth,
    /// What the runtime reported, when it answered.
    pub engine: Option<EngineInfo>,
}

/// How long a health probe waits for a backend.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

async fn probe<T>(
    f: impl std::future::Future<Output = crate::Result<T>>,
) -> (ComponentHealth, Option<T>) {
    let start = Instant::now();
    let r = tokio::time::timeout(PROBE_TIMEOUT, f).await;
    let latency_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    match r {
        Ok(Ok(v)) => (
            ComponentHealth {
                available: true,
                latency_ms,
                error: None,
            },
            Some(v),
        ),
        Ok(Err(e)) => (
            ComponentHealth {
                available: false,
                latency_ms,
                error: Some(e.to_string()),
            },
            None,
        ),
        Err(_) => (
            ComponentHealth {
                available: false,
                latency_ms,
                error: Some(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
            },
            None,
        ),
    }
}

impl Platform {
    /// Probes the store and the runtime (3 s each, concurrently). Needs no principal: it
    /// reveals no tenant data.
    pub async fn health(&self) -> HealthReport {
        let runtime = self.runtime();
        let ((store, _), (runtime, engine)) = tokio::join!(
            probe(self.inner.store.settings.ping()),
            probe(runtime.ping())
        );
        HealthReport {
            status: if store.available && runtime.available {
                "ok".into()
            } else {
                "degraded".into()
            },
            version: env!("CARGO_PKG_VERSION").into(),
            store,
            runtime,
            engine,
        }
    }
}
