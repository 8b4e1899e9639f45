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

mod config;
mod routing;
mod verify;

use std::collections::HashMap;

use rand::Rng;
use rand::distr::Alphanumeric;
use tracing::instrument;

use super::{Platform, json};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{DomainId, OrgId};
use crate::model::{Domain, HostClaim, Organization, Service, VerificationStatus};
use crate::ports::proxy::CertificateStatus;
use crate::ports::quota::QuotaGrant;
use crate::validate::{self, HostPattern};

pub(crate) use config::CheckPermits;
pub use config::{DomainConfig, DomainView, NewDomain, OwnershipProof, path_prefix};
pub use verify::{CHALLENGE_TXT_LABEL, HTTP_CHALLENGE_PREFIX, VerificationMethod};

/// Length of a claim's token.
const TOKEN_LEN: usize = 32;
/// The label below a wildcard whose certificate is inspected for its status.
pub const CERTIFICATE_PROBE_LABEL: &str = "caas-certificate-probe";

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
    pub(crate) async fn add_domain(
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
        let existing = self.inner.store.domains.list_domains(svc.id).await?;
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
        // The organization is read already: only its subscription and plan are.
        let grant = QuotaGrant::of(&org, &*self.inner.store.plans).await?;
        let domains = &self.inner.store.domains;
        let claim = match domains.create_domain(&domain, &claim, &grant).await {
            Err(e) if e.is_conflict() && self.expire_foreign_claim(&hostname, org.id).await? => {
                domains.create_domain(&domain, &claim, &grant).await?
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
            // A new claim: let the proxy answer its HTTP challenge, without waiting for it to
            // be live (best effort; verifying by HTTP applies it again and waits).
            if let Err(e) = self.apply_challenge_route(&claim, false).await {
                tracing::warn!(error = %e, host = %claim.hostname, "could not route the HTTP challenge");
            }
        }
        Ok(self.domain_view(domain, Some(&claim)))
    }

    /// The domains of a service, oldest first. Errors: `NotFound`.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %service))]
    pub(crate) async fn list_domains(
        &self,
        who: &Principal,
        org_slug: &str,
        project: &str,
        service: &str,
    ) -> Result<Vec<DomainView>> {
        let (_, _, svc) = self
            .authorize_service(who, org_slug, project, service, Action::ServiceView)
            .await?;
        let domains = self.inner.store.domains.list_domains(svc.id).await?;
        self.domain_views(domains).await
    }

    /// Removes a service's domains on `hostname` (only the one with path prefix `path` when
    /// given) and re-applies the service's routes. The organization's claim on the hostname
    /// ends with its last domain there. Returns what was removed.
    ///
    /// Errors: `NotFound` (service, or no such domain on it), `PermissionDenied`,
    /// `Unavailable` (the proxy).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.project = %project, caas.service = %service))]
    pub(crate) async fn remove_domain(
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
            .domains
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
            self.inner.store.domains.delete_domain(d.id).await?;
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
                    .domains
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
    pub(crate) async fn certificate_status(
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

    /// The live claim on each distinct hostname of `domains`.
    pub(super) async fn claims_of(
        &self,
        domains: &[Domain],
    ) -> Result<HashMap<String, Option<HostClaim>>> {
        let mut claims = HashMap::new();
        for d in domains {
            let host = d.hostname.as_str();
            if !claims.contains_key(host) {
                let c = self.inner.store.domains.host_claim_opt(host).await?;
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
        match self
            .inner
            .store
            .domains
            .host_claim_opt(host.as_str())
            .await?
        {
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
            .domains
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
            for d in store.domains.list_domains_under(host.base()).await? {
                if d.org != org && !d.hostname.is_wildcard() && host.matches(d.hostname.as_str()) {
                    return Err(Error::conflict(format!(
                        "{host} would cover {}, which belongs to another organization",
                        d.hostname
                    )));
                }
            }
        } else if let Some(wildcard) = host.covering_wildcard() {
            for d in store.domains.list_domains_under(wildcard.base()).await? {
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
        for d in self.inner.store.domains.list_org_domains(org.id).await? {
            if !wanted.matches(&d) {
                continue;
            }
            let svc = self.inner.store.services.service(d.service).await?;
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
