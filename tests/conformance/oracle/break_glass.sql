-- break_glass (dave, analyst, tenant 1, break_glass: true, workspace eu, data source sandbox).
-- Break-glass skips pii-hash-email and phone-mask (break_glass_allowed), so the fallbacks
-- apply: customers.email gets the email mask (50), employees.email baseline's constant
-- (10), hire_date and phone are raw. tenant-isolation and pii-masks are not bypassable.
-- eu-workspace does not list the sandbox data source.
CREATE VIEW tenants AS SELECT id, name, region FROM base.tenants;
CREATE VIEW customers AS
    SELECT id, tenant_id, name,
           oracle.email(email) AS email,
           oracle.partial(ssn, 0, 4, '*') AS ssn,
           phone,
           oracle.year_start(birth_date) AS birth_date,
           CAST(NULL AS integer) AS credit_score,
           created_at
    FROM base.customers WHERE tenant_id IN (1);
CREATE VIEW orders AS
    SELECT id, tenant_id, customer_id, amount, status, region, ordered_on,
           oracle.replace_non_null(notes, text '****') AS notes
    FROM base.orders WHERE tenant_id IN (1);
CREATE VIEW employees AS
    SELECT id, tenant_id, name,
           oracle.replace_non_null(email, text 'hidden@example.com') AS email,
           manager_id, department,
           CAST(NULL AS numeric(10,2)) AS salary,
           oracle.replace_non_null(bonus, 0) AS bonus,
           hire_date
    FROM base.employees WHERE tenant_id IN (1);
CREATE VIEW products AS SELECT id, sku, name, price FROM base.products;
CREATE VIEW tickets AS
    SELECT id, tenant_id, oracle.partial(assignee, 2, 0, '*') AS assignee, team, subject,
           oracle.replace_non_null(body, text '[redacted]') AS body, opened_on
    FROM base.tickets WHERE assignee = 'dave' OR team IN ('analyst');
CREATE VIEW "AuditLog" AS
    SELECT "EventId", oracle.partial("UserName", 1, 0, '*') AS "UserName", action, tenant_id, "At"
    FROM base."AuditLog" WHERE tenant_id IN (1);
