//! What every fuzz target checks of the engine's answers (SPEC §3), and the fixed inputs.
//!
//! A broken invariant panics, which libFuzzer reports as a crash with the input saved.

use std::time::{Duration, Instant};

use serde_json::Value;
use verdict_engine::testing::{parse_statements_within, DEPTH_LIMIT};
use verdict_engine::{evaluate, Context, InputError, PolicySet, Verdict};

/// The conformance suite's policy set and two of its contexts (a reader and a writer).
pub const POLICIES: &str = include_str!("../../tests/conformance/policies.json");
pub const READER: &str = include_str!("../../tests/conformance/contexts/analyst_t1.json");
pub const WRITER: &str = include_str!("../../tests/conformance/contexts/writer.json");

/// Statements the policy and context targets evaluate under each set and context.
pub const STATEMENTS: &[&str] = &[
    "SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.amount > 10",
    "SELECT id, email, ssn FROM customers UNION ALL SELECT id, notes, status FROM orders",
    "WITH t AS (SELECT * FROM tickets) SELECT count(*) FROM t, employees e",
    "UPDATE orders SET amount = 1, tenant_id = 1 WHERE id = 3 RETURNING *",
    "INSERT INTO orders (id, tenant_id, region, status) VALUES (1, 1, 'EU', 'paid')",
    "DELETE FROM customers WHERE id IN (SELECT customer_id FROM orders)",
];

/// The time one input may take before the target reports it (`VERDICT_FUZZ_SLOW_MS`,
/// default 2000): libFuzzer's `-timeout` catches hangs, this catches slow inputs.
pub fn slow_limit() -> Duration {
    let ms = std::env::var("VERDICT_FUZZ_SLOW_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    Duration::from_millis(ms)
}

/// Runs `f` on a thread with WebAssembly's default 1 MiB stack, so a recursion that fits
/// only the main thread's 8 MiB shows as a crash, and checks that it finished in time.
pub fn bounded<T: Send>(what: &str, f: impl FnOnce() -> T + Send) -> T {
    let start = Instant::now();
    let out = std::thread::scope(|s| {
        match std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn_scoped(s, f)
        {
            Ok(handle) => match handle.join() {
                Ok(out) => out,
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(e) => panic!("cannot start a thread: {e}"),
        }
    });
    let took = start.elapsed();
    assert!(took <= slow_limit(), "{what} took {took:?}");
    out
}

/// The conformance policy set.
pub fn policies() -> PolicySet {
    match PolicySet::parse(POLICIES) {
        Ok(set) => set,
        Err(e) => panic!("the conformance policies do not load: {e}"),
    }
}

/// A context from the conformance suite.
pub fn context(text: &str) -> Context {
    match Context::from_json_str(text) {
        Ok(ctx) => ctx,
        Err(e) => panic!("a conformance context does not load: {e}"),
    }
}

/// Evaluates `sql` twice and checks the verdict: JSON with SPEC §3's fields,
/// `rewritten_sql` exactly when not blocked and parsing again with the engine's parser,
/// the same bytes both times.
pub fn check_evaluation(set: &PolicySet, sql: &str, ctx: &Context) -> Verdict {
    let verdict = evaluate(set, sql, ctx);
    let json = verdict.to_json();
    let again = evaluate(set, sql, ctx).to_json();
    assert_eq!(json, again, "evaluation is not deterministic");
    let doc: Value = match serde_json::from_str(&json) {
        Ok(doc) => doc,
        Err(e) => panic!("the verdict is not JSON ({e}): {json}"),
    };
    let Some(obj) = doc.as_object() else {
        panic!("the verdict is not an object: {json}");
    };
    let decision = obj.get("verdict").and_then(Value::as_str);
    assert!(
        matches!(decision, Some("allow" | "mask" | "row_filter" | "block")),
        "bad verdict: {json}"
    );
    for field in ["rule", "reason", "hint"] {
        assert!(
            obj.get(field)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
            "`{field}` missing or empty: {json}"
        );
    }
    for field in ["masked_columns", "row_filters", "matched_policies", "notes"] {
        assert!(
            obj.get(field).is_some_and(Value::is_array),
            "`{field}` is not an array: {json}"
        );
    }
    let rewritten = obj.get("rewritten_sql");
    if decision == Some("block") {
        assert!(rewritten.is_none(), "a block has rewritten_sql: {json}");
    } else {
        let Some(text) = rewritten.and_then(Value::as_str) else {
            panic!("no rewritten_sql without a block: {json}");
        };
        // The engine's parser, allowing for the levels that derived tables add.
        if let Err(e) = parse_statements_within(text, 2 * DEPTH_LIMIT) {
            panic!("rewritten_sql does not parse ({e}): {text}\nfrom: {sql}");
        }
    }
    verdict
}

/// Checks an input error: JSON with a code and a message.
pub fn check_error(err: &InputError) {
    let json = err.to_json();
    let doc: Value = match serde_json::from_str(&json) {
        Ok(doc) => doc,
        Err(e) => panic!("the error is not JSON ({e}): {json}"),
    };
    for field in ["code", "message"] {
        assert!(
            doc.get("error")
                .and_then(|e| e.get(field))
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
            "error without `{field}`: {json}"
        );
    }
}
