//! Metrics: raw samples in `metric_samples` (range-partitioned by UTC day), rollups in
//! `metric_rollups` (list-partitioned by resolution); see "Metrics" in the crate docs and
//! `migrations/0002_metrics.sql`.
//!
//! Metric times are kept to the microsecond, truncated towards the past ([`floor_micros`]),
//! and range bounds are rounded up to the next microsecond ([`ceil_micros`]), so `at < to`
//! on the stored value means exactly what it means on the sample. sqlx would otherwise
//! truncate towards 2000-01-01, which for older times can move a sample across midnight into
//! a day whose partition was not created.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

use caas_core::model::{Aggregate, MetricPoint, MetricSample, Resolution};
use caas_core::{Error, Result, ServiceId};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use sqlx::PgConnection;
use sqlx::postgres::{PgPool, PgRow};
use uuid::Uuid;

use crate::PgStore;
use crate::codec::{finish, get, get_u64};
use crate::error::{SERVICE, db_error, from_i64};

/// At most this many points per query.
const QUERY_LIMIT: i64 = 10_000;

/// Partitions whose planner estimate (`pg_class.reltuples`) is at least this many rows are
/// reported by their estimate when retention drops them; smaller (or never analysed) ones are
/// counted exactly, which is cheap at that size.
const COUNT_EXACTLY_BELOW: f32 = 1_000_000.0;

/// How long retention waits for the lock on `metric_samples` that dropping a partition needs.
/// While it waits, new inserts queue behind it, so the wait is bounded; on timeout the call
/// fails with `Unavailable` and can simply be retried.
const DROP_LOCK_TIMEOUT: &str = "5s";

/// Which day partitions of `metric_samples` this store has seen exist, so the insert path
/// issues no DDL once a day's partition is there.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartitionCache(Arc<Mutex<Partitions>>);

#[derive(Debug, Default)]
struct Partitions {
    /// `quote_ident` of the schema holding `metric_samples`, once looked up.
    schema: Option<String>,
    /// Days whose partition exists.
    days: HashSet<NaiveDate>,
}

impl PartitionCache {
    fn lock(&self) -> MutexGuard<'_, Partitions> {
        // The set is only ever extended or shrunk by whole statements; a panic elsewhere
        // while it was held cannot leave it half-updated.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn forget(&self, days: &BTreeSet<NaiveDate>) {
        let mut p = self.lock();
        for d in days {
            p.days.remove(d);
        }
    }
}

/// `at` truncated to the microsecond, towards the past.
pub(crate) fn floor_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at - Duration::nanoseconds(i64::from(at.timestamp_subsec_nanos() % 1000))
}

/// `at` rounded up to the microsecond.
pub(crate) fn ceil_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let floor = floor_micros(at);
    if floor == at {
        at
    } else {
        floor + Duration::microseconds(1)
    }
}

/// Name of the partition holding `day`.
fn partition_name(day: NaiveDate) -> String {
    format!("metric_samples_p{}", day.format("%Y%m%d"))
}

/// The day of a partition named by [`partition_name`].
fn partition_day(name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix("metric_samples_p")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// Midnight (UTC) starting `day`.
fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// A batch as bound: one array per column.
#[derive(Default)]
struct Columns {
    service: Vec<Uuid>,
    org: Vec<Uuid>,
    at: Vec<DateTime<Utc>>,
    cpu: Vec<f64>,
    memory: Vec<i64>,
    memory_limit: Vec<i64>,
    net_rx: Vec<i64>,
    net_tx: Vec<i64>,
    block_read: Vec<i64>,
    block_write: Vec<i64>,
    pids: Vec<i64>,
}

/// An amount for a BIGINT column. Errors: `InvalidInput` naming `field` above `i64::MAX`.
fn amount(i: usize, field: &'static str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| {
        Error::invalid(
            field,
            format!(
                "sample {i}: {v} is larger than the largest value the store can keep ({})",
                i64::MAX
            ),
        )
    })
}

impl Columns {
    /// Checks every sample before anything is written: a bad sample stores nothing.
    fn new(samples: &[MetricSample]) -> Result<Self> {
        let n = samples.len();
        let mut c = Columns {
            service: Vec::with_capacity(n),
            org: Vec::with_capacity(n),
            at: Vec::with_capacity(n),
            cpu: Vec::with_capacity(n),
            memory: Vec::with_capacity(n),
            memory_limit: Vec::with_capacity(n),
            net_rx: Vec::with_capacity(n),
            net_tx: Vec::with_capacity(n),
            block_read: Vec::with_capacity(n),
            block_write: Vec::with_capacity(n),
            pids: Vec::with_capacity(n),
        };
        for (i, s) in samples.iter().enumerate() {
            if !s.cpu_percent.is_finite() {
                return Err(Error::invalid(
                    "cpu_percent",
                    format!("sample {i}: {} is not a finite number", s.cpu_percent),
                ));
            }
            let at = floor_micros(s.at);
            if !(1..=9999).contains(&at.year()) {
                return Err(Error::invalid(
                    "at",
                    format!("sample {i}: {at} is outside the years 1 to 9999 the store keeps"),
                ));
            }
            c.service.push(s.service.0);
            c.org.push(s.org.0);
            c.at.push(at);
            c.cpu.push(s.cpu_percent);
            c.memory.push(amount(i, "memory_bytes", s.memory_bytes)?);
            c.memory_limit
                .push(amount(i, "memory_limit_bytes", s.memory_limit_bytes)?);
            c.net_rx.push(amount(i, "net_rx_bytes", s.net_rx_bytes)?);
            c.net_tx.push(amount(i, "net_tx_bytes", s.net_tx_bytes)?);
            c.block_read
                .push(amount(i, "block_read_bytes", s.block_read_bytes)?);
            c.block_write
                .push(amount(i, "block_write_bytes", s.block_write_bytes)?);
            c.pids.push(amount(i, "pids", s.pids)?);
        }
        Ok(c)
    }

    fn days(&self) -> BTreeSet<NaiveDate> {
        self.at.iter().map(DateTime::date_naive).collect()
    }
}

/// The whole batch in one statement: each column travels as one array parameter and
/// `UNNEST` turns them back into rows, so the statement (and its cached plan) is the same
/// whatever the batch size, with 11 parameters instead of 11 per row.
const INSERT_SQL: &str = "INSERT INTO metric_samples (service_id, org_id, at, cpu_percent, \
     memory_bytes, memory_limit_bytes, net_rx_bytes, net_tx_bytes, block_read_bytes, \
     block_write_bytes, pids) \
     SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[], $4::float8[], \
     $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[])";

async fn insert_once(pool: &PgPool, c: &Columns) -> std::result::Result<u64, sqlx::Error> {
    Ok(sqlx::query(INSERT_SQL)
        .bind(&c.service)
        .bind(&c.org)
        .bind(&c.at)
        .bind(&c.cpu)
        .bind(&c.memory)
        .bind(&c.memory_limit)
        .bind(&c.net_rx)
        .bind(&c.net_tx)
        .bind(&c.block_read)
        .bind(&c.block_write)
        .bind(&c.pids)
        .execute(pool)
        .await?
        .rows_affected())
}

/// Whether `e` says a row had no partition to go to (another store's retention dropped a
/// partition this store had cached).
fn is_missing_partition(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.code().as_deref() == Some("23514") && db.message().starts_with("no partition"))
}

pub(crate) async fn insert(store: &PgStore, samples: &[MetricSample]) -> Result<u64> {
    let columns = Columns::new(samples)?;
    if samples.is_empty() {
        return Ok(0);
    }
    let days = columns.days();
    ensure_partitions(store, &days).await?;
    match insert_once(&store.pool, &columns).await {
        Err(e) if is_missing_partition(&e) => {
            store.partitions.forget(&days);
            ensure_partitions(store, &days).await?;
            insert_once(&store.pool, &columns).await.map_err(db_error)
        }
        result => result.map_err(db_error),
    }
}

/// Creates the partitions of `days` that this store has not seen yet: one round trip of
/// `CREATE TABLE IF NOT EXISTS … PARTITION OF` statements, in the schema of `metric_samples`.
async fn ensure_partitions(store: &PgStore, days: &BTreeSet<NaiveDate>) -> Result<()> {
    let (missing, schema): (Vec<NaiveDate>, _) = {
        let p = store.partitions.lock();
        (
            days.iter()
                .filter(|d| !p.days.contains(d))
                .copied()
                .collect(),
            p.schema.clone(),
        )
    };
    if missing.is_empty() {
        return Ok(());
    }
    let schema = match schema {
        Some(s) => s,
        None => {
            let s: String = sqlx::query_scalar(
                "SELECT quote_ident(n.nspname) FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.oid = 'metric_samples'::regclass",
            )
            .fetch_one(&store.pool)
            .await
            .map_err(db_error)?;
            store.partitions.lock().schema = Some(s.clone());
            s
        }
    };
    let mut ddl = String::new();
    for day in &missing {
        let next = day
            .succ_opt()
            .ok_or_else(|| Error::invalid("at", format!("{day} is too far in the future")))?;
        // Dates are checked to lie in years 1..=9999, so they print as YYYY-MM-DD.
        let _ = writeln!(
            ddl,
            "CREATE TABLE IF NOT EXISTS {schema}.{name} PARTITION OF {schema}.metric_samples \
             FOR VALUES FROM ('{day} 00:00:00+00') TO ('{next} 00:00:00+00');",
            name = partition_name(*day),
        );
    }
    // Two stores creating the same partition at once: the loser fails on the catalog's
    // unique index (23505) or finds the table (42P07); by then the winner has committed, and
    // IF NOT EXISTS succeeds on the next round.
    let mut attempt = 0;
    loop {
        match sqlx::raw_sql(&ddl).execute(&store.pool).await {
            Ok(_) => break,
            Err(sqlx::Error::Database(db))
                if attempt < 3 && matches!(db.code().as_deref(), Some("23505" | "42P07")) =>
            {
                attempt += 1;
            }
            Err(e) => return Err(db_error(e)),
        }
    }
    store.partitions.lock().days.extend(missing);
    Ok(())
}

/// `INSERT INTO metric_rollups (…) <select> ON CONFLICT … DO UPDATE`: replaces buckets rolled
/// up before, so rolling up is idempotent and picks up late samples.
macro_rules! upsert_rollups {
    ($select:literal) => {
        concat!(
            "INSERT INTO metric_rollups (resolution, service_id, at, samples, \
                 cpu_avg, cpu_min, cpu_max, memory_avg, memory_min, memory_max, \
                 memory_limit_bytes, net_rx_bytes, net_tx_bytes, block_read_bytes, \
                 block_write_bytes, pids_avg, pids_min, pids_max) ",
            $select,
            " ON CONFLICT (resolution, service_id, at) DO UPDATE SET \
                 samples = excluded.samples, \
                 cpu_avg = excluded.cpu_avg, cpu_min = excluded.cpu_min, \
                 cpu_max = excluded.cpu_max, memory_avg = excluded.memory_avg, \
                 memory_min = excluded.memory_min, memory_max = excluded.memory_max, \
                 memory_limit_bytes = excluded.memory_limit_bytes, \
                 net_rx_bytes = excluded.net_rx_bytes, net_tx_bytes = excluded.net_tx_bytes, \
                 block_read_bytes = excluded.block_read_bytes, \
                 block_write_bytes = excluded.block_write_bytes, \
                 pids_avg = excluded.pids_avg, pids_min = excluded.pids_min, \
                 pids_max = excluded.pids_max"
        )
    };
}

/// The minute level from raw samples. `$1` is the target resolution, which is also the
/// `date_trunc` unit; buckets are cut in UTC whatever the session's time zone.
const ROLLUP_FROM_RAW: &str = upsert_rollups!(
    "SELECT $1::text, service_id, date_trunc($1::text, at, 'UTC') AS bucket, count(*), \
         avg(cpu_percent), min(cpu_percent), max(cpu_percent), \
         avg(memory_bytes::float8), min(memory_bytes)::float8, max(memory_bytes)::float8, \
         max(memory_limit_bytes), max(net_rx_bytes), max(net_tx_bytes), \
         max(block_read_bytes), max(block_write_bytes), \
         avg(pids::float8), min(pids)::float8, max(pids)::float8 \
     FROM metric_samples \
     WHERE at >= $2 AND at < $3 \
     GROUP BY service_id, bucket"
);

/// The hour (day) level from minute (hour) rollups, `$4`: averages weighted by the sample
/// counts, minimum of the minima, maximum of the maxima and of the counters.
const ROLLUP_FROM_ROLLUPS: &str = upsert_rollups!(
    "SELECT $1::text, service_id, date_trunc($1::text, at, 'UTC') AS bucket, sum(samples), \
         sum(cpu_avg * samples) / sum(samples)::float8, min(cpu_min), max(cpu_max), \
         sum(memory_avg * samples) / sum(samples)::float8, min(memory_min), max(memory_max), \
         max(memory_limit_bytes), max(net_rx_bytes), max(net_tx_bytes), \
         max(block_read_bytes), max(block_write_bytes), \
         sum(pids_avg * samples) / sum(samples)::float8, min(pids_min), max(pids_max) \
     FROM metric_rollups \
     WHERE resolution = $4::text AND at >= $2 AND at < $3 \
     GROUP BY service_id, bucket"
);

pub(crate) async fn rollup(
    pool: &PgPool,
    resolution: Resolution,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<u64> {
    let Some(source) = resolution.source() else {
        return Err(Error::invalid(
            "resolution",
            "raw samples are not rolled up; give minute, hour or day",
        ));
    };
    // Buckets b with b >= bucket(since) and b + width <= until, i.e. b < bucket(until) (both
    // are aligned): their source rows are exactly those in [bucket(since), bucket(until)).
    let start = resolution.bucket(since);
    let end = resolution.bucket(until);
    if end <= start {
        return Ok(0);
    }
    let query = if source == Resolution::Raw {
        sqlx::query(ROLLUP_FROM_RAW)
            .bind(resolution.as_str())
            .bind(start)
            .bind(end)
    } else {
        sqlx::query(ROLLUP_FROM_ROLLUPS)
            .bind(resolution.as_str())
            .bind(start)
            .bind(end)
            .bind(source.as_str())
    };
    Ok(query.execute(pool).await.map_err(db_error)?.rows_affected())
}

fn raw_point(service: ServiceId, row: &PgRow) -> Result<MetricPoint> {
    let one = |v: f64| Aggregate {
        avg: v,
        min: v,
        max: v,
    };
    Ok(MetricPoint {
        service,
        at: get(row, "at")?,
        samples: 1,
        cpu_percent: one(get(row, "cpu_percent")?),
        memory_bytes: one(get_u64(row, "memory_bytes")? as f64),
        memory_limit_bytes: get_u64(row, "memory_limit_bytes")?,
        net_rx_bytes: get_u64(row, "net_rx_bytes")?,
        net_tx_bytes: get_u64(row, "net_tx_bytes")?,
        block_read_bytes: get_u64(row, "block_read_bytes")?,
        block_write_bytes: get_u64(row, "block_write_bytes")?,
        pids: one(get_u64(row, "pids")? as f64),
    })
}

fn rollup_point(service: ServiceId, row: &PgRow) -> Result<MetricPoint> {
    let agg = |prefix: &str| -> Result<Aggregate> {
        Ok(Aggregate {
            avg: get(row, &format!("{prefix}_avg"))?,
            min: get(row, &format!("{prefix}_min"))?,
            max: get(row, &format!("{prefix}_max"))?,
        })
    };
    Ok(MetricPoint {
        service,
        at: get(row, "at")?,
        samples: get_u64(row, "samples")?,
        cpu_percent: agg("cpu")?,
        memory_bytes: agg("memory")?,
        memory_limit_bytes: get_u64(row, "memory_limit_bytes")?,
        net_rx_bytes: get_u64(row, "net_rx_bytes")?,
        net_tx_bytes: get_u64(row, "net_tx_bytes")?,
        block_read_bytes: get_u64(row, "block_read_bytes")?,
        block_write_bytes: get_u64(row, "block_write_bytes")?,
        pids: agg("pids")?,
    })
}

pub(crate) async fn query(
    pool: &PgPool,
    service: ServiceId,
    resolution: Resolution,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MetricPoint>> {
    let (from, to) = (ceil_micros(from), ceil_micros(to));
    if to <= from {
        return Ok(Vec::new());
    }
    if resolution == Resolution::Raw {
        sqlx::query(
            "SELECT at, cpu_percent, memory_bytes, memory_limit_bytes, net_rx_bytes, \
             net_tx_bytes, block_read_bytes, block_write_bytes, pids FROM metric_samples \
             WHERE service_id = $1 AND at >= $2 AND at < $3 ORDER BY at LIMIT $4",
        )
        .bind(service.0)
        .bind(from)
        .bind(to)
        .bind(QUERY_LIMIT)
        .fetch_all(pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| raw_point(service, row))
        .collect()
    } else {
        sqlx::query(
            "SELECT at, samples, cpu_avg, cpu_min, cpu_max, memory_avg, memory_min, memory_max, \
             memory_limit_bytes, net_rx_bytes, net_tx_bytes, block_read_bytes, \
             block_write_bytes, pids_avg, pids_min, pids_max FROM metric_rollups \
             WHERE resolution = $1 AND service_id = $2 AND at >= $3 AND at < $4 \
             ORDER BY at LIMIT $5",
        )
        .bind(resolution.as_str())
        .bind(service.0)
        .bind(from)
        .bind(to)
        .bind(QUERY_LIMIT)
        .fetch_all(pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| rollup_point(service, row))
        .collect()
    }
}

pub(crate) async fn delete_before(
    store: &PgStore,
    resolution: Resolution,
    before: DateTime<Utc>,
) -> Result<u64> {
    let before = ceil_micros(before);
    if resolution != Resolution::Raw {
        let deleted = sqlx::query("DELETE FROM metric_rollups WHERE resolution = $1 AND at < $2")
            .bind(resolution.as_str())
            .bind(before)
            .execute(&store.pool)
            .await
            .map_err(db_error)?
            .rows_affected();
        return Ok(deleted);
    }
    let dropped = drop_partitions_before(store, before).await?;
    // What is left before the cut lies in the partially covered day (or in a partition that
    // does not follow the store's naming); partition pruning keeps this to those partitions.
    let deleted = sqlx::query("DELETE FROM metric_samples WHERE at < $1")
        .bind(before)
        .execute(&store.pool)
        .await
        .map_err(db_error)?
        .rows_affected();
    Ok(dropped + deleted)
}

/// Drops the day partitions that end at or before `before`, returning the rows they held:
/// counted exactly for partitions the planner estimates below [`COUNT_EXACTLY_BELOW`] rows
/// (or has never analysed), estimated from `pg_class.reltuples` above that.
async fn drop_partitions_before(store: &PgStore, before: DateTime<Utc>) -> Result<u64> {
    let partitions: Vec<(String, String, f32)> = sqlx::query_as(
        "SELECT c.oid::regclass::text, c.relname::text, c.reltuples FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'metric_samples'::regclass",
    )
    .fetch_all(&store.pool)
    .await
    .map_err(db_error)?;
    let mut doomed = Vec::new();
    let mut days = BTreeSet::new();
    let mut rows = 0u64;
    for (qualified, name, estimate) in partitions {
        let Some(day) = partition_day(&name) else {
            continue;
        };
        let Some(end) = day.succ_opt().map(midnight) else {
            continue;
        };
        if end > before {
            continue;
        }
        rows += if estimate >= COUNT_EXACTLY_BELOW {
            estimate as u64
        } else {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {qualified}"))
                .persistent(false)
                .fetch_one(&store.pool)
                .await
                .map_err(db_error)?;
            from_i64("count", n)?
        };
        doomed.push(qualified);
        days.insert(day);
    }
    if doomed.is_empty() {
        return Ok(0);
    }
    // Dropping a partition takes an exclusive lock on metric_samples for the moment of the
    // drop; the lock timeout bounds how long inserts queue behind a drop that is itself
    // waiting for a long query.
    let mut tx = store.pool.begin().await.map_err(db_error)?;
    let result = drop_tables(&mut tx, &doomed.join(", ")).await;
    let result = finish(tx, result).await;
    // Whatever happened, forget the days: the next insert of one of them checks again.
    store.partitions.forget(&days);
    result.map(|_| rows)
}

/// `DROP TABLE IF EXISTS tables` under a lock timeout (ending with the transaction).
async fn drop_tables(conn: &mut PgConnection, tables: &str) -> Result<()> {
    let lock_not_available = |e: sqlx::Error| match e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("55P03") => Error::Unavailable {
            service: SERVICE,
            message: format!(
                "retention could not lock metric_samples within {DROP_LOCK_TIMEOUT} to drop \
                     old partitions (long-running queries?); retry later"
            ),
            source: Some(Box::new(sqlx::Error::Database(db))),
        },
        e => db_error(e),
    };
    sqlx::query(&format!("SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'"))
        .persistent(false)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    sqlx::query(&format!("DROP TABLE IF EXISTS {tables}"))
        .persistent(false)
        .execute(&mut *conn)
        .await
        .map_err(lock_not_available)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn micros_round_towards_past_and_future() {
        let t = Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap()
            + Duration::nanoseconds(999_999_500);
        assert_eq!(
            floor_micros(t),
            Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap()
                + Duration::microseconds(999_999)
        );
        assert_eq!(
            ceil_micros(t),
            Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap()
        );
        let exact = Utc.with_ymd_and_hms(2021, 3, 1, 0, 0, 0).unwrap() + Duration::microseconds(7);
        assert_eq!(floor_micros(exact), exact);
        assert_eq!(ceil_micros(exact), exact);
    }

    #[test]
    fn partition_names_round_trip() {
        let day = NaiveDate::from_ymd_opt(2001, 3, 4).unwrap();
        assert_eq!(partition_name(day), "metric_samples_p20010304");
        assert_eq!(partition_day(&partition_name(day)), Some(day));
        assert_eq!(partition_day("metric_samples_p2001030"), None);
        assert_eq!(partition_day("metric_samples_default"), None);
        assert_eq!(
            midnight(day),
            Utc.with_ymd_and_hms(2001, 3, 4, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn bad_samples_are_invalid_input_naming_the_field() {
        let s = MetricSample {
            org: caas_core::OrgId::new(),
            service: ServiceId::new(),
            at: Utc.with_ymd_and_hms(2021, 3, 1, 0, 0, 0).unwrap(),
            cpu_percent: 1.0,
            memory_bytes: 1,
            memory_limit_bytes: 1,
            net_rx_bytes: 1,
            net_tx_bytes: 1,
            block_read_bytes: 1,
            block_write_bytes: u64::MAX,
            pids: 1,
        };
        let err = |s: &MetricSample| Columns::new(std::slice::from_ref(s)).err().unwrap();
        assert_eq!(err(&s).field(), Some("block_write_bytes"));
        let s = MetricSample {
            block_write_bytes: 1,
            cpu_percent: f64::NAN,
            ..s
        };
        assert_eq!(err(&s).field(), Some("cpu_percent"));
        let s = MetricSample {
            cpu_percent: 1.0,
            at: Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
            ..s
        };
        assert_eq!(err(&s).field(), Some("at"));
    }
}
