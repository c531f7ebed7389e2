//! Loading a policy set from JSON or YAML: every field, its default, and every problem at once.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json};

use super::{
    AuditLevel, Limits, Mask, MaskKind, Mode, Operation, Policy, PolicySet, Predicate, Problem,
    Restriction, Retention, Rule, StatementKind, Subjects,
};
use crate::catalog::{
    check_type_name, parse_column_name, parse_data_type, Catalog, Column, DefaultAccess,
    ForeignKey, ForeignKeyAction, Table, TableName, TypeClass,
};
use crate::error::InputError;

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
        "invalid_policy",
        format!("the policy set is not valid {format}: {message}"),
    );
    err.problems.push(Problem {
        policy: None,
        policy_index: None,
        rule_index: None,
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
                        key,
                        format!("unknown field `{key}`; a policy set has `catalog` and `policies`"),
                    );
                }
            }
            let policies = match obj.get("policies") {
                None | Some(Json::Null) => Vec::new(),
                Some(Json::Array(items)) => items.iter().collect(),
                Some(_) => {
                    loader.top("policies", "`policies` must be an array of policies".into());
                    Vec::new()
                }
            };
            (obj.get("catalog"), policies)
        }
        Json::Object(_) => (None, vec![value]),
        Json::Array(items) => (None, items.iter().collect()),
        _ => {
            loader.top("", "a policy file holds a policy set object, an array of policies, or one policy object".into());
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
            "invalid_policy",
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
        catalog,
        policies,
        memo: Default::default(),
    })
}

/// Where inside the file a problem is.
#[derive(Clone, Default)]
struct Place {
    policy: Option<String>,
    policy_index: Option<usize>,
    rule_index: Option<usize>,
}

#[derive(Default)]
struct Loader {
    problems: Vec<Problem>,
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

const RULE_TYPES: &str =
    "row_filter, column_mask, deny, data_retention, query_restriction or query_limit";

const RESTRICTION_FIELDS: &[&str] = &[
    "type",
    "statements",
    "denied_functions",
    "require_where",
    "description",
];

const LIMIT_FIELDS: &[&str] = &[
    "type",
    "max_rows",
    "max_joins",
    "queries_per_hour",
    "queries_per_day",
    "max_execution_ms",
    "description",
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
    fn top(&mut self, field: &str, message: String) {
        self.at(&Place::default(), field, message);
    }

    fn at(&mut self, place: &Place, field: &str, message: String) {
        self.problems.push(Problem {
            policy: place.policy.clone(),
            policy_index: place.policy_index,
            rule_index: place.rule_index,
            field: field.to_string(),
            message,
            line: None,
            column: None,
        });
    }

    fn unknown_fields(
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
                    &format!("{prefix}{key}"),
                    format!(
                        "unknown field `{key}`; expected one of {}",
                        known.join(", ")
                    ),
                );
            }
        }
    }

    fn catalog(&mut self, value: &Json) -> Catalog {
        let place = Place::default();
        let Some(obj) = value.as_object() else {
            self.at(
                &place,
                "catalog",
                "`catalog` must be an object with `tables`".into(),
            );
            return Catalog::default();
        };
        self.unknown_fields(
            &place,
            "catalog.",
            obj,
            &["tables", "default_access", "functions"],
        );
        let functions = self.catalog_functions(&place, obj.get("functions"));
        let allowed = || {
            DefaultAccess::ALL
                .iter()
                .map(|(n, _)| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        let default_access = match obj.get("default_access") {
            None | Some(Json::Null) => DefaultAccess::Allow,
            Some(Json::String(s)) => match DefaultAccess::ALL.iter().find(|(n, _)| n == s) {
                Some((_, d)) => *d,
                None => {
                    self.at(
                        &place,
                        "catalog.default_access",
                        format!("unknown default access `{s}`; expected {}", allowed()),
                    );
                    DefaultAccess::Allow
                }
            },
            Some(other) => {
                self.at(
                    &place,
                    "catalog.default_access",
                    format!("`default_access` must be {}, not {other}", allowed()),
                );
                DefaultAccess::Allow
            }
        };
        let items = match obj.get("tables") {
            Some(Json::Array(items)) => items.as_slice(),
            None | Some(Json::Null) => &[],
            Some(_) => {
                self.at(&place, "catalog.tables", "`tables` must be an array".into());
                &[]
            }
        };
        let mut tables: Vec<Table> = Vec::new();
        let mut foreign_keys: Vec<ForeignKey> = Vec::new();
        let mut foreign_key_fields: Vec<String> = Vec::new();
        for (i, t) in items.iter().enumerate() {
            let field = format!("catalog.tables[{i}]");
            let Some(tobj) = t.as_object() else {
                self.at(
                    &place,
                    &field,
                    "a table must be an object with `name` and `columns`".into(),
                );
                continue;
            };
            self.unknown_fields(
                &place,
                &format!("{field}."),
                tobj,
                &["name", "columns", "description", "foreign_keys"],
            );
            let name = match tobj.get("name").and_then(Json::as_str) {
                Some(n) => match TableName::parse(n) {
                    Ok(name) => name,
                    Err(m) => {
                        self.at(&place, &format!("{field}.name"), m);
                        continue;
                    }
                },
                None => {
                    self.at(
                        &place,
                        &format!("{field}.name"),
                        "a table needs a `name` string".into(),
                    );
                    continue;
                }
            };
            if tables.iter().any(|t| t.name == name) {
                self.at(
                    &place,
                    &format!("{field}.name"),
                    format!("table `{name}` is listed twice"),
                );
                continue;
            }
            let mut columns: Vec<Column> = Vec::new();
            let cols = match tobj.get("columns") {
                Some(Json::Array(cols)) => cols.as_slice(),
                _ => {
                    self.at(
                        &place,
                        &format!("{field}.columns"),
                        format!("table `{name}` needs a `columns` array"),
                    );
                    &[]
                }
            };
            for (j, c) in cols.iter().enumerate() {
                let cfield = format!("{field}.columns[{j}]");
                let (cname, ctype) = match c {
                    Json::String(s) => (Some(s.as_str()), None),
                    Json::Object(cobj) => {
                        self.unknown_fields(
                            &place,
                            &format!("{cfield}."),
                            cobj,
                            &["name", "type", "description", "nullable"],
                        );
                        let ctype = match cobj.get("type") {
                            None | Some(Json::Null) => None,
                            Some(Json::String(t)) => {
                                match parse_data_type(t).and_then(|d| check_type_name(&d)) {
                                    Ok(()) => Some(t.trim().to_lowercase()),
                                    Err(m) => {
                                        self.at(&place, &format!("{cfield}.type"), m);
                                        None
                                    }
                                }
                            }
                            Some(_) => {
                                self.at(
                                    &place,
                                    &format!("{cfield}.type"),
                                    "`type` must be a string".into(),
                                );
                                None
                            }
                        };
                        (cobj.get("name").and_then(Json::as_str), ctype)
                    }
                    _ => (None, None),
                };
                let Some(cname) = cname else {
                    self.at(
                        &place,
                        &cfield,
                        "a column is a name or an object with `name` and `type`".into(),
                    );
                    continue;
                };
                match parse_column_name(cname) {
                    Ok(n) if columns.iter().any(|c| c.name == n) => {
                        self.at(
                            &place,
                            &format!("{cfield}.name"),
                            format!("column `{n}` is listed twice in `{name}`"),
                        );
                    }
                    Ok(n) => {
                        let sql_type = ctype.as_deref().and_then(|t| parse_data_type(t).ok());
                        columns.push(Column::new(n, ctype, sql_type))
                    }
                    Err(m) => self.at(&place, &format!("{cfield}.name"), m),
                }
            }
            for (at, fk) in
                self.foreign_keys(&place, &field, tobj.get("foreign_keys"), &name, &columns)
            {
                foreign_key_fields.push(at);
                foreign_keys.push(fk);
            }
            tables.push(Table { name, columns });
        }
        let mut catalog = Catalog::new(tables);
        for (i, fk) in foreign_keys.iter().enumerate() {
            let Some(referenced) = catalog.table(&fk.references) else {
                // A table outside the catalog: its columns cannot be checked.
                continue;
            };
            for c in fk.referenced_columns.iter().flatten() {
                if referenced.column(c).is_none() {
                    let at = foreign_key_fields.get(i).cloned().unwrap_or_default();
                    self.at(
                        &place,
                        &format!("{at}.referenced_columns"),
                        format!(
                            "column `{c}` is not in the catalog for table `{}`",
                            fk.references
                        ),
                    );
                }
            }
        }
        catalog.default_access = default_access;
        catalog.functions = functions;
        catalog.foreign_keys = foreign_keys;
        catalog
    }

    /// `catalog.functions`: `[{"name": "schema.f", "reads_governed_tables": false}]`.
    /// A table's `foreign_keys`, each with its JSON path.
    fn foreign_keys(
        &mut self,
        place: &Place,
        field: &str,
        value: Option<&Json>,
        table: &TableName,
        columns: &[Column],
    ) -> Vec<(String, ForeignKey)> {
        let shape =
            "a foreign key is `{columns, references, referenced_columns?, on_delete?, on_update?}`";
        let items = match value {
            None | Some(Json::Null) => return Vec::new(),
            Some(Json::Array(items)) => items,
            Some(_) => {
                self.at(
                    place,
                    &format!("{field}.foreign_keys"),
                    format!("`foreign_keys` must be an array; {shape}"),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (k, item) in items.iter().enumerate() {
            let at = format!("{field}.foreign_keys[{k}]");
            let Some(obj) = item.as_object() else {
                self.at(place, &at, shape.into());
                continue;
            };
            self.unknown_fields(
                place,
                &format!("{at}."),
                obj,
                &[
                    "columns",
                    "references",
                    "referenced_columns",
                    "on_delete",
                    "on_update",
                ],
            );
            let before = self.problems.len();
            let names = |this: &mut Self, key: &str| -> Option<Vec<String>> {
                let list = match obj.get(key) {
                    Some(Json::Array(list)) if !list.is_empty() => list,
                    _ => {
                        this.at(
                            place,
                            &format!("{at}.{key}"),
                            format!("`{key}` must be a non-empty array of column names"),
                        );
                        return None;
                    }
                };
                let mut out = Vec::new();
                for (n, c) in list.iter().enumerate() {
                    match c.as_str().map(parse_column_name) {
                        Some(Ok(name)) => out.push(name),
                        Some(Err(m)) => this.at(place, &format!("{at}.{key}[{n}]"), m),
                        None => this.at(
                            place,
                            &format!("{at}.{key}[{n}]"),
                            "a column name must be a string".into(),
                        ),
                    }
                }
                (!out.is_empty()).then_some(out)
            };
            let fk_columns = names(self, "columns");
            for c in fk_columns.iter().flatten() {
                if !columns.iter().any(|col| &col.name == c) {
                    self.at(
                        place,
                        &format!("{at}.columns"),
                        format!("column `{c}` is not in the catalog for table `{table}`"),
                    );
                }
            }
            let referenced_columns = match obj.get("referenced_columns") {
                None | Some(Json::Null) => None,
                Some(_) => names(self, "referenced_columns"),
            };
            let references = match obj.get("references").and_then(Json::as_str) {
                Some(n) => match TableName::parse(n) {
                    Ok(name) => Some(name),
                    Err(m) => {
                        self.at(place, &format!("{at}.references"), m);
                        None
                    }
                },
                None => {
                    self.at(
                        place,
                        &format!("{at}.references"),
                        "a foreign key needs the name of the table it `references`".into(),
                    );
                    None
                }
            };
            let action = |this: &mut Self, key: &str| -> ForeignKeyAction {
                match obj.get(key) {
                    None | Some(Json::Null) => ForeignKeyAction::NoAction,
                    Some(Json::String(s)) => {
                        let wanted = s.trim().to_ascii_lowercase().replace('_', " ");
                        match ForeignKeyAction::ALL.iter().find(|(n, _)| *n == wanted) {
                            Some((_, a)) => *a,
                            None => {
                                this.at(
                                    place,
                                    &format!("{at}.{key}"),
                                    format!(
                                        "unknown action `{s}`; expected one of {}",
                                        ForeignKeyAction::ALL
                                            .iter()
                                            .map(|(n, _)| format!("`{n}`"))
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    ),
                                );
                                ForeignKeyAction::NoAction
                            }
                        }
                    }
                    Some(_) => {
                        this.at(
                            place,
                            &format!("{at}.{key}"),
                            format!("`{key}` must be a string such as `cascade`"),
                        );
                        ForeignKeyAction::NoAction
                    }
                }
            };
            let on_delete = action(self, "on_delete");
            let on_update = action(self, "on_update");
            if let (Some(cs), Some(rs)) = (&fk_columns, &referenced_columns) {
                if cs.len() != rs.len() {
                    self.at(
                        place,
                        &format!("{at}.referenced_columns"),
                        format!(
                            "{} referencing columns but {} referenced columns",
                            cs.len(),
                            rs.len()
                        ),
                    );
                }
            }
            if self.problems.len() != before {
                continue;
            }
            let (Some(fk_columns), Some(references)) = (fk_columns, references) else {
                continue;
            };
            out.push((
                at,
                ForeignKey {
                    table: table.clone(),
                    columns: fk_columns,
                    references,
                    referenced_columns,
                    on_delete,
                    on_update,
                },
            ));
        }
        out
    }

    fn catalog_functions(
        &mut self,
        place: &Place,
        value: Option<&Json>,
    ) -> std::collections::BTreeMap<crate::catalog::TableName, crate::catalog::Function> {
        let mut out = std::collections::BTreeMap::new();
        let items = match value {
            None | Some(Json::Null) => return out,
            Some(Json::Array(items)) => items,
            Some(_) => {
                self.at(
                    place,
                    "catalog.functions",
                    "`functions` must be an array of `{name, reads_governed_tables}`".into(),
                );
                return out;
            }
        };
        for (i, item) in items.iter().enumerate() {
            let field = format!("catalog.functions[{i}]");
            let Some(obj) = item.as_object() else {
                self.at(
                    place,
                    &field,
                    "a function must be an object with `name` and `reads_governed_tables`".into(),
                );
                continue;
            };
            self.unknown_fields(
                place,
                &format!("{field}."),
                obj,
                &["name", "reads_governed_tables"],
            );
            let reads_governed_tables = match obj.get("reads_governed_tables") {
                None | Some(Json::Null) => true,
                Some(Json::Bool(b)) => *b,
                Some(other) => {
                    self.at(
                        place,
                        &format!("{field}.reads_governed_tables"),
                        format!("`reads_governed_tables` must be true or false, not {other}"),
                    );
                    true
                }
            };
            let Some(text) = obj.get("name").and_then(Json::as_str) else {
                self.at(
                    place,
                    &format!("{field}.name"),
                    "a function needs a `name` (`f` or `schema.f`)".into(),
                );
                continue;
            };
            match crate::catalog::TableName::parse(text) {
                Ok(name) if out.contains_key(&name) => self.at(
                    place,
                    &format!("{field}.name"),
                    format!("function `{name}` is listed twice"),
                ),
                Ok(name) => {
                    out.insert(
                        name.clone(),
                        crate::catalog::Function {
                            name,
                            reads_governed_tables,
                        },
                    );
                }
                Err(m) => self.at(
                    place,
                    &format!("{field}.name"),
                    m.replace("table name", "function name"),
                ),
            }
        }
        out
    }

    fn policy(&mut self, index: usize, value: &Json, catalog: Option<&Catalog>) -> Option<Policy> {
        let mut place = Place {
            policy: None,
            policy_index: Some(index),
            rule_index: None,
        };
        let Some(obj) = value.as_object() else {
            self.at(&place, "", "a policy must be an object".into());
            return None;
        };
        let id = match obj.get("id") {
            Some(Json::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Json::String(_)) => {
                self.at(&place, "id", "`id` must not be empty".into());
                None
            }
            Some(Json::Number(n)) => Some(n.to_string()),
            _ => {
                self.at(&place, "id", "a policy needs an `id` string".into());
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
                self.at(&place, "priority", "`priority` must be an integer".into());
                0
            }
        };
        let mode = match obj.get("mode") {
            None | Some(Json::Null) => Mode::Enforce,
            Some(Json::String(s)) if s == "enforce" => Mode::Enforce,
            Some(Json::String(s)) if s == "monitor" => Mode::Monitor,
            Some(other) => {
                self.at(
                    &place,
                    "mode",
                    format!("`mode` must be `enforce` or `monitor`, not {other}"),
                );
                Mode::Enforce
            }
        };
        let audit_level = match obj.get("audit_level") {
            None | Some(Json::Null) => AuditLevel::Normal,
            Some(Json::String(s)) if s == "none" => AuditLevel::None,
            Some(Json::String(s)) if s == "normal" => AuditLevel::Normal,
            Some(Json::String(s)) if s == "verbose" => AuditLevel::Verbose,
            Some(other) => {
                self.at(
                    &place,
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
            Some(_) => self.at(&place, "rules", "`rules` must be an array".into()),
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

    fn opt_string(&mut self, place: &Place, obj: &Map<String, Json>, key: &str) -> Option<String> {
        match obj.get(key) {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(_) => {
                self.at(place, key, format!("`{key}` must be a string"));
                None
            }
        }
    }

    fn bool_field(
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
                self.at(place, key, format!("`{key}` must be true or false"));
                default
            }
        }
    }

    fn string_list(&mut self, place: &Place, value: Option<&Json>, field: &str) -> Vec<String> {
        match value {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::String(s)) => vec![s.clone()],
            Some(Json::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) => out.push(s.to_string()),
                        None => self.at(place, &format!("{field}[{i}]"), "must be a string".into()),
                    }
                }
                out
            }
            Some(_) => {
                self.at(
                    place,
                    field,
                    format!("`{field}` must be an array of strings"),
                );
                Vec::new()
            }
        }
    }

    fn labels(&mut self, place: &Place, value: Option<&Json>) -> BTreeMap<String, String> {
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
                "labels",
                "`labels` must be an object of strings or an array of `key=value` strings".into(),
            ),
        }
        out
    }

    fn subjects(&mut self, place: &Place, obj: &Map<String, Json>, key: &str) -> Subjects {
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
            self.at(place, &prefix, "a rule must be an object".into());
            return None;
        };
        let kind = match obj.get("type").and_then(Json::as_str) {
            Some(k) => k,
            None => {
                self.at(
                    place,
                    &format!("{prefix}.type"),
                    format!("a rule needs a `type`: {RULE_TYPES}"),
                );
                return None;
            }
        };
        let known: &[&str] = match kind {
            "row_filter" => &["type", "table", "predicate", "description"],
            "column_mask" => &["type", "table", "column", "mask", "description"],
            "deny" => &["type", "table", "columns", "operations", "description"],
            "data_retention" => &["type", "table", "column", "keep", "description"],
            "query_restriction" => {
                self.unknown_fields(place, &format!("{prefix}."), obj, RESTRICTION_FIELDS);
                return self.restriction(place, &prefix, obj);
            }
            "query_limit" => {
                self.unknown_fields(place, &format!("{prefix}."), obj, LIMIT_FIELDS);
                return self.limits(place, &prefix, obj);
            }
            other => {
                self.at(
                    place,
                    &format!("{prefix}.type"),
                    format!("unknown rule type `{other}`; expected {RULE_TYPES}"),
                );
                return None;
            }
        };
        self.unknown_fields(place, &format!("{prefix}."), obj, known);
        let table_name = match obj.get("table").and_then(Json::as_str) {
            Some(t) => match TableName::parse(t) {
                Ok(n) => n,
                Err(m) => {
                    self.at(place, &format!("{prefix}.table"), m);
                    return None;
                }
            },
            None => {
                self.at(
                    place,
                    &format!("{prefix}.table"),
                    "a rule needs a `table` string".into(),
                );
                return None;
            }
        };
        let table = match catalog {
            Some(cat) => match cat.table(&table_name) {
                Some(t) => Some(t),
                None => {
                    self.at(
                        place,
                        &format!("{prefix}.table"),
                        format!("table `{table_name}` is not in the catalog"),
                    );
                    return None;
                }
            },
            None => None,
        };
        let column_known = |loader: &mut Loader, field: &str, col: &str| -> Option<String> {
            match parse_column_name(col) {
                Ok(n) => {
                    if let Some(t) = table {
                        if t.column(&n).is_none() {
                            loader.at(
                                place,
                                field,
                                format!(
                                    "column `{n}` is not in the catalog for table `{table_name}`"
                                ),
                            );
                            return None;
                        }
                    }
                    Some(n)
                }
                Err(m) => {
                    loader.at(place, field, m);
                    None
                }
            }
        };
        match kind {
            "row_filter" => {
                let text = match obj.get("predicate").and_then(Json::as_str) {
                    Some(t) => t,
                    None => {
                        self.at(
                            place,
                            &format!("{prefix}.predicate"),
                            "a row filter needs a `predicate` string".into(),
                        );
                        return None;
                    }
                };
                match Predicate::parse(text, &table_name, table) {
                    Ok(predicate) => Some(Rule::RowFilter {
                        table: table_name,
                        predicate,
                        retention: None,
                    }),
                    Err(errors) => {
                        for e in errors {
                            self.problems.push(Problem {
                                policy: place.policy.clone(),
                                policy_index: place.policy_index,
                                rule_index: place.rule_index,
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
            "data_retention" => {
                let field = format!("{prefix}.column");
                let column = match obj.get("column").and_then(Json::as_str) {
                    Some(c) => column_known(self, &field, c),
                    None => {
                        self.at(
                            place,
                            &field,
                            "a data retention rule needs a `column` string: the row's date or timestamp".into(),
                        );
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
                            &field,
                            "a data retention column must be a date or a timestamp in the catalog"
                                .into(),
                        );
                    }
                }
                let keep = match obj.get("keep").and_then(Json::as_str) {
                    Some(k) => match Retention::parse_period(k) {
                        Ok(p) => Some(p),
                        Err(m) => {
                            self.at(place, &format!("{prefix}.keep"), m);
                            None
                        }
                    },
                    None => {
                        self.at(
                            place,
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
                match Predicate::parse(&text, &table_name, table) {
                    Ok(predicate) => Some(Rule::RowFilter {
                        table: table_name,
                        predicate,
                        retention: Some(retention),
                    }),
                    Err(errors) => {
                        for e in errors {
                            self.at(place, &field, e.message);
                        }
                        None
                    }
                }
            }
            "column_mask" => {
                let field = format!("{prefix}.column");
                let column = match obj.get("column").and_then(Json::as_str) {
                    Some(c) => column_known(self, &field, c)?,
                    None => {
                        self.at(
                            place,
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
                        table: table_name,
                        column,
                        mask,
                        sql: expr.to_string(),
                        expr,
                    }),
                    Err(m) => {
                        self.at(place, &format!("{prefix}.mask"), m);
                        None
                    }
                }
            }
            _ => {
                let mut columns = Vec::new();
                let mut ok = true;
                match obj.get("columns") {
                    None | Some(Json::Null) => {}
                    Some(Json::Array(items)) => {
                        for (j, c) in items.iter().enumerate() {
                            let field = format!("{prefix}.columns[{j}]");
                            match c.as_str() {
                                Some(c) => match column_known(self, &field, c) {
                                    Some(n) => columns.push(n),
                                    None => ok = false,
                                },
                                None => {
                                    self.at(place, &field, "a column must be a string".into());
                                    ok = false;
                                }
                            }
                        }
                        if items.is_empty() {
                            self.at(
                                place,
                                &format!("{prefix}.columns"),
                                "`columns` is empty; leave it out to deny the whole table".into(),
                            );
                            ok = false;
                        }
                    }
                    Some(_) => {
                        self.at(
                            place,
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
                                    self.at(place, &format!("{prefix}.operations[{j}]"), format!("unknown operation {op}; expected select, insert, update, delete or ddl"));
                                    ok = false;
                                }
                            }
                        }
                    }
                    Some(_) => {
                        self.at(
                            place,
                            &format!("{prefix}.operations"),
                            "`operations` must be an array".into(),
                        );
                        ok = false;
                    }
                }
                operations.sort();
                operations.dedup();
                ok.then_some(Rule::Deny {
                    table: table_name,
                    columns,
                    operations,
                })
            }
        }
    }

    fn restriction(
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
                    place,
                    &format!("{prefix}.denied_functions[{j}]"),
                    format!("`{f}` is not a function name (letters, digits and `_`, with an optional trailing `*`)"),
                );
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

    fn limits(&mut self, place: &Place, prefix: &str, obj: &Map<String, Json>) -> Option<Rule> {
        let before = self.problems.len();
        let count = |loader: &mut Loader, key: &str, min: u64| -> Option<u64> {
            match obj.get(key) {
                None | Some(Json::Null) => None,
                Some(Json::Number(n)) if n.as_u64().is_some_and(|v| v >= min) => n.as_u64(),
                Some(other) => {
                    loader.at(
                        place,
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
                place,
                prefix,
                "a query limit needs at least one of max_rows, max_joins, queries_per_hour, queries_per_day, max_execution_ms".into(),
            );
        }
        (self.problems.len() == before).then_some(Rule::QueryLimit(limits))
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
                    field,
                    "a column mask needs a `mask` object with a `kind`".into(),
                );
                return None;
            }
        };
        let Some(kind) = obj.get("kind").and_then(Json::as_str) else {
            self.at(
                place,
                &format!("{field}.kind"),
                format!("a mask needs a `kind`: {}", Mask::KINDS.join(", ")),
            );
            return None;
        };
        let Some(kind) = MaskKind::from_name(kind) else {
            self.at(
                place,
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
                        &format!("{field}.value"),
                        "`value` must be a string, number, boolean or null".into(),
                    );
                    Mask::Null
                }
                None => {
                    self.at(
                        place,
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
