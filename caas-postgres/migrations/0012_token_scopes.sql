-- Tokens that can be limited, users that can be stopped. Conventions as in 0001_core.sql.

-- A platform administrator may disable a user: none of their tokens is accepted until they
-- are enabled again. Their memberships stay (for the record); existing users are enabled.
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT false;

-- A token's scope narrows its user's rights: `read_only` lets only reads through; `orgs`
-- lists the organizations it may reach, as a JSON array of `{"org": <id>, "projects": [<id>,
-- ...] | null}` in the order given (NULL: every organization of the user; an empty array:
-- none). No foreign keys: an organization or project that goes simply stops being reachable,
-- and the list keeps saying what the token was made for. Existing tokens keep the whole of
-- their user's rights.
ALTER TABLE api_tokens
    ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN orgs JSONB,
    ADD CONSTRAINT api_tokens_orgs_check CHECK (orgs IS NULL OR jsonb_typeof(orgs) = 'array');
