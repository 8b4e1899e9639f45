//! [`HickoryDns`] against a DNS server on loopback (`pebble-challtestsrv`, records added
//! through its management API), and TXT verification of domains on a `Platform` using it.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_core::Platform;
use caas_core::memory::{InMemoryRuntime, InMemoryStore};
use caas_core::model::{PortSpec, Protocol, ServiceSpec, VerificationStatus};
use caas_core::platform::{DeployApp, DomainConfig, NewDomain, VerificationMethod};
use caas_core::ports::dns::DnsResolver;
use caas_core::validate::ImageRef;
use caas_core::{ProjectRef, ServiceRef};
use caas_testkit::env;
use caas_traefik::HickoryDns;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running `pebble-challtestsrv` answering DNS on `dns` (unknown A names get 127.0.0.1,
/// unknown AAAA names nothing), managed on `management`; killed on drop.
struct ChallTestSrv {
    child: tokio::process::Child,
    dns: SocketAddr,
    management: u16,
}

impl ChallTestSrv {
    async fn start() -> Option<Self> {
        let bin = env::require("CAAS_TEST_CHALLTESTSRV_BIN", "pebble-challtestsrv")?;
        let (dns_port, management) = (common::free_port(), common::free_port());
        let dns: SocketAddr = format!("127.0.0.1:{dns_port}").parse().unwrap();
        let child = tokio::process::Command::new(&bin)
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &dns.to_string()])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{management}")])
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let srv = ChallTestSrv {
            child,
            dns,
            management,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        // Up when both the management API and the DNS server (TCP) accept connections.
        while tokio::net::TcpStream::connect(("127.0.0.1", management))
            .await
            .is_err()
            || tokio::net::TcpStream::connect(dns).await.is_err()
        {
            assert!(
                Instant::now() < deadline,
                "pebble-challtestsrv did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(srv)
    }

    /// POSTs `body` to the management API; panics unless it answers 200.
    async fn post(&self, path: &str, body: serde_json::Value) {
        let body = body.to_string();
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.management))
            .await
            .unwrap();
        s.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut answer))
            .await
            .unwrap()
            .unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "{path} {body}: {answer}"
        );
    }

    async fn add_a(&self, host: &str, addresses: &[&str]) {
        self.post(
            "/add-a",
            serde_json::json!({ "host": format!("{host}."), "addresses": addresses }),
        )
        .await;
    }

    async fn set_cname(&self, host: &str, target: &str) {
        self.post(
            "/set-cname",
            serde_json::json!({ "host": format!("{host}."), "target": format!("{target}.") }),
        )
        .await;
    }

    async fn set_txt(&self, host: &str, value: &str) {
        self.post(
            "/set-txt",
            serde_json::json!({ "host": format!("{host}."), "value": value }),
        )
        .await;
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test]
async fn hickory_answers_addresses_and_cnames_from_the_configured_server() {
    let Some(srv) = ChallTestSrv::start().await else {
        return;
    };
    let run = env::run_id();
    let dns = HickoryDns::new(vec![srv.dns]).unwrap();
    let (a, c) = (format!("a.{run}.test"), format!("www.{run}.test"));
    srv.add_a(&a, &["10.9.8.7", "10.9.8.6"]).await;
    srv.set_cname(&c, &format!("Target.{run}.test")).await;

    assert_eq!(
        dns.lookup_ip(&a).await.unwrap(),
        vec![ip("10.9.8.6"), ip("10.9.8.7")]
    );
    // Case and a trailing dot do not matter.
    assert_eq!(
        dns.lookup_ip(&format!("A.{run}.TEST.")).await.unwrap(),
        vec![ip("10.9.8.6"), ip("10.9.8.7")]
    );
    assert_eq!(
        dns.lookup_cname(&c).await.unwrap(),
        vec![format!("target.{run}.test")]
    );
    // No CNAME record: an empty answer, not an error.
    assert_eq!(dns.lookup_cname(&a).await.unwrap(), Vec::<String>::new());
    // TXT records, and none.
    let challenge = format!("_caas-challenge.{a}");
    srv.set_txt(&challenge, "token-of-the-claim").await;
    assert_eq!(
        dns.lookup_txt(&challenge.to_ascii_uppercase())
            .await
            .unwrap(),
        vec!["token-of-the-claim".to_string()]
    );
    assert_eq!(dns.lookup_txt(&c).await.unwrap(), Vec::<String>::new());
    // A record changed is seen at once (no cache).
    srv.post("/clear-a", serde_json::json!({ "host": format!("{a}.") }))
        .await;
    srv.add_a(&a, &["10.9.8.5"]).await;
    assert_eq!(dns.lookup_ip(&a).await.unwrap(), vec![ip("10.9.8.5")]);
    // Not a DNS name: nothing.
    assert_eq!(
        dns.lookup_ip("bad name..test").await.unwrap(),
        Vec::<IpAddr>::new()
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_unavailable() {
    // A bound UDP socket that never answers, and no TCP listener on its port.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let dns = HickoryDns::with_timeout(vec![addr], Duration::from_millis(200), 1).unwrap();
    let started = Instant::now();
    let err = dns.lookup_ip("nothing.example.test").await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let err = dns.lookup_cname("nothing.example.test").await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let err = dns.lookup_txt("nothing.example.test").await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "short timeouts");
    assert!(HickoryDns::new(Vec::new()).is_err_and(|e| e.is_invalid_input()));
}

#[tokio::test]
async fn platform_txt_verification_through_hickory() {
    let Some(srv) = ChallTestSrv::start().await else {
        return;
    };
    let run = env::run_id();
    let image = "caas/busybox:latest";
    let runtime = InMemoryRuntime::new();
    runtime.add_image(image);
    let public = ip("203.0.113.10");
    let platform = Platform::builder()
        .store(Arc::new(InMemoryStore::new()))
        .runtime(Arc::new(runtime))
        .dns_resolver(Arc::new(HickoryDns::new(vec![srv.dns]).unwrap()))
        .domains(DomainConfig::new().public_address(public))
        .build()
        .unwrap();
    let t = caas_testkit::platform::seed_tenant(
        &platform,
        caas_testkit::platform::test_limits(),
        "web",
    )
    .await;
    let mut spec = ServiceSpec::new(ImageRef::parse(image).unwrap());
    spec.ports.push(PortSpec {
        container_port: 8080,
        protocol: Protocol::Tcp,
    });
    platform
        .services()
        .deploy_app(
            &t.admin,
            &ProjectRef::new(&t.org, "web"),
            DeployApp::new("site", spec),
        )
        .await
        .unwrap();
    let (good, bad) = (format!("good.{run}.test"), format!("bad.{run}.test"));
    let mut tokens = Vec::new();
    for h in [&good, &bad] {
        let d = platform
            .domains()
            .add(
                &t.admin,
                &ServiceRef::new(&t.org, "web", "site"),
                NewDomain::new(h.clone()),
            )
            .await
            .unwrap();
        tokens.push(d.ownership.unwrap().txt_value);
    }
    // `good` holds its claim's token; `bad` points at the platform and holds another one:
    // pointing at the platform proves nothing.
    srv.set_txt(&format!("_caas-challenge.{good}"), &tokens[0])
        .await;
    srv.add_a(&good, &["10.9.8.7"]).await;
    srv.set_txt(&format!("_caas-challenge.{bad}"), &tokens[0])
        .await;
    srv.add_a(&bad, &["203.0.113.10"]).await;

    let d = platform
        .domains()
        .verify(&t.admin, &t.org, &good, None, VerificationMethod::Dns)
        .await
        .unwrap();
    assert_eq!(d.len(), 1);
    assert!(
        matches!(d[0].verification, VerificationStatus::Verified { .. }),
        "{:?}",
        d[0].verification
    );
    let ready = d[0].readiness.clone().unwrap();
    assert!(!ready.points_at_platform, "{ready:?}");
    assert!(ready.detail.contains("10.9.8.7"), "{ready:?}");

    let d = platform
        .domains()
        .verify(&t.admin, &t.org, &bad, None, VerificationMethod::Dns)
        .await
        .unwrap();
    match &d[0].verification {
        VerificationStatus::Failed { reason } => {
            assert!(
                reason.contains("does not hold") || reason.contains("holds"),
                "{reason}"
            );
            assert!(reason.contains(&tokens[1]), "{reason}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(d[0].readiness.as_ref().unwrap().points_at_platform);
    srv.stop().await;
}
