-- hostile_sql (user and roles and attributes full of SQL). tenant_id is the string
-- '1 OR 1=1': compared with the integer tenant_id column it admits no row or PostgreSQL
-- rejects it, so the tenant-filtered tables are absent (the manifest says `reject`).
-- tickets: the assignee literally named "mallory' OR '1'='1" (ticket 8) and the analyst
-- team; the second role matches no team.
CREATE VIEW tenants AS SELECT id, name, region FROM base.tenants;
CREATE VIEW products AS SELECT id, sku, name, price FROM base.products;
CREATE VIEW tickets AS
    SELECT id, tenant_id, oracle.partial(assignee, 2, 0, '*') AS assignee, team, subject,
           oracle.replace_non_null(body, text '[redacted]') AS body, opened_on
    FROM base.tickets
    WHERE assignee = $q$mallory' OR '1'='1$q$ OR team IN ('analyst', $q$support' OR 'x'='x$q$);
