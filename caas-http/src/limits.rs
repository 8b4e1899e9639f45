//! Limits a caller cannot exceed ([`HttpLimits`]):
//!
//! - **Per principal**: at most [`HttpLimits::per_second`] requests a second (a burst of
//!   [`HttpLimits::burst`]) per authenticated user, through a keyed GCRA limiter (`governor`);
//!   beyond, `429 RATE_LIMITED` with `Retry-After`.
//! - **In flight**: at most [`HttpLimits::max_in_flight`] requests handled at once across all
//!   callers; beyond, `503 UNAVAILABLE` with `Retry-After: 1` at once (no queue to pile up).
//! - **Time**: a request still running after [`HttpLimits::request_timeout`] is answered
//!   `503 UNAVAILABLE` (retryable). Its work is not cut half-way (a deploy stopped between
//!   two steps would leave what the reconciler must clean up): it goes on in the background,
//!   still counted in flight, and its outcome shows in the resource.
//! - **Streams** (followed logs, live stats) are exempt from the timeout and the in-flight
//!   count; the platform caps how many each user and organization has open
//!   ([`caas_core::platform::StreamLimits`]) and ends them when access is lost; here they also
//!   end once their credentials stop authenticating (a revoked token, a disabled user),
//!   checked every [`HttpLimits::stream_recheck`].

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use caas_core::{Error, Principal, UserId};
use futures::{Stream, StreamExt};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use http::request::Parts;
use tokio::sync::Semaphore;

use crate::AppState;
use crate::error::ApiError;

/// What the API lets callers do at once and how fast (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpLimits {
    /// Longest a request may take before it is answered 503 (default 30 s).
    pub request_timeout: Duration,
    /// Requests handled at once, all callers together (default 256).
    pub max_in_flight: usize,
    /// Requests a second one user may make, sustained (default 20).
    pub per_second: u32,
    /// Requests one user may make in a burst above that rate (default 100).
    pub burst: u32,
    /// How often an open stream checks its credentials again (default 10 s).
    pub stream_recheck: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            max_in_flight: 256,
            per_second: 20,
            burst: 100,
            stream_recheck: Duration::from_secs(10),
        }
    }
}

impl HttpLimits {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Longest a request may take (at least 1 ms).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout.max(Duration::from_millis(1));
        self
    }
    /// Requests handled at once (at least one).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }
    /// Requests a second per user, and the burst above it (each at least one).
    pub fn per_user(mut self, per_second: u32, burst: u32) -> Self {
        self.per_second = per_second.max(1);
        self.burst = burst.max(1);
        self
    }
    /// How often open streams check their credentials (at least 10 ms).
    pub fn stream_recheck(mut self, every: Duration) -> Self {
        self.stream_recheck = every.max(Duration::from_millis(10));
        self
    }
}

/// The limits' state, shared by every request of a router.
#[derive(Debug)]
pub(crate) struct Limiter {
    limits: HttpLimits,
    in_flight: Arc<Semaphore>,
    per_user: DefaultKeyedRateLimiter<UserId>,
}

/// Past this many tracked users, idle ones are forgotten (their state is full again anyway).
const TRACKED_USERS: usize = 10_000;

impl Limiter {
    pub(crate) fn new(limits: HttpLimits) -> Self {
        let one = NonZeroU32::MIN;
        let quota = Quota::per_second(NonZeroU32::new(limits.per_second).unwrap_or(one))
            .allow_burst(NonZeroU32::new(limits.burst).unwrap_or(one));
        Self {
            limits,
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            per_user: DefaultKeyedRateLimiter::keyed(quota),
        }
    }

    /// Counts one request of `user`. Errors: `RateLimited` with the time until the next one
    /// is allowed.
    pub(crate) fn admit(&self, user: UserId) -> Result<(), Error> {
        if self.per_user.len() > TRACKED_USERS {
            self.per_user.retain_recent();
        }
        self.per_user.check_key(&user).map_err(|not_until| {
            Error::rate_limited(
                format!(
                    "more than {} requests a second (bursts of {}) from one user; slow down",
                    self.limits.per_second, self.limits.burst
                ),
                not_until.wait_time_from(DefaultClock::default().now()),
            )
        })
    }

    pub(crate) fn stream_recheck(&self) -> Duration {
        self.limits.stream_recheck
    }
}

/// Whether a request asks for a stream: live stats, or logs with `follow=true`.
fn is_stream(req: &Request) -> bool {
    let path = req.uri().path();
    if path.ends_with("/stats/stream") {
        return true;
    }
    path.ends_with("/logs")
        && req.uri().query().is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "follow" && v == "true")
        })
}

fn unavailable(message: String) -> Response {
    let mut response = ApiError::from(Error::unavailable("api", message)).into_response();
    response.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    response
}

/// The in-flight limit and the request timeout (streams exempt), as a middleware.
pub(crate) async fn enforce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_stream(&req) {
        return next.run(req).await;
    }
    let limiter = &state.limiter;
    let Ok(permit) = Arc::clone(&limiter.in_flight).try_acquire_owned() else {
        return unavailable(format!(
            "the server is handling {} requests, the most it takes at once; retry in a moment",
            limiter.limits.max_in_flight
        ));
    };
    // Handled in place; a request outliving the timeout is moved to a task of its own (with
    // its in-flight permit) to finish its work, rather than dropped half-way.
    let mut handled = Box::pin(next.run(req));
    let timeout = limiter.limits.request_timeout;
    match tokio::time::timeout(timeout, &mut handled).await {
        Ok(response) => response,
        Err(_) => {
            tokio::spawn(async move {
                let _ = handled.await;
                drop(permit);
            });
            unavailable(format!(
                "the request took longer than {} ms; it goes on in the background and its outcome shows in the resource",
                timeout.as_millis()
            ))
        }
    }
}

/// `stream`, ended once the request's credentials (`parts`) stop authenticating as `who`
/// (a revoked token, a disabled user), checked every [`HttpLimits::stream_recheck`]. A
/// credential check that fails for want of the store keeps the stream.
pub(crate) fn until_revoked<S, T>(
    state: &AppState,
    who: &Principal,
    parts: Parts,
    stream: S,
) -> impl Stream<Item = T> + Send + 'static
where
    S: Stream<Item = T> + Send + 'static,
{
    let (auth, platform, user) = (state.auth.clone(), state.platform.clone(), who.user);
    let every = state.limiter.stream_recheck();
    let revoked = async move {
        loop {
            tokio::time::sleep(every).await;
            match auth.authenticate(&parts, &platform).await {
                Ok(Some(p)) if p.user == user => {}
                Ok(_) => return,
                Err(e) if e.is_unavailable() => {}
                Err(_) => return,
            }
        }
    };
    stream.take_until(revoked)
}
