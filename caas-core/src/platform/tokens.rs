//! API tokens: created with a random secret shown once, stored as its SHA-256, and turned back
//! into a [`Principal`] by [`Platform::authenticate_token`].

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{ApiTokenId, UserId};
use crate::model::{ApiToken, User};
use crate::validate;

/// Every secret starts with this, so leaked tokens are easy to recognise (and to scan for).
pub const TOKEN_PREFIX: &str = "caas_";

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

impl Platform {
    /// Creates a token for `user` (the principal itself when `None`; platform administrators
    /// may create tokens for anyone), valid for `valid_for` (forever when `None`). Returns the
    /// token and its secret, which is never shown again. Errors: `InvalidInput` (`name`,
    /// `valid_for`: not positive, or too long), `PermissionDenied`, `NotFound` (user).
    pub async fn create_api_token(
        &self,
        who: &Principal,
        user: Option<UserId>,
        name: &str,
        valid_for: Option<chrono::Duration>,
    ) -> Result<(ApiToken, String)> {
        let user = match user {
            Some(u) if u != who.user => {
                who.require_admin(Action::UserManage)?;
                u
            }
            _ => who.user,
        };
        if name.trim().is_empty() {
            return Err(Error::invalid("name", "must not be empty"));
        }
        validate::text("name", name, 100)?;
        if let Some(d) = valid_for {
            // A token that expires at once is a mistake; one past the calendar would overflow.
            if d <= chrono::Duration::zero() {
                return Err(Error::invalid("valid_for", "must be positive"));
            }
            if self.now().checked_add_signed(d).is_none() {
                return Err(Error::invalid("valid_for", "is too long"));
            }
        }
        self.inner.store.user(user).await?;
        let (token, secret) = self.mint_token(user, name, valid_for).await?;
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

    async fn mint_token(
        &self,
        user: UserId,
        name: &str,
        valid_for: Option<chrono::Duration>,
    ) -> Result<(ApiToken, String)> {
        let secret = new_secret();
        let now = self.now();
        let token = ApiToken {
            id: ApiTokenId::new(),
            user,
            name: name.to_string(),
            token_sha256: token_hash(&secret),
            expires_at: valid_for.map(|d| now + d),
            created_at: now,
        };
        self.inner.store.create_api_token(&token).await?;
        Ok((token, secret))
    }

    /// The first token of a bootstrap administrator: created (and its secret returned) only
    /// when the user has no token yet, so a server prints it once, on its first start.
    /// Errors: `Unavailable` (store).
    pub async fn ensure_bootstrap_token(&self, admin: &User) -> Result<Option<String>> {
        if !self.inner.store.list_api_tokens(admin.id).await?.is_empty() {
            return Ok(None);
        }
        let (token, secret) = self.mint_token(admin.id, "bootstrap", None).await?;
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

    /// The principal a token secret stands for; `None` for unknown, malformed or expired
    /// tokens. Errors: `Unavailable` (store).
    pub async fn authenticate_token(&self, secret: &str) -> Result<Option<Principal>> {
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 200 {
            return Ok(None);
        }
        let Some(token) = self
            .inner
            .store
            .api_token_by_hash_opt(&token_hash(secret))
            .await?
        else {
            return Ok(None);
        };
        if token.expires_at.is_some_and(|t| t <= self.now()) {
            return Ok(None);
        }
        match self.principal_for(token.user).await {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The principal's own tokens (secrets are never returned).
    pub async fn list_api_tokens(&self, who: &Principal) -> Result<Vec<ApiToken>> {
        self.inner.store.list_api_tokens(who.user).await
    }

    /// Revokes one of the principal's tokens (administrators: anyone's).
    /// Errors: `NotFound` (also for another user's token), `PermissionDenied`.
    pub async fn revoke_api_token(&self, who: &Principal, id: ApiTokenId) -> Result<()> {
        let mine = self
            .inner
            .store
            .list_api_tokens(who.user)
            .await?
            .iter()
            .any(|t| t.id == id);
        if !mine && !who.platform_admin {
            return Err(Error::not_found("api token", id));
        }
        self.inner.store.delete_api_token(id).await?;
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
