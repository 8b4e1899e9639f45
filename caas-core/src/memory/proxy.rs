//! [`InMemoryProxy`]: records routing, applies it instantly.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::ports::proxy::{CertificateStatus, Generation, Proxy, ServiceRoutes, validate_routes};
use crate::ports::runtime::RemoveOutcome;
use crate::validate::Hostname;

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

#[async_trait]
impl Proxy for InMemoryProxy {
    fn container_labels(&self, routes: &ServiceRoutes) -> Result<BTreeMap<String, String>> {
        validate_routes(routes)?;
        Ok(BTreeMap::new())
    }

    async fn apply(&self, routes: &ServiceRoutes) -> Result<Generation> {
        validate_routes(routes)?;
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
        let tls = s.routes.values().any(|(_, r)| {
            r.rules
                .iter()
                .any(|x| x.host.matches(host.as_str()) && x.tls)
        });
        Ok(if tls {
            CertificateStatus::Pending
        } else {
            CertificateStatus::NotConfigured
        })
    }
}
