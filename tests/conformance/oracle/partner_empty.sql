-- partner_empty (pem, roles [partner], workspace sales, tenants [] and teams [null]):
-- partner's policies, with context arrays that hold no value. `tenant_id = ANY` of no
-- tenant is FALSE and `lower(team) = ANY` of only NULL is NULL: no row of a filtered
-- table. The integer column is compared with an array that has no element type of its
-- own: PostgreSQL types it from the column, as it types a scalar literal.
CREATE VIEW tenants AS SELECT id, name, region FROM base.tenants;
CREATE VIEW customers AS
    SELECT id, tenant_id, name, email, CAST(NULL AS text) AS ssn, phone, birth_date,
           credit_score, created_at
    FROM base.customers WHERE false;
CREATE VIEW orders AS
    SELECT id, tenant_id, customer_id, amount, status, region, ordered_on, notes
    FROM base.orders WHERE false;
CREATE VIEW employees AS
    SELECT id, tenant_id, name,
           oracle.replace_non_null(email, text 'hidden@example.com') AS email,
           manager_id, department, salary, bonus, hire_date
    FROM base.employees WHERE false;
CREATE VIEW products AS SELECT id, sku, name, price FROM base.products;
CREATE VIEW tickets AS
    SELECT id, tenant_id, assignee, team, subject, body, opened_on FROM base.tickets
    WHERE false;
CREATE VIEW "AuditLog" AS
    SELECT "EventId", "UserName", action, tenant_id, "At" FROM base."AuditLog"
    WHERE false;
