-- guest (no roles, workspace eu, data source lake, region APAC). Applicable: global-deny,
-- hr-deny-salaries, baseline (ssn null, employees.email constant) and eu-workspace
-- (orders of region APAC, every tenant), tickets-owner (by user). No tenant filter,
-- no other mask.
CREATE VIEW tenants AS SELECT id, name, region FROM base.tenants;
CREATE VIEW customers AS
    SELECT id, tenant_id, name, email, CAST(NULL AS text) AS ssn, phone, birth_date,
           credit_score, created_at
    FROM base.customers;
CREATE VIEW orders AS
    SELECT id, tenant_id, customer_id, amount, status, region, ordered_on, notes
    FROM base.orders WHERE region IN ('APAC');
CREATE VIEW employees AS
    SELECT id, tenant_id, name,
           oracle.replace_non_null(email, text 'hidden@example.com') AS email,
           manager_id, department, salary, bonus, hire_date
    FROM base.employees;
CREATE VIEW products AS SELECT id, sku, name, price FROM base.products;
-- tickets-owner applies to the guest user: its roles are empty, so only the tickets
-- assigned to `guest` remain.
CREATE VIEW tickets AS
    SELECT id, tenant_id, assignee, team, subject, body, opened_on FROM base.tickets
    WHERE assignee = 'guest';
CREATE VIEW "AuditLog" AS
    SELECT "EventId", "UserName", action, tenant_id, "At" FROM base."AuditLog";
