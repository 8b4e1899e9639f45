//! Custom domains: a service gets several hostnames (each optionally with a path prefix), one
//! owner per host and path across all organizations, proven before they are routed.
//!
//! - **Adding** a domain validates it strictly (see [`crate::validate::hostname`]; path
//!   prefixes of `[A-Za-z0-9/_.~-]` only), stores it `Pending` with a random verification
//!   token, and routes nothing: the service's container is never touched.
//! - **Verifying** proves ownership by DNS (the host's A/AAAA records contain one of the
//!   platform's [public addresses](DomainConfig::public_address), or it is a CNAME to the
//!   platform's [target](DomainConfig::cname_target)) or by HTTP (`GET
//!   http://<host>/.well-known/caas-verification/<token>` answers 200 with the token). For the
//!   HTTP method the platform resolves the host through its [`DnsResolver`] and connects to
//!   the resolved addresses itself on [`DomainConfig::http_port`] (80 by default), sending the
//!   host in the `Host` header: the platform must be able to reach those addresses.
//! - **Routing**: only verified domains are routed. After every verification and removal the
//!   service's routes are recomputed: every verified domain as a rule, the current container's
//!   address `http://<ip>:<target_port>` as upstream; with no verified domain left the
//!   service is unrouted. All domains of a service share one target port.
//! - **Re-checking**: [`Platform::run_domain_verifier`] re-verifies pending and failed domains
//!   periodically (DNS first, then HTTP).
//!
//! - **Wildcards** (`*.example.com`, matching every name exactly one label below it) are
//!   refused unless [`DomainConfig::wildcards`] is on. A wildcard and the exact hosts it covers
//!   always belong to one organization: adding `shop.example.com` while another organization
//!   holds `*.example.com` (or the other way round) is a `Conflict`, so a wildcard's owner
//!   cannot capture another tenant's host and nobody can carve a host out of someone else's
//!   wildcard. Ownership of a wildcard is checked on a sample name below it
//!   (`caas-verify-<token>.example.com`), which only a wildcard record pointing at the
//!   platform (or a record made for that name) resolves. The proxy routes an exact host before
//!   any wildcard, and a longer path prefix before a shorter one. Certificates for wildcards
//!   need an ACME DNS-01 resolver in the proxy (see `caas_traefik::AcmeChallenge::Dns01`).

use std::net::IpAddr;
use std::time::Duration;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::instrument;

use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{DomainId, OrgId};
use crate::model::{Domain, Organization, Service, VerificationStatus};
use crate::ports::dns::{DnsResolver, normalize_name};
use crate::ports::proxy::{CertificateStatus, RouteRule, ServiceRoutes};
use crate::validate::{self, HostPattern, Hostname};

/// Path of the HTTP verification token on the domain: `<prefix><token>`.
pub const HTTP_VERIFICATION_PREFIX: &str = "/.well-known/caas-verification/";
/// Length of a verification token.
const TOKEN_LEN: usize = 32;
/// Largest HTTP verification answer read.
const MAX_HTTP_ANSWER: usize = 64 * 1024;
/// The label below a wildcard whose certificate is inspected for its status.
pub const CERTIFICATE_PROBE_LABEL: &str = "caas-certificate-probe";

/// How the platform serves and verifies custom domains.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainConfig {
    /// Addresses a verified domain's A/AAAA records may point to (default none).
    pub public_addresses: Vec<IpAddr>,
    /// The name a verified domain may be a CNAME to (default none).
    pub cname_target: Option<Hostname>,
    /// Route verified domains over HTTPS with an ACME certificate (default off).
    pub tls: bool,
    /// The port the HTTP verification method connects to (default 80).
    pub http_port: u16,
    /// How long one HTTP verification may take (default 10 s).
    pub http_timeout: Duration,
    /// Accept wildcard domains `*.<name>` (default off; their certificates need a DNS-01
    /// resolver in the proxy).
    pub wildcards: bool,
}

impl Default for DomainConfig {
    fn default() -> Self {
        Self {
            public_addresses: Vec::new(),
            cname_target: None,
            tls: false,
            http_port: 80,
            http_timeout: Duration::from_secs(10),
            wildcards: false,
        }
    }
}

impl DomainConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a public address of the platform.
    pub fn public_address(mut self, ip: IpAddr) -> Self {
        self.public_addresses.push(ip);
        self
    }
    /// The CNAME target of the platform.
    pub fn cname_target(mut self, target: Hostname) -> Self {
        self.cname_target = Some(target);
        self
    }
    /// Serve verified domains over HTTPS (ACME through the proxy).
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }
    /// The port the HTTP verification method connects to.
    pub fn http_port(mut self, port: u16) -> Self {
        self.http_port = port;
        self
    }
    /// How long one HTTP verification may take.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }
    /// Accept wildcard domains (`*.example.com`).
    pub fn wildcards(mut self, on: bool) -> Self {
        self.wildcards = on;
        self
    }
}

/// A domain to add to a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewDomain {
    /// Host name (lower-cased), or `*.<name>` where wildcards are enabled.
    pub hostname: String,
    /// Path prefix (default `/`, the whole host); a trailing `/` is dropped.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Strip the prefix before forwarding (default off; needs a prefix other than `/`).
    #[serde(default)]
    pub strip_prefix: bool,
    /// The container port traffic goes to (default: the service's first port).
    #[serde(default)]
    pub target_port: Option<u16>,
}

impl NewDomain {
    /// The whole of `hostname`, to the service's first port.
    pub fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            path_prefix: None,
            strip_prefix: false,
            target_port: None,
        }
    }
    /// Only requests under `prefix`.
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }
    /// Strip the prefix before forwarding.
    pub fn strip_prefix(mut self, on: bool) -> Self {
        self.strip_prefix = on;
        self
    }
    /// The container port.
    pub fn target_port(mut self, port: u16) -> Self {
        self.target_port = Some(port);
        self
    }
}

/// How to prove ownership of a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationMethod {
    /// A/AAAA records to a public address of the platform, or a CNAME to its target.
    Dns,
    /// `GET http://<host>/.well-known/caas-verification/<token>` answers the token.
    Http,
}

/// Validates a path prefix: `/`, or an absolute path without empty, `.` or `..` components
/// and of `[A-Za-z0-9/_.~-]` only. Returns it without a trailing `/`.
/// Errors: `InvalidInput` naming `field`.
pub fn path_prefix(field: &str, value: &str) -> Result<String> {
    if value == "/" {
        return Ok(value.to_string());
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/-_.~".contains(*c)))
    {
        return Err(Error::invalid(
            field,
            format!(
                "path prefix contains the forbidden character {c:?}; allowed: letters, digits and / - _ . ~"
            ),
        ));
    }
    if value.len() > 1024 {
        return Err(Error::invalid(
            field,
            "path prefix is longer than 1024 bytes",
        ));
    }
    validate::container_path(field, value)?;
    Ok(value.strip_suffix('/').unwrap_or(value).to_string())
}

fn token() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(TOKEN_LEN)
        .map(char::from)
        .collect()
}

impl Platform {
    /// Adds a domain to a service, `Pending` until verified; nothing is routed and the
    /// service's container is untouched.
    ///
    /// Errors: `NotFound`, `PermissionDenied` (member or higher), `InvalidInput` naming the
    /// field (`hostname`, `path_prefix`, `strip_prefix`, `target_port`), `Conflict` (the host
    /// and path are taken, by anyone).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %service))]
    pub async fn add_domain(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        service: &str,
        new: NewDomain,
    ) -> Result<Domain> {
        let (org, _, svc) = self
            .authorize_service(who, org_slug, project, service, Action::ServiceDeploy)
            .await?;
        let hostname = HostPattern::parse_field(
            "hostname",
            new.hostname.clone(),
            self.inner.domains.wildcards,
        )?;
        let prefix = path_prefix("path_prefix", new.path_prefix.as_deref().unwrap_or("/"))?;
        if new.strip_prefix && prefix == "/" {
            return Err(Error::invalid(
                "strip_prefix",
                "stripping needs a path prefix other than '/'",
            ));
        }
        let existing = self.inner.store.list_domains(svc.id).await?;
        let target_port = match (new.target_port, existing.first()) {
            (Some(0), _) => return Err(Error::invalid("target_port", "must be 1-65535")),
            (Some(p), Some(d)) if p != d.target_port => {
                return Err(Error::invalid(
                    "target_port",
                    format!(
                        "all domains of a service go to one port; this service's go to {}",
                        d.target_port
                    ),
                ));
            }
            (Some(p), _) => p,
            (None, Some(d)) => d.target_port,
            (None, None) => svc
                .spec
                .ports
                .first()
                .map(|p| p.container_port)
                .ok_or_else(|| {
                    Error::invalid(
                        "target_port",
                        "the service exposes no port; give the container port",
                    )
                })?,
        };
        let domain = Domain {
            id: DomainId::new(),
            org: org.id,
            service: svc.id,
            hostname,
            path_prefix: prefix,
            strip_prefix: new.strip_prefix,
            target_port,
            verification: VerificationStatus::Pending,
            verification_token: token(),
            created_at: self.now(),
        };
        self.refuse_foreign_overlap(org.id, &domain.hostname)
            .await?;
        match self.inner.store.create_domain(&domain).await {
            Ok(()) => {}
            Err(e) if e.is_already_exists() => {
                return Err(Error::conflict(format!(
                    "the domain {}{} is already in use",
                    domain.hostname,
                    if domain.path_prefix == "/" {
                        ""
                    } else {
                        &domain.path_prefix
                    }
                )));
            }
            Err(e) => return Err(e),
        }
        self.audit(
            Some(who),
            Some(org.id),
            "domain.add",
            format!("domain:{}", domain.id),
            None,
            json(&domain),
        )
        .await;
        Ok(domain)
    }

    /// The domains of a service, oldest first. Errors: `NotFound`.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %service))]
    pub async fn list_domains(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        service: &str,
    ) -> Result<Vec<Domain>> {
        let (_, _, svc) = self
            .authorize_service(who, org_slug, project, service, Action::ServiceView)
            .await?;
        self.inner.store.list_domains(svc.id).await
    }

    /// Removes a service's domains on `hostname` (only the one with path prefix `path` when
    /// given) and re-applies the service's routes. Returns what was removed.
    ///
    /// Errors: `NotFound` (service, or no such domain on it), `PermissionDenied`,
    /// `Unavailable` (the proxy).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %service))]
    pub async fn remove_domain(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        service: &str,
        hostname: &str,
        path: Option<&str>,
    ) -> Result<Vec<Domain>> {
        let (org, _, svc) = self
            .authorize_service(who, org_slug, project, service, Action::ServiceDeploy)
            .await?;
        let wanted = Self::domain_filter(hostname, path)?;
        let removed: Vec<Domain> = self
            .inner
            .store
            .list_domains(svc.id)
            .await?
            .into_iter()
            .filter(|d| wanted.matches(d))
            .collect();
        if removed.is_empty() {
            return Err(Error::not_found("domain", hostname));
        }
        for d in &removed {
            self.inner.store.delete_domain(d.id).await?;
            self.audit(
                Some(who),
                Some(org.id),
                "domain.remove",
                format!("domain:{}", d.id),
                json(d),
                None,
            )
            .await;
        }
        self.apply_domain_routes(&svc).await?;
        Ok(removed)
    }

    /// Verifies the organization's domains on `hostname` (only the one with path prefix
    /// `path` when given) with `method`, records `Verified` or `Failed` with the reason, and
    /// re-applies the routes of the services concerned. Returns the domains afterwards.
    ///
    /// Errors: `NotFound`, `PermissionDenied` (member or higher on the service's project),
    /// `Unsupported` (DNS verification without public addresses or a CNAME target
    /// configured), `Unavailable` (the resolver or the proxy failed; the status is unchanged).
    #[instrument(skip_all, fields(caas.org = %org_slug))]
    pub async fn verify_domain(
        &self,
        who: &Principal,
        org_slug: &str,
        hostname: &str,
        path: Option<&str>,
        method: VerificationMethod,
    ) -> Result<Vec<Domain>> {
        let (org, domains) = self
            .authorize_domains(who, org_slug, hostname, path, Action::ServiceDeploy)
            .await?;
        let mut out = Vec::with_capacity(domains.len());
        let mut services: Vec<Service> = Vec::new();
        for (mut d, svc) in domains {
            let outcome = self.check_ownership(&d, method).await?;
            let before = d.verification.clone();
            d.verification = outcome;
            self.inner.store.update_domain(&d).await?;
            self.audit(
                Some(who),
                Some(org.id),
                "domain.verify",
                format!("domain:{}", d.id),
                json(&before),
                json(&d.verification),
            )
            .await;
            if !services.iter().any(|s| s.id == svc.id) {
                services.push(svc);
            }
            out.push(d);
        }
        for svc in &services {
            self.apply_domain_routes(svc).await?;
        }
        Ok(out)
    }

    /// The certificate state of a domain of the organization (`NotConfigured` without a
    /// proxy). Errors: `NotFound`, `Unavailable`.
    #[instrument(skip_all, fields(caas.org = %org_slug))]
    pub async fn certificate_status(
        &self,
        who: &Principal,
        org_slug: &str,
        hostname: &str,
    ) -> Result<CertificateStatus> {
        let (_, domains) = self
            .authorize_domains(who, org_slug, hostname, None, Action::ServiceView)
            .await?;
        let Some((d, _)) = domains.into_iter().next() else {
            return Err(Error::not_found("domain", hostname));
        };
        match &self.inner.proxy {
            // A wildcard's certificate is the one served for a name below it.
            Some(proxy) => {
                proxy
                    .certificate_status(&d.hostname.sample(CERTIFICATE_PROBE_LABEL)?)
                    .await
            }
            None => Ok(CertificateStatus::NotConfigured),
        }
    }

    /// Re-verifies every pending or failed domain (a system operation: no principal), DNS
    /// first when configured, then HTTP, and re-routes the services whose domains became
    /// verified. Returns how many became verified. Errors: `Unavailable` (the store).
    #[instrument(skip_all)]
    pub async fn reverify_domains(&self) -> Result<usize> {
        let store = &self.inner.store;
        let mut verified = 0;
        let mut services = Vec::new();
        for mut d in store.list_all_domains().await? {
            if matches!(d.verification, VerificationStatus::Verified { .. }) {
                continue;
            }
            let mut reasons = Vec::new();
            let mut outcome = None;
            for method in [VerificationMethod::Dns, VerificationMethod::Http] {
                match self.check_ownership(&d, method).await {
                    Ok(v @ VerificationStatus::Verified { .. }) => {
                        outcome = Some(v);
                        break;
                    }
                    Ok(VerificationStatus::Failed { reason }) => reasons.push(reason),
                    Ok(VerificationStatus::Pending) => {}
                    Err(e) if e.is_unsupported() => {}
                    Err(e) => {
                        tracing::warn!(error = %e, domain = %d.hostname, "could not re-verify");
                    }
                }
            }
            let outcome = match outcome {
                Some(v) => v,
                None if reasons.is_empty() => continue,
                None => VerificationStatus::Failed {
                    reason: reasons.join("; "),
                },
            };
            if outcome == d.verification {
                continue;
            }
            if matches!(outcome, VerificationStatus::Verified { .. }) {
                verified += 1;
                if !services.contains(&d.service) {
                    services.push(d.service);
                }
            }
            d.verification = outcome;
            store.update_domain(&d).await?;
        }
        for id in services {
            match store.service(id).await {
                Ok(svc) => {
                    if let Err(e) = self.apply_domain_routes(&svc).await {
                        tracing::warn!(error = %e, service = %id, "could not route verified domains");
                    }
                }
                Err(e) => tracing::warn!(error = %e, service = %id, "service of a domain"),
            }
        }
        Ok(verified)
    }

    /// Runs [`Platform::reverify_domains`] now and then every `interval` until `shutdown`
    /// completes; passes never overlap. Spawn it:
    /// `tokio::spawn(platform.run_domain_verifier(..))`.
    pub async fn run_domain_verifier(
        self,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = tick.tick() => {
                    if let Err(e) = self.reverify_domains().await {
                        tracing::warn!(error = %e, "domain re-verification failed; retrying next interval");
                    }
                }
            }
        }
    }

    /// Makes the proxy route exactly the service's verified domains to its current
    /// container, then waits until that is live; unroutes the service when none is verified.
    /// Nothing to do without a proxy. Errors: `InvalidInput`, `Unavailable`.
    pub(super) async fn apply_domain_routes(&self, svc: &Service) -> Result<()> {
        let Some(proxy) = self.inner.proxy.clone() else {
            return Ok(());
        };
        let key = svc.id.to_string();
        let mut verified: Vec<Domain> = self
            .inner
            .store
            .list_domains(svc.id)
            .await?
            .into_iter()
            .filter(|d| matches!(d.verification, VerificationStatus::Verified { .. }))
            .collect();
        if verified.is_empty() {
            proxy.remove(&key).await?;
            return Ok(());
        }
        verified.sort_by(|a, b| {
            (a.hostname.as_str(), a.path_prefix.as_str())
                .cmp(&(b.hostname.as_str(), b.path_prefix.as_str()))
        });
        let port = verified.first().map(|d| d.target_port).unwrap_or_default();
        let mut upstreams = Vec::new();
        if svc.current_deployment.is_some() {
            let container = self.current_container(svc).await?;
            match self.runtime().upstream_hosts(&container).await {
                Ok(hosts) => {
                    upstreams.extend(hosts.iter().map(|h| format!("http://{h}:{port}")));
                }
                // A lost container is the reconciler's business; route nothing meanwhile.
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let routes = ServiceRoutes {
            key: key.clone(),
            rules: verified
                .iter()
                .map(|d| RouteRule {
                    host: d.hostname.clone(),
                    path_prefix: d.path_prefix.clone(),
                    strip_prefix: d.strip_prefix,
                    tls: self.inner.domains.tls,
                })
                .collect(),
            upstreams,
        };
        let g = proxy.apply(&routes).await?;
        proxy
            .wait_applied(&key, g, self.inner.rollout_timeout)
            .await
    }

    /// Keeps a wildcard and the exact hosts it covers in one organization. Errors:
    /// `Conflict` naming the host, never the other organization.
    async fn refuse_foreign_overlap(&self, org: OrgId, host: &HostPattern) -> Result<()> {
        let store = &self.inner.store;
        if host.is_wildcard() {
            for d in store.list_domains_under(host.base()).await? {
                if d.org != org && !d.hostname.is_wildcard() && host.matches(d.hostname.as_str()) {
                    return Err(Error::conflict(format!(
                        "{host} would cover {}, which is already in use",
                        d.hostname
                    )));
                }
            }
        } else if let Some(wildcard) = host.covering_wildcard() {
            for d in store.list_domains_under(wildcard.base()).await? {
                if d.org != org && d.hostname == wildcard {
                    return Err(Error::conflict(format!(
                        "{host} is covered by the wildcard domain {wildcard}, which is already in use"
                    )));
                }
            }
        }
        Ok(())
    }

    fn domain_filter(hostname: &str, path: Option<&str>) -> Result<DomainFilter> {
        let host = normalize_name(hostname);
        let path = path.map(|p| path_prefix("path", p)).transpose()?;
        Ok(DomainFilter { host, path })
    }

    /// The organization's domains on a host (and path) the principal may see, each with its
    /// service, after checking `action` on their projects. Errors: `NotFound` (none visible),
    /// `PermissionDenied`.
    async fn authorize_domains(
        &self,
        who: &Principal,
        org_slug: &str,
        hostname: &str,
        path: Option<&str>,
        action: Action,
    ) -> Result<(Organization, Vec<(Domain, Service)>)> {
        let org = self.authorize_org(who, org_slug, Action::OrgView).await?;
        let wanted = Self::domain_filter(hostname, path)?;
        let mut out = Vec::new();
        for d in self.inner.store.list_org_domains(org.id).await? {
            if !wanted.matches(&d) {
                continue;
            }
            let svc = self.inner.store.service(d.service).await?;
            if !who.can(Action::ServiceView, Some(org.id), Some(svc.project)) {
                continue;
            }
            out.push((d, svc));
        }
        if out.is_empty() {
            return Err(Error::not_found("domain", hostname));
        }
        for (_, svc) in &out {
            who.require(action, org.id, Some(svc.project), org_slug)?;
        }
        Self::refuse_if_suspended(&org, action)?;
        Ok((org, out))
    }

    /// Checks the ownership of `d` with `method`: `Verified` or `Failed` with the reason.
    /// Errors: `Unsupported` (DNS without addresses or target), `Unavailable` (resolver).
    async fn check_ownership(
        &self,
        d: &Domain,
        method: VerificationMethod,
    ) -> Result<VerificationStatus> {
        let result = match method {
            VerificationMethod::Dns => self.check_dns(d).await?,
            VerificationMethod::Http => self.check_http(d).await?,
        };
        Ok(match result {
            Ok(()) => VerificationStatus::Verified { at: self.now() },
            Err(reason) => VerificationStatus::Failed { reason },
        })
    }

    async fn check_dns(&self, d: &Domain) -> Result<std::result::Result<(), String>> {
        let cfg = &self.inner.domains;
        if cfg.public_addresses.is_empty() && cfg.cname_target.is_none() {
            return Err(Error::unsupported(
                "DNS verification: the platform has no public addresses or CNAME target configured",
            ));
        }
        let dns: &dyn DnsResolver = self.inner.dns.as_ref();
        let sample = verification_host(d)?;
        let host = sample.as_str();
        let ips = dns.lookup_ip(host).await?;
        if ips.iter().any(|ip| cfg.public_addresses.contains(ip)) {
            return Ok(Ok(()));
        }
        let cnames = dns.lookup_cname(host).await?;
        if let Some(target) = &cfg.cname_target {
            if cnames.iter().any(|c| normalize_name(c) == target.as_str()) {
                return Ok(Ok(()));
            }
        }
        let mut reason = if d.hostname.is_wildcard() {
            format!("{} (checked as {host}) ", d.hostname)
        } else {
            format!("{host} ")
        };
        if ips.is_empty() {
            reason.push_str("has no A/AAAA records");
        } else {
            let list: Vec<String> = ips.iter().map(ToString::to_string).collect();
            reason.push_str(&format!("resolves to {}", list.join(", ")));
        }
        if !cfg.public_addresses.is_empty() {
            let list: Vec<String> = cfg
                .public_addresses
                .iter()
                .map(ToString::to_string)
                .collect();
            reason.push_str(&format!(
                ", none of the platform's addresses ({})",
                list.join(", ")
            ));
        }
        if let Some(target) = &cfg.cname_target {
            if cnames.is_empty() {
                reason.push_str(&format!(", and is not a CNAME to {target}"));
            } else {
                reason.push_str(&format!(
                    ", and is a CNAME to {} instead of {target}",
                    cnames.join(", ")
                ));
            }
        }
        Ok(Err(reason))
    }

    async fn check_http(&self, d: &Domain) -> Result<std::result::Result<(), String>> {
        let cfg = &self.inner.domains;
        let sample = verification_host(d)?;
        let host = sample.as_str();
        let ips = self.inner.dns.lookup_ip(host).await?;
        if ips.is_empty() {
            return Ok(Err(format!("{host} has no A/AAAA records")));
        }
        let mut reasons = Vec::new();
        for ip in ips {
            let fetch = http_token(ip, cfg.http_port, host, &d.verification_token);
            match tokio::time::timeout(cfg.http_timeout, fetch).await {
                Ok(Ok(())) => return Ok(Ok(())),
                Ok(Err(reason)) => reasons.push(format!("{ip}: {reason}")),
                Err(_) => reasons.push(format!(
                    "{ip}: no answer within {} s",
                    cfg.http_timeout.as_secs()
                )),
            }
        }
        Ok(Err(format!(
            "http://{host}{HTTP_VERIFICATION_PREFIX}<token> did not answer the token ({})",
            reasons.join("; ")
        )))
    }
}

/// The name whose records prove ownership of `d`: the host itself, or for a wildcard a
/// name below it derived from the domain's token (`caas-verify-<token>.<base>`), which
/// nobody has a record for unless a wildcard record covers it.
fn verification_host(d: &Domain) -> Result<Hostname> {
    let tag: String = d
        .verification_token
        .chars()
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    d.hostname.sample(&format!("caas-verify-{tag}"))
}

struct DomainFilter {
    host: String,
    path: Option<String>,
}

impl DomainFilter {
    fn matches(&self, d: &Domain) -> bool {
        d.hostname.as_str() == self.host && self.path.as_ref().is_none_or(|p| *p == d.path_prefix)
    }
}

/// One plain HTTP/1.1 request for the token on `ip:port` with `Host: host`: succeeds when
/// the answer is 200 and a line of its body is exactly the token (so chunked answers pass).
async fn http_token(
    ip: IpAddr,
    port: u16,
    host: &str,
    token: &str,
) -> std::result::Result<(), String> {
    let mut conn = tokio::net::TcpStream::connect((ip, port))
        .await
        .map_err(|e| format!("cannot connect to port {port}: {e}"))?;
    let request = format!(
        "GET {HTTP_VERIFICATION_PREFIX}{token} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: caas-rs\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn
            .read(&mut buf)
            .await
            .map_err(|e| format!("cannot read the answer: {e}"))?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(buf.get(..n).unwrap_or_default());
        if answer.len() > MAX_HTTP_ANSWER {
            return Err("the answer is too large".into());
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let status = text.lines().next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        return Err(format!("answered '{}'", status.trim()));
    }
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    if body.lines().any(|l| l.trim() == token) {
        Ok(())
    } else {
        Err("answered 200 without the token".into())
    }
}
