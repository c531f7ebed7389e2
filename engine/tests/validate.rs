//! Validation reports every problem at once, located by policy, rule, field and, inside a
//! predicate, line and column; and never half-loads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers fail loudly on broken fixtures

use verdict_engine::PolicySet;

const BAD: &str = r#"{
  "catalog": { "tables": [
    { "name": "orders", "columns": [ {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"} ] },
    { "name": "orders", "columns": [] },
    { "name": "people", "columns": [ {"name": "born", "type": "not a type"}, {"name": "email", "type": "text"} ] }
  ]},
  "policies": [
    { "id": "a", "priority": "high", "mode": "audit", "rules": [
      { "type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id AND\n  region = ctx.bogus" },
      { "type": "row_filter", "table": "orders", "predicate": "tenant_id = = 1" },
      { "type": "column_mask", "table": "people", "column": "email", "mask": {"kind": "scramble"} },
      { "type": "column_mask", "table": "people", "column": "email", "mask": {"kind": "partial", "show_last": -1, "pad": "**"} },
      { "type": "deny", "table": "nowhere" },
      { "type": "deny", "table": "orders", "columns": ["secret"], "operations": ["select", "truncate"] },
      { "type": "grant", "table": "orders" }
    ]},
    { "id": "a", "rules": [], "apply_to": {"roles": ["x"]} },
    { "name": "no id" }
  ]
}"#;

#[test]
fn every_problem_is_listed_with_its_place() {
    let err = PolicySet::parse(BAD).unwrap_err();
    assert_eq!(err.code, "invalid_policy");
    let doc: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
    insta::assert_json_snapshot!("bad_policy_set", doc);
    // Predicate problems carry positions inside the predicate.
    let region = err
        .problems
        .iter()
        .find(|p| p.message.contains("region"))
        .unwrap();
    assert_eq!(
        (region.rule_index, region.line, region.column),
        (Some(0), Some(2), Some(3))
    );
    let syntax = err
        .problems
        .iter()
        .find(|p| p.rule_index == Some(1))
        .unwrap();
    assert_eq!((syntax.line, syntax.column), (Some(1), Some(13)));
    assert!(err.problems.len() >= 14, "{}", err.problems.len());
}

#[test]
fn the_three_file_shapes_and_yaml_load() {
    let one = r#"{"id": "p", "rules": [{"type": "deny", "table": "t"}]}"#;
    let array = format!("[{one}]");
    let set = format!("{{\"policies\": [{one}]}}");
    let yaml = "policies:\n  - id: p\n    rules:\n      - type: deny\n        table: t\n";
    for text in [one, array.as_str(), set.as_str(), yaml] {
        let s = PolicySet::parse(text).unwrap();
        assert_eq!(s.policies.len(), 1);
        assert_eq!(s.policies[0].id, "p");
        assert!(s.policies[0].enabled);
        assert_eq!(s.policies[0].priority, 0);
    }
}

#[test]
fn syntax_errors_have_file_positions() {
    let err = PolicySet::parse("{\n  \"policies\": [,]\n}").unwrap_err();
    assert_eq!(
        (err.problems[0].line, err.problems[0].column),
        (Some(2), Some(16))
    );
    let err = PolicySet::parse("policies:\n  - id: [unclosed\n").unwrap_err();
    assert!(err.problems[0].line.is_some());
}

/// `full` is read as `redact`, in the short and the object form, and reported as `redact`.
#[test]
fn full_mask_is_redact() {
    let ctx = verdict_engine::Context::from_json_str(r#"{"user":"u"}"#).unwrap();
    for mask in [r#""full""#, r#"{"kind": "full", "replacement": "xx"}"#] {
        let text = format!(
            r#"{{"catalog": {{"tables": [{{"name": "t", "columns": [{{"name": "c", "type": "text"}}]}}]}},
                "policies": [{{"id": "m", "rules": [
                {{"type": "column_mask", "table": "t", "column": "c", "mask": {mask}}}]}}]}}"#
        );
        let set = verdict_engine::PolicySet::parse(&text).unwrap();
        let v = verdict_engine::evaluate(&set, "SELECT c FROM t", &ctx);
        assert_eq!(v.masked_columns.len(), 1, "{}", v.to_json());
        assert_eq!(v.masked_columns[0].kind, "redact");
        let expected = if mask.contains("xx") {
            "'xx'"
        } else {
            "'****'"
        };
        assert!(
            v.rewritten_sql.as_deref().unwrap_or("").contains(expected),
            "{}",
            v.to_json()
        );
    }
    let bad = verdict_engine::PolicySet::parse(
        r#"{"policies": [{"id": "m", "rules": [
            {"type": "column_mask", "table": "t", "column": "c", "mask": "fulll"}]}]}"#,
    );
    assert!(bad.is_err());
}

/// A `data_retention` rule needs a date or timestamp column and a period such as `90 days`;
/// each problem names its field.
#[test]
fn data_retention_is_validated() {
    let set = |rule: &str| {
        verdict_engine::PolicySet::parse(&format!(
            r#"{{"catalog": {{"tables": [{{"name": "t", "columns": [
                {{"name": "at", "type": "timestamptz"}}, {{"name": "label", "type": "text"}}]}}]}},
              "policies": [{{"id": "r", "rules": [{rule}]}}]}}"#
        ))
    };
    let ok = set(r#"{"type": "data_retention", "table": "t", "column": "at", "keep": "1 year"}"#)
        .unwrap();
    assert_eq!(ok.policies[0].rules[0].type_name(), "data_retention");
    for (rule, field, words) in [
        (
            r#"{"type": "data_retention", "table": "t", "column": "at", "keep": "ninety days"}"#,
            "rules[0].keep",
            "whole number",
        ),
        (
            r#"{"type": "data_retention", "table": "t", "column": "at", "keep": "0 days"}"#,
            "rules[0].keep",
            "between 1",
        ),
        (
            r#"{"type": "data_retention", "table": "t", "column": "at", "keep": "3 fortnights"}"#,
            "rules[0].keep",
            "unit",
        ),
        (
            r#"{"type": "data_retention", "table": "t", "column": "at"}"#,
            "rules[0].keep",
            "needs `keep`",
        ),
        (
            r#"{"type": "data_retention", "table": "t", "column": "label", "keep": "1 day"}"#,
            "rules[0].column",
            "date or a timestamp",
        ),
        (
            r#"{"type": "data_retention", "table": "t", "column": "nope", "keep": "1 day"}"#,
            "rules[0].column",
            "not in the catalog",
        ),
        (
            r#"{"type": "data_retention", "table": "t", "column": "at", "keep": "1 day", "predicate": "x"}"#,
            "rules[0].predicate",
            "unknown",
        ),
    ] {
        let err = set(rule).unwrap_err();
        let json = serde_json::to_string(&err).unwrap();
        assert!(
            json.contains(&format!("\"field\":\"{field}\"")) && json.contains(words),
            "{rule}: {json}"
        );
    }
}

/// A predicate longer than the bound is a problem at its field, not a 400 KB filter in
/// every rewritten statement.
#[test]
fn oversized_predicates_are_refused() {
    let max = verdict_engine::policy::MAX_PREDICATE_CHARS;
    let long = format!("id IN ({})", vec!["1"; max / 2].join(","));
    assert!(long.chars().count() > max);
    let err = PolicySet::parse(&format!(
        r#"{{"policies": [{{"id": "p", "rules": [{{"type": "row_filter", "table": "t", "predicate": "{long}"}}]}}]}}"#
    ))
    .unwrap_err();
    let json = serde_json::to_string(&err).unwrap();
    assert!(
        json.contains("rules[0].predicate") && json.contains("at most 16384"),
        "{}",
        &json[..300.min(json.len())]
    );
    let fits = format!("id IN ({})", vec!["1"; max / 4].join(","));
    assert!(PolicySet::parse(&format!(
        r#"{{"policies": [{{"id": "p", "rules": [{{"type": "row_filter", "table": "t", "predicate": "{fits}"}}]}}]}}"#
    ))
    .is_ok());
}

#[test]
fn foreign_keys_are_validated() {
    let set = |fks: &str| {
        PolicySet::parse(&format!(
            r#"{{"catalog": {{"tables": [
              {{"name": "p", "columns": ["id"]}},
              {{"name": "c", "columns": ["id", "p_id"], "foreign_keys": {fks}}}]}},
              "policies": []}}"#
        ))
    };
    assert!(set(r#"[{"columns": ["p_id"], "references": "p", "referenced_columns": ["id"], "on_delete": "SET NULL", "on_update": "set_default"}]"#).is_ok());
    assert!(set(r#"[{"columns": ["p_id"], "references": "elsewhere.p"}]"#).is_ok());
    for (fks, field, says) in [
        (
            r#"{}"#,
            "catalog.tables[1].foreign_keys",
            "must be an array",
        ),
        (
            r#"[1]"#,
            "catalog.tables[1].foreign_keys[0]",
            "a foreign key is",
        ),
        (
            r#"[{"references": "p"}]"#,
            "catalog.tables[1].foreign_keys[0].columns",
            "non-empty array",
        ),
        (
            r#"[{"columns": [], "references": "p"}]"#,
            "catalog.tables[1].foreign_keys[0].columns",
            "non-empty array",
        ),
        (
            r#"[{"columns": ["nope"], "references": "p"}]"#,
            "catalog.tables[1].foreign_keys[0].columns",
            "column `nope` is not in the catalog",
        ),
        (
            r#"[{"columns": ["p_id"]}]"#,
            "catalog.tables[1].foreign_keys[0].references",
            "needs the name",
        ),
        (
            r#"[{"columns": ["p_id"], "references": "a.b.c"}]"#,
            "catalog.tables[1].foreign_keys[0].references",
            "",
        ),
        (
            r#"[{"columns": ["p_id"], "references": "p", "on_delete": "explode"}]"#,
            "catalog.tables[1].foreign_keys[0].on_delete",
            "unknown action `explode`",
        ),
        (
            r#"[{"columns": ["p_id"], "references": "p", "on_update": true}]"#,
            "catalog.tables[1].foreign_keys[0].on_update",
            "must be a string",
        ),
        (
            r#"[{"columns": ["p_id"], "references": "p", "referenced_columns": ["id", "x"]}]"#,
            "catalog.tables[1].foreign_keys[0].referenced_columns",
            "2 referenced columns",
        ),
        (
            r#"[{"columns": ["p_id"], "references": "p", "referenced_columns": ["x"]}]"#,
            "catalog.tables[1].foreign_keys[0].referenced_columns",
            "column `x` is not in the catalog for table `public.p`",
        ),
        (
            r#"[{"columns": ["p_id"], "references": "p", "match": "full"}]"#,
            "catalog.tables[1].foreign_keys[0].match",
            "unknown field",
        ),
    ] {
        let Err(err) = set(fks) else {
            panic!("{fks}: accepted")
        };
        let found = err
            .problems
            .iter()
            .find(|p| p.field == field)
            .unwrap_or_else(|| panic!("{fks}: no problem at {field}: {}", err.to_json()));
        assert!(found.message.contains(says), "{fks}: {}", found.message);
    }
}
