-- Tables every service gets from the kit (tracked in _shequ_kit_migrations, apart from the
-- service's own schema): the hash-chained audit log and the idempotency records.

CREATE TABLE audit_entries (
    seq         BIGINT PRIMARY KEY,        -- dense: 1, 2, 3 ... a gap is a deleted entry
    at          TEXT NOT NULL,             -- RFC 3339 UTC
    actor       TEXT NOT NULL,             -- caller subject
    roles       TEXT NOT NULL,             -- comma-separated
    action      TEXT NOT NULL,             -- RPC name, or AUDIT_PURGE
    resource    TEXT NOT NULL,
    region      TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    outcome     TEXT NOT NULL,             -- gRPC code name, OK on success
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL              -- HMAC-SM3 over prev_hash and every field above
);
CREATE INDEX audit_entries_by_region ON audit_entries (region, seq);
CREATE INDEX audit_entries_by_actor ON audit_entries (actor, seq);
CREATE INDEX audit_entries_by_time ON audit_entries (at);

-- The head of the chain (one row), MAC'd so that a truncated tail is noticed, and the anchor
-- left by the last retention purge.
CREATE TABLE audit_head (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    head_mac    TEXT NOT NULL,
    base_seq    BIGINT NOT NULL,           -- entries up to here were archived and purged
    base_hash   TEXT NOT NULL
);

CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,         -- caller subject + client request id
    method       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,            -- SM3 of the request
    state        TEXT NOT NULL,            -- pending | done
    code         BIGINT NOT NULL,          -- gRPC code of the first outcome
    message      TEXT NOT NULL,
    body         BYTEA,                     -- response message, or encoded google.rpc.Status details
    created_at   TEXT NOT NULL
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
