-- Quarterly internal assessments: one per secretary, year and quarter; scores as JSON
-- ({"indicator": score}), evidence links as a JSON array.
CREATE TABLE quarterly_assessments (
    secretary   TEXT NOT NULL,            -- secretaries/{id}
    year        BIGINT NOT NULL,
    quarter     BIGINT NOT NULL,          -- 1-4
    region      TEXT NOT NULL,            -- community when assessed
    scores      TEXT NOT NULL,
    evidence    TEXT NOT NULL,
    note        TEXT NOT NULL,
    assessed_by TEXT NOT NULL,
    create_time TEXT NOT NULL,
    PRIMARY KEY (secretary, year, quarter)
);
CREATE INDEX quarterly_assessments_by_region ON quarterly_assessments (year, region);

-- A district's engagement of an assessment organisation for regions and a year.
CREATE TABLE engagements (
    id           TEXT PRIMARY KEY,
    organisation TEXT NOT NULL,
    assessor     TEXT NOT NULL,           -- the assessors' account subject
    regions      TEXT NOT NULL,           -- JSON array of 12-digit codes
    year         BIGINT NOT NULL,
    engaged_by   TEXT NOT NULL,
    scope        TEXT NOT NULL,           -- region code of the engaging caller's scope
    create_time  TEXT NOT NULL
);
CREATE INDEX engagements_by_assessor ON engagements (assessor, year);

-- Annual external assessments: one per secretary and year.
CREATE TABLE external_assessments (
    secretary   TEXT NOT NULL,
    year        BIGINT NOT NULL,
    region      TEXT NOT NULL,
    score       DOUBLE NOT NULL,
    evidence    TEXT NOT NULL,
    engagement  TEXT NOT NULL,
    assessed_by TEXT NOT NULL,
    create_time TEXT NOT NULL,
    PRIMARY KEY (secretary, year)
);

-- Special assessments (X indicators): points per entry.
CREATE TABLE special_assessments (
    id          TEXT PRIMARY KEY,
    secretary   TEXT NOT NULL,
    year        BIGINT NOT NULL,
    region      TEXT NOT NULL,
    indicator   TEXT NOT NULL,
    points      DOUBLE NOT NULL,
    evidence    TEXT NOT NULL,
    assessed_by TEXT NOT NULL,
    create_time TEXT NOT NULL
);
CREATE INDEX special_assessments_by_secretary ON special_assessments (secretary, year);

-- Finalised annual results; the breakdown as JSON lines. Never rewritten by a later
-- finalisation (an appeal's decision is recorded beside it).
CREATE TABLE annual_results (
    secretary     TEXT NOT NULL,
    year          BIGINT NOT NULL,
    region        TEXT NOT NULL,
    score         DOUBLE NOT NULL,
    internal      DOUBLE NOT NULL,
    external      DOUBLE NOT NULL,
    x_points      DOUBLE NOT NULL,
    quarters      TEXT NOT NULL,          -- JSON array
    scheme        TEXT NOT NULL,          -- provinces/{p}/indicatorSchemes/{year}-v{n}
    breakdown     TEXT NOT NULL,
    finalise_time TEXT NOT NULL,
    PRIMARY KEY (secretary, year)
);
CREATE INDEX annual_results_by_region ON annual_results (year, region);
