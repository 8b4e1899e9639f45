-- API tokens: only the SHA-256 of each secret is stored.
CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL CONSTRAINT api_tokens_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CONSTRAINT api_tokens_name_check CHECK (length(name) BETWEEN 1 AND 100),
    token_sha256 TEXT NOT NULL CONSTRAINT api_tokens_token_sha256_key UNIQUE
                 CONSTRAINT api_tokens_token_sha256_check CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    expires_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, id);
