-- API tokens: only the SHA-256 of each secret is stored.
CREATE TABLE api_tokens (
    id           BLOB PRIMARY KEY CHECK (length(id) = 16),
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
    expires_at   TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, id);
