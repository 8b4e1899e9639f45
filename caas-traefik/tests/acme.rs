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
use caas_core::validate::Hostname;
use caas_testkit::env;
use caas_traefik::{AcmeResolver, Entrypoints, TraefikProxy};
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
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_host_gets_a_pebble_certificate_through_traefik() {
    let Some(pebble_bin) = env::require("CAAS_TEST_PEBBLE_BIN", "Pebble") else {
        return;
    };
    let Some(chall_bin) = env::require("CAAS_TEST_CHALLTESTSRV_BIN", "pebble-challtestsrv") else {
        return;
    };
    let Some(pebble_cert) = env::require("CAAS_TEST_PEBBLE_CERT", "Pebble's TLS certificate")
    else {
        return;
    };
    let Some(pebble_key) = env::require("CAAS_TEST_PEBBLE_KEY", "Pebble's TLS key") else {
        return;
    };
    if env::require("CAAS_TEST_TRAEFIK_BIN", "the Traefik binary").is_none() {
        return;
    }
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

    // Traefik with a resolver pointing at Pebble, trusting Pebble's listener certificate.
    let traefik = common::Traefik::start_with(common::Options {
        web: Some(web),
        websecure: Some(websecure),
        acme: Some(AcmeResolver {
            name: "pebble".into(),
            email: "ops@example.com".into(),
            storage: tmp.path().join("acme.json"),
            ca_server: Some(format!("https://127.0.0.1:{acme}/dir")),
        }),
        env: vec![("LEGO_CA_CERTIFICATES".into(), pebble_cert.clone())],
        log_level: Some("INFO".into()),
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
    let routes = ServiceRoutes {
        key: "acme-app".into(),
        rules: vec![RouteRule {
            host: host.clone(),
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
    assert_eq!(
        proxy.certificate_status(&other).await.unwrap(),
        CertificateStatus::NotConfigured
    );

    // Issued within 60 s (about 10 s was observed on this machine kind).
    let started = Instant::now();
    let mut pending_seen = false;
    let issuer = loop {
        match proxy.certificate_status(&host).await.unwrap() {
            CertificateStatus::Issued { issuer, not_after } => {
                assert!(not_after > chrono::Utc::now(), "{not_after}");
                break issuer;
            }
            CertificateStatus::Pending => pending_seen = true,
            other => panic!("unexpected status {other:?}"),
        }
        if started.elapsed() > Duration::from_secs(60) {
            panic!(
                "no certificate within 60 s\n--- traefik ---\n{}\n--- pebble ---\n{}",
                traefik.log(),
                std::fs::read_to_string(tmp.path().join("pebble.log")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "certificate issued by '{issuer}' after {:?} (pending seen first: {pending_seen})",
        started.elapsed()
    );
    assert!(
        issuer.starts_with("Pebble Intermediate CA"),
        "issuer: {issuer}"
    );

    // Pebble's root, fetched from its management interface over TLS pinned to its listener
    // certificate.
    let pinned = CertificateDer::from_pem_file(&pebble_cert).unwrap();
    let pinned_client = builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned(pinned, provider())))
        .with_no_client_auth();
    let (status, root_pem) = https_get(pinned_client, acme_mgmt, "127.0.0.1", "/roots/0")
        .await
        .unwrap();
    assert_eq!(status, 200, "{root_pem}");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    assert_eq!(roots.len(), 1, "{root_pem}");

    // A client that trusts only Pebble's root gets the upstream through Traefik.
    let trusting = builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
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
    pebble.kill().await.unwrap();
    chall.kill().await.unwrap();
}
