//! The domain and hostname-claim tables of [`InMemoryStore`](super::InMemoryStore).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::ids::{DomainId, OrgId, ServiceId};
use crate::model::{Domain, HostClaim};
use crate::ports::quota::{QuotaGrant, foreign_host_error};

/// Domains and the claims on their hostnames, with the same constraints as the SQL stores.
#[derive(Debug, Default)]
pub(super) struct Tables {
    domains: BTreeMap<DomainId, Domain>,
    /// By hostname key. A claim whose organization has no domain on the hostname is dead: it
    /// counts as released, and is replaced when someone claims the name again.
    claims: BTreeMap<String, HostClaim>,
    /// `(site, organization)` of verified claims that were released.
    released: Vec<(String, OrgId)>,
}

/// What [`Tables::create`] needs to know of the rest of the store.
pub(super) struct Context<'a> {
    /// The organization owning the domain's service, when the service exists.
    pub(super) service_org: Option<OrgId>,
    /// What the organization may hold.
    pub(super) grant: &'a QuotaGrant,
}

impl Tables {
    fn has_domains(&self, org: OrgId, host: &str) -> bool {
        self.domains
            .values()
            .any(|d| d.org == org && d.hostname.as_str() == host)
    }

    fn live(&self, host: &str) -> Option<&HostClaim> {
        self.claims
            .get(host)
            .filter(|c| self.has_domains(c.org, host))
    }

    /// Drops the claim on `host`, remembering it when it was verified.
    fn retire(&mut self, host: &str) {
        if let Some(c) = self.claims.remove(host)
            && c.is_verified()
        {
            self.released.push((c.site, c.org));
        }
    }

    pub(super) fn create(
        &mut self,
        domain: &Domain,
        claim: &HostClaim,
        cx: Context<'_>,
    ) -> Result<HostClaim> {
        cx.grant.check_org(domain.org)?;
        if cx.service_org != Some(domain.org) {
            return Err(Error::not_found("service", domain.service));
        }
        if claim.org != domain.org || claim.hostname != domain.hostname {
            return Err(Error::invalid(
                "claim",
                "the claim must be the domain's organization's, on the domain's hostname",
            ));
        }
        if self.domains.contains_key(&domain.id) {
            return Err(Error::already_exists("domain", domain.id));
        }
        let host = domain.hostname.as_str();
        let held = self.live(host).cloned();
        if let Some(c) = &held
            && c.org != domain.org
        {
            return Err(foreign_host_error(host));
        }
        if self.domains.values().any(|d| {
            d.org == domain.org
                && d.hostname == domain.hostname
                && d.path_prefix == domain.path_prefix
        }) {
            return Err(Error::already_exists(
                "domain",
                format!("{}{}", domain.hostname, domain.path_prefix),
            ));
        }
        let used = self
            .domains
            .values()
            .filter(|d| d.org == domain.org)
            .count();
        cx.grant.check_domain(used as u64)?;
        let claim = match held {
            Some(c) => c,
            None => {
                self.retire(host);
                self.claims.insert(host.to_string(), claim.clone());
                claim.clone()
            }
        };
        self.domains.insert(domain.id, domain.clone());
        Ok(claim)
    }

    pub(super) fn domain(&self, id: DomainId) -> Result<Domain> {
        self.domains
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::not_found("domain", id))
    }

    pub(super) fn list(&self, keep: impl Fn(&Domain) -> bool) -> Vec<Domain> {
        self.domains.values().filter(|d| keep(d)).cloned().collect()
    }

    pub(super) fn update(&mut self, domain: &Domain) -> Result<()> {
        let Some(d) = self.domains.get_mut(&domain.id) else {
            return Err(Error::not_found("domain", domain.id));
        };
        d.strip_prefix = domain.strip_prefix;
        d.target_port = domain.target_port;
        Ok(())
    }

    pub(super) fn delete(&mut self, id: DomainId) -> Result<()> {
        let d = self
            .domains
            .remove(&id)
            .ok_or_else(|| Error::not_found("domain", id))?;
        let host = d.hostname.as_str();
        if !self.has_domains(d.org, host) && self.claims.get(host).is_some_and(|c| c.org == d.org) {
            self.retire(host);
        }
        Ok(())
    }

    /// The service's or the organization's domains went with it; their claims die with them.
    pub(super) fn service_deleted(&mut self, service: ServiceId) {
        self.domains.retain(|_, d| d.service != service);
    }

    pub(super) fn org_deleted(&mut self, org: OrgId) {
        self.domains.retain(|_, d| d.org != org);
    }

    pub(super) fn claim(&self, host: &str) -> Option<HostClaim> {
        self.live(host).cloned()
    }

    pub(super) fn claims(&self, org: Option<OrgId>) -> Vec<HostClaim> {
        let mut v: Vec<HostClaim> = self
            .claims
            .iter()
            .filter(|(host, c)| org.is_none_or(|o| o == c.org) && self.has_domains(c.org, host))
            .map(|(_, c)| c.clone())
            .collect();
        v.sort_by(|a, b| {
            (a.created_at, a.hostname.as_str()).cmp(&(b.created_at, b.hostname.as_str()))
        });
        v
    }

    pub(super) fn update_claim(&mut self, claim: &HostClaim) -> Result<()> {
        let host = claim.hostname.as_str();
        let live = self.live(host).is_some_and(|c| c.org == claim.org);
        match self.claims.get_mut(host) {
            Some(c) if live => {
                c.verification = claim.verification.clone();
                c.readiness = claim.readiness.clone();
                Ok(())
            }
            _ => Err(Error::not_found("hostname claim", host)),
        }
    }

    pub(super) fn release_expired(
        &mut self,
        host: &str,
        org: OrgId,
        now: DateTime<Utc>,
    ) -> Vec<Domain> {
        let expired = self
            .claims
            .get(host)
            .is_some_and(|c| c.org == org && c.is_expired(now));
        if !expired {
            return Vec::new();
        }
        self.claims.remove(host);
        let gone: Vec<DomainId> = self
            .domains
            .values()
            .filter(|d| d.org == org && d.hostname.as_str() == host)
            .map(|d| d.id)
            .collect();
        gone.iter()
            .filter_map(|id| self.domains.remove(id))
            .collect()
    }

    pub(super) fn site_verified_by_others(&self, site: &str, org: OrgId) -> bool {
        self.claims
            .values()
            .any(|c| c.site == site && c.org != org && c.is_verified())
            || self.released.iter().any(|(s, o)| s == site && *o != org)
    }
}
