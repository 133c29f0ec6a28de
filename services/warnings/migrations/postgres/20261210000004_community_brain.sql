-- The community brain: indicators, threshold rules, terminals, batches and readings.
CREATE TABLE indicators (
    province     TEXT NOT NULL,
    id           TEXT NOT NULL,
    display_name TEXT NOT NULL,
    department   TEXT NOT NULL,
    unit         TEXT NOT NULL,
    min_value    DOUBLE PRECISION NOT NULL,
    max_value    DOUBLE PRECISION NOT NULL,
    active       INTEGER NOT NULL,
    version      BIGINT NOT NULL,
    create_time  TEXT NOT NULL,
    update_time  TEXT NOT NULL,
    PRIMARY KEY (province, id)
);

CREATE TABLE threshold_rules (
    province     TEXT NOT NULL,
    id           TEXT NOT NULL,
    indicator_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    direction    TEXT NOT NULL,           -- ABOVE, BELOW
    blue         DOUBLE PRECISION,
    yellow       DOUBLE PRECISION,
    red          DOUBLE PRECISION,
    category     TEXT NOT NULL,
    active       INTEGER NOT NULL,
    version      BIGINT NOT NULL,
    create_time  TEXT NOT NULL,
    update_time  TEXT NOT NULL,
    PRIMARY KEY (province, id),
    FOREIGN KEY (province, indicator_id) REFERENCES indicators (province, id)
);
CREATE INDEX threshold_rules_by_indicator ON threshold_rules (province, indicator_id);

-- Terminals: the key is never stored, only its keyed hash.
CREATE TABLE terminals (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    region       TEXT NOT NULL,           -- the community
    key_hash     TEXT NOT NULL,           -- HMAC-SM3 of the key
    revoked      INTEGER NOT NULL,
    creator      TEXT NOT NULL,
    create_time  TEXT NOT NULL,
    revoke_time  TEXT,
    version      BIGINT NOT NULL
);
CREATE INDEX terminals_by_region ON terminals (region, id);

-- Each batch applied, by terminal and sequence, with the answer it got: a repeated batch is
-- answered from here and applied once.
CREATE TABLE reading_batches (
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    sequence    BIGINT NOT NULL,
    response    BYTEA NOT NULL,      -- the encoded BatchCreateReadingsResponse
    commit_time TEXT NOT NULL,
    PRIMARY KEY (terminal_id, sequence)
);

-- Accepted readings, kept 90 days (service.reading_retention_days). Partitioned by month of
-- observe_time (RFC 3339 text, which sorts as time): the service creates the partitions of the
-- coming months ahead and drops whole partitions past the retention (a cheap DROP, not a DELETE);
-- the default partition catches anything outside them until a partition for it is attached.
CREATE TABLE readings (
    region       TEXT NOT NULL,
    terminal_id  TEXT NOT NULL,
    sequence     BIGINT NOT NULL,
    indicator_id TEXT NOT NULL,
    value        DOUBLE PRECISION NOT NULL,
    observe_time TEXT NOT NULL,
    receive_time TEXT NOT NULL
) PARTITION BY RANGE (observe_time);
CREATE TABLE readings_default PARTITION OF readings DEFAULT;
CREATE INDEX readings_by_time ON readings (observe_time);
CREATE INDEX readings_by_terminal ON readings (terminal_id, observe_time);
