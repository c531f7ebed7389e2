-- Each organization's policy test suite (`/api/v1/policy-tests`): the cases as JSON, run
-- against the would-be active set by every change to policies, assignments and the
-- catalog.
CREATE TABLE policy_tests (
    org_id      TEXT NOT NULL PRIMARY KEY,
    suite       TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL
);
