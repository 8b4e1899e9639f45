//! JSON errors mapped from [`caas_core::Error`].

use axum::Json;
use axum::response::{IntoResponse, Response};
use caas_core::Error;
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code (`NOT_FOUND`, `QUOTA_EXCEEDED`, `INVALID_INPUT`, ...).
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Structured details: the field for invalid input, the dimensions for quota refusals.
    pub details: serde_json::Value,
    /// Whether retrying later may succeed.
    pub retryable: bool,
}

/// An error response.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// No or invalid credentials (401).
    Unauthenticated,
    /// A platform error.
    Platform(Error),
    /// A request the facade refuses before any platform call: wrong content type (415), body
    /// too large (413), unknown route (404), method not allowed (405).
    Request {
        /// The status.
        status: StatusCode,
        /// The code (`UNSUPPORTED_MEDIA_TYPE`, `PAYLOAD_TOO_LARGE`, ...).
        code: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self::Platform(e)
    }
}

impl ApiError {
    /// The status and body of this error.
    pub fn parts(&self) -> (StatusCode, ErrorBody) {
        match self {
            Self::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                ErrorBody {
                    code: "UNAUTHENTICATED".into(),
                    message: "missing or invalid credentials".into(),
                    details: serde_json::Value::Null,
                    retryable: false,
                },
            ),
            Self::Request {
                status,
                code,
                message,
            } => (
                *status,
                ErrorBody {
                    code: (*code).to_string(),
                    message: message.clone(),
                    details: serde_json::Value::Null,
                    retryable: false,
                },
            ),
            Self::Platform(e) => {
                let status = match e {
                    Error::NotFound { .. } => StatusCode::NOT_FOUND,
                    Error::AlreadyExists { .. }
                    | Error::Conflict { .. }
                    | Error::QuotaExceeded(_) => StatusCode::CONFLICT,
                    Error::InvalidInput { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                    Error::PermissionDenied { .. } => StatusCode::FORBIDDEN,
                    Error::Unsupported { .. } => StatusCode::NOT_IMPLEMENTED,
                    Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                    Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                let details = match e {
                    Error::InvalidInput { field, .. } => serde_json::json!({ "field": field }),
                    Error::QuotaExceeded(q) => serde_json::to_value(q).unwrap_or_default(),
                    Error::NotFound { kind, id } | Error::AlreadyExists { kind, id } => {
                        serde_json::json!({ "kind": kind, "id": id })
                    }
                    Error::RateLimited {
                        retry_after_secs, ..
                    } => serde_json::json!({ "retry_after_secs": retry_after_secs }),
                    _ => serde_json::Value::Null,
                };
                if status.is_server_error() {
                    tracing::error!(error = %e, "request failed");
                }
                (
                    status,
                    ErrorBody {
                        code: e.code().to_string(),
                        message: e.to_string(),
                        details,
                        retryable: e.is_retryable(),
                    },
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.parts();
        let retry_after = match &self {
            Self::Platform(e) => e.retry_after(),
            _ => None,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(after) = retry_after
            && let Ok(value) = http::HeaderValue::from_str(&after.as_secs().to_string())
        {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, value);
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_contract() {
        let cases = [
            (Error::not_found("service", "web"), 404, "NOT_FOUND"),
            (
                Error::already_exists("service", "web"),
                409,
                "ALREADY_EXISTS",
            ),
            (Error::invalid("spec.image", "bad"), 422, "INVALID_INPUT"),
            (
                Error::denied("service.deploy", "viewer"),
                403,
                "PERMISSION_DENIED",
            ),
            (Error::unavailable("docker", "down"), 503, "UNAVAILABLE"),
        ];
        for (e, status, code) in cases {
            let (s, b) = ApiError::from(e).parts();
            assert_eq!(s.as_u16(), status);
            assert_eq!(b.code, code);
        }
        let (_, b) = ApiError::from(Error::invalid("spec.image", "bad")).parts();
        assert_eq!(b.details["field"], "spec.image");
        assert_eq!(
            ApiError::Unauthenticated.parts().0,
            StatusCode::UNAUTHORIZED
        );
    }
}
