-- Invitations to join an organization. Conventions as in 0001_core.sql: named constraints
-- (mapped to caas errors by name), "C" collation for e-mails and keys.

-- One pending invitation: the address, the role granted on acceptance, and the SHA-256 of the
-- token (the token itself is never stored). It goes with its organization. `invited_by` is not
-- a foreign key: it records who sent the invitation, and the port asks only for the
-- organization to exist.
CREATE TABLE invitations (
    id           UUID NOT NULL,
    org_id       UUID NOT NULL,
    -- Stored with ASCII letters lowercased, as the platform writes it (like users.email).
    email        TEXT COLLATE "C" NOT NULL,
    role         TEXT NOT NULL,
    token_sha256 TEXT COLLATE "C" NOT NULL,
    invited_by   UUID NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT invitations_pkey PRIMARY KEY (id),
    CONSTRAINT invitations_token_sha256_key UNIQUE (token_sha256),
    CONSTRAINT invitations_org_fkey FOREIGN KEY (org_id)
        REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT invitations_email_check CHECK (email !~ '[A-Z]' AND length(email) BETWEEN 3 AND 254),
    CONSTRAINT invitations_role_check CHECK (role IN ('viewer', 'member', 'admin', 'owner')),
    CONSTRAINT invitations_token_sha256_check CHECK (token_sha256 ~ '^[0-9a-f]{64}$')
);
-- An organization's invitations in creation order (also serves the cascade).
CREATE INDEX invitations_by_org ON invitations (org_id, id);
