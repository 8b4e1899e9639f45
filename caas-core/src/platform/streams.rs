//! Limits on long-lived answers — followed logs and live stats — which a tenant could
//! otherwise open by the thousand: at most [`StreamLimits::per_user`] at once per user and
//! [`StreamLimits::per_org`] per organization (beyond: [`Error::RateLimited`]), and each ends
//! on its own once its caller may no longer see what it streams (the membership removed, the
//! user gone), checked every [`StreamLimits::recheck`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;

use super::Platform;
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{OrgId, ProjectId, UserId};

/// How many streams may be open at once, and how often their callers' access is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamLimits {
    /// Streams one user may have open at once (default 8).
    pub per_user: usize,
    /// Streams one organization's users may have open at once (default 32).
    pub per_org: usize,
    /// How often an open stream checks that its caller may still see it (default 10 s).
    pub recheck: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            per_user: 8,
            per_org: 32,
            recheck: Duration::from_secs(10),
        }
    }
}

impl StreamLimits {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Streams per user (at least one).
    pub fn per_user(mut self, n: usize) -> Self {
        self.per_user = n.max(1);
        self
    }
    /// Streams per organization (at least one).
    pub fn per_org(mut self, n: usize) -> Self {
        self.per_org = n.max(1);
        self
    }
    /// How often access is checked again (at least 10 ms).
    pub fn recheck(mut self, every: Duration) -> Self {
        self.recheck = every.max(Duration::from_millis(10));
        self
    }
}

/// The streams open now, per user and per organization.
#[derive(Debug, Default)]
pub(super) struct OpenStreams {
    counts: Mutex<(HashMap<UserId, usize>, HashMap<OrgId, usize>)>,
}

/// One open stream's place in the counts; given back when dropped.
struct Permit {
    open: Arc<OpenStreams>,
    user: UserId,
    org: OrgId,
}

impl Drop for Permit {
    fn drop(&mut self) {
        fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
            if let Some(n) = map.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(key);
                }
            }
        }
        let mut counts = self.open.counts.lock().unwrap_or_else(|p| p.into_inner());
        release(&mut counts.0, &self.user);
        release(&mut counts.1, &self.org);
    }
}

impl OpenStreams {
    /// A place for one more stream of `user` in `org`. Errors: `RateLimited` naming the
    /// limit reached.
    fn acquire(
        self: &Arc<Self>,
        limits: &StreamLimits,
        user: UserId,
        org: OrgId,
    ) -> Result<Permit> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (users, orgs) = &mut *counts;
        let (mine, ours) = (
            users.get(&user).copied().unwrap_or(0),
            orgs.get(&org).copied().unwrap_or(0),
        );
        if mine >= limits.per_user {
            return Err(Error::rate_limited(
                format!("you have {mine} streams open, the most one user may; close one first"),
                Duration::from_secs(5),
            ));
        }
        if ours >= limits.per_org {
            return Err(Error::rate_limited(
                format!(
                    "the organization has {ours} streams open, the most it may; close one first"
                ),
                Duration::from_secs(5),
            ));
        }
        *users.entry(user).or_default() += 1;
        *orgs.entry(org).or_default() += 1;
        Ok(Permit {
            open: Arc::clone(self),
            user,
            org,
        })
    }

    /// How many streams `user` has open.
    pub(super) fn of_user(&self, user: UserId) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.0.get(&user).copied().unwrap_or(0)
    }
}

impl Platform {
    /// `inner`, counted against the stream limits of `who` in `org`, ending once `who` may no
    /// longer perform `action` on `project` (checked every [`StreamLimits::recheck`] against
    /// the store: removed memberships and users end it; a store that cannot answer does not).
    /// Errors: `RateLimited`.
    pub(super) fn limited_stream<T: Send + 'static>(
        &self,
        who: &Principal,
        org: OrgId,
        project: ProjectId,
        action: Action,
        inner: BoxStream<'static, Result<T>>,
    ) -> Result<BoxStream<'static, Result<T>>> {
        let limits = self.inner.stream_limits;
        let permit = self.inner.open_streams.acquire(&limits, who.user, org)?;
        let (platform, user) = (self.clone(), who.user);
        let revoked = async move {
            loop {
                tokio::time::sleep(limits.recheck).await;
                match platform.principal_for(user).await {
                    Ok(now) if now.can(action, Some(org), Some(project)) => {}
                    Ok(_) => return,
                    Err(e) if e.is_not_found() => return,
                    Err(e) => {
                        tracing::debug!(error = %e, "could not check a stream's caller; keeping it open");
                    }
                }
            }
        };
        Ok(inner
            .take_until(revoked)
            .map(move |item| {
                // The permit lives as long as the stream.
                let _ = &permit;
                item
            })
            .boxed())
    }

    /// How many streams `user` has open now.
    pub(crate) fn open_streams(&self, user: UserId) -> usize {
        self.inner.open_streams.of_user(user)
    }
}
