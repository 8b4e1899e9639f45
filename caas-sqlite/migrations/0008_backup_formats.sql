-- How a backup was taken (caas_core::model::Backup's `paused` and `format`): whether the
-- services were paused rather than stopped around a consistent copy, and whether the object
-- is a tar of the volume or a database's logical dump. Earlier backups are tars taken
-- without pausing, which the defaults say.
ALTER TABLE backups ADD COLUMN paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1));
ALTER TABLE backups ADD COLUMN format TEXT NOT NULL DEFAULT 'archive'
    CHECK (format IN ('archive', 'pg_dump', 'mysql_dump', 'mariadb_dump'));
