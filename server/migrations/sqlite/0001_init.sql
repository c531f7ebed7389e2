-- Verdict's policy store (SQLite). Times are Unix milliseconds; JSON is stored as text.
-- Kept in step with ../postgres/0001_init.sql: same tables, columns and meanings.

CREATE TABLE orgs (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    catalog          TEXT,
    catalog_revision BIGINT NOT NULL DEFAULT 0,
    generation       BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    user_name   TEXT NOT NULL,
    role        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE policies (
    org_id     TEXT NOT NULL REFERENCES orgs(id),
    id         TEXT NOT NULL,
    body       TEXT NOT NULL,
    revision   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    deleted_at BIGINT,
    PRIMARY KEY (org_id, id)
);

CREATE TABLE policy_versions (
    org_id         TEXT NOT NULL,
    policy_id      TEXT NOT NULL,
    version        BIGINT NOT NULL,
    action         TEXT NOT NULL,
    snapshot       TEXT NOT NULL,
    changed_fields TEXT NOT NULL,
    author         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (org_id, policy_id, version)
);

CREATE TABLE assignments (
    org_id     TEXT NOT NULL,
    id         TEXT NOT NULL,
    policy_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, policy_id, kind, value)
);

CREATE TABLE exceptions (
    org_id       TEXT NOT NULL,
    id           TEXT NOT NULL,
    policy_id    TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject      TEXT NOT NULL,
    reason       TEXT,
    expires_at   BIGINT,
    max_uses     BIGINT,
    uses         BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    revoked_at   BIGINT,
    revoked_by   TEXT,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX exceptions_policy ON exceptions (org_id, policy_id);

CREATE TABLE evaluations (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    id                 TEXT NOT NULL UNIQUE,
    org_id             TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    caller             TEXT NOT NULL,
    ctx_user           TEXT,
    sql_text           TEXT NOT NULL,
    rewritten_sql      TEXT,
    verdict            TEXT NOT NULL,
    rule               TEXT NOT NULL,
    blocked_policy     TEXT,
    blocked_rule_index BIGINT,
    policies           TEXT NOT NULL,
    exceptions         TEXT NOT NULL,
    context            TEXT NOT NULL,
    context_digest     TEXT NOT NULL,
    dataset            TEXT,
    query_id           TEXT,
    result             TEXT NOT NULL
);
CREATE INDEX evaluations_org_time ON evaluations (org_id, created_at);

CREATE TABLE evaluation_policies (
    org_id         TEXT NOT NULL,
    policy_id      TEXT NOT NULL,
    evaluation_seq BIGINT NOT NULL,
    mode           TEXT NOT NULL,
    PRIMARY KEY (org_id, policy_id, evaluation_seq)
);

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id      TEXT NOT NULL,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    fields      TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX audit_org ON audit_log (org_id, seq);
