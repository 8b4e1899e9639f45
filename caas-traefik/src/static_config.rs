//! Traefik's static configuration, generated from typed settings.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::{Value, json};

use caas_core::{Error, Result};

/// A Let's Encrypt (or any ACME CA) certificate resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeResolver {
    /// Resolver name used by routers (`tls.certresolver`).
    pub name: String,
    /// Account e-mail.
    pub email: String,
    /// Where Traefik stores certificates (`acme.json`).
    pub storage: PathBuf,
    /// Directory URL; Let's Encrypt production when `None`.
    pub ca_server: Option<String>,
    /// How the CA checks control of a name.
    pub challenge: AcmeChallenge,
}

impl AcmeResolver {
    /// A resolver answering HTTP-01 challenges on the web entrypoint, against Let's Encrypt.
    pub fn new(
        name: impl Into<String>,
        email: impl Into<String>,
        storage: impl Into<PathBuf>,
    ) -> Self {
        Self {
            name: name.into(),
            email: email.into(),
            storage: storage.into(),
            ca_server: None,
            challenge: AcmeChallenge::Http01,
        }
    }
    /// Another CA's directory URL.
    pub fn ca_server(mut self, url: impl Into<String>) -> Self {
        self.ca_server = Some(url.into());
        self
    }
    /// Another challenge.
    pub fn challenge(mut self, challenge: AcmeChallenge) -> Self {
        self.challenge = challenge;
        self
    }
}

/// How an ACME CA checks that the platform controls a name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AcmeChallenge {
    /// HTTP-01: a token served on the web entrypoint (port 80 in production). Exact hosts only.
    #[default]
    Http01,
    /// DNS-01: a TXT record at `_acme-challenge.<name>` written through a DNS provider. The
    /// only challenge that can issue wildcard certificates (`*.example.com`).
    Dns01(DnsChallenge),
}

/// The DNS-01 settings of a resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DnsChallenge {
    /// The lego DNS provider code (`cloudflare`, `route53`, `exec`, ...); its credentials
    /// come from Traefik's environment, as lego documents for each provider.
    pub provider: String,
    /// Name servers used to check that the TXT record is visible (the system's when empty).
    pub resolvers: Vec<SocketAddr>,
    /// Skip the propagation check (for a provider that is itself the authoritative server).
    pub disable_propagation_check: bool,
    /// Wait this long after writing the record before the check (none by default).
    pub delay_before_check: Option<std::time::Duration>,
}

impl DnsChallenge {
    /// DNS-01 through `provider`, with the default checks.
    pub fn new(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            resolvers: Vec::new(),
            disable_propagation_check: false,
            delay_before_check: None,
        }
    }
    /// Name servers for the propagation check.
    pub fn resolvers(mut self, resolvers: Vec<SocketAddr>) -> Self {
        self.resolvers = resolvers;
        self
    }
    /// Skips the propagation check.
    pub fn disable_propagation_check(mut self, on: bool) -> Self {
        self.disable_propagation_check = on;
        self
    }
}

/// The label carrying the route token on containers the platform routes through Traefik's
/// Docker provider (see [`DockerProvider`]).
pub const ROUTE_TOKEN_LABEL: &str = "caas.route-token";

/// A new random route token (64 hexadecimal characters from the operating system's random
/// source), for [`DockerProvider::new`] and [`TraefikProxy::with_docker_labels`]. Generate it
/// once per platform instance and keep it with the instance's configuration: Traefik and the
/// platform must agree on it across restarts.
///
/// [`TraefikProxy::with_docker_labels`]: crate::TraefikProxy::with_docker_labels
pub fn new_route_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a route token: 32 to 128 characters of `[A-Za-z0-9_-]` (it goes into Traefik's
/// constraint expression between backticks). Errors: `InvalidInput` naming `field`.
pub(crate) fn validate_route_token(field: &str, token: &str) -> Result<()> {
    let ok = (32..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "must be 32-128 characters of A-Z, a-z, 0-9, '-' and '_' (see new_route_token)",
        ))
    }
}

/// Traefik's Docker provider, constrained to the containers the platform labelled.
///
/// Containers carry labels from two sources: what the platform sets, and whatever their
/// image declares (Docker merges the image's labels into the container's). An image can
/// therefore ship `traefik.enable=true`, `traefik.http.routers.…` and even
/// `caas.managed=true`. Traefik only considers containers matching
/// ``Label(`caas.managed`,`true`) && Label(`caas.route-token`,`<token>`)``, and the token is a
/// per-instance secret that only [`TraefikProxy::container_labels`] puts on containers, so a
/// tenant's image cannot make itself routed. Containers are never exposed by default.
///
/// The token gates whole containers, not single labels: a container the platform does route
/// by labels also carries its image's `traefik.*` labels. Route untrusted images through the
/// file provider ([`TraefikProxy`], what `Platform` does); keep label routing for images the
/// operator trusts.
///
/// [`TraefikProxy`]: crate::TraefikProxy
/// [`TraefikProxy::container_labels`]: caas_core::Proxy::container_labels
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DockerProvider {
    /// The per-instance secret every routed container must carry in
    /// [`ROUTE_TOKEN_LABEL`].
    pub route_token: String,
    /// The engine's address (`unix:///var/run/docker.sock`, Traefik's default, when `None`).
    pub endpoint: Option<String>,
}

impl DockerProvider {
    /// The Docker provider on the default endpoint, constrained to `route_token`.
    pub fn new(route_token: impl Into<String>) -> Self {
        Self {
            route_token: route_token.into(),
            endpoint: None,
        }
    }
    /// Another engine address.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }
    /// Traefik's constraint expression: managed containers carrying the token.
    pub fn constraints(&self) -> String {
        format!(
            "Label(`{}`,`true`) && Label(`{ROUTE_TOKEN_LABEL}`,`{}`)",
            caas_core::labels::MANAGED,
            self.route_token
        )
    }
}

/// The settings Traefik needs at start-up.
///
/// # Traefik's API
///
/// The API (what the platform reads to know a route is applied, and everything Traefik
/// knows: routers, services, backends' addresses) is served on its own entrypoint,
/// `traefik`, at [`StaticConfig::api`], never on `web` or `websecure`. That address must be a
/// loopback address (`127.0.0.1:8081`) unless [`StaticConfig::api_beyond_loopback`] says
/// otherwise, so neither the public entrypoints nor tenant containers (which reach the host
/// through their bridge's gateway address) can read it; `web` and `websecure` are the
/// default entrypoints of routers that name none, so no router lands on the API's.
/// Traefik's documentation asks for exactly this: never expose the API's port publicly.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaticConfig {
    /// Plain HTTP entrypoint (`web`).
    pub web: SocketAddr,
    /// HTTPS entrypoint (`websecure`), when TLS is served.
    pub websecure: Option<SocketAddr>,
    /// Where the API listens (its own `traefik` entrypoint); used to check what is applied.
    /// A loopback address unless [`StaticConfig::api_beyond_loopback`].
    pub api: SocketAddr,
    /// Let the API listen on a non-loopback address (off by default). Only for an address
    /// that nothing but the platform reaches — for instance inside a container that joins
    /// no tenant network, with the port published on the host's loopback only (as
    /// [`compose_file`] does): every container on a network the proxy joins can reach it.
    pub api_beyond_loopback: bool,
    /// Listen for the API on the address this host name resolves to when Traefik starts
    /// (keeping [`StaticConfig::api`]'s port) instead of `api`'s address. For Traefik in a
    /// container that must join tenant networks (a Swarm proxy on every project's overlay):
    /// give the container an alias on a network only the platform reaches, name it here,
    /// and the API is on that network alone. Any name but `localhost` needs
    /// [`StaticConfig::api_beyond_loopback`].
    pub api_host: Option<String>,
    /// Directory watched by the file provider.
    pub file_provider_dir: Option<PathBuf>,
    /// Traefik's Docker provider (off by default), constrained to containers the platform
    /// labelled.
    pub docker_provider: Option<DockerProvider>,
    /// Certificate resolvers (none by default), each with a distinct name.
    pub acme: Vec<AcmeResolver>,
    /// Serve the dashboard (off by default).
    pub dashboard: bool,
    /// Log level (`INFO` by default).
    pub log_level: String,
    /// How long Traefik waits after a provider change before applying it (Traefik's default
    /// is 2 s; lower values make changes visible sooner).
    pub providers_throttle: Option<std::time::Duration>,
}

impl StaticConfig {
    /// A configuration with only the given `web` and `api` addresses (the API's on a loopback
    /// address; see [`StaticConfig::validate`]).
    pub fn new(web: SocketAddr, api: SocketAddr) -> Self {
        Self {
            web,
            websecure: None,
            api,
            api_beyond_loopback: false,
            api_host: None,
            file_provider_dir: None,
            docker_provider: None,
            acme: Vec::new(),
            dashboard: false,
            log_level: "INFO".into(),
            providers_throttle: None,
        }
    }

    /// Checks the settings. Errors: `InvalidInput` naming the field — among others `api`
    /// when it is not a loopback address and [`StaticConfig::api_beyond_loopback`] is off.
    pub fn validate(&self) -> Result<()> {
        if let Some(host) = &self.api_host {
            let label_ok = |l: &str| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            };
            if host.len() > 253 || !host.split('.').all(label_ok) {
                return Err(Error::invalid(
                    "api_host",
                    "must be a host name (letters, digits, '-', '_' and dots)",
                ));
            }
            if host != "localhost" && !self.api_beyond_loopback {
                return Err(Error::invalid(
                    "api_host",
                    format!(
                        "'{host}' may resolve to an address beyond loopback; set \
                         api_beyond_loopback if only the platform reaches it"
                    ),
                ));
            }
        } else if !self.api.ip().is_loopback() && !self.api_beyond_loopback {
            return Err(Error::invalid(
                "api",
                format!(
                    "Traefik's API would listen on {}, where the public and tenant containers \
                     may reach it; bind it to a loopback address such as 127.0.0.1:{}, or set \
                     api_beyond_loopback if only the platform reaches that address",
                    self.api,
                    self.api.port()
                ),
            ));
        }
        if let Some(d) = &self.docker_provider {
            validate_route_token("docker_provider.route_token", &d.route_token)?;
            if let Some(e) = &d.endpoint {
                let ok = (e.starts_with("unix:///") || e.starts_with("tcp://"))
                    && !e.chars().any(|c| c.is_whitespace() || c.is_control());
                if !ok {
                    return Err(Error::invalid(
                        "docker_provider.endpoint",
                        "must be a unix:///path or tcp://host:port address",
                    ));
                }
            }
        }
        if self.web == self.api
            || Some(self.web) == self.websecure
            || Some(self.api) == self.websecure
        {
            return Err(Error::invalid(
                "entrypoints",
                "web, websecure and api need distinct addresses",
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, a) in self.acme.iter().enumerate() {
            caas_core::validate::email(&format!("acme[{i}].email"), &a.email)?;
            caas_core::validate::dns_label(&format!("acme[{i}].name"), &a.name)?;
            if !names.insert(a.name.as_str()) {
                return Err(Error::invalid(
                    format!("acme[{i}].name"),
                    format!("two resolvers are named '{}'", a.name),
                ));
            }
            if let AcmeChallenge::Dns01(d) = &a.challenge {
                let ok = !d.provider.is_empty()
                    && d.provider.len() <= 64
                    && d.provider.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
                    });
                if !ok {
                    return Err(Error::invalid(
                        format!("acme[{i}].challenge.provider"),
                        "must be a lego DNS provider code such as 'cloudflare' or 'route53'",
                    ));
                }
            }
            if self.websecure.is_none() {
                return Err(Error::invalid(
                    "websecure",
                    "an ACME resolver needs the websecure entrypoint",
                ));
            }
        }
        if !["DEBUG", "INFO", "WARN", "ERROR"].contains(&self.log_level.as_str()) {
            return Err(Error::invalid(
                "log_level",
                "one of DEBUG, INFO, WARN, ERROR",
            ));
        }
        Ok(())
    }

    /// The API entrypoint's address as Traefik reads it: `api`, or `api_host` with its port.
    fn api_address(&self) -> String {
        match &self.api_host {
            Some(host) => format!("{host}:{}", self.api.port()),
            None => self.api.to_string(),
        }
    }

    /// The configuration as a JSON value (Traefik reads it as YAML; see [`StaticConfig::to_yaml`]).
    pub fn to_value(&self) -> Value {
        let mut entry_points = json!({
            "web": { "address": self.web.to_string(), "asDefault": true },
            "traefik": { "address": self.api_address() },
        });
        if let Some(ws) = self.websecure {
            entry_points["websecure"] = json!({ "address": ws.to_string(), "asDefault": true });
        }
        let mut providers = json!({});
        if let Some(dir) = &self.file_provider_dir {
            providers["file"] = json!({ "directory": dir.display().to_string(), "watch": true });
        }
        if let Some(d) = &self.docker_provider {
            let mut docker = json!({ "exposedByDefault": false, "constraints": d.constraints() });
            if let Some(e) = &d.endpoint {
                docker["endpoint"] = json!(e);
            }
            providers["docker"] = docker;
        }
        if let Some(t) = self.providers_throttle {
            providers["providersThrottleDuration"] = json!(format!("{}ms", t.as_millis()));
        }
        let mut v = json!({
            "entryPoints": entry_points,
            "providers": providers,
            // `insecure` serves the API on the `traefik` entrypoint without a router of its
            // own; that entrypoint is the API's alone and bound to loopback (see `validate`).
            "api": { "insecure": true, "dashboard": self.dashboard },
            "ping": { "entryPoint": "traefik" },
            "log": { "level": self.log_level },
            "global": { "checkNewVersion": false, "sendAnonymousUsage": false },
        });
        if !self.acme.is_empty() {
            let mut resolvers = serde_json::Map::new();
            for a in &self.acme {
                let mut acme = json!({
                    "email": a.email,
                    "storage": a.storage.display().to_string(),
                });
                match &a.challenge {
                    AcmeChallenge::Http01 => acme["httpChallenge"] = json!({ "entryPoint": "web" }),
                    AcmeChallenge::Dns01(d) => {
                        let mut dns = json!({ "provider": d.provider });
                        if !d.resolvers.is_empty() {
                            dns["resolvers"] = json!(
                                d.resolvers
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                            );
                        }
                        let mut propagation = serde_json::Map::new();
                        if d.disable_propagation_check {
                            propagation.insert("disableChecks".into(), json!(true));
                        }
                        if let Some(delay) = d.delay_before_check {
                            propagation.insert(
                                "delayBeforeChecks".into(),
                                json!(format!("{}ms", delay.as_millis())),
                            );
                        }
                        if !propagation.is_empty() {
                            dns["propagation"] = Value::Object(propagation);
                        }
                        acme["dnsChallenge"] = dns;
                    }
                }
                if let Some(ca) = &a.ca_server {
                    acme["caServer"] = json!(ca);
                }
                resolvers.insert(a.name.clone(), json!({ "acme": acme }));
            }
            v["certificatesResolvers"] = Value::Object(resolvers);
        }
        v
    }

    /// The configuration as YAML. Errors: `InvalidInput` from [`StaticConfig::validate`].
    pub fn to_yaml(&self) -> Result<String> {
        self.validate()?;
        serde_yaml::to_string(&self.to_value())
            .map_err(|e| Error::backend_source("traefik", "serializing static configuration", e))
    }
    /// The configuration as Traefik command-line flags (`--entrypoints.web.address=…`), for
    /// running Traefik without a configuration file (a container that gets nothing from the
    /// host). Each flag is one argument: no shell quoting is involved. Errors: `InvalidInput`
    /// from [`StaticConfig::validate`].
    pub fn to_cli_args(&self) -> Result<Vec<String>> {
        self.validate()?;
        let mut a = vec![
            format!("--entrypoints.web.address={}", self.web),
            "--entrypoints.web.asdefault=true".to_string(),
        ];
        if let Some(ws) = self.websecure {
            a.push(format!("--entrypoints.websecure.address={ws}"));
            a.push("--entrypoints.websecure.asdefault=true".into());
        }
        a.push(format!(
            "--entrypoints.traefik.address={}",
            self.api_address()
        ));
        if let Some(dir) = &self.file_provider_dir {
            a.push(format!("--providers.file.directory={}", dir.display()));
            a.push("--providers.file.watch=true".into());
        }
        if let Some(d) = &self.docker_provider {
            a.push("--providers.docker=true".into());
            a.push("--providers.docker.exposedbydefault=false".into());
            a.push(format!(
                "--providers.docker.constraints={}",
                d.constraints()
            ));
            if let Some(e) = &d.endpoint {
                a.push(format!("--providers.docker.endpoint={e}"));
            }
        }
        if let Some(t) = self.providers_throttle {
            a.push(format!(
                "--providers.providersthrottleduration={}ms",
                t.as_millis()
            ));
        }
        // As in `to_value`: the API on the `traefik` entrypoint alone, bound to loopback.
        a.extend([
            "--api=true".to_string(),
            "--api.insecure=true".to_string(),
            format!("--api.dashboard={}", self.dashboard),
            "--ping=true".to_string(),
            "--ping.entrypoint=traefik".to_string(),
            format!("--log.level={}", self.log_level),
            "--global.checknewversion=false".to_string(),
            "--global.sendanonymoususage=false".to_string(),
        ]);
        for r in &self.acme {
            let p = format!("--certificatesresolvers.{}.acme", r.name);
            a.push(format!("{p}.email={}", r.email));
            a.push(format!("{p}.storage={}", r.storage.display()));
            match &r.challenge {
                AcmeChallenge::Http01 => {
                    a.push(format!("{p}.httpchallenge=true"));
                    a.push(format!("{p}.httpchallenge.entrypoint=web"));
                }
                AcmeChallenge::Dns01(d) => {
                    a.push(format!("{p}.dnschallenge=true"));
                    a.push(format!("{p}.dnschallenge.provider={}", d.provider));
                    if !d.resolvers.is_empty() {
                        let list: Vec<String> =
                            d.resolvers.iter().map(ToString::to_string).collect();
                        a.push(format!("{p}.dnschallenge.resolvers={}", list.join(",")));
                    }
                    if d.disable_propagation_check {
                        a.push(format!("{p}.dnschallenge.propagation.disablechecks=true"));
                    }
                    if let Some(delay) = d.delay_before_check {
                        a.push(format!(
                            "{p}.dnschallenge.propagation.delaybeforechecks={}ms",
                            delay.as_millis()
                        ));
                    }
                }
            }
            if let Some(ca) = &r.ca_server {
                a.push(format!("{p}.caserver={ca}"));
            }
        }
        Ok(a)
    }
}

/// A docker-compose file running Traefik from `image` with this static configuration as
/// command-line flags: the web and websecure entrypoint ports published on the host (the API
/// port only on 127.0.0.1), the file-provider directory mounted read-only from `./dynamic`,
/// ACME storage on the named volume `traefik-acme`, the Docker socket (read-only) when the
/// Docker provider is on, and the platform's `caas.managed`/`caas.kind` labels.
/// Errors: `InvalidInput` from [`StaticConfig::validate`].
pub fn compose_file(config: &StaticConfig, image: &str) -> Result<String> {
    let command = config.to_cli_args()?;
    let mut ports = vec![json!(format!("{0}:{0}", config.web.port()))];
    if let Some(ws) = config.websecure {
        ports.push(json!(format!("{0}:{0}", ws.port())));
    }
    ports.push(json!(format!("127.0.0.1:{0}:{0}", config.api.port())));
    let mut volumes = Vec::new();
    if let Some(dir) = &config.file_provider_dir {
        volumes.push(json!(format!("./dynamic:{}:ro", dir.display())));
    }
    let mut named = serde_json::Map::new();
    let mut mounted = Vec::new();
    for (i, a) in config.acme.iter().enumerate() {
        let parent = a
            .storage
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .ok_or_else(|| {
                Error::invalid(
                    format!("acme[{i}].storage"),
                    "needs a directory (e.g. /data/acme.json)",
                )
            })?;
        if mounted.contains(&parent) {
            continue;
        }
        let volume = match mounted.len() {
            0 => "traefik-acme".to_string(),
            n => format!("traefik-acme-{}", n + 1),
        };
        mounted.push(parent);
        volumes.push(json!(format!("{volume}:{}", parent.display())));
        named.insert(volume, json!({}));
    }
    if config.docker_provider.is_some() {
        volumes.push(json!("/var/run/docker.sock:/var/run/docker.sock:ro"));
    }
    let mut service = json!({
        "image": image,
        "restart": "unless-stopped",
        "command": command,
        "ports": ports,
        "labels": {
            caas_core::labels::MANAGED: "true",
            caas_core::labels::KIND: crate::container::PROXY_KIND,
        },
    });
    if !volumes.is_empty() {
        service["volumes"] = json!(volumes);
    }
    let mut doc = json!({ "services": { "traefik": service } });
    if !named.is_empty() {
        doc["volumes"] = Value::Object(named);
    }
    serde_yaml::to_string(&doc)
        .map_err(|e| Error::backend_source("traefik", "serializing the compose file", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_has_entrypoints_api_and_no_dashboard() {
        let c = StaticConfig::new(
            "127.0.0.1:8080".parse().unwrap(),
            "127.0.0.1:8081".parse().unwrap(),
        );
        let v = c.to_value();
        assert_eq!(v["entryPoints"]["web"]["address"], "127.0.0.1:8080");
        assert_eq!(v["api"]["dashboard"], false);
        assert!(c.to_yaml().unwrap().contains("entryPoints"));
    }

    #[test]
    fn acme_needs_websecure_and_a_valid_email() {
        let mut c = StaticConfig::new(
            "127.0.0.1:80".parse().unwrap(),
            "127.0.0.1:8081".parse().unwrap(),
        );
        c.acme = vec![AcmeResolver::new(
            "le",
            "ops@example.com",
            "/data/acme.json",
        )];
        assert_eq!(c.validate().unwrap_err().field(), Some("websecure"));
        c.websecure = Some("127.0.0.1:443".parse().unwrap());
        c.validate().unwrap();
        assert_eq!(
            c.to_value()["certificatesResolvers"]["le"]["acme"]["httpChallenge"]["entryPoint"],
            "web"
        );
        c.acme[0].email = "not-an-email".into();
        assert_eq!(c.validate().unwrap_err().field(), Some("acme[0].email"));
        c.acme[0].email = "ops@example.com".into();
        c.acme
            .push(AcmeResolver::new("le", "ops@example.com", "/data/b.json"));
        assert_eq!(c.validate().unwrap_err().field(), Some("acme[1].name"));
        c.acme[1] = AcmeResolver::new("dns", "ops@example.com", "/data/b.json")
            .challenge(AcmeChallenge::Dns01(DnsChallenge::new("Bad Provider")));
        assert_eq!(
            c.validate().unwrap_err().field(),
            Some("acme[1].challenge.provider")
        );
    }

    fn acme_config() -> StaticConfig {
        let mut c = StaticConfig::new(
            "0.0.0.0:8000".parse().unwrap(),
            "0.0.0.0:8081".parse().unwrap(),
        );
        // In a container alone on its network, published on the host's loopback only.
        c.api_beyond_loopback = true;
        c.websecure = Some("0.0.0.0:8443".parse().unwrap());
        c.file_provider_dir = Some("/etc/traefik/dynamic".into());
        c.providers_throttle = Some(std::time::Duration::from_millis(200));
        c.acme = vec![
            AcmeResolver::new("le", "ops@example.com", "/data/acme.json")
                .ca_server("https://127.0.0.1:14000/dir"),
            AcmeResolver::new("wild", "ops@example.com", "/data/wild.json").challenge(
                AcmeChallenge::Dns01(
                    DnsChallenge::new("exec")
                        .resolvers(vec!["127.0.0.1:8053".parse().unwrap()])
                        .disable_propagation_check(true),
                ),
            ),
        ];
        c
    }

    #[test]
    fn a_dns01_resolver_is_configured_for_wildcards() {
        let c = acme_config();
        c.validate().unwrap();
        let v = c.to_value();
        let dns = &v["certificatesResolvers"]["wild"]["acme"]["dnsChallenge"];
        assert_eq!(dns["provider"], "exec");
        assert_eq!(dns["resolvers"][0], "127.0.0.1:8053");
        assert_eq!(dns["propagation"]["disableChecks"], true);
        assert!(v["certificatesResolvers"]["wild"]["acme"]["httpChallenge"].is_null());
        assert_eq!(
            v["certificatesResolvers"]["le"]["acme"]["httpChallenge"]["entryPoint"],
            "web"
        );
        let a = c.to_cli_args().unwrap();
        for want in [
            "--certificatesresolvers.wild.acme.dnschallenge=true",
            "--certificatesresolvers.wild.acme.dnschallenge.provider=exec",
            "--certificatesresolvers.wild.acme.dnschallenge.resolvers=127.0.0.1:8053",
            "--certificatesresolvers.wild.acme.dnschallenge.propagation.disablechecks=true",
        ] {
            assert!(a.iter().any(|x| x == want), "missing {want}: {a:?}");
        }
    }

    #[test]
    fn cli_args_carry_the_whole_static_configuration() {
        let a = acme_config().to_cli_args().unwrap();
        for want in [
            "--entrypoints.web.address=0.0.0.0:8000",
            "--entrypoints.websecure.address=0.0.0.0:8443",
            "--entrypoints.traefik.address=0.0.0.0:8081",
            "--providers.file.directory=/etc/traefik/dynamic",
            "--providers.file.watch=true",
            "--providers.providersthrottleduration=200ms",
            "--api.insecure=true",
            "--api.dashboard=false",
            "--ping=true",
            "--ping.entrypoint=traefik",
            "--log.level=INFO",
            "--certificatesresolvers.le.acme.email=ops@example.com",
            "--certificatesresolvers.le.acme.storage=/data/acme.json",
            "--certificatesresolvers.le.acme.httpchallenge.entrypoint=web",
            "--certificatesresolvers.le.acme.caserver=https://127.0.0.1:14000/dir",
        ] {
            assert!(a.iter().any(|x| x == want), "missing {want}: {a:?}");
        }
        assert!(!a.iter().any(|x| x.starts_with("--providers.docker")));
        assert!(a.iter().all(|x| x.starts_with("--")));

        let mut plain = StaticConfig::new(
            "0.0.0.0:8000".parse().unwrap(),
            "127.0.0.1:8081".parse().unwrap(),
        );
        let token = new_route_token();
        plain.docker_provider = Some(DockerProvider::new(token.clone()));
        let a = plain.to_cli_args().unwrap();
        assert!(a.contains(&"--providers.docker.exposedbydefault=false".to_string()));
        assert!(a.contains(&format!(
            "--providers.docker.constraints=Label(`caas.managed`,`true`) && \
             Label(`caas.route-token`,`{token}`)"
        )));
        assert!(
            !a.iter()
                .any(|x| x.contains("websecure") || x.contains("acme"))
        );
        plain.log_level = "LOUD".into();
        assert_eq!(plain.to_cli_args().unwrap_err().field(), Some("log_level"));
    }

    #[test]
    fn the_api_listens_on_loopback_unless_the_operator_says_otherwise() {
        for public in [
            "0.0.0.0:8081",
            "172.17.0.1:8081",
            "[::]:8081",
            "192.168.1.10:8081",
        ] {
            let c = StaticConfig::new("0.0.0.0:80".parse().unwrap(), public.parse().unwrap());
            let e = c.validate().unwrap_err();
            assert_eq!(e.field(), Some("api"), "{public}: {e}");
            assert!(e.to_string().contains("127.0.0.1"), "{e}");
            assert_eq!(c.to_yaml().unwrap_err().field(), Some("api"));
            assert_eq!(c.to_cli_args().unwrap_err().field(), Some("api"));
            let mut opted = c.clone();
            opted.api_beyond_loopback = true;
            opted.validate().unwrap();
        }
        for lo in ["127.0.0.1:8081", "127.0.0.2:8081", "[::1]:8081"] {
            StaticConfig::new("0.0.0.0:80".parse().unwrap(), lo.parse().unwrap())
                .validate()
                .unwrap();
        }
        // A host name: localhost as it is, any other only when asked.
        let mut c = StaticConfig::new(
            "0.0.0.0:80".parse().unwrap(),
            "0.0.0.0:8081".parse().unwrap(),
        );
        c.api_host = Some("localhost".into());
        assert_eq!(
            c.to_value()["entryPoints"]["traefik"]["address"],
            "localhost:8081"
        );
        c.api_host = Some("caas-proxy-api".into());
        assert_eq!(c.validate().unwrap_err().field(), Some("api_host"));
        c.api_beyond_loopback = true;
        let a = c.to_cli_args().unwrap();
        assert!(a.contains(&"--entrypoints.traefik.address=caas-proxy-api:8081".to_string()));
        c.api_host = Some("bad host:1".into());
        assert_eq!(c.validate().unwrap_err().field(), Some("api_host"));
    }

    #[test]
    fn routers_without_entrypoints_never_land_on_the_api_entrypoint() {
        let mut c = StaticConfig::new(
            "0.0.0.0:80".parse().unwrap(),
            "127.0.0.1:8081".parse().unwrap(),
        );
        c.websecure = Some("0.0.0.0:443".parse().unwrap());
        let v = c.to_value();
        assert_eq!(v["entryPoints"]["web"]["asDefault"], true);
        assert_eq!(v["entryPoints"]["websecure"]["asDefault"], true);
        assert!(v["entryPoints"]["traefik"]["asDefault"].is_null());
        let a = c.to_cli_args().unwrap();
        assert!(a.contains(&"--entrypoints.web.asdefault=true".to_string()));
        assert!(a.contains(&"--entrypoints.websecure.asdefault=true".to_string()));
        assert!(
            !a.iter()
                .any(|x| x.starts_with("--entrypoints.traefik.asdefault"))
        );
    }

    #[test]
    fn the_docker_provider_is_off_by_default_and_constrained_to_the_route_token() {
        let mut c = StaticConfig::new(
            "0.0.0.0:80".parse().unwrap(),
            "127.0.0.1:8081".parse().unwrap(),
        );
        assert!(c.to_value()["providers"]["docker"].is_null());
        let token = new_route_token();
        assert_eq!(token.len(), 64);
        assert_ne!(token, new_route_token(), "tokens are random");
        c.docker_provider = Some(DockerProvider::new(token.clone()).endpoint("unix:///run/d.sock"));
        let v = c.to_value();
        let docker = &v["providers"]["docker"];
        assert_eq!(docker["exposedByDefault"], false);
        assert_eq!(docker["endpoint"], "unix:///run/d.sock");
        assert_eq!(
            docker["constraints"],
            format!("Label(`caas.managed`,`true`) && Label(`caas.route-token`,`{token}`)")
        );
        for bad in [
            "short",
            "has`backtick-and-is-long-enough-1234567890",
            &"x".repeat(129),
        ] {
            c.docker_provider = Some(DockerProvider::new(bad));
            assert_eq!(
                c.validate().unwrap_err().field(),
                Some("docker_provider.route_token"),
                "{bad}"
            );
        }
        c.docker_provider = Some(DockerProvider::new(token).endpoint("http://x y"));
        assert_eq!(
            c.validate().unwrap_err().field(),
            Some("docker_provider.endpoint")
        );
    }

    #[test]
    fn compose_file_runs_traefik_with_the_flags_ports_and_volumes() {
        let c = acme_config();
        let y = compose_file(&c, "traefik:v3.3").unwrap();
        let v: Value = serde_yaml::from_str(&y).unwrap();
        let t = &v["services"]["traefik"];
        assert_eq!(t["image"], "traefik:v3.3");
        let cmd: Vec<String> = serde_json::from_value(t["command"].clone()).unwrap();
        assert_eq!(cmd, c.to_cli_args().unwrap());
        assert_eq!(
            t["ports"],
            json!(["8000:8000", "8443:8443", "127.0.0.1:8081:8081"])
        );
        assert_eq!(
            t["volumes"],
            json!(["./dynamic:/etc/traefik/dynamic:ro", "traefik-acme:/data"])
        );
        assert_eq!(t["labels"]["caas.managed"], "true");
        assert_eq!(t["labels"]["caas.kind"], "proxy");
        assert!(v["volumes"]["traefik-acme"].is_object());
    }
}
