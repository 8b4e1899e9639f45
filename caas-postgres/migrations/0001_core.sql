-- Core schema: tenancy, services, deployments, quota, events, audit.
-- Units: CPU in millicores, memory and storage in bytes, money in cents (see caas_core::units).
--
-- Every constraint is named: the store maps violations to caas errors by constraint name
-- (unique → AlreadyExists, foreign key → NotFound of the referenced object, check →
-- InvalidInput naming the column). Names, slugs and e-mails use the "C" collation so that
-- ordering is bytewise, like the in-memory store, whatever the server's default collation.
--
-- Ownership chain, all ON DELETE CASCADE: organization → members, subscription, projects,
-- reservations; project → services (keyed by (project, org) so a service can never point at a
-- project of another organization); service → deployments, events (keyed by (service, org)).
-- Deleting an organization therefore removes everything it owns in one statement.

CREATE TABLE users (
    id             UUID NOT NULL,
    -- Stored with ASCII letters lowercased, exactly as caas_core's NewUser builds it.
    email          TEXT COLLATE "C" NOT NULL,
    display_name   TEXT NOT NULL,
    platform_admin BOOLEAN NOT NULL DEFAULT false,
    created_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_email_check CHECK (email !~ '[A-Z]' AND length(email) BETWEEN 3 AND 254),
    CONSTRAINT users_display_name_check CHECK (length(display_name) <= 200)
);

CREATE TABLE organizations (
    id           UUID NOT NULL,
    slug         TEXT COLLATE "C" NOT NULL,
    display_name TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT organizations_pkey PRIMARY KEY (id),
    CONSTRAINT organizations_slug_key UNIQUE (slug),
    CONSTRAINT organizations_slug_check CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$'),
    CONSTRAINT organizations_display_name_check CHECK (length(display_name) <= 200),
    CONSTRAINT organizations_status_check CHECK (status IN ('active', 'suspended'))
);

CREATE TABLE members (
    org_id     UUID NOT NULL,
    user_id    UUID NOT NULL,
    role       TEXT NOT NULL,
    -- NULL: every project of the organization.
    projects   UUID[],
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT members_pkey PRIMARY KEY (org_id, user_id),
    CONSTRAINT members_org_fkey FOREIGN KEY (org_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT members_user_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT members_role_check CHECK (role IN ('viewer', 'member', 'admin', 'owner'))
);
CREATE INDEX members_by_user ON members (user_id);

CREATE TABLE plans (
    id                  UUID NOT NULL,
    name                TEXT COLLATE "C" NOT NULL,
    display_name        TEXT NOT NULL,
    cpu_millis          BIGINT NOT NULL,
    memory_bytes        BIGINT NOT NULL,
    storage_bytes       BIGINT NOT NULL,
    max_containers      BIGINT NOT NULL,
    max_projects        BIGINT NOT NULL,
    monthly_price_cents BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    CONSTRAINT plans_pkey PRIMARY KEY (id),
    CONSTRAINT plans_name_key UNIQUE (name),
    CONSTRAINT plans_name_check CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    CONSTRAINT plans_display_name_check CHECK (length(display_name) <= 200),
    CONSTRAINT plans_limits_check CHECK (
        cpu_millis >= 0 AND memory_bytes >= 0 AND storage_bytes >= 0
        AND max_containers >= 0 AND max_projects >= 0
    ),
    CONSTRAINT plans_monthly_price_cents_check CHECK (monthly_price_cents >= 0),
    CONSTRAINT plans_currency_check CHECK (currency ~ '^[A-Z]{3}$')
);

-- One subscription per organization; a plan in use cannot be deleted (RESTRICT backs up the
-- store's explicit check).
CREATE TABLE subscriptions (
    id           UUID NOT NULL,
    org_id       UUID NOT NULL,
    plan_id      UUID NOT NULL,
    status       TEXT NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    period_end   TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT subscriptions_pkey PRIMARY KEY (id),
    CONSTRAINT subscriptions_org_key UNIQUE (org_id),
    CONSTRAINT subscriptions_org_fkey FOREIGN KEY (org_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT subscriptions_plan_fkey FOREIGN KEY (plan_id)
        REFERENCES plans (id) ON DELETE RESTRICT,
    CONSTRAINT subscriptions_status_check CHECK (status IN ('active', 'suspended', 'cancelled')),
    CONSTRAINT subscriptions_period_end_check CHECK (period_end >= period_start)
);
CREATE INDEX subscriptions_by_plan ON subscriptions (plan_id);

CREATE TABLE projects (
    id             UUID NOT NULL,
    org_id         UUID NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    -- Not a foreign key: the reservation is made before the project and may be swept later.
    reservation_id UUID,
    created_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT projects_pkey PRIMARY KEY (id),
    CONSTRAINT projects_org_name_key UNIQUE (org_id, name),
    -- Target of services' (project, org) reference.
    CONSTRAINT projects_id_org_key UNIQUE (id, org_id),
    CONSTRAINT projects_org_fkey FOREIGN KEY (org_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT projects_name_check CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$')
);

CREATE TABLE services (
    id                 UUID NOT NULL,
    org_id             UUID NOT NULL,
    project_id         UUID NOT NULL,
    name               TEXT COLLATE "C" NOT NULL,
    kind               JSONB NOT NULL,
    spec               JSONB NOT NULL,
    status             TEXT NOT NULL,
    current_deployment UUID,
    reservation_id     UUID,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT services_pkey PRIMARY KEY (id),
    CONSTRAINT services_project_name_key UNIQUE (project_id, name),
    -- Target of deployments' and events' (service, org) reference.
    CONSTRAINT services_id_org_key UNIQUE (id, org_id),
    -- The project must exist and belong to the same organization. The store refuses to delete
    -- a project with services; the cascade serves delete_org.
    CONSTRAINT services_project_fkey FOREIGN KEY (project_id, org_id)
        REFERENCES projects (id, org_id) ON DELETE CASCADE,
    CONSTRAINT services_name_check CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    CONSTRAINT services_kind_check CHECK (jsonb_typeof(kind) = 'object'),
    CONSTRAINT services_spec_check CHECK (jsonb_typeof(spec) = 'object'),
    CONSTRAINT services_status_check CHECK (status IN ('deploying', 'running', 'stopped', 'failed'))
);
CREATE INDEX services_by_org ON services (org_id, project_id);

CREATE TABLE deployments (
    id           UUID NOT NULL,
    service_id   UUID NOT NULL,
    org_id       UUID NOT NULL,
    project_id   UUID NOT NULL,
    spec         JSONB NOT NULL,
    status       TEXT NOT NULL,
    container_id TEXT,
    error        TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    CONSTRAINT deployments_pkey PRIMARY KEY (id),
    CONSTRAINT deployments_service_fkey FOREIGN KEY (service_id, org_id)
        REFERENCES services (id, org_id) ON DELETE CASCADE,
    CONSTRAINT deployments_spec_check CHECK (jsonb_typeof(spec) = 'object'),
    CONSTRAINT deployments_status_check
        CHECK (status IN ('pending', 'active', 'superseded', 'failed', 'removed'))
);
-- Newest first per service (ids are UUIDv7, time-ordered).
CREATE INDEX deployments_by_service ON deployments (service_id, id DESC);

CREATE TABLE reservations (
    id             UUID NOT NULL,
    org_id         UUID NOT NULL,
    cpu_millis     BIGINT NOT NULL,
    memory_bytes   BIGINT NOT NULL,
    storage_bytes  BIGINT NOT NULL,
    containers     BIGINT NOT NULL,
    projects       BIGINT NOT NULL,
    state          TEXT NOT NULL,
    owner          TEXT,
    expires_at     TIMESTAMPTZ NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT reservations_pkey PRIMARY KEY (id),
    CONSTRAINT reservations_org_fkey FOREIGN KEY (org_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT reservations_amounts_check CHECK (
        cpu_millis >= 0 AND memory_bytes >= 0 AND storage_bytes >= 0
        AND containers >= 0 AND projects >= 0
    ),
    CONSTRAINT reservations_state_check CHECK (state IN ('pending', 'committed', 'released')),
    -- A pending reservation has no owner yet; committing sets it, releasing keeps it.
    CONSTRAINT reservations_owner_check CHECK (state <> 'pending' OR owner IS NULL)
);
-- Usage sums only live reservations; released ones are history.
CREATE INDEX reservations_live_by_org ON reservations (org_id) WHERE state <> 'released';
CREATE INDEX reservations_pending_expiry ON reservations (expires_at) WHERE state = 'pending';

CREATE TABLE service_events (
    id         UUID NOT NULL,
    org_id     UUID NOT NULL,
    service_id UUID NOT NULL,
    kind       JSONB NOT NULL,
    message    TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT service_events_pkey PRIMARY KEY (id),
    CONSTRAINT service_events_service_fkey FOREIGN KEY (service_id, org_id)
        REFERENCES services (id, org_id) ON DELETE CASCADE,
    CONSTRAINT service_events_kind_check CHECK (jsonb_typeof(kind) = 'object')
);
CREATE INDEX service_events_by_service ON service_events (service_id, at DESC, id DESC);

-- The audit log outlives what it talks about: no foreign keys.
CREATE TABLE audit_log (
    id      UUID NOT NULL,
    at      TIMESTAMPTZ NOT NULL,
    actor   UUID,
    org_id  UUID,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    before  JSONB,
    after   JSONB,
    CONSTRAINT audit_log_pkey PRIMARY KEY (id)
);
CREATE INDEX audit_by_time ON audit_log (at DESC, id DESC);
CREATE INDEX audit_by_org ON audit_log (org_id, at DESC, id DESC);

-- Platform-wide settings (e.g. `runtime`: the runtime configuration), one JSON document per key.
CREATE TABLE settings (
    key        TEXT COLLATE "C" NOT NULL,
    value      JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT settings_pkey PRIMARY KEY (key),
    CONSTRAINT settings_key_check CHECK (length(key) BETWEEN 1 AND 200)
);
