//! Nothing secret reaches a log line: API tokens, invitation tokens and credentials pasted into
//! a path, traced at every level. In a binary of its own: the subscriber is set for this test's
//! thread only, and tests running beside it on other threads could race tracing's per-callsite
//! interest cache and hide its events.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{assert_error, secret, world};
use http::{Method, StatusCode};
use serde_json::json;

/// A writer for a tracing subscriber that keeps everything written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

#[tokio::test]
async fn secrets_and_invitation_tokens_are_in_no_log_line_even_at_trace_level() {
    let w = world().await;
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    // The test's runtime runs on this thread: every span and event of the requests is seen.
    let _guard = tracing::subscriber::set_default(subscriber);

    let got = w
        .post(
            "/v1/admin/users",
            &w.admin,
            json!({"email": "dave@example.com"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let dave = secret(
        &w.post(
            "/v1/admin/users/dave@example.com/tokens",
            &w.admin,
            json!({"name": "first"}),
        )
        .await,
    );
    let own = secret(&w.post("/v1/tokens", &dave, json!({"name": "mine"})).await);
    let got = w
        .post(
            "/v1/orgs/acme/invitations",
            &w.owner,
            json!({"email": "dave@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let invitation = w.mailed_token("dave@example.com");
    let got = w
        .call(
            Method::POST,
            &format!("/v1/invitations/{invitation}/accept"),
            Some(&own),
            None,
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    // A credential pasted into a path by mistake is not traced either.
    let got = w.delete(&format!("/v1/tokens/{own}"), &own).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("uri=/v1/invitations/[redacted]/accept"),
        "the request is traced, its token redacted:\n{log}"
    );
    assert!(log.contains("uri=/v1/tokens/[redacted]"), "{log}");
    for secret in [&dave, &own, &invitation, &w.admin, &w.owner] {
        assert!(
            !log.contains(secret.as_str()),
            "{secret} is in the log:\n{log}"
        );
    }
}
