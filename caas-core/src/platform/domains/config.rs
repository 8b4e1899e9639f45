//! How the platform serves domains ([`DomainConfig`]), what callers send and get
//! ([`NewDomain`], [`DomainView`], [`OwnershipProof`]), and the per-organization check
//! permits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::model::{Domain, Readiness, VerificationStatus};
use crate::validate::{self, HostPattern, Hostname};

/// How the platform serves and verifies custom domains.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainConfig {
    /// Addresses a domain's A/AAAA records point to when it points at the platform (default
    /// none). Also the only non-public addresses HTTP verification may connect to.
    pub public_addresses: Vec<IpAddr>,
    /// The name a domain may be a CNAME to (default none); reserved.
    pub cname_target: Option<Hostname>,
    /// The platform's own names: they and every name below them cannot be claimed.
    pub reserved: Vec<Hostname>,
    /// Route verified domains over HTTPS with an ACME certificate (default off).
    pub tls: bool,
    /// Where the proxy reaches the platform's answer to HTTP challenges
    /// (`GET /.well-known/caas-challenge/<token>`, e.g. `caas_http`'s route), as an
    /// `http://host:port` URL. Without it HTTP verification is `Unsupported` (default none).
    pub http_challenge: Option<String>,
    /// The port HTTP verification connects to: the proxy's plain-HTTP port (default 80).
    pub http_port: u16,
    /// How long one HTTP verification may take (default 10 s).
    pub http_timeout: Duration,
    /// Accept wildcard domains `*.<name>` (default off; they are proved by TXT only, and
    /// their certificates need a DNS-01 resolver in the proxy).
    pub wildcards: bool,
    /// How long an unproven claim lasts (default 7 days).
    pub claim_ttl: Duration,
    /// How many checks of one organization's claims run at once (default 2).
    pub checks_per_org: usize,
}

impl Default for DomainConfig {
    fn default() -> Self {
        Self {
            public_addresses: Vec::new(),
            cname_target: None,
            reserved: Vec::new(),
            tls: false,
            http_challenge: None,
            http_port: 80,
            http_timeout: Duration::from_secs(10),
            wildcards: false,
            claim_ttl: Duration::from_secs(7 * 24 * 3600),
            checks_per_org: 2,
        }
    }
}

impl DomainConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a public address of the platform.
    pub fn public_address(mut self, ip: IpAddr) -> Self {
        self.public_addresses.push(ip);
        self
    }
    /// The CNAME target of the platform.
    pub fn cname_target(mut self, target: Hostname) -> Self {
        self.cname_target = Some(target);
        self
    }
    /// Reserves one of the platform's own names (and every name below it).
    pub fn reserve(mut self, name: Hostname) -> Self {
        if !self.reserved.contains(&name) {
            self.reserved.push(name);
        }
        self
    }
    /// Serve verified domains over HTTPS (ACME through the proxy).
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }
    /// Enables HTTP verification: the proxy sends challenge requests to `upstream`
    /// (`http://host:port`), where the platform's challenge answer is served.
    pub fn http_challenge(mut self, upstream: impl Into<String>) -> Self {
        self.http_challenge = Some(upstream.into());
        self
    }
    /// The port HTTP verification connects to.
    pub fn http_port(mut self, port: u16) -> Self {
        self.http_port = port;
        self
    }
    /// How long one HTTP verification may take.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }
    /// Accept wildcard domains (`*.example.com`).
    pub fn wildcards(mut self, on: bool) -> Self {
        self.wildcards = on;
        self
    }
    /// How long an unproven claim lasts.
    pub fn claim_ttl(mut self, ttl: Duration) -> Self {
        self.claim_ttl = ttl;
        self
    }
    /// How many checks of one organization's claims run at once (at least one).
    pub fn checks_per_org(mut self, n: usize) -> Self {
        self.checks_per_org = n.max(1);
        self
    }

    /// The reserved name `host` is, or is below (for a wildcard: that it would cover), if any.
    pub(super) fn reserved_for(&self, host: &HostPattern) -> Option<&Hostname> {
        let base = host.base();
        self.reserved
            .iter()
            .chain(self.cname_target.iter())
            .find(|r| {
                let r = r.as_str();
                let below = |name: &str| name == r || name.ends_with(&format!(".{r}"));
                below(base) || (host.is_wildcard() && host.matches(r))
            })
    }
}

/// A domain to add to a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewDomain {
    /// Host name in any case, Unicode or punycode, or `*.<name>` where wildcards are enabled.
    pub hostname: String,
    /// Path prefix (default `/`, the whole host); a trailing `/` is dropped.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Strip the prefix before forwarding (default off; needs a prefix other than `/`).
    #[serde(default)]
    pub strip_prefix: bool,
    /// The container port traffic goes to (default: the service's first port).
    #[serde(default)]
    pub target_port: Option<u16>,
}

impl NewDomain {
    /// The whole of `hostname`, to the service's first port.
    pub fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            path_prefix: None,
            strip_prefix: false,
            target_port: None,
        }
    }
    /// Only requests under `prefix`.
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }
    /// Strip the prefix before forwarding.
    pub fn strip_prefix(mut self, on: bool) -> Self {
        self.strip_prefix = on;
        self
    }
    /// The container port.
    pub fn target_port(mut self, port: u16) -> Self {
        self.target_port = Some(port);
        self
    }
}

/// How to prove an unproven claim: the TXT record to add, or the URL the platform serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OwnershipProof {
    /// The name of the TXT record to add (`_caas-challenge.<hostname>`).
    pub txt_name: String,
    /// The value it must hold: the claim's token.
    pub txt_value: String,
    /// Where the platform serves the token for HTTP verification (when enabled and the name
    /// is not a wildcard).
    pub http_url: Option<String>,
    /// When the claim is released unless proved.
    pub expires_at: DateTime<Utc>,
}

/// A domain as its organization sees it: the route, and the state of the claim it is under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainView {
    /// The domain.
    #[serde(flatten)]
    pub domain: Domain,
    /// Whether the organization's ownership of the hostname is proven (only then is the
    /// domain routed), or `conflicted` when another organization owns the hostname.
    pub verification: VerificationStatus,
    /// How to prove ownership, while it is not proven.
    pub ownership: Option<OwnershipProof>,
    /// Whether the hostname points at the platform, when last checked.
    pub readiness: Option<Readiness>,
}

/// Validates a path prefix: `/`, or an absolute path without empty, `.` or `..` components
/// and of `[A-Za-z0-9/_.~-]` only. Returns it without a trailing `/`.
/// Errors: `InvalidInput` naming `field`.
pub fn path_prefix(field: &str, value: &str) -> Result<String> {
    if value == "/" {
        return Ok(value.to_string());
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/-_.~".contains(*c)))
    {
        return Err(Error::invalid(
            field,
            format!(
                "path prefix contains the forbidden character {c:?}; allowed: letters, digits and / - _ . ~"
            ),
        ));
    }
    if value.len() > 1024 {
        return Err(Error::invalid(
            field,
            "path prefix is longer than 1024 bytes",
        ));
    }
    validate::container_path(field, value)?;
    Ok(value.strip_suffix('/').unwrap_or(value).to_string())
}

/// Per-organization permits for domain checks (see [`DomainConfig::checks_per_org`]).
#[derive(Debug, Default)]
pub(crate) struct CheckPermits {
    per_org: std::sync::Mutex<HashMap<OrgId, Arc<tokio::sync::Semaphore>>>,
}

impl CheckPermits {
    pub(crate) fn of(&self, org: OrgId, permits: usize) -> Arc<tokio::sync::Semaphore> {
        self.per_org
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(org)
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(permits.max(1))))
            .clone()
    }
}
