//! `catalog.default_access: "deny"`: a governed table (named by a rule of an enabled
//! `enforce` policy) is blocked for a context that none of the policies naming it applies to.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers fail loudly on broken fixtures

use serde_json::json;
use verdict_engine::{evaluate, Context, PolicySet, Verdict};

fn doc(default_access: Option<&str>) -> serde_json::Value {
    let mut catalog = json!({ "tables": [
        { "name": "orders", "columns": [
            {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
            {"name": "amount", "type": "numeric"} ] },
        { "name": "customers", "columns": [
            {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
            {"name": "email", "type": "text"} ] },
        { "name": "tickets", "columns": [ {"name": "id", "type": "integer"}, {"name": "body", "type": "text"} ] },
        { "name": "incidents", "columns": [ {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"} ] },
        { "name": "audit", "columns": [ {"name": "id", "type": "integer"} ] },
        { "name": "legacy", "columns": [ {"name": "id", "type": "integer"} ] },
        { "name": "salaries", "columns": [ {"name": "id", "type": "integer"} ] },
        { "name": "products", "columns": [ {"name": "id", "type": "integer"}, {"name": "name", "type": "text"} ] }
    ]});
    if let Some(d) = default_access {
        catalog["default_access"] = json!(d);
    }
    json!({
        "catalog": catalog,
        "policies": [
            { "id": "tenant", "applies_to": {"roles": ["analyst", "support"]}, "except": {"users": ["dpo"]}, "rules": [
                {"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"},
                {"type": "row_filter", "table": "customers", "predicate": "tenant_id = ctx.attr.tenant_id"}
            ]},
            { "id": "pii", "applies_to": {"roles": ["analyst"]}, "rules": [
                {"type": "column_mask", "table": "customers", "column": "email", "mask": {"kind": "hash"}}
            ]},
            { "id": "no-delete", "applies_to": {"roles": ["support"]}, "rules": [
                {"type": "deny", "table": "tickets", "operations": ["delete"]}
            ]},
            { "id": "incident-filter", "applies_to": {"roles": ["oncall"]}, "break_glass_allowed": true, "rules": [
                {"type": "row_filter", "table": "incidents", "predicate": "tenant_id = ctx.attr.tenant_id"}
            ]},
            { "id": "audit-trial", "mode": "monitor", "rules": [
                {"type": "row_filter", "table": "audit", "predicate": "id > 0"},
                {"type": "row_filter", "table": "orders", "predicate": "id > 0"}
            ]},
            { "id": "legacy-off", "enabled": false, "rules": [
                {"type": "deny", "table": "legacy"}
            ]},
            { "id": "hr", "rules": [ {"type": "deny", "table": "salaries"} ] }
        ]
    })
}

fn set(default_access: Option<&str>) -> PolicySet {
    PolicySet::from_json(&doc(default_access)).unwrap()
}

fn ctx(json: serde_json::Value) -> Context {
    Context::from_json(&json).unwrap()
}

fn intern() -> Context {
    ctx(json!({"user": "ivy", "roles": ["intern"], "attributes": {"tenant_id": 1}}))
}

fn analyst() -> Context {
    ctx(json!({"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 1}}))
}

#[track_caller]
fn default_denied(set: &PolicySet, sql: &str, c: &Context, table: &str) -> Verdict {
    let v = evaluate(set, sql, c);
    assert_eq!(
        (v.verdict.as_str(), v.rule.as_str()),
        ("block", "default_deny"),
        "{sql}\n{}",
        v.to_json()
    );
    assert!(v.reason.contains(&format!("`{table}`")), "{}", v.reason);
    assert!(v.reason.contains("default_access"), "{}", v.reason);
    assert!(
        v.hint.contains("row filter with the predicate `true`"),
        "{}",
        v.hint
    );
    v
}

#[track_caller]
fn runs(set: &PolicySet, sql: &str, c: &Context) -> String {
    let v = evaluate(set, sql, c);
    match v.rewritten_sql.clone() {
        Some(text) => text,
        None => panic!("blocked: {sql}\n{}", v.to_json()),
    }
}

#[test]
fn an_unnamed_context_cannot_reach_a_governed_table_anywhere() {
    let s = set(Some("deny"));
    let i = intern();
    for sql in [
        "SELECT id FROM orders",
        "SELECT * FROM public.orders",
        "SELECT id FROM ORDERS",
        "SELECT p.name FROM products p JOIN orders o ON o.id = p.id",
        "SELECT p.name FROM products p LEFT JOIN orders o ON o.id = p.id",
        "SELECT name FROM products WHERE id IN (SELECT id FROM orders)",
        "SELECT name FROM products WHERE EXISTS (SELECT 1 FROM orders WHERE orders.id = products.id)",
        "SELECT (SELECT count(*) FROM orders) FROM products",
        "WITH o AS (SELECT id FROM orders) SELECT 1",
        "SELECT id FROM products UNION SELECT id FROM orders",
        "SELECT p.id FROM products p, LATERAL (SELECT amount FROM orders o WHERE o.id = p.id) l",
        "SELECT x.id FROM (SELECT id FROM orders) x",
        "COPY (SELECT id FROM orders) TO STDOUT",
        "COPY orders TO STDOUT",
        "UPDATE orders SET amount = 0 WHERE id = 1",
        "DELETE FROM orders WHERE id = 1",
        "INSERT INTO orders (id, tenant_id, amount) VALUES (1, 1, 0)",
        "INSERT INTO products (id, name) SELECT id, 'x' FROM orders",
        "UPDATE products SET name = 'x' FROM orders WHERE orders.id = products.id",
        "DELETE FROM products USING orders WHERE orders.id = products.id",
        "WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING id) SELECT 1",
        "SELECT 1; SELECT id FROM orders",
    ] {
        default_denied(&s, sql, &i, "public.orders");
    }
    default_denied(&s, "SELECT email FROM customers", &i, "public.customers");
    default_denied(&s, "SELECT id FROM tickets", &i, "public.tickets");
    default_denied(&s, "SELECT id FROM incidents", &i, "public.incidents");
    // Tables no enabled enforce policy names are not governed.
    for sql in [
        "SELECT name FROM products",
        "SELECT id FROM audit",
        "SELECT id FROM legacy",
        "UPDATE products SET name = 'x' WHERE id = 1",
        "WITH orders AS (SELECT 1 AS id) SELECT id FROM orders",
    ] {
        runs(&s, sql, &i);
    }
    // A policy with an empty `applies_to` covers everyone; its deny still blocks.
    let v = evaluate(&s, "SELECT id FROM salaries", &i);
    assert_eq!(v.rule, "deny", "{}", v.to_json());
}

#[test]
fn a_context_some_policy_names_keeps_its_rules() {
    let s = set(Some("deny"));
    let sql = runs(&s, "SELECT id FROM orders", &analyst());
    assert!(sql.contains("WHERE tenant_id = 1"), "{sql}");
    let sql = runs(&s, "UPDATE orders SET amount = 0 WHERE id = 1", &analyst());
    assert!(sql.contains("tenant_id = 1"), "{sql}");
    // A deny of another operation names the context too: support reads tickets unfiltered
    // and is still refused the delete.
    let support = ctx(json!({"user": "sam", "roles": ["support"], "attributes": {"tenant_id": 1}}));
    runs(&s, "SELECT id, body FROM tickets", &support);
    let v = evaluate(&s, "DELETE FROM tickets WHERE id = 1", &support);
    assert_eq!(v.rule, "deny", "{}", v.to_json());
    // Support is covered on customers by the row filter alone (the mask is the analyst's).
    runs(&s, "SELECT email FROM customers", &support);
}

#[test]
fn exemptions_monitor_disabled_and_break_glass() {
    let s = set(Some("deny"));
    // `except` takes the policy away: the exempted user is not covered.
    let dpo = ctx(json!({"user": "dpo", "roles": ["support"]}));
    default_denied(&s, "SELECT id FROM orders", &dpo, "public.orders");
    // ... until a policy grants access, e.g. every row.
    let mut d = doc(Some("deny"));
    d["policies"].as_array_mut().unwrap().push(json!({
        "id": "dpo-all", "applies_to": {"users": ["dpo"]},
        "rules": [{"type": "row_filter", "table": "orders", "predicate": "true"}]}));
    let granted = PolicySet::from_json(&d).unwrap();
    let sql = runs(&granted, "SELECT id FROM orders", &dpo);
    assert!(sql.contains("WHERE true"), "{sql}");
    default_denied(
        &granted,
        "SELECT id FROM customers",
        &dpo,
        "public.customers",
    );
    // A monitor policy that applies (audit-trial names orders for everyone) does not
    // cover: it is never applied.
    default_denied(&s, "SELECT id FROM orders", &intern(), "public.orders");
    // Break-glass lifts the policy's rules and keeps the context covered.
    let oncall = ctx(
        json!({"user": "oz", "roles": ["oncall"], "attributes": {"tenant_id": 1}, "break_glass": true}),
    );
    let v = evaluate(&s, "SELECT id FROM incidents", &oncall);
    let sql = v.rewritten_sql.clone().unwrap_or_default();
    assert!(!sql.contains("tenant_id"), "{}", v.to_json());
    assert!(
        v.notes.iter().any(|n| n.contains("break")),
        "{}",
        v.to_json()
    );
    let oncall = ctx(json!({"user": "oz", "roles": ["oncall"], "attributes": {"tenant_id": 1}}));
    assert!(runs(&s, "SELECT id FROM incidents", &oncall).contains("tenant_id = 1"));
    // Everything else of the oncall context stays default-denied.
    default_denied(&s, "SELECT id FROM orders", &oncall, "public.orders");
}

#[test]
fn allow_is_the_default_and_keeps_todays_behaviour() {
    for s in [set(None), set(Some("allow"))] {
        let sql = runs(&s, "SELECT id FROM orders", &intern());
        assert_eq!(sql, "SELECT id FROM orders");
        runs(&s, "UPDATE orders SET amount = 0 WHERE id = 1", &intern());
    }
}

#[test]
fn unknown_values_are_problems_that_list_the_allowed_ones() {
    for bad in [json!("block"), json!("Deny"), json!(true), json!(["deny"])] {
        let mut d = doc(None);
        d["catalog"]["default_access"] = bad.clone();
        let err = PolicySet::from_json(&d).unwrap_err();
        let p = &err.problems[0];
        assert_eq!(p.field, "catalog.default_access", "{bad}");
        assert!(
            p.message.contains("`allow` or `deny`"),
            "{bad}: {}",
            p.message
        );
    }
}
