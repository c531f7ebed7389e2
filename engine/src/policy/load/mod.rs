//! Loading a policy set from JSON or YAML: every field, its default, and every problem at once.
//! The catalog loads in `catalog.rs`, each rule type in its own file (`RuleType`).

mod catalog;
mod column_mask;
mod data_retention;
mod deny;
mod query_limit;
mod query_restriction;
mod row_filter;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json};

use super::{AuditLevel, Mode, Policy, PolicySet, Problem, ProblemKind, Rule, RuleType, Subjects};
use crate::catalog::{parse_column_name, Catalog, Table, TableName};
use crate::error::{ErrorCode, InputError};

/// Loads and validates a policy set from JSON (text starting with `{` or `[`) or YAML
/// (`yaml_unsupported` without the `yaml` feature).
pub fn parse_policy_set(text: &str) -> Result<PolicySet, InputError> {
    let first = text.trim_start().chars().next();
    let value: Json = if matches!(first, Some('{') | Some('[')) {
        serde_json::from_str(text).map_err(|e| {
            syntax_error(
                "JSON",
                e.to_string(),
                Some(e.line() as u64),
                Some(e.column() as u64),
            )
        })?
    } else {
        yaml_value(text)?
    };
    from_value(&value)
}

#[cfg(feature = "yaml")]
fn yaml_value(text: &str) -> Result<Json, InputError> {
    serde_yaml_ng::from_str(text).map_err(|e| {
        let loc = e.location();
        syntax_error(
            "YAML",
            e.to_string(),
            loc.as_ref().map(|l| l.line() as u64),
            loc.as_ref().map(|l| l.column() as u64),
        )
    })
}

/// Without the `yaml` feature, text that is not JSON is `yaml_unsupported`.
#[cfg(not(feature = "yaml"))]
fn yaml_value(_text: &str) -> Result<Json, InputError> {
    Err(InputError::yaml_unsupported("the policy set"))
}

fn syntax_error(
    format: &str,
    message: String,
    line: Option<u64>,
    column: Option<u64>,
) -> InputError {
    let mut err = InputError::new(
        ErrorCode::InvalidPolicy,
        format!("the policy set is not valid {format}: {message}"),
    );
    err.problems.push(Problem {
        policy: None,
        policy_index: None,
        rule_index: None,
        kind: ProblemKind::Syntax,
        field: String::new(),
        message: format!("not valid {format}: {message}"),
        line,
        column,
    });
    err
}

/// Loads and validates a policy set from a JSON value in any of the three file shapes.
pub fn from_value(value: &Json) -> Result<PolicySet, InputError> {
    let mut loader = Loader::default();
    let (catalog_value, policy_values): (Option<&Json>, Vec<&Json>) = match value {
        Json::Object(obj) if obj.contains_key("policies") || obj.contains_key("catalog") => {
            for key in obj.keys() {
                if !matches!(key.as_str(), "catalog" | "policies" | "version" | "$schema") {
                    loader.top(
                        ProblemKind::UnknownField,
                        key,
                        format!("unknown field `{key}`; a policy set has `catalog` and `policies`"),
                    );
                }
            }
            let policies = match obj.get("policies") {
                None | Some(Json::Null) => Vec::new(),
                Some(Json::Array(items)) => items.iter().collect(),
                Some(_) => {
                    loader.top(
                        ProblemKind::WrongType,
                        "policies",
                        "`policies` must be an array of policies".into(),
                    );
                    Vec::new()
                }
            };
            (obj.get("catalog"), policies)
        }
        Json::Object(_) => (None, vec![value]),
        Json::Array(items) => (None, items.iter().collect()),
        _ => {
            loader.top(ProblemKind::InvalidValue, "", "a policy file holds a policy set object, an array of policies, or one policy object".into());
            (None, Vec::new())
        }
    };
    let catalog = match catalog_value {
        None | Some(Json::Null) => None,
        Some(c) => Some(loader.catalog(c)),
    };
    let mut policies = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, p) in policy_values.into_iter().enumerate() {
        if let Some(policy) = loader.policy(i, p, catalog.as_ref()) {
            if !seen.insert(policy.id.clone()) {
                loader.problems.push(Problem {
                    policy: Some(policy.id.clone()),
                    policy_index: Some(i),
                    rule_index: None,
                    kind: ProblemKind::Duplicate,
                    field: "id".into(),
                    message: format!("duplicate policy id `{}`", policy.id),
                    line: None,
                    column: None,
                });
            }
            policies.push(policy);
        }
    }
    if !loader.problems.is_empty() {
        let n = loader.problems.len();
        let mut err = InputError::new(
            ErrorCode::InvalidPolicy,
            format!(
                "the policy set has {n} problem{}; nothing was loaded",
                if n == 1 { "" } else { "s" }
            ),
        );
        err.problems = loader.problems;
        return Err(err);
    }
    // INVARIANT: the order is total (ids are unique), so evaluation order is deterministic.
    policies.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
    Ok(PolicySet {
        dialect: crate::Dialect::default(),
        catalog,
        policies,
        memo: Default::default(),
    })
}

/// Where inside the file a problem is.
#[derive(Clone, Default)]
pub(super) struct Place {
    pub(super) policy: Option<String>,
    pub(super) policy_index: Option<usize>,
    pub(super) rule_index: Option<usize>,
}

#[derive(Default)]
pub(super) struct Loader {
    pub(super) problems: Vec<Problem>,
}

const POLICY_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "enabled",
    "priority",
    "mode",
    "applies_to",
    "except",
    "break_glass_allowed",
    "compliance_tags",
    "purpose_tags",
    "labels",
    "audit_level",
    "rules",
];

const SUBJECT_FIELDS: &[&str] = &[
    "users",
    "roles",
    "workspaces",
    "data_sources",
    "purposes",
    "datasets",
    "queries",
];

impl Loader {
    pub(super) fn top(&mut self, kind: ProblemKind, field: &str, message: String) {
        self.at(&Place::default(), kind, field, message);
    }

    pub(super) fn at(&mut self, place: &Place, kind: ProblemKind, field: &str, message: String) {
        self.problems.push(Problem {
            policy: place.policy.clone(),
            policy_index: place.policy_index,
            rule_index: place.rule_index,
            kind,
            field: field.to_string(),
            message,
            line: None,
            column: None,
        });
    }

    pub(super) fn unknown_fields(
        &mut self,
        place: &Place,
        prefix: &str,
        obj: &Map<String, Json>,
        known: &[&str],
    ) {
        for key in obj.keys() {
            if !known.contains(&key.as_str()) {
                self.at(
                    place,
                    ProblemKind::UnknownField,
                    &format!("{prefix}{key}"),
                    format!(
                        "unknown field `{key}`; expected one of {}",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    fn policy(&mut self, index: usize, value: &Json, catalog: Option<&Catalog>) -> Option<Policy> {
        let mut place = Place {
            policy: None,
            policy_index: Some(index),
            rule_index: None,
        };
        let Some(obj) = value.as_object() else {
            self.at(
                &place,
                ProblemKind::WrongType,
                "",
                "a policy must be an object".into(),
            );
            return None;
        };
        let id = match obj.get("id") {
            Some(Json::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Json::String(_)) => {
                self.at(
                    &place,
                    ProblemKind::InvalidValue,
                    "id",
                    "`id` must not be empty".into(),
                );
                None
            }
            Some(Json::Number(n)) => Some(n.to_string()),
            _ => {
                self.at(
                    &place,
                    ProblemKind::Missing,
                    "id",
                    "a policy needs an `id` string".into(),
                );
                None
            }
        };
        place.policy = id.clone();
        self.unknown_fields(&place, "", obj, POLICY_FIELDS);

        let name = self.opt_string(&place, obj, "name");
        let description = self.opt_string(&place, obj, "description");
        let enabled = self.bool_field(&place, obj, "enabled", true);
        let break_glass_allowed = self.bool_field(&place, obj, "break_glass_allowed", false);
        let priority = match obj.get("priority") {
            None | Some(Json::Null) => 0,
            Some(Json::Number(n)) if n.as_i64().is_some() => n.as_i64().unwrap_or(0),
            Some(_) => {
                self.at(
                    &place,
                    ProblemKind::WrongType,
                    "priority",
                    "`priority` must be an integer".into(),
                );
                0
            }
        };
        let mode = match obj.get("mode") {
            None | Some(Json::Null) => Mode::Enforce,
            Some(other) => match other.as_str().and_then(Mode::from_name) {
                Some(mode) => mode,
                None => {
                    let names: Vec<String> = Mode::ALL
                        .iter()
                        .map(|m| format!("`{}`", m.as_str()))
                        .collect();
                    self.at(
                        &place,
                        ProblemKind::InvalidValue,
                        "mode",
                        format!("`mode` must be {}, not {other}", names.join(" or ")),
                    );
                    Mode::Enforce
                }
            },
        };
        let audit_level = match obj.get("audit_level") {
            None | Some(Json::Null) => AuditLevel::Normal,
            Some(Json::String(s)) if s == "none" => AuditLevel::None,
            Some(Json::String(s)) if s == "normal" => AuditLevel::Normal,
            Some(Json::String(s)) if s == "verbose" => AuditLevel::Verbose,
            Some(other) => {
                self.at(
                    &place,
                    ProblemKind::InvalidValue,
                    "audit_level",
                    format!("`audit_level` must be `none`, `normal` or `verbose`, not {other}"),
                );
                AuditLevel::Normal
            }
        };
        let applies_to = self.subjects(&place, obj, "applies_to");
        let except = self.subjects(&place, obj, "except");
        let compliance_tags =
            self.string_list(&place, obj.get("compliance_tags"), "compliance_tags");
        let purpose_tags = self.string_list(&place, obj.get("purpose_tags"), "purpose_tags");
        let labels = self.labels(&place, obj.get("labels"));

        let mut rules = Vec::new();
        match obj.get("rules") {
            None | Some(Json::Null) => {}
            Some(Json::Array(items)) => {
                for (i, r) in items.iter().enumerate() {
                    let rplace = Place {
                        rule_index: Some(i),
                        ..place.clone()
                    };
                    if let Some(rule) = self.rule(&rplace, i, r, catalog) {
                        rules.push(rule);
                    }
                }
            }
            Some(_) => self.at(
                &place,
                ProblemKind::WrongType,
                "rules",
                "`rules` must be an array".into(),
            ),
        }
        Some(Policy {
            id: id?,
            name,
            description,
            enabled,
            priority,
            mode,
            applies_to,
            except,
            break_glass_allowed,
            compliance_tags,
            purpose_tags,
            labels,
            audit_level,
            rules,
            lifted: BTreeSet::new(),
        })
    }

    pub(super) fn opt_string(
        &mut self,
        place: &Place,
        obj: &Map<String, Json>,
        key: &str,
    ) -> Option<String> {
        match obj.get(key) {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(_) => {
                self.at(
                    place,
                    ProblemKind::WrongType,
                    key,
                    format!("`{key}` must be a string"),
                );
                None
            }
        }
    }

    pub(super) fn bool_field(
        &mut self,
        place: &Place,
        obj: &Map<String, Json>,
        key: &str,
        default: bool,
    ) -> bool {
        match obj.get(key) {
            None | Some(Json::Null) => default,
            Some(Json::Bool(b)) => *b,
            Some(_) => {
                self.at(
                    place,
                    ProblemKind::WrongType,
                    key,
                    format!("`{key}` must be true or false"),
                );
                default
            }
        }
    }

    pub(super) fn string_list(
        &mut self,
        place: &Place,
        value: Option<&Json>,
        field: &str,
    ) -> Vec<String> {
        match value {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::String(s)) => vec![s.clone()],
            Some(Json::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) => out.push(s.to_string()),
                        None => self.at(
                            place,
                            ProblemKind::WrongType,
                            &format!("{field}[{i}]"),
                            "must be a string".into(),
                        ),
                    }
                }
                out
            }
            Some(_) => {
                self.at(
                    place,
                    ProblemKind::WrongType,
                    field,
                    format!("`{field}` must be an array of strings"),
                );
                Vec::new()
            }
        }
    }

    pub(super) fn labels(
        &mut self,
        place: &Place,
        value: Option<&Json>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        match value {
            None | Some(Json::Null) => {}
            Some(Json::Object(map)) => {
                for (k, v) in map {
                    match v {
                        Json::String(s) => {
                            out.insert(k.clone(), s.clone());
                        }
                        Json::Number(_) | Json::Bool(_) => {
                            out.insert(k.clone(), v.to_string());
                        }
                        _ => self.at(
                            place,
                            ProblemKind::WrongType,
                            &format!("labels.{k}"),
                            "a label value must be a string".into(),
                        ),
                    }
                }
            }
            Some(Json::Array(_)) => {
                for item in self.string_list(place, value, "labels") {
                    match item.split_once('=') {
                        Some((k, v)) => out.insert(k.to_string(), v.to_string()),
                        None => out.insert(item, String::new()),
                    };
                }
            }
            Some(_) => self.at(
                place,
                ProblemKind::WrongType,
                "labels",
                "`labels` must be an object of strings or an array of `key=value` strings".into(),
            ),
        }
        out
    }

    pub(super) fn subjects(
        &mut self,
        place: &Place,
        obj: &Map<String, Json>,
        key: &str,
    ) -> Subjects {
        let mut s = Subjects::default();
        match obj.get(key) {
            None | Some(Json::Null) => {}
            Some(Json::Object(sub)) => {
                self.unknown_fields(place, &format!("{key}."), sub, SUBJECT_FIELDS);
                s.users = self.string_list(place, sub.get("users"), &format!("{key}.users"));
                s.roles = self.string_list(place, sub.get("roles"), &format!("{key}.roles"));
                s.workspaces =
                    self.string_list(place, sub.get("workspaces"), &format!("{key}.workspaces"));
                s.data_sources = self.string_list(
                    place,
                    sub.get("data_sources"),
                    &format!("{key}.data_sources"),
                );
                s.purposes =
                    self.string_list(place, sub.get("purposes"), &format!("{key}.purposes"));
                s.datasets =
                    self.string_list(place, sub.get("datasets"), &format!("{key}.datasets"));
                s.queries = self.string_list(place, sub.get("queries"), &format!("{key}.queries"));
            }
            Some(_) => self.at(
                place,
                ProblemKind::WrongType,
                key,
                format!(
                    "`{key}` must be an object with {}",
                    SUBJECT_FIELDS.join(", ")
                ),
            ),
        }
        s
    }

    fn rule(
        &mut self,
        place: &Place,
        i: usize,
        value: &Json,
        catalog: Option<&Catalog>,
    ) -> Option<Rule> {
        let prefix = format!("rules[{i}]");
        let Some(obj) = value.as_object() else {
            self.at(
                place,
                ProblemKind::WrongType,
                &prefix,
                "a rule must be an object".into(),
            );
            return None;
        };
        let rule_type = match obj.get("type").and_then(Json::as_str) {
            Some(name) => match RuleType::from_name(name) {
                Some(t) => t,
                None => {
                    self.at(
                        place,
                        ProblemKind::InvalidValue,
                        &format!("{prefix}.type"),
                        format!(
                            "unknown rule type `{name}`; expected {}",
                            RuleType::listed()
                        ),
                    );
                    return None;
                }
            },
            None => {
                self.at(
                    place,
                    ProblemKind::Missing,
                    &format!("{prefix}.type"),
                    format!("a rule needs a `type`: {}", RuleType::listed()),
                );
                return None;
            }
        };
        self.unknown_fields(place, &format!("{prefix}."), obj, rule_type.fields());
        let on = |this: &mut Self| this.on_table(place, &prefix, obj, catalog);
        match rule_type {
            RuleType::RowFilter => on(self).and_then(|on| self.row_filter(on)),
            RuleType::DataRetention => on(self).and_then(|on| self.data_retention(on)),
            RuleType::ColumnMask => on(self).and_then(|on| self.column_mask(on)),
            RuleType::Deny => on(self).and_then(|on| self.deny(on)),
            RuleType::QueryRestriction => self.query_restriction(place, &prefix, obj),
            RuleType::QueryLimit => self.query_limit(place, &prefix, obj),
        }
    }

    /// The table a table rule names, checked against the catalog when there is one.
    fn on_table<'a>(
        &mut self,
        place: &'a Place,
        prefix: &'a str,
        obj: &'a Map<String, Json>,
        catalog: Option<&'a Catalog>,
    ) -> Option<OnTable<'a>> {
        let name = match obj.get("table").and_then(Json::as_str) {
            Some(t) => match TableName::parse(t) {
                Ok(n) => n,
                Err(m) => {
                    self.at(
                        place,
                        ProblemKind::InvalidValue,
                        &format!("{prefix}.table"),
                        m,
                    );
                    return None;
                }
            },
            None => {
                self.at(
                    place,
                    ProblemKind::Missing,
                    &format!("{prefix}.table"),
                    "a rule needs a `table` string".into(),
                );
                return None;
            }
        };
        let table = match catalog {
            Some(cat) => match cat.table(&name) {
                Some(t) => Some(t),
                None => {
                    self.at(
                        place,
                        ProblemKind::Catalog,
                        &format!("{prefix}.table"),
                        format!("table `{name}` is not in the catalog"),
                    );
                    return None;
                }
            },
            None => None,
        };
        Some(OnTable {
            place,
            prefix,
            obj,
            name,
            table,
        })
    }

    /// A column a table rule names, checked against the catalog's table when there is one.
    pub(super) fn column_known(
        &mut self,
        on: &OnTable<'_>,
        field: &str,
        col: &str,
    ) -> Option<String> {
        match parse_column_name(col) {
            Ok(n) => {
                if let Some(t) = on.table {
                    if t.column(&n).is_none() {
                        self.at(
                            on.place,
                            ProblemKind::Catalog,
                            field,
                            format!("column `{n}` is not in the catalog for table `{}`", on.name),
                        );
                        return None;
                    }
                }
                Some(n)
            }
            Err(m) => {
                self.at(on.place, ProblemKind::InvalidValue, field, m);
                None
            }
        }
    }
}

/// A rule on one table: where it is, its fields, the table's name and catalog entry.
pub(super) struct OnTable<'a> {
    pub(super) place: &'a Place,
    pub(super) prefix: &'a str,
    pub(super) obj: &'a Map<String, Json>,
    pub(super) name: TableName,
    pub(super) table: Option<&'a Table>,
}
