//! SQL literals built as syntax-tree nodes, so no value can change the shape of the SQL.

use serde_json::Value as Json;
use sqlparser::ast::{Array, CastKind, DataType, Expr, Value};

/// A string literal; `E'…'` form when it holds a backslash, so the meaning does not depend on
/// `standard_conforming_strings`, or two quotes in a row, which sqlparser would print as
/// one escaped quote (`'a''b'` for `a''b`; crate::parse::reprints). `None` when it holds
/// NUL, which PostgreSQL text cannot.
pub fn string(s: &str) -> Option<Expr> {
    if s.contains('\0') {
        return None;
    }
    let value = if s.contains('\\') || !crate::parse::reprints(s, '\'') {
        Value::EscapedStringLiteral(s.to_string())
    } else {
        Value::SingleQuotedString(s.to_string())
    };
    Some(Expr::value(value))
}

/// A numeric literal; negative numbers are parenthesized so `-` never meets another `-`.
pub fn number(n: &serde_json::Number) -> Expr {
    let text = n.to_string();
    match text.strip_prefix('-') {
        Some(abs) => Expr::Nested(Box::new(Expr::UnaryOp {
            op: sqlparser::ast::UnaryOperator::Minus,
            expr: Box::new(Expr::value(Value::Number(abs.to_string(), false))),
        })),
        None => Expr::value(Value::Number(text, false)),
    }
}

/// Why a JSON value cannot become a literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiteralError {
    Nul,
    NestedArray,
}

/// A JSON value as a typed literal: strings quoted, numbers numeric, arrays as `ARRAY[…]`,
/// objects as `jsonb`.
pub fn from_json(value: &Json) -> Result<Expr, LiteralError> {
    Ok(match value {
        Json::Null => Expr::value(Value::Null),
        Json::Bool(b) => Expr::value(Value::Boolean(*b)),
        Json::Number(n) => number(n),
        Json::String(s) => string(s).ok_or(LiteralError::Nul)?,
        Json::Array(items) => array(items)?,
        Json::Object(_) => cast(
            string(&value.to_string()).ok_or(LiteralError::Nul)?,
            DataType::JSONB,
        ),
    })
}

/// `ARRAY[…]` of scalar literals; an empty array is typed `text[]`.
pub fn array(items: &[Json]) -> Result<Expr, LiteralError> {
    if items.is_empty() {
        return Ok(cast(
            Expr::Array(Array {
                elem: Vec::new(),
                named: true,
            }),
            DataType::Array(sqlparser::ast::ArrayElemTypeDef::SquareBracket(
                Box::new(DataType::Text),
                None,
            )),
        ));
    }
    let elem = items
        .iter()
        .map(|item| match item {
            Json::Array(_) | Json::Object(_) => Err(LiteralError::NestedArray),
            scalar => from_json(scalar),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Expr::Array(Array { elem, named: true }))
}

/// `CAST(expr AS type)`.
pub fn cast(expr: Expr, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(expr),
        data_type,
        format: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn show(v: Json) -> String {
        from_json(&v).unwrap().to_string()
    }

    #[test]
    fn literals_are_typed_and_escaped() {
        assert_eq!(show(json!("it's")), "'it''s'");
        assert_eq!(show(json!("a\\' OR 1=1 --")), "E'a\\\\\\' OR 1=1 --'");
        assert_eq!(show(json!(42)), "42");
        assert_eq!(show(json!(-5)), "(-5)");
        assert_eq!(show(json!(1.5)), "1.5");
        assert_eq!(show(json!(true)), "true");
        assert_eq!(show(json!(null)), "NULL");
        assert_eq!(show(json!(["a", "b"])), "ARRAY['a', 'b']");
        assert_eq!(show(json!([])), "CAST(ARRAY[] AS TEXT[])");
        assert_eq!(from_json(&json!("a\u{0}b")), Err(LiteralError::Nul));
    }

    #[test]
    fn two_quotes_in_a_row_keep_their_meaning() {
        // `'x''y'` would read back as `x'y`: the E'…' form escapes each quote.
        assert_eq!(show(json!("x''y")), "E'x\\'\\'y'");
        assert_eq!(show(json!("''")), "E'\\'\\''");
        assert_eq!(show(json!("'")), "''''");
        for text in ["x''y", "''", "a'b'c", "'a'", "it's", "a\\'b", "a\\b"] {
            let printed = show(json!(text));
            let parsed = crate::parse::parse_statements(&format!("SELECT {printed}")).unwrap();
            let sqlparser::ast::Statement::Query(q) = &parsed[0] else {
                panic!()
            };
            let sqlparser::ast::SetExpr::Select(sel) = q.body.as_ref() else {
                panic!()
            };
            let sqlparser::ast::SelectItem::UnnamedExpr(Expr::Value(v)) = &sel.projection[0] else {
                panic!("{printed}")
            };
            let read = match &v.value {
                Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => s.clone(),
                other => panic!("{other:?}"),
            };
            assert_eq!(read, text, "{printed}");
        }
    }
}
