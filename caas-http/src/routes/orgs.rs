//! `/v1/orgs/...`: organizations, their subscription and their usage.
//!
//! A caller who is not a member of an organization gets 404 for it, exactly as if it did not
//! exist; members whose role is too low get 403.

use axum::Json;
use axum::extract::State;
use caas_core::UserId;
use caas_core::model::{
    NewOrganization, OrgStatus, Organization, Subscription, SubscriptionStatus,
};
use caas_core::platform::{OrgUpdate, UsageSummary};
use caas_core::ports::store::OrgFilter;
use http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{DeleteQuery, OrgPath};
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams, QueryParams};

/// Filters of the organization list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrgsQuery {
    /// Case-insensitive substring of the slug or display name.
    #[serde(default)]
    search: Option<String>,
    /// Only this status.
    #[serde(default)]
    status: Option<OrgStatus>,
    /// Page size, 1-500 (default 100).
    #[serde(default)]
    limit: Option<u32>,
    /// Rows to skip (default 0).
    #[serde(default)]
    offset: Option<u32>,
}

/// A new organization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateOrg {
    /// Slug: 2-40 characters, lowercase letters, digits and `-`; used in URLs.
    slug: String,
    /// Name shown in lists; the slug when empty.
    #[serde(default)]
    display_name: String,
    /// The owner's user id (platform administrators only; default: the caller).
    #[serde(default)]
    #[schema(value_type = Option<uuid::Uuid>)]
    owner: Option<UserId>,
}

/// Changes to an organization; absent fields are left as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrgPatch {
    /// Name shown in lists (owners and platform administrators); the slug when empty.
    #[serde(default)]
    display_name: Option<String>,
    /// New slug (platform administrators only).
    #[serde(default)]
    slug: Option<String>,
    /// New status (platform administrators only).
    #[serde(default)]
    status: Option<OrgStatus>,
}

/// An organization's plan and subscription status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutSubscription {
    /// The plan's name.
    plan: String,
    /// Status (default `active`).
    #[serde(default = "active")]
    status: SubscriptionStatus,
}

fn active() -> SubscriptionStatus {
    SubscriptionStatus::Active
}

/// The organizations the caller can see: all for platform administrators, their own otherwise.
#[utoipa::path(
    get,
    path = "/v1/orgs",
    tag = "organizations",
    params(OrgsQuery),
    responses(
        (status = 200, description = "Organizations, ordered by slug", body = Vec<Organization>),
        (status = 422, description = "Invalid filter; `details.field` names it", body = ErrorBody),
    )
)]
pub(crate) async fn list_orgs(
    State(s): State<AppState>,
    Caller(who): Caller,
    QueryParams(q): QueryParams<OrgsQuery>,
) -> Result<Json<Vec<Organization>>, ApiError> {
    let mut filter = OrgFilter::default();
    if let Some(limit) = q.limit {
        if !(1..=500).contains(&limit) {
            return Err(caas_core::Error::invalid("limit", "must be between 1 and 500").into());
        }
        filter.limit = limit;
    }
    filter.offset = q.offset.unwrap_or(0);
    filter.search = q.search;
    filter.status = q.status;
    Ok(Json(s.platform.orgs().list(&who, &filter).await?))
}

/// Creates an organization; the caller becomes its owner (platform administrators may name
/// another user as `owner`).
#[utoipa::path(
    post,
    path = "/v1/orgs",
    tag = "organizations",
    request_body = CreateOrg,
    responses(
        (status = 201, description = "Created", body = Organization),
        (status = 403, description = "Only platform administrators may name another owner", body = ErrorBody),
        (status = 404, description = "No such owner", body = ErrorBody),
        (status = 409, description = "The slug is taken", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names the field", body = ErrorBody),
    )
)]
pub(crate) async fn create_org(
    State(s): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<CreateOrg>,
) -> Result<(StatusCode, Json<Organization>), ApiError> {
    let mut new = NewOrganization::new(body.slug);
    new.display_name = body.display_name;
    let org = s.platform.orgs().create(&who, new, body.owner).await?;
    Ok((StatusCode::CREATED, Json(org)))
}

/// An organization by slug.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}",
    tag = "organizations",
    params(OrgPath),
    responses(
        (status = 200, description = "The organization", body = Organization),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
    )
)]
pub(crate) async fn get_org(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
) -> Result<Json<Organization>, ApiError> {
    Ok(Json(s.platform.orgs().get(&who, &p.org).await?))
}

/// Changes an organization's display name (owners), slug or status (platform administrators).
#[utoipa::path(
    patch,
    path = "/v1/orgs/{org}",
    tag = "organizations",
    params(OrgPath),
    request_body = OrgPatch,
    responses(
        (status = 200, description = "The organization after the change", body = Organization),
        (status = 403, description = "Role too low, or slug/status changed by a non-administrator", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
        (status = 409, description = "The new slug is taken", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names the field", body = ErrorBody),
    )
)]
pub(crate) async fn update_org(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
    JsonBody(body): JsonBody<OrgPatch>,
) -> Result<Json<Organization>, ApiError> {
    let mut update = OrgUpdate::default();
    update.display_name = body.display_name;
    update.slug = body.slug;
    update.status = body.status;
    Ok(Json(s.platform.orgs().update(&who, &p.org, update).await?))
}

/// Deletes an organization with all its projects, services, containers and networks (and
/// volumes with `?volumes=true`). Owners and platform administrators only.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}",
    tag = "organizations",
    params(OrgPath, DeleteQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Only owners and platform administrators delete organizations", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
    )
)]
pub(crate) async fn delete_org(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
    QueryParams(q): QueryParams<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    s.platform.orgs().delete(&who, &p.org, q.options()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The organization's subscription.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/subscription",
    tag = "organizations",
    params(OrgPath),
    responses(
        (status = 200, description = "The subscription", body = Subscription),
        (status = 404, description = "No such organization (or not a member), or not subscribed", body = ErrorBody),
    )
)]
pub(crate) async fn get_subscription(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
) -> Result<Json<Subscription>, ApiError> {
    Ok(Json(s.platform.orgs().subscription(&who, &p.org).await?))
}

/// Subscribes the organization to a plan, or changes its plan or status (platform
/// administrators only). The billing period runs a month from now.
#[utoipa::path(
    put,
    path = "/v1/orgs/{org}/subscription",
    tag = "organizations",
    params(OrgPath),
    request_body = PutSubscription,
    responses(
        (status = 200, description = "The subscription", body = Subscription),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 404, description = "No such organization or plan", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names the field", body = ErrorBody),
    )
)]
pub(crate) async fn put_subscription(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
    JsonBody(body): JsonBody<PutSubscription>,
) -> Result<Json<Subscription>, ApiError> {
    Ok(Json(
        s.platform
            .orgs()
            .set_subscription(&who, &p.org, &body.plan, body.status)
            .await?,
    ))
}

/// What the organization uses against its plan, per dimension, with warnings at 80 %.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/usage",
    tag = "organizations",
    params(OrgPath),
    responses(
        (status = 200, description = "Usage against the plan", body = UsageSummary),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
    )
)]
pub(crate) async fn usage(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
) -> Result<Json<UsageSummary>, ApiError> {
    Ok(Json(s.platform.orgs().usage_summary(&who, &p.org).await?))
}
