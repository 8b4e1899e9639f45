//! Behaviours of plans and subscriptions.

use std::sync::Arc;

use caas_core::model::{NewPlan, PlanLimits, SubscriptionStatus};
use caas_core::units::GIB;
use caas_core::{OrgId, PlanId, Store};

use super::{
    assert_already_exists, assert_conflict, assert_not_found, generous_limits, now, seed_org,
    seed_plan, seed_subscribed_org, subscribe, subscription_of, unique,
};

// ---------------------------------------------------------------------------------------------
// Plans and subscriptions
// ---------------------------------------------------------------------------------------------

/// A created plan reads back unchanged by id and by name.
pub async fn plans_roundtrip_by_id_and_name(store: Arc<dyn Store>) {
    let mut new = NewPlan::new(
        unique("starter"),
        PlanLimits {
            cpu_millis: 2000,
            memory_bytes: 4 * GIB,
            storage_bytes: 20 * GIB,
            max_containers: 10,
            max_projects: 3,
            max_domains: 7,
            max_pids: 512,
            backup_storage_bytes: 3 * GIB,
        },
    );
    new.display_name = "Starter".into();
    new.monthly_price_cents = 1999;
    new.currency = "EUR".into();
    let plan = new.build(now()).expect("valid plan");
    store.create_plan(&plan).await.expect("create_plan");

    assert_eq!(store.plan(plan.id).await.expect("plan"), plan);
    assert_eq!(
        store
            .plan_by_name_opt(plan.name.as_str())
            .await
            .expect("plan_by_name_opt"),
        Some(plan)
    );
    assert_eq!(
        store
            .plan_by_name_opt(&unique("absent"))
            .await
            .expect("plan_by_name_opt(missing)"),
        None
    );
}

/// A second plan with a taken name is refused and not stored.
pub async fn plan_names_are_unique(store: Arc<dyn Store>) {
    let plan = seed_plan(&*store, "pro", generous_limits()).await;
    let twin = NewPlan::new(plan.name.to_string(), PlanLimits::default())
        .build(now())
        .expect("valid plan");
    assert_already_exists(store.create_plan(&twin).await, "create_plan(same name)");
    assert_not_found(store.plan(twin.id).await, "plan(refused twin)");
    assert_eq!(store.plan(plan.id).await.expect("plan"), plan);
}

/// `list_plans` returns every plan ordered by name.
pub async fn list_plans_is_ordered_by_name(store: Arc<dyn Store>) {
    let token = unique("lp");
    let mut made = Vec::new();
    for prefix in ["zeta", "alpha", "mid"] {
        let plan = NewPlan::new(format!("{prefix}-{token}"), generous_limits())
            .build(now())
            .expect("valid plan");
        store.create_plan(&plan).await.expect("create_plan");
        made.push(plan);
    }
    let all = store.list_plans().await.expect("list_plans");
    let names: Vec<String> = all.iter().map(|p| p.name.to_string()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "list_plans is not ordered by name");
    let ours: Vec<PlanId> = all
        .iter()
        .filter(|p| p.name.as_str().ends_with(&token))
        .map(|p| p.id)
        .collect();
    assert_eq!(ours, vec![made[1].id, made[2].id, made[0].id]);
}

/// `update_plan` replaces limits, price and display name.
pub async fn update_plan_replaces_limits_and_price(store: Arc<dyn Store>) {
    let plan = seed_plan(&*store, "growing", generous_limits()).await;
    let mut changed = plan.clone();
    changed.limits = PlanLimits {
        cpu_millis: 4000,
        memory_bytes: 8 * GIB,
        storage_bytes: 100 * GIB,
        max_containers: 25,
        max_projects: 5,
        max_domains: 11,
        max_pids: 4096,
        backup_storage_bytes: 40 * GIB,
    };
    changed.monthly_price_cents = 4900;
    changed.display_name = "Growing (2025)".into();
    store.update_plan(&changed).await.expect("update_plan");
    assert_eq!(store.plan(plan.id).await.expect("plan"), changed);
}

/// A plan with a subscription cannot be deleted; once no subscription uses it, it can.
pub async fn plan_in_use_cannot_be_deleted(store: Arc<dyn Store>) {
    let (org, old) = seed_subscribed_org(&*store, "mover", generous_limits()).await;
    assert_conflict(store.delete_plan(old.id).await, "delete_plan(in use)");
    assert_eq!(store.plan(old.id).await.expect("plan still there"), old);

    let new = seed_plan(&*store, "mover-new", generous_limits()).await;
    let mut sub = store
        .subscription_opt(org.id)
        .await
        .expect("subscription_opt")
        .expect("subscribed");
    sub.plan = new.id;
    store
        .put_subscription(&sub)
        .await
        .expect("put_subscription(move)");

    store
        .delete_plan(old.id)
        .await
        .expect("delete_plan(unused)");
    assert_not_found(store.plan(old.id).await, "plan(deleted)");
    assert_eq!(
        store
            .plan_by_name_opt(old.name.as_str())
            .await
            .expect("plan_by_name_opt"),
        None
    );
    assert_conflict(store.delete_plan(new.id).await, "delete_plan(new, in use)");
}

/// An organization has no subscription until one is put; a second put replaces it.
pub async fn put_subscription_creates_and_replaces_the_one_subscription(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "subscriber").await;
    let basic = seed_plan(&*store, "basic", generous_limits()).await;
    let premium = seed_plan(&*store, "premium", generous_limits()).await;
    assert_eq!(
        store
            .subscription_opt(org.id)
            .await
            .expect("subscription_opt"),
        None
    );

    let sub = subscribe(&*store, &org, &basic).await;
    assert_eq!(
        store
            .subscription_opt(org.id)
            .await
            .expect("subscription_opt"),
        Some(sub.clone())
    );

    let mut replaced = sub.clone();
    replaced.plan = premium.id;
    replaced.status = SubscriptionStatus::Suspended;
    replaced.period_end = sub.period_end + chrono::Duration::days(30);
    store
        .put_subscription(&replaced)
        .await
        .expect("put_subscription(replace)");
    assert_eq!(
        store
            .subscription_opt(org.id)
            .await
            .expect("subscription_opt"),
        Some(replaced)
    );
    // The replaced plan is no longer in use.
    store
        .delete_plan(basic.id)
        .await
        .expect("delete_plan(basic)");
}

/// A subscription naming a missing organization or plan is refused with `NotFound`.
pub async fn put_subscription_requires_an_existing_org_and_plan(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "picky").await;
    let plan = seed_plan(&*store, "picky", generous_limits()).await;

    let mut ghost_plan = subscription_of(&org, &plan, SubscriptionStatus::Active);
    ghost_plan.plan = PlanId::new();
    assert_not_found(
        store.put_subscription(&ghost_plan).await,
        "put_subscription(missing plan)",
    );
    let mut ghost_org = subscription_of(&org, &plan, SubscriptionStatus::Active);
    ghost_org.org = OrgId::new();
    assert_not_found(
        store.put_subscription(&ghost_org).await,
        "put_subscription(missing org)",
    );
    assert_eq!(
        store
            .subscription_opt(org.id)
            .await
            .expect("subscription_opt"),
        None
    );
    assert_eq!(
        store
            .subscription_opt(ghost_org.org)
            .await
            .expect("subscription_opt(missing org)"),
        None
    );
}
