//! Proving ownership of a hostname: HTTP challenges the platform answers itself, the address
//! policy of HTTP verification, names that pointing at the platform does not prove (dangling
//! records, a customer's DNS wildcard), reserved names, expiry, the plan's domain limit, and
//! one organization's checks not delaying another's.

use caas_core::ServiceRef;
use caas_core::ports::store::prelude::*;
use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use caas_core::ports::dns::DnsResolver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const CHALLENGE_UPSTREAM: &str = "http://caas.internal:8080";

/// What the emulated proxy saw: the hosts of the requests it received.
type Seen = Arc<Mutex<Vec<String>>>;

/// Plays the proxy on `listener`: a request is answered from the platform's challenge answer
/// only when the proxy holds a route for its host and path to [`CHALLENGE_UPSTREAM`], as a
/// real proxy would forward it; everything else is a 404.
fn emulated_proxy(listener: tokio::net::TcpListener, w: &World) -> Seen {
    let seen: Seen = Arc::default();
    let (platform, proxy, log) = (w.platform.clone(), w.proxy.clone(), seen.clone());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (platform, proxy, log) = (platform.clone(), proxy.clone(), log.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = text
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let host = text
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("host: ")
                            .or_else(|| l.strip_prefix("Host: "))
                    })
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                log.lock().unwrap().push(host.clone());
                let mut routed = false;
                for key in proxy.keys() {
                    if let Some(r) = proxy.routes_opt(&key).await.unwrap() {
                        routed |= r.upstreams == [CHALLENGE_UPSTREAM]
                            && r.rules.iter().any(|rule| {
                                rule.host.matches(&host) && path.starts_with(&rule.path_prefix)
                            });
                    }
                }
                let token = path
                    .strip_prefix(caas_core::platform::HTTP_CHALLENGE_PREFIX)
                    .unwrap_or_default();
                let answer = match routed {
                    true => platform
                        .domains()
                        .challenge_answer(&host, token)
                        .await
                        .unwrap(),
                    false => None,
                };
                let reply = match answer {
                    Some(t) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{t}",
                        t.len()
                    ),
                    None => {
                        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_string()
                    }
                };
                let _ = conn.write_all(reply.as_bytes()).await;
            });
        }
    });
    seen
}

/// A world whose HTTP verification connects to an emulated proxy on loopback (a platform
/// address here), what the proxy sees, and its port.
async fn http_world() -> (World, Seen, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let w = world_with(
        DomainConfig::new()
            .public_address(LOOPBACK)
            .http_challenge(CHALLENGE_UPSTREAM)
            .http_port(port)
            .http_timeout(Duration::from_secs(2))
            .wildcards(true),
    )
    .await;
    let seen = emulated_proxy(listener, &w);
    (w, seen, port)
}

#[tokio::test]
async fn the_platform_answers_the_http_challenge_of_a_pending_claim_through_its_proxy() {
    let (w, seen, _) = http_world().await;
    let svc = deploy(&w, "acme", "web").await;
    let d = add(&w, "web", NewDomain::new("Shop.Example.com"))
        .await
        .unwrap();
    let proof = d.ownership.clone().unwrap();
    let token = proof.txt_value.clone();
    assert_eq!(
        proof.http_url.as_deref(),
        Some(format!("http://shop.example.com/.well-known/caas-challenge/{token}").as_str())
    );
    // The claim's challenge route is applied at once: host and token path to the platform.
    let challenge: Vec<ServiceRoutes> = {
        let mut v = Vec::new();
        for key in w.proxy.keys() {
            v.push(w.proxy.routes_opt(&key).await.unwrap().unwrap());
        }
        v
    };
    assert_eq!(challenge.len(), 1, "{challenge:?}");
    assert_eq!(challenge[0].upstreams, vec![CHALLENGE_UPSTREAM.to_string()]);
    assert_eq!(
        challenge[0].rules,
        vec![RouteRule {
            host: Hostname::parse("shop.example.com").unwrap().into(),
            path_prefix: format!("/.well-known/caas-challenge/{token}"),
            strip_prefix: false,
            tls: false,
        }]
    );
    // The answer: only this token, only on this host (any case, with a port), only unproven.
    let answer = |host: &'static str, token: String| {
        let p = w.platform.clone();
        async move { p.domains().challenge_answer(host, &token).await.unwrap() }
    };
    assert_eq!(
        answer("shop.example.com", token.clone()).await,
        Some(token.clone())
    );
    assert_eq!(
        answer("SHOP.example.com:80", token.clone()).await,
        Some(token.clone())
    );
    assert_eq!(answer("other.example.com", token.clone()).await, None);
    assert_eq!(answer("shop.example.com", "x".repeat(32)).await, None);
    assert_eq!(answer("a`b", token.clone()).await, None);

    w.dns.set_ips("shop.example.com", [LOOPBACK]);
    let out = verify_in(&w, "acme", "shop.example.com", VerificationMethod::Http)
        .await
        .unwrap();
    assert!(verified(&out[0]), "{out:?}");
    assert_eq!(seen.lock().unwrap().as_slice(), ["shop.example.com"]);
    // Proven: the service is routed, the challenge route is gone, the token answers nothing.
    assert_eq!(w.proxy.keys(), vec![svc.to_string()]);
    assert_eq!(answer("shop.example.com", token).await, None);
}

#[tokio::test]
async fn http_verification_connects_to_public_addresses_only_and_echoes_nothing() {
    let (w, _, port) = http_world().await;
    deploy(&w, "acme", "web").await;
    // Something private answers on 127.0.0.2, which is no address of the platform.
    // (The world connects on its emulated proxy's port: listen there on 127.0.0.2.)
    let private = tokio::net::TcpListener::bind(("127.0.0.2", port))
        .await
        .unwrap();
    let contacted = Arc::new(Mutex::new(0usize));
    let c = contacted.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = private.accept().await {
            *c.lock().unwrap() += 1;
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 18\r\n\r\nSECRET-INTERNAL-42")
                .await;
        }
    });
    add(&w, "web", NewDomain::new("ssrf.example.com"))
        .await
        .unwrap();
    for targets in [
        vec!["127.0.0.2"],
        vec!["10.0.0.1", "169.254.169.254"],
        vec!["::1", "fd00:ec2::254"],
        vec!["64:ff9b::a9fe:a9fe", "2002:7f00:2::1", "::ffff:127.0.0.2"],
        vec!["100.64.0.1", "198.18.0.1", "0.0.0.0"],
    ] {
        let ips: Vec<IpAddr> = targets.iter().map(|t| t.parse().unwrap()).collect();
        w.dns.set_ips("ssrf.example.com", ips);
        let out = verify_in(&w, "acme", "ssrf.example.com", VerificationMethod::Http)
            .await
            .unwrap();
        let VerificationStatus::Failed { reason } = &out[0].verification else {
            panic!("{targets:?}: {out:?}")
        };
        for t in &targets {
            assert!(
                reason.contains(&format!("{t}: not a public address")),
                "{t}: {reason}"
            );
        }
        assert!(!reason.contains("SECRET"), "{reason}");
    }
    assert_eq!(
        *contacted.lock().unwrap(),
        0,
        "nothing private was contacted"
    );

    // A permitted address that answers something else: refused, and its answer not shown.
    let chatty = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = chatty.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = chatty.accept().await {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf).await;
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 18\r\n\r\nSECRET-INTERNAL-42")
                .await;
        }
    });
    let w2 = world_with(
        DomainConfig::new()
            .public_address(LOOPBACK)
            .http_challenge(CHALLENGE_UPSTREAM)
            .http_port(port),
    )
    .await;
    deploy(&w2, "acme", "web").await;
    add(&w2, "web", NewDomain::new("chatty.example.com"))
        .await
        .unwrap();
    w2.dns.set_ips("chatty.example.com", [LOOPBACK]);
    let out = verify_in(&w2, "acme", "chatty.example.com", VerificationMethod::Http)
        .await
        .unwrap();
    let VerificationStatus::Failed { reason } = &out[0].verification else {
        panic!("{out:?}")
    };
    assert!(reason.contains("the answer was not the token"), "{reason}");
    assert!(!reason.contains("SECRET"), "{reason}");
}

#[tokio::test]
async fn pointing_at_the_platform_proves_nothing() {
    let w = world().await;
    let svc = deploy(&w, "acme", "web").await;
    add(&w, "web", NewDomain::new("points.example.com"))
        .await
        .unwrap();
    w.dns.set_ips("points.example.com", [PUBLIC]);
    w.dns.set_cname("points.example.com", ["edge.caas.example"]);
    let out = verify_dns(&w, "points.example.com").await;
    assert!(
        matches!(out[0].verification, VerificationStatus::Failed { .. }),
        "{out:?}"
    );
    assert!(out[0].readiness.as_ref().unwrap().points_at_platform);
    assert_eq!(w.platform.domains().reverify().await.unwrap(), 0);
    assert!(
        w.proxy
            .routes_opt(&svc.to_string())
            .await
            .unwrap()
            .is_none()
    );
    // Without a platform that answers HTTP challenges, the HTTP method is unsupported.
    let err = verify_in(&w, "acme", "points.example.com", VerificationMethod::Http)
        .await
        .unwrap_err();
    assert!(err.is_unsupported(), "{err}");
}

#[tokio::test]
async fn a_dangling_record_or_a_customers_dns_wildcard_cannot_be_claimed_by_http() {
    let (w, seen, _) = http_world().await;
    deploy(&w, "acme", "web").await;
    let theirs = deploy(&w, "rival", "web").await;
    // acme proved shop.victim.example with its TXT record, then left; its DNS (a wildcard
    // record, as many customers have) still points every name of the site at the platform.
    let d = add(&w, "web", NewDomain::new("shop.victim.example"))
        .await
        .unwrap();
    publish_txt(&w, &d);
    assert!(verified(&verify_dns(&w, "shop.victim.example").await[0]));
    w.dns.set_ips("*.victim.example", [LOOPBACK]);
    w.platform
        .domains()
        .remove(
            &w.who,
            &ServiceRef::new("acme", "shop", "web"),
            "shop.victim.example",
            None,
        )
        .await
        .unwrap();
    // Another organization claims the dangling name and a sibling: the claims are made (the
    // names are free) but a request reaching the platform proves neither.
    for host in ["shop.victim.example", "evil.victim.example"] {
        let mine = add_in(&w, "rival", NewDomain::new(host)).await.unwrap();
        let out = verify_in(&w, "rival", host, VerificationMethod::Http)
            .await
            .unwrap();
        let VerificationStatus::Failed { reason } = &out[0].verification else {
            panic!("{host}: {out:?}")
        };
        assert!(
            reason.contains("another organization holds or held a name of victim.example"),
            "{reason}"
        );
        assert!(
            reason.contains(&mine.ownership.unwrap().txt_value),
            "{reason}"
        );
        // The old TXT record holds acme's token, not theirs.
        let out = verify_in(&w, "rival", host, VerificationMethod::Dns)
            .await
            .unwrap();
        assert!(!verified(&out[0]), "{out:?}");
    }
    assert_eq!(w.platform.domains().reverify().await.unwrap(), 0);
    assert!(seen.lock().unwrap().is_empty(), "no request was even sent");
    assert!(
        w.proxy
            .routes_opt(&theirs.to_string())
            .await
            .unwrap()
            .is_none()
    );
    // A wildcard is proved by TXT only.
    add_in(&w, "rival", NewDomain::new("*.fresh.example"))
        .await
        .unwrap();
    let err = verify_in(&w, "rival", "*.fresh.example", VerificationMethod::Http)
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("method"), "{err}");
}

#[tokio::test]
async fn the_platforms_own_names_cannot_be_claimed() {
    let w = world_with(
        DomainConfig::new()
            .public_address(PUBLIC)
            .cname_target(Hostname::parse("edge.caas.example").unwrap())
            .reserve(Hostname::parse("panel.example.org").unwrap())
            .reserve(Hostname::parse("apps.example.net").unwrap())
            .wildcards(true),
    )
    .await;
    let svc = deploy(&w, "acme", "web").await;
    for host in [
        "panel.example.org",
        "PANEL.example.org.",
        "api.panel.example.org",
        "edge.caas.example",
        "x.edge.caas.example",
        "apps.example.net",
        "shop.apps.example.net",
        "*.apps.example.net",
        // A wildcard over a reserved name would capture it.
        "*.example.net",
    ] {
        let err = add(&w, "web", NewDomain::new(host)).await.unwrap_err();
        assert!(err.is_conflict(), "{host}: {err}");
        assert!(err.to_string().contains("reserved"), "{host}: {err}");
    }
    assert!(w.store.list_domains(svc).await.unwrap().is_empty());
    // Neighbours are not reserved.
    for host in ["example.org", "xpanel.example.org", "caas.example"] {
        add(&w, "web", NewDomain::new(host)).await.unwrap();
    }
}

#[tokio::test]
async fn an_unproven_claim_expires_and_frees_the_hostname_for_another_claimant() {
    let w = world_with(
        DomainConfig::new()
            .public_address(PUBLIC)
            .claim_ttl(Duration::from_secs(3600)),
    )
    .await;
    deploy(&w, "acme", "web").await;
    deploy(&w, "rival", "web").await;
    let squat = add(&w, "web", NewDomain::new("wanted.example.com"))
        .await
        .unwrap();
    let err = add_in(&w, "rival", NewDomain::new("wanted.example.com"))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    w.clock.advance(chrono::Duration::minutes(61));
    // The next claimant takes over the expired claim at once...
    let mine = add_in(&w, "rival", NewDomain::new("wanted.example.com"))
        .await
        .unwrap();
    assert_eq!(
        mine.verification,
        VerificationStatus::Pending,
        "and must prove it"
    );
    assert_ne!(
        mine.ownership.clone().unwrap().txt_value,
        squat.ownership.unwrap().txt_value
    );
    assert!(
        w.store
            .domain(squat.domain.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let acme = w.store.org_by_slug_opt("acme").await.unwrap().unwrap();
    let log = w
        .store
        .list_audit(
            &caas_core::ports::store::AuditFilter::default()
                .org(acme.id)
                .action_prefix("domain.expire"),
        )
        .await
        .unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].actor, None);
    // A proven claim never expires.
    publish_txt(&w, &mine);
    let out = verify_in(&w, "rival", "wanted.example.com", VerificationMethod::Dns)
        .await
        .unwrap();
    assert!(verified(&out[0]));
    // ...and the verifier releases the ones nobody asked for.
    add(&w, "web", NewDomain::new("forgotten.example.com"))
        .await
        .unwrap();
    w.clock.advance(chrono::Duration::minutes(30));
    assert_eq!(w.platform.domains().reverify().await.unwrap(), 0);
    assert!(
        w.store
            .host_claim_opt("forgotten.example.com")
            .await
            .unwrap()
            .is_some()
    );
    w.clock.advance(chrono::Duration::minutes(31));
    assert_eq!(w.platform.domains().reverify().await.unwrap(), 0);
    assert!(
        w.store
            .host_claim_opt("forgotten.example.com")
            .await
            .unwrap()
            .is_none()
    );
    w.clock.advance(chrono::Duration::days(30));
    w.platform.domains().reverify().await.unwrap();
    assert!(
        w.store
            .host_claim_opt("wanted.example.com")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn the_plan_bounds_an_organizations_domains() {
    let w = world_on(world_config(), None, 2).await;
    deploy(&w, "acme", "web").await;
    add(&w, "web", NewDomain::new("one.example.com"))
        .await
        .unwrap();
    add(
        &w,
        "web",
        NewDomain::new("one.example.com").path_prefix("/b"),
    )
    .await
    .unwrap();
    let err = add(&w, "web", NewDomain::new("two.example.com"))
        .await
        .unwrap_err();
    let q = err.quota().unwrap_or_else(|| panic!("{err}"));
    assert_eq!(q.plan, "p");
    assert_eq!(q.dimensions[0].dimension, "domains");
    assert_eq!((q.dimensions[0].used, q.dimensions[0].limit), (2, 2));
    assert!(
        w.store
            .host_claim_opt("two.example.com")
            .await
            .unwrap()
            .is_none()
    );
    // The other organization's count is its own.
    deploy(&w, "rival", "web").await;
    add_in(&w, "rival", NewDomain::new("three.example.com"))
        .await
        .unwrap();
}

fn world_config() -> DomainConfig {
    DomainConfig::new()
        .public_address(PUBLIC)
        .cname_target(Hostname::parse("edge.caas.example").unwrap())
}

/// A resolver whose TXT answers for names in `slow` wait until the gate opens.
#[derive(Debug)]
struct SlowDns {
    table: Arc<InMemoryDns>,
    slow: HashSet<String>,
    gate: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl DnsResolver for SlowDns {
    async fn lookup_ip(&self, host: &str) -> caas_core::Result<Vec<IpAddr>> {
        self.table.lookup_ip(host).await
    }
    async fn lookup_cname(&self, host: &str) -> caas_core::Result<Vec<String>> {
        self.table.lookup_cname(host).await
    }
    async fn lookup_txt(&self, host: &str) -> caas_core::Result<Vec<String>> {
        if self.slow.contains(host) {
            self.waiting
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _permit = self.gate.acquire().await;
        }
        self.table.lookup_txt(host).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_organizations_slow_names_do_not_delay_anothers_verification() {
    let table = Arc::new(InMemoryDns::new());
    let slow: HashSet<String> = (0..6)
        .map(|i| format!("_caas-challenge.slow{i}.example.com"))
        .collect();
    let dns = Arc::new(SlowDns {
        table: table.clone(),
        slow,
        gate: tokio::sync::Semaphore::new(0),
        waiting: std::sync::atomic::AtomicUsize::new(0),
    });
    let mut w = world_on(world_config().checks_per_org(2), Some(dns.clone()), 20).await;
    w.dns = table;
    deploy(&w, "acme", "web").await;
    deploy(&w, "rival", "web").await;
    for i in 0..6 {
        add(&w, "web", NewDomain::new(format!("slow{i}.example.com")))
            .await
            .unwrap();
    }
    let quick = add_in(&w, "rival", NewDomain::new("quick.example.com"))
        .await
        .unwrap();
    publish_txt(&w, &quick);
    let pass = tokio::spawn({
        let p = w.platform.clone();
        async move { p.domains().reverify().await }
    });
    // The other organization's claim is verified while all of acme's checks hang...
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let claim = w
            .store
            .host_claim_opt("quick.example.com")
            .await
            .unwrap()
            .unwrap();
        if claim.is_verified() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "held up by acme's names"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...of which at most two run at once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(dns.waiting.load(std::sync::atomic::Ordering::SeqCst), 2);
    dns.gate.add_permits(100);
    assert_eq!(pass.await.unwrap().unwrap(), 1);
    assert_eq!(dns.waiting.load(std::sync::atomic::Ordering::SeqCst), 6);
}

#[tokio::test]
async fn the_reconciler_routes_exactly_the_domains_under_verified_claims() {
    let w = world().await;
    let svc = deploy(&w, "acme", "web").await;
    let theirs = deploy(&w, "rival", "web").await;
    let d = add(&w, "web", NewDomain::new("mine.example.com"))
        .await
        .unwrap();
    publish_txt(&w, &d);
    verify_dns(&w, "mine.example.com").await;
    let good = w.proxy.routes_opt(&svc.to_string()).await.unwrap().unwrap();
    // Routes an earlier version (or a crash) left behind: the rival routed on acme's
    // hostname, and acme's own service with a rule it no longer has.
    let mut stale = good.clone();
    stale.rules.push(rule("gone.example.com", "/", false));
    w.proxy.apply(&stale).await.unwrap();
    let mut takeover = good.clone();
    takeover.key = theirs.to_string();
    takeover.rules = vec![rule("mine.example.com", "/login", false)];
    w.proxy.apply(&takeover).await.unwrap();
    let report = w.platform.reconcile().await.unwrap();
    let mut rerouted = report.rerouted.clone();
    rerouted.sort();
    let mut both = vec![svc, theirs];
    both.sort();
    assert_eq!(rerouted, both, "{report:?}");
    assert_eq!(
        w.proxy.routes_opt(&svc.to_string()).await.unwrap().unwrap(),
        good
    );
    assert!(
        w.proxy
            .routes_opt(&theirs.to_string())
            .await
            .unwrap()
            .is_none(),
        "the rival's route on acme's hostname is gone"
    );
    assert!(
        w.platform.reconcile().await.unwrap().rerouted.is_empty(),
        "idempotent"
    );
}
