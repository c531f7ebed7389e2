-- hostile_quotes (user `o'brien "q" \ --`, support, tenant 2, workspace eu, data source
-- lake, region `\' OR 1=1 --`). Support masks for tenant 2; phone-mask applies (no
-- purpose); orders need tenant 2 AND that region: none. tickets: ticket 7 is assigned to
-- exactly that user name; the support team adds 1 and 4. tenant_id is the string "2":
-- PostgreSQL reads the literal '2' as the integer 2. tickets.subject: tie-a-subject.
CREATE VIEW tenants AS SELECT id, name, region FROM base.tenants;
CREATE VIEW customers AS
    SELECT id, tenant_id, name,
           oracle.email(email) AS email,
           oracle.partial(ssn, 0, 4, '*') AS ssn,
           oracle.partial(phone, 3, 2, '#') AS phone,
           oracle.year_start(birth_date) AS birth_date,
           CAST(NULL AS integer) AS credit_score,
           created_at
    FROM base.customers WHERE tenant_id IN (2);
CREATE VIEW orders AS
    SELECT id, tenant_id, customer_id, amount, status, region, ordered_on,
           oracle.replace_non_null(notes, text '****') AS notes
    FROM base.orders WHERE tenant_id IN (2) AND region IN ($r$\' OR 1=1 --$r$);
CREATE VIEW employees AS
    SELECT id, tenant_id, name,
           oracle.replace_non_null(email, text 'hidden@example.com') AS email,
           manager_id, department,
           CAST(NULL AS numeric(10,2)) AS salary,
           oracle.replace_non_null(bonus, 0) AS bonus,
           hire_date
    FROM base.employees WHERE tenant_id IN (2);
CREATE VIEW products AS SELECT id, sku, name, price FROM base.products;
CREATE VIEW tickets AS
    SELECT id, tenant_id, oracle.partial(assignee, 2, 0, '*') AS assignee, team,
           oracle.replace_non_null(subject, text 'subject-a') AS subject,
           oracle.replace_non_null(body, text '[redacted]') AS body, opened_on
    FROM base.tickets WHERE assignee = $u$o'brien "q" \ --$u$ OR team IN ('support');
CREATE VIEW "AuditLog" AS
    SELECT "EventId", oracle.partial("UserName", 1, 0, '*') AS "UserName", action, tenant_id, "At"
    FROM base."AuditLog" WHERE tenant_id IN (2);
