-- Relations that exist only in the `real` database and are NOT in the catalog. The
-- strict catalog must block every reference to them; they hold unfiltered data so that
-- an engine that lets them through leaks visibly.

CREATE TABLE "ORDERS" (id integer, tenant_id integer, amount numeric(10,2));
INSERT INTO "ORDERS" VALUES (9001, 1, 1.00), (9002, 2, 2.00), (9003, 3, 3.00);

CREATE VIEW orders_view AS SELECT * FROM orders;
CREATE VIEW customer_contacts AS SELECT id, tenant_id, email, ssn, password_hash FROM customers;

CREATE SCHEMA archive;
CREATE TABLE archive.orders AS SELECT * FROM orders;
CREATE TABLE archive.customers AS SELECT * FROM customers;

-- Application functions the catalog does not list (or lists as reading governed tables):
-- under the strict catalog every call is blocked; they read around the policies.
CREATE FUNCTION all_secrets() RETURNS SETOF secrets LANGUAGE sql AS $$ SELECT * FROM secrets $$;
CREATE FUNCTION lookup_ssn(customer integer) RETURNS text
    LANGUAGE sql SECURITY DEFINER AS $$ SELECT ssn FROM customers WHERE id = customer $$;
CREATE FUNCTION shout(t text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'value: %', t;
    RETURN true;
END $$;
