//! Traefik's dynamic configuration for one service: routers, a load-balanced service and
//! middlewares, as the file provider reads it — and the same routing as Docker-provider labels.
//! Pure functions of [`ServiceRoutes`], so what Traefik is told can be checked without Traefik.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use caas_core::ports::proxy::{RouteRule, ServiceRoutes};

/// Names of Traefik objects and entrypoints used in generated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entrypoints {
    /// Plain HTTP entrypoint.
    pub web: String,
    /// HTTPS entrypoint.
    pub websecure: String,
    /// Certificate resolver for TLS routes.
    pub cert_resolver: Option<String>,
    /// Certificate resolver for TLS routes on wildcard hosts (`*.example.com`): ACME issues
    /// wildcard certificates only through the DNS-01 challenge, so this is a resolver with a
    /// [`dnsChallenge`](crate::AcmeChallenge::Dns01). `cert_resolver` when `None`.
    pub wildcard_cert_resolver: Option<String>,
}

impl Default for Entrypoints {
    fn default() -> Self {
        Self {
            web: "web".into(),
            websecure: "websecure".into(),
            cert_resolver: None,
            wildcard_cert_resolver: None,
        }
    }
}

impl Entrypoints {
    fn resolver_for(&self, r: &RouteRule) -> Option<&String> {
        if r.host.is_wildcard() {
            self.wildcard_cert_resolver
                .as_ref()
                .or(self.cert_resolver.as_ref())
        } else {
            self.cert_resolver.as_ref()
        }
    }
}

/// The Traefik rule of one routing rule: `Host(`a.example.com`)`, or for a wildcard
/// `HostRegexp(`(?i)^LABEL\.example\.com$`)` (exactly one label below the base, as a wildcard
/// certificate covers), plus `&& PathPrefix(`/api`)` when a path prefix is set. Hostnames
/// and prefixes are validated before they get here, so they cannot contain a backtick, and a
/// hostname's only regex metacharacter is the escaped `.`.
pub fn rule(r: &RouteRule) -> String {
    let host = if r.host.is_wildcard() {
        format!(
            "HostRegexp(`(?i)^[a-z0-9]([a-z0-9-]{{0,61}}[a-z0-9])?\\.{}$`)",
            r.host.base().replace('.', "\\.")
        )
    } else {
        format!("Host(`{}`)", r.host)
    };
    if r.path_prefix == "/" || r.path_prefix.is_empty() {
        host
    } else {
        format!(
            "{host} && PathPrefix(`{}`)",
            r.path_prefix.trim_end_matches('/')
        )
    }
}

/// The priority of a rule's routers. An exact host always wins over a wildcard (whatever
/// their paths), and on the same host a longer path prefix wins over a shorter one. Traefik's
/// default (the length of the rule text) would let `HostRegexp` rules, which are long, win
/// over exact hosts.
pub fn priority(r: &RouteRule) -> u32 {
    let path = u32::try_from(r.path_prefix.trim_end_matches('/').len()).unwrap_or(u32::MAX);
    let base = if r.host.is_wildcard() { 10_000 } else { 20_000 };
    base + path.min(9_999)
}

/// Name of the `i`-th router of a service.
pub fn router_name(key: &str, i: usize) -> String {
    format!("caas-{key}-{i}")
}

/// Name of the load-balanced service of a key.
pub fn service_name(key: &str) -> String {
    format!("caas-{key}")
}

/// The dynamic configuration of one service as a value (serialized as YAML for the file
/// provider).
pub fn file_config(routes: &ServiceRoutes, eps: &Entrypoints) -> Value {
    let key = &routes.key;
    let service = service_name(key);
    let mut routers = serde_json::Map::new();
    let mut middlewares = serde_json::Map::new();
    for (i, r) in routes.rules.iter().enumerate() {
        let name = router_name(key, i);
        let mut mws = Vec::new();
        if r.strip_prefix && r.path_prefix != "/" {
            let strip = format!("{name}-strip");
            middlewares.insert(
                strip.clone(),
                json!({ "stripPrefix": { "prefixes": [r.path_prefix.trim_end_matches('/')] } }),
            );
            mws.push(strip);
        }
        let mut router = json!({
            "rule": rule(r),
            "priority": priority(r),
            "service": service,
            "entryPoints": [if r.tls { &eps.websecure } else { &eps.web }],
        });
        if !mws.is_empty() {
            router["middlewares"] = json!(mws);
        }
        if r.tls {
            let mut tls = match eps.resolver_for(r) {
                Some(res) => json!({ "certResolver": res }),
                None => json!({}),
            };
            if r.host.is_wildcard() {
                // The certificate's name cannot be derived from a HostRegexp rule.
                tls["domains"] = json!([{ "main": r.host.as_str() }]);
            }
            router["tls"] = tls;
            // Plain HTTP on the same host and path is redirected to HTTPS.
            let redirect = format!("{name}-https");
            middlewares.insert(
                redirect.clone(),
                json!({ "redirectScheme": { "scheme": "https", "permanent": true } }),
            );
            routers.insert(
                format!("{name}-redirect"),
                json!({
                    "rule": rule(r),
                    "priority": priority(r),
                    "service": service,
                    "entryPoints": [&eps.web],
                    "middlewares": [redirect],
                }),
            );
        }
        routers.insert(name, router);
    }
    let servers: Vec<Value> = routes
        .upstreams
        .iter()
        .map(|u| json!({ "url": u }))
        .collect();
    let mut http = json!({
        "routers": routers,
        "services": { service: { "loadBalancer": { "servers": servers, "passHostHeader": true } } },
    });
    if !middlewares.is_empty() {
        http["middlewares"] = Value::Object(middlewares);
    }
    json!({ "http": http })
}

/// The same routing as Docker-provider labels on the service's container, for deployments
/// that let Traefik discover containers. `port` is the container port traffic goes to.
pub fn docker_labels(
    routes: &ServiceRoutes,
    eps: &Entrypoints,
    port: u16,
) -> BTreeMap<String, String> {
    let key = &routes.key;
    let service = service_name(key);
    let mut l = BTreeMap::new();
    l.insert("traefik.enable".to_string(), "true".to_string());
    l.insert(
        format!("traefik.http.services.{service}.loadbalancer.server.port"),
        port.to_string(),
    );
    for (i, r) in routes.rules.iter().enumerate() {
        let name = router_name(key, i);
        let p = format!("traefik.http.routers.{name}");
        l.insert(format!("{p}.rule"), rule(r));
        l.insert(format!("{p}.priority"), priority(r).to_string());
        l.insert(format!("{p}.service"), service.clone());
        l.insert(
            format!("{p}.entrypoints"),
            if r.tls {
                eps.websecure.clone()
            } else {
                eps.web.clone()
            },
        );
        let mut mws = Vec::new();
        if r.strip_prefix && r.path_prefix != "/" {
            let strip = format!("{name}-strip");
            l.insert(
                format!("traefik.http.middlewares.{strip}.stripprefix.prefixes"),
                r.path_prefix.trim_end_matches('/').to_string(),
            );
            mws.push(strip);
        }
        if !mws.is_empty() {
            l.insert(format!("{p}.middlewares"), mws.join(","));
        }
        if r.tls {
            l.insert(format!("{p}.tls"), "true".into());
            if let Some(res) = eps.resolver_for(r) {
                l.insert(format!("{p}.tls.certresolver"), res.clone());
            }
            if r.host.is_wildcard() {
                l.insert(format!("{p}.tls.domains[0].main"), r.host.to_string());
            }
            let redirect = format!("{name}-https");
            l.insert(
                format!("traefik.http.middlewares.{redirect}.redirectscheme.scheme"),
                "https".into(),
            );
            let rp = format!("traefik.http.routers.{name}-redirect");
            l.insert(format!("{rp}.rule"), rule(r));
            l.insert(format!("{rp}.priority"), priority(r).to_string());
            l.insert(format!("{rp}.entrypoints"), eps.web.clone());
            l.insert(format!("{rp}.middlewares"), redirect);
            l.insert(format!("{rp}.service"), service.clone());
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use caas_core::validate::HostPattern;

    fn routes() -> ServiceRoutes {
        ServiceRoutes {
            key: "abc".into(),
            rules: vec![
                RouteRule {
                    host: HostPattern::parse("shop.example.com").unwrap(),
                    path_prefix: "/".into(),
                    strip_prefix: false,
                    tls: false,
                },
                RouteRule {
                    host: HostPattern::parse("api.example.com").unwrap(),
                    path_prefix: "/v1/".into(),
                    strip_prefix: true,
                    tls: true,
                },
            ],
            upstreams: vec!["http://10.0.0.2:8080".into(), "http://10.0.0.3:8080".into()],
        }
    }

    #[test]
    fn rules_combine_host_and_path() {
        let r = routes();
        assert_eq!(rule(&r.rules[0]), "Host(`shop.example.com`)");
        assert_eq!(
            rule(&r.rules[1]),
            "Host(`api.example.com`) && PathPrefix(`/v1`)"
        );
    }

    #[test]
    fn file_config_has_one_router_per_rule_tls_redirect_and_all_upstreams() {
        let eps = Entrypoints {
            cert_resolver: Some("le".into()),
            ..Entrypoints::default()
        };
        let v = file_config(&routes(), &eps);
        let routers = v["http"]["routers"].as_object().unwrap();
        assert_eq!(
            routers.len(),
            3,
            "two rules + one https redirect: {routers:?}"
        );
        assert_eq!(v["http"]["routers"]["caas-abc-0"]["entryPoints"][0], "web");
        assert_eq!(
            v["http"]["routers"]["caas-abc-1"]["entryPoints"][0],
            "websecure"
        );
        assert_eq!(
            v["http"]["routers"]["caas-abc-1"]["tls"]["certResolver"],
            "le"
        );
        assert_eq!(
            v["http"]["routers"]["caas-abc-1"]["middlewares"][0],
            "caas-abc-1-strip"
        );
        assert_eq!(
            v["http"]["middlewares"]["caas-abc-1-strip"]["stripPrefix"]["prefixes"][0],
            "/v1"
        );
        assert_eq!(
            v["http"]["routers"]["caas-abc-1-redirect"]["middlewares"][0],
            "caas-abc-1-https"
        );
        let servers = v["http"]["services"]["caas-abc"]["loadBalancer"]["servers"]
            .as_array()
            .unwrap();
        assert_eq!(servers.len(), 2);
    }

    #[test]
    fn wildcards_match_one_label_take_a_dns_resolver_and_lose_to_exact_hosts() {
        let wild = RouteRule {
            host: HostPattern::parse_field("hostname", "*.example.com", true).unwrap(),
            path_prefix: "/api".into(),
            strip_prefix: false,
            tls: true,
        };
        assert_eq!(
            rule(&wild),
            "HostRegexp(`(?i)^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.example\\.com$`) && PathPrefix(`/api`)"
        );
        let exact = routes().rules[0].clone();
        assert!(priority(&exact) > priority(&wild), "exact host wins");
        let mut longer = exact.clone();
        longer.path_prefix = "/shop".into();
        assert!(priority(&longer) > priority(&exact), "longer prefix wins");

        let eps = Entrypoints {
            cert_resolver: Some("http".into()),
            wildcard_cert_resolver: Some("dns".into()),
            ..Entrypoints::default()
        };
        let r = ServiceRoutes {
            key: "w".into(),
            rules: vec![wild.clone()],
            upstreams: vec!["http://10.0.0.2:8080".into()],
        };
        let v = file_config(&r, &eps);
        let router = &v["http"]["routers"]["caas-w-0"];
        assert_eq!(router["tls"]["certResolver"], "dns");
        assert_eq!(router["tls"]["domains"][0]["main"], "*.example.com");
        assert_eq!(router["priority"], priority(&wild));
        assert_eq!(
            v["http"]["routers"]["caas-w-0-redirect"]["priority"],
            priority(&wild)
        );
        let l = docker_labels(&r, &eps, 8080);
        assert_eq!(l["traefik.http.routers.caas-w-0.tls.certresolver"], "dns");
        assert_eq!(
            l["traefik.http.routers.caas-w-0.tls.domains[0].main"],
            "*.example.com"
        );
        // Without a wildcard resolver, the general one is used.
        let eps = Entrypoints {
            cert_resolver: Some("http".into()),
            ..Entrypoints::default()
        };
        assert_eq!(
            file_config(&r, &eps)["http"]["routers"]["caas-w-0"]["tls"]["certResolver"],
            "http"
        );
    }

    #[test]
    fn docker_labels_mirror_the_file_config() {
        let eps = Entrypoints {
            cert_resolver: Some("le".into()),
            ..Entrypoints::default()
        };
        let l = docker_labels(&routes(), &eps, 8080);
        assert_eq!(l["traefik.enable"], "true");
        assert_eq!(
            l["traefik.http.services.caas-abc.loadbalancer.server.port"],
            "8080"
        );
        assert_eq!(
            l["traefik.http.routers.caas-abc-0.rule"],
            "Host(`shop.example.com`)"
        );
        assert_eq!(l["traefik.http.routers.caas-abc-1.tls.certresolver"], "le");
        assert_eq!(
            l["traefik.http.routers.caas-abc-1.middlewares"],
            "caas-abc-1-strip"
        );
        assert_eq!(
            l["traefik.http.routers.caas-abc-1-redirect.entrypoints"],
            "web"
        );
        assert!(l.keys().all(|k| k.starts_with("traefik.")));
    }
}
