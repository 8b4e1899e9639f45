//! ACME end to end with Pebble, all real processes on 127.0.0.1: `pebble-challtestsrv`
//! answers every name with 127.0.0.1, Pebble issues through an HTTP-01 challenge on Traefik's
//! web entrypoint, and `TraefikProxy` routes a TLS host to an upstream served by this test.
//! The certificate is reported `Issued` by Pebble's intermediate and accepted by an HTTPS
//! client that trusts Pebble's root.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caas_core::Proxy;
use caas_core::ports::proxy::{CertificateStatus, RouteRule, ServiceRoutes};
use caas_core::validate::{HostPattern, Hostname};
use caas_testkit::env;
use caas_traefik::{AcmeChallenge, AcmeResolver, DnsChallenge, Entrypoints, TraefikProxy};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

const HOST: &str = "app.caas.test";
const BODY: &str = "hello from the upstream";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Trusts exactly one certificate (Pebble's self-signed listener certificate, a CA
/// certificate that webpki would refuse as an end entity), byte for byte.
#[derive(Debug)]
struct Pinned(CertificateDer<'static>, Arc<CryptoProvider>);

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.0.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("not the pinned certificate".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(m, c, d, &self.1.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(m, c, d, &self.1.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.1.signature_verification_algorithms.supported_schemes()
    }
}

fn builder() -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier> {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
}

/// One HTTP/1.1 GET over TLS to 127.0.0.1:`port` with SNI and Host `host`: status and body.
async fn https_get(
    config: rustls::ClientConfig,
    port: u16,
    host: &str,
    path: &str,
) -> std::io::Result<(u16, String)> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from(host.to_string()).unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    // Some servers close without close_notify; what was read is still the answer.
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut buf)).await;
    Ok(caas_testkit::load::status_and_body(
        &String::from_utf8_lossy(&buf),
    ))
}

/// A raw HTTP/1.1 GET on plain TCP: the whole answer (headers included).
async fn http_raw(port: u16, host: &str, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut buf))
        .await
        .unwrap()
        .unwrap();
    buf
}

/// A tiny HTTP upstream on loopback answering every request with [`BODY`].
async fn upstream() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
                    BODY.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, task)
}

async fn wait_port(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn spawn(bin: &str, args: &[String], log: &std::path::Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    Command::new(bin)
        .args(args)
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .kill_on_drop(true)
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"))
}

/// `pebble-challtestsrv` (DNS answering every name with 127.0.0.1, TXT records settable
/// through its management API) and Pebble validating through it, on free loopback ports.
struct Ca {
    tmp: tempfile::TempDir,
    /// challtestsrv's DNS port.
    dns: u16,
    /// challtestsrv's management port.
    chall_mgmt: u16,
    /// Pebble's ACME directory port.
    acme: u16,
    /// Pebble's management port (roots).
    acme_mgmt: u16,
    /// Ports Traefik's entrypoints must use (Pebble's HTTP-01 and TLS-ALPN-01 ports).
    web: u16,
    websecure: u16,
    pebble_cert: String,
    pebble: Child,
    chall: Child,
}

impl Ca {
    /// Starts both, or `None` (skip) outside CI when a binary is missing.
    async fn start() -> Option<Ca> {
        let pebble_bin = env::require("CAAS_TEST_PEBBLE_BIN", "Pebble")?;
        let chall_bin = env::require("CAAS_TEST_CHALLTESTSRV_BIN", "pebble-challtestsrv")?;
        let pebble_cert = env::require("CAAS_TEST_PEBBLE_CERT", "Pebble's TLS certificate")?;
        let pebble_key = env::require("CAAS_TEST_PEBBLE_KEY", "Pebble's TLS key")?;
        env::require("CAAS_TEST_TRAEFIK_BIN", "the Traefik binary")?;
        let tmp = tempfile::tempdir().unwrap();
        let free = common::free_port;
        let (dns, chall_mgmt, acme, acme_mgmt, web, websecure) =
            (free(), free(), free(), free(), free(), free());

        // DNS: every name is 127.0.0.1.
        let mut chall = spawn(
            &chall_bin,
            &[
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
                "-dns01",
                &format!("127.0.0.1:{dns}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &format!("127.0.0.1:{chall_mgmt}"),
            ]
            .map(String::from),
            &tmp.path().join("challtestsrv.log"),
        );
        wait_port(chall_mgmt, "pebble-challtestsrv", &mut chall).await;

        // The ACME CA.
        let config = serde_json::json!({ "pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{acme_mgmt}"),
            "certificate": pebble_cert,
            "privateKey": pebble_key,
            "httpPort": web,
            "tlsPort": websecure,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        let config_file = tmp.path().join("pebble.json");
        std::fs::write(&config_file, config.to_string()).unwrap();
        let mut pebble = spawn(
            &pebble_bin,
            &[
                "-config".to_string(),
                config_file.display().to_string(),
                "-dnsserver".to_string(),
                format!("127.0.0.1:{dns}"),
            ],
            &tmp.path().join("pebble.log"),
        );
        wait_port(acme, "pebble", &mut pebble).await;
        wait_port(acme_mgmt, "pebble (management)", &mut pebble).await;
        Some(Ca {
            tmp,
            dns,
            chall_mgmt,
            acme,
            acme_mgmt,
            web,
            websecure,
            pebble_cert,
            pebble,
            chall,
        })
    }

    fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme)
    }

    fn pebble_log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("pebble.log")).unwrap_or_default()
    }

    /// A client trusting only Pebble's root, fetched from its management interface over TLS
    /// pinned to its listener certificate.
    async fn trusting_client(&self) -> rustls::ClientConfig {
        let pinned = CertificateDer::from_pem_file(&self.pebble_cert).unwrap();
        let pinned_client = builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned(pinned, provider())))
            .with_no_client_auth();
        let (status, root_pem) = https_get(pinned_client, self.acme_mgmt, "127.0.0.1", "/roots/0")
            .await
            .unwrap();
        assert_eq!(status, 200, "{root_pem}");
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        assert_eq!(roots.len(), 1, "{root_pem}");
        builder()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    async fn stop(mut self) {
        self.pebble.kill().await.unwrap();
        self.chall.kill().await.unwrap();
    }
}

/// Routes `host` over TLS to the upstream at `up` under `key` and waits until it is live.
async fn route_tls(proxy: &TraefikProxy, key: &str, host: HostPattern, up: SocketAddr) {
    let routes = ServiceRoutes {
        key: key.into(),
        rules: vec![RouteRule {
            host,
            path_prefix: "/".into(),
            strip_prefix: false,
            tls: true,
        }],
        upstreams: vec![format!("http://{up}")],
    };
    let g = proxy.apply(&routes).await.unwrap();
    proxy
        .wait_applied(&routes.key, g, Duration::from_secs(20))
        .await
        .unwrap();
}

/// Polls the certificate status of `host` until it is issued (within 60 s); the issuer.
async fn wait_issued(
    proxy: &TraefikProxy,
    host: &Hostname,
    traefik: &common::Traefik,
    ca: &Ca,
) -> String {
    let started = Instant::now();
    let mut pending_seen = false;
    loop {
        match proxy.certificate_status(host).await.unwrap() {
            CertificateStatus::Issued { issuer, not_after } => {
                assert!(not_after > chrono::Utc::now(), "{not_after}");
                eprintln!(
                    "certificate for {host} issued by '{issuer}' after {:?} (pending seen first: {pending_seen})",
                    started.elapsed()
                );
                return issuer;
            }
            CertificateStatus::Pending => pending_seen = true,
            other => panic!("unexpected status {other:?}"),
        }
        if started.elapsed() > Duration::from_secs(60) {
            panic!(
                "no certificate for {host} within 60 s\n--- traefik ---\n{}\n--- pebble ---\n{}",
                traefik.log(),
                ca.pebble_log()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_host_gets_a_pebble_certificate_through_traefik() {
    let Some(ca) = Ca::start().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (web, websecure) = (ca.web, ca.websecure);
    let pebble_cert = ca.pebble_cert.clone();

    // Traefik with a resolver pointing at Pebble, trusting Pebble's listener certificate.
    let traefik = common::Traefik::start_with(common::Options {
        web: Some(web),
        websecure: Some(websecure),
        acme: vec![
            AcmeResolver::new("pebble", "ops@example.com", tmp.path().join("acme.json"))
                .ca_server(ca.directory()),
        ],
        env: vec![("LEGO_CA_CERTIFICATES".into(), pebble_cert.clone())],
        log_level: Some("INFO".into()),
        ..Default::default()
    })
    .await
    .expect("the Traefik binary was required above");

    let (up, up_task) = upstream().await;
    let eps = Entrypoints {
        cert_resolver: Some("pebble".into()),
        ..Entrypoints::default()
    };
    let websecure_addr: SocketAddr = format!("127.0.0.1:{websecure}").parse().unwrap();
    let proxy = TraefikProxy::new(&traefik.dir, traefik.api_url(), eps)
        .unwrap()
        .with_tls_probe(websecure_addr);
    let host = Hostname::parse(HOST).unwrap();
    let other = Hostname::parse("not-routed.caas.test").unwrap();
    assert_eq!(
        proxy.certificate_status(&host).await.unwrap(),
        CertificateStatus::NotConfigured
    );
    route_tls(&proxy, "acme-app", host.clone().into(), up).await;
    assert_eq!(
        proxy.certificate_status(&other).await.unwrap(),
        CertificateStatus::NotConfigured
    );

    // Issued within 60 s (about 10 s was observed on this machine kind).
    let issuer = wait_issued(&proxy, &host, &traefik, &ca).await;
    assert!(
        issuer.starts_with("Pebble Intermediate CA"),
        "issuer: {issuer}"
    );

    // A client that trusts only Pebble's root gets the upstream through Traefik.
    let trusting = ca.trusting_client().await;
    let (status, body) = https_get(trusting, websecure, HOST, "/").await.unwrap();
    assert_eq!((status, body.as_str()), (200, BODY));

    // Plain HTTP on the same host is redirected to HTTPS.
    let answer = http_raw(web, HOST, "/some/path").await;
    let status_line = answer.lines().next().unwrap_or_default();
    assert!(
        status_line.contains(" 301 ") || status_line.contains(" 308 "),
        "{answer}"
    );
    let location = answer
        .lines()
        .find_map(|l| {
            l.strip_prefix("Location: ")
                .or_else(|| l.strip_prefix("location: "))
        })
        .unwrap_or_default();
    assert!(location.starts_with(&format!("https://{HOST}")), "{answer}");

    // Stopped entrypoint: Unavailable.
    let mut traefik = traefik;
    traefik.child.kill().await.unwrap();
    let err = proxy.certificate_status(&host).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");

    up_task.abort();
    ca.stop().await;
}

/// The lego `exec` DNS provider's script: writes and clears the `_acme-challenge` TXT record
/// through challtestsrv's management API (lego calls `<script> present|cleanup <fqdn> <value>`).
fn dns_hook(dir: &std::path::Path, mgmt: u16) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("dns-hook.sh");
    let script = format!(
        r#"#!/bin/sh
set -e
case "$1" in
present) curl -sSf -d "{{\"host\":\"$2\",\"value\":\"$3\"}}" http://127.0.0.1:{mgmt}/set-txt ;;
cleanup) curl -sSf -d "{{\"host\":\"$2\"}}" http://127.0.0.1:{mgmt}/clear-txt ;;
esac
echo "$1 $2" >> "{log}"
"#,
        log = dir.join("dns-hook.log").display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_host_gets_a_dns01_certificate_through_traefik() {
    let Some(ca) = Ca::start().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hook = dns_hook(tmp.path(), ca.chall_mgmt);
    let dns: SocketAddr = format!("127.0.0.1:{}", ca.dns).parse().unwrap();
    let traefik = common::Traefik::start_with(common::Options {
        web: Some(ca.web),
        websecure: Some(ca.websecure),
        acme: vec![
            AcmeResolver::new(
                "pebble-dns",
                "ops@example.com",
                tmp.path().join("acme.json"),
            )
            .ca_server(ca.directory())
            .challenge(AcmeChallenge::Dns01(
                DnsChallenge::new("exec")
                    .resolvers(vec![dns])
                    .disable_propagation_check(true),
            )),
        ],
        env: vec![
            ("LEGO_CA_CERTIFICATES".into(), ca.pebble_cert.clone()),
            ("EXEC_PATH".into(), hook.display().to_string()),
        ],
        log_level: Some("INFO".into()),
        ..Default::default()
    })
    .await
    .expect("the Traefik binary was required above");

    let (up, up_task) = upstream().await;
    let eps = Entrypoints {
        wildcard_cert_resolver: Some("pebble-dns".into()),
        ..Entrypoints::default()
    };
    let websecure_addr: SocketAddr = format!("127.0.0.1:{}", ca.websecure).parse().unwrap();
    let proxy = TraefikProxy::new(&traefik.dir, traefik.api_url(), eps)
        .unwrap()
        .with_tls_probe(websecure_addr);
    let pattern = HostPattern::parse_field("hostname", "*.wild.caas.test", true).unwrap();
    let probe = pattern.sample("caas-certificate-probe").unwrap();
    route_tls(&proxy, "acme-wild", pattern.clone(), up).await;

    let issuer = wait_issued(&proxy, &probe, &traefik, &ca).await;
    assert!(
        issuer.starts_with("Pebble Intermediate CA"),
        "issuer: {issuer}"
    );
    let hook_log = std::fs::read_to_string(tmp.path().join("dns-hook.log")).unwrap_or_default();
    assert!(
        hook_log.contains("present _acme-challenge.wild.caas.test."),
        "the DNS-01 record was written through the provider: {hook_log:?}"
    );

    // One certificate serves every name below the wildcard, to a client trusting only
    // Pebble's root.
    let trusting = ca.trusting_client().await;
    for host in ["shop.wild.caas.test", "API.wild.caas.test"] {
        let (status, body) = https_get(trusting.clone(), ca.websecure, host, "/")
            .await
            .unwrap();
        assert_eq!((status, body.as_str()), (200, BODY), "{host}");
    }
    // Not a name the certificate or the route covers.
    let other = Hostname::parse("deeper.shop.wild.caas.test").unwrap();
    assert_eq!(
        proxy.certificate_status(&other).await.unwrap(),
        CertificateStatus::NotConfigured
    );

    up_task.abort();
    ca.stop().await;
}
