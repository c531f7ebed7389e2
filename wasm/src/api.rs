//! The operations in their JSON forms, independent of the target: a `serde_json::Value`
//! form for the JS-object exports and a `&str` → `String` form for the JSON exports.
//!
//! Everything here only converts and delegates to `verdict_engine`, so native tests of this
//! module check exactly what the wasm exports do.

use serde_json::Value as Json;
use verdict_engine::{
    evaluate as engine_evaluate, run_suite, run_suite_with_mutation, Context, Dialect, ErrorCode,
    InputError, PolicySet, Suite, Verdict,
};

/// Option names `options` accepts.
const OPTIONS: &[&str] = &["dialect"];

pub use verdict_engine::Summary;

/// The summary of a loaded policy set.
pub fn summary(set: &PolicySet) -> Summary {
    set.summary()
}

/// A policy set from a value: an object or array in any of the three file shapes, or a
/// string holding JSON or YAML text.
pub fn policy_set(value: &Json) -> Result<PolicySet, InputError> {
    match value {
        Json::String(text) => PolicySet::parse(text),
        Json::Array(_) => PolicySet::from_json(value),
        Json::Object(obj)
            if ["policies", "catalog", "id", "rules"]
                .iter()
                .any(|k| obj.contains_key(*k)) =>
        {
            PolicySet::from_json(value)
        }
        other => Err(InputError::new(
            ErrorCode::InvalidPolicy,
            format!(
                "expected an array of policies, {{policies: [...]}} (with an optional catalog), \
                 one policy {{id, rules}}, or their JSON text; got {}",
                shape_of(other)
            ),
        )),
    }
}

/// Names a JSON value's shape for an error message (`an empty object`, `a number`, ...).
fn shape_of(value: &Json) -> String {
    match value {
        Json::Null => "null".into(),
        Json::Bool(_) => "a boolean".into(),
        Json::Number(_) => "a number".into(),
        Json::String(_) => "a string".into(),
        Json::Array(_) => "an array".into(),
        Json::Object(obj) if obj.is_empty() => "an empty object".into(),
        Json::Object(obj) => {
            let keys: Vec<String> = obj.keys().take(5).map(|k| format!("`{k}`")).collect();
            format!("an object with the fields {}", keys.join(", "))
        }
    }
}

/// A context from text: JSON (or YAML, with the engine's `yaml` feature). JSON that is not
/// an object (a string encoded twice, a number) is `invalid_context` saying what it is,
/// never `yaml_unsupported`.
pub fn context_text(text: &str) -> Result<Context, InputError> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') && !trimmed.is_empty() {
        if let Ok(value) = serde_json::from_str::<Json>(text) {
            return match value {
                Json::Object(_) => Context::from_json_value(value),
                Json::String(_) => Err(InputError::new(
                    ErrorCode::InvalidContext,
                    "the context is a JSON string, not an object: was it JSON-encoded twice?",
                )),
                other => Err(InputError::new(
                    ErrorCode::InvalidContext,
                    format!(
                        "the context must be a JSON object such as {{\"user\": \"alice\", \"roles\": [\"analyst\"]}}; got {}",
                        shape_of(&other)
                    ),
                )),
            };
        }
    }
    Context::from_str_any(text)
}

/// A context from a value: an object, a string holding JSON or YAML text, or null/absent
/// for the empty context.
pub fn context(value: &Json) -> Result<Context, InputError> {
    match value {
        Json::Null => Ok(Context::default()),
        Json::String(text) => context_text(text),
        other => Context::from_json(other),
    }
}

/// Reads evaluation options (`{"dialect": "postgres"}`): the dialect; null/absent means
/// the defaults.
pub fn options(value: &Json) -> Result<Dialect, InputError> {
    let mut dialect = Dialect::default();
    let obj = match value {
        Json::Null => return Ok(dialect),
        Json::Object(obj) => obj,
        _ => {
            return Err(InputError::new(
                ErrorCode::InvalidOptions,
                "options must be an object such as `{\"dialect\": \"postgres\"}`",
            ))
        }
    };
    for (key, v) in obj {
        match (key.as_str(), v) {
            ("dialect", Json::Null) => {}
            ("dialect", Json::String(d)) => dialect = Dialect::from_name(d)?,
            ("dialect", _) => {
                return Err(InputError::new(
                    ErrorCode::InvalidOptions,
                    "option `dialect` must be a string",
                ))
            }
            (other, _) => {
                return Err(InputError::new(
                    ErrorCode::InvalidOptions,
                    format!(
                        "unknown option `{other}`; expected one of {}",
                        OPTIONS.join(", ")
                    ),
                ))
            }
        }
    }
    Ok(dialect)
}

/// Options from JSON text; an empty text means the defaults.
pub fn options_str(text: &str) -> Result<Dialect, InputError> {
    if text.trim().is_empty() {
        return Ok(Dialect::default());
    }
    let value: Json = serde_json::from_str(text).map_err(|e| {
        InputError::new(
            ErrorCode::InvalidOptions,
            format!("options are not valid JSON: {e}"),
        )
    })?;
    options(&value)
}

/// Evaluates with values for the policy set, the context and the options.
pub fn evaluate_value(
    policy_set_value: &Json,
    sql: &str,
    context_value: &Json,
    options_value: &Json,
) -> Result<Verdict, InputError> {
    let dialect = options(options_value)?;
    let mut set = policy_set(policy_set_value)?;
    set.dialect = dialect;
    let ctx = context(context_value)?;
    Ok(engine_evaluate(&set, sql, &ctx))
}

/// Evaluates with texts and answers what `verdict eval` prints: the verdict JSON, or the
/// `{"error": {...}}` document.
pub fn evaluate_json_str(
    policy_set_text: &str,
    sql: &str,
    context_text: &str,
    options_text: &str,
) -> String {
    let result = options_str(options_text)
        .and_then(|dialect| {
            let mut set = PolicySet::parse(policy_set_text)?;
            set.dialect = dialect;
            Ok(set)
        })
        .and_then(|set| Ok((set, self::context_text(context_text)?)))
        .map(|(set, ctx)| engine_evaluate(&set, sql, &ctx));
    match result {
        Ok(verdict) => verdict.to_json(),
        Err(err) => err.to_json(),
    }
}

/// A test suite from a value: an object, or a string holding JSON (or YAML, with the
/// engine's `yaml` feature) text.
pub fn suite(value: &Json) -> Result<Suite, InputError> {
    match value {
        Json::String(text) => Suite::parse(text),
        other => Suite::from_json(other),
    }
}

/// Reads the options of `runTests` (`{"mutate": true}`): whether to run mutation testing.
pub fn test_options(value: &Json) -> Result<bool, InputError> {
    let bad = |m: String| InputError::new(ErrorCode::InvalidOptions, m);
    let obj = match value {
        Json::Null => return Ok(false),
        Json::String(text) if text.trim().is_empty() => return Ok(false),
        Json::String(text) => {
            let v: Json = serde_json::from_str(text)
                .map_err(|e| bad(format!("options are not valid JSON: {e}")))?;
            return test_options(&v);
        }
        Json::Object(obj) => obj,
        _ => {
            return Err(bad(
                "options must be an object such as `{\"mutate\": true}`".into(),
            ))
        }
    };
    let mut mutate = false;
    for (key, v) in obj {
        match (key.as_str(), v) {
            ("mutate", Json::Bool(b)) => mutate = *b,
            ("mutate", Json::Null) => {}
            ("mutate", _) => return Err(bad("option `mutate` must be a boolean".into())),
            (other, _) => return Err(bad(format!("unknown option `{other}`; expected mutate"))),
        }
    }
    Ok(mutate)
}

/// Runs a test suite against a policy set (each a value: an object, or a JSON/YAML text)
/// and answers the report JSON with coverage (and mutation, with `{"mutate": true}`), or
/// the `{"error": {...}}` document: what `verdict test --format json --coverage` prints.
pub fn run_tests_value(
    policy_set_value: &Json,
    tests_value: &Json,
    options_value: &Json,
) -> String {
    let inputs = test_options(options_value)
        .and_then(|mutate| Ok((mutate, policy_set(policy_set_value)?, suite(tests_value)?)));
    match inputs {
        Ok((true, set, suite)) => run_suite_with_mutation(&set, &suite).to_json(),
        Ok((false, set, suite)) => run_suite(&set, &suite).to_json(),
        Err(err) => err.to_json(),
    }
}

/// Explains a row against a policy set (a value: an object, or a JSON/YAML text) for a
/// request `{table, row, context?, key?}` (an object or a JSON text): the explanation
/// JSON, or the `{"error": {...}}` document; what `verdict explain-row` prints.
pub fn explain_row_value(policy_set_value: &Json, request_value: &Json) -> String {
    let result = policy_set(policy_set_value).and_then(|set| {
        let request = request(request_value)?;
        verdict_engine::explain_row_json(&set, &request)
    });
    match result {
        Ok(e) => e.to_json(),
        Err(err) => err.to_json(),
    }
}

/// Lists how each principal of a request `{table, column, principals}` sees the column:
/// the report JSON, or the `{"error": {...}}` document; what `verdict who-sees` prints.
pub fn who_sees_value(policy_set_value: &Json, request_value: &Json) -> String {
    let result = policy_set(policy_set_value).and_then(|set| {
        let request = request(request_value)?;
        verdict_engine::who_sees_json(&set, &request)
    });
    match result {
        Ok(r) => r.to_json(),
        Err(err) => err.to_json(),
    }
}

/// A request: an object, or a string holding JSON text.
fn request(value: &Json) -> Result<Json, InputError> {
    match value {
        Json::String(text) => serde_json::from_str(text).map_err(|e| {
            InputError::new(
                ErrorCode::InvalidRequest,
                format!("the request is not valid JSON: {e}"),
            )
        }),
        other => Ok(other.clone()),
    }
}

/// Evaluates against a prepared policy set with a context text; the verdict JSON or the
/// error document.
pub fn evaluate_prepared_json_str(set: &PolicySet, sql: &str, context_text: &str) -> String {
    match self::context_text(context_text) {
        Ok(ctx) => engine_evaluate(set, sql, &ctx).to_json(),
        Err(err) => err.to_json(),
    }
}

/// Validates a policy set value: its summary, or the error with every problem.
pub fn validate_value(value: &Json) -> Result<Summary, InputError> {
    policy_set(value).map(|set| summary(&set))
}

/// Validates a policy set text and answers what `verdict validate` prints: the summary
/// JSON, or the `{"error": {...}}` document with every problem.
pub fn validate_json_str(text: &str) -> String {
    match PolicySet::parse(text) {
        Ok(set) => summary_json(&summary(&set)),
        Err(err) => err.to_json(),
    }
}

/// The summary as compact JSON.
pub fn summary_json(summary: &Summary) -> String {
    // INVARIANT: the summary holds a bool and integers, which serde_json always serializes.
    serde_json::to_string(summary).unwrap_or_else(|_| String::from("{\"valid\":true}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICIES_JSON: &str = include_str!("../../examples/policies.json");
    const POLICIES_YAML: &str = include_str!("../../examples/policies.yaml");
    const CONTEXT: &str = include_str!("../../examples/context.json");

    /// The `error.code` of an error document answered as JSON text.
    fn error_code(out: String) -> String {
        let v: Json = serde_json::from_str(&out).unwrap();
        v["error"]["code"].as_str().unwrap().to_string()
    }

    #[test]
    fn evaluate_json_str_is_the_engines_bytes() {
        let sql = "SELECT name, email FROM customers WHERE id = 7";
        let set = PolicySet::parse(POLICIES_JSON).unwrap();
        let ctx = Context::from_json_str(CONTEXT).unwrap();
        let native = engine_evaluate(&set, sql, &ctx).to_json();
        assert_eq!(evaluate_json_str(POLICIES_JSON, sql, CONTEXT, ""), native);
        // YAML text reads only with the engine's `yaml` feature (off in the npm package).
        let texts = if verdict_engine::READS_YAML {
            POLICIES_YAML
        } else {
            POLICIES_JSON
        };
        assert_eq!(
            evaluate_json_str(texts, sql, CONTEXT, "{\"dialect\":\"PostgreSQL\"}"),
            native
        );
        assert_eq!(evaluate_prepared_json_str(&set, sql, CONTEXT), native);
        let value = |t: &str| serde_json::from_str::<Json>(t).unwrap();
        let verdict =
            evaluate_value(&value(POLICIES_JSON), sql, &value(CONTEXT), &Json::Null).unwrap();
        assert_eq!(verdict.to_json(), native);
        // A policy set and a context may also arrive as text inside the value form.
        let verdict = evaluate_value(
            &Json::String(texts.into()),
            sql,
            &Json::String(CONTEXT.into()),
            &Json::Null,
        )
        .unwrap();
        assert_eq!(verdict.to_json(), native);
    }

    #[test]
    fn an_empty_context_text_is_the_empty_context() {
        let out = evaluate_json_str(POLICIES_JSON, "SELECT id FROM orders", "", "");
        let native = engine_evaluate(
            &PolicySet::parse(POLICIES_JSON).unwrap(),
            "SELECT id FROM orders",
            &Context::default(),
        );
        assert_eq!(out, native.to_json());
    }

    #[test]
    fn validate_answers_what_the_cli_prints() {
        let expected = r#"{"valid":true,"policies":4,"rules":7,"tables":3,"governed_tables":3}"#;
        if verdict_engine::READS_YAML {
            assert_eq!(validate_json_str(POLICIES_YAML), expected);
        }
        assert_eq!(validate_json_str(POLICIES_JSON), expected);
        let value: Json = serde_json::from_str(POLICIES_JSON).unwrap();
        assert_eq!(summary_json(&validate_value(&value).unwrap()), expected);
    }

    #[test]
    fn validate_lists_every_problem_with_positions() {
        let text = r#"{"policies":[{"id":"p1","rules":[
            {"type":"row_filter","table":"orders","predicate":"tenant_id =\n = 1"},
            {"type":"column_mask","table":"customers","column":"email","mask":{"kind":"scramble"}}]}]}"#;
        let out: Json = serde_json::from_str(&validate_json_str(text)).unwrap();
        let err = &out["error"];
        assert_eq!(err["code"], "invalid_policy");
        let problems = err["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 2, "{out}");
        assert_eq!(problems[0]["policy"], "p1");
        assert_eq!(problems[0]["rule_index"], 0);
        assert_eq!(problems[0]["field"], "rules[0].predicate");
        assert_eq!(problems[0]["line"], 2);
        assert!(problems[0]["column"].is_u64());
        assert_eq!(problems[1]["field"], "rules[1].mask.kind");
        // The value form reports the same error.
        let value: Json = serde_json::from_str(text).unwrap();
        assert_eq!(
            validate_value(&value).unwrap_err().to_json(),
            validate_json_str(text)
        );
    }

    #[test]
    fn bad_input_is_an_error_document_never_a_verdict() {
        let sql = "SELECT 1";
        assert_eq!(
            error_code(evaluate_json_str("{", sql, "", "")),
            "invalid_policy"
        );
        assert_eq!(
            error_code(evaluate_json_str(POLICIES_JSON, sql, "{\"user\": 3}", "")),
            "invalid_context"
        );
        assert_eq!(
            error_code(evaluate_json_str(POLICIES_JSON, sql, "[", "")),
            "invalid_context"
        );
        assert_eq!(
            error_code(evaluate_json_str(
                POLICIES_JSON,
                sql,
                "",
                "{\"dialect\":\"mysql\"}"
            )),
            "unsupported_dialect"
        );
        assert_eq!(
            error_code(evaluate_json_str(
                POLICIES_JSON,
                sql,
                "",
                "{\"pretty\":true}"
            )),
            "invalid_options"
        );
        assert_eq!(
            error_code(evaluate_json_str(POLICIES_JSON, sql, "", "[]")),
            "invalid_options"
        );
        assert_eq!(
            error_code(evaluate_json_str(POLICIES_JSON, sql, "", "{")),
            "invalid_options"
        );
        let set = PolicySet::parse(POLICIES_JSON).unwrap();
        assert_eq!(
            error_code(evaluate_prepared_json_str(&set, sql, "{\"roles\": \"x\"}")),
            "invalid_context"
        );
        // Options are checked first, as the CLI checks `--dialect` before reading files.
        assert_eq!(
            error_code(evaluate_json_str("{", sql, "", "{\"dialect\":\"mysql\"}")),
            "unsupported_dialect"
        );
    }

    #[test]
    fn yaml_without_the_feature_is_yaml_unsupported() {
        if verdict_engine::READS_YAML {
            return;
        }
        let sql = "SELECT 1";
        assert_eq!(
            error_code(evaluate_json_str(POLICIES_YAML, sql, "", "")),
            "yaml_unsupported"
        );
        assert_eq!(
            error_code(evaluate_json_str(POLICIES_JSON, sql, "user: alice", "")),
            "yaml_unsupported"
        );
        assert_eq!(
            error_code(validate_json_str(POLICIES_YAML)),
            "yaml_unsupported"
        );
    }

    /// The fixture suites of `verdict test`, as JSON (the package may read no YAML).
    fn suite_fixture(name: &str) -> String {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../cli/tests/fixtures/suite/");
        let text = std::fs::read_to_string(format!("{dir}{name}")).unwrap();
        let value: Json = serde_yaml_ng::from_str(&text).unwrap();
        value.to_string()
    }

    #[test]
    fn explain_row_and_who_sees_answer_the_engines_json() {
        let set = PolicySet::parse(POLICIES_JSON).unwrap();
        let request = serde_json::json!({"table": "orders", "row": {"id": 1, "tenant_id": 42},
            "context": serde_json::from_str::<Json>(CONTEXT).unwrap()});
        let native = verdict_engine::explain_row_json(&set, &request)
            .unwrap()
            .to_json();
        let policies = Json::String(POLICIES_JSON.into());
        assert_eq!(explain_row_value(&policies, &request), native);
        assert_eq!(
            explain_row_value(&policies, &Json::String(request.to_string())),
            native
        );
        assert_eq!(
            error_code(explain_row_value(&policies, &Json::String("{".into()))),
            "invalid_request"
        );
        assert_eq!(
            error_code(explain_row_value(&Json::String("{".into()), &request)),
            "invalid_policy"
        );
        let request = serde_json::json!({"table": "orders", "column": "id",
            "principals": [{"user": "a"}, serde_json::from_str::<Json>(CONTEXT).unwrap()]});
        let native = verdict_engine::who_sees_json(&set, &request)
            .unwrap()
            .to_json();
        assert_eq!(who_sees_value(&policies, &request), native);
        assert_eq!(
            error_code(who_sees_value(&policies, &serde_json::json!([]))),
            "invalid_request"
        );
    }

    #[test]
    fn run_tests_answers_the_engines_report() {
        let policies = suite_fixture("policies.yaml");
        let set = PolicySet::parse(&policies).unwrap();
        for name in ["real.yaml", "weak.json", "failing.yaml"] {
            let tests = suite_fixture(name);
            let s = Suite::parse(&tests).unwrap();
            let text = |t: &str| Json::String(t.into());
            assert_eq!(
                run_tests_value(&text(&policies), &text(&tests), &Json::Null),
                run_suite(&set, &s).to_json()
            );
            let mutated = run_suite_with_mutation(&set, &s).to_json();
            assert_eq!(
                run_tests_value(&text(&policies), &text(&tests), &text("{\"mutate\":true}")),
                mutated
            );
            // Objects give the bytes their JSON texts give.
            let object = |t: &str| serde_json::from_str::<Json>(t).unwrap();
            assert_eq!(
                run_tests_value(
                    &object(&policies),
                    &object(&tests),
                    &serde_json::json!({"mutate": true})
                ),
                mutated
            );
        }
    }

    /// The native reports that `wasm/tests/api.rs` compares `runTests` with, byte for
    /// byte, in Node and Chromium: `VERDICT_BLESS=1` rewrites the file from the native
    /// engine after a deliberate change.
    #[test]
    fn the_suite_reports_file_is_the_native_engines() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/suite_reports.json");
        let policies = suite_fixture("policies.yaml");
        let set = PolicySet::parse(&policies).unwrap();
        let mut reports = serde_json::Map::new();
        for name in ["real.yaml", "weak.json", "failing.yaml"] {
            let s = Suite::parse(&suite_fixture(name)).unwrap();
            reports.insert(
                name.to_string(),
                Json::String(run_suite_with_mutation(&set, &s).to_json()),
            );
        }
        let native = serde_json::to_string_pretty(&Json::Object(reports)).unwrap() + "\n";
        if std::env::var("VERDICT_BLESS").as_deref() == Ok("1") {
            std::fs::write(path, &native).unwrap();
        }
        let stored = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            stored == native,
            "{path} differs from the native reports; after a deliberate change run \
             VERDICT_BLESS=1 cargo test -p verdict-wasm --lib"
        );
    }

    #[test]
    fn run_tests_answers_bad_input_with_the_error_document() {
        let policies = Json::String(suite_fixture("policies.yaml"));
        let tests = Json::String(suite_fixture("real.yaml"));
        let code = |out: String| error_code(out);
        assert_eq!(
            code(run_tests_value(
                &Json::String("{".into()),
                &tests,
                &Json::Null
            )),
            "invalid_policy"
        );
        let unknown = serde_json::json!({"tests": [], "extra": 1});
        assert_eq!(
            code(run_tests_value(&policies, &unknown, &Json::Null)),
            "invalid_tests"
        );
        assert_eq!(
            code(run_tests_value(
                &policies,
                &tests,
                &serde_json::json!({"mutate": "yes"})
            )),
            "invalid_options"
        );
        assert_eq!(
            code(run_tests_value(
                &policies,
                &tests,
                &Json::String("{\"fast\":1}".into())
            )),
            "invalid_options"
        );
    }

    #[test]
    fn a_set_of_no_known_shape_says_which_shapes_are_accepted() {
        for value in [
            serde_json::json!({}),
            serde_json::json!({"polices": []}),
            serde_json::json!(3),
            Json::Null,
        ] {
            let err = policy_set(&value).unwrap_err();
            assert_eq!(err.code, "invalid_policy");
            assert!(
                err.message
                    .starts_with("expected an array of policies, {policies: [...]}"),
                "{}",
                err.message
            );
        }
        let err = policy_set(&serde_json::json!({})).unwrap_err();
        assert!(
            err.message.ends_with("got an empty object"),
            "{}",
            err.message
        );
        let err = policy_set(&serde_json::json!({"polices": []})).unwrap_err();
        assert!(err.message.contains("`polices`"), "{}", err.message);
        // The accepted shapes still load.
        let set: Json = serde_json::from_str(POLICIES_JSON).unwrap();
        assert!(policy_set(&set).is_ok());
        assert!(policy_set(&set["policies"]).is_ok());
        assert!(policy_set(&set["policies"][0]).is_ok());
    }

    #[test]
    fn a_context_text_that_is_json_but_no_object_is_invalid_context() {
        let twice = serde_json::to_string(CONTEXT).unwrap();
        let err = context_text(&twice).unwrap_err();
        assert_eq!(err.code, "invalid_context");
        assert!(
            err.message.contains("JSON-encoded twice"),
            "{}",
            err.message
        );
        for text in ["42", "true", "\"1970-01-01T00:00:00.000Z\"", "[1]"] {
            assert_eq!(
                context_text(text).unwrap_err().code,
                "invalid_context",
                "{text}"
            );
        }
        assert_eq!(
            error_code(evaluate_json_str(POLICIES_JSON, "SELECT 1", &twice, "")),
            "invalid_context"
        );
        let set = PolicySet::parse(POLICIES_JSON).unwrap();
        assert_eq!(
            error_code(evaluate_prepared_json_str(&set, "SELECT 1", &twice)),
            "invalid_context"
        );
        if !verdict_engine::READS_YAML {
            assert_eq!(
                context_text("user: alice").unwrap_err().code,
                "yaml_unsupported"
            );
        }
        assert!(context_text(CONTEXT).is_ok());
    }

    #[test]
    fn the_dialect_option_reaches_the_policy_set() {
        for name in ["postgres", "PostgreSQL"] {
            let d = options(&serde_json::json!({ "dialect": name })).unwrap();
            assert_eq!(d, Dialect::Postgres);
        }
        assert_eq!(options(&Json::Null).unwrap(), Dialect::Postgres);
        assert_eq!(options_str("").unwrap(), Dialect::Postgres);
        let v = evaluate_value(
            &serde_json::json!({"policies": []}),
            "SELECT 1",
            &Json::Null,
            &serde_json::json!({"dialect": "postgresql"}),
        )
        .unwrap();
        assert_eq!(v.verdict, verdict_engine::Decision::Allow);
    }

    #[test]
    fn the_unsupported_dialect_message_is_the_clis() {
        let err = options(&serde_json::json!({"dialect": "mysql"})).unwrap_err();
        assert_eq!(
            err.message,
            "dialect `mysql` is not supported; use postgres or postgresql"
        );
    }
}
