//! Which policies apply to this context (SPEC §4.5), and what they say about each table.
//!
//! `applies_to`: the principal matches when `users` and `roles` are both empty, or the user
//! is listed, or one of the caller's roles is; every non-empty list of `workspaces`,
//! `data_sources` and `purposes` must also contain the context's value. `except`: any entry
//! of any list that matches the context exempts it.

use std::collections::BTreeMap;

use sqlparser::ast::Expr;

use crate::catalog::TableName;
use crate::context::Context;
use crate::policy::{
    Limits, Mask, Mode, Operation, Policy, PolicySet, Predicate, Restriction, Rule, Subjects,
};

/// A rule of a policy, by position.
#[derive(Debug, Clone, Copy)]
pub struct RuleRef<'p> {
    pub policy: &'p Policy,
    pub rule_index: usize,
}

/// A mask chosen for a column.
#[derive(Debug, Clone, Copy)]
pub struct ChosenMask<'p> {
    pub at: RuleRef<'p>,
    pub mask: &'p Mask,
    pub expr: &'p Expr,
}

/// What the applicable policies of one mode say about one table.
#[derive(Debug, Default)]
pub struct TableRules<'p> {
    pub filters: Vec<(RuleRef<'p>, &'p Predicate)>,
    /// The winning mask per column: the highest-priority applicable policy's.
    pub masks: BTreeMap<String, ChosenMask<'p>>,
    pub denied: Option<RuleRef<'p>>,
    pub denied_columns: BTreeMap<String, RuleRef<'p>>,
}

impl TableRules<'_> {
    /// Whether the scan must become a derived table.
    pub fn needs_rewrite(&self) -> bool {
        !self.filters.is_empty() || !self.masks.is_empty()
    }
}

/// The rules of one group of policies (enforced, monitored or bypassed), by table.
#[derive(Debug, Default)]
pub struct Rules<'p> {
    pub tables: BTreeMap<&'p TableName, TableRules<'p>>,
    pub policies: Vec<&'p Policy>,
    pub restrictions: Vec<(RuleRef<'p>, &'p Restriction)>,
    pub limits: Vec<(RuleRef<'p>, &'p Limits)>,
}

impl<'p> Rules<'p> {
    fn add(&mut self, policy: &'p Policy, op: Operation) {
        self.policies.push(policy);
        for (rule_index, rule) in policy.rules.iter().enumerate() {
            let at = RuleRef { policy, rule_index };
            let table = match rule {
                Rule::QueryRestriction(r) => {
                    self.restrictions.push((at, r));
                    continue;
                }
                Rule::QueryLimit(l) => {
                    self.limits.push((at, l));
                    continue;
                }
                Rule::RowFilter { table, .. }
                | Rule::ColumnMask { table, .. }
                | Rule::Deny { table, .. } => table,
            };
            let entry = self.tables.entry(table).or_default();
            match rule {
                Rule::QueryRestriction(_) | Rule::QueryLimit(_) => {}
                Rule::RowFilter { predicate, .. } => entry.filters.push((at, predicate)),
                Rule::ColumnMask {
                    column, mask, expr, ..
                } => {
                    // Policies arrive in priority order: the first mask on a column wins.
                    entry
                        .masks
                        .entry(column.clone())
                        .or_insert(ChosenMask { at, mask, expr });
                }
                Rule::Deny {
                    columns,
                    operations,
                    ..
                } => {
                    if !operations.is_empty() && !operations.contains(&op) {
                        continue;
                    }
                    if columns.is_empty() {
                        entry.denied.get_or_insert(at);
                    } else {
                        for c in columns {
                            entry.denied_columns.entry(c.clone()).or_insert(at);
                        }
                    }
                }
            }
        }
    }

    /// The rules on this table, if any.
    pub fn table(&self, name: &TableName) -> Option<&TableRules<'p>> {
        self.tables.get(name)
    }
}

/// The policies that matter for one context and one kind of statement.
#[derive(Debug, Default)]
pub struct Selection<'p> {
    pub enforced: Rules<'p>,
    pub monitored: Rules<'p>,
    /// Policies skipped because the context asked for break-glass and they allow it.
    pub bypassed: Rules<'p>,
}

/// Sorts the policy set's policies for this context.
pub fn select<'p>(set: &'p PolicySet, ctx: &Context, op: Operation) -> Selection<'p> {
    let mut sel = Selection::default();
    for policy in &set.policies {
        if !policy.enabled || !applies(policy, ctx) {
            continue;
        }
        if ctx.break_glass && policy.break_glass_allowed {
            sel.bypassed.add(policy, op);
        } else if policy.mode == Mode::Monitor {
            sel.monitored.add(policy, op);
        } else {
            sel.enforced.add(policy, op);
        }
    }
    sel
}

/// Whether the policy's `applies_to` matches the context and its `except` does not.
pub fn applies(policy: &Policy, ctx: &Context) -> bool {
    matches_applies_to(&policy.applies_to, ctx) && !matches_except(&policy.except, ctx)
}

fn contains(list: &[String], value: Option<&String>) -> bool {
    value.is_some_and(|v| list.iter().any(|x| x == v))
}

fn matches_applies_to(s: &Subjects, ctx: &Context) -> bool {
    let principal = (s.users.is_empty() && s.roles.is_empty())
        || contains(&s.users, ctx.user.as_ref())
        || ctx.roles.iter().any(|r| s.roles.contains(r));
    let within = |list: &[String], value: Option<&String>| list.is_empty() || contains(list, value);
    principal
        && within(&s.workspaces, ctx.workspace.as_ref())
        && within(&s.data_sources, ctx.data_source.as_ref())
        && within(&s.purposes, ctx.purpose.as_ref())
}

fn matches_except(s: &Subjects, ctx: &Context) -> bool {
    contains(&s.users, ctx.user.as_ref())
        || ctx.roles.iter().any(|r| s.roles.contains(r))
        || contains(&s.workspaces, ctx.workspace.as_ref())
        || contains(&s.data_sources, ctx.data_source.as_ref())
        || contains(&s.purposes, ctx.purpose.as_ref())
}
