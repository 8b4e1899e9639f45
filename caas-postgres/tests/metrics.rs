//! What the metrics conformance suite cannot see: the day partitions of `metric_samples`
//! (created on demand, dropped by retention, recreated after another store dropped them),
//! UTC buckets whatever the session's time zone, and refused samples.

#![allow(clippy::unwrap_used)]

mod common;

use caas_core::model::Resolution;
use caas_core::ports::store::prelude::*;
use caas_postgres::PgStore;
use caas_testkit::metrics::{base, expected_rollup, sample};
use chrono::Duration;
use common::{FreshDatabase, TEST_ACQUIRE_TIMEOUT, TEST_POOL_CONNECTIONS};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// A second store on the same schema (its own pool and partition cache).
async fn store_on(options: PgConnectOptions) -> PgStore {
    let pool = PgPoolOptions::new()
        .max_connections(TEST_POOL_CONNECTIONS)
        .acquire_timeout(TEST_ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .unwrap();
    PgStore::from_pool(pool)
}

async fn partitions(store: &PgStore) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'metric_samples'::regclass ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

async fn schema_of(store: &PgStore, table: &str) -> String {
    sqlx::query_scalar(
        "SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = $1::regclass",
    )
    .bind(table)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

async fn fresh() -> Option<(PgStore, FreshDatabase)> {
    common::fresh_pg_store().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_partition_per_utc_day_in_the_tables_schema_dropped_by_retention() {
    let Some((store, db)) = fresh().await else {
        return;
    };
    let svc = caas_core::ServiceId::new();
    let t0 = base(2024);
    // Three days, the last sample a microsecond before midnight.
    let samples = vec![
        sample(svc, t0 + Duration::hours(1), 1.0, 1),
        sample(svc, t0 + Duration::hours(2), 2.0, 2),
        sample(svc, t0 + Duration::days(1) + Duration::hours(1), 3.0, 3),
        sample(
            svc,
            t0 + Duration::days(3) - Duration::microseconds(1),
            4.0,
            4,
        ),
    ];
    assert_eq!(store.insert_metrics(&samples).await.unwrap(), 4);
    assert_eq!(
        partitions(&store).await,
        [
            "metric_samples_p20240301",
            "metric_samples_p20240302",
            "metric_samples_p20240303"
        ]
    );
    for p in partitions(&store).await {
        assert_eq!(schema_of(&store, &p).await, db.name);
    }

    // The cut in the middle of the second day: the first partition goes whole, the second
    // loses its row before the cut and stays.
    let cut = t0 + Duration::days(1) + Duration::hours(12);
    assert_eq!(
        store
            .delete_metrics_before(Resolution::Raw, cut)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        partitions(&store).await,
        ["metric_samples_p20240302", "metric_samples_p20240303"]
    );
    let left = store
        .query_metrics(svc, Resolution::Raw, t0, t0 + Duration::days(5))
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].at, samples[3].at);

    // The dropped day can be written again.
    store.insert_metrics(&samples[..1]).await.unwrap();
    assert_eq!(partitions(&store).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_dropped_by_another_store_is_recreated() {
    let Some((a, db)) = fresh().await else {
        return;
    };
    let b = store_on(db.options.clone()).await;
    let svc = caas_core::ServiceId::new();
    let t0 = base(2024) + Duration::days(10);
    a.insert_metrics(&[sample(svc, t0, 1.0, 1)]).await.unwrap();
    // b drops the partition a believes exists.
    assert_eq!(
        b.delete_metrics_before(Resolution::Raw, t0 + Duration::days(1))
            .await
            .unwrap(),
        1
    );
    assert!(partitions(&a).await.is_empty());
    a.insert_metrics(&[sample(svc, t0 + Duration::seconds(1), 2.0, 2)])
        .await
        .unwrap();
    let got = a
        .query_metrics(svc, Resolution::Raw, t0, t0 + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stores_racing_to_create_the_same_partitions_all_succeed() {
    let Some((first, db)) = fresh().await else {
        return;
    };
    let mut stores = vec![first];
    for _ in 0..3 {
        stores.push(store_on(db.options.clone()).await);
    }
    let t0 = base(2024) + Duration::days(20);
    let tasks: Vec<_> = stores
        .iter()
        .map(|s| {
            let s = s.clone();
            tokio::spawn(async move {
                let svc = caas_core::ServiceId::new();
                let batch: Vec<_> = (0..5)
                    .map(|d| sample(svc, t0 + Duration::days(d), 1.0, 1))
                    .collect();
                s.insert_metrics(&batch).await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 5);
    }
    assert_eq!(partitions(&stores[0]).await.len(), 5);
}

/// Hour and day buckets in a session whose time zone is 5:30 off UTC still start on UTC
/// hours and days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_are_utc_whatever_the_session_time_zone() {
    let Some((_, db)) = fresh().await else {
        return;
    };
    // sqlx asks for UTC at connection start; an embedder's after_connect hook may not.
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::query("SET TIME ZONE 'Asia/Kolkata'")
                    .execute(conn)
                    .await
                    .map(|_| ())
            })
        })
        .connect_with(db.options.clone())
        .await
        .unwrap();
    let store = PgStore::from_pool(pool);
    let tz: String = sqlx::query_scalar("SHOW TimeZone")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(tz, "Asia/Kolkata");
    let svc = caas_core::ServiceId::new();
    let t0 = base(2024) + Duration::days(30);
    let samples: Vec<_> = (0..240)
        .map(|m| {
            sample(
                svc,
                t0 + Duration::minutes(m) + Duration::seconds(3),
                m as f64,
                m as u64,
            )
        })
        .collect();
    store.insert_metrics(&samples).await.unwrap();
    for r in [Resolution::Minute, Resolution::Hour, Resolution::Day] {
        store
            .rollup_metrics(r, t0, t0 + Duration::days(2))
            .await
            .unwrap();
    }
    let hours = store
        .query_metrics(svc, Resolution::Hour, t0, t0 + Duration::days(1))
        .await
        .unwrap();
    let expected = expected_rollup(&samples, Resolution::Hour);
    assert_eq!(hours.len(), 4);
    for (h, e) in hours.iter().zip(&expected) {
        assert_eq!((h.at, h.samples), (e.at, e.samples));
    }
    let days = store
        .query_metrics(svc, Resolution::Day, t0, t0 + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!((days[0].at, days[0].samples), (t0, 240));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstorable_samples_are_invalid_input_and_store_nothing() {
    let Some((store, _db)) = fresh().await else {
        return;
    };
    let svc = caas_core::ServiceId::new();
    let t0 = base(2024) + Duration::days(40);
    let mut bad = sample(svc, t0 + Duration::seconds(1), 1.0, 1);
    bad.net_rx_bytes = u64::MAX;
    let e = store
        .insert_metrics(&[sample(svc, t0, 1.0, 1), bad])
        .await
        .unwrap_err();
    assert!(e.is_invalid_input(), "{e:?}");
    assert_eq!(e.field(), Some("net_rx_bytes"));
    let mut nan = sample(svc, t0, 1.0, 1);
    nan.cpu_percent = f64::NAN;
    let e = store.insert_metrics(&[nan]).await.unwrap_err();
    assert_eq!(e.field(), Some("cpu_percent"));
    assert!(
        store
            .query_metrics(svc, Resolution::Raw, t0, t0 + Duration::days(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(partitions(&store).await.is_empty());
    assert_eq!(store.insert_metrics(&[]).await.unwrap(), 0);
}
