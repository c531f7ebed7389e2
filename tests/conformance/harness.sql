-- The write suite's view of the data, loaded into the `real` database ({data} = public)
-- and into every oracle database ({data} = base) by the superuser. Both functions are
-- SECURITY DEFINER: the unprivileged writer role calls them, inside a case's transaction
-- (contents) or after its ROLLBACK (fingerprint), without any right on the tables.

CREATE SCHEMA harness;

-- Every row of the governed tables as text: what a write changed, compared between the
-- real database (public.T, written by the engine's rewritten SQL) and the oracle
-- (base.T, written through the context's views).
CREATE FUNCTION harness.contents() RETURNS TABLE (tbl text, row_text text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
    SELECT 'tenants', t::text FROM {data}.tenants t
    UNION ALL SELECT 'customers', t::text FROM {data}.customers t
    UNION ALL SELECT 'orders', t::text FROM {data}.orders t
    UNION ALL SELECT 'employees', t::text FROM {data}.employees t
    UNION ALL SELECT 'salaries', t::text FROM {data}.salaries t
    UNION ALL SELECT 'secrets', t::text FROM {data}.secrets t
    UNION ALL SELECT 'products', t::text FROM {data}.products t
    UNION ALL SELECT 'tickets', t::text FROM {data}.tickets t
    UNION ALL SELECT 'AuditLog', t::text FROM {data}."AuditLog" t
$$;

-- An md5 over every row of every ordinary table of the database (any schema but the
-- system's and this one), table by table: equal before the suite and after each case
-- proves that nothing a case did was committed.
CREATE FUNCTION harness.fingerprint() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    r record;
    h text;
    acc text := '';
BEGIN
    FOR r IN
        SELECT n.nspname, c.relname
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'harness')
          AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
        ORDER BY n.nspname, c.relname
    LOOP
        EXECUTE format(
            'SELECT count(*) || '':'' || md5(coalesce(string_agg(t::text, E''\n'' ORDER BY t::text), '''')) FROM %I.%I t',
            r.nspname, r.relname) INTO h;
        acc := acc || r.nspname || '.' || r.relname || '=' || h || E'\n';
    END LOOP;
    RETURN md5(acc);
END
$$;

REVOKE ALL ON FUNCTION harness.contents(), harness.fingerprint() FROM PUBLIC;
GRANT USAGE ON SCHEMA harness TO verdict_writer;
GRANT EXECUTE ON FUNCTION harness.contents(), harness.fingerprint() TO verdict_writer;
