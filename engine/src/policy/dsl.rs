//! Seed 001's policy fields: `table_name`, `row_filter_dsl` (a JSON predicate tree),
//! `column_masks` (column → mask), `external_id` and `source`, and their compilation into
//! ordinary rules.
//!
//! The tree compiles to a predicate *text* that the loader then parses and checks like
//! any other (SPEC §1): the compiler only decides spelling. Every column name is printed
//! as an identifier (quoted when it must be, `"` doubled), every value as a literal (`'`
//! doubled; PostgreSQL's standard strings read backslashes literally), every context
//! reference as `ctx.user`, `ctx.attr.name` (the name quoted when it must be), …; nothing in a tree is ever copied into
//! the text as SQL, so no tree can produce more than one boolean expression.
//!
//! Grammar (each node is an object with exactly one operator):
//!
//! - `{"and": [node, …]}`, `{"or": [node, …]}` (at least one node), `{"not": node}`;
//! - `{"eq" | "ne" | "lt" | "le" | "gt" | "ge" | "like": [column, operand]}`;
//! - `{"in" | "not_in": [column, [operand, …]]}` or `[column, {"ctx": …}]` (a list in
//!   the context: `= ANY(…)` / `<> ALL(…)`);
//! - `{"is_null": column}`, `{"is_not_null": column}` (also `[column]`).
//!
//! A column is a string (its name) or `{"col": name}`. An operand is a string, number or
//! boolean (a value), `{"ctx": "user" | "roles" | "purpose" | "workspace" | "data_source"
//! | "attr.<name>"}` (`ctx.` may lead), `{"col": name}` (another column) or
//! `{"value": v}` (an explicit value).

use serde_json::{Map, Value};

use crate::ident;
use crate::policy::{Problem, ProblemKind};

/// Policy fields of seed 001 that the loader does not read: [`expand_seed_fields`] turns
/// them into rules and removes them.
pub const SEED_FIELDS: &[&str] = &[
    "table_name",
    "row_filter_dsl",
    "column_masks",
    "external_id",
    "source",
];

/// The values of `source`.
pub const SOURCES: &[&str] = &["manual", "imported", "derived"];

/// The deepest tree compiled.
pub const MAX_DEPTH: usize = 32;
/// The most nodes and operands in one tree.
pub const MAX_NODES: usize = 1_000;
/// The longest column, attribute or value text, in characters.
pub const MAX_TEXT_CHARS: usize = 1_024;

/// The description given to the rules compiled from `row_filter_dsl`.
pub const DSL_RULE_DESCRIPTION: &str = "compiled from row_filter_dsl";
/// The description given to the rules compiled from `column_masks`.
pub const MASK_RULE_DESCRIPTION: &str = "compiled from column_masks";

/// Compiles a predicate tree to predicate text. `path` prefixes the problems' paths.
pub fn compile_row_filter(tree: &Value, path: &str) -> Result<String, Vec<Problem>> {
    let mut c = Compiler {
        problems: Vec::new(),
        nodes: 0,
    };
    let text = c.node(tree, path, 0);
    if c.problems.is_empty() {
        if text.chars().count() > super::MAX_PREDICATE_CHARS {
            return Err(vec![problem(
                ProblemKind::Predicate,
                path,
                &format!(
                    "compiles to a predicate longer than {} characters",
                    super::MAX_PREDICATE_CHARS
                ),
            )]);
        }
        Ok(text)
    } else {
        Err(c.problems)
    }
}

/// Turns a policy's seed fields into rules, in place: a `row_filter` rule on `table_name`
/// from `row_filter_dsl`, one `column_mask` rule per entry of `column_masks` (in the
/// object's order), appended after the policy's own `rules`; then removes every seed field. Every
/// problem is answered, and the policy is left unchanged.
pub fn expand_seed_fields(policy: &mut Map<String, Value>) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    let mut added = Vec::new();
    let table = match policy.get("table_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if !t.trim().is_empty() && !t.contains('\0') => Some(t.clone()),
        Some(_) => {
            problems.push(problem(
                ProblemKind::InvalidValue,
                "table_name",
                "must be a non-empty table name",
            ));
            None
        }
    };
    let needs_table = |field: &str, problems: &mut Vec<Problem>| {
        problems.push(problem(
            ProblemKind::Missing,
            field,
            "needs `table_name`: the table its rules are about",
        ));
    };
    match policy.get("row_filter_dsl") {
        None | Some(Value::Null) => {}
        Some(tree) => match compile_row_filter(tree, "row_filter_dsl") {
            Ok(predicate) => match &table {
                Some(t) => added.push(serde_json::json!({
                    "type": "row_filter", "table": t, "predicate": predicate,
                    "description": DSL_RULE_DESCRIPTION,
                })),
                None => needs_table("row_filter_dsl", &mut problems),
            },
            Err(mut more) => problems.append(&mut more),
        },
    }
    match policy.get("column_masks") {
        None | Some(Value::Null) => {}
        Some(Value::Object(masks)) => {
            if table.is_none() && !masks.is_empty() {
                needs_table("column_masks", &mut problems);
            }
            for (column, mask) in masks {
                if column.trim().is_empty() || column.contains('\0') {
                    problems.push(problem(
                        ProblemKind::InvalidValue,
                        &format!("column_masks.{column}"),
                        "a column name must not be empty",
                    ));
                    continue;
                }
                if let Some(t) = &table {
                    added.push(serde_json::json!({
                        "type": "column_mask", "table": t, "column": column, "mask": mask,
                        "description": MASK_RULE_DESCRIPTION,
                    }));
                }
            }
        }
        Some(_) => problems.push(problem(
            ProblemKind::WrongType,
            "column_masks",
            "must be an object of column names to masks",
        )),
    }
    match policy.get("source") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if SOURCES.contains(&s.as_str()) => {}
        Some(_) => problems.push(problem(
            ProblemKind::InvalidValue,
            "source",
            &format!("must be one of {}", SOURCES.join(", ")),
        )),
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    for f in SEED_FIELDS {
        policy.remove(*f);
    }
    if !added.is_empty() {
        match policy.get_mut("rules") {
            Some(Value::Array(rules)) => rules.extend(added),
            // The loader reports a missing or malformed `rules`; the compiled rules join
            // an empty list rather than hide that.
            _ => {
                policy.entry("rules").or_insert(Value::Array(added));
            }
        }
    }
    Ok(())
}

fn problem(kind: ProblemKind, path: &str, message: &str) -> Problem {
    Problem::new(kind, path, message)
}

const COMPARISONS: &[(&str, &str)] = &[
    ("eq", "="),
    ("ne", "<>"),
    ("lt", "<"),
    ("le", "<="),
    ("gt", ">"),
    ("ge", ">="),
    ("like", "LIKE"),
];

const OPERATORS: &str =
    "and, or, not, eq, ne, lt, le, gt, ge, in, not_in, is_null, is_not_null, like";

struct Compiler {
    problems: Vec<Problem>,
    nodes: usize,
}

impl Compiler {
    fn fail(&mut self, path: &str, message: impl Into<String>) -> String {
        let message: String = message.into();
        self.problems
            .push(problem(ProblemKind::Predicate, path, &message));
        String::new()
    }

    fn count(&mut self, path: &str) -> bool {
        self.nodes += 1;
        if self.nodes == MAX_NODES + 1 {
            self.fail(path, format!("a tree has at most {MAX_NODES} nodes"));
        }
        self.nodes <= MAX_NODES
    }

    fn node(&mut self, node: &Value, path: &str, depth: usize) -> String {
        if depth > MAX_DEPTH {
            return self.fail(path, format!("a tree is at most {MAX_DEPTH} levels deep"));
        }
        if !self.count(path) {
            return String::new();
        }
        let Value::Object(obj) = node else {
            return self.fail(
                path,
                format!("must be an object with one operator ({OPERATORS})"),
            );
        };
        let mut entries = obj.iter();
        let (Some((op, args)), None) = (entries.next(), entries.next()) else {
            return self.fail(
                path,
                format!(
                    "must have exactly one operator ({OPERATORS}); it has {}",
                    obj.len()
                ),
            );
        };
        let at = join(path, op);
        match op.as_str() {
            "and" | "or" => {
                let Some(items) = args.as_array().filter(|a| !a.is_empty()) else {
                    return self.fail(&at, "must be a non-empty array of nodes");
                };
                let parts: Vec<String> = items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| self.node(n, &format!("{at}[{i}]"), depth + 1))
                    .collect();
                let word = if op == "and" { " AND " } else { " OR " };
                format!("({})", parts.join(word))
            }
            "not" => {
                let inner = self.node(args, &at, depth + 1);
                format!("(NOT {inner})")
            }
            "is_null" | "is_not_null" => {
                let column = match args {
                    Value::Array(items) if items.len() == 1 => {
                        items.first().map(|c| self.column(c, &format!("{at}[0]")))
                    }
                    Value::Array(_) => None,
                    other => Some(self.column(other, &at)),
                };
                let Some(column) = column else {
                    return self.fail(&at, "must be a column, or an array of one column");
                };
                let word = if op == "is_null" {
                    "IS NULL"
                } else {
                    "IS NOT NULL"
                };
                format!("({column} {word})")
            }
            "in" | "not_in" => {
                let Some([column, list]) = args.as_array().map(Vec::as_slice) else {
                    return self.fail(
                        &at,
                        "must be an array of a column and a list of values (or a context list)",
                    );
                };
                let column = self.column(column, &format!("{at}[0]"));
                let list_at = format!("{at}[1]");
                match list {
                    Value::Array(items) if !items.is_empty() => {
                        let values: Vec<String> = items
                            .iter()
                            .enumerate()
                            .map(|(i, v)| self.operand(v, &format!("{list_at}[{i}]")))
                            .collect();
                        let word = if op == "in" { "IN" } else { "NOT IN" };
                        format!("({column} {word} ({}))", values.join(", "))
                    }
                    Value::Object(o) if o.contains_key("ctx") => {
                        let list = self.operand(list, &list_at);
                        if op == "in" {
                            format!("({column} = ANY({list}))")
                        } else {
                            format!("({column} <> ALL({list}))")
                        }
                    }
                    _ => self.fail(
                        &list_at,
                        "must be a non-empty array of values, or a context reference to a list",
                    ),
                }
            }
            other => {
                let Some((_, sql)) = COMPARISONS.iter().find(|(name, _)| *name == other) else {
                    return self.fail(
                        &at,
                        format!("unknown operator `{other}`; expected one of {OPERATORS}"),
                    );
                };
                let Some([left, right]) = args.as_array().map(Vec::as_slice) else {
                    return self.fail(&at, "must be an array of a column and an operand");
                };
                let left = self.column(left, &format!("{at}[0]"));
                let right = self.operand(right, &format!("{at}[1]"));
                format!("({left} {sql} {right})")
            }
        }
    }

    fn name(&mut self, text: &str, path: &str, what: &str) -> Option<String> {
        if text.is_empty() || text.contains('\0') || text.chars().count() > MAX_TEXT_CHARS {
            self.fail(
                path,
                format!("a {what} is 1 to {MAX_TEXT_CHARS} characters, without NUL"),
            );
            return None;
        }
        Some(text.to_string())
    }

    /// A column name as an identifier: bare when PostgreSQL reads it back unchanged.
    fn column(&mut self, value: &Value, path: &str) -> String {
        if !self.count(path) {
            return String::new();
        }
        let name = match value {
            Value::String(s) => s.as_str(),
            Value::Object(o) if o.len() == 1 => match o.get("col") {
                Some(Value::String(s)) => s.as_str(),
                _ => return self.fail(&join(path, "col"), "must be a column name"),
            },
            _ => return self.fail(path, "must be a column name (a string, or {\"col\": name})"),
        };
        match self.name(name, path, "column name") {
            Some(n) => identifier(&n),
            None => String::new(),
        }
    }

    fn operand(&mut self, value: &Value, path: &str) -> String {
        if !self.count(path) {
            return String::new();
        }
        match value {
            Value::String(s) => self.string(s, path),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
            Value::Null => self.fail(
                path,
                "null is never equal to anything; use is_null or is_not_null",
            ),
            Value::Array(_) => self.fail(path, "a list of values belongs only in in and not_in"),
            Value::Object(o) => {
                let mut entries = o.iter();
                match (entries.next(), entries.next()) {
                    (Some((k, v)), None) if k == "ctx" => self.context(v, &join(path, "ctx")),
                    (Some((k, v)), None) if k == "col" => self.column(v, &join(path, "col")),
                    (Some((k, v)), None) if k == "value" => match v {
                        Value::String(s) => self.string(s, &join(path, "value")),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
                        _ => self.fail(&join(path, "value"), "must be a string, number or boolean"),
                    },
                    _ => self.fail(
                        path,
                        "must be a value, {\"ctx\": name}, {\"col\": name} or {\"value\": v}",
                    ),
                }
            }
        }
    }

    fn string(&mut self, s: &str, path: &str) -> String {
        if s.contains('\0') || s.chars().count() > MAX_TEXT_CHARS {
            return self.fail(
                path,
                format!("a value is at most {MAX_TEXT_CHARS} characters, without NUL"),
            );
        }
        format!("'{}'", s.replace('\'', "''"))
    }

    fn context(&mut self, value: &Value, path: &str) -> String {
        let Some(name) = value.as_str() else {
            return self.fail(path, "must be a context name such as `attr.tenant_id`");
        };
        let name = name.strip_prefix("ctx.").unwrap_or(name);
        match name {
            "user" | "roles" | "purpose" | "workspace" | "data_source" => format!("ctx.{name}"),
            _ => match name
                .strip_prefix("attr.")
                .or_else(|| name.strip_prefix("attributes."))
            {
                Some(attr) => match self.name(attr, path, "context attribute name") {
                    Some(a) => format!("ctx.attr.{}", identifier(&a)),
                    None => String::new(),
                },
                None => self.fail(
                    path,
                    format!(
                        "unknown context reference `{name}`; expected user, roles, purpose, workspace, data_source or attr.<name>"
                    ),
                ),
            },
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A name as an identifier, quoted unless it is one PostgreSQL reads back unchanged bare.
fn identifier(name: &str) -> String {
    if ident::needs_quotes(name) || name == "ctx" {
        quoted(name)
    } else {
        name.to_string()
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sqlparser::ast::{BinaryOperator, Expr};
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    fn compile(tree: Value) -> String {
        compile_row_filter(&tree, "row_filter_dsl").unwrap()
    }

    fn paths(tree: Value) -> Vec<String> {
        compile_row_filter(&tree, "row_filter_dsl")
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect()
    }

    #[test]
    fn the_seed_tree_compiles() {
        let text = compile(json!({"and": [
            {"eq": ["tenant_id", {"ctx": "attr.tenant_id"}]},
            {"in": ["region", ["eu", "us"]]},
            {"not": {"is_null": "email"}},
            {"like": ["email", "%@example.com"]},
            {"in": ["owner", {"ctx": "roles"}]},
            {"ge": ["amount", -1.5]},
            {"ne": ["status", {"col": "old_status"}]},
        ]}));
        assert_eq!(
            text,
            "((tenant_id = ctx.attr.tenant_id) AND (region IN ('eu', 'us')) AND (NOT (email IS NULL)) \
             AND (email LIKE '%@example.com') AND (owner = ANY(ctx.roles)) AND (amount >= -1.5) \
             AND (status <> old_status))"
        );
        Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&text)
            .unwrap()
            .parse_expr()
            .unwrap();
    }

    /// Hostile names and values stay one name and one value: the parsed predicate is a
    /// single comparison of the column to the literal, whatever they contain.
    #[test]
    fn names_and_values_cannot_escape() {
        for (column, value) in [
            ("tenant_id", "x' OR '1'='1"),
            ("a\" = a OR \"b", "1'); DROP TABLE t; --"),
            ("Mixed Case", "back\\slash' --"),
            ("select", "/* */ ' || current_user || '"),
            ("ctx", "$$ $tag$"),
        ] {
            let text = compile(json!({"eq": [column, value]}));
            let expr = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&text)
                .unwrap()
                .parse_expr()
                .unwrap();
            let Expr::Nested(inner) = expr else {
                panic!("{text}")
            };
            let Expr::BinaryOp { left, op, right } = *inner else {
                panic!("{text}")
            };
            assert_eq!(op, BinaryOperator::Eq, "{text}");
            let Expr::Identifier(id) = *left else {
                panic!("{text}")
            };
            assert_eq!(id.value, column, "{text}");
            let Expr::Value(v) = *right else {
                panic!("{text}")
            };
            assert_eq!(
                v.value,
                sqlparser::ast::Value::SingleQuotedString(value.to_string()),
                "{text}"
            );
        }
        let text = compile(json!({"eq": ["a", {"ctx": "attr.x\" OR 1=1 --"}]}));
        assert_eq!(text, "(a = ctx.attr.\"x\"\" OR 1=1 --\")");
    }

    #[test]
    fn bad_trees_name_their_place() {
        assert_eq!(paths(json!({"and": []})), ["row_filter_dsl.and"]);
        assert_eq!(paths(json!({"eq": ["a"]})), ["row_filter_dsl.eq"]);
        assert_eq!(
            paths(json!({"and": [{"eq": ["a", 1]}, {"in": ["b", []]}]})),
            ["row_filter_dsl.and[1].in[1]"]
        );
        assert_eq!(
            paths(json!({"or": [{"gt": [1, null]}]})),
            ["row_filter_dsl.or[0].gt[0]", "row_filter_dsl.or[0].gt[1]"]
        );
        assert_eq!(
            paths(json!({"eq": ["a", 1], "ne": ["b", 2]})),
            ["row_filter_dsl"]
        );
        assert_eq!(paths(json!({"raw": "1=1"})), ["row_filter_dsl.raw"]);
        assert_eq!(paths(json!("a = 1")), ["row_filter_dsl"]);
        assert_eq!(
            paths(json!({"eq": ["a", {"ctx": "password"}]})),
            ["row_filter_dsl.eq[1].ctx"]
        );
        assert_eq!(paths(json!({"eq": ["", "x\u{0}"]})).len(), 2);
        let mut deep = json!({"eq": ["a", 1]});
        for _ in 0..40 {
            deep = json!({ "not": deep });
        }
        assert!(paths(deep).iter().all(|p| p.starts_with("row_filter_dsl")));
        let wide = json!({"in": ["a", vec![1; 2000]]});
        assert!(compile_row_filter(&wide, "x").is_err());
    }

    #[test]
    fn seed_fields_become_rules() {
        let mut policy = json!({
            "id": "p", "name": "P", "rules": [{"type": "deny", "table": "t", "columns": ["x"]}],
            "table_name": "customers", "external_id": "ext-1", "source": "imported",
            "row_filter_dsl": {"eq": ["tenant_id", {"ctx": "attr.tenant_id"}]},
            "column_masks": {"ssn": "redact", "email": {"kind": "partial", "show_last": 4}},
        });
        let obj = policy.as_object_mut().unwrap();
        expand_seed_fields(obj).unwrap();
        assert!(SEED_FIELDS.iter().all(|f| !obj.contains_key(*f)));
        let rules = obj["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[1]["predicate"], "(tenant_id = ctx.attr.tenant_id)");
        let mask_of = |c: &str| {
            rules
                .iter()
                .find(|r| r["column"] == c)
                .map(|r| r["mask"].clone())
        };
        assert_eq!(mask_of("ssn"), Some(json!("redact")));
        assert_eq!(
            mask_of("email"),
            Some(json!({"kind": "partial", "show_last": 4}))
        );

        let mut missing =
            json!({"id": "p", "rules": [], "column_masks": {"a": "hash"}, "source": "x"});
        let before = missing.clone();
        let problems = expand_seed_fields(missing.as_object_mut().unwrap()).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["column_masks", "source"]);
        let kinds: Vec<ProblemKind> = problems.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [ProblemKind::Missing, ProblemKind::InvalidValue]);
        assert_eq!(missing, before);

        let bad = compile_row_filter(&json!({"eq": ["a"]}), "row_filter_dsl").unwrap_err();
        assert!(
            bad.iter().all(|p| p.kind == ProblemKind::Predicate),
            "{bad:?}"
        );
    }
}
