-- Training and certification (DOMAIN.md §3). Portable SQL: TEXT ids and RFC 3339 times,
-- YYYY-MM-DD dates, BIGINT numbers, INTEGER 0/1 flags.

-- A province's policy as JSON (the shipped defaults until a row exists).
CREATE TABLE training_policies (
    province TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    version BIGINT NOT NULL,
    update_time TEXT NOT NULL
);

-- What personnel's feed told us about each secretary (a read model, never edited by hand).
CREATE TABLE secretaries (
    id TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    appointment_date TEXT NOT NULL,
    status TEXT NOT NULL,
    tenure BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX secretaries_by_region ON secretaries (region, id);

CREATE TABLE violations (
    name TEXT PRIMARY KEY,
    secretary_id TEXT NOT NULL,
    item TEXT NOT NULL,
    occurred_on TEXT NOT NULL
);
CREATE INDEX violations_by_secretary ON violations (secretary_id);

CREATE TABLE courses (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    layer TEXT NOT NULL,
    credit_hours BIGINT NOT NULL,
    region TEXT NOT NULL,
    province TEXT NOT NULL,
    description TEXT NOT NULL,
    create_time TEXT NOT NULL
);
CREATE INDEX courses_by_province ON courses (province, id);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    course_id TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    region TEXT NOT NULL,
    location TEXT NOT NULL,
    capacity BIGINT NOT NULL,
    enrolled BIGINT NOT NULL
);

CREATE TABLE enrolments (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    course_id TEXT NOT NULL,
    secretary_id TEXT NOT NULL,
    state TEXT NOT NULL,
    completed_on TEXT,
    hours BIGINT NOT NULL,
    layer TEXT NOT NULL,
    UNIQUE (session_id, secretary_id)
);
CREATE INDEX enrolments_by_secretary ON enrolments (secretary_id, completed_on);

CREATE TABLE studios (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    region TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    create_time TEXT NOT NULL
);

CREATE TABLE studio_attendance (
    id TEXT PRIMARY KEY,
    studio_id TEXT NOT NULL,
    day TEXT NOT NULL,
    person_times BIGINT NOT NULL,
    activity TEXT NOT NULL
);
CREATE INDEX studio_attendance_by_day ON studio_attendance (studio_id, day);

-- One plan per appointment (tenure): the key makes a replayed appointment a no-op.
CREATE TABLE plans (
    id TEXT PRIMARY KEY,
    secretary_id TEXT NOT NULL,
    tenure BIGINT NOT NULL,
    region TEXT NOT NULL,
    start_date TEXT NOT NULL,
    state TEXT NOT NULL,
    closed_reason TEXT NOT NULL,
    UNIQUE (secretary_id, tenure)
);

CREATE TABLE plan_steps (
    plan_id TEXT NOT NULL,
    number BIGINT NOT NULL,
    completed_on TEXT NOT NULL,
    signed_off_by TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (plan_id, number)
);

CREATE TABLE mentorships (
    id TEXT PRIMARY KEY,
    mentor_id TEXT NOT NULL,
    mentee_id TEXT NOT NULL,
    region TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT,
    end_reason TEXT NOT NULL,
    create_time TEXT NOT NULL
);
-- A mentee has one mentor at a time.
CREATE UNIQUE INDEX mentorships_one_active_per_mentee ON mentorships (mentee_id) WHERE end_date IS NULL;
CREATE INDEX mentorships_by_mentor ON mentorships (mentor_id);

-- Active mentees per mentor: raised only while below the capacity, by one conditional UPDATE,
-- so concurrent pairings cannot pass the limit on either database.
CREATE TABLE mentor_load (
    mentor_id TEXT PRIMARY KEY,
    active BIGINT NOT NULL
);

CREATE TABLE exam_results (
    id TEXT PRIMARY KEY,
    secretary_id TEXT NOT NULL,
    module TEXT NOT NULL,
    level TEXT NOT NULL,
    score BIGINT NOT NULL,
    pass_mark BIGINT NOT NULL,
    passed INTEGER NOT NULL,
    taken_on TEXT NOT NULL,
    create_time TEXT NOT NULL
);
CREATE INDEX exam_results_by_secretary ON exam_results (secretary_id, level);

CREATE TABLE certificates (
    number TEXT PRIMARY KEY,
    secretary_id TEXT NOT NULL,
    region TEXT NOT NULL,
    province TEXT NOT NULL,
    level TEXT NOT NULL,
    issue_date TEXT NOT NULL,
    expiry_date TEXT NOT NULL,
    revoked_on TEXT,
    revocation_reason TEXT NOT NULL,
    suspended INTEGER NOT NULL,
    status_index BIGINT NOT NULL,
    credential TEXT NOT NULL,
    kid TEXT NOT NULL,
    expiry_published INTEGER NOT NULL,
    UNIQUE (province, status_index)
);
CREATE INDEX certificates_by_secretary ON certificates (secretary_id, level);
CREATE INDEX certificates_by_expiry ON certificates (expiry_published, expiry_date);

-- Sequences (certificate numbers per province and year, status-list indexes per province).
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

-- Issuer keys per province; private keys sealed with the service's master key.
CREATE TABLE issuer_keys (
    kid TEXT PRIMARY KEY,
    province TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    private_key TEXT NOT NULL,
    public_x TEXT NOT NULL,
    create_time TEXT NOT NULL,
    retired_at TEXT
);
CREATE UNIQUE INDEX issuer_keys_one_current ON issuer_keys (province) WHERE retired_at IS NULL;
