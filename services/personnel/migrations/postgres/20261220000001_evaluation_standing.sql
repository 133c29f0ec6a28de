-- Each secretary's latest ranked annual result, as the evaluation service's feed tells it
-- (BandMembershipChanged, AdjustmentConfirmed): the read model of the promotion prerequisite
-- "last annual result outside the adjustment band", so CheckPromotion answers while evaluation
-- is down. Evaluation owns the results; this table only mirrors the latest year's standing.
CREATE TABLE evaluation_standing (
    secretary_id TEXT PRIMARY KEY,
    year         BIGINT NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    in_band      INTEGER NOT NULL,         -- 0/1
    ranking      TEXT NOT NULL,            -- rankings/{id}
    explanation  TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
