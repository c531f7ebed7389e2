//! Writes, query restrictions and limits: proofs of constant writes, masks in SET, WHERE
//! and RETURNING, deny operations, statement kinds, WHERE requirements, denied functions,
//! row and join limits, and stateful limits reported as notes.
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

fn analyst() -> Context {
    Context::from_json_str(r#"{"user":"alice","roles":["analyst"],"attributes":{"tenant_id":1}}"#)
        .unwrap()
}

fn eval(set: &PolicySet, sql: &str) -> Verdict {
    evaluate(set, sql, &analyst())
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

#[test]
fn update_and_delete_reach_only_admitted_rows() {
    let s = set(json!([]));
    let v = eval(&s, "UPDATE orders SET amount = 0 WHERE id = 3");
    assert_eq!(v.verdict.as_str(), "row_filter");
    assert_eq!(
        sql(&v),
        "UPDATE orders SET amount = 0 WHERE (id = 3) AND (orders.tenant_id = 1)"
    );
    let v = eval(
        &s,
        "DELETE FROM orders o USING products p WHERE o.id = p.id",
    );
    assert_eq!(
        sql(&v),
        "DELETE FROM orders o USING products p WHERE (o.id = p.id) AND (o.tenant_id = 1)"
    );
    let v = eval(&s, "DELETE FROM orders");
    assert_eq!(sql(&v), "DELETE FROM orders WHERE (orders.tenant_id = 1)");
}

#[test]
fn constant_writes_are_proven_or_blocked() {
    let s = set(json!([]));
    // SET of a filter column: only constants that satisfy the filter.
    assert!(eval(&s, "UPDATE orders SET tenant_id = 1 WHERE id = 2")
        .rewritten_sql
        .is_some());
    assert!(eval(&s, "UPDATE orders SET tenant_id = '1'")
        .rewritten_sql
        .is_some());
    blocked(&eval(&s, "UPDATE orders SET tenant_id = 2"), "row_filter");
    blocked(
        &eval(&s, "UPDATE orders SET tenant_id = NULL"),
        "row_filter",
    );
    blocked(
        &eval(&s, "UPDATE orders SET tenant_id = tenant_id + 1"),
        "row_filter",
    );
    blocked(
        &eval(&s, "UPDATE orders SET (tenant_id, amount) = (1, 2)"),
        "row_filter",
    );
    // Columns no filter mentions are free.
    assert!(eval(
        &s,
        "UPDATE orders SET amount = amount * 2, region = lower(region)"
    )
    .rewritten_sql
    .is_some());
    // INSERT: every row must satisfy every filter.
    let v = eval(
        &s,
        "INSERT INTO orders (id, tenant_id, customer_id) VALUES (1, 1, 1), (2, 1, 2)",
    );
    assert_eq!(v.verdict.as_str(), "allow");
    assert!(
        v.explanation
            .iter()
            .any(|e| e.contains("inserted rows satisfy")),
        "{:?}",
        v.explanation
    );
    blocked(
        &eval(
            &s,
            "INSERT INTO orders (id, tenant_id) VALUES (1, 1), (2, 2)",
        ),
        "row_filter",
    );
    blocked(
        &eval(&s, "INSERT INTO orders (id, tenant_id) VALUES (1, NULL)"),
        "row_filter",
    );
    blocked(
        &eval(&s, "INSERT INTO orders (id) VALUES (1)"),
        "row_filter",
    );
    blocked(&eval(&s, "INSERT INTO orders DEFAULT VALUES"), "row_filter");
    blocked(
        &eval(
            &s,
            "INSERT INTO orders (id, tenant_id) SELECT id, tenant_id FROM orders",
        ),
        "row_filter",
    );
    blocked(
        &eval(
            &s,
            "INSERT INTO orders (id, tenant_id) VALUES (1, (SELECT 1))",
        ),
        "row_filter",
    );
    // A table without filters takes INSERT … SELECT, whose source is enforced as a read.
    let v = eval(
        &s,
        "INSERT INTO products (id, name) SELECT id, name FROM customers",
    );
    assert!(
        sql(&v).contains("FROM public.customers WHERE tenant_id = 1"),
        "{}",
        sql(&v)
    );
}

#[test]
fn on_conflict_updates_only_admitted_rows() {
    let s = set(json!([]));
    let v = eval(&s, "INSERT INTO orders (id, tenant_id) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET amount = EXCLUDED.amount");
    assert!(
        sql(&v).ends_with("DO UPDATE SET amount = EXCLUDED.amount WHERE (orders.tenant_id = 1)"),
        "{}",
        sql(&v)
    );
    assert!(eval(&s, "INSERT INTO orders (id, tenant_id) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id").rewritten_sql.is_some());
    blocked(&eval(&s, "INSERT INTO orders (id, tenant_id) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET tenant_id = 7"), "row_filter");
    assert!(eval(
        &s,
        "INSERT INTO orders (id, tenant_id) VALUES (1, 1) ON CONFLICT DO NOTHING"
    )
    .rewritten_sql
    .is_some());
}

#[test]
fn masks_hold_in_set_where_and_returning() {
    let s = set(json!([]));
    let v = eval(
        &s,
        "UPDATE customers SET name = email WHERE ssn = '***-**-1234' RETURNING id, ssn",
    );
    let out = sql(&v);
    assert!(
        out.contains("SET name = (regexp_replace(customers.email"),
        "{out}"
    );
    // The masked comparison is not known to be leakproof: it runs only on rows the row
    // filter admits.
    assert!(
        out.contains("WHERE ((customers.tenant_id = 1)) AND CASE WHEN (customers.tenant_id = 1) THEN ((CASE WHEN char_length(customers.ssn)"),
        "{out}"
    );
    assert!(out.contains("END) AS ssn"), "{out}");
    assert!(v.masked_columns.iter().any(|m| m.column == "email"));
    // RETURNING * lists the columns, masked; a denied column blocks.
    blocked(&eval(&s, "DELETE FROM customers RETURNING *"), "deny");
    let v = eval(&s, "DELETE FROM orders RETURNING *");
    assert!(sql(&v).ends_with("RETURNING orders.id, orders.tenant_id, orders.customer_id, orders.amount, orders.region"), "{}", sql(&v));
    // Writing a masked column is allowed; writing a denied one is not.
    assert!(
        eval(&s, "UPDATE customers SET email = 'x@y.z' WHERE id = 1")
            .rewritten_sql
            .is_some()
    );
    blocked(
        &eval(&s, "UPDATE customers SET password_hash = 'x' WHERE id = 1"),
        "deny",
    );
    blocked(
        &eval(
            &s,
            "UPDATE customers SET name = 'x' WHERE password_hash = 'y'",
        ),
        "deny",
    );
    // A subquery's unqualified column that might be the masked target column blocks.
    blocked(
        &eval(
            &s,
            "UPDATE customers SET name = 'x' WHERE id IN (SELECT ssn FROM (SELECT 1 AS id) s)",
        ),
        "column_mask",
    );
    // So does one that another relation of the FROM list also has (PostgreSQL: ambiguous).
    blocked(
        &eval(
            &s,
            "UPDATE customers AS c SET name = 'x' FROM customers AS d RETURNING ssn",
        ),
        "column_mask",
    );
    // A returned expression PostgreSQL names after a masked column keeps that name.
    let v = eval(
        &s,
        "UPDATE customers SET name = 'x' WHERE id = 1 \
         RETURNING CAST(ssn AS text), (ssn COLLATE \"C\")::varchar, CASE WHEN id = 1 THEN 'a' ELSE ssn END, ssn || ''",
    );
    let out = sql(&v);
    assert_eq!(out.matches(" AS ssn").count(), 3, "{out}");
    assert!(out.ends_with("END) || ''"), "{out}");
}

#[test]
fn deny_operations_narrow_by_kind() {
    let s = set(json!([
        {"id": "no-delete", "rules": [{"type": "deny", "table": "products", "operations": ["delete"]}]},
        {"id": "no-insert-name", "rules": [{"type": "deny", "table": "products", "columns": ["name"], "operations": ["insert"]}]}
    ]));
    assert!(eval(&s, "SELECT id, name FROM products")
        .rewritten_sql
        .is_some());
    assert!(eval(&s, "UPDATE products SET name = 'x'")
        .rewritten_sql
        .is_some());
    blocked(&eval(&s, "DELETE FROM products WHERE id = 1"), "deny");
    blocked(
        &eval(&s, "INSERT INTO products (id, name) VALUES (1, 'x')"),
        "deny",
    );
    assert!(eval(&s, "INSERT INTO products (id) VALUES (1)")
        .rewritten_sql
        .is_some());
}

#[test]
fn statement_kinds_and_explicit_allows() {
    let s = set(json!([]));
    for q in [
        "TRUNCATE orders",
        "COPY orders FROM STDIN",
        "MERGE INTO orders o USING products p ON o.id = p.id WHEN MATCHED THEN DELETE",
        "DROP TABLE orders",
        "CREATE TABLE x (a int)",
        "BEGIN",
        "COMMIT",
        "SET ROLE postgres",
        "SET search_path = x",
        "RESET ROLE",
        "PREPARE p AS SELECT 1",
        "EXECUTE p",
        "LISTEN x",
        "CALL f()",
        "EXPLAIN SELECT 1",
        "COPY orders TO '/tmp/x'",
    ] {
        let v = eval(&s, q);
        assert_eq!(v.verdict.as_str(), "block", "{q}: {}", v.to_json());
    }
    let v = eval(&s, "COPY orders TO STDOUT");
    assert!(
        sql(&v).starts_with("COPY (SELECT * FROM (SELECT id, tenant_id"),
        "{}",
        sql(&v)
    );
    blocked(&eval(&s, "COPY customers TO STDOUT"), "deny");
    let allow = set(
        json!([{"id": "ops", "rules": [{"type": "query_restriction", "statements": ["select", "insert", "update", "delete", "truncate", "transaction", "ddl"]}]}]),
    );
    assert_eq!(eval(&allow, "TRUNCATE orders").verdict.as_str(), "allow");
    assert_eq!(eval(&allow, "BEGIN").verdict.as_str(), "allow");
    blocked(&eval(&allow, "SET ROLE postgres"), "query_restriction");
    // A DDL statement's query is still enforced.
    let v = eval(&allow, "CREATE TABLE copy AS SELECT id FROM orders");
    assert!(sql(&v).contains("WHERE tenant_id = 1"), "{}", sql(&v));
    let read_only = set(
        json!([{"id": "ro", "rules": [{"type": "query_restriction", "statements": ["select"]}]}]),
    );
    blocked(
        &eval(&read_only, "UPDATE orders SET amount = 1 WHERE id = 1"),
        "query_restriction",
    );
    assert!(eval(&read_only, "SELECT id FROM orders")
        .rewritten_sql
        .is_some());
}

#[test]
fn where_requirements_functions_and_joins() {
    let s = set(json!([{"id": "guard", "rules": [
        {"type": "query_restriction", "require_where": true, "denied_functions": ["md5", "gen_*"]},
        {"type": "query_limit", "max_joins": 1}
    ]}]));
    blocked(&eval(&s, "DELETE FROM orders"), "query_restriction");
    blocked(
        &eval(&s, "UPDATE products SET name = 'x'"),
        "query_restriction",
    );
    assert!(eval(&s, "DELETE FROM orders WHERE id = 1")
        .rewritten_sql
        .is_some());
    blocked(
        &eval(&s, "SELECT md5(name) FROM products"),
        "denied_function",
    );
    blocked(&eval(&s, "SELECT gen_random_uuid()"), "denied_function");
    assert!(eval(
        &s,
        "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id"
    )
    .rewritten_sql
    .is_some());
    blocked(&eval(&s, "SELECT 1 FROM orders o JOIN customers c ON c.id = o.customer_id JOIN products p ON p.id = o.id"), "query_limit");
    blocked(
        &eval(&s, "SELECT 1 FROM orders, customers, products"),
        "query_limit",
    );
    // Built-in denials stay, with or without restrictions.
    blocked(&eval(&s, "SELECT pg_sleep(10)"), "denied_function");
}

#[test]
fn max_rows_adds_or_lowers_never_raises() {
    let s = set(json!([
        {"id": "cap", "rules": [{"type": "query_limit", "max_rows": 100}]},
        {"id": "cap2", "rules": [{"type": "query_limit", "max_rows": 500}]}
    ]));
    assert!(sql(&eval(&s, "SELECT id FROM products")).ends_with("FROM products LIMIT 100"));
    assert!(sql(&eval(&s, "SELECT id FROM products LIMIT 10")).ends_with("LIMIT 10"));
    assert!(
        sql(&eval(&s, "SELECT id FROM products LIMIT 1000 OFFSET 5"))
            .ends_with("LIMIT 100 OFFSET 5")
    );
    assert!(sql(&eval(&s, "SELECT id FROM products LIMIT $1")).ends_with("LIMIT LEAST($1, 100)"));
    assert!(sql(&eval(
        &s,
        "SELECT id FROM products UNION SELECT id FROM orders"
    ))
    .ends_with("LIMIT 100"));
    assert!(sql(&eval(
        &s,
        "SELECT id FROM products FETCH FIRST 1000 ROWS ONLY"
    ))
    .contains("FETCH FIRST 100 ROWS ONLY"));
    let v = eval(&s, "SELECT id FROM products");
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains("caps the rows returned at 100")),
        "{:?}",
        v.notes
    );
}

#[test]
fn max_rows_caps_the_rows_a_write_returns() {
    let s = set(json!([
        {"id": "cap", "rules": [{"type": "query_limit", "max_rows": 100}]}
    ]));
    // RETURNING takes no LIMIT: the write is read through a data-modifying CTE.
    let v = eval(&s, "DELETE FROM orders WHERE id > 0 RETURNING id, amount");
    assert_eq!(
        sql(&v),
        "WITH verdict_returning AS (DELETE FROM orders WHERE (id > 0) AND (orders.tenant_id = 1) \
         RETURNING id, amount) SELECT * FROM verdict_returning LIMIT 100"
    );
    assert!(
        v.notes
            .iter()
            .any(|n| n.contains("caps the rows returned at 100")
                && n.contains("every row it admits is still written")),
        "{:?}",
        v.notes
    );
    assert_eq!(
        sql(&eval(
            &s,
            "UPDATE products SET name = 'x' WHERE id = 1 RETURNING *"
        )),
        "WITH verdict_returning AS (UPDATE products SET name = 'x' WHERE id = 1 \
         RETURNING products.id, products.name) SELECT * FROM verdict_returning LIMIT 100"
    );
    assert!(sql(&eval(
        &s,
        "INSERT INTO products (id) VALUES (9) RETURNING id"
    ))
    .starts_with("WITH verdict_returning AS (INSERT INTO products"));
    // A write with its own WITH: its CTEs join the reader's, before `verdict_returning`
    // (PostgreSQL takes a data-modifying WITH only at the top level); one without
    // RETURNING returns no rows and is left as it is.
    assert_eq!(
        sql(&eval(
            &s,
            "WITH c AS (SELECT 1 AS k) DELETE FROM products USING c WHERE id = c.k RETURNING id"
        )),
        "WITH c AS (SELECT 1 AS k), verdict_returning AS (DELETE FROM products USING c \
         WHERE id = c.k RETURNING id) SELECT * FROM verdict_returning LIMIT 100"
    );
    assert_eq!(
        sql(&eval(
            &s,
            "WITH c AS (SELECT 1 AS k) DELETE FROM products USING c WHERE id = c.k"
        )),
        "WITH c AS (SELECT 1 AS k) DELETE FROM products USING c WHERE id = c.k"
    );
    assert_eq!(
        sql(&eval(&s, "UPDATE products SET name = 'x' WHERE id = 1")),
        "UPDATE products SET name = 'x' WHERE id = 1"
    );
    assert!(sql(&eval(
        &s,
        "COPY (DELETE FROM products WHERE id = 1 RETURNING id) TO STDOUT"
    ))
    .ends_with("SELECT * FROM verdict_returning LIMIT 100) TO STDOUT"));
}

#[test]
fn stateful_limits_are_notes_not_verdicts() {
    let s = set(
        json!([{"id": "quota", "rules": [{"type": "query_limit", "queries_per_hour": 100, "queries_per_day": 1000, "max_execution_ms": 5000}]}]),
    );
    let v = eval(&s, "SELECT id FROM products");
    assert_eq!(v.verdict.as_str(), "allow");
    assert_eq!(v.limits.len(), 3);
    assert_eq!(
        (v.limits[0].kind.as_str(), v.limits[0].value),
        ("queries_per_hour", 100)
    );
    assert!(
        v.notes.iter().any(|n| n.contains("queries_per_day = 1000")),
        "{:?}",
        v.notes
    );
}

#[test]
fn new_rule_shapes_are_validated() {
    let bad = json!({"policies": [{"id": "p", "rules": [
        {"type": "query_restriction", "statements": ["select", "yolo"], "require_where": ["merge"], "denied_functions": ["ok_name", "bad name"]},
        {"type": "query_limit", "max_rows": -1, "max_joins": "2"},
        {"type": "query_limit"},
        {"type": "query_restriction", "table": "orders"}
    ]}]});
    let err = PolicySet::from_json(&bad).unwrap_err();
    let fields: Vec<&str> = err.problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "rules[0].statements[1]",
            "rules[0].denied_functions[1]",
            "rules[0].require_where[0]",
            "rules[1].max_rows",
            "rules[1].max_joins",
            "rules[2]",
            "rules[3].table",
        ],
        "{}",
        err.to_json()
    );
}

#[test]
fn write_proofs_read_strings_as_the_column_type_stores_them() {
    let s = PolicySet::parse(
        r#"{"catalog": {"tables": [{"name": "tickets", "columns": [
              {"name": "id", "type": "integer"}, {"name": "state", "type": "char(10)"},
              {"name": "code", "type": "varchar(4)"}, {"name": "tag", "type": "citext"},
              {"name": "note", "type": "text"}]}]},
            "policies": [{"id": "p", "rules": [
              {"type": "row_filter", "table": "tickets", "predicate": "state <> 'void'"},
              {"type": "row_filter", "table": "tickets", "predicate": "code <> 'gone'"},
              {"type": "row_filter", "table": "tickets", "predicate": "tag <> 'secret'"},
              {"type": "row_filter", "table": "tickets", "predicate": "note <> 'x'"}]}]}"#,
    )
    .unwrap();
    let ctx = Context::from_json_str("{}").unwrap();
    let judge = |sql: &str| evaluate(&s, sql, &ctx);
    // char(n) ignores trailing spaces: 'void ' is stored and compared as 'void'.
    for sql in [
        "UPDATE tickets SET state = 'void ' WHERE id = 1",
        "UPDATE tickets SET state = 'void      ' WHERE id = 1",
        // varchar(4) cuts excess trailing spaces: 'gone  ' is stored as 'gone'.
        "UPDATE tickets SET code = 'gone  ' WHERE id = 1",
        // citext compares without case: 'SECRET' is 'secret'; the engine cannot decide it.
        "UPDATE tickets SET tag = 'SECRET' WHERE id = 1",
        "UPDATE tickets SET tag = 'other' WHERE id = 1",
    ] {
        blocked(&judge(sql), "row_filter");
    }
    for sql in [
        "UPDATE tickets SET state = 'open ' WHERE id = 1",
        "UPDATE tickets SET code = 'kept' WHERE id = 1",
        // text keeps trailing spaces: 'x ' is not 'x'.
        "UPDATE tickets SET note = 'x ' WHERE id = 1",
    ] {
        let v = judge(sql);
        assert!(!v.is_block(), "{sql}: {}", v.reason);
    }
}
