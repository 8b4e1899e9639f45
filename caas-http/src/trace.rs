//! The request span of the trace layer, without secrets.
//!
//! tower-http's default span records the full URI. One route carries a secret in its path —
//! the invitation token of `POST /v1/invitations/{token}/accept` (and `/decline`), as mailed —
//! so the span records the path with that segment, and any segment that looks like a
//! credential (`caas_…`, pasted into a wrong URL), replaced by `[redacted]`. The route keeps
//! its path: the acceptance link stays the one the mailer sent. Like tower-http's default,
//! the span is at DEBUG level, under tower-http's target.

use std::borrow::Cow;

use caas_core::platform::TOKEN_PREFIX;
use http::{Request, Uri};
use tower_http::trace::MakeSpan;
use tracing::Span;

/// What replaces a secret in a traced path.
pub(crate) const REDACTED: &str = "[redacted]";

/// Makes the `request` span: method, redacted URI, version.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        // tower-http's own target, so filters written for its default span
        // (`RUST_LOG=tower_http=debug`) keep showing this one.
        tracing::span!(
            target: "tower_http::trace::make_span",
            tracing::Level::DEBUG,
            "request",
            method = %request.method(),
            uri = %redacted(request.uri()),
            version = ?request.version(),
        )
    }
}

/// The path and query of `uri`, with the invitation token and credential-like segments
/// replaced.
pub(crate) fn redacted(uri: &Uri) -> Cow<'_, str> {
    let path = uri.path();
    let segments: Vec<&str> = path.split('/').collect();
    // ["", "v1", "invitations", "{token}", ...]
    let invitation = segments.len() > 3 && segments[1] == "v1" && segments[2] == "invitations";
    let secret = |i: usize, s: &str| {
        !s.is_empty() && (s.starts_with(TOKEN_PREFIX) || (invitation && i == 3))
    };
    if !segments.iter().enumerate().any(|(i, s)| secret(i, s)) {
        return match uri.path_and_query() {
            Some(pq) => Cow::Borrowed(pq.as_str()),
            None => Cow::Borrowed(path),
        };
    }
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, s) in segments.iter().enumerate() {
        out.push(if secret(i, s) { REDACTED } else { s });
    }
    let mut out = out.join("/");
    if let Some(q) = uri.query() {
        out.push('?');
        out.push_str(q);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(uri: &str) -> String {
        redacted(&uri.parse().unwrap_or_else(|e| panic!("{uri}: {e}"))).into_owned()
    }

    #[test]
    fn invitation_tokens_and_credentials_never_reach_the_span() {
        assert_eq!(
            r("/v1/invitations/caas_inv_AbC123/accept"),
            "/v1/invitations/[redacted]/accept"
        );
        assert_eq!(
            r("/v1/invitations/anything-at-all/decline"),
            "/v1/invitations/[redacted]/decline"
        );
        assert_eq!(r("/v1/tokens/caas_SeCrEt"), "/v1/tokens/[redacted]");
        assert_eq!(
            r("http://127.0.0.1:8080/v1/invitations/caas_inv_x/accept?a=b"),
            "/v1/invitations/[redacted]/accept?a=b"
        );
        // Everything else is traced as it came.
        assert_eq!(
            r("/v1/orgs/acme/invitations/0190a3c4-aaaa-7bbb-8ccc-000000000000"),
            "/v1/orgs/acme/invitations/0190a3c4-aaaa-7bbb-8ccc-000000000000"
        );
        assert_eq!(
            r("/v1/admin/users?search=bob"),
            "/v1/admin/users?search=bob"
        );
        assert_eq!(r("/v1/invitations"), "/v1/invitations");
    }
}
