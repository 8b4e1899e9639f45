//! Conformance suite for the metrics part of the [`Store`] port: raw samples, rollups,
//! range queries and retention.
//!
//! ```text
//! mod metrics {
//!     use super::*;
//!     caas_testkit::metrics_suite!(fresh_store());
//! }
//! ```
//!
//! `$make` is an expression evaluating to a future of `Option<Arc<dyn Store>>` (`None`: skip —
//! the backend's setup decides whether that is allowed, see [`crate::env`]). Each behaviour
//! uses its own service ids and time ranges, so a shared database is fine; the retention
//! behaviour only touches the year 2001.

use std::sync::Arc;

use caas_core::model::{MetricPoint, MetricSample, Resolution};
use caas_core::{OrgId, ServiceId, Store};
use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng};

/// Expands into one `#[tokio::test]` per metrics behaviour.
#[macro_export]
macro_rules! metrics_suite {
    ($make:expr) => {
        $crate::metrics_suite!(@tests $make;
            raw_samples_read_back_in_time_order,
            queries_are_half_open_and_per_service,
            minute_rollup_equals_the_raw_samples,
            hour_and_day_rollups_equal_the_raw_data_they_summarise,
            rollup_is_idempotent_and_picks_up_late_samples,
            incomplete_buckets_are_not_rolled_up,
            rolling_up_raw_is_invalid_input,
            retention_drops_only_older_points_of_that_resolution,
            large_batches_are_stored_whole,
            random_data_rolls_up_exactly,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(store) = $make.await else { return; };
                $crate::metrics::$name(store).await;
            }
        )+
    };
}

/// A day-aligned instant in `year`, the base of a behaviour's time range.
pub fn base(year: i32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, 3, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// A sample of `service` at `at` with the given CPU and memory readings; counters grow with
/// `memory` so their maxima are checkable.
pub fn sample(service: ServiceId, at: DateTime<Utc>, cpu: f64, memory: u64) -> MetricSample {
    MetricSample {
        org: OrgId::new(),
        service,
        at,
        cpu_percent: cpu,
        memory_bytes: memory,
        memory_limit_bytes: 512 * 1024 * 1024,
        net_rx_bytes: memory * 2,
        net_tx_bytes: memory * 3,
        block_read_bytes: memory * 4,
        block_write_bytes: memory * 5,
        pids: memory % 7 + 1,
    }
}

/// A service running steadily: a sample every 10 s for `minutes` from `from`, at `cpu` % of
/// one core, 100 MiB in use of a 512 MiB limit, two processes, no I/O.
pub fn steady(
    org: OrgId,
    service: ServiceId,
    from: DateTime<Utc>,
    minutes: i64,
    cpu: f64,
) -> Vec<MetricSample> {
    (0..minutes * 6)
        .map(|i| MetricSample {
            org,
            service,
            at: from + chrono::Duration::seconds(i * 10),
            cpu_percent: cpu,
            memory_bytes: 100 * 1024 * 1024,
            memory_limit_bytes: 512 * 1024 * 1024,
            net_rx_bytes: 0,
            net_tx_bytes: 0,
            block_read_bytes: 0,
            block_write_bytes: 0,
            pids: 2,
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// Asserts two points agree (floating values to a relative 1e-6).
pub fn assert_point_eq(actual: &MetricPoint, expected: &MetricPoint) {
    let ctx = format!("\nactual:   {actual:?}\nexpected: {expected:?}");
    assert_eq!(actual.service, expected.service, "{ctx}");
    assert_eq!(actual.at, expected.at, "{ctx}");
    assert_eq!(actual.samples, expected.samples, "{ctx}");
    for (a, e) in [
        (actual.cpu_percent, expected.cpu_percent),
        (actual.memory_bytes, expected.memory_bytes),
        (actual.pids, expected.pids),
    ] {
        assert!(
            close(a.avg, e.avg) && close(a.min, e.min) && close(a.max, e.max),
            "{ctx}"
        );
    }
    assert_eq!(
        actual.memory_limit_bytes, expected.memory_limit_bytes,
        "{ctx}"
    );
    assert_eq!(actual.net_rx_bytes, expected.net_rx_bytes, "{ctx}");
    assert_eq!(actual.net_tx_bytes, expected.net_tx_bytes, "{ctx}");
    assert_eq!(actual.block_read_bytes, expected.block_read_bytes, "{ctx}");
    assert_eq!(
        actual.block_write_bytes, expected.block_write_bytes,
        "{ctx}"
    );
}

/// What a rollup of `samples` into `resolution` must contain, computed here from scratch.
pub fn expected_rollup(samples: &[MetricSample], resolution: Resolution) -> Vec<MetricPoint> {
    let mut groups: std::collections::BTreeMap<(ServiceId, DateTime<Utc>), Vec<MetricPoint>> =
        std::collections::BTreeMap::new();
    for s in samples {
        groups
            .entry((s.service, resolution.bucket(s.at)))
            .or_default()
            .push(MetricPoint::from_sample(s));
    }
    groups
        .into_iter()
        .filter_map(|((_, at), pts)| MetricPoint::summarise(at, &pts))
        .collect()
}

async fn roll_all(store: &dyn Store, since: DateTime<Utc>, until: DateTime<Utc>) {
    for r in [Resolution::Minute, Resolution::Hour, Resolution::Day] {
        store
            .rollup_metrics(r, since, until)
            .await
            .unwrap_or_else(|e| panic!("rollup {r:?}: {e}"));
    }
}

/// Raw samples come back exactly, oldest first.
pub async fn raw_samples_read_back_in_time_order(store: Arc<dyn Store>) {
    let svc = ServiceId::new();
    let t0 = base(2021);
    let samples: Vec<MetricSample> = (0..5)
        .rev()
        .map(|i| {
            sample(
                svc,
                t0 + Duration::seconds(10 * i),
                12.5 * i as f64,
                1000 * (i as u64 + 1),
            )
        })
        .collect();
    assert_eq!(store.insert_metrics(&samples).await.expect("insert"), 5);
    let got = store
        .query_metrics(svc, Resolution::Raw, t0, t0 + Duration::hours(1))
        .await
        .expect("query");
    assert_eq!(got.len(), 5);
    let mut expected: Vec<MetricPoint> = samples.iter().map(MetricPoint::from_sample).collect();
    expected.sort_by_key(|p| p.at);
    for (g, e) in got.iter().zip(&expected) {
        assert_point_eq(g, e);
    }
}

/// `from` is included, `to` excluded, other services invisible.
pub async fn queries_are_half_open_and_per_service(store: Arc<dyn Store>) {
    let (a, b) = (ServiceId::new(), ServiceId::new());
    let t0 = base(2021) + Duration::days(3);
    let samples = vec![
        sample(a, t0, 1.0, 1),
        sample(a, t0 + Duration::seconds(30), 2.0, 2),
        sample(a, t0 + Duration::seconds(60), 3.0, 3),
        sample(b, t0 + Duration::seconds(30), 9.0, 9),
    ];
    store.insert_metrics(&samples).await.expect("insert");
    let got = store
        .query_metrics(a, Resolution::Raw, t0, t0 + Duration::seconds(60))
        .await
        .expect("query");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].at, t0);
    assert!(got.iter().all(|p| p.service == a));
    let empty = store
        .query_metrics(
            ServiceId::new(),
            Resolution::Raw,
            t0,
            t0 + Duration::days(1),
        )
        .await
        .expect("query");
    assert!(empty.is_empty());
}

/// A minute bucket holds exactly the average, minimum and maximum of its raw samples.
pub async fn minute_rollup_equals_the_raw_samples(store: Arc<dyn Store>) {
    let svc = ServiceId::new();
    let t0 = base(2021) + Duration::days(5);
    let samples = vec![
        sample(svc, t0 + Duration::seconds(5), 10.0, 100),
        sample(svc, t0 + Duration::seconds(15), 30.0, 300),
        sample(svc, t0 + Duration::seconds(45), 20.0, 200),
        sample(svc, t0 + Duration::seconds(65), 50.0, 500),
    ];
    store.insert_metrics(&samples).await.expect("insert");
    let n = store
        .rollup_metrics(Resolution::Minute, t0, t0 + Duration::minutes(2))
        .await
        .expect("rollup");
    assert!(n >= 2, "two buckets written, got {n}");
    let got = store
        .query_metrics(svc, Resolution::Minute, t0, t0 + Duration::minutes(2))
        .await
        .expect("query");
    let expected = expected_rollup(&samples, Resolution::Minute);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].samples, 3);
    assert!(close(got[0].cpu_percent.avg, 20.0));
    assert!(close(got[0].cpu_percent.min, 10.0) && close(got[0].cpu_percent.max, 30.0));
    assert_eq!(got[0].net_rx_bytes, 600);
    for (g, e) in got.iter().zip(&expected) {
        assert_point_eq(g, e);
    }
}

/// Hours roll up from minutes and days from hours, and each equals the raw data directly.
pub async fn hour_and_day_rollups_equal_the_raw_data_they_summarise(store: Arc<dyn Store>) {
    let svc = ServiceId::new();
    let t0 = base(2021) + Duration::days(7);
    // Uneven sample counts per minute make a plain average of averages wrong.
    let mut samples = Vec::new();
    for m in 0..150i64 {
        for k in 0..(1 + m % 4) {
            let at = t0 + Duration::minutes(m) + Duration::seconds(k * 7);
            samples.push(sample(
                svc,
                at,
                (m * 3 % 97) as f64 + k as f64,
                (m * 1000 + k) as u64,
            ));
        }
    }
    store.insert_metrics(&samples).await.expect("insert");
    roll_all(&*store, t0, t0 + Duration::days(1)).await;
    for r in [Resolution::Minute, Resolution::Hour, Resolution::Day] {
        let got = store
            .query_metrics(svc, r, t0, t0 + Duration::days(1))
            .await
            .expect("query");
        let expected = expected_rollup(&samples, r);
        assert_eq!(got.len(), expected.len(), "{r:?}");
        for (g, e) in got.iter().zip(&expected) {
            assert_point_eq(g, e);
        }
    }
}

/// Rolling up twice changes nothing; a sample arriving late is included on the next run.
pub async fn rollup_is_idempotent_and_picks_up_late_samples(store: Arc<dyn Store>) {
    let svc = ServiceId::new();
    let t0 = base(2021) + Duration::days(9);
    let mut samples = vec![
        sample(svc, t0 + Duration::seconds(1), 10.0, 10),
        sample(svc, t0 + Duration::seconds(2), 20.0, 20),
    ];
    store.insert_metrics(&samples).await.expect("insert");
    let until = t0 + Duration::minutes(1);
    store
        .rollup_metrics(Resolution::Minute, t0, until)
        .await
        .expect("rollup");
    store
        .rollup_metrics(Resolution::Minute, t0, until)
        .await
        .expect("rollup again");
    let got = store
        .query_metrics(svc, Resolution::Minute, t0, until)
        .await
        .expect("query");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, 2);

    let late = sample(svc, t0 + Duration::seconds(3), 60.0, 60);
    store
        .insert_metrics(std::slice::from_ref(&late))
        .await
        .expect("insert late");
    samples.push(late);
    store
        .rollup_metrics(Resolution::Minute, t0, until)
        .await
        .expect("rollup late");
    let got = store
        .query_metrics(svc, Resolution::Minute, t0, until)
        .await
        .expect("query");
    assert_eq!(got.len(), 1);
    assert_point_eq(&got[0], &expected_rollup(&samples, Resolution::Minute)[0]);
}

/// A bucket that has not ended by `until` is left alone.
pub async fn incomplete_buckets_are_not_rolled_up(store: Arc<dyn Store>) {
    let svc = ServiceId::new();
    let t0 = base(2021) + Duration::days(11);
    store
        .insert_metrics(&[
            sample(svc, t0 + Duration::seconds(10), 1.0, 1),
            sample(svc, t0 + Duration::seconds(70), 2.0, 2),
        ])
        .await
        .expect("insert");
    store
        .rollup_metrics(Resolution::Minute, t0, t0 + Duration::seconds(90))
        .await
        .expect("rollup");
    let got = store
        .query_metrics(svc, Resolution::Minute, t0, t0 + Duration::hours(1))
        .await
        .expect("query");
    assert_eq!(got.len(), 1, "only the first, complete minute");
    assert_eq!(got[0].at, t0);
}

/// Raw samples are not "rolled up".
pub async fn rolling_up_raw_is_invalid_input(store: Arc<dyn Store>) {
    let t0 = base(2021);
    let err = store
        .rollup_metrics(Resolution::Raw, t0, t0 + Duration::hours(1))
        .await
        .expect_err("raw is not a rollup level");
    assert!(err.is_invalid_input(), "{err}");
}

/// Retention removes points older than the cut of one resolution only.
pub async fn retention_drops_only_older_points_of_that_resolution(store: Arc<dyn Store>) {
    let svc = ServiceId::new();
    let t0 = base(2001);
    let samples: Vec<MetricSample> = (0..4)
        .map(|d| sample(svc, t0 + Duration::days(d) + Duration::seconds(5), 1.0, 1))
        .collect();
    store.insert_metrics(&samples).await.expect("insert");
    store
        .rollup_metrics(Resolution::Minute, t0, t0 + Duration::days(5))
        .await
        .expect("rollup");
    let cut = t0 + Duration::days(2);
    let dropped = store
        .delete_metrics_before(Resolution::Raw, cut)
        .await
        .expect("retention");
    assert!(dropped >= 2, "dropped {dropped}");
    let raw = store
        .query_metrics(svc, Resolution::Raw, t0, t0 + Duration::days(5))
        .await
        .expect("query");
    assert_eq!(raw.len(), 2);
    assert!(raw.iter().all(|p| p.at >= cut));
    let minutes = store
        .query_metrics(svc, Resolution::Minute, t0, t0 + Duration::days(5))
        .await
        .expect("query");
    assert_eq!(minutes.len(), 4, "minute rollups are kept");
    store
        .delete_metrics_before(Resolution::Minute, cut)
        .await
        .expect("retention");
    let minutes = store
        .query_metrics(svc, Resolution::Minute, t0, t0 + Duration::days(5))
        .await
        .expect("query");
    assert_eq!(minutes.len(), 2);
}

/// A batch of 5 000 samples is stored whole.
pub async fn large_batches_are_stored_whole(store: Arc<dyn Store>) {
    let svc = ServiceId::new();
    let t0 = base(2022);
    let samples: Vec<MetricSample> = (0..5000)
        .map(|i| {
            sample(
                svc,
                t0 + Duration::milliseconds(250 * i),
                (i % 100) as f64,
                i as u64,
            )
        })
        .collect();
    assert_eq!(store.insert_metrics(&samples).await.expect("insert"), 5000);
    let got = store
        .query_metrics(svc, Resolution::Raw, t0, t0 + Duration::days(1))
        .await
        .expect("query");
    assert_eq!(got.len(), 5000);
    assert_eq!(got[4999].memory_bytes.max, 4999.0);
}

/// Random samples over three services and two days roll up exactly at every level.
pub async fn random_data_rolls_up_exactly(store: Arc<dyn Store>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xcaa5);
    let services = [ServiceId::new(), ServiceId::new(), ServiceId::new()];
    let t0 = base(2023);
    let samples: Vec<MetricSample> = (0..3000)
        .map(|_| {
            let svc = services[rng.random_range(0..services.len())];
            let at = t0 + Duration::milliseconds(rng.random_range(0..2 * 86_400_000));
            let at = at - Duration::nanoseconds(i64::from(at.timestamp_subsec_nanos() % 1000));
            sample(
                svc,
                at,
                rng.random_range(0.0..400.0),
                rng.random_range(0..1u64 << 33),
            )
        })
        .collect();
    store.insert_metrics(&samples).await.expect("insert");
    roll_all(&*store, t0, t0 + Duration::days(3)).await;
    for svc in services {
        let mine: Vec<MetricSample> = samples
            .iter()
            .filter(|s| s.service == svc)
            .cloned()
            .collect();
        for r in [Resolution::Minute, Resolution::Hour, Resolution::Day] {
            let got = store
                .query_metrics(svc, r, t0, t0 + Duration::days(3))
                .await
                .expect("query");
            let expected = expected_rollup(&mine, r);
            assert_eq!(got.len(), expected.len(), "{r:?}");
            for (g, e) in got.iter().zip(&expected) {
                assert_point_eq(g, e);
            }
        }
    }
}
