-- Volumes, their backups, and alerts. Conventions as in 0001_core.sql: named constraints
-- (mapped to caas errors by name), "C" collation for names, amounts as BIGINT.

-- A persistent named volume of a project. Keyed to its project by (project, org), so it can
-- never belong to a project of another organization; it goes with its project (delete_project
-- removes the records of its volumes) and with its organization.
CREATE TABLE volumes (
    id              UUID NOT NULL,
    org_id          UUID NOT NULL,
    project_id      UUID NOT NULL,
    name            TEXT COLLATE "C" NOT NULL,
    size_bytes      BIGINT NOT NULL,
    runtime_name    TEXT NOT NULL,
    -- Not a foreign key: the reservation is made before the volume and may be swept later.
    reservation_id  UUID,
    state           TEXT NOT NULL,
    -- The last measurement: both or neither.
    usage_bytes     BIGINT,
    usage_at        TIMESTAMPTZ,
    backup_schedule JSONB,
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT volumes_pkey PRIMARY KEY (id),
    CONSTRAINT volumes_project_name_key UNIQUE (project_id, name),
    CONSTRAINT volumes_org_fkey FOREIGN KEY (org_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT volumes_project_fkey FOREIGN KEY (project_id, org_id)
        REFERENCES projects (id, org_id) ON DELETE CASCADE,
    CONSTRAINT volumes_name_check CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    CONSTRAINT volumes_size_bytes_check CHECK (size_bytes >= 0),
    CONSTRAINT volumes_state_check CHECK (state IN ('ok', 'warning', 'full')),
    CONSTRAINT volumes_usage_check CHECK (
        (usage_bytes IS NULL) = (usage_at IS NULL) AND (usage_bytes IS NULL OR usage_bytes >= 0)
    ),
    CONSTRAINT volumes_backup_schedule_check
        CHECK (backup_schedule IS NULL OR jsonb_typeof(backup_schedule) = 'object')
);
CREATE INDEX volumes_by_org ON volumes (org_id, project_id, id);

-- Backups outlive their volume and its project (they can be restored into a new volume):
-- volume_id and project_id are not foreign keys. They go with their organization.
CREATE TABLE backups (
    id            UUID NOT NULL,
    org_id        UUID NOT NULL,
    volume_id     UUID NOT NULL,
    project_id    UUID NOT NULL,
    volume_name   TEXT COLLATE "C" NOT NULL,
    status        TEXT NOT NULL,
    -- What started it (the model's `trigger`; TRIGGER is an SQL keyword).
    triggered_by  TEXT NOT NULL,
    consistent    BOOLEAN NOT NULL,
    archive_bytes BIGINT,
    size_bytes    BIGINT,
    sha256        TEXT,
    location      TEXT,
    error         TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    CONSTRAINT backups_pkey PRIMARY KEY (id),
    CONSTRAINT backups_org_fkey FOREIGN KEY (org_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT backups_volume_name_check
        CHECK (volume_name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    CONSTRAINT backups_status_check CHECK (status IN ('running', 'succeeded', 'failed')),
    CONSTRAINT backups_triggered_by_check CHECK (triggered_by IN ('manual', 'scheduled')),
    CONSTRAINT backups_archive_bytes_check CHECK (archive_bytes >= 0),
    CONSTRAINT backups_size_bytes_check CHECK (size_bytes >= 0)
);
-- Newest first per volume and per organization (the latter also serves the cascade).
CREATE INDEX backups_by_volume ON backups (volume_id, created_at DESC, id DESC);
CREATE INDEX backups_by_org ON backups (org_id, created_at DESC, id DESC);

-- Raised alerts. service_id is not a foreign key: an alert is history of its service.
CREATE TABLE alerts (
    id          UUID NOT NULL,
    org_id      UUID NOT NULL,
    service_id  UUID,
    subject     TEXT COLLATE "C" NOT NULL,
    rule        TEXT COLLATE "C" NOT NULL,
    state       TEXT NOT NULL,
    message     TEXT NOT NULL,
    since       TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    CONSTRAINT alerts_pkey PRIMARY KEY (id),
    CONSTRAINT alerts_org_fkey FOREIGN KEY (org_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT alerts_state_check CHECK (state IN ('firing', 'resolved'))
);
-- The evaluator's look-up of the firing alert of a rule and subject.
CREATE INDEX alerts_by_subject ON alerts (org_id, rule, subject);
-- Newest first per organization (also serves the cascade).
CREATE INDEX alerts_by_org ON alerts (org_id, since DESC, id DESC);
