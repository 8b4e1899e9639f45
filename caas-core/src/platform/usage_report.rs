//! Usage reports for billing: per organization and period, what its services and volumes
//! used, from the metrics history, the volumes and the backups.
//!
//! - **container-hours**: samples × the collector's interval
//!   ([`PlatformBuilder::metrics_interval`](super::PlatformBuilder::metrics_interval)), i.e. the
//!   time containers ran while measured;
//! - **CPU-core-hours**: CPU used (percent of one core) integrated over that time;
//! - **memory GiB-hours**: the memory *limit* (what was allocated) integrated over that time;
//! - **storage GiB-hours**: each volume's size over the part of the period it existed (volumes
//!   deleted since are found in the audit log);
//! - **backup bytes**: stored bytes of the organization's succeeded backups now, and of those taken
//!   in the period.
//!
//! Metrics come from minute points for periods of up to six days and hour points beyond,
//! counting whole buckets that start in the period (rollups equal the raw data they sum up,
//! so the level changes nothing but the edges). Services deleted since are included when the
//! audit log still names them.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::Platform;
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::{ServiceId, VolumeId};
use crate::model::{BackupStatus, Resolution, Volume};
use crate::ports::store::AuditFilter;

/// Audit entries read per query when looking for deletions.
const AUDIT_PAGE: u32 = 1000;
use crate::units::GIB;

/// The default interval the metrics collector samples at.
pub const DEFAULT_METRICS_INTERVAL: Duration = Duration::from_secs(10);
/// The longest period a report covers (a year).
const MAX_PERIOD_DAYS: i64 = 366;

/// One service's use in a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceUsageRow {
    /// The service.
    pub service: ServiceId,
    /// Its name (`project/service`), when still known.
    pub name: Option<String>,
    /// Hours its containers ran while measured.
    pub container_hours: f64,
    /// CPU used, in core-hours.
    pub cpu_core_hours: f64,
    /// Memory allocated (the limit), in GiB-hours.
    pub memory_gib_hours: f64,
}

/// One volume's storage in a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VolumeUsageRow {
    /// The volume.
    pub volume: VolumeId,
    /// Its name (`project/volume`).
    pub name: String,
    /// Its size.
    pub size_bytes: u64,
    /// Size × time it existed in the period, GiB-hours.
    pub gib_hours: f64,
}

/// The sums of a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageTotals {
    /// Container-hours.
    pub container_hours: f64,
    /// CPU-core-hours.
    pub cpu_core_hours: f64,
    /// Memory GiB-hours (allocated).
    pub memory_gib_hours: f64,
    /// Storage GiB-hours.
    pub storage_gib_hours: f64,
    /// Bytes of succeeded backups stored now.
    pub backup_bytes_stored: u64,
    /// Bytes of succeeded backups taken in the period.
    pub backup_bytes_created: u64,
}

/// An organization's usage over `[from, to)`.
///
/// The core returns the data only: caas-http renders it as CSV
/// (`caas_http::render::usage_report_csv`, which replaces the former `UsageReport::to_csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageReport {
    /// The organization's slug.
    pub org: String,
    /// Start of the period.
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// The metrics resolution the report was computed from.
    pub resolution: Resolution,
    /// Sums.
    pub totals: UsageTotals,
    /// Per service.
    pub services: Vec<ServiceUsageRow>,
    /// Per volume.
    pub volumes: Vec<VolumeUsageRow>,
}

fn hours(d: chrono::Duration) -> f64 {
    d.num_milliseconds().max(0) as f64 / 3_600_000.0
}

/// The part of `[start, end)` inside `[from, to)`, in hours.
fn overlap_hours(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> f64 {
    hours(end.min(to) - start.max(from))
}

impl Platform {
    /// An organization's usage over `[from, to)` (see the module docs). Errors:
    /// `InvalidInput` (`from` not before `to`, or a period over a year), `NotFound`,
    /// `PermissionDenied`, `Unavailable`.
    #[instrument(skip_all, fields(caas.org = %org_slug))]
    pub(crate) async fn usage_report(
        &self,
        who: &Principal,
        org_slug: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<UsageReport> {
        let org = self
            .authorize_org(who, org_slug, Action::UsageReport)
            .await?;
        if from >= to {
            return Err(Error::invalid("from", "must be before `to`"));
        }
        if to - from > chrono::Duration::days(MAX_PERIOD_DAYS) {
            return Err(Error::invalid("to", "a report covers at most 366 days"));
        }
        let store = &self.inner.store;
        let resolution = if to - from <= chrono::Duration::days(6) {
            Resolution::Minute
        } else {
            Resolution::Hour
        };
        let step = self.inner.metrics_interval.as_secs_f64() / 3600.0;

        // Services now, and deleted ones the audit log still names.
        let projects: BTreeMap<_, _> = store
            .services
            .list_projects(org.id)
            .await?
            .into_iter()
            .map(|p| (p.id, p.name.to_string()))
            .collect();
        let mut names: BTreeMap<ServiceId, Option<String>> = BTreeMap::new();
        for s in store.services.list_services(org.id, None).await? {
            let project = projects.get(&s.project).cloned().unwrap_or_default();
            names.insert(s.id, Some(format!("{project}/{}", s.name)));
        }
        // Every deletion since `from`, page by page: a busy organization's log holds far more
        // than one page of other entries.
        let mut audit = Vec::new();
        for action in ["service.delete", "volume.delete"] {
            let first = AuditFilter {
                org: Some(org.id),
                action_prefix: Some(action.to_string()),
                since: Some(from),
                limit: AUDIT_PAGE,
                ..AuditFilter::default()
            };
            let mut filter = first.clone();
            loop {
                let page = store.history.list_audit(&filter).await?;
                let full = page.len() == AUDIT_PAGE as usize;
                if let Some(last) = page.last() {
                    filter = first.clone().before_entry(last);
                }
                audit.extend(page);
                if !full {
                    break;
                }
            }
        }
        let mut deleted_volumes: Vec<(Volume, DateTime<Utc>)> = Vec::new();
        for e in &audit {
            match e.action.as_str() {
                "service.delete" => {
                    if let Some(id) = e
                        .target
                        .strip_prefix("service:")
                        .and_then(|s| s.parse::<ServiceId>().ok())
                    {
                        let name = e
                            .before
                            .as_ref()
                            .and_then(|b| b.get("name"))
                            .and_then(|n| n.as_str())
                            .map(String::from);
                        names.entry(id).or_insert(name);
                    }
                }
                "volume.delete" => {
                    if let Some(v) = e
                        .before
                        .clone()
                        .and_then(|b| serde_json::from_value::<Volume>(b).ok())
                    {
                        deleted_volumes.push((v, e.at));
                    }
                }
                _ => {}
            }
        }

        let mut totals = UsageTotals::default();
        let mut services = Vec::new();
        for (id, name) in names {
            let points = store
                .metrics
                .query_metrics(id, resolution, from, to)
                .await?;
            let samples: u64 = points.iter().map(|p| p.samples).sum();
            if samples == 0 {
                continue;
            }
            let weight = |p: &crate::model::MetricPoint| p.samples as f64 * step;
            let row = ServiceUsageRow {
                service: id,
                name,
                container_hours: samples as f64 * step,
                cpu_core_hours: points
                    .iter()
                    .map(|p| p.cpu_percent.avg / 100.0 * weight(p))
                    .sum(),
                memory_gib_hours: points
                    .iter()
                    .map(|p| p.memory_limit_bytes as f64 / GIB as f64 * weight(p))
                    .sum(),
            };
            totals.container_hours += row.container_hours;
            totals.cpu_core_hours += row.cpu_core_hours;
            totals.memory_gib_hours += row.memory_gib_hours;
            services.push(row);
        }

        let now = self.now();
        let mut volumes = Vec::new();
        let live = store.volumes.list_volumes(org.id, None).await?;
        for (v, end) in live
            .into_iter()
            .map(|v| (v, now))
            .chain(deleted_volumes.into_iter())
        {
            let h = overlap_hours(v.created_at, end, from, to);
            if h <= 0.0 {
                continue;
            }
            let project = projects.get(&v.project).cloned().unwrap_or_default();
            let row = VolumeUsageRow {
                volume: v.id,
                name: format!("{project}/{}", v.name),
                size_bytes: v.size_bytes,
                gib_hours: v.size_bytes as f64 / GIB as f64 * h,
            };
            totals.storage_gib_hours += row.gib_hours;
            volumes.push(row);
        }

        for b in store.volumes.list_org_backups(org.id).await? {
            if b.status != BackupStatus::Succeeded {
                continue;
            }
            let size = b.size_bytes.unwrap_or(0);
            totals.backup_bytes_stored += size;
            if b.created_at >= from && b.created_at < to {
                totals.backup_bytes_created += size;
            }
        }
        Ok(UsageReport {
            org: org.slug.to_string(),
            from,
            to,
            resolution,
            totals,
            services,
            volumes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_are_clipped_to_the_period() {
        let t0 = Utc::now();
        let h = |n: i64| t0 + chrono::Duration::hours(n);
        assert_eq!(overlap_hours(h(0), h(10), h(2), h(4)), 2.0);
        assert_eq!(overlap_hours(h(3), h(10), h(2), h(4)), 1.0);
        assert_eq!(overlap_hours(h(5), h(10), h(2), h(4)), 0.0);
    }
}
