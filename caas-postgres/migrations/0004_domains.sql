-- Custom domains: one owner per hostname and path prefix across all organizations.
CREATE TABLE domains (
    id                 UUID PRIMARY KEY,
    org_id             UUID NOT NULL,
    service_id         UUID NOT NULL,
    hostname           TEXT NOT NULL CONSTRAINT domains_hostname_check
                       CHECK (length(hostname) BETWEEN 1 AND 253 AND hostname = lower(hostname)),
    path_prefix        TEXT NOT NULL CONSTRAINT domains_path_prefix_check CHECK (path_prefix LIKE '/%'),
    strip_prefix       BOOLEAN NOT NULL,
    target_port        INTEGER NOT NULL CONSTRAINT domains_target_port_check
                       CHECK (target_port BETWEEN 1 AND 65535),
    verification       JSONB NOT NULL,
    verification_token TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT domains_host_path_key UNIQUE (hostname, path_prefix),
    CONSTRAINT domains_org_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT domains_service_fkey FOREIGN KEY (service_id) REFERENCES services (id) ON DELETE CASCADE
);
CREATE INDEX domains_by_service ON domains (service_id, id);
CREATE INDEX domains_by_org ON domains (org_id, id);
