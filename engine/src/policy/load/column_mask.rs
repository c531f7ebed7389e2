//! `column_mask` rules and their masks.

use serde_json::{Map, Value as Json};

use crate::catalog::{Column, TypeClass};
use crate::policy::{Mask, MaskKind, ProblemKind, Rule};

use super::{Loader, OnTable, Place};

impl Loader {
    pub(super) fn column_mask(&mut self, on: OnTable<'_>) -> Option<Rule> {
        let OnTable {
            place,
            prefix,
            obj,
            name: ref table_name,
            table,
        } = on;
        let field = format!("{prefix}.column");
        let column = match obj.get("column").and_then(Json::as_str) {
            Some(c) => self.column_known(&on, &field, c)?,
            None => {
                self.at(
                    place,
                    ProblemKind::Missing,
                    &field,
                    "a column mask needs a `column` string".into(),
                );
                return None;
            }
        };
        let type_class = table
            .and_then(|t| t.column(&column))
            .map(Column::type_class)
            .unwrap_or(TypeClass::Unknown);
        let mask = self.mask(
            place,
            &format!("{prefix}.mask"),
            obj.get("mask"),
            type_class,
        )?;
        let col = table.and_then(|t| t.column(&column));
        match crate::mask::mask_expr(&mask, &column, col) {
            Ok(expr) => Some(Rule::ColumnMask {
                table: table_name.clone(),
                column,
                mask,
                sql: expr.to_string(),
                expr,
            }),
            Err(m) => {
                self.at(
                    place,
                    ProblemKind::InvalidValue,
                    &format!("{prefix}.mask"),
                    m,
                );
                None
            }
        }
    }

    fn mask(
        &mut self,
        place: &Place,
        field: &str,
        value: Option<&Json>,
        class: TypeClass,
    ) -> Option<Mask> {
        let obj = match value {
            Some(Json::Object(o)) => o,
            Some(Json::String(kind)) => {
                // Shorthand: `"mask": "hash"`.
                let mut o = Map::new();
                o.insert("kind".into(), Json::String(kind.clone()));
                return self.mask(place, field, Some(&Json::Object(o)), class);
            }
            _ => {
                self.at(
                    place,
                    ProblemKind::Missing,
                    field,
                    "a column mask needs a `mask` object with a `kind`".into(),
                );
                return None;
            }
        };
        let Some(kind) = obj.get("kind").and_then(Json::as_str) else {
            self.at(
                place,
                ProblemKind::Missing,
                &format!("{field}.kind"),
                format!("a mask needs a `kind`: {}", Mask::KINDS.join(", ")),
            );
            return None;
        };
        let Some(kind) = MaskKind::from_name(kind) else {
            self.at(
                place,
                ProblemKind::InvalidValue,
                &format!("{field}.kind"),
                format!(
                    "unknown mask kind `{kind}`; expected one of {}",
                    Mask::KINDS.join(", ")
                ),
            );
            return None;
        };
        let before = self.problems.len();
        self.unknown_fields(place, &format!("{field}."), obj, kind.fields());
        let mask = match kind {
            MaskKind::Null => Mask::Null,
            MaskKind::Hash => Mask::Hash,
            MaskKind::Email => Mask::Email,
            MaskKind::DateYear => {
                if matches!(
                    class,
                    TypeClass::Text | TypeClass::Other | TypeClass::Numeric | TypeClass::Boolean
                ) {
                    self.at(
                        place,
                        ProblemKind::Catalog,
                        &format!("{field}.kind"),
                        "`date_year` masks only date and timestamp columns".into(),
                    );
                }
                Mask::DateYear
            }
            MaskKind::Redact => Mask::Redact {
                replacement: match obj.get("replacement") {
                    None | Some(Json::Null) => None,
                    Some(Json::String(s)) => Some(s.clone()),
                    Some(_) => {
                        self.at(
                            place,
                            ProblemKind::WrongType,
                            &format!("{field}.replacement"),
                            "`replacement` must be a string".into(),
                        );
                        None
                    }
                },
            },
            MaskKind::Partial => {
                let count = |loader: &mut Loader, key: &str| -> u32 {
                    match obj.get(key) {
                        None | Some(Json::Null) => 0,
                        Some(Json::Number(n)) if n.as_u64().is_some_and(|v| v <= 10_000) => {
                            n.as_u64().and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
                        }
                        Some(_) => {
                            loader.at(
                                place,
                                ProblemKind::WrongType,
                                &format!("{field}.{key}"),
                                format!("`{key}` must be an integer from 0 to 10000"),
                            );
                            0
                        }
                    }
                };
                let show_first = count(self, "show_first");
                let show_last = count(self, "show_last");
                let pad = match obj.get("pad") {
                    None | Some(Json::Null) => "*".to_string(),
                    Some(Json::String(s)) if s.chars().count() == 1 => s.clone(),
                    Some(_) => {
                        self.at(
                            place,
                            ProblemKind::InvalidValue,
                            &format!("{field}.pad"),
                            "`pad` must be a single character".into(),
                        );
                        "*".to_string()
                    }
                };
                Mask::Partial {
                    show_first,
                    show_last,
                    pad,
                }
            }
            MaskKind::Constant => match obj.get("value") {
                Some(v @ (Json::String(_) | Json::Number(_) | Json::Bool(_) | Json::Null)) => {
                    if let Json::String(s) = v {
                        if s.contains('\0') {
                            self.at(
                                place,
                                ProblemKind::InvalidValue,
                                &format!("{field}.value"),
                                "`value` must not contain a NUL character".into(),
                            );
                        }
                    }
                    Mask::Constant { value: v.clone() }
                }
                Some(_) => {
                    self.at(
                        place,
                        ProblemKind::WrongType,
                        &format!("{field}.value"),
                        "`value` must be a string, number, boolean or null".into(),
                    );
                    Mask::Null
                }
                None => {
                    self.at(
                        place,
                        ProblemKind::Missing,
                        &format!("{field}.value"),
                        "a constant mask needs a `value`".into(),
                    );
                    Mask::Null
                }
            },
        };
        (self.problems.len() == before).then_some(mask)
    }
}
