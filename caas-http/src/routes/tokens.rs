//! API tokens: the caller's own (`POST`, `GET /v1/tokens`, `DELETE /v1/tokens/{id}`) and,
//! for platform administrators, a token for any user (`POST /v1/admin/users/{user}/tokens`).
//!
//! - A token's secret (`caas_…`) is in the 201 answer that creates it and never again: the
//!   platform keeps only its SHA-256, lists answer neither, and nothing logs it. Store it
//!   then, or revoke the token and create another.
//! - Tokens are valid until revoked, or for `expires_in_days` (1-3650) when given.
//! - `DELETE /v1/tokens/{id}` revokes one of the caller's tokens, the one in use included;
//!   platform administrators may revoke anyone's. Another user's token is 404, as a token
//!   that does not exist.

use axum::Json;
use axum::extract::State;
use caas_core::model::ApiToken;
use caas_core::{ApiTokenId, Error, UserId};
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams};
use crate::{AppState, schema};

/// Longest validity of a token, in days (ten years).
const MAX_DAYS: u32 = 3650;

/// `/v1/tokens/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct TokenIdPath {
    /// The token's id (not its secret).
    id: String,
}

/// `/v1/admin/users/{user}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct UserPath {
    /// The user's id or e-mail address.
    user: String,
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// A label for people (`ci`, `laptop`; 1-100 characters).
    name: String,
    /// Days until it stops being accepted, 1-3650; valid until revoked when absent.
    #[serde(default)]
    expires_in_days: Option<u32>,
}

impl CreateToken {
    fn valid_for(&self) -> Result<Option<chrono::Duration>, ApiError> {
        match self.expires_in_days {
            None => Ok(None),
            Some(days @ 1..=MAX_DAYS) => Ok(Some(chrono::Duration::days(i64::from(days)))),
            Some(_) => {
                Err(Error::invalid("expires_in_days", format!("must be 1-{MAX_DAYS}")).into())
            }
        }
    }
}

/// A created token and its secret: the only answer that ever carries the secret.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedToken {
    /// Id (to revoke it).
    id: Uuid,
    /// Whose token (user id).
    user: Uuid,
    /// The label.
    name: String,
    /// When it stops being accepted; never when `null`.
    expires_at: Option<DateTime<Utc>>,
    /// When it was created.
    created_at: DateTime<Utc>,
    /// The secret, for `Authorization: Bearer <secret>`. Shown this once.
    secret: String,
}

impl CreatedToken {
    fn new((token, secret): (ApiToken, String)) -> Self {
        Self {
            id: token.id.0,
            user: token.user.0,
            name: token.name,
            expires_at: token.expires_at,
            created_at: token.created_at,
            secret,
        }
    }
}

async fn create(
    s: &AppState,
    who: &caas_core::Principal,
    user: Option<UserId>,
    body: &CreateToken,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let valid_for = body.valid_for()?;
    let created = s
        .platform
        .create_api_token(who, user, &body.name, valid_for)
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedToken::new(created))))
}

/// Creates a token for the caller; the answer carries its secret, shown this once.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "users",
    request_body = CreateToken,
    responses(
        (status = 201, description = "Created: the token and its secret (never shown again)", body = CreatedToken),
        (status = 422, description = "Invalid input; `details.field` names it (`name`, `expires_in_days`)", body = ErrorBody),
    )
)]
pub(crate) async fn create_token(
    State(s): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    create(&s, &who, None, &body).await
}

/// The caller's tokens, oldest first, without secrets or their hashes.
#[utoipa::path(
    get,
    path = "/v1/tokens",
    tag = "users",
    responses(
        (status = 200, description = "The caller's tokens (no secrets)", body = Vec<schema::ApiToken>),
    )
)]
pub(crate) async fn list_tokens(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Vec<ApiToken>>, ApiError> {
    // `ApiToken` never serializes its hash.
    Ok(Json(s.platform.list_api_tokens(&who).await?))
}

/// Revokes one of the caller's tokens (platform administrators: anyone's); it stops working
/// at once.
#[utoipa::path(
    delete,
    path = "/v1/tokens/{id}",
    tag = "users",
    params(TokenIdPath),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token of the caller's", body = ErrorBody),
    )
)]
pub(crate) async fn revoke_token(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<TokenIdPath>,
) -> Result<StatusCode, ApiError> {
    let id: Uuid =
        p.id.parse()
            .map_err(|_| Error::not_found("api token", &p.id))?;
    s.platform.revoke_api_token(&who, ApiTokenId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates a token for a user (platform administrators), to hand over to them; the answer
/// carries its secret, shown this once.
#[utoipa::path(
    post,
    path = "/v1/admin/users/{user}/tokens",
    tag = "users",
    params(UserPath),
    request_body = CreateToken,
    responses(
        (status = 201, description = "Created: the token and its secret (never shown again)", body = CreatedToken),
        (status = 403, description = "Not a platform administrator", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names it (`user`, `name`, `expires_in_days`)", body = ErrorBody),
    )
)]
pub(crate) async fn create_user_token(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<UserPath>,
    JsonBody(body): JsonBody<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    // The look-up is for administrators only, so it refuses everyone else before it tells
    // whether the address has an account.
    let user = s.platform.user(&who, &p.user).await?;
    create(&s, &who, Some(user.id), &body).await
}
