-- missing_attr (eve, analyst, region EU but no tenant_id, workspace sales).
-- tenant-isolation needs ctx.attr.tenant_id: customers, orders, employees and AuditLog
-- are blocked (missing_context), so they are absent here. Tables without such a filter
-- proceed: tenants, products, and tickets (eve or the analyst team).
CREATE VIEW tenants AS SELECT id, name, region FROM base.tenants;
CREATE VIEW products AS SELECT id, sku, name, price FROM base.products;
CREATE VIEW tickets AS
    SELECT id, tenant_id, oracle.partial(assignee, 2, 0, '*') AS assignee, team, subject,
           oracle.replace_non_null(body, text '[redacted]') AS body, opened_on
    FROM base.tickets WHERE assignee = 'eve' OR team IN ('analyst');
