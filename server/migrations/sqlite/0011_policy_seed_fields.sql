-- Seed 001's policy fields (`table_name`, `row_filter_dsl`, `column_masks`, `external_id`,
-- `source`) live in the policy body like every other field; `external_id` is also kept
-- here, unique among an organization's live policies (a deleted policy keeps its own
-- without blocking a new one). Earlier bodies cannot hold it: the column starts NULL.
ALTER TABLE policies ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX policies_external_id ON policies (org_id, external_id)
    WHERE external_id IS NOT NULL AND deleted_at IS NULL;
