//! The API's policy model (`verdict-api-model`, which the OpenAPI document is generated
//! from) names the same closed sets as the engine that loads the policies: a statement
//! kind, operation, mask kind or mode added to one and not the other fails here.

use serde_json::Value;
use utoipa::PartialSchema;

/// The `enum` values of a schema generated for a fieldless enum, sorted.
fn schema_names<T: PartialSchema>() -> Vec<String> {
    let schema = serde_json::to_value(T::schema()).unwrap_or(Value::Null);
    let mut names: Vec<String> = schema
        .get("enum")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = names.into_iter().map(str::to_string).collect();
    out.sort();
    out
}

#[test]
fn statement_kinds_and_operations_agree() {
    use verdict_engine::policy::{Operation, StatementKind};
    assert_eq!(
        schema_names::<verdict_api_model::StatementKind>(),
        sorted(StatementKind::ALL.iter().map(|(n, _)| *n))
    );
    assert_eq!(
        schema_names::<verdict_api_model::Operation>(),
        sorted(Operation::ALL.iter().map(|(n, _)| *n))
    );
}

#[test]
fn mask_kinds_and_modes_agree() {
    // The short form names every kind but `constant`, which needs its value.
    assert_eq!(
        schema_names::<verdict_api_model::MaskKind>(),
        sorted(
            verdict_engine::policy::Mask::KINDS
                .into_iter()
                .filter(|k| *k != "constant")
        )
    );
    assert_eq!(
        schema_names::<verdict_api_model::Mode>(),
        sorted(["enforce", "monitor"])
    );
    for mode in [
        verdict_engine::policy::Mode::Enforce,
        verdict_engine::policy::Mode::Monitor,
    ] {
        assert!(schema_names::<verdict_api_model::Mode>().contains(&mode.as_str().to_string()));
    }
}

#[test]
fn bounds_agree() {
    // A predicate the API accepts loads in the engine, and the other way round.
    assert_eq!(
        verdict_api_model::policy::MAX_PREDICATE_CHARS,
        verdict_engine::policy::MAX_PREDICATE_CHARS
    );
}
