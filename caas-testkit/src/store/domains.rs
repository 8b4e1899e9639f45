//! Behaviours of domains and of the hostname claims they are under: one organization owns a
//! hostname with every path on it, the store decides atomically, a claim ends with its last
//! domain, unproven claims expire, and released verified claims are remembered per site.

use std::sync::Arc;

use caas_core::Store;
use caas_core::model::{Domain, HostClaim, Readiness, Service, VerificationStatus};
use caas_core::units::GIB;
use caas_core::validate::HostPattern;
use chrono::Duration;

use super::{
    assert_already_exists, assert_conflict, assert_not_found, assert_quota_exceeded,
    generous_limits, now, seed_org, seed_project, seed_service, seed_subscribed_org, unique,
};
use crate::quota::GrantedLedger;

/// A domain of `service` (unsaved).
pub fn domain_of(service: &Service, host: &str, path: &str) -> Domain {
    Domain {
        id: caas_core::DomainId::new(),
        org: service.org,
        service: service.id,
        hostname: HostPattern::parse_field("hostname", host, true).expect("fixture hostname"),
        path_prefix: path.to_string(),
        strip_prefix: false,
        target_port: 8080,
        created_at: now(),
    }
}

/// A pending claim on `domain`'s hostname by its organization, expiring in a week.
pub fn claim_of(domain: &Domain) -> HostClaim {
    let at = now();
    HostClaim {
        hostname: domain.hostname.clone(),
        org: domain.org,
        site: domain.hostname.site(),
        token: unique("tok"),
        verification: VerificationStatus::Pending,
        readiness: None,
        expires_at: at + Duration::days(7),
        created_at: at,
    }
}

/// Stores `domain` under a fresh claim of its organization, returning the claim it is under.
pub async fn add_domain(store: &dyn Store, domain: &Domain) -> HostClaim {
    store
        .create_domain_for(domain, &claim_of(domain))
        .await
        .expect("create_domain")
}

/// A service of its own in a new organization.
async fn tenant(store: &dyn Store, prefix: &str) -> Service {
    let org = seed_org(store, prefix).await;
    let project = seed_project(store, &org, "p").await;
    seed_service(store, &project, "web").await
}

/// Domains read back exactly, by id, per service, per organization, per hostname; the first
/// domain on a hostname makes its claim, which later ones share.
pub async fn domains_roundtrip_and_list_per_service_org_and_host(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "dom").await;
    let project = seed_project(&*store, &org, "p").await;
    let svc = seed_service(&*store, &project, "web").await;
    let api = seed_service(&*store, &project, "api").await;
    let host = format!("{}.example.com", unique("d"));
    let a = domain_of(&svc, &host, "/");
    let b = domain_of(&api, &host, "/api");
    let first = claim_of(&a);
    let claim = store.create_domain_for(&a, &first).await.expect("create");
    assert_eq!(claim, first, "the first domain's claim is stored as given");
    let mut second = claim_of(&b);
    second.token = unique("other-token");
    assert_eq!(
        store.create_domain_for(&b, &second).await.expect("create"),
        first,
        "a later domain of the same organization is under the existing claim"
    );
    assert_eq!(store.domain(a.id).await.expect("read"), a);
    assert_eq!(
        store.list_domains(svc.id).await.expect("list"),
        vec![a.clone()]
    );
    assert_eq!(
        store.list_org_domains(org.id).await.expect("list"),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        store.list_host_domains(&host).await.expect("list"),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        store.host_claim_opt(&host).await.expect("claim"),
        Some(first.clone())
    );
    assert_eq!(
        store.list_host_claims(Some(org.id)).await.expect("claims"),
        vec![first.clone()]
    );
    assert!(
        store
            .list_host_claims(None)
            .await
            .expect("claims")
            .contains(&first)
    );
    assert_not_found(
        store.domain(caas_core::DomainId::new()).await,
        "missing domain",
    );
    let mut stranger = domain_of(&svc, &format!("x{host}"), "/");
    stranger.service = caas_core::ServiceId::new();
    assert_not_found(
        store
            .create_domain_for(&stranger, &claim_of(&stranger))
            .await,
        "domain of a missing service",
    );
    let other = tenant(&*store, "dom-other").await;
    let mut foreign = domain_of(&other, &format!("y{host}"), "/");
    foreign.service = svc.id;
    assert_not_found(
        store.create_domain_for(&foreign, &claim_of(&foreign)).await,
        "domain on another organization's service",
    );
    let c = domain_of(&svc, &format!("z{host}"), "/");
    let mut wrong = claim_of(&c);
    wrong.org = other.org;
    let e = store
        .create_domain_for(&c, &wrong)
        .await
        .expect_err("a claim of another organization");
    assert!(
        e.is_invalid_input(),
        "a claim of another organization: {e:?}"
    );
}

/// Another organization's domain on a held hostname is refused whatever its path — a longer
/// prefix would otherwise take the owner's traffic — without naming the owner; the owner's
/// own hostname and path twice is `AlreadyExists`.
pub async fn a_hostname_belongs_to_one_organization_with_every_path(store: Arc<dyn Store>) {
    let host = format!("{}.example.com", unique("own"));
    let owner = tenant(&*store, "own").await;
    let rival = tenant(&*store, "rival").await;
    let claim = add_domain(&*store, &domain_of(&owner, &host, "/")).await;
    for path in ["/login", "/", "/a/b/c"] {
        let e = assert_conflict(
            store
                .create_domain_for(
                    &domain_of(&rival, &host, path),
                    &claim_of(&domain_of(&rival, &host, path)),
                )
                .await,
            &format!("{host}{path} of another organization"),
        );
        let said = e.to_string();
        assert!(said.contains("another organization"), "{said}");
        let owner_slug = store.org(owner.org).await.expect("org").slug;
        assert!(
            !said.contains(owner_slug.as_str()),
            "names the owner: {said}"
        );
    }
    assert_already_exists(
        store
            .create_domain_for(
                &domain_of(&owner, &host, "/"),
                &claim_of(&domain_of(&owner, &host, "/")),
            )
            .await,
        "the owner's hostname and path twice",
    );
    let blog = domain_of(&owner, &host, "/blog");
    assert_eq!(add_domain(&*store, &blog).await, claim);
    assert_eq!(
        store.list_host_domains(&host).await.expect("list").len(),
        2,
        "the refusals stored nothing"
    );
    assert_eq!(
        store.host_claim_opt(&host).await.expect("claim"),
        Some(claim)
    );
}

/// Sixteen organizations claiming one hostname at the same moment (each on its own path):
/// exactly one wins, every other gets `Conflict`, and only the winner's domain is stored.
pub async fn sixteen_organizations_claiming_one_hostname_at_once_leave_one_owner(
    store: Arc<dyn Store>,
) {
    let host = format!("{}.example.com", unique("race"));
    let mut tenants = Vec::new();
    for i in 0..16 {
        tenants.push(tenant(&*store, &format!("race{i}")).await);
    }
    let attempts = tenants.iter().enumerate().map(|(i, svc)| {
        let store = store.clone();
        let d = domain_of(svc, &host, &format!("/p{i}"));
        async move {
            let claim = claim_of(&d);
            (d.org, store.create_domain_for(&d, &claim).await)
        }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let winners: Vec<_> = outcomes
        .iter()
        .filter_map(|(org, r)| r.as_ref().ok().map(|c| (*org, c.clone())))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one claim wins: {outcomes:?}");
    for (_, r) in &outcomes {
        if let Err(e) = r {
            assert!(e.is_conflict(), "a loser gets Conflict: {e:?}");
        }
    }
    let (winner, claim) = &winners[0];
    assert_eq!(claim.org, *winner);
    assert_eq!(
        store
            .host_claim_opt(&host)
            .await
            .expect("claim")
            .map(|c| c.org),
        Some(*winner)
    );
    let stored = store.list_host_domains(&host).await.expect("list");
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].org, *winner);
}

/// A claim lasts while its organization has a domain on the hostname: removing one of two
/// keeps it, removing the last frees the name for anyone, who then makes a new claim.
pub async fn a_claim_ends_with_its_last_domain(store: Arc<dyn Store>) {
    let host = format!("{}.example.com", unique("end"));
    let first = tenant(&*store, "end").await;
    let next = tenant(&*store, "next").await;
    let a = domain_of(&first, &host, "/");
    let b = domain_of(&first, &host, "/b");
    let claim = add_domain(&*store, &a).await;
    add_domain(&*store, &b).await;
    store.delete_domain(a.id).await.expect("delete one");
    assert_eq!(
        store.host_claim_opt(&host).await.expect("claim"),
        Some(claim)
    );
    assert_conflict(
        store
            .create_domain_for(
                &domain_of(&next, &host, "/"),
                &claim_of(&domain_of(&next, &host, "/")),
            )
            .await,
        "held while one domain is left",
    );
    store.delete_domain(b.id).await.expect("delete the last");
    assert_eq!(store.host_claim_opt(&host).await.expect("claim"), None);
    assert!(
        store
            .list_host_claims(Some(first.org))
            .await
            .expect("claims")
            .is_empty()
    );
    let d = domain_of(&next, &host, "/");
    let fresh = claim_of(&d);
    assert_eq!(
        store
            .create_domain_for(&d, &fresh)
            .await
            .expect("free again"),
        fresh
    );
    assert_not_found(store.delete_domain(a.id).await, "deleted domain");
}

/// Deleting a service removes its domains, and with the last of them the claim ends.
pub async fn domains_go_with_their_service(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "gone").await;
    let project = seed_project(&*store, &org, "p").await;
    let svc = seed_service(&*store, &project, "web").await;
    let host = format!("{}.example.com", unique("g"));
    let d = domain_of(&svc, &host, "/");
    add_domain(&*store, &d).await;
    store.delete_service(svc.id).await.expect("delete service");
    assert_not_found(store.domain(d.id).await, "domain of a deleted service");
    assert_eq!(store.host_claim_opt(&host).await.expect("claim"), None);
    let other = tenant(&*store, "gone-next").await;
    add_domain(&*store, &domain_of(&other, &host, "/")).await;
    let again = seed_service(&*store, &project, "web2").await;
    assert_conflict(
        store
            .create_domain_for(
                &domain_of(&again, &host, "/"),
                &claim_of(&domain_of(&again, &host, "/")),
            )
            .await,
        "the hostname is the next organization's now",
    );
}

/// A claim's verification and readiness are recorded (and nothing else changes); a domain's
/// strip prefix and port are updated; updates of what is gone are `NotFound`.
pub async fn updates_record_verification_and_routing_fields(store: Arc<dyn Store>) {
    let svc = tenant(&*store, "ver").await;
    let mut d = domain_of(&svc, &format!("{}.example.com", unique("v")), "/");
    let mut claim = add_domain(&*store, &d).await;
    claim.verification = VerificationStatus::Failed {
        reason: "no TXT record".into(),
    };
    claim.readiness = Some(Readiness {
        points_at_platform: true,
        detail: "resolves to 192.0.2.1, an address of the platform".into(),
        checked_at: now(),
    });
    store.update_host_claim(&claim).await.expect("update");
    assert_eq!(
        store
            .host_claim_opt(claim.hostname.as_str())
            .await
            .expect("claim"),
        Some(claim.clone())
    );
    let mut changed = claim.clone();
    changed.verification = VerificationStatus::Verified { at: now() };
    changed.token = "not-the-token".into();
    changed.expires_at = now();
    store.update_host_claim(&changed).await.expect("update");
    let read = store
        .host_claim_opt(claim.hostname.as_str())
        .await
        .expect("claim")
        .expect("held");
    assert_eq!(read.verification, changed.verification);
    assert_eq!(
        (read.token, read.expires_at),
        (claim.token.clone(), claim.expires_at),
        "only verification and readiness change"
    );
    let mut foreign = claim.clone();
    foreign.org = seed_org(&*store, "ver-other").await.id;
    assert_not_found(
        store.update_host_claim(&foreign).await,
        "claim of another organization",
    );
    d.strip_prefix = true;
    d.target_port = 9090;
    store.update_domain(&d).await.expect("update domain");
    assert_eq!(store.domain(d.id).await.expect("read"), d);
    store.delete_domain(d.id).await.expect("delete");
    assert_not_found(store.update_domain(&d).await, "update of a deleted domain");
    assert_not_found(
        store.update_host_claim(&claim).await,
        "update of a released claim",
    );
}

/// An unproven claim past its expiry is released with every domain of its organization on
/// the hostname; a verified or unexpired claim, or another organization's, is left alone.
pub async fn expired_unproven_claims_are_released_with_their_domains(store: Arc<dyn Store>) {
    let svc = tenant(&*store, "exp").await;
    let host = format!("{}.example.com", unique("exp"));
    let a = domain_of(&svc, &host, "/");
    let b = domain_of(&svc, &host, "/b");
    let mut claim = claim_of(&a);
    claim.expires_at = now() - Duration::seconds(1);
    store.create_domain_for(&a, &claim).await.expect("create");
    add_domain(&*store, &b).await;
    let other = tenant(&*store, "exp-other").await;
    assert!(
        store
            .release_expired_host_claim(&host, other.org, now())
            .await
            .expect("release")
            .is_empty(),
        "another organization's claim"
    );
    assert!(
        store
            .release_expired_host_claim(&host, svc.org, claim.expires_at - Duration::seconds(1))
            .await
            .expect("release")
            .is_empty(),
        "not expired yet"
    );
    let gone = store
        .release_expired_host_claim(&host, svc.org, now())
        .await
        .expect("release");
    assert_eq!(gone, vec![a.clone(), b.clone()]);
    assert_eq!(store.host_claim_opt(&host).await.expect("claim"), None);
    assert!(
        store
            .list_host_domains(&host)
            .await
            .expect("list")
            .is_empty()
    );

    let verified_host = format!("{}.example.com", unique("kept"));
    let c = domain_of(&svc, &verified_host, "/");
    let mut kept = claim_of(&c);
    kept.expires_at = now() - Duration::seconds(1);
    store.create_domain_for(&c, &kept).await.expect("create");
    kept.verification = VerificationStatus::Verified { at: now() };
    store.update_host_claim(&kept).await.expect("verify");
    assert!(
        store
            .release_expired_host_claim(&verified_host, svc.org, now())
            .await
            .expect("release")
            .is_empty(),
        "a verified claim never expires"
    );
    assert_eq!(store.domain(c.id).await.expect("kept"), c);
}

/// Whether another organization holds, or ever released, a verified claim on a name of a
/// site: pending claims do not count, the asking organization's own never do, and a released
/// one counts after its domain, its service or its whole organization is gone.
pub async fn verified_claims_are_remembered_per_site(store: Arc<dyn Store>) {
    let site = format!("{}.co.uk", unique("site"));
    let first = tenant(&*store, "site-a").await;
    let second = tenant(&*store, "site-b").await;
    let third = tenant(&*store, "site-c").await;
    let d = domain_of(&first, &format!("shop.{site}"), "/");
    let mut claim = add_domain(&*store, &d).await;
    assert_eq!(claim.site, site);
    let pending = domain_of(&third, &format!("blog.{site}"), "/");
    add_domain(&*store, &pending).await;
    let asks = |org| {
        let store = store.clone();
        let site = site.clone();
        async move {
            store
                .site_verified_by_others(&site, org)
                .await
                .expect("ask")
        }
    };
    assert!(!asks(second.org).await, "pending claims do not count");
    claim.verification = VerificationStatus::Verified { at: now() };
    store.update_host_claim(&claim).await.expect("verify");
    assert!(
        asks(second.org).await,
        "a verified claim of another organization"
    );
    assert!(!asks(first.org).await, "its own claims never count");
    assert!(
        !store
            .site_verified_by_others("elsewhere.co.uk", second.org)
            .await
            .expect("ask"),
        "another site"
    );
    store.delete_domain(d.id).await.expect("release");
    assert_eq!(
        store
            .host_claim_opt(claim.hostname.as_str())
            .await
            .expect("claim"),
        None
    );
    assert!(asks(second.org).await, "a released verified claim counts");

    // Released with its service, and with its organization.
    for how in ["service", "org"] {
        let site = format!("{}.net", unique(how));
        let holder = tenant(&*store, &format!("site-{how}")).await;
        let d = domain_of(&holder, &format!("www.{site}"), "/");
        let mut c = add_domain(&*store, &d).await;
        c.verification = VerificationStatus::Verified { at: now() };
        store.update_host_claim(&c).await.expect("verify");
        match how {
            "service" => store.delete_service(holder.id).await.expect("delete"),
            _ => store.delete_org(holder.org).await.expect("delete"),
        }
        assert!(
            store
                .site_verified_by_others(&site, second.org)
                .await
                .expect("ask"),
            "released with its {how}"
        );
    }
}

/// The plan's `max_domains` bounds how many domains an organization has, also for sixteen
/// domains added at once: exactly the limit is stored, the rest get `QuotaExceeded` on
/// `domains`. Organizations without a subscription are not bounded by the store.
pub async fn the_plan_bounds_an_organizations_domains(store: Arc<dyn Store>) {
    let mut limits = generous_limits();
    limits.max_domains = 3;
    limits.storage_bytes = GIB;
    let (org, _) = seed_subscribed_org(&*store, "dom-quota", limits).await;
    let project = seed_project(&*store, &org, "p").await;
    let svc = seed_service(&*store, &project, "web").await;
    let base = unique("q");
    let attempts = (0..16).map(|i| {
        let store = store.clone();
        let d = domain_of(&svc, &format!("h{i}.{base}.example.com"), "/");
        async move { store.create_domain_for(&d, &claim_of(&d)).await }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let ok = outcomes.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 3, "{outcomes:?}");
    for r in outcomes.into_iter().filter(Result::is_err) {
        let e = assert_quota_exceeded(r, "a domain over the plan's limit");
        let q = e.quota().expect("details");
        assert_eq!(q.dimensions.len(), 1);
        let dim = &q.dimensions[0];
        assert_eq!(
            (dim.dimension.as_str(), dim.used, dim.requested, dim.limit),
            ("domains", 3, 1, 3)
        );
    }
    assert_eq!(store.list_org_domains(org.id).await.expect("list").len(), 3);
    let unsubscribed = tenant(&*store, "dom-free").await;
    for i in 0..4 {
        add_domain(
            &*store,
            &domain_of(&unsubscribed, &format!("f{i}.{base}.example.com"), "/"),
        )
        .await;
    }
}

/// Wildcard domains are stored and read back as written, and `list_domains_under` finds every
/// hostname below a base, across organizations, but not the base itself nor look-alikes.
pub async fn wildcards_are_stored_and_listed_under_their_base(store: Arc<dyn Store>) {
    let base = format!("{}.example.com", unique("wild"));
    let s1 = tenant(&*store, "wild").await;
    let s2 = tenant(&*store, "wild2").await;
    let wildcard = domain_of(&s1, &format!("*.{base}"), "/");
    let exact = domain_of(&s2, &format!("shop.{base}"), "/");
    let deep = domain_of(&s2, &format!("a.b.{base}"), "/api");
    let apex = domain_of(&s1, &base, "/");
    let lookalike = domain_of(&s1, &format!("x{base}"), "/");
    for d in [&wildcard, &exact, &deep, &apex, &lookalike] {
        add_domain(&*store, d).await;
    }
    let read = store.domain(wildcard.id).await.expect("read");
    assert_eq!(read, wildcard);
    assert!(read.hostname.is_wildcard());
    assert_eq!(
        store
            .host_claim_opt(&format!("*.{base}"))
            .await
            .expect("claim")
            .map(|c| c.org),
        Some(s1.org)
    );
    assert_eq!(
        store.list_domains_under(&base).await.expect("list"),
        vec![wildcard.clone(), exact.clone(), deep.clone()]
    );
    assert_eq!(
        store
            .list_domains_under(&base.to_ascii_uppercase())
            .await
            .expect("list"),
        vec![wildcard, exact, deep],
        "the base is matched case-insensitively"
    );
    assert_eq!(
        store
            .list_domains_under(&format!("nothing.{base}"))
            .await
            .expect("list"),
        vec![]
    );
}

/// A domain as an earlier version stored it, for [`upgrading_gives_each_hostname_one_owner`]:
/// the route, its own verification and token (claims did not exist).
#[derive(Debug, Clone)]
pub struct LegacyDomain {
    /// The route.
    pub domain: Domain,
    /// Its verification as stored then.
    pub verification: VerificationStatus,
    /// Its verification token.
    pub token: String,
}

/// The upgrade to hostname claims on a store holding what an earlier version allowed — one
/// hostname in several organizations: the oldest verified owner keeps each hostname (the
/// oldest owner when none is verified, its claim pending with a fresh week to prove it),
/// the others' domains are kept but under no claim of theirs (so they are never routed), and
/// each claim's site is its registrable domain. `insert_legacy` writes one domain the old
/// way; `upgrade` runs the new migrations.
pub async fn upgrading_gives_each_hostname_one_owner(
    store: &dyn Store,
    insert_legacy: impl AsyncFn(LegacyDomain),
    upgrade: impl std::future::Future<Output = ()>,
) {
    let a = tenant(store, "up-a").await;
    let b = tenant(store, "up-b").await;
    let b_api = seed_service(
        store,
        &store.project(b.project).await.expect("project"),
        "api",
    )
    .await;
    let c = tenant(store, "up-c").await;
    let site = format!("{}.co.uk", unique("up"));
    let (shared, pending, alone) = (
        format!("shop.{site}"),
        format!("{}.example.com", unique("pend")),
        format!("{}.example.org", unique("alone")),
    );
    let t0 = now() - Duration::days(30);
    let at = |m: i64| t0 + Duration::minutes(m);
    let verified = |m: i64| VerificationStatus::Verified { at: at(m) };
    let row = |svc: &Service, host: &str, path: &str, m: i64, v: VerificationStatus| {
        let mut d = domain_of(svc, host, path);
        d.created_at = at(m);
        LegacyDomain {
            domain: d,
            verification: v,
            token: unique("legacy"),
        }
    };
    let rows = [
        // `shared`: a's pending claim is the oldest, b proved it later: b keeps it.
        row(&a, &shared, "/", 0, VerificationStatus::Pending),
        row(&b, &shared, "/login", 1, verified(2)),
        row(&b_api, &shared, "/api", 3, VerificationStatus::Pending),
        row(&c, &shared, "/c", 4, verified(5)),
        // `pending`: nobody proved it; the oldest keeps it.
        row(&c, &pending, "/", 6, VerificationStatus::Pending),
        row(
            &a,
            &pending,
            "/x",
            7,
            VerificationStatus::Failed {
                reason: "no record".into(),
            },
        ),
        row(&c, &alone, "/", 8, verified(9)),
    ];
    for r in &rows {
        insert_legacy(r.clone()).await;
    }
    upgrade.await;

    let owner = |host: &str| {
        let host = host.to_string();
        async move {
            store
                .host_claim_opt(&host)
                .await
                .expect("claim")
                .expect("each hostname keeps an owner")
        }
    };
    let shared_claim = owner(&shared).await;
    assert_eq!(shared_claim.org, b.org, "the oldest verified owner");
    assert_eq!(shared_claim.verification, verified(2));
    assert_eq!(shared_claim.token, rows[1].token);
    assert_eq!(shared_claim.site, site, "the registrable domain");
    assert_eq!(
        store.list_host_domains(&shared).await.expect("list"),
        rows.iter()
            .take(4)
            .map(|r| r.domain.clone())
            .collect::<Vec<_>>(),
        "no domain is deleted"
    );
    let pending_claim = owner(&pending).await;
    assert_eq!(
        pending_claim.org, c.org,
        "the oldest owner when none is verified"
    );
    assert_eq!(pending_claim.verification, VerificationStatus::Pending);
    assert!(
        pending_claim.expires_at > now() + Duration::days(6),
        "a fresh week to prove it: {:?}",
        pending_claim.expires_at
    );
    assert_eq!(owner(&alone).await.org, c.org);
    assert!(
        store
            .site_verified_by_others(&site, a.org)
            .await
            .expect("ask")
    );
    assert!(
        store
            .site_verified_by_others(&site, b.org)
            .await
            .expect("ask"),
        "c proved a name of the site before the upgrade, though it did not keep it"
    );
    // The hostname is the owner's, every path of it.
    let late = domain_of(&a, &shared, "/late");
    assert_conflict(
        store.create_domain_for(&late, &claim_of(&late)).await,
        "another organization's path on the kept hostname",
    );
    let more = domain_of(&b, &shared, "/more");
    assert_eq!(add_domain(store, &more).await, shared_claim);
}
