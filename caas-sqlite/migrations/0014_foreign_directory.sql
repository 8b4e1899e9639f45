-- caas-rs's own tables no longer reference the directory's (users, organizations), so a host
-- application can supply its own directory and plans and keep everything else in this store
-- (as caas-postgres/migrations/0015_foreign_directory.sql does). The directory's own tables
-- (members, subscriptions, invitations) keep their keys, and so do the keys between caas-rs's
-- tables: a project with services still cannot be deleted, projects still cascade to their
-- volumes and template instances, and services to their deployments, events and domains.
-- What the cascades from organizations did, `delete_org` now does with explicit deletes in
-- one transaction. (Users are disabled, never deleted, so their tokens lose no cascade.)
--
-- SQLite cannot drop a constraint. Removing a foreign key changes nothing on disk (no index,
-- no stored value depends on it), so this takes the procedure
-- https://www.sqlite.org/lang_altertable.html documents for exactly that instead of
-- rebuilding eleven tables: edit the stored CREATE TABLE text, in the migration's
-- transaction. A failure anywhere rolls the text back with everything else. (A build of
-- SQLite in defensive mode refuses the edit: the migration then fails and changes nothing.)
PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(sql, ' REFERENCES organizations (id) ON DELETE CASCADE', '')
WHERE type = 'table'
  AND name IN ('projects', 'services', 'deployments', 'reservations', 'service_events',
               'domains', 'volumes', 'backups', 'alerts', 'template_instances');

UPDATE sqlite_schema
SET sql = replace(sql, ' REFERENCES users (id) ON DELETE CASCADE', '')
WHERE type = 'table' AND name = 'api_tokens';

-- Off again, and this connection reloads the schema from the edited text: text that does not
-- parse fails the migration here, and this connection stops enforcing the removed keys.
PRAGMA writable_schema = RESET;

-- What must hold before this commits: a row in this table fails the migration (SQLite names
-- the check, foreign_directory_upgrade) and rolls it back whole. Creating and dropping the
-- table are schema changes, which bump the schema cookie (the docs' step "PRAGMA
-- schema_version = X + 1", which takes no expression): every other connection, in this
-- process or another, reloads the schema before its next statement instead of enforcing the
-- removed keys from the copy it had loaded.
CREATE TABLE foreign_directory_upgrade (
    problem TEXT CONSTRAINT foreign_directory_upgrade CHECK (problem IS NULL)
);
-- Only the directory's own tables still reference organizations or users. The text replaced
-- above is exactly what 0001-0013 wrote; a schema edited otherwise keeps its reference and is
-- refused here.
INSERT INTO foreign_directory_upgrade (problem)
SELECT name FROM sqlite_schema
WHERE type = 'table'
  AND name NOT IN ('members', 'subscriptions', 'invitations')
  AND (sql LIKE '%REFERENCES organizations%' OR sql LIKE '%REFERENCES users%');
-- The docs' last step: PRAGMA integrity_check finds nothing wrong.
INSERT INTO foreign_directory_upgrade (problem)
SELECT integrity_check FROM pragma_integrity_check WHERE integrity_check <> 'ok';
DROP TABLE foreign_directory_upgrade;
