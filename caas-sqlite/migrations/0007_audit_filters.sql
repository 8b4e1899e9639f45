-- Indexes for the audit log's filters (caas_core::ports::store::AuditFilter). The organization
-- and time filters are served by audit_by_org and audit_by_time (0001_core.sql).

-- A user's entries, newest first. Entries of the platform itself have no actor and are never
-- asked for by actor, so they stay out of the index.
CREATE INDEX audit_by_actor ON audit_log (actor, at DESC, id DESC) WHERE actor IS NOT NULL;
-- Action prefixes, which the store turns into a range on `action` (`action >= prefix AND
-- action < next`; BINARY collation, so bytewise like `str::starts_with`).
CREATE INDEX audit_by_action ON audit_log (action);
