-- Data sources (`/api/v1/data-sources`): PostgreSQL databases an organization registers
-- for the data preview "as this user". `url` holds the credentials and is never answered
-- by any endpoint (answers carry a redacted form built from it).
CREATE TABLE data_sources (
    org_id      TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, name)
);
-- Whether viewers may run the data preview (0: editors and admins only).
ALTER TABLE orgs ADD COLUMN data_preview_viewers BIGINT NOT NULL DEFAULT 0;
