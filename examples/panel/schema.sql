-- A hosting panel's own tables, as the panel-schema example and its tests create them. They
-- belong to the panel (its sign-up, membership and billing write them); caas-rs only reads
-- them, through `caas_examples::panel::PanelTenancy`.
CREATE TABLE users (
    id         UUID PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL DEFAULT '',
    role       TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE organizations (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    owner_id   UUID NOT NULL REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE organization_members (
    organization_id UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);

CREATE TABLE container_plans (
    id             UUID PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    max_cpu_cores  NUMERIC(6, 2) NOT NULL,
    max_memory_gb  NUMERIC(8, 2) NOT NULL,
    max_storage_gb INTEGER NOT NULL,
    max_containers INTEGER NOT NULL,
    max_projects   INTEGER NOT NULL,
    price_cents    INTEGER NOT NULL DEFAULT 0,
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE container_subscriptions (
    id                   UUID PRIMARY KEY,
    organization_id      UUID NOT NULL UNIQUE REFERENCES organizations (id) ON DELETE CASCADE,
    plan_id              UUID NOT NULL REFERENCES container_plans (id),
    status               TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'cancelled')),
    current_period_start TIMESTAMPTZ NOT NULL,
    current_period_end   TIMESTAMPTZ NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
