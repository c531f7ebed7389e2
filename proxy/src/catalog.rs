//! Catalog queries (psql's `\dt`, `\d TABLE`, `\l` and the like): a read of the system
//! catalogs is answered when it is a plain `SELECT` over a vetted set of catalog relations,
//! calling only vetted catalog functions and casting only to catalog types, so that it can
//! read no table data. Before it runs, each catalog relation it names is replaced by its
//! rows about the tables the principal may read (the policy catalog's tables that the
//! engine lets the principal select from) and, in `pg_attribute`, the columns the
//! principal may read; everything else stays with the engine (which blocks it, as an
//! unknown relation).
//!
//! Indexes and constraints are shown when all their key columns are visible (an
//! expression index's expression is shown as PostgreSQL prints it).
//!
//! What remains visible as in PostgreSQL itself: the names of schemas, roles, types,
//! access methods, databases and publications. Catalog relations that hold data
//! (`pg_statistic`, `pg_stats`, `pg_statistic_ext_data`, …) and functions that read files,
//! other tables or settings are not on the lists.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, ObjectName, ObjectNamePart, Query, SetExpr, Statement, TableAlias,
    TableFactor, Visit, VisitMut, Visitor, VisitorMut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use verdict_engine::{evaluate, Context, PolicySet};

/// Catalog relations a query may read, each with the filter that keeps its rows about
/// visible tables (`None`: global metadata PostgreSQL shows every role, kept whole).
/// In a filter, `$VIS` stands for the array of the visible tables' OIDs, `$COLS` for the
/// condition on `attrelid`/`attname` that keeps the visible columns, and `$IDX` for the
/// condition on `pg_index` that keeps the indexes of visible tables whose key columns are
/// all visible (an index or a constraint on a hidden column would name it).
const INDEXES: &str = "indrelid = ANY ($VIS) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute \
     WHERE attrelid = indrelid AND attnum = ANY (indkey::pg_catalog.int2[]) AND attnum > 0 AND NOT $COLS)";

const RELATIONS: &[(&str, Option<&str>)] = &[
    (
        "pg_class",
        Some("oid = ANY ($VIS) OR oid IN (SELECT indexrelid FROM pg_catalog.pg_index WHERE $IDX)"),
    ),
    (
        "pg_attribute",
        Some("attrelid = ANY ($VIS) AND (attnum <= 0 OR $COLS)"),
    ),
    ("pg_attrdef", Some("adrelid = ANY ($VIS)")),
    ("pg_index", Some("$IDX")),
    (
        "pg_constraint",
        Some(
            "conrelid = ANY ($VIS) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute \
              WHERE attrelid = conrelid AND attnum = ANY (conkey) AND attnum > 0 AND NOT $COLS)",
        ),
    ),
    ("pg_policy", Some("polrelid = ANY ($VIS)")),
    ("pg_trigger", Some("tgrelid = ANY ($VIS)")),
    ("pg_statistic_ext", Some("stxrelid = ANY ($VIS)")),
    (
        "pg_inherits",
        Some("inhrelid = ANY ($VIS) AND inhparent = ANY ($VIS)"),
    ),
    ("pg_publication_rel", Some("prrelid = ANY ($VIS)")),
    // Comments (JDBC's getTables REMARKS): of visible tables and of schemas; column
    // comments are left out.
    (
        "pg_description",
        Some(
            "(classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND objoid = ANY ($VIS) AND objsubid = 0) \
             OR classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass",
        ),
    ),
    ("pg_namespace", None),
    ("pg_am", None),
    ("pg_type", None),
    ("pg_collation", None),
    ("pg_roles", None),
    ("pg_database", None),
    ("pg_tablespace", None),
    ("pg_publication", None),
    ("pg_publication_namespace", None),
    // Functions' signatures (psql's `\df`), read through [`PROJECTIONS`]: not their
    // source or settings.
    ("pg_proc", None),
];

/// Relations read through a projection rather than whole: the columns a catalog query
/// may see.
const PROJECTIONS: &[(&str, &str)] = &[(
    "pg_proc",
    "oid, proname, pronamespace, proowner, prolang, prokind, prosecdef, proleakproof, \
     proisstrict, proretset, provolatile, proparallel, pronargs, pronargdefaults, prorettype, \
     proargtypes, proallargtypes, proargmodes, proargnames, proacl",
)];

/// Functions a catalog query may name that are replaced before it runs: sizes of relations
/// (`\dt+`: their sizes would tell how much data a governed table holds) become NULL, so
/// psql shows no size; comments become NULL except schema comments (`\dn+`), as
/// `obj_description(oid, 'pg_namespace')` reads only those.
const REPLACED: &[(&str, &str)] = &[
    ("pg_table_size", "CAST(NULL AS pg_catalog.int8)"),
    ("pg_relation_size", "CAST(NULL AS pg_catalog.int8)"),
    ("pg_total_relation_size", "CAST(NULL AS pg_catalog.int8)"),
    ("pg_indexes_size", "CAST(NULL AS pg_catalog.int8)"),
    ("obj_description", "CAST(NULL AS pg_catalog.text)"),
    ("col_description", "CAST(NULL AS pg_catalog.text)"),
    ("shobj_description", "CAST(NULL AS pg_catalog.text)"),
];

/// Functions a catalog query may call: they format catalog entries and read nothing else.
const FUNCTIONS: &[&str] = &[
    "array",
    "array_to_string",
    "array_upper",
    "count",
    "format_type",
    "generate_series",
    "nullif",
    "pg_encoding_to_char",
    "pg_function_is_visible",
    "pg_get_function_arguments",
    "pg_get_function_result",
    "pg_get_constraintdef",
    "pg_get_expr",
    "pg_get_indexdef",
    "pg_get_statisticsobjdef_columns",
    "pg_get_triggerdef",
    "pg_get_userbyid",
    "pg_relation_is_publishable",
    "pg_size_pretty",
    "pg_table_is_visible",
    "row_number",
    "string_agg",
    "unnest",
];

/// Types a catalog query may cast to (a cast to a domain could run a check function).
const TYPES: &[&str] = &[
    "bigint",
    "int8",
    "bool",
    "boolean",
    "\"char\"",
    "char",
    "int",
    "int2",
    "int2[]",
    "int4",
    "int8",
    "integer",
    "name",
    "oid",
    "regclass",
    "regnamespace",
    "regproc",
    "regtype",
    "smallint",
    "text",
];

/// Whether the text may be a catalog query (psql qualifies every catalog name).
pub fn may_be_catalog(sql: &str) -> bool {
    sql.as_bytes()
        .windows(11)
        .any(|w| w.eq_ignore_ascii_case(b"pg_catalog."))
}

/// The text to run for a catalog query of the principal `ctx`, or `None` when `sql` is not
/// one (the engine judges it then).
pub fn answer(set: &PolicySet, ctx: &Context, sql: &str) -> Option<String> {
    if !may_be_catalog(sql) {
        return None;
    }
    let mut statements = Parser::new(&PostgreSqlDialect {})
        .with_recursion_limit(32)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .ok()?;
    if statements.len() != 1 {
        return None;
    }
    let mut stmt = statements.pop()?;
    if !matches!(stmt, Statement::Query(_)) {
        return None;
    }
    let mut check = Check {
        ok: true,
        relations: 0,
    };
    let _ = stmt.visit(&mut check);
    // A text that reads no catalog relation is not a catalog query.
    if !check.ok || check.relations == 0 {
        return None;
    }
    let filters = Filters::of(set, ctx);
    let mut rewrite = Rewrite {
        filters: &filters,
        failed: false,
    };
    let _ = VisitMut::visit(&mut stmt, &mut rewrite);
    (!rewrite.failed).then(|| stmt.to_string())
}

/// The last part of a name, lowercase, if the name is `x` or `pg_catalog.x`.
fn catalog_name(name: &ObjectName) -> Option<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Some(i.value.to_ascii_lowercase()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [name] => Some(name.clone()),
        [schema, name] if schema == "pg_catalog" => Some(name.clone()),
        _ => None,
    }
}

/// Whether a query's shape is acceptable: no CTE (it could shadow a catalog name), no
/// locking, no `SELECT INTO`, only `SELECT`s and set operations.
fn plain_query(q: &Query) -> bool {
    fn body(e: &SetExpr) -> bool {
        match e {
            SetExpr::Select(s) => s.into.is_none(),
            SetExpr::Query(q) => plain_query(q),
            SetExpr::SetOperation { left, right, .. } => body(left) && body(right),
            _ => false,
        }
    }
    q.with.is_none() && q.locks.is_empty() && q.for_clause.is_none() && body(&q.body)
}

/// Checks every relation, function, cast and operator against the lists.
struct Check {
    ok: bool,
    /// Catalog relations read.
    relations: usize,
}

impl Check {
    fn fail(&mut self) -> ControlFlow<()> {
        self.ok = false;
        ControlFlow::Break(())
    }
}

impl Visitor for Check {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if plain_query(q) {
            ControlFlow::Continue(())
        } else {
            self.fail()
        }
    }

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
        match t {
            TableFactor::Table {
                name,
                args,
                with_hints,
                version: None,
                partitions,
                json_path: None,
                sample: None,
                index_directives,
                inheritance: None,
                ..
            } if with_hints.is_empty() && partitions.is_empty() && index_directives.is_empty() => {
                let known = catalog_name(name).is_some_and(|n| match args {
                    None => RELATIONS.iter().any(|(r, _)| *r == n),
                    // Set-returning functions over their arguments alone (`\\d+` unnests
                    // a table's options).
                    Some(_) => n == "generate_series" || n == "unnest",
                });
                if args.is_none() {
                    self.relations += 1;
                }
                if known {
                    ControlFlow::Continue(())
                } else {
                    self.fail()
                }
            }
            TableFactor::Derived { lateral: false, .. } | TableFactor::NestedJoin { .. } => {
                ControlFlow::Continue(())
            }
            _ => self.fail(),
        }
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        let ok = match e {
            Expr::Function(f) => catalog_name(&f.name).is_some_and(|n| {
                FUNCTIONS.contains(&n.as_str()) || REPLACED.iter().any(|(r, _)| *r == n)
            }),
            Expr::Cast { data_type, .. } => {
                let printed = data_type.to_string().to_ascii_lowercase();
                let bare = printed.strip_prefix("pg_catalog.").unwrap_or(&printed);
                TYPES.contains(&bare)
            }
            Expr::BinaryOp {
                op: BinaryOperator::PGCustomBinaryOperator(parts),
                ..
            } => {
                matches!(parts.as_slice(), [schema, _] if schema.eq_ignore_ascii_case("pg_catalog"))
            }
            _ => true,
        };
        if ok {
            ControlFlow::Continue(())
        } else {
            self.fail()
        }
    }
}

/// The rows of each catalog relation the principal may see.
struct Filters {
    /// Relation → the subquery that replaces it.
    queries: BTreeMap<&'static str, Query>,
}

/// `"a"` for an identifier.
fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `'a'` for a string.
fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Filters {
    /// The filters for `ctx`: a table is visible when the engine lets the principal read
    /// at least one of its columns, and a column when the engine lets them read it.
    fn of(set: &PolicySet, ctx: &Context) -> Filters {
        let mut oids = Vec::new();
        let mut cols = Vec::new();
        let tables = set.catalog.as_ref().map(|c| c.tables()).unwrap_or_default();
        for table in tables {
            let qualified = format!(
                "{}.{}",
                quote_ident(&table.name.schema),
                quote_ident(&table.name.name)
            );
            // One evaluation when every column is readable; one per column otherwise.
            let all = !evaluate(set, &format!("SELECT * FROM {qualified}"), ctx).is_block();
            let readable: Vec<String> = table
                .columns
                .iter()
                .filter(|c| {
                    all || {
                        let probe = format!("SELECT {} FROM {qualified}", quote_ident(&c.name));
                        !evaluate(set, &probe, ctx).is_block()
                    }
                })
                .map(|c| quote_literal(&c.name))
                .collect();
            if readable.is_empty() {
                continue;
            }
            let oid = format!(
                "pg_catalog.to_regclass({})::pg_catalog.oid",
                quote_literal(&qualified)
            );
            cols.push(format!(
                "(attrelid = {oid} AND attname IN ({}))",
                readable.join(", ")
            ));
            oids.push(oid);
        }
        let vis = format!("ARRAY[{}]::pg_catalog.oid[]", oids.join(", "));
        let cols = if cols.is_empty() {
            "false".to_string()
        } else {
            format!("({})", cols.join(" OR "))
        };
        let mut queries = BTreeMap::new();
        for (relation, filter) in RELATIONS {
            let text = match filter {
                Some(f) => format!(
                    "SELECT * FROM pg_catalog.{relation} WHERE {}",
                    f.replace("$IDX", INDEXES)
                        .replace("$VIS", &vis)
                        .replace("$COLS", &cols)
                ),
                None => format!(
                    "SELECT {} FROM pg_catalog.{relation}",
                    PROJECTIONS
                        .iter()
                        .find(|(r, _)| r == relation)
                        .map_or("*", |(_, p)| p)
                ),
            };
            let parsed = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&text)
                .and_then(|mut p| p.parse_query());
            if let Ok(q) = parsed {
                queries.insert(*relation, *q);
            }
        }
        Filters { queries }
    }
}

/// Replaces each catalog relation by its filtered rows, keeping its name as the alias.
struct Rewrite<'a> {
    filters: &'a Filters,
    /// A relation without its filter (cannot happen: every listed relation has one).
    failed: bool,
}

/// The replacement of a call of a [`REPLACED`] function (`None`: kept as it is).
fn replacement(f: &sqlparser::ast::Function) -> Option<Expr> {
    let name = catalog_name(&f.name)?;
    let (_, text) = REPLACED.iter().find(|(r, _)| *r == name)?;
    if name == "obj_description" {
        // The comment of a schema: the second argument names pg_namespace.
        let printed = f.args.to_string().to_ascii_lowercase();
        if printed.ends_with(", 'pg_namespace')")
            || printed.ends_with(", 'pg_catalog.pg_namespace')")
        {
            return None;
        }
    }
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .ok()
}

impl VisitorMut for Rewrite<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e {
            let name = catalog_name(&f.name);
            if name.is_some_and(|n| REPLACED.iter().any(|(r, _)| *r == n)) {
                match replacement(f) {
                    Some(r) => *e = r,
                    None if catalog_name(&f.name).as_deref() == Some("obj_description") => {}
                    None => {
                        self.failed = true;
                        return ControlFlow::Break(());
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }

    // After the children: the subqueries put in are not visited again.
    fn post_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = t
        else {
            return ControlFlow::Continue(());
        };
        let Some(relation) = catalog_name(name) else {
            self.failed = true;
            return ControlFlow::Break(());
        };
        let Some(query) = self.filters.queries.get(relation.as_str()) else {
            self.failed = true;
            return ControlFlow::Break(());
        };
        let alias = alias.take().unwrap_or_else(|| TableAlias {
            name: sqlparser::ast::Ident::new(relation.clone()),
            columns: Vec::new(),
            explicit: true,
            at: None,
        });
        *t = TableFactor::Derived {
            lateral: false,
            subquery: Box::new(query.clone()),
            alias: Some(alias),
            sample: None,
        };
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> PolicySet {
        PolicySet::parse(
            r#"{"catalog": {"tables": [
                {"name": "public.orders", "columns": [{"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"}]},
                {"name": "public.customers", "columns": [{"name": "id", "type": "integer"}, {"name": "ssn", "type": "text"}]},
                {"name": "public.salaries", "columns": [{"name": "amount", "type": "integer"}]}]},
              "policies": [{"id": "p", "rules": [
                {"type": "deny", "table": "customers", "columns": ["ssn"]},
                {"type": "deny", "table": "salaries"}]}]}"#,
        )
        .unwrap()
    }

    const DT: &str = r#"SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;"#;

    #[test]
    fn psql_s_table_list_sees_the_readable_tables_only() {
        let ctx = Context::default();
        let text = answer(&set(), &ctx, DT).unwrap();
        assert!(
            text.contains("to_regclass('\"public\".\"orders\"')"),
            "{text}"
        );
        assert!(
            text.contains("to_regclass('\"public\".\"customers\"')"),
            "{text}"
        );
        assert!(!text.contains("salaries"), "{text}");
        // The printed text parses again.
        Parser::parse_sql(&PostgreSqlDialect {}, &text).unwrap();
    }

    #[test]
    fn columns_of_a_table_hide_denied_ones() {
        let q = "SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = '16384' AND a.attnum > 0 ORDER BY a.attnum";
        let text = answer(&set(), &Context::default(), q).unwrap();
        assert!(
            text.contains(r#"(attrelid = pg_catalog.to_regclass('"public"."customers"')::pg_catalog.oid AND attname IN ('id'))"#),
            "{text}"
        );
        assert!(text.contains(")) a WHERE a.attrelid"), "{text}");
    }

    #[test]
    fn anything_else_is_left_to_the_engine() {
        let ctx = Context::default();
        for sql in [
            "SELECT * FROM pg_catalog.pg_statistic",
            "SELECT * FROM pg_catalog.pg_stats",
            "SELECT * FROM pg_catalog.pg_class, orders",
            "SELECT (SELECT count(*) FROM public.salaries) FROM pg_catalog.pg_class",
            "SELECT pg_catalog.pg_read_file('/etc/passwd') FROM pg_catalog.pg_class",
            "SELECT relname::public.evil FROM pg_catalog.pg_class",
            "WITH pg_class AS (SELECT * FROM salaries) SELECT * FROM pg_catalog.pg_class",
            "SELECT * FROM pg_catalog.pg_class FOR UPDATE",
            "SELECT * INTO x FROM pg_catalog.pg_class",
            "SELECT relname FROM pg_catalog.pg_class; SELECT 1",
            "DELETE FROM pg_catalog.pg_class",
            "SELECT a OPERATOR(public.===) b FROM pg_catalog.pg_class",
            "SELECT * FROM public.pg_class WHERE 'pg_catalog.' = ''",
            "SELECT * FROM LATERAL (SELECT 1) x, pg_catalog.pg_class",
            "SELECT pg_catalog.current_setting('x') FROM pg_catalog.pg_class",
            "SELECT pg_catalog.pg_get_userbyid(10)",
            "SELECT * FROM pg_catalog.generate_series(1, 10)",
        ] {
            assert_eq!(answer(&set(), &ctx, sql), None, "{sql}");
        }
    }

    /// psql 15's `\\d+ TABLE` column query.
    const D_PLUS_COLUMNS: &str = r#"SELECT a.attname,
  pg_catalog.format_type(a.atttypid, a.atttypmod),
  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
   FROM pg_catalog.pg_attrdef d
   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
  a.attnotnull,
  (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t
   WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation,
  a.attidentity,
  a.attgenerated,
  a.attstorage,
  a.attcompression AS attcompression,
  CASE WHEN a.attstattarget=-1 THEN NULL ELSE a.attstattarget END AS attstattarget,
  pg_catalog.col_description(a.attrelid, a.attnum)
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = '16384' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;"#;

    #[test]
    fn sizes_and_comments_are_not_read() {
        let ctx = Context::default();
        let dt_plus = DT.replace(
            "as \"Owner\"",
            "as \"Owner\", pg_catalog.pg_size_pretty(pg_catalog.pg_table_size(c.oid)) as \"Size\", pg_catalog.obj_description(c.oid, 'pg_class') as \"Description\"",
        );
        let text = answer(&set(), &ctx, &dt_plus).unwrap();
        assert!(
            text.contains("pg_catalog.pg_size_pretty(CAST(NULL AS pg_catalog.int8))"),
            "{text}"
        );
        assert!(
            !text.contains("pg_table_size") && !text.contains("obj_description"),
            "{text}"
        );
        let text = answer(&set(), &ctx, D_PLUS_COLUMNS).unwrap();
        assert!(!text.contains("col_description"), "{text}");
        // A schema's comment stays: obj_description(…, 'pg_namespace') reads only those.
        let dn = "SELECT n.nspname, pg_catalog.obj_description(n.oid, 'pg_namespace') FROM pg_catalog.pg_namespace n";
        let text = answer(&set(), &ctx, dn).unwrap();
        assert!(
            text.contains("obj_description(n.oid, 'pg_namespace')"),
            "{text}"
        );
        // Functions: their signatures, not their source.
        let df = "SELECT p.proname, pg_catalog.pg_get_function_arguments(p.oid) FROM pg_catalog.pg_proc p WHERE pg_catalog.pg_function_is_visible(p.oid)";
        let text = answer(&set(), &ctx, df).unwrap();
        assert!(
            text.contains("SELECT oid, proname,") && !text.contains("prosrc"),
            "{text}"
        );
    }

    /// pgjdbc 42.5's `DatabaseMetaData.getTables` and `getColumns` queries.
    const JDBC_TABLES: &str = r#"SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME,  CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema'  WHEN true THEN CASE  WHEN n.nspname = 'pg_catalog' OR n.nspname = 'information_schema' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TABLE'   WHEN 'v' THEN 'SYSTEM VIEW'   WHEN 'i' THEN 'SYSTEM INDEX'   ELSE NULL   END  WHEN n.nspname = 'pg_toast' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TOAST TABLE'   WHEN 'i' THEN 'SYSTEM TOAST INDEX'   ELSE NULL   END  ELSE CASE c.relkind   WHEN 'r' THEN 'TEMPORARY TABLE'   WHEN 'p' THEN 'TEMPORARY TABLE'   WHEN 'i' THEN 'TEMPORARY INDEX'   WHEN 'S' THEN 'TEMPORARY SEQUENCE'   WHEN 'v' THEN 'TEMPORARY VIEW'   ELSE NULL   END  END  WHEN false THEN CASE c.relkind  WHEN 'r' THEN 'TABLE'  WHEN 'p' THEN 'PARTITIONED TABLE'  WHEN 'i' THEN 'INDEX'  WHEN 'P' then 'PARTITIONED INDEX'  WHEN 'S' THEN 'SEQUENCE'  WHEN 'v' THEN 'VIEW'  WHEN 'c' THEN 'TYPE'  WHEN 'f' THEN 'FOREIGN TABLE'  WHEN 'm' THEN 'MATERIALIZED VIEW'  ELSE NULL  END  ELSE NULL  END  AS TABLE_TYPE, d.description AS REMARKS,  '' as TYPE_CAT, '' as TYPE_SCHEM, '' as TYPE_NAME, '' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION  FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c  LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0  and d.classoid = 'pg_class'::regclass)  WHERE c.relnamespace = n.oid  AND n.nspname LIKE 'public' AND c.relname LIKE '%' AND (false  OR ( c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ) )  ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME"#;
    const JDBC_COLUMNS: &str = r#"SELECT * FROM (SELECT n.nspname,c.relname,a.attname,a.atttypid,a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS attnotnull,a.atttypmod,a.attlen,t.typtypmod,row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') as attidentity,nullif(a.attgenerated, '') as attgenerated,pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,dsc.description,t.typbasetype,t.typtype  FROM pg_catalog.pg_namespace n  JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)  JOIN pg_catalog.pg_attribute a ON (a.attrelid=c.oid)  JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)  LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid=def.adrelid AND a.attnum = def.adnum)  LEFT JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)  LEFT JOIN pg_catalog.pg_class dc ON (dc.oid=dsc.classoid AND dc.relname='pg_class')  LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace=dn.oid AND dn.nspname='pg_catalog')  WHERE c.relkind in ('r','p','v','f','m') and a.attnum > 0 AND NOT a.attisdropped  AND n.nspname LIKE 'public' AND c.relname LIKE 'customers') c WHERE true  AND attname LIKE '%' ORDER BY nspname,c.relname,attnum"#;

    #[test]
    fn jdbc_metadata_reads_are_catalog_reads() {
        let ctx = Context::default();
        for sql in [JDBC_TABLES, JDBC_COLUMNS] {
            let text = answer(&set(), &ctx, sql).unwrap_or_else(|| panic!("{sql}"));
            assert!(!text.contains("salaries"), "{text}");
            assert!(
                text.contains("(SELECT * FROM pg_catalog.pg_description WHERE"),
                "{text}"
            );
        }
    }
}
