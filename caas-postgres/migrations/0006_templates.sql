-- Templates an administrator saved, and the instances deployed from templates. Conventions as
-- in 0001_core.sql: named constraints (mapped to caas errors by name), "C" collation for
-- names and ids, structured values as JSONB.

-- A saved template (new, or overriding a built-in of the same id), keyed by the template's
-- id. The definition (`caas_core::model::Template`, a nested structure) is a JSONB object. It
-- has no owner: templates are platform-wide, and instances do not refer to them by key (they
-- may come from built-ins, and outlive a saved template).
CREATE TABLE templates (
    id         TEXT COLLATE "C" NOT NULL,
    definition JSONB NOT NULL,
    enabled    BOOLEAN NOT NULL,
    position   INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT templates_pkey PRIMARY KEY (id),
    CONSTRAINT templates_id_check CHECK (id ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    CONSTRAINT templates_definition_check CHECK (jsonb_typeof(definition) = 'object')
);
-- The catalogue's order: position, then id (bytewise).
CREATE INDEX templates_by_position ON templates (position, id);

-- The services deployed together from a template. Keyed to its project by (project, org), so
-- it can never belong to a project of another organization; the record goes with its project
-- (delete_project removes it) and with its organization. Its services (ids in dependency
-- order) and outputs (secrets redacted) are JSONB arrays, not keys: deleting a service leaves
-- the record to the platform.
CREATE TABLE template_instances (
    id          UUID NOT NULL,
    org_id      UUID NOT NULL,
    project_id  UUID NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    -- The template's id; not a foreign key (built-in templates are not stored).
    template_id TEXT COLLATE "C" NOT NULL,
    services    JSONB NOT NULL,
    outputs     JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT template_instances_pkey PRIMARY KEY (id),
    CONSTRAINT template_instances_project_name_key UNIQUE (project_id, name),
    CONSTRAINT template_instances_org_fkey FOREIGN KEY (org_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT template_instances_project_fkey FOREIGN KEY (project_id, org_id)
        REFERENCES projects (id, org_id) ON DELETE CASCADE,
    CONSTRAINT template_instances_name_check
        CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    CONSTRAINT template_instances_template_id_check
        CHECK (template_id ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    CONSTRAINT template_instances_services_check CHECK (jsonb_typeof(services) = 'array'),
    CONSTRAINT template_instances_outputs_check CHECK (jsonb_typeof(outputs) = 'array')
);
CREATE INDEX template_instances_by_org ON template_instances (org_id, project_id, id);
