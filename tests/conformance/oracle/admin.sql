-- admin (root, roles [admin]). Applicable: global-deny only: `secrets` is absent and
-- `customers` has no password_hash. hr-deny-salaries and baseline except admins; every
-- other policy targets other roles or the `eu` workspace.
CREATE VIEW tenants AS SELECT id, name, region FROM base.tenants;
CREATE VIEW customers AS
    SELECT id, tenant_id, name, email, ssn, phone, birth_date, credit_score, created_at
    FROM base.customers;
CREATE VIEW orders AS
    SELECT id, tenant_id, customer_id, amount, status, region, ordered_on, notes FROM base.orders;
CREATE VIEW employees AS
    SELECT id, tenant_id, name, email, manager_id, department, salary, bonus, hire_date
    FROM base.employees;
CREATE VIEW salaries AS SELECT employee_id, amount, paid_on FROM base.salaries;
CREATE VIEW products AS SELECT id, sku, name, price FROM base.products;
CREATE VIEW tickets AS
    SELECT id, tenant_id, assignee, team, subject, body, opened_on FROM base.tickets;
CREATE VIEW "AuditLog" AS
    SELECT "EventId", "UserName", action, tenant_id, "At" FROM base."AuditLog";
