//! Mapping bollard's errors to caas-core's [`Error`].

use bollard::errors::Error as BollardError;
use caas_core::Error;

/// The service name used in errors.
pub(crate) const SERVICE: &str = "docker";

/// Maps a bollard error: 404 → `NotFound`, 409 → `Conflict`, connection failures and timeouts
/// → `Unavailable` (with advice), the rest → `Backend` keeping the source.
pub(crate) fn map_err(e: BollardError) -> Error {
    match e {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => match status_code {
            404 => Error::NotFound {
                kind: "docker object",
                id: message,
            },
            409 => Error::conflict(message),
            400 => Error::invalid("docker", message),
            500 | 502 | 503 if message.contains("connection refused") => {
                Error::unavailable(SERVICE, message)
            }
            _ => Error::backend(SERVICE, format!("engine answered {status_code}: {message}")),
        },
        BollardError::RequestTimeoutError => Error::unavailable(
            SERVICE,
            "the engine did not answer in time; is the daemon overloaded or hung?",
        ),
        BollardError::SocketNotFoundError(path) => Error::unavailable(
            SERVICE,
            format!("no Docker socket at {path}; is the daemon running?"),
        ),
        e @ (BollardError::HyperResponseError { .. }
        | BollardError::HyperLegacyError { .. }
        | BollardError::IOError { .. }
        | BollardError::HttpClientError { .. }) => {
            let message = advice(&e.to_string());
            Error::Unavailable {
                service: SERVICE,
                message,
                source: Some(Box::new(e)),
            }
        }
        e @ (BollardError::CertPathError { .. }
        | BollardError::CertMultipleKeys { .. }
        | BollardError::CertParseError { .. }
        | BollardError::NoNativeCertsError { .. }) => Error::invalid(
            "connection",
            format!("TLS certificates could not be loaded: {e}"),
        ),
        e => Error::Backend {
            service: SERVICE,
            message: e.to_string(),
            source: Some(Box::new(e)),
        },
    }
}

/// Turns a low-level connection error into advice an administrator can act on.
pub(crate) fn advice(raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    let hint = if lower.contains("permission denied") {
        "permission denied on the Docker socket: run as root or add the user to the 'docker' group"
    } else if lower.contains("connection refused") {
        "connection refused: no Docker daemon listens there; start it (systemctl start docker) or fix the address"
    } else if lower.contains("no such file") || lower.contains("not found") {
        "the Docker socket does not exist: is the daemon installed and running?"
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        "TLS failure: check the CA, client certificate and key, and that the engine's certificate names this host"
    } else if lower.contains("client version") && lower.contains("too new") {
        "the engine's API version is too old for this client; upgrade Docker"
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "the engine did not answer in time: check the network path and firewall"
    } else {
        "the Docker engine could not be reached"
    };
    format!("{hint} ({raw})")
}

/// Whether a bollard error is the given HTTP status.
pub(crate) fn is_status(e: &BollardError, code: u16) -> bool {
    matches!(e, BollardError::DockerResponseServerError { status_code, .. } if *status_code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_actionable_variants() {
        let nf = map_err(BollardError::DockerResponseServerError {
            status_code: 404,
            message: "No such container: x".into(),
        });
        assert!(nf.is_not_found());
        let c = map_err(BollardError::DockerResponseServerError {
            status_code: 409,
            message: "conflict".into(),
        });
        assert!(c.is_conflict());
        assert!(map_err(BollardError::RequestTimeoutError).is_retryable());
        assert!(advice("Permission denied (os error 13)").contains("docker' group"));
        assert!(advice("Connection refused (os error 111)").contains("no Docker daemon"));
    }
}
