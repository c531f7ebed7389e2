-- Makes a context's oracle writable, after oracle/<context>.sql (and after harness.sql):
--
-- 1. Every view in `public` gets WITH CHECK OPTION: PostgreSQL's auto-updatable views
--    then reach only the rows the view's WHERE admits, and refuse (SQLSTATE 44000) a row
--    they would not show. Masked columns are computed columns: readable (WHERE, SET
--    expressions and RETURNING see the masked values), not writable.
-- 2. Schema `wm` ("write masked") holds, for every view, `wm.T AS SELECT * FROM public.T`
--    with INSTEAD OF INSERT and UPDATE triggers, for cases that write a masked column
--    (`oracle: triggers`; the harness puts `wm` first in the search_path). The trigger
--    writes the base row: INSERT takes the given values (cast to the base column's type:
--    a hashed date is text in the view); UPDATE takes a column's new
--    value where it differs from the old (masked) one and keeps the raw value where the
--    statement left it unchanged (so assigning a masked column its own masked value is
--    indistinguishable from not assigning it: no case does that). Then the row must be
--    visible through public.T, or the trigger raises 44000 like a check option; the row
--    it returns (for RETURNING) is the one public.T shows, with masks. DELETE passes
--    through to public.T. The writer role gets on wm.T exactly its privileges on public.T.

DO $$
DECLARE
    v record;
BEGIN
    FOR v IN
        SELECT cl.relname FROM pg_class cl JOIN pg_namespace ns ON ns.oid = cl.relnamespace
        WHERE ns.nspname = 'public' AND cl.relkind = 'v' ORDER BY cl.relname
    LOOP
        EXECUTE format('ALTER VIEW public.%I SET (check_option = cascaded)', v.relname);
    END LOOP;
END
$$;

CREATE SCHEMA wm;
GRANT USAGE ON SCHEMA wm TO verdict_writer;

CREATE FUNCTION harness.instead_of() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    cols text;
    vals text;
    sets text;
    pk text;
    n bigint;
BEGIN
    -- A masked column may have another type than the base column (a hashed date is
    -- text): new values are cast to the base column's type.
    SELECT string_agg(quote_ident(v.attname), ', ' ORDER BY v.attnum),
           string_agg(format('CAST((n.r).%I AS %s)', v.attname, format_type(b.atttypid, b.atttypmod)), ', ' ORDER BY v.attnum),
           string_agg(format('%1$I = CASE WHEN (n.r).%1$I IS DISTINCT FROM (o.r).%1$I THEN CAST((n.r).%1$I AS %2$s) ELSE b.%1$I END',
                             v.attname, format_type(b.atttypid, b.atttypmod)), ', ' ORDER BY v.attnum)
      INTO cols, vals, sets
      FROM pg_attribute v
      JOIN pg_attribute b ON b.attrelid = format('base.%I', TG_TABLE_NAME)::regclass
                         AND b.attname = v.attname AND NOT b.attisdropped
     WHERE v.attrelid = TG_RELID AND v.attnum > 0 AND NOT v.attisdropped;
    SELECT a.attname INTO pk
      FROM pg_index i
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
     WHERE i.indrelid = format('base.%I', TG_TABLE_NAME)::regclass AND i.indisprimary;
    IF pk IS NULL THEN
        RAISE EXCEPTION 'harness: base.% has no primary key', TG_TABLE_NAME;
    END IF;
    IF TG_OP = 'INSERT' THEN
        EXECUTE format('INSERT INTO base.%I (%s) SELECT %s FROM (SELECT $1 AS r) n',
                       TG_TABLE_NAME, cols, vals)
          USING NEW;
    ELSE
        EXECUTE format('UPDATE base.%I b SET %s FROM (SELECT $1 AS r) n, (SELECT $2 AS r) o WHERE b.%I = (o.r).%I',
                       TG_TABLE_NAME, sets, pk, pk)
          USING NEW, OLD;
    END IF;
    EXECUTE format('SELECT v.* FROM public.%I v WHERE v.%I = ($1).%I', TG_TABLE_NAME, pk, pk)
      INTO NEW USING NEW;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RAISE EXCEPTION 'new row violates check option for view "%"', TG_TABLE_NAME
          USING ERRCODE = 'with_check_option_violation';
    END IF;
    RETURN NEW;
END
$$;

DO $$
DECLARE
    v record;
    p text;
    col record;
BEGIN
    FOR v IN
        SELECT cl.relname FROM pg_class cl JOIN pg_namespace ns ON ns.oid = cl.relnamespace
        WHERE ns.nspname = 'public' AND cl.relkind = 'v' ORDER BY cl.relname
    LOOP
        EXECUTE format('CREATE VIEW wm.%1$I AS SELECT * FROM public.%1$I', v.relname);
        IF EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indrelid = format('base.%I', v.relname)::regclass AND i.indisprimary) THEN
            EXECUTE format('CREATE TRIGGER write_base INSTEAD OF INSERT OR UPDATE ON wm.%I
                            FOR EACH ROW EXECUTE FUNCTION harness.instead_of()', v.relname);
        END IF;
        FOREACH p IN ARRAY ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'] LOOP
            IF has_table_privilege('verdict_writer', format('public.%I', v.relname), p) THEN
                EXECUTE format('GRANT %s ON wm.%I TO verdict_writer', p, v.relname);
            ELSIF p <> 'DELETE' THEN
                FOR col IN
                    SELECT attname FROM pg_attribute
                    WHERE attrelid = format('public.%I', v.relname)::regclass
                      AND attnum > 0 AND NOT attisdropped
                      AND has_column_privilege('verdict_writer', attrelid, attnum, p)
                LOOP
                    EXECUTE format('GRANT %s (%I) ON wm.%I TO verdict_writer', p, col.attname, v.relname);
                END LOOP;
            END IF;
        END LOOP;
    END LOOP;
END
$$;
