//! [`TraefikProxy`]: the [`Proxy`] port on Traefik's file provider.
//!
//! Each service's routing is one file `<dir>/caas-<key>.yml`, written atomically (a temporary
//! file renamed over the old one), so Traefik never reads half a file and domains and upstreams
//! change without recreating containers. [`Proxy::wait_applied`] polls Traefik's API until the
//! routers and servers it serves are exactly the ones written.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use caas_core::ports::proxy::{
    CertificateStatus, Generation, Proxy, ServiceRoutes, validate_routes,
};
use caas_core::ports::runtime::RemoveOutcome;
use caas_core::validate::Hostname;
use caas_core::{Error, Result};

use crate::dynamic::{Entrypoints, docker_labels, file_config, router_name, service_name};

const SERVICE: &str = "traefik";

#[derive(Debug, Default)]
struct State {
    generation: Generation,
    applied: BTreeMap<String, (Generation, ServiceRoutes)>,
}

/// Routes services through Traefik's file provider.
#[derive(Debug)]
pub struct TraefikProxy {
    dir: PathBuf,
    api: String,
    entrypoints: Entrypoints,
    docker_labels: Option<(u16, String)>,
    tls_probe: Option<SocketAddr>,
    client: Client<HttpConnector, Empty<bytes::Bytes>>,
    state: Mutex<State>,
}

impl TraefikProxy {
    /// A proxy writing dynamic configuration into `dir` (Traefik's file provider directory,
    /// created when missing) and checking what Traefik serves through its API at `api`
    /// (e.g. `http://127.0.0.1:8081`). Routes already in `dir` are loaded, so one owner per
    /// host and path holds across restarts. Errors: `InvalidInput`, `Backend` (I/O).
    pub fn new(
        dir: impl Into<PathBuf>,
        api: impl Into<String>,
        entrypoints: Entrypoints,
    ) -> Result<Self> {
        let dir = dir.into();
        let api = api.into().trim_end_matches('/').to_string();
        if !(api.starts_with("http://")) {
            return Err(Error::invalid(
                "api",
                "must be an http:// URL of Traefik's API entrypoint",
            ));
        }
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::backend_source(SERVICE, format!("creating {}", dir.display()), e)
        })?;
        let mut state = State::default();
        for (key, routes) in load_dir(&dir)? {
            state.generation += 1;
            state.applied.insert(key, (state.generation, routes));
        }
        Ok(Self {
            dir,
            api,
            entrypoints,
            docker_labels: None,
            tls_probe: None,
            client: Client::builder(TokioExecutor::new()).build_http(),
            state: Mutex::new(state),
        })
    }

    /// Also generate Docker-provider labels for containers ([`Proxy::container_labels`]),
    /// pointing at this container port and carrying `route_token` in
    /// [`ROUTE_TOKEN_LABEL`](crate::ROUTE_TOKEN_LABEL), the token Traefik's Docker provider is
    /// constrained to ([`DockerProvider`](crate::DockerProvider)). Only for images the
    /// operator trusts: Docker merges an image's own `traefik.*` labels into a labelled
    /// container's. Errors: `InvalidInput` (`route_token`, see
    /// [`new_route_token`](crate::new_route_token)).
    pub fn with_docker_labels(mut self, port: u16, route_token: impl Into<String>) -> Result<Self> {
        let token = route_token.into();
        crate::static_config::validate_route_token("route_token", &token)?;
        self.docker_labels = Some((port, token));
        Ok(self)
    }

    /// Read certificate status ([`Proxy::certificate_status`]) with a TLS handshake on
    /// Traefik's websecure entrypoint at `websecure`, using the host as SNI.
    pub fn with_tls_probe(mut self, websecure: SocketAddr) -> Self {
        self.tls_probe = Some(websecure);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn file(&self, key: &str) -> PathBuf {
        self.dir.join(format!("caas-{key}.yml"))
    }

    async fn get_json(&self, path: &str) -> Result<Option<serde_json::Value>> {
        let uri: hyper::Uri = format!("{}{path}", self.api)
            .parse()
            .map_err(|e| Error::invalid("api", format!("{e}")))?;
        let res = tokio::time::timeout(Duration::from_secs(5), self.client.get(uri))
            .await
            .map_err(|_| Error::unavailable(SERVICE, "Traefik's API did not answer within 5 s"))?
            .map_err(|e| Error::Unavailable {
                service: SERVICE,
                message: format!("Traefik's API at {} is unreachable: {e}", self.api),
                source: Some(Box::new(e)),
            })?;
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::unavailable(SERVICE, format!("reading Traefik's answer: {e}")))?
            .to_bytes();
        if status == hyper::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(Error::backend(
                SERVICE,
                format!("Traefik's API answered {status} for {path}"),
            ));
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| Error::backend_source(SERVICE, "Traefik's API answered invalid JSON", e))
    }

    /// Whether Traefik serves exactly `routes` (or, for `None`, nothing under `key`).
    async fn serves(&self, key: &str, routes: Option<&ServiceRoutes>) -> Result<bool> {
        let svc = self
            .get_json(&format!("/api/http/services/{}@file", service_name(key)))
            .await?;
        let Some(routes) = routes else {
            return Ok(svc.is_none());
        };
        let Some(svc) = svc else {
            return Ok(routes.rules.is_empty() && routes.upstreams.is_empty());
        };
        let mut served: Vec<String> = svc["loadBalancer"]["servers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["url"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut wanted = routes.upstreams.clone();
        served.sort();
        wanted.sort();
        if served != wanted {
            return Ok(false);
        }
        for (i, r) in routes.rules.iter().enumerate() {
            let router = self
                .get_json(&format!("/api/http/routers/{}@file", router_name(key, i)))
                .await?;
            match router {
                Some(v) if v["rule"].as_str() == Some(crate::dynamic::rule(r).as_str()) => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }
}

fn load_dir(dir: &Path) -> Result<Vec<(String, ServiceRoutes)>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::backend_source(SERVICE, format!("reading {}", dir.display()), e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(key) = name
            .strip_prefix("caas-")
            .and_then(|n| n.strip_suffix(".yml"))
        else {
            continue;
        };
        // The routes are kept next to the Traefik configuration as a comment line.
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if let Some(json) = text.lines().find_map(|l| l.strip_prefix("# caas-routes: ")) {
            if let Ok(routes) = serde_json::from_str::<ServiceRoutes>(json) {
                if routes.key == key {
                    out.push((key.to_string(), routes));
                }
            }
        }
    }
    Ok(out)
}

#[async_trait]
impl Proxy for TraefikProxy {
    fn container_labels(&self, routes: &ServiceRoutes) -> Result<BTreeMap<String, String>> {
        validate_routes(routes)?;
        Ok(match &self.docker_labels {
            Some((port, token)) => {
                let mut l = docker_labels(routes, &self.entrypoints, *port);
                l.insert(crate::ROUTE_TOKEN_LABEL.to_string(), token.clone());
                l
            }
            None => BTreeMap::new(),
        })
    }

    async fn apply(&self, routes: &ServiceRoutes) -> Result<Generation> {
        validate_routes(routes)?;
        // One owner per host and path across all keys (case-insensitive hosts).
        {
            let s = self.lock();
            let mut claimed: HashMap<(String, String), &str> = HashMap::new();
            for (k, (_, other)) in &s.applied {
                if k == &routes.key {
                    continue;
                }
                for r in &other.rules {
                    claimed.insert(
                        (r.host.as_str().to_ascii_lowercase(), r.path_prefix.clone()),
                        k,
                    );
                }
            }
            for r in &routes.rules {
                if claimed
                    .contains_key(&(r.host.as_str().to_ascii_lowercase(), r.path_prefix.clone()))
                {
                    return Err(Error::conflict(format!(
                        "{}{} is already routed to another service",
                        r.host, r.path_prefix
                    )));
                }
            }
        }
        let config = file_config(routes, &self.entrypoints);
        let yaml = serde_yaml::to_string(&config)
            .map_err(|e| Error::backend_source(SERVICE, "serializing dynamic configuration", e))?;
        let meta = serde_json::to_string(routes)
            .map_err(|e| Error::backend_source(SERVICE, "serializing routes", e))?;
        let text = format!("# Written by caas-rs; do not edit.\n# caas-routes: {meta}\n{yaml}");
        let path = self.file(&routes.key);
        let tmp = self.dir.join(format!(".caas-{}.yml.tmp", routes.key));
        tokio::fs::write(&tmp, text)
            .await
            .map_err(|e| Error::backend_source(SERVICE, format!("writing {}", tmp.display()), e))?;
        tokio::fs::rename(&tmp, &path).await.map_err(|e| {
            Error::backend_source(SERVICE, format!("renaming to {}", path.display()), e)
        })?;
        let mut s = self.lock();
        s.generation += 1;
        let g = s.generation;
        s.applied.insert(routes.key.clone(), (g, routes.clone()));
        Ok(g)
    }

    async fn remove(&self, key: &str) -> Result<RemoveOutcome> {
        let path = self.file(key);
        let existed = match tokio::fs::remove_file(&path).await {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => {
                return Err(Error::backend_source(
                    SERVICE,
                    format!("removing {}", path.display()),
                    e,
                ));
            }
        };
        let mut s = self.lock();
        s.generation += 1;
        let was = s.applied.remove(key).is_some();
        Ok(if existed || was {
            RemoveOutcome::Removed
        } else {
            RemoveOutcome::NotFound
        })
    }

    async fn routes_opt(&self, key: &str) -> Result<Option<ServiceRoutes>> {
        Ok(self.lock().applied.get(key).map(|(_, r)| r.clone()))
    }

    async fn wait_applied(
        &self,
        key: &str,
        generation: Generation,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let wanted = {
                let s = self.lock();
                match s.applied.get(key) {
                    Some((g, _)) if *g < generation => {
                        return Err(Error::conflict(format!(
                            "generation {generation} of '{key}' was replaced before it was applied"
                        )));
                    }
                    other => other.map(|(_, r)| r.clone()),
                }
            };
            match self.serves(key, wanted.as_ref()).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) if e.is_unavailable() && Instant::now() < deadline => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Err(Error::unavailable(
                    SERVICE,
                    format!(
                        "Traefik did not apply the routes of '{key}' within {} ms",
                        timeout.as_millis()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `NotConfigured` when no route (exact, or a wildcard matching it) serves `host` with
    /// TLS; otherwise what a TLS handshake
    /// with SNI = `host` on the websecure entrypoint (see [`TraefikProxy::with_tls_probe`])
    /// shows: `Issued` with the issuer's common name and expiry, or `Pending` while Traefik
    /// still serves its self-signed default certificate. Failed issuances show as `Pending`
    /// too (Traefik keeps retrying). Errors: `Unavailable` (refused, timeout, handshake),
    /// `Unsupported` without a TLS probe address.
    async fn certificate_status(&self, host: &Hostname) -> Result<CertificateStatus> {
        let tls = self.lock().applied.values().any(|(_, r)| {
            r.rules
                .iter()
                .any(|x| x.tls && x.host.matches(host.as_str()))
        });
        if !tls {
            return Ok(CertificateStatus::NotConfigured);
        }
        let Some(addr) = self.tls_probe else {
            return Err(Error::unsupported(
                "certificate status needs the websecure address (TraefikProxy::with_tls_probe)",
            ));
        };
        crate::tls::probe(addr, host.as_str(), Duration::from_secs(5)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caas_core::ports::proxy::RouteRule;
    use caas_core::validate::HostPattern;

    fn routes() -> ServiceRoutes {
        ServiceRoutes {
            key: "svc1".into(),
            rules: vec![RouteRule {
                host: HostPattern::parse("app.example.com").unwrap(),
                path_prefix: "/".into(),
                strip_prefix: false,
                tls: false,
            }],
            upstreams: vec!["http://10.0.0.5:8080".into()],
        }
    }

    #[test]
    fn docker_labels_carry_the_route_token_and_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let plain =
            TraefikProxy::new(dir.path(), "http://127.0.0.1:1", Entrypoints::default()).unwrap();
        assert!(plain.container_labels(&routes()).unwrap().is_empty());
        let token = crate::new_route_token();
        let labelled = TraefikProxy::new(dir.path(), "http://127.0.0.1:1", Entrypoints::default())
            .unwrap()
            .with_docker_labels(8080, token.clone())
            .unwrap();
        let l = labelled.container_labels(&routes()).unwrap();
        assert_eq!(l[crate::ROUTE_TOKEN_LABEL], token);
        assert_eq!(l["traefik.enable"], "true");
        assert_eq!(
            l["traefik.http.routers.caas-svc1-0.rule"],
            "Host(`app.example.com`)"
        );
        let e = TraefikProxy::new(dir.path(), "http://127.0.0.1:1", Entrypoints::default())
            .unwrap()
            .with_docker_labels(8080, "guessable")
            .unwrap_err();
        assert_eq!(e.field(), Some("route_token"));
    }
}
