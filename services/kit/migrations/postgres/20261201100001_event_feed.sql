-- The service's event feed (transactional outbox, ARCHITECTURE.md decision 10) and the cursors of
-- the feeds it follows. Events are written in the transaction of the change that caused them,
-- under the audit head's lock, so sequence numbers rise in commit order.

CREATE TABLE feed_events (
    seq         BIGINT PRIMARY KEY,        -- position in the feed, from 1, in commit order
    id          TEXT NOT NULL UNIQUE,      -- ULID
    at          TEXT NOT NULL,             -- RFC 3339 UTC commit time
    region      TEXT NOT NULL,
    subject     TEXT NOT NULL,             -- resource name
    type_url    TEXT NOT NULL,             -- type.googleapis.com/<full message name>
    payload     BYTEA NOT NULL             -- the encoded message
);
CREATE INDEX feed_events_by_time ON feed_events (at);

-- The last sequence number handed out (one row): survives the retention purge of every event.
CREATE TABLE feed_head (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         BIGINT NOT NULL
);
INSERT INTO feed_head (id, seq) VALUES (1, 0);

-- Where this service stands in each feed it follows, advanced in the same transaction as the
-- handling of each event.
CREATE TABLE feed_cursors (
    feed        TEXT PRIMARY KEY,          -- the producing service, e.g. personnel
    position    BIGINT NOT NULL,           -- sequence of the last event handled
    updated_at  TEXT NOT NULL
);
