//! Column masks (SPEC §5) as PostgreSQL expressions over the raw column.
//!
//! Every mask keeps NULL as NULL. `email` keeps only the domain: a value containing `@`
//! becomes `****@` followed by everything after its last `@`; a value without `@` becomes
//! `****` (one `regexp_replace`: the first branch keeps the `@` as group 1, the second
//! matches a value without `@` and leaves group 1 empty). Each expression is printed from syntax-tree pieces (identifiers, literals and
//! types print themselves escaped) and parsed back once, when the policy set is loaded.

use serde_json::Value as Json;
use sqlparser::ast::{DataType, Expr};

use crate::catalog::{Column, TypeClass};
use crate::ident;
use crate::literal;
use crate::policy::Mask;

/// The expression that shows `column` through `mask`.
pub fn mask_expr(mask: &Mask, column: &str, col: Option<&Column>) -> Result<Expr, String> {
    let c = ident::display(column);
    let class = col.map(Column::type_class).unwrap_or(TypeClass::Unknown);
    let sql_type: Option<&DataType> = col.and_then(|c| c.sql_type.as_ref());
    // NULL of the column's type; without the catalog's type, a CASE whose only branch is
    // the column, never taken, has that type too (a bare NULL would be untyped: the
    // statement's result types and values could differ, e.g. `greatest(x, 250.00)`).
    let typed_null = match sql_type {
        Some(t) => format!("CAST(NULL AS {t})"),
        None => format!("CASE WHEN false THEN {c} END"),
    };
    let text = |s: &str| -> Result<String, String> {
        literal::string(s)
            .map(|e| e.to_string())
            .ok_or_else(|| "a mask string must not contain NUL".to_string())
    };
    // Text columns are used as they are; other types through their text form.
    let t = match class {
        TypeClass::Text => c.clone(),
        _ => format!("CAST({c} AS TEXT)"),
    };
    let sql = match mask {
        Mask::Null => typed_null,
        Mask::Redact { replacement } => match class {
            TypeClass::Text | TypeClass::Unknown => format!(
                "CASE WHEN {c} IS NULL THEN NULL ELSE {} END",
                text(replacement.as_deref().unwrap_or("****"))?
            ),
            _ => typed_null,
        },
        Mask::Hash => format!("encode(sha256(convert_to({t}, 'UTF8')), 'hex')"),
        Mask::Partial {
            show_first,
            show_last,
            pad,
        } => {
            let keep = u64::from(*show_first) + u64::from(*show_last);
            let pad = text(pad)?;
            let mut shown = Vec::new();
            if *show_first > 0 {
                shown.push(format!("left({t}, {show_first})"));
            }
            shown.push(format!("repeat({pad}, char_length({t}) - {keep})"));
            if *show_last > 0 {
                shown.push(format!("right({t}, {show_last})"));
            }
            format!(
                "CASE WHEN char_length({t}) > {keep} THEN {} ELSE repeat({pad}, char_length({t})) END",
                shown.join(" || ")
            )
        }
        // Everything up to the last `@` becomes `****@`; a value without `@` becomes `****`.
        Mask::Email => format!("regexp_replace({t}, '^.*(@)|^[^@]*$', E'****\\\\1')"),
        Mask::DateYear => match class {
            TypeClass::Timestamp => format!("date_trunc('year', {c})"),
            _ => format!("CAST(date_trunc('year', CAST({c} AS TIMESTAMP)) AS DATE)"),
        },
        Mask::Constant { value } => {
            let lit = match value {
                Json::Array(_) | Json::Object(_) => {
                    return Err(
                        "a constant mask's value must be a string, number, boolean or null".into(),
                    )
                }
                v => literal::from_json(v)
                    .map_err(|_| "a constant mask's value must not contain NUL".to_string())?,
            };
            format!("CASE WHEN {c} IS NULL THEN NULL ELSE {lit} END")
        }
    };
    crate::parse::parser(crate::Dialect::Postgres, &sql)
        .map_err(|e| format!("cannot build the mask expression: {e}"))?
        .parse_expr()
        .map_err(|e| format!("cannot build the mask expression: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::parse_data_type;

    fn col(name: &str, ty: &str) -> Column {
        Column::new(
            name.into(),
            Some(ty.into()),
            Some(parse_data_type(ty).unwrap()),
        )
    }

    #[test]
    fn null_without_a_type_keeps_the_columns_type() {
        let e = mask_expr(&Mask::Null, "salary", None).unwrap();
        assert_eq!(e.to_string(), "CASE WHEN false THEN salary END");
    }

    #[test]
    fn builds_every_kind() {
        let email = col("email", "text");
        let born = col("born", "date");
        let n = col("n", "integer");
        let cases: Vec<(Mask, &Column, &str)> = vec![
            (Mask::Null, &n, "CAST(NULL AS INTEGER)"),
            (
                Mask::Redact { replacement: None },
                &email,
                "CASE WHEN email IS NULL THEN NULL ELSE '****' END",
            ),
            (
                Mask::Redact { replacement: None },
                &n,
                "CAST(NULL AS INTEGER)",
            ),
            (
                Mask::Hash,
                &email,
                "encode(sha256(convert_to(email, 'UTF8')), 'hex')",
            ),
            (
                Mask::Hash,
                &n,
                "encode(sha256(convert_to(CAST(n AS TEXT), 'UTF8')), 'hex')",
            ),
            (
                Mask::DateYear,
                &born,
                "CAST(date_trunc('year', CAST(born AS TIMESTAMP)) AS DATE)",
            ),
            (
                Mask::Constant {
                    value: serde_json::json!("x'y"),
                },
                &email,
                "CASE WHEN email IS NULL THEN NULL ELSE 'x''y' END",
            ),
        ];
        for (mask, c, want) in cases {
            assert_eq!(
                mask_expr(&mask, &c.name, Some(c)).unwrap().to_string(),
                want
            );
        }
        let p = Mask::Partial {
            show_first: 1,
            show_last: 2,
            pad: "#".into(),
        };
        let s = mask_expr(&p, "ssn", Some(&col("ssn", "text")))
            .unwrap()
            .to_string();
        assert_eq!(s, "CASE WHEN char_length(ssn) > 3 THEN left(ssn, 1) || repeat('#', char_length(ssn) - 3) || right(ssn, 2) ELSE repeat('#', char_length(ssn)) END");
        let u = mask_expr(&Mask::Email, "user", None).unwrap().to_string();
        assert!(u.contains("\"user\""), "{u}");
    }
}
