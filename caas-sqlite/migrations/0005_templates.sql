-- Templates an administrator saved, and the instances deployed from templates (encodings as
-- in 0001_core.sql).

-- A saved template (new, or overriding a built-in of the same id), keyed by the template's
-- id. The definition (`caas_core::model::Template`, a nested structure) is JSON text. It has
-- no owner: templates are platform-wide, and instances do not refer to them by key (they may
-- come from built-ins, and outlive a saved template).
CREATE TABLE templates (
    id         TEXT NOT NULL PRIMARY KEY,
    definition TEXT NOT NULL CHECK (json_valid(definition)),
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    position   INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- The catalogue's order: position, then id (bytewise, SQLite's BINARY collation).
CREATE INDEX templates_by_position ON templates (position, id);

-- The services deployed together from a template. The record goes with its project
-- (delete_project removes it) and with its organization; its services (JSON array of ids, in
-- dependency order) and outputs (JSON array, secrets redacted) are not keys: deleting a
-- service leaves the record to the platform.
CREATE TABLE template_instances (
    id          BLOB PRIMARY KEY CHECK (length(id) = 16),
    org_id      BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    project_id  BLOB NOT NULL,
    name        TEXT NOT NULL,
    -- The template's id; not a foreign key (built-in templates are not stored).
    template_id TEXT NOT NULL,
    services    TEXT NOT NULL CHECK (json_valid(services) AND json_type(services) = 'array'),
    outputs     TEXT NOT NULL CHECK (json_valid(outputs) AND json_type(outputs) = 'array'),
    created_at  TEXT NOT NULL,
    UNIQUE (project_id, name),
    -- The project must exist and belong to the same organization; its instances go with it.
    FOREIGN KEY (project_id, org_id) REFERENCES projects (id, org_id) ON DELETE CASCADE
);
CREATE INDEX template_instances_by_org ON template_instances (org_id, project_id, id);
