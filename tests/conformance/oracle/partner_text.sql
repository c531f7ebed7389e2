-- partner_text (pet, roles [partner], workspace sales, tenants ["2", "21"] as strings,
-- teams ["support", null]): partner's policies with the tenant ids given as JSON strings.
-- They are compared with an integer column, as a scalar string beside an integer column
-- is: the tenants are 2 and 21 (only 2 exists); the NULL team matches nothing.
CREATE VIEW tenants AS SELECT id, name, region FROM base.tenants;
CREATE VIEW customers AS
    SELECT id, tenant_id, name, email, CAST(NULL AS text) AS ssn, phone, birth_date,
           credit_score, created_at
    FROM base.customers WHERE tenant_id IN (2, 21);
CREATE VIEW orders AS
    SELECT id, tenant_id, customer_id, amount, status, region, ordered_on, notes
    FROM base.orders WHERE tenant_id IN (2, 21);
CREATE VIEW employees AS
    SELECT id, tenant_id, name,
           oracle.replace_non_null(email, text 'hidden@example.com') AS email,
           manager_id, department, salary, bonus, hire_date
    FROM base.employees WHERE tenant_id IN (2, 21);
CREATE VIEW products AS SELECT id, sku, name, price FROM base.products;
CREATE VIEW tickets AS
    SELECT id, tenant_id, assignee, team, subject, body, opened_on FROM base.tickets
    WHERE lower(team) IN ('support');
CREATE VIEW "AuditLog" AS
    SELECT "EventId", "UserName", action, tenant_id, "At" FROM base."AuditLog"
    WHERE tenant_id IN (2, 21);
