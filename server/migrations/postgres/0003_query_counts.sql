-- Stateful query limits (queries_per_hour, queries_per_day): one counter per
-- organization, policy, user and fixed window, incremented atomically by /evaluate only
-- while it is below the limit, so that every instance on this database shares it.
CREATE TABLE query_counts (
    org_id       TEXT NOT NULL,
    policy_id    TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    window_kind  TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    limit_value  BIGINT NOT NULL,
    PRIMARY KEY (org_id, policy_id, user_name, window_kind, window_start)
);
CREATE INDEX query_counts_window ON query_counts (org_id, window_start);

-- Context attributes that GET /api/v1/evaluations/{id} answers as "[redacted]" (a JSON
-- array of names; "*" for every attribute).
ALTER TABLE orgs ADD COLUMN redacted_attributes TEXT;
