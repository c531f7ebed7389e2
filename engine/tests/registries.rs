//! The closed sets the engine answers with (error codes, problem kinds, verdicts) are
//! written once: each name serializes as the registry says, reads back to the same value,
//! and every problem kind is one a real input produces.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers fail loudly on broken fixtures

use serde_json::{json, Value};
use verdict_engine::{
    evaluate, Context, ErrorCode, InputError, PolicySet, ProblemKind, Verdict, VerdictRule,
};

#[test]
fn error_codes_serialize_as_their_names() {
    for code in ErrorCode::ALL {
        let v = serde_json::to_value(code).unwrap();
        assert_eq!(v, json!(code.as_str()));
        assert_eq!(serde_json::from_value::<ErrorCode>(v).unwrap(), code);
        assert_eq!(code.to_string(), code.as_str());
    }
    let mut names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ErrorCode::ALL.len(), "two codes share a name");
}

#[test]
fn problem_kinds_serialize_as_their_names() {
    for kind in ProblemKind::ALL {
        let v = serde_json::to_value(kind).unwrap();
        assert_eq!(v, json!(kind.as_str()));
        assert_eq!(serde_json::from_value::<ProblemKind>(v).unwrap(), kind);
    }
}

/// The kinds of the problems of a policy set text.
fn kinds(text: &str) -> Vec<ProblemKind> {
    let err = PolicySet::parse(text).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidPolicy, "{err:?}");
    err.problems.iter().map(|p| p.kind).collect()
}

#[test]
fn every_problem_kind_comes_from_a_real_input() {
    let catalog = r#""catalog": {"tables": [{"name": "t", "columns": ["a", {"name": "d", "type": "text"}]}]}"#;
    let cases: [(ProblemKind, String); 8] = [
        (ProblemKind::Syntax, r#"{"policies": [}"#.into()),
        (
            ProblemKind::UnknownField,
            r#"{"policies": [{"id": "p", "rulez": []}]}"#.into(),
        ),
        (
            ProblemKind::Missing,
            r#"{"policies": [{"id": "p", "rules": [{"type": "row_filter", "table": "t"}]}]}"#
                .into(),
        ),
        (
            ProblemKind::WrongType,
            r#"{"policies": [{"id": "p", "priority": "high"}]}"#.into(),
        ),
        (
            ProblemKind::InvalidValue,
            r#"{"policies": [{"id": "p", "mode": "audit"}]}"#.into(),
        ),
        (
            ProblemKind::Duplicate,
            r#"{"policies": [{"id": "p"}, {"id": "p"}]}"#.into(),
        ),
        (
            ProblemKind::Predicate,
            r#"{"policies": [{"id": "p", "rules": [{"type": "row_filter", "table": "t", "predicate": "a = = 1"}]}]}"#
                .into(),
        ),
        (
            ProblemKind::Catalog,
            format!(
                r#"{{{catalog}, "policies": [{{"id": "p", "rules": [{{"type": "column_mask", "table": "t", "column": "zz", "mask": "redact"}}]}}]}}"#
            ),
        ),
    ];
    for (kind, text) in &cases {
        assert_eq!(kinds(text), vec![*kind], "{text}");
    }
    let listed: Vec<ProblemKind> = cases.iter().map(|(k, _)| *k).collect();
    assert_eq!(listed, ProblemKind::ALL.to_vec(), "a kind without an input");
}

#[test]
fn input_errors_read_back() {
    let err = PolicySet::parse(r#"{"policies": [{"id": "p", "mode": 1}]}"#).unwrap_err();
    let text = err.to_json();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let back: InputError = serde_json::from_value(doc["error"].clone()).unwrap();
    assert_eq!(back, err);
}

#[test]
fn verdicts_read_back() {
    let set = PolicySet::parse(
        r#"{"policies": [{"id": "p", "rules": [
            {"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant"},
            {"type": "column_mask", "table": "orders", "column": "email", "mask": "redact"},
            {"type": "deny", "table": "secrets"}
        ]}, {"id": "m", "mode": "monitor", "rules": [{"type": "deny", "table": "orders", "columns": ["note"]}]}]}"#,
    )
    .unwrap();
    let ctx = Context::from_json(&json!({"user": "u", "attributes": {"tenant": 7}})).unwrap();
    let mut rules = Vec::new();
    for sql in [
        "SELECT id, email, note FROM orders",
        "SELECT * FROM secrets",
        "SELEC nonsense",
        "SELECT 1",
    ] {
        let verdict = evaluate(&set, sql, &ctx);
        let text = verdict.to_json();
        let back: Verdict = serde_json::from_str(&text).unwrap();
        assert_eq!(back, verdict, "{sql}");
        assert_eq!(back.to_json(), text);
        rules.push(back.rule);
    }
    assert!(rules.contains(&VerdictRule::Deny), "{rules:?}");
}
