-- Webhook subscribers and the outbox of their deliveries. A delivery row is written in the
-- transaction of the change that causes the event, so none is lost; the sender claims a due row
-- with a lease, attempts it, and records the attempt, rescheduling it with back-off.
CREATE TABLE webhook_endpoints (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    url          TEXT NOT NULL,
    region       TEXT NOT NULL,
    region_low   TEXT NOT NULL,           -- the codes of the region's communities lie between
    region_high  TEXT NOT NULL,
    event_types  TEXT NOT NULL,           -- comma-separated, empty for all
    secret       TEXT NOT NULL,           -- SM4-GCM encrypted signing secret
    deleted      INTEGER NOT NULL,
    creator      TEXT NOT NULL,
    create_time  TEXT NOT NULL,
    delete_time  TEXT
);
CREATE INDEX webhook_endpoints_by_region ON webhook_endpoints (region, id);

CREATE TABLE webhook_deliveries (
    id           TEXT PRIMARY KEY,        -- also the webhook-id header
    endpoint_id  TEXT NOT NULL REFERENCES webhook_endpoints (id),
    event_type   TEXT NOT NULL,
    warning_id   TEXT NOT NULL,
    payload      TEXT NOT NULL,           -- the JSON body, the same on every attempt
    state        TEXT NOT NULL,           -- PENDING, DELIVERED, FAILED, CANCELLED
    attempts     BIGINT NOT NULL,
    next_attempt TEXT,
    lease_until  TEXT,
    create_time  TEXT NOT NULL,
    deliver_time TEXT
);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt) WHERE state = 'PENDING';

CREATE TABLE webhook_attempts (
    delivery_id  TEXT NOT NULL REFERENCES webhook_deliveries (id),
    number       BIGINT NOT NULL,
    start_time   TEXT NOT NULL,
    status_code  BIGINT NOT NULL,         -- 0: no answer (yet)
    error        TEXT NOT NULL,
    PRIMARY KEY (delivery_id, number)
);
