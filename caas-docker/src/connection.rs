//! How to reach a Docker engine.

use std::path::PathBuf;

use bollard::{API_DEFAULT_VERSION, ClientVersion, Docker};
use serde::{Deserialize, Serialize};

use caas_core::{Error, Result};

use crate::error::map_err;

/// Where the engine listens. Local connections (Unix socket) need no credentials at all; TCP
/// should only be used on a trusted network, TLS everywhere else.
///
/// SSH (`ssh://user@host`) is not supported by the bollard version in use; forward the remote
/// socket instead (`ssh -L /tmp/docker.sock:/var/run/docker.sock user@host`) and use
/// [`DockerConnection::Unix`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DockerConnection {
    /// A Unix socket (default `/var/run/docker.sock`).
    Unix {
        /// Socket path.
        path: PathBuf,
    },
    /// Plain TCP: `tcp://host:2375` or `http://host:2375`.
    Tcp {
        /// Engine URL.
        url: String,
    },
    /// TCP with mutual TLS: `tcp://host:2376` or `https://host:2376`.
    Tls {
        /// Engine URL.
        url: String,
        /// CA certificate (PEM) that signed the engine's certificate.
        ca: PathBuf,
        /// Client certificate (PEM).
        cert: PathBuf,
        /// Client key (PEM).
        key: PathBuf,
    },
}

impl DockerConnection {
    /// Whether the engine runs on this host (a Unix socket).
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Unix { .. })
    }
}

impl Default for DockerConnection {
    fn default() -> Self {
        Self::Unix {
            path: PathBuf::from("/var/run/docker.sock"),
        }
    }
}

/// The oldest engine API spoken (Docker 20.10).
pub const MIN_API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// Seconds before a request to the engine times out.
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;

impl DockerConnection {
    /// Checks the configuration; errors name the field (`connection.url`, `connection.ca`, ...).
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Unix { path } => {
                if !path.is_absolute() {
                    return Err(Error::invalid(
                        "connection.path",
                        "the socket path must be absolute, e.g. /var/run/docker.sock",
                    ));
                }
            }
            Self::Tcp { url } => {
                host_port("connection.url", url, &["tcp://", "http://"])?;
            }
            Self::Tls { url, ca, cert, key } => {
                host_port("connection.url", url, &["tcp://", "https://"])?;
                for (field, p) in [
                    ("connection.ca", ca),
                    ("connection.cert", cert),
                    ("connection.key", key),
                ] {
                    if !p.is_absolute() {
                        return Err(Error::invalid(
                            field,
                            "must be an absolute path to a PEM file",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The connection `DOCKER_HOST` describes (`unix://`, `tcp://`, with TLS when
    /// `DOCKER_TLS_VERIFY` is set, certificates from `DOCKER_CERT_PATH`), or the default socket.
    /// Errors: `InvalidInput` naming `DOCKER_HOST`.
    pub fn from_env_value(
        host: Option<&str>,
        tls_verify: bool,
        cert_path: Option<&str>,
    ) -> Result<Self> {
        let Some(host) = host.filter(|h| !h.is_empty()) else {
            return Ok(Self::default());
        };
        let conn = if let Some(path) = host.strip_prefix("unix://") {
            Self::Unix {
                path: PathBuf::from(path),
            }
        } else if tls_verify {
            let dir = PathBuf::from(cert_path.unwrap_or("~/.docker"));
            Self::Tls {
                url: host.to_string(),
                ca: dir.join("ca.pem"),
                cert: dir.join("cert.pem"),
                key: dir.join("key.pem"),
            }
        } else {
            Self::Tcp {
                url: host.to_string(),
            }
        };
        conn.validate().map_err(|e| match e {
            Error::InvalidInput { reason, .. } => Error::invalid("DOCKER_HOST", reason),
            other => other,
        })?;
        Ok(conn)
    }

    /// A short human description (`unix:///var/run/docker.sock`).
    pub fn describe(&self) -> String {
        match self {
            Self::Unix { path } => format!("unix://{}", path.display()),
            Self::Tcp { url } => url.clone(),
            Self::Tls { url, .. } => format!("{url} (TLS)"),
        }
    }

    /// Opens a client (no request is made yet). Errors: `InvalidInput`, `Unavailable`.
    pub(crate) fn client(&self, timeout_secs: u64) -> Result<Docker> {
        self.client_with_version(timeout_secs, API_DEFAULT_VERSION)
    }

    /// Opens a client speaking `version`.
    pub(crate) fn client_with_version(
        &self,
        timeout_secs: u64,
        version: &ClientVersion,
    ) -> Result<Docker> {
        self.validate()?;
        let docker = match self {
            Self::Unix { path } => {
                Docker::connect_with_unix(&path.to_string_lossy(), timeout_secs, version)
            }
            Self::Tcp { url } => {
                let url = url.replacen("tcp://", "http://", 1);
                Docker::connect_with_http(&url, timeout_secs, version)
            }
            Self::Tls { url, ca, cert, key } => {
                let url = url.replacen("tcp://", "https://", 1);
                Docker::connect_with_ssl(&url, key, cert, ca, timeout_secs, version)
            }
        };
        docker.map_err(map_err)
    }
}

fn host_port(field: &str, url: &str, schemes: &[&str]) -> Result<()> {
    let Some(rest) = schemes.iter().find_map(|s| url.strip_prefix(s)) else {
        return Err(Error::invalid(
            field,
            format!("must start with {}", schemes.join(" or ")),
        ));
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| Error::invalid(field, "must include a port, e.g. tcp://10.0.0.5:2375"))?;
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == '@')
    {
        return Err(Error::invalid(field, "has an invalid host"));
    }
    port.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::invalid(field, "has an invalid port"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        assert_eq!(
            DockerConnection::Unix {
                path: "docker.sock".into()
            }
            .validate()
            .unwrap_err()
            .field(),
            Some("connection.path")
        );
        assert_eq!(
            DockerConnection::Tcp {
                url: "localhost:2375".into()
            }
            .validate()
            .unwrap_err()
            .field(),
            Some("connection.url")
        );
        assert!(
            DockerConnection::Tcp {
                url: "tcp://127.0.0.1:2375".into()
            }
            .validate()
            .is_ok()
        );
        assert!(
            DockerConnection::Tcp {
                url: "tcp://127.0.0.1".into()
            }
            .validate()
            .is_err()
        );
        let tls = DockerConnection::Tls {
            url: "tcp://docker.example:2376".into(),
            ca: "ca.pem".into(),
            cert: "/c/cert.pem".into(),
            key: "/c/key.pem".into(),
        };
        assert_eq!(tls.validate().unwrap_err().field(), Some("connection.ca"));
    }
}
