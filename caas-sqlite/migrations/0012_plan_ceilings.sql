-- Ceilings a tenant cannot exceed: processes per container (a spec may otherwise ask for a
-- million) and the bytes its backups hold. Existing plans get the model's defaults
-- (`PlanLimits::DEFAULT_MAX_PIDS`, `PlanLimits::DEFAULT_BACKUP_STORAGE_BYTES`: 50 GiB).
ALTER TABLE plans ADD COLUMN max_pids INTEGER NOT NULL DEFAULT 1024 CHECK (max_pids >= 0);
ALTER TABLE plans ADD COLUMN backup_storage_bytes INTEGER NOT NULL DEFAULT 53687091200
    CHECK (backup_storage_bytes >= 0);
