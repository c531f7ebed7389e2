//! The JSON Schema of policy sets (`schema/policy-set.schema.json`) names the same closed
//! sets as the engine: a kind, operation, statement kind or mode added to one and not the
//! other fails here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers fail loudly on broken fixtures

use serde_json::Value;
use verdict_engine::policy::{Mask, MaskKind, Operation, StatementKind};

fn schema() -> Value {
    serde_json::from_str(include_str!("../../schema/policy-set.schema.json")).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = names.into_iter().map(str::to_string).collect();
    out.sort();
    out
}

#[test]
fn mask_kinds_agree() {
    let s = schema();
    let mask = &s["$defs"]["columnMask"]["properties"]["mask"]["oneOf"];
    let synonyms = MaskKind::SYNONYMS.map(|(n, _)| n);
    let object_kinds = strings(&mask[1]["properties"]["kind"]["enum"]);
    assert_eq!(
        object_kinds,
        sorted(Mask::KINDS.into_iter().chain(synonyms))
    );
    // The short form is every kind (and synonym) without parameters of its own.
    let short = strings(&mask[0]["enum"]);
    assert_eq!(
        short,
        sorted(
            Mask::KINDS
                .into_iter()
                .chain(synonyms)
                .filter(|k| *k != "constant")
        )
    );
}

#[test]
fn operations_and_statement_kinds_agree() {
    let s = schema();
    assert_eq!(
        strings(&s["$defs"]["deny"]["properties"]["operations"]["items"]["enum"]),
        sorted(Operation::ALL.iter().map(|(n, _)| *n))
    );
    assert_eq!(
        strings(&s["$defs"]["queryRestriction"]["properties"]["statements"]["items"]["enum"]),
        sorted(StatementKind::ALL.iter().map(|(n, _)| *n))
    );
}

#[test]
fn rule_types_agree() {
    let s = schema();
    let mut types: Vec<String> = s["$defs"]["rule"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r["$ref"].as_str().unwrap().trim_start_matches("#/$defs/");
            s["$defs"][name]["properties"]["type"]["const"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        sorted(verdict_engine::policy::RuleType::ALL.map(|(n, _)| n))
    );
    // Each type the schema names loads; a type it does not name is refused by the engine.
    for t in &types {
        let set = format!(r#"{{"policies":[{{"id":"p","rules":[{{"type":"{t}"}}]}}]}}"#);
        if let Err(e) = verdict_engine::PolicySet::parse(&set) {
            let err = format!("{e:?}");
            assert!(!err.contains("unknown rule type"), "{t}: {err}");
        }
    }
    let err = verdict_engine::PolicySet::parse(
        r#"{"policies":[{"id":"p","rules":[{"type":"row_filtr"}]}]}"#,
    )
    .unwrap_err();
    let err = format!("{err:?}");
    assert!(err.contains("unknown rule type"), "{err}");
    assert_eq!(types.len(), 6);
}

#[test]
fn foreign_key_actions_agree() {
    let s = schema();
    assert_eq!(
        strings(&s["$defs"]["foreignKeyAction"]["enum"]),
        sorted(verdict_engine::catalog::ForeignKeyAction::ALL.map(|(n, _)| n))
    );
}

#[test]
fn modes_agree() {
    let s = schema();
    assert_eq!(
        strings(&s["$defs"]["policy"]["properties"]["mode"]["enum"]),
        sorted(verdict_engine::policy::Mode::ALL.map(|m| m.as_str()))
    );
}
