-- Application functions, in `public` of the real database and of every oracle database
-- (the catalog lists `normalize_phone` as reading no governed table).
CREATE FUNCTION normalize_phone(p text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT regexp_replace(p, '[^0-9+]', '', 'g') $$;

-- A listed function of any argument, whole rows included: `c.row_text` is `row_text(c)`
-- (functional notation), so it reads every column of the row it is given.
CREATE FUNCTION row_text(r anyelement) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT r::text $$;
