-- analyst_t2_eu (bob, analyst, tenant 2, workspace eu, data source warehouse, region EU).
-- Like analyst_t1 for tenant 2, and eu-workspace ANDs `region = 'EU'` onto orders.
CREATE VIEW tenants AS SELECT id, name, region FROM base.tenants;
CREATE VIEW customers AS
    SELECT id, tenant_id, name,
           oracle.sha256_hex(email) AS email,
           oracle.partial(ssn, 0, 4, '*') AS ssn,
           oracle.partial(phone, 3, 2, '#') AS phone,
           oracle.year_start(birth_date) AS birth_date,
           CAST(NULL AS integer) AS credit_score,
           created_at
    FROM base.customers WHERE tenant_id IN (2);
CREATE VIEW orders AS
    SELECT id, tenant_id, customer_id, amount, status, region, ordered_on,
           oracle.replace_non_null(notes, text '****') AS notes
    FROM base.orders WHERE tenant_id IN (2) AND region IN ('EU');
CREATE VIEW employees AS
    SELECT id, tenant_id, name,
           oracle.sha256_hex(email) AS email,
           manager_id, department,
           CAST(NULL AS numeric(10,2)) AS salary,
           oracle.replace_non_null(bonus, 0) AS bonus,
           oracle.sha256_hex(to_char(hire_date, 'YYYY-MM-DD')) AS hire_date
    FROM base.employees WHERE tenant_id IN (2);
CREATE VIEW products AS SELECT id, sku, name, price FROM base.products;
CREATE VIEW tickets AS
    SELECT id, tenant_id, oracle.partial(assignee, 2, 0, '*') AS assignee, team, subject,
           oracle.replace_non_null(body, text '[redacted]') AS body, opened_on
    FROM base.tickets WHERE assignee = 'bob' OR team IN ('analyst');
CREATE VIEW "AuditLog" AS
    SELECT "EventId", oracle.partial("UserName", 1, 0, '*') AS "UserName", action, tenant_id, "At"
    FROM base."AuditLog" WHERE tenant_id IN (2);
