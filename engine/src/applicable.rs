//! Which policies apply to this context (SPEC §4.5), and what they say about each table.
//!
//! `applies_to`: the principal matches when `users` and `roles` are both empty, or the user
//! is listed, or one of the caller's roles is; every non-empty list of `workspaces`,
//! `data_sources`, `purposes`, `datasets` and `queries` must also contain the context's
//! value (`workspace`, `data_source`, `purpose`, `dataset`, `query_id`). `except`: any
//! entry of any list that matches the context exempts it.

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
    /// `expr` as printed.
    pub sql: &'p str,
}

/// What the applicable policies of one mode say about one table.
#[derive(Debug, Default)]
pub struct TableRules<'p> {
    pub filters: Vec<(RuleRef<'p>, &'p Predicate)>,
    /// The winning mask per column: the highest-priority applicable policy's.
    pub masks: BTreeMap<&'p str, ChosenMask<'p>>,
    pub denied: Option<RuleRef<'p>>,
    pub denied_columns: BTreeMap<&'p str, RuleRef<'p>>,
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
            if policy.lifted.contains(&rule_index) {
                continue;
            }
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
                    column,
                    mask,
                    expr,
                    sql,
                    ..
                } => {
                    // Policies arrive in priority order: the first mask on a column wins.
                    entry.masks.entry(column.as_str()).or_insert(ChosenMask {
                        at,
                        mask,
                        expr,
                        sql,
                    });
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
                            entry.denied_columns.entry(c.as_str()).or_insert(at);
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
pub fn policies<'p>(set: &'p PolicySet, ctx: &Context, op: Operation) -> Selection<'p> {
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

/// Whether `catalog.default_access: "deny"` blocks `table` for this context: the table is
/// governed (a rule of an enabled `enforce` policy names it: a row filter, a mask or a
/// deny, of any operation) and none of those policies applies to the context. Disabled
/// and `monitor` policies neither govern nor cover (adding one never changes what runs);
/// a policy skipped for break-glass still covers (the context is named, and break-glass
/// is the audited lifting of exactly that policy's rules); a policy whose `except`
/// exempts the context does not (an exemption lifts the rules, and under a deny default
/// access needs a policy that grants it, e.g. a row filter `true`).
pub fn default_denied(set: &PolicySet, ctx: &Context, table: &TableName) -> bool {
    let mut governed = false;
    for policy in &set.policies {
        if !policy.enabled || policy.mode != Mode::Enforce {
            continue;
        }
        if !policy.rules.iter().any(|r| r.table() == Some(table)) {
            continue;
        }
        if applies(policy, ctx) {
            return false;
        }
        governed = true;
    }
    governed
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
        && within(&s.datasets, ctx.dataset.as_ref())
        && within(&s.queries, ctx.query_id.as_ref())
}

fn matches_except(s: &Subjects, ctx: &Context) -> bool {
    contains(&s.users, ctx.user.as_ref())
        || ctx.roles.iter().any(|r| s.roles.contains(r))
        || contains(&s.workspaces, ctx.workspace.as_ref())
        || contains(&s.data_sources, ctx.data_source.as_ref())
        || contains(&s.purposes, ctx.purpose.as_ref())
        || contains(&s.datasets, ctx.dataset.as_ref())
        || contains(&s.queries, ctx.query_id.as_ref())
}

/// Whether adding `extra` to the policy's `except` would take it away from this context:
/// the policy is enabled and applies, and an entry of `extra` matches the context. This is
/// how a caller decides that a carve-out it keeps outside the policy (an exception) is
/// used by an evaluation.
pub fn exempts(policy: &Policy, extra: &Subjects, ctx: &Context) -> bool {
    policy.enabled && applies(policy, ctx) && matches_except(extra, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: &str) -> PolicySet {
        PolicySet::parse(json).unwrap()
    }

    fn ctx(json: &str) -> Context {
        Context::from_json_str(json).unwrap()
    }

    fn applies_to(set: &PolicySet, c: &str) -> bool {
        applies(&set.policies[0], &ctx(c))
    }

    #[test]
    fn datasets_and_queries_scope_applies_to() {
        let set = policy(
            r#"{"id": "p", "applies_to": {"roles": ["analyst"], "datasets": ["mart", "lake"]}}"#,
        );
        assert!(applies_to(
            &set,
            r#"{"roles": ["analyst"], "dataset": "mart"}"#
        ));
        assert!(applies_to(
            &set,
            r#"{"roles": ["analyst"], "dataset": "lake", "query_id": "q"}"#
        ));
        // A scoped policy does not apply to a context that names another dataset, or none.
        assert!(!applies_to(
            &set,
            r#"{"roles": ["analyst"], "dataset": "other"}"#
        ));
        assert!(!applies_to(&set, r#"{"roles": ["analyst"]}"#));
        // The scope narrows the principal, it does not widen it.
        assert!(!applies_to(
            &set,
            r#"{"roles": ["viewer"], "dataset": "mart"}"#
        ));

        let both =
            policy(r#"{"id": "p", "applies_to": {"datasets": ["mart"], "queries": ["q-42"]}}"#);
        assert!(applies_to(
            &both,
            r#"{"dataset": "mart", "query_id": "q-42"}"#
        ));
        assert!(!applies_to(&both, r#"{"dataset": "mart"}"#));
        assert!(!applies_to(
            &both,
            r#"{"dataset": "mart", "query_id": "q-43"}"#
        ));
        assert!(!applies_to(&both, r#"{"query_id": "q-42"}"#));

        // Without dataset or query lists, naming them changes nothing.
        let plain = policy(r#"{"id": "p", "applies_to": {"roles": ["analyst"]}}"#);
        assert!(applies_to(&plain, r#"{"roles": ["analyst"]}"#));
        assert!(applies_to(
            &plain,
            r#"{"roles": ["analyst"], "dataset": "x", "query_id": "y"}"#
        ));
    }

    #[test]
    fn datasets_and_queries_in_except_exempt() {
        let set = policy(r#"{"id": "p", "except": {"datasets": ["sandbox"], "queries": ["q-1"]}}"#);
        assert!(applies_to(&set, r#"{"dataset": "mart"}"#));
        assert!(applies_to(&set, r#"{}"#));
        assert!(!applies_to(&set, r#"{"dataset": "sandbox"}"#));
        assert!(!applies_to(
            &set,
            r#"{"dataset": "mart", "query_id": "q-1"}"#
        ));
    }

    #[test]
    fn scoped_policies_are_selected_only_inside_their_scope() {
        let set = policy(
            r#"{"policies": [
                {"id": "scoped", "applies_to": {"datasets": ["mart"]},
                 "rules": [{"type": "deny", "table": "orders"}]},
                {"id": "everywhere", "rules": [{"type": "deny", "table": "salaries"}]}
            ]}"#,
        );
        let ids = |c: &str| -> Vec<String> {
            policies(&set, &ctx(c), Operation::Select)
                .enforced
                .policies
                .iter()
                .map(|p| p.id.clone())
                .collect()
        };
        assert_eq!(ids(r#"{"dataset": "mart"}"#), ["everywhere", "scoped"]);
        assert_eq!(ids(r#"{"dataset": "other"}"#), ["everywhere"]);
        assert_eq!(ids(r#"{}"#), ["everywhere"]);
    }

    #[test]
    fn exempts_only_what_applies() {
        let set = policy(
            r#"{"policies": [
                {"id": "a", "applies_to": {"roles": ["analyst"]}},
                {"id": "off", "enabled": false},
                {"id": "z", "applies_to": {"datasets": ["mart"]}}
            ]}"#,
        );
        let get = |id: &str| set.policies.iter().find(|p| p.id == id).unwrap();
        let alice = ctx(r#"{"user": "alice", "roles": ["analyst"]}"#);
        let user = |u: &str| Subjects {
            users: vec![u.into()],
            ..Subjects::default()
        };
        let role = |r: &str| Subjects {
            roles: vec![r.into()],
            ..Subjects::default()
        };
        assert!(exempts(get("a"), &user("alice"), &alice));
        assert!(exempts(get("a"), &role("analyst"), &alice));
        // Another subject, a disabled policy, a policy that does not apply: nothing to exempt.
        assert!(!exempts(get("a"), &user("bob"), &alice));
        assert!(!exempts(get("off"), &user("alice"), &alice));
        assert!(!exempts(get("z"), &user("alice"), &alice));
        let in_mart = ctx(r#"{"user": "alice", "dataset": "mart"}"#);
        assert!(exempts(get("z"), &user("alice"), &in_mart));
        assert!(!exempts(get("z"), &Subjects::default(), &in_mart));
    }

    #[test]
    fn dataset_and_query_lists_validate() {
        let err = PolicySet::parse(
            r#"{"id": "p", "applies_to": {"datasets": [1]}, "except": {"dataset": ["x"]}}"#,
        )
        .unwrap_err();
        let err = serde_json::to_string(&err.problems).unwrap();
        assert!(err.contains("applies_to.datasets"), "{err}");
        assert!(err.contains("unknown field `dataset`"), "{err}");
        let set = policy(
            r#"{"id": "p", "applies_to": {"queries": "q-1"}, "except": {"datasets": ["sandbox"]}}"#,
        );
        assert_eq!(set.policies[0].applies_to.queries, ["q-1"]);
        assert_eq!(set.policies[0].except.datasets, ["sandbox"]);
    }

    #[test]
    fn subjects_extend_every_list() {
        let mut s = Subjects {
            users: vec!["a".into()],
            ..Subjects::default()
        };
        s.extend(&Subjects {
            users: vec!["b".into()],
            datasets: vec!["d".into()],
            queries: vec!["q".into()],
            ..Subjects::default()
        });
        assert_eq!(s.users, ["a", "b"]);
        assert_eq!(s.datasets, ["d"]);
        assert_eq!(s.queries, ["q"]);
        assert!(!s.is_empty());
        assert!(Subjects::default().is_empty());
    }
}
