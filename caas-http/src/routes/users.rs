//! Users: `GET /v1/me` (who am I: the caller's user and memberships), and for platform
//! administrators `POST /v1/admin/users` (create) and `GET /v1/admin/users` (search and
//! page).
//!
//! - Users are created by platform administrators only (there is no sign-up): give the new
//!   user a token with `POST /v1/admin/users/{user}/tokens`, then add them to an
//!   organization (`POST /v1/orgs/{org}/members`) or invite their address.
//! - The list is ordered by e-mail address and answers a page (`limit` 1-500, default 50;
//!   `offset`) with `more`: whether another page follows. `search` matches a part of the
//!   address or of the display name, ASCII letters in either case.
//! - `POST /v1/admin/users/{user}/disable` stops a user at once: every token of theirs is
//!   refused with 401 from the next request on, their open log and stats streams end, their
//!   memberships stay. `POST …/enable` brings them back with their tokens. Both answer the
//!   user and change nothing when it already was so; administrators cannot disable
//!   themselves (409).

use axum::Json;
use axum::extract::State;
use caas_core::model::{NewUser, User};
use caas_core::platform::{Account, AdminUserFilter, UserPage};
use http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams, QueryParams};
use crate::routes::tokens::UserPath;

/// A user to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUser {
    /// E-mail address, unique on the platform (stored lowercase).
    email: String,
    /// Name shown in lists (default empty; at most 200 characters).
    #[serde(default)]
    display_name: Option<String>,
    /// Whether the user is a platform administrator (default `false`).
    #[serde(default)]
    platform_admin: Option<bool>,
}

/// Search and page of the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsersQuery {
    /// Part of the e-mail address or display name (ASCII letters in either case; at most 100
    /// characters).
    #[serde(default)]
    search: Option<String>,
    /// Page size, 1-500 (default 50).
    #[serde(default)]
    limit: Option<u32>,
    /// Users to skip (default 0).
    #[serde(default)]
    offset: Option<u32>,
}

/// Who am I: the caller's user and memberships.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "users",
    responses(
        (status = 200, description = "The caller's user and memberships", body = Account),
    )
)]
pub(crate) async fn me(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(s.platform.users().me(&who).await?))
}

/// Creates a user (platform administrators).
#[utoipa::path(
    post,
    path = "/v1/admin/users",
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 409, description = "A user with this address exists (`ALREADY_EXISTS`)", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names it (`email`, `display_name`)", body = ErrorBody),
    )
)]
pub(crate) async fn create_user(
    State(s): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<CreateUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let mut new = NewUser::new(body.email);
    new.display_name = body.display_name.unwrap_or_default();
    new.platform_admin = body.platform_admin.unwrap_or(false);
    let user = s.platform.users().create(&who, new).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Every user, searched and paged (platform administrators).
#[utoipa::path(
    get,
    path = "/v1/admin/users",
    tag = "users",
    params(UsersQuery),
    responses(
        (status = 200, description = "A page of users, ordered by e-mail address", body = UserPage),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 422, description = "Invalid query; `details.field` names the parameter (`limit`, `search`, ...)", body = ErrorBody),
    )
)]
pub(crate) async fn list_users(
    State(s): State<AppState>,
    Caller(who): Caller,
    QueryParams(q): QueryParams<UsersQuery>,
) -> Result<Json<UserPage>, ApiError> {
    // `limit` and `search` are checked by the platform, after the permission.
    let mut filter = AdminUserFilter::default();
    filter.search = q.search;
    filter.limit = q.limit;
    filter.offset = q.offset;
    Ok(Json(s.platform.users().list(&who, &filter).await?))
}

/// Disables a user (platform administrators): none of their tokens is accepted any more;
/// their memberships stay.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{user}/disable",
    tag = "users",
    params(UserPath),
    responses(
        (status = 200, description = "The user, disabled", body = User),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "Administrators cannot disable themselves (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "`user` is neither an id nor an e-mail address", body = ErrorBody),
    )
)]
pub(crate) async fn disable_user(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<UserPath>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(s.platform.users().disable(&who, &p.user).await?))
}

/// Enables a disabled user again (platform administrators): their tokens work again.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{user}/enable",
    tag = "users",
    params(UserPath),
    responses(
        (status = 200, description = "The user, enabled", body = User),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "`user` is neither an id nor an e-mail address", body = ErrorBody),
    )
)]
pub(crate) async fn enable_user(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<UserPath>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(s.platform.users().enable(&who, &p.user).await?))
}
