//! The engine at its limits: deep nesting of every kind, megabyte texts, 10 000 policies,
//! a catalog of 1 000 tables. Every case must evaluate or block cleanly (a verdict whose
//! JSON has the SPEC's fields; a block past the depth limits says so in its reason and
//! hint), deterministically, on a thread with a small stack: WebAssembly's default 1 MiB
//! in an optimized build.
//!
//! Run it also optimized and without sqlparser's stack-growing wrappers, as the wasm
//! package is built: `cargo test --release -p verdict-engine --no-default-features --test limits`.
//! `cargo run --release -p verdict-engine --example limits` measures the same inputs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// The measuring example uses the whole table of cases; the tests pick theirs.
#[allow(dead_code)]
#[path = "limits/inputs.rs"]
mod inputs;

use serde_json::Value;
use verdict_engine::testing::{parse_statements_within, DEPTH_LIMIT};
use verdict_engine::{evaluate, Context, PolicySet, Verdict};

/// WebAssembly's default stack, 1 MiB, when optimized (`cargo test --release`). Debug
/// builds need more: unoptimized, sqlparser alone takes about 100 KiB per nested query.
const STACK: usize = if cfg!(debug_assertions) {
    8 << 20
} else {
    1 << 20
};

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn context() -> Context {
    Context::from_json_str(inputs::CONTEXT).unwrap()
}

/// Evaluates twice, checks the verdict is well-formed and deterministic, and returns it.
fn judge(set: &PolicySet, sql: &str) -> Verdict {
    let ctx = context();
    let verdict = evaluate(set, sql, &ctx);
    let json = verdict.to_json();
    assert_eq!(
        evaluate(set, sql, &ctx).to_json(),
        json,
        "not deterministic"
    );
    let doc: Value = serde_json::from_str(&json).unwrap();
    for field in ["verdict", "rule", "reason", "hint"] {
        assert!(
            doc[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}"
        );
    }
    for field in ["masked_columns", "row_filters", "matched_policies", "notes"] {
        assert!(doc[field].is_array(), "{field}");
    }
    match (&verdict.rewritten_sql, verdict.is_block()) {
        (None, true) => {}
        (Some(sql), false) => {
            // The output parses again with the engine's parser, allowing for the levels
            // that derived tables add.
            if let Err(e) = parse_statements_within(sql, 2 * DEPTH_LIMIT) {
                panic!("rewritten SQL does not re-parse: {e}");
            }
        }
        _ => panic!("rewritten_sql must be present exactly when not blocked: {json}"),
    }
    verdict
}

fn assert_too_deep(v: &Verdict, case: &str) {
    assert_eq!(
        (v.verdict.as_str(), v.rule.as_str()),
        ("block", "parse_error"),
        "{case}: {}",
        v.reason
    );
    // sqlparser tries other readings of NOT and CASE when the deeper one fails, so past
    // its recursion limit these give the message of a later attempt.
    if case.starts_with("not_chain") || case.starts_with("case_nested") {
        return;
    }
    assert!(
        v.reason.contains("nested too deeply"),
        "{case}: {}",
        v.reason
    );
    assert!(v.hint.contains("flatten"), "{case}: {}", v.hint);
}

/// Shapes whose depth comes from loops in the parser, not from its recursion.
const CHAINS: &[&str] = &[
    "union_chain",
    "plus_chain",
    "concat_chain",
    "cast_chain",
    "is_null_chain",
];

#[test]
fn every_nested_shape_evaluates_or_blocks_cleanly_at_every_depth() {
    on_small_stack(|| {
        let set = inputs::conformance_policies();
        for (shape, build) in inputs::SHAPES {
            for depth in inputs::DEPTHS {
                // 100 000 levels of the heaviest shapes take seconds each in a debug
                // build; the example measures them in release.
                if depth == 100_000 && !matches!(*shape, "parens" | "or_chain" | "cast_chain") {
                    continue;
                }
                let case = format!("{shape}_{depth}");
                let v = judge(&set, &build(depth));
                match *shape {
                    // Rebalanced, so any length evaluates.
                    "or_chain" | "and_chain" => {
                        assert_eq!(v.verdict.as_str(), "row_filter", "{case}: {}", v.reason)
                    }
                    // A flat list of joins.
                    "join_chain" => {
                        assert_eq!(v.verdict.as_str(), "row_filter", "{case}: {}", v.reason)
                    }
                    _ if depth >= 1_000 => assert_too_deep(&v, &case),
                    // At 100 levels, chains evaluate; nesting through the parser's
                    // recursion is past its limit already.
                    _ if CHAINS.contains(shape) || *shape == "subscript_chain" => {
                        if *shape == "subscript_chain" {
                            assert_too_deep(&v, &case)
                        } else {
                            assert_eq!(v.verdict.as_str(), "row_filter", "{case}: {}", v.reason)
                        }
                    }
                    _ => assert_too_deep(&v, &case),
                }
            }
        }
    });
}

#[test]
fn chains_just_within_the_depth_limit_fit_the_stack_in_every_phase() {
    // Resolution, rewriting, printing, serializing and dropping all recurse over the
    // tree: at the deepest tree the limit admits, each must fit the small stack.
    on_small_stack(|| {
        let set = inputs::conformance_policies();
        for (shape, build) in inputs::SHAPES {
            if !CHAINS.contains(shape) {
                continue;
            }
            let mut deepest = None;
            for depth in (DEPTH_LIMIT - 16..=DEPTH_LIMIT + 4).rev() {
                let v = judge(&set, &build(depth));
                if !v.is_block() {
                    deepest = Some(depth);
                    break;
                }
                assert_too_deep(&v, &format!("{shape}_{depth}"));
            }
            let deepest = deepest.unwrap_or_else(|| panic!("{shape}: nothing evaluates"));
            assert!(deepest + 8 >= DEPTH_LIMIT, "{shape}: only {deepest} levels");
        }
    });
}

#[test]
fn nesting_within_the_parsers_limit_still_evaluates() {
    on_small_stack(|| {
        let set = inputs::conformance_policies();
        for sql in [
            inputs::parens(50),
            inputs::from_subqueries(12),
            inputs::in_subqueries(12),
            inputs::ctes(12),
            inputs::function_calls(30),
            inputs::case_nested(20),
            inputs::union_nested(12),
            inputs::join_nested(20),
            inputs::subscript_chain(6),
        ] {
            let v = judge(&set, &sql);
            assert_eq!(v.verdict.as_str(), "row_filter", "{sql}: {}", v.reason);
        }
    });
}

#[test]
fn megabyte_texts_evaluate() {
    on_small_stack(|| {
        let set = inputs::conformance_policies();
        for case in inputs::large_texts() {
            assert!(case.sql.len() >= inputs::MIB, "{}", case.name);
            let v = judge(&set, &case.sql);
            assert!(!v.is_block(), "{}: {}", case.name, v.reason);
            let out = v.rewritten_sql.unwrap();
            assert!(out.len() >= inputs::MIB, "{}", case.name);
        }
    });
}

#[test]
fn ten_thousand_policies() {
    on_small_stack(|| {
        // Policies for a role the context lacks: selected out, the statement is allowed.
        let others = PolicySet::parse(&inputs::many_policies(10_000, false)).unwrap();
        assert_eq!(others.policies.len(), 10_000);
        let v = judge(&others, "SELECT id FROM orders");
        assert_eq!(v.verdict.as_str(), "allow", "{}", v.reason);
        // All of them apply: 10 000 row filters ANDed into one scan, and into a DELETE.
        let all = PolicySet::parse(&inputs::many_policies(10_000, true)).unwrap();
        let v = judge(&all, "SELECT id FROM orders");
        assert_eq!(v.verdict.as_str(), "row_filter", "{}", v.reason);
        assert_eq!(v.row_filters.len(), 10_000);
        assert!(v.rewritten_sql.unwrap().contains("(id <> 9999)"));
        let v = judge(&all, "DELETE FROM orders WHERE id = 1");
        assert_eq!(v.verdict.as_str(), "row_filter", "{}", v.reason);
        assert_eq!(v.row_filters.len(), 10_000);
    });
}

#[test]
fn catalog_of_a_thousand_tables() {
    on_small_stack(|| {
        let set = PolicySet::parse(&inputs::many_tables(1_000)).unwrap();
        let summary = set.summary();
        assert_eq!((summary.tables, summary.policies), (1_000, 1_000));
        let v = judge(&set, &inputs::join_of_tables(1_000, 10));
        assert_eq!(v.verdict.as_str(), "row_filter", "{}", v.reason);
        assert_eq!(v.row_filters.len(), 10);
        assert_eq!(v.masked_columns.len(), 10);
        // The strict catalog still holds with 1 000 tables.
        let v = judge(&set, "SELECT * FROM t1000");
        assert_eq!(v.rule, "unknown_relation", "{}", v.reason);
    });
}

#[test]
fn deep_policy_predicates_and_types_are_problems_not_crashes() {
    on_small_stack(|| {
        let policy = |predicate: &str, column_type: &str| {
            serde_json::json!({
                "catalog": {"tables": [{"name": "orders", "columns": [
                    {"name": "id", "type": column_type}]}]},
                "policies": [{"id": "p", "rules": [
                    {"type": "row_filter", "table": "orders", "predicate": predicate}]}]
            })
            .to_string()
        };
        // A long OR chain (far deeper than the parser's depth limit, within the size
        // bound) is rebalanced: it loads and filters.
        let ors = (0..1_200)
            .map(|i| format!("id = {i}"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let set = PolicySet::parse(&policy(&ors, "integer")).unwrap();
        let v = judge(&set, "SELECT id FROM orders");
        assert_eq!(v.verdict.as_str(), "row_filter", "{}", v.reason);
        // Other chains past the depth limit are a problem of the policy, within the size
        // bound as beyond it.
        for predicate in [
            format!("id{} = 1", "::int".repeat(3_000)),
            format!("id{} = 1", " + 1".repeat(3_000)),
            format!("{}id = 1{}", "(".repeat(5_000), ")".repeat(5_000)),
            format!("id{} = 1", " + 1".repeat(100_000)),
        ] {
            let err = PolicySet::parse(&policy(&predicate, "integer")).unwrap_err();
            assert_eq!(err.code, "invalid_policy");
            let field = &err.problems[0].field;
            assert!(field.contains("predicate"), "{field}: {:?}", err.problems);
        }
        // Array types nest without bound in sqlparser; the engine refuses long runs.
        let err = PolicySet::parse(&policy(
            "id = 1",
            &format!("integer{}", "[]".repeat(10_000)),
        ))
        .unwrap_err();
        assert_eq!(err.code, "invalid_policy");
        assert!(
            err.problems[0].message.contains("not a type"),
            "{:?}",
            err.problems
        );
        PolicySet::parse(&policy("id = 1", "integer[][]")).unwrap();
    });
}

#[test]
fn rewritten_sql_is_bounded_relative_to_the_input() {
    on_small_stack(|| {
        let set = PolicySet::parse(inputs::ARRAY_FILTER_POLICIES).unwrap();
        let large = Context::from_json_str(&inputs::array_context(20_000)).unwrap();
        let small = Context::from_json_str(&inputs::array_context(3)).unwrap();
        let scan_of_large = {
            let v = evaluate(&set, "SELECT id FROM orders", &large);
            v.rewritten_sql.unwrap().len()
        };
        assert!(scan_of_large > 100_000, "{scan_of_large}");

        // 77 kB naming `orders` 6 000 times, each scan repeating the 20 000-element array:
        // blocked before the text is built, with the bound in the reason.
        let attack = inputs::repeated_scans(77_000);
        let v = evaluate(&set, &attack, &large);
        assert_eq!(v.rule, "output_limit", "{}", v.reason);
        assert!(v.reason.contains("would exceed"), "{}", v.reason);
        assert!(v.reason.contains("`public.orders`"), "{}", v.reason);
        assert!(v.hint.contains("fewer times"), "{}", v.hint);
        assert!(v.rewritten_sql.is_none());
        // The same text with a small array is within the bound.
        let v = evaluate(&set, &attack, &small);
        assert_eq!(v.verdict.as_str(), "row_filter", "{}", v.reason);

        // A table read 8 times under the large array is within the bound.
        let v = evaluate(&set, &inputs::join_of_scans(8), &large);
        assert_eq!(v.verdict.as_str(), "row_filter", "{}", v.reason);
        assert!(v.rewritten_sql.unwrap().len() > 8 * scan_of_large - 8 * 64);

        // Writes repeat the filter too: many statements in one text are bounded as well.
        let deletes = |n: usize| "DELETE FROM orders WHERE id = 1; ".repeat(n);
        let v = evaluate(&set, &deletes(2), &large);
        assert_eq!(v.verdict.as_str(), "row_filter", "{}", v.reason);
        let v = evaluate(&set, &deletes(200), &large);
        assert_eq!(v.rule, "output_limit", "{}", v.reason);
        let v = evaluate(&set, &deletes(200), &small);
        assert_eq!(v.verdict.as_str(), "row_filter", "{}", v.reason);
    });
}
