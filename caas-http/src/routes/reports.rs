//! Usage reports for billing: `GET /v1/orgs/{org}/usage/report?from=&to=&format=json|csv`.
//!
//! - The period is `[from, to)` (RFC 3339, at most 366 days). `to` defaults to now; `from`
//!   to the start of `to`'s month (UTC), or of the month before when `to` is exactly the
//!   start of a month — so no parameter is this month so far, and `to=2030-04-01T00:00:00Z`
//!   is March.
//! - `format=json` (the default) answers the report as JSON; `format=csv` as `text/csv`, one
//!   row per service and volume and a total row, as a download named
//!   `usage-<org>-<from>-<to>.csv` with the times in ISO 8601 basic format
//!   (`20300301T000000Z`), which every file system accepts.
//! - Open to viewers.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use caas_core::platform::UsageReport;
use chrono::{DateTime, Datelike, Months, Utc};
use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::OrgPath;
use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, PathParams, QueryParams};

/// How a report is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReportFormat {
    /// A JSON `UsageReport`.
    #[default]
    Json,
    /// CSV (`text/csv`), as a download.
    Csv,
}

/// The period and the format of a report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportQuery {
    /// Start (RFC 3339, inclusive; encode `+` as `%2B`). Default: the start of `to`'s month
    /// (UTC), or of the month before when `to` is exactly a month's start.
    #[serde(default)]
    from: Option<DateTime<Utc>>,
    /// End (RFC 3339, exclusive; at most 366 days after `from`). Default: now.
    #[serde(default)]
    to: Option<DateTime<Utc>>,
    /// `json` (default) or `csv`.
    #[serde(default)]
    format: Option<ReportFormat>,
}

/// The default start of a report ending at `to` (see the module docs).
fn default_from(to: DateTime<Utc>) -> DateTime<Utc> {
    let month_start = to
        .date_naive()
        .with_day(1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc());
    match month_start {
        Some(start) if start < to => start,
        Some(start) => start
            .checked_sub_months(Months::new(1))
            .unwrap_or(start - chrono::Duration::days(31)),
        None => to - chrono::Duration::days(31),
    }
}

/// `usage-<org>-<from>-<to>.csv`, with times a file system accepts.
fn csv_file_name(org: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    const BASIC: &str = "%Y%m%dT%H%M%SZ";
    format!(
        "usage-{org}-{}-{}.csv",
        from.format(BASIC),
        to.format(BASIC)
    )
}

/// The organization's usage over a period: container-hours, CPU core-hours, memory and
/// storage GiB-hours per service and volume, and backup bytes.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/usage/report",
    tag = "organizations",
    params(OrgPath, ReportQuery),
    responses(
        (status = 200, description = "The report: JSON, or with `format=csv` a CSV download (`kind,id,name,container_hours,cpu_core_hours,memory_gib_hours,storage_gib_hours,backup_bytes`)", content(
            (UsageReport = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such organization (or not a member)", body = ErrorBody),
        (status = 422, description = "Invalid query (`from` not before `to`, a period over 366 days, a bad time or format); `details.field` names the parameter", body = ErrorBody),
    )
)]
pub(crate) async fn usage_report(
    State(s): State<AppState>,
    Caller(who): Caller,
    PathParams(p): PathParams<OrgPath>,
    QueryParams(q): QueryParams<ReportQuery>,
) -> Result<Response, ApiError> {
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or_else(|| default_from(to));
    let report = s
        .platform
        .orgs()
        .usage_report(&who, &p.org, from, to)
        .await?;
    match q.format.unwrap_or_default() {
        ReportFormat::Json => Ok(Json(report).into_response()),
        ReportFormat::Csv => {
            let csv = crate::render::usage_report_csv(&report)?;
            let disposition = format!(
                "attachment; filename=\"{}\"",
                csv_file_name(&report.org, report.from, report.to)
            );
            Ok((
                [
                    (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (CONTENT_DISPOSITION, disposition),
                ],
                csv,
            )
                .into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn a_report_defaults_to_the_month_so_far_or_the_month_before_a_month_start() {
        assert_eq!(
            default_from(at("2030-03-17T09:30:00Z")),
            at("2030-03-01T00:00:00Z")
        );
        assert_eq!(
            default_from(at("2030-04-01T00:00:00Z")),
            at("2030-03-01T00:00:00Z")
        );
        assert_eq!(
            default_from(at("2030-01-01T00:00:00Z")),
            at("2029-12-01T00:00:00Z")
        );
    }

    #[test]
    fn the_csv_file_name_holds_the_org_and_the_period() {
        assert_eq!(
            csv_file_name(
                "acme",
                at("2030-03-01T00:00:00Z"),
                at("2030-04-01T12:30:05Z")
            ),
            "usage-acme-20300301T000000Z-20300401T123005Z.csv"
        );
    }
}
