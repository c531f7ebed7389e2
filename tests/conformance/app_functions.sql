-- Application functions, in `public` of the real database and of every oracle database
-- (the catalog lists `normalize_phone` as reading no governed table).
CREATE FUNCTION normalize_phone(p text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT regexp_replace(p, '[^0-9+]', '', 'g') $$;
