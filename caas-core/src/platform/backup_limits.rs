//! What a tenant's backups may take of the platform: schedules no more often than
//! [`BackupConfig::min_schedule_interval`] and always with a retention within the platform's
//! maxima, backup bytes within the plan's `backup_storage_bytes` (checked before a backup
//! starts, one organization's checks taking turns so that two backups cannot both squeeze
//! in), and a volume's archive read no further than its size allows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Platform;
use super::backups::{BackupConfig, ScheduleRequest, parse_cron};
use crate::error::{DimensionExceeded, Error, QuotaExceeded, Result};
use crate::ids::OrgId;
use crate::model::{BackupStatus, Volume};

/// How many upcoming runs of a schedule are looked at for the shortest interval.
const RUNS_CHECKED: usize = 20_000;
/// How far ahead (years) a schedule's runs are looked at.
const YEARS_CHECKED: i64 = 8;

/// The bytes a backup of a volume of `size` may read: its size, plus an eighth and at least
/// 64 MiB for the archive's own headers and padding.
pub fn archive_read_cap(size: u64) -> u64 {
    size.saturating_add((size / 8).max(64 * 1024 * 1024))
}

/// The shortest time between two runs of `cron` over the coming years (at most
/// [`RUNS_CHECKED`] runs looked at), or `None` when it runs at most once.
fn shortest_interval(cron: &croner::Cron, from: DateTime<Utc>) -> Option<chrono::Duration> {
    let end = from + chrono::Duration::days(365 * YEARS_CHECKED);
    let mut previous = cron.find_next_occurrence(&from, false).ok()?;
    let mut shortest: Option<chrono::Duration> = None;
    for _ in 0..RUNS_CHECKED {
        let Ok(next) = cron.find_next_occurrence(&previous, false) else {
            break;
        };
        if next > end {
            break;
        }
        let gap = next - previous;
        shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
        previous = next;
    }
    shortest
}

/// Checks a schedule against the platform's rules: a valid cron expression running at most
/// every `min_schedule_interval`, and a retention (`keep_last`, `max_age_days` or both)
/// within the maxima. Errors: `InvalidInput` naming the field.
pub(super) fn check_schedule(
    config: &BackupConfig,
    s: &ScheduleRequest,
    now: DateTime<Utc>,
) -> Result<()> {
    let cron = parse_cron("cron", &s.cron)?;
    let floor = chrono::Duration::from_std(config.min_schedule_interval)
        .unwrap_or(chrono::Duration::minutes(15));
    if let Some(gap) = shortest_interval(&cron, now)
        && gap < floor
    {
        return Err(Error::invalid(
            "cron",
            format!(
                "runs as often as every {} minute(s); schedules run at most every {} minutes on this platform",
                gap.num_minutes().max(0),
                floor.num_minutes()
            ),
        ));
    }
    if s.keep_last.is_none() && s.max_age_days.is_none() {
        return Err(Error::invalid(
            "keep_last",
            format!(
                "a schedule needs a retention: keep_last (1-{}) or max_age_days (1-{})",
                config.max_keep_last, config.max_retention_days
            ),
        ));
    }
    if s.keep_last
        .is_some_and(|n| n < 1 || n > config.max_keep_last)
    {
        return Err(Error::invalid(
            "keep_last",
            format!("must be between 1 and {}", config.max_keep_last),
        ));
    }
    if s.max_age_days
        .is_some_and(|d| d < 1 || d > config.max_retention_days)
    {
        return Err(Error::invalid(
            "max_age_days",
            format!("must be between 1 and {}", config.max_retention_days),
        ));
    }
    Ok(())
}

/// Per-organization turns for the backup storage check and the record it precedes.
#[derive(Debug, Default)]
pub(super) struct StorageGates {
    per_org: Mutex<HashMap<OrgId, Arc<tokio::sync::Mutex<()>>>>,
}

impl StorageGates {
    pub(super) fn of(&self, org: OrgId) -> Arc<tokio::sync::Mutex<()>> {
        self.per_org
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(org)
            .or_default()
            .clone()
    }
}

impl Platform {
    /// Refuses a backup of `v` that could take the organization's backups past its plan's
    /// `backup_storage_bytes`: what its finished backups hold, plus the volume's size for
    /// every running one and for this one (a backup stores at most about that much).
    /// Without a subscription nothing is refused. Errors: `QuotaExceeded` (dimension
    /// `backup_storage_bytes`), `Unavailable`.
    pub(super) async fn check_backup_storage(&self, v: &Volume) -> Result<()> {
        let store = &self.inner.store;
        let Some(sub) = store.plans.subscription_opt(v.org).await? else {
            return Ok(());
        };
        let plan = store.plans.plan(sub.plan).await?;
        let limit = plan.limits.backup_storage_bytes;
        let volumes: HashMap<_, u64> = store
            .volumes
            .list_volumes(v.org, None)
            .await?
            .into_iter()
            .map(|x| (x.id, x.size_bytes))
            .collect();
        let used = store
            .volumes
            .list_org_backups(v.org)
            .await?
            .iter()
            .map(|b| match b.status {
                BackupStatus::Running => volumes.get(&b.volume).copied().unwrap_or(0),
                _ => b.size_bytes.unwrap_or(0),
            })
            .fold(0u64, u64::saturating_add);
        if used.saturating_add(v.size_bytes) <= limit {
            return Ok(());
        }
        Err(QuotaExceeded {
            org: store.directory.org(v.org).await?.slug.to_string(),
            plan: plan.name.to_string(),
            dimensions: vec![DimensionExceeded {
                dimension: "backup_storage_bytes".to_string(),
                used,
                requested: v.size_bytes,
                limit,
            }],
        }
        .into())
    }
}

/// Shortest interval a schedule may run at, by default.
pub(super) const DEFAULT_MIN_SCHEDULE_INTERVAL: Duration = Duration::from_secs(15 * 60);

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn the_shortest_interval_of_a_schedule_is_found_even_where_it_is_rare() {
        let from = at("2026-01-01T00:00:00Z");
        let gap = |e: &str| {
            shortest_interval(
                &parse_cron("cron", e).unwrap_or_else(|e| panic!("{e}")),
                from,
            )
            .map(|d| d.num_minutes())
        };
        assert_eq!(gap("*/5 * * * *"), Some(5));
        assert_eq!(gap("0 3 * * *"), Some(24 * 60));
        assert_eq!(gap("0,10 3 * * *"), Some(10));
        assert_eq!(gap("0 0,23 * * *"), Some(60));
        // Twice on leap days only: found years ahead.
        assert_eq!(gap("0,1 0 29 2 *"), Some(1));
        assert_eq!(archive_read_cap(0), 64 * 1024 * 1024);
        assert_eq!(archive_read_cap(8 << 30), (8 << 30) + (1 << 30));
    }
}
