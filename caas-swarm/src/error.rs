//! Mapping bollard's errors to caas-core's [`Error`].

use bollard::errors::Error as BollardError;
use caas_core::Error;

/// The service name used in errors.
pub(crate) const SERVICE: &str = "swarm";

/// Whether a bollard error carries this HTTP status.
pub(crate) fn is_status(e: &BollardError, code: u16) -> bool {
    matches!(e, BollardError::DockerResponseServerError { status_code, .. } if *status_code == code)
}

/// The engine's message of a bollard error, when it answered.
pub(crate) fn message_of(e: &BollardError) -> Option<&str> {
    match e {
        BollardError::DockerResponseServerError { message, .. } => Some(message),
        _ => None,
    }
}

/// 404 → `NotFound`, 409 → `Conflict`, 400 → `InvalidInput`, 503 (not a manager) and
/// connection failures → `Unavailable`, the rest → `Backend` keeping the source.
pub(crate) fn map_err(e: BollardError) -> Error {
    match e {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => match status_code {
            404 => Error::NotFound {
                kind: "swarm object",
                id: message,
            },
            409 => Error::conflict(message),
            400 => Error::invalid("swarm", message),
            503 => Error::unavailable(
                SERVICE,
                format!(
                    "{message} (is this engine a swarm manager? run `docker swarm init`, or point \
                     SwarmRuntime at a manager)"
                ),
            ),
            _ => Error::backend(SERVICE, format!("engine answered {status_code}: {message}")),
        },
        BollardError::RequestTimeoutError => Error::unavailable(
            SERVICE,
            "the swarm manager did not answer in time; is the daemon overloaded or hung?",
        ),
        BollardError::SocketNotFoundError(path) => Error::unavailable(
            SERVICE,
            format!("no Docker socket at {path}; is the manager's daemon running?"),
        ),
        e @ (BollardError::HyperResponseError { .. }
        | BollardError::HyperLegacyError { .. }
        | BollardError::IOError { .. }
        | BollardError::HttpClientError { .. }) => Error::Unavailable {
            service: SERVICE,
            message: format!("the swarm manager could not be reached: {e}"),
            source: Some(Box::new(e)),
        },
        e => Error::Backend {
            service: SERVICE,
            message: e.to_string(),
            source: Some(Box::new(e)),
        },
    }
}
