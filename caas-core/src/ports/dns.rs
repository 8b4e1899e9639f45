//! The DNS resolver port: what domain verification asks the DNS.
//!
//! [`InMemoryDns`] answers from a static table (tests and embedders that know their zone);
//! [`SystemDns`] uses the operating system's resolver for addresses (it cannot answer CNAME
//! or TXT queries, so it cannot verify domains). An adapter asking name servers directly,
//! `caas_traefik::HickoryDns`, lives in a sibling crate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::{Error, Result};

/// Answers DNS questions. "No such name" and "no record of that type" are empty answers,
/// never errors.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait DnsResolver: Send + Sync + std::fmt::Debug + 'static {
    /// The A and AAAA records of `host`. Errors: `Unavailable` (the resolver failed).
    async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>>;
    /// The CNAME targets of `host`, lower case and without the trailing dot.
    /// Errors: `Unavailable` (the resolver failed).
    async fn lookup_cname(&self, host: &str) -> Result<Vec<String>>;
    /// The TXT records of `host`, each record's strings joined into one value.
    /// Errors: `Unavailable` (the resolver failed), `Unsupported` (the resolver cannot ask
    /// for TXT records).
    async fn lookup_txt(&self, host: &str) -> Result<Vec<String>>;
}

/// Lower case, without a trailing dot: how names are compared.
pub fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[derive(Debug, Default)]
struct Table {
    ips: HashMap<String, Vec<IpAddr>>,
    cnames: HashMap<String, Vec<String>>,
    txts: HashMap<String, Vec<String>>,
    unavailable: bool,
}

/// The records of `name`, or as DNS wildcards answer, those of the closest `*.<ancestor>`
/// when `name` itself has none.
fn answer<T: Clone>(records: &HashMap<String, Vec<T>>, name: &str) -> Vec<T> {
    let name = normalize_name(name);
    if let Some(r) = records.get(&name) {
        return r.clone();
    }
    let mut rest = name.as_str();
    while let Some((_, parent)) = rest.split_once('.') {
        if let Some(r) = records.get(&format!("*.{parent}")) {
            return r.clone();
        }
        rest = parent;
    }
    Vec::new()
}

/// A [`DnsResolver`] answering from a table set by the caller. Names may be wildcards
/// (`*.example.com`), which answer for names below them that have no records of their own.
#[derive(Debug, Default)]
pub struct InMemoryDns {
    table: Mutex<Table>,
}

impl InMemoryDns {
    /// An empty table: every name answers nothing.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the A/AAAA records of `host`.
    pub fn set_ips(&self, host: &str, ips: impl IntoIterator<Item = IpAddr>) {
        self.lock()
            .ips
            .insert(normalize_name(host), ips.into_iter().collect());
    }
    /// Sets the CNAME records of `host`.
    pub fn set_cname(&self, host: &str, targets: impl IntoIterator<Item = impl AsRef<str>>) {
        self.lock().cnames.insert(
            normalize_name(host),
            targets
                .into_iter()
                .map(|t| normalize_name(t.as_ref()))
                .collect(),
        );
    }
    /// Sets the TXT records of `host`.
    pub fn set_txt(&self, host: &str, values: impl IntoIterator<Item = impl Into<String>>) {
        self.lock().txts.insert(
            normalize_name(host),
            values.into_iter().map(Into::into).collect(),
        );
    }
    /// Removes every record of `host`.
    pub fn remove(&self, host: &str) {
        let mut t = self.lock();
        let host = normalize_name(host);
        t.ips.remove(&host);
        t.cnames.remove(&host);
        t.txts.remove(&host);
    }
    /// Makes every lookup fail with `Unavailable` (or answer again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl DnsResolver for InMemoryDns {
    async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>> {
        let t = self.lock();
        if t.unavailable {
            return Err(Error::unavailable("dns", "the resolver is unavailable"));
        }
        Ok(answer(&t.ips, host))
    }

    async fn lookup_cname(&self, host: &str) -> Result<Vec<String>> {
        let t = self.lock();
        if t.unavailable {
            return Err(Error::unavailable("dns", "the resolver is unavailable"));
        }
        Ok(answer(&t.cnames, host))
    }

    async fn lookup_txt(&self, host: &str) -> Result<Vec<String>> {
        let t = self.lock();
        if t.unavailable {
            return Err(Error::unavailable("dns", "the resolver is unavailable"));
        }
        Ok(answer(&t.txts, host))
    }
}

/// A [`DnsResolver`] on the operating system's resolver (`getaddrinfo`). It answers address
/// lookups only: [`DnsResolver::lookup_cname`] is always empty, so CNAME verification needs
/// another resolver. Names that do not resolve are empty answers.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemDns;

#[async_trait]
impl DnsResolver for SystemDns {
    async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>> {
        match tokio::net::lookup_host((host, 0)).await {
            Ok(addrs) => {
                let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                ips.sort();
                ips.dedup();
                Ok(ips)
            }
            // getaddrinfo does not tell "no such name" from a failing resolver portably;
            // both are an empty answer here.
            Err(_) => Ok(Vec::new()),
        }
    }

    async fn lookup_cname(&self, _host: &str) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn lookup_txt(&self, _host: &str) -> Result<Vec<String>> {
        Err(Error::unsupported(
            "TXT lookups through the system resolver: give the platform a resolver that asks name servers (caas_traefik::HickoryDns)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_memory_answers_from_its_table() {
        let dns = InMemoryDns::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        dns.set_ips("App.Example.com.", [ip]);
        dns.set_cname("www.example.com", ["Target.Example.NET."]);
        dns.set_txt("_caas-challenge.App.Example.com.", ["token-1", "other"]);
        assert_eq!(dns.lookup_ip("app.example.com").await.ok(), Some(vec![ip]));
        assert_eq!(
            dns.lookup_cname("www.example.com").await.ok(),
            Some(vec!["target.example.net".to_string()])
        );
        assert_eq!(
            dns.lookup_txt("_caas-challenge.app.example.com").await.ok(),
            Some(vec!["token-1".to_string(), "other".to_string()])
        );
        assert_eq!(
            dns.lookup_ip("nothing.example.com").await.ok(),
            Some(vec![])
        );
        dns.set_unavailable(true);
        assert!(
            dns.lookup_ip("app.example.com")
                .await
                .is_err_and(|e| e.is_unavailable())
        );
        dns.set_unavailable(false);
        dns.remove("app.example.com");
        assert_eq!(dns.lookup_ip("app.example.com").await.ok(), Some(vec![]));
    }

    #[tokio::test]
    async fn in_memory_wildcards_answer_below_them_unless_a_name_has_its_own() {
        let dns = InMemoryDns::new();
        let wild: IpAddr = "192.0.2.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let own: IpAddr = "192.0.2.10".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        dns.set_ips("*.example.com", [wild]);
        dns.set_ips("own.example.com", [own]);
        assert_eq!(
            dns.lookup_ip("any.example.com").await.ok(),
            Some(vec![wild])
        );
        assert_eq!(
            dns.lookup_ip("a.b.example.com").await.ok(),
            Some(vec![wild])
        );
        assert_eq!(dns.lookup_ip("own.example.com").await.ok(), Some(vec![own]));
        assert_eq!(dns.lookup_ip("example.com").await.ok(), Some(vec![]));
    }
}
