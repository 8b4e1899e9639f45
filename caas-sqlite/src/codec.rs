//! Conversions between model values and SQLite column values.
//!
//! - Ids: 16-byte big-endian blobs (sqlx's `uuid` encoding); blob order is UUID order, so
//!   `ORDER BY id` is creation order for v7 ids.
//! - Timestamps: RFC 3339 UTC text with exactly six fractional digits
//!   (`2026-01-31T12:00:00.000000Z`): text order is time order, microseconds round-trip and
//!   anything finer is truncated. Years outside 0000–9999 are refused (they would not sort).
//! - Metric times: `INTEGER` microseconds since the Unix epoch (see [`micros`]): every
//!   `DateTime<Utc>` fits, sub-microsecond digits are truncated (towards the past).
//! - Amounts: `u64` in the model, `INTEGER` (`i64`) here; values above `i64::MAX` are refused
//!   with `InvalidInput` naming the field.
//! - Enums: their stored names (`caas_core::codec::StoredName`, the serde names, exhaustive in
//!   caas-core). Structured values: JSON text.
//!
//! The PostgreSQL store follows the same convention (`codec.rs` and `error.rs`, `db_error`,
//! `to_i64`, stored names from caas-core).

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, Type};
use uuid::Uuid;

use caas_core::codec::StoredName;
use caas_core::model::{InstanceOutput, ServiceSpec};
use caas_core::secrets::Sealer;
use caas_core::{Error, OrgId, Result};

use crate::error::{SERVICE, corrupt};

const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// A timestamp as stored. Errors: `InvalidInput` (`field`) outside the years 0000–9999.
pub(crate) fn ts(field: &str, at: DateTime<Utc>) -> Result<String> {
    if !(0..=9999).contains(&at.year()) {
        return Err(Error::invalid(
            field,
            format!("{at} is outside the years 0000-9999 the store can keep in order"),
        ));
    }
    Ok(at.format(TIMESTAMP_FORMAT).to_string())
}

/// An optional timestamp as stored.
pub(crate) fn ts_opt(field: &str, at: Option<DateTime<Utc>>) -> Result<Option<String>> {
    at.map(|t| ts(field, t)).transpose()
}

/// A metric time as stored: microseconds since the Unix epoch, truncated towards the past
/// (chrono's range, ±262 000 years, fits in an `i64` of microseconds).
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// An amount as stored: `caas_core::codec::to_i64` (`InvalidInput` naming `field` above
/// `i64::MAX`).
pub(crate) use caas_core::codec::to_i64;

/// A value as JSON text.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| Error::backend_source(SERVICE, "cannot serialize a value to JSON", e))
}

/// A spec as JSON text, its secret env values sealed (see "Secrets at rest" in the crate
/// docs).
pub(crate) fn sealed_spec(sealer: &Sealer, org: OrgId, spec: &ServiceSpec) -> Result<String> {
    Ok(sealer.seal_spec(org, spec)?.to_string())
}

/// Template-instance outputs as JSON text, secret values sealed.
pub(crate) fn sealed_outputs(
    sealer: &Sealer,
    org: OrgId,
    outputs: &[InstanceOutput],
) -> Result<String> {
    Ok(sealer.seal_outputs(org, outputs)?.to_string())
}

/// An optional value as JSON text (`None` stays NULL).
pub(crate) fn json_opt<T: Serialize>(value: Option<&T>) -> Result<Option<String>> {
    value.map(json).transpose()
}

/// Reads the columns of one row, naming the table in decoding errors.
pub(crate) struct Cols<'r> {
    row: &'r SqliteRow,
    table: &'static str,
}

impl<'r> Cols<'r> {
    /// A reader of `row`, which comes from `table`.
    pub(crate) fn new(row: &'r SqliteRow, table: &'static str) -> Self {
        Self { row, table }
    }

    fn get<T: Decode<'r, Sqlite> + Type<Sqlite>>(&self, col: &str) -> Result<T> {
        self.row
            .try_get(col)
            .map_err(|e| corrupt(self.table, col, e))
    }

    fn bad(&self, col: &str, e: impl Into<caas_core::error::BoxError>) -> Error {
        corrupt(self.table, col, e)
    }

    /// An id column.
    pub(crate) fn id<T: From<Uuid>>(&self, col: &str) -> Result<T> {
        self.get::<Uuid>(col).map(T::from)
    }

    /// A nullable id column.
    pub(crate) fn id_opt<T: From<Uuid>>(&self, col: &str) -> Result<Option<T>> {
        Ok(self.get::<Option<Uuid>>(col)?.map(T::from))
    }

    /// A text column.
    pub(crate) fn text(&self, col: &str) -> Result<String> {
        self.get(col)
    }

    /// A nullable text column.
    pub(crate) fn text_opt(&self, col: &str) -> Result<Option<String>> {
        self.get(col)
    }

    /// A text column holding a validated value (a slug, a name).
    pub(crate) fn parsed<T>(
        &self,
        col: &str,
        parse: impl FnOnce(String) -> Result<T>,
    ) -> Result<T> {
        parse(self.text(col)?).map_err(|e| self.bad(col, e.to_string()))
    }

    /// A boolean (0/1) column.
    pub(crate) fn bool(&self, col: &str) -> Result<bool> {
        self.get(col)
    }

    /// A non-negative integer column.
    pub(crate) fn u64(&self, col: &str) -> Result<u64> {
        let v: i64 = self.get(col)?;
        u64::try_from(v).map_err(|_| self.bad(col, format!("negative amount {v}")))
    }

    /// A 32-bit signed integer column (read as SQLite's 64-bit integer, so an out-of-range
    /// value is reported rather than truncated).
    pub(crate) fn i32(&self, col: &str) -> Result<i32> {
        let v: i64 = self.get(col)?;
        i32::try_from(v).map_err(|_| self.bad(col, format!("{v} does not fit in 32 bits")))
    }

    /// A floating-point column.
    pub(crate) fn f64(&self, col: &str) -> Result<f64> {
        self.get(col)
    }

    /// A metric time column (microseconds since the epoch, see [`micros`]).
    pub(crate) fn micros(&self, col: &str) -> Result<DateTime<Utc>> {
        let v: i64 = self.get(col)?;
        DateTime::from_timestamp_micros(v).ok_or_else(|| {
            self.bad(
                col,
                format!("{v} µs is outside the representable time range"),
            )
        })
    }

    /// A timestamp column.
    pub(crate) fn ts(&self, col: &str) -> Result<DateTime<Utc>> {
        let s = self.text(col)?;
        parse_ts(&s).map_err(|e| self.bad(col, e))
    }

    /// A nullable timestamp column.
    pub(crate) fn ts_opt(&self, col: &str) -> Result<Option<DateTime<Utc>>> {
        match self.text_opt(col)? {
            Some(s) => parse_ts(&s).map(Some).map_err(|e| self.bad(col, e)),
            None => Ok(None),
        }
    }

    /// An enum stored by its name.
    pub(crate) fn name<T: StoredName>(&self, col: &str) -> Result<T> {
        let text = self.text(col)?;
        T::from_name(&text).ok_or_else(|| self.bad(col, format!("'{text}' is not a known name")))
    }

    /// A JSON column.
    pub(crate) fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T> {
        serde_json::from_str(&self.text(col)?).map_err(|e| self.bad(col, e))
    }

    /// A spec column of organization `org`, its secret env values opened.
    pub(crate) fn spec(&self, col: &str, org: OrgId, sealer: &Sealer) -> Result<ServiceSpec> {
        let value = self.json(col)?;
        sealer.open_spec(org, value).map_err(|e| self.bad(col, e))
    }

    /// A template-instance outputs column of organization `org`, secret values opened.
    pub(crate) fn outputs(
        &self,
        col: &str,
        org: OrgId,
        sealer: &Sealer,
    ) -> Result<Vec<InstanceOutput>> {
        let value = self.json(col)?;
        sealer
            .open_outputs(org, value)
            .map_err(|e| self.bad(col, e))
    }

    /// A nullable JSON column.
    pub(crate) fn json_opt<T: DeserializeOwned>(&self, col: &str) -> Result<Option<T>> {
        match self.text_opt(col)? {
            Some(s) => serde_json::from_str(&s)
                .map(Some)
                .map_err(|e| self.bad(col, e)),
            None => Ok(None),
        }
    }
}

fn parse_ts(s: &str) -> std::result::Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

/// Decodes every row with `decode`.
pub(crate) fn all<T>(
    rows: &[SqliteRow],
    decode: impl Fn(&SqliteRow) -> Result<T>,
) -> Result<Vec<T>> {
    rows.iter().map(decode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_fixed_precision_and_sort_as_text() {
        let a = Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap();
        let b = a + chrono::Duration::microseconds(1);
        let c = a + chrono::Duration::seconds(1);
        let (sa, sb, sc) = (
            ts("t", a).unwrap(),
            ts("t", b).unwrap(),
            ts("t", c).unwrap(),
        );
        assert_eq!(sa, "2026-01-31T12:00:00.000000Z");
        assert_eq!(sb, "2026-01-31T12:00:00.000001Z");
        assert!(sa < sb && sb < sc);
        assert_eq!(parse_ts(&sb).unwrap(), b);
        let far = Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(ts("at", far).unwrap_err().field(), Some("at"));
    }

    #[test]
    fn metric_times_are_microseconds_truncated_towards_the_past() {
        let a = Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap();
        assert_eq!(micros(a), a.timestamp() * 1_000_000);
        assert_eq!(
            micros(a + chrono::Duration::nanoseconds(1_999)),
            micros(a) + 1
        );
        let before_epoch = Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap()
            + chrono::Duration::nanoseconds(500);
        assert_eq!(micros(before_epoch), -1_000_000);
        assert!(micros(DateTime::<Utc>::MIN_UTC) < micros(DateTime::<Utc>::MAX_UTC));
    }

    #[test]
    fn amounts_above_i64_are_refused_naming_the_field() {
        assert_eq!(to_i64("limits.cpu_millis", 5).unwrap(), 5);
        let e = to_i64("limits.cpu_millis", u64::MAX).unwrap_err();
        assert_eq!(e.field(), Some("limits.cpu_millis"));
    }
}
