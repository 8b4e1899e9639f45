//! Custom domains: `GET|POST …/services/{service}/domains`, `DELETE …/domains/{domain}`
//! (`?path=/x` for one path), `POST /v1/orgs/{org}/domains/{domain}/verify`,
//! `GET /v1/orgs/{org}/domains/{domain}/certificate`, and the answer to HTTP challenges,
//! `GET /.well-known/caas-challenge/{token}`, which the proxy forwards to the platform.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use caas_core::ServiceRef;
use caas_core::platform::{DomainView, NewDomain, VerificationMethod};
use caas_core::ports::proxy::CertificateStatus;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::ServicePath;
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams, QueryParams};

/// `{org}/projects/{project}/services/{service}/domains/{domain}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ServiceDomainPath {
    /// The organization's slug.
    pub(crate) org: String,
    /// The project's name.
    pub(crate) project: String,
    /// The service's name.
    pub(crate) service: String,
    /// The hostname.
    pub(crate) domain: String,
}

/// `{org}/domains/{domain}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct OrgDomainPath {
    /// The organization's slug.
    pub(crate) org: String,
    /// The hostname.
    pub(crate) domain: String,
}

/// `?path=/x`: only the domain with this path prefix (default: every path on the host).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PathQuery {
    /// The path prefix.
    #[serde(default)]
    pub(crate) path: Option<String>,
}

/// How to prove ownership.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyRequest {
    /// `dns` (the TXT record `_caas-challenge.<hostname>` holds the token) or `http` (the
    /// platform answers the token at `http://<hostname>/.well-known/caas-challenge/<token>`
    /// through its proxy; not for wildcards, nor for names of a site another organization
    /// holds or held).
    #[schema(example = "dns")]
    pub(crate) method: VerificationMethod,
}

/// The domains of a service, oldest first.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/domains",
    tag = "services",
    params(ServicePath),
    responses(
        (status = 200, description = "Domains, oldest first", body = Vec<DomainView>),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
    )
)]
pub(crate) async fn list_domains(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
) -> Result<Json<Vec<DomainView>>, ApiError> {
    Ok(Json(s.platform.domains().list(&who, &p.to_ref()).await?))
}

/// Adds a domain to a service, pending until verified (nothing is routed before); the
/// service's container is not touched.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/domains",
    tag = "services",
    params(ServicePath),
    request_body = NewDomain,
    responses(
        (status = 201, description = "The domain, pending verification", body = DomainView),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
        (status = 409, description = "Another organization owns the hostname (or a wildcard over it), the hostname is reserved by the platform, or this hostname and path are already the service's organization's (`ALREADY_EXISTS`)", body = ErrorBody),
        (status = 409, description = "The plan's `max_domains` is reached (`QUOTA_EXCEEDED`)", body = ErrorBody),
        (status = 422, description = "Invalid domain; `details.field` names the field", body = ErrorBody),
    )
)]
pub(crate) async fn add_domain(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
    JsonBody(new): JsonBody<NewDomain>,
) -> Result<(StatusCode, Json<DomainView>), ApiError> {
    let d = s.platform.domains().add(&who, &p.to_ref(), new).await?;
    Ok((StatusCode::CREATED, Json(d)))
}

/// Removes a service's domain (every path on the host, or only `?path=`) and stops routing it.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/domains/{domain}",
    tag = "services",
    params(ServiceDomainPath, PathQuery),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization, project, service or domain", body = ErrorBody),
    )
)]
pub(crate) async fn remove_domain(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServiceDomainPath>,
    QueryParams(q): QueryParams<PathQuery>,
) -> Result<StatusCode, ApiError> {
    s.platform
        .domains()
        .remove(
            &who,
            &ServiceRef::new(&p.org, &p.project, &p.service),
            &p.domain,
            q.path.as_deref(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Verifies the organization's claim on a hostname (`?path=` only narrows which of its
/// domains must be yours) and routes its domains there once verified; a failure is recorded
/// with its reason.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/domains/{domain}/verify",
    tag = "services",
    params(OrgDomainPath, PathQuery),
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The domains afterwards (`verification` says verified or failed, and why)", body = Vec<DomainView>),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization or domain", body = ErrorBody),
        (status = 409, description = "Another organization owns the hostname", body = ErrorBody),
        (status = 422, description = "`http` for a wildcard", body = ErrorBody),
        (status = 501, description = "`http` on a platform that answers no HTTP challenges", body = ErrorBody),
    )
)]
pub(crate) async fn verify_domain(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgDomainPath>,
    QueryParams(q): QueryParams<PathQuery>,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> Result<Json<Vec<DomainView>>, ApiError> {
    Ok(Json(
        s.platform
            .domains()
            .verify(&who, &p.org, &p.domain, q.path.as_deref(), req.method)
            .await?,
    ))
}

/// The certificate state of a domain.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/domains/{domain}/certificate",
    tag = "services",
    params(OrgDomainPath),
    responses(
        (status = 200, description = "Certificate state", body = CertificateStatus),
        (status = 404, description = "No such organization or domain", body = ErrorBody),
    )
)]
pub(crate) async fn certificate(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgDomainPath>,
) -> Result<Json<CertificateStatus>, ApiError> {
    Ok(Json(
        s.platform
            .domains()
            .certificate_status(&who, &p.org, &p.domain)
            .await?,
    ))
}

/// `{token}` of an HTTP challenge.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ChallengePath {
    /// The claim's token.
    pub(crate) token: String,
}

/// The answer to an HTTP challenge: the token as plain text, when it is the token of an
/// unproven claim on the request's `Host`. The proxy forwards
/// `http://<hostname>/.well-known/caas-challenge/<token>` of every pending claim here; no
/// credentials.
#[utoipa::path(
    get,
    path = "/.well-known/caas-challenge/{token}",
    tag = "services",
    params(ChallengePath),
    responses(
        (status = 200, description = "The token", body = String, content_type = "text/plain"),
        (status = 404, description = "No unproven claim on this host has this token", body = ErrorBody),
    )
)]
pub(crate) async fn challenge(
    State(s): State<AppState>,
    headers: HeaderMap,
    PathParams(p): PathParams<ChallengePath>,
) -> Result<Response, ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    match s
        .platform
        .domains()
        .challenge_answer(host, &p.token)
        .await?
    {
        Some(token) => {
            Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], token).into_response())
        }
        None => Err(caas_core::Error::not_found("challenge", "(token)").into()),
    }
}
