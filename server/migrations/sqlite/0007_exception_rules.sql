-- An exception may name the rules it lifts (a JSON array of rule indexes; NULL: the
-- policy's row filters and masks), and an organization may cap how long one lasts.
ALTER TABLE exceptions ADD COLUMN rules TEXT;
ALTER TABLE orgs ADD COLUMN exception_max_days BIGINT;
