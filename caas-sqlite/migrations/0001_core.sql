-- Core schema (SQLite flavour of caas-postgres/migrations/0001_core.sql): tenancy, services, deployments, quota, events, audit,
-- settings, metrics.
-- Units: CPU in millicores, memory and storage in bytes, money in cents (see caas_core::units).
--
-- Encodings (written only by the store, see src/codec.rs):
--   ids         16-byte big-endian UUID blobs; v7 ids sort by creation time as blobs.
--   timestamps  RFC 3339 UTC text with exactly six fractional digits ('2026-01-31T12:00:00.000000Z'),
--               so text order is time order. (Metric tables instead keep INTEGER microseconds since the epoch.)
--   checks      named after the field they guard where a caller can violate them: SQLite reports
--               the name, and the store returns it as the InvalidInput field.
--   enums       serde's snake_case names; structured values (service kinds, specs, event kinds,
--               audit before/after, member project lists) JSON text.
--   amounts     INTEGER (u64 in the model; values above i64::MAX are refused before writing).

CREATE TABLE users (
    id             BLOB PRIMARY KEY CHECK (length(id) = 16),
    email          TEXT NOT NULL UNIQUE CONSTRAINT email CHECK (email = lower(email) AND length(email) <= 254),
    display_name   TEXT NOT NULL CONSTRAINT display_name CHECK (length(display_name) <= 200),
    platform_admin INTEGER NOT NULL DEFAULT 0 CHECK (platform_admin IN (0, 1)),
    created_at     TEXT NOT NULL
);

CREATE TABLE organizations (
    id                  BLOB PRIMARY KEY CHECK (length(id) = 16),
    slug                TEXT NOT NULL UNIQUE,
    display_name        TEXT NOT NULL,
    -- display_name lowercased by the store (Unicode-aware, unlike SQLite's ASCII-only lower()),
    -- so searches ignore case exactly as the in-memory store does.
    display_name_folded TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at          TEXT NOT NULL
);

CREATE TABLE members (
    org_id     BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'member', 'admin', 'owner')),
    projects   TEXT CHECK (projects IS NULL OR json_valid(projects)), -- JSON array of project ids, NULL = all projects
    created_at TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id);

CREATE TABLE plans (
    id                  BLOB PRIMARY KEY CHECK (length(id) = 16),
    name                TEXT NOT NULL UNIQUE,
    display_name        TEXT NOT NULL,
    cpu_millis          INTEGER NOT NULL CHECK (cpu_millis >= 0),
    memory_bytes        INTEGER NOT NULL CHECK (memory_bytes >= 0),
    storage_bytes       INTEGER NOT NULL CHECK (storage_bytes >= 0),
    max_containers      INTEGER NOT NULL CHECK (max_containers >= 0),
    max_projects        INTEGER NOT NULL CHECK (max_projects >= 0),
    monthly_price_cents INTEGER NOT NULL CHECK (monthly_price_cents >= 0),
    currency            TEXT NOT NULL CONSTRAINT currency CHECK (length(currency) = 3 AND currency = upper(currency)),
    created_at          TEXT NOT NULL
);

CREATE TABLE subscriptions (
    id           BLOB PRIMARY KEY CHECK (length(id) = 16),
    org_id       BLOB NOT NULL UNIQUE REFERENCES organizations (id) ON DELETE CASCADE,
    -- A plan in use cannot be deleted (the store also checks first, to say how many use it).
    plan_id      BLOB NOT NULL REFERENCES plans (id) ON DELETE RESTRICT,
    status       TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'cancelled')),
    period_start TEXT NOT NULL,
    period_end   TEXT NOT NULL CONSTRAINT period_end CHECK (period_end >= period_start),
    created_at   TEXT NOT NULL
);
CREATE INDEX subscriptions_by_plan ON subscriptions (plan_id);

CREATE TABLE projects (
    id             BLOB PRIMARY KEY CHECK (length(id) = 16),
    org_id         BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    reservation_id BLOB,
    created_at     TEXT NOT NULL,
    UNIQUE (org_id, name),
    -- Parent key of services (project_id, org_id): a service's project belongs to its org.
    UNIQUE (id, org_id)
);

CREATE TABLE services (
    id                 BLOB PRIMARY KEY CHECK (length(id) = 16),
    org_id             BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    project_id         BLOB NOT NULL,
    name               TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (json_valid(kind)),
    spec               TEXT NOT NULL CHECK (json_valid(spec)),
    status             TEXT NOT NULL CHECK (status IN ('deploying', 'running', 'stopped', 'failed')),
    -- No foreign key: the deployment references the service, not the other way round.
    current_deployment BLOB,
    reservation_id     BLOB,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (project_id, name),
    -- NO ACTION (checked at the end of the statement): deleting a project that still has
    -- services fails, while deleting the organization removes both in one statement.
    FOREIGN KEY (project_id, org_id) REFERENCES projects (id, org_id)
);
CREATE INDEX services_by_org ON services (org_id, project_id);

CREATE TABLE deployments (
    id           BLOB PRIMARY KEY CHECK (length(id) = 16),
    service_id   BLOB NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    org_id       BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    project_id   BLOB NOT NULL,
    spec         TEXT NOT NULL CHECK (json_valid(spec)),
    status       TEXT NOT NULL CHECK (status IN ('pending', 'active', 'superseded', 'failed', 'removed')),
    container_id TEXT,
    error        TEXT,
    created_at   TEXT NOT NULL,
    finished_at  TEXT
);
CREATE INDEX deployments_by_service ON deployments (service_id, id);
CREATE INDEX deployments_by_org ON deployments (org_id);

CREATE TABLE reservations (
    id             BLOB PRIMARY KEY CHECK (length(id) = 16),
    org_id         BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    cpu_millis     INTEGER NOT NULL CHECK (cpu_millis >= 0),
    memory_bytes   INTEGER NOT NULL CHECK (memory_bytes >= 0),
    storage_bytes  INTEGER NOT NULL CHECK (storage_bytes >= 0),
    containers     INTEGER NOT NULL CHECK (containers >= 0),
    projects       INTEGER NOT NULL CHECK (projects >= 0),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'committed', 'released')),
    owner          TEXT,
    expires_at     TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
-- Usage sums an organization's live (committed or pending) reservations; the same index
-- serves the cascade when the organization is deleted.
CREATE INDEX reservations_by_org ON reservations (org_id, state);
CREATE INDEX reservations_pending_expiry ON reservations (expires_at) WHERE state = 'pending';

CREATE TABLE service_events (
    id         BLOB PRIMARY KEY CHECK (length(id) = 16),
    org_id     BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    service_id BLOB NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (json_valid(kind)),
    message    TEXT NOT NULL,
    at         TEXT NOT NULL
);
CREATE INDEX service_events_by_service ON service_events (service_id, at DESC, id DESC);
CREATE INDEX service_events_by_org ON service_events (org_id);

-- The audit log outlives what it talks about: no foreign keys.
CREATE TABLE audit_log (
    id      BLOB PRIMARY KEY CHECK (length(id) = 16),
    at      TEXT NOT NULL,
    actor   BLOB,
    org_id  BLOB,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    before  TEXT CHECK (before IS NULL OR json_valid(before)),
    after   TEXT CHECK (after IS NULL OR json_valid(after))
);
CREATE INDEX audit_by_time ON audit_log (at DESC, id DESC);
CREATE INDEX audit_by_org ON audit_log (org_id, at DESC, id DESC);

-- Platform-wide settings (e.g. `runtime`: the runtime configuration), as JSON.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 128),
    value      TEXT NOT NULL CHECK (json_valid(value)),
    updated_at TEXT NOT NULL
);

-- Metrics: raw samples and their rollups (see src/metrics.rs). History: no foreign keys, so
-- points outlive their service (and organization) until retention drops them.
-- `at` is INTEGER microseconds since the Unix epoch (UTC), unlike the text timestamps above:
-- range scans compare integers and bucket starts are integer arithmetic in SQL.
-- u64 model values are INTEGER (above i64::MAX refused before writing); gauges' averages,
-- minima and maxima are REAL.
CREATE TABLE metric_samples (
    service_id         BLOB NOT NULL,
    org_id             BLOB NOT NULL,
    at                 INTEGER NOT NULL,
    cpu_percent        REAL NOT NULL,
    memory_bytes       INTEGER NOT NULL,
    memory_limit_bytes INTEGER NOT NULL,
    net_rx_bytes       INTEGER NOT NULL,
    net_tx_bytes       INTEGER NOT NULL,
    block_read_bytes   INTEGER NOT NULL,
    block_write_bytes  INTEGER NOT NULL,
    pids               INTEGER NOT NULL
);
-- A service's series (queries); every service's samples in a time range (rollups, retention).
CREATE INDEX metric_samples_by_service ON metric_samples (service_id, at);
CREATE INDEX metric_samples_by_time ON metric_samples (at);

-- One row per (resolution, service, bucket start); rewritten whole by each rollup run.
CREATE TABLE metric_rollups (
    resolution         TEXT NOT NULL CHECK (resolution IN ('minute', 'hour', 'day')),
    service_id         BLOB NOT NULL,
    at                 INTEGER NOT NULL, -- bucket start, microseconds since the epoch
    samples            INTEGER NOT NULL CHECK (samples > 0),
    cpu_avg            REAL NOT NULL,
    cpu_min            REAL NOT NULL,
    cpu_max            REAL NOT NULL,
    mem_avg            REAL NOT NULL,
    mem_min            REAL NOT NULL,
    mem_max            REAL NOT NULL,
    memory_limit_bytes INTEGER NOT NULL, -- counters and the limit: the largest value seen
    net_rx_bytes       INTEGER NOT NULL,
    net_tx_bytes       INTEGER NOT NULL,
    block_read_bytes   INTEGER NOT NULL,
    block_write_bytes  INTEGER NOT NULL,
    pids_avg           REAL NOT NULL,
    pids_min           REAL NOT NULL,
    pids_max           REAL NOT NULL,
    PRIMARY KEY (resolution, service_id, at)
) WITHOUT ROWID;
-- Every service's points of one resolution in a time range (the next level's rollup, retention).
CREATE INDEX metric_rollups_by_time ON metric_rollups (resolution, at);
