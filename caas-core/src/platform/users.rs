//! Users: the administrators' list (searched and paged), look-ups by e-mail address or id,
//! disabling and re-enabling, and the caller's own account with its memberships ("who am I").
//!
//! A disabled user's credentials stop working at once:
//! [`Tokens::authenticate`](crate::platform::Tokens::authenticate) refuses every token of theirs
//! and [`Platform::principal_for`] answers `NotFound`, which also ends their open log and stats
//! streams at the next check. Nothing else changes: their memberships, tokens and audit entries
//! stay, and re-enabling them brings every token back (unless it expired meanwhile). Administrators
//! cannot disable themselves, so an enabled administrator always remains.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use tracing::instrument;

use super::org_admin::MAX_PAGE;
use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::model::{Role, User};
use crate::ports::store::UserFilter;
use crate::validate;

/// Search and page of the administrators' user list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AdminUserFilter {
    /// Part of the e-mail address or display name (ASCII letters in either case; at most 100
    /// characters).
    #[serde(default)]
    pub search: Option<String>,
    /// Page size (1-500, default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Rows to skip.
    #[serde(default)]
    pub offset: Option<u32>,
}

impl AdminUserFilter {
    /// Only users whose address or name contains `text`.
    pub fn search(mut self, text: impl Into<String>) -> Self {
        self.search = Some(text.into());
        self
    }
    /// A page: `limit` rows after `offset`.
    pub fn page(mut self, limit: u32, offset: u32) -> Self {
        self.limit = Some(limit);
        self.offset = Some(offset);
        self
    }
}

/// A page of users, ordered by e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserPage {
    /// The users.
    pub items: Vec<User>,
    /// Page size asked for.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u32,
    /// Whether more follow.
    pub more: bool,
}

/// One of the caller's memberships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Membership {
    /// The organization's slug.
    pub org: String,
    /// Its display name.
    pub org_name: String,
    /// The role in it.
    pub role: Role,
    /// When set, the only projects the membership covers (names).
    pub projects: Option<Vec<String>>,
    /// When the user joined.
    pub joined_at: DateTime<Utc>,
}

/// A user and their memberships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    /// The user.
    pub user: User,
    /// Every organization they belong to, ordered by slug.
    pub memberships: Vec<Membership>,
}

impl Platform {
    /// Users whose e-mail address or display name contains the search, ordered by address,
    /// one page at a time (platform administrators only). Errors: `PermissionDenied`,
    /// `InvalidInput` (`limit`, `search`).
    pub(crate) async fn list_users(
        &self,
        who: &Principal,
        filter: &AdminUserFilter,
    ) -> Result<UserPage> {
        who.require_admin(Action::UserView)?;
        let limit = filter.limit.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid("limit", "must be 1-500"));
        }
        if let Some(search) = &filter.search {
            validate::text("search", search, 100)?;
        }
        let offset = filter.offset.unwrap_or(0);
        let store = &self.inner.store;
        let mut page = UserFilter {
            search: filter.search.clone(),
            limit,
            offset,
        };
        let items = store.directory.list_users(&page).await?;
        // Whether more follow, without counting them all: one row past a full page (asking
        // for `limit + 1` at once would pass the store's largest page).
        let more = items.len() == limit as usize && {
            page.offset = offset.saturating_add(limit);
            page.limit = 1;
            page.offset > offset && !store.directory.list_users(&page).await?.is_empty()
        };
        Ok(UserPage {
            items,
            limit,
            offset,
            more,
        })
    }

    /// A user by e-mail address or id (platform administrators only). Errors:
    /// `PermissionDenied`, `NotFound`, `InvalidInput` (`user`: neither an id nor an address).
    pub(crate) async fn user(&self, who: &Principal, user: &str) -> Result<User> {
        who.require_admin(Action::UserView)?;
        self.find_user("user", user).await
    }

    /// Disables a user (by e-mail address or id; platform administrators only): every token of
    /// theirs stops working at once, their memberships stay. Disabling a disabled user changes
    /// nothing. Errors: `PermissionDenied`, `NotFound`, `InvalidInput` (`user`), `Conflict`
    /// (the caller themselves).
    #[instrument(skip_all)]
    pub(crate) async fn disable_user(&self, who: &Principal, user: &str) -> Result<User> {
        self.set_disabled(who, user, true).await
    }

    /// Re-enables a disabled user (platform administrators only): their tokens work again. Enabling
    /// an enabled user changes nothing. Errors: as
    /// [`Users::disable`](crate::platform::Users::disable), but `Conflict`.
    #[instrument(skip_all)]
    pub(crate) async fn enable_user(&self, who: &Principal, user: &str) -> Result<User> {
        self.set_disabled(who, user, false).await
    }

    async fn set_disabled(&self, who: &Principal, user: &str, disabled: bool) -> Result<User> {
        who.require_admin(Action::UserManage)?;
        let before = self.find_user("user", user).await?;
        if disabled && before.id == who.user {
            return Err(Error::conflict(
                "administrators cannot disable themselves: ask another administrator",
            ));
        }
        if before.disabled == disabled {
            return Ok(before);
        }
        self.inner
            .store
            .directory_admin()?
            .set_user_disabled(before.id, disabled)
            .await?;
        let after = User {
            disabled,
            ..before.clone()
        };
        self.audit(
            Some(who),
            None,
            if disabled {
                "user.disable"
            } else {
                "user.enable"
            },
            format!("user:{}", after.id),
            json(&before),
            json(&after),
        )
        .await;
        Ok(after)
    }

    /// The calling user and their memberships (with a token restricted to organizations, only
    /// those it reaches). Errors: `NotFound` (the user was removed after the credential was
    /// checked).
    pub(crate) async fn me(&self, who: &Principal) -> Result<Account> {
        let store = &self.inner.store;
        let user = store.directory.user(who.user).await?;
        let mut memberships = Vec::new();
        for m in store.directory.memberships(who.user).await? {
            // Other organizations do not exist for a token restricted to some.
            if who.scope.orgs.is_some() && !who.grants.contains_key(&m.org) {
                continue;
            }
            // An organization deleted meanwhile is simply not listed.
            let org = match store.directory.org(m.org).await {
                Ok(org) => org,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            };
            let projects = match &m.projects {
                None => None,
                Some(ids) => {
                    let mut names = Vec::new();
                    for id in ids {
                        if let Ok(p) = store.services.project(*id).await {
                            names.push(p.name.to_string());
                        }
                    }
                    Some(names)
                }
            };
            memberships.push(Membership {
                org: org.slug.to_string(),
                org_name: org.display_name,
                role: m.role,
                projects,
                joined_at: m.created_at,
            });
        }
        memberships.sort_by(|a, b| a.org.cmp(&b.org));
        Ok(Account { user, memberships })
    }
}
