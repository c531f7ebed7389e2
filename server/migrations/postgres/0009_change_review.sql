-- Change review (issue 21): the organization's review setting, and change requests. A
-- change request is a proposed version of a policy, stored in policy_versions like any
-- version but not applied to `policies` (which holds what is enforced) until it is
-- published.
ALTER TABLE orgs ADD COLUMN review_required BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN review_approvals BIGINT NOT NULL DEFAULT 1;

-- status: draft, in_review, approved, rejected or published (a published version is
-- answered as `active` while the policy is at its revision, `archived` afterwards).
CREATE TABLE change_requests (
    org_id        TEXT NOT NULL,
    policy_id     TEXT NOT NULL,
    version       BIGINT NOT NULL,
    action        TEXT NOT NULL,
    status        TEXT NOT NULL,
    author        TEXT NOT NULL,
    base_revision BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    published_at  BIGINT,
    published_by  TEXT,
    PRIMARY KEY (org_id, policy_id, version)
);
CREATE INDEX change_requests_org_time ON change_requests (org_id, created_at);

CREATE TABLE change_reviews (
    org_id     TEXT NOT NULL,
    policy_id  TEXT NOT NULL,
    version    BIGINT NOT NULL,
    reviewer   TEXT NOT NULL,
    decision   TEXT NOT NULL,
    comment    TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, policy_id, version, reviewer)
);
