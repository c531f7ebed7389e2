-- Alert channels (webhooks) per organization, violations queued with their evaluation,
-- and each channel's deliveries: pending (with the time of the next attempt), delivered,
-- or dead (the dead-letter list, after the last attempt failed).
CREATE TABLE alert_channels (
    org_id      TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    enabled     BIGINT NOT NULL,
    policies    TEXT NOT NULL,
    risks       TEXT NOT NULL,
    actions     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, id)
);

-- Violations written in the evaluation's transaction, not yet matched to channels.
CREATE TABLE alert_events (
    org_id        TEXT NOT NULL,
    id            TEXT NOT NULL,
    evaluation_id TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    payload       TEXT NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX alert_events_created ON alert_events (created_at);

CREATE TABLE alert_deliveries (
    org_id      TEXT NOT NULL,
    id          TEXT NOT NULL,
    channel_id  TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    payload     TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    BIGINT NOT NULL,
    next_at     BIGINT NOT NULL,
    last_status BIGINT,
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (status, next_at);
CREATE INDEX alert_deliveries_channel ON alert_deliveries (org_id, channel_id, status, updated_at);
