//! Query restrictions and limits in every syntax: denied functions called through SQL's
//! special forms (SUBSTRING, POSITION, TRIM, EXTRACT, AT TIME ZONE, …) or qualified names,
//! upserts counted as updates (deny operations, statement kinds, required WHERE), and
//! `max_rows` in every LIMIT/FETCH form.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers fail loudly on broken fixtures

use serde_json::json;
use verdict_engine::{evaluate, Context, PolicySet, Verdict};

fn set(extra: serde_json::Value) -> PolicySet {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/policies.json")).unwrap();
    if let Some(list) = extra.as_array() {
        doc["policies"]
            .as_array_mut()
            .unwrap()
            .extend(list.iter().cloned());
    }
    PolicySet::from_json(&doc).unwrap()
}

fn eval(set: &PolicySet, sql: &str) -> Verdict {
    let ctx = Context::from_json_str(
        r#"{"user":"alice","roles":["analyst"],"attributes":{"tenant_id":1}}"#,
    )
    .unwrap();
    evaluate(set, sql, &ctx)
}

fn blocked(v: &Verdict, rule: &str) {
    assert_eq!(
        (v.verdict.as_str(), v.rule.as_str()),
        ("block", rule),
        "{}",
        v.to_json()
    );
}

fn sql(v: &Verdict) -> &str {
    v.rewritten_sql
        .as_deref()
        .unwrap_or_else(|| panic!("blocked: {}", v.to_json()))
}

fn deny(functions: &[&str]) -> PolicySet {
    set(json!([{"id": "fx", "rules": [
        {"type": "query_restriction", "denied_functions": functions}
    ]}]))
}

#[test]
fn special_forms_are_judged_by_the_functions_they_call() {
    // Each form, the name that denies it, and a name that does not.
    let cases: &[(&str, &str, &str)] = &[
        ("SELECT SUBSTRING(name FROM 1 FOR 3) FROM products", "substring", "substr"),
        ("SELECT SUBSTRING(name, 1, 3) FROM products", "substring", "substr"),
        ("SELECT SUBSTRING(name FROM 2) FROM products", "substring", "substr"),
        ("SELECT SUBSTRING(name FOR 2) FROM products", "substring", "substr"),
        ("SELECT SUBSTRING(name FROM 'a.') FROM products", "substring", "regexp_substr"),
        ("SELECT substr(name, 1, 3) FROM products", "substr", "substring"),
        ("SELECT SUBSTR(name, 2) FROM products", "substr", "substring"),
        ("SELECT POSITION('a' IN name) FROM products", "position", "strpos"),
        ("SELECT OVERLAY(name PLACING 'x' FROM 1 FOR 2) FROM products", "overlay", "substring"),
        ("SELECT OVERLAY(name PLACING 'x' FROM 2) FROM products", "overlay", "replace"),
        ("SELECT TRIM(name) FROM products", "btrim", "ltrim"),
        ("SELECT TRIM(name) FROM products", "trim", "rtrim"),
        ("SELECT TRIM(BOTH 'x' FROM name) FROM products", "btrim", "ltrim"),
        ("SELECT TRIM(LEADING 'x' FROM name) FROM products", "ltrim", "btrim"),
        ("SELECT TRIM(LEADING 'x' FROM name) FROM products", "trim", "rtrim"),
        ("SELECT TRIM(TRAILING 'x' FROM name) FROM products", "rtrim", "ltrim"),
        ("SELECT TRIM(name, 'x') FROM products", "btrim", "rtrim"),
        ("SELECT EXTRACT(YEAR FROM birth_date) FROM customers", "extract", "date_trunc"),
        ("SELECT EXTRACT(YEAR FROM birth_date) FROM customers", "date_part", "date_trunc"),
        ("SELECT EXTRACT('day' FROM birth_date) FROM customers", "extract", "to_char"),
        ("SELECT now() AT TIME ZONE 'UTC'", "timezone", "now_tz"),
        ("SELECT CEIL(amount) FROM orders", "ceil", "ceiling"),
        ("SELECT FLOOR(amount) FROM orders", "floor", "round"),
        ("SELECT name IS NFC NORMALIZED FROM products", "is_normalized", "normalize"),
        ("SELECT id FROM products WHERE name IS NOT NORMALIZED", "is_normalized", "normalize"),
        ("SELECT id FROM products WHERE name SIMILAR TO 'a%'", "similar_to_escape", "similar_escape"),
        ("SELECT id FROM products WHERE name NOT SIMILAR TO 'a#%' ESCAPE '#'", "similar_to_escape", "like_escape"),
        ("SELECT id FROM products WHERE name LIKE 'a#%' ESCAPE '#'", "like_escape", "similar_to_escape"),
        ("SELECT id FROM products WHERE name ILIKE 'a!%' ESCAPE '!'", "like_escape", "ilike"),
        ("SELECT (DATE '2024-01-01', DATE '2024-02-01') OVERLAPS (DATE '2024-01-15', DATE '2024-03-01')", "overlaps", "daterange"),
        ("SELECT x FROM UNNEST(ARRAY[1, 2]) AS x", "unnest", "array_agg"),
        ("SELECT * FROM XMLTABLE('/r' PASSING '<r/>' COLUMNS c int PATH 'c') AS x", "xmltable", "xmlparse"),
        ("SELECT * FROM XMLTABLE('/r' PASSING '<r/>' COLUMNS c int PATH 'c') AS x", "xpath", "xpath_exists"),
        ("SELECT x.v FROM XMLTABLE('/r' PASSING '<r/>' COLUMNS v text PATH 'v' DEFAULT upper('a')) AS x", "upper", "lower"),
        ("SELECT o.id, x.c FROM orders o, XMLTABLE('/r' PASSING ('<r>' || md5(o.region) || '</r>')::xml COLUMNS c text PATH '.') AS x", "md5", "sha256"),
    ];
    for (q, denied, other) in cases {
        let v = eval(&deny(&[denied]), q);
        blocked(&v, "denied_function");
        assert!(
            v.reason.contains(&format!("`{denied}`")),
            "{q}: {}",
            v.reason
        );
        assert!(
            eval(&deny(&[other]), q).rewritten_sql.is_some(),
            "{q} with `{other}` denied"
        );
    }
    // Patterns cover the forms too.
    for q in [
        "SELECT SUBSTRING(name FROM 1 FOR 3) FROM products",
        "SELECT substr(name, 1, 3) FROM products",
    ] {
        blocked(&eval(&deny(&["sub*"]), q), "denied_function");
    }
    blocked(
        &eval(
            &deny(&["pos*"]),
            "SELECT POSITION('a' IN name) FROM products",
        ),
        "denied_function",
    );
}

#[test]
fn special_forms_are_judged_in_every_clause_and_statement() {
    let s = deny(&["substring", "trim"]);
    for q in [
        "SELECT id FROM products WHERE SUBSTRING(name FROM 1 FOR 1) = 'a'",
        "SELECT id FROM products ORDER BY SUBSTRING(name FROM 2)",
        "SELECT count(*) FROM products GROUP BY SUBSTRING(name FROM 1 FOR 1)",
        "SELECT count(*) FROM products HAVING max(SUBSTRING(name FROM 1 FOR 1)) > 'a'",
        "SELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE SUBSTRING(name, 1, 1) = 'A')",
        "WITH s AS (SELECT SUBSTRING(name FROM 1 FOR 2) AS p FROM products) SELECT p FROM s",
        "SELECT o.id FROM orders o JOIN customers c ON SUBSTRING(c.name FROM 1 FOR 1) = 'A'",
        "SELECT CASE WHEN id > 1 THEN SUBSTRING(name FROM 1 FOR 1) END FROM products",
        "SELECT upper(SUBSTRING(name FROM 1 FOR 2)) FROM products",
        "SELECT p.id FROM products p, LATERAL (SELECT TRIM(p.name) AS t) x",
        "SELECT id FROM products UNION SELECT length(TRIM(name)) FROM products",
        "COPY (SELECT SUBSTRING(name FROM 1 FOR 2) FROM products) TO STDOUT",
        "INSERT INTO products (id, name) VALUES (9, SUBSTRING('Hooli Inc' FROM 1 FOR 5))",
        "INSERT INTO products (id, name) SELECT id + 100, SUBSTRING(name, 1, 3) FROM products",
        "INSERT INTO products (id, name) VALUES (9, 'x') RETURNING TRIM(name)",
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = TRIM(EXCLUDED.name)",
        "UPDATE products SET name = TRIM(name) WHERE id = 1",
        "UPDATE products SET name = 'x' WHERE TRIM(name) = 'a'",
        "DELETE FROM products WHERE SUBSTRING(name FROM 1 FOR 1) = 'a'",
        "DELETE FROM products WHERE id = 1 RETURNING TRIM(name)",
        "WITH u AS (UPDATE products SET name = TRIM(name) WHERE id = 1 RETURNING id) SELECT id FROM u",
    ] {
        blocked(&eval(&s, q), "denied_function");
    }
}

#[test]
fn qualified_calls_are_judged_by_their_last_name() {
    let s = deny(&["md5", "timezone"]);
    for q in [
        "SELECT md5(name) FROM products",
        "SELECT pg_catalog.md5(name) FROM products",
        "SELECT \"pg_catalog\".\"md5\"(name) FROM products",
        "SELECT mydb.pg_catalog.md5(name) FROM products",
        "SELECT public.md5(name) FROM products",
        "SELECT mydb.pg_catalog.timezone('UTC', now())",
        "SELECT m FROM mydb.pg_catalog.md5('a') AS m",
    ] {
        blocked(&eval(&s, q), "denied_function");
    }
    // The engine's own list, too, with or without restrictions.
    let plain = set(json!([]));
    for q in [
        "SELECT mydb.pg_catalog.pg_read_file('/etc/passwd')",
        "SELECT * FROM mydb.pg_catalog.pg_ls_dir('.') AS f",
        "SELECT myschema.pg_sleep(1)",
        "SELECT id FROM products WHERE mydb.pg_catalog.pg_sleep(0) IS NULL",
    ] {
        blocked(&eval(&plain, q), "denied_function");
    }
    // `current_setting` of a `verdict.` setting stays allowed however it is qualified.
    assert!(eval(
        &plain,
        "SELECT mydb.pg_catalog.current_setting('verdict.tenant')"
    )
    .rewritten_sql
    .is_some());
    blocked(
        &eval(
            &plain,
            "SELECT mydb.pg_catalog.current_setting('is_superuser')",
        ),
        "denied_function",
    );
}

#[test]
fn procedure_calls_are_judged_and_enforced() {
    let s = set(json!([{"id": "calls", "rules": [
        {"type": "query_restriction", "statements": ["select", "call"], "denied_functions": ["purge"]}
    ]}]));
    blocked(&eval(&s, "CALL purge(1)"), "denied_function");
    blocked(&eval(&s, "CALL public.purge(1)"), "denied_function");
    blocked(
        &eval(&s, "CALL other(md5('a'), pg_sleep(1))"),
        "denied_function",
    );
    blocked(
        &eval(&s, "CALL other((SELECT salary FROM salaries LIMIT 1))"),
        "deny",
    );
    // Tables read in the arguments are enforced like anywhere else.
    let v = eval(&s, "CALL other((SELECT count(*) FROM orders))");
    assert!(sql(&v).contains("WHERE tenant_id = 1"), "{}", sql(&v));
    assert!(eval(&s, "CALL other(1)").rewritten_sql.is_some());
}

#[test]
fn upserts_are_updates_for_deny_operations() {
    let s = set(json!([
        {"id": "append-only", "rules": [{"type": "deny", "table": "products", "operations": ["update", "delete"]}]},
        {"id": "fixed-region", "rules": [{"type": "deny", "table": "orders", "columns": ["region"], "operations": ["update"]}]}
    ]));
    for q in [
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y'",
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name WHERE products.id = 1",
        "INSERT INTO products AS p (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = p.name",
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT ON CONSTRAINT products_pkey DO UPDATE SET name = 'y'",
        "INSERT INTO products (id, name) SELECT id, name FROM products ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name",
        "WITH u AS (INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y' RETURNING id) SELECT id FROM u",
        "COPY (INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y' RETURNING id) TO STDOUT",
    ] {
        let v = eval(&s, q);
        blocked(&v, "deny");
        assert!(v.reason.contains("for UPDATE"), "{q}: {}", v.reason);
    }
    // DO NOTHING is an INSERT.
    for q in [
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO NOTHING",
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT DO NOTHING RETURNING id",
        "WITH i AS (INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT DO NOTHING RETURNING id) SELECT id FROM i",
    ] {
        assert!(eval(&s, q).rewritten_sql.is_some(), "{q}");
    }
    // A column denied for update: not set nor read in DO UPDATE; still insertable and
    // readable in RETURNING.
    for q in [
        "INSERT INTO orders (id, tenant_id, region) VALUES (1, 1, 'EU') ON CONFLICT (id) DO UPDATE SET region = EXCLUDED.region",
        "INSERT INTO orders (id, tenant_id, region) VALUES (1, 1, 'EU') ON CONFLICT (id) DO UPDATE SET (amount, region) = (1, 'US')",
        "INSERT INTO orders (id, tenant_id, region) VALUES (1, 1, 'EU') ON CONFLICT (id) DO UPDATE SET amount = length(orders.region)",
        "INSERT INTO orders (id, tenant_id, region) VALUES (1, 1, 'EU') ON CONFLICT (id) DO UPDATE SET amount = 1 WHERE orders.region = 'EU'",
    ] {
        blocked(&eval(&s, q), "deny");
    }
    for q in [
        "INSERT INTO orders (id, tenant_id, region) VALUES (1, 1, 'EU') ON CONFLICT (id) DO UPDATE SET amount = 1 RETURNING id, region",
        "INSERT INTO orders (id, tenant_id, region) VALUES (1, 1, 'EU') ON CONFLICT (id) DO UPDATE SET amount = EXCLUDED.amount",
        "UPDATE orders SET amount = 1 WHERE id = 1",
    ] {
        assert!(eval(&s, q).rewritten_sql.is_some(), "{q}");
    }
    blocked(
        &eval(&s, "UPDATE orders SET region = 'US' WHERE id = 1"),
        "deny",
    );
}

#[test]
fn upserts_are_updates_for_statement_kinds() {
    let s = set(json!([{"id": "append", "rules": [
        {"type": "query_restriction", "statements": ["select", "insert", "explain"]}
    ]}]));
    for q in [
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y'",
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y' WHERE products.name <> 'y'",
        "WITH u AS (INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y' RETURNING id) SELECT id FROM u",
        "WITH a AS (SELECT 1), u AS (INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y' RETURNING id) SELECT id FROM u",
        "COPY (INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y' RETURNING id) TO STDOUT",
        "EXPLAIN INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y'",
        "UPDATE products SET name = 'y' WHERE id = 1",
    ] {
        let v = eval(&s, q);
        blocked(&v, "query_restriction");
        assert!(v.reason.contains("`update`"), "{q}: {}", v.reason);
    }
    for q in [
        "INSERT INTO products (id, name) VALUES (1, 'x')",
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO NOTHING",
        "WITH i AS (INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT DO NOTHING RETURNING id) SELECT id FROM i",
        "EXPLAIN INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO NOTHING",
    ] {
        assert!(eval(&s, q).rewritten_sql.is_some(), "{q}");
    }
    // An allow-list without `insert` blocks any upsert.
    let no_insert = set(json!([{"id": "upd", "rules": [
        {"type": "query_restriction", "statements": ["select", "update"]}
    ]}]));
    blocked(
        &eval(
            &no_insert,
            "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y'",
        ),
        "query_restriction",
    );
}

#[test]
fn upserts_are_updates_for_required_where() {
    let s = set(json!([{"id": "guard", "rules": [
        {"type": "query_restriction", "require_where": ["update"]}
    ]}]));
    for q in [
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y'",
        "INSERT INTO products (id, name) SELECT id, name FROM products ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name",
        "WITH u AS (INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y' RETURNING id) SELECT id FROM u",
    ] {
        let v = eval(&s, q);
        blocked(&v, "query_restriction");
        assert!(v.reason.contains("ON CONFLICT DO UPDATE"), "{}", v.reason);
        assert!(v.hint.contains("DO UPDATE"), "{}", v.hint);
    }
    for q in [
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y' WHERE products.name <> 'y'",
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y' WHERE true",
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO NOTHING",
        "INSERT INTO products (id, name) VALUES (1, 'x')",
    ] {
        assert!(eval(&s, q).rewritten_sql.is_some(), "{q}");
    }
    // Only `delete` required: an upsert needs no WHERE.
    let delete_only = set(json!([{"id": "guard", "rules": [
        {"type": "query_restriction", "require_where": ["delete"]}
    ]}]));
    assert!(eval(
        &delete_only,
        "INSERT INTO products (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'y'"
    )
    .rewritten_sql
    .is_some());
}

fn capped() -> PolicySet {
    set(json!([{"id": "cap", "rules": [{"type": "query_limit", "max_rows": 3}]}]))
}

#[test]
fn max_rows_in_every_fetch_form() {
    let s = capped();
    let cases: &[(&str, &str)] = &[
        (
            "SELECT id FROM products ORDER BY id FETCH FIRST ROW ONLY",
            "SELECT id FROM products ORDER BY id FETCH FIRST ROWS ONLY",
        ),
        (
            "SELECT id FROM products ORDER BY id FETCH NEXT ROWS ONLY",
            "SELECT id FROM products ORDER BY id FETCH FIRST ROWS ONLY",
        ),
        (
            "SELECT id FROM products ORDER BY id FETCH FIRST 2 ROWS ONLY",
            "SELECT id FROM products ORDER BY id FETCH FIRST 2 ROWS ONLY",
        ),
        (
            "SELECT id FROM products ORDER BY id FETCH FIRST 10 ROWS ONLY",
            "SELECT id FROM products ORDER BY id FETCH FIRST 3 ROWS ONLY",
        ),
        (
            "SELECT id FROM products ORDER BY id OFFSET 2 ROWS FETCH FIRST ROW ONLY",
            "SELECT id FROM products ORDER BY id OFFSET 2 ROWS FETCH FIRST ROWS ONLY",
        ),
        (
            "SELECT id FROM products ORDER BY id OFFSET 1 ROW FETCH NEXT 10 ROWS ONLY",
            "SELECT id FROM products ORDER BY id OFFSET 1 ROW FETCH FIRST 3 ROWS ONLY",
        ),
        (
            "SELECT id FROM products ORDER BY id FETCH FIRST $1 ROWS ONLY",
            "SELECT id FROM products ORDER BY id LIMIT LEAST($1, 3)",
        ),
        (
            "SELECT id FROM products ORDER BY id OFFSET 1 ROWS FETCH FIRST $1 ROWS ONLY",
            "SELECT id FROM products ORDER BY id LIMIT LEAST($1, 3) OFFSET 1 ROWS",
        ),
        (
            "SELECT id FROM products ORDER BY name FETCH FIRST $1 ROWS WITH TIES",
            "SELECT * FROM (SELECT id FROM products ORDER BY name FETCH FIRST $1 ROWS WITH TIES) AS verdict_limited LIMIT 3",
        ),
        (
            "SELECT id FROM products ORDER BY id OFFSET 1",
            "SELECT id FROM products ORDER BY id LIMIT 3 OFFSET 1",
        ),
        (
            "SELECT id FROM products ORDER BY name FETCH FIRST 1 ROW WITH TIES",
            "SELECT * FROM (SELECT id FROM products ORDER BY name FETCH FIRST 1 ROWS WITH TIES) AS verdict_limited LIMIT 3",
        ),
        (
            "SELECT id FROM products ORDER BY name OFFSET 1 ROWS FETCH FIRST 5 ROWS WITH TIES",
            "SELECT * FROM (SELECT id FROM products ORDER BY name OFFSET 1 ROWS FETCH FIRST 5 ROWS WITH TIES) AS verdict_limited LIMIT 3",
        ),
        (
            "(SELECT id FROM products ORDER BY name FETCH FIRST 1 ROW WITH TIES)",
            "SELECT * FROM ((SELECT id FROM products ORDER BY name FETCH FIRST 1 ROWS WITH TIES)) AS verdict_limited LIMIT 3",
        ),
        (
            "WITH p AS (SELECT id, name FROM products) SELECT id FROM p ORDER BY name FETCH FIRST 1 ROW WITH TIES",
            "SELECT * FROM (WITH p AS (SELECT id, name FROM products) SELECT id FROM p ORDER BY name FETCH FIRST 1 ROWS WITH TIES) AS verdict_limited LIMIT 3",
        ),
        (
            "COPY (SELECT id FROM products ORDER BY name FETCH FIRST 1 ROW WITH TIES) TO STDOUT",
            "COPY (SELECT * FROM (SELECT id FROM products ORDER BY name FETCH FIRST 1 ROWS WITH TIES) AS verdict_limited LIMIT 3) TO STDOUT",
        ),
    ];
    for (q, want) in cases {
        assert_eq!(sql(&eval(&s, q)), *want, "{q}");
    }
    let v = eval(
        &s,
        "SELECT id FROM products ORDER BY name FETCH FIRST 1 ROW WITH TIES",
    );
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains("WITH TIES may return more rows")),
        "{:?}",
        v.notes
    );
    blocked(
        &eval(
            &s,
            "SELECT id FROM products FETCH FIRST 50 PERCENT ROWS ONLY",
        ),
        "unsupported_syntax",
    );
    blocked(
        &eval(
            &s,
            "SELECT id FROM products LIMIT 5 FETCH FIRST 2 ROWS ONLY",
        ),
        "unsupported_syntax",
    );
    // A cap of 0 lowers a count-less FETCH too.
    let zero = set(json!([{"id": "cap", "rules": [{"type": "query_limit", "max_rows": 0}]}]));
    assert_eq!(
        sql(&eval(&zero, "SELECT id FROM products FETCH FIRST ROW ONLY")),
        "SELECT id FROM products FETCH FIRST 0 ROWS ONLY"
    );
}

#[test]
fn max_rows_in_parentheses_set_operations_and_values() {
    let s = capped();
    let cases: &[(&str, &str)] = &[
        (
            "(SELECT id FROM products ORDER BY id LIMIT 5)",
            "(SELECT id FROM products ORDER BY id LIMIT 3)",
        ),
        (
            "((SELECT id FROM products ORDER BY id LIMIT 5))",
            "((SELECT id FROM products ORDER BY id LIMIT 3))",
        ),
        (
            "(SELECT id FROM products ORDER BY id LIMIT 2)",
            "(SELECT id FROM products ORDER BY id LIMIT 2)",
        ),
        (
            "(SELECT id FROM products ORDER BY id)",
            "(SELECT id FROM products ORDER BY id LIMIT 3)",
        ),
        (
            "(SELECT id FROM products LIMIT 5) ORDER BY id DESC",
            "(SELECT id FROM products LIMIT 3) ORDER BY id DESC",
        ),
        (
            "(SELECT id FROM products ORDER BY id) LIMIT 5",
            "(SELECT id FROM products ORDER BY id) LIMIT 3",
        ),
        (
            "(SELECT id FROM products ORDER BY id FETCH FIRST 5 ROWS ONLY)",
            "(SELECT id FROM products ORDER BY id FETCH FIRST 3 ROWS ONLY)",
        ),
        (
            "(SELECT id FROM products ORDER BY id OFFSET 1)",
            "(SELECT id FROM products ORDER BY id LIMIT 3 OFFSET 1)",
        ),
        (
            "WITH p AS (SELECT id FROM products) (SELECT id FROM p ORDER BY id LIMIT 5)",
            "WITH p AS (SELECT id FROM products) (SELECT id FROM p ORDER BY id LIMIT 3)",
        ),
        (
            "(SELECT id FROM products LIMIT 5) UNION (SELECT id FROM products LIMIT 1)",
            "(SELECT id FROM products LIMIT 5) UNION (SELECT id FROM products LIMIT 1) LIMIT 3",
        ),
        (
            "(SELECT id FROM products UNION SELECT id + 10 FROM products) ORDER BY 1",
            "(SELECT id FROM products UNION SELECT id + 10 FROM products LIMIT 3) ORDER BY 1",
        ),
        (
            "SELECT id FROM products EXCEPT SELECT 2 ORDER BY 1 LIMIT 10",
            "SELECT id FROM products EXCEPT SELECT 2 ORDER BY 1 LIMIT 3",
        ),
        (
            "VALUES (1), (2), (3), (4)",
            "VALUES (1), (2), (3), (4) LIMIT 3",
        ),
        (
            "(VALUES (1), (2), (3), (4))",
            "(VALUES (1), (2), (3), (4) LIMIT 3)",
        ),
        (
            "VALUES (1), (2) ORDER BY 1 LIMIT 5",
            "VALUES (1), (2) ORDER BY 1 LIMIT 3",
        ),
        (
            "SELECT id FROM products LIMIT ALL",
            "SELECT id FROM products LIMIT 3",
        ),
        (
            "SELECT id FROM products LIMIT NULL",
            "SELECT id FROM products LIMIT LEAST(NULL, 3)",
        ),
        (
            "SELECT id FROM products LIMIT 2 + 3",
            "SELECT id FROM products LIMIT LEAST(2 + 3, 3)",
        ),
        (
            "SELECT id FROM products LIMIT (SELECT 5)",
            "SELECT id FROM products LIMIT LEAST((SELECT 5), 3)",
        ),
        (
            "SELECT id FROM products LIMIT 3.5",
            "SELECT id FROM products LIMIT LEAST(3.5, 3)",
        ),
        (
            "COPY ((SELECT id FROM products ORDER BY id LIMIT 5)) TO STDOUT",
            "COPY ((SELECT id FROM products ORDER BY id LIMIT 3)) TO STDOUT",
        ),
    ];
    for (q, want) in cases {
        assert_eq!(sql(&eval(&s, q)), *want, "{q}");
    }
}

#[test]
fn max_rows_hoists_a_returning_writes_own_with() {
    let s = capped();
    let cases: &[(&str, &str)] = &[
        (
            "WITH d AS (DELETE FROM products WHERE id > 5 RETURNING id) UPDATE products SET name = 'x' WHERE id IN (SELECT id FROM d) RETURNING id",
            "WITH d AS (DELETE FROM products WHERE id > 5 RETURNING id), verdict_returning AS (UPDATE products SET name = 'x' WHERE id IN (SELECT id FROM d) RETURNING id) SELECT * FROM verdict_returning LIMIT 3",
        ),
        (
            "WITH a AS (SELECT 1 AS k), b AS (DELETE FROM products WHERE id = 9 RETURNING id) INSERT INTO products (id, name) VALUES (10, 'x') RETURNING id",
            "WITH a AS (SELECT 1 AS k), b AS (DELETE FROM products WHERE id = 9 RETURNING id), verdict_returning AS (INSERT INTO products (id, name) VALUES (10, 'x') RETURNING id) SELECT * FROM verdict_returning LIMIT 3",
        ),
        (
            "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) DELETE FROM products WHERE id IN (SELECT n FROM r) RETURNING id",
            "WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5), verdict_returning AS (DELETE FROM products WHERE id IN (SELECT n FROM r) RETURNING id) SELECT * FROM verdict_returning LIMIT 3",
        ),
        (
            "COPY (WITH d AS (DELETE FROM products WHERE id > 5 RETURNING id) DELETE FROM products WHERE id = 1 RETURNING id) TO STDOUT",
            "COPY (WITH d AS (DELETE FROM products WHERE id > 5 RETURNING id), verdict_returning AS (DELETE FROM products WHERE id = 1 RETURNING id) SELECT * FROM verdict_returning LIMIT 3) TO STDOUT",
        ),
    ];
    for (q, want) in cases {
        assert_eq!(sql(&eval(&s, q)), *want, "{q}");
    }
}

/// Policies that act only through a query restriction or a limit are among the matched
/// policies, and a denied function's block names its policy and rule (the audit trail and
/// the per-policy history read them).
#[test]
fn restrictions_and_limits_are_attributed() {
    let v = eval(&deny(&["md5"]), "SELECT md5(name) FROM products");
    blocked(&v, "denied_function");
    let by = v.blocked_by.as_ref().expect("blocked_by");
    assert_eq!((by.policy.as_str(), by.rule_index), ("fx", 0));
    assert!(
        v.matched_policies.iter().any(|m| m.id == "fx"),
        "{}",
        v.to_json()
    );
    let v = eval(
        &deny(&["substring"]),
        "SELECT SUBSTRING(name FROM 1 FOR 2) FROM products",
    );
    assert_eq!(v.blocked_by.as_ref().map(|b| b.policy.as_str()), Some("fx"));

    let v = eval(&capped(), "SELECT id FROM products");
    assert!(sql(&v).ends_with("LIMIT 3"), "{}", sql(&v));
    assert!(
        v.matched_policies.iter().any(|m| m.id == "cap"),
        "{}",
        v.to_json()
    );
    // A limit that changes nothing is not a match.
    let v = eval(&capped(), "SELECT id FROM products LIMIT 2");
    assert!(
        !v.matched_policies.iter().any(|m| m.id == "cap"),
        "{}",
        v.to_json()
    );
}
