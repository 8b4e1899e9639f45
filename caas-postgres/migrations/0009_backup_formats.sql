-- How a backup was taken (caas_core::model::Backup's `paused` and `format`): whether the
-- services were paused rather than stopped around a consistent copy, and whether the object
-- is a tar of the volume or a database's logical dump. Earlier backups are tars taken
-- without pausing, which the defaults say. Constant defaults: the table is not rewritten.
ALTER TABLE backups
    ADD COLUMN paused BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN format TEXT NOT NULL DEFAULT 'archive',
    ADD CONSTRAINT backups_format_check CHECK (format IN ('archive', 'pg_dump', 'mysql_dump', 'mariadb_dump'));
