//! Proofs that written rows satisfy a row filter: the predicate is evaluated over the
//! written constants with SQL's three-valued logic. Only TRUE proves; FALSE, NULL and
//! anything the evaluator cannot decide (a column it does not know, a function, a
//! comparison whose result depends on collation or type rules it does not model) fail.

use std::cmp::Ordering;

use sqlparser::ast::{BinaryOperator, CastKind, DataType, Expr, InTarget, UnaryOperator, Value};

use crate::catalog::TypeClass;
use crate::ident;

/// A value the evaluator knows, or does not.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Bool(bool),
    /// A number, kept as its decimal text.
    Num(String),
    /// A string literal (PostgreSQL's `unknown`-typed literal until compared).
    Str(String),
    /// Not decidable here.
    Unknown,
}

impl V {
    fn truth(&self) -> Option<Option<bool>> {
        match self {
            V::Bool(b) => Some(Some(*b)),
            V::Null => Some(None),
            _ => None,
        }
    }
}

/// The value of a constant expression (literals, signs, casts of literals), or `Unknown`.
pub fn constant(expr: &Expr) -> V {
    eval(expr, &|_: &[&str]| None)
}

/// The value of a constant as a column of this type class would store it.
pub fn coerce(v: V, class: TypeClass) -> V {
    match (v, class) {
        (V::Str(s), TypeClass::Numeric) => match normalize_number(&s) {
            Some(n) => V::Num(n),
            None => V::Unknown,
        },
        (V::Str(s), TypeClass::Boolean) => match s.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "yes" | "y" | "on" | "1" => V::Bool(true),
            "f" | "false" | "no" | "n" | "off" | "0" => V::Bool(false),
            _ => V::Unknown,
        },
        (V::Num(n), TypeClass::Text) => V::Str(n),
        (v @ (V::Null | V::Unknown), _) => v,
        (v @ V::Num(_), TypeClass::Numeric) => v,
        (v @ V::Bool(_), TypeClass::Boolean) => v,
        (v @ V::Str(_), TypeClass::Text) => v,
        _ => V::Unknown,
    }
}

/// Evaluates a predicate; `column` gives the value of a column reference (its normalized
/// name parts), or `None` when it is not known.
pub fn eval(expr: &Expr, column: &dyn Fn(&[&str]) -> Option<V>) -> V {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Null => V::Null,
            Value::Boolean(b) => V::Bool(*b),
            Value::Number(n, _) => normalize_number(n).map(V::Num).unwrap_or(V::Unknown),
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => V::Str(s.clone()),
            _ => V::Unknown,
        },
        Expr::Identifier(id) => column(&[&ident::normalize(id)]).unwrap_or(V::Unknown),
        Expr::CompoundIdentifier(parts) => {
            let names: Vec<String> = parts.iter().map(ident::normalize).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            column(&refs).unwrap_or(V::Unknown)
        }
        Expr::Nested(e) => eval(e, column),
        Expr::UnaryOp { op, expr } => {
            let v = eval(expr, column);
            match (op, v) {
                (UnaryOperator::Not, V::Bool(b)) => V::Bool(!b),
                (UnaryOperator::Not, V::Null) => V::Null,
                (UnaryOperator::Minus, V::Num(n)) => V::Num(negate(&n)),
                (UnaryOperator::Plus, v @ V::Num(_)) => v,
                (UnaryOperator::Minus | UnaryOperator::Plus, V::Null) => V::Null,
                _ => V::Unknown,
            }
        }
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr,
            data_type,
            ..
        } => {
            let v = eval(expr, column);
            match class_of(data_type) {
                TypeClass::Unknown | TypeClass::Other | TypeClass::Date | TypeClass::Timestamp => {
                    V::Unknown
                }
                class => coerce(v, class),
            }
        }
        Expr::IsNull(e) => match eval(e, column) {
            V::Null => V::Bool(true),
            V::Unknown => V::Unknown,
            _ => V::Bool(false),
        },
        Expr::IsNotNull(e) => match eval(e, column) {
            V::Null => V::Bool(false),
            V::Unknown => V::Unknown,
            _ => V::Bool(true),
        },
        Expr::IsTrue(e) => match eval(e, column) {
            V::Bool(b) => V::Bool(b),
            V::Null => V::Bool(false),
            _ => V::Unknown,
        },
        Expr::IsFalse(e) => match eval(e, column) {
            V::Bool(b) => V::Bool(!b),
            V::Null => V::Bool(false),
            _ => V::Unknown,
        },
        Expr::BinaryOp { left, op, right } => binary(op, eval(left, column), eval(right, column)),
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated,
            global: false,
        } => {
            let x = eval(expr, column);
            let mut acc = V::Bool(false);
            for item in list {
                acc = or(acc, compare(&BinaryOperator::Eq, &x, &eval(item, column)));
            }
            if *negated {
                not(acc)
            } else {
                acc
            }
        }
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let x = eval(expr, column);
            let r = and(
                compare(&BinaryOperator::GtEq, &x, &eval(low, column)),
                compare(&BinaryOperator::LtEq, &x, &eval(high, column)),
            );
            if *negated {
                not(r)
            } else {
                r
            }
        }
        Expr::AnyOp {
            left,
            compare_op,
            right,
            is_some: _,
        } => match right.as_ref() {
            Expr::Array(arr) => {
                let x = eval(left, column);
                let mut acc = V::Bool(false);
                for item in &arr.elem {
                    acc = or(acc, compare(compare_op, &x, &eval(item, column)));
                }
                acc
            }
            // An empty list: `= ANY` of no element is FALSE, whatever the left side.
            Expr::Cast { expr, .. } if matches!(expr.as_ref(), Expr::Array(a) if a.elem.is_empty()) => {
                V::Bool(false)
            }
            // A context array of strings and nulls prints untyped (crate::policy::Slot):
            // its elements are string literals, typed by the left side as PostgreSQL does.
            Expr::Value(v) => {
                let text = match &v.value {
                    Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => s,
                    _ => return V::Unknown,
                };
                let Some(items) = crate::literal::read_array_operand(text) else {
                    return V::Unknown;
                };
                let x = eval(left, column);
                let mut acc = V::Bool(false);
                for item in items {
                    let item = item.map_or(V::Null, V::Str);
                    acc = or(acc, compare(compare_op, &x, &item));
                }
                acc
            }
            _ => V::Unknown,
        },
        _ => V::Unknown,
    }
}

/// Whether the value proves the predicate (only TRUE does).
pub fn proves(v: &V) -> bool {
    *v == V::Bool(true)
}

fn class_of(t: &DataType) -> TypeClass {
    crate::catalog::classify(&t.to_string().to_ascii_lowercase())
}

fn not(v: V) -> V {
    match v {
        V::Bool(b) => V::Bool(!b),
        V::Null => V::Null,
        _ => V::Unknown,
    }
}

fn and(a: V, b: V) -> V {
    match (a.truth(), b.truth()) {
        (Some(Some(false)), _) | (_, Some(Some(false))) => V::Bool(false),
        (Some(Some(true)), Some(Some(true))) => V::Bool(true),
        (Some(_), Some(_)) => V::Null,
        _ => V::Unknown,
    }
}

fn or(a: V, b: V) -> V {
    match (a.truth(), b.truth()) {
        (Some(Some(true)), _) | (_, Some(Some(true))) => V::Bool(true),
        (Some(Some(false)), Some(Some(false))) => V::Bool(false),
        (Some(_), Some(_)) => V::Null,
        _ => V::Unknown,
    }
}

fn binary(op: &BinaryOperator, a: V, b: V) -> V {
    match op {
        BinaryOperator::And => and(a, b),
        BinaryOperator::Or => or(a, b),
        _ => compare(op, &a, &b),
    }
}

/// A comparison with PostgreSQL's rules for the literal types the evaluator models:
/// numbers numerically; a string literal against a number as a number; strings only for
/// (in)equality, since their order depends on the collation.
fn compare(op: &BinaryOperator, a: &V, b: &V) -> V {
    let ord = match (a, b) {
        (V::Unknown, _) | (_, V::Unknown) => return V::Unknown,
        (V::Null, _) | (_, V::Null) => return V::Null,
        (V::Num(x), V::Num(y)) => cmp_numbers(x, y),
        (V::Num(x), V::Str(s)) | (V::Str(s), V::Num(x)) => {
            let Some(y) = normalize_number(s) else {
                return V::Unknown;
            };
            let o = cmp_numbers(x, &y);
            if matches!(a, V::Str(_)) {
                o.reverse()
            } else {
                o
            }
        }
        (V::Str(x), V::Str(y)) => match op {
            BinaryOperator::Eq | BinaryOperator::NotEq => x.cmp(y),
            _ => return V::Unknown,
        },
        (V::Bool(x), V::Bool(y)) => x.cmp(y),
        _ => return V::Unknown,
    };
    let r = match op {
        BinaryOperator::Eq => ord == Ordering::Equal,
        BinaryOperator::NotEq => ord != Ordering::Equal,
        BinaryOperator::Lt => ord == Ordering::Less,
        BinaryOperator::LtEq => ord != Ordering::Greater,
        BinaryOperator::Gt => ord == Ordering::Greater,
        BinaryOperator::GtEq => ord != Ordering::Less,
        _ => return V::Unknown,
    };
    V::Bool(r)
}

/// A decimal number as `[-]digits[.digits]` without redundant zeros, or `None`.
fn normalize_number(s: &str) -> Option<String> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let mut out = String::new();
    if neg && !(int == "0" && frac.is_empty()) {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    Some(out)
}

fn negate(n: &str) -> String {
    match n.strip_prefix('-') {
        Some(abs) => abs.to_string(),
        None if n == "0" => n.to_string(),
        None => format!("-{n}"),
    }
}

fn cmp_numbers(x: &str, y: &str) -> Ordering {
    let (xn, xa) = match x.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, x),
    };
    let (yn, ya) = match y.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, y),
    };
    match (xn, yn) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (false, false) => cmp_abs(xa, ya),
        (true, true) => cmp_abs(ya, xa),
    }
}

fn cmp_abs(x: &str, y: &str) -> Ordering {
    let (xi, xf) = x.split_once('.').unwrap_or((x, ""));
    let (yi, yf) = y.split_once('.').unwrap_or((y, ""));
    xi.len()
        .cmp(&yi.len())
        .then_with(|| xi.cmp(yi))
        .then_with(|| {
            let width = xf.len().max(yf.len());
            format!("{xf:0<width$}").cmp(&format!("{yf:0<width$}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    fn check(predicate: &str, values: &[(&str, V)]) -> V {
        let expr = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(predicate)
            .unwrap()
            .parse_expr()
            .unwrap();
        eval(&expr, &|parts: &[&str]| {
            let col = parts.last()?;
            values
                .iter()
                .find(|(n, _)| n == col)
                .map(|(_, v)| v.clone())
        })
    }

    fn num(n: &str) -> V {
        V::Num(normalize_number(n).unwrap())
    }

    #[test]
    fn three_valued_logic() {
        assert_eq!(
            check("tenant_id = 42", &[("tenant_id", num("42"))]),
            V::Bool(true)
        );
        assert_eq!(
            check("tenant_id = 42", &[("tenant_id", num("7"))]),
            V::Bool(false)
        );
        assert_eq!(check("tenant_id = 42", &[("tenant_id", V::Null)]), V::Null);
        assert_eq!(check("tenant_id = 42", &[]), V::Unknown);
        assert_eq!(
            check("tenant_id = 42 OR true", &[("tenant_id", V::Null)]),
            V::Bool(true)
        );
        assert_eq!(check("tenant_id = 42 AND false", &[]), V::Bool(false));
        assert_eq!(
            check("NOT (tenant_id = 42)", &[("tenant_id", V::Null)]),
            V::Null
        );
        assert_eq!(
            check("tenant_id IS NULL", &[("tenant_id", V::Null)]),
            V::Bool(true)
        );
        assert_eq!(
            check("tenant_id IN (1, 2, NULL)", &[("tenant_id", num("3"))]),
            V::Null
        );
        assert_eq!(
            check("tenant_id IN (1, 2, NULL)", &[("tenant_id", num("2"))]),
            V::Bool(true)
        );
        assert_eq!(
            check("tenant_id NOT IN (1, NULL)", &[("tenant_id", num("3"))]),
            V::Null
        );
        assert_eq!(
            check("tenant_id BETWEEN 1 AND 5", &[("tenant_id", num("5"))]),
            V::Bool(true)
        );
        assert_eq!(
            check(
                "region = ANY(ARRAY['EU', 'US'])",
                &[("region", V::Str("US".into()))]
            ),
            V::Bool(true)
        );
        assert_eq!(
            check(
                "region = ANY(CAST(ARRAY[] AS TEXT[]))",
                &[("region", V::Null)]
            ),
            V::Bool(false)
        );
        // Untyped array operands (a context array of strings and nulls), typed by the
        // left side: numbers compare as numbers, NULL elements leave UNKNOWN.
        assert_eq!(
            check(
                "tenant_id = ANY('{\"2\",\"21\"}')",
                &[("tenant_id", num("21"))]
            ),
            V::Bool(true)
        );
        assert_eq!(
            check(
                "tenant_id = ANY('{NULL,\"2\"}')",
                &[("tenant_id", num("3"))]
            ),
            V::Null
        );
        assert_eq!(
            check("tenant_id = ANY('{}')", &[("tenant_id", num("3"))]),
            V::Bool(false)
        );
        assert_eq!(
            check("tenant_id = ANY('{2')", &[("tenant_id", num("3"))]),
            V::Unknown
        );
    }

    #[test]
    fn numbers_and_coercion() {
        assert_eq!(
            check("amount > 10", &[("amount", num("10.50"))]),
            V::Bool(true)
        );
        assert_eq!(
            check("amount = 10.5", &[("amount", num("010.500"))]),
            V::Bool(true)
        );
        assert_eq!(check("n < -1", &[("n", num("-2"))]), V::Bool(true));
        assert_eq!(check("n = 1", &[("n", V::Str("1".into()))]), V::Bool(true));
        assert_eq!(
            check("n = 1", &[("n", V::Str("1 OR 1=1".into()))]),
            V::Unknown
        );
        assert_eq!(coerce(V::Str("042".into()), TypeClass::Numeric), num("42"));
        assert_eq!(
            check("name < 'b'", &[("name", V::Str("a".into()))]),
            V::Unknown
        );
        assert_eq!(
            check("name = 'b'", &[("name", V::Str("b".into()))]),
            V::Bool(true)
        );
        assert_eq!(
            check("CAST('7' AS INTEGER) = n", &[("n", num("7"))]),
            V::Bool(true)
        );
        assert_eq!(
            check("lower(name) = 'b'", &[("name", V::Str("B".into()))]),
            V::Unknown
        );
    }
}
