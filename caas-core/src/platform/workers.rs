//! The background workers of a [`Platform`], all in one place. Each is a `run_*` method that
//! takes the platform by value and a `shutdown` future, so an embedder spawns it and ends it
//! by completing that future:
//!
//! ```no_run
//! # use std::time::Duration;
//! # async fn f(platform: caas_core::Platform, stop: tokio::sync::watch::Receiver<bool>) {
//! let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
//!     let _ = rx.wait_for(|s| *s).await;
//! };
//! let reconciler = tokio::spawn(
//!     platform.clone().run_reconciler(Duration::from_secs(30), stopped(stop.clone())),
//! );
//! # let _ = reconciler;
//! # }
//! ```
//!
//! | worker | one pass | every |
//! |---|---|---|
//! | [`Platform::run_reconciler`] | [`Platform::reconcile`] | `interval` |
//! | [`Platform::run_alert_evaluator`] | [`Monitoring::evaluate_alerts`](crate::platform::Monitoring::evaluate_alerts) | `interval` |
//! | [`Platform::run_backup_scheduler`] | [`Backups::run_due`](crate::platform::Backups::run_due) | `interval` |
//! | [`Platform::run_volume_monitor`] | [`Volumes::check`](crate::platform::Volumes::check) | `interval` |
//! | [`Platform::run_domain_verifier`] | [`Domains::reverify`](crate::platform::Domains::reverify) | `interval` |
//! | [`Platform::run_collector`] | a metrics cycle (see [`Collector`]) | [`CollectorConfig::interval`] |
//! | [`Platform::run_event_watcher`] | each engine event (see [`WatcherConfig`]) | as events come |
//!
//! The five periodic workers share one ticker ([`every`]): the first pass runs at once, the
//! next ones `interval` after the previous tick, a pass never overlaps the previous one (a
//! late tick is delayed, not doubled), a failed pass is logged and retried at the next tick,
//! and shutdown ends the loop between passes or drops the pass in progress. The per-pass step
//! lives with its area (`reconcile.rs`, `alerting.rs`, ...). The collector and the event
//! watcher have loops of their own: the collector counts the ticks it skips while a cycle
//! runs, and the watcher follows a stream and reconnects with backoff.

use std::future::Future;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::{Collector, CollectorConfig, CollectorStats, Platform, WatcherConfig, WatcherStats};
use crate::error::Result;

/// Runs `step` now and then every `interval` until `shutdown` completes; passes never
/// overlap. A pass that fails is logged as `"{name} failed; retrying next interval"`, one
/// that reports problems (a non-empty list) as `"{name} had problems"`, both at `warn`.
///
/// Panics when `interval` is zero (as [`tokio::time::interval`]).
async fn every<F, Fut>(
    name: &'static str,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
    mut step: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Vec<String>>>,
{
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = tick.tick() => match step().await {
                Ok(problems) if !problems.is_empty() => {
                    tracing::warn!(errors = ?problems, "{name} had problems");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "{name} failed; retrying next interval"),
            }
        }
    }
}

impl Platform {
    /// Runs [`Platform::reconcile`] now and then every `interval` until `shutdown` completes;
    /// passes never overlap. Spawn it on the runtime: `tokio::spawn(platform.run_reconciler(..))`.
    pub async fn run_reconciler(
        self,
        interval: Duration,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        // The report's errors are the reconciler's own to log; only a failed pass is ours.
        every("reconcile pass", interval, shutdown, || async {
            self.reconcile().await.map(|_| Vec::new())
        })
        .await;
    }

    /// Runs [`Monitoring::evaluate_alerts`](crate::platform::Monitoring::evaluate_alerts) now and
    /// then every `interval` until `shutdown` completes; passes never overlap. Spawn it:
    /// `tokio::spawn(platform.run_alert_evaluator(..))`.
    pub async fn run_alert_evaluator(
        self,
        interval: Duration,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        every("alert evaluation", interval, shutdown, || async {
            self.evaluate_alerts().await.map(|r| r.errors)
        })
        .await;
    }

    /// Runs [`Backups::run_due`](crate::platform::Backups::run_due) now and then every `interval`
    /// until `shutdown` completes; passes never overlap. Spawn it:
    /// `tokio::spawn(platform.run_backup_scheduler(..))`.
    pub async fn run_backup_scheduler(
        self,
        interval: Duration,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        every("scheduled backups", interval, shutdown, || async {
            self.run_due_backups().await.map(|r| r.errors)
        })
        .await;
    }

    /// Runs [`Volumes::check`](crate::platform::Volumes::check) now and then every `interval` until
    /// `shutdown` completes; passes never overlap. Spawn it:
    /// `tokio::spawn(platform.run_volume_monitor(..))`.
    pub async fn run_volume_monitor(
        self,
        interval: Duration,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        every("volume check", interval, shutdown, || async {
            self.check_volumes().await.map(|_| Vec::new())
        })
        .await;
    }

    /// Runs [`Domains::reverify`](crate::platform::Domains::reverify) now and then every `interval`
    /// until `shutdown` completes; passes never overlap. Spawn it:
    /// `tokio::spawn(platform.run_domain_verifier(..))`.
    pub async fn run_domain_verifier(
        self,
        interval: Duration,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        every("domain re-verification", interval, shutdown, || async {
            self.reverify_domains().await.map(|_| Vec::new())
        })
        .await;
    }

    /// Runs the metrics collector until `shutdown` completes and returns its final counters (a
    /// system worker: no principal). Spawn it on the runtime:
    /// `tokio::spawn(platform.run_collector(config, shutdown))`; to read the counters while it
    /// runs, use [`Monitoring::collector`](crate::platform::Monitoring::collector) and
    /// [`Collector::handle`].
    pub async fn run_collector(
        self,
        config: CollectorConfig,
        shutdown: impl Future<Output = ()> + Send,
    ) -> CollectorStats {
        Collector::new(self, config).run(shutdown).await
    }

    /// Watches the engine's events until `shutdown` completes (see [`WatcherConfig`]); returns
    /// its counters. A system worker: spawn it,
    /// `tokio::spawn(platform.run_event_watcher(WatcherConfig::default(), shutdown))`.
    pub async fn run_event_watcher(
        self,
        config: WatcherConfig,
        shutdown: impl Future<Output = ()> + Send,
    ) -> WatcherStats {
        super::watcher::watch_events(self, config, shutdown).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::error::Error;

    #[tokio::test]
    async fn the_first_pass_runs_at_once() {
        let passes = AtomicUsize::new(0);
        every(
            "test pass",
            Duration::from_secs(3600),
            tokio::time::sleep(Duration::from_millis(20)),
            || async {
                passes.fetch_add(1, Ordering::SeqCst);
                Ok(Vec::new())
            },
        )
        .await;
        assert_eq!(passes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_pass_is_retried_at_the_next_tick_until_shutdown() {
        let passes = AtomicUsize::new(0);
        let run = every(
            "test pass",
            Duration::from_millis(5),
            tokio::time::sleep(Duration::from_millis(60)),
            || async {
                match passes.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(Error::unavailable("test", "down")),
                    1 => Ok(vec!["one problem".to_string()]),
                    _ => Ok(Vec::new()),
                }
            },
        );
        tokio::time::timeout(Duration::from_secs(2), run)
            .await
            .expect("shutdown ends the loop");
        assert!(passes.load(Ordering::SeqCst) >= 3, "passes went on");
    }
}
