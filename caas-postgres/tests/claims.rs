//! Races on hostname claims that the conformance suite does not stage, against the real
//! PostgreSQL: organizations racing for a name whose claim is dead (its domains went with
//! their service), and domains added to a claim while its last domain is being removed.
//! The store decides them with row locks (see `caas-postgres/src/domains.rs`); these tests
//! check that no interleaving leaves two owners, a domain outside its organization's claim,
//! or a forgotten verified claim.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use caas_core::Store;
use caas_core::model::{Service, VerificationStatus};
use caas_testkit::quota::GrantedLedger;
use caas_testkit::store::{
    add_domain, claim_of, domain_of, now, seed_org, seed_project, seed_service, unique,
};
use tokio::task::JoinSet;

async fn tenant(store: &dyn Store, prefix: &str) -> Service {
    let org = seed_org(store, prefix).await;
    let project = seed_project(store, &org, "p").await;
    seed_service(store, &project, "web").await
}

/// Every domain on `host` is under a live claim of its own organization.
async fn assert_every_domain_is_claimed(store: &dyn Store, host: &str) {
    let domains = store.list_host_domains(host).await.unwrap();
    let claim = store.host_claim_opt(host).await.unwrap();
    for d in &domains {
        assert_eq!(
            claim.as_ref().map(|c| c.org),
            Some(d.org),
            "{host}: a domain outside its organization's claim ({claim:?}, {domains:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_organizations_racing_for_a_dead_claim_leave_one_owner_and_remember_it() {
    let Some(store) = common::fresh_store().await else {
        return;
    };
    let site = format!("{}.co.uk", unique("dead"));
    let host = format!("shop.{site}");
    let first = tenant(&*store, "dead-first").await;
    let mut claim = add_domain(&*store, &domain_of(&first, &host, "/")).await;
    claim.verification = VerificationStatus::Verified { at: now() };
    store.update_host_claim(&claim).await.unwrap();
    // The domain goes with its service; the verified claim row stays behind, dead.
    store.delete_service(first.id).await.unwrap();
    assert_eq!(store.host_claim_opt(&host).await.unwrap(), None);

    let mut tenants = Vec::new();
    for i in 0..16 {
        tenants.push(tenant(&*store, &format!("dead{i}")).await);
    }
    let mut race = JoinSet::new();
    for (i, svc) in tenants.iter().enumerate() {
        let store = Arc::clone(&store);
        let d = domain_of(svc, &host, &format!("/p{i}"));
        race.spawn(async move { (d.org, store.create_domain_for(&d, &claim_of(&d)).await) });
    }
    let outcomes = race.join_all().await;
    let winners: Vec<_> = outcomes.iter().filter(|(_, r)| r.is_ok()).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for (_, r) in &outcomes {
        if let Err(e) = r {
            assert!(e.is_conflict(), "a loser gets Conflict: {e:?}");
        }
    }
    let winner = winners[0].0;
    assert_eq!(
        store.host_claim_opt(&host).await.unwrap().map(|c| c.org),
        Some(winner)
    );
    assert_every_domain_is_claimed(&*store, &host).await;
    // The replaced claim was verified: it is remembered for the winner too.
    assert!(store.site_verified_by_others(&site, winner).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removing_a_last_domain_while_domains_are_added_never_orphans_one() {
    let Some(store) = common::fresh_store().await else {
        return;
    };
    let owner = tenant(&*store, "churn").await;
    let rival = tenant(&*store, "churn-rival").await;
    for round in 0..25 {
        let host = format!("{}.example.com", unique(&format!("churn{round}")));
        let last = domain_of(&owner, &host, "/");
        add_domain(&*store, &last).await;
        let mut race = JoinSet::new();
        {
            let store = Arc::clone(&store);
            race.spawn(async move { store.delete_domain(last.id).await.map(|()| None) });
        }
        for (svc, path) in [(&owner, "/more"), (&rival, "/rival")] {
            let store = Arc::clone(&store);
            let d = domain_of(svc, &host, path);
            race.spawn(async move {
                match store.create_domain_for(&d, &claim_of(&d)).await {
                    Ok(c) => Ok(Some(c)),
                    // The rival loses while the owner still holds the name.
                    Err(e) if e.is_conflict() => Ok(None),
                    Err(e) => Err(e),
                }
            });
        }
        for outcome in race.join_all().await {
            outcome.unwrap();
        }
        assert_every_domain_is_claimed(&*store, &host).await;
        let held = store.host_claim_opt(&host).await.unwrap();
        let left = store.list_host_domains(&host).await.unwrap();
        assert_eq!(held.is_some(), !left.is_empty(), "{held:?} {left:?}");
    }
}
