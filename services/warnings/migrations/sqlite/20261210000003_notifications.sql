-- The level above a community told of a missed deadline: the street when it passes, the district
-- one span later. One row per (deadline, level): a second one is refused by the database too.
CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    warning_id  TEXT NOT NULL REFERENCES warnings (id),
    deadline_id TEXT NOT NULL REFERENCES warning_deadlines (id),
    level       BIGINT NOT NULL,          -- 1 street, 2 district
    region      TEXT NOT NULL,            -- the notified street or district
    community   TEXT NOT NULL,
    title       TEXT NOT NULL,
    colour      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    due_time    TEXT NOT NULL,
    create_time TEXT NOT NULL,
    UNIQUE (deadline_id, level)
);
CREATE INDEX notifications_by_region ON notifications (region, id);
