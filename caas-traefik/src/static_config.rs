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

/// The settings Traefik needs at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaticConfig {
    /// Plain HTTP entrypoint (`web`).
    pub web: SocketAddr,
    /// HTTPS entrypoint (`websecure`), when TLS is served.
    pub websecure: Option<SocketAddr>,
    /// Where the API listens (`traefik` entrypoint); used to check what is applied.
    pub api: SocketAddr,
    /// Directory watched by the file provider.
    pub file_provider_dir: Option<PathBuf>,
    /// Enable the Docker provider (labels), only for containers with `traefik.enable=true`.
    pub docker_provider: bool,
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
    /// A configuration with only the given `web` and `api` addresses.
    pub fn new(web: SocketAddr, api: SocketAddr) -> Self {
        Self {
            web,
            websecure: None,
            api,
            file_provider_dir: None,
            docker_provider: false,
            acme: Vec::new(),
            dashboard: false,
            log_level: "INFO".into(),
            providers_throttle: None,
        }
    }

    /// Checks the settings. Errors: `InvalidInput` naming the field.
    pub fn validate(&self) -> Result<()> {
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

    /// The configuration as a JSON value (Traefik reads it as YAML; see [`StaticConfig::to_yaml`]).
    pub fn to_value(&self) -> Value {
        let mut entry_points = json!({
            "web": { "address": self.web.to_string() },
            "traefik": { "address": self.api.to_string() },
        });
        if let Some(ws) = self.websecure {
            entry_points["websecure"] = json!({ "address": ws.to_string() });
        }
        let mut providers = json!({});
        if let Some(dir) = &self.file_provider_dir {
            providers["file"] = json!({ "directory": dir.display().to_string(), "watch": true });
        }
        if self.docker_provider {
            providers["docker"] = json!({ "exposedByDefault": false });
        }
        if let Some(t) = self.providers_throttle {
            providers["providersThrottleDuration"] = json!(format!("{}ms", t.as_millis()));
        }
        let mut v = json!({
            "entryPoints": entry_points,
            "providers": providers,
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
        let mut a = vec![format!("--entrypoints.web.address={}", self.web)];
        if let Some(ws) = self.websecure {
            a.push(format!("--entrypoints.websecure.address={ws}"));
        }
        a.push(format!("--entrypoints.traefik.address={}", self.api));
        if let Some(dir) = &self.file_provider_dir {
            a.push(format!("--providers.file.directory={}", dir.display()));
            a.push("--providers.file.watch=true".into());
        }
        if self.docker_provider {
            a.push("--providers.docker=true".into());
            a.push("--providers.docker.exposedbydefault=false".into());
        }
        if let Some(t) = self.providers_throttle {
            a.push(format!(
                "--providers.providersthrottleduration={}ms",
                t.as_millis()
            ));
        }
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
    if config.docker_provider {
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
            "0.0.0.0:8081".parse().unwrap(),
        );
        plain.docker_provider = true;
        let a = plain.to_cli_args().unwrap();
        assert!(a.contains(&"--providers.docker.exposedbydefault=false".to_string()));
        assert!(
            !a.iter()
                .any(|x| x.contains("websecure") || x.contains("acme"))
        );
        plain.log_level = "LOUD".into();
        assert_eq!(plain.to_cli_args().unwrap_err().field(), Some("log_level"));
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
