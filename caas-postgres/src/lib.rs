//! The [`Store`](caas_core::Store) port on PostgreSQL, through sqlx.
//!
//! [`PgStore`] implements the whole `Store` trait — platform settings, users, organizations,
//! members, invitations, plans, subscriptions, projects, services, deployments, custom domains
//! and hostname claims, volumes, backups, alerts,
//! templates and template instances, quota reservations, service events, the audit log and
//! container metrics — and passes the same conformance suites (`caas_testkit::store_suite!`,
//! `caas_testkit::quota_suite!` and `caas_testkit::metrics_suite!`) as the in-memory
//! reference store.
//!
//! ```no_run
//! # async fn run() -> caas_core::Result<()> {
//! use caas_core::SettingStore;
//!
//! let store = caas_postgres::PgStore::connect("postgres://caas:caas@127.0.0.1/caas").await?;
//! store.migrate().await?;
//! // Secrets encrypted at rest (see below); without this, they are stored in plaintext.
//! let text = std::fs::read_to_string("/etc/caas/secret.key").expect("the key file");
//! let key = caas_core::secrets::SecretKey::parse(&text)?;
//! let store = store.with_secret_key(key).await?;
//! store.ping().await?;
//! # Ok(()) }
//! ```
//!
//! # Schema
//!
//! Migrations live in this crate (`migrations/`) and are embedded with `sqlx::migrate!`;
//! [`PgStore::migrate`] applies the pending ones, then fills in what SQL cannot compute (the
//! site of the hostname claims `0011_tenant_isolation.sql` made, from the public suffix list,
//! in one `UPDATE … FROM UNNEST`). The schema carries real, named constraints:
//! foreign keys, uniqueness (slugs, e-mails, plan names, names per organization or project),
//! checks on enumerations, names and amounts, and indexes for the queries the store runs.
//! Enumerations are stored as their snake_case text, service kinds, specs, event kinds and
//! audit before/after as JSONB, amounts as BIGINT (values above `i64::MAX` are refused with
//! `InvalidInput` naming the field, e.g. `limits.cpu_millis`), timestamps as TIMESTAMPTZ
//! (microsecond precision: finer parts are truncated). Settings are one JSONB document per
//! key (1 to 200 characters).
//!
//! Ownership cascades through the foreign keys: deleting an organization removes its members,
//! invitations, subscription, projects, services, their deployments and events, and its reservations in
//! one statement; audit entries have no foreign keys and outlive what they talk about.
//! A service references its project by `(project, organization)`, so it can never belong to a
//! project of another organization; so does a volume (`migrations/0005_volumes.sql`), whose
//! name is unique in its project and whose record goes with its project and organization.
//! Backups keep `volume_id` and `project_id` without foreign keys: they outlive the volume and
//! its project and go only with their organization. Alerts go with their organization and
//! keep `service_id` without a key; `put_alert` replaces every field of an existing alert.
//! Saved templates (`migrations/0006_templates.sql`) are platform-wide rows keyed by id, their
//! definition (the nested `Template`) a JSONB object; `put_template` replaces every field of a
//! template with the same id, creation time included. A template instance references its
//! project by `(project, organization)` like a volume, its name is unique in the project, its
//! services and outputs are JSONB arrays, and its template id is not a key (built-in templates
//! are not stored; instances outlive a saved template and their services); its record goes
//! with its project and organization. JSONB cannot hold the character U+0000: a template or
//! output containing it is refused with `InvalidInput`, and look-ups by an id or name that
//! could not be stored (not a DNS label) find nothing without asking the server.
//! `list_audit` filters in SQL, with only the conditions the filter sets in its statement:
//! organization, actor, `at >= since` and `at < before` (bounds rounded up to the
//! microsecond, which is what those comparisons mean on stored times; bounds before
//! PostgreSQL's earliest time keep every entry or none), and the action prefix as the range
//! `action >= prefix AND action < next` (`next`: the prefix with its last character replaced
//! by the following one). `audit_log.action` has the `"C"` collation
//! (`migrations/0008_audit_filters.sql`), so the range is bytewise, exactly
//! `str::starts_with`: `%`, `_` and `\` are plain characters, letters keep their case,
//! whatever the database's default collation. Indexes serve an organization's entries and all
//! entries by time, an actor's entries by time, and action ranges.
//! Invitations (`migrations/0007_invitations.sql`) go with their organization; their token's
//! SHA-256 (64 lowercase hex digits, checked) is unique across all organizations, and a second
//! invitation with the same id or the same hash is `AlreadyExists` naming the invitation's id
//! (never the hash). `invited_by` is not a key: who sent an invitation is a record, and the
//! port asks only for the organization. The projects an invitation grants are a `UUID[]`
//! like a member's (`0011_tenant_isolation.sql`; NULL for every project, order kept, an
//! empty array stays empty). A look-up by a hash that could not be stored finds nothing
//! without asking the server.
//! API tokens and users (`migrations/0012_token_scopes.sql`): a token's scope is a
//! `read_only` flag and `orgs`, a JSONB array of `{"org", "projects"}` objects in the order
//! given (NULL: every organization of the user; an empty array stays empty), without foreign
//! keys — an organization or project that goes is simply no longer reached. Users carry a
//! `disabled` flag, changed alone by `set_user_disabled`. Rows from before the migration are
//! enabled users and tokens with the whole of their user's rights.
//!
//! Custom domains and hostname claims (`migrations/0011_tenant_isolation.sql`): one
//! organization owns a hostname with every path on it. `host_claims` is keyed by the
//! normalized hostname (its primary key is the unique index on the name's owner) and keeps the
//! organization (no foreign key, like the audit log), the site (registrable domain), the
//! token, the verification and readiness (JSONB), the expiry and the creation time. A claim
//! is live while its organization has a domain row on the hostname: rows left behind when a
//! service or an organization is deleted (the cascade removes their domains, never a claim)
//! are dead, invisible to `host_claim_opt`, `list_host_claims` (by creation time, then
//! hostname bytewise) and `update_host_claim`, and replaced by the next claim on the name.
//! Verified claims that are released — with their organization's last domain there, or
//! replaced when dead — are remembered in `released_host_claims` (site, organization,
//! hostname, time), which `site_verified_by_others` reads with the verified claims, live or
//! dead, of other organizations; both survive the organization. `domains` keeps routing
//! only: unique per organization, hostname and path prefix (`domains_org_host_path_key`),
//! indexed by `(hostname, org_id)`, listed by id. The upgrade gave every hostname already in
//! use one owner: the organization of its oldest verified domain (by creation, then id), else
//! of its oldest domain, with that domain's verification and token and a fresh week to be
//! proven; other organizations' domains on the name are kept, under no claim of theirs, so
//! the platform never routes them. Plans gained `max_domains` (existing plans: 50,
//! `PlanLimits::DEFAULT_MAX_DOMAINS`), checked with the other limits by `plans_limits_check`.
//! `delete_project` refuses with `Conflict` while services remain and `delete_plan` while
//! subscriptions use the plan; both check under a row lock in the same transaction as the
//! delete, so a concurrent create cannot slip in between.
//!
//! Updates replace the mutable fields only: an organization's slug, display name and status;
//! everything of a plan but its id and creation time; a service's name, kind, spec, status,
//! current deployment, reservation and `updated_at` (its organization and project are fixed);
//! a deployment's status, container, error and finish time (what was deployed is history);
//! a volume's size, runtime name, reservation, state, usage (`usage_bytes` and `usage_at`,
//! both or neither) and backup schedule (JSONB); a backup's status, sizes, digest, location,
//! error and finish time.
//!
//! Ordering: organizations by slug and plans by name, bytewise (the columns use the `"C"`
//! collation, whatever the server's default); projects, services and invitations by id
//! (UUIDv7, so by creation); deployments newest first; events and audit entries newest first by time, then
//! id; volumes and template instances by id; templates by position, then id (bytewise);
//! backups newest first by start time, then id; alerts newest first by `since`, then id. `list_orgs` returns at most 500 rows per page, `list_audit` and
//! `list_alerts` at most 1000. `firing_alert_opt` reads through the `(org_id, rule, subject)`
//! index; should two alerts of one rule and subject fire at once, the smaller id wins. The
//! organization search is a case-insensitive substring match (`lower()` on both sides) on slug
//! and display name; `%` and `_` are plain characters.
//!
//! # Secrets at rest
//!
//! A store opened with a key ([`PgStore::with_secret_key`]) seals every secret value as it
//! writes it and opens it as it reads it, with `caas_core::secrets` (XChaCha20-Poly1305, a
//! fresh nonce per value, the value bound to its organization and place; the module docs give
//! the format): secret env values in `services.spec` and `deployments.spec`, secret outputs in
//! `template_instances.outputs`, and the secret fields of the settings
//! `caas_core::secrets::SECRET_SETTINGS` lists (an organization's alert webhook secret). A
//! sealed value replaces the plaintext string inside its JSONB, so the columns keep their
//! checks and everything else stays queryable. The platform only ever sees plaintext.
//!
//! **Without a key** (the default: [`PgStore::connect`] alone), secrets are stored in
//! plaintext, as before keys existed; such a store refuses (`Backend`) to hand out a sealed
//! value instead of returning ciphertext. The reference server always gives a key.
//!
//! **The key check** (`migrations/0014_secret_key.sql`): the table `secret_key_check` keeps
//! at most one row, the key's fingerprint (`key_id`, never the key) and a known text sealed
//! under it. The first store opened with a key inserts it (`ON CONFLICT DO NOTHING`, then
//! reads it `FOR UPDATE`: of servers starting at once with different keys, one wins, the
//! others fail); afterwards `with_secret_key` with any other key fails with `InvalidInput` on
//! `secret_key` naming both fingerprints, and writes nothing. In the same transaction it seals
//! every secret still in plaintext (rows of a store without a key, or from before this
//! version), found with `jsonb_path_exists` so a start-up with nothing to do reads nothing;
//! running it again changes nothing.
//!
//! **Rotation** ([`PgStore::rotate_secret_key`]) locks the key check row, opens and reseals
//! every secret value under the new key (pages of 200 rows by id, written back with one
//! `UPDATE … FROM UNNEST` each) and replaces the check, in one transaction: a failure (a value
//! that does not open) or a crash leaves every value and the check under the old key, a
//! commit leaves all of them under the new one. The store and its clones use the new key from
//! then on; statements that read or write secrets hold the store's key for reading, so none
//! runs half under each key. Other processes still using the old key must be stopped first.
//!
//! # Atomic quota reservations
//!
//! `quota_reserve` runs one READ COMMITTED transaction: it reads the organization (`NotFound`
//! if missing), then locks the organization's subscription row with `SELECT … FOR UPDATE`
//! (no row, or a row that is not active, is refused with `Conflict` by
//! `caas_core::ports::quota::check_subscription`), reads the plan, sums the live reservations
//! (committed, plus pending not yet expired at `now`) with `sum_usage`, checks the request with
//! `check_limits` and inserts the new pending reservation, then commits. Concurrent
//! reservations of one organization queue on that row lock, and each statement after the lock
//! sees everything the previous holder committed, so together they never exceed a limit;
//! reservations of different organizations do not wait for each other. The refusal wording
//! comes from caas-core, identical for every backend. `quota_commit` and `quota_release` are
//! single conditional updates; `quota_expire` releases every pending reservation whose expiry
//! is at or before `now`. A reservation whose commit was interrupted by a lost connection (an
//! `Unavailable` error from `quota_reserve`) may or may not exist; if it does, it is pending
//! and stops counting at its expiry.
//!
//! # Atomic hostname claims
//!
//! `create_domain` runs one READ COMMITTED transaction, checking in the order
//! `InMemoryStore` does. It locks the organization row (`FOR NO KEY UPDATE`, so foreign-key
//! checks of other inserts are not blocked): an organization's domains are added one at a
//! time, and the count checked against the plan's `max_domains` (when it has a
//! subscription; `QuotaExceeded` on `domains`) sees every earlier one. It takes the hostname
//! with `INSERT … ON CONFLICT (hostname) DO NOTHING` on the claims' primary key: of several
//! organizations inserting at once one inserts, the others wait for its transaction, then lock
//! the existing row `FOR UPDATE` and, in a fresh statement, look at its domains — someone
//! else's live claim is `Conflict` (worded by `caas_core::ports::quota::foreign_host_error`,
//! never naming the owner), the organization's own is the claim the domain goes under, and a
//! dead one is replaced in place, remembered first when verified. No unique violation or
//! serialization failure reaches the caller. The claim is taken before the hostname-and-path
//! check (`AlreadyExists`) and the plan check, whose refusal rolls it back. `delete_domain`
//! and `release_expired_host_claim` lock the claim row before they count what is left, so a
//! domain added to the claim at the same moment is either counted or waits and finds the
//! name free.
//!
//! # Metrics
//!
//! Built for volume (`migrations/0002_metrics.sql`): every container is sampled every few
//! seconds, so raw samples are written in large batches, read by service and time range,
//! summarised into minute, hour and day rollups, and thrown away after a few days.
//!
//! **Raw samples** live in `metric_samples`, range-partitioned by UTC day on `at`, one
//! partition per day named `metric_samples_pYYYYMMDD` (`FROM 'YYYY-MM-DD 00:00:00+00' TO` the
//! next midnight). They carry no foreign key: history outlives the service. Two indexes are
//! declared on the parent, so every partition has them: a B-tree on `(service_id, at)` for
//! `query_metrics` and a BRIN on `at` (tiny, since samples arrive in time order) for rollups
//! over all services. There is no DEFAULT partition: rows in it would block creating their
//! day's partition and could not be dropped cheaply.
//!
//! `insert_metrics` checks the whole batch first (amounts above `i64::MAX` → `InvalidInput`
//! naming the field, e.g. `memory_bytes`; a non-finite `cpu_percent` → `InvalidInput`; years
//! outside 1–9999 → `InvalidInput` on `at`), so a bad sample stores nothing. It then makes
//! sure the partitions of the batch's days exist — the store caches the days it has seen, so
//! only the first batch of a day runs `CREATE TABLE IF NOT EXISTS … PARTITION OF` (in the
//! schema of `metric_samples`; concurrent creators retry) — and writes the batch in **one
//! statement**, each column bound as one array:
//! `INSERT INTO metric_samples (…) SELECT * FROM UNNEST($1::uuid[], $2::uuid[],
//! $3::timestamptz[], $4::float8[], $5::int8[], …)`. The statement is the same for every batch
//! size, so it is prepared once per connection; its throughput is close to `COPY … (FORMAT
//! binary)` (see the `metrics_ingest` bench of `caas-benches`). If another store's retention
//! dropped a partition this store had cached, the insert fails with "no partition", the
//! store forgets those days, recreates the partitions and retries once.
//!
//! Metric times are kept to the microsecond, truncated towards the past (so a sample never
//! moves into the next day); query and retention bounds are rounded up to the next
//! microsecond, which makes `at < to` on the stored value mean what it means on the sample.
//!
//! **Rollups** live in `metric_rollups`, keyed by `(resolution, service_id, at)` and
//! list-partitioned by resolution (`metric_rollups_minute`, `_hour`, `_day`), with an index on
//! `at` for time ranges of one level. `rollup_metrics` (`Raw` → `InvalidInput` on
//! `resolution`) recomputes every bucket `b` with `bucket(since) <= b` and `b + width <=
//! until` — exactly the source rows with `bucket(since) <= at < bucket(until)` — in one
//! `INSERT … SELECT … GROUP BY service_id, bucket ON CONFLICT (resolution, service_id, at) DO
//! UPDATE`: minutes from raw samples with `date_trunc('minute', at, 'UTC')`, hours from
//! minutes and days from hours likewise (always UTC, whatever the session's time zone).
//! Averages are weighted by sample counts (`sum(avg * samples) / sum(samples)`), minima and
//! maxima are the minimum of the minima and the maximum of the maxima, counters and the
//! memory limit their maximum, so every level equals the raw data it summarises. It returns
//! the buckets written (inserted or replaced); running it again is idempotent and picks up
//! late samples. `query_metrics` returns `from <= at < to`, oldest first, at most 10 000
//! points.
//!
//! **Retention** of raw samples drops whole partitions: `delete_metrics_before(Raw,
//! before)` drops every day partition that ends at or before `before` (one `DROP TABLE`,
//! under a 5 s `lock_timeout` because dropping a partition briefly locks `metric_samples`
//! exclusively; on timeout the call fails with `Unavailable` and can be retried) and then
//! `DELETE`s the rows before `before` in the partially covered day. No dead rows, no vacuum,
//! the space is returned at once. The rows reported for a dropped partition are counted
//! with `count(*)` when the planner's estimate (`pg_class.reltuples`) is below a million rows
//! or missing, and are that estimate above (the trait allows estimates for partition drops).
//! Retention of a rollup level is a `DELETE … WHERE resolution = $1 AND at < $2`.
//!
//! # Errors
//!
//! | cause | error |
//! |---|---|
//! | row not found (`user`, `org`, `update_*`, `delete_*`, …) | `NotFound { kind, id }` with the kind and id asked for |
//! | unique violation (23505) | `AlreadyExists { kind, id }` naming the conflicting slug, e-mail, name or id |
//! | foreign-key violation (23503) to a missing parent | `NotFound` of the referenced object: `organization` or `user` for `put_member`, `organization` or `plan` for `put_subscription`, `organization` for `create_project` and `quota_reserve`, `project` for `create_service`, `organization` or `project` for `create_volume` and `create_template_instance`, `organization` for `create_backup`, `put_alert` and `create_invitation`, `service` for `create_deployment` and `append_event`, `organization` or `service` for `create_domain` |
//! | any other foreign-key violation | `Conflict` naming the constraint |
//! | plan in use, project with services, reservation released or expired | `Conflict` saying what to do |
//! | a hostname another organization holds (`create_domain`) | `Conflict` that does not name the owner |
//! | plan limits exceeded | `QuotaExceeded` naming every exceeded dimension |
//! | check (23514) or not-null (23502) violation, data exception (class 22) | `InvalidInput` naming the column |
//! | amount above `i64::MAX` | `InvalidInput` naming the field |
//! | pool acquire timeout, pool closed, I/O or TLS error; SQLSTATE class 08, 57P01/02/03/05, 53300; serialization failure 40001 or deadlock 40P01 | `Unavailable` (retryable) |
//! | bad URL, authentication failure (class 28), unknown database (3D000) | `InvalidInput` on `database_url` |
//! | anything else | `Backend`, keeping the sqlx error as source |
//!
//! # Outages
//!
//! The pool ([`PgStore::connect`]) holds at most 16 connections, waits at most 5 s for one,
//! and pings an idle connection before handing it out. While the server is down or
//! unreachable, every call fails with `Unavailable` within about those 5 s (sooner when the
//! connection attempt itself fails, e.g. when it is reset); once the server is back, the
//! next calls open fresh connections, with no restart of the store. Broken connections are
//! dropped, never reused.

mod alerts;
mod codec;
mod domains;
mod error;
mod history;
mod invitations;
mod metrics;
mod plans;
mod quota;
mod secrets;
mod services;
mod settings;
mod store;
mod templates;
mod tenancy;
mod tokens;
mod volumes;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use caas_core::secrets::Sealer;
use caas_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::error::{SERVICE, db_error};

/// The embedded migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A store on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Day partitions of `metric_samples` known to exist (see "Metrics").
    partitions: metrics::PartitionCache,
    /// How secret values are stored (see "Secrets at rest"): held for reading by every
    /// statement that reads or writes one, for writing by a key change.
    secrets: Arc<tokio::sync::RwLock<Sealer>>,
}

impl PgStore {
    /// Most connections [`PgStore::connect`] opens.
    pub const MAX_CONNECTIONS: u32 = 16;

    /// How long [`PgStore::connect`]'s pool waits for a connection before a call fails with
    /// `Unavailable`.
    pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

    /// Connects a pool ([`Self::MAX_CONNECTIONS`] connections, [`Self::ACQUIRE_TIMEOUT`] so an
    /// outage fails fast, idle connections pinged before use).
    /// Errors: `Unavailable` when the server does not answer, `InvalidInput` for a bad URL or
    /// credentials.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(db_error)?;
        Self::connect_with(options).await
    }

    /// Like [`Self::connect`], with connection options built in code (TLS, application name,
    /// …). Errors: as [`Self::connect`].
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(Self::MAX_CONNECTIONS)
            .acquire_timeout(Self::ACQUIRE_TIMEOUT)
            .test_before_acquire(true)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool (its limits and timeouts then decide how outages surface).
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            partitions: metrics::PartitionCache::default(),
            secrets: Arc::new(tokio::sync::RwLock::new(Sealer::plaintext())),
        }
    }

    /// The pool, for embedders that share it.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations, then completes what SQL alone cannot (the sites of
    /// hostname claims, which need the public suffix list). Errors: `Unavailable`, `Backend`,
    /// `InvalidInput` (a stored hostname that is no longer a valid name).
    pub async fn migrate(&self) -> Result<()> {
        use sqlx::migrate::MigrateError;
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _) => {
                match db_error(inner) {
                    unavailable @ Error::Unavailable { .. } => unavailable,
                    other => Error::backend_source(SERVICE, "migration failed", other),
                }
            }
            e => Error::backend_source(SERVICE, "migration failed", e),
        })?;
        domains::backfill_sites(&self.pool).await
    }
}
