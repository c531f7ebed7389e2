//! `deny` rules: a table, some of its columns, or some operations on it.

use serde_json::Value as Json;

use crate::policy::{Operation, ProblemKind, Rule};

use super::{Loader, OnTable};

impl Loader {
    pub(super) fn deny(&mut self, on: OnTable<'_>) -> Option<Rule> {
        let OnTable {
            place,
            prefix,
            obj,
            name: ref table_name,
            table: _,
        } = on;
        let mut columns = Vec::new();
        let mut ok = true;
        match obj.get("columns") {
            None | Some(Json::Null) => {}
            Some(Json::Array(items)) => {
                for (j, c) in items.iter().enumerate() {
                    let field = format!("{prefix}.columns[{j}]");
                    match c.as_str() {
                        Some(c) => match self.column_known(&on, &field, c) {
                            Some(n) => columns.push(n),
                            None => ok = false,
                        },
                        None => {
                            self.at(
                                place,
                                ProblemKind::WrongType,
                                &field,
                                "a column must be a string".into(),
                            );
                            ok = false;
                        }
                    }
                }
                if items.is_empty() {
                    self.at(
                        place,
                        ProblemKind::InvalidValue,
                        &format!("{prefix}.columns"),
                        "`columns` is empty; leave it out to deny the whole table".into(),
                    );
                    ok = false;
                }
            }
            Some(_) => {
                self.at(
                    place,
                    ProblemKind::WrongType,
                    &format!("{prefix}.columns"),
                    "`columns` must be an array of column names".into(),
                );
                ok = false;
            }
        }
        let mut operations = Vec::new();
        match obj.get("operations") {
            None | Some(Json::Null) => {}
            Some(Json::Array(items)) => {
                for (j, op) in items.iter().enumerate() {
                    match op
                        .as_str()
                        .and_then(|s| Operation::ALL.iter().find(|(n, _)| *n == s))
                    {
                        Some((_, o)) => operations.push(*o),
                        None => {
                            self.at(place, ProblemKind::InvalidValue, &format!("{prefix}.operations[{j}]"), format!("unknown operation {op}; expected select, insert, update, delete or ddl"));
                            ok = false;
                        }
                    }
                }
            }
            Some(_) => {
                self.at(
                    place,
                    ProblemKind::WrongType,
                    &format!("{prefix}.operations"),
                    "`operations` must be an array".into(),
                );
                ok = false;
            }
        }
        operations.sort();
        operations.dedup();
        ok.then_some(Rule::Deny {
            table: table_name.clone(),
            columns,
            operations,
        })
    }
}
