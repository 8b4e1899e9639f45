//! Database outage: a loopback TCP relay the test owns stands between the store and the real
//! PostgreSQL. Cutting it closes every relayed connection and refuses new ones (nothing
//! listens on its port any more), as when the server goes down; restoring it listens again on
//! the same port. While it is cut, store calls fail fast with a retryable `Unavailable`; once
//! it is back, the same `PgStore` works again, with no restart.

#![allow(clippy::unwrap_used)]

mod common;

use caas_core::ports::store::prelude::*;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caas_core::Result;
use caas_core::model::NewOrganization;
use caas_core::units::ResourceAmounts;
use caas_postgres::PgStore;
use caas_testkit::quota::GrantedLedger;
use caas_testkit::store::{generous_limits, now, seed_subscribed_org};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What "fail fast" means here: the pool's 5 s acquire timeout plus scheduling slack.
const FAIL_FAST: Duration = Duration::from_secs(7);

/// A loopback TCP relay to `upstream` that the test can cut and restore.
struct Relay {
    port: u16,
    upstream: SocketAddr,
    acceptor: Mutex<Option<JoinHandle<()>>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay {
            port: listener.local_addr().unwrap().port(),
            upstream,
            acceptor: Mutex::new(None),
            connections: Arc::new(Mutex::new(Vec::new())),
        };
        relay.serve(listener);
        relay
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream;
        let connections = self.connections.clone();
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let relayed = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().unwrap().push(relayed);
            }
        });
        *self.acceptor.lock().unwrap() = Some(acceptor);
    }

    /// Stops listening (connections to the port are refused) and closes every relayed
    /// connection (both sockets are dropped).
    async fn cut(&self) {
        let acceptor = self.acceptor.lock().unwrap().take();
        if let Some(acceptor) = acceptor {
            acceptor.abort();
            let _ = acceptor.await;
        }
        let relayed = std::mem::take(&mut *self.connections.lock().unwrap());
        for connection in relayed {
            connection.abort();
            let _ = connection.await;
        }
    }

    /// Listens again on the same port.
    async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }
}

/// Runs `call`, asserting it fails with a retryable `Unavailable` within [`FAIL_FAST`];
/// returns how long it took.
async fn assert_fails_fast<T: std::fmt::Debug>(
    what: &str,
    call: impl std::future::Future<Output = Result<T>>,
) -> Duration {
    let started = Instant::now();
    let result = call.await;
    let took = started.elapsed();
    let e = result.expect_err(what);
    assert!(
        e.is_unavailable() && e.is_retryable(),
        "{what}: expected Unavailable, got {e:?}"
    );
    assert!(
        took < FAIL_FAST,
        "{what}: took {took:?} to fail (bound {FAIL_FAST:?})"
    );
    eprintln!("{what}: Unavailable after {took:?}: {e}");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operations_fail_fast_while_the_database_is_down_and_work_again_when_it_is_back() {
    let Some(db) = common::fresh_database().await else {
        return;
    };
    let upstream: SocketAddr = format!("{}:{}", db.options.get_host(), db.options.get_port())
        .parse()
        .unwrap();
    let relay = Relay::start(upstream).await;
    // The production constructor: its pool settings are what is under test.
    let store = PgStore::connect_with(db.options.clone().host("127.0.0.1").port(relay.port))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let (org, _) = seed_subscribed_org(&store, "outage", generous_limits()).await;
    // Several pooled connections, all of which the cut will break.
    let (a, b, c) = tokio::join!(
        store.org(org.id),
        store.ping(),
        store.usage_for(org.id, now())
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();

    for round in 1..=2 {
        relay.cut().await;

        // One call at a time, then several at once.
        let single = assert_fails_fast("org", store.org(org.id)).await;
        let at = now();
        let newcomer = NewOrganization::new(format!("late-{round}"))
            .build(at)
            .unwrap();
        let (p, w, q) = tokio::join!(
            assert_fails_fast("ping", store.ping()),
            assert_fails_fast("create_org", store.create_org(&newcomer)),
            assert_fails_fast(
                "quota_reserve",
                store.reserve_for(
                    org.id,
                    ResourceAmounts::one_project(),
                    at,
                    at + chrono::Duration::minutes(1)
                )
            ),
        );
        eprintln!(
            "round {round}: single call failed after {single:?}; concurrent calls after {p:?}, {w:?}, {q:?}"
        );

        relay.restore().await;
        let started = Instant::now();
        store.ping().await.unwrap();
        assert_eq!(store.org(org.id).await.unwrap(), org);
        store.create_org(&newcomer).await.unwrap();
        let r = store
            .reserve_for(
                org.id,
                ResourceAmounts::one_project(),
                now(),
                now() + chrono::Duration::minutes(1),
            )
            .await
            .unwrap();
        store.quota_release(r.id).await.unwrap();
        eprintln!("round {round}: recovered in {:?}", started.elapsed());
    }
}

#[tokio::test]
async fn connecting_while_the_database_is_down_is_unavailable() {
    let Some(db) = common::fresh_database().await else {
        return;
    };
    let upstream: SocketAddr = format!("{}:{}", db.options.get_host(), db.options.get_port())
        .parse()
        .unwrap();
    let relay = Relay::start(upstream).await;
    relay.cut().await;
    let options = db.options.clone().host("127.0.0.1").port(relay.port);
    assert_fails_fast("connect", PgStore::connect_with(options.clone())).await;

    relay.restore().await;
    let store = PgStore::connect_with(options).await.unwrap();
    store.ping().await.unwrap();
}
