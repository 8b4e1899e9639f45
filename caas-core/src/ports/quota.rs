//! The quota engine port and its default implementation over the [`crate::Store`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::{OrgId, ReservationId};
use crate::model::{Reservation, Usage};
use crate::ports::clock::Clock;
use crate::ports::store::QuotaLedger;
use crate::units::ResourceAmounts;

/// Reserves resources against an organization's plan before anything is created.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait QuotaEngine: Send + Sync + std::fmt::Debug + 'static {
    /// Reserves `amounts`. Errors: `QuotaExceeded`, `Conflict` (no active subscription),
    /// `NotFound` (org), `Unavailable`.
    async fn reserve(&self, org: OrgId, amounts: ResourceAmounts) -> Result<Reservation>;
    /// Commits a reservation to an owner (`service:<id>`). Errors: `NotFound`, `Conflict`.
    async fn commit(&self, reservation: ReservationId, owner: &str) -> Result<()>;
    /// Changes what a live reservation holds (scale, update); increases are checked against
    /// the plan. Errors: `QuotaExceeded`, `Conflict`, `NotFound`.
    async fn resize(
        &self,
        reservation: ReservationId,
        amounts: ResourceAmounts,
    ) -> Result<Reservation>;
    /// Releases a reservation; idempotent. Errors: `NotFound`.
    async fn release(&self, reservation: ReservationId) -> Result<()>;
    /// Current usage. Errors: `NotFound`.
    async fn usage(&self, org: OrgId) -> Result<Usage>;
}

/// The default [`QuotaEngine`]: enforces the organization's plan atomically through the store.
#[derive(Debug, Clone)]
pub struct StoreQuotaEngine {
    store: Arc<dyn QuotaLedger>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
}

impl StoreQuotaEngine {
    /// Pending reservations expire after this long unless committed (a crashed deploy's
    /// reservation stops counting by itself).
    pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

    /// An engine over `store`'s quota ledger (any [`crate::Store`] is one).
    pub fn new(store: Arc<dyn QuotaLedger>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            ttl: Self::DEFAULT_TTL,
        }
    }

    /// Sets how long pending reservations live.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
}

#[async_trait]
impl QuotaEngine for StoreQuotaEngine {
    async fn reserve(&self, org: OrgId, amounts: ResourceAmounts) -> Result<Reservation> {
        let now = self.clock.now();
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::minutes(15));
        self.store.quota_reserve(org, amounts, now, now + ttl).await
    }

    async fn commit(&self, reservation: ReservationId, owner: &str) -> Result<()> {
        self.store
            .quota_commit(reservation, owner, self.clock.now())
            .await
    }

    async fn resize(
        &self,
        reservation: ReservationId,
        amounts: ResourceAmounts,
    ) -> Result<Reservation> {
        self.store
            .quota_resize(reservation, amounts, self.clock.now())
            .await
    }

    async fn release(&self, reservation: ReservationId) -> Result<()> {
        self.store.quota_release(reservation).await
    }

    async fn usage(&self, org: OrgId) -> Result<Usage> {
        self.store.quota_usage(org, self.clock.now()).await
    }
}

/// Checks that the subscription lets the organization reserve anything. Shared by every store
/// so all backends refuse with the same words. Errors: `Conflict`.
pub fn check_subscription(org_slug: &str, sub: Option<&crate::model::Subscription>) -> Result<()> {
    use crate::model::SubscriptionStatus;
    match sub {
        None => Err(crate::Error::conflict(format!(
            "organization '{org_slug}' has no subscription; a platform admin must subscribe it to a plan first"
        ))),
        Some(s) if s.status != SubscriptionStatus::Active => Err(crate::Error::conflict(format!(
            "the subscription of organization '{org_slug}' is {}; nothing can be deployed until it is active again",
            s.status.as_str()
        ))),
        Some(_) => Ok(()),
    }
}

/// Checks `requested` on top of `used` against the plan's limits, naming every exceeded
/// dimension. Dimensions not requested are not checked, so releasing never fails. Shared by
/// every store. Errors: `QuotaExceeded`.
pub fn check_limits(
    org_slug: &str,
    plan: &crate::model::Plan,
    used: &ResourceAmounts,
    requested: &ResourceAmounts,
) -> Result<()> {
    let limits = plan.limits.as_amounts().dimensions();
    let dimensions: Vec<crate::error::DimensionExceeded> = used
        .dimensions()
        .iter()
        .zip(requested.dimensions())
        .zip(limits)
        .filter(|(((_, u), (_, r)), (_, l))| *r > 0 && u.saturating_add(*r) > *l)
        .map(
            |(((name, u), (_, r)), (_, l))| crate::error::DimensionExceeded {
                dimension: (*name).to_string(),
                used: *u,
                requested: r,
                limit: l,
            },
        )
        .collect();
    if dimensions.is_empty() {
        Ok(())
    } else {
        Err(crate::error::QuotaExceeded {
            org: org_slug.to_string(),
            plan: plan.name.to_string(),
            dimensions,
        }
        .into())
    }
}

/// Checks one more domain on top of the organization's `used` domains against the plan's
/// `max_domains`. Shared by every store. Errors: `QuotaExceeded` (dimension `domains`).
pub fn check_domain_limit(org_slug: &str, plan: &crate::model::Plan, used: u64) -> Result<()> {
    let limit = plan.limits.max_domains;
    if used < limit {
        return Ok(());
    }
    Err(crate::error::QuotaExceeded {
        org: org_slug.to_string(),
        plan: plan.name.to_string(),
        dimensions: vec![crate::error::DimensionExceeded {
            dimension: "domains".to_string(),
            used,
            requested: 1,
            limit,
        }],
    }
    .into())
}

/// The refusal of a hostname another organization holds: the same words from every store,
/// never naming the owner.
pub fn foreign_host_error(hostname: &str) -> crate::Error {
    crate::Error::conflict(format!(
        "the hostname {hostname} belongs to another organization; a hostname and every path on it belong to one organization"
    ))
}

/// Sums reservations into usage: committed ones, and pending ones not expired at `now`.
pub fn sum_usage<'a>(
    reservations: impl IntoIterator<Item = &'a Reservation>,
    now: chrono::DateTime<chrono::Utc>,
) -> (ResourceAmounts, ResourceAmounts) {
    use crate::model::ReservationState;
    let (mut committed, mut pending) = (ResourceAmounts::ZERO, ResourceAmounts::ZERO);
    for r in reservations {
        match r.state {
            ReservationState::Committed => committed = committed.plus(&r.amounts),
            ReservationState::Pending if r.expires_at > now => pending = pending.plus(&r.amounts),
            _ => {}
        }
    }
    (committed, pending)
}
