-- Custom domains: one owner per hostname and path prefix across all organizations.
CREATE TABLE domains (
    id                 BLOB PRIMARY KEY CHECK (length(id) = 16),
    org_id             BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    service_id         BLOB NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    hostname           TEXT NOT NULL CHECK (length(hostname) BETWEEN 1 AND 253),
    path_prefix        TEXT NOT NULL CHECK (substr(path_prefix, 1, 1) = '/'),
    strip_prefix       INTEGER NOT NULL CHECK (strip_prefix IN (0, 1)),
    target_port        INTEGER NOT NULL CHECK (target_port BETWEEN 1 AND 65535),
    verification       TEXT NOT NULL CHECK (json_valid(verification)),
    verification_token TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    UNIQUE (hostname, path_prefix)
);
CREATE INDEX domains_by_service ON domains (service_id, id);
CREATE INDEX domains_by_org ON domains (org_id, id);
