-- Evaluation: each province's 5+X indicator schemes, one immutable row per version and year.
-- body is the scheme as JSON (core and X indicators, cap, band, appeal window).
CREATE TABLE indicator_schemes (
    province    TEXT NOT NULL,            -- 12-digit province code
    year        BIGINT NOT NULL,
    version     BIGINT NOT NULL,          -- 1, 2, ... per province and year
    body        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    create_time TEXT NOT NULL,
    PRIMARY KEY (province, year, version)
);

-- Who serves where, as personnel's feed has told (SecretaryAppointed, CareerEventRecorded):
-- evaluation's read model of secretaries and their communities (scope checks, ranking scopes).
CREATE TABLE secretary_roster (
    secretary TEXT PRIMARY KEY,           -- secretaries/{id}
    region    TEXT NOT NULL,              -- the community served
    active    INTEGER NOT NULL,           -- 0/1: in post
    sequence  BIGINT NOT NULL             -- personnel feed sequence of the last event applied
);
CREATE INDEX secretary_roster_by_region ON secretary_roster (region);
