//! Webhook deliveries to a real HTTP receiver on loopback: the signed payload arrives and
//! verifies, private addresses are refused unless allowed, redirects are not followed, and
//! error answers are `Unavailable`.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use caas_core::model::{Alert, AlertState};
use caas_core::ports::notifier::{AlertNotification, Notifier, WebhookTarget};
use caas_core::{AlertId, OrgId};
use caas_notify::{WebhookNotifier, verify};

const SECRET: &str = "a-webhook-secret-of-some-length";

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move {
                    s.lock().unwrap().push((headers, body));
                    StatusCode::NO_CONTENT
                }
            }),
        )
        .route(
            "/fail",
            post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route(
            "/moved",
            post(|| async {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [("location", "http://169.254.169.254/latest/meta-data")],
                )
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}"), seen)
}

fn notification(url: String) -> AlertNotification {
    AlertNotification {
        org: "acme".into(),
        alert: Alert {
            id: AlertId::new(),
            org: OrgId::new(),
            service: None,
            subject: "service:x".into(),
            rule: "cpu-high".into(),
            state: AlertState::Firing,
            message: "cpu-high: web CPU above 80 %".into(),
            since: chrono::Utc::now(),
            resolved_at: None,
        },
        target: WebhookTarget {
            url,
            secret: SECRET.into(),
        },
    }
}

#[tokio::test]
async fn a_signed_payload_reaches_the_receiver_and_verifies() {
    let (base, seen) = receiver().await;
    let n = WebhookNotifier::new()
        .unwrap()
        .allow_private_addresses(true)
        .unwrap();
    let sent = notification(format!("{base}/hook"));
    n.notify(&sent).await.unwrap();
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (headers, body) = &got[0];
    let ts: i64 = headers["x-caas-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let sig = headers["x-caas-signature"].to_str().unwrap();
    assert!(verify(SECRET, ts, body, sig), "the signature verifies");
    assert!(!verify("another-secret-entirely", ts, body, sig));
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["type"], "alert");
    assert_eq!(v["org"], "acme");
    assert_eq!(v["alert"]["rule"], "cpu-high");
    assert_eq!(v["alert"]["state"], "firing");
    assert!(
        !String::from_utf8_lossy(body).contains(SECRET),
        "the secret is never sent"
    );
}

#[tokio::test]
async fn private_addresses_are_refused_by_default() {
    let (base, seen) = receiver().await;
    let n = WebhookNotifier::new().unwrap();
    for url in [
        format!("{base}/hook"),
        "http://localhost:9/hook".to_string(),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://10.0.0.1/hook".to_string(),
        "http://[::1]:9/hook".to_string(),
    ] {
        let err = n.notify(&notification(url.clone())).await.unwrap_err();
        assert!(err.is_invalid_input(), "{url}: {err}");
        assert_eq!(err.field(), Some("webhook.url"), "{url}: {err}");
    }
    assert!(seen.lock().unwrap().is_empty());
    let err = n
        .notify(&notification("ftp://example.com/x".into()))
        .await
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
}

#[tokio::test]
async fn errors_are_unavailable_and_redirects_are_not_followed() {
    let (base, _) = receiver().await;
    let n = WebhookNotifier::new()
        .unwrap()
        .allow_private_addresses(true)
        .unwrap();
    for path in ["/fail", "/moved"] {
        let err = n
            .notify(&notification(format!("{base}{path}")))
            .await
            .unwrap_err();
        assert!(err.is_unavailable(), "{path}: {err}");
    }
    let err = n
        .notify(&notification("http://127.0.0.1:1/hook".into()))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
}
