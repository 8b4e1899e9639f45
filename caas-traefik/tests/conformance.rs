//! The proxy conformance suite against `TraefikProxy` with a real Traefik: every behaviour's
//! routes are written to the file provider and `wait_applied` checks Traefik's API. Each
//! behaviour runs its own Traefik process, stopped when the behaviour ends.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caas_core::Proxy;
use caas_core::ports::proxy::{CertificateStatus, Generation, ServiceRoutes};
use caas_core::ports::runtime::RemoveOutcome;
use caas_core::validate::Hostname;
use caas_testkit::proxy::SharedProxy;
use caas_traefik::{Entrypoints, TraefikProxy};

/// A `TraefikProxy` that owns the Traefik process it talks to.
#[derive(Debug)]
struct Owned {
    proxy: TraefikProxy,
    _traefik: common::Traefik,
}

impl std::fmt::Debug for common::Traefik {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Traefik(web {}, api {})", self.web, self.api)
    }
}

#[async_trait]
impl Proxy for Owned {
    fn container_labels(&self, r: &ServiceRoutes) -> caas_core::Result<BTreeMap<String, String>> {
        self.proxy.container_labels(r)
    }
    async fn apply(&self, r: &ServiceRoutes) -> caas_core::Result<Generation> {
        self.proxy.apply(r).await
    }
    async fn remove(&self, key: &str) -> caas_core::Result<RemoveOutcome> {
        self.proxy.remove(key).await
    }
    async fn routes_opt(&self, key: &str) -> caas_core::Result<Option<ServiceRoutes>> {
        self.proxy.routes_opt(key).await
    }
    async fn wait_applied(&self, key: &str, g: Generation, t: Duration) -> caas_core::Result<()> {
        self.proxy.wait_applied(key, g, t).await
    }
    async fn certificate_status(&self, host: &Hostname) -> caas_core::Result<CertificateStatus> {
        self.proxy.certificate_status(host).await
    }
}

async fn traefik_proxy() -> Option<SharedProxy> {
    let t = common::Traefik::start().await?;
    let proxy = TraefikProxy::new(&t.dir, t.api_url(), Entrypoints::default()).unwrap();
    Some(Arc::new(Owned { proxy, _traefik: t }))
}

caas_testkit::proxy_suite!(traefik_proxy());
