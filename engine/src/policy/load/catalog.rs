//! The catalog: tables and their columns, types and foreign keys, listed functions, the
//! default access.

use serde_json::Value as Json;

use super::{Loader, Place};
use crate::catalog::{
    check_type_name, parse_column_name, parse_data_type, Catalog, Column, DefaultAccess,
    ForeignKey, ForeignKeyAction, Table, TableName,
};
use crate::policy::ProblemKind;

impl Loader {
    pub(super) fn catalog(&mut self, value: &Json) -> Catalog {
        let place = Place::default();
        let Some(obj) = value.as_object() else {
            self.at(
                &place,
                ProblemKind::WrongType,
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
                        ProblemKind::InvalidValue,
                        "catalog.default_access",
                        format!("unknown default access `{s}`; expected {}", allowed()),
                    );
                    DefaultAccess::Allow
                }
            },
            Some(other) => {
                self.at(
                    &place,
                    ProblemKind::InvalidValue,
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
                self.at(
                    &place,
                    ProblemKind::WrongType,
                    "catalog.tables",
                    "`tables` must be an array".into(),
                );
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
                    ProblemKind::WrongType,
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
                        self.at(
                            &place,
                            ProblemKind::InvalidValue,
                            &format!("{field}.name"),
                            m,
                        );
                        continue;
                    }
                },
                None => {
                    self.at(
                        &place,
                        ProblemKind::Missing,
                        &format!("{field}.name"),
                        "a table needs a `name` string".into(),
                    );
                    continue;
                }
            };
            if tables.iter().any(|t| t.name == name) {
                self.at(
                    &place,
                    ProblemKind::Duplicate,
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
                        ProblemKind::Missing,
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
                                        self.at(
                                            &place,
                                            ProblemKind::InvalidValue,
                                            &format!("{cfield}.type"),
                                            m,
                                        );
                                        None
                                    }
                                }
                            }
                            Some(_) => {
                                self.at(
                                    &place,
                                    ProblemKind::WrongType,
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
                        ProblemKind::InvalidValue,
                        &cfield,
                        "a column is a name or an object with `name` and `type`".into(),
                    );
                    continue;
                };
                match parse_column_name(cname) {
                    Ok(n) if columns.iter().any(|c| c.name == n) => {
                        self.at(
                            &place,
                            ProblemKind::Duplicate,
                            &format!("{cfield}.name"),
                            format!("column `{n}` is listed twice in `{name}`"),
                        );
                    }
                    Ok(n) => {
                        let sql_type = ctype.as_deref().and_then(|t| parse_data_type(t).ok());
                        columns.push(Column::new(n, ctype, sql_type))
                    }
                    Err(m) => self.at(
                        &place,
                        ProblemKind::InvalidValue,
                        &format!("{cfield}.name"),
                        m,
                    ),
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
                        ProblemKind::Catalog,
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
                    ProblemKind::WrongType,
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
                self.at(place, ProblemKind::InvalidValue, &at, shape.into());
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
                            ProblemKind::InvalidValue,
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
                        Some(Err(m)) => this.at(
                            place,
                            ProblemKind::InvalidValue,
                            &format!("{at}.{key}[{n}]"),
                            m,
                        ),
                        None => this.at(
                            place,
                            ProblemKind::WrongType,
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
                        ProblemKind::Catalog,
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
                        self.at(
                            place,
                            ProblemKind::InvalidValue,
                            &format!("{at}.references"),
                            m,
                        );
                        None
                    }
                },
                None => {
                    self.at(
                        place,
                        ProblemKind::Missing,
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
                                    ProblemKind::InvalidValue,
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
                            ProblemKind::WrongType,
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
                        ProblemKind::InvalidValue,
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
                    ProblemKind::WrongType,
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
                    ProblemKind::WrongType,
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
                        ProblemKind::WrongType,
                        &format!("{field}.reads_governed_tables"),
                        format!("`reads_governed_tables` must be true or false, not {other}"),
                    );
                    true
                }
            };
            let Some(text) = obj.get("name").and_then(Json::as_str) else {
                self.at(
                    place,
                    ProblemKind::Missing,
                    &format!("{field}.name"),
                    "a function needs a `name` (`f` or `schema.f`)".into(),
                );
                continue;
            };
            match crate::catalog::TableName::parse(text) {
                Ok(name) if out.contains_key(&name) => self.at(
                    place,
                    ProblemKind::Duplicate,
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
                    ProblemKind::InvalidValue,
                    &format!("{field}.name"),
                    m.replace("table name", "function name"),
                ),
            }
        }
        out
    }
}
