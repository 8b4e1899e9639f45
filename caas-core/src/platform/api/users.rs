//! [`Users`]: user accounts.

use crate::auth::Principal;
use crate::error::Result;
use crate::model::{NewUser, User};
use crate::platform::{Account, AdminUserFilter, Platform, UserPage};

/// User accounts: creation, the administrators' directory, disabling and the caller's own account.
///
/// Borrowed from the platform with [`Platform::users`]; cheap to copy.
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
/// use caas_core::model::NewUser;
///
/// let ann = platform.users().create(&admin, NewUser::new("ann@example.com")).await?;
/// let found = platform.users().get(&admin, &ann.id.to_string()).await?;
/// assert_eq!(found.email, "ann@example.com");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Users<'a> {
    platform: &'a Platform,
}

impl Platform {
    /// The user accounts: see [`Users`].
    pub fn users(&self) -> Users<'_> {
        Users { platform: self }
    }
}

impl Users<'_> {
    /// Creates a user (platform admin only). Errors: `PermissionDenied`, `InvalidInput`,
    /// `AlreadyExists` (e-mail).
    pub async fn create(self, who: &Principal, new: NewUser) -> Result<User> {
        self.platform.create_user(who, new).await
    }

    /// Users whose e-mail address or display name contains the search, ordered by address,
    /// one page at a time (platform administrators only). Errors: `PermissionDenied`,
    /// `InvalidInput` (`limit`, `search`).
    pub async fn list(self, who: &Principal, filter: &AdminUserFilter) -> Result<UserPage> {
        self.platform.list_users(who, filter).await
    }

    /// A user by e-mail address or id (platform administrators only). Errors:
    /// `PermissionDenied`, `NotFound`, `InvalidInput` (`user`: neither an id nor an address).
    pub async fn get(self, who: &Principal, user: &str) -> Result<User> {
        self.platform.user(who, user).await
    }

    /// Disables a user (by e-mail address or id; platform administrators only): every token of
    /// theirs stops working at once, their memberships stay. Disabling a disabled user changes
    /// nothing. Errors: `PermissionDenied`, `NotFound`, `InvalidInput` (`user`), `Conflict`
    /// (the caller themselves).
    pub async fn disable(self, who: &Principal, user: &str) -> Result<User> {
        self.platform.disable_user(who, user).await
    }

    /// Re-enables a disabled user (platform administrators only): their tokens work again. Enabling
    /// an enabled user changes nothing. Errors: as
    /// [`Users::disable`](crate::platform::Users::disable), but `Conflict`.
    pub async fn enable(self, who: &Principal, user: &str) -> Result<User> {
        self.platform.enable_user(who, user).await
    }

    /// The calling user and their memberships (with a token restricted to organizations, only
    /// those it reaches). Errors: `NotFound` (the user was removed after the credential was
    /// checked).
    pub async fn me(self, who: &Principal) -> Result<Account> {
        self.platform.me(who).await
    }

    /// Creates the first platform administrator, or returns the existing user with that
    /// e-mail after making sure they are an administrator. A trusted bootstrap call for servers
    /// at start-up: it takes no principal. Errors: `InvalidInput`.
    pub async fn ensure_platform_admin(self, email: &str) -> Result<User> {
        self.platform.ensure_platform_admin(email).await
    }
}
