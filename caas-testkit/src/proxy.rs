//! The proxy conformance suite: what every [`Proxy`] backend must do.
//!
//! Each behaviour takes the proxy under test, draws a fresh run id, and routes only keys
//! (`<run_id>-<suffix>`) and hosts (`<name>.r<run_id>.example.test`) of its own, so behaviours
//! may run in parallel against one proxy. Whatever a behaviour routed is removed afterwards,
//! also when it panicked.
//!
//! ```text
//! caas_testkit::proxy_suite!(async {
//!     let proxy: std::sync::Arc<dyn caas_core::Proxy> = std::sync::Arc::new(caas_core::memory::InMemoryProxy::new());
//!     Some(proxy)
//! });
//! ```

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use caas_core::ports::proxy::{CertificateStatus, RouteRule, ServiceRoutes};
use caas_core::ports::runtime::RemoveOutcome;
use caas_core::validate::Hostname;
use caas_core::{Error, Proxy};
use futures::FutureExt;

/// What the proxy suite runs against.
pub type SharedProxy = Arc<dyn Proxy>;

/// How long `wait_applied` may take in the suite (a real proxy reloads its configuration).
const APPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Names of one behaviour's keys and hosts.
struct Run {
    proxy: Arc<dyn Proxy>,
    id: String,
}

impl Run {
    fn new(proxy: Arc<dyn Proxy>) -> Self {
        Self {
            proxy,
            id: crate::env::run_id(),
        }
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.id)
    }

    fn host(&self, name: &str) -> Hostname {
        // The `r` keeps the label from being all digits.
        Hostname::parse(format!("{name}.r{}.example.test", self.id)).expect("test hostname")
    }

    fn routes(&self, key: &str, rules: Vec<RouteRule>, upstream: &str) -> ServiceRoutes {
        ServiceRoutes {
            key: key.to_string(),
            rules,
            upstreams: vec![upstream.to_string()],
        }
    }

    /// Runs `body`, then removes every key in `keys`, then re-raises the body's panic.
    async fn scoped(&self, keys: &[&str], body: impl Future<Output = ()>) {
        let outcome = AssertUnwindSafe(body).catch_unwind().await;
        let mut failed = Vec::new();
        for key in keys {
            if let Err(e) = self.proxy.remove(key).await {
                failed.push(format!("{key}: {e}"));
            }
        }
        match outcome {
            Ok(()) => assert!(failed.is_empty(), "cleanup failed: {failed:?}"),
            Err(panic) => {
                if !failed.is_empty() {
                    eprintln!("cleanup failed as well: {failed:?}");
                }
                std::panic::resume_unwind(panic)
            }
        }
    }
}

fn rule(host: &Hostname, path_prefix: &str, strip_prefix: bool, tls: bool) -> RouteRule {
    RouteRule {
        host: host.clone().into(),
        path_prefix: path_prefix.to_string(),
        strip_prefix,
        tls,
    }
}

fn expect_err<T: std::fmt::Debug>(
    what: &str,
    r: caas_core::Result<T>,
    ok: impl Fn(&Error) -> bool,
) {
    match r {
        Err(e) if ok(&e) => {}
        other => panic!("{what}: unexpected result {other:?}"),
    }
}

/// What was applied is exactly what `routes_opt` returns; an unknown key has no routes.
pub async fn apply_then_routes_returns_what_was_applied(proxy: Arc<dyn Proxy>) {
    let run = Run::new(proxy);
    let key = run.key("web");
    run.scoped(&[&key], async {
        let p = &run.proxy;
        let host = run.host("app");
        let routes = run.routes(
            &key,
            vec![
                rule(&host, "/", false, false),
                rule(&host, "/api", true, true),
            ],
            "http://10.0.0.5:8080",
        );
        p.container_labels(&routes).expect("labels of valid routes");
        let g = p.apply(&routes).await.expect("apply");
        assert!(g > 0, "generation {g}");
        assert_eq!(p.routes_opt(&key).await.expect("routes_opt"), Some(routes));
        let unknown = run.key("unknown");
        assert_eq!(
            p.routes_opt(&unknown).await.expect("routes_opt unknown"),
            None
        );
    })
    .await
}

/// Applying again under the same key replaces the routing; a host it no longer claims is free.
pub async fn applying_again_replaces_the_routes(proxy: Arc<dyn Proxy>) {
    let run = Run::new(proxy);
    let (key, other) = (run.key("web"), run.key("other"));
    run.scoped(&[&key, &other], async {
        let p = &run.proxy;
        let (old_host, new_host) = (run.host("old"), run.host("new"));
        let first = run.routes(
            &key,
            vec![rule(&old_host, "/", false, false)],
            "http://10.0.0.5:80",
        );
        p.apply(&first).await.expect("first apply");
        let mut second = run.routes(
            &key,
            vec![rule(&new_host, "/", false, true)],
            "http://10.0.0.6:80",
        );
        second.upstreams.push("http://10.0.0.7:80".into());
        p.apply(&second).await.expect("second apply");
        assert_eq!(p.routes_opt(&key).await.expect("routes_opt"), Some(second));

        let claim = run.routes(
            &other,
            vec![rule(&old_host, "/", false, false)],
            "http://10.0.0.8:80",
        );
        p.apply(&claim)
            .await
            .expect("a released host can be routed elsewhere");
        assert_eq!(
            p.routes_opt(&other).await.expect("routes_opt other"),
            Some(claim)
        );
    })
    .await
}

/// Every apply returns a higher generation than the one before, whatever the key.
pub async fn generations_increase(proxy: Arc<dyn Proxy>) {
    let run = Run::new(proxy);
    let (a, b) = (run.key("a"), run.key("b"));
    run.scoped(&[&a, &b], async {
        let p = &run.proxy;
        let ra = run.routes(
            &a,
            vec![rule(&run.host("a"), "/", false, false)],
            "http://10.0.0.1:80",
        );
        let rb = run.routes(
            &b,
            vec![rule(&run.host("b"), "/", false, false)],
            "http://10.0.0.2:80",
        );
        let g1 = p.apply(&ra).await.expect("apply a");
        let g2 = p.apply(&rb).await.expect("apply b");
        let g3 = p.apply(&ra).await.expect("apply a again");
        assert!(g1 < g2 && g2 < g3, "generations {g1}, {g2}, {g3}");
    })
    .await
}

/// After an apply, waiting for its generation (or an earlier one) succeeds.
pub async fn wait_applied_succeeds_after_apply(proxy: Arc<dyn Proxy>) {
    let run = Run::new(proxy);
    let key = run.key("web");
    run.scoped(&[&key], async {
        let p = &run.proxy;
        let host = run.host("app");
        let g1 = p
            .apply(&run.routes(
                &key,
                vec![rule(&host, "/", false, false)],
                "http://10.0.0.5:80",
            ))
            .await
            .expect("apply");
        p.wait_applied(&key, g1, APPLY_TIMEOUT)
            .await
            .expect("wait for g1");
        let g2 = p
            .apply(&run.routes(
                &key,
                vec![rule(&host, "/", false, false)],
                "http://10.0.0.6:80",
            ))
            .await
            .expect("apply again");
        p.wait_applied(&key, g2, APPLY_TIMEOUT)
            .await
            .expect("wait for g2");
        p.wait_applied(&key, g1, APPLY_TIMEOUT)
            .await
            .expect("an earlier generation");
    })
    .await
}

/// Removing reports `Removed` once, then `NotFound`; a removed key has no routes.
pub async fn remove_is_idempotent(proxy: Arc<dyn Proxy>) {
    let run = Run::new(proxy);
    let key = run.key("web");
    run.scoped(&[&key], async {
        let p = &run.proxy;
        let routes = run.routes(
            &key,
            vec![rule(&run.host("app"), "/", false, false)],
            "http://10.0.0.5:80",
        );
        p.apply(&routes).await.expect("apply");
        assert_eq!(
            p.remove(&key).await.expect("remove"),
            RemoveOutcome::Removed
        );
        assert_eq!(p.routes_opt(&key).await.expect("routes_opt"), None);
        assert_eq!(
            p.remove(&key).await.expect("remove again"),
            RemoveOutcome::NotFound
        );
        let never = run.key("never");
        assert_eq!(
            p.remove(&never).await.expect("remove never applied"),
            RemoveOutcome::NotFound
        );
    })
    .await
}

/// A host and path routed to one key cannot be claimed by another (`Conflict`, nothing
/// changes); another path on the same host can.
pub async fn same_host_and_path_for_two_keys_conflicts(proxy: Arc<dyn Proxy>) {
    let run = Run::new(proxy);
    let (a, b, c) = (run.key("a"), run.key("b"), run.key("c"));
    run.scoped(&[&a, &b, &c], async {
        let p = &run.proxy;
        let host = run.host("shared");
        let ra = run.routes(
            &a,
            vec![rule(&host, "/", false, false)],
            "http://10.0.0.1:80",
        );
        p.apply(&ra).await.expect("apply a");
        let rb = run.routes(
            &b,
            vec![rule(&host, "/", false, false)],
            "http://10.0.0.2:80",
        );
        expect_err("same host and path", p.apply(&rb).await, Error::is_conflict);
        assert_eq!(p.routes_opt(&a).await.expect("routes a"), Some(ra));
        assert_eq!(p.routes_opt(&b).await.expect("routes b"), None);

        let rc = run.routes(
            &c,
            vec![rule(&host, "/admin", false, false)],
            "http://10.0.0.3:80",
        );
        p.apply(&rc).await.expect("another path on the same host");
        assert_eq!(p.routes_opt(&c).await.expect("routes c"), Some(rc));
    })
    .await
}

/// Host names are case-insensitive: `SHARED.example.test` is the host `shared.example.test`
/// already routed to another key (`Conflict`).
pub async fn host_claims_are_case_insensitive(proxy: Arc<dyn Proxy>) {
    let run = Run::new(proxy);
    let (a, b) = (run.key("a"), run.key("b"));
    run.scoped(&[&a, &b], async {
        let p = &run.proxy;
        let lower = run.host("shared");
        let upper = Hostname::parse(lower.as_str().to_ascii_uppercase()).expect("upper-case host");
        let ra = run.routes(
            &a,
            vec![rule(&lower, "/", false, false)],
            "http://10.0.0.1:80",
        );
        p.apply(&ra).await.expect("apply a");
        let rb = run.routes(
            &b,
            vec![rule(&upper, "/", false, false)],
            "http://10.0.0.2:80",
        );
        expect_err(
            "same host in other case",
            p.apply(&rb).await,
            Error::is_conflict,
        );
        assert_eq!(p.routes_opt(&b).await.expect("routes b"), None);
    })
    .await
}

/// An upstream that is not an http(s) URL is `InvalidInput`, and nothing is routed.
pub async fn invalid_upstream_is_refused(proxy: Arc<dyn Proxy>) {
    let run = Run::new(proxy);
    let key = run.key("web");
    run.scoped(&[&key], async {
        let p = &run.proxy;
        let host = run.host("app");
        for bad in [
            "not a url",
            "ftp://10.0.0.5:21",
            "",
            "http://10.0.0.5:80`) || Host(`evil.test",
        ] {
            let routes = run.routes(&key, vec![rule(&host, "/", false, false)], bad);
            expect_err(
                &format!("apply upstream {bad:?}"),
                p.apply(&routes).await,
                Error::is_invalid_input,
            );
            expect_err(
                &format!("labels upstream {bad:?}"),
                p.container_labels(&routes),
                Error::is_invalid_input,
            );
        }
        assert_eq!(p.routes_opt(&key).await.expect("routes_opt"), None);
    })
    .await
}

/// A host nobody routes has no TLS configured.
pub async fn certificate_status_for_an_unrouted_host_is_not_configured(proxy: Arc<dyn Proxy>) {
    let run = Run::new(proxy);
    run.scoped(&[], async {
        let status = run
            .proxy
            .certificate_status(&run.host("nobody"))
            .await
            .expect("certificate_status");
        assert_eq!(status, CertificateStatus::NotConfigured);
    })
    .await
}

/// Expands into one `#[tokio::test]` per behaviour of the proxy suite.
///
/// `$make` is an expression evaluating to a future of `Option<Arc<dyn Proxy>>` ([`SharedProxy`]), evaluated once
/// per test (behaviours use their own keys and hosts, so one proxy may serve them all). `None`
/// means the backend's service is not available and the test returns early: the setup code
/// decides, with [`crate::env`], whether that is a skip (developer machine) or a panic (CI).
///
/// The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
///
/// ```text
/// caas_testkit::proxy_suite!(traefik_proxy());
/// ```
#[macro_export]
macro_rules! proxy_suite {
    ($make:expr) => {
        $crate::proxy_suite!(@tests $make;
            apply_then_routes_returns_what_was_applied,
            applying_again_replaces_the_routes,
            generations_increase,
            wait_applied_succeeds_after_apply,
            remove_is_idempotent,
            same_host_and_path_for_two_keys_conflicts,
            host_claims_are_case_insensitive,
            invalid_upstream_is_refused,
            certificate_status_for_an_unrouted_host_is_not_configured,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let proxy: ::std::option::Option<$crate::proxy::SharedProxy> = $make.await;
                let ::std::option::Option::Some(proxy) = proxy else {
                    return;
                };
                $crate::proxy::$name(proxy).await;
            }
        )+
    };
}
