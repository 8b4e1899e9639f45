//! Plans and subscriptions: what an organization may use.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{OrgId, PlanId, SubscriptionId};
use crate::units::ResourceAmounts;
use crate::validate::{self, Name};

/// The limits of a plan, in internal units (see [`crate::units`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanLimits {
    /// Total CPU in millicores.
    pub cpu_millis: u64,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// Total volume storage in bytes.
    pub storage_bytes: u64,
    /// Most containers at once.
    pub max_containers: u64,
    /// Most projects.
    pub max_projects: u64,
    /// Most custom domains (hostname and path pairs) across the organization's services;
    /// [`PlanLimits::DEFAULT_MAX_DOMAINS`] when a plan does not say.
    #[serde(default = "PlanLimits::default_max_domains")]
    pub max_domains: u64,
    /// Most processes (pids) one container may run;
    /// [`PlanLimits::DEFAULT_MAX_PIDS`] when a plan does not say.
    #[serde(default = "PlanLimits::default_max_pids")]
    pub max_pids: u64,
    /// Total bytes the organization's backups may hold (stored, compressed);
    /// [`PlanLimits::DEFAULT_BACKUP_STORAGE_BYTES`] when a plan does not say.
    #[serde(default = "PlanLimits::default_backup_storage_bytes")]
    pub backup_storage_bytes: u64,
}

impl PlanLimits {
    /// The domain limit of a plan that names none (plans made before the limit existed).
    pub const DEFAULT_MAX_DOMAINS: u64 = 50;

    /// The per-container process limit of a plan that names none.
    pub const DEFAULT_MAX_PIDS: u64 = 1024;
    /// The backup storage of a plan that names none (50 GiB).
    pub const DEFAULT_BACKUP_STORAGE_BYTES: u64 = 50 * 1024 * 1024 * 1024;

    fn default_max_domains() -> u64 {
        Self::DEFAULT_MAX_DOMAINS
    }
    fn default_max_pids() -> u64 {
        Self::DEFAULT_MAX_PIDS
    }
    fn default_backup_storage_bytes() -> u64 {
        Self::DEFAULT_BACKUP_STORAGE_BYTES
    }

    /// The limits as resource amounts, for comparison with usage.
    pub fn as_amounts(&self) -> ResourceAmounts {
        ResourceAmounts {
            cpu_millis: self.cpu_millis,
            memory_bytes: self.memory_bytes,
            storage_bytes: self.storage_bytes,
            containers: self.max_containers,
            projects: self.max_projects,
        }
    }
}

impl Default for PlanLimits {
    /// Nothing but the default domain, process and backup limits.
    fn default() -> Self {
        Self {
            cpu_millis: 0,
            memory_bytes: 0,
            storage_bytes: 0,
            max_containers: 0,
            max_projects: 0,
            max_domains: Self::DEFAULT_MAX_DOMAINS,
            max_pids: Self::DEFAULT_MAX_PIDS,
            backup_storage_bytes: Self::DEFAULT_BACKUP_STORAGE_BYTES,
        }
    }
}

/// A named set of limits with a monthly price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    /// Id.
    pub id: PlanId,
    /// Unique name.
    pub name: Name,
    /// Name shown to customers.
    pub display_name: String,
    /// Limits.
    pub limits: PlanLimits,
    /// Monthly price in minor units (cents).
    pub monthly_price_cents: u64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// When the plan was created.
    pub created_at: DateTime<Utc>,
}

/// Input for creating a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct NewPlan {
    /// Unique name (DNS-label rules).
    pub name: String,
    /// Display name; the name when empty.
    #[serde(default)]
    pub display_name: String,
    /// Limits.
    pub limits: PlanLimits,
    /// Monthly price in cents.
    #[serde(default)]
    pub monthly_price_cents: u64,
    /// ISO 4217 currency code; `USD` when empty.
    #[serde(default)]
    pub currency: String,
}

impl NewPlan {
    /// A plan with this name and these limits.
    pub fn new(name: impl Into<String>, limits: PlanLimits) -> Self {
        Self {
            name: name.into(),
            display_name: String::new(),
            limits,
            monthly_price_cents: 0,
            currency: String::new(),
        }
    }

    /// Validates the input and builds the plan.
    pub fn build(self, now: DateTime<Utc>) -> Result<Plan> {
        let name = Name::parse_field("name", self.name)?;
        validate::text("display_name", &self.display_name, 200)?;
        let currency = if self.currency.is_empty() {
            "USD".to_string()
        } else {
            self.currency
        };
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(Error::invalid(
                "currency",
                "must be a three-letter ISO 4217 code such as USD or EUR",
            ));
        }
        let display_name = if self.display_name.trim().is_empty() {
            name.to_string()
        } else {
            self.display_name
        };
        Ok(Plan {
            id: PlanId::new(),
            name,
            display_name,
            limits: self.limits,
            monthly_price_cents: self.monthly_price_cents,
            currency,
            created_at: now,
        })
    }
}

/// Whether a subscription lets the organization deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Deploys allowed within the plan's limits.
    Active,
    /// Temporarily blocked (e.g. unpaid); nothing new may be deployed.
    Suspended,
    /// Ended; nothing new may be deployed.
    Cancelled,
}

impl SubscriptionStatus {
    /// The status as used in APIs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Cancelled => "cancelled",
        }
    }
}

/// An organization's subscription to a plan (one per organization).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    /// Id.
    pub id: SubscriptionId,
    /// The organization.
    pub org: OrgId,
    /// The plan.
    pub plan: PlanId,
    /// Status.
    pub status: SubscriptionStatus,
    /// Start of the current billing period.
    pub period_start: DateTime<Utc>,
    /// End of the current billing period.
    pub period_end: DateTime<Utc>,
    /// When the subscription was created.
    pub created_at: DateTime<Utc>,
}
