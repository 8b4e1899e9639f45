//! The one error type of caas-rs.
//!
//! Every port and every [`Platform`](crate::Platform) operation returns [`Error`]. Backends map
//! their own errors into it privately (a Docker 404 becomes [`Error::NotFound`], a unique
//! violation becomes [`Error::AlreadyExists`], a refused connection becomes
//! [`Error::Unavailable`]), so callers can act on the variant without knowing the backend.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed error source kept for diagnostics.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist (or the principal may not know that it exists).
    #[error("{kind} '{id}' not found")]
    NotFound {
        /// What kind of object, e.g. `organization`.
        kind: &'static str,
        /// The id or name that was looked up.
        id: String,
    },
    /// An object with the same identity already exists.
    #[error("{kind} '{id}' already exists")]
    AlreadyExists {
        /// What kind of object.
        kind: &'static str,
        /// The conflicting id or name.
        id: String,
    },
    /// The operation conflicts with the current state (e.g. a suspended subscription).
    #[error("conflict: {message}")]
    Conflict {
        /// What conflicts and how to resolve it.
        message: String,
    },
    /// The organization's plan does not allow the requested resources.
    #[error("{0}")]
    QuotaExceeded(Box<QuotaExceeded>),
    /// A user-supplied value is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field, as the caller named it (dotted path, e.g. `spec.env.FOO`).
        field: String,
        /// Why it is invalid and what would be accepted.
        reason: String,
    },
    /// The principal may not perform the action.
    #[error("permission denied: {action}: {reason}")]
    PermissionDenied {
        /// The action that was refused.
        action: String,
        /// Why.
        reason: String,
    },
    /// The backend cannot do this at all.
    #[error("unsupported: {feature}")]
    Unsupported {
        /// What is not supported, and by which backend.
        feature: String,
    },
    /// A backend service is unreachable or overloaded; retrying later may succeed.
    #[error("{service} unavailable: {message}")]
    Unavailable {
        /// Which service (`docker`, `postgres`, `traefik`, ...).
        service: &'static str,
        /// What happened and, where known, what to do about it.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The caller asks too much too fast (requests, concurrent streams): refused until
    /// `retry_after_secs` have passed. Retryable.
    #[error("too many requests: {message}")]
    RateLimited {
        /// What limit was reached, and what to do.
        message: String,
        /// Seconds after which the same request may succeed (at least 1).
        retry_after_secs: u64,
    },
    /// Any other backend failure; the source is kept.
    #[error("{service} error: {message}")]
    Backend {
        /// Which service failed.
        service: &'static str,
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
}

/// The details of a quota refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaExceeded {
    /// The organization slug.
    pub org: String,
    /// The name of the plan whose limits apply.
    pub plan: String,
    /// Each dimension that would be exceeded.
    pub dimensions: Vec<DimensionExceeded>,
}

/// One dimension of a quota refusal, in the internal units (see [`crate::units`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DimensionExceeded {
    /// `cpu_millis`, `memory_bytes`, `storage_bytes`, `containers`, `projects`, `domains`,
    /// `pids` (per container) or `backup_storage_bytes`.
    pub dimension: String,
    /// Already used or reserved.
    pub used: u64,
    /// Requested by this operation.
    pub requested: u64,
    /// The plan's limit.
    pub limit: u64,
}

impl fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "quota exceeded for organization '{}' on plan '{}': ",
            self.org, self.plan
        )?;
        for (i, d) in self.dimensions.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "{} used {} + requested {} > limit {}",
                d.dimension, d.used, d.requested, d.limit
            )?;
        }
        Ok(())
    }
}

impl Error {
    /// A [`Error::NotFound`].
    pub fn not_found(kind: &'static str, id: impl fmt::Display) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    /// An [`Error::AlreadyExists`].
    pub fn already_exists(kind: &'static str, id: impl fmt::Display) -> Self {
        Self::AlreadyExists {
            kind,
            id: id.to_string(),
        }
    }

    /// An [`Error::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
        }
    }

    /// An [`Error::InvalidInput`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::PermissionDenied`].
    pub fn denied(action: impl fmt::Display, reason: impl Into<String>) -> Self {
        Self::PermissionDenied {
            action: action.to_string(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Unsupported`].
    pub fn unsupported(feature: impl Into<String>) -> Self {
        Self::Unsupported {
            feature: feature.into(),
        }
    }

    /// An [`Error::Unavailable`] without a source.
    pub fn unavailable(service: &'static str, message: impl Into<String>) -> Self {
        Self::Unavailable {
            service,
            message: message.into(),
            source: None,
        }
    }

    /// An [`Error::Backend`] without a source.
    pub fn backend(service: &'static str, message: impl Into<String>) -> Self {
        Self::Backend {
            service,
            message: message.into(),
            source: None,
        }
    }

    /// An [`Error::Backend`] keeping its source.
    pub fn backend_source(
        service: &'static str,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self::Backend {
            service,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Whether this is [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
    /// Whether this is [`Error::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Self::AlreadyExists { .. })
    }
    /// Whether this is [`Error::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
    /// Whether this is [`Error::QuotaExceeded`].
    pub fn is_quota_exceeded(&self) -> bool {
        matches!(self, Self::QuotaExceeded(_))
    }
    /// Whether this is [`Error::InvalidInput`].
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Self::InvalidInput { .. })
    }
    /// Whether this is [`Error::PermissionDenied`].
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, Self::PermissionDenied { .. })
    }
    /// Whether this is [`Error::Unsupported`].
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Self::Unsupported { .. })
    }
    /// Whether this is [`Error::Unavailable`].
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
    /// Whether this is [`Error::Backend`].
    pub fn is_backend(&self) -> bool {
        matches!(self, Self::Backend { .. })
    }
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.is_unavailable() || self.is_rate_limited()
    }

    /// An [`Error::RateLimited`], retryable after `retry_after` (rounded up to whole seconds,
    /// at least one).
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self::RateLimited {
            message: message.into(),
            retry_after_secs: secs.max(1),
        }
    }

    /// Whether this is [`Error::RateLimited`].
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::RateLimited { .. })
    }

    /// When to retry, for [`Error::RateLimited`].
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::RateLimited {
                retry_after_secs, ..
            } => Some(std::time::Duration::from_secs(*retry_after_secs)),
            _ => None,
        }
    }

    /// The invalid field's name, for [`Error::InvalidInput`].
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidInput { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The quota details, for [`Error::QuotaExceeded`].
    pub fn quota(&self) -> Option<&QuotaExceeded> {
        match self {
            Self::QuotaExceeded(q) => Some(q),
            _ => None,
        }
    }

    /// A stable machine-readable code (`NOT_FOUND`, `QUOTA_EXCEEDED`, ...), as the HTTP facade
    /// returns it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "NOT_FOUND",
            Self::AlreadyExists { .. } => "ALREADY_EXISTS",
            Self::Conflict { .. } => "CONFLICT",
            Self::QuotaExceeded(_) => "QUOTA_EXCEEDED",
            Self::InvalidInput { .. } => "INVALID_INPUT",
            Self::PermissionDenied { .. } => "PERMISSION_DENIED",
            Self::Unsupported { .. } => "UNSUPPORTED",
            Self::Unavailable { .. } => "UNAVAILABLE",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Backend { .. } => "BACKEND",
        }
    }

    /// Prefixes the field of an [`Error::InvalidInput`] with `prefix.` (leaves others untouched),
    /// so nested validation reports the full path.
    pub fn in_field(self, prefix: &str) -> Self {
        match self {
            Self::InvalidInput { field, reason } => Self::InvalidInput {
                field: format!("{prefix}.{field}"),
                reason,
            },
            other => other,
        }
    }
}

impl From<QuotaExceeded> for Error {
    fn from(q: QuotaExceeded) -> Self {
        Self::QuotaExceeded(Box::new(q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_message_names_plan_dimension_and_numbers() {
        let e = Error::from(QuotaExceeded {
            org: "acme".into(),
            plan: "starter".into(),
            dimensions: vec![DimensionExceeded {
                dimension: "memory_bytes".into(),
                used: 10,
                requested: 5,
                limit: 12,
            }],
        });
        let s = e.to_string();
        assert!(s.contains("acme") && s.contains("starter") && s.contains("memory_bytes"));
        assert!(s.contains("used 10 + requested 5 > limit 12"), "{s}");
        assert_eq!(e.code(), "QUOTA_EXCEEDED");
        assert!(!e.is_retryable());
    }

    #[test]
    fn nested_field_paths_are_prefixed() {
        let e = Error::invalid("image", "empty").in_field("spec");
        assert_eq!(e.field(), Some("spec.image"));
    }
}
