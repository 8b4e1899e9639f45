#![doc = include_str!("../README.md")]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use caas_core::ports::notifier::{AlertNotification, Notifier};
use caas_core::{Error, Result};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const SERVICE: &str = "webhook";

/// The signature header value for a payload: `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is the signature of `body` at `timestamp` under `secret` (constant-time).
pub fn verify(secret: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Whether an address is one a webhook must never reach from the platform: everything
/// [`caas_core::net::is_public`] refuses.
pub fn is_private(ip: IpAddr) -> bool {
    !caas_core::net::is_public(ip)
}

/// Resolves names for reqwest, dropping the addresses a webhook may not reach.
#[derive(Debug, Clone, Copy)]
struct PublicOnly {
    allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow || !is_private(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Sends alert notifications as signed JSON webhooks (see the crate docs).
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    client: reqwest::Client,
    allow_private: bool,
}

impl WebhookNotifier {
    /// A notifier refusing private addresses, 10 s per delivery. Errors: `Backend` when the
    /// HTTP client cannot be built (no TLS roots).
    pub fn new() -> Result<Self> {
        Self::build(false, Duration::from_secs(10))
    }

    /// The same, also delivering to loopback and private addresses (tests, private networks).
    /// Errors: as [`WebhookNotifier::new`].
    pub fn allow_private_addresses(self, allow: bool) -> Result<Self> {
        Self::build(allow, Duration::from_secs(10))
    }

    fn build(allow_private: bool, timeout: Duration) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PublicOnly { allow_private }))
            .user_agent(concat!("caas-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::backend_source(SERVICE, "building the HTTP client", e))?;
        Ok(Self {
            client,
            allow_private,
        })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn notify(&self, n: &AlertNotification) -> Result<()> {
        let url = reqwest::Url::parse(&n.target.url)
            .map_err(|e| Error::invalid("webhook.url", format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(Error::invalid("webhook.url", "must be http(s)"));
        }
        match url.host() {
            Some(url::Host::Ipv4(ip)) if !self.allow_private && is_private(IpAddr::V4(ip)) => {
                return Err(Error::invalid("webhook.url", "points at a private address"));
            }
            Some(url::Host::Ipv6(ip)) if !self.allow_private && is_private(IpAddr::V6(ip)) => {
                return Err(Error::invalid("webhook.url", "points at a private address"));
            }
            None => return Err(Error::invalid("webhook.url", "has no host")),
            _ => {}
        }
        let sent_at = chrono::Utc::now();
        let body = serde_json::to_vec(&serde_json::json!({
            "type": "alert",
            "org": n.org,
            "sent_at": sent_at,
            "alert": n.alert,
        }))
        .map_err(|e| Error::backend_source(SERVICE, "serializing the payload", e))?;
        let ts = sent_at.timestamp();
        let answer = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-caas-timestamp", ts.to_string())
            .header("x-caas-signature", signature(&n.target.secret, ts, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let mut cause: Option<&(dyn std::error::Error + 'static)> =
                    std::error::Error::source(&e);
                let mut private = false;
                while let Some(c) = cause {
                    private |= c.to_string().contains("no public address");
                    cause = c.source();
                }
                if private {
                    Error::invalid("webhook.url", "resolves to no public address")
                } else {
                    Error::Unavailable {
                        service: SERVICE,
                        message: format!("delivering to the webhook failed: {e}"),
                        source: Some(Box::new(e)),
                    }
                }
            })?;
        let status = answer.status();
        if !status.is_success() {
            return Err(Error::unavailable(
                SERVICE,
                format!("the webhook answered {status}"),
            ));
        }
        tracing::debug!(org = %n.org, rule = %n.alert.rule, "alert notification delivered");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_reject_tampering() {
        let s = signature("k3y-k3y-k3y-k3y!", 1_700_000_000, b"{\"a\":1}");
        assert!(s.starts_with("sha256="));
        assert!(verify("k3y-k3y-k3y-k3y!", 1_700_000_000, b"{\"a\":1}", &s));
        assert!(!verify(
            "other-secret-xxxx",
            1_700_000_000,
            b"{\"a\":1}",
            &s
        ));
        assert!(!verify("k3y-k3y-k3y-k3y!", 1_700_000_001, b"{\"a\":1}", &s));
        assert!(!verify("k3y-k3y-k3y-k3y!", 1_700_000_000, b"{\"a\":2}", &s));
        assert!(!verify(
            "k3y-k3y-k3y-k3y!",
            1_700_000_000,
            b"{\"a\":1}",
            "sha256=zz"
        ));
    }

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            // Ranges the notifier let through before it shared the platform's policy.
            "198.18.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "192.0.0.170",
        ] {
            assert!(
                is_private(ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))),
                "{ip}"
            );
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "1.1.1.1"] {
            assert!(
                !is_private(ip.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))),
                "{ip}"
            );
        }
    }
}
