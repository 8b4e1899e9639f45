//! Custom domains: a service gets several hostnames (each optionally with a path prefix);
//! one organization owns a hostname with every path on it, and proves it before anything is
//! routed.
//!
//! - **Owning a hostname.** The first domain an organization adds on a hostname makes its
//!   claim on the name ([`HostClaim`]): one claim per hostname across the platform, kept by
//!   the store (a unique key on the normalized name), so of two organizations claiming at
//!   once exactly one wins. Every later domain on the hostname — any path, any service — is
//!   the same organization's; another organization's is refused (`Conflict`, without naming
//!   the owner). Hostnames are compared by one key: any case, a trailing dot, and Unicode or
//!   punycode spellings are the same name ([`crate::validate::host_key`]).
//! - **Proving it.** A claim is proved by a TXT record `_caas-challenge.<hostname>` holding
//!   the claim's token (for a wildcard `*.example.com`: `_caas-challenge.example.com`), read
//!   through the platform's [`DnsResolver`]; or, for customers who cannot add TXT records,
//!   by HTTP: the platform itself serves the token at
//!   `http://<hostname>/.well-known/caas-challenge/<token>` (a proxy route of the claim to
//!   [`DomainConfig::http_challenge`]) and fetches it through the name's public addresses.
//!   That only shows the name's traffic reaches the platform, so it is refused where that
//!   proves nothing: for wildcards, and for names of a site (registrable domain) of which
//!   another organization holds or held a verified name — a record left pointing at the
//!   platform by a former customer, or a customer's DNS wildcard, would answer for anyone.
//! - **Pointing at the platform** (A/AAAA records to one of its
//!   [public addresses](DomainConfig::public_address) or a CNAME to its
//!   [target](DomainConfig::cname_target)) is checked with every verification and reported
//!   as the claim's [`Readiness`]: it tells whether routing and certificates can work and
//!   grants nothing.
//! - **Reserved names.** The platform's own names — [`DomainConfig::reserve`]d ones and the
//!   CNAME target — and every name below them cannot be claimed.
//! - **Expiry.** An unproven claim expires after [`DomainConfig::claim_ttl`] (7 days): the
//!   verifier releases it with its domains, and another organization may then claim the name
//!   (and must prove it). A claim also ends when its organization's last domain on the
//!   hostname is removed.
//! - **Routing**: only domains under a verified claim of their organization are routed.
//!   After every verification and removal the service's routes are recomputed: every such
//!   domain as a rule, the current container's address `http://<ip>:<target_port>` as
//!   upstream; with none left the service is unrouted. All domains of a service share one
//!   target port.
//! - **Limits**: the plan's `max_domains` bounds an organization's domains (checked by the
//!   store with the claim, `QuotaExceeded` on dimension `domains`); checks of one
//!   organization's claims run at most [`DomainConfig::checks_per_org`] at a time, so one
//!   tenant's slow names cannot hold up another's.
//! - **Wildcards** (`*.example.com`, matching every name exactly one label below it) are
//!   refused unless [`DomainConfig::wildcards`] is on. A wildcard and the exact hosts it
//!   covers always belong to one organization: adding `shop.example.com` while another
//!   organization holds `*.example.com` (or the other way round) is a `Conflict`. The proxy
//!   routes an exact host before any wildcard, and a longer path prefix before a shorter
//!   one. Certificates for wildcards need an ACME DNS-01 resolver in the proxy (see
//!   `caas_traefik::AcmeChallenge::Dns01`).

mod verify;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{DomainId, OrgId, ServiceId};
use crate::model::{Domain, HostClaim, Organization, Readiness, Service, VerificationStatus};
use crate::ports::proxy::{CertificateStatus, RouteRule, ServiceRoutes};
use crate::validate::{self, HostPattern, Hostname};

pub use verify::{CHALLENGE_TXT_LABEL, HTTP_CHALLENGE_PREFIX, VerificationMethod};

/// Length of a claim's token.
const TOKEN_LEN: usize = 32;
/// The label below a wildcard whose certificate is inspected for its status.
pub const CERTIFICATE_PROBE_LABEL: &str = "caas-certificate-probe";

/// How the platform serves and verifies custom domains.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainConfig {
    /// Addresses a domain's A/AAAA records point to when it points at the platform (default
    /// none). Also the only non-public addresses HTTP verification may connect to.
    pub public_addresses: Vec<IpAddr>,
    /// The name a domain may be a CNAME to (default none); reserved.
    pub cname_target: Option<Hostname>,
    /// The platform's own names: they and every name below them cannot be claimed.
    pub reserved: Vec<Hostname>,
    /// Route verified domains over HTTPS with an ACME certificate (default off).
    pub tls: bool,
    /// Where the proxy reaches the platform's answer to HTTP challenges
    /// (`GET /.well-known/caas-challenge/<token>`, e.g. `caas_http`'s route), as an
    /// `http://host:port` URL. Without it HTTP verification is `Unsupported` (default none).
    pub http_challenge: Option<String>,
    /// The port HTTP verification connects to: the proxy's plain-HTTP port (default 80).
    pub http_port: u16,
    /// How long one HTTP verification may take (default 10 s).
    pub http_timeout: Duration,
    /// Accept wildcard domains `*.<name>` (default off; they are proved by TXT only, and
    /// their certificates need a DNS-01 resolver in the proxy).
    pub wildcards: bool,
    /// How long an unproven claim lasts (default 7 days).
    pub claim_ttl: Duration,
    /// How many checks of one organization's claims run at once (default 2).
    pub checks_per_org: usize,
}

impl Default for DomainConfig {
    fn default() -> Self {
        Self {
            public_addresses: Vec::new(),
            cname_target: None,
            reserved: Vec::new(),
            tls: false,
            http_challenge: None,
            http_port: 80,
            http_timeout: Duration::from_secs(10),
            wildcards: false,
            claim_ttl: Duration::from_secs(7 * 24 * 3600),
            checks_per_org: 2,
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
    /// Reserves one of the platform's own names (and every name below it).
    pub fn reserve(mut self, name: Hostname) -> Self {
        if !self.reserved.contains(&name) {
            self.reserved.push(name);
        }
        self
    }
    /// Serve verified domains over HTTPS (ACME through the proxy).
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }
    /// Enables HTTP verification: the proxy sends challenge requests to `upstream`
    /// (`http://host:port`), where the platform's challenge answer is served.
    pub fn http_challenge(mut self, upstream: impl Into<String>) -> Self {
        self.http_challenge = Some(upstream.into());
        self
    }
    /// The port HTTP verification connects to.
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
    /// How long an unproven claim lasts.
    pub fn claim_ttl(mut self, ttl: Duration) -> Self {
        self.claim_ttl = ttl;
        self
    }
    /// How many checks of one organization's claims run at once (at least one).
    pub fn checks_per_org(mut self, n: usize) -> Self {
        self.checks_per_org = n.max(1);
        self
    }

    /// The reserved name `host` is, or is below (for a wildcard: that it would cover), if any.
    fn reserved_for(&self, host: &HostPattern) -> Option<&Hostname> {
        let base = host.base();
        self.reserved
            .iter()
            .chain(self.cname_target.iter())
            .find(|r| {
                let r = r.as_str();
                let below = |name: &str| name == r || name.ends_with(&format!(".{r}"));
                below(base) || (host.is_wildcard() && host.matches(r))
            })
    }
}

/// A domain to add to a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewDomain {
    /// Host name in any case, Unicode or punycode, or `*.<name>` where wildcards are enabled.
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

/// How to prove an unproven claim: the TXT record to add, or the URL the platform serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnershipProof {
    /// The name of the TXT record to add (`_caas-challenge.<hostname>`).
    pub txt_name: String,
    /// The value it must hold: the claim's token.
    pub txt_value: String,
    /// Where the platform serves the token for HTTP verification (when enabled and the name
    /// is not a wildcard).
    pub http_url: Option<String>,
    /// When the claim is released unless proved.
    pub expires_at: DateTime<Utc>,
}

/// A domain as its organization sees it: the route, and the state of the claim it is under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainView {
    /// The domain.
    #[serde(flatten)]
    pub domain: Domain,
    /// Whether the organization's ownership of the hostname is proven (only then is the
    /// domain routed), or `conflicted` when another organization owns the hostname.
    pub verification: VerificationStatus,
    /// How to prove ownership, while it is not proven.
    pub ownership: Option<OwnershipProof>,
    /// Whether the hostname points at the platform, when last checked.
    pub readiness: Option<Readiness>,
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
    /// Adds a domain to a service. The first domain of the organization on a hostname claims
    /// it (pending until proved, see the module docs); on a hostname the organization has
    /// already proved, the domain is routed at once. The service's container is untouched.
    ///
    /// Errors: `NotFound`, `PermissionDenied` (member or higher), `InvalidInput` naming the
    /// field (`hostname`, `path_prefix`, `strip_prefix`, `target_port`), `Conflict` (another
    /// organization owns the hostname or a wildcard over it; the hostname is reserved by the
    /// platform), `AlreadyExists` (the organization has this hostname and path already),
    /// `QuotaExceeded` (the plan's `max_domains`), `Unavailable` (the proxy).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %service))]
    pub async fn add_domain(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        service: &str,
        new: NewDomain,
    ) -> Result<DomainView> {
        let (org, _, svc) = self
            .authorize_service(who, org_slug, project, service, Action::ServiceDeploy)
            .await?;
        let cfg = &self.inner.domains;
        let hostname = HostPattern::parse_field("hostname", new.hostname.clone(), cfg.wildcards)?;
        let prefix = path_prefix("path_prefix", new.path_prefix.as_deref().unwrap_or("/"))?;
        if new.strip_prefix && prefix == "/" {
            return Err(Error::invalid(
                "strip_prefix",
                "stripping needs a path prefix other than '/'",
            ));
        }
        if let Some(r) = cfg.reserved_for(&hostname) {
            return Err(Error::conflict(format!(
                "{hostname} is reserved: {r} and every name below it are the platform's own"
            )));
        }
        let existing = self.inner.store.list_domains(svc.id).await?;
        let target_port = target_port(&svc, new.target_port, existing.first())?;
        self.refuse_foreign_overlap(org.id, &hostname).await?;
        let now = self.now();
        let domain = Domain {
            id: DomainId::new(),
            org: org.id,
            service: svc.id,
            hostname: hostname.clone(),
            path_prefix: prefix,
            strip_prefix: new.strip_prefix,
            target_port,
            created_at: now,
        };
        let claim = HostClaim {
            hostname: hostname.clone(),
            org: org.id,
            site: hostname.site(),
            token: token(),
            verification: VerificationStatus::Pending,
            readiness: None,
            expires_at: now
                + chrono::Duration::from_std(cfg.claim_ttl).unwrap_or(chrono::Duration::days(7)),
            created_at: now,
        };
        let fresh = claim.token.clone();
        let claim = match self.inner.store.create_domain(&domain, &claim).await {
            Err(e) if e.is_conflict() && self.expire_foreign_claim(&hostname, org.id).await? => {
                self.inner.store.create_domain(&domain, &claim).await?
            }
            other => other?,
        };
        self.audit(
            Some(who),
            Some(org.id),
            "domain.add",
            format!("domain:{}", domain.id),
            None,
            json(&domain),
        )
        .await;
        if claim.is_verified() {
            self.apply_domain_routes(&svc).await?;
        } else if claim.token == fresh {
            // A new claim: let the proxy answer its HTTP challenge (best effort; verifying
            // by HTTP applies it again).
            if let Err(e) = self.apply_challenge_route(&claim).await {
                tracing::warn!(error = %e, host = %claim.hostname, "could not route the HTTP challenge");
            }
        }
        Ok(self.domain_view(domain, Some(&claim)))
    }

    /// The domains of a service, oldest first. Errors: `NotFound`.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %service))]
    pub async fn list_domains(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        service: &str,
    ) -> Result<Vec<DomainView>> {
        let (_, _, svc) = self
            .authorize_service(who, org_slug, project, service, Action::ServiceView)
            .await?;
        let domains = self.inner.store.list_domains(svc.id).await?;
        self.domain_views(domains).await
    }

    /// Removes a service's domains on `hostname` (only the one with path prefix `path` when
    /// given) and re-applies the service's routes. The organization's claim on the hostname
    /// ends with its last domain there. Returns what was removed.
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
        let wanted = DomainFilter::new(hostname, path)?;
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
        let claims = self.claims_of(&removed).await?;
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
        for claim in claims.values().flatten() {
            if claim.org == org.id
                && self
                    .inner
                    .store
                    .host_claim_opt(claim.hostname.as_str())
                    .await?
                    .is_none()
            {
                self.remove_challenge_route(&claim.hostname).await;
            }
        }
        self.apply_domain_routes(&svc).await?;
        Ok(removed)
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

    /// The routing rules a service should have: its domains under a verified claim of its
    /// organization, by hostname and path, and their target port.
    async fn wanted_rules(&self, svc: &Service) -> Result<(Vec<RouteRule>, u16)> {
        let domains = self.inner.store.list_domains(svc.id).await?;
        let claims = self.claims_of(&domains).await?;
        let mut verified: Vec<Domain> = domains
            .into_iter()
            .filter(|d| {
                claims
                    .get(d.hostname.as_str())
                    .and_then(Option::as_ref)
                    .is_some_and(|c| c.org == d.org && c.is_verified())
            })
            .collect();
        verified.sort_by(|a, b| {
            (a.hostname.as_str(), a.path_prefix.as_str())
                .cmp(&(b.hostname.as_str(), b.path_prefix.as_str()))
        });
        let port = verified.first().map(|d| d.target_port).unwrap_or_default();
        let rules = verified
            .iter()
            .map(|d| RouteRule {
                host: d.hostname.clone(),
                path_prefix: d.path_prefix.clone(),
                strip_prefix: d.strip_prefix,
                tls: self.inner.domains.tls,
            })
            .collect();
        Ok((rules, port))
    }

    /// Makes the proxy route exactly the service's domains under a verified claim of its
    /// organization to its current container, then waits until that is live; unroutes the
    /// service when there is none. Nothing to do without a proxy.
    /// Errors: `InvalidInput`, `Unavailable`.
    pub(super) async fn apply_domain_routes(&self, svc: &Service) -> Result<()> {
        let Some(proxy) = self.inner.proxy.clone() else {
            return Ok(());
        };
        let key = svc.id.to_string();
        let (rules, port) = self.wanted_rules(svc).await?;
        if rules.is_empty() {
            proxy.remove(&key).await?;
            return Ok(());
        }
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
            rules,
            upstreams,
        };
        let g = proxy.apply(&routes).await?;
        proxy
            .wait_applied(&key, g, self.inner.rollout_timeout)
            .await
    }

    /// Re-applies the routes of every service whose rules in the proxy are not what its
    /// domains and claims say (routes an earlier version left for another organization's
    /// domains on a hostname, or a crash between a change and its routing). Returns the
    /// services re-routed and what failed (retried next pass). Errors: `Unavailable` (the
    /// store).
    pub(super) async fn reconcile_domain_routes(&self) -> Result<(Vec<ServiceId>, Vec<String>)> {
        let Some(proxy) = self.inner.proxy.clone() else {
            return Ok((Vec::new(), Vec::new()));
        };
        let (mut fixed, mut errors) = (Vec::new(), Vec::new());
        for svc in self.inner.store.list_all_services().await? {
            let id = svc.id;
            let check = async {
                let (want, _) = self.wanted_rules(&svc).await?;
                let have = proxy
                    .routes_opt(&id.to_string())
                    .await?
                    .map(|r| r.rules)
                    .unwrap_or_default();
                if want == have {
                    return Ok(false);
                }
                self.apply_domain_routes(&svc).await.map(|()| true)
            };
            match check.await {
                Ok(true) => fixed.push(id),
                Ok(false) => {}
                Err(e) => errors.push(format!("routing service {id}: {e}")),
            }
        }
        Ok((fixed, errors))
    }

    /// The live claim on each distinct hostname of `domains`.
    async fn claims_of(&self, domains: &[Domain]) -> Result<HashMap<String, Option<HostClaim>>> {
        let mut claims = HashMap::new();
        for d in domains {
            let host = d.hostname.as_str();
            if !claims.contains_key(host) {
                let c = self.inner.store.host_claim_opt(host).await?;
                claims.insert(host.to_string(), c);
            }
        }
        Ok(claims)
    }

    /// Views of `domains` with their claims.
    async fn domain_views(&self, domains: Vec<Domain>) -> Result<Vec<DomainView>> {
        let claims = self.claims_of(&domains).await?;
        Ok(domains
            .into_iter()
            .map(|d| {
                let claim = claims.get(d.hostname.as_str()).and_then(Option::as_ref);
                self.domain_view(d, claim)
            })
            .collect())
    }

    fn domain_view(&self, domain: Domain, claim: Option<&HostClaim>) -> DomainView {
        let Some(claim) = claim.filter(|c| c.org == domain.org) else {
            return DomainView {
                verification: VerificationStatus::Conflicted {
                    reason: format!(
                        "{} belongs to another organization: this domain is not routed; remove it",
                        domain.hostname
                    ),
                },
                domain,
                ownership: None,
                readiness: None,
            };
        };
        let ownership = (!claim.is_verified()).then(|| OwnershipProof {
            txt_name: verify::txt_name(&claim.hostname),
            txt_value: claim.token.clone(),
            http_url: (self.inner.domains.http_challenge.is_some()
                && !claim.hostname.is_wildcard())
            .then(|| {
                format!(
                    "http://{}{HTTP_CHALLENGE_PREFIX}{}",
                    claim.hostname, claim.token
                )
            }),
            expires_at: claim.expires_at,
        });
        DomainView {
            domain,
            verification: claim.verification.clone(),
            ownership,
            readiness: claim.readiness.clone(),
        }
    }

    /// Releases another organization's claim on `host` when it is unproven and expired, so
    /// that `org` may claim the name. Returns whether it did.
    async fn expire_foreign_claim(&self, host: &HostPattern, org: OrgId) -> Result<bool> {
        match self.inner.store.host_claim_opt(host.as_str()).await? {
            Some(c) if c.org != org && c.is_expired(self.now()) => {
                self.expire_claim(&c).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Releases an expired claim with its domains, and records it in its organization's audit
    /// log.
    async fn expire_claim(&self, claim: &HostClaim) -> Result<()> {
        let gone = self
            .inner
            .store
            .release_expired_host_claim(claim.hostname.as_str(), claim.org, self.now())
            .await?;
        for d in &gone {
            self.audit(
                None,
                Some(d.org),
                "domain.expire",
                format!("domain:{}", d.id),
                json(d),
                None,
            )
            .await;
        }
        if !gone.is_empty() {
            tracing::info!(host = %claim.hostname, domains = gone.len(), "released an unproven, expired hostname claim");
            self.remove_challenge_route(&claim.hostname).await;
        }
        Ok(())
    }

    /// Keeps a wildcard and the exact hosts it covers in one organization. Errors:
    /// `Conflict` naming the host, never the other organization.
    async fn refuse_foreign_overlap(&self, org: OrgId, host: &HostPattern) -> Result<()> {
        let store = &self.inner.store;
        if host.is_wildcard() {
            for d in store.list_domains_under(host.base()).await? {
                if d.org != org && !d.hostname.is_wildcard() && host.matches(d.hostname.as_str()) {
                    return Err(Error::conflict(format!(
                        "{host} would cover {}, which belongs to another organization",
                        d.hostname
                    )));
                }
            }
        } else if let Some(wildcard) = host.covering_wildcard() {
            for d in store.list_domains_under(wildcard.base()).await? {
                if d.org != org && d.hostname == wildcard {
                    return Err(Error::conflict(format!(
                        "{host} is covered by the wildcard domain {wildcard}, which belongs to another organization"
                    )));
                }
            }
        }
        Ok(())
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
        let wanted = DomainFilter::new(hostname, path)?;
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

    /// Routes `http://<host>/.well-known/caas-challenge/<token>` of an unproven claim to the
    /// platform's challenge answer, and waits until the proxy serves it. Nothing to do
    /// without a proxy, HTTP challenges or for a wildcard. Errors: `Unavailable`.
    async fn apply_challenge_route(&self, claim: &HostClaim) -> Result<()> {
        let (Some(proxy), Some(upstream)) = (
            self.inner.proxy.clone(),
            self.inner.domains.http_challenge.clone(),
        ) else {
            return Ok(());
        };
        if claim.hostname.is_wildcard() {
            return Ok(());
        }
        let key = challenge_key(&claim.hostname);
        let routes = ServiceRoutes {
            key: key.clone(),
            rules: vec![RouteRule {
                host: claim.hostname.clone(),
                path_prefix: format!("{HTTP_CHALLENGE_PREFIX}{}", claim.token),
                strip_prefix: false,
                tls: false,
            }],
            upstreams: vec![upstream],
        };
        let g = proxy.apply(&routes).await?;
        proxy
            .wait_applied(&key, g, self.inner.rollout_timeout)
            .await
    }

    /// Stops answering a hostname's HTTP challenge (best effort: a stale challenge route
    /// answers nothing but 404 once the claim is gone).
    async fn remove_challenge_route(&self, host: &HostPattern) {
        if let (Some(proxy), Some(_)) = (&self.inner.proxy, &self.inner.domains.http_challenge)
            && let Err(e) = proxy.remove(&challenge_key(host)).await
        {
            tracing::warn!(error = %e, host = %host, "could not remove the HTTP challenge route");
        }
    }
}

/// The proxy key of a hostname's challenge route: `challenge-` and a digest of the name, so
/// the key holds only characters every proxy accepts in object names.
fn challenge_key(host: &HostPattern) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(host.as_str().as_bytes());
    format!("challenge-{}", &hex::encode(digest)[..24])
}

/// The target port of a new domain of `svc`: the requested one, which must be the port of the
/// service's other domains; else theirs; else the service's first port.
fn target_port(svc: &Service, requested: Option<u16>, other: Option<&Domain>) -> Result<u16> {
    match (requested, other) {
        (Some(0), _) => Err(Error::invalid("target_port", "must be 1-65535")),
        (Some(p), Some(d)) if p != d.target_port => Err(Error::invalid(
            "target_port",
            format!(
                "all domains of a service go to one port; this service's go to {}",
                d.target_port
            ),
        )),
        (Some(p), _) => Ok(p),
        (None, Some(d)) => Ok(d.target_port),
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
            }),
    }
}

/// A hostname (any spelling) and optional path to pick domains by.
struct DomainFilter {
    host: String,
    path: Option<String>,
}

impl DomainFilter {
    /// Errors: `InvalidInput` naming `path`.
    fn new(hostname: &str, path: Option<&str>) -> Result<Self> {
        // A name that does not normalize matches nothing (and is then "not found").
        let host = validate::host_key("hostname", hostname).unwrap_or_else(|_| hostname.into());
        let path = path.map(|p| path_prefix("path", p)).transpose()?;
        Ok(Self { host, path })
    }

    fn matches(&self, d: &Domain) -> bool {
        d.hostname.as_str() == self.host && self.path.as_ref().is_none_or(|p| *p == d.path_prefix)
    }
}

/// Per-organization permits for domain checks (see [`DomainConfig::checks_per_org`]).
#[derive(Debug, Default)]
pub(super) struct CheckPermits {
    per_org: std::sync::Mutex<HashMap<OrgId, Arc<tokio::sync::Semaphore>>>,
}

impl CheckPermits {
    fn of(&self, org: OrgId, permits: usize) -> Arc<tokio::sync::Semaphore> {
        self.per_org
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(org)
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(permits.max(1))))
            .clone()
    }
}
