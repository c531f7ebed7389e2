//! `query_restriction` rules: statement kinds, denied functions, required WHERE.

use serde_json::{Map, Value as Json};

use super::{Loader, Place};
use crate::policy::{Operation, ProblemKind, Restriction, Rule, StatementKind};

impl Loader {
    pub(super) fn query_restriction(
        &mut self,
        place: &Place,
        prefix: &str,
        obj: &Map<String, Json>,
    ) -> Option<Rule> {
        let before = self.problems.len();
        let statements = match obj.get("statements") {
            None | Some(Json::Null) => None,
            Some(Json::Array(items)) => {
                let mut kinds = Vec::new();
                for (j, item) in items.iter().enumerate() {
                    match item
                        .as_str()
                        .and_then(|s| StatementKind::ALL.iter().find(|(n, _)| *n == s))
                    {
                        Some((_, k)) => kinds.push(*k),
                        None => self.at(
                            place,
                            ProblemKind::InvalidValue,
                            &format!("{prefix}.statements[{j}]"),
                            format!(
                                "unknown statement kind {item}; expected one of {}",
                                StatementKind::ALL
                                    .iter()
                                    .map(|(n, _)| *n)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ),
                    }
                }
                kinds.sort();
                kinds.dedup();
                Some(kinds)
            }
            Some(_) => {
                self.at(
                    place,
                    ProblemKind::WrongType,
                    &format!("{prefix}.statements"),
                    "`statements` must be an array of statement kinds".into(),
                );
                None
            }
        };
        let mut denied_functions = Vec::new();
        let names = self.string_list(
            place,
            obj.get("denied_functions"),
            &format!("{prefix}.denied_functions"),
        );
        for (j, f) in names.into_iter().enumerate() {
            let name = f.strip_suffix('*').unwrap_or(&f);
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if valid && name.len() > crate::ident::MAX_NAME_BYTES {
                // PostgreSQL cuts a called name to 63 bytes, so no call would ever match.
                self.at(
                    place,
                    ProblemKind::InvalidValue,
                    &format!("{prefix}.denied_functions[{j}]"),
                    format!(
                        "`{f}` is longer than {} bytes, the most a PostgreSQL function name has",
                        crate::ident::MAX_NAME_BYTES
                    ),
                );
            } else if valid {
                denied_functions.push(f.to_ascii_lowercase());
            } else {
                self.at(
                    place, ProblemKind::InvalidValue,
                    &format!("{prefix}.denied_functions[{j}]"),
                    format!("`{f}` is not a function name (letters, digits and `_`, with an optional trailing `*`)"));
            }
        }
        let require_where = match obj.get("require_where") {
            None | Some(Json::Null) | Some(Json::Bool(false)) => Vec::new(),
            Some(Json::Bool(true)) => vec![Operation::Update, Operation::Delete],
            Some(Json::Array(items)) => {
                let mut ops = Vec::new();
                for (j, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some("update") => ops.push(Operation::Update),
                        Some("delete") => ops.push(Operation::Delete),
                        _ => self.at(
                            place,
                            ProblemKind::InvalidValue,
                            &format!("{prefix}.require_where[{j}]"),
                            format!("`require_where` lists `update` and/or `delete`, not {item}"),
                        ),
                    }
                }
                ops
            }
            Some(_) => {
                self.at(
                    place,
                    ProblemKind::InvalidValue,
                    &format!("{prefix}.require_where"),
                    "`require_where` must be true, false, or a list of `update` and `delete`"
                        .into(),
                );
                Vec::new()
            }
        };
        (self.problems.len() == before).then_some(Rule::QueryRestriction(Restriction {
            statements,
            denied_functions,
            require_where,
        }))
    }
}
