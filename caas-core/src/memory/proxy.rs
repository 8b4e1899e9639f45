//! [`InMemoryProxy`]: records routing, applies it instantly.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::ports::proxy::{CertificateStatus, Generation, Proxy, ServiceRoutes};
use crate::ports::runtime::RemoveOutcome;
use crate::validate::{self, Hostname};

#[derive(Debug, Default)]
struct State {
    routes: BTreeMap<String, (Generation, ServiceRoutes)>,
    generation: Generation,
    certificates: HashMap<String, CertificateStatus>,
}

/// A [`Proxy`] that keeps routes in memory and "serves" them at once. It enforces what a real
/// proxy would: valid hostnames and one owner per host and path across all keys.
#[derive(Debug, Default)]
pub struct InMemoryProxy {
    state: Mutex<State>,
}

impl InMemoryProxy {
    /// No routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what [`Proxy::certificate_status`] reports for a host.
    pub fn set_certificate(&self, host: &str, status: CertificateStatus) {
        self.lock().certificates.insert(host.to_string(), status);
    }

    /// Every key currently routed.
    pub fn keys(&self) -> Vec<String> {
        self.lock().routes.keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Checks a routes value the way every proxy backend must. Errors: `InvalidInput`, `Conflict`.
pub(crate) fn check_routes(routes: &ServiceRoutes) -> Result<()> {
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
        validate::hostname(&format!("routes.rules[{i}].host"), r.host.as_str(), false)?;
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
                .any(|c| c.is_whitespace() || c == '`' || c == '"' || c == '\'')
        {
            return Err(Error::invalid(
                format!("routes.upstreams[{i}]"),
                "must be an http(s) URL",
            ));
        }
    }
    Ok(())
}

#[async_trait]
impl Proxy for InMemoryProxy {
    fn container_labels(&self, routes: &ServiceRoutes) -> Result<BTreeMap<String, String>> {
        check_routes(routes)?;
        Ok(BTreeMap::new())
    }

    async fn apply(&self, routes: &ServiceRoutes) -> Result<Generation> {
        check_routes(routes)?;
        let mut s = self.lock();
        for rule in &routes.rules {
            let taken = s.routes.iter().any(|(k, (_, other))| {
                k != &routes.key
                    && other.rules.iter().any(|o| {
                        // Host names are case-insensitive, as every real proxy matches them.
                        o.host.as_str().eq_ignore_ascii_case(rule.host.as_str())
                            && o.path_prefix == rule.path_prefix
                    })
            });
            if taken {
                return Err(Error::conflict(format!(
                    "{}{} is already routed to another service",
                    rule.host, rule.path_prefix
                )));
            }
        }
        s.generation += 1;
        let g = s.generation;
        s.routes.insert(routes.key.clone(), (g, routes.clone()));
        Ok(g)
    }

    async fn remove(&self, key: &str) -> Result<RemoveOutcome> {
        let mut s = self.lock();
        s.generation += 1;
        Ok(match s.routes.remove(key) {
            Some(_) => RemoveOutcome::Removed,
            None => RemoveOutcome::NotFound,
        })
    }

    async fn routes_opt(&self, key: &str) -> Result<Option<ServiceRoutes>> {
        Ok(self.lock().routes.get(key).map(|(_, r)| r.clone()))
    }

    async fn wait_applied(
        &self,
        key: &str,
        generation: Generation,
        _timeout: Duration,
    ) -> Result<()> {
        let s = self.lock();
        match s.routes.get(key) {
            Some((g, _)) if *g >= generation => Ok(()),
            None if s.generation >= generation => Ok(()),
            _ => Err(Error::unavailable(
                "memory-proxy",
                format!("generation {generation} of '{key}' was never applied"),
            )),
        }
    }

    async fn certificate_status(&self, host: &Hostname) -> Result<CertificateStatus> {
        let s = self.lock();
        if let Some(c) = s.certificates.get(host.as_str()) {
            return Ok(c.clone());
        }
        let tls = s
            .routes
            .values()
            .any(|(_, r)| r.rules.iter().any(|x| x.host == *host && x.tls));
        Ok(if tls {
            CertificateStatus::Pending
        } else {
            CertificateStatus::NotConfigured
        })
    }
}
