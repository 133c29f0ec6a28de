-- The community brain: indicators, threshold rules, terminals, batches and readings.
CREATE TABLE indicators (
    province     TEXT NOT NULL,
    id           TEXT NOT NULL,
    display_name TEXT NOT NULL,
    department   TEXT NOT NULL,
    unit         TEXT NOT NULL,
    min_value    REAL NOT NULL,
    max_value    REAL NOT NULL,
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
    blue         REAL,
    yellow       REAL,
    red          REAL,
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
    response    BLOB NOT NULL,      -- the encoded BatchCreateReadingsResponse
    commit_time TEXT NOT NULL,
    PRIMARY KEY (terminal_id, sequence)
);

-- Accepted readings, kept 90 days (service.reading_retention_days) and purged daily.
CREATE TABLE readings (
    region       TEXT NOT NULL,           -- the terminal's community
    terminal_id  TEXT NOT NULL,
    sequence     BIGINT NOT NULL,         -- the batch
    indicator_id TEXT NOT NULL,
    value        REAL NOT NULL,
    observe_time TEXT NOT NULL,
    receive_time TEXT NOT NULL
);
CREATE INDEX readings_by_time ON readings (observe_time);
CREATE INDEX readings_by_terminal ON readings (terminal_id, observe_time);
