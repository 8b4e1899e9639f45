-- Secrets at rest (caas_core::secrets). Secret values stay where they are — services.spec and
-- deployments.spec (`env[*].value` of secret variables), template_instances.outputs (secret
-- outputs) and the settings listed in caas_core::secrets::SECRET_SETTINGS — sealed in place as
-- `caas:enc:v1:…` strings, so those columns keep their JSONB checks. This table keeps the key
-- check of the key they are sealed under: at most one row, none until the store is first
-- opened with a key. `key_id` is the key's fingerprint (never the key), `sealed_check` the
-- known text sealed under it; `rotated_at` is the last rotation's time.
CREATE TABLE secret_key_check (
    id           SMALLINT PRIMARY KEY,
    key_id       TEXT NOT NULL,
    sealed_check TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    rotated_at   TIMESTAMPTZ,
    CONSTRAINT secret_key_check_one_row CHECK (id = 1),
    CONSTRAINT secret_key_check_key_id_check CHECK (length(key_id) BETWEEN 1 AND 64),
    CONSTRAINT secret_key_check_sealed_check CHECK (sealed_check LIKE 'caas:enc:v1:%')
);
