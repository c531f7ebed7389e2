//! The catalog: governed tables, their columns in order, and their types.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use sqlparser::ast::{DataType, Ident};

use crate::ident;

/// The schema an unqualified name means (PostgreSQL's default `search_path`).
pub const DEFAULT_SCHEMA: &str = "public";

/// A table's normalized, schema-qualified name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TableName {
    pub schema: String,
    pub name: String,
}

impl TableName {
    /// A name from normalized parts.
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        TableName {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// Resolves identifier parts (`t` or `s.t`) with PostgreSQL's case rules.
    pub fn from_idents(parts: &[&Ident]) -> Option<Self> {
        match parts {
            [table] => Some(TableName::new(DEFAULT_SCHEMA, ident::normalize(table))),
            [schema, table] => Some(TableName::new(
                ident::normalize(schema),
                ident::normalize(table),
            )),
            _ => None,
        }
    }

    /// Parses a name as written in a policy file (`orders`, `public.orders`, `"Mixed"`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parser = crate::parse::parser(crate::Dialect::Postgres, text)
            .map_err(|e| format!("`{text}` is not a table name: {e}"))?;
        let name = parser
            .parse_object_name(false)
            .map_err(|e| format!("`{text}` is not a table name: {e}"))?;
        if parser.peek_token().token != sqlparser::tokenizer::Token::EOF {
            return Err(format!("`{text}` is not a table name"));
        }
        let parts =
            ident::object_parts(&name).ok_or_else(|| format!("`{text}` is not a table name"))?;
        for part in &parts {
            too_long(part)?;
        }
        TableName::from_idents(&parts)
            .ok_or_else(|| format!("`{text}` is not a table name; write `table` or `schema.table`"))
    }

    /// The identifiers that print this name.
    pub fn idents(&self) -> Vec<Ident> {
        vec![
            ident::make_ident(&self.schema),
            ident::make_ident(&self.name),
        ]
    }
}

impl TableName {
    /// Writes the name as it prints (`schema.name`, each part quoted when needed).
    pub fn write_to<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        ident::Shown(&self.schema).write_to(out)?;
        out.write_char('.')?;
        ident::Shown(&self.name).write_to(out)
    }

    /// Appends the name as it prints to `out`, without the formatting machinery.
    pub fn push_to(&self, out: &mut String) {
        // INVARIANT: writing into a String cannot fail.
        let _ = self.write_to(out);
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

/// Parses a column name as written in a policy file.
pub fn parse_column_name(text: &str) -> Result<String, String> {
    let mut parser = crate::parse::parser(crate::Dialect::Postgres, text)
        .map_err(|e| format!("`{text}` is not a column name: {e}"))?;
    let id = parser
        .parse_identifier()
        .map_err(|_| format!("`{text}` is not a column name"))?;
    if parser.peek_token().token != sqlparser::tokenizer::Token::EOF {
        return Err(format!("`{text}` is not a column name"));
    }
    too_long(&id)?;
    Ok(ident::normalize(&id))
}

/// A name in a policy file longer than PostgreSQL keeps names: no table or column can have
/// it, and PostgreSQL would read it as its first 63 bytes, so it is refused rather than cut.
fn too_long(id: &Ident) -> Result<(), String> {
    let name = ident::folded(id);
    if name.len() <= ident::MAX_NAME_BYTES {
        return Ok(());
    }
    Err(format!(
        "`{}` is {} bytes long; PostgreSQL names have at most {} bytes and it would read this one as `{}`",
        name,
        name.len(),
        ident::MAX_NAME_BYTES,
        ident::truncate(&name)
    ))
}

/// Parses a column type as written in a catalog (`integer`, `varchar(20)`, `timestamp with time zone`).
pub fn parse_data_type(text: &str) -> Result<DataType, String> {
    // The engine's parser: it refuses long runs of `[]`, which nest types without bound.
    let mut parser = crate::parse::parser(crate::Dialect::Postgres, text)
        .map_err(|e| format!("`{text}` is not a type: {e}"))?;
    let t = parser
        .parse_data_type()
        .map_err(|_| format!("`{text}` is not a type"))?;
    if parser.peek_token().token != sqlparser::tokenizer::Token::EOF {
        return Err(format!("`{text}` is not a type"));
    }
    Ok(t)
}

/// SQL's spellings of built-in types that are not `pg_type` names (PostgreSQL's grammar
/// maps them: `integer` is `int4`, `double precision` is `float8`, …), lowercased as the
/// parser prints them, without modifiers.
const STANDARD_TYPE_NAMES: &[&str] = &[
    "bigint",
    "bit varying",
    "boolean",
    "char",
    "character",
    "character varying",
    "dec",
    "decimal",
    "double precision",
    "float",
    "int",
    "integer",
    "national character",
    "national character varying",
    "nchar",
    "real",
    "smallint",
    "time with time zone",
    "time without time zone",
    "timestamp with time zone",
    "timestamp without time zone",
];

/// Types of extensions so common that catalogs name them without their schema.
const EXTENSION_TYPE_NAMES: &[&str] = &["citext"];

/// Checks that a catalog column's type is one PostgreSQL has: a built-in type (its
/// `pg_type` name or an SQL spelling of it, with modifiers and `[]` as PostgreSQL takes
/// them), or a user-defined type named with its schema (`public.mood`). Catches typos
/// such as `integr`, which would otherwise reach the rewritten SQL as `CAST(NULL AS
/// integr)`.
pub fn check_type_name(t: &DataType) -> Result<(), String> {
    let printed = t.to_string().to_lowercase();
    let mut base = printed
        .split(['(', '['])
        .next()
        .unwrap_or(&printed)
        .trim()
        .trim_matches('"')
        .to_string();
    if let DataType::Custom(name, _) = t {
        let part = |i: usize| {
            name.0
                .get(i)
                .and_then(|p| p.as_ident())
                .map(crate::ident::normalize)
                .unwrap_or_default()
        };
        match name.0.len() {
            1 => {}
            // `pg_catalog.x` names a built-in type: checked below. Any other schema
            // holds the database's own types (or information_schema's domains).
            2 if part(0) == "pg_catalog" => base = part(1),
            2 => return Ok(()),
            _ => {
                return Err(format!(
                    "`{name}` is not a type name: a type is `name` or `schema.name`"
                ))
            }
        }
    }
    let base = base.strip_prefix("pg_catalog.").unwrap_or(&base);
    let known = crate::functions::listed(crate::pg_types::NAMES, base)
        || STANDARD_TYPE_NAMES.contains(&base)
        || EXTENSION_TYPE_NAMES.contains(&base)
        || base.starts_with("interval");
    if known {
        Ok(())
    } else {
        Err(format!(
            "`{base}` is not a PostgreSQL type; use a built-in type (`integer`, `text`, `numeric(10,2)`, `timestamptz`, …) or name a user-defined type with its schema (`public.{base}`)"
        ))
    }
}

/// What the engine needs to know of a column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeClass {
    Text,
    Numeric,
    Boolean,
    Date,
    Timestamp,
    Other,
    Unknown,
}

/// One column of a catalog table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Normalized name.
    pub name: String,
    /// The type as written in the catalog, lowercased (`text`, `integer`, `date`, …).
    pub data_type: Option<String>,
    /// The type parsed, for casts that keep the column's type.
    pub sql_type: Option<DataType>,
    /// The identifier that prints the name (quoted when needed).
    pub ident: Ident,
    /// `ident` as printed, for the scans that list the columns.
    pub shown: String,
}

impl Column {
    /// A column with this normalized name and optional type.
    pub fn new(name: String, data_type: Option<String>, sql_type: Option<DataType>) -> Self {
        let ident = ident::make_ident(&name);
        let shown = ident.to_string();
        Column {
            name,
            data_type,
            sql_type,
            ident,
            shown,
        }
    }
}

impl Column {
    /// The type's class, for masks whose result depends on it.
    pub fn type_class(&self) -> TypeClass {
        match self.data_type.as_deref() {
            None => TypeClass::Unknown,
            Some(t) => classify(t),
        }
    }
}

/// The class of a lowercased type name.
pub fn classify(t: &str) -> TypeClass {
    let base = t.split('(').next().unwrap_or(t).trim();
    match base {
        "text" | "varchar" | "character varying" | "char" | "character" | "bpchar" | "citext"
        | "name" => TypeClass::Text,
        "date" => TypeClass::Date,
        "integer" | "int" | "int2" | "int4" | "int8" | "smallint" | "bigint" | "numeric"
        | "decimal" | "real" | "float" | "float4" | "float8" | "double precision" | "double"
        | "serial" | "bigserial" | "smallserial" => TypeClass::Numeric,
        "boolean" | "bool" => TypeClass::Boolean,
        "timestamp"
        | "timestamptz"
        | "timestamp without time zone"
        | "timestamp with time zone" => TypeClass::Timestamp,
        _ => TypeClass::Other,
    }
}

/// A governed table with its columns in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: TableName,
    pub columns: Vec<Column>,
}

impl Table {
    /// The column with this normalized name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// What a context may do with a governed table (one that a rule of an enabled `enforce`
/// policy names) when no enabled `enforce` policy naming the table applies to it:
/// `catalog.default_access`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DefaultAccess {
    /// Read and write it with no rule applied (the default).
    #[default]
    Allow,
    /// Nothing: any reference to it is blocked (`default_deny`).
    Deny,
}

impl DefaultAccess {
    /// Every value with its JSON name.
    pub const ALL: [(&'static str, DefaultAccess); 2] = [
        ("allow", DefaultAccess::Allow),
        ("deny", DefaultAccess::Deny),
    ];
}

/// A function of the database that the catalog lists (`catalog.functions`): under a strict
/// catalog a caller may call only PostgreSQL's safe built-ins and these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Its schema-qualified name (unqualified: `public`).
    pub name: TableName,
    /// Whether it reads governed tables (then it would read them around the policies, and
    /// a call is blocked). Absent in the catalog: true.
    pub reads_governed_tables: bool,
}

/// What PostgreSQL does to referencing rows when the row they reference is deleted or its
/// key updated (`ON DELETE …` / `ON UPDATE …`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForeignKeyAction {
    #[default]
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl ForeignKeyAction {
    /// Every action with its catalog spelling (PostgreSQL's, lower case).
    pub const ALL: [(&'static str, ForeignKeyAction); 5] = [
        ("no action", ForeignKeyAction::NoAction),
        ("restrict", ForeignKeyAction::Restrict),
        ("cascade", ForeignKeyAction::Cascade),
        ("set null", ForeignKeyAction::SetNull),
        ("set default", ForeignKeyAction::SetDefault),
    ];

    /// The catalog spelling.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("no action", |(n, _)| n)
    }

    /// Whether PostgreSQL writes the referencing rows (as the owner of their table, around
    /// row level security and privileges), where an error can print them whole.
    pub fn writes(self) -> bool {
        matches!(
            self,
            ForeignKeyAction::Cascade | ForeignKeyAction::SetNull | ForeignKeyAction::SetDefault
        )
    }
}

/// A foreign key between catalog tables (`catalog.tables[].foreign_keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// The referencing table.
    pub table: TableName,
    /// Its referencing columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub references: TableName,
    /// The referenced columns; `None` when the catalog does not say (its primary key):
    /// then any UPDATE of the referenced table counts as updating them.
    pub referenced_columns: Option<Vec<String>>,
    pub on_delete: ForeignKeyAction,
    pub on_update: ForeignKeyAction,
}

/// The tables the policy set knows; when present, the catalog is strict (SPEC §4.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    tables: Vec<Table>,
    index: BTreeMap<TableName, usize>,
    /// `default_access`.
    pub default_access: DefaultAccess,
    /// `functions`, by name.
    pub functions: BTreeMap<TableName, Function>,
    /// The tables' `foreign_keys`.
    pub foreign_keys: Vec<ForeignKey>,
}

impl Catalog {
    /// A catalog of these tables; the caller has checked names are unique.
    pub fn new(tables: Vec<Table>) -> Self {
        let index = tables
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Catalog {
            tables,
            index,
            default_access: DefaultAccess::Allow,
            functions: BTreeMap::new(),
            foreign_keys: Vec::new(),
        }
    }

    /// The foreign keys that reference `table`.
    pub fn referencing(&self, table: &TableName) -> impl Iterator<Item = &ForeignKey> {
        let table = table.clone();
        self.foreign_keys
            .iter()
            .filter(move |fk| fk.references == table)
    }

    /// The table with this name.
    pub fn table(&self, name: &TableName) -> Option<&Table> {
        self.entry(name).map(|(_, t)| t)
    }

    /// The table with this name, and its position in [`Catalog::tables`].
    pub fn entry(&self, name: &TableName) -> Option<(usize, &Table)> {
        self.index
            .get(name)
            .and_then(|&i| Some((i, self.tables.get(i)?)))
    }

    /// Every table, in catalog order.
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }
}

#[cfg(test)]
mod type_name_tests {
    use super::{check_type_name, parse_data_type};

    #[test]
    fn postgres_types_pass_and_typos_do_not() {
        for t in [
            "integer",
            "int",
            "int4",
            "bigint",
            "text",
            "varchar(4)",
            "character varying(20)",
            "char(10)",
            "numeric(10,2)",
            "double precision",
            "float8",
            "real",
            "boolean",
            "bool",
            "date",
            "timestamp",
            "timestamptz",
            "timestamp(3) with time zone",
            "time without time zone",
            "interval",
            "interval year to month",
            "jsonb",
            "uuid",
            "bytea",
            "inet",
            "int4range",
            "tsvector",
            "integer[]",
            "text[][]",
            "citext",
            "public.mood",
            "pg_catalog.int4",
            "\"pg_catalog\".\"int4\"",
            "information_schema.sql_identifier",
            "bit varying(5)",
            "money",
            "xml",
        ] {
            let parsed = parse_data_type(t).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert!(check_type_name(&parsed).is_ok(), "{t} ({parsed}) refused");
        }
        for t in [
            "integr",
            "string",
            "datetime",
            "tinyint",
            "nvarchar(3)",
            "int64",
            "mood",
            "pg_catalog.integr",
            "PG_CATALOG.mood",
            "db.public.mood",
        ] {
            let Ok(parsed) = parse_data_type(t) else {
                continue;
            };
            let err = check_type_name(&parsed).expect_err(t);
            assert!(
                err.contains("not a PostgreSQL type") || err.contains("not a type name"),
                "{t}: {err}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_case_rules() {
        assert_eq!(
            TableName::parse("Orders").unwrap(),
            TableName::new("public", "orders")
        );
        assert_eq!(
            TableName::parse("sales.\"Orders\"").unwrap(),
            TableName::new("sales", "Orders")
        );
        assert!(TableName::parse("a.b.c").is_err());
        let long = "t".repeat(64);
        assert!(TableName::parse(&long).unwrap_err().contains("64 bytes"));
        assert!(TableName::parse(&format!("{long}.x")).is_err());
        assert!(parse_column_name(&format!("\"{long}\"")).is_err());
        assert_eq!(
            TableName::parse(&"T".repeat(63)).unwrap().name,
            "t".repeat(63)
        );
        assert!(TableName::parse("orders; drop").is_err());
        assert_eq!(
            TableName::new("public", "Orders").to_string(),
            "public.\"Orders\""
        );
    }
}
