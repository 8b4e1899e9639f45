-- Volumes, their backups, and alerts (encodings as in 0001_core.sql).

-- A persistent named volume of a project. It goes with its project (delete_project removes
-- the records of its volumes) and with its organization.
CREATE TABLE volumes (
    id              BLOB PRIMARY KEY CHECK (length(id) = 16),
    org_id          BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    project_id      BLOB NOT NULL,
    name            TEXT NOT NULL,
    size_bytes      INTEGER NOT NULL CONSTRAINT size_bytes CHECK (size_bytes >= 0),
    runtime_name    TEXT NOT NULL,
    -- Not a foreign key: the reservation is made before the volume and may be swept later.
    reservation_id  BLOB,
    state           TEXT NOT NULL CHECK (state IN ('ok', 'warning', 'full')),
    -- The last measurement: both or neither.
    usage_bytes     INTEGER,
    usage_at        TEXT,
    backup_schedule TEXT CHECK (backup_schedule IS NULL OR json_valid(backup_schedule)),
    created_at      TEXT NOT NULL,
    UNIQUE (project_id, name),
    CONSTRAINT usage CHECK ((usage_bytes IS NULL) = (usage_at IS NULL) AND (usage_bytes IS NULL OR usage_bytes >= 0)),
    -- The project must exist and belong to the same organization; its volumes go with it.
    FOREIGN KEY (project_id, org_id) REFERENCES projects (id, org_id) ON DELETE CASCADE
);
CREATE INDEX volumes_by_org ON volumes (org_id, project_id, id);

-- Backups outlive their volume and its project (they can be restored into a new volume):
-- volume_id and project_id are not foreign keys. They go with their organization.
CREATE TABLE backups (
    id            BLOB PRIMARY KEY CHECK (length(id) = 16),
    org_id        BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    volume_id     BLOB NOT NULL,
    project_id    BLOB NOT NULL,
    volume_name   TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    -- What started it (the model's `trigger`; TRIGGER is an SQL keyword).
    triggered_by  TEXT NOT NULL CHECK (triggered_by IN ('manual', 'scheduled')),
    consistent    INTEGER NOT NULL CHECK (consistent IN (0, 1)),
    archive_bytes INTEGER CONSTRAINT archive_bytes CHECK (archive_bytes >= 0),
    size_bytes    INTEGER CONSTRAINT size_bytes CHECK (size_bytes >= 0),
    sha256        TEXT,
    location      TEXT,
    error         TEXT,
    created_at    TEXT NOT NULL,
    finished_at   TEXT
);
-- Newest first per volume and per organization (the latter also serves the cascade).
CREATE INDEX backups_by_volume ON backups (volume_id, created_at DESC, id DESC);
CREATE INDEX backups_by_org ON backups (org_id, created_at DESC, id DESC);

-- Raised alerts. service_id is not a foreign key: an alert is history of its service.
CREATE TABLE alerts (
    id          BLOB PRIMARY KEY CHECK (length(id) = 16),
    org_id      BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    service_id  BLOB,
    subject     TEXT NOT NULL,
    rule        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
    message     TEXT NOT NULL,
    since       TEXT NOT NULL,
    resolved_at TEXT
);
-- The evaluator's look-up of the firing alert of a rule and subject.
CREATE INDEX alerts_by_subject ON alerts (org_id, rule, subject);
-- Newest first per organization (also serves the cascade).
CREATE INDEX alerts_by_org ON alerts (org_id, since DESC, id DESC);
