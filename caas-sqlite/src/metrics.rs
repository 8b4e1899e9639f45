//! Metrics: raw samples in `metric_samples`, rollups in `metric_rollups` (see "Metrics" in
//! the crate docs).
//!
//! Times are `INTEGER` microseconds since the epoch ([`codec::micros`]), so a bucket start is
//! integer arithmetic in SQL: `at - ((at % w) + w) % w` floors towards the past for times
//! before 1970 too (SQLite's `%` truncates towards zero).

use std::sync::LazyLock;

use caas_core::model::{Aggregate, MetricPoint, MetricSample, Resolution};
use caas_core::{Error, Result, ServiceId};
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;

use crate::SqliteStore;
use crate::codec::{Cols, all, micros};
use crate::error::db_error;

/// Columns of `metric_samples`, in insert order.
const SAMPLE_COLUMNS: [&str; 11] = [
    "service_id",
    "org_id",
    "at",
    "cpu_percent",
    "memory_bytes",
    "memory_limit_bytes",
    "net_rx_bytes",
    "net_tx_bytes",
    "block_read_bytes",
    "block_write_bytes",
    "pids",
];

/// Rows per `INSERT` statement: 11 × 2 000 = 22 000 bound parameters, under SQLite's limit
/// of 32 766 (since 3.32).
const CHUNK: usize = 2_000;

/// At most this many points per query.
const QUERY_LIMIT: i64 = 10_000;

/// Bucket widths in microseconds.
const fn width_micros(r: Resolution) -> i64 {
    match r {
        Resolution::Raw => 0,
        Resolution::Minute => 60_000_000,
        Resolution::Hour => 3_600_000_000,
        Resolution::Day => 86_400_000_000,
    }
}

/// `INSERT INTO metric_samples (...) VALUES (?, ...), ...` for `rows` rows.
fn insert_sql(rows: usize) -> String {
    let one = format!("({})", vec!["?"; SAMPLE_COLUMNS.len()].join(", "));
    let mut sql = format!(
        "INSERT INTO metric_samples ({}) VALUES ",
        SAMPLE_COLUMNS.join(", ")
    );
    sql.reserve(rows * (one.len() + 1));
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&one);
    }
    sql
}

/// Statements for chunks of `1, 2, 4, …, CHUNK` rows: a batch is inserted as full chunks plus
/// the binary decomposition of the rest, so a connection's statement cache holds at most 12
/// insert statements whatever the batch sizes (one statement per distinct size would crowd
/// it with large, rarely reused statements).
static INSERT_SQL: LazyLock<Vec<(usize, String)>> = LazyLock::new(|| {
    let mut v: Vec<(usize, String)> = std::iter::successors(Some(1usize), |n| Some(n * 2))
        .take_while(|&n| n < CHUNK)
        .map(|n| (n, insert_sql(n)))
        .collect();
    v.push((CHUNK, insert_sql(CHUNK)));
    v.reverse();
    v
});

/// A sample as bound: ids as UUIDs, amounts checked to fit an `i64`.
struct Row {
    service: uuid::Uuid,
    org: uuid::Uuid,
    at: i64,
    cpu: f64,
    ints: [i64; 7],
}

fn row(i: usize, s: &MetricSample) -> Result<Row> {
    if !s.cpu_percent.is_finite() {
        return Err(Error::invalid(
            "cpu_percent",
            format!("sample {i}: {} is not a finite number", s.cpu_percent),
        ));
    }
    let amount = |field: &'static str, v: u64| {
        i64::try_from(v).map_err(|_| {
            Error::invalid(
                field,
                format!(
                    "sample {i}: {v} is larger than the largest value the store can keep ({})",
                    i64::MAX
                ),
            )
        })
    };
    Ok(Row {
        service: s.service.as_uuid(),
        org: s.org.as_uuid(),
        at: micros(s.at),
        cpu: s.cpu_percent,
        ints: [
            amount("memory_bytes", s.memory_bytes)?,
            amount("memory_limit_bytes", s.memory_limit_bytes)?,
            amount("net_rx_bytes", s.net_rx_bytes)?,
            amount("net_tx_bytes", s.net_tx_bytes)?,
            amount("block_read_bytes", s.block_read_bytes)?,
            amount("block_write_bytes", s.block_write_bytes)?,
            amount("pids", s.pids)?,
        ],
    })
}

pub(crate) async fn insert(s: &SqliteStore, samples: &[MetricSample]) -> Result<u64> {
    // Everything is checked before the write lock is taken: a bad sample stores nothing.
    let rows = samples
        .iter()
        .enumerate()
        .map(|(i, m)| row(i, m))
        .collect::<Result<Vec<_>>>()?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut tx = s.write().await?;
    let mut rest = rows.as_slice();
    let mut written = 0;
    for (n, sql) in INSERT_SQL.iter() {
        while rest.len() >= *n {
            let (chunk, tail) = rest.split_at(*n);
            rest = tail;
            let mut q = sqlx::query(sql);
            for r in chunk {
                q = q.bind(r.service).bind(r.org).bind(r.at).bind(r.cpu);
                for v in r.ints {
                    q = q.bind(v);
                }
            }
            written += q
                .execute(tx.conn())
                .await
                .map_err(db_error)?
                .rows_affected();
        }
    }
    tx.commit().await?;
    Ok(written)
}

/// Aggregates of one target bucket from raw samples: plain averages.
const FROM_RAW: &str = "count(*),
           avg(cpu_percent), min(cpu_percent), max(cpu_percent),
           avg(memory_bytes), min(memory_bytes), max(memory_bytes),
           max(memory_limit_bytes), max(net_rx_bytes), max(net_tx_bytes),
           max(block_read_bytes), max(block_write_bytes),
           avg(pids), min(pids), max(pids)
    FROM metric_samples
    WHERE at >= ?1 AND at < ?2";

/// Aggregates of one target bucket from finer rollups: averages weighted by sample counts.
const FROM_ROLLUPS: &str = "sum(samples),
           sum(cpu_avg * samples) / sum(samples), min(cpu_min), max(cpu_max),
           sum(mem_avg * samples) / sum(samples), min(mem_min), max(mem_max),
           max(memory_limit_bytes), max(net_rx_bytes), max(net_tx_bytes),
           max(block_read_bytes), max(block_write_bytes),
           sum(pids_avg * samples) / sum(samples), min(pids_min), max(pids_max)
    FROM metric_rollups
    WHERE resolution = ?3 AND at >= ?1 AND at < ?2";

/// The upsert recomputing every bucket of `target` whose source rows lie in `[?1, ?2)` from
/// `source` (`?3`, unused for raw). Both names and the width come from [`Resolution`], never
/// from callers.
fn rollup_sql(target: Resolution, source: Resolution) -> String {
    let w = width_micros(target);
    let from = if source == Resolution::Raw {
        FROM_RAW
    } else {
        FROM_ROLLUPS
    };
    format!(
        "INSERT INTO metric_rollups (resolution, service_id, at, samples,
           cpu_avg, cpu_min, cpu_max, mem_avg, mem_min, mem_max,
           memory_limit_bytes, net_rx_bytes, net_tx_bytes, block_read_bytes, block_write_bytes,
           pids_avg, pids_min, pids_max)
    SELECT '{target}', service_id, at - ((at % {w}) + {w}) % {w} AS bucket, {from}
    GROUP BY service_id, bucket
    ON CONFLICT (resolution, service_id, at) DO UPDATE SET
        samples = excluded.samples,
        cpu_avg = excluded.cpu_avg, cpu_min = excluded.cpu_min, cpu_max = excluded.cpu_max,
        mem_avg = excluded.mem_avg, mem_min = excluded.mem_min, mem_max = excluded.mem_max,
        memory_limit_bytes = excluded.memory_limit_bytes,
        net_rx_bytes = excluded.net_rx_bytes, net_tx_bytes = excluded.net_tx_bytes,
        block_read_bytes = excluded.block_read_bytes,
        block_write_bytes = excluded.block_write_bytes,
        pids_avg = excluded.pids_avg, pids_min = excluded.pids_min, pids_max = excluded.pids_max",
        target = target.as_str(),
    )
}

pub(crate) async fn rollup(
    s: &SqliteStore,
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
    let start = micros(resolution.bucket(since));
    let end = micros(resolution.bucket(until));
    if end <= start {
        return Ok(0);
    }
    let sql = rollup_sql(resolution, source);
    let mut q = sqlx::query(&sql).bind(start).bind(end);
    if source != Resolution::Raw {
        q = q.bind(source.as_str());
    }
    let mut tx = s.write().await?;
    let written = q
        .execute(tx.conn())
        .await
        .map_err(db_error)?
        .rows_affected();
    tx.commit().await?;
    Ok(written)
}

fn raw_point(row: &SqliteRow) -> Result<MetricPoint> {
    let c = Cols::new(row, "metric_samples");
    let sample = MetricSample {
        org: c.id("org_id")?,
        service: c.id("service_id")?,
        at: c.micros("at")?,
        cpu_percent: c.f64("cpu_percent")?,
        memory_bytes: c.u64("memory_bytes")?,
        memory_limit_bytes: c.u64("memory_limit_bytes")?,
        net_rx_bytes: c.u64("net_rx_bytes")?,
        net_tx_bytes: c.u64("net_tx_bytes")?,
        block_read_bytes: c.u64("block_read_bytes")?,
        block_write_bytes: c.u64("block_write_bytes")?,
        pids: c.u64("pids")?,
    };
    Ok(MetricPoint::from_sample(&sample))
}

fn rollup_point(row: &SqliteRow) -> Result<MetricPoint> {
    let c = Cols::new(row, "metric_rollups");
    let agg = |prefix: &str| -> Result<Aggregate> {
        Ok(Aggregate {
            avg: c.f64(&format!("{prefix}_avg"))?,
            min: c.f64(&format!("{prefix}_min"))?,
            max: c.f64(&format!("{prefix}_max"))?,
        })
    };
    Ok(MetricPoint {
        service: c.id("service_id")?,
        at: c.micros("at")?,
        samples: c.u64("samples")?,
        cpu_percent: agg("cpu")?,
        memory_bytes: agg("mem")?,
        memory_limit_bytes: c.u64("memory_limit_bytes")?,
        net_rx_bytes: c.u64("net_rx_bytes")?,
        net_tx_bytes: c.u64("net_tx_bytes")?,
        block_read_bytes: c.u64("block_read_bytes")?,
        block_write_bytes: c.u64("block_write_bytes")?,
        pids: agg("pids")?,
    })
}

pub(crate) async fn query(
    s: &SqliteStore,
    service: ServiceId,
    resolution: Resolution,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MetricPoint>> {
    let (from, to) = (micros(from), micros(to));
    if resolution == Resolution::Raw {
        let rows = sqlx::query(
            "SELECT * FROM metric_samples WHERE service_id = ? AND at >= ? AND at < ?
             ORDER BY at, rowid LIMIT ?",
        )
        .bind(service.as_uuid())
        .bind(from)
        .bind(to)
        .bind(QUERY_LIMIT)
        .fetch_all(s.pool())
        .await
        .map_err(db_error)?;
        all(&rows, raw_point)
    } else {
        let rows = sqlx::query(
            "SELECT * FROM metric_rollups
             WHERE resolution = ? AND service_id = ? AND at >= ? AND at < ?
             ORDER BY at LIMIT ?",
        )
        .bind(resolution.as_str())
        .bind(service.as_uuid())
        .bind(from)
        .bind(to)
        .bind(QUERY_LIMIT)
        .fetch_all(s.pool())
        .await
        .map_err(db_error)?;
        all(&rows, rollup_point)
    }
}

pub(crate) async fn delete_before(
    s: &SqliteStore,
    resolution: Resolution,
    before: DateTime<Utc>,
) -> Result<u64> {
    let before = micros(before);
    let q = if resolution == Resolution::Raw {
        sqlx::query("DELETE FROM metric_samples WHERE at < ?").bind(before)
    } else {
        sqlx::query("DELETE FROM metric_rollups WHERE resolution = ? AND at < ?")
            .bind(resolution.as_str())
            .bind(before)
    };
    let mut tx = s.write().await?;
    let deleted = q
        .execute(tx.conn())
        .await
        .map_err(db_error)?
        .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_stay_under_the_parameter_limit_and_cover_every_size() {
        assert!(CHUNK * SAMPLE_COLUMNS.len() <= 32_766);
        assert_eq!(INSERT_SQL.first().map(|(n, _)| *n), Some(CHUNK));
        assert_eq!(INSERT_SQL.last().map(|(n, _)| *n), Some(1));
        let sql = &INSERT_SQL.last().unwrap().1;
        assert_eq!(sql.matches('?').count(), SAMPLE_COLUMNS.len());
    }

    #[test]
    fn widths_match_the_model() {
        for r in Resolution::ALL {
            assert_eq!(Some(width_micros(r)), r.width().num_microseconds(), "{r:?}");
        }
    }
}
