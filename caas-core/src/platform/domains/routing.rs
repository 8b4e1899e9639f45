//! Routing of domains through the proxy: a service's verified domains, the reconciler's
//! check of what the proxy routes, and the routes of HTTP challenges.

use super::{HTTP_CHALLENGE_PREFIX, Platform};
use crate::error::Result;
use crate::ids::ServiceId;
use crate::model::{Domain, HostClaim, Service};
use crate::ports::proxy::{RouteRule, ServiceRoutes};
use crate::validate::HostPattern;

impl Platform {
    /// The routing rules a service should have: its domains under a verified claim of its
    /// organization, by hostname and path, and their target port.
    pub(super) async fn wanted_rules(&self, svc: &Service) -> Result<(Vec<RouteRule>, u16)> {
        let domains = self.inner.store.domains.list_domains(svc.id).await?;
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
    pub(in crate::platform) async fn apply_domain_routes(&self, svc: &Service) -> Result<()> {
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
    pub(in crate::platform) async fn reconcile_domain_routes(
        &self,
    ) -> Result<(Vec<ServiceId>, Vec<String>)> {
        let Some(proxy) = self.inner.proxy.clone() else {
            return Ok((Vec::new(), Vec::new()));
        };
        let (mut fixed, mut errors) = (Vec::new(), Vec::new());
        for svc in self.inner.store.services.list_all_services().await? {
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

    /// Routes `http://<host>/.well-known/caas-challenge/<token>` of an unproven claim to the
    /// platform's challenge answer, and with `wait` waits until the proxy serves it. Nothing
    /// to do without a proxy, HTTP challenges or for a wildcard. Errors: `Unavailable`.
    pub(super) async fn apply_challenge_route(&self, claim: &HostClaim, wait: bool) -> Result<()> {
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
        if !wait {
            return Ok(());
        }
        proxy
            .wait_applied(&key, g, self.inner.rollout_timeout)
            .await
    }

    /// Stops answering a hostname's HTTP challenge (best effort: a stale challenge route
    /// answers nothing but 404 once the claim is gone).
    pub(super) async fn remove_challenge_route(&self, host: &HostPattern) {
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
