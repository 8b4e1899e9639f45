//! Custom domains: `GET|POST …/services/{service}/domains`, `DELETE …/domains/{domain}`
//! (`?path=/x` for one path), `POST /v1/orgs/{org}/domains/{domain}/verify` and
//! `GET /v1/orgs/{org}/domains/{domain}/certificate`. The `*Doc` types only document the
//! answers (handlers serialize the core types).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use caas_core::model::Domain;
use caas_core::platform::{NewDomain, VerificationMethod};
use caas_core::ports::proxy::CertificateStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

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

/// A domain to add.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct NewDomainDoc {
    /// Host name (ASCII; punycode for internationalized names).
    hostname: String,
    /// Path prefix of `[A-Za-z0-9/_.~-]` (default `/`, the whole host).
    path_prefix: Option<String>,
    /// Strip the prefix before forwarding (default `false`).
    strip_prefix: Option<bool>,
    /// The container port (default: the service's first port).
    target_port: Option<u16>,
}

/// Verification state of a domain: `{"state": "pending" | "verified" | "failed", ...}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct VerificationDoc {
    /// `pending`, `verified` or `failed`.
    state: String,
    /// When it was verified (`verified`).
    at: Option<DateTime<Utc>>,
    /// Why it failed (`failed`).
    reason: Option<String>,
}

/// A custom domain of a service.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct DomainDoc {
    /// Id.
    id: Uuid,
    /// Organization.
    org: Uuid,
    /// Service.
    service: Uuid,
    /// Host name.
    hostname: String,
    /// Path prefix (`/` for the whole host).
    path_prefix: String,
    /// Whether the prefix is stripped.
    strip_prefix: bool,
    /// The container port.
    target_port: u16,
    /// Ownership verification; only verified domains are routed.
    verification: VerificationDoc,
    /// Serve it at `http://<hostname>/.well-known/caas-verification/<token>` for the `http` method.
    verification_token: String,
    /// When it was added.
    created_at: DateTime<Utc>,
}

/// How to prove ownership.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyRequest {
    /// `dns` (A/AAAA to the platform's addresses or CNAME to its target) or `http` (the token
    /// served on the domain).
    #[schema(value_type = String, example = "dns")]
    pub(crate) method: VerificationMethod,
}

/// Certificate state: `{"state": "issued" | "pending" | "failed" | "not_configured", ...}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct CertificateDoc {
    /// `issued`, `pending`, `failed` or `not_configured`.
    state: String,
    /// Issuer's common name (`issued`).
    issuer: Option<String>,
    /// Expiry (`issued`).
    not_after: Option<DateTime<Utc>>,
    /// Why issuance failed (`failed`).
    reason: Option<String>,
}

/// The domains of a service, oldest first.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/domains",
    tag = "services",
    params(ServicePath),
    responses(
        (status = 200, description = "Domains, oldest first", body = Vec<DomainDoc>),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
    )
)]
pub(crate) async fn list_domains(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
) -> Result<Json<Vec<Domain>>, ApiError> {
    Ok(Json(
        s.platform
            .list_domains(&who, &p.org, &p.project, &p.service)
            .await?,
    ))
}

/// Adds a domain to a service, pending until verified (nothing is routed before); the
/// service's container is not touched.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/projects/{project}/services/{service}/domains",
    tag = "services",
    params(ServicePath),
    request_body = NewDomainDoc,
    responses(
        (status = 201, description = "The domain, pending verification", body = DomainDoc),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), project or service", body = ErrorBody),
        (status = 409, description = "The host and path are already in use", body = ErrorBody),
        (status = 422, description = "Invalid domain; `details.field` names the field", body = ErrorBody),
    )
)]
pub(crate) async fn add_domain(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<ServicePath>,
    JsonBody(new): JsonBody<NewDomain>,
) -> Result<(StatusCode, Json<Domain>), ApiError> {
    let d = s
        .platform
        .add_domain(&who, &p.org, &p.project, &p.service, new)
        .await?;
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
        .remove_domain(
            &who,
            &p.org,
            &p.project,
            &p.service,
            &p.domain,
            q.path.as_deref(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Verifies the organization's domains on a host (or only `?path=`) and routes those
/// verified; a failure is recorded with its reason.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/domains/{domain}/verify",
    tag = "services",
    params(OrgDomainPath, PathQuery),
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The domains afterwards (`verification` says verified or failed, and why)", body = Vec<DomainDoc>),
        (status = 403, description = "Role too low (member or higher required)", body = ErrorBody),
        (status = 404, description = "No such organization or domain", body = ErrorBody),
        (status = 501, description = "DNS verification without public addresses or a CNAME target configured", body = ErrorBody),
    )
)]
pub(crate) async fn verify_domain(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgDomainPath>,
    QueryParams(q): QueryParams<PathQuery>,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> Result<Json<Vec<Domain>>, ApiError> {
    Ok(Json(
        s.platform
            .verify_domain(&who, &p.org, &p.domain, q.path.as_deref(), req.method)
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
        (status = 200, description = "Certificate state", body = CertificateDoc),
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
            .certificate_status(&who, &p.org, &p.domain)
            .await?,
    ))
}
