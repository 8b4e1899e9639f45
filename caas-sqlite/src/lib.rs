//! The [`Store`](caas_core::Store) port on SQLite, through sqlx: the embedded default of the
//! reference server.
//!
//! [`SqliteStore::open`] takes a file path (created when missing) or `:memory:`; connections
//! use WAL journaling, enforce foreign keys and wait up to 5 s on a busy database. Migrations
//! are embedded (`migrations/`) and applied by [`SqliteStore::migrate`]. [`SqliteStore`]
//! implements the whole `Store` trait and passes `caas-testkit`'s store, quota and metrics
//! conformance suites on database files and on `:memory:`.
//!
//! ```no_run
//! # async fn run() -> caas_core::Result<()> {
//! use caas_core::SettingStore;
//!
//! let store = caas_sqlite::SqliteStore::open("/var/lib/caas/caas.db").await?;
//! store.migrate().await?;
//! // Secrets encrypted at rest (see below); without this, they are stored in plaintext.
//! let text = std::fs::read_to_string("/etc/caas/secret.key").expect("the key file");
//! let key = caas_core::secrets::SecretKey::parse(&text)?;
//! let store = store.with_secret_key(key).await?;
//! store.ping().await?;
//! # Ok(()) }
//! ```
//!
//! # Storage
//!
//! Ids are 16-byte UUID blobs (v7 ids sort by creation, so "creation order" is `ORDER BY id`);
//! timestamps are RFC 3339 UTC text with exactly six fractional digits, so text order is time
//! order and values round-trip to the microsecond (finer digits are truncated; years outside
//! 0000–9999 are refused with `InvalidInput`) — except metric times, see [Metrics](#metrics). `u64` amounts are `INTEGER`s: values above
//! `i64::MAX` are refused with `InvalidInput` naming the field (`limits.cpu_millis`,
//! `amounts.containers`, …). Enums are stored by their serde names; service kinds, specs
//! (secret values sealed, see [Secrets at rest](#secrets-at-rest); redacting them in
//! answers is the platform's job), event kinds, audit before/after,
//! member and invitation project lists and hostname claims' verification and readiness as
//! JSON text. Organization search compares Unicode-lowercased text
//! (a lowercased copy of the display name is stored), like `InMemoryStore`, and treats `%`
//! and `_` literally.
//!
//! The schema keeps its invariants itself: unique e-mails, slugs, plan names, project names
//! per organization and service names per project; a service's `(project, organization)` must
//! name an existing project of that organization; deleting a service cascades to its
//! deployments, events and domains; a project with services and a plan with subscriptions
//! cannot be deleted (the store checks first, in the same write transaction, to say how many
//! remain).
//!
//! caas-rs's own tables do not reference the directory's
//! (`migrations/0014_foreign_directory.sql`): projects, services, deployments, reservations,
//! events, domains, volumes, backups, alerts and template instances keep their `org_id`, and
//! API tokens their `user_id`, without a foreign key, so a host application can supply the
//! organizations, users and plans from its own tables and keep everything else here. Only the directory's own tables (members,
//! subscriptions, invitations) require their organization (and user, and plan) to exist in
//! this store. Deleting an organization deletes, in one write transaction, its row (members,
//! invitations and the subscription cascade from it) and its rows in caas-rs's tables
//! (`delete_org`, children first); hostname claims, released claims, metrics and the audit
//! log, which have no foreign keys, outlive it.
//!
//! Volumes, backups and alerts (`migrations/0004_volumes.sql`): a volume's `(project,
//! organization)` must name an existing project of that organization (checked first, so the
//! error names the project) and its name is unique in the project; its usage is two nullable
//! columns (`usage_bytes`, `usage_at`: both or neither), its backup schedule JSON text.
//! Deleting a project (one without services) cascades to its volume records, and deleting
//! the organization deletes them. Backups keep `volume_id` and `project_id` without foreign
//! keys, so they outlive the volume and its project and go only with their organization; alerts go with their
//! organization and keep `service_id` without a key. Backups list newest first by
//! `created_at`, then id; alerts by `since`, then id, at most 1000 per `list_alerts`.
//! `firing_alert_opt` reads through the `(org_id, rule, subject)` index; should two alerts of
//! one rule and subject fire at once, it returns the one with the smaller id, like
//! `InMemoryStore`. `put_alert` replaces every field of an existing alert.
//!
//! Templates and template instances (`migrations/0005_templates.sql`): a saved template is one
//! row keyed by its id (`TEXT`), its definition (the nested `Template`) JSON text;
//! `put_template` replaces every field of a template with the same id, creation time
//! included, and `list_templates` orders by position, then id (bytewise). An instance's
//! `(project, organization)` must name an existing project of that organization (checked
//! first, so the error names the project) and its name is unique in the project; its services
//! (ids in dependency order) and outputs are JSON arrays, and its template id is not a key
//! (built-in templates are not stored, and instances outlive a saved template and their
//! services). Deleting a project (one without services) cascades to its instance records, and
//! deleting the organization deletes them; instances list in creation order (by id).
//!
//! Invitations (`migrations/0006_invitations.sql`): one row per invitation, its role by its
//! serde name, the projects it grants (`projects`, from `0010_tenant_isolation.sql`: a JSON
//! array of ids in the order given, NULL for every project, so an empty list stays an empty
//! list) and its token's SHA-256 (64 lowercase hex digits, checked) unique across all
//! organizations; a second invitation with the same id or the same hash is `AlreadyExists`
//! naming the invitation's id (never the hash). The organization must exist (`NotFound`),
//! while `invited_by` is not a key: who sent an invitation is a record, and the port asks only
//! for the organization. Invitations list in creation order (by id, through the `(org_id,
//! id)` index) and go with their organization.
//!
//! API tokens and users (`migrations/0011_token_scopes.sql`): a token's scope is a `read_only`
//! flag (0/1) and `orgs`, JSON text of an array of `{"org", "projects"}` objects in the order
//! given (NULL: every organization of the user; an empty array stays empty), without foreign
//! keys — an organization or project that goes is simply no longer reached. Users carry a
//! `disabled` flag (0/1), changed alone by `set_user_disabled`. Rows from before the migration
//! are enabled users and tokens with the whole of their user's rights.
//!
//! Custom domains and hostname claims (`migrations/0010_tenant_isolation.sql`): one
//! organization owns a hostname with every path on it. `host_claims` is keyed by the
//! normalized hostname (its primary key is the unique index on the name's owner) and keeps
//! the organization (no foreign key, like the audit log), the site (registrable domain), the
//! token, the verification and readiness (JSON text), the expiry and the creation time.
//! A claim is live while its organization has a domain row on the hostname: rows left behind
//! when a service or an organization is deleted (their domains go with them, never a claim)
//! are dead, invisible to `host_claim_opt`, `list_host_claims` and
//! `update_host_claim`, and replaced by the next claim on the name. Verified claims that are
//! released — with their organization's last domain there, or replaced when dead — are
//! remembered in `released_host_claims` (site, organization, hostname, time), which
//! `site_verified_by_others` reads with the verified claims, live or dead, of other
//! organizations; both survive the organization. `domains` keeps routing only: unique per
//! organization, hostname and path prefix, indexed by `(hostname, org_id)` for liveness and
//! hostname listings, listed in creation order (by id). `create_domain` checks, in one write
//! transaction and in the order `InMemoryStore` does: the organization, the service's
//! organization, the claim's organization and hostname (`InvalidInput` on `claim`), the id,
//! another organization's live claim (`Conflict`, from `caas_core::ports::quota`, never
//! naming the owner), the organization's hostname and path (`AlreadyExists`), and — when the
//! organization has a subscription — its plan's `max_domains` against its domain rows
//! (`QuotaExceeded` on `domains`). `delete_domain` and `release_expired_host_claim` also
//! decide in one write transaction. Plans keep `max_domains` like the other limits (existing
//! plans got 50, `PlanLimits::DEFAULT_MAX_DOMAINS`).
//!
//! The audit log (indexes in `migrations/0007_audit_filters.sql`): `list_audit` puts into its
//! statement only the conditions the filter sets — `org_id = ?`, `actor = ?`, the action
//! prefix as the range `action >= prefix AND action < next` (`next`: the prefix with its last
//! character replaced by the following one; bytewise, so `%`, `_` and `\` are plain
//! characters and letters keep their case, exactly `str::starts_with`, where SQLite's `LIKE`
//! would ignore ASCII case), `at >= since` and `at < before` — and returns the newest first (by
//! `at`, then id), at most `min(limit, 1000)`. Time bounds are rounded up to the microsecond:
//! stored times have whole microseconds, so that compares as `AuditFilter::matches` does on
//! the entries themselves; bounds outside the years 0000–9999 keep every entry or none, as
//! they would in memory. Indexes serve an organization's entries and all entries by time
//! (`0001_core.sql`), an actor's entries by time, and action ranges.
//!
//! # Migrations
//!
//! [`SqliteStore::migrate`] runs the embedded migrations, each in its own transaction, then
//! fills in what SQL cannot compute: the site of the claims `0010_tenant_isolation.sql` made
//! (from the public suffix list). The upgrade to claims gives every hostname already in use
//! one owner: the organization of its oldest verified domain (by creation, then id), else of
//! its oldest domain; the claim takes that domain's verification and token and a fresh week
//! to be proven. Other organizations' domains on the name are kept, under no claim of theirs,
//! so the platform never routes them. The upgrade to a foreign directory
//! (`0014_foreign_directory.sql`) removes foreign keys without rebuilding a table: it edits the
//! stored `CREATE TABLE` text in its transaction (`PRAGMA writable_schema`, the procedure
//! SQLite documents for removing constraints), which makes every connection reload the
//! schema, and refuses to commit unless only the directory's tables still reference
//! organizations or users and `PRAGMA integrity_check` passes. The tables an upgrade reshapes
//! (`domains`, `plans`, `invitations`, `users`, `api_tokens`) are read by named columns, never
//! `*`: a pooled connection that knew the old schema re-prepares its statements, but sqlx
//! would keep the column list of the first preparation.
//!
//! # Secrets at rest
//!
//! A store opened with a key ([`SqliteStore::with_secret_key`]) seals every secret value as
//! it writes it and opens it as it reads it, with `caas_core::secrets` (XChaCha20-Poly1305, a
//! fresh nonce per value, the value bound to its organization and place; the module docs give
//! the format): secret env values in `services.spec` and `deployments.spec`, secret outputs in
//! `template_instances.outputs`, and the secret fields of the settings
//! `caas_core::secrets::SECRET_SETTINGS` lists (an organization's alert webhook secret). A
//! sealed value replaces the plaintext string inside its JSON, so the columns keep their JSON
//! checks and everything else stays readable with SQL. The platform only ever sees plaintext.
//!
//! **Without a key** (the default, and [`SqliteStore::open`] alone), secrets are stored in
//! plaintext, as before keys existed; such a store refuses (`Backend`) to hand out a sealed
//! value instead of returning ciphertext. The reference server always gives a key.
//!
//! **The key check** (`migrations/0013_secret_key.sql`): the table `secret_key_check` keeps
//! at most one row, the key's fingerprint (`key_id`, never the key) and a known text sealed
//! under it. The first store opened with a key writes it; afterwards `with_secret_key` with
//! any other key fails with `InvalidInput` on `secret_key` naming both fingerprints, and
//! writes nothing. In the same write transaction it seals every secret still in plaintext
//! (rows of a store without a key, or from before this version), found in SQL with
//! `json_each` so a start-up with nothing to do reads nothing; running it again changes
//! nothing.
//!
//! **Rotation** ([`SqliteStore::rotate_secret_key`]) opens and reseals every secret value under
//! the new key and replaces the key check, in one `BEGIN IMMEDIATE` transaction (pages of 200
//! rows by id): a failure (a value that does not open) or a crash leaves every value and the
//! check under the old key, a commit leaves all of them under the new one. The store and its
//! clones use the new key from then on; statements that read or write secrets hold the
//! store's key for reading, so none runs half under each key. Other processes still using the
//! old key must be stopped first.
//!
//! # Metrics
//!
//! Two tables, with no foreign keys (metrics are history: they outlive their service and
//! organization until retention drops them). Times are `INTEGER` microseconds since the Unix
//! epoch (sub-microsecond digits truncated towards the past), so range conditions compare
//! integers and bucket starts are computed in SQL as `at - ((at % w) + w) % w` (`w` the
//! bucket width in µs; correct before 1970 too, where `%` is negative).
//!
//! - `metric_samples`: one row per raw sample (`service_id`, `org_id`, `at`, `cpu_percent`
//!   `REAL`, memory, limit, network and block counters and pids as `INTEGER`), indexed on
//!   `(service_id, at)` for queries and on `(at)` for rollups and retention.
//! - `metric_rollups`: `(resolution, service_id, at)` primary key (`WITHOUT ROWID`;
//!   `resolution` is `minute`, `hour` or `day`, `at` the bucket start), `samples`, average,
//!   minimum and maximum of CPU, memory and pids (`REAL`), the largest memory limit and
//!   counters (`INTEGER`); indexed on `(resolution, at)` for the next level and retention.
//!
//! [`insert_metrics`](caas_core::MetricStore::insert_metrics) checks the whole batch first (`u64`
//! values above `i64::MAX` and non-finite CPU readings are `InvalidInput` naming the field,
//! e.g. `net_rx_bytes`, and nothing is stored), then writes it in one write transaction as
//! multi-row `INSERT`s: chunks of 2 000 rows (22 000 bound parameters, under SQLite's 32 766)
//! and the rest in power-of-two chunks, so each connection caches at most 12 insert
//! statements.
//!
//! [`rollup_metrics`](caas_core::MetricStore::rollup_metrics) is one upsert per call, recomputing
//! every bucket `b` of the level with `bucket(since) <= b` and `b + width <= until` from the
//! level below (raw → minute → hour → day), i.e. from the source rows with
//! `bucket(since) <= at < bucket(until)`. For the minute level:
//!
//! ```sql
//! INSERT INTO metric_rollups (resolution, service_id, at, samples, cpu_avg, cpu_min, cpu_max, …)
//! SELECT 'minute', service_id, at - ((at % 60000000) + 60000000) % 60000000 AS bucket,
//!        count(*), avg(cpu_percent), min(cpu_percent), max(cpu_percent), …,
//!        max(net_rx_bytes), …
//! FROM metric_samples WHERE at >= ?1 AND at < ?2
//! GROUP BY service_id, bucket
//! ON CONFLICT (resolution, service_id, at) DO UPDATE SET samples = excluded.samples, …
//! ```
//!
//! Hours and days read `metric_rollups` of the level below and weight averages by sample
//! counts — `sum(samples)`, `sum(cpu_avg * samples) / sum(samples)`, `min(cpu_min)`,
//! `max(cpu_max)`, `max(net_rx_bytes)` — so every level equals the raw data it summarises.
//! Re-running replaces buckets (idempotent, late samples are picked up); it returns the
//! buckets written. Buckets whose source rows were already dropped by retention are kept.
//!
//! [`query_metrics`](caas_core::MetricStore::query_metrics) reads `[from, to)` oldest first through
//! the service index or primary key, at most 10 000 rows.
//! [`delete_metrics_before`](caas_core::MetricStore::delete_metrics_before) is one range `DELETE`
//! (`at < ?`, with `resolution = ?` for rollups) through the time indexes, returning the exact
//! number of rows deleted.
//!
//! # Quota atomicity
//!
//! [`quota_reserve`](caas_core::QuotaLedger::quota_reserve) runs in a `BEGIN IMMEDIATE`
//! transaction: SQLite grants the database's single write lock at `BEGIN`, so summing the
//! organization's live reservations (committed, and pending ones not expired at `now`) and
//! inserting the new pending one happen with no other writer in between — in this process or
//! any other using the same file. In-process, write transactions first queue on a FIFO async
//! gate so they do not spin in SQLite's busy handler against each other; other processes are
//! waited for by the 5 s busy timeout. The decisions are `caas_core::ports::quota`'s
//! `check_subscription`, `sum_usage` and `check_limits`, shared by every store, so refusals
//! read the same everywhere. Commit, release and expiry are single conditional `UPDATE`s.
//! Domains are decided the same way: `create_domain` reads the hostname's live claim and
//! counts the organization's domains in the write transaction that inserts, so of sixteen
//! organizations claiming one name at once exactly one wins, and concurrent additions never
//! pass the plan's `max_domains`.
//!
//! # Errors
//!
//! Beyond what each `Store` method documents:
//!
//! | SQLite / sqlx | `caas_core::Error` |
//! |---|---|
//! | no row for an id | `NotFound { kind, id }` |
//! | unique or primary-key violation (2067, 1555) | `AlreadyExists { kind, id }` naming the conflicting name (or id) |
//! | foreign-key violation (787) on insert | `NotFound` of the missing referenced row (org, user, plan, project, service) |
//! | foreign-key violation otherwise | `Conflict` |
//! | a hostname another organization holds | `Conflict` (`caas_core::ports::quota::foreign_host_error`) |
//! | check / not-null violation (275, 1299) | `InvalidInput` |
//! | `SQLITE_BUSY`, `SQLITE_LOCKED`, pool timeout, closed pool, I/O | `Unavailable` (retryable) |
//! | undecodable column, anything else | `Backend` |

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
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard, RwLock};

use crate::error::{SERVICE, db_error};

/// The embedded migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A store in a SQLite database file (or in memory). Clones share the pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Serializes this process's write transactions (see "Quota atomicity" in the crate docs).
    write_gate: Arc<Mutex<()>>,
    /// How secret values are stored (see "Secrets at rest"): held for reading by every
    /// statement that reads or writes one, for writing by a key change.
    secrets: Arc<RwLock<Sealer>>,
}

impl SqliteStore {
    /// Opens (creating if missing) a database file, or `:memory:` for a private in-memory one.
    /// Errors: `InvalidInput` (bad path), `Unavailable` (cannot open).
    pub async fn open(path: &str) -> Result<Self> {
        let memory = path == ":memory:";
        let opts = if memory {
            SqliteConnectOptions::from_str("sqlite::memory:")
                .map_err(|e| Error::invalid("path", e.to_string()))?
        } else {
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
        }
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
        // One connection for `:memory:`: each connection would otherwise see its own database.
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 8 })
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts)
            .await
            .map_err(|e| Error::Unavailable {
                service: SERVICE,
                message: format!("cannot open database '{path}': {e}"),
                source: Some(Box::new(e)),
            })?;
        Ok(Self {
            pool,
            write_gate: Arc::new(Mutex::new(())),
            secrets: Arc::new(RwLock::new(Sealer::plaintext())),
        })
    }

    /// The pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Applies pending migrations, then completes what SQL alone cannot (the sites of
    /// hostname claims, which need the public suffix list). Errors: `Backend`, `Unavailable`,
    /// `InvalidInput` (a stored hostname that is no longer a valid name).
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| Error::backend_source(SERVICE, "migration failed", e))?;
        domains::backfill_sites(self).await
    }

    /// Begins a write transaction holding SQLite's write lock from its first statement.
    /// Errors: `Unavailable` (lock or connection not obtained in time).
    pub(crate) async fn write(&self) -> Result<WriteTx> {
        // The gate is taken before the connection, so waiting writers do not hold connections
        // that readers need (a `:memory:` pool has only one).
        let gate = self.write_gate.clone().lock_owned().await;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        Ok(WriteTx { tx, _gate: gate })
    }
}

/// A `BEGIN IMMEDIATE` transaction; dropping it without [`WriteTx::commit`] rolls back.
pub(crate) struct WriteTx {
    // Declared before the gate so it is dropped (and its rollback queued) first.
    tx: Transaction<'static, Sqlite>,
    _gate: OwnedMutexGuard<()>,
}

impl WriteTx {
    /// The transaction's connection, to run statements on.
    pub(crate) fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }

    /// Commits. Errors: `Unavailable`, `Backend`.
    pub(crate) async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(db_error)
    }
}
