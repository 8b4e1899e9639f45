//! Behaviours of the audit log's filters: organization, action prefix, actor, `since`
//! (inclusive) and `before` (exclusive), alone and together, with the limit applied after
//! filtering, as [`AuditFilter::matches`] defines them.
//!
//! Every behaviour writes its entries under its own action namespace (a unique prefix), with
//! its own users and organizations, and checks filters that span organizations on its own
//! rows only, so it passes on a database shared with concurrent tests.

use std::sync::Arc;

use caas_core::model::{AuditEntry, User};
use caas_core::ports::store::AuditFilter;
use caas_core::{AuditId, OrgId, Store, UserId};
use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{audit_of, now, seed_org, seed_user, unique};

/// The entries [`seed_audit_log`] wrote, named by what they are for.
#[derive(Debug, Clone)]
pub struct AuditLog {
    /// The unique action namespace: every action starts with `<ns>.`.
    pub ns: String,
    /// The organization most entries are about.
    pub org: OrgId,
    /// Another organization.
    pub other_org: OrgId,
    /// The actor of most entries.
    pub actor: User,
    /// An actor of one entry.
    pub other_actor: User,
    /// The time of `deploy`; the others are whole seconds around it.
    pub t0: DateTime<Utc>,
    /// org, actor, `<ns>.service.restart`, t0 - 1 s.
    pub restart: AuditEntry,
    /// org, actor, `<ns>.service.deploy`, t0.
    pub deploy: AuditEntry,
    /// org, other actor, `<ns>.service.delete`, t0 + 1 s.
    pub delete: AuditEntry,
    /// org, actor, `<ns>.org.update`, t0 + 2 s.
    pub org_update: AuditEntry,
    /// other org, actor, `<ns>.service.deploy`, t0 + 3 s.
    pub other_org_deploy: AuditEntry,
    /// no org, actor, `<ns>.plan.create`, t0 + 4 s.
    pub platform: AuditEntry,
    /// org, actor, `<ns>.servicex` (shares the prefix `<ns>.service` but not `<ns>.service.`),
    /// t0 + 5 s.
    pub lookalike: AuditEntry,
    /// org, no actor (the platform itself), `<ns>.service.deploy`, t0 + 6 s.
    pub unattended: AuditEntry,
}

impl AuditLog {
    /// Every entry.
    pub fn all(&self) -> Vec<&AuditEntry> {
        vec![
            &self.restart,
            &self.deploy,
            &self.delete,
            &self.org_update,
            &self.other_org_deploy,
            &self.platform,
            &self.lookalike,
            &self.unattended,
        ]
    }

    /// The ids of every entry.
    pub fn ids(&self) -> Vec<AuditId> {
        self.all().into_iter().map(|e| e.id).collect()
    }

    /// `<ns>.<rest>`.
    pub fn action(&self, rest: &str) -> String {
        format!("{}.{rest}", self.ns)
    }

    /// `t0` plus `s` seconds.
    pub fn at(&self, s: i64) -> DateTime<Utc> {
        self.t0 + Duration::seconds(s)
    }
}

/// Writes eight entries (see [`AuditLog`]) in shuffled order and returns them.
pub async fn seed_audit_log(store: &dyn Store) -> AuditLog {
    let org = seed_org(store, "aud-f").await.id;
    let other_org = seed_org(store, "aud-g").await.id;
    let actor = seed_user(store, "aud-actor").await;
    let other_actor = seed_user(store, "aud-other").await;
    let ns = unique("aud");
    let t0 = now();
    let entry = |org: Option<OrgId>, actor: Option<UserId>, rest: &str, s: i64| {
        let mut e = audit_of(org, &format!("{ns}.{rest}"), t0 + Duration::seconds(s));
        e.actor = actor;
        e
    };
    let a = Some(actor.id);
    let log = AuditLog {
        restart: entry(Some(org), a, "service.restart", -1),
        deploy: entry(Some(org), a, "service.deploy", 0),
        delete: entry(Some(org), Some(other_actor.id), "service.delete", 1),
        org_update: entry(Some(org), a, "org.update", 2),
        other_org_deploy: entry(Some(other_org), a, "service.deploy", 3),
        platform: entry(None, a, "plan.create", 4),
        lookalike: entry(Some(org), a, "servicex", 5),
        unattended: entry(Some(org), None, "service.deploy", 6),
        ns: ns.clone(),
        org,
        other_org,
        actor,
        other_actor,
        t0,
    };
    for e in [
        &log.org_update,
        &log.unattended,
        &log.deploy,
        &log.platform,
        &log.restart,
        &log.lookalike,
        &log.delete,
        &log.other_org_deploy,
    ] {
        store.append_audit(e).await.expect("append_audit");
    }
    log
}

/// Lists with `filter` (limit 1000), checks every row returned passes the filter, and returns
/// the rows written by `log`, in the order listed.
async fn listed(store: &dyn Store, log: &AuditLog, filter: &AuditFilter) -> Vec<AuditEntry> {
    let mut f = filter.clone();
    f.limit = 1000;
    let rows = store.list_audit(&f).await.expect("list_audit");
    for r in &rows {
        assert!(
            f.matches(r),
            "list_audit({f:?}) returned an entry the filter refuses: {r:?}"
        );
    }
    let ours = log.ids();
    rows.into_iter().filter(|e| ours.contains(&e.id)).collect()
}

fn owned(entries: &[&AuditEntry]) -> Vec<AuditEntry> {
    entries.iter().map(|e| (*e).clone()).collect()
}

/// An action prefix keeps the actions starting with it, across organizations, and is a plain
/// string prefix: `service` also matches `servicex`, `service.` does not, and a whole action
/// matches itself.
pub async fn list_audit_filters_by_action_prefix(store: Arc<dyn Store>) {
    let log = seed_audit_log(&*store).await;
    let by = |p: &str| AuditFilter::default().action_prefix(log.action(p));

    assert_eq!(
        listed(&*store, &log, &by("service.")).await,
        owned(&[
            &log.unattended,
            &log.other_org_deploy,
            &log.delete,
            &log.deploy,
            &log.restart,
        ])
    );
    assert_eq!(
        listed(&*store, &log, &by("service")).await,
        owned(&[
            &log.unattended,
            &log.lookalike,
            &log.other_org_deploy,
            &log.delete,
            &log.deploy,
            &log.restart,
        ])
    );
    assert_eq!(
        listed(&*store, &log, &by("service.deploy")).await,
        owned(&[&log.unattended, &log.other_org_deploy, &log.deploy])
    );
    assert_eq!(
        listed(&*store, &log, &by("org.")).await,
        owned(&[&log.org_update])
    );
    assert!(listed(&*store, &log, &by("nothing")).await.is_empty());
    assert!(
        listed(&*store, &log, &by("service.deploy.more"))
            .await
            .is_empty(),
        "a prefix longer than the action does not match it"
    );
    assert!(
        listed(&*store, &log, &by("Service.")).await.is_empty(),
        "the prefix is case-sensitive"
    );
    // The whole namespace: every entry.
    let mut everything = log.all();
    everything.sort_by_key(|e| std::cmp::Reverse(e.at));
    assert_eq!(
        listed(
            &*store,
            &log,
            &AuditFilter::default().action_prefix(log.ns.clone())
        )
        .await,
        owned(&everything)
    );
}

/// An actor filter keeps that user's entries, across organizations; entries without an actor
/// never match it.
pub async fn list_audit_filters_by_actor(store: Arc<dyn Store>) {
    let log = seed_audit_log(&*store).await;
    assert_eq!(
        listed(&*store, &log, &AuditFilter::default().actor(log.actor.id)).await,
        owned(&[
            &log.lookalike,
            &log.platform,
            &log.other_org_deploy,
            &log.org_update,
            &log.deploy,
            &log.restart,
        ])
    );
    let f = AuditFilter::default().actor(log.other_actor.id);
    assert_eq!(
        store.list_audit(&f).await.expect("list_audit"),
        vec![log.delete.clone()],
        "a user's own entries and nothing else"
    );
    let nobody = seed_user(&*store, "aud-nobody").await;
    assert!(
        store
            .list_audit(&AuditFilter::default().actor(nobody.id))
            .await
            .expect("list_audit")
            .is_empty()
    );
}

/// `since` keeps entries at or after it, `before` entries strictly before it, to the
/// microsecond, and bounds finer than a microsecond compare as they do on the entries
/// themselves.
pub async fn list_audit_since_is_inclusive_and_before_exclusive(store: Arc<dyn Store>) {
    let log = seed_audit_log(&*store).await;
    let us = Duration::microseconds(1);
    let ns = Duration::nanoseconds(500);
    let since = |t: DateTime<Utc>| {
        let mut f = AuditFilter::default();
        f.since = Some(t);
        f
    };
    let before = |t: DateTime<Utc>| {
        let mut f = AuditFilter::default();
        f.before = Some(t);
        f
    };

    // `since` alone: the entry at exactly `since` is in, one a microsecond earlier is out.
    assert_eq!(
        listed(&*store, &log, &since(log.at(4))).await,
        owned(&[&log.unattended, &log.lookalike, &log.platform])
    );
    assert_eq!(
        listed(&*store, &log, &since(log.at(4) + us)).await,
        owned(&[&log.unattended, &log.lookalike])
    );
    assert_eq!(
        listed(&*store, &log, &since(log.at(4) - us)).await,
        owned(&[&log.unattended, &log.lookalike, &log.platform])
    );
    // Half a microsecond after an entry: the entry is earlier than `since`.
    assert_eq!(
        listed(&*store, &log, &since(log.at(4) + ns)).await,
        owned(&[&log.unattended, &log.lookalike])
    );

    // `before` alone: the entry at exactly `before` is out, one a microsecond later is in.
    assert_eq!(
        listed(&*store, &log, &before(log.at(1))).await,
        owned(&[&log.deploy, &log.restart])
    );
    assert_eq!(
        listed(&*store, &log, &before(log.at(1) + us)).await,
        owned(&[&log.delete, &log.deploy, &log.restart])
    );
    // Half a microsecond after an entry: the entry is before `before`.
    assert_eq!(
        listed(&*store, &log, &before(log.at(1) + ns)).await,
        owned(&[&log.delete, &log.deploy, &log.restart])
    );
    assert_eq!(
        listed(&*store, &log, &before(log.at(-1))).await,
        Vec::<AuditEntry>::new()
    );

    // Both: a half-open window [since, before).
    let mut window = since(log.at(1)).org(log.org);
    window.before = Some(log.at(5));
    assert_eq!(
        store.list_audit(&window).await.expect("list_audit"),
        vec![log.org_update.clone(), log.delete.clone()]
    );
    window.before = Some(log.at(1));
    assert!(
        store
            .list_audit(&window)
            .await
            .expect("list_audit")
            .is_empty(),
        "since == before is an empty window"
    );
    window.since = Some(log.at(3));
    assert!(
        store
            .list_audit(&window)
            .await
            .expect("list_audit")
            .is_empty(),
        "since after before is an empty window"
    );

    // Bounds beyond the years a store can keep still compare like times.
    let org_entries = owned(&[
        &log.unattended,
        &log.lookalike,
        &log.org_update,
        &log.delete,
        &log.deploy,
        &log.restart,
    ]);
    let far_past = [
        DateTime::<Utc>::MIN_UTC,
        Utc.with_ymd_and_hms(-5000, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid time"),
    ];
    let far_future = [
        DateTime::<Utc>::MAX_UTC,
        Utc.with_ymd_and_hms(20000, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid time"),
    ];
    let in_org = |f: AuditFilter| {
        let store = store.clone();
        let f = f.org(log.org);
        async move { store.list_audit(&f).await }
    };
    for t in far_past {
        assert_eq!(
            in_org(since(t)).await.expect("list_audit"),
            org_entries,
            "since {t:?}"
        );
        assert!(
            in_org(before(t)).await.expect("list_audit").is_empty(),
            "before {t:?}"
        );
    }
    for t in far_future {
        assert!(
            in_org(since(t)).await.expect("list_audit").is_empty(),
            "since {t:?}"
        );
        assert_eq!(
            in_org(before(t)).await.expect("list_audit"),
            org_entries,
            "before {t:?}"
        );
    }
}

/// Every filter together keeps only the entries passing all of them; dropping any one of
/// them brings back exactly the entries it alone refused.
pub async fn list_audit_combines_every_filter(store: Arc<dyn Store>) {
    let log = seed_audit_log(&*store).await;
    let mut all = AuditFilter::default()
        .org(log.org)
        .action_prefix(log.action("service"))
        .actor(log.actor.id);
    all.since = Some(log.t0);
    all.before = Some(log.at(5));
    assert_eq!(
        store.list_audit(&all).await.expect("list_audit"),
        vec![log.deploy.clone()]
    );

    let mut no_org = all.clone();
    no_org.org = None;
    assert_eq!(
        listed(&*store, &log, &no_org).await,
        owned(&[&log.other_org_deploy, &log.deploy])
    );
    let mut no_prefix = all.clone();
    no_prefix.action_prefix = None;
    assert_eq!(
        listed(&*store, &log, &no_prefix).await,
        owned(&[&log.org_update, &log.deploy])
    );
    let mut no_actor = all.clone();
    no_actor.actor = None;
    assert_eq!(
        listed(&*store, &log, &no_actor).await,
        owned(&[&log.delete, &log.deploy])
    );
    let mut no_since = all.clone();
    no_since.since = None;
    assert_eq!(
        listed(&*store, &log, &no_since).await,
        owned(&[&log.deploy, &log.restart])
    );
    let mut no_before = all.clone();
    no_before.before = None;
    assert_eq!(
        listed(&*store, &log, &no_before).await,
        owned(&[&log.lookalike, &log.deploy])
    );

    // An organization filter with another organization's actor finds nothing.
    let strangers = AuditFilter::default()
        .org(log.other_org)
        .actor(log.other_actor.id);
    assert!(
        store
            .list_audit(&strangers)
            .await
            .expect("list_audit")
            .is_empty()
    );
}

/// The limit applies after filtering (the newest entries that pass, not the newest entries
/// then filtered); a limit of zero lists nothing.
pub async fn list_audit_limit_applies_after_filters(store: Arc<dyn Store>) {
    let log = seed_audit_log(&*store).await;
    // Newer entries of the same organization that the prefix refuses.
    for s in 10..15 {
        let e = audit_of(Some(log.org), &log.action("org.noise"), log.at(s));
        store.append_audit(&e).await.expect("append_audit");
    }
    let f = AuditFilter::default()
        .org(log.org)
        .action_prefix(log.action("service."))
        .limit(2);
    assert_eq!(
        store.list_audit(&f).await.expect("list_audit"),
        vec![log.unattended.clone(), log.delete.clone()]
    );
    let f = f.limit(3).actor(log.actor.id);
    assert_eq!(
        store.list_audit(&f).await.expect("list_audit"),
        vec![log.deploy.clone(), log.restart.clone()],
        "fewer matches than the limit: all of them"
    );
    assert!(
        store
            .list_audit(&f.limit(0))
            .await
            .expect("list_audit")
            .is_empty()
    );
}

/// Pages back through an organization's log with the previous page's oldest entry
/// ([`AuditFilter::before_entry`]), as the filter's documentation says, seeing every entry
/// exactly once.
pub async fn list_audit_pages_back_with_before(store: Arc<dyn Store>) {
    let log = seed_audit_log(&*store).await;
    let mut f = AuditFilter::default().org(log.org).limit(2);
    let mut pages = Vec::new();
    loop {
        let page = store.list_audit(&f).await.expect("list_audit");
        let Some(oldest) = page.last() else { break };
        f = f.clone().before_entry(oldest);
        pages.push(page.iter().map(|e| e.id).collect::<Vec<_>>());
        assert!(pages.len() <= 4, "paging does not end: {pages:?}");
    }
    assert_eq!(
        pages,
        vec![
            vec![log.unattended.id, log.lookalike.id],
            vec![log.org_update.id, log.delete.id],
            vec![log.deploy.id, log.restart.id],
        ]
    );
}

/// Action prefixes are literal: `%`, `_` and `\` (wildcards and the escape character of SQL
/// `LIKE`) match only themselves, letters match only their own case, and a prefix ending in
/// any character (the last Unicode scalar value included) keeps only what starts with it.
pub async fn list_audit_action_prefix_matches_wildcards_literally(store: Arc<dyn Store>) {
    let ns = unique("aud-lit");
    let org = seed_org(&*store, "aud-lit").await;
    let t0 = now();
    let actions = [
        "a_b.x",        // 0
        "aXb.x",        // 1: `_` as a wildcard would match it
        "a%b",          // 2
        "aZZb",         // 3: `%` as a wildcard would match it
        "a\\b",         // 4
        "a\\\\b",       // 5: two backslashes
        "ab",           // 6: `\` as an escape would make `a\b` match it
        "Up.x",         // 7
        "up.x",         // 8
        "\u{e9}1",      // 9: é
        "\u{ea}",       // 10: ê, the character after é
        "z\u{10FFFF}",  // 11
        "z\u{10FFFF}a", // 12
        "{",            // 13: the character after z
        "a%",           // 14
        "a%%",          // 15
    ];
    let mut entries = Vec::new();
    for (i, rest) in actions.iter().enumerate() {
        let at = t0 + Duration::seconds(i64::try_from(i).expect("few entries"));
        let e = audit_of(Some(org.id), &format!("{ns}.{rest}"), at);
        store.append_audit(&e).await.expect("append_audit");
        entries.push(e);
    }
    let expect = |prefix: &str, which: &[usize]| {
        let mut want: Vec<AuditEntry> = which.iter().map(|&i| entries[i].clone()).collect();
        want.sort_by_key(|e| std::cmp::Reverse(e.at));
        (
            AuditFilter::default().action_prefix(format!("{ns}.{prefix}")),
            want,
        )
    };
    for (prefix, which) in [
        ("a_", &[0][..]),
        ("a_b", &[0]),
        ("a%", &[2, 14, 15]),
        ("a%%", &[15]),
        ("a%b", &[2]),
        ("a\\", &[4, 5]),
        ("a\\b", &[4]),
        ("a\\\\", &[5]),
        ("Up", &[7]),
        ("up", &[8]),
        ("U", &[7]),
        ("\u{e9}", &[9]),
        ("\u{ea}", &[10]),
        ("z\u{10FFFF}", &[11, 12]),
        ("z", &[11, 12]),
        ("a", &[0, 1, 2, 3, 4, 5, 6, 14, 15]),
    ] {
        let (f, want) = expect(prefix, which);
        assert_eq!(
            store.list_audit(&f).await.expect("list_audit"),
            want,
            "action prefix {prefix:?}"
        );
    }
    let everything = AuditFilter::default().action_prefix(format!("{ns}."));
    assert_eq!(
        store
            .list_audit(&everything)
            .await
            .expect("list_audit")
            .len(),
        actions.len()
    );
    let empty_prefix = AuditFilter::default().org(org.id).action_prefix("");
    assert_eq!(
        store
            .list_audit(&empty_prefix)
            .await
            .expect("list_audit")
            .len(),
        actions.len(),
        "an empty prefix matches every action"
    );
}

/// Paging back with [`AuditFilter::before_entry`] (the oldest entry's `at` and `id`) visits
/// every entry exactly once, newest first, also when a page boundary falls among entries that
/// share a timestamp; `before` alone still excludes every entry at that time.
pub async fn list_audit_pages_through_entries_sharing_a_timestamp(store: Arc<dyn Store>) {
    let org = seed_org(&*store, "aud-page").await.id;
    let ns = unique("aud");
    let t = now();
    let mut written = Vec::new();
    for (i, s) in [0i64, 0, 1, 0, -1, 0, 0].into_iter().enumerate() {
        let e = audit_of(Some(org), &format!("{ns}.n{i}"), t + Duration::seconds(s));
        store.append_audit(&e).await.expect("append_audit");
        written.push(e);
    }
    written.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
    let first = AuditFilter::default().org(org).limit(2);
    let mut pages = Vec::new();
    let mut filter = first.clone();
    loop {
        let page = store.list_audit(&filter).await.expect("list_audit");
        for e in &page {
            assert!(filter.matches(e), "{filter:?} returned {e:?}");
        }
        let Some(last) = page.last().cloned() else {
            break;
        };
        pages.push(page);
        filter = first.clone().before_entry(&last);
        assert!(pages.len() <= written.len(), "paging does not end");
    }
    let seen: Vec<AuditId> = pages.iter().flatten().map(|e| e.id).collect();
    let want: Vec<AuditId> = written.iter().map(|e| e.id).collect();
    assert_eq!(seen, want, "every entry once, newest first");
    assert_eq!(pages.len(), 4, "pages of 2, 2, 2 and 1");

    let mut at_only = AuditFilter::default().org(org);
    at_only.before = Some(t);
    let older = store.list_audit(&at_only).await.expect("list_audit");
    assert_eq!(older.len(), 1, "only the entry a second earlier: {older:?}");
}
