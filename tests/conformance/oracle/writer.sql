-- writer (wendy, writer, tenant 2, workspace back-office; write cases only). Applicable:
-- global-deny (no secrets, no customers.password_hash), hr-deny-salaries (no salaries),
-- baseline (customers.ssn null, employees.email constant) and writer-rules: its filters
-- (orders of tenant 2 with an open status, products priced 1..100, tickets of tenant 2
-- or the support team, customers of tenant 2, employees of tenant 2 with a bonus below
-- 1000 or none), its masks (tickets.team and products.price are filter columns: the
-- filters see raw values, the statement sees masked ones) and its deny rules narrowed by
-- operation, which this oracle models with privileges of the writer role (the harness
-- grants every view to it first): no INSERT or DELETE on tenants, no UPDATE of
-- products.sku, no UPDATE or DELETE on "AuditLog", no SELECT of employees.salary.
-- Views with a WHERE get WITH CHECK OPTION from the harness.
CREATE VIEW tenants AS SELECT id, name, region FROM base.tenants;
CREATE VIEW customers AS
    SELECT id, tenant_id, name, oracle.email(email) AS email, CAST(NULL AS text) AS ssn,
           phone, birth_date, credit_score, created_at
    FROM base.customers WHERE tenant_id IN (2);
CREATE VIEW orders AS
    SELECT id, tenant_id, customer_id, amount, status, region, ordered_on,
           oracle.replace_non_null(notes, text '****') AS notes
    FROM base.orders WHERE tenant_id IN (2) AND status IN ('paid', 'pending', 'shipped');
CREATE VIEW employees AS
    SELECT id, tenant_id, name,
           oracle.replace_non_null(email, text 'hidden@example.com') AS email,
           manager_id, department, salary, bonus, hire_date
    FROM base.employees WHERE tenant_id IN (2) AND (bonus IS NULL OR bonus < 1000);
CREATE VIEW products AS
    SELECT id, sku, name, CAST(NULL AS numeric(8,2)) AS price
    FROM base.products WHERE price BETWEEN 1 AND 100;
CREATE VIEW tickets AS
    SELECT id, tenant_id, assignee, oracle.partial(team, 1, 0, '*') AS team, subject, body,
           opened_on
    FROM base.tickets WHERE tenant_id IN (2) OR team IN ('support');
CREATE VIEW "AuditLog" AS
    SELECT "EventId", "UserName", action, tenant_id, "At" FROM base."AuditLog";

REVOKE INSERT, DELETE ON tenants FROM verdict_writer;
REVOKE UPDATE ON products FROM verdict_writer;
GRANT UPDATE (id, name, price) ON products TO verdict_writer;
REVOKE UPDATE, DELETE ON "AuditLog" FROM verdict_writer;
REVOKE SELECT ON employees FROM verdict_writer;
GRANT SELECT (id, tenant_id, name, email, manager_id, department, bonus, hire_date)
    ON employees TO verdict_writer;
