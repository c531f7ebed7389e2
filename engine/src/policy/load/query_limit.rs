//! `query_limit` rules: rows, joins, queries per hour or day, execution time.

use serde_json::{Map, Value as Json};

use super::{Loader, Place};
use crate::policy::{Limits, ProblemKind, Rule};

impl Loader {
    pub(super) fn query_limit(
        &mut self,
        place: &Place,
        prefix: &str,
        obj: &Map<String, Json>,
    ) -> Option<Rule> {
        let before = self.problems.len();
        let count = |loader: &mut Loader, key: &str, min: u64| -> Option<u64> {
            match obj.get(key) {
                None | Some(Json::Null) => None,
                Some(Json::Number(n)) if n.as_u64().is_some_and(|v| v >= min) => n.as_u64(),
                Some(other) => {
                    loader.at(
                        place,
                        ProblemKind::WrongType,
                        &format!("{prefix}.{key}"),
                        format!("`{key}` must be an integer of at least {min}, not {other}"),
                    );
                    None
                }
            }
        };
        let limits = Limits {
            max_rows: count(self, "max_rows", 0),
            max_joins: count(self, "max_joins", 0),
            queries_per_hour: count(self, "queries_per_hour", 1),
            queries_per_day: count(self, "queries_per_day", 1),
            max_execution_ms: count(self, "max_execution_ms", 1),
        };
        if limits == Limits::default() && self.problems.len() == before {
            self.at(
                place, ProblemKind::Missing,
                prefix,
                "a query limit needs at least one of max_rows, max_joins, queries_per_hour, queries_per_day, max_execution_ms".into());
        }
        (self.problems.len() == before).then_some(Rule::QueryLimit(limits))
    }
}
