//! Behaviours of logs, stats, engine events and images.

use std::time::Duration;

use caas_core::Error;
use caas_core::ports::runtime::{LogLine, LogOptions, LogStream, RuntimeEventKind};
use chrono::Utc;
use futures::StreamExt;

use super::{
    MISSING_IMAGE, RuntimeFixture, SETTLE, STOP, assert_labels_kept, create, create_started,
    expect_err, read_logs,
};

/// `tail` returns the last lines, in order, without newlines, from stdout.
pub async fn logs_tail_returns_last_lines(fx: &RuntimeFixture) {
    fx.scoped(async {
        let mut spec = fx.container_spec("logs");
        spec.command = Some(vec![
            "sh".into(),
            "-c".into(),
            "for i in 1 2 3 4 5; do echo line$i; done; sleep 3600".into(),
        ]);
        let id = create_started(fx, &spec).await;
        let expected = ["line1", "line2", "line3", "line4", "line5"];
        if let Some(emit) = &fx.emit_logs {
            emit(&id, &expected);
        }
        let texts = |v: &[LogLine]| v.iter().map(|l| l.text.clone()).collect::<Vec<_>>();

        // The command runs asynchronously: wait until all five lines are there.
        let deadline = tokio::time::Instant::now() + SETTLE;
        let all = loop {
            let all = read_logs(fx, &id, &LogOptions::default())
                .await
                .expect("logs");
            if all.len() >= expected.len() || tokio::time::Instant::now() > deadline {
                break all;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(texts(&all), expected);
        assert!(all.iter().all(|l| l.stream == LogStream::Stdout), "{all:?}");

        let tail = read_logs(fx, &id, &LogOptions::tail(2))
            .await
            .expect("tail 2");
        assert_eq!(texts(&tail), ["line4", "line5"]);
        let tail = read_logs(fx, &id, &LogOptions::tail(10))
            .await
            .expect("tail 10");
        assert_eq!(texts(&tail), expected);
        let tail = read_logs(fx, &id, &LogOptions::tail(0))
            .await
            .expect("tail 0");
        assert!(tail.is_empty(), "tail 0: {tail:?}");
    })
    .await
}

/// One stats reading of a running container reports its memory limit; a container that is not
/// running has no stats (`Conflict`).
pub async fn stats_once_reports_memory_limit(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let spec = fx.container_spec("stats");
        let id = create(fx, &spec).await;
        expect_err(
            "stats of a created container",
            rt.stats_once(&id).await,
            Error::is_conflict,
        );
        rt.start_container(&id).await.expect("start");
        let stats = rt.stats_once(&id).await.expect("stats");
        assert_eq!(
            stats.memory_limit_bytes, spec.limits.memory_bytes,
            "{stats:?}"
        );
        assert!(stats.online_cpus >= 1, "{stats:?}");
        assert!(stats.pids >= 1, "{stats:?}");
        let age = Utc::now() - stats.at;
        assert!(
            age.num_seconds().abs() < 60,
            "reading time {} is not now",
            stats.at
        );
    })
    .await
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The events stream reports a container's start and exit, only for containers matching the
/// selector, with their labels.
pub async fn events_stream_reports_start_and_die(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        let mut events = rt.events(&fx.selector()).await.expect("events");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Poll from now on: engines whose stream connects lazily subscribe on the first poll.
        let _collector = AbortOnDrop(tokio::spawn(async move {
            while let Some(ev) = events.next().await {
                if tx.send(ev).is_err() {
                    break;
                }
            }
        }));
        tokio::time::sleep(Duration::from_millis(300)).await;

        let spec = fx.container_spec("events");
        let id = create(fx, &spec).await;
        let (mut started, mut died) = (false, false);
        // A subscription that becomes live late misses the first cycle; the next one must show.
        for _attempt in 0..3 {
            rt.start_container(&id).await.expect("start");
            rt.stop_container(&id, STOP).await.expect("stop");
            let deadline = tokio::time::Instant::now() + SETTLE;
            while !(started && died) {
                let ev = match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(ev)) => ev.expect("event"),
                    Ok(None) => panic!("the events stream ended"),
                    Err(_) => break,
                };
                assert!(
                    fx.selector().matches(&ev.labels),
                    "event for a container outside the selector: {ev:?}"
                );
                if ev.container_id == id {
                    assert_labels_kept(&ev.labels, &spec.labels);
                    match ev.kind {
                        RuntimeEventKind::Start => started = true,
                        RuntimeEventKind::Die { .. } => died = started,
                        _ => {}
                    }
                }
            }
            if started && died {
                break;
            }
        }
        assert!(started, "no start event for {id}");
        assert!(died, "no die event after the start of {id}");
    })
    .await
}

/// The test image is present, a missing one is not, and pulling a missing one fails with
/// `NotFound` or `Unavailable` naming the image.
pub async fn image_present_and_pull_missing_names_the_image(fx: &RuntimeFixture) {
    fx.scoped(async {
        let rt = &fx.runtime;
        assert!(
            rt.image_present(&fx.image).await.expect("image_present"),
            "{} present",
            fx.image
        );
        assert!(
            !rt.image_present(MISSING_IMAGE)
                .await
                .expect("image_present missing")
        );
        let e = expect_err("pull missing", rt.pull_image(MISSING_IMAGE).await, |e| {
            e.is_not_found() || e.is_unavailable()
        });
        assert!(
            e.to_string().contains("caas-test/does-not-exist"),
            "the error should name the image: {e}"
        );
        assert!(
            !rt.image_present(MISSING_IMAGE)
                .await
                .expect("image_present after pull")
        );
    })
    .await
}
