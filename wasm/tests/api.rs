//! The exports as JS sees them, run by wasm-bindgen-test in Node and in headless Chromium
//! (scripts/test-wasm.sh runs this one binary in both; `WASM_BINDGEN_USE_BROWSER=1`
//! picks the browser).
#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use js_sys::{Array, Function, Reflect, JSON};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

use verdict_wasm::{
    evaluate, evaluate_json, explain_row, run_tests, validate, validate_json, version, who_sees,
    PolicyEngine,
};

const POLICIES_JSON: &str = include_str!("../../examples/policies.json");
const POLICIES_YAML: &str = include_str!("../../examples/policies.yaml");
const CONTEXT: &str = include_str!("../../examples/context.json");
const SQL: &str = "SELECT name, email FROM customers WHERE id = 7";

fn js(text: &str) -> JsValue {
    JSON::parse(text).unwrap()
}

fn s(text: &str) -> JsValue {
    JsValue::from_str(text)
}

fn stringify(value: &JsValue) -> String {
    JSON::stringify(value).unwrap().as_string().unwrap()
}

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &s(key)).unwrap()
}

fn get_str(value: &JsValue, key: &str) -> String {
    get(value, key)
        .as_string()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {}", stringify(value)))
}

/// The error thrown by an object-form export: a JS `Error` named `VerdictError`.
fn thrown<T>(result: Result<T, JsValue>) -> JsValue {
    let Err(err) = result else {
        panic!("expected a thrown VerdictError");
    };
    assert!(err.is_instance_of::<js_sys::Error>(), "not an Error");
    assert_eq!(get_str(&err, "name"), "VerdictError");
    assert!(!get_str(&err, "message").is_empty());
    err
}

/// The `code` of the error an object-form export threw (checked by [`thrown`]).
fn thrown_code<T>(result: Result<T, JsValue>) -> String {
    get_str(&thrown(result), "code")
}

/// The `error.code` of the error document a JSON-form export answered.
fn answered_code(out: &str) -> String {
    get_str(&get(&js(out), "error"), "code")
}

#[wasm_bindgen_test]
fn evaluate_with_objects_equals_evaluate_json() {
    let text = evaluate_json(s(POLICIES_JSON), s(SQL), s(CONTEXT), JsValue::UNDEFINED);
    let verdict = evaluate(js(POLICIES_JSON), s(SQL), js(CONTEXT), JsValue::UNDEFINED).unwrap();
    assert_eq!(stringify(&verdict), text);
    assert_eq!(get_str(&verdict, "verdict"), "row_filter");
    assert!(get_str(&verdict, "rewritten_sql").contains("WHERE tenant_id = 1"));
    // The statement reads `email` (masked); `ssn`, masked too, it does not read.
    let masked = get(&verdict, "masked_columns").dyn_into::<Array>().unwrap();
    assert_eq!(masked.length(), 1);
    // Absent fields stay absent, as in the JSON (no `undefined` or `null` placeholders).
    assert!(!Reflect::has(&verdict, &s("blocked_by")).unwrap());
}

#[wasm_bindgen_test]
fn policy_sets_and_contexts_may_be_texts_json_or_yaml() {
    let expected = evaluate_json(s(POLICIES_JSON), s(SQL), s(CONTEXT), JsValue::NULL);
    if !verdict_engine::READS_YAML {
        // The package without the `yaml` feature: YAML text is a structured error.
        let yaml_context = s("user: alice\nroles: [analyst]\n");
        assert_eq!(
            answered_code(&evaluate_json(
                s(POLICIES_YAML),
                s(SQL),
                s(CONTEXT),
                JsValue::NULL
            )),
            "yaml_unsupported"
        );
        assert_eq!(
            answered_code(&evaluate_json(
                s(POLICIES_JSON),
                s(SQL),
                yaml_context.clone(),
                JsValue::NULL
            )),
            "yaml_unsupported"
        );
        assert_eq!(
            thrown_code(evaluate(
                s(POLICIES_YAML),
                s(SQL),
                s(CONTEXT),
                JsValue::NULL,
            )),
            "yaml_unsupported"
        );
        let engine = PolicyEngine::new(js(POLICIES_JSON), JsValue::UNDEFINED).unwrap();
        assert_eq!(
            thrown_code(engine.evaluate(s(SQL), yaml_context)),
            "yaml_unsupported"
        );
        assert_eq!(
            answered_code(&validate_json(s(POLICIES_YAML))),
            "yaml_unsupported"
        );
        // JSON text still reads.
        let verdict = evaluate(s(POLICIES_JSON), s(SQL), s(CONTEXT), JsValue::NULL).unwrap();
        assert_eq!(stringify(&verdict), expected);
        return;
    }
    assert_eq!(
        evaluate_json(
            s(POLICIES_YAML),
            s(SQL),
            s(CONTEXT),
            s("{\"dialect\":\"postgres\"}")
        ),
        expected
    );
    let verdict = evaluate(
        s(POLICIES_YAML),
        s(SQL),
        s(CONTEXT),
        js("{\"dialect\":\"postgresql\"}"),
    )
    .unwrap();
    assert_eq!(stringify(&verdict), expected);
}

#[wasm_bindgen_test]
fn a_missing_context_is_the_empty_context() {
    let a = evaluate_json(
        s(POLICIES_JSON),
        s("SELECT id FROM orders"),
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
    );
    let b = evaluate_json(
        s(POLICIES_JSON),
        s("SELECT id FROM orders"),
        s("{}"),
        JsValue::UNDEFINED,
    );
    assert_eq!(a, b);
    let c = evaluate(
        js(POLICIES_JSON),
        s("SELECT id FROM orders"),
        JsValue::UNDEFINED,
        JsValue::UNDEFINED,
    )
    .unwrap();
    assert_eq!(stringify(&c), b);
}

#[wasm_bindgen_test]
fn an_invalid_policy_set_throws_every_problem_with_positions() {
    let bad = r#"{"policies":[{"id":"p1","rules":[
        {"type":"row_filter","table":"orders","predicate":"tenant_id =\n = 1"},
        {"type":"column_mask","table":"customers","column":"email","mask":{"kind":"scramble"}}]}]}"#;
    let err = thrown(evaluate(js(bad), s(SQL), js(CONTEXT), JsValue::UNDEFINED));
    assert_eq!(get_str(&err, "code"), "invalid_policy");
    let problems = get(&err, "problems").dyn_into::<Array>().unwrap();
    assert_eq!(problems.length(), 2);
    let first = problems.get(0);
    assert_eq!(get_str(&first, "policy"), "p1");
    assert_eq!(get(&first, "rule_index").as_f64(), Some(0.0));
    assert_eq!(get_str(&first, "field"), "rules[0].predicate");
    assert_eq!(get(&first, "line").as_f64(), Some(2.0));
    assert!(get(&first, "column").as_f64().is_some());
    assert_eq!(get_str(&problems.get(1), "field"), "rules[1].mask.kind");

    // The constructor reports the same problems.
    let err = thrown(PolicyEngine::new(js(bad), JsValue::UNDEFINED));
    assert_eq!(
        get(&err, "problems").dyn_into::<Array>().unwrap().length(),
        2
    );

    // validate answers them instead of throwing; validateJson prints the CLI's document.
    let answer = validate(js(bad)).unwrap();
    let error = get(&answer, "error");
    assert_eq!(get_str(&error, "code"), "invalid_policy");
    assert_eq!(
        get(&error, "problems")
            .dyn_into::<Array>()
            .unwrap()
            .length(),
        2
    );
    assert_eq!(stringify(&answer), validate_json(s(bad)));
}

#[wasm_bindgen_test]
fn validate_summarises_a_valid_set() {
    let expected = r#"{"valid":true,"policies":4,"rules":7,"tables":3,"governed_tables":3}"#;
    if verdict_engine::READS_YAML {
        assert_eq!(validate_json(s(POLICIES_YAML)), expected);
    }
    assert_eq!(validate_json(s(POLICIES_JSON)), expected);
    assert_eq!(stringify(&validate(js(POLICIES_JSON)).unwrap()), expected);
    let engine = PolicyEngine::new(js(POLICIES_JSON), JsValue::UNDEFINED).unwrap();
    assert_eq!(stringify(&engine.summary().unwrap()), expected);
}

#[wasm_bindgen_test]
fn bad_input_is_a_structured_error() {
    let policies = || js(POLICIES_JSON);
    let undef = JsValue::UNDEFINED;
    assert_eq!(
        thrown_code(evaluate(
            policies(),
            s(SQL),
            js("{\"user\": 3}"),
            undef.clone()
        )),
        "invalid_context"
    );
    assert_eq!(
        thrown_code(evaluate(
            policies(),
            JsValue::from_f64(1.0),
            undef.clone(),
            undef.clone()
        )),
        "invalid_arguments"
    );
    assert_eq!(
        thrown_code(evaluate(
            policies(),
            s(SQL),
            undef.clone(),
            js("{\"dialect\":\"mysql\"}")
        )),
        "unsupported_dialect"
    );
    assert_eq!(
        thrown_code(evaluate(
            policies(),
            s(SQL),
            undef.clone(),
            js("{\"pretty\":true}")
        )),
        "invalid_options"
    );
    assert_eq!(
        thrown_code(evaluate(js("42"), s(SQL), undef.clone(), undef.clone())),
        "invalid_policy"
    );
    // A value JSON cannot hold is an input error, not a trap.
    let function = Function::new_no_args("return 1").into();
    assert_eq!(
        thrown_code(evaluate(function, s(SQL), undef.clone(), undef.clone())),
        "invalid_policy"
    );

    // The JSON forms answer the error document and never throw.
    let out = evaluate_json(s("{"), s(SQL), undef.clone(), undef.clone());
    assert_eq!(answered_code(&out), "invalid_policy");
    let out = evaluate_json(
        s(POLICIES_JSON),
        JsValue::NULL,
        undef.clone(),
        undef.clone(),
    );
    assert_eq!(answered_code(&out), "invalid_arguments");
    let out = validate_json(JsValue::from_f64(3.0));
    assert_eq!(answered_code(&out), "invalid_arguments");
}

#[wasm_bindgen_test]
fn a_date_or_a_json_string_as_context_is_invalid_context_saying_so() {
    let undef = JsValue::UNDEFINED;
    let date: JsValue = js_sys::Date::new(&JsValue::from_f64(0.0)).into();
    let err = thrown(evaluate(
        js(POLICIES_JSON),
        s(SQL),
        date.clone(),
        undef.clone(),
    ));
    assert_eq!(get_str(&err, "code"), "invalid_context");
    let message = get_str(&err, "message");
    assert!(message.contains("got a Date"), "{message}");
    let engine = PolicyEngine::new(s(POLICIES_JSON), undef.clone()).unwrap();
    assert_eq!(
        thrown_code(engine.evaluate(s(SQL), date.clone())),
        "invalid_context"
    );
    // A context JSON-encoded twice: a JS string holding a JSON string.
    let twice = JSON::stringify(&s(CONTEXT)).unwrap();
    let err = thrown(engine.evaluate(s(SQL), twice.clone().into()));
    assert_eq!(get_str(&err, "code"), "invalid_context");
    assert!(get_str(&err, "message").contains("JSON-encoded twice"));
    let out = engine.evaluate_json(s(SQL), twice.into());
    assert_eq!(answered_code(&out), "invalid_context");
    // `new PolicyEngine({})` names the accepted shapes.
    let err = thrown(PolicyEngine::new(js("{}"), undef.clone()));
    assert_eq!(get_str(&err, "code"), "invalid_policy");
    assert!(get_str(&err, "message").starts_with("expected an array of policies"));
    // A Date as a policy set is no text to parse either.
    assert_eq!(
        thrown_code(evaluate(date, s(SQL), undef.clone(), undef)),
        "invalid_policy"
    );
}

#[wasm_bindgen_test]
fn a_prepared_engine_answers_like_one_shot_calls() {
    let engine = PolicyEngine::new(js(POLICIES_JSON), js("{\"dialect\":\"postgres\"}")).unwrap();
    for sql in [
        SQL,
        "SELECT * FROM salaries",
        "SELECT o.id, c.email FROM orders o JOIN customers c ON c.id = o.customer_id",
        "DELETE FROM orders",
        "not sql at all",
    ] {
        let expected = evaluate_json(s(POLICIES_JSON), s(sql), s(CONTEXT), JsValue::UNDEFINED);
        assert_eq!(engine.evaluate_json(s(sql), s(CONTEXT)), expected);
        assert_eq!(
            stringify(&engine.evaluate(s(sql), js(CONTEXT)).unwrap()),
            expected
        );
    }
    assert_eq!(
        thrown_code(engine.evaluate(s(SQL), js("{\"roles\": \"analyst\"}"))),
        "invalid_context"
    );
    // The engine stays usable after an error.
    assert!(engine.evaluate(s(SQL), js(CONTEXT)).is_ok());
}

#[wasm_bindgen_test]
fn deep_nesting_blocks_cleanly() {
    // As engine/tests/rewrite.rs: far past the parser's recursion limit the statement is
    // blocked as a parse error; in wasm that must hold too, never a trap.
    let engine = PolicyEngine::new(js(POLICIES_JSON), JsValue::UNDEFINED).unwrap();
    let deep_expr = format!(
        "SELECT {}1{} FROM orders",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    let deep_query = format!(
        "SELECT * FROM {}orders{}",
        "(SELECT * FROM ".repeat(500),
        ") AS t".repeat(500)
    );
    for sql in [deep_expr, deep_query] {
        let verdict = engine.evaluate(s(&sql), js(CONTEXT)).unwrap();
        assert_eq!(get_str(&verdict, "verdict"), "block");
        assert_eq!(
            get_str(&verdict, "rule"),
            "parse_error",
            "{}",
            get_str(&verdict, "reason")
        );
    }
    // Just within the limit, nesting evaluates.
    for depth in [20, 60] {
        let ok = format!(
            "SELECT {}id{} FROM orders",
            "(".repeat(depth),
            ")".repeat(depth)
        );
        let verdict = engine.evaluate(s(&ok), js(CONTEXT)).unwrap();
        assert_eq!(get_str(&verdict, "verdict"), "row_filter", "depth {depth}");
    }
    let nested = format!(
        "SELECT * FROM {}orders{}",
        "(SELECT * FROM ".repeat(25),
        ") AS t".repeat(25)
    );
    let verdict = engine.evaluate(s(&nested), js(CONTEXT)).unwrap();
    assert_ne!(
        get_str(&verdict, "rule"),
        "parse_error",
        "{}",
        stringify(&verdict)
    );
}

/// Waits for the event loop's next task (`setTimeout(0)`): a long test that awaits this
/// between its parts lets the page answer the test runner's webdriver polls, which time
/// out after 20 s on a busy machine.
async fn next_task() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout: Function = Reflect::get(&js_sys::global(), &s("setTimeout"))
            .unwrap()
            .unchecked_into();
        set_timeout
            .call2(&JsValue::UNDEFINED, &resolve, &JsValue::from_f64(0.0))
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

#[wasm_bindgen_test]
async fn long_chains_evaluate_or_block_cleanly() {
    // As engine/tests/limits.rs, on wasm's own 1 MiB stack: chains of operators and set
    // operations are parsed by loops, not recursion, so the engine bounds their depth
    // itself; long AND/OR chains are rebalanced and evaluate.
    let engine = PolicyEngine::new(js(POLICIES_JSON), JsValue::UNDEFINED).unwrap();
    let chain = |n: usize, op: &str, term: &str| vec![term; n].join(op);
    for n in [1_000, 10_000, 100_000] {
        let blocked = [
            format!("SELECT {} FROM orders", chain(n, " + ", "id")),
            format!("SELECT id{} FROM orders", "::int".repeat(n)),
            chain(n, " UNION ", "SELECT id FROM orders"),
            format!("SELECT id{} FROM orders", "[1]".repeat(n)),
        ];
        for sql in blocked {
            next_task().await;
            let verdict = engine.evaluate(s(&sql), js(CONTEXT)).unwrap();
            assert_eq!(get_str(&verdict, "verdict"), "block", "{n}");
            assert!(
                get_str(&verdict, "reason").contains("nested too deeply"),
                "{}",
                stringify(&verdict)
            );
        }
        let ors = format!("SELECT id FROM orders WHERE {}", chain(n, " OR ", "id = 1"));
        let verdict = engine.evaluate(s(&ors), js(CONTEXT)).unwrap();
        assert_eq!(
            get_str(&verdict, "verdict"),
            "row_filter",
            "{n}: {}",
            get_str(&verdict, "reason")
        );
    }
    // Just within the depth limit (128), chains evaluate on wasm's stack, even unoptimized.
    for sql in [
        format!("SELECT {} FROM orders", chain(120, " + ", "id")),
        chain(120, " UNION ", "SELECT id FROM orders"),
    ] {
        let verdict = engine.evaluate(s(&sql), js(CONTEXT)).unwrap();
        assert_eq!(
            get_str(&verdict, "verdict"),
            "row_filter",
            "{}",
            get_str(&verdict, "reason")
        );
    }
}

#[wasm_bindgen_test]
fn version_is_the_crate_version() {
    assert_eq!(version(), env!("CARGO_PKG_VERSION"));
}

/// A fixture of `verdict test` (cli/tests/fixtures/suite) as JSON text: the package reads
/// no YAML, so the test converts it (with the crate the native side uses).
fn suite_fixture(text: &str) -> String {
    let value: serde_json::Value = serde_yaml_ng::from_str(text).unwrap();
    value.to_string()
}

const SUITE_POLICIES: &str = include_str!("../../cli/tests/fixtures/suite/policies.yaml");
const SUITES: [(&str, &str); 3] = [
    (
        "real.yaml",
        include_str!("../../cli/tests/fixtures/suite/real.yaml"),
    ),
    (
        "weak.json",
        include_str!("../../cli/tests/fixtures/suite/weak.json"),
    ),
    (
        "failing.yaml",
        include_str!("../../cli/tests/fixtures/suite/failing.yaml"),
    ),
];
/// The native engine's reports for the suites (checked natively by
/// `api::tests::the_suite_reports_file_is_the_native_engines`).
const NATIVE_REPORTS: &str = include_str!("suite_reports.json");

#[wasm_bindgen_test]
fn run_tests_gives_the_native_reports_byte_for_byte() {
    let native: serde_json::Value = serde_json::from_str(NATIVE_REPORTS).unwrap();
    let policies = suite_fixture(SUITE_POLICIES);
    for (name, text) in SUITES {
        let tests = suite_fixture(text);
        let expected = native[name].as_str().unwrap();
        let got = run_tests(s(&policies), s(&tests), s("{\"mutate\":true}"));
        assert_eq!(got, expected, "{name}");
        // Objects in give the same bytes as their JSON texts.
        let from_objects = run_tests(js(&policies), js(&tests), js("{\"mutate\":true}"));
        assert_eq!(from_objects, expected, "{name} (objects)");
    }
    let weak = js(native["weak.json"].as_str().unwrap());
    let real = js(native["real.yaml"].as_str().unwrap());
    let score = |r: &JsValue| get(&get(r, "mutation"), "score").as_f64().unwrap();
    assert!(score(&weak) < 0.3);
    assert!(score(&real) >= 0.9);
    // Without options: no mutation, coverage included.
    let plain = js(&run_tests(
        s(&policies),
        s(&suite_fixture(SUITES[0].1)),
        JsValue::UNDEFINED,
    ));
    assert!(!Reflect::has(&plain, &s("mutation")).unwrap());
    assert_eq!(
        get(&get(&plain, "coverage"), "exercised").as_f64(),
        Some(8.0)
    );
}

#[wasm_bindgen_test]
fn run_tests_answers_bad_input_with_the_error_document() {
    let policies = suite_fixture(SUITE_POLICIES);
    assert_eq!(
        answered_code(&run_tests(s(&policies), s("tests: []"), JsValue::UNDEFINED)),
        "yaml_unsupported"
    );
    let out = run_tests(
        s(&policies),
        s(r#"{"tests":[{"name":"a","sql":"SELECT 1","expect":{"verdict":"allow","x":1}}]}"#),
        JsValue::UNDEFINED,
    );
    assert_eq!(answered_code(&out), "invalid_tests");
    let problem = Array::from(&get(&get(&js(&out), "error"), "problems")).get(0);
    assert_eq!(get_str(&problem, "field"), "tests[0].expect.x");
    assert_eq!(
        answered_code(&run_tests(s("{"), s("{}"), JsValue::UNDEFINED)),
        "invalid_policy"
    );
    assert_eq!(
        answered_code(&run_tests(s(&policies), s(r#"{"tests":[]}"#), s("[]"))),
        "invalid_options"
    );
}

#[wasm_bindgen_test]
fn explain_row_and_who_sees_answer_the_native_json() {
    let set = verdict_engine::PolicySet::parse(POLICIES_JSON).unwrap();
    let request = format!(
        r#"{{"table": "orders", "row": {{"id": 3, "tenant_id": 2}}, "context": {CONTEXT}}}"#
    );
    let native = verdict_engine::explain_row_json(&set, &serde_json::from_str(&request).unwrap())
        .unwrap()
        .to_json();
    assert_eq!(explain_row(s(POLICIES_JSON), s(&request)), native);
    assert_eq!(explain_row(js(POLICIES_JSON), js(&request)), native);
    let answer = js(&native);
    assert_eq!(get_str(&answer, "outcome"), "hidden");
    assert_eq!(
        answered_code(&explain_row(s(POLICIES_JSON), s(r#"{"table": "orders"}"#))),
        "invalid_request"
    );
    assert_eq!(
        answered_code(&explain_row(s(POLICIES_JSON), JsValue::from_f64(1.0))),
        "invalid_request"
    );

    let request = format!(
        r#"{{"table": "orders", "column": "id", "principals": [{CONTEXT}, {{"user": "x"}}]}}"#
    );
    let native = verdict_engine::who_sees_json(&set, &serde_json::from_str(&request).unwrap())
        .unwrap()
        .to_json();
    assert_eq!(who_sees(js(POLICIES_JSON), js(&request)), native);
    assert_eq!(
        answered_code(&who_sees(s("{"), s(&request))),
        "invalid_policy"
    );
}
