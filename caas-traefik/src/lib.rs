//! The [`Proxy`](caas_core::Proxy) port on Traefik.
//!
//! - [`TraefikProxy`]: routing through Traefik's file provider — one file per service,
//!   written atomically, so domains and upstreams change without recreating containers — and
//!   `wait_applied`, which polls Traefik's API until exactly what was written is served.
//!   Rolling updates switch upstreams this way (new + old → new only), which loses no request.
//! - [`file_config`] and [`docker_labels`]: the same routing as file-provider configuration
//!   or Docker-provider labels (one router per host/path, `web`/`websecure` entrypoints, TLS
//!   with a certificate resolver and an HTTP→HTTPS redirect, path prefixes with optional
//!   stripping) — pure functions.
//! - [`StaticConfig`]: Traefik's static configuration.
//!
//! Not yet here: reading certificate status (`certificate_status` answers `Unsupported` for
//! TLS hosts), running Traefik as a managed container.

mod dynamic;
mod proxy;
mod static_config;

pub use dynamic::{Entrypoints, docker_labels, file_config, router_name, rule, service_name};
pub use proxy::TraefikProxy;
pub use static_config::{AcmeResolver, StaticConfig};
