//! Functions under a strict catalog: safe built-ins and the functions `catalog.functions`
//! lists as reading no governed table run; any other call is blocked (`unknown_function`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers fail loudly on broken fixtures

use verdict_engine::{evaluate, Context, PolicySet};

const SET: &str = r#"{
  "catalog": {
    "functions": [
      { "name": "app.normalize", "reads_governed_tables": false },
      { "name": "slugify", "reads_governed_tables": false },
      { "name": "lookup" },
      { "name": "public.peek", "reads_governed_tables": true }
    ],
    "tables": [ { "name": "t", "columns": [ { "name": "id", "type": "integer" }, { "name": "name", "type": "text" } ] } ]
  },
  "policies": [ { "id": "p", "rules": [ { "type": "row_filter", "table": "t", "predicate": "id > 0" } ] } ]
}"#;

fn judge(set: &PolicySet, sql: &str) -> (String, String) {
    let v = evaluate(set, sql, &Context::from_json_str("{}").unwrap());
    (v.verdict.as_str().to_string(), v.rule.to_string())
}

#[test]
fn only_safe_builtins_and_listed_functions_run() {
    let set = PolicySet::parse(SET).unwrap();
    for sql in [
        "SELECT upper(name), length(name), now(), date_trunc('day', now()) FROM t",
        "SELECT pg_catalog.lower(name) FROM t",
        "SELECT app.normalize(name) FROM t",
        "SELECT slugify(name), public.slugify(name) FROM t",
        "SELECT * FROM generate_series(1, 3) g",
        "SELECT coalesce(name, 'x'), greatest(id, 1), nullif(id, 2) FROM t",
        "SELECT json_agg(name ORDER BY id), count(*), string_agg(name, ',') FROM t",
        "SELECT SUBSTRING(name FROM 1 FOR 2), TRIM(name), EXTRACT(YEAR FROM now()) FROM t",
        "SELECT current_setting('verdict.tenant')",
        "SELECT t.row_to_json, x.slugify FROM t, t x",
        "SELECT current_date, localtimestamp, current_timestamp(2) FROM t",
        // Quoted, these are names, not the keywords.
        r#"SELECT "current_role" FROM (SELECT 1 AS "current_role") s"#,
    ] {
        let (verdict, rule) = judge(&set, sql);
        assert_ne!(verdict, "block", "{sql}: {rule}");
    }
    for sql in [
        "SELECT other(name) FROM t",
        "SELECT app.other(name) FROM t",
        "SELECT frobnicate(name) FROM t",
        "SELECT lookup(1)",
        "SELECT peek(1)",
        "SELECT * FROM peek(1)",
        "SELECT id FROM t WHERE other(id) > 0",
        "SELECT id FROM t ORDER BY other(id)",
        "SELECT (SELECT other(1))",
        "SELECT to_regclass('t')",
        "SELECT has_table_privilege('t', 'select')",
        "SELECT current_database()",
        "SELECT version()",
        "SELECT txid_current()",
        "SELECT setseed(0.5)",
        "SELECT pg_partition_root('t')",
        // `t.f`, where `t` has no column `f`, is PostgreSQL's `f(t)`.
        "SELECT t.other FROM t",
        "SELECT id FROM t WHERE t.other",
        "SELECT id FROM t x WHERE x.lookup IS NULL",
        // SQL's value functions that read session state, with parentheses or without.
        "SELECT current_user",
        "SELECT id FROM t WHERE name = session_user",
        "SELECT current_role, id FROM t",
        "SELECT user FROM t",
        "SELECT id FROM t WHERE current_schema = 'public'",
        "SELECT CURRENT_CATALOG",
        "SELECT id FROM t ORDER BY current_role",
        r#"SELECT pg_catalog."current_user"()"#,
    ] {
        assert_eq!(
            judge(&set, sql),
            ("block".to_string(), "unknown_function".to_string()),
            "{sql}"
        );
    }
    // The engine's deny lists decide first.
    assert_eq!(judge(&set, "SELECT pg_sleep(1)").1, "denied_function");
    // Without a catalog the deny lists are the floor: other functions run.
    let bare = PolicySet::parse(r#"{"policies": [{"id": "p", "rules": [{"type": "row_filter", "table": "t", "predicate": "id > 0"}]}]}"#).unwrap();
    assert_ne!(judge(&bare, "SELECT other(name) FROM t").0, "block");
}

#[test]
fn catalog_functions_are_validated() {
    for (functions, field) in [
        (r#"{}"#, "catalog.functions"),
        (r#"[1]"#, "catalog.functions[0]"),
        (
            r#"[{"reads_governed_tables": false}]"#,
            "catalog.functions[0].name",
        ),
        (r#"[{"name": "a.b.c"}]"#, "catalog.functions[0].name"),
        (
            r#"[{"name": "f", "reads_governed_tables": "no"}]"#,
            "catalog.functions[0].reads_governed_tables",
        ),
        (
            r#"[{"name": "f", "reads": []}]"#,
            "catalog.functions[0].reads",
        ),
        (
            r#"[{"name": "f"}, {"name": "public.F"}]"#,
            "catalog.functions[1].name",
        ),
    ] {
        let text =
            format!(r#"{{"catalog": {{"functions": {functions}, "tables": []}}, "policies": []}}"#);
        let err = PolicySet::parse(&text).expect_err(functions);
        assert!(
            err.problems.iter().any(|p| p.field == field),
            "{functions}: {:?}",
            err.problems
        );
    }
}

/// `t.f` (PostgreSQL's `f(t)`) runs a function on the row like `f(t)` does: it may not
/// run before the row filter, so it is guarded (or its scan fenced) like the call written out.
#[test]
fn functional_notation_is_guarded_like_the_call() {
    let set = PolicySet::parse(SET).unwrap();
    let ctx = Context::from_json_str("{}").unwrap();
    for sql in [
        "SELECT id FROM t WHERE slugify(t) IS NULL",
        "SELECT id FROM t WHERE t.slugify IS NULL",
        "SELECT x.id FROM t x WHERE x.slugify IS NULL",
        "SELECT id FROM t WHERE public.t.slugify IS NULL",
    ] {
        let out = evaluate(&set, sql, &ctx).rewritten_sql.unwrap_or_default();
        assert!(
            out.contains("CASE WHEN (") || out.contains("OFFSET 0"),
            "{sql}: {out}"
        );
    }
    // A column named so is a column: leakproof, no guard.
    let out = evaluate(&set, "SELECT id FROM t WHERE t.name IS NULL", &ctx)
        .rewritten_sql
        .unwrap_or_default();
    assert!(!out.contains("CASE WHEN"), "{out}");
}
