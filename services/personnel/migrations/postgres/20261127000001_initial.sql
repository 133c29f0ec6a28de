-- Personnel and careers: initial schema (PostgreSQL). Portable types only: TEXT ids, dates
-- (YYYY-MM-DD) and RFC 3339 UTC times, BIGINT counters, INTEGER 0/1 flags.

CREATE TABLE secretaries (
    id                  TEXT PRIMARY KEY,
    region              TEXT NOT NULL,            -- 12-digit community code
    display_name        TEXT NOT NULL,
    gender              TEXT NOT NULL,
    birth_date          TEXT NOT NULL,
    id_number_enc       TEXT NOT NULL,            -- SM4-GCM ciphertext
    id_number_index     TEXT NOT NULL UNIQUE,     -- HMAC-SM3 blind index
    phone_number_enc    TEXT,                     -- SM4-GCM ciphertext, NULL when none
    education           TEXT NOT NULL,
    political_status    TEXT NOT NULL,
    appointment_date    TEXT NOT NULL,
    work_start_date     TEXT NOT NULL,
    status              TEXT NOT NULL,
    ladder              TEXT,                     -- NULL while on the shared first rung
    rung                TEXT NOT NULL,
    rung_since          TEXT NOT NULL,
    professional_title  TEXT NOT NULL DEFAULT '',
    left_on             TEXT,                     -- date the secretary left the post
    version             BIGINT NOT NULL,
    create_time         TEXT NOT NULL,
    update_time         TEXT NOT NULL
);
CREATE INDEX secretaries_by_region ON secretaries (region, id);

CREATE TABLE career_events (
    id              TEXT PRIMARY KEY,
    secretary_id    TEXT NOT NULL REFERENCES secretaries (id),
    seq             BIGINT NOT NULL,             -- order within the secretary's history
    type            TEXT NOT NULL,
    effective_date  TEXT NOT NULL,
    ladder          TEXT,
    from_rung       TEXT,
    to_rung         TEXT,
    from_region     TEXT,
    to_region       TEXT,
    destination     TEXT NOT NULL DEFAULT '',
    title           TEXT NOT NULL DEFAULT '',
    note            TEXT NOT NULL DEFAULT '',
    recorded_by     TEXT NOT NULL,
    create_time     TEXT NOT NULL,
    UNIQUE (secretary_id, seq)
);
CREATE INDEX career_events_by_type ON career_events (type, effective_date);

-- Career history is append-only: the database itself refuses edits and deletions.
CREATE FUNCTION career_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'career events are append-only';
END;
$$;
CREATE TRIGGER career_events_no_change BEFORE UPDATE OR DELETE ON career_events
    FOR EACH ROW EXECUTE FUNCTION career_events_append_only();

CREATE TABLE qualification_standards (
    province                 TEXT PRIMARY KEY,
    max_age_at_appointment   BIGINT NOT NULL,
    min_education            TEXT NOT NULL,
    min_years_community_work BIGINT NOT NULL,
    version                  BIGINT NOT NULL,
    update_time              TEXT NOT NULL
);

CREATE TABLE career_policies (
    province                  TEXT PRIMARY KEY,
    rung_requirements         TEXT NOT NULL,      -- JSON [{"rung": "...", "min_years": n}]
    violation_lookback_months BIGINT NOT NULL,
    reserve_annual_target     BIGINT NOT NULL,
    version                   BIGINT NOT NULL,
    update_time               TEXT NOT NULL
);

CREATE TABLE negative_list_items (
    province     TEXT NOT NULL,
    code         TEXT NOT NULL,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    active       INTEGER NOT NULL,
    version      BIGINT NOT NULL,
    PRIMARY KEY (province, code)
);

CREATE TABLE violations (
    id            TEXT PRIMARY KEY,
    secretary_id  TEXT NOT NULL REFERENCES secretaries (id),
    province      TEXT NOT NULL,
    item_code     TEXT NOT NULL,
    occurred_on   TEXT NOT NULL,
    evidence      TEXT NOT NULL,
    recorded_by   TEXT NOT NULL,
    create_time   TEXT NOT NULL,
    FOREIGN KEY (province, item_code) REFERENCES negative_list_items (province, code)
);
CREATE INDEX violations_by_secretary ON violations (secretary_id, occurred_on);

CREATE TABLE reserve_candidates (
    id               TEXT PRIMARY KEY,
    region           TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    gender           TEXT,
    birth_date       TEXT NOT NULL,
    education        TEXT NOT NULL,
    readiness        TEXT NOT NULL,
    status           TEXT NOT NULL,
    pool_entry_date  TEXT NOT NULL,
    note             TEXT NOT NULL DEFAULT '',
    version          BIGINT NOT NULL,
    create_time      TEXT NOT NULL,
    update_time      TEXT NOT NULL
);
CREATE INDEX reserve_candidates_by_region ON reserve_candidates (region, id);
CREATE INDEX reserve_candidates_by_entry ON reserve_candidates (pool_entry_date);
