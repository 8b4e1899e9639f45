//! Organization administration: `GET /v1/admin/orgs` (the overview, filtered and paged),
//! `POST /v1/admin/orgs/{org}/suspend` and `/reactivate`, `POST /v1/admin/orgs/bulk` and
//! `GET /v1/admin/audit`.
//!
//! - Platform administrators only, but for the audit log, which an organization's owners
//!   read for their organization (`?org=<theirs>`). Other callers get 403 whichever
//!   organization they name — which reveals nothing about it; a caller who names in the
//!   audit filter an organization they are not a member of gets 404, as everywhere.
//! - The overview answers a page (`limit` 1-500, default 50; `offset`) with `total`, the
//!   count of every organization matching the filters, and `more`.
//! - Suspending stops the organization's running services and refuses its deploys, starts,
//!   volume and backup changes and new projects with 409 `CONFLICT` until it is reactivated,
//!   which starts again exactly what the suspension stopped; reading and deleting stay open.
//!   Both are idempotent: `changed` says whether anything happened.
//! - A bulk call answers 200 with one result per organization, in the order given: a failing
//!   item (`ok: false`, its error's `code` and message) does not stop the others, and
//!   repeating a call is harmless. Only a malformed call (no organizations, more than 500,
//!   one twice) is an error of its own (422 naming `orgs`).
//! - The audit log answers newest first; page back with `before` and `before_id` set to the
//!   `at` and `id` of the previous page's last (oldest) entry, which neither skips nor repeats
//!   entries sharing a timestamp. Bad filters are 422 naming the query parameter.

use axum::Json;
use axum::extract::State;
use caas_core::model::{AuditEntry, OrgStatus, SubscriptionStatus};
use caas_core::platform::{AdminOrgFilter, BulkAction, BulkItem, BulkRequest, OrgPage};
use caas_core::ports::store::AuditFilter;
use caas_core::{Error, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::OrgPath;
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams, QueryParams};

/// Filters and page of the overview.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminOrgsQuery {
    /// Case-insensitive substring of the slug or display name (at most 100 characters).
    #[serde(default)]
    search: Option<String>,
    /// Only subscribers of this plan (name).
    #[serde(default)]
    plan: Option<String>,
    /// Only organizations with this status.
    #[serde(default)]
    status: Option<OrgStatus>,
    /// Only subscriptions with this status.
    #[serde(default)]
    subscription: Option<SubscriptionStatus>,
    /// Page size, 1-500 (default 50).
    #[serde(default)]
    limit: Option<u32>,
    /// Organizations to skip (default 0).
    #[serde(default)]
    offset: Option<u32>,
}

/// Filters of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Only this organization's entries (slug). Required for owners, who read their own
    /// organization's log only.
    #[serde(default)]
    org: Option<String>,
    /// Only actions starting with this (`member.`, `org.suspend`): lowercase letters, digits,
    /// `.` and `_`, at most 64 characters.
    #[serde(default)]
    action: Option<String>,
    /// Only entries of this actor (user id).
    #[serde(default)]
    actor: Option<Uuid>,
    /// Only entries at or after this time (RFC 3339; encode `+` as `%2B`).
    #[serde(default)]
    since: Option<DateTime<Utc>>,
    /// Only entries before this time (RFC 3339): the `at` of the previous page's last entry.
    #[serde(default)]
    before: Option<DateTime<Utc>>,
    /// With `before`: the `id` of the previous page's last entry, so entries at exactly
    /// `before` that were not on that page are listed too.
    #[serde(default)]
    before_id: Option<Uuid>,
    /// Most entries, 1-1000 (default 100).
    #[serde(default)]
    limit: Option<u32>,
}

/// A bulk call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BulkOrgs {
    /// What to do to each organization.
    action: BulkAction,
    /// To which organizations (slugs; 1-500, each once).
    orgs: Vec<String>,
}

/// The answer to a bulk call: one result per organization, in the order given.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BulkOutcome {
    /// The results.
    items: Vec<BulkItem>,
    /// How many succeeded (changed or not).
    succeeded: usize,
    /// How many failed.
    failed: usize,
}

/// What a suspension or reactivation did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrgStatusChange {
    /// The organization's slug.
    org: String,
    /// Its status now.
    status: OrgStatus,
    /// False when it already had that status.
    changed: bool,
}

/// Every organization with its members, containers, subscription, billing data and usage,
/// filtered and paged.
#[utoipa::path(
    get,
    path = "/v1/admin/orgs",
    tag = "administration",
    params(AdminOrgsQuery),
    responses(
        (status = 200, description = "A page, with the count of all that match", body = OrgPage),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 422, description = "Invalid filter; `details.field` names the query parameter (`limit`, `plan`, `status`, ...)", body = ErrorBody),
    )
)]
pub(crate) async fn admin_orgs(
    State(s): State<AppState>,
    Caller(who): Caller,
    QueryParams(q): QueryParams<AdminOrgsQuery>,
) -> Result<Json<OrgPage>, ApiError> {
    if q.search.as_ref().is_some_and(|t| t.chars().count() > 100) {
        return Err(Error::invalid("search", "at most 100 characters").into());
    }
    // `limit` is checked by the platform, after the permission.
    let mut filter = AdminOrgFilter::default();
    filter.search = q.search;
    filter.plan = q.plan;
    filter.status = q.status;
    filter.subscription = q.subscription;
    filter.limit = q.limit;
    filter.offset = q.offset;
    Ok(Json(s.platform.admin().orgs(&who, &filter).await?))
}

/// Suspends an organization: stops its running services and refuses its deploys until it is
/// reactivated.
#[utoipa::path(
    post,
    path = "/v1/admin/orgs/{org}/suspend",
    tag = "administration",
    params(OrgPath),
    responses(
        (status = 200, description = "Suspended (`changed: false` when it already was)", body = OrgStatusChange),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
    )
)]
pub(crate) async fn suspend_org(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
) -> Result<Json<OrgStatusChange>, ApiError> {
    let changed = s.platform.admin().suspend_org(&who, &p.org).await?;
    Ok(Json(OrgStatusChange {
        org: p.org,
        status: OrgStatus::Suspended,
        changed,
    }))
}

/// Reactivates a suspended organization and starts again the services its suspension
/// stopped.
#[utoipa::path(
    post,
    path = "/v1/admin/orgs/{org}/reactivate",
    tag = "administration",
    params(OrgPath),
    responses(
        (status = 200, description = "Active (`changed: false` when it already was)", body = OrgStatusChange),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
    )
)]
pub(crate) async fn reactivate_org(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
) -> Result<Json<OrgStatusChange>, ApiError> {
    let changed = s.platform.admin().reactivate_org(&who, &p.org).await?;
    Ok(Json(OrgStatusChange {
        org: p.org,
        status: OrgStatus::Active,
        changed,
    }))
}

/// Suspends, reactivates, changes the plan of, deletes, adds a member to or removes a member
/// from many organizations, one at a time, with one result each.
#[utoipa::path(
    post,
    path = "/v1/admin/orgs/bulk",
    tag = "administration",
    request_body = BulkOrgs,
    responses(
        (status = 200, description = "One result per organization, failures included", body = BulkOutcome),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 422, description = "Invalid call; `details.field` names it (`orgs`: none, more than 500 or one twice; `action`)", body = ErrorBody),
    )
)]
pub(crate) async fn bulk_orgs(
    State(s): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<BulkOrgs>,
) -> Result<Json<BulkOutcome>, ApiError> {
    let items = s
        .platform
        .admin()
        .bulk_orgs(&who, BulkRequest::new(body.action, body.orgs))
        .await?;
    let succeeded = items.iter().filter(|i| i.ok).count();
    Ok(Json(BulkOutcome {
        failed: items.len() - succeeded,
        succeeded,
        items,
    }))
}

/// The audit log of administrative and destructive actions, newest first: who, what, when,
/// before and after (platform administrators; owners with `?org=` set to their
/// organization).
#[utoipa::path(
    get,
    path = "/v1/admin/audit",
    tag = "administration",
    params(AuditQuery),
    responses(
        (status = 200, description = "Matching entries, newest first", body = Vec<AuditEntry>),
        (status = 403, description = "Neither a platform administrator nor an owner of `org`", body = ErrorBody),
        (status = 404, description = "No such organization `org` (or not a member)", body = ErrorBody),
        (status = 422, description = "Invalid filter; `details.field` names the query parameter (`since`, `before`, `before_id`, `actor`, `action`, `limit`)", body = ErrorBody),
    )
)]
pub(crate) async fn audit_log(
    State(s): State<AppState>,
    Caller(who): Caller,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let mut filter = AuditFilter::default();
    // The limit's and the action's bounds are the platform's (caas_core::platform::policy).
    if let Some(limit) = q.limit {
        filter.limit = limit;
    }
    if let (Some(since), Some(before)) = (q.since, q.before)
        && before <= since
    {
        return Err(Error::invalid("before", "must be later than `since`").into());
    }
    filter.action_prefix = q.action;
    filter.actor = q.actor.map(UserId);
    filter.since = q.since;
    filter.before = q.before;
    if q.before_id.is_some() && q.before.is_none() {
        return Err(Error::invalid(
            "before_id",
            "goes with `before`: pass the `at` and `id` of the previous page's last entry",
        )
        .into());
    }
    filter.before_id = q.before_id.map(caas_core::AuditId);
    if let Some(slug) = &q.org {
        // Resolving the slug is the membership check: strangers get 404, as for any org.
        filter.org = Some(s.platform.orgs().get(&who, slug).await?.id);
    }
    Ok(Json(s.platform.admin().audit_log(&who, &filter).await?))
}
