//! Inputs at the engine's limits, shared by `tests/limits.rs` (which asserts how each one is
//! judged) and `examples/limits.rs` (which measures time and peak memory of each).

use std::fmt::Write as _;

use verdict_engine::PolicySet;

/// The conformance suite's policy set: a strict catalog, denies, masks and row filters.
pub const POLICIES: &str = include_str!("../../../tests/conformance/policies.json");
/// An analyst of tenant 1: row filters and masks apply to `orders` and `customers`.
pub const CONTEXT: &str = include_str!("../../../tests/conformance/contexts/analyst_t1.json");

/// One megabyte, the size of the large-text cases.
pub const MIB: usize = 1 << 20;

/// Depths of the nesting cases.
pub const DEPTHS: [usize; 4] = [100, 1_000, 10_000, 100_000];

/// Builds SQL text whose syntax tree is `depth` levels deep.
pub type Build = fn(usize) -> String;

/// Nested shapes, by name.
pub const SHAPES: &[(&str, Build)] = &[
    ("parens", parens),
    ("from_subqueries", from_subqueries),
    ("in_subqueries", in_subqueries),
    ("scalar_subqueries", scalar_subqueries),
    ("ctes", ctes),
    ("union_chain", union_chain),
    ("union_nested", union_nested),
    ("function_calls", function_calls),
    ("or_chain", or_chain),
    ("and_chain", and_chain),
    ("plus_chain", plus_chain),
    ("concat_chain", concat_chain),
    ("cast_chain", cast_chain),
    ("not_chain", not_chain),
    ("minus_chain", minus_chain),
    ("case_nested", case_nested),
    ("array_nested", array_nested),
    ("subscript_chain", subscript_chain),
    ("is_null_chain", is_null_chain),
    ("join_chain", join_chain),
    ("join_nested", join_nested),
];

/// `((((id = 1))))`
pub fn parens(depth: usize) -> String {
    format!(
        "SELECT id FROM orders WHERE {}id = 1{}",
        "(".repeat(depth),
        ")".repeat(depth)
    )
}

/// `SELECT id FROM (SELECT id FROM (… orders …) AS t) AS t`
pub fn from_subqueries(depth: usize) -> String {
    format!(
        "{}SELECT id FROM orders{}",
        "SELECT id FROM (".repeat(depth),
        ") AS t".repeat(depth)
    )
}

/// `SELECT id FROM orders WHERE id IN (SELECT id FROM orders WHERE id IN (…))`
pub fn in_subqueries(depth: usize) -> String {
    format!(
        "{}SELECT id FROM orders{}",
        "SELECT id FROM orders WHERE id IN (".repeat(depth),
        ")".repeat(depth)
    )
}

/// `SELECT (SELECT (SELECT … (SELECT max(id) FROM orders)))`
pub fn scalar_subqueries(depth: usize) -> String {
    format!(
        "{}SELECT max(id) FROM orders{}",
        "SELECT (".repeat(depth),
        ")".repeat(depth)
    )
}

/// `WITH t AS (WITH t AS (… SELECT id FROM orders) SELECT id FROM t) SELECT id FROM t`
pub fn ctes(depth: usize) -> String {
    format!(
        "{}SELECT id FROM orders{}",
        "WITH t AS (".repeat(depth),
        ") SELECT id FROM t".repeat(depth)
    )
}

/// `SELECT id FROM orders UNION SELECT id FROM orders UNION …` (a left-deep chain)
pub fn union_chain(depth: usize) -> String {
    vec!["SELECT id FROM orders"; depth + 1].join(" UNION ")
}

/// `SELECT id FROM orders UNION (SELECT id FROM orders UNION (…))`
pub fn union_nested(depth: usize) -> String {
    format!(
        "{}SELECT id FROM orders{}",
        "SELECT id FROM orders UNION (".repeat(depth),
        ")".repeat(depth)
    )
}

/// `SELECT abs(abs(abs(… id))) FROM orders`
pub fn function_calls(depth: usize) -> String {
    format!(
        "SELECT {}id{} FROM orders",
        "abs(".repeat(depth),
        ")".repeat(depth)
    )
}

fn chain(depth: usize, op: &str, term: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(depth * 16);
    for i in 0..=depth {
        if i > 0 {
            out.push_str(op);
        }
        out.push_str(&term(i));
    }
    out
}

/// `… WHERE id = 0 OR id = 1 OR …`
pub fn or_chain(depth: usize) -> String {
    format!(
        "SELECT id FROM orders WHERE {}",
        chain(depth, " OR ", |i| format!("id = {i}"))
    )
}

/// `… WHERE id <> 0 AND id <> 1 AND …`
pub fn and_chain(depth: usize) -> String {
    format!(
        "SELECT id FROM orders WHERE {}",
        chain(depth, " AND ", |i| format!("id <> {i}"))
    )
}

/// `SELECT id + 0 + 1 + … FROM orders`
pub fn plus_chain(depth: usize) -> String {
    format!(
        "SELECT {} FROM orders",
        chain(depth, " + ", |i| if i == 0 {
            "id".into()
        } else {
            i.to_string()
        })
    )
}

/// `SELECT status || 'a' || 'a' || … FROM orders`
pub fn concat_chain(depth: usize) -> String {
    format!(
        "SELECT {} FROM orders",
        chain(depth, " || ", |i| if i == 0 {
            "status".into()
        } else {
            "'a'".into()
        })
    )
}

/// `SELECT id::int::int::… FROM orders`
pub fn cast_chain(depth: usize) -> String {
    format!("SELECT id{} FROM orders", "::int".repeat(depth))
}

/// `… WHERE NOT NOT NOT … id = 1`
pub fn not_chain(depth: usize) -> String {
    format!("SELECT id FROM orders WHERE {}id = 1", "NOT ".repeat(depth))
}

/// `SELECT - - - … id FROM orders`
pub fn minus_chain(depth: usize) -> String {
    format!("SELECT {}id FROM orders", "- ".repeat(depth))
}

/// `SELECT CASE WHEN id = 1 THEN CASE WHEN … END END FROM orders`
pub fn case_nested(depth: usize) -> String {
    format!(
        "SELECT {}id{} FROM orders",
        "CASE WHEN id = 1 THEN ".repeat(depth),
        " END".repeat(depth)
    )
}

/// `SELECT ARRAY[ARRAY[… id]] FROM orders`
pub fn array_nested(depth: usize) -> String {
    format!(
        "SELECT {}id{} FROM orders",
        "ARRAY[".repeat(depth),
        "]".repeat(depth)
    )
}

/// `SELECT x[1][1][1]… FROM (SELECT ARRAY[id] AS x FROM orders) s`
pub fn subscript_chain(depth: usize) -> String {
    format!(
        "SELECT x{} FROM (SELECT ARRAY[id] AS x FROM orders) s",
        "[1]".repeat(depth)
    )
}

/// `… WHERE id IS NULL IS NOT NULL IS NULL …`
pub fn is_null_chain(depth: usize) -> String {
    let mut tail = String::new();
    for i in 0..depth {
        tail.push_str(if i % 2 == 0 {
            " IS NULL"
        } else {
            " IS NOT NULL"
        });
    }
    format!("SELECT id FROM orders WHERE id{tail}")
}

/// `SELECT o0.id FROM orders o0 JOIN orders o1 ON true JOIN orders o2 ON true …`
pub fn join_chain(depth: usize) -> String {
    let mut sql = String::from("SELECT o0.id FROM orders o0");
    for i in 1..=depth {
        // INVARIANT: writing into a String cannot fail.
        let _ = write!(sql, " JOIN orders o{i} ON true");
    }
    sql
}

/// `SELECT 1 FROM (orders o JOIN (orders o JOIN (…) ON true) ON true)`
pub fn join_nested(depth: usize) -> String {
    format!(
        "SELECT 1 FROM {}orders o{}",
        "(orders o JOIN ".repeat(depth),
        " ON true)".repeat(depth)
    )
}

/// A statement padded to about `size` bytes by repeating `item`, joined by `sep`.
fn padded(
    head: &str,
    item: impl Fn(usize) -> String,
    sep: &str,
    tail: &str,
    size: usize,
) -> String {
    let mut out = String::with_capacity(size + 64);
    out.push_str(head);
    let mut i = 0;
    while out.len() < size {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&item(i));
        i += 1;
    }
    out.push_str(tail);
    out
}

/// One case: its name, its SQL, its policy set (the conformance set when `None`) and its
/// context ([`CONTEXT`] when `None`).
pub struct Case {
    pub name: String,
    pub sql: String,
    pub policies: Option<String>,
    pub context: Option<String>,
}

impl Case {
    fn new(name: impl Into<String>, sql: String) -> Case {
        Case {
            name: name.into(),
            sql,
            policies: None,
            context: None,
        }
    }
}

/// 1 MiB texts: a long IN list, a long select list, a long string literal, many statements.
pub fn large_texts() -> Vec<Case> {
    vec![
        Case::new(
            "1mib_in_list",
            padded(
                "SELECT id FROM orders WHERE id IN (",
                |i| i.to_string(),
                ", ",
                ")",
                MIB,
            ),
        ),
        Case::new(
            "1mib_select_list",
            padded(
                "SELECT ",
                |i| format!("amount AS a{i}"),
                ", ",
                " FROM orders",
                MIB,
            ),
        ),
        Case::new(
            "1mib_string_literal",
            format!("SELECT id FROM orders WHERE notes = '{}'", "x".repeat(MIB)),
        ),
        Case::new(
            "1mib_values_rows",
            padded(
                "SELECT * FROM (VALUES ",
                |i| format!("({i}, 'v{i}')"),
                ", ",
                ") AS v(a, b)",
                MIB,
            ),
        ),
        Case::new(
            "1mib_statements",
            padded(
                "",
                |i| format!("SELECT id FROM orders WHERE id = {i}"),
                "; ",
                "",
                MIB,
            ),
        ),
    ]
}

/// `n` policies, each with a row filter on `orders`; `applies` says whether they apply to
/// the analyst context (then every filter is ANDed into the scan) or to a role it lacks.
pub fn many_policies(n: usize, applies: bool) -> String {
    let role = if applies { "analyst" } else { "nobody" };
    let mut policies = Vec::with_capacity(n);
    for i in 0..n {
        policies.push(format!(
            r#"{{"id": "p{i}", "applies_to": {{"roles": ["{role}"]}}, "rules": [{{"type": "row_filter", "table": "orders", "predicate": "id <> {i}"}}]}}"#
        ));
    }
    format!(
        r#"{{"catalog": {{"tables": [{{"name": "orders", "columns": [{{"name": "id", "type": "integer"}}, {{"name": "tenant_id", "type": "integer"}}]}}]}}, "policies": [{}]}}"#,
        policies.join(", ")
    )
}

/// A catalog of `n` tables of ten columns, each with a policy that masks one column and
/// filters rows by tenant.
pub fn many_tables(n: usize) -> String {
    let mut tables = Vec::with_capacity(n);
    let mut policies = Vec::with_capacity(n);
    for i in 0..n {
        let columns: Vec<String> = (0..10)
            .map(|c| {
                format!(
                    r#"{{"name": "c{c}", "type": "{}"}}"#,
                    if c % 2 == 0 { "integer" } else { "text" }
                )
            })
            .collect();
        tables.push(format!(
            r#"{{"name": "public.t{i}", "columns": [{{"name": "tenant_id", "type": "integer"}}, {}]}}"#,
            columns.join(", ")
        ));
        policies.push(format!(
            r#"{{"id": "t{i}", "rules": [{{"type": "row_filter", "table": "t{i}", "predicate": "tenant_id = ctx.attr.tenant_id"}}, {{"type": "column_mask", "table": "t{i}", "column": "c1", "mask": "hash"}}]}}"#
        ));
    }
    format!(
        r#"{{"catalog": {{"tables": [{}]}}, "policies": [{}]}}"#,
        tables.join(", "),
        policies.join(", ")
    )
}

/// A query over the last `k` tables of a [`many_tables`] catalog of `n`.
pub fn join_of_tables(n: usize, k: usize) -> String {
    let mut sql = String::from("SELECT *");
    for (j, i) in (n - k..n).enumerate() {
        if j == 0 {
            let _ = write!(sql, " FROM t{i}");
        } else {
            let _ = write!(sql, " JOIN t{i} ON t{i}.c0 = t{}.c0", i - 1);
        }
    }
    sql
}

/// A policy set whose row filter on `orders` reads the context array `tenant_ids`.
pub const ARRAY_FILTER_POLICIES: &str = r#"{"catalog": {"tables": [{"name": "orders", "columns": [{"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"}]}]}, "policies": [{"id": "tenants", "rules": [{"type": "row_filter", "table": "orders", "predicate": "tenant_id = ANY(ctx.attr.tenant_ids)"}]}]}"#;

/// A context whose `tenant_ids` array has `n` elements.
pub fn array_context(n: usize) -> String {
    let ids: Vec<String> = (0..n).map(|i| (1_000_000 + i).to_string()).collect();
    format!(
        r#"{{"user": "alice", "roles": ["analyst"], "attributes": {{"tenant_ids": [{}]}}}}"#,
        ids.join(", ")
    )
}

/// `SELECT count(*) FROM orders o0, orders o1, …` of about `size` bytes: one scan of
/// `orders` per dozen bytes, each of which repeats the row filter with the context's array.
pub fn repeated_scans(size: usize) -> String {
    padded(
        "SELECT count(*) FROM ",
        |i| format!("orders o{i}"),
        ", ",
        "",
        size,
    )
}

/// `SELECT count(*) FROM orders o0, …` naming `orders` `n` times.
pub fn join_of_scans(n: usize) -> String {
    let items: Vec<String> = (0..n).map(|i| format!("orders o{i}")).collect();
    format!("SELECT count(*) FROM {}", items.join(", "))
}

/// Every case of the measurement table, in order.
pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (shape, build) in SHAPES {
        for depth in DEPTHS {
            out.push(Case::new(format!("{shape}_{depth}"), build(depth)));
        }
    }
    out.extend(large_texts());
    out.push(Case {
        name: "10k_policies_other_role".into(),
        sql: "SELECT id FROM orders".into(),
        policies: Some(many_policies(10_000, false)),
        context: None,
    });
    out.push(Case {
        name: "10k_policies_all_apply".into(),
        sql: "SELECT id FROM orders".into(),
        policies: Some(many_policies(10_000, true)),
        context: None,
    });
    out.push(Case {
        name: "10k_policies_all_apply_delete".into(),
        sql: "DELETE FROM orders WHERE id = 1".into(),
        policies: Some(many_policies(10_000, true)),
        context: None,
    });
    out.push(Case {
        name: "1k_tables_join_10".into(),
        sql: join_of_tables(1_000, 10),
        policies: Some(many_tables(1_000)),
        context: None,
    });
    out.push(Case {
        name: "8_scans_20k_context_array".into(),
        sql: join_of_scans(8),
        policies: Some(ARRAY_FILTER_POLICIES.to_string()),
        context: Some(array_context(20_000)),
    });
    out.push(Case {
        name: "77kb_scans_20k_context_array".into(),
        sql: repeated_scans(77_000),
        policies: Some(ARRAY_FILTER_POLICIES.to_string()),
        context: Some(array_context(20_000)),
    });
    out
}

/// The conformance policy set, loaded.
pub fn conformance_policies() -> PolicySet {
    match PolicySet::parse(POLICIES) {
        Ok(set) => set,
        Err(e) => unreachable!("the conformance policies load: {e}"),
    }
}
