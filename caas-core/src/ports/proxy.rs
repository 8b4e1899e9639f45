//! The proxy port: making traffic for a service's domains reach its containers.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ports::runtime::RemoveOutcome;
use crate::validate::{self, HostPattern, Hostname};

/// One routing rule: a host, and optionally a path prefix, to a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RouteRule {
    /// Host name, or a wildcard `*.<name>` (one label below it).
    pub host: HostPattern,
    /// Path prefix (`/` for the whole host).
    pub path_prefix: String,
    /// Strip the prefix before forwarding.
    pub strip_prefix: bool,
    /// Serve over HTTPS with an ACME certificate (and redirect HTTP to it).
    pub tls: bool,
}

/// The complete routing of one service. Applying it replaces whatever was routed before under
/// the same key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRoutes {
    /// Stable key, unique per service (the service id).
    pub key: String,
    /// Rules.
    pub rules: Vec<RouteRule>,
    /// Upstream base URLs (`http://10.0.0.5:8080`); several during a rolling update.
    pub upstreams: Vec<String>,
}

/// A monotonically increasing version of what the proxy was asked to serve.
pub type Generation = u64;

/// Certificate state of one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CertificateStatus {
    /// A certificate is served.
    Issued {
        /// Issuer's common name.
        issuer: String,
        /// Expiry.
        not_after: DateTime<Utc>,
    },
    /// Not issued yet.
    Pending,
    /// Issuance failed.
    Failed {
        /// Why.
        reason: String,
    },
    /// TLS is not configured for this host.
    NotConfigured,
}

/// Routes traffic for domains to services.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Proxy: Send + Sync + std::fmt::Debug + 'static {
    /// Labels to put on a container for label-driven proxies (empty for file-driven ones).
    /// Errors: `InvalidInput`.
    fn container_labels(&self, routes: &ServiceRoutes) -> Result<BTreeMap<String, String>>;
    /// Makes `routes` the routing of its key; returns the generation to wait for.
    /// Errors: `InvalidInput`, `Unavailable`.
    async fn apply(&self, routes: &ServiceRoutes) -> Result<Generation>;
    /// Stops routing a key. Errors: `Unavailable`.
    async fn remove(&self, key: &str) -> Result<RemoveOutcome>;
    /// What is routed under a key.
    async fn routes_opt(&self, key: &str) -> Result<Option<ServiceRoutes>>;
    /// Waits until the proxy serves `generation` of `key` (or a later one).
    /// Errors: `Unavailable` on timeout.
    async fn wait_applied(
        &self,
        key: &str,
        generation: Generation,
        timeout: Duration,
    ) -> Result<()>;
    /// Certificate state for a host. Errors: `Unavailable`.
    async fn certificate_status(&self, host: &Hostname) -> Result<CertificateStatus>;
}

/// Checks a routes value the way every proxy backend must before using it: a key of
/// `[A-Za-z0-9-]`, valid hostnames, path prefixes of `[A-Za-z0-9/_.~-]` only, and
/// `http(s)://` upstreams without spaces or quotes. Errors: `InvalidInput` naming the field.
pub fn validate_routes(routes: &ServiceRoutes) -> Result<()> {
    if routes.key.is_empty()
        || routes.key.len() > 128
        || !routes
            .key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(Error::invalid(
            "routes.key",
            "must be 1-128 characters of a-z, A-Z, 0-9 and '-'",
        ));
    }
    for (i, r) in routes.rules.iter().enumerate() {
        HostPattern::parse_field(
            format!("routes.rules[{i}].host").as_str(),
            r.host.as_str(),
            true,
        )?;
        if r.path_prefix != "/" {
            validate::container_path(&format!("routes.rules[{i}].path_prefix"), &r.path_prefix)?;
        }
        if r.path_prefix
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || "/-_.~".contains(c)))
        {
            return Err(Error::invalid(
                format!("routes.rules[{i}].path_prefix"),
                "may only contain letters, digits and / - _ . ~",
            ));
        }
    }
    for (i, u) in routes.upstreams.iter().enumerate() {
        let ok = u.starts_with("http://") || u.starts_with("https://");
        if !ok
            || u.chars()
                .any(|c| c.is_whitespace() || c == '`' || c == '"' || c == '\'' || c.is_control())
        {
            return Err(Error::invalid(
                format!("routes.upstreams[{i}]"),
                "must be an http(s) URL",
            ));
        }
    }
    Ok(())
}
