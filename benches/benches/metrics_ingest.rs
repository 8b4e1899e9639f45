//! P5 metrics ingest: rows/s of [`PgStore::insert_metrics`] (one `INSERT … SELECT FROM
//! UNNEST(arrays)` per batch) for batches of 1 000 samples, next to a `COPY … FROM STDIN
//! (FORMAT binary)` baseline into the same partitioned table, encoded here.
//!
//! ```text
//! cargo bench -p caas-benches --bench metrics_ingest            # ~30 s
//! cargo bench -p caas-benches --bench metrics_ingest -- --quick
//! ```
//!
//! Needs `CAAS_TEST_DATABASE_URL` (or `/var/tmp/caas-test-env/env`); without it the bench
//! says why and exits 0. It works in its own schema `caas_t_<secs>_bench_<id>` of that
//! database (migrated there, dropped at the end; if the bench dies half-way, the PostgreSQL
//! tests' sweep drops it once it is stale). Both sides time everything from `&[MetricSample]`
//! to the committed rows: encoding, a pooled connection, the round trips, the server's work.
//! The table is truncated (untimed) every 200 batches, so neither side pays for the other's
//! rows. After criterion, both run 50 more batches each, alternating, under a plain clock,
//! and the bench prints
//! `P5 metrics ingest: ours X rows/s, COPY BINARY Y rows/s, ratio Z (goal >= 0.5)`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use caas_core::ports::store::prelude::*;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use caas_benches::{Figure, Goal, PgSchema};
use caas_core::ServiceId;
use caas_core::model::MetricSample;
use caas_postgres::PgStore;
use caas_testkit::metrics::{base, sample};
use criterion::{Criterion, Throughput};
use sqlx::PgPool;

/// Samples per batch: one scrape of 1 000 containers.
const BATCH: usize = 1_000;

/// Batches per side in the plain-clock comparison.
const CLOCK_BATCHES: u32 = 50;

/// Batches between two (untimed) `TRUNCATE`s while criterion measures: the table stays
/// between 0 and 200 000 rows.
const TRUNCATE_EVERY: u64 = 200;

const COPY_SQL: &str = "COPY metric_samples (service_id, org_id, at, cpu_percent, \
     memory_bytes, memory_limit_bytes, net_rx_bytes, net_tx_bytes, block_read_bytes, \
     block_write_bytes, pids) FROM STDIN (FORMAT binary)";

/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Batches of one scrape each: the same containers, one second apart, all within one day
/// (so both sides write to the same, existing partition).
struct Scrapes {
    services: Vec<ServiceId>,
    next: AtomicI64,
}

impl Scrapes {
    fn new() -> Self {
        Self {
            services: (0..BATCH).map(|_| ServiceId::new()).collect(),
            next: AtomicI64::new(0),
        }
    }

    fn batch(&self) -> Vec<MetricSample> {
        let k = self.next.fetch_add(1, Ordering::Relaxed) % 86_000;
        let at = base(2030) + chrono::Duration::seconds(k);
        self.services
            .iter()
            .enumerate()
            .map(|(i, svc)| {
                let mut s = sample(
                    *svc,
                    at,
                    (i % 400) as f64 * 0.25,
                    ((k as u64) << 20) | i as u64,
                );
                s.pids = (i % 50) as u64 + 1;
                s
            })
            .collect()
    }
}

/// The PGCOPY binary format: signature, flags, header extension length, then per row the
/// field count and each field as length + big-endian value, then the trailer.
fn pgcopy(samples: &[MetricSample]) -> Vec<u8> {
    // 2 + 2×(4+16) + 9×(4+8) per row.
    let mut buf = Vec::with_capacity(19 + 2 + samples.len() * 150);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes());
    buf.extend_from_slice(&0i32.to_be_bytes());
    let int8 = |buf: &mut Vec<u8>, v: i64| {
        buf.extend_from_slice(&8i32.to_be_bytes());
        buf.extend_from_slice(&v.to_be_bytes());
    };
    let amount = |v: u64| i64::try_from(v).expect("amount fits a BIGINT");
    for s in samples {
        buf.extend_from_slice(&11i16.to_be_bytes());
        for id in [s.service.0, s.org.0] {
            buf.extend_from_slice(&16i32.to_be_bytes());
            buf.extend_from_slice(id.as_bytes());
        }
        int8(&mut buf, s.at.timestamp_micros() - PG_EPOCH_MICROS);
        buf.extend_from_slice(&8i32.to_be_bytes());
        buf.extend_from_slice(&s.cpu_percent.to_bits().to_be_bytes());
        for v in [
            s.memory_bytes,
            s.memory_limit_bytes,
            s.net_rx_bytes,
            s.net_tx_bytes,
            s.block_read_bytes,
            s.block_write_bytes,
            s.pids,
        ] {
            int8(&mut buf, amount(v));
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    buf
}

async fn copy_binary(pool: &PgPool, samples: &[MetricSample]) -> u64 {
    let data = pgcopy(samples);
    let mut conn = pool.acquire().await.expect("connection");
    let mut copy = conn.copy_in_raw(COPY_SQL).await.expect("COPY");
    copy.send(data).await.expect("COPY data");
    copy.finish().await.expect("COPY finish")
}

async fn ours(store: &PgStore, samples: &[MetricSample]) -> u64 {
    store.insert_metrics(samples).await.expect("insert_metrics")
}

/// COPY's rows read back through the store equal the samples: the hand-written encoding is
/// right, so the comparison is fair.
async fn check_copy_encoding(setup: &PgSchema, scrapes: &Scrapes) {
    let batch = scrapes.batch();
    // insert_metrics creates the day's partition for COPY.
    ours(&setup.store, &batch[..1]).await;
    assert_eq!(copy_binary(&setup.pool, &batch).await, BATCH as u64);
    for s in [&batch[0], &batch[BATCH - 1]] {
        let points = setup
            .store
            .query_metrics(
                s.service,
                caas_core::model::Resolution::Raw,
                s.at,
                s.at + chrono::Duration::seconds(1),
            )
            .await
            .expect("query");
        let copied = points.last().expect("COPY row");
        assert_eq!(copied, &caas_core::model::MetricPoint::from_sample(s));
    }
}

/// Empties `metric_samples` (keeping its partitions).
async fn truncate(pool: &PgPool) {
    sqlx::query("TRUNCATE metric_samples")
        .execute(pool)
        .await
        .expect("TRUNCATE");
}

/// Time spent in `run` over `iters` batches. The table is emptied before the first and after
/// every [`TRUNCATE_EVERY`] batches (untimed), so both sides write into a table of the same
/// size range however many iterations criterion asks for.
async fn timed<F, Fut>(pool: &PgPool, scrapes: &Scrapes, iters: u64, mut run: F) -> Duration
where
    F: FnMut(Vec<MetricSample>) -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let mut busy = Duration::ZERO;
    for i in 0..iters {
        if i % TRUNCATE_EVERY == 0 {
            truncate(pool).await;
        }
        let batch = scrapes.batch();
        let started = Instant::now();
        let rows = run(batch).await;
        busy += started.elapsed();
        assert_eq!(rows, BATCH as u64);
    }
    busy
}

fn main() {
    const GOAL: (&str, &str, &str) = ("P5", "metrics ingest", ">= 0.50");
    let Some(url) = caas_benches::require("CAAS_TEST_DATABASE_URL", "PostgreSQL", &[GOAL]) else {
        return;
    };
    let rt = caas_benches::tokio_runtime();
    let setup = match rt.block_on(PgSchema::create(&url)) {
        Ok(s) => s,
        Err(e) => {
            caas_benches::unavailable("PostgreSQL", e, &[GOAL]);
            return;
        }
    };
    let scrapes = Scrapes::new();
    rt.block_on(check_copy_encoding(&setup, &scrapes));

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .sample_size(20)
        .configure_from_args();
    {
        let mut group = c.benchmark_group("metrics_ingest");
        group.throughput(Throughput::Elements(BATCH as u64));
        let (store, pool) = (&setup.store, &setup.pool);
        group.bench_function("insert_metrics_unnest_1000", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                timed(pool, &scrapes, iters, |batch| async move {
                    ours(store, &batch).await
                })
            })
        });
        group.bench_function("copy_binary_1000", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                timed(pool, &scrapes, iters, |batch| async move {
                    copy_binary(pool, &batch).await
                })
            })
        });
        group.finish();
    }
    c.final_summary();

    // The same again under a plain clock, alternating batch by batch so that table growth
    // and whatever else the server is doing weigh on both sides alike.
    let (store, pool) = (&setup.store, &setup.pool);
    let (ours_rate, copy_rate) = rt.block_on(async {
        truncate(pool).await;
        let (mut ours_busy, mut copy_busy) = (Duration::ZERO, Duration::ZERO);
        let (mut ours_rows, mut copy_rows) = (0, 0);
        for _ in 0..CLOCK_BATCHES {
            let batch = scrapes.batch();
            let started = Instant::now();
            ours_rows += ours(store, &batch).await;
            ours_busy += started.elapsed();
            let batch = scrapes.batch();
            let started = Instant::now();
            copy_rows += copy_binary(pool, &batch).await;
            copy_busy += started.elapsed();
        }
        (
            ours_rows as f64 / ours_busy.as_secs_f64(),
            copy_rows as f64 / copy_busy.as_secs_f64(),
        )
    });
    Figure {
        id: "P5".into(),
        what: "metrics ingest".into(),
        ours: format!("{ours_rate:.0} rows/s"),
        baseline_name: "COPY BINARY".into(),
        baseline: format!("{copy_rate:.0} rows/s"),
        ratio: ours_rate / copy_rate,
        goal: Goal::RatioAtLeast(0.5),
    }
    .print();

    rt.block_on(async {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM metric_samples")
            .fetch_one(&setup.pool)
            .await
            .unwrap_or(-1);
        let schema = setup.schema.clone();
        setup.drop_schema().await;
        println!("metrics_ingest: {rows} rows written; dropped schema {schema}");
    });
}
