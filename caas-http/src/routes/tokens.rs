//! API tokens: the caller's own (`POST`, `GET /v1/tokens`, `DELETE /v1/tokens/{id}`) and,
//! for platform administrators, a token for any user (`POST /v1/admin/users/{user}/tokens`).
//!
//! - A token's secret (`caas_…`) is in the 201 answer that creates it and never again: the
//!   platform keeps only its SHA-256, lists answer neither, and nothing logs it. Store it
//!   then, or revoke the token and create another.
//! - Tokens are valid for `expires_in_days` (1-3650) when given, otherwise for the platform's
//!   default lifetime (until revoked when it has none); never longer than the platform's
//!   maximum (422 naming `expires_in_days`), nor past the expiry of the token that creates
//!   them (asked for: 422; otherwise it ends with it).
//! - `scope` narrows what the token may do: `{"read_only": true}` lets only reads through
//!   (every change is 403), `{"orgs": [{"org": "acme", "projects": ["shop"]}]}` only the listed
//!   organizations (slug or id; every other one is 404, as for a stranger), each limited to
//!   the listed projects (names or ids) when given. Answers show the scope by ids. A token
//!   creates only tokens of an equal or narrower scope: a read-only token creates none (403),
//!   a restricted one must list organizations within its own (403 otherwise; what it cannot
//!   see is 404).
//! - `DELETE /v1/tokens/{id}` revokes one of the caller's tokens, the one in use included;
//!   platform administrators may revoke anyone's. Another user's token is 404, as a token
//!   that does not exist. A read-only token revokes nothing (403).

use axum::Json;
use axum::extract::State;
use caas_core::model::{ApiToken, TokenScope};
use caas_core::platform::{NewApiToken, NewTokenOrg, NewTokenScope};
use caas_core::{ApiTokenId, Error, UserId};
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams};

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
    pub(crate) user: String,
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// A label for people (`ci`, `laptop`; 1-100 characters).
    name: String,
    /// Days until it stops being accepted, 1-3650 and at most the platform's maximum; the
    /// platform's default when absent (until revoked if it has none), and never past the
    /// expiry of the token in use.
    #[serde(default)]
    expires_in_days: Option<u32>,
    /// How far it reaches (default: the whole of the caller's rights).
    #[serde(default)]
    scope: Option<ScopeBody>,
}

/// How far a new token reaches: no wider than the token that creates it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScopeBody {
    /// Only reads: every change is refused with 403 (default `false`).
    #[serde(default)]
    read_only: bool,
    /// Only these organizations (at most 100); every organization of the user when absent.
    #[serde(default)]
    orgs: Option<Vec<ScopeOrgBody>>,
}

/// One organization a new token is restricted to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScopeOrgBody {
    /// The organization's slug or id.
    org: String,
    /// Only these of its projects (names or ids; at most 100); every project when absent.
    #[serde(default)]
    projects: Option<Vec<String>>,
}

impl CreateToken {
    fn to_new(&self) -> Result<NewApiToken, ApiError> {
        let mut new = NewApiToken::new(self.name.clone());
        new.valid_for = self.valid_for()?;
        if let Some(scope) = &self.scope {
            let mut asked = NewTokenScope::default();
            asked.read_only = scope.read_only;
            asked.orgs = scope.orgs.as_ref().map(|orgs| {
                orgs.iter()
                    .map(|o| NewTokenOrg::new(o.org.clone(), o.projects.clone()))
                    .collect()
            });
            new.scope = asked;
        }
        Ok(new)
    }

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
    /// How far it reaches.
    scope: TokenScope,
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
            scope: token.scope,
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
    let created = s
        .platform
        .tokens()
        .create(who, user, body.to_new()?)
        .await
        // The platform names the lifetime `valid_for`; this API asks for days.
        .map_err(|e| match e {
            Error::InvalidInput { field, reason } if field == "valid_for" => {
                Error::invalid("expires_in_days", reason)
            }
            e => e,
        })?;
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
        (status = 403, description = "The token in use is read-only, or the scope asked for is wider than its own", body = ErrorBody),
        (status = 404, description = "An organization or project of the scope the caller cannot see", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names it (`name`, `expires_in_days`: above the platform's maximum or past the expiry of the token in use, `scope.orgs[i]`, ...)", body = ErrorBody),
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
        (status = 200, description = "The caller's tokens (no secrets)", body = Vec<ApiToken>),
    )
)]
pub(crate) async fn list_tokens(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Vec<ApiToken>>, ApiError> {
    // `ApiToken` never serializes its hash.
    Ok(Json(s.platform.tokens().list(&who).await?))
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
        (status = 403, description = "The token in use is read-only", body = ErrorBody),
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
    s.platform.tokens().revoke(&who, ApiTokenId(id)).await?;
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
        (status = 403, description = "Not a platform administrator (or the token in use is read-only or restricted to organizations)", body = ErrorBody),
        (status = 404, description = "No such user, or an organization or project of the scope the caller cannot see", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names it (`user`, `name`, `expires_in_days`, `scope.orgs[i]`, ...)", body = ErrorBody),
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
    let user = s.platform.users().get(&who, &p.user).await?;
    create(&s, &who, Some(user.id), &body).await
}
