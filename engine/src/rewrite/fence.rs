//! Scans as barriers: no expression of the caller's may run on a row a scan's row filters
//! reject (engine/README.md, "Scans as barriers", says why this holds for every plan).
//!
//! The rewriter judges, as it goes, every caller expression that PostgreSQL may evaluate
//! below a scan's row filter — WHERE, JOIN … ON, HAVING conjuncts without aggregates,
//! functions and arrays in FROM, and every expression of a nested query (a derived table
//! or CTE is flattened into the query around it, its output expressions into that query's
//! quals). When one of them is leaky ([`crate::leak`]), every filtered scan of the
//! statement is fenced with `OFFSET 0`: PostgreSQL then neither flattens it nor pushes the
//! caller's quals into it, so they only ever see rows the filters admitted. Statements
//! whose expressions are all leakproof keep their scans unfenced, so index scans on the
//! caller's predicates work as before. The WHERE of UPDATE, DELETE and ON CONFLICT DO
//! UPDATE is a qual on the written table itself, so a leaky conjunct there is guarded:
//! `CASE WHEN <row filters> THEN <conjunct> END`, whose order of evaluation PostgreSQL
//! guarantees.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, CaseWhen, Expr, Function, FunctionArguments, GroupByExpr, Ident, Query, Select,
    SelectItem, TableFactor, VisitMut, VisitorMut,
};

use super::Rewriter;
use crate::catalog::TableName;
use crate::ident;
use crate::leak::{self, Ty, Types};
use crate::resolve::{alias_columns, Columns, Relation};

/// What a statement's enforcement leaves for [`Rewriter::fence_scans`].
const FENCE: &str = " OFFSET 0";

impl Rewriter<'_> {
    /// Starts a statement: its scans are those built from now on.
    pub fn begin_statement(&mut self) -> usize {
        self.leaky = false;
        self.top_query = false;
        self.scans.len()
    }

    /// Enforces the policies on a statement's own query (a SELECT, the query of
    /// `COPY (…) TO`, of `CREATE TABLE … AS`): its output is computed on filtered rows
    /// only. A query anywhere else (a write's subquery) is nested.
    pub fn statement_query(&mut self, q: &mut sqlparser::ast::Query) -> super::Flow {
        self.top_query = true;
        let result = self.query(q);
        self.top_query = false;
        result
    }

    /// Ends a statement whose scans start at `first`: fences its filtered scans when a
    /// leaky expression could run below them, or when `always` (a view's query, which
    /// later queries read with expressions the engine never sees).
    pub fn fence_scans(&mut self, first: usize, always: bool) {
        self.top_query = false;
        if !(self.leaky || always) {
            return;
        }
        for &i in self.filtered_scans.iter().filter(|&&i| i >= first) {
            if let Some(scan) = self.scans.get_mut(i) {
                scan.push_str(FENCE);
            }
        }
    }

    /// Judges one expression PostgreSQL may evaluate below a scan's filters.
    pub(super) fn judge(&mut self, expr: &Expr) {
        if !self.leaky && leak::leaky(expr, self) {
            self.leaky = true;
        }
    }

    /// Judges every outermost expression in `node` (functions and arrays in FROM).
    pub(super) fn judge_all<V: VisitMut>(&mut self, node: &mut V) {
        if self.leaky {
            return;
        }
        let mut judge = Judge {
            rw: self,
            depth: 0,
            leaky: false,
        };
        let _ = crate::walk::walk(node, &mut judge);
        if judge.leaky {
            self.leaky = true;
        }
    }

    /// A WHERE or JOIN … ON condition, its FROM in scope: each leaky conjunct that reads
    /// only relations of this query level, whose filtered scans' filters read columns this
    /// level sees unmasked, becomes `CASE WHEN <those filters> THEN <conjunct> END`, so the
    /// scans need no fence and keep the caller's leakproof conjuncts as index conditions;
    /// any other leaky conjunct makes the statement fence its scans.
    pub(super) fn guard_condition(&mut self, condition: &mut Option<Expr>) {
        if self.leaky {
            return;
        }
        let Some(expr) = condition.take() else {
            return;
        };
        if !leak::leaky(&expr, self) {
            *condition = Some(expr);
            return;
        }
        let mut out = Vec::new();
        let mut any_guard = false;
        for c in leak::conjuncts(&expr) {
            if !leak::leaky(c, self) {
                out.push(c.clone());
                continue;
            }
            match self.guard_for(c) {
                Some(Some(guard)) => {
                    any_guard = true;
                    out.push(guarded(guard, Expr::Nested(Box::new(c.clone()))));
                }
                Some(None) => out.push(c.clone()),
                None => {
                    self.leaky = true;
                    out.push(c.clone());
                }
            }
        }
        // Unchanged unless a conjunct was guarded (the caller's text prints as written).
        *condition = if any_guard { all_of(out) } else { Some(expr) };
    }

    /// The guard a leaky conjunct needs: `Some(None)` when it reads no filtered scan,
    /// `None` when it cannot be guarded (it reads an outer query, a derived table or CTE,
    /// holds a subquery, or a filter reads a masked, denied or renamed column).
    fn guard_for(&self, conjunct: &Expr) -> Option<Option<Expr>> {
        let refs = column_refs(conjunct)?;
        let frame = self.scopes.innermost()?;
        let mut read: Vec<&Relation> = Vec::new();
        for parts in &refs {
            let rel = match parts.as_slice() {
                [col] => {
                    let col = ident::normalize(col);
                    let mut hits = frame.relations.iter().filter(|r| {
                        r.columns
                            .as_ref()
                            .is_none_or(|c| c.contains(self.catalog, &col))
                    });
                    let rel = hits.next()?;
                    if hits.next().is_some() || rel.columns.is_none() {
                        return None;
                    }
                    rel
                }
                [q, _] => {
                    let q = ident::normalize(q);
                    frame.relations.iter().find(|r| r.ref_name == q)?
                }
                _ => return None,
            };
            if !read.iter().any(|r| std::ptr::eq(*r, rel)) {
                read.push(rel);
            }
        }
        let mut guards = Vec::new();
        for rel in read {
            // A NULL-extended row fails any guard, where the conjunct might hold.
            if rel.nullable {
                return None;
            }
            match (&rel.filtered, &rel.columns) {
                (Some(table), _) => guards.extend(self.filters_over(rel, table)?),
                // A catalog table the policies do not filter: nothing to guard. (A write
                // target's filters are not a scan's: its conjuncts are guarded by the write.)
                (None, Some(Columns::Catalog { table, .. })) => {
                    let t = self.catalog?.tables().get(*table)?;
                    if self
                        .rules
                        .table(&t.name)
                        .is_some_and(|r| !r.filters.is_empty())
                    {
                        return None;
                    }
                }
                _ => return None,
            }
        }
        Some(all_of(guards))
    }

    /// A filtered scan's row filters, over the names the query sees it by.
    fn filters_over(&self, rel: &Relation, table: &TableName) -> Option<Vec<Expr>> {
        if rel.aliased_scan {
            return None;
        }
        let rules = self.rules.table(table)?;
        let reference = ident::make_ident(&rel.ref_name);
        let mut out = Vec::new();
        for (_, predicate) in &rules.filters {
            let expr = self.ctx.substitute(predicate).ok()?;
            let cols = column_refs(&expr)?;
            for parts in &cols {
                let col = ident::normalize(parts.last()?);
                if rules.masks.contains_key(col.as_str()) || rel.denied_columns.contains_key(&col) {
                    return None;
                }
            }
            out.push(super::writes::qualify(expr, &reference));
        }
        Some(out)
    }

    /// Judges a SELECT's expressions, its FROM in scope: a statement's own SELECT (`top`)
    /// computes its output, grouping and ordering on filtered rows only; a nested one may
    /// be flattened into the quals of the query around it, so all of it counts.
    pub(super) fn judge_select(&mut self, select: &mut Select, top: bool) {
        if self.leaky {
            return;
        }
        self.guard_condition(&mut select.selection);
        // HAVING conjuncts without aggregates may be moved into WHERE.
        if let Some(h) = &select.having {
            for c in leak::conjuncts(h) {
                if !has_aggregate(c) {
                    self.judge(c);
                }
            }
        }
        if top {
            return;
        }
        // An output expression with an aggregate is computed after grouping, on the rows
        // of this query's own (filtered) scans, wherever a qual on it is pushed.
        for item in &select.projection {
            match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }
                    if !has_aggregate(e) =>
                {
                    self.judge(e)
                }
                _ => {}
            }
        }
        if let GroupByExpr::Expressions(exprs, _) = &select.group_by {
            for e in exprs {
                self.judge(e);
            }
        }
        if let Some(sqlparser::ast::Distinct::On(exprs)) = &select.distinct {
            for e in exprs {
                self.judge(e);
            }
        }
    }

    /// Which conjuncts of a write's WHERE are leaky, judged in the write's scope (before
    /// masks replace the target's columns). A conjunct with a subquery counts as leaky: the
    /// subquery may read the written row's columns, and the written table is no scan that
    /// a fence could protect.
    pub(super) fn leaky_conjuncts(&mut self, selection: Option<&Expr>) -> Vec<bool> {
        let leaky: Vec<bool> = selection
            .map(leak::conjuncts)
            .unwrap_or_default()
            .into_iter()
            .map(|c| leak::leaky(c, self) || column_refs(c).is_none())
            .collect();
        if leaky.contains(&true) {
            self.leaky = true;
        }
        leaky
    }

    /// The type of a column of a relation in scope, as the catalog gives it; unknown for
    /// masked columns (a mask may change the type) and relations without catalog columns.
    fn relation_column(&self, rel: &Relation, col: &str) -> Option<Ty> {
        let Some(Columns::Catalog { table, renamed }) = &rel.columns else {
            return None;
        };
        let t = self.catalog?.tables().get(*table)?;
        let c = t
            .columns
            .iter()
            .enumerate()
            .find(|(i, c)| renamed.get(*i).unwrap_or(&c.name) == col)
            .map(|(_, c)| c)?;
        let masked = rel.target_masks.contains_key(&c.name)
            || self
                .rules
                .table(&t.name)
                .is_some_and(|r| r.masks.contains_key(c.name.as_str()));
        if masked || rel.denied_columns.contains_key(col) {
            return None;
        }
        leak::type_name(c.data_type.as_deref()?).map(Ty::Known)
    }
}

impl Types for Rewriter<'_> {
    fn column(&self, parts: &[Ident]) -> Option<Ty> {
        match parts {
            [col] => {
                let col = ident::normalize(col);
                self.relation_column(self.scopes.binds(self.catalog, &col)?, &col)
            }
            [q, col] => {
                let rel = self.scopes.find_relation(&ident::normalize(q))?;
                self.relation_column(rel, &ident::normalize(col))
            }
            [s, t, col] => {
                let tn = TableName::new(ident::normalize(s), ident::normalize(t));
                self.relation_column(self.scopes.find_qualified(&tn)?, &ident::normalize(col))
            }
            _ => None,
        }
    }

    fn call(&self, parts: &[Ident]) -> bool {
        let (rel, f) = match parts {
            [q, f] => (self.scopes.find_relation(&ident::normalize(q)), f),
            [s, t, f] => (
                self.scopes
                    .find_qualified(&TableName::new(ident::normalize(s), ident::normalize(t))),
                f,
            ),
            _ => return false,
        };
        // A name that resolves to no relation is an error in PostgreSQL; count it as a call.
        rel.is_none_or(|rel| {
            rel.columns
                .as_ref()
                .is_none_or(|c| !c.contains(self.catalog, &ident::normalize(f)))
        })
    }

    fn subquery(&self, query: &Query) -> Option<Ty> {
        // `SELECT col FROM t` over plain catalog tables: the column's type (also through
        // `min`/`max`, which keep it).
        let mut out = leak::single_output(query)?;
        if let Expr::Function(f) = out {
            let keeps = matches!(
                crate::functions::normalized_name(&f.name).as_deref(),
                Some("min" | "max")
            );
            let arg = match &f.args {
                FunctionArguments::List(l) if l.clauses.is_empty() && f.filter.is_none() => {
                    match l.args.as_slice() {
                        [sqlparser::ast::FunctionArg::Unnamed(
                            sqlparser::ast::FunctionArgExpr::Expr(e),
                        )] => Some(e),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let (true, Some(e)) = (keeps && f.over.is_none(), arg) {
                out = e;
            }
        }
        let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() else {
            return None;
        };
        if query.with.is_some() {
            return None;
        }
        let mut tables = Vec::new();
        for twj in &select.from {
            if !twj.joins.is_empty() {
                return None;
            }
            let TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } = &twj.relation
            else {
                return None;
            };
            let parts = ident::object_parts(name)?;
            if let [single] = parts.as_slice() {
                if self.scopes.cte_visible(&ident::normalize(single)) {
                    return None;
                }
            }
            let table = super::table_name(name, &parts).ok()?;
            let (position, _) = self.catalog?.entry(&table)?;
            let ref_name = alias
                .as_ref()
                .map(|a| ident::normalize(&a.name))
                .unwrap_or_else(|| table.name.clone());
            let renamed = alias_columns(alias.as_ref());
            tables.push(Relation {
                columns: Some(Columns::Catalog {
                    table: position,
                    renamed,
                }),
                ..Relation::plain(ref_name)
            });
        }
        let name = match out {
            Expr::Identifier(id) => {
                let col = ident::normalize(id);
                let mut hits = tables.iter().filter(|r| {
                    r.columns
                        .as_ref()
                        .is_some_and(|c| c.contains(self.catalog, &col))
                });
                let rel = hits.next()?;
                if hits.next().is_some() {
                    return None;
                }
                return self.relation_column(rel, &col);
            }
            Expr::CompoundIdentifier(parts) => parts,
            other => return leak::type_of(other, self),
        };
        let [q, col] = name.as_slice() else {
            return None;
        };
        let q = ident::normalize(q);
        let rel = tables.iter().find(|r| r.ref_name == q)?;
        self.relation_column(rel, &ident::normalize(col))
    }
}

/// Judges the outermost expressions of a node.
struct Judge<'r, 'a> {
    rw: &'r mut Rewriter<'a>,
    depth: usize,
    leaky: bool,
}

impl VisitorMut for Judge<'_, '_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.depth == 0 && leak::leaky(expr, &*self.rw) {
            self.leaky = true;
            return ControlFlow::Break(());
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &mut Expr) -> ControlFlow<()> {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }
}

/// `(a) AND (b) AND …`, as the parser reads the text back; `None` for no expression.
pub(super) fn all_of(exprs: Vec<Expr>) -> Option<Expr> {
    crate::parse::chain(
        &BinaryOperator::And,
        exprs
            .into_iter()
            .map(|e| Expr::Nested(Box::new(e)))
            .collect(),
    )
}

/// `CASE WHEN <guard> THEN <then> END`: `then` runs only on rows the guard admits.
pub(super) fn guarded(guard: Expr, then: Expr) -> Expr {
    Expr::Case {
        case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        operand: None,
        conditions: vec![CaseWhen {
            condition: guard,
            result: then,
        }],
        else_result: None,
    }
}

/// Whether an expression calls an aggregate (a HAVING conjunct that stays after grouping).
fn has_aggregate(expr: &Expr) -> bool {
    struct Finder(bool);
    impl VisitorMut for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                if is_aggregate(f) {
                    self.0 = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            // An aggregate inside a subquery is that subquery's.
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder(false);
    let _ = crate::walk::walk(&mut expr.clone(), &mut finder);
    finder.0
}

/// PostgreSQL's built-in aggregates (and any call with an aggregate's own clauses).
fn is_aggregate(f: &Function) -> bool {
    if f.filter.is_some() || !f.within_group.is_empty() {
        return true;
    }
    if let FunctionArguments::List(l) = &f.args {
        if l.duplicate_treatment.is_some() || !l.clauses.is_empty() {
            return true;
        }
    }
    let Some(name) = crate::functions::normalized_name(&f.name) else {
        return false;
    };
    matches!(
        name.as_str(),
        "count"
            | "sum"
            | "avg"
            | "min"
            | "max"
            | "bool_and"
            | "bool_or"
            | "every"
            | "bit_and"
            | "bit_or"
            | "bit_xor"
            | "string_agg"
            | "array_agg"
            | "json_agg"
            | "jsonb_agg"
            | "json_object_agg"
            | "jsonb_object_agg"
            | "xmlagg"
            | "stddev"
            | "stddev_pop"
            | "stddev_samp"
            | "variance"
            | "var_pop"
            | "var_samp"
            | "covar_pop"
            | "covar_samp"
            | "corr"
            | "regr_avgx"
            | "regr_avgy"
            | "regr_count"
            | "regr_intercept"
            | "regr_r2"
            | "regr_slope"
            | "regr_sxx"
            | "regr_sxy"
            | "regr_syy"
            | "mode"
            | "percentile_cont"
            | "percentile_disc"
            | "range_agg"
            | "range_intersect_agg"
    )
}

/// The column references of an expression (their identifier parts); `None` when it holds
/// a subquery or a whole-row `t.*`, whose reads cannot be listed.
fn column_refs(expr: &Expr) -> Option<Vec<Vec<Ident>>> {
    struct Refs(Option<Vec<Vec<Ident>>>);
    impl VisitorMut for Refs {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            let Some(refs) = self.0.as_mut() else {
                return ControlFlow::Break(());
            };
            match e {
                Expr::Identifier(id) if !crate::policy::is_sql_value_function(id) => {
                    refs.push(vec![id.clone()]);
                }
                Expr::CompoundIdentifier(parts) => refs.push(parts.clone()),
                Expr::QualifiedWildcard(..) => {
                    self.0 = None;
                    return ControlFlow::Break(());
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
            self.0 = None;
            ControlFlow::Break(())
        }
    }
    let mut refs = Refs(Some(Vec::new()));
    let _ = crate::walk::walk(&mut expr.clone(), &mut refs);
    refs.0
}
