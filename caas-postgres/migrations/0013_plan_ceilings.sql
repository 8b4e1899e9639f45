-- Ceilings a tenant cannot exceed: processes per container (a spec may otherwise ask for a
-- million) and the bytes its backups hold. Existing plans get the model's defaults
-- (`PlanLimits::DEFAULT_MAX_PIDS`, `PlanLimits::DEFAULT_BACKUP_STORAGE_BYTES`: 50 GiB).
ALTER TABLE plans
    ADD COLUMN max_pids BIGINT NOT NULL DEFAULT 1024,
    ADD COLUMN backup_storage_bytes BIGINT NOT NULL DEFAULT 53687091200,
    DROP CONSTRAINT plans_limits_check,
    ADD CONSTRAINT plans_limits_check CHECK (
        cpu_millis >= 0 AND memory_bytes >= 0 AND storage_bytes >= 0
        AND max_containers >= 0 AND max_projects >= 0 AND max_domains >= 0
        AND max_pids >= 0 AND backup_storage_bytes >= 0
    );
