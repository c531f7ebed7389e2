-- Principals: the logins of `verdict proxy`, per organization. A principal's password is
-- kept only as a SCRAM-SHA-256 verifier (what PostgreSQL stores), never in clear; `roles`
-- is a JSON array and `attributes` a JSON object, both as the engine's context takes them.
CREATE TABLE principals (
    org_id       TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    roles        TEXT NOT NULL,
    attributes   TEXT NOT NULL,
    workspace    TEXT,
    data_source  TEXT,
    purpose      TEXT,
    verifier     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    updated_by   TEXT NOT NULL,
    PRIMARY KEY (org_id, user_name)
);
