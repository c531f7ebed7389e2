//! Enforcement at the scan (SPEC §4.2): every reference to a governed table becomes a
//! derived table that applies the table's row filters and masks, under the caller's alias
//! or the table's name; deny rules, denied functions and the strict catalog are checked on
//! the way. Names resolve as PostgreSQL resolves them: CTEs shadow unqualified table names
//! only where they are visible, unquoted names fold to lower case, unqualified means `public`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Join, JoinConstraint,
    JoinOperator, ObjectName, OrderBy, Query, Select, SelectFlavor, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, TableAlias, TableFactor, TableWithJoins, Value,
    Values, VisitMut, VisitorMut,
};

use crate::catalog::{Catalog, TableName};
use crate::context::{Context, SubstituteError};
use crate::functions;
use crate::ident;
use crate::literal;
use crate::resolve::{alias_columns, Columns, DeniedColumn, Frame, Relation, RelationAt, Scopes};
use crate::select::{RuleRef, Rules, TableRules};
use crate::verdict::{MaskedColumn, RowFilter, VerdictRule};

mod fence;
mod output;
mod writes;

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
                self.column, self.table, self.policy, self.rule_index
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
    /// What `monitor` policies would have done, in the order found.
    pub notes: Vec<String>,
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
    denied_functions: Vec<(String, String)>,
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

    /// Blocks a function a query restriction denies.
    fn check_function(&self, name: &ObjectName) -> Flow {
        match functions::judged_name(name) {
            Some(name) => self.check_function_name(&name, None),
            // A name the engine cannot read: the engine's own list blocks it.
            None => Ok(()),
        }
    }

    /// The deny lists' judgement of a call by name: a query restriction's, then the
    /// engine's own.
    fn check_denied_call(&self, name: &ObjectName) -> Flow {
        self.check_function(name)?;
        match functions::denied_reason(name) {
            Some(why) => Err(denied_function(name, why)),
            None => Ok(()),
        }
    }

    /// Blocks a function name a query restriction denies; `form` is the special form of
    /// SQL's grammar that calls it, if any.
    fn check_function_name(&self, name: &str, form: Option<&str>) -> Flow {
        let hit = self
            .denied_functions
            .iter()
            .find(|(p, _)| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == *p,
            });
        match (hit, form) {
            (Some((pattern, policy)), None) => Err(Block::new(
                VerdictRule::DeniedFunction,
                format!("function `{name}` is denied by a query restriction of policy `{policy}` (`{pattern}`)"),
                "remove the call",
            )),
            (Some((pattern, policy)), Some(form)) => Err(Block::new(
                VerdictRule::DeniedFunction,
                format!("`{form}` calls `{name}`, which is denied by a query restriction of policy `{policy}` (`{pattern}`)"),
                "remove the expression; its special syntax calls the denied function",
            )),
            (None, _) => Ok(()),
        }
    }

    /// `col(t)`: PostgreSQL reads a one-argument call on a relation's whole row, named
    /// after one of its columns, as that column (`t.col`).
    fn is_attribute_notation(&self, f: &sqlparser::ast::Function) -> bool {
        let FunctionArguments::List(list) = &f.args else {
            return false;
        };
        let [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(q)))] =
            list.args.as_slice()
        else {
            return false;
        };
        let Some(parts) = ident::object_parts(&f.name) else {
            return false;
        };
        let [col] = parts.as_slice() else {
            return false;
        };
        self.scopes
            .find_relation(&ident::normalize(q))
            .and_then(|r| r.columns.as_ref())
            .is_some_and(|c| c.contains(self.catalog, &ident::normalize(col)))
    }

    /// Under a strict catalog a function must be a safe PostgreSQL built-in
    /// ([`functions::is_safe_builtin`]) or listed in `catalog.functions` as reading no
    /// governed table; without a catalog the deny lists are the floor.
    fn check_known_function(&self, name: &ObjectName) -> Flow {
        let Some(catalog) = self.catalog else {
            return Ok(());
        };
        match functions::normalized_name(name) {
            Some(f) if functions::reads_session_state(&f) => return Err(session_state(&f)),
            Some(f) if functions::is_safe_builtin(&f) => return Ok(()),
            _ => {}
        }
        // A function of the catalog: `f` (in `public`) or `schema.f`, named as a table is.
        let qualified = ident::object_parts(name)
            .and_then(|parts| TableName::from_idents(&parts))
            .ok_or_else(|| unknown_function(&name.to_string()))?;
        match catalog.functions.get(&qualified) {
            Some(listed) if !listed.reads_governed_tables => Ok(()),
            Some(_) => Err(Block::new(
                VerdictRule::UnknownFunction,
                format!("function `{qualified}` reads governed tables (catalog.functions), around the policies"),
                "read the tables in the statement itself, where the policies apply; a function that reads no governed table is listed with `reads_governed_tables: false`",
            )),
            None => Err(unknown_function(&qualified.to_string())),
        }
    }

    /// Blocks what an expression calls (a function by name, or the functions a special
    /// form of the grammar calls) when a query restriction or the engine's list denies it.
    fn check_calls(&self, expr: &Expr) -> Flow {
        match functions::calls(expr) {
            None => Ok(()),
            Some(functions::Calls::Named(name)) => {
                // `current_setting('verdict.…')`: the engine's own settings.
                let own_setting = functions::judged_name(name).as_deref()
                    == Some("current_setting")
                    && matches!(expr, Expr::Function(f)
                        if first_string_arg(&f.args).is_some_and(|s| s.starts_with("verdict.")));
                if own_setting {
                    return self.check_function(name);
                }
                self.check_denied_call(name)?;
                if matches!(expr, Expr::Function(f) if self.is_attribute_notation(f)) {
                    return Ok(());
                }
                self.check_known_function(name)
            }
            Some(functions::Calls::Special { form, names }) => {
                for name in names {
                    self.check_function_name(name, Some(form))?;
                    if let Some(why) = functions::denied_reason_for(name) {
                        return Err(Block::new(
                            VerdictRule::DeniedFunction,
                            format!("`{form}` calls `{name}`, which is not allowed: {why}"),
                            "remove the expression; it cannot be proven to respect the policies",
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// Adds function-name patterns denied by a restriction of `policy`.
    pub fn deny_functions(&mut self, policy: &str, patterns: &[String]) {
        for p in patterns {
            self.denied_functions.push((p.clone(), policy.to_string()));
        }
    }

    /// Enforces the policies on a procedure call (`CALL`), in place: its name is judged
    /// like a function's, its arguments like any expression.
    pub fn call(&mut self, f: &mut sqlparser::ast::Function) -> Flow {
        // The procedure itself: a policy allowed `call` statements, and the deny lists still
        // judge its name; its arguments are expressions like any other.
        self.check_denied_call(&f.name)?;
        self.walk(&mut f.args)
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

    /// A reference to a denied column: blocks, or for a monitored deny, notes and goes on.
    fn denied(&mut self, d: &DeniedColumn, how: &str) -> Flow {
        let block = d.block(how);
        if d.monitor {
            self.note(format!(
                "monitor: policy `{}` (rule {}) would block this statement: {}",
                d.policy, d.rule_index, block.reason
            ));
            Ok(())
        } else {
            Err(block)
        }
    }

    fn note(&mut self, note: String) {
        if !self.applied.notes.contains(&note) {
            self.applied.notes.push(note);
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

    /// What a plain table reference names: a visible CTE, or a table.
    fn resolve_table(&self, tf: &TableFactor) -> Result<Resolved, Block> {
        let TableFactor::Table {
            name,
            alias,
            with_hints,
            version,
            partitions,
            json_path,
            index_hints,
            sample,
            with_ordinality,
            ..
        } = tf
        else {
            return Err(unsupported("this FROM item is not supported"));
        };
        if !with_hints.is_empty()
            || version.is_some()
            || !partitions.is_empty()
            || json_path.is_some()
            || !index_hints.is_empty()
            || *with_ordinality
        {
            return Err(unsupported("this table reference syntax is not PostgreSQL"));
        }
        let parts = ident::object_parts(name)
            .ok_or_else(|| unsupported("this table name is not supported"))?;
        if let [single] = parts.as_slice() {
            let n = ident::normalize(single);
            if self.scopes.cte_visible(&n) {
                let ref_name = alias
                    .as_ref()
                    .map(|a| ident::normalize(&a.name))
                    .unwrap_or(n);
                return Ok(Resolved::Cte(Relation::plain(ref_name)));
            }
        }
        let table = table_name(name, &parts)?;
        Ok(Resolved::Table {
            table,
            alias: alias.clone(),
            sampled: sample.is_some(),
        })
    }

    /// The catalog's entry for a table (its position and itself): `None` without a
    /// catalog; a block when the strict catalog does not list it.
    fn catalog_entry(
        &self,
        table: &TableName,
    ) -> Result<Option<(usize, &'a crate::catalog::Table)>, Block> {
        match self.catalog {
            Some(cat) => cat.entry(table).map(Some).ok_or_else(|| {
                Block::new(
                    VerdictRule::UnknownRelation,
                    format!("relation `{table}` is not in the catalog"),
                    "only tables listed in the policy set's catalog can be used; names are case-sensitive when quoted",
                )
            }),
            None => Ok(None),
        }
    }

    /// `catalog.default_access: "deny"`: a governed table no enforced policy naming it
    /// applies to is blocked (crate::select::default_denied says what counts).
    fn default_access(&self, table: &TableName) -> Flow {
        let deny = self
            .catalog
            .is_some_and(|c| c.default_access == crate::catalog::DefaultAccess::Deny);
        if !deny || !crate::select::default_denied(self.set, self.ctx, table) {
            return Ok(());
        }
        Err(Block::new(
            VerdictRule::DefaultDeny,
            format!(
                "table `{table}` is governed by the policy set, and no enforced policy that names it applies to this context (the catalog's `default_access` is `deny`)"
            ),
            format!("ask for a policy that grants this context access to `{table}` (for every row: a row filter with the predicate `true`)"),
        ))
    }

    /// A reference to a catalog table: checks, then the filtered, masked scan.
    fn scan(
        &mut self,
        tf: &mut TableFactor,
        tf_alias: Option<TableAlias>,
        sample: bool,
        table: TableName,
    ) -> Result<Relation, Block> {
        let catalog_entry = self.catalog_entry(&table)?;
        self.default_access(&table)?;
        let catalog_table = catalog_entry.map(|(_, t)| t);
        self.applied.tables.insert(table.clone());
        let rules = self.rules.table(&table);
        if let Some(at) = rules.and_then(|r| r.denied) {
            return Err(table_denied(&table, at));
        }
        let ref_name = tf_alias
            .as_ref()
            .map(|a| ident::normalize(&a.name))
            .unwrap_or_else(|| table.name.clone());
        let alias_cols = alias_columns(tf_alias.as_ref());
        let mut rel = Relation {
            ref_name,
            qualified: tf_alias.is_none().then(|| table.clone()),
            renamed_scan: false,
            aliased_scan: false,
            denied_columns: BTreeMap::new(),
            columns: catalog_entry.map(|(table, _)| Columns::Catalog {
                table,
                renamed: alias_cols.clone(),
            }),
            target_masks: BTreeMap::new(),
            filtered: None,
            nullable: false,
        };
        // Denied columns, under the names the alias's column list gives them; monitored
        // denies first, so an enforced deny of the same column replaces its entry.
        let monitored = self.monitored.table(&table);
        let denied = monitored
            .iter()
            .flat_map(|r| r.denied_columns.iter().map(|(c, at)| (c, at, true)))
            .chain(
                rules
                    .iter()
                    .flat_map(|r| r.denied_columns.iter().map(|(c, at)| (c, at, false))),
            );
        let mut renamed_denied = None;
        for (col, at, monitor) in denied {
            let position =
                catalog_table.and_then(|t| t.columns.iter().position(|c| c.name == *col));
            let exposed = match (position, alias_cols.is_empty()) {
                (Some(p), false) => alias_cols
                    .get(p)
                    .cloned()
                    .unwrap_or_else(|| col.to_string()),
                (None, false) => {
                    return Err(Block::new(
                        VerdictRule::CatalogRequired,
                        format!("column aliases on `{table}` hide its denied column `{col}`, and the catalog does not list its position"),
                        "add the table's columns to the catalog, or drop the column aliases",
                    )
                    .by(*at))
                }
                _ => col.to_string(),
            };
            let denied_column = DeniedColumn {
                table: table.clone(),
                column: col.to_string(),
                policy: at.policy.id.clone(),
                rule_index: at.rule_index,
                monitor,
            };
            // An alias list that reaches a denied column's position names it: the
            // context's table has no such column, so the list cannot be that long.
            if !monitor
                && renamed_denied.is_none()
                && position.is_some_and(|p| p < alias_cols.len())
            {
                renamed_denied = Some(denied_column.block(&format!(
                    " and the column alias list of `{}` renames it to `{exposed}`",
                    rel.ref_name
                )));
            }
            rel.denied_columns.insert(exposed, denied_column);
        }
        if let Some(m) = monitored {
            self.monitor_scan(&table, m);
        }
        if let Some(b) = renamed_denied {
            return Err(b);
        }
        let Some(rules) = rules else { return Ok(rel) };
        if !rules.needs_rewrite() {
            return Ok(rel);
        }
        if sample {
            return Err(unsupported(
                "TABLESAMPLE on a governed table is not supported",
            ));
        }
        let scan = self.scan_text(&table, rules)?;
        let alias = tf_alias.unwrap_or_else(|| TableAlias {
            explicit: true,
            name: ident::make_ident(&table.name),
            columns: Vec::new(),
            at: None,
        });
        rel.aliased_scan = !alias.columns.is_empty();
        // The scan stays text until the statement is printed (crate::print): a placeholder
        // table takes its place in the tree.
        *tf = self.placeholders.table(self.scans.len(), alias);
        if !rules.filters.is_empty() {
            self.filtered_scans.push(self.scans.len());
            rel.filtered = Some(table);
        }
        self.scans.push(scan);
        rel.renamed_scan = rel.qualified.is_some();
        Ok(rel)
    }

    /// Notes what the monitored policies would do to this scan (once per table).
    fn monitor_scan(&mut self, table: &TableName, m: &TableRules<'_>) {
        if !self.monitored_tables.insert(table.clone()) {
            return;
        }
        if let Some(at) = m.denied {
            let b = table_denied(table, at);
            self.note(format!(
                "monitor: policy `{}` (rule {}) would block this statement: {}",
                at.policy.id, at.rule_index, b.reason
            ));
        }
        for (at, predicate) in &m.filters {
            let note = match self.ctx.substitute_text(predicate) {
                Ok(text) => format!(
                    "monitor: policy `{}` (rule {}) would filter `{table}` by `{text}`",
                    at.policy.id, at.rule_index
                ),
                Err(e) => format!(
                    "monitor: policy `{}` (rule {}) would block this statement: {}",
                    at.policy.id,
                    at.rule_index,
                    substitute_block(table, *at, e).reason
                ),
            };
            self.note(note);
        }
        for (col, chosen) in &m.masks {
            self.note(format!(
                "monitor: policy `{}` (rule {}) would mask `{table}.{}` with `{}`",
                chosen.at.policy.id,
                chosen.at.rule_index,
                ident::display(col),
                chosen.mask.kind()
            ));
        }
    }

    /// `SELECT <columns, masked> FROM schema.table WHERE <filters>`, as sqlparser prints
    /// it (crate::print checks that it reads back so), built anew for each reference.
    fn scan_text(&mut self, table: &TableName, rules: &TableRules<'_>) -> Result<String, Block> {
        let first = self.built.insert(table.clone());
        let mut shown = String::new();
        if first {
            table.push_to(&mut shown);
        }
        let mut filters = Vec::with_capacity(rules.filters.len());
        for (at, predicate) in &rules.filters {
            let text = self.filter_text(table, *at, predicate)?;
            if first {
                self.applied.row_filters.push(RowFilter {
                    table: shown.clone(),
                    predicate: text.clone(),
                    policy: at.policy.id.clone(),
                    rule_index: at.rule_index,
                });
                self.applied.policies.insert(at.policy.id.clone());
            }
            filters.push(text);
        }
        let mut out = String::with_capacity(256);
        out.push_str("SELECT ");
        match self.catalog.and_then(|c| c.table(table)) {
            Some(t) => {
                for (i, c) in t.columns.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    // INVARIANT (all `write!`s here): writing into a String cannot fail.
                    if rules.denied_columns.contains_key(c.name.as_str()) {
                        // Safeguard: a denied column that slipped past the checks reads NULL.
                        let null = Expr::value(Value::Null);
                        let e = match &c.sql_type {
                            Some(t) => literal::cast(null, t.clone()),
                            None => null,
                        };
                        let _ = write!(out, "{e} AS {}", c.shown);
                    } else if let Some(m) = rules.masks.get(c.name.as_str()) {
                        if first {
                            self.applied.masked_columns.push(MaskedColumn {
                                table: shown.clone(),
                                column: c.name.clone(),
                                kind: m.mask.kind().to_string(),
                                policy: m.at.policy.id.clone(),
                                rule_index: m.at.rule_index,
                            });
                            self.applied.policies.insert(m.at.policy.id.clone());
                        }
                        out.push_str(m.sql);
                        out.push_str(" AS ");
                        out.push_str(&c.shown);
                    } else {
                        out.push_str(&c.shown);
                    }
                }
            }
            None => {
                if let Some((col, m)) = rules.masks.iter().next() {
                    return Err(Block::new(
                        VerdictRule::CatalogRequired,
                        format!("column `{col}` of `{table}` is masked, and without a catalog the engine cannot list the table's other columns"),
                        "add the table and its columns to the policy set's catalog",
                    )
                    .by(m.at));
                }
                out.push('*');
            }
        }
        out.push_str(" FROM ");
        table.push_to(&mut out);
        // Several filters are ANDed, each in parentheses (as a balanced tree prints).
        for (i, f) in filters.iter().enumerate() {
            out.push_str(if i == 0 { " WHERE " } else { " AND " });
            if filters.len() > 1 {
                out.push('(');
                out.push_str(f);
                out.push(')');
            } else {
                out.push_str(f);
            }
        }
        self.charge_scan(table, &out)?;
        Ok(out)
    }

    /// `name.*` in a select list (it expands to the columns).
    fn check_whole_row_name(&mut self, name: &ObjectName) -> Flow {
        self.check_whole_row(name, false)
    }

    /// `name.*`; `in_expr` (a function argument, a row value) makes it the whole row.
    fn check_whole_row(&mut self, name: &ObjectName, in_expr: bool) -> Flow {
        let Some(parts) = ident::object_parts(name) else {
            return Ok(());
        };
        let rel = match parts.as_slice() {
            [q] => self.scopes.find_relation(&ident::normalize(q)),
            [s, t] => self
                .scopes
                .find_qualified(&TableName::new(ident::normalize(s), ident::normalize(t))),
            _ => return Err(database_qualified(&format!("{name}.*"))),
        };
        let masked = rel.map(|r| Self::masked_whole_row(r, &format!("`{name}.*`")));
        if in_expr {
            if let Some(r) = rel {
                Self::aliased_whole_row(r, &format!("`{name}.*`"))?;
            }
        }
        if let Some(d) = rel.and_then(|r| r.any_denied().cloned()) {
            self.denied(&d, &format!(" and `{name}.*` would read it"))?;
        }
        masked.unwrap_or(Ok(()))
    }

    /// `schema.table.*` → `table.*` where the scan of `schema.table` became a derived
    /// table named `table`, as `schema.table.column` references are re-pointed.
    fn repoint_whole_row(&self, name: &mut ObjectName) -> Flow {
        let Some(parts) = ident::object_parts(name) else {
            return Ok(());
        };
        let [s, t] = parts.as_slice() else {
            return Ok(());
        };
        let tn = TableName::new(ident::normalize(s), ident::normalize(t));
        if self.repointable(&tn, &format!("{name}.*"))? {
            let table = (*t).clone();
            *name = ObjectName::from(vec![table]);
        }
        Ok(())
    }

    /// Whether a reference `what` qualified by `table` must be re-pointed at the derived
    /// table its scan became (named after the table). Blocks when that name would reach
    /// another relation first: one of an inner query level named like the table (an
    /// alias, a CTE), which PostgreSQL's `schema.table` never means.
    fn repointable(&self, table: &TableName, what: &str) -> Result<bool, Block> {
        let Some(rel) = self.scopes.find_qualified(table) else {
            return Ok(false);
        };
        if !rel.renamed_scan {
            return Ok(false);
        }
        match self.scopes.find_relation(&table.name) {
            Some(named) if std::ptr::eq(named, rel) => Ok(true),
            _ => Err(Block::new(
                VerdictRule::UnsupportedSyntax,
                format!(
                    "`{what}` names the table `{table}`, whose scan is rewritten under the name `{}`, and that name means another relation of an inner query level here",
                    ident::display(&table.name)
                ),
                format!("give `{table}` an alias and qualify the reference with it"),
            )),
        }
    }

    /// A reference `q.name` (or `schema.table.name`) whose `name` is not a column of the
    /// relation `rel`: PostgreSQL then reads it as the function `name` called on the whole
    /// row (`s.row_to_json` is `row_to_json(s)`), so it is checked as a whole-row reference.
    /// Without the relation's columns (no catalog, a join's alias) only names of built-in
    /// functions that take a row count (`functions::takes_a_row`).
    fn functional_notation(&mut self, rel_index: RelationAt, col: &str, what: &str) -> Flow {
        let Some(rel) = self.scopes.relation_at(rel_index) else {
            return Ok(());
        };
        let call = match &rel.columns {
            Some(cols) => !cols.contains(self.catalog, col),
            None => functions::takes_a_row(col),
        };
        if !call {
            return Ok(());
        }
        let how = format!(" and `{what}` reads the whole row (PostgreSQL calls `{col}` on it)");
        let denied = rel.any_denied().cloned();
        let masked = Self::masked_whole_row(rel, &format!("`{what}`"));
        let aliased = Self::aliased_whole_row(rel, &format!("`{what}`"));
        if let Some(d) = denied {
            self.denied(&d, &how)?;
        }
        masked?;
        aliased?;
        // The call itself is judged as one written `col(q)`.
        let function = ObjectName::from(vec![ident::make_ident(col)]);
        self.check_denied_call(&function)?;
        self.check_known_function(&function)
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

    /// The masked value a column reference stands for, when it names a masked column of a
    /// write target; blocks when the reference might bind to either the target or an
    /// inner relation whose columns are unknown.
    fn target_mask_for(&self, expr: &Expr) -> Result<Option<(Expr, MaskedColumn)>, Block> {
        match expr {
            Expr::CompoundIdentifier(parts) => {
                let names: Vec<String> = parts.iter().map(ident::normalize).collect();
                if let [sch, t, col] = names.as_slice() {
                    let tn = TableName::new(sch.clone(), t.clone());
                    return Ok(self
                        .scopes
                        .name_order()
                        .find(|r| r.qualified.as_ref() == Some(&tn))
                        .and_then(|r| r.target_masks.get(col))
                        .map(|(m, info)| (Expr::Nested(Box::new(m.clone())), info.clone())));
                }
                let [q, col] = names.as_slice() else {
                    return Ok(None);
                };
                Ok(self
                    .scopes
                    .find_relation(q)
                    .and_then(|r| r.target_masks.get(col))
                    .map(|(m, info)| (Expr::Nested(Box::new(m.clone())), info.clone())))
            }
            Expr::Identifier(id) => {
                let col = ident::normalize(id);
                let has = |rel: &&Relation| {
                    rel.columns
                        .as_ref()
                        .is_none_or(|cols| cols.contains(self.catalog, &col))
                };
                // Innermost query level first: a name binds at the first level with a
                // relation that has it, and is ambiguous (an error) when two there have it.
                let mut unknown_inner = false;
                for frame in self.scopes.levels().rev() {
                    let candidates: Vec<&Relation> = frame.relations.iter().filter(has).collect();
                    let masked = candidates.iter().find_map(|r| r.target_masks.get(&col));
                    let Some((m, info)) = masked else {
                        if candidates.iter().any(|r| r.columns.is_some()) {
                            return Ok(None);
                        }
                        unknown_inner |= !candidates.is_empty();
                        continue;
                    };
                    if unknown_inner || candidates.len() > 1 {
                        return Err(Block::new(
                            VerdictRule::ColumnMask,
                            format!("`{col}` may refer to the masked column of the written table or to a column of another relation"),
                            "qualify the column with its table's name or alias",
                        ));
                    }
                    return Ok(Some((Expr::Nested(Box::new(m.clone())), info.clone())));
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Whether any relation in scope has denied columns or was renamed (checks are needed).
    fn names_matter(&self) -> bool {
        self.scopes.all().any(|r| {
            r.renamed_scan
                || r.aliased_scan
                || !r.denied_columns.is_empty()
                || !r.target_masks.is_empty()
        })
    }

    /// A whole-row value of a scan rewritten under a column alias list would carry the
    /// aliases as field names where PostgreSQL gives the table's row type.
    fn aliased_whole_row(rel: &Relation, what: &str) -> Flow {
        if !rel.aliased_scan {
            return Ok(());
        }
        Err(unsupported(&format!(
            "{what} is the whole row of `{}`, a governed table with a column alias list; \
             rewritten, its fields would be named by the aliases instead of the table's columns",
            rel.ref_name
        )))
    }

    /// A whole-row reference to a write target whose columns are masked would read them raw.
    fn masked_whole_row(rel: &Relation, what: &str) -> Flow {
        match rel.target_masks.values().next() {
            Some((_, info)) => Err(Block::new(
                VerdictRule::ColumnMask,
                format!(
                    "{what} reads the whole row of `{}`, whose column `{}` is masked by policy `{}` (rule {})",
                    info.table, info.column, info.policy, info.rule_index
                ),
                "name the columns you need; masked columns are shown masked when named",
            )
            .with_policy(&info.policy, info.rule_index)),
            None => Ok(()),
        }
    }

    fn check_expr(&mut self, expr: &mut Expr) -> Flow {
        self.check_calls(expr)?;
        match expr {
            Expr::CompoundIdentifier(parts) if parts.len() > 3 => {
                let text = parts
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(".");
                return Err(database_qualified(&text));
            }
            // `db.schema.table.col[1]`: the dotted names before a subscript are one reference.
            Expr::CompoundFieldAccess { root, access_chain }
                if matches!(root.as_ref(), Expr::Identifier(_)) =>
            {
                let dotted = access_chain
                    .iter()
                    .take_while(|a| matches!(a, AccessExpr::Dot(Expr::Identifier(_))))
                    .count();
                if dotted >= 3 {
                    return Err(database_qualified(&expr.to_string()));
                }
            }
            // `current_schema`, `user`, …: unquoted, PostgreSQL's session state, not a column.
            Expr::Identifier(id)
                if self.catalog.is_some()
                    && id.quote_style.is_none()
                    && functions::reads_session_state(&ident::normalize(id)) =>
            {
                return Err(session_state(&ident::normalize(id)));
            }
            Expr::Identifier(_) if !self.names_matter() => {}
            // Under a strict catalog `t.f` may also be the call `f(t)`, judged as a call.
            Expr::CompoundIdentifier(_) if !self.names_matter() && self.catalog.is_none() => {}
            Expr::Identifier(id) => {
                let name = ident::normalized(id);
                let name = name.as_ref();
                // PostgreSQL reads a bare name as a column when a relation at any query
                // level has one of that name, and only otherwise as a relation's whole row
                // (`SELECT email FROM customers email` reads the column).
                let column = self.scopes.all().any(|r| {
                    r.columns
                        .as_ref()
                        .is_some_and(|c| c.contains(self.catalog, name))
                });
                let mut hits = Vec::new();
                for rel in self.scopes.name_order() {
                    if let Some(d) = rel.denied_columns.get(name) {
                        hits.push((d.clone(), String::new()));
                    }
                    if rel.ref_name == name && !column {
                        if let Some(d) = rel.any_denied() {
                            hits.push((
                                d.clone(),
                                format!(" and the whole-row reference `{name}` would read it"),
                            ));
                        }
                    }
                }
                for (d, how) in hits {
                    self.denied(&d, &how)?;
                }
                // Denies first (they say more); then masks a whole row of a write target would skip.
                if let Some(rel) = self.scopes.find_relation(name).filter(|_| !column) {
                    Self::masked_whole_row(rel, &format!("`{name}`"))?;
                    Self::aliased_whole_row(rel, &format!("`{name}`"))?;
                }
            }
            Expr::CompoundIdentifier(parts) => {
                let names: Vec<std::borrow::Cow<'_, str>> =
                    parts.iter().map(ident::normalized).collect();
                let names: Vec<&str> = names.iter().map(|n| n.as_ref()).collect();
                let what = parts
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(".");
                if let [q, col, ..] = names.as_slice() {
                    let rel = self.scopes.find_relation(q);
                    let at = rel.and_then(|r| self.scopes.locate(r));
                    if let Some(d) = rel.and_then(|r| r.denied_columns.get(*col)).cloned() {
                        self.denied(&d, "")?;
                    }
                    if let (Some(at), [_, _]) = (at, names.as_slice()) {
                        self.functional_notation(at, col, &what)?;
                    }
                }
                if let [s, t, col] = names.as_slice() {
                    let tn = TableName::new(*s, *t);
                    let rel = self.scopes.find_qualified(&tn);
                    let at = rel.and_then(|r| self.scopes.locate(r));
                    if let Some(d) = rel.and_then(|r| r.denied_columns.get(*col)).cloned() {
                        self.denied(&d, "")?;
                    }
                    if let Some(at) = at {
                        self.functional_notation(at, col, &what)?;
                    }
                    if self.repointable(&tn, &what)? {
                        // `schema.table.column` → `table.column`: the scan is now named `table`.
                        let kept: Vec<Ident> = parts.iter().skip(1).cloned().collect();
                        *parts = kept;
                    }
                }
            }
            Expr::QualifiedWildcard(name, _) => {
                self.check_whole_row(name, true)?;
                self.repoint_whole_row(name)?;
            }
            Expr::Function(f) => {
                if let FunctionArguments::List(list) = &mut f.args {
                    for arg in &mut list.args {
                        let arg = match arg {
                            FunctionArg::Named { arg, .. }
                            | FunctionArg::ExprNamed { arg, .. }
                            | FunctionArg::Unnamed(arg) => arg,
                        };
                        if let FunctionArgExpr::QualifiedWildcard(name) = arg {
                            self.check_whole_row(name, true)?;
                            self.repoint_whole_row(name)?;
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn first_string_arg(args: &FunctionArguments) -> Option<&str> {
    let FunctionArguments::List(list) = args else {
        return None;
    };
    match list.args.first()? {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))) => match &v.value {
            Value::SingleQuotedString(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn table_denied(table: &TableName, at: RuleRef<'_>) -> Block {
    Block::new(
        VerdictRule::Deny,
        format!(
            "table `{table}` is denied by policy `{}` (rule {})",
            at.policy.id, at.rule_index
        ),
        "this table cannot be queried in this context",
    )
    .by(at)
}

fn substitute_block(table: &TableName, at: RuleRef<'_>, e: SubstituteError) -> Block {
    match e {
        SubstituteError::Missing(r) => Block::new(
            VerdictRule::MissingContext,
            format!(
                "the row filter of policy `{}` (rule {}) on `{table}` needs `{}`, which the context lacks",
                at.policy.id,
                at.rule_index,
                r.display()
            ),
            format!("supply `{}` in the context", r.display()),
        )
        .by(at),
        SubstituteError::Invalid(r, why) => Block::new(
            VerdictRule::InvalidContext,
            format!("context value `{}` cannot be used: {why}", r.display()),
            "fix the context value",
        )
        .by(at),
    }
}

enum Resolved {
    Cte(Relation),
    Table {
        table: TableName,
        alias: Option<TableAlias>,
        sampled: bool,
    },
}

/// A table reference's name: `table` or `schema.table`; other forms are blocked.
fn table_name(name: &ObjectName, parts: &[&Ident]) -> Result<TableName, Block> {
    TableName::from_idents(parts).ok_or_else(|| {
        Block::new(
            VerdictRule::UnknownRelation,
            format!("`{name}` names another database; only `schema.table` is supported"),
            "remove the database name",
        )
    })
}

/// A column reference or `*` that names its database (`db.schema.table.column`,
/// `db.schema.table.*`): PostgreSQL reads it when `db` is the current database, which the
/// engine does not know, so it cannot tell which relation it reads; FROM refuses such
/// table names the same way.
fn database_qualified(what: &str) -> Block {
    Block::new(
        VerdictRule::UnknownRelation,
        format!("`{what}` names a database; only `schema.table.column`, `table.column` and `alias.column` are supported"),
        "remove the database name, or qualify the column with its table's alias",
    )
}

fn unsupported(what: &str) -> Block {
    Block::new(
        VerdictRule::UnsupportedSyntax,
        what.to_string(),
        "rewrite the query with plain PostgreSQL SELECT syntax",
    )
}

fn unknown_function(name: &str) -> Block {
    Block::new(
        VerdictRule::UnknownFunction,
        format!("function `{name}` is neither a PostgreSQL built-in known to read nothing but its arguments nor listed in the catalog"),
        "use a built-in, or list the function in `catalog.functions` (`{\"name\": \"schema.f\", \"reads_governed_tables\": false}`) when it reads no governed table",
    )
}

fn session_state(name: &str) -> Block {
    Block::new(
        VerdictRule::UnknownFunction,
        format!("`{name}` reads session state (the database role, database or schema running the statement), which a strict catalog does not allow"),
        "pass what you need in the context (e.g. `ctx.user`) instead of reading it from the session",
    )
}

fn denied_function(name: &ObjectName, why: &str) -> Block {
    Block::new(
        VerdictRule::DeniedFunction,
        format!("function `{name}` is not allowed: {why}"),
        "remove the call; it cannot be proven to respect the policies",
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
