-- clerk (cora, clerk, tenant 2, workspace front-office; restriction cases only).
-- Applicable: global-deny, hr-deny-salaries, baseline (customers.ssn null,
-- employees.email constant) and clerk-guard (orders of tenant 2; its statement kinds,
-- SELECT and INSERT only, and its denied functions are checked by the cases' own
-- expectations).
CREATE VIEW tenants AS SELECT id, name, region FROM base.tenants;
CREATE VIEW customers AS
    SELECT id, tenant_id, name, email, CAST(NULL AS text) AS ssn, phone, birth_date,
           credit_score, created_at
    FROM base.customers;
CREATE VIEW orders AS
    SELECT id, tenant_id, customer_id, amount, status, region, ordered_on, notes
    FROM base.orders WHERE tenant_id IN (2);
CREATE VIEW employees AS
    SELECT id, tenant_id, name,
           oracle.replace_non_null(email, text 'hidden@example.com') AS email,
           manager_id, department, salary, bonus, hire_date
    FROM base.employees;
CREATE VIEW products AS SELECT id, sku, name, price FROM base.products;
CREATE VIEW tickets AS
    SELECT id, tenant_id, assignee, team, subject, body, opened_on FROM base.tickets;
CREATE VIEW "AuditLog" AS
    SELECT "EventId", "UserName", action, tenant_id, "At" FROM base."AuditLog";
