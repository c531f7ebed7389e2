-- ops (olga, roles ops and support, tenant 3, workspace ops; restriction cases only).
-- The support role brings what support_t1 has, for tenant 3: tenant-isolation,
-- tickets-owner (assignee olga, or the ops or support team), tie-a-subject, pii-masks
-- (customers.email's email mask is a regexp_replace: ops-statements' denied `regexp_*`
-- must not block the engine's own masks), phone-mask (no purpose here, so it applies)
-- and baseline. ops-statements and ops-second only restrict statements and limit rows.
CREATE VIEW tenants AS SELECT id, name, region FROM base.tenants;
CREATE VIEW customers AS
    SELECT id, tenant_id, name,
           oracle.email(email) AS email,
           oracle.partial(ssn, 0, 4, '*') AS ssn,
           oracle.partial(phone, 3, 2, '#') AS phone,
           oracle.year_start(birth_date) AS birth_date,
           CAST(NULL AS integer) AS credit_score,
           created_at
    FROM base.customers WHERE tenant_id IN (3);
CREATE VIEW orders AS
    SELECT id, tenant_id, customer_id, amount, status, region, ordered_on,
           oracle.replace_non_null(notes, text '****') AS notes
    FROM base.orders WHERE tenant_id IN (3);
CREATE VIEW employees AS
    SELECT id, tenant_id, name,
           oracle.replace_non_null(email, text 'hidden@example.com') AS email,
           manager_id, department,
           CAST(NULL AS numeric(10,2)) AS salary,
           oracle.replace_non_null(bonus, 0) AS bonus,
           hire_date
    FROM base.employees WHERE tenant_id IN (3);
CREATE VIEW products AS SELECT id, sku, name, price FROM base.products;
CREATE VIEW tickets AS
    SELECT id, tenant_id, oracle.partial(assignee, 2, 0, '*') AS assignee, team,
           oracle.replace_non_null(subject, text 'subject-a') AS subject,
           oracle.replace_non_null(body, text '[redacted]') AS body, opened_on
    FROM base.tickets WHERE assignee = 'olga' OR team IN ('ops', 'support');
CREATE VIEW "AuditLog" AS
    SELECT "EventId", oracle.partial("UserName", 1, 0, '*') AS "UserName", action, tenant_id, "At"
    FROM base."AuditLog" WHERE tenant_id IN (3);
