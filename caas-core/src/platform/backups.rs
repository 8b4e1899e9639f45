//! Backups of volumes: archives read through the runtime, compressed, stored in an object
//! store; restores validated entry by entry before anything is written.
//!
//! - **Backup**: the volume is read as an uncompressed tar through the runtime's archive API (it
//!   works while services use the volume; `consistent` stops the running services that mount it for
//!   the copy and starts them again, whatever happens, or with `pause` freezes and thaws them,
//!   which is quicker and keeps their connections). The tar is compressed with zstd on the fly and
//!   streamed to the [`BackupConfig`]'s object store (multipart for large archives); the stored
//!   size, the archive size and the SHA-256 of the stored object are recorded. A failed backup is
//!   recorded `failed` with the reason and leaves no object.
//! - **Logical dumps** (`logical`): for the data volume of a running postgres, mysql or mariadb
//!   service, the database's own tool writes a dump inside its container (the commands are in
//!   `docs/backups.md`), stored like an archive; it restores through the running database into the
//!   same or another service of the same engine.
//! - **Restore** into the same volume, another volume of the organization, or a new one: the object
//!   is downloaded and checked against its SHA-256, decompressed into a staging file (refused
//!   beyond a size cap), and the archive is validated by [`crate::archive::validate`] (no `..`,
//!   absolute paths, escaping links, devices; contents at most 110 % of the target volume's size).
//!   Only then is it written, uncompressed, into a *new* runtime volume; the services mounting the
//!   target are recreated onto it (running ones start again, stopped ones stay stopped) and the old
//!   runtime volume is removed. Until that switch the old data is untouched, so a failed restore
//!   loses nothing.
//! - **Schedules**: a five-field cron expression (UTC) per volume;
//!   [`Backups::run_due`](crate::platform::Backups::run_due) (run by
//!   [`Platform::run_backup_scheduler`]) takes each due backup once — after downtime, one catch-up
//!   run, not one per missed slot — and applies retention to the volume's scheduled backups (manual
//!   backups are kept until deleted): see [`BackupSchedule`](crate::model::BackupSchedule) and
//!   [`retention_victims`].
//! - **In the background**: [`Backups::start`](crate::platform::Backups::start) answers with the
//!   `running` record as soon as it exists and the copy goes on;
//!   [`Backups::get`](crate::platform::Backups::get) shows how it ended and
//!   [`Backups::wait_for_copies`](crate::platform::Backups::wait_for_copies) lets a process that
//!   shuts down finish the copies under way.
//! - One backup, restore or delete at a time per volume (`Conflict` otherwise), and at most
//!   [`BackupConfig::max_concurrent`] backups and restores at once on the platform.
//!
//! Pausing and logical dumps need a runtime that can pause and run commands in containers
//! (Docker can; a runtime that cannot answers `Unsupported`, recorded as the backup's error).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_compression::tokio::bufread::ZstdDecoder;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::instrument;

use super::volumes::NewVolume;
use super::{Platform, json};
use crate::archive::{ArchiveLimits, ArchiveSummary};
use crate::auth::{Action, Principal};
use crate::error::{Error, Result};
use crate::ids::BackupId;
use crate::model::{
    Backup, BackupFormat, BackupSchedule, BackupStatus, BackupTrigger, Project, Service,
    ServiceEventKind, ServiceStatus, Volume,
};
use crate::ports::runtime::{ByteStream, ChunkSender};
use crate::validate::Name;

/// Size of the compressed chunks handed from the compressor to the store writer.
const COMPRESSED_CHUNK: usize = 1024 * 1024;

/// Most entries a restored archive may hold.
pub const MAX_ARCHIVE_ENTRIES: u64 = 2_000_000;

/// Where backups go and how they are taken.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BackupConfig {
    /// The object store archives are written to (`object_store::local::LocalFileSystem` for
    /// a directory, `AmazonS3` for any S3-compatible service, ...).
    pub store: Arc<dyn ObjectStore>,
    /// Key prefix inside the store (default `caas-backups`).
    pub prefix: String,
    /// Where restores stage the decompressed archive (default: the system's temporary
    /// directory); it needs room for the largest archive.
    pub staging_dir: Option<PathBuf>,
    /// Most backups and restores running at once (default 2).
    pub max_concurrent: usize,
    /// zstd level, 1 (fastest) to 19 (default 3).
    pub compression_level: i32,
    /// Shortest interval a backup schedule may run at (default 15 minutes).
    pub min_schedule_interval: Duration,
    /// Largest `keep_last` a schedule may keep (default 1000).
    pub max_keep_last: u32,
    /// Largest `max_age_days` a schedule may keep backups for (default 3650).
    pub max_retention_days: u32,
}

impl BackupConfig {
    /// Backups into `store` with the defaults.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            prefix: "caas-backups".into(),
            staging_dir: None,
            max_concurrent: 2,
            compression_level: 3,
            min_schedule_interval: super::backup_limits::DEFAULT_MIN_SCHEDULE_INTERVAL,
            max_keep_last: 1000,
            max_retention_days: 3650,
        }
    }
    /// Another shortest interval between a schedule's runs (at least a minute).
    pub fn min_schedule_interval(mut self, every: Duration) -> Self {
        self.min_schedule_interval = every.max(Duration::from_secs(60));
        self
    }
    /// Other retention maxima: `keep_last` and `max_age_days` (each at least 1).
    pub fn max_retention(mut self, keep_last: u32, days: u32) -> Self {
        self.max_keep_last = keep_last.max(1);
        self.max_retention_days = days.max(1);
        self
    }
    /// Another key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
    /// Another staging directory for restores.
    pub fn staging_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.staging_dir = Some(dir.into());
        self
    }
    /// Another concurrency limit (at least 1).
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n.max(1);
        self
    }
    /// Another zstd level (clamped to 1-19).
    pub fn compression_level(mut self, level: i32) -> Self {
        self.compression_level = level.clamp(1, 19);
        self
    }
}

/// The backup machinery of a platform: the configuration and its concurrency limit.
#[derive(Debug)]
pub(super) struct Backups {
    config: BackupConfig,
    permits: tokio::sync::Semaphore,
    // One organization's storage checks take turns with the records they precede.
    storage_gates: super::backup_limits::StorageGates,
}

impl Backups {
    pub(super) fn new(config: BackupConfig) -> Self {
        Self {
            permits: tokio::sync::Semaphore::new(config.max_concurrent),
            config,
            storage_gates: super::backup_limits::StorageGates::default(),
        }
    }
}

/// How to take a backup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BackupRequest {
    /// Stop the running services that mount the volume around the copy.
    #[serde(default)]
    pub consistent: bool,
    /// With `consistent`: pause (freeze) those services instead of stopping them.
    #[serde(default)]
    pub pause: bool,
    /// Dump the database whose data volume this is through its own tool (postgres, mysql,
    /// mariadb) instead of copying the files.
    #[serde(default)]
    pub logical: bool,
}

impl BackupRequest {
    /// A consistent (services stopped) or live backup.
    pub fn consistent(on: bool) -> Self {
        Self {
            consistent: on,
            ..Self::default()
        }
    }
    /// A consistent backup with the services paused instead of stopped.
    pub fn paused() -> Self {
        Self {
            consistent: true,
            pause: true,
            logical: false,
        }
    }
    /// A logical dump of the volume's database.
    pub fn logical() -> Self {
        Self {
            logical: true,
            ..Self::default()
        }
    }
    /// Checks the fields go together. Errors: `InvalidInput` naming the field.
    pub fn check(&self) -> Result<()> {
        if self.pause && !self.consistent {
            return Err(Error::invalid(
                "pause",
                "pausing applies to consistent copies: set consistent to true as well",
            ));
        }
        if self.logical && self.consistent {
            return Err(Error::invalid(
                "consistent",
                "a logical dump is consistent by itself (the database's own snapshot) and needs \
                 the database running: leave consistent (and pause) off",
            ));
        }
        Ok(())
    }
}

/// Where to restore a backup: the volume it was taken of (the default), another volume of the
/// organization, or a new volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RestoreRequest {
    /// An existing volume (id, or a name unique in the organization).
    #[serde(default)]
    pub volume: Option<String>,
    /// A volume to create for the restored data.
    #[serde(default)]
    pub new_volume: Option<NewVolume>,
}

impl RestoreRequest {
    /// Into the volume the backup was taken of.
    pub fn same_volume() -> Self {
        Self::default()
    }
    /// Into an existing volume.
    pub fn into_volume(volume: impl Into<String>) -> Self {
        Self {
            volume: Some(volume.into()),
            new_volume: None,
        }
    }
    /// Into a new volume.
    pub fn into_new(volume: NewVolume) -> Self {
        Self {
            volume: None,
            new_volume: Some(volume),
        }
    }
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RestoreOutcome {
    /// The backup restored.
    pub backup: Backup,
    /// The volume afterwards.
    pub volume: Volume,
    /// What the archive held.
    pub archive: ArchiveSummary,
    /// Services recreated onto the restored data.
    pub services: Vec<Name>,
}

/// A backup schedule to set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ScheduleRequest {
    /// Five-field cron expression, UTC (`0 3 * * *`: every day at 03:00).
    #[cfg_attr(feature = "openapi", schema(example = "0 3 * * *"))]
    pub cron: String,
    /// Keep the newest N scheduled backups (1-1000).
    #[serde(default)]
    pub keep_last: Option<u32>,
    /// Keep scheduled backups younger than this many days (1-3650).
    #[serde(default)]
    pub max_age_days: Option<u32>,
    /// Stop the services mounting the volume around each copy.
    #[serde(default)]
    pub consistent: bool,
    /// With `consistent`: pause them instead of stopping them.
    #[serde(default)]
    pub pause: bool,
    /// Take logical dumps of the volume's database (see [`BackupRequest::logical`]).
    #[serde(default)]
    pub logical: bool,
}

impl ScheduleRequest {
    /// A schedule on `cron`, keeping everything.
    pub fn new(cron: impl Into<String>) -> Self {
        Self {
            cron: cron.into(),
            keep_last: None,
            max_age_days: None,
            consistent: false,
            pause: false,
            logical: false,
        }
    }
    /// Each run taken as `how` (consistent, paused, logical).
    pub fn taken_as(mut self, how: BackupRequest) -> Self {
        self.consistent = how.consistent;
        self.pause = how.pause;
        self.logical = how.logical;
        self
    }
    /// How each run is taken.
    pub fn how(&self) -> BackupRequest {
        BackupRequest {
            consistent: self.consistent,
            pause: self.pause,
            logical: self.logical,
        }
    }
    /// Keep the newest `n`.
    pub fn keep_last(mut self, n: u32) -> Self {
        self.keep_last = Some(n);
        self
    }
    /// Keep those younger than `days`.
    pub fn max_age_days(mut self, days: u32) -> Self {
        self.max_age_days = Some(days);
        self
    }
}

/// What one pass of [`Backups::run_due`](crate::platform::Backups::run_due) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleReport {
    /// Backups taken (succeeded or failed; see each).
    pub taken: Vec<Backup>,
    /// Backups removed by retention.
    pub removed: Vec<BackupId>,
    /// Problems that did not stop the pass.
    pub errors: Vec<String>,
}

/// Parses a five-field cron expression. Errors: `InvalidInput` naming `field`.
pub fn parse_cron(field: &str, expr: &str) -> Result<croner::Cron> {
    if expr.split_whitespace().count() != 5 || expr.len() > 200 {
        return Err(Error::invalid(
            field,
            "must be a five-field cron expression: minute hour day-of-month month day-of-week (e.g. '0 3 * * *')",
        ));
    }
    croner::Cron::new(expr)
        .parse()
        .map_err(|e| Error::invalid(field, format!("not a valid cron expression: {e}")))
}

/// The first time after `after` that `schedule` is due. Errors: `InvalidInput` (a stored
/// expression that no longer parses, or one that never fires).
pub fn next_run(schedule: &BackupSchedule, after: DateTime<Utc>) -> Result<DateTime<Utc>> {
    parse_cron("cron", &schedule.cron)?
        .find_next_occurrence(&after, false)
        .map_err(|e| Error::invalid("cron", format!("never fires after {after}: {e}")))
}

/// The backups retention removes, given a volume's backups newest first: succeeded and
/// failed backups are ranked separately, and a backup is kept when it is among the newest
/// `keep_last` of its kind or younger than `max_age_days`. Running backups are never
/// removed; with neither rule set nothing is.
pub fn retention_victims(
    backups: &[Backup],
    keep_last: Option<u32>,
    max_age_days: Option<u32>,
    now: DateTime<Utc>,
) -> Vec<BackupId> {
    if keep_last.is_none() && max_age_days.is_none() {
        return Vec::new();
    }
    let mut ranks = [0u32; 2];
    let mut out = Vec::new();
    for b in backups {
        let kind = match b.status {
            BackupStatus::Running => continue,
            BackupStatus::Succeeded => 0,
            BackupStatus::Failed => 1,
        };
        let rank = ranks[kind];
        ranks[kind] += 1;
        let by_count = keep_last.is_some_and(|n| rank < n);
        let by_age =
            max_age_days.is_some_and(|d| now - b.created_at < chrono::Duration::days(i64::from(d)));
        if !by_count && !by_age {
            out.push(b.id);
        }
    }
    out
}

fn io_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn store_error(what: &str, e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { .. } => Error::not_found("backup object", what),
        other => Error::Unavailable {
            service: "backup store",
            message: format!("{what}: {other}"),
            source: Some(Box::new(other)),
        },
    }
}

impl Platform {
    fn backup_destination(&self) -> Result<&Backups> {
        self.inner.backups.as_ref().ok_or_else(|| {
            Error::unsupported("backups: no backup destination is configured on this platform")
        })
    }

    fn object_key(&self, backup: &Backup) -> Result<ObjectPath> {
        let prefix = self
            .backup_destination()?
            .config
            .prefix
            .trim_matches('/')
            .to_string();
        let extension = if backup.format.is_logical() {
            "sql"
        } else {
            "tar"
        };
        Ok(ObjectPath::from(format!(
            "{prefix}/orgs/{}/volumes/{}/{}.{extension}.zst",
            backup.org, backup.volume, backup.id
        )))
    }

    /// Takes a backup of a volume now (see the module docs). Returns the backup record,
    /// `succeeded` or `failed` with the reason, once the copy is over. The copy runs as a task
    /// of its own: a caller that goes away (a closed HTTP connection) does not stop it.
    ///
    /// Errors: `InvalidInput` naming the field (`pause` without `consistent`, `logical` with
    /// it, `logical` on a volume that is not a postgres, mysql or mariadb service's data),
    /// `Unsupported` (no backup destination), `Conflict` (a backup, restore or delete of the
    /// volume is running; `logical` and the database is not running), `NotFound`,
    /// `PermissionDenied` (member or higher).
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.volume = %volume))]
    pub(crate) async fn backup_volume(
        &self,
        who: &Principal,
        org_slug: &str,
        volume: &str,
        request: BackupRequest,
    ) -> Result<Backup> {
        let task = self
            .spawn_backup(who, org_slug, volume, request, None)
            .await?;
        finished("backup", task).await
    }

    /// Starts a backup of a volume and answers as soon as its record exists, `running`; the copy
    /// goes on in the background (for a large volume, longer than an HTTP client or a proxy waits).
    /// [`Backups::get`](crate::platform::Backups::get) and the lists show how it ends; an
    /// interrupted one (the process stopped) is marked `failed` by the reconciler.
    /// [`Backups::wait_for_copies`](crate::platform::Backups::wait_for_copies) lets a shutting-down
    /// process finish it first.
    ///
    /// Errors: those of [`Backups::create`](crate::platform::Backups::create) that come before the
    /// record exists.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.volume = %volume))]
    pub(crate) async fn start_backup(
        &self,
        who: &Principal,
        org_slug: &str,
        volume: &str,
        request: BackupRequest,
    ) -> Result<Backup> {
        let (recorded, running) = tokio::sync::oneshot::channel();
        let task = self
            .spawn_backup(who, org_slug, volume, request, Some(recorded))
            .await?;
        match running.await {
            Ok(backup) => Ok(backup),
            // Refused before the record was made: the task's answer says why.
            Err(_) => finished("backup", task).await,
        }
    }

    /// Checks a manual backup and spawns it as a copy task; `recorded` receives the record
    /// once it exists.
    async fn spawn_backup(
        &self,
        who: &Principal,
        org_slug: &str,
        volume: &str,
        request: BackupRequest,
        recorded: Option<tokio::sync::oneshot::Sender<Backup>>,
    ) -> Result<tokio::task::JoinHandle<Result<Backup>>> {
        let (org, v) = self
            .authorize_volume(who, org_slug, volume, Action::VolumeManage)
            .await?;
        self.backup_destination()?;
        request.check()?;
        let (p, who) = (self.clone(), who.clone());
        let in_background = recorded.is_some();
        Ok(self.inner.copies.spawn(async move {
            let backup = match p
                .take_backup(&v, request, BackupTrigger::Manual, recorded)
                .await
            {
                Ok(b) => b,
                Err(e) => {
                    // Nobody waits for the answer of a background backup: the record (if it
                    // got one) stays `running` until the reconciler marks it failed.
                    if in_background {
                        tracing::warn!(error = %e, volume = %v.name, "a background backup failed");
                    }
                    return Err(e);
                }
            };
            p.audit(
                Some(&who),
                Some(org.id),
                "backup.create",
                format!("backup:{}", backup.id),
                None,
                json(&backup),
            )
            .await;
            Ok(backup)
        }))
    }

    /// One backup of the organization. Errors: `NotFound` (also for one the principal may
    /// not see).
    pub(crate) async fn backup(
        &self,
        who: &Principal,
        org_slug: &str,
        backup: &str,
    ) -> Result<Backup> {
        let (_, b) = self
            .authorize_backup(who, org_slug, backup, Action::ServiceView)
            .await?;
        Ok(b)
    }

    /// Waits until the manual backups and restores in progress (those started with
    /// [`Backups::start`](crate::platform::Backups::start) too) have finished, at most `within`. A
    /// process calls it when it shuts down, after it stopped taking requests, so that their records
    /// do not stay `running`. Returns whether none is left.
    pub(crate) async fn wait_for_copies(&self, within: Duration) -> bool {
        // Polled rather than `TaskTracker::wait`, which needs the tracker closed: callers at
        // the same time would reopen it under each other.
        let deadline = tokio::time::Instant::now() + within;
        while !self.inner.copies.is_empty() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Records, takes and finishes one backup. Errors: `Conflict` (volume busy),
    /// `Unavailable` (the store; a failed copy is a `failed` record, not an error). A manual
    /// logical dump without a running database to go through is an error (see
    /// [`Platform::dump_source`]); a scheduled one is a `failed` record, so the history shows it.
    async fn take_backup(
        &self,
        v: &Volume,
        how: BackupRequest,
        trigger: BackupTrigger,
        recorded: Option<tokio::sync::oneshot::Sender<Backup>>,
    ) -> Result<Backup> {
        let backups = self.backup_destination()?;
        // The volume is claimed now; the platform-wide permit is waited for once the record
        // exists, so that a background backup answers at once even while others run.
        let _busy = self.volume_busy(v.id)?;
        let source = match how.logical {
            false => None,
            true => match self.dump_source(v, "logical").await {
                Err(e) if trigger == BackupTrigger::Manual => return Err(e),
                found => Some(found),
            },
        };
        // What was asked for, also when it cannot be taken: a scheduled dump of a stopped
        // database is a failed `pg_dump`, not a failed archive.
        let format = match &source {
            None => BackupFormat::Archive,
            Some(Ok(src)) => src.format,
            Some(Err(_)) => match self.database_of(v, "logical").await {
                Ok((_, format)) => format,
                Err(_) => BackupFormat::Archive,
            },
        };
        let mut backup = Backup {
            id: BackupId::new(),
            org: v.org,
            volume: v.id,
            project: v.project,
            volume_name: v.name.clone(),
            status: BackupStatus::Running,
            trigger,
            consistent: how.consistent,
            paused: how.consistent && how.pause,
            format,
            archive_bytes: None,
            size_bytes: None,
            sha256: None,
            location: None,
            error: None,
            created_at: self.now(),
            finished_at: None,
        };
        {
            // The check and the record it allows, with no other backup of the organization
            // between them.
            let gate = backups.storage_gates.of(v.org);
            let _turn = gate.lock().await;
            self.check_backup_storage(v).await?;
            self.inner.store.volumes.create_backup(&backup).await?;
        }
        if let Some(recorded) = recorded {
            let _ = recorded.send(backup.clone());
        }
        let key = self.object_key(&backup)?;
        let permit = backups
            .permits
            .acquire()
            .await
            .map_err(|_| Error::unavailable("platform", "shutting down"));
        let copied = match (permit, source) {
            (Err(e), _) | (Ok(_), Some(Err(e))) => Err(e),
            (Ok(_permit), Some(Ok(src))) => match self.dump_stream(&src).await {
                Ok(dump) => self.copy_to_store(backups, dump, &key).await,
                Err(e) => Err(e),
            },
            (Ok(_permit), None) => self.copy_volume(backups, v, how, &key).await,
        };
        backup.finished_at = Some(self.now());
        match copied {
            Ok((archive, stored, sha)) => {
                backup.status = BackupStatus::Succeeded;
                backup.archive_bytes = Some(archive);
                backup.size_bytes = Some(stored);
                backup.sha256 = Some(sha);
                backup.location = Some(key.to_string());
            }
            Err(e) => {
                tracing::warn!(error = %e, volume = %v.name, "backup failed");
                let _ = backups.config.store.delete(&key).await;
                backup.status = BackupStatus::Failed;
                backup.error = Some(e.to_string());
            }
        }
        self.inner.store.volumes.update_backup(&backup).await?;
        Ok(backup)
    }

    /// Copies the volume's tar into the store, with its users stopped or paused around the
    /// copy when `how` is consistent.
    async fn copy_volume(
        &self,
        backups: &Backups,
        v: &Volume,
        how: BackupRequest,
        key: &ObjectPath,
    ) -> Result<(u64, u64, String)> {
        let pause = how.consistent && how.pause;
        let quiet = if how.consistent {
            self.quiesce_users(v, pause).await
        } else {
            Ok(Vec::new())
        };
        let copied = match &quiet {
            Ok(_) => match self.runtime().read_archive(&v.runtime_name, "/").await {
                Ok(tar) => {
                    let tar = capped(tar, super::backup_limits::archive_read_cap(v.size_bytes));
                    self.copy_to_store(backups, tar, key).await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(Error::conflict(format!(
                "could not {} the services for a consistent copy: {e}",
                if pause { "pause" } else { "stop" }
            ))),
        };
        if let Ok(quiet) = quiet {
            self.resume_users(&quiet, pause).await;
        }
        copied
    }

    /// Streams `source` (a volume's tar or a dump) through zstd into the object store:
    /// (source bytes, stored bytes, SHA-256 of the stored object). Three stages run at once:
    /// the runtime produces the bytes, a blocking thread compresses them (off the async
    /// workers: compressing a large volume is seconds of CPU), and this task hashes and
    /// writes what comes out; the channels between them are bounded.
    async fn copy_to_store(
        &self,
        backups: &Backups,
        tar: ByteStream,
        key: &ObjectPath,
    ) -> Result<(u64, u64, String)> {
        let archive_bytes = Arc::new(AtomicU64::new(0));
        let upstream: Arc<std::sync::Mutex<Option<Error>>> = Arc::default();
        let (counter, slot) = (archive_bytes.clone(), upstream.clone());
        let source = tar.map(move |item| match item {
            Ok(b) => {
                counter.fetch_add(b.len() as u64, Ordering::Relaxed);
                Ok(b)
            }
            Err(e) => {
                let io = io_error(&e);
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                Err(io)
            }
        });
        let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(source));
        let level = backups.config.compression_level;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
        let compress = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let sink = ChunkSender::new(tx, COMPRESSED_CHUNK);
            let mut encoder = zstd::stream::write::Encoder::new(sink, level)?;
            let mut reader = std::io::BufReader::with_capacity(COMPRESSED_CHUNK, reader);
            std::io::copy(&mut reader, &mut encoder)?;
            std::io::Write::flush(&mut encoder.finish()?)
        });
        let mut writer =
            object_store::buffered::BufWriter::new(backups.config.store.clone(), key.clone());
        let mut hasher = Sha256::new();
        let mut stored = 0u64;
        let written: std::io::Result<()> = async {
            while let Some(chunk) = rx.recv().await {
                let chunk = chunk?;
                hasher.update(&chunk);
                stored += chunk.len() as u64;
                writer.write_all(&chunk).await?;
            }
            Ok(())
        }
        .await;
        // A failed write drops the receiver, which stops the compressor at its next chunk.
        drop(rx);
        let compressed = compress
            .await
            .unwrap_or_else(|e| Err(io_error(format!("the compressor stopped: {e}"))));
        let result = match (written, compressed) {
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(())) => writer.shutdown().await,
        };
        if let Err(e) = result {
            let _ = writer.abort().await;
            if let Some(original) = upstream.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Err(original);
            }
            return Err(Error::unavailable(
                "backup store",
                format!("writing the backup archive: {e}"),
            ));
        }
        Ok((
            archive_bytes.load(Ordering::Relaxed),
            stored,
            hex::encode(hasher.finalize()),
        ))
    }

    /// Stops (or with `pause` freezes) the running services that mount `v`, for a
    /// consistent copy; returns them. On a failure those already stopped start again.
    async fn quiesce_users(&self, v: &Volume, pause: bool) -> Result<Vec<(Service, String)>> {
        let mut quiet = Vec::new();
        for svc in self.services_mounting(v).await? {
            if svc.status != ServiceStatus::Running {
                continue;
            }
            let container = match self.current_container(&svc).await {
                Ok(c) => c,
                Err(_) => continue,
            };
            let runtime = self.runtime();
            let done = if pause {
                runtime.pause_container(&container).await
            } else {
                runtime
                    .stop_container(&container, self.inner.stop_timeout)
                    .await
                    .map(|_| ())
            };
            if let Err(e) = done {
                self.resume_users(&quiet, pause).await;
                return Err(e);
            }
            let (kind, message) = if pause {
                (
                    ServiceEventKind::Paused,
                    "paused for a consistent copy of a volume",
                )
            } else {
                (
                    ServiceEventKind::Stopped,
                    "stopped for a consistent copy of a volume",
                )
            };
            self.record_event(&svc, kind, message).await;
            quiet.push((svc, container));
        }
        Ok(quiet)
    }

    /// Starts (or thaws) again what [`Platform::quiesce_users`] stopped; failures are logged.
    async fn resume_users(&self, quiet: &[(Service, String)], paused: bool) {
        for (svc, container) in quiet {
            let runtime = self.runtime();
            let (done, kind, message) = if paused {
                (
                    runtime.unpause_container(container).await,
                    ServiceEventKind::Unpaused,
                    "thawed after a volume copy",
                )
            } else {
                (
                    runtime.start_container(container).await.map(|_| ()),
                    ServiceEventKind::Started,
                    "started again after a volume copy",
                )
            };
            match done {
                Ok(()) => self.record_event(svc, kind, message).await,
                Err(e) => {
                    tracing::error!(error = %e, service = %svc.name, "could not resume a service after a backup");
                }
            }
        }
    }

    /// The backups of a volume, newest first. Errors: `NotFound`, `PermissionDenied`.
    pub(crate) async fn list_backups(
        &self,
        who: &Principal,
        org_slug: &str,
        volume: &str,
    ) -> Result<Vec<Backup>> {
        let (_, v) = self
            .authorize_volume(who, org_slug, volume, Action::ServiceView)
            .await?;
        self.inner.store.volumes.list_backups(v.id).await
    }

    /// Every backup of the organization the principal may see (of deleted volumes too),
    /// newest first. Errors: `NotFound`.
    pub(crate) async fn list_org_backups(
        &self,
        who: &Principal,
        org_slug: &str,
    ) -> Result<Vec<Backup>> {
        let org = self.authorize_org(who, org_slug, Action::OrgView).await?;
        Ok(self
            .inner
            .store
            .volumes
            .list_org_backups(org.id)
            .await?
            .into_iter()
            .filter(|b| who.can(Action::ServiceView, Some(org.id), Some(b.project)))
            .collect())
    }

    async fn authorize_backup(
        &self,
        who: &Principal,
        org_slug: &str,
        backup: &str,
        action: Action,
    ) -> Result<(crate::model::Organization, Backup)> {
        let org = self.authorize_org(who, org_slug, Action::OrgView).await?;
        let not_found = || Error::not_found("backup", backup);
        let id: uuid::Uuid = backup.parse().map_err(|_| not_found())?;
        let b = match self.inner.store.volumes.backup(BackupId(id)).await {
            Ok(b) if b.org == org.id => b,
            Ok(_) => return Err(not_found()),
            Err(e) if e.is_not_found() => return Err(not_found()),
            Err(e) => return Err(e),
        };
        if !who.can(Action::ServiceView, Some(org.id), Some(b.project)) {
            return Err(not_found());
        }
        who.require(action, org.id, Some(b.project), org_slug)?;
        Self::refuse_if_suspended(&org, action)?;
        Ok((org, b))
    }

    /// Deletes a backup and its stored archive. Errors: `Conflict` (still running),
    /// `NotFound`, `PermissionDenied`, `Unavailable` (the store; the record stays).
    pub(crate) async fn delete_backup(
        &self,
        who: &Principal,
        org_slug: &str,
        backup: &str,
    ) -> Result<()> {
        let (org, b) = self
            .authorize_backup(who, org_slug, backup, Action::VolumeDelete)
            .await?;
        if b.status == BackupStatus::Running {
            return Err(Error::conflict("the backup is still running"));
        }
        self.remove_backup(&b).await?;
        self.audit(
            Some(who),
            Some(org.id),
            "backup.delete",
            format!("backup:{}", b.id),
            json(&b),
            None,
        )
        .await;
        Ok(())
    }

    /// Removes a backup's object (missing is fine) and record.
    pub(super) async fn remove_backup(&self, b: &Backup) -> Result<()> {
        if let Some(location) = &b.location {
            let store = &self.backup_destination()?.config.store;
            match store.delete(&ObjectPath::from(location.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error("deleting the backup archive", e)),
            }
        }
        self.inner.store.volumes.delete_backup(b.id).await
    }

    /// Sets (or with `None` removes) a volume's backup schedule and retention.
    /// Errors: `InvalidInput` naming the field, `NotFound`, `PermissionDenied`,
    /// `Unsupported` (no backup destination).
    pub(crate) async fn set_backup_schedule(
        &self,
        who: &Principal,
        org_slug: &str,
        volume: &str,
        schedule: Option<ScheduleRequest>,
    ) -> Result<Volume> {
        let (org, mut v) = self
            .authorize_volume(who, org_slug, volume, Action::VolumeManage)
            .await?;
        if schedule.is_some() {
            self.backup_destination()?;
        }
        let before = v.backup_schedule.clone();
        v.backup_schedule = match schedule {
            None => None,
            Some(s) => {
                super::backup_limits::check_schedule(
                    &self.backup_destination()?.config,
                    &s,
                    self.now(),
                )?;
                s.how().check()?;
                if s.logical {
                    // The volume must be a database's; that it runs is checked at each run.
                    match self.dump_source(&v, "logical").await {
                        Err(e) if e.is_invalid_input() => return Err(e),
                        _ => {}
                    }
                }
                Some(BackupSchedule {
                    cron: s.cron.split_whitespace().collect::<Vec<_>>().join(" "),
                    keep_last: s.keep_last,
                    max_age_days: s.max_age_days,
                    consistent: s.consistent,
                    pause: s.consistent && s.pause,
                    logical: s.logical,
                    since: self.now(),
                })
            }
        };
        self.inner.store.volumes.update_volume(&v).await?;
        self.audit(
            Some(who),
            Some(org.id),
            "backup.schedule",
            format!("volume:{}", v.id),
            json(&before),
            json(&v.backup_schedule),
        )
        .await;
        Ok(v)
    }

    /// Takes every scheduled backup that is due and applies retention (a system operation:
    /// no principal). Errors: `Unavailable` (the store); a failing volume lands in the report.
    #[instrument(skip_all)]
    pub(crate) async fn run_due_backups(&self) -> Result<ScheduleReport> {
        let mut report = ScheduleReport::default();
        if self.inner.backups.is_none() {
            return Ok(report);
        }
        let now = self.now();
        for v in self.inner.store.volumes.list_all_volumes().await? {
            let Some(schedule) = v.backup_schedule.clone() else {
                continue;
            };
            let history = self.inner.store.volumes.list_backups(v.id).await?;
            let last = history
                .iter()
                .filter(|b| b.trigger == BackupTrigger::Scheduled)
                .map(|b| b.created_at)
                .max()
                .map_or(schedule.since, |t| t.max(schedule.since));
            match next_run(&schedule, last) {
                Ok(due) if due <= now => {
                    let how = BackupRequest {
                        consistent: schedule.consistent,
                        pause: schedule.pause,
                        logical: schedule.logical,
                    };
                    match self
                        .take_backup(&v, how, BackupTrigger::Scheduled, None)
                        .await
                    {
                        Ok(b) => report.taken.push(b),
                        Err(e) => report.errors.push(format!("volume {}: {e}", v.id)),
                    }
                }
                Ok(_) => {}
                Err(e) => report.errors.push(format!("volume {}: {e}", v.id)),
            }
            let scheduled: Vec<Backup> = self
                .inner
                .store
                .volumes
                .list_backups(v.id)
                .await?
                .into_iter()
                .filter(|b| b.trigger == BackupTrigger::Scheduled)
                .collect();
            for id in retention_victims(&scheduled, schedule.keep_last, schedule.max_age_days, now)
            {
                let Some(b) = scheduled.iter().find(|b| b.id == id) else {
                    continue;
                };
                match self.remove_backup(b).await {
                    Ok(()) => report.removed.push(id),
                    Err(e) => report.errors.push(format!("removing backup {id}: {e}")),
                }
            }
        }
        Ok(report)
    }

    /// Restores a succeeded backup (see the module docs): into the volume it was taken of by
    /// default, or `request`'s existing or new volume.
    ///
    /// A logical dump is restored through the running database whose data volume the target
    /// is (see the module docs), never into a new volume.
    ///
    /// Errors: `InvalidInput` (field `archive`: the archive failed validation — nothing was
    /// written; or a field of `request`: `new_volume` for a logical dump, `volume` when the
    /// target is not a database of the dump's engine), `Conflict` (the backup is not
    /// succeeded, its volume was deleted and no target is given, the object does not match
    /// its SHA-256, the target is busy, or a dump's database is not running), `NotFound`,
    /// `PermissionDenied` (admin or higher on the target's project), `Backend` (the database
    /// refused the dump; the message says what was left changed), `Unsupported`,
    /// `Unavailable`.
    #[instrument(skip_all, fields(caas.org = %org_slug, caas.backup = %backup))]
    pub(crate) async fn restore_backup(
        &self,
        who: &Principal,
        org_slug: &str,
        backup: &str,
        request: RestoreRequest,
    ) -> Result<RestoreOutcome> {
        let (org, b) = self
            .authorize_backup(who, org_slug, backup, Action::ServiceView)
            .await?;
        self.backup_destination()?;
        if b.status != BackupStatus::Succeeded {
            return Err(Error::conflict(format!(
                "backup {} is {:?}; only succeeded backups can be restored",
                b.id, b.status
            )));
        }
        let location = b
            .location
            .clone()
            .ok_or_else(|| Error::conflict("the backup has no stored archive"))?;
        if b.format.is_logical() && request.new_volume.is_some() {
            return Err(Error::invalid(
                "new_volume",
                format!(
                    "backup {} is a logical dump ({}), which is restored through a running \
                     database: deploy a database of that engine and restore into its volume \
                     (volume: ...)",
                    b.id,
                    b.format.as_str()
                ),
            ));
        }
        // The target, and whether it was created for this restore.
        let (target, fresh) = match (&request.volume, &request.new_volume) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "new_volume",
                    "give either volume or new_volume, not both",
                ));
            }
            (Some(v), None) => (
                self.authorize_volume(who, org_slug, v, Action::VolumeRestore)
                    .await?
                    .1,
                false,
            ),
            (None, Some(new)) => {
                // The right to restore into that project, before creating anything.
                self.authorize_project(who, org_slug, &new.project, Action::VolumeRestore)
                    .await?;
                let view = self.create_volume(who, org_slug, new.clone()).await?;
                (view.volume, true)
            }
            (None, None) => match self.inner.store.volumes.volume(b.volume).await {
                Ok(v) => {
                    let id = v.id.to_string();
                    (
                        self.authorize_volume(who, org_slug, &id, Action::VolumeRestore)
                            .await?
                            .1,
                        false,
                    )
                }
                Err(e) if e.is_not_found() => {
                    return Err(Error::conflict(format!(
                        "volume '{}' of this backup was deleted; restore into new_volume or another volume",
                        b.volume_name
                    )));
                }
                Err(e) => return Err(e),
            },
        };
        let (p, who) = (self.clone(), who.clone());
        let task = self.inner.copies.spawn(async move {
            let backups = p.backup_destination()?;
            let result = if b.format.is_logical() {
                p.restore_dump_into(backups, &b, &location, &target).await
            } else {
                p.restore_into(backups, &b, &location, &target, fresh).await
            };
            let (volume, archive, services) = match result {
                Ok(v) => v,
                Err(e) => {
                    if fresh {
                        let _ = p.destroy_volume(&target).await;
                    }
                    return Err(e);
                }
            };
            p.audit(
                Some(&who),
                Some(org.id),
                "backup.restore",
                format!("backup:{}", b.id),
                None,
                json(&serde_json::json!({ "volume": volume.id, "archive": archive })),
            )
            .await;
            Ok(RestoreOutcome {
                backup: b,
                volume,
                archive,
                services,
            })
        });
        finished("restore", task).await
    }

    async fn restore_into(
        &self,
        backups: &Backups,
        b: &Backup,
        location: &str,
        target: &Volume,
        fresh: bool,
    ) -> Result<(Volume, ArchiveSummary, Vec<Name>)> {
        let _slot = self.copy_slot(backups, target).await?;
        let max_bytes = target.size_bytes.saturating_add(target.size_bytes / 10);
        let staged = self.stage_archive(backups, b, location, max_bytes).await?;
        let path = staged.path().to_path_buf();
        let limits = ArchiveLimits::new(max_bytes, MAX_ARCHIVE_ENTRIES);
        let summary = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path)
                .map_err(|e| Error::backend_source("platform", "reading the staged archive", e))?;
            crate::archive::validate(std::io::BufReader::new(file), &limits)
        })
        .await
        .map_err(|e| Error::backend("platform", format!("archive validation panicked: {e}")))??;

        let project = self.inner.store.services.project(target.project).await?;
        let runtime = self.runtime();
        if fresh {
            runtime
                .write_archive(&target.runtime_name, "/", file_stream(staged.path()).await?)
                .await?;
            return Ok((target.clone(), summary, Vec::new()));
        }
        // New data goes into a new runtime volume; the switch comes after it is complete.
        let new_name = format!(
            "caas-v-{}-{}",
            target.id.as_uuid().simple(),
            &b.id.as_uuid().simple().to_string()[..12]
        );
        self.create_runtime_volume(&project, target, &new_name)
            .await?;
        if let Err(e) = runtime
            .write_archive(&new_name, "/", file_stream(staged.path()).await?)
            .await
        {
            let _ = runtime.remove_volume(&new_name).await;
            return Err(e);
        }
        drop(staged);
        let services = self.switch_volume(&project, target, &new_name, b).await?;
        let volume = self.inner.store.volumes.volume(target.id).await?;
        Ok((volume, summary, services))
    }

    /// One backup or restore of `v` may run: marks the volume busy (`Conflict` when it is)
    /// and takes one of the platform's permits (`Unavailable` when shutting down); both are
    /// held until the slot is dropped.
    async fn copy_slot<'a>(
        &self,
        backups: &'a Backups,
        v: &Volume,
    ) -> Result<(super::VolumeBusy, tokio::sync::SemaphorePermit<'a>)> {
        let busy = self.volume_busy(v.id)?;
        let permit = backups
            .permits
            .acquire()
            .await
            .map_err(|_| Error::unavailable("platform", "shutting down"))?;
        Ok((busy, permit))
    }

    /// Restores a logical dump through the running database whose data volume `target` is.
    /// The dump is staged and checked whole (digest, completion marker) before any of it is
    /// sent. Returns the volume, a summary of one file of the dump's size, and the service.
    async fn restore_dump_into(
        &self,
        backups: &Backups,
        b: &Backup,
        location: &str,
        target: &Volume,
    ) -> Result<(Volume, ArchiveSummary, Vec<Name>)> {
        let _slot = self.copy_slot(backups, target).await?;
        let src = self.dump_source(target, "volume").await?;
        if src.format != b.format {
            return Err(Error::invalid(
                "volume",
                format!(
                    "backup {} is a {} dump and volume '{}' belongs to a database that takes {} \
                     dumps: restore into a database of the engine the dump was taken from",
                    b.id,
                    b.format.as_str(),
                    target.name,
                    src.format.as_str()
                ),
            ));
        }
        // A dump may be larger than the files it came from: the cap is the size recorded when
        // it was taken (the digest check makes the two agree).
        let max_bytes = b
            .archive_bytes
            .unwrap_or_else(|| target.size_bytes.saturating_mul(2));
        let staged = self.stage_archive(backups, b, location, max_bytes).await?;
        let size = staged
            .as_file()
            .metadata()
            .map_err(|e| Error::backend_source("platform", "reading the staged dump", e))?
            .len();
        let tail = read_tail(staged.path(), 8 * 1024).await?;
        if !super::dumps::is_complete(b.format, &tail) {
            return Err(Error::invalid(
                "archive",
                format!(
                    "the stored dump of backup {} lacks its completion marker ('{}'): it is \
                     incomplete; nothing was restored",
                    b.id,
                    super::dumps::completion_marker(b.format)
                ),
            ));
        }
        self.apply_dump(&src, file_stream(staged.path()).await?)
            .await?;
        self.record_event(
            &src.service,
            ServiceEventKind::VolumeRestored {
                volume: target.name.to_string(),
                backup: b.id.to_string(),
            },
            "the database was restored from a logical dump",
        )
        .await;
        let summary = ArchiveSummary {
            entries: 1,
            files: 1,
            bytes: size,
            ..ArchiveSummary::default()
        };
        let volume = self.inner.store.volumes.volume(target.id).await?;
        Ok((volume, summary, vec![src.service.name]))
    }

    /// Downloads a backup's object, checks its SHA-256 and decompresses it into a staging
    /// file of at most `max_bytes` plus tar overhead. Before anything is downloaded, a backup
    /// whose recorded size is over that cap is refused, and so is one the staging directory
    /// has no room for. Errors: `Conflict` (digest mismatch), `InvalidInput` (over-size or not
    /// zstd), `Unavailable` (no room to stage it, the store).
    async fn stage_archive(
        &self,
        backups: &Backups,
        b: &Backup,
        location: &str,
        max_bytes: u64,
    ) -> Result<tempfile::NamedTempFile> {
        let dir = backups
            .config
            .staging_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        // Tar headers and padding: generous room over the contents.
        let cap = max_bytes
            .saturating_add(max_bytes / 4)
            .saturating_add(64 * 1024 * 1024);
        if let Some(size) = b.archive_bytes {
            if size > cap {
                return Err(Error::invalid(
                    "archive",
                    format!(
                        "backup {} holds {size} bytes, more than the target volume can take \
                         ({max_bytes} bytes of contents): restore into a larger volume \
                         (new_volume with a larger size_bytes)",
                        b.id
                    ),
                ));
            }
            let free = available_space(&dir).await?;
            if free < size {
                return Err(Error::unavailable(
                    "backup staging",
                    format!(
                        "restoring backup {} stages {size} bytes in {}, which has {free} bytes \
                         free: free space there, or stage restores on a larger disk \
                         (BackupConfig::staging_dir; the reference server's --staging-dir)",
                        b.id,
                        dir.display()
                    ),
                ));
            }
        }
        let staged = tempfile::Builder::new()
            .prefix("caas-restore-")
            .tempfile_in(&dir)
            .map_err(|e| {
                Error::backend_source(
                    "platform",
                    format!("creating a staging file in {}", dir.display()),
                    e,
                )
            })?;
        let object = backups
            .config
            .store
            .get(&ObjectPath::from(location))
            .await
            .map_err(|e| store_error("reading the backup archive", e))?;
        let hasher = Arc::new(std::sync::Mutex::new(Sha256::new()));
        let h = hasher.clone();
        let body = object.into_stream().map(move |item| {
            let bytes = item.map_err(io_error)?;
            h.lock().unwrap_or_else(|p| p.into_inner()).update(&bytes);
            Ok::<_, std::io::Error>(bytes)
        });
        let decoder = ZstdDecoder::new(tokio::io::BufReader::with_capacity(
            256 * 1024,
            tokio_util::io::StreamReader::new(body),
        ));
        let mut limited = decoder.take(cap.saturating_add(1));
        let file = tokio::fs::File::from_std(
            staged
                .reopen()
                .map_err(|e| Error::backend_source("platform", "opening the staging file", e))?,
        );
        let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
        let copied = tokio::io::copy(&mut limited, &mut out).await.map_err(|e| {
            Error::invalid(
                "archive",
                format!("the stored archive cannot be decompressed: {e}"),
            )
        })?;
        out.flush()
            .await
            .map_err(|e| Error::backend_source("platform", "writing the staging file", e))?;
        // Read what is left, so the digest covers the whole object.
        let mut rest = limited.into_inner();
        if copied > cap {
            return Err(Error::invalid(
                "archive",
                format!("decompresses to more than {cap} bytes; over-size for the target volume"),
            ));
        }
        let mut sink = tokio::io::sink();
        tokio::io::copy(&mut rest, &mut sink).await.map_err(|e| {
            Error::invalid("archive", format!("the stored archive is damaged: {e}"))
        })?;
        let digest = hex::encode(
            std::mem::take(&mut *hasher.lock().unwrap_or_else(|p| p.into_inner())).finalize(),
        );
        if Some(digest.as_str()) != b.sha256.as_deref() {
            return Err(Error::conflict(format!(
                "the stored archive of backup {} does not match its SHA-256 (stored object damaged or replaced); nothing was restored",
                b.id
            )));
        }
        Ok(staged)
    }

    /// Makes `new_name` the volume's runtime volume: services mounting it are recreated onto
    /// it (keeping their running or stopped status) and the old runtime volume is removed.
    /// On a failure the volume and the services already moved go back to the old data.
    async fn switch_volume(
        &self,
        project: &Project,
        target: &Volume,
        new_name: &str,
        b: &Backup,
    ) -> Result<Vec<Name>> {
        let store = &self.inner.store;
        let runtime = self.runtime();
        let old_name = target.runtime_name.clone();
        let users = self.services_mounting(target).await?;
        let mut v = target.clone();
        v.runtime_name = new_name.to_string();
        store.volumes.update_volume(&v).await?;
        let mut moved: Vec<Service> = Vec::new();
        for svc in &users {
            match self.remount(project, svc).await {
                Ok(s) => moved.push(s),
                Err(e) => {
                    tracing::error!(error = %e, service = %svc.name, "restore: could not move a service onto the restored data; going back");
                    v.runtime_name = old_name.clone();
                    store.volumes.update_volume(&v).await?;
                    for s in &moved {
                        if let Err(re) = self.remount(project, s).await {
                            tracing::error!(error = %re, service = %s.name, "restore: could not move a service back");
                        }
                    }
                    let _ = runtime.remove_volume(new_name).await;
                    return Err(e);
                }
            }
        }
        if let Err(e) = runtime.remove_volume(&old_name).await {
            // Labelled with the volume's id; the reconciler reports it.
            tracing::warn!(error = %e, volume = %old_name, "restore: could not remove the replaced runtime volume");
        }
        for s in &moved {
            self.record_event(
                s,
                ServiceEventKind::VolumeRestored {
                    volume: target.name.to_string(),
                    backup: b.id.to_string(),
                },
                "the volume was restored from a backup",
            )
            .await;
        }
        Ok(moved.into_iter().map(|s| s.name).collect())
    }

    /// Recreates a service's container from its spec (picking up its volumes' current
    /// runtime volumes), leaving it stopped if it was.
    async fn remount(&self, project: &Project, svc: &Service) -> Result<Service> {
        let svc = store_fresh(self, svc).await?;
        if svc.current_deployment.is_none() {
            return Ok(svc);
        }
        let was_running = svc.status == ServiceStatus::Running;
        let spec = svc.spec.clone();
        let s = self
            .roll_out(project, &svc, spec, super::rollout::Strategy::StopThenStart)
            .await?;
        if was_running {
            Ok(s)
        } else {
            self.stop_quietly(&s).await
        }
    }
}

impl Platform {
    /// Marks backups that are still `running` long after they started (their process died)
    /// failed, removes their partial archives, and for consistent ones starts again the
    /// services they stopped. Backups of volumes busy in this process are left alone.
    pub(super) async fn reconcile_backups(
        &self,
        report: &mut super::reconcile::ReconcileReport,
        grace: chrono::Duration,
    ) -> Result<()> {
        let now = self.now();
        let busy: std::collections::HashSet<crate::ids::VolumeId> = self
            .inner
            .busy_volumes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for v in self.inner.store.volumes.list_all_volumes().await? {
            if busy.contains(&v.id) {
                continue;
            }
            for mut b in self.inner.store.volumes.list_backups(v.id).await? {
                if b.status != BackupStatus::Running || now - b.created_at < grace {
                    continue;
                }
                if let Ok(key) = self.object_key(&b)
                    && let Ok(backups) = self.backup_destination()
                {
                    let _ = backups.config.store.delete(&key).await;
                }
                b.status = BackupStatus::Failed;
                b.error = Some("interrupted; marked failed by the reconciler".into());
                b.finished_at = Some(now);
                if let Err(e) = self.inner.store.volumes.update_backup(&b).await {
                    report.errors.push(format!("updating backup {}: {e}", b.id));
                    continue;
                }
                report.failed_backups.push(b.id);
                if b.consistent {
                    self.restart_stopped_users(&v, b.paused, report).await;
                }
            }
        }
        Ok(())
    }

    /// Starts (or thaws, after a paused copy) the containers of services that should run but
    /// were left stopped (or frozen).
    async fn restart_stopped_users(
        &self,
        v: &Volume,
        paused: bool,
        report: &mut super::reconcile::ReconcileReport,
    ) {
        let Ok(users) = self.services_mounting(v).await else {
            return;
        };
        for svc in users
            .into_iter()
            .filter(|s| s.status == ServiceStatus::Running)
        {
            let Ok(container) = self.current_container(&svc).await else {
                continue;
            };
            let runtime = self.runtime();
            let done = if paused {
                runtime.unpause_container(&container).await
            } else {
                runtime.start_container(&container).await.map(|_| ())
            };
            if let Err(e) = done {
                report
                    .errors
                    .push(format!("resuming {} after a backup: {e}", svc.name));
            }
        }
    }
}

async fn store_fresh(p: &Platform, svc: &Service) -> Result<Service> {
    p.inner.store.services.service(svc.id).await
}

/// Bytes free for this process in the file system holding `dir`.
async fn available_space(dir: &std::path::Path) -> Result<u64> {
    let path = dir.to_path_buf();
    tokio::task::spawn_blocking(move || fs4::available_space(&path))
        .await
        .map_err(|e| Error::backend("platform", format!("the free-space query stopped: {e}")))?
        .map_err(|e| {
            Error::backend_source(
                "platform",
                format!("measuring the free space in {}", dir.display()),
                e,
            )
        })
}

/// The answer of a copy task. Backups and restores run as tasks of their own (see
/// [`Platform::spawn_backup`]): a caller that goes away (a closed HTTP connection, a timeout)
/// does not stop one half-way, with services stopped or frozen, or a restore's volume switch
/// half done.
async fn finished<T>(what: &str, task: tokio::task::JoinHandle<Result<T>>) -> Result<T> {
    task.await
        .map_err(|e| Error::backend("platform", format!("the {what} task stopped: {e}")))?
}

/// The last `n` bytes of a file.
async fn read_tail(path: &std::path::Path, n: u64) -> Result<Vec<u8>> {
    use tokio::io::AsyncSeekExt;
    let fail = |e| Error::backend_source("platform", "reading the staged dump", e);
    let mut file = tokio::fs::File::open(path).await.map_err(fail)?;
    let len = file.metadata().await.map_err(fail)?.len();
    file.seek(std::io::SeekFrom::Start(len.saturating_sub(n)))
        .await
        .map_err(fail)?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).await.map_err(fail)?;
    Ok(tail)
}

/// The staged archive as a stream of chunks for the runtime.
async fn file_stream(path: &std::path::Path) -> Result<ByteStream> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::backend_source("platform", "reading the staged archive", e))?;
    Ok(
        tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)
            .map_err(|e| Error::backend_source("platform", "reading the staged archive", e))
            .boxed(),
    )
}

/// `tar`, failing once it has yielded more than `cap` bytes: a volume's archive never needs
/// more than its size allows, whatever writes a container made past a soft limit.
fn capped(tar: ByteStream, cap: u64) -> ByteStream {
    let mut read = 0u64;
    tar.map(move |chunk| {
        let chunk = chunk?;
        read = read.saturating_add(chunk.len() as u64);
        if read > cap {
            return Err(Error::conflict(format!(
                "the volume's archive is larger than its size allows ({cap} bytes read); the backup stops there"
            )));
        }
        Ok(chunk)
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrgId, ProjectId, VolumeId};

    fn backup(status: BackupStatus, age_days: i64, now: DateTime<Utc>) -> Backup {
        Backup {
            id: BackupId::new(),
            org: OrgId::new(),
            volume: VolumeId::new(),
            project: ProjectId::new(),
            volume_name: Name::parse("data").unwrap_or_else(|_| unreachable!()),
            status,
            trigger: BackupTrigger::Scheduled,
            consistent: false,
            paused: false,
            format: BackupFormat::Archive,
            archive_bytes: None,
            size_bytes: None,
            sha256: None,
            location: None,
            error: None,
            created_at: now - chrono::Duration::days(age_days) - chrono::Duration::minutes(1),
            finished_at: None,
        }
    }

    #[test]
    fn retention_keeps_the_newest_n_of_each_kind_or_the_young_ones() {
        let now = Utc::now();
        use BackupStatus::*;
        // Newest first.
        let b: Vec<Backup> = [
            (Running, 0),
            (Succeeded, 0),
            (Failed, 1),
            (Succeeded, 2),
            (Succeeded, 3),
            (Failed, 4),
            (Succeeded, 9),
        ]
        .into_iter()
        .map(|(s, d)| backup(s, d, now))
        .collect();
        let ids = |idx: &[usize]| idx.iter().map(|i| b[*i].id).collect::<Vec<_>>();
        assert_eq!(retention_victims(&b, None, None, now), vec![]);
        assert_eq!(retention_victims(&b, Some(2), None, now), ids(&[4, 6]));
        assert_eq!(
            retention_victims(&b, Some(1), None, now),
            ids(&[3, 4, 5, 6])
        );
        assert_eq!(retention_victims(&b, None, Some(3), now), ids(&[4, 5, 6]));
        // Either rule keeps a backup.
        assert_eq!(
            retention_victims(&b, Some(1), Some(3), now),
            ids(&[4, 5, 6])
        );
        assert_eq!(retention_victims(&b, Some(4), Some(1), now), vec![]);
    }

    #[test]
    fn a_request_names_the_field_that_does_not_go_with_the_others() {
        assert!(BackupRequest::default().check().is_ok());
        assert!(BackupRequest::consistent(true).check().is_ok());
        assert!(BackupRequest::paused().check().is_ok());
        assert!(BackupRequest::logical().check().is_ok());
        let pause_alone = BackupRequest {
            pause: true,
            ..BackupRequest::default()
        };
        assert_eq!(pause_alone.check().unwrap_err().field(), Some("pause"));
        let both = BackupRequest {
            consistent: true,
            logical: true,
            ..BackupRequest::default()
        };
        assert_eq!(both.check().unwrap_err().field(), Some("consistent"));
        let s = ScheduleRequest::new("0 3 * * *").taken_as(BackupRequest::paused());
        assert_eq!(s.how(), BackupRequest::paused());
    }

    #[test]
    fn cron_needs_five_fields_and_finds_the_next_run() {
        assert!(parse_cron("cron", "0 3 * * *").is_ok());
        for bad in ["", "0 3 * *", "* * * * * *", "61 * * * *", "a b c d e"] {
            let e = parse_cron("cron", bad).unwrap_err();
            assert_eq!(e.field(), Some("cron"), "{bad}: {e}");
        }
        let s = BackupSchedule {
            cron: "30 2 * * *".into(),
            keep_last: None,
            max_age_days: None,
            consistent: false,
            pause: false,
            logical: false,
            since: Utc::now(),
        };
        let after = DateTime::parse_from_rfc3339("2026-01-01T02:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| unreachable!());
        let next = next_run(&s, after).unwrap_or_else(|_| unreachable!());
        assert_eq!(next.to_rfc3339(), "2026-01-02T02:30:00+00:00");
    }
}
