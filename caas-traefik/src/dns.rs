//! [`HickoryDns`]: the [`DnsResolver`] port on `hickory-resolver`, asking configured name
//! servers directly (no system configuration, no hosts file).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use caas_core::error::{Error, Result};
use caas_core::ports::dns::{DnsResolver, normalize_name};
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};

/// A [`DnsResolver`] asking the given name servers (UDP, falling back to TCP for truncated
/// answers) with short timeouts and no caching, so that a record just changed is seen at
/// the next verification.
///
/// "No such name" (NXDOMAIN) and "no record of that type" are empty answers; a name that
/// is not a valid DNS name is an empty answer too; every other failure (timeouts, refused
/// or failing servers) is `Unavailable`.
#[derive(Debug, Clone)]
pub struct HickoryDns {
    resolver: TokioResolver,
}

impl HickoryDns {
    /// Timeout of one query to one name server.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

    /// A resolver asking `name_servers` in order, over UDP and TCP, with
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT) and two attempts.
    ///
    /// Errors: `InvalidInput` (`name_servers` is empty).
    pub fn new(name_servers: Vec<SocketAddr>) -> Result<Self> {
        Self::with_timeout(name_servers, Self::DEFAULT_TIMEOUT, 2)
    }

    /// A resolver asking the name servers of the operating system's configuration
    /// (`/etc/resolv.conf`), with the same short timeouts and no caching.
    ///
    /// Errors: `Unavailable` (the configuration cannot be read), `InvalidInput` (it names no
    /// name server).
    pub fn from_system_conf() -> Result<Self> {
        let (config, _) = hickory_resolver::system_conf::read_system_conf().map_err(|e| {
            Error::unavailable(
                "dns",
                format!("reading the system's resolver configuration failed: {e}"),
            )
        })?;
        let mut servers: Vec<SocketAddr> = Vec::new();
        for ns in config.name_servers() {
            if !servers.contains(&ns.socket_addr) {
                servers.push(ns.socket_addr);
            }
        }
        Self::new(servers)
    }

    /// Like [`new`](Self::new), with a per-query `timeout` and a number of `attempts`
    /// (at least one).
    ///
    /// Errors: `InvalidInput` (`name_servers` is empty, or the timeout is zero).
    pub fn with_timeout(
        name_servers: Vec<SocketAddr>,
        timeout: Duration,
        attempts: usize,
    ) -> Result<Self> {
        if name_servers.is_empty() {
            return Err(Error::invalid(
                "name_servers",
                "at least one name server is needed",
            ));
        }
        if timeout.is_zero() {
            return Err(Error::invalid("timeout", "must be more than zero"));
        }
        let mut config = ResolverConfig::new();
        for addr in &name_servers {
            config.add_name_server(NameServerConfig::new(*addr, Protocol::Udp));
            config.add_name_server(NameServerConfig::new(*addr, Protocol::Tcp));
        }
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = attempts.max(1);
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        opts.ndots = 0;
        let resolver =
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                .with_options(opts)
                .build();
        Ok(Self { resolver })
    }
}

/// `host` as a fully qualified name, or `None` when it is not a DNS name.
fn fqdn(host: &str) -> Option<Name> {
    let mut name = Name::from_ascii(normalize_name(host)).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// NXDOMAIN and "no records" are `Ok(())` (an empty answer); other failures `Unavailable`.
fn empty_or_unavailable(host: &str, e: ResolveError) -> Result<()> {
    if e.is_nx_domain() || e.is_no_records_found() {
        Ok(())
    } else {
        Err(Error::unavailable(
            "dns",
            format!("resolving {host} failed: {e}"),
        ))
    }
}

#[async_trait]
impl DnsResolver for HickoryDns {
    async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>> {
        let Some(name) = fqdn(host) else {
            return Ok(Vec::new());
        };
        match self.resolver.lookup_ip(name).await {
            Ok(answer) => {
                let mut ips: Vec<IpAddr> = answer.iter().collect();
                ips.sort();
                ips.dedup();
                Ok(ips)
            }
            Err(e) => empty_or_unavailable(host, e).map(|()| Vec::new()),
        }
    }

    async fn lookup_cname(&self, host: &str) -> Result<Vec<String>> {
        let Some(name) = fqdn(host) else {
            return Ok(Vec::new());
        };
        match self.resolver.lookup(name.clone(), RecordType::CNAME).await {
            Ok(answer) => {
                let mut targets: Vec<String> = answer
                    .record_iter()
                    .filter(|r| r.name() == &name)
                    .filter_map(|r| match r.data() {
                        RData::CNAME(c) => Some(normalize_name(&c.0.to_ascii())),
                        _ => None,
                    })
                    .collect();
                targets.sort();
                targets.dedup();
                Ok(targets)
            }
            Err(e) => empty_or_unavailable(host, e).map(|()| Vec::new()),
        }
    }

    async fn lookup_txt(&self, host: &str) -> Result<Vec<String>> {
        let Some(name) = fqdn(host) else {
            return Ok(Vec::new());
        };
        match self.resolver.txt_lookup(name.clone()).await {
            Ok(answer) => {
                let mut values: Vec<String> = answer
                    .as_lookup()
                    .record_iter()
                    .filter(|r| r.name() == &name)
                    .filter_map(|r| match r.data() {
                        RData::TXT(t) => Some(
                            t.txt_data()
                                .iter()
                                .map(|part| String::from_utf8_lossy(part))
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .collect();
                values.sort();
                values.dedup();
                Ok(values)
            }
            Err(e) => empty_or_unavailable(host, e).map(|()| Vec::new()),
        }
    }
}
