//! The quota engine port and its default implementation over the store's [`QuotaLedger`].
//!
//! The plan an organization's reservations are checked against comes from the
//! [`PlanSource`], and the organization itself from the [`Directory`]: the engine reads them
//! into a [`QuotaGrant`] just before each reservation, and the ledger checks the grant under
//! its own per-organization lock. So a host application that keeps its own plans (and
//! changes a plan row) limits the very next deploy, and no plan is copied into the ledger.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::{OrgId, ReservationId};
use crate::model::{Organization, Plan, Reservation, Subscription, Usage};
use crate::ports::clock::Clock;
use crate::ports::store::{Directory, PlanSource, QuotaLedger};
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

/// What an organization may hold: its slug (for the refusal's words), its subscription and the
/// subscribed plan, as the directory and the plan source tell them at one moment. The ledger
/// checks reservations and domains against it under its per-organization lock.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaGrant {
    /// The organization.
    pub org: OrgId,
    /// Its slug, named in refusals.
    pub org_slug: String,
    /// Its subscription, if any.
    pub subscription: Option<Subscription>,
    /// The subscribed plan (present whenever `subscription` is).
    pub plan: Option<Plan>,
}

impl QuotaGrant {
    /// Reads the grant of `org`. Errors: `NotFound` (organization, or the subscription's plan).
    pub async fn load<D, P>(directory: &D, plans: &P, org: OrgId) -> Result<Self>
    where
        D: Directory + ?Sized,
        P: PlanSource + ?Sized,
    {
        Self::of(&directory.org(org).await?, plans).await
    }

    /// The grant of an organization already read. Errors: `NotFound` (the subscription's plan).
    pub async fn of<P: PlanSource + ?Sized>(org: &Organization, plans: &P) -> Result<Self> {
        Self::with_subscription(org, plans.subscription_opt(org.id).await?, plans).await
    }

    /// The grant of an organization and its subscription already read: only the plan is read.
    /// Errors: `NotFound` (the subscription's plan).
    pub async fn with_subscription<P: PlanSource + ?Sized>(
        org: &Organization,
        subscription: Option<Subscription>,
        plans: &P,
    ) -> Result<Self> {
        let plan = match &subscription {
            Some(sub) => Some(plans.plan(sub.plan).await?),
            None => None,
        };
        Ok(Self {
            org: org.id,
            org_slug: org.slug.to_string(),
            subscription,
            plan,
        })
    }

    /// Checks `requested` on top of `used`: the subscription must be active and every
    /// requested dimension must fit the plan. Errors: `Conflict` (no or inactive
    /// subscription), `QuotaExceeded`.
    pub fn check(&self, used: &ResourceAmounts, requested: &ResourceAmounts) -> Result<()> {
        check_subscription(&self.org_slug, self.subscription.as_ref())?;
        match &self.plan {
            Some(plan) => check_limits(&self.org_slug, plan, used, requested),
            None => Err(crate::Error::not_found(
                "plan of the subscription",
                self.org,
            )),
        }
    }

    /// Checks one more domain on top of `used` against the plan's `max_domains`; without a
    /// subscription nothing bounds domains. Errors: `QuotaExceeded` (dimension `domains`).
    pub fn check_domain(&self, used: u64) -> Result<()> {
        match &self.plan {
            Some(plan) => check_domain_limit(&self.org_slug, plan, used),
            None => Ok(()),
        }
    }

    /// Checks that the grant is for `org` (a ledger is handed the grant of the reservation's
    /// own organization). Errors: `InvalidInput`.
    pub fn check_org(&self, org: OrgId) -> Result<()> {
        if self.org == org {
            Ok(())
        } else {
            Err(crate::Error::invalid(
                "grant",
                "the grant is for another organization than the reservation's",
            ))
        }
    }

    /// The organization's usage: what it holds against the granted plan.
    pub fn usage(&self, committed: ResourceAmounts, pending: ResourceAmounts) -> Usage {
        Usage {
            org: self.org,
            plan: self.plan.as_ref().map(|p| p.name.to_string()),
            limits: self.plan.as_ref().map(|p| p.limits),
            committed,
            pending,
        }
    }
}

/// The default [`QuotaEngine`]: reads the organization's [`QuotaGrant`] from the directory and
/// the plan source, and has the ledger check and record reservations against it atomically.
#[derive(Debug, Clone)]
pub struct StoreQuotaEngine {
    ledger: Arc<dyn QuotaLedger>,
    directory: Arc<dyn Directory>,
    plans: Arc<dyn PlanSource>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
}

impl StoreQuotaEngine {
    /// Pending reservations expire after this long unless committed (a crashed deploy's
    /// reservation stops counting by itself).
    pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

    /// An engine recording reservations in `ledger`, against the plans `plans` gives the
    /// organizations `directory` knows. With one [`crate::Store`] all three are the store
    /// (see [`StoreQuotaEngine::over`]).
    pub fn new(
        ledger: Arc<dyn QuotaLedger>,
        directory: Arc<dyn Directory>,
        plans: Arc<dyn PlanSource>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            ledger,
            directory,
            plans,
            clock,
            ttl: Self::DEFAULT_TTL,
        }
    }

    /// An engine over one store that is its own ledger, directory and plan source.
    pub fn over(store: Arc<dyn crate::Store>, clock: Arc<dyn Clock>) -> Self {
        Self::new(store.clone(), store.clone(), store, clock)
    }

    async fn grant(&self, org: OrgId) -> Result<QuotaGrant> {
        QuotaGrant::load(&*self.directory, &*self.plans, org).await
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
        let grant = self.grant(org).await?;
        self.ledger
            .quota_reserve(&grant, amounts, now, now + ttl)
            .await
    }

    async fn commit(&self, reservation: ReservationId, owner: &str) -> Result<()> {
        self.ledger
            .quota_commit(reservation, owner, self.clock.now())
            .await
    }

    async fn resize(
        &self,
        reservation: ReservationId,
        amounts: ResourceAmounts,
    ) -> Result<Reservation> {
        let org = self.ledger.reservation(reservation).await?.org;
        let grant = self.grant(org).await?;
        self.ledger
            .quota_resize(reservation, &grant, amounts, self.clock.now())
            .await
    }

    async fn release(&self, reservation: ReservationId) -> Result<()> {
        self.ledger.quota_release(reservation).await
    }

    async fn usage(&self, org: OrgId) -> Result<Usage> {
        let grant = self.grant(org).await?;
        self.ledger.quota_usage(&grant, self.clock.now()).await
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
