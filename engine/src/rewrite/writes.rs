//! Writes (SPEC §4.4, §7): UPDATE and DELETE reach only rows the row filters admit (the
//! filters join the WHERE clause); a write whose new rows might fall outside a row filter is
//! blocked unless the written constants prove it; masks hold in SET, WHERE and RETURNING
//! (the target's masked columns are replaced by their masks); tables read in FROM, USING
//! and subqueries are enforced as in SELECT.

use crate::verdict::RuleNo;
use crate::verdict::VerdictRule;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use sqlparser::ast::{
    Assignment, AssignmentTarget, BinaryOperator, Delete, Expr, FromTable, Ident, Insert,
    ObjectName, OnConflictAction, OnInsert, SelectItem, SelectItemQualifiedWildcardKind, SetExpr,
    Statement, TableFactor, TableObject, TableWithJoins, Update, UpdateTableFromKind, VisitorMut,
};

use super::{substitute_block, table_denied, unsupported, Block, Flow, Rewriter};
use crate::applicable::{self, RuleRef, Rules};
use crate::catalog::{Column, TableName, TypeClass};
use crate::ident;
use crate::policy::{is_sql_value_function, Operation};
use crate::prove::{self, V};
use crate::resolve::{Columns, DeniedColumn, Frame, Relation};
use crate::verdict::{MaskedColumn, RowFilter};

/// The table a write changes, with what the policies say about it.
struct Target {
    table: TableName,
    /// How the statement refers to it: its alias, or its name.
    reference: Ident,
    columns: Option<Vec<Column>>,
    /// Row filters after context substitution, over the table's bare column names.
    filters: Vec<TargetFilter>,
}

/// A row filter of a write's target.
struct TargetFilter {
    policy: String,
    rule_index: usize,
    expr: Expr,
    /// Whether rows an INSERT adds must satisfy it (every row filter but a
    /// `data_retention` rule's, which hides and protects old rows only).
    new_rows: bool,
}

impl<'a> Rewriter<'a> {
    /// Enforces the policies on an INSERT, UPDATE or DELETE statement, in place.
    pub fn write(&mut self, stmt: &mut Statement) -> Flow {
        // Also inside data-modifying CTEs and COPY: the statement's kind and WHERE rules.
        crate::restrict::gate_statement(self.rules, stmt)?;
        crate::restrict::require_where(self.rules, stmt)?;
        let depth = self.scopes.depth();
        let result = match stmt {
            Statement::Insert(ins) => self.insert(ins),
            Statement::Update(up) => self.update(up),
            Statement::Delete(del) => self.delete(del),
            _ => Err(unsupported("this statement is not a write")),
        };
        self.scopes.truncate(depth);
        result
    }

    pub(super) fn op_rules(&mut self, op: Operation) -> &Rules<'a> {
        let (set, ctx) = (self.set, self.ctx);
        self.write_rules
            .entry(op)
            .or_insert_with(|| applicable::policies(set, ctx, op).enforced)
    }

    /// Resolves the written table, checks its deny rules, and brings it into scope.
    fn target(
        &mut self,
        name: &ObjectName,
        alias: Option<&Ident>,
        op: Operation,
        reads: bool,
    ) -> Result<Target, Block> {
        let parts = ident::object_parts(name)
            .ok_or_else(|| unsupported("this table name is not supported"))?;
        let table = super::table_name(name, &parts)?;
        let catalog_entry = self.catalog_entry(&table)?;
        let catalog_table = catalog_entry.map(|(_, t)| t);
        self.applied.tables.insert(table.clone());
        let verb = op_name(op);
        self.default_access(&table)?;
        let mut denied_columns: BTreeMap<String, DeniedColumn> = BTreeMap::new();
        {
            let op_rules = self.op_rules(op);
            if let Some(at) = op_rules.table(&table).and_then(|r| r.denied) {
                let mut b = table_denied(&table, at);
                b.reason = format!("{} for {verb}", b.reason);
                return Err(b);
            }
            for (col, at) in op_rules
                .table(&table)
                .map(|r| &r.denied_columns)
                .into_iter()
                .flatten()
            {
                denied_columns.insert(col.to_string(), denied(&table, col, *at));
            }
        }
        let rules = self.rules.table(&table);
        if reads {
            if let Some(at) = rules.and_then(|r| r.denied) {
                return Err(table_denied(&table, at));
            }
            for (col, at) in rules.map(|r| &r.denied_columns).into_iter().flatten() {
                denied_columns
                    .entry(col.to_string())
                    .or_insert_with(|| denied(&table, col, *at));
            }
        }
        let reference = alias
            .cloned()
            .unwrap_or_else(|| ident::make_ident(&table.name));
        self.charge_target(&table, rules)?;
        let mut filters = Vec::new();
        let mut target_masks = BTreeMap::new();
        if let Some(rules) = rules {
            for (at, predicate) in &rules.filters {
                let expr = self
                    .ctx
                    .substitute(predicate)
                    .map_err(|e| substitute_block(&table, *at, e))?;
                let retention = matches!(
                    at.policy.rules.get(at.rule_index),
                    Some(crate::policy::Rule::RowFilter {
                        retention: Some(_),
                        ..
                    })
                );
                filters.push(TargetFilter {
                    policy: at.policy.id.clone(),
                    rule_index: at.rule_index,
                    expr,
                    new_rows: !retention,
                });
            }
            for (col, chosen) in &rules.masks {
                let info = MaskedColumn {
                    table: table.to_string(),
                    column: col.to_string(),
                    kind: chosen.mask.kind().to_string(),
                    policy: chosen.at.policy.id.clone(),
                    rule_index: chosen.at.rule_index,
                };
                target_masks.insert(
                    col.to_string(),
                    (qualify(chosen.expr.clone(), &reference), info),
                );
            }
        }
        if !target_masks.is_empty() {
            self.target_masked = true;
        }
        let columns = catalog_table.map(|t| t.columns.clone());
        let rel = Relation {
            ref_name: ident::normalize(&reference),
            qualified: alias.is_none().then(|| table.clone()),
            renamed_scan: false,
            aliased_scan: false,
            denied_columns,
            columns: catalog_entry.map(|(table, _)| Columns::Catalog {
                table,
                renamed: Vec::new(),
            }),
            target_masks,
            masked_columns: BTreeMap::new(),
            filtered: None,
            nullable: false,
        };
        self.scopes.push(Frame {
            ctes: Vec::new(),
            relations: vec![rel],
        });
        Ok(Target {
            table,
            reference,
            columns,
            filters,
        })
    }

    /// Enforces a write's WHERE (UPDATE, DELETE, ON CONFLICT DO UPDATE): its conjuncts are
    /// walked, then the target's row filters join them, and each leaky conjunct runs only
    /// on rows the filters admit (`fence`).
    fn write_where(&mut self, target: &Target, selection: &mut Option<Expr>) -> Flow {
        let leaky = self.leaky_conjuncts(selection.as_ref());
        if !leaky.contains(&true) || target.filters.is_empty() {
            self.walk(selection)?;
            self.add_filters(target, selection);
            return Ok(());
        }
        let (mut safe, mut risky) = (Vec::new(), Vec::new());
        if let Some(whole) = selection.take() {
            for (c, leaky) in crate::leak::conjuncts(&whole).into_iter().zip(leaky) {
                if leaky {
                    risky.push(c.clone());
                } else {
                    safe.push(c.clone());
                }
            }
        }
        for c in safe.iter_mut().chain(risky.iter_mut()) {
            self.walk(c)?;
        }
        *selection = super::fence::all_of(safe);
        let guard = super::fence::all_of(
            target
                .filters
                .iter()
                .map(|f| qualify(f.expr.clone(), &target.reference))
                .collect(),
        );
        self.add_filters(target, selection);
        if let (Some(guard), Some(risky)) = (guard, super::fence::all_of(risky)) {
            let r = super::fence::guarded(guard, risky);
            *selection = Some(match selection.take() {
                None => r,
                Some(old) => Expr::BinaryOp {
                    left: Box::new(Expr::Nested(Box::new(old))),
                    op: BinaryOperator::And,
                    right: Box::new(r),
                },
            });
        }
        Ok(())
    }

    /// Adds the target's row filters to a WHERE clause, and reports them.
    fn add_filters(&mut self, target: &Target, selection: &mut Option<Expr>) {
        // Each filter nests the WHERE clause one level deeper; past a few dozen they are
        // ANDed as one balanced tree instead (same meaning), so thousands stay shallow.
        let many = target.filters.len() > 32;
        let mut all = Vec::new();
        for TargetFilter {
            policy,
            rule_index,
            expr,
            ..
        } in &target.filters
        {
            let f = RowFilter {
                table: target.table.to_string(),
                predicate: expr.to_string(),
                policy: policy.clone(),
                rule_index: *rule_index,
            };
            if !self.applied.row_filters.contains(&f) {
                self.applied.row_filters.push(f);
            }
            self.applied.policies.insert(policy.clone());
            let qualified = Expr::Nested(Box::new(qualify(expr.clone(), &target.reference)));
            if many {
                all.push(qualified);
                continue;
            }
            *selection = Some(match selection.take() {
                None => qualified,
                Some(old) => Expr::BinaryOp {
                    left: Box::new(Expr::Nested(Box::new(old))),
                    op: BinaryOperator::And,
                    right: Box::new(qualified),
                },
            });
        }
        if many {
            if let Some(old) = selection.take() {
                all.insert(0, Expr::Nested(Box::new(old)));
            }
            *selection = crate::parse::chain(&BinaryOperator::And, all);
        }
    }

    fn column_of(&self, target: &Target, name: &ObjectName) -> Result<String, Block> {
        let col = name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(ident::normalize)
            .ok_or_else(|| unsupported("this column name is not supported"))?;
        if let Some(cols) = &target.columns {
            if !cols.iter().any(|c| c.name == col) {
                return Err(Block::new(
                    VerdictRule::UnknownRelation,
                    format!("column `{col}` of `{}` is not in the catalog", target.table),
                    "write only columns the catalog lists",
                ));
            }
        }
        self.check_written(target, &col)?;
        Ok(col)
    }

    fn check_written(&self, target: &Target, col: &str) -> Flow {
        let rel = self.scopes.innermost().and_then(|f| f.relations.first());
        if let Some(d) = rel.and_then(|r| r.denied_columns.get(col)) {
            if !d.monitor {
                return Err(d.block(" and the statement writes it"));
            }
        }
        let _ = target;
        Ok(())
    }

    /// The value as the column stores it: a number with a fractional part written to an
    /// integer or fixed-scale column is rounded by PostgreSQL, so it is not known exactly.
    fn stored(&self, target: &Target, col: &str, v: V) -> V {
        let v = prove::coerce(v, self.class(target, col));
        let ty = target
            .columns
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.name == col))
            .and_then(|c| c.data_type.as_deref())
            .unwrap_or("");
        let base = ty.split('(').next().unwrap_or("").trim();
        match &v {
            V::Str(text) => stored_string(text, base, ty),
            V::Num(n) if n.contains('.') => {
                let digits = n.rsplit('.').next().map_or(0, str::len);
                // numeric(p, s) keeps s fractional digits; bare numeric keeps all.
                let scale = ty
                    .split_once(',')
                    .and_then(|(_, rest)| rest.trim_end_matches(')').trim().parse::<usize>().ok());
                let exact = matches!(base, "numeric" | "decimal")
                    && (!ty.contains('(') || scale.is_some_and(|s| digits <= s));
                if exact {
                    v
                } else {
                    V::Unknown
                }
            }
            _ => v,
        }
    }

    fn class(&self, target: &Target, col: &str) -> TypeClass {
        target
            .columns
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.name == col))
            .map(Column::type_class)
            .unwrap_or(TypeClass::Unknown)
    }

    /// Proves that rows whose `assigned` columns take these values still satisfy every
    /// row filter; columns not assigned keep values that satisfied it (UPDATE) or are
    /// unknown (INSERT, where `all` is true).
    fn prove(
        &self,
        target: &Target,
        assigned: &BTreeMap<String, V>,
        all: bool,
        what: &str,
    ) -> Flow {
        for TargetFilter {
            policy,
            rule_index,
            expr,
            new_rows,
        } in &target.filters
        {
            if all && !new_rows {
                continue;
            }
            let mentioned = columns_in(expr);
            if !all && mentioned.iter().all(|c| !assigned.contains_key(c)) {
                continue;
            }
            let parts: Vec<&Expr> = if all {
                vec![expr]
            } else {
                crate::leak::conjuncts(expr)
            };
            for part in parts {
                if !all && columns_in(part).iter().all(|c| !assigned.contains_key(c)) {
                    // Untouched conjunct: the row satisfied it before the write.
                    continue;
                }
                let v = prove::eval(part, &|names: &[&str]| {
                    let col = names.last()?;
                    match assigned.get(*col) {
                        Some(v) => Some(v.clone()),
                        None if all => Some(V::Unknown),
                        None => None,
                    }
                });
                if !prove::proves(&v) {
                    let outcome = match v {
                        V::Bool(false) => "violates",
                        V::Null => "makes NULL (not true)",
                        _ => "cannot be proven to satisfy",
                    };
                    return Err(Block::new(
                        VerdictRule::RowFilter,
                        format!(
                            "{what} {outcome} the row filter `{expr}` of policy `{policy}` (rule {}) on `{}`",
                            RuleNo(*rule_index),
                            target.table
                        ),
                        "write only constant values that satisfy the row filter; computed values, DEFAULT and INSERT … SELECT cannot be proven",
                    )
                    .by_policy(policy, *rule_index));
                }
            }
        }
        Ok(())
    }

    fn insert(&mut self, ins: &mut Insert) -> Flow {
        if ins.or.is_some()
            || ins.ignore
            || ins.overwrite
            || ins.partitioned.is_some()
            || !ins.after_columns.is_empty()
            || ins.replace_into
            || ins.priority.is_some()
            || ins.insert_alias.is_some()
            || ins.settings.is_some()
            || ins.format_clause.is_some()
            || ins.output.is_some()
            || !ins.assignments.is_empty()
            || ins.multi_table_insert_type.is_some()
            || !ins.multi_table_into_clauses.is_empty()
            || !ins.multi_table_when_clauses.is_empty()
            || ins.multi_table_else_clause.is_some()
            || ins.by_name
        {
            return Err(unsupported("this INSERT syntax is not PostgreSQL"));
        }
        if ins.overriding.is_some() {
            // OVERRIDING … VALUE decides whether the values written or the identity
            // columns' own reach the row, which the write proofs do not model.
            return Err(unsupported("INSERT … OVERRIDING … VALUE is not supported"));
        }
        let TableObject::TableName(name) = &ins.table else {
            return Err(unsupported("INSERT into a table function is not supported"));
        };
        let name = name.clone();
        let do_update = matches!(&ins.on, Some(OnInsert::OnConflict(c)) if matches!(c.action, OnConflictAction::DoUpdate(_)));
        if matches!(ins.on, Some(OnInsert::DuplicateKeyUpdate(_))) {
            return Err(unsupported("ON DUPLICATE KEY UPDATE is not PostgreSQL"));
        }
        let alias = ins.table_alias.as_ref().map(|a| a.alias.clone());
        let reads = do_update || ins.returning.is_some();
        let target = self.target(&name, alias.as_ref(), Operation::Insert, reads)?;
        // DO UPDATE updates the conflicting rows: the target's deny rules for `update`
        // apply too (the whole table here; its columns in DO UPDATE, below).
        let update_denied = if do_update {
            self.upsert_denies(&target)?
        } else {
            Vec::new()
        };
        // The written columns, in order.
        let columns: Vec<String> = if ins.columns.is_empty() {
            match &target.columns {
                Some(cs) => cs.iter().map(|c| c.name.clone()).collect(),
                None if target.filters.is_empty() => Vec::new(),
                None => {
                    return Err(Block::new(
                        VerdictRule::CatalogRequired,
                        format!("INSERT into `{}` without a column list, and the catalog does not list its columns", target.table),
                        "name the columns you insert",
                    ))
                }
            }
        } else {
            ins.columns
                .iter()
                .map(|c| self.column_of(&target, c))
                .collect::<Result<_, _>>()?
        };
        for c in &columns {
            self.check_written(&target, c)?;
        }
        let mut single_row: Option<BTreeMap<String, V>> = None;
        match ins.source.as_mut() {
            None => {
                if !target.filters.is_empty() {
                    self.prove(&target, &BTreeMap::new(), true, "INSERT … DEFAULT VALUES")?;
                }
            }
            Some(source) => {
                let values = match source.body.as_ref() {
                    SetExpr::Values(v)
                        if source.with.is_none()
                            && source.order_by.is_none()
                            && source.limit_clause.is_none() =>
                    {
                        Some(v.clone())
                    }
                    _ => None,
                };
                match values {
                    Some(values) => {
                        for (i, row) in values.rows.iter().enumerate() {
                            if row.len() != columns.len() && !columns.is_empty() {
                                return Err(unsupported("a VALUES row has a different number of values than the column list"));
                            }
                            let assigned: BTreeMap<String, V> = columns
                                .iter()
                                .zip(row.iter())
                                .map(|(c, e)| {
                                    (c.clone(), self.stored(&target, c, prove::constant(e)))
                                })
                                .collect();
                            self.prove(
                                &target,
                                &assigned,
                                true,
                                &format!("row {} of the INSERT", i + 1),
                            )?;
                            if values.rows.len() == 1 {
                                single_row = Some(assigned);
                            }
                        }
                        // Subqueries and functions inside VALUES are reads and calls like any other.
                        self.scopes.push(Frame::default());
                        let r = self.walk(source.as_mut());
                        self.scopes.pop();
                        r?;
                    }
                    None => {
                        if let Some(TargetFilter {
                            policy,
                            rule_index,
                            expr,
                            ..
                        }) = target.filters.iter().find(|f| f.new_rows)
                        {
                            return Err(Block::new(
                                VerdictRule::RowFilter,
                                format!(
                                    "INSERT … SELECT into `{}` cannot be proven to satisfy the row filter `{expr}` of policy `{policy}` (rule {})",
                                    RuleNo(*rule_index),
                                    target.table
                                ),
                                "insert constant VALUES that satisfy the row filter, or run the copy as an administrator",
                            )
                            .by_policy(policy, *rule_index));
                        }
                        // The source is a read: enforce it without the target in scope (it
                        // cannot see the target), but with the CTEs around the INSERT.
                        let target_frame = self.scopes.pop();
                        // Its output is computed on filtered rows only, as a statement's.
                        self.top_query = true;
                        let r = self.query(source);
                        if let Some(frame) = target_frame {
                            self.scopes.push(frame);
                        };
                        r?;
                    }
                }
            }
        }
        if !target.filters.is_empty() {
            self.applied
                .policies
                .extend(target.filters.iter().map(|f| f.policy.clone()));
            for TargetFilter {
                policy,
                rule_index,
                expr,
                ..
            } in target.filters.iter().filter(|f| f.new_rows)
            {
                self.applied.proofs.push(format!(
                    "policy `{policy}` rule {} (row_filter): the inserted rows satisfy `{expr}` on `{}`",
                    RuleNo(*rule_index),
                    target.table
                ));
            }
        }
        if let Some(OnInsert::OnConflict(conflict)) = ins.on.as_mut() {
            if let OnConflictAction::DoUpdate(du) = &mut conflict.action {
                // `excluded` is the proposed row: its values are the caller's own.
                if let Some(frame) = self.scopes.innermost_mut() {
                    let mut excluded = Relation::plain("excluded".into());
                    excluded.columns = target
                        .columns
                        .as_ref()
                        .map(|cs| Columns::Names(cs.iter().map(|c| c.name.clone()).collect()));
                    frame.relations.push(excluded);
                }
                // Columns denied for `update` may not be set nor read in DO UPDATE, as in
                // an UPDATE; they stay insertable and readable in RETURNING. The
                // conflicting row must be one the filters admit.
                let added = self.add_denied(update_denied);
                let checked = self
                    .assignments(&target, &du.assignments, single_row.as_ref())
                    .and_then(|assigned| {
                        self.foreign_key_actions(&target, Some(&assigned))?;
                        self.prove(&target, &assigned, false, "ON CONFLICT DO UPDATE SET")
                    })
                    .and_then(|()| self.walk(&mut du.assignments))
                    .and_then(|()| self.write_where(&target, &mut du.selection));
                self.remove_denied(&added);
                checked?;
                // `excluded` is visible in DO UPDATE's SET and WHERE only, not in RETURNING.
                if let Some(frame) = self.scopes.innermost_mut() {
                    if frame
                        .relations
                        .last()
                        .is_some_and(|r| r.ref_name == "excluded")
                    {
                        frame.relations.pop();
                    }
                }
            }
        }
        self.returning(&target, &mut ins.returning, &[])
    }

    /// For `INSERT … ON CONFLICT DO UPDATE`: blocks a target whose deny rules forbid
    /// `update` of the whole table, and returns its columns denied for `update`.
    fn upsert_denies(&mut self, target: &Target) -> Result<Vec<DeniedColumn>, Block> {
        let table = target.table.clone();
        let rules = self.op_rules(Operation::Update).table(&table);
        if let Some(at) = rules.and_then(|r| r.denied) {
            let mut b = table_denied(&table, at);
            b.reason = format!(
                "{} for UPDATE, which INSERT … ON CONFLICT DO UPDATE does to the rows it conflicts with",
                b.reason
            );
            b.hint = "use ON CONFLICT DO NOTHING, or a plain INSERT".into();
            return Err(b);
        }
        Ok(rules
            .map(|r| &r.denied_columns)
            .into_iter()
            .flatten()
            .map(|(col, at)| denied(&table, col, *at))
            .collect())
    }

    /// Adds denied columns to the write target in scope; returns the ones it did not have.
    fn add_denied(&mut self, columns: Vec<DeniedColumn>) -> Vec<String> {
        let mut added = Vec::new();
        if let Some(rel) = self
            .scopes
            .innermost_mut()
            .and_then(|f| f.relations.first_mut())
        {
            for d in columns {
                if !rel.denied_columns.contains_key(&d.column) {
                    added.push(d.column.clone());
                    rel.denied_columns.insert(d.column.clone(), d);
                }
            }
        }
        added
    }

    /// Takes back the columns [`Self::add_denied`] added.
    fn remove_denied(&mut self, added: &[String]) {
        if let Some(rel) = self
            .scopes
            .innermost_mut()
            .and_then(|f| f.relations.first_mut())
        {
            for c in added {
                rel.denied_columns.remove(c);
            }
        }
    }

    /// The constant values of SET assignments, by column (unknown when not constant).
    fn assignments(
        &self,
        target: &Target,
        list: &[Assignment],
        excluded: Option<&BTreeMap<String, V>>,
    ) -> Result<BTreeMap<String, V>, Block> {
        let mut out = BTreeMap::new();
        for a in list {
            let names: Vec<&ObjectName> = match &a.target {
                AssignmentTarget::ColumnName(n) => vec![n],
                AssignmentTarget::Tuple(ns) => ns.iter().collect(),
            };
            let tuple = names.len() > 1;
            for n in names {
                let col = self.column_of(target, n)?;
                let v = if tuple {
                    V::Unknown
                } else {
                    match (&a.value, excluded) {
                        (Expr::CompoundIdentifier(parts), Some(row))
                            if parts.len() == 2
                                && parts
                                    .first()
                                    .is_some_and(|p| ident::normalize(p) == "excluded") =>
                        {
                            parts
                                .get(1)
                                .and_then(|c| row.get(&ident::normalize(c)).cloned())
                                .unwrap_or(V::Unknown)
                        }
                        (value, _) => self.stored(target, &col, prove::constant(value)),
                    }
                };
                out.insert(col, v);
            }
        }
        Ok(out)
    }

    /// Blocks a DELETE, or an UPDATE that may set referenced columns, of a table that a
    /// foreign key with a writing action (`CASCADE`, `SET NULL`, `SET DEFAULT`) references
    /// from a table the caller's policies govern: PostgreSQL would delete or update those
    /// rows as their table's owner — around row filters, masks and write denies — and an
    /// error on the way (a check, NOT NULL or unique constraint) prints the whole
    /// referencing row, even under forced row level security. `assigned`: the columns an
    /// UPDATE sets (`None` for a DELETE).
    fn foreign_key_actions(
        &mut self,
        target: &Target,
        assigned: Option<&BTreeMap<String, V>>,
    ) -> Flow {
        let Some(catalog) = self.catalog else {
            return Ok(());
        };
        for fk in catalog.referencing(&target.table) {
            let action = if assigned.is_some() {
                fk.on_update
            } else {
                fk.on_delete
            };
            if !action.writes() {
                continue;
            }
            if let (Some(set), Some(keys)) = (assigned, &fk.referenced_columns) {
                if !keys.iter().any(|k| set.contains_key(k)) {
                    continue;
                }
            }
            if !self.governs(&fk.table) {
                continue;
            }
            let (verb, event) = match assigned {
                Some(_) => ("UPDATE", "ON UPDATE"),
                None => ("DELETE", "ON DELETE"),
            };
            let what = match &fk.referenced_columns {
                Some(keys) if assigned.is_some() => format!(
                    " of {}",
                    keys.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => String::new(),
            };
            return Err(Block::new(
                VerdictRule::ForeignKeyAction,
                format!(
                    "{verb}{what} on `{}` would make PostgreSQL {} rows of `{}` through its foreign key ({}) `{event} {}`, around the policies that govern `{}` for this context",
                    target.table,
                    if action == crate::catalog::ForeignKeyAction::Cascade && assigned.is_none() {
                        "delete"
                    } else {
                        "update"
                    },
                    fk.table,
                    fk.columns.join(", "),
                    action.name().to_uppercase(),
                    fk.table,
                ),
                format!(
                    "change the rows of `{}` first, with a statement its policies govern; or ask for the foreign key's action to be NO ACTION or RESTRICT",
                    fk.table
                ),
            ));
        }
        Ok(())
    }

    /// Whether any of the caller's enforced rules names the table (for reading or
    /// writing), or `default_access: deny` keeps it from the caller.
    fn governs(&mut self, table: &TableName) -> bool {
        if self.rules.table(table).is_some()
            || self.op_rules(Operation::Update).table(table).is_some()
            || self.op_rules(Operation::Delete).table(table).is_some()
        {
            return true;
        }
        self.default_access(table).is_err()
    }

    fn update(&mut self, up: &mut Update) -> Flow {
        if up.or.is_some()
            || !up.order_by.is_empty()
            || up.limit.is_some()
            || up.output.is_some()
            || up.on_cluster.is_some()
            || up.settings.is_some()
        {
            return Err(unsupported("this UPDATE syntax is not PostgreSQL"));
        }
        let (name, alias) = write_target(&up.table)?;
        let target = self.target(&name, alias.as_ref(), Operation::Update, true)?;
        let others = match up.from.as_mut() {
            None => Vec::new(),
            Some(UpdateTableFromKind::AfterSet(from)) => self.write_from(from)?,
            Some(UpdateTableFromKind::BeforeSet(_)) => {
                return Err(unsupported("UPDATE FROM before SET is not PostgreSQL"))
            }
        };
        let assigned = self.assignments(&target, &up.assignments, None)?;
        self.foreign_key_actions(&target, Some(&assigned))?;
        self.prove(&target, &assigned, false, "SET")?;
        self.walk(&mut up.assignments)?;
        self.write_where(&target, &mut up.selection)?;
        self.returning(&target, &mut up.returning, &others)
    }

    fn delete(&mut self, del: &mut Delete) -> Flow {
        if !del.tables.is_empty()
            || !del.order_by.is_empty()
            || del.limit.is_some()
            || del.output.is_some()
            || del.on_cluster.is_some()
            || del.settings.is_some()
        {
            return Err(unsupported("this DELETE syntax is not PostgreSQL"));
        }
        let from = match &del.from {
            FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => f,
        };
        let [twj] = from.as_slice() else {
            return Err(unsupported("DELETE from several tables is not PostgreSQL"));
        };
        let (name, alias) = write_target(twj)?;
        let target = self.target(&name, alias.as_ref(), Operation::Delete, true)?;
        self.foreign_key_actions(&target, None)?;
        let others = match del.using.as_mut() {
            None => Vec::new(),
            Some(using) => self.write_from(using)?,
        };
        self.write_where(&target, &mut del.selection)?;
        self.returning(&target, &mut del.returning, &others)
    }

    /// FROM of UPDATE and USING of DELETE: reads, enforced as in SELECT, in the target's scope.
    fn write_from(&mut self, from: &mut [TableWithJoins]) -> Result<Vec<String>, Block> {
        let mut names = Vec::new();
        // Each FROM/USING item joins the target.
        self.joins += from.len() as u64;
        for twj in from.iter_mut() {
            let start = self.scopes.top().relations.len();
            self.table_with_joins(twj)?;
            names.extend(
                self.relations_from(start)
                    .iter()
                    .map(|r| r.ref_name.clone()),
            );
        }
        Ok(names)
    }

    /// RETURNING: `*` and `target.*` expand to the target's columns with masks applied;
    /// masked columns keep their names; denied columns block.
    fn returning(
        &mut self,
        target: &Target,
        returning: &mut Option<Vec<SelectItem>>,
        others: &[String],
    ) -> Flow {
        let Some(items) = returning.as_mut() else {
            return Ok(());
        };
        let target_ref = ident::normalize(&target.reference);
        let mut out = Vec::new();
        for item in std::mem::take(items) {
            match item {
                SelectItem::Wildcard(_) => {
                    out.extend(self.expand_target(target)?);
                    for o in others {
                        out.push(SelectItem::QualifiedWildcard(
                            SelectItemQualifiedWildcardKind::ObjectName(ObjectName::from(vec![
                                ident::make_ident(o),
                            ])),
                            Default::default(),
                        ));
                    }
                }
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(name),
                    token,
                ) if ident::object_parts(&name).is_some_and(|p| {
                    p.len() == 1 && p.first().is_some_and(|i| ident::normalize(i) == target_ref)
                }) =>
                {
                    let _ = token;
                    out.extend(self.expand_target(target)?);
                }
                SelectItem::UnnamedExpr(e) => {
                    let mut item = SelectItem::UnnamedExpr(e.clone());
                    // The output column keeps the name PostgreSQL gives it, which a mask
                    // put in place of the column it is named after would change.
                    if let Some(col) = named_after(&e).and_then(column_name) {
                        let masked = self
                            .scopes
                            .innermost()
                            .and_then(|f| f.relations.first())
                            .is_some_and(|r| r.target_masks.contains_key(&col));
                        if masked {
                            item = SelectItem::ExprWithAlias {
                                expr: e,
                                alias: ident::make_ident(&col),
                            };
                        }
                    }
                    self.walk(&mut item)?;
                    out.push(item);
                }
                mut other => {
                    if let SelectItem::QualifiedWildcard(
                        SelectItemQualifiedWildcardKind::ObjectName(name),
                        _,
                    ) = &other
                    {
                        self.check_whole_row_name(name)?;
                    }
                    self.walk(&mut other)?;
                    out.push(other);
                }
            }
        }
        *items = out;
        Ok(())
    }

    fn expand_target(&mut self, target: &Target) -> Result<Vec<SelectItem>, Block> {
        let rel = self
            .scopes
            .innermost()
            .and_then(|f| f.relations.first())
            .cloned();
        let Some(rel) = rel else {
            return Ok(Vec::new());
        };
        let Some(columns) = &target.columns else {
            if rel.target_masks.is_empty() && rel.denied_columns.is_empty() {
                return Ok(vec![SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(ObjectName::from(vec![target
                        .reference
                        .clone()])),
                    Default::default(),
                )]);
            }
            return Err(Block::new(
                VerdictRule::CatalogRequired,
                format!("RETURNING * from `{}` needs the table's columns in the catalog, to mask or leave out its protected columns", target.table),
                "list the returned columns",
            ));
        };
        let mut out = Vec::new();
        for c in columns {
            if let Some(d) = rel.denied_columns.get(&c.name).cloned() {
                self.denied(&d, " and `RETURNING *` would return it")?;
            }
            match rel.target_masks.get(&c.name) {
                Some((m, info)) => {
                    self.record_mask(info.clone());
                    out.push(SelectItem::ExprWithAlias {
                        expr: Expr::Nested(Box::new(m.clone())),
                        alias: c.ident.clone(),
                    });
                }
                None => out.push(SelectItem::UnnamedExpr(Expr::CompoundIdentifier(vec![
                    target.reference.clone(),
                    c.ident.clone(),
                ]))),
            }
        }
        Ok(out)
    }
}

/// A string as a column of type `ty` (`base` without modifiers) stores it, when that is
/// known: `varchar(n)` and `char(n)` cut excess trailing spaces to `n` characters (a
/// longer string is an error), `char` ignores trailing spaces in comparisons; types whose
/// comparisons are not those of text (`citext`, enums, domains, …) are undecided.
fn stored_string(text: &str, base: &str, ty: &str) -> V {
    let limit = ty
        .split_once('(')
        .and_then(|(_, rest)| rest.split(')').next())
        .and_then(|n| n.trim().parse::<usize>().ok());
    let cut = |s: &str| -> Option<String> {
        match limit {
            Some(n) if s.chars().count() > n => {
                let (kept, excess): (String, String) =
                    (s.chars().take(n).collect(), s.chars().skip(n).collect());
                excess.chars().all(|c| c == ' ').then_some(kept)
            }
            _ => Some(s.to_string()),
        }
    };
    match base {
        "text" | "name" => V::Str(text.to_string()),
        "varchar" | "character varying" => cut(text).map_or(V::Unknown, V::Str),
        "char" | "character" | "bpchar" => cut(text)
            .map(|s| s.trim_end_matches(' ').to_string())
            .map_or(V::Unknown, V::Str),
        _ => V::Unknown,
    }
}

fn op_name(op: Operation) -> &'static str {
    match op {
        Operation::Select => "select",
        Operation::Insert => "insert",
        Operation::Update => "update",
        Operation::Delete => "delete",
        Operation::Ddl => "ddl",
    }
}

fn denied(table: &TableName, col: &str, at: RuleRef<'_>) -> DeniedColumn {
    DeniedColumn {
        table: table.clone(),
        column: col.to_string(),
        policy: at.policy.id.clone(),
        rule_index: at.rule_index,
        monitor: false,
    }
}

/// The name and alias of a write's target, which must be a plain table.
fn write_target(twj: &TableWithJoins) -> Result<(ObjectName, Option<Ident>), Block> {
    if !twj.joins.is_empty() {
        return Err(unsupported("a write's target cannot be a join"));
    }
    match &twj.relation {
        TableFactor::Table {
            inheritance: Some(_),
            ..
        } => Err(unsupported(super::scan::INHERITANCE_MARKER)),
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => {
            if alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
                return Err(unsupported(
                    "column aliases on a write's target are not PostgreSQL",
                ));
            }
            Ok((name.clone(), alias.as_ref().map(|a| a.name.clone())))
        }
        _ => Err(unsupported("a write's target must be a table")),
    }
}

/// The column reference PostgreSQL names an output column after, when it names it after
/// one (its FigureColname): a column reference itself, or through parentheses, casts,
/// `COLLATE` and a CASE's `ELSE`.
fn named_after(e: &Expr) -> Option<&Expr> {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => Some(e),
        Expr::Nested(inner) => named_after(inner),
        Expr::Cast { expr, .. } | Expr::Collate { expr, .. } => named_after(expr),
        Expr::Case {
            else_result: Some(otherwise),
            ..
        } => named_after(otherwise),
        _ => None,
    }
}

/// The bare column a select item names, if it is a plain column reference.
fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(id) => Some(ident::normalize(id)),
        Expr::CompoundIdentifier(parts) => parts.last().map(ident::normalize),
        _ => None,
    }
}

/// The column names an expression mentions.
fn columns_in(expr: &Expr) -> BTreeSet<String> {
    struct Cols(BTreeSet<String>);
    // Read-only, but a `VisitorMut` over a copy so that it shares the engine's one walk
    // (crate::walk); the expressions are a statement's WHERE or an assignment's value.
    impl VisitorMut for Cols {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            match e {
                Expr::Identifier(id) if !is_sql_value_function(id) => {
                    self.0.insert(ident::normalize(id));
                }
                Expr::CompoundIdentifier(parts) => {
                    if let Some(last) = parts.last() {
                        self.0.insert(ident::normalize(last));
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut c = Cols(BTreeSet::new());
    let _ = crate::walk::walk(&mut expr.clone(), &mut c);
    c.0
}

/// The expression with its column references qualified by `reference`.
pub(super) fn qualify(mut expr: Expr, reference: &Ident) -> Expr {
    struct Q<'r>(&'r Ident);
    impl VisitorMut for Q<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            match e {
                Expr::Identifier(id) if !is_sql_value_function(id) => {
                    *e = Expr::CompoundIdentifier(vec![self.0.clone(), id.clone()]);
                }
                Expr::CompoundIdentifier(parts)
                    if parts.len() >= 2
                        && ident::normalize(parts.first().unwrap_or(self.0)) != "ctx" =>
                {
                    if let Some(last) = parts.last().cloned() {
                        *parts = vec![self.0.clone(), last];
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let _ = crate::walk::walk(&mut expr, &mut Q(reference));
    expr
}
