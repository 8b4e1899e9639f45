-- Invitations to join an organization (encodings as in 0001_core.sql).

-- One pending invitation: the address, the role granted on acceptance, and the SHA-256 of the
-- token (the token itself is never stored). It goes with its organization. `invited_by` is not
-- a foreign key: it records who sent the invitation, and the port asks only for the
-- organization to exist.
CREATE TABLE invitations (
    id           BLOB PRIMARY KEY CHECK (length(id) = 16),
    org_id       BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email        TEXT NOT NULL CONSTRAINT email CHECK (email = lower(email) AND length(email) <= 254),
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'member', 'admin', 'owner')),
    token_sha256 TEXT NOT NULL UNIQUE
                 CONSTRAINT token_sha256 CHECK (length(token_sha256) = 64 AND token_sha256 NOT GLOB '*[^0-9a-f]*'),
    invited_by   BLOB NOT NULL CHECK (length(invited_by) = 16),
    expires_at   TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
-- An organization's invitations in creation order (also serves the cascade).
CREATE INDEX invitations_by_org ON invitations (org_id, id);
