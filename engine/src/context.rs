//! The caller's context (SPEC §2) and its substitution into predicates as typed literals.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value as Json;

use sqlparser::ast::Expr;

use crate::error::{ErrorCode, InputError};
use crate::literal;
use crate::policy::{CtxRef, Predicate, ReplaceCtxRefs, Slot};

/// Who runs the statement, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Context {
    pub user: Option<String>,
    pub roles: Vec<String>,
    pub attributes: BTreeMap<String, Json>,
    pub purpose: Option<String>,
    pub workspace: Option<String>,
    pub data_source: Option<String>,
    pub break_glass: bool,
    /// The dataset the statement reads, for policies scoped by `applies_to.datasets`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// The saved query's id, for policies scoped by `applies_to.queries`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
}

const FIELDS: &[&str] = &[
    "user",
    "roles",
    "attributes",
    "purpose",
    "workspace",
    "data_source",
    "break_glass",
    "dataset",
    "query_id",
];

impl Context {
    /// Reads a context from JSON text.
    pub fn from_json_str(text: &str) -> Result<Self, InputError> {
        let value: Json = serde_json::from_str(text).map_err(|e| {
            InputError::new(
                ErrorCode::InvalidContext,
                format!(
                    "context is not valid JSON: {e} (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        Self::from_json_value(value)
    }

    /// Reads a context from JSON or YAML text (JSON when it starts with `{`); without the
    /// `yaml` feature other text is the error `yaml_unsupported`.
    pub fn from_str_any(text: &str) -> Result<Self, InputError> {
        if text.trim_start().starts_with('{') || text.trim().is_empty() {
            return Self::from_json_str(if text.trim().is_empty() { "{}" } else { text });
        }
        #[cfg(feature = "yaml")]
        {
            let value: Json = serde_yaml_ng::from_str(text).map_err(|e| {
                InputError::new(
                    ErrorCode::InvalidContext,
                    format!("context is not valid YAML: {e}"),
                )
            })?;
            Self::from_json_value(value)
        }
        // Without YAML, a JSON array is still JSON (a wrong one: `invalid_context`).
        #[cfg(not(feature = "yaml"))]
        if text.trim_start().starts_with('[') {
            Self::from_json_str(text)
        } else {
            Err(InputError::yaml_unsupported("the context"))
        }
    }

    /// Reads a context from a JSON value, reporting every problem at once.
    pub fn from_json(value: &Json) -> Result<Self, InputError> {
        Self::from_json_value(value.clone())
    }

    /// [`Context::from_json`], taking the value (its strings move into the context).
    pub fn from_json_value(value: Json) -> Result<Self, InputError> {
        let Json::Object(obj) = value else {
            return Err(InputError::new(
                ErrorCode::InvalidContext,
                "context must be a JSON object",
            ));
        };
        let mut problems = Vec::new();
        let mut ctx = Context::default();
        for (key, v) in obj {
            match key.as_str() {
                "user" | "purpose" | "workspace" | "data_source" | "dataset" | "query_id" => {
                    let slot = match key.as_str() {
                        "user" => &mut ctx.user,
                        "purpose" => &mut ctx.purpose,
                        "workspace" => &mut ctx.workspace,
                        "dataset" => &mut ctx.dataset,
                        "query_id" => &mut ctx.query_id,
                        _ => &mut ctx.data_source,
                    };
                    match v {
                        Json::Null => {}
                        Json::String(s) => *slot = Some(s),
                        _ => problems.push(format!("`{key}` must be a string")),
                    }
                }
                "roles" => match v {
                    Json::Null => {}
                    Json::Array(items) => {
                        ctx.roles.reserve(items.len());
                        for (i, item) in items.into_iter().enumerate() {
                            match item {
                                Json::String(s) => ctx.roles.push(s),
                                _ => problems.push(format!("`roles[{i}]` must be a string")),
                            }
                        }
                    }
                    _ => problems.push("`roles` must be an array of strings".to_string()),
                },
                "attributes" => match v {
                    Json::Null => {}
                    Json::Object(map) => ctx.attributes.extend(map),
                    _ => problems.push("`attributes` must be an object".to_string()),
                },
                "break_glass" => match v {
                    Json::Null => {}
                    Json::Bool(b) => ctx.break_glass = b,
                    _ => problems.push("`break_glass` must be true or false".to_string()),
                },
                other => problems.push(format!(
                    "unknown context field `{other}`; expected one of {}",
                    FIELDS.join(", ")
                )),
            }
        }
        if problems.is_empty() {
            Ok(ctx)
        } else {
            Err(InputError::new(
                ErrorCode::InvalidContext,
                problems.join("; "),
            ))
        }
    }
}

/// Why a predicate could not receive the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubstituteError {
    /// The context lacks the value.
    Missing(CtxRef),
    /// The value cannot be a PostgreSQL literal (NUL in a string, nested arrays).
    Invalid(CtxRef, String),
}

impl Context {
    /// The literal a context reference stands for.
    pub fn literal(&self, r: &CtxRef) -> Result<Expr, SubstituteError> {
        self.literal_at(r, Slot::Value)
    }

    /// The literal a context reference stands for in this slot: an `ANY`/`ALL` operand
    /// holding only strings and nulls prints untyped (crate::policy::Slot).
    pub fn literal_at(&self, r: &CtxRef, slot: Slot) -> Result<Expr, SubstituteError> {
        let array = |items: &[Json]| -> Result<Expr, SubstituteError> {
            match slot {
                Slot::ArrayOperand => literal::array_operand(items),
                Slot::Value => literal::array(items),
            }
            .map_err(|e| invalid(r, e))
        };
        let text = |v: &Option<String>| -> Result<Expr, SubstituteError> {
            let s = v
                .as_ref()
                .ok_or_else(|| SubstituteError::Missing(r.clone()))?;
            literal::string(s).ok_or_else(|| {
                SubstituteError::Invalid(r.clone(), "it contains a NUL character".into())
            })
        };
        match r {
            CtxRef::User => text(&self.user),
            CtxRef::Purpose => text(&self.purpose),
            CtxRef::Workspace => text(&self.workspace),
            CtxRef::DataSource => text(&self.data_source),
            CtxRef::Roles => {
                let items: Vec<Json> = self.roles.iter().cloned().map(Json::String).collect();
                array(&items)
            }
            CtxRef::Attr(name) => {
                let v = self
                    .attributes
                    .get(name)
                    .ok_or_else(|| SubstituteError::Missing(r.clone()))?;
                match v {
                    Json::Array(items) => array(items),
                    v => literal::from_json(v).map_err(|e| invalid(r, e)),
                }
            }
        }
    }

    /// The predicate with every context reference replaced by its literal.
    pub fn substitute(&self, predicate: &Predicate) -> Result<Expr, SubstituteError> {
        let mut expr = predicate.expr.clone();
        let mut error = None;
        let _ = crate::walk::walk(
            &mut expr,
            &mut ReplaceCtxRefs(|r, slot| match self.literal_at(&r, slot) {
                Ok(lit) => Some(lit),
                Err(e) => {
                    error = Some(e);
                    None
                }
            }),
        );
        match error {
            None => Ok(expr),
            Some(e) => Err(e),
        }
    }

    /// What [`Context::substitute`] prints, from the predicate's template when it has one
    /// (the literals printed between its pieces), so the tree is neither cloned nor
    /// printed. When a reference has no literal, the error is the one `substitute` gives.
    pub fn substitute_text(&self, predicate: &Predicate) -> Result<String, SubstituteError> {
        let printed = || self.substitute(predicate).map(|e| e.to_string());
        let Some(template) = &predicate.template else {
            return printed();
        };
        let (pieces, refs) = template.parts();
        let mut out = String::with_capacity(pieces.iter().map(String::len).sum::<usize>() + 16);
        for (piece, (r, slot)) in pieces.iter().zip(refs) {
            out.push_str(piece);
            match self.literal_at(r, *slot) {
                // INVARIANT: writing into a String cannot fail.
                Ok(lit) => {
                    let _ = write!(out, "{lit}");
                }
                Err(_) => return printed(),
            }
        }
        if let Some(last) = pieces.last() {
            out.push_str(last);
        }
        debug_assert_eq!(
            Ok(out.as_str()),
            printed().as_deref(),
            "a predicate's template fills in otherwise than it prints"
        );
        Ok(out)
    }
}

fn invalid(r: &CtxRef, e: literal::LiteralError) -> SubstituteError {
    let why = match e {
        literal::LiteralError::Nul => "it contains a NUL character",
        literal::LiteralError::NestedArray => {
            "arrays may hold only strings, numbers, booleans and nulls"
        }
    };
    SubstituteError::Invalid(r.clone(), why.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_and_query_id_are_optional_strings() {
        let ctx = Context::from_json_str(r#"{"user": "a", "dataset": "mart", "query_id": "q-42"}"#)
            .unwrap();
        assert_eq!(ctx.dataset.as_deref(), Some("mart"));
        assert_eq!(ctx.query_id.as_deref(), Some("q-42"));
        let none = Context::from_json_str(r#"{"dataset": null}"#).unwrap();
        assert_eq!(none.dataset, None);
        let err = Context::from_json_str(r#"{"dataset": 1, "query_id": ["q"]}"#).unwrap_err();
        assert!(
            err.message.contains("`dataset` must be a string"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("`query_id` must be a string"),
            "{}",
            err.message
        );
        // Unknown fields are still refused, and the message lists the new ones.
        let err = Context::from_json_str(r#"{"datasets": "mart"}"#).unwrap_err();
        assert!(err.message.contains("unknown context field `datasets`"));
        assert!(err.message.contains("dataset, query_id"));
    }

    #[test]
    fn templates_fill_in_as_the_substituted_tree_prints() {
        use crate::catalog::TableName;
        let ctx = Context::from_json_str(
            r#"{"user": "o'neil", "roles": ["a", "b''c"], "purpose": "x''y",
                "attributes": {"n": -5, "f": 1.5, "o": {"k": [1]}, "s": "\\'", "z": null,
                "list": ["p", 2, true], "verdict_ctx_0_": "m", "none": [null]}}"#,
        )
        .unwrap();
        let table = TableName::new("public", "t");
        for text in [
            "owner = ctx.user",
            "owner = ctx.user OR owner = ctx.user AND ctx.purpose <> 'x'",
            "role = ANY(ctx.roles) AND -ctx.attr.n < 0",
            "tag IN (ctx.attr.s, ctx.attr.f, 'verdict_ctx_0_') AND data @> ctx.attr.o",
            "verdict_ctx_0_ = ctx.attr.\"verdict_ctx_0_\"",
            "coalesce(ctx.attr.z, 1) = 1 AND x = ANY(ctx.attr.list)",
            "CASE WHEN ctx.purpose = 'a' THEN true ELSE owner = lower(ctx.user) END",
            "true",
            "n = ANY((ctx.roles)) AND n <> ALL(ctx.attr.none) AND ctx.roles @> ctx.attr.none",
        ] {
            let p = Predicate::parse(text, &table, None).unwrap();
            assert!(p.template.is_some(), "{text}");
            assert_eq!(
                ctx.substitute_text(&p),
                ctx.substitute(&p).map(|e| e.to_string()),
                "{text}"
            );
        }
        // A missing value: the error `substitute` gives.
        let p = Predicate::parse("a = ctx.workspace AND b = ctx.attr.nope", &table, None).unwrap();
        assert_eq!(
            ctx.substitute_text(&p),
            Err(SubstituteError::Missing(CtxRef::Workspace))
        );
    }

    #[test]
    fn array_operands_of_strings_are_typed_by_the_other_side() {
        use crate::catalog::TableName;
        let table = TableName::new("public", "t");
        let show = |ctx: &str, text: &str| {
            let ctx = Context::from_json_str(ctx).unwrap();
            let p = Predicate::parse(text, &table, None).unwrap();
            ctx.substitute_text(&p).unwrap()
        };
        // Strings and nulls only, or nothing: untyped, so `int_col` and `uuid_col`
        // compare as with a scalar string; elsewhere the array keeps its type.
        assert_eq!(
            show(
                r#"{"roles": []}"#,
                "n = ANY(ctx.roles) OR cardinality(ctx.roles) > 0"
            ),
            "n = ANY('{}') OR cardinality(CAST(ARRAY[] AS TEXT[])) > 0"
        );
        assert_eq!(
            show(
                r#"{"attributes": {"ids": [null, "7"]}}"#,
                "id <> ALL (ctx.attr.ids)"
            ),
            "id <> ALL('{NULL,\"7\"}')"
        );
        assert_eq!(
            show(
                r#"{"attributes": {"ids": [1, null]}}"#,
                "id = ANY(ctx.attr.ids)"
            ),
            "id = ANY(ARRAY[1, NULL])"
        );
        assert_eq!(
            show(r#"{"roles": ["a\"b", "it's"]}"#, "r = SOME(ctx.roles)"),
            "r = SOME(E'{\"a\\\\\"b\",\"it\\'s\"}')"
        );
    }

    #[test]
    fn absent_dataset_and_query_id_keep_the_serialized_form() {
        let ctx = Context::from_json_str(r#"{"user": "a"}"#).unwrap();
        let text = serde_json::to_string(&ctx).unwrap();
        assert!(
            !text.contains("dataset") && !text.contains("query_id"),
            "{text}"
        );
        let ctx = Context::from_json_str(r#"{"dataset": "d", "query_id": "q"}"#).unwrap();
        let text = serde_json::to_string(&ctx).unwrap();
        assert!(text.ends_with(r#""dataset":"d","query_id":"q"}"#), "{text}");
    }
}
