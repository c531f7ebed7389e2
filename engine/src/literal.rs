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

/// An `ANY`/`ALL` array operand: of strings and nulls only (or empty), the untyped array
/// literal `'{"a",NULL}'`, which PostgreSQL reads as an array of the other operand's type
/// (as it reads `'a'` beside a column); otherwise `ARRAY[…]` as [`array`] prints it.
pub fn array_operand(items: &[Json]) -> Result<Expr, LiteralError> {
    if !items
        .iter()
        .all(|i| matches!(i, Json::String(_) | Json::Null))
    {
        return array(items);
    }
    let mut text = String::from("{");
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            text.push(',');
        }
        match item {
            Json::String(s) => {
                text.push('"');
                for c in s.chars() {
                    if c == '"' || c == '\\' {
                        text.push('\\');
                    }
                    text.push(c);
                }
                text.push('"');
            }
            _ => text.push_str("NULL"),
        }
    }
    text.push('}');
    string(&text).ok_or(LiteralError::Nul)
}

/// The elements of an array literal as [`array_operand`] writes it (`None` for a NULL
/// element), or `None` for any other text.
pub fn read_array_operand(text: &str) -> Option<Vec<Option<String>>> {
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    let mut items = Vec::new();
    if inner.is_empty() {
        return Some(items);
    }
    let mut chars = inner.chars().peekable();
    loop {
        match chars.next()? {
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next()? {
                        '\\' => s.push(chars.next()?),
                        '"' => break,
                        c => s.push(c),
                    }
                }
                items.push(Some(s));
            }
            'N' => {
                let rest: String = chars.by_ref().take(3).collect();
                if rest != "ULL" {
                    return None;
                }
                items.push(None);
            }
            _ => return None,
        }
        match chars.next() {
            None => return Some(items),
            Some(',') => {}
            Some(_) => return None,
        }
    }
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
    fn array_operands_of_strings_print_untyped_and_read_back() {
        let op = |v: Json| array_operand(v.as_array().unwrap()).unwrap().to_string();
        assert_eq!(op(json!([])), "'{}'");
        assert_eq!(op(json!([null])), "'{NULL}'");
        assert_eq!(op(json!(["a", null])), "'{\"a\",NULL}'");
        assert_eq!(op(json!(["it's"])), "'{\"it''s\"}'");
        assert_eq!(
            op(json!(["a\"b", "c\\d"])),
            "E'{\"a\\\\\"b\",\"c\\\\\\\\d\"}'"
        );
        // Numbers and booleans keep their type.
        assert_eq!(op(json!([1, null])), "ARRAY[1, NULL]");
        assert_eq!(op(json!([true])), "ARRAY[true]");
        for items in [
            json!([]),
            json!([null, "x"]),
            json!(["a\"b", "c\\d", "", "NULL", "{,}"]),
        ] {
            let items = items.as_array().unwrap().clone();
            let Expr::Value(v) = array_operand(&items).unwrap() else {
                panic!()
            };
            let text = match v.value {
                Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => s,
                other => panic!("{other:?}"),
            };
            let read = read_array_operand(&text).unwrap();
            let want: Vec<Option<String>> = items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect();
            assert_eq!(read, want, "{text}");
        }
        for bad in ["", "{", "{a}", "{\"a\"", "{\"a\",}", "{NUL}", "{\"a\"x}"] {
            assert_eq!(read_array_operand(bad), None, "{bad}");
        }
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
