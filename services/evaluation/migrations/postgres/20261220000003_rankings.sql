-- Rankings of a region's finalised results of a year, their places (best first) and band.
CREATE TABLE rankings (
    id                 TEXT PRIMARY KEY,
    region             TEXT NOT NULL,     -- the ranking scope
    year               BIGINT NOT NULL,
    state              TEXT NOT NULL,     -- PUBLISHED, CONFIRMED
    adjustment_percent BIGINT NOT NULL,
    band_minimum       BIGINT NOT NULL,
    appeal_deadline    TEXT NOT NULL,
    created_by         TEXT NOT NULL,
    create_time        TEXT NOT NULL,
    confirm_time       TEXT
);
CREATE TABLE ranking_places (
    ranking     TEXT NOT NULL REFERENCES rankings (id),
    secretary   TEXT NOT NULL,
    score       DOUBLE PRECISION NOT NULL,
    place       BIGINT NOT NULL,          -- rank, 1 = best, shared by ties
    flagged     INTEGER NOT NULL,         -- 0/1: in the adjustment band
    explanation TEXT NOT NULL,
    PRIMARY KEY (ranking, secretary)
);
CREATE INDEX ranking_places_by_secretary ON ranking_places (secretary);

-- Appeals of annual results; at most one pending per secretary and year.
CREATE TABLE appeals (
    id            TEXT PRIMARY KEY,
    secretary     TEXT NOT NULL,
    year          BIGINT NOT NULL,
    region        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    state         TEXT NOT NULL,          -- PENDING, UPHELD, DISMISSED
    decision_note TEXT NOT NULL,
    filed_by      TEXT NOT NULL,
    decided_by    TEXT NOT NULL,
    create_time   TEXT NOT NULL,
    decide_time   TEXT
);
CREATE UNIQUE INDEX appeals_one_pending ON appeals (secretary, year) WHERE state = 'PENDING';

-- The outbox of confirmed adjustments: one per secretary and year, retried until personnel
-- has recorded the career event (the request id is derived from the key, so personnel records
-- it once however often it is sent). lease_until keeps two replicas from sending at once.
CREATE TABLE adjustments (
    secretary    TEXT NOT NULL,
    year         BIGINT NOT NULL,
    ranking      TEXT NOT NULL,
    region       TEXT NOT NULL,
    state        TEXT NOT NULL,           -- PENDING, RECORDED
    attempts     BIGINT NOT NULL,
    next_attempt TEXT NOT NULL,
    lease_until  TEXT,
    last_error   TEXT NOT NULL,
    career_event TEXT,                    -- secretaries/{s}/careerEvents/{e} once recorded
    PRIMARY KEY (secretary, year)
);
CREATE INDEX adjustments_due ON adjustments (state, next_attempt);
