//! [`ensure_proxy`]: Traefik as a managed container through any
//! [`ContainerRuntime`](caas_core::ContainerRuntime).
//!
//! Nothing is written on the host: the static configuration goes in as command-line flags
//! ([`StaticConfig::to_cli_args`]), and whatever Traefik must keep (ACME storage, the
//! file-provider directory) lives on runtime volumes the caller mounts.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use caas_core::model::{PortSpec, Protocol};
use caas_core::ports::runtime::{ContainerInfo, ContainerSpec, Mount, NetworkAttachment};
use caas_core::{ContainerRuntime, Error, Result, labels};

use crate::StaticConfig;

/// Value of the `caas.kind` label on the proxy container.
pub const PROXY_KIND: &str = "proxy";

/// How the proxy container is run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyContainer {
    /// Container name.
    pub name: String,
    /// Image whose entrypoint is the Traefik binary (the flags are its command).
    pub image: String,
    /// Static configuration, passed as flags. Addresses are inside the container
    /// (e.g. `0.0.0.0:8000`). The API's must be a loopback address unless
    /// [`StaticConfig::api_beyond_loopback`] is set, and then every container on every
    /// network this one joins can reach it: set it only when the proxy joins no tenant
    /// network (on one Docker host it does not need to: tenant networks are separate bridges
    /// the host routes to, and Traefik on the host reaches them all).
    pub config: StaticConfig,
    /// Networks to join (the runtime's default network when empty).
    pub networks: Vec<NetworkAttachment>,
    /// Volumes (ACME storage, file-provider directory).
    pub mounts: Vec<Mount>,
    /// Environment (e.g. `LEGO_CA_CERTIFICATES`).
    pub env: Vec<(String, String)>,
    /// Extra labels; the platform's `caas.managed`, `caas.kind` and `caas.deployment` win.
    pub labels: BTreeMap<String, String>,
}

impl ProxyContainer {
    /// A proxy container with no networks, mounts, environment or extra labels.
    pub fn new(name: impl Into<String>, image: impl Into<String>, config: StaticConfig) -> Self {
        Self {
            name: name.into(),
            image: image.into(),
            config,
            networks: Vec::new(),
            mounts: Vec::new(),
            env: Vec::new(),
            labels: BTreeMap::new(),
        }
    }

    /// The container spec: the runtime's hardened defaults, the flags as command, the
    /// entrypoint ports exposed, labels `caas.managed=true`, `caas.kind=proxy` and a
    /// `caas.deployment` digest of everything above (so an identical spec is recognised as
    /// already existing). Errors: `InvalidInput` from [`StaticConfig::validate`].
    pub fn spec(&self) -> Result<ContainerSpec> {
        let args = self.config.to_cli_args()?;
        let mut spec = ContainerSpec::new(&self.name, &self.image);
        spec.command = Some(args);
        spec.env = self.env.clone();
        spec.networks = self.networks.clone();
        spec.mounts = self.mounts.clone();
        let mut ports = vec![self.config.web.port(), self.config.api.port()];
        ports.extend(self.config.websecure.map(|a| a.port()));
        spec.exposed_ports = ports
            .into_iter()
            .map(|p| PortSpec {
                container_port: p,
                protocol: Protocol::Tcp,
            })
            .collect();
        spec.labels = self.labels.clone();
        spec.labels.insert(labels::MANAGED.into(), "true".into());
        spec.labels.insert(labels::KIND.into(), PROXY_KIND.into());
        let digest = serde_json::to_vec(&spec)
            .map_err(|e| Error::backend_source("traefik", "serializing the proxy spec", e))?;
        let digest = Sha256::digest(&digest);
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        spec.labels
            .insert(labels::DEPLOYMENT.into(), format!("proxy-{hex}"));
        Ok(spec)
    }
}

/// Runs Traefik as a managed container, idempotently: creates it when missing (an identical
/// existing one is reused), starts it when not running, and returns what the runtime reports
/// about it. A container with the same name but another configuration is a `Conflict` —
/// remove it to change the configuration. Errors: `InvalidInput` (among others `api`, for a
/// non-loopback API address without [`StaticConfig::api_beyond_loopback`]; nothing is
/// created then), `Conflict`, `NotFound` (image or network), `Unavailable`.
pub async fn ensure_proxy(
    runtime: &dyn ContainerRuntime,
    proxy: &ProxyContainer,
) -> Result<ContainerInfo> {
    let spec = proxy.spec()?;
    let created = runtime.create_container(&spec).await?;
    let id = created.id().to_string();
    runtime.start_container(&id).await?;
    runtime
        .inspect_container_opt(&id)
        .await?
        .ok_or_else(|| Error::not_found("container", &proxy.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy() -> ProxyContainer {
        ProxyContainer::new(
            "caas-proxy",
            "caas/traefik:local",
            StaticConfig::new(
                "0.0.0.0:8000".parse().unwrap(),
                "127.0.0.1:8081".parse().unwrap(),
            ),
        )
    }

    #[test]
    fn a_proxy_container_never_gets_a_public_api_unless_asked() {
        let mut p = proxy();
        p.config.api = "0.0.0.0:8081".parse().unwrap();
        assert_eq!(p.spec().unwrap_err().field(), Some("api"));
        p.config.api_beyond_loopback = true;
        let args = p.spec().unwrap().command.unwrap();
        assert!(args.contains(&"--entrypoints.traefik.address=0.0.0.0:8081".to_string()));
    }

    #[test]
    fn spec_has_flags_labels_ports_and_a_stable_deployment() {
        let p = proxy();
        let s = p.spec().unwrap();
        assert_eq!(s.command, Some(p.config.to_cli_args().unwrap()));
        assert_eq!(s.labels[labels::MANAGED], "true");
        assert_eq!(s.labels[labels::KIND], "proxy");
        let ports: Vec<u16> = s.exposed_ports.iter().map(|p| p.container_port).collect();
        assert_eq!(ports, [8000, 8081]);
        assert_eq!(
            s.labels[labels::DEPLOYMENT],
            p.spec().unwrap().labels[labels::DEPLOYMENT]
        );
        let mut other = proxy();
        other.config.log_level = "DEBUG".into();
        assert_ne!(
            s.labels[labels::DEPLOYMENT],
            other.spec().unwrap().labels[labels::DEPLOYMENT]
        );
    }
}
