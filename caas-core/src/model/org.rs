//! Users, organizations, members and roles.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{ApiTokenId, InvitationId, OrgId, ProjectId, UserId};
use crate::validate::{self, Slug};

/// A person who can act on the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Unique e-mail address (stored lowercase).
    pub email: String,
    /// Name shown in lists.
    pub display_name: String,
    /// Platform administrators may act on every organization.
    pub platform_admin: bool,
    /// Disabled by a platform administrator: none of their credentials is accepted (their
    /// memberships stay, for the record, and count again once re-enabled).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub disabled: bool,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

/// Input for creating a [`User`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct NewUser {
    /// E-mail address.
    pub email: String,
    /// Display name (may be empty).
    pub display_name: String,
    /// Whether the user is a platform administrator.
    pub platform_admin: bool,
}

impl NewUser {
    /// A regular user with this e-mail address.
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            ..Self::default()
        }
    }

    /// Validates the input and builds the user.
    pub fn build(self, now: DateTime<Utc>) -> Result<User> {
        let email = self.email.trim().to_ascii_lowercase();
        validate::email("email", &email)?;
        validate::text("display_name", &self.display_name, 200)?;
        Ok(User {
            id: UserId::new(),
            email,
            display_name: self.display_name,
            platform_admin: self.platform_admin,
            disabled: false,
            created_at: now,
        })
    }
}

/// Whether an organization may use the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrgStatus {
    /// Normal operation.
    Active,
    /// Containers stopped, deploys blocked.
    Suspended,
}

/// A tenant: owns projects, services, volumes and a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Organization {
    /// Id.
    pub id: OrgId,
    /// Unique slug used in URLs and resource names.
    pub slug: Slug,
    /// Name shown in lists.
    pub display_name: String,
    /// Active or suspended.
    pub status: OrgStatus,
    /// When the organization was created.
    pub created_at: DateTime<Utc>,
}

/// Input for creating an [`Organization`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct NewOrganization {
    /// Slug (2-40 characters, DNS-label rules).
    pub slug: String,
    /// Display name; the slug when empty.
    #[serde(default)]
    pub display_name: String,
}

impl NewOrganization {
    /// An organization with this slug.
    pub fn new(slug: impl Into<String>) -> Self {
        Self {
            slug: slug.into(),
            display_name: String::new(),
        }
    }

    /// Validates the input and builds the organization.
    pub fn build(self, now: DateTime<Utc>) -> Result<Organization> {
        let slug = Slug::parse_field("slug", self.slug)?;
        validate::text("display_name", &self.display_name, 200)?;
        let display_name = if self.display_name.trim().is_empty() {
            slug.to_string()
        } else {
            self.display_name
        };
        Ok(Organization {
            id: OrgId::new(),
            slug,
            display_name,
            status: OrgStatus::Active,
            created_at: now,
        })
    }
}

/// A member's role in an organization, from most to least powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read-only access.
    Viewer,
    /// Deploys and operates services.
    Member,
    /// Manages projects, members and settings.
    Admin,
    /// Everything, including deleting the organization; at least one per organization.
    Owner,
}

impl Role {
    /// The role's name as used in APIs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

/// A user's membership in an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    /// The organization.
    pub org: OrgId,
    /// The user.
    pub user: UserId,
    /// The role.
    pub role: Role,
    /// When set, the membership only covers these projects.
    pub projects: Option<Vec<ProjectId>>,
    /// When the user joined.
    pub created_at: DateTime<Utc>,
}

/// An invitation to join an organization; the token itself is only ever stored hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    /// Id.
    pub id: InvitationId,
    /// The organization.
    pub org: OrgId,
    /// Invited address.
    pub email: String,
    /// Role granted on acceptance.
    pub role: Role,
    /// When set, the only projects the new member may see and act on.
    #[serde(default)]
    pub projects: Option<Vec<ProjectId>>,
    /// SHA-256 of the token, hex. Never serialized, so neither answers nor audit entries carry
    /// it.
    #[serde(skip_serializing, default)]
    pub token_sha256: String,
    /// Who invited.
    pub invited_by: UserId,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// An API token of a user. Only the SHA-256 of the secret is stored; the secret itself is shown
/// once, when the token is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    /// Id.
    pub id: ApiTokenId,
    /// Whose token.
    pub user: UserId,
    /// A label for people (`ci`, `panel`).
    pub name: String,
    /// SHA-256 of the secret, hex.
    #[serde(skip_serializing)]
    pub token_sha256: String,
    /// When it stops being accepted, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// What it may reach: its user's rights, or fewer.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub scope: TokenScope,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// How far an [`ApiToken`] reaches: its user's rights narrowed to reads, to some
/// organizations, or both (see [`crate::auth`], "API tokens"). The default is the whole of the
/// user's rights.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenScope {
    /// Only reads ([`crate::auth::is_read`]), and no change of the user's own.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub read_only: bool,
    /// When set, only these organizations (an empty list: none); every organization of the
    /// user when `None`.
    #[serde(default)]
    pub orgs: Option<Vec<TokenOrg>>,
}

impl TokenScope {
    /// Whether the scope is the whole of the user's rights.
    pub fn is_unrestricted(&self) -> bool {
        !self.read_only && self.orgs.is_none()
    }

    /// The entry of `org`, when the scope lists organizations.
    pub fn org(&self, org: OrgId) -> Option<&TokenOrg> {
        self.orgs.as_ref()?.iter().find(|o| o.org == org)
    }
}

/// One organization an [`ApiToken`] is restricted to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenOrg {
    /// The organization.
    pub org: OrgId,
    /// When set, only these of its projects; every project the user reaches when `None`.
    #[serde(default)]
    pub projects: Option<Vec<ProjectId>>,
}
