//! The [`Proxy`](caas_core::Proxy) port on Traefik.
//!
//! This crate holds, as it grows: label generation for Traefik's Docker provider, dynamic
//! configuration through the file provider (one file per service, written atomically, so
//! domains and upstreams change without recreating containers), waiting until Traefik has
//! applied a change, certificate status, and — already here — generation of Traefik's static
//! configuration ([`StaticConfig`]).

mod static_config;

pub use static_config::{AcmeResolver, StaticConfig};
