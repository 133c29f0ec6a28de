-- The 数字书记 certificates of secretaries, as the training service's feed tells them: a read
-- model for the professional ladder's certificate prerequisite and the certification coverage
-- statistics, so both answer while training is down. Training owns the certificates; this table
-- only mirrors their level, dates and state.

CREATE TABLE certificates (
    name          TEXT PRIMARY KEY,        -- certificates/{number}
    secretary_id  TEXT NOT NULL,
    level         TEXT NOT NULL,           -- basic | advanced | senior
    issue_date    TEXT NOT NULL,           -- YYYY-MM-DD
    expiry_date   TEXT NOT NULL,           -- YYYY-MM-DD, last day valid
    state         TEXT NOT NULL,           -- valid | suspended | revoked | expired
    updated_at    TEXT NOT NULL
);
CREATE INDEX certificates_by_secretary ON certificates (secretary_id);
