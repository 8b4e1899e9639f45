//! Reading the certificate Traefik serves for a host: a TLS handshake with SNI on the
//! websecure entrypoint, then the leaf certificate parsed with `x509-parser`.
//!
//! The handshake accepts any certificate: this inspects what is served, it does not trust it.
//! The `ring` crypto provider is used explicitly, so no process-wide default is needed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use caas_core::ports::proxy::CertificateStatus;
use caas_core::{Error, Result};

const SERVICE: &str = "traefik";

/// Common name of the self-signed certificate Traefik serves when it has none for a host.
pub(crate) const TRAEFIK_DEFAULT_CN: &str = "TRAEFIK DEFAULT CERT";

/// Accepts every server certificate, still checking the handshake signatures.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS connector that accepts any certificate, on the `ring` provider.
pub(crate) fn inspecting_connector() -> Result<tokio_rustls::TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::backend_source(SERVICE, "building the TLS client", e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// What a leaf certificate says about a host's certificate status: Traefik's default
/// certificate means none was issued yet. Errors: `Backend` when it cannot be parsed.
pub(crate) fn status_of_leaf(der: &[u8]) -> Result<CertificateStatus> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| Error::backend_source(SERVICE, "parsing the served certificate", e))?;
    let subject_cn = first_cn(cert.subject());
    if subject_cn.as_deref() == Some(TRAEFIK_DEFAULT_CN) {
        return Ok(CertificateStatus::Pending);
    }
    let issuer = first_cn(cert.issuer()).unwrap_or_else(|| cert.issuer().to_string());
    let not_after = DateTime::<Utc>::from_timestamp(cert.validity().not_after.timestamp(), 0)
        .ok_or_else(|| {
            Error::backend(SERVICE, "the served certificate's expiry is out of range")
        })?;
    Ok(CertificateStatus::Issued { issuer, not_after })
}

fn first_cn(name: &x509_parser::x509::X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(String::from)
}

/// Handshakes with `addr` using `host` as SNI and reads the status from the leaf certificate.
/// Errors: `Unavailable` (refused, timed out, handshake failed), `Backend` (unparsable).
pub(crate) async fn probe(
    addr: SocketAddr,
    host: &str,
    timeout: Duration,
) -> Result<CertificateStatus> {
    let name = ServerName::try_from(host.to_ascii_lowercase())
        .map_err(|e| Error::invalid("host", format!("not a TLS server name: {e}")))?;
    let connector = inspecting_connector()?;
    let leaf = tokio::time::timeout(timeout, async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| Error::Unavailable {
                service: SERVICE,
                message: format!("Traefik's websecure entrypoint {addr} is unreachable: {e}"),
                source: Some(Box::new(e)),
            })?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| Error::Unavailable {
                service: SERVICE,
                message: format!("TLS handshake with {addr} for {host} failed: {e}"),
                source: Some(Box::new(e)),
            })?;
        let (_, conn) = tls.get_ref();
        conn.peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .ok_or_else(|| Error::backend(SERVICE, "the server sent no certificate"))
    })
    .await
    .map_err(|_| {
        Error::unavailable(
            SERVICE,
            format!(
                "no TLS handshake with {addr} within {} ms",
                timeout.as_millis()
            ),
        )
    })??;
    status_of_leaf(&leaf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    fn der(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .expect("a PEM certificate")
            .to_vec()
    }

    #[test]
    fn traefik_default_certificate_means_pending() {
        let d = der(include_str!("../testdata/traefik-default.pem"));
        assert_eq!(status_of_leaf(&d).unwrap(), CertificateStatus::Pending);
    }

    #[test]
    fn an_issued_leaf_reports_issuer_cn_and_expiry() {
        let d = der(include_str!("../testdata/issued-leaf.pem"));
        match status_of_leaf(&d).unwrap() {
            CertificateStatus::Issued { issuer, not_after } => {
                assert_eq!(issuer, "Test Issuer CA");
                assert_eq!(not_after.to_rfc3339(), "2036-11-22T18:33:59+00:00");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_a_backend_error() {
        assert!(status_of_leaf(b"not a certificate").is_err());
    }

    #[tokio::test]
    async fn refused_connection_is_unavailable() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let err = probe(addr, "app.example.com", Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(err.is_unavailable(), "{err}");
    }
}
