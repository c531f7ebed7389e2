//! Row-filter predicates: parsed once as SQL expressions, checked against the catalog,
//! and later given the context as typed literals.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Ident, Query, Value, VisitorMut};
use sqlparser::tokenizer::Token;

use crate::catalog::{Table, TableName};
use crate::functions;
use crate::ident;

/// A reference to the caller's context inside a predicate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum CtxRef {
    User,
    Roles,
    Purpose,
    Workspace,
    DataSource,
    Attr(String),
}

impl CtxRef {
    /// The reference as written in predicates (`ctx.attr.tenant_id`).
    pub fn display(&self) -> String {
        match self {
            CtxRef::User => "ctx.user".into(),
            CtxRef::Roles => "ctx.roles".into(),
            CtxRef::Purpose => "ctx.purpose".into(),
            CtxRef::Workspace => "ctx.workspace".into(),
            CtxRef::DataSource => "ctx.data_source".into(),
            CtxRef::Attr(name) => format!("ctx.attr.{name}"),
        }
    }

    /// Reads a compound identifier starting with `ctx`, or says why it is not a context reference.
    pub fn from_parts(parts: &[Ident]) -> Option<Result<CtxRef, String>> {
        let (first, rest) = parts.split_first()?;
        if ident::normalize(first) != "ctx" {
            return None;
        }
        let names: Vec<String> = rest.iter().map(ident::normalize).collect();
        let known =
            "ctx.user, ctx.roles, ctx.purpose, ctx.workspace, ctx.data_source or ctx.attr.<name>";
        Some(match names.as_slice() {
            [one] => match one.as_str() {
                "user" => Ok(CtxRef::User),
                "roles" => Ok(CtxRef::Roles),
                "purpose" => Ok(CtxRef::Purpose),
                "workspace" => Ok(CtxRef::Workspace),
                "data_source" => Ok(CtxRef::DataSource),
                "attr" | "attributes" => Err(format!(
                    "`ctx.{one}` needs an attribute name, as in `ctx.attr.tenant_id`"
                )),
                other => Err(format!(
                    "unknown context reference `ctx.{other}`; expected {known}"
                )),
            },
            // Attribute names are JSON keys: they keep the case they are written with.
            [attr, _] if attr == "attr" || attr == "attributes" => Ok(CtxRef::Attr(
                rest.get(1).map(|i| i.value.clone()).unwrap_or_default(),
            )),
            _ => Err(format!(
                "unknown context reference `{}`; expected {known}",
                parts
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".")
            )),
        })
    }
}

/// Where a context reference stands in a predicate, which decides how its value prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Anywhere a value goes.
    Value,
    /// The array operand of `x op ANY (…)` / `x op ALL (…)`: an array of strings and nulls
    /// (or none) prints as an untyped array literal (`'{"a","b"}'`), which PostgreSQL types
    /// from the other side, as it types a scalar string literal; `ARRAY['a']` is `text[]`
    /// and `uuid_col = ANY(ARRAY['…'])`, `int_col = ANY(CAST(ARRAY[] AS TEXT[]))` fail.
    ArrayOperand,
}

/// A validated row-filter predicate.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    /// The text as written in the policy.
    pub text: String,
    /// The parsed expression, with context references still in place.
    pub expr: Expr,
    /// The context references it makes, sorted and without duplicates.
    pub ctx_refs: Vec<CtxRef>,
    /// Its printed text cut at the context references.
    pub template: Option<Template>,
}

/// A problem inside a predicate, with its 1-based position in the predicate text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredicateError {
    pub message: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
}

/// Whether an unquoted identifier is one PostgreSQL reads as a function (`current_user`, …).
pub fn is_sql_value_function(ident: &Ident) -> bool {
    ident.quote_style.is_none() && crate::functions::is_sql_value_function(&ident::normalize(ident))
}

impl Predicate {
    /// Parses and checks a predicate for `table` (whose catalog entry is `columns`, when known).
    pub fn parse(
        text: &str,
        table: &TableName,
        columns: Option<&Table>,
    ) -> Result<Predicate, Vec<PredicateError>> {
        let mut expr = parse_expr(text).map_err(|e| vec![e])?;
        let mut checker = Checker {
            table,
            columns,
            ctx_refs: Vec::new(),
            errors: Vec::new(),
        };
        let _ = crate::walk::walk(&mut expr, &mut checker);
        if !checker.errors.is_empty() {
            return Err(checker.errors);
        }
        let mut ctx_refs = checker.ctx_refs;
        ctx_refs.sort();
        ctx_refs.dedup();
        Ok(Predicate {
            text: text.to_string(),
            template: Template::of(&expr),
            expr,
            ctx_refs,
        })
    }
}

/// A predicate's printed text cut at its context references: `pieces[i]`, then the
/// literal for `refs[i]`, and so on, ending with the last piece. Filling it in prints what
/// the predicate with its references replaced by literals prints (sqlparser prints a tree
/// node by node, so a replaced node changes only its own text), without cloning and
/// printing the tree for every statement (crate::context::Context::substitute_text).
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pieces: Vec<String>,
    refs: Vec<(CtxRef, Slot)>,
}

impl Template {
    /// The template of a checked predicate; `None` if its text could not be cut (then
    /// the tree is substituted and printed instead).
    fn of(expr: &Expr) -> Option<Template> {
        // Markers are identifiers that the predicate's printed text does not hold.
        let prefix = crate::print::fresh_prefix("verdict_ctx_", &expr.to_string());
        let mut marked = expr.clone();
        let mut marked_refs = Vec::new();
        let _ = crate::walk::walk(
            &mut marked,
            &mut ReplaceCtxRefs(|r, slot| {
                let name = format!("{prefix}{}_", marked_refs.len());
                marked_refs.push((r, slot));
                Some(Expr::Identifier(Ident::new(name)))
            }),
        );
        let text = marked.to_string();
        let (cuts, last) = crate::print::cut_at_markers(&text, &prefix)?;
        let mut pieces = Vec::with_capacity(cuts.len() + 1);
        let mut refs = Vec::with_capacity(cuts.len());
        for (piece, n) in cuts {
            pieces.push(piece.to_string());
            refs.push(marked_refs.get(n)?.clone());
        }
        pieces.push(last.to_string());
        (refs.len() == marked_refs.len()).then_some(Template { pieces, refs })
    }

    /// The pieces and the references between them.
    pub fn parts(&self) -> (&[String], &[(CtxRef, Slot)]) {
        (&self.pieces, &self.refs)
    }
}

/// Replaces each context reference in a tree with the expression the function gives for
/// it and its slot, in the walk's order; stops at the first reference it gives none for.
pub(crate) struct ReplaceCtxRefs<F>(pub F);

/// The context reference an `ANY`/`ALL` array operand is (in parentheses or not).
fn array_operand(expr: &mut Expr) -> Option<(&mut Expr, CtxRef)> {
    match expr {
        Expr::Nested(inner) => array_operand(inner),
        Expr::CompoundIdentifier(parts) => match CtxRef::from_parts(parts) {
            Some(Ok(r)) => Some((expr, r)),
            _ => None,
        },
        _ => None,
    }
}

impl<F: FnMut(CtxRef, Slot) -> Option<Expr>> VisitorMut for ReplaceCtxRefs<F> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } = expr {
            if let Some((node, r)) = array_operand(right) {
                match (self.0)(r, Slot::ArrayOperand) {
                    Some(replacement) => *node = replacement,
                    None => return ControlFlow::Break(()),
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = expr {
            if let Some(Ok(r)) = CtxRef::from_parts(parts) {
                match (self.0)(r, Slot::Value) {
                    Some(replacement) => *expr = replacement,
                    None => return ControlFlow::Break(()),
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// The longest predicate, in characters (the Policies API's bound too): a longer one is
/// refused at load rather than rewritten into every statement that reads its table.
pub const MAX_PREDICATE_CHARS: usize = 16_384;

/// Parses a whole text as one expression.
fn parse_expr(text: &str) -> Result<Expr, PredicateError> {
    let chars = text.chars().count();
    if chars > MAX_PREDICATE_CHARS {
        return Err(PredicateError {
            message: format!(
                "the predicate has {chars} characters; at most {MAX_PREDICATE_CHARS} are allowed"
            ),
            line: None,
            column: None,
        });
    }
    let mut parser = crate::parse::parser(crate::Dialect::Postgres, text)
        .map_err(|e| parser_error(e.message()))?;
    let expr = parser.parse_expr().map_err(|e| {
        let mut err = parser_error(&e.to_string());
        if err.line.is_none() {
            // The text ended too early: point just past its end.
            let line = text.lines().count().max(1);
            let last = text.rsplit('\n').next().unwrap_or("");
            err.line = u64::try_from(line).ok();
            err.column = u64::try_from(last.chars().count() + 1).ok();
        }
        err
    })?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(PredicateError {
            message: format!("unexpected `{}` after the predicate", next.token),
            line: Some(next.span.start.line),
            column: Some(next.span.start.column),
        });
    }
    crate::parse::check_expr(expr).map_err(|e| PredicateError {
        message: format!("the predicate is too deep: {e}"),
        line: None,
        column: None,
    })
}

/// Turns a sqlparser message (`… at Line: 1, Column: 13`) into a positioned error.
fn parser_error(message: &str) -> PredicateError {
    let message = message
        .strip_prefix("sql parser error: ")
        .unwrap_or(message);
    if let Some(at) = message.rfind(" at Line: ") {
        let (head, tail) = message.split_at(at);
        let tail = tail.trim_start_matches(" at Line: ");
        let mut nums = tail.split(", Column: ");
        let line = nums.next().and_then(|n| n.trim().parse().ok());
        let column = nums.next().and_then(|n| n.trim().parse().ok());
        if line.is_some() && column.is_some() {
            return PredicateError {
                message: lower_first(head),
                line,
                column,
            };
        }
    }
    PredicateError {
        message: lower_first(message),
        line: None,
        column: None,
    }
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

struct Checker<'a> {
    table: &'a TableName,
    columns: Option<&'a Table>,
    ctx_refs: Vec<CtxRef>,
    errors: Vec<PredicateError>,
}

impl Checker<'_> {
    fn error_at(&mut self, ident: &Ident, message: String) {
        self.errors.push(PredicateError {
            message,
            line: Some(ident.span.start.line),
            column: Some(ident.span.start.column),
        });
    }

    fn check_column(&mut self, ident: &Ident) {
        let name = ident::normalize(ident);
        if let Some(table) = self.columns {
            if table.column(&name).is_none() {
                let msg = format!(
                    "column `{}` is not in the catalog for table `{}`",
                    ident.value, self.table
                );
                self.error_at(ident, msg);
            }
        }
    }
}

// Read-only, but a `VisitorMut` so that it shares the engine's one walk (crate::walk).
impl VisitorMut for Checker<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let _ = query;
        self.errors.push(PredicateError {
            message: "subqueries are not supported in row filter predicates".into(),
            line: None,
            column: None,
        });
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let expr: &Expr = expr;
        match expr {
            Expr::Identifier(id) => {
                let name = ident::normalize(id);
                if id.quote_style.is_none() && crate::functions::is_sql_value_function(&name) {
                    return ControlFlow::Continue(());
                }
                if name == "ctx" {
                    self.error_at(id, "`ctx` alone is not a context reference; write `ctx.user`, `ctx.attr.<name>`, …".into());
                } else {
                    self.check_column(id);
                }
            }
            Expr::CompoundIdentifier(parts) => match CtxRef::from_parts(parts) {
                Some(Ok(r)) => self.ctx_refs.push(r),
                Some(Err(message)) => {
                    if let Some(first) = parts.first() {
                        self.error_at(first, message);
                    }
                }
                None => {
                    let names: Vec<String> = parts.iter().map(ident::normalize).collect();
                    let qualifier_ok = match names.as_slice() {
                        [t, _] => *t == self.table.name,
                        [s, t, _] => *s == self.table.schema && *t == self.table.name,
                        _ => false,
                    };
                    match (qualifier_ok, parts.last()) {
                        (true, Some(col)) => self.check_column(col),
                        (_, first) => {
                            let msg = format!(
                                "`{}` does not name a column of `{}` or a context value",
                                parts
                                    .iter()
                                    .map(|p| p.to_string())
                                    .collect::<Vec<_>>()
                                    .join("."),
                                self.table
                            );
                            if let Some(id) = parts.first().or(first) {
                                self.error_at(id, msg);
                            }
                        }
                    }
                }
            },
            Expr::Function(f) => {
                let name = f.name.to_string().to_lowercase();
                if let Some(reason) = functions::denied_reason(&f.name) {
                    let id = f.name.0.first().and_then(|p| p.as_ident());
                    let err = PredicateError {
                        message: format!(
                            "function `{name}` is not allowed in a predicate: {reason}"
                        ),
                        line: id.map(|i| i.span.start.line),
                        column: id.map(|i| i.span.start.column),
                    };
                    self.errors.push(err);
                }
            }
            Expr::Value(v) => {
                if let Value::Placeholder(p) = &v.value {
                    self.errors.push(PredicateError {
                        message: format!("placeholder `{p}` is not allowed in a predicate; use a context reference such as `ctx.attr.<name>`"),
                        line: Some(v.span.start.line),
                        column: Some(v.span.start.column),
                    });
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Column;

    fn orders() -> Table {
        Table {
            name: TableName::new("public", "orders"),
            columns: ["id", "tenant_id", "region"]
                .iter()
                .map(|c| Column::new(c.to_string(), None, None))
                .collect(),
        }
    }

    #[test]
    fn collects_context_references() {
        let t = orders();
        let p = Predicate::parse(
            "tenant_id = ctx.attr.tenant_id AND region = ANY(ctx.roles)",
            &t.name,
            Some(&t),
        )
        .unwrap();
        assert_eq!(
            p.ctx_refs,
            vec![CtxRef::Roles, CtxRef::Attr("tenant_id".into())]
        );
    }

    #[test]
    fn reports_unknown_columns_with_positions() {
        let t = orders();
        let errs = Predicate::parse("tenant_id = 1 AND\n  nope = ctx.bogus", &t.name, Some(&t))
            .unwrap_err();
        assert_eq!(errs.len(), 2);
        assert_eq!((errs[0].line, errs[0].column), (Some(2), Some(3)));
        assert!(errs[0].message.contains("nope"), "{}", errs[0].message);
        assert!(errs[1].message.contains("ctx.bogus"), "{}", errs[1].message);
    }

    #[test]
    fn reports_syntax_errors_with_positions() {
        let t = orders();
        let errs = Predicate::parse("tenant_id = = 3", &t.name, Some(&t)).unwrap_err();
        assert_eq!((errs[0].line, errs[0].column), (Some(1), Some(13)));
        let errs = Predicate::parse("tenant_id = (1", &t.name, Some(&t)).unwrap_err();
        assert_eq!(
            (errs[0].line, errs[0].column),
            (Some(1), Some(15)),
            "{}",
            errs[0].message
        );
        let errs = Predicate::parse("tenant_id = 3; DROP TABLE x", &t.name, Some(&t)).unwrap_err();
        assert_eq!((errs[0].line, errs[0].column), (Some(1), Some(14)));
    }
}
