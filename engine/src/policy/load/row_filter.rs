//! `row_filter` rules: a predicate over the table's columns and the context.

use serde_json::Value as Json;

use crate::policy::{Predicate, Problem, ProblemKind, Rule};

use super::{Loader, OnTable};

impl Loader {
    pub(super) fn row_filter(&mut self, on: OnTable<'_>) -> Option<Rule> {
        let OnTable {
            place,
            prefix,
            obj,
            name: ref table_name,
            table,
        } = on;
        let text = match obj.get("predicate").and_then(Json::as_str) {
            Some(t) => t,
            None => {
                self.at(
                    place,
                    ProblemKind::Missing,
                    &format!("{prefix}.predicate"),
                    "a row filter needs a `predicate` string".into(),
                );
                return None;
            }
        };
        match Predicate::parse(text, table_name, table) {
            Ok(predicate) => Some(Rule::RowFilter {
                table: table_name.clone(),
                predicate,
                retention: None,
            }),
            Err(errors) => {
                for e in errors {
                    self.problems.push(Problem {
                        policy: place.policy.clone(),
                        policy_index: place.policy_index,
                        rule_index: place.rule_index,
                        kind: ProblemKind::Predicate,
                        field: format!("{prefix}.predicate"),
                        message: e.message,
                        line: e.line,
                        column: e.column,
                    });
                }
                None
            }
        }
    }
}
