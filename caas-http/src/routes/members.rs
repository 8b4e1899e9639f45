//! Members of an organization and invitations to join it:
//! `GET|POST /v1/orgs/{org}/members`, `PATCH|DELETE /v1/orgs/{org}/members/{user}`,
//! `POST /v1/orgs/{org}/transfer-ownership`, `GET|POST /v1/orgs/{org}/invitations`,
//! `DELETE /v1/orgs/{org}/invitations/{invitation}`, and for the invited user
//! `POST /v1/invitations/{token}/accept` and `/decline`.
//!
//! - Every member reads the member list; admins and owners add existing users (by e-mail
//!   address or id), change roles and project scopes, remove members and manage invitations;
//!   only owners (and platform administrators) grant, change or take away the owner role and
//!   transfer the ownership. Anyone may leave (`DELETE` on themselves), but the last owner,
//!   who is neither removed nor demoted (409): transfer the ownership first.
//! - Creating an invitation answers the invitation **without its token**: the token goes only
//!   to the platform's mailer (the reference server logs the acceptance link). A platform
//!   without a mailer answers 501 `UNSUPPORTED` rather than create an invitation nobody can
//!   accept. Tokens are stored hashed, and answers never carry the hash either.
//! - Accepting or declining is for the invited user, authenticated with their own
//!   credentials: another address gets 403, an unknown or used-up token 404, an expired one
//!   409 (and it is used up).
//! - `{user}` is a user's id or e-mail address. A user who is not a member of the
//!   organization is 404, as is everything of an organization the caller is not a member of.

use axum::Json;
use axum::extract::State;
use caas_core::Error;
use caas_core::model::{Invitation, Role};
use caas_core::platform::{MemberUpdate, MemberView, NewInvitation, NewMember};
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::OrgPath;
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, JsonBody, PathParams};

/// `{org}/members/{user}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct MemberPath {
    /// The organization's slug.
    org: String,
    /// The user's id or e-mail address.
    user: String,
}

/// `{org}/invitations/{invitation}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct InvitationPath {
    /// The organization's slug.
    org: String,
    /// The invitation's id.
    invitation: String,
}

/// `/v1/invitations/{token}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct TokenPath {
    /// The invitation's secret token (`caas_inv_…`), as mailed.
    token: String,
}

/// A member to add: an existing user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddMember {
    /// The user's e-mail address or id.
    user: String,
    /// Role (only owners add owners).
    role: Role,
    /// Only these projects (names); every project when absent.
    #[serde(default)]
    projects: Option<Vec<String>>,
}

/// Changes to a membership; absent fields are left as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemberPatch {
    /// A new role (only owners grant or take the owner role; the last owner keeps it).
    #[serde(default)]
    role: Option<Role>,
    /// A new project scope (names); `null` lifts the scope (every project).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    projects: Option<Option<Vec<String>>>,
}

/// A field that is present, `null` included (absent fields take the `default`, `None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Who becomes an owner.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransferOwnership {
    /// The member (e-mail address or id) who becomes an owner; the calling owner becomes an
    /// admin.
    to: String,
}

/// An invitation to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateInvitation {
    /// The address to invite.
    email: String,
    /// Role granted on acceptance (only owners invite owners).
    role: Role,
    /// Only these projects (names); every project when absent. An admin scoped to projects
    /// must name projects of its own scope.
    #[serde(default)]
    projects: Option<Vec<String>>,
    /// Days until it expires, 1-30 (default 7).
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// An invitation, without its token (which only the mailer ever sees) or the token's hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvitationView {
    /// Id (to revoke it).
    id: Uuid,
    /// The invited address.
    email: String,
    /// Role granted on acceptance.
    role: Role,
    /// When set, the ids of the only projects the new member will see; every project when
    /// `null`.
    projects: Option<Vec<Uuid>>,
    /// Who invited (user id).
    invited_by: Uuid,
    /// When it stops being valid (listed until used up or revoked, also when expired).
    expires_at: DateTime<Utc>,
    /// When it was created.
    created_at: DateTime<Utc>,
}

impl From<Invitation> for InvitationView {
    fn from(i: Invitation) -> Self {
        Self {
            id: i.id.0,
            email: i.email,
            role: i.role,
            projects: i.projects.map(|ps| ps.into_iter().map(|p| p.0).collect()),
            invited_by: i.invited_by.0,
            expires_at: i.expires_at,
            created_at: i.created_at,
        }
    }
}

/// The organization's members.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/members",
    tag = "members",
    params(OrgPath),
    responses(
        (status = 200, description = "Every member with their role and project scope", body = Vec<MemberView>),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
    )
)]
pub(crate) async fn list_members(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
) -> Result<Json<Vec<MemberView>>, ApiError> {
    Ok(Json(s.platform.members().list(&who, &p.org).await?))
}

/// Adds an existing user to the organization (admins and owners; owners to add an owner).
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/members",
    tag = "members",
    params(OrgPath),
    request_body = AddMember,
    responses(
        (status = 201, description = "Added", body = MemberView),
        (status = 403, description = "Role too low (admin or higher; owner to add an owner), or a grant wider than the caller's own role or project scope", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), or no such user", body = ErrorBody),
        (status = 409, description = "Already a member (`ALREADY_EXISTS`)", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names it (`user`, `projects[0]`)", body = ErrorBody),
    )
)]
pub(crate) async fn add_member(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
    JsonBody(body): JsonBody<AddMember>,
) -> Result<(StatusCode, Json<MemberView>), ApiError> {
    let mut new = NewMember::new(body.user, body.role);
    new.projects = body.projects;
    let member = s.platform.members().add(&who, &p.org, new).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// Changes a member's role or project scope.
#[utoipa::path(
    patch,
    path = "/v1/orgs/{org}/members/{user}",
    tag = "members",
    params(MemberPath),
    request_body = MemberPatch,
    responses(
        (status = 200, description = "The membership after the change", body = MemberView),
        (status = 403, description = "Role too low (admin or higher; owner for anything about the owner role); a member scoped to projects changing itself, a member wider than itself, or granting beyond its scope", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), or the user is not a member", body = ErrorBody),
        (status = 409, description = "Demoting the last owner: transfer the ownership first (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names it (`role`, `projects[0]`)", body = ErrorBody),
    )
)]
pub(crate) async fn update_member(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<MemberPath>,
    JsonBody(body): JsonBody<MemberPatch>,
) -> Result<Json<MemberView>, ApiError> {
    let mut update = MemberUpdate::default();
    update.role = body.role;
    update.projects = body.projects;
    Ok(Json(
        s.platform
            .members()
            .update(&who, &p.org, &p.user, update)
            .await?,
    ))
}

/// Removes a member (admins and owners; owners to remove an owner); every member may remove
/// themselves, but the last owner.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/members/{user}",
    tag = "members",
    params(MemberPath),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Role too low to remove someone else, or the member's scope is wider than the caller's", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), or the user is not a member", body = ErrorBody),
        (status = 409, description = "The last owner: transfer the ownership first (`CONFLICT`)", body = ErrorBody),
    )
)]
pub(crate) async fn remove_member(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<MemberPath>,
) -> Result<StatusCode, ApiError> {
    s.platform.members().remove(&who, &p.org, &p.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a member an owner, and the calling owner an admin (owners and platform
/// administrators; an administrator who is not a member demotes nobody).
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/transfer-ownership",
    tag = "members",
    params(OrgPath),
    request_body = TransferOwnership,
    responses(
        (status = 200, description = "The new owner's membership", body = MemberView),
        (status = 403, description = "Not an owner", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), or `to` is not a member", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names it (`to`)", body = ErrorBody),
    )
)]
pub(crate) async fn transfer_ownership(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
    JsonBody(body): JsonBody<TransferOwnership>,
) -> Result<Json<MemberView>, ApiError> {
    Ok(Json(
        s.platform
            .members()
            .transfer_ownership(&who, &p.org, &body.to)
            .await?,
    ))
}

/// The organization's pending invitations, expired ones included until used up or revoked
/// (admins and owners).
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/invitations",
    tag = "members",
    params(OrgPath),
    responses(
        (status = 200, description = "Pending invitations (without tokens)", body = Vec<InvitationView>),
        (status = 403, description = "Role too low (admin or higher)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
    )
)]
pub(crate) async fn list_invitations(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
) -> Result<Json<Vec<InvitationView>>, ApiError> {
    let list = s.platform.members().invitations(&who, &p.org).await?;
    Ok(Json(list.into_iter().map(InvitationView::from).collect()))
}

/// Invites an address (admins and owners; owners to invite an owner). The token is mailed to
/// the address and never answered.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/invitations",
    tag = "members",
    params(OrgPath),
    request_body = CreateInvitation,
    responses(
        (status = 201, description = "Invited and mailed: the invitation, without its token", body = InvitationView),
        (status = 403, description = "Role too low (admin or higher; owner to invite an owner), or an invitation wider than the caller's own role or project scope", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
        (status = 409, description = "Already a member, or invited and not expired: revoke that invitation first (`CONFLICT`)", body = ErrorBody),
        (status = 422, description = "Invalid input; `details.field` names it (`email`, `expires_in_days`, `projects[i]`)", body = ErrorBody),
        (status = 501, description = "This platform has no mailer to deliver invitations (`UNSUPPORTED`)", body = ErrorBody),
    )
)]
pub(crate) async fn create_invitation(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
    JsonBody(body): JsonBody<CreateInvitation>,
) -> Result<(StatusCode, Json<InvitationView>), ApiError> {
    // The answer never carries the token: without a mailer nobody could ever accept.
    if s.platform.mailer().is_none() {
        return Err(Error::unsupported(
            "invitations: no mailer is configured on this platform to deliver them",
        )
        .into());
    }
    let mut new = NewInvitation::new(body.email, body.role);
    new.projects = body.projects;
    new.expires_in_days = body.expires_in_days;
    let created = s.platform.members().invite(&who, &p.org, new).await?;
    Ok((StatusCode::CREATED, Json(created.invitation.into())))
}

/// Revokes an invitation (admins and owners): its token stops working.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/invitations/{invitation}",
    tag = "members",
    params(InvitationPath),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Role too low (admin or higher)", body = ErrorBody),
        (status = 404, description = "No such organization (or not a member), or no such invitation in it", body = ErrorBody),
    )
)]
pub(crate) async fn revoke_invitation(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<InvitationPath>,
) -> Result<StatusCode, ApiError> {
    s.platform
        .members()
        .revoke_invitation(&who, &p.org, &p.invitation)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts an invitation as the invited user: they become a member with the invited role,
/// and the token is used up.
#[utoipa::path(
    post,
    path = "/v1/invitations/{token}/accept",
    tag = "members",
    params(TokenPath),
    responses(
        (status = 200, description = "The caller's membership", body = MemberView),
        (status = 403, description = "The invitation is for another address", body = ErrorBody),
        (status = 404, description = "Unknown, used-up or revoked token", body = ErrorBody),
        (status = 409, description = "Expired (and now used up): ask for a new one", body = ErrorBody),
    )
)]
pub(crate) async fn accept_invitation(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<TokenPath>,
) -> Result<Json<MemberView>, ApiError> {
    Ok(Json(
        s.platform
            .members()
            .accept_invitation(&who, &p.token)
            .await?,
    ))
}

/// Declines an invitation as the invited user; the token is used up.
#[utoipa::path(
    post,
    path = "/v1/invitations/{token}/decline",
    tag = "members",
    params(TokenPath),
    responses(
        (status = 204, description = "Declined"),
        (status = 403, description = "The invitation is for another address", body = ErrorBody),
        (status = 404, description = "Unknown, used-up or revoked token", body = ErrorBody),
        (status = 409, description = "Expired (and now used up)", body = ErrorBody),
    )
)]
pub(crate) async fn decline_invitation(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<TokenPath>,
) -> Result<StatusCode, ApiError> {
    s.platform
        .members()
        .decline_invitation(&who, &p.token)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
