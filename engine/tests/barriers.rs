//! Scans as barriers: which caller expressions leave a scan as it is, which are guarded
//! by the row filters, and which fence every filtered scan of the statement (engine
//! README, "Scans as barriers"). The conformance suite's `side_channels` cases run the
//! same shapes on PostgreSQL under forced plans.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers fail loudly on broken fixtures

use verdict_engine::{evaluate, Context, PolicySet, Verdict};

fn set() -> PolicySet {
    PolicySet::parse(include_str!("fixtures/policies.json")).unwrap()
}

fn analyst() -> Context {
    Context::from_json_str(r#"{"user":"alice","roles":["analyst"],"attributes":{"tenant_id":1}}"#)
        .unwrap()
}

fn rewritten(sql: &str) -> String {
    let v: Verdict = evaluate(&set(), sql, &analyst());
    v.rewritten_sql
        .unwrap_or_else(|| panic!("{sql} is blocked: {}", v.reason))
}

/// How a statement's scans end up.
#[derive(Debug, PartialEq)]
enum Shape {
    /// No fence, no guard: every expression is leakproof.
    Plain,
    /// Guarded by the row filters (`CASE WHEN (…) THEN`), scans unfenced.
    Guarded,
    /// Every filtered scan ends in `OFFSET 0`.
    Fenced,
}

fn shape(sql: &str) -> Shape {
    let out = rewritten(sql);
    let fenced = out.contains("OFFSET 0");
    let guarded = out.contains("CASE WHEN (orders.tenant_id = 1)")
        || out.contains("CASE WHEN (o.tenant_id = 1)")
        || out.contains("CASE WHEN (c.tenant_id = 1)");
    match (fenced, guarded) {
        (false, false) => Shape::Plain,
        (false, true) => Shape::Guarded,
        (true, _) => Shape::Fenced,
    }
}

#[test]
fn leakproof_predicates_keep_the_scans_as_they_are() {
    for sql in [
        "SELECT id FROM orders WHERE id = 7",
        "SELECT id FROM orders WHERE id IN (1, 2, 3) AND tenant_id <> 4",
        "SELECT id FROM orders WHERE id BETWEEN 1 AND 9 OR region = 'EU'",
        "SELECT id FROM orders WHERE region IS NULL OR NOT (region <> 'x')",
        "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.name = 'Ada'",
        "SELECT o.id FROM orders o WHERE o.customer_id IN (SELECT id FROM customers)",
        "SELECT o.id FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id)",
        "SELECT c.birth_date FROM customers c WHERE c.birth_date IS NOT NULL",
        "SELECT id, amount * 2, lower(region) FROM orders ORDER BY amount / 3",
        "SELECT region, sum(amount) FROM orders GROUP BY region HAVING sum(amount) / 2 > 10",
        "SELECT id FROM orders WHERE id = (SELECT max(customer_id) FROM orders)",
        "SELECT id FROM orders WHERE id = (SELECT customer_id FROM orders WHERE id = 1)",
    ] {
        assert_eq!(shape(sql), Shape::Plain, "{sql}: {}", rewritten(sql));
    }
}

#[test]
fn leaky_conjuncts_over_the_query_s_own_scans_are_guarded() {
    for sql in [
        "SELECT id FROM orders WHERE id = 7 AND region::int = 0",
        "SELECT id FROM orders WHERE amount > 100",
        "SELECT id FROM orders WHERE lower(region) = 'eu'",
        "SELECT id FROM orders WHERE 1 / (tenant_id - 3) = 1",
        "SELECT id FROM orders o WHERE CASE WHEN o.region = 'x' THEN 1 / (o.id - o.id) ELSE 1 END = 1",
        "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id AND c.name::int = 0",
        "SELECT o.id FROM orders o LEFT JOIN customers c ON c.id = o.customer_id AND c.name LIKE 'A%'",
        "SELECT c.id FROM customers c WHERE c.ssn LIKE '%1'",
    ] {
        assert_eq!(shape(sql), Shape::Guarded, "{sql}: {}", rewritten(sql));
    }
    // The guard is the filter over the query's name for the scan, and the leakproof
    // conjunct stays outside it (an index condition).
    assert!(
        rewritten("SELECT id FROM orders WHERE id = 7 AND region::int = 0").ends_with(
            "WHERE (id = 7) AND (CASE WHEN (orders.tenant_id = 1) THEN (region::INT = 0) END)"
        )
    );
}

#[test]
fn leaky_expressions_that_cannot_be_guarded_fence_every_filtered_scan() {
    for sql in [
        // The output of a derived table or CTE is substituted into the quals above it.
        "SELECT id FROM (SELECT id, region::int AS r FROM orders) s WHERE s.r IS NULL",
        "SELECT id FROM (SELECT id, region FROM orders) s WHERE s.region::int = 0",
        "WITH s AS (SELECT id, region FROM orders) SELECT id FROM s WHERE region::int = 0",
        // HAVING without an aggregate is moved into WHERE.
        "SELECT region FROM orders GROUP BY region HAVING region::int = 0",
        // An outer reference runs per row of the outer scan.
        "SELECT c.id FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND 1 / (c.tenant_id - 2) = 1)",
        // A relation an outer join null-extends fails any guard.
        "SELECT c.id FROM customers c LEFT JOIN orders o ON o.customer_id = c.id WHERE coalesce(o.region, 'x') = 'x'",
        "SELECT c.id FROM orders o RIGHT JOIN customers c ON o.customer_id = c.id WHERE o.region::int = 0",
        // A FULL JOIN needs a condition PostgreSQL can merge or hash.
        "SELECT c.id FROM customers c FULL JOIN orders o ON o.customer_id = c.id AND o.region::int = 0",
        // Functions in FROM, with a column of a scan before them.
        "SELECT o.id FROM orders o, generate_series(1, 1 / (o.tenant_id - 2)) g",
        // A subquery inside the leaky conjunct.
        "SELECT id FROM orders WHERE region::int = (SELECT 1)",
    ] {
        assert_eq!(shape(sql), Shape::Fenced, "{sql}: {}", rewritten(sql));
    }
    // Every filtered scan of the statement, mask-only scans aside.
    let out = rewritten(
        "SELECT o.id FROM orders o JOIN (SELECT id, name FROM customers) c ON c.id = o.customer_id WHERE c.name::int = 0",
    );
    assert_eq!(out.matches("OFFSET 0").count(), 2, "{out}");
}

#[test]
fn a_view_s_query_is_always_fenced() {
    let v = evaluate(
        &set(),
        "CREATE VIEW mine AS SELECT id FROM orders WHERE id = 7",
        &analyst(),
    );
    // DDL is blocked unless a policy allows it; with the kind allowed the query is fenced.
    assert_eq!(v.verdict.as_str(), "block");
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/policies.json")).unwrap();
    doc["policies"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "id": "ddl", "rules": [{"type": "query_restriction", "statements": ["select", "ddl"]}]
        }));
    let set = PolicySet::from_json(&doc).unwrap();
    let v = evaluate(
        &set,
        "CREATE VIEW mine AS SELECT id FROM orders WHERE id = 7",
        &analyst(),
    );
    let out = v.rewritten_sql.unwrap_or_else(|| panic!("{}", v.reason));
    assert!(out.contains("WHERE tenant_id = 1 OFFSET 0)"), "{out}");
}

#[test]
fn leaky_write_conditions_run_only_on_admitted_rows() {
    assert_eq!(
        rewritten("UPDATE orders SET amount = 0 WHERE id = 3 AND 1 / (tenant_id - 2) = 1"),
        "UPDATE orders SET amount = 0 WHERE (((id = 3)) AND (orders.tenant_id = 1)) AND CASE WHEN (orders.tenant_id = 1) THEN (1 / (tenant_id - 2) = 1) END"
    );
    assert!(rewritten("DELETE FROM orders WHERE region::int = 0")
        .ends_with("AND CASE WHEN (orders.tenant_id = 1) THEN (region::INT = 0) END"));
    // A subquery may read the written row: guarded as well, and its scans fenced.
    let out = rewritten(
        "DELETE FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id AND 1 / (o.tenant_id - 2) = 1)",
    );
    assert!(
        out.contains("AND CASE WHEN (o.tenant_id = 1) THEN (EXISTS"),
        "{out}"
    );
    assert!(out.contains("OFFSET 0"), "{out}");
    // A write's subquery is nested: its output may become a join condition of the
    // semi-join PostgreSQL makes of it, so it is judged (here leaky: the scans are fenced).
    let out = rewritten(
        "UPDATE orders SET amount = 0 WHERE customer_id IN (SELECT name::int FROM customers)",
    );
    assert!(out.contains("WHERE tenant_id = 1 OFFSET 0"), "{out}");
    // Leakproof conditions stay as they were.
    assert_eq!(
        rewritten("UPDATE orders SET amount = 0 WHERE id = 3"),
        "UPDATE orders SET amount = 0 WHERE (id = 3) AND (orders.tenant_id = 1)"
    );
}
