//! Auto-detection of a local or configured engine, and connection test reports with advice.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use caas_core::ports::runtime::{ConnectionReport, EngineDetails};

use crate::connection::{DockerConnection, MIN_API_VERSION};
use crate::error::{advice, map_err};

/// What auto-detection looks at. The library reads no environment variables itself; the
/// reference server fills this from `DOCKER_HOST`, `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH` and
/// `XDG_RUNTIME_DIR` ([`DetectionInputs::from_env`] is that convenience).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionInputs {
    /// `DOCKER_HOST`.
    pub docker_host: Option<String>,
    /// `DOCKER_TLS_VERIFY` set to a non-empty value other than `0`.
    pub tls_verify: bool,
    /// `DOCKER_CERT_PATH`.
    pub cert_path: Option<String>,
    /// `XDG_RUNTIME_DIR` (rootless Docker and Podman sockets live there).
    pub xdg_runtime_dir: Option<String>,
}

impl DetectionInputs {
    /// Reads the standard Docker variables from a lookup function (e.g. `std::env::var`).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            docker_host: get("DOCKER_HOST").filter(|v| !v.is_empty()),
            tls_verify: get("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty() && v != "0"),
            cert_path: get("DOCKER_CERT_PATH").filter(|v| !v.is_empty()),
            xdg_runtime_dir: get("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()),
        }
    }
}

/// One candidate tried by [`detect`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Where the candidate came from (`DOCKER_HOST`, `default socket`, `rootless`, `podman`, ...).
    pub source: String,
    /// The connection tried (`None` when the source itself was invalid).
    pub connection: Option<DockerConnection>,
    /// What the test found.
    pub report: ConnectionReport,
}

/// Every candidate tried, in order, and the first that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detection {
    /// Candidates in the order tried.
    pub candidates: Vec<Candidate>,
    /// The first reachable connection.
    pub chosen: Option<DockerConnection>,
}

/// The candidates in the order they are tried: `DOCKER_HOST`, `/var/run/docker.sock`,
/// `/run/docker.sock`, rootless `$XDG_RUNTIME_DIR/docker.sock`, Podman's sockets, and
/// `tcp://localhost:2375`.
pub fn candidates(inputs: &DetectionInputs) -> Vec<(String, Result<DockerConnection, String>)> {
    let mut out = Vec::new();
    if let Some(host) = &inputs.docker_host {
        out.push((
            "DOCKER_HOST".to_string(),
            DockerConnection::from_env_value(
                Some(host),
                inputs.tls_verify,
                inputs.cert_path.as_deref(),
            )
            .map_err(|e| e.to_string()),
        ));
    }
    let unix =
        |source: &str, p: PathBuf| (source.to_string(), Ok(DockerConnection::Unix { path: p }));
    out.push(unix("default socket", "/var/run/docker.sock".into()));
    out.push(unix("default socket", "/run/docker.sock".into()));
    if let Some(dir) = &inputs.xdg_runtime_dir {
        out.push(unix("rootless Docker", Path::new(dir).join("docker.sock")));
        out.push(unix(
            "rootless Podman",
            Path::new(dir).join("podman/podman.sock"),
        ));
    }
    out.push(unix("Podman", "/run/podman/podman.sock".into()));
    out.push((
        "TCP on localhost".to_string(),
        Ok(DockerConnection::Tcp {
            url: "tcp://localhost:2375".to_string(),
        }),
    ));
    // The same socket can appear twice (/run is often /var/run): keep the first.
    let mut seen = std::collections::HashSet::new();
    out.retain(|(_, c)| match c {
        Ok(c) => seen.insert(c.describe()),
        Err(_) => true,
    });
    out
}

/// Tries every candidate (each with a short timeout) and returns all of them with what
/// answered; `chosen` is the first reachable one.
pub async fn detect(inputs: &DetectionInputs) -> Detection {
    let mut result = Detection {
        candidates: Vec::new(),
        chosen: None,
    };
    for (source, conn) in candidates(inputs) {
        let (connection, report) = match conn {
            Ok(c) => {
                let r = test_connection(&c, Duration::from_secs(2)).await;
                (Some(c), r)
            }
            Err(e) => (
                None,
                ConnectionReport {
                    target: source.clone(),
                    reachable: false,
                    error: Some(e),
                    advice: Some("fix the variable or unset it".to_string()),
                    ..ConnectionReport::default()
                },
            ),
        };
        if report.reachable && result.chosen.is_none() {
            result.chosen = connection.clone();
        }
        result.candidates.push(Candidate {
            source,
            connection,
            report,
        });
    }
    result
}

/// Tests a connection: pings the engine and, when it answers, reads its version and system
/// information. Never fails: problems are in the report, with advice.
pub async fn test_connection(conn: &DockerConnection, timeout: Duration) -> ConnectionReport {
    let mut report = ConnectionReport {
        target: conn.describe(),
        ..ConnectionReport::default()
    };
    let fail = |mut r: ConnectionReport, raw: String| {
        r.advice = Some(advice(&raw));
        r.error = Some(raw);
        r
    };
    if let DockerConnection::Unix { path } = conn {
        if !path.exists() {
            return fail(
                report,
                format!(
                    "socket {} not found (No such file or directory)",
                    path.display()
                ),
            );
        }
    }
    let timeout_secs = timeout.as_secs().max(1);
    let docker = match conn.client_with_version(timeout_secs, &MIN_API_VERSION) {
        Ok(d) => d,
        Err(e) => return fail(report, e.to_string()),
    };
    let start = Instant::now();
    let pinged = tokio::time::timeout(timeout, docker.ping()).await;
    match pinged {
        Err(_) => {
            return fail(
                report,
                format!("no answer within {} s (timed out)", timeout.as_secs()),
            );
        }
        Ok(Err(e)) => return fail(report, raw_error(e)),
        Ok(Ok(_)) => {}
    }
    report.round_trip_ms = Some(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX));
    report.reachable = true;
    let details = async {
        let docker = docker.negotiate_version().await?;
        let version = docker.version().await?;
        let info = docker.info().await?;
        Ok::<_, bollard::errors::Error>((docker.client_version().to_string(), version, info))
    };
    match tokio::time::timeout(timeout, details).await {
        Ok(Ok((api, v, info))) => {
            let n = |x: Option<i64>| x.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
            report.engine = Some(EngineDetails {
                version: v.version.unwrap_or_default(),
                api_version: api,
                min_api_version: v.min_api_version.unwrap_or_default(),
                os: info.operating_system.unwrap_or_default(),
                arch: info.architecture.unwrap_or_default(),
                kernel_version: info.kernel_version.unwrap_or_default(),
                cgroup_version: info
                    .cgroup_version
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                cgroup_driver: info
                    .cgroup_driver
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                storage_driver: info.driver.unwrap_or_default(),
                live_restore: info.live_restore_enabled.unwrap_or(false),
                cpus: n(info.ncpu),
                memory_bytes: n(info.mem_total),
                containers: n(info.containers),
                containers_running: n(info.containers_running),
                images: n(info.images),
            });
            let too_old = report
                .engine
                .as_ref()
                .map(|e| e.api_version.as_str())
                .and_then(|a| a.split_once('.'))
                .and_then(|(ma, mi)| Some((ma.parse::<u64>().ok()?, mi.parse::<u64>().ok()?)))
                .is_some_and(|(ma, mi)| (ma, mi) < (1, 41));
            if too_old {
                report.advice = Some(advice("client version 1.41 is too new"));
            }
        }
        Ok(Err(e)) => {
            let raw = raw_error(e);
            report.advice = Some(advice(&raw));
            report.error = Some(raw);
        }
        Err(_) => {
            report.error =
                Some("the engine answered a ping but not the info request in time".into());
        }
    }
    report
}

fn raw_error(e: bollard::errors::Error) -> String {
    // Keep the innermost cause: that is where "permission denied" or "connection refused" is.
    let mapped = map_err(e);
    let mut msg = mapped.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(&mapped);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_the_documented_order_without_duplicates() {
        let inputs = DetectionInputs {
            docker_host: Some("unix:///var/run/docker.sock".into()),
            xdg_runtime_dir: Some("/run/user/1000".into()),
            ..DetectionInputs::default()
        };
        let c: Vec<String> = candidates(&inputs)
            .into_iter()
            .map(|(s, c)| format!("{s} {}", c.map(|c| c.describe()).unwrap_or_default()))
            .collect();
        assert_eq!(c[0], "DOCKER_HOST unix:///var/run/docker.sock");
        assert_eq!(c[1], "default socket unix:///run/docker.sock");
        assert!(
            c.iter()
                .any(|x| x == "rootless Docker unix:///run/user/1000/docker.sock")
        );
        assert!(c.iter().any(|x| x.starts_with("Podman")));
        assert_eq!(c.last().unwrap(), "TCP on localhost tcp://localhost:2375");
    }

    #[test]
    fn invalid_docker_host_is_reported_not_fatal() {
        let inputs = DetectionInputs {
            docker_host: Some("localhost".into()),
            ..DetectionInputs::default()
        };
        let c = candidates(&inputs);
        assert!(c[0].1.as_ref().unwrap_err().contains("DOCKER_HOST"));
    }
}
