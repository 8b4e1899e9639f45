-- The audit log's filters (caas_core::ports::store::AuditFilter). The organization and time
-- filters are served by audit_by_org and audit_by_time (0001_core.sql).

-- Action prefixes are a range on `action` (`action >= prefix AND action < next`), which means
-- "starts with" only in bytewise order: the column takes the "C" collation, like the other
-- text keys. Only the collation changes (text stays text), so the table is not rewritten.
ALTER TABLE audit_log ALTER COLUMN action TYPE TEXT COLLATE "C";
CREATE INDEX audit_by_action ON audit_log (action);

-- A user's entries, newest first. Entries of the platform itself have no actor and are never
-- asked for by actor, so they stay out of the index.
CREATE INDEX audit_by_actor ON audit_log (actor, at DESC, id DESC) WHERE actor IS NOT NULL;
