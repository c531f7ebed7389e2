//! Inputs the fuzz targets (fuzz/, `scripts/fuzz.sh`) found failing, replayed with the
//! targets' checks: every file in `fixtures/fuzz/<target>/` is a SQL text (`evaluate`),
//! a policy file (`policies`) or a context file (`context`), read as the target reads it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use serde_json::Value;
use verdict_engine::testing::{parse_statements_within, DEPTH_LIMIT};
use verdict_engine::{evaluate, Context, PolicySet, Verdict};

const POLICIES: &str = include_str!("../../tests/conformance/policies.json");
const READER: &str = include_str!("../../tests/conformance/contexts/analyst_t1.json");
const WRITER: &str = include_str!("../../tests/conformance/contexts/writer.json");
const STATEMENTS: &[&str] = &[
    "SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.amount > 10",
    "UPDATE orders SET amount = 1, tenant_id = 1 WHERE id = 3 RETURNING *",
];

/// The fuzz targets' checks (fuzz/src/lib.rs): SPEC §3's fields, `rewritten_sql` exactly
/// when not blocked and parsing again, the same bytes twice.
fn check(set: &PolicySet, sql: &str, ctx: &Context) -> Verdict {
    let verdict = evaluate(set, sql, ctx);
    let json = verdict.to_json();
    assert_eq!(evaluate(set, sql, ctx).to_json(), json, "not deterministic");
    let doc: Value = serde_json::from_str(&json).unwrap();
    for field in ["verdict", "rule", "reason", "hint"] {
        assert!(doc[field].as_str().is_some_and(|s| !s.is_empty()), "{json}");
    }
    for field in ["masked_columns", "row_filters", "matched_policies", "notes"] {
        assert!(doc[field].is_array(), "{json}");
    }
    match doc.get("rewritten_sql").and_then(Value::as_str) {
        None => assert_eq!(doc["verdict"], "block", "{json}"),
        Some(text) => {
            assert_ne!(doc["verdict"], "block", "{json}");
            if let Err(e) = parse_statements_within(text, 2 * DEPTH_LIMIT) {
                panic!("rewritten_sql does not parse ({e}): {text}");
            }
        }
    }
    verdict
}

fn inputs(target: &str) -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    // As the fuzz targets: 1 MiB optimized; debug frames are several times larger.
    let stack = if cfg!(debug_assertions) {
        8 << 20
    } else {
        1 << 20
    };
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn evaluate_inputs() {
    on_small_stack(|| {
        let set = PolicySet::parse(POLICIES).unwrap();
        let contexts = [
            Context::from_json_str(READER).unwrap(),
            Context::from_json_str(WRITER).unwrap(),
        ];
        for (name, sql) in inputs("evaluate") {
            for ctx in &contexts {
                eprintln!("{name}");
                check(&set, &sql, ctx);
            }
        }
    });
}

#[test]
fn policies_inputs() {
    on_small_stack(|| {
        let contexts = [
            Context::from_json_str(READER).unwrap(),
            Context::from_json_str(WRITER).unwrap(),
        ];
        for (name, text) in inputs("policies") {
            eprintln!("{name}");
            match PolicySet::parse(&text) {
                Err(err) => assert!(!err.message.is_empty(), "{}", err.code),
                Ok(set) => {
                    for ctx in &contexts {
                        for sql in STATEMENTS {
                            check(&set, sql, ctx);
                        }
                    }
                }
            }
        }
    });
}

#[test]
fn context_inputs() {
    on_small_stack(|| {
        let set = PolicySet::parse(POLICIES).unwrap();
        for (name, text) in inputs("context") {
            eprintln!("{name}");
            match Context::from_str_any(&text) {
                Err(err) => assert!(!err.message.is_empty(), "{}", err.code),
                Ok(ctx) => {
                    for sql in STATEMENTS {
                        check(&set, sql, &ctx);
                    }
                }
            }
        }
    });
}

#[test]
fn a_quote_escaped_in_a_hex_literal_cannot_smuggle_sql() {
    // Found by the evaluate target: sqlparser reads `\'` inside X'…' as a quote and prints
    // the literal without escaping it, so the rewritten SQL ended the literal early and ran
    // the rest (here a denied column) unjudged.
    let set = PolicySet::parse(POLICIES).unwrap();
    let ctx = Context::from_json_str(READER).unwrap();
    for sql in [
        r"SELECT x'0\' UNION SELECT password_hash FROM customers --'",
        r"SELECT b'1\' UNION SELECT password_hash FROM customers --'",
        "SELECT X'0G'",
        "SELECT B'102'",
    ] {
        let v = check(&set, sql, &ctx);
        assert_eq!(
            (v.verdict.as_str(), v.rule.as_str()),
            ("block", "parse_error"),
            "{sql}: {}",
            v.reason
        );
    }
    for sql in ["SELECT X'0aF9'", "SELECT B'0101'"] {
        let v = check(&set, sql, &ctx);
        assert_eq!(v.verdict.as_str(), "allow", "{sql}: {}", v.reason);
        assert_eq!(v.rewritten_sql.as_deref(), Some(sql));
    }
}

#[test]
fn sql_that_prints_ambiguously_is_blocked() {
    // Found by the evaluate target: sqlparser printed `- @xy` as `-@xy` (one operator in
    // PostgreSQL); the engine now checks that every answer parses back and prints the same.
    let set = PolicySet::parse(POLICIES).unwrap();
    let ctx = Context::from_json_str(READER).unwrap();
    for sql in ["SELECT @ AS one,- @xy", "SELECT 1 - - 1 FROM orders"] {
        let v = check(&set, sql, &ctx);
        if !v.is_block() {
            let out = v.rewritten_sql.unwrap();
            let again = parse_statements_within(&out, 2 * DEPTH_LIMIT).unwrap();
            assert_eq!(again[0].to_string(), out, "{sql}");
        }
    }
    // sqlparser 0.64 prints the two prefix operators apart (`- @ xy`), which reads back
    // as written; before, the engine's check blocked the fused `-@xy`.
    let v = check(&set, "SELECT @ AS one,- @xy", &ctx);
    if !v.is_block() {
        let out = v.rewritten_sql.unwrap_or_default();
        assert!(out.contains("- @ xy"), "{out}");
    }
    // Ordinary unary operators still evaluate.
    let v = check(&set, "SELECT -amount, - 1, @ amount FROM orders", &ctx);
    assert_eq!(v.verdict.as_str(), "row_filter", "{}", v.reason);
}
