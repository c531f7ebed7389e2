//! `data_retention` rules: rows older than a period are hidden (a row filter on a date column).

use serde_json::Value as Json;

use crate::catalog::{Column, TypeClass};
use crate::policy::{Predicate, ProblemKind, Retention, Rule};

use super::{Loader, OnTable};

impl Loader {
    pub(super) fn data_retention(&mut self, on: OnTable<'_>) -> Option<Rule> {
        let OnTable {
            place,
            prefix,
            obj,
            name: ref table_name,
            table,
        } = on;
        let field = format!("{prefix}.column");
        let column =
            match obj.get("column").and_then(Json::as_str) {
                Some(c) => self.column_known(&on, &field, c),
                None => {
                    self.at(
                    place, ProblemKind::Missing,
                    &field,
                    "a data retention rule needs a `column` string: the row's date or timestamp"
                        .into());
                    None
                }
            };
        if let Some(class) = column
            .as_deref()
            .and_then(|c| table.and_then(|t| t.column(c)))
            .map(Column::type_class)
        {
            if !matches!(
                class,
                TypeClass::Date | TypeClass::Timestamp | TypeClass::Unknown
            ) {
                self.at(
                    place,
                    ProblemKind::Catalog,
                    &field,
                    "a data retention column must be a date or a timestamp in the catalog".into(),
                );
            }
        }
        let keep = match obj.get("keep").and_then(Json::as_str) {
            Some(k) => match Retention::parse_period(k) {
                Ok(p) => Some(p),
                Err(m) => {
                    self.at(
                        place,
                        ProblemKind::InvalidValue,
                        &format!("{prefix}.keep"),
                        m,
                    );
                    None
                }
            },
            None => {
                self.at(
                    place,
                    ProblemKind::Missing,
                    &format!("{prefix}.keep"),
                    "a data retention rule needs `keep`, a period such as `90 days`".into(),
                );
                None
            }
        };
        let (column, (count, unit)) = (column?, keep?);
        let retention = Retention {
            column,
            count,
            unit,
        };
        let text = format!(
            "{} >= now() - interval '{}'",
            crate::ident::display(&retention.column),
            retention.period()
        );
        match Predicate::parse(&text, table_name, table) {
            Ok(predicate) => Some(Rule::RowFilter {
                table: table_name.clone(),
                predicate,
                retention: Some(retention),
            }),
            Err(errors) => {
                for e in errors {
                    self.at(place, ProblemKind::Predicate, &field, e.message);
                }
                None
            }
        }
    }
}
