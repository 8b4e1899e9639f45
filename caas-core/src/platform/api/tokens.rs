//! [`Tokens`]: API tokens and the authentication of their secrets.

use crate::auth::Principal;
use crate::error::Result;
use crate::ids::{ApiTokenId, UserId};
use crate::model::{ApiToken, User};
use crate::platform::{NewApiToken, Platform};

/// API tokens: creation, listing, revocation, and authentication of a bearer secret.
///
/// Borrowed from the platform with [`Platform::tokens`]; cheap to copy.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::{InMemoryRuntime, InMemoryStore};
/// # use caas_core::model::{NewOrganization, NewPlan, PlanLimits, SubscriptionStatus};
/// # use caas_core::platform::NewProject;
/// # use caas_core::units::GIB;
/// # use caas_core::Platform;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let runtime = InMemoryRuntime::new();
/// # runtime.add_image("caas/busybox:latest");
/// # let platform = Platform::builder()
/// #     .store(Arc::new(InMemoryStore::new()))
/// #     .runtime(Arc::new(runtime))
/// #     .build()?;
/// # let admin = platform.users().ensure_platform_admin("ops@example.com").await?;
/// # let admin = platform.principal_for(admin.id).await?;
/// # let limits = PlanLimits {
/// #     cpu_millis: 2_000,
/// #     memory_bytes: 2 * GIB,
/// #     storage_bytes: 10 * GIB,
/// #     max_containers: 5,
/// #     max_projects: 2,
/// #     max_domains: 10,
/// #     max_pids: 512,
/// #     backup_storage_bytes: 20 * GIB,
/// # };
/// # platform.plans().create(&admin, NewPlan::new("starter", limits)).await?;
/// # platform.orgs().create(&admin, NewOrganization::new("acme"), None).await?;
/// # platform
/// #     .orgs()
/// #     .set_subscription(&admin, "acme", "starter", SubscriptionStatus::Active)
/// #     .await?;
/// # platform.projects().create(&admin, "acme", NewProject::new("shop")).await?;
/// use caas_core::platform::NewApiToken;
///
/// let (token, secret) = platform.tokens().create(&admin, None, NewApiToken::new("ci")).await?;
/// let principal = platform.tokens().authenticate(&secret).await?.expect("a valid token");
/// assert_eq!(principal.user, admin.user);
/// platform.tokens().revoke(&admin, token.id).await?;
/// assert!(platform.tokens().authenticate(&secret).await?.is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// The API tokens and the authentication of their secrets: see [`Tokens`].
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens { platform: self }
    }
}

impl Tokens<'_> {
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
    pub async fn create(
        self,
        who: &Principal,
        user: Option<UserId>,
        new: NewApiToken,
    ) -> Result<(ApiToken, String)> {
        self.platform.create_api_token(who, user, new).await
    }

    /// The principal's own tokens (secrets are never returned).
    pub async fn list(self, who: &Principal) -> Result<Vec<ApiToken>> {
        self.platform.list_api_tokens(who).await
    }

    /// Revokes one of the principal's tokens (administrators: anyone's).
    /// Errors: `NotFound` (also for another user's token), `PermissionDenied` (a read-only
    /// token).
    pub async fn revoke(self, who: &Principal, id: ApiTokenId) -> Result<()> {
        self.platform.revoke_api_token(who, id).await
    }

    /// The principal a token secret stands for: its user's, narrowed to the token's scope
    /// ([`Principal::narrowed`]); `None` for unknown, malformed or expired tokens, and for
    /// tokens of disabled users. Errors: `Unavailable` (store).
    pub async fn authenticate(self, secret: &str) -> Result<Option<Principal>> {
        self.platform.authenticate_token(secret).await
    }

    /// The first token of a bootstrap administrator: created (and its secret returned) only when
    /// the user has no token yet, so a server prints it once, on its first start. It has the whole
    /// of the administrator's rights and never expires, whatever the platform's
    /// [`TokenLifetime`](crate::platform::TokenLifetime): whoever prints it should say so, and
    /// advise revoking it once other tokens exist. Errors: `Unavailable` (store).
    pub async fn ensure_bootstrap(self, admin: &User) -> Result<Option<String>> {
        self.platform.ensure_bootstrap_token(admin).await
    }
}
