//! The store port: desired state and history.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{
    AlertId, ApiTokenId, AuditId, BackupId, DeploymentId, DomainId, InvitationId, OrgId, PlanId,
    ProjectId, ReservationId, ServiceId, TemplateInstanceId, UserId, VolumeId,
};
use crate::model::{
    Alert, ApiToken, AuditEntry, Backup, Deployment, Domain, HostClaim, Invitation, Member,
    MetricPoint, MetricSample, OrgStatus, Organization, Plan, Project, Reservation, Resolution,
    Service, ServiceEvent, StoredTemplate, Subscription, TemplateInstance, Usage, User, Volume,
};
use crate::ports::quota::QuotaGrant;
use crate::units::ResourceAmounts;

/// Filter and page for listing organizations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OrgFilter {
    /// Case-insensitive substring of the slug or display name.
    pub search: Option<String>,
    /// Only this status.
    pub status: Option<OrgStatus>,
    /// Page size (at most 500).
    pub limit: u32,
    /// Rows to skip.
    pub offset: u32,
}

impl Default for OrgFilter {
    fn default() -> Self {
        Self {
            search: None,
            status: None,
            limit: 100,
            offset: 0,
        }
    }
}

/// Search and page for listing users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserFilter {
    /// Substring of the e-mail address or display name; ASCII letters match either case,
    /// every other character only itself (so every backend answers alike).
    pub search: Option<String>,
    /// Page size (at most 500).
    pub limit: u32,
    /// Rows to skip.
    pub offset: u32,
}

impl Default for UserFilter {
    fn default() -> Self {
        Self {
            search: None,
            limit: 100,
            offset: 0,
        }
    }
}

impl UserFilter {
    /// Whether a user passes the search (the page aside).
    pub fn matches(&self, user: &User) -> bool {
        self.search.as_deref().is_none_or(|needle| {
            let needle = needle.to_ascii_lowercase();
            user.email.to_ascii_lowercase().contains(&needle)
                || user.display_name.to_ascii_lowercase().contains(&needle)
        })
    }
}

/// Filter for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditFilter {
    /// Only this organization.
    pub org: Option<OrgId>,
    /// Only actions starting with this (`service.`, `org.delete`).
    pub action_prefix: Option<String>,
    /// Only entries of this actor.
    pub actor: Option<UserId>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only entries before this time (to page back, see `before_id`).
    pub before: Option<DateTime<Utc>>,
    /// With `before`: also the entries at exactly `before` whose id is lower than this one.
    /// Paging back with the oldest entry's `at` and `id` (see [`AuditFilter::before_entry`])
    /// neither skips nor repeats entries that share a timestamp across a page boundary.
    pub before_id: Option<AuditId>,
    /// Newest first, at most this many (at most 1000).
    pub limit: u32,
}

/// The smallest string greater than every string starting with `prefix`, if there is one
/// (there is none when every character is `char::MAX`): `prefix` with its last character
/// replaced by the next one, after dropping trailing `char::MAX`es. UTF-8 sorts bytewise in
/// code-point order, so for stores comparing bytewise (SQLite's BINARY, PostgreSQL's "C"
/// collation) `prefix <= action < end` holds exactly when `action` starts with `prefix`: what
/// SQL stores use for [`AuditFilter::action_prefix`] instead of `LIKE`.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            // Surrogates are not characters: the one after U+D7FF is U+E000.
            '\u{d7ff}' => Some('\u{e000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// `at` rounded up to the microsecond: stores that keep whole microseconds compare
/// `stored >= t` and `stored < t` as `stored >= ceil(t)` and `stored < ceil(t)`. `None` when
/// rounding up passes chrono's last instant.
pub fn ceil_micros(at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let sub = at.timestamp_subsec_nanos() % 1000;
    if sub == 0 {
        Some(at)
    } else {
        at.checked_add_signed(chrono::Duration::nanoseconds(i64::from(1000 - sub)))
    }
}

impl Default for AuditFilter {
    fn default() -> Self {
        Self {
            org: None,
            action_prefix: None,
            actor: None,
            since: None,
            before: None,
            before_id: None,
            limit: 100,
        }
    }
}

impl AuditFilter {
    /// Only this organization's entries.
    pub fn org(mut self, org: OrgId) -> Self {
        self.org = Some(org);
        self
    }
    /// Only actions starting with `prefix`.
    pub fn action_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.action_prefix = Some(prefix.into());
        self
    }
    /// Only this actor's entries.
    pub fn actor(mut self, actor: UserId) -> Self {
        self.actor = Some(actor);
        self
    }
    /// Only entries at or after `at`.
    pub fn since(mut self, at: DateTime<Utc>) -> Self {
        self.since = Some(at);
        self
    }
    /// Only entries before `at` (to page back, use [`AuditFilter::before_entry`]).
    pub fn before(mut self, at: DateTime<Utc>) -> Self {
        self.before = Some(at);
        self
    }
    /// Only entries listed after `entry` (newest first): the next page after one ending with
    /// `entry`.
    pub fn before_entry(mut self, entry: &AuditEntry) -> Self {
        self.before = Some(entry.at);
        self.before_id = Some(entry.id);
        self
    }
    /// At most `limit` entries.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// Whether an entry passes the filter (the limit aside).
    pub fn matches(&self, e: &AuditEntry) -> bool {
        self.org.is_none_or(|o| e.org == Some(o))
            && self
                .action_prefix
                .as_ref()
                .is_none_or(|p| e.action.starts_with(p.as_str()))
            && self.actor.is_none_or(|a| e.actor == Some(a))
            && self.since.is_none_or(|t| e.at >= t)
            && self.before.is_none_or(|t| {
                e.at < t || (e.at == t && self.before_id.is_some_and(|id| e.id < id))
            })
    }
}

/// Platform-wide settings, and whether the database answers.
///
/// # Example
///
/// A platform-wide setting, as the runtime configuration is kept:
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::InMemoryStore;
/// # use caas_core::ports::store::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let now = chrono::Utc::now();
/// let store = InMemoryStore::new();
/// store.put_setting("banner", &serde_json::json!({"text": "maintenance at 02:00"})).await?;
/// assert_eq!(
///     store.setting_opt("banner").await?.unwrap()["text"],
///     "maintenance at 02:00"
/// );
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait SettingStore: Send + Sync + std::fmt::Debug + 'static {
    /// Checks the database answers. Errors: `Unavailable`.
    async fn ping(&self) -> Result<()>;

    // --- platform settings ---
    /// A platform-wide setting (e.g. `runtime`: the runtime configuration), as JSON.
    async fn setting_opt(&self, key: &str) -> Result<Option<serde_json::Value>>;
    /// Creates or replaces a platform-wide setting.
    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> Result<()>;
}

/// Who is who: users, organizations and memberships, read. A hosting panel that owns its
/// tenancy supplies this over its own tables (see the embedding guide, `docs/embedding.md`).
///
/// # Example
///
/// Mocking only the directory (feature `mock`): a test of a host application's wiring where
/// users and organizations come from the host and everything else from an in-memory store.
/// The platform asks the directory who the user is and which organization a slug names.
///
/// ```
/// # #[cfg(feature = "mock")] {
/// # use std::sync::Arc;
/// use caas_core::memory::{InMemoryRuntime, InMemoryStore};
/// use caas_core::model::{Member, NewOrganization, NewUser, Role};
/// use caas_core::ports::store::MockDirectory;
/// use caas_core::Platform;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// let now = chrono::Utc::now();
/// let user = NewUser::new("dev@panel.example").build(now)?;
/// let org = NewOrganization::new("acme").build(now)?;
/// let member = Member { org: org.id, user: user.id, role: Role::Member, projects: None, created_at: now };
///
/// let mut directory = MockDirectory::new();
/// let (u, m) = (user.clone(), member.clone());
/// directory.expect_user().returning(move |_| Ok(u.clone()));
/// directory.expect_memberships().returning(move |_| Ok(vec![m.clone()]));
/// let o = org.clone();
/// directory.expect_org_by_slug_opt().returning(move |_| Ok(Some(o.clone())));
///
/// let platform = Platform::builder()
///     .store(Arc::new(InMemoryStore::new()))
///     .directory(Arc::new(directory))
///     .runtime(Arc::new(InMemoryRuntime::new()))
///     .build()?;
/// let who = platform.principal_for(user.id).await?;
/// // The member sees the host's organization; it has no projects in caas-rs yet.
/// assert!(platform.projects().list(&who, "acme").await?.is_empty());
/// # Ok(())
/// # }
/// # }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Directory: Send + Sync + std::fmt::Debug + 'static {
    /// A user by id. Errors: `NotFound`.
    async fn user(&self, id: UserId) -> Result<User>;
    /// A user by (lowercase) e-mail.
    async fn user_by_email_opt(&self, email: &str) -> Result<Option<User>>;
    /// Users matching the search, ordered by e-mail address, one page of them.
    async fn list_users(&self, filter: &UserFilter) -> Result<Vec<User>>;
    /// An organization by id. Errors: `NotFound`.
    async fn org(&self, id: OrgId) -> Result<Organization>;
    /// An organization by slug.
    async fn org_by_slug_opt(&self, slug: &str) -> Result<Option<Organization>>;
    /// Organizations matching the filter, ordered by slug.
    async fn list_orgs(&self, filter: &OrgFilter) -> Result<Vec<Organization>>;
    /// Members of an organization.
    async fn members(&self, org: OrgId) -> Result<Vec<Member>>;
    /// Memberships of a user.
    async fn memberships(&self, user: UserId) -> Result<Vec<Member>>;
}

/// Changes to the directory. Absent when the host application owns its users,
/// organizations and members: the platform then refuses such changes ("managed by the host
/// application").
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::InMemoryStore;
/// # use caas_core::ports::store::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let now = chrono::Utc::now();
/// use caas_core::model::{Member, NewOrganization, NewUser, Role};
/// let store = InMemoryStore::new();
/// let user = NewUser::new("ops@acme.example").build(now)?;
/// let org = NewOrganization::new("acme").build(now)?;
/// store.create_user(&user).await?;
/// store.create_org(&org).await?;
/// store.put_member(&Member { org: org.id, user: user.id, role: Role::Owner, projects: None, created_at: now }).await?;
/// assert_eq!(store.members(org.id).await?.len(), 1);
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait DirectoryAdmin: Send + Sync + std::fmt::Debug + 'static {
    // --- users ---
    /// Creates a user. Errors: `AlreadyExists` (e-mail).
    async fn create_user(&self, user: &User) -> Result<()>;
    /// Disables or re-enables a user (nothing else changes; their memberships and tokens
    /// stay). Errors: `NotFound`.
    async fn set_user_disabled(&self, id: UserId, disabled: bool) -> Result<()>;

    // --- organizations ---
    /// Creates an organization. Errors: `AlreadyExists` (slug).
    async fn create_org(&self, org: &Organization) -> Result<()>;
    /// Replaces an organization's mutable fields (slug, display name, status).
    /// Errors: `NotFound`, `AlreadyExists` (slug).
    async fn update_org(&self, org: &Organization) -> Result<()>;
    /// Deletes an organization and everything it owns in the store. Errors: `NotFound`.
    async fn delete_org(&self, id: OrgId) -> Result<()>;

    // --- members ---
    /// Adds or replaces a membership. Errors: `NotFound` (org or user).
    async fn put_member(&self, member: &Member) -> Result<()>;
    /// Removes a membership; `false` when there was none.
    async fn remove_member(&self, org: OrgId, user: UserId) -> Result<bool>;
}

/// API tokens of users (only their hashes are stored).
///
/// # Example
///
/// Tokens are kept by the hash of their secret only:
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::InMemoryStore;
/// # use caas_core::ports::store::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let now = chrono::Utc::now();
/// use caas_core::model::{ApiToken, NewUser, TokenScope};
/// use caas_core::ApiTokenId;
/// let store = InMemoryStore::new();
/// let user = NewUser::new("ci@acme.example").build(now)?;
/// let token = ApiToken {
///     id: ApiTokenId::new(),
///     user: user.id,
///     name: "ci".into(),
///     token_sha256: "ab".repeat(32),
///     expires_at: None,
///     scope: TokenScope::default(),
///     created_at: now,
/// };
/// store.create_api_token(&token).await?;
/// assert_eq!(store.api_token_by_hash_opt(&"ab".repeat(32)).await?, Some(token));
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait TokenStore: Send + Sync + std::fmt::Debug + 'static {
    // --- API tokens ---
    /// Stores a token with its scope (organization and project lists kept in the order
    /// given; an empty list stays an empty list). Errors: `NotFound` (user), `AlreadyExists`
    /// (same hash or id).
    async fn create_api_token(&self, token: &ApiToken) -> Result<()>;
    /// The token with this secret hash.
    async fn api_token_by_hash_opt(&self, token_sha256: &str) -> Result<Option<ApiToken>>;
    /// Tokens of a user, oldest first.
    async fn list_api_tokens(&self, user: UserId) -> Result<Vec<ApiToken>>;
    /// Revokes a token. Errors: `NotFound`.
    async fn delete_api_token(&self, id: ApiTokenId) -> Result<()>;
}

/// Pending invitations to organizations.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::InMemoryStore;
/// # use caas_core::ports::store::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let now = chrono::Utc::now();
/// use caas_core::model::{Invitation, NewOrganization, NewUser, Role};
/// use caas_core::InvitationId;
/// let store = InMemoryStore::new();
/// let org = NewOrganization::new("acme").build(now)?;
/// let inviter = NewUser::new("owner@acme.example").build(now)?;
/// store.create_org(&org).await?;
/// store.create_user(&inviter).await?;
/// let invitation = Invitation {
///     id: InvitationId::new(),
///     org: org.id,
///     email: "new@acme.example".into(),
///     role: Role::Member,
///     projects: None,
///     token_sha256: "cd".repeat(32),
///     invited_by: inviter.id,
///     expires_at: now + chrono::Duration::days(7),
///     created_at: now,
/// };
/// store.create_invitation(&invitation).await?;
/// assert_eq!(store.list_invitations(org.id).await?, vec![invitation]);
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait InvitationStore: Send + Sync + std::fmt::Debug + 'static {
    // --- invitations ---
    /// Records an invitation. Errors: `NotFound` (org), `AlreadyExists` (id or token hash).
    async fn create_invitation(&self, invitation: &Invitation) -> Result<()>;
    /// An invitation by id. Errors: `NotFound`.
    async fn invitation(&self, id: InvitationId) -> Result<Invitation>;
    /// The invitation with this token hash.
    async fn invitation_by_hash_opt(&self, token_sha256: &str) -> Result<Option<Invitation>>;
    /// Invitations of an organization, oldest first.
    async fn list_invitations(&self, org: OrgId) -> Result<Vec<Invitation>>;
    /// Deletes an invitation (accepted, declined or revoked). Errors: `NotFound`.
    async fn delete_invitation(&self, id: InvitationId) -> Result<()>;
}

/// Plans and the organizations' subscriptions to them, read: where quotas come from. A hosting
/// panel that sells plans supplies this over its own tables.
///
/// # Example
///
/// A host application with one plan for everybody, kept in its configuration rather than a
/// table, is a plan source of a few lines:
///
/// ```
/// use async_trait::async_trait;
/// use caas_core::model::{NewPlan, Plan, PlanLimits, Subscription, SubscriptionStatus};
/// use caas_core::ports::store::PlanSource;
/// use caas_core::{OrgId, PlanId, Result, SubscriptionId};
///
/// #[derive(Debug)]
/// struct OnePlan(Plan);
///
/// #[async_trait]
/// impl PlanSource for OnePlan {
///     async fn plan(&self, id: PlanId) -> Result<Plan> {
///         if id == self.0.id { Ok(self.0.clone()) } else { Err(caas_core::Error::not_found("plan", id)) }
///     }
///     async fn plan_by_name_opt(&self, name: &str) -> Result<Option<Plan>> {
///         Ok((self.0.name.as_str() == name).then(|| self.0.clone()))
///     }
///     async fn list_plans(&self) -> Result<Vec<Plan>> {
///         Ok(vec![self.0.clone()])
///     }
///     async fn subscription_opt(&self, org: OrgId) -> Result<Option<Subscription>> {
///         let now = chrono::Utc::now();
///         Ok(Some(Subscription {
///             id: SubscriptionId(org.0), // one per organization, stable
///             org,
///             plan: self.0.id,
///             status: SubscriptionStatus::Active,
///             period_start: self.0.created_at,
///             period_end: now + chrono::Duration::days(30),
///             created_at: self.0.created_at,
///         }))
///     }
/// }
///
/// let limits = PlanLimits { cpu_millis: 2_000, memory_bytes: 4 << 30, storage_bytes: 20 << 30,
///     max_containers: 10, max_projects: 3, ..PlanLimits::default() };
/// let plans = OnePlan(NewPlan::new("standard", limits).build(chrono::Utc::now()).unwrap());
/// # let _ = plans;
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PlanSource: Send + Sync + std::fmt::Debug + 'static {
    /// A plan by id. Errors: `NotFound`.
    async fn plan(&self, id: PlanId) -> Result<Plan>;
    /// A plan by name.
    async fn plan_by_name_opt(&self, name: &str) -> Result<Option<Plan>>;
    /// All plans, ordered by name.
    async fn list_plans(&self) -> Result<Vec<Plan>>;
    /// The organization's subscription.
    async fn subscription_opt(&self, org: OrgId) -> Result<Option<Subscription>>;
}

/// Changes to plans and subscriptions. Absent when the host application owns its plans.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::InMemoryStore;
/// # use caas_core::ports::store::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let now = chrono::Utc::now();
/// use caas_core::model::{NewOrganization, NewPlan, PlanLimits, Subscription, SubscriptionStatus};
/// use caas_core::SubscriptionId;
/// let store = InMemoryStore::new();
/// let org = NewOrganization::new("acme").build(now)?;
/// store.create_org(&org).await?;
/// let plan = NewPlan::new("starter", PlanLimits { max_containers: 5, ..PlanLimits::default() }).build(now)?;
/// store.create_plan(&plan).await?;
/// store.put_subscription(&Subscription {
///     id: SubscriptionId::new(),
///     org: org.id,
///     plan: plan.id,
///     status: SubscriptionStatus::Active,
///     period_start: now,
///     period_end: now + chrono::Duration::days(30),
///     created_at: now,
/// }).await?;
/// assert_eq!(store.subscription_opt(org.id).await?.map(|s| s.plan), Some(plan.id));
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PlanAdmin: Send + Sync + std::fmt::Debug + 'static {
    // --- plans and subscriptions ---
    /// Creates a plan. Errors: `AlreadyExists` (name).
    async fn create_plan(&self, plan: &Plan) -> Result<()>;
    /// Replaces a plan's mutable fields (name, display name, limits, price, currency).
    /// Errors: `NotFound`, `AlreadyExists` (name).
    async fn update_plan(&self, plan: &Plan) -> Result<()>;
    /// Deletes a plan. Errors: `NotFound`, `Conflict` (subscriptions use it).
    async fn delete_plan(&self, id: PlanId) -> Result<()>;
    /// Creates or replaces the organization's subscription. Errors: `NotFound` (org or plan).
    async fn put_subscription(&self, sub: &Subscription) -> Result<()>;
}

/// Projects, their services and the services' deployments.
///
/// # Example
///
/// Projects (and services) belong to an organization by id only: the organization may be a
/// host application's, which this store does not hold.
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::InMemoryStore;
/// # use caas_core::ports::store::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let now = chrono::Utc::now();
/// use caas_core::model::Project;
/// use caas_core::validate::Name;
/// use caas_core::{OrgId, ProjectId};
/// let store = InMemoryStore::new();
/// let org = OrgId::new(); // the host application's
/// let project = Project { id: ProjectId::new(), org, name: Name::parse("web")?, reservation: None, created_at: now };
/// store.create_project(&project).await?;
/// assert_eq!(store.project_by_name_opt(org, "web").await?, Some(project));
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ServiceStore: Send + Sync + std::fmt::Debug + 'static {
    // --- projects ---
    /// Creates a project. Errors: `AlreadyExists` (name in org), `NotFound` (org).
    async fn create_project(&self, project: &Project) -> Result<()>;
    /// A project by id. Errors: `NotFound`.
    async fn project(&self, id: ProjectId) -> Result<Project>;
    /// A project by name in an organization.
    async fn project_by_name_opt(&self, org: OrgId, name: &str) -> Result<Option<Project>>;
    /// Projects of an organization.
    async fn list_projects(&self, org: OrgId) -> Result<Vec<Project>>;
    /// Deletes a project with its volume and template-instance records (backups stay).
    /// Errors: `NotFound`, `Conflict` (services remain).
    async fn delete_project(&self, id: ProjectId) -> Result<()>;

    // --- services and deployments ---
    /// Creates a service. Errors: `AlreadyExists` (name in project), `NotFound` (project).
    async fn create_service(&self, service: &Service) -> Result<()>;
    /// A service by id. Errors: `NotFound`.
    async fn service(&self, id: ServiceId) -> Result<Service>;
    /// A service by name in a project.
    async fn service_by_name_opt(&self, project: ProjectId, name: &str) -> Result<Option<Service>>;
    /// Services of an organization, optionally of one project.
    async fn list_services(&self, org: OrgId, project: Option<ProjectId>) -> Result<Vec<Service>>;
    /// Every service of every organization (for the reconciler).
    async fn list_all_services(&self) -> Result<Vec<Service>>;
    /// Replaces a service's mutable fields (spec, status, current deployment, reservation,
    /// updated-at); its id, organization, project, name, kind and creation time never change.
    /// Errors: `NotFound`.
    async fn update_service(&self, service: &Service) -> Result<()>;
    /// Deletes a service and its deployments. Errors: `NotFound`.
    async fn delete_service(&self, id: ServiceId) -> Result<()>;
    /// Records a deployment. Errors: `NotFound` (service, or organization), `AlreadyExists`.
    async fn create_deployment(&self, deployment: &Deployment) -> Result<()>;
    /// A deployment by id. Errors: `NotFound`.
    async fn deployment(&self, id: DeploymentId) -> Result<Deployment>;
    /// Replaces a deployment's mutable fields (status, container id, error, finished-at).
    /// Errors: `NotFound`.
    async fn update_deployment(&self, deployment: &Deployment) -> Result<()>;
    /// Deployments of a service, newest first.
    async fn list_deployments(&self, service: ServiceId) -> Result<Vec<Deployment>>;
}

/// Custom domains of services and the organizations' claims on hostnames.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::InMemoryStore;
/// # use caas_core::ports::store::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let now = chrono::Utc::now();
/// use caas_core::OrgId;
/// let store = InMemoryStore::new();
/// assert!(store.list_org_domains(OrgId::new()).await?.is_empty());
/// assert_eq!(store.host_claim_opt("shop.example.com").await?, None);
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait DomainStore: Send + Sync + std::fmt::Debug + 'static {
    // --- domains ---
    /// Adds a domain to a service under the organization's claim on its hostname, in one
    /// transaction: when no organization holds the hostname, `claim` (of the domain's
    /// organization and hostname) becomes its claim; when the domain's organization already
    /// holds it, that claim is kept and `claim` is ignored. A claim whose organization has no
    /// domain left on the hostname counts as released. When `grant` has a plan, its
    /// `max_domains` bounds how many domains the organization has (the domain being added
    /// included); an organization's domains are added one at a time so the count holds.
    /// Returns the claim the domain is under.
    ///
    /// Errors: `Conflict` (another organization holds the hostname; the message does not
    /// name it), `QuotaExceeded` (dimension `domains`), `AlreadyExists` (the organization
    /// already has this hostname and path prefix, or the id is taken), `NotFound` (service),
    /// `InvalidInput` (`claim` or `grant` is for another organization, or `claim` for
    /// another hostname).
    async fn create_domain(
        &self,
        domain: &Domain,
        claim: &HostClaim,
        grant: &QuotaGrant,
    ) -> Result<HostClaim>;
    /// A domain by id. Errors: `NotFound`.
    async fn domain(&self, id: DomainId) -> Result<Domain>;
    /// Domains of a service, oldest first.
    async fn list_domains(&self, service: ServiceId) -> Result<Vec<Domain>>;
    /// Domains of an organization, oldest first.
    async fn list_org_domains(&self, org: OrgId) -> Result<Vec<Domain>>;
    /// Domains on a hostname (its normalized key), whoever owns them, oldest first.
    async fn list_host_domains(&self, hostname: &str) -> Result<Vec<Domain>>;
    /// Domains below `base`, whoever owns them: every hostname ending in `.<base>` (so
    /// `*.<base>`, `shop.<base>` and `a.b.<base>`, not `<base>` itself), oldest first. The
    /// platform uses it to keep wildcards and the exact hosts they cover in one organization.
    async fn list_domains_under(&self, base: &str) -> Result<Vec<Domain>>;
    /// Replaces a domain's mutable fields (strip prefix, target port). Errors: `NotFound`.
    async fn update_domain(&self, domain: &Domain) -> Result<()>;
    /// Removes a domain; when it was its organization's last on the hostname, the claim is
    /// released too (and remembered, see [`DomainStore::site_verified_by_others`]). Errors:
    /// `NotFound`.
    async fn delete_domain(&self, id: DomainId) -> Result<()>;

    // --- hostname claims ---
    /// The live claim on a hostname (its normalized key): `None` when nobody holds it or
    /// its organization has no domain left on it.
    async fn host_claim_opt(&self, hostname: &str) -> Result<Option<HostClaim>>;
    /// Every live claim of an organization (or of all organizations), oldest first.
    async fn list_host_claims(&self, org: Option<OrgId>) -> Result<Vec<HostClaim>>;
    /// Records a claim's verification and readiness (nothing else changes). Errors:
    /// `NotFound` (no claim of that organization on that hostname).
    async fn update_host_claim(&self, claim: &HostClaim) -> Result<()>;
    /// Releases an organization's claim on a hostname with all its domains there, in one
    /// transaction, and returns those domains. Only a claim that is not verified and
    /// expired at `now` is released; anything else is left alone and the answer is empty.
    async fn release_expired_host_claim(
        &self,
        hostname: &str,
        org: OrgId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Domain>>;
    /// Whether an organization other than `org` holds a verified claim on a name of `site`
    /// (see [`HostClaim::site`]) or ever released one. The platform then refuses to take a
    /// request reaching it for a name of that site as proof of ownership: a record left
    /// pointing at the platform, or a customer's DNS wildcard, would answer for anyone.
    async fn site_verified_by_others(&self, site: &str, org: OrgId) -> Result<bool>;
}

/// Persistent volumes and their backups.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::InMemoryStore;
/// # use caas_core::ports::store::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let now = chrono::Utc::now();
/// use caas_core::OrgId;
/// let store = InMemoryStore::new();
/// assert!(store.list_volumes(OrgId::new(), None).await?.is_empty());
/// assert!(store.list_all_volumes().await?.is_empty());
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait VolumeStore: Send + Sync + std::fmt::Debug + 'static {
    // --- volumes ---
    /// Creates a volume. Errors: `AlreadyExists` (name in project), `NotFound` (project, or
    /// the project is not the organization's).
    async fn create_volume(&self, volume: &Volume) -> Result<()>;
    /// A volume by id. Errors: `NotFound`.
    async fn volume(&self, id: VolumeId) -> Result<Volume>;
    /// A volume by name in a project.
    async fn volume_by_name_opt(&self, project: ProjectId, name: &str) -> Result<Option<Volume>>;
    /// Volumes of an organization, optionally of one project, oldest first.
    async fn list_volumes(&self, org: OrgId, project: Option<ProjectId>) -> Result<Vec<Volume>>;
    /// Every volume of every organization (for usage checks and backup schedules).
    async fn list_all_volumes(&self) -> Result<Vec<Volume>>;
    /// Replaces a volume's mutable fields (size, runtime name, reservation, state, usage,
    /// backup schedule); its id, organization, project, name and creation time never change.
    /// Errors: `NotFound`.
    async fn update_volume(&self, volume: &Volume) -> Result<()>;
    /// Deletes a volume record (its backups stay). Errors: `NotFound`.
    async fn delete_volume(&self, id: VolumeId) -> Result<()>;

    // --- backups ---
    /// Records a backup. Errors: `NotFound` (organization), `AlreadyExists`.
    async fn create_backup(&self, backup: &Backup) -> Result<()>;
    /// A backup by id. Errors: `NotFound`.
    async fn backup(&self, id: BackupId) -> Result<Backup>;
    /// Backups of a volume, newest first.
    async fn list_backups(&self, volume: VolumeId) -> Result<Vec<Backup>>;
    /// Backups of an organization (of volumes alive or deleted), newest first.
    async fn list_org_backups(&self, org: OrgId) -> Result<Vec<Backup>>;
    /// Replaces a backup's mutable fields (status, sizes, digest, location, error,
    /// finished-at). Errors: `NotFound`.
    async fn update_backup(&self, backup: &Backup) -> Result<()>;
    /// Deletes a backup record. Errors: `NotFound`.
    async fn delete_backup(&self, id: BackupId) -> Result<()>;
}

/// What happened: service events, the audit log and alerts.
///
/// # Example
///
/// The audit log, newest first:
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::InMemoryStore;
/// # use caas_core::ports::store::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let now = chrono::Utc::now();
/// use caas_core::model::AuditEntry;
/// use caas_core::ports::store::AuditFilter;
/// use caas_core::{AuditId, OrgId};
/// let store = InMemoryStore::new();
/// let org = OrgId::new();
/// store.append_audit(&AuditEntry {
///     id: AuditId::new(),
///     at: now,
///     actor: None,
///     org: Some(org),
///     action: "service.deploy".into(),
///     target: "service:api".into(),
///     before: None,
///     after: None,
/// }).await?;
/// let mut filter = AuditFilter::default();
/// filter.org = Some(org);
/// assert_eq!(store.list_audit(&filter).await?.len(), 1);
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait HistoryStore: Send + Sync + std::fmt::Debug + 'static {
    // --- alerts ---
    /// Creates or replaces an alert (by id). At most one alert of a rule and subject fires at
    /// a time in an organization. Errors: `NotFound` (organization), `AlreadyExists` (another
    /// alert of this rule and subject is firing: two evaluators raised it at once).
    async fn put_alert(&self, alert: &Alert) -> Result<()>;
    /// The firing alert of `rule` about `subject` in an organization, if any.
    async fn firing_alert_opt(
        &self,
        org: OrgId,
        rule: &str,
        subject: &str,
    ) -> Result<Option<Alert>>;
    /// Alerts of an organization, newest first (only firing ones when `firing_only`), at
    /// most `limit` (capped at 1000).
    async fn list_alerts(&self, org: OrgId, firing_only: bool, limit: u32) -> Result<Vec<Alert>>;
    /// An alert by id. Errors: `NotFound`.
    async fn alert(&self, id: AlertId) -> Result<Alert>;

    // --- events and audit ---
    /// Appends a service event. Errors: `NotFound` (service, or organization).
    async fn append_event(&self, event: &ServiceEvent) -> Result<()>;
    /// Events of a service, newest first, at most `limit` (capped at 1000).
    async fn list_events(&self, service: ServiceId, limit: u32) -> Result<Vec<ServiceEvent>>;
    /// Appends an audit entry.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// Audit entries passing the filter, newest first.
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
}

/// Administrators' application templates and the instances deployed from templates.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::InMemoryStore;
/// # use caas_core::ports::store::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let now = chrono::Utc::now();
/// let store = InMemoryStore::new();
/// // A fresh store holds no template of its own; the platform seeds the built-in catalogue.
/// assert!(store.template_opt("wordpress").await?.is_none());
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait TemplateStore: Send + Sync + std::fmt::Debug + 'static {
    // --- templates ---
    /// Creates or replaces an administrator's template (by id).
    async fn put_template(&self, template: &StoredTemplate) -> Result<()>;
    /// A stored template by id.
    async fn template_opt(&self, id: &str) -> Result<Option<StoredTemplate>>;
    /// Every stored template, by position then id.
    async fn list_templates(&self) -> Result<Vec<StoredTemplate>>;
    /// Deletes a stored template. Errors: `NotFound`.
    async fn delete_template(&self, id: &str) -> Result<()>;
    /// Records a template instance. Errors: `AlreadyExists` (name in project), `NotFound`
    /// (project, or the project is not the organization's).
    async fn create_template_instance(&self, instance: &TemplateInstance) -> Result<()>;
    /// An instance by id. Errors: `NotFound`.
    async fn template_instance(&self, id: TemplateInstanceId) -> Result<TemplateInstance>;
    /// An instance by name in a project.
    async fn template_instance_by_name_opt(
        &self,
        project: ProjectId,
        name: &str,
    ) -> Result<Option<TemplateInstance>>;
    /// Instances of an organization, optionally of one project, oldest first.
    async fn list_template_instances(
        &self,
        org: OrgId,
        project: Option<ProjectId>,
    ) -> Result<Vec<TemplateInstance>>;
    /// Deletes an instance record (not its services). Errors: `NotFound`.
    async fn delete_template_instance(&self, id: TemplateInstanceId) -> Result<()>;
}

/// Quota reservations: what each organization holds against its plan.
///
/// # Example
///
/// The ledger checks what it is handed: the organization's [`QuotaGrant`] (its plan, read
/// from the plan source by the engine).
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::InMemoryStore;
/// # use caas_core::ports::store::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let now = chrono::Utc::now();
/// use caas_core::model::{NewPlan, PlanLimits, Subscription, SubscriptionStatus};
/// use caas_core::units::ResourceAmounts;
/// use caas_core::{OrgId, QuotaGrant, SubscriptionId};
/// let store = InMemoryStore::new();
/// let org = OrgId::new();
/// let plan = NewPlan::new("one", PlanLimits { max_containers: 1, ..PlanLimits::default() }).build(now)?;
/// let grant = QuotaGrant {
///     org,
///     org_slug: "acme".into(),
///     subscription: Some(Subscription {
///         id: SubscriptionId::new(), org, plan: plan.id, status: SubscriptionStatus::Active,
///         period_start: now, period_end: now + chrono::Duration::days(30), created_at: now,
///     }),
///     plan: Some(plan),
/// };
/// let one = ResourceAmounts { containers: 1, ..ResourceAmounts::ZERO };
/// let expires = now + chrono::Duration::minutes(15);
/// store.quota_reserve(&grant, one, now, expires).await?;
/// let second = store.quota_reserve(&grant, one, now, expires).await;
/// assert!(second.unwrap_err().is_quota_exceeded());
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait QuotaLedger: Send + Sync + std::fmt::Debug + 'static {
    // --- quota ---
    /// Atomically checks `amounts` against `grant` (counting the organization's committed and
    /// unexpired pending reservations) and, if they fit, records a pending reservation of
    /// `grant.org` expiring at `expires_at`. Reservations of one organization are serialized,
    /// so concurrent calls never together exceed a limit. The ledger does not look the
    /// organization or its plan up: the grant says what it may hold.
    /// Errors: `QuotaExceeded` naming every exceeded dimension; `Conflict` when the grant has
    /// no subscription or it is not active.
    async fn quota_reserve(
        &self,
        grant: &QuotaGrant,
        amounts: ResourceAmounts,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Reservation>;
    /// Turns a pending reservation into a committed one held by `owner`; committing a committed
    /// reservation again is a no-op. Errors: `NotFound`, `Conflict` (released or expired).
    async fn quota_commit(&self, id: ReservationId, owner: &str, now: DateTime<Utc>) -> Result<()>;
    /// Changes the amounts a live (pending or committed) reservation holds, atomically like
    /// [`QuotaLedger::quota_reserve`]: increases are checked against `grant` (only the
    /// dimensions that grow, and only with an active subscription); decreases always succeed.
    /// Returns the updated reservation. Errors: `QuotaExceeded`, `Conflict` (released, or
    /// subscription not active for an increase), `NotFound`, `InvalidInput` (the grant is not
    /// the reservation's organization's).
    async fn quota_resize(
        &self,
        id: ReservationId,
        grant: &QuotaGrant,
        amounts: ResourceAmounts,
        now: DateTime<Utc>,
    ) -> Result<Reservation>;
    /// Releases a reservation (pending or committed); releasing twice is a no-op.
    /// Errors: `NotFound`.
    async fn quota_release(&self, id: ReservationId) -> Result<()>;
    /// A reservation by id. Errors: `NotFound`.
    async fn reservation(&self, id: ReservationId) -> Result<Reservation>;
    /// What `grant.org` holds now, against the granted plan.
    async fn quota_usage(&self, grant: &QuotaGrant, now: DateTime<Utc>) -> Result<Usage>;
    /// Releases pending reservations that expired before `now`; returns how many.
    async fn quota_expire(&self, now: DateTime<Utc>) -> Result<u64>;
}

/// Resource-usage history: raw samples and their roll-ups.
///
/// # Example
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::memory::InMemoryStore;
/// # use caas_core::ports::store::prelude::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> caas_core::Result<()> {
/// # let now = chrono::Utc::now();
/// use caas_core::model::Resolution;
/// use caas_core::ServiceId;
/// let store = InMemoryStore::new();
/// let points = store
///     .query_metrics(ServiceId::new(), Resolution::Minute, now - chrono::Duration::hours(1), now)
///     .await?;
/// assert!(points.is_empty());
/// # Ok(())
/// # }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait MetricStore: Send + Sync + std::fmt::Debug + 'static {
    // --- metrics ---
    /// Stores raw samples in one batch; returns how many. Samples are history: they are not
    /// tied to the service row and outlive it until retention drops them.
    async fn insert_metrics(&self, samples: &[MetricSample]) -> Result<u64>;
    /// Rolls `resolution` (not `Raw`) up from its source resolution for every bucket that
    /// starts at or after `since`'s bucket and ends at or before `until`, replacing buckets
    /// rolled before (idempotent); returns the buckets written. Averages are weighted by
    /// sample counts, so any level equals the raw data it summarises.
    /// Errors: `InvalidInput` for `Raw`.
    async fn rollup_metrics(
        &self,
        resolution: Resolution,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<u64>;
    /// Points of a service at `resolution` with `from <= at < to`, oldest first (at most
    /// 10 000).
    async fn query_metrics(
        &self,
        service: ServiceId,
        resolution: Resolution,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MetricPoint>>;
    /// Drops points of `resolution` older than `before`; returns how many rows went (stores
    /// that drop whole time partitions may report an estimate).
    async fn delete_metrics_before(
        &self,
        resolution: Resolution,
        before: DateTime<Utc>,
    ) -> Result<u64>;
}

/// Desired state and history of everything the platform manages: every area port at once.
///
/// Lists are ordered by creation (ids are time-ordered) unless a method says otherwise. Errors
/// common to every method: `Unavailable` when the database cannot be reached (retryable),
/// `Backend` for anything unexpected. Look-ups by id fail with `NotFound`; creates of an
/// existing identity fail with `AlreadyExists`.
///
/// Implemented by every type that implements all the area traits (the SQL and in-memory
/// stores do); [`crate::PlatformBuilder::store`] takes one and uses it for every area, and the
/// builder's per-area methods replace single areas (a host application's own directory and
/// plans, for instance).
pub trait Store:
    SettingStore
    + Directory
    + DirectoryAdmin
    + TokenStore
    + InvitationStore
    + PlanSource
    + PlanAdmin
    + ServiceStore
    + DomainStore
    + VolumeStore
    + HistoryStore
    + TemplateStore
    + QuotaLedger
    + MetricStore
{
}

impl<T> Store for T where
    T: SettingStore
        + Directory
        + DirectoryAdmin
        + TokenStore
        + InvitationStore
        + PlanSource
        + PlanAdmin
        + ServiceStore
        + DomainStore
        + VolumeStore
        + HistoryStore
        + TemplateStore
        + QuotaLedger
        + MetricStore
{
}

/// The store, area by area: what [`crate::Platform`] reads and writes through.
///
/// [`StoreParts::from_store`] takes every area from one [`Store`]; replace single fields to
/// back an area with something else, for instance a host application's own [`Directory`] and
/// [`PlanSource`] over its own tables. Without [`StoreParts::directory_admin`] (or
/// [`StoreParts::plan_admin`]) the platform refuses to change users, organizations and
/// members (or plans and subscriptions): they are managed by the host application.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreParts {
    /// Platform-wide settings and the health check.
    pub settings: Arc<dyn SettingStore>,
    /// Users, organizations and members, read.
    pub directory: Arc<dyn Directory>,
    /// Changes to the directory; `None` when the host application owns it.
    pub directory_admin: Option<Arc<dyn DirectoryAdmin>>,
    /// API tokens.
    pub tokens: Arc<dyn TokenStore>,
    /// Invitations (refused when the directory has no admin: accepting one adds a member).
    pub invitations: Arc<dyn InvitationStore>,
    /// Plans and subscriptions, read.
    pub plans: Arc<dyn PlanSource>,
    /// Changes to plans and subscriptions; `None` when the host application owns them.
    pub plan_admin: Option<Arc<dyn PlanAdmin>>,
    /// Projects, services and deployments.
    pub services: Arc<dyn ServiceStore>,
    /// Domains and hostname claims.
    pub domains: Arc<dyn DomainStore>,
    /// Volumes and backups.
    pub volumes: Arc<dyn VolumeStore>,
    /// Events, audit log and alerts.
    pub history: Arc<dyn HistoryStore>,
    /// Templates and template instances.
    pub templates: Arc<dyn TemplateStore>,
    /// Quota reservations.
    pub quota: Arc<dyn QuotaLedger>,
    /// Metric history.
    pub metrics: Arc<dyn MetricStore>,
}

impl StoreParts {
    /// Every area from `store`, with both admin parts.
    pub fn from_store(store: Arc<dyn Store>) -> Self {
        Self {
            settings: store.clone(),
            directory: store.clone(),
            directory_admin: Some(store.clone()),
            tokens: store.clone(),
            invitations: store.clone(),
            plans: store.clone(),
            plan_admin: Some(store.clone()),
            services: store.clone(),
            domains: store.clone(),
            volumes: store.clone(),
            history: store.clone(),
            templates: store.clone(),
            quota: store.clone(),
            metrics: store,
        }
    }

    /// The directory's admin part. Errors: `Conflict` when the host application manages
    /// users, organizations and members.
    pub fn directory_admin(&self) -> Result<&Arc<dyn DirectoryAdmin>> {
        self.directory_admin.as_ref().ok_or_else(|| {
            crate::Error::conflict(
                "users, organizations and members are managed by the host application; change them there",
            )
        })
    }

    /// The plans' admin part. Errors: `Conflict` when the host application manages plans
    /// and subscriptions.
    pub fn plan_admin(&self) -> Result<&Arc<dyn PlanAdmin>> {
        self.plan_admin.as_ref().ok_or_else(|| {
            crate::Error::conflict(
                "plans and subscriptions are managed by the host application; change them there",
            )
        })
    }
}

/// Every area trait, to call store methods on a concrete store (`use
/// caas_core::ports::store::prelude::*;`). Through `Arc<dyn Store>` they need no import.
pub mod prelude {
    pub use super::{
        Directory, DirectoryAdmin, DomainStore, HistoryStore, InvitationStore, MetricStore,
        PlanAdmin, PlanSource, QuotaLedger, ServiceStore, SettingStore, Store, TemplateStore,
        TokenStore, VolumeStore,
    };
}

#[cfg(test)]
mod prefix_tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_is_the_next_string_after_every_extension() {
        assert_eq!(prefix_end("service.").as_deref(), Some("service/"));
        assert_eq!(prefix_end("a%").as_deref(), Some("a&"));
        assert_eq!(prefix_end("a_").as_deref(), Some("a`"));
        assert_eq!(prefix_end("a\\").as_deref(), Some("a]"));
        assert_eq!(prefix_end("\u{e9}").as_deref(), Some("\u{ea}"));
        assert_eq!(prefix_end("x\u{7f}").as_deref(), Some("x\u{80}"));
        assert_eq!(prefix_end("x\u{d7ff}").as_deref(), Some("x\u{e000}"));
        assert_eq!(prefix_end("z\u{10ffff}").as_deref(), Some("{"));
        assert_eq!(prefix_end("\u{10ffff}"), None);
        assert_eq!(prefix_end("\u{10ffff}\u{10ffff}"), None);
        assert_eq!(prefix_end(""), None);
    }
}
