//! API tokens: created with a random secret shown once, stored as its SHA-256, and turned back into
//! a [`Principal`] by [`Tokens::authenticate`](crate::platform::Tokens::authenticate). A token's
//! [`TokenScope`] narrows its user's rights (see [`crate::auth`], "API tokens"); its lifetime
//! follows the platform's [`TokenLifetime`] and never passes the token that created it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{ApiTokenId, OrgId, ProjectId, UserId};
use crate::model::{ApiToken, Organization, Project, TokenOrg, TokenScope, User};
use crate::validate;

/// Every secret starts with this, so leaked tokens are easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "caas_";

/// Most organizations one token may list, and most projects per organization.
pub const MAX_TOKEN_SCOPE_ITEMS: usize = 100;

/// The SHA-256 (hex) under which a secret is stored.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn new_secret() -> String {
    let body: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    format!("{TOKEN_PREFIX}{body}")
}

/// How long API tokens live: the platform's policy (see
/// [`PlatformBuilder::token_lifetime`](super::PlatformBuilder::token_lifetime)). The default is no
/// policy at all: tokens live until revoked unless their creator says otherwise. The bootstrap
/// token ([`Tokens::ensure_bootstrap`](crate::platform::Tokens::ensure_bootstrap)) is exempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenLifetime {
    /// Validity of a token created without one; when `None`, `max` (or, without a maximum,
    /// until revoked).
    pub default: Option<Duration>,
    /// Longest validity a token may be created with; `None`: no limit.
    pub max: Option<Duration>,
}

impl TokenLifetime {
    /// A policy of `default` and `max` validity.
    pub fn new(default: Option<Duration>, max: Option<Duration>) -> Self {
        Self { default, max }
    }

    /// Checks the policy makes sense. Errors: `InvalidInput` naming `token_lifetime.default`
    /// or `token_lifetime.max` (zero, too long, or a default above the maximum).
    pub(super) fn validate(&self) -> Result<()> {
        for (field, d) in [
            ("token_lifetime.default", self.default),
            ("token_lifetime.max", self.max),
        ] {
            let Some(d) = d else { continue };
            if d.is_zero() {
                return Err(Error::invalid(field, "must be positive"));
            }
            if chrono::Duration::from_std(d).is_err() {
                return Err(Error::invalid(field, "is too long"));
            }
        }
        if let (Some(default), Some(max)) = (self.default, self.max)
            && default > max
        {
            return Err(Error::invalid(
                "token_lifetime.default",
                "must not be longer than the maximum",
            ));
        }
        Ok(())
    }

    fn chrono(d: Option<Duration>) -> Option<chrono::Duration> {
        // `validate` made sure it converts.
        d.and_then(|d| chrono::Duration::from_std(d).ok())
    }
}

/// A token to create (see [`Tokens::create`](crate::platform::Tokens::create)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewApiToken {
    /// A label for people (`ci`, `laptop`; 1-100 characters).
    pub name: String,
    /// How long it is accepted; the platform's default ([`TokenLifetime`]) when `None`.
    pub valid_for: Option<chrono::Duration>,
    /// How far it reaches.
    pub scope: NewTokenScope,
}

impl NewApiToken {
    /// A token named `name`, with the whole of its user's rights, for the platform's default
    /// lifetime.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
    /// Valid for `d`.
    pub fn valid_for(mut self, d: chrono::Duration) -> Self {
        self.valid_for = Some(d);
        self
    }
    /// Only reads.
    pub fn read_only(mut self) -> Self {
        self.scope.read_only = true;
        self
    }
    /// Also (or only, on the first call) the organization `org` (slug or id), every project.
    pub fn org(mut self, org: impl Into<String>) -> Self {
        self.scope
            .orgs
            .get_or_insert_with(Vec::new)
            .push(NewTokenOrg {
                org: org.into(),
                projects: None,
            });
        self
    }
    /// Also (or only, on the first call) these projects (names or ids) of `org` (slug or id).
    pub fn projects<I, S>(mut self, org: impl Into<String>, projects: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scope
            .orgs
            .get_or_insert_with(Vec::new)
            .push(NewTokenOrg {
                org: org.into(),
                projects: Some(projects.into_iter().map(Into::into).collect()),
            });
        self
    }
}

/// The scope asked for a new token: as [`TokenScope`], by names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewTokenScope {
    /// Only reads.
    #[serde(default)]
    pub read_only: bool,
    /// Only these organizations (at most [`MAX_TOKEN_SCOPE_ITEMS`]); every organization of the
    /// user when `None`.
    #[serde(default)]
    pub orgs: Option<Vec<NewTokenOrg>>,
}

/// One organization asked for in a [`NewTokenScope`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewTokenOrg {
    /// The organization's slug or id.
    pub org: String,
    /// Only these of its projects (names or ids; at most [`MAX_TOKEN_SCOPE_ITEMS`]); every
    /// project when `None`.
    #[serde(default)]
    pub projects: Option<Vec<String>>,
}

impl NewTokenOrg {
    /// The organization `org` (slug or id), limited to `projects` when given.
    pub fn new(org: impl Into<String>, projects: Option<Vec<String>>) -> Self {
        Self {
            org: org.into(),
            projects,
        }
    }
}

/// "30 days", "12 hours", "90 minutes", "45 seconds".
fn describe(d: chrono::Duration) -> String {
    let s = d.num_seconds();
    let (n, unit) = if s % 86_400 == 0 {
        (s / 86_400, "day")
    } else if s % 3600 == 0 {
        (s / 3600, "hour")
    } else if s % 60 == 0 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

impl Platform {
    /// Creates a token for `user` (the principal itself when `None`; platform administrators
    /// may create tokens for anyone). Returns the token and its secret, which is never shown
    /// again.
    ///
    /// The token expires after `new.valid_for`, or the platform's default; never later than
    /// the token the principal acts with. Its scope is `new.scope`, which may not be wider than
    /// the principal's own: a read-only token creates no tokens; a token restricted to
    /// organizations creates only tokens that list organizations within its own (and, where it
    /// lists projects of one, projects within those).
    ///
    /// Errors: `InvalidInput` (`name`; `valid_for`: not positive, above the platform's
    /// maximum, or past the expiry of the token in use; `scope.orgs`: too many, or one listed
    /// twice; `scope.orgs[i].projects`: too many), `PermissionDenied` (a read-only token, a
    /// scope wider than the token in use, another user's token without being a platform
    /// administrator), `NotFound` (user; an organization or project the principal cannot
    /// see).
    pub(crate) async fn create_api_token(
        &self,
        who: &Principal,
        user: Option<UserId>,
        new: NewApiToken,
    ) -> Result<(ApiToken, String)> {
        who.require_writable("token.create")?;
        let user = match user {
            Some(u) if u != who.user => {
                who.require_admin(Action::UserManage)?;
                u
            }
            _ => who.user,
        };
        if new.name.trim().is_empty() {
            return Err(Error::invalid("name", "must not be empty"));
        }
        validate::text("name", &new.name, 100)?;
        // One instant for both, so the token lives exactly what was asked.
        let now = self.now();
        let expires_at = self.token_expiry(who, new.valid_for, now)?;
        let scope = self.token_scope(who, &new.scope).await?;
        self.inner.store.directory.user(user).await?;
        let (token, secret) = self
            .mint_token(user, &new.name, now, expires_at, scope)
            .await?;
        self.audit(
            Some(who),
            None,
            "token.create",
            format!("token:{}", token.id),
            None,
            json(&token),
        )
        .await;
        Ok((token, secret))
    }

    /// When a token created at `now` and asked to live `valid_for` (the default when `None`)
    /// expires, within the platform's maximum and the expiry of the token `who` acts with.
    fn token_expiry(
        &self,
        who: &Principal,
        valid_for: Option<chrono::Duration>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let policy = self.inner.token_lifetime;
        let too_long = || Error::invalid("valid_for", "is too long");
        let asked = match valid_for {
            Some(d) => {
                // A token that expires at once is a mistake; one past the calendar would
                // overflow.
                if d <= chrono::Duration::zero() {
                    return Err(Error::invalid("valid_for", "must be positive"));
                }
                if let Some(max) = TokenLifetime::chrono(policy.max)
                    && d > max
                {
                    return Err(Error::invalid(
                        "valid_for",
                        format!(
                            "must be at most {}, the platform's longest token lifetime",
                            describe(max)
                        ),
                    ));
                }
                Some(now.checked_add_signed(d).ok_or_else(too_long)?)
            }
            None => match TokenLifetime::chrono(policy.default.or(policy.max)) {
                Some(d) => Some(now.checked_add_signed(d).ok_or_else(too_long)?),
                None => None,
            },
        };
        Ok(match (asked, who.expires_at) {
            (asked, None) => asked,
            (Some(at), Some(limit)) if at <= limit => Some(at),
            (Some(_), Some(limit)) if valid_for.is_some() => {
                return Err(Error::invalid(
                    "valid_for",
                    format!(
                        "must end by {}, when the token in use expires: a token cannot outlive the one that creates it",
                        limit.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                ));
            }
            // Unasked, the new token lives as long as the policy allows and its creator lasts.
            (_, Some(limit)) => Some(limit),
        })
    }

    /// The scope `asked` by ids, checked against what `who` reaches.
    async fn token_scope(&self, who: &Principal, asked: &NewTokenScope) -> Result<TokenScope> {
        let wider = |reason: String| Error::denied("token.create", reason);
        let Some(list) = &asked.orgs else {
            if who.scope.orgs.is_some() {
                return Err(wider(
                    "the API token's scope forbids a wider token: it is restricted to organizations, list some of them in scope.orgs".into(),
                ));
            }
            return Ok(TokenScope {
                read_only: asked.read_only,
                orgs: None,
            });
        };
        if list.len() > MAX_TOKEN_SCOPE_ITEMS {
            return Err(Error::invalid(
                "scope.orgs",
                format!("at most {MAX_TOKEN_SCOPE_ITEMS} organizations"),
            ));
        }
        let mut orgs: Vec<TokenOrg> = Vec::new();
        for (i, entry) in list.iter().enumerate() {
            let org = self.token_org(who, &entry.org).await?;
            if orgs.iter().any(|o| o.org == org.id) {
                return Err(Error::invalid(
                    format!("scope.orgs[{i}]"),
                    format!("organization '{}' is listed twice", entry.org),
                ));
            }
            let projects = match &entry.projects {
                None => {
                    if who
                        .scope
                        .org(org.id)
                        .is_some_and(|mine| mine.projects.is_some())
                    {
                        return Err(wider(format!(
                            "the API token's scope forbids a wider token: it reaches only some projects of '{}', list some of them in scope.orgs[{i}].projects",
                            org.slug
                        )));
                    }
                    None
                }
                Some(names) => {
                    if names.len() > MAX_TOKEN_SCOPE_ITEMS {
                        return Err(Error::invalid(
                            format!("scope.orgs[{i}].projects"),
                            format!("at most {MAX_TOKEN_SCOPE_ITEMS} projects"),
                        ));
                    }
                    let mut ids: Vec<ProjectId> = Vec::new();
                    for name in names {
                        let p = self.token_project(who, &org, name).await?;
                        if !ids.contains(&p.id) {
                            ids.push(p.id);
                        }
                    }
                    Some(ids)
                }
            };
            orgs.push(TokenOrg {
                org: org.id,
                projects,
            });
        }
        Ok(TokenScope {
            read_only: asked.read_only,
            orgs: Some(orgs),
        })
    }

    /// An organization a token may be restricted to, by slug or id: one `who` sees.
    async fn token_org(&self, who: &Principal, org: &str) -> Result<Organization> {
        let slug = match org.parse::<uuid::Uuid>() {
            Ok(id) => match self.inner.store.directory.org(OrgId(id)).await {
                Ok(o) => o.slug.to_string(),
                Err(e) if e.is_not_found() => return Err(Error::not_found("organization", org)),
                Err(e) => return Err(e),
            },
            Err(_) => org.to_string(),
        };
        self.authorize_org(who, &slug, Action::OrgView).await
    }

    /// A project of `org` a token may be restricted to, by name or id: one `who` sees.
    async fn token_project(
        &self,
        who: &Principal,
        org: &Organization,
        name: &str,
    ) -> Result<Project> {
        let store = &self.inner.store;
        let found = match name.parse::<uuid::Uuid>() {
            Ok(id) => match store.services.project(ProjectId(id)).await {
                Ok(p) => Some(p).filter(|p| p.org == org.id),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            },
            Err(_) => store.services.project_by_name_opt(org.id, name).await?,
        };
        found
            .filter(|p| who.can(Action::ProjectView, Some(org.id), Some(p.id)))
            .ok_or_else(|| Error::not_found("project", name))
    }

    async fn mint_token(
        &self,
        user: UserId,
        name: &str,
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        scope: TokenScope,
    ) -> Result<(ApiToken, String)> {
        let secret = new_secret();
        let token = ApiToken {
            id: ApiTokenId::new(),
            user,
            name: name.to_string(),
            token_sha256: token_hash(&secret),
            expires_at,
            scope,
            created_at,
        };
        self.inner.store.tokens.create_api_token(&token).await?;
        Ok((token, secret))
    }

    /// The first token of a bootstrap administrator: created (and its secret returned) only
    /// when the user has no token yet, so a server prints it once, on its first start. It has
    /// the whole of the administrator's rights and never expires, whatever the platform's
    /// [`TokenLifetime`]: whoever prints it should say so, and advise revoking it once other
    /// tokens exist. Errors: `Unavailable` (store).
    pub(crate) async fn ensure_bootstrap_token(&self, admin: &User) -> Result<Option<String>> {
        if !self
            .inner
            .store
            .tokens
            .list_api_tokens(admin.id)
            .await?
            .is_empty()
        {
            return Ok(None);
        }
        let (token, secret) = self
            .mint_token(
                admin.id,
                "bootstrap",
                self.now(),
                None,
                TokenScope::default(),
            )
            .await?;
        self.audit(
            None,
            None,
            "token.bootstrap",
            format!("token:{}", token.id),
            None,
            json(&token),
        )
        .await;
        Ok(Some(secret))
    }

    /// The principal a token secret stands for: its user's, narrowed to the token's scope
    /// ([`Principal::narrowed`]); `None` for unknown, malformed or expired tokens, and for
    /// tokens of disabled users. Errors: `Unavailable` (store).
    pub(crate) async fn authenticate_token(&self, secret: &str) -> Result<Option<Principal>> {
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 200 {
            return Ok(None);
        }
        let Some(token) = self
            .inner
            .store
            .tokens
            .api_token_by_hash_opt(&token_hash(secret))
            .await?
        else {
            return Ok(None);
        };
        if token.expires_at.is_some_and(|t| t <= self.now()) {
            return Ok(None);
        }
        match self.principal_for(token.user).await {
            Ok(p) => Ok(Some(p.narrowed(&token.scope, token.expires_at))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The principal's own tokens (secrets are never returned).
    pub(crate) async fn list_api_tokens(&self, who: &Principal) -> Result<Vec<ApiToken>> {
        self.inner.store.tokens.list_api_tokens(who.user).await
    }

    /// Revokes one of the principal's tokens (administrators: anyone's).
    /// Errors: `NotFound` (also for another user's token), `PermissionDenied` (a read-only
    /// token).
    pub(crate) async fn revoke_api_token(&self, who: &Principal, id: ApiTokenId) -> Result<()> {
        who.require_writable("token.revoke")?;
        let mine = self
            .inner
            .store
            .tokens
            .list_api_tokens(who.user)
            .await?
            .iter()
            .any(|t| t.id == id);
        if !mine && !who.platform_admin {
            return Err(Error::not_found("api token", id));
        }
        self.inner.store.tokens.delete_api_token(id).await?;
        self.audit(
            Some(who),
            None,
            "token.revoke",
            format!("token:{id}"),
            None,
            None,
        )
        .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_largest_whole_unit() {
        assert_eq!(describe(chrono::Duration::days(30)), "30 days");
        assert_eq!(describe(chrono::Duration::days(1)), "1 day");
        assert_eq!(describe(chrono::Duration::hours(12)), "12 hours");
        assert_eq!(describe(chrono::Duration::minutes(90)), "90 minutes");
        assert_eq!(describe(chrono::Duration::seconds(45)), "45 seconds");
    }

    #[test]
    fn a_lifetime_policy_needs_a_default_within_its_maximum() {
        let day = Duration::from_secs(86_400);
        assert!(TokenLifetime::default().validate().is_ok());
        assert!(
            TokenLifetime::new(Some(day), Some(day * 30))
                .validate()
                .is_ok()
        );
        let err = TokenLifetime::new(Some(day * 31), Some(day * 30))
            .validate()
            .unwrap_err();
        assert_eq!(err.field(), Some("token_lifetime.default"));
        let err = TokenLifetime::new(None, Some(Duration::ZERO))
            .validate()
            .unwrap_err();
        assert_eq!(err.field(), Some("token_lifetime.max"));
    }
}
