//! The mailer port: delivering invitations to join an organization.
//!
//! [`InMemoryMailer`] keeps what it was asked to send (tests); [`LogMailer`] writes the
//! acceptance link to the log (the reference server's default; without an SMTP relay the
//! operator hands the link over).

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::Role;

/// An invitation to deliver: everything the message needs, including the one-time token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationMail {
    /// The invited address.
    pub to: String,
    /// The organization's slug.
    pub org: String,
    /// The organization's display name.
    pub org_name: String,
    /// Role granted on acceptance.
    pub role: Role,
    /// Who invited (e-mail).
    pub invited_by: String,
    /// The secret token (accepted at `POST /v1/invitations/{token}/accept`).
    pub token: String,
    /// When it stops being valid.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for InvitationMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitationMail")
            .field("to", &self.to)
            .field("org", &self.org)
            .field("role", &self.role)
            .field("token", &"********")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Delivers invitations.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug + 'static {
    /// Sends one invitation. Errors: `Unavailable` (the relay failed).
    async fn send_invitation(&self, mail: &InvitationMail) -> Result<()>;
}

/// A [`Mailer`] that keeps every message in memory.
#[derive(Debug, Default)]
pub struct InMemoryMailer {
    sent: Mutex<Vec<InvitationMail>>,
}

impl InMemoryMailer {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }
    /// What was sent so far, oldest first.
    pub fn sent(&self) -> Vec<InvitationMail> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl Mailer for InMemoryMailer {
    async fn send_invitation(&self, mail: &InvitationMail) -> Result<()> {
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(mail.clone());
        Ok(())
    }
}

/// A [`Mailer`] that logs the acceptance link at INFO (target `caas::invitations`), for
/// deployments without an e-mail relay: the token is in that log line and nowhere else.
#[derive(Debug, Clone)]
pub struct LogMailer {
    base_url: String,
}

impl LogMailer {
    /// Links are `<base_url>/v1/invitations/<token>/accept`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
        }
    }
}

#[async_trait]
impl Mailer for LogMailer {
    async fn send_invitation(&self, mail: &InvitationMail) -> Result<()> {
        tracing::info!(
            target: "caas::invitations",
            to = %mail.to,
            org = %mail.org,
            role = mail.role.as_str(),
            expires_at = %mail.expires_at,
            "invitation: POST {}/v1/invitations/{}/accept",
            self.base_url,
            mail.token
        );
        Ok(())
    }
}
