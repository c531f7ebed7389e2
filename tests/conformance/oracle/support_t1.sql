-- support_t1 (carol, support, tenant 1, purpose fraud-investigation).
-- pii-hash-email is for analysts only, so customers.email gets the email mask and
-- employees.email baseline's constant; hire_date stays raw. phone-mask excepts the
-- fraud-investigation purpose: phone is raw. tie-a-subject and tie-b-subject mask
-- tickets.subject at the same priority: the lower id, tie-a-subject, wins.
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
    SELECT id, tenant_id, oracle.partial(assignee, 2, 0, '*') AS assignee, team,
           oracle.replace_non_null(subject, text 'subject-a') AS subject,
           oracle.replace_non_null(body, text '[redacted]') AS body, opened_on
    FROM base.tickets WHERE assignee = 'carol' OR team IN ('support');
CREATE VIEW "AuditLog" AS
    SELECT "EventId", oracle.partial("UserName", 1, 0, '*') AS "UserName", action, tenant_id, "At"
    FROM base."AuditLog" WHERE tenant_id IN (1);
