-- Mask functions of the oracle, written independently of the engine: PL/pgSQL loops and
-- other built-ins than the ones the engine's rewrite uses. Loaded into schema `oracle` of
-- every oracle database before its context's views. All are STRICT: NULL stays NULL.

CREATE SCHEMA oracle;

-- partial: first `f` characters, `pad` for each hidden one, last `l` characters; when the
-- value is not longer than f + l, every character becomes `pad`.
CREATE FUNCTION oracle.partial(v text, f integer, l integer, pad text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    n integer := char_length(v);
    out text := '';
    i integer;
BEGIN
    IF n <= f + l THEN
        FOR i IN 1..n LOOP
            out := out || pad;
        END LOOP;
        RETURN out;
    END IF;
    FOR i IN 1..n LOOP
        IF i <= f OR i > n - l THEN
            out := out || substr(v, i, 1);
        ELSE
            out := out || pad;
        END IF;
    END LOOP;
    RETURN out;
END
$$;

-- email: everything after the last `@`, behind `****@`; no `@` at all gives `****`.
CREATE FUNCTION oracle.email(v text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    parts text[] := string_to_array(v, '@');
BEGIN
    IF position('@' IN v) = 0 THEN
        RETURN '****';
    END IF;
    RETURN '****@' || parts[array_length(parts, 1)];
END
$$;

-- hash: lowercase hex SHA-256 of the text's UTF-8 bytes (textsend gives the bytes in the
-- database encoding, which initdb sets to UTF8).
CREATE FUNCTION oracle.sha256_hex(v text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT encode(sha256(textsend(v)), 'hex')
$$;

-- date_year: January 1 of the date's year, still a date.
CREATE FUNCTION oracle.year_start(v date) RETURNS date
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT make_date(CAST(date_part('year', v) AS integer), 1, 1)
$$;

-- redact (text) and constant: the replacement for every non-NULL value.
CREATE FUNCTION oracle.replace_non_null(v anyelement, replacement anyelement) RETURNS anyelement
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    RETURN replacement;
END
$$;

GRANT USAGE ON SCHEMA oracle TO verdict_app;
