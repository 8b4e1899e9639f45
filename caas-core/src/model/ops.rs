//! Operational records: volumes, backups, domains, templates, metrics, events, alerts, audit,
//! quota reservations and usage.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{
    AlertId, AuditId, BackupId, DomainId, EventId, OrgId, ProjectId, ReservationId, ServiceId,
    UserId, VolumeId,
};
use crate::model::DatabaseEngine;
use crate::model::plan::PlanLimits;
use crate::units::ResourceAmounts;
use crate::validate::{HostPattern, Name};

/// How full a volume is, from its last measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VolumeState {
    /// Below the warning threshold (or never measured).
    #[default]
    Ok,
    /// At or above 80 % of its size.
    Warning,
    /// At or above its size: mounted read-only from the next recreate, no deploy may add to it.
    Full,
}

/// A volume's last measured usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VolumeUsage {
    /// Bytes in use.
    pub bytes: u64,
    /// When it was measured.
    pub at: DateTime<Utc>,
}

/// When a volume is backed up automatically, and which backups are kept.
///
/// Retention keeps a backup when any rule keeps it: it is among the newest `keep_last`, or it
/// is younger than `max_age_days`. With neither set, every backup is kept. A running backup
/// is never removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupSchedule {
    /// Standard five-field cron expression (minute hour day-of-month month day-of-week), UTC.
    pub cron: String,
    /// Keep the newest N backups.
    #[serde(default)]
    pub keep_last: Option<u32>,
    /// Keep backups younger than this many days.
    #[serde(default)]
    pub max_age_days: Option<u32>,
    /// Stop the services that mount the volume around the copy.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    #[serde(default)]
    pub consistent: bool,
    /// With `consistent`: pause (freeze) those services instead of stopping them.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    #[serde(default)]
    pub pause: bool,
    /// Take a logical dump through the database's own tool instead of a copy of the files
    /// (see [`BackupFormat`]).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    #[serde(default)]
    pub logical: bool,
    /// When the schedule was set: runs are due from then on.
    pub since: DateTime<Utc>,
}

/// A persistent named volume, holding its own storage reservation: it counts against the
/// organization's storage quota from creation to deletion, whether services mount it or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Volume {
    /// Id.
    pub id: VolumeId,
    /// Organization.
    pub org: OrgId,
    /// Project it belongs to (services of this project mount it by name).
    pub project: ProjectId,
    /// Name, unique in the project.
    pub name: Name,
    /// Size limit counted against the storage quota.
    pub size_bytes: u64,
    /// Name of the volume in the runtime (changes when a restore swaps in restored data).
    pub runtime_name: String,
    /// The quota reservation holding `size_bytes` of storage.
    pub reservation: Option<ReservationId>,
    /// How full it is.
    pub state: VolumeState,
    /// Last measurement.
    pub usage: Option<VolumeUsage>,
    /// Automatic backups.
    pub backup_schedule: Option<BackupSchedule>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Status of a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BackupStatus {
    /// In progress.
    Running,
    /// Stored.
    Succeeded,
    /// Failed; see the error.
    Failed,
}

/// What started a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BackupTrigger {
    /// Asked for by a principal.
    Manual,
    /// The volume's backup schedule.
    Scheduled,
}

/// What a backup holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BackupFormat {
    /// A tar of the volume's files (any volume; restored by writing the files back).
    #[default]
    Archive,
    /// A PostgreSQL logical dump (`pg_dump` of the service's database, plain SQL, without
    /// owners or privileges), restored with `psql` in one transaction.
    PgDump,
    /// A MySQL logical dump (`mysqldump --single-transaction` of the service's database),
    /// restored with `mysql`.
    MysqlDump,
    /// A MariaDB logical dump (`mariadb-dump --single-transaction` of the service's
    /// database), restored with `mariadb`.
    MariadbDump,
}

impl BackupFormat {
    /// The logical dump format of a database engine; `None` for engines without one here.
    pub fn logical_for(engine: DatabaseEngine) -> Option<Self> {
        match engine {
            DatabaseEngine::Postgres => Some(Self::PgDump),
            DatabaseEngine::Mysql => Some(Self::MysqlDump),
            DatabaseEngine::Mariadb => Some(Self::MariadbDump),
            DatabaseEngine::Mongo | DatabaseEngine::Redis => None,
        }
    }
    /// Whether this is a logical dump (restored through a running database, not as files).
    pub fn is_logical(self) -> bool {
        self != Self::Archive
    }
    /// The name used in APIs and stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Archive => "archive",
            Self::PgDump => "pg_dump",
            Self::MysqlDump => "mysql_dump",
            Self::MariadbDump => "mariadb_dump",
        }
    }
}

impl std::str::FromStr for BackupFormat {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "archive" => Ok(Self::Archive),
            "pg_dump" => Ok(Self::PgDump),
            "mysql_dump" => Ok(Self::MysqlDump),
            "mariadb_dump" => Ok(Self::MariadbDump),
            other => Err(crate::Error::invalid(
                "format",
                format!(
                    "'{other}' is not a backup format: archive, pg_dump, mysql_dump or mariadb_dump"
                ),
            )),
        }
    }
}

/// One backup of a volume. Backups outlive their volume (they can be restored into a new
/// one) and go with their organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Backup {
    /// Id.
    pub id: BackupId,
    /// Organization.
    pub org: OrgId,
    /// The volume it was taken of.
    pub volume: VolumeId,
    /// The volume's project.
    pub project: ProjectId,
    /// The volume's name when it was taken.
    pub volume_name: Name,
    /// Status.
    pub status: BackupStatus,
    /// What started it.
    pub trigger: BackupTrigger,
    /// Whether the services mounting the volume were stopped (or paused) around the copy.
    pub consistent: bool,
    /// Whether they were paused (frozen) rather than stopped.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    #[serde(default)]
    pub paused: bool,
    /// What the stored object holds.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    #[serde(default)]
    pub format: BackupFormat,
    /// Size of the uncompressed archive.
    pub archive_bytes: Option<u64>,
    /// Stored (compressed) size.
    pub size_bytes: Option<u64>,
    /// SHA-256 of the stored object, hex.
    pub sha256: Option<String>,
    /// Where the archive is stored (object key).
    pub location: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Whether an organization's ownership of a hostname has been proven.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum VerificationStatus {
    /// Not proven yet.
    Pending,
    /// Proven; the organization's domains on the hostname are routed.
    Verified {
        /// When.
        at: DateTime<Utc>,
    },
    /// The last check failed.
    Failed {
        /// Why.
        reason: String,
    },
    /// Another organization owns the hostname: this domain is never routed. Only a domain's
    /// view says this (domains an earlier version let two organizations hold); claims are
    /// never conflicted.
    Conflicted {
        /// Why.
        reason: String,
    },
}

/// Whether a hostname's DNS sends its traffic to the platform (A/AAAA records to one of its
/// public addresses, or a CNAME to its target), as last checked. It tells whether routing
/// and ACME certificates can work; it proves nothing about ownership.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// Whether the name points at the platform.
    pub points_at_platform: bool,
    /// What the DNS answered, in words.
    pub detail: String,
    /// When it was checked.
    pub checked_at: DateTime<Utc>,
}

/// An organization's claim on a hostname. One organization owns a hostname with every path
/// on it: the store keeps one claim per hostname (its normalized key) and refuses another
/// organization's. The claim lives as long as the organization has a domain on the hostname;
/// unproven, it expires at `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostClaim {
    /// The hostname or wildcard, normalized (see [`crate::validate::host_key`]).
    pub hostname: HostPattern,
    /// The owner.
    pub org: OrgId,
    /// The registrable domain the name belongs to (one label below its public suffix, e.g.
    /// `example.co.uk` for `shop.example.co.uk`), by which the platform tells whether another
    /// organization holds or held names of the same site.
    pub site: String,
    /// The random token that proves the claim: the value of the TXT record
    /// `_caas-challenge.<hostname>`, or the answer the platform serves at
    /// `http://<hostname>/.well-known/caas-challenge/<token>`.
    pub token: String,
    /// Whether ownership is proven.
    pub verification: VerificationStatus,
    /// Whether the name points at the platform, when checked.
    pub readiness: Option<Readiness>,
    /// When an unproven claim is released.
    pub expires_at: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl HostClaim {
    /// Whether ownership is proven.
    pub fn is_verified(&self) -> bool {
        matches!(self.verification, VerificationStatus::Verified { .. })
    }
    /// Whether the claim is unproven and past its expiry at `now`.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        !self.is_verified() && self.expires_at <= now
    }
}

/// A custom domain (and optional path) routed to a service. Its ownership is the
/// organization's [`HostClaim`] on the hostname.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Domain {
    /// Id.
    pub id: DomainId,
    /// Organization.
    pub org: OrgId,
    /// Service receiving the traffic.
    pub service: ServiceId,
    /// Host name, or a wildcard `*.<name>` where the platform enables them.
    pub hostname: HostPattern,
    /// Path prefix, `/` for the whole host.
    pub path_prefix: String,
    /// Strip the prefix before forwarding.
    pub strip_prefix: bool,
    /// The container port traffic goes to.
    pub target_port: u16,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// One measurement of one container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricSample {
    /// Organization.
    pub org: OrgId,
    /// Service.
    pub service: ServiceId,
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// CPU use in percent of one core (may exceed 100 with several cores).
    pub cpu_percent: f64,
    /// Memory in use (excluding page cache), bytes.
    pub memory_bytes: u64,
    /// Memory limit, bytes.
    pub memory_limit_bytes: u64,
    /// Bytes received over the network since start.
    pub net_rx_bytes: u64,
    /// Bytes sent over the network since start.
    pub net_tx_bytes: u64,
    /// Bytes read from block devices since start.
    pub block_read_bytes: u64,
    /// Bytes written to block devices since start.
    pub block_write_bytes: u64,
    /// Processes.
    pub pids: u64,
}

/// What happened to a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServiceEventKind {
    /// A deployment became active.
    Deployed,
    /// A deployment failed and was rolled back.
    DeployFailed {
        /// Why.
        reason: String,
    },
    /// Started on request.
    Started,
    /// Stopped on request.
    Stopped,
    /// Restarted on request.
    Restarted,
    /// The container exited.
    Died {
        /// Exit code.
        exit_code: i64,
    },
    /// The kernel killed the container for exceeding its memory limit.
    OomKilled,
    /// The engine restarted the container.
    EngineRestart,
    /// The health status changed.
    HealthChanged {
        /// `healthy`, `unhealthy` or `starting`.
        status: String,
    },
    /// The reconciler found the container missing.
    Lost,
    /// The service was deleted.
    Deleted,
    /// A volume the service mounts reached the warning threshold of its size.
    VolumeAlmostFull {
        /// The volume's name.
        volume: String,
        /// How full, in percent of its size.
        percent: u32,
    },
    /// A volume the service mounts is full: it is mounted read-only from the next recreate.
    VolumeFull {
        /// The volume's name.
        volume: String,
    },
    /// Paused (frozen) for a consistent copy of a volume it mounts.
    Paused,
    /// Thawed after being paused.
    Unpaused,
    /// A volume the service mounts was restored from a backup.
    VolumeRestored {
        /// The volume's name.
        volume: String,
        /// The backup's id.
        backup: String,
    },
}

/// A service event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceEvent {
    /// Id.
    pub id: EventId,
    /// Organization.
    pub org: OrgId,
    /// Service.
    pub service: ServiceId,
    /// What happened.
    pub kind: ServiceEventKind,
    /// Human-readable detail.
    pub message: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The state of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition holds.
    Firing,
    /// The condition no longer holds.
    Resolved,
}

/// A raised alert: one per rule and subject while it fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    /// Id.
    pub id: AlertId,
    /// Organization.
    pub org: OrgId,
    /// Service, if the alert is about one.
    pub service: Option<ServiceId>,
    /// What it is about (`service:<id>`, `volume:<id>`); with the rule, what deduplicates it.
    pub subject: String,
    /// Rule name, e.g. `volume_usage_warning`.
    pub rule: String,
    /// State.
    pub state: AlertState,
    /// Detail.
    pub message: String,
    /// When it started firing.
    pub since: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// One audit log entry: who did what to what, with before/after where it applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Id.
    pub id: AuditId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (None for the platform itself, e.g. the reconciler).
    pub actor: Option<UserId>,
    /// Organization concerned.
    pub org: Option<OrgId>,
    /// Dotted action name, e.g. `service.deploy`.
    pub action: String,
    /// What it was done to (`kind:id`).
    pub target: String,
    /// State before (secrets redacted).
    pub before: Option<serde_json::Value>,
    /// State after (secrets redacted).
    pub after: Option<serde_json::Value>,
}

/// State of a quota reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReservationState {
    /// Held while an operation runs; expires at `expires_at` if never committed.
    Pending,
    /// Held by a live object until released.
    Committed,
    /// No longer held.
    Released,
}

/// Resources held against an organization's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reservation {
    /// Id.
    pub id: ReservationId,
    /// Organization.
    pub org: OrgId,
    /// Amounts held.
    pub amounts: ResourceAmounts,
    /// State.
    pub state: ReservationState,
    /// What holds it once committed (`service:<id>`, `project:<id>`).
    pub owner: Option<String>,
    /// When a pending reservation stops counting.
    pub expires_at: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// An organization's use of its plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    /// Organization.
    pub org: OrgId,
    /// Plan name, when subscribed.
    pub plan: Option<String>,
    /// The plan's limits.
    pub limits: Option<PlanLimits>,
    /// Held by committed reservations.
    pub committed: ResourceAmounts,
    /// Held by pending (unexpired) reservations.
    pub pending: ResourceAmounts,
}

impl Usage {
    /// Committed plus pending.
    pub fn total(&self) -> ResourceAmounts {
        self.committed.plus(&self.pending)
    }
}

/// How finely metrics are stored: raw samples and three rollup levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Every sample as collected.
    Raw,
    /// One point per minute.
    Minute,
    /// One point per hour.
    Hour,
    /// One point per day.
    Day,
}

impl Resolution {
    /// All resolutions, finest first.
    pub const ALL: [Resolution; 4] = [Self::Raw, Self::Minute, Self::Hour, Self::Day];

    /// Bucket width (zero for raw).
    pub fn width(&self) -> chrono::Duration {
        match self {
            Self::Raw => chrono::Duration::zero(),
            Self::Minute => chrono::Duration::minutes(1),
            Self::Hour => chrono::Duration::hours(1),
            Self::Day => chrono::Duration::days(1),
        }
    }

    /// The resolution this one is rolled up from (`None` for raw).
    pub fn source(&self) -> Option<Resolution> {
        match self {
            Self::Raw => None,
            Self::Minute => Some(Self::Raw),
            Self::Hour => Some(Self::Minute),
            Self::Day => Some(Self::Hour),
        }
    }

    /// The name used in APIs and tables.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    /// The start of the bucket holding `at` (UTC-aligned; `at` itself for raw).
    pub fn bucket(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let w = self.width().num_seconds();
        if w == 0 {
            return at;
        }
        let secs = at.timestamp().div_euclid(w) * w;
        DateTime::from_timestamp(secs, 0).unwrap_or(at)
    }

    /// The coarsest resolution that still gives at least `min_points` points over
    /// `[from, to)`, so a chart of a week does not read every raw sample and a chart of ten
    /// minutes is not one hourly point.
    pub fn for_range(from: DateTime<Utc>, to: DateTime<Utc>, min_points: u32) -> Resolution {
        let span = (to - from).num_seconds().max(0);
        for r in [Self::Day, Self::Hour, Self::Minute] {
            if span / r.width().num_seconds() >= i64::from(min_points) {
                return r;
            }
        }
        Self::Raw
    }
}

/// Average, minimum and maximum of a gauge over a bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Aggregate {
    /// Mean.
    pub avg: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

/// One point of a metrics series at some resolution: for raw, one sample (avg = min = max).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricPoint {
    /// Service.
    pub service: ServiceId,
    /// Bucket start (the sample time for raw).
    pub at: DateTime<Utc>,
    /// Samples summarised.
    pub samples: u64,
    /// CPU percent of one core.
    pub cpu_percent: Aggregate,
    /// Memory in use, bytes.
    pub memory_bytes: Aggregate,
    /// Largest memory limit seen, bytes.
    pub memory_limit_bytes: u64,
    /// Largest network-received counter seen.
    pub net_rx_bytes: u64,
    /// Largest network-sent counter seen.
    pub net_tx_bytes: u64,
    /// Largest block-read counter seen.
    pub block_read_bytes: u64,
    /// Largest block-write counter seen.
    pub block_write_bytes: u64,
    /// Processes.
    pub pids: Aggregate,
}

impl MetricPoint {
    /// The point of a single raw sample.
    pub fn from_sample(s: &MetricSample) -> Self {
        let one = |v: f64| Aggregate {
            avg: v,
            min: v,
            max: v,
        };
        Self {
            service: s.service,
            at: s.at,
            samples: 1,
            cpu_percent: one(s.cpu_percent),
            memory_bytes: one(s.memory_bytes as f64),
            memory_limit_bytes: s.memory_limit_bytes,
            net_rx_bytes: s.net_rx_bytes,
            net_tx_bytes: s.net_tx_bytes,
            block_read_bytes: s.block_read_bytes,
            block_write_bytes: s.block_write_bytes,
            pids: one(s.pids as f64),
        }
    }

    /// Summarises finer points into one bucket starting at `at` (weighted by their sample
    /// counts). `None` when `points` is empty.
    pub fn summarise(at: DateTime<Utc>, points: &[MetricPoint]) -> Option<MetricPoint> {
        let first = points.first()?;
        let n: u64 = points.iter().map(|p| p.samples).sum();
        let agg = |f: fn(&MetricPoint) -> Aggregate| {
            let w = n.max(1) as f64;
            Aggregate {
                avg: points
                    .iter()
                    .map(|p| f(p).avg * p.samples as f64)
                    .sum::<f64>()
                    / w,
                min: points
                    .iter()
                    .map(|p| f(p).min)
                    .fold(f64::INFINITY, f64::min),
                max: points
                    .iter()
                    .map(|p| f(p).max)
                    .fold(f64::NEG_INFINITY, f64::max),
            }
        };
        let max = |f: fn(&MetricPoint) -> u64| points.iter().map(f).max().unwrap_or(0);
        Some(MetricPoint {
            service: first.service,
            at,
            samples: n,
            cpu_percent: agg(|p| p.cpu_percent),
            memory_bytes: agg(|p| p.memory_bytes),
            memory_limit_bytes: max(|p| p.memory_limit_bytes),
            net_rx_bytes: max(|p| p.net_rx_bytes),
            net_tx_bytes: max(|p| p.net_tx_bytes),
            block_read_bytes: max(|p| p.block_read_bytes),
            block_write_bytes: max(|p| p.block_write_bytes),
            pids: agg(|p| p.pids),
        })
    }
}
