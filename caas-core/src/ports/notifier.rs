//! The notifier port: telling an organization that an alert fired or resolved.
//!
//! [`InMemoryNotifier`] keeps what it was asked to send (tests); the webhook implementation
//! (signed JSON over HTTPS, refusing private addresses) lives in the `caas-notify` crate.

use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::Alert;

/// Where an organization's notifications go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookTarget {
    /// `https://` (or `http://`) URL the notification is POSTed to.
    pub url: String,
    /// Shared secret the payload is signed with (HMAC-SHA256); never returned once set.
    pub secret: String,
}

/// One notification: an alert that changed state, and where to send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertNotification {
    /// The organization's slug.
    pub org: String,
    /// The alert after its change (`firing`, or `resolved` with its resolution time).
    pub alert: Alert,
    /// Where to send it.
    pub target: WebhookTarget,
}

/// Delivers alert notifications.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug + 'static {
    /// Sends one notification. Errors: `InvalidInput` (a target it refuses, e.g. a private
    /// address), `Unavailable` (the receiver failed or did not answer).
    async fn notify(&self, notification: &AlertNotification) -> Result<()>;
}

/// A [`Notifier`] that keeps every notification in memory.
#[derive(Debug, Default)]
pub struct InMemoryNotifier {
    sent: Mutex<Vec<AlertNotification>>,
}

impl InMemoryNotifier {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }
    /// What was sent so far, oldest first.
    pub fn sent(&self) -> Vec<AlertNotification> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl Notifier for InMemoryNotifier {
    async fn notify(&self, notification: &AlertNotification) -> Result<()> {
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(notification.clone());
        Ok(())
    }
}
