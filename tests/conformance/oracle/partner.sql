-- partner (pat, roles [partner], workspace sales, tenants [2, 21..27] of which only 2
-- exists, teams [support]). Applicable: global-deny (no secrets, no
-- customers.password_hash), hr-deny-salaries (no salaries), baseline (ssn null,
-- employees.email constant) and partner-tenants, whose filters cost more than the
-- caller's own expressions (`= ANY` of eight values, a function call), so PostgreSQL
-- would run a caller's qual first on a scan that is not a barrier.
CREATE VIEW tenants AS SELECT id, name, region FROM base.tenants;
CREATE VIEW customers AS
    SELECT id, tenant_id, name, email, CAST(NULL AS text) AS ssn, phone, birth_date,
           credit_score, created_at
    FROM base.customers WHERE tenant_id IN (2, 21, 22, 23, 24, 25, 26, 27);
CREATE VIEW orders AS
    SELECT id, tenant_id, customer_id, amount, status, region, ordered_on, notes
    FROM base.orders WHERE tenant_id IN (2, 21, 22, 23, 24, 25, 26, 27);
CREATE VIEW employees AS
    SELECT id, tenant_id, name,
           oracle.replace_non_null(email, text 'hidden@example.com') AS email,
           manager_id, department, salary, bonus, hire_date
    FROM base.employees WHERE tenant_id IN (2, 21, 22, 23, 24, 25, 26, 27);
CREATE VIEW products AS SELECT id, sku, name, price FROM base.products;
CREATE VIEW tickets AS
    SELECT id, tenant_id, assignee, team, subject, body, opened_on FROM base.tickets
    WHERE lower(team) IN ('support');
CREATE VIEW "AuditLog" AS
    SELECT "EventId", "UserName", action, tenant_id, "At" FROM base."AuditLog"
    WHERE tenant_id IN (2, 21, 22, 23, 24, 25, 26, 27);
