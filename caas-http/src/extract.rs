//! Extractors that refuse bad input the way the platform does: 422 `INVALID_INPUT` naming the
//! field (`spec.env[0].key`, `tail`), 401 before anything else is looked at.
//!
//! JSON bodies are read through axum's [`Json`] (content type, size limit, syntax), then turned
//! into the request type with `serde_path_to_error` (the path of a bad value) and
//! `serde_ignored` (the path of an unknown field, also inside core types such as `ServiceSpec`
//! that accept unknown fields when deserialized on their own) — a typo is refused, never
//! silently dropped.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use caas_core::{Error, Principal};
use http::StatusCode;
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// The principal of an authenticated request; 401 when the [`crate::Authenticator`] finds no
/// valid credential, 429 when the principal makes requests faster than its
/// [`crate::HttpLimits`].
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match state.auth.authenticate(parts, &state.platform).await? {
            Some(principal) => {
                state.limiter.admit(principal.user)?;
                Ok(Self(principal))
            }
            None => Err(ApiError::Unauthenticated),
        }
    }
}

/// A JSON body of type `T`.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = <Json<serde_json::Value> as FromRequest<S>>::from_request(req, state)
            .await
            .map_err(json_rejection)?;
        Ok(Self(from_value(value)?))
    }
}

/// An optional JSON body: absent when the request body is empty (whatever its headers say,
/// so `curl -H 'Content-Type: application/json' -X POST` without data means "no body").
impl<T: DeserializeOwned, S: Send + Sync> OptionalFromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        let json_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| {
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            });
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| json_rejection(e.into()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        if !json_type {
            return Err(unsupported_media_type());
        }
        let Json(value) = Json::<serde_json::Value>::from_bytes(&bytes).map_err(json_rejection)?;
        Ok(Some(Self(from_value(value)?)))
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => unsupported_media_type(),
        JsonRejection::JsonSyntaxError(e) => {
            Error::invalid("body", format!("not valid JSON: {}", source_message(&e))).into()
        }
        JsonRejection::JsonDataError(e) => Error::invalid("body", source_message(&e)).into(),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::Request {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "PAYLOAD_TOO_LARGE",
                message: format!(
                    "the request body is larger than {} bytes",
                    crate::MAX_BODY_BYTES
                ),
            }
        }
        other => ApiError::Request {
            status: other.status(),
            code: "BAD_REQUEST",
            message: other.body_text(),
        },
    }
}

fn unsupported_media_type() -> ApiError {
    ApiError::Request {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: "UNSUPPORTED_MEDIA_TYPE",
        message: "expected a request with `Content-Type: application/json`".into(),
    }
}

/// The innermost message of an error chain: serde's own words, without axum's prefix.
fn source_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// Deserializes a request body (always a JSON object), naming the field of the first bad or
/// unknown value.
pub(crate) fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(Error::invalid("body", "expected a JSON object").into());
    }
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| unknown.push(ignored_path(&path));
    let parsed: Result<T, _> =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(value, &mut record));
    match parsed {
        // A misspelt field shows up as a missing one too; the unknown name is the better hint.
        Err(e) if !unknown.is_empty() && e.inner().to_string().starts_with("missing field") => {
            Err(Error::invalid(unknown.remove(0), format!("unknown field ({})", e.inner())).into())
        }
        Err(e) => Err(invalid(&e.path().to_string(), &e.inner().to_string())),
        Ok(_) if !unknown.is_empty() => {
            Err(Error::invalid(unknown.remove(0), "unknown field").into())
        }
        Ok(v) => Ok(v),
    }
}

/// Query parameters of type `T` (use `#[serde(deny_unknown_fields)]`).
#[derive(Debug)]
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Self)
            .map_err(|e| invalid(&e.path().to_string(), &e.inner().to_string()))
    }
}

/// Path parameters of type `T`.
#[derive(Debug)]
pub(crate) struct PathParams<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| Error::invalid("path", e.body_text()).into())
    }
}

/// An `InvalidInput` for a serde error at `path`; an unknown field is named with its full path.
fn invalid(path: &str, message: &str) -> ApiError {
    let path = clean_path(path);
    let field = match unknown_field(message) {
        Some(name) if path.is_empty() => name.to_string(),
        Some(name) if !path.ends_with(name) => format!("{path}.{name}"),
        _ if path.is_empty() => "body".to_string(),
        _ => path,
    };
    Error::invalid(field, message.to_string()).into()
}

/// The name in serde's "unknown field `x`, expected ..." and "missing field `x`" messages,
/// which report the path of the object rather than of the field.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split_once('`').map(|(name, _)| name)
}

/// `serde_path_to_error` writes `.` for the root and `?` for untracked segments.
fn clean_path(path: &str) -> String {
    path.split('.')
        .filter(|s| !s.is_empty() && *s != "?")
        .collect::<Vec<_>>()
        .join(".")
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => {
            let parent = ignored_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caas_core::model::ServiceSpec;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        spec: Option<ServiceSpec>,
    }

    fn field(json: serde_json::Value) -> String {
        let err = from_value::<Body>(json).unwrap_err();
        let (status, body) = err.parts();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body:?}");
        body.details["field"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn errors_name_the_field_at_any_depth() {
        assert_eq!(field(serde_json::json!({"nmae": "web"})), "nmae");
        assert_eq!(field(serde_json::json!({"name": 5})), "name");
        assert_eq!(field(serde_json::json!({})), "name");
        assert_eq!(field(serde_json::json!([1])), "body");
        assert_eq!(
            field(serde_json::json!({"name": "web", "spec": {"image": "Bad Image"}})),
            "spec.image"
        );
        assert_eq!(
            field(serde_json::json!({"name": "web", "spec": {"image": "x", "comand": []}})),
            "spec.comand"
        );
        assert_eq!(
            field(
                serde_json::json!({"name": "web", "spec": {"image": "x", "env": [{"key": "A", "value": "b", "secrte": true}]}})
            ),
            "spec.env[0].secrte"
        );
        assert_eq!(
            field(
                serde_json::json!({"name": "web", "spec": {"image": "x", "ports": [{"container_port": "http"}]}})
            ),
            "spec.ports[0].container_port"
        );
    }
}
