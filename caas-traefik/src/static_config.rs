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
    /// Certificate resolver.
    pub acme: Option<AcmeResolver>,
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
            acme: None,
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
        if let Some(a) = &self.acme {
            caas_core::validate::email("acme.email", &a.email)?;
            caas_core::validate::dns_label("acme.name", &a.name)?;
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
        if let Some(a) = &self.acme {
            let mut acme = json!({
                "email": a.email,
                "storage": a.storage.display().to_string(),
                "httpChallenge": { "entryPoint": "web" },
            });
            if let Some(ca) = &a.ca_server {
                acme["caServer"] = json!(ca);
            }
            v["certificatesResolvers"] = json!({ a.name.clone(): { "acme": acme } });
        }
        v
    }

    /// The configuration as YAML. Errors: `InvalidInput` from [`StaticConfig::validate`].
    pub fn to_yaml(&self) -> Result<String> {
        self.validate()?;
        serde_yaml::to_string(&self.to_value())
            .map_err(|e| Error::backend_source("traefik", "serializing static configuration", e))
    }
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
        c.acme = Some(AcmeResolver {
            name: "le".into(),
            email: "ops@example.com".into(),
            storage: "/data/acme.json".into(),
            ca_server: None,
        });
        assert_eq!(c.validate().unwrap_err().field(), Some("websecure"));
        c.websecure = Some("127.0.0.1:443".parse().unwrap());
        c.validate().unwrap();
        assert_eq!(
            c.to_value()["certificatesResolvers"]["le"]["acme"]["httpChallenge"]["entryPoint"],
            "web"
        );
        c.acme.as_mut().unwrap().email = "not-an-email".into();
        assert_eq!(c.validate().unwrap_err().field(), Some("acme.email"));
    }
}
