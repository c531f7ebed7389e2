//! Enforcement at the scan (SPEC §4.2): every reference to a governed table becomes a
//! derived table that applies the table's row filters and masks, under the caller's alias
//! or the table's name; deny rules, denied functions and the strict catalog are checked on
//! the way. Names resolve as PostgreSQL resolves them: CTEs shadow unqualified table names
//! only where they are visible, unquoted names fold to lower case, unqualified means `public`.

use crate::verdict::RuleNo;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Join, JoinConstraint, JoinOperator, ObjectName, OrderBy, Query, Select, SelectFlavor,
    SelectItem, SelectItemQualifiedWildcardKind, SetExpr, TableAlias, TableFactor, TableWithJoins,
    Value, Values, VisitMut, VisitorMut,
};

use crate::applicable::{RuleRef, Rules};
use crate::catalog::{Catalog, TableName};
use crate::context::Context;
use crate::functions;
use crate::ident;
use crate::resolve::{DeniedColumn, Frame, Relation, Scopes};
use crate::verdict::{Decision, MaskedColumn, Monitored, RowFilter, VerdictRule};

mod calls;
mod fence;
mod names;
mod output;
mod scan;
mod writes;

use scan::{substitute_block, table_denied, table_name, Resolved};

/// Why a statement may not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub rule: VerdictRule,
    pub reason: String,
    pub hint: String,
    pub blocked_by: Option<(String, usize)>,
}

impl Block {
    /// A block that no policy rule caused (parse errors, unsupported syntax, …).
    pub fn new(rule: VerdictRule, reason: impl Into<String>, hint: impl Into<String>) -> Self {
        Block {
            rule,
            reason: reason.into(),
            hint: hint.into(),
            blocked_by: None,
        }
    }

    fn by(mut self, at: RuleRef<'_>) -> Self {
        self.blocked_by = Some((at.policy.id.clone(), at.rule_index));
        self
    }

    /// The block names the policy rule that caused it.
    pub fn with_policy(self, policy: &str, rule_index: usize) -> Self {
        self.by_policy(policy, rule_index)
    }

    fn by_policy(mut self, policy: &str, rule_index: usize) -> Self {
        self.blocked_by = Some((policy.to_string(), rule_index));
        self
    }
}

pub(crate) type Flow = Result<(), Block>;

impl DeniedColumn {
    fn block(&self, how: &str) -> Block {
        Block {
            rule: VerdictRule::Deny,
            reason: format!(
                "column `{}` of `{}` is denied by policy `{}` (rule {}){how}",
                self.column,
                self.table,
                self.policy,
                RuleNo(self.rule_index)
            ),
            hint: format!(
                "name only the columns you need, without `{}`, and no `*` or whole-row reference to `{}`",
                self.column, self.table
            ),
            blocked_by: Some((self.policy.clone(), self.rule_index)),
        }
    }
}

/// What enforcement did to one statement.
#[derive(Debug, Default)]
pub struct Applied {
    /// Catalog tables the statement reads (CTE references excluded).
    pub tables: BTreeSet<TableName>,
    pub row_filters: Vec<RowFilter>,
    pub masked_columns: Vec<MaskedColumn>,
    /// Policies whose rules changed the statement, by id.
    pub policies: BTreeSet<String>,
    /// What `monitor` policies would have done, in the order found, as sentences
    /// (`notes`) and as records (`monitored`).
    pub notes: Vec<String>,
    pub monitored: Vec<Monitored>,
    /// Row filters proven to hold for written rows.
    pub proofs: Vec<String>,
}

/// Rewrites statements for one context.
pub struct Rewriter<'a> {
    set: &'a crate::policy::PolicySet,
    /// Deny rules for the kinds of write met so far, selected on first use.
    write_rules: BTreeMap<crate::policy::Operation, Rules<'a>>,
    rules: &'a Rules<'a>,
    monitored: &'a Rules<'a>,
    catalog: Option<&'a Catalog>,
    ctx: &'a Context,
    scopes: Scopes,
    built: BTreeSet<TableName>,
    monitored_tables: BTreeSet<TableName>,
    /// Function-name patterns that query restrictions deny (`name`, or `prefix*`).
    /// Query restrictions' denied function patterns, with their policy and rule.
    denied_functions: Vec<(String, String, usize)>,
    /// Whether a write target with masks is in scope (column references may need masking).
    target_masked: bool,
    /// Joins seen in the statement (each JOIN, and each FROM item after the first).
    pub joins: u64,
    pub applied: Applied,
    /// The text of each scan the rewriter built, by placeholder number (crate::print).
    pub scans: Vec<String>,
    /// The names of the tables that stand for the scans in the tree.
    pub placeholders: crate::print::Placeholders,
    /// The scans (by placeholder number) that apply row filters.
    filtered_scans: Vec<usize>,
    /// Whether the statement holds a caller expression that may reveal a row it is
    /// evaluated on, where PostgreSQL may evaluate it before a scan's row filter (`fence`).
    leaky: bool,
    /// The next query enforced is a statement's own (its output expressions run on
    /// filtered rows only); cleared by the query that takes it.
    top_query: bool,
    /// The same for the body of the query being enforced, taken by its SELECT(s).
    top_body: bool,
    /// The bound on what scans and write filters add (rewrite/output.rs).
    output: output::Output,
}

impl<'a> Rewriter<'a> {
    /// A rewriter applying `rules` (the enforced policies) for `ctx`, and reporting what the
    /// `monitored` ones would do; the scans it builds stand in the tree as `placeholders`
    /// (names absent from the statement's text: [`crate::print::Placeholders::for_sql`]).
    pub fn new(
        set: &'a crate::policy::PolicySet,
        rules: &'a Rules<'a>,
        monitored: &'a Rules<'a>,
        ctx: &'a Context,
        placeholders: crate::print::Placeholders,
    ) -> Self {
        let catalog: Option<&'a Catalog> = set.catalog.as_ref();
        Rewriter {
            set,
            write_rules: BTreeMap::new(),
            rules,
            monitored,
            catalog,
            ctx,
            scopes: Scopes::default(),
            built: BTreeSet::new(),
            monitored_tables: BTreeSet::new(),
            denied_functions: Vec::new(),
            target_masked: false,
            joins: 0,
            applied: Applied::default(),
            scans: Vec::new(),
            placeholders,
            filtered_scans: Vec::new(),
            leaky: false,
            top_query: false,
            top_body: false,
            output: output::Output::default(),
        }
    }

    /// Bounds the rewritten SQL for a statement text of `input` bytes (rewrite/output.rs).
    pub fn limit_output(&mut self, input: usize) {
        self.output = output::Output::for_input(input);
    }

    fn record_mask(&mut self, info: MaskedColumn) {
        if !self.applied.masked_columns.contains(&info) {
            self.applied.policies.insert(info.policy.clone());
            self.applied.masked_columns.push(info);
        }
    }

    /// Reports the masked columns a reference reads.
    fn read_masked(&mut self, masks: Vec<MaskedColumn>) {
        for m in masks {
            self.record_mask(m);
        }
    }

    /// Enforces the policies on a query, in place.
    pub fn query(&mut self, q: &mut Query) -> Flow {
        let depth = self.scopes.depth();
        let top = std::mem::take(&mut self.top_query);
        let result = self.query_inner(q, top);
        self.scopes.truncate(depth);
        result
    }

    /// `FOR UPDATE`, `FOR NO KEY UPDATE`, `FOR SHARE` and `FOR KEY SHARE` lock rows as
    /// an UPDATE would (other sessions wait on them): they need what an UPDATE of every
    /// table the query reads needs — the statement kind, and no deny of `update`.
    fn check_row_locks(&mut self, q: &Query) -> Flow {
        if q.locks.is_empty() {
            return Ok(());
        }
        let lock_block = |mut b: Block| {
            b.reason = format!(
                "a row lock (`{}`) locks rows as an UPDATE does, and {}",
                q.locks
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                b.reason
            );
            b.hint = "drop the locking clause, or read without locking".into();
            b
        };
        crate::restrict::gate(self.rules, crate::policy::StatementKind::Update)
            .map_err(lock_block)?;
        let mut tables = Vec::new();
        if let SetExpr::Select(select) = q.body.as_ref() {
            let mut factors: Vec<&TableFactor> = Vec::new();
            for twj in &select.from {
                factors.push(&twj.relation);
                factors.extend(twj.joins.iter().map(|j| &j.relation));
            }
            while let Some(tf) = factors.pop() {
                match tf {
                    TableFactor::NestedJoin {
                        table_with_joins, ..
                    } => {
                        factors.push(&table_with_joins.relation);
                        factors.extend(table_with_joins.joins.iter().map(|j| &j.relation));
                    }
                    TableFactor::Table { args: None, .. } => {
                        if let Ok(Resolved::Table { table, .. }) = self.resolve_table(tf) {
                            tables.push(table);
                        }
                    }
                    _ => {}
                }
            }
        }
        for table in tables {
            if let Some(at) = self
                .op_rules(crate::policy::Operation::Update)
                .table(&table)
                .and_then(|r| r.denied)
            {
                return Err(lock_block(table_denied(&table, at)));
            }
        }
        Ok(())
    }

    fn query_inner(&mut self, q: &mut Query, top: bool) -> Flow {
        if !q.pipe_operators.is_empty()
            || q.for_clause.is_some()
            || q.settings.is_some()
            || q.format_clause.is_some()
        {
            return Err(unsupported("this query syntax is not PostgreSQL"));
        }
        // CTE scoping: without RECURSIVE a CTE sees only the CTEs before it; with RECURSIVE
        // it sees all of them, itself included. The body sees all.
        let mut names = Vec::new();
        if let Some(with) = q.with.as_mut() {
            let all: Vec<String> = with
                .cte_tables
                .iter()
                .map(|c| ident::normalize(&c.alias.name))
                .collect();
            for (i, cte) in with.cte_tables.iter_mut().enumerate() {
                let visible = if with.recursive {
                    all.clone()
                } else {
                    all.iter().take(i).cloned().collect()
                };
                self.scopes.push(Frame {
                    ctes: visible,
                    relations: Vec::new(),
                });
                let r = self.query(&mut cte.query);
                self.scopes.pop();
                r?;
            }
            names = all;
        }
        self.scopes.push(Frame {
            ctes: names,
            relations: Vec::new(),
        });
        self.check_row_locks(q)?;
        let mut order_by = q.order_by.take();
        let mut limit = q.limit_clause.take();
        let mut fetch = q.fetch.take();
        self.top_body = top;
        let result = match q.body.as_mut() {
            SetExpr::Select(select) => self.select(select, &mut order_by, &mut limit, &mut fetch),
            body => self.set_expr(body, top).and_then(|()| {
                self.walk(&mut order_by)?;
                self.walk(&mut limit)?;
                self.walk(&mut fetch)
            }),
        };
        q.order_by = order_by;
        q.limit_clause = limit;
        q.fetch = fetch;
        result?;
        self.walk(&mut q.locks)
    }

    /// A query body; `top`: it is a statement's own (see [`Rewriter::top_query`]).
    fn set_expr(&mut self, body: &mut SetExpr, top: bool) -> Flow {
        match body {
            SetExpr::Select(select) => {
                self.top_body = top;
                self.select(select, &mut None, &mut None, &mut None)
            }
            SetExpr::Query(q) => {
                self.top_query = top;
                self.query(q)
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left, top)?;
                self.set_expr(right, top)
            }
            SetExpr::Values(values) => self.walk(values),
            SetExpr::Insert(stmt) | SetExpr::Update(stmt) | SetExpr::Delete(stmt) => {
                self.write(stmt)
            }
            SetExpr::Merge(_) => Err(Block::new(
                VerdictRule::UnsupportedStatement,
                "MERGE cannot be proven to respect row filters",
                "write it as separate INSERT and UPDATE statements",
            )),
            SetExpr::Table(_) => Err(unsupported(
                "`TABLE name` is not supported; write `SELECT * FROM name`",
            )),
        }
    }

    fn select(
        &mut self,
        select: &mut Select,
        order_by: &mut Option<OrderBy>,
        limit: &mut Option<sqlparser::ast::LimitClause>,
        fetch: &mut Option<sqlparser::ast::Fetch>,
    ) -> Flow {
        let top = std::mem::take(&mut self.top_body);
        if select.into.is_some() {
            return Err(Block::new(
                VerdictRule::UnsupportedStatement,
                "`SELECT … INTO` creates a table, which is not a read",
                "use `CREATE TABLE … AS` through an administrator, or drop `INTO`",
            ));
        }
        if select.flavor != SelectFlavor::Standard
            || !select.lateral_views.is_empty()
            || !select.connect_by.is_empty()
            || select.prewhere.is_some()
        {
            return Err(unsupported("this SELECT syntax is not PostgreSQL"));
        }
        self.scopes.push(Frame::default());
        let mut from = std::mem::take(&mut select.from);
        let result = self.select_inner(select, &mut from, order_by, limit, fetch, top);
        select.from = from;
        self.scopes.pop();
        result
    }

    fn select_inner(
        &mut self,
        select: &mut Select,
        from: &mut [TableWithJoins],
        order_by: &mut Option<OrderBy>,
        limit: &mut Option<sqlparser::ast::LimitClause>,
        fetch: &mut Option<sqlparser::ast::Fetch>,
        top: bool,
    ) -> Flow {
        self.joins += from.len().saturating_sub(1) as u64;
        for twj in from.iter_mut() {
            self.table_with_joins(twj)?;
        }
        self.judge_select(select, top);
        for item in &mut select.projection {
            match item {
                SelectItem::Wildcard(_) => {
                    let read: Vec<MaskedColumn> = self
                        .scopes
                        .innermost()
                        .map(|f| {
                            f.relations
                                .iter()
                                .flat_map(|r| r.masked_columns.values().cloned())
                                .collect()
                        })
                        .unwrap_or_default();
                    self.read_masked(read);
                    let hits: Vec<DeniedColumn> = self
                        .scopes
                        .innermost()
                        .map(|f| {
                            f.relations
                                .iter()
                                .filter_map(|r| r.any_denied().cloned())
                                .collect()
                        })
                        .unwrap_or_default();
                    for d in hits {
                        self.denied(&d, " and `*` would read it")?;
                    }
                }
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(name),
                    _,
                ) => {
                    self.check_whole_row_name(name)?;
                    self.repoint_whole_row(name)?;
                }
                _ => {}
            }
        }
        self.walk(select)?;
        self.walk(order_by)?;
        self.walk(limit)?;
        self.walk(fetch)
    }

    fn note(&mut self, note: String) {
        if !self.applied.notes.contains(&note) {
            self.applied.notes.push(note);
        }
    }

    /// What a monitored rule would have done: a note (`monitor: policy `p` (rule n) would
    /// …`) and its record, each once.
    fn monitor(&mut self, record: Monitored) {
        let sentence = match (record.would, &record.table, &record.column) {
            (Decision::RowFilter, Some(table), _) => {
                format!("filter `{table}` by `{}`", record.detail)
            }
            (Decision::Mask, Some(table), Some(column)) => {
                format!(
                    "mask `{table}.{}` with `{}`",
                    crate::ident::display(column),
                    record.detail
                )
            }
            _ => format!("block this statement: {}", record.detail),
        };
        self.note(format!(
            "monitor: policy `{}` (rule {}) would {sentence}",
            record.policy,
            RuleNo(record.rule_index)
        ));
        if !self.applied.monitored.contains(&record) {
            self.applied.monitored.push(record);
        }
    }

    /// Processes a FROM item and its joins, adding the relations it brings into scope to
    /// the innermost frame as it goes (each join's condition, and a later item, sees the
    /// relations before it).
    fn table_with_joins(&mut self, twj: &mut TableWithJoins) -> Flow {
        let start = self.scopes.top().relations.len();
        self.table_factor(&mut twj.relation)?;
        for join in twj.joins.iter_mut() {
            self.joins += 1;
            let right = self.scopes.top().relations.len();
            self.table_factor(&mut join.relation)?;
            self.join_constraint(join, start)?;
            // Relations an outer join may null-extend (after its own condition): a guard
            // over their filters would reject the NULL-extended rows (crate::rewrite::fence).
            let nullable = match &join.join_operator {
                JoinOperator::Left(_) | JoinOperator::LeftOuter(_) => right..usize::MAX,
                JoinOperator::Right(_) | JoinOperator::RightOuter(_) => start..right,
                JoinOperator::FullOuter(_) => start..usize::MAX,
                _ => 0..0,
            };
            for (i, rel) in self.scopes.top().relations.iter_mut().enumerate() {
                if nullable.contains(&i) {
                    rel.nullable = true;
                }
            }
        }
        Ok(())
    }

    /// The relations of the innermost frame from `start` on.
    fn relations_from(&mut self, start: usize) -> &[Relation] {
        let relations = &self.scopes.top().relations;
        relations.get(start..).unwrap_or_default()
    }

    /// A join's condition; the innermost frame's relations from `start` on are its two
    /// sides.
    fn join_constraint(&mut self, join: &mut Join, start: usize) -> Flow {
        // PostgreSQL runs a FULL JOIN only on conditions it can merge or hash: a guarded
        // one is neither, so a leaky condition there fences instead (crate::rewrite::fence).
        let full = matches!(join.join_operator, JoinOperator::FullOuter(_));
        let constraint = match &mut join.join_operator {
            JoinOperator::Join(c)
            | JoinOperator::Inner(c)
            | JoinOperator::Left(c)
            | JoinOperator::LeftOuter(c)
            | JoinOperator::Right(c)
            | JoinOperator::RightOuter(c)
            | JoinOperator::FullOuter(c)
            | JoinOperator::CrossJoin(c) => c,
            _ => return Err(unsupported("this join is not PostgreSQL")),
        };
        match constraint {
            JoinConstraint::On(expr) if full => {
                self.judge(expr);
                self.walk(expr)
            }
            JoinConstraint::On(expr) => {
                let mut condition = Some(std::mem::replace(expr, Expr::value(Value::Null)));
                self.guard_condition(&mut condition);
                *expr = condition.unwrap_or(Expr::value(Value::Boolean(true)));
                self.walk(expr)
            }
            JoinConstraint::Using(names) => {
                for name in names.iter() {
                    let Some(parts) = ident::object_parts(name) else {
                        continue;
                    };
                    if let Some(last) = parts.last() {
                        let col = ident::normalize(last);
                        let read: Vec<MaskedColumn> = self
                            .relations_from(start)
                            .iter()
                            .filter_map(|r| r.masked_columns.get(&col).cloned())
                            .collect();
                        self.read_masked(read);
                        let hit = self
                            .relations_from(start)
                            .iter()
                            .find_map(|r| r.denied_columns.get(&col))
                            .cloned();
                        if let Some(d) = hit {
                            self.denied(&d, " and `USING` compares it")?;
                        }
                    }
                }
                Ok(())
            }
            JoinConstraint::Natural => {
                let read: Vec<MaskedColumn> = self
                    .relations_from(start)
                    .iter()
                    .flat_map(|r| r.masked_columns.values().cloned())
                    .collect();
                self.read_masked(read);
                let hits: Vec<DeniedColumn> = self
                    .relations_from(start)
                    .iter()
                    .filter_map(|r| r.any_denied().cloned())
                    .collect();
                for d in hits {
                    self.denied(&d, " and a NATURAL join compares every common column")?;
                }
                Ok(())
            }
            JoinConstraint::None => Ok(()),
            // `JOIN … USING (…) AS j` names the merged columns as a relation of their
            // own, which the scopes do not model.
            JoinConstraint::UsingAlias(..) => Err(unsupported(
                "a join's `USING (…) AS alias` is not supported",
            )),
        }
    }

    /// Processes a FROM item, adding the relations it brings into scope to the innermost
    /// frame.
    fn table_factor(&mut self, tf: &mut TableFactor) -> Flow {
        let rel = self.table_factor_relation(tf)?;
        self.scopes.top().relations.extend(rel);
        Ok(())
    }

    /// [`Self::table_factor`]: the relation to add (`None`: a join in parentheses without
    /// an alias, whose relations were added as they came).
    fn table_factor_relation(&mut self, tf: &mut TableFactor) -> Result<Option<Relation>, Block> {
        match tf {
            TableFactor::Table {
                name,
                alias,
                args: Some(args),
                ..
            } => self.function_in_from(name, alias.as_ref(), args),
            TableFactor::Table { .. } => match self.resolve_table(tf)? {
                Resolved::Cte(rel) => Ok(Some(rel)),
                Resolved::Table {
                    table,
                    alias,
                    sampled,
                } => self.scan(tf, alias, sampled, table).map(Some),
            },
            TableFactor::Derived {
                subquery,
                alias,
                sample,
                ..
            } => {
                if sample.is_some() {
                    return Err(unsupported("TABLESAMPLE on a subquery is not PostgreSQL"));
                }
                self.query(subquery)?;
                Ok(Some(Relation::plain(
                    alias
                        .as_ref()
                        .map(|a| ident::normalize(&a.name))
                        .unwrap_or_default(),
                )))
            }
            TableFactor::Function {
                name, args, alias, ..
            } => self.function_in_from(name, alias.as_ref(), args),
            TableFactor::UNNEST {
                alias, array_exprs, ..
            } => {
                self.check_function_name("unnest", Some("UNNEST(…) in FROM"))?;
                self.judge_all(array_exprs);
                self.walk(array_exprs)?;
                Ok(Some(Relation::plain(
                    alias
                        .as_ref()
                        .map(|a| ident::normalize(&a.name))
                        .unwrap_or_else(|| "unnest".into()),
                )))
            }
            // XMLTABLE(row PASSING doc COLUMNS …): a table function of its expressions,
            // which may read the FROM items before it (it is implicitly LATERAL), like
            // UNNEST; its row and column XPath expressions, defaults and namespaces are
            // expressions of the same kind. A deny list judges it by `xmltable` and by
            // `xpath`, whose evaluation it is.
            TableFactor::XmlTable {
                namespaces,
                row_expression,
                passing,
                columns,
                alias,
            } => {
                for name in ["xmltable", "xpath"] {
                    self.check_function_name(name, Some("XMLTABLE(…) in FROM"))?;
                }
                self.judge_all(namespaces);
                self.judge_all(row_expression);
                self.judge_all(passing);
                self.judge_all(columns);
                self.walk(namespaces)?;
                self.walk(row_expression)?;
                self.walk(passing)?;
                self.walk(columns)?;
                Ok(Some(Relation::plain(
                    alias
                        .as_ref()
                        .map(|a| ident::normalize(&a.name))
                        .unwrap_or_else(|| "xmltable".into()),
                )))
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let start = self.scopes.top().relations.len();
                self.table_with_joins(table_with_joins)?;
                match alias {
                    // The alias hides the inner names but exposes all their columns.
                    Some(a) => {
                        let mut rel = Relation::plain(ident::normalize(&a.name));
                        let frame = self.scopes.top();
                        let inner = frame.relations.drain(start.min(frame.relations.len())..);
                        for r in inner {
                            rel.denied_columns.extend(r.denied_columns);
                        }
                        Ok(Some(rel))
                    }
                    None => Ok(None),
                }
            }
            _ => Err(unsupported("this FROM item is not supported")),
        }
    }

    /// A function in FROM: denied functions block; its arguments are checked.
    fn function_in_from<A: VisitMut>(
        &mut self,
        name: &ObjectName,
        alias: Option<&TableAlias>,
        args: &mut A,
    ) -> Result<Option<Relation>, Block> {
        self.check_denied_call(name)?;
        self.check_known_function(name)?;
        self.judge_all(args);
        self.walk(args)?;
        let ref_name = alias
            .map(|a| ident::normalize(&a.name))
            .or_else(|| functions::judged_name(name))
            .unwrap_or_default();
        Ok(Some(Relation::plain(ref_name)))
    }

    /// Checks every expression inside `node`, enforcing nested queries with the current scope.
    fn walk<V: VisitMut>(&mut self, node: &mut V) -> Flow {
        let mut walker = Walker {
            rw: self,
            stash: Vec::new(),
            blocked: None,
        };
        let _ = crate::walk::walk(node, &mut walker);
        match walker.blocked {
            None => Ok(()),
            Some(b) => Err(b),
        }
    }
}

fn unsupported(what: &str) -> Block {
    Block::new(
        VerdictRule::UnsupportedSyntax,
        what.to_string(),
        "rewrite the query with plain PostgreSQL SELECT syntax",
    )
}

fn query_of(body: SetExpr) -> Query {
    Query {
        with: None,
        body: Box::new(body),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    }
}

/// Walks expressions; each nested query is taken out, enforced with the current scope by the
/// rewriter, and put back after the walk passed it, so the walk never enters it.
struct Walker<'r, 'a> {
    rw: &'r mut Rewriter<'a>,
    stash: Vec<Query>,
    /// Why the walk stopped, if it did.
    blocked: Option<Block>,
}

impl Walker<'_, '_> {
    fn block(&mut self, b: Block) -> ControlFlow<()> {
        self.blocked = Some(b);
        ControlFlow::Break(())
    }
}

impl VisitorMut for Walker<'_, '_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let placeholder = query_of(SetExpr::Values(Values {
            explicit_row: false,
            value_keyword: false,
            rows: Vec::new(),
        }));
        let mut real = std::mem::replace(query, placeholder);
        let result = self.rw.query(&mut real);
        self.stash.push(real);
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(b) => self.block(b),
        }
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(real) = self.stash.pop() {
            *query = real;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // A masked column of a write target becomes its mask; replaced after the walk passed
        // the reference, so the mask's own reference to the column is never masked again.
        if self.rw.target_masked {
            match self.rw.target_mask_for(expr) {
                Ok(Some((masked, info))) => {
                    *expr = masked;
                    self.rw.record_mask(info);
                }
                Ok(None) => {}
                Err(b) => return self.block(b),
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match self.rw.check_expr(expr) {
            Ok(()) => ControlFlow::Continue(()),
            Err(b) => self.block(b),
        }
    }
}
