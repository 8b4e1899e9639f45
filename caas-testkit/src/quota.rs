//! The quota conformance suite: the [`Store`]'s `quota_*` methods and the default
//! [`StoreQuotaEngine`] over them.
//!
//! Every behaviour is one `pub async fn` taking an `Arc<dyn Store>`;
//! [`quota_suite!`](crate::quota_suite) expands into one `#[tokio::test]` per behaviour on a
//! four-thread runtime, so the concurrency behaviour really runs in parallel.
//!
//! `quota_expire` is global (it releases every organization's expired reservations), so the
//! behaviours that call it place their reservations ten years in the past, where no other
//! behaviour's reservations live; everything else uses the present. This keeps the suite
//! correct when a backend runs it against one shared database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_core::model::Usage;
use caas_core::model::{PlanLimits, Reservation, ReservationState, SubscriptionStatus};
use caas_core::ports::quota::QuotaGrant;
use caas_core::units::{GIB, MIB, ResourceAmounts};
use caas_core::{Clock, ManualClock, OrgId, QuotaEngine, ReservationId, Store, StoreQuotaEngine};
use chrono::{DateTime, Utc};

use crate::store::{
    assert_conflict, assert_not_found, assert_quota_exceeded, generous_limits, now, seed_org,
    seed_plan, seed_subscribed_org, subscription_of,
};

/// The ledger's calls as the default engine makes them: the organization's [`QuotaGrant`] read
/// from the same store's directory and plans first. The suites call these, so a missing
/// organization is `NotFound` as it is through the engine.
#[async_trait::async_trait]
pub trait GrantedLedger: Store {
    /// [`caas_core::QuotaLedger::quota_reserve`] under `org`'s grant.
    async fn reserve_for(
        &self,
        org: OrgId,
        amounts: ResourceAmounts,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> caas_core::Result<Reservation> {
        let grant = QuotaGrant::load(self, self, org).await?;
        self.quota_reserve(&grant, amounts, now, expires_at).await
    }

    /// [`caas_core::QuotaLedger::quota_resize`] under the reservation's organization's grant.
    async fn resize_for(
        &self,
        id: ReservationId,
        amounts: ResourceAmounts,
        now: DateTime<Utc>,
    ) -> caas_core::Result<Reservation> {
        let org = self.reservation(id).await?.org;
        let grant = QuotaGrant::load(self, self, org).await?;
        self.quota_resize(id, &grant, amounts, now).await
    }

    /// [`caas_core::DomainStore::create_domain`] under the domain's organization's grant.
    async fn create_domain_for(
        &self,
        domain: &caas_core::model::Domain,
        claim: &caas_core::model::HostClaim,
    ) -> caas_core::Result<caas_core::model::HostClaim> {
        let grant = QuotaGrant::load(self, self, domain.org).await?;
        self.create_domain(domain, claim, &grant).await
    }

    /// [`caas_core::QuotaLedger::quota_usage`] under `org`'s grant.
    async fn usage_for(&self, org: OrgId, now: DateTime<Utc>) -> caas_core::Result<Usage> {
        let grant = QuotaGrant::load(self, self, org).await?;
        self.quota_usage(&grant, now).await
    }
}

impl<S: Store + ?Sized> GrantedLedger for S {}

/// Expands into one `#[tokio::test]` per quota behaviour of [`crate::quota`].
///
/// `$make` is an expression evaluating to a future that yields `Option<Arc<dyn Store>>`,
/// evaluated once per test. When it yields `None` the test returns early; the backend's setup
/// code is responsible for panicking in CI instead (see [`crate::env::require`] and
/// [`crate::env::unavailable`]). Every test runs on a multi-thread runtime with four workers,
/// which the concurrency behaviour needs.
///
/// The tests are emitted where the macro is invoked, as plain functions named after the
/// behaviours; invoke it inside a module (`mod quota { use super::*; … }`) to group them. The
/// calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dependency.
///
/// ```text
/// use std::sync::Arc;
/// use caas_core::{Store, memory::InMemoryStore};
///
/// mod quota {
///     use super::*;
///     caas_testkit::quota_suite!(async { Some(Arc::new(InMemoryStore::new()) as Arc<dyn Store>) });
/// }
/// ```
#[macro_export]
macro_rules! quota_suite {
    ($make:expr) => {
        $crate::quota_suite!(@tests $make;
            resize_checks_only_increases_against_the_plan,
            concurrent_resizes_never_exceed_the_limit,
            reserve_refuses_without_subscription,
            reserve_refuses_suspended_and_cancelled_subscriptions,
            reserve_of_a_missing_org_is_not_found,
            reserve_names_every_exceeded_dimension,
            reserve_admits_up_to_exactly_the_limit,
            reserve_checks_only_requested_dimensions,
            reservations_start_pending_and_read_back,
            commit_records_the_owner_and_keeps_counting_after_expiry,
            commit_twice_is_a_noop,
            release_twice_is_a_noop,
            commit_after_release_is_a_conflict,
            commit_after_expiry_is_a_conflict,
            missing_reservations_are_not_found,
            expired_pending_reservations_stop_counting,
            quota_expire_releases_only_expired_pending,
            usage_sums_committed_and_pending,
            usage_of_an_unsubscribed_org_has_no_plan,
            usage_of_a_missing_org_is_not_found,
            reservations_of_one_org_do_not_count_against_another,
            lowering_a_plan_limit_keeps_existing_reservations_but_refuses_new_ones,
            engine_reserves_commits_and_releases_through_the_store,
            engine_pending_reservations_expire_after_the_ttl,
            fifty_concurrent_reservations_against_a_limit_of_ten_admit_exactly_ten,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let Some(store) = $make.await else {
                    return;
                };
                $crate::quota::$name(store).await;
            }
        )*
    };
}

const TTL: chrono::Duration = chrono::Duration::minutes(15);

fn containers(n: u64) -> ResourceAmounts {
    ResourceAmounts {
        containers: n,
        ..ResourceAmounts::ZERO
    }
}

/// What a small app holds: 250 millicores, 128 MiB, one container.
fn small_app() -> ResourceAmounts {
    ResourceAmounts {
        cpu_millis: 250,
        memory_bytes: 128 * MIB,
        storage_bytes: 0,
        containers: 1,
        projects: 0,
    }
}

/// A plan of 1 CPU, 1 GiB, 10 GiB storage, 4 containers and 2 projects.
fn small_limits() -> PlanLimits {
    PlanLimits {
        cpu_millis: 1000,
        memory_bytes: GIB,
        storage_bytes: 10 * GIB,
        max_containers: 4,
        max_projects: 2,
        max_domains: 20,
        max_pids: 1024,
        backup_storage_bytes: 10 * 1024 * 1024 * 1024,
    }
}

async fn reserve_now(
    store: &dyn Store,
    org: OrgId,
    amounts: ResourceAmounts,
) -> caas_core::Result<Reservation> {
    let at = now();
    store.reserve_for(org, amounts, at, at + TTL).await
}

async fn state_of(store: &dyn Store, id: ReservationId) -> ReservationState {
    store.reservation(id).await.expect("reservation").state
}

/// A point ten years ago, for behaviours that call the global `quota_expire`.
fn long_ago() -> DateTime<Utc> {
    now() - chrono::Duration::days(3650)
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

/// An organization without a subscription cannot reserve anything: `Conflict` naming it.
pub async fn reserve_refuses_without_subscription(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "unsubscribed").await;
    let e = assert_conflict(
        reserve_now(&*store, org.id, small_app()).await,
        "quota_reserve(no subscription)",
    );
    assert!(e.to_string().contains(org.slug.as_str()), "{e}");
    let usage = store.usage_for(org.id, now()).await.expect("quota_usage");
    assert!(usage.total().is_zero(), "{usage:?}");
}

/// Suspended and cancelled subscriptions refuse reservations with `Conflict`; reactivating the
/// subscription admits them again.
pub async fn reserve_refuses_suspended_and_cancelled_subscriptions(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "lapsed").await;
    let plan = seed_plan(&*store, "lapsed", generous_limits()).await;
    for status in [SubscriptionStatus::Suspended, SubscriptionStatus::Cancelled] {
        let sub = subscription_of(&org, &plan, status);
        store
            .put_subscription(&sub)
            .await
            .expect("put_subscription");
        let e = assert_conflict(
            reserve_now(&*store, org.id, small_app()).await,
            &format!("quota_reserve({})", status.as_str()),
        );
        let msg = e.to_string();
        assert!(
            msg.contains(org.slug.as_str()) && msg.contains(status.as_str()),
            "{msg}"
        );
    }
    let usage = store.usage_for(org.id, now()).await.expect("quota_usage");
    assert!(usage.total().is_zero(), "{usage:?}");

    let sub = subscription_of(&org, &plan, SubscriptionStatus::Active);
    store
        .put_subscription(&sub)
        .await
        .expect("put_subscription(active)");
    let r = reserve_now(&*store, org.id, small_app())
        .await
        .expect("quota_reserve(active again)");
    assert_eq!(r.amounts, small_app());
}

/// Reserving for an organization that does not exist fails with `NotFound`.
pub async fn reserve_of_a_missing_org_is_not_found(store: Arc<dyn Store>) {
    assert_not_found(
        reserve_now(&*store, OrgId::new(), small_app()).await,
        "quota_reserve(missing org)",
    );
}

/// A refusal names the plan, the organization and every exceeded dimension with its used,
/// requested and limit numbers, and nothing that still fits.
pub async fn reserve_names_every_exceeded_dimension(store: Arc<dyn Store>) {
    let (org, plan) = seed_subscribed_org(&*store, "tight", small_limits()).await;
    let held = ResourceAmounts {
        cpu_millis: 800,
        memory_bytes: 512 * MIB,
        storage_bytes: GIB,
        containers: 3,
        projects: 1,
    };
    reserve_now(&*store, org.id, held)
        .await
        .expect("quota_reserve(held)");

    let ask = ResourceAmounts {
        cpu_millis: 300,         // 800 + 300 > 1000: exceeded
        memory_bytes: 512 * MIB, // 512 Mi + 512 Mi = 1 GiB: fits exactly
        storage_bytes: 10 * GIB, // 1 + 10 GiB > 10 GiB: exceeded
        containers: 2,           // 3 + 2 > 4: exceeded
        projects: 1,             // 1 + 1 = 2: fits exactly
    };
    let e = assert_quota_exceeded(
        reserve_now(&*store, org.id, ask).await,
        "quota_reserve(over)",
    );
    assert_eq!(e.code(), "QUOTA_EXCEEDED");
    let q = e.quota().expect("quota details");
    assert_eq!(q.org, org.slug.as_str());
    assert_eq!(q.plan, plan.name.as_str());
    let got: Vec<(&str, u64, u64, u64)> = q
        .dimensions
        .iter()
        .map(|d| (d.dimension.as_str(), d.used, d.requested, d.limit))
        .collect();
    assert_eq!(
        got,
        vec![
            ("cpu_millis", 800, 300, 1000),
            ("storage_bytes", GIB, 10 * GIB, 10 * GIB),
            ("containers", 3, 2, 4),
        ]
    );
    let msg = e.to_string();
    assert!(
        msg.contains(org.slug.as_str()) && msg.contains(plan.name.as_str()),
        "{msg}"
    );
    assert!(
        msg.contains("cpu_millis used 800 + requested 300 > limit 1000"),
        "{msg}"
    );

    // The refusal held nothing.
    let usage = store.usage_for(org.id, now()).await.expect("quota_usage");
    assert_eq!(usage.total(), held);
}

/// A request that brings usage exactly to the limit is admitted; one more unit is refused.
pub async fn reserve_admits_up_to_exactly_the_limit(store: Arc<dyn Store>) {
    let (org, _) = seed_subscribed_org(&*store, "exact", small_limits()).await;
    reserve_now(&*store, org.id, containers(3))
        .await
        .expect("quota_reserve(3 of 4)");
    reserve_now(&*store, org.id, containers(1))
        .await
        .expect("quota_reserve(4 of 4)");
    let e = assert_quota_exceeded(
        reserve_now(&*store, org.id, containers(1)).await,
        "quota_reserve(5 of 4)",
    );
    let d = &e.quota().expect("quota details").dimensions;
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].used, d[0].requested, d[0].limit), (4, 1, 4));
    let usage = store.usage_for(org.id, now()).await.expect("quota_usage");
    assert_eq!(usage.total().containers, 4);
}

/// Dimensions a request does not ask for are not checked, even when already over their limit.
pub async fn reserve_checks_only_requested_dimensions(store: Arc<dyn Store>) {
    let (org, mut plan) = seed_subscribed_org(&*store, "lopsided", small_limits()).await;
    reserve_now(&*store, org.id, containers(4))
        .await
        .expect("quota_reserve(all containers)");
    // Shrink the plan below what is held.
    plan.limits.max_containers = 2;
    store.update_plan(&plan).await.expect("update_plan");

    let storage = ResourceAmounts {
        storage_bytes: GIB,
        ..ResourceAmounts::ZERO
    };
    reserve_now(&*store, org.id, storage)
        .await
        .expect("quota_reserve(storage only) is not blocked by containers");
    reserve_now(&*store, org.id, ResourceAmounts::ZERO)
        .await
        .expect("quota_reserve(nothing)");
    assert_quota_exceeded(
        reserve_now(&*store, org.id, containers(1)).await,
        "quota_reserve(containers over shrunk limit)",
    );
}

// ---------------------------------------------------------------------------------------------
// Lifecycle
// ---------------------------------------------------------------------------------------------

/// A new reservation is pending, has no owner, and reads back exactly as returned.
pub async fn reservations_start_pending_and_read_back(store: Arc<dyn Store>) {
    let (org, _) = seed_subscribed_org(&*store, "fresh", small_limits()).await;
    let at = now();
    let r = store
        .reserve_for(org.id, small_app(), at, at + TTL)
        .await
        .expect("quota_reserve");
    assert_eq!(r.org, org.id);
    assert_eq!(r.amounts, small_app());
    assert_eq!(r.state, ReservationState::Pending);
    assert_eq!(r.owner, None);
    assert_eq!(r.created_at, at);
    assert_eq!(r.expires_at, at + TTL);
    assert_eq!(store.reservation(r.id).await.expect("reservation"), r);

    let second = reserve_now(&*store, org.id, small_app())
        .await
        .expect("quota_reserve(second)");
    assert_ne!(second.id, r.id);
}

/// Committing records the owner; a committed reservation keeps counting after its pending
/// expiry has passed.
pub async fn commit_records_the_owner_and_keeps_counting_after_expiry(store: Arc<dyn Store>) {
    let (org, _) = seed_subscribed_org(&*store, "keep", small_limits()).await;
    let t0 = now();
    let r = store
        .reserve_for(org.id, small_app(), t0, t0 + chrono::Duration::minutes(1))
        .await
        .expect("quota_reserve");
    store
        .quota_commit(r.id, "service:web", t0 + chrono::Duration::seconds(30))
        .await
        .expect("quota_commit");

    let committed = store.reservation(r.id).await.expect("reservation");
    assert_eq!(committed.state, ReservationState::Committed);
    assert_eq!(committed.owner.as_deref(), Some("service:web"));
    assert_eq!(committed.amounts, small_app());

    let later = t0 + chrono::Duration::hours(2);
    let usage = store.usage_for(org.id, later).await.expect("quota_usage");
    assert_eq!(usage.committed, small_app());
    assert!(usage.pending.is_zero(), "{usage:?}");
    assert_quota_exceeded(
        store
            .reserve_for(org.id, containers(4), later, later + TTL)
            .await,
        "quota_reserve(committed still counts)",
    );
}

/// Committing a committed reservation again succeeds and changes nothing.
pub async fn commit_twice_is_a_noop(store: Arc<dyn Store>) {
    let (org, _) = seed_subscribed_org(&*store, "twice", small_limits()).await;
    let r = reserve_now(&*store, org.id, small_app())
        .await
        .expect("quota_reserve");
    store
        .quota_commit(r.id, "service:a", now())
        .await
        .expect("quota_commit");
    let first = store.reservation(r.id).await.expect("reservation");
    store
        .quota_commit(r.id, "service:a", now())
        .await
        .expect("quota_commit(again)");
    assert_eq!(store.reservation(r.id).await.expect("reservation"), first);
    assert_eq!(first.state, ReservationState::Committed);

    let usage = store.usage_for(org.id, now()).await.expect("quota_usage");
    assert_eq!(usage.committed, small_app(), "counted once");
    assert!(usage.pending.is_zero(), "{usage:?}");
}

/// Releasing a released reservation again succeeds; its resources are freed once.
pub async fn release_twice_is_a_noop(store: Arc<dyn Store>) {
    let (org, _) = seed_subscribed_org(&*store, "free", small_limits()).await;
    let pending = reserve_now(&*store, org.id, small_app())
        .await
        .expect("quota_reserve(pending)");
    let committed = reserve_now(&*store, org.id, small_app())
        .await
        .expect("quota_reserve(committed)");
    store
        .quota_commit(committed.id, "service:b", now())
        .await
        .expect("quota_commit");
    let kept = reserve_now(&*store, org.id, small_app())
        .await
        .expect("quota_reserve(kept)");

    for id in [pending.id, committed.id] {
        store.quota_release(id).await.expect("quota_release");
        store.quota_release(id).await.expect("quota_release(again)");
        assert_eq!(state_of(&*store, id).await, ReservationState::Released);
    }
    let usage = store.usage_for(org.id, now()).await.expect("quota_usage");
    assert!(usage.committed.is_zero(), "{usage:?}");
    assert_eq!(
        usage.pending,
        small_app(),
        "only the kept reservation counts"
    );
    assert_eq!(state_of(&*store, kept.id).await, ReservationState::Pending);
}

/// A released reservation cannot be committed: `Conflict`, and it stays released.
pub async fn commit_after_release_is_a_conflict(store: Arc<dyn Store>) {
    let (org, _) = seed_subscribed_org(&*store, "late", small_limits()).await;
    let r = reserve_now(&*store, org.id, small_app())
        .await
        .expect("quota_reserve");
    store.quota_release(r.id).await.expect("quota_release");
    assert_conflict(
        store.quota_commit(r.id, "service:c", now()).await,
        "quota_commit(released)",
    );
    let after = store.reservation(r.id).await.expect("reservation");
    assert_eq!(after.state, ReservationState::Released);
    assert_eq!(after.owner, None);
    let usage = store.usage_for(org.id, now()).await.expect("quota_usage");
    assert!(usage.total().is_zero(), "{usage:?}");
}

/// A pending reservation past its expiry cannot be committed: `Conflict`.
pub async fn commit_after_expiry_is_a_conflict(store: Arc<dyn Store>) {
    let (org, _) = seed_subscribed_org(&*store, "expired", small_limits()).await;
    let t0 = now();
    let r = store
        .reserve_for(org.id, small_app(), t0, t0 + chrono::Duration::minutes(1))
        .await
        .expect("quota_reserve");
    assert_conflict(
        store
            .quota_commit(r.id, "service:d", t0 + chrono::Duration::minutes(2))
            .await,
        "quota_commit(expired)",
    );
    let after = store.reservation(r.id).await.expect("reservation");
    assert_ne!(after.state, ReservationState::Committed);
    assert_eq!(after.owner, None);
    let usage = store
        .usage_for(org.id, t0 + chrono::Duration::minutes(2))
        .await
        .expect("quota_usage");
    assert!(usage.total().is_zero(), "{usage:?}");
}

/// Committing, releasing or reading a reservation that does not exist fails with `NotFound`.
pub async fn missing_reservations_are_not_found(store: Arc<dyn Store>) {
    let id = ReservationId::new();
    assert_not_found(
        store.quota_commit(id, "service:x", now()).await,
        "quota_commit",
    );
    assert_not_found(store.quota_release(id).await, "quota_release");
    assert_not_found(store.reservation(id).await, "reservation");
}

// ---------------------------------------------------------------------------------------------
// Expiry and usage
// ---------------------------------------------------------------------------------------------

/// A pending reservation stops counting once it expires, even before `quota_expire` runs, so
/// a crashed deploy cannot hold quota forever.
pub async fn expired_pending_reservations_stop_counting(store: Arc<dyn Store>) {
    let (org, _) = seed_subscribed_org(&*store, "crashed", small_limits()).await;
    let t0 = now();
    let min = chrono::Duration::minutes;
    let stale = store
        .reserve_for(org.id, containers(4), t0, t0 + min(1))
        .await
        .expect("quota_reserve(all containers)");
    assert_quota_exceeded(
        store
            .reserve_for(
                org.id,
                containers(1),
                t0 + chrono::Duration::seconds(30),
                t0 + min(16),
            )
            .await,
        "quota_reserve(before expiry)",
    );
    let usage = store
        .usage_for(org.id, t0 + chrono::Duration::seconds(30))
        .await
        .expect("quota_usage(before expiry)");
    assert_eq!(usage.pending, containers(4));

    let after = t0 + min(2);
    let usage = store
        .usage_for(org.id, after)
        .await
        .expect("quota_usage(after expiry)");
    assert!(usage.total().is_zero(), "{usage:?}");
    let fresh = store
        .reserve_for(org.id, containers(4), after, after + min(15))
        .await
        .expect("quota_reserve(after expiry)");
    assert_ne!(fresh.id, stale.id);
    let usage = store.usage_for(org.id, after).await.expect("quota_usage");
    assert_eq!(usage.pending, containers(4));
}

/// `quota_expire` releases pending reservations whose expiry has passed and leaves unexpired
/// pending, committed and released ones alone.
pub async fn quota_expire_releases_only_expired_pending(store: Arc<dyn Store>) {
    let (org, _) = seed_subscribed_org(&*store, "sweep", small_limits()).await;
    let t0 = long_ago();
    let hours = chrono::Duration::hours;
    let reserve = |expires: DateTime<Utc>| {
        let store = store.clone();
        async move {
            store
                .reserve_for(org.id, containers(1), t0, expires)
                .await
                .expect("quota_reserve")
        }
    };
    let expired = reserve(t0 + hours(1)).await;
    let alive = reserve(t0 + hours(3)).await;
    let committed = reserve(t0 + hours(1)).await;
    store
        .quota_commit(committed.id, "service:e", t0)
        .await
        .expect("quota_commit");
    let released = reserve(t0 + hours(1)).await;
    store
        .quota_release(released.id)
        .await
        .expect("quota_release");

    let swept = store
        .quota_expire(t0 + hours(2))
        .await
        .expect("quota_expire");
    assert!(
        swept >= 1,
        "quota_expire released {swept}, expected at least ours"
    );

    assert_eq!(
        state_of(&*store, expired.id).await,
        ReservationState::Released
    );
    assert_eq!(state_of(&*store, alive.id).await, ReservationState::Pending);
    assert_eq!(
        state_of(&*store, committed.id).await,
        ReservationState::Committed
    );
    assert_eq!(
        state_of(&*store, released.id).await,
        ReservationState::Released
    );

    let usage = store
        .usage_for(org.id, t0 + hours(2))
        .await
        .expect("quota_usage");
    assert_eq!(usage.committed, containers(1));
    assert_eq!(usage.pending, containers(1));
}

/// Usage reports the plan, its limits, and committed and pending amounts separately.
pub async fn usage_sums_committed_and_pending(store: Arc<dyn Store>) {
    let (org, plan) = seed_subscribed_org(&*store, "usage", small_limits()).await;
    let project = ResourceAmounts::one_project();
    let a = reserve_now(&*store, org.id, small_app())
        .await
        .expect("quota_reserve(a)");
    let p = reserve_now(&*store, org.id, project)
        .await
        .expect("quota_reserve(project)");
    let b = reserve_now(&*store, org.id, small_app())
        .await
        .expect("quota_reserve(b)");
    let gone = reserve_now(&*store, org.id, small_app())
        .await
        .expect("quota_reserve(gone)");
    store
        .quota_commit(a.id, "service:a", now())
        .await
        .expect("commit(a)");
    store
        .quota_commit(p.id, "project:p", now())
        .await
        .expect("commit(p)");
    store.quota_release(gone.id).await.expect("release(gone)");

    let usage = store.usage_for(org.id, now()).await.expect("quota_usage");
    assert_eq!(usage.org, org.id);
    assert_eq!(usage.plan.as_deref(), Some(plan.name.as_str()));
    assert_eq!(usage.limits, Some(plan.limits));
    assert_eq!(usage.committed, small_app().plus(&project));
    assert_eq!(usage.pending, small_app());
    assert_eq!(
        usage.total(),
        ResourceAmounts {
            cpu_millis: 500,
            memory_bytes: 256 * MIB,
            storage_bytes: 0,
            containers: 2,
            projects: 1,
        }
    );
    assert_eq!(state_of(&*store, b.id).await, ReservationState::Pending);
}

/// Usage of an organization without a subscription names no plan and holds nothing.
pub async fn usage_of_an_unsubscribed_org_has_no_plan(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "planless").await;
    let usage = store.usage_for(org.id, now()).await.expect("quota_usage");
    assert_eq!(usage.org, org.id);
    assert_eq!(usage.plan, None);
    assert_eq!(usage.limits, None);
    assert!(
        usage.committed.is_zero() && usage.pending.is_zero(),
        "{usage:?}"
    );
}

/// Usage of an organization that does not exist fails with `NotFound`.
pub async fn usage_of_a_missing_org_is_not_found(store: Arc<dyn Store>) {
    assert_not_found(
        store.usage_for(OrgId::new(), now()).await,
        "quota_usage(missing org)",
    );
}

/// One organization's reservations never count against another's, even on the same plan.
pub async fn reservations_of_one_org_do_not_count_against_another(store: Arc<dyn Store>) {
    let (full, plan) = seed_subscribed_org(&*store, "full", small_limits()).await;
    let empty = seed_org(&*store, "empty").await;
    crate::store::subscribe(&*store, &empty, &plan).await;

    reserve_now(&*store, full.id, containers(4))
        .await
        .expect("quota_reserve(full)");
    assert_quota_exceeded(
        reserve_now(&*store, full.id, containers(1)).await,
        "quota_reserve(full, one more)",
    );
    reserve_now(&*store, empty.id, containers(4))
        .await
        .expect("quota_reserve(empty) is not affected by full");
    let usage = store.usage_for(empty.id, now()).await.expect("quota_usage");
    assert_eq!(usage.pending, containers(4));
}

/// Lowering a plan's limit below current usage keeps what is held but refuses new requests
/// in that dimension until usage falls below the new limit.
pub async fn lowering_a_plan_limit_keeps_existing_reservations_but_refuses_new_ones(
    store: Arc<dyn Store>,
) {
    let (org, mut plan) = seed_subscribed_org(&*store, "shrink", small_limits()).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let r = reserve_now(&*store, org.id, containers(1))
            .await
            .expect("quota_reserve");
        store
            .quota_commit(r.id, "service:s", now())
            .await
            .expect("quota_commit");
        held.push(r);
    }
    plan.limits.max_containers = 2;
    store.update_plan(&plan).await.expect("update_plan");

    let usage = store.usage_for(org.id, now()).await.expect("quota_usage");
    assert_eq!(usage.committed, containers(3));
    assert_eq!(usage.limits.map(|l| l.max_containers), Some(2));
    let e = assert_quota_exceeded(
        reserve_now(&*store, org.id, containers(1)).await,
        "quota_reserve(over lowered limit)",
    );
    let d = &e.quota().expect("quota details").dimensions[0];
    assert_eq!((d.used, d.requested, d.limit), (3, 1, 2));

    store
        .quota_release(held[0].id)
        .await
        .expect("quota_release");
    store
        .quota_release(held[1].id)
        .await
        .expect("quota_release");
    reserve_now(&*store, org.id, containers(1))
        .await
        .expect("quota_reserve(under lowered limit)");
}

// ---------------------------------------------------------------------------------------------
// The default engine
// ---------------------------------------------------------------------------------------------

/// [`StoreQuotaEngine`] reserves with its clock and default TTL, commits, reports usage and
/// releases through the store.
pub async fn engine_reserves_commits_and_releases_through_the_store(store: Arc<dyn Store>) {
    let (org, plan) = seed_subscribed_org(&*store, "engine", small_limits()).await;
    let t0 = now();
    let clock = Arc::new(ManualClock::new(t0));
    let engine = StoreQuotaEngine::over(store.clone(), clock.clone() as Arc<dyn Clock>);

    let r = engine.reserve(org.id, small_app()).await.expect("reserve");
    assert_eq!(r.created_at, t0);
    let ttl = chrono::Duration::from_std(StoreQuotaEngine::DEFAULT_TTL).expect("ttl fits");
    assert_eq!(r.expires_at, t0 + ttl);
    assert_eq!(store.reservation(r.id).await.expect("reservation"), r);

    clock.advance(chrono::Duration::minutes(1));
    engine.commit(r.id, "service:engine").await.expect("commit");
    let usage = engine.usage(org.id).await.expect("usage");
    assert_eq!(usage.plan.as_deref(), Some(plan.name.as_str()));
    assert_eq!(usage.committed, small_app());

    let e = assert_quota_exceeded(engine.reserve(org.id, containers(4)).await, "reserve(over)");
    assert_eq!(e.quota().expect("quota details").plan, plan.name.as_str());

    engine.release(r.id).await.expect("release");
    engine.release(r.id).await.expect("release(again)");
    assert!(engine.usage(org.id).await.expect("usage").total().is_zero());
    assert_not_found(
        engine.release(ReservationId::new()).await,
        "release(missing)",
    );
}

/// With a custom TTL, an engine's uncommitted reservation stops counting once the clock passes
/// it and can then no longer be committed.
pub async fn engine_pending_reservations_expire_after_the_ttl(store: Arc<dyn Store>) {
    let (org, _) = seed_subscribed_org(&*store, "ttl", small_limits()).await;
    let clock = Arc::new(ManualClock::new(now()));
    let engine = StoreQuotaEngine::over(store.clone(), clock.clone() as Arc<dyn Clock>)
        .with_ttl(Duration::from_secs(60));

    let r = engine
        .reserve(org.id, containers(4))
        .await
        .expect("reserve");
    assert_eq!(r.expires_at - r.created_at, chrono::Duration::seconds(60));
    assert_quota_exceeded(engine.reserve(org.id, containers(1)).await, "reserve(full)");

    clock.advance(chrono::Duration::seconds(61));
    assert!(engine.usage(org.id).await.expect("usage").total().is_zero());
    assert_conflict(engine.commit(r.id, "service:slow").await, "commit(expired)");
    engine
        .reserve(org.id, containers(4))
        .await
        .expect("reserve(after ttl)");
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

/// Fifty simultaneous reservations of one container against a limit of ten admit exactly ten
/// and refuse forty with `QuotaExceeded`, twenty rounds in a row; usage never exceeds the limit.
pub async fn fifty_concurrent_reservations_against_a_limit_of_ten_admit_exactly_ten(
    store: Arc<dyn Store>,
) {
    const ROUNDS: usize = 20;
    const CALLERS: usize = 50;
    const LIMIT: u64 = 10;
    let limits = PlanLimits {
        max_containers: LIMIT,
        ..generous_limits()
    };
    let (org, plan) = seed_subscribed_org(&*store, "race", limits).await;
    let started = Instant::now();

    for round in 0..ROUNDS {
        // Everyone waits at the barrier so the calls really overlap.
        let barrier = Arc::new(tokio::sync::Barrier::new(CALLERS));
        let tasks: Vec<_> = (0..CALLERS)
            .map(|_| {
                let store = store.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    let at = now();
                    store.reserve_for(org.id, small_app(), at, at + TTL).await
                })
            })
            .collect();

        let mut admitted = Vec::new();
        let mut refused = 0;
        for task in tasks {
            match task.await.expect("reservation task panicked") {
                Ok(r) => admitted.push(r),
                Err(e) => {
                    let q = e.quota().unwrap_or_else(|| {
                        panic!("round {round}: expected QuotaExceeded, got {e:?}")
                    });
                    assert_eq!(q.plan, plan.name.as_str());
                    let d: Vec<_> = q
                        .dimensions
                        .iter()
                        .map(|d| (d.dimension.as_str(), d.used, d.requested, d.limit))
                        .collect();
                    // A refusal can only see a full plan: anything else means a lost update.
                    assert_eq!(d, vec![("containers", LIMIT, 1, LIMIT)], "round {round}");
                    refused += 1;
                }
            }
        }
        assert_eq!(admitted.len() as u64, LIMIT, "round {round}: admitted");
        assert_eq!(
            refused as u64,
            CALLERS as u64 - LIMIT,
            "round {round}: refused"
        );

        let usage = store.usage_for(org.id, now()).await.expect("quota_usage");
        assert!(
            usage.total().containers <= LIMIT,
            "round {round}: usage {usage:?} exceeds the limit"
        );
        assert_eq!(usage.total(), scaled(small_app(), LIMIT), "round {round}");

        for r in &admitted {
            store.quota_release(r.id).await.expect("quota_release");
        }
        let usage = store.usage_for(org.id, now()).await.expect("quota_usage");
        assert!(
            usage.total().is_zero(),
            "round {round}: after release {usage:?}"
        );
    }
    eprintln!(
        "{ROUNDS} rounds of {CALLERS} concurrent reservations took {:?}",
        started.elapsed()
    );
}

fn scaled(a: ResourceAmounts, n: u64) -> ResourceAmounts {
    (0..n).fold(ResourceAmounts::ZERO, |acc, _| acc.plus(&a))
}

/// Growing a reservation is checked against the plan (counting its current amounts once);
/// shrinking always works, even with a suspended subscription; released reservations and
/// missing ones cannot be resized.
pub async fn resize_checks_only_increases_against_the_plan(store: Arc<dyn Store>) {
    let (org, _) = seed_subscribed_org(&*store, "resize", small_limits()).await;
    let r = reserve_now(&*store, org.id, containers(3))
        .await
        .expect("reserve");
    store
        .quota_commit(r.id, "service:x", now())
        .await
        .expect("commit");
    let err = store
        .resize_for(r.id, containers(5), now())
        .await
        .expect_err("5 > 4 containers");
    let q = err
        .quota()
        .unwrap_or_else(|| panic!("expected QuotaExceeded, got {err}"));
    assert_eq!(q.dimensions.len(), 1);
    let d = &q.dimensions[0];
    assert_eq!(
        (d.dimension.as_str(), d.used, d.requested, d.limit),
        ("containers", 3, 2, 4)
    );
    let grown = store
        .resize_for(r.id, containers(4), now())
        .await
        .expect("up to the limit");
    assert_eq!(grown.amounts.containers, 4);
    assert_eq!(grown.state, ReservationState::Committed);
    let usage = store.usage_for(org.id, now()).await.expect("usage");
    assert_eq!(usage.committed.containers, 4);

    let mut sub = store
        .subscription_opt(org.id)
        .await
        .expect("read")
        .expect("subscribed");
    sub.status = caas_core::model::SubscriptionStatus::Suspended;
    store.put_subscription(&sub).await.expect("suspend");
    assert_conflict(
        store
            .resize_for(r.id, containers(4).plus(&small_app()), now())
            .await,
        "increase while suspended",
    );
    let shrunk = store
        .resize_for(r.id, containers(1), now())
        .await
        .expect("decreases always work");
    assert_eq!(shrunk.amounts, containers(1));
    store.quota_release(r.id).await.expect("release");
    assert_conflict(
        store.resize_for(r.id, containers(1), now()).await,
        "resize after release",
    );
    assert_not_found(
        store
            .resize_for(ReservationId::new(), containers(1), now())
            .await,
        "missing reservation",
    );
}

/// Ten reservations of one container each, plan limit 15: all ten concurrently try to grow
/// to two; exactly five succeed, and usage ends at the limit.
pub async fn concurrent_resizes_never_exceed_the_limit(store: Arc<dyn Store>) {
    let limits = PlanLimits {
        max_containers: 15,
        ..small_limits()
    };
    let (org, _) = seed_subscribed_org(&*store, "resizes", limits).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(
            reserve_now(&*store, org.id, containers(1))
                .await
                .expect("reserve")
                .id,
        );
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(ids.len()));
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let (store, barrier, id) = (store.clone(), barrier.clone(), *id);
            tokio::spawn(async move {
                barrier.wait().await;
                store.resize_for(id, containers(2), now()).await
            })
        })
        .collect();
    let mut grown = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => grown += 1,
            Err(e) => assert!(e.is_quota_exceeded(), "{e}"),
        }
    }
    assert_eq!(grown, 5);
    let usage = store.usage_for(org.id, now()).await.expect("usage");
    assert_eq!(usage.total().containers, 15);
}
