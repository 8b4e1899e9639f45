//! Authentication is the embedder's: requests become principals through [`Authenticator`].

use async_trait::async_trait;
use caas_core::{Platform, Principal, Result};

/// Turns a request into the [`Principal`] acting. Implemented by the embedder (API tokens,
/// session cookies, an upstream proxy's headers, ...).
#[async_trait]
pub trait Authenticator: Send + Sync + std::fmt::Debug + 'static {
    /// `Ok(None)` when the request carries no (valid) credential: the API answers 401.
    /// Errors are returned to the client as usual (e.g. `Unavailable` → 503).
    async fn authenticate(
        &self,
        parts: &http::request::Parts,
        platform: &Platform,
    ) -> Result<Option<Principal>>;
}

/// API tokens in `Authorization: Bearer <secret>`, checked with
/// [`Tokens::authenticate`](caas_core::platform::Tokens::authenticate) (stored hashed; unknown,
/// malformed or expired tokens are refused). The reference server uses it; embedders may too.
///
/// ```
/// # use std::sync::Arc;
/// # use caas_core::{Platform, memory::{InMemoryStore, InMemoryRuntime}};
/// # let platform = Platform::builder()
/// #     .store(Arc::new(InMemoryStore::new()))
/// #     .runtime(Arc::new(InMemoryRuntime::new()))
/// #     .build()
/// #     .unwrap();
/// let app = caas_http::router(platform, Arc::new(caas_http::BearerTokenAuthenticator));
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BearerTokenAuthenticator;

#[async_trait]
impl Authenticator for BearerTokenAuthenticator {
    async fn authenticate(
        &self,
        parts: &http::request::Parts,
        platform: &Platform,
    ) -> Result<Option<Principal>> {
        match bearer_token(parts) {
            Some(secret) => platform.tokens().authenticate(secret).await,
            None => Ok(None),
        }
    }
}

/// The secret of an `Authorization: Bearer <secret>` header (the scheme is case-insensitive).
fn bearer_token(parts: &http::request::Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, secret) = value.trim().split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty()).then_some(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(auth: Option<&str>) -> http::request::Parts {
        let mut req = http::Request::builder().uri("/v1/orgs");
        if let Some(a) = auth {
            req = req.header(http::header::AUTHORIZATION, a);
        }
        req.body(())
            .map(|r| r.into_parts().0)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn only_bearer_credentials_are_read() {
        assert_eq!(
            bearer_token(&parts(Some("Bearer caas_abc"))),
            Some("caas_abc")
        );
        assert_eq!(
            bearer_token(&parts(Some("bearer  caas_abc "))),
            Some("caas_abc")
        );
        assert_eq!(bearer_token(&parts(Some("Basic dXNlcjpwdw=="))), None);
        assert_eq!(bearer_token(&parts(Some("Bearer "))), None);
        assert_eq!(bearer_token(&parts(None)), None);
    }
}
