-- Identity: API keys of integrating systems. The secret is never stored, only its keyed hash.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    roles         TEXT NOT NULL,          -- comma-separated role names
    scope         TEXT NOT NULL,          -- 12-digit region code
    expire_time   TEXT NOT NULL,
    revoked       INTEGER NOT NULL,       -- 0/1
    secret_hash   TEXT NOT NULL,          -- HMAC-SM3 of the secret
    creator       TEXT NOT NULL,
    create_time   TEXT NOT NULL,
    rotate_time   TEXT,
    revoke_time   TEXT,
    version       BIGINT NOT NULL
);
CREATE INDEX api_keys_by_scope ON api_keys (scope, id);
