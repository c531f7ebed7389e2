//! The wasm-bindgen exports: JS values in, JS values out, nothing else.
//!
//! JS objects reach the engine as the `serde_json::Value` of their `JSON.stringify` text, so
//! field order and numbers are exactly what the JSON form (and the native CLI) would see;
//! answers go back as plain JS objects (serde-wasm-bindgen, `Serializer::json_compatible`). Input errors of the object forms are thrown as JS
//! `Error`s named `VerdictError` carrying `code`, `message` and `problems`; the JSON
//! forms never throw and answer the `{"error": {...}}` document instead. The TypeScript
//! definitions are hand-written (`js/verdict_wasm.d.ts`), so nothing here emits any.

use js_sys::{Error, Reflect, JSON};
use serde::Serialize;
use serde_json::Value as Json;
use verdict_engine::{evaluate as engine_evaluate, ErrorCode, InputError, PolicySet};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::api;

/// Reads a JS value as JSON exactly as `JSON.parse(JSON.stringify(value))` would see it
/// (`toJSON`, `NaN` → `null`, dropped `undefined` fields), parsed by serde_json as native
/// text is: so an object gives the bytes its `JSON.stringify` text gives. Cycles and
/// `BigInt`s are errors rather than a trap. A string stays a string (a text to parse);
/// `undefined` and `null` become `Json::Null`.
fn json_of(value: JsValue, code: ErrorCode, what: &str) -> Result<Json, InputError> {
    if value.is_undefined() || value.is_null() {
        return Ok(Json::Null);
    }
    if let Some(text) = value.as_string() {
        return Ok(Json::String(text));
    }
    let text = JSON::stringify(&value).map_err(|e| {
        let reason = e
            .dyn_ref::<Error>()
            .map(|e| String::from(e.message()))
            .unwrap_or_default();
        InputError::new(code, format!("{what} cannot be written as JSON: {reason}"))
    })?;
    let Some(text) = text.as_string() else {
        return Err(InputError::new(code, format!("{what} is not a JSON value")));
    };
    let json: Json = serde_json::from_str(&text)
        .map_err(|e| InputError::new(code, format!("{what} is not a JSON value: {e}")))?;
    if let Json::String(_) = json {
        // Not a JS string, yet written as one: a Date, or an object with a `toJSON`. Read as
        // text it would be parsed as a document; it is neither an object nor a text.
        let kind = value
            .dyn_ref::<js_sys::Object>()
            .map(|o| String::from(o.constructor().name()))
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| String::from("value"));
        return Err(InputError::new(
            code,
            format!(
                "{what} must be an object or its JSON text; got a {kind}, which JSON.stringify \
                 writes as a string"
            ),
        ));
    }
    Ok(json)
}

/// Reads a JS value that must be a string (the SQL, or a JSON text).
fn string_of(value: &JsValue, what: &str) -> Result<String, InputError> {
    value.as_string().ok_or_else(|| {
        InputError::new(
            ErrorCode::InvalidArguments,
            format!("`{what}` must be a string"),
        )
    })
}

/// Reads an optional JSON text argument: `undefined` and `null` are the empty text.
fn optional_text(value: &JsValue, what: &str) -> Result<String, InputError> {
    if value.is_undefined() || value.is_null() {
        Ok(String::new())
    } else {
        string_of(value, what)
    }
}

/// A plain JS object (not a `Map`) for a serializable answer.
fn js_of<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| {
            thrown(InputError::new(
                ErrorCode::InternalError,
                format!("the answer could not be converted: {e}"),
            ))
        })
}

/// The `VerdictError` thrown for an input error: an `Error` with `code`, `message` and,
/// for policy sets, `problems`.
fn thrown(err: InputError) -> JsValue {
    let error = Error::new(&err.message);
    error.set_name("VerdictError");
    // `Reflect::set` on a fresh, extensible Error object cannot fail.
    let _ = Reflect::set(&error, &"code".into(), &err.code.as_str().into());
    if !err.problems.is_empty() {
        let problems = err
            .problems
            .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .unwrap_or(JsValue::UNDEFINED);
        let _ = Reflect::set(&error, &"problems".into(), &problems);
    }
    error.into()
}

fn policy_set_of(value: JsValue) -> Result<PolicySet, InputError> {
    api::policy_set(&json_of(value, ErrorCode::InvalidPolicy, "the policy set")?)
}

/// `evaluate(policySet, sql, context?, options?)`: the verdict as an object; throws a
/// `VerdictError` for bad input.
#[wasm_bindgen(js_name = evaluate, skip_typescript)]
pub fn evaluate(
    policy_set: JsValue,
    sql: JsValue,
    context: JsValue,
    options: JsValue,
) -> Result<JsValue, JsValue> {
    let run = || -> Result<_, InputError> {
        let options = json_of(options, ErrorCode::InvalidOptions, "the options")?;
        let policy_set = json_of(policy_set, ErrorCode::InvalidPolicy, "the policy set")?;
        let sql = string_of(&sql, "sql")?;
        let context = json_of(context, ErrorCode::InvalidContext, "the context")?;
        api::evaluate_value(&policy_set, &sql, &context, &options)
    };
    run().map_err(thrown).and_then(|v| js_of(&v))
}

/// `evaluateJson(policySetJson, sql, contextJson?, optionsJson?)`: the verdict JSON, or
/// the `{"error": {...}}` document; never throws.
#[wasm_bindgen(js_name = evaluateJson, skip_typescript)]
pub fn evaluate_json(
    policy_set_json: JsValue,
    sql: JsValue,
    context_json: JsValue,
    options_json: JsValue,
) -> String {
    let texts = || -> Result<_, InputError> {
        Ok((
            string_of(&policy_set_json, "policySetJson")?,
            string_of(&sql, "sql")?,
            optional_text(&context_json, "contextJson")?,
            optional_text(&options_json, "optionsJson")?,
        ))
    };
    match texts() {
        Ok((p, s, c, o)) => api::evaluate_json_str(&p, &s, &c, &o),
        Err(err) => err.to_json(),
    }
}

/// `validate(policySet)`: the summary `{valid: true, …}`, or `{error: {code, message,
/// problems}}` with every problem; never throws.
#[wasm_bindgen(js_name = validate, skip_typescript)]
pub fn validate(policy_set: JsValue) -> Result<JsValue, JsValue> {
    match policy_set_of(policy_set) {
        Ok(set) => js_of(&api::summary(&set)),
        Err(err) => js_of(&serde_json::json!({ "error": err })),
    }
}

/// `validateJson(policySetJson)`: what `verdict validate` prints; never throws.
#[wasm_bindgen(js_name = validateJson, skip_typescript)]
pub fn validate_json(policy_set_json: JsValue) -> String {
    match string_of(&policy_set_json, "policySetJson") {
        Ok(text) => api::validate_json_str(&text),
        Err(err) => err.to_json(),
    }
}

/// `runTests(policySet, tests, options?)`: runs a policy test suite and answers the report
/// JSON (cases, mismatches, coverage; mutation with `{"mutate": true}`), or the
/// `{"error": {...}}` document; never throws. Each argument is a JSON text or an object.
#[wasm_bindgen(js_name = runTests, skip_typescript)]
pub fn run_tests(policy_set: JsValue, tests: JsValue, options: JsValue) -> String {
    let inputs = || -> Result<_, InputError> {
        Ok((
            json_of(policy_set, ErrorCode::InvalidPolicy, "the policy set")?,
            json_of(tests, ErrorCode::InvalidTests, "the test suite")?,
            json_of(options, ErrorCode::InvalidOptions, "the options")?,
        ))
    };
    match inputs() {
        Ok((p, t, o)) => api::run_tests_value(&p, &t, &o),
        Err(err) => err.to_json(),
    }
}

/// `explainRow(policySet, request)`: why a row is visible or hidden (request `{table, row,
/// context?, key?}`): the explanation JSON, or the `{"error": {...}}` document; never
/// throws. Each argument is a JSON text or an object.
#[wasm_bindgen(js_name = explainRow, skip_typescript)]
pub fn explain_row(policy_set: JsValue, request: JsValue) -> String {
    let inputs = || -> Result<_, InputError> {
        Ok((
            json_of(policy_set, ErrorCode::InvalidPolicy, "the policy set")?,
            json_of(request, ErrorCode::InvalidRequest, "the request")?,
        ))
    };
    match inputs() {
        Ok((p, r)) => api::explain_row_value(&p, &r),
        Err(err) => err.to_json(),
    }
}

/// `whoSees(policySet, request)`: how each principal sees a column (request `{table,
/// column, principals}`): the report JSON, or the `{"error": {...}}` document; never
/// throws. Each argument is a JSON text or an object.
#[wasm_bindgen(js_name = whoSees, skip_typescript)]
pub fn who_sees(policy_set: JsValue, request: JsValue) -> String {
    let inputs = || -> Result<_, InputError> {
        Ok((
            json_of(policy_set, ErrorCode::InvalidPolicy, "the policy set")?,
            json_of(request, ErrorCode::InvalidRequest, "the request")?,
        ))
    };
    match inputs() {
        Ok((p, r)) => api::who_sees_value(&p, &r),
        Err(err) => err.to_json(),
    }
}

/// `version()`: the package version.
#[wasm_bindgen(js_name = version, skip_typescript)]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// A policy set validated once, for evaluating many statements.
#[wasm_bindgen(js_name = PolicyEngine, skip_typescript)]
pub struct PolicyEngine {
    set: PolicySet,
}

#[wasm_bindgen(js_class = PolicyEngine)]
impl PolicyEngine {
    /// `new PolicyEngine(policySet, options?)`: loads and validates; throws a
    /// `VerdictError` listing every problem.
    #[wasm_bindgen(constructor)]
    pub fn new(policy_set: JsValue, options: JsValue) -> Result<PolicyEngine, JsValue> {
        let run = || -> Result<_, InputError> {
            let dialect =
                api::options(&json_of(options, ErrorCode::InvalidOptions, "the options")?)?;
            let mut set = policy_set_of(policy_set)?;
            set.dialect = dialect;
            Ok(set)
        };
        run().map(|set| PolicyEngine { set }).map_err(thrown)
    }

    /// `engine.evaluate(sql, context?)`: the verdict as an object; throws a `VerdictError`
    /// for a bad context.
    pub fn evaluate(&self, sql: JsValue, context: JsValue) -> Result<JsValue, JsValue> {
        let run = || -> Result<_, InputError> {
            let sql = string_of(&sql, "sql")?;
            let ctx = api::context(&json_of(context, ErrorCode::InvalidContext, "the context")?)?;
            Ok(engine_evaluate(&self.set, &sql, &ctx))
        };
        run().map_err(thrown).and_then(|v| js_of(&v))
    }

    /// `engine.evaluateJson(sql, contextJson?)`: the verdict JSON, or the error document.
    #[wasm_bindgen(js_name = evaluateJson)]
    pub fn evaluate_json(&self, sql: JsValue, context_json: JsValue) -> String {
        let texts = || -> Result<_, InputError> {
            Ok((
                string_of(&sql, "sql")?,
                optional_text(&context_json, "contextJson")?,
            ))
        };
        match texts() {
            Ok((s, c)) => api::evaluate_prepared_json_str(&self.set, &s, &c),
            Err(err) => err.to_json(),
        }
    }

    /// `engine.summary()`: what `validate` answers for this set.
    pub fn summary(&self) -> Result<JsValue, JsValue> {
        js_of(&api::summary(&self.set))
    }
}
