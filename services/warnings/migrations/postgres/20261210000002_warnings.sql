-- Warnings, their deadlines, history, consultations and task forces; the roster of secretaries.
CREATE TABLE warnings (
    id            TEXT PRIMARY KEY,
    region        TEXT NOT NULL,          -- 12-digit community code
    title         TEXT NOT NULL,
    description   TEXT NOT NULL,
    category      TEXT NOT NULL,
    colour        TEXT NOT NULL,          -- BLUE, YELLOW, RED
    state         TEXT NOT NULL,          -- OPEN, ACKNOWLEDGED, HANDLING, RESOLVED, CLOSED
    source        TEXT NOT NULL,          -- PERSON, RULE, INTEGRATION
    threshold_rule TEXT,                  -- rule-raised: provinces/{p}/thresholdRules/{r}
    assignee      TEXT,                   -- secretaries/{id}
    overdue       INTEGER NOT NULL,       -- 0/1: the running deadline passed unmet
    raised_by     TEXT NOT NULL,
    resolution    TEXT NOT NULL,
    create_time   TEXT NOT NULL,
    update_time   TEXT NOT NULL,
    escalate_time TEXT,
    resolve_time  TEXT,
    close_time    TEXT,
    version       BIGINT NOT NULL
);
CREATE INDEX warnings_by_region ON warnings (region, id);
CREATE INDEX warnings_by_assignee ON warnings (assignee);
-- A rule keeps one active warning per community: a second one cannot be inserted.
CREATE UNIQUE INDEX warnings_one_active_per_rule ON warnings (region, threshold_rule)
    WHERE threshold_rule IS NOT NULL AND state IN ('OPEN', 'ACKNOWLEDGED', 'HANDLING');

-- Deadlines are rows: the scheduler reads them, never memory, so they survive restarts and
-- every replica sees the same ones. next_check is when the scheduler next looks (NULL: never).
CREATE TABLE warning_deadlines (
    id             TEXT PRIMARY KEY,
    warning_id     TEXT NOT NULL REFERENCES warnings (id),
    seq            BIGINT NOT NULL,       -- order within the warning
    region         TEXT NOT NULL,
    kind           TEXT NOT NULL,         -- RESPOND, CONSULT, TASK_FORCE
    colour         TEXT NOT NULL,
    start_time     TEXT NOT NULL,
    due_time       TEXT NOT NULL,
    met_time       TEXT,
    missed         INTEGER NOT NULL,      -- 0/1
    supersede_time TEXT,
    notified_level BIGINT NOT NULL,       -- 0 none, 1 street, 2 district
    next_check     TEXT
);
CREATE UNIQUE INDEX warning_deadlines_by_warning ON warning_deadlines (warning_id, seq);
CREATE INDEX warning_deadlines_to_check ON warning_deadlines (next_check) WHERE next_check IS NOT NULL;

-- Every change of a warning, never edited or deleted (also enforced below).
CREATE TABLE warning_history (
    warning_id  TEXT NOT NULL REFERENCES warnings (id),
    seq         BIGINT NOT NULL,          -- the warning's version after the change
    action      TEXT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    from_colour TEXT NOT NULL,
    to_colour   TEXT NOT NULL,
    assignee    TEXT,
    actor       TEXT NOT NULL,
    note        TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (warning_id, seq)
);

CREATE TABLE consultations (
    id           TEXT PRIMARY KEY,
    warning_id   TEXT NOT NULL REFERENCES warnings (id),
    seq          BIGINT NOT NULL,         -- the warning's version when recorded
    departments  TEXT NOT NULL,           -- comma-separated department codes
    participants TEXT NOT NULL,           -- JSON array of strings
    summary      TEXT NOT NULL,
    hold_time    TEXT NOT NULL,
    recorded_by  TEXT NOT NULL,
    create_time  TEXT NOT NULL
);
CREATE UNIQUE INDEX consultations_by_warning ON consultations (warning_id, seq);

CREATE TABLE task_forces (
    id           TEXT PRIMARY KEY,
    warning_id   TEXT NOT NULL REFERENCES warnings (id),
    seq          BIGINT NOT NULL,
    leader       TEXT NOT NULL,
    members      TEXT NOT NULL,           -- JSON array of strings
    departments  TEXT NOT NULL,
    note         TEXT NOT NULL,
    form_time    TEXT NOT NULL,
    recorded_by  TEXT NOT NULL,
    create_time  TEXT NOT NULL
);
CREATE UNIQUE INDEX task_forces_by_warning ON task_forces (warning_id, seq);

-- Who serves where, as personnel's feed has told (SecretaryAppointed, CareerEventRecorded):
-- the local read model of the assignee check.
CREATE TABLE secretary_roster (
    secretary TEXT PRIMARY KEY,           -- secretaries/{id}
    region    TEXT NOT NULL,              -- the community served
    active    INTEGER NOT NULL,           -- 0/1: in post
    since     TEXT NOT NULL,              -- when the last event about them was committed
    sequence  BIGINT NOT NULL             -- personnel feed sequence of that event
);
CREATE INDEX secretary_roster_by_region ON secretary_roster (region, active, since);
-- The newest personnel event the roster reflects (one row).
CREATE TABLE roster_as_of (
    id         INTEGER PRIMARY KEY,
    sequence   BIGINT NOT NULL,
    event_time TEXT NOT NULL
);

CREATE FUNCTION warning_history_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'warning history is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER warning_history_no_change BEFORE UPDATE OR DELETE ON warning_history
    FOR EACH ROW EXECUTE FUNCTION warning_history_append_only();
