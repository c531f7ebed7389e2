//! Assembling a verdict from what enforcement found: the decision, its rule and reason,
//! the policies that matched, and the explanation in sentences (rules numbered from 1).

use crate::applicable::Selection;
use crate::context::Context;
use crate::print::{concat, Decimal};
use crate::rewrite::{Applied, Block};
use crate::verdict::{BlockedBy, Decision, MatchedPolicy, RuleNo, Verdict, VerdictRule};

/// Why break-glass changed nothing, or which policies it bypassed.
pub(crate) fn break_glass_notes(
    ctx: &Context,
    selection: &Selection<'_>,
    applied: &Applied,
) -> Vec<String> {
    if !ctx.break_glass {
        return Vec::new();
    }
    let bypassed: Vec<&str> = selection
        .bypassed
        .policies
        .iter()
        .filter(|p| {
            p.rules
                .iter()
                .any(|r| r.table().is_some_and(|t| applied.tables.contains(t)))
        })
        .map(|p| p.id.as_str())
        .collect();
    if bypassed.is_empty() {
        vec!["break-glass: requested, but no policy on the tables read allows it; every policy applies".into()]
    } else {
        bypassed
            .into_iter()
            .map(|id| format!("break-glass: policy `{id}` is bypassed (it allows break-glass); this access should be reviewed"))
            .collect()
    }
}

/// Policies that govern a table the statement reads, in priority order, with their mode.
fn matched(
    selection: &Selection<'_>,
    applied: &Applied,
    extra: Option<&str>,
) -> Vec<MatchedPolicy> {
    let mut out: Vec<(i64, String, &'static str)> = Vec::new();
    for (rules, mode) in [
        (&selection.enforced, "enforce"),
        (&selection.monitored, "monitor"),
    ] {
        for p in &rules.policies {
            let touches = p
                .rules
                .iter()
                .any(|r| r.table().is_some_and(|t| applied.tables.contains(t)))
                || applied.policies.contains(&p.id)
                || extra == Some(p.id.as_str());
            if touches {
                out.push((p.priority, p.id.clone(), mode));
            }
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    out.into_iter()
        .map(|(_, id, mode)| MatchedPolicy {
            id,
            mode: mode.to_string(),
        })
        .collect()
}

pub(crate) fn blocked(
    block: Block,
    selection: &Selection<'_>,
    applied: &Applied,
    notes: Vec<String>,
) -> Verdict {
    let extra = block.blocked_by.as_ref().map(|(p, _)| p.as_str());
    let explanation = vec![match &block.blocked_by {
        Some((p, r)) => format!(
            "policy `{p}` rule {} blocks the statement: {}",
            RuleNo(*r),
            block.reason
        ),
        None => format!("the engine blocks the statement: {}", block.reason),
    }];
    Verdict {
        verdict: Decision::Block,
        rule: block.rule,
        reason: block.reason,
        hint: block.hint,
        masked_columns: Vec::new(),
        row_filters: Vec::new(),
        row_filter_predicate: None,
        rewritten_sql: None,
        matched_policies: matched(selection, applied, extra),
        notes,
        limits: Vec::new(),
        blocked_by: block
            .blocked_by
            .map(|(policy, rule_index)| BlockedBy { policy, rule_index }),
        monitored: applied.monitored.clone(),
        explanation,
    }
}

pub(crate) fn allowed(
    rewritten: String,
    selection: &Selection<'_>,
    applied: Applied,
    notes: Vec<String>,
) -> Verdict {
    let mut explanation = applied.proofs.clone();
    // Texts built for every verdict: joined without the formatting machinery.
    for f in &applied.row_filters {
        explanation.push(concat(&[
            "policy `",
            &f.policy,
            "` rule ",
            Decimal::new(f.rule_index.saturating_add(1)).as_str(),
            " (row_filter) keeps only the rows of `",
            &f.table,
            "` where `",
            &f.predicate,
            "`",
        ]));
    }
    for m in &applied.masked_columns {
        explanation.push(concat(&[
            "policy `",
            &m.policy,
            "` rule ",
            Decimal::new(m.rule_index.saturating_add(1)).as_str(),
            " (column_mask) shows `",
            &m.table,
            ".",
            &m.column,
            "` through the `",
            &m.kind,
            "` mask",
        ]));
    }
    let mut predicates: Vec<&str> = Vec::new();
    for f in &applied.row_filters {
        if !predicates.contains(&f.predicate.as_str()) {
            predicates.push(&f.predicate);
        }
    }
    let row_filter_predicate = match predicates.as_slice() {
        [] => None,
        [one] => Some((*one).to_string()),
        many => Some(
            many.iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join(" AND "),
        ),
    };
    let list = |items: Vec<String>| items.join(", ");
    let (decision, rule, reason, hint) = if !applied.row_filters.is_empty() {
        let mut tables: Vec<String> = applied
            .row_filters
            .iter()
            .map(|f| concat(&["`", &f.table, "`"]))
            .collect();
        tables.dedup();
        (
            Decision::RowFilter,
            VerdictRule::RowFilter,
            concat(&["row filters limit the rows of ", &list(tables)]),
            "run rewritten_sql: it returns only the rows the policies admit",
        )
    } else if !applied.masked_columns.is_empty() {
        let cols = applied
            .masked_columns
            .iter()
            .map(|m| concat(&["`", &m.table, ".", &m.column, "` (", &m.kind, ")"]))
            .collect();
        (
            Decision::Mask,
            VerdictRule::ColumnMask,
            concat(&["masks apply to ", &list(cols)]),
            "run rewritten_sql: masked columns keep their names and positions",
        )
    } else {
        (
            Decision::Allow,
            VerdictRule::Allow,
            if applied.tables.is_empty() {
                "the statement reads no governed table".to_string()
            } else {
                "no enforced policy filters or masks what this statement reads".to_string()
            },
            "run rewritten_sql",
        )
    };
    Verdict {
        verdict: decision,
        rule,
        reason,
        hint: hint.to_string(),
        matched_policies: matched(selection, &applied, None),
        masked_columns: applied.masked_columns,
        row_filters: applied.row_filters,
        row_filter_predicate,
        rewritten_sql: Some(rewritten),
        notes,
        limits: Vec::new(),
        blocked_by: None,
        monitored: applied.monitored,
        explanation,
    }
}
