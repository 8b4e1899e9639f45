//! Proving a hostname claim: the TXT record, the HTTP challenge the platform answers itself,
//! the readiness check, and the verifier that re-checks and expires claims.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Empty, Limited};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{DomainView, Platform};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{OrgId, ServiceId};
use crate::model::{HostClaim, Readiness, VerificationStatus};
use crate::platform::json;
use crate::validate::{self, HostPattern};

/// The label of the TXT record that proves a claim: `_caas-challenge.<hostname>`.
pub const CHALLENGE_TXT_LABEL: &str = "_caas-challenge";
/// Path under which the platform answers HTTP challenges: `<prefix><token>`.
pub const HTTP_CHALLENGE_PREFIX: &str = "/.well-known/caas-challenge/";
/// Largest HTTP challenge answer read.
const MAX_HTTP_ANSWER: usize = 1024;
/// How many organizations the verifier checks at once.
const ORGS_AT_ONCE: usize = 8;

/// How to prove ownership of a hostname.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VerificationMethod {
    /// The TXT record `_caas-challenge.<hostname>` holds the claim's token.
    Dns,
    /// `GET http://<hostname>/.well-known/caas-challenge/<token>`, answered by the platform
    /// itself through its proxy, reaches the platform.
    Http,
}

/// The name of the TXT record proving a claim on `host` (for a wildcard, on its base: the
/// zone's own name, as for ACME's DNS-01).
pub(super) fn txt_name(host: &HostPattern) -> String {
    format!("{CHALLENGE_TXT_LABEL}.{}", host.base())
}

impl Platform {
    /// Verifies the organization's claim on `hostname` with `method` (`path` only narrows
    /// which of its domains must be visible to the caller), records `Verified` or `Failed`
    /// with the reason and the readiness, and routes the organization's domains on the
    /// hostname once verified. Returns the caller's domains on the hostname afterwards.
    ///
    /// Errors: `NotFound`, `PermissionDenied` (member or higher on the domains' projects),
    /// `Conflict` (another organization owns the hostname), `InvalidInput` naming `method`
    /// (HTTP for a wildcard), `Unsupported` (HTTP without [`super::DomainConfig::http_challenge`];
    /// a resolver that cannot read TXT records), `Unavailable` (the resolver or the proxy
    /// failed; the status is unchanged).
    #[instrument(skip_all, fields(caas.org = %org_slug))]
    pub(crate) async fn verify_domain(
        &self,
        who: &Principal,
        org_slug: &str,
        hostname: &str,
        path: Option<&str>,
        method: VerificationMethod,
    ) -> Result<Vec<DomainView>> {
        let (org, domains) = self
            .authorize_domains(who, org_slug, hostname, path, Action::ServiceDeploy)
            .await?;
        let host = domains
            .first()
            .map(|(d, _)| d.hostname.clone())
            .ok_or_else(|| Error::not_found("domain", hostname))?;
        let claim = self
            .inner
            .store
            .domains
            .host_claim_opt(host.as_str())
            .await?
            .filter(|c| c.org == org.id)
            .ok_or_else(|| crate::ports::quota::foreign_host_error(host.as_str()))?;
        if !claim.is_verified() {
            let (outcome, readiness) = self.check_claim(&claim, method).await?;
            self.record_check(claim, outcome, readiness, Some(who))
                .await?;
        }
        self.domain_views(domains.into_iter().map(|(d, _)| d).collect())
            .await
    }

    /// The answer to an HTTP challenge for `host` (a `Host` header: any case, with or without
    /// a port): the token, when it is the token of an unproven claim on that hostname. No
    /// principal: the proxy forwards these requests from anyone.
    /// Errors: `Unavailable` (the store).
    pub(crate) async fn challenge_answer(&self, host: &str, token: &str) -> Result<Option<String>> {
        let name = host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        });
        let Ok(key) = validate::host_key("host", name) else {
            return Ok(None);
        };
        Ok(self
            .inner
            .store
            .domains
            .host_claim_opt(&key)
            .await?
            .filter(|c| !c.is_verified() && !c.hostname.is_wildcard() && c.token == token)
            .map(|c| c.token))
    }

    /// Re-checks every unproven claim (a system operation: no principal), TXT first, then HTTP
    /// where it may prove ownership, at most [`super::DomainConfig::checks_per_org`] checks of
    /// one organization at a time; releases unproven claims past their expiry with their
    /// domains; routes the domains of claims that became verified. Returns how many became
    /// verified. Errors: `Unavailable` (the store).
    #[instrument(skip_all)]
    pub(crate) async fn reverify_domains(&self) -> Result<usize> {
        let now = self.now();
        let mut per_org: BTreeMap<OrgId, Vec<HostClaim>> = BTreeMap::new();
        for claim in self.inner.store.domains.list_host_claims(None).await? {
            if claim.is_verified() {
                continue;
            }
            if claim.is_expired(now) {
                if let Err(e) = self.expire_claim(&claim).await {
                    tracing::warn!(error = %e, host = %claim.hostname, "could not release an expired claim");
                }
                continue;
            }
            per_org.entry(claim.org).or_default().push(claim);
        }
        let verified = AtomicUsize::new(0);
        let per_org_checks = self.inner.domains.checks_per_org.max(1);
        futures::stream::iter(per_org.into_values())
            .for_each_concurrent(ORGS_AT_ONCE, |claims| {
                let verified = &verified;
                futures::stream::iter(claims).for_each_concurrent(
                    per_org_checks,
                    move |claim| async move {
                        match self.recheck(claim).await {
                            Ok(true) => {
                                verified.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(false) => {}
                            Err(e) => tracing::warn!(error = %e, "could not re-verify a hostname"),
                        }
                    },
                )
            })
            .await;
        Ok(verified.into_inner())
    }

    /// One background check of an unproven claim with every method that may prove it.
    /// Returns whether it became verified.
    async fn recheck(&self, claim: HostClaim) -> Result<bool> {
        let mut reasons = Vec::new();
        let mut last_readiness = None;
        for method in [VerificationMethod::Dns, VerificationMethod::Http] {
            match self.check_claim(&claim, method).await {
                Ok((v @ VerificationStatus::Verified { .. }, readiness)) => {
                    self.record_check(claim, v, readiness, None).await?;
                    return Ok(true);
                }
                Ok((VerificationStatus::Failed { reason }, readiness)) => {
                    reasons.push(reason);
                    last_readiness = readiness.or(last_readiness);
                }
                Ok(_) => {}
                // A method this platform or this name cannot use is no failure.
                Err(e) if e.is_unsupported() || e.is_invalid_input() => {}
                Err(e) => return Err(e),
            }
        }
        if !reasons.is_empty() {
            let failed = VerificationStatus::Failed {
                reason: reasons.join("; "),
            };
            if failed != claim.verification || last_readiness != claim.readiness {
                self.record_check(claim, failed, last_readiness, None)
                    .await?;
            }
        }
        Ok(false)
    }

    /// Stores a check's outcome, audits a change, and when the claim became verified routes
    /// the organization's domains on the hostname and drops its challenge route.
    async fn record_check(
        &self,
        mut claim: HostClaim,
        outcome: VerificationStatus,
        readiness: Option<Readiness>,
        who: Option<&Principal>,
    ) -> Result<()> {
        let before = claim.verification.clone();
        claim.verification = outcome;
        if readiness.is_some() {
            claim.readiness = readiness;
        }
        self.inner.store.domains.update_host_claim(&claim).await?;
        if before != claim.verification {
            self.audit(
                who,
                Some(claim.org),
                "domain.verify",
                format!("hostname:{}", claim.hostname),
                json(&before),
                json(&claim.verification),
            )
            .await;
        }
        if !claim.is_verified() {
            return Ok(());
        }
        self.remove_challenge_route(&claim.hostname).await;
        let mut services: Vec<ServiceId> = Vec::new();
        for d in self
            .inner
            .store
            .domains
            .list_host_domains(claim.hostname.as_str())
            .await?
        {
            if d.org == claim.org && !services.contains(&d.service) {
                services.push(d.service);
            }
        }
        for id in services {
            let svc = self.inner.store.services.service(id).await?;
            self.apply_domain_routes(&svc).await?;
        }
        Ok(())
    }

    /// Checks `claim` with `method` (within its organization's check permits): the outcome,
    /// and the readiness when the platform has addresses or a CNAME target to compare with.
    /// Errors: `InvalidInput` (`method`), `Unsupported`, `Unavailable`.
    async fn check_claim(
        &self,
        claim: &HostClaim,
        method: VerificationMethod,
    ) -> Result<(VerificationStatus, Option<Readiness>)> {
        let permits = self
            .inner
            .domain_checks
            .of(claim.org, self.inner.domains.checks_per_org);
        let _permit = permits
            .acquire()
            .await
            .map_err(|_| Error::unavailable("domains", "the platform is shutting down"))?;
        let result = match method {
            VerificationMethod::Dns => self.check_txt(claim).await?,
            VerificationMethod::Http => self.check_http(claim).await?,
        };
        let outcome = match result {
            Ok(()) => VerificationStatus::Verified { at: self.now() },
            Err(reason) => VerificationStatus::Failed { reason },
        };
        Ok((outcome, self.readiness(claim).await))
    }

    async fn check_txt(&self, claim: &HostClaim) -> Result<std::result::Result<(), String>> {
        let name = txt_name(&claim.hostname);
        let values = self.inner.dns.lookup_txt(&name).await?;
        if values.iter().any(|v| v.trim() == claim.token) {
            return Ok(Ok(()));
        }
        Ok(Err(if values.is_empty() {
            format!("no TXT record at {name}: add one holding {}", claim.token)
        } else {
            format!(
                "none of the {} TXT records at {name} holds the claim's token {}",
                values.len(),
                claim.token
            )
        }))
    }

    async fn check_http(&self, claim: &HostClaim) -> Result<std::result::Result<(), String>> {
        let cfg = &self.inner.domains;
        if cfg.http_challenge.is_none() {
            return Err(Error::unsupported(
                "HTTP verification: this platform answers no HTTP challenges; add the TXT record instead",
            ));
        }
        if claim.hostname.is_wildcard() {
            return Err(Error::invalid(
                "method",
                format!(
                    "a wildcard is proved by its TXT record only: add {} holding the token",
                    txt_name(&claim.hostname)
                ),
            ));
        }
        if self
            .inner
            .store
            .domains
            .site_verified_by_others(&claim.site, claim.org)
            .await?
        {
            return Ok(Err(format!(
                "another organization holds or held a name of {} on this platform, so a request reaching the platform proves nothing: add the TXT record {} holding {}",
                claim.site,
                txt_name(&claim.hostname),
                claim.token
            )));
        }
        self.apply_challenge_route(claim, true).await?;
        let host = claim.hostname.as_str();
        let ips = self.inner.dns.lookup_ip(host).await?;
        if ips.is_empty() {
            return Ok(Err(format!("{host} has no A/AAAA records")));
        }
        let (allowed, refused): (Vec<IpAddr>, Vec<IpAddr>) = ips
            .into_iter()
            .partition(|ip| crate::net::is_public(*ip) || cfg.public_addresses.contains(ip));
        let mut reasons: Vec<String> = refused
            .iter()
            .map(|ip| format!("{ip}: not a public address, not connected to"))
            .collect();
        for ip in allowed {
            let fetch = fetch_challenge(ip, cfg.http_port, host, &claim.token);
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
            "http://{host}{HTTP_CHALLENGE_PREFIX}<token> did not reach the platform ({})",
            reasons.join("; ")
        )))
    }

    /// Whether the claim's name points at the platform; `None` when the platform has neither
    /// public addresses nor a CNAME target to compare with.
    async fn readiness(&self, claim: &HostClaim) -> Option<Readiness> {
        let cfg = &self.inner.domains;
        if cfg.public_addresses.is_empty() && cfg.cname_target.is_none() {
            return None;
        }
        let sample = readiness_host(claim).ok()?;
        let host = sample.as_str();
        let dns = &self.inner.dns;
        let answers =
            async { Ok::<_, Error>((dns.lookup_ip(host).await?, dns.lookup_cname(host).await?)) };
        let (points_at_platform, detail) = match answers.await {
            Err(e) => (false, format!("{host} could not be resolved: {e}")),
            Ok((ips, cnames)) => describe_pointing(cfg, host, &ips, &cnames),
        };
        Some(Readiness {
            points_at_platform,
            detail,
            checked_at: self.now(),
        })
    }
}

/// Whether `ips`/`cnames` of `host` point at the platform, and why, in words.
fn describe_pointing(
    cfg: &super::DomainConfig,
    host: &str,
    ips: &[IpAddr],
    cnames: &[String],
) -> (bool, String) {
    let list = |v: &mut dyn Iterator<Item = String>| v.collect::<Vec<_>>().join(", ");
    if let Some(ip) = ips.iter().find(|ip| cfg.public_addresses.contains(ip)) {
        return (
            true,
            format!("{host} resolves to {ip}, an address of the platform"),
        );
    }
    if let Some(target) = &cfg.cname_target
        && cnames.iter().any(|c| c == target.as_str())
    {
        return (true, format!("{host} is a CNAME to {target}"));
    }
    let mut detail = if ips.is_empty() {
        format!("{host} has no A/AAAA records")
    } else {
        format!(
            "{host} resolves to {}",
            list(&mut ips.iter().map(ToString::to_string))
        )
    };
    if !cfg.public_addresses.is_empty() {
        detail.push_str(&format!(
            ", none of the platform's addresses ({})",
            list(&mut cfg.public_addresses.iter().map(ToString::to_string))
        ));
    }
    if let Some(target) = &cfg.cname_target {
        if cnames.is_empty() {
            detail.push_str(&format!(", and is not a CNAME to {target}"));
        } else {
            detail.push_str(&format!(
                ", and is a CNAME to {} instead of {target}",
                cnames.join(", ")
            ));
        }
    }
    (false, detail)
}

/// The name whose records tell whether `claim` points at the platform: the host itself, or
/// for a wildcard a name below it derived from the token (`caas-verify-<tag>.<base>`), which
/// resolves only through a wildcard record.
fn readiness_host(claim: &HostClaim) -> Result<validate::Hostname> {
    let tag: String = claim
        .token
        .chars()
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    claim.hostname.sample(&format!("caas-verify-{tag}"))
}

/// One HTTP/1.1 request for the challenge on `ip:port` with `Host: host`: succeeds when the
/// answer is 200 and its body is the token. Nothing of the answer is reported back but its
/// status code: the tenant chose the address.
async fn fetch_challenge(
    ip: IpAddr,
    port: u16,
    host: &str,
    token: &str,
) -> std::result::Result<(), String> {
    let stream = tokio::net::TcpStream::connect((ip, port))
        .await
        .map_err(|_| format!("could not connect to port {port}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|_| "the connection failed".to_string())?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = http::Request::get(format!("{HTTP_CHALLENGE_PREFIX}{token}"))
        .header(http::header::HOST, host)
        .header(http::header::USER_AGENT, "caas-rs")
        .body(Empty::<Bytes>::new())
        .map_err(|_| "could not build the request".to_string());
    let result = async {
        let answer = sender
            .send_request(request?)
            .await
            .map_err(|_| "no valid HTTP answer".to_string())?;
        let status = answer.status();
        if status != http::StatusCode::OK {
            return Err(format!("answered HTTP {}", status.as_u16()));
        }
        let body = Limited::new(answer.into_body(), MAX_HTTP_ANSWER)
            .collect()
            .await
            .map_err(|_| "the answer was not the token".to_string())?
            .to_bytes();
        if body.trim_ascii() == token.as_bytes() {
            Ok(())
        } else {
            Err("the answer was not the token".to_string())
        }
    }
    .await;
    driver.abort();
    result
}
