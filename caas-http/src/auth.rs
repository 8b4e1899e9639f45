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
