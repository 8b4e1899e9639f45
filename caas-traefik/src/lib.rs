//! The [`Proxy`](caas_core::Proxy) port on Traefik.
//!
//! - [`TraefikProxy`]: routing through Traefik's file provider — one file per service,
//!   written atomically, so domains and upstreams change without recreating containers — and
//!   `wait_applied`, which polls Traefik's API until exactly what was written is served.
//!   Rolling updates switch upstreams this way (new + old → new only), which loses no request.
//! - Certificate status ([`TraefikProxy::with_tls_probe`]): a TLS handshake with SNI = host on
//!   the websecure entrypoint (accepting any certificate: it inspects, it does not trust; on
//!   rustls' `ring` provider); the leaf's issuer common name and expiry are `Issued`, Traefik's
//!   self-signed default certificate ("TRAEFIK DEFAULT CERT") is `Pending`, a host without a
//!   TLS route is `NotConfigured`, and an unreachable entrypoint is `Unavailable`. Tested end
//!   to end with ACME against Pebble (`tests/acme.rs`).
//! - [`file_config`] and [`docker_labels`]: the same routing as file-provider configuration
//!   or Docker-provider labels (one router per host/path, `web`/`websecure` entrypoints, TLS
//!   with a certificate resolver and an HTTP→HTTPS redirect, path prefixes with optional
//!   stripping) — pure functions. Wildcard hosts (`*.example.com`) become a `HostRegexp` of
//!   exactly one label below the name, with the certificate's name in `tls.domains` and the
//!   [wildcard resolver](Entrypoints::wildcard_cert_resolver); explicit [`priority`] makes an
//!   exact host win over a wildcard and a longer path prefix over a shorter one.
//! - [`StaticConfig`]: Traefik's static configuration, as YAML ([`StaticConfig::to_yaml`]),
//!   as command-line flags ([`StaticConfig::to_cli_args`]) or as a docker-compose file
//!   ([`compose_file`]); ACME resolvers ([`AcmeResolver`]) use the HTTP-01 challenge on the
//!   `web` entrypoint or DNS-01 through a lego DNS provider ([`AcmeChallenge::Dns01`], the
//!   only way to wildcard certificates). Both are tested end to end against Pebble, DNS-01
//!   with lego's `exec` provider writing the TXT record into `pebble-challtestsrv`.
//! - Tenants can neither read nor steer the proxy. Traefik's API (routers, services,
//!   backends' addresses) has an entrypoint of its own bound to loopback: [`StaticConfig`]
//!   refuses any other address unless the operator opts in
//!   ([`StaticConfig::api_beyond_loopback`]; a proxy container that joins tenant networks
//!   binds it to its control network through [`StaticConfig::api_host`]), and routers that
//!   name no entrypoint go to `web` and `websecure` only. The Docker provider is off by default; turned on
//!   ([`DockerProvider`]), it only sees containers labelled `caas.managed=true` *and*
//!   [`ROUTE_TOKEN_LABEL`] with the instance's secret token, which only the proxy's
//!   [`container_labels`](caas_core::Proxy::container_labels) hands out — so an image that
//!   ships `traefik.http.routers…` labels gets no route. Both are tested against the real
//!   Traefik and engine (`tests/isolation.rs`, `tests/ensure_proxy.rs`).
//! - [`ensure_proxy`]: Traefik as a managed container (`caas.managed=true`,
//!   `caas.kind=proxy`) through any [`ContainerRuntime`](caas_core::ContainerRuntime),
//!   configured by flags only, idempotent.
//! - [`HickoryDns`]: the [`DnsResolver`](caas_core::ports::dns::DnsResolver) port on
//!   `hickory-resolver` with configurable name servers (UDP and TCP, short timeouts, no
//!   cache) for domain verification; NXDOMAIN and "no records" are empty answers, other
//!   failures `Unavailable`. Tested against `pebble-challtestsrv` on loopback (`tests/dns.rs`).
//!
//! Not here: failed issuances are not told apart from pending ones (Traefik keeps serving
//! its default certificate and retries); reading ACME errors would need Traefik's logs.

mod container;
mod dns;
mod dynamic;
mod proxy;
mod static_config;
mod tls;

pub use container::{PROXY_KIND, ProxyContainer, ensure_proxy};
pub use dns::HickoryDns;
pub use dynamic::{
    Entrypoints, docker_labels, file_config, priority, router_name, rule, service_name,
};
pub use proxy::TraefikProxy;
pub use static_config::{
    AcmeChallenge, AcmeResolver, DnsChallenge, DockerProvider, ROUTE_TOKEN_LABEL, StaticConfig,
    compose_file, new_route_token,
};
